/* SPDX-License-Identifier: MIT */
/* The transport's defences: a guard drops what blocked sources send (datagrams, stream messages,
 * new connections) and counts requests against its rate limit; at the connection cap the
 * idlest connection that never sent a message makes room for a new one; warnings about the cap
 * are rate-limited; TLS refuses old versions and weak suites, and asks for client certificates
 * as told (none, required, optional). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pump.h"
#include "sip/sip.h"
#include "testca.h"

static test_ca_t ca;

typedef struct {
    int n; /* requests the handler saw */
    char last_from[48];
    int warns; /* warning lines of the transport about the connection cap */
} peer_t;

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    peer_t *p = user;
    if (!sip_msg_is_request(msg)) return;
    p->n++;
    snprintf(p->last_from, sizeof(p->last_from), "%s", sip_msg_get_netinfo(msg)->remote_ip);
    sip_msg_t *r;
    assert_int_equal(sip_msg_create_response(&r, msg, 200, NULL, "t"), 0);
    sip_transport_send_response(tp, r);
    sip_msg_unref(r);
}

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    peer_t *p = user;
    if (level == SIP_LOG_WARN && strcmp(module, "transport") == 0 &&
        strncmp(text, "connection cap", 14) == 0)
        p->warns++;
}

static sip_transport_t *server(sip_loop_t *loop, peer_t *p, const char *spec, unsigned max_conns,
                               int verify_client, uint16_t *port)
{
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.max_connections = max_conns;
    o.tls_cert_file = ca.server_cert;
    o.tls_key_file = ca.server_key;
    o.tls_ca_file = ca.ca;
    o.tls_verify_client = verify_client;
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, &o), 0);
    assert_int_equal(sip_transport_listen(tp, spec), 0);
    assert_int_equal(sip_transport_set_handler(tp, on_msg, p, NULL), 0);
    sip_netinfo_t ni;
    sip_transport_listener_info(tp, 0, &ni);
    *port = ni.local_port;
    return tp;
}

static int options_text(char *buf, size_t size, const char *proto, int n)
{
    return snprintf(buf, size,
                    "OPTIONS sip:uas@127.0.0.1 SIP/2.0\r\n"
                    "Via: SIP/2.0/%s 127.0.0.1:9;branch=z9hG4bKg%d\r\n"
                    "Max-Forwards: 70\r\nTo: <sip:uas@example.com>\r\n"
                    "From: <sip:uac@example.com>;tag=%d\r\nCall-ID: guard-%d\r\n"
                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                    proto, n, n, n);
}

/* A UDP socket bound to src (port 0). */
static int udp_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void udp_send(int fd, uint16_t port, int n)
{
    char buf[512];
    int len = options_text(buf, sizeof(buf), "UDP", n);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&a, sizeof(a)), len);
}

/* A TCP connection to 127.0.0.1:port (the kernel completes it; the loop accepts it later). */
static int tcp_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void tcp_send(int fd, int n)
{
    char buf[512];
    int len = options_text(buf, sizeof(buf), "TCP", n);
    assert_int_equal(send(fd, buf, (size_t)len, MSG_NOSIGNAL), len);
}

/* 1 when the server closed the connection (reading gives end of file or a reset); whatever
 * else is waiting (responses) is read and ignored. */
static int closed_by_peer(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) return 1;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
    }
}

static void pump_until_conns(sip_loop_t *loop, sip_transport_t *tp, size_t want)
{
    for (int i = 0; i < 300 && sip_transport_connection_count(tp) != want; i++)
        test_pump(loop, 10);
    assert_int_equal(sip_transport_connection_count(tp), want);
}

static void tguard_udp_rate_and_blocks(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "udp:127.0.0.1:0", 1024, 0, &port);
    sip_guard_opts_t go;
    sip_guard_opts_init(&go);
    go.rate_max = 3;
    go.rate_window_ms = 60000;
    sip_guard_t *g;
    assert_int_equal(sip_guard_create(&g, loop, &go), 0);
    assert_null(sip_transport_get_guard(tb));
    assert_int_equal(sip_transport_set_guard(tb, g), 0);
    assert_ptr_equal(sip_transport_get_guard(tb), g);
    assert_int_equal(sip_guard_allow(g, "127.0.0.2"), 0);
    int fd = udp_from("127.0.0.1"), fd2 = udp_from("127.0.0.2");
    /* Three requests a window: the fourth blocks the source, and nothing more arrives. */
    for (int i = 0; i < 10; i++)
        udp_send(fd, port, i);
    for (int i = 0; i < 10; i++)
        udp_send(fd2, port, 100 + i);
    assert_true(test_pump_until(loop, &b.n, 13, 3000));
    test_pump(loop, 50);
    assert_int_equal(b.n, 13);
    assert_int_equal(sip_guard_is_blocked(g, "127.0.0.1"), 1);
    assert_int_equal(sip_guard_is_blocked(g, "127.0.0.2"), 0);
    /* Counted: seven dropped, one source blocked. */
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED), 7);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED_SOURCES), 1);
    /* Lifted: it gets through again. */
    assert_int_equal(sip_guard_unblock(g, "127.0.0.1"), 0);
    udp_send(fd, port, 50);
    assert_true(test_pump_until(loop, &b.n, 14, 3000));
    assert_string_equal(b.last_from, "127.0.0.1");
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED_SOURCES), 0);
    /* Removing the guard removes the limits. */
    assert_int_equal(sip_guard_block(g, "127.0.0.1", 0), 0);
    assert_int_equal(sip_transport_set_guard(tb, NULL), 0);
    assert_null(sip_transport_get_guard(tb));
    udp_send(fd, port, 51);
    assert_true(test_pump_until(loop, &b.n, 15, 3000));
    assert_int_equal(sip_transport_set_guard(NULL, g), SIP_EINVAL);
    /* A guard of another loop (another thread, maybe) is refused. */
    sip_loop_t *loop2;
    sip_guard_t *g2;
    assert_int_equal(sip_loop_create(&loop2), 0);
    assert_int_equal(sip_guard_create(&g2, loop2, NULL), 0);
    assert_int_equal(sip_transport_set_guard(tb, g2), SIP_EINVAL);
    sip_guard_unref(g2);
    sip_loop_unref(loop2);
    assert_int_equal(sip_transport_set_guard(tb, g), 0);
    close(fd);
    close(fd2);
    sip_transport_close(tb);
    assert_int_equal(sip_transport_set_guard(tb, g), SIP_ECLOSED);
    assert_null(sip_transport_get_guard(tb));
    sip_guard_unref(g);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

static void tguard_stream_blocked_source(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tcp:127.0.0.1:0", 1024, 0, &port);
    sip_guard_t *g;
    assert_int_equal(sip_guard_create(&g, loop, NULL), 0);
    assert_int_equal(sip_transport_set_guard(tb, g), 0);
    /* The transport keeps its own reference. */
    sip_guard_unref(g);
    int fd = tcp_to(port);
    tcp_send(fd, 1);
    tcp_send(fd, 2);
    assert_true(test_pump_until(loop, &b.n, 2, 3000));
    /* Blocked now: its next message is dropped unparsed and its connection closed. */
    assert_int_equal(sip_guard_block(g, "127.0.0.1", 0), 0);
    tcp_send(fd, 3);
    pump_until_conns(loop, tb, 0);
    assert_int_equal(b.n, 2);
    assert_true(closed_by_peer(fd));
    close(fd);
    /* A new connection from it is closed at accept. */
    fd = tcp_to(port);
    test_pump(loop, 50);
    pump_until_conns(loop, tb, 0);
    for (int i = 0; i < 100 && !closed_by_peer(fd); i++)
        test_pump(loop, 10);
    assert_true(closed_by_peer(fd));
    close(fd);
    assert_int_equal(b.n, 2);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

/* Idle connections from one host fill the cap; a real client still gets through, and a
 * connection that has sent a complete message is never the one closed. */
static void tguard_cap_evicts_idlest(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0}, a = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_DEBUG, on_log, &b, NULL), 0);
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tcp:127.0.0.1:0", 32, 0, &port);
    int used = tcp_to(port);
    tcp_send(used, 1);
    assert_true(test_pump_until(loop, &b.n, 1, 3000));
    int idle[32];
    for (int i = 0; i < 31; i++)
        idle[i] = tcp_to(port);
    pump_until_conns(loop, tb, 32);
    /* A real client (a libsip transport) at the cap. */
    sip_transport_t *ta;
    assert_int_equal(sip_transport_create(&ta, loop, NULL), 0);
    assert_int_equal(sip_transport_set_handler(ta, on_msg, &a, NULL), 0);
    sip_msg_t *m;
    char uri[64];
    snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u;transport=tcp", port);
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", "SIP/2.0/TCP c.invalid;branch=z9hG4bKcap1"), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "cap-1"), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    sip_netinfo_t dst = {
        .transport = SIP_TRANSPORT_TCP, .remote_ip = "127.0.0.1", .remote_port = port};
    assert_int_equal(sip_transport_send(ta, m, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &b.n, 2, 3000));
    assert_int_equal(sip_transport_connection_count(tb), 32);
    /* One of the idle ones made room. */
    int gone = 0;
    test_pump(loop, 20);
    for (int i = 0; i < 31; i++)
        gone += closed_by_peer(idle[i]);
    assert_int_equal(gone, 1);
    /* Forty more idle ones: each takes an idle one's place, never a used one's. */
    int more[40];
    for (int i = 0; i < 40; i++) {
        more[i] = tcp_to(port);
        if (i % 8 == 7) test_pump(loop, 10);
    }
    test_pump(loop, 100);
    pump_until_conns(loop, tb, 32);
    assert_false(closed_by_peer(used));
    tcp_send(used, 3);
    assert_true(test_pump_until(loop, &b.n, 3, 3000));
    /* And the libsip client's connection is still there: a second request reuses it. */
    sip_msg_t *m2;
    assert_int_equal(sip_msg_create_request(&m2, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m2, "Via", "SIP/2.0/TCP c.invalid;branch=z9hG4bKcap2"), 0);
    assert_int_equal(sip_msg_add_header(m2, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m2, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m2, "Call-ID", "cap-2"), 0);
    assert_int_equal(sip_msg_add_header(m2, "CSeq", "1 OPTIONS"), 0);
    assert_int_equal(sip_transport_send(ta, m2, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &b.n, 4, 3000));
    assert_true(test_pump_until(loop, &a.n, 0, 10));
    assert_int_equal(sip_transport_connection_count(ta), 1);
    /* Forty-one evictions, one warning line (the rest are counted in the next one). */
    assert_int_equal(sip_stat_get(loop, SIP_STAT_CONN_EVICTED), 41);
    assert_int_equal(b.warns, 1);
    sip_msg_unref(m);
    sip_msg_unref(m2);
    for (int i = 0; i < 31; i++)
        close(idle[i]);
    for (int i = 0; i < 40; i++)
        close(more[i]);
    close(used);
    sip_transport_unref(ta);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

/* When every connection has sent a message, a new one is refused. */
static void tguard_cap_refuses_when_all_used(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_DEBUG, on_log, &b, NULL), 0);
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tcp:127.0.0.1:0", 4, 0, &port);
    int used[4];
    for (int i = 0; i < 4; i++) {
        used[i] = tcp_to(port);
        tcp_send(used[i], i);
    }
    assert_true(test_pump_until(loop, &b.n, 4, 3000));
    int extra[5];
    for (int i = 0; i < 5; i++)
        extra[i] = tcp_to(port);
    for (int i = 0; i < 100; i++) {
        int closed = 0;
        for (int k = 0; k < 5; k++)
            closed += closed_by_peer(extra[k]);
        if (closed == 5) break;
        test_pump(loop, 10);
    }
    for (int i = 0; i < 5; i++) {
        assert_true(closed_by_peer(extra[i]));
        close(extra[i]);
    }
    for (int i = 0; i < 4; i++)
        assert_false(closed_by_peer(used[i]));
    assert_int_equal(sip_transport_connection_count(tb), 4);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_CONN_EVICTED), 0);
    assert_int_equal(b.warns, 1);
    for (int i = 0; i < 4; i++)
        close(used[i]);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

/* ---- TLS, driven by a plain OpenSSL client ---- */

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} rawtls_t;

/* Connects and runs the handshake while the loop turns. 1 when it finished. */
static int rawtls_connect(sip_loop_t *loop, uint16_t port, int max_version, const char *ciphers,
                          const char *cert, const char *key, rawtls_t *t)
{
    t->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(t->ctx);
    /* Old versions need the lowest security level to be offered at all. */
    SSL_CTX_set_security_level(t->ctx, 0);
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(t->ctx, max_version);
    if (ciphers) assert_int_equal(SSL_CTX_set_cipher_list(t->ctx, ciphers), 1);
    if (cert) {
        assert_int_equal(SSL_CTX_use_certificate_chain_file(t->ctx, cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    t->fd = tcp_to(port);
    fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK);
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->fd);
    for (int i = 0; i < 300; i++) {
        int r = SSL_connect(t->ssl);
        if (r == 1) return 1;
        int e = SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return 0;
        }
        test_pump(loop, 10);
    }
    return 0;
}

/* Sends one request over the connection; 0 or -1. */
static int rawtls_send(rawtls_t *t, int n)
{
    char buf[512];
    int len = options_text(buf, sizeof(buf), "TLS", n);
    int r = SSL_write(t->ssl, buf, len);
    ERR_clear_error();
    return r == len ? 0 : -1;
}

static void rawtls_free(rawtls_t *t)
{
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    close(t->fd);
    ERR_clear_error();
}

static void tguard_tls_version_floor(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tls:127.0.0.1:0", 1024, 0, &port);
    rawtls_t t;
    /* RFC 8996: TLS 1.1 (and 1.0) refused. */
    assert_int_equal(rawtls_connect(loop, port, TLS1_1_VERSION, "ALL:@SECLEVEL=0", NULL, NULL, &t),
                     0);
    rawtls_free(&t);
    assert_int_equal(rawtls_connect(loop, port, TLS1_VERSION, "ALL:@SECLEVEL=0", NULL, NULL, &t),
                     0);
    rawtls_free(&t);
    /* TLS 1.2 without forward secrecy or without an AEAD cipher: no suite in common. */
    assert_int_equal(
        rawtls_connect(loop, port, TLS1_2_VERSION, "AES128-GCM-SHA256", NULL, NULL, &t), 0);
    rawtls_free(&t);
    assert_int_equal(
        rawtls_connect(loop, port, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL, NULL, &t), 0);
    rawtls_free(&t);
    /* TLS 1.2 with ECDHE and GCM: in, and a request goes through. */
    assert_int_equal(
        rawtls_connect(loop, port, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, NULL, &t),
        1);
    assert_int_equal(SSL_version(t.ssl), TLS1_2_VERSION);
    assert_null(SSL_get_current_compression(t.ssl));
    assert_int_equal(rawtls_send(&t, 1), 0);
    assert_true(test_pump_until(loop, &b.n, 1, 3000));
    rawtls_free(&t);
    /* TLS 1.3 as OpenSSL has it. */
    assert_int_equal(rawtls_connect(loop, port, TLS1_3_VERSION, NULL, NULL, NULL, &t), 1);
    assert_int_equal(SSL_version(t.ssl), TLS1_3_VERSION);
    assert_int_equal(rawtls_send(&t, 2), 0);
    assert_true(test_pump_until(loop, &b.n, 2, 3000));
    rawtls_free(&t);
    /* The server's order wins: a client preferring CBC... cannot; preferring AES-128 over
     * ChaCha20 gets the server's first choice among those it offered. */
    assert_int_equal(rawtls_connect(loop, port, TLS1_2_VERSION,
                                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
                                    NULL, NULL, &t),
                     1);
    assert_string_equal(SSL_get_cipher_name(t.ssl), "ECDHE-ECDSA-AES256-GCM-SHA384");
    rawtls_free(&t);
    test_pump(loop, 20);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
}

/* Runs one client against a server in a mode; 1 when its request reached the handler. */
static int client_cert_case(int mode, const char *cert, const char *key, char *subject, size_t size)
{
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    peer_t b = {0};
    uint16_t port;
    sip_transport_t *tb = server(loop, &b, "tls:127.0.0.1:0", 1024, mode, &port);
    rawtls_t t;
    int up = rawtls_connect(loop, port, TLS1_3_VERSION, NULL, cert, key, &t);
    /* TLS 1.3: a client learns of a refused certificate only after its handshake, from the
     * server's alert; the request it sends then never arrives. */
    if (up) rawtls_send(&t, 1);
    int got = test_pump_until(loop, &b.n, 1, 500);
    (void)subject;
    (void)size;
    rawtls_free(&t);
    test_pump(loop, 20);
    sip_transport_unref(tb);
    sip_loop_unref(loop);
    return got;
}

static void tguard_tls_client_certificates(void **state)
{
    (void)state;
    char subject[256];
    /* NONE: not asked for; whatever the client has does not matter. */
    assert_true(client_cert_case(SIP_TLS_CLIENT_NONE, NULL, NULL, subject, sizeof(subject)));
    assert_true(
        client_cert_case(SIP_TLS_CLIENT_NONE, ca.self_cert, ca.self_key, subject, sizeof(subject)));
    /* REQUIRE: a verified certificate or nothing. */
    assert_false(client_cert_case(SIP_TLS_CLIENT_REQUIRE, NULL, NULL, subject, sizeof(subject)));
    assert_false(client_cert_case(SIP_TLS_CLIENT_REQUIRE, ca.self_cert, ca.self_key, subject,
                                  sizeof(subject)));
    assert_true(client_cert_case(SIP_TLS_CLIENT_REQUIRE, ca.client_cert, ca.client_key, subject,
                                 sizeof(subject)));
    /* OPTIONAL: a client without one gets in; one that sends a certificate must have it
     * verify. */
    assert_true(client_cert_case(SIP_TLS_CLIENT_OPTIONAL, NULL, NULL, subject, sizeof(subject)));
    assert_false(client_cert_case(SIP_TLS_CLIENT_OPTIONAL, ca.self_cert, ca.self_key, subject,
                                  sizeof(subject)));
    assert_false(client_cert_case(SIP_TLS_CLIENT_OPTIONAL, ca.rogue_cert, ca.rogue_key, subject,
                                  sizeof(subject)));
    assert_true(client_cert_case(SIP_TLS_CLIENT_OPTIONAL, ca.client_cert, ca.client_key, subject,
                                 sizeof(subject)));
    /* An unknown mode is refused. */
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.tls_verify_client = 3;
    sip_transport_t *tp = NULL;
    assert_int_equal(sip_transport_create(&tp, loop, &o), SIP_EINVAL);
    o.tls_verify_client = -1;
    assert_int_equal(sip_transport_create(&tp, loop, &o), SIP_EINVAL);
    assert_null(tp);
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
        cmocka_unit_test(tguard_udp_rate_and_blocks),
        cmocka_unit_test(tguard_stream_blocked_source),
        cmocka_unit_test(tguard_cap_evicts_idlest),
        cmocka_unit_test(tguard_cap_refuses_when_all_used),
        cmocka_unit_test(tguard_tls_version_floor),
        cmocka_unit_test(tguard_tls_client_certificates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
