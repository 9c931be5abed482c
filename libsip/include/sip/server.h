/* SPDX-License-Identifier: MIT */
/* A server as an operator runs it (`sipd` is this object and a command line): from a
 * configuration (sip/config.h) it opens the listening points, the user table, the location
 * service (SQLite under `state`, else memory), the registrar, the digest servers, the guard
 * (sip/guard.h, on the transport and the proxy) and the metrics endpoint (sip/metrics.h), and
 * routes every request with the proxy's default routing or a routing program set with
 * sip_server_set_route() (a script host's). It reloads a new configuration without dropping
 * calls, transactions or registrations, logs a line per request, and shuts down cleanly
 * (pending transactions answered, the store flushed). Signals are the host program's: sipd
 * maps SIGHUP to sip_server_reload() and SIGTERM to sip_server_shutdown(). */
#ifndef SIP_SERVER_H
#define SIP_SERVER_H

#include <stdint.h>

#include "sip/config.h"
#include "sip/guard.h"
#include "sip/location.h"
#include "sip/loop.h"
#include "sip/metrics.h"
#include "sip/proxy.h"
#include "sip/registrar.h"
#include "sip/transport.h"
#include "sip/txn.h"
#include "sip/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A server. Opaque; reference counted. */
typedef struct sip_server sip_server_t;

/** Runs once when a sip_server_shutdown() has finished (the server is closed then). */
typedef void (*sip_server_done_cb)(sip_server_t *srv, void *user);

/**
 * Creates a server from a configuration (checked with sip_config_check() first) and starts it
 * on the loop: listening, answering, routing with sip_proxy_route_default() until
 * sip_server_set_route() says otherwise.
 * @param out   New reference
 * @param loop  takes its own reference; its log level and trace follow log.level/log.trace
 * @param cfg   read now (the server keeps a copy: later changes to cfg do nothing until
 *              sip_server_reload())
 * @param err   NULL, or filled on failure: header is the key at fault ("listen", "users",
 *              "state", "metrics.listen"...), reason says why ("cannot listen on
 *              udp:127.0.0.1:5060: address already in use", "users.txt:3: malformed line")
 * @return 0, SIP_ECONFIG (err filled), -errno, SIP_ENOMEM. Nothing is left open on failure.
 */
SIP_EXTERN int sip_server_create(sip_server_t **out, sip_loop_t *loop, const sip_config_t *cfg,
                                 sip_parse_error_t *err);
/**
 * Creates a server as one worker process of several (sip/worker.h): the same as
 * sip_server_create(), with its listening points opened with SO_REUSEPORT, its transport and
 * transaction layer attached to the worker (sip_worker_attach()) and its location service
 * fed by the hub (sip_location_opts_t.worker) unless `store` names Redis, which each worker
 * then uses itself. The parent process runs the hub and the location service of `state`.
 * @param worker  takes its own reference; NULL is sip_server_create()
 * @return as sip_server_create().
 */
SIP_EXTERN int sip_server_create_worker(sip_server_t **out, sip_loop_t *loop,
                                        const sip_config_t *cfg, sip_worker_t *worker,
                                        sip_parse_error_t *err);
/** Takes a reference. @return srv. */
SIP_EXTERN sip_server_t *sip_server_ref(sip_server_t *srv);
/** Drops a reference; the last one closes. Accepts NULL. */
SIP_EXTERN void sip_server_unref(sip_server_t *srv);
/** Closes at once: the proxy answers what it routes 503, the location service commits its
 * queue, the listening points and connections close. Idempotent. */
SIP_EXTERN void sip_server_close(sip_server_t *srv);

/**
 * Routes every new request with cb rather than the default routing (NULL: back to
 * sip_proxy_route_default()). A script host sets this; a reload sets it again. Requests being
 * routed when it changes finish with the routing that took them. user_free of the routing
 * replaced runs once no request it took is still referenced.
 * @return 0, SIP_ECLOSED.
 */
SIP_EXTERN int sip_server_set_route(sip_server_t *srv, sip_proxy_route_cb cb, void *user,
                                    sip_free_fn user_free);

/**
 * Applies a new configuration without dropping calls, transactions or registrations: domains,
 * users (the file read again), digest, limits, log, server_header, the TLS files (for the
 * connections made from now on), metrics.listen, and listening points (new ones opened, those
 * no longer listed closed). A change that cannot be made live (mode, state) or a part that
 * fails (a listening point that cannot be opened, a users file with a bad line) refuses the
 * whole reload: nothing changes and err says why.
 * @return 0, SIP_ECONFIG (err filled), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_server_reload(sip_server_t *srv, const sip_config_t *cfg,
                                 sip_parse_error_t *err);

/**
 * Shuts down cleanly: new requests are answered 503 with Retry-After; transactions in progress
 * get grace_ms to end, then what is still pending is answered (503) or cancelled; the location
 * service commits everything queued; the listening points close; then done runs once (on a
 * later loop iteration, never inside this call) and the server is closed.
 * @return 0, SIP_ECLOSED (already closed or shutting down).
 */
SIP_EXTERN int sip_server_shutdown(sip_server_t *srv, uint32_t grace_ms, sip_server_done_cb done,
                                   void *user);

/* The parts, Borrowed; NULL once closed (and for a part the configuration did not ask for). */
SIP_EXTERN sip_loop_t *sip_server_get_loop(sip_server_t *srv);
SIP_EXTERN sip_transport_t *sip_server_get_transport(sip_server_t *srv);
SIP_EXTERN sip_txn_layer_t *sip_server_get_layer(sip_server_t *srv);
SIP_EXTERN sip_proxy_t *sip_server_get_proxy(sip_server_t *srv);
SIP_EXTERN sip_location_t *sip_server_get_location(sip_server_t *srv);
SIP_EXTERN sip_registrar_t *sip_server_get_registrar(sip_server_t *srv);
SIP_EXTERN sip_userdb_t *sip_server_get_users(sip_server_t *srv);
SIP_EXTERN sip_guard_t *sip_server_get_guard(sip_server_t *srv);
SIP_EXTERN sip_metrics_t *sip_server_get_metrics(sip_server_t *srv);
/** The configuration in force (the last one created or reloaded with). Borrowed. */
SIP_EXTERN const sip_config_t *sip_server_get_config(sip_server_t *srv);

#ifdef __cplusplus
}
#endif
#endif
