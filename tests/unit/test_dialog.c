/* SPDX-License-Identifier: MIT */
/* Dialogs (RFC 3261 §12): creation on both sides, forks, in-dialog requests with loose and
 * strict routing, CSeq checks and target refresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "sip/sip.h"

static sip_msg_t *parse(const char *text)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, text, strlen(text), &err);
    if (rc) fail_msg("parse: %s", err.reason);
    return m;
}

static void assert_view(sip_str_t v, const char *want)
{
    if (v.len != strlen(want) || memcmp(v.ptr, want, v.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)v.len, v.ptr, want);
}

static void assert_header(const sip_msg_t *m, const char *name, size_t i, const char *want)
{
    const sip_header_t *h = sip_msg_header_by_name(m, name, i);
    if (!h) fail_msg("no %s[%zu]", name, i);
    assert_view(sip_header_get_value(h), want);
}

#define INVITE                                                                                     \
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"                                                \
    "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"                                          \
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1\r\n"                                \
    "Record-Route: <sip:p2.example.com;lr>\r\n"                                                    \
    "Record-Route: <sip:p1.example.com;lr>\r\n"                                                    \
    "Max-Forwards: 69\r\n"                                                                         \
    "To: Bob <sip:bob@biloxi.example.com>\r\n"                                                     \
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"                               \
    "Call-ID: a84b4c76e66710\r\n"                                                                  \
    "CSeq: 314159 INVITE\r\n"                                                                      \
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"                                            \
    "Content-Length: 0\r\n\r\n"

static sip_msg_t *answer(const sip_msg_t *req, int status, const char *tag, const char *contact)
{
    sip_msg_t *r = NULL;
    assert_int_equal(sip_msg_create_response(&r, req, status, NULL, tag), 0);
    if (contact) assert_int_equal(sip_msg_add_header(r, "Contact", contact), 0);
    for (size_t i = 0; i < sip_msg_header_count(req, SIP_HDR_RECORD_ROUTE); i++)
        assert_int_equal(
            sip_msg_add_header_copy(r, sip_msg_header_at(req, SIP_HDR_RECORD_ROUTE, i)), 0);
    return r;
}

static void dialog_uas_confirmed_and_bye(void **state)
{
    (void)state;
    sip_msg_t *req = parse(INVITE);
    sip_msg_t *ok = answer(req, 200, "a6c85cf", "<sip:bob@192.0.2.4>");
    sip_dialog_t *d = NULL;
    assert_int_equal(sip_dialog_create_uas(&d, req, ok), 0);
    assert_int_equal(sip_dialog_get_state(d), SIP_DIALOG_CONFIRMED);
    assert_true(sip_dialog_is_uas(d));
    assert_view(sip_dialog_get_call_id(d), "a84b4c76e66710");
    assert_view(sip_dialog_get_local_tag(d), "a6c85cf");
    assert_view(sip_dialog_get_remote_tag(d), "1928301774");
    assert_view(sip_dialog_get_remote_target(d), "sip:alice@pc33.atlanta.example.com");
    assert_view(sip_dialog_get_local_target(d), "sip:bob@192.0.2.4");
    assert_int_equal(sip_dialog_route_count(d), 2);
    /* RFC 3261 §12.1.1: the UAS keeps Record-Route in order. */
    assert_view(sip_dialog_route_at(d, 0), "<sip:p2.example.com;lr>");
    assert_int_equal(sip_dialog_get_remote_cseq(d), 314159);
    assert_int_equal(sip_dialog_get_local_cseq(d), 0);

    sip_msg_t *bye = NULL;
    assert_int_equal(sip_dialog_create_request(&bye, d, "BYE"), 0);
    assert_view(sip_msg_get_uri(bye)->raw, "sip:alice@pc33.atlanta.example.com");
    assert_header(bye, "Route", 0, "<sip:p2.example.com;lr>");
    assert_header(bye, "Route", 1, "<sip:p1.example.com;lr>");
    assert_header(bye, "From", 0, "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf");
    assert_header(bye, "To", 0, "Alice <sip:alice@atlanta.example.com>;tag=1928301774");
    assert_header(bye, "CSeq", 0, "1 BYE");
    assert_header(bye, "Call-ID", 0, "a84b4c76e66710");
    assert_int_equal(sip_dialog_get_local_cseq(d), 1);
    /* What it built is a message that parses back. */
    char buf[2048];
    int n = sip_msg_print(bye, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    sip_msg_t *again = parse(buf);
    assert_true(sip_dialog_match(d, again) == 0); /* sent by us: From carries our tag */
    sip_msg_unref(again);
    sip_msg_unref(bye);
    assert_int_equal(sip_dialog_create_request(&bye, d, "INFO"), 0);
    assert_header(bye, "CSeq", 0, "2 INFO");
    sip_msg_unref(bye);
    assert_int_equal(sip_dialog_create_request(&bye, d, "ACK"), SIP_EINVAL);
    assert_null(bye);
    sip_dialog_terminate(d);
    assert_int_equal(sip_dialog_create_request(&bye, d, "BYE"), SIP_ECLOSED);
    sip_dialog_unref(d);
    sip_msg_unref(ok);
    sip_msg_unref(req);
}

static void dialog_uac_fork_two_early_dialogs(void **state)
{
    (void)state;
    sip_msg_t *req = parse(INVITE);
    sip_msg_t *r1 = answer(req, 180, "fork1", "<sip:bob@192.0.2.4>");
    sip_msg_t *r2 = answer(req, 183, "fork2", NULL);
    sip_dialog_t *d1 = NULL, *d2 = NULL;
    assert_int_equal(sip_dialog_create_uac(&d1, req, r1), 0);
    assert_int_equal(sip_dialog_create_uac(&d2, req, r2), 0);
    assert_int_equal(sip_dialog_get_state(d1), SIP_DIALOG_EARLY);
    assert_view(sip_dialog_get_remote_tag(d1), "fork1");
    assert_view(sip_dialog_get_remote_tag(d2), "fork2");
    assert_view(sip_dialog_get_local_tag(d1), "1928301774");
    /* RFC 3261 §12.1.2: the UAC's route set is Record-Route reversed. */
    assert_view(sip_dialog_route_at(d1, 0), "<sip:p1.example.com;lr>");
    /* No Contact in the 183: the target stays the Request-URI. */
    assert_view(sip_dialog_get_remote_target(d2), "sip:bob@biloxi.example.com");
    assert_true(sip_dialog_match(d1, r1));
    assert_false(sip_dialog_match(d1, r2));
    assert_true(sip_dialog_match(d2, r2));
    assert_int_equal(sip_dialog_get_local_cseq(d1), 314159);

    /* The 2xx of the second fork confirms it and brings its target. */
    sip_msg_t *ok = answer(req, 200, "fork2", "<sip:bob@192.0.2.9>");
    assert_int_equal(sip_dialog_receive_response(d2, ok), 0);
    assert_int_equal(sip_dialog_get_state(d2), SIP_DIALOG_CONFIRMED);
    assert_view(sip_dialog_get_remote_target(d2), "sip:bob@192.0.2.9");
    assert_int_equal(sip_dialog_get_state(d1), SIP_DIALOG_EARLY);

    sip_msg_t *ack = NULL;
    assert_int_equal(sip_dialog_create_ack(&ack, d2, 314159), 0);
    assert_header(ack, "CSeq", 0, "314159 ACK");
    assert_header(ack, "To", 0, "Bob <sip:bob@biloxi.example.com>;tag=fork2");
    assert_view(sip_msg_get_uri(ack)->raw, "sip:bob@192.0.2.9");
    assert_null(sip_msg_header_by_name(ack, "Contact", 0));
    /* The ACK does not take a sequence number. */
    assert_int_equal(sip_dialog_get_local_cseq(d2), 314159);
    sip_msg_unref(ack);
    sip_msg_t *bye = NULL;
    assert_int_equal(sip_dialog_create_request(&bye, d2, "BYE"), 0);
    assert_header(bye, "CSeq", 0, "314160 BYE");
    sip_msg_unref(bye);

    sip_msg_unref(ok);
    sip_dialog_unref(d1);
    sip_dialog_unref(d2);
    sip_msg_unref(r1);
    sip_msg_unref(r2);
    sip_msg_unref(req);
}

static void dialog_strict_router(void **state)
{
    (void)state;
    sip_msg_t *req = parse(
        "INVITE sip:bob@b.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
        "Record-Route: <sip:strict.example.com;maddr=10.0.0.1>, <sip:loose.example.com;lr>\r\n"
        "To: <sip:bob@b.example.com>\r\nFrom: <sip:alice@a.example.com>;tag=1\r\n"
        "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.2>\r\n"
        "Content-Length: 0\r\n\r\n");
    sip_msg_t *ok = answer(req, 200, "2", "<sip:bob@10.0.0.3>");
    sip_dialog_t *d = NULL;
    assert_int_equal(sip_dialog_create_uas(&d, req, ok), 0);
    sip_msg_t *bye = NULL;
    assert_int_equal(sip_dialog_create_request(&bye, d, "BYE"), 0);
    /* RFC 3261 §12.2.1.1: a strict first route becomes the Request-URI; the rest and the
     * remote target go in Route. */
    assert_view(sip_msg_get_uri(bye)->raw, "sip:strict.example.com;maddr=10.0.0.1");
    assert_header(bye, "Route", 0, "<sip:loose.example.com;lr>");
    assert_header(bye, "Route", 1, "<sip:alice@10.0.0.2>");
    assert_null(sip_msg_header_by_name(bye, "Route", 2));
    sip_msg_unref(bye);
    sip_dialog_unref(d);
    sip_msg_unref(ok);
    sip_msg_unref(req);
}

static void dialog_cseq_and_target_refresh(void **state)
{
    (void)state;
    sip_msg_t *req = parse(INVITE);
    sip_msg_t *ok = answer(req, 200, "t", "<sip:bob@192.0.2.4>");
    sip_dialog_t *d = NULL;
    assert_int_equal(sip_dialog_create_uas(&d, req, ok), 0);
    sip_msg_t *low = parse("INFO sip:bob@192.0.2.4 SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK9\r\n"
                           "To: <sip:bob@biloxi.example.com>;tag=t\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                           "Call-ID: a84b4c76e66710\r\nCSeq: 314159 INFO\r\n"
                           "Content-Length: 0\r\n\r\n");
    assert_true(sip_dialog_match(d, low));
    /* RFC 3261 §12.2.2: lower or equal CSeq is 500. */
    assert_int_equal(sip_dialog_receive_request(d, low), 500);
    sip_msg_t *reinv = parse("INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK8\r\n"
                             "To: <sip:bob@biloxi.example.com>;tag=t\r\n"
                             "From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                             "Call-ID: a84b4c76e66710\r\nCSeq: 314160 INVITE\r\n"
                             "Contact: <sip:alice@198.51.100.7:5070>\r\n"
                             "Content-Length: 0\r\n\r\n");
    assert_int_equal(sip_dialog_receive_request(d, reinv), 0);
    assert_int_equal(sip_dialog_get_remote_cseq(d), 314160);
    assert_view(sip_dialog_get_remote_target(d), "sip:alice@198.51.100.7:5070");
    /* The same request again is out of order now. */
    assert_int_equal(sip_dialog_receive_request(d, reinv), 500);
    sip_msg_unref(reinv);
    sip_msg_unref(low);
    sip_dialog_unref(d);
    sip_msg_unref(ok);
    sip_msg_unref(req);
}

static void dialog_bad_input(void **state)
{
    (void)state;
    sip_msg_t *req = parse(INVITE);
    sip_msg_t *r100 = NULL;
    assert_int_equal(sip_msg_create_response(&r100, req, 100, NULL, NULL), 0);
    sip_dialog_t *d = (sip_dialog_t *)1;
    assert_int_equal(sip_dialog_create_uas(&d, req, r100), SIP_EINVAL);
    assert_null(d);
    assert_int_equal(sip_dialog_create_uac(&d, req, req), SIP_EINVAL);
    assert_int_equal(sip_dialog_create_uac(&d, NULL, r100), SIP_EINVAL);
    /* A 200 without Contact makes no UAS dialog: in-dialog requests need a target. */
    sip_msg_t *ok = answer(req, 200, "x", NULL);
    assert_int_equal(sip_dialog_create_uas(&d, req, ok), SIP_EINVAL);
    assert_int_equal(sip_dialog_receive_request(NULL, req), SIP_EINVAL);
    assert_int_equal(sip_dialog_get_state(NULL), SIP_DIALOG_TERMINATED);
    assert_string_equal(sip_dialog_state_name(SIP_DIALOG_EARLY), "Early");
    sip_msg_unref(ok);
    sip_msg_unref(r100);
    sip_msg_unref(req);
}

static void dialog_alloc_failures(void **state)
{
    (void)state;
    sip_msg_t *req = parse(INVITE);
    sip_msg_t *ok = answer(req, 200, "t", "<sip:bob@192.0.2.4>");
    for (int n = 1;; n++) {
        sip_dialog_t *d = NULL;
        test_alloc_fail_at(n);
        int rc = sip_dialog_create_uas(&d, req, ok);
        sip_msg_t *bye = NULL;
        if (!rc) rc = sip_dialog_create_request(&bye, d, "BYE");
        test_alloc_fail_at(0);
        sip_msg_unref(bye);
        sip_dialog_unref(d);
        if (rc == 0) break;
        assert_int_equal(rc, SIP_ENOMEM);
        assert_true(n < 200);
    }
    sip_msg_unref(ok);
    sip_msg_unref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dialog_uas_confirmed_and_bye),
        cmocka_unit_test(dialog_uac_fork_two_early_dialogs),
        cmocka_unit_test(dialog_strict_router),
        cmocka_unit_test(dialog_cseq_and_target_refresh),
        cmocka_unit_test(dialog_bad_input),
        cmocka_unit_test(dialog_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
