/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the proxy core: a run of messages delivered through the transport's
 * handler chain (Via stamp, validation, the transaction layer, the proxy's intake with its §16.3
 * checks and §16.4 route preprocessing), each routed by a program that forwards statelessly,
 * relays (parallel or by q, with Record-Route and 3xx recursion), answers, drops or keeps it;
 * the responses to what the proxy sent come back made from its own requests, and stray ones go
 * through the stateless response path. Whatever arrives, the proxy must not crash, leak or
 * touch a request it freed; closing it must release everything.
 *
 * Input: chunks separated by NUL octets. A chunk whose first octet is below 0x20 starts with a
 * control octet (bits 0-2: what the routing program does; bit 3: the message came over TCP;
 * bit 4: then a response to the last request the proxy sent comes back, its status from the
 * chunk's length); any other chunk is one message routed by its length, so the conformance
 * corpus seeds it as is. The first octet of the input chooses a stateless proxy (bit 0). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"

#include "fuzz_clock.h"

/* ---- what the layer sends: printed, the last request kept -------------------------------- */

static sip_msg_t *last_sent;
static volatile unsigned sink;

static void sink_msg(const sip_msg_t *m)
{
    char buf[8192];
    int n = sip_msg_print(m, buf, sizeof(buf));
    sink += (unsigned)n;
}

/* Sends in flight: their completion runs later, as the transport's does. */
typedef struct pending {
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
} pending_t;

static pending_t pend[64];
static int npend;

static void complete_sends(int status)
{
    while (npend) {
        pending_t p = pend[--npend];
        if (p.cb) p.cb(NULL, status, p.user);
        if (p.user_free) p.user_free(p.user);
    }
}

static int io_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)ctx;
    (void)dst;
    sink_msg(msg);
    sip_msg_unref(last_sent);
    last_sent = sip_msg_ref(msg);
    if (npend == (int)(sizeof(pend) / sizeof(pend[0]))) {
        if (user_free) user_free(user);
        return SIP_EIO;
    }
    if (cb || user_free) pend[npend++] = (pending_t){cb, user, user_free};
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    sink_msg(rsp);
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    sink += (unsigned)len + (len ? (unsigned char)data[0] : 0u);
    return 0;
}

/* ---- the routing program ----------------------------------------------------------------- */

static unsigned action;
static sip_proxy_req_t *kept[4];
static unsigned nkept;

static int on_branch(sip_proxy_req_t *req, sip_proxy_branch_event_t ev, int branch, sip_msg_t *msg,
                     void *user)
{
    (void)req;
    (void)user;
    if (ev == SIP_PROXY_BRANCH_REQUEST) return branch == 2;
    return sip_msg_get_status(msg) == 183;
}

static void on_done(sip_proxy_req_t *req, int status, sip_msg_t *best, void *user)
{
    (void)user;
    sink += (unsigned)status + (best ? 1u : 0u);
    /* Failure routing: once more to another target. */
    if (status == 486 && sip_proxy_req_branch_count(req) < 3) {
        sip_proxy_target_t t = {.uri = "sip:vm@192.0.2.9", .q = -1};
        sip_proxy_req_add_target(req, &t);
        sip_proxy_req_relay(req, NULL, on_done, NULL, NULL);
    }
}

static void on_route(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    (void)user;
    sip_proxy_relay_opts_t o;
    sip_proxy_relay_opts_init(&o);
    sip_proxy_target_t t1 = {.uri = "sip:bob@192.0.2.1:5062", .q = 1000},
                       t2 = {.uri = "sip:bob@192.0.2.2;transport=tcp",
                             .q = 500,
                             .path = "<sip:edge.example.com;lr>",
                             .dst = "sip:198.51.100.7:40000"};
    switch (action & 7) {
    case 0: sip_proxy_req_forward(req, "sip:bob@192.0.2.1", action & 8); break;
    case 1: sip_proxy_req_forward(req, NULL, 1); break;
    case 2:
        o.record_route = 1;
        o.on_branch = on_branch;
        sip_proxy_req_add_target(req, &t1);
        sip_proxy_req_add_target(req, &t2);
        sip_proxy_req_relay(req, &o, on_done, NULL, NULL);
        break;
    case 3:
        o.parallel = 0;
        o.follow_redirects = 1;
        o.keep_final = action & 8;
        sip_proxy_req_add_target(req, &t2);
        sip_proxy_req_add_target(req, &t1);
        sip_proxy_req_relay(req, &o, on_done, NULL, NULL);
        break;
    case 4: sip_proxy_req_reply(req, 486, NULL); break;
    case 5: sip_proxy_req_drop(req); break;
    case 6:
        /* Decided later (after a lookup, an await): a reply or a relay with the next chunk. */
        sip_proxy_req_unref(kept[nkept % 4]);
        kept[nkept++ % 4] = sip_proxy_req_ref(req);
        break;
    default: break; /* nobody decides: 500 */
    }
}

static const sip_netinfo_t udp_peer = {
    SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "10.0.0.2", 5070, 0, ""};
static const sip_netinfo_t tcp_peer = {
    SIP_TRANSPORT_TCP, "127.0.0.1", 5060, "10.0.0.2", 5070, 9, ""};

static void one_chunk(sip_transport_t *tp, const uint8_t *p, size_t n)
{
    unsigned ctl;
    if (n && p[0] < 0x20) {
        ctl = p[0];
        p++;
        n--;
    } else {
        ctl = (unsigned)(n % 8) | ((n & 8) ? 16u : 0u);
    }
    action = ctl & 7;
    sip_msg_t *msg = NULL;
    if (sip_msg_parse(&msg, (const char *)p, n, NULL) == 0) {
        sip_msg_set_netinfo(msg, (ctl & 8) ? &tcp_peer : &udp_peer);
        sip__tp_deliver(tp, msg, 1);
    }
    sip_msg_unref(msg);
    /* A request kept from before gets its answer or goes on now. */
    if (nkept && (n & 3) == 1) {
        sip_proxy_req_t *r = kept[(nkept - 1) % 4];
        if (n & 4)
            sip_proxy_req_relay(r, NULL, NULL, NULL, NULL);
        else
            sip_proxy_req_reply(r, 404, NULL);
    }
    if ((ctl & 16) && last_sent && sip_msg_is_request(last_sent) &&
        sip_msg_get_method(last_sent) != SIP_METHOD_ACK) {
        static const int statuses[] = {100, 180, 183, 200, 302, 401, 486, 503, 603, 407};
        sip_msg_t *rsp = NULL;
        int st = statuses[n % 10];
        if (sip_msg_create_response(&rsp, last_sent, st, NULL, "fz") == 0) {
            if (st == 302) sip_msg_add_header(rsp, "Contact", "<sip:carol@192.0.2.3>;q=0.5");
            if (st == 401) sip_msg_add_header(rsp, "WWW-Authenticate", "Digest realm=\"a\"");
            sip_msg_set_netinfo(rsp, (ctl & 8) ? &tcp_peer : &udp_peer);
            sip__tp_deliver(tp, rsp, 1);
        }
        sip_msg_unref(rsp);
    }
    complete_sends((n & 32) ? SIP_EIO : 0);
    advance((uint64_t)(n * 97 % 40000));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    now_ms = 1000;
    armed = 0;
    nkept = 0;
    npend = 0;
    sip_loop_t *loop = NULL;
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    sip_proxy_t *proxy = NULL;
    if (sip_loop_create(&loop) || sip_transport_create(&tp, loop, NULL)) abort();
    /* A listening point for the proxy's own addresses (Record-Route, Route, Via); nothing is
     * sent through it. */
    if (sip_transport_listen(tp, "udp:127.0.0.1:0") < 0) abort();
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.clock = &fuzz_clock;
    if (sip_txn_layer_create(&layer, tp, &o)) abort();
    sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.stateless = size && (data[0] & 1);
    po.max_branches = 4;
    if (sip_proxy_create(&proxy, layer, &po, on_route, NULL, NULL)) abort();
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            one_chunk(tp, data + start, i - start);
            start = i + 1;
        }
    }
    for (unsigned i = 0; i < 4; i++) {
        sip_proxy_req_unref(kept[i]);
        kept[i] = NULL;
    }
    complete_sends(0);
    advance(10 * 60 * 1000);
    sip_proxy_close(proxy);
    sip_proxy_unref(proxy);
    complete_sends(0);
    advance(10 * 60 * 1000);
    complete_sends(0);
    sip_msg_unref(last_sent);
    last_sent = NULL;
    sip_txn_layer_close(layer);
    complete_sends(0);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
    if (sip_live_count(SIP_LIVE_PROXY_REQ) || sip_live_count(SIP_LIVE_PROXY) ||
        sip_live_count(SIP_LIVE_TXN))
        abort();
    return 0;
}
