/* SPDX-License-Identifier: MIT */
/* SDP printer: wire form with CRLF line ends, snprintf semantics. */
#include <limits.h>
#include <string.h>

#include "sdp/sdp_int.h"

typedef struct out {
    char *buf;
    size_t size; /* capacity of buf, including room for the NUL */
    size_t len;  /* bytes the full output needs so far */
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (n && o->size && o->len < o->size - 1) {
        size_t room = o->size - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void line(out_t *o, char type, sip_str_t v)
{
    char head[2] = {type, '='};
    put(o, head, 2);
    put(o, v.ptr, v.len);
    put(o, "\r\n", 2);
}

static void attrs(out_t *o, const sdp_attr_list_t *l)
{
    for (const sdp_attr_t *a = l->first; a; a = a->next) {
        put(o, "a=", 2);
        put(o, a->pub.name.ptr, a->pub.name.len);
        if (a->pub.has_value) {
            put(o, ":", 1);
            put(o, a->pub.value.ptr, a->pub.value.len);
        }
        put(o, "\r\n", 2);
    }
}

int sip_sdp_print(const sip_sdp_t *sdp, char *buf, size_t size)
{
    if (!sdp || (!buf && size)) return SIP_EINVAL;
    out_t o = {buf, size, 0};

    /* RFC 8866 §5: v o s i u e p c b (t r z)+ k a, then each media: m i c b k a. */
    put(&o, "v=0\r\n", 5);
    line(&o, 'o', sdp->origin_raw);
    line(&o, 's', sdp->name);
    if (sdp->info.ptr) line(&o, 'i', sdp->info);
    if (sdp->uri.ptr) line(&o, 'u', sdp->uri);
    for (const sdp_strnode_t *n = sdp->emails.first; n; n = n->next)
        line(&o, 'e', n->s);
    for (const sdp_strnode_t *n = sdp->phones.first; n; n = n->next)
        line(&o, 'p', n->s);
    if (sdp->conn) line(&o, 'c', sdp->conn->raw);
    for (const sdp_bw_t *b = sdp->bws.first; b; b = b->next)
        line(&o, 'b', b->raw);
    for (const sdp_time_t *t = sdp->tfirst; t; t = t->next) {
        line(&o, 't', t->raw);
        for (const sdp_repeat_t *r = t->rfirst; r; r = r->next)
            line(&o, 'r', r->raw);
        if (t->zraw.ptr) line(&o, 'z', t->zraw);
    }
    if (sdp->key.ptr) line(&o, 'k', sdp->key);
    attrs(&o, &sdp->attrs);
    for (const sip_sdp_media_t *m = sdp->mfirst; m; m = m->next) {
        line(&o, 'm', m->raw);
        if (m->info.ptr) line(&o, 'i', m->info);
        for (const sdp_conn_t *c = m->conns.first; c; c = c->next)
            line(&o, 'c', c->raw);
        for (const sdp_bw_t *b = m->bws.first; b; b = b->next)
            line(&o, 'b', b->raw);
        if (m->key.ptr) line(&o, 'k', m->key);
        attrs(&o, &m->attrs);
    }
    /* GB28181's y= and f= where its peers write them: last. */
    if (sdp->ssrc.ptr) line(&o, 'y', sdp->ssrc);
    if (sdp->format.ptr) line(&o, 'f', sdp->format);
    if (size) buf[o.len < size ? o.len : size - 1] = '\0';
    if (o.len > INT_MAX) return SIP_ERANGE;
    return (int)o.len;
}
