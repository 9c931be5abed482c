/* SPDX-License-Identifier: MIT */
/* UDP listening points: receive (recvmmsg batches), parse, answer malformed requests, send. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/transport_int.h"

/* libuv splits the receive buffer into 64 KiB slots and fills several with one recvmmsg(). */
#define UDP_SLOT (64 * 1024)
#define UDP_SLOTS 16

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sip__listener_t *l = h->data;
    (void)suggested;
    buf->base = l->rbuf;
    buf->len = l->rbuf_len;
}

/* A datagram of CR/LF only is a keep-alive (RFC 5626 §4.4.1 uses STUN on UDP, but CRLF is
 * common): nothing to do. */
static int only_crlf(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r' && p[i] != '\n') return 0;
    return 1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    sip__listener_t *l = h->data;
    sip_transport_t *tp = l->tp;
    (void)flags;
    if (nread < 0) {
        sip_log(tp->loop, SIP_LOG_WARN, "transport", "UDP receive error: %s",
                uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || !addr || tp->closed) return;
    const char *data = buf->base;
    size_t len = (size_t)nread;
    sip_netinfo_t ni = l->info;
    ni.conn_id = 0;
    sip__sockaddr_to(addr, ni.remote_ip, sizeof(ni.remote_ip), &ni.remote_port);
    if (only_crlf(data, len)) return;
    sip__tp_trace(tp, 0, &ni, data, len);
    sip_msg_t *msg;
    sip_parse_error_t err;
    int rc = sip_msg_parse_ex(&msg, data, len, &tp->opts.parse, &err);
    if (rc) {
        sip_log(tp->loop, SIP_LOG_WARN, "transport",
                "malformed message from udp:%s:%u: %s (line %u, column %u)%s", ni.remote_ip,
                ni.remote_port, err.reason, err.line, err.column,
                err.status ? "; answered" : "; dropped");
        if (err.status) {
            char out[4096];
            int n = sip__reply_malformed(out, sizeof(out), data, len, err.status, err.phrase);
            if (n > 0) sip__udp_send(l, out, (size_t)n, ni.remote_ip, ni.remote_port);
        }
        return;
    }
    sip_msg_set_netinfo(msg, &ni);
    tp->refs++;
    sip__tp_deliver(tp, msg, 0);
    sip_msg_unref(msg);
    sip_transport_unref(tp);
}

/* Big buffers keep bursts from being dropped in the kernel; as root the limit can be forced
 * past net.core.rmem_max. */
static void set_buffers(uv_udp_t *h, int size)
{
    uv_os_fd_t fd;
    if (size <= 0 || uv_fileno((uv_handle_t *)h, &fd) != 0) return;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int sip__udp_listen(sip__listener_t *l, const struct sockaddr *sa)
{
    sip_transport_t *tp = l->tp;
    uv_loop_t *uv = sip_loop_get_uv(tp->loop);
    l->rbuf_len = UDP_SLOT * UDP_SLOTS;
    l->rbuf = malloc(l->rbuf_len);
    if (!l->rbuf) return SIP_ENOMEM;
    int rc = uv_udp_init_ex(uv, &l->h.udp, (unsigned)sa->sa_family | UV_UDP_RECVMMSG);
    if (rc) return rc;
    l->h.udp.data = l;
    l->open = 1;
    tp->open_handles++;
    rc = uv_udp_bind(&l->h.udp, sa, sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    if (rc) return rc;
    set_buffers(&l->h.udp, tp->opts.udp_buffer);
    return uv_udp_recv_start(&l->h.udp, on_alloc, on_recv);
}

typedef struct {
    uv_udp_send_t req;
    char data[];
} udp_send_t;

static void on_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

int sip__udp_send(sip__listener_t *l, const char *data, size_t len, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    if (sip__sockaddr_from(ip, port, &ss)) return SIP_EINVAL;
    if (ss.ss_family != l->family) return SIP_EINVAL;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    /* Sending at once saves a copy and a loop iteration; only a full socket buffer queues. */
    int rc = uv_udp_try_send(&l->h.udp, &b, 1, (struct sockaddr *)&ss);
    if (rc >= 0) return 0;
    if (rc != UV_EAGAIN) return rc;
    udp_send_t *s = malloc(sizeof(*s) + len);
    if (!s) return SIP_ENOMEM;
    memcpy(s->data, data, len);
    b = uv_buf_init(s->data, (unsigned)len);
    rc = uv_udp_send(&s->req, &l->h.udp, &b, 1, (struct sockaddr *)&ss, on_sent);
    if (rc) free(s);
    return rc;
}
