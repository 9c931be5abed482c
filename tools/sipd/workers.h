/* SPDX-License-Identifier: MIT */
/* sipd as several processes (sip/worker.h): the parent (the hub, the location service of
 * `state`, the metrics endpoint, the signals, restarting a worker that died) and, in each worker
 * process, its control channel to the parent (ready, counters, the parent's end). main.c runs
 * the one or the other; a worker process is sipd itself started with the internal flags
 * --worker-index K --worker-link FD --worker-control FD (docs/SIPD.md, "Workers"). */
#ifndef SIPD_WORKERS_H
#define SIPD_WORKERS_H

#include <stddef.h>

#include <sip/sip.h>

/* The descriptors a worker process finds its link and its control channel on. */
#define SIPD_WORKER_LINK_FD 3
#define SIPD_WORKER_CONTROL_FD 4

/** How many workers the configuration asks for: `workers`, 0 being one per core; at most
 * SIP_WORKERS_MAX. */
unsigned sipd_workers_count(const sip_config_t *cfg);

/* ---- the parent ---------------------------------------------------------------------------- */

/** Makes the configuration again (the file, then the flags) at SIGHUP; EXIT_CLEAN or an exit
 * status with the reason in why. */
typedef int (*sipd_rebuild_fn)(void *user, sip_config_t **out, char *why, size_t size);

typedef struct sipd_parent_opts {
    int argc;    /**< sipd's own command line, given again to each worker */
    char **argv; /**< (with the internal flags after it) */
    unsigned workers;
    const char *pid_file; /**< NULL: none */
    sipd_rebuild_fn rebuild;
    void *rebuild_user;
} sipd_parent_opts_t;

/**
 * Runs the parent until SIGTERM or SIGINT has stopped every worker (or a worker failed to
 * start): prints what a one-process sipd prints at start once every worker is ready, and
 * `stopped on signal N; B bindings` at the end.
 * @param cfg  the configuration, checked (sip_config_check()); Borrowed
 * @return the exit status: EXIT_CLEAN, or EXIT_RUNTIME (a worker that did not start, the
 *         location service or the metrics endpoint that cannot be opened).
 */
int sipd_parent_run(const sip_config_t *cfg, const sipd_parent_opts_t *opts);

/* ---- a worker's control channel ------------------------------------------------------------ */

typedef struct sipd_control sipd_control_t;

/**
 * Opens the worker's end of its control channel on loop: the worker's counters go to the parent
 * a few times a second (when they changed), and gone runs once when the parent has gone (the
 * channel closed), so that no worker outlives its parent.
 * @param fd  takes it (closed by sipd_control_close())
 * @return 0, or a negative code.
 */
int sipd_control_open(sipd_control_t **out, sip_loop_t *loop, int fd, void (*gone)(void *user),
                      void *user);
/** Tells the parent this worker serves; text is what it prints at start (listening points and
 * the summary line). @return 0, or a negative code. */
int sipd_control_ready(sipd_control_t *c, const char *text);
/** Closes the channel and frees c. Accepts NULL. */
void sipd_control_close(sipd_control_t *c);

#endif
