/* SPDX-License-Identifier: MIT */
/* A registration over real sockets on 127.0.0.1: RFC 5626 flows over TCP (the registrar's 2xx
 * makes the connection the flow, a CRLF ping gets its pong, the flow closing brings a new
 * REGISTER), and RFC 3263 failover of a REGISTER to the registrar's next SRV target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnsmasq.h"
#include "pump.h"
#include "reg/reg_int.h"
#include "sip/sip.h"
#include "transport/flow.h"
#include "transport/transport_int.h"

static sip_loop_t *loop;
static sip_transport_t *tp_a, *tp_b;
static sip_txn_layer_t *layer_a;
static sip_ua_t *ua_a;
static int registers, registered, flow_lost, failed, registering;
static uint16_t port_b;

/* B: a registrar without transactions, answering each REGISTER 200 over its connection. */
static void on_b(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)user;
    if (!sip_msg_is_request(msg) || sip_msg_get_method(msg) != SIP_METHOD_REGISTER) return;
    registers++;
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, msg, 200, NULL, NULL), 0);
    const sip_header_t *c = sip_msg_header_at(msg, SIP_HDR_CONTACT, 0);
    sip_str_t v = sip_header_get_value(c);
    char buf[600];
    snprintf(buf, sizeof(buf), "%.*s;expires=600", (int)v.len, v.ptr);
    assert_int_equal(sip_msg_add_header(rsp, "Contact", buf), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Require", "outbound"), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Flow-Timer", "120"), 0);
    assert_int_equal(sip_transport_send_response(tp, rsp), 0);
    sip_msg_unref(rsp);
}

static void on_event(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)reg;
    (void)msg;
    (void)user;
    (void)status;
    if (ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) registered++;
    if (ev == SIP_REG_EVENT_FLOW_LOST) flow_lost++;
    if (ev == SIP_REG_EVENT_FAILED) failed++;
    if (ev == SIP_REG_EVENT_REGISTERING) registering++;
}

static int setup(void **state)
{
    (void)state;
    registers = registered = flow_lost = failed = registering = 0;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tp_b, loop, NULL), 0);
    int i = sip_transport_listen(tp_b, "tcp:127.0.0.1:0");
    assert_true(i >= 0);
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(tp_b, (size_t)i, &ni), 0);
    port_b = ni.local_port;
    assert_int_equal(sip_transport_set_handler(tp_b, on_b, NULL, NULL), 0);
    assert_int_equal(sip_transport_create(&tp_a, loop, NULL), 0);
    assert_true(sip_transport_listen(tp_a, "tcp:127.0.0.1:0") >= 0);
    assert_int_equal(sip_txn_layer_create(&layer_a, tp_a, NULL), 0);
    assert_int_equal(sip_ua_create(&ua_a, layer_a, NULL, NULL, NULL, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_ua_unref(ua_a);
    sip_txn_layer_unref(layer_a);
    sip_transport_unref(tp_a);
    sip_transport_unref(tp_b);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    return 0;
}

static sip_reg_t *start(void)
{
    sip_netinfo_t dst = {SIP_TRANSPORT_TCP, "", 0, "127.0.0.1", port_b, 0, ""};
    char registrar[64];
    snprintf(registrar, sizeof(registrar), "sip:127.0.0.1:%u;transport=tcp", port_b);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = registrar;
    o.dst = &dst;
    o.instance_id = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";
    o.reg_id = 1;
    o.retry_s = 1;
    sip_reg_t *reg = NULL;
    assert_int_equal(sip_reg_create(&reg, ua_a, "sip:alice@example.com", &o, on_event, NULL, NULL),
                     0);
    assert_true(test_pump_until(loop, &registered, 1, 5000));
    return reg;
}

/* The 2xx came over the connection: it is the flow, kept alive by a CRLF ping that the
 * registrar's side answers with a pong (RFC 5626 §4.4.1); the Flow-Timer sets the period. */
static void reg_flow_keepalive_pong(void **state)
{
    (void)state;
    sip_reg_t *reg = start();
    assert_true(reg->flow_conn != 0);
    assert_int_equal(reg->expect_pong, 1);
    assert_int_equal(reg->ka_period_s, 108); /* 90% of Flow-Timer 120 */
    assert_int_equal(sip__flow_pongs(tp_a, reg->flow_conn), 0);
    /* The keep-alive timer's work, now rather than in 108 s. */
    reg->t_ka.fire(&reg->t_ka);
    assert_int_equal(reg->pings, 1);
    assert_int_equal(reg->ka_checking, 1);
    for (int k = 0; k < 200 && sip__flow_pongs(tp_a, reg->flow_conn) == 0; k++)
        test_pump(loop, 5);
    assert_int_equal(sip__flow_pongs(tp_a, reg->flow_conn), 1);
    /* The pong check passes: the flow stays. */
    reg->t_ka.fire(&reg->t_ka);
    assert_int_equal(reg->ka_checking, 0);
    assert_int_equal(flow_lost, 0);
    assert_int_equal(registers, 1);
    /* A ping whose pong has not come when the check runs: the flow failed, register again,
     * over a new connection (§4.5): the old one, still open, is closed rather than reused. */
    uint64_t first = reg->flow_conn;
    reg->t_ka.fire(&reg->t_ka);
    reg->t_ka.fire(&reg->t_ka);
    assert_int_equal(reg->flow_conn, 0);
    assert_null(sip__conn_by_id(tp_a, first));
    assert_true(test_pump_until(loop, &flow_lost, 1, 5000));
    assert_true(test_pump_until(loop, &registered, 2, 5000));
    assert_int_equal(registers, 2);
    assert_int_equal(registering, 1);
    assert_true(reg->flow_conn != 0 && reg->flow_conn != first);
    assert_non_null(sip__conn_by_id(tp_a, reg->flow_conn));
    sip_reg_unref(reg);
}

/* The registrar's side closes the connection: FLOW_LOST, then a new REGISTER, which opens a
 * new connection (the registrar still listens) and registers again. */
static void reg_flow_lost_registers_again(void **state)
{
    (void)state;
    sip_reg_t *reg = start();
    uint64_t first = reg->flow_conn;
    assert_true(first != 0);
    /* B's end of the connection goes; its listener stays, so the new REGISTER gets in. */
    assert_true(sip_transport_connection_count(tp_b) >= 1);
    while (tp_b->conns)
        sip__conn_close(tp_b->conns, 0, "closed by the test");
    assert_true(test_pump_until(loop, &flow_lost, 1, 5000));
    assert_true(test_pump_until(loop, &registered, 2, 5000));
    assert_int_equal(registers, 2);
    assert_true(reg->flow_conn != 0 && reg->flow_conn != first);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    sip_reg_unref(reg);
}

/* ---- RFC 3263 failover ------------------------------------------------------------------ */

typedef struct regsrv {
    sip_transport_t *tp;
    uint16_t port;
    int status, requests;
} regsrv_t;

static void on_srv(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    regsrv_t *s = user;
    if (!sip_msg_is_request(msg) || sip_msg_get_method(msg) != SIP_METHOD_REGISTER) return;
    s->requests++;
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, msg, s->status, NULL, NULL), 0);
    if (s->status == 200) {
        sip_str_t v = sip_header_get_value(sip_msg_header_at(msg, SIP_HDR_CONTACT, 0));
        char buf[600];
        snprintf(buf, sizeof(buf), "%.*s;expires=300", (int)v.len, v.ptr);
        assert_int_equal(sip_msg_add_header(rsp, "Contact", buf), 0);
    }
    assert_int_equal(sip_transport_send_response(tp, rsp), 0);
    sip_msg_unref(rsp);
}

static void srv_open(regsrv_t *s, int status)
{
    s->status = status;
    s->requests = 0;
    assert_int_equal(sip_transport_create(&s->tp, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(s->tp, "udp:127.0.0.1:0"), 0);
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(s->tp, 0, &ni), 0);
    s->port = ni.local_port;
    assert_int_equal(sip_transport_set_handler(s->tp, on_srv, s, NULL), 0);
}

/* The registrar is a domain whose first SRV target answers 503: the transaction layer takes the
 * REGISTER to the next one (RFC 3263 §4.3), and the registration hears only its 200. */
static void reg_failover_to_next_target(void **state)
{
    (void)state;
    regsrv_t s503, s200;
    srv_open(&s503, 503);
    srv_open(&s200, 200);
    char srv1[128], srv2[128];
    snprintf(srv1, sizeof(srv1), "--srv-host=_sip._udp.reg.test,one.reg.test,%u,10,10", s503.port);
    snprintf(srv2, sizeof(srv2), "--srv-host=_sip._udp.reg.test,two.reg.test,%u,20,10", s200.port);
    const char *const records[] = {srv1, srv2, "--host-record=one.reg.test,127.0.0.1",
                                   "--host-record=two.reg.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns.port);
    sip_resolver_opts_t ro;
    sip_resolver_opts_init(&ro);
    ro.servers = servers;
    ro.timeout_ms = 1000;
    ro.transports = 1u << SIP_TRANSPORT_UDP;
    sip_resolver_t *res = NULL;
    assert_int_equal(sip_resolver_create(&res, loop, &ro), 0);
    assert_int_equal(sip_transport_set_resolver(tp_a, res), 0);
    assert_true(sip_transport_listen(tp_a, "udp:127.0.0.1:0") >= 0);
    sip_reg_t *reg = NULL;
    /* The registrar defaults to the AOR's domain (RFC 3261 §10.2). */
    assert_int_equal(sip_reg_create(&reg, ua_a, "sip:alice@reg.test", NULL, on_event, NULL, NULL),
                     0);
    assert_true(test_pump_until(loop, &registered, 1, 10000));
    assert_int_equal(s503.requests, 1);
    assert_int_equal(s200.requests, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(sip_reg_get_expires(reg), 300);
    sip_reg_unref(reg);
    sip_transport_set_resolver(tp_a, NULL);
    sip_resolver_unref(res);
    sip_transport_unref(s503.tp);
    sip_transport_unref(s200.tp);
    test_pump(loop, 50);
    dnsmasq_stop(&dns);
}

/* Two registrars of one priority and weight: the registration stays with the one that took it
 * (refreshes are not a new weighted pick), and leaves it for the other when it answers 503,
 * with no failure for the application; the one left is listed last by the resolver. */
static void reg_keeps_its_server_until_it_fails(void **state)
{
    (void)state;
    regsrv_t s[2];
    srv_open(&s[0], 200);
    srv_open(&s[1], 200);
    char srv1[128], srv2[128];
    snprintf(srv1, sizeof(srv1), "--srv-host=_sip._udp.home.test,one.home.test,%u,10,10",
             s[0].port);
    snprintf(srv2, sizeof(srv2), "--srv-host=_sip._udp.home.test,two.home.test,%u,10,10",
             s[1].port);
    const char *const records[] = {srv1, srv2, "--host-record=one.home.test,127.0.0.1",
                                   "--host-record=two.home.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns.port);
    sip_resolver_opts_t ro;
    sip_resolver_opts_init(&ro);
    ro.servers = servers;
    ro.timeout_ms = 1000;
    ro.transports = 1u << SIP_TRANSPORT_UDP;
    sip_resolver_t *res = NULL;
    assert_int_equal(sip_resolver_create(&res, loop, &ro), 0);
    assert_int_equal(sip_transport_set_resolver(tp_a, res), 0);
    assert_true(sip_transport_listen(tp_a, "udp:127.0.0.1:0") >= 0);
    sip_reg_t *reg = NULL;
    assert_int_equal(sip_reg_create(&reg, ua_a, "sip:alice@home.test", NULL, on_event, NULL, NULL),
                     0);
    assert_true(test_pump_until(loop, &registered, 1, 10000));
    int home = s[0].requests == 1 ? 0 : 1;
    assert_int_equal(s[home].requests, 1);
    assert_int_equal(s[!home].requests, 0);
    /* A weighted pick each time would go to the other one half the time. */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(sip_reg_refresh(reg), 0);
        assert_true(test_pump_until(loop, &registered, 2 + i, 5000));
    }
    assert_int_equal(s[home].requests, 9);
    assert_int_equal(s[!home].requests, 0);

    /* The home answers 503: the REGISTER goes to the other one at once. */
    s[home].status = 503;
    assert_int_equal(sip_reg_refresh(reg), 0);
    assert_true(test_pump_until(loop, &registered, 10, 5000));
    assert_int_equal(failed, 0);
    assert_int_equal(s[home].requests, 10);
    assert_int_equal(s[!home].requests, 1);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    sip_netinfo_t was = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "127.0.0.1"};
    was.remote_port = s[home].port;
    assert_true(sip_resolver_get_failed_ms(res, &was) > 0);
    /* The other one is home now, even once the first works again. */
    s[home].status = 200;
    assert_int_equal(sip_reg_refresh(reg), 0);
    assert_true(test_pump_until(loop, &registered, 11, 5000));
    assert_int_equal(s[home].requests, 10);
    assert_int_equal(s[!home].requests, 2);

    /* Both fail: the application hears it once, and the registration retries later. */
    s[0].status = s[1].status = 503;
    assert_int_equal(sip_reg_refresh(reg), 0);
    assert_true(test_pump_until(loop, &failed, 1, 5000));
    /* The home once, then both (both are marked now: in DNS order). */
    assert_int_equal(s[!home].requests, 4);
    assert_int_equal(s[home].requests, 11);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_RETRYING);
    sip_reg_unref(reg);
    sip_transport_set_resolver(tp_a, NULL);
    sip_resolver_unref(res);
    sip_transport_unref(s[0].tp);
    sip_transport_unref(s[1].tp);
    test_pump(loop, 50);
    dnsmasq_stop(&dns);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(reg_flow_keepalive_pong),
        T(reg_flow_lost_registers_again),
        T(reg_failover_to_next_target),
        T(reg_keeps_its_server_until_it_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
