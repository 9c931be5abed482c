/* SPDX-License-Identifier: MIT */
/* RFC 3263 server location: NAPTR, SRV and A/AAAA lookups (c-ares on the libsip loop). */
#ifndef SIP_RESOLVE_H
#define SIP_RESOLVE_H

#include <stdint.h>

#include "sip/loop.h"
#include "sip/net.h"
#include "sip/uri.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A DNS resolver with a cache. Opaque; reference counted. */
typedef struct sip_resolver sip_resolver_t;

/** Options; initialise with sip_resolver_opts_init(). Strings are copied. */
typedef struct sip_resolver_opts {
    const char *servers; /**< "127.0.0.1:5353,[::1]:53"; NULL: the system's (resolv.conf) */
    int timeout_ms;      /**< per try (default 2000) */
    int tries;           /**< tries per server (default 2) */
    unsigned transports; /**< bit (1 << sip_transport_type_t) per transport this endpoint can use
                              (default UDP, TCP, TLS) */
    unsigned cache_max;  /**< cached DNS answers at most (default 1024); 0 disables the cache */
    unsigned failed_ms;  /**< how long a target that failed (sip_resolver_mark_failed()) is
                              listed after the others (default 60000); 0: failures are not
                              remembered */
} sip_resolver_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_resolver_opts_init(sip_resolver_opts_t *opts);

/**
 * The outcome of sip_resolve(): the targets to try, in order (RFC 3263 §4: NAPTR order and
 * preference, SRV priority then weighted random order, then each A/AAAA address). Targets
 * marked failed (sip_resolver_mark_failed()) and not yet recovered come last, in that order.
 * @param status   0, SIP_ENOENT (no target), -ETIMEDOUT (no answer), -EHOSTUNREACH (refused),
 *                 -EIO (another DNS failure)
 * @param targets  transport, remote_ip, remote_port set, and server_name: the URI's host when it
 *                 is a name (RFC 5922 §4.1: the certificate must name the SIP domain, whatever
 *                 SRV target led to the address), "" for an address; Borrowed for the call
 */
typedef void (*sip_resolve_cb)(sip_resolver_t *r, int status, const sip_netinfo_t *targets,
                               size_t count, void *user);

/**
 * Creates a resolver on a loop.
 * @param out   New reference
 * @param opts  NULL for the defaults
 */
SIP_EXTERN int sip_resolver_create(sip_resolver_t **out, sip_loop_t *loop,
                                   const sip_resolver_opts_t *opts);
/** Takes a reference. @return r. */
SIP_EXTERN sip_resolver_t *sip_resolver_ref(sip_resolver_t *r);
/** Drops a reference; the last one closes the resolver. Accepts NULL. */
SIP_EXTERN void sip_resolver_unref(sip_resolver_t *r);
/** Cancels every pending lookup (their user_free runs, their callbacks do not). Idempotent. */
SIP_EXTERN void sip_resolver_close(sip_resolver_t *r);

/**
 * Finds where to send a request for a URI (RFC 3263 §4). A numeric host, or a name with an
 * explicit port, skips NAPTR and SRV as §4.2 says; a transport parameter skips NAPTR; sips URIs
 * use TLS only. The callback always runs later from the loop, never inside this call.
 * @return 0 when started, or an immediate error (the callback will not run; user_free does).
 */
SIP_EXTERN int sip_resolve(sip_resolver_t *r, const sip_uri_t *uri, sip_resolve_cb cb, void *user,
                           sip_free_fn user_free);

/** Forgets every cached answer (the next lookups go to the DNS servers). */
SIP_EXTERN void sip_resolver_flush(sip_resolver_t *r);

/**
 * Remembers that a target failed: for ms milliseconds sip_resolve() lists it after every
 * target that did not fail, so that the next requests try a server that works before one that
 * did not (RFC 3263 §4.3 moves a request on to the next target; this keeps later requests from
 * waiting on the same dead one). The transaction layer marks the targets it leaves (no
 * response, a transport error, a 503: for its Retry-After when it has one); an application
 * that finds a server down by other means (an OPTIONS ping) marks it here. Marking again
 * replaces the time left. At most 256 targets are remembered (the one ending soonest goes).
 * @param target  transport, remote_ip and remote_port are read; Borrowed for the call
 * @param ms      how long; 0 for the resolver's failed_ms (nothing happens when that is 0)
 * @return 0, SIP_EINVAL (NULL, or remote_ip not an address), SIP_ECLOSED, SIP_ENOMEM
 */
SIP_EXTERN int sip_resolver_mark_failed(sip_resolver_t *r, const sip_netinfo_t *target,
                                        uint32_t ms);
/**
 * Forgets that a target failed: it takes its place by priority and weight again. The
 * transaction layer does it when a marked target answers (anything but a 503).
 * @param target  transport, remote_ip and remote_port are read; Borrowed for the call
 * @return 0 when it was marked, SIP_ENOENT when it was not, SIP_EINVAL
 */
SIP_EXTERN int sip_resolver_mark_ok(sip_resolver_t *r, const sip_netinfo_t *target);
/**
 * How long a target stays marked failed.
 * @param target  transport, remote_ip and remote_port are read; Borrowed for the call
 * @return milliseconds left, 0 when it is not marked (or NULL arguments)
 */
SIP_EXTERN uint32_t sip_resolver_get_failed_ms(sip_resolver_t *r, const sip_netinfo_t *target);

#ifdef __cplusplus
}
#endif
#endif
