/* SPDX-License-Identifier: MIT */
/* A queue of timers on one clock wake-up (see timerq.h). */
#include "core/timerq.h"

#include <stdlib.h>

#include "sip/error.h"

#define TQ_NEVER UINT64_MAX

static void tq_fire(void *arg);

/* ---- the default clock: one uv timer ---------------------------------------------------- */

static uint64_t uv_now_ms(void *user)
{
    sip__tq_t *q = user;
    return uv_now(q->uvt->loop);
}

static void on_uv(uv_timer_t *h)
{
    tq_fire(h->data);
}

static void tq_uv_start(void *user, uint64_t delay_ms, void (*fire)(void *), void *arg)
{
    sip__tq_t *q = user;
    (void)fire; /* always tq_fire(q) */
    (void)arg;
    uv_timer_start(q->uvt, on_uv, delay_ms, 0);
}

static void tq_uv_stop(void *user)
{
    sip__tq_t *q = user;
    uv_timer_stop(q->uvt);
}

int sip__tq_init(sip__tq_t *q, sip_loop_t *loop, const sip_txn_clock_t *clock)
{
    *q = (sip__tq_t){.armed = TQ_NEVER};
    if (clock) {
        q->clock = *clock;
        return 0;
    }
    q->uvt = calloc(1, sizeof(*q->uvt));
    if (!q->uvt) return SIP_ENOMEM;
    uv_timer_init(sip_loop_get_uv(loop), q->uvt);
    q->uvt->data = q;
    q->clock = (sip_txn_clock_t){uv_now_ms, tq_uv_start, tq_uv_stop, q};
    return 0;
}

static void on_uv_closed(uv_handle_t *h)
{
    sip__tq_t *q = h->data;
    void (*done)(void *) = q->on_closed;
    void *owner = q->owner;
    free(h);
    if (done) done(owner);
}

int sip__tq_close(sip__tq_t *q, void (*on_closed)(void *owner), void *owner)
{
    if (q->closed) return 0;
    q->closed = 1;
    for (size_t i = 0; i < q->n; i++)
        q->heap[i]->idx = -1;
    q->n = 0;
    free(q->heap);
    q->heap = NULL;
    q->cap = 0;
    if (q->armed != TQ_NEVER) q->clock.stop_timer(q->clock.user);
    q->armed = TQ_NEVER;
    if (!q->uvt) return 0;
    q->on_closed = on_closed;
    q->owner = owner;
    uv_close((uv_handle_t *)q->uvt, on_uv_closed);
    q->uvt = NULL;
    return 1;
}

uint64_t sip__tq_now(const sip__tq_t *q)
{
    return q->clock.now_ms(q->clock.user);
}

int sip__tq_reserve(sip__tq_t *q, size_t n)
{
    if (q->n + n <= q->cap) return 0;
    size_t cap = q->cap ? q->cap : 64;
    while (cap < q->n + n)
        cap *= 2;
    sip__tq_entry_t **h = realloc(q->heap, cap * sizeof(*h));
    if (!h) return SIP_ENOMEM;
    q->heap = h;
    q->cap = cap;
    return 0;
}

static void put(sip__tq_t *q, size_t i, sip__tq_entry_t *e)
{
    q->heap[i] = e;
    e->idx = (int)i;
}

static void sift_up(sip__tq_t *q, size_t i)
{
    sip__tq_entry_t *e = q->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (q->heap[p]->due <= e->due) break;
        put(q, i, q->heap[p]);
        i = p;
    }
    put(q, i, e);
}

static void sift_down(sip__tq_t *q, size_t i)
{
    sip__tq_entry_t *e = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && q->heap[c + 1]->due < q->heap[c]->due) c++;
        if (q->heap[c]->due >= e->due) break;
        put(q, i, q->heap[c]);
        i = c;
    }
    put(q, i, e);
}

/* Keeps the clock's single wake-up at the earliest deadline. */
static void schedule(sip__tq_t *q)
{
    if (q->closed || q->firing) return;
    uint64_t d = q->n ? q->heap[0]->due : TQ_NEVER;
    if (d == q->armed) return;
    q->armed = d;
    if (d == TQ_NEVER) {
        q->clock.stop_timer(q->clock.user);
        return;
    }
    uint64_t now = sip__tq_now(q);
    q->clock.start_timer(q->clock.user, d > now ? d - now : 0, tq_fire, q);
}

static void unlink_entry(sip__tq_t *q, sip__tq_entry_t *e)
{
    size_t i = (size_t)e->idx;
    e->idx = -1;
    sip__tq_entry_t *last = q->heap[--q->n];
    if (i == q->n) return;
    put(q, i, last);
    sift_up(q, i);
    sift_down(q, (size_t)last->idx);
}

int sip__tq_start(sip__tq_t *q, sip__tq_entry_t *e, uint64_t delay_ms)
{
    if (q->closed) return SIP_ECLOSED;
    uint64_t now = sip__tq_now(q);
    e->due = now + delay_ms;
    if (e->idx < 0) {
        int rc = sip__tq_reserve(q, 1);
        if (rc) return rc;
        put(q, q->n++, e);
        sift_up(q, (size_t)e->idx);
    } else {
        sift_up(q, (size_t)e->idx);
        sift_down(q, (size_t)e->idx);
    }
    schedule(q);
    return 0;
}

void sip__tq_stop(sip__tq_t *q, sip__tq_entry_t *e)
{
    if (e->idx < 0) return;
    unlink_entry(q, e);
    schedule(q);
}

static void tq_fire(void *arg)
{
    sip__tq_t *q = arg;
    if (q->closed) return;
    q->armed = TQ_NEVER;
    q->firing = 1;
    uint64_t now = sip__tq_now(q);
    /* An entry fired may arm others (or itself) for now: those wait for the next wake-up, so a
     * zero-delay re-arm cannot spin here. */
    size_t budget = q->n;
    while (budget-- && q->n && q->heap[0]->due <= now && !q->closed) {
        sip__tq_entry_t *e = q->heap[0];
        unlink_entry(q, e);
        e->fire(e);
    }
    q->firing = 0;
    schedule(q);
}
