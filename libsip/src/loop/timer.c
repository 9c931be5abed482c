/* SPDX-License-Identifier: MIT */
/* Timers on the loop. */
#include <stdlib.h>

#include "loop/loop_int.h"

struct sip_timer {
    sip__loop_child_t child;
    int refs;        /* the caller's references */
    int handle_open; /* the uv timer is not closed yet */
    int closed;      /* stopped for good: no callback from now on */
    sip_loop_t *loop;
    uv_timer_t h;
    sip_timer_cb cb;
    void *user;
    sip_free_fn user_free;
};

static void maybe_free(sip_timer_t *t)
{
    if (t->refs == 0 && !t->handle_open) free(t);
}

static void handle_closed(uv_handle_t *h)
{
    sip_timer_t *t = h->data;
    t->handle_open = 0;
    sip__loop_closing_end(t->loop);
    maybe_free(t);
}

static void timer_close(sip_timer_t *t)
{
    if (t->closed) return;
    t->closed = 1;
    uv_timer_stop(&t->h);
    sip__loop_remove_child(t->loop, &t->child);
    sip__loop_closing_begin(t->loop);
    uv_close((uv_handle_t *)&t->h, handle_closed);
    sip_free_fn f = t->user_free;
    t->user_free = NULL;
    if (f) f(t->user);
}

static void child_close(sip__loop_child_t *c)
{
    timer_close((sip_timer_t *)c);
}

static void fire(uv_timer_t *h)
{
    sip_timer_t *t = h->data;
    if (t->closed) return;
    /* The callback may stop or drop the timer. */
    t->refs++;
    t->cb(t, t->user);
    sip_timer_unref(t);
}

int sip_timer_start(sip_timer_t **out, sip_loop_t *loop, uint64_t timeout_ms, uint64_t repeat_ms,
                    sip_timer_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !loop || !cb) goto fail;
    rc = SIP_ECLOSED;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) goto fail;
    rc = SIP_ENOMEM;
    sip_timer_t *t = calloc(1, sizeof(*t));
    if (!t) goto fail;
    t->refs = 1;
    t->loop = loop;
    t->cb = cb;
    t->user = user;
    t->user_free = user_free;
    t->child.close = child_close;
    uv_timer_init(uv, &t->h);
    t->h.data = t;
    t->handle_open = 1;
    uv_timer_start(&t->h, fire, timeout_ms, repeat_ms);
    sip__loop_add_child(loop, &t->child);
    *out = t;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

void sip_timer_stop(sip_timer_t *t)
{
    if (t) timer_close(t);
}

int sip_timer_is_active(const sip_timer_t *t)
{
    return t && !t->closed && uv_is_active((const uv_handle_t *)&t->h);
}

sip_timer_t *sip_timer_ref(sip_timer_t *t)
{
    if (t) t->refs++;
    return t;
}

void sip_timer_unref(sip_timer_t *t)
{
    if (!t || --t->refs > 0) return;
    timer_close(t);
    maybe_free(t);
}
