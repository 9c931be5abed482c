/* SPDX-License-Identifier: MIT */
/* Dialogs (RFC 3261 §12) and their usages (RFC 5057): the state two user agents share, from which
 * in-dialog requests are built and against which in-dialog requests are checked. */
#ifndef SIP_DIALOG_H
#define SIP_DIALOG_H

#include <stdint.h>

#include "sip/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One dialog. Opaque; reference counted. */
typedef struct sip_dialog sip_dialog_t;

/** Dialog states (RFC 3261 §12). */
typedef enum sip_dialog_state {
    SIP_DIALOG_EARLY = 0,  /**< created by a provisional response with a To tag */
    SIP_DIALOG_CONFIRMED,  /**< a 2xx created or confirmed it */
    SIP_DIALOG_TERMINATED, /**< its last usage ended, or it was closed */
} sip_dialog_state_t;

/**
 * Creates the dialog of a UAS (RFC 3261 §12.1.1) from a request and the response that answers
 * it (a 1xx with a To tag makes it early, a 2xx confirmed). The route set is the request's
 * Record-Route in order; the remote target is its Contact; the remote CSeq is its CSeq; the
 * local URI, tag and target come from the response's To and Contact.
 * @param out  New reference; NULL on failure
 * @param req  Borrowed: a dialog-creating request (INVITE, SUBSCRIBE, REFER...)
 * @param rsp  Borrowed: a 101-299 response to it with a To tag
 * @return 0, SIP_EINVAL (not a request/response pair, no To tag, no Contact with a URI in
 *         either, no From tag is accepted: RFC 2543 peers have none), SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_create_uas(sip_dialog_t **out, const sip_msg_t *req,
                                     const sip_msg_t *rsp);
/**
 * Creates the dialog of a UAC (RFC 3261 §12.1.2) from its request and a 101-299 response with
 * a To tag: the route set is the response's Record-Route reversed, the remote target its
 * Contact (a 1xx without one leaves it at the Request-URI until one comes). Each To tag of a
 * forked request makes its own dialog.
 * @param out  New reference; NULL on failure
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_create_uac(sip_dialog_t **out, const sip_msg_t *req,
                                     const sip_msg_t *rsp);
/** Takes a reference. @return dlg. */
SIP_EXTERN sip_dialog_t *sip_dialog_ref(sip_dialog_t *dlg);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_dialog_unref(sip_dialog_t *dlg);

/**
 * Builds a request inside the dialog (RFC 3261 §12.2.1.1): To, From, Call-ID from the dialog,
 * CSeq one above the last local one (the dialog counts it; an ACK or CANCEL is not built
 * here), Max-Forwards 70, the local Contact, and the Request-URI and Route from the remote
 * target and the route set: the route set as Route when its first entry is a loose router
 * (lr), else (a strict router) that entry as Request-URI and the rest, then the remote target,
 * as Route.
 * @param out     New reference; NULL on failure
 * @param method  "BYE", "INFO", "UPDATE", "INVITE" (a re-INVITE)...
 * @return 0, SIP_EINVAL (NULL, ACK, CANCEL, an empty method), SIP_ECLOSED (terminated),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_create_request(sip_msg_t **out, sip_dialog_t *dlg, const char *method);
/**
 * Builds the ACK of a 2xx to an INVITE of the dialog (RFC 3261 §13.2.2.4): the CSeq number of
 * that INVITE, the dialog's routing, no Via (the transport adds it).
 * @param out   New reference; NULL on failure
 * @param cseq  the INVITE's CSeq number
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_create_ack(sip_msg_t **out, sip_dialog_t *dlg, uint32_t cseq);

/**
 * Checks a request received in the dialog and takes what it changes (RFC 3261 §12.2.2): its
 * CSeq must be above the last remote one (else the request is answered 500), which it then
 * becomes; a target refresh request (INVITE, UPDATE, SUBSCRIBE, NOTIFY, REFER) with a Contact
 * replaces the remote target. An ACK or CANCEL is not checked against the CSeq.
 * @param req  Borrowed
 * @return 0, or the status to answer with: 500 for a lower or equal CSeq (the request is a
 *         retransmission the transaction layer did not catch, or out of order), 400 for a
 *         target refresh whose Contact has no URI; SIP_EINVAL for NULL or a response;
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_receive_request(sip_dialog_t *dlg, const sip_msg_t *req);
/**
 * Takes what a response to a request of the dialog changes: a 2xx confirms an early dialog
 * (and, for the UAC, sets the route set again from its Record-Route: RFC 3261 §12.1.2 says
 * the 2xx's is the one); a 1xx or 2xx to a target refresh request with a Contact replaces the
 * remote target.
 * @param rsp  Borrowed
 * @return 0, SIP_EINVAL (NULL, not a response, another dialog's), SIP_ENOMEM.
 */
SIP_EXTERN int sip_dialog_receive_response(sip_dialog_t *dlg, const sip_msg_t *rsp);

/**
 * Whether a message belongs to the dialog: same Call-ID and tags (the local tag in From for
 * a request the dialog sends, in To for one it receives).
 * @return 1 or 0.
 */
SIP_EXTERN int sip_dialog_match(const sip_dialog_t *dlg, const sip_msg_t *msg);

/**
 * Ends the dialog: state Terminated, sip_dialog_create_request() refuses. Idempotent.
 */
SIP_EXTERN void sip_dialog_terminate(sip_dialog_t *dlg);

/** The state. */
SIP_EXTERN sip_dialog_state_t sip_dialog_get_state(const sip_dialog_t *dlg);
/** Names a state ("Early"). */
SIP_EXTERN const char *sip_dialog_state_name(sip_dialog_state_t state);
/** 1 when this side created it as UAS. */
SIP_EXTERN int sip_dialog_is_uas(const sip_dialog_t *dlg);
/** 1 when the dialog is secure (RFC 3261 §12.1: sips Request-URI over TLS). */
SIP_EXTERN int sip_dialog_is_secure(const sip_dialog_t *dlg);
/** The Call-ID. Borrowed, valid while the dialog lives. */
SIP_EXTERN sip_str_t sip_dialog_get_call_id(const sip_dialog_t *dlg);
/** This side's tag. Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_local_tag(const sip_dialog_t *dlg);
/** The other side's tag (empty for an RFC 2543 UAC without a From tag). Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_remote_tag(const sip_dialog_t *dlg);
/** This side's From/To value as sent, with its tag ("Alice <sip:a@x>;tag=1"). Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_local_addr(const sip_dialog_t *dlg);
/** The other side's From/To value with its tag. Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_remote_addr(const sip_dialog_t *dlg);
/** The remote target (the other side's Contact URI). Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_remote_target(const sip_dialog_t *dlg);
/** This side's Contact URI. Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_get_local_target(const sip_dialog_t *dlg);
/** The number of entries in the route set. */
SIP_EXTERN size_t sip_dialog_route_count(const sip_dialog_t *dlg);
/** Entry i of the route set, as its name-addr ("<sip:p1.example.com;lr>"). Borrowed. */
SIP_EXTERN sip_str_t sip_dialog_route_at(const sip_dialog_t *dlg, size_t i);
/** The last CSeq number this side used. */
SIP_EXTERN uint32_t sip_dialog_get_local_cseq(const sip_dialog_t *dlg);
/** The last CSeq number received, 0 while none was. */
SIP_EXTERN uint32_t sip_dialog_get_remote_cseq(const sip_dialog_t *dlg);

#ifdef __cplusplus
}
#endif
#endif
