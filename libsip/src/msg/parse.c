/* SPDX-License-Identifier: MIT */
/* Message parser: start line, header section (folding, compact forms, lists), body framing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "msg/chars.h"
#include "msg/msg_int.h"

void sip_parse_opts_init(sip_parse_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->max_size = 65536;
    opts->max_headers = 256;
    opts->max_line = 8192;
    opts->stream = 0;
}

static int fail(sip_parse_error_t *err, int is_request, int code, unsigned line, unsigned col,
                const char *header, int status, const char *phrase, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    err->line = line;
    err->column = col;
    snprintf(err->header, sizeof(err->header), "%s", header ? header : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    /* RFC 3261 §18.1.2 / §8.1.3.3: a malformed response is discarded, never answered. */
    err->status = is_request ? status : 0;
    snprintf(err->phrase, sizeof(err->phrase), "%s", is_request ? phrase : "");
    return code;
}

#define BAD(line, col, hdr, ...)                                                                   \
    fail(err, is_request, SIP_EPARSE, (line), (col), (hdr), 400, "Bad Request", __VA_ARGS__)

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is served (RFC 3261 §7.1). Returns 0 for
 * 2.0, 1 for another well-formed version, -1 when malformed. */
static int check_version(const char *p, size_t n)
{
    if (n == 7 && memcmp(p, "SIP/2.0", 7) == 0) return 0; /* as nearly every message writes it */
    if (n < 7 || (p[0] | 0x20) != 's' || (p[1] | 0x20) != 'i' || (p[2] | 0x20) != 'p' ||
        p[3] != '/')
        return -1;
    size_t i = 4, d1 = 0, d2 = 0;
    while (i < n && IS(p[i], SIP__C_DIGIT))
        i++, d1++;
    if (!d1 || i >= n || p[i] != '.') return -1;
    i++;
    while (i < n && IS(p[i], SIP__C_DIGIT))
        i++, d2++;
    if (!d2 || i != n) return -1;
    return (n == 7 && p[4] == '2' && p[6] == '0') ? 0 : 1;
}

/* Ends of the line starting at p: *le is the end of content (before CR LF or LF), returns the
 * start of the next line, or NULL when no LF follows. Bare LF is accepted as a line end: RFC 5118's
 * archive and many old peers send it. */
static inline const char *line_end(const char *p, const char *end, const char **le)
{
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) return NULL;
    *le = (e > p && e[-1] == '\r') ? e - 1 : e;
    return e + 1;
}

/* Whether the control octet at q (an octet below 0x20 or DEL, not a line end) may stand in a line
 * that starts at start: HTAB as whitespace, and an octet other than CR escaped by a quoted-pair
 * (RFC 3261 §25.1; RFC 4475 intmeth's display name holds an escaped BEL, NUL and DEL: the
 * header's own grammar says where a quoted-pair may stand). */
static int control_ok(const char *q, const char *start)
{
    char c = *q;
    if (c == '\t') return 1;
    if (c == '\r' || c == '\n') return 0;
    size_t bs = 0;
    while (q - bs > start && q[-1 - (ptrdiff_t)bs] == '\\')
        bs++;
    return (int)(bs & 1);
}

/* line_end() for the start line and header section, which also checks every octet on the way:
 * *bad receives the first one that may not stand there (see control_ok()), and the return value
 * then means nothing. A bare CR is the dangerous one: Sofia-SIP and oSIP2 end the line there, so a
 * proxy that took it as whitespace would forward a header (a second Via) that it never saw.
 * Finding the line end and checking its octets is one pass: sixteen octets a step where SSE2 is
 * (every x86-64), reading up to 15 octets past end (the parser's copy of the input is followed by
 * 16 NULs); elsewhere memchr() and a check eight octets a step. */
static inline const char *line_scan(const char *p, const char *end, const char **le,
                                    const char **bad)
{
    const char *start = p;
    *bad = NULL;
#ifdef __SSE2__
    const __m128i lim = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
    for (; p < end; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* o < 0x20 (unsigned) exactly when max(o, 0x1f) == 0x1f. */
        __m128i c = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, lim), lim), _mm_cmpeq_epi8(x, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(c);
        for (; mask; mask &= mask - 1) {
            const char *q = p + __builtin_ctz(mask);
            /* Past the end: the NULs after the copy, never a line. */
            if (q >= end) return NULL;
            if (*q == '\n') {
                /* Bare LF is accepted as a line end: RFC 5118's archive and old peers send it. */
                *le = q;
                return q + 1;
            }
            /* q[1] is readable: the copy ends with NULs. */
            if (*q == '\r' && q[1] == '\n') {
                *le = q;
                return q + 2;
            }
            if (!control_ok(q, start)) {
                *bad = q;
                return q;
            }
        }
    }
    return NULL;
#else
    const char *next = line_end(p, end, le);
    const char *stop = next ? *le : end;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (p < stop) {
        if (stop - p >= 8) {
            uint64_t x, y;
            memcpy(&x, p, 8);
            y = x ^ (0x7f * ones);
            /* High bit set for a byte below 0x20 (bytes >= 0x80, UTF-8, are excluded by ~x) or
             * equal to 0x7f; a false alarm only sends these eight octets to the exact check. */
            if (!((((x - 0x20 * ones) & ~x) | ((y - ones) & ~y)) & highs)) {
                p += 8;
                continue;
            }
        }
        const char *lim8 = stop - p >= 8 ? p + 8 : stop;
        for (; p < lim8; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c >= 0x20 && c != 0x7f) || control_ok(p, start)) continue;
            *bad = p;
            return p;
        }
    }
    return next;
#endif
}

/* End of the token starting at p, four octets a step (one loop branch per four octets). */
static inline const char *token_end(const char *p, const char *le)
{
    while (le - p >= 4) {
        if (!IS(p[0], SIP__C_TOKEN)) return p;
        if (!IS(p[1], SIP__C_TOKEN)) return p + 1;
        if (!IS(p[2], SIP__C_TOKEN)) return p + 2;
        if (!IS(p[3], SIP__C_TOKEN)) return p + 3;
        p += 4;
    }
    while (p < le && IS(*p, SIP__C_TOKEN))
        p++;
    return p;
}

static int parse_start_line(sip_msg_t *msg, const char *p, const char *le, sip_parse_error_t *err)
{
    int is_request = 1;
    size_t n = (size_t)(le - p);
    if (n >= 4 && memcmp(p, "SIP/", 4) == 0) {
        is_request = 0;
        msg->is_request = 0;
        const char *sp = memchr(p, ' ', n);
        if (!sp) return BAD(1, 1, NULL, "status line: missing status code");
        int v = check_version(p, (size_t)(sp - p));
        if (v < 0) return BAD(1, 1, NULL, "status line: malformed SIP version");
        if (v > 0)
            return fail(err, 0, SIP_EVERSION, 1, 1, NULL, 505, "Version Not Supported",
                        "status line: unsupported SIP version %.*s", (int)(sp - p), p);
        msg->version = (sip_str_t){p, (size_t)(sp - p)};
        const char *c = sp + 1;
        /* Status-Code = 3DIGIT, then SP (RFC 4475 bigcode sends ten digits). */
        if (le - c < 3 || !IS(c[0], SIP__C_DIGIT) || !IS(c[1], SIP__C_DIGIT) ||
            !IS(c[2], SIP__C_DIGIT) || (le - c > 3 && c[3] != ' '))
            return BAD(1, (unsigned)(c - p) + 1, NULL, "status line: status code must be 3 digits");
        int st = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
        if (st < 100 || st > 699)
            return BAD(1, (unsigned)(c - p) + 1, NULL, "status line: status code %d out of range",
                       st);
        msg->status = st;
        const char *r = c + 3 < le ? c + 4 : le;
        for (const char *q = r; q < le; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return BAD(1, (unsigned)(q - p) + 1, NULL, "status line: control octet in reason");
        msg->reason = (sip_str_t){r, (size_t)(le - r)};
        return 0;
    }
    msg->is_request = 1;
    /* Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly single SPs (RFC 4475
     * lwsstart, trws, lwsruri). */
    const char *q = token_end(p, le);
    if (q == p || q >= le || *q != ' ')
        return BAD(1, (unsigned)(q - p) + 1, NULL, "request line: malformed method");
    msg->method_str = (sip_str_t){p, (size_t)(q - p)};
    msg->method = sip_method_from_str(p, (size_t)(q - p));
    const char *us = q + 1;
    const char *ue = memchr(us, ' ', (size_t)(le - us));
    if (!ue) return BAD(1, (unsigned)(us - p) + 1, NULL, "request line: missing SIP version");
    if (ue == us) return BAD(1, (unsigned)(us - p) + 1, NULL, "request line: extra blank");
    const char *vs = ue + 1;
    /* The version nearly always reads exactly "SIP/2.0": one compare instead of the blank
     * searches and the grammar check. */
    int v = 0;
    if (le - vs != 7 || memcmp(vs, "SIP/2.0", 7) != 0) {
        if (memchr(vs, ' ', (size_t)(le - vs)) || memchr(vs, '\t', (size_t)(le - vs)))
            return BAD(1, (unsigned)(vs - p) + 1, NULL,
                       "request line: blanks inside or after the Request-URI or version");
        v = check_version(vs, (size_t)(le - vs));
    }
    if (v < 0) return BAD(1, (unsigned)(vs - p) + 1, NULL, "request line: malformed SIP version");
    if (v > 0)
        return fail(err, 1, SIP_EVERSION, 1, (unsigned)(vs - p) + 1, NULL, 505,
                    "Version Not Supported", "request line: unsupported SIP version %.*s",
                    (int)(le - vs), vs);
    msg->version = (sip_str_t){vs, (size_t)(le - vs)};
    if (sip_uri_parse(&msg->uri, us, (size_t)(ue - us)) != 0)
        return fail(err, 1, SIP_EPARSE, 1, (unsigned)(us - p) + 1, NULL, 400,
                    "Bad Request (Malformed Request-URI)", "request line: malformed Request-URI");
    /* RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri). */
    if ((msg->uri.scheme == SIP_URI_SIP || msg->uri.scheme == SIP_URI_SIPS) && msg->uri.headers.len)
        return fail(err, 1, SIP_EPARSE, 1, (unsigned)(us - p) + 1, NULL, 400,
                    "Bad Request (Request-URI carries headers)",
                    "request line: Request-URI must not carry headers");
    return 0;
}

/* The lines before the blank line that ends the headers (RFC 3261 §7: CRLF CRLF, or bare LFs),
 * start line included; all of them when there is none. */
static size_t header_lines(const char *p, size_t len)
{
    const char *end = p + len;
    size_t n = 0;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
        if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) break;
    }
    return n;
}

/* Header records to reserve in the first allocation: about one per 40 octets, the density of
 * real traffic with its comma-separated lists (an INVITE with a 12-method Allow needs 26 records
 * for 975 octets); denser messages take another chunk. A large message is mostly body, which
 * needs none: there the lines of the header part are counted (two records a line), a few
 * memchr() calls against a parse of several microseconds. */
static size_t header_records(const char *buf, size_t len)
{
    size_t n = len / 40 + 8;
    if (len <= 2048) return n;
    size_t m = 2 * header_lines(buf, len) + 4;
    return m < n ? m : n;
}

/* The error for a bad octet in the header line that starts at p: its header, and the line and
 * column of the octet itself (ls is the physical line it is on, a fold's too). */
static int bad_octet_error(sip_parse_error_t *err, int is_request, unsigned line, const char *ls,
                           const char *p, const char *bad)
{
    const char *ne = token_end(p, bad);
    char hname[48];
    snprintf(hname, sizeof(hname), "%.*s", (int)(ne - p), p);
    return BAD(line, (unsigned)(bad - ls) + 1, ne > p ? hname : NULL, "%s%s%s",
               *bad == '\r' ? "CR not followed by LF" : "control octet",
               ne > p ? " in header " : " in a header line", ne > p ? hname : "");
}

int sip_msg_parse_ex(sip_msg_t **out, const char *buf, size_t len, const sip_parse_opts_t *opts,
                     sip_parse_error_t *err)
{
    sip_parse_opts_t defaults;
    int is_request = 1, rc;
    /* err is written only on failure: clearing 400 bytes per parse shows up in a profile. */
    if (err) err->code = 0;
    if (!out) return fail(err, 1, SIP_EINVAL, 0, 0, NULL, 500, "Server Internal Error", "no out");
    *out = NULL;
    if (!buf) return fail(err, 1, SIP_EINVAL, 0, 0, NULL, 400, "Bad Request", "no buffer");
    if (!opts) {
        sip_parse_opts_init(&defaults);
        opts = &defaults;
    }
    /* Known before anything else so that no error ever suggests answering a response. */
    is_request = !(len >= 4 && memcmp(buf, "SIP/", 4) == 0);
    if (len > opts->max_size)
        return fail(err, is_request, SIP_ETOOBIG, 0, 0, NULL, 513, "Message Too Large",
                    "message of %zu bytes exceeds the limit of %zu", len, opts->max_size);
    if (len == 0) return BAD(0, 0, NULL, "empty message");

    /* One allocation holds the message, the copied input and room for its header records; rare
     * denser messages take more chunks. The 16 spare octets after the copy also let
     * sip__hdr_id_fast() read a few octets past a header name. */
    size_t est = (len + 32) + header_records(buf, len) * SIP__HDR_RESERVE;
    sip_msg_t *msg = sip__msg_new(est);
    if (!msg)
        return fail(err, 1, SIP_ENOMEM, 0, 0, NULL, 500, "Server Internal Error", "no memory");
    /* The copy ends with 16 NULs: line_scan() reads whole 16-octet blocks, and tools such as
     * valgrind must not see it read memory nobody wrote. */
    char *data = sip__msg_alloc(msg, len + 16);
    memcpy(data, buf, len);
    memset(data + len, 0, 16);
    const char *p = data, *end = data + len, *le, *next;

    const char *bad;
    next = line_scan(p, end, &le, &bad);
    if (bad) {
        rc = BAD(1, (unsigned)(bad - p) + 1, NULL, "%s line: %s", is_request ? "request" : "status",
                 *bad == '\r' ? "CR not followed by LF" : "control octet");
        goto out;
    }
    if (!next) {
        rc = BAD(1, 1, NULL, "start line not terminated");
        goto out;
    }
    is_request = !(le - p >= 4 && memcmp(p, "SIP/", 4) == 0);
    rc = parse_start_line(msg, p, le, err);
    if (rc) goto out;
    msg->start_raw = (sip_str_t){p, (size_t)(next - p)};

    unsigned line = 2;
    const char *body = NULL;
    for (p = next; p < end; p = next) {
        unsigned first_line = line;
        const char *ls = p; /* the physical line being read */
        next = line_scan(p, end, &le, &bad);
        if (bad) {
            rc = bad_octet_error(err, is_request, first_line, ls, p, bad);
            goto out;
        }
        if (!next) break;
        line++;
        if (le == p) {
            msg->end_raw = (sip_str_t){p, (size_t)(next - p)};
            body = next;
            break;
        }
        if (*p == ' ' || *p == '\t') {
            rc = BAD(first_line, 1, NULL, "continuation line without a header");
            goto out;
        }
        /* Folded lines (RFC 3261 §7.3.1) become part of this header's value. */
        while (next < end && (*next == ' ' || *next == '\t')) {
            ls = next;
            const char *n2 = line_scan(next, end, &le, &bad);
            if (bad) {
                rc = bad_octet_error(err, is_request, line, ls, p, bad);
                goto out;
            }
            if (!n2) {
                le = end;
                next = end;
                break;
            }
            next = n2;
            line++;
        }
        if ((size_t)(le - p) > opts->max_line) {
            rc = fail(err, is_request, SIP_ETOOBIG, first_line, 1, NULL, 513, "Message Too Large",
                      "header line of %zu bytes exceeds the limit of %zu", (size_t)(le - p),
                      opts->max_line);
            goto out;
        }
        const char *ne = token_end(p, le);
        const char *colon = ne;
        while (colon < le && (*colon == ' ' || *colon == '\t'))
            colon++;
        if (ne == p || colon >= le || *colon != ':') {
            rc = BAD(first_line, (unsigned)(ne - p) + 1, NULL,
                     ne == p ? "malformed header name" : "missing ':' after the header name");
            goto out;
        }
        const char *vs = colon + 1, *ve = le;
        while (vs < ve && IS(*vs, SIP__C_WS))
            vs++;
        while (ve > vs && IS(ve[-1], SIP__C_WS))
            ve--;
        sip_str_t name = {p, (size_t)(ne - p)};
        sip_hdr_id_t id = sip__hdr_id_fast(p, name.len);
        struct sip_header *before = msg->tail;
        rc = sip__msg_parse_header_value(msg, id, name, vs, (size_t)(ve - vs), 0, err, first_line,
                                         (unsigned)(vs - p) + 1);
        if (rc) {
            if (err && !is_request) err->status = 0, err->phrase[0] = '\0';
            goto out;
        }
        /* The line's first value keeps the line as received, for printing (see msg_int.h). */
        (before ? before->next : msg->head)->raw = (sip_str_t){p, (size_t)(next - p)};
        if (msg->nheaders > opts->max_headers) {
            rc = fail(err, is_request, SIP_ETOOBIG, first_line, 1, NULL, 513, "Message Too Large",
                      "more than %zu header values", opts->max_headers);
            goto out;
        }
    }
    if (!body) {
        rc = fail(err, is_request, SIP_EINCOMPLETE, line, 1, NULL, 400,
                  "Bad Request (Incomplete header section)",
                  "header section not terminated by an empty line");
        goto out;
    }

    size_t avail = (size_t)(end - body);
    const struct sip_header *cl = sip__known(msg, SIP_HDR_CONTENT_LENGTH)->first;
    if (cl) {
        /* RFC 3261 §18.3: octets past Content-Length in a datagram are discarded (RFC 4475
         * dblreq); a datagram shorter than it is an error (clerr). */
        if (cl->v.num.value > avail) {
            rc = fail(err, is_request, SIP_EPARSE, cl->line, 1, "Content-Length", 400,
                      "Bad Request (Content-Length exceeds the body)",
                      "Content-Length %u exceeds the %zu body octets present", cl->v.num.value,
                      avail);
            goto out;
        }
        msg->body = (sip_str_t){body, cl->v.num.value};
    } else if (opts->stream) {
        rc = fail(err, is_request, SIP_EPARSE, 0, 0, "Content-Length", 400,
                  "Bad Request (Missing Content-Length)",
                  "Content-Length is required on a stream transport");
        goto out;
    } else {
        msg->body = (sip_str_t){body, avail};
    }
    msg->intact = 1;

    if (is_request) {
        const struct sip_header *cs = sip__known(msg, SIP_HDR_CSEQ)->first;
        /* RFC 3261 §8.2 / RFC 4475 mismatch01-02: the CSeq method must match the request. */
        if (cs && !sip_str_eq(cs->v.cseq.method_str, msg->method_str)) {
            int unknown = msg->method == SIP_METHOD_UNKNOWN;
            rc = fail(err, 1, SIP_EPARSE, cs->line, 1, "CSeq", unknown ? 501 : 400,
                      unknown ? "Not Implemented" : "Bad Request (CSeq method mismatch)",
                      "CSeq method %.*s does not match the request method %.*s",
                      (int)cs->v.cseq.method_str.len, cs->v.cseq.method_str.ptr,
                      (int)msg->method_str.len, msg->method_str.ptr);
            goto out;
        }
    }
    *out = msg;
    return 0;
out:
    sip_msg_unref(msg);
    return rc;
}

int sip_msg_validate(const sip_msg_t *msg, sip_parse_error_t *err)
{
    if (err) err->code = 0;
    if (!msg)
        return fail(err, 1, SIP_EINVAL, 0, 0, NULL, 500, "Server Internal Error", "no message");
    int is_request = msg->is_request;
    /* RFC 3261 §8.1.1: every request carries To, From, CSeq, Call-ID and Via; §8.2.6.2 copies
     * them into each response, so a request without one cannot be answered properly (RFC 4475
     * §3.3.1 insuf). Max-Forwards is not required: RFC 2543 peers omit it (RFC 4475 inv2543). */
    static const sip_hdr_id_t needed[] = {SIP_HDR_VIA, SIP_HDR_TO, SIP_HDR_FROM, SIP_HDR_CALL_ID,
                                          SIP_HDR_CSEQ};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (sip__known(msg, needed[i])->count) continue;
        const char *hn = sip_hdr_name(needed[i]);
        char phrase[96];
        snprintf(phrase, sizeof(phrase), "Bad Request (Missing %s header)", hn);
        return fail(err, is_request, SIP_EPARSE, 0, 0, hn, 400, phrase, "%s header missing", hn);
    }
    /* RFC 3261 §7.3.1: only headers whose grammar is a comma list may repeat. Two copies of one
     * of these leave no right answer (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01), and an element
     * that read the first while the next hop reads the second would act on another message. */
    static const sip_hdr_id_t once[] = {
        SIP_HDR_CALL_ID,      SIP_HDR_CSEQ,           SIP_HDR_FROM,        SIP_HDR_TO,
        SIP_HDR_MAX_FORWARDS, SIP_HDR_CONTENT_LENGTH, SIP_HDR_CONTENT_TYPE};
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        const sip__hlist_t *l = sip__known(msg, once[i]);
        if (l->count < 2) continue;
        const char *hn = sip_hdr_name(once[i]);
        const struct sip_header *second = l->first->next_same;
        char phrase[96];
        snprintf(phrase, sizeof(phrase), "Bad Request (Duplicate %s header)", hn);
        if (second->line && l->first->line)
            return fail(err, is_request, SIP_EPARSE, second->line, 1, hn, 400, phrase,
                        "%s header appears more than once (lines %u and %u)", hn, l->first->line,
                        second->line);
        return fail(err, is_request, SIP_EPARSE, second->line, 1, hn, 400, phrase,
                    "%s header appears more than once", hn);
    }
    return 0;
}

int sip_msg_parse(sip_msg_t **out, const char *buf, size_t len, sip_parse_error_t *err)
{
    return sip_msg_parse_ex(out, buf, len, NULL, err);
}

int sip_msg_frame(const char *buf, size_t len, size_t *skip, size_t *msglen)
{
    if (!buf || !skip || !msglen) return SIP_EINVAL;
    size_t i = 0;
    /* RFC 5626 §3.5.1 keep-alives are bare CRLFs between messages. */
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    *skip = i;
    *msglen = 0;
    const char *p = buf + i, *end = buf + len, *le, *next;
    long clen = -1;
    for (;;) {
        next = line_end(p, end, &le);
        if (!next) return SIP_EINCOMPLETE;
        if (le == p) break;
        const char *ne = p;
        while (ne < le && IS(*ne, SIP__C_TOKEN))
            ne++;
        /* Only Content-Length matters here: a length test first spares a name lookup per line. */
        size_t nl = (size_t)(ne - p);
        if ((nl == 14 || nl == 1) && sip_hdr_id_from_name(p, nl) == SIP_HDR_CONTENT_LENGTH) {
            const char *v = ne;
            while (v < le && (*v == ' ' || *v == '\t' || *v == ':'))
                v++;
            unsigned long n;
            const char *ve = v;
            while (ve < le && IS(*ve, SIP__C_DIGIT))
                ve++;
            const char *t = ve;
            while (t < le && (*t == ' ' || *t == '\t'))
                t++;
            if (t != le || sip_str_to_u32((sip_str_t){v, (size_t)(ve - v)}, 0x7fffffff, &n) != 0)
                return SIP_EPARSE;
            if (clen >= 0 && (unsigned long)clen != n) return SIP_EPARSE;
            clen = (long)n;
        }
        p = next;
    }
    if (clen < 0) return SIP_EPARSE;
    size_t hlen = (size_t)(next - (buf + i));
    if (len - i - hlen < (size_t)clen) return SIP_EINCOMPLETE;
    *msglen = hlen + (size_t)clen;
    return 0;
}
