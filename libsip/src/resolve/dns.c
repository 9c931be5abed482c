/* SPDX-License-Identifier: MIT */
/* DNS response parsing: the records of one type, their TTLs, and the negative-caching TTL. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "resolve/resolve_int.h"

/* RFC 1035 §4.1.1: the fixed header is 12 octets. */
#define DNS_HEADER_LEN 12
#define DNS_CLASS_IN 1

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Steps over a (possibly compressed, RFC 1035 §4.1.4) name starting at *off. */
static int skip_name(const unsigned char *buf, size_t len, size_t *off)
{
    size_t p = *off;
    for (;;) {
        if (p >= len) return SIP_EPARSE;
        unsigned char l = buf[p];
        if (l == 0) {
            *off = p + 1;
            return 0;
        }
        if ((l & 0xC0) == 0xC0) {
            /* A pointer ends the name where it stands. */
            if (p + 2 > len) return SIP_EPARSE;
            *off = p + 2;
            return 0;
        }
        if (l & 0xC0) return SIP_EPARSE; /* extended label types are not used */
        p += 1u + l;
    }
}

/* Expands the name at ptr (a position inside buf) into out. ares_expand_name() follows
 * compression pointers with bounds and loop checks. */
static int read_name(const unsigned char *ptr, const unsigned char *buf, size_t len, char *out,
                     size_t size)
{
    char *s = NULL;
    long enc = 0;
    if (ares_expand_name(ptr, buf, (int)len, &s, &enc) != ARES_SUCCESS) return SIP_EPARSE;
    size_t n = strlen(s);
    int rc = 0;
    if (n >= size) {
        rc = SIP_ERANGE;
    } else {
        memcpy(out, s, n + 1);
    }
    ares_free_string(s);
    return rc;
}

/* Reads a <character-string> (RFC 1035 §3.3) at *off within [.., end). */
static int read_cstring(const unsigned char *buf, size_t end, size_t *off, char *out, size_t size,
                        size_t *outlen)
{
    if (*off >= end) return SIP_EPARSE;
    size_t n = buf[*off];
    if (*off + 1 + n > end) return SIP_EPARSE;
    if (out) {
        if (n >= size) return SIP_ERANGE;
        memcpy(out, buf + *off + 1, n);
        out[n] = '\0';
    }
    if (outlen) *outlen = n;
    *off += 1 + n;
    return 0;
}

/* Decodes one record's RDATA; returns 0 when rr was filled, 1 to skip it, <0 on bad input. */
static int decode_rdata(const unsigned char *buf, size_t len, size_t rd, size_t rdlen,
                        uint16_t type, sip__dns_rr_t *rr)
{
    size_t end = rd + rdlen;
    switch (type) {
    case SIP__DNS_A:
        if (rdlen != 4) return 1;
        inet_ntop(AF_INET, buf + rd, rr->u.ip, sizeof(rr->u.ip));
        return 0;
    case SIP__DNS_AAAA:
        if (rdlen != 16) return 1;
        inet_ntop(AF_INET6, buf + rd, rr->u.ip, sizeof(rr->u.ip));
        return 0;
    case SIP__DNS_SRV:
        /* RFC 2782: priority, weight, port, target. */
        if (rdlen < 7) return 1;
        rr->u.srv.priority = rd16(buf + rd);
        rr->u.srv.weight = rd16(buf + rd + 2);
        rr->u.srv.port = rd16(buf + rd + 4);
        if (read_name(buf + rd + 6, buf, len, rr->u.srv.target, sizeof(rr->u.srv.target)) != 0)
            return 1;
        return 0;
    case SIP__DNS_NAPTR: {
        /* RFC 3403 §4.1: order, preference, flags, services, regexp, replacement. */
        if (rdlen < 7) return 1;
        size_t off = rd + 4, relen = 0;
        rr->u.naptr.order = rd16(buf + rd);
        rr->u.naptr.preference = rd16(buf + rd + 2);
        if (read_cstring(buf, end, &off, rr->u.naptr.flags, sizeof(rr->u.naptr.flags), NULL) ||
            read_cstring(buf, end, &off, rr->u.naptr.service, sizeof(rr->u.naptr.service), NULL) ||
            read_cstring(buf, end, &off, NULL, 0, &relen) || off >= end)
            return 1;
        rr->u.naptr.has_regexp = relen > 0;
        if (read_name(buf + off, buf, len, rr->u.naptr.replacement,
                      sizeof(rr->u.naptr.replacement)) != 0)
            return 1;
        return 0;
    }
    default: return 1;
    }
}

int sip__dns_parse(const unsigned char *buf, size_t len, uint16_t qtype, sip__dns_answer_t *ans)
{
    memset(ans, 0, sizeof(*ans));
    ans->min_ttl = UINT32_MAX;
    ans->neg_ttl = UINT32_MAX;
    if (!buf || len < DNS_HEADER_LEN) return SIP_EPARSE;
    unsigned qd = rd16(buf + 4), an = rd16(buf + 6), ns = rd16(buf + 8);
    size_t off = DNS_HEADER_LEN;
    for (unsigned i = 0; i < qd; i++) {
        if (skip_name(buf, len, &off) != 0 || off + 4 > len) return SIP_EPARSE;
        off += 4;
    }
    /* At most one record per 11 octets (empty name + fixed fields): bounds the allocation. */
    size_t cap = an < (len / 11) ? an : (len / 11);
    if (cap) {
        ans->rr = calloc(cap, sizeof(*ans->rr));
        if (!ans->rr) return SIP_ENOMEM;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        if (skip_name(buf, len, &off) != 0 || off + 10 > len) goto bad;
        uint16_t type = rd16(buf + off), cls = rd16(buf + off + 2);
        uint32_t ttl = rd32(buf + off + 4);
        size_t rdlen = rd16(buf + off + 8);
        size_t rd = off + 10;
        if (rd + rdlen > len) goto bad;
        off = rd + rdlen;
        /* RFC 2181 §8: a TTL with the top bit set is read as zero. */
        if (ttl > 0x7FFFFFFFu) ttl = 0;
        if (cls != DNS_CLASS_IN) continue;
        if (i < an) {
            if (ttl < ans->min_ttl) ans->min_ttl = ttl;
            if (type != qtype || ans->count >= cap) continue;
            sip__dns_rr_t *rr = &ans->rr[ans->count];
            memset(rr, 0, sizeof(*rr));
            rr->type = type;
            rr->ttl = ttl;
            int rc = decode_rdata(buf, len, rd, rdlen, type, rr);
            if (rc < 0) goto bad;
            if (rc == 0) ans->count++;
        } else if (type == SIP__DNS_SOA) {
            /* RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM). MINIMUM is the
             * last of the seven fields, after two names. */
            size_t p = rd;
            if (skip_name(buf, len, &p) != 0 || skip_name(buf, len, &p) != 0 || p + 20 > rd + rdlen)
                continue;
            uint32_t minimum = rd32(buf + p + 16);
            uint32_t neg = ttl < minimum ? ttl : minimum;
            if (neg < ans->neg_ttl) ans->neg_ttl = neg;
        }
    }
    return 0;
bad:
    sip__dns_answer_free(ans);
    return SIP_EPARSE;
}

void sip__dns_answer_free(sip__dns_answer_t *ans)
{
    free(ans->rr);
    ans->rr = NULL;
    ans->count = 0;
}

const char *sip__dns_type_name(uint16_t type)
{
    switch (type) {
    case SIP__DNS_A: return "A";
    case SIP__DNS_AAAA: return "AAAA";
    case SIP__DNS_SRV: return "SRV";
    case SIP__DNS_NAPTR: return "NAPTR";
    case SIP__DNS_SOA: return "SOA";
    case SIP__DNS_CNAME: return "CNAME";
    default: return "?";
    }
}
