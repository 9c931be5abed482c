/* SPDX-License-Identifier: MIT */
/* RFC 3262 reliable provisional responses as pure bookkeeping: the 100rel negotiation, the
 * UAS's RSeq, retransmission schedule and PRACK matching, and the UAC's in-order acceptance
 * and RAck. No network and no loop: the INVITE session sends, arms timers and answers. */
#ifndef SIP_CALL_REL1XX_H
#define SIP_CALL_REL1XX_H

#include <stdint.h>

#include "sip/msg.h"

/* How far this side takes part. */
typedef enum sip__100rel_mode {
    /* No "100rel" in Supported; a request that Requires it gets 420; provisionals go
     * unreliably and reliable ones received are taken as plain provisionals. */
    SIP__100REL_OFF = 0,
    /* Supported: 100rel in requests; as UAS, provisionals go reliably whenever the UAC lists
     * 100rel in Supported or Require. */
    SIP__100REL_SUPPORTED,
    /* Require: 100rel in requests; as UAS, a request that lists 100rel in neither gets 421
     * (Extension Required) with Require: 100rel. */
    SIP__100REL_REQUIRED,
} sip__100rel_mode_t;

/* RFC 3262 §3: the first RSeq is at most 2^31 - 1. */
#define SIP__RSEQ_FIRST_MAX 0x7fffffffu
/* The largest T1 accepted, in ms (64*T1 stays below 2^31). */
#define SIP__REL1XX_T1_MAX (1u << 24)

/* The option-tag bits (call/ext.h) a request from this side lists: *supported gets
 * SIP__EXT_100REL unless mode is OFF, *require gets it when mode is REQUIRED. */
void sip__rel1xx_request_tags(sip__100rel_mode_t mode, unsigned *supported, unsigned *require);

/*
 * UAS (§3): decides whether the provisionals to req go reliably.
 * @param reliable  receives 1 when they do (an INVITE that Requires 100rel, or Supports it with
 *                  mode SUPPORTED or REQUIRED), else 0; may be NULL
 * @return 0 (go on), 420 (the request Requires 100rel and mode is OFF: Unsupported: 100rel),
 *         421 (mode REQUIRED and an INVITE without 100rel: Require: 100rel), or SIP_EINVAL.
 */
int sip__rel1xx_uas_decide(sip__100rel_mode_t mode, const sip_msg_t *req, int *reliable);

/* A random first RSeq, uniform in 1 .. 2^31 - 1 (§3 recommends it). 0 when no random bits
 * could be had. */
uint32_t sip__rel1xx_random_rseq(void);

/* ---- UAS ---------------------------------------------------------------------------------- */

/* Reliable-provisional state of one server INVITE transaction (RFC 3262 §3 numbers RSeq per
 * request). Plain data: embed it in the session, one per request being answered. */
typedef struct sip__rel1xx_uas {
    uint32_t rseq;       /* RSeq of the last reliable 1xx sent; before the first, the one less
                            than the first to send */
    uint32_t cseq;       /* CSeq number of the request answered */
    sip_method_t method; /* its method */
    uint32_t t1_ms;      /* RFC 3261 T1 */
    uint32_t delay_ms;   /* the retransmission timer to arm now; 0: none */
    uint32_t elapsed_ms; /* since the unacknowledged 1xx first went */
    uint8_t pending;     /* rseq is sent and not yet PRACKed */
    uint8_t pending_sdp; /* the unacknowledged 1xx carries a session description */
    uint8_t final_sent;  /* the final response went: no new reliable 1xx, no retransmissions */
    uint8_t started;     /* a reliable 1xx went */
} sip__rel1xx_uas_t;

/* What sip__rel1xx_uas_next() and sip__rel1xx_uas_final() tell the session. */
enum {
    SIP__REL1XX_SEND = 0, /* send it now */
    SIP__REL1XX_WAIT = 1, /* hold it until the PRACK of the unacknowledged 1xx, then ask again */
};

/* What sip__rel1xx_uas_retransmit() tells the session when its timer fires. */
typedef enum sip__rel1xx_tick {
    SIP__REL1XX_IDLE = 0, /* nothing to resend (PRACKed, or the final response went) */
    SIP__REL1XX_RESEND,   /* resend the unacknowledged 1xx; arm sip__rel1xx_uas_delay() again */
    SIP__REL1XX_EXPIRED,  /* 64*T1 without PRACK: reject the request with a 5xx (§3) */
} sip__rel1xx_tick_t;

/*
 * Starts the state for a request this side answers with reliable provisionals.
 * @param cseq        its CSeq number
 * @param method      its CSeq method (SIP_METHOD_INVITE)
 * @param t1_ms       RFC 3261 T1 (500 when 0)
 * @param first_rseq  the first RSeq to send, 1 .. 2^31 - 1; 0: a random one
 * @return 0, SIP_EINVAL (first_rseq above 2^31 - 1, t1_ms above SIP__REL1XX_T1_MAX), SIP_EIO
 *         (no random bits).
 */
int sip__rel1xx_uas_init(sip__rel1xx_uas_t *st, uint32_t cseq, sip_method_t method, uint32_t t1_ms,
                         uint32_t first_rseq);

/*
 * Asks to send a reliable provisional with this status (101 .. 199). On SIP__REL1XX_SEND it
 * carries RSeq: *rseq and Require: 100rel, and the session arms a timer of
 * sip__rel1xx_uas_delay() ms (T1) for its retransmission.
 * @param has_sdp  it carries a session description (an offer or answer)
 * @return SIP__REL1XX_SEND (*rseq set), SIP__REL1XX_WAIT (one is unacknowledged: §3 lets only
 *         one be outstanding; queue it), SIP_ECLOSED (the final response went: §3 forbids new
 *         reliable provisionals), SIP_ERANGE (RSeq would wrap, §3), SIP_EINVAL.
 */
int sip__rel1xx_uas_next(sip__rel1xx_uas_t *st, int status, int has_sdp, uint32_t *rseq);

/* The delay of the retransmission timer to arm now, in ms; 0 when none is to run. */
uint32_t sip__rel1xx_uas_delay(const sip__rel1xx_uas_t *st);

/* The retransmission timer fired (§3: T1, 2*T1, 4*T1 ... with no T2 cap, for 64*T1). */
sip__rel1xx_tick_t sip__rel1xx_uas_retransmit(sip__rel1xx_uas_t *st);

/*
 * A PRACK reached this request's dialog: matches its RAck (response-num, CSeq-num, method)
 * against the unacknowledged reliable 1xx (§3).
 * @return 200 (matched: retransmissions stop; a queued 1xx or held 2xx may go), 481 (no
 *         unacknowledged reliable 1xx matches), 400 (no RAck), or SIP_EINVAL.
 */
int sip__rel1xx_uas_prack(sip__rel1xx_uas_t *st, const sip_msg_t *prack);

/*
 * Asks to send the final response (status 200 .. 699). §3: a 2xx waits while an unacknowledged
 * reliable 1xx carries a session description; any other final may go at once, after which the
 * 1xx is no longer retransmitted but its PRACK still gets 200.
 * @return SIP__REL1XX_SEND (send it: the state records that it went), SIP__REL1XX_WAIT (hold
 *         the 2xx until the PRACK, then ask again), SIP_EINVAL.
 */
int sip__rel1xx_uas_final(sip__rel1xx_uas_t *st, int status);

/* ---- UAC ---------------------------------------------------------------------------------- */

/* Reliable-provisional state of one early dialog: the RSeq space is the UAS's, so each fork,
 * with its own To tag, has its own (§4; erratum 4604 says "in the dialog (or early dialog)").
 * Zero-initialise it. */
typedef struct sip__rel1xx_uac {
    uint32_t cseq;      /* CSeq number the sequence belongs to */
    uint32_t last_rseq; /* RSeq of the last reliable 1xx taken in order */
    uint8_t have;       /* last_rseq is set */
    uint8_t final;      /* the final response to cseq arrived */
    uint8_t reserved[2];
} sip__rel1xx_uac_t;

/* What to do with a provisional response. */
typedef enum sip__rel1xx_verdict {
    SIP__REL1XX_UNRELIABLE = 0, /* not a reliable 1xx (or mode OFF): handle it, no PRACK */
    SIP__REL1XX_NEW,            /* next in order: handle it and PRACK it (sip__rel1xx_rack()) */
    SIP__REL1XX_DUPLICATE,      /* a retransmission of one taken: discard (§4); the PRACK's own
                                   transaction retransmits the PRACK */
    SIP__REL1XX_GAP,            /* RSeq skips ahead: MUST NOT be PRACKed or handled (§4) */
    SIP__REL1XX_STALE,          /* after the final response or for an older request: discard
                                   (§4 lets the UAC discard these) */
    SIP__REL1XX_MALFORMED,      /* Require: 100rel without RSeq or CSeq: discard */
} sip__rel1xx_verdict_t;

/* Judges a provisional response rsp received in this early dialog (§4) and, on
 * SIP__REL1XX_NEW, takes its RSeq as the last in order. */
sip__rel1xx_verdict_t sip__rel1xx_uac_accept(sip__rel1xx_uac_t *st, sip__100rel_mode_t mode,
                                             const sip_msg_t *rsp);

/* The final response to the request with CSeq number cseq arrived (in this dialog or another
 * fork's): later reliable 1xx to it are STALE. */
void sip__rel1xx_uac_final(sip__rel1xx_uac_t *st, uint32_t cseq);

/* Writes the RAck value of a PRACK for the reliable 1xx rsp: "<RSeq> <CSeq-num> <method>"
 * (§7.2). Returns the length, SIP_ENOSPC, or SIP_EINVAL (no RSeq or CSeq). */
int sip__rel1xx_rack(const sip_msg_t *rsp, char *buf, size_t size);

/* The same from its parts. Returns the length or SIP_ENOSPC. */
int sip__rel1xx_rack_format(uint32_t rseq, uint32_t cseq, sip_str_t method, char *buf, size_t size);

#endif
