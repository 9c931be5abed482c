/* SPDX-License-Identifier: MIT */
/* Links between the hub and the workers and between workers: one end of a SOCK_SEQPACKET socket
 * pair under a uv poll handle. A record is a frame, so nothing is framed by hand; a descriptor
 * (the end of a sibling link) travels with SCM_RIGHTS. Bindings are encoded here too. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sip/error.h"
#include "worker/worker_int.h"

static void on_poll(uv_poll_t *h, int status, int events);

int sip__wlink_create(sip__wlink_t **out, sip_loop_t *loop, int fd)
{
    *out = NULL;
    if (fd < 0) return SIP_EINVAL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    sip__wlink_t *lk = calloc(1, sizeof(*lk));
    char *rbuf = malloc(SIP__WFRAME_MAX);
    if (!lk || !rbuf) {
        free(lk);
        free(rbuf);
        close(fd);
        return SIP_ENOMEM;
    }
    lk->fd = fd;
    lk->loop = loop;
    lk->rbuf = rbuf;
    *out = lk;
    return 0;
}

static void update_events(sip__wlink_t *lk)
{
    if (!lk->polling || lk->closed) return;
    int ev = UV_READABLE | (lk->qhead ? UV_WRITABLE : 0);
    if (ev == lk->events) return;
    lk->events = ev;
    uv_poll_start(&lk->poll, ev, on_poll);
}

int sip__wlink_start(sip__wlink_t *lk)
{
    if (lk->closed) return SIP_ECLOSED;
    int rc = uv_poll_init(sip_loop_get_uv(lk->loop), &lk->poll, lk->fd);
    if (rc) return rc;
    lk->poll.data = lk;
    lk->polling = 1;
    update_events(lk);
    return 0;
}

static void free_link(sip__wlink_t *lk)
{
    while (lk->qhead) {
        sip__wout_t *o = lk->qhead;
        lk->qhead = o->next;
        if (o->fd >= 0) close(o->fd);
        free(o);
    }
    if (lk->fd >= 0) close(lk->fd);
    free(lk->rbuf);
    free(lk);
}

static void on_closed(uv_handle_t *h)
{
    sip__wlink_t *lk = h->data;
    sip_loop_t *loop = lk->loop;
    free_link(lk);
    sip__loop_closing_end(loop);
}

void sip__wlink_close(sip__wlink_t *lk)
{
    if (!lk || lk->closed == 2) return;
    lk->closed = 2;
    lk->on_frame = NULL;
    lk->on_down = NULL;
    if (lk->dispatching) return; /* the read loop finishes the close */
    if (lk->polling) {
        uv_poll_stop(&lk->poll);
        sip__loop_closing_begin(lk->loop);
        uv_close((uv_handle_t *)&lk->poll, on_closed);
    } else {
        free_link(lk);
    }
}

/* The peer went or the socket failed: the owner hears it once. */
static void link_down(sip__wlink_t *lk)
{
    if (lk->closed) return;
    lk->closed = 1;
    if (lk->polling) uv_poll_stop(&lk->poll);
    if (lk->on_down) lk->on_down(lk);
}

static int send_one(sip__wlink_t *lk, const char *data, size_t len, int fd)
{
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {0};
    char cbuf[CMSG_SPACE(sizeof(int))];
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(lk->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
    }
}

/* Sends the frames queued at the head without a descriptor in one sendmmsg(). The number
 * sent, 0 when the socket is full, or -errno. */
static int send_many(sip__wlink_t *lk)
{
    struct mmsghdr mm[32];
    struct iovec iov[32];
    unsigned n = 0;
    for (sip__wout_t *o = lk->qhead; o && o->fd < 0 && n < 32; o = o->next, n++) {
        iov[n].iov_base = o->data;
        iov[n].iov_len = o->len;
        memset(&mm[n], 0, sizeof(mm[n]));
        mm[n].msg_hdr.msg_iov = &iov[n];
        mm[n].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int r = sendmmsg(lk->fd, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

static void flush(sip__wlink_t *lk)
{
    while (lk->qhead && !lk->closed) {
        sip__wout_t *o = lk->qhead;
        if (o->fd < 0 && o->next && o->next->fd < 0) {
            /* A batch of frames (sip__wlink_queue()) leaves in one call. */
            int r = send_many(lk);
            if (r < 0) {
                link_down(lk);
                return;
            }
            if (r == 0) break;
            while (r-- > 0) {
                o = lk->qhead;
                lk->qhead = o->next;
                free(o);
            }
            if (!lk->qhead) lk->qtail = NULL;
            continue;
        }
        int rc = send_one(lk, o->data, o->len, o->fd);
        if (rc == 1) break;
        lk->qhead = o->next;
        if (!lk->qhead) lk->qtail = NULL;
        if (o->fd >= 0) close(o->fd);
        free(o);
        if (rc < 0) {
            link_down(lk);
            return;
        }
    }
    update_events(lk);
}

static int enqueue(sip__wlink_t *lk, const sip__wframe_t *h, const void *a, size_t alen,
                   const void *b, size_t blen)
{
    size_t len = sizeof(*h) + alen + blen;
    sip__wout_t *o = malloc(sizeof(*o) + len);
    if (!o) return SIP_ENOMEM;
    memcpy(o->data, h, sizeof(*h));
    if (alen) memcpy(o->data + sizeof(*h), a, alen);
    if (blen) memcpy(o->data + sizeof(*h) + alen, b, blen);
    o->next = NULL;
    o->len = len;
    o->fd = -1;
    if (lk->qtail)
        lk->qtail->next = o;
    else
        lk->qhead = o;
    lk->qtail = o;
    return 0;
}

int sip__wlink_queue(sip__wlink_t *lk, const sip__wframe_t *h, const void *a, size_t alen,
                     const void *b, size_t blen)
{
    if (!lk || lk->closed) return SIP_ECLOSED;
    return enqueue(lk, h, a, alen, b, blen);
}

void sip__wlink_flush(sip__wlink_t *lk)
{
    if (lk && !lk->closed && lk->qhead) flush(lk);
}

int sip__wlink_send(sip__wlink_t *lk, const sip__wframe_t *h, const void *a, size_t alen,
                    const void *b, size_t blen, int fd)
{
    if (!lk || lk->closed) {
        if (fd >= 0) close(fd);
        return SIP_ECLOSED;
    }
    size_t len = sizeof(*h) + alen + blen;
    /* The usual frame goes out from the stack, with no allocation; a full socket queues it. */
    char stackbuf[4096];
    sip__wout_t *o = NULL;
    char *data = stackbuf;
    if (len > sizeof(stackbuf) || lk->qhead) {
        o = malloc(sizeof(*o) + len);
        if (!o) {
            if (fd >= 0) close(fd);
            return SIP_ENOMEM;
        }
        data = o->data;
    }
    memcpy(data, h, sizeof(*h));
    if (alen) memcpy(data + sizeof(*h), a, alen);
    if (blen) memcpy(data + sizeof(*h) + alen, b, blen);
    int rc = lk->qhead ? 1 : send_one(lk, data, len, fd);
    if (rc == 0) {
        free(o);
        if (fd >= 0) close(fd);
        return 0;
    }
    if (rc < 0) {
        free(o);
        if (fd >= 0) close(fd);
        link_down(lk);
        return SIP_ECLOSED;
    }
    if (!o) {
        if (!(o = malloc(sizeof(*o) + len))) {
            if (fd >= 0) close(fd);
            return SIP_ENOMEM;
        }
        memcpy(o->data, stackbuf, len);
    }
    o->next = NULL;
    o->len = len;
    o->fd = fd;
    if (lk->qtail)
        lk->qtail->next = o;
    else
        lk->qhead = o;
    lk->qtail = o;
    update_events(lk);
    return 0;
}

int sip__wlink_read(sip__wlink_t *lk)
{
    /* A bounded number per wake-up, so that one busy link does not starve the loop. */
    lk->dispatching++;
    for (int i = 0; i < 64 && !lk->closed; i++) {
        struct iovec iov = {lk->rbuf, SIP__WFRAME_MAX};
        struct msghdr mh = {0};
        char cbuf[CMSG_SPACE(sizeof(int))];
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        ssize_t n = recvmsg(lk->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
            link_down(lk);
            break;
        }
        int fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len >= CMSG_LEN(sizeof(int)))
                memcpy(&fd, CMSG_DATA(c), sizeof(int));
        if ((size_t)n < sizeof(sip__wframe_t) || (mh.msg_flags & MSG_TRUNC)) {
            if (fd >= 0) close(fd);
            continue;
        }
        sip__wframe_t h;
        memcpy(&h, lk->rbuf, sizeof(h));
        if (lk->on_frame)
            lk->on_frame(lk, &h, lk->rbuf + sizeof(h), (size_t)n - sizeof(h), fd);
        else if (fd >= 0)
            close(fd);
    }
    lk->dispatching--;
    if (lk->closed == 2 && !lk->dispatching) {
        lk->closed = 1;
        sip__wlink_close(lk);
        return SIP_ECLOSED;
    }
    return lk->closed ? SIP_ECLOSED : 0;
}

int sip__wlink_wait(sip__wlink_t *lk, int timeout_ms)
{
    if (lk->closed) return SIP_ECLOSED;
    struct pollfd p = {.fd = lk->fd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n > 0 ? 1 : 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sip__wlink_t *lk = h->data;
    if (lk->closed) return;
    if (status < 0) {
        link_down(lk);
        return;
    }
    if (events & UV_WRITABLE) flush(lk);
    if (!lk->closed && (events & (UV_READABLE | UV_DISCONNECT))) sip__wlink_read(lk);
}

/* ---- bindings ---------------------------------------------------------------------------- */

typedef struct wbind_fixed {
    int64_t expires, updated;
    uint64_t conn_id;
    uint32_t cseq, reg_id;
    int32_t q;
    uint32_t pad;
} wbind_fixed_t;

#define WBIND_NSTR 9

int sip__wbind_encode(const sip_binding_t *b, const char *aor, char **out, size_t *len)
{
    const char *s[WBIND_NSTR] = {aor,         b->contact, b->params,   b->call_id,   b->path,
                                 b->received, b->socket,  b->instance, b->user_agent};
    size_t l[WBIND_NSTR], total = sizeof(wbind_fixed_t);
    for (int i = 0; i < WBIND_NSTR; i++)
        total += (l[i] = s[i] ? strlen(s[i]) : 0) + 1;
    char *p = malloc(total);
    if (!p) return SIP_ENOMEM;
    wbind_fixed_t f = {b->expires, b->updated, b->conn_id, b->cseq, b->reg_id, b->q, 0};
    memcpy(p, &f, sizeof(f));
    size_t at = sizeof(f);
    for (int i = 0; i < WBIND_NSTR; i++) {
        if (l[i]) memcpy(p + at, s[i], l[i]);
        p[at + l[i]] = '\0';
        at += l[i] + 1;
    }
    *out = p;
    *len = total;
    return 0;
}

int sip__wbind_decode(const char *p, size_t len, sip_binding_t *b)
{
    wbind_fixed_t f;
    if (len < sizeof(f)) return SIP_EINVAL;
    memcpy(&f, p, sizeof(f));
    const char *s[WBIND_NSTR];
    size_t at = sizeof(f);
    for (int i = 0; i < WBIND_NSTR; i++) {
        const char *nul = at < len ? memchr(p + at, '\0', len - at) : NULL;
        if (!nul) return SIP_EINVAL;
        s[i] = p + at;
        at = (size_t)(nul - p) + 1;
    }
    memset(b, 0, sizeof(*b));
    b->aor = s[0];
    b->contact = s[1];
    b->params = s[2];
    b->call_id = s[3];
    b->path = s[4];
    b->received = s[5];
    b->socket = s[6];
    b->instance = s[7];
    b->user_agent = s[8];
    b->expires = f.expires;
    b->updated = f.updated;
    b->conn_id = f.conn_id;
    b->cseq = f.cseq;
    b->reg_id = f.reg_id;
    b->q = f.q;
    return 0;
}
