/* SPDX-License-Identifier: MIT */
/* Where responses go by their top Via (RFC 3261 §18.2.2, RFC 3581 §4), and the stateless answer
 * to a malformed request (its To tag, its UDP destination), without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"
#include "transport/transport_int.h"

/* The top Via of a response carrying via. */
static sip_msg_t *with_via(const char *via)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "SIP/2.0 200 OK\r\nVia: %s\r\n\r\n", via);
    sip_msg_t *m;
    assert_int_equal(sip_msg_parse(&m, buf, (size_t)n, NULL), 0);
    assert_non_null(sip_msg_get_via(m));
    return m;
}

static void udp_dest(const char *via, const char *src_ip, uint16_t src_port, const char *want_ip,
                     uint16_t want_port)
{
    sip_msg_t *m = with_via(via);
    char ip[64];
    uint16_t port = 0;
    assert_int_equal(sip__via_udp_dest(sip_msg_get_via(m), src_ip, src_port, ip, sizeof(ip),
                                       &port),
                     0);
    assert_string_equal(ip, want_ip);
    assert_int_equal(port, want_port);
    sip_msg_unref(m);
}

static void transport_wire_udp_response_destination(void **state)
{
    (void)state;
    /* A stamped Via (§18.2.1): received, and the rport port when rport was asked for. */
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;received=192.0.2.1;rport=40000", NULL, 0,
             "192.0.2.1", 40000);
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;received=192.0.2.1", NULL, 0,
             "192.0.2.1", 5070);
    udp_dest("SIP/2.0/UDP h.example;branch=z9hG4bK1;received=192.0.2.1", NULL, 0, "192.0.2.1",
             5060);
    udp_dest("SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK1", NULL, 0, "192.0.2.9", 5070);
    udp_dest("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK1", NULL, 0, "2001:db8::9", 5070);
    /* RFC 3581 §4: rport only without maddr; with maddr, maddr and the sent-by port or 5060. */
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;maddr=239.0.0.1;received=192.0.2.1;"
             "rport=40000",
             NULL, 0, "239.0.0.1", 5070);
    udp_dest("SIP/2.0/UDP h.example;branch=z9hG4bK1;rport=40000;maddr=192.0.2.5", NULL, 0,
             "192.0.2.5", 5060);
    /* Not stamped (a malformed request's Via): the source address is received, the source port
     * is used only when rport is there. */
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1", "127.0.0.1", 41000, "127.0.0.1", 5070);
    udp_dest("SIP/2.0/UDP h.example;branch=z9hG4bK1", "127.0.0.1", 41000, "127.0.0.1", 5060);
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;rport", "127.0.0.1", 41000, "127.0.0.1",
             41000);
    /* ... and what the sender wrote there itself is not believed. */
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;received=192.0.2.66;rport=999",
             "127.0.0.1", 41000, "127.0.0.1", 41000);
    udp_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;received=192.0.2.66", "127.0.0.1", 41000,
             "127.0.0.1", 5070);
}

static const char *header_line(const char *msg, const char *name, char *out, size_t size)
{
    const char *p = strstr(msg, name);
    if (!p) return NULL;
    const char *e = strstr(p + 2, "\r\n");
    snprintf(out, size, "%.*s", (int)(e - p), p);
    return out;
}

/* The answer's To line for a request with this To line. */
static const char *answer_to(const char *to_line, char *out, size_t size)
{
    char req[1024], rsp[2048];
    int n = snprintf(req, sizeof(req),
                     "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKw\r\n"
                     "From: <sip:a@b>;tag=f1\r\n%s\r\nCall-ID: w1\r\nCSeq: x OPTIONS\r\n\r\n",
                     to_line);
    int r = sip__reply_malformed(rsp, sizeof(rsp), req, (size_t)n, 400, "Bad Request");
    assert_true(r > 0);
    rsp[r] = '\0';
    char name[16];
    snprintf(name, sizeof(name), "\r\n%.*s", (int)(strchr(to_line, ':') + 1 - to_line), to_line);
    const char *line = header_line(rsp, name, out, size);
    assert_non_null(line);
    return line + 2;
}

static void transport_wire_malformed_answer_to_tag(void **state)
{
    (void)state;
    char line[256];
    /* §8.2.6.2: a tag of the answer's own ... */
    const char *to = answer_to("To: <sip:x@y>", line, sizeof(line));
    assert_non_null(to);
    assert_int_equal(strncmp(to, "To: <sip:x@y>;tag=", 18), 0);
    assert_int_equal(strlen(to), 18 + 16);
    /* ... appended after trailing blanks are cut, ... */
    to = answer_to("To: <sip:x@y>  ", line, sizeof(line));
    assert_int_equal(strncmp(to, "To: <sip:x@y>;tag=", 18), 0);
    /* ... unless the To has one (any case, blanks around '='). */
    assert_string_equal(answer_to("To: <sip:x@y>;tag=abc", line, sizeof(line)),
                        "To: <sip:x@y>;tag=abc");
    assert_string_equal(answer_to("t: <sip:x@y> ; TAG = abc", line, sizeof(line)),
                        "t: <sip:x@y> ; TAG = abc");
    /* A ";tag=" inside the URI or a quoted display name is not the header's tag. */
    to = answer_to("To: \"a;tag=b\" <sip:x@y;tag=u>", line, sizeof(line));
    assert_int_equal(strncmp(to, "To: \"a;tag=b\" <sip:x@y;tag=u>;tag=", 34), 0);
    /* Two answers to one request get different tags. */
    char other[256];
    assert_string_not_equal(answer_to("To: <sip:x@y>", line, sizeof(line)),
                            answer_to("To: <sip:x@y>", other, sizeof(other)));
}

static void reply_dest(const char *via, const char *want_ip, uint16_t want_port, int want_rc)
{
    char req[1024], rsp[2048];
    int n = snprintf(req, sizeof(req),
                     "OPTIONS sip:x@y SIP/2.0\r\nVia: %s\r\nFrom: <sip:a@b>;tag=f1\r\n"
                     "To: <sip:x@y>\r\nCall-ID: w1\r\nCSeq: x OPTIONS\r\n\r\n",
                     via);
    int r = sip__reply_malformed(rsp, sizeof(rsp), req, (size_t)n, 400, "Bad Request");
    assert_true(r > 0);
    char ip[64];
    uint16_t port;
    assert_int_equal(sip__reply_udp_dest(rsp, (size_t)r, "127.0.0.1", 41000, ip, sizeof(ip),
                                         &port),
                     want_rc);
    assert_string_equal(ip, want_ip);
    assert_int_equal(port, want_port);
}

static void transport_wire_malformed_answer_udp_destination(void **state)
{
    (void)state;
    /* §18.2.2: the source address as received, the sent-by port ... */
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw", "127.0.0.1", 5070, 0);
    reply_dest("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKw", "127.0.0.1", 5060, 0);
    /* ... the source port with rport (RFC 3581 §4), maddr when there is one ... */
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw;rport", "127.0.0.1", 41000, 0);
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw;rport;maddr=127.0.0.2", "127.0.0.2",
               5070, 0);
    /* ... only the first Via counts ... */
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw, SIP/2.0/UDP o.example:5090",
               "127.0.0.1", 5070, 0);
    /* ... and the source when the Via does not parse, is not UDP, or names a host. */
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw;;", "127.0.0.1", 41000, SIP_ENOENT);
    reply_dest("SIP/2.0/TCP h.example:5070;branch=z9hG4bKw", "127.0.0.1", 41000, SIP_ENOENT);
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw;maddr=m.example", "127.0.0.1", 41000,
               SIP_ENOENT);
    reply_dest("SIP/2.0/UDP h.example:5070;branch=z9hG4bKw;maddr=[::1]", "127.0.0.1", 41000,
               SIP_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transport_wire_udp_response_destination),
        cmocka_unit_test(transport_wire_malformed_answer_to_tag),
        cmocka_unit_test(transport_wire_malformed_answer_udp_destination),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
