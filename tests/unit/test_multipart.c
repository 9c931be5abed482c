/* SPDX-License-Identifier: MIT */
/* Unit tests of multipart bodies: RFC 4475 mpart01, delimiter edge cases, nesting, the builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"

#include "sip/multipart.h"

/* Allocation-failure hook of the multipart module (internal, not in a public header). */

#define STR_EQ(view, lit) assert_true(sip_str_eq((view), SIP_STR(lit)))

static sip_multipart_t *parse_ok(const char *ct, const char *body, size_t len)
{
    sip_multipart_t *mp = NULL;
    int rc = sip_multipart_parse(&mp, ct, strlen(ct), body, len);
    if (rc) fail_msg("parse failed: %s", sip_err_name(rc));
    assert_non_null(mp);
    return mp;
}

static int parse_rc(const char *ct, const char *body)
{
    sip_multipart_t *mp = (sip_multipart_t *)1;
    int rc = sip_multipart_parse(&mp, ct, ct ? strlen(ct) : 0, body, body ? strlen(body) : 0);
    assert_null(mp);
    return rc;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Finds the last occurrence of needle in hay. */
static const char *last_of(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = n - k + 1; i-- > 0;)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static void multipart_rfc4475_mpart01(void **state)
{
    (void)state;
    size_t len;
    char *msg = read_file(SIP_SHARED_DIR "/conformance/rfc4475/mpart01.dat", &len);
    /* RFC 4475 §3.1.1.11: the body is the last 553 octets (Content-Length), after the blank line.
     */
    assert_true(len > 553);
    const char *body = msg + len - 553;
    assert_memory_equal(body - 4, "\r\n\r\n", 4);

    sip_multipart_t *mp = parse_ok("multipart/mixed;boundary=7a9cbec02ceef655", body, 553);
    STR_EQ(sip_multipart_get_subtype(mp), "mixed");
    STR_EQ(sip_multipart_get_boundary(mp), "7a9cbec02ceef655");
    assert_int_equal(sip_multipart_count(mp), 2);

    const sip_multipart_part_t *p0 = sip_multipart_part_at(mp, 0);
    STR_EQ(sip_multipart_part_get_content_type(p0), "text/plain");
    STR_EQ(sip_multipart_part_get_body(p0), "Hello");
    assert_int_equal(sip_multipart_part_header_count(p0), 2);
    sip_str_t name, value;
    assert_int_equal(sip_multipart_part_header_at(p0, 1, &name, &value), 0);
    STR_EQ(name, "Content-Transfer-Encoding");
    STR_EQ(value, "binary");
    assert_int_equal(sip_multipart_part_header_at(p0, 2, &name, &value), SIP_ENOENT);
    assert_int_equal(sip_multipart_part_header(p0, "content-transfer-encoding", 0, &value), 1);
    STR_EQ(value, "binary");
    assert_int_equal(sip_multipart_part_header(p0, "Content-ID", 0, &value), 0);

    /* The DER part, located independently in the raw bytes: after its header block, up to the
     * CRLF before the close delimiter. */
    const sip_multipart_part_t *p1 = sip_multipart_part_at(mp, 1);
    STR_EQ(sip_multipart_part_get_content_type(p1), "application/octet-stream");
    static const char hdrs[] = "Content-Type: application/octet-stream\r\n"
                               "Content-Transfer-Encoding: binary\r\n\r\n";
    const char *der = last_of(body, 553, hdrs) + sizeof(hdrs) - 1;
    const char *der_end = last_of(body, 553, "\r\n--7a9cbec02ceef655--");
    assert_non_null(der_end);
    sip_str_t b1 = sip_multipart_part_get_body(p1);
    assert_int_equal(b1.len, 342);
    assert_int_equal((size_t)(der_end - der), 342);
    assert_memory_equal(b1.ptr, der, 342);
    /* DER SEQUENCE header, and the octets that trip text scanners are in there. */
    assert_memory_equal(b1.ptr, "\x30\x82\x01\x52", 4);
    assert_memory_equal(b1.ptr + 338, "\xbc\x99\xd0\x05", 4);
    assert_non_null(memchr(b1.ptr, '\0', b1.len));
    assert_null(sip_multipart_part_at(mp, 2));

    /* Printing gives back the original octets. */
    char out[600];
    assert_int_equal(sip_multipart_print(mp, out, sizeof(out)), 553);
    assert_memory_equal(out, body, 553);
    sip_multipart_unref(mp);
    free(msg);
}

static void multipart_delimiter_edge_cases(void **state)
{
    (void)state;
    /* Quoted boundary with a space, preamble, transport padding, LF-only lines, a part without
     * headers, a folded header, a boundary lookalike in the content, an epilogue. */
    static const char body[] = "This is the preamble.\r\n"
                               "--a b\t \r\n"
                               "\r\n"
                               "no headers here\r\n"
                               "--a b\n"
                               "Content-Type: text/plain;\r\n"
                               "  charset=utf-8\n"
                               "X-Empty:\n"
                               "\n"
                               "--a bX is content\n"
                               "line two\n"
                               "\r\n"
                               "--a b\r\n"
                               "Content-Type: application/sdp\r\n"
                               "\r\n"
                               "--a b--\r\n"
                               "epilogue --a b\r\n";
    sip_multipart_t *mp = parse_ok("Multipart/Related ; type=\"application/sdp\"; boundary=\"a b\"",
                                   body, sizeof(body) - 1);
    STR_EQ(sip_multipart_get_subtype(mp), "Related");
    STR_EQ(sip_multipart_get_boundary(mp), "a b");
    assert_int_equal(sip_multipart_count(mp), 3);
    const sip_multipart_part_t *p = sip_multipart_part_at(mp, 0);
    assert_int_equal(sip_multipart_part_header_count(p), 0);
    assert_null(sip_multipart_part_get_content_type(p).ptr);
    STR_EQ(sip_multipart_part_get_body(p), "no headers here");
    p = sip_multipart_part_at(mp, 1);
    STR_EQ(sip_multipart_part_get_content_type(p), "text/plain;\r\n  charset=utf-8");
    sip_str_t v;
    assert_int_equal(sip_multipart_part_header(p, "x-empty", 0, &v), 1);
    assert_int_equal(v.len, 0);
    /* A blank line before the delimiter keeps one line break in the content. */
    STR_EQ(sip_multipart_part_get_body(p), "--a bX is content\nline two\n");
    p = sip_multipart_part_at(mp, 2);
    STR_EQ(sip_multipart_part_get_content_type(p), "application/sdp");
    assert_int_equal(sip_multipart_part_get_body(p).len, 0);
    sip_multipart_unref(mp);

    /* Body starts with the delimiter, a part with headers only, unquoted boundary with spaces
     * around the parameter. */
    mp = parse_ok("multipart/mixed; boundary = xyz ", "--xyz\r\nA: 1\r\n--xyz--", 20);
    assert_int_equal(sip_multipart_count(mp), 1);
    p = sip_multipart_part_at(mp, 0);
    assert_int_equal(sip_multipart_part_header(p, "a", 0, &v), 1);
    STR_EQ(v, "1");
    assert_int_equal(sip_multipart_part_get_body(p).len, 0);
    sip_multipart_unref(mp);

    /* Blanks around the '/' of the media type. */
    mp = parse_ok("multipart   / mixed ;boundary=q", "--q\r\n\r\nx\r\n--q--", 15);
    STR_EQ(sip_multipart_get_subtype(mp), "mixed");
    assert_int_equal(sip_multipart_count(mp), 1);
    sip_multipart_unref(mp);

    /* Empty part between two delimiters. */
    mp = parse_ok("multipart/mixed;boundary=q", "--q\r\n--q\r\n\r\nx\r\n--q--\r\n", 22);
    assert_int_equal(sip_multipart_count(mp), 2);
    assert_int_equal(sip_multipart_part_get_body(sip_multipart_part_at(mp, 0)).len, 0);
    STR_EQ(sip_multipart_part_get_body(sip_multipart_part_at(mp, 1)), "x");
    sip_multipart_unref(mp);
}

static void multipart_errors(void **state)
{
    (void)state;
    const char *ok = "--b\r\n\r\nx\r\n--b--\r\n";
    assert_int_equal(parse_rc("text/plain;boundary=b", ok), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed", ok), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=", ok), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=\"\"", ok), SIP_EBODY);
    assert_int_equal(parse_rc("multipart;boundary=b", ok), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/;boundary=b", ok), SIP_EBODY);
    assert_int_equal(parse_rc(NULL, ok), SIP_EBODY);
    /* No delimiter, no close delimiter, only a close delimiter, a delimiter lookalike only. */
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "just text\r\n"), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b\r\n\r\nx\r\n"), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b\r\n\r\nx\r\n--bb--\r\n"),
                     SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b--\r\n"), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "x--b\r\n\r\nx\r\n--b--"), SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", ""), SIP_EBODY);
    /* Malformed part headers. */
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b\r\nno colon\r\n\r\nx\r\n--b--"),
                     SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b\r\n : v\r\n\r\nx\r\n--b--"),
                     SIP_EBODY);
    assert_int_equal(parse_rc("multipart/mixed;boundary=b", "--b\r\nA B: v\r\n\r\nx\r\n--b--"),
                     SIP_EBODY);
    sip_multipart_t *mp = NULL;
    assert_int_equal(sip_multipart_parse(NULL, "a", 1, "b", 1), SIP_EINVAL);
    assert_int_equal(sip_multipart_parse(&mp, "multipart/mixed;boundary=b", 26, NULL, 3),
                     SIP_EINVAL);
    assert_int_equal(sip_multipart_count(NULL), 0);
    assert_null(sip_multipart_part_at(NULL, 0));
    assert_int_equal(sip_multipart_part_header_at(NULL, 0, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_multipart_part_header(NULL, "a", 0, NULL), 0);
    assert_int_equal(sip_multipart_print(NULL, NULL, 0), SIP_EINVAL);
    sip_multipart_unref(NULL);
}

static void multipart_nested(void **state)
{
    (void)state;
    static const char body[] = "--outer\r\n"
                               "Content-Type: multipart/alternative; boundary=\"in:ner\"\r\n"
                               "\r\n"
                               "--in:ner\r\n"
                               "Content-Type: text/plain\r\n"
                               "\r\n"
                               "plain\r\n"
                               "--in:ner\r\n"
                               "Content-Type: text/html\r\n"
                               "\r\n"
                               "<b>html</b>\r\n"
                               "--in:ner--\r\n"
                               "\r\n"
                               "--outer\r\n"
                               "Content-Type: application/sdp\r\n"
                               "Content-Disposition: session\r\n"
                               "\r\n"
                               "v=0\r\n"
                               "--outer--\r\n";
    sip_multipart_t *mp = parse_ok("multipart/mixed;boundary=outer", body, sizeof(body) - 1);
    assert_int_equal(sip_multipart_count(mp), 2);
    const sip_multipart_part_t *p = sip_multipart_part_at(mp, 0);
    sip_str_t ct = sip_multipart_part_get_content_type(p);
    sip_str_t inner_body = sip_multipart_part_get_body(p);
    /* The inner close delimiter's CRLF and the blank line stay in the outer part. */
    assert_int_equal(inner_body.ptr[inner_body.len - 1], '\n');
    sip_multipart_t *in = NULL;
    assert_int_equal(sip_multipart_parse(&in, ct.ptr, ct.len, inner_body.ptr, inner_body.len), 0);
    STR_EQ(sip_multipart_get_subtype(in), "alternative");
    assert_int_equal(sip_multipart_count(in), 2);
    STR_EQ(sip_multipart_part_get_body(sip_multipart_part_at(in, 0)), "plain");
    STR_EQ(sip_multipart_part_get_content_type(sip_multipart_part_at(in, 1)), "text/html");
    STR_EQ(sip_multipart_part_get_body(sip_multipart_part_at(in, 1)), "<b>html</b>");
    /* The inner body lives as long as it holds its own copy. */
    sip_multipart_unref(mp);
    STR_EQ(sip_multipart_part_get_body(sip_multipart_part_at(in, 0)), "plain");
    sip_multipart_unref(in);
}

static void multipart_builder(void **state)
{
    (void)state;
    sip_multipart_t *mp = NULL;
    assert_int_equal(sip_multipart_create(&mp, NULL, "boundary42"), 0);
    static const char bin[] = {'a', '\0', '\r', '\n', '-', '-', (char)0xff};
    assert_int_equal(sip_multipart_add_part(mp, "application/sdp", "v=0\r\n", 5), 0);
    assert_int_equal(sip_multipart_add_part(mp, "application/octet-stream", bin, sizeof(bin)), 1);
    assert_int_equal(sip_multipart_add_part(mp, NULL, NULL, 0), 2);
    assert_int_equal(sip_multipart_part_add_header(mp, 0, "Content-Disposition", "session"), 0);
    assert_int_equal(sip_multipart_part_add_header(mp, 1, "Content-Transfer-Encoding", "binary"),
                     0);
    static const char want[] = "--boundary42\r\n"
                               "Content-Type: application/sdp\r\n"
                               "Content-Disposition: session\r\n"
                               "\r\n"
                               "v=0\r\n"
                               "\r\n"
                               "--boundary42\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Transfer-Encoding: binary\r\n"
                               "\r\n"
                               "a\0\r\n--\xff\r\n"
                               "--boundary42\r\n"
                               "\r\n"
                               "\r\n"
                               "--boundary42--\r\n";
    char out[512];
    int n = sip_multipart_print(mp, out, sizeof(out));
    assert_int_equal(n, (int)sizeof(want) - 1);
    assert_memory_equal(out, want, sizeof(want) - 1);
    char ct[64];
    assert_int_equal(sip_multipart_print_content_type(mp, ct, sizeof(ct)), 35);
    assert_string_equal(ct, "multipart/mixed;boundary=boundary42");
    /* snprintf semantics. */
    char small[8];
    assert_int_equal(sip_multipart_print(mp, small, sizeof(small)), n);
    assert_string_equal(small, "--bound");

    /* What was printed parses back to the same parts, byte for byte. */
    sip_multipart_t *back = parse_ok(ct, out, (size_t)n);
    assert_int_equal(sip_multipart_count(back), 3);
    for (size_t i = 0; i < 3; i++) {
        const sip_multipart_part_t *a = sip_multipart_part_at(mp, i);
        const sip_multipart_part_t *b = sip_multipart_part_at(back, i);
        assert_true(sip_str_eq(sip_multipart_part_get_body(a), sip_multipart_part_get_body(b)));
        assert_true(sip_str_eq(sip_multipart_part_get_content_type(a),
                               sip_multipart_part_get_content_type(b)));
        assert_int_equal(sip_multipart_part_header_count(a), sip_multipart_part_header_count(b));
    }
    sip_multipart_unref(back);

    /* Refused: bodies that hold the delimiter, bad names, values or indexes. */
    assert_int_equal(sip_multipart_add_part(mp, NULL, "x\r\n--boundary42\r\ny", 19), SIP_EINVAL);
    assert_int_equal(sip_multipart_add_part(mp, NULL, "--boundary42--", 14), SIP_EINVAL);
    assert_int_equal(sip_multipart_add_part(mp, NULL, "x\n--boundary42", 14), SIP_EINVAL);
    assert_int_equal(sip_multipart_add_part(mp, NULL, "x\n--boundary42 \t", 16), SIP_EINVAL);
    assert_int_equal(sip_multipart_add_part(mp, "a\r\nb: c", "x", 1), SIP_EINVAL);
    assert_int_equal(sip_multipart_add_part(mp, NULL, NULL, 1), SIP_EINVAL);
    assert_int_equal(sip_multipart_part_add_header(mp, 3, "A", "b"), SIP_EINVAL);
    assert_int_equal(sip_multipart_part_add_header(mp, 0, "A:B", "b"), SIP_EINVAL);
    assert_int_equal(sip_multipart_part_add_header(mp, 0, "--boundary42--", "b"), SIP_EINVAL);
    assert_int_equal(sip_multipart_part_add_header(mp, 0, "A", "b\nc"), SIP_EINVAL);
    assert_int_equal(sip_multipart_count(mp), 3);
    /* Content that only looks like the boundary is fine. */
    assert_int_equal(sip_multipart_add_part(mp, NULL, "--boundary42x", 13), 3);
    assert_int_equal(sip_multipart_print(mp, NULL, 0), n + 14 + 2 + 13 + 2);
    sip_multipart_t *ref = sip_multipart_ref(mp);
    assert_ptr_equal(ref, mp);
    sip_multipart_unref(ref);
    sip_multipart_unref(mp);

    /* Boundaries: RFC 2046 bchars, 1 to 70, no trailing space; quoted in the Content-Type when
     * they hold a tspecial. */
    assert_int_equal(sip_multipart_create(&mp, NULL, ""), SIP_EINVAL);
    assert_null(mp);
    assert_int_equal(sip_multipart_create(&mp, NULL, "a "), SIP_EINVAL);
    assert_int_equal(sip_multipart_create(&mp, NULL, "a;b"), SIP_EINVAL);
    assert_int_equal(sip_multipart_create(&mp, "a/b", "x"), SIP_EINVAL);
    assert_int_equal(sip_multipart_create(&mp, NULL, NULL), SIP_EINVAL);
    char b71[72];
    memset(b71, 'x', 71);
    b71[71] = '\0';
    assert_int_equal(sip_multipart_create(&mp, NULL, b71), SIP_EINVAL);
    b71[70] = '\0';
    assert_int_equal(sip_multipart_create(&mp, NULL, b71), 0);
    sip_multipart_unref(mp);
    assert_int_equal(sip_multipart_create(&mp, "alternative", "a b:c"), 0);
    assert_int_equal(sip_multipart_print_content_type(mp, ct, sizeof(ct)), 38);
    assert_string_equal(ct, "multipart/alternative;boundary=\"a b:c\"");
    assert_int_equal(sip_multipart_print(mp, ct, sizeof(ct)), 11);
    assert_string_equal(ct, "--a b:c--\r\n");
    sip_multipart_unref(mp);
}

static void multipart_alloc_failure_sweep(void **state)
{
    (void)state;
    /* Enough parts to grow the part array and spill into more chunks. */
    char body[8192];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "--b\r\nContent-Type: text/plain\r\nX-Index: %d\r\n\r\npart %d\r\n",
                              i, i);
    n += (size_t)snprintf(body + n, sizeof(body) - n, "--b--\r\n");
    int ok = 0;
    for (long fail = 0; fail < 200 && !ok; fail++) {
        sip_multipart_t *mp = NULL;
        test_alloc_fail_at(fail + 1);
        int rc = sip_multipart_parse(&mp, "multipart/mixed;boundary=b", 26, body, n);
        test_alloc_fail_at(0);
        if (rc == 0) {
            ok = 1;
            assert_true(fail > 2);
            assert_int_equal(sip_multipart_count(mp), 40);
            STR_EQ(sip_multipart_part_get_body(sip_multipart_part_at(mp, 39)), "part 39");
            sip_multipart_unref(mp);
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(mp);
        }
    }
    assert_true(ok);

    ok = 0;
    for (long fail = 0; fail < 200 && !ok; fail++) {
        sip_multipart_t *mp = NULL;
        test_alloc_fail_at(fail + 1);
        int rc = sip_multipart_create(&mp, NULL, "b");
        for (int i = 0; rc >= 0 && i < 40; i++) {
            rc = sip_multipart_add_part(mp, "text/plain", "some body text", 14);
            if (rc >= 0) rc = sip_multipart_part_add_header(mp, (size_t)rc, "X-A", "value");
        }
        test_alloc_fail_at(0);
        if (rc >= 0) {
            ok = 1;
            assert_int_equal(sip_multipart_count(mp), 40);
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
        }
        sip_multipart_unref(mp);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multipart_rfc4475_mpart01),
        cmocka_unit_test(multipart_delimiter_edge_cases),
        cmocka_unit_test(multipart_errors),
        cmocka_unit_test(multipart_nested),
        cmocka_unit_test(multipart_builder),
        cmocka_unit_test(multipart_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
