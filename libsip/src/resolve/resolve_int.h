/* SPDX-License-Identifier: MIT */
/* Internals of the resolver: DNS answer parsing, the answer cache, the lookup jobs. */
#ifndef SIP_RESOLVE_INT_H
#define SIP_RESOLVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ares.h>
#include <uv.h>

#include "loop/loop_int.h"
#include "sip/resolve.h"

/* DNS record types (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 3403). */
#define SIP__DNS_A 1
#define SIP__DNS_SOA 6
#define SIP__DNS_CNAME 5
#define SIP__DNS_AAAA 28
#define SIP__DNS_SRV 33
#define SIP__DNS_NAPTR 35

/* Longest domain name in text form (RFC 1035 §2.3.4: 255 octets on the wire). */
#define SIP__DNS_NAME_MAX 255

/* One record of an answer, of the type that was asked for. */
typedef struct sip__dns_rr {
    uint16_t type;
    uint32_t ttl;
    union {
        char ip[48]; /* A, AAAA: printable address */
        struct {
            uint16_t priority, weight, port;
            char target[SIP__DNS_NAME_MAX + 1]; /* "" for "." (no service, RFC 2782) */
        } srv;
        struct {
            uint16_t order, preference;
            char flags[16];
            char service[32];
            int has_regexp;
            char replacement[SIP__DNS_NAME_MAX + 1];
        } naptr;
    } u;
} sip__dns_rr_t;

/* A parsed answer. */
typedef struct sip__dns_answer {
    sip__dns_rr_t *rr; /* records of the asked type, in wire order */
    size_t count;
    uint32_t min_ttl; /* smallest TTL among the answer section's records (UINT32_MAX: none) */
    uint32_t neg_ttl; /* RFC 2308 §5: min(SOA TTL, SOA MINIMUM) from the authority section, or
                         UINT32_MAX when there is no SOA */
} sip__dns_answer_t;

/*
 * Parses a DNS response and keeps the records of type qtype (class IN) found in the answer
 * section. Records that do not fit (an over-long name, a short RDATA) are skipped, not fatal.
 * Returns 0, SIP_EPARSE for a malformed message, SIP_ENOMEM. ans->rr is freed by
 * sip__dns_answer_free().
 */
int sip__dns_parse(const unsigned char *buf, size_t len, uint16_t qtype, sip__dns_answer_t *ans);
void sip__dns_answer_free(sip__dns_answer_t *ans);
/* "A", "SRV", ... for logs. */
const char *sip__dns_type_name(uint16_t type);

/* The answer cache: raw responses keyed by (name, type), LRU-bounded, expiring by TTL. */
typedef struct sip__rcache_entry sip__rcache_entry_t;
typedef struct sip__rcache {
    sip__rcache_entry_t **buckets;
    size_t nbuckets;
    sip__rcache_entry_t *lru_head, *lru_tail; /* head: most recently used */
    size_t count, max;
} sip__rcache_t;

/* A cached response: status is the ares status (ARES_SUCCESS, ARES_ENOTFOUND, ARES_ENODATA). */
typedef struct sip__rcache_hit {
    int status;
    const unsigned char *buf;
    size_t len;
} sip__rcache_hit_t;

int sip__rcache_init(sip__rcache_t *c, size_t max);
void sip__rcache_free(sip__rcache_t *c);
void sip__rcache_flush(sip__rcache_t *c);
/* Finds a live entry (expired ones are dropped). The hit stays valid until the next store or
 * flush. Returns 1 when found. */
int sip__rcache_lookup(sip__rcache_t *c, const char *name, uint16_t type, uint64_t now,
                       sip__rcache_hit_t *hit);
/* Stores a response for ttl_ms; replaces an older entry for the same key, evicts the least
 * recently used one when full. Returns 0 or SIP_ENOMEM (the cache is then unchanged). */
int sip__rcache_store(sip__rcache_t *c, const char *name, uint16_t type, int status,
                      const unsigned char *buf, size_t len, uint64_t now, uint64_t ttl_ms);

typedef struct sip__rjob sip__rjob_t;
typedef struct sip__rsock sip__rsock_t;

/* A target that failed (failed.c): compared by transport, address bytes and port. */
typedef struct sip__rfailed {
    uint8_t transport, family;
    uint16_t port;
    unsigned char addr[16];
    uint64_t until; /* loop clock, ms */
} sip__rfailed_t;

/* The most failed targets remembered. */
#define SIP__RFAILED_MAX 256

struct sip_resolver {
    unsigned refs;
    int closed;
    unsigned handles;        /* uv handles not yet closed; the memory lives until they are */
    sip__loop_child_t child; /* closes with the loop */
    sip_loop_t *loop;        /* Borrowed: the loop closes its children (us) before it goes */
    uv_loop_t *uv;
    ares_channel channel;
    int have_channel;
    int in_ares;             /* depth of ares_process_fd() calls */
    int destroy_pending;     /* close ran inside ares_process_fd(): destroy the channel after it */
    uv_timer_t ares_timer;   /* drives c-ares timeouts */
    uv_async_t deliver;      /* runs finished jobs' callbacks from the loop */
    sip__rsock_t *socks;     /* watched sockets */
    sip__rsock_t *sock_pool; /* where they come from (see on_sock_state) */
    size_t sock_pool_size;
    sip__rjob_t *active;                /* jobs waiting for answers (doubly linked) */
    sip__rjob_t *done_head, *done_tail; /* finished, callback not yet run (FIFO) */
    sip__rcache_t cache;
    sip_resolver_opts_t opts;
    char *servers; /* opts.servers copied */
    uint64_t rng;  /* per-resolver random state, seeded from getrandom() */
    uint64_t next_job_id;
    sip__rfailed_t *failed; /* targets marked failed (unordered; expired ones purged lazily) */
    size_t nfailed, failed_cap;
};

/* A number in [0, bound] from the resolver's generator. */
uint32_t sip__resolver_random(sip_resolver_t *r, uint32_t bound);
/* Milliseconds of the loop's clock. */
uint64_t sip__resolver_now(sip_resolver_t *r);
/* Re-arms the c-ares timer after a query was sent or processed. */
void sip__resolver_schedule(sip_resolver_t *r);
/* Runs finished jobs' callbacks from the loop soon (never now). */
void sip__resolver_wake(sip_resolver_t *r);

/* Jobs (locate.c). */
int sip__rjob_start(sip_resolver_t *r, const sip_uri_t *uri, sip_resolve_cb cb, void *user,
                    sip_free_fn user_free);
/* Delivers every finished job's result (the deliver handle). */
void sip__rjob_deliver(sip_resolver_t *r);
/* Ends every job without its callback: user_free runs now. */
void sip__rjob_cancel_all(sip_resolver_t *r);

/* Moves the targets marked failed (and still so) after the others, keeping both orders. */
void sip__rfailed_order(sip_resolver_t *r, sip_netinfo_t *targets, size_t count);

/* Orders SRV records as RFC 2782 says (priority, then weighted random); exposed for tests. */
void sip__srv_order(sip_resolver_t *r, sip__dns_rr_t *rr, size_t n);

#endif
