/* SPDX-License-Identifier: MIT */
/* A guard against abuse from the open internet, per source address (as Kamailio's pike and
 * the fail2ban jails people put beside it): a request-rate limit, a limit on failed digest
 * authentications, both with a block time, and addresses that are never limited. A transport
 * given a guard (sip_transport_set_guard()) drops what blocked sources send before parsing it;
 * a proxy given one (sip_proxy_opts_t.guard) reports each authentication that failed. The
 * table of sources is bounded (the least recently seen leaves first), so a flood of spoofed
 * addresses costs bounded memory. Logging of blocks is rate-limited. */
#ifndef SIP_GUARD_H
#define SIP_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "sip/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A guard. Opaque; reference counted. */
typedef struct sip_guard sip_guard_t;

/** Options; initialise with sip_guard_opts_init(). */
typedef struct sip_guard_opts {
    uint32_t rate_window_ms;    /**< the window requests are counted in (default 2000) */
    uint32_t rate_max;          /**< requests per source and window before a block (default
                                     0: no rate limit) */
    uint32_t rate_block_ms;     /**< how long a source over the rate stays blocked (default
                                     60000) */
    uint32_t auth_window_ms;    /**< the window failed authentications are counted in (default
                                     600000) */
    uint32_t auth_max_failures; /**< failed authentications per source and window before a
                                     block (default 10; 0: no limit) */
    uint32_t auth_block_ms;     /**< how long such a source stays blocked (default 900000) */
    uint32_t max_sources;       /**< sources remembered at most (default 65536) */
    uint32_t log_interval_ms;   /**< at most one warning line per interval about blocks, with
                                     the count of those not logged (default 10000) */
} sip_guard_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_guard_opts_init(sip_guard_opts_t *opts);

/**
 * Creates a guard.
 * @param out   New reference
 * @param loop  its clock, its log and its counters (SIP_STAT_BLOCKED, SIP_STAT_BLOCKED_SOURCES);
 *              Borrowed: the guard closes with the loop (then it limits nothing and blocks
 *              nothing, and its blocks are gone)
 * @param opts  NULL for the defaults
 * @return 0, SIP_EINVAL (a zero window or block time with a limit set, max_sources 0),
 *         SIP_ECLOSED (the loop is closed), SIP_ENOMEM.
 */
SIP_EXTERN int sip_guard_create(sip_guard_t **out, sip_loop_t *loop, const sip_guard_opts_t *opts);
/** Takes a reference. @return g. */
SIP_EXTERN sip_guard_t *sip_guard_ref(sip_guard_t *g);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_guard_unref(sip_guard_t *g);
/** Replaces the limits (a configuration reload); sources keep their counts and blocks.
 * @return 0 or SIP_EINVAL. */
SIP_EXTERN int sip_guard_set_opts(sip_guard_t *g, const sip_guard_opts_t *opts);

/**
 * Never limits or blocks these addresses: "192.0.2.7", "10.0.0.0/8", "::1", "2001:db8::/32".
 * @return 0, SIP_EINVAL (malformed; nothing added), SIP_ENOMEM.
 */
SIP_EXTERN int sip_guard_allow(sip_guard_t *g, const char *cidr);

/**
 * Counts one request from ip against the rate limit.
 * @return 0 (go on), SIP_EBLOCKED (the source is blocked now, or just became so), SIP_EINVAL
 *         (not an IP address).
 */
SIP_EXTERN int sip_guard_check(sip_guard_t *g, const char *ip);
/** Reports a failed authentication from ip (a wrong password, an unknown user, a stale or
 * forged nonce); the source is blocked at auth_max_failures. @return as sip_guard_check(). */
SIP_EXTERN int sip_guard_auth_failed(sip_guard_t *g, const char *ip);
/** Whether ip is blocked now (does not count anything). @return 1, 0, or SIP_EINVAL. */
SIP_EXTERN int sip_guard_is_blocked(sip_guard_t *g, const char *ip);
/** Blocks ip for ms milliseconds (0: the rate block time) by hand. @return 0, SIP_EINVAL. */
SIP_EXTERN int sip_guard_block(sip_guard_t *g, const char *ip, uint32_t ms);
/** Lifts a block and forgets the source's counts. @return 0, SIP_ENOENT, SIP_EINVAL. */
SIP_EXTERN int sip_guard_unblock(sip_guard_t *g, const char *ip);
/** The number of sources blocked now. */
SIP_EXTERN size_t sip_guard_blocked_count(sip_guard_t *g);

#ifdef __cplusplus
}
#endif
#endif
