/* SPDX-License-Identifier: MIT */
/* The /metrics endpoint (sip/metrics.h) through a raw TCP client on loopback: the counters,
 * 404 and 405, the connection cap and the idle timeout, and closing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "sip/sip.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A client connection: what it has read so far, and whether the server closed it. */
typedef struct client {
    int fd;
    char in[65536];
    size_t len;
    int eof;
} client_t;

static void client_connect(client_t *c, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

static void client_send(client_t *c, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(send(c->fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what is there; 1 once the server closed (EOF or reset). */
static int client_read(client_t *c)
{
    while (!c->eof) {
        ssize_t n = recv(c->fd, c->in + c->len, sizeof(c->in) - 1 - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->in[c->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c->eof = 1;
        break;
    }
    return c->eof;
}

static void client_close(client_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* Runs the loop and reads the clients until all n are closed by the server, within 5 s. */
static int pump_until_closed(sip_loop_t *loop, client_t *cs, int n)
{
    uint64_t end = now_ms() + 5000;
    for (;;) {
        sip_loop_run_once(loop, 0);
        int open = 0;
        for (int i = 0; i < n; i++)
            open += !client_read(&cs[i]);
        if (!open) return 1;
        if (now_ms() > end) return 0;
        usleep(1000);
    }
}

/* Runs the loop for about ms milliseconds, reading the clients. */
static void pump_for(sip_loop_t *loop, client_t *cs, int n, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (now_ms() < end) {
        sip_loop_run_once(loop, 0);
        for (int i = 0; i < n; i++)
            client_read(&cs[i]);
        usleep(1000);
    }
}

/* One request on a new connection; the whole answer in c->in. */
static void fetch(sip_loop_t *loop, uint16_t port, const char *request, client_t *c)
{
    client_connect(c, port);
    client_send(c, request);
    assert_true(pump_until_closed(loop, c, 1));
    client_close(c);
}

static const char *body_of(const client_t *c)
{
    const char *b = strstr(c->in, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

/* ---- the extra series --------------------------------------------------------------------- */

typedef struct extra {
    int calls, frees;
    int close_from_cb;
    sip_metrics_t *m;
} extra_t;

static int on_extra(sip_metrics_t *m, char *buf, size_t size, void *user)
{
    extra_t *e = user;
    e->calls++;
    if (e->close_from_cb) sip_metrics_close(m);
    return snprintf(buf, size,
                    "# HELP app_calls_up calls up now\n# TYPE app_calls_up gauge\n"
                    "app_calls_up 7\n");
}

static void extra_free(void *user)
{
    ((extra_t *)user)->frees++;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void metrics_serves_the_counters(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_stat_add(loop, SIP_STAT_RX_REQ_REGISTER, 42);
    sip_stat_add(loop, SIP_STAT_BLOCKED_SOURCES, 3);
    extra_t e = {0};
    sip_metrics_t *m;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", NULL, on_extra, &e, extra_free),
                     0);
    uint16_t port = sip_metrics_get_port(m);
    assert_true(port > 0);
    assert_int_equal(sip_live_count(SIP_LIVE_METRICS), 1);

    client_t c;
    fetch(loop, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 200", 12), 0);
    assert_non_null(strstr(c.in, "\r\nContent-Type: text/plain; version=0.0.4"));
    const char *body = body_of(&c);
    assert_non_null(strstr(body, "sip_requests_received_total{method=\"REGISTER\"} 42\n"));
    assert_non_null(strstr(body, "\nsip_blocked_sources 3\n"));
    /* The program's own series follow the library's. */
    const char *app = strstr(body, "# HELP app_calls_up");
    assert_non_null(app);
    assert_true(app > strstr(body, "sip_connections "));
    assert_non_null(strstr(app, "\napp_calls_up 7\n"));
    assert_int_equal(e.calls, 1);
    /* The scrape sees the counters as they are now. */
    sip_stat_add(loop, SIP_STAT_RX_REQ_REGISTER, 1);
    fetch(loop, port, "GET /metrics HTTP/1.0\r\n\r\n", &c);
    assert_non_null(strstr(body_of(&c), "sip_requests_received_total{method=\"REGISTER\"} 43\n"));
    /* HEAD: the headers only. */
    fetch(loop, port, "HEAD /metrics HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 200", 12), 0);
    assert_string_equal(body_of(&c), "");

    assert_int_equal(e.frees, 0);
    sip_metrics_close(m);
    assert_int_equal(e.frees, 1);
    assert_int_equal(sip_metrics_get_port(m), 0);
    sip_metrics_close(m); /* idempotent */
    sip_metrics_unref(m);
    assert_int_equal(e.frees, 1);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    assert_int_equal(sip_live_count(SIP_LIVE_METRICS), 0);
}

static void metrics_404_and_405(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_metrics_t *m;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", NULL, NULL, NULL, NULL), 0);
    uint16_t port = sip_metrics_get_port(m);
    client_t c;
    fetch(loop, port, "GET / HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 404", 12), 0);
    fetch(loop, port, "GET /metrics/x HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 404", 12), 0);
    fetch(loop, port, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nab", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 405", 12), 0);
    assert_non_null(strstr(c.in, "\r\nAllow: GET, HEAD\r\n"));
    fetch(loop, port, "DELETE /metrics HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 405", 12), 0);
    assert_null(strstr(c.in, "sip_requests_received_total"));
    /* Not HTTP at all: the server answers an error or closes, and keeps serving. */
    fetch(loop, port, "\x16\x03\x01 not http\r\n\r\n", &c);
    fetch(loop, port, "GET /metrics HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(strncmp(c.in, "HTTP/1.1 200", 12), 0);
    sip_metrics_unref(m); /* the last reference closes */
    sip_loop_close(loop);
    sip_loop_unref(loop);
}

/* At the cap libmicrohttpd takes no more connections (they wait in the listen backlog): the
 * open ones are served, and one more is served only once one of them has gone. */
static void metrics_connections_are_bounded(void **state)
{
    (void)state;
    enum { CAP = 4, N = 24 };
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_metrics_opts_t o;
    sip_metrics_opts_init(&o);
    assert_int_equal(o.max_connections, 16);
    assert_int_equal(o.timeout_ms, 10000);
    o.max_connections = CAP;
    sip_metrics_t *m;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", &o, NULL, NULL, NULL), 0);
    uint16_t port = sip_metrics_get_port(m);
    client_t *cs = calloc(N, sizeof(*cs));
    assert_non_null(cs);
    /* CAP idle connections take every place. */
    for (int i = 0; i < CAP; i++)
        client_connect(&cs[i], port);
    pump_for(loop, cs, CAP, 50);
    /* The rest ask at once: none is answered while the idle ones hold the places. */
    for (int i = CAP; i < N; i++) {
        client_connect(&cs[i], port);
        client_send(&cs[i], "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
    pump_for(loop, cs, N, 300);
    for (int i = 0; i < N; i++) {
        assert_false(cs[i].eof);
        assert_int_equal(cs[i].len, 0);
    }
    /* The idle ones go: the waiting ones are all served, CAP at a time. */
    for (int i = 0; i < CAP; i++)
        client_close(&cs[i]);
    assert_true(pump_until_closed(loop, cs + CAP, N - CAP));
    for (int i = CAP; i < N; i++) {
        assert_int_equal(strncmp(cs[i].in, "HTTP/1.1 200", 12), 0);
        assert_non_null(strstr(cs[i].in, "sip_requests_received_total"));
        client_close(&cs[i]);
    }
    free(cs);
    sip_metrics_close(m);
    sip_metrics_unref(m);
    sip_loop_close(loop);
    sip_loop_unref(loop);
}

/* An idle connection is closed after timeout_ms (libmicrohttpd counts whole seconds). */
static void metrics_idle_connection_times_out(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_metrics_opts_t o;
    sip_metrics_opts_init(&o);
    o.timeout_ms = 300;
    sip_metrics_t *m;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", &o, NULL, NULL, NULL), 0);
    client_t c;
    client_connect(&c, sip_metrics_get_port(m));
    client_send(&c, "GET /metr"); /* half a request, then nothing */
    assert_true(pump_until_closed(loop, &c, 1));
    client_close(&c);
    sip_metrics_unref(m);
    sip_loop_close(loop);
    sip_loop_unref(loop);
}

/* Closing: open connections are closed, the port is free again, nothing is left; closing the
 * loop closes the endpoint; a close from the extra callback waits for the scrape to end. */
static void metrics_close_releases_everything(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    extra_t e = {0};
    sip_metrics_t *m;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", NULL, on_extra, &e, extra_free),
                     0);
    uint16_t port = sip_metrics_get_port(m);
    client_t c;
    client_connect(&c, port);
    pump_for(loop, &c, 1, 20);
    assert_false(c.eof);
    sip_metrics_close(m);
    assert_int_equal(e.frees, 1);
    assert_true(pump_until_closed(loop, &c, 1));
    client_close(&c);
    sip_metrics_unref(m);
    assert_int_equal(sip_live_count(SIP_LIVE_METRICS), 0);
    /* The port can be taken again at once. */
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    assert_int_equal(sip_metrics_create(&m, loop, listen, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(sip_metrics_get_port(m), port);
    /* Closing the loop closes it; the handle answers 0 after. */
    sip_loop_close(loop);
    assert_int_equal(sip_metrics_get_port(m), 0);
    sip_metrics_unref(m);
    sip_loop_unref(loop);
    assert_int_equal(sip_live_count(SIP_LIVE_METRICS), 0);

    /* The loop's last reference may be the endpoint's. */
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_metrics_create(&m, loop, "[::1]:0", NULL, NULL, NULL, NULL), 0);
    assert_true(sip_metrics_get_port(m) > 0);
    sip_loop_unref(loop);
    sip_metrics_unref(m);

    /* Closed from inside a scrape. */
    assert_int_equal(sip_loop_create(&loop), 0);
    memset(&e, 0, sizeof(e));
    e.close_from_cb = 1;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", NULL, on_extra, &e, extra_free),
                     0);
    fetch(loop, sip_metrics_get_port(m), "GET /metrics HTTP/1.0\r\n\r\n", &c);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.frees, 1);
    assert_int_equal(sip_metrics_get_port(m), 0);
    sip_metrics_unref(m);
    sip_loop_close(loop);
    sip_loop_unref(loop);
}

static void metrics_refuses_bad_input(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_metrics_t *m = (sip_metrics_t *)1;
    extra_t e = {0};
    static const char *const bad[] = {NULL,
                                      "",
                                      "127.0.0.1",
                                      "127.0.0.1:",
                                      ":9090",
                                      "localhost:9090",
                                      "127.0.0.1:65536",
                                      "[::1:9090",
                                      "::1:9090",
                                      "[127.0.0.1]:1",
                                      "1.2.3.4:9x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sip_metrics_create(&m, loop, bad[i], NULL, on_extra, &e, extra_free),
                         SIP_EINVAL);
        assert_null(m);
        assert_int_equal(e.frees, (int)i + 1); /* user_free runs when the call fails */
    }
    sip_metrics_opts_t o;
    sip_metrics_opts_init(&o);
    o.max_connections = 0;
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", &o, NULL, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_metrics_create(&m, NULL, "127.0.0.1:0", NULL, NULL, NULL, NULL),
                     SIP_EINVAL);
    assert_int_equal(sip_metrics_create(NULL, loop, "127.0.0.1:0", NULL, NULL, NULL, NULL),
                     SIP_EINVAL);
    /* A port that is taken: its errno. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ntohs(a.sin_port));
    assert_int_equal(sip_metrics_create(&m, loop, listen, NULL, NULL, NULL, NULL), -EADDRINUSE);
    close(fd);
    /* NULL handles. */
    assert_int_equal(sip_metrics_get_port(NULL), 0);
    assert_null(sip_metrics_ref(NULL));
    sip_metrics_unref(NULL);
    sip_metrics_close(NULL);
    sip_metrics_opts_init(NULL);
    /* A closed loop. */
    sip_loop_close(loop);
    assert_int_equal(sip_metrics_create(&m, loop, "127.0.0.1:0", NULL, NULL, NULL, NULL),
                     SIP_ECLOSED);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_serves_the_counters),
        cmocka_unit_test(metrics_404_and_405),
        cmocka_unit_test(metrics_connections_are_bounded),
        cmocka_unit_test(metrics_idle_connection_times_out),
        cmocka_unit_test(metrics_close_releases_everything),
        cmocka_unit_test(metrics_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
