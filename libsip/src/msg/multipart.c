/* SPDX-License-Identifier: MIT */
/* Multipart bodies (RFC 5621; RFC 2046 §5.1 syntax): split, build and print. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sip/error.h"
#include "sip/multipart.h"
#include "sip/param.h"
#include "sip/str.h"

typedef struct mp_chunk {
    struct mp_chunk *next;
    size_t size, used;
} mp_chunk_t;

#define ALIGN 16u
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))
#define CHUNK_HDR ALIGN_UP(sizeof(mp_chunk_t))
#define CHUNK_MIN 1024u

typedef struct mp_header {
    struct mp_header *next;
    sip_str_t name, value;
} mp_header_t;

struct sip_multipart_part {
    sip_str_t body;
    sip_str_t content_type; /* the first Content-Type header's value, cached */
    mp_header_t *first, *last;
    size_t nheaders;
};

struct sip_multipart {
    int refs;
    mp_chunk_t *chunks; /* newest first; records and copies never move */
    sip_str_t subtype, boundary;
    struct sip_multipart_part **parts; /* the pointer array may grow; the parts do not move */
    size_t nparts, cap;
};

static void *mp_alloc(sip_multipart_t *mp, size_t n)
{
    mp_chunk_t *c = mp->chunks;
    if (n > (size_t)-1 / 2) return NULL;
    n = ALIGN_UP(n ? n : 1);
    if (!c || c->size - c->used < n) {
        size_t size = n < CHUNK_MIN ? CHUNK_MIN : n;
        mp_chunk_t *nc = malloc(CHUNK_HDR + size);
        if (!nc) return NULL;
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        mp->chunks = c = nc;
    }
    void *p = (char *)c + CHUNK_HDR + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static int mp_dup(sip_multipart_t *mp, const char *s, size_t n, sip_str_t *out)
{
    char *p = mp_alloc(mp, n + 1);
    if (!p) return SIP_ENOMEM;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    out->ptr = p;
    out->len = n;
    return 0;
}

static sip_multipart_t *mp_new(void)
{
    sip_multipart_t *mp = malloc(sizeof(*mp));
    if (!mp) return NULL;
    memset(mp, 0, sizeof(*mp));
    mp->refs = 1;
    return mp;
}

sip_multipart_t *sip_multipart_ref(sip_multipart_t *mp)
{
    if (mp) mp->refs++;
    return mp;
}

void sip_multipart_unref(sip_multipart_t *mp)
{
    if (!mp || --mp->refs > 0) return;
    for (mp_chunk_t *c = mp->chunks; c;) {
        mp_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(mp->parts);
    free(mp);
}

static struct sip_multipart_part *part_new(sip_multipart_t *mp)
{
    if (mp->nparts == mp->cap) {
        size_t cap = mp->cap ? mp->cap * 2 : 4;
        if (cap > INT_MAX) return NULL;
        struct sip_multipart_part **np = malloc(cap * sizeof(*np));
        if (!np) return NULL;
        if (mp->nparts) memcpy(np, mp->parts, mp->nparts * sizeof(*np));
        free(mp->parts);
        mp->parts = np;
        mp->cap = cap;
    }
    struct sip_multipart_part *p = mp_alloc(mp, sizeof(*p));
    if (!p) return NULL;
    return p;
}

/* ---- lexical helpers ------------------------------------------------------------------------- */

/* RFC 2045 §5.1: token := 1*<any CHAR except SPACE, CTLs, or tspecials> */
static int tspecial(unsigned char c)
{
    return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int is_token(sip_str_t s)
{
    if (s.len == 0) return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f || tspecial(c)) return 0;
    }
    return 1;
}

/* RFC 5322 §3.6.8: a header field name is printable ASCII except ':'. */
static int is_field_name(sip_str_t s)
{
    if (s.len == 0) return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f || c == ':') return 0;
    }
    return 1;
}

static sip_str_t trim(sip_str_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' ||
                     s.ptr[s.len - 1] == '\r' || s.ptr[s.len - 1] == '\n'))
        s.len--;
    return s;
}

/* RFC 2046 §5.1.1: bchars := bcharsnospace / " "; 1 to 70 of them, not ending in a space. */
static int boundary_ok(sip_str_t b)
{
    if (b.len == 0 || b.len > 70 || b.ptr[b.len - 1] == ' ') return 0;
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.ptr[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 strchr("'()+_,-./:=? ", c) != NULL;
        if (!ok || c == 0) return 0;
    }
    return 1;
}

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/*
 * Finds the next delimiter line at or after `from`: "--boundary" at the start of a line, then
 * either "--" (the close delimiter) or transport padding and a line break. Text that merely starts
 * with the boundary is content. With eof_is_eol the end of the buffer counts as a line break (the
 * printer adds one after each part). Returns the offset of the "--", or len when there is none.
 */
static size_t find_delim(const char *b, size_t len, size_t from, sip_str_t bnd, int eof_is_eol,
                         int *is_close, size_t *after)
{
    size_t dl = bnd.len + 2;
    for (size_t i = from; i + dl <= len; i++) {
        if ((i > 0 && b[i - 1] != '\n') || b[i] != '-' || b[i + 1] != '-') continue;
        if (memcmp(b + i + 2, bnd.ptr, bnd.len) != 0) continue;
        size_t j = i + dl;
        if (j + 2 <= len && b[j] == '-' && b[j + 1] == '-') {
            *is_close = 1;
            *after = j + 2;
            return i;
        }
        while (j < len && (b[j] == ' ' || b[j] == '\t'))
            j++;
        if (j < len && b[j] == '\r') j++;
        if ((j < len && b[j] == '\n') || (j == len && eof_is_eol)) {
            *is_close = 0;
            *after = j + 1;
            return i;
        }
    }
    return len;
}

/* RFC 2046 §5.1: body-part := MIME-part-headers [CRLF *OCTET]. Headers may be folded. */
static int parse_part(sip_multipart_t *mp, struct sip_multipart_part *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* A blank line ends the headers; the rest is the body. */
        if (s[i] == '\n') {
            i++;
            break;
        }
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
            i += 2;
            break;
        }
        if (s[i] == ' ' || s[i] == '\t') return SIP_EBODY; /* a fold with nothing to continue */
        size_t start = i;
        /* One header: up to a line break not followed by SP or HTAB. */
        size_t end = i;
        for (;;) {
            const char *nl = memchr(s + end, '\n', n - end);
            if (!nl) {
                end = n;
                i = n;
                break;
            }
            end = (size_t)(nl - s);
            i = end + 1;
            if (i < n && (s[i] == ' ' || s[i] == '\t')) {
                end = i;
                continue;
            }
            break;
        }
        sip_str_t line = {s + start, end - start};
        const char *colon = memchr(line.ptr, ':', line.len);
        if (!colon) return SIP_EBODY;
        sip_str_t name = trim((sip_str_t){line.ptr, (size_t)(colon - line.ptr)});
        if (!is_field_name(name)) return SIP_EBODY;
        mp_header_t *h = mp_alloc(mp, sizeof(*h));
        if (!h) return SIP_ENOMEM;
        h->name = name;
        h->value = trim((sip_str_t){colon + 1, (size_t)(line.ptr + line.len - colon - 1)});
        if (p->last)
            p->last->next = h;
        else
            p->first = h;
        p->last = h;
        p->nheaders++;
        if (!p->content_type.ptr &&
            (sip_str_caseeq_cstr(h->name, "Content-Type") || sip_str_caseeq_cstr(h->name, "c")))
            p->content_type = h->value;
    }
    p->body.ptr = s + i;
    p->body.len = n - i;
    return 0;
}

static int split(sip_multipart_t *mp, const char *b, size_t len)
{
    int close = 0;
    size_t after = 0;
    size_t d = find_delim(b, len, 0, mp->boundary, 0, &close, &after);
    /* The preamble before the first delimiter is ignored; at least one part must follow. */
    if (d == len || close) return SIP_EBODY;
    for (;;) {
        size_t start = after;
        d = find_delim(b, len, start, mp->boundary, 0, &close, &after);
        if (d == len) return SIP_EBODY; /* no close delimiter */
        /* The line break before a delimiter belongs to it (RFC 2046 §5.1.1). */
        size_t end = d;
        if (end > start && b[end - 1] == '\n') end--;
        if (end > start && b[end - 1] == '\r') end--;
        struct sip_multipart_part *p = part_new(mp);
        if (!p) return SIP_ENOMEM;
        int rc = parse_part(mp, p, b + start, end - start);
        if (rc) return rc;
        mp->parts[mp->nparts++] = p;
        if (close) return 0; /* the epilogue is ignored */
    }
}

int sip_multipart_parse(sip_multipart_t **out, const char *content_type, size_t ct_len,
                        const char *body, size_t len)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if ((!content_type && ct_len) || (!body && len)) return SIP_EINVAL;
    if (!content_type) return SIP_EBODY;

    /* type "/" subtype *(";" parameter), RFC 2045 §5.1. */
    sip_str_t ct = trim((sip_str_t){content_type, ct_len});
    const char *semi = memchr(ct.ptr, ';', ct.len);
    sip_str_t media = trim((sip_str_t){ct.ptr, semi ? (size_t)(semi - ct.ptr) : ct.len});
    sip_str_t params = semi ? (sip_str_t){semi + 1, ct.len - (size_t)(semi - ct.ptr) - 1}
                            : (sip_str_t){ct.ptr + ct.len, 0};
    const char *slash = memchr(media.ptr, '/', media.len);
    if (!slash) return SIP_EBODY;
    sip_str_t type = trim((sip_str_t){media.ptr, (size_t)(slash - media.ptr)});
    sip_str_t sub = trim((sip_str_t){slash + 1, media.len - (size_t)(slash - media.ptr) - 1});
    if (!sip_str_caseeq_cstr(type, "multipart") || !is_token(sub)) return SIP_EBODY;
    sip_str_t bnd;
    if (!sip_params_get(params, "boundary", &bnd)) return SIP_EBODY;
    bnd = sip_str_unquote(bnd);
    /* Lenient on length (some senders exceed 70), strict on the octets a line can hold. */
    if (bnd.len == 0 || bnd.len > 200 || memchr(bnd.ptr, '\r', bnd.len) ||
        memchr(bnd.ptr, '\n', bnd.len))
        return SIP_EBODY;

    sip_multipart_t *mp = mp_new();
    if (!mp) return SIP_ENOMEM;
    sip_str_t copy;
    int rc = mp_dup(mp, sub.ptr, sub.len, &mp->subtype);
    if (!rc) rc = mp_dup(mp, bnd.ptr, bnd.len, &mp->boundary);
    if (!rc) rc = mp_dup(mp, body ? body : "", len, &copy);
    if (!rc) rc = split(mp, copy.ptr, copy.len);
    if (rc) {
        sip_multipart_unref(mp);
        return rc;
    }
    *out = mp;
    return 0;
}

int sip_multipart_create(sip_multipart_t **out, const char *subtype, const char *boundary)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!subtype) subtype = "mixed";
    if (!boundary || !boundary_ok(sip_str_from_cstr(boundary)) ||
        !is_token(sip_str_from_cstr(subtype)))
        return SIP_EINVAL;
    sip_multipart_t *mp = mp_new();
    if (!mp) return SIP_ENOMEM;
    int rc = mp_dup(mp, subtype, strlen(subtype), &mp->subtype);
    if (!rc) rc = mp_dup(mp, boundary, strlen(boundary), &mp->boundary);
    if (rc) {
        sip_multipart_unref(mp);
        return rc;
    }
    *out = mp;
    return 0;
}

/* ---- access ---------------------------------------------------------------------------------- */

static const sip_str_t empty = {NULL, 0};

sip_str_t sip_multipart_get_subtype(const sip_multipart_t *mp)
{
    return mp ? mp->subtype : empty;
}

sip_str_t sip_multipart_get_boundary(const sip_multipart_t *mp)
{
    return mp ? mp->boundary : empty;
}

size_t sip_multipart_count(const sip_multipart_t *mp)
{
    return mp ? mp->nparts : 0;
}

const sip_multipart_part_t *sip_multipart_part_at(const sip_multipart_t *mp, size_t i)
{
    return mp && i < mp->nparts ? mp->parts[i] : NULL;
}

sip_str_t sip_multipart_part_get_body(const sip_multipart_part_t *part)
{
    return part ? part->body : empty;
}

sip_str_t sip_multipart_part_get_content_type(const sip_multipart_part_t *part)
{
    return part ? part->content_type : empty;
}

size_t sip_multipart_part_header_count(const sip_multipart_part_t *part)
{
    return part ? part->nheaders : 0;
}

int sip_multipart_part_header_at(const sip_multipart_part_t *part, size_t i, sip_str_t *name,
                                 sip_str_t *value)
{
    if (!part) return SIP_EINVAL;
    for (const mp_header_t *h = part->first; h; h = h->next) {
        if (i-- == 0) {
            if (name) *name = h->name;
            if (value) *value = h->value;
            return 0;
        }
    }
    return SIP_ENOENT;
}

int sip_multipart_part_header(const sip_multipart_part_t *part, const char *name, size_t i,
                              sip_str_t *value)
{
    if (!part || !name) return 0;
    for (const mp_header_t *h = part->first; h; h = h->next) {
        if (sip_str_caseeq_cstr(h->name, name) && i-- == 0) {
            if (value) *value = h->value;
            return 1;
        }
    }
    return 0;
}

/* ---- building -------------------------------------------------------------------------------- */

static int add_header(sip_multipart_t *mp, struct sip_multipart_part *p, const char *name,
                      const char *value)
{
    if (!is_field_name(sip_str_from_cstr(name)) || has_crlf(value)) return SIP_EINVAL;
    /* A name starting with "--" could print as a delimiter line. */
    if (name[0] == '-' && name[1] == '-') return SIP_EINVAL;
    mp_header_t *h = mp_alloc(mp, sizeof(*h));
    if (!h) return SIP_ENOMEM;
    if (mp_dup(mp, name, strlen(name), &h->name) || mp_dup(mp, value, strlen(value), &h->value))
        return SIP_ENOMEM;
    if (p->last)
        p->last->next = h;
    else
        p->first = h;
    p->last = h;
    p->nheaders++;
    if (!p->content_type.ptr && sip_str_caseeq_cstr(h->name, "Content-Type"))
        p->content_type = h->value;
    return 0;
}

int sip_multipart_add_part(sip_multipart_t *mp, const char *content_type, const char *body,
                           size_t len)
{
    if (!mp || (!body && len)) return SIP_EINVAL;
    if (content_type && has_crlf(content_type)) return SIP_EINVAL;
    /* RFC 2046 §5.1.1: the boundary must not appear at the start of a line inside a part. */
    int close;
    size_t after;
    if (len && find_delim(body, len, 0, mp->boundary, 1, &close, &after) != len) return SIP_EINVAL;
    struct sip_multipart_part *p = part_new(mp);
    if (!p) return SIP_ENOMEM;
    if (mp_dup(mp, body ? body : "", len, &p->body)) return SIP_ENOMEM;
    if (content_type) {
        int rc = add_header(mp, p, "Content-Type", content_type);
        if (rc) return rc;
    }
    mp->parts[mp->nparts] = p;
    return (int)mp->nparts++;
}

int sip_multipart_part_add_header(sip_multipart_t *mp, size_t idx, const char *name,
                                  const char *value)
{
    if (!mp || idx >= mp->nparts || !name || !value) return SIP_EINVAL;
    return add_header(mp, mp->parts[idx], name, value);
}

/* ---- printing -------------------------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (n && o->size && o->len < o->size - 1) {
        size_t room = o->size - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static int finish(out_t *o)
{
    if (o->size) o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
    return o->len > INT_MAX ? SIP_ERANGE : (int)o->len;
}

int sip_multipart_print(const sip_multipart_t *mp, char *buf, size_t size)
{
    if (!mp || (!buf && size)) return SIP_EINVAL;
    out_t o = {buf, size, 0};
    for (size_t i = 0; i < mp->nparts; i++) {
        const struct sip_multipart_part *p = mp->parts[i];
        put(&o, "--", 2);
        put(&o, mp->boundary.ptr, mp->boundary.len);
        put(&o, "\r\n", 2);
        for (const mp_header_t *h = p->first; h; h = h->next) {
            put(&o, h->name.ptr, h->name.len);
            put(&o, ": ", 2);
            put(&o, h->value.ptr, h->value.len);
            put(&o, "\r\n", 2);
        }
        put(&o, "\r\n", 2);
        put(&o, p->body.ptr, p->body.len);
        put(&o, "\r\n", 2);
    }
    put(&o, "--", 2);
    put(&o, mp->boundary.ptr, mp->boundary.len);
    put(&o, "--\r\n", 4);
    return finish(&o);
}

int sip_multipart_print_content_type(const sip_multipart_t *mp, char *buf, size_t size)
{
    if (!mp || (!buf && size)) return SIP_EINVAL;
    out_t o = {buf, size, 0};
    put(&o, "multipart/", 10);
    put(&o, mp->subtype.ptr, mp->subtype.len);
    put(&o, ";boundary=", 10);
    int quote = !is_token(mp->boundary);
    if (quote) put(&o, "\"", 1);
    put(&o, mp->boundary.ptr, mp->boundary.len);
    if (quote) put(&o, "\"", 1);
    return finish(&o);
}
