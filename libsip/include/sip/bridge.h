/* SPDX-License-Identifier: MIT */
/* A back-to-back user agent (B2BUA): an incoming call bridged to an outgoing one, with a new
 * Call-ID, tags and Via, relaying what each side says to the other (drachtio-srf's
 * createB2BUA is the shape). */
#ifndef SIP_BRIDGE_H
#define SIP_BRIDGE_H

#include <stdint.h>

#include "sip/call.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A bridge between two calls. Opaque; reference counted. */
typedef struct sip_bridge sip_bridge_t;

/** The two legs. */
typedef enum sip_bridge_leg {
    SIP_BRIDGE_A = 0, /**< the incoming call */
    SIP_BRIDGE_B = 1, /**< the outgoing call the bridge placed */
} sip_bridge_leg_t;

/** What a bridge tells its application. */
typedef enum sip_bridge_event {
    SIP_BRIDGE_EVENT_RELAY = 1, /**< msg, received on the other leg, is about to be relayed to
                                     leg (a provisional, the answer, a re-INVITE, UPDATE or
                                     INFO, a BYE): sip_bridge_set_sdp() replaces the SDP that
                                     goes out and sip_call_set_headers() on that leg adds
                                     headers, during the callback */
    SIP_BRIDGE_EVENT_ANSWERED,  /**< B answered and A was answered with B's session */
    SIP_BRIDGE_EVENT_FAILED,    /**< B failed before answering (msg: its final response, or
                                     NULL for a timeout): with keep_a_on_failure, A is left
                                     unanswered for the application (bridge it elsewhere, also
                                     from inside this event), else A got B's status */
    SIP_BRIDGE_EVENT_ENDED,     /**< both legs are over (leg: the one that ended first) */
} sip_bridge_event_t;

/**
 * An event of a bridge.
 * @param leg  the leg the event is about (for RELAY: where the message goes)
 * @param msg  Borrowed for the call, or NULL
 */
typedef void (*sip_bridge_event_cb)(sip_bridge_t *br, sip_bridge_event_t event,
                                    sip_bridge_leg_t leg, sip_msg_t *msg, void *user);

/** Options; initialise with sip_bridge_opts_init(). Strings are copied. */
typedef struct sip_bridge_opts {
    const char *from;         /**< B's From address (NULL: A's From, with a new tag) */
    const char *headers;      /**< extra header lines for B's INVITE */
    uint32_t timeout_ms;      /**< CANCEL B when it has not answered within this (0: never) */
    int keep_a_on_failure;    /**< 1: when B fails, leave A unanswered for the application
                                   (forward on busy or no answer); 0 (default): answer A with
                                   B's final status */
    const sip_netinfo_t *dst; /**< where to send B's INVITE (NULL: RFC 3263 / the URI) */
    const char *sdp;          /**< the offer of B's INVITE (NULL: A's offer as received); a
                                   topology-hiding B2BUA gives A's under an o= line of its own */
} sip_bridge_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_bridge_opts_init(sip_bridge_opts_t *opts);

/**
 * Bridges call a (an incoming call, not answered yet, without the offer/answer engine: the
 * bridge relays SDP as it is) to a new outgoing call to target, placed on a's UA: B's INVITE
 * carries A's offer; B's provisionals (with their early media SDP) are relayed to A, B's answer
 * answers A; then re-INVITE, UPDATE and INFO go across both ways, a CANCEL of A cancels B, and
 * a BYE on either leg ends the other. The application still hears a's own events.
 * @param out     New reference
 * @param a       the incoming call (Borrowed; the bridge takes its own reference)
 * @param target  B's Request-URI
 * @return 0, SIP_EINVAL (a is not an unanswered incoming call, has the engine, or came without
 *         an offer), SIP_EBUSY (a is bridged already), SIP_ECLOSED, SIP_ENOMEM, or
 *         sip_call_invite()'s error.
 */
SIP_EXTERN int sip_bridge_create(sip_bridge_t **out, sip_call_t *a, const char *target,
                                 const sip_bridge_opts_t *opts, sip_bridge_event_cb cb, void *user,
                                 sip_free_fn user_free);
/** Takes a reference. @return br. */
SIP_EXTERN sip_bridge_t *sip_bridge_ref(sip_bridge_t *br);
/** Drops a reference. The bridge goes on until both legs end (or their UA closes, which ends
 *  it without an event). Accepts NULL. */
SIP_EXTERN void sip_bridge_unref(sip_bridge_t *br);
/**
 * Ends both legs (CANCEL, reject or BYE, as sip_call_hangup()).
 * @param reason  a Reason header value for both, or NULL
 * @return 0, SIP_ECLOSED (already over).
 */
SIP_EXTERN int sip_bridge_hangup(sip_bridge_t *br, const char *reason);
/**
 * During SIP_BRIDGE_EVENT_RELAY: the SDP to send instead of the received one (NULL: none).
 * @return 0, SIP_EINVAL (not inside a RELAY event that carries SDP), SIP_ENOMEM.
 */
SIP_EXTERN int sip_bridge_set_sdp(sip_bridge_t *br, const char *sdp);
/** A leg's call. Borrowed; NULL for B before it exists. */
SIP_EXTERN sip_call_t *sip_bridge_get_call(sip_bridge_t *br, sip_bridge_leg_t leg);
/** 1 while both legs are up or being set up, 0 once the bridge is over. */
SIP_EXTERN int sip_bridge_is_active(const sip_bridge_t *br);
/** Names an event ("relay"). */
SIP_EXTERN const char *sip_bridge_event_name(sip_bridge_event_t event);

#ifdef __cplusplus
}
#endif
#endif
