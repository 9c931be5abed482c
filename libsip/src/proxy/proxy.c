/* SPDX-License-Identifier: MIT */
/* The proxy core: the proxy on the handler chain, request intake with the checks of RFC 3261
 * §16.3 and the route preprocessing of §16.4, the request object and its answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "guard/guard_int.h"
#include "proxy/proxy_int.h"
#include "sip/error.h"
#include "sip/str.h"
#include "sip/transport.h"
#include "stats/stats_int.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"

#ifndef SIP_VERSION_STRING
#define SIP_VERSION_STRING "0"
#endif

void sip_proxy_opts_init(sip_proxy_opts_t *o)
{
    if (!o) return;
    *o = (sip_proxy_opts_t){0};
    o->timer_c_ms = 180000; /* RFC 3261 §16.6 step 11: more than 3 minutes */
    o->max_branches = 16;
    o->loop_detect = 1;
    o->server = "libsip/" SIP_VERSION_STRING;
}

static void proxy_free(sip_proxy_t *p)
{
    free(p->rr_host);
    free(p->server);
    sip_location_unref(p->location);
    sip_registrar_unref(p->registrar);
    sip_auth_server_unref(p->auth);
    sip_auth_server_unref(p->proxy_auth);
    sip_userdb_unref(p->users);
    sip_guard_unref(p->guard);
    free(p);
    sip__live_dec(SIP_LIVE_PROXY);
}

static int on_message(sip_transport_t *tp, sip_msg_t *msg, void *user);
static void tq_closed(void *owner);

int sip_proxy_create(sip_proxy_t **out, sip_txn_layer_t *layer, const sip_proxy_opts_t *opts,
                     sip_proxy_route_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !layer) goto fail;
    sip_transport_t *tp = sip_txn_layer_get_transport(layer);
    rc = SIP_ECLOSED;
    if (!tp) goto fail;
    sip_proxy_opts_t def;
    if (!opts) {
        sip_proxy_opts_init(&def);
        opts = &def;
    }
    /* Strings that go into headers as they are: Server on one line; the Record-Route host a
     * host[:port], since a delimiter would end its URI or add to it. */
    const char *bad = NULL;
    for (const char *c = opts->server; c && *c && !bad; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') bad = "server";
    for (const char *c = opts->record_route_host; c && *c && !bad; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || strchr("<>;,?@\"\\", *c) ||
            c - opts->record_route_host >= 262) /* a DNS name and a port (rr_value() keeps 300) */
            bad = "record_route_host";
    if (bad) {
        sip_log(sip_transport_get_loop(tp), SIP_LOG_ERROR, "proxy",
                "option %s refused: it goes into headers as it is", bad);
        rc = SIP_EINVAL;
        goto fail;
    }
    if (opts->guard && sip__guard_loop(opts->guard) != sip_transport_get_loop(tp)) {
        sip_log(sip_transport_get_loop(tp), SIP_LOG_ERROR, "proxy",
                "option guard refused: it belongs to another loop");
        rc = SIP_EINVAL;
        goto fail;
    }
    rc = SIP_ENOMEM;
    sip_proxy_t *p = calloc(1, sizeof(*p));
    if (!p) goto fail;
    sip__live_inc(SIP_LIVE_PROXY);
    p->refs = 1;
    p->loop = sip_transport_get_loop(tp);
    p->stateless = opts->stateless ? 1 : 0;
    p->loop_detect = opts->loop_detect ? 1 : 0;
    p->redirect = opts->redirect ? 1 : 0;
    p->timer_c_ms = opts->timer_c_ms ? opts->timer_c_ms : 180000;
    p->max_branches = opts->max_branches ? opts->max_branches : 16;
    if (opts->record_route_host && *opts->record_route_host) {
        p->rr_host = sip__strdup(opts->record_route_host);
        if (!p->rr_host) goto fail_p;
    }
    if (opts->server && *opts->server) {
        p->server = sip__strdup(opts->server);
        if (!p->server) goto fail_p;
    }
    rc = SIP_EIO;
    if (opts->secret && *opts->secret) {
        /* Proxies sharing a secret (the workers of one server) make and check the same
         * branches: both keys from SHA-256 over a label and the secret, so they are not the
         * secret itself, which the digest servers may share. */
        static const char label[] = "libsip proxy branch keys";
        unsigned char md[32];
        unsigned mdlen = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(ctx, label, sizeof(label)) == 1 &&
                 EVP_DigestUpdate(ctx, opts->secret, strlen(opts->secret)) == 1 &&
                 EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == sizeof(md);
        EVP_MD_CTX_free(ctx);
        if (!ok) goto fail_p;
        memcpy(&p->key, md, sizeof(p->key));
        memcpy(p->mac_key, md + sizeof(p->key), sizeof(p->mac_key));
    } else {
        if (getrandom(&p->key, sizeof(p->key), 0) != (ssize_t)sizeof(p->key))
            p->key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)p;
        /* The branch MAC's key must not be guessable: without one the proxy is not made. */
        if (RAND_bytes((unsigned char *)p->mac_key, (int)sizeof(p->mac_key)) != 1) goto fail_p;
    }
    rc = sip__tq_init(&p->tq, p->loop, NULL);
    if (rc) goto fail_p;
    /* The proxy is a link of the transport's chain after the transaction layer's matching: it
     * sees new requests, the ACKs of 2xx, the CANCELs of no transaction and stray responses. */
    rc = sip_transport_add_handler(tp, SIP_HANDLER_PRIO_UA, on_message, p, NULL);
    if (rc < 0) {
        /* The timer queue's uv handle closes on the loop: the proxy goes after it. */
        p->refs = 0;
        if (sip__tq_close(&p->tq, tq_closed, p)) {
            p->tq_closing = 1;
            goto fail;
        }
        goto fail_p;
    }
    p->handler_id = rc;
    p->layer = sip_txn_layer_ref(layer);
    /* RFC 3261 §16: a proxy does not merge requests (§8.2.2.2 is a UAS's): the second copy of
     * a request that went round is a spiral or a loop, which §16.3 step 4 tells apart. */
    if (!p->stateless) layer->proxy = 1;
    p->location = opts->location ? sip_location_ref(opts->location) : NULL;
    p->registrar = opts->registrar ? sip_registrar_ref(opts->registrar) : NULL;
    p->auth = opts->auth ? sip_auth_server_ref(opts->auth) : NULL;
    p->proxy_auth = opts->proxy_auth ? sip_auth_server_ref(opts->proxy_auth) : NULL;
    p->users = opts->users ? sip_userdb_ref(opts->users) : NULL;
    p->guard = opts->guard ? sip_guard_ref(opts->guard) : NULL;
    /* The last step that can fail: it runs user_free itself when it does. */
    rc = sip__proxy_route_new(&p->route, cb, user, user_free);
    if (rc) {
        sip_proxy_close(p);
        sip_proxy_unref(p);
        return rc;
    }
    *out = p;
    return 0;
fail_p:
    proxy_free(p);
fail:
    if (user_free) user_free(user);
    return rc;
}

sip_proxy_t *sip_proxy_ref(sip_proxy_t *p)
{
    if (p) p->refs++;
    return p;
}

static void tq_closed(void *owner)
{
    sip_proxy_t *p = owner;
    p->tq_closing = 0;
    if (p->refs == 0) proxy_free(p);
}

/* Answers a request the proxy gives up on, as it goes (close). */
static void give_up(sip_proxy_req_t *req, int status)
{
    if (req->final || req->method == SIP_METHOD_ACK) return;
    sip_msg_t *rsp = NULL;
    int rc = req->txn ? sip_txn_create_response(&rsp, req->txn, status, NULL)
                      : sip_msg_create_response(&rsp, req->msg, status, NULL, NULL);
    if (!rc) {
        if (req->p->server) sip_msg_add_header(rsp, "Server", req->p->server);
        sip__proxy_send_upstream(req, rsp);
    }
    sip_msg_unref(rsp);
}

void sip_proxy_close(sip_proxy_t *p)
{
    if (!p || p->closed) return;
    p->closed = 1;
    sip_proxy_ref(p);
    sip_transport_t *tp = p->layer ? sip_txn_layer_get_transport(p->layer) : NULL;
    if (tp && p->handler_id > 0) sip_transport_remove_handler(tp, p->handler_id);
    p->handler_id = 0;
    /* Every request in progress: 503 upstream, its branches cancelled, no callback more. */
    while (p->reqs) {
        sip_proxy_req_t *req = sip_proxy_req_ref(p->reqs);
        sip__proxy_req_unlink(req);
        sip__proxy_relay_close(req);
        if (p->layer && !sip_txn_layer_get_transport(p->layer)) req->final = 500;
        give_up(req, 503);
        req->done = 1;
        sip__proxy_auth_free(req);
        sip_proxy_req_unref(req);
    }
    if (sip__tq_close(&p->tq, tq_closed, p)) p->tq_closing = 1;
    sip_txn_layer_unref(p->layer);
    p->layer = NULL;
    /* The program's user_free runs now unless a request a program still holds took it. */
    sip__proxy_route_t *r = p->route;
    p->route = NULL;
    sip__proxy_route_unref(r);
    sip_proxy_unref(p);
}

void sip_proxy_unref(sip_proxy_t *p)
{
    if (!p || --p->refs > 0) return;
    p->refs = 1;
    sip_proxy_close(p);
    if (--p->refs > 0) return;
    if (!p->tq_closing) proxy_free(p);
}

sip_txn_layer_t *sip_proxy_get_layer(sip_proxy_t *p)
{
    return p && !p->closed ? p->layer : NULL;
}

int sip_proxy_get_redirect(const sip_proxy_t *p)
{
    return p && p->redirect ? 1 : 0;
}

int sip_proxy_get_stateless(const sip_proxy_t *p)
{
    return p && p->stateless ? 1 : 0;
}

sip_userdb_t *sip_proxy_get_users(const sip_proxy_t *p)
{
    return p ? p->users : NULL;
}

sip_auth_server_t *sip_proxy_get_auth(const sip_proxy_t *p)
{
    return p ? p->auth : NULL;
}

size_t sip_proxy_req_count(const sip_proxy_t *p)
{
    return p ? p->nreqs : 0;
}

/* ---- whose addresses ----------------------------------------------------------------------- */

static int host_eq(sip_str_t host, const char *ip)
{
    /* URI and Via hosts keep IPv6 brackets; listening addresses have none. */
    if (host.len >= 2 && host.ptr[0] == '[') {
        host.ptr++;
        host.len -= 2;
    }
    return sip_str_caseeq(host, sip_str_from_cstr(ip));
}

int sip__proxy_host_is_ours(const sip_proxy_t *p, sip_str_t host, uint16_t port,
                            sip_transport_type_t tr)
{
    if (!host.len) return 0;
    if (p->rr_host) {
        /* host[:port] as configured ("[v6]:port" for IPv6); a port left out matches any. */
        const char *rh = p->rr_host, *end = rh + strlen(rh), *colon = strrchr(rh, ':');
        sip_str_t h = {rh, (size_t)(end - rh)};
        unsigned rport = 0;
        if (rh[0] == '[') {
            const char *rb = strchr(rh, ']');
            if (rb) {
                h.len = (size_t)(rb + 1 - rh);
                if (rb[1] == ':') rport = (unsigned)strtoul(rb + 2, NULL, 10);
            }
        } else if (colon && strchr(rh, ':') == colon) {
            h.len = (size_t)(colon - rh);
            rport = (unsigned)strtoul(colon + 1, NULL, 10);
        }
        if (sip_str_caseeq(host, h) && (!rport || !port || rport == port)) return 1;
    }
    sip_transport_t *tp = p->layer ? sip_txn_layer_get_transport(p->layer) : NULL;
    if (!tp) return 0;
    size_t n = sip_transport_listener_count(tp);
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t li;
        if (sip_transport_listener_info(tp, i, &li)) continue;
        uint16_t want = port ? port : sip_transport_default_port(tr ? tr : li.transport);
        if (want != li.local_port) continue;
        if (host_eq(host, li.local_ip)) return 1;
        /* A wildcard listener is known by the host its Vias and Record-Routes carry. */
        int wild = !strcmp(li.local_ip, "0.0.0.0") || !strcmp(li.local_ip, "::");
        if (wild && tp->opts.via_host && host_eq(host, tp->opts.via_host)) return 1;
    }
    return 0;
}

int sip__proxy_uri_is_ours(const sip_proxy_t *p, const sip_uri_t *u)
{
    if (!u || (u->scheme != SIP_URI_SIP && u->scheme != SIP_URI_SIPS)) return 0;
    sip_transport_type_t tr = SIP_TRANSPORT_NONE;
    if (u->transport.len) tr = sip_transport_from_name(u->transport.ptr, u->transport.len);
    if (u->scheme == SIP_URI_SIPS && !tr) tr = SIP_TRANSPORT_TLS;
    if (!tr) tr = SIP_TRANSPORT_UDP;
    return sip__proxy_host_is_ours(p, u->host, u->port, tr);
}

/* ---- requests -------------------------------------------------------------------------------- */

void sip__proxy_req_unlink(sip_proxy_req_t *req)
{
    if (!req->linked) return;
    sip_proxy_t *p = req->p;
    if (req->prev)
        req->prev->next = req->next;
    else
        p->reqs = req->next;
    if (req->next) req->next->prev = req->prev;
    req->next = req->prev = NULL;
    req->linked = 0;
    p->nreqs--;
}

static void on_txn_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user);

static sip_proxy_req_t *req_new(sip_proxy_t *p, sip_msg_t *msg, sip_txn_t *txn)
{
    sip_proxy_req_t *req = calloc(1, sizeof(*req));
    if (!req) return NULL;
    sip__live_inc(SIP_LIVE_PROXY_REQ);
    req->refs = 1;
    req->p = sip_proxy_ref(p);
    req->msg = sip_msg_ref(msg);
    req->txn = sip_txn_ref(txn);
    req->method = sip_msg_get_method(msg);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    if (ni) req->in = *ni;
    req->lhash = sip__proxy_loop_hash(p, msg, 0);
    req->t0 = sip_loop_now(p->loop);
    sip__tq_entry_init(&req->timeout, NULL);
    sip__tq_entry_init(&req->kick, NULL);
    req->next = p->reqs;
    if (p->reqs) p->reqs->prev = req;
    p->reqs = req;
    req->linked = 1;
    p->nreqs++;
    return req;
}

static void req_free(sip_proxy_req_t *req)
{
    if (req->p->req_done) req->p->req_done(req, req->p->req_done_user);
    sip__proxy_req_unlink(req);
    sip__proxy_relay_close(req);
    sip__proxy_auth_free(req);
    if (req->txn) {
        /* The transaction may outlive the request: it must not call into it any more. */
        sip_txn_set_event_handler(req->txn, NULL, NULL, NULL);
        sip_txn_unref(req->txn);
    }
    sip__proxy_targets_free(req);
    sip__proxy_branches_free(req);
    for (size_t i = 0; i < req->ntried; i++)
        free(req->tried[i]);
    free(req->tried);
    free(req->auth_user);
    sip_msg_unref(req->msg);
    sip__proxy_route_unref(req->route);
    sip_proxy_t *p = req->p;
    free(req);
    sip__live_dec(SIP_LIVE_PROXY_REQ);
    sip_proxy_unref(p);
}

sip_proxy_req_t *sip_proxy_req_ref(sip_proxy_req_t *req)
{
    if (req) req->refs++;
    return req;
}

void sip_proxy_req_unref(sip_proxy_req_t *req)
{
    if (!req || --req->refs > 0) return;
    if (!req->done && !req->p->closed) {
        /* Nobody decided and nobody can any more: RFC 3261 §16 leaves no request unanswered
         * (an ACK is dropped). */
        req->refs = 1;
        if (req->method != SIP_METHOD_ACK) sip_proxy_req_reply(req, 500, NULL);
        req->done = 1;
        if (--req->refs > 0) return;
    }
    req_free(req);
}

sip_proxy_t *sip_proxy_req_get_proxy(const sip_proxy_req_t *req)
{
    return req ? req->p : NULL;
}

sip_msg_t *sip_proxy_req_get_msg(const sip_proxy_req_t *req)
{
    return req ? req->msg : NULL;
}

sip_txn_t *sip_proxy_req_get_txn(const sip_proxy_req_t *req)
{
    return req ? req->txn : NULL;
}

int sip_proxy_req_routed(const sip_proxy_req_t *req)
{
    return req ? req->routed : 0;
}

int sip_proxy_req_is_done(const sip_proxy_req_t *req)
{
    return req ? req->done : 0;
}

/* ---- answers --------------------------------------------------------------------------------- */

int sip__proxy_send_upstream(sip_proxy_req_t *req, sip_msg_t *rsp)
{
    sip_proxy_t *p = req->p;
    int st = sip_msg_get_status(rsp);
    if (req->method == SIP_METHOD_ACK) return SIP_EINVAL;
    /* Only 2xx may follow a 2xx (RFC 3261 §16.7 step 5: every 2xx of every branch). */
    if (req->final && !(st >= 200 && st < 300 && req->final < 300)) return SIP_EBUSY;
    if (!p->layer) return SIP_ECLOSED;
    /* A relayed response came from downstream: it goes back the way the request came. */
    if (req->in.transport) sip_msg_set_netinfo(rsp, &req->in);
    int rc = req->txn ? sip_txn_reply(req->txn, rsp) : sip_txn_send_stateless(p->layer, rsp, NULL);
    /* A 2xx after the server transaction ended (RFC 6026: its Timer L may run out before the
     * branch's Timer M) still goes up, statelessly (§16.7 step 5). */
    if (rc && req->txn && st >= 200 && st < 300 && req->final >= 200 && req->final < 300)
        rc = sip_txn_send_stateless(p->layer, rsp, NULL);
    if (rc == 0 && st >= 200) {
        if (!req->final) req->final = st;
        req->done = 1;
    }
    return rc;
}

/* The To tag of a stateless response: the same for every retransmission of the request
 * (RFC 3261 §8.2.7), so a hash of it. */
static void stateless_tag(const sip_proxy_req_t *req, char *buf, size_t size)
{
    snprintf(buf, size, "%016llx", (unsigned long long)(req->lhash ^ 0x5bd1e9955bd1e995ull));
}

int sip_proxy_req_create_response(sip_msg_t **out, sip_proxy_req_t *req, int status,
                                  const char *reason)
{
    if (out) *out = NULL;
    if (!out || !req || status < 100 || status > 699) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (req->method == SIP_METHOD_ACK) return SIP_EINVAL;
    int rc;
    if (req->txn) {
        rc = sip_txn_create_response(out, req->txn, status, reason);
    } else {
        char tag[24];
        stateless_tag(req, tag, sizeof(tag));
        rc = sip_msg_create_response(out, req->msg, status, reason, tag);
    }
    if (rc) return rc;
    if (req->p->server && (rc = sip_msg_add_header(*out, "Server", req->p->server))) {
        sip_msg_unref(*out);
        *out = NULL;
    }
    return rc;
}

int sip_proxy_req_send_response(sip_proxy_req_t *req, sip_msg_t *rsp)
{
    if (!req || !rsp || sip_msg_is_request(rsp)) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    int st = sip_msg_get_status(rsp);
    /* Answered, or no longer this proxy's to answer (forwarded, dropped, saved). */
    if (req->final || (req->done && !req->relays)) return SIP_EBUSY;
    int rc = sip__proxy_send_upstream(req, rsp);
    /* A final answer while branches are out ends them (§16.10 as for a CANCEL). */
    if (!rc && st >= 200 && req->relaying) sip_proxy_req_cancel(req);
    return rc;
}

int sip_proxy_req_reply(sip_proxy_req_t *req, int status, const char *reason)
{
    if (!req) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (req->final || (req->done && !req->relays)) return SIP_EBUSY;
    sip_msg_t *rsp;
    int rc = sip_proxy_req_create_response(&rsp, req, status, reason);
    if (rc) return rc;
    rc = sip_proxy_req_send_response(req, rsp);
    sip_msg_unref(rsp);
    return rc;
}

int sip_proxy_req_drop(sip_proxy_req_t *req)
{
    if (!req) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (req->done) return SIP_EBUSY;
    req->done = 1;
    /* A server transaction left without an answer would say 500 when it goes: it is closed
     * so that the request's retransmissions are dropped as well (they are new requests then). */
    if (req->txn) sip_txn_close(req->txn);
    return 0;
}

/* ---- intake: RFC 3261 §16.3 and §16.4 -------------------------------------------------------- */

/* Answers a request that failed a check, with one extra header. */
static void refuse(sip_proxy_req_t *req, int status, const char *name, const char *value)
{
    if (req->method == SIP_METHOD_ACK) {
        req->done = 1; /* never answered (§17.1.1.3) */
        return;
    }
    sip_msg_t *rsp;
    if (sip_proxy_req_create_response(&rsp, req, status, NULL)) return;
    if (name) sip_msg_add_header(rsp, name, value);
    sip__proxy_send_upstream(req, rsp);
    sip_msg_unref(rsp);
    req->done = 1;
}

/* §16.3 steps 2-5. 0 when the request passes. */
static int validate(sip_proxy_req_t *req)
{
    sip_proxy_t *p = req->p;
    const sip_msg_t *m = req->msg;
    /* Step 2: a Request-URI scheme this proxy does not route gets 416. */
    const sip_uri_t *u = sip_msg_get_uri(m);
    if (!u || (u->scheme != SIP_URI_SIP && u->scheme != SIP_URI_SIPS && u->scheme != SIP_URI_TEL)) {
        refuse(req, 416, NULL, NULL);
        return -1;
    }
    /* Step 3: Max-Forwards 0 gets 483 (an OPTIONS too: this proxy is no final recipient). */
    if (sip_msg_get_max_forwards(m) == 0) {
        refuse(req, 483, NULL, NULL);
        return -1;
    }
    /* Step 4: a request that comes back with the branch this proxy gave it is a loop; one
     * that comes back changed (another Request-URI) is a spiral and goes on. */
    if (p->loop_detect && req->method != SIP_METHOD_ACK && req->method != SIP_METHOD_CANCEL &&
        sip__proxy_looped(p, m)) {
        refuse(req, 482, NULL, NULL);
        return -1;
    }
    /* Step 5: this proxy supports no extension a Proxy-Require may name: 420 with each one in
     * Unsupported. ACK and CANCEL carry none that matter (§16.3 leaves them to the UAS). */
    size_t n = sip_msg_header_count(m, SIP_HDR_PROXY_REQUIRE);
    if (n && req->method != SIP_METHOD_ACK && req->method != SIP_METHOD_CANCEL) {
        char unsup[512];
        size_t len = 0;
        unsup[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            const sip_token_t *t = sip_header_token(sip_msg_header_at(m, SIP_HDR_PROXY_REQUIRE, i));
            if (!t || !t->value.len) continue;
            int w = snprintf(unsup + len, sizeof(unsup) - len, "%s%.*s", len ? ", " : "",
                             (int)t->value.len, t->value.ptr);
            if (w > 0 && (size_t)w < sizeof(unsup) - len) len += (size_t)w;
        }
        refuse(req, 420, len ? "Unsupported" : NULL, unsup);
        return -1;
    }
    return 0;
}

/* 1 when a Route value is a double Record-Route of ours (RFC 5658 r2 parameter). */
static int route_r2(const sip_addr_t *a)
{
    sip_str_t v;
    return a && sip_uri_param(&a->uri, "r2", &v) == 1;
}

/* §16.4: the strict-route fix-up and the removal of the Route values naming this proxy. */
static int preprocess(sip_proxy_req_t *req)
{
    sip_proxy_t *p = req->p;
    sip_msg_t *m = req->msg;
    const sip_uri_t *u = sip_msg_get_uri(m);
    /* A strict router before us put our Record-Route in the Request-URI (an lr URI of ours
     * that names no user): the real one is the last Route value. */
    if (u && u->lr && !u->user.len && sip__proxy_uri_is_ours(p, u)) {
        size_t n = sip_msg_header_count(m, SIP_HDR_ROUTE);
        if (n) {
            const sip_addr_t *last = sip_header_addr(sip_msg_header_at(m, SIP_HDR_ROUTE, n - 1));
            char *uri = last ? sip__strndup(last->uri.raw.ptr, last->uri.raw.len) : NULL;
            if (!uri) return SIP_ENOMEM;
            int rc = sip_msg_set_uri(m, uri);
            free(uri);
            if (rc) return rc;
            sip_msg_remove_header(m, "Route", n - 1);
        }
    }
    /* The top Route naming this proxy goes (both of a double Record-Route). */
    const sip_addr_t *top = sip_header_addr(sip_msg_header_at(m, SIP_HDR_ROUTE, 0));
    if (top && sip__proxy_uri_is_ours(p, &top->uri)) {
        int r2 = route_r2(top);
        sip_msg_remove_header(m, "Route", 0);
        req->routed = 1;
        const sip_addr_t *next = sip_header_addr(sip_msg_header_at(m, SIP_HDR_ROUTE, 0));
        if (r2 && next && route_r2(next) && sip__proxy_uri_is_ours(p, &next->uri))
            sip_msg_remove_header(m, "Route", 0);
    }
    return 0;
}

static int on_request(sip_proxy_t *p, sip_msg_t *msg)
{
    sip_method_t m = sip_msg_get_method(msg);
    sip_txn_t *txn = NULL;
    if (!p->stateless && m != SIP_METHOD_ACK && m != SIP_METHOD_CANCEL) {
        int rc = sip_txn_server_create(&txn, p->layer, msg);
        if (rc == SIP_EEXIST) return 1; /* a retransmission: its transaction has it */
        if (rc) {
            sip_txn_reply_stateless(p->layer, msg, 500, NULL);
            return 1;
        }
    }
    sip_proxy_req_t *req = req_new(p, msg, txn);
    if (!req) {
        if (txn)
            sip_txn_respond(txn, 500, NULL);
        else if (m != SIP_METHOD_ACK)
            sip_txn_reply_stateless(p->layer, msg, 500, NULL);
        sip_txn_unref(txn);
        return 1;
    }
    sip_txn_unref(txn);
    if (txn && m == SIP_METHOD_INVITE) {
        /* §16.10: a CANCEL is the proxy's to pass on; the INVITE waits for the branches' 487. */
        sip_txn_set_event_handler(txn, on_txn_event, req, NULL);
        sip_txn_set_cancel_keeps_invite(txn, 1);
    }
    if (validate(req) == 0) {
        if (preprocess(req) == 0)
            sip__proxy_route(p, req);
        else
            refuse(req, 500, NULL, NULL);
    }
    sip_proxy_req_unref(req);
    return 1;
}

static void on_txn_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)txn;
    (void)msg;
    sip_proxy_req_t *req = user;
    if (ev != SIP_TXN_EVENT_CANCEL || req->p->closed) return;
    sip_proxy_req_ref(req);
    req->cancelled = 1;
    if (req->relaying) {
        sip__proxy_relay_cancelled(req);
    } else if (!req->final) {
        /* §16.10: nothing went downstream yet: the INVITE is answered 487 here. */
        sip_proxy_req_reply(req, 487, NULL);
    }
    sip_proxy_req_unref(req);
}

static int on_message(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    sip_proxy_t *p = user;
    if (p->closed || !p->layer) return 0;
    /* A source blocked since its request passed the transport (its authentication failed too
     * often) is not served any more; a transport with the same guard drops it earlier. */
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    if (p->guard && ni && sip_msg_is_request(msg) &&
        sip_guard_is_blocked(p->guard, ni->remote_ip) == 1) {
        sip__stat_inc(p->loop, SIP_STAT_BLOCKED);
        return 1;
    }
    sip_proxy_ref(p);
    int taken = sip_msg_is_request(msg) ? on_request(p, msg) : sip__proxy_stray_response(p, msg);
    sip_proxy_unref(p);
    return taken;
}
