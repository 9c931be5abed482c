/* SPDX-License-Identifier: MIT */
/* TLS, WebSocket and secure WebSocket transports on loopback, with a test CA made at run time,
 * and a real WebSocket client (Python's websockets) against the server side. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pump.h"
#include "sip/sip.h"
#include "testca.h"

static test_ca_t ca;

typedef struct {
    sip_msg_t *got[8];
    int n;
    int answer;
} peer_t;

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    peer_t *p = user;
    if (p->n < 8) p->got[p->n++] = sip_msg_ref(msg);
    if (p->answer && sip_msg_is_request(msg)) {
        sip_msg_t *r;
        assert_int_equal(sip_msg_create_response(&r, msg, p->answer, NULL, "t"), 0);
        assert_int_equal(sip_transport_send_response(tp, r), 0);
        sip_msg_unref(r);
    }
}

static void peer_reset(peer_t *p)
{
    for (int i = 0; i < p->n; i++) sip_msg_unref(p->got[i]);
    p->n = 0;
}

static sip_transport_t *server(sip_loop_t *loop, peer_t *p, const char *spec, const char *cert,
                               const char *key, uint16_t *port)
{
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, &o), 0);
    assert_int_equal(sip_transport_listen(tp, spec), 0);
    assert_int_equal(sip_transport_set_handler(tp, on_msg, p, NULL), 0);
    sip_netinfo_t ni;
    sip_transport_listener_info(tp, 0, &ni);
    *port = ni.local_port;
    return tp;
}

static sip_transport_t *client(sip_loop_t *loop, peer_t *p)
{
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.tls_ca_file = ca.ca;
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, &o), 0);
    assert_int_equal(sip_transport_set_handler(tp, on_msg, p, NULL), 0);
    return tp;
}

static sip_msg_t *options(uint16_t port, const char *transport)
{
    char uri[96], via[128];
    snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u;transport=%s", port, transport);
    snprintf(via, sizeof(via), "SIP/2.0/%s client.invalid;branch=z9hG4bK%s", transport, transport);
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", via), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "secure-1"), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    return m;
}

typedef struct {
    int calls, status;
} sent_t;

static void on_sent(sip_transport_t *tp, int status, void *user)
{
    (void)tp;
    sent_t *s = user;
    s->calls++;
    s->status = status;
}

static void secure_round_trip(sip_transport_type_t type, const char *spec)
{
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t a = {0}, b = {.answer = 200};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, spec, ca.server_cert, ca.server_key, &port);
    sip_transport_t *ta = client(loop, &a);
    sip_msg_t *m = options(port, sip_transport_param(type));
    sip_netinfo_t dst = {.transport = type, .remote_ip = "127.0.0.1", .remote_port = port};
    sent_t s = {0};
    assert_int_equal(sip_transport_send(ta, m, &dst, on_sent, &s, NULL), 0);
    assert_true(test_pump_until(loop, &b.n, 1, 5000));
    assert_int_equal(sip_msg_get_netinfo(b.got[0])->transport, type);
    assert_true(test_pump_until(loop, &a.n, 1, 5000));
    assert_int_equal(sip_msg_get_status(a.got[0]), 200);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, 0);
    assert_int_equal(sip_transport_connection_count(ta), 1);
    sip_msg_unref(m);
    peer_reset(&a);
    peer_reset(&b);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void secure_tls_round_trip(void **state)
{
    (void)state;
    secure_round_trip(SIP_TRANSPORT_TLS, "tls:127.0.0.1:0");
}

static void secure_ws_round_trip(void **state)
{
    (void)state;
    secure_round_trip(SIP_TRANSPORT_WS, "ws:127.0.0.1:0");
}

static void secure_wss_round_trip(void **state)
{
    (void)state;
    secure_round_trip(SIP_TRANSPORT_WSS, "wss:127.0.0.1:0");
}

static void secure_tls_untrusted_server_fails(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t a = {0}, b = {.answer = 200};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tls:127.0.0.1:0", ca.rogue_cert, ca.rogue_key, &port);
    sip_transport_t *ta = client(loop, &a);
    sip_msg_t *m = options(port, "tls");
    sip_netinfo_t dst = {.transport = SIP_TRANSPORT_TLS, .remote_ip = "127.0.0.1",
                         .remote_port = port};
    sent_t s = {0};
    assert_int_equal(sip_transport_send(ta, m, &dst, on_sent, &s, NULL), 0);
    assert_true(test_pump_until(loop, &s.calls, 1, 5000));
    assert_int_equal(s.status, SIP_EIO);
    assert_int_equal(b.n, 0);
    assert_int_equal(sip_transport_connection_count(ta), 0);
    sip_msg_unref(m);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void secure_tls_port_survives_garbage(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {.answer = 200};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tls:127.0.0.1:0", ca.server_cert, ca.server_key, &port);
    /* Plain SIP and random bytes at a TLS port: the connection ends, nothing else does. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char junk[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n\x16\x03\x01\xff\xff garbage";
    assert_true(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL) > 0);
    int closed = 0;
    char buf[512];
    for (int i = 0; i < 3000 && !closed; i++) {
        sip_loop_run_once(loop, 0);
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed = 1;
        usleep(1000);
    }
    assert_true(closed);
    close(fd);
    assert_int_equal(sip_transport_connection_count(tb), 0);
    /* A proper TLS client is still served. */
    peer_t a = {0};
    sip_transport_t *ta = client(loop, &a);
    sip_msg_t *m = options(port, "tls");
    sip_netinfo_t dst = {.transport = SIP_TRANSPORT_TLS, .remote_ip = "127.0.0.1",
                         .remote_port = port};
    assert_int_equal(sip_transport_send(ta, m, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &a.n, 1, 5000));
    assert_int_equal(sip_msg_get_status(a.got[0]), 200);
    sip_msg_unref(m);
    peer_reset(&a);
    peer_reset(&b);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void secure_bad_tls_files_fail_at_create(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.tls_cert_file = ca.server_cert;
    o.tls_key_file = ca.client_key; /* does not match */
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, &o), SIP_EIO);
    assert_null(tp);
    o.tls_key_file = "/nonexistent/key.pem";
    assert_int_equal(sip_transport_create(&tp, loop, &o), SIP_EIO);
    sip_loop_unref(loop);
}

/* Runs the Python WebSocket client against a server while the loop serves it. */
static int python_ws_client(sip_loop_t *loop, const char *url, char *out, size_t size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        const char *script = SIP_SOURCE_DIR "/tests/interop/ws/ws_client.py";
        execl("/usr/bin/python3", "python3", script, url, "--ca", ca.ca, "--timeout", "10",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int status = -1;
    for (int i = 0; i < 20000; i++) {
        sip_loop_run_once(loop, 0);
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        usleep(1000);
    }
    ssize_t n = read(fds[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void secure_python_websocket_client(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    const char *specs[] = {"ws:127.0.0.1:0", "wss:127.0.0.1:0"};
    const char *schemes[] = {"ws", "wss"};
    for (int i = 0; i < 2; i++) {
        peer_t b = {.answer = 200};
        uint16_t port;
        sip_transport_t *tb = server(loop, &b, specs[i], ca.server_cert, ca.server_key, &port);
        char url[64], out[4096];
        snprintf(url, sizeof(url), "%s://localhost:%u/", schemes[i], port);
        int rc = python_ws_client(loop, url, out, sizeof(out));
        if (rc != 0) fail_msg("ws_client.py %s exited %d: %s", url, rc, out);
        assert_int_equal(strncmp(out, "SIP/2.0 200 OK\r\n", 16), 0);
        assert_int_equal(b.n, 1);
        assert_int_equal(sip_msg_get_netinfo(b.got[0])->transport,
                         i ? SIP_TRANSPORT_WSS : SIP_TRANSPORT_WS);
        peer_reset(&b);
        sip_transport_unref(tb);
    }
    sip_loop_unref(loop);
}

static int setup(void **state)
{
    (void)state;
    return test_ca_create(&ca);
}

static int teardown(void **state)
{
    (void)state;
    test_ca_remove(&ca);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secure_tls_round_trip),
        cmocka_unit_test(secure_ws_round_trip),
        cmocka_unit_test(secure_wss_round_trip),
        cmocka_unit_test(secure_tls_untrusted_server_fails),
        cmocka_unit_test(secure_tls_port_survives_garbage),
        cmocka_unit_test(secure_bad_tls_files_fail_at_create),
        cmocka_unit_test(secure_python_websocket_client),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
