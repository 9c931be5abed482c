/* SPDX-License-Identifier: MIT */
/* txn-cpu: libsip's own CPU per call, without the kernel. Runs the calls of SIPp's uac scenario
 * (INVITE with an SDP offer, ACK, BYE) through the parser and a transaction layer whose sends
 * print the message and stop there, with a UAS that answers as sip-uas does (180, then 200
 * with Contact, Allow and an SDP answer; 200 to the BYE), on a clock moved 0.5 ms per call
 * (2,000 calls/s), so every transaction is created, matched, compacted and ended by its timer
 * inside the measurement. Prints the process CPU time per call, and apart from it the parse of
 * the three messages alone: the user-space part of the call benchmark (bench/calls), stable to a
 * few percent where the socket figures move by 10-20%.
 *
 *   txn-cpu [CALLS]        default 200000; prints "call: N ns", "parse: N ns" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip.h"
#include "txn/txn_int.h"

#define BATCH 1000

static const char sdp_offer[] = "v=0\r\n"
                                "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
                                "s=-\r\n"
                                "c=IN IP4 127.0.0.1\r\n"
                                "t=0 0\r\n"
                                "m=audio 6000 RTP/AVP 0\r\n"
                                "a=rtpmap:0 PCMU/8000\r\n";

static const char sdp_answer[] = "v=0\r\n"
                                 "o=sip-uas 1 1 IN IP4 127.0.0.1\r\n"
                                 "s=sip-uas\r\n"
                                 "c=IN IP4 127.0.0.1\r\n"
                                 "t=0 0\r\n"
                                 "m=audio 7000 RTP/AVP 0\r\n"
                                 "a=rtpmap:0 PCMU/8000\r\n";

/* ---- a clock moved by hand ---- */

static uint64_t now_us;
static int armed;
static uint64_t due_ms;
static void (*fire_fn)(void *);
static void *fire_arg;

static uint64_t clock_now(void *u)
{
    (void)u;
    return now_us / 1000;
}

static void clock_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    (void)u;
    armed = 1;
    due_ms = now_us / 1000 + delay;
    fire_fn = fire;
    fire_arg = arg;
}

static void clock_stop(void *u)
{
    (void)u;
    armed = 0;
}

static const sip_txn_clock_t bench_clock = {clock_now, clock_start, clock_stop, NULL};

static void advance_us(uint64_t us)
{
    now_us += us;
    while (armed && due_ms <= now_us / 1000) {
        armed = 0;
        fire_fn(fire_arg);
    }
}

/* ---- sends: printed as the transport would, then dropped ---- */

static char wire[16384];
static volatile size_t sink;

static int io_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)ctx;
    (void)dst;
    (void)cb;
    sink += (size_t)sip_msg_print(msg, wire, sizeof(wire));
    if (user_free) user_free(user);
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    int n = sip_msg_print(rsp, wire, sizeof(wire));
    if (n < 0) return n;
    sink += (size_t)n;
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    (void)data;
    sink += len;
    return 0;
}

/* The bytes the transport just printed, as the real one offers them. */
static int io_last_wire(void *ctx, const sip_msg_t *msg, const char **data, size_t *len)
{
    (void)ctx;
    (void)msg;
    *data = wire;
    *len = strlen(wire);
    return 0;
}

/* ---- the UAS ---- */

typedef struct {
    sip_msg_t *tmpl; /* Contact and Allow, parsed once (as sip-uas keeps them) */
    unsigned long answered, byes, tags;
} uas_t;

static void on_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    uas_t *u = user;
    (void)layer;
    if (!txn) return; /* the ACK of a 2xx */
    if (sip_msg_get_method(req) == SIP_METHOD_BYE) {
        if (sip_txn_respond(txn, 200, NULL) == 0) u->byes++;
        return;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        sip_txn_respond(txn, 501, NULL);
        return;
    }
    char tag[24];
    snprintf(tag, sizeof(tag), "%016lx", 0x5eedUL + u->tags++);
    sip_msg_t *r180 = NULL, *r200 = NULL;
    const sip_header_t *h;
    if (sip_msg_create_response(&r180, req, 180, NULL, tag) == 0 &&
        sip_msg_add_header_copy(r180, sip_msg_header_at(u->tmpl, SIP_HDR_CONTACT, 0)) == 0)
        sip_txn_reply(txn, r180);
    if (sip_msg_create_response(&r200, req, 200, NULL, tag) == 0) {
        int rc = sip_msg_add_header_copy(r200, sip_msg_header_at(u->tmpl, SIP_HDR_CONTACT, 0));
        for (size_t i = 0; rc == 0 && (h = sip_msg_header_at(u->tmpl, SIP_HDR_ALLOW, i)); i++)
            rc = sip_msg_add_header_copy(r200, h);
        if (rc == 0) rc = sip_msg_set_body(r200, "application/sdp", sdp_answer, strlen(sdp_answer));
        if (rc == 0 && sip_txn_reply(txn, r200) == 0) u->answered++;
    }
    sip_msg_unref(r180);
    sip_msg_unref(r200);
}

/* ---- the calls ---- */

typedef struct {
    char *text;
    size_t len;
} wire_t;

/* The three requests of call i, worded as SIPp's uac scenario words them. */
static void make_call(unsigned long i, const char *to_tag, wire_t out[3])
{
    static char buf[3][2048];
    int n = snprintf(buf[0], sizeof(buf[0]),
                     "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-%lu-1-0\r\n"
                     "From: sipp <sip:sipp@127.0.0.1:5061>;tag=%luSIPpTag00%lu\r\n"
                     "To: service <sip:service@127.0.0.1:5060>\r\n"
                     "Call-ID: %lu-1234@127.0.0.1\r\n"
                     "CSeq: 1 INVITE\r\n"
                     "Contact: sip:sipp@127.0.0.1:5061\r\n"
                     "Max-Forwards: 70\r\n"
                     "Subject: Performance Test\r\n"
                     "Content-Type: application/sdp\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     i, i, i, i, strlen(sdp_offer), sdp_offer);
    out[0] = (wire_t){buf[0], (size_t)n};
    n = snprintf(buf[1], sizeof(buf[1]),
                 "ACK sip:service@127.0.0.1:5060 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-%lu-1-5\r\n"
                 "From: sipp <sip:sipp@127.0.0.1:5061>;tag=%luSIPpTag00%lu\r\n"
                 "To: service <sip:service@127.0.0.1:5060>;tag=%s\r\n"
                 "Call-ID: %lu-1234@127.0.0.1\r\n"
                 "CSeq: 1 ACK\r\n"
                 "Contact: sip:sipp@127.0.0.1:5061\r\n"
                 "Max-Forwards: 70\r\n"
                 "Subject: Performance Test\r\n"
                 "Content-Length: 0\r\n\r\n",
                 i, i, i, to_tag, i);
    out[1] = (wire_t){buf[1], (size_t)n};
    n = snprintf(buf[2], sizeof(buf[2]),
                 "BYE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-%lu-1-7\r\n"
                 "From: sipp <sip:sipp@127.0.0.1:5061>;tag=%luSIPpTag00%lu\r\n"
                 "To: service <sip:service@127.0.0.1:5060>;tag=%s\r\n"
                 "Call-ID: %lu-1234@127.0.0.1\r\n"
                 "CSeq: 2 BYE\r\n"
                 "Contact: sip:sipp@127.0.0.1:5061\r\n"
                 "Max-Forwards: 70\r\n"
                 "Subject: Performance Test\r\n"
                 "Content-Length: 0\r\n\r\n",
                 i, i, i, to_tag, i);
    out[2] = (wire_t){buf[2], (size_t)n};
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const sip_netinfo_t peer = {SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "127.0.0.1", 5061, 0, ""};

/* Delivers one message as the transport does: parse with the transport's options, note where it
 * came from, hand it to the layer. */
static int deliver(sip_txn_layer_t *layer, const sip_parse_opts_t *po, const wire_t *w)
{
    sip_msg_t *m = NULL;
    if (sip_msg_parse_ex(&m, w->text, w->len, po, NULL) != 0) return -1;
    sip_msg_set_netinfo(m, &peer);
    sip_txn_layer_receive(layer, m);
    sip_msg_unref(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
        fprintf(stderr, "usage: txn-cpu [CALLS]\n");
        return argc == 2 ? 0 : 2;
    }
    unsigned long calls = argc == 2 ? strtoul(argv[1], NULL, 10) : 200000;
    if (calls < BATCH) calls = BATCH;
    calls -= calls % BATCH;
    now_us = 1000000;
    sip_loop_t *loop = NULL;
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    uas_t u = {0};
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.clock = &bench_clock;
    if (sip_loop_create(&loop) || sip_transport_create(&tp, loop, NULL) ||
        sip_txn_layer_create(&layer, tp, &o) ||
        sip_msg_create_request(&u.tmpl, "OPTIONS", "sip:t.invalid") ||
        sip_msg_add_header(u.tmpl, "Contact", "<sip:sip-uas@127.0.0.1:5060;transport=udp>") ||
        sip_msg_add_header(u.tmpl, "Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")) {
        fprintf(stderr, "txn-cpu: set-up failed\n");
        return 1;
    }
    sip__txn_io_t io = {io_send, io_send_response, io_send_raw, io_last_wire, NULL};
    sip__txn_layer_set_io(layer, &io);
    sip_txn_layer_set_request_handler(layer, on_request, &u, NULL);
    sip_parse_opts_t po;
    sip_parse_opts_init(&po);

    static wire_t batch[BATCH][3];
    static char store[BATCH][3][2048];
    uint64_t call_ns = 0, parse_ns = 0;
    unsigned long done = 0;
    for (unsigned long base = 0; base < calls + BATCH; base += BATCH) {
        /* The first batch warms up and is not counted. */
        int counted = base >= BATCH;
        for (unsigned long k = 0; k < BATCH; k++) {
            char tag[24];
            snprintf(tag, sizeof(tag), "%016lx", 0x5eedUL + (base + k));
            wire_t w[3];
            make_call(base + k, tag, w);
            for (int m = 0; m < 3; m++) {
                memcpy(store[k][m], w[m].text, w[m].len);
                batch[k][m] = (wire_t){store[k][m], w[m].len};
            }
        }
        uint64_t t0 = cpu_ns();
        for (unsigned long k = 0; k < BATCH; k++) {
            for (int m = 0; m < 3; m++)
                if (deliver(layer, &po, &batch[k][m])) {
                    fprintf(stderr, "txn-cpu: a generated message did not parse\n");
                    return 1;
                }
            advance_us(500);
        }
        uint64_t t1 = cpu_ns();
        /* The parse alone, for the share it takes. */
        for (unsigned long k = 0; k < BATCH; k++)
            for (int m = 0; m < 3; m++) {
                sip_msg_t *msg = NULL;
                if (sip_msg_parse_ex(&msg, batch[k][m].text, batch[k][m].len, &po, NULL) == 0)
                    sink += sip_msg_header_total(msg);
                sip_msg_unref(msg);
            }
        uint64_t t2 = cpu_ns();
        if (counted) {
            call_ns += t1 - t0;
            parse_ns += t2 - t1;
            done += BATCH;
        }
    }
    /* Ending the last transactions is part of their cost. */
    uint64_t t0 = cpu_ns();
    advance_us(64ull * 1000 * 1000);
    call_ns += cpu_ns() - t0;
    size_t left = sip_txn_layer_count(layer);
    if (u.answered != calls + BATCH || u.byes != calls + BATCH || left != 0) {
        fprintf(stderr, "txn-cpu: %lu answered, %lu BYEs, %zu transactions left\n", u.answered,
                u.byes, left);
        return 1;
    }
    printf("calls: %lu\n", done);
    printf("call: %.0f ns\n", (double)call_ns / (double)done);
    printf("parse: %.0f ns\n", (double)parse_ns / (double)done);
    sip_msg_unref(u.tmpl);
    sip_txn_layer_close(layer);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
    return 0;
}
