/* SPDX-License-Identifier: MIT */
/* Number formatting for the per-message paths: snprintf() costs several hundred instructions a
 * call (its format parsing and stream set-up), and a forwarded message needs a dozen numbers. */
#ifndef SIP_CORE_FMT_H
#define SIP_CORE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes v in decimal at out (at most 20 octets, no NUL); returns the length. */
static inline size_t sip__fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Writes v as exactly digits lower-case hex digits (no NUL); returns digits. */
static inline size_t sip__fmt_hex(char *out, uint64_t v, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = digits; i-- > 0;) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
    return digits;
}

/* Writes v in lower-case hex without leading zeros (as "%llx"); returns the length. */
static inline size_t sip__fmt_hex_min(char *out, uint64_t v)
{
    size_t digits = 1;
    while (digits < 16 && (v >> (4 * digits)))
        digits++;
    return sip__fmt_hex(out, v, digits);
}

/* A bounded appender: once it would overflow, it stays full and says so (ok 0). */
typedef struct sip__fmt {
    char *buf;
    size_t size, len;
    int ok;
} sip__fmt_t;

static inline void sip__fmt_init(sip__fmt_t *f, char *buf, size_t size)
{
    f->buf = buf;
    f->size = size;
    f->len = 0;
    f->ok = size > 0;
    if (size) buf[0] = '\0';
}

static inline void sip__fmt_mem(sip__fmt_t *f, const char *s, size_t n)
{
    if (!f->ok || n >= f->size - f->len) {
        f->ok = 0;
        return;
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = '\0';
}

static inline void sip__fmt_str(sip__fmt_t *f, const char *s)
{
    sip__fmt_mem(f, s, strlen(s));
}

static inline void sip__fmt_uint(sip__fmt_t *f, uint64_t v)
{
    char d[20];
    sip__fmt_mem(f, d, sip__fmt_u64(d, v));
}

#endif
