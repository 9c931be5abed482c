/* SPDX-License-Identifier: MIT */
/* RFC 4028 session timers as pure decisions: the headers a request carries, the UAS's answer
 * (§9), the UAC's reading of the 2xx and of 422 (§7), and when to refresh or end (§10). No
 * network and no loop: the INVITE session feeds parsed messages in and acts on what comes out. */
#ifndef SIP_CALL_TIMER_H
#define SIP_CALL_TIMER_H

#include <stdint.h>

#include "sip/msg.h"

/* RFC 4028 §4 and §5: the smallest session interval and Min-SE anyone may ask for. */
#define SIP__TIMER_MIN_SE 90
/* RFC 4028 §4 recommends 1800 s for Session-Expires. */
#define SIP__TIMER_DEFAULT_SE 1800

/* How far this side takes part. */
typedef enum sip__timer_mode {
    /* No "timer" in Supported; a request that Requires it gets 420; Session-Expires in either
     * direction is ignored (a proxy or the peer may still time the session). */
    SIP__TIMER_OFF = 0,
    /* Supported: timer, and requests ask for session_expires; a timer runs when the other side
     * (or a proxy) asked for one or agreed to one (a 2xx with Session-Expires). */
    SIP__TIMER_SUPPORTED,
    /* As SUPPORTED, and a timer runs even when the peer knows nothing of it: the UAC refreshes
     * alone when the 2xx has no Session-Expires (§7.2), the UAS puts Session-Expires into the
     * 2xx of a request without one (refreshing itself when the UAC lacks "timer"). */
    SIP__TIMER_ALWAYS,
    /* As ALWAYS, and requests also carry Require: timer (§7.1 allows it). */
    SIP__TIMER_REQUIRED,
} sip__timer_mode_t;

/* Who this side would like to refresh when it gets a say (§7.1 request, §9 UAS choice). */
typedef enum sip__timer_prefer {
    SIP__TIMER_PREFER_ANY = 0, /* no refresher param in requests; a UAS picks "uac" when the
                                  UAC supports timer (it can, and it asked), else "uas" */
    SIP__TIMER_PREFER_LOCAL,   /* this side refreshes */
    SIP__TIMER_PREFER_REMOTE,  /* the peer refreshes */
    SIP__TIMER_PREFER_UAC,     /* the caller (the UAC of the initial INVITE) refreshes */
    SIP__TIMER_PREFER_UAS,     /* the callee refreshes */
} sip__timer_prefer_t;

/* The refresher param of one Session-Expires: relative to that transaction. */
typedef enum sip__refresher {
    SIP__REFRESHER_NONE = 0, /* no param */
    SIP__REFRESHER_UAC,      /* refresher=uac: the sender of the request */
    SIP__REFRESHER_UAS,      /* refresher=uas: the receiver of the request */
} sip__refresher_t;

/* Configuration, from the call options. Initialise with sip__timer_cfg_init(). */
typedef struct sip__timer_cfg {
    sip__timer_mode_t mode;     /* SIP__TIMER_SUPPORTED */
    uint32_t session_expires;   /* seconds asked for and the most a UAS grants; 1800 */
    uint32_t min_se;            /* seconds; the least accepted (422 below it); 90, never less */
    sip__timer_prefer_t prefer; /* SIP__TIMER_PREFER_ANY */
} sip__timer_cfg_t;

/* Session-timer state of one INVITE session (one dialog). Plain data, embedded, no allocation. */
typedef struct sip__timer {
    uint32_t interval;       /* the session interval in force, seconds; 0: no session timer runs */
    uint32_t request_se;     /* the Session-Expires this side's next initial request asks for */
    uint32_t min_se;         /* the Min-SE this side sends: max(config, any 422's, peer's Min-SE) */
    uint8_t local_refresher; /* 1: this side refreshes; 0: the peer does (when interval != 0) */
    uint8_t is_caller;       /* this side sent the initial INVITE (for PREFER_UAC/UAS) */
    uint8_t n422;            /* 422s retried for the current request (§7.3 retries are bounded) */
    uint8_t reserved;
} sip__timer_t;

/* What one message carries of the extension: the request this side sends, or the 2xx/422 this
 * side answers with. Zero fields mean "absent". */
typedef struct sip__timer_hdrs {
    unsigned supported;         /* SIP__EXT_TIMER when Supported is to list "timer" */
    unsigned require;           /* SIP__EXT_TIMER when Require is to list "timer" */
    uint32_t session_expires;   /* Session-Expires value; 0: no Session-Expires */
    sip__refresher_t refresher; /* its refresher param */
    uint32_t min_se;            /* Min-SE value; 0: no Min-SE */
} sip__timer_hdrs_t;

/* The outcome of one request/response exchange: what to answer (UAS) and what to run. */
typedef struct sip__timer_neg {
    int status;                 /* UAS: 0 accept; 420 or 422 reject (hdrs then has what the
                                   rejection carries: Min-SE for 422) */
    uint32_t interval;          /* the session interval from now on; 0: no session timer */
    sip__refresher_t refresher; /* who refreshes, relative to this transaction */
    uint32_t min_se;            /* the session's Min-SE after this exchange */
    sip__timer_hdrs_t hdrs;     /* UAS: what the response carries (also Require: timer) */
} sip__timer_neg_t;

/* Defaults: SUPPORTED, 1800 s, Min-SE 90 s, PREFER_ANY. */
void sip__timer_cfg_init(sip__timer_cfg_t *cfg);

/* Starts the state of a new session: no timer running, request_se = max(session_expires,
 * min_se), min_se from cfg (raised to 90). is_caller: this side sends the initial INVITE. */
void sip__timer_init(sip__timer_t *t, const sip__timer_cfg_t *cfg, int is_caller);

/*
 * UAC (§7.1, §7.4): the extension's part of a request this side sends, an INVITE or UPDATE.
 * An initial request (no timer running yet: t->interval == 0) asks for t->request_se with the
 * refresher param the preference gives; a refresh (a timer runs) repeats the interval in force
 * with refresher=uac when this side refreshes, uas when the peer does. Min-SE is always t->min_se.
 * With SIP__TIMER_OFF everything stays zero.
 */
void sip__timer_uac_request(const sip__timer_t *t, const sip__timer_cfg_t *cfg,
                            sip__timer_hdrs_t *out);

/*
 * UAS (§9): decides the answer to an INVITE or UPDATE that reached this side. Does not change t:
 * sip__timer_commit() takes the result once the 2xx goes out.
 * @return out->status: 0 (answer 2xx with out->hdrs; out->interval 0 means no timer), 420 (the
 *         request Requires timer and the mode is OFF: Unsupported: timer), 422 (Session-Expires
 *         below what this side accepts: Min-SE out->hdrs.min_se); SIP_EINVAL for NULL arguments.
 */
int sip__timer_uas_request(const sip__timer_t *t, const sip__timer_cfg_t *cfg, const sip_msg_t *req,
                           sip__timer_neg_t *out);

/*
 * UAC (§7.2): reads the 2xx to a request this side sent (req, as sent: its Session-Expires and
 * Min-SE are what this side asked for). Does not change t; commit the result.
 * @return 0; SIP_EINVAL for NULL arguments or a rsp that is not 2xx.
 */
int sip__timer_uac_response(const sip__timer_t *t, const sip__timer_cfg_t *cfg,
                            const sip_msg_t *req, const sip_msg_t *rsp, sip__timer_neg_t *out);

/*
 * UAC (§7.3): a 422 answered req. Raises t->min_se to the 422's Min-SE and t->request_se (and a
 * running interval) to at least it, so that the next sip__timer_uac_request() builds the retry.
 * @return 1: send the request again (new CSeq); 0: do not (the 422 has no Min-SE, asks for no
 *         more than req already offered, or too many 422s came for this request: then the 422
 *         is the final answer); SIP_EINVAL for NULL arguments or a rsp that is not 422.
 */
int sip__timer_uac_422(sip__timer_t *t, const sip_msg_t *req, const sip_msg_t *rsp);

/* Takes a negotiation's result into the state once the exchange completed (the UAS sent its
 * 2xx, the UAC got one). local_is_uac: this side sent the request. Resets the 422 count. */
void sip__timer_commit(sip__timer_t *t, const sip__timer_neg_t *n, int local_is_uac);

/*
 * Adds Session-Expires ("1800;refresher=uac") and Min-SE for h to msg. Supported and Require
 * are left to the caller, which merges "timer" with its other option tags (call/ext.h). On
 * failure msg is left as it was.
 * @return 0, SIP_ENOMEM, SIP_EINVAL.
 */
int sip__timer_add_headers(sip_msg_t *msg, const sip__timer_hdrs_t *h);

/* Writes a Session-Expires value ("1800", "1800;refresher=uas"). Returns the length, or
 * SIP_ENOSPC. */
int sip__timer_format_se(uint32_t se, sip__refresher_t refresher, char *buf, size_t size);

/* §10: when the refresher sends its refresh: half the interval, in ms. */
uint64_t sip__timer_refresh_ms(uint32_t interval);

/* §10: when the side that does not refresh sends BYE without a refresh: the interval less
 * min(32 s, interval / 3), in ms. */
uint64_t sip__timer_expire_ms(uint32_t interval);

/* The delay of this side's next session-timer event from the last refresh, in ms: the refresh
 * when it refreshes, the BYE otherwise; 0 when no timer runs. */
uint64_t sip__timer_next_ms(const sip__timer_t *t);

/* §10: 1 when a refresh that got status (0: no response, the transaction timed out) ends the
 * session with BYE (a timeout, 408 or 481), else 0 (422 is retried, 491 is glare, any other
 * failure leaves the session to expire). */
int sip__timer_refresh_fatal(int status);

#endif
