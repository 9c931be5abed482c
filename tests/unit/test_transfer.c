/* SPDX-License-Identifier: MIT */
/* The transferee's side of a transfer (sip_call_accept_transfer(): RFC 3515, RFC 5589) between
 * two user agents in memory: A is the transferor and, under another user name, the transfer
 * target; B is the transferee and follows each REFER with the one call. */
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

typedef struct app {
    /* A: the NOTIFY bodies of its REFER, in order, and the INVITEs it took. */
    char bodies[8][64];
    int nbodies;
    int invites;
    int target_status;     /* A: answer the new call with this (0: 180 then 200) */
    char referred_by[128]; /* A: the Referred-By of the last INVITE */
    char replaces[160];    /* A: its Replaces */
    sip_call_t *calls[4];  /* A: the calls it answered; B: the calls it placed */
    int ncalls;
    sip_call_t *incoming;    /* B: the call A placed to it */
    sip_call_t *transferred; /* B: the call sip_call_accept_transfer() placed */
    int transfer_rc;
    int freed;
} app_t;

static app_t app[2];

/* The allocation-failure sweep: fail this allocation of sip_call_accept_transfer() (0: none). */
static long sweep_n;
static int sweep_failed;

static int drop_all(int from, const sip_msg_t *msg)
{
    (void)from;
    (void)msg;
    return 1;
}

static void on_free(void *user)
{
    ((app_t *)user)->freed++;
}

static void on_refer_event(sip_sub_t *sub, sip_sub_event_t ev, sip_msg_t *msg, void *user)
{
    (void)sub;
    app_t *a = user;
    if (ev == SIP_SUB_EVENT_NOTIFY && a->nbodies < 8) {
        sip_str_t b = sip_msg_get_body(msg);
        snprintf(a->bodies[a->nbodies++], sizeof(a->bodies[0]), "%.*s", (int)b.len, b.ptr);
    }
}

static void on_call_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    app_t *a = user;
    if (ev != SIP_CALL_EVENT_REQUEST) return;
    if (a == &app[B] && sip_msg_get_method(msg) == SIP_METHOD_REFER) {
        /* The whole of the transferee's work. */
        sip_call_opts_t co;
        sip_call_opts_init(&co);
        co.sdp = "v=0\r\n";
        sip_call_unref(a->transferred);
        a->transferred = NULL;
        if (sweep_n) {
            /* The wire's own copies are the test's, not the library's. */
            pair_drop = drop_all;
            test_alloc_fail_at(sweep_n);
        }
        a->transfer_rc =
            sip_call_accept_transfer(&a->transferred, call, txn, &co, NULL, a, on_free);
        if (sweep_n) {
            sweep_failed = test_alloc_failed();
            test_alloc_fail_at(0);
            pair_drop = NULL;
        }
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

static void copy_header(char *buf, size_t size, const sip_msg_t *m, const char *name)
{
    const sip_header_t *h = sip_msg_header_by_name(m, name, 0);
    sip_str_t v = h ? sip_header_get_value(h) : (sip_str_t){"", 0};
    snprintf(buf, size, "%.*s", (int)v.len, v.ptr);
}

static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        return;
    }
    a->invites++;
    copy_header(a->referred_by, sizeof(a->referred_by), req, "Referred-By");
    copy_header(a->replaces, sizeof(a->replaces), req, "Replaces");
    sip_call_t *c = NULL;
    int rc = sip_call_accept(&c, ua, txn, NULL, on_call_event, a, NULL);
    if (rc == SIP_ENOTACCEPTABLE) return; /* answered by the call (Replaces: 481) */
    assert_int_equal(rc, 0);
    if (a == &app[B]) {
        assert_null(a->incoming);
        a->incoming = c;
        assert_int_equal(sip_call_answer(c, 200, "v=0\r\n"), 0);
        return;
    }
    if (a->target_status >= 300) {
        assert_int_equal(sip_call_reject(c, a->target_status, NULL), 0);
        sip_call_unref(c);
        return;
    }
    assert_true(a->ncalls < 4);
    a->calls[a->ncalls++] = c;
    if (a->target_status == 180) {
        assert_int_equal(sip_call_ring(c, 180, NULL), 0); /* and never answers */
    } else {
        assert_int_equal(sip_call_ring(c, 180, NULL), 0);
        assert_int_equal(sip_call_answer(c, 200, "v=0\r\n"), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    sip_ua_opts_t o;
    sip_ua_opts_init(&o);
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
        for (int k = 0; k < app[i].ncalls; k++)
            sip_call_unref(app[i].calls[k]);
        sip_call_unref(app[i].incoming);
        sip_call_unref(app[i].transferred);
    }
    pair_advance(40000);
    pair_teardown();
    return 0;
}

/* A calls B: the call to transfer. No session timer: the sweep below runs for longer than a
 * session interval, and what it checks is the transfer. */
static sip_call_t *call_a_to_b(void)
{
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    co.session_timer = SIP_CALL_TIMER_OFF;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &co, on_call_event,
                                     &app[A], NULL),
                     0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_non_null(app[B].incoming);
    return c;
}

static sip_sub_t *refer(sip_call_t *c, const char *refer_to, int norefersub)
{
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.dialog = sip_call_get_dialog(c);
    o.headers = "Referred-By: <sip:alice@127.0.0.1>";
    o.norefersub = norefersub;
    sip_sub_t *r = NULL;
    assert_int_equal(
        sip_sub_refer(&r, pair[A].ua, NULL, refer_to, &o, on_refer_event, &app[A], NULL), 0);
    pair_advance(0);
    return r;
}

/* Blind transfer (RFC 5589 §6.1): 202, NOTIFYs 100, 180 and the final 200 that terminates the
 * subscription; the new call carries Referred-By; the transferor does not hang up, so B ends
 * the old call 64*T1 later. */
static void transfer_blind(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    sip_sub_t *r = refer(c, "sip:carol@127.0.0.1:5060", 0);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_non_null(app[B].transferred);
    assert_int_equal(app[A].invites, 1);
    assert_string_equal(app[A].referred_by, "<sip:alice@127.0.0.1>");
    assert_string_equal(app[A].replaces, "");
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].nbodies, 3);
    assert_string_equal(app[A].bodies[0], "SIP/2.0 100 Trying\r\n");
    assert_string_equal(app[A].bodies[1], "SIP/2.0 180 Ringing\r\n");
    assert_string_equal(app[A].bodies[2], "SIP/2.0 200 OK\r\n");
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_string_equal(sip_sub_get_reason(r), "noresource");
    /* The old call is left to the transferor for a while... */
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    pair_advance(20000);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* ...then the transferee ends it (RFC 5589 §6.1). */
    pair_advance(20000);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_false(sip_call_ended_locally(c));
    assert_int_equal(sip_call_get_state(app[B].incoming), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_hangup(app[B].transferred, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(r);
    sip_call_unref(c);
    sip_call_unref(app[B].transferred);
    app[B].transferred = NULL;
    pair_advance(0);
    assert_int_equal(app[B].freed, 1);
}

/* Attended transfer (RFC 5589 §7): the REFER names the consultation call with Replaces; the
 * new call carries it and the target ends the consultation call; the transferor hangs up the
 * first call after the final NOTIFY, before the transferee would. */
static void transfer_attended(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    /* The consultation call: B's UA answers for the transferee, A's for the target. */
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    co.sdp = "v=0\r\n";
    sip_call_t *consult = NULL;
    assert_int_equal(sip_call_invite(&consult, pair[B].ua, "sip:carol@127.0.0.1:5060", &co,
                                     on_call_event, &app[B], NULL),
                     0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(consult), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].ncalls, 1);
    sip_dialog_t *d = sip_call_get_dialog(app[A].calls[0]);
    sip_str_t id = sip_dialog_get_call_id(d), lt = sip_dialog_get_local_tag(d),
              rt = sip_dialog_get_remote_tag(d);
    char uri[400], rep[200];
    snprintf(rep, sizeof(rep), "%.*s;to-tag=%.*s;from-tag=%.*s", (int)id.len, id.ptr, (int)lt.len,
             lt.ptr, (int)rt.len, rt.ptr);
    int n = snprintf(uri, sizeof(uri), "<sip:carol@127.0.0.1:5060?Replaces=");
    for (const char *p = rep; *p; p++)
        n += snprintf(uri + n, sizeof(uri) - (size_t)n,
                      (*p == ';' || *p == '=' || *p == '@') ? "%%%02X" : "%c", (unsigned char)*p);
    snprintf(uri + n, sizeof(uri) - (size_t)n, ">");

    sip_sub_t *r = refer(c, uri, 0);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_string_equal(app[A].replaces, rep);
    assert_int_equal(app[A].ncalls, 2);
    /* The target's UA ended the consultation call once the new one replaced it. */
    assert_int_equal(sip_call_get_state(consult), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].nbodies, 3);
    assert_string_equal(app[A].bodies[2], "SIP/2.0 200 OK\r\n");
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    /* The transferor ends the first call itself (RFC 5589 §7.1). */
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(app[B].incoming), SIP_CALL_ENDED);
    pair_advance(40000); /* nothing more to end for the transferee */
    assert_int_equal(sip_call_hangup(app[B].transferred, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 0);
    assert_int_equal(sip_ua_dialog_count(pair[B].ua), 0);
    sip_sub_unref(r);
    sip_call_unref(c);
    sip_call_unref(consult);
}

/* A busy target: the final NOTIFY says 486 and the old call stays (RFC 5589 §6.2). A Replaces
 * naming no call of the target: 481 from the target's call layer, reported the same way. */
static void transfer_busy_and_unknown_replaces(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    app[A].target_status = 486;
    sip_sub_t *r = refer(c, "sip:carol@127.0.0.1:5060", 0);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_ENDED);
    assert_int_equal(app[A].nbodies, 2);
    assert_string_equal(app[A].bodies[0], "SIP/2.0 100 Trying\r\n");
    assert_string_equal(app[A].bodies[1], "SIP/2.0 486 Busy Here\r\n");
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    sip_sub_unref(r);
    pair_advance(40000);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);

    app[A].target_status = 0;
    app[A].nbodies = 0;
    r = refer(c, "<sip:carol@127.0.0.1:5060?Replaces=nope%3Bto-tag%3D1%3Bfrom-tag%3D2>", 0);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_string_equal(app[A].replaces, "nope;to-tag=1;from-tag=2");
    assert_int_equal(app[A].nbodies, 2);
    assert_string_equal(app[A].bodies[1], "SIP/2.0 481 Call/Transaction Does Not Exist\r\n");
    sip_sub_unref(r);
    pair_advance(40000);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    sip_call_unref(c);
}

/* norefersub (RFC 4488): 202 with Refer-Sub: false, the new call placed, no NOTIFY. */
static void transfer_norefersub(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    sip_sub_t *r = refer(c, "sip:carol@127.0.0.1:5060", 1);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(r), 200);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].nbodies, 0);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_hangup(app[B].transferred, NULL), 0);
    pair_advance(0);
    sip_sub_unref(r);
    sip_call_unref(c);
}

/* A Refer-To that is not a SIP URI gets 416 (RFC 3515 §2.4.2, RFC 3261 §8.2.2.1); bad
 * arguments fail with SIP_EINVAL and run user_free. */
static void transfer_refused_and_bad_args(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    sip_sub_t *r = refer(c, "http://example.com/carol", 0);
    assert_int_equal(app[B].transfer_rc, SIP_ENOTACCEPTABLE);
    assert_null(app[B].transferred);
    assert_int_equal(app[B].freed, 1);
    assert_int_equal(sip_sub_get_state(r), SIP_SUB_TERMINATED);
    assert_int_equal(sip_sub_get_end_status(r), 416);
    assert_int_equal(app[A].invites, 0);
    sip_sub_unref(r);
    /* An escaped line break in a Refer-To header would add headers of its own: 400. */
    r = refer(c, "<sip:carol@127.0.0.1:5060?Replaces=a%0D%0AX-Evil%3A%201>", 0);
    assert_int_equal(app[B].transfer_rc, SIP_ENOTACCEPTABLE);
    assert_int_equal(sip_sub_get_end_status(r), 400);
    assert_int_equal(app[B].freed, 2);
    sip_sub_unref(r);
    r = refer(c, "<sip:carol@127.0.0.1:5060?X%3AY=1>", 0);
    assert_int_equal(app[B].transfer_rc, SIP_ENOTACCEPTABLE);
    assert_int_equal(sip_sub_get_end_status(r), 400);
    assert_int_equal(app[A].invites, 0);
    sip_sub_unref(r);
    app[B].freed = 1;

    sip_call_t *out = (sip_call_t *)1;
    assert_int_equal(sip_call_accept_transfer(&out, NULL, NULL, NULL, NULL, &app[B], on_free),
                     SIP_EINVAL);
    assert_null(out);
    assert_int_equal(app[B].freed, 2);
    assert_int_equal(sip_call_accept_transfer(NULL, c, NULL, NULL, NULL, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    sip_call_unref(c);
}

/* The transferee's UA closes while the new call rings: the new call, the subscription and the
 * transfer go without a callback; user_free runs once. */
static void transfer_ua_closes(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    app[A].target_status = 180;
    sip_sub_t *r = refer(c, "sip:carol@127.0.0.1:5060", 0);
    assert_int_equal(app[B].transfer_rc, 0);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_EARLY);
    assert_int_equal(app[A].nbodies, 2);
    assert_string_equal(app[A].bodies[1], "SIP/2.0 180 Ringing\r\n");
    sip_ua_close(pair[B].ua);
    assert_int_equal(app[B].freed, 1);
    assert_int_equal(sip_call_get_state(app[B].transferred), SIP_CALL_ENDED);
    sip_sub_close(r);
    sip_sub_unref(r);
    sip_call_hangup(c, NULL);
    sip_call_unref(c);
}

/* Each allocation of sip_call_accept_transfer() failing in turn: SIP_ENOMEM (the REFER then
 * answered 500 by the call, or its failure reported), user_free run once, nothing left. */
static void transfer_allocation_failure_sweep(void **state)
{
    (void)state;
    sip_call_t *c = call_a_to_b();
    app[A].target_status = 486; /* a new call that gets through is refused */
    int done = 0;
    for (sweep_n = 1; sweep_n < 400 && !done; sweep_n++) {
        app[B].freed = 0;
        sip_sub_opts_t o;
        sip_sub_opts_init(&o);
        o.dialog = sip_call_get_dialog(c);
        sip_sub_t *r = NULL;
        assert_int_equal(
            sip_sub_refer(&r, pair[A].ua, NULL, "sip:carol@127.0.0.1:5060", &o, NULL, NULL, NULL),
            0);
        pair_advance(0);
        if (app[B].transfer_rc == 0) {
            assert_non_null(app[B].transferred);
            done = !sweep_failed;
            sip_call_unref(app[B].transferred);
            app[B].transferred = NULL;
        } else {
            assert_int_equal(app[B].transfer_rc, SIP_ENOMEM);
            assert_null(app[B].transferred);
            assert_int_equal(app[B].freed, 1);
        }
        sip_sub_close(r);
        sip_sub_unref(r);
        pair_advance(40000);
        pair_advance(40000);
        assert_int_equal(app[B].freed, 1);
        assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    }
    sweep_n = 0;
    assert_true(done);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    sip_call_unref(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(transfer_blind),
        T(transfer_attended),
        T(transfer_busy_and_unknown_replaces),
        T(transfer_norefersub),
        T(transfer_refused_and_bad_args),
        T(transfer_ua_closes),
        T(transfer_allocation_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
