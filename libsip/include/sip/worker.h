/* SPDX-License-Identifier: MIT */
/* Several processes serving one SIP endpoint, the shape of Kamailio's children: each worker
 * process runs its own loop, transport, transactions, proxy and routing script on listening
 * points it shares with the others (SO_REUSEPORT, sip_transport_opts_t.reuseport), and a hub
 * in the parent process links them. Processes rather than threads: a worker that crashes takes
 * nothing of the others with it and is started again by the parent, and each embedded Python
 * has its own interpreter and lock.
 *
 * What crosses between workers, and why:
 * - A request another worker owns. The owner of a request is hash(Call-ID) mod N, so every
 *   request of a call reaches one worker wherever the kernel delivered it (another source port,
 *   another connection): a retransmission, a CANCEL or the ACK of a non-2xx final response
 *   finds its transaction (RFC 3261 §17.2.3), and an ACK for a 2xx (a new request, §17.1.1.3)
 *   and the in-dialog requests after it (a BYE) reach the worker holding the dialog, in the
 *   order they came. The Call-ID is read from the received bytes (its compact form "i", any
 *   case, folded lines, §7.3.1); a request without one is handled where it lands (400).
 * - A response whose client transaction another worker owns: the branches a worker makes carry
 *   its mark ("z9hG4bK" then the mark), so the receiver knows the owner at once.
 * - A message that must leave through a stream connection another worker holds (RFC 5626
 *   flows, §18.2.2 replies over the connection a request came in on): connection ids carry the
 *   index of the worker holding them.
 * - Location writes. A worker's write goes to the hub, which applies it to its own location
 *   service (memory, or SQLite: one writer), acknowledges it (the registrar answers 200 only
 *   then), and sends it to every other worker, so each worker answers lookups from its own
 *   memory and a restarted worker is given the whole index by the hub.
 * Messages cross as they were received (the bytes and their sip_netinfo_t), never re-printed.
 * Workers exchange messages with each other directly (a socket pair per pair of workers, passed
 * by the hub), location writes through the hub. */
#ifndef SIP_WORKER_H
#define SIP_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "sip/location.h"
#include "sip/loop.h"
#include "sip/transport.h"
#include "sip/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most workers one hub links. */
#define SIP_WORKERS_MAX 64

/* ---- the hub: in the parent process ------------------------------------------------------ */

/** The parent's side: one link per worker. Opaque; reference counted. */
typedef struct sip_hub sip_hub_t;

/** Options; initialise with sip_hub_opts_init(). */
typedef struct sip_hub_opts {
    unsigned workers;         /**< how many workers (1..SIP_WORKERS_MAX; default 1) */
    sip_location_t *location; /**< the location service the workers' writes are applied to and
                                   that a starting worker is given; Borrowed (takes its own
                                   reference); NULL: the workers share no location service */
} sip_hub_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_hub_opts_init(sip_hub_opts_t *opts);

/**
 * Creates a hub on the parent's loop.
 * @param out   New reference
 * @return 0, SIP_EINVAL (workers out of range, a location on another loop), SIP_EIO (no
 *         random bytes for the workers' secret), SIP_ENOMEM.
 */
SIP_EXTERN int sip_hub_create(sip_hub_t **out, sip_loop_t *loop, const sip_hub_opts_t *opts);
/** Takes a reference. @return hub. */
SIP_EXTERN sip_hub_t *sip_hub_ref(sip_hub_t *hub);
/** Drops a reference; the last one closes. Accepts NULL. */
SIP_EXTERN void sip_hub_unref(sip_hub_t *hub);
/** Closes every link; the workers see their hub go (and end). Idempotent. */
SIP_EXTERN void sip_hub_close(sip_hub_t *hub);

/**
 * Makes the link of worker index before its process starts (again, after a crash: the old link
 * is dropped first, as sip_hub_unlink() does). The hub keeps one end of a new socket pair and
 * gives the other, *child_fd, for the worker process to inherit (uv_spawn()'s stdio, or
 * fork()), which passes it to sip_worker_create(). The caller closes *child_fd in the parent
 * once the child has it. The hub sends the worker the location index and the links to its
 * siblings once it says it is ready.
 * @return 0, SIP_EINVAL (index >= workers), SIP_ECLOSED, -errno.
 */
SIP_EXTERN int sip_hub_link(sip_hub_t *hub, unsigned index, int *child_fd);

/**
 * Worker index has ended (its process exited): its link closes and the other workers are told
 * that its stream connections are gone (a message for one of them fails as a closed connection
 * does). Idempotent.
 */
SIP_EXTERN void sip_hub_unlink(sip_hub_t *hub, unsigned index);

/** How many workers are linked and ready. */
SIP_EXTERN unsigned sip_hub_ready_count(const sip_hub_t *hub);

/* ---- the worker: in each worker process -------------------------------------------------- */

/** A worker's link to its hub and its siblings. Opaque; reference counted. */
typedef struct sip_worker sip_worker_t;

/** Options; initialise with sip_worker_opts_init(). */
typedef struct sip_worker_opts {
    unsigned index; /**< this worker (0..count-1) */
    unsigned count; /**< how many workers (1..SIP_WORKERS_MAX) */
    int fd;         /**< the link sip_hub_link() made, inherited; the worker owns it (closes it
                         whatever this returns) */
} sip_worker_opts_t;

/** Fills opts with the defaults (index 0, count 1, fd -1). */
SIP_EXTERN void sip_worker_opts_init(sip_worker_opts_t *opts);

/**
 * Creates this process's worker link on its loop and tells the hub it is ready: the hub answers
 * with the links to the other workers, the set's secret (sip_worker_secret()) and, when it has
 * a location service, the index, which a location service created with
 * sip_location_opts_t.worker loads before its create returns.
 * @param out   New reference
 * @return 0, SIP_EINVAL (index >= count, count out of range, a bad fd), SIP_EIO (the hub is
 *         gone), SIP_ENOMEM.
 */
SIP_EXTERN int sip_worker_create(sip_worker_t **out, sip_loop_t *loop,
                                 const sip_worker_opts_t *opts);
/** Takes a reference. @return w. */
SIP_EXTERN sip_worker_t *sip_worker_ref(sip_worker_t *w);
/** Drops a reference; the last one closes. Accepts NULL. */
SIP_EXTERN void sip_worker_unref(sip_worker_t *w);
/** Closes the links. Idempotent. */
SIP_EXTERN void sip_worker_close(sip_worker_t *w);

/**
 * Makes a transport and its transaction layer part of the worker set: requests and responses
 * this worker does not own go to their owner before any handler sees them, messages for another
 * worker's connections go to it, branches and connection ids carry this worker's mark, and
 * messages other workers pass here enter this transport as if received. One transport per
 * worker.
 * @param tp     takes its own reference; its listening points should be opened with reuseport
 * @param layer  the transaction layer on tp (takes its own reference)
 * @return 0, SIP_EINVAL (NULL, another loop, a layer of another transport), SIP_EEXIST
 *         (attached already), SIP_ECLOSED.
 */
SIP_EXTERN int sip_worker_attach(sip_worker_t *w, sip_transport_t *tp, sip_txn_layer_t *layer);

/** This worker's index. */
SIP_EXTERN unsigned sip_worker_index(const sip_worker_t *w);
/** How many workers there are. */
SIP_EXTERN unsigned sip_worker_count(const sip_worker_t *w);
/** 1 while the link to the hub is up, else 0. */
SIP_EXTERN int sip_worker_is_linked(const sip_worker_t *w);

/**
 * The secret the hub drew once (256 bits from OpenSSL's RAND_bytes) and gave every worker in
 * its handshake, as lowercase hex: what the workers' digest servers sign their nonces with and
 * their proxies key their branches with (sip_auth_server_opts_t.secret,
 * sip_proxy_opts_t.secret), so that a nonce or a stateless branch made by one worker is taken
 * by any other (RFC 7616 §3.3, RFC 3261 §16.11). sip_server_create_worker() uses it.
 * @param buf   receives 64 hex digits and a NUL (cut to size - 1, like snprintf); the caller's
 * @return 64, SIP_EINVAL (NULL w, NULL buf with a size), SIP_ENOENT (the hub gave none).
 */
SIP_EXTERN int sip_worker_secret(const sip_worker_t *w, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
