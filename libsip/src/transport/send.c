/* SPDX-License-Identifier: MIT */
/* Sending requests and responses (RFC 3261 §18.1.1, §18.2.2; RFC 3581). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/fmt.h"
#include "stats/stats_int.h"
#include "transport/addr.h"
#include "transport/transport_int.h"

static int is_v6(const char *ip)
{
    return strchr(ip, ':') != NULL;
}

/* A listening point of the wanted transport and address family. */
static sip__listener_t *pick_listener(sip_transport_t *tp, sip_transport_type_t type,
                                      const char *ip)
{
    int family = is_v6(ip) ? AF_INET6 : AF_INET;
    for (size_t i = 0; i < tp->nlisteners; i++) {
        sip__listener_t *l = tp->listeners[i];
        if (l->type == type && l->family == family && l->info.transport != SIP_TRANSPORT_NONE)
            return l;
    }
    return NULL;
}

/* RFC 3261 §18.1.1: the transport writes its own transport and sent-by in the top Via, and asks
 * for rport (RFC 3581) on UDP. The branch and other parameters stay. */
static int stamp_own_via(sip_transport_t *tp, sip_msg_t *msg, sip_transport_type_t type,
                         const sip__listener_t *l)
{
    const sip_header_t *h = sip_msg_header_at(msg, SIP_HDR_VIA, 0);
    const sip_via_t *v = sip_header_via(h);
    if (!v) return SIP_ENOENT;
    const char *host = l ? l->info.local_ip : NULL;
    uint16_t port = l ? l->info.local_port : 0;
    if (l && l->wildcard && tp->opts.via_host) host = tp->opts.via_host;
    char buf[1024];
    sip__fmt_t f;
    sip__fmt_init(&f, buf, sizeof(buf));
    sip__fmt_str(&f, "SIP/2.0/");
    sip__fmt_str(&f, sip_transport_name(type));
    sip__fmt_mem(&f, " ", 1);
    if (host) {
        int v6 = is_v6(host);
        if (v6) sip__fmt_mem(&f, "[", 1);
        sip__fmt_str(&f, host);
        if (v6) sip__fmt_mem(&f, "]", 1);
        sip__fmt_mem(&f, ":", 1);
        sip__fmt_uint(&f, port);
    } else {
        /* No listening point of that kind (a client-only WS connection): keep the sent-by. */
        sip__fmt_mem(&f, v->host.ptr, v->host.len);
        if (v->port) {
            sip__fmt_mem(&f, ":", 1);
            sip__fmt_uint(&f, v->port);
        }
    }
    int has_rport = 0;
    sip_str_t it = v->params, pn, pv;
    while (sip_params_next(&it, &pn, &pv)) {
        if (sip_str_caseeq_cstr(pn, "rport")) has_rport = 1;
        sip__fmt_mem(&f, ";", 1);
        sip__fmt_mem(&f, pn.ptr, pn.len);
        if (pv.len) {
            sip__fmt_mem(&f, "=", 1);
            sip__fmt_mem(&f, pv.ptr, pv.len);
        }
    }
    if (type == SIP_TRANSPORT_UDP && !has_rport) sip__fmt_str(&f, ";rport");
    if (!f.ok) return SIP_ERANGE;
    size_t used = f.len;
    /* Nothing to do when the Via already says exactly this (a retransmission). */
    if (sip_str_eq(sip_header_get_value(h), (sip_str_t){buf, used})) return 0;
    return sip_msg_update_header(msg, h, buf);
}

/* An open secure connection to ip:port that was checked against server_name (RFC 5922 §7.2): one
 * opened for another name, or accepted from the peer, proved nothing about this one. */
static sip__conn_t *find_named(sip_transport_t *tp, sip_transport_type_t type, const char *ip,
                               uint16_t port, const char *server_name)
{
    for (sip__conn_t *c = tp->conns; c; c = c->next)
        if (!c->closing && !c->server && c->type == type && c->info.remote_port == port &&
            strcmp(c->info.remote_ip, ip) == 0 && strcasecmp(c->server_name, server_name) == 0)
            return c;
    return NULL;
}

static int send_via(sip_transport_t *tp, sip_msg_t *msg, sip_transport_type_t type, const char *ip,
                    uint16_t port, const char *server_name, uint64_t conn_id,
                    const sip__listener_t *udp_from, sip_transport_sent_cb cb, void *user,
                    sip_free_fn user_free)
{
    const char *data;
    size_t len;
    int rc;
    sip_netinfo_t ni = {0};
    /* What sendbuf holds stops being msg's wire form the moment another send starts. */
    tp->sendbuf_msg = NULL;
    if (type == SIP_TRANSPORT_UDP) {
        const sip__listener_t *l = udp_from ? udp_from : pick_listener(tp, type, ip);
        if (!l) {
            rc = SIP_ENOENT;
            goto fail;
        }
        if ((rc = sip__tp_print(tp, msg, &data, &len))) goto fail;
        ni = l->info;
        size_t il = strlen(ip);
        if (il >= sizeof(ni.remote_ip)) {
            rc = SIP_EINVAL;
            goto fail;
        }
        memcpy(ni.remote_ip, ip, il + 1);
        ni.remote_port = port;
        sip__tp_trace(tp, 1, &ni, data, len);
        rc = sip__udp_send((sip__listener_t *)l, data, len, ip, port);
        if (rc) goto fail;
        sip__stat_tx(tp->loop, msg);
        sip_msg_set_netinfo(msg, &ni);
        sip__tp_complete(tp, cb, user, user_free, 0);
        return 0;
    }
    sip__conn_t *c = conn_id ? sip__conn_by_id(tp, conn_id) : NULL;
    const sip_netinfo_t *rni = !c && conn_id ? sip__conn_remote(tp, conn_id) : NULL;
    if (rni) {
        /* Another worker holds the connection (RFC 5626 flows, §18.2.2 replies over the
         * connection of the request): the bytes go to it, printed here. */
        if ((rc = sip__tp_print(tp, msg, &data, &len))) goto fail;
        sip__tp_trace(tp, 1, rni, data, len);
        sip_msg_set_netinfo(msg, rni);
        if ((rc = tp->worker.send_remote(tp->worker.ctx, conn_id, data, len))) goto fail;
        sip__stat_tx(tp->loop, msg);
        sip__tp_complete(tp, cb, user, user_free, 0);
        return 0;
    }
    if (!c && server_name && sip_transport_is_secure(type))
        c = find_named(tp, type, ip, port, server_name);
    else if (!c)
        c = sip__conn_find(tp, type, ip, port);
    if (!c) {
        if (!sip_msg_is_request(msg) && (type == SIP_TRANSPORT_WS || type == SIP_TRANSPORT_WSS)) {
            /* A WebSocket client cannot be called back (RFC 7118 §5). */
            rc = SIP_ENOENT;
            goto fail;
        }
        if ((rc = sip__conn_connect(tp, type, ip, port, server_name, &c))) goto fail;
    }
    if ((rc = sip__tp_print(tp, msg, &data, &len))) goto fail;
    sip__tp_trace(tp, 1, &c->info, data, len);
    sip_msg_set_netinfo(msg, &c->info);
    sip__stat_tx(tp->loop, msg);
    return sip__conn_send(c, data, len, cb, user, user_free);
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_transport_send(sip_transport_t *tp, sip_msg_t *msg, const sip_netinfo_t *dst,
                       sip_transport_sent_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!tp || !msg || !dst || !dst->remote_ip[0] || !dst->remote_port) goto fail;
    tp->sendbuf_msg = NULL; /* see send_via() */
    rc = SIP_ECLOSED;
    if (tp->closed) goto fail;
    sip_transport_type_t type = dst->transport ? dst->transport : SIP_TRANSPORT_UDP;
    if (!sip_msg_is_request(msg)) {
        rc = SIP_EINVAL;
        goto fail;
    }
    /* RFC 3261 §18.1.1: a request within 200 bytes of the MTU goes over a congestion-controlled
     * transport when one is there. */
    if (type == SIP_TRANSPORT_UDP && pick_listener(tp, SIP_TRANSPORT_TCP, dst->remote_ip)) {
        int n = sip_msg_print(msg, NULL, 0);
        if (n > 0 && (size_t)n > tp->opts.mtu - 200) type = SIP_TRANSPORT_TCP;
    }
    const sip__listener_t *l = pick_listener(tp, type, dst->remote_ip);
    if (!l && type == SIP_TRANSPORT_UDP) {
        rc = SIP_ENOENT;
        goto fail;
    }
    if ((rc = stamp_own_via(tp, msg, type, l))) goto fail;
    /* RFC 5922 §7.2: a target located from a name is checked against that name. */
    /* A flow of another worker is named by its id alone; the others are found by address. */
    uint64_t conn_id =
        dst->transport == type && sip__conn_remote(tp, dst->conn_id) ? dst->conn_id : 0;
    return send_via(tp, msg, type, dst->remote_ip, dst->remote_port,
                    dst->server_name[0] ? dst->server_name : NULL, conn_id, NULL, cb, user,
                    user_free);
fail:
    if (user_free) user_free(user);
    return rc;
}

/* Copies a Via host (brackets of an IPv6 reference taken off) as a NUL-terminated address. */
static int via_host_copy(sip_str_t host, char *ip, size_t iplen)
{
    if (host.len >= 2 && host.ptr[0] == '[') host.ptr++, host.len -= 2;
    if (!host.len || host.len >= iplen) return SIP_EINVAL;
    memcpy(ip, host.ptr, host.len);
    ip[host.len] = '\0';
    return 0;
}

int sip__via_udp_dest(const sip_via_t *v, const char *src_ip, uint16_t src_port, char *ip,
                      size_t iplen, uint16_t *port)
{
    uint16_t sent_by_port = v->port ? v->port : sip_transport_default_port(SIP_TRANSPORT_UDP);
    /* RFC 3261 §18.2.2: maddr first, with the sent-by port or 5060; RFC 3581 §4 applies rport
     * only when there is no maddr. */
    if (v->maddr.len) {
        *port = sent_by_port;
        return via_host_copy(v->maddr, ip, iplen);
    }
    /* Then received, with the sent-by port, or with the source port when the client asked for
     * rport (RFC 3581 §4). An unstamped Via (src_ip given) may carry any received or rport value
     * its sender wrote: the source address and port stand for them. */
    int rc;
    if (src_ip)
        rc = via_host_copy(sip_str_from_cstr(src_ip), ip, iplen);
    else if (v->received.len)
        rc = via_host_copy(v->received, ip, iplen);
    else
        rc = via_host_copy(v->host, ip, iplen);
    if (rc) return rc;
    if (src_ip && v->rport >= 0)
        *port = src_port;
    else if (!src_ip && v->rport > 0)
        *port = (uint16_t)v->rport;
    else
        *port = sent_by_port;
    return 0;
}

int sip_transport_send_response(sip_transport_t *tp, sip_msg_t *rsp)
{
    if (!tp || !rsp || sip_msg_is_request(rsp)) return SIP_EINVAL;
    tp->sendbuf_msg = NULL; /* see send_via() */
    if (tp->closed) return SIP_ECLOSED;
    const sip_via_t *v = sip_msg_get_via(rsp);
    if (!v) return SIP_ENOENT;
    const sip_netinfo_t *ni = sip_msg_get_netinfo(rsp);
    sip_transport_type_t type = sip_transport_from_name(v->transport.ptr, v->transport.len);
    if (type == SIP_TRANSPORT_NONE) return SIP_EINVAL;
    char ip[64];
    uint16_t port;
    if (sip_transport_is_reliable(type)) {
        /* RFC 3261 §18.2.2: the connection the request came in on, while it is open (or another
         * open one to the same peer address and port). */
        sip__conn_t *c = NULL;
        if (ni && ni->transport == type) {
            c = ni->conn_id ? sip__conn_by_id(tp, ni->conn_id) : NULL;
            /* The request came in over another worker's connection. */
            if (!c && sip__conn_remote(tp, ni->conn_id))
                return send_via(tp, rsp, type, ni->remote_ip, ni->remote_port, NULL, ni->conn_id,
                                NULL, NULL, NULL, NULL);
            if (!c) c = sip__conn_find(tp, type, ni->remote_ip, ni->remote_port);
        }
        if (c)
            return send_via(tp, rsp, type, c->info.remote_ip, c->info.remote_port, NULL, c->id,
                            NULL, NULL, NULL, NULL);
        /* "If the connection is closed, the server SHOULD open a connection to the IP address in
         * the received parameter, using the port in the sent-by value, or the default port":
         * never to the closed connection's ephemeral source port. */
        sip_str_t host = v->received.len ? v->received : v->host;
        if (via_host_copy(host, ip, sizeof(ip))) return SIP_EINVAL;
        port = v->port ? v->port : sip_transport_default_port(type);
        if (ni && ni->transport == type && ni->conn_id) {
            char a[SIP__ADDR_STRLEN];
            sip_log(tp->loop, SIP_LOG_DEBUG, "transport",
                    "%s connection %llu is closed: response to %s over a new connection",
                    sip_transport_param(type), (unsigned long long)ni->conn_id,
                    sip__addr_str(a, SIP_TRANSPORT_NONE, ip, port));
        }
        return send_via(tp, rsp, type, ip, port, NULL, 0, NULL, NULL, NULL, NULL);
    }
    if (sip__via_udp_dest(v, NULL, 0, ip, sizeof(ip), &port)) return SIP_EINVAL;
    const sip__listener_t *from = NULL;
    if (ni && ni->transport == SIP_TRANSPORT_UDP) {
        for (size_t i = 0; i < tp->nlisteners; i++) {
            const sip__listener_t *l = tp->listeners[i];
            if (l->type == SIP_TRANSPORT_UDP && l->info.local_port == ni->local_port &&
                strcmp(l->info.local_ip, ni->local_ip) == 0)
                from = l;
        }
    }
    return send_via(tp, rsp, type, ip, port, NULL, 0, from, NULL, NULL, NULL);
}

int sip__transport_send_raw(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                            size_t len)
{
    if (!tp || !ni || !data || !len) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    if (ni->transport == SIP_TRANSPORT_UDP) {
        /* From the listening point it went out on before, so the peer sees the same source. */
        for (size_t i = 0; i < tp->nlisteners; i++) {
            sip__listener_t *l = tp->listeners[i];
            if (l->type == SIP_TRANSPORT_UDP && l->info.local_port == ni->local_port &&
                strcmp(l->info.local_ip, ni->local_ip) == 0) {
                sip__tp_trace(tp, 1, ni, data, len);
                return sip__udp_send(l, data, len, ni->remote_ip, ni->remote_port);
            }
        }
        return SIP_ENOENT;
    }
    /* A stream: the connection it used, or another open one to the same peer; a retransmission
     * never opens a connection (RFC 3261 §17: reliable transports do not retransmit). */
    sip__conn_t *c = ni->conn_id ? sip__conn_by_id(tp, ni->conn_id) : NULL;
    if (!c && sip__conn_remote(tp, ni->conn_id)) {
        sip__tp_trace(tp, 1, ni, data, len);
        return tp->worker.send_remote(tp->worker.ctx, ni->conn_id, data, len);
    }
    if (!c) c = sip__conn_find(tp, ni->transport, ni->remote_ip, ni->remote_port);
    if (!c) return SIP_ENOENT;
    sip__tp_trace(tp, 1, &c->info, data, len);
    return sip__conn_send(c, data, len, NULL, NULL, NULL);
}

int sip__transport_last_wire(sip_transport_t *tp, const sip_msg_t *msg, const char **data,
                             size_t *len)
{
    if (!tp || !msg || tp->sendbuf_msg != msg) return SIP_ENOENT;
    *data = tp->sendbuf;
    *len = tp->sendbuf_len;
    return 0;
}
