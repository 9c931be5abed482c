/* SPDX-License-Identifier: MIT */
/* Session timers in a call (RFC 4028), and the option tags of the INVITE (100rel, timer): the
 * call's configuration, Session-Expires on its requests and 2xx, the 422 retry, the refresh
 * (UPDATE when the peer allows it, else re-INVITE) and the BYE when no refresh came. The rules
 * are call/timer.h's; this file sends and arms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "call/ext.h"
#include "sip/error.h"

/* A refresh that cannot go now (our own re-INVITE or the peer's offer is open) is tried again
 * after this; the exchange in progress usually re-arms the timer first. */
#define REFRESH_RETRY_MS 1000

static void configure(sip_call_t *c, const sip_call_opts_t *o)
{
    sip__timer_cfg_init(&c->st_cfg);
    c->rel_mode = SIP__100REL_SUPPORTED;
    if (o) {
        if (o->rel100 == SIP_CALL_100REL_OFF) c->rel_mode = SIP__100REL_OFF;
        if (o->rel100 == SIP_CALL_100REL_REQUIRED) c->rel_mode = SIP__100REL_REQUIRED;
        switch (o->session_timer) {
        case SIP_CALL_TIMER_OFF: c->st_cfg.mode = SIP__TIMER_OFF; break;
        case SIP_CALL_TIMER_ALWAYS: c->st_cfg.mode = SIP__TIMER_ALWAYS; break;
        case SIP_CALL_TIMER_REQUIRED: c->st_cfg.mode = SIP__TIMER_REQUIRED; break;
        default: c->st_cfg.mode = SIP__TIMER_SUPPORTED; break;
        }
        if (o->session_expires) c->st_cfg.session_expires = o->session_expires;
        /* RFC 4028 §4: never below 90 s. */
        if (o->min_se)
            c->st_cfg.min_se = o->min_se > SIP__TIMER_MIN_SE ? o->min_se : SIP__TIMER_MIN_SE;
        if (o->refresher == SIP_CALL_REFRESHER_LOCAL) c->st_cfg.prefer = SIP__TIMER_PREFER_LOCAL;
        if (o->refresher == SIP_CALL_REFRESHER_REMOTE) c->st_cfg.prefer = SIP__TIMER_PREFER_REMOTE;
    }
    sip__timer_init(&c->st, &c->st_cfg, c->uac);
}

/* The option tags and the session-timer headers of a request this side sends (RFC 3262 §4 for
 * the INVITE's 100rel, RFC 4028 §7.1 and §7.4). */
static int add_request_ext(sip_call_t *c, sip_msg_t *req, int invite)
{
    unsigned sup = 0, need = 0;
    if (invite) sip__rel1xx_request_tags(c->rel_mode, &sup, &need);
    sip__timer_hdrs_t h;
    sip__timer_uac_request(&c->st, &c->st_cfg, &h);
    sup |= h.supported;
    need |= h.require;
    int rc = sip__ext_add(req, SIP_HDR_SUPPORTED, sup);
    if (!rc && need) rc = sip__ext_add(req, SIP_HDR_REQUIRE, need);
    if (!rc) rc = sip__timer_add_headers(req, &h);
    return rc;
}

/* A call with an extension off does not list it, whatever the UA's Supported says: a peer
 * would rely on it (a UAS sending reliable 1xx that are never PRACKed fails the INVITE). */
static void drop_off_tags(sip_call_t *c, sip_msg_t *m)
{
    for (size_t i = 0;;) {
        const sip_header_t *h = sip_msg_header_at(m, SIP_HDR_SUPPORTED, i);
        if (!h) break;
        const sip_token_t *t = sip_header_token(h);
        if (t && ((c->rel_mode == SIP__100REL_OFF && sip_str_caseeq_cstr(t->value, "100rel")) ||
                  (c->st_cfg.mode == SIP__TIMER_OFF && sip_str_caseeq_cstr(t->value, "timer"))))
            sip_msg_remove_header(m, "Supported", i);
        else
            i++;
    }
}

int sip__call_ext_invite(sip_call_t *c, const sip_call_opts_t *opts, sip_msg_t *req)
{
    configure(c, opts);
    drop_off_tags(c, req);
    return add_request_ext(c, req, 1);
}

/* Refuses the INVITE with status and one more header. */
static void refuse(sip_call_t *c, int status, const char *name, const char *value,
                   const sip__timer_hdrs_t *h)
{
    sip_msg_t *rsp = NULL;
    int rc = sip_ua_create_response(&rsp, c->ua, c->inv_txn, status, NULL);
    if (!rc && name) rc = sip_msg_add_header(rsp, name, value);
    if (!rc && h) rc = sip__timer_add_headers(rsp, h);
    if (!rc) sip_txn_reply(c->inv_txn, rsp);
    sip_msg_unref(rsp);
}

int sip__call_ext_accept(sip_call_t *c, const sip_call_opts_t *opts)
{
    configure(c, opts);
    const sip_msg_t *req = c->invite;
    int reliable = 0;
    /* RFC 3262 §3, RFC 3261 §8.2.2.3: 420 for 100rel Required here and off; 421 when this side
     * requires it and the INVITE does not offer it. */
    int st = sip__rel1xx_uas_decide(c->rel_mode, req, &reliable);
    if (st < 0) return st;
    if (st == 420 || st == 421) {
        refuse(c, st, st == 420 ? "Unsupported" : "Require", "100rel", NULL);
        return SIP_ENOTACCEPTABLE;
    }
    /* RFC 4028 §9: 422 with Min-SE for a Session-Expires below ours, 420 for timer Required
     * with timers off. */
    sip__timer_neg_t n;
    if (sip__timer_uas_request(&c->st, &c->st_cfg, req, &n) >= 0 && n.status) {
        if (n.status == 422)
            refuse(c, 422, NULL, NULL, &n.hdrs);
        else
            refuse(c, n.status, "Unsupported", "timer", NULL);
        return SIP_ENOTACCEPTABLE;
    }
    if (reliable) {
        int rc = sip__rel1xx_uas_init(&c->rel, c->inv_cseq, SIP_METHOD_INVITE, c->ua->t1_ms, 0);
        if (rc) return rc;
        c->rel_on = 1;
    }
    c->peer_update = sip__ext_has(req, SIP_HDR_ALLOW, "UPDATE");
    return 0;
}

/* ---- the timer ------------------------------------------------------------------------------ */

/* RFC 4028 §10: from the last refresh, the refresher refreshes at half the interval, the other
 * side sends BYE at the interval less min(32 s, a third). */
static void arm(sip_call_t *c)
{
    if (!c->ua) return;
    uint64_t ms = sip__timer_next_ms(&c->st);
    if (!ms) {
        sip__tq_stop(&c->ua->tq, &c->t_session);
        return;
    }
    if (sip__tq_reserve(&c->ua->tq, 1) == 0) sip__tq_start(&c->ua->tq, &c->t_session, ms);
}

void sip__call_st_fire(sip_call_t *c)
{
    if (!c->ua || c->state == SIP_CALL_ENDED || !c->st.interval) return;
    c->holds++;
    if (!c->st.local_refresher) {
        /* §10: no refresh came in time: the session is over. */
        if (c->dlg) sip__call_send_bye(c, c->dlg);
        sip__call_end(c, 408, NULL, 0);
    } else {
        /* §10: refresh with the session as it is: UPDATE when the peer allows it (without
         * an offer unless the engine makes its unchanged one), else re-INVITE. */
        int rc;
        if (c->peer_update)
            rc = sip_call_update(c, NULL);
        else
            rc = sip_call_reinvite(c, c->oa ? NULL : c->local_sdp);
        if (rc == SIP_EBUSY || (rc == SIP_ECLOSED && c->state != SIP_CALL_ENDED))
            sip__tq_start(&c->ua->tq, &c->t_session, REFRESH_RETRY_MS);
    }
    sip__call_release(c);
}

/* ---- UAC ------------------------------------------------------------------------------------ */

int sip__call_st_422(sip_call_t *c, const sip_msg_t *rsp)
{
    if (!c->ua || c->hanging_up || c->state == SIP_CALL_ENDED) return 0;
    if (sip__timer_uac_422(&c->st, c->invite, rsp) != 1) return 0;
    /* RFC 4028 §7.4: the INVITE again with the larger Session-Expires and Min-SE, as a new
     * request of the same call (Call-ID and From tag kept, CSeq one higher, a new branch), the
     * way RFC 3261 §8.1.3.5 retries a request. */
    sip_msg_t *m = NULL;
    char cseq[32];
    snprintf(cseq, sizeof(cseq), "%u INVITE", c->inv_cseq + 1);
    int rc = sip_msg_clone(&m, c->invite);
    if (!rc) {
        sip_msg_remove_headers(m, "Via");
        sip_msg_remove_headers(m, "Session-Expires");
        sip_msg_remove_headers(m, "Min-SE");
        rc = sip_msg_set_header(m, "CSeq", cseq);
    }
    if (!rc) rc = add_request_ext(c, m, 1);
    sip_netinfo_t ni;
    const sip_netinfo_t *was = sip_msg_get_netinfo(c->invite);
    if (was) ni = *was;
    if (!rc) rc = sip__call_uac_resend(c, m, was && ni.remote_ip[0] ? &ni : NULL);
    sip_msg_unref(m);
    return rc == 0;
}

int sip__call_st_superseded(sip_call_t *c)
{
    /* The replaced transaction got its final response before the new one was sent, so it
     * ends first. */
    if (!c->inv_superseded) return 0;
    c->inv_superseded--;
    sip__call_release(c);
    return 1;
}

void sip__call_st_2xx(sip_call_t *c, const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!req || !rsp) return;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE && c->uac && req == c->invite)
        c->peer_update = sip__ext_has(rsp, SIP_HDR_ALLOW, "UPDATE");
    sip__timer_neg_t n;
    if (sip__timer_uac_response(&c->st, &c->st_cfg, req, rsp, &n) != 0) return;
    sip__timer_commit(&c->st, &n, 1);
    arm(c);
}

int sip__call_st_request(sip_call_t *c, sip_msg_t *req)
{
    int rc = add_request_ext(c, req, 0);
    if (rc) return rc;
    sip_msg_unref(c->st_req);
    c->st_req = sip_msg_ref(req);
    return 0;
}

int sip__call_st_failed(sip_call_t *c, int status, const sip_msg_t *rsp)
{
    if (status == 422 && rsp && c->st_req && sip__timer_uac_422(&c->st, c->st_req, rsp) == 1) {
        /* RFC 4028 §7.3: the same request again, asking for at least the 422's Min-SE. */
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        char *sdp = NULL;
        if (sip__call_set_str(&sdp, c->mod_sdp) != 0) return 0;
        int rc = c->mod_method == SIP_METHOD_INVITE ? sip_call_reinvite(c, sdp)
                                                    : sip_call_update(c, sdp);
        free(sdp);
        return rc == 0;
    }
    /* §10: a refresh answered 408 (481 and no answer are the dialog's, handled by the
     * caller) ends the session. */
    if (c->st.interval && status == 408 && rsp && sip__timer_refresh_fatal(status)) {
        if (c->oa && sip_oa_get_state(c->oa) == SIP_OA_LOCAL_OFFER) sip_oa_cancel_offer(c->oa);
        sip__call_send_bye(c, c->dlg);
        sip__call_end(c, 408, (sip_msg_t *)rsp, 0);
        return 1;
    }
    return 0;
}

/* ---- UAS ------------------------------------------------------------------------------------ */

int sip__call_st_check(sip_call_t *c, sip_txn_t *txn, const sip_msg_t *req)
{
    sip__timer_neg_t n;
    if (sip__timer_uas_request(&c->st, &c->st_cfg, req, &n) < 0 || !n.status) return 0;
    sip_msg_t *rsp = NULL;
    int rc = sip_ua_create_response(&rsp, c->ua, txn, n.status, NULL);
    if (!rc && n.status == 420) rc = sip_msg_add_header(rsp, "Unsupported", "timer");
    if (!rc && n.status == 422) rc = sip__timer_add_headers(rsp, &n.hdrs);
    if (!rc) sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
    return 1;
}

int sip__call_st_answer(sip_call_t *c, const sip_msg_t *req, sip_msg_t *rsp)
{
    drop_off_tags(c, rsp);
    sip__timer_neg_t n;
    if (!req || sip__timer_uas_request(&c->st, &c->st_cfg, req, &n) < 0 || n.status) return 0;
    /* RFC 4028 §9: Session-Expires with the refresher, and Require: timer when the UAC
     * supports it. */
    int rc = n.hdrs.require ? sip__ext_add(rsp, SIP_HDR_REQUIRE, n.hdrs.require) : 0;
    if (!rc && n.hdrs.supported) rc = sip__ext_add(rsp, SIP_HDR_SUPPORTED, n.hdrs.supported);
    if (!rc) rc = sip__timer_add_headers(rsp, &n.hdrs);
    if (rc) return rc;
    /* Each refresh received restarts the timer (§10). */
    sip__timer_commit(&c->st, &n, 0);
    arm(c);
    return 0;
}
