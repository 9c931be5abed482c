/* SPDX-License-Identifier: MIT */
/* SDP builder: new sessions and edits, checked with the parser's own field grammar. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sdp/sdp_int.h"

/* Builder checks report nothing: a bad argument is SIP_EINVAL, not a parse error. */
static int einval(int rc)
{
    return rc == SIP_ESDP ? SIP_EINVAL : rc;
}

/* A composed value must be one line of text. */
static int one_line(sip_str_t v)
{
    sdp_ctx_t ctx = {0};
    return sip__sdp_check_text(&ctx, v, 1) == 0;
}

static struct sip_sdp_media *media_find(sip_sdp_t *sdp, size_t idx)
{
    for (struct sip_sdp_media *m = sdp->mfirst; m; m = m->next)
        if (idx-- == 0) return m;
    return NULL;
}

int sip_sdp_set_origin(sip_sdp_t *sdp, const char *username, const char *sess_id,
                       const char *sess_version, const char *nettype, const char *addrtype,
                       const char *address)
{
    if (!sdp || !username || !sess_id || !sess_version || !nettype || !addrtype || !address)
        return SIP_EINVAL;
    sip_str_t v;
    int rc = sip__sdp_fmt(sdp, &v, "%s %s %s %s %s %s", username, sess_id, sess_version, nettype,
                          addrtype, address);
    if (rc) return rc;
    sdp_ctx_t ctx = {0};
    sip_sdp_origin_t o;
    if (!one_line(v) || sip__sdp_parse_origin(&ctx, v, &o) != 0) return SIP_EINVAL;
    /* Each argument must be exactly one field: "a b" as a username would shift the others. */
    if (o.username.len != strlen(username) || o.address.len != strlen(address)) return SIP_EINVAL;
    sdp->origin = o;
    sdp->origin_raw = v;
    return 0;
}

int sip_sdp_set_session_name(sip_sdp_t *sdp, const char *name)
{
    if (!sdp) return SIP_EINVAL;
    /* RFC 8866 §5.3: a session without a name uses "s=-" (or "s= "). */
    if (!name || !*name) name = "-";
    sip_str_t v;
    int rc = sip__sdp_dup(sdp, name, strlen(name), &v);
    if (rc) return rc;
    if (!one_line(v)) return SIP_EINVAL;
    sdp->name = v;
    return 0;
}

static int new_conn(sip_sdp_t *sdp, const char *nettype, const char *addrtype, const char *address,
                    sdp_conn_t **out)
{
    if (!nettype || !addrtype) return SIP_EINVAL;
    sdp_conn_t *c = sip__sdp_alloc(sdp, sizeof(*c));
    if (!c) return SIP_ENOMEM;
    int rc = sip__sdp_fmt(sdp, &c->raw, "%s %s %s", nettype, addrtype, address);
    if (rc) return rc;
    sdp_ctx_t ctx = {0};
    if (!one_line(c->raw) || sip__sdp_parse_conn(&ctx, c->raw, &c->pub) != 0) return SIP_EINVAL;
    if (c->pub.nettype.len != strlen(nettype)) return SIP_EINVAL;
    *out = c;
    return 0;
}

int sip_sdp_set_connection(sip_sdp_t *sdp, const char *nettype, const char *addrtype,
                           const char *address)
{
    if (!sdp) return SIP_EINVAL;
    if (!address) {
        sdp->conn = NULL;
        return 0;
    }
    sdp_conn_t *c;
    int rc = new_conn(sdp, nettype, addrtype, address, &c);
    if (rc) return rc;
    sdp->conn = c;
    return 0;
}

int sip_sdp_set_time(sip_sdp_t *sdp, uint64_t start, uint64_t stop)
{
    if (!sdp) return SIP_EINVAL;
    sdp_time_t *t = sip__sdp_alloc(sdp, sizeof(*t));
    if (!t) return SIP_ENOMEM;
    int rc = sip__sdp_fmt(sdp, &t->raw, "%" PRIu64 " %" PRIu64, start, stop);
    if (rc) return rc;
    t->pub.start = start;
    t->pub.stop = stop;
    sdp->tfirst = sdp->tlast = t;
    sdp->ntimes = 1;
    return 0;
}

static int new_attr(sip_sdp_t *sdp, const char *name, const char *value, sdp_attr_t **out)
{
    if (!name) return SIP_EINVAL;
    sdp_attr_t *a = sip__sdp_alloc(sdp, sizeof(*a));
    if (!a) return SIP_ENOMEM;
    sip_str_t v;
    int rc =
        value ? sip__sdp_fmt(sdp, &v, "%s:%s", name, value) : sip__sdp_fmt(sdp, &v, "%s", name);
    if (rc) return rc;
    sdp_ctx_t ctx = {0};
    if (!one_line(v) || sip__sdp_parse_attr(&ctx, v, &a->pub) != 0) return SIP_EINVAL;
    /* A ':' inside the name would move part of it into the value. */
    if (a->pub.name.len != strlen(name)) return SIP_EINVAL;
    *out = a;
    return 0;
}

static void attr_append(sdp_attr_list_t *l, sdp_attr_t *a)
{
    if (l->last)
        l->last->next = a;
    else
        l->first = a;
    l->last = a;
    l->count++;
}

/* Unlinks every attribute with that name; the records stay in the chunks, so views survive. */
static int attr_remove(sdp_attr_list_t *l, const char *name)
{
    sip_str_t want = sip_str_from_cstr(name);
    int n = 0;
    sdp_attr_t *prev = NULL;
    for (sdp_attr_t *a = l->first; a;) {
        sdp_attr_t *next = a->next;
        if (sip_str_eq(a->pub.name, want)) {
            if (prev)
                prev->next = next;
            else
                l->first = next;
            if (l->last == a) l->last = prev;
            l->count--;
            n++;
        } else {
            prev = a;
        }
        a = next;
    }
    return n;
}

int sip_sdp_add_attr(sip_sdp_t *sdp, const char *name, const char *value)
{
    if (!sdp) return SIP_EINVAL;
    sdp_attr_t *a;
    int rc = new_attr(sdp, name, value, &a);
    if (rc) return rc;
    attr_append(&sdp->attrs, a);
    return 0;
}

int sip_sdp_remove_attr(sip_sdp_t *sdp, const char *name)
{
    if (!sdp || !name) return SIP_EINVAL;
    return attr_remove(&sdp->attrs, name);
}

static int set_dir(sip_sdp_t *sdp, sdp_attr_list_t *l, sip_sdp_dir_t dir, int always)
{
    const char *name = sip_sdp_dir_name(dir);
    if (!name) return SIP_EINVAL;
    sdp_attr_t *a = NULL;
    if (always || dir != SIP_SDP_SENDRECV) {
        int rc = new_attr(sdp, name, NULL, &a);
        if (rc) return rc;
    }
    for (int d = 0; d < 4; d++)
        attr_remove(l, sip_sdp_dir_name((sip_sdp_dir_t)d));
    if (a) attr_append(l, a);
    return 0;
}

int sip_sdp_set_direction(sip_sdp_t *sdp, sip_sdp_dir_t dir)
{
    if (!sdp) return SIP_EINVAL;
    return set_dir(sdp, &sdp->attrs, dir, 0);
}

int sip_sdp_add_media(sip_sdp_t *sdp, const char *type, unsigned port, const char *proto,
                      const char *formats)
{
    if (!sdp || !type || !proto || !formats || port > 65535) return SIP_EINVAL;
    if (sdp->nmedia >= INT_MAX) return SIP_ERANGE;
    struct sip_sdp_media *m = sip__sdp_alloc(sdp, sizeof(*m));
    if (!m) return SIP_ENOMEM;
    int rc = sip__sdp_fmt(sdp, &m->raw, "%s %u %s %s", type, port, proto, formats);
    if (rc) return rc;
    sdp_ctx_t ctx = {0};
    if (!one_line(m->raw)) return SIP_EINVAL;
    if ((rc = sip__sdp_parse_media(&ctx, sdp, m->raw, m)) != 0) return einval(rc);
    if (m->type.len != strlen(type) || m->proto.len != strlen(proto)) return SIP_EINVAL;
    m->sdp = sdp;
    if (sdp->mlast)
        sdp->mlast->next = m;
    else
        sdp->mfirst = m;
    sdp->mlast = m;
    return (int)sdp->nmedia++;
}

int sip_sdp_media_set_port(sip_sdp_t *sdp, size_t idx, unsigned port)
{
    struct sip_sdp_media *m = sdp ? media_find(sdp, idx) : NULL;
    if (!m || port > 65535) return SIP_EINVAL;
    /* Rebuild the m= value from its fields: "type port[/n] proto fmt...". */
    size_t need = m->type.len + m->proto.len + 32;
    for (size_t i = 0; i < m->nfmts; i++)
        need += m->fmts[i].len + 1;
    char *p = sip__sdp_alloc(sdp, need);
    if (!p) return SIP_ENOMEM;
    size_t n = 0;
    memcpy(p, m->type.ptr, m->type.len);
    n += m->type.len;
    if (m->nports > 1)
        n += (size_t)snprintf(p + n, need - n, " %u/%u ", port, m->nports);
    else
        n += (size_t)snprintf(p + n, need - n, " %u ", port);
    memcpy(p + n, m->proto.ptr, m->proto.len);
    n += m->proto.len;
    for (size_t i = 0; i < m->nfmts; i++) {
        p[n++] = ' ';
        memcpy(p + n, m->fmts[i].ptr, m->fmts[i].len);
        n += m->fmts[i].len;
    }
    struct sip_sdp_media tmp;
    memset(&tmp, 0, sizeof(tmp));
    sip_str_t raw = {p, n};
    sdp_ctx_t ctx = {0};
    int rc = sip__sdp_parse_media(&ctx, sdp, raw, &tmp);
    if (rc) return einval(rc);
    m->raw = raw;
    m->type = tmp.type;
    m->proto = tmp.proto;
    m->port = tmp.port;
    m->nports = tmp.nports;
    m->fmts = tmp.fmts;
    m->nfmts = tmp.nfmts;
    return 0;
}

int sip_sdp_media_set_connection(sip_sdp_t *sdp, size_t idx, const char *nettype,
                                 const char *addrtype, const char *address)
{
    struct sip_sdp_media *m = sdp ? media_find(sdp, idx) : NULL;
    if (!m) return SIP_EINVAL;
    sdp_conn_t *c = NULL;
    if (address) {
        int rc = new_conn(sdp, nettype, addrtype, address, &c);
        if (rc) return rc;
    }
    m->conns.first = m->conns.last = c;
    m->conns.count = c ? 1 : 0;
    return 0;
}

int sip_sdp_media_add_attr(sip_sdp_t *sdp, size_t idx, const char *name, const char *value)
{
    struct sip_sdp_media *m = sdp ? media_find(sdp, idx) : NULL;
    if (!m) return SIP_EINVAL;
    sdp_attr_t *a;
    int rc = new_attr(sdp, name, value, &a);
    if (rc) return rc;
    attr_append(&m->attrs, a);
    return 0;
}

int sip_sdp_media_remove_attr(sip_sdp_t *sdp, size_t idx, const char *name)
{
    struct sip_sdp_media *m = sdp ? media_find(sdp, idx) : NULL;
    if (!m || !name) return SIP_EINVAL;
    return attr_remove(&m->attrs, name);
}

int sip_sdp_media_set_direction(sip_sdp_t *sdp, size_t idx, sip_sdp_dir_t dir)
{
    struct sip_sdp_media *m = sdp ? media_find(sdp, idx) : NULL;
    if (!m) return SIP_EINVAL;
    return set_dir(sdp, &m->attrs, dir, 1);
}

int sip_sdp_create(sip_sdp_t **out)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    sip_sdp_t *sdp = sip__sdp_new(0);
    if (!sdp) return SIP_ENOMEM;
    int rc = sip_sdp_set_origin(sdp, "-", "0", "0", "IN", "IP4", "0.0.0.0");
    if (!rc) rc = sip_sdp_set_session_name(sdp, "-");
    if (!rc) rc = sip_sdp_set_time(sdp, 0, 0);
    if (rc) {
        sip_sdp_unref(sdp);
        return rc;
    }
    *out = sdp;
    return 0;
}
