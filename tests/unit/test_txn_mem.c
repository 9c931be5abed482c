/* SPDX-License-Identifier: MIT */
/* The heap an idle transaction keeps (its key and the wire form of what it may resend), measured
 * over 2000 of each kind on a real UDP transport: under 2 KiB each. */
#include <arpa/inet.h>
#include <malloc.h>
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

#if defined(__SANITIZE_ADDRESS__)
#define TXN_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TXN_MEM_ASAN 1
#endif
#endif
#ifdef TXN_MEM_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, not installed with every
 * compiler). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "sip/sip.h"

enum { N = 2000, LIMIT = 2048 };

/* Bytes the program has allocated and not freed (ASan keeps its own heap, glibc's arena is
 * unused then). */
static size_t heap_in_use(void)
{
#ifdef TXN_MEM_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

static const char sdp[] = "v=0\r\n"
                          "o=- 1 1 IN IP4 127.0.0.1\r\n"
                          "s=-\r\n"
                          "c=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\n"
                          "m=audio 7000 RTP/AVP 0\r\n"
                          "a=rtpmap:0 PCMU/8000\r\n";

static sip_loop_t *loop;
static sip_transport_t *tp;
static sip_txn_layer_t *layer;
static int sink = -1;
static sip_netinfo_t sink_ni; /* the peer: a socket nobody reads */
static unsigned long next_id;
static int answered;
static sip_txn_state_t last_state; /* of the last server transaction, once answered */

/* A UAS: INVITE gets 180 then 200 with SDP (or 486 for Call-IDs of "busy"); others 200. */
static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)user;
    if (!txn) return;
    answered++;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        last_state = sip_txn_get_state(txn);
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 180, NULL), 0);
    if (memcmp(sip_msg_get_call_id(req).ptr, "busy", 4) == 0) {
        assert_int_equal(sip_txn_respond(txn, 486, NULL), 0);
        last_state = sip_txn_get_state(txn);
        return;
    }
    const sip_addr_t *to = sip_msg_get_to(sip_txn_get_response(txn));
    char tag[64];
    snprintf(tag, sizeof(tag), "%.*s", (int)to->tag.len, to->tag.ptr);
    sip_msg_t *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, req, 200, NULL, tag), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Contact", "<sip:uas@127.0.0.1:5062>"), 0);
    assert_int_equal(sip_msg_set_body(rsp, "application/sdp", sdp, strlen(sdp)), 0);
    assert_int_equal(sip_txn_reply(txn, rsp), 0);
    sip_msg_unref(rsp);
    last_state = sip_txn_get_state(txn);
}

static sip_msg_t *make_request(const char *method, const char *prefix, unsigned long i)
{
    char buf[2048];
    int body = strcmp(method, "INVITE") == 0;
    int n = snprintf(buf, sizeof(buf),
                     "%s sip:service@127.0.0.1:5062 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-%s-%lu\r\n"
                     "From: sipp <sip:sipp@127.0.0.1:%u>;tag=%lu-tag\r\n"
                     "To: service <sip:service@127.0.0.1:5062>\r\n"
                     "Call-ID: %s-%lu@127.0.0.1\r\n"
                     "CSeq: 1 %s\r\n"
                     "Contact: <sip:sipp@127.0.0.1:%u>\r\n"
                     "Max-Forwards: 70\r\n"
                     "Subject: Performance Test\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, sink_ni.remote_port, method, i, sink_ni.remote_port, i, prefix, i,
                     method, sink_ni.remote_port,
                     body ? "Content-Type: application/sdp\r\n" : "", body ? strlen(sdp) : 0,
                     body ? sdp : "");
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, buf, (size_t)n, &err), 0);
    sip_netinfo_t ni = sink_ni;
    assert_int_equal(sip_msg_set_netinfo(m, &ni), 0);
    return m;
}

static void pump(void)
{
    for (int i = 0; i < 20; i++) sip_loop_run_once(loop, 0);
}

/* Heap bytes per transaction of n received requests, answered by on_request. */
static double per_server_txn(const char *method, const char *prefix, sip_txn_state_t want)
{
    size_t count = sip_txn_layer_count(layer);
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++) {
        sip_msg_t *req = make_request(method, prefix, next_id++);
        assert_int_equal(sip_txn_layer_receive(layer, req), 0);
        sip_msg_unref(req);
        if (i % 256 == 255) pump();
    }
    pump();
    size_t after = heap_in_use();
    assert_int_equal(sip_txn_layer_count(layer) - count, N);
    assert_int_equal(last_state, want);
    return ((double)after - (double)before) / N;
}

static sip_txn_t *clients[N];

/* Heap bytes per client transaction of n requests sent, each answered with status. */
static double per_client_txn(const char *method, int status, sip_txn_state_t want)
{
    size_t count = sip_txn_layer_count(layer);
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++) {
        sip_msg_t *req = make_request(method, "client", next_id++);
        /* The layer keeps the request's branch; the transport writes its own sent-by. */
        assert_int_equal(
            sip_txn_client_create(&clients[i], layer, req, &sink_ni, NULL, NULL, NULL, NULL), 0);
        sip_msg_t *rsp;
        assert_int_equal(sip_msg_create_response(&rsp, req, status, NULL, "peer"), 0);
        sip_msg_unref(req);
        if (i % 256 == 255) pump();
        assert_int_equal(sip_txn_layer_receive(layer, rsp), 0);
        sip_msg_unref(rsp);
        assert_int_equal(sip_txn_get_state(clients[i]), want);
        assert_null(sip_txn_get_request(clients[i]));
        sip_txn_unref(clients[i]);
    }
    pump();
    size_t after = heap_in_use();
    assert_int_equal(sip_txn_layer_count(layer) - count, N);
    return ((double)after - (double)before) / N;
}

static void txn_mem_idle_transactions_under_2k(void **state)
{
    (void)state;
    /* A first round lets the allocator, the transport's buffers and the layer's tables reach
     * their working size. */
    per_server_txn("INVITE", "warm", SIP_TXN_ACCEPTED);
    double accepted = per_server_txn("INVITE", "call", SIP_TXN_ACCEPTED);
    double completed_inv = per_server_txn("INVITE", "busy", SIP_TXN_COMPLETED);
    double completed = per_server_txn("OPTIONS", "opt", SIP_TXN_COMPLETED);
    double cli_completed_inv = per_client_txn("INVITE", 486, SIP_TXN_COMPLETED);
    double cli_accepted = per_client_txn("INVITE", 200, SIP_TXN_ACCEPTED);
    double cli_completed = per_client_txn("OPTIONS", 200, SIP_TXN_COMPLETED);
    print_message("idle bytes per transaction: server INVITE Accepted %.0f, INVITE Completed "
                  "%.0f, non-INVITE Completed %.0f; client INVITE Completed %.0f, INVITE "
                  "Accepted %.0f, non-INVITE Completed %.0f\n",
                  accepted, completed_inv, completed, cli_completed_inv, cli_accepted,
                  cli_completed);
    assert_int_equal(answered, 4 * N);
    assert_true(accepted > 0 && accepted < LIMIT);
    assert_true(completed_inv > 0 && completed_inv < LIMIT);
    assert_true(completed > 0 && completed < LIMIT);
    assert_true(cli_completed_inv > 0 && cli_completed_inv < LIMIT);
    assert_true(cli_accepted > 0 && cli_accepted < LIMIT);
    assert_true(cli_completed > 0 && cli_completed < LIMIT);
}

static int setup(void **state)
{
    (void)state;
    answered = 0;
    next_id = 0;
    sink = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    assert_true(sink >= 0);
    assert_int_equal(bind(sink, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(sink, (struct sockaddr *)&sa, &salen), 0);
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    assert_int_equal(sip_transport_listen(tp, "udp:127.0.0.1:0"), 0);
    assert_int_equal(sip_transport_listener_info(tp, 0, &sink_ni), 0);
    strcpy(sink_ni.remote_ip, "127.0.0.1");
    sink_ni.remote_port = ntohs(sa.sin_port);
    assert_int_equal(sip_txn_layer_create(&layer, tp, NULL), 0);
    assert_int_equal(sip_txn_layer_set_request_handler(layer, on_request, NULL, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    close(sink);
    return 0; /* the harness checks that nothing is left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(txn_mem_idle_transactions_under_2k, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
