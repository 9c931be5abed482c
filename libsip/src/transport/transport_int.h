/* SPDX-License-Identifier: MIT */
/* Private layout of transports, listening points and stream connections. */
#ifndef SIP_TRANSPORT_INT_H
#define SIP_TRANSPORT_INT_H

#include <uv.h>

#include "loop/loop_int.h"
#include "sip/transport.h"
#include "transport/layer.h"
#include "transport/raw.h"

typedef struct sip__conn sip__conn_t;

/* A transport that is one worker of several (sip/worker.h): what it asks of its worker. */
typedef struct sip__tp_worker {
    void *ctx;
    unsigned index;
    /* A received message, before it is parsed (a message that crosses is parsed once, by its
     * owner): 1 when another worker owns it and it went there, 0 to handle it here. */
    int (*steer)(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len, int trusted);
    /* Bytes for connection conn_id of another worker. 0 or an error. */
    int (*send_remote)(void *ctx, uint64_t conn_id, const char *data, size_t len);
    /* The netinfo of another worker's open connection, or NULL when it is not known open. */
    const sip_netinfo_t *(*remote_conn)(void *ctx, uint64_t conn_id);
    /* A connection of this worker is up (open 1: its names are known) or closed (0). */
    void (*conn_event)(void *ctx, const sip_netinfo_t *ni, int open);
    /* A batch of received messages begins (1) or ends (0): what it passes to other workers
     * leaves at its end, a call per worker. */
    void (*batch)(void *ctx, int begin);
} sip__tp_worker_t;

/* Connection ids carry the index of the worker holding them in their top bits. */
#define SIP__CONN_WORKER_SHIFT 56

typedef struct sip__listener {
    sip_transport_t *tp;
    sip_transport_type_t type;
    union {
        uv_handle_t handle;
        uv_poll_t poll; /* UDP: libsip reads the socket itself (see udp.c) */
        uv_tcp_t tcp;
    } h;
    int fd;             /* UDP socket, -1 when none */
    int open;           /* the uv handle is not closed yet */
    int family;         /* AF_INET or AF_INET6 */
    int wildcard;       /* bound to 0.0.0.0 or :: */
    sip_netinfo_t info; /* transport, local_ip, local_port */
    char *rbuf;         /* UDP: one recvmmsg() batch: slots of 64 KiB, their iovecs and addresses */
    size_t rbuf_len;
    void *mmsg;
} sip__listener_t;

/* A queued outgoing message of a connection that is not ready yet. */
typedef struct sip__pending {
    struct sip__pending *next;
    size_t len;
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
    char data[];
} sip__pending_t;

struct sip__conn {
    sip__conn_t *next, *prev;
    sip_transport_t *tp;
    uv_tcp_t tcp;
    int refs; /* the transport's, plus one while the uv handle is open */
    uint64_t id;
    sip_transport_type_t type;
    int server;    /* accepted rather than connected */
    int connected; /* TCP is up */
    int ready;     /* TCP up and every layer's handshake done */
    int closing;
    int handle_open;
    sip__layer_t *layers[2];
    int nlayers;
    sip__layer_io_t io[2];
    sip_netinfo_t info;
    char server_name[256]; /* client side: TLS name to verify */
    char *rbuf;            /* stream bytes not framed yet */
    size_t rlen, rcap;
    uint64_t last_activity; /* loop ms */
    uint64_t partial_since; /* loop ms when an unfinished message started; 0 when none */
    int crlf;               /* octets of a "\r\n\r\n" keep-alive ping seen so far (0-3) */
    uint64_t created;
    sip__pending_t *pending, *pending_tail;
    /* While one read is handled, what goes out is gathered and written once (a peer that
     * pipelines requests gets its answers in one segment). */
    int batching;
    char *wbuf;
    size_t wlen, wcap;
    uint64_t pongs;  /* RFC 5626 §4.4.1: CRLF pongs received on a connection this side opened */
    int got_message; /* a complete message arrived: never evicted at the connection cap */
    int announced;   /* its worker told the others it is open */
    struct sockaddr_storage peer; /* the remote address, for the guard (ss_family 0: unknown) */
};

/* One link of the handler chain. A removed link stays in the list, marked, while a walk of
 * the chain may be on it (tp->dispatching), and is unlinked and freed afterwards. */
typedef struct sip__handler {
    struct sip__handler *next;
    int id; /* > 0; 0 for the slot of sip_transport_set_handler() */
    int priority;
    int removed;
    uint64_t serial; /* when it was added: a walk skips links added after it started */
    sip_transport_handler_cb cb;
    sip_transport_msg_cb slot_cb; /* the slot's: takes whatever reaches it */
    void *user;
    sip_free_fn user_free;
} sip__handler_t;

/* A completion to run from the loop (never inside the call that queued it). */
typedef struct sip__done {
    struct sip__done *next;
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
    int status;
} sip__done_t;

struct sip_transport {
    sip__loop_child_t child;
    int refs;
    int closed;
    unsigned open_handles; /* uv handles not closed yet; memory stays until 0 */
    sip_loop_t *loop;
    sip_transport_opts_t opts;
    char *strings; /* copies of the option strings */
    sip__listener_t **listeners;
    size_t nlisteners, cap_listeners;
    sip__conn_t *conns;
    size_t nconns;
    uint64_t next_conn_id;
    sip__handler_t *handlers; /* the chain of received messages, by priority (dispatch.c) */
    int next_handler_id;
    uint64_t handler_serial; /* stamps handlers in the order they were added */
    int dispatching;         /* walks of the chain in progress: removed links stay until 0 */
    sip__tls_ctx_t *tls_server, *tls_client;
    uv_timer_t sweep;
    uv_idle_t idle; /* runs queued completions */
    sip__done_t *done, *done_tail;
    sip_resolver_t *resolver; /* for sip_transport_send_request() */
    char *sendbuf;            /* print buffer for outgoing messages */
    size_t sendbuf_cap;
    /* The message whose wire form sendbuf holds (sendbuf_len bytes), or NULL: a transaction
     * keeps those bytes instead of printing the message again. Cleared when a send starts. */
    const sip_msg_t *sendbuf_msg;
    size_t sendbuf_len;
    struct sip__flow_watch *flow_watches; /* flow.c: watches on connections closing */
    sip_guard_t *guard;                   /* sip_transport_set_guard(), or NULL */
    sip__tp_worker_t worker;              /* worker.ctx NULL: not a worker (sip/worker.h) */
    /* Warnings about the connection cap (evictions, refusals): one per interval at most. */
    uint64_t cap_log_last;
    int cap_log_any;
    uint64_t cap_log_quiet;
};

/* dispatch.c */
/* Hands a received message to the chain (with a reference to tp held). */
void sip__tp_dispatch(sip_transport_t *tp, sip_msg_t *msg);
/* Ends every registration (user_free runs) when the transport closes. */
void sip__tp_handlers_close(sip_transport_t *tp);
/* Frees what is left of the chain (the transport's memory goes). */
void sip__tp_handlers_free(sip_transport_t *tp);

/* transport.c */
void sip__tp_handle_closed(sip_transport_t *tp);
/* trusted_conn: it came over a connection this endpoint opened, whose responses are ours. */
void sip__tp_deliver(sip_transport_t *tp, sip_msg_t *msg, int trusted_conn);
void sip__tp_complete(sip_transport_t *tp, sip_transport_sent_cb cb, void *user,
                      sip_free_fn user_free, int status);
int sip__tp_print(sip_transport_t *tp, sip_msg_t *msg, const char **out, size_t *len);
void sip__tp_trace(sip_transport_t *tp, int sent, const sip_netinfo_t *ni, const char *data,
                   size_t len);
int sip__sockaddr_from(const char *ip, uint16_t port, struct sockaddr_storage *ss);
void sip__sockaddr_to(const struct sockaddr *sa, char *ip, size_t iplen, uint16_t *port);

/* send.c: where a UDP response to a request with this top Via goes (RFC 3261 §18.2.2, RFC 3581
 * §4): maddr with the sent-by port; else received with the rport port, or the sent-by port (5060
 * when absent) without rport. src_ip NULL: the Via was stamped on receipt (§18.2.1). Otherwise
 * src_ip/src_port are where the request came from, and stand for received and rport's value
 * whatever the Via says. 0 or SIP_EINVAL. */
int sip__via_udp_dest(const sip_via_t *v, const char *src_ip, uint16_t src_port, char *ip,
                      size_t iplen, uint16_t *port);

/* udp.c */
int sip__udp_listen(sip__listener_t *l, const struct sockaddr *sa);
int sip__udp_send(sip__listener_t *l, const char *data, size_t len, const char *ip, uint16_t port);

/* conn.c */
/* The netinfo of another worker's connection id, NULL when it is this worker's or unknown. */
const sip_netinfo_t *sip__conn_remote(sip_transport_t *tp, uint64_t id);
int sip__stream_listen(sip__listener_t *l, const struct sockaddr *sa);
sip__conn_t *sip__conn_find(sip_transport_t *tp, sip_transport_type_t type, const char *ip,
                            uint16_t port);
sip__conn_t *sip__conn_by_id(sip_transport_t *tp, uint64_t id);
int sip__conn_connect(sip_transport_t *tp, sip_transport_type_t type, const char *ip, uint16_t port,
                      const char *server_name, sip__conn_t **out);
int sip__conn_send(sip__conn_t *c, const char *data, size_t len, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free);
void sip__conn_close(sip__conn_t *c, int err, const char *why);
void sip__conn_sweep(sip_transport_t *tp);

/* reply.c: answers a malformed request statelessly from its raw bytes. */
int sip__reply_malformed(char *out, size_t size, const char *req, size_t len, int status,
                         const char *phrase);
/* Where such an answer goes over UDP: by its top Via as sip__via_udp_dest() says, the source
 * address standing for received; the source address and port themselves when that Via does not
 * parse on its own (or is not UDP, or names a host rather than an address). 0 when the Via
 * decided, SIP_ENOENT when the source was taken. */
int sip__reply_udp_dest(const char *rsp, size_t len, const char *src_ip, uint16_t src_port,
                        char *ip, size_t iplen, uint16_t *port);

/* transport.c: what a server's reload changes (sip/server.h). Closes listening point i (its slot
 * stays, with no transport). 0 or SIP_ENOENT. */
int sip__transport_unlisten(sip_transport_t *tp, size_t i);
/* Replaces the TLS files and the client-certificate mode for the connections made from now on
 * (strings copied). 0, or the error with why filled; nothing changes on failure. */
int sip__transport_set_tls(sip_transport_t *tp, const char *cert, const char *key, const char *ca,
                           int verify_client, char *why, size_t size);

#endif
