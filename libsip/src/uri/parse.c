/* SPDX-License-Identifier: MIT */
/* URI parser: sip/sips (RFC 3261 §19.1, §25.1), tel (RFC 3966) and other schemes (RFC 3986). */
#include <stdint.h>
#include <string.h>

#include "sip/uri.h"
#include "uri_int.h"

/*
 * The character class table is computed at compile time from the predicates below, so the sets
 * can be checked against the ABNF by reading them, and the parser pays one load per octet.
 */
#define C_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define C_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define C_ALNUM(c) (C_ALPHA(c) || C_DIGIT(c))
#define C_HEX(c) (C_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
/* RFC 3261: mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
#define C_MARK(c)                                                                                  \
    ((c) == '-' || (c) == '_' || (c) == '.' || (c) == '!' || (c) == '~' || (c) == '*' ||           \
     (c) == '\'' || (c) == '(' || (c) == ')')
#define C_UNRES(c) (C_ALNUM(c) || C_MARK(c))
/* user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/". '#' is added because the
 * telephone-subscriber alternative of userinfo (RFC 2806, RFC 3966 phonedigit-hex) writes DTMF
 * digits such as "*21#" and deployed user agents send them unescaped. */
#define C_USER(c)                                                                                  \
    (C_UNRES(c) || (c) == '&' || (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',' ||           \
     (c) == ';' || (c) == '?' || (c) == '/' || (c) == '#')
#define C_PASS(c) (C_UNRES(c) || (c) == '&' || (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',')
/* param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$" */
#define C_PARAM(c)                                                                                 \
    (C_UNRES(c) || (c) == '[' || (c) == ']' || (c) == '/' || (c) == ':' || (c) == '&' ||           \
     (c) == '+' || (c) == '$')
/* hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$" */
#define C_HDR(c)                                                                                   \
    (C_UNRES(c) || (c) == '[' || (c) == ']' || (c) == '/' || (c) == '?' || (c) == ':' ||           \
     (c) == '+' || (c) == '$')
#define C_SCHEME(c) (C_ALNUM(c) || (c) == '+' || (c) == '-' || (c) == '.')
#define C_GENDELIM(c)                                                                              \
    ((c) == ':' || (c) == '/' || (c) == '?' || (c) == '#' || (c) == '[' || (c) == ']' || (c) == '@')
#define C_SUBDELIM(c)                                                                              \
    ((c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' ||          \
     (c) == '*' || (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=')
#define C_UNRES3986(c) (C_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~')
#define C_OPAQUE(c) (C_UNRES3986(c) || C_GENDELIM(c) || C_SUBDELIM(c))
#define C_TELVIS(c) ((c) == '-' || (c) == '.' || (c) == '(' || (c) == ')')
#define C_TELNUM(c) (C_HEX(c) || (c) == '*' || (c) == '#' || C_TELVIS(c))
/* RFC 3261: reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / "," */
#define C_RES(c)                                                                                   \
    ((c) == ';' || (c) == '/' || (c) == '?' || (c) == ':' || (c) == '@' || (c) == '&' ||           \
     (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',')
#define C_IPV6(c) (C_HEX(c) || (c) == ':' || (c) == '.')

#define CLS(c)                                                                                     \
    (uint16_t)((C_ALPHA(c) ? URI_ALPHA : 0) | (C_DIGIT(c) ? URI_DIGIT : 0) |                       \
               (C_HEX(c) ? URI_HEX : 0) | (C_USER(c) ? URI_USER : 0) |                             \
               (C_PASS(c) ? URI_PASS : 0) | (C_PARAM(c) ? URI_PARAM : 0) |                         \
               (C_HDR(c) ? URI_HDR : 0) | (C_SCHEME(c) ? URI_SCHEME : 0) |                         \
               (C_OPAQUE(c) ? URI_OPAQUE : 0) | (C_TELNUM(c) ? URI_TELNUM : 0) |                   \
               (C_TELVIS(c) ? URI_TELVIS : 0) | (C_RES(c) ? URI_RES : 0) |                         \
               ((C_GENDELIM(c) || C_SUBDELIM(c)) ? URI_RES3986 : 0) | (C_IPV6(c) ? URI_IPV6 : 0) | \
               ((C_ALNUM(c) || (c) == '-') ? URI_LABEL : 0))
#define CLS4(b) CLS(b), CLS((b) + 1), CLS((b) + 2), CLS((b) + 3)
#define CLS16(b) CLS4(b), CLS4((b) + 4), CLS4((b) + 8), CLS4((b) + 12)
#define CLS64(b) CLS16(b), CLS16((b) + 16), CLS16((b) + 32), CLS16((b) + 48)

/* Octets 0x80-0xFF are in no class: a URI carries them escaped. */
const uint16_t sip__uri_cls[256] = {CLS64(0), CLS64(64), CLS64(128), CLS64(192)};

#define cls sip__uri_cls
typedef const unsigned char *cp;

static inline sip_str_t view(cp a, cp b)
{
    sip_str_t v = {(const char *)a, (size_t)(b - a)};
    return v;
}

/* Skips octets of class mask, four a step so that the loop branch is taken once per four octets
 * (user parts, host labels and parameters are runs of a few to a few dozen octets). */
static inline cp span(cp q, cp end, unsigned mask)
{
    while (end - q >= 4) {
        if (!(cls[q[0]] & mask)) return q;
        if (!(cls[q[1]] & mask)) return q + 1;
        if (!(cls[q[2]] & mask)) return q + 2;
        if (!(cls[q[3]] & mask)) return q + 3;
        q += 4;
    }
    while (q < end && (cls[*q] & mask))
        q++;
    return q;
}

/*
 * Skips octets of class mask and valid %HH escapes (RFC 3261 escaped = "%" HEXDIG HEXDIG).
 * Returns where it stopped, or NULL at a malformed escape. *esc is set when an escape was seen.
 */
static inline cp scan(cp q, cp end, unsigned mask, int *esc)
{
    for (;;) {
        q = span(q, end, mask);
        if (q == end || *q != '%') return q;
        if (end - q < 3 || !(cls[q[1]] & URI_HEX) || !(cls[q[2]] & URI_HEX)) return NULL;
        *esc = 1;
        q += 3;
    }
}

/* RFC 3261 IPv4address with dec-octets 0-255; the whole of p[0..n) must match. */
static int ipv4(cp p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t st = i;
        while (i < n && i - st < 3 && C_DIGIT(p[i]))
            v = v * 10 + (unsigned)(p[i++] - '0');
        if (i == st || v > 255) return -1;
        out[part] = (uint8_t)v;
        if (part < 3) {
            if (i >= n || p[i] != '.') return -1;
            i++;
        }
    }
    return i == n ? 0 : -1;
}

int sip__uri_ipv6(const unsigned char *p, size_t n, uint8_t out[16])
{
    uint16_t g[8];
    int ng = 0, dc = -1;
    size_t i = 0;
    uint8_t v4[4];

    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        dc = 0;
        i = 2;
    } else if (n == 0 || p[0] == ':') {
        return -1;
    }
    while (i < n) {
        size_t st = i;
        unsigned v = 0;
        while (i < n && (cls[p[i]] & URI_HEX))
            v = (v << 4 | sip__uri_hexval(p[i++])) & 0xfffffu;
        if (i < n && p[i] == '.') {
            /* RFC 4291 §2.2 form 3: the last 32 bits written as an IPv4 address. */
            if (ng > 6 || ipv4(p + st, n - st, v4)) return -1;
            g[ng++] = (uint16_t)(v4[0] << 8 | v4[1]);
            g[ng++] = (uint16_t)(v4[2] << 8 | v4[3]);
            break;
        }
        if (i == st || i - st > 4 || ng == 8) return -1;
        g[ng++] = (uint16_t)v;
        if (i == n) break;
        if (p[i++] != ':' || i == n) return -1;
        if (p[i] == ':') {
            if (dc >= 0) return -1;
            dc = ng;
            if (++i < n && p[i] == ':') {
                /* RFC 5118 §4.10: "2001:db8:::192.0.2.1" matches RFC 3261's IPv6address by an
                 * ABNF slip; a robust parser reads it as "2001:db8::192.0.2.1". */
                i++;
                if (ng > 6 || ipv4(p + i, n - i, v4)) return -1;
                g[ng++] = (uint16_t)(v4[0] << 8 | v4[1]);
                g[ng++] = (uint16_t)(v4[2] << 8 | v4[3]);
                break;
            }
        }
    }
    /* "::" stands for at least one group of zeros (RFC 4291 §2.2). */
    if (dc < 0 ? ng != 8 : ng > 7) return -1;
    if (out) {
        int k = 0, zeros = 8 - ng;
        for (int j = 0; j < ng; j++) {
            if (j == dc)
                for (int z = 0; z < zeros; z++, k++)
                    out[2 * k] = out[2 * k + 1] = 0;
            out[2 * k] = (uint8_t)(g[j] >> 8);
            out[2 * k + 1] = (uint8_t)g[j];
            k++;
        }
        if (dc == ng)
            for (; k < 8; k++)
                out[2 * k] = out[2 * k + 1] = 0;
    }
    return 0;
}

/*
 * Scans a host at h: "[" IPv6address "]", an IPv4address or a hostname (RFC 3261 §25.1:
 * labels of alphanum and inner "-", the top label starting with ALPHA, one trailing "." allowed).
 * Returns the first octet after the host, or NULL.
 */
static cp scan_host(cp h, cp end, sip_host_type_t *type)
{
    cp q = h;
    if (q < end && *q == '[') {
        q++;
        while (q < end && (cls[*q] & URI_IPV6))
            q++;
        if (q == end || *q != ']' || sip__uri_ipv6(h + 1, (size_t)(q - h - 1), NULL)) return NULL;
        *type = SIP_HOST_IPV6;
        return q + 1;
    }
    if (q < end && (cls[*q] & URI_DIGIT)) {
        /* Most hosts that start with a digit are IPv4 addresses: read the dotted quad at once.
         * When more host octets follow it, the general scan below decides. */
        cp d = q;
        for (int part = 0;; part++) {
            cp ds = d;
            unsigned v = 0;
            while (d < end && d - ds < 3 && C_DIGIT(*d))
                v = v * 10 + (unsigned)(*d++ - '0');
            if (d == ds || v > 255) break;
            if (part == 3) {
                if (d < end && (*d == '.' || (cls[*d] & URI_LABEL))) break;
                *type = SIP_HOST_IPV4;
                return d;
            }
            if (d == end || *d != '.') break;
            d++;
        }
    }
    cp lab, top = q;
    /* A host that starts with a letter cannot be an IPv4address, so only the others need the
     * classes of their octets collected. */
    int named = q < end && (cls[*q] & URI_ALPHA);
    unsigned acc = named ? URI_ALPHA : 0, k;
    for (;;) {
        lab = q;
        if (named) {
            q = span(q, end, URI_LABEL);
        } else {
            while (q < end && ((k = cls[*q]) & URI_LABEL)) {
                acc |= k;
                q++;
            }
        }
        /* domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum */
        if (q == lab) {
            /* After a '.', an empty label is the one trailing dot a hostname may end with
             * ("example.com."); whatever follows it is checked by the caller. */
            if (lab == h) return NULL;
            break;
        }
        if (*lab == '-' || q[-1] == '-') return NULL;
        top = lab;
        if (q == end || *q != '.') break;
        q++;
    }
    /* One label of digits alone ("3402000000") is no IPv4address and breaks RFC 3261's
     * toplabel, yet GB/T 28181-2016 §4.3.2 makes every SIP domain one (its 10-digit domain
     * ID), and RFC 1123 §2.1 lets a label start with a digit: a hostname. */
    if (!named && lab == h && !(acc & (URI_ALPHA | URI_TELVIS))) {
        *type = SIP_HOST_NAME;
        return q;
    }
    /* Digits and dots only: an IPv4address. '-' carries URI_TELVIS, letters URI_ALPHA. */
    if (!(acc & (URI_ALPHA | URI_TELVIS))) {
        uint8_t v4[4];
        if (ipv4(h, (size_t)(q - h), v4)) return NULL;
        *type = SIP_HOST_IPV4;
        return q;
    }
    /* toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum */
    if (!(cls[*top] & URI_ALPHA)) return NULL;
    *type = SIP_HOST_NAME;
    return q;
}

const unsigned char *sip__uri_host_scan(const unsigned char *p, const unsigned char *end,
                                        sip_host_type_t *type)
{
    return scan_host(p, end, type);
}

int sip__uri_host_check(const unsigned char *p, size_t n, sip_host_type_t *type)
{
    cp q = scan_host(p, p + n, type);
    return q == p + n ? 0 : -1;
}

/* Decodes a short escaped text into buf; returns the length or -1 when it does not fit. */
static int decode_small(cp p, cp end, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    while (p < end) {
        if (n == cap) return -1;
        if (*p == '%') {
            buf[n++] = (unsigned char)(sip__uri_hexval(p[1]) << 4 | sip__uri_hexval(p[2]));
            p += 3;
        } else {
            buf[n++] = *p++;
        }
    }
    return (int)n;
}

/* Case-insensitive compare with a literal of lower-case letters only: for those, c | 0x20 equals
 * the letter exactly when c is that letter in either case, so one OR folds any octet. */
static inline int ieq(cp p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (unsigned char)lit[i]) return 0;
    return 1;
}

/*
 * Picks out the parameters of RFC 3261 §19.1.1 (the first of each name wins). A name written
 * with escapes ("%6C%72") is the same name (RFC 3261 §19.1.4 compares after unescaping).
 * Returns 0, or SIP_EURI for a bad ttl or maddr value.
 */
static int known_param(sip_uri_t *u, cp ns, cp ne, int nesc, cp vs, cp ve, int vesc)
{
    unsigned char nbuf[9], vbuf[256];
    size_t n = (size_t)(ne - ns);
    if (nesc) {
        int d = decode_small(ns, ne, nbuf, sizeof nbuf);
        if (d < 0) return 0;
        ns = nbuf;
        n = (size_t)d;
    }
    switch (n) {
    case 2:
        if (ieq(ns, "lr", 2)) u->lr = 1;
        return 0;
    case 3:
        if (!vs || u->ttl >= 0 || !ieq(ns, "ttl", 3)) return 0;
        if (vesc) {
            int d = decode_small(vs, ve, vbuf, 3);
            if (d < 0) return SIP_EURI;
            vs = vbuf;
            ve = vbuf + d;
        }
        /* ttl = 1*3DIGIT, 0 to 255 */
        if (ve - vs > 3) return SIP_EURI;
        {
            int t = 0;
            for (cp p = vs; p < ve; p++) {
                if (!C_DIGIT(*p)) return SIP_EURI;
                t = t * 10 + (*p - '0');
            }
            if (t > 255) return SIP_EURI;
            u->ttl = t;
        }
        return 0;
    case 4:
        if (vs && !u->user_param.ptr && ieq(ns, "user", 4)) u->user_param = view(vs, ve);
        return 0;
    case 5:
        if (vs && !u->maddr.ptr && ieq(ns, "maddr", 5)) {
            sip_host_type_t t;
            if (vesc) {
                int d = decode_small(vs, ve, vbuf, sizeof vbuf);
                if (d < 0 || sip__uri_host_check(vbuf, (size_t)d, &t)) return SIP_EURI;
            } else if (sip__uri_host_check(vs, (size_t)(ve - vs), &t)) {
                return SIP_EURI;
            }
            u->maddr = view(vs, ve);
        }
        return 0;
    case 6:
        if (vs && !u->method.ptr && ieq(ns, "method", 6)) u->method = view(vs, ve);
        return 0;
    case 9:
        if (vs && !u->transport.ptr && ieq(ns, "transport", 9)) u->transport = view(vs, ve);
        return 0;
    default: return 0;
    }
}

/* uri-parameters = *( ";" uri-parameter ), pname = 1*paramchar, pvalue = 1*paramchar.
 * q is on the first ';'. Returns the end of the parameters or NULL. */
static cp sip_params(sip_uri_t *u, cp q, cp end)
{
    cp ps = q + 1;
    do {
        int nesc = 0, vesc = 0;
        cp ns = q + 1, vs = NULL, ve = NULL;
        q = scan(ns, end, URI_PARAM, &nesc);
        if (!q || q == ns) return NULL;
        cp ne = q;
        if (q < end && *q == '=') {
            vs = q + 1;
            q = scan(vs, end, URI_PARAM, &vesc);
            if (!q || q == vs) return NULL;
            ve = q;
        }
        if (known_param(u, ns, ne, nesc, vs, ve, vesc)) return NULL;
    } while (q < end && *q == ';');
    u->params = view(ps, q);
    return q;
}

/* headers = "?" header *( "&" header ), header = hname "=" hvalue, hname non-empty.
 * q is on the '?'. Returns the end of the headers or NULL. */
static cp sip_headers(sip_uri_t *u, cp q, cp end)
{
    cp hs = q + 1;
    int esc = 0;
    do {
        cp ns = q + 1;
        q = scan(ns, end, URI_HDR, &esc);
        if (!q || q == ns || q == end || *q != '=') return NULL;
        q = scan(q + 1, end, URI_HDR, &esc);
        if (!q) return NULL;
    } while (q < end && *q == '&');
    u->headers = view(hs, q);
    return q;
}

/* RFC 3261 §19.1.1: SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ] */
static int parse_sip(sip_uri_t *u, cp p, cp end)
{
    int esc = 0;
    /* userinfo ends at the first '@': no later part (host, params, headers) may hold one. */
    cp at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        cp q = scan(p, at, URI_USER, &esc);
        if (!q || q == p) return SIP_EURI;
        u->user = view(p, q);
        if (q < at) {
            cp pw = q + 1;
            if (*q != ':' || scan(pw, at, URI_PASS, &esc) != at) return SIP_EURI;
            u->password = view(pw, at);
        }
        p = at + 1;
    }
    cp q = scan_host(p, end, &u->host_type);
    if (!q) return SIP_EURI;
    u->host = view(p, q);
    if (q < end && *q == ':') {
        cp ds = ++q;
        unsigned port = 0;
        while (q < end && C_DIGIT(*q)) {
            port = port * 10 + (unsigned)(*q++ - '0');
            if (port > 65535) return SIP_EURI;
        }
        if (q == ds) return SIP_EURI;
        u->port = (uint16_t)port;
    }
    if (q < end && *q == ';' && !(q = sip_params(u, q, end))) return SIP_EURI;
    if (q < end && *q == '?' && !(q = sip_headers(u, q, end))) return SIP_EURI;
    return q == end ? 0 : SIP_EURI;
}

/* RFC 3966 §3: telephone-subscriber = global-number / local-number; parameters after ';'.
 * The phone-context that §5.1.5 requires of a local number is not enforced: short internal
 * numbers ("tel:7042") are common and harmless to parse. */
static int parse_tel(sip_uri_t *u, cp p, cp end)
{
    cp q = p;
    unsigned seen = 0;
    if (q < end && *q == '+') {
        /* global-number-digits = "+" *phonedigit DIGIT *phonedigit */
        for (q++; q < end && (cls[*q] & (URI_DIGIT | URI_TELVIS)); q++)
            seen |= cls[*q] & URI_DIGIT;
    } else {
        /* local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex */
        for (; q < end && (cls[*q] & URI_TELNUM); q++)
            seen |= !(cls[*q] & URI_TELVIS);
    }
    if (!seen) return SIP_EURI;
    u->user = view(p, q);
    if (q < end && *q == ';') {
        cp ps = q + 1;
        int esc = 0;
        do {
            /* parameter = ";" pname [ "=" pvalue ], pname = 1*( alphanum / "-" ) */
            cp ns = ++q;
            while (q < end && ((cls[*q] & (URI_ALPHA | URI_DIGIT)) || *q == '-'))
                q++;
            if (q == ns) return SIP_EURI;
            if (q < end && *q == '=') {
                cp vs = q + 1;
                q = scan(vs, end, URI_PARAM, &esc);
                if (!q || q == vs) return SIP_EURI;
            }
        } while (q < end && *q == ';');
        u->params = view(ps, q);
    }
    return q == end ? 0 : SIP_EURI;
}

/* Field by field: a whole-struct clear compiles to "rep stos", which costs more than the parse
 * of a short URI. */
static inline void clear(sip_uri_t *u)
{
    const sip_str_t e = SIP_STR_NULL;
    u->scheme = SIP_URI_OTHER;
    u->scheme_str = e;
    u->user = e;
    u->password = e;
    u->host = e;
    u->host_type = SIP_HOST_NONE;
    u->port = 0;
    u->params = e;
    u->headers = e;
    u->opaque = e;
    u->raw = e;
    u->transport = e;
    u->user_param = e;
    u->method = e;
    u->maddr = e;
    u->ttl = -1;
    u->lr = 0;
}

int sip_uri_parse(sip_uri_t *out, const char *s, size_t len)
{
    if (!out || !s) return SIP_EINVAL;
    clear(out);
    cp p = (cp)s, end = p + len, q = p;
    out->raw.ptr = s;
    out->raw.len = len;
    int rc;

    /* Nearly every URI in a SIP message is "sip:": one test instead of the scheme scan below. */
    if (len >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' && (p[2] | 0x20) == 'p' &&
        p[3] == ':') {
        out->scheme = SIP_URI_SIP;
        out->scheme_str = view(p, p + 3);
        if (parse_sip(out, p + 4, end) == 0) return 0;
        goto bad;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (q == end || !(cls[*q] & URI_ALPHA)) goto bad;
    while (++q < end && (cls[*q] & URI_SCHEME))
        ;
    if (q == end || *q != ':') goto bad;
    out->scheme_str = view(p, q);
    size_t sl = (size_t)(q - p);
    if (sl == 3 && ieq(p, "sip", 3)) {
        out->scheme = SIP_URI_SIP;
        rc = parse_sip(out, q + 1, end);
    } else if (sl == 4 && ieq(p, "sips", 4)) {
        out->scheme = SIP_URI_SIPS;
        rc = parse_sip(out, q + 1, end);
    } else if (sl == 3 && ieq(p, "tel", 3)) {
        out->scheme = SIP_URI_TEL;
        rc = parse_tel(out, q + 1, end);
    } else {
        /* RFC 3986 absoluteURI, kept opaque: non-empty, legal octets, well-formed escapes. */
        int esc = 0;
        cp os = q + 1;
        q = scan(os, end, URI_OPAQUE, &esc);
        if (q != end || os == end) goto bad;
        out->scheme = SIP_URI_OTHER;
        out->opaque = view(os, end);
        rc = 0;
    }
    if (rc == 0) return 0;
bad:
    clear(out);
    return SIP_EURI;
}
