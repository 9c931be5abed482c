/* SPDX-License-Identifier: MIT */
/* The user agent core: creation and close, the headers a UA sends, out-of-dialog requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "msg/msg_int.h"
#include "sip/error.h"
#include "sip/str.h"
#include "sip/transport.h"
#include "stats/stats_int.h"
#include "ua/ua_int.h"

#ifndef SIP_VERSION_STRING
#define SIP_VERSION_STRING "0"
#endif

void sip_ua_opts_init(sip_ua_opts_t *o)
{
    if (!o) return;
    *o = (sip_ua_opts_t){0};
    o->user_agent = "libsip/" SIP_VERSION_STRING;
    o->allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, MESSAGE, SUBSCRIBE, NOTIFY";
    o->supported = "100rel, timer";
    o->accept = "application/sdp";
    o->schemes = "sip, sips";
    o->t1_ms = 500;
    o->t2_ms = 4000;
}

static char *dup_or_null(const char *s)
{
    return s ? sip__strdup(s) : NULL;
}

static void ua_free(sip_ua_t *ua)
{
    free(ua->user_agent);
    free(ua->allow);
    free(ua->supported);
    free(ua->accept);
    free(ua->schemes);
    free(ua->contact_user);
    free(ua->contact_host);
    free(ua->recv_info);
    free(ua->events);
    free(ua->buckets);
    sip_msg_unref(ua->deco);
    for (unsigned i = 0; i < ua->ncontacts; i++)
        sip_msg_unref(ua->contacts[i].holder);
    free(ua->caps_text);
    sip_sdp_unref(ua->caps);
    sip_auth_client_unref(ua->auth);
    free(ua);
    sip__live_dec(SIP_LIVE_UA);
}

int sip__ua_on_message(sip_transport_t *tp, sip_msg_t *msg, void *user);

static int add_if(sip_msg_t *m, const char *name, const char *value);
static void table_remove(sip_ua_t *ua, sip_dialog_t *d);

/* The template of the headers the UA stamps (see ua_int.h). */
static int deco_init(sip_ua_t *ua)
{
    int rc = sip_msg_create_request(&ua->deco, "OPTIONS", "sip:x");
    if (!rc) rc = add_if(ua->deco, "Server", ua->user_agent);
    if (!rc) rc = add_if(ua->deco, "User-Agent", ua->user_agent);
    if (!rc) rc = add_if(ua->deco, "Allow", ua->allow);
    if (!rc) rc = add_if(ua->deco, "Supported", ua->supported);
    return rc == SIP_EPARSE ? SIP_EINVAL : rc;
}

int sip_ua_create(sip_ua_t **out, sip_txn_layer_t *layer, const sip_ua_opts_t *opts,
                  sip_ua_request_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !layer) goto fail;
    sip_transport_t *tp = sip_txn_layer_get_transport(layer);
    if (!tp) {
        rc = SIP_ECLOSED;
        goto fail;
    }
    sip_ua_opts_t def;
    if (!opts) {
        sip_ua_opts_init(&def);
        opts = &def;
    }
    rc = SIP_ENOMEM;
    sip_ua_t *ua = calloc(1, sizeof(*ua));
    if (!ua) goto fail;
    sip__live_inc(SIP_LIVE_UA);
    ua->refs = 1;
    ua->layer = sip_txn_layer_ref(layer);
    ua->loop = sip_transport_get_loop(tp);
    ua->t1_ms = opts->t1_ms ? opts->t1_ms : 500;
    ua->t2_ms = opts->t2_ms ? opts->t2_ms : 4000;
    ua->user_agent = dup_or_null(opts->user_agent);
    ua->allow = dup_or_null(opts->allow);
    ua->supported = dup_or_null(opts->supported);
    ua->accept = dup_or_null(opts->accept);
    ua->schemes = dup_or_null(opts->schemes ? opts->schemes : "sip, sips");
    ua->contact_user = dup_or_null(opts->contact_user);
    ua->contact_host = dup_or_null(opts->contact_host);
    ua->recv_info = dup_or_null(opts->recv_info);
    ua->events = dup_or_null(opts->events);
    ua->nbuckets = 64;
    ua->buckets = calloc(ua->nbuckets, sizeof(*ua->buckets));
    if ((opts->user_agent && !ua->user_agent) || (opts->allow && !ua->allow) ||
        (opts->supported && !ua->supported) || (opts->accept && !ua->accept) || !ua->schemes ||
        (opts->contact_user && !ua->contact_user) || (opts->contact_host && !ua->contact_host) ||
        (opts->recv_info && !ua->recv_info) || (opts->events && !ua->events) || !ua->buckets)
        goto fail_ua;
    rc = deco_init(ua);
    if (!rc) rc = sip__tq_init(&ua->tq, ua->loop, opts->clock);
    if (rc) goto fail_ua;
    /* The UA is a link of the transport's chain, after the transaction layer's matching and
     * before the application's handlers (PJSIP's UA module sits there too). */
    rc = sip_transport_add_handler(tp, SIP_HANDLER_PRIO_UA, sip__ua_on_message, ua, NULL);
    if (rc < 0) {
        /* The queue's uv handle frees itself; the UA goes now. */
        sip__tq_close(&ua->tq, NULL, NULL);
        goto fail_ua;
    }
    ua->handler_id = rc;
    ua->cb = cb;
    ua->user = user;
    ua->user_free = user_free;
    *out = ua;
    return 0;
fail_ua:
    sip_txn_layer_unref(ua->layer);
    ua_free(ua);
fail:
    if (user_free) user_free(user);
    return rc;
}

sip_ua_t *sip_ua_ref(sip_ua_t *ua)
{
    if (ua) ua->refs++;
    return ua;
}

static void tq_closed(void *owner)
{
    sip_ua_t *ua = owner;
    ua->tq_closing = 0;
    if (ua->refs == 0) ua_free(ua);
}

void sip_ua_close(sip_ua_t *ua)
{
    if (!ua || ua->closed) return;
    ua->closed = 1;
    sip_ua_ref(ua);
    /* Calls first: their timers and dialogs go before the table and the queue. */
    while (ua->calls)
        sip__call_ua_closed(ua->calls);
    while (ua->subs)
        sip__sub_ua_closed(ua->subs);
    sip__ua_requests_close(ua);
    while (ua->regs)
        sip__reg_ua_closed(ua->regs);
    for (size_t i = 0; i < ua->nbuckets; i++) {
        while (ua->buckets[i])
            table_remove(ua, ua->buckets[i]);
    }
    if (sip__tq_close(&ua->tq, tq_closed, ua)) ua->tq_closing = 1;
    sip_txn_layer_t *layer = ua->layer;
    ua->layer = NULL;
    if (layer) {
        sip_transport_t *tp = sip_txn_layer_get_transport(layer);
        if (tp && ua->handler_id > 0) sip_transport_remove_handler(tp, ua->handler_id);
        sip_txn_layer_unref(layer);
    }
    sip_free_fn f = ua->user_free;
    void *u = ua->user;
    ua->cb = NULL;
    ua->user_free = NULL;
    if (f) f(u);
    sip_ua_unref(ua);
}

void sip_ua_unref(sip_ua_t *ua)
{
    if (!ua || --ua->refs > 0) return;
    ua->refs = 1;
    sip_ua_close(ua);
    if (--ua->refs > 0) return;
    if (!ua->tq_closing) ua_free(ua);
}

sip_txn_layer_t *sip_ua_get_layer(sip_ua_t *ua)
{
    return ua && !ua->closed ? ua->layer : NULL;
}

size_t sip_ua_dialog_count(const sip_ua_t *ua)
{
    return ua ? ua->ndialogs : 0;
}

size_t sip_ua_call_count(const sip_ua_t *ua)
{
    return ua ? ua->ncalls : 0;
}

int sip__ua_caps(sip_ua_t *ua, const char *media, sip_sdp_t **out)
{
    if (ua->caps && strcmp(ua->caps_text, media) == 0) {
        *out = sip_sdp_ref(ua->caps);
        return 0;
    }
    sip_sdp_error_t perr;
    int rc = sip_sdp_parse(out, media, strlen(media), &perr);
    if (rc) return rc;
    char *t = sip__strdup(media);
    if (t) {
        free(ua->caps_text);
        sip_sdp_unref(ua->caps);
        ua->caps_text = t;
        ua->caps = sip_sdp_ref(*out);
    }
    return 0;
}

/* ---- the dialog table --------------------------------------------------------------------- */

static uint32_t hash_key(sip_str_t call_id, sip_str_t local_tag)
{
    /* FNV-1a over Call-ID and local tag: both come from the peer or from our random tags. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < call_id.len; i++)
        h = (h ^ (uint8_t)call_id.ptr[i]) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (size_t i = 0; i < local_tag.len; i++)
        h = (h ^ (uint8_t)local_tag.ptr[i]) * 16777619u;
    return h;
}

static int grow(sip_ua_t *ua)
{
    size_t n = ua->nbuckets * 2;
    sip_dialog_t **b = calloc(n, sizeof(*b));
    if (!b) return SIP_ENOMEM;
    for (size_t i = 0; i < ua->nbuckets; i++) {
        sip_dialog_t *d = ua->buckets[i];
        while (d) {
            sip_dialog_t *next = d->hnext;
            d->hnext = b[d->hash & (n - 1)];
            b[d->hash & (n - 1)] = d;
            d = next;
        }
    }
    free(ua->buckets);
    ua->buckets = b;
    ua->nbuckets = n;
    return 0;
}

/* Links d in the table. */
static void table_add(sip_ua_t *ua, sip_dialog_t *d)
{
    /* Grow at load 1: a failed growth only makes the chains longer. */
    if (ua->ndialogs >= ua->nbuckets) grow(ua);
    d->hash = hash_key(d->call_id, d->local_tag);
    size_t i = d->hash & (ua->nbuckets - 1);
    d->hnext = ua->buckets[i];
    ua->buckets[i] = sip_dialog_ref(d);
    ua->ndialogs++;
    sip__stat_born(ua->loop, SIP_STAT_DIALOGS_CREATED, SIP_STAT_DIALOGS_ACTIVE);
}

/* Unlinks d from the table (and every usage from d). */
static void table_remove(sip_ua_t *ua, sip_dialog_t *d)
{
    sip_dialog_t **pp = &ua->buckets[d->hash & (ua->nbuckets - 1)];
    while (*pp && *pp != d)
        pp = &(*pp)->hnext;
    if (!*pp) return;
    *pp = d->hnext;
    d->hnext = NULL;
    for (sip__usage_t *u = d->usage_list; u; u = u->next)
        u->linked = 0;
    d->usage_list = NULL;
    d->usages = 0;
    ua->ndialogs--;
    sip__stat_dec(ua->loop, SIP_STAT_DIALOGS_ACTIVE);
    sip_dialog_unref(d);
}

int sip__ua_usage_add(sip_ua_t *ua, sip_dialog_t *d, sip__usage_t *u)
{
    if (ua->closed) return SIP_ECLOSED;
    if (u->linked) return 0;
    if (!d->usages) table_add(ua, d);
    u->next = d->usage_list;
    d->usage_list = u;
    u->linked = 1;
    d->usages++;
    return 0;
}

void sip__ua_usage_remove(sip_ua_t *ua, sip_dialog_t *d, sip__usage_t *u)
{
    if (!u->linked) return;
    sip__usage_t **pp = &d->usage_list;
    while (*pp && *pp != u)
        pp = &(*pp)->next;
    if (*pp) *pp = u->next;
    u->next = NULL;
    u->linked = 0;
    /* RFC 5057: the dialog ends with its last usage. */
    if (--d->usages <= 0) table_remove(ua, d);
}

/* The INVITE usage of a call (request.c dispatches to it). */
extern const sip__usage_ops_t sip__ua_invite_usage;

int sip__ua_dialog_add(sip_ua_t *ua, sip_dialog_t *d, void *owner)
{
    d->inv.ops = &sip__ua_invite_usage;
    d->inv.owner = owner;
    d->inv.invite = 1;
    return sip__ua_usage_add(ua, d, &d->inv);
}

void sip__ua_dialog_remove(sip_ua_t *ua, sip_dialog_t *d)
{
    sip__ua_usage_remove(ua, d, &d->inv);
    d->inv.owner = NULL;
}

sip_dialog_t *sip__ua_dialog_find(sip_ua_t *ua, sip_str_t call_id, sip_str_t local_tag,
                                  sip_str_t remote_tag)
{
    if (!ua->nbuckets) return NULL;
    uint32_t h = hash_key(call_id, local_tag);
    for (sip_dialog_t *d = ua->buckets[h & (ua->nbuckets - 1)]; d; d = d->hnext) {
        if (d->hash == h && sip_str_eq(d->local_tag, local_tag) &&
            sip_str_eq(d->remote_tag, remote_tag) && sip_str_eq(d->call_id, call_id))
            return d;
    }
    return NULL;
}

/* ---- the headers a UA sends ------------------------------------------------------------------ */

static int contact_text(sip_ua_t *ua, const sip_netinfo_t *ni, char *buf, size_t size)
{
    sip_transport_t *tp = ua->layer ? sip_txn_layer_get_transport(ua->layer) : NULL;
    if (!tp) return SIP_ECLOSED;
    sip_netinfo_t li;
    int found = 0;
    /* The listening point the message goes through: same transport and local address. */
    size_t n = sip_transport_listener_count(tp);
    for (size_t i = 0; i < n && ni && !found; i++) {
        if (sip_transport_listener_info(tp, i, &li) == 0 && li.transport == ni->transport &&
            (!ni->local_port || li.local_port == ni->local_port))
            found = 1;
    }
    for (size_t i = 0; i < n && ni && !found; i++) {
        if (sip_transport_listener_info(tp, i, &li) == 0 && li.transport == ni->transport)
            found = 1;
    }
    if (!found && sip_transport_listener_info(tp, 0, &li) != 0) {
        /* No listening point (a client behind a connection it opens): the configured host. */
        if (!ua->contact_host) return SIP_ENOENT;
        li = (sip_netinfo_t){0};
        li.transport = ni && ni->transport ? ni->transport : SIP_TRANSPORT_UDP;
    }
    const char *host = li.local_ip;
    int v6 = strchr(host, ':') != NULL;
    const char *tparam = "";
    const char *scheme = "sip";
    switch (li.transport) {
    case SIP_TRANSPORT_TCP: tparam = ";transport=tcp"; break;
    case SIP_TRANSPORT_TLS: scheme = "sips"; break;
    case SIP_TRANSPORT_WS: tparam = ";transport=ws"; break;
    case SIP_TRANSPORT_WSS: tparam = ";transport=wss"; break;
    default: break;
    }
    int w;
    const char *user = ua->contact_user ? ua->contact_user : "";
    const char *at = *user ? "@" : "";
    if (ua->contact_host)
        w = snprintf(buf, size, "<%s:%s%s%s%s>", scheme, user, at, ua->contact_host, tparam);
    else
        w = snprintf(buf, size, "<%s:%s%s%s%s%s:%u%s>", scheme, user, at, v6 ? "[" : "", host,
                     v6 ? "]" : "", li.local_port, tparam);
    return w > 0 && (size_t)w < size ? 0 : SIP_EINVAL;
}

/* The cached holder of the Contact for ni's listening point. */
static const sip_msg_t *contact_holder(sip_ua_t *ua, const sip_netinfo_t *ni)
{
    sip_transport_type_t tr = ni ? ni->transport : SIP_TRANSPORT_NONE;
    uint16_t port = ni ? ni->local_port : 0;
    for (unsigned i = 0; i < ua->ncontacts; i++)
        if (ua->contacts[i].transport == tr && ua->contacts[i].port == port)
            return ua->contacts[i].holder;
    char c[512];
    sip_msg_t *h = NULL;
    if (contact_text(ua, ni, c, sizeof(c)) != 0) return NULL;
    if (sip_msg_create_request(&h, "OPTIONS", "sip:x") != 0) return NULL;
    if (sip_msg_add_header(h, "Contact", c) != 0) {
        sip_msg_unref(h);
        return NULL;
    }
    struct sip__ua_contact *e = &ua->contacts[ua->contact_next];
    ua->contact_next = (ua->contact_next + 1) % 8;
    if (ua->ncontacts < 8)
        ua->ncontacts++;
    else
        sip_msg_unref(e->holder);
    *e = (struct sip__ua_contact){tr, port, h};
    return h;
}

int sip__ua_contact(sip_ua_t *ua, const sip_netinfo_t *ni, char *buf, size_t size)
{
    const sip_msg_t *h = contact_holder(ua, ni);
    if (!h) return contact_text(ua, ni, buf, size);
    sip_str_t v = sip_header_get_value(sip_msg_header_at(h, SIP_HDR_CONTACT, 0));
    if (v.len >= size) return SIP_EINVAL;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    return 0;
}

/* Adds the Contact of ni's listening point to m. */
static int add_contact(sip_ua_t *ua, sip_msg_t *m, const sip_netinfo_t *ni)
{
    const sip_msg_t *h = contact_holder(ua, ni);
    if (h) return sip__msg_copy_headers(m, h, SIP_HDR_CONTACT);
    char c[512];
    int rc = contact_text(ua, ni, c, sizeof(c));
    return rc ? rc : sip_msg_add_header(m, "Contact", c);
}

int sip__ua_local_ip(sip_ua_t *ua, const sip_netinfo_t *ni, char *buf, size_t size)
{
    char c[512];
    int rc = sip__ua_contact(ua, ni, c, sizeof(c));
    if (rc) return rc;
    /* "<sip:user@host:port;...>": the host, without brackets. */
    const char *h = strchr(c, ':') + 1, *at = strchr(h, '@');
    if (at) h = at + 1;
    size_t n;
    if (*h == '[') {
        h++;
        n = strcspn(h, "]");
    } else {
        n = strcspn(h, ":;>");
    }
    if (n == 0 || n >= size) return SIP_EINVAL;
    memcpy(buf, h, n);
    buf[n] = '\0';
    /* The engine writes an address: a name here needs media_address. */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789.:abcdefABCDEF", buf[i])) return SIP_EINVAL;
    return 0;
}

static int add_if(sip_msg_t *m, const char *name, const char *value)
{
    return value && *value ? sip_msg_add_header(m, name, value) : 0;
}

static int makes_dialog(sip_method_t m)
{
    return m == SIP_METHOD_INVITE || m == SIP_METHOD_SUBSCRIBE || m == SIP_METHOD_REFER;
}

int sip__ua_decorate_response(sip_ua_t *ua, sip_msg_t *rsp, const sip_msg_t *req)
{
    int st = sip_msg_get_status(rsp), rc = 0;
    if (!sip_msg_header_count(rsp, SIP_HDR_SERVER))
        rc = sip__msg_copy_headers(rsp, ua->deco, SIP_HDR_SERVER);
    if (!rc && st > 100 && st < 300 && makes_dialog(sip_msg_get_method(req))) {
        if (!sip_msg_header_count(rsp, SIP_HDR_CONTACT))
            rc = add_contact(ua, rsp, sip_msg_get_netinfo(req));
        /* RFC 3261 §12.1.1: the Record-Route of the request, in order, so that the caller's
         * route set makes the dialog's requests cross the proxies that asked. */
        if (!rc && !sip_msg_header_count(rsp, SIP_HDR_RECORD_ROUTE))
            rc = sip__msg_copy_headers(rsp, req, SIP_HDR_RECORD_ROUTE);
        if (!rc && st >= 200) rc = sip__msg_copy_headers(rsp, ua->deco, SIP_HDR_ALLOW);
        if (!rc && st >= 200) rc = sip__msg_copy_headers(rsp, ua->deco, SIP_HDR_SUPPORTED);
        if (!rc && st >= 200 && sip_msg_get_method(req) == SIP_METHOD_INVITE && ua->recv_info)
            rc = sip_msg_add_header(rsp, "Recv-Info", ua->recv_info);
    }
    return rc;
}

int sip_ua_create_response(sip_msg_t **out, sip_ua_t *ua, sip_txn_t *txn, int status,
                           const char *reason)
{
    if (out) *out = NULL;
    if (!out || !ua || !txn) return SIP_EINVAL;
    if (ua->closed) return SIP_ECLOSED;
    sip_msg_t *req = sip_txn_get_request(txn);
    if (!req) return SIP_EINVAL;
    int rc = sip_txn_create_response(out, txn, status, reason);
    if (!rc) rc = sip__ua_decorate_response(ua, *out, req);
    if (rc) {
        sip_msg_unref(*out);
        *out = NULL;
    }
    return rc;
}

int sip_ua_create_request(sip_msg_t **out, sip_ua_t *ua, const char *method, const char *target,
                          const char *from)
{
    if (out) *out = NULL;
    if (!out || !ua || !method || !target) return SIP_EINVAL;
    if (ua->closed) return SIP_ECLOSED;
    sip_msg_t *m = NULL;
    int rc = sip_msg_create_request(&m, method, target);
    if (rc) return rc;
    char tag[33], cid[33], buf[1024], contact[512];
    sip_method_t mid = sip_msg_get_method(m);
    rc = sip_random_hex(64, tag, sizeof(tag)) < 0 ? SIP_EIO : 0;
    if (!rc) rc = sip_random_hex(128, cid, sizeof(cid)) < 0 ? SIP_EIO : 0;
    /* The Contact names a listening point of the target's transport. */
    sip_netinfo_t ni = {0};
    if (!rc && sip__ua_dst(m, &ni) != 0) ni.transport = SIP_TRANSPORT_UDP;
    if (!rc) rc = sip__ua_contact(ua, &ni, contact, sizeof(contact));
    if (!rc) rc = sip_msg_add_header(m, "Max-Forwards", "70");
    if (!rc) {
        int w = snprintf(buf, sizeof(buf), "<%s>", target);
        rc = w > 0 && (size_t)w < sizeof(buf) ? sip_msg_add_header(m, "To", buf) : SIP_EINVAL;
    }
    if (!rc) {
        int w;
        if (from) {
            w = snprintf(buf, sizeof(buf), "%s;tag=%s", from, tag);
        } else {
            /* No From given: anonymous at this side's Contact host (RFC 3261 §8.1.1.3), past
             * the Contact's user part when it has one (contact_user). */
            const char *h = strchr(contact, ':') + 1, *e = h + strcspn(h, ";>");
            const char *at = memchr(h, '@', (size_t)(e - h));
            if (at) h = at + 1;
            w = snprintf(buf, sizeof(buf), "<sip:anonymous@%.*s>;tag=%s", (int)(e - h), h, tag);
        }
        rc = w > 0 && (size_t)w < sizeof(buf) ? sip_msg_add_header(m, "From", buf) : SIP_EINVAL;
        if (rc == SIP_EINVAL && from) rc = SIP_EPARSE;
    }
    if (!rc) rc = sip_msg_add_header(m, "Call-ID", cid);
    if (!rc) {
        snprintf(buf, sizeof(buf), "1 %s", method);
        rc = sip_msg_add_header(m, "CSeq", buf);
    }
    if (!rc && makes_dialog(mid)) {
        rc = add_contact(ua, m, &ni);
        if (!rc) rc = sip__msg_copy_headers(m, ua->deco, SIP_HDR_ALLOW);
        if (!rc) rc = sip__msg_copy_headers(m, ua->deco, SIP_HDR_SUPPORTED);
        /* RFC 6086 §4.2.2.1: an INVITE says which Info Packages it takes (even none). */
        if (!rc && mid == SIP_METHOD_INVITE && ua->recv_info)
            rc = sip_msg_add_header(m, "Recv-Info", ua->recv_info);
    }
    if (!rc) rc = sip__msg_copy_headers(m, ua->deco, SIP_HDR_USER_AGENT);
    /* RFC 3608 §6: the Service-Route of the registration of the From's AOR is the preloaded
     * route of the requests that follow it (a REGISTER goes to the registrar without it). */
    const sip_msg_t *routes =
        !rc && mid != SIP_METHOD_REGISTER ? sip__reg_service_route(ua, m) : NULL;
    if (routes) rc = sip__msg_copy_headers(m, routes, SIP_HDR_ROUTE);
    if (rc) {
        sip_msg_unref(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

int sip__ua_dst(const sip_msg_t *req, sip_netinfo_t *ni)
{
    const sip_uri_t *u = sip_msg_get_uri(req);
    const sip_header_t *r = sip_msg_header_at(req, SIP_HDR_ROUTE, 0);
    const sip_addr_t *ra = r ? sip_header_addr(r) : NULL;
    /* RFC 3261 §8.1.2: a loose first route is where the request goes. */
    if (ra && ra->uri.lr) u = &ra->uri;
    if (!u || (u->host_type != SIP_HOST_IPV4 && u->host_type != SIP_HOST_IPV6)) return 1;
    *ni = (sip_netinfo_t){0};
    ni->transport = SIP_TRANSPORT_UDP;
    if (u->transport.len)
        ni->transport = sip_transport_from_name(u->transport.ptr, u->transport.len);
    if (u->scheme == SIP_URI_SIPS) ni->transport = SIP_TRANSPORT_TLS;
    if (ni->transport == SIP_TRANSPORT_NONE) return 1;
    sip_str_t h = u->host;
    if (u->maddr.len) h = u->maddr;
    if (h.len && h.ptr[0] == '[') h = (sip_str_t){h.ptr + 1, h.len - 2};
    if (h.len >= sizeof(ni->remote_ip)) return 1;
    memcpy(ni->remote_ip, h.ptr, h.len);
    ni->remote_port = u->port ? u->port : sip_transport_default_port(ni->transport);
    return 0;
}

int sip__ua_send(sip_ua_t *ua, sip_txn_t **out, sip_msg_t *req, const sip_netinfo_t *dst,
                 sip_response_cb cb, void *user, sip_free_fn user_free)
{
    if (ua->closed || !ua->layer) {
        if (user_free) user_free(user);
        return SIP_ECLOSED;
    }
    sip_netinfo_t ni;
    if (!dst && sip__ua_dst(req, &ni) == 0) dst = &ni;
    /* RFC 7616 §3.4: the challenges answered before authorise the request at once. */
    if (ua->auth && sip_auth_client_count(ua->auth)) sip_auth_client_prepare(ua->auth, req);
    sip_txn_t *t = NULL;
    int rc = sip_txn_client_create(&t, ua->layer, req, dst, NULL, cb, user, user_free);
    if (out)
        *out = t;
    else
        sip_txn_unref(t);
    return rc;
}

int sip__ua_send_stateless(sip_ua_t *ua, sip_msg_t *msg)
{
    if (ua->closed || !ua->layer) return SIP_ECLOSED;
    sip_netinfo_t ni;
    return sip_txn_send_stateless(ua->layer, msg, sip__ua_dst(msg, &ni) == 0 ? &ni : NULL);
}
