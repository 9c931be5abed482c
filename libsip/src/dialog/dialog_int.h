/* SPDX-License-Identifier: MIT */
/* Private side of a dialog: the UA keeps dialogs in its table and counts their usages. */
#ifndef SIP_DIALOG_INT_H
#define SIP_DIALOG_INT_H

#include "sip/dialog.h"
#include "sip/txn.h"

/* RFC 5057: a dialog carries usages (the INVITE usage of a call, subscriptions); each sees the
 * in-dialog requests that are its own, and the dialog ends when its last usage ends. */
typedef struct sip__usage sip__usage_t;
typedef struct sip__usage_ops {
    /* A request of the dialog for this usage (txn NULL: an ACK of a 2xx). */
    void (*on_request)(sip__usage_t *u, sip_dialog_t *d, sip_txn_t *txn, sip_msg_t *req);
    /* A response of the dialog that no transaction took (may be NULL). */
    void (*on_stray)(sip__usage_t *u, sip_dialog_t *d, sip_msg_t *rsp);
} sip__usage_ops_t;

struct sip__usage {
    const sip__usage_ops_t *ops;
    void *owner;
    /* A subscription usage (RFC 6665 §4.1.2, §4.2.1): its Event package and id, which the UA
     * matches SUBSCRIBE and NOTIFY against; both empty for the INVITE usage. */
    sip_str_t event, id;
    unsigned invite : 1, linked : 1;
    sip__usage_t *next;
};

struct sip_dialog {
    int refs;
    sip_dialog_state_t state;
    unsigned uas : 1, secure : 1, remote_cseq_set : 1;
    uint32_t local_cseq, remote_cseq;
    sip_str_t call_id, local_tag, remote_tag, local_addr, remote_addr, local_target;
    sip_str_t remote_target;
    sip_str_t *routes;
    size_t nroutes;
    char *fixed;        /* the strings that never change, in one allocation */
    char *route_block;  /* the route set: views, then their text */
    char *target_store; /* the remote target (a target refresh replaces it) */
    /* The UA's: its table links the dialog here while it has usages (RFC 5057). */
    struct sip_dialog *hnext;
    uint32_t hash;
    int usages;
    sip__usage_t *usage_list;
    sip__usage_t inv; /* the INVITE usage: its owner is a call */
};

/* The UAS's own 2xx confirms its dialog (sip_dialog_receive_response() is for responses the
 * dialog receives: it would take our own Contact as the remote target). */
static inline void sip__dialog_confirm(sip_dialog_t *d)
{
    if (d->state == SIP_DIALOG_EARLY) d->state = SIP_DIALOG_CONFIRMED;
}

/* A request of the dialog sent again with a higher CSeq (after a challenge, RFC 3261 §22.2):
 * at least at_least and above every number used so far, which the dialog then counts. */
static inline uint32_t sip__dialog_take_cseq(sip_dialog_t *d, uint32_t at_least)
{
    if (d->local_cseq >= at_least) at_least = d->local_cseq + 1;
    d->local_cseq = at_least;
    return at_least;
}

/* The subscriber's dialog made by a NOTIFY that came before the 2xx of its SUBSCRIBE, or from
 * another fork of it (RFC 6665 §4.1.2.4). */
int sip__dialog_create_notify(sip_dialog_t **out, const sip_msg_t *sub, const sip_msg_t *notify);

#endif
