/* SPDX-License-Identifier: MIT */
/* Addresses and networks of the guard: parsing, matching, printing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "guard/guard_int.h"
#include "sip/error.h"

/* RFC 4291 §2.5.5.2: ::ffff:a.b.c.d */
static void map_v4(const uint8_t v4[4], sip__gaddr_t *out)
{
    memset(out->b, 0, 10);
    out->b[10] = out->b[11] = 0xff;
    memcpy(out->b + 12, v4, 4);
}

static int is_mapped(const sip__gaddr_t *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, prefix, 12) == 0;
}

/* Parses len bytes of s as an address; *v4 tells which family it was. */
static int parse_n(const char *s, size_t len, sip__gaddr_t *out, int *v4)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf)) return SIP_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) return SIP_EINVAL;
    uint8_t raw[16];
    if (inet_pton(AF_INET, buf, raw) == 1) {
        map_v4(raw, out);
        *v4 = 1;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, raw) == 1) {
        memcpy(out->b, raw, 16);
        *v4 = 0;
        return 0;
    }
    return SIP_EINVAL;
}

int sip__gaddr_parse(const char *s, sip__gaddr_t *out)
{
    int v4;
    if (!s || !out) return SIP_EINVAL;
    return parse_n(s, strlen(s), out, &v4);
}

int sip__gnet_parse(const char *s, size_t len, sip__gnet_t *out)
{
    if (!s || !out) return SIP_EINVAL;
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    int v4;
    if (parse_n(s, alen, &out->addr, &v4)) return SIP_EINVAL;
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        /* Digits only, no sign, no leading zero but "0" itself: "/08" is not a prefix. */
        if (p == end || end - p > 3 || (*p == '0' && end - p > 1)) return SIP_EINVAL;
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') return SIP_EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max) return SIP_EINVAL;
    }
    out->bits = v4 ? 96 + bits : bits;
    /* Host bits below the prefix mean the writer meant something else. */
    for (unsigned i = out->bits; i < 128; i++)
        if (out->addr.b[i / 8] & (0x80u >> (i % 8))) return SIP_EINVAL;
    return 0;
}

int sip__gnet_contains(const sip__gnet_t *net, const sip__gaddr_t *addr)
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr.b, addr->b, full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (net->addr.b[full] & mask) == (addr->b[full] & mask);
}

int sip__gaddr_from_sa(const struct sockaddr *sa, sip__gaddr_t *out)
{
    if (!sa) return SIP_EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        map_v4((const uint8_t *)&in->sin_addr, out);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out->b, &in6->sin6_addr, 16);
        return 0;
    }
    return SIP_EINVAL;
}

const char *sip__gaddr_str(const sip__gaddr_t *a, char *buf, size_t size)
{
    if (!inet_ntop(is_mapped(a) ? AF_INET : AF_INET6, is_mapped(a) ? a->b + 12 : a->b, buf,
                   (socklen_t)size))
        snprintf(buf, size, "?");
    return buf;
}
