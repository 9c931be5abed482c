/* SPDX-License-Identifier: MIT */
/* Requests inside a call: ACK, BYE (RFC 3261 §15), re-INVITE (§14), and the ones the
 * application answers (INFO, OPTIONS...); hanging up. */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "sip/error.h"

void sip__call_ok_done(sip_call_t *c);
int sip__call_send_2xx(sip_call_t *c, sip_txn_t *txn, sip_msg_t *rsp);

int sip__call_send_bye(sip_call_t *c, sip_dialog_t *d)
{
    if (!c->ua || c->ua->closed) return SIP_ECLOSED;
    sip_msg_t *bye = NULL;
    int rc = sip_dialog_create_request(&bye, d, "BYE");
    /* RFC 3326: why the call ended. */
    if (!rc && c->bye_reason) rc = sip_msg_add_header(bye, "Reason", c->bye_reason);
    if (!rc) rc = sip__ua_send(c->ua, NULL, bye, NULL, NULL, NULL, NULL);
    sip_msg_unref(bye);
    return rc;
}

static void respond(sip_call_t *c, sip_txn_t *txn, int status)
{
    sip_msg_t *rsp = NULL;
    if (sip_ua_create_response(&rsp, c->ua, txn, status, NULL) == 0) sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

static void on_ack(sip_call_t *c, sip_msg_t *ack)
{
    const sip_cseq_t *cs = sip_msg_get_cseq(ack);
    if (c->uac || !c->ok || !cs || cs->seq != c->ok_cseq) return;
    sip__call_ok_done(c);
    /* RFC 3264 §5: an INVITE without an offer gets the answer in the ACK. */
    sip__call_take_sdp(&c->remote_sdp, ack);
    if (c->bye_pending) {
        /* We hung up while waiting for this ACK (RFC 3261 §15: a BYE waits for it). */
        sip__call_send_bye(c, c->dlg);
        sip__call_teardown(c);
        return;
    }
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
    sip__call_end(c, 200, req, 0);
}

/* RFC 3261 §14.2: a re-INVITE. Its offer is answered with the session as it is. */
static void on_reinvite(sip_call_t *c, sip_txn_t *txn, sip_msg_t *req)
{
    if (c->ok) {
        /* §14.2: an INVITE while ours is unacknowledged: 500 with Retry-After. */
        sip_msg_t *rsp = NULL;
        if (sip_ua_create_response(&rsp, c->ua, txn, 500, NULL) == 0) {
            sip_msg_add_header(rsp, "Retry-After", "1");
            sip_txn_reply(txn, rsp);
        }
        sip_msg_unref(rsp);
        return;
    }
    sip__call_take_sdp(&c->remote_sdp, req);
    sip_msg_t *rsp = NULL;
    int rc = sip_ua_create_response(&rsp, c->ua, txn, 200, NULL);
    if (!rc) rc = sip__call_add_sdp(rsp, c->local_sdp);
    if (!rc) rc = sip__call_send_2xx(c, txn, rsp);
    sip_msg_unref(rsp);
    if (rc) {
        respond(c, txn, 500);
        return;
    }
    sip__call_emit(c, SIP_CALL_EVENT_REINVITE, req, txn);
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
    switch (m) {
    case SIP_METHOD_BYE: on_bye(c, txn, req); break;
    case SIP_METHOD_INVITE: on_reinvite(c, txn, req); break;
    default:
        if (c->cb) {
            sip__call_emit(c, SIP_CALL_EVENT_REQUEST, req, txn);
        } else if (m == SIP_METHOD_INFO || m == SIP_METHOD_OPTIONS) {
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
            rc = sip_txn_cancel(c->inv_txn);
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
    if (rc) {
        sip_msg_unref(req);
        goto fail;
    }
    rc = sip__ua_send(c->ua, NULL, req, NULL, cb, user, user_free);
    sip_msg_unref(req);
    return rc;
fail:
    if (user_free) user_free(user);
    return rc;
}
