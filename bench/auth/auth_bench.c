/* SPDX-License-Identifier: MIT */
/* auth-bench: CPU per digest operation: a server's check of a REGISTER (SHA-256, qop auth, the
 * HA1 given by the lookup at once: nonce signature, response, replay table, the check object)
 * and a client's answer to a 401 (HA1 from the password, cnonce, the Authorization header).
 *
 * usage: auth-bench [checks]     (default 2,000,000; single-threaded, a few seconds)
 *
 * Every check must pass (each request has its own nonce count, as a client's would), every
 * answer must be accepted; the program exits 1 otherwise. It asserts no time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_int.h"
#include "sip/auth.h"

/* Checks are timed in batches of requests made just before, as a server checks a request it
 * has just parsed (still in the cache); each batch has its own nonce. */
#define BATCH 64

static const char request[] = "REGISTER sip:example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbench\r\n"
                              "Max-Forwards: 70\r\n"
                              "From: <sip:alice@example.com>;tag=a1\r\n"
                              "To: <sip:alice@example.com>\r\n"
                              "Call-ID: bench@192.0.2.10\r\n"
                              "CSeq: 1 REGISTER\r\n"
                              "Contact: <sip:alice@192.0.2.10:5060>\r\n"
                              "Expires: 600\r\n"
                              "Content-Length: 0\r\n\r\n";

static sip_msg_t *req(void)
{
    sip_msg_t *m;
    if (sip_msg_parse(&m, request, sizeof(request) - 1, NULL) != 0) exit(1);
    return m;
}

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The lookup of a registrar whose user table holds HA1s: answered at once. */
static const char *ha1_hex;
static long ok_count;

static void on_check(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    (void)user;
    if (ev == SIP_AUTH_EVENT_LOOKUP)
        sip_auth_query_answer_ha1(q, ha1_hex);
    else if (sip_auth_query_get_verdict(q) == SIP_AUTH_OK)
        ok_count++;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 2000000;
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv;
    sip_auth_client_t *ac;
    static sip_msg_t *batch[BATCH];

    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.algorithms = SIP_AUTH_SHA256;
    o.secret = "bench secret";
    o.replay_slots = 1 << 16; /* one nonce per batch, each remembered */
    if (sip_auth_server_create(&srv, &o) != 0 || sip_auth_client_create(&ac) != 0) return 1;
    static char ha1[SIP__AUTH_HEX_MAX];
    sip_auth_cred_t c = {.realm = "example.com", .user = "alice", .password = "secret"};
    if (sip_auth_client_add(ac, &c) != 0) return 1;

    sip_msg_t *sent = req(), *rsp;
    if (sip_msg_create_response(&rsp, sent, 401, NULL, NULL) != 0 ||
        sip_auth_server_challenge(srv, rsp, 0) != 0)
        return 1;

    /* ---- the client's answer to a 401 ---- */
    long answers = total / 10 > 0 ? total / 10 : 1;
    double client_s = 0;
    for (long done = 0; done < answers;) {
        long n = answers - done < BATCH ? answers - done : BATCH;
        for (long i = 0; i < n; i++)
            batch[i] = req();
        double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        for (long i = 0; i < n; i++)
            if (sip_auth_client_authorize(ac, batch[i], sent, rsp) != 0) return 1;
        client_s += now_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
        for (long i = 0; i < n; i++)
            sip_msg_unref(batch[i]);
        done += n;
    }

    /* ---- the server's check ---- */
    /* HA1 = SHA-256(alice:example.com:secret), as a registrar stores it. */
    if (sip__auth_ha1(NULL, SIP_AUTH_SHA256, SIP_STR("alice"), SIP_STR("example.com"),
                      SIP_STR("secret"), ha1) != 64)
        return 1;
    ha1_hex = ha1;
    double cpu = 0, wall = 0;
    long done = 0;
    while (done < total) {
        long n = total - done < BATCH ? total - done : BATCH;
        /* A fresh nonce per batch, then counts 1..n on it (outside the timing). */
        sip_msg_t *next = req();
        sip_msg_unref(rsp);
        if (sip_msg_create_response(&rsp, sent, 401, NULL, NULL) != 0 ||
            sip_auth_server_challenge(srv, rsp, 0) != 0 ||
            sip_auth_client_authorize(ac, next, sent, rsp) != 0)
            return 1;
        batch[0] = next;
        for (long i = 1; i < n; i++) {
            batch[i] = req();
            if (sip_auth_client_prepare(ac, batch[i]) != 0) return 1;
        }
        double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i++)
            if (sip_auth_server_check(NULL, srv, batch[i], on_check, NULL, NULL) != 0) return 1;
        cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        wall += now_s(CLOCK_MONOTONIC) - w0;
        for (long i = 0; i < n; i++)
            sip_msg_unref(batch[i]);
        done += n;
    }
    if (ok_count != total) {
        fprintf(stderr, "auth-bench: %ld of %ld checks passed\n", ok_count, total);
        return 1;
    }
    printf("auth-bench: server check, SHA-256, qop auth, HA1 given: %.0f ns CPU per check "
           "(%.0f ns wall; %ld checks)\n",
           cpu / (double)total * 1e9, wall / (double)total * 1e9, total);
    printf("auth-bench: client answer to a 401, SHA-256 from the password: %.0f ns CPU per "
           "answer (%ld answers)\n",
           client_s / (double)answers * 1e9, answers);
    sip_msg_unref(rsp);
    sip_msg_unref(sent);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
    return 0;
}
