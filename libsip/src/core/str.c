/* SPDX-License-Identifier: MIT */
/* String views and parameter lists. */
#include <pthread.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "sip/error.h"
#include "sip/param.h"
#include "sip/str.h"

sip_str_t sip_str_from_cstr(const char *s)
{
    sip_str_t r = {s, s ? strlen(s) : 0};
    return r;
}

int sip_str_eq(sip_str_t a, sip_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

int sip_str_caseeq(sip_str_t a, sip_str_t b)
{
    if (a.len != b.len) return 0;
    for (size_t i = 0; i < a.len; i++)
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i])) return 0;
    return 1;
}

int sip_str_caseeq_cstr(sip_str_t a, const char *b)
{
    if (!b) return a.len == 0;
    return sip_str_caseeq(a, sip_str_from_cstr(b));
}

int sip_str_copy(sip_str_t s, char *buf, size_t size)
{
    if (!buf && size) return SIP_EINVAL;
    if (s.len > (size_t)0x7fffffff) return SIP_ERANGE;
    if (size) {
        size_t n = s.len < size - 1 ? s.len : size - 1;
        if (n) memcpy(buf, s.ptr, n);
        buf[n] = '\0';
    }
    return (int)s.len;
}

int sip_str_to_u32(sip_str_t s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (s.len == 0 || !s.ptr) return SIP_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';
        if (d > 9) return SIP_EINVAL;
        if (v > (max - d) / 10) return SIP_ERANGE;
        v = v * 10 + d;
    }
    if (out) *out = v;
    return 0;
}

/* Skips a quoted string starting at p (on the '"'); returns the position after the closing quote.
 */
static size_t skip_quoted(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n)
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

static int params_next_sep(sip_str_t *iter, char sep, sip_str_t *name, sip_str_t *value)
{
    const char *p = iter->ptr;
    size_t n = iter->len, i = 0;
    /* Tolerate separators and whitespace left between parameters. */
    while (i < n && (p[i] == sep || p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i >= n) {
        /* Empty views may have a NULL pointer; never offset it. */
        if (n) iter->ptr += n;
        iter->len = 0;
        return 0;
    }
    size_t ns = i;
    while (i < n && p[i] != '=' && p[i] != sep)
        i++;
    size_t ne = i;
    while (ne > ns &&
           (p[ne - 1] == ' ' || p[ne - 1] == '\t' || p[ne - 1] == '\r' || p[ne - 1] == '\n'))
        ne--;
    name->ptr = p + ns;
    name->len = ne - ns;
    value->ptr = p + i;
    value->len = 0;
    if (i < n && p[i] == '=') {
        i++;
        /* Folded values (RFC 3261 §7.3.1) may put CR LF between '=' and the value. */
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        size_t vs = i;
        while (i < n && p[i] != sep) {
            if (p[i] == '"')
                i = skip_quoted(p, i, n);
            else
                i++;
        }
        size_t ve = i;
        while (ve > vs &&
               (p[ve - 1] == ' ' || p[ve - 1] == '\t' || p[ve - 1] == '\r' || p[ve - 1] == '\n'))
            ve--;
        value->ptr = p + vs;
        value->len = ve - vs;
    }
    iter->ptr = p + i;
    iter->len = n - i;
    return 1;
}

int sip_params_next(sip_str_t *iter, sip_str_t *name, sip_str_t *value)
{
    if (!iter || !name || !value) return 0;
    return params_next_sep(iter, ';', name, value);
}

int sip_params_get_sep(sip_str_t params, char sep, const char *pname, sip_str_t *value)
{
    sip_str_t n, v, it = params;
    sip_str_t want = sip_str_from_cstr(pname);
    if (!pname) return 0;
    while (params_next_sep(&it, sep, &n, &v)) {
        if (sip_str_caseeq(n, want)) {
            if (value) *value = v;
            return 1;
        }
    }
    return 0;
}

int sip_params_get(sip_str_t params, const char *name, sip_str_t *value)
{
    return sip_params_get_sep(params, ';', name, value);
}

sip_str_t sip_str_unquote(sip_str_t v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"') {
        v.ptr++;
        v.len -= 2;
    }
    return v;
}

/* Random bytes from OpenSSL, drawn 512 at a time: one RAND_bytes call goes through OpenSSL 3's
 * provider machinery (locks, parameter lookups: some 10,000 instructions), which a server making
 * a tag or two per call should not pay for each one. The pool is per thread (libsip objects
 * belong to one loop thread, but separate loops may run on separate threads) and is emptied in
 * a forked child, which must not hand out the same bytes as its parent. A fork handler empties
 * it rather than a getpid() per draw, a system call (about a microsecond here) three times per
 * registration a registrar answers; fork() runs the handler in the one thread the child has. */
#define RAND_POOL 512

static _Thread_local struct {
    unsigned char bytes[RAND_POOL];
    size_t left;
} pool;

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forked(void)
{
    memset(&pool, 0, sizeof(pool));
}

static void pool_init(void)
{
    pthread_atfork(NULL, NULL, pool_forked);
}

static int random_bytes(unsigned char *out, size_t n)
{
    pthread_once(&pool_once, pool_init);
    while (n) {
        if (!pool.left) {
            if (RAND_bytes(pool.bytes, RAND_POOL) != 1) return SIP_EIO;
            pool.left = RAND_POOL;
        }
        size_t k = n < pool.left ? n : pool.left;
        unsigned char *src = pool.bytes + RAND_POOL - pool.left;
        memcpy(out, src, k);
        /* Handed out once: no copy of it stays in the pool. */
        memset(src, 0, k);
        pool.left -= k;
        out += k;
        n -= k;
    }
    return 0;
}

int sip_random_hex(size_t bits, char *buf, size_t size)
{
    if (bits == 0 || bits % 8 || bits > 1024 || (!buf && size)) return SIP_EINVAL;
    size_t n = bits / 4;
    if (!size) return (int)n;
    unsigned char rnd[128];
    if (random_bytes(rnd, bits / 8) != 0) return SIP_EIO;
    static const char hex[] = "0123456789abcdef";
    size_t k = n < size - 1 ? n : size - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = hex[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    buf[k] = '\0';
    return (int)n;
}
