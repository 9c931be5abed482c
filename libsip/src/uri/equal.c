/* SPDX-License-Identifier: MIT */
/* URI comparison: RFC 3261 §19.1.4 (sip/sips), RFC 3966 §4 (tel), RFC 3986 §6.2 (others). */
#include <stdint.h>
#include <string.h>

#include "sip/uri.h"
#include "uri_int.h"

typedef const unsigned char *cp;

/* Reads one octet of a view, decoding a %HH escape; *esc tells which form it had. A '%' that is
 * not a valid escape (only possible in a hand-made sip_uri_t) counts as a literal '%'. */
static inline unsigned next_octet(cp *pp, cp end, int *esc)
{
    cp p = *pp;
    if (*p == '%' && end - p >= 3 && (sip__uri_cls[p[1]] & URI_HEX) &&
        (sip__uri_cls[p[2]] & URI_HEX)) {
        *esc = 1;
        *pp = p + 3;
        return sip__uri_hexval(p[1]) << 4 | sip__uri_hexval(p[2]);
    }
    *esc = 0;
    *pp = p + 1;
    return *p;
}

/*
 * Compares two escaped views octet by octet after unescaping. An octet of class `reserved` only
 * matches when both sides wrote it the same way, escaped or not (RFC 3261 §19.1.4, RFC 3986
 * §6.2.2.2). icase folds ASCII case.
 */
static int esc_eq(sip_str_t a, sip_str_t b, int icase, unsigned reserved)
{
    if (a.len == 0 || b.len == 0) return a.len == b.len;
    if (a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0) return 1;
    cp p = (cp)a.ptr, pe = p + a.len, q = (cp)b.ptr, qe = q + b.len;
    while (p < pe && q < qe) {
        int ea, eb;
        unsigned ca = next_octet(&p, pe, &ea), cb = next_octet(&q, qe, &eb);
        if (ea != eb && (sip__uri_cls[ca] & reserved)) return 0;
        if (icase) {
            ca = sip__uri_lower((unsigned char)ca);
            cb = sip__uri_lower((unsigned char)cb);
        }
        if (ca != cb) return 0;
    }
    return p == pe && q == qe;
}

/* Splits the next "name[=value]" off a validated list. */
static int next_pair(sip_str_t *it, char sep, sip_str_t *name, sip_str_t *value)
{
    if (it->len == 0) return 0;
    const char *p = it->ptr, *end = p + it->len;
    while (p < end && *p == sep)
        p++;
    if (p == end) return 0;
    const char *ns = p;
    while (p < end && *p != '=' && *p != sep)
        p++;
    name->ptr = ns;
    name->len = (size_t)(p - ns);
    value->ptr = p;
    value->len = 0;
    if (p < end && *p == '=') {
        const char *vs = ++p;
        while (p < end && *p != sep)
            p++;
        value->ptr = vs;
        value->len = (size_t)(p - vs);
    }
    it->ptr = p;
    it->len = (size_t)(end - p);
    return 1;
}

/*
 * Parameter and header lists are compared name by name, which is quadratic. Identical lists
 * are equal at once; beyond LIST_MAX entries a list only equals an identical one, so a hostile
 * URI cannot make a comparison cost more than LIST_MAX squared name checks.
 */
#define LIST_MAX 256

static size_t count_pairs(sip_str_t list, char sep)
{
    size_t n = 0;
    for (size_t i = 0; i < list.len; i++)
        n += list.ptr[i] == sep;
    return list.len ? n + 1 : 0;
}

/* 1: byte-identical, 0: too long to compare further, -1: compare entry by entry. */
static int quick_lists(sip_str_t a, sip_str_t b, char sep)
{
    if (a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0)) return 1;
    if (count_pairs(a, sep) > LIST_MAX || count_pairs(b, sep) > LIST_MAX) return 0;
    return -1;
}

static int name_is(sip_str_t n, const char *lit, size_t len)
{
    sip_str_t l = {lit, len};
    return esc_eq(n, l, 1, URI_RES);
}

#define NAME_IS(n, lit) name_is((n), (lit), sizeof(lit) - 1)

/* Finds the first parameter named `name` (escape-aware, case-insensitive). */
static int find_param(sip_str_t list, char sep, sip_str_t name, sip_str_t *value)
{
    sip_str_t n, v;
    while (next_pair(&list, sep, &n, &v)) {
        if (esc_eq(n, name, 1, URI_RES)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

/* RFC 3261 §19.1.4: user, ttl, method, maddr and transport must appear in both URIs or in
 * neither; lr and every other parameter is compared only when both URIs carry it. */
static int must_match(sip_str_t n)
{
    if (n.len && memchr(n.ptr, '%', n.len))
        return NAME_IS(n, "ttl") || NAME_IS(n, "user") || NAME_IS(n, "maddr") ||
               NAME_IS(n, "method") || NAME_IS(n, "transport");
    switch (n.len) {
    case 3: return NAME_IS(n, "ttl");
    case 4: return NAME_IS(n, "user");
    case 5: return NAME_IS(n, "maddr");
    case 6: return NAME_IS(n, "method");
    case 9: return NAME_IS(n, "transport");
    default: return 0;
    }
}

/* Advances to the next parameter named `name`; returns 0 when there is none. */
static int next_named(sip_str_t *it, sip_str_t name, sip_str_t *value)
{
    sip_str_t n;
    while (next_pair(it, ';', &n, value))
        if (esc_eq(n, name, 1, URI_RES)) return 1;
    return 0;
}

static int tel_value_eq(sip_str_t name, sip_str_t a, sip_str_t b);

/* A parameter written more than once is compared occurrence by occurrence, in order, so the
 * comparison stays reflexive and symmetric. */
static int same_values(sip_str_t a, sip_str_t b, sip_str_t name, int tel)
{
    sip_str_t va, vb;
    for (;;) {
        int ha = next_named(&a, name, &va), hb = next_named(&b, name, &vb);
        if (!ha || !hb) return ha == hb;
        if (!(tel ? tel_value_eq(name, va, vb) : esc_eq(va, vb, 1, URI_RES))) return 0;
    }
}

/* Checks every parameter of a against b (the caller runs it both ways). */
static int params_one_way(sip_str_t a, sip_str_t b)
{
    sip_str_t n, v, bv, it = a;
    while (next_pair(&it, ';', &n, &v)) {
        if (find_param(b, ';', n, &bv)) {
            if (!same_values(a, b, n, 0)) return 0;
        } else if (must_match(n)) {
            return 0;
        }
    }
    return 1;
}

/* RFC 3261 §19.1.4: every header must be in both URIs with an equal value, in any order. Each
 * header of a is matched to a distinct one of b, so repeated headers count. Both lists have at
 * most LIST_MAX entries (quick_lists). */
static int headers_eq(sip_str_t a, sip_str_t b)
{
    sip_str_t n, v, bn, bvv, it;
    size_t na = 0, nb = 0;
    it = a;
    while (next_pair(&it, '&', &n, &v))
        na++;
    it = b;
    while (next_pair(&it, '&', &n, &v))
        nb++;
    if (na != nb) return 0;
    if (na == 0) return 1;

    uint64_t used[LIST_MAX / 64] = {0};
    while (next_pair(&a, '&', &n, &v)) {
        size_t j = 0;
        int found = 0;
        it = b;
        while (next_pair(&it, '&', &bn, &bvv) && j < LIST_MAX) {
            if (!(used[j / 64] >> (j % 64) & 1) && esc_eq(n, bn, 1, URI_RES) &&
                esc_eq(v, bvv, 1, URI_RES)) {
                used[j / 64] |= (uint64_t)1 << (j % 64);
                found = 1;
                break;
            }
            j++;
        }
        if (!found) return 0;
    }
    return 1;
}

/* Port presence cannot be read from the value (":0" is legal), so look at the text: the host
 * view is followed by ':' exactly when a port was written. */
static int has_port(const sip_uri_t *u)
{
    if (u->port) return 1;
    if (!u->host.ptr || !u->raw.ptr) return 0;
    const char *e = u->host.ptr + u->host.len;
    return e >= u->raw.ptr && e < u->raw.ptr + u->raw.len && *e == ':';
}

static int host_eq(const sip_uri_t *a, const sip_uri_t *b)
{
    if (a->host_type == SIP_HOST_IPV6 && b->host_type == SIP_HOST_IPV6 && a->host.len >= 2 &&
        b->host.len >= 2) {
        /* Compare the addresses, so "[2001:DB8::1]" equals "[2001:db8:0::1]". */
        uint8_t x[16], y[16];
        if (sip__uri_ipv6((cp)a->host.ptr + 1, a->host.len - 2, x) == 0 &&
            sip__uri_ipv6((cp)b->host.ptr + 1, b->host.len - 2, y) == 0)
            return memcmp(x, y, 16) == 0;
    }
    return sip_str_caseeq(a->host, b->host);
}

static int sip_eq(const sip_uri_t *a, const sip_uri_t *b)
{
    /* User and password are case-sensitive; everything else is not. */
    if (!esc_eq(a->user, b->user, 0, URI_RES)) return 0;
    if (!esc_eq(a->password, b->password, 0, URI_RES)) return 0;
    if (!host_eq(a, b)) return 0;
    /* An absent port is not 5060: the URI may resolve through DNS SRV to another port. */
    if (has_port(a) != has_port(b) || a->port != b->port) return 0;
    int q = quick_lists(a->params, b->params, ';');
    if (q == 0) return 0;
    if (q < 0 && (!params_one_way(a->params, b->params) || !params_one_way(b->params, a->params)))
        return 0;
    q = quick_lists(a->headers, b->headers, '&');
    return q < 0 ? headers_eq(a->headers, b->headers) : q;
}

/* Compares phone digits ignoring visual separators (RFC 3966 §4), hex digits case-insensitive. */
static int tel_digits_eq(sip_str_t a, sip_str_t b)
{
    cp p = (cp)a.ptr, pe = p + a.len, q = (cp)b.ptr, qe = q + b.len;
    for (;;) {
        while (p < pe && (sip__uri_cls[*p] & URI_TELVIS))
            p++;
        while (q < qe && (sip__uri_cls[*q] & URI_TELVIS))
            q++;
        if (p == pe || q == qe) return p == pe && q == qe;
        if (sip__uri_lower(*p++) != sip__uri_lower(*q++)) return 0;
    }
}

static int tel_value_eq(sip_str_t name, sip_str_t a, sip_str_t b)
{
    /* RFC 3966 §4: a phone-context that is a global number is compared digit by digit; the
     * extension is phonedigits too. Other values (domain names) compare case-insensitively. */
    if ((NAME_IS(name, "phone-context") && a.len && b.len && a.ptr[0] == '+' && b.ptr[0] == '+') ||
        NAME_IS(name, "ext"))
        return tel_digits_eq(a, b);
    return esc_eq(a, b, 1, URI_RES);
}

/* RFC 3966 §4: a parameter name found in only one URI makes them differ. */
static int tel_params_one_way(sip_str_t a, sip_str_t b)
{
    sip_str_t n, v, bv, it = a;
    while (next_pair(&it, ';', &n, &v))
        if (!find_param(b, ';', n, &bv) || !same_values(a, b, n, 1)) return 0;
    return 1;
}

static int tel_eq(const sip_uri_t *a, const sip_uri_t *b)
{
    int ga = a->user.len && a->user.ptr[0] == '+', gb = b->user.len && b->user.ptr[0] == '+';
    if (ga != gb) return 0;
    if (!a->user.len || !b->user.len) {
        if (a->user.len != b->user.len) return 0;
    } else if (!tel_digits_eq(a->user, b->user)) {
        return 0;
    }
    int q = quick_lists(a->params, b->params, ';');
    if (q >= 0) return q;
    return tel_params_one_way(a->params, b->params) && tel_params_one_way(b->params, a->params);
}

int sip_uri_equal(const sip_uri_t *a, const sip_uri_t *b)
{
    if (!a || !b) return 0;
    /* sip and sips never match each other (RFC 3261 §19.1.4). */
    if (a->scheme != b->scheme) return 0;
    switch (a->scheme) {
    case SIP_URI_SIP:
    case SIP_URI_SIPS: return sip_eq(a, b);
    case SIP_URI_TEL: return tel_eq(a, b);
    default:
        /* RFC 3986 §6.2.2: scheme case-insensitive; the rest compared after decoding the
         * escapes of unreserved octets (an escaped delimiter stays different). */
        return sip_str_caseeq(a->scheme_str, b->scheme_str) &&
               esc_eq(a->opaque, b->opaque, 0, URI_RES3986);
    }
}
