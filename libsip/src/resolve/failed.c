/* SPDX-License-Identifier: MIT */
/* Targets that failed: listed after the others for a while, so that requests go to a server
 * that works before one that did not (RFC 3263 §4.3 fails over per request; this carries it over
 * to the next requests). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve/resolve_int.h"
#include "transport/addr.h"

/* The key of a target; -1 when its address does not parse. */
static int make_key(const sip_netinfo_t *t, sip__rfailed_t *k)
{
    memset(k, 0, sizeof(*k));
    const char *ip = t->remote_ip;
    char buf[sizeof(t->remote_ip)];
    size_t n = strnlen(ip, sizeof(t->remote_ip));
    if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
        memcpy(buf, ip + 1, n - 2);
        buf[n - 2] = '\0';
        ip = buf;
    }
    if (inet_pton(AF_INET, ip, k->addr) == 1)
        k->family = 4;
    else if (inet_pton(AF_INET6, ip, k->addr) == 1)
        k->family = 6;
    else
        return -1;
    k->transport = (uint8_t)t->transport;
    k->port = t->remote_port;
    return 0;
}

static int same(const sip__rfailed_t *a, const sip__rfailed_t *b)
{
    return a->transport == b->transport && a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Drops the entries whose time is over. */
static void purge(sip_resolver_t *r, uint64_t now)
{
    for (size_t i = 0; i < r->nfailed;) {
        if (r->failed[i].until <= now)
            r->failed[i] = r->failed[--r->nfailed];
        else
            i++;
    }
}

static sip__rfailed_t *find(sip_resolver_t *r, const sip__rfailed_t *k)
{
    for (size_t i = 0; i < r->nfailed; i++)
        if (same(&r->failed[i], k)) return &r->failed[i];
    return NULL;
}

int sip_resolver_mark_failed(sip_resolver_t *r, const sip_netinfo_t *target, uint32_t ms)
{
    if (!r || !target) return SIP_EINVAL;
    if (r->closed) return SIP_ECLOSED;
    sip__rfailed_t k;
    if (make_key(target, &k) != 0) return SIP_EINVAL;
    if (!ms) ms = r->opts.failed_ms;
    if (!ms) return 0;
    uint64_t now = sip__resolver_now(r);
    purge(r, now);
    k.until = now + ms;
    sip__rfailed_t *e = find(r, &k);
    if (!e) {
        if (r->nfailed == SIP__RFAILED_MAX) {
            /* Full: the entry that would end soonest makes room. */
            size_t v = 0;
            for (size_t i = 1; i < r->nfailed; i++)
                if (r->failed[i].until < r->failed[v].until) v = i;
            e = &r->failed[v];
        } else {
            if (r->nfailed == r->failed_cap) {
                size_t cap = r->failed_cap ? r->failed_cap * 2 : 8;
                sip__rfailed_t *p = realloc(r->failed, cap * sizeof(*p));
                if (!p) return SIP_ENOMEM;
                r->failed = p;
                r->failed_cap = cap;
            }
            e = &r->failed[r->nfailed++];
        }
    }
    *e = k;
    char s[SIP__ADDR_STRLEN];
    sip_log(r->loop, SIP_LOG_INFO, "resolve", "target %s failed: listed last for %u ms",
            sip__addr_str(s, target->transport, target->remote_ip, target->remote_port),
            (unsigned)ms);
    return 0;
}

int sip_resolver_mark_ok(sip_resolver_t *r, const sip_netinfo_t *target)
{
    if (!r || !target) return SIP_EINVAL;
    sip__rfailed_t k;
    if (make_key(target, &k) != 0) return SIP_EINVAL;
    if (!r->nfailed) return SIP_ENOENT;
    purge(r, sip__resolver_now(r));
    sip__rfailed_t *e = find(r, &k);
    if (!e) return SIP_ENOENT;
    *e = r->failed[--r->nfailed];
    char s[SIP__ADDR_STRLEN];
    sip_log(r->loop, SIP_LOG_INFO, "resolve", "target %s answers again",
            sip__addr_str(s, target->transport, target->remote_ip, target->remote_port));
    return 0;
}

uint32_t sip_resolver_get_failed_ms(sip_resolver_t *r, const sip_netinfo_t *target)
{
    sip__rfailed_t k;
    if (!r || !target || r->closed || !r->nfailed || make_key(target, &k) != 0) return 0;
    uint64_t now = sip__resolver_now(r);
    purge(r, now);
    sip__rfailed_t *e = find(r, &k);
    return e ? (uint32_t)(e->until - now) : 0;
}

void sip__rfailed_order(sip_resolver_t *r, sip_netinfo_t *targets, size_t count)
{
    if (!r->nfailed || count < 2) return;
    uint64_t now = sip__resolver_now(r);
    purge(r, now);
    if (!r->nfailed) return;
    /* A stable partition in place: each working target moves up past the failed ones before
     * it; the lists are short. */
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        sip__rfailed_t k;
        if (make_key(&targets[i], &k) == 0 && find(r, &k)) continue;
        if (i != w) {
            sip_netinfo_t tmp = targets[i];
            memmove(&targets[w + 1], &targets[w], (i - w) * sizeof(*targets));
            targets[w] = tmp;
        }
        w++;
    }
}
