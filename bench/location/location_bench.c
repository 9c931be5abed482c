/* SPDX-License-Identifier: MIT */
/* The location service at scale: fills N bindings (default 1,000,000) in memory and measures
 * lookups of a Request-URI (parse + lookup_now + unref: a proxy's fast path), the resident
 * memory, and, with an SQLite file, writing them through the batched store and loading them
 * back at create. Prints a table. Usage: location-bench [N] [--no-sqlite] [--dir DIR] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sip/sip.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* VmRSS from /proc/self/status, in KiB. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A binding as a phone behind NAT registers it. */
static void fill(sip_binding_t *b, char *aor, char *contact, char *call_id, char *received,
                 size_t i, int64_t now)
{
    snprintf(aor, 64, "sip:user%07zu@example.com", i);
    snprintf(contact, 96, "sip:user%07zu@10.%zu.%zu.%zu:5060;transport=udp", i, (i >> 16) & 255,
             (i >> 8) & 255, i & 255);
    snprintf(call_id, 64, "%08zx-%04zx-4c1e-9a3b-%012zx", i * 2654435761u, i & 0xffff, i);
    snprintf(received, 64, "sip:198.51.%zu.%zu:%zu;transport=udp", (i >> 8) & 255, i & 255,
             1024 + i % 60000);
    memset(b, 0, sizeof(*b));
    b->aor = aor;
    b->contact = contact;
    b->expires = now + 3600 + (int64_t)(i % 600);
    b->q = -1;
    b->call_id = call_id;
    b->cseq = (uint32_t)(i % 1000) + 1;
    b->received = received;
    b->socket = "udp:203.0.113.1:5060";
    b->user_agent = "Linphone/5.2.0 (belle-sip/5.2.0)";
    b->updated = now;
}

static size_t acked;

static void on_done(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    (void)user;
    if (status == 0) acked++;
}

static int put_all(sip_location_t *loc, sip_loop_t *loop, size_t n, int64_t now)
{
    char aor[64], contact[96], call_id[64], received[64];
    sip_binding_t b;
    for (size_t i = 0; i < n; i++) {
        fill(&b, aor, contact, call_id, received, i, now);
        int rc = sip_location_put(loc, &b, on_done, NULL, NULL);
        if (rc < 0) {
            fprintf(stderr, "put %zu: %s\n", i, sip_strerror(rc));
            return rc;
        }
        if (loop && i % 256 == 255) sip_loop_run_once(loop, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int sqlite = 1;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-sqlite"))
            sqlite = 0;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else
            n = strtoul(argv[i], NULL, 10);
    }
    if (!n) n = 1;
    sip_loop_t *loop;
    sip_location_t *loc;
    if (sip_loop_create(&loop) < 0 || sip_location_create(&loc, loop, NULL) < 0) return 1;
    int64_t now = (int64_t)time(NULL);

    long rss0 = rss_kib();
    double t0 = now_s();
    if (put_all(loc, NULL, n, now) < 0) return 1;
    double fill_s = now_s() - t0;
    long rss1 = rss_kib();
    if (sip_location_count(loc) != n) {
        fprintf(stderr, "%zu bindings, %zu expected\n", sip_location_count(loc), n);
        return 1;
    }

    /* Lookups of random AORs, as Request-URIs with parameters, timed one by one. */
    size_t nl = n < 1000000 ? n : 1000000;
    uint64_t *ns = malloc(nl * sizeof(*ns));
    char uri[96];
    uint64_t seed = 88172645463325252ull, total = 0;
    size_t found = 0;
    for (size_t i = 0; i < nl; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        int len = snprintf(uri, sizeof(uri), "sip:user%07zu@example.com;transport=udp",
                           (size_t)(seed % n));
        uint64_t a = now_ns();
        sip_uri_t u;
        sip_bindings_t *set;
        if (sip_uri_parse(&u, uri, (size_t)len) < 0 || sip_location_lookup_now(&set, loc, &u) < 0)
            return 1;
        found += sip_bindings_count(set);
        sip_bindings_unref(set);
        ns[i] = now_ns() - a;
        total += ns[i];
    }
    qsort(ns, nl, sizeof(*ns), cmp_u64);
    if (found != nl) {
        fprintf(stderr, "%zu of %zu lookups found their binding\n", found, nl);
        return 1;
    }

    printf("location service, %zu bindings (one per AOR)\n", n);
    printf("%-40s %12s\n", "measure", "value");
    printf("%-40s %12.2f\n", "memory: fill (s)", fill_s);
    printf("%-40s %12.0f\n", "memory: fill (puts/s)", (double)n / fill_s);
    printf("%-40s %12.1f\n", "memory: RSS of the bindings (MiB)", (double)(rss1 - rss0) / 1024);
    printf("%-40s %12.0f\n", "memory: bytes per binding", (double)(rss1 - rss0) * 1024 / (double)n);
    printf("%-40s %12.1f\n", "memory: RSS of the process (MiB)", (double)rss1 / 1024);
    printf("%-40s %12.0f\n", "lookup: mean (ns)", (double)total / (double)nl);
    printf("%-40s %12llu\n", "lookup: median (ns)", (unsigned long long)ns[nl / 2]);
    printf("%-40s %12llu\n", "lookup: p99 (ns)", (unsigned long long)ns[nl * 99 / 100]);
    free(ns);
    sip_location_unref(loc);

    if (sqlite) {
        char path[512], side[560];
        snprintf(path, sizeof(path), "%s/location-bench-%d.db", dir, (int)getpid());
        sip_location_opts_t o;
        sip_location_opts_init(&o);
        o.db_path = path;
        if (sip_location_create(&loc, loop, &o) < 0) return 1;
        acked = 0;
        t0 = now_s();
        if (put_all(loc, loop, n, now) < 0) return 1;
        while (acked < n && sip_loop_run_once(loop, 1) >= 0 && now_s() - t0 < 120)
            ;
        double write_s = now_s() - t0;
        sip_location_unref(loc);
        t0 = now_s();
        if (sip_location_create(&loc, loop, &o) < 0) return 1;
        double load_s = now_s() - t0;
        size_t loaded = sip_location_count(loc);
        sip_location_unref(loc);
        printf("%-40s %12.2f\n", "sqlite: write all, acknowledged (s)", write_s);
        printf("%-40s %12.0f\n", "sqlite: durable puts/s", (double)acked / write_s);
        printf("%-40s %12.2f\n", "sqlite: load at create (s)", load_s);
        printf("%-40s %12zu\n", "sqlite: bindings loaded", loaded);
        static const char *const suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
            unlink(side);
        }
        if (acked != n || loaded != n) return 1;
    }
    sip_loop_unref(loop);
    return 0;
}
