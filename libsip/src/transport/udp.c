/* SPDX-License-Identifier: MIT */
/* UDP listening points: receive in recvmmsg() batches, parse, answer malformed requests, send.
 *
 * libsip reads the socket itself under a uv_poll_t rather than through uv_udp_t: libuv reads
 * until EAGAIN, which costs one empty recvmmsg() per wakeup, a fifth of the system calls of a
 * stateless server at moderate load. Here one call per wakeup suffices unless the batch came back
 * full; level-triggered polling wakes the loop again for anything left. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard/guard_int.h"
#include "stats/stats_int.h"
#include "transport/addr.h"
#include "transport/transport_int.h"

#define UDP_SLOT (64 * 1024)
#define UDP_SLOTS 16

#define UDP_OUT_BYTES (64 * 1024)

typedef struct {
    struct mmsghdr msgs[UDP_SLOTS];
    struct iovec iov[UDP_SLOTS];
    struct sockaddr_storage from[UDP_SLOTS];
    /* Datagrams sent while a received batch is handled go out together in one sendmmsg(). */
    int batching;
    int nout;
    size_t olen;
    struct mmsghdr omsgs[UDP_SLOTS];
    struct iovec oiov[UDP_SLOTS];
    struct sockaddr_storage oto[UDP_SLOTS];
    char obuf[UDP_OUT_BYTES];
} udp_batch_t;

static void flush_out(sip__listener_t *l)
{
    udp_batch_t *b = l->mmsg;
    int done = 0;
    while (done < b->nout && l->fd >= 0) {
        int n = sendmmsg(l->fd, b->omsgs + done, (unsigned)(b->nout - done),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) {
            /* As with sendto: a lost datagram is the transaction layer's to retransmit. */
            sip_log(l->tp->loop, SIP_LOG_WARN, "transport", "UDP send of %d datagrams failed: %s",
                    b->nout - done, n < 0 ? strerror(errno) : "nothing sent");
            break;
        }
        done += n;
    }
    b->nout = 0;
    b->olen = 0;
}

/* A datagram of CR/LF only is a keep-alive: nothing to do. */
static int only_crlf(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r' && p[i] != '\n') return 0;
    return 1;
}

static void on_datagram(sip__listener_t *l, const char *data, size_t len,
                        const struct sockaddr *addr)
{
    sip_transport_t *tp = l->tp;
    if (only_crlf(data, len)) return;
    /* A blocked source costs no parsing, no formatting of its address, no log line. Requests
     * count against the rate limit; a response (RFC 3261 §7.2: it starts "SIP/") only has its
     * source checked. */
    if (tp->guard && sip__guard_admit(tp->guard, addr, !(len >= 4 && memcmp(data, "SIP/", 4) == 0)))
        return;
    sip_netinfo_t ni = l->info;
    ni.conn_id = 0;
    sip__sockaddr_to(addr, ni.remote_ip, sizeof(ni.remote_ip), &ni.remote_port);
    /* Another worker's request or response goes to it before anything here sees it. */
    if (tp->worker.steer && tp->worker.steer(tp->worker.ctx, &ni, data, len, 0)) return;
    sip__tp_trace(tp, 0, &ni, data, len);
    sip_msg_t *msg;
    sip_parse_error_t err;
    int rc = sip_msg_parse_ex(&msg, data, len, &tp->opts.parse, &err);
    if (rc) {
        sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
        char a[SIP__ADDR_STRLEN];
        sip_log(tp->loop, SIP_LOG_WARN, "transport",
                "malformed message from %s: %s (line %u, column %u)%s",
                sip__addr_str(a, SIP_TRANSPORT_UDP, ni.remote_ip, ni.remote_port), err.reason,
                err.line, err.column, err.status ? "; answered" : "; dropped");
        if (err.status) {
            char out[4096];
            int n = sip__reply_malformed(out, sizeof(out), data, len, err.status, err.phrase);
            if (n > 0) {
                /* RFC 3261 §18.2.2 as for any response: received (the source address) and the
                 * sent-by port, the source port only with rport. */
                char ip[64];
                uint16_t port;
                sip__reply_udp_dest(out, (size_t)n, ni.remote_ip, ni.remote_port, ip, sizeof(ip),
                                    &port);
                if (sip__udp_send(l, out, (size_t)n, ip, port) == 0)
                    sip__stat_inc(tp->loop, sip__stat_rsp_class(SIP_STAT_TX_RSP_1XX, err.status));
            }
        }
        return;
    }
    sip_msg_set_netinfo(msg, &ni);
    sip__tp_deliver(tp, msg, 0);
    sip_msg_unref(msg);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    sip__listener_t *l = h->data;
    sip_transport_t *tp = l->tp;
    udp_batch_t *b = l->mmsg;
    (void)events;
    if (status < 0 || tp->closed) return;
    tp->refs++; /* a handler may drop the last reference */
    if (tp->worker.batch) tp->worker.batch(tp->worker.ctx, 1);
    for (int round = 0; round < 4 && !tp->closed && l->fd >= 0; round++) {
        for (int i = 0; i < UDP_SLOTS; i++) {
            b->iov[i].iov_base = l->rbuf + (size_t)i * UDP_SLOT;
            b->iov[i].iov_len = UDP_SLOT;
            memset(&b->msgs[i].msg_hdr, 0, sizeof(b->msgs[i].msg_hdr));
            b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
            b->msgs[i].msg_hdr.msg_iovlen = 1;
            b->msgs[i].msg_hdr.msg_name = &b->from[i];
            b->msgs[i].msg_hdr.msg_namelen = sizeof(b->from[i]);
        }
        int n = recvmmsg(l->fd, b->msgs, UDP_SLOTS, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sip_log(tp->loop, SIP_LOG_WARN, "transport", "UDP receive error: %s",
                        strerror(errno));
            break;
        }
        b->batching = 1;
        for (int i = 0; i < n && !tp->closed; i++) {
            /* A datagram larger than a slot is cut; the parser then refuses it. */
            if (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                sip__stat_inc(tp->loop, SIP_STAT_DROP_LIMIT);
                sip_log(tp->loop, SIP_LOG_WARN, "transport", "oversized datagram dropped");
                continue;
            }
            on_datagram(l, b->iov[i].iov_base, b->msgs[i].msg_len, (struct sockaddr *)&b->from[i]);
        }
        b->batching = 0;
        flush_out(l);
        if (n < UDP_SLOTS) break;
    }
    if (tp->worker.batch) tp->worker.batch(tp->worker.ctx, 0);
    sip_transport_unref(tp);
}

/* Big buffers keep bursts from being dropped in the kernel; as root the limit can be forced
 * past net.core.rmem_max. */
static void set_buffers(int fd, int size)
{
    if (size <= 0) return;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int sip__udp_listen(sip__listener_t *l, const struct sockaddr *sa)
{
    sip_transport_t *tp = l->tp;
    uv_loop_t *uv = sip_loop_get_uv(tp->loop);
    l->rbuf_len = (size_t)UDP_SLOT * UDP_SLOTS;
    l->rbuf = malloc(l->rbuf_len);
    l->mmsg = calloc(1, sizeof(udp_batch_t));
    if (!l->rbuf || !l->mmsg) return SIP_ENOMEM;
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    l->fd = fd;
    int on = 1;
    if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    /* Worker processes share the port; the kernel spreads datagrams over them by source. */
    if (tp->opts.reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    socklen_t sl =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, sa, sl) != 0) return -errno;
    set_buffers(fd, tp->opts.udp_buffer);
    int rc = uv_poll_init_socket(uv, &l->h.poll, fd);
    if (rc) return rc;
    l->h.poll.data = l;
    l->open = 1;
    tp->open_handles++;
    return uv_poll_start(&l->h.poll, UV_READABLE, on_readable);
}

int sip__udp_send(sip__listener_t *l, const char *data, size_t len, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    if (sip__sockaddr_from(ip, port, &ss)) return SIP_EINVAL;
    if (ss.ss_family != l->family || l->fd < 0) return SIP_EINVAL;
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    udp_batch_t *b = l->mmsg;
    if (b->batching && len <= UDP_OUT_BYTES) {
        if (b->nout == UDP_SLOTS || b->olen + len > UDP_OUT_BYTES) flush_out(l);
        int i = b->nout++;
        memcpy(b->obuf + b->olen, data, len);
        b->oiov[i].iov_base = b->obuf + b->olen;
        b->oiov[i].iov_len = len;
        b->olen += len;
        memcpy(&b->oto[i], &ss, sl);
        memset(&b->omsgs[i], 0, sizeof(b->omsgs[i]));
        b->omsgs[i].msg_hdr.msg_iov = &b->oiov[i];
        b->omsgs[i].msg_hdr.msg_iovlen = 1;
        b->omsgs[i].msg_hdr.msg_name = &b->oto[i];
        b->omsgs[i].msg_hdr.msg_namelen = sl;
        return 0;
    }
    /* UDP gives no delivery promise: a full socket buffer (rare with 4 MiB) loses the datagram
     * like the network would, and the transaction layer's retransmission covers it. */
    ssize_t n = sendto(l->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
    if (n < 0) {
        int e = errno;
        char a[SIP__ADDR_STRLEN];
        sip_log(l->tp->loop, SIP_LOG_WARN, "transport", "UDP send to %s failed: %s",
                sip__addr_str(a, SIP_TRANSPORT_UDP, ip, port), strerror(e));
        return -e;
    }
    return 0;
}
