/* SPDX-License-Identifier: MIT */
/* Dialogs (RFC 3261 §12): creation from a request and its response, in-dialog request
 * building with loose and strict routing, CSeq checks and target refresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "dialog/dialog_int.h"
#include "msg/msg_int.h"
#include "sip/error.h"

/* ---- owned strings ---------------------------------------------------------------------- */

/* Copies s into a fresh allocation (NUL-terminated, so it can be handed to the message
 * builders); the view points into it. */
static int own(sip_str_t *dst, char **store, sip_str_t s)
{
    char *p = malloc(s.len + 1);
    if (!p) return SIP_ENOMEM;
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    free(*store);
    *store = p;
    *dst = (sip_str_t){p, s.len};
    return 0;
}

/* The fixed strings share one allocation: Call-ID, tags, From/To values, local target. */
enum { S_CALL_ID, S_LOCAL_TAG, S_REMOTE_TAG, S_LOCAL_ADDR, S_REMOTE_ADDR, S_LOCAL_TARGET, S__N };

static int pack_fixed(sip_dialog_t *d, const sip_str_t in[S__N])
{
    size_t total = 0;
    for (int i = 0; i < S__N; i++)
        total += in[i].len + 1;
    char *p = malloc(total);
    if (!p) return SIP_ENOMEM;
    d->fixed = p;
    sip_str_t *out[S__N] = {&d->call_id,    &d->local_tag,   &d->remote_tag,
                            &d->local_addr, &d->remote_addr, &d->local_target};
    for (int i = 0; i < S__N; i++) {
        if (in[i].len) memcpy(p, in[i].ptr, in[i].len);
        p[in[i].len] = '\0';
        *out[i] = (sip_str_t){p, in[i].len};
        p += in[i].len + 1;
    }
    return 0;
}

/* The route set from a message's Record-Route, in order or reversed, in one allocation. */
static int set_routes(sip_dialog_t *d, const sip_msg_t *msg, int reverse)
{
    size_t n = sip_msg_header_count(msg, SIP_HDR_RECORD_ROUTE), bytes = n * sizeof(sip_str_t);
    for (size_t i = 0; i < n; i++)
        bytes += sip_header_get_value(sip_msg_header_at(msg, SIP_HDR_RECORD_ROUTE, i)).len + 1;
    char *block = NULL;
    if (n) {
        block = malloc(bytes);
        if (!block) return SIP_ENOMEM;
        sip_str_t *r = (sip_str_t *)(void *)block;
        char *p = block + n * sizeof(sip_str_t);
        for (size_t i = 0; i < n; i++) {
            sip_str_t v = sip_header_get_value(sip_msg_header_at(msg, SIP_HDR_RECORD_ROUTE, i));
            memcpy(p, v.ptr, v.len);
            p[v.len] = '\0';
            r[reverse ? n - 1 - i : i] = (sip_str_t){p, v.len};
            p += v.len + 1;
        }
    }
    free(d->route_block);
    d->route_block = block;
    d->routes = (sip_str_t *)(void *)block;
    d->nroutes = n;
    return 0;
}

/* The URI of a message's first Contact, or an empty view. */
static sip_str_t contact_uri(const sip_msg_t *msg)
{
    const sip_header_t *h = sip_msg_header_at(msg, SIP_HDR_CONTACT, 0);
    const sip_addr_t *a = h ? sip_header_addr(h) : NULL;
    if (!a || a->star || !a->uri.raw.len) return (sip_str_t){"", 0};
    return a->uri.raw;
}

static sip_str_t addr_value(const sip_msg_t *msg, sip_hdr_id_t id)
{
    const sip_header_t *h = sip_msg_header_at(msg, id, 0);
    return h ? sip_header_get_value(h) : (sip_str_t){"", 0};
}

/* ---- creation ----------------------------------------------------------------------------- */

static sip_dialog_t *dialog_new(void)
{
    sip_dialog_t *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->refs = 1;
    sip__live_inc(SIP_LIVE_DIALOG);
    return d;
}

static void dialog_free(sip_dialog_t *d)
{
    free(d->fixed);
    free(d->route_block);
    free(d->target_store);
    free(d);
    sip__live_dec(SIP_LIVE_DIALOG);
}

static int pair_ok(const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!req || !rsp || !sip_msg_is_request(req) || sip_msg_is_request(rsp)) return 0;
    int st = sip_msg_get_status(rsp);
    const sip_addr_t *to = sip_msg_get_to(rsp);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    return st > 100 && st < 300 && to && to->tag.len && cs && sip_msg_get_from(req) &&
           sip_msg_get_call_id(req).len;
}

/* RFC 3261 §12.1.1: a dialog is secure when the request came over TLS with a sips
 * Request-URI. */
static int secure_of(const sip_msg_t *req)
{
    const sip_uri_t *u = sip_msg_get_uri(req);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(req);
    return u && u->scheme == SIP_URI_SIPS &&
           (!ni || ni->transport == SIP_TRANSPORT_TLS || ni->transport == SIP_TRANSPORT_WSS ||
            ni->transport == SIP_TRANSPORT_NONE);
}

int sip_dialog_create_uas(sip_dialog_t **out, const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!pair_ok(req, rsp)) return SIP_EINVAL;
    sip_str_t remote_target = contact_uri(req), local_target = contact_uri(rsp);
    if (!remote_target.len || !local_target.len) return SIP_EINVAL;
    sip_dialog_t *d = dialog_new();
    if (!d) return SIP_ENOMEM;
    d->uas = 1;
    d->secure = secure_of(req);
    d->state = sip_msg_get_status(rsp) >= 200 ? SIP_DIALOG_CONFIRMED : SIP_DIALOG_EARLY;
    /* RFC 3261 §12.1.1: the remote sequence number is the request's; the local one is empty
     * until this side sends a request. */
    d->remote_cseq = sip_msg_get_cseq(req)->seq;
    d->remote_cseq_set = 1;
    sip_str_t s[S__N] = {
        [S_CALL_ID] = sip_msg_get_call_id(req),
        [S_LOCAL_TAG] = sip_msg_get_to(rsp)->tag,
        [S_REMOTE_TAG] = sip_msg_get_from(req)->tag,
        [S_LOCAL_ADDR] = addr_value(rsp, SIP_HDR_TO),
        [S_REMOTE_ADDR] = addr_value(req, SIP_HDR_FROM),
        [S_LOCAL_TARGET] = local_target,
    };
    int rc = pack_fixed(d, s);
    if (!rc) rc = set_routes(d, req, 0);
    if (!rc) rc = own(&d->remote_target, &d->target_store, remote_target);
    if (rc) {
        dialog_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int sip_dialog_create_uac(sip_dialog_t **out, const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!pair_ok(req, rsp)) return SIP_EINVAL;
    sip_str_t local_target = contact_uri(req), remote_target = contact_uri(rsp);
    if (!local_target.len) return SIP_EINVAL;
    /* A 1xx without Contact leaves the target at the Request-URI until a response brings one. */
    if (!remote_target.len) remote_target = sip_msg_get_uri(req)->raw;
    sip_dialog_t *d = dialog_new();
    if (!d) return SIP_ENOMEM;
    d->secure = secure_of(req);
    d->state = sip_msg_get_status(rsp) >= 200 ? SIP_DIALOG_CONFIRMED : SIP_DIALOG_EARLY;
    d->local_cseq = sip_msg_get_cseq(req)->seq;
    sip_str_t s[S__N] = {
        [S_CALL_ID] = sip_msg_get_call_id(req),
        [S_LOCAL_TAG] = sip_msg_get_from(req)->tag,
        [S_REMOTE_TAG] = sip_msg_get_to(rsp)->tag,
        [S_LOCAL_ADDR] = addr_value(req, SIP_HDR_FROM),
        [S_REMOTE_ADDR] = addr_value(rsp, SIP_HDR_TO),
        [S_LOCAL_TARGET] = local_target,
    };
    int rc = pack_fixed(d, s);
    /* RFC 3261 §12.1.2: the route set is the Record-Route of the response, reversed. */
    if (!rc) rc = set_routes(d, rsp, 1);
    if (!rc) rc = own(&d->remote_target, &d->target_store, remote_target);
    if (rc) {
        dialog_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int sip__dialog_create_notify(sip_dialog_t **out, const sip_msg_t *sub, const sip_msg_t *notify)
{
    *out = NULL;
    const sip_addr_t *nf = sip_msg_get_from(notify), *sf = sip_msg_get_from(sub);
    const sip_cseq_t *cs = sip_msg_get_cseq(sub);
    if (!nf || !sf || !cs || !nf->tag.len) return SIP_EINVAL;
    sip_str_t local_target = contact_uri(sub), remote_target = contact_uri(notify);
    if (!local_target.len || !remote_target.len) return SIP_EINVAL;
    sip_dialog_t *d = dialog_new();
    if (!d) return SIP_ENOMEM;
    /* RFC 6665 §4.1.2.4: the NOTIFY makes the dialog as a request makes a UAS's: its
     * Record-Route in order is the route set, its Contact the remote target. */
    d->secure = secure_of(sub);
    d->state = SIP_DIALOG_CONFIRMED;
    d->local_cseq = cs->seq;
    sip_str_t s[S__N] = {
        [S_CALL_ID] = sip_msg_get_call_id(sub),
        [S_LOCAL_TAG] = sf->tag,
        [S_REMOTE_TAG] = nf->tag,
        [S_LOCAL_ADDR] = addr_value(sub, SIP_HDR_FROM),
        [S_REMOTE_ADDR] = addr_value(notify, SIP_HDR_FROM),
        [S_LOCAL_TARGET] = local_target,
    };
    int rc = pack_fixed(d, s);
    if (!rc) rc = set_routes(d, notify, 0);
    if (!rc) rc = own(&d->remote_target, &d->target_store, remote_target);
    if (rc) {
        dialog_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

sip_dialog_t *sip_dialog_ref(sip_dialog_t *d)
{
    if (d) d->refs++;
    return d;
}

void sip_dialog_unref(sip_dialog_t *d)
{
    if (d && --d->refs == 0) dialog_free(d);
}

void sip_dialog_terminate(sip_dialog_t *d)
{
    if (d) d->state = SIP_DIALOG_TERMINATED;
}

/* ---- requests inside the dialog ----------------------------------------------------------- */

/* A Route value for a URI: bracketed so that its parameters stay the URI's. */
/* Adds "Name: <uri>": bracketed, so that the URI's parameters stay the URI's. */
static int add_bracketed(sip_msg_t *m, const char *name, sip_str_t uri)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "<%.*s>", (int)uri.len, uri.ptr);
    if (n < 0 || (size_t)n >= sizeof(buf)) return SIP_EINVAL;
    return sip_msg_add_header(m, name, buf);
}

/* The first route's URI: the name-addr's URI, parsed from our own copy. */
static int route_uri(const sip_str_t *route, sip_uri_t *uri, sip_str_t *raw)
{
    const char *p = route->ptr, *end = route->ptr + route->len;
    const char *lt = memchr(p, '<', route->len);
    if (lt) {
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt) return SIP_EINVAL;
        *raw = (sip_str_t){lt + 1, (size_t)(gt - lt - 1)};
    } else {
        const char *semi = memchr(p, ';', route->len);
        *raw = (sip_str_t){p, (size_t)((semi ? semi : end) - p)};
    }
    return sip_uri_parse(uri, raw->ptr, raw->len) ? SIP_EINVAL : 0;
}

/* Builds the common part of a request of the dialog with the given CSeq. */
static int build(sip_msg_t **out, sip_dialog_t *d, const char *method, uint32_t cseq)
{
    sip_str_t ruri = d->remote_target;
    int strict = 0;
    sip_uri_t first;
    sip_str_t first_raw = {NULL, 0};
    if (d->nroutes) {
        if (route_uri(&d->routes[0], &first, &first_raw)) return SIP_EINVAL;
        /* RFC 3261 §12.2.1.1: a first route without lr is a strict router: it becomes the
         * Request-URI and the remote target goes last in Route. */
        strict = !first.lr;
        if (strict) ruri = first_raw;
    }
    char ubuf[1024];
    if (ruri.len >= sizeof(ubuf)) return SIP_EINVAL;
    memcpy(ubuf, ruri.ptr, ruri.len);
    ubuf[ruri.len] = '\0';
    sip_msg_t *m = NULL;
    int rc = sip_msg_create_request(&m, method, ubuf);
    if (rc) return rc;
    for (size_t i = strict ? 1 : 0; !rc && i < d->nroutes; i++)
        rc = sip__msg_add_header_n(m, "Route", d->routes[i].ptr, d->routes[i].len);
    if (!rc && strict) rc = add_bracketed(m, "Route", d->remote_target);
    char num[48];
    snprintf(num, sizeof(num), "%u %s", cseq, method);
    if (!rc) rc = sip_msg_add_header(m, "Max-Forwards", "70");
    if (!rc) rc = sip__msg_add_header_n(m, "From", d->local_addr.ptr, d->local_addr.len);
    if (!rc) rc = sip__msg_add_header_n(m, "To", d->remote_addr.ptr, d->remote_addr.len);
    if (!rc) rc = sip__msg_add_header_n(m, "Call-ID", d->call_id.ptr, d->call_id.len);
    if (!rc) rc = sip_msg_add_header(m, "CSeq", num);
    if (!rc && strcmp(method, "ACK") != 0) rc = add_bracketed(m, "Contact", d->local_target);
    if (rc) {
        sip_msg_unref(m);
        return rc;
    }
    *out = m;
    return 0;
}

int sip_dialog_create_request(sip_msg_t **out, sip_dialog_t *d, const char *method)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!d || !method || !*method || !strcmp(method, "ACK") || !strcmp(method, "CANCEL"))
        return SIP_EINVAL;
    if (d->state == SIP_DIALOG_TERMINATED) return SIP_ECLOSED;
    /* RFC 3261 §12.2.1.1: the local sequence number goes up by one for each new request; the
     * UAS's is empty until its first request, which may start anywhere below 2^31. */
    uint32_t cseq = d->local_cseq ? d->local_cseq + 1 : 1;
    int rc = build(out, d, method, cseq);
    if (!rc) d->local_cseq = cseq;
    return rc;
}

int sip_dialog_create_ack(sip_msg_t **out, sip_dialog_t *d, uint32_t cseq)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!d) return SIP_EINVAL;
    /* RFC 3261 §13.2.2.4: the ACK of a 2xx is built like any request of the dialog, with the
     * CSeq number of the INVITE it acknowledges. */
    return build(out, d, "ACK", cseq);
}

/* ---- what received messages change ------------------------------------------------------- */

/* RFC 3261 §12.2 and RFC 3311, RFC 6665, RFC 3515: the target refresh requests. */
static int refreshes_target(sip_method_t m)
{
    return m == SIP_METHOD_INVITE || m == SIP_METHOD_UPDATE || m == SIP_METHOD_SUBSCRIBE ||
           m == SIP_METHOD_NOTIFY || m == SIP_METHOD_REFER;
}

int sip_dialog_match(const sip_dialog_t *d, const sip_msg_t *msg)
{
    if (!d || !msg) return 0;
    const sip_addr_t *from = sip_msg_get_from(msg), *to = sip_msg_get_to(msg);
    if (!from || !to || !sip_str_eq(sip_msg_get_call_id(msg), d->call_id)) return 0;
    /* A request we receive, or a response to one we received... the local tag is in To; a
     * request we sent (and its responses) carries it in From. */
    int ours = sip_msg_is_request(msg) ? 0 : 1;
    const sip_addr_t *local = ours ? from : to, *remote = ours ? to : from;
    return sip_str_eq(local->tag, d->local_tag) && sip_str_eq(remote->tag, d->remote_tag);
}

int sip_dialog_receive_request(sip_dialog_t *d, const sip_msg_t *req)
{
    if (!d || !req || !sip_msg_is_request(req)) return SIP_EINVAL;
    sip_method_t m = sip_msg_get_method(req);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    if (!cs) return 400;
    if (m == SIP_METHOD_ACK || m == SIP_METHOD_CANCEL) return 0;
    /* RFC 3261 §12.2.2: a CSeq lower than (or equal to: that request was seen) the remote
     * sequence number is answered 500. */
    if (d->remote_cseq_set && cs->seq <= d->remote_cseq) return 500;
    if (refreshes_target(m) && sip_msg_header_count(req, SIP_HDR_CONTACT)) {
        sip_str_t t = contact_uri(req);
        if (!t.len) return 400;
        int rc = own(&d->remote_target, &d->target_store, t);
        if (rc) return rc;
    }
    d->remote_cseq = cs->seq;
    d->remote_cseq_set = 1;
    return 0;
}

int sip_dialog_receive_response(sip_dialog_t *d, const sip_msg_t *rsp)
{
    if (!d || !rsp || sip_msg_is_request(rsp)) return SIP_EINVAL;
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    if (!cs) return SIP_EINVAL;
    int st = sip_msg_get_status(rsp);
    if (st < 101 || st >= 300) return 0;
    if (st >= 200 && d->state == SIP_DIALOG_EARLY) {
        d->state = SIP_DIALOG_CONFIRMED;
        /* RFC 3261 §12.1.2: the UAC's route set is taken from the 2xx (a 1xx may have shown
         * another Record-Route). */
        if (!d->uas && cs->method == SIP_METHOD_INVITE) {
            int rc = set_routes(d, rsp, 1);
            if (rc) return rc;
        }
    }
    if (refreshes_target(cs->method) && sip_msg_header_count(rsp, SIP_HDR_CONTACT)) {
        sip_str_t t = contact_uri(rsp);
        if (t.len) {
            int rc = own(&d->remote_target, &d->target_store, t);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- getters ---------------------------------------------------------------------------- */

static const sip_str_t empty = {"", 0};

sip_dialog_state_t sip_dialog_get_state(const sip_dialog_t *d)
{
    return d ? d->state : SIP_DIALOG_TERMINATED;
}

const char *sip_dialog_state_name(sip_dialog_state_t s)
{
    switch (s) {
    case SIP_DIALOG_EARLY: return "Early";
    case SIP_DIALOG_CONFIRMED: return "Confirmed";
    case SIP_DIALOG_TERMINATED: return "Terminated";
    }
    return "Unknown";
}

int sip_dialog_is_uas(const sip_dialog_t *d)
{
    return d ? d->uas : 0;
}

int sip_dialog_is_secure(const sip_dialog_t *d)
{
    return d ? d->secure : 0;
}

#define GETTER(name, field)                                                                        \
    sip_str_t sip_dialog_get_##name(const sip_dialog_t *d)                                         \
    {                                                                                              \
        return d ? d->field : empty;                                                               \
    }
GETTER(call_id, call_id)
GETTER(local_tag, local_tag)
GETTER(remote_tag, remote_tag)
GETTER(local_addr, local_addr)
GETTER(remote_addr, remote_addr)
GETTER(remote_target, remote_target)
GETTER(local_target, local_target)
#undef GETTER

size_t sip_dialog_route_count(const sip_dialog_t *d)
{
    return d ? d->nroutes : 0;
}

sip_str_t sip_dialog_route_at(const sip_dialog_t *d, size_t i)
{
    return d && i < d->nroutes ? d->routes[i] : empty;
}

uint32_t sip_dialog_get_local_cseq(const sip_dialog_t *d)
{
    return d ? d->local_cseq : 0;
}

uint32_t sip_dialog_get_remote_cseq(const sip_dialog_t *d)
{
    return d ? d->remote_cseq : 0;
}
