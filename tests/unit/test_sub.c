/* SPDX-License-Identifier: MIT */
/* Subscriptions (RFC 6665) between two user agents wired back to back in memory, under a
 * hand-driven clock: A subscribes, B is the notifier. */
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
#include "ua_pair.h"

enum { A = PAIR_A, B = PAIR_B };

#define MWI_TYPE "application/simple-message-summary"
#define MWI_BODY "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n"

/* ---- what the applications see ------------------------------------------------------------ */

typedef struct app {
    int states[16];
    int nstates;
    int notifies, responses, forked, subscribes, freed;
    int last_response;
    char last_body[256];
    sip_sub_t *sub;  /* B: the accepted subscription, referenced */
    sip_sub_t *fork; /* A: a fork reported, referenced */
    int accept;      /* B: accept SUBSCRIBEs (else answer 200 without NOTIFY) */
    sip_sub_state_t accept_state;
    uint32_t max_expires;
    sip_call_t *call;    /* B: an incoming call, referenced */
    sip_sub_t *refer;    /* B: an accepted REFER's subscription, referenced */
    int refer_reject;    /* B: answer REFERs with this instead */
    int refer_no_trying; /* B: accept REFERs with a first NOTIFY of 180 */
    char refer_to[256];
    int invites;
} app_t;

static app_t app[2];

static void on_sub_event(sip_sub_t *sub, sip_sub_event_t ev, sip_msg_t *msg, void *user)
{
    app_t *a = user;
    if (ev == SIP_SUB_EVENT_STATE && a->nstates < 16)
        a->states[a->nstates++] = (int)sip_sub_get_state(sub);
    if (ev == SIP_SUB_EVENT_NOTIFY) {
        a->notifies++;
        sip_str_t b = sip_msg_get_body(msg);
        snprintf(a->last_body, sizeof(a->last_body), "%.*s", (int)b.len, b.ptr);
    }
    if (ev == SIP_SUB_EVENT_RESPONSE) {
        a->responses++;
        a->last_response = sip_msg_get_status(msg);
    }
    if (ev == SIP_SUB_EVENT_FORKED) {
        a->forked++;
        sip_sub_unref(a->fork);
        a->fork = sip_sub_ref(sub);
    }
    if (ev == SIP_SUB_EVENT_SUBSCRIBE) a->subscribes++;
}

static void on_free(void *user)
{
    ((app_t *)user)->freed++;
}

static void on_sub_event(sip_sub_t *sub, sip_sub_event_t ev, sip_msg_t *msg, void *user);
static void on_free(void *user);

/* A REFER (in a call or out of dialog): accepted, its Refer-To kept; or rejected. */
static void take_refer(app_t *a, sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req)
{
    if (a->refer_reject) {
        assert_int_equal(sip_txn_respond(txn, a->refer_reject, NULL), 0);
        return;
    }
    sip_str_t rt = sip_header_get_value(sip_msg_header_at(req, SIP_HDR_REFER_TO, 0));
    snprintf(a->refer_to, sizeof(a->refer_to), "%.*s", (int)rt.len, rt.ptr);
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    if (a->refer_no_trying) o.body = "SIP/2.0 180 Ringing\r\n";
    sip_sub_t *s = NULL;
    assert_int_equal(sip_sub_accept(&s, ua, txn, &o, on_sub_event, a, on_free), 0);
    sip_sub_unref(a->refer);
    a->refer = s;
}

static void on_call_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    app_t *a = user;
    if (a && ev == SIP_CALL_EVENT_REQUEST && sip_msg_get_method(msg) == SIP_METHOD_REFER)
        take_refer(a, sip_call_get_ua(call), txn, msg);
    else if (ev == SIP_CALL_EVENT_REQUEST)
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) == SIP_METHOD_REFER) {
        take_refer(a, ua, txn, req);
        return;
    }
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        a->invites++;
        sip_call_t *c = NULL;
        int rc = sip_call_accept(&c, ua, txn, NULL, on_call_event, a, NULL);
        if (rc == SIP_ENOTACCEPTABLE) return; /* answered by the call (Replaces: 481...) */
        assert_int_equal(rc, 0);
        assert_int_equal(sip_call_answer(c, 200, "v=0\r\n"), 0);
        sip_call_unref(a->call);
        a->call = c;
        return;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_SUBSCRIBE) {
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        return;
    }
    if (!a->accept) {
        /* A notifier that answers and never sends a NOTIFY. */
        sip_msg_t *rsp = NULL;
        assert_int_equal(sip_ua_create_response(&rsp, ua, txn, 200, NULL), 0);
        assert_int_equal(sip_msg_add_header(rsp, "Expires", "600"), 0);
        assert_int_equal(sip_txn_reply(txn, rsp), 0);
        sip_msg_unref(rsp);
        return;
    }
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.body = MWI_BODY;
    o.content_type = MWI_TYPE;
    o.state = a->accept_state ? a->accept_state : SIP_SUB_ACTIVE;
    if (a->max_expires) o.expires = a->max_expires;
    sip_sub_t *s = NULL;
    assert_int_equal(sip_sub_accept(&s, ua, txn, &o, on_sub_event, a, on_free), 0);
    sip_sub_unref(a->sub);
    a->sub = s;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    app[B].accept = 1;
    sip_ua_opts_t ob;
    sip_ua_opts_init(&ob);
    ob.events = "message-summary, dialog";
    const sip_ua_opts_t *opts[2] = {NULL, &ob};
    sip_ua_request_cb cbs[2] = {NULL, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(opts, cbs, users);
    return 0;
}

/* Both sides take requests: a transfer's new call comes back to A. */
static int setup_both(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    app[A].accept = app[B].accept = 1;
    sip_ua_opts_t o;
    sip_ua_opts_init(&o);
    o.events = "message-summary, dialog";
    /* REFER is not in the default Allow: a UA that acts on it says so. */
    o.allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER";
    const sip_ua_opts_t *opts[2] = {&o, &o};
    sip_ua_request_cb cbs[2] = {on_ua_request, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(opts, cbs, users);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        sip_sub_unref(app[i].sub);
        sip_sub_unref(app[i].fork);
        sip_call_unref(app[i].call);
        sip_sub_unref(app[i].refer);
        app[i].refer = NULL;
        app[i].sub = app[i].fork = NULL;
        app[i].call = NULL;
    }
    pair_teardown();
    return 0;
}

static sip_sub_t *subscribe(const char *event, uint32_t expires)
{
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.event = event;
    o.accept = MWI_TYPE;
    o.expires = expires;
    o.from = "Alice <sip:alice@127.0.0.1>";
    sip_sub_t *s = NULL;
    assert_int_equal(sip_sub_subscribe(&s, pair[A].ua, "sip:bob@127.0.0.1:5061", &o, on_sub_event,
                                       &app[A], on_free),
                     0);
    return s;
}

/* What one side sent last, by method or status. */
static int spied_status[2][32], nspied[2];
static sip_msg_t *spied_notify;
static void spy(int from, const sip_msg_t *msg)
{
    if (!sip_msg_is_request(msg) && nspied[from] < 32)
        spied_status[from][nspied[from]++] = sip_msg_get_status(msg);
    if (sip_msg_is_request(msg) && sip_msg_get_method(msg) == SIP_METHOD_NOTIFY && from == B) {
        sip_msg_unref(spied_notify);
        spied_notify = sip_msg_ref(msg);
    }
}

static int last_status(int from)
{
    return nspied[from] ? spied_status[from][nspied[from] - 1] : 0;
}

static void spy_on(void)
{
    memset(nspied, 0, sizeof(nspied));
    pair_spy = spy;
}

static void spy_off(void)
{
    pair_spy = NULL;
    sip_msg_unref(spied_notify);
    spied_notify = NULL;
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void sub_subscribe_notify_refresh_unsubscribe(void **state)
{
    (void)state;
    sip_sub_t *s = subscribe("message-summary", 600);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_INIT);
    assert_true(sip_sub_is_subscriber(s));
    pair_advance(0);
    assert_non_null(app[B].sub);
    assert_false(sip_sub_is_subscriber(app[B].sub));
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_int_equal(app[A].notifies, 1);
    assert_string_equal(app[A].last_body, MWI_BODY);
    assert_int_equal(app[A].last_response, 200);
    assert_int_equal(sip_sub_get_expires(s), 600);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 1);
    assert_int_equal(sip_sub_count(pair[A].ua), 1);
    assert_true(sip_str_eq(sip_sub_get_event(s), SIP_STR("message-summary")));

    /* The notifier's new state reaches the subscriber. */
    assert_int_equal(sip_sub_notify(app[B].sub, SIP_SUB_ACTIVE, "Messages-Waiting: no\r\n", NULL),
                     0);
    pair_advance(0);
    assert_int_equal(app[A].notifies, 2);
    assert_string_equal(app[A].last_body, "Messages-Waiting: no\r\n");

    /* RFC 6665 §4.1.2.2: the refresh goes before the expiry, and its NOTIFY follows. */
    pair_advance(560 * 1000);
    assert_int_equal(app[B].subscribes, 0);
    pair_advance(10 * 1000);
    assert_int_equal(app[B].subscribes, 1);
    assert_int_equal(app[A].notifies, 3);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_true(sip_sub_get_expires(s) > 590);
    /* Well past the first expiry: still active. */
    pair_advance(100 * 1000);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);

    assert_int_equal(sip_sub_unsubscribe(s), 0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(s), 200);
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(app[A].notifies, 4);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    assert_int_equal(sip_sub_count(pair[A].ua), 0);
    assert_int_equal(sip_sub_count(pair[B].ua), 0);
    assert_int_equal(sip_sub_unsubscribe(s), SIP_ECLOSED);
    sip_sub_unref(s);
    assert_int_equal(app[A].freed, 1);
    pair_advance(40000);
}

static int drop_first_2xx;
static int drop_sub_2xx(int from, const sip_msg_t *msg)
{
    const sip_cseq_t *cs = sip_msg_get_cseq(msg);
    if (from == B && drop_first_2xx && !sip_msg_is_request(msg) && cs &&
        cs->method == SIP_METHOD_SUBSCRIBE && sip_msg_get_status(msg) == 200) {
        drop_first_2xx = 0;
        return 1;
    }
    return 0;
}

static void sub_notify_before_2xx(void **state)
{
    (void)state;
    drop_first_2xx = 1;
    pair_drop = drop_sub_2xx;
    app[B].accept_state = SIP_SUB_PENDING;
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    /* RFC 6665 §4.1.2.4: the NOTIFY made the dialog; the 2xx was lost. */
    assert_int_equal(app[A].notifies, 1);
    assert_int_equal(app[A].responses, 0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_PENDING);
    assert_non_null(sip_sub_get_dialog(s));
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    /* The SUBSCRIBE goes again; the 2xx comes for the same dialog. */
    pair_advance(600);
    assert_int_equal(app[A].responses, 1);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_PENDING);
    /* The notifier authorises it. */
    assert_int_equal(sip_sub_notify(app[B].sub, SIP_SUB_ACTIVE, MWI_BODY, MWI_TYPE), 0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_int_equal(app[A].states[0], SIP_SUB_PENDING);
    assert_int_equal(app[A].states[1], SIP_SUB_ACTIVE);
    pair_drop = NULL;
    sip_sub_unref(s); /* the last reference unsubscribes */
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    pair_advance(40000);
}

static void sub_forked_subscribe(void **state)
{
    (void)state;
    spy_on();
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_non_null(spied_notify);
    /* A second notifier (another fork of the SUBSCRIBE) sends its own NOTIFY: another To tag. */
    sip_msg_t *n = NULL;
    pair_fork_notify(&n, spied_notify, "fork2", "Messages-Waiting: no\r\n");
    pair_inject(A, n);
    sip_msg_unref(n);
    pair_advance(0);
    assert_int_equal(last_status(A), 200);
    assert_int_equal(app[A].forked, 1);
    assert_non_null(app[A].fork);
    assert_true(app[A].fork != s);
    assert_int_equal(sip_sub_get_state(app[A].fork), SIP_SUB_ACTIVE);
    assert_string_equal(app[A].last_body, "Messages-Waiting: no\r\n");
    assert_int_equal(sip_sub_count(pair[A].ua), 2);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 2);
    assert_true(
        sip_str_eq(sip_dialog_get_remote_tag(sip_sub_get_dialog(app[A].fork)), SIP_STR("fork2")));
    /* The first subscription goes on alone. */
    assert_int_equal(sip_sub_unsubscribe(s), 0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_state(app[A].fork), SIP_SUB_ACTIVE);
    assert_int_equal(sip_sub_count(pair[A].ua), 1);
    /* The fork's handle ends it too (its unsubscribe finds no notifier: 481 ends it). */
    assert_int_equal(sip_sub_unsubscribe(app[A].fork), 0);
    pair_advance(40000);
    assert_int_equal(sip_sub_get_state(app[A].fork), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_count(pair[A].ua), 0);
    sip_sub_unref(s);
    assert_int_equal(app[A].freed, 0); /* the fork shares the callback */
    sip_sub_unref(app[A].fork);
    app[A].fork = NULL;
    assert_int_equal(app[A].freed, 1);
    spy_off();
}

static void sub_no_notify_times_out(void **state)
{
    (void)state;
    app[B].accept = 0;
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_NOTIFY_WAIT);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    /* RFC 6665 §4.1.2.4: 64*T1 without a NOTIFY ends it. */
    pair_advance(31000);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_NOTIFY_WAIT);
    pair_advance(2000);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(s), 408);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    sip_sub_unref(s);
    pair_advance(40000);
}

static void sub_bad_event_489(void **state)
{
    (void)state;
    spy_on();
    sip_sub_t *s = subscribe("presence", 600);
    pair_advance(0);
    assert_null(app[B].sub);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(s), 489);
    assert_int_equal(app[A].last_response, 489);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(app[A].states[0], SIP_SUB_TERMINATED);
    sip_sub_unref(s);
    spy_off();
    pair_advance(40000);
}

static void sub_notifier_terminates_with_reason(void **state)
{
    (void)state;
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_int_equal(sip_sub_terminate(app[B].sub, "deactivated", 30, NULL), 0);
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_notify(app[B].sub, SIP_SUB_ACTIVE, NULL, NULL), SIP_ECLOSED);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_string_equal(sip_sub_get_reason(s), "deactivated");
    assert_int_equal(sip_sub_get_retry_after(s), 30);
    assert_int_equal(sip_sub_get_end_status(s), 200);
    assert_int_equal(app[B].last_response, 200); /* the final NOTIFY's */
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(s);
    pair_advance(40000);
}

static int drop_refresh(int from, const sip_msg_t *msg)
{
    return from == A && sip_msg_is_request(msg) &&
           sip_msg_get_method(msg) == SIP_METHOD_SUBSCRIBE && sip_msg_get_to(msg)->tag.len;
}

static void sub_notifier_expiry_timeout(void **state)
{
    (void)state;
    app[B].max_expires = 120; /* the notifier cuts the 600 asked */
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_int_equal(sip_sub_get_expires(s), 120);
    assert_int_equal(sip_sub_get_expires(app[B].sub), 120);
    pair_drop = drop_refresh;
    pair_advance(121 * 1000);
    /* RFC 6665 §4.2.2: not refreshed, the notifier ends it with reason timeout. */
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(app[B].sub), 408);
    assert_string_equal(sip_sub_get_reason(app[B].sub), "timeout");
    /* The subscriber's own clock ended it at the same time, or the NOTIFY did. */
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    pair_drop = NULL;
    sip_sub_unref(s);
    pair_advance(40000);
}

static void sub_subscriber_close_gets_481(void **state)
{
    (void)state;
    spy_on();
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    sip_sub_close(s);
    assert_int_equal(app[A].freed, 1);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    /* The notifier's next NOTIFY gets 481, which ends its side (RFC 6665 §4.2.2). */
    assert_int_equal(sip_sub_notify(app[B].sub, SIP_SUB_ACTIVE, MWI_BODY, NULL), 0);
    pair_advance(0);
    assert_int_equal(last_status(A), 481);
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(app[B].sub), 481);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(s);
    spy_off();
    pair_advance(40000);
}

static void sub_usages_route_requests(void **state)
{
    (void)state;
    spy_on();
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_non_null(spied_notify);
    /* A NOTIFY for another event in the dialog: no such subscription, 481. */
    sip_msg_t *m = NULL;
    pair_rebuild_request(&m, spied_notify, "NOTIFY", "dialog", 10);
    pair_inject(A, m);
    sip_msg_unref(m);
    assert_int_equal(last_status(A), 481);
    /* A BYE in a dialog with no INVITE usage (RFC 5057): 481, the subscription goes on. */
    pair_rebuild_request(&m, spied_notify, "BYE", NULL, 11);
    pair_inject(A, m);
    sip_msg_unref(m);
    assert_int_equal(last_status(A), 481);
    /* MESSAGE: 405. */
    pair_rebuild_request(&m, spied_notify, "MESSAGE", NULL, 12);
    pair_inject(A, m);
    sip_msg_unref(m);
    assert_int_equal(last_status(A), 405);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    sip_sub_unref(s);
    pair_advance(0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    spy_off();
    pair_advance(40000);
}

static void sub_inside_call_dialog(void **state)
{
    (void)state;
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    sip_call_t *c = NULL;
    assert_int_equal(
        sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &co, on_call_event, NULL, NULL),
        0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);

    /* A subscription as a second usage of the call's dialog (RFC 5057). */
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.event = "dialog";
    o.dialog = sip_call_get_dialog(c);
    sip_sub_t *s = NULL;
    assert_int_equal(sip_sub_subscribe(&s, pair[A].ua, NULL, &o, on_sub_event, &app[A], on_free),
                     0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    assert_non_null(app[B].sub);
    assert_ptr_equal(sip_sub_get_dialog(s), sip_call_get_dialog(c));
    assert_ptr_equal(sip_sub_get_dialog(app[B].sub), sip_call_get_dialog(app[B].call));
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 1);

    /* The call's requests still reach the call. */
    assert_int_equal(sip_call_send_dtmf(c, '5', 160), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);

    /* The subscription ends; the dialog and the call go on. */
    assert_int_equal(sip_sub_unsubscribe(s), 0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_dialog_get_state(sip_call_get_dialog(c)), SIP_DIALOG_CONFIRMED);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);

    /* A new subscription, then the call ends first: the subscription keeps the dialog. */
    sip_sub_t *s2 = NULL;
    assert_int_equal(sip_sub_subscribe(&s2, pair[A].ua, NULL, &o, on_sub_event, &app[A], on_free),
                     0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s2), SIP_SUB_ACTIVE);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 1);
    assert_int_equal(sip_sub_notify(app[B].sub, SIP_SUB_ACTIVE, "x", "text/plain"), 0);
    pair_advance(0);
    assert_string_equal(app[A].last_body, "x");
    assert_int_equal(sip_sub_terminate(app[B].sub, "noresource", -1, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s2), SIP_SUB_TERMINATED);
    assert_string_equal(sip_sub_get_reason(s2), "noresource");
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(s);
    sip_sub_unref(s2);
    sip_call_unref(c);
    pair_advance(40000);
}

static void sub_fetch_and_bad_args(void **state)
{
    (void)state;
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    sip_sub_t *s = NULL;
    /* No event: refused, user_free runs. */
    assert_int_equal(sip_sub_subscribe(&s, pair[A].ua, "sip:bob@127.0.0.1:5061", &o, on_sub_event,
                                       &app[A], on_free),
                     SIP_EINVAL);
    assert_null(s);
    assert_int_equal(app[A].freed, 1);
    assert_int_equal(sip_sub_notify(NULL, SIP_SUB_ACTIVE, NULL, NULL), SIP_EINVAL);
    /* Expires: 0 is a fetch: one NOTIFY, terminated (RFC 6665 §4.2.1.2). */
    s = subscribe("message-summary", 0);
    pair_advance(0);
    assert_int_equal(app[A].notifies, 1);
    assert_string_equal(app[A].last_body, MWI_BODY);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_state(app[B].sub), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_notify(s, SIP_SUB_ACTIVE, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_sub_unsubscribe(app[B].sub), SIP_EINVAL);
    assert_string_equal(sip_sub_state_name(SIP_SUB_ACTIVE), "Active");
    assert_string_equal(sip_sub_event_name(SIP_SUB_EVENT_NOTIFY), "notify");
    sip_sub_unref(s);
    pair_advance(40000);
}

static void sub_close_ua_with_live_subscriptions(void **state)
{
    (void)state;
    sip_sub_t *s = subscribe("message-summary", 600);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(s), SIP_SUB_ACTIVE);
    sip_ua_close(pair[A].ua);
    assert_int_equal(app[A].freed, 1);
    assert_int_equal(sip_sub_unsubscribe(s), SIP_ECLOSED);
    assert_null(sip_sub_get_ua(s));
    sip_ua_close(pair[B].ua);
    assert_int_equal(app[B].freed, 1);
    sip_sub_unref(s);
}

/* ---- REFER (RFC 3515) ------------------------------------------------------------------- */

static sip_call_t *call_a_to_b(void)
{
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    sip_call_t *c = NULL;
    assert_int_equal(
        sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &co, on_call_event, NULL, NULL),
        0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    return c;
}

static void refer_blind_transfer_in_call(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    /* A transfers B to a third party (A's own UA stands in for it). */
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.dialog = sip_call_get_dialog(c);
    o.headers = "Referred-By: <sip:alice@127.0.0.1>";
    sip_sub_t *r = NULL;
    assert_int_equal(sip_sub_refer(&r, pair[A].ua, NULL, "sip:carol@127.0.0.1:5060", &o,
                                   on_sub_event, &app[A], on_free),
                     0);
    assert_true(sip_str_eq(sip_sub_get_event(r), SIP_STR("refer")));
    char id[16];
    snprintf(id, sizeof(id), "%u", sip_dialog_get_local_cseq(sip_call_get_dialog(c)));
    assert_true(sip_str_eq(sip_sub_get_id(r), sip_str_from_cstr(id)));
    pair_advance(0);
    /* RFC 3515 §2.4.2, §2.4.4: 202, then a NOTIFY with 100 Trying in message/sipfrag. */
    assert_int_equal(app[A].last_response, 202);
    assert_non_null(app[B].refer);
    assert_string_equal(app[B].refer_to, "<sip:carol@127.0.0.1:5060>");
    assert_int_equal(app[A].notifies, 1);
    assert_string_equal(app[A].last_body, "SIP/2.0 100 Trying\r\n");
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_ACTIVE);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);

    /* B calls the target and reports how it goes. */
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    sip_call_t *nc = NULL;
    assert_int_equal(sip_call_invite(&nc, pair[B].ua, "sip:carol@127.0.0.1:5060", &co,
                                     on_call_event, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(app[A].invites, 1);
    assert_int_equal(sip_call_get_state(nc), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_sub_terminate(app[B].refer, "noresource", -1, "SIP/2.0 200 OK\r\n"), 0);
    pair_advance(0);
    assert_int_equal(app[A].notifies, 2);
    assert_string_equal(app[A].last_body, "SIP/2.0 200 OK\r\n");
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_string_equal(sip_sub_get_reason(r), "noresource");
    /* The transferred call goes on until the transferor hangs up. */
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_hangup(nc, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(r);
    sip_call_unref(c);
    sip_call_unref(nc);
    pair_advance(40000);
}

static void refer_rejected_and_out_of_dialog(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    app[B].refer_reject = 603;
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.dialog = sip_call_get_dialog(c);
    sip_sub_t *r = NULL;
    assert_int_equal(sip_sub_refer(&r, pair[A].ua, NULL, "sip:carol@127.0.0.1:5060", &o,
                                   on_sub_event, &app[A], on_free),
                     0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(r), 603);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    sip_sub_unref(r);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    sip_call_unref(c);

    /* Out of dialog: the REFER makes its own dialog; the first NOTIFY is the application's. */
    app[B].refer_reject = 0;
    app[B].refer_no_trying = 1;
    assert_int_equal(sip_sub_refer(&r, pair[A].ua, "sip:bob@127.0.0.1:5061",
                                   "sip:carol@127.0.0.1:5060?Replaces=x%40y%3Bto-tag%3D1", NULL,
                                   on_sub_event, &app[A], on_free),
                     0);
    pair_advance(0);
    assert_string_equal(app[B].refer_to, "<sip:carol@127.0.0.1:5060?Replaces=x%40y%3Bto-tag%3D1>");
    assert_string_equal(app[A].last_body, "SIP/2.0 180 Ringing\r\n");
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    assert_int_equal(sip_sub_terminate(app[B].refer, "noresource", -1, "SIP/2.0 486 Busy Here\r\n"),
                     0);
    pair_advance(0);
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_string_equal(app[A].last_body, "SIP/2.0 486 Busy Here\r\n");
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(r);
    assert_int_equal(
        sip_sub_refer(&r, pair[A].ua, "sip:bob@127.0.0.1:5061", "", NULL, NULL, NULL, NULL),
        SIP_EINVAL);
    assert_null(r);
    pair_advance(40000);
}

static void refer_without_subscription(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.dialog = sip_call_get_dialog(c);
    o.norefersub = 1;
    sip_sub_t *r = NULL;
    assert_int_equal(sip_sub_refer(&r, pair[A].ua, NULL, "sip:carol@127.0.0.1:5060", &o,
                                   on_sub_event, &app[A], on_free),
                     0);
    pair_advance(0);
    /* RFC 4488: 202 with Refer-Sub: false, and no NOTIFY on either side. */
    assert_int_equal(app[A].last_response, 202);
    assert_int_equal(app[A].notifies, 0);
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(r), 200);
    assert_non_null(app[B].refer);
    assert_int_equal(sip_sub_get_state(app[B].refer), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_notify(app[B].refer, SIP_SUB_ACTIVE, "x", NULL), SIP_ECLOSED);
    assert_int_equal(sip_sub_count(pair[A].ua), 0);
    assert_int_equal(sip_sub_count(pair[B].ua), 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(r);
    sip_call_unref(c);
    pair_advance(40000);
}

/* RFC 3891: an INVITE with Replaces naming a call of the recipient's: the new call replaces
 * it (attended transfer: the transferee's INVITE to the target; call pickup). */
static void replaces_ends_the_replaced_call(void **state)
{
    (void)state;
    sip_call_t *x = call_a_to_b();
    sip_dialog_t *dx = sip_call_get_dialog(x);
    /* B's new call to A names X with A's tag as to-tag (the recipient's view). */
    char hdr[512];
    sip_str_t cid = sip_dialog_get_call_id(dx), at = sip_dialog_get_local_tag(dx),
              bt = sip_dialog_get_remote_tag(dx);
    snprintf(hdr, sizeof(hdr), "Replaces: %.*s;to-tag=%.*s;from-tag=%.*s", (int)cid.len, cid.ptr,
             (int)at.len, at.ptr, (int)bt.len, bt.ptr);
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    co.headers = hdr;
    sip_call_t *y = NULL;
    assert_int_equal(
        sip_call_invite(&y, pair[B].ua, "sip:alice@127.0.0.1:5060", &co, on_call_event, NULL, NULL),
        0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(y), SIP_CALL_CONFIRMED);
    /* A hung X up once Y was confirmed; B's side of X ended with the BYE. */
    assert_int_equal(sip_call_get_state(x), SIP_CALL_ENDED);
    assert_true(sip_call_ended_locally(x));
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 200);
    assert_int_equal(sip_ua_call_count(pair[A].ua), 1);

    /* Replaces naming no call: 481. */
    sip_call_t *z = NULL;
    co.headers = "Replaces: nosuch@x;to-tag=1;from-tag=2";
    assert_int_equal(
        sip_call_invite(&z, pair[B].ua, "sip:alice@127.0.0.1:5060", &co, on_call_event, NULL, NULL),
        0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(z), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(z), 481);
    sip_call_unref(z);
    assert_int_equal(sip_call_hangup(y, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_ua_call_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_call_unref(x);
    sip_call_unref(y);
    pair_advance(40000);
}

static int drop_all(int from, const sip_msg_t *msg)
{
    (void)from;
    (void)msg;
    return 1;
}

/* Each allocation of sip_sub_subscribe() and sip_sub_refer() failing in turn: SIP_ENOMEM,
 * user_free once, nothing left (the harness counts), until the call succeeds. */
static void sub_allocation_failure_sweep(void **state)
{
    (void)state;
    pair_drop = drop_all; /* the wire's own copies are the test's, not the library's */
    for (int refer = 0; refer < 2; refer++) {
        int done = 0;
        for (long n = 1; n < 400 && !done; n++) {
            sip_sub_opts_t o;
            sip_sub_opts_init(&o);
            o.event = "message-summary";
            o.headers = "Referred-By: <sip:alice@127.0.0.1>";
            o.body = "x";
            app[A].freed = 0;
            sip_sub_t *s = NULL;
            test_alloc_fail_at(n);
            int rc = refer
                         ? sip_sub_refer(&s, pair[A].ua, "sip:bob@127.0.0.1:5061",
                                         "sip:carol@127.0.0.1", &o, on_sub_event, &app[A], on_free)
                         : sip_sub_subscribe(&s, pair[A].ua, "sip:bob@127.0.0.1:5061", &o,
                                             on_sub_event, &app[A], on_free);
            int failed = test_alloc_failed();
            test_alloc_fail_at(0);
            if (rc == 0) {
                sip_sub_close(s);
                sip_sub_unref(s);
                done = !failed;
            } else {
                assert_int_equal(rc, SIP_ENOMEM);
                assert_null(s);
            }
            assert_int_equal(app[A].freed, 1);
            pair_advance(40000);
        }
        assert_true(done);
    }
    pair_drop = NULL;
}

/* A SUBSCRIBE that times out while memory runs out, at each allocation in turn: when the UA
 * cannot make the 408 of the timeout, the subscription still ends (RFC 6665 §4.1.2.2) rather
 * than waiting for ever. */
static void sub_timeout_out_of_memory(void **state)
{
    for (long fail = 1; fail < 200; fail++) {
        pair_drop = drop_all;
        sip_sub_t *s = subscribe("message-summary", 600);
        pair_advance(31999);
        test_alloc_fail_at(fail);
        pair_advance(2); /* Timer F: 64*T1 after the SUBSCRIBE */
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        pair_advance(64000);
        assert_int_equal(sip_sub_get_state(s), SIP_SUB_TERMINATED);
        assert_int_equal(sip_sub_get_end_status(s), 408);
        sip_sub_unref(s);
        pair_drop = NULL;
        teardown(state);
        setup(state);
        if (!fired) break;
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(sub_subscribe_notify_refresh_unsubscribe),
        T(sub_notify_before_2xx),
        T(sub_forked_subscribe),
        T(sub_no_notify_times_out),
        T(sub_timeout_out_of_memory),
        T(sub_bad_event_489),
        T(sub_notifier_terminates_with_reason),
        T(sub_notifier_expiry_timeout),
        T(sub_subscriber_close_gets_481),
        T(sub_usages_route_requests),
        T(sub_inside_call_dialog),
        T(sub_fetch_and_bad_args),
        T(sub_close_ua_with_live_subscriptions),
        T(sub_allocation_failure_sweep),
        cmocka_unit_test_setup_teardown(refer_blind_transfer_in_call, setup_both, teardown),
        cmocka_unit_test_setup_teardown(refer_rejected_and_out_of_dialog, setup_both, teardown),
        cmocka_unit_test_setup_teardown(refer_without_subscription, setup_both, teardown),
        cmocka_unit_test_setup_teardown(replaces_ends_the_replaced_call, setup_both, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
