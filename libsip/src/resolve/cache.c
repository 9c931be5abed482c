/* SPDX-License-Identifier: MIT */
/* The resolver's answer cache: raw DNS responses by (name, type), LRU-bounded, TTL-expiring. */
#include <stdlib.h>
#include <string.h>

#include "resolve/resolve_int.h"

struct sip__rcache_entry {
    sip__rcache_entry_t *hnext;       /* bucket chain */
    sip__rcache_entry_t *prev, *next; /* LRU list */
    uint64_t expires;
    uint16_t type;
    int status;
    size_t len;
    unsigned char *buf;
    char name[]; /* lower-case: DNS names compare without case (RFC 4343) */
};

static size_t hash_key(const char *name, uint16_t type)
{
    /* FNV-1a over the lower-case name and the type. */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    h ^= type;
    h *= 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    dst[n] = '\0';
}

int sip__rcache_init(sip__rcache_t *c, size_t max)
{
    memset(c, 0, sizeof(*c));
    c->max = max;
    if (max == 0) return 0;
    /* About two entries per bucket when full. */
    size_t n = 16;
    while (n < max / 2 && n < 65536)
        n <<= 1;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (!c->buckets) return SIP_ENOMEM;
    c->nbuckets = n;
    return 0;
}

static void lru_unlink(sip__rcache_t *c, sip__rcache_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(sip__rcache_t *c, sip__rcache_entry_t *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head) c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail) c->lru_tail = e;
}

static void entry_remove(sip__rcache_t *c, sip__rcache_entry_t *e)
{
    sip__rcache_entry_t **pp = &c->buckets[hash_key(e->name, e->type) & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    free(e->buf);
    free(e);
}

void sip__rcache_flush(sip__rcache_t *c)
{
    while (c->lru_head)
        entry_remove(c, c->lru_head);
}

void sip__rcache_free(sip__rcache_t *c)
{
    if (c->buckets) sip__rcache_flush(c);
    free(c->buckets);
    memset(c, 0, sizeof(*c));
}

static sip__rcache_entry_t *find(sip__rcache_t *c, const char *key, uint16_t type)
{
    sip__rcache_entry_t *e = c->buckets[hash_key(key, type) & (c->nbuckets - 1)];
    for (; e; e = e->hnext)
        if (e->type == type && strcmp(e->name, key) == 0) return e;
    return NULL;
}

int sip__rcache_lookup(sip__rcache_t *c, const char *name, uint16_t type, uint64_t now,
                       sip__rcache_hit_t *hit)
{
    char key[SIP__DNS_NAME_MAX + 1];
    size_t n = strlen(name);
    if (!c->buckets || n > SIP__DNS_NAME_MAX) return 0;
    lower_copy(key, name, n);
    sip__rcache_entry_t *e = find(c, key, type);
    if (!e) return 0;
    if (now >= e->expires) {
        entry_remove(c, e);
        return 0;
    }
    lru_unlink(c, e);
    lru_push_front(c, e);
    hit->status = e->status;
    hit->buf = e->buf;
    hit->len = e->len;
    return 1;
}

int sip__rcache_store(sip__rcache_t *c, const char *name, uint16_t type, int status,
                      const unsigned char *buf, size_t len, uint64_t now, uint64_t ttl_ms)
{
    size_t n = strlen(name);
    if (!c->buckets || n > SIP__DNS_NAME_MAX || ttl_ms == 0) return 0;
    sip__rcache_entry_t *e = malloc(sizeof(*e) + n + 1);
    if (!e) return SIP_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->buf = NULL;
    if (len) {
        e->buf = malloc(len);
        if (!e->buf) {
            free(e);
            return SIP_ENOMEM;
        }
        memcpy(e->buf, buf, len);
    }
    lower_copy(e->name, name, n);
    e->type = type;
    e->status = status;
    e->len = len;
    e->expires = now + ttl_ms;
    sip__rcache_entry_t *old = find(c, e->name, type);
    if (old) entry_remove(c, old);
    /* Expired entries go first, then the least recently used. */
    while (c->count >= c->max && c->lru_tail) {
        sip__rcache_entry_t *victim = c->lru_tail;
        for (sip__rcache_entry_t *x = c->lru_tail; x; x = x->prev) {
            if (now >= x->expires) {
                victim = x;
                break;
            }
        }
        entry_remove(c, victim);
    }
    size_t b = hash_key(e->name, type) & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    c->count++;
    return 0;
}
