/* SPDX-License-Identifier: MIT */
/* Addresses in the transport's log lines: IPv6 in brackets, as sip_transport_listen() takes them
 * ("udp:[::1]:5060"), so a line can be read back and the port told apart from the address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "pump.h"
#include "sip/sip.h"
#include "transport/addr.h"

#define MAXLINES 64

typedef struct {
    char lines[MAXLINES][256];
    int n;
    int got; /* messages the handler saw */
} seen_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)level;
    (void)module;
    seen_t *s = user;
    if (s->n < MAXLINES) snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s", text);
}

static void on_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    (void)msg;
    seen_t *s = user;
    s->got++;
}

/* The first logged line that starts with prefix, or NULL. */
static const char *line_with(const seen_t *s, const char *prefix)
{
    for (int i = 0; i < s->n; i++)
        if (strncmp(s->lines[i], prefix, strlen(prefix)) == 0) return s->lines[i];
    return NULL;
}

static uint16_t port_of(sip_transport_t *tp, size_t i)
{
    sip_netinfo_t ni;
    assert_int_equal(sip_transport_listener_info(tp, i, &ni), 0);
    return ni.local_port;
}

static void transport_logs_ipv6_in_brackets(void **state)
{
    (void)state;
    long live = test_alloc_live();
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    seen_t s = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_DEBUG, on_log, &s, NULL), 0);
    sip_loop_set_trace(loop, 1);
    sip_transport_t *a, *b;
    assert_int_equal(sip_transport_create(&a, loop, NULL), 0);
    assert_int_equal(sip_transport_create(&b, loop, NULL), 0);
    assert_true(sip_transport_listen(a, "udp:[::1]:0") >= 0);
    assert_true(sip_transport_listen(b, "udp:[::1]:0") >= 0);
    assert_true(sip_transport_listen(b, "tcp:[::1]:0") >= 0);
    assert_int_equal(sip_transport_set_handler(b, on_msg, &s, NULL), 0);
    uint16_t pa = port_of(a, 0), pb = port_of(b, 0), pt = port_of(b, 1);
    char want[128];
    snprintf(want, sizeof(want), "listening on udp:[::1]:%u", pb);
    assert_non_null(line_with(&s, want));
    snprintf(want, sizeof(want), "listening on tcp:[::1]:%u", pt);
    assert_non_null(line_with(&s, want));

    /* A request over UDP: the trace names both ends with brackets. */
    char uri[64];
    snprintf(uri, sizeof(uri), "sip:uas@[::1]:%u", pb);
    sip_msg_t *m;
    assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
    assert_int_equal(sip_msg_add_header(m, "Via", "SIP/2.0/UDP x.invalid;branch=z9hG4bKlog1"), 0);
    assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@example.com>"), 0);
    assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@example.com>;tag=1"), 0);
    assert_int_equal(sip_msg_add_header(m, "Call-ID", "log-1"), 0);
    assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
    sip_netinfo_t dst = {.transport = SIP_TRANSPORT_UDP, .remote_ip = "::1", .remote_port = pb};
    assert_int_equal(sip_transport_send(a, m, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &s.got, 1, 3000));
    char head[128];
    snprintf(head, sizeof(head), "sent %d bytes to udp:[::1]:%u (local [::1]:%u)\n",
             sip_msg_print(m, NULL, 0), pb, pa);
    assert_non_null(line_with(&s, head));
    snprintf(head, sizeof(head), "received %d bytes from udp:[::1]:%u (local [::1]:%u)\n",
             sip_msg_print(m, NULL, 0), pa, pb);
    assert_non_null(line_with(&s, head));

    /* Over TCP: the connection's lines too. */
    dst.transport = SIP_TRANSPORT_TCP;
    dst.remote_port = pt;
    assert_int_equal(sip_transport_send(a, m, &dst, NULL, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &s.got, 2, 3000));
    snprintf(want, sizeof(want), "tcp connection 1 with [::1]:%u ready", pt);
    assert_non_null(line_with(&s, want));

    /* A malformed datagram from a plain socket. */
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(pb)};
    inet_pton(AF_INET6, "::1", &to.sin6_addr);
    static const char junk[] = "OPTIONS sip:x SIP/2.0\r\nVia: \x01\r\n\r\n";
    assert_int_equal(sendto(fd, junk, sizeof(junk) - 1, 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)(sizeof(junk) - 1));
    struct sockaddr_in6 me;
    socklen_t mlen = sizeof(me);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &mlen), 0);
    snprintf(want, sizeof(want), "malformed message from udp:[::1]:%u: ", ntohs(me.sin6_port));
    int before = s.n;
    for (int i = 0; i < 30 && !line_with(&s, want); i++)
        test_pump(loop, 100);
    assert_true(s.n > before);
    assert_non_null(line_with(&s, want));
    close(fd);

    sip_msg_unref(m);
    sip_transport_unref(a);
    sip_transport_unref(b);
    sip_loop_unref(loop);
    assert_int_equal(test_alloc_live(), live);
}

static void transport_addr_str_forms(void **state)
{
    (void)state;
    char buf[SIP__ADDR_STRLEN];
    assert_string_equal(sip__addr_str(buf, SIP_TRANSPORT_UDP, "::1", 26260), "udp:[::1]:26260");
    assert_string_equal(sip__addr_str(buf, SIP_TRANSPORT_TLS, "127.0.0.1", 5061),
                        "tls:127.0.0.1:5061");
    assert_string_equal(sip__addr_str(buf, SIP_TRANSPORT_NONE, "2001:db8::1", 5060),
                        "[2001:db8::1]:5060");
    assert_string_equal(sip__addr_str(buf, SIP_TRANSPORT_WSS,
                                      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535),
                        "wss:[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transport_logs_ipv6_in_brackets),
        cmocka_unit_test(transport_addr_str_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
