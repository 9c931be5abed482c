/* SPDX-License-Identifier: MIT */
/* Private side of a call (an INVITE session). */
#ifndef SIP_CALL_INT_H
#define SIP_CALL_INT_H

#include "core/timerq.h"
#include "sip/call.h"
#include "ua/ua_int.h"

struct sip_call {
    int refs;  /* the application's references */
    int holds; /* the library's: the UA's list, transaction callbacks */
    sip_ua_t *ua;
    sip_call_t *prev, *next; /* the UA's list of live calls */
    unsigned uac : 1, linked : 1, ended_locally : 1, hanging_up : 1, notified_end : 1,
        bye_pending : 1, offer_in_invite : 1;
    sip_call_state_t state;
    int end_status;
    sip_call_event_cb cb;
    void *user;
    sip_free_fn user_free;
    sip_txn_t *inv_txn; /* the INVITE's transaction (client or server) */
    sip_msg_t *invite;  /* the INVITE sent or received */
    uint32_t inv_cseq;
    sip_dialog_t *dlg;    /* the confirmed dialog, or the last early one */
    sip_dialog_t **early; /* UAC: the early dialogs of the forks, each in the UA's table */
    size_t nearly;
    /* UAS: the 2xx sent again until its ACK (RFC 3261 §13.3.1.4), for the INVITE or a
     * re-INVITE; its CSeq is the ACK's. */
    sip_msg_t *ok;
    sip_txn_t *ok_txn;
    uint32_t ok_cseq;
    uint32_t retx_ms;
    sip__tq_entry_t t_retx, t_giveup, t_timeout;
    /* UAC: the ACK of the 2xx, sent again for each retransmission of it. */
    sip_msg_t *ack;
    char *local_sdp, *remote_sdp;
    char *bye_reason;
};

/* call.c: life and end. */
sip_call_t *sip__call_new(sip_ua_t *ua, int uac, sip_call_event_cb cb, void *user,
                          sip_free_fn user_free);
void sip__call_discard(sip_call_t *c);
void sip__call_hold(sip_call_t *c);
void sip__call_release(void *call);
void sip__call_emit(sip_call_t *c, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn);
void sip__call_set_state(sip_call_t *c, sip_call_state_t st, sip_msg_t *msg);
void sip__call_teardown(sip_call_t *c);
void sip__call_notify_end(sip_call_t *c, int status, sip_msg_t *msg, int locally);
void sip__call_end(sip_call_t *c, int status, sip_msg_t *msg, int locally);
int sip__call_take_sdp(char **slot, const sip_msg_t *msg);
int sip__call_set_str(char **slot, const char *s);
int sip__call_add_sdp(sip_msg_t *m, const char *sdp);
/* indialog.c: sends BYE in the call's dialog (with its Reason). */
int sip__call_send_bye(sip_call_t *c, sip_dialog_t *d);

#endif
