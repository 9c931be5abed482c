/* SPDX-License-Identifier: MIT */
/* Client transactions (RFC 3261 §17.1, RFC 6026 §8.4): INVITE and non-INVITE state machines,
 * the ACK of a non-2xx final response, CANCEL (§9.1), and moving on to the next RFC 3263 target
 * when one fails (RFC 3263 §4.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/addr.h"
#include "txn/txn_int.h"

static int is_invite(const sip_txn_t *t)
{
    return (t->flags & SIP__TXN_INVITE) != 0;
}

/* Calls the TU; the caller holds a reference to t. */
static void deliver(sip_txn_t *t, int status, const sip_msg_t *rsp)
{
    if (!t->layer || !t->cb.rsp || (t->flags & SIP__TXN_INTERNAL)) return;
    t->cb.rsp(t, status, rsp, t->user);
}

/* RFC 3261 §17.1.4, §8.1.3.1: a transport error reaches the TU as a 503. */
static void tell_503(sip_txn_t *t)
{
    deliver(t, 503, NULL);
}

static void unref_cb(void *user)
{
    sip_txn_unref(user);
}

/* ---- RFC 3263 §4.3: the targets of a located request ----------------------------------------
 *
 * A request sent without a destination is located here with the transport's resolver, and the
 * transaction keeps the list. When a target fails (a transport error, no response at all until
 * Timer B/F, or a 503), the request goes to the next one as a new transaction: a new branch, fresh
 * timers and state (RFC 3263 §4.3, RFC 3261 §8.1.3.1). The application keeps one handle and
 * hears only the last failure, once every target has failed. The list lives in a wrapper of the
 * TU's callback registration, so the transaction's own layout stays as it is. */
typedef struct route {
    int refs;           /* the transaction's registration, and the resolver's while it runs */
    sip_txn_t *t;       /* NULL once the registration ended */
    sip_response_cb cb; /* the TU's */
    void *user;
    sip_free_fn user_free;
    sip_netinfo_t *targets;
    size_t count, next;  /* next: the first target not tried yet */
    sip_resolver_t *res; /* a reference: told which targets fail and which answer */
} route_t;

/* One send to one target: a completion from a target already left behind (a connection that
 * fails after Timer F moved on) must not count against the current one. */
typedef struct attempt {
    sip_txn_t *t;  /* a reference */
    size_t target; /* route_t.next when it was sent */
} attempt_t;

static void route_unref(void *user)
{
    route_t *r = user;
    if (--r->refs > 0) return;
    sip_resolver_unref(r->res);
    free(r->targets);
    free(r);
}

static void route_on_response(sip_txn_t *t, int status, const sip_msg_t *rsp, void *user)
{
    route_t *r = user;
    if (r->cb) r->cb(t, status, rsp, r->user);
}

static void route_end(void *user)
{
    route_t *r = user;
    r->t = NULL;
    if (r->user_free) r->user_free(r->user);
    route_unref(r);
}

static route_t *route_of(const sip_txn_t *t)
{
    return t->cb.rsp == route_on_response && t->user_free == route_end ? t->user : NULL;
}

static void on_sent(sip_transport_t *tp, int status, void *user);

static void on_target_sent(sip_transport_t *tp, int status, void *user)
{
    attempt_t *a = user;
    route_t *r = route_of(a->t);
    if (!r || r->next == a->target) on_sent(tp, status, a->t);
}

static void attempt_free(void *user)
{
    attempt_t *a = user;
    sip_txn_unref(a->t);
    free(a);
}

/* Sends the request to the next target that takes it; 0, or the last immediate error when none
 * is left. */
static int send_next_target(sip_txn_t *t, route_t *r)
{
    int rc = SIP_ENOENT;
    while (t->layer && r->next < r->count) {
        const sip_netinfo_t *dst = &r->targets[r->next++];
        if (sip_transport_is_reliable(dst->transport))
            t->flags |= SIP__TXN_RELIABLE;
        else
            t->flags &= (uint16_t)~SIP__TXN_RELIABLE;
        attempt_t *a = malloc(sizeof(*a));
        if (!a) return SIP_ENOMEM;
        a->t = sip_txn_ref(t);
        a->target = r->next;
        rc = sip__txn_send(t->layer, t->req, dst, on_target_sent, a, attempt_free);
        if (rc == 0) return 0;
    }
    return rc;
}

/* A failure the TU hears when no target is left: the transaction ends with it. */
static void end_with(sip_txn_t *t, int status)
{
    t->refs++;
    if (t->layer && t->cb.rsp && !(t->flags & SIP__TXN_INTERNAL))
        t->cb.rsp(t, status, NULL, t->user);
    sip__txn_terminate(t);
    sip_txn_unref(t);
}

static void on_located(sip_resolver_t *res, int status, const sip_netinfo_t *targets, size_t count,
                       void *user)
{
    (void)res;
    route_t *r = user;
    sip_txn_t *t = r->t;
    if (!t || !t->layer) return;
    if (status == 0 && count > 0) {
        r->targets = malloc(count * sizeof(*targets));
        if (r->targets) {
            memcpy(r->targets, targets, count * sizeof(*targets));
            r->count = count;
            if (send_next_target(t, r) == 0) return;
        }
    }
    /* RFC 3261 §8.1.3.1: nowhere to send it is a transport failure, a 503 for the TU. */
    end_with(t, 503);
}

/* Gives the request a branch it never had, as long as the one it has (the key keeps its length
 * in place): "z9hG4bK" and random hex. 0, or -1 when the branch is too short to vary. */
static int new_branch(sip_txn_t *t)
{
    size_t len = t->key.branch.len;
    if (len < 7 + 16 || !sip__txn_has_cookie(t->key.branch)) return -1;
    char br[256], piece[40];
    if (len >= sizeof(br)) return -1;
    memcpy(br, "z9hG4bK", 7);
    for (size_t n = 7; n < len;) {
        sip__txn_make_branch(t->layer, piece, sizeof(piece));
        size_t k = strlen(piece) - 7;
        if (k > len - n) k = len - n;
        memcpy(br + n, piece + 7, k);
        n += k;
    }
    br[len] = '\0';
    /* The top Via with the new branch value spliced in, the rest as it is. */
    const sip_header_t *h = sip_msg_header_at(t->req, SIP_HDR_VIA, 0);
    const sip_via_t *v = sip_header_via(h);
    if (!v) return -1;
    sip_str_t val = sip_header_get_value(h);
    if (v->branch.len != len || v->branch.ptr < val.ptr || v->branch.ptr + len > val.ptr + val.len)
        return -1;
    size_t pre = (size_t)(v->branch.ptr - val.ptr);
    char buf[1024];
    if (val.len >= sizeof(buf)) return -1;
    memcpy(buf, val.ptr, pre);
    memcpy(buf + pre, br, len);
    memcpy(buf + pre + len, val.ptr + pre + len, val.len - pre - len);
    buf[val.len] = '\0';
    if (sip_msg_update_header(t->req, h, buf)) return -1;
    memcpy((char *)t->key.branch.ptr, br, len);
    return 0;
}

/* RFC 3263 §4.3: the target the request goes to failed (no response, a transport error, a 503):
 * the resolver lists it last for a while, so that later requests try the others first. A 503's
 * Retry-After (RFC 3261 §21.5.4) says for how long, an hour at most. */
static void mark_failed(sip_txn_t *t, const sip_msg_t *rsp)
{
    route_t *r = route_of(t);
    if (!r || !r->res || r->next == 0 || r->next > r->count) return;
    uint32_t ms = 0;
    const sip_header_t *ra = rsp ? sip_msg_header_at(rsp, SIP_HDR_RETRY_AFTER, 0) : NULL;
    const sip_num_t *n = ra ? sip_header_num(ra) : NULL;
    if (n && n->value) ms = n->value > 3600 ? 3600000u : n->value * 1000u;
    sip_resolver_mark_failed(r->res, &r->targets[r->next - 1], ms);
}

/* A target that answers works again, whatever was remembered of it. */
static void mark_ok(sip_txn_t *t)
{
    route_t *r = route_of(t);
    if (r && r->res && r->next > 0 && r->next <= r->count)
        sip_resolver_mark_ok(r->res, &r->targets[r->next - 1]);
}

/* RFC 3263 §4.3: when this target failed and another is left, the request goes there as a new
 * transaction; 1 when it did (the TU hears nothing of this target), 0 when the failure is the
 * TU's. Not after a CANCEL was asked for: the TU wants the request over, not elsewhere. */
static int try_next_target(sip_txn_t *t)
{
    route_t *r = route_of(t);
    if (!r || !t->layer || !t->req || r->next >= r->count) return 0;
    if (t->flags & (SIP__TXN_CANCEL_WANT | SIP__TXN_IDLE)) return 0;
    if (new_branch(t)) return 0;
    const sip_netinfo_t *was = &r->targets[r->next - 1];
    char a[SIP__ADDR_STRLEN];
    sip_log(t->layer->loop, SIP_LOG_INFO, "txn", "target %s failed; trying the next",
            sip__addr_str(a, was->transport, was->remote_ip, was->remote_port));
    /* A new transaction in all but the handle: its state, flags and timers start over. */
    sip_msg_unref(t->rsp);
    t->rsp = NULL;
    sip__txn_restart_state(t); /* from Calling, Trying or Proceeding: every caller checks */
    t->flags &= (uint16_t) ~(SIP__TXN_SENT | SIP__TXN_PROVISIONAL | SIP__TXN_RELIABLE);
    t->t_retx = SIP__TXN_NEVER; /* retransmissions start once the send completes */
    t->t_end = sip__txn_now(t->layer) + 64 * (uint64_t)t->t1;
    sip__txn_timers_changed(t);
    if (send_next_target(t, r) == 0) return 1;
    /* Every target left refused at once: this is the last failure, the TU's. */
    end_with(t, 503);
    return 1;
}

/* Starts the retransmission timer (A or E) unless the transport is reliable (§17.1.1.2). */
static void start_retransmit(sip_txn_t *t, uint64_t now)
{
    if (t->flags & SIP__TXN_RELIABLE) return;
    t->interval = t->t1;
    t->t_retx = now + t->t1;
}

static void on_sent(sip_transport_t *tp, int status, void *user)
{
    (void)tp;
    sip_txn_t *t = user;
    if (!t->layer) return;
    if (status < 0) {
        if (t->state != SIP_TXN_CALLING && t->state != SIP_TXN_TRYING &&
            t->state != SIP_TXN_PROCEEDING)
            return;
        /* RFC 3263 §4.3: another target, if there is one. */
        if (!(t->flags & SIP__TXN_PROVISIONAL)) {
            mark_failed(t, NULL);
            if (try_next_target(t)) return;
        }
        /* RFC 3261 §17.1.4, §8.1.3.1: a transport error ends the transaction as a 503. */
        sip__txn_end(t, tell_503);
        return;
    }
    t->flags |= SIP__TXN_SENT;
    /* Idle already (a final response beat the completion): nothing is retransmitted any more. */
    if (!t->req) return;
    const sip_netinfo_t *ni = sip_msg_get_netinfo(t->req);
    int reliable = ni && sip_transport_is_reliable(ni->transport);
    if (reliable) {
        /* The transport may have moved a large request to TCP (§18.1.1). */
        t->flags |= SIP__TXN_RELIABLE;
        t->t_retx = SIP__TXN_NEVER;
        sip__txn_timers_changed(t);
    } else if (t->t_retx == SIP__TXN_NEVER &&
               (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_TRYING)) {
        start_retransmit(t, sip__txn_now(t->layer));
        sip__txn_timers_changed(t);
    }
}

static int method_matches(const sip_msg_t *req, const sip_cseq_t *cs)
{
    sip_method_t m = sip_msg_get_method(req);
    if (m != cs->method) return 0;
    return m != SIP_METHOD_UNKNOWN || sip_str_eq(sip_msg_get_method_str(req), cs->method_str);
}

/* RFC 3263: finds the targets of a request sent without a destination (its top Route when that
 * is a loose router, else its Request-URI: RFC 3261 §8.1.2), keeping them for failover. The TU's
 * registration moves into the route. */
static int locate(sip_txn_t *t, sip_resolver_t *res, sip_response_cb cb, void *user,
                  sip_free_fn user_free)
{
    route_t *r = calloc(1, sizeof(*r));
    if (!r) return SIP_ENOMEM;
    r->refs = 2;
    r->t = t;
    r->cb = cb;
    r->user = user;
    r->user_free = user_free;
    t->cb.rsp = route_on_response;
    t->user = r;
    t->user_free = route_end;
    r->res = sip_resolver_ref(res);
    const sip_uri_t *uri = sip_msg_get_uri(t->req);
    const sip_addr_t *route = sip_header_addr(sip_msg_header_at(t->req, SIP_HDR_ROUTE, 0));
    if (route && route->uri.lr) uri = &route->uri;
    /* On failure route_unref has run once already; terminate drops the other reference. */
    return uri ? sip_resolve(res, uri, on_located, r, route_unref) : (route_unref(r), SIP_EINVAL);
}

/* Starts a client transaction on a request that already carries its branch. */
static int client_start(sip_txn_t **out, sip_txn_layer_t *l, sip_msg_t *req,
                        const sip_netinfo_t *dst, const sip_txn_opts_t *opts, uint16_t extra,
                        sip_response_cb cb, void *user, sip_free_fn user_free)
{
    *out = NULL;
    sip_txn_t *t = sip__txn_new(l, req, opts);
    if (!t) {
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    t->flags |= SIP__TXN_CLIENT | extra;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) t->flags |= SIP__TXN_INVITE;
    sip__txn_set_state(t, is_invite(t) ? SIP_TXN_CALLING : SIP_TXN_TRYING);
    t->cb.rsp = cb;
    t->user = user;
    t->user_free = user_free;
    if (dst && sip_transport_is_reliable(dst->transport)) t->flags |= SIP__TXN_RELIABLE;
    int rc;
    sip_resolver_t *res = !dst && l->tp ? sip_transport_get_resolver(l->tp) : NULL;
    if (res && !(extra & SIP__TXN_INTERNAL)) {
        rc = locate(t, res, cb, user, user_free);
    } else {
        t->refs++; /* for the send completion */
        rc = sip__txn_send(l, req, dst, on_sent, t, unref_cb);
    }
    if (rc) {
        /* A call that fails never fires its callback; user_free runs in terminate. */
        t->cb.rsp = NULL;
        sip__txn_terminate(t);
        return rc;
    }
    uint64_t now = sip__txn_now(l);
    /* With the target known, retransmissions start now; else once it is located. */
    if (dst) start_retransmit(t, now);
    /* RFC 3261 §17.1.1.2 Timer B, §17.1.2.2 Timer F: 64*T1. */
    t->t_end = now + 64 * (uint64_t)t->t1;
    sip__txn_timers_changed(t);
    *out = t;
    return 0;
}

int sip_txn_client_create(sip_txn_t **out, sip_txn_layer_t *l, sip_msg_t *req,
                          const sip_netinfo_t *dst, const sip_txn_opts_t *opts, sip_response_cb cb,
                          void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !l || !req || !sip_msg_is_request(req)) goto fail;
    /* RFC 3261 §17.1: ACK is not a transaction; the ACK of a 2xx is the TU's (§13.2.2.4). */
    if (sip_msg_get_method(req) == SIP_METHOD_ACK) goto fail;
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    if (!cs || !method_matches(req, cs) || !sip_msg_get_call_id(req).len ||
        !sip_msg_get_from(req) || !sip_msg_get_to(req))
        goto fail;
    rc = SIP_ECLOSED;
    if (l->closed) goto fail;
    if ((rc = sip__txn_ensure_branch(l, req))) goto fail;
    sip_txn_t *t;
    rc = client_start(&t, l, req, dst, opts, 0, cb, user, user_free);
    if (rc) return rc;
    *out = sip_txn_ref(t);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

sip_txn_t *sip__txn_client_match(sip_txn_layer_t *l, const sip_msg_t *rsp)
{
    /* RFC 3261 §17.1.3: the top Via branch and the CSeq method. */
    const sip_via_t *v = sip_msg_get_via(rsp);
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    if (!v || !cs || !v->branch.len) return NULL;
    uint32_t h = sip__txn_hash(sip_msg_get_call_id(rsp));
    for (sip_txn_t *t = sip__txn_bucket(l, h); t; t = t->hnext) {
        if (t->hash != h || !(t->flags & SIP__TXN_CLIENT)) continue;
        if (sip_str_eq(t->key.branch, v->branch) &&
            sip__txn_key_method_is(&t->key, cs->method, cs->method_str))
            return t;
    }
    return NULL;
}

/* Copies a header value (a view, not NUL-terminated) into a new message. */
static int copy_value(sip_msg_t *dst, const char *name, sip_str_t v)
{
    char stack[512];
    char *buf = v.len < sizeof(stack) ? stack : malloc(v.len + 1);
    if (!buf) return SIP_ENOMEM;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    int rc = sip_msg_add_header(dst, name, buf);
    if (buf != stack) free(buf);
    return rc;
}

static int copy_header(sip_msg_t *dst, const sip_msg_t *src, sip_hdr_id_t id)
{
    const sip_header_t *h = sip_msg_header_at(src, id, 0);
    if (!h) return SIP_EINVAL;
    return copy_value(dst, sip_hdr_name(id), sip_header_get_value(h));
}

/* The ACK of a non-2xx (§17.1.1.3) and the CANCEL (§9.1) share their form: the INVITE's
 * Request-URI, top Via only, Route, From, Call-ID and CSeq number; To from to_src. */
static int build_from_invite(sip_msg_t **out, const sip_msg_t *inv, const char *method,
                             const sip_msg_t *to_src)
{
    *out = NULL;
    const sip_uri_t *u = sip_msg_get_uri(inv);
    const sip_cseq_t *cs = sip_msg_get_cseq(inv);
    if (!u || !cs) return SIP_EINVAL;
    char stack[512];
    char *uri = u->raw.len < sizeof(stack) ? stack : malloc(u->raw.len + 1);
    if (!uri) return SIP_ENOMEM;
    memcpy(uri, u->raw.ptr, u->raw.len);
    uri[u->raw.len] = '\0';
    sip_msg_t *m;
    int rc = sip_msg_create_request(&m, method, uri);
    if (uri != stack) free(uri);
    if (rc) return rc;
    char cseq[40];
    snprintf(cseq, sizeof(cseq), "%lu %s", (unsigned long)cs->seq, method);
    if ((rc = copy_header(m, inv, SIP_HDR_VIA))) goto fail;
    size_t nroute = sip_msg_header_count(inv, SIP_HDR_ROUTE);
    for (size_t i = 0; i < nroute; i++) {
        rc = copy_value(m, "Route", sip_header_get_value(sip_msg_header_at(inv, SIP_HDR_ROUTE, i)));
        if (rc) goto fail;
    }
    if ((rc = copy_header(m, inv, SIP_HDR_FROM))) goto fail;
    if ((rc = copy_header(m, to_src, SIP_HDR_TO))) goto fail;
    if ((rc = copy_header(m, inv, SIP_HDR_CALL_ID))) goto fail;
    if ((rc = sip_msg_add_header(m, "CSeq", cseq))) goto fail;
    if ((rc = sip_msg_add_header(m, "Max-Forwards", "70"))) goto fail;
    *out = m;
    return 0;
fail:
    sip_msg_unref(m);
    return rc;
}

/* Where the INVITE went: the ACK and the CANCEL go to the same place (§17.1.1.3, §9.1). */
static const sip_netinfo_t *invite_dst(const sip_txn_t *t)
{
    const sip_netinfo_t *ni = t->req ? sip_msg_get_netinfo(t->req) : NULL;
    return ni && ni->remote_port ? ni : NULL;
}

static void send_ack(sip_txn_t *t, const sip_msg_t *rsp)
{
    sip_msg_t *ack;
    if (build_from_invite(&ack, t->req, "ACK", rsp)) return; /* the retransmission will retry */
    sip_msg_unref(t->rsp);
    t->rsp = ack;
    sip__txn_send(t->layer, ack, invite_dst(t), NULL, NULL, NULL);
}

sip__txn_reason_t *sip__txn_take_reason(sip_txn_layer_t *l, const sip_txn_t *t)
{
    for (sip__txn_reason_t **pp = &l->reasons; *pp; pp = &(*pp)->next) {
        if ((*pp)->t != t) continue;
        sip__txn_reason_t *r = *pp;
        *pp = r->next;
        return r;
    }
    return NULL;
}

static int send_cancel(sip_txn_t *t)
{
    sip_msg_t *c;
    int rc = build_from_invite(&c, t->req, "CANCEL", t->req);
    if (rc) return rc;
    sip__txn_reason_t *reason = t->layer->reasons ? sip__txn_take_reason(t->layer, t) : NULL;
    /* RFC 3326: why the INVITE is cancelled ("SIP;cause=200;text=\"Call completed
     * elsewhere\"" from a forking proxy or B2BUA). */
    if (reason) rc = sip_msg_add_header(c, "Reason", reason->text);
    free(reason);
    if (rc) {
        sip_msg_unref(c);
        return rc;
    }
    sip_txn_opts_t o = {.t1_ms = t->t1, .t2_ms = t->t2, .t4_ms = t->t4};
    sip_txn_t *ct;
    rc = client_start(&ct, t->layer, c, invite_dst(t), &o, SIP__TXN_INTERNAL, NULL, NULL, NULL);
    sip_msg_unref(c);
    if (rc) return rc;
    t->flags |= SIP__TXN_CANCEL_SENT;
    /* RFC 3261 §9.1: without a final response 64*T1 after the CANCEL, the INVITE is over. */
    t->t_end = sip__txn_now(t->layer) + 64 * (uint64_t)t->t1;
    sip__txn_timers_changed(t);
    return 0;
}

int sip_txn_cancel(sip_txn_t *t)
{
    if (!t || !(t->flags & SIP__TXN_CLIENT) || !is_invite(t) || (t->flags & SIP__TXN_INTERNAL))
        return SIP_EINVAL;
    if (!t->layer || (t->state != SIP_TXN_CALLING && t->state != SIP_TXN_PROCEEDING))
        return SIP_ECLOSED;
    if (t->flags & SIP__TXN_CANCEL_WANT) return 0;
    t->flags |= SIP__TXN_CANCEL_WANT;
    /* RFC 3261 §9.1: no CANCEL before a provisional response; it is sent when one arrives. */
    if (!(t->flags & SIP__TXN_PROVISIONAL)) return 0;
    int rc = send_cancel(t);
    if (rc) t->flags &= (uint16_t)~SIP__TXN_CANCEL_WANT;
    return rc;
}

int sip_txn_cancel_with_reason(sip_txn_t *t, const char *reason)
{
    if (!reason) return sip_txn_cancel(t);
    if (!t || !(t->flags & SIP__TXN_CLIENT) || !is_invite(t) || (t->flags & SIP__TXN_INTERNAL))
        return SIP_EINVAL;
    if (!t->layer || (t->state != SIP_TXN_CALLING && t->state != SIP_TXN_PROCEEDING))
        return SIP_ECLOSED;
    if (t->flags & SIP__TXN_CANCEL_WANT) return 0;
    /* Checked now, so that the CANCEL cannot fail on it later. */
    sip_msg_t *probe = NULL;
    int rc = sip_msg_create_request(&probe, "CANCEL", "sip:x");
    if (!rc) rc = sip_msg_add_header(probe, "Reason", reason);
    sip_msg_unref(probe);
    if (rc) return rc == SIP_EPARSE ? SIP_EINVAL : rc;
    size_t n = strlen(reason);
    sip__txn_reason_t *r = malloc(sizeof(*r) + n + 1);
    if (!r) return SIP_ENOMEM;
    r->t = t;
    memcpy(r->text, reason, n + 1);
    r->next = t->layer->reasons;
    t->layer->reasons = r;
    rc = sip_txn_cancel(t);
    if (rc) free(sip__txn_take_reason(t->layer, t));
    return rc;
}

/* Ends at once over reliable transports (Timer D and K are zero), else after wait_ms. */
static void complete(sip_txn_t *t, uint64_t wait_ms)
{
    sip__txn_set_state(t, SIP_TXN_COMPLETED);
    t->t_retx = SIP__TXN_NEVER;
    t->t_end = (t->flags & SIP__TXN_RELIABLE) ? 0 : sip__txn_now(t->layer) + wait_ms;
    sip__txn_timers_changed(t);
}

static void invite_response(sip_txn_t *t, int st, sip_msg_t *rsp)
{
    switch (t->state) {
    case SIP_TXN_CALLING:
    case SIP_TXN_PROCEEDING:
        if (st < 200) {
            /* §17.1.1.2: a provisional stops retransmissions and Timer B. */
            sip__txn_set_state(t, SIP_TXN_PROCEEDING);
            t->flags |= SIP__TXN_PROVISIONAL;
            t->t_retx = SIP__TXN_NEVER;
            if (!(t->flags & SIP__TXN_CANCEL_SENT)) t->t_end = SIP__TXN_NEVER;
            sip__txn_timers_changed(t);
            deliver(t, st, rsp);
            if (t->layer && (t->flags & SIP__TXN_CANCEL_WANT) && !(t->flags & SIP__TXN_CANCEL_SENT))
                send_cancel(t);
        } else if (st < 300) {
            /* RFC 6026 §8.4: Accepted; Timer M lets 2xx retransmissions reach the TU. */
            sip__txn_set_state(t, SIP_TXN_ACCEPTED);
            t->t_retx = SIP__TXN_NEVER;
            t->t_end = sip__txn_now(t->layer) + 64 * (uint64_t)t->t1;
            sip__txn_timers_changed(t);
            deliver(t, st, rsp);
        } else {
            /* §17.1.1.2: ACK the non-2xx, then Completed with Timer D. */
            send_ack(t, rsp);
            /* RFC 3263 §4.3: a 503 sends the request to the next target, if any. */
            if (st == 503) mark_failed(t, rsp);
            if (st == 503 && try_next_target(t)) break;
            complete(t, SIP__TXN_TIMER_D);
            deliver(t, st, rsp);
        }
        break;
    case SIP_TXN_ACCEPTED:
        if (st >= 200 && st < 300) deliver(t, st, rsp);
        break;
    case SIP_TXN_COMPLETED:
        /* §17.1.1.2: a retransmitted final response gets the ACK again, not the TU; as the
         * bytes sent the first time once the transaction idles. */
        if (st < 300) break;
        if (t->wire && t->wire->len && t->wire->has_ni)
            sip__txn_send_wire(t->layer, t->wire);
        else if (t->rsp)
            sip__txn_send(t->layer, t->rsp, invite_dst(t), NULL, NULL, NULL);
        break;
    default: break;
    }
}

static void non_invite_response(sip_txn_t *t, int st, sip_msg_t *rsp)
{
    if (t->state != SIP_TXN_TRYING && t->state != SIP_TXN_PROCEEDING) return;
    if (st < 200) {
        sip__txn_set_state(t, SIP_TXN_PROCEEDING);
        t->flags |= SIP__TXN_PROVISIONAL;
        deliver(t, st, rsp);
        return;
    }
    /* RFC 3263 §4.3: a 503 sends the request to the next target, if any. */
    if (st == 503) mark_failed(t, rsp);
    if (st == 503 && try_next_target(t)) return;
    /* §17.1.2.2: Completed; Timer K (T4) absorbs retransmitted finals. */
    complete(t, t->t4);
    deliver(t, st, rsp);
}

void sip__txn_client_response(sip_txn_t *t, sip_msg_t *rsp)
{
    int st = sip_msg_get_status(rsp);
    if (st < 100 || st > 699) return;
    t->refs++;
    if (st != 503 && (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_TRYING)) mark_ok(t);
    if (is_invite(t))
        invite_response(t, st, rsp);
    else
        non_invite_response(t, st, rsp);
    /* Reliable transports end Completed at once, after the TU has seen the response. */
    if (t->layer && t->t_end == 0) {
        sip__txn_terminate(t);
    } else if (t->layer && st >= 200 && !(t->flags & SIP__TXN_IDLE) &&
               (t->state == SIP_TXN_COMPLETED || t->state == SIP_TXN_ACCEPTED)) {
        /* The final response arrived and the TU has seen it: what is left is absorbing
         * retransmissions, answering those of a non-2xx with the same ACK (§17.1.1.2) and passing
         * 2xx on (RFC 6026 §8.4). An INVITE whose ACK could not be built keeps everything. */
        int ack = is_invite(t) && t->state == SIP_TXN_COMPLETED;
        if (!ack || t->rsp)
            sip__txn_compact(t, ack ? t->rsp : NULL, ack ? sip_msg_get_netinfo(t->rsp) : NULL,
                             SIP_STR_NULL);
    }
    sip_txn_unref(t);
}

void sip__txn_client_timer(sip_txn_t *t, uint64_t now)
{
    if (t->t_retx <= now) {
        t->t_retx = SIP__TXN_NEVER;
        if (t->state == SIP_TXN_CALLING) {
            /* §17.1.1.2 Timer A: resend, doubling each time. */
            sip__txn_send(t->layer, t->req, invite_dst(t), NULL, NULL, NULL);
            t->interval *= 2;
            t->t_retx = now + t->interval;
        } else if (t->state == SIP_TXN_TRYING || t->state == SIP_TXN_PROCEEDING) {
            /* §17.1.2.2 Timer E: doubles up to T2 while Trying, T2 once Proceeding. */
            sip__txn_send(t->layer, t->req, invite_dst(t), NULL, NULL, NULL);
            if (t->state == SIP_TXN_PROCEEDING)
                t->interval = t->t2;
            else
                t->interval = t->interval * 2 < t->t2 ? t->interval * 2 : t->t2;
            t->t_retx = now + t->interval;
        }
    }
    if (t->layer && t->t_end <= now) {
        t->t_end = SIP__TXN_NEVER;
        if (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_TRYING ||
            t->state == SIP_TXN_PROCEEDING) {
            /* RFC 3263 §4.3: no response at all from this target: the next one, if any. */
            if (!(t->flags & SIP__TXN_PROVISIONAL)) {
                mark_failed(t, NULL);
                if (try_next_target(t)) return;
            }
            /* Timer B or F, or no final response after a CANCEL: a timeout for the TU. */
            deliver(t, 408, NULL);
        }
        /* Timer D, K or M ends the transaction quietly. */
        sip__txn_terminate(t);
        return;
    }
    sip__txn_timers_changed(t);
}
