/* SPDX-License-Identifier: MIT */
/* Session description memory, life cycle and read access. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "sdp/sdp_int.h"

#define ALIGN 16u
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))
#define CHUNK_HDR ALIGN_UP(sizeof(sip__sdp_chunk_t))
#define CHUNK_MIN 4096u
/* The first chunk is sized to the parse's estimate: a session description held for the life of
 * a call (an offer/answer engine keeps several) should not cost 4 KB for 200 bytes of text. */
#define FIRST_CHUNK_MIN 512u

static sip__sdp_chunk_t *chunk_new(size_t size)
{
    if (size > (size_t)-1 - CHUNK_HDR) return NULL;
    sip__sdp_chunk_t *c = malloc(CHUNK_HDR + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

sip_sdp_t *sip__sdp_new(size_t first_chunk)
{
    size_t self = ALIGN_UP(sizeof(sip_sdp_t));
    if (first_chunk > (size_t)-1 - self - ALIGN) return NULL;
    first_chunk = ALIGN_UP(first_chunk + self);
    if (first_chunk < FIRST_CHUNK_MIN) first_chunk = FIRST_CHUNK_MIN;
    sip__sdp_chunk_t *c = chunk_new(first_chunk);
    if (!c) return NULL;
    /* The session record is the first allocation of its own first chunk: one malloc per parse. */
    sip_sdp_t *sdp = (sip_sdp_t *)((char *)c + CHUNK_HDR);
    memset(sdp, 0, sizeof(*sdp));
    c->used = self;
    sdp->chunks = c;
    sdp->refs = 1;
    sip__live_inc(SIP_LIVE_SDP);
    return sdp;
}

void *sip__sdp_alloc(sip_sdp_t *sdp, size_t n)
{
    sip__sdp_chunk_t *c = sdp->chunks;
    if (n > (size_t)-1 / 2) return NULL;
    n = ALIGN_UP(n ? n : 1);
    if (!c || c->size - c->used < n) {
        size_t size = c && c->size * 2 > n ? c->size * 2 : n;
        /* Later chunks double; a small first one grows to 1 KB, not to CHUNK_MIN at once. */
        size_t min = c && c->size < CHUNK_MIN ? 1024u : CHUNK_MIN;
        if (size < min) size = min;
        if (size > 65536 && size > n) size = n > 65536 ? n : 65536;
        sip__sdp_chunk_t *nc = chunk_new(size);
        if (!nc) return NULL;
        /* Keep the first chunk last on the list: it holds the session record itself. */
        nc->next = c;
        sdp->chunks = c = nc;
    }
    void *p = (char *)c + CHUNK_HDR + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

int sip__sdp_dup(sip_sdp_t *sdp, const char *s, size_t n, sip_str_t *out)
{
    char *p = sip__sdp_alloc(sdp, n + 1);
    if (!p) return SIP_ENOMEM;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    out->ptr = p;
    out->len = n;
    return 0;
}

int sip__sdp_fmt(sip_sdp_t *sdp, sip_str_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return SIP_EINVAL;
    char *p = sip__sdp_alloc(sdp, (size_t)n + 1);
    if (!p) return SIP_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->ptr = p;
    out->len = (size_t)n;
    return 0;
}

int sip__sdp_fail(sdp_ctx_t *ctx, const char *at, const char *fmt, ...)
{
    sip_sdp_error_t *e = ctx->err;
    if (!e) return SIP_ESDP;
    char why[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    e->line = ctx->line;
    e->type = ctx->type;
    e->column = (at && ctx->line_start && at >= ctx->line_start)
                    ? (unsigned)(at - ctx->line_start) + 1
                    : (ctx->line_start ? 1u : 0u);
    if (ctx->type)
        snprintf(e->reason, sizeof(e->reason), "line %u (%c=): %s", ctx->line, ctx->type, why);
    else if (ctx->line)
        snprintf(e->reason, sizeof(e->reason), "line %u: %s", ctx->line, why);
    else
        snprintf(e->reason, sizeof(e->reason), "%s", why);
    return SIP_ESDP;
}

sip_sdp_t *sip_sdp_ref(sip_sdp_t *sdp)
{
    if (sdp) sdp->refs++;
    return sdp;
}

void sip_sdp_unref(sip_sdp_t *sdp)
{
    if (!sdp || --sdp->refs > 0) return;
    sip__live_dec(SIP_LIVE_SDP);
    /* The session record lives in the oldest chunk, freed last. */
    sip__sdp_chunk_t *c = sdp->chunks;
    while (c) {
        sip__sdp_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

/* ---- session level --------------------------------------------------------------------------- */

static const sip_str_t empty = {NULL, 0};

static sip_str_t strlist_at(const sdp_strlist_t *l, size_t i)
{
    for (const sdp_strnode_t *n = l->first; n; n = n->next)
        if (i-- == 0) return n->s;
    return empty;
}

static const sip_sdp_bandwidth_t *bw_at(const sdp_bw_list_t *l, size_t i)
{
    for (const sdp_bw_t *b = l->first; b; b = b->next)
        if (i-- == 0) return &b->pub;
    return NULL;
}

static const sip_sdp_attr_t *attr_at(const sdp_attr_list_t *l, size_t i)
{
    for (const sdp_attr_t *a = l->first; a; a = a->next)
        if (i-- == 0) return &a->pub;
    return NULL;
}

static const sip_sdp_attr_t *attr_get(const sdp_attr_list_t *l, const char *name, size_t i)
{
    if (!name) return NULL;
    sip_str_t want = sip_str_from_cstr(name);
    for (const sdp_attr_t *a = l->first; a; a = a->next)
        if (sip_str_eq(a->pub.name, want) && i-- == 0) return &a->pub;
    return NULL;
}

const sip_sdp_origin_t *sip_sdp_get_origin(const sip_sdp_t *sdp)
{
    return sdp ? &sdp->origin : NULL;
}

sip_str_t sip_sdp_get_session_name(const sip_sdp_t *sdp)
{
    return sdp ? sdp->name : empty;
}

sip_str_t sip_sdp_get_info(const sip_sdp_t *sdp)
{
    return sdp ? sdp->info : empty;
}

sip_str_t sip_sdp_get_uri(const sip_sdp_t *sdp)
{
    return sdp ? sdp->uri : empty;
}

size_t sip_sdp_email_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->emails.count : 0;
}

sip_str_t sip_sdp_email_at(const sip_sdp_t *sdp, size_t i)
{
    return sdp ? strlist_at(&sdp->emails, i) : empty;
}

size_t sip_sdp_phone_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->phones.count : 0;
}

sip_str_t sip_sdp_phone_at(const sip_sdp_t *sdp, size_t i)
{
    return sdp ? strlist_at(&sdp->phones, i) : empty;
}

const sip_sdp_conn_t *sip_sdp_get_connection(const sip_sdp_t *sdp)
{
    return sdp && sdp->conn ? &sdp->conn->pub : NULL;
}

size_t sip_sdp_bandwidth_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->bws.count : 0;
}

const sip_sdp_bandwidth_t *sip_sdp_bandwidth_at(const sip_sdp_t *sdp, size_t i)
{
    return sdp ? bw_at(&sdp->bws, i) : NULL;
}

size_t sip_sdp_time_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->ntimes : 0;
}

const sip_sdp_time_t *sip_sdp_time_at(const sip_sdp_t *sdp, size_t i)
{
    if (!sdp) return NULL;
    for (const sdp_time_t *t = sdp->tfirst; t; t = t->next)
        if (i-- == 0) return &t->pub;
    return NULL;
}

const sip_sdp_repeat_t *sip_sdp_repeat_at(const sip_sdp_time_t *t, size_t i)
{
    if (!t) return NULL;
    /* pub is the first member, so the public pointer is the record's. */
    for (const sdp_repeat_t *r = ((const sdp_time_t *)t)->rfirst; r; r = r->next)
        if (i-- == 0) return &r->pub;
    return NULL;
}

uint64_t sip_sdp_repeat_offset_at(const sip_sdp_repeat_t *r, size_t i)
{
    if (!r || i >= r->offset_count) return 0;
    return ((const sdp_repeat_t *)r)->offsets[i];
}

const sip_sdp_zone_t *sip_sdp_zone_at(const sip_sdp_time_t *t, size_t i)
{
    if (!t || i >= t->zone_count) return NULL;
    return &((const sdp_time_t *)t)->zones[i];
}

sip_str_t sip_sdp_get_key(const sip_sdp_t *sdp)
{
    return sdp ? sdp->key : empty;
}

sip_str_t sip_sdp_get_ssrc(const sip_sdp_t *sdp)
{
    return sdp ? sdp->ssrc : empty;
}

sip_str_t sip_sdp_get_format(const sip_sdp_t *sdp)
{
    return sdp ? sdp->format : empty;
}

size_t sip_sdp_attr_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->attrs.count : 0;
}

const sip_sdp_attr_t *sip_sdp_attr_at(const sip_sdp_t *sdp, size_t i)
{
    return sdp ? attr_at(&sdp->attrs, i) : NULL;
}

const sip_sdp_attr_t *sip_sdp_attr_get(const sip_sdp_t *sdp, const char *name, size_t i)
{
    return sdp ? attr_get(&sdp->attrs, name, i) : NULL;
}

static const char *const dir_names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};

const char *sip_sdp_dir_name(sip_sdp_dir_t dir)
{
    return (unsigned)dir < 4 ? dir_names[dir] : NULL;
}

/* The last direction attribute of a list wins; -1 when there is none. */
static int list_direction(const sdp_attr_list_t *l)
{
    int dir = -1;
    for (const sdp_attr_t *a = l->first; a; a = a->next) {
        if (a->pub.has_value) continue;
        for (int d = 0; d < 4; d++)
            if (sip_str_eq(a->pub.name, sip_str_from_cstr(dir_names[d]))) dir = d;
    }
    return dir;
}

sip_sdp_dir_t sip_sdp_get_direction(const sip_sdp_t *sdp)
{
    int d = sdp ? list_direction(&sdp->attrs) : -1;
    return d < 0 ? SIP_SDP_SENDRECV : (sip_sdp_dir_t)d;
}

size_t sip_sdp_media_count(const sip_sdp_t *sdp)
{
    return sdp ? sdp->nmedia : 0;
}

const sip_sdp_media_t *sip_sdp_media_at(const sip_sdp_t *sdp, size_t i)
{
    if (!sdp) return NULL;
    for (const sip_sdp_media_t *m = sdp->mfirst; m; m = m->next)
        if (i-- == 0) return m;
    return NULL;
}

/* ---- media level ----------------------------------------------------------------------------- */

sip_str_t sip_sdp_media_get_type(const sip_sdp_media_t *m)
{
    return m ? m->type : empty;
}

unsigned sip_sdp_media_get_port(const sip_sdp_media_t *m)
{
    return m ? m->port : 0;
}

unsigned sip_sdp_media_get_port_count(const sip_sdp_media_t *m)
{
    return m ? m->nports : 0;
}

sip_str_t sip_sdp_media_get_proto(const sip_sdp_media_t *m)
{
    return m ? m->proto : empty;
}

size_t sip_sdp_media_format_count(const sip_sdp_media_t *m)
{
    return m ? m->nfmts : 0;
}

sip_str_t sip_sdp_media_format_at(const sip_sdp_media_t *m, size_t i)
{
    return m && i < m->nfmts ? m->fmts[i] : empty;
}

sip_str_t sip_sdp_media_get_info(const sip_sdp_media_t *m)
{
    return m ? m->info : empty;
}

size_t sip_sdp_media_connection_count(const sip_sdp_media_t *m)
{
    return m ? m->conns.count : 0;
}

const sip_sdp_conn_t *sip_sdp_media_connection_at(const sip_sdp_media_t *m, size_t i)
{
    if (!m) return NULL;
    for (const sdp_conn_t *c = m->conns.first; c; c = c->next)
        if (i-- == 0) return &c->pub;
    return NULL;
}

const sip_sdp_conn_t *sip_sdp_media_get_connection(const sip_sdp_media_t *m)
{
    if (!m) return NULL;
    if (m->conns.first) return &m->conns.first->pub;
    return m->sdp->conn ? &m->sdp->conn->pub : NULL;
}

size_t sip_sdp_media_bandwidth_count(const sip_sdp_media_t *m)
{
    return m ? m->bws.count : 0;
}

const sip_sdp_bandwidth_t *sip_sdp_media_bandwidth_at(const sip_sdp_media_t *m, size_t i)
{
    return m ? bw_at(&m->bws, i) : NULL;
}

sip_str_t sip_sdp_media_get_key(const sip_sdp_media_t *m)
{
    return m ? m->key : empty;
}

size_t sip_sdp_media_attr_count(const sip_sdp_media_t *m)
{
    return m ? m->attrs.count : 0;
}

const sip_sdp_attr_t *sip_sdp_media_attr_at(const sip_sdp_media_t *m, size_t i)
{
    return m ? attr_at(&m->attrs, i) : NULL;
}

const sip_sdp_attr_t *sip_sdp_media_attr_get(const sip_sdp_media_t *m, const char *name, size_t i)
{
    return m ? attr_get(&m->attrs, name, i) : NULL;
}

sip_sdp_dir_t sip_sdp_media_get_direction(const sip_sdp_media_t *m)
{
    if (!m) return SIP_SDP_SENDRECV;
    int d = list_direction(&m->attrs);
    return d < 0 ? sip_sdp_get_direction(m->sdp) : (sip_sdp_dir_t)d;
}

/* RFC 8866 §6.4: a=ptime:<packet time> in milliseconds; a decimal fraction is allowed. */
static int ms_attr(const sip_sdp_media_t *m, const char *name)
{
    const sip_sdp_attr_t *a = m ? attr_get(&m->attrs, name, 0) : NULL;
    if (!a) return m ? -1 : SIP_EINVAL;
    sip_str_t v = a->value, whole = v;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] == '.') {
            whole.len = i;
            for (size_t j = i + 1; j < v.len; j++)
                if (v.ptr[j] < '0' || v.ptr[j] > '9') return SIP_ESDP;
            if (i + 1 == v.len) return SIP_ESDP;
            break;
        }
    }
    unsigned long ms;
    if (sip_str_to_u32(whole, 0x7fffffffUL, &ms) != 0) return SIP_ESDP;
    return (int)ms;
}

int sip_sdp_media_get_ptime(const sip_sdp_media_t *m)
{
    return ms_attr(m, "ptime");
}

int sip_sdp_media_get_maxptime(const sip_sdp_media_t *m)
{
    return ms_attr(m, "maxptime");
}

/* Splits "<first> <rest>" at the first space; rest may be empty. */
static int split_first(sip_str_t v, sip_str_t *first, sip_str_t *rest)
{
    size_t i = 0;
    while (i < v.len && v.ptr[i] != ' ')
        i++;
    if (i == 0 || i == v.len) return -1;
    first->ptr = v.ptr;
    first->len = i;
    while (i < v.len && v.ptr[i] == ' ')
        i++;
    rest->ptr = v.ptr + i;
    rest->len = v.len - i;
    return 0;
}

int sip_sdp_attr_rtpmap(const sip_sdp_attr_t *a, sip_sdp_rtpmap_t *out)
{
    if (!a || !out || !sip_str_eq(a->name, SIP_STR("rtpmap"))) return SIP_EINVAL;
    sip_str_t pt, rest;
    unsigned long n;
    memset(out, 0, sizeof(*out));
    if (split_first(a->value, &pt, &rest) != 0 || rest.len == 0) return SIP_ESDP;
    if (sip_str_to_u32(pt, 127, &n) != 0) return SIP_ESDP;
    out->payload = (unsigned)n;
    /* <encoding name>/<clock rate>[/<encoding parameters>] */
    const char *p = rest.ptr, *end = rest.ptr + rest.len;
    const char *s1 = memchr(p, '/', rest.len);
    if (!s1 || s1 == p) return SIP_ESDP;
    out->encoding.ptr = p;
    out->encoding.len = (size_t)(s1 - p);
    const char *cr = s1 + 1;
    const char *s2 = memchr(cr, '/', (size_t)(end - cr));
    sip_str_t rate = {cr, (size_t)((s2 ? s2 : end) - cr)};
    /* Trailing blanks are common in the wild and harmless. */
    while (rate.len && (rate.ptr[rate.len - 1] == ' ' || rate.ptr[rate.len - 1] == '\t'))
        rate.len--;
    if (sip_str_to_u32(rate, 0xffffffffUL, &n) != 0 || n == 0) return SIP_ESDP;
    out->clock_rate = (uint32_t)n;
    out->channels = 1;
    if (s2) {
        out->params.ptr = s2 + 1;
        out->params.len = (size_t)(end - s2 - 1);
        if (out->params.len == 0) return SIP_ESDP;
        if (sip_str_to_u32(out->params, 255, &n) == 0 && n > 0) out->channels = (unsigned)n;
    }
    return 0;
}

int sip_sdp_attr_fmtp(const sip_sdp_attr_t *a, sip_sdp_fmtp_t *out)
{
    if (!a || !out || !sip_str_eq(a->name, SIP_STR("fmtp"))) return SIP_EINVAL;
    memset(out, 0, sizeof(*out));
    if (split_first(a->value, &out->format, &out->params) != 0) return SIP_ESDP;
    return 0;
}

int sip_sdp_media_rtpmap(const sip_sdp_media_t *m, unsigned pt, sip_sdp_rtpmap_t *out)
{
    if (!m || !out) return SIP_EINVAL;
    for (const sdp_attr_t *a = m->attrs.first; a; a = a->next) {
        if (!sip_str_eq(a->pub.name, SIP_STR("rtpmap"))) continue;
        sip_str_t first, rest;
        unsigned long n;
        if (split_first(a->pub.value, &first, &rest) != 0) continue;
        if (sip_str_to_u32(first, 127, &n) != 0 || n != pt) continue;
        return sip_sdp_attr_rtpmap(&a->pub, out);
    }
    return SIP_ENOENT;
}

int sip_sdp_media_fmtp(const sip_sdp_media_t *m, const char *fmt, sip_sdp_fmtp_t *out)
{
    if (!m || !out || !fmt) return SIP_EINVAL;
    sip_str_t want = sip_str_from_cstr(fmt);
    for (const sdp_attr_t *a = m->attrs.first; a; a = a->next) {
        if (!sip_str_eq(a->pub.name, SIP_STR("fmtp"))) continue;
        sip_sdp_fmtp_t f;
        if (sip_sdp_attr_fmtp(&a->pub, &f) != 0) {
            /* "a=fmtp:96" with no parameters: the whole value is the format. */
            if (sip_str_eq(a->pub.value, want)) return SIP_ESDP;
            continue;
        }
        if (sip_str_eq(f.format, want)) {
            *out = f;
            return 0;
        }
    }
    return SIP_ENOENT;
}
