/* SPDX-License-Identifier: MIT */
/* sipd --demo: two libsip user agents in the same process register with the server (digest)
 * and call each other through it, and the call's ladder is printed. main.c calls only these. */
#ifndef SIPD_DEMO_H
#define SIPD_DEMO_H

#include <stdio.h>

#include <sip/sip.h>

typedef struct sipd_demo sipd_demo_t;

/**
 * Runs once when the demo failed (ok is 0: a registration refused, the call not answered, or
 * nothing within the deadline); the host then stops with status 1. A demo that succeeded (both
 * registered, the call set up and ended, both unregistered) does not call it: it prints its
 * last line and the server serves on until the host's signals stop it.
 */
typedef void (*sipd_demo_done_cb)(int ok, void *user);

/**
 * Starts the demo on the server's loop (the server must be running when the loop runs).
 * @param out  where the ladder is printed
 * @return 0, or a negative code (printed to stderr).
 */
int sipd_demo_start(sipd_demo_t **demo, sip_server_t *srv, FILE *out, sipd_demo_done_cb done,
                    void *user);
/** Stops it (its user agents unregister and close) and frees it. Accepts NULL. */
void sipd_demo_close(sipd_demo_t *demo);

#endif
