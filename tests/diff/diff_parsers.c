/* SPDX-License-Identifier: MIT */
/* Differential parser test: mutated SIP messages parsed by libsip, Sofia-SIP and oSIP2. Fails
 * when libsip alone disagrees with two peers that agree, unless allowlist.c names the reason. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

/* ---- seeds ---- */

typedef struct seed {
    char name[64];
    char *buf;
    size_t len;
} seed_t;

static seed_t seeds[128];
static size_t nseeds;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int add_seed(const char *path, const char *name)
{
    if (nseeds == sizeof(seeds) / sizeof(seeds[0])) return -1;
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf) {
        fprintf(stderr, "cannot read seed %s\n", path);
        return -1;
    }
    seed_t *s = &seeds[nseeds++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->buf = buf;
    s->len = len;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.sip of a folder, in name order (readdir's order is not stable). */
static int add_dir(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return -1;
    }
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".sip") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    int rc = n ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        char path[1024], name[64];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        snprintf(name, sizeof(name), "%s/%s", prefix, names[i]);
        if (add_seed(path, name)) rc = -1;
        free(names[i]);
    }
    return rc;
}

/* The rows a conformance MANIFEST.tsv calls valid; files from dir/wiredir. dblreq is left out:
 * its trailing second message makes every mutation of the tail a no-op for libsip. */
static int add_manifest(const char *dir, const char *wiredir, const char *prefix)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/MANIFEST.tsv", dir);
    size_t len;
    char *tsv = read_file(path, &len);
    if (!tsv) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    char *text = realloc(tsv, len + 1);
    if (!text) {
        free(tsv);
        return -1;
    }
    text[len] = '\0';
    int rc = 0, found = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *name = line, *t1 = strchr(line, '\t');
        if (!t1) continue;
        char *t2 = strchr(t1 + 1, '\t');
        if (!t2) continue;
        *t1 = '\0';
        if (strncmp(t2 + 1, "valid\t", 6) != 0 || strcmp(name, "dblreq") == 0) continue;
        char name2[64];
        snprintf(path, sizeof(path), "%s/%s.dat", wiredir, name);
        snprintf(name2, sizeof(name2), "%s/%s", prefix, name);
        if (add_seed(path, name2)) rc = -1;
        found++;
    }
    free(text);
    return found ? rc : -1;
}

/* ---- deterministic mutations ---- */

static uint64_t rng_state;

/* splitmix64: a fixed seed gives the same cases on every machine. */
static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

const char *diff_mut_name(diff_mut_t m)
{
    static const char *const names[MUT__COUNT] = {
        [MUT_NONE] = "none",
        [MUT_FLIP] = "flip",
        [MUT_INSERT_CR] = "insert-cr",
        [MUT_INSERT_LF] = "insert-lf",
        [MUT_INSERT_NUL] = "insert-nul",
        [MUT_INSERT_CTL] = "insert-ctl",
        [MUT_DELETE] = "delete",
        [MUT_DUP_LINE] = "dup-line",
        [MUT_DUP_ALTER] = "dup-alter",
        [MUT_DUP_PARAM] = "dup-param",
        [MUT_FOLD] = "fold",
        [MUT_TRUNCATE] = "truncate",
    };
    if (m == MUT_FIXED) return "fixed";
    return (unsigned)m < MUT__COUNT ? names[m] : "?";
}

/* Length of the header section (start line included, up to the empty line). */
static size_t head_len(const char *b, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] == '\n' && b[i + 1] == '\n') return i + 1;
        if (b[i] == '\n' && b[i + 1] == '\r' && i + 2 < len && b[i + 2] == '\n') return i + 1;
    }
    return len;
}

/* Start offsets of the header lines (not the start line, not continuation lines). */
static size_t header_line_starts(const char *b, size_t hl, size_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < hl && n < cap; i++)
        if (b[i] == '\n' && i + 1 < hl && b[i + 1] != ' ' && b[i + 1] != '\t' && b[i + 1] != '\r' &&
            b[i + 1] != '\n')
            out[n++] = i + 1;
    return n;
}

static size_t line_len(const char *b, size_t start, size_t len)
{
    size_t e = start;
    while (e < len && b[e] != '\n')
        e++;
    return e < len ? e - start + 1 : e - start;
}

/* A position mostly inside the header section, where the parsers differ; sometimes anywhere. */
static size_t pick_pos(size_t hl, size_t len)
{
    if (below(10) == 0 || hl == 0) return below(len);
    return below(hl);
}

/* Applies mutation m of seed s into out (capacity cap); returns the length, 0 when the
 * mutation does not apply to this seed. */
static size_t mutate(const seed_t *s, diff_mut_t m, char *out, size_t cap, size_t *pos,
                     unsigned char *oct)
{
    const char *b = s->buf;
    size_t len = s->len, hl = head_len(b, len);
    if (len + 512 > cap || len == 0) return 0;
    size_t starts[128];
    size_t nl = header_line_starts(b, hl, starts, 128);
    *oct = 0;
    switch (m) {
    case MUT_FLIP: {
        size_t p = pick_pos(hl, len);
        unsigned char c = below(4) == 0 ? (unsigned char)(b[p] ^ (1u << below(8)))
                                        : (unsigned char)(0x20 + below(0x5f));
        if (c == (unsigned char)b[p]) c ^= 0x01;
        memcpy(out, b, len);
        out[p] = (char)c;
        *pos = p;
        *oct = c;
        return len;
    }
    case MUT_INSERT_CR:
    case MUT_INSERT_LF:
    case MUT_INSERT_NUL:
    case MUT_INSERT_CTL: {
        unsigned char c = m == MUT_INSERT_CR ? '\r' : m == MUT_INSERT_LF ? '\n' : 0;
        if (m == MUT_INSERT_CTL) {
            static const unsigned char ctl[] = {0x01, 0x02, 0x07, 0x08, 0x0b,
                                                0x0c, 0x1b, 0x1f, 0x7f};
            c = ctl[below(sizeof(ctl))];
        }
        size_t p = pick_pos(hl, len);
        memcpy(out, b, p);
        out[p] = (char)c;
        memcpy(out + p + 1, b + p, len - p);
        *pos = p;
        *oct = c;
        return len + 1;
    }
    case MUT_DELETE: {
        size_t p = pick_pos(hl, len);
        memcpy(out, b, p);
        memcpy(out + p, b + p + 1, len - p - 1);
        *pos = p;
        return len - 1;
    }
    case MUT_DUP_LINE:
    case MUT_DUP_ALTER: {
        if (!nl) return 0;
        size_t st = starts[below(nl)], ll = line_len(b, st, hl);
        /* A folded header is repeated whole. */
        while (st + ll < hl && (b[st + ll] == ' ' || b[st + ll] == '\t'))
            ll += line_len(b, st + ll, hl);
        memcpy(out, b, st + ll);
        memcpy(out + st + ll, b + st, ll);
        memcpy(out + st + 2 * ll, b + st + ll, len - st - ll);
        *pos = st + ll;
        if (m == MUT_DUP_ALTER) {
            /* One alphanumeric octet of the copy's value changed to another of its kind. */
            const char *colon = memchr(out + st + ll, ':', ll);
            if (!colon) return 0;
            size_t vs = (size_t)(colon - out) + 1, ve = st + 2 * ll, alnum[256], na = 0;
            for (size_t i = vs; i < ve && na < 256; i++) {
                unsigned char c = (unsigned char)out[i];
                if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                    alnum[na++] = i;
            }
            if (!na) return 0;
            size_t i = alnum[below(na)];
            unsigned char c = (unsigned char)out[i];
            if (c >= '0' && c <= '9')
                c = (unsigned char)('0' + (c - '0' + 1 + below(9)) % 10);
            else if (c >= 'a' && c <= 'z')
                c = (unsigned char)('a' + (c - 'a' + 1 + below(25)) % 26);
            else
                c = (unsigned char)('A' + (c - 'A' + 1 + below(25)) % 26);
            out[i] = (char)c;
            *pos = i;
            *oct = c;
        }
        return len + ll;
    }
    case MUT_DUP_PARAM: {
        /* Every ";name[=value]" of the header section; one of them is repeated after itself,
         * as it is, with another value, or without its value. */
        size_t semis[256], ns = 0;
        for (size_t i = 0; i < hl && ns < 256; i++)
            if (b[i] == ';' && i > 0) semis[ns++] = i;
        if (!ns) return 0;
        size_t st = semis[below(ns)], e = st + 1;
        while (e < hl && b[e] != ';' && b[e] != ',' && b[e] != '>' && b[e] != '\r' &&
               b[e] != '\n' && b[e] != ' ' && b[e] != '?' && b[e] != '&')
            e++;
        size_t pl = e - st;
        if (pl < 2) return 0;
        char param[160];
        if (pl >= sizeof(param) - 16) return 0;
        memcpy(param, b + st, pl);
        const char *eq = memchr(param, '=', pl);
        size_t nlen = pl;
        switch (below(3)) {
        case 0:
            break;
        case 1:
            if (eq) {
                nlen = (size_t)(eq - param) + 1;
                memcpy(param + nlen, "evil", 4);
                nlen += 4;
            } else {
                memcpy(param + nlen, "=evil", 5);
                nlen += 5;
            }
            break;
        default:
            if (eq) nlen = (size_t)(eq - param);
            break;
        }
        memcpy(out, b, e);
        memcpy(out + e, param, nlen);
        memcpy(out + e + nlen, b + e, len - e);
        *pos = e;
        return len + nlen;
    }
    case MUT_FOLD: {
        /* Blanks after a header's colon (not in the start line, where a fold is not allowed). */
        size_t sp[256], n = 0;
        for (size_t k = 0; k < nl; k++) {
            size_t st = starts[k], ll = line_len(b, st, hl);
            const char *colon = memchr(b + st, ':', ll);
            if (!colon) continue;
            for (size_t i = (size_t)(colon - b) + 1; i < st + ll && n < 256; i++)
                if (b[i] == ' ') sp[n++] = i;
        }
        if (!n) return 0;
        size_t p = sp[below(n)];
        memcpy(out, b, p);
        memcpy(out + p, "\r\n ", 3);
        memcpy(out + p + 3, b + p + 1, len - p - 1);
        *pos = p;
        return len + 2;
    }
    case MUT_TRUNCATE: {
        size_t p = 1 + below(len - 1);
        memcpy(out, b, p);
        *pos = p;
        return p;
    }
    default:
        return 0;
    }
}

/* ---- comparing ---- */

static void escape(FILE *f, const char *b, size_t len, size_t max)
{
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\r')
            fputs("\\r", f);
        else if (c == '\n')
            fputs("\\n\n    ", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    if (len > max) fprintf(f, "... (%zu more octets)", len - max);
    fputc('\n', f);
}

/* The field libsip alone reports differently from two peers that agree, or NULL. */
static const char *lone_field(const diff_fields_t *f)
{
#define NUM(x)                                                                                     \
    if (f[1].x == f[2].x && f[0].x != f[1].x) return #x
#define STR(x)                                                                                     \
    if (strcmp(f[1].x, f[2].x) == 0 && strcmp(f[0].x, f[1].x) != 0) return #x
    NUM(vias);
    STR(via_host);
    STR(via_branch);
    STR(call_id);
    NUM(cseq);
    STR(cseq_method);
    STR(from_tag);
    STR(to_tag);
    NUM(content_length);
    NUM(body_len);
    return NULL;
#undef NUM
#undef STR
}

static void run_parsers(diff_case_t *c)
{
    c->ok[P_LIBSIP] =
        diff_libsip_parse(c->buf, c->len, &c->f[P_LIBSIP], c->why[P_LIBSIP], sizeof(c->why[0]));
    c->ok[P_SOFIA] =
        diff_sofia_parse(c->buf, c->len, &c->f[P_SOFIA], c->why[P_SOFIA], sizeof(c->why[0]));
    c->ok[P_OSIP2] =
        diff_osip2_parse(c->buf, c->len, &c->f[P_OSIP2], c->why[P_OSIP2], sizeof(c->why[0]));
    c->field = NULL;
    if (c->ok[0] && c->ok[1] && c->ok[2]) c->field = lone_field(c->f);
}

static void print_fields(FILE *o, const char *who, int ok, const char *why, const diff_fields_t *f)
{
    if (!ok) {
        fprintf(o, "  %-7s refuses: %s\n", who, why);
        return;
    }
    fprintf(o,
            "  %-7s accepts: vias=%d host=%s branch=%s call-id=%s cseq=%ld %s from-tag=%s "
            "to-tag=%s content-length=%ld body=%ld\n",
            who, f->vias, f->via_host, f->via_branch, f->call_id, f->cseq, f->cseq_method,
            f->from_tag, f->to_tag, f->content_length, f->body_len);
}

static void print_case(FILE *o, const diff_case_t *c, size_t max)
{
    fprintf(o, "  seed %s, mutation %s at %zu (octet 0x%02x)%s%s\n", c->seed_name,
            diff_mut_name(c->mut), c->pos, c->oct, c->field ? ", field " : "",
            c->field ? c->field : "");
    print_fields(o, "libsip", c->ok[0], c->why[0], &c->f[0]);
    print_fields(o, "sofia", c->ok[1], c->why[1], &c->f[1]);
    print_fields(o, "osip2", c->ok[2], c->why[2], &c->f[2]);
    if (c->mut != MUT_NONE && c->mut != MUT_FIXED && c->pos < c->len) {
        /* The line the mutation touched (from the LF before it to the LF after it). */
        size_t a = c->pos, b = c->pos;
        while (a > 0 && c->buf[a - 1] != '\n')
            a--;
        while (b < c->len && c->buf[b] != '\n')
            b++;
        fputs("  line:    ", o);
        escape(o, c->buf + a, b - a + (b < c->len), 400);
    }
    fputs("  message: ", o);
    escape(o, c->buf, c->len, max);
}

/* ---- main ---- */

typedef struct stats {
    size_t cases, agree, peers_split, allowed[64], failures;
    size_t by_mut[MUT__COUNT + 1][3]; /* cases, agreements, failures (MUT_FIXED last) */
} stats_t;

/* Hand-written cases: the disagreements issue 10 reported, each a one-line change of one
 * request, judged like the mutations. A regression (libsip again reading one Via where the peers
 * read two, or taking the last of two tags) fails here whatever the random draws hit. */
#define FIXED_REQ(via, from, extra)                                                                \
    "OPTIONS sip:bob@example.com SIP/2.0\r\n" extra "Via: SIP/2.0/UDP " via "\r\n"                 \
    "Max-Forwards: 70\r\nFrom: " from "\r\nTo: <sip:bob@example.com>\r\n"                          \
    "Call-ID: 3848276298220188511@atlanta.example.com\r\nCSeq: 1 OPTIONS\r\n"                      \
    "Content-Length: 0\r\n\r\n"
#define VIA_OK "host.example.com;branch=z9hG4bK74bf9"
#define FROM_OK "<sip:alice@atlanta.example.com>;tag=9fxced76sl"
static const struct {
    const char *name, *text;
} fixed_cases[] = {
    {"bare CR hides a Via", FIXED_REQ(VIA_OK, FROM_OK,
                                      "Subject: hi\rVia: SIP/2.0/UDP evil.example;"
                                      "branch=z9hG4bKevil\r\n")},
    {"CR CR LF", FIXED_REQ(VIA_OK, FROM_OK, "Subject: hi\r\r\n")},
    {"two Content-Length", FIXED_REQ(VIA_OK, FROM_OK, "Content-Length: 5\r\n")},
    {"two Call-ID", FIXED_REQ(VIA_OK, FROM_OK, "Call-ID: other@example.com\r\n")},
    {"tag then tag=evil", FIXED_REQ(VIA_OK, FROM_OK ";tag=evil", "")},
    {"tag then bare tag", FIXED_REQ(VIA_OK, FROM_OK ";tag", "")},
    {"folded Date", FIXED_REQ(VIA_OK, FROM_OK, "Date: Sat, 13 Nov 2010\r\n 23:29:00 GMT\r\n")},
    {"addr-spec with ';' in the user", FIXED_REQ(VIA_OK, "sip:a;b@example.com;tag=t1", "")},
    {"rport=abc", FIXED_REQ(VIA_OK ";rport=abc", FROM_OK, "")},
    {"rport=70000", FIXED_REQ(VIA_OK ";rport=70000", FROM_OK, "")},
    {"[example.com] as a Via host", FIXED_REQ("[example.com];branch=z9hG4bK74bf9", FROM_OK, "")},
};

static int load_seeds(void)
{
    char dir[1024], wire[1024];
    int rc = 0;
    snprintf(dir, sizeof(dir), "%s/bench/corpus", SIP_SOURCE_DIR);
    rc |= add_dir(dir, "bench");
    snprintf(dir, sizeof(dir), "%s/examples/messages", SIP_SOURCE_DIR);
    rc |= add_dir(dir, "examples");
    snprintf(dir, sizeof(dir), "%s/conformance/rfc4475", SIP_SHARED_DIR);
    rc |= add_manifest(dir, dir, "rfc4475");
    snprintf(dir, sizeof(dir), "%s/conformance/rfc5118", SIP_SHARED_DIR);
    snprintf(wire, sizeof(wire), "%s/conformance/rfc5118/wire", SIP_SHARED_DIR);
    rc |= add_manifest(dir, wire, "rfc5118");
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: diff_parsers [--count N] [--seed N] [--examples N] [--verbose]\n"
                    "       diff_parsers --show FILE...   (one message per file, no mutation)\n");
    return 2;
}

static int show_files(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        size_t len;
        char *buf = read_file(argv[i], &len);
        if (!buf) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        diff_case_t c;
        memset(&c, 0, sizeof(c));
        c.seed_name = argv[i];
        c.buf = buf;
        c.len = len;
        run_parsers(&c);
        print_case(stdout, &c, 4096);
        free(buf);
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = 4000, examples = 5;
    uint64_t seed = 20261207;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc)
            examples = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--show") == 0) {
            if (diff_sofia_setup() || diff_osip2_setup()) return 1;
            return show_files(argc - i - 1, argv + i + 1);
        } else
            return usage();
    }
    if (diff_sofia_setup() || diff_osip2_setup()) {
        fprintf(stderr, "peer set-up failed\n");
        return 1;
    }
    if (load_seeds()) return 1;
    rng_state = seed;

    static stats_t st;
    static char buf[70000];
    size_t shown = 0;
    if (diff_nreasons > sizeof(st.allowed) / sizeof(st.allowed[0])) return 1;
    /* The seeds first, unmutated: libsip must accept each (they are valid), and the peers'
     * verdicts are compared as for any case. Then the mutations. */
    size_t draws = 0, nfixed = sizeof(fixed_cases) / sizeof(fixed_cases[0]);
    for (size_t i = 0; i < nseeds + nfixed + count; i++) {
        diff_case_t c;
        memset(&c, 0, sizeof(c));
        const seed_t *s;
        seed_t fixed;
        if (i >= nseeds && i < nseeds + nfixed) {
            snprintf(fixed.name, sizeof(fixed.name), "%s", fixed_cases[i - nseeds].name);
            fixed.buf = (char *)fixed_cases[i - nseeds].text;
            fixed.len = strlen(fixed.buf);
            s = &fixed;
            c.mut = MUT_FIXED;
            memcpy(buf, s->buf, s->len);
            c.len = s->len;
        } else if (i < nseeds) {
            s = &seeds[i];
            c.mut = MUT_NONE;
            memcpy(buf, s->buf, s->len);
            c.len = s->len;
        } else {
            s = &seeds[below(nseeds)];
            c.mut = (diff_mut_t)(1 + below(MUT__COUNT - 1));
            c.len = mutate(s, c.mut, buf, sizeof(buf), &c.pos, &c.oct);
            if (c.len == 0) {
                /* Not applicable to this seed: draw again (bounded, should none apply). */
                if (++draws > 100 * (count + 1)) return 1;
                i--;
                continue;
            }
        }
        c.seed_name = s->name;
        c.seed = s->buf;
        c.seed_len = s->len;
        c.buf = buf;
        run_parsers(&c);
        st.cases++;
        st.by_mut[c.mut][0]++;
        int lone = c.ok[1] == c.ok[2] && c.ok[0] != c.ok[1];
        if (c.field) lone = 1;
        /* A seed is valid and a fold is legal wherever a blank was (RFC 3261 §7.3.1): libsip
         * refusing either is a failure whatever the peers say. */
        if ((c.mut == MUT_NONE || c.mut == MUT_FOLD) && !c.ok[P_LIBSIP]) lone = 1;
        if (c.ok[1] != c.ok[2] && !lone) {
            st.peers_split++;
            continue;
        }
        if (!lone) {
            st.agree++;
            st.by_mut[c.mut][1]++;
            continue;
        }
        size_t r = diff_nreasons;
        if (c.ok[P_LIBSIP] || (c.mut != MUT_NONE && c.mut != MUT_FOLD))
            for (r = 0; r < diff_nreasons && !diff_reasons[r].match(&c);)
                r++;
        if (r < diff_nreasons) {
            st.allowed[r]++;
            if (verbose) {
                printf("allowed (%s):\n", diff_reasons[r].name);
                print_case(stdout, &c, 2048);
            }
            continue;
        }
        st.failures++;
        st.by_mut[c.mut][2]++;
        if (shown < examples || verbose) {
            printf("FAILURE %zu: libsip alone %s\n", st.failures,
                   c.field   ? "reads a field differently"
                   : c.ok[0] ? "accepts"
                             : "refuses");
            print_case(stdout, &c, 2048);
            shown++;
        }
    }

    printf("\ndiff_parsers: %zu cases (%zu seeds, %zu fixed, %zu mutated, seed %llu)\n", st.cases,
           nseeds, nfixed, st.cases - nseeds - nfixed, (unsigned long long)seed);
    printf("  all three agree:                 %zu\n", st.agree);
    printf("  Sofia-SIP and oSIP2 disagree:    %zu (not judged)\n", st.peers_split);
    size_t allowed = 0;
    for (size_t r = 0; r < diff_nreasons; r++)
        allowed += st.allowed[r];
    printf("  libsip alone, allowed:           %zu\n", allowed);
    for (size_t r = 0; r < diff_nreasons; r++)
        if (st.allowed[r])
            printf("    %-28s %6zu  (%s)\n", diff_reasons[r].name, st.allowed[r],
                   diff_reasons[r].rfc);
    printf("  libsip alone, not allowed:       %zu\n", st.failures);
    printf("  by mutation (cases / all agree / failures):\n");
    for (int m = 0; m <= MUT_FIXED; m++)
        printf("    %-12s %6zu %6zu %6zu\n", diff_mut_name((diff_mut_t)m), st.by_mut[m][0],
               st.by_mut[m][1], st.by_mut[m][2]);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].buf);
    return st.failures ? 1 : 0;
}
