/* SPDX-License-Identifier: MIT */
/* The transaction layer (RFC 3261 §17 with RFC 6026): client and server transactions, their
 * timers and retransmissions, matching, CANCEL (§9) and stateless sending. */
#ifndef SIP_TXN_H
#define SIP_TXN_H

#include <stdint.h>

#include "sip/loop.h"
#include "sip/msg.h"
#include "sip/net.h"
#include "sip/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The transactions of one transport. Opaque; reference counted; closes with its loop. */
typedef struct sip_txn_layer sip_txn_layer_t;
/** One client or server transaction. Opaque; reference counted. */
typedef struct sip_txn sip_txn_t;

/**
 * A clock for the transaction timers. The layer keeps one wake-up at a time: start_timer replaces
 * the previous one. The default runs on the loop's timers; tests install their own to drive time
 * by hand.
 */
typedef struct sip_txn_clock {
    /** The current time in milliseconds (monotonic). */
    uint64_t (*now_ms)(void *clock_user);
    /** Calls fire(arg) once, delay_ms from now, replacing the earlier wake-up. */
    void (*start_timer)(void *clock_user, uint64_t delay_ms, void (*fire)(void *arg), void *arg);
    /** Cancels the wake-up; no fire() after it returns. */
    void (*stop_timer)(void *clock_user);
    void *user; /**< passed to every function above */
} sip_txn_clock_t;

/** Options; initialise with sip_txn_opts_init(). */
typedef struct sip_txn_opts {
    uint32_t t1_ms;        /**< RFC 3261 T1, the round-trip estimate (default 500) */
    uint32_t t2_ms;        /**< T2, the longest non-INVITE retransmit interval (default 4000) */
    uint32_t t4_ms;        /**< T4, how long a message stays in the network (default 5000) */
    uint32_t timer_100_ms; /**< INVITE server: send 100 Trying when the TU has not answered
                                within this (default 200; 0: at once) */
    const sip_txn_clock_t *clock; /**< layer only: NULL for the loop's timers; copied */
    int cancel_keeps_invite;      /**< layer only: what a CANCEL does to the INVITE server
                                       transaction it matches. 0 (default): the layer answers the
                                       CANCEL 200 and the INVITE 487, then tells the TU. 1 (a stateful
                                       proxy, RFC 3261 §16.10): the CANCEL is answered 200 but the
                                       INVITE is left unanswered; the TU gets SIP_TXN_EVENT_CANCEL and
                                       answers it (usually relaying the 487 from downstream). Per
                                       transaction: sip_txn_set_cancel_keeps_invite() */
} sip_txn_opts_t;

/** Transaction states (RFC 3261 §17 figures 5-8, RFC 6026 Accepted). */
typedef enum sip_txn_state {
    SIP_TXN_CALLING = 0, /**< INVITE client: request sent, nothing heard */
    SIP_TXN_TRYING,      /**< non-INVITE client or server: no provisional yet */
    SIP_TXN_PROCEEDING,  /**< a provisional response was received or sent */
    SIP_TXN_COMPLETED,   /**< a final response (non-2xx for INVITE) was received or sent */
    SIP_TXN_ACCEPTED,    /**< RFC 6026: INVITE 2xx received or sent */
    SIP_TXN_CONFIRMED,   /**< INVITE server: ACK received */
    SIP_TXN_TERMINATED,  /**< over, or closed */
} sip_txn_state_t;

/** What a server transaction tells its TU besides the request. */
typedef enum sip_txn_event {
    SIP_TXN_EVENT_CANCEL = 1, /**< a CANCEL matched this INVITE, which had no final response
                                   (msg is the CANCEL); the layer answered the CANCEL 200 and the
                                   INVITE 487, or with cancel_keeps_invite left the INVITE for
                                   the TU to answer */
    SIP_TXN_EVENT_TIMEOUT,    /**< timer H: no ACK for the non-2xx final response */
    SIP_TXN_EVENT_ERROR,      /**< the transport could not send a response */
} sip_txn_event_t;

/**
 * A response to a client transaction, or its end without one.
 * @param status  the response's status; 408 with rsp NULL for a timeout (timer B or F), 503 with
 *                rsp NULL for a transport error (RFC 3261 §8.1.3.1)
 * @param rsp     Borrowed for the call (sip_msg_ref() it to keep it), or NULL
 */
typedef void (*sip_response_cb)(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user);

/**
 * A request that is not part of an existing transaction.
 * @param txn  the new server transaction (Borrowed: sip_txn_ref() it to answer after the callback
 *             returns), or NULL for an ACK that belongs to no transaction (the ACK of a 2xx)
 * @param req  Borrowed for the call
 */
typedef void (*sip_request_cb)(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user);

/**
 * A response that matches no client transaction (a 2xx retransmission after the transaction
 * ended, or a response a stateless proxy forwards). rsp is Borrowed for the call.
 */
typedef void (*sip_stray_response_cb)(sip_txn_layer_t *layer, sip_msg_t *rsp, void *user);

/**
 * An event of a server transaction; msg is the CANCEL for SIP_TXN_EVENT_CANCEL (Borrowed for the
 * call: sip_msg_ref() it to keep it), else NULL.
 */
typedef void (*sip_txn_event_cb)(sip_txn_t *txn, sip_txn_event_t event, const sip_msg_t *msg,
                                 void *user);

/**
 * Fills opts with the defaults (T1 500, T2 4000, T4 5000, 100 Trying after 200 ms, no clock,
 * cancel_keeps_invite 0).
 */
SIP_EXTERN void sip_txn_opts_init(sip_txn_opts_t *opts);

/**
 * Creates the transaction layer of a transport, as two links of its handler chain: at
 * SIP_HANDLER_PRIO_TXN requests and responses of transactions are handled; what is left goes on
 * (through handlers such as a UA core at SIP_HANDLER_PRIO_UA) to the request and stray-response
 * handlers, in the transport's application slot (SIP_HANDLER_PRIO_APP). An application handler
 * set later with sip_transport_set_handler() replaces the layer's links, and feeds it with
 * sip_txn_layer_receive().
 * @param out   New reference
 * @param tp    the transport (the layer takes its own reference)
 * @param opts  NULL for the defaults
 * @return 0, SIP_EINVAL, SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_txn_layer_create(sip_txn_layer_t **out, sip_transport_t *tp,
                                    const sip_txn_opts_t *opts);
/** Takes a reference. @return layer. */
SIP_EXTERN sip_txn_layer_t *sip_txn_layer_ref(sip_txn_layer_t *layer);
/** Drops a reference; the last one closes the layer. Accepts NULL. */
SIP_EXTERN void sip_txn_layer_unref(sip_txn_layer_t *layer);
/**
 * Closes every transaction (no callback from them after this returns; their user_free runs),
 * releases the transport and the handlers, and takes the layer's links out of the transport's
 * handler chain (an application's handler in the slot stays). Idempotent; sip_loop_close() does
 * it too.
 */
SIP_EXTERN void sip_txn_layer_close(sip_txn_layer_t *layer);

/**
 * Sets the callback for requests that start a server transaction, and for ACKs of no
 * transaction. Without one, new requests are answered 500. Replacing one runs its user_free.
 * @return 0, SIP_EINVAL, SIP_ECLOSED (user_free runs on failure).
 */
SIP_EXTERN int sip_txn_layer_set_request_handler(sip_txn_layer_t *layer, sip_request_cb cb,
                                                 void *user, sip_free_fn user_free);
/**
 * Sets the callback for responses that match no client transaction (dropped without one).
 * @return 0, SIP_EINVAL, SIP_ECLOSED (user_free runs on failure).
 */
SIP_EXTERN int sip_txn_layer_set_stray_handler(sip_txn_layer_t *layer, sip_stray_response_cb cb,
                                               void *user, sip_free_fn user_free);

/**
 * Hands a received message to the layer, as its two links in the transport's chain do (for
 * applications that filter messages before the transaction layer).
 * @param msg  Borrowed; the layer takes its own reference to what it keeps
 * @return 0, SIP_EINVAL, SIP_ECLOSED.
 */
SIP_EXTERN int sip_txn_layer_receive(sip_txn_layer_t *layer, sip_msg_t *msg);

/** The number of live transactions (client and server). */
SIP_EXTERN size_t sip_txn_layer_count(const sip_txn_layer_t *layer);
/** The transport underneath. Borrowed; NULL once closed. */
SIP_EXTERN sip_transport_t *sip_txn_layer_get_transport(sip_txn_layer_t *layer);

/**
 * Starts a client transaction and sends the request. The request gets a top Via with a fresh
 * RFC 3261 branch (z9hG4bK...) when it has none, and the transport stamps its sent-by.
 * @param out    New reference (keep it to cancel or close; unref it any time: the transaction
 *               runs to its end regardless)
 * @param req    the request (not ACK: the ACK of a 2xx is sent with sip_txn_send_stateless());
 *               the transaction takes its own reference and edits its Via
 * @param dst    where to send (transport, remote_ip, remote_port), or NULL to locate the target
 *               through RFC 3263 with the transport's resolver (sip_transport_set_resolver();
 *               without one, sip_transport_send_request()). A located target that fails at the
 *               transport, stays silent until Timer B/F or answers 503 is left for the next one
 *               as a new transaction with a new branch under the same handle (RFC 3263 §4.3);
 *               cb hears only the last target's failure
 * @param opts   per-transaction T1, T2, T4 (a zero field: the layer's), or NULL for the layer's
 * @param cb     called for each response (provisional and final) and for the end without one
 *               (408, 503); never after sip_txn_close()
 * @param user_free  runs once when the transaction ends or is closed, or when this call fails
 * @return 0, SIP_EINVAL (not a request, ACK, no Call-ID/CSeq/From/To), SIP_ECLOSED, SIP_ENOMEM,
 *         or the transport's immediate error (then cb never runs).
 */
SIP_EXTERN int sip_txn_client_create(sip_txn_t **out, sip_txn_layer_t *layer, sip_msg_t *req,
                                     const sip_netinfo_t *dst, const sip_txn_opts_t *opts,
                                     sip_response_cb cb, void *user, sip_free_fn user_free);

/**
 * Starts the server transaction of a new request that a handler of the transport's chain took
 * (a UA core or registrar before the layer's request handler; PJSIP's pjsip_tsx_create_uas).
 * The transaction then absorbs the request's retransmissions (they never reach the chain's later
 * handlers), sends 100 Trying for an INVITE unless answered within timer_100_ms, and answers 500
 * once the last reference other than the layer's goes without a final response (RFC 3261 §8.2).
 * Merged requests (§8.2.2.2) and CANCELs of a transaction here never get this far: the layer's
 * first link answers them.
 * @param out  New reference
 * @param req  the request as received (the transaction takes its own reference)
 * @return 0, SIP_EINVAL (not a request, ACK, no Via/CSeq/Call-ID), SIP_EEXIST (the request
 *         belongs to a transaction already), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_txn_server_create(sip_txn_t **out, sip_txn_layer_t *layer, sip_msg_t *req);

/**
 * Cancels a pending INVITE (RFC 3261 §9.1): sends a CANCEL in its own transaction once a
 * provisional response has arrived (at once if one has). When no final response follows within
 * 64*T1 of the CANCEL, the transaction ends with 408.
 * @return 0 (sent, queued, or already asked), SIP_EINVAL (not an INVITE client transaction),
 *         SIP_ECLOSED (closed, or a final response already arrived), SIP_ENOMEM.
 */
SIP_EXTERN int sip_txn_cancel(sip_txn_t *txn);
/**
 * sip_txn_cancel() with a Reason header in the CANCEL (RFC 3326), e.g.
 * "SIP;cause=200;text=\"Call completed elsewhere\"".
 * @param reason  the header value, or NULL for none
 * @return as sip_txn_cancel(); SIP_EINVAL for a value that does not parse as a header value.
 */
SIP_EXTERN int sip_txn_cancel_with_reason(sip_txn_t *txn, const char *reason);

/**
 * Answers a server transaction, provisionally or finally, now or later (RFC 3261 §17.2). In the
 * RFC 6026 Accepted state further 2xx (the TU's retransmissions) go out too.
 * @param rsp  a response to the transaction's request (sip_msg_create_response()); the
 *             transaction takes its own reference while it is active, and keeps a final
 *             response it may have to resend in wire form after that
 * @return 0, SIP_EINVAL (not a server transaction, not a response, or not allowed in this state),
 *         SIP_ECLOSED, or the transport's error (then the transaction has ended).
 */
SIP_EXTERN int sip_txn_reply(sip_txn_t *txn, sip_msg_t *rsp);
/**
 * Creates a response to a server transaction's request (RFC 3261 §8.2.6.2), to edit and send
 * with sip_txn_reply(). Its To tag is the one the transaction's responses already carry (the
 * request's own in a dialog; else that of a response sent, or created by an earlier call), or a
 * new one the transaction then keeps for its later responses, sent or not: all the responses of
 * a transaction carry the same tag. A 100 Trying gets none (§8.2.6.2 allows it to).
 * It needs the request, so only until the final response was sent (then SIP_EINVAL; 2xx
 * retransmissions in Accepted resend the same message with sip_txn_reply()).
 * @param out     New reference; NULL on failure
 * @param txn     a server transaction (Borrowed)
 * @param status  100 to 699
 * @param reason  NULL for the standard phrase
 * @return 0, SIP_EINVAL (NULL, a client transaction, a bad status, no request any more),
 *         SIP_ECLOSED (ended), SIP_ENOMEM, SIP_EIO (no randomness for a new tag).
 */
SIP_EXTERN int sip_txn_create_response(sip_msg_t **out, sip_txn_t *txn, int status,
                                       const char *reason);
/**
 * Builds a response with sip_txn_create_response() and sends it with sip_txn_reply().
 * @param reason  NULL for the standard phrase
 * @return as sip_txn_create_response() and sip_txn_reply().
 */
SIP_EXTERN int sip_txn_respond(sip_txn_t *txn, int status, const char *reason);

/**
 * Sets the callback for the events of a server transaction (CANCEL, timeout, transport error).
 * Replacing one runs its user_free; user_free also runs when the transaction ends.
 * @return 0, SIP_EINVAL, SIP_ECLOSED (user_free runs on failure).
 */
SIP_EXTERN int sip_txn_set_event_handler(sip_txn_t *txn, sip_txn_event_cb cb, void *user,
                                         sip_free_fn user_free);

/**
 * Chooses, for one INVITE server transaction, what a CANCEL that matches it does, in place of
 * the layer's cancel_keeps_invite: 1 leaves the INVITE for the TU to answer (a stateful proxy,
 * RFC 3261 §16.10), 0 has the layer answer it 487. Either way the CANCEL is answered 200 and the
 * TU gets SIP_TXN_EVENT_CANCEL. Call it before the CANCEL can arrive (in the request handler).
 * Without an event handler the INVITE is answered 487 regardless: nobody would hear of the
 * CANCEL. Ownership: Borrowed (txn).
 * @param keep  nonzero to keep the INVITE for the TU
 * @return 0, SIP_EINVAL (NULL, not an INVITE server transaction), SIP_ECLOSED (ended).
 */
SIP_EXTERN int sip_txn_set_cancel_keeps_invite(sip_txn_t *txn, int keep);

/** Takes a reference. @return txn. */
SIP_EXTERN sip_txn_t *sip_txn_ref(sip_txn_t *txn);
/**
 * Drops a reference. A server transaction whose TU drops its last reference without a final
 * response is answered 500. Accepts NULL.
 */
SIP_EXTERN void sip_txn_unref(sip_txn_t *txn);
/**
 * Stops the transaction: no more sending, no callback after this returns, user_free runs.
 * Idempotent; safe inside the transaction's own callback.
 */
SIP_EXTERN void sip_txn_close(sip_txn_t *txn);

/**
 * The transaction's request.
 * @return Borrowed; NULL once the transaction has its final response (a server transaction once
 *         it has sent it, a client one once the callback that delivered it has returned): the
 *         transaction then keeps only what matching and retransmission need; sip_msg_ref() the
 *         request in the callback to keep it.
 */
SIP_EXTERN sip_msg_t *sip_txn_get_request(const sip_txn_t *txn);
/**
 * The last response sent (server) or the ACK sent (INVITE client), or NULL.
 * @return Borrowed; NULL once the transaction has its final response, as for
 *         sip_txn_get_request() (a server's last provisional response is there until then).
 */
SIP_EXTERN sip_msg_t *sip_txn_get_response(const sip_txn_t *txn);
/** The current state. */
SIP_EXTERN sip_txn_state_t sip_txn_get_state(const sip_txn_t *txn);
/** 1 for a client transaction, 0 for a server one. */
SIP_EXTERN int sip_txn_is_client(const sip_txn_t *txn);
/** The layer, or NULL once the transaction has ended. Borrowed. */
SIP_EXTERN sip_txn_layer_t *sip_txn_get_layer(const sip_txn_t *txn);
/** Names a state ("Proceeding"). */
SIP_EXTERN const char *sip_txn_state_name(sip_txn_state_t state);

/**
 * Sends a message without a transaction (a stateless proxy, the ACK of a 2xx): a request to dst
 * (or located with RFC 3263 when dst is NULL), a response as RFC 3261 §18.2.2 says.
 * @param msg  Takes its own reference while sending
 * @return 0 when queued, SIP_EINVAL, SIP_ECLOSED, or the transport's error.
 */
SIP_EXTERN int sip_txn_send_stateless(sip_txn_layer_t *layer, sip_msg_t *msg,
                                      const sip_netinfo_t *dst);
/**
 * Answers a request without a transaction (RFC 3261 §8.2.7 stateless UAS).
 * @param reason  NULL for the standard phrase
 * @return 0, SIP_EINVAL, SIP_ECLOSED, SIP_ENOMEM, or the transport's error.
 */
SIP_EXTERN int sip_txn_reply_stateless(sip_txn_layer_t *layer, const sip_msg_t *req, int status,
                                       const char *reason);

#ifdef __cplusplus
}
#endif
#endif
