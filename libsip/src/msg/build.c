/* SPDX-License-Identifier: MIT */
/* Building and editing messages: new requests, responses from requests, header and body edits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/chars.h"
#include "msg/msg_int.h"

static int valid_token(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!IS(s[i], SIP__C_TOKEN)) return 0;
    return 1;
}

/* A header value given through the API is one line: CR or LF would let a caller smuggle headers. */
static int valid_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
    return 1;
}

int sip_msg_create_request(sip_msg_t **out, const char *method, const char *uri)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!method || !uri) return SIP_EINVAL;
    size_t ml = strlen(method), ul = strlen(uri);
    if (!valid_token(method, ml)) return SIP_EINVAL;
    sip_msg_t *msg = sip__msg_new(1024 + ml + ul);
    if (!msg) return SIP_ENOMEM;
    msg->is_request = 1;
    char *m = sip__msg_strdup(msg, method, ml);
    char *u = sip__msg_strdup(msg, uri, ul);
    if (!m || !u) {
        sip_msg_unref(msg);
        return SIP_ENOMEM;
    }
    if (sip_uri_parse(&msg->uri, u, ul) != 0) {
        sip_msg_unref(msg);
        return SIP_EURI;
    }
    msg->method_str = (sip_str_t){m, ml};
    msg->method = sip_method_from_str(m, ml);
    msg->version = SIP_STR("SIP/2.0");
    msg->body = (sip_str_t){u + ul, 0};
    *out = msg;
    return 0;
}

static int add_header_n(sip_msg_t *msg, const char *name, size_t nl, const char *value, size_t vl,
                        int first)
{
    if (!valid_token(name, nl) || !valid_value(value, vl)) return SIP_EINVAL;
    while (vl && (value[0] == ' ' || value[0] == '\t'))
        value++, vl--;
    while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
        vl--;
    char *n = sip__msg_strdup(msg, name, nl);
    char *v = sip__msg_strdup(msg, value, vl);
    if (!n || !v) return SIP_ENOMEM;
    sip_hdr_id_t id = sip_hdr_id_from_name(n, nl);
    int rc = sip__msg_parse_header_value(msg, id, (sip_str_t){n, nl}, v, vl, first, NULL, 0, 0);
    if (rc == 0) msg->intact = 0;
    return rc;
}

int sip__msg_add_header_n(sip_msg_t *msg, const char *name, const char *value, size_t vl)
{
    if (!msg || !name || !value) return SIP_EINVAL;
    return add_header_n(msg, name, strlen(name), value, vl, 0);
}

int sip_msg_add_header(sip_msg_t *msg, const char *name, const char *value)
{
    if (!msg || !name || !value) return SIP_EINVAL;
    return add_header_n(msg, name, strlen(name), value, strlen(value), 0);
}

int sip_msg_prepend_header(sip_msg_t *msg, const char *name, const char *value)
{
    if (!msg || !name || !value) return SIP_EINVAL;
    return add_header_n(msg, name, strlen(name), value, strlen(value), 1);
}

int sip_msg_remove_header(sip_msg_t *msg, const char *name, size_t i)
{
    if (!msg || !name) return SIP_EINVAL;
    const sip_header_t *h = sip_msg_header_by_name(msg, name, i);
    if (!h) return SIP_ENOENT;
    sip__msg_unlink(msg, (struct sip_header *)h);
    msg->intact = 0;
    return 0;
}

int sip_msg_remove_headers(sip_msg_t *msg, const char *name)
{
    int n = 0;
    if (!msg || !name) return SIP_EINVAL;
    while (sip_msg_remove_header(msg, name, 0) == 0)
        n++;
    return n;
}

static int same_header(const struct sip_header *h, sip_hdr_id_t id, sip_str_t name)
{
    return id != SIP_HDR_OTHER ? h->id == id
                               : h->id == SIP_HDR_OTHER && sip_str_caseeq(h->name, name);
}

int sip_msg_set_header(sip_msg_t *msg, const char *name, const char *value)
{
    if (!msg || !name || !value) return SIP_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    if (!valid_token(name, nl) || !valid_value(value, vl)) return SIP_EINVAL;
    /* Parse the new value before dropping the old ones, so a bad value changes nothing. */
    struct sip_header *old_tail = msg->tail;
    int rc = add_header_n(msg, name, nl, value, vl, 0);
    if (rc) return rc;
    sip_hdr_id_t id = sip_hdr_id_from_name(name, nl);
    sip_str_t key = {name, nl};
    struct sip_header *nfirst = old_tail ? old_tail->next : msg->head, *nlast = msg->tail;
    struct sip_header *at = msg->head;
    while (at != nfirst && !same_header(at, id, key))
        at = at->next;
    if (at != nfirst) {
        /* The new line takes the place of the first old value (a proxy's Max-Forwards stays
         * where it was): move the new records, already in wire order, in front of it. Only the
         * wire order changes; every old value of the header goes below, so the id list, which
         * then holds only the new ones, stays in order. */
        msg->tail = nfirst->prev;
        msg->tail->next = NULL;
        nfirst->prev = at->prev;
        if (at->prev)
            at->prev->next = nfirst;
        else
            msg->head = nfirst;
        nlast->next = at;
        at->prev = nlast;
    }
    for (struct sip_header *h = msg->head; h;) {
        struct sip_header *next = h->next;
        if (h == nfirst) {
            next = nlast->next;
        } else if (same_header(h, id, key)) {
            sip__msg_unlink(msg, h);
        }
        h = next;
    }
    return 0;
}

int sip_msg_set_body(sip_msg_t *msg, const char *content_type, const char *body, size_t len)
{
    if (!msg || (!body && len)) return SIP_EINVAL;
    char *b = sip__msg_strdup(msg, body ? body : "", len);
    if (!b) return SIP_ENOMEM;
    int rc;
    if (content_type) {
        rc = sip_msg_set_header(msg, "Content-Type", content_type);
        if (rc) return rc;
    } else {
        sip_msg_remove_headers(msg, "Content-Type");
    }
    char cl[24];
    snprintf(cl, sizeof(cl), "%zu", len);
    rc = sip_msg_set_header(msg, "Content-Length", cl);
    if (rc) return rc;
    msg->body = (sip_str_t){b, len};
    return 0;
}

int sip_msg_set_status(sip_msg_t *msg, int status, const char *reason)
{
    if (!msg || msg->is_request || status < 100 || status > 699) return SIP_EINVAL;
    if (!reason) reason = sip_status_phrase(status);
    size_t rl = strlen(reason);
    if (!valid_value(reason, rl)) return SIP_EINVAL;
    char *r = sip__msg_strdup(msg, reason, rl);
    if (!r) return SIP_ENOMEM;
    msg->status = status;
    msg->reason = (sip_str_t){r, rl};
    msg->start_raw = (sip_str_t){NULL, 0};
    msg->intact = 0;
    return 0;
}

int sip_msg_set_uri(sip_msg_t *msg, const char *uri)
{
    if (!msg || !uri || !msg->is_request) return SIP_EINVAL;
    size_t ul = strlen(uri);
    char *u = sip__msg_strdup(msg, uri, ul);
    if (!u) return SIP_ENOMEM;
    sip_uri_t parsed;
    if (sip_uri_parse(&parsed, u, ul) != 0) return SIP_EURI;
    msg->uri = parsed;
    msg->start_raw = (sip_str_t){NULL, 0};
    msg->intact = 0;
    return 0;
}

int sip_msg_update_header(sip_msg_t *msg, const sip_header_t *h, const char *value)
{
    if (!msg || !h || !value) return SIP_EINVAL;
    struct sip_header *old = (struct sip_header *)h;
    /* Only headers of this message. */
    const struct sip_header *it = msg->head;
    while (it && it != old)
        it = it->next;
    if (!it) return SIP_EINVAL;
    size_t vl = strlen(value);
    if (!valid_value(value, vl)) return SIP_EINVAL;
    while (vl && (value[0] == ' ' || value[0] == '\t'))
        value++, vl--;
    while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
        vl--;
    char *v = sip__msg_strdup(msg, value, vl);
    if (!v) return SIP_ENOMEM;
    /* Parse into a record appended at the end, then move it into the old one's place. */
    const struct sip_header *old_tail = msg->tail;
    int rc = sip__msg_parse_header_value(msg, old->id, old->name, v, vl, 0, NULL, 0, 0);
    if (rc) return rc;
    struct sip_header *nh = msg->tail;
    if (old_tail == nh || old_tail->next != nh || nh->next) {
        /* A comma list gave several values: undo and refuse. */
        struct sip_header *x = old_tail ? old_tail->next : msg->head;
        while (x) {
            struct sip_header *next = x->next;
            sip__msg_unlink(msg, x);
            x = next;
        }
        return SIP_EPARSE;
    }
    sip__msg_unlink(msg, nh);
    /* Same id, same kind: the records have the same size. */
    if (nh->kind != old->kind) return SIP_EPARSE;
    /* Keep the record (and so every pointer to it) and take over the new content. */
    struct sip_header *next = old->next, *prev = old->prev, *next_same = old->next_same;
    unsigned line = old->line;
    unsigned char joined = old->joined;
    /* The value's line prints anew (its other values as they were). */
    if (joined) {
        struct sip_header *first = prev;
        while (first && first->joined)
            first = first->prev;
        if (first) first->raw = (sip_str_t){NULL, 0};
    }
    memcpy(old, nh, sip__hdr_size(nh->kind));
    old->next = next;
    old->prev = prev;
    old->next_same = next_same;
    old->line = line;
    old->joined = joined;
    old->raw = (sip_str_t){NULL, 0};
    msg->intact = 0;
    return 0;
}

/* Where copied bytes went: views into from[i] .. from[i] + len[i] move to to[i]. A header's
 * value copied alone is one region; a whole message copied is one per chunk. */
#define RELOC_MAX 8
typedef struct reloc_map {
    size_t n;
    const char *from[RELOC_MAX];
    size_t len[RELOC_MAX];
    char *to[RELOC_MAX];
} reloc_map_t;

static const char *reloc_p(const char *p, const reloc_map_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (p >= m->from[i] && p <= m->from[i] + m->len[i]) return m->to[i] + (p - m->from[i]);
    return NULL;
}

/* Points a view of a copy at the copied bytes. */
static void reloc(sip_str_t *v, const reloc_map_t *m)
{
    const char *p = reloc_p(v->ptr, m);
    if (p)
        v->ptr = p;
    else if (v->len == 0)
        v->ptr = m->to[0]; /* an empty view elsewhere must not dangle into the source message */
}

static void reloc_uri(sip_uri_t *u, const reloc_map_t *m)
{
    sip_str_t *f[] = {&u->scheme_str, &u->user,       &u->password, &u->host,
                      &u->params,     &u->headers,    &u->opaque,   &u->raw,
                      &u->transport,  &u->user_param, &u->method,   &u->maddr};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        reloc(f[i], m);
}

static void reloc_header_map(struct sip_header *h, const reloc_map_t *m)
{
    reloc(&h->value, m);
    switch (h->kind) {
    case SIP_HK_VIA: {
        sip_via_t *v = &h->v.via;
        sip_str_t *f[] = {&v->protocol, &v->version, &v->transport, &v->host,
                          &v->params,   &v->branch,  &v->received,  &v->maddr};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            reloc(f[i], m);
        break;
    }
    case SIP_HK_ADDR:
        reloc(&h->v.addr.display, m);
        reloc(&h->v.addr.params, m);
        reloc(&h->v.addr.tag, m);
        reloc_uri(&h->v.addr.uri, m);
        break;
    case SIP_HK_CSEQ: reloc(&h->v.cseq.method_str, m); break;
    case SIP_HK_TOKEN:
        reloc(&h->v.token.value, m);
        reloc(&h->v.token.params, m);
        break;
    case SIP_HK_NUM:
    case SIP_HK_DATE:
        reloc(&h->v.num.params, m);
        reloc(&h->v.num.comment, m);
        break;
    case SIP_HK_MEDIA:
        reloc(&h->v.media.type, m);
        reloc(&h->v.media.subtype, m);
        reloc(&h->v.media.params, m);
        break;
    case SIP_HK_AUTH: {
        sip_auth_t *a = &h->v.auth;
        sip_str_t *f[] = {&a->scheme, &a->params,    &a->realm,     &a->nonce,
                          &a->opaque, &a->algorithm, &a->qop,       &a->domain,
                          &a->stale,  &a->username,  &a->uri,       &a->response,
                          &a->cnonce, &a->nc,        &a->nextnonce, &a->rspauth};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            reloc(f[i], m);
        break;
    }
    case SIP_HK_WARNING:
        reloc(&h->v.warning.agent, m);
        reloc(&h->v.warning.text, m);
        break;
    case SIP_HK_RACK: reloc(&h->v.rack.method_str, m); break;
    default: break;
    }
}

/* Points every view of a copied header at the copy of its value text. */
static void reloc_header(struct sip_header *h, const char *ob, size_t olen, char *nb)
{
    reloc_map_t m = {1, {ob}, {olen}, {nb}};
    reloc_header_map(h, &m);
}

/* Copies every value of a known header, already parsed: the record is duplicated and its views
 * moved to a copy of the value text, which costs far less than parsing the text again. */
static int copy_headers(sip_msg_t *dst, const sip_msg_t *src, sip_hdr_id_t id);

int sip__msg_copy_headers(sip_msg_t *dst, const sip_msg_t *src, sip_hdr_id_t id)
{
    return copy_headers(dst, src, id);
}

static int copy_headers(sip_msg_t *dst, const sip_msg_t *src, sip_hdr_id_t id)
{
    const char *name = sip_hdr_name(id);
    const struct sip_header *last = NULL;
    for (const struct sip_header *h = sip__known(src, id)->first; h; h = h->next_same) {
        char *v = sip__msg_strdup(dst, h->value.ptr, h->value.len);
        struct sip_header *c = sip__msg_alloc(dst, sip__hdr_size(h->kind));
        if (!v || !c) return SIP_ENOMEM;
        memcpy(c, h, sip__hdr_size(h->kind));
        c->name = (sip_str_t){name, strlen(name)};
        c->line = 0;
        /* Values that shared a line in the source share one in the copy. */
        c->joined = h->joined && last && h->prev == last;
        c->raw = (sip_str_t){NULL, 0};
        last = h;
        reloc_header(c, h->value.ptr, h->value.len, v);
        if (sip__msg_link(dst, c, 0)) return SIP_ENOMEM;
    }
    return 0;
}

int sip_msg_add_header_copy(sip_msg_t *msg, const sip_header_t *hdr)
{
    if (!msg || !hdr) return SIP_EINVAL;
    const struct sip_header *h = (const struct sip_header *)hdr;
    char *n = sip__msg_strdup(msg, h->name.ptr, h->name.len);
    char *v = sip__msg_strdup(msg, h->value.ptr, h->value.len);
    struct sip_header *c = sip__msg_alloc(msg, sip__hdr_size(h->kind));
    if (!n || !v || !c) return SIP_ENOMEM;
    memcpy(c, h, sip__hdr_size(h->kind));
    c->name = (sip_str_t){n, h->name.len};
    c->line = 0;
    c->joined = 0;
    c->raw = (sip_str_t){NULL, 0};
    msg->intact = 0;
    reloc_header(c, h->value.ptr, h->value.len, v);
    return sip__msg_link(msg, c, 0);
}

int sip_msg_create_response(sip_msg_t **out, const sip_msg_t *req, int status, const char *reason,
                            const char *to_tag)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!req || !req->is_request || status < 100 || status > 699) return SIP_EINVAL;
    if (!reason) reason = sip_status_phrase(status);
    size_t rl = strlen(reason);
    if (!valid_value(reason, rl)) return SIP_EINVAL;
    /* Room for the copied headers, a To tag and a few added headers (Contact, Allow, a short
     * body) in one allocation; a larger body takes a second chunk. A transaction keeps its last
     * response until it ends, so a generous fixed size would cost every live transaction. */
    static const sip_hdr_id_t copied[] = {SIP_HDR_VIA,     SIP_HDR_FROM, SIP_HDR_TO,
                                          SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_TIMESTAMP};
    size_t est = SIP__ALIGN16(rl + 1) + 64 + 4 * (sizeof(struct sip_header) + 96) + 512;
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
        for (const struct sip_header *h = sip__known(req, copied[i])->first; h; h = h->next_same)
            est += SIP__ALIGN16(h->value.len + 1) + SIP__ALIGN16(sip__hdr_size(h->kind));
    sip_msg_t *msg = sip__msg_new(est);
    if (!msg) return SIP_ENOMEM;
    int rc = SIP_ENOMEM;
    char *r = sip__msg_strdup(msg, reason, rl);
    if (!r) goto fail;
    msg->status = status;
    msg->reason = (sip_str_t){r, rl};
    msg->version = SIP_STR("SIP/2.0");
    msg->body = (sip_str_t){r + rl, 0};
    /* RFC 3261 §8.2.6.2: Via (all values, in order), From, Call-ID, CSeq copied; To copied with a
     * tag added unless it has one (a 100 Trying carries none of its own). */
    if ((rc = copy_headers(msg, req, SIP_HDR_VIA))) goto fail;
    if ((rc = copy_headers(msg, req, SIP_HDR_FROM))) goto fail;
    const struct sip_header *to = sip__known(req, SIP_HDR_TO)->first;
    if (to) {
        if (!to->v.addr.tag.len && status > 100) {
            char tag[24];
            if (!to_tag) {
                if ((rc = sip_random_hex(64, tag, sizeof(tag))) < 0) goto fail;
                to_tag = tag;
            }
            if (!valid_token(to_tag, strlen(to_tag))) {
                rc = SIP_EINVAL;
                goto fail;
            }
            size_t tl = strlen(to_tag), ol = to->value.len, vl = ol + 5 + tl;
            char *v = sip__msg_alloc(msg, vl + 1);
            struct sip_header *c = sip__msg_alloc(msg, sip__hdr_size(to->kind));
            if (!v || !c) goto fail;
            memcpy(v, to->value.ptr, ol);
            memcpy(v + ol, ";tag=", 5);
            memcpy(v + ol + 5, to_tag, tl + 1);
            /* The request's To, already parsed, with the tag appended: its views move to the new
             * text and the tag joins the header params, which end where the value ends (values
             * are trimmed). What parsing the new text would give, without the parse. */
            memcpy(c, to, sip__hdr_size(to->kind));
            c->name = SIP_STR("To");
            c->line = 0;
            c->joined = 0;
            c->raw = (sip_str_t){NULL, 0};
            reloc_header(c, to->value.ptr, ol, v);
            c->value = (sip_str_t){v, vl};
            c->v.addr.tag = (sip_str_t){v + ol + 5, tl};
            if (c->v.addr.params.len)
                c->v.addr.params.len += 5 + tl;
            else
                c->v.addr.params = (sip_str_t){v + ol + 1, 4 + tl};
            if ((rc = sip__msg_link(msg, c, 0))) goto fail;
        } else if ((rc = copy_headers(msg, req, SIP_HDR_TO))) {
            goto fail;
        }
    }
    if ((rc = copy_headers(msg, req, SIP_HDR_CALL_ID))) goto fail;
    if ((rc = copy_headers(msg, req, SIP_HDR_CSEQ))) goto fail;
    if (status == 100 && (rc = copy_headers(msg, req, SIP_HDR_TIMESTAMP))) goto fail;
    /* The response goes back the way the request came (RFC 3261 §18.2.2). */
    msg->has_net = req->has_net;
    if (req->has_net) msg->net = req->net;
    *out = msg;
    return 0;
fail:
    sip_msg_unref(msg);
    return rc;
}

/* Printing and parsing again gives a compact, independent copy whose views all point into one
 * new buffer: what a message edited in many sittings (more chunks than a map holds) gets. */
static int clone_by_parse(sip_msg_t **out, const sip_msg_t *msg)
{
    int n = sip_msg_print(msg, NULL, 0);
    if (n < 0) return n;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return SIP_ENOMEM;
    sip_msg_print(msg, buf, (size_t)n + 1);
    sip_parse_opts_t o;
    sip_parse_opts_init(&o);
    o.max_size = (size_t)n;
    o.max_headers = msg->nheaders + 1;
    o.max_line = (size_t)n;
    int rc = sip_msg_parse_ex(out, buf, (size_t)n, &o, NULL);
    free(buf);
    return rc;
}

#define CHUNK_DATA(c) ((char *)(c) + SIP__ALIGN16(sizeof(sip__chunk_t)))

static struct sip_header *reloc_h(struct sip_header *h, const reloc_map_t *m)
{
    return h ? (struct sip_header *)(void *)reloc_p((const char *)h, m) : NULL;
}

int sip_msg_clone(sip_msg_t **out, const sip_msg_t *msg)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!msg) return SIP_EINVAL;
    /* The copy is the message's memory copied as it is (its text, records and lists, in one
     * allocation) with every pointer moved: a proxy copies each request once per branch, and
     * printing and parsing it again cost five times as much. Room is left for the edits a
     * branch makes (Via, Record-Route, Max-Forwards, Request-URI). */
    reloc_map_t map;
    map.n = 0;
    size_t total = 0;
    map.from[map.n] = (const char *)msg + SIP__ALIGN16(sizeof(sip_msg_t));
    map.len[map.n++] = msg->inline_chunk.used;
    total += SIP__ALIGN16(msg->inline_chunk.used);
    for (const sip__chunk_t *c = msg->chunks; c; c = c->next) {
        if (map.n == RELOC_MAX) return clone_by_parse(out, msg);
        map.from[map.n] = CHUNK_DATA(c);
        map.len[map.n++] = c->used;
        total += SIP__ALIGN16(c->used);
    }
    sip_msg_t *m = sip__msg_new(total + 1024);
    if (!m) return SIP_ENOMEM;
    sip__chunk_t ic = m->inline_chunk;
    memcpy(m, msg, offsetof(sip_msg_t, inline_chunk));
    char *base = (char *)m + SIP__ALIGN16(sizeof(sip_msg_t));
    size_t off = 0;
    for (size_t i = 0; i < map.n; i++) {
        map.to[i] = base + off;
        memcpy(map.to[i], map.from[i], map.len[i]);
        off += SIP__ALIGN16(map.len[i]);
    }
    m->inline_chunk = ic;
    m->inline_chunk.used = off;
    m->refs = 1;
    m->chunks = NULL;
    m->has_net = 0; /* as a message parsed from bytes */
    m->lists = msg->lists == msg->inline_lists
                   ? m->inline_lists
                   : (sip__hlist_t *)(void *)reloc_p((const char *)msg->lists, &map);
    for (size_t i = 0; i < m->nlists; i++) {
        m->lists[i].first = reloc_h(m->lists[i].first, &map);
        m->lists[i].last = reloc_h(m->lists[i].last, &map);
    }
    m->head = reloc_h(m->head, &map);
    m->tail = reloc_h(m->tail, &map);
    sip_str_t *v[] = {&m->method_str, &m->version,   &m->reason,
                      &m->body,       &m->start_raw, &m->end_raw};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        reloc(v[i], &map);
    reloc_uri(&m->uri, &map);
    for (struct sip_header *h = m->head; h; h = h->next) {
        h->next = reloc_h(h->next, &map);
        h->prev = reloc_h(h->prev, &map);
        h->next_same = reloc_h(h->next_same, &map);
        reloc(&h->name, &map);
        reloc(&h->raw, &map);
        reloc_header_map(h, &map);
    }
    *out = m;
    return 0;
}
