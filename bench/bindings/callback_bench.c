/* SPDX-License-Identifier: MIT */
/* callback-bench: the C cost of sip_loop_post and of running the posted callbacks, the reference
 * for the script figures of bench/bindings/micro_bench.{py,lua}. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/loop.h"

#define REPEATS 3

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned long calls;

static void noop(sip_loop_t *loop, void *user)
{
    (void)loop, (void)user;
    calls++;
}

static void noop_free(void *user)
{
    (void)user;
}

static void keep_cb(sip_timer_t *t, void *user)
{
    (void)t, (void)user;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n posts, then iterations until all ran; per-item post and run times in ns. */
static int measure(sip_loop_t *loop, unsigned long n, double *post_ns, double *run_ns)
{
    calls = 0;
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++)
        if (sip_loop_post(loop, noop, NULL, noop_free) != 0) return -1;
    double t1 = now_ns();
    for (int i = 0; i < 1000 && calls < n; i++)
        sip_loop_run_once(loop, 0);
    double t2 = now_ns();
    if (calls != n) return -1;
    *post_ns = (t1 - t0) / (double)n;
    *run_ns = (t2 - t1) / (double)n;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 1000 : 1000000;
    sip_loop_t *loop = NULL;
    sip_timer_t *keep = NULL;
    if (sip_loop_create(&loop) != 0) return 1;
    /* The posts' wake-up handle does not keep the loop alive; a far-off timer does. */
    if (sip_timer_start(&keep, loop, 3600000, 0, keep_cb, NULL, NULL) != 0) return 1;
    double posts[REPEATS], runs[REPEATS], p, r;
    if (measure(loop, 1000, &p, &r) != 0) return 1;
    for (int i = 0; i < REPEATS; i++)
        if (measure(loop, n, &posts[i], &runs[i]) != 0) {
            fprintf(stderr, "callback-bench: the posted callbacks did not all run\n");
            return 1;
        }
    qsort(posts, REPEATS, sizeof(posts[0]), cmp_double);
    qsort(runs, REPEATS, sizeof(runs[0]), cmp_double);
    printf("callback c core post %.1f\ncallback c core run %.1f\n", posts[REPEATS / 2],
           runs[REPEATS / 2]);
    sip_timer_stop(keep);
    sip_timer_unref(keep);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    return 0;
}
