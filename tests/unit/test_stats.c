/* SPDX-License-Identifier: MIT */
/* Counters per loop (sip/stats.h): what each is, adding, the Prometheus text, and what a
 * loopback exchange counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "pump.h"
#include "sip/sip.h"

static void stats_info_names_every_counter(void **state)
{
    (void)state;
    sip_stat_info_t in;
    for (int i = 0; i < SIP_STAT__COUNT; i++) {
        assert_int_equal(sip_stat_info((sip_stat_id_t)i, &in), 0);
        assert_non_null(in.name);
        assert_non_null(in.labels);
        assert_non_null(in.help);
        assert_true(strncmp(in.name, "sip_", 4) == 0);
        /* Counters end in _total, gauges do not (Prometheus naming). */
        size_t n = strlen(in.name);
        int total = n > 6 && strcmp(in.name + n - 6, "_total") == 0;
        assert_int_equal(total, in.type == SIP_STAT_COUNTER);
    }
    assert_int_equal(sip_stat_info(SIP_STAT_RX_REQ_BYE, &in), 0);
    assert_string_equal(in.name, "sip_requests_received_total");
    assert_string_equal(in.labels, "method=\"BYE\"");
    assert_int_equal(sip_stat_info(SIP_STAT__COUNT, &in), SIP_EINVAL);
    assert_int_equal(sip_stat_info((sip_stat_id_t)-1, &in), SIP_EINVAL);
    assert_int_equal(sip_stat_info(SIP_STAT_BLOCKED, NULL), SIP_EINVAL);
}

static void stats_add_and_get_per_loop(void **state)
{
    (void)state;
    sip_loop_t *a, *b;
    assert_int_equal(sip_loop_create(&a), 0);
    assert_int_equal(sip_loop_create(&b), 0);
    for (int i = 0; i < SIP_STAT__COUNT; i++)
        assert_int_equal(sip_stat_get(a, (sip_stat_id_t)i), 0);
    sip_stat_add(a, SIP_STAT_BLOCKED, 3);
    sip_stat_add(a, SIP_STAT_BLOCKED_SOURCES, 2);
    sip_stat_add(a, SIP_STAT_BLOCKED_SOURCES, -1);
    assert_int_equal(sip_stat_get(a, SIP_STAT_BLOCKED), 3);
    assert_int_equal(sip_stat_get(a, SIP_STAT_BLOCKED_SOURCES), 1);
    /* Two loops count apart. */
    assert_int_equal(sip_stat_get(b, SIP_STAT_BLOCKED), 0);
    /* Bad input is ignored or answers 0. */
    sip_stat_add(NULL, SIP_STAT_BLOCKED, 1);
    sip_stat_add(a, SIP_STAT__COUNT, 1);
    sip_stat_add(a, (sip_stat_id_t)-1, 1);
    assert_int_equal(sip_stat_get(NULL, SIP_STAT_BLOCKED), 0);
    assert_int_equal(sip_stat_get(a, SIP_STAT__COUNT), 0);
    sip_loop_unref(a);
    sip_loop_unref(b);
}

/* Checks that text is Prometheus text format 0.0.4 as sip_stats_format writes it: every line a
 * comment (HELP or TYPE, each once per family, before the family's series) or a series
 * "name{labels} value" whose family was declared; returns the number of series. */
static int check_exposition(const char *text)
{
    char families[64][64];
    int nfam = 0, nseries = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char line[256];
        size_t len = (size_t)(nl - p);
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        char name[64], kind[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%63s", name), 1);
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0) fail_msg("HELP twice for %s", name);
            assert_true(nfam < 64);
            strcpy(families[nfam++], name);
            /* TYPE must follow at once. */
            assert_int_equal(strncmp(p, "# TYPE ", 7), 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%63s %31s", name, kind), 2);
            assert_true(nfam > 0);
            assert_string_equal(families[nfam - 1], name);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0);
            continue;
        }
        assert_true(line[0] != '#');
        /* name, optional {labels}, a space, an integer. */
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz_");
        assert_true(n > 0 && n < sizeof(name));
        memcpy(name, line, n);
        name[n] = '\0';
        assert_true(nfam > 0);
        assert_string_equal(families[nfam - 1], name);
        const char *q = line + n;
        if (*q == '{') {
            const char *end = strchr(q, '}');
            assert_non_null(end);
            /* label="value" pairs */
            assert_non_null(memchr(q, '=', (size_t)(end - q)));
            assert_int_equal(q[1 + strspn(q + 1, "abcdefghijklmnopqrstuvwxyz_")], '=');
            q = end + 1;
        }
        assert_int_equal(*q, ' ');
        q++;
        if (*q == '-') q++;
        assert_true(*q >= '0' && *q <= '9');
        assert_int_equal(q[strspn(q, "0123456789")], '\0');
        nseries++;
    }
    return nseries;
}

static void stats_format_is_prometheus_text(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_stat_add(loop, SIP_STAT_RX_REQ_INVITE, 12345);
    sip_stat_add(loop, SIP_STAT_CONN_ACTIVE, -2); /* an unbalanced gauge prints signed */
    int need = sip_stats_format(loop, NULL, 0);
    assert_true(need > 0);
    char *buf = malloc((size_t)need + 1);
    assert_non_null(buf);
    assert_int_equal(sip_stats_format(loop, buf, (size_t)need + 1), need);
    assert_int_equal(strlen(buf), need);
    assert_int_equal(check_exposition(buf), SIP_STAT__COUNT);
    assert_non_null(strstr(buf, "# HELP sip_requests_received_total SIP requests received, by "
                                "method\n# TYPE sip_requests_received_total counter\n"
                                "sip_requests_received_total{method=\"INVITE\"} 12345\n"));
    assert_non_null(strstr(buf, "\nsip_connections -2\n"));
    assert_non_null(strstr(buf, "# TYPE sip_connections gauge\n"));
    assert_non_null(strstr(buf, "\nsip_requests_sent_total 0\n"));
    /* Too small: the size needed, and no overrun. */
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(sip_stats_format(loop, small, 10), need);
    assert_int_equal(small[10], 'x');
    assert_int_equal(sip_stats_format(loop, buf, (size_t)need), need); /* no room for the NUL */
    assert_int_equal(sip_stats_format(NULL, buf, 10), SIP_EINVAL);
    assert_int_equal(sip_stats_format(loop, NULL, 10), SIP_EINVAL);
    free(buf);
    sip_loop_unref(loop);
}

/* ---- a loopback exchange between two loops, each counting its own side ---------------------- */

typedef struct side {
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    sip_call_t *call;
    uint16_t udp, tcp;
    int state; /* the call's last state */
} side_t;

static side_t A, B;

static const char offer[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                            "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

static void on_call(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                    void *user)
{
    (void)msg;
    (void)txn;
    side_t *s = user;
    if (ev == SIP_CALL_EVENT_STATE) s->state = (int)sip_call_get_state(call);
}

static void call_opts(sip_call_opts_t *o)
{
    sip_call_opts_init(o);
    o->sdp = offer;
    o->rel100 = SIP_CALL_100REL_OFF;
    o->session_timer = SIP_CALL_TIMER_OFF;
}

/* B answers OPTIONS 200 and every INVITE 200 at once. */
static void on_b_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        sip_call_opts_t o;
        call_opts(&o);
        assert_int_equal(sip_call_accept(&B.call, ua, txn, &o, on_call, &B, NULL), 0);
        assert_int_equal(sip_call_answer(B.call, 200, offer), 0);
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

static void side_up(side_t *s, sip_ua_request_cb cb)
{
    memset(s, 0, sizeof(*s));
    s->state = -1;
    assert_int_equal(sip_loop_create(&s->loop), 0);
    assert_int_equal(sip_transport_create(&s->tp, s->loop, NULL), 0);
    assert_int_equal(sip_transport_listen(s->tp, "udp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_listen(s->tp, "tcp:127.0.0.1:0"), 1);
    sip_netinfo_t li;
    assert_int_equal(sip_transport_listener_info(s->tp, 0, &li), 0);
    s->udp = li.local_port;
    assert_int_equal(sip_transport_listener_info(s->tp, 1, &li), 0);
    s->tcp = li.local_port;
    /* T1 5 s: nothing is sent again within the moments the exchange takes on loopback, so the
     * counts are exact; no 100 Trying, as the INVITE is answered at once. */
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t1_ms = 5000;
    o.t2_ms = 8000;
    o.timer_100_ms = 60000;
    assert_int_equal(sip_txn_layer_create(&s->layer, s->tp, &o), 0);
    assert_int_equal(sip_ua_create(&s->ua, s->layer, NULL, cb, NULL, NULL), 0);
}

static void side_down(side_t *s)
{
    sip_call_unref(s->call);
    sip_ua_close(s->ua);
    sip_ua_unref(s->ua);
    sip_txn_layer_unref(s->layer);
    sip_transport_close(s->tp);
    sip_transport_unref(s->tp);
    /* Every object is gone from the loop: its gauges are back where they started. */
    for (int i = 0; i < 8 && sip_loop_run_once(s->loop, 0) > 0; i++)
        ;
    assert_int_equal(sip_stat_get(s->loop, SIP_STAT_TXN_ACTIVE), 0);
    assert_int_equal(sip_stat_get(s->loop, SIP_STAT_DIALOGS_ACTIVE), 0);
    assert_int_equal(sip_stat_get(s->loop, SIP_STAT_CONN_ACTIVE), 0);
    assert_int_equal(sip_stat_get(s->loop, SIP_STAT_BINDINGS), 0);
    sip_loop_close(s->loop);
    sip_loop_unref(s->loop);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs both loops until *v reaches want, within 5 s. */
static int pump_until_stat(const side_t *s, sip_stat_id_t id, uint64_t want)
{
    uint64_t end = now_ms() + 5000;
    while (sip_stat_get(s->loop, id) < want && now_ms() < end) {
        sip_loop_run_once(A.loop, 0);
        sip_loop_run_once(B.loop, 0);
        usleep(500);
    }
    return sip_stat_get(s->loop, id) >= want;
}

static int pump_until_state(const side_t *s, int state)
{
    uint64_t end = now_ms() + 5000;
    while (s->state != state && now_ms() < end) {
        sip_loop_run_once(A.loop, 0);
        sip_loop_run_once(B.loop, 0);
        usleep(500);
    }
    return s->state == state;
}

static void on_options(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)rsp;
    *(int *)user = status;
}

static void expect(const side_t *s, const char *side, const sip_stat_id_t *ids,
                   const uint64_t *want, size_t n)
{
    for (int i = 0; i < SIP_STAT__COUNT; i++) {
        uint64_t w = 0;
        for (size_t k = 0; k < n; k++)
            if (ids[k] == (sip_stat_id_t)i) w = want[k];
        uint64_t got = sip_stat_get(s->loop, (sip_stat_id_t)i);
        if (got != w) {
            sip_stat_info_t in;
            sip_stat_info((sip_stat_id_t)i, &in);
            fail_msg("%s: %s{%s} is %llu, not %llu", side, in.name, in.labels,
                     (unsigned long long)got, (unsigned long long)w);
        }
    }
}

static void stats_loopback_exchange_counts_what_it_made(void **state)
{
    (void)state;
    side_up(&A, NULL);
    side_up(&B, on_b_request);

    /* OPTIONS over UDP in a client transaction. */
    char uri[128];
    snprintf(uri, sizeof(uri), "sip:b@127.0.0.1:%u", B.udp);
    sip_msg_t *req;
    assert_int_equal(sip_ua_create_request(&req, A.ua, "OPTIONS", uri, NULL), 0);
    sip_netinfo_t dst = {0};
    dst.transport = SIP_TRANSPORT_UDP;
    strcpy(dst.remote_ip, "127.0.0.1");
    dst.remote_port = B.udp;
    int status = 0;
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, A.layer, req, &dst, NULL, on_options, &status, NULL),
                     0);
    sip_txn_unref(t);
    sip_msg_unref(req);
    assert_true(pump_until_stat(&A, SIP_STAT_RX_RSP_2XX, 1));
    assert_int_equal(status, 200);

    /* A call over TCP: INVITE, 200, ACK; then BYE, 200. */
    snprintf(uri, sizeof(uri), "sip:b@127.0.0.1:%u;transport=tcp", B.tcp);
    sip_call_opts_t o;
    call_opts(&o);
    assert_int_equal(sip_call_invite(&A.call, A.ua, uri, &o, on_call, &A, NULL), 0);
    assert_true(pump_until_state(&B, SIP_CALL_CONFIRMED));
    assert_int_equal(A.state, SIP_CALL_CONFIRMED);
    assert_int_equal(sip_stat_get(A.loop, SIP_STAT_DIALOGS_ACTIVE), 1);
    assert_int_equal(sip_stat_get(B.loop, SIP_STAT_DIALOGS_ACTIVE), 1);
    assert_int_equal(sip_stat_get(B.loop, SIP_STAT_CONN_ACTIVE), 1);
    assert_int_equal(sip_call_hangup(A.call, NULL), 0);
    assert_true(pump_until_stat(&A, SIP_STAT_RX_RSP_2XX, 3));
    assert_int_equal(B.state, SIP_CALL_ENDED);

    /* Something that does not parse, to B's UDP port. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(B.udp);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char junk[] = "this is not SIP\r\n\r\n";
    assert_int_equal(sendto(fd, junk, sizeof(junk) - 1, 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)(sizeof(junk) - 1));
    close(fd);
    assert_true(pump_until_stat(&B, SIP_STAT_DROP_PARSE, 1));

    /* Exactly what was sent and received, on each side; every other counter 0. */
    const sip_stat_id_t a_ids[] = {SIP_STAT_TX_REQ,          SIP_STAT_RX_RSP_2XX,
                                   SIP_STAT_TXN_CREATED,     SIP_STAT_TXN_ACTIVE,
                                   SIP_STAT_DIALOGS_CREATED, SIP_STAT_CONN_ACTIVE};
    uint64_t a_want[] = {4, 3, 3, sip_stat_get(A.loop, SIP_STAT_TXN_ACTIVE), 1, 1};
    expect(&A, "A", a_ids, a_want, 6);
    const sip_stat_id_t b_ids[] = {
        SIP_STAT_RX_REQ_OPTIONS, SIP_STAT_RX_REQ_INVITE,   SIP_STAT_RX_REQ_ACK,
        SIP_STAT_RX_REQ_BYE,     SIP_STAT_TX_RSP_2XX,      SIP_STAT_TXN_CREATED,
        SIP_STAT_TXN_ACTIVE,     SIP_STAT_DIALOGS_CREATED, SIP_STAT_CONN_ACCEPTED,
        SIP_STAT_CONN_ACTIVE,    SIP_STAT_DROP_PARSE};
    uint64_t b_want[] = {1, 1, 1, 1, 3, 3, sip_stat_get(B.loop, SIP_STAT_TXN_ACTIVE), 1, 1, 1, 1};
    expect(&B, "B", b_ids, b_want, 11);
    /* Transactions still waiting out their timers (K, J, the INVITE's) are alive; no more
     * than were made. */
    assert_true(sip_stat_get(A.loop, SIP_STAT_TXN_ACTIVE) <= 3);
    assert_true(sip_stat_get(B.loop, SIP_STAT_TXN_ACTIVE) <= 3);

    side_down(&A);
    side_down(&B);
}

/* The bindings gauge follows the location service, and leaves with it. */
static void stats_bindings_gauge_returns_with_the_location(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc;
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    const char *contacts[] = {"sip:a@192.0.2.1", "sip:a@192.0.2.2", "sip:b@192.0.2.3"};
    for (int i = 0; i < 3; i++) {
        sip_binding_t b = {0};
        b.aor = i < 2 ? "sip:a@example.com" : "sip:b@example.com";
        b.contact = contacts[i];
        b.expires = (int64_t)time(NULL) + 3600;
        b.q = -1;
        b.call_id = "c";
        b.cseq = 1;
        assert_int_equal(sip_location_put(loc, &b, NULL, NULL, NULL), 0);
    }
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 3);
    assert_int_equal(sip_location_remove(loc, "sip:a@example.com", contacts[0], NULL, NULL, NULL),
                     0);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 2);
    /* Put again (a refresh) replaces: no new binding. */
    sip_binding_t b = {0};
    b.aor = "sip:b@example.com";
    b.contact = contacts[2];
    b.expires = (int64_t)time(NULL) + 600;
    b.q = -1;
    b.call_id = "c";
    b.cseq = 2;
    assert_int_equal(sip_location_put(loc, &b, NULL, NULL, NULL), 0);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 2);
    sip_location_t *held = sip_location_ref(loc);
    sip_location_close(loc);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 0);
    sip_location_unref(loc);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    /* The memory outlives the loop; freeing it counts nothing any more. */
    assert_int_equal(sip_location_count(held), 2);
    sip_location_unref(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_info_names_every_counter),
        cmocka_unit_test(stats_add_and_get_per_loop),
        cmocka_unit_test(stats_format_is_prometheus_text),
        cmocka_unit_test(stats_loopback_exchange_counts_what_it_made),
        cmocka_unit_test(stats_bindings_gauge_returns_with_the_location),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
