/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the transaction layer: a run of messages (requests and responses, over
 * UDP or TCP) delivered to a layer whose TU answers, cancels and drops transactions, with the
 * clock moved on between messages so that every timer fires. Whatever arrives in whatever order,
 * the layer must not crash, leak or call back a transaction it freed; closing it must release
 * everything.
 *
 * Input: chunks separated by NUL octets. A chunk whose first octet is below 0x20 starts with a
 * control octet (bit 0: TCP; bit 1: the TU answers its newest server transaction; bits 2-3:
 * which status; bit 4: the chunk is a request the TU sends as a client transaction, or when it
 * does not parse, a cancel of the newest client transaction); any other chunk is one message,
 * delivered over UDP with an answer whose status depends on its length, so the conformance
 * corpus seeds it as is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "txn/txn_int.h"

#include "fuzz_clock.h"

#define KEEP 8

/* Sends in flight: their completion runs later, as the transport's does. */
typedef struct pending {
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
} pending_t;

static pending_t pend[64];
static int npend;
static int send_fails; /* the next send fails at once */

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
    char buf[8192];
    (void)sip_msg_print(msg, buf, sizeof(buf));
    if (send_fails || npend == (int)(sizeof(pend) / sizeof(pend[0]))) {
        send_fails = 0;
        if (user_free) user_free(user);
        return SIP_EIO;
    }
    (void)dst;
    if (cb || user_free) pend[npend++] = (pending_t){cb, user, user_free};
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    char buf[8192];
    return sip_msg_print(rsp, buf, sizeof(buf)) < 0 ? SIP_EINVAL : 0;
}

static volatile unsigned sink;

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    unsigned acc = 0;
    for (size_t i = 0; i < len; i++)
        acc += (unsigned char)data[i];
    sink += acc;
    return 0;
}

/* The TU: keeps the newest server and client transactions to act on them later. */
static sip_txn_t *servers[KEEP], *clients[KEEP];
static unsigned nserv, ncli;

static void keep(sip_txn_t **ring, unsigned *n, sip_txn_t *t)
{
    sip_txn_t **slot = &ring[*n % KEEP];
    sip_txn_unref(*slot);
    *slot = sip_txn_ref(t);
    (*n)++;
}

static void on_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)layer;
    (void)user;
    if (!txn) return; /* an ACK for a 2xx: the TU's */
    if (sip_msg_get_method(req) == SIP_METHOD_OPTIONS) {
        sip_txn_respond(txn, 200, NULL);
        return;
    }
    keep(servers, &nserv, txn);
}

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)user;
    if (rsp) sink += (unsigned)sip_msg_get_status(rsp);
    /* A TU that drops its transaction from inside the callback. */
    if (status == 486) sip_txn_close(txn);
}

static void on_stray(sip_txn_layer_t *layer, sip_msg_t *rsp, void *user)
{
    (void)layer;
    (void)user;
    sink += (unsigned)sip_msg_get_status(rsp);
}

static const sip_netinfo_t udp_peer = {
    SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "10.0.0.2", 5070, 0, ""};
static const sip_netinfo_t tcp_peer = {
    SIP_TRANSPORT_TCP, "127.0.0.1", 5060, "10.0.0.2", 5070, 9, ""};

static void one_chunk(sip_txn_layer_t *layer, const uint8_t *p, size_t n)
{
    unsigned ctl;
    if (n && p[0] < 0x20) {
        ctl = p[0];
        p++;
        n--;
    } else {
        ctl = 2u | (unsigned)((n & 3) << 2);
    }
    static const int statuses[] = {180, 200, 486, 503};
    sip_msg_t *msg = NULL;
    sip_parse_error_t err;
    int parsed = sip_msg_parse(&msg, (const char *)p, n, &err) == 0;
    if (ctl & 16) {
        if (parsed && sip_msg_is_request(msg)) {
            sip_txn_t *t = NULL;
            if (sip_txn_client_create(&t, layer, msg, (ctl & 1) ? &tcp_peer : &udp_peer, NULL,
                                      on_response, NULL, NULL) == 0) {
                keep(clients, &ncli, t);
                sip_txn_unref(t);
            }
        } else if (ncli) {
            sip_txn_cancel(clients[(ncli - 1) % KEEP]);
        }
    } else if (parsed) {
        sip_msg_set_netinfo(msg, (ctl & 1) ? &tcp_peer : &udp_peer);
        sip_txn_layer_receive(layer, msg);
    }
    sip_msg_unref(msg);
    if ((ctl & 2) && nserv)
        sip_txn_respond(servers[(nserv - 1) % KEEP], statuses[(ctl >> 2) & 3], NULL);
    /* Time moves on between messages: from nothing to past every end timer. */
    advance((uint64_t)(n * 97 % 40000));
    if (n & 1) send_fails = 1;
    complete_sends((n & 2) ? SIP_EIO : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    now_ms = 1000;
    armed = 0;
    npend = 0;
    send_fails = 0;
    nserv = ncli = 0;
    sip_loop_t *loop = NULL;
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    if (sip_loop_create(&loop) || sip_transport_create(&tp, loop, NULL)) abort();
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.clock = &fuzz_clock;
    o.cancel_keeps_invite = size & 1;
    if (sip_txn_layer_create(&layer, tp, &o)) abort();
    sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    sip_txn_layer_set_request_handler(layer, on_request, NULL, NULL);
    sip_txn_layer_set_stray_handler(layer, on_stray, NULL, NULL);

    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            one_chunk(layer, data + start, i - start);
            start = i + 1;
        }
    }
    /* Let every transaction end on its own, then close what the TU still holds. */
    advance(10 * 60 * 1000);
    complete_sends(0);
    if (sip_txn_layer_count(layer) != 0) {
        /* Only transactions the TU never answered may be left (a server INVITE waits for it). */
        for (unsigned i = 0; i < KEEP; i++)
            if (servers[i]) sip_txn_respond(servers[i], 500, NULL);
        advance(10 * 60 * 1000);
        complete_sends(0);
    }
    for (unsigned i = 0; i < KEEP; i++) {
        sip_txn_unref(servers[i]);
        sip_txn_unref(clients[i]);
        servers[i] = clients[i] = NULL;
    }
    sip_txn_layer_close(layer);
    complete_sends(0);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
    return 0;
}
