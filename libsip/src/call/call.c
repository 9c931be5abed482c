/* SPDX-License-Identifier: MIT */
/* INVITE sessions: the call object, its life and its end. The UAC and UAS halves are in
 * uac.c and uas.c; requests inside the call in dialog.c. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "core/mem.h"
#include "core/live_int.h"
#include "sip/error.h"

void sip_call_opts_init(sip_call_opts_t *o)
{
    if (o) *o = (sip_call_opts_t){0};
}

static void call_free(sip_call_t *c)
{
    sip__call_ext_free(c);
    sip_txn_unref(c->inv_txn);
    sip_txn_unref(c->ok_txn);
    sip_msg_unref(c->invite);
    sip_msg_unref(c->ok);
    sip_msg_unref(c->ack);
    sip_dialog_unref(c->dlg);
    for (size_t i = 0; i < c->nforks; i++) {
        sip_dialog_unref(c->forks[i].dlg);
        sip_oa_unref(c->forks[i].oa);
    }
    free(c->forks);
    sip_oa_unref(c->oa);
    sip_txn_unref(c->mod_txn);
    sip_txn_unref(c->offer_txn);
    sip_msg_unref(c->mod_ack);
    if (c->replaces) sip__call_release(c->replaces);
    free(c->mod_sdp);
    free(c->ack_sdp);
    free(c->local_sdp);
    free(c->remote_sdp);
    free(c->bye_reason);
    free(c->next_headers);
    free(c);
    sip__live_dec(SIP_LIVE_CALL);
}

static void maybe_free(sip_call_t *c)
{
    if (c->refs == 0 && c->holds == 0) call_free(c);
}

void sip__call_hold(sip_call_t *c)
{
    c->holds++;
}

void sip__call_release(void *user)
{
    sip_call_t *c = user;
    c->holds--;
    maybe_free(c);
}

/* The INVITE's transaction is over for the call (its ACK came, or the client transaction
 * ended): what only it needed goes, so that an established call keeps just its dialog and
 * session state. */
void sip__call_shed(sip_call_t *c)
{
    sip_msg_unref(c->invite);
    c->invite = NULL;
    sip_txn_unref(c->inv_txn);
    c->inv_txn = NULL;
}

/* The user_free of the INVITE client transaction's callback. */
void sip__call_inv_done(void *user)
{
    sip_call_t *c = user;
    if (sip__call_st_superseded(c)) return;
    sip__call_shed(c);
    /* A 2xx sent again after the transaction's 64*T1 is rare: its ACK goes with it. */
    sip_msg_unref(c->ack);
    c->ack = NULL;
    sip__call_release(c);
}

/* The user_free of a re-INVITE's or UPDATE's client transaction: the ACK of that re-INVITE's
 * 2xx is not needed after it (a later re-INVITE's is kept). */
void sip__call_mod_done(void *user)
{
    sip__call_mod_t *m = user;
    sip_call_t *c = m->call;
    if (c->mod_ack && c->mod_ack_cseq == m->cseq) {
        sip_msg_unref(c->mod_ack);
        c->mod_ack = NULL;
    }
    free(m);
    sip__call_release(c);
}

static void fire_retx(sip__tq_entry_t *e);
static void fire_giveup(sip__tq_entry_t *e);
static void fire_timeout(sip__tq_entry_t *e);
static void fire_glare(sip__tq_entry_t *e);

sip_call_t *sip__call_new(sip_ua_t *ua, int uac, sip_call_event_cb cb, void *user,
                          sip_free_fn user_free)
{
    sip_call_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    sip__live_inc(SIP_LIVE_CALL);
    c->refs = 1;
    c->ua = ua;
    c->uac = uac ? 1 : 0;
    c->cb = cb;
    c->user = user;
    c->user_free = user_free;
    sip__tq_entry_init(&c->t_retx, fire_retx);
    sip__tq_entry_init(&c->t_giveup, fire_giveup);
    sip__tq_entry_init(&c->t_timeout, fire_timeout);
    sip__tq_entry_init(&c->t_glare, fire_glare);
    sip__call_ext_new(c);
    return c;
}

/* Frees a call that never started: the application's user_free runs, as for any failure. */
void sip__call_discard(sip_call_t *c)
{
    sip_free_fn f = c->user_free;
    void *u = c->user;
    c->user_free = NULL;
    c->cb = NULL;
    c->refs = 0;
    if (f) f(u);
    maybe_free(c);
}

void sip__call_link(sip_ua_t *ua, sip_call_t *c)
{
    if (c->linked) return;
    c->linked = 1;
    c->holds++;
    c->prev = NULL;
    c->next = ua->calls;
    if (ua->calls) ua->calls->prev = c;
    ua->calls = c;
    ua->ncalls++;
}

void sip__call_unlink(sip_ua_t *ua, sip_call_t *c)
{
    if (!c->linked) return;
    c->linked = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        ua->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    ua->ncalls--;
    sip__call_release(c);
}

void sip__call_emit(sip_call_t *c, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn)
{
    if (!c->cb && !c->hook) return;
    c->holds++;
    /* A bridge sees the event first and may take it (a relayed offer is its to answer). */
    int taken = c->hook && c->hook(c, ev, msg, txn, c->hook_user);
    if (!taken && c->cb) c->cb(c, ev, msg, txn, c->user);
    sip__call_release(c);
}

void sip__call_set_state(sip_call_t *c, sip_call_state_t st, sip_msg_t *msg)
{
    if (c->state == st || c->state == SIP_CALL_ENDED) return;
    c->state = st;
    /* RFC 3891 §3: once the call that replaces another is confirmed, the other ends (BYE,
     * or CANCEL for an early one of ours). */
    sip_call_t *old = st == SIP_CALL_CONFIRMED ? c->replaces : NULL;
    if (old) {
        c->replaces = NULL;
        if (old->state != SIP_CALL_ENDED) sip_call_hangup(old, NULL);
        sip__call_release(old);
    }
    sip__call_emit(c, SIP_CALL_EVENT_STATE, msg, NULL);
}

/* Takes the dialogs out of the UA's table, stops the timers and leaves the UA's list: nothing
 * reaches the call from the network after this. Idempotent. */
void sip__call_teardown(sip_call_t *c)
{
    sip_ua_t *ua = c->ua;
    if (ua) {
        sip__tq_stop(&ua->tq, &c->t_retx);
        sip__tq_stop(&ua->tq, &c->t_giveup);
        sip__tq_stop(&ua->tq, &c->t_timeout);
        if (c->dlg) sip__ua_dialog_remove(ua, c->dlg);
        sip__tq_stop(&ua->tq, &c->t_glare);
        sip__call_ext_stop(c);
        for (size_t i = 0; i < c->nforks; i++)
            sip__ua_dialog_remove(ua, c->forks[i].dlg);
    }
    /* RFC 5057: a dialog that still carries a subscription goes on without the call. */
    if (c->dlg && !c->dlg->usages) sip_dialog_terminate(c->dlg);
    for (size_t i = 0; i < c->nforks; i++)
        if (!c->forks[i].dlg->usages) sip_dialog_terminate(c->forks[i].dlg);
    if (ua) sip__call_unlink(ua, c);
}

/* The call is over for the application: state Ended, once. */
void sip__call_notify_end(sip_call_t *c, int status, sip_msg_t *msg, int locally)
{
    if (c->notified_end) return;
    c->notified_end = 1;
    c->end_status = status;
    c->ended_locally = locally ? 1 : 0;
    c->state = SIP_CALL_ENDED;
    sip__call_emit(c, SIP_CALL_EVENT_STATE, msg, NULL);
}

void sip__call_end(sip_call_t *c, int status, sip_msg_t *msg, int locally)
{
    c->holds++;
    sip__call_teardown(c);
    sip__call_notify_end(c, status, msg, locally);
    sip__call_release(c);
}

void sip__call_ua_closed(sip_call_t *c)
{
    c->holds++;
    if (c->hook) c->hook(c, SIP__CALL_EVENT_UA_CLOSED, NULL, NULL, c->hook_user);
    sip_txn_t *t = c->inv_txn;
    if (t) sip_txn_close(t);
    if (c->ok_txn) sip_txn_close(c->ok_txn);
    sip__call_teardown(c);
    c->notified_end = 1;
    c->state = SIP_CALL_ENDED;
    c->ua = NULL;
    sip_free_fn f = c->user_free;
    void *u = c->user;
    c->cb = NULL;
    c->user_free = NULL;
    if (f) f(u);
    sip__call_release(c);
}

sip_call_t *sip_call_ref(sip_call_t *c)
{
    if (c) c->refs++;
    return c;
}

void sip_call_unref(sip_call_t *c)
{
    if (!c || --c->refs > 0) return;
    /* The application let go of a call that goes on: hang it up, so that nothing is left
     * running that nobody can end (documented in sip/call.h). */
    c->holds++;
    if (c->state != SIP_CALL_ENDED) sip_call_hangup(c, NULL);
    sip_free_fn f = c->user_free;
    void *u = c->user;
    c->cb = NULL;
    c->user_free = NULL;
    if (f) f(u);
    sip__call_release(c);
}

/* ---- timers ---------------------------------------------------------------------------- */

void sip__call_uas_retransmit(sip_call_t *c);
void sip__call_uas_no_ack(sip_call_t *c);
void sip__call_uac_timeout(sip_call_t *c);
void sip__call_glare_retry(sip_call_t *c);

static void fire_retx(sip__tq_entry_t *e)
{
    sip__call_uas_retransmit((sip_call_t *)((char *)e - offsetof(sip_call_t, t_retx)));
}

static void fire_giveup(sip__tq_entry_t *e)
{
    sip__call_uas_no_ack((sip_call_t *)((char *)e - offsetof(sip_call_t, t_giveup)));
}

static void fire_timeout(sip__tq_entry_t *e)
{
    sip__call_uac_timeout((sip_call_t *)((char *)e - offsetof(sip_call_t, t_timeout)));
}

static void fire_glare(sip__tq_entry_t *e)
{
    sip__call_glare_retry((sip_call_t *)((char *)e - offsetof(sip_call_t, t_glare)));
}

/* ---- bodies ---------------------------------------------------------------------------- */

/* Keeps a copy of a message's SDP body (application/sdp) in *slot. */
int sip__call_take_sdp(char **slot, const sip_msg_t *msg)
{
    const sip_media_t *ct = sip_msg_get_content_type(msg);
    sip_str_t body = sip_msg_get_body(msg);
    if (!ct || !body.len || !sip_str_caseeq_cstr(ct->type, "application") ||
        !sip_str_caseeq_cstr(ct->subtype, "sdp"))
        return 0;
    char *s = malloc(body.len + 1);
    if (!s) return SIP_ENOMEM;
    memcpy(s, body.ptr, body.len);
    s[body.len] = '\0';
    free(*slot);
    *slot = s;
    return 1;
}

int sip__call_set_str(char **slot, const char *s)
{
    if (!s) return 0;
    char *d = sip__strdup(s);
    if (!d) return SIP_ENOMEM;
    free(*slot);
    *slot = d;
    return 0;
}

int sip__call_add_sdp(sip_msg_t *m, const char *sdp)
{
    if (!sdp) return 0;
    return sip_msg_set_body(m, "application/sdp", sdp, strlen(sdp));
}

/* Adds "Name: value" lines (CRLF or LF separated) to a message. */
int sip__call_add_lines(sip_msg_t *m, const char *lines)
{
    const char *p = lines;
    while (p && *p) {
        size_t n = strcspn(p, "\r\n");
        if (n) {
            const char *colon = memchr(p, ':', n);
            if (!colon || colon == p) return SIP_EINVAL;
            char name[128];
            size_t nl = (size_t)(colon - p);
            while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
                nl--;
            if (nl >= sizeof(name)) return SIP_EINVAL;
            memcpy(name, p, nl);
            name[nl] = '\0';
            char *value = sip__strndup(colon + 1, (size_t)(p + n - colon - 1));
            if (!value) return SIP_ENOMEM;
            int rc = sip_msg_add_header(m, name, value);
            free(value);
            if (rc) return rc;
        }
        p += n;
        while (*p == '\r' || *p == '\n')
            p++;
    }
    return 0;
}

int sip__call_take_headers(sip_call_t *c, sip_msg_t *m)
{
    if (!c->next_headers) return 0;
    int rc = sip__call_add_lines(m, c->next_headers);
    free(c->next_headers);
    c->next_headers = NULL;
    return rc;
}

int sip_call_set_headers(sip_call_t *c, const char *headers)
{
    if (!c) return SIP_EINVAL;
    if (c->state == SIP_CALL_ENDED && !c->bye_pending) return SIP_ECLOSED;
    char *h = NULL;
    if (headers) {
        /* Checked now, on a scratch message, so that a bad line fails here. */
        sip_msg_t *probe = NULL;
        int rc = sip_msg_create_request(&probe, "OPTIONS", "sip:x");
        if (!rc) rc = sip__call_add_lines(probe, headers);
        sip_msg_unref(probe);
        if (rc) return rc;
        h = sip__strdup(headers);
        if (!h) return SIP_ENOMEM;
    }
    free(c->next_headers);
    c->next_headers = h;
    return 0;
}

/* ---- getters --------------------------------------------------------------------------- */

sip_call_state_t sip_call_get_state(const sip_call_t *c)
{
    return c ? c->state : SIP_CALL_ENDED;
}

const char *sip_call_state_name(sip_call_state_t s)
{
    switch (s) {
    case SIP_CALL_CALLING: return "Calling";
    case SIP_CALL_INCOMING: return "Incoming";
    case SIP_CALL_EARLY: return "Early";
    case SIP_CALL_CONNECTING: return "Connecting";
    case SIP_CALL_CONFIRMED: return "Confirmed";
    case SIP_CALL_ENDED: return "Ended";
    }
    return "Unknown";
}

const char *sip_call_event_name(sip_call_event_t e)
{
    switch (e) {
    case SIP_CALL_EVENT_STATE: return "state";
    case SIP_CALL_EVENT_RESPONSE: return "response";
    case SIP_CALL_EVENT_REQUEST: return "request";
    case SIP_CALL_EVENT_REINVITE: return "reinvite";
    case SIP_CALL_EVENT_OFFER: return "offer";
    case SIP_CALL_EVENT_MEDIA: return "media";
    case SIP_CALL_EVENT_MODIFIED: return "modified";
    }
    return "unknown";
}

int sip_call_is_uac(const sip_call_t *c)
{
    return c ? c->uac : 0;
}

int sip_call_get_end_status(const sip_call_t *c)
{
    return c ? c->end_status : 0;
}

int sip_call_ended_locally(const sip_call_t *c)
{
    return c ? c->ended_locally : 0;
}

sip_dialog_t *sip_call_get_dialog(sip_call_t *c)
{
    return c ? c->dlg : NULL;
}

sip_msg_t *sip_call_get_invite(sip_call_t *c)
{
    return c && c->state != SIP_CALL_ENDED ? c->invite : NULL;
}

static sip_str_t view(const char *s)
{
    return s ? (sip_str_t){s, strlen(s)} : (sip_str_t){"", 0};
}

sip_str_t sip_call_get_remote_sdp(const sip_call_t *c)
{
    return view(c ? c->remote_sdp : NULL);
}

sip_str_t sip_call_get_local_sdp(const sip_call_t *c)
{
    return view(c ? c->local_sdp : NULL);
}

int sip_call_is_remote_hold(const sip_call_t *c)
{
    return c && c->oa ? sip_oa_get_remote_hold(c->oa) == 1 : 0;
}

sip_oa_t *sip_call_get_oa(sip_call_t *c)
{
    return c ? c->oa : NULL;
}

sip_ua_t *sip_call_get_ua(sip_call_t *c)
{
    return c && c->state != SIP_CALL_ENDED ? c->ua : NULL;
}
