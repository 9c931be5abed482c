/* SPDX-License-Identifier: MIT */
/* null-uas: the floor under the call benchmark. It answers SIPp's uac scenario (INVITE: 180 and
 * 200 with a fixed SDP; BYE: 200; ACK: nothing) by copying five header lines into fixed text,
 * with no parser, no transaction and no retransmission, and with the same socket calls as
 * libsip: over UDP one recvmmsg() per wakeup and one sendmmsg() per received batch; over TCP one
 * read and one write per wakeup, on libuv. Its CPU per call is what the kernel and the event
 * loop cost for this exchange of messages, which no server can go under; it is not a SIP
 * server and must not be pointed at anything but the benchmark.
 *
 *   null-uas PORT      listens on udp:127.0.0.1:PORT and tcp:127.0.0.1:PORT until SIGTERM */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#define SLOTS 16
#define SLOT 65536
#define OUT_MAX 2048

static const char SDP[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

typedef struct {
    int fd;
    uv_poll_t poll;
    char in[SLOTS][SLOT];
    struct mmsghdr msgs[SLOTS], out[2 * SLOTS];
    struct iovec iov[SLOTS], oiov[2 * SLOTS];
    struct sockaddr_storage from[SLOTS];
    char obuf[2 * SLOTS][OUT_MAX];
    int nout;
} udp_t;

typedef struct {
    uv_tcp_t tcp;
    char *buf;
    size_t len, cap;
} conn_t;

/* The header line that starts with name (its CRLF included); empty when there is none. */
static const char *find_line(const char *m, size_t len, const char *name, size_t *out)
{
    size_t nl = strlen(name);
    const char *p = m, *e = m + len;
    while (p < e) {
        const char *q = memchr(p, '\n', (size_t)(e - p));
        if (!q || q == p + 1) break; /* end of the headers */
        if ((size_t)(q - p) > nl && strncasecmp(p, name, nl) == 0) {
            *out = (size_t)(q + 1 - p);
            return p;
        }
        p = q + 1;
    }
    *out = 0;
    return "";
}

/* Writes the response to a request into out; returns its length, or 0 when the request gets
 * none or the text does not fit. */
static int answer(const char *m, size_t len, const char *status, int sdp, char *out)
{
    size_t vl, fl, tl, cl, sl;
    const char *v = find_line(m, len, "Via:", &vl), *f = find_line(m, len, "From:", &fl);
    const char *t = find_line(m, len, "To:", &tl), *c = find_line(m, len, "Call-ID:", &cl);
    const char *s = find_line(m, len, "CSeq:", &sl);
    if (!vl || !tl || !cl || !sl) return 0;
    int n = snprintf(out, OUT_MAX,
                     "SIP/2.0 %s\r\n%.*s%.*s%.*s;tag=null-uas\r\n%.*s%.*s"
                     "Contact: <sip:null-uas@127.0.0.1>\r\n%sContent-Length: %zu\r\n\r\n%s",
                     status, (int)vl, v, (int)fl, f, (int)tl - 2, t, (int)cl, c, (int)sl, s,
                     sdp ? "Content-Type: application/sdp\r\n" : "", sdp ? sizeof(SDP) - 1 : 0,
                     sdp ? SDP : "");
    return n > 0 && n < OUT_MAX ? n : 0;
}

/* Calls emit(out, n) for each response the request takes. */
static void respond(const char *m, size_t len, void (*emit)(void *, const char *, int), void *ctx)
{
    char out[OUT_MAX];
    int n;
    if (len > 7 && memcmp(m, "INVITE ", 7) == 0) {
        if ((n = answer(m, len, "180 Ringing", 0, out))) emit(ctx, out, n);
        if ((n = answer(m, len, "200 OK", 1, out))) emit(ctx, out, n);
    } else if (len > 4 && memcmp(m, "BYE ", 4) == 0) {
        if ((n = answer(m, len, "200 OK", 0, out))) emit(ctx, out, n);
    }
}

/* ---- UDP ---- */

static struct sockaddr_storage *udp_peer;

static void udp_emit(void *ctx, const char *data, int n)
{
    udp_t *u = ctx;
    if (u->nout == 2 * SLOTS) return;
    int i = u->nout++;
    memcpy(u->obuf[i], data, (size_t)n);
    u->oiov[i] = (struct iovec){u->obuf[i], (size_t)n};
    memset(&u->out[i], 0, sizeof(u->out[i]));
    u->out[i].msg_hdr.msg_iov = &u->oiov[i];
    u->out[i].msg_hdr.msg_iovlen = 1;
    u->out[i].msg_hdr.msg_name = udp_peer;
    u->out[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
}

static void on_udp(uv_poll_t *h, int status, int events)
{
    udp_t *u = h->data;
    (void)events;
    if (status < 0) return;
    for (int i = 0; i < SLOTS; i++) {
        u->iov[i] = (struct iovec){u->in[i], SLOT};
        memset(&u->msgs[i].msg_hdr, 0, sizeof(u->msgs[i].msg_hdr));
        u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
        u->msgs[i].msg_hdr.msg_iovlen = 1;
        u->msgs[i].msg_hdr.msg_name = &u->from[i];
        u->msgs[i].msg_hdr.msg_namelen = sizeof(u->from[i]);
    }
    int n = recvmmsg(u->fd, u->msgs, SLOTS, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    u->nout = 0;
    for (int i = 0; i < n; i++) {
        udp_peer = &u->from[i];
        respond(u->in[i], u->msgs[i].msg_len, udp_emit, u);
    }
    if (u->nout && sendmmsg(u->fd, u->out, (unsigned)u->nout, MSG_DONTWAIT) < 0)
        fprintf(stderr, "null-uas: sendmmsg: %s\n", strerror(errno));
}

static int udp_listen(uv_loop_t *loop, udp_t *u, const struct sockaddr_in *sa)
{
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) return -errno;
    int size = 4 << 20;
    if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
        setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(u->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
        setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (bind(u->fd, (const struct sockaddr *)sa, sizeof(*sa))) return -errno;
    int rc = uv_poll_init_socket(loop, &u->poll, u->fd);
    if (rc) return rc;
    u->poll.data = u;
    return uv_poll_start(&u->poll, UV_READABLE, on_udp);
}

/* ---- TCP ---- */

typedef struct {
    char *data;
    size_t len;
} out_t;

static void tcp_emit(void *ctx, const char *data, int n)
{
    out_t *o = ctx;
    memcpy(o->data + o->len, data, (size_t)n);
    o->len += (size_t)n;
}

static void on_close(uv_handle_t *h)
{
    conn_t *c = h->data;
    free(c->buf);
    free(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    conn_t *c = h->data;
    (void)hint;
    if (c->cap - c->len < SLOT) {
        size_t cap = c->cap ? c->cap * 2 : 2 * SLOT;
        char *p = realloc(c->buf, cap);
        if (!p) {
            *b = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = p;
        c->cap = cap;
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* Length of the first whole message in p (headers and Content-Length body), or 0. */
static size_t framed(const char *p, size_t n)
{
    const char *e = memmem(p, n, "\r\n\r\n", 4);
    if (!e) return 0;
    size_t hl = (size_t)(e + 4 - p), cl = 0, ll;
    const char *l = find_line(p, hl, "Content-Length:", &ll);
    if (ll) cl = strtoul(l + 15, NULL, 10);
    return hl + cl <= n ? hl + cl : 0;
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* One write; what the socket does not take now goes out when it can (the peer reads slower). */
static void send_all(uv_stream_t *s, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    if (n < 0 && n != UV_EAGAIN) return;
    size_t done = n > 0 ? (size_t)n : 0;
    if (done == len) return;
    uv_write_t *w = malloc(sizeof(*w) + len - done);
    if (!w) return;
    memcpy(w + 1, data + done, len - done);
    b = uv_buf_init((char *)(w + 1), (unsigned)(len - done));
    if (uv_write(w, s, &b, 1, on_written)) free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    conn_t *c = s->data;
    (void)b;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    c->len += (size_t)nread;
    char out[8 * OUT_MAX];
    out_t o = {out, 0};
    size_t off = 0, m;
    while ((m = framed(c->buf + off, c->len - off)) > 0) {
        if (o.len + 3 * OUT_MAX > sizeof(out)) {
            send_all(s, out, o.len);
            o.len = 0;
        }
        respond(c->buf + off, m, tcp_emit, &o);
        off += m;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    if (o.len) send_all(s, out, o.len);
}

static void on_conn(uv_stream_t *srv, int status)
{
    if (status < 0) return;
    conn_t *c = calloc(1, sizeof(*c));
    if (!c) return;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: null-uas PORT\n"
                        "Answers SIPp's uac scenario on 127.0.0.1:PORT (UDP and TCP) from fixed\n"
                        "text: the kernel and event-loop floor of bench/calls. Not a SIP server.\n");
        return argc == 2 ? 0 : 2;
    }
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535) return 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    udp_t *u = calloc(1, sizeof(*u));
    uv_tcp_t srv;
    int rc = u ? udp_listen(&loop, u, &sa) : UV_ENOMEM;
    if (rc == 0) rc = uv_tcp_init(&loop, &srv);
    if (rc == 0) rc = uv_tcp_bind(&srv, (const struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv, 128, on_conn);
    if (rc) {
        fprintf(stderr, "null-uas: cannot listen on port %d: %s\n", port, uv_strerror(rc));
        return 1;
    }
    uv_signal_t sig[2];
    uv_signal_init(&loop, &sig[0]);
    uv_signal_init(&loop, &sig[1]);
    uv_signal_start(&sig[0], on_signal, SIGTERM);
    uv_signal_start(&sig[1], on_signal, SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}
