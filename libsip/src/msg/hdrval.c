/* SPDX-License-Identifier: MIT */
/* Header values into typed fields: Via, name-addr, CSeq, numbers, tokens, media, auth, ... */
#include <stdio.h>
#include <string.h>

#include "msg/chars.h"
#include "msg/msg_int.h"
#include "uri/uri_int.h"

/* Every parser takes [p, end) positioned on the first non-blank octet of one value and returns
 * where it stopped (on ',' for the next list element, or end), or NULL with *why set. Values may
 * hold CR LF from folded lines; the WS class treats them as blanks. */

typedef const char *cp;

static inline cp skip_ws(cp p, cp end)
{
    while (p < end && IS(*p, SIP__C_WS))
        p++;
    return p;
}

/* Runs of one class (Call-IDs, branches, tags, method lists) are most of a header section. Four
 * octets per step means one loop branch per four octets and independent loads; the tail goes one
 * octet at a time so nothing at or past end is read. */
static inline cp skip_class(cp p, cp end, int k)
{
    while (end - p >= 4) {
        if (!IS(p[0], k)) return p;
        if (!IS(p[1], k)) return p + 1;
        if (!IS(p[2], k)) return p + 2;
        if (!IS(p[3], k)) return p + 3;
        p += 4;
    }
    while (p < end && IS(*p, k))
        p++;
    return p;
}

static inline sip_str_t mkstr(cp a, cp b)
{
    sip_str_t s = {a, (size_t)(b - a)};
    return s;
}

/* The n (1 to 7) octets at p as one word, built in registers: copying them into a zeroed word
 * on the stack instead would make the CPU wait for several small stores to reach one load. */
static inline uint64_t load_short(const char *p, size_t n)
{
    uint64_t v = 0;
    size_t k = 0;
    if (n >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        v = w;
        k = 4;
    } else if (n >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        v = w;
        k = 2;
    }
    for (; k < n; k++)
        v |= (uint64_t)(unsigned char)p[k] << (8 * k);
    return v;
}

/* Case-insensitive match of a view with a literal of lower-case letters only. For such a literal
 * OR-ing 0x20 is an exact fold: c | 0x20 equals a lower-case letter only when c is that letter in
 * either case. So the view is compared a word at a time; n is a constant at every call, which
 * makes the loads fixed and the literal's words constants. Only the n octets of the view are
 * read. */
static inline int lit_eq(sip_str_t s, const char *lower, size_t n)
{
    const uint64_t fold = UINT64_C(0x2020202020202020);
    if (s.len != n) return 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, s.ptr + i, 8);
        memcpy(&b, lower + i, 8);
        if ((a | fold) != b) return 0;
    }
    /* Both words are built the same way, so the fold hits the same octets on both sides. */
    if (i < n && (load_short(s.ptr + i, n - i) | fold) != (load_short(lower + i, n - i) | fold))
        return 0;
    return 1;
}
#define LIT_EQ(s, lit) lit_eq((s), (lit), sizeof(lit) - 1)

/* quoted-string starting on '"'; returns the position after the closing quote. RFC 3261 §25.1:
 * quoted-pair may escape any octet but CR and LF. */
static cp skip_quoted(cp p, cp end, const char **why)
{
    /* Most quoted strings hold no quoted-pair (digest nonces and responses, display names), so
     * the closing quote is looked for eight octets a step: y = w ^ (c * ones) has a zero octet
     * where w holds c, and (y - ones) & ~y & high is non-zero exactly when y has one. Only whole
     * words inside [p, end) are read. Measured faster than two memchr calls on digest
     * credentials. A backslash on the way sends the rest through the quoted-pair walk. */
    const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
    cp q = p + 1;
    while (end - q >= 8) {
        uint64_t w, yq, yb;
        memcpy(&w, q, 8);
        yq = w ^ (ones * '"');
        yb = w ^ (ones * '\\');
        if (((yq - ones) & ~yq & high) | ((yb - ones) & ~yb & high)) break;
        q += 8;
    }
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q < end && *q == '"') return q + 1;
    for (p = q; p < end; p++) {
        if (*p == '"') return p + 1;
        if (*p == '\\') {
            if (p + 1 >= end || p[1] == '\r' || p[1] == '\n') break;
            p++;
        }
    }
    *why = "unterminated quoted string";
    return NULL;
}

/* 1*DIGIT into a 64-bit value with saturation at 2^63; *over set when above max. */
static cp parse_uint(cp p, cp end, uint64_t max, uint64_t *out, int *over)
{
    uint64_t v = 0;
    cp s = p;
    *over = 0;
    while (p < end && IS(*p, SIP__C_DIGIT)) {
        if (v > (UINT64_C(1) << 60))
            *over = 1;
        else
            v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == s) return NULL;
    if (v > max) *over = 1;
    *out = v;
    return p;
}

/* sip_str_to_u32() for the short numeric parameters, inline and without its division per digit:
 * 0 with *out set, SIP_ERANGE as soon as the value passes max, SIP_EINVAL when empty or not all
 * digits. max is below 2^32, so v * 10 + d cannot overflow 64 bits. */
static inline int dec_u32(sip_str_t s, uint32_t max, unsigned long *out)
{
    uint64_t v = 0;
    if (s.len == 0) return SIP_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)((unsigned char)s.ptr[i] - '0');
        if (d > 9) return SIP_EINVAL;
        v = v * 10 + d;
        if (v > max) return SIP_ERANGE;
    }
    *out = (unsigned long)v;
    return 0;
}

/* Called for each parameter; returns NULL, or why the parameter makes the value malformed. */
typedef const char *(*param_fn)(void *ctx, sip_str_t name, sip_str_t value, int has_value);

/* *( SEMI generic-param ). Empty names or values are errors (RFC 3261 §25.1 generic-param). */
static cp parse_params(cp p, cp end, sip_str_t *span, param_fn fn, void *ctx, const char **why)
{
    cp first = NULL, last = NULL;
    for (;;) {
        cp q = skip_ws(p, end);
        if (q >= end || *q != ';') break;
        q = skip_ws(q + 1, end);
        cp ns = q;
        q = skip_class(q, end, SIP__C_TOKEN);
        if (q == ns) {
            *why = "empty parameter";
            return NULL;
        }
        sip_str_t name = mkstr(ns, q), value = {q, 0};
        int has_value = 0;
        cp r = skip_ws(q, end);
        if (r < end && *r == '=') {
            r = skip_ws(r + 1, end);
            cp vs = r;
            if (r < end && *r == '"') {
                r = skip_quoted(r, end, why);
                if (!r) return NULL;
            } else {
                r = skip_class(r, end, SIP__C_PVAL);
            }
            if (r == vs) {
                *why = "empty parameter value";
                return NULL;
            }
            value = mkstr(vs, r);
            has_value = 1;
            q = r;
        }
        if (!first) first = ns;
        last = q;
        const char *bad = fn ? fn(ctx, name, value, has_value) : NULL;
        if (bad) {
            *why = bad;
            return NULL;
        }
        p = q;
    }
    *span = first ? mkstr(first, last) : mkstr(p, p);
    return p;
}

/* host [ ":" port ] for Via sent-by. */
static cp parse_hostport(cp p, cp end, sip_str_t *host, sip_host_type_t *type, uint16_t *port,
                         const char **why)
{
    cp s = p;
    if (p < end && *p == '[') {
        p++;
        while (p < end && (IS(*p, SIP__C_HOST) || *p == ':'))
            p++;
        /* RFC 3261 §25.1: only an IPv6reference is bracketed ("[example.com]" is not a host);
         * the same check as the URI parser's, so a Via and a URI agree on what a host is. */
        if (p >= end || *p != ']' ||
            sip__uri_ipv6((const unsigned char *)s + 1, (size_t)(p - s - 1), NULL) != 0) {
            *why = "malformed IPv6 reference";
            return NULL;
        }
        p++;
        *type = SIP_HOST_IPV6;
    } else {
        if (p >= end || !IS(*p, SIP__C_HOST)) {
            *why = "missing host";
            return NULL;
        }
        /* RFC 3261 §25.1 host = hostname / IPv4address, read by the URI parser's own scanner
         * (labels, a top label starting with a letter, dec-octets up to 255), which also tells
         * the type: "192.0.2.300" or "-a.example.com" is no host in a Via as in a URI. A host
         * octet right after it means the scanner stopped inside something that is no host. */
        p = (cp)sip__uri_host_scan((const unsigned char *)s, (const unsigned char *)end, type);
        if (!p || (p < end && IS(*p, SIP__C_HOST))) {
            *why = "malformed host";
            return NULL;
        }
    }
    *host = mkstr(s, p);
    *port = 0;
    cp q = skip_ws(p, end);
    if (q < end && *q == ':') {
        uint64_t v;
        int over;
        q = parse_uint(skip_ws(q + 1, end), end, 65535, &v, &over);
        if (!q || over) {
            *why = "malformed port";
            return NULL;
        }
        *port = (uint16_t)v;
        p = q;
    }
    return p;
}

/* ---- Via ---- */

static const char *via_param(void *ctx, sip_str_t n, sip_str_t v, int has_value)
{
    sip_via_t *via = ctx;
    switch (n.len) {
    case 6:
        if (LIT_EQ(n, "branch")) via->branch = v;
        break;
    case 8:
        if (LIT_EQ(n, "received")) via->received = v;
        break;
    case 5:
        if (LIT_EQ(n, "rport")) {
            /* RFC 3581 §3: response-port = "rport" [EQUAL 1*DIGIT]. A value that is no port
             * ("rport=abc", "rport=70000") is malformed, not a request for one: read as a bare
             * rport it would send the response somewhere the sender never asked for. */
            unsigned long port = 0;
            if (has_value && dec_u32(v, 65535, &port) != 0) return "malformed rport parameter";
            via->rport = (int)port;
        } else if (LIT_EQ(n, "maddr")) {
            via->maddr = v;
        }
        break;
    case 3:
        if (LIT_EQ(n, "ttl")) {
            unsigned long t = 0;
            via->ttl = dec_u32(v, 255, &t) == 0 ? (int)t : -1;
        }
        break;
    default: break;
    }
    return NULL;
}

static cp parse_via(sip_via_t *via, cp p, cp end, const char **why)
{
    /* Field by field: a memset of the struct becomes "rep stos", whose start-up alone costs more
     * than these stores. */
    const sip_str_t none = SIP_STR_NULL;
    via->protocol = via->version = via->transport = via->host = none;
    via->host_type = SIP_HOST_NONE;
    via->port = 0;
    via->params = via->branch = via->received = via->maddr = none;
    via->rport = -1;
    via->ttl = -1;
    sip_str_t *parts[3] = {&via->protocol, &via->version, &via->transport};
    for (int i = 0; i < 3; i++) {
        if (i) {
            /* SLASH = SWS "/" SWS: wsinv spreads the sent-protocol over blanks. */
            p = skip_ws(p, end);
            if (p >= end || *p != '/') {
                *why = "malformed sent-protocol";
                return NULL;
            }
            p = skip_ws(p + 1, end);
        }
        cp s = p;
        p = skip_class(p, end, SIP__C_TOKEN);
        if (p == s) {
            *why = "malformed sent-protocol";
            return NULL;
        }
        *parts[i] = mkstr(s, p);
    }
    cp q = skip_ws(p, end);
    if (q == p) {
        *why = "missing sent-by";
        return NULL;
    }
    p = parse_hostport(q, end, &via->host, &via->host_type, &via->port, why);
    if (!p) return NULL;
    p = parse_params(p, end, &via->params, via_param, via, why);
    if (p && via->rport == -1) {
        /* A flag "rport" sets 0 via via_param; nothing else to do. */
    }
    return p;
}

/* ---- name-addr / addr-spec ---- */

static const char *addr_param(void *ctx, sip_str_t n, sip_str_t v, int has_value)
{
    sip_addr_t *a = ctx;
    (void)has_value;
    if (n.len == 3 && LIT_EQ(n, "tag")) {
        /* RFC 3261 §19.3: one tag identifies the dialog party. A second one, with or without a
         * value, leaves elements free to pick either (the last one used to win here, the first
         * in Sofia-SIP and oSIP2): ";tag=a1;tag=evil" or ";tag=a1;tag" is malformed. A lone
         * ";tag" stays what it was, a generic-param and no tag (§25.1). */
        if (a->tag.ptr) return "repeated tag parameter";
        a->tag = v;
    } else if (n.len == 7 && LIT_EQ(n, "expires")) {
        unsigned long e = 0;
        /* RFC 3261 §10.2.1.1 treats huge values as the maximum rather than an error. */
        int rc = dec_u32(v, 0x7fffffff, &e);
        a->expires = rc == 0 ? (int)e : rc == SIP_ERANGE ? 0x7fffffff : -1;
    } else if (n.len == 1 && (n.ptr[0] == 'q' || n.ptr[0] == 'Q')) {
        /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
        int q = -1;
        if (v.len >= 1 && (v.ptr[0] == '0' || v.ptr[0] == '1')) {
            q = (v.ptr[0] - '0') * 1000;
            if (v.len > 1) {
                if (v.ptr[1] != '.' || v.len > 5) q = -1;
                int scale = 100;
                for (size_t i = 2; q >= 0 && i < v.len; i++, scale /= 10) {
                    if (v.ptr[i] < '0' || v.ptr[i] > '9')
                        q = -1;
                    else
                        q += (v.ptr[i] - '0') * scale;
                }
            }
            if (q > 1000) q = -1;
        }
        a->q = q;
    }
    return NULL;
}

static cp addr_value(sip_addr_t *a, cp p, cp end, sip_hdr_id_t id, const char **why);

int sip__parse_addr(sip_addr_t *a, const char *p, size_t n, sip_hdr_id_t id, const char **why)
{
    /* Convenience for callers outside this file: the whole view must be one address. */
    cp end = p + n;
    cp r = addr_value(a, skip_ws(p, end), end, id, why);
    if (!r) return SIP_EPARSE;
    if (skip_ws(r, end) != end) {
        *why = "unexpected text after the address";
        return SIP_EPARSE;
    }
    return 0;
}

/* Clears a URI the URI parser does not get to fill (Contact: *, malformed addresses). */
static void addr_no_uri(sip_addr_t *a)
{
    memset(&a->uri, 0, sizeof(a->uri));
    a->uri.ttl = -1;
}

static cp addr_value(sip_addr_t *a, cp p, cp end, sip_hdr_id_t id, const char **why)
{
    /* Field by field: sip_uri_parse() clears the URI itself, and clearing all 280 octets here as
     * well doubles the stores of every From, To and Contact. On failure the URI is left as it is:
     * the caller drops the record. */
    const sip_str_t none = SIP_STR_NULL;
    a->display = none;
    a->bracketed = 0;
    a->star = 0;
    a->params = none;
    a->tag = none;
    a->expires = -1;
    a->q = -1;
    cp s = p;
    if (id == SIP_HDR_CONTACT && p < end && *p == '*') {
        cp q = skip_ws(p + 1, end);
        if (q == end || *q == ',') {
            a->star = 1;
            addr_no_uri(a);
            return q;
        }
    }
    cp uri_s, uri_e;
    if (p < end && *p == '"') {
        p = skip_quoted(p, end, why);
        if (!p) return NULL;
        a->display = mkstr(s, p);
        p = skip_ws(p, end);
        if (p >= end || *p != '<') {
            *why = "expected '<' after the display name";
            return NULL;
        }
    } else {
        /* display-name = *(token LWS): scan tokens; '<' makes it a name-addr, anything else is
         * an addr-spec starting at s. */
        cp q = p, last = p;
        while (q < end && IS(*q, SIP__C_TOKEN | SIP__C_WS)) {
            if (!IS(*q, SIP__C_WS)) last = q + 1;
            q++;
        }
        if (q < end && *q == '<') {
            a->display = mkstr(s, last);
            p = q;
        }
    }
    if (p < end && *p == '<') {
        uri_s = ++p;
        /* '>' cannot appear unescaped in a URI. */
        cp gt = memchr(p, '>', (size_t)(end - p));
        if (!gt) {
            *why = "missing '>'";
            return NULL;
        }
        uri_e = gt;
        p = gt + 1;
        a->bracketed = 1;
    } else {
        /* addr-spec: the URI ends at blanks, ',' or the first ';'. RFC 3261 §20.10: without
         * angle brackets every ';' parameter is a header parameter, and a URI holding a comma,
         * question mark or semicolon must be written in brackets; so "sip:a;b@example.com"
         * is the URI "sip:a" followed by junk, never the user "a;b" (Sofia-SIP and oSIP2 end
         * the URI there too). */
        uri_s = p;
        cp q = p;
        while (q < end && !IS(*q, SIP__C_WS) && *q != ',' && *q != ';')
            q++;
        uri_e = q;
        if (memchr(uri_s, '?', (size_t)(uri_e - uri_s))) {
            *why = "a URI with headers must be enclosed in '<' '>'";
            return NULL;
        }
        p = uri_e;
    }
    if (uri_e == uri_s || sip_uri_parse(&a->uri, uri_s, (size_t)(uri_e - uri_s)) != 0) {
        *why = "malformed URI";
        return NULL;
    }
    return parse_params(p, end, &a->params, addr_param, a, why);
}

/* ---- numbers, CSeq, RAck ---- */

static cp parse_num(sip_hdr_id_t id, sip_num_t *num, cp p, cp end, const char **why)
{
    uint64_t v;
    int over;
    memset(num, 0, sizeof(*num));
    uint64_t max = 0xffffffffu;
    if (id == SIP_HDR_MAX_FORWARDS) max = 255;
    cp q = parse_uint(p, end, max, &v, &over);
    if (!q) {
        *why = "expected a number";
        return NULL;
    }
    if (over) {
        /* delta-seconds saturate (RFC 3261 §20.19 and §10.2.1.1); counts do not. */
        if (id == SIP_HDR_EXPIRES || id == SIP_HDR_MIN_EXPIRES || id == SIP_HDR_RETRY_AFTER ||
            id == SIP_HDR_SESSION_EXPIRES || id == SIP_HDR_MIN_SE) {
            v = 0xffffffffu;
        } else {
            *why = "number out of range";
            return NULL;
        }
    }
    num->value = (uint32_t)v;
    p = q;
    if (id == SIP_HDR_RETRY_AFTER) {
        cp r = skip_ws(p, end);
        if (r < end && *r == '(') {
            /* comment = LPAREN *(ctext / quoted-pair / comment) RPAREN */
            int depth = 0;
            cp cs = r + 1;
            for (; r < end; r++) {
                if (*r == '\\' && r + 1 < end)
                    r++;
                else if (*r == '(')
                    depth++;
                else if (*r == ')' && --depth == 0)
                    break;
            }
            if (r >= end) {
                *why = "unterminated comment";
                return NULL;
            }
            num->comment = mkstr(cs, r);
            p = r + 1;
        }
    }
    if (id == SIP_HDR_CONTENT_LENGTH || id == SIP_HDR_MAX_FORWARDS || id == SIP_HDR_EXPIRES ||
        id == SIP_HDR_MIN_EXPIRES || id == SIP_HDR_RSEQ)
        return p;
    return parse_params(p, end, &num->params, NULL, NULL, why);
}

static cp parse_method_tok(cp p, cp end, sip_str_t *s, sip_method_t *m, const char **why)
{
    cp q = skip_class(p, end, SIP__C_TOKEN);
    if (q == p) {
        *why = "missing method";
        return NULL;
    }
    *s = mkstr(p, q);
    *m = sip_method_from_str(p, (size_t)(q - p));
    return q;
}

static cp parse_cseq(sip_cseq_t *c, cp p, cp end, const char **why)
{
    uint64_t v;
    int over;
    /* RFC 3261 §8.1.1.5: the sequence number MUST be less than 2^31. */
    cp q = parse_uint(p, end, 0x7fffffff, &v, &over);
    if (!q || over) {
        *why = q ? "sequence number out of range" : "expected a sequence number";
        return NULL;
    }
    c->seq = (uint32_t)v;
    p = skip_ws(q, end);
    if (p == q) {
        *why = "missing method";
        return NULL;
    }
    return parse_method_tok(p, end, &c->method_str, &c->method, why);
}

static cp parse_rack(sip_rack_t *r, cp p, cp end, const char **why)
{
    uint64_t a, b;
    int over;
    cp q = parse_uint(p, end, 0xffffffffu, &a, &over);
    if (!q || over || (p = skip_ws(q, end)) == q) goto bad;
    q = parse_uint(p, end, 0x7fffffff, &b, &over);
    if (!q || over || (p = skip_ws(q, end)) == q) goto bad;
    r->rseq = (uint32_t)a;
    r->cseq = (uint32_t)b;
    return parse_method_tok(p, end, &r->method_str, &r->method, why);
bad:
    *why = "malformed RAck";
    return NULL;
}

/* ---- tokens, media, auth, warning, date ---- */

/* Shape of a token value by header id, looked up once per value instead of a chain of id
 * comparisons: Call-ID, In-Reply-To and the Replaces call-id are words (RFC 3261 §25.1 callid),
 * and the option-tag and method lists take no parameters. */
enum { TOK_WORD = 1, TOK_NOPARAMS = 2 };
static const uint8_t tok_shape[SIP_HDR__COUNT] = {
    [SIP_HDR_CALL_ID] = TOK_WORD | TOK_NOPARAMS,
    [SIP_HDR_IN_REPLY_TO] = TOK_WORD | TOK_NOPARAMS,
    [SIP_HDR_REPLACES] = TOK_WORD,
    [SIP_HDR_ALLOW] = TOK_NOPARAMS,
    [SIP_HDR_SUPPORTED] = TOK_NOPARAMS,
    [SIP_HDR_REQUIRE] = TOK_NOPARAMS,
    [SIP_HDR_PROXY_REQUIRE] = TOK_NOPARAMS,
    [SIP_HDR_UNSUPPORTED] = TOK_NOPARAMS,
    [SIP_HDR_CONTENT_ENCODING] = TOK_NOPARAMS,
};

static cp parse_token(sip_hdr_id_t id, sip_token_t *t, cp p, cp end, const char **why)
{
    unsigned shape = tok_shape[id];
    cp s = p;
    if (shape & TOK_WORD) {
        p = skip_class(p, end, SIP__C_WORD);
        if (p < end && *p == '@') p = skip_class(p + 1, end, SIP__C_WORD);
    } else {
        p = skip_class(p, end, SIP__C_TOKEN);
    }
    t->value = mkstr(s, p);
    t->params = mkstr(p, p);
    if (p == s) {
        *why = "expected a token";
        return NULL;
    }
    if (shape & TOK_NOPARAMS) return p;
    return parse_params(p, end, &t->params, NULL, NULL, why);
}

static cp parse_media(sip_media_t *m, cp p, cp end, const char **why)
{
    cp s = p;
    p = skip_class(p, end, SIP__C_TOKEN);
    m->type = mkstr(s, p);
    p = skip_ws(p, end);
    if (m->type.len == 0 || p >= end || *p != '/') {
        *why = "malformed media type";
        return NULL;
    }
    p = skip_ws(p + 1, end);
    s = p;
    p = skip_class(p, end, SIP__C_TOKEN);
    m->subtype = mkstr(s, p);
    if (m->subtype.len == 0) {
        *why = "malformed media subtype";
        return NULL;
    }
    return parse_params(p, end, &m->params, NULL, NULL, why);
}

static cp parse_auth(sip_hdr_id_t id, sip_auth_t *a, cp p, cp end, const char **why)
{
    /* Field by field for the reason given in parse_via(). */
    const sip_str_t none = SIP_STR_NULL;
    a->scheme = a->params = none;
    a->realm = a->nonce = a->opaque = a->algorithm = a->qop = a->domain = a->stale = none;
    a->username = a->uri = a->response = a->cnonce = a->nc = none;
    a->nextnonce = a->rspauth = none;
    if (id != SIP_HDR_AUTHENTICATION_INFO) {
        cp s = p;
        p = skip_class(p, end, SIP__C_TOKEN);
        a->scheme = mkstr(s, p);
        if (a->scheme.len == 0) {
            *why = "missing auth scheme";
            return NULL;
        }
        cp q = skip_ws(p, end);
        if (q == p && q < end) {
            *why = "missing blank after the auth scheme";
            return NULL;
        }
        p = q;
    }
    cp ps = p, pe = p;
    while (p < end) {
        cp ns = p;
        p = skip_class(p, end, SIP__C_TOKEN);
        sip_str_t n = mkstr(ns, p);
        p = skip_ws(p, end);
        if (n.len == 0 || p >= end || *p != '=') {
            /* token68-style credentials of an unknown scheme are kept as one opaque blob. */
            if (!LIT_EQ(a->scheme, "digest") && n.len && ns == ps) {
                p = end;
                while (p > ns && IS(p[-1], SIP__C_WS))
                    p--;
                pe = p;
                break;
            }
            *why = "malformed auth-param";
            return NULL;
        }
        p = skip_ws(p + 1, end);
        cp vs = p;
        sip_str_t v;
        if (p < end && *p == '"') {
            p = skip_quoted(p, end, why);
            if (!p) return NULL;
            v = mkstr(vs + 1, p - 1);
        } else {
            p = skip_class(p, end, SIP__C_WORD);
            v = mkstr(vs, p);
            if (v.len == 0) {
                *why = "empty auth-param value";
                return NULL;
            }
        }
        pe = p;
        switch (n.len) {
        case 2:
            if (LIT_EQ(n, "nc")) a->nc = v;
            break;
        case 3:
            if (LIT_EQ(n, "uri"))
                a->uri = v;
            else if (LIT_EQ(n, "qop"))
                a->qop = v;
            break;
        case 5:
            if (LIT_EQ(n, "realm"))
                a->realm = v;
            else if (LIT_EQ(n, "nonce"))
                a->nonce = v;
            else if (LIT_EQ(n, "stale"))
                a->stale = v;
            break;
        case 6:
            if (LIT_EQ(n, "opaque"))
                a->opaque = v;
            else if (LIT_EQ(n, "domain"))
                a->domain = v;
            else if (LIT_EQ(n, "cnonce"))
                a->cnonce = v;
            break;
        case 7:
            if (LIT_EQ(n, "rspauth")) a->rspauth = v;
            break;
        case 8:
            if (LIT_EQ(n, "username"))
                a->username = v;
            else if (LIT_EQ(n, "response"))
                a->response = v;
            break;
        case 9:
            if (LIT_EQ(n, "algorithm"))
                a->algorithm = v;
            else if (LIT_EQ(n, "nextnonce"))
                a->nextnonce = v;
            break;
        default: break;
        }
        p = skip_ws(p, end);
        if (p < end) {
            if (*p != ',') {
                *why = "expected ',' between auth-params";
                return NULL;
            }
            p = skip_ws(p + 1, end);
            if (p >= end) {
                *why = "trailing ',' after auth-params";
                return NULL;
            }
        }
    }
    a->params = mkstr(ps, pe);
    return end;
}

static cp parse_warning(sip_warning_t *w, cp p, cp end, const char **why)
{
    /* warn-code = 3DIGIT exactly (RFC 4475 scalarlg sends a four-digit one). */
    if (end - p < 4 || !IS(p[0], SIP__C_DIGIT) || !IS(p[1], SIP__C_DIGIT) ||
        !IS(p[2], SIP__C_DIGIT) || !IS(p[3], SIP__C_WS)) {
        *why = "warn-code must be three digits";
        return NULL;
    }
    w->code = (unsigned)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
    p = skip_ws(p + 3, end);
    cp s = p;
    while (p < end && !IS(*p, SIP__C_WS) && *p != ',')
        p++;
    w->agent = mkstr(s, p);
    cp q = skip_ws(p, end);
    if (w->agent.len == 0 || q == p || q >= end || *q != '"') {
        *why = "malformed warning value";
        return NULL;
    }
    s = q;
    p = skip_quoted(q, end, why);
    if (!p) return NULL;
    w->text = mkstr(s, p);
    return p;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int two(cp p)
{
    if (!IS(p[0], SIP__C_DIGIT) || !IS(p[1], SIP__C_DIGIT)) return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §20.17), e.g.
 * "Sat, 13 Nov 2010 23:29:00 GMT". */
static cp parse_date(sip_num_t *num, cp v, cp end, const char **why)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    static const char wkdays[] = "montuewedthufrisatsun";
    memset(num, 0, sizeof(*num));
    *why = "malformed Date (RFC 1123 form in GMT expected)";
    /* GB/T 28181-2016 §9.1.2.1: the platform's 200 to a REGISTER carries the device's clock as
     * "2026-12-07T21:51:33.123" (local time, no zone), not RFC 3261 §20.17's form; a device
     * that refused it would never register. It is read as written, as if in GMT. */
    if (end - v >= 19 && v[4] == '-' && v[7] == '-' && v[10] == 'T' && v[13] == ':' &&
        v[16] == ':') {
        int c1 = two(v), c2 = two(v + 2), mon = two(v + 5), day = two(v + 8);
        int hh = two(v + 11), mm = two(v + 14), ss = two(v + 17);
        cp q = v + 19;
        if (q < end && *q == '.') {
            cp ds = ++q;
            while (q < end && q - ds < 3 && IS(*q, SIP__C_DIGIT))
                q++;
            if (q == ds) return NULL;
        }
        if (c1 < 0 || c2 < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 ||
            mm < 0 || mm > 59 || ss < 0 || ss > 60)
            return NULL;
        num->time = days_from_civil(c1 * 100 + c2, (unsigned)mon, (unsigned)day) * 86400 +
                    hh * 3600 + mm * 60 + ss;
        num->value = num->time > 0 && num->time < 0xffffffffLL ? (uint32_t)num->time : 0;
        *why = NULL;
        return q;
    }
    /* RFC 3261 §7.3.1: a folded line (CRLF and blanks) is one SP, and any run of LWS may be
     * read as one SP. The value is read through that rule into the fixed 29-octet form, so a
     * Date folded between its fields parses as if written on one line. */
    char buf[29];
    cp p = v;
    size_t n = 0;
    while (p < end && n < sizeof(buf)) {
        if (IS(*p, SIP__C_WS)) {
            while (p < end && IS(*p, SIP__C_WS))
                p++;
            buf[n++] = ' ';
        } else {
            buf[n++] = *p++;
        }
    }
    if (n < sizeof(buf)) return NULL;
    cp after = p;
    p = buf;
    int ok = 0;
    for (int i = 0; i < 7; i++)
        if (lit_eq(mkstr(p, p + 3), wkdays + 3 * i, 3)) ok = 1;
    if (!ok || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
        p[19] != ':' || p[22] != ':' || p[25] != ' ')
        return NULL;
    int day = two(p + 5), hh = two(p + 17), mm = two(p + 20), ss = two(p + 23);
    int y1 = two(p + 12), y2 = two(p + 14);
    unsigned mon = 0;
    for (unsigned i = 0; i < 12; i++)
        if (lit_eq(mkstr(p + 8, p + 11), months + 3 * i, 3)) mon = i + 1;
    if (day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 ||
        y1 < 0 || y2 < 0 || mon == 0)
        return NULL;
    if (!(p[26] == 'G' && p[27] == 'M' && p[28] == 'T')) return NULL;
    num->time =
        days_from_civil(y1 * 100 + y2, mon, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss;
    num->value = num->time > 0 && num->time < 0xffffffffLL ? (uint32_t)num->time : 0;
    *why = NULL;
    return after;
}

/* ---- one header line ---- */

static inline struct sip_header *new_header(sip_msg_t *msg, sip_hdr_id_t id, sip_hdr_kind_t kind,
                                            sip_str_t name)
{
    struct sip_header *h = sip__msg_alloc(msg, sip__hdr_size(kind));
    if (!h) return NULL;
    h->id = id;
    h->kind = kind;
    h->name = name;
    h->joined = 0;
    h->raw = (sip_str_t){NULL, 0};
    return h;
}

static int kind_allows_empty(sip_hdr_id_t id, sip_hdr_kind_t k)
{
    /* RFC 3261 §25.1: Accept, Accept-Encoding, Accept-Language, Allow, Supported, Subject,
     * Organization and the other free-text headers may be empty. */
    if (k == SIP_HK_TEXT) return 1;
    switch (id) {
    case SIP_HDR_ACCEPT:
    case SIP_HDR_ACCEPT_ENCODING:
    case SIP_HDR_ACCEPT_LANGUAGE:
    case SIP_HDR_ALLOW:
    case SIP_HDR_SUPPORTED:
    case SIP_HDR_ALLOW_EVENTS:
    case SIP_HDR_UNSUPPORTED: return 1;
    default: return 0;
    }
}

int sip__msg_parse_header_value(sip_msg_t *msg, sip_hdr_id_t id, sip_str_t name, const char *v,
                                size_t vlen, int first, sip_parse_error_t *err, unsigned line,
                                unsigned col)
{
    cp p = v, end = v + vlen;
    const char *why = NULL;
    sip_hdr_kind_t kind = (unsigned)id < SIP_HDR__COUNT ? sip__hdr_info[id].kind : SIP_HK_TEXT;
    /* Values are already trimmed by the caller. */
    struct sip_header *prepend_after = NULL, *created = NULL;
    unsigned ncreated = 0;
    if (p == end || kind == SIP_HK_TEXT || id == SIP_HDR_OTHER) {
        if (p == end && !kind_allows_empty(id, kind)) {
            why = "empty value";
            goto fail;
        }
        struct sip_header *h = new_header(msg, id, id == SIP_HDR_OTHER ? SIP_HK_TEXT : kind, name);
        if (!h) return SIP_ENOMEM;
        h->line = line;
        h->value = mkstr(p, end);
        if (kind == SIP_HK_TOKEN) h->v.token.value = h->value, h->v.token.params = mkstr(end, end);
        if (kind == SIP_HK_MEDIA) memset(&h->v.media, 0, sizeof(h->v.media));
        return sip__msg_link(msg, h, first);
    }
    int multi = sip__hdr_info[id].multi;
    for (;;) {
        struct sip_header *h = new_header(msg, id, kind, name);
        if (!h) return SIP_ENOMEM;
        h->line = line;
        h->joined = ncreated > 0; /* later values of a list stay on its line when printed */
        cp s = p, r;
        switch (kind) {
        case SIP_HK_VIA: r = parse_via(&h->v.via, p, end, &why); break;
        case SIP_HK_ADDR: r = addr_value(&h->v.addr, p, end, id, &why); break;
        case SIP_HK_CSEQ: r = parse_cseq(&h->v.cseq, p, end, &why); break;
        case SIP_HK_NUM: r = parse_num(id, &h->v.num, p, end, &why); break;
        case SIP_HK_TOKEN: r = parse_token(id, &h->v.token, p, end, &why); break;
        case SIP_HK_MEDIA: r = parse_media(&h->v.media, p, end, &why); break;
        case SIP_HK_AUTH: r = parse_auth(id, &h->v.auth, p, end, &why); break;
        case SIP_HK_WARNING: r = parse_warning(&h->v.warning, p, end, &why); break;
        case SIP_HK_RACK: r = parse_rack(&h->v.rack, p, end, &why); break;
        case SIP_HK_DATE: r = parse_date(&h->v.num, p, end, &why); break;
        default: r = end; break;
        }
        if (!r) {
            col += (unsigned)(p - v);
            goto fail;
        }
        cp te = r;
        while (te > s && IS(te[-1], SIP__C_WS))
            te--;
        h->value = mkstr(s, te);
        r = skip_ws(r, end);
        if (r < end && !(multi && *r == ',')) {
            why = *r == ',' ? "only one value allowed" : "unexpected character";
            col += (unsigned)(r - v);
            goto fail;
        }
        /* Prepending a list keeps its order: each later value goes after the previous one. */
        if (first && prepend_after) {
            struct sip_header *n = prepend_after;
            h->prev = n;
            h->next = n->next;
            if (n->next)
                n->next->prev = h;
            else
                msg->tail = h;
            n->next = h;
            h->next_same = n->next_same;
            n->next_same = h;
            sip__hlist_t *l = sip__hlist_of(msg, id);
            if (l->last == n) l->last = h;
            l->count++;
            msg->nheaders++;
        } else if (sip__msg_link(msg, h, first)) {
            /* Nothing of h was linked: the values before it go as on a parse failure. */
            while (ncreated--) {
                struct sip_header *next = created->next;
                sip__msg_unlink(msg, created);
                created = next;
            }
            return SIP_ENOMEM;
        }
        prepend_after = h;
        if (!created) created = h;
        ncreated++;
        if (r >= end) return 0;
        p = skip_ws(r + 1, end);
        if (p >= end) {
            why = "empty list element";
            col += (unsigned)(r - v);
            goto fail;
        }
    }
fail:
    /* A failed edit must leave the message as it was: drop the values this call linked. */
    while (ncreated--) {
        struct sip_header *next = created->next;
        sip__msg_unlink(msg, created);
        created = next;
    }
    if (err) {
        memset(err, 0, sizeof(*err));
        err->code = SIP_EPARSE;
        err->line = line;
        err->column = col;
        sip_str_copy(name, err->header, sizeof(err->header));
        const char *hn = id != SIP_HDR_OTHER ? sip_hdr_name(id) : NULL;
        snprintf(err->reason, sizeof(err->reason), "%s header: %s", hn ? hn : err->header,
                 why ? why : "malformed");
        err->status = 400;
        snprintf(err->phrase, sizeof(err->phrase), "Bad Request (Malformed %s header)",
                 hn ? hn : err->header);
    }
    return SIP_EPARSE;
}
