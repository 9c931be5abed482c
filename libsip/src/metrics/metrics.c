/* SPDX-License-Identifier: MIT */
/* The /metrics endpoint (sip/metrics.h): libmicrohttpd with no thread of its own. Its epoll
 * descriptor is watched by a uv_poll on the loop and its next deadline is a uv timer, so that
 * MHD_run() runs on the loop thread like every other handler and can read the loop's counters
 * without a lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/live_int.h"
#include "loop/loop_int.h"
#include "sip/metrics.h"
#include "sip/stats.h"

/* The content type of the text exposition format (Prometheus 0.0.4). */
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct sip_metrics {
    sip__loop_child_t child;
    int refs;
    int closed;
    int in_run;  /* inside MHD_run(): a close from a callback waits for it to return */
    int stopped; /* the daemon and the handles are gone */
    int handles; /* uv handles not yet closed: the memory waits for them */
    sip_loop_t *loop;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    uint16_t port;
    sip_metrics_extra_cb extra;
    void *user;
    sip_free_fn user_free;
    char *buf; /* the last scrape's text, reused */
    size_t cap;
};

void sip_metrics_opts_init(sip_metrics_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->max_connections = 16;
    opts->timeout_ms = 10000;
}

/* ---- the scrape ---------------------------------------------------------------------------- */

/* Makes room for need bytes (and a NUL) in m->buf. */
static int reserve(sip_metrics_t *m, size_t need)
{
    if (need + 1 <= m->cap) return 0;
    size_t cap = m->cap ? m->cap : 4096;
    while (cap < need + 1)
        cap *= 2;
    char *b = realloc(m->buf, cap);
    if (!b) return SIP_ENOMEM;
    m->buf = b;
    m->cap = cap;
    return 0;
}

/* The counters, then the program's own series. @return the length, or a negative error. */
static int render(sip_metrics_t *m, size_t *len)
{
    int n = sip_stats_format(m->loop, m->buf, m->cap);
    if (n < 0) return n;
    if ((size_t)n >= m->cap) {
        if (reserve(m, (size_t)n)) return SIP_ENOMEM;
        n = sip_stats_format(m->loop, m->buf, m->cap);
        if (n < 0) return n;
    }
    size_t pos = (size_t)n;
    if (m->extra) {
        /* Room for a program's usual series, so that its function runs once a scrape (a
         * script's builds its text each time); more when it asks, as snprintf. */
        if (reserve(m, pos + 16384)) return SIP_ENOMEM;
        int e = m->extra(m, m->buf + pos, m->cap - pos, m->user);
        if (e > 0 && (size_t)e >= m->cap - pos && !m->closed) {
            if (reserve(m, pos + (size_t)e)) return SIP_ENOMEM;
            e = m->extra(m, m->buf + pos, m->cap - pos, m->user);
        }
        if (e < 0 || (size_t)e >= m->cap - pos) {
            sip_log(m->loop, SIP_LOG_WARN, "metrics", "extra series left out (%d)", e);
            e = 0;
        }
        pos += (size_t)e;
        /* The exposition ends each line with a newline: a last line without one is closed. */
        if (pos > (size_t)n && m->buf[pos - 1] != '\n') {
            if (reserve(m, pos + 1)) return SIP_ENOMEM;
            m->buf[pos++] = '\n';
        }
    }
    *len = pos;
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text,
                             size_t len, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(
        r, MHD_HTTP_HEADER_CONTENT_TYPE, status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain");
    if (ok == MHD_YES && allow) ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES) ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    sip_metrics_t *m = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    /* RFC 9110 §9.3.2: HEAD is GET without the body (libmicrohttpd leaves the body out). */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char text[] = "method not allowed\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, sizeof(text) - 1, "GET, HEAD");
    }
    if (strcmp(url, "/metrics") != 0) {
        static const char text[] = "not found: the counters are at /metrics\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, text, sizeof(text) - 1, NULL);
    }
    size_t len = 0;
    if (m->closed || render(m, &len) != 0) {
        static const char text[] = "cannot render the counters\n";
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, sizeof(text) - 1, NULL);
    }
    return reply(conn, MHD_HTTP_OK, m->buf, len, NULL);
}

/* libmicrohttpd's messages go to the loop's log at debug: a client that goes away is no news. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    sip_metrics_t *m = cls;
    if (!sip__loop_log_enabled(m->loop, SIP_LOG_DEBUG)) return;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    sip_log(m->loop, SIP_LOG_DEBUG, "metrics", "%s", line);
}

/* ---- driving libmicrohttpd from the loop --------------------------------------------------- */

static void stop_now(sip_metrics_t *m);

static void on_timer(uv_timer_t *t);

static unsigned connections(sip_metrics_t *m)
{
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/* Runs the daemon, then waits for its next deadline on the loop's clock. */
static void drive(sip_metrics_t *m)
{
    m->refs++; /* a callback may drop the last reference */
    m->in_run = 1;
    /* A run that ends connections frees their places only at its end, and libmicrohttpd puts
     * its listening socket back in its epoll set (taken out at max_connections) at the start of
     * the next run: run again while connections go, or clients waiting in the backlog would wait
     * for the next timeout. */
    for (int round = 0; round < 8 && !m->closed; round++) {
        unsigned before = connections(m);
        MHD_run(m->daemon);
        if (connections(m) >= before) break;
    }
    m->in_run = 0;
    if (m->closed) {
        stop_now(m);
    } else {
        MHD_UNSIGNED_LONG_LONG ms;
        if (MHD_get_timeout(m->daemon, &ms) == MHD_YES)
            uv_timer_start(&m->timer, on_timer, (uint64_t)ms, 0);
        else
            uv_timer_stop(&m->timer);
    }
    sip_metrics_unref(m);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drive(h->data);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

static void maybe_free(sip_metrics_t *m)
{
    if (m->refs > 0 || m->handles > 0) return;
    free(m->buf);
    free(m);
    sip__live_dec(SIP_LIVE_METRICS);
}

static void handle_closed(uv_handle_t *h)
{
    sip_metrics_t *m = h->data;
    sip_loop_t *loop = m->loop;
    m->handles--;
    sip__loop_closing_end(loop);
    maybe_free(m);
}

/* Stops the daemon and the handles (outside MHD_run()) and drops the loop. */
static void stop_now(sip_metrics_t *m)
{
    if (m->stopped) return;
    m->stopped = 1;
    /* The descriptor leaves the loop's watch before libmicrohttpd closes it. */
    uv_poll_stop(&m->poll);
    uv_timer_stop(&m->timer);
    MHD_stop_daemon(m->daemon); /* closes the listening socket and every connection */
    m->daemon = NULL;
    m->handles = 2;
    sip__loop_closing_begin(m->loop);
    uv_close((uv_handle_t *)&m->poll, handle_closed);
    sip__loop_closing_begin(m->loop);
    uv_close((uv_handle_t *)&m->timer, handle_closed);
    sip_free_fn f = m->user_free;
    void *u = m->user;
    m->extra = NULL;
    m->user_free = NULL;
    m->user = NULL;
    if (f) f(u);
    /* The handles' close callbacks run before the loop can go: closing them is counted. */
    sip_loop_unref(m->loop);
}

static void child_close(sip__loop_child_t *c)
{
    sip_metrics_close((sip_metrics_t *)c);
}

/* ---- the address ------------------------------------------------------------------------- */

/* "127.0.0.1:9090", "[::1]:9090" (an IP literal and a port). */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    if (!listen) return SIP_EINVAL;
    char host[64];
    const char *port;
    memset(ss, 0, sizeof(*ss));
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host)) return SIP_EINVAL;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host)) return SIP_EINVAL;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5) return SIP_EINVAL;
    long p = strtol(port, NULL, 10);
    if (p > 65535) return SIP_EINVAL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (listen[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof(*v4);
        return 0;
    }
    if (listen[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*v6);
        return 0;
    }
    return SIP_EINVAL;
}

/* A listening socket of our own, so that a taken port is told as its errno (libmicrohttpd
 * only says that starting failed), and port 0 is read back. */
static int open_listener(const struct sockaddr_storage *ss, socklen_t len, uint16_t *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 64) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &glen) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* ---- the handle ------------------------------------------------------------------------- */

int sip_metrics_create(sip_metrics_t **out, sip_loop_t *loop, const char *listen,
                       const sip_metrics_opts_t *opts, sip_metrics_extra_cb extra, void *user,
                       sip_free_fn user_free)
{
    sip_metrics_opts_t def;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int rc = SIP_EINVAL;
    int fd = -1;
    sip_metrics_t *m = NULL;
    if (out) *out = NULL;
    if (!opts) {
        sip_metrics_opts_init(&def);
        opts = &def;
    }
    if (!out || !loop || !opts->max_connections || !opts->timeout_ms) goto fail;
    if ((rc = parse_listen(listen, &ss, &sslen))) goto fail;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    rc = SIP_ECLOSED;
    if (!uv) goto fail;
    rc = SIP_ENOMEM;
    if (!(m = calloc(1, sizeof(*m)))) goto fail;
    uint16_t port = 0;
    if ((fd = open_listener(&ss, sslen, &port)) < 0) {
        rc = fd;
        goto fail;
    }
    m->refs = 1;
    m->loop = loop;
    m->port = port;
    /* libmicrohttpd's timeout is in whole seconds: a part of one counts as one. */
    unsigned timeout_s = (unsigned)((opts->timeout_ms + 999) / 1000);
    m->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL,
        NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)opts->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m, MHD_OPTION_END);
    rc = SIP_ENOMEM;
    if (!m->daemon) goto fail;
    fd = -1; /* the daemon's now */
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    rc = SIP_EIO;
    if (!info || info->epoll_fd < 0) goto fail_daemon;
    if ((rc = uv_poll_init(uv, &m->poll, info->epoll_fd))) goto fail_daemon;
    uv_timer_init(uv, &m->timer); /* cannot fail once the loop is up */
    m->poll.data = m->timer.data = m;
    m->extra = extra;
    m->user = user;
    m->user_free = user_free;
    sip_loop_ref(loop);
    sip__live_inc(SIP_LIVE_METRICS);
    m->child.close = child_close;
    sip__loop_add_child(loop, &m->child);
    uv_poll_start(&m->poll, UV_READABLE, on_readable);
    /* The first deadline (none until a client connects). */
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(m->daemon, &ms) == MHD_YES)
        uv_timer_start(&m->timer, on_timer, (uint64_t)ms, 0);
    *out = m;
    return 0;
fail_daemon:
    MHD_stop_daemon(m->daemon);
fail:
    if (fd >= 0) close(fd);
    free(m);
    if (user_free) user_free(user);
    return rc;
}

sip_metrics_t *sip_metrics_ref(sip_metrics_t *m)
{
    if (m) m->refs++;
    return m;
}

void sip_metrics_unref(sip_metrics_t *m)
{
    if (!m) return;
    if (m->refs == 1 && !m->closed) {
        sip_metrics_close(m);
    }
    if (--m->refs > 0) return;
    maybe_free(m);
}

void sip_metrics_close(sip_metrics_t *m)
{
    if (!m || m->closed) return;
    m->closed = 1;
    m->port = 0;
    sip__loop_remove_child(m->loop, &m->child);
    /* Inside a callback of libmicrohttpd the daemon cannot stop: drive() does it on return. */
    if (!m->in_run) {
        m->refs++;
        stop_now(m);
        m->refs--;
    }
}

uint16_t sip_metrics_get_port(const sip_metrics_t *m)
{
    return m && !m->closed ? m->port : 0;
}
