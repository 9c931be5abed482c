/* SPDX-License-Identifier: MIT */
/* The location store of a worker process (sip_location_opts_t.worker): every binding stays in
 * the memory index; a write goes to the hub, which applies it to the parent's service (SQLite's
 * one writer) and acknowledges it, and only then completes here (the registrar answers 200
 * once the binding is durable). The index is the hub's at create; the other workers' writes
 * come from the hub and are applied to memory only. */
#include <stdlib.h>
#include <string.h>

#include "location/store.h"
#include "sip/error.h"
#include "worker/worker_int.h"

/* How long a closing service waits for the hub to acknowledge the writes in flight. */
#define CLOSE_WAIT_MS 2000

/* What the store knows of each binding in the index, by row id: a removal reaches the store as
 * row ids only, and the hub knows bindings by AOR and contact. */
typedef struct idrec {
    struct idrec *next;
    uint64_t id;
    int64_t expires;
    const char *contact;
    char aor[];
} idrec_t;

/* A write in flight: it completes once the hub acknowledged each frame it sent (none for a
 * write that changed nothing the hub keeps), in the order writes were made. */
typedef struct inflight {
    struct inflight *next;
    sip__loc_op_t *op;
    int pending;
    int status;
} inflight_t;

struct sip__hub_store {
    sip__loc_store_t base;
    sip_location_t *loc;
    sip_worker_t *w;
    uint64_t seq;
    inflight_t *head, *tail;
    idrec_t **ids;
    size_t mask, n;
    int down, closed;
};

/* ---- the id map ---------------------------------------------------------------------------- */

static size_t slot(const sip__hub_store_t *st, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & st->mask;
}

static idrec_t *id_take(sip__hub_store_t *st, uint64_t id)
{
    for (idrec_t **p = &st->ids[slot(st, id)]; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            idrec_t *e = *p;
            *p = e->next;
            st->n--;
            return e;
        }
    return NULL;
}

static void id_add(sip__hub_store_t *st, uint64_t id, const char *aor, const char *contact,
                   int64_t expires)
{
    if (st->n > st->mask) {
        size_t cap = (st->mask + 1) * 2;
        idrec_t **b = calloc(cap, sizeof(*b));
        if (b) {
            for (size_t i = 0; i <= st->mask; i++)
                while (st->ids[i]) {
                    idrec_t *e = st->ids[i];
                    st->ids[i] = e->next;
                    size_t s = (size_t)((e->id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
                    e->next = b[s];
                    b[s] = e;
                }
            free(st->ids);
            st->ids = b;
            st->mask = cap - 1;
        }
    }
    size_t al = strlen(aor), cl = strlen(contact);
    idrec_t *e = malloc(sizeof(*e) + al + cl + 2);
    /* Without memory the removal of this binding is not shared; it expires everywhere. */
    if (!e) return;
    e->id = id;
    e->expires = expires;
    memcpy(e->aor, aor, al + 1);
    memcpy(e->aor + al + 1, contact, cl + 1);
    e->contact = e->aor + al + 1;
    size_t s = slot(st, id);
    e->next = st->ids[s];
    st->ids[s] = e;
    st->n++;
}

/* ---- others' writes ------------------------------------------------------------------------ */

static sip__loc_aor_t *find_aor(sip_location_t *loc, const char *key)
{
    size_t len = strlen(key);
    uint64_t h = sip__loc_hash(key, len);
    for (sip__loc_aor_t *a = loc->buckets[h & loc->mask]; a; a = a->next)
        if (a->hash == h && a->len == len && !memcmp(a->key, key, len)) return a;
    return NULL;
}

static int contact_equal(const sip_uri_t *c, const sip__loc_rec_t *r)
{
    sip_uri_t u;
    const char *s = sip__loc_str(r, SIP__LOC_CONTACT);
    return sip_uri_parse(&u, s, strlen(s)) == 0 && sip_uri_equal(c, &u);
}

/* Forgets the ids of the bindings a write of b (put: by sip_location_put()'s rule) or a
 * removal of contact (NULL: all) takes out of the index. */
static void forget(sip__hub_store_t *st, const char *aor, const sip_binding_t *b,
                   const char *contact)
{
    sip__loc_aor_t *a = find_aor(st->loc, aor);
    if (!a) return;
    sip_uri_t c;
    const char *cs = b ? b->contact : contact;
    int have_c = cs && sip_uri_parse(&c, cs, strlen(cs)) == 0;
    const char *inst = b && b->instance ? b->instance : "";
    for (sip__loc_rec_t *r = a->head; r; r = r->next) {
        int hit;
        if (b && *inst)
            hit = r->reg_id == b->reg_id && !strcmp(sip__loc_str(r, SIP__LOC_INSTANCE), inst);
        else
            hit = !cs || (have_c && contact_equal(&c, r));
        if (hit) free(id_take(st, r->id));
    }
}

static void apply_put(sip__hub_store_t *st, const char *p, size_t len)
{
    sip_binding_t b;
    if (sip__wbind_decode(p, len, &b)) return;
    sip_location_t *loc = st->loc;
    forget(st, b.aor, &b, NULL);
    uint64_t id = loc->next_id;
    int rc = sip__location_apply_put(loc, &b);
    /* The record it made has the next row id (sip__location_apply_put()). */
    if (rc == 0 && loc->next_id != id) id_add(st, id, b.aor, b.contact, b.expires);
}

static void apply_del(sip__hub_store_t *st, const char *p, size_t len)
{
    const char *nul = memchr(p, '\0', len);
    if (!nul || !memchr(nul + 1, '\0', len - (size_t)(nul + 1 - p))) return;
    const char *contact = nul[1] ? nul + 1 : NULL;
    forget(st, p, NULL, contact);
    (void)sip__location_apply_del(st->loc, p, contact);
}

/* ---- our writes ---------------------------------------------------------------------------- */

/* Completes the writes at the head that have every answer, in order. */
static void complete_ready(sip__hub_store_t *st)
{
    sip_location_t *loc = sip_location_ref(st->loc);
    while (st->head && st->head->pending == 0) {
        inflight_t *f = st->head;
        st->head = f->next;
        if (!st->head) st->tail = NULL;
        /* A put that failed leaves the memory (sip__location_op_done()): its id goes too. */
        if (f->status < 0 && f->op->kind == SIP__LOC_PUT) free(id_take(st, f->op->rec->id));
        sip__location_op_done(loc, f->op, f->status);
        free(f);
    }
    sip_location_unref(loc);
}

static void on_ack(sip__hub_store_t *st, const sip__wframe_t *h)
{
    (void)h; /* the hub answers in the order it was asked */
    for (inflight_t *f = st->head; f; f = f->next) {
        if (f->pending == 0) continue;
        f->pending--;
        if (h->status < 0 && f->status == 0) f->status = h->status;
        break;
    }
    complete_ready(st);
}

void sip__hub_store_frame(sip__hub_store_t *st, const sip__wframe_t *h, const char *p, size_t len)
{
    if (st->closed && h->type != SIP__WF_ACK) return;
    switch (h->type) {
    case SIP__WF_BIND: apply_put(st, p, len); break;
    case SIP__WF_UNBIND: apply_del(st, p, len); break;
    case SIP__WF_ACK: on_ack(st, h); break;
    default: break;
    }
}

void sip__hub_store_down(sip__hub_store_t *st)
{
    /* RFC 3261 §10.3: a registration the hub never confirmed is not durable; the registrar
     * answers it with an error. */
    st->down = 1;
    for (inflight_t *f = st->head; f; f = f->next)
        if (f->pending) {
            f->pending = 0;
            if (f->status == 0) f->status = SIP_EIO;
        }
    complete_ready(st);
}

static int send_del(sip__hub_store_t *st, const idrec_t *e)
{
    size_t al = strlen(e->aor), cl = strlen(e->contact);
    char buf[1024];
    char *p = al + cl + 2 <= sizeof(buf) ? buf : malloc(al + cl + 2);
    if (!p) return SIP_ENOMEM;
    memcpy(p, e->aor, al + 1);
    memcpy(p + al + 1, e->contact, cl + 1);
    sip__wframe_t h = {.type = SIP__WF_DEL, .id = ++st->seq};
    int rc = sip__worker_to_hub(st->w, &h, p, al + cl + 2);
    if (p != buf) free(p);
    return rc;
}

static void hs_write(sip__loc_store_t *base, sip__loc_op_t *op)
{
    sip__hub_store_t *st = (sip__hub_store_t *)base;
    inflight_t *f = calloc(1, sizeof(*f));
    if (!f) {
        sip_location_t *loc = sip_location_ref(st->loc);
        sip__location_op_done(loc, op, SIP_ENOMEM);
        sip_location_unref(loc);
        return;
    }
    f->op = op;
    op->next = NULL;
    int rc = st->down || st->closed ? SIP_EIO : 0;
    int64_t now = sip__location_now(st->loc);
    if (op->kind == SIP__LOC_PUT) {
        const sip__loc_rec_t *r = op->rec;
        for (size_t i = 0; i < op->nids; i++)
            free(id_take(st, op->ids[i]));
        id_add(st, r->id, op->aor, sip__loc_str(r, SIP__LOC_CONTACT), r->expires);
        if (!rc) {
            sip_binding_t b = {
                .contact = sip__loc_str(r, SIP__LOC_CONTACT),
                .params = sip__loc_str(r, SIP__LOC_PARAMS),
                .expires = r->expires,
                .q = r->q,
                .call_id = sip__loc_str(r, SIP__LOC_CALL_ID),
                .cseq = r->cseq,
                .path = sip__loc_str(r, SIP__LOC_PATH),
                .received = sip__loc_str(r, SIP__LOC_RECEIVED),
                .socket = sip__loc_str(r, SIP__LOC_SOCKET),
                .conn_id = r->conn_id,
                .instance = sip__loc_str(r, SIP__LOC_INSTANCE),
                .reg_id = r->reg_id,
                .user_agent = sip__loc_str(r, SIP__LOC_USER_AGENT),
                .updated = r->updated,
            };
            char *p;
            size_t len;
            rc = sip__wbind_encode(&b, op->aor, &p, &len);
            if (!rc) {
                sip__wframe_t h = {.type = SIP__WF_PUT, .id = ++st->seq};
                rc = sip__worker_to_hub(st->w, &h, p, len);
                free(p);
            }
            if (!rc) f->pending = 1;
        }
    } else if (op->kind == SIP__LOC_DEL) {
        for (size_t i = 0; i < op->nids; i++) {
            idrec_t *e = id_take(st, op->ids[i]);
            /* An expired binding leaves every index on its own (each expires it): only a
             * removal is shared. */
            if (e && e->expires > now && !rc) {
                rc = send_del(st, e);
                if (!rc) f->pending++;
            }
            free(e);
        }
    }
    if (rc) f->status = rc == SIP_ECLOSED ? SIP_EIO : rc;
    if (st->tail)
        st->tail->next = f;
    else
        st->head = f;
    st->tail = f;
    complete_ready(st);
}

static int all_done(void *arg)
{
    sip__hub_store_t *st = arg;
    return st->head == NULL || st->down;
}

static void hs_close(sip__loc_store_t *base)
{
    sip__hub_store_t *st = (sip__hub_store_t *)base;
    if (st->closed) return;
    st->closed = 1;
    /* A clean stop waits for the hub's answers to what is in flight (each is durable there
     * once answered); whatever stays unanswered fails. */
    if (st->head && !st->down) sip__worker_pump(st->w, CLOSE_WAIT_MS, all_done, st);
    sip__hub_store_down(st);
    sip__worker_store_detach(st->w, st);
}

static void hs_free(sip__loc_store_t *base)
{
    sip__hub_store_t *st = (sip__hub_store_t *)base;
    sip__worker_store_detach(st->w, st);
    for (size_t i = 0; st->ids && i <= st->mask; i++)
        while (st->ids[i]) {
            idrec_t *e = st->ids[i];
            st->ids[i] = e->next;
            free(e);
        }
    free(st->ids);
    sip_worker_unref(st->w);
    free(st);
}

static int hs_open(sip__loc_store_t **out, sip_location_t *loc, const sip_location_opts_t *opts,
                   int64_t now)
{
    (void)now;
    sip_worker_t *w = opts->worker;
    if (!w || sip__worker_loop(w) != loc->loop) return SIP_EINVAL;
    sip__hub_store_t *st = calloc(1, sizeof(*st));
    if (!st) return SIP_ENOMEM;
    st->base.ops = &sip__loc_hub_ops;
    st->loc = loc;
    st->mask = 255;
    if (!(st->ids = calloc(st->mask + 1, sizeof(*st->ids)))) {
        free(st);
        return SIP_ENOMEM;
    }
    st->w = sip_worker_ref(w);
    /* The index the hub gave at the handshake is loaded here, before create returns. */
    int rc = sip__worker_store_attach(w, st);
    if (rc) {
        st->closed = 1;
        hs_free(&st->base);
        return rc == SIP_EEXIST ? SIP_EINVAL : SIP_EIO;
    }
    if (!sip_worker_is_linked(w)) st->down = 1;
    *out = &st->base;
    return 0;
}

const sip__loc_store_ops_t sip__loc_hub_ops = {
    .name = "hub",
    .open = hs_open,
    .write = hs_write,
    .lookup = NULL,
    .close = hs_close,
    .free = hs_free,
};
