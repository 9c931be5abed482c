/* SPDX-License-Identifier: MIT */
/* RFC 5626 flows: CRLF keep-alive pings, their pongs, and watches on a flow's connection. */
#include "transport/flow.h"

#include "sip/error.h"
#include "transport/transport_int.h"

int sip__flow_watch(sip_transport_t *tp, sip__flow_watch_t *w, uint64_t conn_id)
{
    if (!tp || !w || !w->closed) return SIP_EINVAL;
    sip__flow_unwatch(w);
    if (tp->closed || !conn_id || !sip__conn_by_id(tp, conn_id)) return SIP_ENOENT;
    w->tp = tp;
    w->conn_id = conn_id;
    w->prev = NULL;
    w->next = tp->flow_watches;
    if (w->next) w->next->prev = w;
    tp->flow_watches = w;
    return 0;
}

void sip__flow_unwatch(sip__flow_watch_t *w)
{
    if (!w || !w->tp) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->tp->flow_watches = w->next;
    if (w->next) w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->tp = NULL;
}

int sip__flow_ping(sip_transport_t *tp, uint64_t conn_id)
{
    sip__conn_t *c = tp && !tp->closed && conn_id ? sip__conn_by_id(tp, conn_id) : NULL;
    if (!c) return SIP_ENOENT;
    /* RFC 5626 §4.4.1: the ping is a double CRLF between messages; the server answers a
     * single CRLF (conn.c counts those on connections this endpoint opened). */
    return sip__conn_send(c, "\r\n\r\n", 4, NULL, NULL, NULL);
}

uint64_t sip__flow_pongs(sip_transport_t *tp, uint64_t conn_id)
{
    sip__conn_t *c = tp && conn_id ? sip__conn_by_id(tp, conn_id) : NULL;
    return c ? c->pongs : 0;
}

void sip__flow_close(sip_transport_t *tp, uint64_t conn_id)
{
    sip__conn_t *c = tp && conn_id ? sip__conn_by_id(tp, conn_id) : NULL;
    /* RFC 5626 §4.4.1: the peer, or a NAT between, no longer answers on it; whatever is
     * still queued on it would not get through either. */
    if (c) sip__conn_close(c, 0, "the flow failed its keep-alive (RFC 5626 §4.4.1)");
}

void sip__flow_conn_closed(sip_transport_t *tp, uint64_t conn_id)
{
    /* Each watch is unlinked before it hears, so that its owner may watch again or go. */
    sip__flow_watch_t *w = tp->flow_watches;
    while (w) {
        sip__flow_watch_t *next = w->next;
        if (w->conn_id == conn_id) {
            sip__flow_unwatch(w);
            w->closed(w);
            next = tp->flow_watches; /* the list may have changed: walk it again */
        }
        w = next;
    }
}
