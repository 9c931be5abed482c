/* SPDX-License-Identifier: MIT */
/* RFC 3263 §4.3 failover of client transactions over real UDP on loopback, the targets served by
 * a local dnsmasq (SRV): a target that never answers, or answers 503, is left for the next one,
 * with a new branch, before the application hears a failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

#include "alloc_hook.h"
#include "dnsmasq.h"
#include "pump.h"
#include "sip/sip.h"

/* T1 10 ms: Timer B/F (64*T1) ends a silent target in 640 ms. */
#define T1_MS 10

typedef struct server {
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    uint16_t port;
    int status;      /* what it answers */
    int retry_after; /* a Retry-After header with it, when not 0 */
    int requests, acks;
    char branch[64]; /* of the last request */
} server_t;

typedef struct client {
    int finals, provisionals, last, freed;
    char log[4096];
} client_t;

static sip_loop_t *loop;
static sip_resolver_t *resolver;
static sip_transport_t *tpa;
static sip_txn_layer_t *la;
static dnsmasq_t dns;
static server_t srv[2];
static int dead_fd = -1; /* a UDP socket nobody reads: a target that never answers */
static uint16_t dead_port;
static client_t cli;
static long live0;

static void copy_branch(char *out, const sip_msg_t *m)
{
    const sip_via_t *v = sip_msg_get_via(m);
    snprintf(out, 64, "%.*s", (int)v->branch.len, v->branch.ptr);
}

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    server_t *s = user;
    if (sip_msg_get_method(req) == SIP_METHOD_ACK) {
        s->acks++;
        return;
    }
    s->requests++;
    copy_branch(s->branch, req);
    if (!s->retry_after) {
        assert_int_equal(sip_txn_respond(txn, s->status, NULL), 0);
        return;
    }
    sip_msg_t *rsp = NULL;
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", s->retry_after);
    assert_int_equal(sip_msg_create_response(&rsp, req, s->status, NULL, NULL), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Retry-After", ra), 0);
    assert_int_equal(sip_txn_reply(txn, rsp), 0);
    sip_msg_unref(rsp);
}

static void on_server_ack(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    server_t *s = user;
    /* The ACK of a non-2xx is absorbed by the server transaction; count it on the way. */
    if (sip_msg_is_request(msg) && sip_msg_get_method(msg) == SIP_METHOD_ACK) s->acks++;
    sip_txn_layer_receive(s->layer, msg);
}

static void on_log(sip_loop_t *l, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)l;
    (void)level;
    (void)user;
    if (strcmp(module, "txn") != 0) return;
    size_t n = strlen(cli.log);
    snprintf(cli.log + n, sizeof(cli.log) - n, "%s\n", text);
}

static void server_open(server_t *s, int status)
{
    memset(s, 0, sizeof(*s));
    s->status = status;
    /* TCP on the same port number as the UDP port the kernel picked: that TCP port may be
     * taken (another test's connection in the ephemeral range), then the pair is picked
     * again. */
    int tcp = -1;
    for (int tries = 0; tries < 50 && tcp != 1; tries++) {
        if (s->tp) sip_transport_unref(s->tp);
        assert_int_equal(sip_transport_create(&s->tp, loop, NULL), 0);
        assert_int_equal(sip_transport_listen(s->tp, "udp:127.0.0.1:0"), 0);
        sip_netinfo_t ni;
        assert_int_equal(sip_transport_listener_info(s->tp, 0, &ni), 0);
        s->port = ni.local_port;
        char spec[32];
        snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", s->port);
        tcp = sip_transport_listen(s->tp, spec);
    }
    assert_int_equal(tcp, 1);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t1_ms = T1_MS;
    assert_int_equal(sip_txn_layer_create(&s->layer, s->tp, &o), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(s->layer, on_request, s, NULL), 0);
    assert_int_equal(sip_transport_set_handler(s->tp, on_server_ack, s, NULL), 0);
}

/* dnsmasq serving _sip._<tp>.<name> with the given (priority, port) targets, all 127.0.0.1. */
static void dns_start_tp(const char *name, sip_transport_type_t tp, uint16_t p1, uint16_t p2)
{
    const char *label = sip_transport_param(tp);
    char srv1[128], srv2[128], host[96];
    snprintf(srv1, sizeof(srv1), "--srv-host=_sip._%s.%s,one.%s,%u,10,10", label, name, name, p1);
    snprintf(srv2, sizeof(srv2), "--srv-host=_sip._%s.%s,two.%s,%u,20,10", label, name, name, p2);
    snprintf(host, sizeof(host), "--host-record=one.%s,127.0.0.1", name);
    char host2[96];
    snprintf(host2, sizeof(host2), "--host-record=two.%s,127.0.0.1", name);
    const char *const records[] = {srv1, srv2, host, host2, NULL};
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns.port);
    sip_resolver_opts_t ro;
    sip_resolver_opts_init(&ro);
    ro.servers = servers;
    ro.timeout_ms = 1000;
    ro.transports = 1u << tp;
    assert_int_equal(sip_resolver_create(&resolver, loop, &ro), 0);
    assert_int_equal(sip_transport_set_resolver(tpa, resolver), 0);
}

static void dns_start(const char *name, uint16_t p1, uint16_t p2)
{
    dns_start_tp(name, SIP_TRANSPORT_UDP, p1, p2);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    live0 = test_alloc_live();
    memset(&cli, 0, sizeof(cli));
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_INFO, on_log, NULL, NULL), 0);
    assert_int_equal(sip_transport_create(&tpa, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(tpa, "udp:127.0.0.1:0"), 0);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t1_ms = T1_MS;
    o.t4_ms = 50;
    assert_int_equal(sip_txn_layer_create(&la, tpa, &o), 0);
    dead_fd = udp_socket(&dead_port);
    assert_true(dead_fd >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_txn_layer_unref(la);
    sip_transport_unref(tpa);
    for (int i = 0; i < 2; i++) {
        sip_txn_layer_unref(srv[i].layer);
        sip_transport_unref(srv[i].tp);
        memset(&srv[i], 0, sizeof(srv[i]));
    }
    sip_resolver_unref(resolver);
    resolver = NULL;
    sip_loop_close(loop);
    sip_loop_unref(loop);
    dnsmasq_stop(&dns);
    close(dead_fd);
    assert_int_equal(test_alloc_live(), live0);
    return 0;
}

/* Datagrams the dead target got, and the branch of the first. */
static int dead_received(char *branch)
{
    int n = 0;
    char buf[4096];
    for (;;) {
        ssize_t k = recv(dead_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (k <= 0) break;
        buf[k] = '\0';
        if (n++ == 0) {
            const char *b = strstr(buf, "branch=");
            assert_non_null(b);
            b += 7;
            size_t len = strcspn(b, ";\r\n ,");
            snprintf(branch, 64, "%.*s", (int)len, b);
        }
    }
    return n;
}

static void on_response(sip_txn_t *t, int status, const sip_msg_t *rsp, void *user)
{
    (void)t;
    (void)rsp;
    client_t *c = user;
    if (status < 200) {
        c->provisionals++;
    } else {
        c->finals++;
        c->last = status;
    }
}

static void on_free(void *user)
{
    client_t *c = user;
    c->freed++;
}

static sip_msg_t *request(const char *method, const char *domain)
{
    /* A Call-ID of its own each time: a server that saw an earlier one would call it a merged
     * request (RFC 3261 §8.2.2.2). */
    static unsigned calls;
    char text[1024];
    snprintf(text, sizeof(text),
             "%s sip:b@%s SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=a\r\n"
             "To: <sip:b@%s>\r\nCall-ID: fo-%u@127.0.0.1\r\nCSeq: 1 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, domain, domain, ++calls, method);
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), &err), 0);
    return m;
}

/* A UDP target that never answers: Timer F ends it, the request goes to the second target with a
 * new branch, and the application hears the second target's 200 only. */
static void txn_failover_silent_target(void **state)
{
    (void)state;
    server_open(&srv[1], 200);
    dns_start("silent.test", dead_port, srv[1].port);
    sip_msg_t *req = request("OPTIONS", "silent.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[1].requests, 1);
    char dead_branch[64] = "";
    /* The first target got the request and its retransmissions (Timer E), and nothing more. */
    assert_true(dead_received(dead_branch) > 1);
    assert_string_not_equal(dead_branch, srv[1].branch);
    assert_memory_equal(srv[1].branch, "z9hG4bK", 7);
    char want[96];
    snprintf(want, sizeof(want), "target udp:127.0.0.1:%u failed; trying the next", dead_port);
    assert_non_null(strstr(cli.log, want));
    /* No late 408 from the first attempt. */
    test_pump(loop, 100);
    assert_int_equal(cli.finals, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));
}

/* A target answering 503: the INVITE's 503 is ACKed, then the request goes to the next target. */
static void txn_failover_503(void **state)
{
    (void)state;
    server_open(&srv[0], 503);
    server_open(&srv[1], 200);
    dns_start("busy.test", srv[0].port, srv[1].port);
    sip_msg_t *req = request("INVITE", "busy.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[0].requests, 1);
    assert_int_equal(srv[1].requests, 1);
    assert_string_not_equal(srv[0].branch, srv[1].branch);
    assert_true(test_pump_until(loop, &srv[0].acks, 1, 3000));
    assert_int_equal(sip_txn_get_state(t), SIP_TXN_ACCEPTED);
    sip_txn_close(t);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_int_equal(cli.freed, 1);

    /* The resolver remembers the target that failed: the next request goes to the second
     * target first, and the first one waits its failed_ms. */
    sip_netinfo_t first = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "127.0.0.1"};
    first.remote_port = srv[0].port;
    uint32_t left = sip_resolver_get_failed_ms(resolver, &first);
    assert_true(left > 50000 && left <= 60000);
    memset(&cli, 0, sizeof(cli));
    req = request("OPTIONS", "busy.test");
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[0].requests, 1);
    assert_int_equal(srv[1].requests, 2);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));

    /* Forgotten, it is first again (by priority): a non-INVITE gets its 503 and moves on too. */
    assert_int_equal(sip_resolver_mark_ok(resolver, &first), 0);
    assert_int_equal(sip_resolver_mark_ok(resolver, &first), SIP_ENOENT);
    assert_int_equal(sip_resolver_get_failed_ms(resolver, &first), 0);
    memset(&cli, 0, sizeof(cli));
    req = request("OPTIONS", "busy.test");
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[0].requests, 2);
    assert_int_equal(srv[1].requests, 3);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));
}

/* A 503's Retry-After is how long its target stays last; a marked target that answers again is
 * forgotten (here both are marked, so the first by priority gets the request). */
static void txn_failover_retry_after_and_recovery(void **state)
{
    (void)state;
    server_open(&srv[0], 503);
    srv[0].retry_after = 5;
    server_open(&srv[1], 200);
    dns_start("later.test", srv[0].port, srv[1].port);
    sip_msg_t *req = request("OPTIONS", "later.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));
    sip_netinfo_t a = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "127.0.0.1"};
    sip_netinfo_t b = a;
    a.remote_port = srv[0].port;
    b.remote_port = srv[1].port;
    uint32_t left = sip_resolver_get_failed_ms(resolver, &a);
    assert_true(left > 3000 && left <= 5000);
    /* The second target answered: it is not marked. */
    assert_int_equal(sip_resolver_get_failed_ms(resolver, &b), 0);

    /* Both marked: the order among them is the DNS one, and the first answers 200 now. */
    srv[0].status = 200;
    srv[0].retry_after = 0;
    assert_int_equal(sip_resolver_mark_failed(resolver, &b, 0), 0);
    assert_true(sip_resolver_get_failed_ms(resolver, &b) > 50000);
    memset(&cli, 0, sizeof(cli));
    req = request("OPTIONS", "later.test");
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[0].requests, 2);
    assert_int_equal(srv[1].requests, 1);
    assert_int_equal(sip_resolver_get_failed_ms(resolver, &a), 0);
    assert_true(sip_resolver_get_failed_ms(resolver, &b) > 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));

    /* Bad input. */
    sip_netinfo_t bad = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "not-an-address"};
    assert_int_equal(sip_resolver_mark_failed(resolver, &bad, 0), SIP_EINVAL);
    assert_int_equal(sip_resolver_mark_failed(NULL, &a, 0), SIP_EINVAL);
    assert_int_equal(sip_resolver_mark_failed(resolver, NULL, 0), SIP_EINVAL);
    assert_int_equal(sip_resolver_mark_ok(resolver, &bad), SIP_EINVAL);
    assert_int_equal(sip_resolver_get_failed_ms(resolver, &bad), 0);
    assert_int_equal(sip_resolver_get_failed_ms(NULL, &a), 0);
}

/* Every target fails: the application hears one failure, the last target's. */
static void txn_failover_all_fail(void **state)
{
    (void)state;
    server_open(&srv[1], 503);
    dns_start("down.test", dead_port, srv[1].port);
    sip_msg_t *req = request("OPTIONS", "down.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 503);
    assert_int_equal(srv[1].requests, 1);
    test_pump(loop, 100);
    assert_int_equal(cli.finals, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));

    /* The other way round: a 503, then silence: 408. */
    sip_resolver_unref(resolver);
    dnsmasq_stop(&dns);
    dns_start("down2.test", srv[1].port, dead_port);
    memset(&cli, 0, sizeof(cli));
    req = request("OPTIONS", "down2.test");
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 408);
    assert_int_equal(cli.finals, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(test_pump_until(loop, &cli.freed, 1, 3000));
}

/* A TCP target that refuses the connection (a transport error, RFC 3261 §8.1.3.1): the next
 * target gets the request with a new branch, and the application hears its 200 only. */
static void txn_failover_refused(void **state)
{
    (void)state;
    server_open(&srv[1], 200);
    /* A TCP port nothing listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    uint16_t refused = ntohs(sa.sin_port);
    dns_start_tp("refused.test", SIP_TRANSPORT_TCP, refused, srv[1].port);
    sip_msg_t *req = request("INVITE", "refused.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    assert_true(test_pump_until(loop, &cli.finals, 1, 10000));
    assert_int_equal(cli.last, 200);
    assert_int_equal(srv[1].requests, 1);
    assert_int_equal(sip_msg_get_netinfo(req)->transport, SIP_TRANSPORT_TCP);
    assert_int_equal(sip_msg_get_netinfo(req)->remote_port, srv[1].port);
    char want[96];
    snprintf(want, sizeof(want), "target tcp:127.0.0.1:%u failed; trying the next", refused);
    assert_non_null(strstr(cli.log, want));
    sip_txn_close(t);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* Closing the transaction while the first target is silent ends it quietly. */
static void txn_failover_close_while_trying(void **state)
{
    (void)state;
    server_open(&srv[1], 200);
    dns_start("closed.test", dead_port, srv[1].port);
    sip_msg_t *req = request("OPTIONS", "closed.test");
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, la, req, NULL, NULL, on_response, &cli, on_free), 0);
    char branch[64];
    for (int i = 0; i < 100 && dead_received(branch) == 0; i++)
        test_pump(loop, 10);
    sip_txn_close(t);
    assert_int_equal(cli.freed, 1);
    test_pump(loop, 64 * T1_MS + 200);
    assert_int_equal(cli.finals, 0);
    assert_int_equal(srv[1].requests, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

int main(void)
{
    if (access(DNSMASQ_BIN, X_OK) != 0) {
        fprintf(stderr, "%s is missing (Debian package dnsmasq-base)\n", DNSMASQ_BIN);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(txn_failover_silent_target, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_failover_503, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_failover_retry_after_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_failover_all_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_failover_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_failover_close_while_trying, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
