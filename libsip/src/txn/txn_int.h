/* SPDX-License-Identifier: MIT */
/* Private side of the transaction layer: the layer, a transaction, timers, matching. */
#ifndef SIP_TXN_INT_H
#define SIP_TXN_INT_H

#include <string.h>

#include <uv.h>

#include "loop/loop_int.h"
#include "sip/txn.h"

/* How the layer sends; the transport by default, a recorder in unit tests. dst NULL: locate the
 * target with RFC 3263. The callback contract is the transport's: cb later, user_free once. */
typedef struct sip__txn_io {
    int (*send)(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                void *user, sip_free_fn user_free);
    int (*send_response)(void *ctx, sip_msg_t *rsp);
    /* Sends bytes printed before to where ni says an earlier message went (a retransmission of a
     * message the transaction keeps only in wire form). */
    int (*send_raw)(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len);
    /* The bytes msg just went out as, if the sender still has them (optional: NULL, or an
     * error, and the layer prints msg itself). */
    int (*last_wire)(void *ctx, const sip_msg_t *msg, const char **data, size_t *len);
    void *ctx;
} sip__txn_io_t;

/* Replaces how the layer sends (tests); NULL restores the transport. */
void sip__txn_layer_set_io(sip_txn_layer_t *layer, const sip__txn_io_t *io);

#define SIP__TXN_NEVER UINT64_MAX

/* Room for a To tag the layer makes (sip_msg_create_response() makes 16 hex digits); a multiple
 * of 8 so that the transaction's layout stays without padding. */
#define SIP__TXN_TAG_SIZE 16

/* How finely the loop's clock serves end timers (see due() in layer.c). */
#define SIP__TXN_END_QUANTUM 32

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
    SIP__TXN_IDLE = 2048,       /* compacted: only the key and the wire form are left */
};

/* What RFC 3261 §17.1.3 and §17.2.3 matching, merged-request detection (§8.2.2.2) and the CANCEL
 * lookup (§9.2) need of the request, copied at creation so the parsed request can go once the
 * transaction idles. The views point into the transaction's own allocation (sip_txn.kbuf). */
typedef struct sip__txn_key {
    sip_str_t branch;     /* top Via branch */
    sip_str_t host;       /* top Via sent-by host */
    sip_str_t method_str; /* the method's text: compared only for extension methods */
    sip_str_t call_id;
    sip_str_t from_tag;
    sip_str_t to_tag; /* of the request */
    sip_str_t ruri;   /* RFC 2543 requests only (no magic cookie): the Request-URI text */
    sip_str_t via;    /* RFC 2543 requests only: the whole top Via value */
    uint32_t seq;     /* CSeq number */
    uint16_t port;    /* top Via sent-by port (0 when absent) */
    uint8_t method;   /* sip_method_t of the request line */
} sip__txn_key_t;

/* What an idle transaction keeps besides its key: the last response (server) or the ACK (INVITE
 * client) as it went on the wire, and where it went. */
typedef struct sip__txn_wire {
    /* Where it went, as the transport stamped it on the message it sent: the netinfo up to its
     * server name, which is kept after the bytes (most are empty; the field is 256 bytes). Read
     * it back whole with sip__txn_wire_ni(). */
    unsigned char ni[offsetof(sip_netinfo_t, server_name)];
    int has_ni;
    sip_str_t server_name;
    sip_str_t to_tag; /* server: the To tag of its responses (§9.2, RFC 2543 ACK matching) */
    size_t len;       /* 0: nothing to resend from here */
    char data[];      /* the wire bytes, then the To tag, then the server name */
} sip__txn_wire_t;

/* The netinfo an idle transaction keeps, into *out; NULL when it has none. */
static inline const sip_netinfo_t *sip__txn_wire_ni(const sip__txn_wire_t *w, sip_netinfo_t *out)
{
    if (!w || !w->has_ni) return NULL;
    memcpy(out, w->ni, sizeof(w->ni));
    memcpy(out->server_name, w->server_name.ptr, w->server_name.len);
    out->server_name[w->server_name.len] = '\0';
    return out;
}

struct sip_txn {
    sip_txn_t *hnext;       /* chain of the layer's Call-ID hash bucket */
    sip_txn_layer_t *layer; /* NULL once Terminated */
    sip_msg_t *req;         /* the request; NULL once idle */
    sip_msg_t *rsp;         /* server: last response sent; INVITE client: the ACK sent; NULL
                               once idle unless it could not be kept in wire form */
    sip__txn_wire_t *wire;  /* once idle (SIP__TXN_IDLE) */
    sip__txn_key_t key;
    uint64_t t_retx;   /* A, E, G, or the 100 Trying of an INVITE server */
    uint64_t t_end;    /* B, D, F, H, I, J, K, L, M, or the wait after a CANCEL */
    uint32_t interval; /* current retransmit interval */
    uint32_t t1, t2, t4;
    uint32_t hash; /* of the Call-ID */
    int hidx;      /* place in the layer's timer heap, -1 when not there */
    int refs;
    uint16_t flags;
    uint8_t state; /* sip_txn_state_t */
    uint8_t in_cb;
    /* Server: the To tag sip_txn_create_response() made for a request without one, kept until a
     * response carrying it is sent (then rsp or wire has it too), so that every response of the
     * transaction carries the same tag (RFC 3261 §8.2.6.2, §17.2: one tag per transaction).
     * NUL-terminated when shorter than the array; empty when none was made. */
    char tag[SIP__TXN_TAG_SIZE];
    union {
        sip_response_cb rsp; /* client */
        sip_txn_event_cb ev; /* server */
    } cb;
    void *user;
    sip_free_fn user_free;
    char kbuf[]; /* the key's strings */
};

/* One deadline of the layer's timer heap: the key is the transaction's next deadline. */
typedef struct sip__txn_heap_entry {
    uint64_t key;
    sip_txn_t *t;
} sip__txn_heap_entry_t;

/* A Reason for the CANCEL of an INVITE (RFC 3326), kept on the layer until the CANCEL goes:
 * rare enough that no transaction pays a pointer for it. */
typedef struct sip__txn_reason {
    struct sip__txn_reason *next;
    sip_txn_t *t;
    char text[];
} sip__txn_reason_t;

/* Takes t's Reason off the layer (NULL when it had none); the caller frees it. */
sip__txn_reason_t *sip__txn_take_reason(sip_txn_layer_t *l, const sip_txn_t *t);

struct sip_txn_layer {
    sip__loop_child_t child;
    sip__txn_reason_t *reasons;
    int refs;
    int closed;
    int uv_open; /* the default clock's uv timer is not closed yet */
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_opts_t opts;
    sip_txn_clock_t clock;
    sip__txn_io_t io;
    uv_timer_t uvt;
    void (*uvt_fire)(void); /* what the default clock calls (always layer_fire) */
    int firing;             /* inside layer_fire: re-arm once at the end */
    uint64_t armed;         /* due time of the clock's wake-up, SIP__TXN_NEVER when none */
    uint64_t rnd;           /* branch generator state */
    sip_txn_t **buckets;    /* by Call-ID hash */
    size_t nbuckets;
    size_t count;                /* live transactions */
    uint64_t end_quantum;        /* end timers round up to a multiple of this (ms; 0: exact) */
    sip__txn_heap_entry_t *heap; /* min-heap on the transactions' next deadline */
    size_t nheap, heap_cap;
    sip_request_cb req_cb;
    void *req_user;
    sip_free_fn req_free;
    sip_stray_response_cb stray_cb;
    void *stray_user;
    sip_free_fn stray_free;
    int link_id;      /* the first link in the transport's chain (SIP_HANDLER_PRIO_TXN), 0: none */
    int in_slot;      /* the request link holds the transport's application slot */
    int leaving_slot; /* layer_close() is giving the slot up */
    int proxy;        /* a stateful proxy's layer: no merged-request check (RFC 3261 §16) */
    int mark;         /* the worker whose mark its branches carry (sip/worker.h), -1: none */
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
/* Resends what an idle transaction keeps in wire form (wire->len > 0 and wire->has_ni). */
int sip__txn_send_wire(sip_txn_layer_t *l, const sip__txn_wire_t *w);
/* Lets the transaction idle (RFC 3261 §17: only matching and retransmission are left): keeps
 * keep (the last response or the ACK, may be NULL) in wire form with where it went (ni, or the
 * message's own netinfo), and the To tag tag; drops the parsed request and response. When keep
 * cannot be kept as bytes (no netinfo), the message stays in t->rsp. 0 or SIP_ENOMEM (then
 * nothing changed). */
int sip__txn_compact(sip_txn_t *t, sip_msg_t *keep, const sip_netinfo_t *ni, sip_str_t tag);
/* The key's method is m (with text name for an extension method). */
int sip__txn_key_method_is(const sip__txn_key_t *k, sip_method_t m, sip_str_t name);
int sip__txn_has_cookie(sip_str_t branch);
int sip__txn_ensure_branch(sip_txn_layer_t *l, sip_msg_t *msg);
sip_txn_t *sip__txn_bucket(sip_txn_layer_t *l, uint32_t hash);
void sip__txn_make_branch(sip_txn_layer_t *l, char *buf, size_t size);

/* Branches of a worker (sip/worker.h) carry its mark after the magic cookie: "W" and two hex
 * digits of its index, so that the worker a response reaches knows at once whose client
 * transaction it is. */
#define SIP__TXN_MARK_LEN 3
/* Sets the mark of the layer's branches (-1: none). */
void sip__txn_layer_set_mark(sip_txn_layer_t *l, int index);
/* The mark of the layer's branches, -1 when none. */
int sip__txn_layer_mark(const sip_txn_layer_t *l);
/* Writes the mark of worker index into buf (SIP__TXN_MARK_LEN octets, no NUL). */
void sip__txn_mark_write(char *buf, int index);
/* The worker index a branch is marked with, or -1. */
static inline int sip__txn_branch_owner(sip_str_t b)
{
    if (b.len < 7 + SIP__TXN_MARK_LEN || memcmp(b.ptr, "z9hG4bKW", 8) != 0) return -1;
    int v = 0;
    for (int i = 8; i < 10; i++) {
        char c = b.ptr[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* state.c */
/* The state of a transaction between its allocation and its first state (never seen outside). */
#define SIP__TXN_NEW (SIP_TXN_TERMINATED + 1)
/* The four state machines of RFC 3261 §17 (figures 5-8). */
enum {
    SIP__TXN_KIND_INVITE_CLIENT,
    SIP__TXN_KIND_NON_INVITE_CLIENT,
    SIP__TXN_KIND_INVITE_SERVER,
    SIP__TXN_KIND_NON_INVITE_SERVER,
};
int sip__txn_kind(const sip_txn_t *t);
/* 1 when a transaction of this kind may go from state from (SIP__TXN_NEW: its first state) to
 * state to (RFC 3261 §17 figures 5-8, RFC 6026 Accepted; Terminated from anywhere: a close). */
int sip__txn_transition_ok(int kind, unsigned from, unsigned to);
/* Every state change goes through here: checked (an illegal one is a bug: assert in debug
 * builds, an error logged in release) and logged at trace level with the branch. */
void sip__txn_set_state(sip_txn_t *t, sip_txn_state_t to);
/* RFC 3263 §4.3: a client transaction whose target failed (a transport error, silence, a 503) goes
 * to the next target as a new transaction in all but the handle: back to its first state
 * (Calling or Trying), checked and logged like any change. 0, or -1 (nothing changed) when t is
 * not a client transaction in Calling, Trying or Proceeding. */
int sip__txn_restart_state(sip_txn_t *t);
/* Ends t now (sip__txn_terminate()) while holding a reference, since user_free or the layer's
 * reference going may free it otherwise; tell, when given, first informs the TU inside the same
 * reference (its callback may close or unref t). */
void sip__txn_end(sip_txn_t *t, void (*tell)(sip_txn_t *t));

/* client.c */
void sip__txn_client_response(sip_txn_t *t, sip_msg_t *rsp);
void sip__txn_client_timer(sip_txn_t *t, uint64_t now);
sip_txn_t *sip__txn_client_match(sip_txn_layer_t *l, const sip_msg_t *rsp);

/* server.c */
/* The layer's first link (RFC 3261 §17.2.3): a request of a server transaction (a
 * retransmission, the ACK of a non-2xx, a CANCEL of one, a merged request: §8.2.2.2) is handled
 * here: 1. 0: a new request, or the ACK of a 2xx or of no transaction, which go on to the TU. */
int sip__txn_server_match(sip_txn_layer_t *l, sip_msg_t *req);
/* The layer's request link: a new request that no handler before took gets its server
 * transaction and goes to the request handler (500 without one); an ACK goes there with no
 * transaction; a CANCEL of no transaction is answered 481. */
void sip__txn_server_new(sip_txn_layer_t *l, sip_msg_t *req);
void sip__txn_server_timer(sip_txn_t *t, uint64_t now);

#endif
