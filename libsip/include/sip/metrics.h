/* SPDX-License-Identifier: MIT */
/* An HTTP endpoint that serves a loop's counters (sip/stats.h) at GET /metrics in the
 * Prometheus text format, through Debian's libmicrohttpd run from the loop itself (its epoll
 * descriptor is watched by the loop and its timeouts are the loop's timers): no thread of its
 * own, as everything else in libsip. Any other path is 404, any other method 405. */
#ifndef SIP_METRICS_H
#define SIP_METRICS_H

#include <stdint.h>

#include "sip/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A metrics endpoint. Opaque; reference counted. */
typedef struct sip_metrics sip_metrics_t;

/** Options; initialise with sip_metrics_opts_init(). */
typedef struct sip_metrics_opts {
    unsigned max_connections; /**< HTTP connections at once (default 16) */
    uint32_t timeout_ms;      /**< an idle HTTP connection closes after it (default 10000) */
} sip_metrics_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_metrics_opts_init(sip_metrics_opts_t *opts);

/**
 * Extra series appended to each scrape (a program's own gauges): writes Prometheus text into
 * buf as snprintf does. @return the length written or needed.
 */
typedef int (*sip_metrics_extra_cb)(sip_metrics_t *m, char *buf, size_t size, void *user);

/**
 * Starts serving.
 * @param out     New reference
 * @param loop    whose counters are served; takes its own reference
 * @param listen  "127.0.0.1:9090", "[::1]:9090" (port 0: any free port, see
 *                sip_metrics_get_port())
 * @param opts    NULL for the defaults
 * @param extra   NULL, or more series for each scrape; user_free runs once at close or when
 *                this call fails
 * @return 0, SIP_EINVAL (a listen that does not parse), -errno (the port is taken...),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_metrics_create(sip_metrics_t **out, sip_loop_t *loop, const char *listen,
                                  const sip_metrics_opts_t *opts, sip_metrics_extra_cb extra,
                                  void *user, sip_free_fn user_free);
/** Takes a reference. @return m. */
SIP_EXTERN sip_metrics_t *sip_metrics_ref(sip_metrics_t *m);
/** Drops a reference; the last one closes. Accepts NULL. */
SIP_EXTERN void sip_metrics_unref(sip_metrics_t *m);
/** Stops serving; open HTTP connections are closed. Idempotent. */
SIP_EXTERN void sip_metrics_close(sip_metrics_t *m);
/** The port it listens on (the one chosen for port 0). 0 once closed. */
SIP_EXTERN uint16_t sip_metrics_get_port(const sip_metrics_t *m);

#ifdef __cplusplus
}
#endif
#endif
