/* SPDX-License-Identifier: MIT */
/* SDP parser: line order and field grammar of RFC 8866 §5 and §9. */
#include <string.h>

#include "sdp/sdp_int.h"

/* ---- field helpers --------------------------------------------------------------------------- */

/* RFC 8866 §9: token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E */
static int token_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d ||
           c == 0x2e || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
           (c >= 0x5e && c <= 0x7e);
}

static int is_token(sip_str_t s)
{
    if (s.len == 0) return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!token_char((unsigned char)s.ptr[i])) return 0;
    return 1;
}

/* non-ws-string = 1*(VCHAR / %x80-FF) */
static int is_nonws(sip_str_t s)
{
    if (s.len == 0) return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

static int is_digits(sip_str_t s)
{
    if (s.len == 0) return 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9') return 0;
    return 1;
}

static int to_u64(sip_str_t s, uint64_t *out)
{
    uint64_t v = 0;
    if (!is_digits(s)) return -1;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Fields are separated by SP (RFC 8866 §9); runs of SP are tolerated. Returns 0 at the end. */
static int next_field(sip_str_t *rest, sip_str_t *f)
{
    size_t i = 0;
    while (i < rest->len && rest->ptr[i] == ' ')
        i++;
    if (i == rest->len) {
        rest->ptr += i;
        rest->len = 0;
        return 0;
    }
    size_t j = i;
    while (j < rest->len && rest->ptr[j] != ' ')
        j++;
    f->ptr = rest->ptr + i;
    f->len = j - i;
    rest->ptr += j;
    rest->len -= j;
    return 1;
}

/* Where a missing field would have started: just past the previous one. */
static const char *end_of(sip_str_t rest)
{
    return rest.ptr;
}

/* typed-time = 1*DIGIT [fixed-len-time-unit] ; fixed-len-time-unit = "d" / "h" / "m" / "s" */
static int typed_time(sip_str_t s, uint64_t *out)
{
    static const char units[] = "dhms";
    static const uint64_t secs[] = {86400, 3600, 60, 1};
    uint64_t mult = 1;
    if (s.len && !(s.ptr[s.len - 1] >= '0' && s.ptr[s.len - 1] <= '9')) {
        const char *u = strchr(units, s.ptr[s.len - 1]);
        if (!u || !*u) return -1;
        mult = secs[u - units];
        s.len--;
    }
    uint64_t v;
    if (to_u64(s, &v) != 0 || v > UINT64_MAX / mult) return -1;
    *out = v * mult;
    return 0;
}

int sip__sdp_check_text(sdp_ctx_t *ctx, sip_str_t v, int allow_empty)
{
    if (v.len == 0 && !allow_empty) return sip__sdp_fail(ctx, v.ptr, "empty value");
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c == 0 || c == '\r' || c == '\n')
            return sip__sdp_fail(ctx, v.ptr + i, "invalid octet 0x%02x", c);
    }
    return 0;
}

/* ---- one parser per line type ---------------------------------------------------------------- */

/* RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
int sip__sdp_parse_origin(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_origin_t *o)
{
    static const char *const what[6] = {"username",     "session id",   "session version",
                                        "network type", "address type", "address"};
    sip_str_t *dst[6] = {&o->username, &o->sess_id,  &o->sess_version,
                         &o->nettype,  &o->addrtype, &o->address};
    sip_str_t rest = v, f;
    for (int i = 0; i < 6; i++) {
        if (!next_field(&rest, &f)) return sip__sdp_fail(ctx, end_of(rest), "missing %s", what[i]);
        *dst[i] = f;
    }
    if (next_field(&rest, &f)) return sip__sdp_fail(ctx, f.ptr, "more than 6 fields");
    if (!is_nonws(o->username)) return sip__sdp_fail(ctx, o->username.ptr, "invalid username");
    if (!is_digits(o->sess_id))
        return sip__sdp_fail(ctx, o->sess_id.ptr, "session id is not a number");
    if (!is_digits(o->sess_version))
        return sip__sdp_fail(ctx, o->sess_version.ptr, "session version is not a number");
    if (!is_token(o->nettype)) return sip__sdp_fail(ctx, o->nettype.ptr, "invalid network type");
    if (!is_token(o->addrtype)) return sip__sdp_fail(ctx, o->addrtype.ptr, "invalid address type");
    if (!is_nonws(o->address)) return sip__sdp_fail(ctx, o->address.ptr, "invalid address");
    return 0;
}

/* An IP4 address or FQDN (RFC 8866 §9 IP4-address / FQDN), or for IP6 also hex and colons. */
static int addr_ok(sip_str_t a, int ip6)
{
    if (a.len == 0) return 0;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char c = (unsigned char)a.ptr[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '.' || c == '-' || (ip6 && c == ':');
        if (!ok) return 0;
    }
    return 1;
}

/* RFC 8866 §5.7: c=<nettype> <addrtype> <connection-address>; for IN the address may end in
 * "/<ttl>[/<number of addresses>]" (IP4) or "/<number of addresses>" (IP6). */
int sip__sdp_parse_conn(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_conn_t *c)
{
    sip_str_t rest = v, f;
    memset(c, 0, sizeof(*c));
    c->ttl = -1;
    c->count = 1;
    if (!next_field(&rest, &c->nettype))
        return sip__sdp_fail(ctx, end_of(rest), "missing network type");
    if (!next_field(&rest, &c->addrtype))
        return sip__sdp_fail(ctx, end_of(rest), "missing address type");
    if (!next_field(&rest, &c->address)) return sip__sdp_fail(ctx, end_of(rest), "missing address");
    if (next_field(&rest, &f)) return sip__sdp_fail(ctx, f.ptr, "more than 3 fields");
    if (!is_token(c->nettype)) return sip__sdp_fail(ctx, c->nettype.ptr, "invalid network type");
    if (!is_token(c->addrtype)) return sip__sdp_fail(ctx, c->addrtype.ptr, "invalid address type");
    if (!sip_str_eq(c->nettype, SIP_STR("IN"))) {
        /* Other network types define their own address syntax: keep it as written. */
        if (!is_nonws(c->address)) return sip__sdp_fail(ctx, c->address.ptr, "invalid address");
        return 0;
    }
    int ip6 = sip_str_eq(c->addrtype, SIP_STR("IP6"));
    if (!ip6 && !sip_str_eq(c->addrtype, SIP_STR("IP4")))
        return sip__sdp_fail(ctx, c->addrtype.ptr, "unknown address type (IP4 or IP6 expected)");
    const char *slash = memchr(c->address.ptr, '/', c->address.len);
    const char *end = c->address.ptr + c->address.len;
    if (slash) c->address.len = (size_t)(slash - c->address.ptr);
    if (!addr_ok(c->address, ip6)) return sip__sdp_fail(ctx, c->address.ptr, "invalid address");
    if (!slash) return 0;
    const char *p = slash + 1;
    const char *slash2 = memchr(p, '/', (size_t)(end - p));
    sip_str_t n1 = {p, (size_t)((slash2 ? slash2 : end) - p)};
    unsigned long n;
    if (ip6) {
        /* IP6 multicast has no TTL (RFC 8866 §5.7): the only suffix is the address count. */
        if (slash2) return sip__sdp_fail(ctx, slash2, "IP6 address takes only /<count>");
        if (sip_str_to_u32(n1, 0xffffUL, &n) != 0 || n == 0)
            return sip__sdp_fail(ctx, p, "invalid address count");
        c->count = (unsigned)n;
        return 0;
    }
    if (sip_str_to_u32(n1, 255, &n) != 0) return sip__sdp_fail(ctx, p, "invalid TTL");
    c->ttl = (int)n;
    if (slash2) {
        sip_str_t n2 = {slash2 + 1, (size_t)(end - slash2 - 1)};
        if (sip_str_to_u32(n2, 0xffffUL, &n) != 0 || n == 0)
            return sip__sdp_fail(ctx, slash2 + 1, "invalid address count");
        c->count = (unsigned)n;
    }
    return 0;
}

/* RFC 8866 §5.8: b=<bwtype>:<bandwidth> */
int sip__sdp_parse_bw(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_bandwidth_t *b)
{
    const char *colon = memchr(v.ptr, ':', v.len);
    if (!colon) return sip__sdp_fail(ctx, v.ptr + v.len, "missing ':'");
    b->type.ptr = v.ptr;
    b->type.len = (size_t)(colon - v.ptr);
    if (!is_token(b->type)) return sip__sdp_fail(ctx, v.ptr, "invalid bandwidth type");
    sip_str_t num = {colon + 1, v.len - b->type.len - 1};
    if (to_u64(num, &b->value) != 0)
        return sip__sdp_fail(ctx, num.ptr, "bandwidth is not a number");
    return 0;
}

/* RFC 8866 §5.9: t=<start-time> <stop-time> */
int sip__sdp_parse_time(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_time_t *t)
{
    sip_str_t rest = v, a, b, f;
    if (!next_field(&rest, &a)) return sip__sdp_fail(ctx, end_of(rest), "missing start time");
    if (!next_field(&rest, &b)) return sip__sdp_fail(ctx, end_of(rest), "missing stop time");
    if (next_field(&rest, &f)) return sip__sdp_fail(ctx, f.ptr, "more than 2 fields");
    if (to_u64(a, &t->start) != 0) return sip__sdp_fail(ctx, a.ptr, "start time is not a number");
    if (to_u64(b, &t->stop) != 0) return sip__sdp_fail(ctx, b.ptr, "stop time is not a number");
    return 0;
}

/* RFC 8866 §5.10: r=<repeat interval> <active duration> <offsets from start-time> */
int sip__sdp_parse_repeat(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, sdp_repeat_t *r)
{
    sip_str_t rest = v, f;
    size_t n = 0;
    while (next_field(&rest, &f))
        n++;
    if (n < 3) return sip__sdp_fail(ctx, end_of(rest), "needs interval, duration and offsets");
    r->offsets = sip__sdp_alloc(sdp, (n - 2) * sizeof(uint64_t));
    if (!r->offsets) return SIP_ENOMEM;
    rest = v;
    for (size_t i = 0; next_field(&rest, &f); i++) {
        uint64_t t;
        if (typed_time(f, &t) != 0) return sip__sdp_fail(ctx, f.ptr, "invalid time");
        /* repeat-interval = POS-DIGIT *DIGIT [fixed-len-time-unit] */
        if (i == 0 && f.ptr[0] == '0') return sip__sdp_fail(ctx, f.ptr, "invalid repeat interval");
        if (i == 0)
            r->pub.interval = t;
        else if (i == 1)
            r->pub.duration = t;
        else
            r->offsets[i - 2] = t;
    }
    r->pub.offset_count = n - 2;
    return 0;
}

/* RFC 8866 §5.11: z=<adjustment time> <offset> <adjustment time> <offset> ... */
int sip__sdp_parse_zone(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, sdp_time_t *t)
{
    sip_str_t rest = v, f;
    size_t n = 0;
    while (next_field(&rest, &f))
        n++;
    if (n == 0) return sip__sdp_fail(ctx, v.ptr, "missing adjustment time");
    if (n % 2) return sip__sdp_fail(ctx, end_of(rest), "missing offset");
    t->zones = sip__sdp_alloc(sdp, n / 2 * sizeof(sip_sdp_zone_t));
    if (!t->zones) return SIP_ENOMEM;
    rest = v;
    for (size_t i = 0; next_field(&rest, &f); i++) {
        sip_sdp_zone_t *z = &t->zones[i / 2];
        if (i % 2 == 0) {
            if (to_u64(f, &z->time) != 0) return sip__sdp_fail(ctx, f.ptr, "invalid time");
            continue;
        }
        int neg = f.ptr[0] == '-';
        sip_str_t o = {f.ptr + neg, f.len - (size_t)neg};
        uint64_t s;
        if (typed_time(o, &s) != 0 || s > (uint64_t)INT64_MAX)
            return sip__sdp_fail(ctx, f.ptr, "invalid offset");
        z->offset = neg ? -(int64_t)s : (int64_t)s;
    }
    t->pub.zone_count = n / 2;
    return 0;
}

/* RFC 8866 §5.12: k=<method> or k=<method>:<encryption key> */
int sip__sdp_parse_key(sdp_ctx_t *ctx, sip_str_t v)
{
    const char *colon = memchr(v.ptr, ':', v.len);
    sip_str_t m = {v.ptr, colon ? (size_t)(colon - v.ptr) : v.len};
    if (!is_token(m)) return sip__sdp_fail(ctx, v.ptr, "invalid key method");
    return 0;
}

/* RFC 8866 §5.13: a=<attribute-name> or a=<attribute-name>:<attribute-value> */
int sip__sdp_parse_attr(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_attr_t *a)
{
    const char *colon = memchr(v.ptr, ':', v.len);
    a->name.ptr = v.ptr;
    a->name.len = colon ? (size_t)(colon - v.ptr) : v.len;
    if (a->name.len == 0) return sip__sdp_fail(ctx, v.ptr, "missing attribute name");
    if (!is_token(a->name)) return sip__sdp_fail(ctx, v.ptr, "invalid attribute name");
    a->has_value = colon != NULL;
    a->value.ptr = colon ? colon + 1 : v.ptr + v.len;
    a->value.len = colon ? v.len - a->name.len - 1 : 0;
    return 0;
}

/* RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ... */
int sip__sdp_parse_media(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, struct sip_sdp_media *m)
{
    sip_str_t rest = v, port, f;
    unsigned long n;
    if (!next_field(&rest, &m->type)) return sip__sdp_fail(ctx, v.ptr, "missing media type");
    if (!is_token(m->type)) return sip__sdp_fail(ctx, m->type.ptr, "invalid media type");
    if (!next_field(&rest, &port)) return sip__sdp_fail(ctx, end_of(rest), "missing port");
    if (!next_field(&rest, &m->proto)) return sip__sdp_fail(ctx, end_of(rest), "missing proto");
    const char *slash = memchr(port.ptr, '/', port.len);
    sip_str_t pnum = {port.ptr, slash ? (size_t)(slash - port.ptr) : port.len};
    if (sip_str_to_u32(pnum, 65535, &n) != 0) return sip__sdp_fail(ctx, port.ptr, "invalid port");
    m->port = (unsigned)n;
    m->nports = 1;
    if (slash) {
        sip_str_t cnt = {slash + 1, port.len - pnum.len - 1};
        if (sip_str_to_u32(cnt, 65535, &n) != 0 || n == 0)
            return sip__sdp_fail(ctx, slash + 1, "invalid number of ports");
        m->nports = (unsigned)n;
    }
    /* proto = token *("/" token) */
    size_t start = 0;
    for (size_t i = 0; i <= m->proto.len; i++) {
        if (i < m->proto.len && m->proto.ptr[i] != '/') continue;
        sip_str_t part = {m->proto.ptr + start, i - start};
        if (!is_token(part)) return sip__sdp_fail(ctx, m->proto.ptr, "invalid proto");
        start = i + 1;
    }
    sip_str_t fmts = rest;
    size_t count = 0;
    while (next_field(&rest, &f)) {
        if (!is_token(f)) return sip__sdp_fail(ctx, f.ptr, "invalid format");
        count++;
    }
    if (count == 0) return sip__sdp_fail(ctx, end_of(rest), "missing format");
    m->fmts = sip__sdp_alloc(sdp, count * sizeof(sip_str_t));
    if (!m->fmts) return SIP_ENOMEM;
    rest = fmts;
    for (size_t i = 0; next_field(&rest, &f); i++)
        m->fmts[i] = f;
    m->nfmts = count;
    return 0;
}

/* ---- line structure -------------------------------------------------------------------------- */

/* Session-level order of RFC 8866 §5/§9 (the index is the rank); r= and z= rank with t=. */
static int session_rank(char t)
{
    static const char order[] = "vosiuepcbtkam";
    if (t == 'r' || t == 'z') t = 't';
    const char *p = t ? strchr(order, t) : NULL;
    return p ? (int)(p - order) : -1;
}

/* Media-level order: m= i= c=* b=* k= a=* */
static int media_rank(char t)
{
    static const char order[] = "micbka";
    const char *p = t ? strchr(order, t) : NULL;
    return p ? (int)(p - order) : -1;
}

static int singular(char t)
{
    return t == 'v' || t == 'o' || t == 's' || t == 'i' || t == 'u' || t == 'c' || t == 'k';
}

#define APPEND(list, node)                                                                         \
    do {                                                                                           \
        if ((list).last)                                                                           \
            (list).last->next = (node);                                                            \
        else                                                                                       \
            (list).first = (node);                                                                 \
        (list).last = (node);                                                                      \
        (list).count++;                                                                            \
    } while (0)

typedef struct pstate {
    sdp_ctx_t ctx;
    sip_sdp_t *sdp;
    int rank;   /* session rank of the last session line, -1 before v= */
    int mrank;  /* media rank inside the current media */
    int tstate; /* 0: not in a time description, 1: after t= or r=, 2: after z= */
    struct sip_sdp_media *m;
} pstate_t;

static int add_str(sip_sdp_t *sdp, sdp_strlist_t *l, sip_str_t v)
{
    sdp_strnode_t *n = sip__sdp_alloc(sdp, sizeof(*n));
    if (!n) return SIP_ENOMEM;
    n->s = v;
    APPEND(*l, n);
    return 0;
}

static int session_line(pstate_t *ps, char t, sip_str_t v)
{
    sdp_ctx_t *ctx = &ps->ctx;
    sip_sdp_t *sdp = ps->sdp;
    int r = session_rank(t);
    int rc;

    /* RFC 8866 §5: v=, o= and s= open every description, in that order. */
    if (ps->rank < 0 && t != 'v') return sip__sdp_fail(ctx, NULL, "expected v= first");
    if (ps->rank == 0 && t != 'o') return sip__sdp_fail(ctx, NULL, "expected o= after v=");
    if (ps->rank == 1 && t != 's') return sip__sdp_fail(ctx, NULL, "expected s= after o=");
    if (r < ps->rank) return sip__sdp_fail(ctx, NULL, "out of order");
    if (r == ps->rank && singular(t)) return sip__sdp_fail(ctx, NULL, "repeated");
    if (r > 9 && !sdp->tfirst) return sip__sdp_fail(ctx, NULL, "missing t= before this line");
    if (t == 'r' && ps->tstate != 1) return sip__sdp_fail(ctx, NULL, "r= must follow t= or r=");
    if (t == 'z' && ps->tstate != 1) return sip__sdp_fail(ctx, NULL, "z= must follow t= or r=");
    ps->rank = r;

    switch (t) {
    case 'v':
        /* RFC 8866 §5.1: v=0, there is no minor number. */
        if (!sip_str_eq(v, SIP_STR("0"))) return sip__sdp_fail(ctx, v.ptr, "version must be 0");
        return 0;
    case 'o': sdp->origin_raw = v; return sip__sdp_parse_origin(ctx, v, &sdp->origin);
    case 's':
        /* RFC 8866 §5.3 asks for at least one character ("s= "), but RFC 5118 §4.8 treats an
         * empty s= as valid, and so do deployed stacks. */
        if ((rc = sip__sdp_check_text(ctx, v, 1)) != 0) return rc;
        sdp->name = v;
        return 0;
    case 'i':
    case 'u':
    case 'e':
    case 'p':
        if ((rc = sip__sdp_check_text(ctx, v, 0)) != 0) return rc;
        if (t == 'i') sdp->info = v;
        if (t == 'u') sdp->uri = v;
        if (t == 'e') return add_str(sdp, &sdp->emails, v);
        if (t == 'p') return add_str(sdp, &sdp->phones, v);
        return 0;
    case 'c': {
        sdp_conn_t *c = sip__sdp_alloc(sdp, sizeof(*c));
        if (!c) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_conn(ctx, v, &c->pub)) != 0) return rc;
        c->raw = v;
        sdp->conn = c;
        return 0;
    }
    case 'b': {
        sdp_bw_t *b = sip__sdp_alloc(sdp, sizeof(*b));
        if (!b) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_bw(ctx, v, &b->pub)) != 0) return rc;
        b->raw = v;
        APPEND(sdp->bws, b);
        return 0;
    }
    case 't': {
        sdp_time_t *tm = sip__sdp_alloc(sdp, sizeof(*tm));
        if (!tm) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_time(ctx, v, &tm->pub)) != 0) return rc;
        tm->raw = v;
        if (sdp->tlast)
            sdp->tlast->next = tm;
        else
            sdp->tfirst = tm;
        sdp->tlast = tm;
        sdp->ntimes++;
        ps->tstate = 1;
        return 0;
    }
    case 'r': {
        sdp_repeat_t *rp = sip__sdp_alloc(sdp, sizeof(*rp));
        if (!rp) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_repeat(ctx, sdp, v, rp)) != 0) return rc;
        rp->raw = v;
        sdp_time_t *tm = sdp->tlast;
        if (tm->rlast)
            tm->rlast->next = rp;
        else
            tm->rfirst = rp;
        tm->rlast = rp;
        tm->pub.repeat_count++;
        return 0;
    }
    case 'z':
        /* RFC 8866 §5: at most one z= per time description, after its r= lines. */
        if ((rc = sip__sdp_parse_zone(ctx, sdp, v, sdp->tlast)) != 0) return rc;
        sdp->tlast->zraw = v;
        ps->tstate = 2;
        return 0;
    case 'k':
        if ((rc = sip__sdp_parse_key(ctx, v)) != 0) return rc;
        sdp->key = v;
        return 0;
    case 'a': {
        sdp_attr_t *a = sip__sdp_alloc(sdp, sizeof(*a));
        if (!a) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_attr(ctx, v, &a->pub)) != 0) return rc;
        APPEND(sdp->attrs, a);
        return 0;
    }
    default: return sip__sdp_fail(ctx, NULL, "unknown line type");
    }
}

static int media_line(pstate_t *ps, char t, sip_str_t v)
{
    sdp_ctx_t *ctx = &ps->ctx;
    sip_sdp_t *sdp = ps->sdp;
    struct sip_sdp_media *m = ps->m;
    int r = media_rank(t);
    int rc;

    if (r < 0) {
        if (session_rank(t) >= 0)
            return sip__sdp_fail(ctx, NULL, "not allowed in a media description");
        return sip__sdp_fail(ctx, NULL, "unknown line type");
    }
    if (r < ps->mrank) return sip__sdp_fail(ctx, NULL, "out of order");
    if (r == ps->mrank && (t == 'i' || t == 'k')) return sip__sdp_fail(ctx, NULL, "repeated");
    ps->mrank = r;
    switch (t) {
    case 'i':
        if ((rc = sip__sdp_check_text(ctx, v, 0)) != 0) return rc;
        m->info = v;
        return 0;
    case 'c': {
        sdp_conn_t *c = sip__sdp_alloc(sdp, sizeof(*c));
        if (!c) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_conn(ctx, v, &c->pub)) != 0) return rc;
        c->raw = v;
        APPEND(m->conns, c);
        return 0;
    }
    case 'b': {
        sdp_bw_t *b = sip__sdp_alloc(sdp, sizeof(*b));
        if (!b) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_bw(ctx, v, &b->pub)) != 0) return rc;
        b->raw = v;
        APPEND(m->bws, b);
        return 0;
    }
    case 'k':
        if ((rc = sip__sdp_parse_key(ctx, v)) != 0) return rc;
        m->key = v;
        return 0;
    default: { /* 'a' */
        sdp_attr_t *a = sip__sdp_alloc(sdp, sizeof(*a));
        if (!a) return SIP_ENOMEM;
        if ((rc = sip__sdp_parse_attr(ctx, v, &a->pub)) != 0) return rc;
        APPEND(m->attrs, a);
        return 0;
    }
    }
}

static int new_media(pstate_t *ps, sip_str_t v)
{
    sip_sdp_t *sdp = ps->sdp;
    struct sip_sdp_media *m = sip__sdp_alloc(sdp, sizeof(*m));
    if (!m) return SIP_ENOMEM;
    int rc = sip__sdp_parse_media(&ps->ctx, sdp, v, m);
    if (rc) return rc;
    m->sdp = sdp;
    m->raw = v;
    if (sdp->mlast)
        sdp->mlast->next = m;
    else
        sdp->mfirst = m;
    sdp->mlast = m;
    sdp->nmedia++;
    ps->m = m;
    ps->mrank = 0;
    return 0;
}

/* GB/T 28181-2016 Annex F adds y= (the RTP SSRC, ten digits) and f= (the media format:
 * v/codec/resolution/frame rate/rate type/bit rate a/codec/bit rate/sample rate) to the
 * descriptions of its INVITEs, after t= and usually after the media's a= lines. RFC 8866 §5
 * lets a parser refuse unknown types; these two are kept instead (one of each per
 * description, wherever they appear) so that a GB28181 peer's offer parses and prints back. */
static int gb28181_line(pstate_t *ps, char t, sip_str_t v)
{
    sdp_ctx_t *ctx = &ps->ctx;
    sip_str_t *slot = t == 'y' ? &ps->sdp->ssrc : &ps->sdp->format;
    int rc;
    if (ps->rank < 2 || !ps->sdp->tfirst)
        return sip__sdp_fail(ctx, NULL, "missing t= before this line");
    if (slot->ptr) return sip__sdp_fail(ctx, NULL, "repeated");
    /* An offer may leave f= empty: any format. */
    if ((rc = sip__sdp_check_text(ctx, v, t == 'f')) != 0) return rc;
    *slot = v;
    return 0;
}

static int parse_lines(pstate_t *ps, const char *p, size_t len)
{
    size_t pos = 0;
    unsigned lineno = 0;
    sdp_ctx_t *ctx = &ps->ctx;

    while (pos < len) {
        lineno++;
        const char *nl = memchr(p + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - p) : len;
        size_t next = nl ? end + 1 : len;
        /* RFC 8866 §5: lines end in CRLF; a bare LF is accepted too (robustness). */
        if (end > pos && p[end - 1] == '\r') end--;
        ctx->line = lineno;
        ctx->type = 0;
        ctx->line_start = p + pos;
        if (end == pos) {
            /* Blank lines may trail the description (a body padded with CRLF), nowhere else. */
            for (size_t i = next; i < len; i++)
                if (p[i] != '\r' && p[i] != '\n') return sip__sdp_fail(ctx, p + pos, "empty line");
            break;
        }
        if (end - pos < 2 || p[pos + 1] != '=')
            return sip__sdp_fail(ctx, p + pos, "expected <type>=<value>");
        char t = p[pos];
        if (t < 'a' || t > 'z') return sip__sdp_fail(ctx, p + pos, "invalid line type");
        ctx->type = t;
        sip_str_t v = {p + pos + 2, end - pos - 2};
        /* RFC 8866 §9: values never hold NUL, CR or LF. */
        for (size_t i = 0; i < v.len; i++)
            if (v.ptr[i] == '\0' || v.ptr[i] == '\r')
                return sip__sdp_fail(ctx, v.ptr + i, "invalid octet 0x%02x",
                                     (unsigned char)v.ptr[i]);
        int rc;
        if (t == 'y' || t == 'f')
            rc = gb28181_line(ps, t, v);
        else if (session_rank(t) < 0)
            rc = sip__sdp_fail(ctx, NULL, "unknown line type");
        else if (t == 'm') {
            if (ps->rank < 2 || !ps->sdp->tfirst)
                rc = session_line(ps, t, v); /* reports what is missing */
            else {
                ps->rank = 12;
                rc = new_media(ps, v);
            }
        } else if (ps->m)
            rc = media_line(ps, t, v);
        else
            rc = session_line(ps, t, v);
        if (rc) return rc;
        pos = next;
    }
    ctx->line = lineno + 1;
    ctx->type = 0;
    ctx->line_start = NULL;
    if (ps->rank < 0) return sip__sdp_fail(ctx, NULL, "empty description");
    if (ps->rank < 1) return sip__sdp_fail(ctx, NULL, "missing o= line");
    if (ps->rank < 2) return sip__sdp_fail(ctx, NULL, "missing s= line");
    if (!ps->sdp->tfirst) return sip__sdp_fail(ctx, NULL, "missing t= line");
    return 0;
}

int sip_sdp_parse(sip_sdp_t **out, const char *buf, size_t len, sip_sdp_error_t *err)
{
    if (err) memset(err, 0, sizeof(*err));
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!buf && len) return SIP_EINVAL;
    /* The first chunk holds the copy and, for typical bodies, every record too. */
    size_t extra = len < ((size_t)-1) / 4 ? len * 2 : 0;
    sip_sdp_t *sdp = sip__sdp_new(len + 1 + extra);
    if (!sdp) return SIP_ENOMEM;
    sip_str_t copy;
    if (sip__sdp_dup(sdp, buf ? buf : "", len, &copy) != 0) {
        sip_sdp_unref(sdp);
        return SIP_ENOMEM;
    }
    pstate_t ps = {.ctx = {.err = err}, .sdp = sdp, .rank = -1};
    int rc = parse_lines(&ps, copy.ptr, copy.len);
    if (rc) {
        if (err && rc != SIP_ESDP) memset(err, 0, sizeof(*err));
        sip_sdp_unref(sdp);
        return rc;
    }
    *out = sdp;
    return 0;
}
