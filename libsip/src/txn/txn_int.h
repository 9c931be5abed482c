/* SPDX-License-Identifier: MIT */
/* Private side of the transaction layer: the layer, a transaction, timers, matching. */
#ifndef SIP_TXN_INT_H
#define SIP_TXN_INT_H

#include <uv.h>

#include "loop/loop_int.h"
#include "sip/txn.h"

/* How the layer sends; the transport by default, a recorder in unit tests. dst NULL: locate the
 * target with RFC 3263. The callback contract is the transport's: cb later, user_free once. */
typedef struct sip__txn_io {
    int (*send)(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                void *user, sip_free_fn user_free);
    int (*send_response)(void *ctx, sip_msg_t *rsp);
    void *ctx;
} sip__txn_io_t;

/* Replaces how the layer sends (tests); NULL restores the transport. */
void sip__txn_layer_set_io(sip_txn_layer_t *layer, const sip__txn_io_t *io);

#define SIP__TXN_NEVER UINT64_MAX

/* RFC 3261 §17.1.1.2: Timer D is at least 32 s on unreliable transports. */
#define SIP__TXN_TIMER_D 32000

enum {
    SIP__TXN_CLIENT = 1,        /* a client transaction */
    SIP__TXN_INVITE = 2,        /* its method is INVITE */
    SIP__TXN_RELIABLE = 4,      /* over a stream transport: no retransmissions (§17.1.1.2) */
    SIP__TXN_PROVISIONAL = 8,   /* a provisional response was received or sent */
    SIP__TXN_CANCEL_WANT = 16,  /* client: the TU asked for CANCEL */
    SIP__TXN_CANCEL_SENT = 32,  /* client: the CANCEL went out */
    SIP__TXN_LAYER_REF = 64,    /* the layer holds a reference (until Terminated) */
    SIP__TXN_SENT = 128,        /* client: the first send completed; the target is known */
    SIP__TXN_INTERNAL = 256,    /* client: a CANCEL the layer sends; no TU */
    SIP__TXN_CANCEL_KEEP = 512, /* INVITE server: a CANCEL leaves the INVITE to the TU (§16.10) */
    SIP__TXN_CANCELLED = 1024,  /* INVITE server: a CANCEL matched before any final response */
};

struct sip_txn {
    sip_txn_t *hnext;         /* chain of the layer's Call-ID hash bucket */
    sip_txn_layer_t *layer;   /* NULL once Terminated */
    sip_msg_t *req;           /* the request */
    sip_msg_t *rsp;           /* server: last response sent; INVITE client: the ACK sent */
    uint64_t t_retx;          /* A, E, G, or the 100 Trying of an INVITE server */
    uint64_t t_end;           /* B, D, F, H, I, J, K, L, M, or the wait after a CANCEL */
    uint32_t interval;        /* current retransmit interval */
    uint32_t t1, t2, t4;
    uint32_t hash;            /* of the Call-ID */
    int hidx;                 /* place in the layer's timer heap, -1 when not there */
    int refs;
    uint16_t flags;
    uint8_t state;            /* sip_txn_state_t */
    uint8_t in_cb;
    union {
        sip_response_cb rsp;  /* client */
        sip_txn_event_cb ev;  /* server */
    } cb;
    void *user;
    sip_free_fn user_free;
};

struct sip_txn_layer {
    sip__loop_child_t child;
    int refs;
    int closed;
    int uv_open;              /* the default clock's uv timer is not closed yet */
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_opts_t opts;
    sip_txn_clock_t clock;
    sip__txn_io_t io;
    uv_timer_t uvt;
    void (*uvt_fire)(void);   /* what the default clock calls (always layer_fire) */
    int firing;               /* inside layer_fire: re-arm once at the end */
    uint64_t armed;           /* due time of the clock's wake-up, SIP__TXN_NEVER when none */
    uint64_t rnd;             /* branch generator state */
    sip_txn_t **buckets;      /* by Call-ID hash */
    size_t nbuckets;
    size_t count;             /* live transactions */
    sip_txn_t **heap;         /* min-heap on the transactions' next deadline */
    size_t nheap, heap_cap;
    sip_request_cb req_cb;
    void *req_user;
    sip_free_fn req_free;
    sip_stray_response_cb stray_cb;
    void *stray_user;
    sip_free_fn stray_free;
};

/* layer.c */
uint64_t sip__txn_now(sip_txn_layer_t *l);
uint32_t sip__txn_hash(sip_str_t call_id);
int sip__txn_link(sip_txn_layer_t *l, sip_txn_t *t);
/* Re-files t in the timer heap after t_retx/t_end changed, and re-arms the wake-up. */
void sip__txn_timers_changed(sip_txn_t *t);
/* Ends a transaction: out of the table and heap, user_free, the layer's reference dropped. */
void sip__txn_terminate(sip_txn_t *t);
sip_txn_t *sip__txn_new(sip_txn_layer_t *l, sip_msg_t *req, const sip_txn_opts_t *opts);
int sip__txn_send(sip_txn_layer_t *l, sip_msg_t *msg, const sip_netinfo_t *dst,
                  sip_transport_sent_cb cb, void *user, sip_free_fn user_free);
int sip__txn_send_response(sip_txn_layer_t *l, sip_msg_t *rsp);
int sip__txn_has_cookie(sip_str_t branch);
int sip__txn_ensure_branch(sip_txn_layer_t *l, sip_msg_t *msg);
sip_txn_t *sip__txn_bucket(sip_txn_layer_t *l, uint32_t hash);
void sip__txn_make_branch(sip_txn_layer_t *l, char *buf, size_t size);

/* client.c */
void sip__txn_client_response(sip_txn_t *t, sip_msg_t *rsp);
void sip__txn_client_timer(sip_txn_t *t, uint64_t now);
sip_txn_t *sip__txn_client_match(sip_txn_layer_t *l, const sip_msg_t *rsp);

/* server.c */
void sip__txn_server_request(sip_txn_layer_t *l, sip_msg_t *req);
void sip__txn_server_timer(sip_txn_t *t, uint64_t now);

#endif
