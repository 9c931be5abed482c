/* SPDX-License-Identifier: MIT */
/* The UAC half of a call: the INVITE, early dialogs per fork, the ACK the core sends for each
 * 2xx (RFC 3261 §13.2.2.4), the BYE for the 2xx of a fork not kept, CANCEL (§9.1). */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "core/mem.h"
#include "sip/error.h"

static void on_inv_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user);

int sip_call_invite(sip_call_t **out, sip_ua_t *ua, const char *target, const sip_call_opts_t *opts,
                    sip_call_event_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !ua || !target) goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed) goto fail;
    sip_call_opts_t def;
    if (!opts) {
        sip_call_opts_init(&def);
        opts = &def;
    }
    sip_msg_t *req = NULL;
    rc = sip_ua_create_request(&req, ua, "INVITE", target, opts->from);
    if (!rc) rc = sip__call_add_lines(req, opts->headers);
    if (rc) {
        sip_msg_unref(req);
        goto fail;
    }
    rc = SIP_ENOMEM;
    sip_call_t *c = sip__call_new(ua, 1, cb, user, user_free);
    if (!c) {
        sip_msg_unref(req);
        goto fail;
    }
    c->invite = req;
    c->inv_cseq = sip_msg_get_cseq(req)->seq;
    c->state = SIP_CALL_CALLING;
    rc = 0;
    int xrc = sip__call_ext_invite(c, opts, req);
    char *offer = NULL;
    if (opts->media) {
        char addr[64];
        const char *a = opts->media_address;
        rc = a ? 0 : sip__ua_local_ip(ua, sip_msg_get_netinfo(req), addr, sizeof(addr));
        if (!rc) rc = sip__call_media_init(c, opts->media, a ? a : addr);
        c->late_offer = opts->late_offer ? 1 : 0;
        if (!rc && !c->late_offer) rc = sip__call_offer(c->oa, &offer);
    } else if (opts->sdp) {
        rc = sip__call_set_str(&offer, opts->sdp);
    }
    c->offer_in_invite = offer != NULL;
    if (!rc) rc = sip__call_add_sdp(req, offer);
    if (!rc && offer && !c->oa) rc = sip__call_set_str(&c->local_sdp, offer);
    free(offer);
    if (!rc) rc = sip__tq_reserve(&ua->tq, 1);
    if (!rc) rc = xrc;
    if (rc) {
        sip__call_discard(c);
        return rc;
    }
    sip__call_hold(c);
    rc = sip__ua_send(ua, &c->inv_txn, req, opts->dst, on_inv_response, c, sip__call_inv_done);
    if (rc) {
        sip__call_discard(c);
        return rc;
    }
    sip__call_link(ua, c);
    if (opts->timeout_ms) sip__tq_start(&ua->tq, &c->t_timeout, opts->timeout_ms);
    *out = c;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

/* The fork of a To tag, or NULL. */
static sip__fork_t *fork_of(sip_call_t *c, sip_str_t tag)
{
    for (size_t i = 0; i < c->nforks; i++) {
        sip_str_t t = sip_dialog_get_remote_tag(c->forks[i].dlg);
        if (t.len == tag.len && memcmp(t.ptr, tag.ptr, tag.len) == 0) return &c->forks[i];
    }
    return NULL;
}

/* A new fork for the first provisional or 2xx with its To tag: its dialog (in the UA's table)
 * and its own copy of the negotiator, with the offer of the INVITE in flight. */
static sip__fork_t *add_fork(sip_call_t *c, const sip_msg_t *rsp)
{
    sip__fork_t *f = realloc(c->forks, (c->nforks + 1) * sizeof(*f));
    if (!f) return NULL;
    c->forks = f;
    sip__fork_t fk = {0};
    if (sip_dialog_create_uac(&fk.dlg, c->invite, rsp) != 0) return NULL;
    if (c->oa && sip_oa_clone(&fk.oa, c->oa) != 0) {
        sip_dialog_unref(fk.dlg);
        return NULL;
    }
    if (c->ua && sip__ua_dialog_add(c->ua, fk.dlg, c) != 0) {
        sip_oa_unref(fk.oa);
        sip_dialog_unref(fk.dlg);
        return NULL;
    }
    c->forks[c->nforks] = fk;
    return &c->forks[c->nforks++];
}

/* A response of a fork carrying SDP: with the engine, the answer to the INVITE's offer (the
 * first one that fork sends; RFC 3264 §5 makes later ones the same answer) or, for an INVITE
 * without an offer, the offer the ACK answers. */
static void fork_sdp(sip_call_t *c, sip__fork_t *f, sip_msg_t *rsp, char **ack_answer)
{
    if (!sip__call_has_sdp(rsp)) return;
    if (!f->oa) {
        sip__call_take_sdp(&c->remote_sdp, rsp);
        if (!c->offer_in_invite && ack_answer) {
            c->in_2xx_offer = 1;
            sip__call_emit(c, SIP_CALL_EVENT_OFFER, rsp, NULL);
            c->in_2xx_offer = 0;
        }
        return;
    }
    sip_oa_state_t st = sip_oa_get_state(f->oa);
    if (st == SIP_OA_LOCAL_OFFER) {
        if (sip__call_take_answer(f->oa, rsp) == 0) sip__call_media_done(c, f->oa, rsp);
    } else if (!c->offer_in_invite && ack_answer && st != SIP_OA_DONE) {
        if (sip__call_answer(f->oa, rsp, ack_answer) == 0) sip__call_media_done(c, f->oa, rsp);
    }
}

/* Sends the ACK of a 2xx in dialog d; keeps it (when keep) to send again. */
static int send_ack(sip_call_t *c, sip_dialog_t *d, const char *sdp, int keep)
{
    sip_msg_t *ack = NULL;
    int rc = sip_dialog_create_ack(&ack, d, c->inv_cseq);
    if (!rc) rc = sip__call_add_sdp(ack, sdp);
    if (rc) {
        sip_msg_unref(ack);
        return rc;
    }
    rc = sip__ua_send_stateless(c->ua, ack);
    if (keep) {
        sip_msg_unref(c->ack);
        c->ack = ack;
    } else {
        sip_msg_unref(ack);
    }
    return rc;
}

/* A 2xx this call does not keep (another fork's, or one that crossed our CANCEL): RFC 3261
 * §13.2.2.4 says to acknowledge it and end that dialog with BYE. */
static void ack_and_bye(sip_call_t *c, const sip_msg_t *rsp)
{
    if (!c->ua || c->ua->closed) return;
    sip_dialog_t *d = NULL;
    if (sip_dialog_create_uac(&d, c->invite, rsp) != 0) return;
    sip__call_prack_cseq(c, d);
    send_ack(c, d, NULL, 0);
    sip__call_send_bye(c, d);
    sip_dialog_unref(d);
}

static void on_2xx(sip_call_t *c, sip_msg_t *rsp)
{
    sip_str_t tag = sip_msg_get_to(rsp)->tag;
    if (c->ack) {
        /* Confirmed already: the same 2xx again gets the same ACK; another fork's gets its
         * own ACK and a BYE. */
        sip_str_t mine = sip_dialog_get_remote_tag(c->dlg);
        if (mine.len == tag.len && memcmp(mine.ptr, tag.ptr, tag.len) == 0)
            sip__ua_send_stateless(c->ua, c->ack);
        else
            ack_and_bye(c, rsp);
        return;
    }
    if (c->state == SIP_CALL_ENDED) {
        /* We hung up (CANCEL) but the 2xx crossed it. */
        ack_and_bye(c, rsp);
        return;
    }
    sip__fork_t *f = fork_of(c, tag);
    if (!f) f = add_fork(c, rsp);
    if (!f) {
        ack_and_bye(c, rsp);
        sip__call_end(c, 500, rsp, 1);
        return;
    }
    sip_dialog_receive_response(f->dlg, rsp);
    if (c->dlg != f->dlg) {
        sip_dialog_unref(c->dlg);
        c->dlg = sip_dialog_ref(f->dlg);
    }
    /* The fork kept: its negotiator is the call's from now on. */
    if (f->oa && c->oa != f->oa) {
        sip_oa_unref(c->oa);
        c->oa = sip_oa_ref(f->oa);
    }
    /* The other forks' early dialogs end: a later 2xx from one gets ACK and BYE. */
    for (size_t i = 0; i < c->nforks; i++) {
        if (c->forks[i].dlg == f->dlg) continue;
        if (c->ua) sip__ua_dialog_remove(c->ua, c->forks[i].dlg);
        sip_dialog_terminate(c->forks[i].dlg);
    }
    char *answer = NULL;
    fork_sdp(c, f, rsp, &answer);
    if (!c->offer_in_invite && !c->oa && sip__call_has_sdp(rsp)) {
        /* Without the engine the application answered in the OFFER event (or did not). */
        answer = c->ack_sdp;
        c->ack_sdp = NULL;
        if (answer) sip__call_set_str(&c->local_sdp, answer);
    }
    int bad = !c->offer_in_invite && sip__call_has_sdp(rsp) && !answer && !f->prack_sdp;
    send_ack(c, f->dlg, answer, 1);
    free(answer);
    if (bad) {
        /* RFC 3264 §5: an offer in the 2xx that cannot be answered: ACK, then BYE. */
        sip__call_send_bye(c, f->dlg);
        sip__call_end(c, 488, rsp, 1);
        return;
    }
    sip__call_st_2xx(c, c->invite, rsp);
    sip__call_set_state(c, SIP_CALL_CONFIRMED, rsp);
}

/* RFC 3261 §22.2, §8.1.3.5: a 401 or 407 to the INVITE that the UA's credentials answer: the
 * INVITE again with them, a new request of the same call (Call-ID, From tag and offer kept,
 * CSeq one higher, a new branch) to the server that challenged; a CANCEL then cancels it. */
static int auth_retry(sip_call_t *c, const sip_msg_t *rsp)
{
    if (!c->ua || c->hanging_up || c->state == SIP_CALL_ENDED ||
        c->auth_rounds >= SIP__CALL_AUTH_ROUNDS)
        return 0;
    sip_msg_t *m = NULL;
    if (sip__ua_auth_next(c->ua, c->invite, rsp, c->auth_rounds == 0, &m) != 0) return 0;
    sip_netinfo_t ni;
    const sip_netinfo_t *was = sip_msg_get_netinfo(c->invite);
    if (was) ni = *was;
    int rc = sip__call_uac_resend(c, m, was && ni.remote_ip[0] ? &ni : NULL);
    sip_msg_unref(m);
    if (rc) return 0;
    c->auth_rounds++;
    return 1;
}

static void on_inv_response(sip_txn_t *txn, int status, const sip_msg_t *crsp, void *user)
{
    (void)txn;
    sip_call_t *c = user;
    sip_msg_t *rsp = (sip_msg_t *)crsp;
    c->holds++;
    if (status > 100 && status < 200 && rsp && sip__call_prack_filter(c, rsp)) goto out;
    /* The application hears each response once: a 2xx sent again is the core's to ACK. */
    if (rsp && c->state != SIP_CALL_ENDED && !(status >= 200 && status < 300 && c->ack))
        sip__call_emit(c, SIP_CALL_EVENT_RESPONSE, rsp, NULL);
    /* A 422 or a challenge sent again is not the end of the INVITE: timeout_ms goes on. */
    int again = status >= 300 && rsp && !c->ack &&
                ((status == 422 && sip__call_st_422(c, rsp)) ||
                 ((status == 401 || status == 407) && auth_retry(c, rsp)));
    if (status >= 200 && c->ua && !again) sip__tq_stop(&c->ua->tq, &c->t_timeout);
    if (status >= 200 && status < 300 && rsp) {
        /* RFC 7616 §3.5: the first 2xx (not one sent again) may carry a nextnonce. */
        if (!c->ack) sip__ua_auth_done(c->ua, c->invite, rsp);
        on_2xx(c, rsp);
    } else if (status > 100 && status < 200 && rsp) {
        sip_str_t tag = sip_msg_get_to(rsp)->tag;
        if (tag.len && c->state != SIP_CALL_ENDED) {
            sip__fork_t *f = fork_of(c, tag);
            if (!f)
                f = add_fork(c, rsp);
            else
                sip_dialog_receive_response(f->dlg, rsp);
            if (f && c->dlg != f->dlg) {
                sip_dialog_unref(c->dlg);
                c->dlg = sip_dialog_ref(f->dlg);
            }
            if (f) fork_sdp(c, f, rsp, NULL);
            if (f) sip__call_prack_1xx(c, f, rsp);
            sip__call_set_state(c, SIP_CALL_EARLY, rsp);
        }
    } else if ((status >= 300 || !rsp) && !again) {
        /* A challenge the UA's credentials do not answer ends the call with it. */
        if (!c->ack) sip__call_end(c, status, rsp, c->hanging_up);
    }
out:
    sip__call_release(c);
}

int sip__call_uac_resend(sip_call_t *c, sip_msg_t *req, const sip_netinfo_t *dst)
{
    sip_txn_t *t = NULL;
    sip__call_hold(c);
    int rc = sip__ua_send(c->ua, &t, req, dst, on_inv_response, c, sip__call_inv_done);
    if (rc) return rc;
    c->inv_superseded++;
    sip_txn_unref(c->inv_txn);
    c->inv_txn = t;
    sip_msg_unref(c->invite);
    c->invite = sip_msg_ref(req);
    c->inv_cseq = sip_msg_get_cseq(req)->seq;
    return 0;
}

/* opts.timeout_ms passed without a final response: CANCEL. */
void sip__call_uac_timeout(sip_call_t *c)
{
    if (c->state == SIP_CALL_CALLING || c->state == SIP_CALL_EARLY) {
        c->hanging_up = 1;
        sip_txn_cancel(c->inv_txn);
    }
}

/* A 2xx after the INVITE's transaction ended (RFC 6026 keeps it 64*T1; a 2xx after that is
 * a retransmission that found no transaction). */
void sip__call_on_stray(sip_call_t *c, sip_dialog_t *d, sip_msg_t *rsp)
{
    (void)d;
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    int st = sip_msg_get_status(rsp);
    if (!cs || cs->method != SIP_METHOD_INVITE || st < 200 || st >= 300) return;
    if (c->uac && cs->seq == c->inv_cseq && c->ack) sip__ua_send_stateless(c->ua, c->ack);
    /* A 2xx to our re-INVITE again, after its transaction: its ACK again. */
    if (c->mod_ack && cs->seq == c->mod_ack_cseq) sip__ua_send_stateless(c->ua, c->mod_ack);
}
