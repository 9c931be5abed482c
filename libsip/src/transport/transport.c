/* SPDX-License-Identifier: MIT */
/* Transport sets: options, listening points, received-message checks (RFC 3261 §18), close. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats/stats_int.h"
#include "guard/guard_int.h"
#include "transport/addr.h"
#include "transport/transport_int.h"

void sip_transport_opts_init(sip_transport_opts_t *o)
{
    if (!o) return;
    memset(o, 0, sizeof(*o));
    o->udp_buffer = 4 * 1024 * 1024;
    o->mtu = 1500;
    o->max_connections = 1024;
    o->max_conn_buffer = 65536 + 4096;
    o->idle_timeout_ms = 300000;
    o->handshake_timeout_ms = 10000;
    sip_parse_opts_init(&o->parse);
    o->tls_verify = 1;
    o->ws_path = "/";
}

/* Copies the option strings into one block owned by the transport. */
static int copy_strings(sip_transport_t *tp)
{
    const char **fields[] = {&tp->opts.tls_ca_file, &tp->opts.tls_cert_file, &tp->opts.tls_key_file,
                             &tp->opts.ws_path, &tp->opts.via_host};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (*fields[i]) n += strlen(*fields[i]) + 1;
    if (!n) return 0;
    char *p = tp->strings = malloc(n);
    if (!p) return SIP_ENOMEM;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!*fields[i]) continue;
        size_t l = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], l);
        *fields[i] = p;
        p += l;
    }
    return 0;
}

static void free_transport(sip_transport_t *tp)
{
    for (size_t i = 0; i < tp->nlisteners; i++) {
        free(tp->listeners[i]->rbuf);
        free(tp->listeners[i]->mmsg);
        free(tp->listeners[i]);
    }
    free(tp->listeners);
    if (tp->tls_server) sip__tls_ctx_free(tp->tls_server);
    if (tp->tls_client) sip__tls_ctx_free(tp->tls_client);
    free(tp->strings);
    free(tp->sendbuf);
    sip__tp_handlers_free(tp);
    sip__live_dec(SIP_LIVE_TRANSPORT);
    free(tp);
}

static void maybe_free(sip_transport_t *tp)
{
    if (tp->refs == 0 && tp->open_handles == 0) free_transport(tp);
}

void sip__tp_handle_closed(sip_transport_t *tp)
{
    tp->open_handles--;
    sip__loop_closing_end(tp->loop);
    maybe_free(tp);
}

static void on_handle_closed(uv_handle_t *h)
{
    sip__tp_handle_closed(h->data);
}

static void listener_closed(uv_handle_t *h)
{
    sip__listener_t *l = h->data;
    l->open = 0;
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    sip__tp_handle_closed(l->tp);
}

static void close_handle(sip_transport_t *tp, uv_handle_t *h, uv_close_cb cb)
{
    sip__loop_closing_begin(tp->loop);
    uv_close(h, cb);
}

static void run_done(sip_transport_t *tp, int drop)
{
    sip__done_t *d = tp->done;
    tp->done = tp->done_tail = NULL;
    while (d) {
        sip__done_t *next = d->next;
        if (d->cb && !drop) d->cb(tp, d->status, d->user);
        if (d->user_free) d->user_free(d->user);
        free(d);
        d = next;
    }
}

static void transport_close(sip_transport_t *tp)
{
    if (tp->closed) return;
    tp->closed = 1;
    sip__loop_remove_child(tp->loop, &tp->child);
    while (tp->conns)
        sip__conn_close(tp->conns, SIP_ECLOSED, NULL);
    for (size_t i = 0; i < tp->nlisteners; i++) {
        sip__listener_t *l = tp->listeners[i];
        if (l->open && !uv_is_closing(&l->h.handle))
            close_handle(tp, &l->h.handle, listener_closed);
    }
    sip_resolver_unref(tp->resolver);
    tp->resolver = NULL;
    sip_guard_unref(tp->guard);
    tp->guard = NULL;
    uv_timer_stop(&tp->sweep);
    close_handle(tp, (uv_handle_t *)&tp->sweep, on_handle_closed);
    uv_idle_stop(&tp->idle);
    close_handle(tp, (uv_handle_t *)&tp->idle, on_handle_closed);
    /* No callback after close: pending completions only free their user data. */
    run_done(tp, 1);
    sip__tp_handlers_close(tp);
}

static void child_close(sip__loop_child_t *c)
{
    transport_close((sip_transport_t *)c);
}

static void on_sweep(uv_timer_t *h)
{
    sip__conn_sweep(h->data);
}

static void on_idle(uv_idle_t *h)
{
    sip_transport_t *tp = h->data;
    uv_idle_stop(h);
    tp->refs++;
    run_done(tp, 0);
    sip_transport_unref(tp);
}

void sip__tp_complete(sip_transport_t *tp, sip_transport_sent_cb cb, void *user,
                      sip_free_fn user_free, int status)
{
    if (!cb || tp->closed) {
        if (user_free) user_free(user);
        return;
    }
    sip__done_t *d = malloc(sizeof(*d));
    if (!d) {
        /* Without memory for the record the outcome is lost; the user data is not. */
        if (user_free) user_free(user);
        return;
    }
    d->next = NULL;
    d->cb = cb;
    d->user = user;
    d->user_free = user_free;
    d->status = status;
    if (tp->done_tail)
        tp->done_tail->next = d;
    else
        tp->done = d;
    tp->done_tail = d;
    uv_idle_start(&tp->idle, on_idle);
}

int sip_transport_create(sip_transport_t **out, sip_loop_t *loop, const sip_transport_opts_t *opts)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!loop) return SIP_EINVAL;
    if (opts && (opts->tls_verify_client < SIP_TLS_CLIENT_NONE ||
                 opts->tls_verify_client > SIP_TLS_CLIENT_OPTIONAL))
        return SIP_EINVAL;
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) return SIP_ECLOSED;
    sip_transport_t *tp = calloc(1, sizeof(*tp));
    if (!tp) return SIP_ENOMEM;
    tp->refs = 1;
    tp->loop = loop;
    tp->next_conn_id = 1;
    if (opts)
        tp->opts = *opts;
    else
        sip_transport_opts_init(&tp->opts);
    if (!tp->opts.ws_path) tp->opts.ws_path = "/";
    if (tp->opts.mtu < 576) tp->opts.mtu = 576;
    int rc = copy_strings(tp);
    if (rc) {
        free(tp);
        return rc;
    }
    sip__live_inc(SIP_LIVE_TRANSPORT);
    if (tp->opts.tls_cert_file || tp->opts.tls_key_file) {
        char why[256];
        rc = sip__tls_ctx_create(&tp->tls_server, &tp->opts, 1, why, sizeof(why));
        if (rc) {
            sip_log(loop, SIP_LOG_ERROR, "transport", "TLS server context: %s", why);
            free_transport(tp);
            return rc;
        }
    }
    uv_timer_init(uv, &tp->sweep);
    tp->sweep.data = tp;
    uv_idle_init(uv, &tp->idle);
    tp->idle.data = tp;
    tp->open_handles = 2;
    /* The sweep closes idle and stalled connections; it must not keep the loop alive. */
    uint64_t every = 1000;
    if (tp->opts.handshake_timeout_ms / 4 < every) every = tp->opts.handshake_timeout_ms / 4;
    if (tp->opts.idle_timeout_ms / 4 < every) every = tp->opts.idle_timeout_ms / 4;
    if (every < 10) every = 10;
    uv_timer_start(&tp->sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)&tp->sweep);
    tp->child.close = child_close;
    sip__loop_add_child(loop, &tp->child);
    *out = tp;
    return 0;
}

sip_transport_t *sip_transport_ref(sip_transport_t *tp)
{
    if (tp) tp->refs++;
    return tp;
}

void sip_transport_unref(sip_transport_t *tp)
{
    if (!tp || --tp->refs > 0) return;
    transport_close(tp);
    maybe_free(tp);
}

void sip_transport_close(sip_transport_t *tp)
{
    if (tp) transport_close(tp);
}

sip_loop_t *sip_transport_get_loop(sip_transport_t *tp)
{
    return tp && !tp->closed ? tp->loop : NULL;
}

sip_resolver_t *sip_transport_get_resolver(sip_transport_t *tp)
{
    return tp && !tp->closed ? tp->resolver : NULL;
}

int sip_transport_set_guard(sip_transport_t *tp, sip_guard_t *guard)
{
    if (!tp) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    /* Everything on a loop runs on its thread: a guard of another loop would be shared. */
    if (guard && sip__guard_loop(guard) != tp->loop) return SIP_EINVAL;
    sip_guard_ref(guard);
    sip_guard_unref(tp->guard);
    tp->guard = guard;
    return 0;
}

sip_guard_t *sip_transport_get_guard(sip_transport_t *tp)
{
    return tp && !tp->closed ? tp->guard : NULL;
}

size_t sip_transport_connection_count(const sip_transport_t *tp)
{
    return tp ? tp->nconns : 0;
}

size_t sip_transport_listener_count(const sip_transport_t *tp)
{
    return tp ? tp->nlisteners : 0;
}

int sip_transport_listener_info(const sip_transport_t *tp, size_t i, sip_netinfo_t *info)
{
    if (!tp || !info) return SIP_EINVAL;
    if (i >= tp->nlisteners) return SIP_ENOENT;
    *info = tp->listeners[i]->info;
    return 0;
}

int sip__sockaddr_from(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        return 0;
    }
    return SIP_EINVAL;
}

void sip__sockaddr_to(const struct sockaddr *sa, char *ip, size_t iplen, uint16_t *port)
{
    if (sa->sa_family == AF_INET && iplen >= 16) {
        /* Every received datagram is formatted: a dotted quad by hand is far cheaper than
         * inet_ntop. */
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        const unsigned char *b = (const unsigned char *)&s4->sin_addr;
        size_t n = 0;
        for (int i = 0; i < 4; i++) {
            unsigned v = b[i];
            if (v >= 100) ip[n++] = (char)('0' + v / 100);
            if (v >= 10) ip[n++] = (char)('0' + v / 10 % 10);
            ip[n++] = (char)('0' + v % 10);
            ip[n++] = i < 3 ? '.' : '\0';
        }
        *port = ntohs(s4->sin_port);
        return;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(s4->sin_port);
    }
}

/* "udp:127.0.0.1:5060", "tls:[::1]:5061": transport, address and port. */
static int parse_spec(const char *spec, sip_transport_type_t *type, char *ip, size_t iplen,
                      uint16_t *port)
{
    const char *c = strchr(spec, ':');
    if (!c) return SIP_EINVAL;
    *type = sip_transport_from_name(spec, (size_t)(c - spec));
    if (*type == SIP_TRANSPORT_NONE) return SIP_EINVAL;
    const char *h = c + 1, *he, *pp;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he) return SIP_EINVAL;
        h++;
        pp = he + 1;
    } else {
        he = strrchr(h, ':');
        if (!he) he = h + strlen(h);
        pp = he;
    }
    if ((size_t)(he - h) >= iplen || he == h) return SIP_EINVAL;
    memcpy(ip, h, (size_t)(he - h));
    ip[he - h] = '\0';
    *port = sip_transport_default_port(*type);
    if (*pp == ':') {
        unsigned long v;
        if (sip_str_to_u32(sip_str_from_cstr(pp + 1), 65535, &v) != 0) return SIP_EINVAL;
        *port = (uint16_t)v;
    } else if (*pp) {
        return SIP_EINVAL;
    }
    return 0;
}

int sip_transport_listen(sip_transport_t *tp, const char *spec)
{
    if (!tp || !spec) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    sip_transport_type_t type;
    char ip[64];
    uint16_t port;
    struct sockaddr_storage ss;
    if (parse_spec(spec, &type, ip, sizeof(ip), &port) || sip__sockaddr_from(ip, port, &ss)) {
        sip_log(tp->loop, SIP_LOG_ERROR, "transport", "bad listening point \"%s\"", spec);
        return SIP_EINVAL;
    }
    if (sip_transport_is_secure(type) && !tp->tls_server) {
        sip_log(tp->loop, SIP_LOG_ERROR, "transport", "%s needs tls_cert_file and tls_key_file",
                spec);
        return SIP_EINVAL;
    }
    if (tp->nlisteners == tp->cap_listeners) {
        size_t cap = tp->cap_listeners ? tp->cap_listeners * 2 : 4;
        sip__listener_t **nl = realloc(tp->listeners, cap * sizeof(*nl));
        if (!nl) return SIP_ENOMEM;
        tp->listeners = nl;
        tp->cap_listeners = cap;
    }
    sip__listener_t *l = calloc(1, sizeof(*l));
    if (!l) return SIP_ENOMEM;
    l->tp = tp;
    l->fd = -1;
    l->type = type;
    l->family = ss.ss_family;
    l->info.transport = type;
    int rc = type == SIP_TRANSPORT_UDP ? sip__udp_listen(l, (struct sockaddr *)&ss)
                                       : sip__stream_listen(l, (struct sockaddr *)&ss);
    if (rc) {
        if (l->open) {
            /* The handle exists: close it through libuv; the transport frees l later. */
            tp->listeners[tp->nlisteners++] = l;
            l->h.handle.data = l;
            close_handle(tp, &l->h.handle, listener_closed);
            l->info.transport = SIP_TRANSPORT_NONE;
        } else {
            if (l->fd >= 0) close(l->fd);
            free(l->rbuf);
            free(l->mmsg);
            free(l);
        }
        sip_log(tp->loop, SIP_LOG_ERROR, "transport", "cannot listen on %s: %s", spec,
                sip_strerror(rc));
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (type == SIP_TRANSPORT_UDP) {
        socklen_t sl = sizeof(bound);
        getsockname(l->fd, (struct sockaddr *)&bound, &sl);
    } else
        uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&bound, &blen);
    sip__sockaddr_to((struct sockaddr *)&bound, l->info.local_ip, sizeof(l->info.local_ip),
                     &l->info.local_port);
    l->wildcard = strcmp(l->info.local_ip, "0.0.0.0") == 0 || strcmp(l->info.local_ip, "::") == 0;
    tp->listeners[tp->nlisteners++] = l;
    char a[SIP__ADDR_STRLEN];
    sip_log(tp->loop, SIP_LOG_INFO, "transport", "listening on %s",
            sip__addr_str(a, type, l->info.local_ip, l->info.local_port));
    return (int)(tp->nlisteners - 1);
}

/* ---- received messages ---- */

static int host_is(sip_str_t host, const char *ip)
{
    /* Via hosts keep IPv6 brackets; netinfo addresses have none. */
    if (host.len >= 2 && host.ptr[0] == '[') {
        host.ptr++;
        host.len -= 2;
    }
    return sip_str_caseeq(host, sip_str_from_cstr(ip));
}

/* Appends to a bounded buffer; *n may pass cap, which the caller treats as too long. */
static inline void app(char *buf, size_t *n, size_t cap, const char *s, size_t len)
{
    if (*n + len <= cap) memcpy(buf + *n, s, len);
    *n += len;
}

static inline void app_uint(char *buf, size_t *n, size_t cap, unsigned v)
{
    char tmp[12];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    app(buf, n, cap, tmp + i, sizeof(tmp) - i);
}

/* RFC 3261 §18.2.1 and RFC 3581 §4: note where a request really came from in its top Via. */
static int stamp_via(sip_msg_t *msg, const sip_netinfo_t *ni)
{
    const sip_header_t *h = sip_msg_header_at(msg, SIP_HDR_VIA, 0);
    const sip_via_t *v = sip_header_via(h);
    if (!v) return 0;
    /* A received or rport value the sender wrote itself is replaced: RFC 3581 §3 has the client
     * send rport without a value, and only the source address and port tell where to answer. */
    int need_received =
        v->received.len ? !host_is(v->received, ni->remote_ip) : !host_is(v->host, ni->remote_ip);
    int need_rport = v->rport == 0 || (v->rport > 0 && v->rport != ni->remote_port);
    if (!need_received && !need_rport) return 0;
    /* The value up to its parameters stays as it is; then every parameter but received and
     * rport, then the two as observed. Written by hand: this runs for most requests. */
    char buf[1024];
    size_t n = 0, cap = sizeof(buf) - 1;
    sip_str_t val = sip_header_get_value(h);
    const char *pstart = v->params.len ? v->params.ptr : val.ptr + val.len;
    size_t head = (size_t)(pstart - val.ptr);
    while (head &&
           (val.ptr[head - 1] == ';' || val.ptr[head - 1] == ' ' || val.ptr[head - 1] == '\t'))
        head--;
    app(buf, &n, cap, val.ptr, head);
    sip_str_t it = v->params, pn, pv;
    while (sip_params_next(&it, &pn, &pv)) {
        if (sip_str_caseeq_cstr(pn, "received") || sip_str_caseeq_cstr(pn, "rport")) continue;
        app(buf, &n, cap, ";", 1);
        app(buf, &n, cap, pn.ptr, pn.len);
        if (pv.len) {
            app(buf, &n, cap, "=", 1);
            app(buf, &n, cap, pv.ptr, pv.len);
        }
    }
    app(buf, &n, cap, ";received=", 10);
    app(buf, &n, cap, ni->remote_ip, strlen(ni->remote_ip));
    if (v->rport >= 0) {
        app(buf, &n, cap, ";rport=", 7);
        app_uint(buf, &n, cap, ni->remote_port);
    }
    if (n > cap) return SIP_ERANGE;
    buf[n] = '\0';
    return sip_msg_update_header(msg, h, buf);
}

/* RFC 3261 §18.1.2: a response whose top Via is not ours is discarded. */
static int via_is_ours(sip_transport_t *tp, const sip_msg_t *msg)
{
    const sip_via_t *v = sip_msg_get_via(msg);
    if (!v) return 0;
    for (size_t i = 0; i < tp->nlisteners; i++) {
        const sip__listener_t *l = tp->listeners[i];
        uint16_t port = v->port ? v->port : sip_transport_default_port(l->type);
        if (port != l->info.local_port) continue;
        if (host_is(v->host, l->info.local_ip)) return 1;
        if (tp->opts.via_host && host_is(v->host, tp->opts.via_host)) return 1;
    }
    return 0;
}

/* RFC 3261 §8.2.6.2 and RFC 4475 §3.1.2.18: a request lacking a mandatory header (or repeating
 * one that may appear once, §7.3.1) gets the 400 sip_msg_validate() names, from the transport
 * itself, so that every user of the transport (a transaction layer or a stateless handler) is
 * protected alike. */
static void answer_invalid(sip_transport_t *tp, sip_msg_t *req, const sip_parse_error_t *err)
{
    sip_msg_t *rsp;
    int rc = sip_msg_create_response(&rsp, req, err->status, err->phrase, NULL);
    if (rc == 0) {
        rc = sip_transport_send_response(tp, rsp);
        sip_msg_unref(rsp);
    }
    if (rc)
        sip_log(tp->loop, SIP_LOG_WARN, "transport", "cannot answer %d %s: %s", err->status,
                err->phrase, sip_strerror(rc));
}

void sip__tp_deliver(sip_transport_t *tp, sip_msg_t *msg, int trusted_conn)
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    char a[SIP__ADDR_STRLEN];
    sip_parse_error_t err;
    sip__stat_rx(tp->loop, msg);
    if (sip_msg_is_request(msg)) {
        if (!sip_msg_get_via(msg)) {
            sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
            /* No Via, no address to answer to (§18.2.2): it can only be dropped. */
            sip_log(tp->loop, SIP_LOG_WARN, "transport", "request without Via from %s dropped",
                    sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port));
            return;
        }
        if (stamp_via(msg, ni) != 0) {
            sip__stat_inc(tp->loop, SIP_STAT_DROP_OTHER);
            sip_log(tp->loop, SIP_LOG_WARN, "transport", "cannot stamp the Via from %s",
                    sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port));
            return;
        }
        /* After the stamp: the 400 goes where any response would (received, rport). */
        if (sip_msg_validate(msg, &err) != 0) {
            sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
            /* An ACK is never answered (§17.1.1.3): it is only dropped. */
            int ack = sip_msg_get_method(msg) == SIP_METHOD_ACK;
            char what[16] = "dropped";
            if (!ack) snprintf(what, sizeof(what), "answered %d", err.status);
            sip_log(tp->loop, SIP_LOG_WARN, "transport", "request from %s: %s; %s",
                    sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port), err.reason,
                    what);
            if (!ack) answer_invalid(tp, msg, &err);
            return;
        }
    } else if (sip_msg_validate(msg, &err) != 0) {
        /* A response is never answered; without these it matches no transaction. */
        sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
        sip_log(tp->loop, SIP_LOG_WARN, "transport", "response from %s: %s; dropped",
                sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port), err.reason);
        return;
    } else if (!trusted_conn && !via_is_ours(tp, msg)) {
        sip__stat_inc(tp->loop, SIP_STAT_DROP_OTHER);
        /* A WebSocket client's sent-by is a made-up .invalid name (RFC 7118 §5.2): over a
         * connection it opened itself, the connection is the check. */
        sip_log(tp->loop, SIP_LOG_WARN, "transport",
                "response from %s with a Via that is not ours dropped",
                sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port));
        return;
    }
    sip__tp_dispatch(tp, msg);
}

void sip__tp_trace(sip_transport_t *tp, int sent, const sip_netinfo_t *ni, const char *data,
                   size_t len)
{
    if (!sip__loop_tracing(tp->loop) || !sip__loop_log_enabled(tp->loop, SIP_LOG_INFO)) return;
    char ra[SIP__ADDR_STRLEN], la[SIP__ADDR_STRLEN];
    sip_log(tp->loop, SIP_LOG_INFO, "trace", "%s %zu bytes %s %s (local %s)\n%.*s",
            sent ? "sent" : "received", len, sent ? "to" : "from",
            sip__addr_str(ra, ni->transport, ni->remote_ip, ni->remote_port),
            sip__addr_str(la, SIP_TRANSPORT_NONE, ni->local_ip, ni->local_port),
            (int)(len > 900 ? 900 : len), data);
}

int sip__tp_print(sip_transport_t *tp, sip_msg_t *msg, const char **out, size_t *len)
{
    int n = sip_msg_print(msg, tp->sendbuf, tp->sendbuf_cap);
    if (n < 0) return n;
    if ((size_t)n >= tp->sendbuf_cap) {
        size_t cap = (size_t)n + 1 > 4096 ? (size_t)n + 1 : 4096;
        char *b = realloc(tp->sendbuf, cap);
        if (!b) return SIP_ENOMEM;
        tp->sendbuf = b;
        tp->sendbuf_cap = cap;
        n = sip_msg_print(msg, tp->sendbuf, tp->sendbuf_cap);
        if (n < 0) return n;
    }
    *out = tp->sendbuf;
    *len = (size_t)n;
    tp->sendbuf_msg = msg;
    tp->sendbuf_len = (size_t)n;
    return 0;
}

/* ---- what a server's reload changes ---------------------------------------------------------- */

int sip__transport_unlisten(sip_transport_t *tp, size_t i)
{
    if (!tp || i >= tp->nlisteners) return SIP_ENOENT;
    sip__listener_t *l = tp->listeners[i];
    if (l->info.transport == SIP_TRANSPORT_NONE) return 0;
    /* The slot stays (indexes of the others do not move) as a listener that failed to open
     * does: no transport, no port, so that no send picks it; the handle closes on the loop. */
    if (l->open && !uv_is_closing(&l->h.handle)) {
        l->h.handle.data = l;
        close_handle(tp, &l->h.handle, listener_closed);
    }
    char a[SIP__ADDR_STRLEN];
    sip_log(tp->loop, SIP_LOG_INFO, "transport", "no longer listening on %s",
            sip__addr_str(a, l->type, l->info.local_ip, l->info.local_port));
    l->info.transport = SIP_TRANSPORT_NONE;
    l->info.local_port = 0;
    return 0;
}

int sip__transport_set_tls(sip_transport_t *tp, const char *cert, const char *key, const char *ca,
                           int verify_client, char *why, size_t size)
{
    if (!tp) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    /* The new files in the options (their strings copied into a new block), a new server
     * context from them; on any failure the old ones are put back. Connections made before
     * keep the context they were made with (OpenSSL counts its references). */
    sip_transport_opts_t old = tp->opts;
    char *old_strings = tp->strings;
    tp->opts.tls_cert_file = cert && *cert ? cert : NULL;
    tp->opts.tls_key_file = key && *key ? key : NULL;
    tp->opts.tls_ca_file = ca && *ca ? ca : NULL;
    tp->opts.tls_verify_client = verify_client;
    tp->strings = NULL;
    int rc = copy_strings(tp);
    sip__tls_ctx_t *server = NULL;
    if (rc == 0 && (tp->opts.tls_cert_file || tp->opts.tls_key_file))
        rc = sip__tls_ctx_create(&server, &tp->opts, 1, why, size);
    if (rc) {
        free(tp->strings);
        tp->strings = old_strings;
        tp->opts = old;
        return rc;
    }
    free(old_strings);
    if (tp->tls_server) sip__tls_ctx_free(tp->tls_server);
    tp->tls_server = server;
    /* The client context is made again, with the new CA bundle, when next needed. */
    if (tp->tls_client) sip__tls_ctx_free(tp->tls_client);
    tp->tls_client = NULL;
    return 0;
}
