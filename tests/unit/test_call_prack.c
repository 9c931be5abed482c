/* SPDX-License-Identifier: MIT */
/* Reliable provisional responses in calls (RFC 3262): RSeq retransmission until the PRACK, a
 * 183 with SDP that holds the 2xx, a fork ladder where each fork gets its own PRACK, and 420.
 * Two UAs back to back in memory (support/ua_pair). */
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
    "m=audio 4000 RTP/AVP 0 8\r\n"
#define CAPS_B                                                                                     \
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 5000 RTP/AVP 8\r\n"

typedef struct app {
    int responses[16], nresponses, media, accept_rc, freed;
    sip_call_t *call;
    sip_call_opts_t opts; /* B: the options of incoming calls */
    int ring, answer;     /* B: what to do at once (0: nothing) */
} app_t;

static app_t app[2];

static void on_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                     void *user)
{
    (void)call;
    (void)txn;
    app_t *a = user;
    if (ev == SIP_CALL_EVENT_RESPONSE && a->nresponses < 16)
        a->responses[a->nresponses++] = sip_msg_get_status(msg);
    if (ev == SIP_CALL_EVENT_MEDIA) a->media++;
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
    if (a->ring) assert_int_equal(sip_call_ring(c, a->ring, NULL), 0);
    if (a->answer) assert_int_equal(sip_call_answer(c, a->answer, NULL), 0);
    sip_call_unref(a->call);
    a->call = c;
}

/* What each side sent: counted by method or status, and the last PRACK's RAck. */
static int sent_req[2][32], sent_rsp[2][700];
static char last_rack[64];
static int dropping_prack;
static int prack_200_sdp; /* 2xx to a PRACK with a body */

static void spy(int from, const sip_msg_t *m)
{
    if (sip_msg_is_request(m)) {
        sip_method_t me = sip_msg_get_method(m);
        if ((int)me < 32) sent_req[from][me]++;
        const sip_header_t *h = sip_msg_header_by_name(m, "RAck", 0);
        if (me == SIP_METHOD_PRACK && h) {
            sip_str_t v = sip_header_get_value(h);
            snprintf(last_rack, sizeof(last_rack), "%.*s", (int)v.len, v.ptr);
        }
    } else {
        sent_rsp[from][sip_msg_get_status(m)]++;
        const sip_cseq_t *cs = sip_msg_get_cseq(m);
        if (cs && cs->method == SIP_METHOD_PRACK && sip_msg_get_body(m).len) prack_200_sdp++;
    }
}

static int drop_prack(int from, const sip_msg_t *m)
{
    return dropping_prack && from == A && sip_msg_is_request(m) &&
           sip_msg_get_method(m) == SIP_METHOD_PRACK;
}

static int setup(void **state)
{
    (void)state;
    memset(app, 0, sizeof(app));
    memset(sent_req, 0, sizeof(sent_req));
    memset(sent_rsp, 0, sizeof(sent_rsp));
    last_rack[0] = '\0';
    dropping_prack = 0;
    prack_200_sdp = 0;
    sip_call_opts_init(&app[B].opts);
    app[B].opts.sdp = "v=0\r\n";
    sip_ua_request_cb cbs[2] = {NULL, on_ua_request};
    void *users[2] = {&app[A], &app[B]};
    pair_setup(NULL, cbs, users);
    pair_spy = spy;
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

static sip_call_t *invite(const sip_call_opts_t *o)
{
    sip_call_opts_t def;
    if (!o) {
        sip_call_opts_init(&def);
        def.sdp = "v=0\r\n";
        o = &def;
    }
    sip_call_t *c = NULL;
    assert_int_equal(
        sip_call_invite(&c, pair[A].ua, "sip:bob@127.0.0.1:5061", o, on_event, &app[A], on_free),
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

static int has_header(const sip_msg_t *m, const char *name, const char *value)
{
    for (size_t i = 0;; i++) {
        const sip_header_t *h = sip_msg_header_by_name(m, name, i);
        if (!h) return 0;
        if (!value || sip_str_caseeq_cstr(sip_header_get_value(h), value)) return 1;
    }
}

static void prack_reliable_180_sent_again_until_prack(void **state)
{
    (void)state;
    app[B].ring = 180;
    pair_drop = drop_prack;
    dropping_prack = 1;
    sip_call_t *c = invite(NULL);
    /* The INVITE offers 100rel (the default). */
    assert_true(has_header(sip_call_get_invite(c), "Supported", "100rel"));
    pair_advance(0);
    assert_int_equal(sent_rsp[B][180], 1);
    assert_int_equal(sent_req[A][SIP_METHOD_PRACK], 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    /* RFC 3262 §3: with no PRACK the 180 goes again at T1, 2*T1 ...; the application hears it
     * once (§4: retransmissions are discarded), the PRACK's own transaction repeats it. */
    pair_advance(2000);
    assert_true(sent_rsp[B][180] >= 3);
    assert_int_equal(app[A].nresponses, 1);
    assert_int_equal(app[A].responses[0], 180);
    assert_true(sent_req[A][SIP_METHOD_PRACK] >= 2);
    /* RAck: RSeq, the INVITE's CSeq number and method (§7.2). */
    assert_non_null(strstr(last_rack, " 1 INVITE"));
    /* The PRACK gets through: 200, and the 180 stops. */
    dropping_prack = 0;
    pair_advance(4000);
    assert_int_equal(sent_rsp[B][200], 1);
    int n180 = sent_rsp[B][180];
    pair_advance(30000);
    assert_int_equal(sent_rsp[B][180], n180);
    assert_int_equal(app[A].nresponses, 1);
    assert_int_equal(sip_call_answer(app[B].call, 200, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    pair_drop = NULL;
    hangup_and_drain(c);
}

static void prack_never_comes_fails_the_invite(void **state)
{
    (void)state;
    app[B].ring = 180;
    pair_drop = drop_prack;
    dropping_prack = 1;
    sip_call_t *c = invite(NULL);
    pair_advance(0);
    /* RFC 3262 §3: 64*T1 without PRACK: the INVITE is answered 5xx and the call ends. */
    pair_advance(64 * 500 + 1000);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(app[B].call), 500);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 500);
    pair_drop = NULL;
    sip_call_unref(c);
    pair_advance(60000);
}

static void prack_183_with_sdp_holds_the_2xx(void **state)
{
    (void)state;
    app[B].opts.sdp = NULL;
    app[B].opts.media = CAPS_B;
    app[B].ring = 183;
    app[B].answer = 200;
    pair_drop = drop_prack;
    dropping_prack = 1;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = CAPS_A;
    sip_call_t *c = invite(&o);
    pair_advance(0);
    /* The 183 carries the answer reliably; the 2xx waits for its PRACK (§3). */
    assert_int_equal(sent_rsp[B][183], 1);
    assert_int_equal(sent_rsp[B][200], 0);
    assert_int_equal(app[A].media, 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    dropping_prack = 0;
    pair_advance(1000);
    /* The PRACK's 200, then the INVITE's. */
    assert_int_equal(sent_rsp[B][200], 2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    /* The same answer: no second exchange at A. */
    assert_int_equal(app[A].media, 1);
    pair_drop = NULL;
    hangup_and_drain(c);
}

static void prack_second_reliable_1xx_waits(void **state)
{
    (void)state;
    app[B].ring = 180;
    pair_drop = drop_prack;
    dropping_prack = 1;
    sip_call_t *c = invite(NULL);
    pair_advance(0);
    /* §3: one reliable provisional outstanding at a time: the 183 waits for the 180's PRACK. */
    assert_int_equal(sip_call_ring(app[B].call, 183, NULL), 0);
    pair_advance(0);
    assert_int_equal(sent_rsp[B][183], 0);
    dropping_prack = 0;
    pair_advance(1000);
    assert_int_equal(sent_rsp[B][183], 1);
    assert_int_equal(app[A].nresponses, 2);
    assert_int_equal(app[A].responses[1], 183);
    assert_non_null(strstr(last_rack, " 1 INVITE"));
    /* A 182 goes (its PRACK lost), a 181 is queued behind it, then the 2xx overtakes the
     * 181 (the 182 carries no SDP, so the 2xx need not wait): the 181 never goes. */
    dropping_prack = 1;
    assert_int_equal(sip_call_ring(app[B].call, 182, NULL), 0);
    assert_int_equal(sip_call_ring(app[B].call, 181, NULL), 0);
    assert_int_equal(sip_call_answer(app[B].call, 200, NULL), 0);
    pair_advance(0);
    assert_int_equal(sent_rsp[B][182], 1);
    assert_int_equal(sent_rsp[B][181], 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    dropping_prack = 0;
    pair_drop = NULL;
    hangup_and_drain(c);
}

static void prack_420_when_required_and_off(void **state)
{
    (void)state;
    app[B].opts.rel100 = SIP_CALL_100REL_OFF;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = "v=0\r\n";
    o.rel100 = SIP_CALL_100REL_REQUIRED;
    sip_call_t *c = invite(&o);
    assert_true(has_header(sip_call_get_invite(c), "Require", "100rel"));
    pair_advance(0);
    assert_int_equal(app[B].accept_rc, SIP_ENOTACCEPTABLE);
    assert_int_equal(app[B].freed, 1);
    assert_int_equal(sent_rsp[B][420], 1);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 420);
    sip_call_unref(c);
    pair_advance(60000);
}

static void prack_off_sends_plain_1xx(void **state)
{
    (void)state;
    app[B].opts.rel100 = SIP_CALL_100REL_OFF;
    app[B].ring = 180;
    app[B].answer = 200;
    sip_call_t *c = invite(NULL);
    pair_advance(0);
    assert_int_equal(sent_req[A][SIP_METHOD_PRACK], 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

static void prack_off_at_the_caller_lists_no_100rel(void **state)
{
    (void)state;
    app[B].ring = 180;
    app[B].answer = 200;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = "v=0\r\n";
    o.rel100 = SIP_CALL_100REL_OFF;
    o.session_timer = SIP_CALL_TIMER_OFF;
    sip_call_t *c = invite(&o);
    /* The UA's Supported says "100rel, timer"; a call with both off lists neither. */
    assert_false(has_header(sip_call_get_invite(c), "Supported", "100rel"));
    assert_false(has_header(sip_call_get_invite(c), "Supported", "timer"));
    assert_false(has_header(sip_call_get_invite(c), "Session-Expires", NULL));
    pair_advance(0);
    /* So B's 180 goes unreliably: no PRACK. */
    assert_int_equal(sent_req[A][SIP_METHOD_PRACK], 0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

static void prack_with_a_new_offer_answered_in_its_200(void **state)
{
    (void)state;
    app[B].opts.sdp = NULL;
    app[B].opts.media = CAPS_B;
    app[B].ring = 180;
    pair_drop = drop_prack;
    dropping_prack = 1;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = CAPS_A;
    o.late_offer = 1;
    sip_call_t *c = invite(&o);
    pair_advance(0);
    assert_int_equal(sent_rsp[B][180], 1);
    /* RFC 3262 §5: a PRACK may carry a new offer (the INVITE had none, the 180 no SDP); B's
     * engine answers it in the PRACK's 200. The PRACK is made here, in A's early dialog. */
    sip_msg_t *prack = NULL;
    assert_int_equal(sip_dialog_create_request(&prack, sip_call_get_dialog(c), "PRACK"), 0);
    assert_int_equal(
        sip_msg_prepend_header(prack, "Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKprack77"),
        0);
    assert_int_equal(sip_msg_add_header(prack, "RAck", last_rack), 0);
    assert_int_equal(sip_msg_set_body(prack, "application/sdp", CAPS_A, strlen(CAPS_A)), 0);
    pair_inject(B, prack);
    sip_msg_unref(prack);
    pair_advance(0);
    assert_int_equal(prack_200_sdp, 1);
    assert_int_equal(app[B].media, 1);
    assert_non_null(strstr(sip_call_get_remote_sdp(app[B].call).ptr, "m=audio 4000"));
    /* The same RAck again: nothing unacknowledged matches any more (§3: 481). */
    assert_int_equal(sip_dialog_create_request(&prack, sip_call_get_dialog(c), "PRACK"), 0);
    assert_int_equal(
        sip_msg_prepend_header(prack, "Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKprack78"),
        0);
    assert_int_equal(sip_msg_add_header(prack, "RAck", last_rack), 0);
    pair_inject(B, prack);
    sip_msg_unref(prack);
    pair_advance(0);
    assert_int_equal(sent_rsp[B][481], 1);
    pair_drop = NULL;
    hangup_and_drain(c);
}

static void prack_offer_in_a_reliable_183_both_sides(void **state)
{
    (void)state;
    app[B].opts.sdp = NULL;
    app[B].opts.media = CAPS_B;
    app[B].ring = 183;
    app[B].answer = 200;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = CAPS_A;
    o.late_offer = 1;
    sip_call_t *c = invite(&o);
    pair_advance(0);
    /* B's engine offers in the reliable 183, A's answers in the PRACK (§5); the 2xx waited for
     * that PRACK and carries no SDP: the exchange is done. */
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(sip_call_get_state(app[B].call), SIP_CALL_CONFIRMED);
    assert_int_equal(app[A].media, 1);
    assert_int_equal(app[B].media, 1);
    assert_non_null(strstr(sip_call_get_remote_sdp(c).ptr, "m=audio 5000"));
    assert_non_null(strstr(sip_call_get_remote_sdp(app[B].call).ptr, "m=audio 4000"));
    /* The session goes on: a re-INVITE from A works on it. */
    assert_int_equal(sip_call_reinvite(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    hangup_and_drain(c);
}

/* ---- a fork ladder: responses made by hand, as a forking proxy would relay them ------------ */

static sip_msg_t *captured_invite;
static int acks, byes;
static char prack_of[8][64]; /* "tag RAck" of each PRACK A sent */
static int npracks;
static uint32_t bye_cseq, prack_cseq_f1;
static int prack_with_sdp;

static int capture(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m)) return 0;
    sip_method_t me = sip_msg_get_method(m);
    if (me == SIP_METHOD_INVITE && !captured_invite) captured_invite = sip_msg_ref(m);
    if (me == SIP_METHOD_ACK) acks++;
    if (me == SIP_METHOD_BYE) {
        byes++;
        bye_cseq = sip_msg_get_cseq(m)->seq;
    }
    if (me == SIP_METHOD_PRACK && npracks < 8) {
        const sip_header_t *h = sip_msg_header_by_name(m, "RAck", 0);
        sip_str_t tag = sip_msg_get_to(m)->tag;
        sip_str_t v = sip_header_get_value(h);
        /* Retransmissions of one PRACK are counted once. */
        char s[64];
        snprintf(s, sizeof(s), "%.*s %.*s", (int)tag.len, tag.ptr, (int)v.len, v.ptr);
        int dup = 0;
        for (int i = 0; i < npracks; i++)
            dup |= !strcmp(prack_of[i], s);
        if (!dup) strcpy(prack_of[npracks++], s);
        if (sip_msg_get_body(m).len) prack_with_sdp++;
        if (tag.len == 2 && !memcmp(tag.ptr, "f1", 2)) prack_cseq_f1 = sip_msg_get_cseq(m)->seq;
    }
    return 1; /* nothing reaches B: the test answers */
}

static sip_msg_t *fork_response(int status, const char *tag, const char *contact, int sdp,
                                uint32_t rseq)
{
    sip_msg_t *r = NULL;
    assert_int_equal(sip_msg_create_response(&r, captured_invite, status, NULL, tag), 0);
    assert_int_equal(sip_msg_add_header(r, "Contact", contact), 0);
    if (rseq) {
        char v[16];
        snprintf(v, sizeof(v), "%u", rseq);
        assert_int_equal(sip_msg_add_header(r, "Require", "100rel"), 0);
        assert_int_equal(sip_msg_add_header(r, "RSeq", v), 0);
    }
    if (sdp) {
        const char *ans = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";
        assert_int_equal(sip_msg_set_body(r, "application/sdp", ans, strlen(ans)), 0);
    }
    return r;
}

static void inject(sip_msg_t *r)
{
    pair_inject(A, r);
    sip_msg_unref(r);
}

static void prack_fork_ladder_each_fork_its_own_prack(void **state)
{
    (void)state;
    captured_invite = NULL;
    acks = byes = npracks = 0;
    bye_cseq = prack_cseq_f1 = 0;
    pair_drop = capture;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = CAPS_A;
    sip_call_t *c = invite(&o);
    pair_advance(0);
    assert_non_null(captured_invite);
    const char *c1 = "<sip:bob@127.0.0.1:5061>", *c2 = "<sip:bob2@127.0.0.1:5061>";
    /* Two branches ring with 100rel, each numbering its own RSeq (§4: per early dialog). */
    inject(fork_response(180, "f1", c1, 0, 1));
    inject(fork_response(180, "f2", c2, 0, 7));
    inject(fork_response(183, "f2", c2, 1, 8));
    /* f1's 180 again: discarded, not reported, its PRACK still in flight. */
    inject(fork_response(180, "f1", c1, 0, 1));
    /* Out of order on f1: neither reported nor PRACKed (§4). */
    inject(fork_response(183, "f1", c1, 0, 5));
    assert_int_equal(npracks, 3);
    assert_string_equal(prack_of[0], "f1 1 1 INVITE");
    assert_string_equal(prack_of[1], "f2 7 1 INVITE");
    assert_string_equal(prack_of[2], "f2 8 1 INVITE");
    assert_int_equal(app[A].nresponses, 3);
    assert_int_equal(app[A].responses[2], 183);
    assert_int_equal(app[A].media, 1);
    assert_int_equal(sip_ua_dialog_count(pair[A].ua), 2);
    /* f1's PRACK transaction is over (nothing answered it): the 180 again gets a new PRACK,
     * with a new CSeq and the same RAck, and is still not reported. */
    uint32_t first = prack_cseq_f1;
    pair_advance(40000);
    inject(fork_response(180, "f1", c1, 0, 1));
    assert_int_equal(prack_cseq_f1, first + 1);
    assert_int_equal(npracks, 3);
    assert_int_equal(app[A].nresponses, 3);
    /* Two 200s: f2's is kept, f1's gets its ACK and a BYE numbered after f1's PRACK. */
    inject(fork_response(200, "f2", c2, 1, 0));
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(acks, 1);
    inject(fork_response(200, "f1", c1, 1, 0));
    assert_int_equal(acks, 2);
    assert_int_equal(byes, 1);
    assert_true(bye_cseq > prack_cseq_f1);
    sip_str_t tag = sip_dialog_get_remote_tag(sip_call_get_dialog(c));
    assert_true(sip_str_eq(tag, sip_str_from_cstr("f2")));
    assert_int_equal(app[A].media, 1);
    sip_msg_unref(captured_invite);
    captured_invite = NULL;
    hangup_and_drain(c);
    pair_drop = NULL;
}

static void prack_offer_in_reliable_1xx_answered_in_prack(void **state)
{
    (void)state;
    captured_invite = NULL;
    acks = byes = npracks = 0;
    pair_drop = capture;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = CAPS_A;
    o.late_offer = 1;
    sip_call_t *c = invite(&o);
    pair_advance(0);
    assert_non_null(captured_invite);
    /* §5: the offer in a reliable 183; the PRACK carries the engine's answer. */
    prack_with_sdp = 0;
    inject(fork_response(183, "f1", "<sip:bob@127.0.0.1:5061>", 1, 1));
    assert_int_equal(npracks, 1);
    assert_true(prack_with_sdp >= 1);
    assert_int_equal(app[A].media, 1);
    assert_true(sip_call_get_local_sdp(c).len > 0);
    sip_msg_unref(captured_invite);
    captured_invite = NULL;
    hangup_and_drain(c);
    pair_drop = NULL;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(prack_reliable_180_sent_again_until_prack),
        T(prack_never_comes_fails_the_invite),
        T(prack_183_with_sdp_holds_the_2xx),
        T(prack_second_reliable_1xx_waits),
        T(prack_420_when_required_and_off),
        T(prack_off_sends_plain_1xx),
        T(prack_off_at_the_caller_lists_no_100rel),
        T(prack_with_a_new_offer_answered_in_its_200),
        T(prack_offer_in_a_reliable_183_both_sides),
        T(prack_fork_ladder_each_fork_its_own_prack),
        T(prack_offer_in_reliable_1xx_answered_in_prack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
