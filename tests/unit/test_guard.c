/* SPDX-License-Identifier: MIT */
/* The guard: rate and authentication-failure limits per source, sliding windows, blocks that
 * end, the allow list (IPv4 and IPv6), the bound on sources under a flood of addresses, the
 * rate-limited warning lines, bad input and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "alloc_hook.h"
#include "guard/guard_int.h"
#include "pump.h"
#include "sip/sip.h"

#define MAXLINES 32

typedef struct seen {
    char lines[MAXLINES][256];
    int n;
} seen_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    seen_t *s = user;
    if (level == SIP_LOG_WARN && strcmp(module, "guard") == 0 && s->n < MAXLINES)
        snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s", text);
}

/* Moves the loop's clock on by at least ms (the guard reads the loop's cached time). */
static void advance(sip_loop_t *loop, int ms)
{
    usleep((useconds_t)ms * 1000);
    uv_update_time(sip_loop_get_uv(loop));
}

static void on_keep(sip_timer_t *t, void *user)
{
    (void)t;
    (void)user;
}

static sip_guard_t *make(sip_loop_t *loop, const sip_guard_opts_t *o)
{
    sip_guard_t *g;
    assert_int_equal(sip_guard_create(&g, loop, o), 0);
    return g;
}

static sip_loop_t *new_loop(void)
{
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    return loop;
}

/* The guard's warning lines go to s. */
static void watch_log(sip_loop_t *loop, seen_t *s)
{
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_DEBUG, on_log, s, NULL), 0);
}

/* The defaults with a rate limit of max requests per window_ms. */
static void rate_opts(sip_guard_opts_t *o, int max, int window_ms)
{
    sip_guard_opts_init(o);
    o->rate_max = max;
    o->rate_window_ms = window_ms;
}

/* n requests from ip, every one let through. */
static void assert_passes(sip_guard_t *g, const char *ip, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(sip_guard_check(g, ip), 0);
}

/* n requests from ip, whatever the guard says of them. */
static void hit(sip_guard_t *g, const char *ip, int n)
{
    for (int i = 0; i < n; i++)
        sip_guard_check(g, ip);
}

/* An allowed source: requests and failures never count, a block by hand is not taken. */
static void assert_never_limited(sip_guard_t *g, const char *ip)
{
    for (int k = 0; k < 10; k++) {
        assert_int_equal(sip_guard_check(g, ip), 0);
        assert_int_equal(sip_guard_auth_failed(g, ip), 0);
    }
    assert_int_equal(sip_guard_block(g, ip, 1000), 0);
    assert_int_equal(sip_guard_is_blocked(g, ip), 0);
}

/* A malformed address: every call that takes one answers SIP_EINVAL. */
static void assert_refused_everywhere(sip_guard_t *g, const char *ip)
{
    assert_int_equal(sip_guard_check(g, ip), SIP_EINVAL);
    assert_int_equal(sip_guard_auth_failed(g, ip), SIP_EINVAL);
    assert_int_equal(sip_guard_is_blocked(g, ip), SIP_EINVAL);
    assert_int_equal(sip_guard_block(g, ip, 0), SIP_EINVAL);
    assert_int_equal(sip_guard_unblock(g, ip), SIP_EINVAL);
}

/* Ends a test: the guard, then its loop. */
static void finish(sip_guard_t *g, sip_loop_t *loop)
{
    sip_guard_unref(g);
    sip_loop_unref(loop);
}

static void guard_defaults(void **state)
{
    (void)state;
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    assert_int_equal(o.rate_window_ms, 2000);
    assert_int_equal(o.rate_max, 0);
    assert_int_equal(o.rate_block_ms, 60000);
    assert_int_equal(o.auth_window_ms, 600000);
    assert_int_equal(o.auth_max_failures, 10);
    assert_int_equal(o.auth_block_ms, 900000);
    assert_int_equal(o.max_sources, 65536);
    assert_int_equal(o.log_interval_ms, 10000);
    sip_guard_opts_init(NULL);
    sip_loop_t *loop = new_loop();
    sip_guard_t *g = make(loop, NULL);
    assert_int_equal(sip_live_count(SIP_LIVE_GUARD), 1);
    sip_guard_opts_t got;
    assert_int_equal(sip_guard_get_opts(g, &got), 0);
    assert_memory_equal(&got, &o, sizeof(o));
    assert_int_equal(sip_guard_get_opts(NULL, &got), SIP_EINVAL);
    assert_int_equal(sip_guard_get_opts(g, NULL), SIP_EINVAL);
    /* No rate limit by default: any number of requests goes on. */
    assert_passes(g, "192.0.2.7", 1000);
    assert_ptr_equal(sip_guard_ref(g), g);
    sip_guard_unref(g);
    sip_guard_unref(g);
    sip_guard_unref(NULL);
    sip_loop_unref(loop);
}

static void guard_rate_limit(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    seen_t s = {0};
    watch_log(loop, &s);
    sip_guard_opts_t o;
    rate_opts(&o, 5, 10000);
    sip_guard_t *g = make(loop, &o);
    assert_passes(g, "192.0.2.7", 5);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.7"), 0);
    /* The sixth in the window is one too many: blocked now, and what follows is too. */
    assert_int_equal(sip_guard_check(g, "192.0.2.7"), SIP_EBLOCKED);
    assert_int_equal(sip_guard_check(g, "192.0.2.7"), SIP_EBLOCKED);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED), 2);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.7"), 1);
    assert_int_equal(sip_guard_blocked_count(g), 1);
    /* Another source is counted apart. */
    assert_int_equal(sip_guard_check(g, "192.0.2.8"), 0);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.8"), 0);
    /* One warning line, in the documented shape. */
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "blocked 192.0.2.7 for 60 s: 6 requests in 10 s");
    /* Unblocking forgets the counts: five more go on. */
    assert_int_equal(sip_guard_unblock(g, "192.0.2.7"), 0);
    assert_int_equal(sip_guard_unblock(g, "192.0.2.7"), SIP_ENOENT);
    assert_int_equal(sip_guard_blocked_count(g), 0);
    assert_passes(g, "192.0.2.7", 5);
    finish(g, loop);
}

/* The count slides: requests of the previous window still weigh for the part of it the
 * sliding window covers, so a burst across a window's edge cannot double the limit. */
static void guard_window_slides(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_opts_t o;
    rate_opts(&o, 20, 400);
    sip_guard_t *g = make(loop, &o);
    uint64_t t0 = sip_loop_now(loop);
    assert_passes(g, "198.51.100.1", 20);
    advance(loop, 500);
    uint64_t el = sip_loop_now(loop) - t0;
    if (el < 800) {
        /* What the previous window still weighs: 20 * (800 - el) / 400, at least 1. */
        int carried = (int)(20 * (800 - el) / 400);
        int allowed = 20 - carried;
        for (int i = 0; i < allowed; i++)
            assert_int_equal(sip_guard_check(g, "198.51.100.1"), 0);
        assert_int_equal(sip_guard_check(g, "198.51.100.1"), SIP_EBLOCKED);
        assert_true(allowed < 20);
    }
    /* Two whole windows later nothing is left of the old counts. */
    assert_int_equal(sip_guard_unblock(g, "198.51.100.1"), 0);
    assert_passes(g, "198.51.100.1", 20);
    advance(loop, 850);
    assert_passes(g, "198.51.100.1", 20);
    finish(g, loop);
}

static void guard_blocks_expire(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_opts_t o;
    rate_opts(&o, 2, 50);
    o.rate_block_ms = 100;
    o.log_interval_ms = 50;
    seen_t s = {0};
    watch_log(loop, &s);
    sip_guard_t *g = make(loop, &o);
    hit(g, "203.0.113.5", 3);
    assert_int_equal(sip_guard_is_blocked(g, "203.0.113.5"), 1);
    /* By hand, for a time of its own. */
    assert_int_equal(sip_guard_block(g, "203.0.113.6", 100), 0);
    assert_int_equal(sip_guard_block(g, "2001:db8::6", 0), 0);
    assert_int_equal(sip_guard_blocked_count(g), 3);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED_SOURCES), 3);
    /* The guard's timer ends the blocks while the loop runs (the count drops on its own). It
     * does not keep a loop alive: something else must (a transport; here a timer). */
    sip_timer_t *keep;
    assert_int_equal(sip_timer_start(&keep, loop, 10000, 0, on_keep, NULL, NULL), 0);
    for (int i = 0; i < 100 && sip_guard_blocked_count(g); i++)
        test_pump(loop, 20);
    assert_int_equal(sip_guard_blocked_count(g), 0);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED_SOURCES), 0);
    /* The two blocks held back from the log are told when the blocks end (the guard's
     * timer, which may run after a lookup found the blocks over). */
    for (int i = 0; i < 100 && s.n < 2; i++)
        test_pump(loop, 10);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[1], "2 more blocks not logged");
    sip_timer_stop(keep);
    sip_timer_unref(keep);
    assert_int_equal(sip_guard_is_blocked(g, "203.0.113.5"), 0);
    assert_int_equal(sip_guard_check(g, "203.0.113.5"), 0);
    assert_int_equal(sip_guard_is_blocked(g, "2001:db8::6"), 0);
    /* The timer does not keep the loop running: a blocked source alone leaves run() free. */
    assert_int_equal(sip_guard_block(g, "203.0.113.9", 60000), 0);
    assert_int_equal(sip_loop_run(loop), 0);
    assert_int_equal(sip_guard_blocked_count(g), 1);
    /* A guard that goes takes its blocks with it. */
    sip_guard_unref(g);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BLOCKED_SOURCES), 0);
    sip_loop_unref(loop);
}

static void guard_auth_failures(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    seen_t s = {0};
    watch_log(loop, &s);
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    o.auth_max_failures = 3;
    sip_guard_t *g = make(loop, &o);
    assert_int_equal(sip_guard_auth_failed(g, "192.0.2.50"), 0);
    assert_int_equal(sip_guard_auth_failed(g, "192.0.2.50"), 0);
    /* Blocked at the third: the request that failed it is told. */
    assert_int_equal(sip_guard_auth_failed(g, "192.0.2.50"), SIP_EBLOCKED);
    assert_int_equal(sip_guard_check(g, "192.0.2.50"), SIP_EBLOCKED);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.50"), 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0],
                        "blocked 192.0.2.50 for 900 s: 3 failed authentications in 600 s");
    /* Requests alone never count as failures (no rate limit here). */
    assert_passes(g, "192.0.2.51", 100);
    /* No failure limit: never blocked for failures. */
    o.auth_max_failures = 0;
    assert_int_equal(sip_guard_set_opts(g, &o), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(sip_guard_auth_failed(g, "192.0.2.52"), 0);
    sip_guard_opts_t got;
    assert_int_equal(sip_guard_get_opts(g, &got), 0);
    assert_int_equal(got.auth_max_failures, 0);
    /* The reload kept the block. */
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.50"), 1);
    finish(g, loop);
}

static void guard_allow_list(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    o.rate_max = 1;
    o.auth_max_failures = 1;
    sip_guard_t *g = make(loop, &o);
    assert_int_equal(sip_guard_allow(g, "10.0.0.0/8"), 0);
    assert_int_equal(sip_guard_allow(g, "192.0.2.7"), 0);
    assert_int_equal(sip_guard_allow(g, "2001:db8::/32"), 0);
    assert_int_equal(sip_guard_allow(g, "::1"), 0);
    assert_int_equal(sip_guard_allow(g, "172.16.0.0/12"), 0);
    const char *free_ones[] = {"10.1.2.3", "10.255.255.255", "192.0.2.7",    "2001:db8:ffff::1",
                               "::1",      "172.31.0.1",     "[2001:db8::9]"};
    for (size_t i = 0; i < sizeof(free_ones) / sizeof(free_ones[0]); i++)
        assert_never_limited(g, free_ones[i]);
    /* Just outside each network: limited. */
    const char *limited[] = {"11.0.0.1", "192.0.2.8",  "2001:db9::1",
                             "::2",      "172.32.0.1", "9.255.255.255"};
    for (size_t i = 0; i < sizeof(limited) / sizeof(limited[0]); i++) {
        assert_int_equal(sip_guard_check(g, limited[i]), 0);
        assert_int_equal(sip_guard_check(g, limited[i]), SIP_EBLOCKED);
    }
    /* An IPv4 address written as IPv6 (mapped) is the same source. */
    assert_int_equal(sip_guard_is_blocked(g, "::ffff:11.0.0.1"), 1);
    assert_int_equal(sip_guard_check(g, "::ffff:10.9.9.9"), 0);
    assert_int_equal(sip_guard_check(g, "::ffff:10.9.9.9"), 0);
    /* /0 allows everything. */
    assert_int_equal(sip_guard_allow(g, "0.0.0.0/0"), 0);
    assert_int_equal(sip_guard_is_blocked(g, "11.0.0.1"), 0);
    finish(g, loop);
}

static void guard_bad_input(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_t *g = NULL;
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    assert_int_equal(sip_guard_create(NULL, loop, &o), SIP_EINVAL);
    assert_int_equal(sip_guard_create(&g, NULL, &o), SIP_EINVAL);
    assert_null(g);
    o.rate_max = 5;
    o.rate_window_ms = 0;
    assert_int_equal(sip_guard_create(&g, loop, &o), SIP_EINVAL);
    sip_guard_opts_init(&o);
    o.auth_window_ms = 0;
    assert_int_equal(sip_guard_create(&g, loop, &o), SIP_EINVAL);
    sip_guard_opts_init(&o);
    o.max_sources = 0;
    assert_int_equal(sip_guard_create(&g, loop, &o), SIP_EINVAL);
    /* A zero window without a limit is fine. */
    sip_guard_opts_init(&o);
    o.rate_window_ms = 0;
    g = make(loop, &o);
    o.rate_max = 3;
    assert_int_equal(sip_guard_set_opts(g, &o), SIP_EINVAL);
    assert_int_equal(sip_guard_set_opts(g, NULL), SIP_EINVAL);
    assert_int_equal(sip_guard_set_opts(NULL, &o), SIP_EINVAL);
    const char *bad_ips[] = {"",         "1.2.3",        "1.2.3.4.5", "256.1.1.1",
                             "::g",      "host.example", "1.2.3.4/8", "[1.2.3.4",
                             " 1.2.3.4", "1.2.3.4 "};
    for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++)
        assert_refused_everywhere(g, bad_ips[i]);
    assert_int_equal(sip_guard_check(g, NULL), SIP_EINVAL);
    assert_int_equal(sip_guard_check(NULL, "1.2.3.4"), SIP_EINVAL);
    assert_int_equal(sip_guard_auth_failed(NULL, "1.2.3.4"), SIP_EINVAL);
    assert_int_equal(sip_guard_is_blocked(NULL, "1.2.3.4"), SIP_EINVAL);
    assert_int_equal(sip_guard_block(NULL, "1.2.3.4", 0), SIP_EINVAL);
    assert_int_equal(sip_guard_unblock(NULL, "1.2.3.4"), SIP_EINVAL);
    assert_int_equal(sip_guard_blocked_count(NULL), 0);
    const char *bad_nets[] = {"10.0.0.0/33",
                              "10.0.0.1/8",
                              "10.0.0.0/",
                              "10.0.0.0/08",
                              "10.0.0.0/-1",
                              "2001:db8::/129",
                              "2001:db8::1/32",
                              "/8",
                              "10.0.0.0/8/8",
                              "10.0.0.0/1x",
                              "",
                              "::/1234"};
    for (size_t i = 0; i < sizeof(bad_nets) / sizeof(bad_nets[0]); i++)
        assert_int_equal(sip_guard_allow(g, bad_nets[i]), SIP_EINVAL);
    assert_int_equal(sip_guard_allow(g, NULL), SIP_EINVAL);
    assert_int_equal(sip_guard_allow(NULL, "::1"), SIP_EINVAL);
    assert_int_equal(sip_guard_allow(g, "0.0.0.0/0"), 0);
    assert_int_equal(sip_guard_allow(g, "::/0"), 0);
    assert_int_equal(sip_guard_allow(g, "2001:db8::/128"), 0);
    finish(g, loop);
}

/* A flood from ever new (spoofed) addresses: the table stays at max_sources, the least
 * recently seen go first, and a blocked source is not pushed out by newcomers. */
static void guard_bounded_under_flood(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    seen_t s = {0};
    watch_log(loop, &s);
    sip_guard_opts_t o;
    rate_opts(&o, 3, 60000);
    o.max_sources = 64;
    sip_guard_t *g = make(loop, &o);
    hit(g, "192.0.2.99", 4);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.99"), 1);
    long allocs = test_alloc_live();
    char ip[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(sip_guard_check(g, ip), 0);
    }
    /* No allocation beyond the 64 entries' (which were made before or during the first 63). */
    assert_true(test_alloc_live() - allocs <= 64);
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.99"), 1);
    /* The most recent are remembered; the first ones were forgotten. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sip_guard_check(g, "10.0.78.31"), i < 2 ? 0 : SIP_EBLOCKED);
    assert_passes(g, "10.0.0.0", 3);
    /* Many blocks, few lines: one, then the others counted in the next. */
    for (int i = 0; i < 10; i++) {
        snprintf(ip, sizeof(ip), "198.18.0.%d", i);
        hit(g, ip, 4);
    }
    assert_int_equal(s.n, 1);
    o.log_interval_ms = 1;
    assert_int_equal(sip_guard_set_opts(g, &o), 0);
    advance(loop, 5);
    hit(g, "198.18.1.1", 4);
    assert_int_equal(s.n, 2);
    assert_string_equal(
        s.lines[1], "blocked 198.18.1.1 for 60 s: 4 requests in 60 s; 11 more blocks not logged");
    /* A smaller table on reload: trimmed to the bound. */
    o.max_sources = 4;
    assert_int_equal(sip_guard_set_opts(g, &o), 0);
    assert_true(test_alloc_live() - allocs <= 4);
    finish(g, loop);
}

static void guard_loop_closed(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    o.rate_max = 1;
    sip_guard_t *g = make(loop, &o);
    assert_int_equal(sip_guard_block(g, "192.0.2.1", 0), 0);
    sip_loop_close(loop);
    /* Closed with its loop: nothing is limited any more. */
    assert_int_equal(sip_guard_is_blocked(g, "192.0.2.1"), 0);
    assert_int_equal(sip_guard_check(g, "192.0.2.2"), 0);
    assert_int_equal(sip_guard_check(g, "192.0.2.2"), 0);
    assert_int_equal(sip_guard_blocked_count(g), 0);
    /* A reload of a closed guard is taken and changes nothing. */
    o.max_sources = 1;
    assert_int_equal(sip_guard_set_opts(g, &o), 0);
    assert_int_equal(sip_guard_unblock(g, "192.0.2.1"), SIP_ENOENT);
    sip_guard_unref(g);
    sip_loop_unref(loop);
    sip_guard_t *g2 = NULL;
    loop = new_loop();
    sip_loop_close(loop);
    assert_int_equal(sip_guard_create(&g2, loop, NULL), SIP_ECLOSED);
    sip_loop_unref(loop);
}

static void guard_alloc_failures(void **state)
{
    (void)state;
    sip_loop_t *loop = new_loop();
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    o.rate_max = 1;
    for (long n = 1;; n++) {
        sip_guard_t *g = NULL;
        test_alloc_fail_at(n);
        int rc = sip_guard_create(&g, loop, &o);
        if (rc == 0) rc = sip_guard_allow(g, "10.0.0.0/8");
        if (rc == 0) rc = sip_guard_block(g, "192.0.2.1", 0);
        /* Counting never fails: without memory a new source is let through uncounted. */
        int c1 = g ? sip_guard_check(g, "192.0.2.2") : 0;
        int c2 = g ? sip_guard_check(g, "192.0.2.2") : 0;
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (g) {
            assert_true(c1 == 0);
            assert_true(c2 == 0 || c2 == SIP_EBLOCKED);
        }
        sip_guard_unref(g);
        if (!failed) {
            assert_int_equal(rc, 0);
            assert_int_equal(c2, SIP_EBLOCKED);
            break;
        }
        assert_true(rc == 0 || rc == SIP_ENOMEM);
        assert_true(n < 100);
    }
    test_pump(loop, 1);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(guard_defaults),      cmocka_unit_test(guard_rate_limit),
        cmocka_unit_test(guard_window_slides), cmocka_unit_test(guard_blocks_expire),
        cmocka_unit_test(guard_auth_failures), cmocka_unit_test(guard_allow_list),
        cmocka_unit_test(guard_bad_input),     cmocka_unit_test(guard_bounded_under_flood),
        cmocka_unit_test(guard_loop_closed),   cmocka_unit_test(guard_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
