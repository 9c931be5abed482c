/* SPDX-License-Identifier: MIT */
/* Server transactions (RFC 3261 §17.2, RFC 6026 §8.5-8.7): matching, INVITE and non-INVITE
 * state machines, 100 Trying, merged requests (§8.2.2.2) and CANCEL (§9.2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/txn_int.h"

static int is_invite(const sip_txn_t *t)
{
    return (t->flags & SIP__TXN_INVITE) != 0;
}

static sip_str_t to_tag(const sip_msg_t *m)
{
    const sip_addr_t *a = m ? sip_msg_get_to(m) : NULL;
    return a ? a->tag : SIP_STR_NULL;
}

static sip_str_t from_tag(const sip_msg_t *m)
{
    const sip_addr_t *a = sip_msg_get_from(m);
    return a ? a->tag : SIP_STR_NULL;
}

/* The To tag of the responses sent so far (the same on all of them, see respond()). */
static sip_str_t rsp_to_tag(const sip_txn_t *t)
{
    return t->wire ? t->wire->to_tag : to_tag(t->rsp);
}

/* RFC 3261 §17.2.3 for an RFC 2543 peer: the Request-URIs are equal as URIs (§19.1.4). Rare, so
 * the kept text is parsed only here. */
static int ruri_eq(const sip_txn_t *t, const sip_msg_t *m)
{
    const sip_uri_t *ua = sip_msg_get_uri(m);
    sip_uri_t ub;
    if (!ua || !t->key.ruri.len || sip_uri_parse(&ub, t->key.ruri.ptr, t->key.ruri.len)) return 0;
    return sip_uri_equal(ua, &ub) == 1;
}

/* RFC 3261 §17.2.3: does request m belong to server transaction t, whose method must be
 * want (INVITE for an ACK, and for the INVITE a CANCEL targets)? Only the key is used: the
 * request itself is gone once the transaction idles. */
static int server_matches(const sip_txn_t *t, const sip_msg_t *m, const sip_via_t *v,
                          sip_method_t want, sip_str_t want_name, int ack)
{
    const sip__txn_key_t *k = &t->key;
    if ((t->flags & SIP__TXN_CLIENT) || !sip__txn_key_method_is(k, want, want_name)) return 0;
    if (sip__txn_has_cookie(v->branch))
        return sip_str_eq(v->branch, k->branch) && v->port == k->port &&
               sip_str_caseeq(v->host, k->host);
    if (sip__txn_has_cookie(k->branch)) return 0;
    /* RFC 2543 peers: Request-URI, To tag, From tag, Call-ID, CSeq and top Via. The ACK's To tag
     * is the one of the response it acknowledges. */
    const sip_cseq_t *a = sip_msg_get_cseq(m);
    if (!a || a->seq != k->seq) return 0;
    if (!sip_str_eq(sip_msg_get_call_id(m), k->call_id)) return 0;
    if (!sip_str_eq(from_tag(m), k->from_tag)) return 0;
    sip_str_t tt = ack && (t->wire || t->rsp) ? rsp_to_tag(t) : k->to_tag;
    if (!sip_str_eq(to_tag(m), tt)) return 0;
    const sip_header_t *hv = sip_msg_header_at(m, SIP_HDR_VIA, 0);
    if (!hv || !k->via.len || !sip_str_eq(sip_header_get_value(hv), k->via)) return 0;
    return ruri_eq(t, m);
}

static sip_txn_t *find_server(sip_txn_layer_t *l, const sip_msg_t *m, uint32_t h,
                              const sip_via_t *v, sip_method_t want, sip_str_t want_name, int ack)
{
    for (sip_txn_t *t = sip__txn_bucket(l, h); t; t = t->hnext)
        if (t->hash == h && server_matches(t, m, v, want, want_name, ack)) return t;
    return NULL;
}

/* RFC 3261 §8.2.2.2: same From tag, Call-ID and CSeq as a transaction in progress that the
 * request does not match: it reached us twice through a fork. The transaction's CSeq method is
 * its request's (§8.1.1.5: they are the same). */
static int is_merged(sip_txn_layer_t *l, const sip_msg_t *m, uint32_t h)
{
    if (to_tag(m).len) return 0;
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    sip_str_t cid = sip_msg_get_call_id(m), ft = from_tag(m);
    for (sip_txn_t *t = sip__txn_bucket(l, h); t; t = t->hnext) {
        if (t->hash != h || (t->flags & SIP__TXN_CLIENT)) continue;
        const sip__txn_key_t *k = &t->key;
        if (k->seq == cs->seq && sip__txn_key_method_is(k, cs->method, cs->method_str) &&
            sip_str_eq(k->call_id, cid) && sip_str_eq(k->from_tag, ft))
            return 1;
    }
    return 0;
}

/* Tells the TU; the caller holds a reference to t. */
static void server_event(sip_txn_t *t, sip_txn_event_t ev, const sip_msg_t *msg)
{
    if (t->layer && t->cb.ev) t->cb.ev(t, ev, msg, t->user);
}

/* §17.2.4: the TU hears that the transport failed to send what the layer sent on its own. */
static void tell_error(sip_txn_t *t)
{
    server_event(t, SIP_TXN_EVENT_ERROR, NULL);
}

static void resend_last(sip_txn_t *t)
{
    int rc;
    if (t->wire && t->wire->len && t->wire->has_ni)
        rc = sip__txn_send_wire(t->layer, t->wire);
    else if (t->rsp)
        rc = sip__txn_send_response(t->layer, t->rsp);
    else
        return;
    if (!rc) return;
    /* §17.2.4: a transport failure ends the transaction and the TU hears of it. */
    sip__txn_end(t, tell_error);
}

static int reply(sip_txn_t *t, sip_msg_t *rsp, int tell);

int sip_txn_reply(sip_txn_t *t, sip_msg_t *rsp)
{
    return reply(t, rsp, 0);
}

/* tell: the layer sent this on its own, so a transport failure reaches the TU as an event. */
static int reply(sip_txn_t *t, sip_msg_t *rsp, int tell)
{
    if (!t || !rsp || sip_msg_is_request(rsp) || (t->flags & SIP__TXN_CLIENT)) return SIP_EINVAL;
    if (!t->layer) return SIP_ECLOSED;
    int st = sip_msg_get_status(rsp);
    if (st < 100 || st > 699) return SIP_EINVAL;
    sip_txn_layer_t *l = t->layer;
    int accepted_2xx = is_invite(t) && t->state == SIP_TXN_ACCEPTED && st >= 200 && st < 300;
    if (!accepted_2xx && t->state != SIP_TXN_TRYING && t->state != SIP_TXN_PROCEEDING)
        return SIP_EINVAL;
    /* A response the TU built elsewhere still goes back the way the request came (§18.2.2); once
     * idle, the way the last response went (the same listening point or connection). */
    sip_netinfo_t kept;
    const sip_netinfo_t *back =
        t->req ? sip_msg_get_netinfo(t->req) : sip__txn_wire_ni(t->wire, &kept);
    if (!sip_msg_get_netinfo(rsp) && back) sip_msg_set_netinfo(rsp, back);
    int rc = sip__txn_send_response(l, rsp);
    if (rc) {
        /* §17.2.4: the transport failed; the transaction is over (the TU hears rc, or an
         * event for what the layer sent on its own). */
        sip__txn_end(t, tell ? tell_error : NULL);
        return rc;
    }
    /* RFC 6026 §8.7: in Accepted the TU's own 2xx retransmissions just pass through. */
    if (accepted_2xx) return 0;
    sip_msg_ref(rsp);
    sip_msg_unref(t->rsp);
    t->rsp = rsp;
    uint64_t now = sip__txn_now(l);
    t->t_retx = SIP__TXN_NEVER; /* the pending 100 Trying is not needed any more */
    if (st < 200) {
        sip__txn_set_state(t, SIP_TXN_PROCEEDING);
        t->flags |= SIP__TXN_PROVISIONAL;
    } else if (is_invite(t) && st < 300) {
        /* RFC 6026 §8.5: Accepted, Timer L = 64*T1. */
        sip__txn_set_state(t, SIP_TXN_ACCEPTED);
        t->t_end = now + 64 * (uint64_t)t->t1;
    } else if (is_invite(t)) {
        /* §17.2.1: Completed; Timer G retransmits (unreliable only), Timer H waits for ACK. */
        sip__txn_set_state(t, SIP_TXN_COMPLETED);
        if (!(t->flags & SIP__TXN_RELIABLE)) {
            t->interval = t->t1;
            t->t_retx = now + t->t1;
        }
        t->t_end = now + 64 * (uint64_t)t->t1;
    } else {
        /* §17.2.2: Completed; Timer J = 64*T1 unreliable, 0 reliable. */
        sip__txn_set_state(t, SIP_TXN_COMPLETED);
        if (t->flags & SIP__TXN_RELIABLE) {
            sip__txn_end(t, NULL);
            return 0;
        }
        t->t_end = now + 64 * (uint64_t)t->t1;
    }
    sip__txn_timers_changed(t);
    if (st >= 200) {
        /* A final response was sent: from here on only matching retransmissions and resending
         * it are left (§17.2.1, §17.2.2). In Accepted the TU retransmits its own 2xx (RFC 6026
         * §8.7), so nothing needs resending from here: only where it went and its To tag. */
        sip__txn_compact(t, t->state == SIP_TXN_ACCEPTED ? NULL : rsp, sip_msg_get_netinfo(rsp),
                         to_tag(rsp));
    }
    return 0;
}

/* The To tag of this transaction's responses: that of the responses sent, else the one an
 * earlier sip_txn_create_response() made; empty when there is none yet. */
static sip_str_t txn_tag(const sip_txn_t *t)
{
    sip_str_t s = rsp_to_tag(t);
    return s.len ? s : (sip_str_t){t->tag, strnlen(t->tag, sizeof(t->tag))};
}

/* Keeps tag as the one of t's later responses when t has none yet (and its request's To has none:
 * then the request's tag is every response's). */
static void keep_tag(sip_txn_t *t, sip_str_t tag)
{
    if (t->key.to_tag.len || txn_tag(t).len || !tag.len || tag.len > sizeof(t->tag)) return;
    memcpy(t->tag, tag.ptr, tag.len);
}

/* Builds a response to t's request with To tag tt, or (tt empty) a new one that t keeps. */
static int build_response(sip_msg_t **out, sip_txn_t *t, int status, const char *reason,
                          sip_str_t tt)
{
    *out = NULL;
    if (!t || (t->flags & SIP__TXN_CLIENT) || status < 100 || status > 699) return SIP_EINVAL;
    if (!t->layer) return SIP_ECLOSED;
    /* Building a response needs the request, gone once a final response was sent. */
    if (!t->req) return SIP_EINVAL;
    char buf[128], *tag = NULL;
    if (tt.len) {
        tag = tt.len < sizeof(buf) ? buf : malloc(tt.len + 1);
        if (!tag) return SIP_ENOMEM;
        memcpy(tag, tt.ptr, tt.len);
        tag[tt.len] = '\0';
    }
    int rc = sip_msg_create_response(out, t->req, status, reason, tag);
    if (tag != buf) free(tag);
    if (rc == 0 && !tt.len) keep_tag(t, to_tag(*out));
    return rc;
}

int sip_txn_create_response(sip_msg_t **out, sip_txn_t *t, int status, const char *reason)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!t) return SIP_EINVAL;
    /* RFC 3261 §8.2.6.2: one To tag for all the responses of a transaction (a 100 Trying carries
     * none; sip_msg_create_response() leaves it out). */
    return build_response(out, t, status, reason, txn_tag(t));
}

/* Answers with To tag tt (empty: the transaction's). tell: as for reply(). */
static int respond_tagged(sip_txn_t *t, int status, const char *reason, sip_str_t tt, int tell)
{
    sip_msg_t *rsp;
    int rc = build_response(&rsp, t, status, reason, tt.len ? tt : txn_tag(t));
    if (rc) return rc;
    rc = reply(t, rsp, tell);
    sip_msg_unref(rsp);
    return rc;
}

static int respond(sip_txn_t *t, int status, const char *reason, int tell)
{
    return respond_tagged(t, status, reason, SIP_STR_NULL, tell);
}

int sip_txn_respond(sip_txn_t *t, int status, const char *reason)
{
    if (!t) return SIP_EINVAL;
    return respond(t, status, reason, 0);
}

int sip_txn_set_event_handler(sip_txn_t *t, sip_txn_event_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!t || (t->flags & SIP__TXN_CLIENT)) goto fail;
    rc = SIP_ECLOSED;
    if (!t->layer) goto fail;
    sip_free_fn f = t->user_free;
    void *u = t->user;
    t->cb.ev = cb;
    t->user = user;
    t->user_free = user_free;
    if (f) f(u);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_txn_set_cancel_keeps_invite(sip_txn_t *t, int keep)
{
    if (!t || (t->flags & SIP__TXN_CLIENT) || !is_invite(t)) return SIP_EINVAL;
    if (!t->layer) return SIP_ECLOSED;
    if (keep)
        t->flags |= SIP__TXN_CANCEL_KEEP;
    else
        t->flags &= (uint16_t)~SIP__TXN_CANCEL_KEEP;
    return 0;
}

static sip_txn_t *new_server(sip_txn_layer_t *l, sip_msg_t *req)
{
    sip_txn_t *t = sip__txn_new(l, req, NULL);
    if (!t) return NULL;
    sip_method_t m = sip_msg_get_method(req);
    if (m == SIP_METHOD_INVITE) t->flags |= SIP__TXN_INVITE;
    if (m == SIP_METHOD_INVITE && l->opts.cancel_keeps_invite) t->flags |= SIP__TXN_CANCEL_KEEP;
    const sip_netinfo_t *ni = sip_msg_get_netinfo(req);
    if (ni && sip_transport_is_reliable(ni->transport)) t->flags |= SIP__TXN_RELIABLE;
    /* §17.2.1: an INVITE server transaction starts in Proceeding; §17.2.2: others in Trying. */
    sip__txn_set_state(t, m == SIP_METHOD_INVITE ? SIP_TXN_PROCEEDING : SIP_TXN_TRYING);
    return t;
}

/* RFC 3261 §9.2: a CANCEL has its own transaction; it is answered 200 when it matches an INVITE
 * transaction, else 481. An INVITE without a final response yet is answered 487 by the layer, or
 * (§16.10, a stateful proxy) left to the TU, which forwards the CANCEL and relays the final
 * response. */
/* §9.2: the transaction a CANCEL targets is the one it matches (§17.2.3) taking its method for
 * anything but CANCEL and ACK; in practice an INVITE, looked up first. */
static sip_txn_t *find_cancelled(sip_txn_layer_t *l, const sip_msg_t *m, uint32_t h,
                                 const sip_via_t *v)
{
    sip_txn_t *t = find_server(l, m, h, v, SIP_METHOD_INVITE, SIP_STR("INVITE"), 0);
    if (t) return t;
    for (t = sip__txn_bucket(l, h); t; t = t->hnext) {
        const sip__txn_key_t *k = &t->key;
        if (t->hash != h || k->method == SIP_METHOD_CANCEL || k->method == SIP_METHOD_ACK) continue;
        if (server_matches(t, m, v, (sip_method_t)k->method, k->method_str, 0)) return t;
    }
    return NULL;
}

static void handle_cancel(sip_txn_layer_t *l, sip_txn_t *c, sip_msg_t *req, uint32_t h,
                          const sip_via_t *v)
{
    sip_txn_t *inv = find_cancelled(l, req, h, v);
    if (!inv) {
        respond(c, 481, NULL, 1);
        return;
    }
    inv->refs++;
    /* §9.2: the To tag of the CANCEL's 200 SHOULD be that of the INVITE's responses. */
    if (inv->state != SIP_TXN_PROCEEDING || !is_invite(inv)) {
        /* A final response crossed the CANCEL, or the request is not an INVITE: the CANCEL has
         * no effect on it, but it matched, so it is answered 200 (§9.2). */
        respond_tagged(c, 200, NULL, txn_tag(inv), 1);
        sip_txn_unref(inv);
        return;
    }
    inv->flags |= SIP__TXN_CANCELLED;
    /* Nobody hears of the CANCEL without an event handler: then the layer answers regardless. */
    int keep = (inv->flags & SIP__TXN_CANCEL_KEEP) && inv->cb.ev;
    sip_msg_t *r487 = NULL;
    /* Built first so that the CANCEL's 200 carries the 487's To tag, made here when the INVITE
     * has none yet (§9.2). */
    if (!keep) sip_txn_create_response(&r487, inv, 487, NULL);
    sip_msg_t *r200 = NULL;
    if (build_response(&r200, c, 200, NULL, txn_tag(inv)) == 0) {
        /* Left to the TU, the INVITE keeps the tag the 200 got, for its own responses. */
        keep_tag(inv, to_tag(r200));
        reply(c, r200, 1);
        sip_msg_unref(r200);
    }
    if (!keep && inv->layer && inv->state == SIP_TXN_PROCEEDING) {
        if (r487)
            reply(inv, r487, 1);
        else
            respond(inv, 487, NULL, 1);
    }
    sip_msg_unref(r487);
    server_event(inv, SIP_TXN_EVENT_CANCEL, req);
    sip_txn_unref(inv);
}

/* Starts a server transaction for a new request: its first state, and the 100 Trying of an
 * INVITE (§17.2.1) unless the TU answers within timer_100_ms. The caller gets a reference of its
 * own; NULL without memory. */
static sip_txn_t *start_server(sip_txn_layer_t *l, sip_msg_t *req)
{
    sip_txn_t *t = new_server(l, req);
    if (!t) return NULL;
    t->refs++;
    if (t->flags & SIP__TXN_INVITE) {
        if (l->opts.timer_100_ms == 0) {
            respond(t, 100, NULL, 1);
        } else {
            t->t_retx = sip__txn_now(l) + l->opts.timer_100_ms;
            sip__txn_timers_changed(t);
        }
    }
    return t;
}

int sip__txn_server_match(sip_txn_layer_t *l, sip_msg_t *req)
{
    const sip_via_t *v = sip_msg_get_via(req);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    if (!v || !cs || !sip_msg_get_call_id(req).len) return 1; /* the transport drops these */
    sip_method_t m = sip_msg_get_method(req);
    uint32_t h = sip__txn_hash(sip_msg_get_call_id(req));
    if (m == SIP_METHOD_ACK) {
        sip_txn_t *t = find_server(l, req, h, v, SIP_METHOD_INVITE, SIP_STR("INVITE"), 1);
        if (t && t->state == SIP_TXN_COMPLETED) {
            /* §17.2.1: Confirmed; Timer I (T4, zero on reliable) absorbs further ACKs. */
            sip__txn_set_state(t, SIP_TXN_CONFIRMED);
            t->t_retx = SIP__TXN_NEVER;
            if (t->flags & SIP__TXN_RELIABLE) {
                sip__txn_end(t, NULL);
                return 1;
            }
            t->t_end = sip__txn_now(l) + t->t4;
            sip__txn_timers_changed(t);
            return 1;
        }
        /* Absorbed; the ACK of a 2xx is the TU's (§17.2.1, RFC 6026 §8.7), as is one of no
         * transaction. */
        return t && t->state != SIP_TXN_ACCEPTED;
    }
    sip_txn_t *t = find_server(l, req, h, v, m, sip_msg_get_method_str(req), 0);
    if (t) {
        /* §17.2.1, §17.2.2: a retransmission gets the last response again, or nothing. */
        if (t->state == SIP_TXN_PROCEEDING || t->state == SIP_TXN_COMPLETED) resend_last(t);
        return 1;
    }
    /* A CANCEL is judged by the INVITE it targets (§9.2: 200 or 481), never as merged: the
     * second copy of a forked CANCEL finds the second copy of the INVITE. One that targets no
     * transaction here goes on (a stateful proxy forwards it statelessly, §16.10; the layer's
     * request link answers it 481). */
    int merged = 0;
    if (m == SIP_METHOD_CANCEL) {
        if (!find_cancelled(l, req, h, v)) return 0;
    } else {
        /* A proxy's spirals are not merged requests (§16.3 step 4 tells loops apart). */
        merged = !l->proxy && is_merged(l, req, h);
        if (!merged) return 0;
    }
    t = new_server(l, req);
    if (!t) {
        /* No memory for the transaction: answer statelessly so the peer stops retrying. */
        sip_txn_reply_stateless(l, req, 503, NULL);
        return 1;
    }
    t->refs++;
    if (merged)
        respond(t, 482, NULL, 1);
    else
        handle_cancel(l, t, req, h, v);
    sip_txn_unref(t);
    return 1;
}

void sip__txn_server_new(sip_txn_layer_t *l, sip_msg_t *req)
{
    const sip_via_t *v = sip_msg_get_via(req);
    if (!v || !sip_msg_get_cseq(req) || !sip_msg_get_call_id(req).len) return;
    sip_method_t m = sip_msg_get_method(req);
    if (m == SIP_METHOD_ACK) {
        if (l->req_cb) l->req_cb(l, NULL, req, l->req_user);
        return;
    }
    /* A handler before this one may have started the transaction and passed the request on. */
    uint32_t h = sip__txn_hash(sip_msg_get_call_id(req));
    if (find_server(l, req, h, v, m, sip_msg_get_method_str(req), 0)) return;
    sip_txn_t *t = start_server(l, req);
    if (!t) {
        /* No memory for the transaction: answer statelessly so the peer stops retrying. */
        sip_txn_reply_stateless(l, req, 503, NULL);
        return;
    }
    if (m == SIP_METHOD_CANCEL)
        handle_cancel(l, t, req, h, v); /* §9.2: no transaction to cancel: 481 */
    else if (t->layer && l->req_cb)
        l->req_cb(l, t, req, l->req_user);
    /* Without a reference from the TU and a final response, this answers 500. */
    sip_txn_unref(t);
}

int sip_txn_server_create(sip_txn_t **out, sip_txn_layer_t *l, sip_msg_t *req)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!l || !req || !sip_msg_is_request(req)) return SIP_EINVAL;
    if (l->closed) return SIP_ECLOSED;
    sip_method_t m = sip_msg_get_method(req);
    const sip_via_t *v = sip_msg_get_via(req);
    /* §17.2.1: an ACK belongs to an INVITE server transaction or to the TU, never its own. */
    if (m == SIP_METHOD_ACK || !v || !sip_msg_get_cseq(req) || !sip_msg_get_call_id(req).len)
        return SIP_EINVAL;
    uint32_t h = sip__txn_hash(sip_msg_get_call_id(req));
    if (find_server(l, req, h, v, m, sip_msg_get_method_str(req), 0)) return SIP_EEXIST;
    sip_txn_t *t = start_server(l, req);
    if (!t) return SIP_ENOMEM;
    *out = t;
    return 0;
}

void sip__txn_server_timer(sip_txn_t *t, uint64_t now)
{
    if (t->t_retx <= now) {
        t->t_retx = SIP__TXN_NEVER;
        if (t->state == SIP_TXN_PROCEEDING && is_invite(t)) {
            if (!t->rsp) respond(t, 100, NULL, 1);
        } else if (t->state == SIP_TXN_COMPLETED) {
            /* §17.2.1 Timer G: resend the final, doubling up to T2. */
            resend_last(t);
            t->interval = t->interval * 2 < t->t2 ? t->interval * 2 : t->t2;
            t->t_retx = now + t->interval;
        }
    }
    if (t->layer && t->t_end <= now) {
        t->t_end = SIP__TXN_NEVER;
        /* §17.2.1 Timer H: the ACK never came; the TU hears of it. */
        if (is_invite(t) && t->state == SIP_TXN_COMPLETED)
            server_event(t, SIP_TXN_EVENT_TIMEOUT, NULL);
        /* Timers H, I, J and L end the transaction. */
        sip__txn_terminate(t);
        return;
    }
    sip__txn_timers_changed(t);
}
