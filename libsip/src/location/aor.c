/* SPDX-License-Identifier: MIT */
/* AOR keys (RFC 3261 §10.3 step 5), local domains with their aliases, and alias AORs. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "location/location_int.h"
#include "sip/error.h"

uint64_t sip__loc_hash(const char *s, size_t n)
{
    /* FNV-1a, then a final mix so that the low bits a bucket mask keeps depend on every byte. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* ---- small string maps -------------------------------------------------------------------- */

const sip__loc_ment_t *sip__loc_map_get(const sip__loc_map_t *m, const char *key, size_t len)
{
    if (!m->b) return NULL;
    uint64_t h = sip__loc_hash(key, len);
    for (const sip__loc_ment_t *e = m->b[h & m->mask]; e; e = e->next)
        if (e->hash == h && e->len == len && !memcmp(e->key, key, len)) return e;
    return NULL;
}

static int map_grow(sip__loc_map_t *m)
{
    size_t cap = m->b ? (m->mask + 1) * 2 : 16;
    sip__loc_ment_t **b = calloc(cap, sizeof(*b));
    if (!b) return SIP_ENOMEM;
    for (size_t i = 0; m->b && i <= m->mask; i++) {
        sip__loc_ment_t *e = m->b[i];
        while (e) {
            sip__loc_ment_t *next = e->next;
            e->next = b[e->hash & (cap - 1)];
            b[e->hash & (cap - 1)] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->mask = cap - 1;
    return 0;
}

int sip__loc_map_add(sip__loc_map_t *m, const char *key, size_t len, const char *val)
{
    if (sip__loc_map_get(m, key, len)) return SIP_EEXIST;
    if ((!m->b || m->n >= m->mask + 1) && map_grow(m) < 0) return SIP_ENOMEM;
    size_t vlen = val ? strlen(val) : 0;
    sip__loc_ment_t *e = malloc(sizeof(*e) + len + 1 + vlen + 1);
    if (!e) return SIP_ENOMEM;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    e->val = NULL;
    if (val) {
        e->val = e->key + len + 1;
        memcpy(e->val, val, vlen + 1);
    }
    e->hash = sip__loc_hash(key, len);
    e->next = m->b[e->hash & m->mask];
    m->b[e->hash & m->mask] = e;
    m->n++;
    return 0;
}

int sip__loc_map_del(sip__loc_map_t *m, const char *key, size_t len)
{
    if (!m->b) return SIP_ENOENT;
    uint64_t h = sip__loc_hash(key, len);
    for (sip__loc_ment_t **p = &m->b[h & m->mask]; *p; p = &(*p)->next) {
        sip__loc_ment_t *e = *p;
        if (e->hash == h && e->len == len && !memcmp(e->key, key, len)) {
            *p = e->next;
            free(e);
            m->n--;
            return 0;
        }
    }
    return SIP_ENOENT;
}

void sip__loc_map_free(sip__loc_map_t *m)
{
    for (size_t i = 0; m->b && i <= m->mask; i++) {
        sip__loc_ment_t *e = m->b[i];
        while (e) {
            sip__loc_ment_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ---- domains ------------------------------------------------------------------------------ */

/* Domains compare without case (RFC 3261 §19.1.4): the maps keep them in lower case. */
static int lower(const char *s, size_t len, char *buf, size_t size)
{
    if (len >= size) return SIP_ENOSPC;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[len] = '\0';
    return (int)len;
}

int sip_location_add_domain(sip_location_t *loc, const char *domain, const char *canonical)
{
    char d[256], c[256];
    if (!loc || !domain || !*domain) return SIP_EINVAL;
    if (loc->closed) return SIP_ECLOSED;
    int n = lower(domain, strlen(domain), d, sizeof(d));
    if (n < 0) return SIP_EINVAL;
    if (canonical) {
        int k = lower(canonical, strlen(canonical), c, sizeof(c));
        if (k <= 0) return SIP_EINVAL;
        const sip__loc_ment_t *e = sip__loc_map_get(&loc->domains, c, (size_t)k);
        /* An alias of an alias names the canonical domain underneath. */
        if (!e) return SIP_EINVAL;
        if (e->val) memcpy(c, e->val, strlen(e->val) + 1);
        if (!strcmp(c, d)) canonical = NULL;
    }
    return sip__loc_map_add(&loc->domains, d, (size_t)n, canonical ? c : NULL);
}

int sip_location_is_local(const sip_location_t *loc, const char *host, size_t len)
{
    char h[256];
    if (!loc || !host) return 0;
    /* With no domain configured every domain is taken as ours (sip_location_domain_count()). */
    if (!loc->domains.n) return 1;
    int n = lower(host, len, h, sizeof(h));
    return n >= 0 && sip__loc_map_get(&loc->domains, h, (size_t)n) != NULL;
}

size_t sip_location_domain_count(const sip_location_t *loc)
{
    return loc ? loc->domains.n : 0;
}

/* ---- keys --------------------------------------------------------------------------------- */

/* Characters a user part carries unescaped (RFC 3261 §25.1: unreserved / user-unreserved). */
static int user_plain(unsigned char c)
{
    /* c != 0: strchr() finds the terminator, and an unescaped NUL would cut the key short. */
    return isalnum(c) || (c && strchr("-_.!~*'()&=+$,;?/", c));
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int sip__loc_key(const sip_location_t *loc, const sip_uri_t *uri, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    char host[256];
    size_t k = 0;

    if (uri->scheme != SIP_URI_SIP && uri->scheme != SIP_URI_SIPS) return SIP_EURI;
    if (!uri->user.len || !uri->host.len) return SIP_EURI;
        /* RFC 3261 §10.3 step 5: one key for every spelling of the AOR. Escapes of characters a
         * user part may carry plain are undone, the others written in upper-case hex (§19.1.4
         * compares the user part after unescaping), so equal URIs give equal keys. */
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (k + 1 >= size) return SIP_ENOSPC;                                                      \
        buf[k++] = (c);                                                                            \
    } while (0)
    PUT('s');
    PUT('i');
    PUT('p');
    PUT(':');
    for (size_t i = 0; i < uri->user.len; i++) {
        unsigned char c = (unsigned char)uri->user.ptr[i];
        if (c == '%') {
            int a, b;
            if (i + 2 >= uri->user.len) return SIP_EURI;
            if ((a = hexval(uri->user.ptr[i + 1])) < 0 || (b = hexval(uri->user.ptr[i + 2])) < 0)
                return SIP_EURI;
            c = (unsigned char)(a << 4 | b);
            i += 2;
            if (!user_plain(c)) {
                PUT('%');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
                continue;
            }
        }
        PUT((char)c);
    }
    PUT('@');
    int n = lower(uri->host.ptr, uri->host.len, host, sizeof(host));
    if (n < 0) return SIP_EURI;
    const sip__loc_ment_t *d = loc ? sip__loc_map_get(&loc->domains, host, (size_t)n) : NULL;
    const char *h = d && d->val ? d->val : host;
    for (; *h; h++)
        PUT(*h);
    /* A port names a host, not a user: for one of our domains it is dropped, elsewhere only
     * the scheme's default is (sips is keyed as sip, so 5061 is its default too). */
    unsigned port = uri->port;
    if (!d && port && port != 5060 && !(uri->scheme == SIP_URI_SIPS && port == 5061)) {
        char p[8];
        int pl = snprintf(p, sizeof(p), ":%u", port);
        for (int i = 0; i < pl; i++)
            PUT(p[i]);
    }
#undef PUT
    buf[k] = '\0';
    return (int)k;
}

int sip_location_aor(const sip_location_t *loc, const sip_uri_t *uri, char *buf, size_t size)
{
    if (!loc || !uri || !buf || !size) return SIP_EINVAL;
    return sip__loc_key(loc, uri, buf, size);
}

int sip__loc_key_str(const sip_location_t *loc, const char *s, int follow, char *buf, size_t size)
{
    sip_uri_t uri;
    if (sip_uri_parse(&uri, s, strlen(s)) < 0) return SIP_EURI;
    int n = sip__loc_key(loc, &uri, buf, size);
    if (n < 0 || !follow || !loc->aliases.n) return n;
    const sip__loc_ment_t *a = sip__loc_map_get(&loc->aliases, buf, (size_t)n);
    if (!a) return n;
    size_t len = strlen(a->val);
    if (len >= size) return SIP_ENOSPC;
    memcpy(buf, a->val, len + 1);
    return (int)len;
}

/* ---- alias AORs --------------------------------------------------------------------------- */

int sip_location_add_alias(sip_location_t *loc, const char *alias, const char *aor)
{
    char a[512], t[512];
    if (!loc || !alias || !aor) return SIP_EINVAL;
    if (loc->closed) return SIP_ECLOSED;
    int n = sip__loc_key_str(loc, alias, 0, a, sizeof(a));
    if (n < 0) return n == SIP_ENOSPC ? SIP_EINVAL : n;
    int m = sip__loc_key_str(loc, aor, 0, t, sizeof(t));
    if (m < 0) return m == SIP_ENOSPC ? SIP_EINVAL : m;
    if (n == m && !memcmp(a, t, (size_t)n)) return SIP_EINVAL;
    return sip__loc_map_add(&loc->aliases, a, (size_t)n, t);
}

int sip_location_remove_alias(sip_location_t *loc, const char *alias)
{
    char a[512];
    if (!loc || !alias) return SIP_EINVAL;
    int n = sip__loc_key_str(loc, alias, 0, a, sizeof(a));
    if (n < 0) return SIP_ENOENT;
    return sip__loc_map_del(&loc->aliases, a, (size_t)n);
}
