/* SPDX-License-Identifier: MIT */
/* libFuzzer harness: parse a datagram, read every view through the API, print and re-parse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"
#include "sip/param.h"
#include "sip/uri.h"

/* Every octet of every view is read into this, so AddressSanitizer checks that views stay inside
 * the message's memory and the compiler cannot drop the reads. */
static volatile unsigned g_sink;

static void touch(sip_str_t s)
{
    if (s.len && !s.ptr) abort();
    unsigned acc = 0;
    for (size_t i = 0; i < s.len; i++)
        acc += (unsigned char)s.ptr[i];
    g_sink += acc;
}

static void walk_params_sep(sip_str_t params, char sep)
{
    sip_str_t it = params, n, v;
    size_t guard = 0;
    touch(params);
    if (sep == ';') {
        while (sip_params_next(&it, &n, &v)) {
            touch(n);
            touch(v);
            touch(sip_str_unquote(v));
            /* Each step consumes at least one octet. */
            if (++guard > params.len) abort();
        }
        if (it.len != 0) abort();
    }
    /* Lookups by a name that may or may not be there. */
    sip_str_t val;
    if (sip_params_get_sep(params, sep, "tag", &val)) touch(val);
    if (sip_params_get_sep(params, sep, "lr", &val)) touch(val);
}

static void walk_uri(const sip_uri_t *u)
{
    touch(u->scheme_str);
    touch(u->user);
    touch(u->password);
    touch(u->host);
    touch(u->headers);
    touch(u->opaque);
    touch(u->raw);
    touch(u->transport);
    touch(u->user_param);
    touch(u->method);
    touch(u->maddr);
    g_sink +=
        (unsigned)u->scheme + (unsigned)u->host_type + u->port + (unsigned)u->ttl + (unsigned)u->lr;
    walk_params_sep(u->params, ';');
    walk_params_sep(u->headers, '&');
    sip_str_t v;
    if (sip_uri_param(u, "transport", &v)) touch(v);
    if (sip_uri_header(u, "Route", &v)) touch(v);
    const char *name = sip_uri_scheme_name(u->scheme);
    if (name) g_sink += (unsigned)strlen(name);

    char small[256];
    int n = sip_uri_unescape(u->user, small, sizeof(small));
    if (n >= 0 && (size_t)n < sizeof(small) && small[n] != '\0') abort();

    /* A parsed URI equals itself (RFC 3261 §19.1.4 comparison is reflexive). */
    if (u->raw.len && sip_uri_equal(u, u) != 1) abort();

    int len = sip_uri_print(u, NULL, 0);
    if (len < 0) return;
    char *buf = malloc((size_t)len + 1);
    if (!buf) abort();
    if (sip_uri_print(u, buf, (size_t)len + 1) != len) abort();
    if (buf[len] != '\0') abort();
    /* A truncating print must not write past the size given. */
    if (len > 0 && sip_uri_print(u, small, len < 8 ? (size_t)len : 8) != len) abort();
    free(buf);
}

static void walk_addr(const sip_addr_t *a)
{
    touch(a->display);
    touch(a->tag);
    g_sink += (unsigned)a->bracketed + (unsigned)a->star + (unsigned)a->expires + (unsigned)a->q;
    walk_params_sep(a->params, ';');
    if (!a->star) walk_uri(&a->uri);
}

static void walk_header(const sip_header_t *h)
{
    sip_hdr_id_t id = sip_header_get_id(h);
    touch(sip_header_get_name(h));
    touch(sip_header_get_value(h));
    const char *name = sip_hdr_name(id);
    if (name) g_sink += (unsigned)strlen(name);
    g_sink += (unsigned)sip_hdr_kind(id);

    const sip_via_t *via = sip_header_via(h);
    if (via) {
        touch(via->protocol);
        touch(via->version);
        touch(via->transport);
        touch(via->host);
        touch(via->branch);
        touch(via->received);
        touch(via->maddr);
        g_sink += (unsigned)via->host_type + via->port + (unsigned)via->rport + (unsigned)via->ttl;
        walk_params_sep(via->params, ';');
    }
    const sip_addr_t *addr = sip_header_addr(h);
    if (addr) walk_addr(addr);
    const sip_cseq_t *cseq = sip_header_cseq(h);
    if (cseq) {
        touch(cseq->method_str);
        g_sink += cseq->seq + (unsigned)cseq->method;
    }
    const sip_num_t *num = sip_header_num(h);
    if (num) {
        touch(num->comment);
        walk_params_sep(num->params, ';');
        g_sink += num->value + (unsigned)num->time;
    }
    const sip_token_t *tok = sip_header_token(h);
    if (tok) {
        touch(tok->value);
        walk_params_sep(tok->params, ';');
    }
    const sip_media_t *media = sip_header_media(h);
    if (media) {
        touch(media->type);
        touch(media->subtype);
        walk_params_sep(media->params, ';');
    }
    const sip_auth_t *auth = sip_header_auth(h);
    if (auth) {
        const sip_str_t *f[] = {&auth->scheme,    &auth->realm,     &auth->nonce,    &auth->opaque,
                                &auth->algorithm, &auth->qop,       &auth->domain,   &auth->stale,
                                &auth->username,  &auth->uri,       &auth->response, &auth->cnonce,
                                &auth->nc,        &auth->nextnonce, &auth->rspauth};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            touch(*f[i]);
        walk_params_sep(auth->params, ',');
    }
    const sip_warning_t *w = sip_header_warning(h);
    if (w) {
        touch(w->agent);
        touch(w->text);
        g_sink += w->code;
    }
    const sip_rack_t *rack = sip_header_rack(h);
    if (rack) {
        touch(rack->method_str);
        g_sink += rack->rseq + rack->cseq + (unsigned)rack->method;
    }
}

static void walk_msg(const sip_msg_t *m)
{
    g_sink += (unsigned)sip_msg_is_request(m) + (unsigned)sip_msg_get_method(m) +
              (unsigned)sip_msg_get_status(m);
    touch(sip_msg_get_method_str(m));
    touch(sip_msg_get_reason(m));
    touch(sip_msg_get_body(m));
    const sip_uri_t *ru = sip_msg_get_uri(m);
    if (sip_msg_is_request(m) && !ru) abort();
    if (ru) walk_uri(ru);

    size_t total = 0;
    for (const sip_header_t *h = sip_msg_header_first(m); h; h = sip_header_next(h)) {
        walk_header(h);
        /* The by-id and by-name lookups of this header find something. */
        sip_hdr_id_t id = sip_header_get_id(h);
        if (id != SIP_HDR_OTHER && sip_msg_header_count(m, id) == 0) abort();
        if (++total > sip_msg_header_total(m)) abort();
    }
    if (total != sip_msg_header_total(m)) abort();
    for (int id = 1; id < SIP_HDR__COUNT; id++) {
        size_t n = sip_msg_header_count(m, (sip_hdr_id_t)id);
        for (size_t i = 0; i < n; i++) {
            const sip_header_t *h = sip_msg_header_at(m, (sip_hdr_id_t)id, i);
            if (!h || sip_header_get_id(h) != (sip_hdr_id_t)id) abort();
        }
        if (sip_msg_header_at(m, (sip_hdr_id_t)id, n)) abort();
        if (n && !sip_msg_header_by_name(m, sip_hdr_name((sip_hdr_id_t)id), 0)) abort();
    }

    touch(sip_msg_get_call_id(m));
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    if (cs) touch(cs->method_str);
    const sip_addr_t *a = sip_msg_get_from(m);
    if (a) walk_addr(a);
    a = sip_msg_get_to(m);
    if (a) walk_addr(a);
    const sip_via_t *v = sip_msg_get_via(m);
    if (v) touch(v->host);
    g_sink += (unsigned)sip_msg_get_max_forwards(m) + (unsigned)sip_msg_get_expires(m);
    const sip_media_t *ct = sip_msg_get_content_type(m);
    if (ct) touch(ct->subtype);
}

static int same_view(sip_str_t a, sip_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The header after h (or the first one when h is NULL) that is not Content-Length: the printer
 * writes exactly one Content-Length holding the body length, so those are compared apart. */
static const sip_header_t *next_not_cl(const sip_msg_t *m, const sip_header_t *h)
{
    h = h ? sip_header_next(h) : sip_msg_header_first(m);
    while (h && sip_header_get_id(h) == SIP_HDR_CONTENT_LENGTH)
        h = sip_header_next(h);
    return h;
}

static void round_trip(const sip_msg_t *m, const char *in, size_t size)
{
    int n = sip_msg_print(m, NULL, 0);
    if (n <= 0) abort();
    char *out = malloc((size_t)n + 1);
    if (!out) abort();
    if (sip_msg_print(m, out, (size_t)n + 1) != n) abort();
    /* An unedited message prints back as it came: the input itself, less only the octets of a
     * datagram past its Content-Length (RFC 3261 §18.3). */
    if ((size_t)n > size || memcmp(out, in, (size_t)n) != 0) {
        fprintf(stderr, "printed form differs from the input\n");
        abort();
    }
    if ((size_t)n < size && sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH) == 0) abort();

    /* The limits are lifted for the second parse. */
    sip_parse_opts_t o;
    sip_parse_opts_init(&o);
    o.max_size = (size_t)n;
    o.max_headers = sip_msg_header_total(m) + 1;
    o.max_line = (size_t)n;
    sip_msg_t *b = NULL;
    sip_parse_error_t e;
    if (sip_msg_parse_ex(&b, out, (size_t)n, &o, &e) != 0) {
        fprintf(stderr, "printed form does not parse: %s (line %u, header \"%s\")\n%.*s\n",
                e.reason, e.line, e.header, n, out);
        abort();
    }
    if (sip_msg_header_total(b) != sip_msg_header_total(m)) abort();
    if (sip_msg_header_count(b, SIP_HDR_CONTENT_LENGTH) !=
        sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH))
        abort();
    if (!same_view(sip_msg_get_body(m), sip_msg_get_body(b))) abort();
    if (sip_msg_is_request(m) != sip_msg_is_request(b)) abort();
    if (sip_msg_get_status(m) != sip_msg_get_status(b)) abort();
    if (!same_view(sip_msg_get_method_str(m), sip_msg_get_method_str(b))) abort();
    if (sip_msg_is_request(m) && !same_view(sip_msg_get_uri(m)->raw, sip_msg_get_uri(b)->raw))
        abort();
    const sip_header_t *ha = next_not_cl(m, NULL), *hb = next_not_cl(b, NULL);
    for (; ha || hb; ha = next_not_cl(m, ha), hb = next_not_cl(b, hb)) {
        if (!ha || !hb) abort();
        if (sip_header_get_id(ha) != sip_header_get_id(hb)) abort();
        if (!same_view(sip_header_get_name(ha), sip_header_get_name(hb))) abort();
        if (!same_view(sip_header_get_value(ha), sip_header_get_value(hb))) abort();
    }
    sip_msg_unref(b);
    free(out);
}

/* A proxy's first edit, a Via on top, adds one line after the start line and changes nothing
 * else (the body and its Content-Length included). */
static void edit_touches_one_line(sip_msg_t *m, const char *in, size_t size)
{
    static const char via[] = "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz\r\n";
    int n0 = sip_msg_print(m, NULL, 0);
    const char *sl = memchr(in, '\n', size);
    /* Without exactly one Content-Length the edit adds or drops one (see round_trip()). */
    if (n0 <= 0 || !sl || sip_msg_header_count(m, SIP_HDR_CONTENT_LENGTH) != 1) return;
    if (sip_msg_prepend_header(m, "Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz") != 0) abort();
    int n = sip_msg_print(m, NULL, 0);
    size_t first = (size_t)(sl - in) + 1, vl = sizeof(via) - 1;
    if (n != n0 + (int)vl) abort();
    char *out = malloc((size_t)n + 1);
    if (!out) abort();
    sip_msg_print(m, out, (size_t)n + 1);
    if (memcmp(out, in, first) != 0 || memcmp(out + first, via, vl) != 0 ||
        memcmp(out + first + vl, in + first, (size_t)n0 - first) != 0)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t skip = 0, msglen = 0;
    int rc = sip_msg_frame(buf, size, &skip, &msglen);
    if (rc == 0 && (skip > size || msglen > size - skip)) abort();

    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    rc = sip_msg_parse(&m, buf, size, &err);
    if (rc != 0) {
        /* Failures say why; a failure never leaves a message behind. */
        if (m || err.code != rc || err.reason[0] == '\0') abort();
        if (memchr(err.reason, '\0', sizeof(err.reason)) == NULL) abort();
        return 0;
    }
    if (!m) abort();
    walk_msg(m);
    round_trip(m, buf, size);
    edit_touches_one_line(m, buf, size);
    sip_msg_unref(m);
    return 0;
}
