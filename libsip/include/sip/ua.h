/* SPDX-License-Identifier: MIT */
/* The user agent core (RFC 3261 §8, §12): on one transaction layer, it keeps the dialog table,
 * routes in-dialog requests and responses to their dialog, answers 481 for an unknown dialog,
 * does the UAS checks of §8.2 and adds the headers a UA sends. Out-of-dialog requests go to the
 * application, which makes a call of an INVITE with sip_call_accept() (sip/call.h). */
#ifndef SIP_UA_H
#define SIP_UA_H

#include <stdint.h>

#include "sip/auth.h"
#include "sip/dialog.h"
#include "sip/msg.h"
#include "sip/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A user agent. Opaque; reference counted; closes with its transaction layer's loop. */
typedef struct sip_ua sip_ua_t;

/** Options; initialise with sip_ua_opts_init(). Strings are copied; "" leaves a header out. */
typedef struct sip_ua_opts {
    const char *user_agent;       /**< User-Agent of requests and Server of responses
                                       (default "libsip/" and the version) */
    const char *allow;            /**< Allow (default "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO,
                                       UPDATE, PRACK, MESSAGE, SUBSCRIBE, NOTIFY"): the methods
                                       taken; a known method not in the list is answered 405
                                       with it (RFC 3261 §8.2.1) */
    const char *supported;        /**< Supported (default "100rel, timer"): an option tag a request
                                       Requires that is not here is answered 420 (§8.2.2.3) */
    const char *accept;           /**< Accept (default "application/sdp"): a request body of
                                       another type is answered 415 with it (§8.2.3) */
    const char *schemes;          /**< Request-URI schemes served, comma-separated (default
                                       "sip, sips"): another is answered 416 (§8.2.2.1) */
    const char *recv_info;        /**< RFC 6086 Info Packages this UA takes, comma-separated, sent
                                       as Recv-Info in INVITEs and their 2xx (default NULL: no
                                       Recv-Info, and every INFO reaches the call); an INFO naming
                                       another package in Info-Package is answered 469 */
    const char *contact_user;     /**< user part of the Contact this UA sends (default none) */
    const char *contact_host;     /**< host[:port] of the Contact (default: the listening point the
                                       message goes through, or the transport's via_host) */
    uint32_t t1_ms;               /**< T1 of the 2xx retransmission (default: the layer's, 500) */
    uint32_t t2_ms;               /**< T2 (default 4000) */
    const sip_txn_clock_t *clock; /**< NULL for the loop's timers; copied */
    const char *events;           /**< event packages this UA is a notifier of, comma-separated
                                       ("message-summary, dialog"; default NULL: none): an
                                       out-of-dialog SUBSCRIBE for another package is answered
                                       489 Bad Event with them as Allow-Events (RFC 6665
                                       §4.2.1.1) and does not reach the callback (sip/sub.h) */
} sip_ua_opts_t;

/**
 * A request outside any dialog, with its server transaction (Borrowed: sip_txn_ref() it to
 * answer after the callback returns; one left unanswered and unreferenced is answered 500).
 * An INVITE becomes a call with sip_call_accept().
 * @param req  Borrowed for the call
 */
typedef void (*sip_ua_request_cb)(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user);

/** Fills opts with the defaults. */
SIP_EXTERN void sip_ua_opts_init(sip_ua_opts_t *opts);

/**
 * Creates a user agent on a transaction layer. It joins the transport's handler chain at
 * SIP_HANDLER_PRIO_UA (after the layer's matching, before the application's handlers): it takes
 * the requests of its dialogs (and answers 481 to a request for a dialog it does not know), the
 * ACKs of its 2xx, the 2xx retransmissions of its calls, and, when cb is given, every other new
 * request, which it starts a server transaction for, checks (RFC 3261 §8.2: 405, 416, 420, 415)
 * and hands to cb (a SUBSCRIBE only for a package of opts->events, else 489; one inside a dialog
 * for no subscription of it too: sip/sub.h). Without cb, out-of-dialog requests go on to the next
 * handlers (a Stack's, or the layer's request handler).
 * @param out        New reference
 * @param layer      Takes its own reference
 * @param opts       NULL for the defaults
 * @param cb         out-of-dialog requests (may be NULL)
 * @param user_free  runs once when the UA closes, or when this call fails
 * @return 0, SIP_EINVAL, SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_ua_create(sip_ua_t **out, sip_txn_layer_t *layer, const sip_ua_opts_t *opts,
                             sip_ua_request_cb cb, void *user, sip_free_fn user_free);
/** Takes a reference. @return ua. */
SIP_EXTERN sip_ua_t *sip_ua_ref(sip_ua_t *ua);
/** Drops a reference; the last one closes the UA. Accepts NULL. */
SIP_EXTERN void sip_ua_unref(sip_ua_t *ua);
/**
 * Closes the UA: every call ends without sending (their callbacks run no more, their user_free
 * runs), the dialogs are dropped, and the UA leaves the transport's chain. Idempotent.
 */
SIP_EXTERN void sip_ua_close(sip_ua_t *ua);

/** The transaction layer. Borrowed; NULL once closed. */
SIP_EXTERN sip_txn_layer_t *sip_ua_get_layer(sip_ua_t *ua);
/** The number of dialogs in the table. */
SIP_EXTERN size_t sip_ua_dialog_count(const sip_ua_t *ua);
/** The number of live calls. */
SIP_EXTERN size_t sip_ua_call_count(const sip_ua_t *ua);

/**
 * Builds a request outside any dialog (RFC 3261 §8.1.1): Request-URI and To from target, From
 * with a new tag, a new Call-ID, CSeq 1, Max-Forwards 70, User-Agent, and for a method that makes
 * a dialog (INVITE, SUBSCRIBE, REFER) Contact, Allow and Supported. The Via is the transport's.
 * When a live registration of this UA whose AOR is the From's URI (RFC 3261 §19.1.4
 * comparison) got a 2xx with Service-Route (sip/reg.h), that route set is the request's Route
 * (RFC 3608 §6: the preloaded route of requests for that AOR), except for REGISTER; another
 * From, or none, gets no Route.
 * @param out     New reference
 * @param method  "INVITE", "OPTIONS", "MESSAGE"...
 * @param target  a SIP or SIPS URI ("sip:bob@127.0.0.1:5070")
 * @param from    the From address ("Alice <sip:alice@example.com>"), or NULL for
 *                "sip:anonymous@" the Contact host
 * @return 0, SIP_EINVAL, SIP_EURI (target), SIP_EPARSE (from), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_ua_create_request(sip_msg_t **out, sip_ua_t *ua, const char *method,
                                     const char *target, const char *from);

/**
 * Builds a response to a request with the UA's headers (Server, and for 2xx/18x to a request
 * that makes a dialog: Contact, Allow, Supported): sip_txn_create_response() then those.
 * @param out  New reference
 * @return as sip_txn_create_response(), SIP_ECLOSED.
 */
SIP_EXTERN int sip_ua_create_response(sip_msg_t **out, sip_ua_t *ua, sip_txn_t *txn, int status,
                                      const char *reason);

/* ---- requests and credentials ---------------------------------------------------------- */

/**
 * A response to a request sent with sip_ua_send_request().
 * @param req  Borrowed: the request this response answers (after a challenge, the request sent
 *             again with credentials and a higher CSeq; a registration keeps counting from it)
 * @param rsp  Borrowed: every provisional and the final response; NULL never (a timeout or a
 *             transport failure, which the transaction layer reports without a message, comes
 *             as a 408 or 503 response the UA makes from req; when memory runs out making it,
 *             the request ends with user_free alone, which callers must take as a failure)
 */
typedef void (*sip_ua_response_cb)(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user);

/**
 * Sends a request (not INVITE, ACK or CANCEL: calls send theirs) in a client transaction, in or
 * out of a dialog. Before sending, the UA authorises it with the challenges its credentials
 * answered before (sip_auth_client_prepare()); a 401 or 407 that its credentials answer is not
 * passed on but answered: the request goes again with Authorization or Proxy-Authorization and
 * the CSeq one higher (RFC 3261 §22.2), under the same handle, as often as each challenge is
 * new or stale (at most 8 rounds); one they do not answer reaches cb. Inside a dialog the raised
 * CSeq is the dialog's next, which it then counts. Closing the UA stops the request without a
 * callback (user_free runs).
 * @param req   the request (sip_ua_create_request(), sip_dialog_create_request()); the UA takes
 *              its own reference and stamps User-Agent when missing
 * @param dst   where to send, or NULL for the route target or RFC 3263
 * @param cb    each response (may be NULL)
 * @param user_free  runs once when the last response was delivered, or when this call fails
 * @return 0, SIP_EINVAL (NULL, not a request, INVITE/ACK/CANCEL), SIP_ECLOSED, SIP_ENOMEM, or
 *         the transport's immediate error.
 */
SIP_EXTERN int sip_ua_send_request(sip_ua_t *ua, sip_msg_t *req, const sip_netinfo_t *dst,
                                   sip_ua_response_cb cb, void *user, sip_free_fn user_free);

/**
 * Adds a credential the UA answers challenges with, for every request it sends: calls (INVITE
 * and in-dialog requests), sip_ua_send_request(), registrations and subscriptions.
 * @return as sip_auth_client_add(), SIP_ECLOSED.
 */
SIP_EXTERN int sip_ua_add_credential(sip_ua_t *ua, const sip_auth_cred_t *cred);
/** The UA's credential store. Borrowed; NULL once closed. */
SIP_EXTERN sip_auth_client_t *sip_ua_get_auth(sip_ua_t *ua);

/**
 * Answers an OPTIONS request with 200 and this UA's capabilities (RFC 3261 §11.2): Allow,
 * Accept, Accept-Encoding (identity), Accept-Language (en) and Supported from the UA's
 * options, and Server. The request callback calls it for the OPTIONS it does not answer
 * itself (PJSIP answers every OPTIONS this way; an application that wants its own answer, a
 * 486 while busy, replies with the transaction instead). The Python and Lua UAs call it for
 * an OPTIONS no handler took; a call without a callback answers in-dialog OPTIONS with it.
 * @param txn  the OPTIONS' server transaction (Borrowed)
 * @return 0, SIP_EINVAL (NULL, not an OPTIONS server transaction, already answered),
 *         SIP_ECLOSED, SIP_ENOMEM, or as sip_txn_reply().
 */
SIP_EXTERN int sip_ua_answer_options(sip_ua_t *ua, sip_txn_t *txn);

#ifdef __cplusplus
}
#endif
#endif
