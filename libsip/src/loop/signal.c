/* SPDX-License-Identifier: MIT */
/* Signal watches on the loop: libuv turns a signal into an event of the loop thread (through a
 * pipe its handler writes to), so a callback may do anything a timer callback may. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop/loop_int.h"
#include "sip/error.h"

struct sip_signal {
    sip__loop_child_t child;
    int refs;        /* the caller's references */
    int handle_open; /* the uv handle is not closed yet */
    int closed;      /* stopped for good: no callback from now on */
    sip_loop_t *loop;
    uv_signal_t h;
    sip_signal_cb cb;
    void *user;
    sip_free_fn user_free;
};

static void maybe_free(sip_signal_t *s)
{
    if (s->refs == 0 && !s->handle_open) free(s);
}

static void handle_closed(uv_handle_t *h)
{
    sip_signal_t *s = h->data;
    s->handle_open = 0;
    sip__loop_closing_end(s->loop);
    maybe_free(s);
}

static void signal_close(sip_signal_t *s)
{
    if (s->closed) return;
    s->closed = 1;
    /* libuv puts the default action back once no handle watches the signal. */
    uv_signal_stop(&s->h);
    sip__loop_remove_child(s->loop, &s->child);
    sip__loop_closing_begin(s->loop);
    uv_close((uv_handle_t *)&s->h, handle_closed);
    sip_free_fn f = s->user_free;
    s->user_free = NULL;
    if (f) f(s->user);
}

static void child_close(sip__loop_child_t *c)
{
    signal_close((sip_signal_t *)c);
}

static void fire(uv_signal_t *h, int signum)
{
    sip_signal_t *s = h->data;
    if (s->closed) return;
    s->refs++; /* the callback may stop or drop the watch */
    s->cb(s, signum, s->user);
    sip_signal_unref(s);
}

int sip_signal_start(sip_signal_t **out, sip_loop_t *loop, int signum, sip_signal_cb cb, void *user,
                     sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    /* SIGKILL and SIGSTOP cannot be caught; libuv would accept them and never call back. */
    if (!out || !loop || !cb || signum <= 0 || signum >= NSIG || signum == SIGKILL ||
        signum == SIGSTOP)
        goto fail;
    rc = SIP_ECLOSED;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) goto fail;
    rc = SIP_ENOMEM;
    sip_signal_t *s = calloc(1, sizeof(*s));
    if (!s) goto fail;
    s->refs = 1;
    s->loop = loop;
    s->cb = cb;
    s->user = user;
    s->user_free = user_free;
    s->child.close = child_close;
    if ((rc = uv_signal_init(uv, &s->h)) != 0) {
        free(s);
        goto fail;
    }
    s->h.data = s;
    s->handle_open = 1;
    sip__loop_add_child(loop, &s->child);
    if ((rc = uv_signal_start(&s->h, fire, signum)) != 0) {
        s->refs = 0;
        signal_close(s); /* runs user_free */
        return rc == UV_EINVAL ? SIP_EINVAL : rc;
    }
    /* A watch waits for something else to happen; alone it must not keep the loop running. */
    uv_unref((uv_handle_t *)&s->h);
    *out = s;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

void sip_signal_stop(sip_signal_t *s)
{
    if (s) signal_close(s);
}

int sip_signal_is_active(const sip_signal_t *s)
{
    return s && !s->closed;
}

sip_signal_t *sip_signal_ref(sip_signal_t *s)
{
    if (s) s->refs++;
    return s;
}

void sip_signal_unref(sip_signal_t *s)
{
    if (!s || --s->refs > 0) return;
    signal_close(s);
    maybe_free(s);
}

static const struct {
    const char *name;
    int num;
} names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"CHLD", SIGCHLD}, {"WINCH", SIGWINCH},
};

int sip_signal_number(const char *name)
{
    if (!name) return SIP_EINVAL;
    if (strncasecmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0) return names[i].num;
    return SIP_EINVAL;
}
