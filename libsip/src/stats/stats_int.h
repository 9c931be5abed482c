/* SPDX-License-Identifier: MIT */
/* Private side of the counters (sip/stats.h): the one-line increment every module calls where an
 * event happens. */
#ifndef SIP_STATS_INT_H
#define SIP_STATS_INT_H

#include <stdint.h>

#include "msg/msg_int.h"
#include "sip/auth.h"
#include "sip/stats.h"

/* A loop's counters. The loop keeps them as its first member (loop.c asserts it), so that a
 * count is one add through the loop pointer: no call, no lock, no atomic (a loop and everything
 * on it run on one thread). Gauges are stored two's complement: a decrement below the start
 * wraps, and sip_stats_format() prints them signed. */
typedef struct sip__stats {
    uint64_t v[SIP_STAT__COUNT];
} sip__stats_t;

/* Adds delta (negative for a gauge going down). A NULL loop counts nothing: some objects can
 * be made before they are bound to one. */
static inline void sip__stat_add(sip_loop_t *loop, sip_stat_id_t id, int64_t delta)
{
    if (loop) ((sip__stats_t *)(void *)loop)->v[id] += (uint64_t)delta;
}

/* One more event. */
static inline void sip__stat_inc(sip_loop_t *loop, sip_stat_id_t id)
{
    sip__stat_add(loop, id, 1);
}

/* One less (gauges). */
static inline void sip__stat_dec(sip_loop_t *loop, sip_stat_id_t id)
{
    sip__stat_add(loop, id, -1);
}

/* An object came to life: its total and its gauge (the gauge goes down with sip__stat_dec when
 * it goes away). */
static inline void sip__stat_born(sip_loop_t *loop, sip_stat_id_t total, sip_stat_id_t gauge)
{
    sip__stat_inc(loop, total);
    sip__stat_inc(loop, gauge);
}

/* A digest check's verdict: ok, or failed for a wrong response or credentials that cannot be
 * checked. No credentials (a challenge) and a right response for an old nonce (stale, replay)
 * checked no password. */
static inline void sip__stat_auth(sip_loop_t *loop, sip_auth_verdict_t v)
{
    if (v == SIP_AUTH_OK) sip__stat_inc(loop, SIP_STAT_AUTH_OK);
    if (v == SIP_AUTH_FAILED || v == SIP_AUTH_MALFORMED) sip__stat_inc(loop, SIP_STAT_AUTH_FAILED);
}

/* The requests-received counter of a method, RX_REQ_OTHER for the others. */
static inline sip_stat_id_t sip__stat_rx_method(sip_method_t method)
{
    switch (method) {
    case SIP_METHOD_INVITE: return SIP_STAT_RX_REQ_INVITE;
    case SIP_METHOD_ACK: return SIP_STAT_RX_REQ_ACK;
    case SIP_METHOD_BYE: return SIP_STAT_RX_REQ_BYE;
    case SIP_METHOD_CANCEL: return SIP_STAT_RX_REQ_CANCEL;
    case SIP_METHOD_REGISTER: return SIP_STAT_RX_REQ_REGISTER;
    case SIP_METHOD_OPTIONS: return SIP_STAT_RX_REQ_OPTIONS;
    case SIP_METHOD_SUBSCRIBE: return SIP_STAT_RX_REQ_SUBSCRIBE;
    case SIP_METHOD_NOTIFY: return SIP_STAT_RX_REQ_NOTIFY;
    case SIP_METHOD_MESSAGE: return SIP_STAT_RX_REQ_MESSAGE;
    default: return SIP_STAT_RX_REQ_OTHER;
    }
}

/* The counter of a response's class: base is SIP_STAT_RX_RSP_1XX or SIP_STAT_TX_RSP_1XX (the six
 * classes follow it in order); a status outside 100-699 goes to the nearest class. */
static inline sip_stat_id_t sip__stat_rsp_class(sip_stat_id_t base, int status)
{
    int cls = status / 100 - 1;
    if (cls < 0) cls = 0;
    if (cls > 5) cls = 5;
    return (sip_stat_id_t)(base + cls);
}

/* A message the transport received (it parsed): its method's or its class's counter. */
static inline void sip__stat_rx(sip_loop_t *loop, const sip_msg_t *msg)
{
    sip__stat_inc(loop, msg->is_request ? sip__stat_rx_method(msg->method)
                                        : sip__stat_rsp_class(SIP_STAT_RX_RSP_1XX, msg->status));
}

/* A message the transport sent (once: retransmissions of its bytes do not count again). */
static inline void sip__stat_tx(sip_loop_t *loop, const sip_msg_t *msg)
{
    sip__stat_inc(loop, msg->is_request ? SIP_STAT_TX_REQ
                                        : sip__stat_rsp_class(SIP_STAT_TX_RSP_1XX, msg->status));
}

#endif
