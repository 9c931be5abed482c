/* SPDX-License-Identifier: MIT */
/* The chain of handlers that received messages go through: priorities, take or pass, and links
 * added, removed or the transport closed from inside a handler. */
#include <limits.h>
#include <stdlib.h>

#include "transport/transport_int.h"

/* Unlinks and frees the removed links, unless a walk of the chain may still stand on one. */
static void sweep(sip_transport_t *tp)
{
    if (tp->dispatching) return;
    sip__handler_t **pp = &tp->handlers;
    while (*pp) {
        sip__handler_t *h = *pp;
        if (h->removed) {
            *pp = h->next;
            free(h);
        } else {
            pp = &h->next;
        }
    }
}

/* Ends a registration: never called again, user_free now (it may re-enter the chain). */
static void drop(sip_transport_t *tp, sip__handler_t *h)
{
    (void)tp;
    h->removed = 1;
    h->cb = NULL;
    h->slot_cb = NULL;
    sip_free_fn f = h->user_free;
    void *u = h->user;
    h->user_free = NULL;
    h->user = NULL;
    if (f) f(u);
}

/* Files h after every link of its priority or lower (equal priorities keep the order added). */
static void insert(sip_transport_t *tp, sip__handler_t *h)
{
    h->serial = ++tp->handler_serial;
    sip__handler_t **pp = &tp->handlers;
    while (*pp && (*pp)->priority <= h->priority)
        pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
}

int sip_transport_add_handler(sip_transport_t *tp, int priority, sip_transport_handler_cb cb,
                              void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!tp || !cb) goto fail;
    rc = SIP_ECLOSED;
    if (tp->closed) goto fail;
    rc = SIP_ENOMEM;
    sip__handler_t *h = calloc(1, sizeof(*h));
    if (!h) goto fail;
    if (tp->next_handler_id <= 0 || tp->next_handler_id == INT_MAX) tp->next_handler_id = 1;
    h->id = tp->next_handler_id++;
    h->priority = priority;
    h->cb = cb;
    h->user = user;
    h->user_free = user_free;
    insert(tp, h);
    return h->id;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_transport_remove_handler(sip_transport_t *tp, int id)
{
    if (!tp || id <= 0) return SIP_EINVAL;
    for (sip__handler_t *h = tp->handlers; h; h = h->next) {
        if (h->id != id || h->removed) continue;
        drop(tp, h);
        sweep(tp);
        return 0;
    }
    return SIP_ENOENT;
}

int sip_transport_set_handler(sip_transport_t *tp, sip_transport_msg_cb cb, void *user,
                              sip_free_fn user_free)
{
    if (!tp || tp->closed) {
        if (user_free) user_free(user);
        return tp ? SIP_ECLOSED : SIP_EINVAL;
    }
    sip__handler_t *slot = NULL;
    for (sip__handler_t *h = tp->handlers; h && !slot; h = h->next)
        if (h->id == 0 && !h->removed) slot = h;
    if (!slot) {
        if (!cb && !user_free) return 0;
        slot = calloc(1, sizeof(*slot));
        if (!slot) {
            if (user_free) user_free(user);
            return SIP_ENOMEM;
        }
        slot->priority = SIP_HANDLER_PRIO_APP;
        insert(tp, slot);
    }
    /* Replaced in place: the slot keeps its position among the handlers of its priority. */
    sip_free_fn f = slot->user_free;
    void *u = slot->user;
    slot->slot_cb = cb;
    slot->user = user;
    slot->user_free = user_free;
    if (!cb && !user_free) slot->removed = 1;
    sweep(tp);
    if (f) f(u);
    return 0;
}

void sip__tp_dispatch(sip_transport_t *tp, sip_msg_t *msg)
{
    /* A handler may drop the last reference, close the transport, or change the chain: the
     * transport stays, and so do the links (removed ones are only marked) until the walk ends. */
    tp->refs++;
    tp->dispatching++;
    uint64_t started = tp->handler_serial;
    for (sip__handler_t *h = tp->handlers; h && !tp->closed; h = h->next) {
        if (h->removed || h->serial > started) continue;
        if (h->cb) {
            if (h->cb(tp, msg, h->user)) break;
        } else if (h->slot_cb) {
            h->slot_cb(tp, msg, h->user);
            break;
        }
    }
    tp->dispatching--;
    sweep(tp);
    sip_transport_unref(tp);
}

void sip__tp_handlers_close(sip_transport_t *tp)
{
    /* A user_free may remove other links or try to add some (SIP_ECLOSED): nothing is unlinked
     * until every registration has ended. */
    tp->dispatching++;
    for (sip__handler_t *h = tp->handlers; h; h = h->next)
        if (!h->removed) drop(tp, h);
    tp->dispatching--;
    sweep(tp);
}

void sip__tp_handlers_free(sip_transport_t *tp)
{
    while (tp->handlers) {
        sip__handler_t *h = tp->handlers;
        tp->handlers = h->next;
        free(h);
    }
}
