/* SPDX-License-Identifier: MIT */
/* Stream connections (TCP, TLS, WS, WSS): accept, connect, layers, Content-Length framing,
 * CRLF keep-alive, limits and timeouts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard_int.h"
#include "stats/stats_int.h"
#include "transport/addr.h"
#include "transport/flow.h"
#include "transport/transport_int.h"

#define READ_CHUNK 65536

/* At most one warning per interval about the connection cap: an attacker holding connections
 * open must not also fill the log, one line per refused connection. */
#define CAP_LOG_INTERVAL_MS 10000

static void conn_unref(sip__conn_t *c)
{
    if (--c->refs > 0) return;
    for (int i = 0; i < c->nlayers; i++)
        if (c->layers[i]) c->layers[i]->vt->destroy(c->layers[i]);
    free(c->rbuf);
    free(c->wbuf);
    sip__live_dec(SIP_LIVE_CONN);
    free(c);
}

static void fail_pending(sip__conn_t *c, int err)
{
    sip__pending_t *p = c->pending;
    c->pending = c->pending_tail = NULL;
    while (p) {
        sip__pending_t *next = p->next;
        sip__tp_complete(c->tp, p->cb, p->user, p->user_free, err);
        free(p);
        p = next;
    }
}

static void on_closed(uv_handle_t *h)
{
    sip__conn_t *c = h->data;
    sip_transport_t *tp = c->tp;
    c->handle_open = 0;
    conn_unref(c);
    sip__tp_handle_closed(tp);
}

static int socket_write_now(sip__conn_t *c, const char *data, size_t len);

void sip__conn_close(sip__conn_t *c, int err, const char *why)
{
    if (c->closing) return;
    sip_transport_t *tp = c->tp;
    char a[SIP__ADDR_STRLEN];
    /* A last answer (the 400 before a framing error) still goes out. */
    if (c->wlen) {
        size_t n = c->wlen;
        c->wlen = 0;
        socket_write_now(c, c->wbuf, n);
    }
    c->closing = 1;
    if (why)
        sip_log(tp->loop, err ? SIP_LOG_WARN : SIP_LOG_DEBUG, "transport",
                "closing %s connection %llu with %s: %s", sip_transport_param(c->type),
                (unsigned long long)c->id,
                sip__addr_str(a, SIP_TRANSPORT_NONE, c->info.remote_ip, c->info.remote_port), why);
    if (c->prev)
        c->prev->next = c->next;
    else
        tp->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    tp->nconns--;
    sip__stat_dec(tp->loop, SIP_STAT_CONN_ACTIVE);
    fail_pending(c, err ? err : SIP_ECLOSED);
    sip__flow_conn_closed(tp, c->id);
    if (c->announced && tp->worker.conn_event) tp->worker.conn_event(tp->worker.ctx, &c->info, 0);
    c->announced = 0;
    if (c->ready && c->nlayers) c->layers[c->nlayers - 1]->vt->shutdown(c->layers[c->nlayers - 1]);
    uv_read_stop((uv_stream_t *)&c->tcp);
    sip__loop_closing_begin(tp->loop);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* ---- writing ---- */

typedef struct {
    uv_write_t req;
    char data[];
} write_t;

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error and closes the connection */
    free(req);
}

static int socket_write(sip__conn_t *c, const char *data, size_t len)
{
    if (c->closing) return SIP_ECLOSED;
    if (c->batching && c->wlen + len <= 65536) {
        if (c->wlen + len > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 4096;
            while (cap < c->wlen + len)
                cap *= 2;
            char *b = realloc(c->wbuf, cap);
            if (!b) return socket_write_now(c, data, len);
            c->wbuf = b;
            c->wcap = cap;
        }
        memcpy(c->wbuf + c->wlen, data, len);
        c->wlen += len;
        return 0;
    }
    if (c->wlen) {
        /* Keep the order: what was gathered goes first. */
        size_t n = c->wlen;
        c->wlen = 0;
        int rc = socket_write_now(c, c->wbuf, n);
        if (rc) return rc;
    }
    return socket_write_now(c, data, len);
}

static void flush_gathered(sip__conn_t *c)
{
    c->batching = 0;
    if (!c->wlen || c->closing) {
        c->wlen = 0;
        return;
    }
    size_t n = c->wlen;
    c->wlen = 0;
    int rc = socket_write_now(c, c->wbuf, n);
    if (rc) sip__conn_close(c, rc, uv_strerror(rc));
}

static int socket_write_now(sip__conn_t *c, const char *data, size_t len)
{
    if (c->closing) return SIP_ECLOSED;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = 0;
    /* Write at once when the socket takes it; queue only what is left, and only after anything
     * already queued, so bytes never overtake each other. */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == UV_EAGAIN) n = 0;
        if (n < 0) return n;
        if ((size_t)n == len) return 0;
    }
    write_t *w = malloc(sizeof(*w) + len - (size_t)n);
    if (!w) return SIP_ENOMEM;
    memcpy(w->data, data + n, len - (size_t)n);
    b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc) free(w);
    return rc;
}

/* Sends through the top layer, or straight to the socket. */
static int conn_output(sip__conn_t *c, const char *data, size_t len)
{
    if (c->nlayers) {
        sip__layer_t *top = c->layers[c->nlayers - 1];
        return top->vt->output(top, data, len);
    }
    return socket_write(c, data, len);
}

int sip__conn_send(sip__conn_t *c, const char *data, size_t len, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    if (c->closing) {
        if (user_free) user_free(user);
        return SIP_ECLOSED;
    }
    if (c->ready) {
        int rc = conn_output(c, data, len);
        if (rc) {
            if (user_free) user_free(user);
            return rc;
        }
        c->last_activity = uv_now(sip_loop_get_uv(c->tp->loop));
        sip__tp_complete(c->tp, cb, user, user_free, 0);
        return 0;
    }
    sip__pending_t *p = malloc(sizeof(*p) + len);
    if (!p) {
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    p->next = NULL;
    p->len = len;
    p->cb = cb;
    p->user = user;
    p->user_free = user_free;
    memcpy(p->data, data, len);
    if (c->pending_tail)
        c->pending_tail->next = p;
    else
        c->pending = p;
    c->pending_tail = p;
    return 0;
}

static void flush_pending(sip__conn_t *c)
{
    while (c->pending && !c->closing) {
        sip__pending_t *p = c->pending;
        c->pending = p->next;
        if (!c->pending) c->pending_tail = NULL;
        int rc = conn_output(c, p->data, p->len);
        sip__tp_complete(c->tp, p->cb, p->user, p->user_free, rc);
        free(p);
    }
}

static void set_ready(sip__conn_t *c)
{
    c->ready = 1;
    char a[SIP__ADDR_STRLEN];
    sip_log(c->tp->loop, SIP_LOG_DEBUG, "transport", "%s connection %llu with %s ready",
            sip_transport_param(c->type), (unsigned long long)c->id,
            sip__addr_str(a, SIP_TRANSPORT_NONE, c->info.remote_ip, c->info.remote_port));
    flush_pending(c);
}

/* ---- reading and framing ---- */

static void deliver_bytes(sip__conn_t *c, const char *data, size_t len, int stream)
{
    sip_transport_t *tp = c->tp;
    if (c->closing) return;
    c->got_message = 1;
    /* As for datagrams (udp.c): a blocked source's message is dropped before parsing, and its
     * connection goes with it. */
    if (tp->guard && c->peer.ss_family &&
        sip__guard_admit(tp->guard, (struct sockaddr *)&c->peer,
                         !(len >= 4 && memcmp(data, "SIP/", 4) == 0))) {
        sip__conn_close(c, 0, "source blocked");
        return;
    }
    /* Another worker's request or response goes to it before anything here sees it. */
    if (tp->worker.steer && tp->worker.steer(tp->worker.ctx, &c->info, data, len, !c->server))
        return;
    sip_parse_opts_t po = tp->opts.parse;
    po.stream = stream;
    sip__tp_trace(tp, 0, &c->info, data, len);
    sip_msg_t *msg;
    sip_parse_error_t err;
    int rc = sip_msg_parse_ex(&msg, data, len, &po, &err);
    if (rc) {
        sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
        char a[SIP__ADDR_STRLEN];
        sip_log(tp->loop, SIP_LOG_WARN, "transport",
                "malformed message from %s: %s (line %u, column %u)%s",
                sip__addr_str(a, c->type, c->info.remote_ip, c->info.remote_port), err.reason,
                err.line, err.column, err.status ? "; answered" : "; dropped");
        if (err.status) {
            char out[4096];
            int n = sip__reply_malformed(out, sizeof(out), data, len, err.status, err.phrase);
            if (n > 0 && conn_output(c, out, (size_t)n) == 0)
                sip__stat_inc(tp->loop, sip__stat_rsp_class(SIP_STAT_TX_RSP_1XX, err.status));
        }
        return;
    }
    sip_msg_set_netinfo(msg, &c->info);
    sip__tp_deliver(tp, msg, !c->server);
    sip_msg_unref(msg);
}

/* Appends stream bytes and hands every complete message up (RFC 3261 §18.3 framing). */
static int frame(sip__conn_t *c, const char *data, size_t len)
{
    sip_transport_t *tp = c->tp;
    if (data) {
        if (c->rlen + len > tp->opts.max_conn_buffer) {
            sip__stat_inc(tp->loop, SIP_STAT_DROP_LIMIT);
            sip__conn_close(c, SIP_ETOOBIG, "too many bytes buffered for one message");
            return SIP_ETOOBIG;
        }
        if (c->rlen + len > c->rcap) {
            size_t cap = c->rcap ? c->rcap : 4096;
            while (cap < c->rlen + len)
                cap *= 2;
            char *b = realloc(c->rbuf, cap);
            if (!b) {
                sip__conn_close(c, SIP_ENOMEM, "out of memory");
                return SIP_ENOMEM;
            }
            c->rbuf = b;
            c->rcap = cap;
        }
        memcpy(c->rbuf + c->rlen, data, len);
        c->rlen += len;
    }
    size_t off = 0;
    while (!c->closing && off < c->rlen) {
        /* RFC 5626 §4.4.1: between messages, a double CRLF is a ping that a server answers with
         * a single CRLF pong. Its octets may come in several reads ("\r\n", a pause, "\r\n"),
         * so how much of one was seen is kept across reads. On a connection this endpoint opened
         * the CRLFs are the pongs to its own pings: answering them would echo forever. */
        while (off < c->rlen && (c->rbuf[off] == '\r' || c->rbuf[off] == '\n')) {
            char ch = c->rbuf[off++];
            if (ch == "\r\n\r\n"[c->crlf])
                c->crlf++;
            else
                c->crlf = ch == '\r' ? 1 : 0;
            if (c->crlf == 4) {
                c->crlf = 0;
                if (c->server) conn_output(c, "\r\n", 2);
            }
            if (ch == '\n' && !c->server) c->pongs++;
        }
        if (off == c->rlen || c->closing) break;
        c->crlf = 0;
        size_t skip, mlen;
        int rc = sip_msg_frame(c->rbuf + off, c->rlen - off, &skip, &mlen);
        if (rc == SIP_EINCOMPLETE) {
            off += skip;
            break;
        }
        if (rc) {
            sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
            char out[4096];
            int n =
                sip__reply_malformed(out, sizeof(out), c->rbuf + off + skip, c->rlen - off - skip,
                                     400, "Bad Request (Missing or bad Content-Length)");
            if (n > 0 && conn_output(c, out, (size_t)n) == 0)
                sip__stat_inc(tp->loop, SIP_STAT_TX_RSP_4XX);
            sip__conn_close(c, SIP_EPARSE, "framing lost: missing or bad Content-Length");
            return SIP_EPARSE;
        }
        deliver_bytes(c, c->rbuf + off + skip, mlen, 1);
        off += skip + mlen;
    }
    if (c->closing) return SIP_ECLOSED;
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    uint64_t now = uv_now(sip_loop_get_uv(tp->loop));
    c->partial_since = c->rlen ? (c->partial_since ? c->partial_since : now) : 0;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    /* One read at a time per connection: a fresh buffer, freed in on_read. */
    buf->base = malloc(READ_CHUNK);
    buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sip__conn_t *c = s->data;
    if (nread == 0) {
        free(buf->base);
        return;
    }
    c->refs++;
    if (nread < 0) {
        sip__conn_close(c, nread == UV_EOF ? 0 : (int)nread,
                        nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread));
    } else {
        sip_transport_t *tp = c->tp;
        c->last_activity = uv_now(sip_loop_get_uv(tp->loop));
        c->batching = 1;
        if (tp->worker.batch) tp->worker.batch(tp->worker.ctx, 1);
        if (c->nlayers) {
            int rc = c->layers[0]->vt->input(c->layers[0], buf->base, (size_t)nread);
            /* A WebSocket message over the limit, or framing that does not parse. */
            if ((rc == SIP_ETOOBIG || rc == SIP_EPARSE) && !c->closing)
                sip__stat_inc(c->tp->loop,
                              rc == SIP_ETOOBIG ? SIP_STAT_DROP_LIMIT : SIP_STAT_DROP_PARSE);
            if (rc && !c->closing) sip__conn_close(c, rc, c->layers[0]->error);
        } else {
            frame(c, buf->base, (size_t)nread);
        }
        flush_gathered(c);
        if (tp->worker.batch) tp->worker.batch(tp->worker.ctx, 0);
    }
    free(buf->base);
    conn_unref(c);
}

/* ---- layer plumbing ---- */

static sip__conn_t *io_conn(void *ctx, int *idx)
{
    /* ctx points at c->io[idx]; its address tells which layer is calling. */
    sip__layer_io_t *io = ctx;
    sip__conn_t *c = io->ctx;
    *idx = (int)(io - c->io);
    return c;
}

static int io_up_stream(void *ctx, const char *data, size_t len)
{
    int i;
    sip__conn_t *c = io_conn(ctx, &i);
    if (i + 1 < c->nlayers) return c->layers[i + 1]->vt->input(c->layers[i + 1], data, len);
    /* Framing errors close the connection themselves; the layer has nothing more to do. */
    frame(c, data, len);
    return 0;
}

static int io_up_message(void *ctx, const char *data, size_t len)
{
    int i;
    sip__conn_t *c = io_conn(ctx, &i);
    /* RFC 7118 §5: one WebSocket message holds one SIP message. */
    deliver_bytes(c, data, len, 0);
    return 0;
}

static int io_down(void *ctx, const char *data, size_t len)
{
    int i;
    sip__conn_t *c = io_conn(ctx, &i);
    if (i > 0) return c->layers[i - 1]->vt->output(c->layers[i - 1], data, len);
    return socket_write(c, data, len);
}

static void io_ready(void *ctx)
{
    int i;
    sip__conn_t *c = io_conn(ctx, &i);
    if (i + 1 < c->nlayers) {
        /* The layer above starts its handshake once this one is up (WS over TLS). */
        int rc = c->layers[i + 1]->vt->start(c->layers[i + 1]);
        if (rc) sip__conn_close(c, rc, c->layers[i + 1]->error);
        return;
    }
    set_ready(c);
}

static void io_closed(void *ctx)
{
    int i;
    sip__conn_t *c = io_conn(ctx, &i);
    sip__conn_close(c, 0, "closed by the peer");
}

/* Callbacks of each layer receive &c->io[i] as ctx, so they can tell which layer called. */
static void *io_self(sip__conn_t *c, int i)
{
    return &c->io[i];
}

static int make_layers(sip__conn_t *c, const char *host)
{
    sip_transport_t *tp = c->tp;
    int tls = sip_transport_is_secure(c->type);
    int ws = c->type == SIP_TRANSPORT_WS || c->type == SIP_TRANSPORT_WSS;
    int n = 0, rc;
    for (int i = 0; i < 2; i++) {
        c->io[i].ctx = c;
        c->io[i].up_stream = io_up_stream;
        c->io[i].up_message = io_up_message;
        c->io[i].down = io_down;
        c->io[i].ready = io_ready;
        c->io[i].closed = io_closed;
    }
    /* The io tables are handed over by value; their ctx must identify the layer. */
    if (tls) {
        if (!c->server && !tp->tls_client) {
            char why[256];
            rc = sip__tls_ctx_create(&tp->tls_client, &tp->opts, 0, why, sizeof(why));
            if (rc) {
                sip_log(tp->loop, SIP_LOG_ERROR, "transport", "TLS client context: %s", why);
                return rc;
            }
        }
        sip__layer_io_t io = c->io[n];
        io.ctx = io_self(c, n);
        rc = sip__tls_layer_create(&c->layers[n], c->server ? tp->tls_server : tp->tls_client,
                                   c->server, c->server ? NULL : host, &io);
        if (rc) return rc;
        c->nlayers = ++n;
    }
    if (ws) {
        sip__layer_io_t io = c->io[n];
        io.ctx = io_self(c, n);
        rc = sip__ws_layer_create(&c->layers[n], c->server, host, tp->opts.ws_path, &io);
        if (rc) return rc;
        c->nlayers = ++n;
    }
    return 0;
}

static int start_layers(sip__conn_t *c)
{
    if (!c->nlayers) {
        set_ready(c);
        return 0;
    }
    int rc = c->layers[0]->vt->start(c->layers[0]);
    if (rc) sip__conn_close(c, rc, c->layers[0]->error);
    return rc;
}

static sip__conn_t *conn_new(sip_transport_t *tp, sip_transport_type_t type, int server)
{
    sip__conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    sip__live_inc(SIP_LIVE_CONN);
    c->tp = tp;
    c->type = type;
    c->server = server;
    c->refs = 1;
    c->id = tp->next_conn_id++;
    c->created = c->last_activity = uv_now(sip_loop_get_uv(tp->loop));
    uv_tcp_init(sip_loop_get_uv(tp->loop), &c->tcp);
    c->tcp.data = c;
    c->handle_open = 1;
    tp->open_handles++;
    c->next = tp->conns;
    if (tp->conns) tp->conns->prev = c;
    tp->conns = c;
    tp->nconns++;
    sip__stat_inc(tp->loop, SIP_STAT_CONN_ACTIVE);
    return c;
}

static void fill_names(sip__conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        sip__sockaddr_to((struct sockaddr *)&ss, c->info.local_ip, sizeof(c->info.local_ip),
                         &c->info.local_port);
    len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        sip__sockaddr_to((struct sockaddr *)&ss, c->info.remote_ip, sizeof(c->info.remote_ip),
                         &c->info.remote_port);
        c->peer = ss;
    }
}

/* The other workers learn of a connection once its names are known, so that a message for it
 * (a response, a request over its RFC 5626 flow) is sent to this worker. */
static void announce(sip__conn_t *c)
{
    sip_transport_t *tp = c->tp;
    if (c->announced || c->closing || !tp->worker.conn_event) return;
    c->announced = 1;
    tp->worker.conn_event(tp->worker.ctx, &c->info, 1);
}

/* One warning per CAP_LOG_INTERVAL_MS; the next says how many were held back. */
static void cap_log(sip_transport_t *tp, const char *fmt, const char *a, const char *b)
{
    uint64_t now = uv_now(sip_loop_get_uv(tp->loop));
    if (tp->cap_log_any && now - tp->cap_log_last < CAP_LOG_INTERVAL_MS) {
        tp->cap_log_quiet++;
        return;
    }
    char line[256], more[64] = "";
    snprintf(line, sizeof(line), fmt, a, b);
    if (tp->cap_log_quiet)
        snprintf(more, sizeof(more), "; %llu more not logged",
                 (unsigned long long)tp->cap_log_quiet);
    sip_log(tp->loop, SIP_LOG_WARN, "transport", "connection cap (%u) reached: %s%s",
            tp->opts.max_connections, line, more);
    tp->cap_log_any = 1;
    tp->cap_log_last = now;
    tp->cap_log_quiet = 0;
}

/* At the cap, the newcomer takes the place of the accepted connection idle longest among those
 * that never sent a complete message (idle connections from one host otherwise lock every
 * new client out); one that did is a client in use and stays. 0 when one was closed. */
static int evict_idlest(sip_transport_t *tp, sip__conn_t *newcomer)
{
    sip__conn_t *victim = NULL;
    for (sip__conn_t *c = tp->conns; c; c = c->next)
        if (c != newcomer && c->server && !c->got_message && !c->closing &&
            (!victim || c->last_activity < victim->last_activity))
            victim = c;
    if (!victim) return SIP_ENOENT;
    char a[SIP__ADDR_STRLEN], b[SIP__ADDR_STRLEN];
    cap_log(tp, "closed the idlest connection, with %s, for one from %s",
            sip__addr_str(a, victim->type, victim->info.remote_ip, victim->info.remote_port),
            sip__addr_str(b, newcomer->type, newcomer->info.remote_ip, newcomer->info.remote_port));
    sip__stat_inc(tp->loop, SIP_STAT_CONN_EVICTED);
    sip__conn_close(victim, 0, NULL);
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    sip__listener_t *l = server->data;
    sip_transport_t *tp = l->tp;
    if (status < 0 || tp->closed) return;
    sip__conn_t *c = conn_new(tp, l->type, 1);
    if (!c) return;
    c->info.transport = l->type;
    c->info.conn_id = c->id;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        sip__conn_close(c, SIP_EIO, "accept failed");
        return;
    }
    fill_names(c);
    sip__stat_inc(tp->loop, SIP_STAT_CONN_ACCEPTED);
    if (tp->guard && c->peer.ss_family &&
        sip__guard_blocked_sa(tp->guard, (struct sockaddr *)&c->peer)) {
        sip__conn_close(c, 0, NULL);
        return;
    }
    if (tp->nconns > tp->opts.max_connections && evict_idlest(tp, c) != 0) {
        char a[SIP__ADDR_STRLEN];
        sip__stat_inc(tp->loop, SIP_STAT_DROP_LIMIT);
        cap_log(tp, "refused a connection from %s%s",
                sip__addr_str(a, c->type, c->info.remote_ip, c->info.remote_port),
                " (every connection has sent a message)");
        sip__conn_close(c, -EMFILE, NULL);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    c->connected = 1;
    int rc = make_layers(c, NULL);
    if (rc) {
        sip__conn_close(c, rc, "cannot set up the connection's layers");
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    announce(c);
    start_layers(c);
}

int sip__stream_listen(sip__listener_t *l, const struct sockaddr *sa)
{
    uv_loop_t *uv = sip_loop_get_uv(l->tp->loop);
    int rc = uv_tcp_init(uv, &l->h.tcp);
    if (rc) return rc;
    l->h.tcp.data = l;
    l->open = 1;
    l->tp->open_handles++;
    if (l->tp->opts.reuseport) {
        /* Worker processes share the port (sip/worker.h); libuv before 1.49 cannot set
         * SO_REUSEPORT itself, so the socket is made here and handed to it. */
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
        if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        socklen_t sl =
            sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (bind(fd, sa, sl) != 0 || (rc = uv_tcp_open(&l->h.tcp, fd)) != 0) {
            rc = rc ? rc : -errno;
            close(fd);
            return rc;
        }
        return uv_listen((uv_stream_t *)&l->h.tcp, 511, on_connection);
    }
    rc = uv_tcp_bind(&l->h.tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (rc) return rc;
    return uv_listen((uv_stream_t *)&l->h.tcp, 511, on_connection);
}

typedef struct {
    uv_connect_t req;
    sip__conn_t *c;
} connect_t;

static void on_connect(uv_connect_t *req, int status)
{
    connect_t *cr = (connect_t *)req;
    sip__conn_t *c = cr->c;
    free(cr);
    if (c->closing) {
        conn_unref(c);
        return;
    }
    if (status < 0) {
        sip__conn_close(c, status, uv_strerror(status));
        conn_unref(c);
        return;
    }
    c->connected = 1;
    fill_names(c);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    announce(c);
    start_layers(c);
    conn_unref(c);
}

int sip__conn_connect(sip_transport_t *tp, sip_transport_type_t type, const char *ip, uint16_t port,
                      const char *server_name, sip__conn_t **out)
{
    struct sockaddr_storage ss;
    *out = NULL;
    if (sip__sockaddr_from(ip, port, &ss)) return SIP_EINVAL;
    if (tp->nconns >= tp->opts.max_connections) return -EMFILE;
    sip__conn_t *c = conn_new(tp, type, 0);
    if (!c) return SIP_ENOMEM;
    c->info.transport = type;
    c->info.conn_id = c->id;
    snprintf(c->info.remote_ip, sizeof(c->info.remote_ip), "%s", ip);
    c->info.remote_port = port;
    snprintf(c->server_name, sizeof(c->server_name), "%s", server_name ? server_name : ip);
    if (server_name) snprintf(c->info.server_name, sizeof(c->info.server_name), "%s", server_name);
    int rc = make_layers(c, c->server_name);
    connect_t *cr = rc ? NULL : malloc(sizeof(*cr));
    if (!rc && !cr) rc = SIP_ENOMEM;
    if (!rc) {
        cr->c = c;
        c->refs++; /* held by the connect request */
        rc = uv_tcp_connect(&cr->req, &c->tcp, (struct sockaddr *)&ss, on_connect);
        if (rc) {
            c->refs--;
            free(cr);
        }
    }
    if (rc) {
        sip__conn_close(c, rc, "cannot connect");
        return rc;
    }
    *out = c;
    return 0;
}

sip__conn_t *sip__conn_find(sip_transport_t *tp, sip_transport_type_t type, const char *ip,
                            uint16_t port)
{
    for (sip__conn_t *c = tp->conns; c; c = c->next)
        if (!c->closing && c->type == type && c->info.remote_port == port &&
            strcmp(c->info.remote_ip, ip) == 0)
            return c;
    return NULL;
}

const sip_netinfo_t *sip__conn_remote(sip_transport_t *tp, uint64_t id)
{
    if (!id || !tp->worker.remote_conn || id >> SIP__CONN_WORKER_SHIFT == tp->worker.index)
        return NULL;
    return tp->worker.remote_conn(tp->worker.ctx, id);
}

sip__conn_t *sip__conn_by_id(sip_transport_t *tp, uint64_t id)
{
    for (sip__conn_t *c = tp->conns; c; c = c->next)
        if (c->id == id && !c->closing) return c;
    return NULL;
}

void sip__conn_sweep(sip_transport_t *tp)
{
    uint64_t now = uv_now(sip_loop_get_uv(tp->loop));
    const sip_transport_opts_t *o = &tp->opts;
    sip__conn_t *c = tp->conns;
    while (c) {
        sip__conn_t *next = c->next;
        if (!c->ready && now - c->created > o->handshake_timeout_ms)
            sip__conn_close(c, -ETIMEDOUT, "handshake not finished in time");
        else if (c->partial_since && now - c->partial_since > o->handshake_timeout_ms)
            /* A peer trickling a message byte by byte must not hold a connection forever. */
            sip__conn_close(c, -ETIMEDOUT, "message not completed in time");
        else if (now - c->last_activity > o->idle_timeout_ms)
            sip__conn_close(c, 0, "idle");
        c = next;
    }
}
