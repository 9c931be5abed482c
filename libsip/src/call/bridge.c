/* SPDX-License-Identifier: MIT */
/* A B2BUA: an incoming call bridged to an outgoing one (sip/bridge.h). Each leg is a whole
 * call with its own dialog; the bridge only relays what one leg hears to the other. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call/call_int.h"
#include "core/live_int.h"
#include "core/mem.h"
#include "sip/bridge.h"
#include "sip/error.h"

struct sip_bridge {
    int refs; /* the application's, and one while the bridge is active */
    sip_call_t *leg[2];
    sip_bridge_event_cb cb;
    void *user;
    sip_free_fn user_free;
    unsigned active : 1, answered : 1, in_relay : 1, relay_sdp_set : 1, keep_a : 1, ending : 1;
    sip_bridge_leg_t first; /* the leg that ended first, once one has */
    char *relay_sdp;
    int offer_from; /* the leg whose re-INVITE or UPDATE is being relayed, or -1 */
};

void sip_bridge_opts_init(sip_bridge_opts_t *o)
{
    if (o) *o = (sip_bridge_opts_t){0};
}

static void bridge_free(sip_bridge_t *br)
{
    for (int i = 0; i < 2; i++) {
        sip_call_t *c = br->leg[i];
        if (!c) continue;
        /* The calls only pointed back at the bridge; they go on without it. */
        if (c->hook_user == br) {
            c->hook = NULL;
            c->hook_user = NULL;
        }
        if (c->user == br) {
            c->cb = NULL;
            c->user = NULL;
        }
        sip_call_unref(c);
    }
    free(br->relay_sdp);
    sip_free_fn f = br->user_free;
    void *u = br->user;
    free(br);
    sip__live_dec(SIP_LIVE_BRIDGE);
    if (f) f(u);
}

sip_bridge_t *sip_bridge_ref(sip_bridge_t *br)
{
    if (br) br->refs++;
    return br;
}

void sip_bridge_unref(sip_bridge_t *br)
{
    if (br && --br->refs == 0) bridge_free(br);
}

static void emit(sip_bridge_t *br, sip_bridge_event_t ev, sip_bridge_leg_t leg, sip_msg_t *msg)
{
    if (!br->cb) return;
    br->refs++;
    br->cb(br, ev, leg, msg, br->user);
    sip_bridge_unref(br);
}

/* Tells the application what goes to leg dest and takes its replacement SDP. Returns the SDP
 * to send; *owned is what the caller frees. */
static const char *relay(sip_bridge_t *br, sip_bridge_leg_t dest, sip_msg_t *msg, const char *sdp,
                         char **owned)
{
    *owned = NULL;
    br->in_relay = 1;
    br->relay_sdp_set = 0;
    emit(br, SIP_BRIDGE_EVENT_RELAY, dest, msg);
    br->in_relay = 0;
    if (!br->relay_sdp_set) return sdp;
    *owned = br->relay_sdp;
    br->relay_sdp = NULL;
    return *owned;
}

int sip_bridge_set_sdp(sip_bridge_t *br, const char *sdp)
{
    if (!br || !br->in_relay) return SIP_EINVAL;
    char *s = NULL;
    if (sdp && !(s = sip__strdup(sdp))) return SIP_ENOMEM;
    free(br->relay_sdp);
    br->relay_sdp = s;
    br->relay_sdp_set = 1;
    return 0;
}

/* The bridge is over: both legs ended or let go. */
static void finish(sip_bridge_t *br, sip_bridge_leg_t first)
{
    if (!br->active) return;
    /* Ending one leg ends the other, whose own end comes back here first: the bridge reports
     * the leg that started it. */
    if (br->ending) first = br->first;
    br->active = 0;
    sip_call_t *a = br->leg[SIP_BRIDGE_A];
    if (a && a->hook_user == br) {
        a->hook = NULL;
        a->hook_user = NULL;
    }
    emit(br, SIP_BRIDGE_EVENT_ENDED, first, NULL);
    sip_bridge_unref(br); /* the active reference */
}

/* The SDP body of a message as text (NULL: none). */
static char *body_sdp(const sip_msg_t *msg)
{
    if (!msg || !sip__call_has_sdp(msg)) return NULL;
    sip_str_t b = sip_msg_get_body(msg);
    return sip__strndup(b.ptr, b.len);
}

/* ---- requests relayed as they are (INFO, OPTIONS, MESSAGE...) ----------------------------- */

typedef struct relayed {
    sip_txn_t *txn; /* the request's server transaction on the leg it came from */
} relayed_t;

static void on_relayed_response(sip_txn_t *t, int status, const sip_msg_t *rsp, void *user)
{
    (void)t;
    (void)rsp;
    relayed_t *r = user;
    if (status >= 200 && r->txn) {
        sip_txn_respond(r->txn, status, NULL);
        sip_txn_unref(r->txn);
        r->txn = NULL;
    }
}

static void relayed_free(void *user)
{
    relayed_t *r = user;
    /* No final response came (the leg ended): the request gets 500 from its transaction. */
    sip_txn_unref(r->txn);
    free(r);
}

static void relay_request(sip_bridge_t *br, sip_bridge_leg_t from, sip_msg_t *req, sip_txn_t *txn)
{
    sip_bridge_leg_t to = from == SIP_BRIDGE_A ? SIP_BRIDGE_B : SIP_BRIDGE_A;
    sip_call_t *dest = br->leg[to];
    char *owned = NULL, *sdp = NULL;
    emit(br, SIP_BRIDGE_EVENT_RELAY, to, req);
    (void)owned;
    (void)sdp;
    relayed_t *r = calloc(1, sizeof(*r));
    if (!r) {
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    r->txn = sip_txn_ref(txn);
    char method[64], ctype[128];
    sip_str_t m = sip_msg_get_method_str(req);
    if (m.len >= sizeof(method)) m.len = sizeof(method) - 1;
    memcpy(method, m.ptr, m.len);
    method[m.len] = '\0';
    const sip_header_t *ct = sip_msg_header_at(req, SIP_HDR_CONTENT_TYPE, 0);
    sip_str_t body = sip_msg_get_body(req);
    char *b = NULL;
    if (ct && body.len) {
        sip_str_t v = sip_header_get_value(ct);
        if (v.len >= sizeof(ctype)) v.len = sizeof(ctype) - 1;
        memcpy(ctype, v.ptr, v.len);
        ctype[v.len] = '\0';
        b = sip__strndup(body.ptr, body.len);
    }
    int rc = dest ? sip_call_request(dest, method, b ? ctype : NULL, b, on_relayed_response, r,
                                     relayed_free)
                  : SIP_ECLOSED;
    free(b);
    /* The other leg cannot take it: 481 if it is gone, else 500 (relayed_free ran). */
    if (rc) sip_txn_respond(txn, rc == SIP_ECLOSED ? 481 : 500, NULL);
}

/* ---- offers relayed (re-INVITE, UPDATE) ---------------------------------------------------- */

static void relay_offer(sip_bridge_t *br, sip_bridge_leg_t from, sip_msg_t *req)
{
    sip_bridge_leg_t to = from == SIP_BRIDGE_A ? SIP_BRIDGE_B : SIP_BRIDGE_A;
    char *offer = body_sdp(req), *owned = NULL;
    const char *sdp = relay(br, to, req, offer, &owned);
    int rc = SIP_ECLOSED;
    if (br->leg[to] && sdp)
        rc = sip_msg_get_method(req) == SIP_METHOD_UPDATE ? sip_call_update(br->leg[to], sdp)
                                                          : sip_call_reinvite(br->leg[to], sdp);
    free(offer);
    free(owned);
    if (rc == 0) {
        br->offer_from = (int)from;
        return;
    }
    /* RFC 3261 §14.2: our own re-offer on that leg is in the way: glare for this one. */
    sip_call_reject_offer(br->leg[from], rc == SIP_EBUSY ? 491 : 488);
}

/* Our relayed re-INVITE or UPDATE on leg `on` was answered: answer the leg that offered. */
static void offer_done(sip_bridge_t *br, sip_bridge_leg_t on, sip_msg_t *rsp)
{
    if (br->offer_from < 0) return;
    sip_call_t *from = br->leg[br->offer_from];
    br->offer_from = -1;
    int st = rsp ? sip_msg_get_status(rsp) : 408;
    if (st >= 200 && st < 300) {
        char *answer = body_sdp(rsp), *owned = NULL;
        const char *sdp =
            relay(br, on == SIP_BRIDGE_A ? SIP_BRIDGE_B : SIP_BRIDGE_A, rsp, answer, &owned);
        if (!sdp || sip_call_answer_offer(from, sdp) != 0) sip_call_reject_offer(from, 500);
        free(answer);
        free(owned);
    } else {
        sip_call_reject_offer(from, st == 491 ? 491 : st >= 300 ? st : 500);
    }
}

/* ---- the legs' events -------------------------------------------------------------------- */

static void leg_ended(sip_bridge_t *br, sip_bridge_leg_t which, sip_msg_t *msg)
{
    if (!br->ending) {
        br->ending = 1;
        br->first = which;
    }
    sip_bridge_leg_t other = which == SIP_BRIDGE_A ? SIP_BRIDGE_B : SIP_BRIDGE_A;
    sip_call_t *o = br->leg[other];
    int st = sip_call_get_end_status(br->leg[which]);
    if (which == SIP_BRIDGE_B && !br->answered) {
        /* B failed before answering. A leg kept for the application is let go first, so
         * that it can be bridged again from inside the FAILED event. */
        if (br->keep_a && o && o->hook_user == br) {
            o->hook = NULL;
            o->hook_user = NULL;
        }
        emit(br, SIP_BRIDGE_EVENT_FAILED, SIP_BRIDGE_B, msg);
        if (o && sip_call_get_state(o) != SIP_CALL_ENDED && !br->keep_a)
            sip_call_reject(o, st >= 300 ? st : 500, NULL);
        finish(br, which);
        return;
    }
    if (o && sip_call_get_state(o) != SIP_CALL_ENDED) {
        char *owned = NULL;
        relay(br, other, msg, NULL, &owned);
        free(owned);
        sip_call_hangup(o, NULL);
    }
    finish(br, which);
}

static void on_b_event(sip_call_t *b, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                       void *user)
{
    sip_bridge_t *br = user;
    if (!br || !br->active) return;
    sip_call_t *a = br->leg[SIP_BRIDGE_A];
    br->refs++;
    switch (ev) {
    case SIP_CALL_EVENT_RESPONSE: {
        int st = msg ? sip_msg_get_status(msg) : 0;
        if (st > 100 && st < 200 && sip_call_get_state(a) != SIP_CALL_ENDED) {
            char *early = body_sdp(msg), *owned = NULL;
            const char *sdp = relay(br, SIP_BRIDGE_A, msg, early, &owned);
            sip_call_ring(a, st, sdp);
            free(early);
            free(owned);
        }
        break;
    }
    case SIP_CALL_EVENT_STATE:
        if (sip_call_get_state(b) == SIP_CALL_CONFIRMED && !br->answered) {
            br->answered = 1;
            sip_str_t r = sip_call_get_remote_sdp(b);
            char *answer = r.len ? sip__strndup(r.ptr, r.len) : NULL, *owned = NULL;
            const char *sdp = relay(br, SIP_BRIDGE_A, msg, answer, &owned);
            int rc = sip_call_answer(a, 200, sdp);
            free(answer);
            free(owned);
            if (rc) {
                sip_call_hangup(b, NULL);
                break;
            }
            emit(br, SIP_BRIDGE_EVENT_ANSWERED, SIP_BRIDGE_B, msg);
        } else if (sip_call_get_state(b) == SIP_CALL_ENDED) {
            leg_ended(br, SIP_BRIDGE_B, msg);
        }
        break;
    case SIP_CALL_EVENT_OFFER: relay_offer(br, SIP_BRIDGE_B, msg); break;
    case SIP_CALL_EVENT_MODIFIED: offer_done(br, SIP_BRIDGE_B, msg); break;
    case SIP_CALL_EVENT_REQUEST: relay_request(br, SIP_BRIDGE_B, msg, txn); break;
    default: break;
    }
    sip_bridge_unref(br);
}

/* A's events, before its application hears them: the bridge takes offers and requests. */
static int on_a_event(sip_call_t *a, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                      void *user)
{
    sip_bridge_t *br = user;
    if (!br->active) return 0;
    if (ev == SIP__CALL_EVENT_UA_CLOSED) {
        /* The UA closes: its calls end without a word, and so does the bridge. */
        br->cb = NULL;
        finish(br, SIP_BRIDGE_A);
        return 1;
    }
    int taken = 0;
    br->refs++;
    switch (ev) {
    case SIP_CALL_EVENT_STATE:
        if (sip_call_get_state(a) == SIP_CALL_ENDED) leg_ended(br, SIP_BRIDGE_A, msg);
        break;
    case SIP_CALL_EVENT_OFFER:
        relay_offer(br, SIP_BRIDGE_A, msg);
        taken = 1;
        break;
    case SIP_CALL_EVENT_MODIFIED: offer_done(br, SIP_BRIDGE_A, msg); break;
    case SIP_CALL_EVENT_REQUEST:
        relay_request(br, SIP_BRIDGE_A, msg, txn);
        taken = 1;
        break;
    default: break;
    }
    sip_bridge_unref(br);
    return taken;
}

/* A's From without its tag: B's From keeps the caller's identity with a tag of its own. */
static char *from_of(const sip_call_t *a)
{
    const sip_header_t *h = sip_msg_header_at(a->invite, SIP_HDR_FROM, 0);
    if (!h) return NULL;
    sip_str_t v = sip_header_get_value(h);
    char *s = sip__strndup(v.ptr, v.len);
    if (!s) return NULL;
    /* The tag is a header parameter: after the closing '>' when there is one. */
    char *gt = strrchr(s, '>');
    char *p = gt ? gt : s;
    for (char *q = strchr(p, ';'); q; q = strchr(q + 1, ';')) {
        if (strncasecmp(q + 1, "tag=", 4) == 0) {
            char *end = strchr(q + 1, ';');
            memmove(q, end ? end : q + strlen(q), strlen(end ? end : q + strlen(q)) + 1);
            break;
        }
    }
    return s;
}

int sip_bridge_create(sip_bridge_t **out, sip_call_t *a, const char *target,
                      const sip_bridge_opts_t *opts, sip_bridge_event_cb cb, void *user,
                      sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !a || !target || a->uac || a->oa || !a->offer_in_invite) goto fail;
    rc = SIP_ECLOSED;
    if (a->state == SIP_CALL_ENDED || !a->ua) goto fail;
    rc = SIP_EINVAL;
    if (a->state != SIP_CALL_INCOMING && a->state != SIP_CALL_EARLY) goto fail;
    rc = SIP_EBUSY;
    if (a->hook) goto fail;
    rc = SIP_ENOMEM;
    sip_bridge_t *br = calloc(1, sizeof(*br));
    if (!br) goto fail;
    sip__live_inc(SIP_LIVE_BRIDGE);
    br->refs = 2; /* the application's and the active one */
    br->active = 1;
    br->offer_from = -1;
    br->keep_a = opts && opts->keep_a_on_failure;
    br->leg[SIP_BRIDGE_A] = sip_call_ref(a);
    sip_call_opts_t co;
    sip_call_opts_init(&co);
    char *from = NULL;
    if (opts) {
        co.from = opts->from;
        co.headers = opts->headers;
        co.timeout_ms = opts->timeout_ms;
        co.dst = opts->dst;
    }
    if (!co.from) co.from = from = from_of(a);
    co.sdp = opts && opts->sdp ? opts->sdp : a->remote_sdp;
    sip_call_t *b = NULL;
    rc = sip_call_invite(&b, a->ua, target, &co, on_b_event, br, NULL);
    free(from);
    if (rc) {
        br->refs = 1;
        br->active = 0;
        sip_bridge_unref(br);
        goto fail;
    }
    br->leg[SIP_BRIDGE_B] = b;
    a->hook = on_a_event;
    a->hook_user = br;
    br->cb = cb;
    br->user = user;
    br->user_free = user_free;
    *out = br;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_bridge_hangup(sip_bridge_t *br, const char *reason)
{
    if (!br) return SIP_EINVAL;
    if (!br->active) return SIP_ECLOSED;
    br->refs++;
    for (int i = 0; i < 2; i++)
        if (br->leg[i] && sip_call_get_state(br->leg[i]) != SIP_CALL_ENDED)
            sip_call_hangup(br->leg[i], reason);
    finish(br, SIP_BRIDGE_A);
    sip_bridge_unref(br);
    return 0;
}

sip_call_t *sip_bridge_get_call(sip_bridge_t *br, sip_bridge_leg_t leg)
{
    return br && (leg == SIP_BRIDGE_A || leg == SIP_BRIDGE_B) ? br->leg[leg] : NULL;
}

int sip_bridge_is_active(const sip_bridge_t *br)
{
    return br ? br->active : 0;
}

const char *sip_bridge_event_name(sip_bridge_event_t e)
{
    switch (e) {
    case SIP_BRIDGE_EVENT_RELAY: return "relay";
    case SIP_BRIDGE_EVENT_ANSWERED: return "answered";
    case SIP_BRIDGE_EVENT_FAILED: return "failed";
    case SIP_BRIDGE_EVENT_ENDED: return "ended";
    }
    return "unknown";
}
