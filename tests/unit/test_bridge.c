/* SPDX-License-Identifier: MIT */
/* The B2BUA: a caller on side A calls the bridge on side B, which places the outgoing leg to a
 * callee back on side A (support/ua_pair: whatever B sends goes to A). */
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

#define OFFER "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
#define EARLY "v=0\r\no=carol 5 5 IN IP4 127.0.0.1\r\ns=early\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
#define ANSWER "v=0\r\no=carol 5 6 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"

typedef struct party {
    int states[16], nstates, requests, offers, modified, last_modified, freed;
    const char *offer_answer;
    sip_call_t *call;
} party_t;

static party_t caller, carol;
/* What carol does with an INVITE. */
static int carol_ring, carol_answer, carol_reject;
/* The bridge's application. */
static sip_bridge_t *bridge;
static int bridge_events[8], keep_a, relays, ended_freed, ended_leg;
static const char *replace_answer;
static const char *forward_in_failed; /* bridge A again to this target inside FAILED */
static sip_bridge_t *second;
static sip_call_t *incoming; /* the B2BUA's A leg */
static sip_bridge_opts_t bopts;

static void on_party(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                     void *user)
{
    party_t *p = user;
    if (ev == SIP_CALL_EVENT_STATE && p->nstates < 16)
        p->states[p->nstates++] = (int)sip_call_get_state(call);
    if (ev == SIP_CALL_EVENT_REQUEST) {
        p->requests++;
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
    }
    if (ev == SIP_CALL_EVENT_OFFER) {
        p->offers++;
        if (p->offer_answer) assert_int_equal(sip_call_answer_offer(call, p->offer_answer), 0);
    }
    if (ev == SIP_CALL_EVENT_MODIFIED) {
        p->modified++;
        p->last_modified = msg ? sip_msg_get_status(msg) : 0;
    }
}

static void on_party_free(void *user)
{
    ((party_t *)user)->freed++;
}

/* Side A: INVITEs from the bridge reach carol. */
static void on_a_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_accept(&c, ua, txn, NULL, on_party, &carol, on_party_free), 0);
    if (carol_ring) assert_int_equal(sip_call_ring(c, 183, EARLY), 0);
    if (carol_answer) assert_int_equal(sip_call_answer(c, 200, ANSWER), 0);
    if (carol_reject) assert_int_equal(sip_call_reject(c, carol_reject, NULL), 0);
    sip_call_unref(carol.call);
    carol.call = c;
}

static void on_bridge(sip_bridge_t *br, sip_bridge_event_t ev, sip_bridge_leg_t leg, sip_msg_t *msg,
                      void *user)
{
    (void)user;
    (void)msg;
    assert_true(ev >= 1 && ev < 8);
    bridge_events[ev]++;
    if (ev == SIP_BRIDGE_EVENT_ENDED) ended_leg = (int)leg;
    if (ev == SIP_BRIDGE_EVENT_FAILED && forward_in_failed) {
        carol_reject = 0;
        carol_answer = 1;
        assert_int_equal(sip_bridge_create(&second, sip_bridge_get_call(br, SIP_BRIDGE_A),
                                           forward_in_failed, NULL, NULL, NULL, NULL),
                         0);
    }
    if (ev == SIP_BRIDGE_EVENT_RELAY) {
        relays++;
        if (replace_answer && leg == SIP_BRIDGE_A && msg && !sip_msg_is_request(msg) &&
            sip_msg_get_status(msg) == 200)
            assert_int_equal(sip_bridge_set_sdp(br, replace_answer), 0);
    }
}

static void on_bridge_free(void *user)
{
    (void)user;
    ended_freed++;
}

/* Side B: the B2BUA's application bridges every incoming call to carol. */
static void on_b_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_accept(&c, ua, txn, NULL, NULL, NULL, NULL), 0);
    bopts.keep_a_on_failure = keep_a;
    assert_int_equal(sip_bridge_create(&bridge, c, "sip:carol@127.0.0.1:5060", &bopts, on_bridge,
                                       NULL, on_bridge_free),
                     0);
    /* A leg already bridged cannot be bridged twice. */
    sip_bridge_t *again = NULL;
    assert_int_equal(sip_bridge_create(&again, c, "sip:x@127.0.0.1", NULL, NULL, NULL, NULL),
                     SIP_EBUSY);
    incoming = c;
}

static int setup(void **state)
{
    (void)state;
    memset(&caller, 0, sizeof(caller));
    memset(&carol, 0, sizeof(carol));
    memset(bridge_events, 0, sizeof(bridge_events));
    carol_ring = carol_answer = carol_reject = 0;
    keep_a = relays = ended_freed = 0;
    ended_leg = -1;
    forward_in_failed = NULL;
    second = NULL;
    replace_answer = NULL;
    bridge = NULL;
    incoming = NULL;
    sip_bridge_opts_init(&bopts);
    sip_ua_request_cb cbs[2] = {on_a_request, on_b_request};
    pair_setup(NULL, cbs, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_bridge_unref(bridge);
    sip_bridge_unref(second);
    sip_call_unref(incoming);
    sip_call_unref(carol.call);
    sip_call_unref(caller.call);
    bridge = NULL;
    incoming = carol.call = caller.call = NULL;
    pair_teardown();
    return 0;
}

static void call_bridge(void)
{
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = OFFER;
    o.from = "Caller <sip:caller@127.0.0.1>";
    assert_int_equal(sip_call_invite(&caller.call, pair[A].ua, "sip:b2b@127.0.0.1:5061", &o,
                                     on_party, &caller, on_party_free),
                     0);
}

static int has(sip_str_t s, const char *needle)
{
    char buf[2048];
    if (s.len >= sizeof(buf)) return 0;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    return strstr(buf, needle) != NULL;
}

static void bridge_relays_answer_info_reinvite_and_bye(void **state)
{
    (void)state;
    carol_ring = 1;
    call_bridge();
    pair_advance(0);
    assert_non_null(bridge);
    assert_non_null(carol.call);
    /* The early media SDP went across with the 183. */
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_EARLY);
    assert_true(has(sip_call_get_remote_sdp(caller.call), "s=early"));
    /* Carol got the caller's offer, under a Call-ID and tags of the bridge's own. */
    assert_true(has(sip_call_get_remote_sdp(carol.call), "o=caller"));
    sip_dialog_t *dc = sip_call_get_dialog(caller.call), *dk = sip_call_get_dialog(carol.call);
    assert_false(sip_str_eq(sip_dialog_get_call_id(dc), sip_dialog_get_call_id(dk)));
    sip_msg_t *kinv = sip_call_get_invite(carol.call);
    assert_true(has(sip_header_get_value(sip_msg_header_at(kinv, SIP_HDR_FROM, 0)),
                    "Caller <sip:caller@127.0.0.1>"));

    assert_int_equal(sip_call_answer(carol.call, 200, ANSWER), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(carol.call), SIP_CALL_CONFIRMED);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_ANSWERED], 1);
    assert_true(has(sip_call_get_remote_sdp(caller.call), "o=carol 5 6"));

    /* INFO from the caller reaches carol, and her 200 comes back. */
    assert_int_equal(sip_call_request(caller.call, "INFO", "application/dtmf-relay",
                                      "Signal=1\r\nDuration=100\r\n", NULL, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(carol.requests, 1);

    /* Carol re-offers: the caller answers, carol hears the answer. */
    caller.offer_answer = OFFER;
    assert_int_equal(sip_call_reinvite(carol.call, ANSWER), 0);
    pair_advance(0);
    assert_int_equal(caller.offers, 1);
    assert_int_equal(carol.modified, 1);
    assert_int_equal(carol.last_modified, 200);
    assert_true(has(sip_call_get_remote_sdp(carol.call), "o=caller"));

    /* Carol hangs up: the caller gets a BYE, the bridge ends. */
    assert_int_equal(sip_call_hangup(carol.call, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(caller.call), 200);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_ENDED], 1);
    assert_int_equal(ended_leg, SIP_BRIDGE_B); /* carol's leg ended first */
    assert_false(sip_bridge_is_active(bridge));
    pair_advance(60000);
}

static void bridge_busy_relayed(void **state)
{
    (void)state;
    carol_reject = 486;
    call_bridge();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(caller.call), 486);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_FAILED], 1);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_ENDED], 1);
    pair_advance(60000);
}

static void bridge_keep_a_forwards_on_busy(void **state)
{
    (void)state;
    carol_reject = 486;
    keep_a = 1;
    call_bridge();
    pair_advance(0);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_FAILED], 1);
    /* The caller is still waiting: the application forwards to a second target. */
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_CALLING);
    assert_int_equal(sip_call_get_state(incoming), SIP_CALL_INCOMING);
    sip_bridge_unref(bridge);
    bridge = NULL;
    carol_reject = 0;
    carol_answer = 1;
    assert_int_equal(sip_bridge_create(&bridge, incoming, "sip:carol2@127.0.0.1:5060", NULL,
                                       on_bridge, NULL, on_bridge_free),
                     0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_bridge_hangup(bridge, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_state(carol.call), SIP_CALL_ENDED);
    assert_int_equal(sip_bridge_hangup(bridge, NULL), SIP_ECLOSED);
    pair_advance(60000);
}

static void bridge_cancel_crosses(void **state)
{
    (void)state;
    carol_ring = 1;
    call_bridge();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(carol.call), SIP_CALL_EARLY);
    /* The caller gives up: the bridge cancels carol's leg. */
    assert_int_equal(sip_call_hangup(caller.call, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(carol.call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(carol.call), 487);
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_ENDED], 1);
    assert_int_equal(ended_leg, SIP_BRIDGE_A); /* the caller's leg ended first */
    pair_advance(60000);
}

static void bridge_relay_hook_replaces_sdp(void **state)
{
    (void)state;
    carol_answer = 1;
    replace_answer = "v=0\r\no=media-relay 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                     "t=0 0\r\n";
    call_bridge();
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_CONFIRMED);
    assert_true(has(sip_call_get_remote_sdp(caller.call), "o=media-relay"));
    assert_true(relays >= 1);
    assert_int_equal(sip_bridge_set_sdp(bridge, "v=0\r\n"), SIP_EINVAL);
    assert_int_equal(sip_call_hangup(caller.call, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(carol.call), SIP_CALL_ENDED);
    pair_advance(60000);
}

static void bridge_forward_inside_failed(void **state)
{
    (void)state;
    carol_reject = 486;
    keep_a = 1;
    forward_in_failed = "sip:carol2@127.0.0.1:5060";
    call_bridge();
    pair_advance(0);
    assert_non_null(second);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_bridge_hangup(second, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(caller.call), SIP_CALL_ENDED);
    pair_advance(60000);
}

static void bridge_ends_when_its_ua_closes(void **state)
{
    (void)state;
    carol_answer = 1;
    call_bridge();
    pair_advance(0);
    assert_true(sip_bridge_is_active(bridge));
    int ended = bridge_events[SIP_BRIDGE_EVENT_ENDED];
    /* Closing the B2BUA's UA ends its calls without a word, and the bridge with them. */
    sip_ua_close(pair[B].ua);
    assert_false(sip_bridge_is_active(bridge));
    assert_int_equal(bridge_events[SIP_BRIDGE_EVENT_ENDED], ended);
    sip_call_hangup(caller.call, NULL);
    pair_advance(60000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(bridge_relays_answer_info_reinvite_and_bye),
        T(bridge_busy_relayed),
        T(bridge_keep_a_forwards_on_busy),
        T(bridge_cancel_crosses),
        T(bridge_relay_hook_replaces_sdp),
        T(bridge_forward_inside_failed),
        T(bridge_ends_when_its_ua_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
