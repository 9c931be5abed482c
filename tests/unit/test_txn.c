/* SPDX-License-Identifier: MIT */
/* Transaction layer state machines under a hand-driven clock and a recording transport. */
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
#include "txn/txn_int.h"

/* ---- a clock driven by hand --------------------------------------------------------------- */

static uint64_t now_ms;
static int armed;
static uint64_t due_ms;
static void (*fire_fn)(void *);
static void *fire_arg;

static uint64_t fake_now(void *u)
{
    (void)u;
    return now_ms;
}

static void fake_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    (void)u;
    armed = 1;
    due_ms = now_ms + delay;
    fire_fn = fire;
    fire_arg = arg;
}

static void fake_stop(void *u)
{
    (void)u;
    armed = 0;
}

static const sip_txn_clock_t fake_clock = {fake_now, fake_start, fake_stop, NULL};

/* Moves time forward, firing each wake-up at its exact time. */
static void advance(uint64_t ms)
{
    uint64_t end = now_ms + ms;
    while (armed && due_ms <= end) {
        now_ms = due_ms;
        armed = 0;
        fire_fn(fire_arg);
    }
    now_ms = end;
}

/* ---- a transport that records ------------------------------------------------------------ */

typedef struct sent {
    sip_msg_t *msg; /* for a raw send, the bytes parsed again */
    uint64_t at;
    int has_dst;
    int raw;        /* sent as bytes (a retransmission of an idle transaction) */
    char *bytes;    /* those bytes */
    size_t len;
    sip_netinfo_t ni; /* where they went */
} sent_t;

static sent_t sent[128];
static int nsent;

typedef struct pending {
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
} pending_t;

static pending_t pend[16];
static int npend;
static int fail_send; /* next send fails at once with this */

static const sip_netinfo_t udp_peer = {SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "10.0.0.2", 5070, 0, ""};
static const sip_netinfo_t tcp_peer = {SIP_TRANSPORT_TCP, "127.0.0.1", 5060, "10.0.0.2", 5070, 9, ""};

static void record(sip_msg_t *msg, int has_dst)
{
    assert_true(nsent < (int)(sizeof(sent) / sizeof(sent[0])));
    sent[nsent].msg = sip_msg_ref(msg);
    sent[nsent].at = now_ms;
    sent[nsent].has_dst = has_dst;
    sent[nsent].raw = 0;
    sent[nsent].bytes = NULL;
    nsent++;
}

static int fake_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                     void *user, sip_free_fn user_free)
{
    (void)ctx;
    if (fail_send) {
        int rc = fail_send;
        fail_send = 0;
        if (user_free) user_free(user);
        return rc;
    }
    sip_msg_set_netinfo(msg, dst ? dst : &udp_peer);
    record(msg, dst != NULL);
    if (cb || user_free) {
        assert_true(npend < 16);
        pend[npend++] = (pending_t){cb, user, user_free};
    }
    return 0;
}

static int fail_rsp; /* the next response send fails with this */

static int fake_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    if (fail_rsp) {
        int rc = fail_rsp;
        fail_rsp = 0;
        return rc;
    }
    record(rsp, 0);
    return 0;
}

static int fake_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    if (fail_rsp) {
        int rc = fail_rsp;
        fail_rsp = 0;
        return rc;
    }
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, data, len, &err), 0);
    sip_msg_set_netinfo(m, ni);
    record(m, 1);
    sip_msg_unref(m);
    sent_t *s = &sent[nsent - 1];
    s->raw = 1;
    s->bytes = malloc(len);
    assert_non_null(s->bytes);
    memcpy(s->bytes, data, len);
    s->len = len;
    s->ni = *ni;
    return 0;
}

/* Completes the sends in flight, as the transport does from the loop. */
static void complete_sends(int status)
{
    while (npend) {
        pending_t p = pend[--npend];
        if (p.cb) p.cb(NULL, status, p.user);
        if (p.user_free) p.user_free(p.user);
    }
}

/* ---- fixture ------------------------------------------------------------------------------ */

static sip_loop_t *loop;
static sip_transport_t *tp;
static sip_txn_layer_t *layer;

typedef struct seen {
    int n;
    int status[16];
    int with_msg[16];
    sip_msg_t *last;
    int freed;
    int close_at; /* close the transaction on this status */
} seen_t;

static seen_t cli;

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    seen_t *s = user;
    if (s->n < 16) {
        s->status[s->n] = status;
        s->with_msg[s->n] = rsp != NULL;
    }
    s->n++;
    if (s->close_at == status) sip_txn_close(txn);
}

static void on_free(void *user)
{
    ((seen_t *)user)->freed++;
}

/* Server-side TU. */
static int nreq, nack, nstray, nevents, last_event;
static sip_txn_t *held; /* the last server transaction, referenced */
static int auto_status;  /* answer in the callback with this, 0: keep it */

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)user;
    if (!txn) {
        assert_int_equal(sip_msg_get_method(req), SIP_METHOD_ACK);
        nack++;
        return;
    }
    nreq++;
    if (auto_status) {
        assert_int_equal(sip_txn_respond(txn, auto_status, NULL), 0);
        return;
    }
    sip_txn_unref(held);
    held = sip_txn_ref(txn);
}

static void on_stray(sip_txn_layer_t *l, sip_msg_t *rsp, void *user)
{
    (void)l;
    (void)rsp;
    (void)user;
    nstray++;
}

/* What the server TU does on a CANCEL event: answer with this status (0: nothing), and drop its
 * reference to the transaction (held). */
static int event_status, event_drop;
static sip_txn_state_t event_state; /* the transaction's state when the event came */

static void on_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)user;
    nevents++;
    last_event = (int)ev;
    event_state = sip_txn_get_state(txn);
    if (ev != SIP_TXN_EVENT_CANCEL) return;
    assert_int_equal(sip_msg_get_method(msg), SIP_METHOD_CANCEL);
    if (event_status) assert_int_equal(sip_txn_respond(txn, event_status, NULL), 0);
    if (event_drop && held == txn) {
        held = NULL;
        sip_txn_unref(txn);
    }
}

static int setup_with(int cancel_keeps_invite)
{
    now_ms = 1000;
    armed = 0;
    nsent = npend = fail_send = fail_rsp = 0;
    nreq = nack = nstray = nevents = last_event = auto_status = 0;
    event_status = event_drop = 0;
    event_state = SIP_TXN_TERMINATED;
    held = NULL;
    memset(&cli, 0, sizeof(cli));
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    assert_int_equal(o.cancel_keeps_invite, 0);
    o.cancel_keeps_invite = cancel_keeps_invite;
    o.clock = &fake_clock;
    assert_int_equal(sip_txn_layer_create(&layer, tp, &o), 0);
    sip__txn_io_t io = {fake_send, fake_send_response, fake_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    assert_int_equal(sip_txn_layer_set_request_handler(layer, on_request, NULL, NULL), 0);
    assert_int_equal(sip_txn_layer_set_stray_handler(layer, on_stray, NULL, NULL), 0);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(0);
}

/* A stateful proxy's layer: a CANCEL leaves the INVITE to the TU (RFC 3261 §16.10). */
static int setup_proxy(void **state)
{
    (void)state;
    return setup_with(1);
}

static int teardown(void **state)
{
    (void)state;
    sip_txn_unref(held);
    held = NULL;
    complete_sends(SIP_ECLOSED);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    for (int i = 0; i < nsent; i++) {
        sip_msg_unref(sent[i].msg);
        free(sent[i].bytes);
    }
    nsent = 0;
    return 0; /* the harness checks that nothing is left */
}

/* ---- messages ----------------------------------------------------------------------------- */

static sip_msg_t *parse(const char *text)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, text, strlen(text), &err);
    if (rc) fail_msg("parse: %s at %u:%u", err.reason, err.line, err.column);
    return m;
}

/* A request as a client TU builds it: no Via, the layer adds one. */
static sip_msg_t *client_req(const char *method)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "%s sip:bob@example.com SIP/2.0\r\n"
             "Route: <sip:p1.example.com;lr>\r\n"
             "Route: <sip:p2.example.com;lr>\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@example.com>;tag=a1\r\n"
             "To: <sip:bob@example.com>\r\n"
             "Call-ID: call-1@example.com\r\n"
             "CSeq: 7 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, method);
    return parse(buf);
}

/* A request received from a peer; branch NULL: an RFC 2543 Via without one. */
static sip_msg_t *peer_req(const char *method, const char *branch, const char *call_id,
                           unsigned cseq, const char *to_tag, const sip_netinfo_t *ni)
{
    char buf[1024], br[128] = "", tt[64] = "";
    if (branch) snprintf(br, sizeof(br), ";branch=%s", branch);
    if (to_tag) snprintf(tt, sizeof(tt), ";tag=%s", to_tag);
    snprintf(buf, sizeof(buf),
             "%s sip:bob@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/%s 10.0.0.2:5070%s\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@example.com>;tag=f1\r\n"
             "To: <sip:bob@example.com>%s\r\n"
             "Call-ID: %s\r\n"
             "CSeq: %u %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, ni->transport == SIP_TRANSPORT_TCP ? "TCP" : "UDP", br, tt, call_id, cseq,
             method);
    sip_msg_t *m = parse(buf);
    sip_msg_set_netinfo(m, ni);
    return m;
}

/* The peer's response to what we sent. */
static void peer_answers(sip_msg_t *req, int status, const char *tag)
{
    sip_msg_t *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, req, status, NULL, tag), 0);
    assert_int_equal(sip_txn_layer_receive(layer, rsp), 0);
    sip_msg_unref(rsp);
}

static void receive(sip_msg_t *m)
{
    assert_int_equal(sip_txn_layer_receive(layer, m), 0);
}

static sip_str_t hval(const sip_msg_t *m, sip_hdr_id_t id, size_t i)
{
    const sip_header_t *h = sip_msg_header_at(m, id, i);
    return h ? sip_header_get_value(h) : SIP_STR_NULL;
}

#define assert_str(view, lit) assert_true(sip_str_eq((view), sip_str_from_cstr(lit)))

/* sent[i] is the byte-identical resend of sent[first], as an idle transaction does it: raw, to
 * where sent[first] went. */
static void assert_resent(int i, int first)
{
    assert_true(first >= 0 && first < i && i < nsent);
    assert_true(sent[i].raw);
    char buf[4096];
    int n = sip_msg_print(sent[first].msg, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_int_equal(sent[i].len, (size_t)n);
    assert_memory_equal(sent[i].bytes, buf, (size_t)n);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(sent[first].msg);
    assert_non_null(ni);
    assert_int_equal(sent[i].ni.transport, ni->transport);
    assert_string_equal(sent[i].ni.remote_ip, ni->remote_ip);
    assert_int_equal(sent[i].ni.remote_port, ni->remote_port);
    assert_int_equal(sent[i].ni.conn_id, ni->conn_id);
}

static int count_status(int status, int from)
{
    int n = 0;
    for (int i = from; i < nsent; i++)
        if (!sip_msg_is_request(sent[i].msg) && sip_msg_get_status(sent[i].msg) == status) n++;
    return n;
}

/* The index of the n-th (from 0) response with this status that was sent, or -1. */
static int nth_status(int status, int n)
{
    for (int i = 0; i < nsent; i++)
        if (!sip_msg_is_request(sent[i].msg) && sip_msg_get_status(sent[i].msg) == status &&
            n-- == 0)
            return i;
    return -1;
}

/* ---- client transactions ------------------------------------------------------------------ */

static void txn_invite_client_timer_a_doubles_then_b(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    /* The layer gave the request a Via with an RFC 3261 branch. */
    const sip_via_t *v = sip_msg_get_via(req);
    assert_non_null(v);
    assert_true(v->branch.len > 7 && memcmp(v->branch.ptr, "z9hG4bK", 7) == 0);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_CALLING);
    advance(32000 - 1);
    /* Timer A: 500, 1000, 2000, 4000, 8000, 16000 ms apart, no cap (§17.1.1.2). */
    static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
    assert_int_equal(nsent, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(sent[i].at, 1000 + at[i]);
        assert_ptr_equal(sent[i].msg, req);
    }
    assert_int_equal(cli.n, 0);
    advance(1);
    /* Timer B = 64*T1: a timeout, as 408 without a message. */
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.status[0], 408);
    assert_int_equal(cli.with_msg[0], 0);
    assert_int_equal(cli.freed, 1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    assert_false(armed);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_non_invite_client_timer_e_capped_then_f(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    sip_txn_unref(t); /* runs to its end without the handle */
    advance(32000 - 1);
    /* Timer E: 500, 1000, 2000, then T2 = 4000 (§17.1.2.2). */
    static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500,
                                  31500};
    assert_int_equal(nsent, 11);
    for (int i = 0; i < 11; i++) assert_int_equal(sent[i].at, 1000 + at[i]);
    advance(1);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.status[0], 408);
    assert_int_equal(cli.freed, 1);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_msg_unref(req);
}

static void txn_client_opts_zero_fields_are_the_layers(void **state)
{
    (void)state;
    /* A layer with T2 1000 and T4 300; a transaction that sets only T1 gets those, not the
     * RFC defaults. */
    sip_transport_t *tp2;
    sip_txn_layer_t *l2;
    assert_int_equal(sip_transport_create(&tp2, loop, NULL), 0);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t2_ms = 1000;
    o.t4_ms = 300;
    o.clock = &fake_clock;
    assert_int_equal(sip_txn_layer_create(&l2, tp2, &o), 0);
    sip__txn_io_t io = {fake_send, fake_send_response, fake_send_raw, NULL, NULL};
    sip__txn_layer_set_io(l2, &io);
    sip_txn_opts_t mine = {.t1_ms = 100};
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, l2, req, &udp_peer, &mine, on_response, &cli,
                                           on_free),
                     0);
    advance(3000);
    /* Timer E: 100, 200, 400, 800, then the layer's T2 of 1000. */
    static const uint64_t at[] = {0, 100, 300, 700, 1500, 2500};
    assert_int_equal(nsent, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(sent[i].at, 1000 + at[i]);
    sip_msg_t *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, req, 200, NULL, "z"), 0);
    assert_int_equal(sip_txn_layer_receive(l2, rsp), 0);
    sip_msg_unref(rsp);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    advance(299);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    advance(1); /* Timer K: the layer's T4 */
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.status[0], 200);
    sip_txn_unref(t);
    complete_sends(SIP_ECLOSED);
    sip_txn_layer_unref(l2);
    sip_transport_unref(tp2);
    sip_msg_unref(req);
}

static void txn_non_invite_client_proceeding_uses_t2_then_k(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("REGISTER");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    advance(600); /* one retransmission at +500 */
    assert_int_equal(nsent, 2);
    peer_answers(req, 100, NULL);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_PROCEEDING);
    advance(5000);
    /* E fires at +1500 (the interval then was 1000); in Proceeding it is reset to T2. */
    assert_int_equal(nsent, 4);
    assert_int_equal(sent[2].at, 2500);
    assert_int_equal(sent[3].at, 6500);
    peer_answers(req, 200, "t9");
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.status[0], 100);
    assert_int_equal(cli.status[1], 200);
    assert_int_equal(cli.with_msg[1], 1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    /* A retransmitted final is absorbed by Completed. */
    peer_answers(req, 200, "t9");
    assert_int_equal(cli.n, 2);
    assert_int_equal(nstray, 0);
    /* Timer K = T4. */
    advance(4999);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    assert_int_equal(nsent, 4);
    advance(1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(cli.freed, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_invite_client_acks_non_2xx(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    peer_answers(req, 180, "bt");
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_PROCEEDING);
    advance(10000); /* no retransmission in Proceeding, no Timer B */
    assert_int_equal(nsent, 1);
    peer_answers(req, 486, "bt");
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.status[1], 486);
    assert_int_equal(nsent, 2);
    sip_msg_t *ack = sent[1].msg;
    /* The callback has returned: the transaction idles with the ACK in wire form only. */
    assert_null(sip_txn_get_response(t));
    assert_null(sip_txn_get_request(t));
    /* §17.1.1.3: same Request-URI, Call-ID, From, CSeq number; To of the response; top Via
     * only; Route copied. */
    assert_int_equal(sip_msg_get_method(ack), SIP_METHOD_ACK);
    assert_str(sip_msg_get_uri(ack)->raw, "sip:bob@example.com");
    assert_int_equal(sip_msg_header_count(ack, SIP_HDR_VIA), 1);
    assert_true(sip_str_eq(hval(ack, SIP_HDR_VIA, 0), hval(req, SIP_HDR_VIA, 0)));
    assert_str(hval(ack, SIP_HDR_FROM, 0), "<sip:alice@example.com>;tag=a1");
    assert_str(hval(ack, SIP_HDR_TO, 0), "<sip:bob@example.com>;tag=bt");
    assert_str(hval(ack, SIP_HDR_CALL_ID, 0), "call-1@example.com");
    assert_str(hval(ack, SIP_HDR_CSEQ, 0), "7 ACK");
    assert_int_equal(sip_msg_header_count(ack, SIP_HDR_ROUTE), 2);
    assert_str(hval(ack, SIP_HDR_ROUTE, 0), "<sip:p1.example.com;lr>");
    assert_str(hval(ack, SIP_HDR_ROUTE, 1), "<sip:p2.example.com;lr>");
    assert_true(sent[1].has_dst);
    assert_string_equal(sip_msg_get_netinfo(ack)->remote_ip, "10.0.0.2");
    /* A retransmitted final: the ACK again, not the TU. */
    peer_answers(req, 486, "bt");
    assert_int_equal(nsent, 3);
    assert_resent(2, 1);
    assert_int_equal(cli.n, 2);
    /* Timer D: 32 s on UDP. */
    advance(32000 - 1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    advance(1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    assert_int_equal(cli.freed, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_invite_client_accepted_passes_2xx(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    peer_answers(req, 200, "x1");
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_ACCEPTED);
    /* RFC 6026 §8.4: retransmitted 2xx (and those of other forks) reach the TU. */
    peer_answers(req, 200, "x1");
    peer_answers(req, 200, "x2");
    assert_int_equal(cli.n, 3);
    assert_int_equal(cli.status[2], 200);
    assert_int_equal(nsent, 1); /* the transaction sends no ACK for 2xx */
    peer_answers(req, 486, "x3"); /* not a 2xx: dropped in Accepted */
    assert_int_equal(cli.n, 3);
    /* Timer M = 64*T1; afterwards a 2xx is stray (for the dialog layer). */
    advance(32000);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    peer_answers(req, 200, "x1");
    assert_int_equal(cli.n, 3);
    assert_int_equal(nstray, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_reliable_transport_does_not_retransmit(void **state)
{
    (void)state;
    sip_msg_t *inv = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, inv, &tcp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    advance(31999);
    assert_int_equal(nsent, 1);
    advance(1);
    assert_int_equal(cli.status[0], 408); /* Timer B still runs */
    sip_txn_unref(t);
    sip_msg_unref(inv);

    /* Non-INVITE over TCP: no Timer E; Timer K is zero. */
    seen_t s2 = {0};
    sip_msg_t *opt = client_req("OPTIONS");
    sip_msg_remove_headers(opt, "Call-ID");
    sip_msg_add_header(opt, "Call-ID", "call-2@example.com");
    assert_int_equal(sip_txn_client_create(&t, layer, opt, &tcp_peer, NULL, on_response, &s2,
                                           on_free),
                     0);
    advance(10000);
    assert_int_equal(nsent, 2);
    peer_answers(opt, 200, "k");
    assert_int_equal(s2.n, 1);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(s2.freed, 1);
    sip_txn_unref(t);
    sip_msg_unref(opt);

    /* Server: a final over TCP has no Timer G, and Timer J is zero. */
    sip_msg_t *sreq = peer_req("INVITE", "z9hG4bKs1", "s@x", 1, NULL, &tcp_peer);
    receive(sreq);
    assert_non_null(held);
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    int base = nsent;
    advance(31999);
    assert_int_equal(nsent, base);
    sip_msg_unref(sreq);
    sreq = peer_req("MESSAGE", "z9hG4bKs2", "s2@x", 1, NULL, &tcp_peer);
    receive(sreq);
    sip_txn_t *m = held;
    assert_int_equal(sip_txn_respond(m, 200, NULL), 0);
    assert_int_equal(sip_txn_get_state(m), SIP_TXN_TERMINATED);
    sip_msg_unref(sreq);
}

static void txn_client_cancel_waits_for_provisional(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    assert_int_equal(sip_txn_cancel(t), 0);
    advance(400);
    assert_int_equal(nsent, 1); /* §9.1: no CANCEL before a provisional */
    assert_int_equal(sip_txn_cancel(t), 0);
    peer_answers(req, 180, "c1");
    assert_int_equal(nsent, 2);
    sip_msg_t *c = sent[1].msg;
    assert_int_equal(sip_msg_get_method(c), SIP_METHOD_CANCEL);
    assert_str(sip_msg_get_uri(c)->raw, "sip:bob@example.com");
    assert_int_equal(sip_msg_header_count(c, SIP_HDR_VIA), 1);
    assert_true(sip_str_eq(hval(c, SIP_HDR_VIA, 0), hval(req, SIP_HDR_VIA, 0)));
    assert_str(hval(c, SIP_HDR_TO, 0), "<sip:bob@example.com>");
    assert_str(hval(c, SIP_HDR_FROM, 0), "<sip:alice@example.com>;tag=a1");
    assert_str(hval(c, SIP_HDR_CALL_ID, 0), "call-1@example.com");
    assert_str(hval(c, SIP_HDR_CSEQ, 0), "7 CANCEL");
    assert_int_equal(sip_msg_header_count(c, SIP_HDR_ROUTE), 2);
    assert_int_equal(sip_txn_layer_count(layer), 2); /* the CANCEL has its own transaction */
    /* The CANCEL's transaction retransmits on its own (Timer E). */
    advance(500);
    assert_int_equal(nsent, 3);
    assert_ptr_equal(sent[2].msg, c);
    peer_answers(c, 200, "c1");
    peer_answers(req, 487, "c1");
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.status[1], 487);
    assert_int_equal(sip_msg_get_method(sent[3].msg), SIP_METHOD_ACK);
    assert_int_equal(sip_txn_cancel(t), SIP_ECLOSED);
    assert_int_equal(nstray, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_client_cancel_without_final_times_out(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    peer_answers(req, 183, "q");
    advance(1000);
    assert_int_equal(sip_txn_cancel(t), 0);
    assert_int_equal(nsent, 2);
    advance(32000 - 1);
    assert_int_equal(cli.n, 1);
    advance(1);
    /* §9.1: no final within 64*T1 of the CANCEL ends the INVITE. */
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.status[1], 408);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_transport_error_gives_503(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, NULL, NULL, on_response, &cli,
                                           on_free),
                     0);
    assert_false(sent[0].has_dst); /* located with RFC 3263 */
    advance(2000);
    assert_int_equal(nsent, 1); /* retransmissions wait for the target */
    complete_sends(-ECONNREFUSED);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.status[0], 503);
    assert_int_equal(cli.with_msg[0], 0);
    assert_int_equal(cli.freed, 1);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_txn_unref(t);

    /* An immediate failure: the call fails, no callback, user_free once. */
    seen_t s2 = {0};
    fail_send = SIP_ENOENT;
    assert_int_equal(sip_txn_client_create(&t, layer, req, NULL, NULL, on_response, &s2, on_free),
                     SIP_ENOENT);
    assert_null(t);
    assert_int_equal(s2.n, 0);
    assert_int_equal(s2.freed, 1);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_msg_unref(req);
}

static void txn_located_send_starts_retransmissions_when_sent(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, NULL, NULL, on_response, &cli,
                                           on_free),
                     0);
    advance(100);
    complete_sends(0);
    advance(499);
    assert_int_equal(nsent, 1);
    advance(1);
    assert_int_equal(nsent, 2);
    assert_int_equal(sent[1].at, 1600);
    assert_true(sent[1].has_dst); /* to the target the first send found */
    sip_txn_close(t);
    sip_txn_close(t); /* idempotent */
    assert_int_equal(cli.freed, 1);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void txn_close_inside_callback(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    cli.close_at = 180;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    sip_txn_unref(t);
    peer_answers(req, 180, "z");
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.freed, 1);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    peer_answers(req, 200, "z");
    assert_int_equal(cli.n, 1);
    assert_int_equal(nstray, 1);
    advance(64000);
    assert_int_equal(nsent, 1);
    sip_msg_unref(req);
}

static void txn_create_rejects_bad_input(void **state)
{
    (void)state;
    sip_txn_t *t = (sip_txn_t *)1;
    seen_t s = {0};
    sip_msg_t *ack = client_req("ACK");
    assert_int_equal(sip_txn_client_create(&t, layer, ack, NULL, NULL, on_response, &s, on_free),
                     SIP_EINVAL);
    assert_null(t);
    assert_int_equal(s.freed, 1);
    assert_int_equal(sip_txn_client_create(&t, NULL, ack, NULL, NULL, on_response, &s, on_free),
                     SIP_EINVAL);
    assert_int_equal(s.freed, 2);
    assert_int_equal(sip_txn_cancel(NULL), SIP_EINVAL);
    assert_int_equal(sip_txn_reply(NULL, ack), SIP_EINVAL);
    sip_msg_unref(ack);
    assert_int_equal(nsent, 0);
}

static void txn_create_alloc_failure_sweep(void **state)
{
    (void)state;
    for (long n = 1;; n++) {
        sip_msg_t *req = client_req("INVITE");
        seen_t s = {0};
        sip_txn_t *t = NULL;
        test_alloc_fail_at(n);
        int rc = sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &s, on_free);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        assert_int_equal(s.freed, rc ? 1 : 0);
        if (rc) {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(t);
            assert_int_equal(sip_txn_layer_count(layer), 0);
        }
        if (t) sip_txn_close(t);
        sip_txn_unref(t);
        sip_msg_unref(req);
        complete_sends(SIP_ECLOSED);
        if (!failed) {
            assert_int_equal(rc, 0);
            assert_true(n > 1);
            break;
        }
    }
}

/* ---- server transactions ------------------------------------------------------------------ */

static void txn_server_absorbs_retransmissions(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("OPTIONS", "z9hG4bKo1", "o@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(nreq, 1);
    assert_non_null(held);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TRYING);
    receive(req); /* Trying: absorbed, the TU is not called again */
    assert_int_equal(nreq, 1);
    assert_int_equal(nsent, 0);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    assert_int_equal(nsent, 1);
    receive(req); /* Completed: the last response again */
    receive(req);
    assert_int_equal(nsent, 3);
    assert_resent(1, 0);
    assert_resent(2, 0);
    assert_int_equal(nreq, 1);
    assert_int_equal(sip_txn_respond(held, 200, NULL), SIP_EINVAL);
    /* Timer J = 64*T1 on UDP. */
    advance(31999);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    advance(1);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_respond(held, 200, NULL), SIP_ECLOSED);
    /* After the transaction, the same request is new again. */
    receive(req);
    assert_int_equal(nreq, 2);
    sip_msg_unref(req);
}

static void txn_server_unanswered_gets_500(void **state)
{
    (void)state;
    sip_txn_layer_set_request_handler(layer, NULL, NULL, NULL);
    sip_msg_t *req = peer_req("OPTIONS", "z9hG4bKu1", "u@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(nsent, 1);
    assert_int_equal(count_status(500, 0), 1);
    sip_msg_unref(req);
}

static void txn_server_invite_100_trying_g_and_h(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKi1", "i@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_PROCEEDING);
    advance(199);
    assert_int_equal(nsent, 0);
    advance(1);
    /* 100 Trying after timer_100_ms without an answer from the TU. */
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 100);
    assert_int_equal(sent[0].at, 1200);
    receive(req); /* a retransmission gets the 100 again */
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_txn_respond(held, 180, NULL), 0);
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    assert_int_equal(nsent, 4);
    /* The final keeps the To tag of the 180. */
    assert_true(sip_str_eq(sip_msg_get_to(sent[2].msg)->tag, sip_msg_get_to(sent[3].msg)->tag));
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    uint64_t t0 = now_ms;
    advance(32000 - 1);
    /* Timer G: 500, 1000, 2000, then T2. */
    static const uint64_t at[] = {500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
    assert_int_equal(nsent, 14);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sent[4 + i].at, t0 + at[i]);
        assert_int_equal(sip_msg_get_status(sent[4 + i].msg), 486);
    }
    assert_int_equal(nevents, 0);
    advance(1);
    /* Timer H: no ACK; the TU is told. */
    assert_int_equal(nevents, 1);
    assert_int_equal(last_event, SIP_TXN_EVENT_TIMEOUT);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_msg_unref(req);
}

static void txn_server_invite_ack_confirms_then_i(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKi2", "i2@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_respond(held, 603, NULL), 0);
    advance(600);
    assert_int_equal(nsent, 2);
    sip_str_t tag = sip_msg_get_to(sent[0].msg)->tag;
    char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)tag.len, tag.ptr);
    sip_msg_t *ack = peer_req("ACK", "z9hG4bKi2", "i2@x", 1, tagbuf, &udp_peer);
    receive(ack);
    assert_int_equal(nack, 0); /* the ACK of a non-2xx stays in the transaction */
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_CONFIRMED);
    receive(ack);
    advance(4999);
    assert_int_equal(nsent, 2); /* no more Timer G */
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_CONFIRMED);
    advance(1); /* Timer I = T4 */
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    sip_msg_unref(ack);
    sip_msg_unref(req);
}

static void txn_server_invite_accepted_rfc6026(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKa1", "a@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_ACCEPTED);
    receive(req); /* a retransmitted INVITE is absorbed; 2xx retransmission is the TU's */
    assert_int_equal(nsent, 1);
    assert_int_equal(nreq, 1);
    assert_int_equal(sip_txn_reply(held, sent[0].msg), 0); /* the TU retransmits its 2xx */
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_txn_respond(held, 486, NULL), SIP_EINVAL);
    sip_msg_t *ack = peer_req("ACK", "z9hG4bKa2", "a@x", 1, "t", &udp_peer);
    receive(ack);
    assert_int_equal(nack, 1); /* the ACK of a 2xx goes to the TU */
    advance(32000 - 1);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_ACCEPTED);
    advance(1); /* Timer L */
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    sip_msg_unref(ack);
    sip_msg_unref(req);
}

static void txn_server_cancel_answers_200_and_487(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKc1", "c@x", 5, NULL, &udp_peer);
    receive(req);
    sip_txn_t *inv = sip_txn_ref(held);
    sip_txn_set_event_handler(inv, on_event, NULL, NULL);
    assert_int_equal(sip_txn_respond(inv, 180, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKc1", "c@x", 5, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nreq, 1); /* the layer answers CANCEL itself */
    assert_int_equal(nsent, 3);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 487);
    assert_int_equal(sip_msg_get_cseq(sent[2].msg)->method, SIP_METHOD_INVITE);
    assert_int_equal(nevents, 1);
    assert_int_equal(last_event, SIP_TXN_EVENT_CANCEL);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_COMPLETED);
    assert_int_equal(sip_txn_respond(inv, 200, NULL), SIP_EINVAL); /* too late */
    receive(c); /* a retransmitted CANCEL gets its 200 again */
    assert_int_equal(nsent, 4);
    assert_resent(3, 1);
    sip_txn_unref(inv);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_transport_error_ends_transaction(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKte", "te@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    fail_rsp = -ENETUNREACH;
    advance(500); /* Timer G's resend fails: §17.2.4 */
    assert_int_equal(nevents, 1);
    assert_int_equal(last_event, SIP_TXN_EVENT_ERROR);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    /* A failure of the TU's own reply is its return value. */
    sip_msg_t *r2 = peer_req("MESSAGE", "z9hG4bKte2", "te2@x", 1, NULL, &udp_peer);
    receive(r2);
    fail_rsp = -ENETUNREACH;
    assert_int_equal(sip_txn_respond(held, 200, NULL), -ENETUNREACH);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    assert_int_equal(nevents, 1);
    sip_msg_unref(r2);
    sip_msg_unref(req);
}

static void txn_server_cancel_crossing_200(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKx1", "x@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKx1", "x@x", 1, NULL, &udp_peer);
    receive(c);
    /* The 200 wins: CANCEL answered 200, no 487, the TU not told. */
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(count_status(487, 0), 0);
    assert_int_equal(nevents, 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_ACCEPTED);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

/* §9.2: a CANCEL that matches a non-INVITE transaction is answered 200 and has no effect on it. */
static void txn_server_cancel_non_invite(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("MESSAGE", "z9hG4bKm1", "m@x", 4, NULL, &udp_peer);
    receive(req);
    assert_int_equal(nreq, 1);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKm1", "m@x", 4, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[0].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(nevents, 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TRYING);
    /* The MESSAGE is still the TU's to answer. */
    assert_int_equal(sip_txn_respond(held, 202, NULL), 0);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 202);
    assert_int_equal(nreq, 1);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_cancel_unknown_481(void **state)
{
    (void)state;
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKnone", "n@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 481);
    assert_int_equal(nreq, 0);
    sip_msg_unref(c);
}

static sip_str_t to_tag_of(const sip_msg_t *m)
{
    return sip_msg_get_to(m)->tag;
}

static void txn_server_cancel_200_shares_the_487_tag(void **state)
{
    (void)state;
    /* No provisional with a tag went out (only 100 Trying): the 487 gets a new To tag, and the
     * CANCEL's 200 the same one (§9.2). */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKg1", "g@x", 2, NULL, &udp_peer);
    receive(req);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    advance(200);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 100);
    assert_int_equal(to_tag_of(sent[0].msg).len, 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKg1", "g@x", 2, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 3);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 487);
    assert_true(to_tag_of(sent[2].msg).len > 0);
    assert_true(sip_str_eq(to_tag_of(sent[1].msg), to_tag_of(sent[2].msg)));
    assert_int_equal(nevents, 1);
    assert_int_equal(event_state, SIP_TXN_COMPLETED); /* the 487 went before the event */
    sip_msg_unref(c);

    /* After a tagged 180, all three share the 180's tag. */
    sip_msg_t *req2 = peer_req("INVITE", "z9hG4bKg2", "g2@x", 2, NULL, &udp_peer);
    receive(req2);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    assert_int_equal(sip_txn_respond(held, 180, NULL), 0);
    c = peer_req("CANCEL", "z9hG4bKg2", "g2@x", 2, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 6);
    assert_int_equal(sip_msg_get_status(sent[3].msg), 180);
    assert_int_equal(sip_msg_get_status(sent[4].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[5].msg), 487);
    assert_true(sip_str_eq(to_tag_of(sent[3].msg), to_tag_of(sent[4].msg)));
    assert_true(sip_str_eq(to_tag_of(sent[3].msg), to_tag_of(sent[5].msg)));
    sip_msg_unref(c);
    sip_msg_unref(req2);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_leaves_invite_to_tu(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKp1", "p@x", 4, NULL, &udp_peer);
    receive(req);
    sip_txn_t *inv = sip_txn_ref(held);
    assert_int_equal(sip_txn_set_event_handler(inv, on_event, NULL, NULL), 0);
    assert_int_equal(sip_txn_respond(inv, 180, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKp1", "p@x", 4, NULL, &udp_peer);
    receive(c);
    /* §16.10: the CANCEL is answered 200 at once; the INVITE is not answered. */
    assert_int_equal(nreq, 1);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_CANCEL);
    assert_true(sip_str_eq(to_tag_of(sent[0].msg), to_tag_of(sent[1].msg)));
    assert_int_equal(nevents, 1);
    assert_int_equal(last_event, SIP_TXN_EVENT_CANCEL);
    assert_int_equal(event_state, SIP_TXN_PROCEEDING);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_PROCEEDING);
    assert_int_equal(sip_msg_get_status(sip_txn_get_response(inv)), 180);
    assert_int_equal(count_status(487, 0), 0);
    /* A retransmitted CANCEL gets its 200 again; the TU is not told twice. */
    receive(c);
    assert_int_equal(nsent, 3);
    assert_resent(2, 1);
    assert_int_equal(nevents, 1);
    /* Time passes while the proxy waits for its branches: only the 100 timer was pending. */
    advance(10000);
    assert_int_equal(nsent, 3);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_PROCEEDING);
    /* The proxy relays the 487 from downstream; it keeps the To tag of the 180. */
    assert_int_equal(sip_txn_respond(inv, 487, NULL), 0);
    assert_int_equal(nsent, 4);
    assert_int_equal(sip_msg_get_status(sent[3].msg), 487);
    assert_true(sip_str_eq(to_tag_of(sent[0].msg), to_tag_of(sent[3].msg)));
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_COMPLETED);
    char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)to_tag_of(sent[3].msg).len,
             to_tag_of(sent[3].msg).ptr);
    sip_msg_t *ack = peer_req("ACK", "z9hG4bKp1", "p@x", 4, tagbuf, &udp_peer);
    receive(ack);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_CONFIRMED);
    assert_int_equal(nack, 0);
    assert_int_equal(nevents, 1);
    sip_txn_unref(inv);
    sip_msg_unref(ack);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_then_downstream_200(void **state)
{
    (void)state;
    /* The CANCEL crossed a 200 downstream: the proxy relays the 200 after the event. */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKp2", "p2@x", 1, NULL, &tcp_peer);
    receive(req);
    assert_int_equal(sip_txn_set_event_handler(held, on_event, NULL, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKp2", "p2@x", 1, NULL, &tcp_peer);
    receive(c);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[0].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(nevents, 1);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_ACCEPTED);
    assert_int_equal(count_status(487, 0), 0);
    /* Over TCP the CANCEL's transaction ended with its 200 (Timer J is zero). */
    assert_int_equal(sip_txn_layer_count(layer), 1);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_answered_in_event(void **state)
{
    (void)state;
    event_status = 487;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKp3", "p3@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_set_event_handler(held, on_event, NULL, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKp3", "p3@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[0].msg)->method, SIP_METHOD_CANCEL);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 487);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_INVITE);
    assert_int_equal(event_state, SIP_TXN_PROCEEDING);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_tu_drops_gets_487(void **state)
{
    (void)state;
    /* The TU lets go in the event without answering: the request still gets a final response,
     * and for a cancelled INVITE that is 487, not 500. */
    event_drop = 1;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKp4", "p4@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_t *inv = held;
    assert_int_equal(sip_txn_set_event_handler(inv, on_event, NULL, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKp4", "p4@x", 1, NULL, &udp_peer);
    receive(c);
    assert_null(held);
    assert_int_equal(nevents, 1);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 487);
    assert_int_equal(sip_msg_get_cseq(sent[1].msg)->method, SIP_METHOD_INVITE);
    assert_int_equal(count_status(500, 0), 0);
    assert_int_equal(sip_txn_layer_count(layer), 2); /* INVITE (Completed) and CANCEL */
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_without_handler_gets_487(void **state)
{
    (void)state;
    /* Nobody would hear of the CANCEL: the layer answers the INVITE as by default. */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKp5", "p5@x", 1, NULL, &udp_peer);
    receive(req);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKp5", "p5@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 487);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_cancel_mode_per_transaction(void **state)
{
    (void)state;
    /* A default layer; one transaction keeps its INVITE, the next does not. */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKo1", "o1@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_t *inv = sip_txn_ref(held);
    assert_int_equal(sip_txn_set_event_handler(inv, on_event, NULL, NULL), 0);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(inv, 1), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKo1", "o1@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_PROCEEDING);
    assert_int_equal(nevents, 1);
    assert_int_equal(sip_txn_respond(inv, 487, NULL), 0);
    assert_int_equal(nsent, 2);

    sip_msg_t *req2 = peer_req("INVITE", "z9hG4bKo2", "o2@x", 1, NULL, &udp_peer);
    receive(req2);
    assert_int_equal(sip_txn_set_event_handler(held, on_event, NULL, NULL), 0);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(held, 1), 0);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(held, 0), 0); /* changed its mind */
    sip_msg_t *c2 = peer_req("CANCEL", "z9hG4bKo2", "o2@x", 1, NULL, &udp_peer);
    receive(c2);
    assert_int_equal(nsent, 4);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[3].msg), 487);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    assert_int_equal(nevents, 2);

    /* Only INVITE server transactions have the choice. */
    assert_int_equal(sip_txn_set_cancel_keeps_invite(NULL, 1), SIP_EINVAL);
    sip_msg_t *opt = peer_req("OPTIONS", "z9hG4bKo3", "o3@x", 1, NULL, &udp_peer);
    receive(opt);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(held, 1), SIP_EINVAL);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    sip_msg_t *creq = client_req("INVITE");
    sip_txn_t *ct;
    assert_int_equal(sip_txn_client_create(&ct, layer, creq, &udp_peer, NULL, NULL, NULL, NULL),
                     0);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(ct, 1), SIP_EINVAL);
    sip_txn_close(ct);
    sip_txn_unref(ct);
    /* An ended transaction. */
    sip_txn_close(inv);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(inv, 1), SIP_ECLOSED);
    sip_txn_unref(inv);
    sip_msg_unref(creq);
    sip_msg_unref(opt);
    sip_msg_unref(c2);
    sip_msg_unref(req2);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_layer_per_transaction_487(void **state)
{
    (void)state;
    /* A proxy layer; one transaction (say the proxy's own UAS part) lets the layer answer. */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKq1", "q1@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_set_event_handler(held, on_event, NULL, NULL), 0);
    assert_int_equal(sip_txn_set_cancel_keeps_invite(held, 0), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKq1", "q1@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 487);
    assert_int_equal(event_state, SIP_TXN_COMPLETED);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_proxy_cancel_crossing_and_unknown(void **state)
{
    (void)state;
    /* In proxy mode too, a CANCEL after the final has no effect, and one for nothing is 481. */
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKr1", "r1@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_set_event_handler(held, on_event, NULL, NULL), 0);
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKr1", "r1@x", 1, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_true(sip_str_eq(to_tag_of(sent[0].msg), to_tag_of(sent[1].msg)));
    assert_int_equal(nevents, 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    sip_msg_t *u = peer_req("CANCEL", "z9hG4bKr2", "r1@x", 1, NULL, &udp_peer);
    receive(u);
    assert_int_equal(nsent, 3);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 481);
    assert_int_equal(nevents, 0);
    sip_msg_unref(u);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_merged_request_482(void **state)
{
    (void)state;
    sip_msg_t *a = peer_req("INVITE", "z9hG4bKm1", "m@x", 3, NULL, &udp_peer);
    sip_msg_t *b = peer_req("INVITE", "z9hG4bKm2", "m@x", 3, NULL, &udp_peer);
    receive(a);
    assert_int_equal(nreq, 1);
    receive(b); /* §8.2.2.2: same From tag, Call-ID, CSeq; another branch; no To tag */
    assert_int_equal(nreq, 1);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 482);
    assert_str(sip_msg_get_via(sent[0].msg)->branch, "z9hG4bKm2");
    /* The CANCELs of both copies: each finds its INVITE (§9.2); neither is a merged request. */
    sip_msg_t *ca = peer_req("CANCEL", "z9hG4bKm1", "m@x", 3, NULL, &udp_peer);
    sip_msg_t *cb = peer_req("CANCEL", "z9hG4bKm2", "m@x", 3, NULL, &udp_peer);
    receive(ca);
    receive(cb);
    assert_int_equal(nsent, 4);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 200);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 487);
    assert_int_equal(sip_msg_get_status(sent[3].msg), 200);
    assert_str(sip_msg_get_via(sent[3].msg)->branch, "z9hG4bKm2");
    assert_int_equal(count_status(482, 0), 1);
    sip_msg_unref(ca);
    sip_msg_unref(cb);
    /* With a To tag it is a request inside a dialog, not a merge. */
    sip_msg_t *c = peer_req("INVITE", "z9hG4bKm3", "m@x", 3, "tt", &udp_peer);
    receive(c);
    assert_int_equal(nreq, 2);
    sip_msg_unref(a);
    sip_msg_unref(b);
    sip_msg_unref(c);
}

static void txn_server_rfc2543_matching(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", NULL, "old@x", 9, NULL, &udp_peer);
    receive(req);
    assert_int_equal(nreq, 1);
    sip_txn_t *inv = sip_txn_ref(held);
    sip_msg_t *again = peer_req("INVITE", NULL, "old@x", 9, NULL, &udp_peer);
    receive(again); /* matched without a branch: absorbed */
    assert_int_equal(nreq, 1);
    sip_msg_t *other = peer_req("INVITE", NULL, "old@x", 10, NULL, &udp_peer);
    receive(other); /* another CSeq: a new transaction */
    assert_int_equal(nreq, 2);
    assert_int_equal(sip_txn_respond(inv, 404, NULL), 0);
    receive(again);
    assert_int_equal(count_status(404, 0), 2);
    /* Idle after its final response: the RFC 2543 matching works from the kept key. */
    assert_null(sip_txn_get_request(inv));
    assert_null(sip_txn_get_response(inv));
    int first = nth_status(404, 0);
    assert_resent(nth_status(404, 1), first);
    sip_str_t tag = sip_msg_get_to(sent[first].msg)->tag;
    char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)tag.len, tag.ptr);
    sip_msg_t *bad = peer_req("ACK", NULL, "old@x", 9, "other", &udp_peer);
    receive(bad); /* To tag differs from the response's: not this transaction's ACK */
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_COMPLETED);
    assert_int_equal(nack, 1);
    sip_msg_t *ack = peer_req("ACK", NULL, "old@x", 9, tagbuf, &udp_peer);
    receive(ack);
    assert_int_equal(sip_txn_get_state(inv), SIP_TXN_CONFIRMED);
    assert_int_equal(nack, 1);
    /* A CANCEL without a branch finds the INVITE with CSeq 10 the same way. */
    sip_msg_t *c = peer_req("CANCEL", NULL, "old@x", 10, NULL, &udp_peer);
    int base = nsent;
    receive(c);
    assert_int_equal(count_status(200, base), 1);
    assert_int_equal(count_status(487, base), 1);
    sip_txn_unref(inv);
    sip_msg_unref(c);
    sip_msg_unref(ack);
    sip_msg_unref(bad);
    sip_msg_unref(other);
    sip_msg_unref(again);
    sip_msg_unref(req);
}

static void txn_server_answer_inside_callback(void **state)
{
    (void)state;
    auto_status = 404;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKcb", "cb@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 404);
    advance(200);
    assert_int_equal(count_status(100, 0), 0); /* answered: no 100 Trying */
    assert_int_equal(count_status(500, 0), 0);
    sip_msg_unref(req);
}

/* RFC 3261 §8.2.6.2: every response sip_txn_create_response() makes for a transaction carries
 * the same To tag, whether the earlier ones were sent or not. */
static void txn_server_create_response_keeps_one_tag(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKcr", "cr@x", 1, NULL, &udp_peer);
    receive(req);
    sip_txn_t *t = held;
    assert_non_null(t);
    sip_msg_t *r100, *r180, *r183, *r200;
    /* 100 Trying carries no tag (§8.2.6.2 allows it), and makes none. */
    assert_int_equal(sip_txn_create_response(&r100, t, 100, NULL), 0);
    assert_int_equal(to_tag_of(r100).len, 0);
    /* A 180 made but never sent: its new tag is the transaction's from now on. */
    assert_int_equal(sip_txn_create_response(&r180, t, 180, NULL), 0);
    assert_true(to_tag_of(r180).len > 0);
    assert_int_equal(sip_txn_create_response(&r183, t, 183, "Session Progress"), 0);
    assert_true(sip_str_eq(to_tag_of(r180), to_tag_of(r183)));
    assert_int_equal(sip_txn_reply(t, r183), 0);
    assert_int_equal(sip_txn_create_response(&r200, t, 200, NULL), 0);
    assert_true(sip_str_eq(to_tag_of(r180), to_tag_of(r200)));
    assert_str(sip_msg_get_reason(r200), "OK");
    assert_int_equal(sip_txn_reply(t, r200), 0);
    assert_int_equal(nsent, 2);
    assert_true(sip_str_eq(to_tag_of(sent[0].msg), to_tag_of(sent[1].msg)));
    /* The final response went: the request is gone, nothing more to build from. */
    sip_msg_t *late = (sip_msg_t *)1;
    assert_int_equal(sip_txn_create_response(&late, t, 200, NULL), SIP_EINVAL);
    assert_null(late);
    sip_msg_unref(r100);
    sip_msg_unref(r180);
    sip_msg_unref(r183);
    sip_msg_unref(r200);
    sip_msg_unref(req);
}

/* A tag the TU chose for a response it sent is the one later responses carry; a request in a
 * dialog keeps its own. */
static void txn_server_create_response_follows_sent_tag(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKcs", "cs@x", 1, NULL, &udp_peer);
    receive(req);
    sip_msg_t *r180, *r486;
    assert_int_equal(sip_msg_create_response(&r180, req, 180, NULL, "tu-tag"), 0);
    assert_int_equal(sip_txn_reply(held, r180), 0);
    assert_int_equal(sip_txn_create_response(&r486, held, 486, NULL), 0);
    assert_str(to_tag_of(r486), "tu-tag");
    sip_msg_unref(r180);
    sip_msg_unref(r486);

    sip_msg_t *bye = peer_req("BYE", "z9hG4bKcb", "cs@x", 2, "dlg-tag", &udp_peer);
    receive(bye);
    sip_msg_t *r200;
    assert_int_equal(sip_txn_create_response(&r200, held, 200, NULL), 0);
    assert_str(to_tag_of(r200), "dlg-tag");
    assert_int_equal(sip_txn_reply(held, r200), 0);
    sip_msg_unref(r200);
    sip_msg_unref(bye);
    sip_msg_unref(req);
}

static void txn_server_create_response_rejects_bad_input(void **state)
{
    (void)state;
    sip_msg_t *out = (sip_msg_t *)1;
    assert_int_equal(sip_txn_create_response(&out, NULL, 200, NULL), SIP_EINVAL);
    assert_null(out);
    assert_int_equal(sip_txn_create_response(NULL, NULL, 200, NULL), SIP_EINVAL);
    /* A client transaction has no request to answer. */
    sip_msg_t *creq = client_req("OPTIONS");
    sip_txn_t *c;
    assert_int_equal(
        sip_txn_client_create(&c, layer, creq, &udp_peer, NULL, on_response, &cli, NULL), 0);
    out = (sip_msg_t *)1;
    assert_int_equal(sip_txn_create_response(&out, c, 200, NULL), SIP_EINVAL);
    assert_null(out);
    sip_txn_close(c);
    sip_txn_unref(c);
    sip_msg_unref(creq);
    sip_msg_t *req = peer_req("OPTIONS", "z9hG4bKbi", "bi@x", 1, NULL, &udp_peer);
    receive(req);
    out = (sip_msg_t *)1;
    assert_int_equal(sip_txn_create_response(&out, held, 99, NULL), SIP_EINVAL);
    assert_null(out);
    assert_int_equal(sip_txn_create_response(&out, held, 700, NULL), SIP_EINVAL);
    sip_txn_close(held);
    assert_int_equal(sip_txn_create_response(&out, held, 200, NULL), SIP_ECLOSED);
    assert_null(out);
    sip_msg_unref(req);
}

/* §9.2 with a proxy's CANCEL (§16.10): the INVITE had no tagged response yet; the CANCEL's 200
 * makes a tag and the INVITE's own responses carry it. */
static void txn_server_proxy_cancel_200_tag_is_the_invites(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKpt", "pt@x", 4, NULL, &udp_peer);
    receive(req);
    sip_txn_t *inv = held;
    assert_int_equal(sip_txn_set_event_handler(inv, on_event, NULL, NULL), 0);
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKpt", "pt@x", 4, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_true(to_tag_of(sent[0].msg).len > 0);
    assert_int_equal(sip_txn_respond(inv, 487, NULL), 0);
    assert_int_equal(nsent, 2);
    assert_int_equal(sip_msg_get_status(sent[1].msg), 487);
    assert_true(sip_str_eq(to_tag_of(sent[0].msg), to_tag_of(sent[1].msg)));
    sip_msg_unref(c);
    sip_msg_unref(req);
}

/* ---- state changes ------------------------------------------------------------------------ */

/* RFC 3261 §17 figures 5-8 with RFC 6026: what each kind of transaction may do. */
static void txn_state_transitions_follow_the_figures(void **state)
{
    (void)state;
    enum { C = SIP_TXN_CALLING, T = SIP_TXN_TRYING, P = SIP_TXN_PROCEEDING };
    enum { D = SIP_TXN_COMPLETED, A = SIP_TXN_ACCEPTED, F = SIP_TXN_CONFIRMED };
    enum { X = SIP_TXN_TERMINATED, N = SIP__TXN_NEW };
    static const struct {
        int kind;
        unsigned from, to;
        int ok;
    } cases[] = {
        /* INVITE client (figure 5; RFC 6026 §8.4). */
        {SIP__TXN_KIND_INVITE_CLIENT, N, C, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, C, P, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, C, D, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, C, A, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, C, X, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, P, P, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, P, D, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, P, A, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, D, X, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, A, X, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, N, T, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, C, T, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, P, C, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, D, P, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, D, A, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, A, D, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, D, F, 0},
        {SIP__TXN_KIND_INVITE_CLIENT, C, C, 0},
        /* Non-INVITE client (figure 6). */
        {SIP__TXN_KIND_NON_INVITE_CLIENT, N, T, 1},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, T, P, 1},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, T, D, 1},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, P, D, 1},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, D, X, 1},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, N, C, 0},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, T, A, 0},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, P, T, 0},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, D, D, 0},
        /* INVITE server (figure 7; RFC 6026 §8.5). */
        {SIP__TXN_KIND_INVITE_SERVER, N, P, 1},
        {SIP__TXN_KIND_INVITE_SERVER, P, P, 1},
        {SIP__TXN_KIND_INVITE_SERVER, P, D, 1},
        {SIP__TXN_KIND_INVITE_SERVER, P, A, 1},
        {SIP__TXN_KIND_INVITE_SERVER, D, F, 1},
        {SIP__TXN_KIND_INVITE_SERVER, F, X, 1},
        {SIP__TXN_KIND_INVITE_SERVER, A, X, 1},
        {SIP__TXN_KIND_INVITE_SERVER, N, T, 0},
        {SIP__TXN_KIND_INVITE_SERVER, A, F, 0},
        {SIP__TXN_KIND_INVITE_SERVER, A, D, 0},
        {SIP__TXN_KIND_INVITE_SERVER, F, D, 0},
        {SIP__TXN_KIND_INVITE_SERVER, D, P, 0},
        /* Non-INVITE server (figure 8). */
        {SIP__TXN_KIND_NON_INVITE_SERVER, N, T, 1},
        {SIP__TXN_KIND_NON_INVITE_SERVER, T, P, 1},
        {SIP__TXN_KIND_NON_INVITE_SERVER, T, D, 1},
        {SIP__TXN_KIND_NON_INVITE_SERVER, P, D, 1},
        {SIP__TXN_KIND_NON_INVITE_SERVER, D, X, 1},
        {SIP__TXN_KIND_NON_INVITE_SERVER, T, A, 0},
        {SIP__TXN_KIND_NON_INVITE_SERVER, D, F, 0},
        {SIP__TXN_KIND_NON_INVITE_SERVER, D, T, 0},
        /* Terminated is the end for everyone; a close reaches it from anywhere. */
        {SIP__TXN_KIND_INVITE_SERVER, X, P, 0},
        {SIP__TXN_KIND_NON_INVITE_CLIENT, X, X, 0},
        {SIP__TXN_KIND_NON_INVITE_SERVER, N, X, 1},
        {SIP__TXN_KIND_INVITE_CLIENT, X + 9, X, 0},
        {4, N, T, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok = sip__txn_transition_ok(cases[i].kind, cases[i].from, cases[i].to);
        if (ok != cases[i].ok)
            fail_msg("kind %d: %u -> %u gives %d", cases[i].kind, cases[i].from, cases[i].to, ok);
    }
}

static char trace[16][160];
static int ntrace;

static void on_trace(sip_loop_t *l, sip_log_level_t level, const char *module, const char *text,
                     void *user)
{
    (void)l;
    (void)user;
    if (level != SIP_LOG_TRACE || strcmp(module, "txn") != 0) return;
    if (ntrace < 16) snprintf(trace[ntrace], sizeof(trace[0]), "%s", text);
    ntrace++;
}

/* Each change is logged at trace level with the branch, the old state and the new. */
static void txn_state_changes_are_logged(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_TRACE, on_trace, NULL, NULL), 0);
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKlog", "log@x", 1, NULL, &udp_peer);
    receive(req);
    assert_int_equal(sip_txn_respond(held, 180, NULL), 0);
    assert_int_equal(sip_txn_respond(held, 183, NULL), 0); /* Proceeding stays: no line */
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    sip_str_t tag = to_tag_of(sent[0].msg);
    char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)tag.len, tag.ptr);
    sip_msg_t *ack = peer_req("ACK", "z9hG4bKlog", "log@x", 1, tagbuf, &udp_peer);
    receive(ack);
    advance(5000); /* Timer I */
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    static const char *const want[] = {
        "INVITE server z9hG4bKlog: (new) -> Proceeding",
        "INVITE server z9hG4bKlog: Proceeding -> Completed",
        "INVITE server z9hG4bKlog: Completed -> Confirmed",
        "INVITE server z9hG4bKlog: Confirmed -> Terminated",
    };
    assert_int_equal(ntrace, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(trace[i], want[i]);

    /* A client's: its branch is the one the layer made. */
    ntrace = 0;
    sip_msg_t *creq = client_req("OPTIONS");
    sip_txn_t *c;
    assert_int_equal(
        sip_txn_client_create(&c, layer, creq, &udp_peer, NULL, on_response, &cli, NULL), 0);
    sip_str_t br = sip_msg_get_via(creq)->branch;
    peer_answers(creq, 200, "t9");
    assert_int_equal(ntrace, 2);
    char line[160];
    snprintf(line, sizeof(line), "non-INVITE client %.*s: (new) -> Trying", (int)br.len, br.ptr);
    assert_string_equal(trace[0], line);
    snprintf(line, sizeof(line), "non-INVITE client %.*s: Trying -> Completed", (int)br.len,
             br.ptr);
    assert_string_equal(trace[1], line);
    sip_txn_unref(c);
    sip_msg_unref(creq);
    sip_msg_unref(ack);
    sip_msg_unref(req);
}

static void on_response_keep(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    seen_t *s = user;
    on_response(txn, status, rsp, user);
    /* The Borrowed const response is kept as the docs say: sip_msg_ref() takes a const view. */
    if (rsp && status >= 200) {
        sip_msg_unref(s->last);
        s->last = sip_msg_ref(rsp);
    }
}

static void txn_response_cb_keeps_the_response(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    assert_int_equal(
        sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response_keep, &cli, NULL), 0);
    peer_answers(req, 202, "k1");
    assert_int_equal(cli.n, 1);
    advance(5000); /* Timer K: the transaction ends, the response the TU kept stays */
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_non_null(cli.last);
    assert_int_equal(sip_msg_get_status(cli.last), 202);
    assert_str(to_tag_of(cli.last), "k1");
    sip_msg_unref(cli.last);
    cli.last = NULL;
    sip_txn_unref(t);
    sip_msg_unref(req);
}

#ifdef NDEBUG
static char errline[160];
static int nerr;

static void on_error_log(sip_loop_t *l, sip_log_level_t level, const char *module, const char *text,
                         void *user)
{
    (void)l;
    (void)user;
    if (level != SIP_LOG_ERROR || strcmp(module, "txn") != 0) return;
    snprintf(errline, sizeof(errline), "%s", text);
    nerr++;
}
#endif

/* An illegal change is a bug of the layer: an assertion in debug builds; in release builds the
 * change stands and an error is logged, which only a test can provoke. */
static void txn_state_illegal_change_is_logged_in_release(void **state)
{
    (void)state;
#ifdef NDEBUG
    nerr = 0;
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_ERROR, on_error_log, NULL, NULL), 0);
    sip_msg_t *req = peer_req("OPTIONS", "z9hG4bKill", "ill@x", 1, NULL, &udp_peer);
    receive(req);
    sip__txn_set_state(held, SIP_TXN_CONFIRMED); /* no non-INVITE server is ever Confirmed */
    assert_int_equal(nerr, 1);
    assert_string_equal(errline,
                        "non-INVITE server z9hG4bKill: illegal state change Trying -> Confirmed");
    sip_msg_unref(req);
#else
    skip();
#endif
}

/* RFC 3263 §4.3 failover starts a client transaction over: the one sanctioned way back. */
static void txn_state_restart_for_the_next_target(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_TRACE, on_trace, NULL, NULL), 0);
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(
        sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli, NULL), 0);
    peer_answers(req, 180, "r1");
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_PROCEEDING);
    ntrace = 0;
    assert_int_equal(sip__txn_restart_state(t), 0);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_CALLING);
    assert_int_equal(ntrace, 1);
    assert_non_null(strstr(trace[0], ": Proceeding -> Calling (next target)"));
    peer_answers(req, 486, "r1");
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    assert_int_equal(sip__txn_restart_state(t), -1); /* a final response: nothing to restart */
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    /* Server transactions never restart. */
    sip_msg_t *sreq = peer_req("OPTIONS", "z9hG4bKrs", "rs@x", 1, NULL, &udp_peer);
    receive(sreq);
    assert_int_equal(sip__txn_restart_state(held), -1);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TRYING);
    sip_txn_unref(t);
    sip_msg_unref(sreq);
    sip_msg_unref(req);
}

static void txn_stateless_sending(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("OPTIONS", "z9hG4bKst", "st@x", 1, NULL, &udp_peer);
    assert_int_equal(sip_txn_reply_stateless(layer, req, 200, NULL), 0);
    assert_int_equal(nsent, 1);
    assert_int_equal(sip_msg_get_status(sent[0].msg), 200);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_msg_t *ack = client_req("ACK");
    assert_int_equal(sip_txn_send_stateless(layer, ack, &udp_peer), 0);
    assert_int_equal(nsent, 2);
    assert_true(sip_msg_get_via(ack)->branch.len > 7);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    sip_msg_unref(ack);
    sip_msg_unref(req);
}

static void txn_loop_close_with_live_transactions(void **state)
{
    (void)state;
    sip_msg_t *req = client_req("INVITE");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response, &cli,
                                           on_free),
                     0);
    sip_msg_t *sreq = peer_req("INVITE", "z9hG4bKlc", "lc@x", 1, NULL, &udp_peer);
    receive(sreq);
    seen_t ev = {0};
    assert_int_equal(sip_txn_set_event_handler(held, on_event, &ev, on_free), 0);
    assert_int_equal(sip_txn_layer_count(layer), 2);
    complete_sends(0);
    sip_loop_close(loop);
    assert_int_equal(cli.freed, 1);
    assert_int_equal(ev.freed, 1);
    assert_int_equal(cli.n, 0);
    assert_int_equal(sip_txn_layer_count(layer), 0);
    assert_int_equal(sip_txn_respond(held, 200, NULL), SIP_ECLOSED);
    assert_int_equal(sip_txn_cancel(t), SIP_ECLOSED);
    assert_int_equal(sip_txn_layer_receive(layer, sreq), SIP_ECLOSED);
    sip_txn_t *t2 = (sip_txn_t *)1;
    assert_int_equal(sip_txn_client_create(&t2, layer, req, NULL, NULL, NULL, NULL, NULL),
                     SIP_ECLOSED);
    assert_null(t2);
    sip_txn_unref(t);
    sip_msg_unref(sreq);
    sip_msg_unref(req);
}

/* ---- idle transactions: key and wire form only ------------------------------------------- */

static void txn_server_idle_keeps_wire_form(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKw1", "w@x", 2, NULL, &udp_peer);
    receive(req);
    sip_txn_set_event_handler(held, on_event, NULL, NULL);
    assert_int_equal(sip_txn_respond(held, 180, NULL), 0);
    /* Active: the parsed messages are there. */
    assert_ptr_equal(sip_txn_get_request(held), req);
    assert_ptr_equal(sip_txn_get_response(held), sent[0].msg);
    assert_int_equal(sip_txn_respond(held, 486, NULL), 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_COMPLETED);
    assert_null(sip_txn_get_request(held));
    assert_null(sip_txn_get_response(held));
    /* Nothing to build a response from any more. */
    assert_int_equal(sip_txn_respond(held, 486, NULL), SIP_EINVAL);
    /* §17.2.1: a retransmitted INVITE gets the 486 again, byte for byte, where it went. */
    receive(req);
    assert_int_equal(nsent, 3);
    assert_resent(2, 1);
    assert_int_equal(sip_msg_get_status(sent[2].msg), 486);
    /* Timer G too. */
    advance(500);
    assert_int_equal(nsent, 4);
    assert_resent(3, 1);
    /* A CANCEL now has no effect but its 200, with the To tag of the 486 (§9.2). */
    sip_msg_t *c = peer_req("CANCEL", "z9hG4bKw1", "w@x", 2, NULL, &udp_peer);
    receive(c);
    assert_int_equal(nsent, 5);
    assert_int_equal(sip_msg_get_status(sent[4].msg), 200);
    assert_int_equal(sip_msg_get_cseq(sent[4].msg)->method, SIP_METHOD_CANCEL);
    assert_true(to_tag_of(sent[1].msg).len > 0);
    assert_true(sip_str_eq(to_tag_of(sent[4].msg), to_tag_of(sent[1].msg)));
    assert_int_equal(nevents, 0);
    /* The ACK matches the idle transaction: Confirmed, then Timer I. */
    char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%.*s", (int)to_tag_of(sent[1].msg).len,
             to_tag_of(sent[1].msg).ptr);
    sip_msg_t *ack = peer_req("ACK", "z9hG4bKw1", "w@x", 2, tagbuf, &udp_peer);
    receive(ack);
    assert_int_equal(nack, 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_CONFIRMED);
    receive(req); /* Confirmed absorbs the INVITE too */
    advance(10000);
    assert_int_equal(nsent, 5);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_TERMINATED);
    assert_int_equal(nevents, 0);
    sip_msg_unref(ack);
    sip_msg_unref(c);
    sip_msg_unref(req);
}

static void txn_server_idle_extension_method(void **state)
{
    (void)state;
    /* An extension method matches by its name; another extension with the same branch does not
     * belong to the transaction. */
    sip_msg_t *req = peer_req("FOO", "z9hG4bKe1", "e@x", 1, NULL, &udp_peer);
    sip_msg_t *bar = peer_req("BAR", "z9hG4bKe1", "e@x", 1, NULL, &udp_peer);
    auto_status = 202;
    receive(req);
    assert_int_equal(nreq, 1);
    assert_int_equal(nsent, 1);
    receive(req);
    assert_int_equal(nsent, 2);
    assert_resent(1, 0);
    assert_int_equal(nreq, 1);
    receive(bar);
    assert_int_equal(nreq, 2);
    assert_int_equal(nsent, 3);
    assert_false(sent[2].raw);
    assert_str(sip_msg_get_cseq(sent[2].msg)->method_str, "BAR");
    sip_msg_unref(bar);
    sip_msg_unref(req);
}

static void txn_server_accepted_tu_2xx_after_idle(void **state)
{
    (void)state;
    sip_msg_t *req = peer_req("INVITE", "z9hG4bKa9", "a9@x", 1, NULL, &tcp_peer);
    receive(req);
    sip_msg_t *ok;
    assert_int_equal(sip_msg_create_response(&ok, req, 200, NULL, "ok9"), 0);
    assert_int_equal(sip_txn_reply(held, ok), 0);
    assert_int_equal(sip_txn_get_state(held), SIP_TXN_ACCEPTED);
    assert_null(sip_txn_get_request(held));
    assert_null(sip_txn_get_response(held));
    /* RFC 6026 §8.7: the TU's retransmission, built without network facts, still goes back
     * over the connection the INVITE came on. */
    sip_msg_t *again;
    assert_int_equal(sip_msg_create_response(&again, req, 200, NULL, "ok9"), 0);
    sip_msg_set_netinfo(again, NULL);
    assert_int_equal(sip_txn_reply(held, again), 0);
    assert_int_equal(nsent, 2);
    assert_ptr_equal(sent[1].msg, again);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(again);
    assert_non_null(ni);
    assert_int_equal(ni->transport, SIP_TRANSPORT_TCP);
    assert_int_equal(ni->conn_id, 9);
    assert_string_equal(ni->remote_ip, "10.0.0.2");
    /* Building a 2xx needs the request, which is gone: the TU keeps its own. */
    assert_int_equal(sip_txn_respond(held, 200, NULL), SIP_EINVAL);
    sip_msg_unref(again);
    sip_msg_unref(ok);
    sip_msg_unref(req);
}

static sip_msg_t *req_in_final_cb;

static void on_response_peek(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    on_response(txn, status, rsp, user);
    if (status >= 200) req_in_final_cb = sip_txn_get_request(txn);
}

static void txn_client_idle_after_final_callback(void **state)
{
    (void)state;
    /* Non-INVITE: Completed after the callback, which still sees the request. */
    sip_msg_t *req = client_req("OPTIONS");
    sip_txn_t *t;
    req_in_final_cb = NULL;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response_peek,
                                           &cli, on_free),
                     0);
    assert_ptr_equal(sip_txn_get_request(t), req);
    peer_answers(req, 200, "k1");
    assert_ptr_equal(req_in_final_cb, req);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_COMPLETED);
    assert_null(sip_txn_get_request(t));
    assert_null(sip_txn_get_response(t));
    peer_answers(req, 200, "k1"); /* absorbed by the key's match */
    assert_int_equal(cli.n, 1);
    assert_int_equal(nstray, 0);
    assert_int_equal(nsent, 1);
    advance(5000); /* Timer K */
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(cli.freed, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);

    /* INVITE: Accepted after the 2xx; retransmitted 2xx and other forks' still reach the TU. */
    memset(&cli, 0, sizeof(cli));
    req = client_req("INVITE");
    req_in_final_cb = NULL;
    assert_int_equal(sip_txn_client_create(&t, layer, req, &udp_peer, NULL, on_response_peek,
                                           &cli, on_free),
                     0);
    peer_answers(req, 200, "f1");
    assert_ptr_equal(req_in_final_cb, req);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_ACCEPTED);
    assert_null(sip_txn_get_request(t));
    peer_answers(req, 200, "f1");
    peer_answers(req, 200, "f2");
    assert_int_equal(cli.n, 3);
    assert_int_equal(cli.status[2], 200);
    assert_int_equal(cli.with_msg[2], 1);
    peer_answers(req, 486, "f3"); /* not a 2xx: Accepted drops it */
    assert_int_equal(cli.n, 3);
    assert_int_equal(nsent, 2);
    advance(32000);
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_TERMINATED);
    assert_int_equal(cli.freed, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define P(f) cmocka_unit_test_setup_teardown(f, setup_proxy, teardown)
        T(txn_invite_client_timer_a_doubles_then_b),
        T(txn_non_invite_client_timer_e_capped_then_f),
        T(txn_non_invite_client_proceeding_uses_t2_then_k),
        T(txn_client_opts_zero_fields_are_the_layers),
        T(txn_invite_client_acks_non_2xx),
        T(txn_invite_client_accepted_passes_2xx),
        T(txn_reliable_transport_does_not_retransmit),
        T(txn_client_cancel_waits_for_provisional),
        T(txn_client_cancel_without_final_times_out),
        T(txn_transport_error_gives_503),
        T(txn_located_send_starts_retransmissions_when_sent),
        T(txn_close_inside_callback),
        T(txn_create_rejects_bad_input),
        T(txn_create_alloc_failure_sweep),
        T(txn_server_absorbs_retransmissions),
        T(txn_server_unanswered_gets_500),
        T(txn_server_invite_100_trying_g_and_h),
        T(txn_server_invite_ack_confirms_then_i),
        T(txn_server_invite_accepted_rfc6026),
        T(txn_server_cancel_answers_200_and_487),
        T(txn_server_transport_error_ends_transaction),
        T(txn_server_cancel_crossing_200),
        T(txn_server_cancel_non_invite),
        T(txn_server_cancel_unknown_481),
        T(txn_server_cancel_200_shares_the_487_tag),
        T(txn_server_cancel_mode_per_transaction),
        P(txn_server_proxy_cancel_leaves_invite_to_tu),
        P(txn_server_proxy_cancel_then_downstream_200),
        P(txn_server_proxy_cancel_answered_in_event),
        P(txn_server_proxy_cancel_tu_drops_gets_487),
        P(txn_server_proxy_cancel_without_handler_gets_487),
        P(txn_server_proxy_layer_per_transaction_487),
        P(txn_server_proxy_cancel_crossing_and_unknown),
        T(txn_server_merged_request_482),
        T(txn_server_rfc2543_matching),
        T(txn_server_answer_inside_callback),
        T(txn_server_create_response_keeps_one_tag),
        T(txn_server_create_response_follows_sent_tag),
        T(txn_server_create_response_rejects_bad_input),
        P(txn_server_proxy_cancel_200_tag_is_the_invites),
        T(txn_state_transitions_follow_the_figures),
        T(txn_state_changes_are_logged),
        T(txn_response_cb_keeps_the_response),
        T(txn_state_restart_for_the_next_target),
        T(txn_state_illegal_change_is_logged_in_release),
        T(txn_stateless_sending),
        T(txn_loop_close_with_live_transactions),
        T(txn_server_idle_keeps_wire_form),
        T(txn_server_idle_extension_method),
        T(txn_server_accepted_tu_2xx_after_idle),
        T(txn_client_idle_after_final_callback),
#undef P
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
