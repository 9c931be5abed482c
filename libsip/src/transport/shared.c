/* SPDX-License-Identifier: MIT */
/* One endpoint served by several worker processes (sip/worker.h): connection ids that carry
 * their worker, messages another worker received entering here as received, and sends over
 * another worker's connection. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "stats/stats_int.h"
#include "transport/addr.h"
#include "transport/raw.h"
#include "transport/transport_int.h"

int sip__transport_set_worker(sip_transport_t *tp, const sip__tp_worker_t *w)
{
    if (!tp) return SIP_EINVAL;
    if (!w) {
        memset(&tp->worker, 0, sizeof(tp->worker));
        return 0;
    }
    if (tp->closed) return SIP_ECLOSED;
    if (w->index >= (1u << (64 - SIP__CONN_WORKER_SHIFT))) return SIP_EINVAL;
    tp->worker = *w;
    /* Ids from here on start at a random point of this worker's range: a worker started again
     * after a crash must not hand out the ids its predecessor's connections had, which
     * bindings may still name (RFC 5626 flows). */
    uint32_t r;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) r = (uint32_t)time(NULL);
    tp->next_conn_id = (uint64_t)w->index << SIP__CONN_WORKER_SHIFT | (uint64_t)r << 20 | 1;
    return 0;
}

/* A message that does not parse is answered 400 as the receiving worker would have (udp.c,
 * conn.c): RFC 3261 §18.2.2 for a datagram, over its connection for a stream. */
static void answer_malformed(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                             size_t len, const sip_parse_error_t *err)
{
    char a[SIP__ADDR_STRLEN];
    sip__stat_inc(tp->loop, SIP_STAT_DROP_PARSE);
    sip_log(tp->loop, SIP_LOG_WARN, "transport",
            "malformed message from %s: %s (line %u, column %u)%s",
            sip__addr_str(a, ni->transport, ni->remote_ip, ni->remote_port), err->reason, err->line,
            err->column, err->status ? "; answered" : "; dropped");
    if (!err->status) return;
    char out[4096];
    int n = sip__reply_malformed(out, sizeof(out), data, len, err->status, err->phrase);
    if (n <= 0) return;
    sip_netinfo_t to = *ni;
    if (ni->transport == SIP_TRANSPORT_UDP)
        sip__reply_udp_dest(out, (size_t)n, ni->remote_ip, ni->remote_port, to.remote_ip,
                            sizeof(to.remote_ip), &to.remote_port);
    if (sip__transport_send_raw(tp, &to, out, (size_t)n) == 0)
        sip__stat_inc(tp->loop, sip__stat_rsp_class(SIP_STAT_TX_RSP_1XX, err->status));
}

/* Parses and hands to the chain (the part of udp.c and conn.c after the steering). */
static int deliver_bytes(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data, size_t len,
                         int trusted)
{
    sip_parse_opts_t po = tp->opts.parse;
    /* As the receiving worker frames it: a stream message by its Content-Length, a WebSocket
     * message or a datagram by its end (RFC 3261 §18.3, RFC 7118 §5). */
    po.stream = ni->transport == SIP_TRANSPORT_TCP || ni->transport == SIP_TRANSPORT_TLS;
    sip__tp_trace(tp, 0, ni, data, len);
    sip_msg_t *msg;
    sip_parse_error_t err;
    if (sip_msg_parse_ex(&msg, data, len, &po, &err)) {
        answer_malformed(tp, ni, data, len, &err);
        return SIP_EPARSE;
    }
    sip_msg_set_netinfo(msg, ni);
    tp->refs++;
    sip__tp_deliver(tp, msg, trusted);
    sip_msg_unref(msg);
    sip_transport_unref(tp);
    return 0;
}

int sip__transport_inject(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                          size_t len, int trusted)
{
    if (!tp || !ni || !data) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    return deliver_bytes(tp, ni, data, len, trusted);
}

int sip__transport_receive(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                           size_t len, int trusted)
{
    if (!tp || !ni || !data) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    if (tp->worker.steer && tp->worker.steer(tp->worker.ctx, ni, data, len, trusted)) return 0;
    return deliver_bytes(tp, ni, data, len, trusted);
}

int sip__transport_send_conn(sip_transport_t *tp, uint64_t conn_id, const char *data, size_t len)
{
    if (!tp || !data) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    sip__conn_t *c = sip__conn_by_id(tp, conn_id);
    if (!c) return SIP_ENOENT;
    sip__tp_trace(tp, 1, &c->info, data, len);
    return sip__conn_send(c, data, len, NULL, NULL, NULL);
}

void sip__transport_each_conn(sip_transport_t *tp, void (*fn)(void *ctx, const sip_netinfo_t *ni),
                              void *ctx)
{
    for (sip__conn_t *c = tp ? tp->conns : NULL; c; c = c->next)
        if (c->announced && !c->closing) fn(ctx, &c->info);
}

int sip__transport_conn_info(sip_transport_t *tp, uint64_t conn_id, sip_netinfo_t *out)
{
    if (!tp || !conn_id) return SIP_ENOENT;
    sip__conn_t *c = sip__conn_by_id(tp, conn_id);
    if (c) {
        *out = c->info;
        return 0;
    }
    const sip_netinfo_t *ni = sip__conn_remote(tp, conn_id);
    if (!ni) return SIP_ENOENT;
    *out = *ni;
    return 0;
}
