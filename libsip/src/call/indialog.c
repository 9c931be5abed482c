/* SPDX-License-Identifier: MIT */
/* Requests inside a call: ACK, BYE (RFC 3261 §15), re-INVITE (§14), and the ones the
 * application answers (INFO, OPTIONS...); hanging up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "sip/error.h"
#include "sip/str.h"

void sip__call_ok_done(sip_call_t *c);
int sip__call_send_2xx(sip_call_t *c, sip_txn_t *txn, sip_msg_t *rsp);

int sip__call_send_bye(sip_call_t *c, sip_dialog_t *d)
{
    if (!c->ua || c->ua->closed) return SIP_ECLOSED;
    sip_msg_t *bye = NULL;
    int rc = sip_dialog_create_request(&bye, d, "BYE");
    /* RFC 3326: why the call ended. */
    if (!rc && c->bye_reason) rc = sip_msg_add_header(bye, "Reason", c->bye_reason);
    if (!rc) rc = sip__call_take_headers(c, bye);
    /* A challenged BYE goes again with credentials (RFC 3261 §22.2). */
    if (!rc) rc = sip__ua_send_auth(c->ua, bye, NULL, NULL, NULL, NULL);
    sip_msg_unref(bye);
    return rc;
}

static void respond(sip_call_t *c, sip_txn_t *txn, int status)
{
    sip_msg_t *rsp = NULL;
    if (sip_ua_create_response(&rsp, c->ua, txn, status, NULL) == 0) sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

/* The peer's answer in an ACK (to the offer of our 2xx) or in a 2xx (to our offer). */
static void take_answer(sip_call_t *c, sip_msg_t *msg)
{
    if (!sip__call_has_sdp(msg)) {
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        return;
    }
    if (c->oa) {
        if (sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER && sip__call_take_answer(c->oa, msg) == 0)
            sip__call_media_done(c, c->oa, msg);
        else if (sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER)
            sip_oa_cancel_offer(c->oa);
        return;
    }
    if (sip__call_take_sdp(&c->remote_sdp, msg) == 1) sip__call_media_done(c, NULL, msg);
}

static void on_ack(sip_call_t *c, sip_msg_t *ack)
{
    const sip_cseq_t *cs = sip_msg_get_cseq(ack);
    if (!c->ok || !cs || cs->seq != c->ok_cseq) return;
    sip__call_ok_done(c);
    /* RFC 3264 §5: an INVITE without an offer gets the answer in the ACK. */
    take_answer(c, ack);
    if (c->bye_pending) {
        /* We hung up while waiting for this ACK (RFC 3261 §15: a BYE waits for it). */
        sip__call_send_bye(c, c->dlg);
        sip__call_teardown(c);
        return;
    }
    if (!c->uac) sip__call_shed(c);
    if (c->state == SIP_CALL_CONNECTING) sip__call_set_state(c, SIP_CALL_CONFIRMED, ack);
}

static void on_bye(sip_call_t *c, sip_txn_t *txn, sip_msg_t *req)
{
    respond(c, txn, 200);
    /* RFC 3261 §15.1.2: a BYE in an early dialog ends the INVITE too, with 487. */
    if (!c->uac && (c->state == SIP_CALL_INCOMING || c->state == SIP_CALL_EARLY))
        respond(c, c->inv_txn, 487);
    sip__call_ok_done(c);
    if (c->uac && (c->state == SIP_CALL_CALLING || c->state == SIP_CALL_EARLY))
        sip_txn_cancel(c->inv_txn);
    if (c->offer_txn) {
        respond(c, c->offer_txn, 487);
        sip_txn_unref(c->offer_txn);
        c->offer_txn = NULL;
    }
    sip__call_end(c, 200, req, 0);
}

/* A 2xx to the peer's re-INVITE or UPDATE with this SDP (or none). */
static int answer_request(sip_call_t *c, sip_txn_t *txn, const char *sdp)
{
    sip_msg_t *req = sip_txn_get_request(txn);
    sip_msg_t *rsp = NULL;
    int rc = req ? sip_ua_create_response(&rsp, c->ua, txn, 200, NULL) : SIP_EINVAL;
    if (!rc) rc = sip__call_add_sdp(rsp, sdp);
    if (!rc) rc = sip__call_take_headers(c, rsp);
    if (!rc) rc = sip__call_st_answer(c, req, rsp);
    if (!rc && sip_msg_get_method(req) == SIP_METHOD_INVITE)
        rc = sip__call_send_2xx(c, txn, rsp);
    else if (!rc)
        rc = sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
    return rc;
}

static void respond_retry_after(sip_call_t *c, sip_txn_t *txn, int status)
{
    sip_msg_t *rsp = NULL;
    if (sip_ua_create_response(&rsp, c->ua, txn, status, NULL) == 0) {
        /* RFC 3261 §14.2: a random wait below 10 s. */
        sip_msg_add_header(rsp, "Retry-After", "1");
        sip_txn_reply(txn, rsp);
    }
    sip_msg_unref(rsp);
}

/* RFC 3261 §14.2 and RFC 3311 §5.2: a re-INVITE or UPDATE from the peer, with or without an
 * offer. */
static void on_offer_request(sip_call_t *c, sip_txn_t *txn, sip_msg_t *req)
{
    int invite = sip_msg_get_method(req) == SIP_METHOD_INVITE;
    /* Our own offer is out: glare, 491 (§14.2; RFC 3311 §5.2). */
    if (c->mod_txn || (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER)) {
        respond(c, txn, 491);
        return;
    }
    /* The peer's earlier one is still open, or our 2xx waits for its ACK: 500 with
     * Retry-After (§14.2). A re-INVITE before the call is confirmed is refused the same way. */
    if (c->offer_txn || (invite && c->ok) || (invite && c->state != SIP_CALL_CONFIRMED)) {
        respond_retry_after(c, txn, 500);
        return;
    }
    if (sip__call_st_check(c, txn, req)) return;
    int rc;
    if (sip__call_has_sdp(req)) {
        if (c->oa) {
            char *ans = NULL;
            rc = sip__call_answer(c->oa, req, &ans);
            if (rc) {
                respond(c, txn, rc == SIP_EINVAL ? 491 : 488);
                return;
            }
            rc = answer_request(c, txn, ans);
            free(ans);
            if (rc) {
                respond(c, txn, 500);
                return;
            }
            sip__call_media_done(c, c->oa, req);
        } else if (c->cb || c->hook) {
            /* The application answers: now, in the event, or later. */
            c->offer_txn = sip_txn_ref(txn);
            sip__call_emit(c, SIP_CALL_EVENT_OFFER, req, txn);
            return;
        } else {
            sip__call_take_sdp(&c->remote_sdp, req);
            if (answer_request(c, txn, c->local_sdp)) return;
        }
    } else if (invite) {
        /* No offer: ours goes in the 2xx, the answer comes in the ACK. */
        char *offer = NULL;
        if (c->oa && sip__call_offer(c->oa, &offer)) {
            respond(c, txn, 500);
            return;
        }
        rc = answer_request(c, txn, offer ? offer : c->local_sdp);
        free(offer);
        if (rc) return;
    } else {
        /* An UPDATE without an offer: a session refresh (RFC 4028 §9). */
        if (answer_request(c, txn, NULL)) return;
    }
    sip__call_emit(c, SIP_CALL_EVENT_REINVITE, req, txn);
}

int sip_call_answer_offer(sip_call_t *c, const char *sdp)
{
    if (!c || !sdp) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED || !c->ua) return SIP_ECLOSED;
    if (c->in_2xx_offer) {
        /* The offer of a 2xx: the answer goes in its ACK. */
        return sip__call_set_str(&c->ack_sdp, sdp);
    }
    if (!c->offer_txn) return SIP_EINVAL;
    sip_txn_t *txn = c->offer_txn;
    sip_msg_t *req = sip_txn_get_request(txn);
    if (!req) return SIP_EINVAL;
    c->holds++;
    sip_msg_ref(req);
    int rc = answer_request(c, txn, sdp);
    if (!rc) {
        c->offer_txn = NULL;
        sip__call_set_str(&c->local_sdp, sdp);
        sip__call_take_sdp(&c->remote_sdp, req);
        sip__call_media_done(c, NULL, req);
        sip__call_emit(c, SIP_CALL_EVENT_REINVITE, req, txn);
        sip_txn_unref(txn);
    }
    sip_msg_unref(req);
    sip__call_release(c);
    return rc;
}

int sip_call_reject_offer(sip_call_t *c, int status)
{
    if (!c) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED || !c->ua) return SIP_ECLOSED;
    if (status == 0) status = 488;
    if (!c->offer_txn || status < 300 || status > 699) return SIP_EINVAL;
    sip_txn_t *txn = c->offer_txn;
    c->offer_txn = NULL;
    respond(c, txn, status);
    sip_txn_unref(txn);
    return 0;
}

/* ---- our re-INVITE and UPDATE ----------------------------------------------------------- */

static void on_mod_response(sip_txn_t *txn, int status, const sip_msg_t *crsp, void *user);
static int mod_auth_retry(sip_call_t *c, const sip_msg_t *rsp);

static int send_mod(sip_call_t *c)
{
    const char *method = c->mod_method == SIP_METHOD_INVITE ? "INVITE" : "UPDATE";
    char *offer = NULL;
    int rc = 0;
    if (c->mod_sdp)
        rc = sip__call_set_str(&offer, c->mod_sdp);
    else if (c->oa)
        rc = sip__call_offer(c->oa, &offer);
    if (rc) return rc;
    sip_msg_t *req = NULL;
    rc = sip_dialog_create_request(&req, c->dlg, method);
    if (!rc) rc = sip__call_add_sdp(req, offer);
    if (!rc) rc = sip__call_take_headers(c, req);
    if (!rc) rc = sip__call_st_request(c, req);
    free(offer);
    if (!rc && c->ua->allow && *c->ua->allow) rc = sip_msg_add_header(req, "Allow", c->ua->allow);
    if (rc) {
        sip_msg_unref(req);
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        return rc;
    }
    c->mod_cseq = sip_msg_get_cseq(req)->seq;
    sip__call_mod_t *m = malloc(sizeof(*m));
    if (!m) {
        sip_msg_unref(req);
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        return SIP_ENOMEM;
    }
    *m = (sip__call_mod_t){c, c->mod_cseq};
    c->holds++;
    sip_txn_t *t = NULL;
    rc = sip__ua_send(c->ua, &t, req, NULL, on_mod_response, m, sip__call_mod_done);
    sip_msg_unref(req);
    if (rc) {
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        return rc;
    }
    sip_txn_unref(c->mod_txn);
    c->mod_txn = t;
    return 0;
}

static int modify(sip_call_t *c, sip_method_t method, const char *sdp)
{
    if (!c) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED || !c->ua || !c->dlg) return SIP_ECLOSED;
    if (method == SIP_METHOD_INVITE && c->state != SIP_CALL_CONFIRMED) return SIP_ECLOSED;
    if (method == SIP_METHOD_INVITE && !sdp && !c->oa) return SIP_EINVAL;
    if (c->mod_txn || c->mod_retry || c->offer_txn || (method == SIP_METHOD_INVITE && c->ok) ||
        (c->oa && sip_oa_get_state(c->oa) == SIP_OA_REMOTE_OFFER))
        return SIP_EBUSY;
    free(c->mod_sdp);
    c->mod_sdp = NULL;
    int rc = sip__call_set_str(&c->mod_sdp, sdp);
    if (rc) return rc;
    c->mod_method = method;
    c->auth_rounds = 0;
    rc = sip__tq_reserve(&c->ua->tq, 1);
    if (!rc) rc = send_mod(c);
    return rc;
}

int sip_call_reinvite(sip_call_t *c, const char *sdp)
{
    return modify(c, SIP_METHOD_INVITE, sdp);
}

int sip_call_update(sip_call_t *c, const char *sdp)
{
    return modify(c, SIP_METHOD_UPDATE, sdp);
}

int sip_call_hold(sip_call_t *c, int hold)
{
    if (!c || !c->oa) return SIP_EINVAL;
    if (c->state != SIP_CALL_CONFIRMED) return SIP_ECLOSED;
    int was = sip_oa_get_hold(c->oa);
    int rc = sip_oa_set_hold(c->oa, hold ? 1 : 0);
    if (!rc) rc = sip_call_reinvite(c, NULL);
    if (rc) sip_oa_set_hold(c->oa, was);
    return rc;
}

/* RFC 3261 §14.1: after a 491 the owner of the Call-ID (the caller) waits 2.1 to 4 s, the
 * other 0 to 2 s, in units of 10 ms, before trying again. */
static uint64_t glare_wait_ms(const sip_call_t *c)
{
    char hex[9];
    unsigned long r = 0;
    if (sip_random_hex(32, hex, sizeof(hex)) >= 0) r = strtoul(hex, NULL, 16);
    return c->uac ? 2100 + (r % 191) * 10 : (r % 201) * 10;
}

void sip__call_glare_retry(sip_call_t *c)
{
    c->mod_retry = 0;
    if (c->state == SIP_CALL_ENDED || !c->ua) return;
    c->holds++;
    if (send_mod(c) != 0) sip__call_emit(c, SIP_CALL_EVENT_MODIFIED, NULL, NULL);
    sip__call_release(c);
}

/* RFC 3261 §22.2: our re-INVITE or UPDATE challenged, and the UA's credentials answer: the
 * same request again with them and the dialog's next CSeq. The negotiator's offer stays open
 * (the copy carries it): the answer comes in the new request's 2xx. */
static int mod_auth_retry(sip_call_t *c, const sip_msg_t *rsp)
{
    sip_msg_t *next = NULL;
    if (!c->st_req || c->auth_rounds >= SIP__CALL_AUTH_ROUNDS ||
        sip__ua_auth_next(c->ua, c->st_req, rsp, c->auth_rounds == 0, &next) != 0)
        return 0;
    sip__call_mod_t *m = malloc(sizeof(*m));
    if (!m) {
        sip_msg_unref(next);
        return 0;
    }
    uint32_t cseq = sip_msg_get_cseq(next)->seq;
    *m = (sip__call_mod_t){c, cseq};
    c->holds++;
    sip_txn_t *t = NULL;
    if (sip__ua_send(c->ua, &t, next, NULL, on_mod_response, m, sip__call_mod_done) != 0) {
        sip_msg_unref(next);
        return 0;
    }
    c->auth_rounds++;
    c->mod_cseq = cseq;
    c->mod_txn = t;
    sip_msg_unref(c->st_req);
    c->st_req = next;
    return 1;
}

static void on_mod_response(sip_txn_t *txn, int status, const sip_msg_t *crsp, void *user)
{
    sip_call_t *c = ((sip__call_mod_t *)user)->call;
    sip_msg_t *rsp = (sip_msg_t *)crsp;
    if (status < 200 || c->state == SIP_CALL_ENDED || !c->ua) return;
    c->holds++;
    if (c->mod_method == SIP_METHOD_INVITE && status < 300 && rsp) {
        const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
        if (c->mod_ack && cs && cs->seq == c->mod_ack_cseq) {
            /* The 2xx again: the same ACK again. */
            sip__ua_send_stateless(c->ua, c->mod_ack);
            goto out;
        }
        sip_msg_t *ack = NULL;
        if (sip_dialog_create_ack(&ack, c->dlg, c->mod_cseq) == 0) {
            sip__ua_send_stateless(c->ua, ack);
            sip_msg_unref(c->mod_ack);
            c->mod_ack = ack;
            c->mod_ack_cseq = c->mod_cseq;
        }
    }
    if (txn != c->mod_txn) goto out;
    sip_txn_unref(c->mod_txn);
    c->mod_txn = NULL;
    if ((status == 401 || status == 407) && rsp && mod_auth_retry(c, rsp)) goto out;
    if (status < 300 && rsp) {
        sip_dialog_receive_response(c->dlg, rsp);
        take_answer(c, rsp);
        sip__ua_auth_done(c->ua, c->st_req, rsp);
        sip__call_st_2xx(c, c->st_req, rsp);
    } else if (sip__call_st_failed(c, status, rsp)) {
        goto out;
    } else if (status == 491 && c->ua) {
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        c->mod_retry = 1;
        sip__tq_start(&c->ua->tq, &c->t_glare, glare_wait_ms(c));
        goto out;
    } else {
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
    }
    sip__call_emit(c, SIP_CALL_EVENT_MODIFIED, rsp, NULL);
    /* RFC 3261 §14.1, RFC 5057 §5.1: 481, or no answer at all, means the dialog is gone. */
    if (status == 481 || (status == 408 && !rsp)) {
        sip__call_send_bye(c, c->dlg);
        sip__call_end(c, status, rsp, 0);
    }
out:
    sip__call_release(c);
}

void sip__call_on_request(sip_call_t *c, sip_dialog_t *d, sip_txn_t *txn, sip_msg_t *req)
{
    sip_method_t m = sip_msg_get_method(req);
    c->holds++;
    if (!txn) {
        if (m == SIP_METHOD_ACK) on_ack(c, req);
        goto out;
    }
    int st = sip_dialog_receive_request(d, req);
    if (st > 0) {
        respond(c, txn, st);
        goto out;
    }
    if (st < 0) {
        respond(c, txn, 500);
        goto out;
    }
    if (d != c->dlg && m != SIP_METHOD_BYE) {
        /* A request in the early dialog of a fork the call did not keep. */
        respond(c, txn, 481);
        goto out;
    }
    if (m == SIP_METHOD_INFO && c->ua->recv_info) {
        /* RFC 6086 §4.2.2: an Info Package this side did not announce gets 469. */
        const sip_header_t *ip = sip_msg_header_by_name(req, "Info-Package", 0);
        if (ip && !sip__ua_list_has(c->ua->recv_info, sip_header_get_value(ip))) {
            sip_msg_t *rsp = NULL;
            if (sip_ua_create_response(&rsp, c->ua, txn, 469, NULL) == 0) {
                sip_msg_add_header(rsp, "Recv-Info", c->ua->recv_info);
                sip_txn_reply(txn, rsp);
            }
            sip_msg_unref(rsp);
            goto out;
        }
    }
    switch (m) {
    case SIP_METHOD_BYE: on_bye(c, txn, req); break;
    case SIP_METHOD_INVITE:
    case SIP_METHOD_UPDATE: on_offer_request(c, txn, req); break;
    case SIP_METHOD_PRACK: sip__call_on_prack(c, txn, req); break;
    default:
        if (c->cb || c->hook) {
            sip__call_emit(c, SIP_CALL_EVENT_REQUEST, req, txn);
        } else if (m == SIP_METHOD_OPTIONS) {
            /* RFC 3261 §11.2: the capabilities, in the dialog as outside it. */
            if (sip_ua_answer_options(c->ua, txn) != 0) respond(c, txn, 200);
        } else if (m == SIP_METHOD_INFO) {
            respond(c, txn, 200);
        } else {
            respond(c, txn, 501);
        }
        break;
    }
out:
    sip__call_release(c);
}

int sip_call_hangup(sip_call_t *c, const char *reason)
{
    if (!c) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED || !c->ua) return SIP_ECLOSED;
    int rc = sip__call_set_str(&c->bye_reason, reason);
    if (rc) return rc;
    c->holds++;
    switch (c->state) {
    case SIP_CALL_CALLING:
    case SIP_CALL_EARLY:
        if (c->uac) {
            /* RFC 3261 §9.1: CANCEL; the INVITE's final response is still awaited (a 2xx
             * that crosses the CANCEL gets ACK and BYE). */
            c->hanging_up = 1;
            rc = sip_txn_cancel_with_reason(c->inv_txn, c->bye_reason);
            sip__call_notify_end(c, 487, NULL, 1);
            break;
        }
        /* A UAS that has not answered rejects. */
        __attribute__((fallthrough));
    case SIP_CALL_INCOMING: rc = sip_call_reject(c, 480, NULL); break;
    case SIP_CALL_CONNECTING:
        if (!c->uac && c->ok) {
            /* RFC 3261 §15: the callee's BYE waits for the ACK or its timeout. */
            c->bye_pending = 1;
            sip__call_notify_end(c, 200, NULL, 1);
            break;
        }
        __attribute__((fallthrough));
    case SIP_CALL_CONFIRMED:
        rc = sip__call_send_bye(c, c->dlg);
        sip__call_end(c, 200, NULL, 1);
        break;
    case SIP_CALL_ENDED: break;
    }
    sip__call_release(c);
    return rc;
}

int sip_call_send_dtmf(sip_call_t *c, char digit, unsigned duration_ms)
{
    if (!c || digit == '\0' || !strchr("0123456789*#ABCDabcd", digit) || duration_ms == 0 ||
        duration_ms > 60000)
        return SIP_EINVAL;
    /* application/dtmf-relay, the body SIP phones send in INFO (no Info-Package: RFC 6086 §9's
     * legacy use). */
    char body[64];
    snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%u\r\n", digit, duration_ms);
    return sip_call_request(c, "INFO", "application/dtmf-relay", body, NULL, NULL, NULL);
}

int sip_call_request(sip_call_t *c, const char *method, const char *content_type, const char *body,
                     sip_response_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!c || !method) goto fail;
    static const char *const own[] = {"INVITE", "ACK", "CANCEL", "BYE", "PRACK", "UPDATE"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (!strcasecmp(method, own[i])) goto fail;
    if (!content_type != !body) goto fail;
    rc = SIP_ECLOSED;
    if (c->state == SIP_CALL_ENDED || !c->dlg || !c->ua) goto fail;
    sip_msg_t *req = NULL;
    rc = sip_dialog_create_request(&req, c->dlg, method);
    if (!rc && body) rc = sip_msg_set_body(req, content_type, body, strlen(body));
    if (!rc) rc = sip__call_take_headers(c, req);
    if (rc) {
        sip_msg_unref(req);
        goto fail;
    }
    /* A challenged request goes again with credentials; cb hears the last one's responses. */
    rc = sip__ua_send_auth(c->ua, req, NULL, cb, user, user_free);
    sip_msg_unref(req);
    return rc;
fail:
    if (user_free) user_free(user);
    return rc;
}
