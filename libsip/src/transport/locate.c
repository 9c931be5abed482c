/* SPDX-License-Identifier: MIT */
/* Sending a request to where its routing points, with RFC 3263 location and failover. */
#include <stdlib.h>
#include <string.h>

#include "transport/addr.h"
#include "transport/transport_int.h"

typedef struct {
    int refs;     /* the job's own, and the resolver registration's */
    int resolved; /* on_resolved ran */
    int starting; /* inside sip_resolve() */
    sip_transport_t *tp;
    sip_msg_t *msg;
    sip_netinfo_t *targets;
    size_t count, next;
    int last_err;
    sip_transport_sent_cb cb;
    void *user;
    sip_free_fn user_free;
} locate_t;

static void locate_free(locate_t *l)
{
    if (--l->refs > 0) return;
    sip_msg_unref(l->msg);
    free(l->targets);
    sip_transport_unref(l->tp);
    free(l);
}

static void finish(locate_t *l, int status)
{
    /* Routed through the completion queue so the callback never runs inside a call. */
    sip__tp_complete(l->tp, l->cb, l->user, l->user_free, status);
    l->cb = NULL;
    l->user_free = NULL;
    locate_free(l);
}

static void try_next(locate_t *l);

static void on_target_sent(sip_transport_t *tp, int status, void *user)
{
    locate_t *l = user;
    (void)tp;
    if (status == 0) {
        finish(l, 0);
        return;
    }
    l->last_err = status;
    const sip_netinfo_t *t = &l->targets[l->next - 1];
    char a[SIP__ADDR_STRLEN];
    sip_log(l->tp->loop, SIP_LOG_INFO, "transport", "target %s failed (%s); trying the next",
            sip__addr_str(a, t->transport, t->remote_ip, t->remote_port), sip_strerror(status));
    try_next(l);
}

static void try_next(locate_t *l)
{
    while (l->next < l->count) {
        const sip_netinfo_t *t = &l->targets[l->next++];
        if (l->tp->closed) break;
        int rc = sip_transport_send(l->tp, l->msg, t, on_target_sent, l, NULL);
        if (rc == 0) return; /* on_target_sent continues */
        l->last_err = rc;
    }
    finish(l, l->last_err ? l->last_err : SIP_ENOENT);
}

static void on_resolved(sip_resolver_t *r, int status, const sip_netinfo_t *targets, size_t count,
                        void *user)
{
    locate_t *l = user;
    (void)r;
    l->resolved = 1;
    if (status || count == 0) {
        finish(l, status ? status : SIP_ENOENT);
        return;
    }
    l->targets = malloc(count * sizeof(*targets));
    if (!l->targets) {
        finish(l, SIP_ENOMEM);
        return;
    }
    memcpy(l->targets, targets, count * sizeof(*targets));
    l->count = count;
    try_next(l);
}

static void locate_user_free(void *user)
{
    locate_t *l = user;
    /* A resolver closed before it answered ends the job here (no callback runs once the
     * transport is closed; otherwise the caller hears SIP_ECLOSED). When sip_resolve() itself
     * failed, the caller gets its error instead of a callback. */
    if (!l->resolved) {
        l->resolved = 1;
        sip__tp_complete(l->tp, l->starting ? NULL : l->cb, l->user, l->user_free, SIP_ECLOSED);
        l->cb = NULL;
        l->user_free = NULL;
        l->refs--; /* the job's reference; the registration's goes below */
    }
    locate_free(l);
}

int sip_transport_set_resolver(sip_transport_t *tp, sip_resolver_t *r)
{
    if (!tp) return SIP_EINVAL;
    if (tp->closed) return SIP_ECLOSED;
    if (r) sip_resolver_ref(r);
    sip_resolver_unref(tp->resolver);
    tp->resolver = r;
    return 0;
}

int sip_transport_send_request(sip_transport_t *tp, sip_msg_t *msg, sip_transport_sent_cb cb,
                               void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!tp || !msg || !sip_msg_is_request(msg)) goto fail;
    rc = SIP_ECLOSED;
    if (tp->closed) goto fail;
    rc = SIP_ENOENT;
    if (!tp->resolver) goto fail;
    /* RFC 3261 §8.1.2: a loose-routing top Route decides the next hop. */
    const sip_uri_t *uri = sip_msg_get_uri(msg);
    const sip_addr_t *route = sip_header_addr(sip_msg_header_at(msg, SIP_HDR_ROUTE, 0));
    if (route && route->uri.lr) uri = &route->uri;
    rc = SIP_ENOMEM;
    locate_t *l = calloc(1, sizeof(*l));
    if (!l) goto fail;
    l->refs = 2;
    l->tp = sip_transport_ref(tp);
    l->msg = sip_msg_ref(msg);
    l->cb = cb;
    l->user = user;
    l->user_free = user_free;
    l->starting = 1;
    rc = sip_resolve(tp->resolver, uri, on_resolved, l, locate_user_free);
    /* On failure locate_user_free has already ended the job and freed l: the caller's
     * user_free ran, its callback will not. */
    if (rc) return rc;
    l->starting = 0;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}
