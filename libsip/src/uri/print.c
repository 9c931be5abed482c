/* SPDX-License-Identifier: MIT */
/* URI printing, unescaping and parameter/header lookup. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "sip/param.h"
#include "sip/uri.h"
#include "uri_int.h"

/* snprintf-like output: counts everything, stores what fits. */
typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *p, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->buf + o->len, p, n < room ? n : room);
    }
    o->len += n;
}

static void put_c(out_t *o, char c)
{
    put(o, &c, 1);
}

static void put_s(out_t *o, sip_str_t s)
{
    if (s.len) put(o, s.ptr, s.len);
}

static void put_u(out_t *o, unsigned v)
{
    char d[10];
    size_t n = 0;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, d + sizeof d - n, n);
}

/* True when view v was followed by character c in the parsed text: tells a written but empty
 * part (":" with no password, ":0" port) from an absent one. */
static int followed_by(const sip_uri_t *u, sip_str_t v, char c)
{
    if (!v.ptr || !u->raw.ptr) return 0;
    const char *e = v.ptr + v.len;
    return e >= u->raw.ptr && e < u->raw.ptr + u->raw.len && *e == c;
}

const char *sip_uri_scheme_name(sip_uri_scheme_t scheme)
{
    switch (scheme) {
    case SIP_URI_SIP: return "sip";
    case SIP_URI_SIPS: return "sips";
    case SIP_URI_TEL: return "tel";
    default: return NULL;
    }
}

int sip_uri_print(const sip_uri_t *uri, char *buf, size_t size)
{
    if (!uri || (!buf && size)) return SIP_EINVAL;
    out_t o = {buf, size ? size - 1 : 0, 0};
    const char *name = sip_uri_scheme_name(uri->scheme);
    if (name) {
        put(&o, name, strlen(name));
    } else {
        if (!uri->scheme_str.len) return SIP_EINVAL;
        for (size_t i = 0; i < uri->scheme_str.len; i++)
            put_c(&o, (char)sip__uri_lower((unsigned char)uri->scheme_str.ptr[i]));
    }
    put_c(&o, ':');
    switch (uri->scheme) {
    case SIP_URI_SIP:
    case SIP_URI_SIPS:
        if (uri->user.len) {
            put_s(&o, uri->user);
            if (uri->password.len || followed_by(uri, uri->user, ':')) {
                put_c(&o, ':');
                put_s(&o, uri->password);
            }
            put_c(&o, '@');
        }
        put_s(&o, uri->host);
        if (uri->port || followed_by(uri, uri->host, ':')) {
            put_c(&o, ':');
            put_u(&o, uri->port);
        }
        if (uri->params.len) {
            put_c(&o, ';');
            put_s(&o, uri->params);
        }
        if (uri->headers.len) {
            put_c(&o, '?');
            put_s(&o, uri->headers);
        }
        break;
    case SIP_URI_TEL:
        put_s(&o, uri->user);
        if (uri->params.len) {
            put_c(&o, ';');
            put_s(&o, uri->params);
        }
        break;
    default: put_s(&o, uri->opaque); break;
    }
    if (size) buf[o.len < o.size ? o.len : o.size] = '\0';
    if (o.len > INT_MAX) return SIP_ERANGE;
    return (int)o.len;
}

int sip_uri_unescape(sip_str_t in, char *buf, size_t size)
{
    if ((!in.ptr && in.len) || (!buf && size)) return SIP_EINVAL;
    if (in.len > INT_MAX) return SIP_ERANGE;
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++, n++) {
        unsigned char c = p[i];
        if (c == '%') {
            /* RFC 3261 escaped = "%" HEXDIG HEXDIG; anything else is malformed. */
            if (in.len - i < 3 || !(sip__uri_cls[p[i + 1]] & URI_HEX) ||
                !(sip__uri_cls[p[i + 2]] & URI_HEX))
                return SIP_EURI;
            c = (unsigned char)(sip__uri_hexval(p[i + 1]) << 4 | sip__uri_hexval(p[i + 2]));
            i += 2;
        }
        if (n + 1 < size) buf[n] = (char)c;
    }
    if (size) buf[n < size ? n : size - 1] = '\0';
    return (int)n;
}

int sip_uri_param(const sip_uri_t *uri, const char *name, sip_str_t *value)
{
    if (!uri || !name || uri->scheme == SIP_URI_OTHER || !uri->params.len) return 0;
    return sip_params_get(uri->params, name, value);
}

int sip_uri_header(const sip_uri_t *uri, const char *name, sip_str_t *value)
{
    if (!uri || !name || uri->scheme == SIP_URI_OTHER || !uri->headers.len) return 0;
    return sip_params_get_sep(uri->headers, '&', name, value);
}
