/* SPDX-License-Identifier: MIT */
/* RFC 3262 reliable provisional responses: 100rel negotiation, RSeq, retransmission, PRACK
 * matching (UAS) and in-order acceptance (UAC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/ext.h"
#include "call/rel1xx.h"

/* RFC 3261 §17.1.1.1: T1 defaults to 500 ms. */
#define DEFAULT_T1 500

void sip__rel1xx_request_tags(sip__100rel_mode_t mode, unsigned *supported, unsigned *require)
{
    /* RFC 3262 §4: a UAC that wants reliable provisionals lists 100rel in Supported, or in
     * Require to insist on them. */
    if (supported) *supported = mode != SIP__100REL_OFF ? SIP__EXT_100REL : 0;
    if (require) *require = mode == SIP__100REL_REQUIRED ? SIP__EXT_100REL : 0;
}

int sip__rel1xx_uas_decide(sip__100rel_mode_t mode, const sip_msg_t *req, int *reliable)
{
    if (reliable) *reliable = 0;
    if (!req || !sip_msg_is_request(req)) return SIP_EINVAL;
    int required = sip__ext_has(req, SIP_HDR_REQUIRE, "100rel");
    int supported = required || sip__ext_has(req, SIP_HDR_SUPPORTED, "100rel");
    /* RFC 3261 §8.2.2.3: a required extension this side lacks is a 420. */
    if (mode == SIP__100REL_OFF) return required ? 420 : 0;
    /* Reliability is defined for the provisionals of INVITE, the only ones that matter. */
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return 0;
    /* RFC 3261 §21.4.15: a UAS that cannot serve the request without the extension says so
     * with 421 and the Require it needs. */
    if (mode == SIP__100REL_REQUIRED && !supported) return 421;
    /* RFC 3262 §3: reliably when Required; with Supported the UAS MAY, and this mode does;
     * with neither it MUST NOT. */
    if (reliable) *reliable = supported;
    return 0;
}

uint32_t sip__rel1xx_random_rseq(void)
{
    char hex[9];
    for (int tries = 0; tries < 8; tries++) {
        if (sip_random_hex(32, hex, sizeof(hex)) != 8) return 0;
        /* Dropping the top bit leaves 0 .. 2^31 - 1 uniform; 0 is drawn again. */
        uint32_t v = (uint32_t)strtoul(hex, NULL, 16) & SIP__RSEQ_FIRST_MAX;
        if (v) return v;
    }
    return 0;
}

/* ---- UAS ---------------------------------------------------------------------------------- */

int sip__rel1xx_uas_init(sip__rel1xx_uas_t *st, uint32_t cseq, sip_method_t method, uint32_t t1_ms,
                         uint32_t first_rseq)
{
    if (!st) return SIP_EINVAL;
    memset(st, 0, sizeof(*st));
    /* 64*T1 must fit the 32-bit elapsed time. */
    if (first_rseq > SIP__RSEQ_FIRST_MAX || t1_ms > SIP__REL1XX_T1_MAX) return SIP_EINVAL;
    if (!first_rseq && !(first_rseq = sip__rel1xx_random_rseq())) return SIP_EIO;
    st->rseq = first_rseq - 1;
    st->cseq = cseq;
    st->method = method;
    st->t1_ms = t1_ms ? t1_ms : DEFAULT_T1;
    return 0;
}

int sip__rel1xx_uas_next(sip__rel1xx_uas_t *st, int status, int has_sdp, uint32_t *rseq)
{
    if (!st || status < 101 || status > 199) return SIP_EINVAL;
    /* RFC 3262 §3: no new reliable provisional after the final response. */
    if (st->final_sent) return SIP_ECLOSED;
    /* §3: the second MUST wait for the PRACK of the first, and each later one SHOULD wait
     * for the PRACK of the one before, so that they arrive in order. */
    if (st->pending) return SIP__REL1XX_WAIT;
    /* §3: each next RSeq is one more, and RSeq never wraps. */
    if (st->rseq == UINT32_MAX) return SIP_ERANGE;
    st->rseq++;
    st->started = 1;
    st->pending = 1;
    st->pending_sdp = has_sdp ? 1 : 0;
    st->elapsed_ms = 0;
    st->delay_ms = st->t1_ms;
    if (rseq) *rseq = st->rseq;
    return SIP__REL1XX_SEND;
}

uint32_t sip__rel1xx_uas_delay(const sip__rel1xx_uas_t *st)
{
    return st && st->pending && !st->final_sent ? st->delay_ms : 0;
}

sip__rel1xx_tick_t sip__rel1xx_uas_retransmit(sip__rel1xx_uas_t *st)
{
    if (!st || !st->pending || st->final_sent || !st->delay_ms) return SIP__REL1XX_IDLE;
    /* §3: the interval starts at T1 and doubles, without the T2 cap of 2xx retransmissions;
     * after 64*T1 without PRACK the UAS SHOULD reject the request with a 5xx. The last wait is
     * cut so that the end falls on 64*T1 exactly. */
    uint64_t limit = 64 * (uint64_t)st->t1_ms;
    st->elapsed_ms += st->delay_ms;
    if (st->elapsed_ms >= limit) {
        st->delay_ms = 0;
        return SIP__REL1XX_EXPIRED;
    }
    uint64_t next = 2 * (uint64_t)st->delay_ms;
    if (next > limit - st->elapsed_ms) next = limit - st->elapsed_ms;
    st->delay_ms = (uint32_t)next;
    return SIP__REL1XX_RESEND;
}

int sip__rel1xx_uas_prack(sip__rel1xx_uas_t *st, const sip_msg_t *prack)
{
    if (!st || !prack) return SIP_EINVAL;
    const sip_rack_t *rack = sip_header_rack(sip_msg_header_at(prack, SIP_HDR_RACK, 0));
    /* RFC 3262 §7.2: a PRACK carries RAck; without it the request is malformed. */
    if (!rack) return 400;
    /* §3: a matching PRACK names the RSeq, the CSeq number and the method of an
     * unacknowledged reliable 1xx; the dialog it came in already matched. Anything else,
     * including a second PRACK for one acknowledged, gets 481. */
    if (!st->pending || rack->rseq != st->rseq || rack->cseq != st->cseq ||
        rack->method != st->method)
        return 481;
    st->pending = 0;
    st->pending_sdp = 0;
    st->delay_ms = 0;
    return 200;
}

int sip__rel1xx_uas_final(sip__rel1xx_uas_t *st, int status)
{
    if (!st || status < 200 || status > 699) return SIP_EINVAL;
    /* §3: a 2xx MUST NOT go before the PRACK of an unacknowledged reliable 1xx that carried a
     * session description (the PRACK may carry its answer). */
    if (status < 300 && st->pending && st->pending_sdp) return SIP__REL1XX_WAIT;
    /* §3: once the final response went, the unacknowledged 1xx is no longer retransmitted but
     * its PRACK is still answered (st->pending stays). */
    st->final_sent = 1;
    st->delay_ms = 0;
    return SIP__REL1XX_SEND;
}

/* ---- UAC ---------------------------------------------------------------------------------- */

sip__rel1xx_verdict_t sip__rel1xx_uac_accept(sip__rel1xx_uac_t *st, sip__100rel_mode_t mode,
                                             const sip_msg_t *rsp)
{
    if (!st || !rsp || mode == SIP__100REL_OFF) return SIP__REL1XX_UNRELIABLE;
    int status = sip_msg_get_status(rsp);
    /* RFC 3262 §3: 100 is never sent reliably; a provisional is reliable when it Requires
     * 100rel. */
    if (status < 101 || status > 199 || !sip__ext_has(rsp, SIP_HDR_REQUIRE, "100rel"))
        return SIP__REL1XX_UNRELIABLE;
    const sip_num_t *rs = sip_header_num(sip_msg_header_at(rsp, SIP_HDR_RSEQ, 0));
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    if (!rs || !cs) return SIP__REL1XX_MALFORMED;
    /* §4 lets the UAC discard reliable provisionals that follow the final response; those
     * of an older request are as late. */
    if ((st->have || st->final) && cs->seq < st->cseq) return SIP__REL1XX_STALE;
    if (st->final && cs->seq == st->cseq) return SIP__REL1XX_STALE;
    if (!st->have || cs->seq != st->cseq) {
        /* §4: the sequence starts at the RSeq of the first reliable 1xx for a request (a
         * later request, a re-INVITE, starts a new one). */
        st->have = 1;
        st->final = 0;
        st->cseq = cs->seq;
        st->last_rseq = rs->value;
        return SIP__REL1XX_NEW;
    }
    /* §4: a retransmission has the dialog, CSeq and RSeq of one received and is discarded;
     * since only in-order ones are taken, every RSeq up to the last was received. */
    if (rs->value <= st->last_rseq) return SIP__REL1XX_DUPLICATE;
    /* §4: one not exactly one higher MUST NOT be PRACKed nor processed. */
    if (rs->value != st->last_rseq + 1) return SIP__REL1XX_GAP;
    st->last_rseq = rs->value;
    return SIP__REL1XX_NEW;
}

void sip__rel1xx_uac_final(sip__rel1xx_uac_t *st, uint32_t cseq)
{
    if (!st) return;
    if (st->cseq != cseq) st->have = 0;
    st->cseq = cseq;
    st->final = 1;
}

int sip__rel1xx_rack_format(uint32_t rseq, uint32_t cseq, sip_str_t method, char *buf, size_t size)
{
    /* RFC 3262 §7.2: RAck = response-num LWS CSeq-num LWS Method. */
    int n = snprintf(buf, size, "%u %u %.*s", (unsigned)rseq, (unsigned)cseq, (int)method.len,
                     method.ptr ? method.ptr : "");
    if (n < 0 || (size_t)n >= size) {
        if (buf && size) buf[0] = '\0';
        return SIP_ENOSPC;
    }
    return n;
}

int sip__rel1xx_rack(const sip_msg_t *rsp, char *buf, size_t size)
{
    const sip_num_t *rs = sip_header_num(sip_msg_header_at(rsp, SIP_HDR_RSEQ, 0));
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    if (!rs || !cs) return SIP_EINVAL;
    return sip__rel1xx_rack_format(rs->value, cs->seq, cs->method_str, buf, size);
}
