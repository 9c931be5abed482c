/* SPDX-License-Identifier: MIT */
/* Printing keeps what was received: an unedited parsed message prints back byte for byte, and an
 * edited one differs only in what was edited. A relay forwards what it prints, so a change it
 * never made must not reach the next hop (header forms, compact names, order, comma lists on one
 * line, whitespace, line ends). */
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

#define CONF_DIR SIP_SHARED_DIR "/conformance"

static char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
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

/* Prints m into a new buffer; *len receives the length. */
static char *print(const sip_msg_t *m, size_t *len)
{
    int n = sip_msg_print(m, NULL, 0);
    assert_true(n > 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(sip_msg_print(m, buf, (size_t)n + 1), n);
    *len = (size_t)n;
    return buf;
}

/* Where two byte strings first differ, for a message that says what went wrong. */
static void assert_same_bytes(const char *what, const char *want, size_t wlen, const char *got,
                              size_t glen)
{
    if (wlen == glen && memcmp(want, got, wlen) == 0) return;
    size_t i = 0;
    while (i < wlen && i < glen && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fail_msg("%s: printed %zu bytes for %zu; first difference at offset %zu:\n"
             "  want ...%.*s...\n  got  ...%.*s...",
             what, glen, wlen, i, (int)((wlen - from) < 80 ? wlen - from : 80), want + from,
             (int)((glen - from) < 80 ? glen - from : 80), got + from);
}

static void assert_round_trip(const char *what, const char *buf, size_t len)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc != 0)
        fail_msg("%s: does not parse (line %u col %u: %s)", what, err.line, err.column,
                 err.reason);
    size_t n;
    char *out = print(m, &n);
    assert_same_bytes(what, buf, len, out, n);
    /* The printed form is a message of its own with the same bytes again. */
    sip_msg_t *m2 = NULL;
    assert_int_equal(sip_msg_parse(&m2, out, n, NULL), 0);
    size_t n2;
    char *out2 = print(m2, &n2);
    assert_same_bytes(what, buf, len, out2, n2);
    free(out2);
    free(out);
    sip_msg_unref(m2);
    sip_msg_unref(m);
}

/* Every message a manifest calls valid. dblreq alone is left out: it is a datagram whose octets
 * past Content-Length are discarded (RFC 3261 §18.3), so its print is shorter on purpose. */
static int round_trip_manifest(const char *rfc)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/MANIFEST.tsv", CONF_DIR, rfc);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[2048];
    int count = 0;
    while (fgets(line, sizeof(line), f)) {
        char *name = strtok(line, "\t"), *section = strtok(NULL, "\t"),
             *kind = strtok(NULL, "\t");
        if (!name || !section || !kind || strcmp(kind, "valid") != 0) continue;
        if (strcmp(name, "dblreq") == 0) continue;
        char file[1024];
        /* RFC 5118's archive is fed through its wire/ form (see the folder's README). */
        if (strcmp(rfc, "rfc5118") == 0)
            snprintf(file, sizeof(file), "%s/%s/wire/%s.dat", CONF_DIR, rfc, name);
        else
            snprintf(file, sizeof(file), "%s/%s/%s.dat", CONF_DIR, rfc, name);
        size_t len;
        char *buf = load(file, &len);
        assert_round_trip(file, buf, len);
        free(buf);
        count++;
    }
    fclose(f);
    return count;
}

static void roundtrip_rfc4475_valid(void **state)
{
    (void)state;
    /* 13 valid rows less dblreq; a manifest that lost its rows must not pass quietly. */
    assert_true(round_trip_manifest("rfc4475") >= 12);
}

static void roundtrip_rfc5118_valid(void **state)
{
    (void)state;
    assert_true(round_trip_manifest("rfc5118") >= 11);
}

/* Every .sip file of a folder of the source tree. */
static int round_trip_dir(const char *rel)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", SIP_SOURCE_DIR, rel);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".sip") != 0) continue;
        char file[2048];
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        size_t len;
        char *buf = load(file, &len);
        assert_round_trip(file, buf, len);
        free(buf);
        count++;
    }
    closedir(d);
    return count;
}

static void roundtrip_corpus_and_examples(void **state)
{
    (void)state;
    assert_true(round_trip_dir("bench/corpus") >= 5);
    assert_true(round_trip_dir("examples/messages") >= 1);
}

/* Forms a relay meets and must not change: compact names, odd case, folds, tabs, lists with and
 * without blanks, bare LF line ends, a message without Content-Length, an empty header. */
static void roundtrip_unusual_forms(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "OPTIONS sip:b@example.com SIP/2.0\r\n"
        "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1 , SIP/2.0/TCP g.example.com;branch=z9hG4bK2\r\n"
        "t:<sip:b@example.com>\r\nf:   <sip:a@example.com>;tag=1\r\ni: c1\r\n"
        "CSEQ:1 OPTIONS\r\nmax-forwards :\t70\r\nAllow:INVITE,ACK ,  BYE\r\n"
        "Subject: a folded\r\n\tsubject\r\n line\r\nX-Empty:\r\nl: 0\r\n\r\n",
        "SIP/2.0 200 OK\n"
        "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n"
        "To: <sip:b@example.com>;tag=x\nFrom: <sip:a@example.com>;tag=1\nCall-ID: c1\n"
        "CSeq: 1 OPTIONS\n\nbody without a length",
        "SIP/2.0 180 \r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
        "To: <sip:b@example.com>;tag=x\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\n"
        "CSeq: 1 INVITE\r\nSupported:\r\nContent-Length:    0   \r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        assert_round_trip(msgs[i], msgs[i], strlen(msgs[i]));
}

/* ---- edits touch only what they edit ------------------------------------------------------ */

static const char BASE[] = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
                           "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
                           "Max-Forwards: 70\r\n"
                           "To: Bob <sip:bob@biloxi.example.com>\r\n"
                           "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                           "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
                           "CSeq: 314159 INVITE\r\n"
                           "Allow: INVITE, ACK,CANCEL , BYE\r\n"
                           "Supported: replaces, timer\r\n"
                           "x-custom:  one\r\n"
                           "c: application/sdp\r\n"
                           "l: 4\r\n"
                           "\r\n"
                           "v=0\n";

static sip_msg_t *base(void)
{
    sip_msg_t *m = NULL;
    assert_int_equal(sip_msg_parse(&m, BASE, strlen(BASE), NULL), 0);
    return m;
}

/* BASE with the first occurrence of `from` replaced by `to`. */
static char *base_with(const char *from, const char *to)
{
    const char *at = strstr(BASE, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - BASE), fl = strlen(from), tl = strlen(to);
    char *s = malloc(strlen(BASE) - fl + tl + 1);
    assert_non_null(s);
    memcpy(s, BASE, pre);
    memcpy(s + pre, to, tl);
    strcpy(s + pre + tl, at + fl);
    return s;
}

static void assert_prints(sip_msg_t *m, const char *want, const char *what)
{
    size_t n;
    char *out = print(m, &n);
    assert_same_bytes(what, want, strlen(want), out, n);
    free(out);
}

static void check_edit(sip_msg_t *m, const char *from, const char *to, const char *what)
{
    char *want = base_with(from, to);
    assert_prints(m, want, what);
    free(want);
    sip_msg_unref(m);
}

static void roundtrip_edit_prepend_via(void **state)
{
    (void)state;
    sip_msg_t *m = base();
    assert_int_equal(sip_msg_prepend_header(m, "Via", "SIP/2.0/UDP p.example.com;branch=z9hG4bKp"),
                     0);
    check_edit(m, "v: ", "Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp\r\nv: ", "prepend Via");
}

static void roundtrip_edit_set_in_place(void **state)
{
    (void)state;
    sip_msg_t *m = base();
    /* A proxy's Max-Forwards stays where it was (RFC 3261 §16.6 step 3). */
    assert_int_equal(sip_msg_set_header(m, "Max-Forwards", "69"), 0);
    check_edit(m, "Max-Forwards: 70\r\n", "Max-Forwards: 69\r\n", "set Max-Forwards");
    /* A list replaced whole keeps its place; the name is the one given. */
    m = base();
    assert_int_equal(sip_msg_set_header(m, "Allow", "INVITE, BYE"), 0);
    check_edit(m, "Allow: INVITE, ACK,CANCEL , BYE\r\n", "Allow: INVITE, BYE\r\n", "set Allow");
    /* An unknown header, matched by name in any case. */
    m = base();
    assert_int_equal(sip_msg_set_header(m, "X-Custom", "two"), 0);
    check_edit(m, "x-custom:  one\r\n", "X-Custom: two\r\n", "set x-custom");
    /* Absent: appended after the others. */
    m = base();
    assert_int_equal(sip_msg_set_header(m, "Subject", "hi"), 0);
    check_edit(m, "l: 4\r\n", "l: 4\r\nSubject: hi\r\n", "set an absent header");
    /* A bad value changes nothing. */
    m = base();
    assert_int_equal(sip_msg_set_header(m, "Max-Forwards", "many"), SIP_EPARSE);
    check_edit(m, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\n", "refused set");
}

static void roundtrip_edit_add_append(void **state)
{
    (void)state;
    sip_msg_t *m = base();
    assert_int_equal(sip_msg_add_header(m, "Record-Route", "<sip:p.example.com;lr>"), 0);
    /* Content-Length is a received line: the new header goes after it, the rest stays. */
    check_edit(m, "l: 4\r\n", "l: 4\r\nRecord-Route: <sip:p.example.com;lr>\r\n", "add");
    m = base();
    assert_int_equal(sip_msg_add_header(m, "Require", "100rel, timer"), 0);
    check_edit(m, "l: 4\r\n", "l: 4\r\nRequire: 100rel, timer\r\n", "add a list");
}

static void roundtrip_edit_list_values(void **state)
{
    (void)state;
    /* Removing one value of a list rewrites that line only, the others as they were. */
    sip_msg_t *m = base();
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ALLOW), 4);
    assert_int_equal(sip_msg_remove_header(m, "Allow", 1), 0);
    check_edit(m, "Allow: INVITE, ACK,CANCEL , BYE\r\n", "Allow: INVITE, CANCEL, BYE\r\n",
               "remove a middle value");
    m = base();
    assert_int_equal(sip_msg_remove_header(m, "Allow", 0), 0);
    check_edit(m, "Allow: INVITE, ACK,CANCEL , BYE\r\n", "Allow: ACK, CANCEL, BYE\r\n",
               "remove the first value");
    m = base();
    assert_int_equal(sip_msg_remove_headers(m, "Allow"), 4);
    check_edit(m, "Allow: INVITE, ACK,CANCEL , BYE\r\n", "", "remove the whole list");
    /* One value replaced in place. */
    m = base();
    const sip_header_t *h = sip_msg_header_at(m, SIP_HDR_SUPPORTED, 1);
    assert_non_null(h);
    assert_int_equal(sip_msg_update_header(m, h, "100rel"), 0);
    check_edit(m, "Supported: replaces, timer\r\n", "Supported: replaces, 100rel\r\n",
               "update one value");
    /* The Via a proxy stamps (RFC 3581 received/rport) is an update of its line only. */
    m = base();
    h = sip_msg_header_at(m, SIP_HDR_VIA, 0);
    assert_int_equal(
        sip_msg_update_header(m, h, "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"
                                    ";received=192.0.2.1"),
        0);
    check_edit(m, "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n",
               "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"
               ";received=192.0.2.1\r\n",
               "update the Via");
}

static void roundtrip_edit_body_and_start_line(void **state)
{
    (void)state;
    sip_msg_t *m = base();
    assert_int_equal(sip_msg_set_body(m, "text/plain", "hello", 5), 0);
    char *a = base_with("c: application/sdp\r\nl: 4\r\n\r\nv=0\n",
                        "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    assert_prints(m, a, "set body");
    free(a);
    sip_msg_unref(m);
    m = base();
    assert_int_equal(sip_msg_set_uri(m, "sip:bob@192.0.2.4"), 0);
    check_edit(m, "sip:bob@biloxi.example.com SIP", "sip:bob@192.0.2.4 SIP", "set the URI");
}

static void roundtrip_response_status(void **state)
{
    (void)state;
    const char *rsp = "SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
                      "To: <sip:b@example.com>;tag=x\r\nf: <sip:a@example.com>;tag=1\r\n"
                      "i: c1\r\nCSeq: 1 INVITE\r\n\r\n";
    sip_msg_t *m = NULL;
    assert_int_equal(sip_msg_parse(&m, rsp, strlen(rsp), NULL), 0);
    assert_int_equal(sip_msg_set_status(m, 183, "Session Progress"), 0);
    /* Edited: the start line is new and the message now says how long its body is. */
    assert_prints(m,
                  "SIP/2.0 183 Session Progress\r\nv: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
                  "To: <sip:b@example.com>;tag=x\r\nf: <sip:a@example.com>;tag=1\r\n"
                  "i: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                  "set status");
    sip_msg_unref(m);
}

/* A response built from a received request keeps the request's lists on one line each. */
static void roundtrip_response_copies_lists(void **state)
{
    (void)state;
    const char *req = "OPTIONS sip:b@example.com SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp, SIP/2.0/UDP h.example.com"
                      ";branch=z9hG4bK1\r\nTo: <sip:b@example.com>\r\n"
                      "From: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    sip_msg_t *m = NULL, *r = NULL;
    assert_int_equal(sip_msg_parse(&m, req, strlen(req), NULL), 0);
    assert_int_equal(sip_msg_create_response(&r, m, 200, NULL, "t1"), 0);
    assert_prints(r,
                  "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p.example.com;branch=z9hG4bKp, SIP/2.0/UDP "
                  "h.example.com;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\n"
                  "To: <sip:b@example.com>;tag=t1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
                  "Content-Length: 0\r\n\r\n",
                  "response");
    sip_msg_unref(r);
    sip_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_rfc4475_valid),
        cmocka_unit_test(roundtrip_rfc5118_valid),
        cmocka_unit_test(roundtrip_corpus_and_examples),
        cmocka_unit_test(roundtrip_unusual_forms),
        cmocka_unit_test(roundtrip_edit_prepend_via),
        cmocka_unit_test(roundtrip_edit_set_in_place),
        cmocka_unit_test(roundtrip_edit_add_append),
        cmocka_unit_test(roundtrip_edit_list_values),
        cmocka_unit_test(roundtrip_edit_body_and_start_line),
        cmocka_unit_test(roundtrip_response_status),
        cmocka_unit_test(roundtrip_response_copies_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
