/* SPDX-License-Identifier: MIT */
/* RFC 4475 and RFC 5118 torture messages through the parser: manifest verdicts, values, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"
#include "sip/param.h"
#include "sip/uri.h"

#ifndef SIP_SHARED_DIR
#error "SIP_SHARED_DIR must name the shared folder that holds conformance/"
#endif

#define CONF_DIR SIP_SHARED_DIR "/conformance"

/* Row counts of the two manifests: RFC 4475 §3 has 49 messages, RFC 5118 §4 has 12. A manifest
 * that lost rows must fail here rather than silently test less. */
#define RFC4475_ROWS 49
#define RFC5118_ROWS 12

/* ---- small helpers ------------------------------------------------------------------------- */

static void check_view(sip_str_t got, const char *want, size_t wlen, const char *what,
                       const char *file, int line)
{
    if (got.len == wlen && (wlen == 0 || (got.ptr && memcmp(got.ptr, want, wlen) == 0))) return;
    print_error("%s is \"%.*s\" (%zu octets), expected \"%.*s\" (%zu octets)\n", what, (int)got.len,
                got.ptr ? got.ptr : "", got.len, (int)wlen, want, wlen);
    _fail(file, line);
}

/* Compares a view with a string literal (embedded NULs included). */
#define ASSERT_VIEW(view, lit) check_view((view), (lit), sizeof(lit) - 1, #view, __FILE__, __LINE__)

/* Reads a file of the conformance folder in binary, exactly as stored. The buffer has exactly the
 * file's size (at least one byte) so that AddressSanitizer sees any read past the end. */
static char *load_rel(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CONF_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s: is SIP_SHARED_DIR (%s) right?", path, SIP_SHARED_DIR);
    if (fseek(f, 0, SEEK_END) != 0) fail_msg("cannot seek %s", path);
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) fail_msg("cannot size %s", path);
    char *buf = malloc((size_t)n ? (size_t)n : 1);
    assert_non_null(buf);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("short read on %s", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The wire bytes of a message: RFC 4475 files are used as stored, RFC 5118 through wire/ (its
 * archive has bare LF line ends and stale Content-Length values; see the folder's README). */
static void rel_path(char *out, size_t size, const char *rfc, const char *name)
{
    if (strcmp(rfc, "rfc5118") == 0)
        snprintf(out, size, "rfc5118/wire/%s.dat", name);
    else
        snprintf(out, size, "%s/%s.dat", rfc, name);
}

/* Offset of the body: just past the first CRLF CRLF, or 0 when the header section never ends. */
static size_t header_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) return i + 4;
    return 0;
}

static void describe(const char *what, int rc, const sip_parse_error_t *e)
{
    print_error("%s: %s (%d) line %u col %u header \"%s\" status %d: %s\n", what, sip_err_name(rc),
                rc, e->line, e->column, e->header, e->status, e->reason);
}

/* Messages a value check holds; the teardown drops whatever a failed check left behind. */
static sip_msg_t *g_held[4];

static void hold(sip_msg_t *m)
{
    for (size_t i = 0; i < sizeof(g_held) / sizeof(g_held[0]); i++) {
        if (!g_held[i]) {
            g_held[i] = m;
            return;
        }
    }
    fail_msg("too many messages held");
}

static void release(sip_msg_t *m)
{
    for (size_t i = 0; i < sizeof(g_held) / sizeof(g_held[0]); i++)
        if (g_held[i] == m) g_held[i] = NULL;
    sip_msg_unref(m);
}

static int release_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(g_held) / sizeof(g_held[0]); i++) {
        sip_msg_unref(g_held[i]);
        g_held[i] = NULL;
    }
    return 0;
}

/* Parses a message file and requires success. The message is held until release() or the
 * test's teardown. */
static sip_msg_t *must_parse(const char *rfc, const char *name)
{
    char rel[256];
    size_t len;
    rel_path(rel, sizeof(rel), rfc, name);
    char *buf = load_rel(rel, &len);
    sip_msg_t *m = NULL;
    sip_parse_error_t e;
    memset(&e, 0, sizeof(e));
    int rc = sip_msg_parse(&m, buf, len, &e);
    free(buf);
    if (rc != 0) {
        describe(rel, rc, &e);
        fail_msg("%s must parse", rel);
    }
    assert_non_null(m);
    hold(m);
    return m;
}

/* Parses a message file that must fail; fills *e. Returns the code. */
static int must_fail(const char *rfc, const char *name, sip_parse_error_t *e)
{
    char rel[256];
    size_t len;
    rel_path(rel, sizeof(rel), rfc, name);
    char *buf = load_rel(rel, &len);
    sip_msg_t *m = (sip_msg_t *)(uintptr_t)1;
    memset(e, 0, sizeof(*e));
    int rc = sip_msg_parse(&m, buf, len, e);
    free(buf);
    if (rc == 0) {
        sip_msg_unref(m);
        fail_msg("%s must be rejected", rel);
    }
    assert_null(m);
    return rc;
}

/* Unescapes a view; returns the decoded length and requires it to fit. */
static size_t unescape(sip_str_t in, char *buf, size_t size)
{
    int n = sip_uri_unescape(in, buf, size);
    assert_true(n >= 0);
    assert_true((size_t)n < size);
    return (size_t)n;
}

static sip_uri_t parse_uri(const char *s)
{
    sip_uri_t u;
    if (sip_uri_parse(&u, s, strlen(s)) != 0) fail_msg("URI %s must parse", s);
    return u;
}

static const sip_via_t *via_at(const sip_msg_t *m, size_t i)
{
    const sip_header_t *h = sip_msg_header_at(m, SIP_HDR_VIA, i);
    assert_non_null(h);
    const sip_via_t *v = sip_header_via(h);
    assert_non_null(v);
    return v;
}

static const sip_addr_t *addr_at(const sip_msg_t *m, sip_hdr_id_t id, size_t i)
{
    const sip_header_t *h = sip_msg_header_at(m, id, i);
    assert_non_null(h);
    const sip_addr_t *a = sip_header_addr(h);
    assert_non_null(a);
    return a;
}

static uint32_t num_at(const sip_msg_t *m, sip_hdr_id_t id, size_t i)
{
    const sip_header_t *h = sip_msg_header_at(m, id, i);
    assert_non_null(h);
    const sip_num_t *n = sip_header_num(h);
    assert_non_null(n);
    return n->value;
}

/* ---- manifests ----------------------------------------------------------------------------- */

typedef struct row {
    const char *rfc; /* "rfc4475" or "rfc5118" */
    char name[64];
    char section[16];
    char kind[16];
    char expected[320];
} row_t;

typedef struct manifest {
    row_t rows[RFC4475_ROWS + RFC5118_ROWS];
    size_t n;
} manifest_t;

static manifest_t g_manifest;

/* Copies field i of a tab-separated line into out; fails on overflow. */
static void copy_field(char *out, size_t size, const char *s, size_t n, const char *where)
{
    if (n >= size) fail_msg("%s: field too long (%zu)", where, n);
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Reads one MANIFEST.tsv (columns name, rfc_section, kind, expected, note) and appends its rows.
 * The file must have exactly `want` rows, each with five fields and a known kind. */
static void load_manifest(const char *rfc, size_t want)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "%s/MANIFEST.tsv", rfc);
    size_t len;
    char *buf = load_rel(rel, &len);
    size_t pos = 0, lineno = 0, rows = 0;
    while (pos < len) {
        const char *l = buf + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - l) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && l[n - 1] == '\r') n--;
        lineno++;
        if (n == 0) continue;
        const char *f[5] = {0};
        size_t fl[5] = {0}, nf = 0;
        const char *s = l, *e = l + n;
        while (nf < 5) {
            const char *t = memchr(s, '\t', (size_t)(e - s));
            f[nf] = s;
            fl[nf] = t ? (size_t)(t - s) : (size_t)(e - s);
            nf++;
            if (!t) break;
            s = t + 1;
        }
        char where[96];
        snprintf(where, sizeof(where), "%s line %zu", rel, lineno);
        if (nf != 5 || memchr(f[4], '\t', fl[4]))
            fail_msg("%s: expected 5 tab-separated fields", where);
        if (lineno == 1) {
            static const char head[] = "name\trfc_section\tkind\texpected\tnote";
            if (n != sizeof(head) - 1 || memcmp(l, head, n) != 0)
                fail_msg("%s: unexpected header row", where);
            continue;
        }
        if (g_manifest.n >= sizeof(g_manifest.rows) / sizeof(g_manifest.rows[0]))
            fail_msg("%s: more rows than the %d + %d expected", where, RFC4475_ROWS, RFC5118_ROWS);
        row_t *r = &g_manifest.rows[g_manifest.n++];
        r->rfc = rfc;
        copy_field(r->name, sizeof(r->name), f[0], fl[0], where);
        copy_field(r->section, sizeof(r->section), f[1], fl[1], where);
        copy_field(r->kind, sizeof(r->kind), f[2], fl[2], where);
        copy_field(r->expected, sizeof(r->expected), f[3], fl[3], where);
        if (strcmp(r->kind, "valid") && strcmp(r->kind, "invalid") && strcmp(r->kind, "semantic"))
            fail_msg("%s: unknown kind \"%s\"", where, r->kind);
        if (!r->name[0] || !r->expected[0]) fail_msg("%s: empty name or expected", where);
        for (size_t i = 0; i + 1 < g_manifest.n; i++)
            if (g_manifest.rows[i].rfc == rfc && strcmp(g_manifest.rows[i].name, r->name) == 0)
                fail_msg("%s: duplicate row %s", where, r->name);
        rows++;
    }
    free(buf);
    if (rows != want) fail_msg("%s has %zu rows, expected %zu", rel, rows, want);
}

/* Counts the NAME.dat files of a folder: each must have its manifest row. */
static size_t count_dat(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CONF_DIR, rel);
    DIR *d = opendir(path);
    if (!d) fail_msg("cannot open folder %s", path);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".dat") == 0) n++;
    }
    closedir(d);
    return n;
}

static int setup_manifests(void **state)
{
    (void)state;
    memset(&g_manifest, 0, sizeof(g_manifest));
    load_manifest("rfc4475", RFC4475_ROWS);
    load_manifest("rfc5118", RFC5118_ROWS);
    return 0;
}

static const row_t *find_row(const char *rfc, const char *name)
{
    for (size_t i = 0; i < g_manifest.n; i++)
        if (strcmp(g_manifest.rows[i].rfc, rfc) == 0 && strcmp(g_manifest.rows[i].name, name) == 0)
            return &g_manifest.rows[i];
    fail_msg("%s/MANIFEST.tsv has no row %s", rfc, name);
    return NULL;
}

/* The value checks below pin a message; its manifest row must exist and say the same kind. */
static void require_row(const char *rfc, const char *name, const char *kind)
{
    const row_t *r = find_row(rfc, name);
    if (strcmp(r->kind, kind) != 0)
        fail_msg("%s/%s is \"%s\" in the manifest, this test expects \"%s\"", rfc, name, r->kind,
                 kind);
}

/* ---- 1. table-driven verdicts -------------------------------------------------------------- */

static void conformance_manifests_complete(void **state)
{
    (void)state;
    assert_int_equal(g_manifest.n, RFC4475_ROWS + RFC5118_ROWS);
    assert_int_equal(count_dat("rfc4475"), RFC4475_ROWS);
    assert_int_equal(count_dat("rfc5118"), RFC5118_ROWS);
    assert_int_equal(count_dat("rfc5118/wire"), RFC5118_ROWS);
    size_t valid = 0, invalid = 0, semantic = 0;
    for (size_t i = 0; i < g_manifest.n; i++) {
        const row_t *r = &g_manifest.rows[i];
        valid += strcmp(r->kind, "valid") == 0;
        invalid += strcmp(r->kind, "invalid") == 0;
        semantic += strcmp(r->kind, "semantic") == 0;
    }
    /* RFC 4475 §3.1.1 (13 valid), §3.1.2 (19 invalid), §3.2-3.4 (17 semantic); RFC 5118 §4 has
     * one invalid message (4.2) and eleven valid ones. */
    assert_int_equal(valid, 13 + 11);
    assert_int_equal(invalid, 19 + 1);
    assert_int_equal(semantic, 17);
}

/* Every error must say why, and where when it names a header. */
static void check_error_shape(const char *what, int rc, const sip_parse_error_t *e)
{
    if (rc >= 0 || e->code != rc || e->reason[0] == '\0' || (e->header[0] && e->line < 1)) {
        describe(what, rc, e);
        fail_msg("%s: error must carry its code, a reason, and a line when it names a header",
                 what);
    }
}

/* Re-parses the printed form and compares everything the print must keep. */
static void check_round_trip(const char *what, const sip_msg_t *a)
{
    int n = sip_msg_print(a, NULL, 0);
    if (n <= 0) fail_msg("%s: sip_msg_print gave %d", what, n);
    char *out = malloc((size_t)n + 1);
    assert_non_null(out);
    assert_int_equal(sip_msg_print(a, out, (size_t)n + 1), n);
    sip_msg_t *b = NULL;
    sip_parse_error_t e;
    memset(&e, 0, sizeof(e));
    int rc = sip_msg_parse(&b, out, (size_t)n, &e);
    if (rc != 0) {
        describe(what, rc, &e);
        fail_msg("%s: the printed form does not parse:\n%.*s", what, n, out);
    }
    assert_int_equal(sip_msg_is_request(a), sip_msg_is_request(b));
    assert_int_equal(sip_msg_get_method(a), sip_msg_get_method(b));
    assert_true(sip_str_eq(sip_msg_get_method_str(a), sip_msg_get_method_str(b)));
    assert_int_equal(sip_msg_get_status(a), sip_msg_get_status(b));
    assert_true(sip_str_eq(sip_msg_get_reason(a), sip_msg_get_reason(b)));
    if (sip_msg_is_request(a)) {
        assert_non_null(sip_msg_get_uri(a));
        assert_non_null(sip_msg_get_uri(b));
        assert_true(sip_str_eq(sip_msg_get_uri(a)->raw, sip_msg_get_uri(b)->raw));
    }
    if (sip_msg_header_total(a) != sip_msg_header_total(b))
        fail_msg("%s: %zu header values, %zu after printing", what, sip_msg_header_total(a),
                 sip_msg_header_total(b));
    const sip_header_t *ha = sip_msg_header_first(a), *hb = sip_msg_header_first(b);
    for (size_t i = 0; ha || hb; i++, ha = sip_header_next(ha), hb = sip_header_next(hb)) {
        if (!ha || !hb) fail_msg("%s: header lists differ in length at %zu", what, i);
        sip_str_t na = sip_header_get_name(ha), nb = sip_header_get_name(hb);
        sip_str_t va = sip_header_get_value(ha), vb = sip_header_get_value(hb);
        if (!sip_str_eq(na, nb) || !sip_str_eq(va, vb) ||
            sip_header_get_id(ha) != sip_header_get_id(hb))
            fail_msg("%s: header %zu is %.*s: \"%.*s\", printed and re-parsed %.*s: \"%.*s\"", what,
                     i, (int)na.len, na.ptr, (int)va.len, va.ptr, (int)nb.len, nb.ptr, (int)vb.len,
                     vb.ptr);
    }
    sip_str_t ba = sip_msg_get_body(a), bb = sip_msg_get_body(b);
    assert_int_equal(ba.len, bb.len);
    if (ba.len) assert_memory_equal(ba.ptr, bb.ptr, ba.len);
    sip_msg_unref(b);
    free(out);
}

/* What an invalid row's `expected` column asks for: the response status (0: discard, the message
 * is a response), an alternative the row allows, and a required code (0: any error). */
typedef struct verdict {
    int status, alt, code;
} verdict_t;

static verdict_t invalid_verdict(const row_t *r)
{
    verdict_t v = {-1, -1, 0};
    if (strncmp(r->expected, "reject 400", 10) == 0) {
        v.status = 400;
    } else if (strncmp(r->expected, "respond 505", 11) == 0) {
        v.status = 505;
        v.code = SIP_EVERSION;
    } else if (strncmp(r->expected, "respond 501", 11) == 0) {
        v.status = 501;
        if (strstr(r->expected, "(400 also acceptable)")) v.alt = 400;
    } else if (strcmp(r->expected, "discard the response") == 0) {
        v.status = 0;
    } else {
        fail_msg("%s/%s: no test policy for \"%s\"", r->rfc, r->name, r->expected);
    }
    return v;
}

static void check_invalid(const row_t *r, const char *what, const char *buf, size_t len)
{
    verdict_t v = invalid_verdict(r);
    sip_msg_t *m = NULL;
    sip_parse_error_t e;
    memset(&e, 0, sizeof(e));
    int rc = sip_msg_parse(&m, buf, len, &e);
    if (rc == 0) {
        sip_msg_unref(m);
        fail_msg("%s (%s) must be rejected: %s", what, r->section, r->expected);
    }
    assert_null(m);
    check_error_shape(what, rc, &e);
    if ((e.status != v.status && e.status != v.alt) || (v.code && rc != v.code)) {
        describe(what, rc, &e);
        fail_msg("%s: expected \"%s\"", what, r->expected);
    }
}

static void conformance_manifest_verdicts(void **state)
{
    (void)state;
    size_t checked = 0, printed = 0, unterminated = 0;
    for (size_t i = 0; i < g_manifest.n; i++) {
        const row_t *r = &g_manifest.rows[i];
        char rel[256];
        size_t len;
        rel_path(rel, sizeof(rel), r->rfc, r->name);
        char *buf = load_rel(rel, &len);
        if (strcmp(r->kind, "invalid") == 0) {
            check_invalid(r, rel, buf, len);
            if (header_end(buf, len) == 0) {
                /* RFC 4475 baddn: the archive file stops before the empty line. Rejected for
                 * that alone; with the empty line added, the display names must still fail. */
                unterminated++;
                char *fixed = malloc(len + 2);
                assert_non_null(fixed);
                memcpy(fixed, buf, len);
                memcpy(fixed + len, "\r\n", 2);
                char what[300];
                snprintf(what, sizeof(what), "%s + CRLF", rel);
                check_invalid(r, what, fixed, len + 2);
                free(fixed);
            }
        } else {
            sip_msg_t *m = NULL;
            sip_parse_error_t e;
            memset(&e, 0, sizeof(e));
            int rc = sip_msg_parse(&m, buf, len, &e);
            if (rc != 0) {
                describe(rel, rc, &e);
                fail_msg("%s (%s, %s) must parse: %s", rel, r->section, r->kind, r->expected);
            }
            if (strcmp(r->kind, "valid") == 0) {
                check_round_trip(rel, m);
                printed++;
            }
            sip_msg_unref(m);
        }
        free(buf);
        checked++;
    }
    assert_int_equal(checked, RFC4475_ROWS + RFC5118_ROWS);
    assert_int_equal(printed, 13 + 11);
    /* Only baddn lacks its empty line (README of the conformance folder). */
    assert_int_equal(unterminated, 1);
    require_row("rfc4475", "baddn", "invalid");
}

/* ---- 2. values of single messages ---------------------------------------------------------- */

/* RFC 4475 §3.1.1.1: compact and mixed-case names, folding, LWS in the Via sent-protocol. */
static void conformance_wsinv_tortuous_values(void **state)
{
    (void)state;
    require_row("rfc4475", "wsinv", "valid");
    sip_msg_t *m = must_parse("rfc4475", "wsinv");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_INVITE);
    ASSERT_VIEW(sip_msg_get_method_str(m), "INVITE");
    const sip_uri_t *ru = sip_msg_get_uri(m);
    assert_non_null(ru);
    ASSERT_VIEW(ru->user, "vivekg");
    ASSERT_VIEW(ru->host, "chair-dnrc.example.com");
    ASSERT_VIEW(ru->params, "unknownparam");

    /* "TO :" then a folded value: no display name, tag after blanks around '='. */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_TO), 1);
    const sip_addr_t *to = sip_msg_get_to(m);
    assert_non_null(to);
    ASSERT_VIEW(to->display, "");
    assert_int_equal(to->uri.scheme, SIP_URI_SIP);
    ASSERT_VIEW(to->uri.user, "vivekg");
    ASSERT_VIEW(to->uri.host, "chair-dnrc.example.com");
    ASSERT_VIEW(to->tag, "1918181833n");
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_TO, 0)), "TO");

    /* "from   :" with an escaped quote and backslash in the display name. */
    const sip_addr_t *from = sip_msg_get_from(m);
    assert_non_null(from);
    ASSERT_VIEW(from->display, "\"J Rosenberg \\\\\\\"\"");
    ASSERT_VIEW(from->uri.user, "jdrosen");
    ASSERT_VIEW(from->uri.host, "example.com");
    assert_int_equal(from->bracketed, 1);
    ASSERT_VIEW(from->tag, "98asjd8");

    assert_int_equal(sip_msg_get_max_forwards(m), 68); /* "MaX-fOrWaRdS: 0068" */
    ASSERT_VIEW(sip_msg_get_call_id(m), "wsinv.ndaksdj@192.0.2.1");
    const sip_cseq_t *cs = sip_msg_get_cseq(m); /* "cseq: 0009" folded before INVITE */
    assert_non_null(cs);
    assert_int_equal(cs->seq, 9);
    assert_int_equal(cs->method, SIP_METHOD_INVITE);
    ASSERT_VIEW(cs->method_str, "INVITE");
    assert_int_equal(num_at(m, SIP_HDR_CONTENT_LENGTH, 0), 150);
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_CONTENT_LENGTH, 0)),
                "Content-Length");

    /* "s :" is the compact Subject, empty. */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_SUBJECT), 1);
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_SUBJECT, 0)), "s");
    ASSERT_VIEW(sip_header_get_value(sip_msg_header_at(m, SIP_HDR_SUBJECT, 0)), "");

    /* One "Via" and a two-value "v:" list, all with SWS around the slashes. */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 3);
    const sip_via_t *v = via_at(m, 0);
    ASSERT_VIEW(v->protocol, "SIP");
    ASSERT_VIEW(v->version, "2.0");
    ASSERT_VIEW(v->transport, "UDP");
    ASSERT_VIEW(v->host, "192.0.2.2");
    assert_int_equal(v->host_type, SIP_HOST_IPV4);
    assert_int_equal(v->port, 0);
    ASSERT_VIEW(v->branch, "390skdjuw");
    assert_ptr_equal(sip_msg_get_via(m), v);
    v = via_at(m, 1);
    ASSERT_VIEW(v->transport, "TCP");
    ASSERT_VIEW(v->host, "spindle.example.com");
    assert_int_equal(v->host_type, SIP_HOST_NAME);
    ASSERT_VIEW(v->branch, "z9hG4bK9ikj8");
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_VIA, 1)), "v");
    v = via_at(m, 2);
    ASSERT_VIEW(v->transport, "UDP");
    ASSERT_VIEW(v->host, "192.168.255.111");
    ASSERT_VIEW(v->branch, "z9hG4bK30239");

    /* Unknown headers keep their raw values, folding included, and are found by name. */
    const sip_header_t *h = sip_msg_header_by_name(m, "NewFangledHeader", 0);
    assert_non_null(h);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_OTHER);
    ASSERT_VIEW(sip_header_get_value(h), "newfangled value\r\n continued newfangled value");
    assert_non_null(sip_msg_header_by_name(m, "newfangledheader", 0));
    assert_null(sip_msg_header_by_name(m, "NewFangledHeader", 1));
    h = sip_msg_header_by_name(m, "UnknownHeaderWithUnusualValue", 0);
    assert_non_null(h);
    ASSERT_VIEW(sip_header_get_value(h), ";;,,;;,;");

    const sip_addr_t *rt = addr_at(m, SIP_HDR_ROUTE, 0);
    ASSERT_VIEW(rt->uri.host, "services.example.com");
    assert_int_equal(rt->uri.lr, 1);
    ASSERT_VIEW(rt->uri.params, "lr;unknownwith=value;unknown-no-value");

    /* "m:" Contact with a quoted display name holding escaped quotes and folded params. */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 1);
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    ASSERT_VIEW(ct->display, "\"Quoted string \\\"\\\"\"");
    ASSERT_VIEW(ct->uri.user, "jdrosen");
    assert_int_equal(ct->q, 330);

    const sip_media_t *ctype = sip_msg_get_content_type(m);
    assert_non_null(ctype);
    ASSERT_VIEW(ctype->type, "application");
    ASSERT_VIEW(ctype->subtype, "sdp");

    /* The body is the 150 octets after the empty line, as the RFC text counts them. */
    size_t len;
    char *raw = load_rel("rfc4475/wsinv.dat", &len);
    size_t he = header_end(raw, len);
    assert_int_equal(len - he, 150);
    sip_str_t body = sip_msg_get_body(m);
    assert_int_equal(body.len, 150);
    assert_memory_equal(body.ptr, raw + he, 150);
    assert_memory_equal(body.ptr, "v=0\r\no=mhandley ", 16);
    free(raw);
    assert_int_equal(sip_msg_header_total(m), 15);

    /* RFC 3261 §25.1: EQUAL = SWS "=" SWS, and SWS may hold a line fold ("newparam =" CRLF
     * "      newvalue"): the parameter value is the token alone. */
    sip_str_t pv;
    assert_true(sip_params_get(ct->params, "newparam", &pv));
    ASSERT_VIEW(pv, "newvalue");
    assert_true(sip_params_get(ct->params, "secondparam", &pv));
    ASSERT_VIEW(pv, "");
    assert_true(sip_params_get(ct->params, "q", &pv));
    ASSERT_VIEW(pv, "0.33");
    release(m);
}

/* RFC 4475 §3.1.1.2: extension method, widest character sets, raw control octets in quotes. */
static void conformance_intmeth_extension_method(void **state)
{
    (void)state;
    require_row("rfc4475", "intmeth", "valid");
    sip_msg_t *m = must_parse("rfc4475", "intmeth");
    ASSERT_VIEW(sip_msg_get_method_str(m), "!interesting-Method0123456789_*+`.%indeed'~");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_UNKNOWN);
    const sip_uri_t *ru = sip_msg_get_uri(m);
    assert_int_equal(ru->scheme, SIP_URI_SIP);
    ASSERT_VIEW(ru->user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    ASSERT_VIEW(ru->password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    ASSERT_VIEW(ru->host, "example.com");
    ASSERT_VIEW(ru->params, "");

    /* The quoted display name holds quoted-pairs of raw BEL, NUL and DEL. */
    const sip_addr_t *to = sip_msg_get_to(m);
    assert_non_null(to);
    ASSERT_VIEW(to->display, "\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\"");
    ASSERT_VIEW(to->uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");

    const sip_addr_t *from = sip_msg_get_from(m);
    assert_non_null(from);
    ASSERT_VIEW(from->display, "token1~` token2'+_ token3*%!.-");
    ASSERT_VIEW(from->uri.user, "mundane");
    ASSERT_VIEW(from->tag, "_token~1'+`*%!-.");
    sip_str_t pv;
    assert_true(sip_params_get(from->params, "fromParam''~+*_!.-%", &pv));
    ASSERT_VIEW(pv, "\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8"
                    "\xd0\xb9\"");

    ASSERT_VIEW(sip_msg_get_call_id(m), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    assert_int_equal(cs->seq, 139122385);
    assert_int_equal(cs->method, SIP_METHOD_UNKNOWN);
    ASSERT_VIEW(cs->method_str, "!interesting-Method0123456789_*+`.%indeed'~");
    assert_int_equal(sip_msg_get_max_forwards(m), 255);
    ASSERT_VIEW(via_at(m, 0)->branch, "z9hG4bK-.!%66*_+`'~");

    const sip_header_t *h = sip_msg_header_by_name(m, "extensionHeader-!.%*+_`'~", 0);
    assert_non_null(h);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_OTHER);
    ASSERT_VIEW(sip_header_get_value(h), "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");
    assert_int_equal(sip_msg_get_body(m).len, 0);
    release(m);
}

/* RFC 4475 §3.1.1.3: %HH escapes stay escaped in the views and compare equal once decoded. */
static void conformance_esc01_escapes_compare(void **state)
{
    (void)state;
    require_row("rfc4475", "esc01", "valid");
    sip_msg_t *m = must_parse("rfc4475", "esc01");
    char buf[128];
    const sip_uri_t *ru = sip_msg_get_uri(m);
    /* "sips%3Auser%40example.com" is a user part; the URI stays a sip: URI. */
    assert_int_equal(ru->scheme, SIP_URI_SIP);
    ASSERT_VIEW(ru->scheme_str, "sip");
    ASSERT_VIEW(ru->user, "sips%3Auser%40example.com");
    ASSERT_VIEW(ru->host, "example.net");
    size_t n = unescape(ru->user, buf, sizeof(buf));
    assert_int_equal(n, 21);
    assert_memory_equal(buf, "sips:user@example.com", 21);
    sip_uri_t want = parse_uri("sip:sips%3auser%40example.com@example.net");
    assert_int_equal(sip_uri_equal(ru, &want), 1);
    want = parse_uri("sips:user@example.com");
    assert_int_equal(sip_uri_equal(ru, &want), 0);

    const sip_addr_t *to = sip_msg_get_to(m);
    ASSERT_VIEW(to->uri.user, "%75se%72");
    want = parse_uri("sip:user@example.com");
    assert_int_equal(sip_uri_equal(&to->uri, &want), 1);

    const sip_addr_t *from = sip_msg_get_from(m);
    ASSERT_VIEW(from->uri.user, "I%20have%20spaces");
    n = unescape(from->uri.user, buf, sizeof(buf));
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "I have spaces", 13);
    ASSERT_VIEW(from->tag, "938");

    /* The Contact's "n%61me=v%61lue%25%34%31" decodes once, to name=value%41 (not valueA). */
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    ASSERT_VIEW(ct->uri.user, "cal%6Cer");
    ASSERT_VIEW(ct->uri.params, "%6C%72;n%61me=v%61lue%25%34%31");
    want = parse_uri("sip:caller@host5.example.net;lr;name=value%2541");
    assert_int_equal(sip_uri_equal(&ct->uri, &want), 1);
    want = parse_uri("sip:caller@host5.example.net;lr;name=valueA");
    assert_int_equal(sip_uri_equal(&ct->uri, &want), 0);

    /* Compact "i" and "C" headers. */
    ASSERT_VIEW(sip_msg_get_call_id(m), "esc01.239409asdfakjkn23onasd0-3234");
    const sip_media_t *ctype = sip_msg_get_content_type(m);
    assert_non_null(ctype);
    ASSERT_VIEW(ctype->subtype, "sdp");
    assert_int_equal(sip_msg_get_body(m).len, 150);
    release(m);
}

/* RFC 4475 §3.1.1.4: %00 in user parts; decoding must keep the NUL octet. */
static void conformance_escnull_keeps_nul(void **state)
{
    (void)state;
    require_row("rfc4475", "escnull", "valid");
    sip_msg_t *m = must_parse("rfc4475", "escnull");
    char buf[64];
    const sip_addr_t *to = sip_msg_get_to(m);
    ASSERT_VIEW(to->uri.user, "null-%00-null");
    size_t n = unescape(to->uri.user, buf, sizeof(buf));
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "null-\0-null", 11);
    ASSERT_VIEW(sip_msg_get_from(m)->uri.user, "null-%00-null");

    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 2);
    const sip_addr_t *c1 = addr_at(m, SIP_HDR_CONTACT, 0);
    const sip_addr_t *c2 = addr_at(m, SIP_HDR_CONTACT, 1);
    ASSERT_VIEW(c1->uri.user, "%00");
    ASSERT_VIEW(c2->uri.user, "%00%00");
    assert_int_equal(unescape(c1->uri.user, buf, sizeof(buf)), 1);
    assert_int_equal(buf[0], 0);
    assert_int_equal(unescape(c2->uri.user, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "\0\0", 2);
    /* Two different bindings. */
    assert_int_equal(sip_uri_equal(&c1->uri, &c2->uri), 0);
    assert_int_equal(sip_uri_equal(&c1->uri, &c1->uri), 1);

    /* "L:0" */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH), 1);
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_CONTENT_LENGTH, 0)), "L");
    assert_int_equal(num_at(m, SIP_HDR_CONTENT_LENGTH, 0), 0);
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_REGISTER);
    release(m);
}

/* RFC 4475 §3.1.1.5: a '%' that is not an escape; nothing is unescaped in method or names. */
static void conformance_esc02_no_unescape(void **state)
{
    (void)state;
    require_row("rfc4475", "esc02", "valid");
    sip_msg_t *m = must_parse("rfc4475", "esc02");
    ASSERT_VIEW(sip_msg_get_method_str(m), "RE%47IST%45R");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_UNKNOWN);
    assert_int_not_equal(sip_msg_get_method(m), SIP_METHOD_REGISTER);
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    ASSERT_VIEW(cs->method_str, "RE%47IST%45R");
    assert_int_equal(cs->method, SIP_METHOD_UNKNOWN);

    ASSERT_VIEW(sip_msg_get_to(m)->display, "\"%Z%45\"");
    ASSERT_VIEW(sip_msg_get_from(m)->display, "\"%Z%45\"");
    ASSERT_VIEW(sip_msg_get_via(m)->branch, "z9hG4bK209%fzsnel234");

    /* C%6Fntact is an unknown header between two real Contacts. */
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 2);
    ASSERT_VIEW(addr_at(m, SIP_HDR_CONTACT, 0)->uri.host, "host1.example.com");
    ASSERT_VIEW(addr_at(m, SIP_HDR_CONTACT, 1)->uri.host, "host3.example.com");
    const sip_header_t *h = sip_msg_header_by_name(m, "C%6Fntact", 0);
    assert_non_null(h);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_OTHER);
    assert_null(sip_header_addr(h));
    ASSERT_VIEW(sip_header_get_value(h), "<sip:alias2@host2.example.com>");
    assert_int_equal(sip_hdr_id_from_name("C%6Fntact", 9), SIP_HDR_OTHER);
    /* By name "Contact" finds only the two real ones. */
    assert_non_null(sip_msg_header_by_name(m, "Contact", 1));
    assert_null(sip_msg_header_by_name(m, "Contact", 2));
    assert_int_equal(sip_msg_header_total(m), 10);
    release(m);
}

/* RFC 4475 §3.1.1.6: display-name token directly followed by '<'. */
static void conformance_lwsdisp_display_without_space(void **state)
{
    (void)state;
    require_row("rfc4475", "lwsdisp", "valid");
    sip_msg_t *m = must_parse("rfc4475", "lwsdisp");
    const sip_addr_t *from = sip_msg_get_from(m);
    ASSERT_VIEW(from->display, "caller");
    assert_int_equal(from->bracketed, 1);
    ASSERT_VIEW(from->uri.user, "caller");
    ASSERT_VIEW(from->uri.host, "example.com");
    ASSERT_VIEW(from->tag, "323");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_OPTIONS);
    release(m);
}

/* RFC 4475 §3.1.1.7: long values everywhere and 34 Via values. */
static void conformance_longreq_long_values(void **state)
{
    (void)state;
    require_row("rfc4475", "longreq", "valid");
    sip_msg_t *m = must_parse("rfc4475", "longreq");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 34);
    ASSERT_VIEW(via_at(m, 0)->host, "sip33.example.com");
    ASSERT_VIEW(via_at(m, 0)->transport, "TCP");
    const sip_via_t *last = via_at(m, 33);
    ASSERT_VIEW(last->host, "host.example.com");
    ASSERT_VIEW(last->received, "192.0.2.5");
    assert_int_equal(last->branch.len, 215);
    assert_memory_equal(last->branch.ptr, "verylonglong", 12);
    assert_memory_equal(last->branch.ptr + 215 - 11, "branchvalue", 11);
    assert_null(sip_msg_header_at(m, SIP_HDR_VIA, 34));

    const sip_addr_t *to = sip_msg_get_to(m);
    assert_int_equal(to->display.len, 105);
    assert_memory_equal(to->display.ptr, "\"I have a user name of extreme", 29);
    assert_int_equal(to->display.ptr[104], '"');
    assert_int_equal(to->uri.port, 6000);
    sip_str_t pv;
    assert_true(sip_uri_param(&to->uri, "unknownparam1", &pv));
    char pname[160] = "very";
    for (int i = 0; i < 25; i++)
        strcat(pname, "long");
    strcat(pname, "ParameterNameWithNoValue");
    assert_true(sip_uri_param(&to->uri, pname, &pv));
    ASSERT_VIEW(pv, "");
    const sip_addr_t *from = sip_msg_get_from(m);
    assert_int_equal(from->uri.user.len, 5 * 23);
    assert_int_equal(sip_msg_get_call_id(m).len, 141);

    char name[128] = "Unknown-";
    for (int i = 0; i < 20; i++)
        strcat(name, "Long");
    strcat(name, "-Name");
    const sip_header_t *h = sip_msg_header_by_name(m, name, 0);
    assert_non_null(h);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_OTHER);
    assert_memory_equal(sip_header_get_value(h).ptr, "unknown-longlong", 16);
    assert_int_equal(sip_msg_get_body(m).len, 150);
    release(m);
}

/* RFC 4475 §3.1.1.8: a datagram carrying a REGISTER then an INVITE; octets past Content-Length
 * are dropped (RFC 3261 §18.3). */
static void conformance_dblreq_trailing_octets_dropped(void **state)
{
    (void)state;
    require_row("rfc4475", "dblreq", "valid");
    sip_msg_t *m = must_parse("rfc4475", "dblreq");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_REGISTER);
    assert_int_equal(sip_msg_get_body(m).len, 0);
    assert_int_equal(sip_msg_header_total(m), 8);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CSEQ), 1);
    assert_int_equal(sip_msg_get_cseq(m)->method, SIP_METHOD_REGISTER);
    ASSERT_VIEW(sip_msg_get_call_id(m), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    assert_null(sip_msg_get_content_type(m));
    assert_int_equal(sip_msg_get_max_forwards(m), 8);
    release(m);
}

/* RFC 4475 §3.1.1.9: ';' in a user part belongs to it; a folded Accept list. */
static void conformance_semiuri_semicolon_in_user(void **state)
{
    (void)state;
    require_row("rfc4475", "semiuri", "valid");
    sip_msg_t *m = must_parse("rfc4475", "semiuri");
    const sip_uri_t *ru = sip_msg_get_uri(m);
    ASSERT_VIEW(ru->user, "user;par=u%40example.net");
    ASSERT_VIEW(ru->host, "example.com");
    ASSERT_VIEW(ru->params, "");
    assert_int_equal(sip_uri_param(ru, "par", NULL), 0);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ACCEPT), 6);
    const sip_media_t *a5 = sip_header_media(sip_msg_header_at(m, SIP_HDR_ACCEPT, 5));
    assert_non_null(a5);
    ASSERT_VIEW(a5->type, "message");
    ASSERT_VIEW(a5->subtype, "sipfrag");
    const sip_media_t *a2 = sip_header_media(sip_msg_header_at(m, SIP_HDR_ACCEPT, 2));
    ASSERT_VIEW(a2->type, "multipart");
    ASSERT_VIEW(a2->subtype, "mixed");
    release(m);
}

/* RFC 4475 §3.1.1.10: five transports, one of them unknown. */
static void conformance_transports_in_order(void **state)
{
    (void)state;
    require_row("rfc4475", "transports", "valid");
    sip_msg_t *m = must_parse("rfc4475", "transports");
    static const char *const tr[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
    static const char *const hosts[] = {"t1.example.com", "t2.example.com", "t3.example.com",
                                        "t4.example.com", "t5.example.com"};
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 5);
    for (size_t i = 0; i < 5; i++) {
        const sip_via_t *v = via_at(m, i);
        assert_true(sip_str_eq(v->transport, sip_str_from_cstr(tr[i])));
        assert_true(sip_str_eq(v->host, sip_str_from_cstr(hosts[i])));
    }
    ASSERT_VIEW(via_at(m, 3)->branch, "z9hG4bKasd0f3en");
    /* "Call-ID:  transports..." with two blanks: the value is trimmed. */
    ASSERT_VIEW(sip_msg_get_call_id(m), "transports.kijh4akdnaqjkwendsasfdj");
    release(m);
}

/* RFC 4475 §3.1.1.11: a binary multipart body measured by Content-Length only. */
static void conformance_mpart01_binary_body(void **state)
{
    (void)state;
    require_row("rfc4475", "mpart01", "valid");
    sip_msg_t *m = must_parse("rfc4475", "mpart01");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_MESSAGE);
    size_t len;
    char *raw = load_rel("rfc4475/mpart01.dat", &len);
    size_t he = header_end(raw, len);
    sip_str_t body = sip_msg_get_body(m);
    assert_int_equal(body.len, 553);
    assert_int_equal(len - he, 553);
    assert_memory_equal(body.ptr, raw + he, 553);
    free(raw);
    const sip_media_t *ct = sip_msg_get_content_type(m);
    assert_non_null(ct);
    ASSERT_VIEW(ct->type, "multipart");
    ASSERT_VIEW(ct->subtype, "mixed");
    ASSERT_VIEW(ct->params, "boundary=7a9cbec02ceef655");
    sip_str_t pv;
    assert_true(sip_params_get(ct->params, "boundary", &pv));
    ASSERT_VIEW(pv, "7a9cbec02ceef655");
    const sip_header_t *id = sip_msg_header_at(m, SIP_HDR_IDENTITY, 0);
    assert_non_null(id);
    assert_int_equal(sip_header_get_value(id).len, 172);
    const sip_header_t *date = sip_msg_header_at(m, SIP_HDR_DATE, 0);
    assert_non_null(date);
    assert_int_equal(sip_header_num(date)->time, 1129351496); /* 2005-10-15T04:44:56Z */
    ASSERT_VIEW(sip_header_get_value(sip_msg_header_by_name(m, "Content-Transfer-Encoding", 0)),
                "binary");
    assert_int_equal(sip_msg_get_via(m)->rport, 0);
    assert_int_equal(sip_msg_get_via(m)->port, 5070);
    release(m);
}

/* RFC 4475 §3.1.1.12: a UTF-8 reason phrase, kept octet for octet. */
static void conformance_unreason_utf8_reason(void **state)
{
    (void)state;
    require_row("rfc4475", "unreason", "valid");
    sip_msg_t *m = must_parse("rfc4475", "unreason");
    assert_int_equal(sip_msg_is_request(m), 0);
    assert_int_equal(sip_msg_get_status(m), 200);
    assert_null(sip_msg_get_uri(m));
    ASSERT_VIEW(sip_msg_get_reason(m),
                "= 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2"
                "\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f"
                "\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\xd0\xb5");
    assert_int_equal(sip_msg_get_reason(m).len, 74);
    assert_int_equal(sip_msg_get_body(m).len, 154);
    release(m);
}

/* RFC 4475 §3.1.1.13: "SIP/2.0 100 " with an empty reason phrase. */
static void conformance_noreason_empty_reason(void **state)
{
    (void)state;
    require_row("rfc4475", "noreason", "valid");
    sip_msg_t *m = must_parse("rfc4475", "noreason");
    assert_int_equal(sip_msg_is_request(m), 0);
    assert_int_equal(sip_msg_get_status(m), 100);
    assert_int_equal(sip_msg_get_reason(m).len, 0);
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_UNKNOWN);
    assert_int_equal(sip_msg_get_method_str(m).len, 0);
    ASSERT_VIEW(sip_msg_get_to(m)->tag, "902jndnke3");
    release(m);
}

/* RFC 4475 §3.3.12-13 (RFC 3261 §20.10): without <> the ;param is a header param, with <> it is
 * inside the URI. */
static void conformance_cparam_header_vs_uri_param(void **state)
{
    (void)state;
    require_row("rfc4475", "cparam01", "semantic");
    require_row("rfc4475", "cparam02", "semantic");
    sip_msg_t *m1 = must_parse("rfc4475", "cparam01");
    sip_msg_t *m2 = must_parse("rfc4475", "cparam02");
    const sip_addr_t *a1 = addr_at(m1, SIP_HDR_CONTACT, 0);
    const sip_addr_t *a2 = addr_at(m2, SIP_HDR_CONTACT, 0);
    assert_int_equal(a1->bracketed, 0);
    assert_int_equal(a2->bracketed, 1);
    ASSERT_VIEW(a1->uri.user, "+19725552222");
    ASSERT_VIEW(a1->uri.host, "gw1.example.net");
    ASSERT_VIEW(a1->uri.params, "");
    ASSERT_VIEW(a1->params, "unknownparam");
    ASSERT_VIEW(a1->uri.raw, "sip:+19725552222@gw1.example.net");
    ASSERT_VIEW(a2->uri.user, "+19725552222");
    ASSERT_VIEW(a2->uri.host, "gw1.example.net");
    ASSERT_VIEW(a2->uri.params, "unknownparam");
    ASSERT_VIEW(a2->params, "");
    ASSERT_VIEW(a2->uri.raw, "sip:+19725552222@gw1.example.net;unknownparam");
    assert_true(sip_uri_param(&a2->uri, "unknownparam", NULL));
    assert_false(sip_uri_param(&a1->uri, "unknownparam", NULL));
    assert_true(sip_params_get(a1->params, "unknownparam", NULL));
    release(m1);
    release(m2);
}

/* RFC 4475 §3.3.14: an escaped Route header inside a <>-enclosed Contact URI is kept. */
static void conformance_regescrt_contact_uri_headers(void **state)
{
    (void)state;
    require_row("rfc4475", "regescrt", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "regescrt");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 1);
    ASSERT_VIEW(sip_header_get_name(sip_msg_header_at(m, SIP_HDR_CONTACT, 0)), "M");
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    ASSERT_VIEW(ct->uri.headers, "Route=%3Csip:sip.example.com%3E");
    sip_str_t v;
    assert_true(sip_uri_header(&ct->uri, "route", &v));
    ASSERT_VIEW(v, "%3Csip:sip.example.com%3E");
    ASSERT_VIEW(ct->uri.user, "user");
    ASSERT_VIEW(ct->uri.host, "example.com");
    assert_int_equal(num_at(m, SIP_HDR_CONTENT_LENGTH, 0), 0);
    release(m);
}

/* RFC 4475 §3.4.1: RFC 2543 INVITE without Content-Length: the body is the rest of the datagram
 * (RFC 3261 §18.3), and the missing branch, tag and Max-Forwards read as absent. */
static void conformance_inv2543_body_to_end(void **state)
{
    (void)state;
    require_row("rfc4475", "inv2543", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "inv2543");
    size_t len;
    char *raw = load_rel("rfc4475/inv2543.dat", &len);
    size_t he = header_end(raw, len);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH), 0);
    sip_str_t body = sip_msg_get_body(m);
    assert_int_equal(body.len, 105);
    assert_int_equal(body.len, len - he);
    assert_memory_equal(body.ptr, raw + he, body.len);
    free(raw);
    const sip_via_t *v = sip_msg_get_via(m);
    ASSERT_VIEW(v->host, "iftgw.example.com");
    assert_int_equal(v->branch.len, 0);
    assert_int_equal(sip_msg_get_from(m)->tag.len, 0);
    assert_int_equal(sip_msg_get_max_forwards(m), -1);
    ASSERT_VIEW(sip_msg_get_from(m)->uri.user_param, "phone");
    ASSERT_VIEW(addr_at(m, SIP_HDR_RECORD_ROUTE, 0)->uri.maddr, "ss1.example.com");
    release(m);
}

/* RFC 4475 §3.3.1: no To, From, Call-ID or Max-Forwards; the getters answer "absent". */
static void conformance_insuf_missing_headers(void **state)
{
    (void)state;
    require_row("rfc4475", "insuf", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "insuf");
    assert_null(sip_msg_get_to(m));
    assert_null(sip_msg_get_from(m));
    assert_int_equal(sip_msg_get_call_id(m).len, 0);
    assert_int_equal(sip_msg_get_max_forwards(m), -1);
    assert_int_equal(sip_msg_get_expires(m), -1);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_TO), 0);
    assert_null(sip_msg_header_at(m, SIP_HDR_FROM, 0));
    assert_int_equal(sip_msg_get_cseq(m)->seq, 193942);
    assert_int_equal(sip_msg_get_body(m).len, 152);
    assert_int_equal(sip_msg_header_total(m), 4);
    release(m);
}

/* RFC 4475 §3.3.8: single-value headers repeated; every value is counted. */
static void conformance_multi01_repeated_headers(void **state)
{
    (void)state;
    require_row("rfc4475", "multi01", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "multi01");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CSEQ), 2);
    assert_int_equal(sip_header_cseq(sip_msg_header_at(m, SIP_HDR_CSEQ, 0))->seq, 5);
    assert_int_equal(sip_header_cseq(sip_msg_header_at(m, SIP_HDR_CSEQ, 1))->seq, 59);
    assert_int_equal(sip_msg_get_cseq(m)->seq, 5);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CALL_ID), 2);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_TO), 2);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_FROM), 2);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 2);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_MAX_FORWARDS), 2);
    assert_int_equal(num_at(m, SIP_HDR_MAX_FORWARDS, 1), 5);
    ASSERT_VIEW(addr_at(m, SIP_HDR_TO, 1)->uri.user, "other");
    assert_int_equal(sip_msg_header_total(m), 15);
    release(m);
}

/* RFC 4475 §3.3.9: two Content-Length values; a datagram's body follows the first one. */
static void conformance_mcl01_first_content_length(void **state)
{
    (void)state;
    require_row("rfc4475", "mcl01", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "mcl01");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH), 2);
    assert_int_equal(num_at(m, SIP_HDR_CONTENT_LENGTH, 0), 13);
    assert_int_equal(num_at(m, SIP_HDR_CONTENT_LENGTH, 1), 5);
    ASSERT_VIEW(sip_msg_get_body(m), "There's no wa");
    release(m);
}

/* RFC 4475 §3.2.1, §3.3.11: a bare magic cookie as branch, Max-Forwards 0. */
static void conformance_badbranch_zeromf_values(void **state)
{
    (void)state;
    require_row("rfc4475", "badbranch", "semantic");
    require_row("rfc4475", "zeromf", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "badbranch");
    ASSERT_VIEW(sip_msg_get_via(m)->branch, "z9hG4bK");
    ASSERT_VIEW(sip_msg_get_via(m)->params, "branch=z9hG4bK");
    release(m);
    m = must_parse("rfc4475", "zeromf");
    assert_int_equal(sip_msg_get_max_forwards(m), 0);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_MAX_FORWARDS), 1);
    release(m);
}

/* RFC 4475 §3.3.2-4: URIs of unknown schemes are generic absolute URIs, not errors. */
static void conformance_unknown_schemes_opaque(void **state)
{
    (void)state;
    require_row("rfc4475", "unkscm", "semantic");
    require_row("rfc4475", "novelsc", "semantic");
    require_row("rfc4475", "unksm2", "semantic");
    sip_msg_t *m = must_parse("rfc4475", "unkscm");
    const sip_uri_t *ru = sip_msg_get_uri(m);
    assert_int_equal(ru->scheme, SIP_URI_OTHER);
    ASSERT_VIEW(ru->scheme_str, "nobodyKnowsThisScheme");
    ASSERT_VIEW(ru->opaque, "totallyopaquecontent");
    assert_null(sip_uri_scheme_name(ru->scheme));
    release(m);

    m = must_parse("rfc4475", "novelsc");
    ru = sip_msg_get_uri(m);
    assert_int_equal(ru->scheme, SIP_URI_OTHER);
    ASSERT_VIEW(ru->scheme_str, "soap.beep");
    ASSERT_VIEW(ru->opaque, "//192.0.2.103:3002");
    ASSERT_VIEW(ru->raw, "soap.beep://192.0.2.103:3002");
    release(m);

    m = must_parse("rfc4475", "unksm2");
    const sip_addr_t *to = sip_msg_get_to(m), *from = sip_msg_get_from(m);
    assert_int_equal(to->uri.scheme, SIP_URI_OTHER);
    ASSERT_VIEW(to->uri.scheme_str, "isbn");
    ASSERT_VIEW(to->uri.opaque, "2983792873");
    assert_int_equal(from->uri.scheme, SIP_URI_OTHER);
    ASSERT_VIEW(from->uri.scheme_str, "http");
    ASSERT_VIEW(from->uri.opaque, "//www.example.com");
    ASSERT_VIEW(from->tag, "3234233");
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    assert_int_equal(ct->uri.scheme, SIP_URI_OTHER);
    ASSERT_VIEW(ct->uri.scheme_str, "name");
    ASSERT_VIEW(ct->uri.opaque, "John_Smith");
    assert_int_equal(sip_msg_get_uri(m)->scheme, SIP_URI_SIP);
    release(m);
}

/* RFC 5118 §4.1, §4.3, §4.4: bracketed IPv6 references; a port only after the bracket. */
static void conformance_rfc5118_ipv6_hosts_and_ports(void **state)
{
    (void)state;
    require_row("rfc5118", "ipv6-good", "valid");
    require_row("rfc5118", "port-ambiguous", "valid");
    require_row("rfc5118", "port-unambiguous", "valid");
    sip_msg_t *m = must_parse("rfc5118", "ipv6-good");
    const sip_uri_t *ru = sip_msg_get_uri(m);
    ASSERT_VIEW(ru->host, "[2001:db8::10]");
    assert_int_equal(ru->host_type, SIP_HOST_IPV6);
    assert_int_equal(ru->port, 0);
    assert_int_equal(ru->user.len, 0);
    const sip_via_t *v = sip_msg_get_via(m);
    ASSERT_VIEW(v->host, "[2001:db8::9:1]");
    assert_int_equal(v->host_type, SIP_HOST_IPV6);
    assert_int_equal(v->port, 0);
    ASSERT_VIEW(v->branch, "z9hG4bKas3-111");
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    ASSERT_VIEW(ct->display, "\"Caller\"");
    ASSERT_VIEW(ct->uri.host, "[2001:db8::1]");
    assert_int_equal(ct->uri.host_type, SIP_HOST_IPV6);
    release(m);

    m = must_parse("rfc5118", "port-ambiguous");
    ru = sip_msg_get_uri(m);
    ASSERT_VIEW(ru->host, "[2001:db8::10:5070]");
    assert_int_equal(ru->host_type, SIP_HOST_IPV6);
    assert_int_equal(ru->port, 0);
    release(m);

    m = must_parse("rfc5118", "port-unambiguous");
    ru = sip_msg_get_uri(m);
    ASSERT_VIEW(ru->host, "[2001:db8::10]");
    assert_int_equal(ru->host_type, SIP_HOST_IPV6);
    assert_int_equal(ru->port, 5070);
    release(m);

    /* The two are different URIs (RFC 5118 §4.3). */
    sip_uri_t a = parse_uri("sip:[2001:db8::10:5070]"), b = parse_uri("sip:[2001:db8::10]:5070");
    assert_int_equal(sip_uri_equal(&a, &b), 0);
}

/* RFC 5118 §4.5: received= with and without brackets; the branch after it is still read. */
static void conformance_rfc5118_via_received(void **state)
{
    (void)state;
    require_row("rfc5118", "via-received-param-with-delim", "valid");
    require_row("rfc5118", "via-received-param-no-delim", "valid");
    sip_msg_t *m = must_parse("rfc5118", "via-received-param-with-delim");
    const sip_via_t *v = sip_msg_get_via(m);
    ASSERT_VIEW(v->host, "[2001:db8::9:1]");
    ASSERT_VIEW(v->received, "[2001:db8::9:255]");
    ASSERT_VIEW(v->branch, "z9hG4bKas3-111");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_BYE);
    release(m);

    m = must_parse("rfc5118", "via-received-param-no-delim");
    v = sip_msg_get_via(m);
    ASSERT_VIEW(v->host, "[2001:db8::9:1]");
    ASSERT_VIEW(v->received, "2001:db8::9:255");
    ASSERT_VIEW(v->branch, "z9hG4bKas3");
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_OPTIONS);
    release(m);
}

/* RFC 5118 §4.7: three Vias mixing IPv6 with port, IPv4, and IPv6 over TCP. */
static void conformance_rfc5118_mult_ip_in_header(void **state)
{
    (void)state;
    require_row("rfc5118", "mult-ip-in-header", "valid");
    sip_msg_t *m = must_parse("rfc5118", "mult-ip-in-header");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 3);
    const sip_via_t *v = via_at(m, 0);
    ASSERT_VIEW(v->host, "[2001:db8::9:1]");
    assert_int_equal(v->host_type, SIP_HOST_IPV6);
    assert_int_equal(v->port, 6050);
    ASSERT_VIEW(v->transport, "UDP");
    ASSERT_VIEW(v->branch, "z9hG4bKas3-111");
    v = via_at(m, 1);
    ASSERT_VIEW(v->host, "192.0.2.1");
    assert_int_equal(v->host_type, SIP_HOST_IPV4);
    assert_int_equal(v->port, 0);
    ASSERT_VIEW(v->transport, "UDP");
    ASSERT_VIEW(v->branch, "z9hG4bKjhja8781hjuaij65144");
    v = via_at(m, 2);
    ASSERT_VIEW(v->host, "[2001:db8::9:255]");
    assert_int_equal(v->host_type, SIP_HOST_IPV6);
    assert_int_equal(v->port, 0);
    ASSERT_VIEW(v->transport, "TCP");
    ASSERT_VIEW(v->branch, "z9hG4bK451jj");
    ASSERT_VIEW(v->received, "192.0.2.200");
    release(m);
}

/* RFC 5118 §4.9 and §4.10: IPv4-mapped addresses; the three-colon form reads as the two-colon
 * one. */
static void conformance_rfc5118_mapped_and_colons(void **state)
{
    (void)state;
    require_row("rfc5118", "ipv4-mapped-ipv6", "valid");
    require_row("rfc5118", "ipv6-bug-abnf-3-colons", "valid");
    require_row("rfc5118", "ipv6-correct-abnf-2-colons", "valid");
    sip_msg_t *m = must_parse("rfc5118", "ipv4-mapped-ipv6");
    const sip_via_t *v = via_at(m, 0);
    ASSERT_VIEW(v->host, "[::ffff:192.0.2.10]");
    assert_int_equal(v->host_type, SIP_HOST_IPV6);
    assert_int_equal(v->port, 19823);
    ASSERT_VIEW(v->branch, "z9hG4bKbh19");
    v = via_at(m, 1);
    ASSERT_VIEW(v->host, "[::ffff:192.0.2.2]");
    assert_int_equal(v->host_type, SIP_HOST_IPV6);
    assert_int_equal(v->port, 0);
    const sip_addr_t *ct = addr_at(m, SIP_HDR_CONTACT, 0);
    ASSERT_VIEW(ct->display, "\"T. desk phone\"");
    ASSERT_VIEW(ct->uri.host, "[::ffff:192.0.2.2]");
    assert_int_equal(ct->uri.host_type, SIP_HOST_IPV6);
    assert_int_equal(sip_msg_get_body(m).len, 245);
    release(m);

    sip_msg_t *m3 = must_parse("rfc5118", "ipv6-bug-abnf-3-colons");
    sip_msg_t *m2 = must_parse("rfc5118", "ipv6-correct-abnf-2-colons");
    const sip_uri_t *u3 = sip_msg_get_uri(m3), *u2 = sip_msg_get_uri(m2);
    ASSERT_VIEW(u3->host, "[2001:db8:::192.0.2.1]");
    assert_int_equal(u3->host_type, SIP_HOST_IPV6);
    ASSERT_VIEW(u2->host, "[2001:db8::192.0.2.1]");
    assert_int_equal(u2->host_type, SIP_HOST_IPV6);
    assert_int_equal(sip_uri_equal(u3, u2), 1);
    assert_int_equal(sip_uri_equal(&sip_msg_get_to(m3)->uri, &sip_msg_get_to(m2)->uri), 1);
    release(m3);
    release(m2);
}

/* RFC 5118 §4.6, §4.8: SDP bodies, measured by the wire copies' corrected Content-Length. */
static void conformance_rfc5118_sdp_bodies(void **state)
{
    (void)state;
    require_row("rfc5118", "ipv6-in-sdp", "valid");
    require_row("rfc5118", "mult-ip-in-sdp", "valid");
    sip_msg_t *m = must_parse("rfc5118", "ipv6-in-sdp");
    assert_int_equal(sip_msg_get_body(m).len, 251);
    ASSERT_VIEW(sip_msg_get_uri(m)->host, "[2001:db8::10]");
    ASSERT_VIEW(addr_at(m, SIP_HDR_CONTACT, 0)->uri.host, "[2001:db8::20]");
    release(m);
    m = must_parse("rfc5118", "mult-ip-in-sdp");
    assert_int_equal(sip_msg_get_body(m).len, 189);
    ASSERT_VIEW(addr_at(m, SIP_HDR_CONTACT, 0)->uri.host, "[2001:db8::9:1]");
    release(m);
}

/* RFC 5118's archive uses bare LF line ends (README of the conformance folder). The parser takes
 * LF alone as a line end, so the archive copies whose Content-Length is right give the same
 * headers as their CRLF wire copies. */
static void conformance_rfc5118_bare_lf_archive(void **state)
{
    (void)state;
    static const char *const names[] = {"ipv6-good",
                                        "port-ambiguous",
                                        "port-unambiguous",
                                        "via-received-param-with-delim",
                                        "via-received-param-no-delim",
                                        "mult-ip-in-header",
                                        "ipv4-mapped-ipv6"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        require_row("rfc5118", names[i], "valid");
        char rel[256];
        size_t len;
        snprintf(rel, sizeof(rel), "rfc5118/%s.dat", names[i]);
        char *buf = load_rel(rel, &len);
        assert_null(memchr(buf, '\r', len));
        sip_msg_t *lf = NULL;
        sip_parse_error_t e;
        memset(&e, 0, sizeof(e));
        int rc = sip_msg_parse(&lf, buf, len, &e);
        free(buf);
        if (rc != 0) {
            describe(rel, rc, &e);
            fail_msg("%s (bare LF) must parse", rel);
        }
        hold(lf);
        sip_msg_t *crlf = must_parse("rfc5118", names[i]);
        assert_true(sip_str_eq(sip_msg_get_uri(lf)->raw, sip_msg_get_uri(crlf)->raw));
        assert_int_equal(sip_msg_header_total(lf), sip_msg_header_total(crlf));
        const sip_header_t *a = sip_msg_header_first(lf), *b = sip_msg_header_first(crlf);
        for (; a && b; a = sip_header_next(a), b = sip_header_next(b)) {
            assert_int_equal(sip_header_get_id(a), sip_header_get_id(b));
            /* Content-Length differs when there is a body: the archive counts LF octets. */
            if (sip_header_get_id(a) == SIP_HDR_CONTENT_LENGTH) continue;
            assert_true(sip_str_eq(sip_header_get_value(a), sip_header_get_value(b)));
        }
        assert_null(a);
        assert_null(b);
        sip_str_t body = sip_msg_get_body(lf);
        assert_int_equal(body.len,
                         sip_header_num(sip_msg_header_at(lf, SIP_HDR_CONTENT_LENGTH, 0))->value);
        release(lf);
        release(crlf);
    }
}

/* Where the errors point: the header and line at fault. */
static void conformance_error_positions(void **state)
{
    (void)state;
    sip_parse_error_t e;
    int rc;

    /* RFC 4475 §3.1.2.1: the Via on line 7 has empty params. */
    require_row("rfc4475", "badinv01", "invalid");
    rc = must_fail("rfc4475", "badinv01", &e);
    assert_int_equal(rc, SIP_EPARSE);
    assert_int_equal(e.code, SIP_EPARSE);
    assert_string_equal(e.header, "Via");
    assert_int_equal(e.line, 7);
    assert_true(e.column >= 1);
    assert_int_equal(e.status, 400);
    assert_true(e.reason[0] != '\0');

    /* RFC 4475 §3.1.2.16: SIP/7.0 on the request line. */
    require_row("rfc4475", "badvers", "invalid");
    rc = must_fail("rfc4475", "badvers", &e);
    assert_int_equal(rc, SIP_EVERSION);
    assert_int_equal(e.status, 505);
    assert_int_equal(e.line, 1);
    assert_string_equal(e.header, "");

    /* RFC 4475 §3.1.2.11: headers in the Request-URI. */
    require_row("rfc4475", "escruri", "invalid");
    rc = must_fail("rfc4475", "escruri", &e);
    assert_int_equal(rc, SIP_EPARSE);
    assert_int_equal(e.line, 1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.header, "");

    /* RFC 4475 §3.1.2.2: Content-Length 9999 (line 10) with 154 octets present. */
    require_row("rfc4475", "clerr", "invalid");
    rc = must_fail("rfc4475", "clerr", &e);
    assert_int_equal(rc, SIP_EPARSE);
    assert_string_equal(e.header, "Content-Length");
    assert_int_equal(e.line, 10);
    assert_int_equal(e.status, 400);

    /* RFC 5118 §4.2: an IPv6 address without brackets in the Request-URI. */
    require_row("rfc5118", "ipv6-bad", "invalid");
    rc = must_fail("rfc5118", "ipv6-bad", &e);
    assert_int_equal(rc, SIP_EPARSE);
    assert_int_equal(e.line, 1);
    assert_int_equal(e.status, 400);

    /* RFC 4475 §3.1.2.19: a malformed response is discarded, not answered. */
    require_row("rfc4475", "bigcode", "invalid");
    rc = must_fail("rfc4475", "bigcode", &e);
    assert_int_equal(rc, SIP_EPARSE);
    assert_int_equal(e.line, 1);
    assert_int_equal(e.status, 0);
}

/* ---- 3. limits and truncation -------------------------------------------------------------- */

/* Every valid message: one octet over max_size gives SIP_ETOOBIG; every cut inside the header
 * section gives an error (run under ASan: no read past the cut). */
static void conformance_valid_limits_and_truncation(void **state)
{
    (void)state;
    size_t messages = 0, cuts = 0, bad = 0;
    for (size_t i = 0; i < g_manifest.n; i++) {
        const row_t *r = &g_manifest.rows[i];
        if (strcmp(r->kind, "valid") != 0) continue;
        char rel[256];
        size_t len;
        rel_path(rel, sizeof(rel), r->rfc, r->name);
        char *buf = load_rel(rel, &len);
        int is_response = len >= 4 && memcmp(buf, "SIP/", 4) == 0;

        sip_parse_opts_t o;
        sip_parse_opts_init(&o);
        o.max_size = len - 1;
        sip_msg_t *m = NULL;
        sip_parse_error_t e;
        memset(&e, 0, sizeof(e));
        int rc = sip_msg_parse_ex(&m, buf, len, &o, &e);
        /* 513 Message Too Large for a request; a response is never answered (status 0). */
        if (rc != SIP_ETOOBIG || e.code != SIP_ETOOBIG || e.status != (is_response ? 0 : 513) ||
            m != NULL) {
            describe(rel, rc, &e);
            print_error("%s with max_size %zu: expected SIP_ETOOBIG, status %d\n", rel, o.max_size,
                        is_response ? 0 : 513);
            bad++;
        }
        sip_msg_unref(m);
        m = NULL;
        if (rc < 0) check_error_shape(rel, rc, &e);
        o.max_size = len;
        rc = sip_msg_parse_ex(&m, buf, len, &o, &e);
        if (rc != 0) {
            describe(rel, rc, &e);
            fail_msg("%s with max_size equal to its length must parse", rel);
        }
        sip_msg_unref(m);

        size_t he = header_end(buf, len);
        assert_true(he > 0);
        for (size_t cut = 0; cut < he; cut++) {
            /* An exact-size copy: reading past the cut is a heap overflow ASan reports. */
            char *part = malloc(cut ? cut : 1);
            assert_non_null(part);
            memcpy(part, buf, cut);
            m = (sip_msg_t *)(uintptr_t)1;
            memset(&e, 0, sizeof(e));
            rc = sip_msg_parse(&m, part, cut, &e);
            free(part);
            if (rc == 0) {
                sip_msg_unref(m);
                fail_msg("%s cut to %zu of %zu octets (header section ends at %zu) parsed", rel,
                         cut, len, he);
            }
            assert_null(m);
            if (rc != SIP_EPARSE && rc != SIP_EINCOMPLETE) {
                describe(rel, rc, &e);
                fail_msg("%s cut to %zu: unexpected code", rel, cut);
            }
            char what[300];
            snprintf(what, sizeof(what), "%s cut to %zu", rel, cut);
            check_error_shape(what, rc, &e);
            cuts++;
        }
        free(buf);
        messages++;
    }
    assert_int_equal(messages, 13 + 11);
    assert_true(cuts > 10000);
    if (bad) fail_msg("%zu size-limit checks failed", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(conformance_manifests_complete, release_all),
        cmocka_unit_test_teardown(conformance_manifest_verdicts, release_all),
        cmocka_unit_test_teardown(conformance_wsinv_tortuous_values, release_all),
        cmocka_unit_test_teardown(conformance_intmeth_extension_method, release_all),
        cmocka_unit_test_teardown(conformance_esc01_escapes_compare, release_all),
        cmocka_unit_test_teardown(conformance_escnull_keeps_nul, release_all),
        cmocka_unit_test_teardown(conformance_esc02_no_unescape, release_all),
        cmocka_unit_test_teardown(conformance_lwsdisp_display_without_space, release_all),
        cmocka_unit_test_teardown(conformance_longreq_long_values, release_all),
        cmocka_unit_test_teardown(conformance_dblreq_trailing_octets_dropped, release_all),
        cmocka_unit_test_teardown(conformance_semiuri_semicolon_in_user, release_all),
        cmocka_unit_test_teardown(conformance_transports_in_order, release_all),
        cmocka_unit_test_teardown(conformance_mpart01_binary_body, release_all),
        cmocka_unit_test_teardown(conformance_unreason_utf8_reason, release_all),
        cmocka_unit_test_teardown(conformance_noreason_empty_reason, release_all),
        cmocka_unit_test_teardown(conformance_cparam_header_vs_uri_param, release_all),
        cmocka_unit_test_teardown(conformance_regescrt_contact_uri_headers, release_all),
        cmocka_unit_test_teardown(conformance_inv2543_body_to_end, release_all),
        cmocka_unit_test_teardown(conformance_insuf_missing_headers, release_all),
        cmocka_unit_test_teardown(conformance_multi01_repeated_headers, release_all),
        cmocka_unit_test_teardown(conformance_mcl01_first_content_length, release_all),
        cmocka_unit_test_teardown(conformance_badbranch_zeromf_values, release_all),
        cmocka_unit_test_teardown(conformance_unknown_schemes_opaque, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_ipv6_hosts_and_ports, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_via_received, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_mult_ip_in_header, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_mapped_and_colons, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_sdp_bodies, release_all),
        cmocka_unit_test_teardown(conformance_rfc5118_bare_lf_archive, release_all),
        cmocka_unit_test_teardown(conformance_error_positions, release_all),
        cmocka_unit_test_teardown(conformance_valid_limits_and_truncation, release_all),
    };
    return cmocka_run_group_tests(tests, setup_manifests, NULL);
}
