/* SPDX-License-Identifier: MIT */
/* Reliable provisional responses in a call (RFC 3262): the UAS sends its 1xx with RSeq until
 * the PRACK, holds a 2xx behind an unacknowledged 1xx with SDP; the UAC PRACKs each reliable
 * 1xx in its fork's early dialog, with the answer when the 1xx carried an offer. The rules
 * are call/rel1xx.h's; this file sends, arms and answers. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "call/ext.h"
#include "sip/error.h"

static void fire_rel(sip__tq_entry_t *e);
static void fire_session(sip__tq_entry_t *e);
void sip__call_st_fire(sip_call_t *c);

void sip__call_ext_new(sip_call_t *c)
{
    sip__tq_entry_init(&c->t_rel, fire_rel);
    sip__tq_entry_init(&c->t_session, fire_session);
    sip__timer_cfg_init(&c->st_cfg);
    sip__timer_init(&c->st, &c->st_cfg, c->uac);
    c->rel_mode = SIP__100REL_SUPPORTED;
}

void sip__call_ext_stop(sip_call_t *c)
{
    if (!c->ua) return;
    sip__tq_stop(&c->ua->tq, &c->t_rel);
    sip__tq_stop(&c->ua->tq, &c->t_session);
}

void sip__call_ext_free(sip_call_t *c)
{
    for (size_t i = 0; i < c->nforks; i++) {
        sip_txn_unref(c->forks[i].prack_txn);
        sip_msg_unref(c->forks[i].prack_req);
        free(c->forks[i].prack_sdp);
    }
    sip_msg_unref(c->rel_1xx);
    for (size_t i = 0; i < c->rel_nq; i++)
        sip_msg_unref(c->rel_q[i]);
    free(c->rel_q);
    free(c->rel_q_sdp);
    sip_msg_unref(c->st_req);
    free(c->held_sdp);
}

static void fire_session(sip__tq_entry_t *e)
{
    sip__call_st_fire((sip_call_t *)((char *)e - offsetof(sip_call_t, t_session)));
}

/* ---- UAC (§4) -------------------------------------------------------------------------------- */

static sip__fork_t *fork_by_tag(sip_call_t *c, sip_str_t tag)
{
    for (size_t i = 0; i < c->nforks; i++)
        if (sip_str_eq(sip_dialog_get_remote_tag(c->forks[i].dlg), tag)) return &c->forks[i];
    return NULL;
}

static void on_prack_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user);

/* RFC 3261 §22.2, §8.1.3.5: the fork's PRACK challenged (a proxy on the route asks, as for any
 * request of the dialog), and the UA's credentials answer: the same PRACK again with them, a
 * new branch and the early dialog's next CSeq (RFC 3262 §7.1: a PRACK is an ordinary request
 * of the dialog). Not once the call ended or another fork's 2xx confirmed it. 1 when sent. */
static int prack_auth_retry(sip_call_t *c, size_t i, const sip_msg_t *rsp)
{
    sip__fork_t *f = &c->forks[i];
    sip_msg_t *next = NULL;
    if (!c->ua || c->state == SIP_CALL_ENDED || !f->prack_req || (c->dlg && c->dlg != f->dlg) ||
        f->prack_rounds >= SIP__CALL_AUTH_ROUNDS ||
        sip__ua_auth_next(c->ua, f->prack_req, rsp, f->prack_rounds == 0, &next) != 0)
        return 0;
    sip_txn_t *t = NULL;
    sip__call_hold(c);
    int rc = sip__ua_send(c->ua, &t, next, NULL, on_prack_response, c, sip__call_release);
    if (rc) {
        sip_msg_unref(next);
        return 0;
    }
    f = &c->forks[i];
    f->prack_rounds++;
    sip_txn_unref(f->prack_txn);
    f->prack_txn = t;
    sip_msg_unref(f->prack_req);
    f->prack_req = next;
    return 1;
}

static void on_prack_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    sip_call_t *c = user;
    if (status < 200) return;
    /* The PRACK is over: a retransmitted 1xx from now on gets a new one. */
    for (size_t i = 0; i < c->nforks; i++) {
        if (c->forks[i].prack_txn != txn) continue;
        sip_txn_unref(txn);
        c->forks[i].prack_txn = NULL;
        if (rsp && (status == 401 || status == 407)) {
            prack_auth_retry(c, i, rsp);
        } else if (c->ua && c->forks[i].prack_req) {
            /* RFC 7616 §3.5: a 2xx's nextnonce is for the next request. */
            sip__ua_auth_done(c->ua, c->forks[i].prack_req, rsp);
        }
        break;
    }
}

/* RFC 3262 §7.1: PRACK in the fork's early dialog, RAck naming the 1xx; with sdp, the answer
 * to the offer that 1xx carried (§5). */
static int send_prack(sip_call_t *c, sip__fork_t *f, const sip_msg_t *rsp, const char *sdp)
{
    char rack[96];
    if (!c->ua || sip__rel1xx_rack(rsp, rack, sizeof(rack)) < 0) return SIP_EINVAL;
    sip_msg_t *req = NULL;
    int rc = sip_dialog_create_request(&req, f->dlg, "PRACK");
    if (!rc) rc = sip_msg_add_header(req, "RAck", rack);
    if (!rc) rc = sip__call_add_sdp(req, sdp);
    if (rc) {
        sip_msg_unref(req);
        return rc;
    }
    sip_txn_t *t = NULL;
    sip__call_hold(c);
    rc = sip__ua_send(c->ua, &t, req, NULL, on_prack_response, c, sip__call_release);
    if (rc) {
        sip_msg_unref(req);
        return rc;
    }
    sip_txn_unref(f->prack_txn);
    f->prack_txn = t;
    sip_msg_unref(f->prack_req);
    f->prack_req = req;
    f->prack_rounds = 0;
    return 0;
}

int sip__call_prack_filter(sip_call_t *c, sip_msg_t *rsp)
{
    sip__fork_t *f = fork_by_tag(c, sip_msg_get_to(rsp)->tag);
    sip__rel1xx_uac_t fresh = {0};
    sip__rel1xx_verdict_t v = sip__rel1xx_uac_accept(f ? &f->rel : &fresh, c->rel_mode, rsp);
    switch (v) {
    case SIP__REL1XX_UNRELIABLE:
    case SIP__REL1XX_NEW: return 0; /* sip__call_prack_1xx() PRACKs it once its fork is set */
    case SIP__REL1XX_DUPLICATE:
        /* A retransmission: not reported again. Its PRACK is still being retransmitted by
         * its own transaction, or is over and the UAS missed it: then a new one (§4). */
        if (f && !f->prack_txn) send_prack(c, f, rsp, f->prack_sdp);
        return 1;
    default: return 1; /* out of order, stale or malformed: neither handled nor PRACKed */
    }
}

void sip__call_prack_cseq(sip_call_t *c, sip_dialog_t *d)
{
    /* The fork's early dialog sent PRACKs: a BYE with a CSeq not above theirs would get 500
     * (RFC 3261 §12.2.2). */
    sip__fork_t *f = fork_by_tag(c, d->remote_tag);
    if (f && f->dlg->local_cseq > d->local_cseq) d->local_cseq = f->dlg->local_cseq;
}

static uint32_t rseq_of(const sip_msg_t *rsp)
{
    const sip_header_t *h = sip_msg_header_at(rsp, SIP_HDR_RSEQ, 0);
    const sip_num_t *n = h ? sip_header_num(h) : NULL;
    return n ? n->value : 0;
}

void sip__call_prack_1xx(sip_call_t *c, sip__fork_t *f, sip_msg_t *rsp)
{
    if (c->rel_mode == SIP__100REL_OFF || !sip__ext_has(rsp, SIP_HDR_REQUIRE, "100rel")) return;
    uint32_t rseq = rseq_of(rsp);
    /* A fork this 1xx made has not judged it yet (sip__call_prack_filter() had no state). */
    if (!f->rel.have && sip__rel1xx_uac_accept(&f->rel, c->rel_mode, rsp) != SIP__REL1XX_NEW)
        return;
    if (f->rel.last_rseq != rseq || (f->pracked == rseq && rseq != 0)) return;
    f->pracked = rseq;
    /* RFC 3262 §5: an offer in a reliable 1xx is answered in the PRACK; with the engine the
     * fork's own negotiator answers it. */
    char *answer = NULL;
    if (f->oa && sip__call_has_sdp(rsp) && sip_oa_get_state(f->oa) == SIP_OA_IDLE &&
        sip__call_answer(f->oa, rsp, &answer) == 0)
        sip__call_media_done(c, f->oa, rsp);
    free(f->prack_sdp);
    f->prack_sdp = answer;
    send_prack(c, f, rsp, answer);
}

/* ---- UAS (§3) -------------------------------------------------------------------------------- */

static void respond(sip_call_t *c, sip_txn_t *txn, int status, const char *sdp)
{
    sip_msg_t *rsp = NULL;
    int rc = sip_ua_create_response(&rsp, c->ua, txn, status, NULL);
    if (!rc) rc = sip__call_add_sdp(rsp, sdp);
    if (!rc) sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

/* §3: one reliable 1xx outstanding at a time: a later one waits for the PRACK, in order. */
static int queue_1xx(sip_call_t *c, sip_msg_t *rsp, int has_sdp)
{
    sip_msg_t **q = realloc(c->rel_q, (c->rel_nq + 1) * sizeof(*q));
    if (!q) return SIP_ENOMEM;
    c->rel_q = q;
    unsigned char *s = realloc(c->rel_q_sdp, c->rel_nq + 1);
    if (!s) return SIP_ENOMEM;
    c->rel_q_sdp = s;
    c->rel_q[c->rel_nq] = sip_msg_ref(rsp);
    c->rel_q_sdp[c->rel_nq++] = has_sdp ? 1 : 0;
    return 0;
}

static void drop_queue(sip_call_t *c)
{
    for (size_t i = 0; i < c->rel_nq; i++)
        sip_msg_unref(c->rel_q[i]);
    c->rel_nq = 0;
}

int sip__call_prack_send_1xx(sip_call_t *c, sip_msg_t *rsp, int has_sdp)
{
    if (!c->rel_on) return sip_txn_reply(c->inv_txn, rsp);
    uint32_t rseq = 0;
    int rc = sip__tq_reserve(&c->ua->tq, 1);
    if (rc) return rc;
    sip__rel1xx_uas_t was = c->rel;
    rc = sip__rel1xx_uas_next(&c->rel, sip_msg_get_status(rsp), has_sdp, &rseq);
    if (rc == SIP__REL1XX_WAIT) return queue_1xx(c, rsp, has_sdp);
    if (rc < 0) return rc;
    char v[16];
    snprintf(v, sizeof(v), "%u", rseq);
    rc = sip__ext_add(rsp, SIP_HDR_REQUIRE, SIP__EXT_100REL);
    if (!rc) rc = sip_msg_add_header(rsp, "RSeq", v);
    if (!rc) rc = sip_txn_reply(c->inv_txn, rsp);
    if (rc) {
        /* Not sent: the next one takes this RSeq (a gap would never be PRACKed, §4), and no
         * PRACK is awaited. */
        c->rel = was;
        return rc;
    }
    sip_msg_unref(c->rel_1xx);
    c->rel_1xx = sip_msg_ref(rsp);
    c->rel_offer = has_sdp && !c->offer_in_invite;
    sip__tq_start(&c->ua->tq, &c->t_rel, sip__rel1xx_uas_delay(&c->rel));
    return 0;
}

/* §3: the reliable 1xx again at T1, 2*T1 ...; 64*T1 without PRACK fails the INVITE with 5xx. */
static void fire_rel(sip__tq_entry_t *e)
{
    sip_call_t *c = (sip_call_t *)((char *)e - offsetof(sip_call_t, t_rel));
    if (!c->ua || c->state == SIP_CALL_ENDED) return;
    switch (sip__rel1xx_uas_retransmit(&c->rel)) {
    case SIP__REL1XX_RESEND:
        if (c->rel_1xx) sip_txn_reply(c->inv_txn, c->rel_1xx);
        sip__tq_start(&c->ua->tq, &c->t_rel, sip__rel1xx_uas_delay(&c->rel));
        break;
    case SIP__REL1XX_EXPIRED:
        c->holds++;
        respond(c, c->inv_txn, 500, NULL);
        sip__call_end(c, 500, NULL, 0);
        sip__call_release(c);
        break;
    case SIP__REL1XX_IDLE: break;
    }
}

const char *sip__call_prack_offer(sip_call_t *c, int status)
{
    /* RFC 3262 §5: an INVITE without an offer may get it in a reliable 1xx, answered in the
     * PRACK. A 183 (early media) is the one that carries it. */
    if (!c->rel_on || !c->oa || c->offer_in_invite || status != 183 ||
        sip_oa_get_state(c->oa) != SIP_OA_IDLE)
        return NULL;
    char *offer = NULL;
    if (sip__call_offer(c->oa, &offer) != 0) return NULL;
    free(c->local_sdp);
    c->local_sdp = offer;
    return offer;
}

int sip__call_prack_hold_2xx(sip_call_t *c, int status, const char *sdp)
{
    if (!c->rel_on) return 0;
    int rc = sip__rel1xx_uas_final(&c->rel, status);
    if (rc < 0) return rc;
    if (rc == SIP__REL1XX_SEND) {
        /* The final response goes: the 1xx is not sent again (its PRACK still gets 200), and
         * the ones still queued are overtaken by it. */
        sip__tq_stop(&c->ua->tq, &c->t_rel);
        drop_queue(c);
        return 0;
    }
    /* §3: the 2xx waits for the PRACK of a reliable 1xx that carries SDP. */
    char *copy = NULL;
    rc = sip__call_set_str(&copy, sdp);
    if (rc) return rc;
    free(c->held_sdp);
    c->held_sdp = copy;
    c->held_status = status;
    c->held = 1;
    return 1;
}

void sip__call_on_prack(sip_call_t *c, sip_txn_t *txn, sip_msg_t *req)
{
    int st = !c->uac && c->rel_on ? sip__rel1xx_uas_prack(&c->rel, req) : 481;
    if (st != 200) {
        respond(c, txn, st, NULL);
        return;
    }
    if (c->ua) sip__tq_stop(&c->ua->tq, &c->t_rel);
    char *answer = NULL;
    if (sip__call_has_sdp(req) && c->rel_offer) {
        /* §5: the answer to the offer of our reliable 1xx; the 2xx then carries no SDP. */
        c->rel_offer = 0;
        c->rel_oa_done = 1;
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) {
            if (sip__call_take_answer(c->oa, req) == 0) sip__call_media_done(c, c->oa, req);
        } else if (!c->oa && sip__call_take_sdp(&c->remote_sdp, req) == 1) {
            sip__call_media_done(c, NULL, req);
        }
    } else if (sip__call_has_sdp(req)) {
        /* §5: a new offer in the PRACK, answered in its 200: the engine's. */
        if (!c->oa || sip__call_answer(c->oa, req, &answer) != 0) {
            respond(c, txn, 488, NULL);
            return;
        }
    }
    respond(c, txn, 200, answer);
    if (answer) sip__call_media_done(c, c->oa, req);
    free(answer);
    sip_msg_unref(c->rel_1xx);
    c->rel_1xx = NULL;
    if (!c->held && c->rel_nq && c->state != SIP_CALL_ENDED) {
        /* The next queued reliable 1xx goes now. */
        sip_msg_t *next = c->rel_q[0];
        int sdp = c->rel_q_sdp[0];
        c->rel_nq--;
        memmove(c->rel_q, c->rel_q + 1, c->rel_nq * sizeof(*c->rel_q));
        memmove(c->rel_q_sdp, c->rel_q_sdp + 1, c->rel_nq);
        sip__call_prack_send_1xx(c, next, sdp);
        sip_msg_unref(next);
    }
    if (c->held && c->state != SIP_CALL_ENDED) {
        /* The 2xx that waited for this PRACK goes now. */
        char *sdp = c->held_sdp;
        c->held_sdp = NULL;
        c->held = 0;
        if (sip_call_answer(c, c->held_status, sdp) != 0) {
            respond(c, c->inv_txn, 500, NULL);
            sip__call_end(c, 500, NULL, 1);
        }
        free(sdp);
    }
}
