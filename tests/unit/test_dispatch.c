/* SPDX-License-Identifier: MIT */
/* The chain of message handlers of a transport: priorities, take or pass, changes from inside a
 * handler; and the transaction layer as links of it, with a UA-priority handler in between. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "pump.h"
#include "sip/sip.h"
#include "transport/transport_int.h"

/* ---- handlers that record what they saw ---------------------------------------------------- */

typedef struct {
    char log[64];          /* the names of the handlers called, in order */
    int frees[8];          /* user_free calls per handler index */
    sip_transport_t *tp;   /* what the handler acts on */
    int ids[8];            /* handler ids, by index */
    int remove_at, remove; /* handler remove_at removes the handler of index remove */
    int close_at;          /* handler close_at closes the transport (-1: none) */
    int unref_at;          /* handler unref_at drops the test's reference (-1: none) */
    int add_at;            /* handler add_at adds handler 7 at priority 100 (-1: none) */
    int take_at;           /* handler take_at takes the message (-1: none) */
} rec_t;

typedef struct {
    rec_t *r;
    int index;
} link_t;

static link_t links[8];

static int on_link(sip_transport_t *tp, sip_msg_t *msg, void *user);

static void link_free(void *user)
{
    link_t *l = user;
    l->r->frees[l->index]++;
}

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof(*r));
    r->remove_at = r->close_at = r->unref_at = r->add_at = r->take_at = -1;
    for (int i = 0; i < 8; i++)
        links[i] = (link_t){r, i};
}

static int on_link(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)msg;
    link_t *l = user;
    rec_t *r = l->r;
    assert_ptr_equal(tp, r->tp);
    size_t n = strlen(r->log);
    if (n + 1 < sizeof(r->log)) {
        r->log[n] = (char)('0' + l->index);
        r->log[n + 1] = '\0';
    }
    if (l->index == r->remove_at)
        assert_int_equal(sip_transport_remove_handler(tp, r->ids[r->remove]), 0);
    if (l->index == r->add_at) {
        r->ids[7] = sip_transport_add_handler(tp, 100, on_link, &links[7], link_free);
        assert_true(r->ids[7] > 0);
    }
    if (l->index == r->close_at) sip_transport_close(tp);
    if (l->index == r->unref_at) sip_transport_unref(tp);
    return l->index == r->take_at;
}

static void on_slot(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    (void)msg;
    rec_t *r = user;
    size_t n = strlen(r->log);
    if (n + 1 < sizeof(r->log)) {
        r->log[n] = 'S';
        r->log[n + 1] = '\0';
    }
}

static void slot_free(void *user)
{
    rec_t *r = user;
    r->frees[6]++;
}

/* A parsed OPTIONS as the UDP listener 127.0.0.1:5060 would hand it up. */
static sip_msg_t *received(const char *text)
{
    sip_msg_t *m;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), NULL), 0);
    sip_netinfo_t ni = {0};
    ni.transport = SIP_TRANSPORT_UDP;
    snprintf(ni.local_ip, sizeof(ni.local_ip), "127.0.0.1");
    ni.local_port = 5060;
    snprintf(ni.remote_ip, sizeof(ni.remote_ip), "127.0.0.1");
    ni.remote_port = 5070;
    sip_msg_set_netinfo(m, &ni);
    return m;
}

static const char OPTIONS[] = "OPTIONS sip:uas@127.0.0.1 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKdisp1;rport\r\n"
                              "Max-Forwards: 70\r\n"
                              "To: <sip:uas@example.com>\r\n"
                              "From: <sip:uac@example.com>;tag=f1\r\n"
                              "Call-ID: disp-1\r\n"
                              "CSeq: 1 OPTIONS\r\n"
                              "Content-Length: 0\r\n\r\n";

static const char RESPONSE[] = "SIP/2.0 200 OK\r\n"
                               "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnone\r\n"
                               "To: <sip:uas@example.com>;tag=t1\r\n"
                               "From: <sip:uac@example.com>;tag=f1\r\n"
                               "Call-ID: disp-2\r\n"
                               "CSeq: 1 OPTIONS\r\n"
                               "Content-Length: 0\r\n\r\n";

static const char ACK[] = "ACK sip:uas@127.0.0.1 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKack2xx\r\n"
                          "Max-Forwards: 70\r\n"
                          "To: <sip:uas@example.com>;tag=t9\r\n"
                          "From: <sip:uac@example.com>;tag=f1\r\n"
                          "Call-ID: disp-3\r\n"
                          "CSeq: 1 ACK\r\n"
                          "Content-Length: 0\r\n\r\n";

/* Hands text to the chain as the transport does with what arrives (a response as over a
 * connection this end opened: its Via needs no listener here). */
static void deliver(sip_transport_t *tp, const char *text)
{
    sip_msg_t *m = received(text);
    sip__tp_deliver(tp, m, 1);
    sip_msg_unref(m);
}

static sip_loop_t *loop;
static sip_transport_t *tp;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_transport_unref(tp);
    tp = NULL;
    sip_loop_close(loop);
    sip_loop_unref(loop);
    loop = NULL;
    return 0;
}

/* Adds handler i at priority p. */
static void add(rec_t *r, int i, int p)
{
    r->ids[i] = sip_transport_add_handler(tp, p, on_link, &links[i], link_free);
    assert_true(r->ids[i] > 0);
}

static void dispatch_runs_by_priority(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, SIP_HANDLER_PRIO_APP);
    add(&r, 1, SIP_HANDLER_PRIO_TXN);
    add(&r, 2, SIP_HANDLER_PRIO_UA);
    add(&r, 3, -5);
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "3120");
    /* Every id is distinct. */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            assert_int_not_equal(r.ids[i], r.ids[j]);
    /* Closing the transport ends every registration once. */
    sip_transport_close(tp);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.frees[i], 1);
}

static void dispatch_equal_priorities_in_order_added(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 2, SIP_HANDLER_PRIO_UA);
    add(&r, 0, SIP_HANDLER_PRIO_UA);
    add(&r, 1, SIP_HANDLER_PRIO_UA);
    deliver(tp, OPTIONS);
    deliver(tp, RESPONSE);
    assert_string_equal(r.log, "201201");
}

static void dispatch_take_stops_the_chain(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, 1);
    add(&r, 1, 2);
    add(&r, 2, 3);
    r.take_at = 1;
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "01");
    /* Nobody takes it: every handler sees it, then it is dropped (no answer, nothing left). */
    r.take_at = -1;
    r.log[0] = '\0';
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "012");
}

static void dispatch_remove(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, 1);
    add(&r, 1, 2);
    assert_int_equal(sip_transport_remove_handler(tp, r.ids[0]), 0);
    assert_int_equal(r.frees[0], 1);
    assert_int_equal(sip_transport_remove_handler(tp, r.ids[0]), SIP_ENOENT);
    assert_int_equal(sip_transport_remove_handler(tp, 12345), SIP_ENOENT);
    assert_int_equal(sip_transport_remove_handler(tp, 0), SIP_EINVAL);
    assert_int_equal(sip_transport_remove_handler(NULL, r.ids[1]), SIP_EINVAL);
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "1");
    assert_int_equal(r.frees[0], 1);
    assert_int_equal(r.frees[1], 0);
}

static void dispatch_remove_during_dispatch(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, 1);
    add(&r, 1, 2);
    add(&r, 2, 3);
    /* Handler 0 removes handler 2, which is not called afterwards. */
    r.remove_at = 0;
    r.remove = 2;
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "01");
    assert_int_equal(r.frees[2], 1);
    /* Handler 1 removes itself: the rest of the chain still runs. */
    r.log[0] = '\0';
    r.remove_at = 1;
    r.remove = 1;
    add(&r, 3, 4);
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "013");
    assert_int_equal(r.frees[1], 1);
    r.log[0] = '\0';
    r.remove_at = -1;
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "03");
    sip_transport_close(tp);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.frees[i], 1);
}

static void dispatch_add_during_dispatch(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, 1);
    r.add_at = 0;
    /* Added during the walk, after its place: it first sees the next message. */
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "0");
    r.add_at = -1;
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "007");
}

static void dispatch_close_inside_handler(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, 1);
    add(&r, 1, 2);
    add(&r, 2, 3);
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), 0);
    r.close_at = 1;
    deliver(tp, OPTIONS);
    /* Nothing after the close, and every registration ended once. */
    assert_string_equal(r.log, "01");
    for (int i = 0; i < 3; i++)
        assert_int_equal(r.frees[i], 1);
    assert_int_equal(r.frees[6], 1);
    /* Closed: no more links. */
    int rc = sip_transport_add_handler(tp, 1, on_link, &links[5], link_free);
    assert_int_equal(rc, SIP_ECLOSED);
    assert_int_equal(r.frees[5], 1);
    assert_int_equal(sip_transport_remove_handler(tp, r.ids[0]), SIP_ENOENT);
}

static void dispatch_unref_inside_handler(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    sip_transport_t *own;
    assert_int_equal(sip_transport_create(&own, loop, NULL), 0);
    r.tp = own;
    r.ids[0] = sip_transport_add_handler(own, 1, on_link, &links[0], link_free);
    r.ids[1] = sip_transport_add_handler(own, 2, on_link, &links[1], link_free);
    assert_true(r.ids[0] > 0 && r.ids[1] > 0);
    /* Handler 0 drops the only reference: the transport stays open until the walk ends (the
     * rest of the chain runs), and closes then. */
    r.unref_at = 0;
    deliver(own, OPTIONS);
    assert_string_equal(r.log, "01");
    assert_int_equal(r.frees[0], 1);
    assert_int_equal(r.frees[1], 1);
    test_pump(loop, 10);
}

static void dispatch_user_free_once(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    /* A call that fails ends the registration too. */
    assert_int_equal(sip_transport_add_handler(tp, 1, NULL, &links[0], link_free), SIP_EINVAL);
    assert_int_equal(r.frees[0], 1);
    assert_int_equal(sip_transport_add_handler(NULL, 1, on_link, &links[1], link_free), SIP_EINVAL);
    assert_int_equal(r.frees[1], 1);
    /* Replacing the slot ends the old registration only. */
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), 0);
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), 0);
    assert_int_equal(r.frees[6], 1);
    add(&r, 2, 5);
    sip_transport_unref(tp);
    tp = NULL;
    assert_int_equal(r.frees[6], 2);
    assert_int_equal(r.frees[2], 1);
}

static void dispatch_out_of_memory(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    /* Every call that cannot allocate its link fails with SIP_ENOMEM and ends the
     * registration. */
    test_alloc_fail_at(1);
    assert_int_equal(sip_transport_add_handler(tp, 1, on_link, &links[0], link_free), SIP_ENOMEM);
    assert_int_equal(r.frees[0], 1);
    test_alloc_fail_at(1);
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), SIP_ENOMEM);
    assert_int_equal(r.frees[6], 1);
    /* A transaction layer that cannot join the chain is not made, and leaves nothing in it. */
    for (long n = 1;; n++) {
        sip_txn_layer_t *l;
        test_alloc_fail_at(n);
        int rc = sip_txn_layer_create(&l, tp, NULL);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (rc == 0) {
            assert_false(failed);
            sip_txn_layer_unref(l);
            break;
        }
        assert_int_equal(rc, SIP_ENOMEM);
        assert_null(l);
        test_pump(loop, 0);
    }
    add(&r, 1, 1);
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "1");
    test_pump(loop, 0);
}

static void dispatch_set_handler_is_the_app_slot(void **state)
{
    (void)state;
    rec_t r;
    rec_init(&r);
    r.tp = tp;
    add(&r, 0, SIP_HANDLER_PRIO_UA);
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), 0);
    add(&r, 1, SIP_HANDLER_PRIO_APP);
    add(&r, 2, SIP_HANDLER_PRIO_APP + 1);
    /* The slot takes whatever reaches it. */
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "0S");
    /* Replaced in place: still ahead of handler 1, which was added after it. */
    assert_int_equal(sip_transport_set_handler(tp, on_slot, &r, slot_free), 0);
    r.log[0] = '\0';
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "0S");
    /* Cleared: messages go on past it. */
    assert_int_equal(sip_transport_set_handler(tp, NULL, NULL, NULL), 0);
    assert_int_equal(r.frees[6], 2);
    r.log[0] = '\0';
    deliver(tp, OPTIONS);
    assert_string_equal(r.log, "012");
}

static void dispatch_get_resolver(void **state)
{
    (void)state;
    assert_null(sip_transport_get_resolver(tp));
    assert_null(sip_transport_get_resolver(NULL));
    sip_resolver_t *res;
    assert_int_equal(sip_resolver_create(&res, loop, NULL), 0);
    assert_int_equal(sip_transport_set_resolver(tp, res), 0);
    assert_ptr_equal(sip_transport_get_resolver(tp), res);
    sip_resolver_unref(res);
    sip_transport_close(tp);
    assert_null(sip_transport_get_resolver(tp));
}

/* ---- the transaction layer in the chain ------------------------------------------------------ */

typedef struct {
    sip_txn_layer_t *layer;
    int ua_calls, ua_take, app_calls, app_acks, strays;
    int ua_responses;
    int create_rc, again_rc;
    sip_txn_t *txn; /* what the UA link started */
    char seen[32];  /* U: the UA link, R: the request handler, X: the stray handler */
} ua_t;

static void seen(ua_t *u, char c)
{
    size_t n = strlen(u->seen);
    if (n + 1 < sizeof(u->seen)) {
        u->seen[n] = c;
        u->seen[n + 1] = '\0';
    }
}

/* What a UA core does: at SIP_HANDLER_PRIO_UA, take a new request, start its server
 * transaction and answer it. */
static int on_ua(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    ua_t *u = user;
    seen(u, 'U');
    if (!sip_msg_is_request(msg)) {
        u->ua_responses++;
        return u->ua_take;
    }
    u->ua_calls++;
    if (!u->ua_take || sip_msg_get_method(msg) == SIP_METHOD_ACK) return 0;
    sip_txn_t *t;
    u->create_rc = sip_txn_server_create(&t, u->layer, msg);
    if (u->create_rc) return 0;
    sip_txn_t *t2;
    u->again_rc = sip_txn_server_create(&t2, u->layer, msg);
    assert_null(t2);
    assert_int_equal(sip_txn_respond(t, 200, NULL), 0);
    sip_txn_unref(t);
    return 1;
}

static void on_app_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)req;
    ua_t *u = user;
    seen(u, 'R');
    if (!txn) {
        u->app_acks++;
        return;
    }
    u->app_calls++;
    assert_int_equal(sip_txn_respond(txn, 486, NULL), 0);
}

static void on_stray(sip_txn_layer_t *l, sip_msg_t *rsp, void *user)
{
    (void)l;
    (void)rsp;
    ua_t *u = user;
    seen(u, 'X');
    u->strays++;
}

static sip_msg_t *options(uint16_t port, const char *branch, const char *call_id)
{
    char uri[64], via[96];
    snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u", port);
    snprintf(via, sizeof(via), "SIP/2.0/UDP placeholder.invalid;branch=%s", branch);
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", via), 0);
    assert_int_equal(sip_msg_add_header(m, "Max-Forwards", "70"), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", call_id), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    return m;
}

typedef struct {
    int n;
    int status[8];
} client_t;

static void on_client(sip_transport_t *t, sip_msg_t *msg, void *user)
{
    (void)t;
    client_t *c = user;
    if (c->n < 8 && !sip_msg_is_request(msg)) c->status[c->n++] = sip_msg_get_status(msg);
}

static void send_udp(sip_transport_t *from, sip_msg_t *m, uint16_t port)
{
    sip_netinfo_t dst = {0};
    dst.transport = SIP_TRANSPORT_UDP;
    snprintf(dst.remote_ip, sizeof(dst.remote_ip), "127.0.0.1");
    dst.remote_port = port;
    assert_int_equal(sip_transport_send(from, m, &dst, NULL, NULL, NULL), 0);
}

static void dispatch_ua_link_before_the_request_handler(void **state)
{
    (void)state;
    /* b: the transaction layer with a UA link between its two; a: a bare client. */
    sip_transport_t *a, *b;
    assert_int_equal(sip_transport_create(&a, loop, NULL), 0);
    assert_int_equal(sip_transport_create(&b, loop, NULL), 0);
    assert_true(sip_transport_listen(a, "udp:127.0.0.1:0") >= 0);
    assert_true(sip_transport_listen(b, "udp:127.0.0.1:0") >= 0);
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(b, 0, &ni), 0);
    uint16_t pb = ni.local_port;
    client_t c = {0};
    assert_int_equal(sip_transport_set_handler(a, on_client, &c, NULL), 0);
    ua_t u = {0};
    u.ua_take = 1;
    assert_int_equal(sip_txn_layer_create(&u.layer, b, NULL), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(u.layer, on_app_request, &u, NULL), 0);
    int id = sip_transport_add_handler(b, SIP_HANDLER_PRIO_UA, on_ua, &u, NULL);
    assert_true(id > 0);

    /* The UA link sees the new request first, starts its transaction and answers 200. */
    sip_msg_t *m = options(pb, "z9hG4bKua1", "ua-1");
    send_udp(a, m, pb);
    assert_true(test_pump_until(loop, &c.n, 1, 3000));
    assert_int_equal(c.status[0], 200);
    assert_int_equal(u.ua_calls, 1);
    assert_int_equal(u.app_calls, 0);
    assert_int_equal(u.create_rc, 0);
    assert_int_equal(u.again_rc, SIP_EEXIST);
    assert_int_equal(sip_txn_layer_count(u.layer), 1);

    /* Its retransmission is the transaction's: the 200 again, and the UA link never sees it. */
    send_udp(a, m, pb);
    assert_true(test_pump_until(loop, &c.n, 2, 3000));
    assert_int_equal(c.status[1], 200);
    assert_int_equal(u.ua_calls, 1);
    assert_int_equal(u.app_calls, 0);
    sip_msg_unref(m);

    /* Passed on, a new request reaches the layer's request handler as before. */
    u.ua_take = 0;
    m = options(pb, "z9hG4bKua2", "ua-2");
    send_udp(a, m, pb);
    assert_true(test_pump_until(loop, &c.n, 3, 3000));
    assert_int_equal(c.status[2], 486);
    assert_int_equal(u.ua_calls, 2);
    assert_int_equal(u.app_calls, 1);
    sip_msg_unref(m);
    assert_string_equal(u.seen, "UUR");

    sip_transport_unref(a);
    sip_transport_unref(b);
    sip_txn_layer_unref(u.layer);
}

static void dispatch_ua_link_sees_acks_and_strays_first(void **state)
{
    (void)state;
    ua_t u = {0};
    assert_int_equal(sip_txn_layer_create(&u.layer, tp, NULL), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(u.layer, on_app_request, &u, NULL), 0);
    assert_int_equal(sip_txn_layer_set_stray_handler(u.layer, on_stray, &u, NULL), 0);
    int id = sip_transport_add_handler(tp, SIP_HANDLER_PRIO_UA, on_ua, &u, NULL);
    assert_true(id > 0);
    /* An ACK of no transaction (a 2xx's) and a stray response: the UA link first; passed on,
     * the layer's handlers as before (the ACK with no transaction). */
    deliver(tp, ACK);
    deliver(tp, RESPONSE);
    assert_string_equal(u.seen, "URUX");
    assert_int_equal(u.app_acks, 1);
    assert_int_equal(u.strays, 1);
    /* Taken by the UA link, the stray never reaches the layer's handler. */
    u.ua_take = 1;
    deliver(tp, RESPONSE);
    assert_int_equal(u.strays, 1);
    assert_int_equal(u.ua_responses, 2);

    /* sip_txn_server_create() takes new requests only. */
    sip_txn_t *t = (sip_txn_t *)&u;
    sip_msg_t *m = received(ACK);
    assert_int_equal(sip_txn_server_create(&t, u.layer, m), SIP_EINVAL);
    assert_null(t);
    sip_msg_unref(m);
    m = received(RESPONSE);
    assert_int_equal(sip_txn_server_create(&t, u.layer, m), SIP_EINVAL);
    assert_int_equal(sip_txn_server_create(NULL, u.layer, m), SIP_EINVAL);
    assert_int_equal(sip_txn_server_create(&t, NULL, m), SIP_EINVAL);
    sip_msg_unref(m);

    /* Closed, the layer leaves the chain: the UA link stays and nothing else answers. */
    sip_txn_layer_close(u.layer);
    u.seen[0] = '\0';
    u.ua_take = 0;
    deliver(tp, OPTIONS);
    assert_string_equal(u.seen, "U");
    m = received(OPTIONS);
    assert_int_equal(sip_txn_server_create(&t, u.layer, m), SIP_ECLOSED);
    sip_msg_unref(m);
    assert_int_equal(sip_transport_remove_handler(tp, id), 0);
    sip_txn_layer_unref(u.layer);
}

/* The way of old: an application handler set after the layer stands in front of it and feeds
 * it with sip_txn_layer_receive(); the layer's first link goes with its slot, and closing the
 * layer leaves the application's handler in place. */
typedef struct {
    sip_txn_layer_t *layer;
    int n;
} front_t;

static void on_front(sip_transport_t *t, sip_msg_t *msg, void *user)
{
    (void)t;
    front_t *f = user;
    f->n++;
    if (f->layer) sip_txn_layer_receive(f->layer, msg);
}

static void dispatch_app_handler_in_front_of_the_layer(void **state)
{
    (void)state;
    front_t f = {0};
    ua_t u = {0};
    assert_int_equal(sip_txn_layer_create(&f.layer, tp, NULL), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(f.layer, on_app_request, &u, NULL), 0);
    assert_int_equal(sip_transport_set_handler(tp, on_front, &f, NULL), 0);
    /* The ACK reaches the application's handler before any transaction could absorb it. */
    deliver(tp, ACK);
    assert_int_equal(f.n, 1);
    assert_int_equal(u.app_acks, 1);
    sip_txn_layer_unref(f.layer);
    f.layer = NULL;
    deliver(tp, ACK);
    assert_int_equal(f.n, 2);
    assert_int_equal(u.app_acks, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dispatch_runs_by_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_equal_priorities_in_order_added, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_take_stops_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_remove_during_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_add_during_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_close_inside_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_unref_inside_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_user_free_once, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_set_handler_is_the_app_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_get_resolver, setup, teardown),
        cmocka_unit_test_setup_teardown(dispatch_ua_link_before_the_request_handler, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dispatch_ua_link_sees_acks_and_strays_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dispatch_app_handler_in_front_of_the_layer, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
