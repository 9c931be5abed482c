/* SPDX-License-Identifier: MIT */
/* Private side of the worker module (sip/worker.h): the frames the hub and the workers exchange,
 * the link that carries them, the binding encoding, and what the hub store and the worker share. */
#ifndef SIP_WORKER_INT_H
#define SIP_WORKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "loop/loop_int.h"
#include "sip/location.h"
#include "sip/worker.h"

/* Every frame is one SOCK_SEQPACKET record: this header, then its payload. The two ends are
 * processes of one program on one machine, so the layout is the machine's own. */
typedef struct sip__wframe {
    uint8_t type;
    uint8_t flags;
    uint16_t from;  /* the index of the worker it is about (READY, LINK, GONE) */
    int32_t status; /* ACK */
    uint64_t id;    /* a write's number (PUT, DEL, ACK) or a connection id (SEND, CONN_*) */
} sip__wframe_t;

enum {
    /* worker -> hub */
    SIP__WF_READY = 1, /* linked and waiting for its siblings and the index */
    SIP__WF_PUT,       /* a location write: a binding (the AOR key first) */
    SIP__WF_DEL,       /* a location removal: "aor\0contact\0" (contact "": every binding) */
    /* hub -> worker */
    SIP__WF_LINK,     /* the link to sibling `from` (its end travels with SCM_RIGHTS) */
    SIP__WF_BIND,     /* a binding of the index (the snapshot, or another worker's write) */
    SIP__WF_UNBIND,   /* another worker's removal, as DEL */
    SIP__WF_SNAP_END, /* the snapshot is complete: the handshake is over */
    SIP__WF_ACK,      /* write `id` is durable (status 0) or failed */
    SIP__WF_GONE,     /* worker `from` ended */
    /* worker -> worker */
    SIP__WF_MSG,        /* a received message for its owner: netinfo, then the bytes */
    SIP__WF_SEND,       /* bytes to send over connection `id` of the receiver */
    SIP__WF_CONN_OPEN,  /* the sender holds connection `id`: its netinfo */
    SIP__WF_CONN_CLOSE, /* connection `id` of the sender closed */
    /* hub -> worker, in the handshake (before SNAP_END) */
    SIP__WF_SECRET, /* the set's secret: SIP__WSECRET_LEN random octets */
};

/* The secret the hub draws once and gives every worker (sip_worker_secret()). */
#define SIP__WSECRET_LEN 32

/* SIP__WF_MSG flags */
#define SIP__WF_TRUSTED 1 /* over a connection the receiving worker opened (sip__tp_deliver) */

/* The largest frame: a message of the largest stream buffer with its netinfo. */
#define SIP__WFRAME_MAX (sizeof(sip__wframe_t) + sizeof(sip_netinfo_t) + 96 * 1024)

/* ---- the link: one end of a socket pair on a loop ------------------------------------------ */

typedef struct sip__wlink sip__wlink_t;

typedef struct sip__wout {
    struct sip__wout *next;
    size_t len;
    int fd; /* to pass with SCM_RIGHTS (closed once sent), -1 */
    char data[];
} sip__wout_t;

struct sip__wlink {
    int fd;
    int closed;  /* sip__wlink_close() ran or the peer went */
    int polling; /* the uv poll handle is initialised (memory goes in its close callback) */
    int events;
    int dispatching; /* inside on_frame: a close waits for the read loop to end */
    sip_loop_t *loop;
    uv_poll_t poll;
    sip__wout_t *qhead, *qtail;
    char *rbuf;
    /* A frame arrived; fd is one received with it (the callee owns it), else -1. */
    void (*on_frame)(sip__wlink_t *lk, const sip__wframe_t *h, const char *p, size_t len, int fd);
    /* The peer closed or the link failed; not called after sip__wlink_close(). */
    void (*on_down)(sip__wlink_t *lk);
    void *owner;
    unsigned peer; /* the index of the worker at the other end (hub side, sibling links) */
};

/* A link on fd (made non-blocking; the link owns it, also on failure). Not reading until
 * sip__wlink_start(). 0, SIP_ENOMEM, -errno. */
int sip__wlink_create(sip__wlink_t **out, sip_loop_t *loop, int fd);
/* Starts reading on the loop. */
int sip__wlink_start(sip__wlink_t *lk);
/* Closes the link (no callback after it); its memory goes once the loop closed the handle. */
void sip__wlink_close(sip__wlink_t *lk);
/* Sends a frame (payload in two parts, either may be empty) and an fd to pass (-1: none; it is
 * closed once sent). Queued when the socket is full. 0, SIP_ECLOSED, SIP_ENOMEM. */
int sip__wlink_send(sip__wlink_t *lk, const sip__wframe_t *h, const void *a, size_t alen,
                    const void *b, size_t blen, int fd);
/* Queues a frame (no descriptor) to leave with the others of its batch at the next
 * sip__wlink_flush(), in one sendmmsg(). 0, SIP_ECLOSED, SIP_ENOMEM. */
int sip__wlink_queue(sip__wlink_t *lk, const sip__wframe_t *h, const void *a, size_t alen,
                     const void *b, size_t blen);
/* Sends what is queued (what the socket does not take waits for it to be writable). */
void sip__wlink_flush(sip__wlink_t *lk);
/* Reads and handles every frame waiting (the sync handshake and close use it). 0, or
 * SIP_ECLOSED when the link went down. */
int sip__wlink_read(sip__wlink_t *lk);
/* Waits up to timeout_ms for the fd to be readable. 1 readable, 0 timeout, SIP_ECLOSED. */
int sip__wlink_wait(sip__wlink_t *lk, int timeout_ms);

/* ---- bindings on the wire ------------------------------------------------------------------ */

/* Encodes b under the AOR key aor into a new buffer. 0 and *out, *len; or SIP_ENOMEM. */
int sip__wbind_encode(const sip_binding_t *b, const char *aor, char **out, size_t *len);
/* Decodes into b (strings point into p). 0 or SIP_EINVAL. */
int sip__wbind_decode(const char *p, size_t len, sip_binding_t *b);

/* ---- what the worker and its hub store share ----------------------------------------------- */

typedef struct sip__hub_store sip__hub_store_t;

/* The store of a location service made with opts.worker attaches itself to the worker. */
int sip__worker_store_attach(sip_worker_t *w, sip__hub_store_t *st);
void sip__worker_store_detach(sip_worker_t *w, sip__hub_store_t *st);
/* Sends a location frame to the hub. 0, SIP_ECLOSED (the hub is gone), SIP_ENOMEM. */
int sip__worker_to_hub(sip_worker_t *w, const sip__wframe_t *h, const void *p, size_t len);
/* Reads frames from the hub for up to timeout_ms or until done(arg) says 1 (close waits for
 * the acknowledgements of its writes). */
void sip__worker_pump(sip_worker_t *w, int timeout_ms, int (*done)(void *arg), void *arg);
sip_loop_t *sip__worker_loop(const sip_worker_t *w);
/* Undoes sip_worker_attach() when tp is the attached transport (its server closes). */
void sip__worker_detach(sip_worker_t *w, sip_transport_t *tp);
/* The index of the worker owning a message received as these bytes, -1 when the receiver
 * decides. */
int sip__worker_owner(const sip_worker_t *w, const char *data, size_t len);

/* hub_store.c: frames of the hub for the store (the snapshot, others' writes, ACKs). */
void sip__hub_store_frame(sip__hub_store_t *st, const sip__wframe_t *h, const char *p, size_t len);
/* The hub is gone: every write in flight fails. */
void sip__hub_store_down(sip__hub_store_t *st);

#endif
