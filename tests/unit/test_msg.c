/* SPDX-License-Identifier: MIT */
/* Unit tests of the message model: parse, typed headers, errors, limits, build, edit, print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "sip/sip.h"

#define S(lit) lit, sizeof(lit) - 1

static void assert_str(sip_str_t s, const char *want)
{
    char buf[512];
    sip_str_copy(s, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(s.len, strlen(want));
}

static const char INVITE[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>;expires=60;q=0.7\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n"
    "Supported: replaces, timer\r\n"
    "X-Custom: one\r\n"
    "User-Agent: ExamplePhone/4.2.1 (Linux; x86_64)\r\n"
    "x-custom: two, three\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

static sip_msg_t *parse_ok(const char *buf, size_t len)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc) fail_msg("parse failed: %s (line %u col %u)", err.reason, err.line, err.column);
    assert_non_null(m);
    return m;
}

static void msg_parse_invite_fields(void **state)
{
    (void)state;
    sip_msg_t *m = parse_ok(S(INVITE));
    assert_true(sip_msg_is_request(m));
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_INVITE);
    assert_str(sip_msg_get_method_str(m), "INVITE");
    const sip_uri_t *u = sip_msg_get_uri(m);
    assert_int_equal(u->scheme, SIP_URI_SIP);
    assert_str(u->user, "bob");
    assert_str(u->host, "biloxi.example.com");

    const sip_via_t *v = sip_msg_get_via(m);
    assert_str(v->protocol, "SIP");
    assert_str(v->version, "2.0");
    assert_str(v->transport, "UDP");
    assert_str(v->host, "pc33.atlanta.example.com");
    assert_int_equal(v->host_type, SIP_HOST_NAME);
    assert_int_equal(v->port, 5060);
    assert_str(v->branch, "z9hG4bK776asdhds");
    assert_int_equal(v->rport, 0);
    assert_int_equal(v->ttl, -1);
    assert_int_equal(v->received.len, 0);

    assert_int_equal(sip_msg_get_max_forwards(m), 70);
    const sip_addr_t *to = sip_msg_get_to(m);
    assert_str(to->display, "Bob");
    assert_str(to->uri.raw, "sip:bob@biloxi.example.com");
    assert_true(to->bracketed);
    assert_int_equal(to->tag.len, 0);
    const sip_addr_t *from = sip_msg_get_from(m);
    assert_str(from->display, "\"Alice Liddell\"");
    assert_str(from->tag, "1928301774");
    assert_str(sip_msg_get_call_id(m), "a84b4c76e66710@pc33.atlanta.example.com");
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    assert_int_equal(cs->seq, 314159);
    assert_int_equal(cs->method, SIP_METHOD_INVITE);

    const sip_header_t *c = sip_msg_header_at(m, SIP_HDR_CONTACT, 0);
    const sip_addr_t *ca = sip_header_addr(c);
    assert_int_equal(ca->expires, 60);
    assert_int_equal(ca->q, 700);
    assert_int_equal(ca->uri.port, 5060);
    assert_str(ca->uri.transport, "udp");
    assert_str(ca->params, "expires=60;q=0.7");
    assert_null(sip_header_via(c));

    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ALLOW), 5);
    assert_str(sip_header_token(sip_msg_header_at(m, SIP_HDR_ALLOW, 4))->value, "BYE");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_SUPPORTED), 2);
    assert_str(sip_header_get_value(sip_msg_header_at(m, SIP_HDR_SUPPORTED, 1)), "timer");
    assert_str(sip_header_get_value(sip_msg_header_at(m, SIP_HDR_USER_AGENT, 0)),
               "ExamplePhone/4.2.1 (Linux; x86_64)");

    /* Unknown headers: kept whole (no list splitting), found by name in any case, in order. */
    assert_str(sip_header_get_value(sip_msg_header_by_name(m, "X-CUSTOM", 0)), "one");
    assert_str(sip_header_get_value(sip_msg_header_by_name(m, "x-custom", 1)), "two, three");
    assert_null(sip_msg_header_by_name(m, "x-custom", 2));

    const sip_media_t *ct = sip_msg_get_content_type(m);
    assert_str(ct->type, "application");
    assert_str(ct->subtype, "sdp");
    assert_str(sip_msg_get_body(m), "v=0\n");
    assert_int_equal(sip_msg_header_total(m), 19);

    /* Wire order walk. */
    const sip_header_t *h = sip_msg_header_first(m);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_VIA);
    h = sip_header_next(h);
    assert_int_equal(sip_header_get_id(h), SIP_HDR_MAX_FORWARDS);
    sip_msg_unref(m);
}

static void msg_header_names_map_back(void **state)
{
    (void)state;
    for (int id = 1; id < SIP_HDR__COUNT; id++) {
        const char *n = sip_hdr_name((sip_hdr_id_t)id);
        assert_non_null(n);
        assert_int_equal(sip_hdr_id_from_name(n, strlen(n)), id);
        char up[64];
        size_t i;
        for (i = 0; n[i]; i++)
            up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
        assert_int_equal(sip_hdr_id_from_name(up, i), id);
        const char *c = sip_hdr_compact_name((sip_hdr_id_t)id);
        if (c) {
            assert_int_equal(sip_hdr_id_from_name(c, 1), id);
            char cu = (char)(c[0] - 32);
            assert_int_equal(sip_hdr_id_from_name(&cu, 1), id);
        }
    }
    assert_int_equal(sip_hdr_id_from_name(S("X-Unknown")), SIP_HDR_OTHER);
    assert_int_equal(sip_hdr_id_from_name(S("Vias")), SIP_HDR_OTHER);
    assert_int_equal(sip_hdr_id_from_name(S("q")), SIP_HDR_OTHER);
    /* CR is '-' with bit 5 cleared: a word-wise match must not take it for one. */
    assert_int_equal(sip_hdr_id_from_name(S("Call\rID")), SIP_HDR_OTHER);
    assert_int_equal(sip_hdr_id_from_name(S("Content-Length-Extra-Long-Name-XYZ")), SIP_HDR_OTHER);
    for (int m = 1; m <= SIP_METHOD_PUBLISH; m++) {
        const char *n = sip_method_name((sip_method_t)m);
        assert_int_equal(sip_method_from_str(n, strlen(n)), m);
    }
    assert_int_equal(sip_method_from_str(S("invite")), SIP_METHOD_UNKNOWN);
    assert_string_equal(sip_status_phrase(486), "Busy Here");
    assert_string_equal(sip_strerror(SIP_EPARSE), "malformed message");
    assert_string_equal(sip_err_name(SIP_ENOMEM), "SIP_ENOMEM");
}

static void msg_compact_forms(void **state)
{
    (void)state;
    static const char m1[] = "MESSAGE sip:a@b SIP/2.0\r\n"
                             "v: SIP/2.0/TCP h1;branch=z9hG4bK1\r\n"
                             "i: cid1\r\n"
                             "f: <sip:c@d>;tag=x\r\n"
                             "t: sip:a@b\r\n"
                             "m: <sip:c@1.2.3.4>\r\n"
                             "k: 100rel\r\n"
                             "s: hello\r\n"
                             "o: presence;id=7\r\n"
                             "u: dialog\r\n"
                             "r: <sip:x@y>\r\n"
                             "b: <sip:z@y>\r\n"
                             "x: 1800;refresher=uac\r\n"
                             "y: abc\r\n"
                             "e: gzip\r\n"
                             "c: text/plain;charset=utf-8\r\n"
                             "CSeq: 1 MESSAGE\r\n"
                             "l: 2\r\n\r\nhi";
    sip_msg_t *m = parse_ok(S(m1));
    static const sip_hdr_id_t ids[] = {SIP_HDR_VIA,           SIP_HDR_CALL_ID,
                                       SIP_HDR_FROM,          SIP_HDR_TO,
                                       SIP_HDR_CONTACT,       SIP_HDR_SUPPORTED,
                                       SIP_HDR_SUBJECT,       SIP_HDR_EVENT,
                                       SIP_HDR_ALLOW_EVENTS,  SIP_HDR_REFER_TO,
                                       SIP_HDR_REFERRED_BY,   SIP_HDR_SESSION_EXPIRES,
                                       SIP_HDR_IDENTITY,      SIP_HDR_CONTENT_ENCODING,
                                       SIP_HDR_CONTENT_TYPE,  SIP_HDR_CSEQ,
                                       SIP_HDR_CONTENT_LENGTH};
    const sip_header_t *h = sip_msg_header_first(m);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++, h = sip_header_next(h))
        assert_int_equal(sip_header_get_id(h), ids[i]);
    assert_null(h);
    sip_str_t id;
    const sip_token_t *ev = sip_header_token(sip_msg_header_at(m, SIP_HDR_EVENT, 0));
    assert_str(ev->value, "presence");
    assert_true(sip_params_get(ev->params, "id", &id));
    assert_str(id, "7");
    const sip_num_t *se = sip_header_num(sip_msg_header_at(m, SIP_HDR_SESSION_EXPIRES, 0));
    assert_int_equal(se->value, 1800);
    sip_str_t refresher;
    assert_true(sip_params_get(se->params, "refresher", &refresher));
    assert_str(refresher, "uac");
    /* The compact name reaches the same header as the long one. */
    assert_ptr_equal(sip_msg_header_by_name(m, "Call-ID", 0), sip_msg_header_by_name(m, "I", 0));
    assert_str(sip_header_get_name(sip_msg_header_by_name(m, "Call-ID", 0)), "i");
    assert_str(sip_msg_get_body(m), "hi");
    sip_msg_unref(m);
}

static void msg_lists_folding_and_quotes(void **state)
{
    (void)state;
    static const char m1[] =
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa;received=192.0.2.1,\r\n"
        " SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKb;maddr=224.2.0.1;ttl=16\r\n"
        "Route: <sip:p1;lr>, \"A, B\" <sip:p2;lr>\r\n"
        "Contact: \"Quote \\\" here\" <sip:a@b>;expires=3600, sip:c@d;q=1\r\n"
        "Subject: a folded\r\n"
        "\tsubject line\r\n"
        "Warning: 307 isi.edu \"Session parameter 'foo' not understood\", 301 x \"y, z\"\r\n"
        "WWW-Authenticate: Digest realm=\"atlanta.example.com\", qop=\"auth,auth-int\",\r\n"
        "  nonce=\"84a4cc6f3082121f32b42a2187831a9e\", algorithm=MD5, stale=FALSE\r\n"
        "Retry-After: 18000 (in five hours);duration=3600\r\n"
        "RAck: 776656 1 INVITE\r\n"
        "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
        "Reason: SIP ;cause=200 ;text=\"Call completed elsewhere\"\r\n"
        "Subscription-State: active;expires=3600\r\n"
        "Replaces: 12345@host;to-tag=a;from-tag=b\r\n"
        "Min-SE: 90\r\n"
        "RSeq: 988789\r\n"
        "Privacy: id\r\n"
        "P-Asserted-Identity: \"Cullen\" <sip:fluffy@cisco.com>, <tel:+14085264000>\r\n"
        "Accept: application/sdp, text/html;level=1\r\n"
        "Content-Length: 0\r\n\r\n";
    sip_msg_t *m = parse_ok(S(m1));
    assert_int_equal(sip_msg_get_status(m), 200);
    assert_str(sip_msg_get_reason(m), "OK");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 2);
    const sip_via_t *v2 = sip_header_via(sip_msg_header_at(m, SIP_HDR_VIA, 1));
    assert_str(v2->host, "[2001:db8::1]");
    assert_int_equal(v2->host_type, SIP_HOST_IPV6);
    assert_int_equal(v2->port, 5070);
    assert_str(v2->maddr, "224.2.0.1");
    assert_int_equal(v2->ttl, 16);
    assert_int_equal(v2->rport, -1);
    assert_str(sip_header_via(sip_msg_header_at(m, SIP_HDR_VIA, 0))->received, "192.0.2.1");

    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ROUTE), 2);
    const sip_addr_t *r2 = sip_header_addr(sip_msg_header_at(m, SIP_HDR_ROUTE, 1));
    assert_str(r2->display, "\"A, B\"");
    assert_true(r2->uri.lr);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_CONTACT), 2);
    const sip_addr_t *c2 = sip_header_addr(sip_msg_header_at(m, SIP_HDR_CONTACT, 1));
    assert_false(c2->bracketed);
    assert_int_equal(c2->q, 1000);
    assert_str(c2->uri.raw, "sip:c@d");
    assert_str(sip_header_addr(sip_msg_header_at(m, SIP_HDR_CONTACT, 0))->display,
               "\"Quote \\\" here\"");

    assert_str(sip_header_get_value(sip_msg_header_at(m, SIP_HDR_SUBJECT, 0)),
               "a folded\r\n\tsubject line");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_WARNING), 2);
    const sip_warning_t *w = sip_header_warning(sip_msg_header_at(m, SIP_HDR_WARNING, 1));
    assert_int_equal(w->code, 301);
    assert_str(w->agent, "x");
    assert_str(w->text, "\"y, z\"");

    const sip_auth_t *a = sip_header_auth(sip_msg_header_at(m, SIP_HDR_WWW_AUTHENTICATE, 0));
    assert_str(a->scheme, "Digest");
    assert_str(a->realm, "atlanta.example.com");
    assert_str(a->qop, "auth,auth-int");
    assert_str(a->nonce, "84a4cc6f3082121f32b42a2187831a9e");
    assert_str(a->algorithm, "MD5");
    assert_str(a->stale, "FALSE");

    const sip_num_t *ra = sip_header_num(sip_msg_header_at(m, SIP_HDR_RETRY_AFTER, 0));
    assert_int_equal(ra->value, 18000);
    assert_str(ra->comment, "in five hours");
    assert_str(ra->params, "duration=3600");
    const sip_rack_t *rack = sip_header_rack(sip_msg_header_at(m, SIP_HDR_RACK, 0));
    assert_int_equal(rack->rseq, 776656);
    assert_int_equal(rack->cseq, 1);
    assert_int_equal(rack->method, SIP_METHOD_INVITE);
    const sip_num_t *date = sip_header_num(sip_msg_header_at(m, SIP_HDR_DATE, 0));
    assert_int_equal(date->time, 1289690940);
    sip_str_t val;
    const sip_token_t *reason = sip_header_token(sip_msg_header_at(m, SIP_HDR_REASON, 0));
    assert_str(reason->value, "SIP");
    assert_true(sip_params_get(reason->params, "text", &val));
    assert_str(sip_str_unquote(val), "Call completed elsewhere");
    const sip_token_t *rep = sip_header_token(sip_msg_header_at(m, SIP_HDR_REPLACES, 0));
    assert_str(rep->value, "12345@host");
    assert_true(sip_params_get(rep->params, "from-tag", &val));
    assert_str(val, "b");
    assert_int_equal(sip_header_num(sip_msg_header_at(m, SIP_HDR_RSEQ, 0))->value, 988789);
    assert_int_equal(sip_header_num(sip_msg_header_at(m, SIP_HDR_MIN_SE, 0))->value, 90);
    const sip_addr_t *pai = sip_header_addr(sip_msg_header_at(m, SIP_HDR_P_ASSERTED_IDENTITY, 1));
    assert_int_equal(pai->uri.scheme, SIP_URI_TEL);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ACCEPT), 2);
    const sip_media_t *acc = sip_header_media(sip_msg_header_at(m, SIP_HDR_ACCEPT, 1));
    assert_str(acc->subtype, "html");
    assert_str(acc->params, "level=1");

    /* Parameter iteration over a params view. */
    sip_str_t it = sip_header_via(sip_msg_header_at(m, SIP_HDR_VIA, 1))->params, n, pv;
    const char *names[] = {"branch", "maddr", "ttl"};
    for (int i = 0; i < 3; i++) {
        assert_true(sip_params_next(&it, &n, &pv));
        assert_str(n, names[i]);
    }
    assert_false(sip_params_next(&it, &n, &pv));
    sip_msg_unref(m);
}

typedef struct {
    const char *name;
    const char *msg;
    int code;
    unsigned line;
    const char *header;
    int status;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"empty via param",
     "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\nVia: SIP/2.0/UDP h;;x\r\n\r\n", SIP_EPARSE, 3,
     "Via", 400},
    {"bad sent-protocol", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0 h\r\n\r\n", SIP_EPARSE, 2, "Via",
     400},
    {"no colon", "OPTIONS sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", SIP_EPARSE, 2, "", 400},
    {"continuation first", "OPTIONS sip:a@b SIP/2.0\r\n x: y\r\n\r\n", SIP_EPARSE, 2, "", 400},
    {"bad cseq", "OPTIONS sip:a@b SIP/2.0\r\nCSeq: x OPTIONS\r\n\r\n", SIP_EPARSE, 2, "CSeq", 400},
    {"cseq huge", "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 2147483648 OPTIONS\r\n\r\n", SIP_EPARSE, 2,
     "CSeq", 400},
    {"max-forwards > 255", "OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 256\r\n\r\n", SIP_EPARSE, 2,
     "Max-Forwards", 400},
    {"two call-ids on a line", "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: a, b\r\n\r\n", SIP_EPARSE, 2,
     "Call-ID", 400},
    {"empty list element", "OPTIONS sip:a@b SIP/2.0\r\nRoute: <sip:a>,,<sip:b>\r\n\r\n", SIP_EPARSE,
     2, "Route", 400},
    {"unterminated quote", "OPTIONS sip:a@b SIP/2.0\r\nTo: \"abc <sip:a@b>\r\n\r\n", SIP_EPARSE, 2,
     "To", 400},
    {"missing >", "OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b\r\n\r\n", SIP_EPARSE, 2, "To", 400},
    {"empty from", "OPTIONS sip:a@b SIP/2.0\r\nFrom:\r\n\r\n", SIP_EPARSE, 2, "From", 400},
    {"bad content-length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1x\r\n\r\n", SIP_EPARSE, 2,
     "Content-Length", 400},
    {"long body claim", "OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc", SIP_EPARSE, 2,
     "Content-Length", 400},
    {"no empty line", "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n", SIP_EINCOMPLETE, 3, "", 400},
    {"version", "OPTIONS sip:a@b SIP/3.0\r\n\r\n", SIP_EVERSION, 1, "", 505},
    {"garbage version", "OPTIONS sip:a@b HTTP/1.1\r\n\r\n", SIP_EPARSE, 1, "", 400},
    {"bad uri", "OPTIONS sip:a b SIP/2.0\r\n\r\n", SIP_EPARSE, 1, "", 400},
    {"bad status", "SIP/2.0 20 OK\r\n\r\n", SIP_EPARSE, 1, "", 0},
    {"response header", "SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n", SIP_EPARSE, 2, "CSeq", 0},
    {"response version", "SIP/1.0 200 OK\r\n\r\n", SIP_EVERSION, 1, "", 0},
    {"bad date", "OPTIONS sip:a@b SIP/2.0\r\nDate: Sat, 13 Nov 2010 23:29:00 EST\r\n\r\n",
     SIP_EPARSE, 2, "Date", 400},
    {"warn code", "SIP/2.0 200 OK\r\nWarning: 1812 x \"t\"\r\n\r\n", SIP_EPARSE, 2, "Warning", 0},
    {"mismatch", "OPTIONS sip:a@b SIP/2.0\r\n\r\nx", SIP_OK, 0, "", 0},
    {"cseq mismatch", "OPTIONS sip:a@b SIP/2.0\r\nX-A: y\r\nCSeq: 1 INVITE\r\n\r\n", SIP_EPARSE, 3,
     "CSeq", 400},
    {"cseq mismatch unknown", "FOO sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n", SIP_EPARSE, 2,
     "CSeq", 501},
    {"empty", "", SIP_EPARSE, 0, "", 400},
    {"no line end", "OPTIONS sip:a@b SIP/2.0", SIP_EPARSE, 1, "", 400},
};

static void msg_errors_name_the_place(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        sip_msg_t *m = (sip_msg_t *)1;
        sip_parse_error_t err;
        int rc = sip_msg_parse(&m, c->msg, strlen(c->msg), &err);
        if (rc != c->code) fail_msg("%s: rc %s (%s)", c->name, sip_err_name(rc), err.reason);
        if (c->code == SIP_OK) {
            sip_msg_unref(m);
            continue;
        }
        assert_null(m);
        assert_int_equal(err.code, c->code);
        if (err.line != c->line) fail_msg("%s: line %u, want %u", c->name, err.line, c->line);
        assert_string_equal(err.header, c->header);
        if (err.status != c->status) fail_msg("%s: status %d", c->name, err.status);
        assert_true(strlen(err.reason) > 0);
        if (c->status) assert_true(strlen(err.phrase) > 0);
        if (c->header[0]) assert_non_null(strstr(err.reason, c->header));
    }
}

static void msg_limits(void **state)
{
    (void)state;
    sip_parse_opts_t o;
    sip_parse_error_t err;
    sip_msg_t *m;
    sip_parse_opts_init(&o);
    assert_int_equal(o.max_size, 65536);
    o.max_size = 100;
    assert_int_equal(sip_msg_parse_ex(&m, S(INVITE), &o, &err), SIP_ETOOBIG);
    assert_int_equal(err.status, 513);
    sip_parse_opts_init(&o);
    o.max_headers = 5;
    assert_int_equal(sip_msg_parse_ex(&m, S(INVITE), &o, &err), SIP_ETOOBIG);
    assert_int_equal(err.line, 7);
    sip_parse_opts_init(&o);
    o.max_line = 40;
    assert_int_equal(sip_msg_parse_ex(&m, S(INVITE), &o, &err), SIP_ETOOBIG);
    assert_int_equal(err.line, 2);
    /* Default size limit. */
    static char big[70000];
    memcpy(big, INVITE, sizeof(INVITE) - 1);
    assert_int_equal(sip_msg_parse(&m, big, sizeof(big), &err), SIP_ETOOBIG);
    /* Stream mode wants Content-Length. */
    sip_parse_opts_init(&o);
    o.stream = 1;
    assert_int_equal(sip_msg_parse_ex(&m, S("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), &o, &err),
                     SIP_EPARSE);
    assert_string_equal(err.header, "Content-Length");
    assert_int_equal(sip_msg_parse(NULL, S(INVITE), &err), SIP_EINVAL);
    assert_int_equal(sip_msg_parse(&m, NULL, 5, &err), SIP_EINVAL);
}

static void msg_datagram_body_framing(void **state)
{
    (void)state;
    /* RFC 3261 §18.3: octets after Content-Length in a datagram are dropped. */
    sip_msg_t *m = parse_ok(S("OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcJUNK"));
    assert_str(sip_msg_get_body(m), "abc");
    sip_msg_unref(m);
    /* No Content-Length on a datagram: the body runs to the end. */
    m = parse_ok(S("OPTIONS sip:a@b SIP/2.0\r\n\r\nrest\r\n"));
    assert_str(sip_msg_get_body(m), "rest\r\n");
    sip_msg_unref(m);
    /* Bare LF line ends are tolerated. */
    m = parse_ok(S("OPTIONS sip:a@b SIP/2.0\nCSeq: 1 OPTIONS\nl: 0\n\n"));
    assert_int_equal(sip_msg_get_cseq(m)->seq, 1);
    sip_msg_unref(m);
}

static void msg_frame_stream(void **state)
{
    (void)state;
    const char two[] = "\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhiINVITE x";
    size_t skip, n;
    assert_int_equal(sip_msg_frame(two, sizeof(two) - 1, &skip, &n), 0);
    assert_int_equal(skip, 4);
    assert_int_equal(n, strlen("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi"));
    assert_int_equal(sip_msg_frame(two, 30, &skip, &n), SIP_EINCOMPLETE);
    /* One body octet short. */
    assert_int_equal(sip_msg_frame(two, 4 + n - 1, &skip, &n), SIP_EINCOMPLETE);
    const char nocl[] = "OPTIONS sip:a@b SIP/2.0\r\nX: 1\r\n\r\n";
    assert_int_equal(sip_msg_frame(nocl, sizeof(nocl) - 1, &skip, &n), SIP_EPARSE);
    const char neg[] = "OPTIONS sip:a@b SIP/2.0\r\nl: -999\r\n\r\n";
    assert_int_equal(sip_msg_frame(neg, sizeof(neg) - 1, &skip, &n), SIP_EPARSE);
    const char two_cl[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_int_equal(sip_msg_frame(two_cl, sizeof(two_cl) - 1, &skip, &n), SIP_EPARSE);
}

static void compare_msgs(const sip_msg_t *a, const sip_msg_t *b)
{
    assert_int_equal(sip_msg_is_request(a), sip_msg_is_request(b));
    assert_int_equal(sip_msg_get_status(a), sip_msg_get_status(b));
    assert_true(sip_str_eq(sip_msg_get_method_str(a), sip_msg_get_method_str(b)));
    assert_true(sip_str_eq(sip_msg_get_body(a), sip_msg_get_body(b)));
    assert_int_equal(sip_msg_header_total(a), sip_msg_header_total(b));
    const sip_header_t *x = sip_msg_header_first(a), *y = sip_msg_header_first(b);
    for (; x && y; x = sip_header_next(x), y = sip_header_next(y)) {
        assert_int_equal(sip_header_get_id(x), sip_header_get_id(y));
        if (sip_header_get_id(x) != SIP_HDR_CONTENT_LENGTH)
            assert_true(sip_str_eq(sip_header_get_value(x), sip_header_get_value(y)));
    }
    assert_null(x);
    assert_null(y);
}

/* The parse error of buf, which must not parse. */
static sip_parse_error_t parse_err(const char *buf, size_t len)
{
    sip_msg_t *m = (sip_msg_t *)1;
    sip_parse_error_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(sip_msg_parse(&m, buf, len, &e), SIP_EPARSE);
    assert_null(m);
    return e;
}

#define HDRS_REST                                                                                  \
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1\r\nTo: <sip:b@example.com>\r\n"             \
    "From: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"

static void msg_bare_cr_and_control_octets(void **state)
{
    (void)state;
    /* A CR not followed by LF ends a line for Sofia-SIP and oSIP2: taken as whitespace it would
     * hide a Via that the next hop sees (a proxy would forward it unseen). */
    sip_parse_error_t e = parse_err(
        S("OPTIONS sip:b@example.com SIP/2.0\r\n"
          "Subject: hi\rVia: SIP/2.0/UDP evil.example;branch=z9hG4bKevil\r\n" HDRS_REST "\r\n"));
    assert_int_equal(e.status, 400);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.column, 12);
    assert_string_equal(e.header, "Subject");
    assert_non_null(strstr(e.reason, "CR not followed by LF"));
    /* CR CR LF: the others end the headers there. */
    e = parse_err(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "\r\r\nbody"));
    assert_int_equal(e.status, 400);
    assert_int_equal(e.line, 7);
    /* In the start line, and inside a fold (the line and column are those of the octet). */
    e = parse_err(S("OPTIONS sip:b@example.com\r SIP/2.0\r\n" HDRS_REST "\r\n"));
    assert_int_equal(e.line, 1);
    assert_int_equal(e.column, 26);
    e = parse_err(
        S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "Subject: a\r\n b\x01\r\n\r\n"));
    assert_int_equal(e.line, 8);
    assert_int_equal(e.column, 3);
    assert_non_null(strstr(e.reason, "control octet"));
    /* NUL, ESC and DEL outside a quoted-pair. */
    e = parse_err(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "X-A: a\0b\r\n\r\n"));
    assert_string_equal(e.header, "X-A");
    parse_err(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "X-A: a\x1b[0m\r\n\r\n"));
    parse_err(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "X-A: a\x7f\r\n\r\n"));
    parse_err(S("SIP/2.0 200 O\x01K\r\n" HDRS_REST "\r\n"));
    /* Allowed: HTAB, folds, an escaped control octet (RFC 3261 §25.1 quoted-pair), UTF-8, and
     * anything in the body. */
    sip_msg_t *m =
        parse_ok(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST
                   "Subject:\ta\r\n\tb\r\nX-Q: \"x\\\x01y\" \xc3\xa9\r\n\r\n\x01\r\x7f"));
    assert_int_equal(sip_msg_get_body(m).len, 3);
    sip_msg_unref(m);
    /* An escaped backslash does not escape what follows it. */
    parse_err(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "X-Q: \"x\\\\\x01\"\r\n\r\n"));
}

static void msg_validate_mandatory_and_single_headers(void **state)
{
    (void)state;
    static const struct {
        const char *drop, *name;
    } missing[] = {{"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1\r\n", "Via"},
                   {"To: <sip:b@example.com>\r\n", "To"},
                   {"From: <sip:a@example.com>;tag=1\r\n", "From"},
                   {"Call-ID: c1\r\n", "Call-ID"},
                   {"CSeq: 1 OPTIONS\r\n", "CSeq"}};
    const char full[] = "OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "\r\n";
    sip_parse_error_t e;
    sip_msg_t *m = parse_ok(S(full));
    assert_int_equal(sip_msg_validate(m, &e), 0);
    sip_msg_unref(m);
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        char buf[512];
        const char *at = strstr(full, missing[i].drop);
        size_t pre = (size_t)(at - full), dl = strlen(missing[i].drop);
        snprintf(buf, sizeof(buf), "%.*s%s", (int)pre, full, at + dl);
        m = parse_ok(buf, strlen(buf));
        memset(&e, 0, sizeof(e));
        assert_int_equal(sip_msg_validate(m, &e), SIP_EPARSE);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.header, missing[i].name);
        char phrase[96];
        snprintf(phrase, sizeof(phrase), "Bad Request (Missing %s header)", missing[i].name);
        assert_string_equal(e.phrase, phrase);
        assert_non_null(strstr(e.reason, missing[i].name));
        sip_msg_unref(m);
    }
    /* Repeated single-instance headers (RFC 4475 multi01, mcl01): the second one is named. */
    m = parse_ok(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "Content-Length: 5\r\n"
                   "Content-Length: 13\r\n\r\nhello, world!"));
    assert_int_equal(sip_msg_validate(m, &e), SIP_EPARSE);
    assert_string_equal(e.header, "Content-Length");
    assert_int_equal(e.line, 8);
    assert_string_equal(e.phrase, "Bad Request (Duplicate Content-Length header)");
    sip_msg_unref(m);
    static const char *const dups[] = {"i: c2\r\n",
                                       "t: <sip:c@example.com>\r\n",
                                       "f: <sip:c@example.com>;tag=2\r\n",
                                       "CSeq: 2 OPTIONS\r\n",
                                       "Max-Forwards: 70\r\nMax-Forwards: 69\r\n",
                                       "c: text/plain\r\nContent-Type: text/html\r\n"};
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST "%s\r\n",
                 dups[i]);
        m = parse_ok(buf, strlen(buf));
        assert_int_equal(sip_msg_validate(m, &e), SIP_EPARSE);
        assert_non_null(strstr(e.phrase, "Duplicate"));
        sip_msg_unref(m);
    }
    /* A response is never answered: status 0. */
    m = parse_ok(S("SIP/2.0 200 OK\r\n" HDRS_REST "Call-ID: c2\r\n\r\n"));
    assert_int_equal(sip_msg_validate(m, &e), SIP_EPARSE);
    assert_int_equal(e.status, 0);
    sip_msg_unref(m);
    /* Lists may repeat. */
    m = parse_ok(S("OPTIONS sip:b@example.com SIP/2.0\r\n" HDRS_REST
                   "Via: SIP/2.0/UDP h2.example.com;branch=z9hG4bK2\r\nAllow: INVITE\r\n"
                   "Allow: BYE\r\n\r\n"));
    assert_int_equal(sip_msg_validate(m, NULL), 0);
    sip_msg_unref(m);
    assert_int_equal(sip_msg_validate(NULL, NULL), SIP_EINVAL);
}

static void msg_print_round_trip(void **state)
{
    (void)state;
    sip_msg_t *m = parse_ok(S(INVITE)), *m2;
    char buf[2048];
    int n = sip_msg_print(m, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_int_equal(sip_msg_print(m, NULL, 0), n);
    /* An unedited message prints back exactly as received, comma lists and all. */
    assert_int_equal((size_t)n, strlen(INVITE));
    assert_memory_equal(buf, INVITE, (size_t)n);
    m2 = parse_ok(buf, (size_t)n);
    compare_msgs(m, m2);
    /* snprintf semantics: truncation still reports the full length. */
    char small[10];
    assert_int_equal(sip_msg_print(m, small, sizeof(small)), n);
    assert_int_equal(strlen(small), 9);
    sip_msg_unref(m);
    sip_msg_unref(m2);
}

static void msg_build_request_exact_bytes(void **state)
{
    (void)state;
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", "sip:carol@chicago.example.com"), 0);
    assert_int_equal(sip_msg_get_method(m), SIP_METHOD_OPTIONS);
    assert_int_equal(sip_msg_add_header(m, "Via", "SIP/2.0/UDP h.example.com;branch=z9hG4bKx"), 0);
    assert_int_equal(sip_msg_add_header(m, "Max-Forwards", "70"), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:carol@chicago.example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "Alice <sip:alice@a.example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "abc@h"), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    assert_int_equal(sip_msg_set_body(m, "text/plain", "hello", 5), 0);
    assert_int_equal(sip_msg_prepend_header(m, "Via", "SIP/2.0/TCP p.example.com;branch=z9hG4bKy"),
                     0);
    char buf[1024];
    int n = sip_msg_print(m, buf, sizeof(buf));
    const char want[] = "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
                        "Via: SIP/2.0/TCP p.example.com;branch=z9hG4bKy\r\n"
                        "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx\r\n"
                        "Max-Forwards: 70\r\n"
                        "To: <sip:carol@chicago.example.com>\r\n"
                        "From: Alice <sip:alice@a.example.com>;tag=1\r\n"
                        "Call-ID: abc@h\r\n"
                        "CSeq: 1 OPTIONS\r\n"
                        "Content-Type: text/plain\r\n"
                        "Content-Length: 5\r\n"
                        "\r\n"
                        "hello";
    assert_int_equal(n, sizeof(want) - 1);
    assert_string_equal(buf, want);
    assert_str(sip_msg_get_via(m)->transport, "TCP");
    assert_int_equal(sip_header_num(sip_msg_header_at(m, SIP_HDR_CONTENT_LENGTH, 0))->value, 5);

    /* Bad values are refused and change nothing. */
    size_t total = sip_msg_header_total(m);
    assert_int_equal(sip_msg_add_header(m, "Route", "<sip:a;lr>, <sip:b"), SIP_EPARSE);
    assert_int_equal(sip_msg_add_header(m, "X", "a\r\nVia: injected"), SIP_EINVAL);
    assert_int_equal(sip_msg_add_header(m, "Bad Name", "x"), SIP_EINVAL);
    assert_int_equal(sip_msg_set_header(m, "CSeq", "nope"), SIP_EPARSE);
    assert_int_equal(sip_msg_header_total(m), total);
    assert_int_equal(sip_msg_get_cseq(m)->seq, 1);
    sip_msg_unref(m);
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", "not a uri"), SIP_EURI);
    assert_null(m);
    assert_int_equal(sip_msg_create_request(&m, "BAD METHOD", "sip:a@b"), SIP_EINVAL);
    assert_null(m);
}

static void msg_edit_keeps_old_views(void **state)
{
    (void)state;
    sip_msg_t *m = parse_ok(S(INVITE));
    const sip_via_t *old_via = sip_msg_get_via(m);
    sip_str_t branch = old_via->branch;
    const sip_addr_t *from = sip_msg_get_from(m);
    /* Lots of edits force new memory chunks; views taken before stay valid. */
    for (int i = 0; i < 200; i++) {
        char v[96];
        snprintf(v, sizeof(v), "SIP/2.0/UDP proxy%d.example.com;branch=z9hG4bK%d", i, i);
        assert_int_equal(sip_msg_prepend_header(m, "Via", v), 0);
    }
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 201);
    assert_str(branch, "z9hG4bK776asdhds");
    assert_str(from->tag, "1928301774");
    assert_str(sip_msg_get_via(m)->host, "proxy199.example.com");
    assert_int_equal(sip_msg_remove_headers(m, "v"), 201);
    assert_null(sip_msg_get_via(m));
    assert_int_equal(sip_msg_remove_header(m, "Via", 0), SIP_ENOENT);
    assert_int_equal(sip_msg_remove_header(m, "x-custom", 1), 0);
    assert_null(sip_msg_header_by_name(m, "X-Custom", 1));
    assert_int_equal(sip_msg_set_header(m, "Max-Forwards", "69"), 0);
    assert_int_equal(sip_msg_get_max_forwards(m), 69);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_MAX_FORWARDS), 1);
    assert_int_equal(sip_msg_set_header(m, "X-Custom", "only"), 0);
    assert_str(sip_header_get_value(sip_msg_header_by_name(m, "x-custom", 0)), "only");
    assert_null(sip_msg_header_by_name(m, "x-custom", 1));
    assert_int_equal(sip_msg_set_uri(m, "sip:carol@c.example.com;transport=tcp"), 0);
    assert_str(sip_msg_get_uri(m)->transport, "tcp");
    assert_int_equal(sip_msg_set_uri(m, "bad uri"), SIP_EURI);
    assert_str(sip_msg_get_uri(m)->host, "c.example.com");
    assert_int_equal(sip_msg_set_body(m, NULL, NULL, 0), 0);
    assert_null(sip_msg_get_content_type(m));
    char buf[2048];
    int n = sip_msg_print(m, buf, sizeof(buf));
    assert_non_null(strstr(buf, "Content-Length: 0\r\n\r\n"));
    assert_int_equal(buf[n - 1], '\n');
    sip_msg_t *m2 = parse_ok(buf, (size_t)n);
    compare_msgs(m, m2);
    sip_msg_unref(m2);
    sip_msg_unref(m);
}

static void msg_response_from_request(void **state)
{
    (void)state;
    static const char req[] =
        "INVITE sip:bob@b.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP p1;branch=z9hG4bK1, SIP/2.0/UDP p2;branch=z9hG4bK2\r\n"
        "Via: SIP/2.0/UDP ua;branch=z9hG4bK3;received=192.0.2.4;rport=5061\r\n"
        "To: Bob <sip:bob@b.example.com>\r\n"
        "From: <sip:alice@a.example.com>;tag=88\r\n"
        "Call-ID: c1\r\n"
        "CSeq: 7 INVITE\r\n"
        "Timestamp: 54\r\n"
        "Contact: <sip:alice@ua>\r\n"
        "Content-Length: 0\r\n\r\n";
    sip_msg_t *m = parse_ok(S(req)), *r;
    assert_int_equal(sip_msg_create_response(&r, m, 180, NULL, "t1"), 0);
    assert_false(sip_msg_is_request(r));
    assert_int_equal(sip_msg_get_status(r), 180);
    assert_str(sip_msg_get_reason(r), "Ringing");
    assert_int_equal(sip_msg_header_count(r, SIP_HDR_VIA), 3);
    assert_int_equal(sip_header_via(sip_msg_header_at(r, SIP_HDR_VIA, 2))->rport, 5061);
    assert_str(sip_msg_get_to(r)->tag, "t1");
    assert_str(sip_msg_get_to(r)->display, "Bob");
    assert_str(sip_msg_get_from(r)->tag, "88");
    assert_str(sip_msg_get_call_id(r), "c1");
    assert_int_equal(sip_msg_get_cseq(r)->seq, 7);
    assert_int_equal(sip_msg_header_count(r, SIP_HDR_CONTACT), 0);
    assert_int_equal(sip_msg_header_count(r, SIP_HDR_TIMESTAMP), 0);
    sip_msg_unref(r);
    /* Random tag when none is given; 100 Trying gets no tag but the Timestamp. */
    assert_int_equal(sip_msg_create_response(&r, m, 486, "Busy", NULL), 0);
    assert_int_equal(sip_msg_get_to(r)->tag.len, 16);
    assert_str(sip_msg_get_reason(r), "Busy");
    sip_msg_unref(r);
    assert_int_equal(sip_msg_create_response(&r, m, 100, NULL, NULL), 0);
    assert_int_equal(sip_msg_get_to(r)->tag.len, 0);
    assert_int_equal(sip_msg_header_count(r, SIP_HDR_TIMESTAMP), 1);
    assert_int_equal(sip_msg_set_status(r, 183, NULL), 0);
    assert_str(sip_msg_get_reason(r), "Session Progress");
    char buf[1024];
    int n = sip_msg_print(r, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 183 Session Progress\r\nVia: ", 35), 0);
    sip_msg_unref(r);
    assert_int_equal(sip_msg_create_response(&r, m, 99, NULL, NULL), SIP_EINVAL);
    assert_null(r);
    assert_int_equal(sip_msg_create_response(&r, m, 200, NULL, "bad tag"), SIP_EINVAL);
    sip_msg_unref(m);
}

static void msg_update_header_in_place(void **state)
{
    (void)state;
    sip_msg_t *m = parse_ok(S(INVITE));
    const sip_header_t *via = sip_msg_header_at(m, SIP_HDR_VIA, 0);
    assert_int_equal(
        sip_msg_update_header(
            m, via,
            "SIP/2.0/UDP "
            "pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5070;received=192.0.2.9"),
        0);
    /* Same record, same place, new fields. */
    assert_ptr_equal(sip_msg_header_at(m, SIP_HDR_VIA, 0), via);
    assert_ptr_equal(sip_msg_header_first(m), via);
    assert_int_equal(sip_header_via(via)->rport, 5070);
    assert_str(sip_header_via(via)->received, "192.0.2.9");
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_VIA), 1);
    size_t total = sip_msg_header_total(m);
    /* Lists and bad values are refused without a change. */
    assert_int_equal(sip_msg_update_header(m, via, "SIP/2.0/UDP a, SIP/2.0/UDP b"), SIP_EPARSE);
    assert_int_equal(sip_msg_update_header(m, via, "nonsense"), SIP_EPARSE);
    assert_int_equal(sip_msg_header_total(m), total);
    assert_int_equal(sip_header_via(via)->rport, 5070);
    sip_msg_t *other = parse_ok(S(INVITE));
    assert_int_equal(
        sip_msg_update_header(
            m, sip_msg_get_via(other) ? sip_msg_header_at(other, SIP_HDR_VIA, 0) : NULL, "x"),
        SIP_EINVAL);
    sip_msg_unref(other);
    char buf[2048];
    int n = sip_msg_print(m, buf, sizeof(buf));
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\r\nVia: SIP/2.0/UDP "
                                "pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5070;"
                                "received=192.0.2.9\r\nMax-Forwards"));
    sip_msg_unref(m);
}

/* A copied header is parsed already, owns its text (the source may go) and prints like the
 * original; a list copies value by value. */
/* The To of a response gets its tag without a new parse: every field must be what parsing the
 * same text gives. */
static void msg_response_to_tag_matches_a_parse(void **state)
{
    (void)state;
    static const char *tos[] = {
        "<sip:bob@biloxi.example.com>",
        "Bob <sip:bob@biloxi.example.com:5070;transport=tcp>",
        "\"Bob B.\" <sips:bob@[2001:db8::1]:5061>;x-y=1;expires=30",
        "sip:bob@biloxi.example.com;q=0.5",
        "<tel:+1-201-555-0123;phone-context=example.com>;foo",
    };
    for (size_t i = 0; i < sizeof(tos) / sizeof(tos[0]); i++) {
        char req_text[1024];
        int n = snprintf(req_text, sizeof(req_text),
                         "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
                         "Max-Forwards: 70\r\nt: %s\r\n"
                         "From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                         "Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\n"
                         "Content-Length: 0\r\n\r\n",
                         tos[i]);
        sip_msg_t *req = parse_ok(req_text, (size_t)n), *rsp = NULL;
        assert_int_equal(sip_msg_create_response(&rsp, req, 180, NULL, "a6c85cf"), 0);
        sip_msg_unref(req); /* the response must not point into it */
        char want_text[512];
        snprintf(want_text, sizeof(want_text), "%s;tag=a6c85cf", tos[i]);
        sip_msg_t *ref = NULL;
        assert_int_equal(sip_msg_create_request(&ref, "OPTIONS", "sip:x.invalid"), 0);
        assert_int_equal(sip_msg_add_header(ref, "To", want_text), 0);
        const sip_header_t *got_h = sip_msg_header_at(rsp, SIP_HDR_TO, 0);
        assert_non_null(got_h);
        assert_str(sip_header_get_name(got_h), "To");
        assert_str(sip_header_get_value(got_h), want_text);
        const sip_addr_t *got = sip_header_addr(got_h), *want = sip_msg_get_to(ref);
        assert_non_null(got);
        assert_non_null(want);
        char ws[256];
#define SAME(field)                                                                                \
    do {                                                                                           \
        snprintf(ws, sizeof(ws), "%.*s", (int)want->field.len, want->field.ptr);                   \
        assert_str(got->field, ws);                                                                \
    } while (0)
        SAME(display);
        SAME(params);
        SAME(tag);
        SAME(uri.raw);
        SAME(uri.user);
        SAME(uri.host);
        SAME(uri.params);
        SAME(uri.transport);
#undef SAME
        assert_int_equal(got->uri.port, want->uri.port);
        assert_int_equal(got->uri.scheme, want->uri.scheme);
        assert_int_equal(got->expires, want->expires);
        assert_int_equal(got->q, want->q);
        assert_int_equal(got->bracketed, want->bracketed);
        /* Printed and parsed again, the response says the same. */
        char out[2048];
        n = sip_msg_print(rsp, out, sizeof(out));
        assert_true(n > 0 && (size_t)n < sizeof(out));
        sip_msg_t *again = parse_ok(out, (size_t)n);
        assert_str(sip_msg_get_to(again)->tag, "a6c85cf");
        sip_msg_unref(again);
        sip_msg_unref(ref);
        sip_msg_unref(rsp);
    }
}

static void msg_add_header_copy(void **state)
{
    (void)state;
    sip_msg_t *src = NULL, *dst = parse_ok(S(INVITE));
    assert_int_equal(sip_msg_create_request(&src, "OPTIONS", "sip:t.invalid"), 0);
    assert_int_equal(
        sip_msg_add_header(src, "m", "\"Bob\" <sip:bob@192.0.2.4:5070;transport=tcp>;expires=60"),
        0);
    assert_int_equal(sip_msg_add_header(src, "Allow", "INVITE, BYE"), 0);
    assert_int_equal(sip_msg_add_header(src, "X-Thing", "some text"), 0);
    size_t before = sip_msg_header_total(dst);
    size_t contacts = sip_msg_header_count(dst, SIP_HDR_CONTACT);
    size_t allows = sip_msg_header_count(dst, SIP_HDR_ALLOW);
    assert_int_equal(sip_msg_add_header_copy(dst, sip_msg_header_at(src, SIP_HDR_CONTACT, 0)), 0);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(sip_msg_add_header_copy(dst, sip_msg_header_at(src, SIP_HDR_ALLOW, i)), 0);
    assert_int_equal(sip_msg_add_header_copy(dst, sip_msg_header_by_name(src, "x-thing", 0)), 0);
    assert_int_equal(sip_msg_add_header_copy(NULL, sip_msg_header_first(src)), SIP_EINVAL);
    assert_int_equal(sip_msg_add_header_copy(dst, NULL), SIP_EINVAL);
    /* Overwrite and free the source: the copies must not point into it. */
    char junk[2048];
    int n = sip_msg_print(src, junk, sizeof(junk));
    assert_true(n > 0);
    sip_msg_unref(src);
    assert_int_equal(sip_msg_header_total(dst), before + 4);
    const sip_header_t *c = sip_msg_header_at(dst, SIP_HDR_CONTACT, contacts);
    assert_non_null(c);
    assert_str(sip_header_get_name(c), "m");
    const sip_addr_t *a = sip_header_addr(c);
    assert_non_null(a);
    assert_str(a->display, "\"Bob\"");
    assert_str(a->uri.user, "bob");
    assert_str(a->uri.host, "192.0.2.4");
    assert_int_equal(a->uri.port, 5070);
    assert_str(a->uri.transport, "tcp");
    assert_int_equal(sip_msg_header_count(dst, SIP_HDR_ALLOW), allows + 2);
    assert_str(sip_header_get_value(sip_msg_header_at(dst, SIP_HDR_ALLOW, allows + 1)), "BYE");
    assert_str(sip_header_get_value(sip_msg_header_by_name(dst, "X-Thing", 0)), "some text");
    char buf[4096];
    n = sip_msg_print(dst, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_non_null(strstr(buf,
                           "\r\nm: \"Bob\" <sip:bob@192.0.2.4:5070;transport=tcp>;expires=60\r\n"
                           "Allow: INVITE\r\nAllow: BYE\r\nX-Thing: some text\r\n"));
    /* The copy parses back to the same message. */
    sip_msg_t *again = parse_ok(buf, (size_t)n);
    assert_int_equal(sip_msg_header_total(again), sip_msg_header_total(dst));
    sip_msg_unref(again);
    sip_msg_unref(dst);
}

static void msg_netinfo_follows_the_response(void **state)
{
    (void)state;
    sip_msg_t *m = parse_ok(S(INVITE)), *r;
    assert_null(sip_msg_get_netinfo(m));
    sip_netinfo_t ni = {SIP_TRANSPORT_TCP, "127.0.0.1", 5060, "127.0.0.2", 40000, 7, ""};
    assert_int_equal(sip_msg_set_netinfo(m, &ni), 0);
    assert_int_equal(sip_msg_create_response(&r, m, 200, NULL, "x"), 0);
    const sip_netinfo_t *rn = sip_msg_get_netinfo(r);
    assert_non_null(rn);
    assert_int_equal(rn->transport, SIP_TRANSPORT_TCP);
    assert_string_equal(rn->remote_ip, "127.0.0.2");
    assert_int_equal(rn->remote_port, 40000);
    assert_int_equal(rn->conn_id, 7);
    assert_int_equal(sip_msg_set_netinfo(r, NULL), 0);
    assert_null(sip_msg_get_netinfo(r));
    assert_string_equal(sip_transport_name(SIP_TRANSPORT_WSS), "WSS");
    assert_string_equal(sip_transport_param(SIP_TRANSPORT_TLS), "tls");
    assert_int_equal(sip_transport_from_name("tcp", 3), SIP_TRANSPORT_TCP);
    assert_int_equal(sip_transport_from_name("sctp", 4), SIP_TRANSPORT_NONE);
    assert_int_equal(sip_transport_default_port(SIP_TRANSPORT_TLS), 5061);
    assert_true(sip_transport_is_reliable(SIP_TRANSPORT_WS));
    assert_false(sip_transport_is_reliable(SIP_TRANSPORT_UDP));
    assert_true(sip_transport_is_secure(SIP_TRANSPORT_WSS));
    sip_msg_unref(r);
    sip_msg_unref(m);
}

static void msg_clone_is_independent(void **state)
{
    (void)state;
    char *copy = malloc(sizeof(INVITE));
    memcpy(copy, INVITE, sizeof(INVITE));
    sip_msg_t *m = parse_ok(copy, strlen(copy)), *c;
    assert_int_equal(sip_msg_add_header(m, "Route", "<sip:p1;lr>"), 0);
    assert_int_equal(sip_msg_clone(&c, m), 0);
    sip_msg_unref(m);
    memset(copy, 'x', strlen(copy));
    free(copy);
    assert_str(sip_msg_get_via(c)->branch, "z9hG4bK776asdhds");
    assert_true(sip_header_addr(sip_msg_header_at(c, SIP_HDR_ROUTE, 0))->uri.lr);
    assert_str(sip_msg_get_body(c), "v=0\n");
    /* Refcounting: the last unref frees. */
    assert_ptr_equal(sip_msg_ref(c), c);
    sip_msg_unref(c);
    assert_str(sip_msg_get_call_id(c), "a84b4c76e66710@pc33.atlanta.example.com");
    sip_msg_unref(c);
    sip_msg_unref(NULL);
}

/* More distinct header ids than a message keeps lists for inline: the lists move to a larger
 * array, every header stays reachable by id, in order, and a failed move is SIP_ENOMEM. */
static void msg_many_header_ids(void **state)
{
    (void)state;
    static const char *const names[] = {
        "Accept",  "Accept-Encoding", "Accept-Language", "Privacy",     "Content-Language",
        "Require", "Subject",         "Organization",    "Priority",    "Expires",
        "Server",  "MIME-Version",    "Timestamp",       "Reply-To",    "Record-Route",
        "Route",   "Retry-After",     "Unsupported",     "Min-Expires", "In-Reply-To",
    };
    static const char *const values[] = {
        "application/sdp", "gzip",        "en", "id",  "fr",  "100rel", "hello",
        "Example",         "urgent",      "60", "x/1", "1.0", "5",      "<sip:a@b>",
        "<sip:p1;lr>",     "<sip:p2;lr>", "30", "foo", "90",  "a@b",
    };
    long base = test_alloc_live();
    for (long n = 1;; n++) {
        sip_msg_t *m = NULL, *c = NULL;
        test_alloc_fail_at(n);
        int rc = sip_msg_parse(&m, S(INVITE), NULL);
        for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++)
            rc = sip_msg_add_header(m, names[i], values[i]);
        if (rc == 0) rc = sip_msg_add_header(m, "Route", "<sip:p3;lr>");
        if (rc == 0) rc = sip_msg_clone(&c, m);
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!fired) {
            assert_int_equal(rc, 0);
            for (int k = 0; k < 2; k++) {
                sip_msg_t *x = k ? c : m;
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                    sip_hdr_id_t id = sip_hdr_id_from_name(names[i], strlen(names[i]));
                    assert_true(id != SIP_HDR_OTHER);
                    assert_int_equal(sip_msg_header_count(x, id), id == SIP_HDR_ROUTE ? 2 : 1);
                    assert_str(sip_header_get_value(sip_msg_header_at(x, id, 0)), values[i]);
                }
                assert_str(sip_header_get_value(sip_msg_header_at(x, SIP_HDR_ROUTE, 1)),
                           "<sip:p3;lr>");
                assert_str(sip_msg_get_via(x)->branch, "z9hG4bK776asdhds");
            }
            assert_int_equal(sip_msg_remove_header(m, "Route", 0), 0);
            assert_str(sip_header_get_value(sip_msg_header_at(m, SIP_HDR_ROUTE, 0)), "<sip:p3;lr>");
        } else if (rc != SIP_ENOMEM) {
            fail_msg("allocation %ld: rc %s", n, sip_err_name(rc));
        }
        sip_msg_unref(m);
        sip_msg_unref(c);
        assert_int_equal(test_alloc_live(), base);
        if (!fired) break;
    }
}

#define PAD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

static void msg_alloc_failure_sweep(void **state)
{
    (void)state;
    /* Fail the 1st, 2nd, ... allocation until the call succeeds: only SIP_ENOMEM, no leak. */
    long base = test_alloc_live();
    for (long n = 1;; n++) {
        sip_msg_t *m = NULL, *r = NULL, *c = NULL;
        test_alloc_fail_at(n);
        int rc = sip_msg_parse(&m, S(INVITE), NULL);
        if (rc == 0) rc = sip_msg_prepend_header(m, "Via", "SIP/2.0/UDP x;branch=z9hG4bKq");
        for (int i = 0; rc == 0 && i < 40; i++)
            rc = sip_msg_add_header(m, "X-Pad", PAD);
        if (rc == 0) rc = sip_msg_create_response(&r, m, 200, NULL, "x");
        if (rc == 0) rc = sip_msg_clone(&c, m);
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        sip_msg_unref(m);
        sip_msg_unref(r);
        sip_msg_unref(c);
        assert_int_equal(test_alloc_live(), base);
        if (!fired) {
            assert_int_equal(rc, 0);
            assert_true(n > 3);
            break;
        }
        if (rc != SIP_ENOMEM) fail_msg("allocation %ld: rc %s", n, sip_err_name(rc));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msg_parse_invite_fields),
        cmocka_unit_test(msg_header_names_map_back),
        cmocka_unit_test(msg_compact_forms),
        cmocka_unit_test(msg_lists_folding_and_quotes),
        cmocka_unit_test(msg_errors_name_the_place),
        cmocka_unit_test(msg_limits),
        cmocka_unit_test(msg_datagram_body_framing),
        cmocka_unit_test(msg_frame_stream),
        cmocka_unit_test(msg_bare_cr_and_control_octets),
        cmocka_unit_test(msg_validate_mandatory_and_single_headers),
        cmocka_unit_test(msg_print_round_trip),
        cmocka_unit_test(msg_build_request_exact_bytes),
        cmocka_unit_test(msg_edit_keeps_old_views),
        cmocka_unit_test(msg_response_from_request),
        cmocka_unit_test(msg_update_header_in_place),
        cmocka_unit_test(msg_response_to_tag_matches_a_parse),
        cmocka_unit_test(msg_add_header_copy),
        cmocka_unit_test(msg_netinfo_follows_the_response),
        cmocka_unit_test(msg_clone_is_independent),
        cmocka_unit_test(msg_alloc_failure_sweep),
        cmocka_unit_test(msg_many_header_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
