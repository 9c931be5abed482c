/* SPDX-License-Identifier: MIT */
/* Transactions over real UDP and TCP on loopback, with the loop's own timers: CANCEL and its
 * races (RFC 3261 §9, §16.10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pump.h"
#include "sip/sip.h"

enum { UDP = 0, TCP = 1 };

static sip_loop_t *loop;
static sip_transport_t *tpa, *tpb;
static sip_txn_layer_t *la, *lb; /* a: the client side, b: the server side */
static sip_netinfo_t b_addr[2];  /* UDP, TCP listening points of b */

/* ---- what each transport received, before its layer saw it -------------------------------- */

typedef struct rx {
    int is_req;
    sip_method_t method; /* request: its method; response: its CSeq method */
    int status;
    char to_tag[48];
} rx_t;

typedef struct tap {
    sip_txn_layer_t **layer;
    rx_t log[64];
    int n;
    int last_rc; /* what the layer said to the last message */
    void (*before)(const sip_msg_t *msg); /* runs before the layer gets the message */
    int drop_acks; /* ACKs are logged but the layer never sees them (a lost ACK) */
} tap_t;

static tap_t tap_a, tap_b;

static void on_tap(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    tap_t *t = user;
    if (t->n < 64) {
        rx_t *r = &t->log[t->n++];
        r->is_req = sip_msg_is_request(msg);
        r->method = r->is_req ? sip_msg_get_method(msg) : sip_msg_get_cseq(msg)->method;
        r->status = r->is_req ? 0 : sip_msg_get_status(msg);
        sip_str_t tag = sip_msg_get_to(msg)->tag;
        snprintf(r->to_tag, sizeof(r->to_tag), "%.*s", (int)tag.len, tag.ptr);
    }
    if (t->before) t->before(msg);
    if (t->drop_acks && sip_msg_is_request(msg) && sip_msg_get_method(msg) == SIP_METHOD_ACK)
        return;
    t->last_rc = sip_txn_layer_receive(*t->layer, msg);
}

static int tap_requests(const tap_t *t, sip_method_t m)
{
    int n = 0;
    for (int i = 0; i < t->n; i++) n += t->log[i].is_req && t->log[i].method == m;
    return n;
}

static int tap_responses(const tap_t *t, int status, sip_method_t m)
{
    int n = 0;
    for (int i = 0; i < t->n; i++)
        n += !t->log[i].is_req && t->log[i].status == status && t->log[i].method == m;
    return n;
}

/* The To tag of the first such response. */
static const char *tap_tag(const tap_t *t, int status, sip_method_t m)
{
    for (int i = 0; i < t->n; i++)
        if (!t->log[i].is_req && t->log[i].status == status && t->log[i].method == m)
            return t->log[i].to_tag;
    return "(none)";
}

/* ---- a: the client TU ---------------------------------------------------------------------- */

static int statuses[8], nstatus, done;
static int cancel_on;     /* call sip_txn_cancel() on this status */
static int nstray_a, stray_status;

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)user;
    if (nstatus < 8) statuses[nstatus++] = status;
    if (status >= 200 && status != 408) assert_non_null(rsp);
    if (status == cancel_on) assert_int_equal(sip_txn_cancel(txn), 0);
    if (status >= 200) done = 1;
}

static void on_stray(sip_txn_layer_t *l, sip_msg_t *rsp, void *user)
{
    (void)l;
    (void)user;
    nstray_a++;
    stray_status = sip_msg_get_status(rsp);
}

/* ---- b: the server TU ---------------------------------------------------------------------- */

static sip_txn_t *ringing;   /* the INVITE, referenced */
static int srv_provisional;  /* answer an INVITE with this at once (0: nothing) */
static int srv_event_status; /* answer the INVITE with this on a CANCEL event (0: nothing) */
static int nreq_b, nack_b, nevents_b, last_event_b;
static sip_txn_state_t event_state_b;

static void on_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)user;
    nevents_b++;
    last_event_b = (int)ev;
    event_state_b = sip_txn_get_state(txn);
    if (ev == SIP_TXN_EVENT_CANCEL) {
        assert_int_equal(sip_msg_get_method(msg), SIP_METHOD_CANCEL);
        if (srv_event_status) assert_int_equal(sip_txn_respond(txn, srv_event_status, NULL), 0);
    }
}

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)user;
    if (!txn) {
        nack_b++;
        return;
    }
    nreq_b++;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        assert_null(ringing);
        ringing = sip_txn_ref(txn);
        assert_int_equal(sip_txn_set_event_handler(txn, on_event, NULL, NULL), 0);
        if (srv_provisional) assert_int_equal(sip_txn_respond(txn, srv_provisional, NULL), 0);
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

/* ---- fixture -------------------------------------------------------------------------------- */

static int setup_with(int cancel_keeps_invite)
{
    nstatus = done = nstray_a = stray_status = 0;
    cancel_on = 180;
    nreq_b = nack_b = nevents_b = last_event_b = srv_provisional = srv_event_status = 0;
    event_state_b = SIP_TXN_TERMINATED;
    ringing = NULL;
    memset(&tap_a, 0, sizeof(tap_a));
    memset(&tap_b, 0, sizeof(tap_b));
    tap_a.layer = &la;
    tap_b.layer = &lb;
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
    /* T1 500: nothing is retransmitted within the few milliseconds an exchange takes on
     * loopback, so the counts below are exact. a: T4 100, so the CANCEL's client transaction
     * leaves soon after its 200 (Timer K). b: no 100 Trying unless a test asks. */
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t4_ms = 100;
    assert_int_equal(sip_txn_layer_create(&la, tpa, &o), 0);
    sip_txn_opts_init(&o);
    o.timer_100_ms = 60000;
    o.cancel_keeps_invite = cancel_keeps_invite;
    assert_int_equal(sip_txn_layer_create(&lb, tpb, &o), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(lb, on_request, NULL, NULL), 0);
    assert_int_equal(sip_txn_layer_set_stray_handler(la, on_stray, NULL, NULL), 0);
    /* The taps stand between each transport and its layer. */
    assert_int_equal(sip_transport_set_handler(tpa, on_tap, &tap_a, NULL), 0);
    assert_int_equal(sip_transport_set_handler(tpb, on_tap, &tap_b, NULL), 0);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(0);
}

/* b is a stateful proxy's layer: a CANCEL leaves the INVITE to the TU. */
static int setup_proxy(void **state)
{
    (void)state;
    return setup_with(1);
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
    return 0; /* the harness checks that nothing is left */
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
    assert_true(test_pump_until(loop, &done, 1, 5000));
}

/* ---- OPTIONS, and CANCEL after the 180 ------------------------------------------------------ */

static void run_transport(int i)
{
    srv_provisional = 180;
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
    assert_int_equal(nevents_b, 1);
    assert_int_equal(last_event_b, SIP_TXN_EVENT_CANCEL);
    assert_int_equal(event_state_b, SIP_TXN_COMPLETED);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_options_and_cancel(void **state)
{
    (void)state;
    run_transport(UDP);
}

static void txn_net_tcp_options_and_cancel(void **state)
{
    (void)state;
    run_transport(TCP);
}

/* ---- (a) CANCEL before any provisional ------------------------------------------------------ */

static int cancels_at_180 = -1; /* CANCELs b had received when a got the 180 */

static void before_a(const sip_msg_t *msg)
{
    if (!sip_msg_is_request(msg) && sip_msg_get_status(msg) == 180)
        cancels_at_180 = tap_requests(&tap_b, SIP_METHOD_CANCEL);
}

static void cancel_before_provisional(int i)
{
    cancels_at_180 = -1;
    tap_a.before = before_a;
    sip_msg_t *req = request("INVITE", &b_addr[i]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    cancel_on = 0;
    /* §9.1: asked for at once, the CANCEL waits for a provisional response. */
    assert_int_equal(sip_txn_cancel(t), 0);
    assert_int_equal(sip_txn_cancel(t), 0); /* asking again changes nothing */
    assert_true(test_pump_until(loop, &nreq_b, 1, 2000));
    test_pump(loop, 200); /* less than T1: no retransmission either */
    assert_int_equal(tap_b.n, 1);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_INVITE), 1);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_CANCEL), 0);
    assert_int_equal(tap_a.n, 0); /* no 100 Trying went out */
    assert_int_equal(nstatus, 0);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_CALLING);
    assert_int_equal(sip_txn_get_state(ringing), SIP_TXN_PROCEEDING);

    /* The 180 releases the CANCEL; b answers it 200 and the INVITE 487. */
    assert_int_equal(sip_txn_respond(ringing, 180, NULL), 0);
    run_until_done();
    assert_int_equal(cancels_at_180, 0);
    assert_int_equal(nstatus, 2);
    assert_int_equal(statuses[0], 180);
    assert_int_equal(statuses[1], 487);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_CANCEL), 1);
    assert_int_equal(nevents_b, 1);
    assert_int_equal(last_event_b, SIP_TXN_EVENT_CANCEL);
    assert_int_equal(event_state_b, SIP_TXN_COMPLETED);

    /* a ACKs the 487 to the same place; the ACK stays in b's INVITE transaction. */
    for (int k = 0; k < 2000 && !tap_requests(&tap_b, SIP_METHOD_ACK); k++) test_pump(loop, 1);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_ACK), 1);
    assert_int_equal(nack_b, 0);
    assert_int_equal(nreq_b, 1); /* neither the CANCEL nor the ACK reached the TU */
    /* Confirmed waits Timer I (T4) on UDP; over TCP it ends at once (§17.2.1). */
    assert_int_equal(sip_txn_get_state(ringing), i == UDP ? SIP_TXN_CONFIRMED : SIP_TXN_TERMINATED);

    /* The CANCEL's own client transaction got its 200: the response matched it (not stray). */
    for (int k = 0; k < 2000 && !tap_responses(&tap_a, 200, SIP_METHOD_CANCEL); k++)
        test_pump(loop, 1);
    assert_int_equal(tap_responses(&tap_a, 200, SIP_METHOD_CANCEL), 1);
    assert_int_equal(tap_responses(&tap_a, 180, SIP_METHOD_INVITE), 1);
    assert_int_equal(tap_responses(&tap_a, 487, SIP_METHOD_INVITE), 1);
    assert_int_equal(tap_a.n, 3);
    assert_int_equal(nstray_a, 0);
    /* One To tag for the 180, the 487 and the CANCEL's 200 (§9.2). */
    assert_true(strlen(tap_tag(&tap_a, 180, SIP_METHOD_INVITE)) > 0);
    assert_string_equal(tap_tag(&tap_a, 180, SIP_METHOD_INVITE),
                        tap_tag(&tap_a, 487, SIP_METHOD_INVITE));
    assert_string_equal(tap_tag(&tap_a, 180, SIP_METHOD_INVITE),
                        tap_tag(&tap_a, 200, SIP_METHOD_CANCEL));
    if (i == UDP) {
        /* INVITE: Completed for Timer D (32 s); CANCEL: Completed for Timer K (T4 100 ms). */
        assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
        test_pump(loop, 300);
        assert_int_equal(sip_txn_layer_count(la), 1);
    } else {
        /* Reliable: both ended with their final responses. */
        assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
        assert_int_equal(sip_txn_layer_count(la), 0);
    }
    assert_int_equal(tap_b.n, 3); /* INVITE, CANCEL, ACK: nothing retransmitted */
    assert_int_equal(tap_a.last_rc, 0);
    assert_int_equal(tap_b.last_rc, 0);
    assert_int_equal(sip_txn_cancel(t), SIP_ECLOSED);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_cancel_before_provisional(void **state)
{
    (void)state;
    cancel_before_provisional(UDP);
}

static void txn_net_tcp_cancel_before_provisional(void **state)
{
    (void)state;
    cancel_before_provisional(TCP);
}

/* No provisional ever comes: the queued CANCEL is never sent and Timer B ends the INVITE. */
static void cancel_never_sent_timer_b(int i)
{
    sip_msg_t *req = request("INVITE", &b_addr[i]);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t1_ms = 10; /* Timer B = 640 ms */
    sip_txn_t *t;
    uint64_t start = sip_loop_now(loop);
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], &o, on_response, NULL, NULL),
                     0);
    cancel_on = 0;
    assert_int_equal(sip_txn_cancel(t), 0);
    run_until_done();
    uint64_t took = sip_loop_now(loop) - start;
    assert_int_equal(nstatus, 1);
    assert_int_equal(statuses[0], 408);
    assert_true(took >= 640);
    assert_true(took < 640 + 1000);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_layer_count(la), 0);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_CANCEL), 0);
    int invites = tap_requests(&tap_b, SIP_METHOD_INVITE);
    if (i == UDP) {
        /* Timer A at 10, 30, 70, 150, 310, 630 ms; a late loop may merge the last with B. */
        assert_true(invites >= 5 && invites <= 7);
    } else {
        assert_int_equal(invites, 1);
    }
    assert_int_equal(nreq_b, 1); /* b absorbed the retransmissions */
    assert_int_equal(tap_a.n, 0);
    /* b's TU gives up too; a hears of it as a stray response (its transaction is gone). */
    assert_int_equal(sip_txn_respond(ringing, 480, NULL), 0);
    assert_true(test_pump_until(loop, &nstray_a, 1, 2000));
    assert_int_equal(stray_status, 480);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_cancel_without_provisional_times_out(void **state)
{
    (void)state;
    cancel_never_sent_timer_b(UDP);
}

static void txn_net_tcp_cancel_without_provisional_times_out(void **state)
{
    (void)state;
    cancel_never_sent_timer_b(TCP);
}

/* ---- (b) CANCEL crossing a 200 --------------------------------------------------------------- */

/* b's TU answers 200 in the loop turn the CANCEL arrives, before the layer processes it. */
static void before_b_answer_200(const sip_msg_t *msg)
{
    if (sip_msg_is_request(msg) && sip_msg_get_method(msg) == SIP_METHOD_CANCEL)
        assert_int_equal(sip_txn_respond(ringing, 200, NULL), 0);
}

static void cancel_crossing_200(int i)
{
    srv_provisional = 180;
    tap_b.before = before_b_answer_200;
    sip_msg_t *req = request("INVITE", &b_addr[i]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    run_until_done();
    /* The 200 stands: no 487 anywhere, the TU at b not told of the CANCEL. */
    assert_int_equal(nstatus, 2);
    assert_int_equal(statuses[0], 180);
    assert_int_equal(statuses[1], 200);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_ACCEPTED);
    assert_int_equal(sip_txn_cancel(t), SIP_ECLOSED);
    for (int k = 0; k < 2000 && !tap_responses(&tap_a, 200, SIP_METHOD_CANCEL); k++)
        test_pump(loop, 1);
    assert_int_equal(tap_responses(&tap_a, 200, SIP_METHOD_CANCEL), 1);
    assert_int_equal(tap_responses(&tap_a, 200, SIP_METHOD_INVITE), 1);
    assert_int_equal(tap_responses(&tap_a, 487, SIP_METHOD_INVITE), 0);
    assert_int_equal(tap_a.n, 3);
    assert_int_equal(nstray_a, 0);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_CANCEL), 1);
    assert_int_equal(nevents_b, 0);
    assert_int_equal(nreq_b, 1);
    assert_int_equal(sip_txn_get_state(ringing), SIP_TXN_ACCEPTED);
    /* The CANCEL's 200 carries the To tag of the INVITE's responses (§9.2). */
    assert_string_equal(tap_tag(&tap_a, 200, SIP_METHOD_CANCEL),
                        tap_tag(&tap_a, 200, SIP_METHOD_INVITE));
    test_pump(loop, 20);
    assert_int_equal(tap_b.n, 2);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_cancel_crossing_200(void **state)
{
    (void)state;
    cancel_crossing_200(UDP);
}

static void txn_net_tcp_cancel_crossing_200(void **state)
{
    (void)state;
    cancel_crossing_200(TCP);
}

/* ---- (c) CANCEL for no transaction ----------------------------------------------------------- */

static void cancel_unknown(int i)
{
    /* Sent statelessly: the 481 comes back as a stray response. */
    sip_msg_t *c = request("CANCEL", &b_addr[i]);
    assert_int_equal(sip_txn_send_stateless(la, c, &b_addr[i]), 0);
    assert_true(test_pump_until(loop, &nstray_a, 1, 2000));
    assert_int_equal(stray_status, 481);
    assert_int_equal(tap_responses(&tap_a, 481, SIP_METHOD_CANCEL), 1);

    /* In a client transaction of its own: the 481 is its final response. */
    sip_msg_t *c2 = request("CANCEL", &b_addr[i]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, c2, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    run_until_done();
    assert_int_equal(nstatus, 1);
    assert_int_equal(statuses[0], 481);
    assert_int_equal(sip_txn_get_state(t), i == UDP ? SIP_TXN_COMPLETED : SIP_TXN_TERMINATED);
    assert_int_equal(nstray_a, 1);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_CANCEL), 2);
    assert_int_equal(tap_b.n, 2);
    assert_int_equal(nreq_b, 0); /* CANCEL never reaches the TU */
    assert_null(ringing);
    sip_txn_unref(t);
    sip_msg_unref(c2);
    sip_msg_unref(c);
}

static void txn_net_udp_cancel_unknown_481(void **state)
{
    (void)state;
    cancel_unknown(UDP);
}

static void txn_net_tcp_cancel_unknown_481(void **state)
{
    (void)state;
    cancel_unknown(TCP);
}

/* ---- a stateful proxy at b: the TU answers the cancelled INVITE ------------------------------ */

static void proxy_cancel(int i)
{
    srv_provisional = 180;
    srv_event_status = 487; /* as relayed from its own branches */
    sip_msg_t *req = request("INVITE", &b_addr[i]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[i], NULL, on_response, NULL, NULL),
                     0);
    run_until_done();
    assert_int_equal(nstatus, 2);
    assert_int_equal(statuses[0], 180);
    assert_int_equal(statuses[1], 487);
    assert_int_equal(nevents_b, 1);
    assert_int_equal(event_state_b, SIP_TXN_PROCEEDING); /* still unanswered at the event */
    for (int k = 0; k < 2000 && !tap_requests(&tap_b, SIP_METHOD_ACK); k++) test_pump(loop, 1);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_ACK), 1);
    assert_int_equal(sip_txn_get_state(ringing), i == UDP ? SIP_TXN_CONFIRMED : SIP_TXN_TERMINATED);
    assert_int_equal(tap_responses(&tap_a, 200, SIP_METHOD_CANCEL), 1);
    assert_int_equal(tap_responses(&tap_a, 487, SIP_METHOD_INVITE), 1);
    assert_int_equal(nstray_a, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_net_udp_proxy_cancel(void **state)
{
    (void)state;
    proxy_cancel(UDP);
}

static void txn_net_tcp_proxy_cancel(void **state)
{
    (void)state;
    proxy_cancel(TCP);
}

/* ---- a handler in front of the layer survives the layer -------------------------------------- */

static void txn_net_layer_close_keeps_foreign_handler(void **state)
{
    (void)state;
    /* Closing a's layer must not take the tap off a's transport (it is not the layer's). */
    sip_txn_layer_close(la);
    sip_netinfo_t a_addr;
    assert_int_equal(sip_transport_listener_info(tpa, 0, &a_addr), 0);
    strcpy(a_addr.remote_ip, a_addr.local_ip);
    a_addr.remote_port = a_addr.local_port;
    sip_msg_t *req = request("OPTIONS", &a_addr);
    assert_int_equal(sip_txn_send_stateless(lb, req, &a_addr), 0);
    assert_true(test_pump_until(loop, &tap_a.n, 1, 2000));
    assert_int_equal(tap_requests(&tap_a, SIP_METHOD_OPTIONS), 1);
    assert_int_equal(tap_a.last_rc, SIP_ECLOSED);
    sip_msg_unref(req);
}

/* ---- idle transactions resend their wire form through the transport --------------------- */

/* Pumps until the count reaches want, within a bound. */
static void pump_until_count(int (*count)(void), int want)
{
    for (int k = 0; k < 2000 && count() < want; k++) test_pump(loop, 1);
    assert_int_equal(count(), want);
}

static int acks_at_b(void)
{
    return tap_requests(&tap_b, SIP_METHOD_ACK);
}

static int busy_at_a(void)
{
    return tap_responses(&tap_a, 486, SIP_METHOD_INVITE);
}

static void txn_net_udp_idle_retransmissions(void **state)
{
    (void)state;
    /* b answers 486; its ACKs are lost, so b's INVITE transaction stays Completed. */
    srv_provisional = 486;
    cancel_on = 0;
    tap_b.drop_acks = 1;
    sip_msg_t *req = request("INVITE", &b_addr[UDP]);
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, &b_addr[UDP], NULL, on_response, NULL,
                                           NULL),
                     0);
    run_until_done();
    pump_until_count(acks_at_b, 1);
    assert_int_equal(nstatus, 1);
    assert_int_equal(statuses[0], 486);
    /* Both sides idle: no parsed messages left. */
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    assert_null(sip_txn_get_request(t));
    assert_int_equal(sip_txn_get_state(ringing), SIP_TXN_COMPLETED);
    assert_null(sip_txn_get_request(ringing));
    assert_null(sip_txn_get_response(ringing));
    /* The INVITE again (as a retransmission: same branch and Via): b resends its 486 from the
     * wire form, a's transaction answers that copy with its kept ACK (§17.1.1.2, §17.2.1). */
    assert_int_equal(sip_txn_send_stateless(la, req, &b_addr[UDP]), 0);
    pump_until_count(acks_at_b, 2);
    assert_int_equal(busy_at_a(), 2);
    assert_int_equal(tap_a.log[0].status, 486);
    assert_int_equal(tap_a.log[1].status, 486);
    assert_string_equal(tap_a.log[1].to_tag, tap_a.log[0].to_tag);
    assert_int_equal(tap_requests(&tap_b, SIP_METHOD_INVITE), 2);
    assert_int_equal(nreq_b, 1);
    assert_int_equal(nstatus, 1); /* the TU of a is not told twice */
    /* Now the ACK gets through: Confirmed. */
    tap_b.drop_acks = 0;
    assert_int_equal(sip_txn_send_stateless(la, req, &b_addr[UDP]), 0);
    pump_until_count(acks_at_b, 3);
    assert_int_equal(busy_at_a(), 3);
    assert_int_equal(sip_txn_get_state(ringing), SIP_TXN_CONFIRMED);
    assert_int_equal(nack_b, 0);
    assert_int_equal(nevents_b, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(txn_net_udp_options_and_cancel),
        T(txn_net_tcp_options_and_cancel),
        T(txn_net_udp_cancel_before_provisional),
        T(txn_net_tcp_cancel_before_provisional),
        T(txn_net_udp_cancel_without_provisional_times_out),
        T(txn_net_tcp_cancel_without_provisional_times_out),
        T(txn_net_udp_cancel_crossing_200),
        T(txn_net_tcp_cancel_crossing_200),
        T(txn_net_udp_cancel_unknown_481),
        T(txn_net_tcp_cancel_unknown_481),
        T(txn_net_layer_close_keeps_foreign_handler),
        T(txn_net_udp_idle_retransmissions),
        cmocka_unit_test_setup_teardown(txn_net_udp_proxy_cancel, setup_proxy, teardown),
        cmocka_unit_test_setup_teardown(txn_net_tcp_proxy_cancel, setup_proxy, teardown),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
