/* SPDX-License-Identifier: MIT */
/* The SDP offer/answer engine (RFC 3264) an INVITE session drives: offers, answers, hold. */
#ifndef SIP_OA_H
#define SIP_OA_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/export.h"
#include "sip/sdp.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * One negotiator per session (and per early dialog of a forked INVITE). It keeps the local
 * capabilities, the active local and remote descriptions and the offer in flight. Opaque;
 * reference counted; not thread-safe (one session uses it from one thread).
 */
typedef struct sip_oa sip_oa_t;

/** Where an exchange stands (RFC 3264 §4: one offer, then one answer). */
typedef enum sip_oa_state {
    SIP_OA_IDLE = 0,     /**< no exchange has completed and none is in flight */
    SIP_OA_LOCAL_OFFER,  /**< an offer was made here; its answer is awaited */
    SIP_OA_REMOTE_OFFER, /**< an offer was received; the answer is to be made */
    SIP_OA_DONE,         /**< an exchange completed: the active descriptions are in place */
} sip_oa_state_t;

/** Options; initialise with sip_oa_opts_init(). Strings are copied by sip_oa_create(). */
typedef struct sip_oa_opts {
    const char *address;      /**< the address of this side, written in c= and o= ("192.0.2.1",
                                   "2001:db8::1"; IP6 when it holds a ':'). Required. */
    const char *username;     /**< the o= username (default NULL: "-") */
    const char *session_id;   /**< the o= sess-id, digits (default NULL: 62 random bits) */
    int64_t version;          /**< the o= sess-version of the first description (default -1:
                                   the same as the random session id, RFC 8866 §5.2) */
    const char *session_name; /**< the s= text (default NULL: "-") */
} sip_oa_opts_t;

/** Why a call failed: which stream, and why, in words. */
typedef struct sip_oa_error {
    int stream;       /**< 0-based index of the m= line at fault, -1 for the session as a whole */
    char reason[160]; /**< "stream 1 (m=video): no format in common (RFC 3264 §6.1)" */
} sip_oa_error_t;

/** Fills opts with the defaults above (address NULL, which sip_oa_create() refuses). */
SIP_EXTERN void sip_oa_opts_init(sip_oa_opts_t *opts);

/**
 * Creates a negotiator in SIP_OA_IDLE, with no local capabilities.
 * @param out   receives the negotiator (NULL on failure); New reference
 * @param opts  options; opts->address is required
 * @return 0, SIP_EINVAL (NULL, no address, a session_id that is not digits, a version below -1,
 *         a username, address or session name the o= and s= grammar refuses), SIP_EIO (no
 *         random bits), SIP_ENOMEM.
 */
SIP_EXTERN int sip_oa_create(sip_oa_t **out, const sip_oa_opts_t *opts);
/**
 * Copies a negotiator: capabilities, active session, offer in flight, streams and hold. A forked
 * INVITE gives each early dialog its own copy of the negotiator that made the offer, so that
 * each fork answers, re-offers and fails on its own (RFC 3261 §13.2.2.4, RFC 3264 §4).
 * @param out  receives the copy (NULL on failure); New reference
 * @param oa   the negotiator to copy
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_oa_clone(sip_oa_t **out, const sip_oa_t *oa);
/** Takes a reference. @return oa. */
SIP_EXTERN sip_oa_t *sip_oa_ref(sip_oa_t *oa);
/** Drops a reference; frees the negotiator and its descriptions with the last one. Accepts NULL. */
SIP_EXTERN void sip_oa_unref(sip_oa_t *oa);

/**
 * Sets the local capabilities: the media this side can do, one m= line per stream it offers,
 * with its port, formats (a=rtpmap and a=fmtp for each dynamic payload type), direction and
 * other attributes ("m=audio 49170 RTP/AVP 0 8 101" with "a=rtpmap:101 telephone-event/8000").
 * Offers take every m= line in order; answers take, per offered stream, the first unused one of
 * the same media type and protocol. Before the first exchange the next offer follows the new
 * capabilities; afterwards the next offer rebuilds every active stream from them (keeping the
 * payload type numbers already in use, RFC 3264 §8.3.2).
 * @param oa    the negotiator
 * @param caps  the capabilities; Takes its own reference (do not edit caps afterwards)
 * @param err   filled on failure; may be NULL
 * @return 0, SIP_ESDP (a dynamic payload type without a=rtpmap, an RTP format that is not a
 *         payload type: err names the stream), SIP_EINVAL.
 */
SIP_EXTERN int sip_oa_set_local(sip_oa_t *oa, sip_sdp_t *caps, sip_oa_error_t *err);

/**
 * Makes an offer: the first one from the capabilities; a later one (re-INVITE, UPDATE) keeps
 * the m= lines of the session in count and order, adds streams at the end, marks removed ones
 * with port 0 (RFC 3264 §8), keeps the o= session id and increments its version only when the
 * description changed (§8; the same version for an unchanged offer). The state becomes
 * SIP_OA_LOCAL_OFFER. In that state it gives the offer in flight again.
 * @param oa   the negotiator
 * @param out  receives the offer (NULL on failure); New reference; do not edit it
 * @param err  filled on failure; may be NULL
 * @return 0, SIP_EINVAL (no capabilities, a remote offer awaiting its answer: err says so),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_oa_create_offer(sip_oa_t *oa, sip_sdp_t **out, sip_oa_error_t *err);

/**
 * Makes an offer the application wrote the offer in flight (a B2BUA relays the other leg's
 * offer). It must keep the session's m= lines as sip_oa_set_remote_offer() checks a re-offer;
 * once answered, its o= username, session id and version become the ones later descriptions
 * from this negotiator continue from. The state becomes SIP_OA_LOCAL_OFFER.
 * @param oa     the negotiator
 * @param offer  the offer; Takes its own reference
 * @param err    filled on failure; may be NULL
 * @return 0, SIP_ESDP (err names the stream; the state is unchanged), SIP_EINVAL (an offer is
 *         already in flight).
 */
SIP_EXTERN int sip_oa_set_local_offer(sip_oa_t *oa, sip_sdp_t *offer, sip_oa_error_t *err);

/**
 * Takes the answer to the offer in flight and completes the exchange: it must have the offer's
 * m= lines in number and order (RFC 3264 §6), port 0 where the offer had it, and for each
 * accepted stream the same protocol, a connection address, a direction the offer allows
 * (§6.1: sendonly answered recvonly or inactive, and so on) and at least one of the offered
 * formats (§6.1 lets an answer add formats of its own). The state becomes SIP_OA_DONE.
 * @param oa      the negotiator
 * @param answer  the answer; Takes its own reference
 * @param err     filled on failure; may be NULL
 * @return 0, SIP_ESDP (the answer breaks a rule: err names the stream; the offer stays in
 *         flight), SIP_EINVAL (no offer in flight).
 */
SIP_EXTERN int sip_oa_set_remote_answer(sip_oa_t *oa, sip_sdp_t *answer, sip_oa_error_t *err);

/**
 * Takes an offer from the peer. A re-offer must keep the m= lines of the session in order
 * (RFC 3264 §8: never fewer; a stream may change its media type in place, §8.3.3, as a T.38
 * re-offer does from audio to image). The state becomes
 * SIP_OA_REMOTE_OFFER; answer with sip_oa_create_answer() or sip_oa_set_local_answer().
 * @param oa     the negotiator
 * @param offer  the offer; Takes its own reference
 * @param err    filled on failure; may be NULL
 * @return 0, SIP_ESDP (the offer breaks a rule: err names the stream; the state is unchanged),
 *         SIP_EINVAL (an offer is already in flight: a session answers 491, RFC 3261 §14.2, or
 *         500 when it is the peer's own, §14.2).
 */
SIP_EXTERN int sip_oa_set_remote_offer(sip_oa_t *oa, sip_sdp_t *offer, sip_oa_error_t *err);

/**
 * Answers the remote offer from the local capabilities and completes the exchange. One m= line
 * per offered one, in order (RFC 3264 §6). A stream is accepted with the offered formats that
 * match the capabilities, in the offer's order: by encoding name (any case), clock rate and
 * channels; a static payload type without a=rtpmap by its RFC 3551 name, else by number; each
 * with the offerer's payload type number (§6.1). telephone-event and CN are kept only when both
 * sides have them and never make a stream acceptable alone. A stream with no format in common,
 * of a media type or protocol the capabilities lack, or offered with port 0 is answered with
 * port 0 and the offered formats (§6). The direction is the offered one reversed, limited to
 * the local one (§6.1): sendonly gives recvonly, recvonly sendonly, inactive inactive; a
 * connection address of 0.0.0.0 counts as sendonly (RFC 2543 hold, RFC 3264 §8.4).
 * @param oa   the negotiator
 * @param out  receives the answer (NULL on failure); New reference; do not edit it
 * @param err  filled on failure; may be NULL
 * @return 0; SIP_ENOTACCEPTABLE when no offered stream can be accepted: a session answers
 *         488 Not Acceptable Here (RFC 3261 §13.3.1.1), the offer is dropped and the active
 *         session stays; SIP_EINVAL (no remote offer awaiting, no capabilities), SIP_ENOMEM.
 */
SIP_EXTERN int sip_oa_create_answer(sip_oa_t *oa, sip_sdp_t **out, sip_oa_error_t *err);

/**
 * Completes the exchange with an answer the application made (a B2BUA relays the other leg's).
 * It is checked as sip_oa_set_remote_answer() checks one. Its o= username, session id and
 * version become the ones later descriptions continue from.
 * @param oa      the negotiator
 * @param answer  the answer; Takes its own reference
 * @param err     filled on failure; may be NULL
 * @return 0, SIP_ESDP (err names the stream; the offer stays awaiting an answer),
 *         SIP_EINVAL (no remote offer awaiting).
 */
SIP_EXTERN int sip_oa_set_local_answer(sip_oa_t *oa, sip_sdp_t *answer, sip_oa_error_t *err);

/**
 * Drops the offer in flight, ours or the peer's, and returns to the session as it was (after a
 * 491 or 488 to a re-offer, a CANCEL or an error). Stream additions, removals and hold stay
 * wanted for the next offer.
 * @param oa  the negotiator
 * @return 0, SIP_ENOENT (no offer in flight), SIP_EINVAL.
 */
SIP_EXTERN int sip_oa_cancel_offer(sip_oa_t *oa);

/**
 * Puts the session on hold or resumes it from the next offer: on hold every active stream is
 * offered sendonly (inactive when the peer's last description already holds us: sendonly or
 * inactive there), resumed it is offered with the capabilities' direction (RFC 3264 §8.4).
 * Answers made on hold do not ask to receive either.
 * @param oa    the negotiator
 * @param hold  1 to hold, 0 to resume
 * @return 0, SIP_EINVAL.
 */
SIP_EXTERN int sip_oa_set_hold(sip_oa_t *oa, int hold);
/** 1 when this side holds (sip_oa_set_hold()), 0 when not, SIP_EINVAL for NULL. */
SIP_EXTERN int sip_oa_get_hold(const sip_oa_t *oa);
/**
 * Whether the peer holds us: every active stream of its active description is sendonly or
 * inactive, or has connection address 0.0.0.0.
 * @return 1 or 0 (also 0 before any exchange or with no active stream), SIP_EINVAL for NULL.
 */
SIP_EXTERN int sip_oa_get_remote_hold(const sip_oa_t *oa);

/**
 * Whether the last completed exchange changed the peer's description: 1 after the first one, and
 * after one whose remote description differs from the one before; 0 when the peer sent the same
 * description again (a session refresh, RFC 4028, or an unchanged re-offer: RFC 3264 §8 keeps
 * its o= version), so that the media need not be touched.
 * @return 1 or 0 (also 0 before any exchange), SIP_EINVAL for NULL.
 */
SIP_EXTERN int sip_oa_get_remote_changed(const sip_oa_t *oa);

/**
 * Adds a stream to the next offer, from the m= line caps_idx of the capabilities. It takes the
 * first stream slot of the same media type that is disabled (port 0; RFC 3264 §8.1 allows its
 * reuse), else a new slot at the end (§8.1).
 * @param oa        the negotiator
 * @param caps_idx  the m= line of the capabilities
 * @return the index of the stream (>= 0), SIP_EINVAL (no capabilities, caps_idx out of range),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_oa_add_media(sip_oa_t *oa, size_t caps_idx);
/**
 * Removes a stream from the next offer: its m= line stays, with port 0 (RFC 3264 §8.2).
 * @param oa   the negotiator
 * @param idx  the index of the stream
 * @return 0, SIP_EINVAL (idx out of range).
 */
SIP_EXTERN int sip_oa_remove_media(sip_oa_t *oa, size_t idx);
/** The number of stream slots the next offer has (m= lines, port 0 ones included). */
SIP_EXTERN size_t sip_oa_media_count(const sip_oa_t *oa);

/** The state; SIP_OA_IDLE for NULL. */
SIP_EXTERN sip_oa_state_t sip_oa_get_state(const sip_oa_t *oa);
/** The name of a state ("idle", "local_offer", "remote_offer", "done"); NULL when unknown. */
SIP_EXTERN const char *sip_oa_state_name(sip_oa_state_t state);
/** The local description of the active session, or NULL before the first exchange. Borrowed. */
SIP_EXTERN const sip_sdp_t *sip_oa_get_local(const sip_oa_t *oa);
/** The remote description of the active session, or NULL before the first exchange. Borrowed. */
SIP_EXTERN const sip_sdp_t *sip_oa_get_remote(const sip_oa_t *oa);
/** The offer in flight (ours or the peer's), or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_t *sip_oa_get_offer(const sip_oa_t *oa);

#ifdef __cplusplus
}
#endif
#endif
