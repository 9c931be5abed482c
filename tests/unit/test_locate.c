/* SPDX-License-Identifier: MIT */
/* Sending a request where its routing says, located with RFC 3263 (dnsmasq on loopback), with
 * failover to the next target when one fails at the transport. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dnsmasq.h"
#include "pump.h"
#include "sip/sip.h"

typedef struct {
    int n;
    sip_msg_t *last;
} peer_t;

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    peer_t *p = user;
    p->n++;
    sip_msg_unref(p->last);
    p->last = sip_msg_ref(msg);
}

typedef struct {
    int calls, status, freed;
} sent_t;

static void on_sent(sip_transport_t *tp, int status, void *user)
{
    (void)tp;
    sent_t *s = user;
    s->calls++;
    s->status = status;
}

static void sent_free(void *user)
{
    ((sent_t *)user)->freed++;
}

/* A TCP port with nobody listening on 127.0.0.1. */
static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    close(fd);
    return ntohs(sa.sin_port);
}

static sip_msg_t *request(const char *ruri, const char *route)
{
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "MESSAGE", ruri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", "SIP/2.0/TCP x.invalid;branch=z9hG4bKloc"), 0);
    if (route) assert_int_equal(sip_msg_add_header(m, "Route", route), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "locate-1"), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 MESSAGE"), 0);
    return m;
}

static void locate_fails_over_to_the_next_target(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t live = {0};
    sip_transport_t *server, *client;
    assert_int_equal(sip_transport_create(&server, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(server, "tcp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_set_handler(server, on_msg, &live, NULL), 0);
    sip_netinfo_t ni;
    sip_transport_listener_info(server, 0, &ni);
    uint16_t live_port = ni.local_port, dead = dead_port();
    /* The better SRV target (priority 10) is dead; the other one (20) is alive. */
    char srv_dead[128], srv_live[128];
    snprintf(srv_dead, sizeof(srv_dead), "--srv-host=_sip._tcp.svc.test,dead.test,%u,10,10", dead);
    snprintf(srv_live, sizeof(srv_live), "--srv-host=_sip._tcp.svc.test,live.test,%u,20,10",
             live_port);
    const char *const records[] = {srv_dead, srv_live, "--host-record=dead.test,127.0.0.1",
                                   "--host-record=live.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns.port);
    sip_resolver_opts_t ro;
    sip_resolver_opts_init(&ro);
    ro.servers = servers;
    ro.timeout_ms = 500;
    sip_resolver_t *r;
    assert_int_equal(sip_resolver_create(&r, loop, &ro), 0);
    assert_int_equal(sip_transport_create(&client, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(client, "tcp:127.0.0.1:0"), 0);

    /* Without a resolver there is nowhere to look. */
    sip_msg_t *m = request("sip:uas@svc.test;transport=tcp", NULL);
    sent_t s0 = {0};
    assert_int_equal(sip_transport_send_request(client, m, on_sent, &s0, sent_free), SIP_ENOENT);
    assert_int_equal(s0.calls, 0);
    assert_int_equal(s0.freed, 1);

    assert_int_equal(sip_transport_set_resolver(client, r), 0);
    sent_t s = {0};
    assert_int_equal(sip_transport_send_request(client, m, on_sent, &s, sent_free), 0);
    assert_true(test_pump_until(loop, &s.calls, 1, 5000));
    assert_int_equal(s.status, 0);
    assert_int_equal(s.freed, 1);
    assert_true(test_pump_until(loop, &live.n, 1, 5000));
    assert_int_equal(sip_msg_get_netinfo(m)->remote_port, live_port);

    /* A loose-routing Route decides the next hop, not the Request-URI. */
    sip_msg_t *m2 = request("sip:uas@nowhere.invalid", "<sip:svc.test;transport=tcp;lr>");
    sent_t s2 = {0};
    assert_int_equal(sip_transport_send_request(client, m2, on_sent, &s2, sent_free), 0);
    assert_true(test_pump_until(loop, &s2.calls, 1, 5000));
    assert_int_equal(s2.status, 0);
    assert_true(test_pump_until(loop, &live.n, 2, 5000));

    /* No such name: SIP_ENOENT through the callback. */
    sip_msg_t *m3 = request("sip:uas@missing.test;transport=tcp", NULL);
    sent_t s3 = {0};
    assert_int_equal(sip_transport_send_request(client, m3, on_sent, &s3, sent_free), 0);
    assert_true(test_pump_until(loop, &s3.calls, 1, 5000));
    assert_int_equal(s3.status, SIP_ENOENT);

    /* Only dead targets: the last error. */
    char srv_only_dead[128];
    snprintf(srv_only_dead, sizeof(srv_only_dead), "sip:uas@127.0.0.1:%u;transport=tcp", dead);
    sip_msg_t *m4 = request(srv_only_dead, NULL);
    sent_t s4 = {0};
    assert_int_equal(sip_transport_send_request(client, m4, on_sent, &s4, sent_free), 0);
    assert_true(test_pump_until(loop, &s4.calls, 1, 5000));
    assert_int_equal(s4.status, -ECONNREFUSED);

    /* Closing with a lookup pending: no callback, the user data freed once. */
    sip_resolver_flush(r);
    sent_t s5 = {0};
    assert_int_equal(sip_transport_send_request(client, m, on_sent, &s5, sent_free), 0);
    sip_loop_close(loop);
    assert_int_equal(s5.calls, 0);
    assert_int_equal(s5.freed, 1);

    dnsmasq_stop(&dns);
    sip_msg_unref(m);
    sip_msg_unref(m2);
    sip_msg_unref(m3);
    sip_msg_unref(m4);
    sip_msg_unref(live.last);
    sip_resolver_unref(r);
    sip_transport_unref(client);
    sip_transport_unref(server);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locate_fails_over_to_the_next_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
