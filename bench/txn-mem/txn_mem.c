/* SPDX-License-Identifier: MIT */
/* txn-mem: heap bytes per idle server transaction. Feeds N calls' INVITEs (with an SDP offer) and
 * N OPTIONS to a transaction layer on a UDP transport, answers them as a UAS does (INVITE: 180,
 * then 200 with an SDP answer; OPTIONS: 200), and measures the heap in use (glibc mallinfo2)
 * while the transactions wait in Accepted (timer L) and Completed (timer J): everything an idle
 * transaction keeps (its matching key and, in Completed, the last response in wire form; see
 * docs/TRANSACTIONS.md, Memory), divided by their number. */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sip/sip.h>

static const char sdp_offer[] = "v=0\r\n"
                                "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
                                "s=-\r\n"
                                "c=IN IP4 127.0.0.1\r\n"
                                "t=0 0\r\n"
                                "m=audio 6000 RTP/AVP 0\r\n"
                                "a=rtpmap:0 PCMU/8000\r\n";

static const char sdp_answer[] = "v=0\r\n"
                                 "o=- 1 1 IN IP4 127.0.0.1\r\n"
                                 "s=-\r\n"
                                 "c=IN IP4 127.0.0.1\r\n"
                                 "t=0 0\r\n"
                                 "m=audio 7000 RTP/AVP 0\r\n"
                                 "a=rtpmap:0 PCMU/8000\r\n";

typedef struct {
    unsigned long answered;
    unsigned long next_id;
    int sink_port;
} bench_t;

static void on_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    bench_t *b = user;
    (void)layer;
    if (!txn) return;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        sip_msg_t *rsp;
        sip_txn_respond(txn, 180, NULL);
        /* The 180 is provisional: the transaction still has it (and the request). */
        const sip_addr_t *to = sip_msg_get_to(sip_txn_get_response(txn));
        char tag[64];
        snprintf(tag, sizeof(tag), "%.*s", (int)to->tag.len, to->tag.ptr);
        if (sip_msg_create_response(&rsp, req, 200, NULL, tag) != 0) return;
        sip_msg_add_header(rsp, "Contact", "<sip:uas@127.0.0.1:5062>");
        sip_msg_set_body(rsp, "application/sdp", sdp_answer, strlen(sdp_answer));
        sip_txn_reply(txn, rsp);
        sip_msg_unref(rsp);
    } else {
        sip_txn_respond(txn, 200, NULL);
    }
    b->answered++;
}

static int make_request(sip_msg_t **out, const char *method, unsigned long i, int sink_port)
{
    char buf[2048];
    int body = strcmp(method, "INVITE") == 0;
    int n = snprintf(buf, sizeof(buf),
                     "%s sip:service@127.0.0.1:5062 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%lu\r\n"
                     "From: sipp <sip:sipp@127.0.0.1:%d>;tag=%lu-tag\r\n"
                     "To: service <sip:service@127.0.0.1:5062>\r\n"
                     "Call-ID: %lu-%s@127.0.0.1\r\n"
                     "CSeq: 1 %s\r\n"
                     "Contact: <sip:sipp@127.0.0.1:%d>\r\n"
                     "Max-Forwards: 70\r\n"
                     "Subject: Performance Test\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, sink_port, method, i, sink_port, i, i, method, method, sink_port,
                     body ? "Content-Type: application/sdp\r\n" : "",
                     body ? strlen(sdp_offer) : (size_t)0, body ? sdp_offer : "");
    sip_parse_error_t err;
    int rc = sip_msg_parse(out, buf, (size_t)n, &err);
    if (rc) return rc;
    sip_netinfo_t ni = {.transport = SIP_TRANSPORT_UDP, .local_port = 5062,
                        .remote_port = (uint16_t)sink_port};
    strcpy(ni.local_ip, "127.0.0.1");
    strcpy(ni.remote_ip, "127.0.0.1");
    return sip_msg_set_netinfo(*out, &ni);
}

static size_t heap_in_use(void)
{
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Lets the transport write out what was queued. */
static void pump(sip_loop_t *loop)
{
    for (int i = 0; i < 50; i++) sip_loop_run_once(loop, 0);
}

static int measure(sip_loop_t *loop, sip_txn_layer_t *layer, bench_t *b, const char *method,
                   unsigned long n, double *per_txn)
{
    size_t before_count = sip_txn_layer_count(layer);
    size_t before = heap_in_use();
    for (unsigned long i = 0; i < n; i++) {
        sip_msg_t *req;
        /* Each round its own Call-IDs: the same one again would be a retransmission. */
        if (make_request(&req, method, b->next_id++, b->sink_port) != 0) return -1;
        sip_txn_layer_receive(layer, req);
        sip_msg_unref(req);
        if (i % 256 == 255) pump(loop);
    }
    pump(loop);
    size_t after = heap_in_use();
    size_t live = sip_txn_layer_count(layer) - before_count;
    if (live != n) {
        fprintf(stderr, "txn-mem: %zu of %lu %s transactions alive\n", live, n, method);
        return -1;
    }
    *per_txn = ((double)after - (double)before) / (double)n;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n = 20000;
    if (argc > 1) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*end || n == 0 || n > 10000000) {
            fprintf(stderr, "usage: txn-mem [TRANSACTIONS]\n");
            return 2;
        }
    }
    /* Where the answers go: a socket nobody reads (its queue fills and the kernel drops). */
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    if (sink < 0 || bind(sink, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(sink, (struct sockaddr *)&sa, &salen) != 0) {
        perror("txn-mem: sink socket");
        return 1;
    }
    bench_t b = {.sink_port = ntohs(sa.sin_port)};
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    if (sip_loop_create(&loop) || sip_transport_create(&tp, loop, NULL) ||
        sip_transport_listen(tp, "udp:127.0.0.1:0") < 0 ||
        sip_txn_layer_create(&layer, tp, NULL) ||
        sip_txn_layer_set_request_handler(layer, on_request, &b, NULL)) {
        fprintf(stderr, "txn-mem: cannot set up the loop, transport and layer\n");
        return 1;
    }
    double invite, options;
    /* One round to let the allocator and the layer's tables reach their working size. */
    if (measure(loop, layer, &b, "INVITE", n / 10 + 1, &invite)) return 1;
    if (measure(loop, layer, &b, "INVITE", n, &invite) ||
        measure(loop, layer, &b, "OPTIONS", n, &options)) return 1;
    printf("INVITE server transaction, Accepted (200 with SDP sent): %.0f bytes\n", invite);
    printf("non-INVITE server transaction, Completed (200 sent): %.0f bytes\n", options);
    printf("%lu transactions of each kind, %lu answered\n", n, b.answered);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(loop);
    close(sink);
    return 0;
}
