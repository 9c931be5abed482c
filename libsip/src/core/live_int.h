/* SPDX-License-Identifier: MIT */
/* Counting live objects (sip/live.h): each constructor adds one, each final free takes it away. */
#ifndef SIP_LIVE_INT_H
#define SIP_LIVE_INT_H

#include <stdatomic.h>

#include "sip/live.h"

/* Process-wide on purpose (see sip/live.h): messages and SDP objects belong to no loop. Relaxed
 * order is enough: a count orders nothing else, it is only read as a total. Each count has its
 * own cache line, so that threads making messages do not slow those making transactions. */
typedef struct sip__live_count {
    _Alignas(64) atomic_long n;
} sip__live_count_t;

extern sip__live_count_t sip__live[SIP_LIVE__COUNT];

static inline void sip__live_inc(sip_live_kind_t kind)
{
    atomic_fetch_add_explicit(&sip__live[kind].n, 1, memory_order_relaxed);
}

static inline void sip__live_dec(sip_live_kind_t kind)
{
    atomic_fetch_sub_explicit(&sip__live[kind].n, 1, memory_order_relaxed);
}

#endif
