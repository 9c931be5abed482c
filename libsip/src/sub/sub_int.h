/* SPDX-License-Identifier: MIT */
/* Private side of a subscription (RFC 6665). */
#ifndef SIP_SUB_INT_H
#define SIP_SUB_INT_H

#include "core/timerq.h"
#include "sip/sub.h"
#include "ua/ua_int.h"

/* The application's callback, shared by a subscription and the forks its SUBSCRIBE made: the
 * last of them to let go runs user_free. */
typedef struct sip__sub_app {
    int refs;
    sip_sub_event_cb cb;
    void *user;
    sip_free_fn user_free;
} sip__sub_app_t;

struct sip_sub {
    int refs;  /* the application's */
    int holds; /* the library's: the UA's list, transactions in flight, callbacks running */
    sip_ua_t *ua;
    struct sip_sub *prev, *next; /* the UA's list of subscriptions (live or finishing) */
    unsigned subscriber : 1, linked : 1, forked : 1, unsubscribing : 1, closed : 1, got_notify : 1,
        notified_in_cb : 1, in_subscribe_cb : 1, in_list : 1, expired : 1,
        refer : 1,   /* REFER's implicit subscription (RFC 3515) */
        sending : 1; /* inside sip_ua_send_request(): its failure is the caller's to report */
    sip_sub_state_t state;
    int end_status, retry_after;
    char reason[32];
    sip__sub_app_t *app; /* NULL once the application let go */
    sip_dialog_t *dlg;
    sip__usage_t usage; /* its event and id point into event/id below */
    char *event, *id;
    /* Subscriber: the SUBSCRIBE as first sent (its Call-ID and From tag find the NOTIFYs that
     * come before the 2xx or from forks), what refreshes repeat, where they go. */
    sip_msg_t *req;
    char *accept;
    uint32_t asked;
    sip_netinfo_t dst;
    int has_dst;
    /* Both: the seconds granted and when they run out (the clock's ms). */
    uint32_t expires;
    uint64_t expires_at;
    /* Notifier: the longest expiry granted; the last body and type sent. */
    uint32_t max_expires;
    char *body, *ctype;
    sip__tq_entry_t t_refresh, t_expire, t_wait;
};

#endif
