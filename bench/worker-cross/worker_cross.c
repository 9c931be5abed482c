/* SPDX-License-Identifier: MIT */
/* worker-cross: what a message costs to cross from the worker that received it to the worker
 * that owns it (sip/worker.h): a hub on its own thread, two workers on this thread's loop, each
 * with a transport and a transaction layer attached. The same OPTIONS requests (only their
 * branch and Call-ID differ) are given to worker 0 as a socket would, half of them owned by
 * worker 0 (their Call-ID read, then parsed and handed to its chain) and half by worker 1 (their
 * Call-ID read, sent over the workers' socket pair, read and parsed there, handed to worker 1's
 * chain);
 * a tap first in
 * each chain takes them. Prints CPU and wall time per message of each kind and their difference,
 * the cost of the crossing.
 *
 * With "procs", worker 1 runs in a child process (on the other core, as sipd's workers do): the
 * CPU of each side per crossing message, wake-ups and socket work included.
 *
 *   worker-cross [MESSAGES] [procs]     default 100000 of each kind */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sip/sip.h"
#include "transport/raw.h"
#include "transport/transport_int.h"
#include "worker/worker_int.h"

/* Messages per received batch (a recvmmsg() of udp.c takes up to 16). */
#define BATCH 16

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
                    "Call-ID: a84b4c76e66710.%ld@127.0.0.1\r\n"
                    "CSeq: 63104 OPTIONS\r\n"
                    "Contact: <sip:alice@127.0.0.1:5070>\r\n"
                    "Accept: application/sdp\r\n"
                    "Content-Length: 0\r\n\r\n",
                    i, i);
}

static void attach_tap(sip_loop_t *wl, sip_worker_t *w, int k, sip_transport_t **tp,
                       sip_txn_layer_t **layer)
{
    sip_transport_create(tp, wl, NULL);
    sip_transport_listen(*tp, "udp:127.0.0.1:0");
    sip_txn_layer_create(layer, *tp, NULL);
    sip_transport_add_handler(*tp, SIP_HANDLER_PRIO_FIRST, tap, (void *)(intptr_t)k, NULL);
    if (sip_worker_attach(w, *tp, *layer)) {
        fprintf(stderr, "attach %d\n", k);
        exit(1);
    }
}

static sip_worker_t *start(sip_loop_t *wl, int k, int fd)
{
    sip_worker_opts_t wo;
    sip_worker_opts_init(&wo);
    wo.index = (unsigned)k;
    wo.count = 2;
    wo.fd = fd;
    sip_worker_t *w;
    if (sip_worker_create(&w, wl, &wo)) {
        fprintf(stderr, "worker %d\n", k);
        exit(1);
    }
    return w;
}

/* Worker 1 in a child process: the CPU of each side per message that crosses. */
static int run_procs(long n)
{
    hubside_t hs = {0};
    sip_loop_create(&hs.loop);
    sip_hub_opts_t ho;
    sip_hub_opts_init(&ho);
    ho.workers = 2;
    if (sip_hub_create(&hs.hub, hs.loop, &ho) || sip_hub_link(hs.hub, 0, &hs.fd[0]) ||
        sip_hub_link(hs.hub, 1, &hs.fd[1]))
        return 1;
    int rp[2];
    if (pipe(rp)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(hs.fd[0]);
        close(rp[0]);
        sip_loop_t *l;
        sip_loop_create(&l);
        sip_worker_t *w = start(l, 1, hs.fd[1]);
        sip_transport_t *tp;
        sip_txn_layer_t *layer;
        attach_tap(l, w, 1, &tp, &layer);
        double c0 = 0;
        if (write(rp[1], &c0, sizeof(c0)) != sizeof(c0)) _exit(1);
        double t_end = now_ns(CLOCK_MONOTONIC) + 30e9;
        while (taken[1] < 1 && now_ns(CLOCK_MONOTONIC) < t_end)
            sip_loop_run_once(l, 1);
        c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
        while (taken[1] < n && now_ns(CLOCK_MONOTONIC) < t_end)
            sip_loop_run_once(l, 1);
        double per = (now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)(n - 1);
        if (taken[1] < n) per = -1;
        if (write(rp[1], &per, sizeof(per)) != sizeof(per)) _exit(1);
        _exit(0);
    }
    close(hs.fd[1]);
    close(rp[1]);
    pthread_t th;
    pthread_create(&th, NULL, hub_main, &hs);
    sip_loop_t *wl;
    sip_loop_create(&wl);
    sip_worker_t *w = start(wl, 0, hs.fd[0]);
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    attach_tap(wl, w, 0, &tp, &layer);
    double x;
    if (read(rp[0], &x, sizeof(x)) != sizeof(x)) return 1;
    for (int i = 0; i < 200; i++)
        sip_loop_run_once(wl, 0), nanosleep(&(struct timespec){0, 1000000}, NULL);
    char **msgs = malloc((size_t)n * sizeof(char *));
    size_t *lens = malloc((size_t)n * sizeof(size_t));
    long have = 0;
    for (long i = 0; have < n; i++) {
        char buf[1024];
        int len = make(buf, sizeof(buf), i);
        if (sip__worker_owner(w, buf, (size_t)len) != 1) continue;
        msgs[have] = strdup(buf);
        lens[have++] = (size_t)len;
    }
    sip_netinfo_t ni = {0};
    ni.transport = SIP_TRANSPORT_UDP;
    strcpy(ni.local_ip, "127.0.0.1");
    ni.local_port = 5060;
    strcpy(ni.remote_ip, "127.0.0.1");
    ni.remote_port = 5070;
    double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i += BATCH) {
        long end = i + BATCH < n ? i + BATCH : n;
        tp->worker.batch(tp->worker.ctx, 1);
        for (long j = i; j < end; j++)
            sip__transport_receive(tp, &ni, msgs[j], lens[j], 0);
        tp->worker.batch(tp->worker.ctx, 0);
        sip_loop_run_once(wl, 0);
    }
    double sent_cpu = (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n;
    double child;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0)
        sip_loop_run_once(wl, 0);
    double wall = (now_ns(CLOCK_MONOTONIC) - t0) / (double)n;
    if (read(rp[0], &child, sizeof(child)) != sizeof(child) || child < 0) {
        fprintf(stderr, "lost messages\n");
        return 1;
    }
    printf("sender:   %.0f ns cpu per message (scan, frame, send)\n", sent_cpu);
    printf("receiver: %.0f ns cpu per message (wake, receive, parse, deliver)\n", child);
    printf("wall:     %.0f ns per message, %.0f messages/s\n", wall, 1e9 / wall);
    for (long i = 0; i < n; i++)
        free(msgs[i]);
    free(msgs);
    free(lens);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_worker_unref(w);
    hs.stop = 1;
    pthread_join(th, NULL);
    sip_hub_unref(hs.hub);
    sip_loop_close(hs.loop);
    sip_loop_unref(hs.loop);
    sip_loop_close(wl);
    sip_loop_unref(wl);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (argc > 2 && !strcmp(argv[2], "procs")) return run_procs(n);
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
            /* A batch as one recvmmsg() gives it (udp.c). */
            tp[0]->worker.batch(tp[0]->worker.ctx, 1);
            for (long j = i; j < end; j++)
                sip__transport_receive(tp[0], &ni, msgs[o][j], lens[o][j], 0);
            tp[0]->worker.batch(tp[0]->worker.ctx, 0);
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
