/* SPDX-License-Identifier: MIT */
/* Session timers in calls (RFC 4028): the negotiation end to end (422 and its retry, who
 * refreshes), the refresh by UPDATE or by re-INVITE when the peer does not allow UPDATE, and
 * the BYE when refreshes stop coming. Two UAs back to back in memory (support/ua_pair). */
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

#define SDP "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"

typedef struct app {
    int responses[16], nresponses, reinvites, modified, accept_rc, freed;
    sip_call_t *call;
    sip_call_opts_t opts; /* B: the options of incoming calls */
    int ring_only;        /* B: ring, answer later */
} app_t;

static app_t app[2];

static void on_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                     void *user)
{
    (void)txn;
    app_t *a = user;
    if (ev == SIP_CALL_EVENT_RESPONSE && a->nresponses < 16)
        a->responses[a->nresponses++] = sip_msg_get_status(msg);
    if (ev == SIP_CALL_EVENT_REINVITE) a->reinvites++;
    if (ev == SIP_CALL_EVENT_MODIFIED) a->modified++;
    /* Without the engine the application answers every offer: with its own SDP. */
    if (ev == SIP_CALL_EVENT_OFFER) assert_int_equal(sip_call_answer_offer(call, SDP), 0);
}

static void on_free(void *user)
{
    ((app_t *)user)->freed++;
}

static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return;
    sip_call_t *c = NULL;
    a->accept_rc = sip_call_accept(&c, ua, txn, &a->opts, on_event, a, on_free);
    if (a->accept_rc) return;
    if (a->ring_only)
        assert_int_equal(sip_call_ring(c, 180, NULL), 0);
    else
        assert_int_equal(sip_call_answer(c, 200, SDP), 0);
    sip_call_unref(a->call);
    a->call = c;
}

/* What each side sent, and the Session-Expires of the last 2xx to an INVITE or UPDATE. */
static int sent_req[2][32], sent_rsp[2][700];
static char last_se[2][64];
static uint32_t invite_cseq[4];
static int ninvites;
static int drop_all_from_a;

static void spy(int from, const sip_msg_t *m)
{
    if (sip_msg_is_request(m)) {
        sip_method_t me = sip_msg_get_method(m);
        if ((int)me < 32) sent_req[from][me]++;
        if (me == SIP_METHOD_INVITE && from == A && ninvites < 4 && !sip_msg_get_to(m)->tag.len)
            invite_cseq[ninvites++] = sip_msg_get_cseq(m)->seq;
        return;
    }
    int st = sip_msg_get_status(m);
    sent_rsp[from][st]++;
    const sip_header_t *h = sip_msg_header_by_name(m, "Session-Expires", 0);
    if (st >= 200 && st < 300 && h) {
        sip_str_t v = sip_header_get_value(h);
        snprintf(last_se[from], sizeof(last_se[from]), "%.*s", (int)v.len, v.ptr);
    }
}

static int drop(int from, const sip_msg_t *m)
{
    (void)m;
    return drop_all_from_a && from == A;
}

static void setup_with(const sip_ua_opts_t *b_opts)
{
    memset(app, 0, sizeof(app));
    memset(sent_req, 0, sizeof(sent_req));
    memset(sent_rsp, 0, sizeof(sent_rsp));
    memset(last_se, 0, sizeof(last_se));
    ninvites = 0;
    drop_all_from_a = 0;
    sip_call_opts_init(&app[B].opts);
    const sip_ua_opts_t *uo[2] = {NULL, b_opts};
    sip_ua_request_cb cbs[2] = {NULL, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(uo, cbs, users);
    pair_spy = spy;
    pair_drop = drop;
}

static int setup(void **state)
{
    (void)state;
    setup_with(NULL);
    return 0;
}

/* B does not take UPDATE: its Allow leaves it out. */
static int setup_no_update(void **state)
{
    (void)state;
    static sip_ua_opts_t o;
    sip_ua_opts_init(&o);
    o.allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, PRACK";
    setup_with(&o);
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

static sip_call_t *invite_with(uint32_t se, int refresher)
{
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = SDP;
    o.session_expires = se;
    o.refresher = refresher;
    sip_call_t *c = NULL;
    assert_int_equal(
        sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &o, on_event, &app[A], on_free),
        0);
    return c;
}

static void hangup_and_drain(sip_call_t *c)
{
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void timer_caller_refreshes_by_update(void **state)
{
    (void)state;
    sip_call_t *c = invite_with(0, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* RFC 4028 §9: the UAC supports timer and named no refresher: the UAS picks it. */
    assert_string_equal(last_se[B], "1800;refresher=uac");
    /* §10: at half the interval the caller refreshes, with UPDATE (B allows it). */
    pair_advance(899 * 1000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 0);
    pair_advance(2000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 1);
    assert_int_equal(sent_req[A][SIP_METHOD_INVITE], 1);
    assert_int_equal(app[B].reinvites, 1);
    /* Each refresh restarts both sides' timers: the session outlives the first interval. */
    pair_advance(1800 * 1000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 3);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    assert_int_equal(sent_req[B][SIP_METHOD_BYE], 0);
    hangup_and_drain(c);
}

static void timer_refresh_by_reinvite_without_update(void **state)
{
    (void)state;
    sip_call_t *c = invite_with(0, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    pair_advance(901 * 1000);
    /* B's Allow has no UPDATE: the refresh is a re-INVITE with the session as it is. */
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 0);
    assert_int_equal(sent_req[A][SIP_METHOD_INVITE], 2);
    assert_int_equal(sent_req[A][SIP_METHOD_ACK], 2);
    assert_int_equal(app[B].reinvites, 1);
    assert_string_equal(last_se[B], "1800;refresher=uac");
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

static void timer_422_retried_with_larger_interval(void **state)
{
    (void)state;
    app[B].opts.min_se = 300;
    sip_call_t *c = invite_with(120, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    /* §7.3/§7.4: 422 with Min-SE 300, the INVITE again as a new request of the same call. */
    assert_int_equal(sent_rsp[B][422], 1);
    assert_int_equal(ninvites, 2);
    assert_int_equal(invite_cseq[1], invite_cseq[0] + 1);
    assert_int_equal(app[A].responses[0], 422);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_string_equal(last_se[B], "300;refresher=uac");
    /* The call is the same: one call on each side, one dialog. */
    assert_int_equal(sip_ua_call_count(pair[B].ua), 1);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    pair_advance(151 * 1000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 1);
    hangup_and_drain(c);
}

static void timer_callee_refreshes_when_asked(void **state)
{
    (void)state;
    /* The caller asks the callee to refresh (refresher=uas in the INVITE). */
    sip_call_t *c = invite_with(600, SIP_CALL_REFRESHER_REMOTE);
    pair_advance(0);
    assert_string_equal(last_se[B], "600;refresher=uas");
    pair_advance(301 * 1000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 0);
    assert_int_equal(sent_req[B][SIP_METHOD_UPDATE], 1);
    /* The refresh keeps the roles: the callee still refreshes (refresher=uac in its UPDATE,
     * whose sender it is). */
    assert_string_equal(last_se[A], "600;refresher=uac");
    pair_advance(300 * 1000);
    assert_int_equal(sent_req[B][SIP_METHOD_UPDATE], 2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

static void timer_422_retry_rings_long(void **state)
{
    (void)state;
    app[B].opts.min_se = 300;
    app[B].ring_only = 1;
    sip_call_t *c = invite_with(120, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    assert_int_equal(ninvites, 2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    /* The first INVITE's transaction ends (its 32 s) while the retry still rings: the call
     * keeps the retry's INVITE and transaction. */
    pair_advance(40000);
    assert_non_null(sip_call_get_invite(c));
    assert_int_equal(sip_msg_get_cseq(sip_call_get_invite(c))->seq, invite_cseq[1]);
    assert_int_equal(sip_call_answer(app[B].call, 200, SDP), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_string_equal(last_se[B], "300;refresher=uac");
    hangup_and_drain(c);
}

/* A's UPDATEs are held back here; the test answers them. */
static sip_msg_t *held_update;
static char update_se[2][64];
static int nupdates;
static int hold_updates(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != SIP_METHOD_UPDATE) return 0;
    /* Its retransmissions stay held too. */
    if (held_update && sip_msg_get_cseq(m)->seq == sip_msg_get_cseq(held_update)->seq) return 1;
    const sip_header_t *h = sip_msg_header_by_name(m, "Session-Expires", 0);
    sip_str_t v = h ? sip_header_get_value(h) : (sip_str_t){"", 0};
    if (nupdates < 2)
        snprintf(update_se[nupdates], sizeof(update_se[0]), "%.*s", (int)v.len, v.ptr);
    nupdates++;
    if (held_update) return 0; /* the retry goes through */
    held_update = sip_msg_ref(m);
    return 1;
}

static void timer_422_to_a_refresh_is_retried(void **state)
{
    (void)state;
    held_update = NULL;
    nupdates = 0;
    sip_call_t *c = invite_with(0, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    pair_drop = hold_updates;
    pair_advance(901 * 1000);
    assert_non_null(held_update);
    /* A proxy on the way wants at least an hour (RFC 4028 §7.3): 422 with Min-SE 3600. */
    sip_msg_t *r = NULL;
    assert_int_equal(sip_msg_create_response(&r, held_update, 422, NULL, NULL), 0);
    assert_int_equal(sip_msg_add_header(r, "Min-SE", "3600"), 0);
    pair_inject(A, r);
    sip_msg_unref(r);
    pair_advance(0);
    /* The UPDATE again, asking for the hour; B grants it. */
    assert_int_equal(nupdates, 2);
    assert_string_equal(update_se[0], "1800;refresher=uac");
    assert_string_equal(update_se[1], "3600;refresher=uac");
    assert_string_equal(last_se[B], "3600;refresher=uac");
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* The next refresh comes half an hour later. */
    pair_advance(1799 * 1000);
    assert_int_equal(nupdates, 2);
    pair_advance(2000);
    assert_int_equal(nupdates, 3);
    sip_msg_unref(held_update);
    held_update = NULL;
    pair_drop = drop;
    hangup_and_drain(c);
}

static void timer_off_no_session_expires(void **state)
{
    (void)state;
    app[B].opts.session_timer = SIP_CALL_TIMER_OFF;
    sip_call_t *c = invite_with(0, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* §9: a UAS without timers answers without Session-Expires: no timer runs. */
    assert_string_equal(last_se[B], "");
    pair_advance(3600 * 1000);
    assert_int_equal(sent_req[A][SIP_METHOD_UPDATE], 0);
    assert_int_equal(sent_req[B][SIP_METHOD_BYE], 0);
    hangup_and_drain(c);
}

static void timer_expiry_sends_bye(void **state)
{
    (void)state;
    sip_call_t *c = invite_with(0, SIP_CALL_REFRESHER_AUTO);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* The refreshes are lost: the caller's UPDATE times out (§10: it ends its side with BYE),
     * and the callee, hearing nothing, sends BYE at 1800 - min(32, 600) s and ends with 408. */
    drop_all_from_a = 1;
    pair_advance(1767 * 1000);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 408);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    assert_int_equal(sent_req[B][SIP_METHOD_BYE], 0);
    pair_advance(2000);
    /* (Sent again by its transaction: A's 481 is lost too.) */
    assert_true(sent_req[B][SIP_METHOD_BYE] >= 1);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 408);
    assert_false(sip_call_ended_locally(app[B].call));
    drop_all_from_a = 0;
    sip_call_unref(c);
    pair_advance(60000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(timer_caller_refreshes_by_update),
        cmocka_unit_test_setup_teardown(timer_refresh_by_reinvite_without_update, setup_no_update,
                                        teardown),
        T(timer_422_retried_with_larger_interval),
        T(timer_422_retry_rings_long),
        T(timer_callee_refreshes_when_asked),
        T(timer_422_to_a_refresh_is_retried),
        T(timer_off_no_session_expires),
        T(timer_expiry_sends_bye),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
