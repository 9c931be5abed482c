/* SPDX-License-Identifier: MIT */
/* The guard: a bounded table of sources keyed by address, sliding-window counts of requests and
 * failed authentications, blocks with an end time, an allow list, rate-limited warnings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <uv.h>

#include "guard/guard_int.h"
#include "loop/loop_int.h"
#include "sip/error.h"
#include "sip/stats.h"
#include "stats/stats_int.h"

/* Counters of the loop (sip/stats.h). */
static inline void stat_add(sip_loop_t *loop, sip_stat_id_t id, int64_t d)
{
    sip__stat_add(loop, id, d);
}

/* A count over a sliding window, estimated from two fixed ones (the previous window's count
 * weighted by how much of it the sliding window still covers): two integers per source rather
 * than a time stamp per request, and no burst of twice the limit across a window's edge, which
 * fixed windows allow. */
typedef struct win {
    uint64_t start; /* loop ms when the current fixed window began */
    uint32_t prev, cur;
} win_t;

typedef struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* the LRU list (not blocked) or the blocked list */
    sip__gaddr_t addr;
    win_t rate, auth;
    uint64_t until; /* blocked until this loop ms; meaningful when blocked */
    int blocked;
} entry_t;

typedef struct list {
    entry_t *head, *tail;
} list_t;

struct sip_guard {
    sip__loop_child_t child;
    int refs;
    int closed;     /* the loop closed, or the last reference went: nothing is limited */
    int timer_open; /* the uv timer is not closed yet; memory stays until it is */
    sip_loop_t *loop;
    sip_guard_opts_t opts;
    uint64_t key[2]; /* SipHash key: a flood of chosen addresses cannot aim at one chain */
    entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t nsources;
    list_t lru;     /* sources not blocked, the most recently seen first */
    list_t blocked; /* blocked sources: never evicted for a newcomer, so a flood of spoofed
                       addresses cannot free a blocked one */
    size_t nblocked;
    sip__gnet_t *allow;
    size_t nallow, cap_allow;
    uv_timer_t timer; /* ends blocks on time, so the count and the gauge do not lag */
    uint64_t timer_due;
    uint64_t log_last; /* when the last warning was written */
    int log_any;
    uint64_t log_quiet; /* blocks not logged since */
};

void sip_guard_opts_init(sip_guard_opts_t *o)
{
    if (!o) return;
    memset(o, 0, sizeof(*o));
    o->rate_window_ms = 2000;
    o->rate_max = 0;
    o->rate_block_ms = 60000;
    o->auth_window_ms = 600000;
    o->auth_max_failures = 10;
    o->auth_block_ms = 900000;
    o->max_sources = 65536;
    o->log_interval_ms = 10000;
}

static int opts_valid(const sip_guard_opts_t *o)
{
    if (o->rate_max && (!o->rate_window_ms || !o->rate_block_ms)) return 0;
    if (o->auth_max_failures && (!o->auth_window_ms || !o->auth_block_ms)) return 0;
    return o->max_sources > 0;
}

/* ---- SipHash-2-4 (Aumasson and Bernstein) of the 16 address bytes ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t hash_addr(const uint64_t key[2], const sip__gaddr_t *a)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
    for (int i = 0; i < 2; i++) {
        uint64_t m = le64(a->b + 8 * i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)16 << 56;
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- lists and the table ---- */

static void list_unlink(list_t *l, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push(list_t *l, entry_t *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    else
        l->tail = e;
    l->head = e;
}

static size_t bucket_of(const sip_guard_t *g, const sip__gaddr_t *a)
{
    return (size_t)hash_addr(g->key, a) & (g->nbuckets - 1);
}

static entry_t *find(sip_guard_t *g, const sip__gaddr_t *a)
{
    for (entry_t *e = g->buckets[bucket_of(g, a)]; e; e = e->hnext)
        if (memcmp(e->addr.b, a->b, 16) == 0) return e;
    return NULL;
}

static void hash_remove(sip_guard_t *g, entry_t *e)
{
    entry_t **pp = &g->buckets[bucket_of(g, &e->addr)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
}

/* Buckets for n sources: the next power of two at or above n/2 (chains of two on average when
 * full), at least 16. */
static size_t buckets_for(size_t n)
{
    size_t b = 16;
    while (b < n / 2 && b < ((size_t)1 << 30))
        b <<= 1;
    return b;
}

/* Re-hashes into nb buckets; on failure the table keeps its buckets (longer chains, same
 * answers). */
static int rehash(sip_guard_t *g, size_t nb)
{
    entry_t **b = calloc(nb, sizeof(*b));
    if (!b) return SIP_ENOMEM;
    entry_t **old = g->buckets;
    size_t on = g->nbuckets;
    g->buckets = b;
    g->nbuckets = nb;
    for (size_t i = 0; i < on; i++) {
        entry_t *e = old[i];
        while (e) {
            entry_t *next = e->hnext;
            size_t k = bucket_of(g, &e->addr);
            e->hnext = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(old);
    return 0;
}

/* ---- blocks ---- */

static void on_timer(uv_timer_t *h);

static void arm(sip_guard_t *g, uint64_t now)
{
    if (g->closed || !g->timer_open) return;
    uint64_t due = UINT64_MAX;
    for (entry_t *e = g->blocked.head; e; e = e->next)
        if (e->until < due) due = e->until;
    if (due == UINT64_MAX) {
        uv_timer_stop(&g->timer);
        g->timer_due = 0;
        return;
    }
    if (g->timer_due && g->timer_due == due && uv_is_active((uv_handle_t *)&g->timer)) return;
    g->timer_due = due;
    uv_timer_start(&g->timer, on_timer, due > now ? due - now : 0, 0);
}

static void unblock_entry(sip_guard_t *g, entry_t *e)
{
    list_unlink(&g->blocked, e);
    e->blocked = 0;
    g->nblocked--;
    stat_add(g->loop, SIP_STAT_BLOCKED_SOURCES, -1);
    list_push(&g->lru, e);
}

/* Ends the blocks whose time has come. */
static void expire(sip_guard_t *g, uint64_t now)
{
    entry_t *e = g->blocked.head;
    while (e) {
        entry_t *next = e->next;
        if (e->until <= now) unblock_entry(g, e);
        e = next;
    }
}

static void on_timer(uv_timer_t *h)
{
    sip_guard_t *g = h->data;
    uint64_t now = uv_now(h->loop);
    g->timer_due = 0;
    expire(g, now);
    arm(g, now);
}

static void seconds(char *buf, size_t size, uint32_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%u s", ms / 1000);
    else
        snprintf(buf, size, "%.1f s", ms / 1000.0);
}

/* One warning per log interval at most; the next one says how many were not logged. */
static void log_block(sip_guard_t *g, const entry_t *e, uint64_t now, uint32_t ms, const char *what,
                      uint32_t n, uint32_t window_ms)
{
    if (g->log_any && now - g->log_last < g->opts.log_interval_ms) {
        g->log_quiet++;
        return;
    }
    char ip[64], len[32], win[32], more[64] = "";
    sip__gaddr_str(&e->addr, ip, sizeof(ip));
    seconds(len, sizeof(len), ms);
    if (g->log_quiet)
        snprintf(more, sizeof(more), "; %llu more block%s not logged",
                 (unsigned long long)g->log_quiet, g->log_quiet == 1 ? "" : "s");
    if (what) {
        seconds(win, sizeof(win), window_ms);
        sip_log(g->loop, SIP_LOG_WARN, "guard", "blocked %s for %s: %u %s in %s%s", ip, len, n,
                what, win, more);
    } else {
        sip_log(g->loop, SIP_LOG_WARN, "guard", "blocked %s for %s by hand%s", ip, len, more);
    }
    g->log_any = 1;
    g->log_last = now;
    g->log_quiet = 0;
}

static void block_entry(sip_guard_t *g, entry_t *e, uint64_t now, uint32_t ms)
{
    e->until = now + ms;
    if (!e->blocked) {
        list_unlink(&g->lru, e);
        list_push(&g->blocked, e);
        e->blocked = 1;
        g->nblocked++;
        stat_add(g->loop, SIP_STAT_BLOCKED_SOURCES, 1);
    }
    arm(g, now);
}

/* ---- sources ---- */

static void remove_entry(sip_guard_t *g, entry_t *e)
{
    hash_remove(g, e);
    if (e->blocked) {
        list_unlink(&g->blocked, e);
        g->nblocked--;
        stat_add(g->loop, SIP_STAT_BLOCKED_SOURCES, -1);
    } else {
        list_unlink(&g->lru, e);
    }
    g->nsources--;
}

/* A new source, in place of the least recently seen one that is not blocked when the table is
 * full. NULL without memory, or when every remembered source is blocked: that source then goes
 * uncounted (the table stays bounded). */
static entry_t *add_entry(sip_guard_t *g, const sip__gaddr_t *a, uint64_t now)
{
    entry_t *e;
    if (g->nsources >= g->opts.max_sources) {
        e = g->lru.tail;
        if (!e) return NULL;
        remove_entry(g, e);
    } else {
        e = malloc(sizeof(*e));
        if (!e) return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->addr = *a;
    e->rate.start = e->auth.start = now;
    size_t k = bucket_of(g, a);
    e->hnext = g->buckets[k];
    g->buckets[k] = e;
    list_push(&g->lru, e);
    g->nsources++;
    return e;
}

static int allowed(const sip_guard_t *g, const sip__gaddr_t *a)
{
    for (size_t i = 0; i < g->nallow; i++)
        if (sip__gnet_contains(&g->allow[i], a)) return 1;
    return 0;
}

/* Adds one to a window (add) and returns the sliding count. */
static uint32_t slide(win_t *w, uint64_t now, uint32_t window, int add)
{
    uint64_t el = now - w->start;
    if (el >= 2 * (uint64_t)window) {
        w->prev = w->cur = 0;
        w->start = now;
    } else if (el >= window) {
        w->prev = w->cur;
        w->cur = 0;
        w->start += window;
    }
    if (add && w->cur < UINT32_MAX) w->cur++;
    el = now - w->start;
    uint64_t carried = el < window ? (uint64_t)w->prev * (window - el) / window : 0;
    uint64_t n = w->cur + carried;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

enum { HIT_REQUEST, HIT_AUTH, HIT_PEEK };

static uint64_t now_of(sip_guard_t *g)
{
    return sip_loop_now(g->loop);
}

static int hit(sip_guard_t *g, const sip__gaddr_t *a, int kind)
{
    if (g->closed || allowed(g, a)) return 0;
    uint64_t now = now_of(g);
    const sip_guard_opts_t *o = &g->opts;
    int counts = (kind == HIT_REQUEST && o->rate_max) || (kind == HIT_AUTH && o->auth_max_failures);
    entry_t *e = find(g, a);
    if (!e && !counts) return 0;
    if (!e) {
        e = add_entry(g, a, now);
        if (!e) return 0;
    }
    if (e->blocked && e->until <= now) unblock_entry(g, e);
    if (!e->blocked && counts) {
        /* Seen now: first in line to stay. */
        list_unlink(&g->lru, e);
        list_push(&g->lru, e);
    }
    if (kind == HIT_REQUEST && o->rate_max) {
        /* Requests from a blocked source still count: one that keeps flooding is blocked again
         * as soon as its block ends. */
        uint32_t n = slide(&e->rate, now, o->rate_window_ms, 1);
        if (!e->blocked && n > o->rate_max) {
            block_entry(g, e, now, o->rate_block_ms);
            log_block(g, e, now, o->rate_block_ms, "requests", n, o->rate_window_ms);
        }
    } else if (kind == HIT_AUTH && o->auth_max_failures) {
        uint32_t n = slide(&e->auth, now, o->auth_window_ms, 1);
        if (!e->blocked && n >= o->auth_max_failures) {
            block_entry(g, e, now, o->auth_block_ms);
            log_block(g, e, now, o->auth_block_ms, "failed authentications", n, o->auth_window_ms);
        }
    }
    return e->blocked ? SIP_EBLOCKED : 0;
}

int sip__guard_admit(sip_guard_t *g, const struct sockaddr *sa, int request)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_from_sa(sa, &a)) return 0;
    int rc = hit(g, &a, request ? HIT_REQUEST : HIT_PEEK);
    if (rc) stat_add(g->loop, SIP_STAT_BLOCKED, 1);
    return rc;
}

sip_loop_t *sip__guard_loop(const sip_guard_t *g)
{
    return g ? g->loop : NULL;
}

/* ---- the handle ---- */

static void free_guard(sip_guard_t *g)
{
    for (size_t i = 0; i < g->nbuckets; i++) {
        entry_t *e = g->buckets[i];
        while (e) {
            entry_t *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(g->buckets);
    free(g->allow);
    sip__live_dec(SIP_LIVE_GUARD);
    free(g);
}

static void timer_closed(uv_handle_t *h)
{
    sip_guard_t *g = h->data;
    g->timer_open = 0;
    sip__loop_closing_end(g->loop);
    if (g->refs == 0) free_guard(g);
}

static void guard_close(sip_guard_t *g)
{
    if (g->closed) return;
    g->closed = 1;
    sip__loop_remove_child(g->loop, &g->child);
    /* The blocks end with the guard: the gauge of blocked sources drops them. */
    if (g->nblocked) stat_add(g->loop, SIP_STAT_BLOCKED_SOURCES, -(int64_t)g->nblocked);
    g->nblocked = 0;
    if (g->timer_open) {
        uv_timer_stop(&g->timer);
        sip__loop_closing_begin(g->loop);
        uv_close((uv_handle_t *)&g->timer, timer_closed);
    }
}

static void child_close(sip__loop_child_t *c)
{
    guard_close((sip_guard_t *)c);
}

int sip_guard_create(sip_guard_t **out, sip_loop_t *loop, const sip_guard_opts_t *opts)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!loop) return SIP_EINVAL;
    sip_guard_opts_t o;
    if (opts)
        o = *opts;
    else
        sip_guard_opts_init(&o);
    if (!opts_valid(&o)) return SIP_EINVAL;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) return SIP_ECLOSED;
    sip_guard_t *g = calloc(1, sizeof(*g));
    if (!g) return SIP_ENOMEM;
    g->nbuckets = buckets_for(o.max_sources);
    g->buckets = calloc(g->nbuckets, sizeof(*g->buckets));
    if (!g->buckets) {
        free(g);
        return SIP_ENOMEM;
    }
    if (getrandom(g->key, sizeof(g->key), 0) != (ssize_t)sizeof(g->key)) {
        /* Without the kernel's randomness the chains are guessable, not wrong. */
        g->key[0] = (uint64_t)(uintptr_t)g ^ uv_hrtime();
        g->key[1] = (uint64_t)(uintptr_t)&o ^ (uv_hrtime() << 17);
    }
    sip__live_inc(SIP_LIVE_GUARD);
    g->refs = 1;
    g->opts = o;
    /* Like the loop's other children, the guard holds no reference to it (one would keep the
     * loop from closing on its last unref): it closes with the loop instead. */
    g->loop = loop;
    uv_timer_init(uv, &g->timer);
    g->timer.data = g;
    /* Blocks ending must not keep a loop running that has nothing else to do. */
    uv_unref((uv_handle_t *)&g->timer);
    g->timer_open = 1;
    g->child.close = child_close;
    sip__loop_add_child(loop, &g->child);
    *out = g;
    return 0;
}

sip_guard_t *sip_guard_ref(sip_guard_t *g)
{
    if (g) g->refs++;
    return g;
}

void sip_guard_unref(sip_guard_t *g)
{
    if (!g || --g->refs > 0) return;
    guard_close(g);
    if (!g->timer_open) free_guard(g);
}

int sip_guard_set_opts(sip_guard_t *g, const sip_guard_opts_t *opts)
{
    if (!g || !opts || !opts_valid(opts)) return SIP_EINVAL;
    g->opts = *opts;
    /* A smaller table: the least recently seen go first, blocked sources last. */
    while (g->nsources > g->opts.max_sources) {
        entry_t *e = g->lru.tail ? g->lru.tail : g->blocked.tail;
        remove_entry(g, e);
        free(e);
    }
    size_t nb = buckets_for(g->opts.max_sources);
    if (nb != g->nbuckets) rehash(g, nb);
    if (!g->closed) arm(g, now_of(g));
    return 0;
}

int sip_guard_allow(sip_guard_t *g, const char *cidr)
{
    sip__gnet_t net;
    if (!g || !cidr || sip__gnet_parse(cidr, strlen(cidr), &net)) return SIP_EINVAL;
    if (g->nallow == g->cap_allow) {
        size_t cap = g->cap_allow ? g->cap_allow * 2 : 4;
        sip__gnet_t *a = realloc(g->allow, cap * sizeof(*a));
        if (!a) return SIP_ENOMEM;
        g->allow = a;
        g->cap_allow = cap;
    }
    g->allow[g->nallow++] = net;
    return 0;
}

int sip_guard_check(sip_guard_t *g, const char *ip)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_parse(ip, &a)) return SIP_EINVAL;
    int rc = hit(g, &a, HIT_REQUEST);
    if (rc) stat_add(g->loop, SIP_STAT_BLOCKED, 1);
    return rc;
}

int sip_guard_auth_failed(sip_guard_t *g, const char *ip)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_parse(ip, &a)) return SIP_EINVAL;
    return hit(g, &a, HIT_AUTH);
}

int sip_guard_is_blocked(sip_guard_t *g, const char *ip)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_parse(ip, &a)) return SIP_EINVAL;
    return hit(g, &a, HIT_PEEK) == SIP_EBLOCKED;
}

int sip_guard_block(sip_guard_t *g, const char *ip, uint32_t ms)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_parse(ip, &a)) return SIP_EINVAL;
    if (g->closed || allowed(g, &a)) return 0;
    uint64_t now = now_of(g);
    entry_t *e = find(g, &a);
    if (!e) e = add_entry(g, &a, now);
    if (!e) return SIP_ENOMEM;
    if (!ms) ms = g->opts.rate_block_ms ? g->opts.rate_block_ms : 60000;
    block_entry(g, e, now, ms);
    log_block(g, e, now, ms, NULL, 0, 0);
    return 0;
}

int sip_guard_unblock(sip_guard_t *g, const char *ip)
{
    sip__gaddr_t a;
    if (!g || sip__gaddr_parse(ip, &a)) return SIP_EINVAL;
    entry_t *e = g->closed ? NULL : find(g, &a);
    if (!e) return SIP_ENOENT;
    remove_entry(g, e);
    free(e);
    arm(g, now_of(g));
    return 0;
}

size_t sip_guard_blocked_count(sip_guard_t *g)
{
    if (!g || g->closed) return 0;
    expire(g, now_of(g));
    return g->nblocked;
}
