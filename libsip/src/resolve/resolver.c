/* SPDX-License-Identifier: MIT */
/* The resolver handle: c-ares driven by the libsip loop (uv_poll per socket, one uv_timer). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "loop/loop_int.h"
#include "resolve/resolve_int.h"

struct sip__rsock {
    uv_poll_t poll;
    sip_resolver_t *r;
    ares_socket_t fd;
    int in_use; /* a pool entry that is taken */
    int heap;   /* allocated beyond the pool */
    sip__rsock_t *next;
};

void sip_resolver_opts_init(sip_resolver_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->servers = NULL;
    opts->timeout_ms = 2000;
    opts->tries = 2;
    opts->transports =
        (1u << SIP_TRANSPORT_UDP) | (1u << SIP_TRANSPORT_TCP) | (1u << SIP_TRANSPORT_TLS);
    opts->cache_max = 1024;
    opts->failed_ms = 60000;
}

static void resolver_free(sip_resolver_t *r)
{
    sip__live_dec(SIP_LIVE_RESOLVER);
    sip__rcache_free(&r->cache);
    free(r->servers);
    free(r->sock_pool);
    free(r->failed);
    free(r);
}

/* The memory goes when nobody holds a reference and libuv has closed every handle. */
static void maybe_free(sip_resolver_t *r)
{
    if (r->refs == 0 && r->closed && r->handles == 0) resolver_free(r);
}

/* Every uv_close() is counted on the loop too, so closing the loop waits for it: r->loop stays
 * valid until the last close callback. */
static void close_handle(sip_resolver_t *r, uv_handle_t *h, uv_close_cb cb)
{
    sip__loop_closing_begin(r->loop);
    uv_close(h, cb);
}

static void on_handle_closed(uv_handle_t *h)
{
    sip_resolver_t *r = h->data;
    sip__loop_closing_end(r->loop);
    r->handles--;
    maybe_free(r);
}

static void on_sock_closed(uv_handle_t *h)
{
    sip__rsock_t *s = (sip__rsock_t *)h;
    sip_resolver_t *r = s->r;
    if (s->heap)
        free(s);
    else
        s->in_use = 0;
    sip__loop_closing_end(r->loop);
    r->handles--;
    maybe_free(r);
}

static void sock_close(sip_resolver_t *r, sip__rsock_t *s)
{
    for (sip__rsock_t **pp = &r->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    close_handle(r, (uv_handle_t *)&s->poll, on_sock_closed);
}

static void destroy_channel(sip_resolver_t *r)
{
    if (!r->have_channel) return;
    r->have_channel = 0;
    r->destroy_pending = 0;
    /* Pending queries end here with ARES_EDESTRUCTION; their jobs were cancelled already. The
     * socket callbacks close the poll handles. */
    ares_destroy(r->channel);
    while (r->socks)
        sock_close(r, r->socks);
}

static void release(sip_resolver_t *r);

uint64_t sip__resolver_now(sip_resolver_t *r)
{
    return uv_now(r->uv);
}

/* Runs c-ares on the given ready sockets (or only its timeouts), then re-arms the timer. */
static void process(sip_resolver_t *r, ares_socket_t rfd, ares_socket_t wfd)
{
    if (!r->have_channel) return;
    r->refs++;
    r->in_ares++;
    ares_process_fd(r->channel, rfd, wfd);
    r->in_ares--;
    if (r->destroy_pending && r->in_ares == 0) destroy_channel(r);
    sip__resolver_schedule(r);
    release(r);
}

static void on_ares_timer(uv_timer_t *t)
{
    process(t->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void sip__resolver_schedule(sip_resolver_t *r)
{
    if (r->closed || !r->have_channel || r->in_ares) return;
    struct timeval tv, *tvp = ares_timeout(r->channel, NULL, &tv);
    if (!tvp) {
        /* Nothing in flight: an idle resolver does not keep the loop running. */
        uv_timer_stop(&r->ares_timer);
        return;
    }
    uint64_t ms = (uint64_t)tvp->tv_sec * 1000u + ((uint64_t)tvp->tv_usec + 999u) / 1000u;
    uv_timer_start(&r->ares_timer, on_ares_timer, ms, 0);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sip__rsock_t *s = (sip__rsock_t *)h;
    sip_resolver_t *r = s->r;
    ares_socket_t fd = s->fd;
    /* On a poll error let c-ares read and write, so it sees the socket's error itself. */
    if (status < 0) events = UV_READABLE | UV_WRITABLE;
    process(r, (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
            (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
}

/* c-ares tells which sockets it wants watched (ARES_OPT_SOCK_STATE_CB). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    sip_resolver_t *r = data;
    sip__rsock_t *s = r->socks;
    while (s && s->fd != fd)
        s = s->next;
    if (!readable && !writable) {
        /* c-ares calls this before it closes the socket: stop watching it first. */
        if (s) sock_close(r, s);
        return;
    }
    if (!s) {
        if (r->closed) return;
        /* c-ares tells a socket only once: a socket left unwatched would stall every later
         * query on it. So sockets come from a pool made with the resolver, not from malloc
         * here (which is only a fallback beyond the pool). */
        for (size_t i = 0; !s && i < r->sock_pool_size; i++)
            if (!r->sock_pool[i].in_use) s = &r->sock_pool[i];
        if (!s) {
            s = calloc(1, sizeof(*s));
            if (!s) return; /* its queries then time out */
            s->heap = 1;
        }
        if (uv_poll_init_socket(r->uv, &s->poll, fd) != 0) {
            if (s->heap) free(s);
            return;
        }
        s->in_use = 1;
        s->r = r;
        s->fd = fd;
        s->next = r->socks;
        r->socks = s;
        r->handles++;
        /* A socket left open between queries must not keep the loop running; the timer does
         * while a query is in flight. */
        uv_unref((uv_handle_t *)&s->poll);
    }
    uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void on_deliver(uv_async_t *a)
{
    sip_resolver_t *r = a->data;
    if (r->closed) return;
    r->refs++;
    sip__rjob_deliver(r);
    if (!r->closed) {
        /* Jobs finished by the callbacks themselves go in the next iteration. */
        if (r->done_head)
            uv_async_send(&r->deliver);
        else
            uv_unref((uv_handle_t *)&r->deliver);
    }
    release(r);
}

void sip__resolver_wake(sip_resolver_t *r)
{
    if (r->closed) return;
    /* An async wake rather than a zero timer: the callback then counts as the event that
     * sip_loop_run_once(loop, 1) waits for, and the loop does not block after it. The handle
     * holds the loop alive only while results wait. */
    uv_ref((uv_handle_t *)&r->deliver);
    uv_async_send(&r->deliver);
}

/* splitmix64: small, good enough for RFC 2782 selection, and its state is per resolver. */
static uint64_t next_random(sip_resolver_t *r)
{
    uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t sip__resolver_random(sip_resolver_t *r, uint32_t bound)
{
    return (uint32_t)(next_random(r) % ((uint64_t)bound + 1u));
}

static void seed_random(sip_resolver_t *r)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        /* No entropy yet (early boot): the clock and an address still differ per resolver. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ (uintptr_t)r;
    }
    r->rng = seed;
}

static int ares_to_sip(int status)
{
    switch (status) {
    case ARES_ENOMEM: return SIP_ENOMEM;
    case ARES_EBADSTR:
    case ARES_EBADFAMILY:
    case ARES_EBADNAME: return SIP_EINVAL;
    default: return SIP_EIO;
    }
}

static void on_loop_close(sip__loop_child_t *child)
{
    sip_resolver_t *r = (sip_resolver_t *)((char *)child - offsetof(sip_resolver_t, child));
    sip_resolver_close(r);
}

int sip_resolver_create(sip_resolver_t **out, sip_loop_t *loop, const sip_resolver_opts_t *opts)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!loop) return SIP_EINVAL;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) return SIP_ECLOSED;
    sip_resolver_opts_t o;
    sip_resolver_opts_init(&o);
    if (opts) o = *opts;
    if (o.timeout_ms <= 0 || o.tries <= 0) return SIP_EINVAL;
    sip_resolver_t *r = calloc(1, sizeof(*r));
    if (!r) return SIP_ENOMEM;
    r->opts = o;
    r->opts.servers = NULL;
    int rc = SIP_ENOMEM;
    if (o.servers) {
        size_t n = strlen(o.servers);
        r->servers = malloc(n + 1);
        if (!r->servers) goto fail;
        memcpy(r->servers, o.servers, n + 1);
        r->opts.servers = r->servers;
    }
    rc = sip__rcache_init(&r->cache, o.cache_max);
    if (rc) goto fail;

    struct ares_options ao;
    memset(&ao, 0, sizeof(ao));
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    ao.timeout = o.timeout_ms;
    ao.tries = o.tries;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int st = ares_init_options(&r->channel, &ao, mask);
    if (st != ARES_SUCCESS) {
        rc = ares_to_sip(st);
        goto fail;
    }
    r->have_channel = 1;
    if (r->servers) {
        st = ares_set_servers_ports_csv(r->channel, r->servers);
        if (st != ARES_SUCCESS) {
            rc = st == ARES_ENOMEM ? SIP_ENOMEM : SIP_EINVAL;
            ares_destroy(r->channel);
            goto fail;
        }
    }
    /* c-ares 1.18 keeps one UDP and one TCP socket per server; twice that covers sockets
     * reopened while the old poll handle is still closing. */
    struct ares_addr_port_node *list = NULL;
    size_t nservers = 0;
    if (ares_get_servers_ports(r->channel, &list) == ARES_SUCCESS) {
        for (struct ares_addr_port_node *p = list; p; p = p->next)
            nservers++;
        ares_free_data(list);
    }
    r->sock_pool_size = 4 * (nservers ? nservers : 1);
    r->sock_pool = calloc(r->sock_pool_size, sizeof(*r->sock_pool));
    if (!r->sock_pool) {
        rc = SIP_ENOMEM;
        ares_destroy(r->channel);
        goto fail;
    }
    rc = uv_async_init(uv, &r->deliver, on_deliver);
    if (rc) {
        ares_destroy(r->channel);
        goto fail;
    }
    /* Nothing can fail from here on: the handles close asynchronously. */
    uv_unref((uv_handle_t *)&r->deliver);
    r->loop = loop;
    r->uv = uv;
    uv_timer_init(uv, &r->ares_timer);
    r->ares_timer.data = r;
    r->deliver.data = r;
    r->handles = 2;
    seed_random(r);
    r->refs = 1;
    sip__live_inc(SIP_LIVE_RESOLVER);
    r->child.close = on_loop_close;
    sip__loop_add_child(loop, &r->child);
    *out = r;
    return 0;
fail:
    sip__rcache_free(&r->cache);
    free(r->servers);
    free(r->sock_pool);
    free(r);
    return rc;
}

sip_resolver_t *sip_resolver_ref(sip_resolver_t *r)
{
    if (r) r->refs++;
    return r;
}

static void release(sip_resolver_t *r)
{
    if (--r->refs > 0) return;
    if (!r->closed) {
        /* The last reference closes; close itself holds one while user_free calls run. */
        r->refs = 1;
        sip_resolver_close(r);
        if (--r->refs > 0) return;
    }
    maybe_free(r);
}

void sip_resolver_unref(sip_resolver_t *r)
{
    if (r && r->refs > 0) release(r);
}

void sip_resolver_close(sip_resolver_t *r)
{
    if (!r || r->closed) return;
    r->closed = 1;
    r->refs++;
    sip__loop_remove_child(r->loop, &r->child);
    /* Jobs end first (user_free runs, no callback); the answers c-ares still owes them are then
     * dropped when the channel goes. */
    sip__rjob_cancel_all(r);
    if (r->in_ares)
        r->destroy_pending = 1; /* c-ares is on the stack: destroy when process() unwinds */
    else
        destroy_channel(r);
    close_handle(r, (uv_handle_t *)&r->ares_timer, on_handle_closed);
    close_handle(r, (uv_handle_t *)&r->deliver, on_handle_closed);
    release(r);
}

void sip_resolver_flush(sip_resolver_t *r)
{
    if (r) sip__rcache_flush(&r->cache);
}

int sip_resolve(sip_resolver_t *r, const sip_uri_t *uri, sip_resolve_cb cb, void *user,
                sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!r || !uri || !cb) goto fail;
    rc = SIP_ECLOSED;
    if (r->closed) goto fail;
    /* sip__rjob_start runs user_free itself when it fails. */
    return sip__rjob_start(r, uri, cb, user, user_free);
fail:
    if (user_free) user_free(user);
    return rc;
}
