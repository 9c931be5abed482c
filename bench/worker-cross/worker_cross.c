/* SPDX-License-Identifier: MIT */
/* worker-cross: what a message costs to cross from the worker that received it to the worker
 * that owns it (sip/worker.h): a hub on its own thread, two workers on this thread's loop, each
 * with a transport and a transaction layer attached. The same OPTIONS requests (only their
 * branch differs) are given to worker 0 as a socket would, half of them owned by worker 0
 * (their top Via read, then parsed and handed to its chain) and half by worker 1 (their top Via
 * read, sent over the workers' socket pair, read and parsed there, handed to worker 1's chain);
 * a tap first in
 * each chain takes them. Prints CPU and wall time per message of each kind and their difference,
 * the cost of the crossing.
 *
 *   worker-cross [MESSAGES]     default 100000 of each kind */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip.h"
#include "transport/raw.h"
#include "worker/worker_int.h"

#define BATCH 64

typedef struct {
    sip_loop_t *loop;
    sip_hub_t *hub;
    int fd[2];
    volatile int stop;
} hubside_t;

static void *hub_main(void *arg)
{
    hubside_t *h = arg;
    while (!h->stop)
        sip_loop_run_once(h->loop, 0), nanosleep(&(struct timespec){0, 100000}, NULL);
    return NULL;
}

static long taken[2];

static int tap(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    (void)msg;
    taken[(intptr_t)user]++;
    return 1;
}

static double now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int make(char *buf, size_t size, long i)
{
    return snprintf(buf, size,
                    "OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKcross%ld;rport\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:alice@example.com>;tag=1928301774\r\n"
                    "To: <sip:bob@example.com>\r\n"
                    "Call-ID: a84b4c76e66710@127.0.0.1\r\n"
                    "CSeq: 63104 OPTIONS\r\n"
                    "Contact: <sip:alice@127.0.0.1:5070>\r\n"
                    "Accept: application/sdp\r\n"
                    "Content-Length: 0\r\n\r\n",
                    i);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    hubside_t hs = {0};
    sip_loop_t *wl;
    sip_loop_create(&hs.loop);
    sip_loop_create(&wl);
    sip_hub_opts_t ho;
    sip_hub_opts_init(&ho);
    ho.workers = 2;
    if (sip_hub_create(&hs.hub, hs.loop, &ho) || sip_hub_link(hs.hub, 0, &hs.fd[0]) ||
        sip_hub_link(hs.hub, 1, &hs.fd[1])) {
        fprintf(stderr, "hub\n");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, hub_main, &hs);
    sip_worker_t *w[2];
    sip_transport_t *tp[2];
    sip_txn_layer_t *layer[2];
    for (int k = 0; k < 2; k++) {
        sip_worker_opts_t wo;
        sip_worker_opts_init(&wo);
        wo.index = (unsigned)k;
        wo.count = 2;
        wo.fd = hs.fd[k];
        if (sip_worker_create(&w[k], wl, &wo)) {
            fprintf(stderr, "worker %d\n", k);
            return 1;
        }
    }
    for (int i = 0; i < 100; i++)
        sip_loop_run_once(wl, 0), nanosleep(&(struct timespec){0, 1000000}, NULL);
    for (int k = 0; k < 2; k++) {
        sip_transport_create(&tp[k], wl, NULL);
        sip_transport_listen(tp[k], "udp:127.0.0.1:0");
        sip_txn_layer_create(&layer[k], tp[k], NULL);
        sip_transport_add_handler(tp[k], SIP_HANDLER_PRIO_FIRST, tap, (void *)(intptr_t)k, NULL);
        if (sip_worker_attach(w[k], tp[k], layer[k])) {
            fprintf(stderr, "attach %d\n", k);
            return 1;
        }
    }
    /* The requests of each owner. */
    char **msgs[2];
    size_t *lens[2];
    long have[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        msgs[k] = malloc((size_t)n * sizeof(char *));
        lens[k] = malloc((size_t)n * sizeof(size_t));
    }
    for (long i = 0; have[0] < n || have[1] < n; i++) {
        char buf[1024];
        int len = make(buf, sizeof(buf), i);
        int o = sip__worker_owner(w[0], buf, (size_t)len);
        if (have[o] >= n) continue;
        msgs[o][have[o]] = strdup(buf);
        lens[o][have[o]++] = (size_t)len;
    }
    sip_netinfo_t ni = {0};
    ni.transport = SIP_TRANSPORT_UDP;
    strcpy(ni.local_ip, "127.0.0.1");
    ni.local_port = 5060;
    strcpy(ni.remote_ip, "127.0.0.1");
    ni.remote_port = 5070;
    double cpu[2], wall[2];
    for (int o = 0; o < 2; o++) {
        taken[0] = taken[1] = 0;
        double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i += BATCH) {
            long end = i + BATCH < n ? i + BATCH : n;
            for (long j = i; j < end; j++)
                sip__transport_receive(tp[0], &ni, msgs[o][j], lens[o][j], 0);
            while (taken[o] < end)
                sip_loop_run_once(wl, 0);
        }
        cpu[o] = (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n;
        wall[o] = (now_ns(CLOCK_MONOTONIC) - t0) / (double)n;
        if (taken[o] != n || taken[!o]) fprintf(stderr, "lost messages\n");
    }
    printf("local:   %.0f ns cpu, %.0f ns wall per message (scan, parse, deliver)\n", cpu[0],
           wall[0]);
    printf("crossed: %.0f ns cpu, %.0f ns wall per message (scan, pair, parse, "
           "deliver)\n",
           cpu[1], wall[1]);
    printf("crossing: %.0f ns cpu, %.0f ns wall per message\n", cpu[1] - cpu[0], wall[1] - wall[0]);
    for (int k = 0; k < 2; k++) {
        for (long i = 0; i < n; i++)
            free(msgs[k][i]);
        free(msgs[k]);
        free(lens[k]);
        sip_txn_layer_unref(layer[k]);
        sip_transport_unref(tp[k]);
        sip_worker_unref(w[k]);
    }
    hs.stop = 1;
    pthread_join(th, NULL);
    sip_hub_unref(hs.hub);
    sip_loop_close(hs.loop);
    sip_loop_unref(hs.loop);
    sip_loop_close(wl);
    sip_loop_unref(wl);
    return 0;
}
