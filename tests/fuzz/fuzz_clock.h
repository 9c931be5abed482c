/* SPDX-License-Identifier: MIT */
/* A hand-moved clock for the fuzz harnesses that drive the transaction layer (fuzz_proxy.c,
 * fuzz_txn.c): the layer's one wake-up is kept here and fired by advance(), so a run never
 * waits and every timer fires at its time. Each harness is one executable: static is enough. */
#ifndef FUZZ_CLOCK_H
#define FUZZ_CLOCK_H

#include <stdint.h>
#include <stdlib.h>

#include "txn/txn_int.h"

static uint64_t now_ms;
static int armed;
static uint64_t due_ms;
static void (*fire_fn)(void *);
static void *fire_arg;

static uint64_t clock_now(void *u)
{
    (void)u;
    return now_ms;
}

static void clock_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    (void)u;
    armed = 1;
    due_ms = now_ms + delay;
    fire_fn = fire;
    fire_arg = arg;
}

static void clock_stop(void *u)
{
    (void)u;
    armed = 0;
}

static const sip_txn_clock_t fuzz_clock = {clock_now, clock_start, clock_stop, NULL};

/* Fires every wake-up due within ms, each at its time; a bound stops a timer that re-arms at
 * the same instant forever (which would itself be a bug worth a crash report). */
static void advance(uint64_t ms)
{
    uint64_t end = now_ms + ms;
    int guard = 0;
    while (armed && due_ms <= end) {
        if (++guard > 100000) abort();
        if (due_ms > now_ms) now_ms = due_ms;
        armed = 0;
        fire_fn(fire_arg);
    }
    now_ms = end;
}

#endif
