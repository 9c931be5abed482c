/* SPDX-License-Identifier: MIT */
/* The allow-list of the differential parser test: the named reasons why libsip may disagree
 * with Sofia-SIP and oSIP2 when those two agree, each with the RFC text that backs libsip and a
 * function that recognises its cases. A case no reason recognises fails the test. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

/* ---- helpers ---- */

static int refused_alone(const diff_case_t *c)
{
    return !c->ok[P_LIBSIP] && c->ok[P_SOFIA] && c->ok[P_OSIP2];
}

static int accepted_alone(const diff_case_t *c)
{
    return c->ok[P_LIBSIP] && !c->ok[P_SOFIA] && !c->ok[P_OSIP2];
}

static int why_has(const diff_case_t *c, const char *text)
{
    return strstr(c->why[P_LIBSIP], text) != NULL;
}

/* Length of the header section: up to and including the empty line's LF, or all of it. */
static size_t head_len(const char *b, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] != '\n') continue;
        if (b[i + 1] == '\n') return i + 2;
        if (b[i + 1] == '\r' && i + 2 < len && b[i + 2] == '\n') return i + 3;
    }
    return len;
}

/* Start of the header line holding offset pos (continuation lines belong to the line above). */
static size_t header_start(const char *b, size_t pos)
{
    size_t a = pos;
    while (a > 0 && b[a - 1] != '\n')
        a--;
    while (a > 0 && (b[a] == ' ' || b[a] == '\t')) {
        a--;
        while (a > 0 && b[a - 1] != '\n')
            a--;
    }
    return a;
}

/* ---- recognisers ---- */

/* The seed is RFC 4475's intmeth (valid, §3.1.1.2), which both peers refuse as it stands: oSIP2
 * for the backslash-escaped NUL in the To display name, Sofia-SIP for the extension method (a
 * token of the widest legal set). Their verdict on a mutation of it says nothing about the
 * mutation. */
static int peers_refuse_seed(const diff_case_t *c)
{
    if (!accepted_alone(c) || !memmem(c->seed, c->seed_len, "\\\0", 2)) return 0;
    diff_fields_t f;
    return !diff_sofia_parse(c->seed, c->seed_len, &f, NULL, 0) &&
           !diff_osip2_parse(c->seed, c->seed_len, &f, NULL, 0);
}

static int uri_grammar(const diff_case_t *c)
{
    return refused_alone(c) &&
           (why_has(c, "malformed URI") || why_has(c, "malformed Request-URI") ||
            why_has(c, "must be enclosed in '<' '>'"));
}

static int call_id_grammar(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "Call-ID header:");
}

static int truncated(const diff_case_t *c)
{
    return refused_alone(c) && (why_has(c, "not terminated") || why_has(c, "exceeds the") ||
                                why_has(c, "Content-Length exceeds"));
}

static int cseq_method_mismatch(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "does not match the request method");
}

static int repeated_tag(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "repeated tag parameter");
}

static int rport_value(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "malformed rport parameter");
}

/* A CR not followed by LF, or a control octet other than HT, in the header section. */
static int has_bare_cr_or_ctl(const diff_case_t *c)
{
    size_t hl = head_len(c->buf, c->len);
    for (size_t i = 0; i < hl; i++) {
        unsigned char o = (unsigned char)c->buf[i];
        if (o == '\r' && (i + 1 >= c->len || c->buf[i + 1] != '\n')) return 1;
        if ((o < 0x20 && o != '\t' && o != '\r' && o != '\n') || o == 0x7f) return 1;
    }
    return 0;
}

static int bare_cr_or_ctl(const diff_case_t *c)
{
    return refused_alone(c) &&
           (why_has(c, "CR not followed by LF") || why_has(c, "control octet")) &&
           has_bare_cr_or_ctl(c);
}

static int start_line_grammar(const diff_case_t *c)
{
    return refused_alone(c) && (why_has(c, "request line:") || why_has(c, "status line:") ||
                                why_has(c, "continuation line without a header"));
}

/* The message starts with a line end: skipped before a message on a stream (sip_msg_frame), not
 * inside a datagram. */
static int leading_line_end(const diff_case_t *c)
{
    return refused_alone(c) && c->len > 0 && (c->buf[0] == '\r' || c->buf[0] == '\n');
}

/* libsip's error names a known header whose value broke its grammar, and the mutation changed
 * octets of that header's line (not a fold or a copy, which leave a valid value valid). */
static int header_value_grammar(const diff_case_t *c)
{
    if (!refused_alone(c) || c->mut == MUT_FOLD || c->mut == MUT_DUP_LINE ||
        c->mut == MUT_DUP_PARAM)
        return 0;
    /* libsip's reason reads "<Header> header: <why> (header \"<name as written>\", line N)". */
    const char *w = c->why[P_LIBSIP], *h = strstr(w, " header: "), *n = strstr(w, "(header \"");
    if (!h || !n) return 0;
    n += 9;
    const char *ne = strchr(n, '"');
    if (!ne || ne == n) return 0;
    /* The header line holding the mutation starts with that name; or the one before it, when
     * the mutation ended the line or the header section there (an LF, a deletion, a cut). */
    size_t nl = (size_t)(ne - n), pos = c->pos < c->len ? c->pos : c->len;
    for (int back = 0; back < 2; back++) {
        size_t a = header_start(c->buf, pos);
        if (c->len - a > nl && strncasecmp(c->buf + a, n, nl) == 0 &&
            (c->buf[a + nl] == ':' || c->buf[a + nl] == ' ' || c->buf[a + nl] == '\t'))
            return 1;
        if (a == 0) break;
        pos = a - 1;
    }
    return 0;
}

static int header_name_grammar(const diff_case_t *c)
{
    return refused_alone(c) &&
           (why_has(c, "malformed header name") || why_has(c, "missing ':' after the header name"));
}

static int auth_param_list(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "auth-param");
}

static int ipv6_reference(const diff_case_t *c)
{
    return refused_alone(c) && why_has(c, "malformed IPv6 reference");
}

/* libsip accepts a message the peers refuse only for a continuation line of blanks alone: with
 * those lines taken out, both peers accept it. */
static int blank_continuation(const diff_case_t *c)
{
    if (!accepted_alone(c)) return 0;
    size_t hl = head_len(c->buf, c->len), n = 0;
    char *copy = malloc(c->len);
    if (!copy) return 0;
    int found = 0;
    for (size_t i = 0; i < c->len;) {
        /* A line inside the header section that starts with a blank and holds nothing else. */
        if (i > 0 && i < hl && c->buf[i - 1] == '\n' && (c->buf[i] == ' ' || c->buf[i] == '\t')) {
            size_t e = i;
            while (e < hl && (c->buf[e] == ' ' || c->buf[e] == '\t'))
                e++;
            if (e < hl && c->buf[e] == '\r' && e + 1 < hl && c->buf[e + 1] == '\n') e++;
            if (e < hl && c->buf[e] == '\n') {
                i = e + 1;
                found = 1;
                continue;
            }
        }
        copy[n++] = c->buf[i++];
    }
    int ok = 0;
    if (found) {
        diff_fields_t f;
        ok = diff_sofia_parse(copy, n, &f, NULL, 0) && diff_osip2_parse(copy, n, &f, NULL, 0);
    }
    free(copy);
    return ok;
}

/* libsip accepts an absoluteURI of another scheme in a name-addr that the peers refuse: with
 * the scheme made "sip", both peers accept the message. */
static int other_uri_scheme(const diff_case_t *c)
{
    if (!accepted_alone(c) || c->pos >= c->len) return 0;
    size_t a = header_start(c->buf, c->pos), e = a;
    while (e < c->len && c->buf[e] != '\n')
        e++;
    const char *lt = memchr(c->buf + a, '<', e - a);
    if (!lt) return 0;
    size_t s = (size_t)(lt - c->buf) + 1, q = s;
    while (q < e && (isalnum((unsigned char)c->buf[q]) || c->buf[q] == '+' || c->buf[q] == '-' ||
                     c->buf[q] == '.'))
        q++;
    if (q == s || q >= e || c->buf[q] != ':' || !isalpha((unsigned char)c->buf[s])) return 0;
    if ((q - s == 3 && strncasecmp(c->buf + s, "sip", 3) == 0) ||
        (q - s == 4 && strncasecmp(c->buf + s, "sips", 4) == 0))
        return 0;
    char *copy = malloc(c->len + 3);
    if (!copy) return 0;
    memcpy(copy, c->buf, s);
    memcpy(copy + s, "sip", 3);
    memcpy(copy + s + 3, c->buf + q, c->len - q);
    size_t n = s + 3 + c->len - q;
    diff_fields_t f;
    int ok = diff_sofia_parse(copy, n, &f, NULL, 0) && diff_osip2_parse(copy, n, &f, NULL, 0);
    free(copy);
    return ok;
}

/* ---- the list ---- */

const diff_reason_t diff_reasons[] = {
    {"escaped-nul-in-quoted-string",
     "RFC 3261 §25.1: quoted-pair = \"\\\" (%x00-09 / %x0B-0C / %x0E-7F) may escape NUL; "
     "RFC 4475 §3.1.1.2 (intmeth) is valid, and both peers refuse it unmutated",
     peers_refuse_seed},
    {"uri-grammar",
     "RFC 3261 §19.1.1, §25.1 SIP-URI ABNF; §20.10 a URI with ',', ';' or '?' needs <>; "
     "RFC 3986 for other schemes",
     uri_grammar},
    {"call-id-grammar", "RFC 3261 §25.1: callid = word [ \"@\" word ]", call_id_grammar},
    {"truncated-input",
     "RFC 3261 §7: the header section ends with an empty line; §18.3: a datagram shorter "
     "than its Content-Length is refused (RFC 4475 §3.1.2.2 clerr)",
     truncated},
    {"cseq-method-mismatch",
     "RFC 3261 §8.1.1.5: the CSeq method matches the request's; RFC 4475 §3.1.2.17 "
     "(mismatch01) answers 400",
     cseq_method_mismatch},
    {"repeated-tag",
     "RFC 3261 §19.3: one tag names the dialog party; elements pick different ones of two",
     repeated_tag},
    {"rport-value", "RFC 3581 §3: response-port = \"rport\" [EQUAL 1*DIGIT], a port 0-65535",
     rport_value},
    {"bare-cr-or-control-octet",
     "RFC 3261 §7, §7.3.1: lines end in CRLF; §25.1: no CTL but HT outside a quoted-pair "
     "(Sofia-SIP and oSIP2 end a line at a bare CR or keep the octet)",
     bare_cr_or_ctl},
    {"start-line-grammar",
     "RFC 3261 §7.1, §7.2, §25.1: Method SP Request-URI SP SIP-Version, a 3-digit Status-Code, "
     "no fold after the start line; RFC 4475 §3.1.2.9 lwsstart, §3.1.2.16 badvers (505)",
     start_line_grammar},
    {"leading-line-end",
     "RFC 3261 §7, §25.1: a message begins with its start line; §7.5 skips CRLFs before it on "
     "streams only (sip_msg_frame does)",
     leading_line_end},
    {"header-name-grammar", "RFC 3261 §7.3.1, §25.1: header-name = token, followed by HCOLON",
     header_name_grammar},
    {"auth-param-list",
     "RFC 3261 §25.1, RFC 7616 §3.4: digest-response = dig-resp *(COMMA dig-resp), "
     "auth-param values non-empty",
     auth_param_list},
    {"ipv6-reference",
     "RFC 3261 §25.1 IPv6reference, RFC 4291 §2.2: only a valid IPv6 address is bracketed, "
     "in a Via as in a URI",
     ipv6_reference},
    /* Last of the strict ones: whatever else a known header's own grammar refuses. */
    {"header-value-grammar",
     "RFC 3261 §7.3.1, §25.1 and each header's ABNF (§20; RFC 3581, RFC 4028, RFC 6665 for "
     "Event \"o\" and Allow-Events \"u\"): a known header that breaks it is a 400; the peers keep "
     "such values unparsed or read them loosely",
     header_value_grammar},
    {"other-uri-scheme",
     "RFC 3261 §20.10, §25.1: addr-spec = SIP-URI / SIPS-URI / absoluteURI, any RFC 3986 scheme "
     "(RFC 4475 §3.3.4 unksm2)",
     other_uri_scheme},
    /* A leniency, not a strictness: libsip takes a line of blanks inside a folded value as
     * more whitespace (never as the end of the headers), which Sofia-SIP and oSIP2 refuse in
     * most headers' grammar (SWS allows one fold). */
    {"blank-continuation-line",
     "RFC 3261 §7.3.1: each extra line of a value starts with SP or HT; a line of blanks "
     "only is one more fold",
     blank_continuation},
};
const size_t diff_nreasons = sizeof(diff_reasons) / sizeof(diff_reasons[0]);
