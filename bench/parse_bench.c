/* SPDX-License-Identifier: MIT */
/* parse-bench: full-parse throughput of libsip, oSIP2, Sofia-SIP and libre on one SIP corpus. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Each peer lives in its own file (peer_<name>.c) because the libraries' headers clash (libre and
 * libsip both define struct sip_msg). They all offer the same three functions:
 *   setup  once before anything else; 0 or -1
 *   parse  create, fully parse and free one message; 0 or -1 (the timed operation)
 *   check  parse once and verify that the fields a proxy needs were really parsed; 0, or -1 with
 *          the reason written to why
 */
typedef int (*pb_setup_fn)(void);
typedef int (*pb_parse_fn)(const char *buf, size_t len);
typedef int (*pb_check_fn)(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                           const char *auth_user, size_t body_len, char *why, size_t cap);

#define PB_DECLARE(name)                                                                           \
    int pb_##name##_setup(void);                                                                   \
    int pb_##name##_parse(const char *buf, size_t len);                                            \
    int pb_##name##_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq, \
                          const char *auth_user, size_t body_len, char *why, size_t cap);
PB_DECLARE(libsip)
PB_DECLARE(osip2)
PB_DECLARE(sofia)
PB_DECLARE(libre)
PB_DECLARE(memchr)
PB_DECLARE(libsip_print)
PB_DECLARE(libsip_fwd)
#undef PB_DECLARE

/* ---- the lower bound: find the header lines and nothing else -------------------------------- */

int pb_memchr_setup(void)
{
    return 0;
}

/* Counts the CRLF-terminated lines up to the empty line that ends the header section, which is
 * the least any parser must do before it can look at a header (RFC 3261 §7: the body that follows
 * is located by Content-Length, not scanned). Returns 0 when there is no such empty line. */
static size_t count_lines(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    size_t n = 0;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL || lf == p || lf[-1] != '\r') return 0;
        if (lf - p == 1) return n;
        n++;
        p = lf + 1;
    }
    return 0;
}

int pb_memchr_parse(const char *buf, size_t len)
{
    return count_lines(buf, len) > 0 ? 0 : -1;
}

int pb_memchr_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                    const char *auth_user, size_t body_len, char *why, size_t cap)
{
    (void)vias, (void)contacts, (void)cseq, (void)auth_user;
    /* The header section is everything before the body but its final CRLF (the empty line). */
    size_t hdr_len = len - body_len - 2, want = 0;
    for (size_t i = 1; i < hdr_len; i++)
        if (buf[i - 1] == '\r' && buf[i] == '\n') want++;
    size_t got = count_lines(buf, len);
    if (got != want || got == 0) {
        snprintf(why, cap, "counted %zu lines, expected %zu", got, want);
        return -1;
    }
    return 0;
}

/* ---- peers and corpus ---------------------------------------------------------------------- */

struct peer {
    const char *name;
    pb_setup_fn setup;
    pb_parse_fn parse;
    pb_check_fn check;
};

/* clang-format off */
#define PB_PEER(name) {#name, pb_##name##_setup, pb_##name##_parse, pb_##name##_check}
/* clang-format on */
static const struct peer peers[] = {
    PB_PEER(libsip), PB_PEER(osip2), PB_PEER(sofia), PB_PEER(libre), PB_PEER(memchr),
    {"libsip-print", pb_libsip_print_setup, pb_libsip_print_parse, pb_libsip_print_check},
    {"libsip-fwd", pb_libsip_fwd_setup, pb_libsip_fwd_parse, pb_libsip_fwd_check},
};
#undef PB_PEER
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

/* What every peer must find in each message, so that a peer which skipped a header is caught. */
struct sample {
    const char *type; /* also the file name: corpus/<type>.sip */
    int vias;
    int contacts;
    unsigned long cseq;
    const char *auth_user; /* Authorization username, or NULL when there is none */
    char *buf;
    size_t len;
    size_t body_len; /* the octets after the blank line */
};

/* clang-format off */
static struct sample samples[] = {
    {"invite",     1, 1, 314159, NULL,  NULL, 0, 0},
    {"register",   1, 1, 1827,   "bob", NULL, 0, 0},
    {"ok200",      2, 1, 314159, NULL,  NULL, 0, 0},
    {"ringing180", 2, 1, 314159, NULL,  NULL, 0, 0},
    {"options",    1, 1, 63104,  NULL,  NULL, 0, 0},
};
/* clang-format on */
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static int load_sample(struct sample *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.sip", dir, s->type);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "parse-bench: cannot open %s\n", path);
        return -1;
    }
    char tmp[65536];
    size_t n = fread(tmp, 1, sizeof(tmp), f);
    int err = ferror(f) || !feof(f);
    fclose(f);
    if (err || n == 0) {
        fprintf(stderr, "parse-bench: cannot read %s (empty, unreadable or over 64 KiB)\n", path);
        return -1;
    }
    /* An exact-size copy (plus a NUL no parser is told about), so each parser gets (buf, len). */
    s->buf = malloc(n + 1);
    if (s->buf == NULL) return -1;
    memcpy(s->buf, tmp, n);
    s->buf[n] = '\0';
    s->len = n;
    const char *eoh = NULL;
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(tmp + i, "\r\n\r\n", 4) == 0) {
            eoh = s->buf + i + 4;
            break;
        }
    }
    if (eoh == NULL) {
        fprintf(stderr, "parse-bench: %s has no CRLF CRLF (the corpus must keep wire bytes)\n",
                path);
        return -1;
    }
    s->body_len = n - (size_t)(eoh - s->buf);
    return 0;
}

/* ---- timing -------------------------------------------------------------------------------- */

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* Runs n parses; returns the number that failed. The empty asm makes the compiler assume the
 * buffer may have changed, so the work cannot be hoisted out of the loop. */
static uint64_t run(pb_parse_fn parse, const char *buf, size_t len, uint64_t n)
{
    uint64_t failed = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ __volatile__("" : : "r"(buf) : "memory");
        failed += parse(buf, len) != 0;
    }
    return failed;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define REPEATS 3
#define RETRIES 5 /* tries per timed run when the CPU was shared */
#define MIN_CPU_SHARE 0.97

/* Warms up and calibrates one peer on one message: doubles the count until a run lasts a tenth
 * of the target (priming the caches, the branch predictors and the allocator), then returns the
 * number of parses that makes one timed run last about target_ns; 0 when a parse failed. */
static uint64_t calibrate(const struct peer *p, const struct sample *s, double target_ns)
{
    uint64_t n = 1;
    for (;;) {
        double t0 = now_ns();
        if (run(p->parse, s->buf, s->len, n) != 0) return 0;
        double dt = now_ns() - t0;
        if (dt >= target_ns / 10 || n >= (UINT64_C(1) << 40)) {
            uint64_t iters = dt > 0 ? (uint64_t)(target_ns * (double)n / dt) : n;
            return iters > 0 ? iters : 1;
        }
        n *= 2;
    }
}

/* One timed run of iters parses; *ns receives the wall time per message, *share the fraction of
 * it this process had the CPU. Wall time is what is reported; CPU time only tells whether another
 * process took turns on this CPU, which inflates the run. Such a run is thrown away and made again,
 * a few times at most, so that a busy machine costs time rather than accuracy. */
static int timed_run(const struct peer *p, const struct sample *s, uint64_t iters, double *ns,
                     double *share)
{
    for (int attempt = 0; attempt < RETRIES; attempt++) {
        double c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ns();
        if (run(p->parse, s->buf, s->len, iters) != 0) return -1;
        double dt = now_ns() - t0;
        *share = dt > 0 ? (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / dt : 1;
        *ns = dt / (double)iters;
        if (*share >= MIN_CPU_SHARE) break;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: parse-bench [--quick] [--lib NAME]... [--type TYPE]... [--corpus DIR]\n"
            "  --quick        few iterations (a smoke test; the figures mean little)\n"
            "  --lib NAME     only this library (libsip, osip2, sofia, libre, memchr), or libsip-print\n"
            "                 (print a parsed message) or libsip-fwd (parse, add a Via, print)\n"
            "  --type TYPE    only this message (invite, register, ok200, ringing180, options)\n"
            "  --corpus DIR   where <type>.sip are (default %s)\n"
            "Prints one line per library and message: parse LIBRARY TYPE NS_PER_MESSAGE\n",
            PARSE_BENCH_CORPUS_DIR);
}

static int find_name(const char *name, int is_lib)
{
    size_t n = is_lib ? NPEERS : NSAMPLES;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, is_lib ? peers[i].name : samples[i].type) == 0) return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *dir = PARSE_BENCH_CORPUS_DIR;
    int want_lib[NPEERS] = {0}, want_type[NSAMPLES] = {0};
    int any_lib = 0, any_type = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if ((strcmp(a, "--lib") == 0 || strcmp(a, "--type") == 0) && i + 1 < argc) {
            int is_lib = a[2] == 'l';
            int k = find_name(argv[++i], is_lib);
            if (k < 0) {
                fprintf(stderr, "parse-bench: unknown %s \"%s\"\n", is_lib ? "library" : "type",
                        argv[i]);
                usage(stderr);
                return 2;
            }
            if (is_lib)
                want_lib[k] = any_lib = 1;
            else
                want_type[k] = any_type = 1;
        } else if (strcmp(a, "--corpus") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    for (size_t i = 0; i < NPEERS; i++)
        want_lib[i] = !any_lib || want_lib[i];
    for (size_t i = 0; i < NSAMPLES; i++)
        want_type[i] = !any_type || want_type[i];

    int status = 0;
    for (size_t i = 0; i < NSAMPLES; i++)
        if (want_type[i] && load_sample(&samples[i], dir) != 0) status = 2;
    if (status != 0) goto out;

    /* Every peer must parse every message, with the fields checked, before anything is timed;
     * a figure for a parse that failed or skipped a header would be meaningless. */
    int ok[NPEERS][NSAMPLES];
    for (size_t p = 0; p < NPEERS; p++) {
        if (!want_lib[p]) continue;
        int up = peers[p].setup() == 0;
        if (!up) {
            fprintf(stderr, "parse-bench: FAIL %s: setup failed\n", peers[p].name);
            status = 1;
        }
        for (size_t s = 0; s < NSAMPLES; s++) {
            ok[p][s] = 0;
            if (!want_type[s] || !up) continue;
            const struct sample *m = &samples[s];
            char why[256] = "";
            if (peers[p].check(m->buf, m->len, m->vias, m->contacts, m->cseq, m->auth_user,
                               m->body_len, why, sizeof(why)) != 0) {
                fprintf(stderr, "parse-bench: FAIL %s %s: %s\n", peers[p].name, m->type, why);
                status = 1;
                continue;
            }
            ok[p][s] = 1;
        }
    }

    /* 0.3 s per timed run; --quick keeps only enough to exercise every path. The libraries take
     * turns within each of the REPEATS rounds, so a noisy spell on the machine (another tenant,
     * a build on the other CPU) hits them alike instead of spoiling one library's figures. */
    double target_ns = quick ? 2e6 : 3e8;
    for (size_t s = 0; s < NSAMPLES; s++) {
        if (!want_type[s]) continue;
        uint64_t iters[NPEERS] = {0};
        double res[NPEERS][REPEATS], worst[NPEERS];
        for (size_t p = 0; p < NPEERS; p++) {
            worst[p] = 1;
            if (!want_lib[p] || !ok[p][s]) continue;
            iters[p] = calibrate(&peers[p], &samples[s], target_ns);
        }
        for (int r = 0; r < REPEATS; r++) {
            for (size_t p = 0; p < NPEERS; p++) {
                double share = 1;
                if (iters[p] == 0) continue;
                if (timed_run(&peers[p], &samples[s], iters[p], &res[p][r], &share) != 0)
                    iters[p] = 0;
                if (share < worst[p]) worst[p] = share;
            }
        }
        for (size_t p = 0; p < NPEERS; p++) {
            if (!want_lib[p] || !ok[p][s]) continue;
            if (iters[p] == 0) {
                fprintf(stderr, "parse-bench: FAIL %s %s: a timed parse failed\n", peers[p].name,
                        samples[s].type);
                status = 1;
                continue;
            }
            if (worst[p] < MIN_CPU_SHARE)
                fprintf(stderr,
                        "parse-bench: warning: %s %s got only %.0f%% of the CPU in a run (shared "
                        "with another process); its figure is inflated\n",
                        peers[p].name, samples[s].type, 100 * worst[p]);
            qsort(res[p], REPEATS, sizeof(res[p][0]), cmp_double);
            printf("parse %s %s %.1f\n", peers[p].name, samples[s].type, res[p][REPEATS / 2]);
            fflush(stdout);
        }
    }

out:
    for (size_t i = 0; i < NSAMPLES; i++)
        free(samples[i].buf);
    return status;
}
