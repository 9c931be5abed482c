/* SPDX-License-Identifier: MIT */
/* Unit tests of the event loop: timers, posted work, logging, signals, close. */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "sip/sip.h"

typedef struct {
    int fired;
    int freed;
    sip_timer_t *self;
    sip_loop_t *loop;
    int stop_after;
} counter_t;

static void count_free(void *user)
{
    ((counter_t *)user)->freed++;
}

static void on_timer(sip_timer_t *t, void *user)
{
    counter_t *c = user;
    c->fired++;
    if (c->stop_after && c->fired == c->stop_after) sip_timer_stop(t);
}

static void loop_timers_fire_in_order(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    counter_t one = {0}, rep = {.stop_after = 3}, never = {0};
    sip_timer_t *t1, *t2, *t3;
    assert_int_equal(sip_timer_start(&t1, loop, 5, 0, on_timer, &one, count_free), 0);
    assert_int_equal(sip_timer_start(&t2, loop, 1, 1, on_timer, &rep, count_free), 0);
    assert_int_equal(sip_timer_start(&t3, loop, 100000, 0, on_timer, &never, count_free), 0);
    assert_true(sip_timer_is_active(t1));
    sip_timer_stop(t3);
    sip_timer_stop(t3); /* idempotent */
    assert_false(sip_timer_is_active(t3));
    assert_int_equal(never.freed, 1);
    uint64_t start = sip_loop_now(loop);
    assert_int_equal(sip_loop_run(loop), 0); /* returns when nothing is left */
    assert_true(sip_loop_now(loop) - start >= 5);
    assert_int_equal(one.fired, 1);
    assert_false(sip_timer_is_active(t1));
    assert_int_equal(rep.fired, 3);
    assert_int_equal(rep.freed, 1);
    assert_int_equal(never.fired, 0);
    sip_timer_unref(t1);
    assert_int_equal(one.freed, 1);
    sip_timer_unref(t2);
    sip_timer_unref(t3);
    sip_loop_unref(loop);
}

static void loop_unref_stops_a_timer(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    counter_t c = {0};
    sip_timer_t *t;
    assert_int_equal(sip_timer_start(&t, loop, 1, 0, on_timer, &c, count_free), 0);
    sip_timer_unref(t);
    assert_int_equal(c.freed, 1);
    sip_loop_run(loop);
    assert_int_equal(c.fired, 0);
    sip_loop_unref(loop);
}

static void loop_close_closes_children(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    counter_t c = {0};
    sip_timer_t *t;
    assert_int_equal(sip_timer_start(&t, loop, 1000, 0, on_timer, &c, count_free), 0);
    sip_loop_close(loop);
    assert_int_equal(c.freed, 1);
    /* Handles a caller still holds answer "closed" and do nothing. */
    assert_false(sip_timer_is_active(t));
    assert_int_equal(sip_loop_run(loop), SIP_ECLOSED);
    sip_timer_t *t2 = (sip_timer_t *)1;
    counter_t c2 = {0};
    assert_int_equal(sip_timer_start(&t2, loop, 1, 0, on_timer, &c2, count_free), SIP_ECLOSED);
    assert_null(t2);
    assert_int_equal(c2.freed, 1);
    sip_timer_stop(t);
    sip_timer_unref(t);
    sip_loop_unref(loop);
}

/* ---- posted work ---- */

typedef struct {
    sip_loop_t *loop;
    int ran;
    int freed;
    pthread_mutex_t lock;
} post_state_t;

static void posted(sip_loop_t *loop, void *user)
{
    post_state_t *p = user;
    assert_ptr_equal(loop, p->loop);
    p->ran++;
    if (p->ran == 1000) sip_loop_stop(loop);
}

static void posted_free(void *user)
{
    post_state_t *p = user;
    pthread_mutex_lock(&p->lock);
    p->freed++;
    pthread_mutex_unlock(&p->lock);
}

static void *poster(void *arg)
{
    post_state_t *p = arg;
    for (int i = 0; i < 500; i++) assert_int_equal(sip_loop_post(p->loop, posted, p, posted_free), 0);
    return NULL;
}

static void stop_timer(sip_timer_t *t, void *user)
{
    (void)t;
    sip_loop_stop(user);
}

static void loop_post_from_threads(void **state)
{
    (void)state;
    post_state_t p = {0};
    pthread_mutex_init(&p.lock, NULL);
    assert_int_equal(sip_loop_create(&p.loop), 0);
    /* A long timer keeps run() alive until the posts stop it; a guard stops a stuck test. */
    sip_timer_t *guard;
    assert_int_equal(sip_timer_start(&guard, p.loop, 10000, 0, stop_timer, p.loop, NULL), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, poster, &p);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    sip_loop_run(p.loop);
    assert_int_equal(p.ran, 1000);
    assert_int_equal(p.freed, 1000);
    /* Posted but never run: user_free still runs once, at close. */
    assert_int_equal(sip_loop_post(p.loop, posted, &p, posted_free), 0);
    sip_timer_unref(guard);
    sip_loop_unref(p.loop);
    assert_int_equal(p.ran, 1000);
    assert_int_equal(p.freed, 1001);
    assert_int_equal(sip_loop_post(NULL, posted, &p, posted_free), SIP_EINVAL);
    assert_int_equal(p.freed, 1002);
    pthread_mutex_destroy(&p.lock);
}

static void loop_posts_run_on_an_idle_loop(void **state)
{
    (void)state;
    post_state_t p = {0};
    pthread_mutex_init(&p.lock, NULL);
    assert_int_equal(sip_loop_create(&p.loop), 0);
    /* Nothing else is active: the posted work still runs, from run_once and from run. */
    assert_int_equal(sip_loop_post(p.loop, posted, &p, posted_free), 0);
    sip_loop_run_once(p.loop, 0);
    assert_int_equal(p.ran, 1);
    assert_int_equal(sip_loop_post(p.loop, posted, &p, posted_free), 0);
    assert_int_equal(sip_loop_run(p.loop), 0);
    assert_int_equal(p.ran, 2);
    assert_int_equal(p.freed, 2);
    sip_loop_unref(p.loop);
    pthread_mutex_destroy(&p.lock);
}

static void loop_run_once_and_backend(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_true(sip_loop_backend_fd(loop) >= 0);
    assert_int_equal(sip_loop_backend_timeout(loop), 0); /* nothing active */
    counter_t c = {0};
    sip_timer_t *t;
    assert_int_equal(sip_timer_start(&t, loop, 20, 0, on_timer, &c, NULL), 0);
    assert_int_equal(sip_loop_run_once(loop, 0), 1);
    assert_int_equal(c.fired, 0);
    /* After an iteration the loop knows its next deadline. */
    int to = sip_loop_backend_timeout(loop);
    assert_true(to > 0 && to <= 20);
    while (!c.fired) sip_loop_run_once(loop, 1);
    sip_timer_unref(t);
    sip_loop_unref(loop);
}

static void loop_wraps_an_application_uv_loop(void **state)
{
    (void)state;
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    sip_loop_t *loop;
    assert_int_equal(sip_loop_wrap(&loop, &uv), 0);
    assert_ptr_equal(sip_loop_get_uv(loop), &uv);
    counter_t c = {0};
    sip_timer_t *t;
    assert_int_equal(sip_timer_start(&t, loop, 1, 0, on_timer, &c, NULL), 0);
    uv_run(&uv, UV_RUN_DEFAULT); /* the application runs its loop */
    assert_int_equal(c.fired, 1);
    sip_timer_unref(t);
    sip_loop_unref(loop);
    /* libsip left the application's loop open and empty. */
    assert_int_equal(uv_loop_close(&uv), 0);
}

/* ---- logging ---- */

typedef struct {
    int lines;
    char last[256];
    char module[32];
    sip_log_level_t level;
    int freed;
} log_state_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    log_state_t *s = user;
    s->lines++;
    s->level = level;
    snprintf(s->last, sizeof(s->last), "%s", text);
    snprintf(s->module, sizeof(s->module), "%s", module);
}

static void log_free(void *user)
{
    ((log_state_t *)user)->freed++;
}

static void loop_log_levels_and_callback(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    log_state_t s = {0}, s2 = {0};
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_INFO, on_log, &s, log_free), 0);
    sip_log(loop, SIP_LOG_DEBUG, "test", "hidden %d", 1);
    assert_int_equal(s.lines, 0);
    sip_log(loop, SIP_LOG_WARN, "test", "shown %d", 2);
    assert_int_equal(s.lines, 1);
    assert_string_equal(s.last, "shown 2");
    assert_string_equal(s.module, "test");
    assert_int_equal(s.level, SIP_LOG_WARN);
    sip_loop_set_log_level(loop, SIP_LOG_TRACE);
    sip_log_write(loop, SIP_LOG_TRACE, NULL, "plain");
    assert_int_equal(s.lines, 2);
    assert_string_equal(s.module, "app");
    /* Replacing the callback frees the old user data once. */
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_ERROR, on_log, &s2, log_free), 0);
    assert_int_equal(s.freed, 1);
    sip_log(loop, SIP_LOG_WARN, "test", "dropped");
    assert_int_equal(s2.lines, 0);
    assert_string_equal(sip_log_level_name(SIP_LOG_DEBUG), "debug");
    sip_loop_set_trace(loop, 1);
    sip_loop_unref(loop);
    assert_int_equal(s2.freed, 1);
    assert_int_equal(s.freed, 1);
}

/* ---- signals ---- */

typedef struct {
    int calls, signum, freed;
    sip_loop_t *loop;
} sig_seen_t;

static void on_sig(sip_signal_t *sig, int signum, void *user)
{
    sig_seen_t *s = user;
    (void)sig;
    s->calls++;
    s->signum = signum;
    sip_loop_stop(s->loop);
}

static void sig_free(void *user)
{
    ((sig_seen_t *)user)->freed++;
}

static void raise_usr1(sip_timer_t *t, void *user)
{
    (void)t;
    (void)user;
    raise(SIGUSR1);
}

static void guard_fired(sip_timer_t *t, void *user)
{
    (void)t;
    fail_msg("the signal never reached the loop");
    sip_loop_stop(user);
}

static sighandler_t current_handler(int signum)
{
    struct sigaction sa;
    assert_int_equal(sigaction(signum, NULL, &sa), 0);
    return sa.sa_handler;
}

static void loop_signal_runs_on_the_loop(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sig_seen_t seen = {.loop = loop}, other = {.loop = loop};
    sip_signal_t *w = NULL, *w2 = NULL;
    assert_int_equal(sip_signal_start(&w, loop, SIGUSR1, on_sig, &seen, sig_free), 0);
    assert_int_equal(sip_signal_start(&w2, loop, SIGUSR1, on_sig, &other, sig_free), 0);
    assert_true(sip_signal_is_active(w));
    /* The default action (ending the process) is replaced while watched. */
    assert_true(current_handler(SIGUSR1) != SIG_DFL);
    sip_timer_t *t = NULL, *guard = NULL;
    assert_int_equal(sip_timer_start(&t, loop, 10, 0, raise_usr1, NULL, NULL), 0);
    assert_int_equal(sip_timer_start(&guard, loop, 5000, 0, guard_fired, loop, NULL), 0);
    assert_int_equal(sip_loop_run(loop), 0);
    /* Both watches of the signal ran, with its number. */
    if (seen.calls == 0 || other.calls == 0) assert_int_equal(sip_loop_run(loop), 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(other.calls, 1);
    assert_int_equal(seen.signum, SIGUSR1);
    sip_timer_unref(guard);
    sip_timer_unref(t);
    sip_signal_stop(w);
    assert_false(sip_signal_is_active(w));
    assert_int_equal(seen.freed, 1);
    /* Another watch still holds the signal; once it goes, the default action is back. */
    assert_true(current_handler(SIGUSR1) != SIG_DFL);
    sip_signal_unref(w2);
    assert_int_equal(other.freed, 1);
    assert_true(current_handler(SIGUSR1) == SIG_DFL);
    sip_signal_unref(w);
    sip_loop_unref(loop);
}

static void loop_signal_alone_does_not_keep_the_loop(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sig_seen_t seen = {.loop = loop};
    sip_signal_t *w = NULL;
    assert_int_equal(sip_signal_start(&w, loop, SIGUSR2, on_sig, &seen, sig_free), 0);
    /* Nothing else to do: run() returns at once instead of waiting for a signal forever. */
    assert_int_equal(sip_loop_run(loop), 0);
    assert_int_equal(seen.calls, 0);
    /* Closing the loop ends the watch and releases its user data once. */
    sip_loop_close(loop);
    assert_int_equal(seen.freed, 1);
    assert_false(sip_signal_is_active(w));
    assert_true(current_handler(SIGUSR2) == SIG_DFL);
    sip_signal_unref(w);
    sip_loop_unref(loop);
}

static void loop_signal_refuses_bad_input(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sig_seen_t seen = {.loop = loop};
    sip_signal_t *w = (sip_signal_t *)&seen;
    int bad[] = {0, -1, SIGKILL, SIGSTOP, 100000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sip_signal_start(&w, loop, bad[i], on_sig, &seen, sig_free), SIP_EINVAL);
        assert_null(w);
    }
    /* user_free runs on every failure. */
    assert_int_equal(seen.freed, 5);
    assert_int_equal(sip_signal_start(&w, loop, SIGUSR1, NULL, &seen, sig_free), SIP_EINVAL);
    assert_int_equal(sip_signal_start(NULL, loop, SIGUSR1, on_sig, &seen, sig_free), SIP_EINVAL);
    assert_int_equal(sip_signal_start(&w, NULL, SIGUSR1, on_sig, &seen, sig_free), SIP_EINVAL);
    assert_int_equal(seen.freed, 8);
    sip_loop_close(loop);
    assert_int_equal(sip_signal_start(&w, loop, SIGUSR1, on_sig, &seen, sig_free), SIP_ECLOSED);
    assert_int_equal(seen.freed, 9);
    sip_signal_stop(NULL);
    sip_signal_unref(NULL);
    assert_null(sip_signal_ref(NULL));
    assert_false(sip_signal_is_active(NULL));
    /* Names scripts use. */
    assert_int_equal(sip_signal_number("TERM"), SIGTERM);
    assert_int_equal(sip_signal_number("sigint"), SIGINT);
    assert_int_equal(sip_signal_number("SIGHUP"), SIGHUP);
    assert_int_equal(sip_signal_number("usr2"), SIGUSR2);
    assert_int_equal(sip_signal_number("KILL"), SIP_EINVAL);
    assert_int_equal(sip_signal_number("SIG"), SIP_EINVAL);
    assert_int_equal(sip_signal_number(""), SIP_EINVAL);
    assert_int_equal(sip_signal_number(NULL), SIP_EINVAL);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_timers_fire_in_order),
        cmocka_unit_test(loop_unref_stops_a_timer),
        cmocka_unit_test(loop_close_closes_children),
        cmocka_unit_test(loop_post_from_threads),
        cmocka_unit_test(loop_posts_run_on_an_idle_loop),
        cmocka_unit_test(loop_run_once_and_backend),
        cmocka_unit_test(loop_wraps_an_application_uv_loop),
        cmocka_unit_test(loop_log_levels_and_callback),
        cmocka_unit_test(loop_signal_runs_on_the_loop),
        cmocka_unit_test(loop_signal_alone_does_not_keep_the_loop),
        cmocka_unit_test(loop_signal_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
