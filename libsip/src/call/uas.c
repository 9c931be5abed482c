/* SPDX-License-Identifier: MIT */
/* The UAS half of a call: accepting an INVITE, provisional and final responses, the 2xx sent
 * again until its ACK (RFC 3261 §13.3.1.4), CANCEL (§9.2). */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "sip/error.h"
#include "sip/param.h"

/* Events of the INVITE's server transaction. */
static void on_inv_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)txn;
    sip_call_t *c = user;
    if (c->state == SIP_CALL_ENDED) return;
    if (ev == SIP_TXN_EVENT_CANCEL) {
        /* RFC 3261 §9.2: the layer answered the CANCEL 200 and the INVITE 487. */
        sip__call_end(c, 487, (sip_msg_t *)msg, 0);
    } else if (ev == SIP_TXN_EVENT_ERROR && !c->ok) {
        sip__call_end(c, 503, NULL, 0);
    }
}

/* RFC 3261 §13.3.1.1, RFC 3264 §6: an offer the engine cannot answer gets 488 (with a
 * Warning naming why, RFC 3261 §20.43), 400 when the SDP does not parse. */
static void refuse_offer(sip_ua_t *ua, sip_txn_t *txn, int rc)
{
    sip_msg_t *rsp = NULL;
    int st = rc == SIP_ENOTACCEPTABLE || rc == SIP_ESDP ? 488 : 500;
    if (sip_ua_create_response(&rsp, ua, txn, st, NULL) != 0) return;
    if (st == 488) sip_msg_add_header(rsp, "Warning", "304 libsip \"Media type not available\"");
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

/* RFC 3891 §3: the call an INVITE's Replaces names, in *old (NULL without Replaces); or the
 * status the INVITE was answered with: 481 for no such dialog (or an early one this side did
 * not start), 603 for a call that ended, 486 for a confirmed one with early-only. */
static int replaces_check(sip_ua_t *ua, sip_txn_t *txn, const sip_msg_t *req, sip_call_t **old)
{
    *old = NULL;
    const sip_token_t *t = sip_header_token(sip_msg_header_at(req, SIP_HDR_REPLACES, 0));
    if (!t) return 0;
    sip_str_t to_tag = {"", 0}, from_tag = {"", 0};
    sip_params_get(t->params, "to-tag", &to_tag);
    sip_params_get(t->params, "from-tag", &from_tag);
    /* The tags are the recipient's view: to-tag is this side's, from-tag the other's. */
    sip_dialog_t *d = sip__ua_dialog_find(ua, t->value, to_tag, from_tag);
    sip_call_t *c = d && d->inv.linked ? d->inv.owner : NULL;
    int st = 0;
    if (!c || (d->state == SIP_DIALOG_EARLY && !c->uac))
        st = 481;
    else if (c->state == SIP_CALL_ENDED)
        st = 603;
    else if (d->state == SIP_DIALOG_CONFIRMED && sip_params_get(t->params, "early-only", NULL))
        st = 486;
    if (st) {
        sip_txn_respond(txn, st, NULL);
        return st;
    }
    *old = c;
    return 0;
}

int sip_call_accept(sip_call_t **out, sip_ua_t *ua, sip_txn_t *txn, const sip_call_opts_t *opts,
                    sip_call_event_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    sip_msg_t *req = txn ? sip_txn_get_request(txn) : NULL;
    if (!out || !ua || !req || sip_txn_is_client(txn) ||
        sip_msg_get_method(req) != SIP_METHOD_INVITE || sip_msg_get_to(req)->tag.len)
        goto fail;
    sip_txn_state_t st = sip_txn_get_state(txn);
    if (st != SIP_TXN_PROCEEDING && st != SIP_TXN_TRYING) goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed) goto fail;
    sip_call_t *old = NULL;
    if (replaces_check(ua, txn, req, &old)) {
        rc = SIP_ENOTACCEPTABLE; /* answered 481, 486 or 603 */
        goto fail;
    }
    rc = SIP_ENOMEM;
    sip_call_t *c = sip__call_new(ua, 0, cb, user, user_free);
    if (!c) goto fail;
    if (old) {
        sip__call_hold(old);
        c->replaces = old;
    }
    c->invite = sip_msg_ref(req);
    c->inv_txn = sip_txn_ref(txn);
    c->inv_cseq = sip_msg_get_cseq(req)->seq;
    c->state = SIP_CALL_INCOMING;
    c->offer_in_invite = sip__call_has_sdp(req);
    rc = sip__call_ext_accept(c, opts);
    if (rc) {
        sip__call_discard(c);
        return rc;
    }
    if (opts && opts->media) {
        char addr[64];
        const char *a = opts->media_address;
        rc = a ? 0 : sip__ua_local_ip(ua, sip_msg_get_netinfo(req), addr, sizeof(addr));
        if (!rc) rc = sip__call_media_init(c, opts->media, a ? a : addr);
        /* The answer is made now, so that an offer it cannot answer is refused at once; it
         * goes out in the 183 or 2xx. */
        if (!rc && c->offer_in_invite) {
            rc = sip__call_answer(c->oa, req, &c->local_sdp);
            if (rc) refuse_offer(ua, txn, rc);
        }
    } else if (opts && opts->sdp) {
        rc = sip__call_set_str(&c->local_sdp, opts->sdp);
    } else {
        rc = sip__call_take_sdp(&c->remote_sdp, req) < 0 ? SIP_ENOMEM : 0;
    }
    if (!rc && c->oa && c->offer_in_invite)
        rc = sip__call_take_sdp(&c->remote_sdp, req) < 0 ? SIP_ENOMEM : 0;
    if (rc) {
        sip__call_discard(c);
        return rc;
    }
    sip__call_hold(c);
    rc = sip_txn_set_event_handler(txn, on_inv_event, c, sip__call_release);
    if (rc) {
        sip__call_discard(c);
        return rc;
    }
    sip__call_link(ua, c);
    *out = c;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

/* Builds a response to the INVITE with the UA's headers and the SDP. */
static int make_response(sip_call_t *c, sip_msg_t **rsp, int status, const char *reason,
                         const char *sdp)
{
    int rc = sip_ua_create_response(rsp, c->ua, c->inv_txn, status, reason);
    if (!rc) rc = sip__call_add_sdp(*rsp, sdp);
    if (!rc) rc = sip__call_take_headers(c, *rsp);
    if (rc) {
        sip_msg_unref(*rsp);
        *rsp = NULL;
    }
    return rc;
}

/* The dialog a 1xx or 2xx makes (once: later responses carry the same To tag). */
static int ensure_dialog(sip_call_t *c, const sip_msg_t *rsp)
{
    if (c->dlg) return 0;
    sip_dialog_t *d = NULL;
    int rc = sip_dialog_create_uas(&d, c->invite, rsp);
    if (rc) return rc;
    rc = sip__ua_dialog_add(c->ua, d, c);
    if (rc) {
        sip_dialog_unref(d);
        return rc;
    }
    c->dlg = d;
    return 0;
}

static int uas_answerable(const sip_call_t *c)
{
    if (!c || c->uac) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED || !c->ua) return SIP_ECLOSED;
    if (c->state != SIP_CALL_INCOMING && c->state != SIP_CALL_EARLY) return SIP_EINVAL;
    return 0;
}

int sip_call_ring(sip_call_t *c, int status, const char *sdp)
{
    int rc = uas_answerable(c);
    if (rc) return rc;
    if (status == 0) status = 180;
    if (status < 101 || status > 199) return SIP_EINVAL;
    /* With the engine, a 183 Session Progress carries its answer (early media). */
    if (!sdp && c->oa && status == 183 && c->offer_in_invite) sdp = c->local_sdp;
    if (!sdp) sdp = sip__call_prack_offer(c, status);
    sip_msg_t *rsp = NULL;
    rc = make_response(c, &rsp, status, NULL, sdp);
    if (!rc) rc = ensure_dialog(c, rsp);
    if (!rc) rc = sip__call_prack_send_1xx(c, rsp, sdp != NULL);
    if (!rc && sdp && sdp != c->local_sdp) rc = sip__call_set_str(&c->local_sdp, sdp);
    sip_msg_unref(rsp);
    if (!rc) sip__call_set_state(c, SIP_CALL_EARLY, NULL);
    return rc;
}

static void arm_retx(sip_call_t *c)
{
    sip_ua_t *ua = c->ua;
    c->retx_ms = ua->t1_ms;
    sip__tq_start(&ua->tq, &c->t_retx, c->retx_ms);
    /* RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the session with a BYE. */
    sip__tq_start(&ua->tq, &c->t_giveup, 64ull * ua->t1_ms);
}

/* Sends a 2xx and keeps it to send again until the ACK comes: the INVITE's or a
 * re-INVITE's. */
int sip__call_send_2xx(sip_call_t *c, sip_txn_t *txn, sip_msg_t *rsp)
{
    sip_ua_t *ua = c->ua;
    int rc = sip__tq_reserve(&ua->tq, 2);
    if (!rc) rc = sip_txn_reply(txn, rsp);
    if (rc) return rc;
    sip_msg_unref(c->ok);
    sip_txn_unref(c->ok_txn);
    c->ok = sip_msg_ref(rsp);
    c->ok_txn = sip_txn_ref(txn);
    c->ok_cseq = sip_msg_get_cseq(rsp)->seq;
    arm_retx(c);
    return 0;
}

int sip_call_answer(sip_call_t *c, int status, const char *sdp)
{
    int rc = uas_answerable(c);
    if (rc) return rc;
    if (status == 0) status = 200;
    if (status < 200 || status > 299) return SIP_EINVAL;
    rc = sip__call_prack_hold_2xx(c, status, sdp);
    if (rc) return rc < 0 ? rc : 0;
    /* RFC 3264 §5: an answer given in an unreliable 18x is given again in the 2xx. */
    char *offer = NULL;
    if (!sdp && c->oa && !c->offer_in_invite && !c->rel_oa_done) {
        /* The INVITE had no offer: the 2xx makes one, the ACK answers it. */
        rc = sip__call_offer(c->oa, &offer);
        if (rc) return rc;
        sdp = offer;
    }
    if (!sdp && !c->rel_oa_done) sdp = c->local_sdp;
    sip_msg_t *rsp = NULL;
    rc = make_response(c, &rsp, status, NULL, sdp);
    if (!rc) rc = ensure_dialog(c, rsp);
    if (!rc) rc = sip__call_st_answer(c, c->invite, rsp);
    if (!rc) rc = sip__call_send_2xx(c, c->inv_txn, rsp);
    if (!rc && sdp && sdp != c->local_sdp && !c->oa) rc = sip__call_set_str(&c->local_sdp, sdp);
    sip_msg_unref(rsp);
    free(offer);
    if (rc) {
        if (c->oa && !c->offer_in_invite) sip_oa_cancel_offer(c->oa);
        return rc;
    }
    sip__dialog_confirm(c->dlg);
    c->holds++;
    if (c->oa && c->offer_in_invite) sip__call_media_done(c, c->oa, NULL);
    sip__call_set_state(c, SIP_CALL_CONNECTING, NULL);
    sip__call_release(c);
    return 0;
}

int sip_call_reject(sip_call_t *c, int status, const char *reason)
{
    int rc = uas_answerable(c);
    if (rc) return rc;
    if (status < 300 || status > 699) return SIP_EINVAL;
    sip_msg_t *rsp = NULL;
    rc = make_response(c, &rsp, status, reason, NULL);
    if (!rc) rc = sip_txn_reply(c->inv_txn, rsp);
    sip_msg_unref(rsp);
    if (rc) return rc;
    sip__call_end(c, status, NULL, 1);
    return 0;
}

/* RFC 3261 §13.3.1.4: the 2xx goes again at T1, 2*T1 ... T2, over any transport. */
void sip__call_uas_retransmit(sip_call_t *c)
{
    if (!c->ok || !c->ua) return;
    if (sip_txn_reply(c->ok_txn, c->ok) != 0) {
        /* The transaction has ended (RFC 6026 Timer L): the transport sends it. */
        sip_transport_t *tp = sip_txn_layer_get_transport(c->ua->layer);
        if (tp) sip_transport_send_response(tp, c->ok);
    }
    c->retx_ms = c->retx_ms * 2 < c->ua->t2_ms ? c->retx_ms * 2 : c->ua->t2_ms;
    sip__tq_start(&c->ua->tq, &c->t_retx, c->retx_ms);
}

/* The ACK of the 2xx in c->ok came (or never will): stop sending it. */
void sip__call_ok_done(sip_call_t *c)
{
    if (c->ua) {
        sip__tq_stop(&c->ua->tq, &c->t_retx);
        sip__tq_stop(&c->ua->tq, &c->t_giveup);
    }
    sip_msg_unref(c->ok);
    c->ok = NULL;
    sip_txn_unref(c->ok_txn);
    c->ok_txn = NULL;
}

/* RFC 3261 §13.3.1.4: 64*T1 without an ACK: the session ends with a BYE. */
void sip__call_uas_no_ack(sip_call_t *c)
{
    c->holds++;
    sip__call_ok_done(c);
    if (c->dlg) sip__call_send_bye(c, c->dlg);
    sip__call_end(c, 408, NULL, c->bye_pending);
    sip__call_release(c);
}
