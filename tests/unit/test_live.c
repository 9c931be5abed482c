/* SPDX-License-Identifier: MIT */
/* Live-object counters (sip/live.h): each kind counts up on creation and down on the last free. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "pump.h"
#include "sip/sip.h"

static const char invite[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKlive\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:alice@example.com>;tag=f1\r\n"
                             "To: <sip:bob@example.com>\r\n"
                             "Call-ID: live@x\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Content-Length: 0\r\n\r\n";

static const char sdp_text[] = "v=0\r\n"
                               "o=- 1 1 IN IP4 127.0.0.1\r\n"
                               "s=-\r\n"
                               "c=IN IP4 127.0.0.1\r\n"
                               "t=0 0\r\n"
                               "m=audio 4000 RTP/AVP 0\r\n";

static void assert_all_zero(void)
{
    for (int k = 0; k < SIP_LIVE__COUNT; k++) {
        if (sip_live_count((sip_live_kind_t)k) != 0)
            fail_msg("%ld live %s", sip_live_count((sip_live_kind_t)k),
                     sip_live_name((sip_live_kind_t)k));
    }
}

static void live_names_and_bounds(void **state)
{
    (void)state;
    static const char *const want[] = {
        "msg",      "txn",         "txn_layer",  "transport", "conn",      "resolver",
        "loop",     "sdp",         "dialog",     "ua",        "call",      "oa",
        "bridge",   "auth_server", "auth_query", "reg",       "sub",       "location",
        "bindings", "registrar",   "userdb",     "proxy",     "proxy_req", "guard",
        "metrics",  "config",      "server",     "hub",       "worker"};
    assert_int_equal(SIP_LIVE__COUNT, sizeof(want) / sizeof(want[0]));
    for (int k = 0; k < SIP_LIVE__COUNT; k++)
        assert_string_equal(sip_live_name((sip_live_kind_t)k), want[k]);
    assert_null(sip_live_name(SIP_LIVE__COUNT));
    assert_null(sip_live_name((sip_live_kind_t)-1));
    assert_int_equal(sip_live_count(SIP_LIVE__COUNT), -1);
    assert_int_equal(sip_live_count((sip_live_kind_t)-1), -1);
    assert_all_zero();
}

static void live_messages_and_sdp(void **state)
{
    (void)state;
    sip_msg_t *m, *r;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, invite, strlen(invite), &err), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 1);
    sip_msg_ref(m);
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 1); /* a reference is not an object */
    assert_int_equal(sip_msg_create_response(&r, m, 200, NULL, NULL), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 2);
    sip_msg_unref(m);
    sip_msg_unref(m);
    sip_msg_unref(r);
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 0);
    /* A failed parse leaves nothing behind. */
    assert_true(sip_msg_parse(&m, "INVITE\r\n\r\n", 10, &err) < 0);
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 0);

    sip_sdp_t *s;
    sip_sdp_error_t serr;
    assert_int_equal(sip_sdp_parse(&s, sdp_text, strlen(sdp_text), &serr), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_SDP), 1);
    sip_sdp_unref(s);
    assert_int_equal(sip_live_count(SIP_LIVE_SDP), 0);
    assert_all_zero();
}

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)req;
    sip_txn_t **keep = user;
    if (txn) *keep = sip_txn_ref(txn);
}

static void live_stack_objects(void **state)
{
    (void)state;
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_resolver_t *res;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_LOOP), 1);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_TRANSPORT), 1);
    assert_int_equal(sip_txn_layer_create(&layer, tp, NULL), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_TXN_LAYER), 1);
    assert_int_equal(sip_resolver_create(&res, loop, NULL), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_RESOLVER), 1);
    sip_txn_t *held = NULL;
    assert_int_equal(sip_txn_layer_set_request_handler(layer, on_request, &held, NULL), 0);
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, invite, strlen(invite), &err), 0);
    sip_netinfo_t ni = {.transport = SIP_TRANSPORT_UDP,
                        .local_ip = "127.0.0.1",
                        .local_port = 5060,
                        .remote_ip = "127.0.0.1",
                        .remote_port = 9};
    sip_msg_set_netinfo(m, &ni);
    assert_int_equal(sip_txn_layer_receive(layer, m), 0);
    assert_non_null(held);
    assert_int_equal(sip_live_count(SIP_LIVE_TXN), 1);
    /* Closing the loop ends everything, but the handles still held keep their memory. */
    sip_loop_close(loop);
    assert_int_equal(sip_live_count(SIP_LIVE_TXN), 1);
    assert_int_equal(sip_live_count(SIP_LIVE_LOOP), 1);
    sip_txn_unref(held);
    assert_int_equal(sip_live_count(SIP_LIVE_TXN), 0);
    sip_msg_unref(m);
    sip_resolver_unref(res);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
    assert_all_zero();
}

static int got;

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    (void)msg;
    (void)user;
    got++;
}

static void live_connections(void **state)
{
    (void)state;
    sip_loop_t *loop;
    sip_transport_t *a, *b;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&a, loop, NULL), 0);
    assert_int_equal(sip_transport_create(&b, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(b, "tcp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_set_handler(b, on_msg, NULL, NULL), 0);
    sip_netinfo_t dst = {0};
    assert_int_equal(sip_transport_listener_info(b, 0, &dst), 0);
    dst.transport = SIP_TRANSPORT_TCP;
    snprintf(dst.remote_ip, sizeof(dst.remote_ip), "127.0.0.1");
    dst.remote_port = dst.local_port;
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, invite, strlen(invite), &err), 0);
    got = 0;
    assert_int_equal(sip_transport_send(a, m, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &got, 1, 3000));
    /* One connection on each side. */
    assert_int_equal(sip_live_count(SIP_LIVE_CONN), 2);
    sip_msg_unref(m);
    sip_transport_unref(a);
    sip_transport_unref(b);
    sip_loop_unref(loop);
    assert_all_zero();
}

enum { THREADS = 4, ROUNDS = 2000 };

static void *make_and_drop(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        sip_msg_t *m;
        sip_parse_error_t err;
        if (sip_msg_parse(&m, invite, strlen(invite), &err) != 0) return (void *)1;
        sip_msg_unref(m);
    }
    return NULL;
}

/* Threads running their own work create and free objects at the same time: the counts stay
 * exact (relaxed atomics), which a plain counter would not. */
static void live_counts_across_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, make_and_drop, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        assert_int_equal(pthread_join(th[i], &rc), 0);
        assert_null(rc);
    }
    assert_int_equal(sip_live_count(SIP_LIVE_MSG), 0);
}

/* The harness (support/harness.c) sees what a test leaves behind. */
static void live_harness_sees_leaks(void **state)
{
    (void)state;
    test_counts_t base;
    char what[256];
    test_counts_now(&base);
    assert_int_equal(test_counts_differ(&base, what, sizeof(what)), 0);
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", "sip:bob@example.com"), 0);
    assert_int_equal(test_counts_differ(&base, what, sizeof(what)), 1);
    assert_string_equal(what, " +1 allocations +1 msg");
    assert_int_equal(test_counts_differ(NULL, what, sizeof(what)), 1);
    sip_msg_unref(m);
    assert_int_equal(test_counts_differ(&base, what, sizeof(what)), 0);
    assert_int_equal(test_counts_differ(NULL, what, sizeof(what)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(live_names_and_bounds),      cmocka_unit_test(live_messages_and_sdp),
        cmocka_unit_test(live_stack_objects),         cmocka_unit_test(live_connections),
        cmocka_unit_test(live_counts_across_threads), cmocka_unit_test(live_harness_sees_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
