/* SPDX-License-Identifier: MIT */
/* The proxy's servers: location lookups and targets from bindings (RFC 3261 §16.5), digest
 * authentication (§22.3), the registrar (§10.3), redirects (§8.3) and which domains are ours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "proxy/proxy_int.h"
#include "sip/error.h"
#include "stats/stats_int.h"

void sip__proxy_auth_free(sip_proxy_req_t *req)
{
    if (req->query) {
        sip_auth_query_t *q = req->query;
        req->query = NULL;
        sip_auth_query_close(q);
        sip_auth_query_unref(q);
    }
}

int sip_proxy_is_local(const sip_proxy_t *p, const sip_uri_t *uri)
{
    if (!p || !uri || !uri->host.len) return 0;
    if (sip__proxy_uri_is_ours(p, uri)) return 1;
    sip_str_t h = uri->host;
    if (!p->location) return 0;
    return sip_location_is_local(p->location, h.ptr, h.len) ? 1 : 0;
}

/* ---- location ------------------------------------------------------------------------------ */

int sip_proxy_req_lookup(sip_proxy_req_t *req, sip_location_lookup_cb cb, void *user,
                         sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!req) goto fail;
    rc = SIP_ECLOSED;
    if (req->p->closed) goto fail;
    rc = SIP_ENOENT;
    if (!req->p->location) goto fail;
    const sip_uri_t *u = sip_msg_get_uri(req->msg);
    char *uri = sip__strndup(u->raw.ptr, u->raw.len);
    rc = SIP_ENOMEM;
    if (!uri) goto fail;
    rc = sip_location_lookup(req->p->location, uri, cb, user, user_free);
    free(uri);
    return rc;
fail:
    if (user_free) user_free(user);
    return rc;
}

/* Whether a binding is reached through the address its REGISTER came from rather than its
 * Contact: an RFC 5626 registration (instance and reg-id: its flow, §5.3), a Contact that
 * cannot be reached from outside (RFC 1918 and RFC 6598 addresses, IPv6 unique-local and
 * link-local: a UA behind a NAT, as Kamailio's nathelper tells them), or an RFC 7118
 * WebSocket client's ".invalid" host. A Contact with a public address is taken as it is, so
 * that a binding one UA registered for another (a third-party registration, RFC 3261 §10.2)
 * reaches that device and not the one that registered it. The one rule of
 * sip_proxy_req_add_bindings() and the script layers' targets. */
int sip_proxy_binding_uses_received(const char *contact, const char *instance, uint32_t reg_id)
{
    if (!contact) return 0;
    if (instance && instance[0] && reg_id) return 1;
    sip_uri_t u;
    if (sip_uri_parse(&u, contact, strlen(contact)) != 0) return 0;
    if (u.host.len > 8 && memcmp(u.host.ptr + u.host.len - 8, ".invalid", 8) == 0) return 1;
    if (u.host_type == SIP_HOST_IPV4) {
        /* The first two numbers of the dotted quad (the parser checked its shape). */
        unsigned a = 0, c = 0;
        size_t i = 0;
        while (i < u.host.len && u.host.ptr[i] >= '0' && u.host.ptr[i] <= '9')
            a = a * 10 + (unsigned)(u.host.ptr[i++] - '0');
        if (i == 0 || i >= u.host.len || u.host.ptr[i++] != '.') return 0;
        size_t j = i;
        while (i < u.host.len && u.host.ptr[i] >= '0' && u.host.ptr[i] <= '9')
            c = c * 10 + (unsigned)(u.host.ptr[i++] - '0');
        if (i == j) return 0;
        return a == 10 || (a == 172 && c >= 16 && c < 32) || (a == 192 && c == 168) ||
               (a == 100 && c >= 64 && c < 128);
    }
    if (u.host_type == SIP_HOST_IPV6 && u.host.len > 3) {
        char c0 = u.host.ptr[1], c1 = u.host.ptr[2];
        return ((c0 == 'f' || c0 == 'F') && (c1 == 'c' || c1 == 'C' || c1 == 'd' || c1 == 'D')) ||
               (u.host.len > 5 && (c0 == 'f' || c0 == 'F') && (c1 == 'e' || c1 == 'E') &&
                strchr("89abAB", u.host.ptr[3]));
    }
    return 0;
}

static int use_received(const sip_binding_t *b)
{
    return b->received && b->received[0] &&
           sip_proxy_binding_uses_received(b->contact, b->instance, b->reg_id);
}

int sip_proxy_req_add_bindings(sip_proxy_req_t *req, const sip_bindings_t *set)
{
    if (!req || !set) return SIP_EINVAL;
    size_t n = sip_bindings_count(set);
    for (size_t i = 0; i < n; i++) {
        const sip_binding_t *b = sip_bindings_at(set, i);
        /* RFC 3327 §5.2 the Path, RFC 5626 §5.3 the flow, and behind a NAT the address the
         * registration came from (use_received()). */
        sip_proxy_target_t t = {.uri = b->contact,
                                .q = b->q,
                                .path = b->path,
                                .dst = use_received(b) ? b->received : NULL,
                                .conn_id = b->conn_id};
        int rc = sip_proxy_req_add_target(req, &t);
        if (rc) return rc;
    }
    return 0;
}

/* ---- redirect (§8.3.3 of a redirect server) ------------------------------------------------- */

int sip_proxy_req_redirect(sip_proxy_req_t *req, int status, const sip_bindings_t *set)
{
    if (!req) return SIP_EINVAL;
    if (status != 300 && status != 301 && status != 302 && status != 305 && status != 480)
        return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (req->final) return SIP_EBUSY;
    size_t n = set ? sip_bindings_count(set) : 0;
    if (!n || status == 480) return sip_proxy_req_reply(req, n || status == 480 ? 480 : 404, NULL);
    sip_msg_t *rsp;
    int rc = sip_proxy_req_create_response(&rsp, req, status, NULL);
    if (rc) return rc;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n && !rc; i++) {
        const sip_binding_t *b = sip_bindings_at(set, i);
        char q[16] = "";
        if (b->q >= 0) {
            /* q is three decimals at most (RFC 3261 §20.10); trailing zeros go. */
            int w = snprintf(q, sizeof(q), ";q=%d.%03d", b->q / 1000, b->q % 1000);
            while (w > 5 && q[w - 1] == '0')
                q[--w] = '\0';
            if (q[w - 1] == '.') q[--w] = '\0';
        }
        long long left = b->expires > now ? (long long)(b->expires - now) : 0;
        /* Sized by the contact: a long one is listed, not left out without a word. */
        size_t size = strlen(b->contact) + sizeof(q) + 32;
        char *v = malloc(size);
        if (!v) {
            rc = SIP_ENOMEM;
            break;
        }
        snprintf(v, size, "<%s>%s;expires=%lld", b->contact, q, left);
        rc = sip_msg_add_header(rsp, "Contact", v);
        free(v);
        if (rc == SIP_EPARSE) rc = 0; /* a stored contact that does not parse is left out */
    }
    if (!rc) rc = sip_proxy_req_send_response(req, rsp);
    sip_msg_unref(rsp);
    return rc;
}

/* ---- digest authentication (§22.3) ---------------------------------------------------------- */

/* The server for the request: the 401 realm for REGISTER and requests for a local domain, the
 * proxy's 407 realm for what goes elsewhere (auth for both without one). */
static sip_auth_server_t *server_for(const sip_proxy_req_t *req, int *status)
{
    sip_proxy_t *p = req->p;
    int local =
        req->method == SIP_METHOD_REGISTER || sip_proxy_is_local(p, sip_msg_get_uri(req->msg));
    if (!local && p->proxy_auth) {
        *status = 407;
        return p->proxy_auth;
    }
    *status = 401;
    return p->auth;
}

typedef struct auth_wrap {
    sip_proxy_req_t *req;
    sip_auth_check_cb cb;
    void *user;
    sip_free_fn user_free;
} auth_wrap_t;

static void on_auth(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    auth_wrap_t *w = user;
    sip_proxy_req_t *req = w->req;
    if (ev == SIP_AUTH_EVENT_LOOKUP) {
        if (w->cb)
            w->cb(q, ev, w->user);
        else if (req->p->users)
            sip_userdb_answer(req->p->users, q);
        else
            sip_auth_query_answer_unknown(q);
        return;
    }
    sip__stat_auth(req->p->loop, sip_auth_query_get_verdict(q));
    sip_auth_verdict_t v = sip_auth_query_get_verdict(q);
    if (req->p->guard && (v == SIP_AUTH_FAILED || v == SIP_AUTH_MALFORMED)) {
        /* A guess: a wrong password or an unknown user (the same verdict), or credentials
         * that cannot be checked. A stale nonce or a replay had the right digest: no guess. */
        const sip_netinfo_t *ni = sip_msg_get_netinfo(req->msg);
        if (ni && ni->remote_ip[0]) sip_guard_auth_failed(req->p->guard, ni->remote_ip);
    }
    if (sip_auth_query_get_verdict(q) == SIP_AUTH_OK) {
        sip_str_t u = sip_auth_query_get_user(q);
        char *c = sip__strndup(u.ptr ? u.ptr : "", u.len);
        if (c) {
            free(req->auth_user);
            req->auth_user = c;
        }
    }
    if (w->cb) w->cb(q, ev, w->user);
}

static void auth_wrap_free(void *user)
{
    auth_wrap_t *w = user;
    if (w->user_free) w->user_free(w->user);
    sip_proxy_req_unref(w->req);
    free(w);
}

int sip_proxy_req_authenticate(sip_proxy_req_t *req, sip_auth_check_cb cb, void *user,
                               sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!req) goto fail;
    rc = SIP_ECLOSED;
    if (req->p->closed) goto fail;
    int st;
    sip_auth_server_t *srv = server_for(req, &st);
    rc = SIP_ENOENT;
    if (!srv) goto fail;
    rc = SIP_ENOMEM;
    auth_wrap_t *w = calloc(1, sizeof(*w));
    if (!w) goto fail;
    w->req = sip_proxy_req_ref(req);
    w->cb = cb;
    w->user = user;
    w->user_free = user_free;
    /* One check at a time: a new one replaces the last (its callbacks stop). */
    sip__proxy_auth_free(req);
    sip_auth_query_t *q = NULL;
    rc = sip_auth_server_check(&q, srv, req->msg, on_auth, w, auth_wrap_free);
    if (rc) return rc; /* auth_wrap_free ran: user_free too */
    req->query = q;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

const char *sip_proxy_req_get_auth_user(const sip_proxy_req_t *req)
{
    return req ? req->auth_user : NULL;
}

int sip_proxy_req_challenge(sip_proxy_req_t *req)
{
    if (!req) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (req->final) return SIP_EBUSY;
    int st, stale = 0;
    sip_auth_server_t *srv = server_for(req, &st);
    sip_auth_verdict_t v = req->query ? sip_auth_query_get_verdict(req->query) : SIP_AUTH_PENDING;
    if (v != SIP_AUTH_PENDING && v != SIP_AUTH_OK) {
        /* The last check's answer: its server's challenge, stale=true when the digest was
         * right but its nonce not (RFC 7616 §3.3), 400 for credentials that cannot be
         * checked. */
        srv = sip_auth_query_get_server(req->query);
        st = sip_auth_query_get_status(req->query);
        stale = v == SIP_AUTH_STALE || v == SIP_AUTH_REPLAY;
    }
    if (!srv) return SIP_ENOENT;
    sip_msg_t *rsp;
    int rc = sip_proxy_req_create_response(&rsp, req, st, NULL);
    if (rc) return rc;
    if (st != 400) rc = sip_auth_server_challenge(srv, rsp, stale);
    if (!rc) rc = sip_proxy_req_send_response(req, rsp);
    sip_msg_unref(rsp);
    return rc;
}

/* ---- the registrar (§10.3) ------------------------------------------------------------------- */

typedef struct save_wrap {
    sip_proxy_req_t *req;
    sip_registrar_cb cb;
    void *user;
    sip_free_fn user_free;
} save_wrap_t;

static void on_saved(sip_registrar_t *r, int status, sip_msg_t *rsp, sip_bindings_t *set,
                     void *user)
{
    save_wrap_t *w = user;
    if (!w->req->final) w->req->final = status;
    if (w->cb) w->cb(r, status, rsp, set, w->user);
}

static void save_wrap_free(void *user)
{
    save_wrap_t *w = user;
    if (w->user_free) w->user_free(w->user);
    sip_proxy_req_unref(w->req);
    free(w);
}

int sip_proxy_req_save(sip_proxy_req_t *req, sip_registrar_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!req) goto fail;
    sip_proxy_t *p = req->p;
    rc = SIP_ECLOSED;
    if (p->closed || !p->layer) goto fail;
    rc = SIP_ENOENT;
    if (!p->registrar) goto fail;
    rc = SIP_EBUSY;
    if (req->done) goto fail;
    rc = SIP_EINVAL;
    if (req->method != SIP_METHOD_REGISTER) goto fail;
    if (!req->txn) {
        /* A stateless proxy: the registrar answers through a transaction made now, so that
         * a retransmission gets the same answer. */
        rc = sip_txn_server_create(&req->txn, p->layer, req->msg);
        if (rc) goto fail;
    }
    rc = SIP_ENOMEM;
    save_wrap_t *w = calloc(1, sizeof(*w));
    if (!w) goto fail;
    w->req = sip_proxy_req_ref(req);
    w->cb = cb;
    w->user = user;
    w->user_free = user_free;
    rc = sip_registrar_save(p->registrar, req->txn, req->auth_user, on_saved, w, save_wrap_free);
    if (!rc) req->done = 1;
    return rc;
fail:
    if (user_free) user_free(user);
    return rc;
}
