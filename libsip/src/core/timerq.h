/* SPDX-License-Identifier: MIT */
/* A queue of timers on one clock wake-up: a min-heap of entries embedded in their owners, so
 * that arming, moving and stopping a timer never allocates after sip__tq_reserve(). */
#ifndef SIP_CORE_TIMERQ_H
#define SIP_CORE_TIMERQ_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sip/loop.h"
#include "sip/txn.h"

typedef struct sip__tq_entry sip__tq_entry_t;
typedef void (*sip__tq_fire_fn)(sip__tq_entry_t *e);

/* One timer. Zero-initialise it (or sip__tq_entry_init) before the first use. */
struct sip__tq_entry {
    uint64_t due;
    int idx; /* place in the heap, -1 when not armed */
    sip__tq_fire_fn fire;
};

typedef struct sip__tq {
    sip_txn_clock_t clock;
    sip__tq_entry_t **heap;
    size_t n, cap;
    uint64_t armed; /* the clock's pending wake-up, UINT64_MAX for none */
    int firing, closed;
    /* The default clock: one uv timer, closed asynchronously (the queue lives in its owner,
     * which sip__tq_close() keeps until the handle is closed through on_closed). */
    uv_timer_t *uvt;
    void (*on_closed)(void *owner);
    void *owner;
} sip__tq_t;

/* Uses clock (copied) or, when NULL, the loop's timers. */
int sip__tq_init(sip__tq_t *q, sip_loop_t *loop, const sip_txn_clock_t *clock);
/* Stops every timer. With the default clock, on_closed(owner) runs once its uv handle is
 * closed (returns 1); else nothing is pending (returns 0). */
int sip__tq_close(sip__tq_t *q, void (*on_closed)(void *owner), void *owner);
uint64_t sip__tq_now(const sip__tq_t *q);
/* Makes room for n more armed timers, so that arming them cannot fail. */
int sip__tq_reserve(sip__tq_t *q, size_t n);
static inline void sip__tq_entry_init(sip__tq_entry_t *e, sip__tq_fire_fn fire)
{
    e->due = 0;
    e->idx = -1;
    e->fire = fire;
}
/* Arms (or moves) e to fire delay_ms from now. SIP_ENOMEM only without room reserved. */
int sip__tq_start(sip__tq_t *q, sip__tq_entry_t *e, uint64_t delay_ms);
void sip__tq_stop(sip__tq_t *q, sip__tq_entry_t *e);
static inline int sip__tq_active(const sip__tq_entry_t *e)
{
    return e->idx >= 0;
}

#endif
