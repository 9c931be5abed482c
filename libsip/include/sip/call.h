/* SPDX-License-Identifier: MIT */
/* INVITE sessions (RFC 3261 §13-15): a call placed or answered, its dialog, the ACK and 2xx
 * retransmission the core does, CANCEL, BYE, and the requests inside the call. */
#ifndef SIP_CALL_H
#define SIP_CALL_H

#include <stdint.h>

#include "sip/dialog.h"
#include "sip/msg.h"
#include "sip/oa.h"
#include "sip/txn.h"
#include "sip/ua.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One call: an INVITE session. Opaque; reference counted. */
typedef struct sip_call sip_call_t;

/** Call states. */
typedef enum sip_call_state {
    SIP_CALL_CALLING = 0, /**< UAC: INVITE sent, no provisional with a tag yet */
    SIP_CALL_INCOMING,    /**< UAS: INVITE received, nothing sent but 100 */
    SIP_CALL_EARLY,       /**< a provisional response with a To tag was sent or received */
    SIP_CALL_CONNECTING,  /**< the 2xx was sent or received, the ACK not yet */
    SIP_CALL_CONFIRMED,   /**< the ACK was received or sent */
    SIP_CALL_ENDED,       /**< over: see sip_call_get_end_status() */
} sip_call_state_t;

/** What a call tells its application. */
typedef enum sip_call_event {
    SIP_CALL_EVENT_STATE = 1, /**< the state changed (msg: the message that changed it, or
                                   NULL for a timeout or a local action) */
    SIP_CALL_EVENT_RESPONSE,  /**< UAC: a response to the INVITE (every provisional, the final
                                   one) before the state event it may cause; a reliable
                                   provisional (RFC 3262) once, not its retransmissions; a 422
                                   the call retries (RFC 4028) too */
    SIP_CALL_EVENT_REQUEST,   /**< a request inside the call the call does not handle itself
                                   (INFO, OPTIONS, MESSAGE, NOTIFY, REFER...): txn is its
                                   server transaction, to answer now or later (sip_txn_ref()
                                   it; one left unanswered and unreferenced is answered
                                   500). A call without a callback answers INFO and OPTIONS
                                   200 and others 501 */
    SIP_CALL_EVENT_REINVITE,  /**< a re-INVITE or UPDATE from the other side was answered
                                   (msg: the request) */
    SIP_CALL_EVENT_OFFER,     /**< without the engine: the other side made an offer (msg: the
                                   re-INVITE, UPDATE, or the 2xx of an INVITE sent without
                                   one); answer it with sip_call_answer_offer() or refuse it
                                   with sip_call_reject_offer(), now or later */
    SIP_CALL_EVENT_MEDIA,     /**< an offer/answer exchange completed: the local and remote
                                   SDP (sip_call_get_local_sdp(), ..._remote_sdp()) changed */
    SIP_CALL_EVENT_MODIFIED,  /**< a re-INVITE or UPDATE of ours got its final response (msg);
                                   a 491 was retried first (RFC 3261 §14.1), a failure left
                                   the session as it was; the session refreshes the call sends
                                   itself (RFC 4028) are reported too */
} sip_call_event_t;

/**
 * An event of a call.
 * @param msg  Borrowed for the call (sip_msg_ref() it to keep it), or NULL
 * @param txn  for SIP_CALL_EVENT_REQUEST its server transaction (Borrowed), else NULL
 */
typedef void (*sip_call_event_cb)(sip_call_t *call, sip_call_event_t event, sip_msg_t *msg,
                                  sip_txn_t *txn, void *user);

/** Reliable provisional responses (RFC 3262, option tag 100rel) for a call. */
typedef enum sip_call_100rel {
    SIP_CALL_100REL_SUPPORTED = 0, /**< the default: the INVITE lists 100rel in Supported; as
                                        UAS, provisionals go reliably when the INVITE lists
                                        100rel in Supported or Require */
    SIP_CALL_100REL_OFF,           /**< not used: an INVITE that Requires 100rel is answered
                                        420 by sip_call_accept(); reliable provisionals
                                        received are taken as plain ones (no PRACK) */
    SIP_CALL_100REL_REQUIRED,      /**< the INVITE carries Require: 100rel; as UAS, an INVITE
                                        without 100rel is answered 421 */
} sip_call_100rel_t;

/** Session timers (RFC 4028, option tag timer) for a call. */
typedef enum sip_call_session_timer {
    SIP_CALL_TIMER_SUPPORTED = 0, /**< the default: requests list timer and ask for
                                       session_expires; a timer runs when the other side (or
                                       a proxy) agrees */
    SIP_CALL_TIMER_OFF,           /**< no session timer: Session-Expires is neither sent nor
                                       obeyed, a request that Requires timer gets 420 */
    SIP_CALL_TIMER_ALWAYS,        /**< as SUPPORTED, and a timer runs even with a peer that
                                       knows nothing of them (this side then refreshes) */
    SIP_CALL_TIMER_REQUIRED,      /**< as ALWAYS, and requests carry Require: timer */
} sip_call_session_timer_t;

/** Who refreshes the session (RFC 4028 §7.1, §9) when this side has a say. */
typedef enum sip_call_refresher {
    SIP_CALL_REFRESHER_AUTO = 0, /**< the default: the UAC asks for none and a UAS picks the
                                      caller when it supports timer */
    SIP_CALL_REFRESHER_LOCAL,    /**< this side refreshes */
    SIP_CALL_REFRESHER_REMOTE,   /**< the other side refreshes */
} sip_call_refresher_t;

/** Options of a call; initialise with sip_call_opts_init(). Strings are copied. */
typedef struct sip_call_opts {
    const char *from;          /**< UAC: the From address (NULL: the UA's default) */
    const char *media;         /**< the local media capabilities, an SDP ("m=audio 4000
                                    RTP/AVP 0 8 101" with its rtpmap lines): with it the call's
                                    offer/answer engine (sip/oa.h) makes every offer and answer
                                    (codec intersection, hold, re-offers; 488 for an offer it
                                    cannot answer), and sdp is not used */
    const char *media_address; /**< the engine's c= and o= address (default: the host of the
                                    Contact; required when that is a name) */
    int late_offer;            /**< UAC with media: send the INVITE without an offer; the
                                    offer comes in the 2xx and the engine answers in the ACK */
    const char *sdp;           /**< without media, UAC: the offer in the INVITE as text (NULL:
                                    none, the offer comes in the 2xx: SIP_CALL_EVENT_OFFER) */
    const char *headers;       /**< extra headers for the INVITE, "Name: value" lines separated by
                                    CRLF (or LF) */
    uint32_t timeout_ms;       /**< UAC: CANCEL when no final response within this (0: never;
                                    timer B still ends the INVITE) */
    const sip_netinfo_t *dst;  /**< UAC: where to send the INVITE (NULL: RFC 3263 / the URI) */
    int rel100;                /**< reliable provisionals, a sip_call_100rel_t (default
                                    SIP_CALL_100REL_SUPPORTED, matching the UA's default
                                    Supported: "100rel, timer") */
    int session_timer;         /**< session timers, a sip_call_session_timer_t (default
                                    SIP_CALL_TIMER_SUPPORTED; SIP_CALL_TIMER_OFF turns them
                                    off) */
    uint32_t session_expires;  /**< the session interval asked for, and the most granted as
                                    UAS, in seconds (0: 1800, RFC 4028 §4; never below
                                    min_se) */
    uint32_t min_se;           /**< the shortest session interval accepted, in seconds; a
                                    shorter one is refused with 422 (0: 90, never less) */
    int refresher;             /**< who refreshes, a sip_call_refresher_t (default
                                    SIP_CALL_REFRESHER_AUTO) */
} sip_call_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_call_opts_init(sip_call_opts_t *opts);

/**
 * Places a call: builds the INVITE (sip_ua_create_request()) and sends it in a client
 * transaction. Provisional responses with a To tag make early dialogs (one per tag when the
 * request forks); the first 2xx confirms its dialog and the core sends the ACK, again for each
 * retransmission of that 2xx; a 2xx of another fork is acknowledged and ended with BYE.
 * Each reliable provisional (RFC 3262) is PRACKed by the core in its fork's early dialog, with
 * the engine's answer when it carried an offer. A 422 (RFC 4028) is retried with its larger
 * Min-SE (at most 4 times) as a new INVITE of the same call (same Call-ID and From tag, CSeq
 * one higher). With a
 * session timer agreed in the 2xx, the core refreshes the session or ends it (see
 * sip_call_get_end_status()).
 * @param out     New reference
 * @param target  the Request-URI and To ("sip:bob@127.0.0.1:5070")
 * @param opts    NULL for the defaults
 * @param cb      the call's events (may be NULL)
 * @param user_free  runs once when the call is freed or closed, or when this fails
 * @return 0, SIP_EINVAL, SIP_EURI, SIP_ECLOSED, SIP_ENOMEM, or the transport's error.
 */
SIP_EXTERN int sip_call_invite(sip_call_t **out, sip_ua_t *ua, const char *target,
                               const sip_call_opts_t *opts, sip_call_event_cb cb, void *user,
                               sip_free_fn user_free);
/**
 * Makes a call of an INVITE received out of a dialog (in the UA's request callback). The call
 * handles the CANCEL that may follow (487, state Ended). An INVITE the options cannot serve is
 * answered by the call itself and this fails with SIP_ENOTACCEPTABLE: 488 for an offer the
 * engine cannot answer, 420 (Unsupported: 100rel) for 100rel Required with opts.rel100 OFF, 421
 * (Require: 100rel) for an INVITE without 100rel with opts.rel100 REQUIRED, 420 (Unsupported:
 * timer) for timer Required with opts.session_timer OFF, 422 (Min-SE) for a Session-Expires
 * below opts.min_se. An INVITE with Replaces (RFC 3891: attended transfer, call pickup) names
 * a call of this UA: once the new call is confirmed that one is hung up (BYE; CANCEL for an
 * early call this side placed); one naming no call (or an early call this side answers) is
 * answered 481, a call that ended 603, a confirmed call with early-only 486.
 * @param out   New reference
 * @param txn   the INVITE's server transaction (Borrowed; the call takes its own reference)
 * @return 0, SIP_EINVAL (not an INVITE server transaction, already answered), SIP_ECLOSED,
 *         SIP_ENOTACCEPTABLE (answered as above), SIP_ENOMEM.
 */
SIP_EXTERN int sip_call_accept(sip_call_t **out, sip_ua_t *ua, sip_txn_t *txn,
                               const sip_call_opts_t *opts, sip_call_event_cb cb, void *user,
                               sip_free_fn user_free);
/** Takes a reference. @return call. */
SIP_EXTERN sip_call_t *sip_call_ref(sip_call_t *call);
/**
 * Drops a reference. When the application drops its last one the call goes on until it ends
 * (a call not answered yet is answered 480; a confirmed call stays up until a BYE from either
 * side), and its callback runs no more. Accepts NULL.
 */
SIP_EXTERN void sip_call_unref(sip_call_t *call);

/**
 * UAS: sends a provisional response (101-199), with a To tag and Contact, making the dialog
 * early. The 100 Trying is the transaction layer's. When the INVITE Supports or Requires 100rel
 * (and opts.rel100 is not OFF) it goes reliably (RFC 3262 §3: Require: 100rel, RSeq), sent again
 * at T1, 2*T1 ... until its PRACK; 64*T1 without one answers the INVITE 500 and ends the call
 * (end status 500). Only one is unacknowledged at a time: a later one waits in a queue for that
 * PRACK (and is dropped if the final response goes first).
 * @param sdp  a session description for early media, or NULL
 * @return 0, SIP_EINVAL (not a UAS call, a bad status, already answered), SIP_ECLOSED, or the
 *         transport's error.
 */
SIP_EXTERN int sip_call_ring(sip_call_t *call, int status, const char *sdp);
/**
 * UAS: accepts the call with a 2xx (200 when status is 0), which the call sends again at T1,
 * 2*T1 ... T2 until the ACK comes (RFC 3261 §13.3.1.4); with no ACK within 64*T1 the call
 * sends BYE and ends. While a reliable provisional carrying SDP is unacknowledged the 2xx
 * waits for its PRACK (RFC 3262 §3) and goes when it comes (this returns 0 at once). The 2xx
 * carries Session-Expires as negotiated (RFC 4028 §9).
 * @param sdp  the answer (or the offer, when the INVITE had none)
 * @return 0, SIP_EINVAL, SIP_ECLOSED, or the transport's error.
 */
SIP_EXTERN int sip_call_answer(sip_call_t *call, int status, const char *sdp);
/**
 * UAS: rejects the call with a final response 300-699.
 * @param reason  NULL for the standard phrase
 * @return 0, SIP_EINVAL, SIP_ECLOSED, or the transport's error.
 */
SIP_EXTERN int sip_call_reject(sip_call_t *call, int status, const char *reason);
/**
 * Ends the call from this side, whatever its state: a UAC sends CANCEL before the final
 * response (RFC 3261 §9.1), a UAS that has not answered rejects with 480, and either sends BYE
 * once a 2xx was sent or received (even before the ACK, RFC 3261 §15). The call is Ended at once
 * for the application; the BYE's response is awaited by the core.
 * @param reason  a Reason header value (RFC 3326, "SIP;cause=200;text=\"Call completed\"") for
 *                the BYE or CANCEL, or NULL
 * @return 0, SIP_ECLOSED (already ended), or the transport's error.
 */
SIP_EXTERN int sip_call_hangup(sip_call_t *call, const char *reason);

/**
 * Sends a request inside the call's dialog (INFO, OPTIONS, MESSAGE...) in its own client
 * transaction.
 * @param content_type  NULL with body NULL for none
 * @param cb            the responses (may be NULL)
 * @return 0, SIP_EINVAL (INVITE, ACK, CANCEL, BYE, PRACK, UPDATE have their own functions),
 *         SIP_ECLOSED (no confirmed or early dialog), or the transport's error.
 */
SIP_EXTERN int sip_call_request(sip_call_t *call, const char *method, const char *content_type,
                                const char *body, sip_response_cb cb, void *user,
                                sip_free_fn user_free);

/**
 * Sends a re-INVITE (RFC 3261 §14) with an offer: sdp as given, or with the engine and sdp
 * NULL, the engine's next offer (which follows sip_call_hold() and the capabilities). A 491
 * (glare) is retried after the §14.1 wait; the outcome is SIP_CALL_EVENT_MODIFIED, and
 * SIP_CALL_EVENT_MEDIA when the session changed.
 * @return 0, SIP_EINVAL (no sdp and no engine), SIP_ECLOSED (not confirmed), SIP_EBUSY (a
 *         re-INVITE or UPDATE of ours, or an offer of the peer's, is still open), or the
 *         transport's error.
 */
SIP_EXTERN int sip_call_reinvite(sip_call_t *call, const char *sdp);
/**
 * Sends an UPDATE (RFC 3311) with an offer, as sip_call_reinvite() does; allowed in an early
 * dialog too. With sdp NULL and no engine it carries no offer (a session refresh).
 * @return as sip_call_reinvite().
 */
SIP_EXTERN int sip_call_update(sip_call_t *call, const char *sdp);
/**
 * Puts the call on hold or resumes it (RFC 3264 §8.4) with a re-INVITE whose offer the engine
 * makes sendonly (or inactive) or sendrecv again.
 * @param hold  1 to hold, 0 to resume
 * @return as sip_call_reinvite(); SIP_EINVAL without the engine.
 */
SIP_EXTERN int sip_call_hold(sip_call_t *call, int hold);
/**
 * Answers the offer of SIP_CALL_EVENT_OFFER (a call without the engine): in the 200 of the
 * re-INVITE or UPDATE, or in the ACK of an INVITE that went without an offer.
 * @return 0, SIP_EINVAL (no offer awaiting an answer), SIP_ECLOSED, or the transport's error.
 */
SIP_EXTERN int sip_call_answer_offer(sip_call_t *call, const char *sdp);
/**
 * Refuses the offer of SIP_CALL_EVENT_OFFER with a final response (488 when status is 0); the
 * session stays as it was. The offer in a 2xx cannot be refused this way: hang up instead.
 * @return 0, SIP_EINVAL, SIP_ECLOSED.
 */
SIP_EXTERN int sip_call_reject_offer(sip_call_t *call, int status);
/**
 * Extra header lines for the next message the call sends (a provisional or final response, a
 * re-INVITE, UPDATE, BYE, INFO...): "Name: value" lines separated by CRLF or LF; then
 * forgotten. NULL clears them.
 * @return 0, SIP_EINVAL (a line that does not parse: nothing is kept), SIP_ECLOSED,
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_call_set_headers(sip_call_t *call, const char *headers);
/** 1 when the other side holds this one (its last SDP is sendonly or inactive), with the
 *  engine; 0 otherwise. */
SIP_EXTERN int sip_call_is_remote_hold(const sip_call_t *call);
/** The call's offer/answer engine, or NULL without one. Borrowed. */
SIP_EXTERN sip_oa_t *sip_call_get_oa(sip_call_t *call);

/**
 * Sends a DTMF digit in an INFO with an application/dtmf-relay body ("Signal=5",
 * "Duration=160"), the form SIP phones send and receive.
 * @param digit        0-9, *, #, A-D
 * @param duration_ms  1 to 60000
 * @return as sip_call_request(); SIP_EINVAL for another digit or duration.
 */
SIP_EXTERN int sip_call_send_dtmf(sip_call_t *call, char digit, unsigned duration_ms);

/** The state. */
SIP_EXTERN sip_call_state_t sip_call_get_state(const sip_call_t *call);
/** Names a state ("Confirmed"). */
SIP_EXTERN const char *sip_call_state_name(sip_call_state_t state);
/** Names an event ("state"). */
SIP_EXTERN const char *sip_call_event_name(sip_call_event_t event);
/** 1 for a call this side placed. */
SIP_EXTERN int sip_call_is_uac(const sip_call_t *call);
/**
 * Why the call ended: the final status of a failed INVITE (486, 487, 408 for timer B...), 200
 * for a BYE either way, 408 when the session expired without a refresh (RFC 4028 §10: the call
 * sent BYE) or a refresh of ours got 408 or no answer, 500 for a reliable provisional never
 * PRACKed (RFC 3262 §3), or 0 while it has not.
 */
SIP_EXTERN int sip_call_get_end_status(const sip_call_t *call);
/** 1 when this side ended it (hangup, reject, CANCEL), 0 when the other or the network did. */
SIP_EXTERN int sip_call_ended_locally(const sip_call_t *call);
/** The dialog (confirmed, or the last early one), or NULL. Borrowed. */
SIP_EXTERN sip_dialog_t *sip_call_get_dialog(sip_call_t *call);
/**
 * The INVITE (sent or received). Borrowed; NULL once its transaction is over for the call (the
 * UAS got the ACK, the UAC's transaction ended) or the call ended: an established call keeps
 * only its dialog and session state.
 */
SIP_EXTERN sip_msg_t *sip_call_get_invite(sip_call_t *call);
/** The remote session description last received, or an empty view. Borrowed. */
SIP_EXTERN sip_str_t sip_call_get_remote_sdp(const sip_call_t *call);
/** The local session description last sent, or an empty view. Borrowed. */
SIP_EXTERN sip_str_t sip_call_get_local_sdp(const sip_call_t *call);
/** The UA. Borrowed; NULL once the call ended. */
SIP_EXTERN sip_ua_t *sip_call_get_ua(sip_call_t *call);

/**
 * Transferee: carries out a REFER received inside call (its SIP_CALL_EVENT_REQUEST) as RFC
 * 3515 and RFC 5589 describe, so that a blind or attended transfer needs no more of the
 * application. The REFER is accepted (202 and a NOTIFY "SIP/2.0 100 Trying"; with Refer-Sub:
 * false, RFC 4488, 202 with Refer-Sub: false and no NOTIFY) and a new call is placed to the
 * Refer-To URI without its headers, carrying those headers unescaped (Replaces for an attended
 * transfer, RFC 3891; RFC 3261 §19.1.5 ones such as Call-ID, From, To, Via are left out) and
 * the REFER's Referred-By (RFC 3892). Each provisional of the new call is reported to the
 * transferor in a message/sipfrag NOTIFY ("SIP/2.0 180 Ringing"), and its final status in the
 * NOTIFY that terminates the subscription (reason noresource; 487 when the new call is hung
 * up or dropped before an answer). After a 2xx the transferor normally ends the old call;
 * when it has not within 64*T1 this side hangs it up (RFC 5589 §6.1). A failed new call (486,
 * 481 from a target that knows no call to replace...) leaves the old call as it is. The REFER
 * may be refused first instead: with 400 for a Refer-To that is missing, repeated or not a
 * URI (or whose headers escape a line break, a NUL or a colon), 416 for one that is not a SIP
 * or SIPS URI (tel:, http:); then this fails with
 * SIP_ENOTACCEPTABLE. Not calling this leaves the REFER to the application (answer it, or
 * sip_sub_accept() it and report with sip_sub_notify() and sip_sub_terminate()).
 * @param out        the new call: New reference; NULL on failure
 * @param call       the call the REFER came in (the old call); Borrowed, kept until the
 *                   outcome is known
 * @param txn        the REFER's server transaction, not answered yet (Borrowed)
 * @param opts       the new call's options (media, sdp, headers added to the ones the REFER
 *                   gives...), or NULL for the defaults
 * @param cb         the new call's events (may be NULL), as sip_call_invite()
 * @param user_free  runs once when the new call is freed or closed, or when this fails
 * @return 0, SIP_EINVAL (NULL, not an unanswered REFER), SIP_ECLOSED (the call or the UA
 *         ended), SIP_ENOTACCEPTABLE (answered 400 or 416 as above), SIP_ENOMEM, or as
 *         sip_call_invite() (the REFER then accepted, and its failure reported: 503).
 */
SIP_EXTERN int sip_call_accept_transfer(sip_call_t **out, sip_call_t *call, sip_txn_t *txn,
                                        const sip_call_opts_t *opts, sip_call_event_cb cb,
                                        void *user, sip_free_fn user_free);

#ifdef __cplusplus
}
#endif
#endif
