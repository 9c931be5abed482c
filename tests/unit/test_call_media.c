/* SPDX-License-Identifier: MIT */
/* Calls with the offer/answer engine (RFC 3264) on both sides, and forks: codec choice, hold
 * and resume, glare, late offers, 488, UPDATE, and a caller that gets two early dialogs and
 * two 2xx. Two UAs back to back in memory (support/ua_pair). */
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

#define CAPS_A                                                                                     \
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"                        \
    "a=fmtp:101 0-15\r\n"
#define CAPS_B                                                                                     \
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 5000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n"
#define CAPS_VIDEO                                                                                 \
    "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"

typedef struct app {
    int states, modified, last_modified, media, reinvites, accept_rc, freed;
    sip_call_t *call;
    const char *caps;
    int answer;
} app_t;

static app_t app[2];

static void on_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                     void *user)
{
    (void)call;
    (void)txn;
    app_t *a = user;
    if (ev == SIP_CALL_EVENT_STATE) a->states++;
    if (ev == SIP_CALL_EVENT_MEDIA) a->media++;
    if (ev == SIP_CALL_EVENT_REINVITE) a->reinvites++;
    if (ev == SIP_CALL_EVENT_MODIFIED) {
        a->modified++;
        a->last_modified = msg ? sip_msg_get_status(msg) : 0;
    }
}

static void on_free(void *user)
{
    ((app_t *)user)->freed++;
}

static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = a->caps;
    sip_call_t *c = NULL;
    a->accept_rc = sip_call_accept(&c, ua, txn, &o, on_event, a, on_free);
    if (a->accept_rc) return;
    if (a->answer) assert_int_equal(sip_call_answer(c, 200, NULL), 0);
    sip_call_unref(a->call);
    a->call = c;
}

static int setup(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    app[B].caps = CAPS_B;
    app[B].answer = 1;
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

static sip_call_t *invite(const char *caps, int late)
{
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = caps;
    o.late_offer = late;
    sip_call_t *c = NULL;
    assert_int_equal(
        sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", &o, on_event, &app[A], on_free),
        0);
    return c;
}

static int has(sip_str_t sdp, const char *needle)
{
    char buf[4096];
    if (sdp.len >= sizeof(buf)) return 0;
    memcpy(buf, sdp.ptr, sdp.len);
    buf[sdp.len] = '\0';
    return strstr(buf, needle) != NULL;
}

static void hangup_and_drain(sip_call_t *c)
{
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

static void media_codec_intersection(void **state)
{
    (void)state;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* B has PCMA and telephone-event (as 96): its answer uses A's numbers (RFC 3264 §6.1). */
    sip_str_t r = sip_call_get_remote_sdp(c);
    assert_true(has(r, "m=audio 5000 RTP/AVP 8 101"));
    assert_true(has(r, "a=rtpmap:101 telephone-event/8000"));
    assert_false(has(r, "PCMU"));
    assert_true(has(sip_call_get_local_sdp(c), "m=audio 4000"));
    assert_int_equal(app[A].media, 1);
    assert_int_equal(app[B].media, 1);
    assert_true(has(sip_call_get_remote_sdp(app[B].call), "m=audio 4000 RTP/AVP 0 8 101"));
    hangup_and_drain(c);
}

static void media_hold_and_resume(void **state)
{
    (void)state;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    assert_int_equal(sip_call_hold(c, 1), 0);
    pair_advance(0);
    assert_int_equal(app[A].modified, 1);
    assert_int_equal(app[A].last_modified, 200);
    assert_int_equal(app[B].reinvites, 1);
    assert_true(sip_call_is_remote_hold(app[B].call));
    assert_true(has(sip_call_get_local_sdp(c), "a=sendonly"));
    assert_true(has(sip_call_get_local_sdp(app[B].call), "a=recvonly"));
    assert_int_equal(sip_call_hold(c, 0), 0);
    pair_advance(0);
    assert_int_equal(app[A].modified, 2);
    assert_false(sip_call_is_remote_hold(app[B].call));
    hangup_and_drain(c);
}

static void media_glare_retried(void **state)
{
    (void)state;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    /* Both sides re-offer at once: each gets 491 (RFC 3261 §14.2) and tries again after
     * its §14.1 wait, the caller after 2.1-4 s, the callee within 2 s. */
    assert_int_equal(sip_call_hold(c, 1), 0);
    assert_int_equal(sip_call_hold(app[B].call, 1), 0);
    pair_advance(0);
    assert_int_equal(app[A].modified, 0);
    assert_int_equal(app[B].modified, 0);
    pair_advance(2050);
    assert_int_equal(app[B].modified, 1);
    assert_int_equal(app[B].last_modified, 200);
    assert_int_equal(app[A].modified, 0);
    pair_advance(2000);
    assert_int_equal(app[A].modified, 1);
    assert_int_equal(app[A].last_modified, 200);
    /* Both hold: each side's last offer is inactive or sendonly. */
    assert_true(sip_call_is_remote_hold(c));
    assert_true(sip_call_is_remote_hold(app[B].call));
    hangup_and_drain(c);
}

static void media_late_offer(void **state)
{
    (void)state;
    sip_call_t *c = invite(CAPS_A, 1);
    sip_msg_t *inv = sip_call_get_invite(c);
    assert_int_equal(sip_msg_get_body(inv).len, 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* The offer came in B's 2xx, A answered in the ACK. */
    assert_true(has(sip_call_get_remote_sdp(c), "m=audio 5000 RTP/AVP 8 96"));
    assert_true(has(sip_call_get_remote_sdp(app[B].call), "m=audio 4000 RTP/AVP 8 96"));
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

static void media_488_for_no_common_stream(void **state)
{
    (void)state;
    app[B].caps = CAPS_VIDEO;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    assert_int_equal(app[B].accept_rc, SIP_ENOTACCEPTABLE);
    assert_null(app[B].call);
    assert_int_equal(app[B].freed, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 488);
    sip_call_unref(c);
    pair_advance(60000);
}

static void media_update_reoffer(void **state)
{
    (void)state;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    int before = app[B].media;
    assert_int_equal(sip_call_update(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(app[A].modified, 1);
    assert_int_equal(app[A].last_modified, 200);
    assert_int_equal(app[B].media, before + 1);
    hangup_and_drain(c);
}

/* ---- forks: responses made by hand, as a forking proxy would relay them ---------------- */

static sip_msg_t *captured_invite;
static int acks, byes;
static int capture(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m)) return 0;
    sip_method_t me = sip_msg_get_method(m);
    if (me == SIP_METHOD_INVITE && !captured_invite) captured_invite = sip_msg_ref(m);
    if (me == SIP_METHOD_ACK) acks++;
    if (me == SIP_METHOD_BYE) byes++;
    return 1; /* nothing reaches B: the test answers */
}

static sip_msg_t *fork_response(int status, const char *tag, const char *contact, int sdp)
{
    sip_msg_t *r = NULL;
    assert_int_equal(sip_msg_create_response(&r, captured_invite, status, NULL, tag), 0);
    assert_int_equal(sip_msg_add_header(r, "Contact", contact), 0);
    if (sdp) {
        const char *ans = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";
        assert_int_equal(sip_msg_set_body(r, "application/sdp", ans, strlen(ans)), 0);
    }
    return r;
}

static void fork_two_early_dialogs_two_2xx(void **state)
{
    (void)state;
    captured_invite = NULL;
    acks = byes = 0;
    pair_drop = capture;
    sip_call_t *c = invite(CAPS_A, 0);
    pair_advance(0);
    assert_non_null(captured_invite);
    sip_msg_t *r1 = fork_response(180, "f1", "<sip:bob@127.0.0.1:5061>", 0);
    sip_msg_t *r2 = fork_response(183, "f2", "<sip:bob2@127.0.0.1:5061>", 1);
    pair_inject(A, r1);
    pair_inject(A, r2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    /* Two early dialogs, one per To tag; the 183's answer is its fork's own. */
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 2);
    assert_int_equal(app[A].media, 1);
    sip_msg_t *ok2 = fork_response(200, "f2", "<sip:bob2@127.0.0.1:5061>", 1);
    sip_msg_t *ok1 = fork_response(200, "f1", "<sip:bob@127.0.0.1:5061>", 1);
    pair_inject(A, ok2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(acks, 1);
    sip_str_t tag = sip_dialog_get_remote_tag(sip_call_get_dialog(c));
    assert_true(sip_str_eq(tag, sip_str_from_cstr("f2")));
    /* The other fork's 2xx: its own ACK, then a BYE (RFC 3261 §13.2.2.4). */
    pair_inject(A, ok1);
    assert_int_equal(acks, 2);
    assert_int_equal(byes, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* The kept fork's 2xx again: the same ACK again, no BYE. */
    pair_inject(A, ok2);
    assert_int_equal(acks, 3);
    assert_int_equal(byes, 1);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 1);
    sip_msg_unref(r1);
    sip_msg_unref(r2);
    sip_msg_unref(ok1);
    sip_msg_unref(ok2);
    sip_msg_unref(captured_invite);
    captured_invite = NULL;
    hangup_and_drain(c);
    pair_drop = NULL;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(media_codec_intersection),
        T(media_hold_and_resume),
        T(media_glare_retried),
        T(media_late_offer),
        T(media_488_for_no_common_stream),
        T(media_update_reoffer),
        T(fork_two_early_dialogs_two_2xx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
