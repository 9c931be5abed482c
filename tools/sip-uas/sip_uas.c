/* SPDX-License-Identifier: MIT */
/* sip-uas: answers SIP requests on the listening points given (a test peer and benchmark
 * target). */
#include <getopt.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sip/sip.h>
#include <uv.h>

#define MAX_LISTEN 16

typedef struct {
    sip_transport_t *tp;
    int verbose;
    unsigned long requests;
    uint64_t secret; /* keys the To tags */
} uas_t;

static uint64_t fnv1a(uint64_t h, sip_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A stateless UAS gives every retransmission of a request the same To tag (RFC 3261 §8.2.7),
 * so the tag is a keyed hash of what identifies the request. */
static void make_tag(const uas_t *u, const sip_msg_t *req, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = 0xcbf29ce484222325ULL ^ u->secret;
    const sip_addr_t *from = sip_msg_get_from(req);
    const sip_via_t *via = sip_msg_get_via(req);
    const sip_cseq_t *cseq = sip_msg_get_cseq(req);
    h = fnv1a(h, sip_msg_get_call_id(req));
    if (from) h = fnv1a(h, from->tag);
    if (via) h = fnv1a(h, via->branch);
    if (cseq) h ^= cseq->seq;
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
    for (int i = 0; i < 16; i++) out[i] = hex[(h >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sip-uas --listen SPEC [--listen SPEC ...] [options]\n"
            "\n"
            "Answers SIP requests: OPTIONS with 200 OK, anything else with 501 Not Implemented\n"
            "(ACK is absorbed). Runs until SIGINT or SIGTERM.\n"
            "\n"
            "  -l, --listen SPEC     listening point: udp:127.0.0.1:5062, tcp:[::1]:5062,\n"
            "                        tls:127.0.0.1:5063, ws:127.0.0.1:8080, wss:127.0.0.1:8443\n"
            "      --stateless       answer each request statelessly (RFC 3261 §8.2.7); until\n"
            "                        the transaction layer lands every answer is stateless\n"
            "      --tls-cert FILE   PEM certificate chain for tls: and wss: listeners\n"
            "      --tls-key FILE    PEM private key for them\n"
            "      --trace           log every message sent and received\n"
            "  -v, --verbose         print one line per received request\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 after a signal, 1 when a listening point cannot be opened,\n"
            "2 for a usage error.\n");
}

static void on_request(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    uas_t *u = user;
    if (!sip_msg_is_request(msg)) return;
    u->requests++;
    if (u->verbose) {
        const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
        sip_str_t m = sip_msg_get_method_str(msg), cid = sip_msg_get_call_id(msg);
        printf("%.*s from %s:%s:%u Call-ID %.*s\n", (int)m.len, m.ptr,
               sip_transport_param(ni->transport), ni->remote_ip, ni->remote_port, (int)cid.len,
               cid.ptr);
        fflush(stdout);
    }
    sip_method_t method = sip_msg_get_method(msg);
    if (method == SIP_METHOD_ACK) return;
    int status = method == SIP_METHOD_OPTIONS ? 200 : 501;
    sip_msg_t *rsp;
    char tag[17];
    make_tag(u, msg, tag);
    if (sip_msg_create_response(&rsp, msg, status, NULL, tag) != 0) return;
    if (status == 200) {
        /* RFC 3261 §11.2: what this UA supports. */
        sip_msg_add_header(rsp, "Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS");
        sip_msg_add_header(rsp, "Accept", "application/sdp");
    }
    int rc = sip_transport_send_response(tp, rsp);
    if (rc && u->verbose) fprintf(stderr, "sip-uas: cannot answer: %s\n", sip_strerror(rc));
    sip_msg_unref(rsp);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    sip_loop_stop(h->data);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'}, {"stateless", no_argument, NULL, 's'},
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"trace", no_argument, NULL, 't'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *listen[MAX_LISTEN];
    int nlisten = 0, trace = 0;
    uas_t uas = {0};
    sip_transport_opts_t opts;
    sip_transport_opts_init(&opts);
    int c;
    while ((c = getopt_long(argc, argv, "l:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "sip-uas: at most %d listening points\n", MAX_LISTEN);
                return 2;
            }
            listen[nlisten++] = optarg;
            break;
        case 's':
            break;
        case 'c':
            opts.tls_cert_file = optarg;
            break;
        case 'k':
            opts.tls_key_file = optarg;
            break;
        case 't':
            trace = 1;
            break;
        case 'v':
            uas.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || nlisten == 0) {
        usage(stderr);
        return 2;
    }
    if (getrandom(&uas.secret, sizeof(uas.secret), 0) != (ssize_t)sizeof(uas.secret)) {
        fprintf(stderr, "sip-uas: no random source\n");
        return 1;
    }
    /* A peer that resets a connection must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    sip_loop_t *loop;
    if (sip_loop_create(&loop) != 0) return 1;
    if (trace) {
        sip_loop_set_log_level(loop, SIP_LOG_INFO);
        sip_loop_set_trace(loop, 1);
    }
    int rc = sip_transport_create(&uas.tp, loop, &opts);
    if (rc) {
        fprintf(stderr, "sip-uas: %s\n", sip_strerror(rc));
        sip_loop_unref(loop);
        return 1;
    }
    for (int i = 0; i < nlisten; i++) {
        rc = sip_transport_listen(uas.tp, listen[i]);
        if (rc < 0) {
            fprintf(stderr, "sip-uas: cannot listen on %s: %s\n", listen[i], sip_strerror(rc));
            sip_transport_unref(uas.tp);
            sip_loop_unref(loop);
            return 1;
        }
        if (uas.verbose) {
            sip_netinfo_t ni;
            sip_transport_listener_info(uas.tp, (size_t)rc, &ni);
            printf("listening on %s:%s:%u\n", sip_transport_param(ni.transport), ni.local_ip,
                   ni.local_port);
            fflush(stdout);
        }
    }
    sip_transport_set_handler(uas.tp, on_request, &uas, NULL);
    uv_signal_t sigint, sigterm;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    uv_signal_init(uv, &sigint);
    uv_signal_init(uv, &sigterm);
    sigint.data = sigterm.data = loop;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    sip_loop_run(loop);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    if (uas.verbose) printf("%lu requests\n", uas.requests);
    sip_transport_unref(uas.tp);
    sip_loop_unref(loop);
    return 0;
}
