/* SPDX-License-Identifier: MIT */
/* The event loop: a libuv loop (owned or wrapped), work posted from other threads, close of every
 * handle that lives on it. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/loop_int.h"
#include "stats/stats_int.h"

typedef struct post_item {
    struct post_item *next;
    sip_loop_fn fn;
    void *user;
    sip_free_fn user_free;
} post_item_t;

struct sip_loop {
    /* First, so that stats/stats_int.h counts through the loop pointer without a call. */
    sip__stats_t stats;
    int refs;
    int closed;
    int owns_uv;
    uv_loop_t *uv;
    uv_loop_t own_uv;
    uv_async_t async;
    int async_open;
    pthread_mutex_t lock; /* guards posts and closed for sip_loop_post() */
    post_item_t *posts, *posts_tail;
    sip__loop_child_t children; /* list head */
    unsigned closing;           /* uv_close() calls in flight */
    /* logging */
    sip_log_level_t log_level;
    sip_log_cb log_cb;
    void *log_user;
    sip_free_fn log_free;
    int trace;
};

_Static_assert(offsetof(struct sip_loop, stats) == 0, "the counters open the loop");

static void run_posts(uv_async_t *h)
{
    sip_loop_t *loop = h->data;
    pthread_mutex_lock(&loop->lock);
    post_item_t *it = loop->posts;
    loop->posts = loop->posts_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    while (it) {
        post_item_t *next = it->next;
        if (it->fn) it->fn(loop, it->user);
        if (it->user_free) it->user_free(it->user);
        free(it);
        it = next;
    }
}

static int loop_init(sip_loop_t *loop)
{
    loop->refs = 1;
    loop->log_level = SIP_LOG_WARN;
    loop->children.next = loop->children.prev = &loop->children;
    if (pthread_mutex_init(&loop->lock, NULL) != 0) return SIP_ENOMEM;
    int rc = uv_async_init(loop->uv, &loop->async, run_posts);
    if (rc) {
        pthread_mutex_destroy(&loop->lock);
        return rc;
    }
    loop->async.data = loop;
    loop->async_open = 1;
    /* The async handle must not keep sip_loop_run() alive on its own. */
    uv_unref((uv_handle_t *)&loop->async);
    sip__live_inc(SIP_LIVE_LOOP);
    return 0;
}

int sip_loop_create(sip_loop_t **out)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    sip_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop) return SIP_ENOMEM;
    int rc = uv_loop_init(&loop->own_uv);
    if (rc) {
        free(loop);
        return rc;
    }
    loop->uv = &loop->own_uv;
    loop->owns_uv = 1;
    rc = loop_init(loop);
    if (rc) {
        uv_loop_close(&loop->own_uv);
        free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

int sip_loop_wrap(sip_loop_t **out, void *uv_loop)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!uv_loop) return SIP_EINVAL;
    sip_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop) return SIP_ENOMEM;
    loop->uv = uv_loop;
    int rc = loop_init(loop);
    if (rc) {
        free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

sip_loop_t *sip_loop_ref(sip_loop_t *loop)
{
    if (loop) loop->refs++;
    return loop;
}

void sip__loop_add_child(sip_loop_t *loop, sip__loop_child_t *child)
{
    child->next = &loop->children;
    child->prev = loop->children.prev;
    loop->children.prev->next = child;
    loop->children.prev = child;
}

void sip__loop_remove_child(sip_loop_t *loop, sip__loop_child_t *child)
{
    (void)loop;
    if (!child->next) return;
    child->prev->next = child->next;
    child->next->prev = child->prev;
    child->next = child->prev = NULL;
}

void sip__loop_closing_begin(sip_loop_t *loop)
{
    loop->closing++;
}

void sip__loop_closing_end(sip_loop_t *loop)
{
    loop->closing--;
}

static void async_closed(uv_handle_t *h)
{
    sip_loop_t *loop = h->data;
    loop->async_open = 0;
    sip__loop_closing_end(loop);
}

void sip_loop_close(sip_loop_t *loop)
{
    if (!loop || loop->closed) return;
    loop->refs++; /* children may drop references while closing */
    /* Children closing may register or close others (a transport closing its connections). */
    while (loop->children.next != &loop->children) {
        sip__loop_child_t *c = loop->children.next;
        sip__loop_remove_child(loop, c);
        c->close(c);
    }
    pthread_mutex_lock(&loop->lock);
    loop->closed = 1;
    post_item_t *it = loop->posts;
    loop->posts = loop->posts_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    /* Work that never ran still gets its user_free, exactly once. */
    while (it) {
        post_item_t *next = it->next;
        if (it->user_free) it->user_free(it->user);
        free(it);
        it = next;
    }
    if (loop->async_open) {
        sip__loop_closing_begin(loop);
        uv_close((uv_handle_t *)&loop->async, async_closed);
    }
    /* Let libuv finish every close we started (their callbacks free memory). */
    while (loop->closing)
        uv_run(loop->uv, UV_RUN_NOWAIT);
    if (loop->owns_uv) {
        uv_run(loop->uv, UV_RUN_NOWAIT);
        uv_loop_close(loop->uv);
    }
    if (loop->log_free) loop->log_free(loop->log_user);
    loop->log_cb = NULL;
    loop->log_free = NULL;
    sip_loop_unref(loop);
}

void sip_loop_unref(sip_loop_t *loop)
{
    if (!loop) return;
    if (loop->refs == 1 && !loop->closed) {
        sip_loop_close(loop); /* takes and drops its own reference */
    }
    if (--loop->refs > 0) return;
    pthread_mutex_destroy(&loop->lock);
    sip__live_dec(SIP_LIVE_LOOP);
    free(loop);
}

/* The async handle is unreferenced so that it does not keep run() alive on its own; work
 * posted before a run therefore has to be picked up here, or a loop with nothing else active
 * would return without running it. */
static void run_pending_posts(sip_loop_t *loop)
{
    pthread_mutex_lock(&loop->lock);
    int pending = loop->posts != NULL;
    pthread_mutex_unlock(&loop->lock);
    if (pending) run_posts(&loop->async);
}

int sip_loop_run(sip_loop_t *loop)
{
    if (!loop) return SIP_EINVAL;
    if (loop->closed) return SIP_ECLOSED;
    run_pending_posts(loop);
    if (loop->closed) return 0;
    uv_run(loop->uv, UV_RUN_DEFAULT);
    return 0;
}

int sip_loop_run_once(sip_loop_t *loop, int wait)
{
    if (!loop) return SIP_EINVAL;
    if (loop->closed) return SIP_ECLOSED;
    run_pending_posts(loop);
    if (loop->closed) return 0;
    return uv_run(loop->uv, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT) != 0;
}

void sip_loop_stop(sip_loop_t *loop)
{
    if (loop && !loop->closed) uv_stop(loop->uv);
}

uint64_t sip_loop_now(const sip_loop_t *loop)
{
    return loop && !loop->closed ? uv_now(loop->uv) : 0;
}

void *sip_loop_get_uv(sip_loop_t *loop)
{
    return loop && !loop->closed ? loop->uv : NULL;
}

int sip_loop_backend_fd(sip_loop_t *loop)
{
    return loop && !loop->closed ? uv_backend_fd(loop->uv) : -1;
}

int sip_loop_backend_timeout(sip_loop_t *loop)
{
    return loop && !loop->closed ? uv_backend_timeout(loop->uv) : -1;
}

int sip_loop_post(sip_loop_t *loop, sip_loop_fn fn, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    post_item_t *it = NULL;
    if (!loop || !fn) goto fail;
    it = malloc(sizeof(*it));
    rc = SIP_ENOMEM;
    if (!it) goto fail;
    it->next = NULL;
    it->fn = fn;
    it->user = user;
    it->user_free = user_free;
    pthread_mutex_lock(&loop->lock);
    if (loop->closed) {
        pthread_mutex_unlock(&loop->lock);
        free(it);
        rc = SIP_ECLOSED;
        goto fail;
    }
    if (loop->posts_tail)
        loop->posts_tail->next = it;
    else
        loop->posts = it;
    loop->posts_tail = it;
    /* uv_async_send is the one libuv call that is safe from any thread. */
    uv_async_send(&loop->async);
    pthread_mutex_unlock(&loop->lock);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

/* ---- logging ---- */

int sip__loop_tracing(const sip_loop_t *loop)
{
    return loop && loop->trace;
}

int sip__loop_log_enabled(const sip_loop_t *loop, sip_log_level_t level)
{
    return loop && level <= loop->log_level;
}

int sip_loop_set_log(sip_loop_t *loop, sip_log_level_t level, sip_log_cb cb, void *user,
                     sip_free_fn user_free)
{
    if (!loop || loop->closed) {
        if (user_free) user_free(user);
        return loop ? SIP_ECLOSED : SIP_EINVAL;
    }
    sip_free_fn old_free = loop->log_free;
    void *old_user = loop->log_user;
    loop->log_level = level;
    loop->log_cb = cb;
    loop->log_user = user;
    loop->log_free = user_free;
    if (old_free) old_free(old_user);
    return 0;
}

void sip_loop_set_log_level(sip_loop_t *loop, sip_log_level_t level)
{
    if (loop) loop->log_level = level;
}

void sip_loop_set_trace(sip_loop_t *loop, int on)
{
    if (loop) loop->trace = !!on;
}

const char *sip_log_level_name(sip_log_level_t level)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    return (unsigned)level < 5 ? names[level] : "unknown";
}

void sip__loop_deliver_log(sip_loop_t *loop, sip_log_level_t level, const char *module,
                           const char *text)
{
    if (loop->log_cb) {
        loop->log_cb(loop, level, module, text, loop->log_user);
        return;
    }
    /* The level was checked by the caller: the default writer honours sip_loop_set_log_level()
     * like a callback does. */
    fprintf(stderr, "libsip %s %s: %s\n", sip_log_level_name(level), module, text);
}
