/* SPDX-License-Identifier: MIT */
/* Two user agents wired back to back in memory (see ua_pair.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/transport_int.h"
#include "txn/txn_int.h"
#include "ua_pair.h"

pair_side_t pair[2];
uint64_t pair_now_ms;
int (*pair_drop)(int from, const sip_msg_t *msg);
void (*pair_spy)(int from, const sip_msg_t *msg);

typedef struct slot {
    int armed;
    uint64_t due;
    void (*fire)(void *);
    void *arg;
} slot_t;

static slot_t slots[4];
static sip_loop_t *loop;

static uint64_t fake_now(void *u)
{
    (void)u;
    return pair_now_ms;
}

static void fake_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    slot_t *s = u;
    s->armed = 1;
    s->due = pair_now_ms + delay;
    s->fire = fire;
    s->arg = arg;
}

static void fake_stop(void *u)
{
    ((slot_t *)u)->armed = 0;
}

typedef struct packet {
    int to;
    char *data;
    size_t len;
} packet_t;

static packet_t wire[256];
static int nwire;

static void put(int from, sip_msg_t *msg)
{
    char buf[16384];
    int n = sip_msg_print(msg, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    if (getenv("CALL_TRACE"))
        fprintf(stderr, "---- %c -> %c at %llu%s\n%.*s", from == PAIR_A ? 'A' : 'B',
                from == PAIR_A ? 'B' : 'A', (unsigned long long)pair_now_ms,
                pair_drop && pair_drop(from, msg) ? " (lost)" : "", n, buf);
    if (pair_spy) pair_spy(from, msg);
    if (pair_drop && pair_drop(from, msg)) return;
    assert_true(nwire < 256);
    wire[nwire].to = 1 - from;
    wire[nwire].data = malloc((size_t)n);
    assert_non_null(wire[nwire].data);
    memcpy(wire[nwire].data, buf, (size_t)n);
    wire[nwire].len = (size_t)n;
    nwire++;
}

static int io_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)dst;
    pair_side_t *s = ctx;
    sip_netinfo_t ni = {SIP_TRANSPORT_UDP,     "127.0.0.1", s->port, "127.0.0.1",
                        pair[1 - s->idx].port, 0,           ""};
    sip_msg_set_netinfo(msg, &ni);
    put(s->idx, msg);
    if (cb) cb(s->tp, 0, user);
    if (user_free) user_free(user);
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *rsp)
{
    pair_side_t *s = ctx;
    put(s->idx, rsp);
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ni;
    pair_side_t *s = ctx;
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, data, len, &err), 0);
    put(s->idx, m);
    sip_msg_unref(m);
    return 0;
}

void pair_inject(int to, sip_msg_t *m)
{
    sip_netinfo_t ni = {
        SIP_TRANSPORT_UDP, "127.0.0.1", pair[to].port, "127.0.0.1", pair[1 - to].port, 0, ""};
    sip_msg_set_netinfo(m, &ni);
    /* Through the transport's handler chain, as a received message goes. */
    sip__tp_dispatch(pair[to].tp, m);
}

void pair_pump(void)
{
    for (int i = 0; i < nwire; i++) {
        packet_t p = wire[i];
        wire[i].data = NULL;
        sip_msg_t *m = NULL;
        sip_parse_error_t err;
        assert_int_equal(sip_msg_parse(&m, p.data, p.len, &err), 0);
        free(p.data);
        pair_inject(p.to, m);
        sip_msg_unref(m);
    }
    nwire = 0;
}

void pair_advance(uint64_t ms)
{
    uint64_t end = pair_now_ms + ms;
    for (;;) {
        pair_pump();
        slot_t *next = NULL;
        for (int i = 0; i < 4; i++)
            if (slots[i].armed && slots[i].due <= end && (!next || slots[i].due < next->due))
                next = &slots[i];
        if (!next) break;
        if (next->due > pair_now_ms) pair_now_ms = next->due;
        next->armed = 0;
        next->fire(next->arg);
    }
    pair_now_ms = end;
}

void pair_setup(const sip_ua_opts_t *ua_opts[2], sip_ua_request_cb cb[2], void *user[2])
{
    pair_now_ms = 1000;
    memset(slots, 0, sizeof(slots));
    nwire = 0;
    pair_drop = NULL;
    pair_spy = NULL;
    assert_int_equal(sip_loop_create(&loop), 0);
    for (int i = 0; i < 2; i++) {
        pair_side_t *s = &pair[i];
        s->idx = i;
        s->port = (uint16_t)(5060 + i);
        assert_int_equal(sip_transport_create(&s->tp, loop, NULL), 0);
        sip_txn_clock_t tclock = {fake_now, fake_start, fake_stop, &slots[2 * i]};
        sip_txn_opts_t o;
        sip_txn_opts_init(&o);
        o.clock = &tclock;
        assert_int_equal(sip_txn_layer_create(&s->layer, s->tp, &o), 0);
        sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, s};
        sip__txn_layer_set_io(s->layer, &io);
        sip_txn_clock_t uclock = {fake_now, fake_start, fake_stop, &slots[2 * i + 1]};
        sip_ua_opts_t uo;
        if (ua_opts && ua_opts[i])
            uo = *ua_opts[i];
        else
            sip_ua_opts_init(&uo);
        uo.clock = &uclock;
        char host[32];
        snprintf(host, sizeof(host), "127.0.0.1:%u", s->port);
        uo.contact_host = host;
        assert_int_equal(
            sip_ua_create(&s->ua, s->layer, &uo, cb ? cb[i] : NULL, user ? user[i] : NULL, NULL),
            0);
    }
}

void pair_teardown(void)
{
    for (int i = 0; i < 2; i++) {
        sip_ua_unref(pair[i].ua);
        sip_txn_layer_unref(pair[i].layer);
        sip_transport_unref(pair[i].tp);
        pair[i] = (pair_side_t){0};
    }
    for (int i = 0; i < nwire; i++)
        free(wire[i].data);
    nwire = 0;
    sip_loop_close(loop);
    sip_loop_unref(loop);
    loop = NULL;
}

/* ---- subscriptions --------------------------------------------------------------------------- */

static void copy_header(sip_msg_t *m, const sip_msg_t *from, sip_hdr_id_t id)
{
    const sip_header_t *h = sip_msg_header_at(from, id, 0);
    if (h) assert_int_equal(sip_msg_add_header_copy(m, h), 0);
}

void pair_rebuild_request(sip_msg_t **out, const sip_msg_t *req, const char *method,
                          const char *event, uint32_t cseq_add)
{
    static unsigned branch;
    const sip_uri_t *u = sip_msg_get_uri(req);
    char buf[512];
    snprintf(buf, sizeof(buf), "%.*s", (int)u->raw.len, u->raw.ptr);
    sip_msg_t *m = NULL;
    assert_int_equal(sip_msg_create_request(&m, method, buf), 0);
    snprintf(buf, sizeof(buf), "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKpair%u", ++branch);
    assert_int_equal(sip_msg_add_header(m, "Via", buf), 0);
    assert_int_equal(sip_msg_add_header(m, "Max-Forwards", "70"), 0);
    copy_header(m, req, SIP_HDR_FROM);
    copy_header(m, req, SIP_HDR_TO);
    copy_header(m, req, SIP_HDR_CALL_ID);
    snprintf(buf, sizeof(buf), "%u %s", sip_msg_get_cseq(req)->seq + cseq_add, method);
    assert_int_equal(sip_msg_add_header(m, "CSeq", buf), 0);
    copy_header(m, req, SIP_HDR_CONTACT);
    if (event) assert_int_equal(sip_msg_add_header(m, "Event", event), 0);
    *out = m;
}

void pair_fork_notify(sip_msg_t **out, const sip_msg_t *notify, const char *tag, const char *body)
{
    sip_msg_t *m = NULL;
    sip_str_t ev = sip_header_get_value(sip_msg_header_at(notify, SIP_HDR_EVENT, 0));
    char evbuf[256];
    snprintf(evbuf, sizeof(evbuf), "%.*s", (int)ev.len, ev.ptr);
    pair_rebuild_request(&m, notify, "NOTIFY", evbuf, 0);
    const sip_addr_t *f = sip_msg_get_from(notify);
    char from[512];
    snprintf(from, sizeof(from), "<%.*s>;tag=%s", (int)f->uri.raw.len, f->uri.raw.ptr, tag);
    assert_int_equal(sip_msg_set_header(m, "From", from), 0);
    sip_str_t ss = sip_header_get_value(sip_msg_header_at(notify, SIP_HDR_SUBSCRIPTION_STATE, 0));
    char sbuf[128];
    snprintf(sbuf, sizeof(sbuf), "%.*s", (int)ss.len, ss.ptr);
    assert_int_equal(sip_msg_add_header(m, "Subscription-State", sbuf), 0);
    const sip_media_t *ct = sip_msg_get_content_type(notify);
    char type[128];
    snprintf(type, sizeof(type), "%.*s/%.*s", (int)ct->type.len, ct->type.ptr, (int)ct->subtype.len,
             ct->subtype.ptr);
    assert_int_equal(sip_msg_set_body(m, type, body, strlen(body)), 0);
    *out = m;
}
