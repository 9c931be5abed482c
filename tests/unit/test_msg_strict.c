/* SPDX-License-Identifier: MIT */
/* Unit tests of the header grammar where libsip once stood alone against Sofia-SIP and oSIP2:
 * repeated tags, folded Date, addr-spec with ';', Via rport values, bracketed Via hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

/* A request whose Via parameters, Via host, From, To and one extra header line vary. */
static size_t make(char *buf, size_t cap, const char *via_host, const char *via_params,
                   const char *from, const char *to, const char *extra)
{
    int n = snprintf(buf, cap,
                     "OPTIONS sip:bob@example.com SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP %s;branch=z9hG4bK74bf9%s\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: %s\r\n"
                     "To: %s\r\n"
                     "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "%s"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     via_host, via_params, from, to, extra);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

#define FROM_OK "<sip:alice@atlanta.example.com>;tag=9fxced76sl"
#define TO_OK "<sip:bob@example.com>"

static sip_msg_t *parse_ok(const char *buf, size_t len)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc) fail_msg("parse failed: %s (line %u col %u)", err.reason, err.line, err.column);
    assert_non_null(m);
    return m;
}

/* The message must be refused with 400, the error naming header and saying why. */
static void parse_400(const char *buf, size_t len, const char *header, const char *why)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc == 0) {
        sip_msg_unref(m);
        fail_msg("accepted, expected a 400 naming %s: %.*s", header, (int)len, buf);
    }
    assert_null(m);
    assert_int_equal(rc, SIP_EPARSE);
    assert_int_equal(err.code, SIP_EPARSE);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.header, header);
    if (!strstr(err.reason, why)) fail_msg("reason \"%s\" lacks \"%s\"", err.reason, why);
    if (!strstr(err.phrase, header)) fail_msg("phrase \"%s\" lacks \"%s\"", err.phrase, header);
}

static void assert_str(sip_str_t s, const char *want)
{
    char buf[256];
    sip_str_copy(s, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(s.len, strlen(want));
}

static void msg_strict_repeated_tag_is_400(void **state)
{
    (void)state;
    char buf[1024];
    size_t n;
    /* The last tag used to win: "evil", or no tag at all after a valueless one. */
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "",
             "<sip:alice@atlanta.example.com>;tag=a1;tag=evil", TO_OK, "");
    parse_400(buf, n, "From", "repeated tag");
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "",
             "<sip:alice@atlanta.example.com>;tag=a1;tag", TO_OK, "");
    parse_400(buf, n, "From", "repeated tag");
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "",
             "sip:alice@atlanta.example.com;tag=a1;x=1;TAG=a1", TO_OK, "");
    parse_400(buf, n, "From", "repeated tag");
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", FROM_OK,
             "Bob <sip:bob@example.com>;tag=b1;tag=b2", "");
    parse_400(buf, n, "To", "repeated tag");

    /* A lone valueless ";tag" is a generic-param (RFC 3261 §25.1), no tag, as the peers read it. */
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", "<sip:alice@atlanta.example.com>;tag",
             TO_OK, "");
    sip_msg_t *lone = parse_ok(buf, n);
    assert_int_equal(sip_msg_get_from(lone)->tag.len, 0);
    sip_msg_unref(lone);

    /* One tag, and the tag of a URI inside the brackets, are fine. */
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "",
             "<sip:alice@atlanta.example.com;tag=u>;tag=a1", "<sip:bob@example.com>;tag=b1", "");
    sip_msg_t *m = parse_ok(buf, n);
    assert_str(sip_msg_get_from(m)->tag, "a1");
    assert_str(sip_msg_get_to(m)->tag, "b1");
    sip_msg_unref(m);
}

static void msg_strict_folded_date(void **state)
{
    (void)state;
    char buf[1024];
    static const char *const dates[] = {
        "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n",
        /* RFC 3261 §7.3.1: each fold (CRLF and blanks) is one SP. */
        "Date: Sat, 13 Nov 2010\r\n 23:29:00 GMT\r\n",
        "Date: Sat,\r\n 13\r\n\tNov 2010 23:29:00\r\n   GMT\r\n",
        "Date:\r\n Sat, 13 Nov 2010 23:29:00 GMT\r\n",
        /* GB/T 28181-2016 §9.1.2.1's form, with and without milliseconds. */
        "Date: 2010-11-13T23:29:00.123\r\n",
        "Date: 2010-11-13T23:29:00\r\n",
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", FROM_OK, TO_OK, dates[i]);
        sip_msg_t *m = parse_ok(buf, n);
        const sip_num_t *d = sip_header_num(sip_msg_header_at(m, SIP_HDR_DATE, 0));
        assert_non_null(d);
        assert_int_equal(d->time, 1289690940); /* 2010-11-13T23:29:00Z */
        sip_msg_unref(m);
    }
    /* Every day of the week (Tuesday was once missing from the table): 8-14 Nov 2010. */
    static const char *const week[] = {"Mon, 08", "Tue, 09", "Wed, 10", "Thu, 11",
                                       "Fri, 12", "Sat, 13", "Sun, 14"};
    for (size_t i = 0; i < sizeof week / sizeof week[0]; i++) {
        char date[64];
        snprintf(date, sizeof date, "Date: %s Nov 2010 23:29:00 GMT\r\n", week[i]);
        size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", FROM_OK, TO_OK, date);
        sip_msg_t *m = parse_ok(buf, n);
        const sip_num_t *d = sip_header_num(sip_msg_header_at(m, SIP_HDR_DATE, 0));
        assert_non_null(d);
        assert_int_equal(d->time, 1289690940 + ((int64_t)i - 5) * 86400);
        sip_msg_unref(m);
    }
    /* A fold inside a field, another zone or trailing text stay malformed. */
    static const char *const bad[] = {
        "Date: Sat, 13 Nov 20\r\n 10 23:29:00 GMT\r\n",
        "Date: Sat, 13 Nov 2010 23:29:00 EST\r\n",
        "Date: Sat, 13 Nov 2010 23:29:00 GMT x\r\n",
        "Date: Sat, 13 Nov 2010\r\n",
        "Date: 2010-13-13T23:29:00\r\n",
        "Date: 2010-11-13T23:29:00.\r\n",
        "Date: 2010-11-13T23:29:00.1234\r\n",
        "Date: 2010-11-13 23:29:00\r\n",
        "Date: 2010-11-13T23:29\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", FROM_OK, TO_OK, bad[i]);
        parse_400(buf, n, "Date", "");
    }
}

static void msg_strict_addr_spec_semicolon(void **state)
{
    (void)state;
    char buf[1024];
    /* RFC 3261 §20.10/§20.20: without brackets the first ';' ends the URI, so this is the URI
     * "sip:a" followed by "b@example.com", which is no parameter: malformed, never user "a;b". */
    size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", "sip:a;b@example.com;tag=t1",
                    TO_OK, "");
    parse_400(buf, n, "From", "unexpected character");
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", FROM_OK, "sip:bob;x=1@example.com",
             "");
    parse_400(buf, n, "To", "unexpected character");

    /* In brackets the ';' belongs to the user part. */
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "", "<sip:a;b@example.com>;tag=t1", TO_OK,
             "");
    sip_msg_t *m = parse_ok(buf, n);
    const sip_addr_t *a = sip_msg_get_from(m);
    assert_str(a->uri.user, "a;b");
    assert_str(a->uri.host, "example.com");
    assert_str(a->tag, "t1");
    sip_msg_unref(m);

    /* Without brackets, parameters after the host are header parameters (RFC 4475 cparam01). */
    n = make(buf, sizeof buf, "pc33.atlanta.example.com", "",
             "sip:alice@atlanta.example.com;tag=t1;x=y", "sip:+19725552222@gw1.example.net;lr", "");
    m = parse_ok(buf, n);
    a = sip_msg_get_from(m);
    assert_str(a->uri.user, "alice");
    assert_int_equal(a->uri.params.len, 0);
    assert_str(a->tag, "t1");
    assert_str(a->params, "tag=t1;x=y");
    a = sip_msg_get_to(m);
    assert_str(a->uri.host, "gw1.example.net");
    assert_int_equal(a->uri.lr, 0);
    assert_str(a->params, "lr");
    sip_msg_unref(m);
}

static void msg_strict_via_rport_value(void **state)
{
    (void)state;
    char buf[1024];
    /* RFC 3581 §3: rport [EQUAL 1*DIGIT]; these used to read as a bare rport. */
    static const char *const bad[] = {";rport=abc", ";rport=70000", ";rport=65536", ";rport=5060x",
                                      ";rport=-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", bad[i], FROM_OK, TO_OK, "");
        parse_400(buf, n, "Via", "");
    }
    static const struct {
        const char *params;
        int rport;
    } ok[] = {{"", -1}, {";rport", 0}, {";rport=5060", 5060}, {";rport=65535", 65535}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n =
            make(buf, sizeof buf, "pc33.atlanta.example.com", ok[i].params, FROM_OK, TO_OK, "");
        sip_msg_t *m = parse_ok(buf, n);
        assert_int_equal(sip_msg_get_via(m)->rport, ok[i].rport);
        sip_msg_unref(m);
    }
    /* The error says which parameter. */
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    size_t n = make(buf, sizeof buf, "pc33.atlanta.example.com", ";rport=abc", FROM_OK, TO_OK, "");
    assert_int_equal(sip_msg_parse(&m, buf, n, &err), SIP_EPARSE);
    assert_string_equal(err.reason, "Via header: malformed rport parameter");
}

static void msg_strict_via_bracketed_host(void **state)
{
    (void)state;
    char buf[1024];
    /* Only an IPv6 reference may be bracketed, as in a URI (RFC 3261 §25.1 host). */
    static const char *const bad[] = {"[example.com]", "[192.0.2.1]", "[]",
                                      "[1:2]",         "[::1::2]",    "[2001:db8::g]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = make(buf, sizeof buf, bad[i], "", FROM_OK, TO_OK, "");
        parse_400(buf, n, "Via", "IPv6");
        /* The URI parser agrees. */
        char uri[64];
        snprintf(uri, sizeof uri, "sip:%s", bad[i]);
        sip_uri_t u;
        assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), SIP_EURI);
    }
    static const struct {
        const char *host;
        const char *want;
        int port;
    } ok[] = {
        {"[2001:db8::10]", "[2001:db8::10]", 0},
        {"[2001:db8::10]:5070", "[2001:db8::10]", 5070},
        {"[::ffff:192.0.2.10]:19823", "[::ffff:192.0.2.10]", 19823},
        /* RFC 5118 §4.10: the three-colon slip is tolerated, as in a URI. */
        {"[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = make(buf, sizeof buf, ok[i].host, "", FROM_OK, TO_OK, "");
        sip_msg_t *m = parse_ok(buf, n);
        const sip_via_t *v = sip_msg_get_via(m);
        assert_str(v->host, ok[i].want);
        assert_int_equal(v->host_type, SIP_HOST_IPV6);
        assert_int_equal(v->port, ok[i].port);
        sip_msg_unref(m);
    }
}

static void msg_strict_via_host_as_in_uri(void **state)
{
    (void)state;
    char buf[1024];
    /* RFC 3261 §25.1 hostname / IPv4address, by the URI parser's rules. */
    static const char *const bad[] = {"192.0.2.300",    "-a.example.com", "a-.example.com",
                                      "a..example.com", "1.2.3",          "example.123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = make(buf, sizeof buf, bad[i], "", FROM_OK, TO_OK, "");
        parse_400(buf, n, "Via", "malformed host");
        char uri[64];
        snprintf(uri, sizeof uri, "sip:%s", bad[i]);
        sip_uri_t u;
        assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), SIP_EURI);
    }
    static const struct {
        const char *host;
        sip_host_type_t type;
    } ok[] = {
        {"192.0.2.1", SIP_HOST_IPV4},
        {"255.255.255.255", SIP_HOST_IPV4},
        {"pc33.atlanta.example.com", SIP_HOST_NAME},
        {"example.com.", SIP_HOST_NAME},
        {"host-1.example.com", SIP_HOST_NAME},
        {"localhost", SIP_HOST_NAME},
        {"192.0.2.1.example.com", SIP_HOST_NAME},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = make(buf, sizeof buf, ok[i].host, "", FROM_OK, TO_OK, "");
        sip_msg_t *m = parse_ok(buf, n);
        const sip_via_t *v = sip_msg_get_via(m);
        assert_str(v->host, ok[i].host);
        assert_int_equal(v->host_type, ok[i].type);
        sip_msg_unref(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msg_strict_repeated_tag_is_400),
        cmocka_unit_test(msg_strict_folded_date),
        cmocka_unit_test(msg_strict_addr_spec_semicolon),
        cmocka_unit_test(msg_strict_via_rport_value),
        cmocka_unit_test(msg_strict_via_bracketed_host),
        cmocka_unit_test(msg_strict_via_host_as_in_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
