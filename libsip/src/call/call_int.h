/* SPDX-License-Identifier: MIT */
/* Private side of a call (an INVITE session). */
#ifndef SIP_CALL_INT_H
#define SIP_CALL_INT_H

#include "call/rel1xx.h"
#include "call/timer.h"
#include "core/timerq.h"
#include "sip/call.h"
#include "sip/oa.h"
#include "ua/ua_int.h"

/* UAC: one fork of the INVITE, a real dialog with its own offer/answer state (a 183 from one
 * fork and a 200 from another answer the same offer differently). */
typedef struct sip__fork {
    sip_dialog_t *dlg;
    sip_oa_t *oa; /* a clone of the call's negotiator, NULL without the engine */
    /* RFC 3262 §4 (prack.c): each fork numbers its own RSeq; its last PRACK, sent again for a
     * retransmitted reliable 1xx once that PRACK's transaction is over. */
    sip__rel1xx_uac_t rel;
    uint32_t pracked; /* RSeq of the last reliable 1xx PRACKed (rel.have: any) */
    sip_txn_t *prack_txn;
    char *prack_sdp;
} sip__fork_t;

struct sip_call {
    int refs;  /* the application's references */
    int holds; /* the library's: the UA's list, transaction callbacks */
    sip_ua_t *ua;
    sip_call_t *prev, *next; /* the UA's list of live calls */
    unsigned uac : 1, linked : 1, ended_locally : 1, hanging_up : 1, notified_end : 1,
        bye_pending : 1, offer_in_invite : 1, late_offer : 1;
    sip_call_state_t state;
    int end_status;
    sip_call_event_cb cb;
    void *user;
    sip_free_fn user_free;
    sip_txn_t *inv_txn; /* the INVITE's transaction (client or server) */
    sip_msg_t *invite;  /* the INVITE sent or received */
    uint32_t inv_cseq;
    sip_dialog_t *dlg;  /* the confirmed dialog, or the last early one */
    sip__fork_t *forks; /* UAC: the early dialogs of the forks, each in the UA's table */
    size_t nforks;
    /* The offer/answer engine (NULL: the application gives every offer and answer). */
    sip_oa_t *oa;
    /* A request of ours that changes the session (re-INVITE, UPDATE) awaiting its final
     * response; its offer is sent again after a 491 (RFC 3261 §14.1). */
    sip_txn_t *mod_txn;
    sip_method_t mod_method;
    uint32_t mod_cseq;
    char *mod_sdp;      /* the offer as the application gave it (NULL: the engine's) */
    sip_msg_t *mod_ack; /* the ACK of our re-INVITE's 2xx, sent again with it */
    uint32_t mod_ack_cseq;
    int mod_retry; /* 1 while the §14.1 timer runs */
    /* A peer's offer the application answers (without the engine): in the 2xx of offer_txn
     * (a re-INVITE or UPDATE), or in the ACK (ack_sdp) of an INVITE sent without one. */
    sip_txn_t *offer_txn;
    char *ack_sdp;
    int in_2xx_offer; /* the OFFER event of a 2xx is running: the answer goes in its ACK */
    /* UAS: the 2xx sent again until its ACK (RFC 3261 §13.3.1.4), for the INVITE or a
     * re-INVITE; its CSeq is the ACK's. */
    sip_msg_t *ok;
    sip_txn_t *ok_txn;
    uint32_t ok_cseq;
    uint32_t retx_ms;
    sip__tq_entry_t t_retx, t_giveup, t_timeout, t_glare;
    /* UAC: the ACK of the 2xx, sent again for each retransmission of it. */
    sip_msg_t *ack;
    char *local_sdp, *remote_sdp;
    char *bye_reason;
    /* Reliable provisionals (RFC 3262, prack.c) and session timers (RFC 4028,
     * session_timer.c). */
    sip__100rel_mode_t rel_mode;
    unsigned rel_on : 1, rel_offer : 1, rel_oa_done : 1, held : 1, peer_update : 1;
    unsigned char inv_superseded; /* UAC: INVITE transactions a 422's retry replaced */
    sip__rel1xx_uas_t rel;        /* UAS: the INVITE's reliable provisionals */
    sip_msg_t *rel_1xx;           /* UAS: the unacknowledged one, sent again until its PRACK */
    sip_msg_t **rel_q;            /* UAS: reliable 1xx waiting for that PRACK (§3), in order */
    unsigned char *rel_q_sdp;
    size_t rel_nq;
    int held_status; /* UAS: a 2xx waiting for that PRACK (§3), and its SDP */
    char *held_sdp;
    sip__timer_cfg_t st_cfg;
    sip__timer_t st;
    sip_msg_t *st_req; /* our last re-INVITE or UPDATE as sent (its Session-Expires) */
    sip__tq_entry_t t_rel, t_session;
    char *next_headers; /* sip_call_set_headers(): for the next message sent */
    /* A bridge (B2BUA) watching the call: it sees each event before the application and
     * takes the ones it handles (returns 1). */
    int (*hook)(sip_call_t *c, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn, void *user);
    void *hook_user;
    /* UAC: INVITEs (and re-INVITEs, UPDATEs) sent again with credentials after a 401 or 407
     * (RFC 3261 §22.2), counted so that a peer that challenges for ever is not followed. */
    unsigned char auth_rounds;
    /* UAS: the call an INVITE with Replaces (RFC 3891) replaces, held until this one is
     * confirmed and it is hung up. */
    sip_call_t *replaces;
};

/* What a bridge's hook hears when the UA closes under its call (no application event). */
#define SIP__CALL_EVENT_UA_CLOSED ((sip_call_event_t)0)

/* call.c: life and end. */
sip_call_t *sip__call_new(sip_ua_t *ua, int uac, sip_call_event_cb cb, void *user,
                          sip_free_fn user_free);
void sip__call_discard(sip_call_t *c);
void sip__call_hold(sip_call_t *c);
void sip__call_release(void *call);
void sip__call_shed(sip_call_t *c);
void sip__call_inv_done(void *call);
/* The user of a re-INVITE's or UPDATE's transaction callback. */
typedef struct sip__call_mod {
    sip_call_t *call;
    uint32_t cseq;
} sip__call_mod_t;
void sip__call_mod_done(void *mod);
void sip__call_emit(sip_call_t *c, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn);
void sip__call_set_state(sip_call_t *c, sip_call_state_t st, sip_msg_t *msg);
void sip__call_teardown(sip_call_t *c);
void sip__call_notify_end(sip_call_t *c, int status, sip_msg_t *msg, int locally);
void sip__call_end(sip_call_t *c, int status, sip_msg_t *msg, int locally);
int sip__call_take_sdp(char **slot, const sip_msg_t *msg);
int sip__call_set_str(char **slot, const char *s);
int sip__call_add_sdp(sip_msg_t *m, const char *sdp);
/* Adds "Name: value" lines (CRLF or LF separated). */
int sip__call_add_lines(sip_msg_t *m, const char *lines);
/* Adds and forgets the sip_call_set_headers() lines. */
int sip__call_take_headers(sip_call_t *c, sip_msg_t *m);

/* media.c: the offer/answer engine and the application's SDP. */
int sip__call_media_init(sip_call_t *c, const char *media, const char *address);
/* An offer from oa as text (New: free() it). */
int sip__call_offer(sip_oa_t *oa, char **text);
/* Takes the peer's offer in msg and makes the answer as text; SIP_ENOTACCEPTABLE (answer 488)
 * or SIP_ESDP (400/488) when it cannot be answered. */
int sip__call_answer(sip_oa_t *oa, const sip_msg_t *msg, char **text);
/* Takes the peer's answer in msg. */
int sip__call_take_answer(sip_oa_t *oa, const sip_msg_t *msg);
/* 1 when msg carries an SDP body. */
int sip__call_has_sdp(const sip_msg_t *msg);
/* Keeps oa's active descriptions as the call's local/remote SDP text and tells the
 * application (SIP_CALL_EVENT_MEDIA). */
void sip__call_media_done(sip_call_t *c, sip_oa_t *oa, sip_msg_t *msg);
/* indialog.c: sends BYE in the call's dialog (with its Reason). */
int sip__call_send_bye(sip_call_t *c, sip_dialog_t *d);

/* prack.c and session_timer.c: the extensions' hooks. Life: timers set up, stopped, freed. */
void sip__call_ext_new(sip_call_t *c);
void sip__call_ext_stop(sip_call_t *c);
void sip__call_ext_free(sip_call_t *c);
/* UAC: configuration and the INVITE's Supported/Require, Session-Expires and Min-SE. */
int sip__call_ext_invite(sip_call_t *c, const sip_call_opts_t *opts, sip_msg_t *req);
/* UAS: configuration and the checks of the INVITE; a refused one is answered 420, 421 or 422
 * here and SIP_ENOTACCEPTABLE returned. */
int sip__call_ext_accept(sip_call_t *c, const sip_call_opts_t *opts);
/* UAC: a 1xx to the INVITE; 1 when it is to be dropped (a retransmission, out of order). */
int sip__call_prack_filter(sip_call_t *c, sip_msg_t *rsp);
/* UAC: a 1xx taken by fork f: PRACK it when it is reliable. */
void sip__call_prack_1xx(sip_call_t *c, sip__fork_t *f, sip_msg_t *rsp);
/* UAC: d, made for a 2xx not kept, numbers its BYE after the PRACKs of its fork. */
void sip__call_prack_cseq(sip_call_t *c, sip_dialog_t *d);
/* UAS: sends a provisional of the INVITE, reliably when negotiated (SIP_EBUSY while one is
 * unacknowledged). */
int sip__call_prack_send_1xx(sip_call_t *c, sip_msg_t *rsp, int has_sdp);
/* UAS with the engine and an INVITE without an offer: the engine's offer for a reliable 183
 * (kept as the local SDP), or NULL. */
const char *sip__call_prack_offer(sip_call_t *c, int status);
/* UAS: 1 when the 2xx waits for a PRACK (kept, sent when it comes), 0 to send it now. */
int sip__call_prack_hold_2xx(sip_call_t *c, int status, const char *sdp);
/* UAS: a PRACK in the call's early dialog. */
void sip__call_on_prack(sip_call_t *c, sip_txn_t *txn, sip_msg_t *req);
/* UAC: a 422 to the INVITE; 1 when the INVITE went again with a larger interval. */
int sip__call_st_422(sip_call_t *c, const sip_msg_t *rsp);
/* UAC: the 2xx to req (the INVITE, a re-INVITE or UPDATE of ours): the timer from it. */
void sip__call_st_2xx(sip_call_t *c, const sip_msg_t *req, const sip_msg_t *rsp);
/* UAC: Session-Expires and Min-SE for our re-INVITE or UPDATE. */
int sip__call_st_request(sip_call_t *c, sip_msg_t *req);
/* UAC: our re-INVITE or UPDATE failed; 1 when handled here (422 retried, the call ended). */
int sip__call_st_failed(sip_call_t *c, int status, const sip_msg_t *rsp);
/* UAS: a re-INVITE or UPDATE; 1 when refused here (422, 420). */
int sip__call_st_check(sip_call_t *c, sip_txn_t *txn, const sip_msg_t *req);
/* UAS: the 2xx rsp to req gets Session-Expires; the timer runs from it. */
int sip__call_st_answer(sip_call_t *c, const sip_msg_t *req, sip_msg_t *rsp);
/* UAC: the end of an INVITE transaction a 422's retry replaced: 1 (the call released) when
 * it is one, so that the call keeps what the new one needs. */
int sip__call_st_superseded(sip_call_t *c);
/* uac.c: sends req as the call's INVITE in place of the last one (a 422's retry). */
int sip__call_uac_resend(sip_call_t *c, sip_msg_t *req, const sip_netinfo_t *dst);
/* The most challenges one INVITE, re-INVITE or UPDATE of a call answers. */
#define SIP__CALL_AUTH_ROUNDS 8

#endif
