/* SPDX-License-Identifier: MIT */
/* Transactions over real UDP and TCP on loopback, with the loop's own timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "sip/sip.h"

static sip_loop_t *loop;
static sip_transport_t *tpa, *tpb;
static sip_txn_layer_t *la, *lb;
static sip_netinfo_t b_addr[2]; /* UDP, TCP listening points of b */

static int statuses[8], nstatus, done;

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)user;
    (void)rsp;
    if (nstatus < 8) statuses[nstatus++] = status;
    /* Cancel as soon as the INVITE rings. */
    if (status == 180) assert_int_equal(sip_txn_cancel(txn), 0);
    if (status >= 200) done = 1;
}

/* b: answers OPTIONS 200 at once, INVITE 180 and then waits (for the CANCEL). */
static sip_txn_t *ringing;

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)user;
    if (!txn) return;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        assert_int_equal(sip_txn_respond(txn, 180, NULL), 0);
        ringing = sip_txn_ref(txn);
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

static int setup(void **state)
{
    (void)state;
    nstatus = done = 0;
    ringing = NULL;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tpa, loop, NULL), 0);
    assert_int_equal(sip_transport_create(&tpb, loop, NULL), 0);
    assert_true(sip_transport_listen(tpa, "udp:127.0.0.1:0") >= 0);
    assert_true(sip_transport_listen(tpa, "tcp:127.0.0.1:0") >= 0);
    assert_int_equal(sip_transport_listen(tpb, "udp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_listen(tpb, "tcp:127.0.0.1:0"), 1);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(sip_transport_listener_info(tpb, i, &b_addr[i]), 0);
        strcpy(b_addr[i].remote_ip, b_addr[i].local_ip);
        b_addr[i].remote_port = b_addr[i].local_port;
    }
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t1_ms = 50;
    assert_int_equal(sip_txn_layer_create(&la, tpa, &o), 0);
    assert_int_equal(sip_txn_layer_create(&lb, tpb, &o), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(lb, on_request, NULL, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_txn_unref(ringing);
    sip_txn_layer_unref(la);
    sip_txn_layer_unref(lb);
    sip_transport_unref(tpa);
    sip_transport_unref(tpb);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    assert_int_equal(test_alloc_live(), 0);
    return 0;
}

static sip_msg_t *request(const char *method, const sip_netinfo_t *dst)
{
    char uri[128], text[1024];
    snprintf(uri, sizeof(uri), "sip:b@%s:%u", dst->remote_ip, dst->remote_port);
    snprintf(text, sizeof(text),
             "%s %s SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=a\r\n"
             "To: <%s>\r\nCall-ID: %s-%u@127.0.0.1\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n",
             method, uri, uri, method, dst->remote_port, method);
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), &err), 0);
    return m;
}

/* Runs the loop until done, within a bound. */
static void run_until_done(void)
{
    uint64_t start = sip_loop_now(loop);
    while (!done && sip_loop_now(loop) - start < 5000) sip_loop_run_once(loop, 1);
}

static void run_transport(int i)
{
    sip_msg_t *req = request("OPTIONS", &b_addr[i]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    run_until_done();
    assert_int_equal(nstatus, 1);
    assert_int_equal(statuses[0], 200);
    sip_txn_unref(t);
    sip_msg_unref(req);

    nstatus = done = 0;
    req = request("INVITE", &b_addr[i]);
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    run_until_done();
    /* 180, the CANCEL after it, then 487 from the server transaction. */
    assert_int_equal(nstatus, 2);
    assert_int_equal(statuses[0], 180);
    assert_int_equal(statuses[1], 487);
    assert_non_null(ringing);
    assert_int_equal(sip_txn_get_state(ringing), SIP_TXN_COMPLETED);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_options_and_cancel(void **state)
{
    (void)state;
    run_transport(0);
}

static void txn_net_tcp_options_and_cancel(void **state)
{
    (void)state;
    run_transport(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(txn_net_udp_options_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_net_tcp_options_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
