/* SPDX-License-Identifier: MIT */
/* Private side of the loop: the handles that live on it close with it. */
#ifndef SIP_LOOP_INT_H
#define SIP_LOOP_INT_H

#include <uv.h>

#include "core/live_int.h"
#include "sip/loop.h"

/* Every libsip handle that owns libuv handles embeds one of these and registers it, so that
 * sip_loop_close() can close it. close() must stop all activity, start uv_close() on its libuv
 * handles (counting each with sip__loop_closing_begin and finishing with sip__loop_closing_end in
 * the close callback), and leave the owner answering SIP_ECLOSED. It is called at most once and
 * the child is already unlinked when it runs. */
typedef struct sip__loop_child {
    struct sip__loop_child *next, *prev;
    void (*close)(struct sip__loop_child *child);
} sip__loop_child_t;

void sip__loop_add_child(sip_loop_t *loop, sip__loop_child_t *child);
/* Unlinks a child that closes on its own; harmless when it is not linked. */
void sip__loop_remove_child(sip_loop_t *loop, sip__loop_child_t *child);

/* Bookkeeping of uv_close() calls in flight, so closing the loop can wait for them. */
void sip__loop_closing_begin(sip_loop_t *loop);
void sip__loop_closing_end(sip_loop_t *loop);

/* 1 when SIP messages should be logged (sip_loop_set_trace). */
int sip__loop_tracing(const sip_loop_t *loop);
/* 1 when a line at this level would be delivered (saves formatting it). */
int sip__loop_log_enabled(const sip_loop_t *loop, sip_log_level_t level);
/* Hands a formatted line to the logger (the level is already checked). */
void sip__loop_deliver_log(sip_loop_t *loop, sip_log_level_t level, const char *module,
                           const char *text);

#endif
