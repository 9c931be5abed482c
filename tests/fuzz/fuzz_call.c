/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the UA core and INVITE sessions: two UAs back to back in memory, with a
 * call between them driven by the input, and arbitrary messages injected into either side with
 * the live call's Call-ID and tags spliced in, so that they reach the dialogs. Whatever arrives
 * in whatever order, neither side may crash, leak or call back a call it freed, and once both
 * are closed every object must be gone.
 *
 * Input: chunks separated by NUL octets. A chunk whose first octet is below 0x20 is a list of
 * actions, one per octet (octet % 16: 0 place a call A->B, 1 ring, 2 answer, 3 reject, 4 hang up
 * A, 5 hang up B, 6 re-INVITE, 7 UPDATE, 8 hold, 9 INFO, 10 deliver, 11-15 move time on by
 * 1 ms to 32 s); any other chunk is a message for side A (odd length) or B, where "$CID",
 * "$ATAG" and "$BTAG" become the call's Call-ID and the two sides' tags. B answers INVITEs with
 * a call it drives; A answers them at once (the calls that replace its own, RFC 3891).
 * Subscriptions (RFC 6665) too: an action octet from 0x80 up is one of them ((octet & 0x7f) % 16:
 * 0 A subscribes to B's message-summary, 1 A subscribes inside the call's dialog, 2 B notifies,
 * 3 B terminates, 4 A unsubscribes, 5 A closes its subscription, 6 B lets go of its, 7 move time
 * on by 30 min, 8 A REFERs B inside the call (B accepts it), 9 the same without a subscription
 * (RFC 4488), 10 B calls A with Replaces naming the call, 11-15 as 2, 3, 4, 7 and 10), so that
 * NOTIFYs, refreshes, expiries, transfers and replaced calls mix with the call's requests. B
 * takes a REFER with an odd CSeq with sip_call_accept_transfer() (the new call goes to A, which
 * answers it; an injected REFER brings any Refer-To), one with an even CSeq with
 * sip_sub_accept(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"

typedef struct slot {
    int armed;
    uint64_t due;
    void (*fire)(void *);
    void *arg;
} slot_t;

static uint64_t now_ms;
static slot_t slots[4];

static uint64_t c_now(void *u)
{
    (void)u;
    return now_ms;
}

static void c_start(void *u, uint64_t d, void (*fire)(void *), void *arg)
{
    slot_t *s = u;
    s->armed = 1;
    s->due = now_ms + d;
    s->fire = fire;
    s->arg = arg;
}

static void c_stop(void *u)
{
    ((slot_t *)u)->armed = 0;
}

typedef struct side {
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    int idx;
} side_t;

static side_t sides[2];
static char *wire[64];
static size_t wlen[64];
static int wto[64], nwire;

static void put(int from, sip_msg_t *m)
{
    if (nwire >= 64) return; /* a full wire loses messages, as a network may */
    char buf[16384];
    int n = sip_msg_print(m, buf, sizeof(buf));
    if (n <= 0 || (size_t)n >= sizeof(buf)) return;
    wire[nwire] = malloc((size_t)n);
    if (!wire[nwire]) return;
    memcpy(wire[nwire], buf, (size_t)n);
    wlen[nwire] = (size_t)n;
    wto[nwire++] = 1 - from;
}

static int io_send(void *ctx, sip_msg_t *m, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)dst;
    side_t *s = ctx;
    put(s->idx, m);
    if (cb) cb(s->tp, 0, user);
    if (user_free) user_free(user);
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *m)
{
    put(((side_t *)ctx)->idx, m);
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ni;
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    if (sip_msg_parse(&m, data, len, &err) == 0) put(((side_t *)ctx)->idx, m);
    sip_msg_unref(m);
    return 0;
}

static void inject(int to, sip_msg_t *m)
{
    sip_netinfo_t ni = {SIP_TRANSPORT_UDP,
                        "127.0.0.1",
                        (uint16_t)(5060 + to),
                        "127.0.0.1",
                        (uint16_t)(5061 - to),
                        0,
                        ""};
    sip_msg_set_netinfo(m, &ni);
    sip__tp_dispatch(sides[to].tp, m);
}

static void deliver(void)
{
    for (int round = 0; round < 8 && nwire; round++) {
        int n = nwire;
        char *w[64];
        size_t l[64];
        int t[64];
        memcpy(w, wire, sizeof(w[0]) * (size_t)n);
        memcpy(l, wlen, sizeof(l[0]) * (size_t)n);
        memcpy(t, wto, sizeof(t[0]) * (size_t)n);
        nwire = 0;
        for (int i = 0; i < n; i++) {
            sip_msg_t *m = NULL;
            sip_parse_error_t err;
            if (sip_msg_parse(&m, w[i], l[i], &err) == 0) inject(t[i], m);
            sip_msg_unref(m);
            free(w[i]);
        }
    }
}

static void advance(uint64_t ms)
{
    uint64_t end = now_ms + ms;
    for (int guard = 0; guard < 100000; guard++) {
        deliver();
        slot_t *next = NULL;
        for (int i = 0; i < 4; i++)
            if (slots[i].armed && slots[i].due <= end && (!next || slots[i].due < next->due))
                next = &slots[i];
        if (!next) break;
        if (next->due > now_ms) now_ms = next->due;
        next->armed = 0;
        next->fire(next->arg);
    }
    now_ms = end;
}

/* The calls the harness holds: A's outgoing one and B's incoming one. */
static sip_call_t *ca, *cb_;
/* The subscriptions it holds: A's (subscriber) and B's last accepted one (notifier). */
static sip_sub_t *sa, *sb;
/* B's call to A with Replaces; A's answer to it. */
static sip_call_t *cr, *ca2;
/* B's call placed by sip_call_accept_transfer(). */
static sip_call_t *cx;

static void on_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                     void *user)
{
    (void)msg;
    (void)user;
    if (ev == SIP_CALL_EVENT_REQUEST && sip_msg_get_method(msg) == SIP_METHOD_REFER &&
        sip_msg_get_cseq(msg)->seq % 2) {
        /* The transferee's side in one call (RFC 3515, RFC 5589). */
        sip_call_opts_t o;
        sip_call_opts_init(&o);
        o.sdp = "v=0\r\n";
        sip_call_t *c = NULL;
        if (sip_call_accept_transfer(&c, call, txn, &o, on_event, NULL, NULL) != 0) return;
        sip_call_unref(cx);
        cx = c;
        return;
    }
    if (ev == SIP_CALL_EVENT_REQUEST && sip_msg_get_method(msg) == SIP_METHOD_REFER) {
        sip_sub_t *s = NULL;
        if (sip_sub_accept(&s, sip_call_get_ua(call), txn, NULL, NULL, NULL, NULL) != 0) return;
        sip_sub_unref(sb);
        sb = s;
        return;
    }
    if (ev == SIP_CALL_EVENT_REQUEST) sip_txn_respond(txn, 200, NULL);
    if (ev == SIP_CALL_EVENT_OFFER) sip_call_answer_offer(call, "v=0\r\n");
}

static void on_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) == SIP_METHOD_SUBSCRIBE) {
        sip_sub_opts_t so;
        sip_sub_opts_init(&so);
        so.body = "Messages-Waiting: yes\r\n";
        so.content_type = "application/simple-message-summary";
        sip_sub_t *s = NULL;
        if (sip_sub_accept(&s, ua, txn, &so, NULL, NULL, NULL) != 0) return;
        sip_sub_unref(sb);
        sb = s;
        return;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        sip_txn_respond(txn, 200, NULL);
        return;
    }
    sip_call_t *c = NULL;
    if (sip_call_accept(&c, ua, txn, NULL, on_event, NULL, NULL) != 0) return;
    sip_call_unref(cb_);
    cb_ = c;
}

/* A takes the calls that replace its own (RFC 3891) and answers them. */
static void on_request_a(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        sip_txn_respond(txn, 200, NULL);
        return;
    }
    sip_call_t *c = NULL;
    if (sip_call_accept(&c, ua, txn, NULL, on_event, NULL, NULL) != 0) return;
    sip_call_answer(c, 200, "v=0\r\n");
    sip_call_unref(ca2);
    ca2 = c;
}

#define SDP "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"

/* B calls A with Replaces naming the call (RFC 3891), as a transferee would. */
static void call_with_replaces(void)
{
    sip_dialog_t *d = ca ? sip_call_get_dialog(ca) : NULL;
    if (!d || cr) return;
    sip_str_t cid = sip_dialog_get_call_id(d), at = sip_dialog_get_local_tag(d),
              bt = sip_dialog_get_remote_tag(d);
    char hdr[512];
    snprintf(hdr, sizeof(hdr), "Replaces: %.*s;to-tag=%.*s;from-tag=%.*s", (int)cid.len, cid.ptr,
             (int)at.len, at.ptr, (int)bt.len, bt.ptr);
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = SDP;
    o.headers = hdr;
    sip_call_invite(&cr, sides[1].ua, "sip:a@127.0.0.1:5060", &o, on_event, NULL, NULL);
}

static void sub_action(int a)
{
    static const int more[] = {2, 3, 4, 7, 10};
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.event = "message-summary";
    a %= 16;
    if (a > 10) a = more[a - 11];
    switch (a) {
    case 0:
    case 1:
        if (sa) break;
        o.dialog = a % 8 == 1 && ca ? sip_call_get_dialog(ca) : NULL;
        if (a % 8 == 1 && (!o.dialog || sip_dialog_get_state(o.dialog) == SIP_DIALOG_TERMINATED))
            break;
        sip_sub_subscribe(&sa, sides[0].ua, "sip:b@127.0.0.1:5061", &o, NULL, NULL, NULL);
        break;
    case 2: sip_sub_notify(sb, SIP_SUB_ACTIVE, "Messages-Waiting: no\r\n", NULL); break;
    case 3: sip_sub_terminate(sb, "deactivated", 10, NULL); break;
    case 4: sip_sub_unsubscribe(sa); break;
    case 5:
        sip_sub_close(sa);
        sip_sub_unref(sa);
        sa = NULL;
        break;
    case 6:
        sip_sub_unref(sb);
        sb = NULL;
        break;
    case 8:
    case 9:
        if (sa || !ca || sip_dialog_get_state(sip_call_get_dialog(ca)) == SIP_DIALOG_TERMINATED)
            break;
        o.dialog = sip_call_get_dialog(ca);
        o.norefersub = a == 9;
        sip_sub_refer(&sa, sides[0].ua, NULL, "sip:a@127.0.0.1:5060", &o, NULL, NULL, NULL);
        break;
    case 10: call_with_replaces(); break;
    default: advance(1800000); break;
    }
}

static void action(int a)
{
    sip_call_opts_t o;
    if (a >= 0x80) {
        sub_action(a & 0x7f);
        return;
    }
    switch (a % 16) {
    case 0:
        if (ca) break;
        sip_call_opts_init(&o);
        o.sdp = SDP;
        sip_call_invite(&ca, sides[0].ua, "sip:b@127.0.0.1:5061", &o, on_event, NULL, NULL);
        break;
    case 1: sip_call_ring(cb_, 180, NULL); break;
    case 2: sip_call_answer(cb_, 200, SDP); break;
    case 3: sip_call_reject(cb_, 486, NULL); break;
    case 4: sip_call_hangup(ca, NULL); break;
    case 5: sip_call_hangup(cb_, NULL); break;
    case 6: sip_call_reinvite(ca, SDP); break;
    case 7: sip_call_update(cb_, SDP); break;
    case 8: sip_call_hold(ca, 1); break;
    case 9: sip_call_send_dtmf(ca, '1', 100); break;
    case 10: deliver(); break;
    default: advance((uint64_t)1 << ((a % 16 - 11) * 3 + 1)); break;
    }
}

/* Replaces $CID, $ATAG and $BTAG with the live call's values. */
static size_t splice_ids(const uint8_t *in, size_t len, char *out, size_t size)
{
    sip_dialog_t *d = ca ? sip_call_get_dialog(ca) : NULL;
    sip_str_t cid = sip_dialog_get_call_id(d), at = sip_dialog_get_local_tag(d),
              bt = sip_dialog_get_remote_tag(d);
    size_t n = 0;
    for (size_t i = 0; i < len && n < size;) {
        sip_str_t rep = {NULL, 0};
        size_t skip = 0;
        if (len - i >= 4 && !memcmp(in + i, "$CID", 4)) rep = cid, skip = 4;
        if (len - i >= 5 && !memcmp(in + i, "$ATAG", 5)) rep = at, skip = 5;
        if (len - i >= 5 && !memcmp(in + i, "$BTAG", 5)) rep = bt, skip = 5;
        if (skip) {
            if (rep.len > size - n) break;
            memcpy(out + n, rep.ptr, rep.len);
            n += rep.len;
            i += skip;
        } else {
            out[n++] = (char)in[i++];
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sip_loop_t *loop = NULL;
    if (sip_loop_create(&loop)) return 0;
    now_ms = 1000;
    memset(slots, 0, sizeof(slots));
    nwire = 0;
    ca = cb_ = NULL;
    sa = sb = NULL;
    cr = ca2 = cx = NULL;
    for (int i = 0; i < 2; i++) {
        side_t *s = &sides[i];
        s->idx = i;
        sip_transport_create(&s->tp, loop, NULL);
        sip_txn_clock_t tc = {c_now, c_start, c_stop, &slots[2 * i]};
        sip_txn_opts_t to;
        sip_txn_opts_init(&to);
        to.clock = &tc;
        sip_txn_layer_create(&s->layer, s->tp, &to);
        sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, s};
        sip__txn_layer_set_io(s->layer, &io);
        sip_txn_clock_t uc = {c_now, c_start, c_stop, &slots[2 * i + 1]};
        sip_ua_opts_t uo;
        sip_ua_opts_init(&uo);
        uo.clock = &uc;
        uo.events = "message-summary";
        uo.allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, "
                   "REFER";
        uo.contact_host = i ? "127.0.0.1:5061" : "127.0.0.1:5060";
        sip_ua_create(&s->ua, s->layer, &uo, i ? on_request : on_request_a, NULL, NULL);
    }
    size_t pos = 0;
    static char buf[65536];
    while (pos < size) {
        const uint8_t *p = data + pos;
        const uint8_t *z = memchr(p, 0, size - pos);
        size_t len = z ? (size_t)(z - p) : size - pos;
        pos += len + 1;
        if (len == 0) continue;
        if (p[0] < 0x20) {
            for (size_t i = 0; i < len && i < 64; i++)
                action(p[i]);
            continue;
        }
        size_t n = splice_ids(p, len, buf, sizeof(buf));
        sip_msg_t *m = NULL;
        sip_parse_error_t err;
        if (sip_msg_parse(&m, buf, n, &err) == 0) inject(len & 1 ? 0 : 1, m);
        sip_msg_unref(m);
        deliver();
    }
    advance(200000);
    sip_call_unref(ca);
    sip_call_unref(cb_);
    sip_sub_unref(sa);
    sip_sub_unref(sb);
    sip_call_unref(cr);
    sip_call_unref(ca2);
    sip_call_unref(cx);
    advance(200000);
    for (int i = 0; i < 2; i++) {
        sip_ua_unref(sides[i].ua);
        sip_txn_layer_unref(sides[i].layer);
        sip_transport_unref(sides[i].tp);
    }
    for (int i = 0; i < nwire; i++)
        free(wire[i]);
    nwire = 0;
    sip_loop_close(loop);
    sip_loop_unref(loop);
    /* Every call, dialog, transaction and message is gone (reachable leaks escape ASan). */
    for (int k = 0; k < SIP_LIVE__COUNT; k++)
        if (sip_live_count((sip_live_kind_t)k) != 0) {
            fprintf(stderr, "fuzz_call: %ld live %s\n", sip_live_count((sip_live_kind_t)k),
                    sip_live_name((sip_live_kind_t)k));
            abort();
        }
    return 0;
}
