/* SPDX-License-Identifier: MIT */
/* Private side of the proxy core: the proxy, the requests it routes, their branches. */
#ifndef SIP_PROXY_INT_H
#define SIP_PROXY_INT_H

#include <stdint.h>

#include "core/timerq.h"
#include "sip/proxy.h"

/* The magic cookie and the mark of this proxy core's branches: "z9hG4bKP" then 16 hex digits
 * of the loop hash (RFC 3261 §16.6 step 8), a '.', then what tells the branches of one request
 * apart, a '.' and 16 hex digits of a keyed MAC (SipHash-2-4) of all that and of the response's
 * own fields (Call-ID, From tag, CSeq number, the next Via), so that a response nobody's
 * transaction took is forwarded only when this proxy made its branch for that request
 * (§16.11): not a reflector. Another element's branches (a UA's on the same transport) never
 * have this shape. */
#define SIP__PROXY_BRANCH_MARK "z9hG4bKP"
#define SIP__PROXY_BRANCH_MARK_LEN 8

struct sip_proxy {
    int refs;
    int closed;
    sip_txn_layer_t *layer;
    sip_loop_t *loop;
    int handler_id;
    /* The options, strings and objects owned. */
    int stateless, loop_detect, redirect;
    uint32_t timer_c_ms, max_branches;
    char *rr_host; /* record_route_host, or NULL */
    char *server;  /* Server of our responses, or NULL for none */
    sip_location_t *location;
    sip_registrar_t *registrar;
    sip_auth_server_t *auth, *proxy_auth;
    sip_userdb_t *users;
    sip_guard_t *guard; /* told of failed authentications; its blocked sources are dropped */
    struct sip__proxy_route *route; /* the routing program new requests go to, or NULL */
    /* Keys the branch hashes: only this proxy computes its own branches again (§16.3 step 4). */
    uint64_t key;
    /* Keys the MAC that ends our branches (SipHash-2-4), from RAND_bytes: a response that no
     * transaction took goes on only with a branch this proxy made (§16.11). */
    uint64_t mac_key[2];
    uint64_t serial;            /* tells apart the branches of stateful relays */
    struct sip_proxy_req *reqs; /* live requests, so that closing answers them */
    size_t nreqs;
    sip__tq_t tq; /* timer C and the relays' group timeouts */
    int tq_closing;
    /* Told of each request as it is freed (a server's per-request log line). */
    void (*req_done)(const struct sip_proxy_req *req, void *user);
    void *req_done_user;
};

/* A routing program (sip_proxy_set_route()): shared by the proxy and by each request it took,
 * so that its user_free runs once the last of them lets go. */
typedef struct sip__proxy_route {
    int refs;
    sip_proxy_route_cb cb;
    void *user;
    sip_free_fn user_free;
} sip__proxy_route_t;

/* One target of a relay (sip_proxy_target_t, owned). */
typedef struct sip__proxy_target {
    char *uri, *path, *dst;
    int q;
    uint64_t conn_id;
} sip__proxy_target_t;

/* One branch (§16.6): a client transaction with its own Via branch and Request-URI. */
typedef struct sip__proxy_branch {
    /* The request's reference and its transaction's: a branch outlives its request while the
     * transaction runs on (a 2xx retransmission then goes up statelessly), so that a finished
     * request does not wait for Timer M or D to be freed. */
    int refs;
    struct sip_proxy_req *req; /* NULL once the request is freed */
    sip_proxy_t *p;            /* a reference */
    size_t idx;
    unsigned relay;  /* the relay (sip_proxy_req.relays) that made it */
    int group;       /* its q group in a sequential relay */
    char *target;    /* its Request-URI */
    sip_txn_t *txn;  /* while it waits for its final response */
    sip_msg_t *rsp;  /* the final response, or the last provisional (our Via taken off) */
    int status;      /* its final status, or the last provisional's */
    int final;       /* a final response came (or stands for one: a 408 of timer C) */
    int invite;      /* an INVITE branch: timer C, CANCEL */
    int cancelled;   /* CANCEL asked */
    int provisional; /* a provisional above 100 came */
    int redirected;  /* a 3xx whose Contacts became targets (§16.5): not a response */
    sip__tq_entry_t timer_c;
} sip__proxy_branch_t;

struct sip_proxy_req {
    int refs;
    struct sip_proxy_req *next, *prev; /* the proxy's list */
    int linked;
    sip_proxy_t *p; /* a reference */
    sip_msg_t *msg; /* the request as it will be forwarded */
    sip_txn_t *txn; /* the server transaction (stateful, not ACK or CANCEL) */
    sip_method_t method;
    uint64_t lhash;   /* the loop hash of the request as received (§16.6 step 8) */
    sip_netinfo_t in; /* where it came in */
    int routed;       /* §16.4 removed a Route naming this proxy */
    int done;         /* answered, forwarded, relayed or dropped */
    int final;        /* the final status sent upstream, 0 before */
    int cancelled;    /* a CANCEL of it arrived (§16.10) */
    /* Targets not tried yet, best q first once a relay sorts them. */
    sip__proxy_target_t *targets;
    size_t ntargets, cap_targets;
    /* Every branch made, in order. */
    sip__proxy_branch_t **branches;
    size_t nbranches, cap_branches;
    /* URIs tried or queued by this request's relays: 3xx recursion tries each once. */
    char **tried;
    size_t ntried, cap_tried;
    /* The relay in progress or the last one. */
    unsigned relays; /* how many were started; the current one's number */
    int relaying;    /* a relay waits for its outcome */
    int relay_group; /* the q group now tried (sequential) */
    int relay_2xx;   /* a 2xx came: forwarded, the others cancelled */
    int relay_6xx;   /* a 6xx came: no more branches (§16.7 step 5) */
    int relay_stop;  /* no new branches: 2xx, 6xx, CANCEL */
    int outcome_ran; /* the last relay's outcome is in (forward_best may go) */
    sip_proxy_relay_opts_t ro;
    sip_proxy_done_cb done_cb;
    void *done_user;
    sip_free_fn done_free;
    sip__tq_entry_t timeout; /* the relay's group timeout */
    sip__tq_entry_t kick;    /* an outcome that is due, delivered from the loop */
    int starting;            /* inside sip_proxy_req_relay(): no outcome from there */
    /* Authentication (server.c). */
    sip_auth_query_t *query;
    char *auth_user;
    sip__proxy_route_t *route; /* the program that took it (route.c) */
    uint64_t t0;               /* when it came in (sip_loop_now()) */
};

/* proxy.c */
void sip__proxy_req_unlink(sip_proxy_req_t *req);
/* Answers upstream with a response the proxy made or relays (statefully when it can). internal:
 * a relayed 2xx after another final is allowed. */
int sip__proxy_send_upstream(sip_proxy_req_t *req, sip_msg_t *rsp);
/* 1 when host:port (port 0: any default) names this proxy: a listening address or the
 * Record-Route host. */
int sip__proxy_host_is_ours(const sip_proxy_t *p, sip_str_t host, uint16_t port,
                            sip_transport_type_t tr);
/* 1 when the URI names this proxy (sip/sips, our host and port). */
int sip__proxy_uri_is_ours(const sip_proxy_t *p, const sip_uri_t *u);

/* route.c */
/* A new routing program (cb or user_free set), or NULL with user_free run (cb and user_free
 * NULL: NULL, not an error). 0 or SIP_ENOMEM. */
int sip__proxy_route_new(sip__proxy_route_t **out, sip_proxy_route_cb cb, void *user,
                         sip_free_fn user_free);
void sip__proxy_route_unref(sip__proxy_route_t *r);
/* Routes a new request with the proxy's program (default routing without one). */
void sip__proxy_route(sip_proxy_t *p, sip_proxy_req_t *req);
/* A server's hook, run as each request is freed (NULL: none). */
void sip__proxy_set_req_done(sip_proxy_t *p, void (*fn)(const sip_proxy_req_t *req, void *user),
                             void *user);
/* Replaces what a reload may change: the registrar, the users table, the digest servers
 * (references taken; NULL: none) and the Server header (server: a malloc'd string the proxy takes,
 * checked for line breaks by the caller; NULL or "": none). Requests in progress keep the checks
 * they started. Cannot fail, so that a reload can make it its last step. */
void sip__proxy_reconfigure(sip_proxy_t *p, sip_registrar_t *registrar, sip_userdb_t *users,
                            sip_auth_server_t *auth, sip_auth_server_t *proxy_auth, char *server);

/* forward.c */
/* The loop hash of a request (§16.6 step 8), with the top Via taken from the Via at via_idx
 * (0: as received; another index for the check of §16.3 step 4). */
uint64_t sip__proxy_loop_hash(const sip_proxy_t *p, const sip_msg_t *msg, size_t via_idx);
/* 1 when the request looped (§16.3 step 4): a Via of ours whose loop hash is the request's. */
int sip__proxy_looped(const sip_proxy_t *p, const sip_msg_t *msg);
/* Makes msg ready to go to one target: Request-URI (NULL: as it is), Path preloaded, the
 * strict-route rewrite of §16.6 step 6, Max-Forwards, Record-Route (rr), our Via with branch.
 * Fills *dst (*has_dst 1) when where it goes is known without DNS. */
int sip__proxy_prepare(sip_proxy_req_t *req, sip_msg_t *msg, const sip__proxy_target_t *t, int rr,
                       const char *branch, sip_netinfo_t *dst, int *has_dst);
/* RFC 5626 §5.3: 1 when the target's flow (its stream connection) is gone. */
int sip__proxy_flow_failed(sip_proxy_t *p, const sip__proxy_target_t *t);
/* A response to a branch of ours that no transaction took (§16.11): 1 when handled. */
int sip__proxy_stray_response(sip_proxy_t *p, sip_msg_t *rsp);
/* Writes the branch of stateful branch n of req. */
void sip__proxy_branch_id(const sip_proxy_req_t *req, uint64_t n, char *buf, size_t size);

/* relay.c */
/* The proxy closes (or the request goes): every branch is cancelled or closed, no callback. */
void sip__proxy_relay_close(sip_proxy_req_t *req);
/* A CANCEL of the request arrived (§16.10). */
void sip__proxy_relay_cancelled(sip_proxy_req_t *req);
void sip__proxy_targets_free(sip_proxy_req_t *req);
void sip__proxy_branches_free(sip_proxy_req_t *req);

/* server.c */
void sip__proxy_auth_free(sip_proxy_req_t *req);

#endif
