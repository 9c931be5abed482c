/* SPDX-License-Identifier: MIT */
/* Calls between two user agents wired back to back in memory, under a hand-driven clock:
 * the INVITE session state machines of both sides, message by message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"
#include "ua_pair.h"

enum { A = PAIR_A, B = PAIR_B };

/* ---- what the application sees --------------------------------------------------------- */

typedef struct app {
    int states[16];
    int nstates;
    int responses[16];
    int nresponses;
    int requests;
    int reinvites;
    int freed;
    sip_call_t *call; /* B: the incoming call, referenced */
    int ring, answer; /* B: what to do with an incoming call at once (0: nothing) */
    int invites;
    int offers, modified, last_modified, media;
    const char *offer_answer; /* answer OFFER events with this */
} app_t;

static app_t app[2];

static char last_body[256];
static void on_call_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    (void)call;
    (void)txn;
    app_t *a = user;
    if (ev == SIP_CALL_EVENT_STATE && a->nstates < 16)
        a->states[a->nstates++] = (int)sip_call_get_state(call);
    if (ev == SIP_CALL_EVENT_RESPONSE && a->nresponses < 16)
        a->responses[a->nresponses++] = sip_msg_get_status(msg);
    if (ev == SIP_CALL_EVENT_REQUEST) {
        a->requests++;
        sip_str_t b = sip_msg_get_body(msg);
        snprintf(last_body, sizeof(last_body), "%.*s", (int)b.len, b.ptr);
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
    }
    if (ev == SIP_CALL_EVENT_REINVITE) a->reinvites++;
    if (ev == SIP_CALL_EVENT_MEDIA) a->media++;
    if (ev == SIP_CALL_EVENT_MODIFIED) {
        a->modified++;
        a->last_modified = msg ? sip_msg_get_status(msg) : 0;
    }
    if (ev == SIP_CALL_EVENT_OFFER) {
        a->offers++;
        if (a->offer_answer) assert_int_equal(sip_call_answer_offer(call, a->offer_answer), 0);
    }
}

static void on_free(void *user)
{
    ((app_t *)user)->freed++;
}

static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        return;
    }
    a->invites++;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_accept(&c, ua, txn, NULL, on_call_event, a, on_free), 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_INCOMING);
    if (a->ring) assert_int_equal(sip_call_ring(c, a->ring, NULL), 0);
    if (a->answer) assert_int_equal(sip_call_answer(c, a->answer, "v=0\r\n"), 0);
    sip_call_unref(a->call);
    a->call = c;
}

#define SDP_A "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    sip_ua_request_cb cbs[2] = {NULL, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(NULL, cbs, users);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_call_unref(app[B].call);
    app[B].call = NULL;
    pair_teardown();
    return 0;
}

static int last_status;
static void on_rsp(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user);

static sip_call_t *call_b(void)
{
    sip_call_t *c = NULL;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = SDP_A;
    o.from = "Alice <sip:alice@127.0.0.1>";
    assert_int_equal(sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &o, on_call_event,
                                     &app[A], on_free),
                     0);
    return c;
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void call_basic_ring_answer_bye(void **state)
{
    (void)state;
    app[B].ring = 180;
    sip_call_t *c = call_b();
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CALLING);
    pair_advance(0);
    assert_int_equal(app[B].invites, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_EARLY);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 1);
    /* The offer arrived. */
    assert_true(sip_call_get_remote_sdp(app[B].call).len > 0);

    assert_int_equal(sip_call_answer(app[B].call, 200, "v=0\r\n"), 0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONNECTING);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].nresponses, 2);
    assert_int_equal(app[A].responses[0], 180);
    assert_int_equal(app[A].responses[1], 200);
    sip_dialog_t *da = sip_call_get_dialog(c), *db = sip_call_get_dialog(app[B].call);
    assert_int_equal(sip_dialog_get_state(da), SIP_DIALOG_CONFIRMED);
    assert_true(sip_str_eq(sip_dialog_get_local_tag(da), sip_dialog_get_remote_tag(db)));
    assert_true(sip_str_eq(sip_dialog_get_remote_tag(da), sip_dialog_get_local_tag(db)));

    /* No 2xx retransmission once the ACK came. */
    pair_advance(40000);
    assert_int_equal(app[A].nresponses, 2);

    /* An INFO inside the call reaches the other side's application. */
    assert_int_equal(sip_call_request(c, "INFO", "application/dtmf-relay",
                                      "Signal=5\r\nDuration=160\r\n", NULL, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(app[B].requests, 1);

    assert_int_equal(sip_call_hangup(c, "SIP;cause=200;text=\"done\""), 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_true(sip_call_ended_locally(c));
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 200);
    assert_false(sip_call_ended_locally(app[B].call));
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    assert_int_equal(sip_ua_call_count(pair[A].ua), 0);
    assert_int_equal(app[A].states[0], SIP_CALL_EARLY);
    assert_int_equal(app[A].states[1], SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].states[2], SIP_CALL_ENDED);
    assert_int_equal(app[A].nstates, 3);
    assert_int_equal(app[B].states[0], SIP_CALL_EARLY);
    assert_int_equal(app[B].states[1], SIP_CALL_CONNECTING);
    assert_int_equal(app[B].states[2], SIP_CALL_CONFIRMED);
    assert_int_equal(app[B].states[3], SIP_CALL_ENDED);
    sip_call_unref(c);
    assert_int_equal(app[A].freed, 1);
    pair_advance(60000);
}

static int count_acks;
static int drop_acks(int from, const sip_msg_t *m)
{
    (void)from;
    if (sip_msg_is_request(m) && sip_msg_get_method(m) == SIP_METHOD_ACK) {
        count_acks++;
        return 1;
    }
    return 0;
}

static int count_2xx(void)
{
    return app[A].nresponses;
}

static void call_2xx_retransmitted_until_ack(void **state)
{
    (void)state;
    app[B].answer = 200;
    count_acks = 0;
    pair_drop = drop_acks;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONNECTING);
    assert_int_equal(count_acks, 1);
    /* RFC 3261 §13.3.1.4: again at T1, 2T1, 4T1...: each gets the ACK again. */
    pair_advance(500);
    assert_int_equal(count_acks, 2);
    pair_advance(1000);
    assert_int_equal(count_acks, 3);
    pair_advance(2000);
    assert_int_equal(count_acks, 4);
    pair_advance(4000);
    assert_int_equal(count_acks, 5);
    /* Capped at T2. */
    pair_advance(4000);
    assert_int_equal(count_acks, 6);
    /* The application saw one 200. */
    assert_int_equal(count_2xx(), 1);
    /* Now the ACK gets through: no more 2xx. */
    pair_drop = NULL;
    pair_advance(4000);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    int before = count_acks;
    pair_drop = drop_acks;
    pair_advance(30000);
    assert_int_equal(count_acks, before);
    pair_drop = NULL;
    assert_int_equal(sip_call_hangup(app[B].call, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    sip_call_unref(c);
    pair_advance(60000);
}

static int bye_seen;
static int drop_acks_count_bye(int from, const sip_msg_t *m)
{
    if (sip_msg_is_request(m) && sip_msg_get_method(m) == SIP_METHOD_BYE) bye_seen++;
    return drop_acks(from, m);
}

static void call_no_ack_bye_after_64_t1(void **state)
{
    (void)state;
    app[B].answer = 200;
    pair_drop = drop_acks_count_bye;
    bye_seen = 0;
    sip_call_t *c = call_b();
    pair_advance(0);
    pair_advance(31999);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONNECTING);
    assert_int_equal(bye_seen, 0);
    pair_advance(1);
    /* 64*T1 = 32 s without an ACK: BYE, and the call is over (RFC 3261 §13.3.1.4). */
    assert_int_equal(bye_seen, 1);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 408);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 200);
    sip_call_unref(c);
    pair_drop = NULL;
    pair_advance(60000);
}

static int cancel_reasons;
static void spy_cancel(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != SIP_METHOD_CANCEL) return;
    const sip_header_t *h = sip_msg_header_by_name(m, "Reason", 0);
    if (h && sip_str_eq(sip_header_get_value(h),
                        sip_str_from_cstr("SIP;cause=200;text=\"Call completed elsewhere\"")))
        cancel_reasons++;
}

static void call_cancel_gives_487(void **state)
{
    (void)state;
    app[B].ring = 180;
    cancel_reasons = 0;
    pair_spy = spy_cancel;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    /* RFC 3326: the CANCEL says why. */
    assert_int_equal(sip_call_hangup(c, "SIP;cause=200;text=\"Call completed elsewhere\""), 0);
    pair_advance(0);
    assert_int_equal(cancel_reasons, 1);
    pair_spy = NULL;
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 487);
    assert_int_equal(sip_call_get_end_status(c), 487);
    assert_int_equal(app[A].responses[app[A].nresponses - 1], 180);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_reject_busy(void **state)
{
    (void)state;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_reject(app[B].call, 486, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 486);
    assert_false(sip_call_ended_locally(c));
    assert_true(sip_call_ended_locally(app[B].call));
    assert_int_equal(sip_call_answer(app[B].call, 200, NULL), SIP_ECLOSED);
    sip_call_unref(c);
    pair_advance(60000);
}

static sip_msg_t *held_ok;
static int hold_2xx(int from, const sip_msg_t *m)
{
    if (from == B && !sip_msg_is_request(m) && sip_msg_get_status(m) == 200 &&
        sip_msg_get_cseq(m)->method == SIP_METHOD_INVITE && !held_ok) {
        held_ok = sip_msg_ref(m);
        return 1;
    }
    return 0;
}

static void call_cancel_crossing_2xx(void **state)
{
    (void)state;
    app[B].ring = 180;
    held_ok = NULL;
    sip_call_t *c = call_b();
    pair_advance(0);
    pair_drop = hold_2xx;
    assert_int_equal(sip_call_answer(app[B].call, 200, NULL), 0);
    pair_advance(0);
    assert_non_null(held_ok);
    pair_drop = NULL;
    /* Alice hangs up before the 200 reaches her: a CANCEL, which B answers 200 but cannot
     * apply any more. */
    bye_seen = 0;
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONNECTING);
    /* The 2xx arrives (B's retransmission): ACK and BYE. */
    sip_msg_unref(held_ok);
    held_ok = NULL;
    pair_drop = drop_acks_count_bye;
    count_acks = 0;
    pair_advance(500);
    assert_true(count_acks >= 1);
    assert_int_equal(bye_seen, 1);
    pair_drop = NULL;
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_bye_before_ack(void **state)
{
    (void)state;
    app[B].answer = 200;
    pair_drop = drop_acks;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONNECTING);
    pair_drop = NULL;
    /* RFC 3261 §15: the caller may send BYE once it has the 2xx, ACK or not. */
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 200);
    /* B stopped sending its 2xx. */
    int n = app[A].nresponses;
    pair_advance(10000);
    assert_int_equal(app[A].nresponses, n);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_callee_bye_waits_for_ack(void **state)
{
    (void)state;
    app[B].answer = 200;
    pair_drop = drop_acks_count_bye;
    bye_seen = 0;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_hangup(app[B].call, NULL), 0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    pair_advance(0);
    /* RFC 3261 §15: no BYE from the callee before the ACK. */
    assert_int_equal(bye_seen, 0);
    pair_drop = NULL;
    pair_advance(500); /* the 2xx again, the ACK gets through, then the BYE */
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_reinvite_manual_offer(void **state)
{
    (void)state;
    app[B].answer = 200;
    app[B].offer_answer =
        "v=0\r\no=b 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
    sip_call_t *c = call_b();
    pair_advance(0);
    /* Without the engine, B's application answers A's re-offer in the OFFER event. */
    assert_int_equal(sip_call_reinvite(c, SDP_A), 0);
    assert_int_equal(sip_call_reinvite(c, SDP_A), SIP_EBUSY);
    pair_advance(0);
    assert_int_equal(app[B].offers, 1);
    assert_int_equal(app[B].reinvites, 1);
    assert_int_equal(app[A].modified, 1);
    assert_int_equal(app[A].last_modified, 200);
    assert_true(sip_str_eq(sip_call_get_remote_sdp(c), sip_str_from_cstr(app[B].offer_answer)));
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* No 2xx retransmission once its ACK came. */
    int n = app[A].nresponses;
    pair_advance(10000);
    assert_int_equal(app[A].nresponses, n);
    /* A re-INVITE needs an offer without the engine; hold needs the engine. */
    assert_int_equal(sip_call_reinvite(c, NULL), SIP_EINVAL);
    assert_int_equal(sip_call_hold(c, 1), SIP_EINVAL);
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void on_info_rsp(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)user;
    last_status = status;
    if (status == 469) assert_non_null(sip_msg_header_by_name(rsp, "Recv-Info", 0));
}

static void call_info_packages_and_dtmf(void **state)
{
    (void)state;
    /* B takes only the "dtmf" Info Package (RFC 6086): B is set up again with recv_info. */
    pair_teardown();
    sip_ua_opts_t bo;
    sip_ua_opts_init(&bo);
    bo.recv_info = "dtmf";
    const sip_ua_opts_t *opts[2] = {NULL, &bo};
    sip_ua_request_cb cbs[2] = {NULL, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(opts, cbs, users);
    app[B].answer = 200;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* B's 2xx said which packages it takes. */
    last_status = 0;
    assert_int_equal(sip_call_set_headers(c, "Info-Package: foo"), 0);
    assert_int_equal(sip_call_request(c, "INFO", "application/foo", "x", on_info_rsp, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(last_status, 469);
    assert_int_equal(app[B].requests, 0);
    /* A DTMF digit as application/dtmf-relay (no Info-Package: the legacy use) gets through. */
    assert_int_equal(sip_call_send_dtmf(c, '5', 160), 0);
    pair_advance(0);
    assert_int_equal(app[B].requests, 1);
    assert_string_equal(last_body, "Signal=5\r\nDuration=160\r\n");
    assert_int_equal(sip_call_send_dtmf(c, 'x', 160), SIP_EINVAL);
    assert_int_equal(sip_call_send_dtmf(c, '1', 0), SIP_EINVAL);
    assert_int_equal(sip_call_set_headers(c, "no colon here"), SIP_EINVAL);
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_offer_in_2xx_answered_in_ack(void **state)
{
    (void)state;
    /* An INVITE without SDP: B's 2xx makes the offer (the answer argument of
     * sip_call_answer), A's application answers in the OFFER event, the answer rides the ACK. */
    app[B].answer = 200;
    app[A].offer_answer = SDP_A;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", NULL, on_call_event,
                                     &app[A], on_free),
                     0);
    assert_int_equal(sip_msg_get_body(sip_call_get_invite(c)).len, 0);
    pair_advance(0);
    assert_int_equal(app[A].offers, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    assert_true(sip_str_eq(sip_call_get_remote_sdp(app[B].call), sip_str_from_cstr(SDP_A)));
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_in_dialog_lower_cseq_500(void **state)
{
    (void)state;
    app[B].answer = 200;
    sip_call_t *c = call_b();
    pair_advance(0);
    sip_msg_t *m = NULL;
    assert_int_equal(sip_dialog_create_request(&m, sip_call_get_dialog(c), "OPTIONS"), 0);
    /* The same CSeq as the INVITE: not above the last one B saw (RFC 3261 §12.2.2). */
    assert_int_equal(sip_msg_set_header(m, "CSeq", "1 OPTIONS"), 0);
    sip_txn_t *t = NULL;
    last_status = 0;
    assert_int_equal(sip_txn_client_create(&t, pair[A].layer, m, NULL, NULL, on_rsp, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(last_status, 500);
    sip_txn_unref(t);
    sip_msg_unref(m);
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

/* Requests the UA refuses before any application sees them (RFC 3261 §8.2). */
static void on_rsp(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)user;
    last_status = status;
    const char *want = NULL;
    if (status == 405) want = "Allow";
    if (status == 420) want = "Unsupported";
    if (status == 415 && sip_msg_header_by_name(rsp, "Accept-Encoding", 0))
        want = "Accept-Encoding";
    if (want) assert_non_null(sip_msg_header_by_name(rsp, want, 0));
}

static int send_raw_request(const char *method, const char *uri, const char *extra,
                            const char *to_tag)
{
    sip_msg_t *m = NULL;
    char buf[256];
    assert_int_equal(sip_msg_create_request(&m, method, uri), 0);
    snprintf(buf, sizeof(buf), "<sip:bob@127.0.0.1>%s%s", to_tag ? ";tag=" : "",
             to_tag ? to_tag : "");
    assert_int_equal(sip_msg_add_header(m, "To", buf), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:alice@127.0.0.1>;tag=x1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "raw-1"), 0);
    snprintf(buf, sizeof(buf), "7 %s", method);
    assert_int_equal(sip_msg_add_header(m, "CSeq", buf), 0);
    assert_int_equal(sip_msg_add_header(m, "Max-Forwards", "70"), 0);
    if (extra) {
        char name[64];
        const char *colon = strchr(extra, ':');
        snprintf(name, sizeof(name), "%.*s", (int)(colon - extra), extra);
        assert_int_equal(sip_msg_add_header(m, name, colon + 2), 0);
    }
    if (extra && strstr(extra, "Content-")) {
        const char *ct = strstr(extra, "Content-Type") ? NULL : "application/sdp";
        if (ct)
            assert_int_equal(sip_msg_set_body(m, ct, "v=0\r\n", 5), 0);
        else
            assert_int_equal(sip_msg_set_body(m, "text/plain", "hello", 5), 0);
    }
    sip_txn_t *t = NULL;
    last_status = 0;
    assert_int_equal(sip_txn_client_create(&t, pair[A].layer, m, NULL, NULL, on_rsp, NULL, NULL),
                     0);
    pair_advance(0);
    sip_txn_unref(t);
    sip_msg_unref(m);
    pair_advance(40000);
    return last_status;
}

static void ua_uas_checks(void **state)
{
    (void)state;
    assert_int_equal(send_raw_request("PUBLISH", "sip:bob@127.0.0.1", NULL, NULL), 405);
    assert_int_equal(send_raw_request("OPTIONS", "tel:+15551234", NULL, NULL), 416);
    assert_int_equal(send_raw_request("OPTIONS", "sip:bob@127.0.0.1", "Require: foo", NULL), 420);
    assert_int_equal(
        send_raw_request("INVITE", "sip:bob@127.0.0.1", "Content-Encoding: gzip", NULL), 415);
    assert_int_equal(
        send_raw_request("INVITE", "sip:bob@127.0.0.1", "Content-Type: text/plain", NULL), 415);
    /* A known option tag passes. */
    assert_int_equal(send_raw_request("OPTIONS", "sip:bob@127.0.0.1", "Require: timer", NULL), 200);
    /* An unknown dialog is 481 (RFC 3261 §12.2.2). */
    assert_int_equal(send_raw_request("BYE", "sip:bob@127.0.0.1", NULL, "nosuch"), 481);
    assert_int_equal(send_raw_request("FOO", "sip:bob@127.0.0.1", NULL, NULL), 200);
}

static int layer_requests;
static void on_layer_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)layer;
    (void)req;
    (void)user;
    layer_requests++;
    assert_int_equal(sip_txn_respond(txn, 202, NULL), 0);
}

static void ua_without_callback_passes_requests_on(void **state)
{
    (void)state;
    /* A's UA has no request callback: an OPTIONS goes on to the layer's request handler,
     * while the UA still handles its calls (the chain shares one transport). */
    layer_requests = 0;
    assert_int_equal(sip_txn_layer_set_request_handler(pair[A].layer, on_layer_request, NULL, NULL),
                     0);
    sip_msg_t *m = NULL;
    assert_int_equal(sip_ua_create_request(&m, pair[B].ua, "OPTIONS", "sip:a@127.0.0.1:5060", NULL),
                     0);
    assert_non_null(sip_msg_header_by_name(m, "User-Agent", 0));
    assert_null(sip_msg_header_by_name(m, "Contact", 0));
    sip_txn_t *t = NULL;
    last_status = 0;
    assert_int_equal(sip_txn_client_create(&t, pair[B].layer, m, NULL, NULL, on_rsp, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(last_status, 202);
    assert_int_equal(layer_requests, 1);
    sip_txn_unref(t);
    sip_msg_unref(m);
    pair_advance(40000);
}

static void call_drop_last_reference_hangs_up(void **state)
{
    (void)state;
    app[B].answer = 200;
    sip_call_t *c = call_b();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    sip_call_unref(c); /* the caller's application lets go */
    assert_int_equal(app[A].freed, 1);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    pair_advance(60000);
}

static void call_close_ua_with_live_calls(void **state)
{
    (void)state;
    app[B].ring = 180;
    sip_call_t *c = call_b();
    pair_advance(0);
    sip_ua_close(pair[A].ua);
    assert_int_equal(app[A].freed, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_hangup(c, NULL), SIP_ECLOSED);
    sip_call_unref(c);
    sip_ua_close(pair[B].ua);
    assert_int_equal(app[B].freed, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(call_basic_ring_answer_bye),
        T(call_2xx_retransmitted_until_ack),
        T(call_no_ack_bye_after_64_t1),
        T(call_cancel_gives_487),
        T(call_reject_busy),
        T(call_cancel_crossing_2xx),
        T(call_bye_before_ack),
        T(call_callee_bye_waits_for_ack),
        T(call_reinvite_manual_offer),
        T(call_offer_in_2xx_answered_in_ack),
        T(call_in_dialog_lower_cseq_500),
        T(call_info_packages_and_dtmf),
        T(ua_uas_checks),
        T(ua_without_callback_passes_requests_on),
        T(call_drop_last_reference_hangs_up),
        T(call_close_ua_with_live_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
