/* SPDX-License-Identifier: MIT */
/* Private side of a dialog: the UA keeps dialogs in its table and counts their usages. */
#ifndef SIP_DIALOG_INT_H
#define SIP_DIALOG_INT_H

#include "sip/dialog.h"

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
    /* The UA's: its table links the dialog here and counts its usages (RFC 5057). */
    struct sip_dialog *hnext;
    uint32_t hash;
    int usages;
    void *owner;
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

#endif
