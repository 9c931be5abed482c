/* SPDX-License-Identifier: MIT */
/* The event loop (on libuv): run, stop, timers, work handed in from other threads, logging. */
#ifndef SIP_LOOP_H
#define SIP_LOOP_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An event loop. Opaque; reference counted. Every libsip handle belongs to one loop. */
typedef struct sip_loop sip_loop_t;
/** A timer on a loop. Opaque; reference counted. */
typedef struct sip_timer sip_timer_t;

/** Frees the user data of a callback registration; runs exactly once. */
typedef void (*sip_free_fn)(void *user);
/** Work handed to the loop thread by sip_loop_post(). */
typedef void (*sip_loop_fn)(sip_loop_t *loop, void *user);
/** A timer fired. */
typedef void (*sip_timer_cb)(sip_timer_t *timer, void *user);

/** Log levels, most severe first. */
typedef enum sip_log_level {
    SIP_LOG_ERROR = 0,
    SIP_LOG_WARN,
    SIP_LOG_INFO,
    SIP_LOG_DEBUG,
    SIP_LOG_TRACE,
} sip_log_level_t;

/**
 * Receives a log line. Runs on the loop thread (or the thread that called the logging function).
 * @param level   the line's level
 * @param module  what logged it ("transport", "resolve", ...)
 * @param text    the line, without a newline; Borrowed for the call
 */
typedef void (*sip_log_cb)(sip_loop_t *loop, sip_log_level_t level, const char *module,
                           const char *text, void *user);

/**
 * Creates a loop that owns its own libuv loop.
 * @param out  New reference
 * @return 0, SIP_ENOMEM, or a -errno from libuv.
 */
SIP_EXTERN int sip_loop_create(sip_loop_t **out);

/**
 * Creates a loop on a libuv loop the application already runs (uv_loop_t *). libsip adds its
 * handles to it and never closes it; the application keeps running it.
 * @param out     New reference
 * @param uv_loop the uv_loop_t
 */
SIP_EXTERN int sip_loop_wrap(sip_loop_t **out, void *uv_loop);

/** Takes a reference. @return loop. */
SIP_EXTERN sip_loop_t *sip_loop_ref(sip_loop_t *loop);
/**
 * Drops a reference. The last one closes the loop (sip_loop_close()) and frees it. Accepts NULL.
 */
SIP_EXTERN void sip_loop_unref(sip_loop_t *loop);

/**
 * Closes every handle libsip keeps on this loop (transports, timers, resolvers, ...), waits for
 * libuv to finish closing them, and stops the loop. Handles still held elsewhere then answer
 * SIP_ECLOSED. Idempotent. Must run on the loop thread, outside sip_loop_run().
 */
SIP_EXTERN void sip_loop_close(sip_loop_t *loop);

/**
 * Runs the loop until sip_loop_stop() or until nothing is left to do.
 * @return 0, SIP_ECLOSED, SIP_EINVAL.
 */
SIP_EXTERN int sip_loop_run(sip_loop_t *loop);

/**
 * Runs one iteration.
 * @param wait  1: wait for at least one event; 0: poll and return at once
 * @return 1 when more work is pending, 0 when none, or a negative error.
 */
SIP_EXTERN int sip_loop_run_once(sip_loop_t *loop, int wait);

/** Makes sip_loop_run() return after the current iteration. Loop thread only. */
SIP_EXTERN void sip_loop_stop(sip_loop_t *loop);

/** The loop's cached time in milliseconds (monotonic, updated each iteration). */
SIP_EXTERN uint64_t sip_loop_now(const sip_loop_t *loop);

/** The uv_loop_t * underneath; Borrowed. NULL when closed. */
SIP_EXTERN void *sip_loop_get_uv(sip_loop_t *loop);

/**
 * The file descriptor to poll for readiness when the loop is driven by another event loop (for
 * example Python's asyncio), or -1 when closed.
 */
SIP_EXTERN int sip_loop_backend_fd(sip_loop_t *loop);

/**
 * Milliseconds until the next timer is due (-1: none; 0: work is pending) when driving the loop
 * from outside; valid after an iteration (sip_loop_run_once()).
 */
SIP_EXTERN int sip_loop_backend_timeout(sip_loop_t *loop);

/**
 * Hands a function to the loop thread. Safe from any thread: the only libsip call that is.
 * fn runs on the loop thread in a later iteration; user_free(user) runs once after it (or when the
 * loop closes before fn could run).
 * @return 0, SIP_ECLOSED, SIP_ENOMEM, SIP_EINVAL (user_free still runs on every failure).
 */
SIP_EXTERN int sip_loop_post(sip_loop_t *loop, sip_loop_fn fn, void *user, sip_free_fn user_free);

/**
 * Starts a timer.
 * @param out         New reference (keep it to stop the timer; unref when done)
 * @param timeout_ms  first expiry, from now
 * @param repeat_ms   period after that, 0 for a one-shot timer
 * @param cb          called on each expiry
 * @param user_free   runs once when the timer is stopped, its last reference dropped, or the
 *                    loop closed
 * @return 0, SIP_ECLOSED, SIP_ENOMEM, SIP_EINVAL.
 */
SIP_EXTERN int sip_timer_start(sip_timer_t **out, sip_loop_t *loop, uint64_t timeout_ms,
                               uint64_t repeat_ms, sip_timer_cb cb, void *user,
                               sip_free_fn user_free);

/** Stops a timer: no callback after this returns. Idempotent; accepts NULL. */
SIP_EXTERN void sip_timer_stop(sip_timer_t *timer);
/** 1 while the timer is started and has not expired (one-shot) or been stopped. */
SIP_EXTERN int sip_timer_is_active(const sip_timer_t *timer);
/** Takes a reference. */
SIP_EXTERN sip_timer_t *sip_timer_ref(sip_timer_t *timer);
/** Drops a reference; the last one stops the timer. Accepts NULL. */
SIP_EXTERN void sip_timer_unref(sip_timer_t *timer);

/** A watch on a POSIX signal (SIGTERM, SIGINT, SIGHUP, ...), delivered on the loop thread. */
typedef struct sip_signal sip_signal_t;
/**
 * Called on the loop thread after the signal arrived; deliveries close together may come as one
 * call. Unlike a C signal handler it may call anything (stop the loop, close a transport).
 */
typedef void (*sip_signal_cb)(sip_signal_t *sig, int signum, void *user);
/**
 * Watches a signal: while the watch lasts, the signal's arrival runs cb on the loop thread
 * instead of its default action (SIGTERM no longer ends the process). Several watches of one
 * signal all run. A watch alone does not keep sip_loop_run() running. When the last watch of a
 * signal stops, the default action is back (not a handler installed before the watch: a
 * program that has its own keeps it by not watching that signal).
 * @param out        New reference (keep it; stop or unref it to end the watch)
 * @param signum     the signal number (sip_signal_number() turns "TERM" into one)
 * @param user_free  runs once when the watch ends, its last reference is dropped, or the loop
 *                   closes (also when this call fails)
 * @return 0, SIP_EINVAL (no such signal, or SIGKILL/SIGSTOP, which cannot be caught),
 *         SIP_ECLOSED, SIP_ENOMEM, or a -errno from libuv.
 */
SIP_EXTERN int sip_signal_start(sip_signal_t **out, sip_loop_t *loop, int signum, sip_signal_cb cb,
                                void *user, sip_free_fn user_free);
/** Ends a watch: no callback after this returns. Idempotent; accepts NULL. */
SIP_EXTERN void sip_signal_stop(sip_signal_t *sig);
/** 1 while the watch has not been stopped. */
SIP_EXTERN int sip_signal_is_active(const sip_signal_t *sig);
/** Takes a reference. */
SIP_EXTERN sip_signal_t *sip_signal_ref(sip_signal_t *sig);
/** Drops a reference; the last one ends the watch. Accepts NULL. */
SIP_EXTERN void sip_signal_unref(sip_signal_t *sig);
/**
 * The number of a signal named "TERM" or "SIGTERM" (any case): HUP, INT, QUIT, TERM, USR1,
 * USR2, PIPE, ALRM, CHLD, WINCH. For scripts, which have no signal.h.
 * @return the number, or SIP_EINVAL for another name.
 */
SIP_EXTERN int sip_signal_number(const char *name);
/**
 * Sets where log lines go and the most verbose level delivered (SIP_LOG_WARN until set).
 * Without a callback, lines go to stderr. Replacing a callback runs the old user_free.
 * @param cb  the callback, or NULL for the stderr default
 */
SIP_EXTERN int sip_loop_set_log(sip_loop_t *loop, sip_log_level_t level, sip_log_cb cb, void *user,
                                sip_free_fn user_free);
/** Changes only the level. */
SIP_EXTERN void sip_loop_set_log_level(sip_loop_t *loop, sip_log_level_t level);
/**
 * Logs every SIP message sent and received, with addresses, at SIP_LOG_INFO under module
 * "trace" (for debugging a call flow).
 */
SIP_EXTERN void sip_loop_set_trace(sip_loop_t *loop, int on);
/** Names a level ("warn"). */
SIP_EXTERN const char *sip_log_level_name(sip_log_level_t level);
/** Writes one log line through the loop's logger (the form the bindings call). */
SIP_EXTERN void sip_log_write(sip_loop_t *loop, sip_log_level_t level, const char *module,
                              const char *text);
/** Writes a formatted log line through the loop's logger. */
SIP_EXTERN void sip_log(sip_loop_t *loop, sip_log_level_t level, const char *module,
                        const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
