/* SPDX-License-Identifier: MIT */
/* Transport tests on loopback sockets: UDP, TCP, framing, Via handling, limits, bad peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "pump.h"
#include "sip/sip.h"

#define MAXGOT 64

typedef struct {
    sip_msg_t *got[MAXGOT];
    int n;
    int answer; /* answer requests with this status */
    sip_transport_t *tp;
    int log_lines;
    char last_log[512];
} peer_t;

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    peer_t *p = user;
    if (p->n < MAXGOT) p->got[p->n++] = sip_msg_ref(msg);
    if (p->answer && sip_msg_is_request(msg) && sip_msg_get_method(msg) != SIP_METHOD_ACK) {
        sip_msg_t *r;
        assert_int_equal(sip_msg_create_response(&r, msg, p->answer, NULL, "t"), 0);
        assert_int_equal(sip_transport_send_response(tp, r), 0);
        sip_msg_unref(r);
    }
}

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)level;
    (void)module;
    peer_t *p = user;
    p->log_lines++;
    snprintf(p->last_log, sizeof(p->last_log), "%s", text);
}

static void peer_reset(peer_t *p)
{
    for (int i = 0; i < p->n; i++) sip_msg_unref(p->got[i]);
    p->n = 0;
}

static sip_transport_t *make_tp(sip_loop_t *loop, peer_t *p, const char **specs, int n,
                                const sip_transport_opts_t *opts)
{
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, opts), 0);
    for (int i = 0; i < n; i++) assert_true(sip_transport_listen(tp, specs[i]) >= 0);
    assert_int_equal(sip_transport_set_handler(tp, on_msg, p, NULL), 0);
    p->tp = tp;
    return tp;
}

static uint16_t port_of(sip_transport_t *tp, size_t i)
{
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(tp, i, &ni), 0);
    return ni.local_port;
}

static sip_msg_t *options_to(const char *ip, uint16_t port, const char *branch)
{
    char uri[128], via[128];
    int v6 = strchr(ip, ':') != NULL;
    snprintf(uri, sizeof(uri), "sip:uas@%s%s%s:%u", v6 ? "[" : "", ip, v6 ? "]" : "", port);
    snprintf(via, sizeof(via), "SIP/2.0/UDP placeholder.invalid;branch=%s", branch);
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", via), 0);
    assert_int_equal(sip_msg_add_header(m, "Max-Forwards", "70"), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", branch), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    return m;
}

static void send_to(sip_transport_t *tp, sip_msg_t *m, sip_transport_type_t t, const char *ip,
                    uint16_t port)
{
    sip_netinfo_t dst = {0};
    dst.transport = t;
    snprintf(dst.remote_ip, sizeof(dst.remote_ip), "%s", ip);
    dst.remote_port = port;
    assert_int_equal(sip_transport_send(tp, m, &dst, NULL, NULL, NULL), 0);
}

static void round_trip(sip_transport_type_t t, const char *fam_ip, const char *spec_a,
                       const char *spec_b)
{
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t a = {0}, b = {.answer = 200};
    sip_transport_t *ta = make_tp(loop, &a, &spec_a, 1, NULL);
    sip_transport_t *tb = make_tp(loop, &b, &spec_b, 1, NULL);
    uint16_t pb = port_of(tb, 0), pa = port_of(ta, 0);
    sip_msg_t *m = options_to(fam_ip, pb, "z9hG4bKrt1");
    send_to(ta, m, t, fam_ip, pb);
    assert_true(test_pump_until(loop, &b.n, 1, 3000));
    assert_true(test_pump_until(loop, &a.n, 1, 3000));
    /* The request arrived with its network facts; the Via says who sent it. */
    const sip_netinfo_t *ni = sip_msg_get_netinfo(b.got[0]);
    assert_non_null(ni);
    assert_int_equal(ni->transport, t);
    assert_string_equal(ni->remote_ip, fam_ip);
    assert_int_equal(ni->local_port, pb);
    const sip_via_t *v = sip_msg_get_via(b.got[0]);
    assert_int_equal(v->port, pa);
    assert_int_equal(sip_transport_from_name(v->transport.ptr, v->transport.len), t);
    if (t == SIP_TRANSPORT_UDP) {
        /* RFC 3581: rport asked for and filled in with the source port. */
        assert_int_equal(v->rport, ni->remote_port);
    } else {
        assert_int_equal(sip_transport_connection_count(ta), 1);
        assert_int_equal(sip_transport_connection_count(tb), 1);
    }
    /* The response came back to the sender and matched its Via. */
    assert_int_equal(sip_msg_get_status(a.got[0]), 200);
    assert_int_equal(sip_msg_get_netinfo(a.got[0])->transport, t);
    /* A second request reuses the connection. */
    sip_msg_t *m2 = options_to(fam_ip, pb, "z9hG4bKrt2");
    send_to(ta, m2, t, fam_ip, pb);
    assert_true(test_pump_until(loop, &a.n, 2, 3000));
    if (t != SIP_TRANSPORT_UDP) assert_int_equal(sip_transport_connection_count(ta), 1);
    sip_msg_unref(m);
    sip_msg_unref(m2);
    peer_reset(&a);
    peer_reset(&b);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void transport_udp_round_trip(void **state)
{
    (void)state;
    round_trip(SIP_TRANSPORT_UDP, "127.0.0.1", "udp:127.0.0.1:0", "udp:127.0.0.1:0");
}

static void transport_tcp_round_trip(void **state)
{
    (void)state;
    round_trip(SIP_TRANSPORT_TCP, "127.0.0.1", "tcp:127.0.0.1:0", "tcp:127.0.0.1:0");
}

static void transport_ipv6_round_trip(void **state)
{
    (void)state;
    round_trip(SIP_TRANSPORT_UDP, "::1", "udp:[::1]:0", "udp:[::1]:0");
    round_trip(SIP_TRANSPORT_TCP, "::1", "tcp:[::1]:0", "tcp:[::1]:0");
}

static void transport_listen_specs(void **state)
{
    (void)state;
    sip_loop_t *loop;
    sip_transport_t *tp;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_WARN, on_log, &p, NULL), 0);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(tp, "udp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_listen(tp, "tcp:127.0.0.1:0"), 1);
    assert_int_equal(sip_transport_listen(tp, "bogus:127.0.0.1:0"), SIP_EINVAL);
    assert_int_equal(sip_transport_listen(tp, "udp:not-an-ip:0"), SIP_EINVAL);
    assert_int_equal(sip_transport_listen(tp, "udp:127.0.0.1:99999"), SIP_EINVAL);
    /* TLS needs a certificate. */
    assert_int_equal(sip_transport_listen(tp, "tls:127.0.0.1:0"), SIP_EINVAL);
    /* The same port twice. */
    char spec[64];
    snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", port_of(tp, 0));
    assert_true(sip_transport_listen(tp, spec) < 0);
    assert_true(p.log_lines > 0);
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(tp, 1, &ni), 0);
    assert_int_equal(ni.transport, SIP_TRANSPORT_TCP);
    assert_string_equal(ni.local_ip, "127.0.0.1");
    assert_int_equal(sip_transport_listener_info(tp, 9, &ni), SIP_ENOENT);
    sip_transport_close(tp);
    assert_int_equal(sip_transport_listen(tp, "udp:127.0.0.1:0"), SIP_ECLOSED);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

/* ---- raw sockets for misbehaving peers ---- */

static int raw_socket(int type, uint16_t port)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Reads what arrives on fd within ms while the loop runs. */
static ssize_t raw_read(sip_loop_t *loop, int fd, char *buf, size_t size, int ms)
{
    size_t got = 0;
    for (int i = 0; i < ms && got < size - 1; i++) {
        sip_loop_run_once(loop, 0);
        ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
            if (memmem(buf, got, "\r\n\r\n", 4)) break;
            continue;
        }
        if (n == 0) return got ? (ssize_t)got : -2; /* peer closed */
        usleep(1000);
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

static const char BAD_VIA[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbad;;\r\n"
                              "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: bad1\r\n"
                              "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

static void transport_udp_bad_input(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {.answer = 200};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_WARN, on_log, &p, NULL), 0);
    const char *spec = "udp:127.0.0.1:0";
    sip_transport_t *tp = make_tp(loop, &p, &spec, 1, NULL);
    int fd = raw_socket(SOCK_DGRAM, port_of(tp, 0));
    char buf[4096];
    /* Garbage is dropped and logged; a keep-alive is ignored quietly. */
    send(fd, "\x01\x02garbage\xff", 11, 0);
    send(fd, "\r\n\r\n", 4, 0);
    test_pump(loop, 50);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.log_lines, 1);
    assert_non_null(strstr(p.last_log, "malformed message from udp:127.0.0.1"));
    /* A malformed request with enough headers to answer gets a 400 naming the fault. */
    send(fd, BAD_VIA, sizeof(BAD_VIA) - 1, 0);
    ssize_t n = raw_read(loop, fd, buf, sizeof(buf), 2000);
    assert_true(n > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 400 Bad Request (Malformed Via header)\r\n", 48), 0);
    assert_non_null(strstr(buf, "Call-ID: bad1\r\n"));
    /* An oversized datagram is refused, and the transport keeps serving. */
    char *big = malloc(70000);
    memset(big, 'a', 70000);
    memcpy(big, "OPTIONS", 7);
    send(fd, big, 65000, 0);
    free(big);
    const char good[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKgood;rport\r\n"
                        "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: good1\r\n"
                        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    send(fd, good, sizeof(good) - 1, 0);
    n = raw_read(loop, fd, buf, sizeof(buf), 2000);
    assert_true(n > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 200 OK\r\n", 16), 0);
    /* rport sent the answer to the real source port (RFC 3581), and received was added
     * because rport asks for it. */
    assert_int_equal(p.n, 1);
    const sip_via_t *v = sip_msg_get_via(p.got[0]);
    assert_true(sip_str_eq(v->received, SIP_STR("127.0.0.1")));
    assert_true(v->rport > 0 && v->rport != 5999);
    close(fd);
    peer_reset(&p);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

static void transport_tcp_framing(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {.answer = 200};
    const char *spec = "tcp:127.0.0.1:0";
    sip_transport_t *tp = make_tp(loop, &p, &spec, 1, NULL);
    int fd = raw_socket(SOCK_STREAM, port_of(tp, 0));
    /* Two pipelined messages, the second split across writes, with a body, after a ping. */
    const char m1[] = "MESSAGE sip:x@127.0.0.1 SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKf1;rport\r\n"
                      "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: f1\r\n"
                      "CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
                      "hello";
    const char m2[] = "MESSAGE sip:x@127.0.0.1 SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKf2\r\n"
                      "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: f2\r\n"
                      "CSeq: 2 MESSAGE\r\nContent-Length: 3\r\n\r\nbye";
    char buf[8192];
    send(fd, "\r\n\r\n", 4, 0);
    ssize_t n = raw_read(loop, fd, buf, sizeof(buf), 300);
    assert_int_equal(n, 2); /* RFC 5626 pong */
    assert_string_equal(buf, "\r\n");
    char both[1024];
    int len = snprintf(both, sizeof(both), "%s%s", m1, m2);
    send(fd, both, (size_t)len - 10, 0);
    test_pump(loop, 20);
    send(fd, both + len - 10, 10, 0);
    assert_true(test_pump_until(loop, &p.n, 2, 2000));
    assert_true(sip_str_eq(sip_msg_get_body(p.got[0]), SIP_STR("hello")));
    assert_true(sip_str_eq(sip_msg_get_body(p.got[1]), SIP_STR("bye")));
    /* §18.2.1: the sent-by is not the source, so received is added; rport is filled. */
    const sip_via_t *v = sip_msg_get_via(p.got[0]);
    assert_true(sip_str_eq(v->received, SIP_STR("127.0.0.1")));
    assert_true(v->rport > 0);
    assert_true(sip_str_eq(sip_msg_get_via(p.got[1])->received, SIP_STR("127.0.0.1")));
    assert_int_equal(sip_msg_get_via(p.got[1])->rport, -1);
    /* Both answers come back on this connection. */
    n = raw_read(loop, fd, buf, sizeof(buf), 1000);
    assert_true(n > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 200 OK\r\n", 16), 0);
    /* A message without Content-Length loses the framing: 400 and close. */
    const char nocl[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKn\r\n"
                        "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: n1\r\n"
                        "CSeq: 1 OPTIONS\r\n\r\n";
    usleep(1000);
    test_pump(loop, 50);
    while (recv(fd, buf, sizeof(buf), 0) > 0) {
    }
    send(fd, nocl, sizeof(nocl) - 1, 0);
    n = raw_read(loop, fd, buf, sizeof(buf), 1000);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "SIP/2.0 400 "));
    assert_int_equal(raw_read(loop, fd, buf, sizeof(buf), 1000), -2);
    assert_int_equal(sip_transport_connection_count(tp), 0);
    close(fd);
    peer_reset(&p);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

static void transport_tcp_limits_and_slow_peers(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_WARN, on_log, &p, NULL), 0);
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.max_connections = 2;
    o.max_conn_buffer = 2000;
    o.handshake_timeout_ms = 200;
    o.idle_timeout_ms = 300;
    const char *spec = "tcp:127.0.0.1:0";
    sip_transport_t *tp = make_tp(loop, &p, &spec, 1, &o);
    uint16_t port = port_of(tp, 0);
    char buf[4096];
    /* A Content-Length that lies (more than is sent) never completes: closed in time. */
    int liar = raw_socket(SOCK_STREAM, port);
    const char lie[] = "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKl\r\n"
                       "Content-Length: 500\r\n\r\nshort";
    send(liar, lie, sizeof(lie) - 1, 0);
    /* A peer that sends one byte now and then. */
    int slow = raw_socket(SOCK_STREAM, port);
    send(slow, "O", 1, 0);
    test_pump(loop, 50);
    assert_int_equal(sip_transport_connection_count(tp), 2);
    /* Over the cap: accepted and closed at once. */
    int third = raw_socket(SOCK_STREAM, port);
    assert_int_equal(raw_read(loop, third, buf, sizeof(buf), 500), -2);
    for (int i = 0; i < 10; i++) {
        send(slow, "P", 1, 0);
        test_pump(loop, 50);
    }
    /* Both stalled peers are gone after the message timeout, though the slow one kept
     * sending. */
    assert_int_equal(sip_transport_connection_count(tp), 0);
    assert_int_equal(raw_read(loop, liar, buf, sizeof(buf), 100), -2);
    /* Too many bytes for one message: closed. */
    int flood = raw_socket(SOCK_STREAM, port);
    char junk[3000];
    memset(junk, 'x', sizeof(junk));
    memcpy(junk, "OPTIONS sip:x@h SIP/2.0\r\nX: ", 28);
    send(flood, junk, sizeof(junk), 0);
    assert_int_equal(raw_read(loop, flood, buf, sizeof(buf), 1000), -2);
    /* An idle connection is closed after idle_timeout_ms. */
    int idle = raw_socket(SOCK_STREAM, port);
    test_pump(loop, 50);
    assert_int_equal(sip_transport_connection_count(tp), 1);
    assert_int_equal(raw_read(loop, idle, buf, sizeof(buf), 1500), -2);
    assert_int_equal(sip_transport_connection_count(tp), 0);
    assert_int_equal(p.n, 0);
    close(liar);
    close(slow);
    close(third);
    close(flood);
    close(idle);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

static void transport_large_request_goes_tcp(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t a = {0}, b = {.answer = 200};
    const char *sa[] = {"udp:127.0.0.1:0", "tcp:127.0.0.1:0"};
    sip_transport_t *ta = make_tp(loop, &a, sa, 2, NULL);
    /* b listens on UDP and TCP on the same port number, as RFC 3261 §18.1.1 expects. */
    sip_transport_t *tb;
    assert_int_equal(sip_transport_create(&tb, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(tb, "tcp:127.0.0.1:0"), 0);
    char spec[64];
    snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", port_of(tb, 0));
    assert_int_equal(sip_transport_listen(tb, spec), 1);
    assert_int_equal(sip_transport_set_handler(tb, on_msg, &b, NULL), 0);
    uint16_t pb = port_of(tb, 0);
    sip_msg_t *m = options_to("127.0.0.1", pb, "z9hG4bKbig");
    char pad[1400];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    assert_int_equal(sip_msg_add_header(m, "X-Pad", pad), 0);
    send_to(ta, m, SIP_TRANSPORT_UDP, "127.0.0.1", pb);
    assert_true(test_pump_until(loop, &b.n, 1, 3000));
    assert_int_equal(sip_msg_get_netinfo(b.got[0])->transport, SIP_TRANSPORT_TCP);
    assert_true(sip_str_eq(sip_msg_get_via(b.got[0])->transport, SIP_STR("TCP")));
    assert_true(test_pump_until(loop, &a.n, 1, 3000));
    assert_int_equal(sip_msg_get_status(a.got[0]), 200);
    sip_msg_unref(m);
    peer_reset(&a);
    peer_reset(&b);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void transport_foreign_response_dropped(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_WARN, on_log, &p, NULL), 0);
    const char *spec = "udp:127.0.0.1:0";
    sip_transport_t *tp = make_tp(loop, &p, &spec, 1, NULL);
    int fd = raw_socket(SOCK_DGRAM, port_of(tp, 0));
    char rsp[512];
    int n = snprintf(rsp, sizeof(rsp),
                     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n"
                     "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: r1\r\n"
                     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    send(fd, rsp, (size_t)n, 0);
    n = snprintf(rsp, sizeof(rsp),
                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKy\r\n"
                 "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: r2\r\n"
                 "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                 port_of(tp, 0));
    send(fd, rsp, (size_t)n, 0);
    assert_true(test_pump_until(loop, &p.n, 1, 2000));
    test_pump(loop, 20);
    /* RFC 3261 §18.1.2: only the response whose Via names this endpoint gets through. */
    assert_int_equal(p.n, 1);
    assert_true(sip_str_eq(sip_msg_get_call_id(p.got[0]), SIP_STR("r2")));
    assert_non_null(strstr(p.last_log, "not ours"));
    close(fd);
    peer_reset(&p);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

typedef struct {
    int calls;
    int status;
    int freed;
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

static void transport_send_outcomes_and_trace(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t p = {0};
    const char *spec[] = {"udp:127.0.0.1:0", "tcp:127.0.0.1:0"};
    sip_transport_t *tp = make_tp(loop, &p, spec, 2, NULL);
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_INFO, on_log, &p, NULL), 0);
    sip_loop_set_trace(loop, 1);
    /* Connection refused: the callback tells, once, later. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    bind(probe, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t sl = sizeof(sa);
    getsockname(probe, (struct sockaddr *)&sa, &sl);
    close(probe); /* a port with nobody listening */
    sip_msg_t *m = options_to("127.0.0.1", ntohs(sa.sin_port), "z9hG4bKref");
    sent_t s = {0};
    sip_netinfo_t dst = {.transport = SIP_TRANSPORT_TCP, .remote_ip = "127.0.0.1",
                         .remote_port = ntohs(sa.sin_port)};
    assert_int_equal(sip_transport_send(tp, m, &dst, on_sent, &s, sent_free), 0);
    assert_int_equal(s.calls, 0);
    assert_true(test_pump_until(loop, &s.calls, 1, 3000));
    assert_int_equal(s.status, -ECONNREFUSED);
    assert_int_equal(s.freed, 1);
    /* UDP: success, reported later, with the message traced. */
    sent_t u = {0};
    dst.transport = SIP_TRANSPORT_UDP;
    p.log_lines = 0;
    assert_int_equal(sip_transport_send(tp, m, &dst, on_sent, &u, sent_free), 0);
    assert_int_equal(u.calls, 0);
    assert_true(test_pump_until(loop, &u.calls, 1, 1000));
    assert_int_equal(u.status, 0);
    assert_int_equal(u.freed, 1);
    assert_true(p.log_lines >= 1);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(m);
    assert_int_equal(ni->transport, SIP_TRANSPORT_UDP);
    assert_int_equal(ni->remote_port, ntohs(sa.sin_port));
    /* Bad arguments fail at once and free the user data. */
    sent_t bad = {0};
    dst.remote_port = 0;
    assert_int_equal(sip_transport_send(tp, m, &dst, on_sent, &bad, sent_free), SIP_EINVAL);
    assert_int_equal(bad.freed, 1);
    assert_int_equal(bad.calls, 0);
    /* Closing with a send pending: no callback, user data freed. */
    sent_t pend = {0};
    dst.transport = SIP_TRANSPORT_TCP;
    dst.remote_port = ntohs(sa.sin_port);
    assert_int_equal(sip_transport_send(tp, m, &dst, on_sent, &pend, sent_free), 0);
    sip_transport_close(tp);
    assert_int_equal(pend.calls, 0);
    assert_int_equal(pend.freed, 1);
    sip_msg_unref(m);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
}

static void transport_closes_with_its_loop(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t a = {0}, b = {.answer = 200};
    const char *spec = "tcp:127.0.0.1:0";
    sip_transport_t *ta = make_tp(loop, &a, &spec, 1, NULL);
    sip_transport_t *tb = make_tp(loop, &b, &spec, 1, NULL);
    sip_msg_t *m = options_to("127.0.0.1", port_of(tb, 0), "z9hG4bKc");
    send_to(ta, m, SIP_TRANSPORT_TCP, "127.0.0.1", port_of(tb, 0));
    assert_true(test_pump_until(loop, &a.n, 1, 3000));
    /* Closing the loop closes both transports and their connections. */
    sip_loop_close(loop);
    assert_int_equal(sip_transport_connection_count(ta), 0);
    assert_int_equal(sip_transport_listen(ta, "tcp:127.0.0.1:0"), SIP_ECLOSED);
    assert_int_equal(sip_transport_send_response(tb, m), SIP_EINVAL);
    sip_msg_unref(m);
    peer_reset(&a);
    peer_reset(&b);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

int main(void)
{
    /* Writes to a peer that has gone raise SIGPIPE; servers ignore it, and so do these tests. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transport_udp_round_trip),
        cmocka_unit_test(transport_tcp_round_trip),
        cmocka_unit_test(transport_ipv6_round_trip),
        cmocka_unit_test(transport_listen_specs),
        cmocka_unit_test(transport_udp_bad_input),
        cmocka_unit_test(transport_tcp_framing),
        cmocka_unit_test(transport_tcp_limits_and_slow_peers),
        cmocka_unit_test(transport_large_request_goes_tcp),
        cmocka_unit_test(transport_foreign_response_dropped),
        cmocka_unit_test(transport_send_outcomes_and_trace),
        cmocka_unit_test(transport_closes_with_its_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
