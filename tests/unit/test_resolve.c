/* SPDX-License-Identifier: MIT */
/* Unit tests of RFC 3263 server location, against a local dnsmasq serving test records. */
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "dnsmasq.h"
#include "resolve/resolve_int.h"
#include "sip/loop.h"
#include "sip/resolve.h"
#include "sip/uri.h"

#define WAIT_MS 5000u

/* Records of the shared server. 192.0.2.0/24 and 2001:db8::/32 are documentation ranges. */
static const char *const main_records[] = {
    "--local-ttl=60",
    /* a.test: A/AAAA, an SRV for UDP and TCP, and a NAPTR preferring TCP. Each path gives a
     * different answer, so the result shows which one was taken. */
    "--host-record=a.test,192.0.2.1,2001:db8::1",
    "--host-record=srv-a.test,192.0.2.99",
    "--host-record=tcp-a.test,192.0.2.98",
    "--srv-host=_sip._udp.a.test,srv-a.test,5070,10,5",
    "--srv-host=_sip._tcp.a.test,tcp-a.test,5071,10,5",
    "--naptr-record=a.test,10,10,s,SIP+D2T,,_sip._tcp.a.test",
    /* n.test: NAPTR ordering and filtering (SCTP unknown, WS not enabled by default). */
    "--naptr-record=n.test,30,10,s,SIP+D2U,,_sip._udp.n.test",
    "--naptr-record=n.test,10,20,s,SIP+D2T,,_sip._tcp.n.test",
    "--naptr-record=n.test,10,10,s,SIP+D2S,,_sip._sctp.n.test",
    "--naptr-record=n.test,20,10,s,SIPS+D2T,,_sips._tcp.n.test",
    "--naptr-record=n.test,15,10,s,SIP+D2W,,_sip._ws.n.test",
    /* First in order, but a rewrite rule ("u" flag, regexp), not an SRV pointer. */
    "--naptr-record=n.test,1,10,u,SIP+D2U,!^.*$!sip:info@u.n.test!",
    "--srv-host=_sip._udp.n.test,u.n.test,5060,10,5",
    "--srv-host=_sip._tcp.n.test,t.n.test,5062,10,5",
    "--srv-host=_sips._tcp.n.test,s.n.test,5063,10,5",
    "--srv-host=_sip._sctp.n.test,x.n.test,5064,10,5",
    "--srv-host=_sip._ws.n.test,w.n.test,8080,10,5",
    "--host-record=u.n.test,192.0.2.10",
    "--host-record=t.n.test,192.0.2.11",
    "--host-record=s.n.test,192.0.2.12",
    "--host-record=x.n.test,192.0.2.13",
    "--host-record=w.n.test,192.0.2.14",
    /* p.test: three SRV priorities, listed out of order. */
    "--srv-host=_sip._udp.p.test,c.p.test,5003,30,5",
    "--srv-host=_sip._udp.p.test,a.p.test,5001,10,5",
    "--srv-host=_sip._udp.p.test,b.p.test,5002,20,5",
    "--host-record=a.p.test,192.0.2.21",
    "--host-record=b.p.test,192.0.2.22,2001:db8::22",
    "--host-record=c.p.test,192.0.2.23",
    /* w.test: one priority, weights 90 and 10. */
    "--srv-host=_sip._udp.w.test,heavy.w.test,5060,10,90",
    "--srv-host=_sip._udp.w.test,light.w.test,5060,10,10",
    "--host-record=heavy.w.test,192.0.2.31",
    "--host-record=light.w.test,192.0.2.32",
    /* f.test: an address only. */
    "--host-record=f.test,192.0.2.30",
    NULL,
};

static dnsmasq_t g_dns;

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (access(DNSMASQ_BIN, X_OK) != 0) {
        fprintf(stderr, "%s is missing (Debian package dnsmasq-base)\n", DNSMASQ_BIN);
        return -1;
    }
    if (dnsmasq_start(&g_dns, main_records) != 0) {
        fprintf(stderr, "dnsmasq did not start\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    dnsmasq_stop(&g_dns);
    return 0;
}

/* ---- loop and resolver fixture ---- */

typedef struct counts {
    int naptr, srv, a, aaaa;
    int skipped_rewrite, skipped_unknown, skipped_disabled; /* NAPTR records left out */
} counts_t;

typedef struct fx {
    long live0;
    sip_loop_t *loop;
    sip_resolver_t *r;
    counts_t q;          /* DNS queries sent, from the debug log */
    int close_on_answer; /* the log callback closes the resolver at the first DNS answer */
} fx_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)level;
    fx_t *f = user;
    if (strcmp(module, "resolve") != 0) return;
    if (strstr(text, " query NAPTR ")) f->q.naptr++;
    if (strstr(text, " query SRV ")) f->q.srv++;
    if (strstr(text, " query A ")) f->q.a++;
    if (strstr(text, " query AAAA ")) f->q.aaaa++;
    if (strstr(text, "skipped: not an SRV pointer")) f->q.skipped_rewrite++;
    if (strstr(text, "skipped: service not known")) f->q.skipped_unknown++;
    if (strstr(text, "skipped: transport not enabled")) f->q.skipped_disabled++;
    if (f->close_on_answer && strstr(text, " answer ")) sip_resolver_close(f->r);
}

static void fx_open(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    f->live0 = test_alloc_live();
    assert_int_equal(sip_loop_create(&f->loop), 0);
    assert_int_equal(sip_loop_set_log(f->loop, SIP_LOG_DEBUG, on_log, f, NULL), 0);
}

static void fx_resolver(fx_t *f, const char *servers, int timeout_ms, int tries, unsigned tp)
{
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    o.servers = servers;
    if (timeout_ms) o.timeout_ms = timeout_ms;
    if (tries) o.tries = tries;
    if (tp) o.transports = tp;
    assert_int_equal(sip_resolver_create(&f->r, f->loop, &o), 0);
    assert_non_null(f->r);
}

static void fx_main(fx_t *f, unsigned tp)
{
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", g_dns.port);
    fx_open(f);
    fx_resolver(f, servers, 1000, 2, tp);
}

static void fx_close(fx_t *f)
{
    sip_resolver_unref(f->r);
    f->r = NULL;
    sip_loop_unref(f->loop);
    f->loop = NULL;
    assert_int_equal(test_alloc_live(), f->live0);
}

static void on_deadline(sip_timer_t *t, void *user)
{
    (void)t;
    *(int *)user = 1;
}

/* Runs the loop until *flag is set or ms passed (flag NULL: just for ms). */
static void run_until(sip_loop_t *loop, const int *flag, unsigned ms)
{
    int expired = 0;
    sip_timer_t *t = NULL;
    assert_int_equal(sip_timer_start(&t, loop, ms, 0, on_deadline, &expired, NULL), 0);
    while (!(flag && *flag) && !expired) {
        if (sip_loop_run_once(loop, 1) < 0) break;
    }
    sip_timer_stop(t);
    sip_timer_unref(t);
}

/* ---- one resolution ---- */

typedef struct res {
    int called, freed, inside;
    int status;
    size_t count;
    char got[16][80];
    char names[16][256];         /* server_name of each target */
    sip_resolver_t *close_in_cb; /* closes this resolver from the callback */
    sip_resolver_t *unref_in_cb; /* drops this reference from the callback */
} res_t;

static int g_in_resolve;

static void on_result(sip_resolver_t *r, int status, const sip_netinfo_t *t, size_t n, void *user)
{
    (void)r;
    res_t *res = user;
    res->called++;
    res->inside += g_in_resolve;
    res->status = status;
    res->count = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        const char *ip = t[i].remote_ip;
        snprintf(res->got[i], sizeof(res->got[i]), strchr(ip, ':') ? "%s [%s]:%u" : "%s %s:%u",
                 sip_transport_name(t[i].transport), ip, t[i].remote_port);
        snprintf(res->names[i], sizeof(res->names[i]), "%s", t[i].server_name);
    }
    if (res->close_in_cb) sip_resolver_close(res->close_in_cb);
    if (res->unref_in_cb) sip_resolver_unref(res->unref_in_cb);
}

static void on_free(void *user)
{
    ((res_t *)user)->freed++;
}

static int start(sip_resolver_t *r, const char *uri_text, res_t *res)
{
    static sip_uri_t uri; /* views into a literal, which outlives the call */
    memset(res, 0, sizeof(*res));
    assert_int_equal(sip_uri_parse(&uri, uri_text, strlen(uri_text)), 0);
    g_in_resolve = 1;
    int rc = sip_resolve(r, &uri, on_result, res, on_free);
    g_in_resolve = 0;
    if (rc == 0) {
        /* Never from inside sip_resolve(). */
        assert_int_equal(res->called, 0);
        assert_int_equal(res->freed, 0);
    }
    return rc;
}

/* Resolves and waits for the callback. */
static void resolve(fx_t *f, const char *uri_text, res_t *res)
{
    assert_int_equal(start(f->r, uri_text, res), 0);
    run_until(f->loop, &res->called, WAIT_MS);
    assert_int_equal(res->called, 1);
    assert_int_equal(res->freed, 1);
    assert_int_equal(res->inside, 0);
}

#define expect_targets(res, ...)                                                                   \
    check_targets((res), (const char *[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)

static void check_targets(const res_t *res, const char **want, const char *file, int line)
{
    size_t n = 0;
    while (want[n])
        n++;
    int ok = res->status == 0 && res->count == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = strcmp(res->got[i], want[i]) == 0;
    if (!ok) {
        print_error("status %d, %zu target(s):\n", res->status, res->count);
        for (size_t i = 0; i < res->count && i < 16; i++)
            print_error("  got  %s\n", res->got[i]);
        for (size_t i = 0; i < n; i++)
            print_error("  want %s\n", want[i]);
        _fail(file, line);
    }
}

#define TP(x) (1u << SIP_TRANSPORT_##x)

/* ---- tests ---- */

static void resolve_numeric_host_skips_dns(void **state)
{
    (void)state;
    /* The "server" is a socket that never answers: any query would show up in it. */
    uint16_t port;
    int silent = udp_socket(&port);
    assert_true(silent >= 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", port);
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, servers, 2000, 2, 0);
    res_t res;
    resolve(&f, "sip:192.0.2.5:5070", &res);
    expect_targets(&res, "UDP 192.0.2.5:5070");
    resolve(&f, "sip:alice@[2001:db8::5]", &res);
    expect_targets(&res, "UDP [2001:db8::5]:5060");
    resolve(&f, "sips:192.0.2.5", &res);
    expect_targets(&res, "TLS 192.0.2.5:5061");
    resolve(&f, "sip:192.0.2.5;transport=tcp", &res);
    expect_targets(&res, "TCP 192.0.2.5:5060");
    resolve(&f, "sip:192.0.2.5;transport=tls", &res);
    expect_targets(&res, "TLS 192.0.2.5:5061");
    /* RFC 3263 §4: maddr overrides the host. */
    resolve(&f, "sip:bob@f.test;maddr=192.0.2.6", &res);
    expect_targets(&res, "UDP 192.0.2.6:5060");
    /* A transport this endpoint does not have: nothing to try. */
    resolve(&f, "sip:192.0.2.5;transport=sctp", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    assert_int_equal(res.count, 0);
    resolve(&f, "sip:192.0.2.5;transport=ws", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    assert_int_equal(f.q.naptr + f.q.srv + f.q.a + f.q.aaaa, 0);
    char buf[64];
    assert_int_equal(recv(silent, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    close(silent);
    fx_close(&f);
}

static void resolve_explicit_port_uses_addresses_only(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    resolve(&f, "sip:a.test:5080", &res);
    /* Not the NAPTR's TCP target, not the UDP SRV target: a.test's own addresses. */
    expect_targets(&res, "UDP 192.0.2.1:5080", "UDP [2001:db8::1]:5080");
    assert_int_equal(f.q.naptr, 0);
    assert_int_equal(f.q.srv, 0);
    assert_int_equal(f.q.a, 1);
    assert_int_equal(f.q.aaaa, 1);
    resolve(&f, "sip:a.test:5080;transport=tcp", &res);
    expect_targets(&res, "TCP 192.0.2.1:5080", "TCP [2001:db8::1]:5080");
    resolve(&f, "sips:a.test:5081", &res);
    expect_targets(&res, "TLS 192.0.2.1:5081", "TLS [2001:db8::1]:5081");
    fx_close(&f);
}

static void resolve_transport_param_uses_srv(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    resolve(&f, "sip:a.test;transport=udp", &res);
    expect_targets(&res, "UDP 192.0.2.99:5070");
    assert_int_equal(f.q.naptr, 0);
    assert_int_equal(f.q.srv, 1);
    resolve(&f, "sip:a.test;transport=TCP", &res);
    expect_targets(&res, "TCP 192.0.2.98:5071");
    assert_int_equal(f.q.naptr, 0);
    /* Without the parameter the NAPTR record decides (TCP). */
    resolve(&f, "sip:a.test", &res);
    expect_targets(&res, "TCP 192.0.2.98:5071");
    assert_int_equal(f.q.naptr, 1);
    /* A transport with no SRV record: A/AAAA at the transport's default port. */
    resolve(&f, "sip:a.test;transport=tls", &res);
    expect_targets(&res, "TLS 192.0.2.1:5061", "TLS [2001:db8::1]:5061");
    fx_close(&f);
}

static void resolve_naptr_order_and_filter(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    /* Order 1 (a rewrite rule), 10 (TCP; SCTP unknown), 15 (WS, not enabled), 20 (TLS), 30
     * (UDP). */
    resolve(&f, "sip:n.test", &res);
    expect_targets(&res, "TCP 192.0.2.11:5062", "TLS 192.0.2.12:5063", "UDP 192.0.2.10:5060");
    assert_int_equal(f.q.naptr, 1);
    assert_int_equal(f.q.srv, 3);
    assert_int_equal(f.q.skipped_rewrite, 1);
    assert_int_equal(f.q.skipped_unknown, 1);
    assert_int_equal(f.q.skipped_disabled, 1);
    fx_close(&f);

    /* With WebSocket enabled its record takes its place. */
    fx_main(&f, TP(UDP) | TP(TCP) | TP(TLS) | TP(WS));
    resolve(&f, "sip:n.test", &res);
    expect_targets(&res, "TCP 192.0.2.11:5062", "WS 192.0.2.14:8080", "TLS 192.0.2.12:5063",
                   "UDP 192.0.2.10:5060");
    fx_close(&f);

    /* Only UDP configured: only the UDP record. */
    fx_main(&f, TP(UDP));
    resolve(&f, "sip:n.test", &res);
    expect_targets(&res, "UDP 192.0.2.10:5060");
    assert_int_equal(f.q.srv, 1);
    fx_close(&f);
}

static void resolve_sips_keeps_tls_only(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, TP(UDP) | TP(TCP) | TP(TLS) | TP(WS));
    res_t res;
    resolve(&f, "sips:n.test", &res);
    expect_targets(&res, "TLS 192.0.2.12:5063");
    /* sips;transport=tcp means TLS (RFC 3261 §26.2.2). */
    resolve(&f, "sips:n.test;transport=tcp", &res);
    expect_targets(&res, "TLS 192.0.2.12:5063");
    resolve(&f, "sips:n.test;transport=udp", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    /* No NAPTR and no SRV: A at 5061 over TLS. */
    resolve(&f, "sips:f.test", &res);
    expect_targets(&res, "TLS 192.0.2.30:5061");
    fx_close(&f);

    /* A sips URI with TLS disabled has no target. */
    fx_main(&f, TP(UDP) | TP(TCP));
    resolve(&f, "sips:n.test", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    fx_close(&f);
}

/* RFC 5922 §4.1: every target of a name carries the SIP domain (for TLS: SNI and the
 * certificate check), not the SRV target it came through; an address carries none. */
static void resolve_targets_carry_the_domain(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, TP(UDP) | TP(TCP) | TP(TLS));
    res_t res;
    resolve(&f, "sips:n.test", &res);
    expect_targets(&res, "TLS 192.0.2.12:5063");
    assert_string_equal(res.names[0], "n.test");
    resolve(&f, "sip:a.test:5080", &res);
    expect_targets(&res, "UDP 192.0.2.1:5080", "UDP [2001:db8::1]:5080");
    assert_string_equal(res.names[0], "a.test");
    assert_string_equal(res.names[1], "a.test");
    resolve(&f, "sips:192.0.2.5", &res);
    expect_targets(&res, "TLS 192.0.2.5:5061");
    assert_string_equal(res.names[0], "");
    resolve(&f, "sip:[2001:db8::5]", &res);
    assert_string_equal(res.names[0], "");
    fx_close(&f);
}

/* An endpoint with only WebSocket transports (RFC 7118): a URI without a transport goes over
 * WS, or WSS for sips, instead of finding nothing. */
static void resolve_websocket_only_endpoint(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, TP(WS));
    res_t res;
    resolve(&f, "sip:192.0.2.5:8080", &res);
    expect_targets(&res, "WS 192.0.2.5:8080");
    resolve(&f, "sip:f.test", &res);
    expect_targets(&res, "WS 192.0.2.30:80");
    resolve(&f, "sips:192.0.2.5", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    fx_close(&f);
    fx_main(&f, TP(WSS));
    resolve(&f, "sips:192.0.2.5", &res);
    expect_targets(&res, "WSS 192.0.2.5:443");
    resolve(&f, "sip:192.0.2.5:8443", &res);
    expect_targets(&res, "WSS 192.0.2.5:8443");
    fx_close(&f);
}

static void resolve_srv_priority_order(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    for (int i = 0; i < 20; i++) {
        sip_resolver_flush(f.r);
        resolve(&f, "sip:p.test;transport=udp", &res);
        /* Priority 10, 20, 30; every address of each target, IPv4 first. */
        expect_targets(&res, "UDP 192.0.2.21:5001", "UDP 192.0.2.22:5002",
                       "UDP [2001:db8::22]:5002", "UDP 192.0.2.23:5003");
    }
    fx_close(&f);
}

static void resolve_srv_weighting(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    int heavy = 0, light = 0;
    for (int i = 0; i < 1000; i++) {
        sip_resolver_flush(f.r);
        resolve(&f, "sip:w.test;transport=udp", &res);
        assert_int_equal(res.status, 0);
        assert_int_equal(res.count, 2);
        if (strcmp(res.got[0], "UDP 192.0.2.31:5060") == 0 &&
            strcmp(res.got[1], "UDP 192.0.2.32:5060") == 0)
            heavy++;
        else if (strcmp(res.got[0], "UDP 192.0.2.32:5060") == 0 &&
                 strcmp(res.got[1], "UDP 192.0.2.31:5060") == 0)
            light++;
    }
    assert_int_equal(heavy + light, 1000);
    /* Each one asked again: one SRV query per resolution. */
    assert_int_equal(f.q.srv, 1000);
    assert_int_equal(f.q.a, 2000);
    /* RFC 2782 gives the weight-90 record first about 90% of the time. */
    if (heavy < 800 || heavy > 970) fail_msg("heavier target first %d times of 1000", heavy);
    fx_close(&f);
}

static void resolve_srv_order_unit(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, "127.0.0.1:9", 100, 1, 0);
    /* Weight 0 only: still every record, priorities ascending. */
    int zero_first = 0;
    for (int k = 0; k < 2000; k++) {
        sip__dns_rr_t rr[4];
        memset(rr, 0, sizeof(rr));
        uint16_t prio[4] = {5, 1, 5, 1}, weight[4] = {0, 0, 10, 3};
        for (int i = 0; i < 4; i++) {
            rr[i].u.srv.priority = prio[i];
            rr[i].u.srv.weight = weight[i];
            rr[i].u.srv.port = (uint16_t)i;
        }
        sip__srv_order(f.r, rr, 4);
        assert_int_equal(rr[0].u.srv.priority, 1);
        assert_int_equal(rr[1].u.srv.priority, 1);
        assert_int_equal(rr[2].u.srv.priority, 5);
        assert_int_equal(rr[3].u.srv.priority, 5);
        assert_int_equal(rr[0].u.srv.port + rr[1].u.srv.port, 1 + 3);
        assert_int_equal(rr[2].u.srv.port + rr[3].u.srv.port, 0 + 2);
        /* Priority 5: weight 0 against 10 is first only when the draw is 0 (1 in 11). */
        if (rr[2].u.srv.port == 0) zero_first++;
    }
    if (zero_first < 60 || zero_first > 330) fail_msg("weight 0 first %d of 2000", zero_first);
    fx_close(&f);
}

/* Answers from the cache are put in RFC 2782 order again each time: a client resolving the same
 * name for every request still spreads the requests by weight. */
static void resolve_srv_weighting_from_cache(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    int heavy = 0;
    for (int i = 0; i < 1000; i++) {
        resolve(&f, "sip:w.test;transport=udp", &res);
        assert_int_equal(res.count, 2);
        if (strcmp(res.got[0], "UDP 192.0.2.31:5060") == 0) heavy++;
    }
    assert_int_equal(f.q.srv, 1);
    if (heavy < 800 || heavy > 970) fail_msg("heavier target first %d times of 1000", heavy);
    fx_close(&f);
}

/* Targets marked failed come after the others, in their own order, until they recover. */
static void resolve_failed_targets_go_last(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    sip_netinfo_t a = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "192.0.2.21"};
    a.remote_port = 5001;
    sip_netinfo_t b6 = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "[2001:db8:0::22]"};
    b6.remote_port = 5002;
    assert_int_equal(sip_resolver_mark_failed(f.r, &a, 0), 0);
    assert_int_equal(sip_resolver_mark_failed(f.r, &b6, 0), 0);
    resolve(&f, "sip:p.test;transport=udp", &res);
    expect_targets(&res, "UDP 192.0.2.22:5002", "UDP 192.0.2.23:5003", "UDP 192.0.2.21:5001",
                   "UDP [2001:db8::22]:5002");
    /* Another transport or port is another target. */
    sip_netinfo_t tcp = a;
    tcp.transport = SIP_TRANSPORT_TCP;
    assert_int_equal(sip_resolver_get_failed_ms(f.r, &tcp), 0);
    tcp = a;
    tcp.remote_port = 5009;
    assert_int_equal(sip_resolver_get_failed_ms(f.r, &tcp), 0);
    /* Recovered: back in its place. */
    assert_int_equal(sip_resolver_mark_ok(f.r, &a), 0);
    resolve(&f, "sip:p.test;transport=udp", &res);
    expect_targets(&res, "UDP 192.0.2.21:5001", "UDP 192.0.2.22:5002", "UDP 192.0.2.23:5003",
                   "UDP [2001:db8::22]:5002");
    /* A mark ends by itself. */
    assert_int_equal(sip_resolver_mark_failed(f.r, &a, 30), 0);
    assert_true(sip_resolver_get_failed_ms(f.r, &a) > 0);
    run_until(f.loop, NULL, 60);
    assert_int_equal(sip_resolver_get_failed_ms(f.r, &a), 0);
    fx_close(&f);

    /* failed_ms 0: nothing is remembered. */
    fx_open(&f);
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    assert_int_equal(o.failed_ms, 60000);
    o.failed_ms = 0;
    o.servers = "127.0.0.1:9";
    assert_int_equal(sip_resolver_create(&f.r, f.loop, &o), 0);
    assert_int_equal(sip_resolver_mark_failed(f.r, &a, 0), 0);
    assert_int_equal(sip_resolver_get_failed_ms(f.r, &a), 0);
    assert_int_equal(sip_resolver_mark_failed(f.r, &a, 1000), 0);
    assert_true(sip_resolver_get_failed_ms(f.r, &a) > 0);
    /* Bounded: 300 marks keep 256. */
    for (unsigned i = 0; i < 300; i++) {
        sip_netinfo_t t = a;
        t.remote_port = (uint16_t)(10000 + i);
        assert_int_equal(sip_resolver_mark_failed(f.r, &t, 1000 + i), 0);
    }
    int kept = 0;
    for (unsigned i = 0; i < 300; i++) {
        sip_netinfo_t t = a;
        t.remote_port = (uint16_t)(10000 + i);
        if (sip_resolver_get_failed_ms(f.r, &t)) kept++;
    }
    assert_int_equal(kept, 256 - 1 + (sip_resolver_get_failed_ms(f.r, &a) ? 0 : 1));
    sip_resolver_close(f.r);
    assert_int_equal(sip_resolver_mark_failed(f.r, &a, 0), SIP_ECLOSED);
    fx_close(&f);

    /* Out of memory: SIP_ENOMEM and nothing marked, until it passes. */
    fx_open(&f);
    fx_resolver(&f, "127.0.0.1:9", 100, 1, 0);
    for (long n = 1;; n++) {
        test_alloc_fail_at(n);
        int rc = sip_resolver_mark_failed(f.r, &a, 0);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (rc == 0) {
            assert_false(failed);
            break;
        }
        assert_int_equal(rc, SIP_ENOMEM);
        assert_int_equal(sip_resolver_get_failed_ms(f.r, &a), 0);
        assert_true(n < 10);
    }
    assert_true(sip_resolver_get_failed_ms(f.r, &a) > 0);
    fx_close(&f);
}

static void resolve_fallback_to_address(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    resolve(&f, "sip:f.test", &res);
    expect_targets(&res, "UDP 192.0.2.30:5060");
    /* NAPTR, then SRV for UDP, TCP and TLS, then A and AAAA. */
    assert_int_equal(f.q.naptr, 1);
    assert_int_equal(f.q.srv, 3);
    assert_int_equal(f.q.a, 1);
    assert_int_equal(f.q.aaaa, 1);
    fx_close(&f);

    /* Without UDP the default is the next transport. */
    fx_main(&f, TP(TCP) | TP(TLS));
    resolve(&f, "sip:f.test", &res);
    expect_targets(&res, "TCP 192.0.2.30:5060");
    assert_int_equal(f.q.srv, 2);
    fx_close(&f);
}

static void resolve_nxdomain_is_enoent(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    resolve(&f, "sip:nothere.test", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    assert_int_equal(res.count, 0);
    counts_t before = f.q;
    assert_int_equal(before.naptr + before.srv + before.a + before.aaaa, 1 + 3 + 1 + 1);
    /* RFC 2308: the negative answers are cached too. */
    resolve(&f, "sip:nothere.test", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    assert_memory_equal(&f.q, &before, sizeof(before));
    resolve(&f, "sip:nothere.test:5060", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    resolve(&f, "sip:nothere.test;transport=tcp", &res);
    assert_int_equal(res.status, SIP_ENOENT);
    fx_close(&f);
}

static void resolve_timeout_is_error(void **state)
{
    (void)state;
    /* A server that receives and never answers. */
    uint16_t port;
    int silent = udp_socket(&port);
    assert_true(silent >= 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", port);
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, servers, 100, 1, 0);
    res_t res;
    uint64_t t0 = mono_ms();
    resolve(&f, "sip:x.test", &res);
    assert_int_equal(res.status, -ETIMEDOUT);
    assert_int_equal(res.count, 0);
    assert_true(mono_ms() - t0 < 2000);
    resolve(&f, "sip:x.test:5060", &res);
    assert_int_equal(res.status, -ETIMEDOUT);
    close(silent);
    fx_close(&f);

    /* Nothing listening at all: refused, or a timeout. The port stays bound, connected to
     * another peer, so the kernel answers our queries "port unreachable" and no parallel test
     * can take the port (closing it let another test's socket reuse it and answer). */
    silent = udp_socket(&port);
    assert_true(silent >= 0);
    struct sockaddr_in other;
    memset(&other, 0, sizeof(other));
    other.sin_family = AF_INET;
    other.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
    other.sin_port = htons(9);
    assert_int_equal(connect(silent, (struct sockaddr *)&other, sizeof(other)), 0);
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", port);
    fx_open(&f);
    fx_resolver(&f, servers, 100, 1, 0);
    resolve(&f, "sip:x.test", &res);
    if (res.status != -EHOSTUNREACH && res.status != -ETIMEDOUT)
        fail_msg("resolve against a closed port gave %d (%s)", res.status,
                 sip_strerror(res.status));
    assert_int_equal(res.count, 0);
    fx_close(&f);
    close(silent);
}

static void resolve_cache_hit(void **state)
{
    (void)state;
    static const char *const recs[] = {"--local-ttl=60", "--host-record=c.test,192.0.2.50", NULL};
    dnsmasq_t d;
    assert_int_equal(dnsmasq_start(&d, recs), 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", d.port);
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, servers, 200, 1, 0);
    res_t res;
    resolve(&f, "sip:c.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.50:5060");
    assert_int_equal(f.q.a, 1);
    dnsmasq_stop(&d);
    /* The server is gone; the cache still answers, without a query. */
    resolve(&f, "sip:c.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.50:5060");
    assert_int_equal(f.q.a, 1);
    /* Case does not matter to DNS (RFC 4343). */
    resolve(&f, "sip:C.Test:5070", &res);
    expect_targets(&res, "UDP 192.0.2.50:5070");
    assert_int_equal(f.q.a, 1);
    /* Flushed: it must ask, and nobody answers. */
    sip_resolver_flush(f.r);
    resolve(&f, "sip:c.test:5060", &res);
    assert_true(res.status == -EHOSTUNREACH || res.status == -ETIMEDOUT);
    assert_int_equal(f.q.a, 2);
    fx_close(&f);
}

static void resolve_cache_ttl_expiry(void **state)
{
    (void)state;
    static const char *const recs[] = {"--local-ttl=1", "--host-record=short.test,192.0.2.40,1",
                                       NULL};
    dnsmasq_t d;
    assert_int_equal(dnsmasq_start(&d, recs), 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", d.port);
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, servers, 1000, 2, 0);
    res_t res;
    resolve(&f, "sip:short.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.40:5060");
    assert_int_equal(f.q.a, 1);
    resolve(&f, "sip:short.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.40:5060");
    assert_int_equal(f.q.a, 1);
    /* Just over the 1 s TTL, with the loop running. */
    run_until(f.loop, NULL, 1100);
    resolve(&f, "sip:short.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.40:5060");
    assert_int_equal(f.q.a, 2);
    fx_close(&f);
    dnsmasq_stop(&d);
}

static void resolve_cache_bounded(void **state)
{
    (void)state;
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", g_dns.port);
    fx_t f;
    fx_open(&f);
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    o.servers = servers;
    o.cache_max = 2;
    assert_int_equal(sip_resolver_create(&f.r, f.loop, &o), 0);
    res_t res;
    resolve(&f, "sip:a.test:5060", &res); /* A, AAAA of a.test */
    resolve(&f, "sip:f.test:5060", &res); /* A, AAAA of f.test: a.test's are evicted */
    assert_int_equal(f.r->cache.count, 2);
    assert_int_equal(f.q.a, 2);
    resolve(&f, "sip:f.test:5060", &res);
    assert_int_equal(f.q.a, 2);
    resolve(&f, "sip:a.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.1:5060", "UDP [2001:db8::1]:5060");
    assert_int_equal(f.q.a, 3);
    fx_close(&f);

    /* cache_max 0: no cache at all. */
    fx_open(&f);
    o.cache_max = 0;
    assert_int_equal(sip_resolver_create(&f.r, f.loop, &o), 0);
    resolve(&f, "sip:f.test:5060", &res);
    resolve(&f, "sip:f.test:5060", &res);
    expect_targets(&res, "UDP 192.0.2.30:5060");
    assert_int_equal(f.q.a, 2);
    fx_close(&f);
}

static void resolve_close_with_query_pending(void **state)
{
    (void)state;
    uint16_t port;
    int silent = udp_socket(&port);
    assert_true(silent >= 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", port);
    fx_t f;
    fx_open(&f);
    fx_resolver(&f, servers, 300, 1, 0);
    res_t a, b;
    assert_int_equal(start(f.r, "sip:x.test", &a), 0);    /* waiting for DNS */
    assert_int_equal(start(f.r, "sip:192.0.2.9", &b), 0); /* finished, not delivered */
    sip_resolver_close(f.r);
    assert_int_equal(a.freed, 1);
    assert_int_equal(b.freed, 1);
    sip_resolver_close(f.r); /* idempotent */
    run_until(f.loop, NULL, 500);
    assert_int_equal(a.called, 0);
    assert_int_equal(b.called, 0);
    assert_int_equal(a.freed, 1);
    assert_int_equal(b.freed, 1);
    /* A closed resolver refuses work; user_free still runs. */
    assert_int_equal(start(f.r, "sip:192.0.2.9", &a), SIP_ECLOSED);
    assert_int_equal(a.freed, 1);
    assert_int_equal(a.called, 0);
    close(silent);
    fx_close(&f);
}

static void resolve_close_inside_callback(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t a, b, c;
    assert_int_equal(start(f.r, "sip:192.0.2.1", &a), 0);
    assert_int_equal(start(f.r, "sip:192.0.2.2", &b), 0);
    assert_int_equal(start(f.r, "sip:n.test", &c), 0);
    a.close_in_cb = f.r;
    run_until(f.loop, &a.called, WAIT_MS);
    assert_int_equal(a.called, 1);
    assert_int_equal(a.freed, 1);
    assert_int_equal(b.called, 0);
    assert_int_equal(b.freed, 1);
    assert_int_equal(c.called, 0);
    assert_int_equal(c.freed, 1);
    run_until(f.loop, NULL, 100);
    assert_int_equal(b.called + c.called, 0);
    fx_close(&f);

    /* Dropping the last reference inside the callback. */
    fx_main(&f, 0);
    assert_int_equal(start(f.r, "sip:192.0.2.1", &a), 0);
    a.unref_in_cb = f.r;
    f.r = NULL;
    run_until(f.loop, &a.called, WAIT_MS);
    assert_int_equal(a.called, 1);
    assert_int_equal(a.freed, 1);
    fx_close(&f);
}

static void resolve_close_from_log_callback(void **state)
{
    (void)state;
    /* The close then happens while c-ares is delivering the answer. */
    fx_t f;
    fx_main(&f, 0);
    res_t a, b;
    f.close_on_answer = 1;
    assert_int_equal(start(f.r, "sip:n.test", &a), 0);
    assert_int_equal(start(f.r, "sip:p.test;transport=udp", &b), 0);
    run_until(f.loop, &a.freed, WAIT_MS);
    assert_int_equal(a.freed, 1);
    assert_int_equal(b.freed, 1);
    run_until(f.loop, NULL, 100);
    assert_int_equal(a.called + b.called, 0);
    fx_close(&f);
}

static void resolve_loop_close_closes_resolver(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t a;
    assert_int_equal(start(f.r, "sip:n.test", &a), 0);
    sip_loop_unref(f.loop); /* the last reference: closes every handle on it */
    f.loop = NULL;
    assert_int_equal(a.freed, 1);
    assert_int_equal(a.called, 0);
    assert_int_equal(start(f.r, "sip:192.0.2.1", &a), SIP_ECLOSED);
    assert_int_equal(a.freed, 1);
    sip_resolver_flush(f.r);
    fx_close(&f);
}

static void resolve_bad_input(void **state)
{
    (void)state;
    fx_t f;
    fx_main(&f, 0);
    res_t res;
    assert_int_equal(start(f.r, "tel:+15551234", &res), SIP_EINVAL);
    assert_int_equal(res.freed, 1);
    assert_int_equal(start(f.r, "http://a.test/", &res), SIP_EINVAL);
    assert_int_equal(res.freed, 1);
    sip_uri_t uri;
    assert_int_equal(sip_uri_parse(&uri, "sip:a.test", 10), 0);
    assert_int_equal(sip_resolve(NULL, &uri, on_result, &res, NULL), SIP_EINVAL);
    assert_int_equal(sip_resolve(f.r, NULL, on_result, &res, NULL), SIP_EINVAL);
    assert_int_equal(sip_resolve(f.r, &uri, NULL, &res, NULL), SIP_EINVAL);
    sip_resolver_t *r = (sip_resolver_t *)1;
    assert_int_equal(sip_resolver_create(&r, NULL, NULL), SIP_EINVAL);
    assert_null(r);
    assert_int_equal(sip_resolver_create(NULL, f.loop, NULL), SIP_EINVAL);
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    assert_int_equal(o.timeout_ms, 2000);
    assert_int_equal(o.tries, 2);
    assert_int_equal(o.cache_max, 1024);
    assert_int_equal(o.transports, TP(UDP) | TP(TCP) | TP(TLS));
    o.servers = "not a server list";
    assert_int_equal(sip_resolver_create(&r, f.loop, &o), SIP_EINVAL);
    assert_null(r);
    o.servers = NULL;
    o.timeout_ms = 0;
    assert_int_equal(sip_resolver_create(&r, f.loop, &o), SIP_EINVAL);
    sip_resolver_unref(NULL);
    sip_resolver_close(NULL);
    sip_resolver_flush(NULL);
    assert_ptr_equal(sip_resolver_ref(f.r), f.r);
    sip_resolver_unref(f.r);
    fx_close(&f);
}

static void resolve_alloc_failures(void **state)
{
    (void)state;
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", g_dns.port);
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    o.servers = servers;
    fx_t f;
    fx_open(&f);
    /* One deadline for the whole sweep, started before any allocation is made to fail. */
    int expired = 0;
    sip_timer_t *deadline = NULL;
    assert_int_equal(sip_timer_start(&deadline, f.loop, 60000, 0, on_deadline, &expired, NULL), 0);
    /* Constructor: only SIP_ENOMEM until it passes. */
    for (long n = 1;; n++) {
        sip_resolver_t *r = NULL;
        test_alloc_fail_at(n);
        int rc = sip_resolver_create(&r, f.loop, &o);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (rc == 0) {
            assert_false(failed);
            f.r = r;
            break;
        }
        assert_int_equal(rc, SIP_ENOMEM);
        assert_null(r);
        assert_true(n < 100);
    }
    /* A lookup: fails at once with SIP_ENOMEM, or reports it through the callback. */
    const char *uris[] = {"sip:192.0.2.7", "sip:n.test", "sip:p.test;transport=udp"};
    for (size_t u = 0; u < 3; u++) {
        for (long n = 1;; n++) {
            res_t res;
            sip_resolver_flush(f.r);
            test_alloc_fail_at(n);
            int rc = start(f.r, uris[u], &res);
            while (rc == 0 && !res.called && !expired)
                if (sip_loop_run_once(f.loop, 1) < 0) break;
            int failed = test_alloc_failed();
            test_alloc_fail_at(0);
            assert_int_equal(res.freed, 1);
            if (rc) {
                assert_int_equal(rc, SIP_ENOMEM);
                assert_int_equal(res.called, 0);
                continue;
            }
            assert_int_equal(res.called, 1);
            if (!failed) {
                assert_int_equal(res.status, 0);
                assert_true(res.count > 0);
                break;
            }
            assert_true(res.status == 0 || res.status == SIP_ENOMEM);
            assert_true(n < 500);
        }
    }
    assert_false(expired);
    sip_timer_stop(deadline);
    sip_timer_unref(deadline);
    fx_close(&f);
}

static void resolve_dns_parse_bad_input(void **state)
{
    (void)state;
    /* A valid SRV answer; then every truncation and every single-byte change of it. */
    static const unsigned char msg[] = {
        0x00, 0x01, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
        /* question: _sip._udp.x.test SRV IN */
        4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 1, 'x', 4, 't', 'e', 's', 't', 0, 0, 33, 0, 1,
        /* answer: pointer to the question name, SRV IN ttl 300 */
        0xC0, 12, 0, 33, 0, 1, 0, 0, 1, 44, 0, 10, 0, 10, 0, 5, 0x13, 0xC4,
        /* target: h + pointer to "x.test" */
        1, 'h', 0xC0, 22};
    sip__dns_answer_t ans;
    assert_int_equal(sip__dns_parse(msg, sizeof(msg), SIP__DNS_SRV, &ans), 0);
    assert_int_equal(ans.count, 1);
    assert_int_equal(ans.min_ttl, 300);
    assert_int_equal(ans.rr[0].u.srv.priority, 10);
    assert_int_equal(ans.rr[0].u.srv.weight, 5);
    assert_int_equal(ans.rr[0].u.srv.port, 5060);
    assert_string_equal(ans.rr[0].u.srv.target, "h.x.test");
    sip__dns_answer_free(&ans);
    for (size_t len = 0; len < sizeof(msg); len++) {
        unsigned char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, msg, len);
        int rc = sip__dns_parse(copy, len, SIP__DNS_SRV, &ans);
        assert_true(rc == 0 || rc == SIP_EPARSE);
        if (rc == 0) sip__dns_answer_free(&ans);
        free(copy);
    }
    unsigned char copy[sizeof(msg)];
    for (size_t i = 0; i < sizeof(msg); i++) {
        for (int v = 0; v < 256; v += 7) {
            memcpy(copy, msg, sizeof(msg));
            copy[i] = (unsigned char)v;
            int rc = sip__dns_parse(copy, sizeof(copy), SIP__DNS_SRV, &ans);
            assert_true(rc == 0 || rc == SIP_EPARSE);
            if (rc == 0) sip__dns_answer_free(&ans);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolve_numeric_host_skips_dns),
        cmocka_unit_test(resolve_explicit_port_uses_addresses_only),
        cmocka_unit_test(resolve_transport_param_uses_srv),
        cmocka_unit_test(resolve_naptr_order_and_filter),
        cmocka_unit_test(resolve_sips_keeps_tls_only),
        cmocka_unit_test(resolve_targets_carry_the_domain),
        cmocka_unit_test(resolve_websocket_only_endpoint),
        cmocka_unit_test(resolve_srv_priority_order),
        cmocka_unit_test(resolve_srv_weighting),
        cmocka_unit_test(resolve_srv_order_unit),
        cmocka_unit_test(resolve_srv_weighting_from_cache),
        cmocka_unit_test(resolve_failed_targets_go_last),
        cmocka_unit_test(resolve_fallback_to_address),
        cmocka_unit_test(resolve_nxdomain_is_enoent),
        cmocka_unit_test(resolve_timeout_is_error),
        cmocka_unit_test(resolve_cache_hit),
        cmocka_unit_test(resolve_cache_ttl_expiry),
        cmocka_unit_test(resolve_cache_bounded),
        cmocka_unit_test(resolve_close_with_query_pending),
        cmocka_unit_test(resolve_close_inside_callback),
        cmocka_unit_test(resolve_close_from_log_callback),
        cmocka_unit_test(resolve_loop_close_closes_resolver),
        cmocka_unit_test(resolve_bad_input),
        cmocka_unit_test(resolve_alloc_failures),
        cmocka_unit_test(resolve_dns_parse_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
