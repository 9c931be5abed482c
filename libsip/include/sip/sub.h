/* SPDX-License-Identifier: MIT */
/* Subscriptions (RFC 6665): a subscriber's SUBSCRIBE with its refreshes, NOTIFYs and
 * unsubscribe, and a notifier's accepted SUBSCRIBE with its NOTIFYs, expiry and termination.
 * Each subscription is a usage of its dialog (RFC 5057), so one may live in a call's dialog. */
#ifndef SIP_SUB_H
#define SIP_SUB_H

#include <stdint.h>

#include "sip/dialog.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "sip/ua.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One subscription (one dialog's). Opaque; reference counted. */
typedef struct sip_sub sip_sub_t;

/** Subscription states (RFC 6665 §4.1.2, §4.2.1; Subscription-State values). */
typedef enum sip_sub_state {
    SIP_SUB_INIT = 0,    /**< subscriber: SUBSCRIBE sent, neither its 2xx nor a NOTIFY came */
    SIP_SUB_NOTIFY_WAIT, /**< subscriber: the 2xx came, the first NOTIFY not yet (§4.1.2.4) */
    SIP_SUB_PENDING,     /**< Subscription-State: pending */
    SIP_SUB_ACTIVE,      /**< Subscription-State: active */
    SIP_SUB_TERMINATED,  /**< over: sip_sub_get_end_status(), sip_sub_get_reason() */
} sip_sub_state_t;

/** What a subscription tells its application. */
typedef enum sip_sub_event {
    SIP_SUB_EVENT_STATE = 1, /**< the state changed (msg: the NOTIFY or response that changed
                                  it, or NULL for a timeout or a local action) */
    SIP_SUB_EVENT_NOTIFY,    /**< subscriber: a NOTIFY, already answered 200 (msg: the NOTIFY;
                                  its body is the resource's state), before the state event
                                  it may cause (the state reads the new one already) */
    SIP_SUB_EVENT_RESPONSE,  /**< the final response to a SUBSCRIBE of the subscriber (the
                                  first, a refresh, the unsubscribe) or to a NOTIFY of the
                                  notifier (msg) */
    SIP_SUB_EVENT_FORKED,    /**< subscriber: this is a new subscription, made by a NOTIFY
                                  from another fork of the SUBSCRIBE (RFC 6665 §4.1.2.4) than
                                  the first; it shares the first one's callback and user, and
                                  lives until it ends (sip_sub_ref() it to keep the handle) */
    SIP_SUB_EVENT_SUBSCRIBE, /**< notifier: a refresh SUBSCRIBE was answered 200 (msg: the
                                  request); a NOTIFY with the state follows at once unless the
                                  callback sends one (sip_sub_notify()) */
} sip_sub_event_t;

/**
 * An event of a subscription.
 * @param msg  Borrowed for the call (sip_msg_ref() it to keep it), or NULL
 */
typedef void (*sip_sub_event_cb)(sip_sub_t *sub, sip_sub_event_t event, sip_msg_t *msg, void *user);

/** Options; initialise with sip_sub_opts_init(). Strings are copied. */
typedef struct sip_sub_opts {
    const char *event;        /**< the event package ("message-summary", "dialog"); required
                                   for sip_sub_subscribe() */
    const char *id;           /**< the Event id parameter (RFC 6665 §8.2.3), or NULL */
    const char *accept;       /**< subscriber: Accept ("application/simple-message-summary";
                                   NULL: none, the package's default) */
    const char *from;         /**< subscriber: the From address (NULL: anonymous) */
    uint32_t expires;         /**< subscriber: Expires asked (default 3600); notifier: the
                                   longest granted (default 3600: a longer one asked is cut) */
    const char *body;         /**< subscriber: a body of the SUBSCRIBE (a filter), or NULL;
                                   notifier: the body of the first NOTIFY */
    const char *content_type; /**< the body's type ("application/dialog-info+xml") */
    const char *headers;      /**< extra "Name: value" lines (CRLF or LF separated) for the
                                   SUBSCRIBE or the 2xx, or NULL */
    int status;               /**< notifier: 200 (default) or 202 (RFC 3265 peers) */
    sip_sub_state_t state;    /**< notifier: SIP_SUB_ACTIVE (default) or SIP_SUB_PENDING for
                                   the first NOTIFY */
    const sip_netinfo_t *dst; /**< subscriber: where to send (NULL: the route target or
                                   RFC 3263); copied */
    sip_dialog_t *dialog;     /**< subscriber: subscribe inside this dialog of the UA (a
                                   call's: sip_call_get_dialog()), as a usage of it (RFC 5057);
                                   NULL: out of dialog, target used */
    int norefersub;           /**< sip_sub_refer(): ask for no implicit subscription (RFC 4488:
                                   Refer-Sub: false, Supported: norefersub); a 2xx that grants
                                   it (Refer-Sub: false) ends the subscription at once, with
                                   end status 200 and no NOTIFY */
} sip_sub_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_sub_opts_init(sip_sub_opts_t *opts);

/**
 * Subscribes (RFC 6665 §4.1.2.1): sends a SUBSCRIBE out of dialog with Event, Accept,
 * Expires and the body. The 2xx, or a NOTIFY that comes before it (§4.1.2.4), makes the
 * dialog; each NOTIFY is answered 200 and reported (SIP_SUB_EVENT_NOTIFY); the subscription is
 * refreshed before it expires (the Expires of the 2xx, or the expires of Subscription-State);
 * a NOTIFY from another fork makes another subscription (SIP_SUB_EVENT_FORKED). It ends with a
 * failure response (489 Bad Event, 404...: sip_sub_get_end_status()), a NOTIFY with
 * Subscription-State terminated, no NOTIFY within 64*T1 of the 2xx (408), a failed refresh
 * (481, 408) or sip_sub_unsubscribe().
 * @param out        New reference; NULL on failure
 * @param target     the notifier's URI ("sip:alice@127.0.0.1:5070")
 * @param opts       event required
 * @param cb         events (may be NULL)
 * @param user_free  runs once when the subscription (and every fork of it) ended for the
 *                   application (last reference, sip_sub_close(), the UA closing), or when
 *                   this call fails
 * @return 0, SIP_EINVAL (NULL, no event), SIP_EURI, SIP_EPARSE (from, headers), SIP_ECLOSED,
 *         SIP_ENOMEM, or the transport's immediate error.
 */
SIP_EXTERN int sip_sub_subscribe(sip_sub_t **out, sip_ua_t *ua, const char *target,
                                 const sip_sub_opts_t *opts, sip_sub_event_cb cb, void *user,
                                 sip_free_fn user_free);

/**
 * Accepts a SUBSCRIBE the UA's request callback received (RFC 6665 §4.2.1), or a REFER (RFC
 * 3515: from the request callback, or a call's SIP_CALL_EVENT_REQUEST inside its dialog):
 * answers it 200 (or opts->status 202) with the Expires granted (the one asked, at most
 * opts->expires), makes the dialog and sends the first NOTIFY at once (§4.2.1.2) in
 * opts->state with opts->body. A SUBSCRIBE with Expires: 0 (a fetch) gets its NOTIFY with
 * Subscription-State terminated;reason=timeout and ends. Refreshes are answered here
 * (SIP_SUB_EVENT_SUBSCRIBE); when the subscription expires it ends with a NOTIFY terminated;
 * reason=timeout. A REFER is answered 202 (§2.4.2) and its implicit subscription made (Event
 * refer, id its CSeq number), the first NOTIFY "SIP/2.0 100 Trying" in message/sipfrag unless
 * opts->body says otherwise; the application then sends the request Refer-To names and reports
 * its progress with sip_sub_notify() and its final status line with sip_sub_terminate(sub,
 * "noresource", -1, "SIP/2.0 200 OK"), in the same content type. A REFER with Refer-Sub:
 * false (RFC 4488) is answered 202 with Refer-Sub: false and makes no subscription (nor a
 * dialog, out of one): the subscription returned is Terminated (end status 200) and sends no
 * NOTIFY.
 * @param out        New reference; NULL on failure
 * @param txn        the SUBSCRIBE's or REFER's server transaction (Borrowed)
 * @param opts       NULL for the defaults; event and id come from the request
 * @param user_free  as sip_sub_subscribe()
 * @return 0, SIP_EINVAL (NULL, not an unanswered SUBSCRIBE with Event or REFER with Refer-To,
 *         status not 200 or 202),
 *         SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sub_accept(sip_sub_t **out, sip_ua_t *ua, sip_txn_t *txn,
                              const sip_sub_opts_t *opts, sip_sub_event_cb cb, void *user,
                              sip_free_fn user_free);

/**
 * Refers (RFC 3515): sends a REFER asking the other side to send a request to refer_to
 * (Refer-To; an INVITE for a "sip:" URI: a transfer), inside opts->dialog (a call's:
 * sip_call_get_dialog(); opts->dialog NULL: out of dialog to target), and makes its implicit
 * subscription: Event refer with the REFER's CSeq number as id (§2.4.6), a usage of the dialog
 * (RFC 5057). Each NOTIFY carries a message/sipfrag body, the status line of the request the
 * other side sent ("SIP/2.0 180 Ringing"), and is reported as SIP_SUB_EVENT_NOTIFY; the
 * subscription ends with the NOTIFY terminated that follows its final response, or with a
 * failure response to the REFER (403, 405, 481...). opts->headers may carry Referred-By (RFC
 * 3892); opts->event, id and expires are not used (a REFER has no Expires: the NOTIFYs say how
 * long the notifier keeps it, and it is not refreshed).
 * @param out       New reference; NULL on failure
 * @param target    the URI to send to out of dialog (ignored with opts->dialog)
 * @param refer_to  the URI referred to (bracketed unless it has brackets: its parameters and
 *                  headers, ?Replaces=..., stay the URI's)
 * @param opts      NULL for the defaults (Accept: message/sipfrag)
 * @return as sip_sub_subscribe(); SIP_EINVAL also for a NULL or empty refer_to.
 */
SIP_EXTERN int sip_sub_refer(sip_sub_t **out, sip_ua_t *ua, const char *target,
                             const char *refer_to, const sip_sub_opts_t *opts, sip_sub_event_cb cb,
                             void *user, sip_free_fn user_free);

/** Takes a reference. @return sub. */
SIP_EXTERN sip_sub_t *sip_sub_ref(sip_sub_t *sub);
/**
 * Drops a reference. The last one of the application ends a subscription that goes on (the
 * subscriber unsubscribes, the notifier terminates it with reason noresource) and drops its
 * callback. Accepts NULL.
 */
SIP_EXTERN void sip_sub_unref(sip_sub_t *sub);
/**
 * Ends the subscription at once without sending (no callback after it returns; user_free runs
 * when no fork uses it any more); the other side finds out by a 481. Idempotent.
 */
SIP_EXTERN void sip_sub_close(sip_sub_t *sub);

/**
 * Notifier: sends a NOTIFY with the state and a body (RFC 6665 §4.2.2); Subscription-State
 * carries the time left as expires. The body is kept for the NOTIFYs of refreshes.
 * @param state         SIP_SUB_ACTIVE or SIP_SUB_PENDING
 * @param body          the resource's state, or NULL for none
 * @param content_type  its type, or NULL (then the last one given)
 * @return 0, SIP_EINVAL (a subscriber's, another state), SIP_ECLOSED (terminated),
 *         SIP_ENOMEM, or the transport's immediate error.
 */
SIP_EXTERN int sip_sub_notify(sip_sub_t *sub, sip_sub_state_t state, const char *body,
                              const char *content_type);
/**
 * Notifier: ends the subscription with a NOTIFY Subscription-State: terminated (RFC 6665
 * §4.2.2; reasons §4.1.3).
 * @param reason       "deactivated", "probation", "rejected", "timeout", "giveup",
 *                     "noresource", "invariant", or NULL for none
 * @param retry_after  seconds for the retry-after parameter, or -1 for none
 * @param body         the last state, or NULL for none (content type: the last given)
 * @return 0, SIP_EINVAL (a subscriber's), SIP_ECLOSED (already terminated), SIP_ENOMEM.
 */
SIP_EXTERN int sip_sub_terminate(sip_sub_t *sub, const char *reason, int retry_after,
                                 const char *body);
/**
 * Subscriber: unsubscribes (RFC 6665 §4.1.2.3): a SUBSCRIBE with Expires: 0 in the dialog;
 * the subscription ends with the NOTIFY terminated that answers it (or 64*T1 after). One
 * without a dialog yet ends at once (its NOTIFY will be answered 481).
 * @return 0, SIP_EINVAL (a notifier's), SIP_ECLOSED (terminated), SIP_ENOMEM, or the
 *         transport's immediate error.
 */
SIP_EXTERN int sip_sub_unsubscribe(sip_sub_t *sub);

/** The state. */
SIP_EXTERN sip_sub_state_t sip_sub_get_state(const sip_sub_t *sub);
/** Names a state ("Active"). */
SIP_EXTERN const char *sip_sub_state_name(sip_sub_state_t state);
/** Names an event ("notify"). */
SIP_EXTERN const char *sip_sub_event_name(sip_sub_event_t event);
/** 1 for a subscriber's subscription, 0 for a notifier's. */
SIP_EXTERN int sip_sub_is_subscriber(const sip_sub_t *sub);
/** The event package. Borrowed, valid while the subscription lives. */
SIP_EXTERN sip_str_t sip_sub_get_event(const sip_sub_t *sub);
/** The Event id, or an empty view. Borrowed. */
SIP_EXTERN sip_str_t sip_sub_get_id(const sip_sub_t *sub);
/** The seconds the subscription has left (0 when terminated or not yet granted). */
SIP_EXTERN uint32_t sip_sub_get_expires(const sip_sub_t *sub);
/**
 * Why it ended: the final status of a failed SUBSCRIBE (489, 404...), 408 for a timeout (no
 * NOTIFY, no answer, a refresh that failed) or an expiry, 481 when the other side forgot it,
 * 200 when a NOTIFY terminated it or the unsubscribe completed, 0 while it has not (or when
 * closed).
 */
SIP_EXTERN int sip_sub_get_end_status(const sip_sub_t *sub);
/** The reason of the Subscription-State terminated sent or received ("timeout"), or "". */
SIP_EXTERN const char *sip_sub_get_reason(const sip_sub_t *sub);
/** The retry-after seconds of the terminated Subscription-State, or -1 for none. */
SIP_EXTERN int sip_sub_get_retry_after(const sip_sub_t *sub);
/** The dialog, or NULL while there is none. Borrowed. */
SIP_EXTERN sip_dialog_t *sip_sub_get_dialog(sip_sub_t *sub);
/** The UA. Borrowed; NULL once the subscription ended. */
SIP_EXTERN sip_ua_t *sip_sub_get_ua(sip_sub_t *sub);
/** The number of live subscriptions of a UA (forks included). */
SIP_EXTERN size_t sip_sub_count(const sip_ua_t *ua);

#ifdef __cplusplus
}
#endif
#endif
