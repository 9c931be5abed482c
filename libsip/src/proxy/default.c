/* SPDX-License-Identifier: MIT */
/* sip_proxy_route_default(): the routing of `sipd`, written with the public routing API as any
 * routing program would be (the proxy's options read with its getters): registrar for our
 * domains, forking to registered contacts (or redirecting), forwarding elsewhere only for our
 * authenticated users (RFC 3261 §16). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sip/proxy.h"

/* How the request was answered by the authentication step. */
enum { AUTH_OK = 0, AUTH_ANSWERED = 1, AUTH_NONE = 2 };

static int has_to_tag(const sip_msg_t *msg)
{
    const sip_addr_t *to = sip_msg_get_to(msg);
    return to && to->tag.len > 0;
}

/* Authenticates the sender with the proxy's digest server and users table (401 for our domains,
 * 407 for the others: the proxy picks). The table answers inside the check, so the verdict is
 * known when it returns. AUTH_OK: authenticated as one of our users; AUTH_ANSWERED: the
 * challenge (or 400 for malformed credentials) went out; AUTH_NONE: the proxy has no digest
 * server; < 0: an error. */
static int authenticate(sip_proxy_req_t *req)
{
    int rc = sip_proxy_req_authenticate(req, NULL, NULL, NULL);
    if (rc == SIP_ENOENT) return AUTH_NONE;
    if (rc < 0) return rc;
    if (sip_proxy_req_get_auth_user(req)) return AUTH_OK;
    rc = sip_proxy_req_challenge(req);
    return rc < 0 ? rc : AUTH_ANSWERED;
}

/* Sends the request on where its Route set or Request-URI says (RFC 3261 §16.6 with RFC 3263),
 * or to uri: relayed on a transaction, or forwarded statelessly (§16.11) by a stateless proxy
 * and for ACK and CANCEL, which have no transaction of their own here. */
static int go_on(sip_proxy_req_t *req, const char *uri, int record_route)
{
    if (uri) {
        sip_proxy_target_t t = {.uri = uri, .q = -1};
        int rc = sip_proxy_req_add_target(req, &t);
        if (rc < 0) return rc;
    }
    sip_proxy_relay_opts_t o;
    sip_proxy_relay_opts_init(&o);
    o.record_route = record_route;
    int rc = sip_proxy_req_relay(req, &o, NULL, NULL, NULL);
    if (rc != SIP_ENOTSUP) return rc;
    sip_proxy_req_clear_targets(req);
    return sip_proxy_req_forward(req, uri, record_route);
}

/* The bindings as targets (sip_proxy_req_add_bindings(): contact, q, Path, flow, and the
 * received address only for a UA behind a NAT). More contacts than branches: the best ones,
 * added first, are tried. */
static int add_contacts(sip_proxy_req_t *req, const sip_bindings_t *set)
{
    int rc = sip_proxy_req_add_bindings(req, set);
    if (rc == SIP_ERANGE && sip_proxy_req_target_count(req) > 0) return 0;
    return rc;
}

/* A registered AOR's contacts: relayed by q (§16.6: the highest q first, all of one q in
 * parallel, §16.7 aggregation), record-routed so that the dialog's requests come back through
 * here (a contact behind a NAT or on a WebSocket is reached only by this proxy). */
static int to_bindings(sip_proxy_req_t *req, sip_bindings_t *set)
{
    sip_method_t m = sip_msg_get_method(sip_proxy_req_get_msg(req));
    int ack_or_cancel = m == SIP_METHOD_ACK || m == SIP_METHOD_CANCEL;
    int rc = add_contacts(req, set);
    if (rc < 0) return rc;
    if (!ack_or_cancel) {
        sip_proxy_relay_opts_t o;
        sip_proxy_relay_opts_init(&o);
        o.record_route = 1;
        o.parallel = 0;
        rc = sip_proxy_req_relay(req, &o, NULL, NULL, NULL);
        if (rc != SIP_ENOTSUP) return rc;
    }
    /* A stateless proxy cannot fork (§16.11), and an ACK or a CANCEL that matched nothing goes
     * where its request went (§16.10): the best contact, the first target, with its flow or
     * NAT address. */
    return sip_proxy_req_forward(req, NULL, !ack_or_cancel);
}

static void answer(sip_proxy_req_t *req, int status)
{
    if (sip_msg_get_method(sip_proxy_req_get_msg(req)) == SIP_METHOD_ACK)
        sip_proxy_req_drop(req);
    else
        sip_proxy_req_reply(req, status, NULL);
}

static void on_lookup(sip_location_t *loc, int status, sip_bindings_t *set, void *user)
{
    (void)loc;
    sip_proxy_req_t *req = user;
    if (sip_proxy_req_is_done(req)) return;
    sip_method_t m = sip_msg_get_method(sip_proxy_req_get_msg(req));
    int rc;
    if (status == 0 && set && sip_bindings_count(set) > 0) {
        if (sip_proxy_get_redirect(sip_proxy_req_get_proxy(req)) && m != SIP_METHOD_ACK &&
            m != SIP_METHOD_CANCEL)
            /* RFC 3261 §8.3: a redirect server lists the contacts in a 302. */
            rc = sip_proxy_req_redirect(req, 302, set);
        else
            rc = to_bindings(req, set);
        if (rc < 0 && !sip_proxy_req_is_done(req)) answer(req, 500);
        return;
    }
    if (status == 0 || status == SIP_ENOENT) {
        /* No binding: 404, whether the users table knows the user or not, as Kamailio's
         * sample configuration answers a failed lookup: a 480 for known users would tell a
         * scanner (svwar's INVITE and OPTIONS probes) which users exist. */
        answer(req, 404);
        return;
    }
    answer(req, status == SIP_EURI ? 404 : 500);
}

static void unref_req(void *user)
{
    sip_proxy_req_unref(user);
}

/* A request for one of our domains: its Request-URI is looked up (aliases followed). */
static int to_local(sip_proxy_req_t *req)
{
    const sip_msg_t *msg = sip_proxy_req_get_msg(req);
    const sip_uri_t *ruri = sip_msg_get_uri(msg);
    if (ruri->user.len == 0) {
        /* Addressed to this server itself (RFC 3261 §11: an OPTIONS ping). */
        answer(req, sip_msg_get_method(msg) == SIP_METHOD_OPTIONS ? 200 : 404);
        return 0;
    }
    /* The reference lives until the lookup's user_free, which runs on a failure too. */
    sip_proxy_req_ref(req);
    int rc = sip_proxy_req_lookup(req, on_lookup, req, unref_req);
    if (rc == SIP_EURI) {
        answer(req, 404);
        return 0;
    }
    return rc;
}

int sip_proxy_route_default(sip_proxy_req_t *req)
{
    if (!req) return SIP_EINVAL;
    sip_proxy_t *p = sip_proxy_req_get_proxy(req);
    const sip_msg_t *msg = sip_proxy_req_get_msg(req);
    const sip_uri_t *ruri = sip_msg_get_uri(msg);
    sip_method_t m = sip_msg_get_method(msg);
    int rc;
    if (!ruri) {
        rc = SIP_EINVAL;
        goto failed;
    }
    if (ruri->scheme != SIP_URI_SIP && ruri->scheme != SIP_URI_SIPS) {
        /* RFC 3261 §16.3 step 2 (RFC 4475 §3.3.2, §3.3.3): a scheme we do not route. */
        answer(req, 416);
        return 0;
    }
    /* §16.4: a request inside a dialog this proxy record-routed (and the ACK of its 2xx) goes
     * where its remaining Route set or Request-URI says, without a new Record-Route. An
     * out-of-dialog request merely preloaded through here is routed like any other, so that a
     * Route is no way around the relaying rules below. */
    if (sip_proxy_req_routed(req) && (has_to_tag(msg) || m == SIP_METHOD_ACK)) {
        rc = go_on(req, NULL, 0);
        goto done;
    }
    int local = sip_proxy_is_local(p, ruri) && sip_msg_header_count(msg, SIP_HDR_ROUTE) == 0;
    if (m == SIP_METHOD_REGISTER && local) {
        /* RFC 3261 §10.3 steps 1-3: ours; authenticated, then saved. A To that is no SIP or
         * SIPS URI can name no AOR (RFC 4475 §3.3.4): refused before any challenge. */
        const sip_addr_t *to = sip_msg_get_to(msg);
        if (!to || (to->uri.scheme != SIP_URI_SIP && to->uri.scheme != SIP_URI_SIPS)) {
            answer(req, 400);
            return 0;
        }
        rc = authenticate(req);
        if (rc == AUTH_ANSWERED) return 0;
        if (rc == AUTH_OK || rc == AUTH_NONE) rc = sip_proxy_req_save(req, NULL, NULL, NULL);
        goto done;
    }
    if (local) {
        rc = to_local(req);
        goto done;
    }
    /* Another domain: not an open relay. CANCEL cannot be challenged (RFC 3261 §22.1) and
     * cancels only what went that way; an ACK outside a dialog of ours is dropped. */
    if (m == SIP_METHOD_CANCEL) {
        rc = sip_proxy_req_forward(req, NULL, 0);
        goto done;
    }
    if (m == SIP_METHOD_ACK) return sip_proxy_req_drop(req);
    rc = authenticate(req);
    if (rc == AUTH_ANSWERED) return 0;
    if (rc == AUTH_NONE) {
        answer(req, 404);
        return 0;
    }
    if (rc == AUTH_OK) rc = go_on(req, NULL, 1);
done:
    if (rc >= 0) return 0;
failed:
    if (!sip_proxy_req_is_done(req)) answer(req, 500);
    return rc;
}
