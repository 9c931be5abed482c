/* SPDX-License-Identifier: MIT */
/* Unit tests of the URI module: parsing, comparison, printing, unescaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/uri.h"

/* Asserts that a view holds exactly the text want (NULL: the view is empty). */
#define assert_view(v, want) check_view((v), (want), #v, __FILE__, __LINE__)

static void check_view(sip_str_t v, const char *want, const char *expr, const char *file, int line)
{
    size_t n = want ? strlen(want) : 0;
    if (v.len != n || (n && memcmp(v.ptr, want, n) != 0)) {
        print_error("%s is \"%.*s\", expected \"%s\"\n", expr, (int)v.len, v.ptr ? v.ptr : "",
                    want ? want : "");
        _fail(file, line);
    }
}

static sip_uri_t parse_ok(const char *s)
{
    sip_uri_t u;
    int rc = sip_uri_parse(&u, s, strlen(s));
    if (rc != 0) print_error("parse of \"%s\" failed: %d\n", s, rc);
    assert_int_equal(rc, 0);
    assert_ptr_equal(u.raw.ptr, s);
    assert_int_equal(u.raw.len, strlen(s));
    return u;
}

static int equal_str(const char *a, const char *b)
{
    sip_uri_t ua = parse_ok(a), ub = parse_ok(b);
    int r = sip_uri_equal(&ua, &ub);
    /* Equality is symmetric whatever the result. */
    assert_int_equal(r, sip_uri_equal(&ub, &ua));
    return r;
}

static void uri_sip_basic(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("sip:bob@biloxi.example.com");
    assert_int_equal(u.scheme, SIP_URI_SIP);
    assert_view(u.scheme_str, "sip");
    assert_view(u.user, "bob");
    assert_view(u.password, NULL);
    assert_view(u.host, "biloxi.example.com");
    assert_int_equal(u.host_type, SIP_HOST_NAME);
    assert_int_equal(u.port, 0);
    assert_view(u.params, NULL);
    assert_view(u.headers, NULL);
    assert_view(u.opaque, NULL);
    assert_view(u.transport, NULL);
    assert_view(u.user_param, NULL);
    assert_view(u.method, NULL);
    assert_view(u.maddr, NULL);
    assert_int_equal(u.ttl, -1);
    assert_int_equal(u.lr, 0);
}

static void uri_sip_params_transport_lr(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("sip:alice@pc33.atlanta.example.com;transport=tcp;lr");
    assert_view(u.user, "alice");
    assert_view(u.host, "pc33.atlanta.example.com");
    assert_view(u.params, "transport=tcp;lr");
    assert_view(u.transport, "tcp");
    assert_int_equal(u.lr, 1);
    assert_int_equal(u.ttl, -1);

    u = parse_ok("sip:proxy.example.com;lr=on");
    assert_view(u.user, NULL);
    assert_view(u.host, "proxy.example.com");
    assert_int_equal(u.lr, 1);
}

static void uri_sips_scheme_case(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("SIPS:Alice@Example.COM:5061");
    assert_int_equal(u.scheme, SIP_URI_SIPS);
    assert_view(u.scheme_str, "SIPS");
    assert_view(u.user, "Alice");
    assert_view(u.host, "Example.COM");
    assert_int_equal(u.port, 5061);
    u = parse_ok("sIp:x@y.z");
    assert_int_equal(u.scheme, SIP_URI_SIP);
    u = parse_ok("TeL:+1");
    assert_int_equal(u.scheme, SIP_URI_TEL);
}

static void uri_user_with_semicolon(void **state)
{
    (void)state;
    /* RFC 4475 §3.1.1.9: the ';' belongs to the user part, not to the URI parameters. */
    sip_uri_t u = parse_ok("sip:user;par=u%40example.net@example.com");
    assert_view(u.user, "user;par=u%40example.net");
    assert_view(u.host, "example.com");
    assert_view(u.params, NULL);
}

static void uri_user_password(void **state)
{
    (void)state;
    /* RFC 4475 §3.1.1.2 Request-URI. */
    sip_uri_t u = parse_ok("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!"
                           "*pas$wo~d_too.(doesn't-it)@example.com");
    assert_view(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert_view(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert_view(u.host, "example.com");

    /* RFC 3261 §19.1.3 telephone-subscriber with a password. */
    u = parse_ok("sip:+1-212-555-1212:1234@gateway.com;user=phone");
    assert_view(u.user, "+1-212-555-1212");
    assert_view(u.password, "1234");
    assert_view(u.host, "gateway.com");
    assert_view(u.user_param, "phone");

    /* DTMF digits of a telephone-subscriber. */
    u = parse_ok("sip:*21#@pbx.example.com");
    assert_view(u.user, "*21#");

    /* An empty password is written but empty. */
    u = parse_ok("sip:alice:@atlanta.com");
    assert_view(u.user, "alice");
    assert_view(u.password, NULL);
}

static void uri_escaped_user_stays_user(void **state)
{
    (void)state;
    /* RFC 4475 §3.1.1.3: the escaped "sips:" does not make a sips URI. */
    sip_uri_t u = parse_ok("sip:sips%3Auser%40example.com@example.net");
    assert_int_equal(u.scheme, SIP_URI_SIP);
    assert_view(u.user, "sips%3Auser%40example.com");
    assert_view(u.host, "example.net");

    u = parse_ok("sip:null-%00-null@example.com");
    assert_view(u.user, "null-%00-null");
}

static void uri_host_ipv4_and_port(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("sip:bob@192.0.2.4:5070");
    assert_view(u.host, "192.0.2.4");
    assert_int_equal(u.host_type, SIP_HOST_IPV4);
    assert_int_equal(u.port, 5070);

    u = parse_ok("sip:255.255.255.255:65535");
    assert_view(u.user, NULL);
    assert_view(u.host, "255.255.255.255");
    assert_int_equal(u.host_type, SIP_HOST_IPV4);
    assert_int_equal(u.port, 65535);

    u = parse_ok("sip:a@b:0");
    assert_view(u.host, "b");
    assert_int_equal(u.port, 0);

    u = parse_ok("sip:example.com.");
    assert_view(u.host, "example.com.");
    assert_int_equal(u.host_type, SIP_HOST_NAME);

    u = parse_ok("sip:a-b.c-d.example");
    assert_view(u.host, "a-b.c-d.example");

    /* GB/T 28181-2016 §4.3.2: a 10-digit domain ID is the host of every GB28181 URI. */
    u = parse_ok("sip:34020000001320000001@3402000000:5060");
    assert_view(u.user, "34020000001320000001");
    assert_view(u.host, "3402000000");
    assert_int_equal(u.host_type, SIP_HOST_NAME);
    assert_int_equal(u.port, 5060);
    /* Dotted digits stay IPv4 addresses, and a bad one stays bad. */
    assert_int_equal(sip_uri_parse(&u, "sip:a@3402.000", 14), SIP_EURI);
    assert_int_equal(sip_uri_parse(&u, "sip:a@1.2.3.256", 15), SIP_EURI);
}

static void uri_host_ipv6_rfc5118(void **state)
{
    (void)state;
    /* RFC 5118 §4.1 */
    sip_uri_t u = parse_ok("sip:[2001:db8::10]");
    assert_view(u.host, "[2001:db8::10]");
    assert_int_equal(u.host_type, SIP_HOST_IPV6);
    assert_int_equal(u.port, 0);

    /* RFC 5118 §4.3: inside the brackets the last group belongs to the address. */
    u = parse_ok("sip:[2001:db8::10:5070]");
    assert_view(u.host, "[2001:db8::10:5070]");
    assert_int_equal(u.port, 0);

    /* RFC 5118 §4.4 */
    u = parse_ok("sip:[2001:db8::10]:5070");
    assert_view(u.host, "[2001:db8::10]");
    assert_int_equal(u.port, 5070);

    /* RFC 5118 §4.9 */
    u = parse_ok("sip:user@[::ffff:192.0.2.10]:19823");
    assert_view(u.host, "[::ffff:192.0.2.10]");
    assert_int_equal(u.host_type, SIP_HOST_IPV6);
    assert_int_equal(u.port, 19823);

    /* RFC 5118 §4.10: the three-colon form is tolerated and is the same address. */
    u = parse_ok("sip:user@[2001:db8:::192.0.2.1]");
    assert_view(u.host, "[2001:db8:::192.0.2.1]");
    assert_int_equal(u.host_type, SIP_HOST_IPV6);
    assert_true(equal_str("sip:user@[2001:db8:::192.0.2.1]", "sip:user@[2001:db8::192.0.2.1]"));

    u = parse_ok("sip:[::1]");
    assert_view(u.host, "[::1]");
    u = parse_ok("sip:[::]");
    assert_view(u.host, "[::]");
    u = parse_ok("sip:[1:2:3:4:5:6:7:8]");
    assert_view(u.host, "[1:2:3:4:5:6:7:8]");
    u = parse_ok("sip:[1:2:3:4:5:6:1.2.3.4]");
    assert_view(u.host, "[1:2:3:4:5:6:1.2.3.4]");

    /* RFC 5118 §4.2: no brackets, no IPv6. */
    sip_uri_t bad;
    assert_int_equal(sip_uri_parse(&bad, "sip:2001:db8::10", 16), SIP_EURI);
}

static void uri_common_params(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15;method=REGISTER;"
                           "user=ip;transport=udp;foo=bar;flag");
    assert_view(u.maddr, "239.255.255.1");
    assert_int_equal(u.ttl, 15);
    assert_view(u.method, "REGISTER");
    assert_view(u.user_param, "ip");
    assert_view(u.transport, "udp");
    assert_int_equal(u.lr, 0);
    assert_view(u.params,
                "maddr=239.255.255.1;ttl=15;method=REGISTER;user=ip;transport=udp;foo=bar;flag");

    /* Names are case-insensitive; the first of each name wins. */
    u = parse_ok("sip:h.com;TRANSPORT=TLS;transport=udp;TTL=0;LR");
    assert_view(u.transport, "TLS");
    assert_int_equal(u.ttl, 0);
    assert_int_equal(u.lr, 1);

    u = parse_ok("sip:h.com;maddr=[2001:db8::1]");
    assert_view(u.maddr, "[2001:db8::1]");

    /* RFC 4475 §3.1.1.3: an escaped name is the same name. */
    u = parse_ok("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    assert_view(u.user, "cal%6Cer");
    assert_view(u.params, "%6C%72;n%61me=v%61lue%25%34%31");
    assert_int_equal(u.lr, 1);
    u = parse_ok("sip:h.com;%74tl=%32%35%35");
    assert_int_equal(u.ttl, 255);

    /* A recognised name without a value is a plain other-param. */
    u = parse_ok("sip:h.com;transport");
    assert_view(u.transport, NULL);
    assert_view(u.params, "transport");
}

static void uri_param_and_header_lookup(void **state)
{
    (void)state;
    sip_str_t v;
    sip_uri_t u = parse_ok("sip:alice@atlanta.com;Foo=Bar;lr?subject=project%20x&priority=urgent");
    assert_view(u.headers, "subject=project%20x&priority=urgent");
    assert_int_equal(sip_uri_param(&u, "foo", &v), 1);
    assert_view(v, "Bar");
    assert_int_equal(sip_uri_param(&u, "lr", &v), 1);
    assert_view(v, NULL);
    assert_int_equal(sip_uri_param(&u, "ttl", &v), 0);
    assert_int_equal(sip_uri_param(&u, "lr", NULL), 1);
    assert_int_equal(sip_uri_header(&u, "Subject", &v), 1);
    assert_view(v, "project%20x");
    assert_int_equal(sip_uri_header(&u, "priority", &v), 1);
    assert_view(v, "urgent");
    assert_int_equal(sip_uri_header(&u, "to", &v), 0);

    u = parse_ok("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com");
    assert_view(u.params, "transport=tcp;method=REGISTER");
    assert_view(u.headers, "to=sip:bob%40biloxi.com");
    assert_int_equal(sip_uri_header(&u, "to", &v), 1);
    assert_view(v, "sip:bob%40biloxi.com");

    u = parse_ok("sip:a@b.c?x=");
    assert_int_equal(sip_uri_header(&u, "x", &v), 1);
    assert_view(v, NULL);

    u = parse_ok("sip:a@b.c");
    assert_int_equal(sip_uri_param(&u, "lr", &v), 0);
    assert_int_equal(sip_uri_header(&u, "x", &v), 0);
    assert_int_equal(sip_uri_param(NULL, "lr", &v), 0);
    assert_int_equal(sip_uri_param(&u, NULL, &v), 0);
}

static void uri_tel(void **state)
{
    (void)state;
    sip_uri_t u = parse_ok("tel:+1-201-555-0123;phone-context=example.com");
    assert_int_equal(u.scheme, SIP_URI_TEL);
    assert_view(u.scheme_str, "tel");
    assert_view(u.user, "+1-201-555-0123");
    assert_view(u.params, "phone-context=example.com");
    assert_view(u.host, NULL);
    assert_int_equal(u.host_type, SIP_HOST_NONE);

    u = parse_ok("tel:7042;phone-context=+1-201-555");
    assert_view(u.user, "7042");
    assert_view(u.params, "phone-context=+1-201-555");
    u = parse_ok("tel:*21#");
    assert_view(u.user, "*21#");
    u = parse_ok("tel:+1(201)555.0123;ext=22;isub=1411");
    assert_view(u.user, "+1(201)555.0123");
    assert_view(u.params, "ext=22;isub=1411");
    sip_str_t v;
    assert_int_equal(sip_uri_param(&u, "ext", &v), 1);
    assert_view(v, "22");
    u = parse_ok("tel:863-1234;phone-context=+1-914-555;foo");
    assert_view(u.params, "phone-context=+1-914-555;foo");
}

static void uri_other_schemes(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *scheme, *opaque;
    } t[] = {
        {"nobodyKnowsThisScheme:totallyopaquecontent", "nobodyKnowsThisScheme",
         "totallyopaquecontent"},
        {"soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"},
        {"isbn:2983792873", "isbn", "2983792873"},
        {"http://www.example.com", "http", "//www.example.com"},
        {"name:John_Smith", "name", "John_Smith"},
        {"mailto:a@b.c", "mailto", "a@b.c"},
        {"urn:service:sos", "urn", "service:sos"},
        {"im:a%20b@example.com", "im", "a%20b@example.com"},
        {"x-1+b.c:[v]?q=1#f", "x-1+b.c", "[v]?q=1#f"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        sip_uri_t u = parse_ok(t[i].uri);
        assert_int_equal(u.scheme, SIP_URI_OTHER);
        assert_view(u.scheme_str, t[i].scheme);
        assert_view(u.opaque, t[i].opaque);
        assert_view(u.host, NULL);
        assert_view(u.user, NULL);
        assert_int_equal(sip_uri_param(&u, "x", NULL), 0);
    }
}

static void uri_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ":",
        "sip",
        "sip:",
        "1sip:a@b",
        "+x:y",
        "sip:2001:db8::10",         /* RFC 5118 §4.2 */
        "<sip:user@example.com>",   /* RFC 4475 §3.1.2.7 */
        "sip:user@example.com; lr", /* RFC 4475 §3.1.2.8 */
        "sip:user@example.com ",
        " sip:user@example.com",
        "sip:a@b;;",
        "sip:a@b;",
        "sip:a@b;=x",
        "sip:a@b;x=",
        "sip:a@b;x=y=z",
        "sip:a@b?",
        "sip:a@b?x",
        "sip:a@b?=y",
        "sip:a@b?x=1&",
        "sip:a@b?x=1&&y=2",
        "sip:@b",
        "sip:a@",
        "sip:a@@b",
        "sip:a@b@c",
        "sip:a:b:c@d",
        "sip:a@b:",
        "sip:a@b:65536",
        "sip:a@b:99999999999999999999",
        "sip:a@b:5x",
        "sip:a@b:-1",
        "sip:a%@b",
        "sip:a%4@b",
        "sip:a%4g@b",
        "sip:a@b;x=%",
        "sip:a@b;x=%zz",
        "sip:a@b?x=%2",
        "sip:a@b%41",
        "sip:a\"b@c",
        "sip:a<b@c",
        "sip:a>b@c",
        "sip:a@b>",
        "sip:a\tb@c",
        "sip:a@b\r\n",
        "sip:a\x7f@b",
        "sip:a\xc3\xa9@b",
        "sip:a[b@c",
        "sip:a@b_c",
        "sip:a@-b.com",
        "sip:a@b-.com",
        "sip:a@b..com",
        "sip:a@.com",
        "sip:a@.",
        "sip:a@1.2.3",
        "sip:a@1.2.3.4.5",
        "sip:a@1.2.3.256",
        "sip:a@1.2.3.4.",
        "sip:a@example.123",
        "sip:a@[2001:db8::1",
        "sip:a@2001:db8::1]",
        "sip:a@[]",
        "sip:a@[::1]x",
        "sip:a@[1:2:3:4:5:6:7:8:9]",
        "sip:a@[1:2:3:4:5:6:7]",
        "sip:a@[1::2::3]",
        "sip:a@[12345::1]",
        "sip:a@[1:2:3:4:5:6:7:1.2.3.4]",
        "sip:a@[:1::2]",
        "sip:a@[1::2:]",
        "sip:a@[::ffff:1.2.3.256]",
        "sip:a@[g::1]",
        "sip:a@b;ttl=256",
        "sip:a@b;ttl=1000",
        "sip:a@b;ttl=x",
        "sip:a@b;maddr=bad..host",
        "sip:a@b;maddr=1.2.3",
        "sip:a@b;a@c",
        "tel:",
        "tel:+",
        "tel:+-",
        "tel:--",
        "tel:+1x",
        "tel:+1;",
        "tel:+1;;a=b",
        "tel:+1;a=",
        "tel:+1;a_b=c",
        "tel:+1?x=y",
        "tel:+1@host",
        "tel:1+2",
        "http:",
        "http: //x",
        "http://x y",
        "http://<x>",
        "http://x\"y",
        "http://x%",
        "http://x%g0",
        "mailto:a@b\n",
        "x{y:z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sip_uri_t u;
        int rc = sip_uri_parse(&u, bad[i], strlen(bad[i]));
        if (rc != SIP_EURI) print_error("\"%s\" gave %d\n", bad[i], rc);
        assert_int_equal(rc, SIP_EURI);
        /* A failed parse leaves no stale views behind. */
        assert_int_equal(u.scheme, SIP_URI_OTHER);
        assert_view(u.host, NULL);
        assert_view(u.raw, NULL);
        assert_int_equal(u.ttl, -1);
    }
    /* An explicit length ends the URI: a NUL inside is not a terminator. */
    sip_uri_t u;
    assert_int_equal(sip_uri_parse(&u, "sip:a@b\0c", 9), SIP_EURI);
    assert_int_equal(sip_uri_parse(&u, "sip:a@bcdef", 7), 0);
    assert_view(u.host, "b");
}

static void uri_null_arguments(void **state)
{
    (void)state;
    sip_uri_t u;
    char buf[8];
    assert_int_equal(sip_uri_parse(NULL, "sip:a@b", 7), SIP_EINVAL);
    assert_int_equal(sip_uri_parse(&u, NULL, 0), SIP_EINVAL);
    assert_int_equal(sip_uri_print(NULL, buf, sizeof buf), SIP_EINVAL);
    u = parse_ok("sip:a@b");
    assert_int_equal(sip_uri_print(&u, NULL, 4), SIP_EINVAL);
    assert_int_equal(sip_uri_equal(NULL, &u), 0);
    assert_int_equal(sip_uri_equal(&u, NULL), 0);
    assert_int_equal(sip_uri_unescape((sip_str_t){NULL, 3}, buf, sizeof buf), SIP_EINVAL);
    assert_int_equal(sip_uri_unescape(SIP_STR("a"), NULL, 4), SIP_EINVAL);
}

/* RFC 3261 §19.1.4: the URIs of each pair are equivalent. */
static void uri_rfc3261_equal_examples(void **state)
{
    (void)state;
    assert_true(
        equal_str("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
    assert_true(equal_str("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
    assert_true(equal_str("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
    assert_true(equal_str("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
    assert_true(equal_str("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                          "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
    assert_true(equal_str("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                          "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
}

/* RFC 3261 §19.1.4: the URIs of each pair are not equivalent. */
static void uri_rfc3261_not_equal_examples(void **state)
{
    (void)state;
    /* different usernames */
    assert_false(
        equal_str("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
    /* can resolve to different ports */
    assert_false(equal_str("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    /* can resolve to different transports */
    assert_false(equal_str("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
    /* can resolve to different port and transports */
    assert_false(equal_str("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
    /* different header component */
    assert_false(
        equal_str("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
    /* even though that's what phone21.boxesbybob.com resolves to */
    assert_false(equal_str("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    /* the intransitivity note: both equal sip:carol@chicago.com, not each other */
    assert_false(
        equal_str("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
}

static void uri_equal_rules(void **state)
{
    (void)state;
    /* sip and sips never match. */
    assert_false(equal_str("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
    assert_true(equal_str("SIPS:alice@atlanta.com", "sips:alice@ATLANTA.com"));
    /* Password is case-sensitive, compared after unescaping. */
    assert_false(equal_str("sip:a:Secret@h.com", "sip:a:secret@h.com"));
    assert_true(equal_str("sip:a:s%65cret@h.com", "sip:a:secret@h.com"));
    assert_false(equal_str("sip:a:x@h.com", "sip:a@h.com"));
    assert_true(equal_str("sip:a%2a@h.com", "sip:a%2A@h.com"));
    /* An escaped reserved character differs from the literal one. */
    assert_false(equal_str("sip:a%3Bb@h.com", "sip:a;b@h.com"));
    assert_true(equal_str("sip:a%3Bb@h.com", "sip:a%3bb@h.com"));
    assert_false(equal_str("sip:h.com;x=a%2Bb", "sip:h.com;x=a+b"));
    /* Escaped NUL octets count. */
    assert_false(equal_str("sip:%00@host5.example.com", "sip:%00%00@host5.example.com"));
    assert_true(equal_str("sip:null-%00-null@example.com", "sip:null-%00-null@EXAMPLE.com"));
    /* Ports: explicit value compared, absent differs from any explicit port, even 0. */
    assert_false(equal_str("sip:a@h.com:5060", "sip:a@h.com:5070"));
    assert_true(equal_str("sip:a@h.com:5060", "sip:a@h.com:05060"));
    assert_false(equal_str("sip:a@h.com", "sip:a@h.com:0"));
    assert_true(equal_str("sip:a@h.com:0", "sip:a@h.com:0"));
    /* user, ttl, method, maddr must be in both. */
    assert_false(equal_str("sip:a@h.com;user=phone", "sip:a@h.com"));
    assert_false(equal_str("sip:a@h.com;ttl=1", "sip:a@h.com"));
    assert_false(equal_str("sip:a@h.com;method=INVITE", "sip:a@h.com"));
    assert_false(equal_str("sip:a@h.com;maddr=1.2.3.4", "sip:a@h.com"));
    assert_false(equal_str("sip:a@h.com;%74tl=1", "sip:a@h.com"));
    assert_true(equal_str("sip:a@h.com;maddr=H.com;method=invite",
                          "sip:a@h.com;method=INVITE;maddr=h.COM"));
    assert_false(equal_str("sip:a@h.com;ttl=1", "sip:a@h.com;ttl=2"));
    /* lr is an other-param: only compared when both have it. */
    assert_true(equal_str("sip:a@h.com;lr", "sip:a@h.com"));
    assert_false(equal_str("sip:a@h.com;lr", "sip:a@h.com;lr=on"));
    assert_true(equal_str("sip:a@h.com;%6C%72", "sip:a@h.com;LR"));
    /* A repeated parameter is checked from both sides. */
    assert_false(equal_str("sip:a@h.com;x=1;x=2", "sip:a@h.com;x=1"));
    assert_false(equal_str("sip:a@h.com;x=1;x=2", "sip:a@h.com;x=2;x=1"));
    assert_true(equal_str("sip:a@h.com;x=1;y;x=2", "sip:a@h.com;X=1;x=2"));
    assert_true(equal_str("sip:a@h.com;x=1;x=2", "sip:a@h.com;x=1;x=2"));
    /* Headers: all in both, order-independent, repeated ones count. */
    assert_true(equal_str("sip:a@h.com?X=1&y=2", "sip:a@h.com?Y=2&x=1"));
    assert_false(equal_str("sip:a@h.com?x=1&x=1", "sip:a@h.com?x=1&x=2"));
    assert_false(equal_str("sip:a@h.com?x=1", "sip:a@h.com?x=1&y=2"));
    assert_true(equal_str("sip:a@h.com?x=%41", "sip:a@h.com?x=A"));
    /* Hosts: case-insensitive; IPv6 references compared as addresses. */
    assert_true(equal_str("sip:a@[2001:DB8::1]", "sip:a@[2001:db8:0:0::1]"));
    assert_true(equal_str("sip:a@[::ffff:192.0.2.10]", "sip:a@[::ffff:c000:20a]"));
    assert_false(equal_str("sip:a@[2001:db8::1]", "sip:a@[2001:db8::2]"));
    assert_false(equal_str("sip:a@192.0.2.1", "sip:a@[::ffff:192.0.2.1]"));
    /* Different schemes never match. */
    assert_false(equal_str("sip:a@b.com", "tel:+1"));
    assert_false(equal_str("sip:a@b.com", "mailto:a@b.com"));
}

/* Long lists compare in bounded time: identical lists are equal, others past 256 entries not. */
static void uri_equal_long_lists(void **state)
{
    (void)state;
    static char a[8192], b[8192];
    size_t n = (size_t)snprintf(a, sizeof a, "sip:h.com");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(a + n, sizeof a - n, ";p%d=%d", i, i);
    memcpy(b, a, n + 1);
    assert_true(equal_str(a, b));
    b[4] = 'H';
    assert_true(equal_str(a, b));
    b[n - 1] = 'x';
    assert_false(equal_str(a, b));

    n = (size_t)snprintf(a, sizeof a, "sip:h.com?");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(a + n, sizeof a - n, "h%d=1&", 199 - i);
    a[n - 1] = '\0';
    n = (size_t)snprintf(b, sizeof b, "sip:h.com?");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(b + n, sizeof b - n, "H%d=1&", i);
    b[n - 1] = '\0';
    assert_true(equal_str(a, b));
    b[n - 2] = '2';
    assert_false(equal_str(a, b));
}

static void uri_tel_equal(void **state)
{
    (void)state;
    /* RFC 3966 §4 */
    assert_true(equal_str("tel:+1-201-555-0123", "tel:+1(201)5550123"));
    assert_true(equal_str("tel:+12015550123;ext=1-2", "tel:+1.201.555.0123;EXT=12"));
    assert_true(
        equal_str("tel:7042;phone-context=Example.COM", "tel:7042;phone-context=example.com"));
    assert_true(equal_str("tel:7042;phone-context=+1-201", "tel:7042;phone-context=+1(201)"));
    assert_true(equal_str("tel:+1;a=1;b=2", "tel:+1;b=2;a=1"));
    assert_true(equal_str("tel:*abc#", "tel:*ABC#"));
    assert_false(equal_str("tel:+12015550123", "tel:12015550123"));
    assert_false(equal_str("tel:+12015550123", "tel:+12015550124"));
    assert_false(equal_str("tel:+1;a=1", "tel:+1"));
    assert_false(equal_str("tel:+1;a=1", "tel:+1;a=2"));
    assert_false(equal_str("tel:+1;a=1", "tel:+1;b=1"));
    assert_false(equal_str("tel:+1234", "tel:+123"));
    assert_true(equal_str("tel:+1;a=1;a=2", "tel:+1;a=1;a=2"));
    assert_false(equal_str("tel:+1;a=1;a=2", "tel:+1;a=1"));
}

static void uri_other_equal(void **state)
{
    (void)state;
    assert_true(equal_str("HTTP://www.example.com", "http://www.example.com"));
    assert_true(equal_str("im:%61lice@example.com", "im:alice@example.com"));
    assert_false(equal_str("http://www.example.com", "http://WWW.example.com"));
    assert_false(equal_str("mailto:a%40b.c", "mailto:a@b.c"));
    assert_false(equal_str("isbn:2983792873", "name:2983792873"));
}

static void uri_unescape(void **state)
{
    (void)state;
    char buf[32];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(sip_uri_unescape(SIP_STR("null-%00-null"), buf, sizeof buf), 11);
    assert_memory_equal(buf, "null-\0-null", 12);
    assert_int_equal(sip_uri_unescape(SIP_STR("%00%00"), buf, sizeof buf), 2);
    assert_memory_equal(buf, "\0\0\0", 3);
    assert_int_equal(sip_uri_unescape(SIP_STR("sips%3Auser%40example.com"), buf, sizeof buf), 21);
    assert_string_equal(buf, "sips:user@example.com");
    assert_int_equal(sip_uri_unescape(SIP_STR("%c3%A9"), buf, sizeof buf), 2);
    assert_string_equal(buf, "\xc3\xa9");
    assert_int_equal(sip_uri_unescape(SIP_STR("plain"), buf, sizeof buf), 5);
    assert_string_equal(buf, "plain");
    assert_int_equal(sip_uri_unescape(SIP_STR(""), buf, sizeof buf), 0);
    assert_string_equal(buf, "");

    /* Truncation works like snprintf. */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(sip_uri_unescape(SIP_STR("a%62cdef"), buf, 4), 6);
    assert_string_equal(buf, "abc");
    assert_int_equal(buf[4], 'x');
    assert_int_equal(sip_uri_unescape(SIP_STR("abc"), NULL, 0), 3);
    assert_int_equal(sip_uri_unescape(SIP_STR("abc"), buf, 1), 3);
    assert_string_equal(buf, "");

    /* Bad escapes. */
    assert_int_equal(sip_uri_unescape(SIP_STR("%"), buf, sizeof buf), SIP_EURI);
    assert_int_equal(sip_uri_unescape(SIP_STR("a%4"), buf, sizeof buf), SIP_EURI);
    assert_int_equal(sip_uri_unescape(SIP_STR("%zz"), buf, sizeof buf), SIP_EURI);
    assert_int_equal(sip_uri_unescape(SIP_STR("%%41"), buf, sizeof buf), SIP_EURI);
    assert_int_equal(sip_uri_unescape(SIP_STR("%4g"), buf, sizeof buf), SIP_EURI);
}

static void uri_print_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com"},
        {"SIP:Bob@Biloxi.Example.COM", "sip:Bob@Biloxi.Example.COM"},
        {"SiPs:a:pw@h.com:5061;transport=tls?x=1&Y=2",
         "sips:a:pw@h.com:5061;transport=tls?x=1&Y=2"},
        {"sip:alice:@atlanta.com", "sip:alice:@atlanta.com"},
        {"sip:a@b:0", "sip:a@b:0"},
        {"sip:a@b:005060", "sip:a@b:5060"},
        {"sip:user;par=u%40example.net@example.com", "sip:user;par=u%40example.net@example.com"},
        {"sip:[2001:db8::10]:5070;lr", "sip:[2001:db8::10]:5070;lr"},
        {"sip:user@[2001:db8:::192.0.2.1]", "sip:user@[2001:db8:::192.0.2.1]"},
        {"sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
         "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"},
        {"TEL:+1-201-555-0123;phone-context=example.com",
         "tel:+1-201-555-0123;phone-context=example.com"},
        {"Soap.BEEP://192.0.2.103:3002", "soap.beep://192.0.2.103:3002"},
        {"nobodyKnowsThisScheme:totallyopaquecontent",
         "nobodyknowsthisscheme:totallyopaquecontent"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char buf[256], buf2[256];
        sip_uri_t a = parse_ok(t[i].in);
        int n = sip_uri_print(&a, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(t[i].out));
        assert_string_equal(buf, t[i].out);
        sip_uri_t b = parse_ok(buf);
        assert_int_equal(sip_uri_equal(&a, &b), 1);
        assert_int_equal(sip_uri_print(&b, buf2, sizeof buf2), n);
        assert_string_equal(buf2, buf);
    }

    /* snprintf semantics: the full length is returned, the output cut and terminated. */
    char small[8];
    memset(small, 'x', sizeof small);
    sip_uri_t u = parse_ok("sip:alice@atlanta.com");
    assert_int_equal(sip_uri_print(&u, small, 5), 21);
    assert_string_equal(small, "sip:");
    assert_int_equal(small[5], 'x');
    assert_int_equal(sip_uri_print(&u, NULL, 0), 21);
    assert_int_equal(sip_uri_print(&u, small, 1), 21);
    assert_string_equal(small, "");
}

static void uri_scheme_name(void **state)
{
    (void)state;
    assert_string_equal(sip_uri_scheme_name(SIP_URI_SIP), "sip");
    assert_string_equal(sip_uri_scheme_name(SIP_URI_SIPS), "sips");
    assert_string_equal(sip_uri_scheme_name(SIP_URI_TEL), "tel");
    assert_null(sip_uri_scheme_name(SIP_URI_OTHER));
    assert_null(sip_uri_scheme_name((sip_uri_scheme_t)42));
}

/* Reads the Request-URI of a torture message (the text between the method and " SIP/"). */
static int request_uri(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char line[2048];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (!ok) return -1;
    char *sp = strchr(line, ' '), *ver = NULL, *p = line;
    while ((p = strstr(p, " SIP/")) != NULL)
        ver = p++;
    if (!sp || !ver || ver < sp) return -1;
    size_t n = (size_t)(ver - sp - 1);
    if (n >= size) return -1;
    memcpy(buf, sp + 1, n);
    buf[n] = '\0';
    return (int)n;
}

/* The Request-URIs of RFC 4475 and RFC 5118 read from the shared conformance set. */
static void uri_conformance_request_uris(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int rc;
        int scheme;
    } t[] = {
        {"rfc4475/esc01.dat", 0, SIP_URI_SIP},
        {"rfc4475/escruri.dat", 0, SIP_URI_SIP},
        {"rfc4475/intmeth.dat", 0, SIP_URI_SIP},
        {"rfc4475/longreq.dat", 0, SIP_URI_SIP},
        {"rfc4475/ltgtruri.dat", SIP_EURI, 0},
        {"rfc4475/lwsruri.dat", SIP_EURI, 0},
        {"rfc4475/lwsstart.dat", SIP_EURI, 0},
        {"rfc4475/novelsc.dat", 0, SIP_URI_OTHER},
        {"rfc4475/semiuri.dat", 0, SIP_URI_SIP},
        {"rfc4475/trws.dat", 0, SIP_URI_SIP},
        {"rfc4475/unkscm.dat", 0, SIP_URI_OTHER},
        {"rfc4475/wsinv.dat", 0, SIP_URI_SIP},
        {"rfc5118/wire/ipv6-bad.dat", SIP_EURI, 0},
        {"rfc5118/wire/ipv6-bug-abnf-3-colons.dat", 0, SIP_URI_SIP},
        {"rfc5118/wire/ipv6-correct-abnf-2-colons.dat", 0, SIP_URI_SIP},
        {"rfc5118/wire/ipv6-good.dat", 0, SIP_URI_SIP},
        {"rfc5118/wire/port-ambiguous.dat", 0, SIP_URI_SIP},
        {"rfc5118/wire/port-unambiguous.dat", 0, SIP_URI_SIP},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char path[512], uri[2048];
        snprintf(path, sizeof path, "%s/conformance/%s", SIP_SHARED_DIR, t[i].file);
        int n = request_uri(path, uri, sizeof uri);
        if (n < 0) print_error("cannot read %s\n", path);
        assert_true(n >= 0);
        sip_uri_t u;
        int rc = sip_uri_parse(&u, uri, (size_t)n);
        if (rc != t[i].rc) print_error("%s: \"%s\" gave %d\n", t[i].file, uri, rc);
        assert_int_equal(rc, t[i].rc);
        if (rc == 0) assert_int_equal(u.scheme, t[i].scheme);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_sip_basic),
        cmocka_unit_test(uri_sip_params_transport_lr),
        cmocka_unit_test(uri_sips_scheme_case),
        cmocka_unit_test(uri_user_with_semicolon),
        cmocka_unit_test(uri_user_password),
        cmocka_unit_test(uri_escaped_user_stays_user),
        cmocka_unit_test(uri_host_ipv4_and_port),
        cmocka_unit_test(uri_host_ipv6_rfc5118),
        cmocka_unit_test(uri_common_params),
        cmocka_unit_test(uri_param_and_header_lookup),
        cmocka_unit_test(uri_tel),
        cmocka_unit_test(uri_other_schemes),
        cmocka_unit_test(uri_malformed),
        cmocka_unit_test(uri_null_arguments),
        cmocka_unit_test(uri_rfc3261_equal_examples),
        cmocka_unit_test(uri_rfc3261_not_equal_examples),
        cmocka_unit_test(uri_equal_rules),
        cmocka_unit_test(uri_equal_long_lists),
        cmocka_unit_test(uri_tel_equal),
        cmocka_unit_test(uri_other_equal),
        cmocka_unit_test(uri_unescape),
        cmocka_unit_test(uri_print_round_trip),
        cmocka_unit_test(uri_scheme_name),
        cmocka_unit_test(uri_conformance_request_uris),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
