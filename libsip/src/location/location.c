/* SPDX-License-Identifier: MIT */
/* The location service (RFC 3261 §10.3, RFC 5626 §6): the memory index of bindings by AOR, their
 * expiry, lookups and writes. Stores (store.h) persist the writes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "location/store.h"
#include "sip/error.h"
#include "stats/stats_int.h"

/* The longest AOR key: "sip:" user "@" host ":" port, with room for escapes. */
#define KEY_MAX 512

void sip_location_opts_init(sip_location_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->batch_ms = 2;
    opts->expire_interval_ms = 1000;
}

int64_t sip__location_now(const sip_location_t *loc)
{
    return loc->now ? loc->now(loc->clock_user) : (int64_t)time(NULL);
}

/* ---- records ------------------------------------------------------------------------------ */

sip__loc_rec_t *sip__loc_rec_new(const sip_binding_t *b, const char *const str[SIP__LOC_NSTR],
                                 const size_t len[SIP__LOC_NSTR])
{
    size_t total = 0;
    for (int k = 0; k < SIP__LOC_NSTR; k++)
        total += len[k] + 1;
    if (total > SIP__LOC_STR_MAX) return NULL;
    sip__loc_rec_t *r = malloc(sizeof(*r) + total);
    if (!r) return NULL;
    r->next = NULL;
    r->aor = NULL;
    r->refs = 1;
    r->heap = UINT32_MAX;
    r->id = 0;
    r->expires = b->expires;
    r->updated = b->updated;
    r->conn_id = b->conn_id;
    r->cseq = b->cseq;
    r->reg_id = b->reg_id;
    r->q = (int16_t)b->q;
    size_t at = 0;
    for (int k = 0; k < SIP__LOC_NSTR; k++) {
        r->off[k] = (uint16_t)at;
        if (len[k]) memcpy(r->s + at, str[k], len[k]);
        r->s[at + len[k]] = '\0';
        at += len[k] + 1;
    }
    return r;
}

void sip__loc_rec_unref(sip__loc_rec_t *r)
{
    if (r && --r->refs == 0) free(r);
}

/* ---- the expiry heap ---------------------------------------------------------------------- */

static void heap_set(sip_location_t *loc, size_t i, sip__loc_rec_t *r)
{
    loc->heap[i] = r;
    r->heap = (uint32_t)i;
}

static void heap_up(sip_location_t *loc, size_t i)
{
    sip__loc_rec_t *r = loc->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (loc->heap[p]->expires <= r->expires) break;
        heap_set(loc, i, loc->heap[p]);
        i = p;
    }
    heap_set(loc, i, r);
}

static void heap_down(sip_location_t *loc, size_t i)
{
    sip__loc_rec_t *r = loc->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loc->nheap) break;
        if (c + 1 < loc->nheap && loc->heap[c + 1]->expires < loc->heap[c]->expires) c++;
        if (r->expires <= loc->heap[c]->expires) break;
        heap_set(loc, i, loc->heap[c]);
        i = c;
    }
    heap_set(loc, i, r);
}

static int heap_reserve(sip_location_t *loc)
{
    if (loc->nheap < loc->capheap) return 0;
    if (loc->capheap >= UINT32_MAX / 2) return SIP_ENOMEM;
    size_t cap = loc->capheap ? loc->capheap * 2 : 64;
    sip__loc_rec_t **h = realloc(loc->heap, cap * sizeof(*h));
    if (!h) return SIP_ENOMEM;
    loc->heap = h;
    loc->capheap = cap;
    return 0;
}

static void heap_push(sip_location_t *loc, sip__loc_rec_t *r)
{
    loc->heap[loc->nheap] = r;
    heap_up(loc, loc->nheap++);
}

static void heap_remove(sip_location_t *loc, sip__loc_rec_t *r)
{
    size_t i = r->heap;
    r->heap = UINT32_MAX;
    if (i == --loc->nheap) return;
    sip__loc_rec_t *last = loc->heap[loc->nheap];
    heap_set(loc, i, last);
    heap_up(loc, i);
    heap_down(loc, last->heap);
}

/* ---- the index ---------------------------------------------------------------------------- */

static sip__loc_aor_t *aor_find(const sip_location_t *loc, const char *key, size_t len, uint64_t h)
{
    for (sip__loc_aor_t *a = loc->buckets[h & loc->mask]; a; a = a->next)
        if (a->hash == h && a->len == len && !memcmp(a->key, key, len)) return a;
    return NULL;
}

static int index_grow(sip_location_t *loc)
{
    size_t cap = (loc->mask + 1) * 2;
    sip__loc_aor_t **b = calloc(cap, sizeof(*b));
    if (!b) return SIP_ENOMEM;
    for (size_t i = 0; i <= loc->mask; i++) {
        sip__loc_aor_t *a = loc->buckets[i];
        while (a) {
            sip__loc_aor_t *next = a->next;
            a->next = b[a->hash & (cap - 1)];
            b[a->hash & (cap - 1)] = a;
            a = next;
        }
    }
    free(loc->buckets);
    loc->buckets = b;
    loc->mask = cap - 1;
    return 0;
}

/* The entry of key, made when missing (empty until a binding is linked). */
static sip__loc_aor_t *aor_get(sip_location_t *loc, const char *key, size_t len)
{
    uint64_t h = sip__loc_hash(key, len);
    sip__loc_aor_t *a = aor_find(loc, key, len, h);
    if (a) return a;
    /* A load factor of one keeps chains short; a failed growth only makes them longer. */
    if (loc->naors > loc->mask) (void)index_grow(loc);
    if (!(a = malloc(sizeof(*a) + len + 1))) return NULL;
    a->hash = h;
    a->head = NULL;
    a->n = 0;
    a->len = (uint32_t)len;
    memcpy(a->key, key, len);
    a->key[len] = '\0';
    a->next = loc->buckets[h & loc->mask];
    loc->buckets[h & loc->mask] = a;
    loc->naors++;
    return a;
}

static void aor_drop_if_empty(sip_location_t *loc, sip__loc_aor_t *a)
{
    if (a->head) return;
    for (sip__loc_aor_t **p = &loc->buckets[a->hash & loc->mask]; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    loc->naors--;
    free(a);
}

static int effective_q(const sip__loc_rec_t *r)
{
    /* A contact without q is taken as q=1.0, the most preferred (RFC 3261 §16.6 leaves it to
     * the proxy; most proxies read it so). */
    return r->q < 0 ? 1000 : r->q;
}

/* Links r into a, ordered by q (highest first), then the most recent update first. Takes the
 * reference the caller gives. */
static void link_rec(sip_location_t *loc, sip__loc_aor_t *a, sip__loc_rec_t *r)
{
    sip__loc_rec_t **p = &a->head;
    int q = effective_q(r);
    while (*p && (effective_q(*p) > q || (effective_q(*p) == q && (*p)->updated > r->updated)))
        p = &(*p)->next;
    r->next = *p;
    *p = r;
    r->aor = a;
    a->n++;
    loc->nbindings++;
    sip__stat_inc(loc->closed ? NULL : loc->loop, SIP_STAT_BINDINGS); /* see sip_location_close */
    heap_push(loc, r);
}

/* Takes r out of the index; the index's reference is dropped. The AOR entry stays (the caller
 * drops it when empty). */
static void unlink_rec(sip_location_t *loc, sip__loc_rec_t *r)
{
    sip__loc_aor_t *a = r->aor;
    for (sip__loc_rec_t **p = &a->head; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    r->next = NULL;
    r->aor = NULL;
    a->n--;
    loc->nbindings--;
    sip__stat_dec(loc->closed ? NULL : loc->loop, SIP_STAT_BINDINGS);
    heap_remove(loc, r);
    sip__loc_rec_unref(r);
}

int sip__location_load(sip_location_t *loc, const char *key, size_t len, sip__loc_rec_t *r)
{
    sip__loc_aor_t *a;
    if (heap_reserve(loc) < 0 || !(a = aor_get(loc, key, len))) {
        sip__loc_rec_unref(r);
        return SIP_ENOMEM;
    }
    if (r->id >= loc->next_id) loc->next_id = r->id + 1;
    link_rec(loc, a, r);
    return 0;
}

/* ---- the service -------------------------------------------------------------------------- */

static void free_index(sip_location_t *loc)
{
    for (size_t i = 0; loc->buckets && i <= loc->mask; i++) {
        sip__loc_aor_t *a = loc->buckets[i];
        while (a) {
            sip__loc_aor_t *next = a->next;
            sip__loc_rec_t *r = a->head;
            while (r) {
                sip__loc_rec_t *rn = r->next;
                r->aor = NULL;
                r->next = NULL;
                sip__loc_rec_unref(r);
                r = rn;
            }
            free(a);
            a = next;
        }
    }
    free(loc->buckets);
    loc->buckets = NULL;
    free(loc->heap);
    loc->heap = NULL;
    loc->nheap = loc->capheap = loc->naors = loc->nbindings = 0;
    sip__loc_map_free(&loc->domains);
    sip__loc_map_free(&loc->aliases);
}

static void maybe_free(sip_location_t *loc)
{
    if (loc->refs > 0 || loc->pending > 0) return;
    if (loc->store) loc->store->ops->free(loc->store);
    free_index(loc);
    free(loc);
    sip__live_dec(SIP_LIVE_LOCATION);
}

void sip__location_release(sip_location_t *loc)
{
    loc->pending--;
    if (loc->pending == 0 && loc->closed) {
        sip_loop_t *lp = loc->loop;
        sip__loop_closing_end(lp);
        maybe_free(loc);
    }
}

static void timer_closed(uv_handle_t *h)
{
    sip__location_release(h->data);
}

static void expire_tick(uv_timer_t *t)
{
    sip_location_t *loc = t->data;
    sip_location_expire(loc);
}

static void child_close(sip__loop_child_t *c)
{
    sip_location_close((sip_location_t *)c);
}

int sip_location_create(sip_location_t **out, sip_loop_t *loop, const sip_location_opts_t *opts)
{
    sip_location_opts_t defaults;
    if (out) *out = NULL;
    if (!out || !loop) return SIP_EINVAL;
    if (!opts) {
        sip_location_opts_init(&defaults);
        opts = &defaults;
    }
    uv_loop_t *uv = sip_loop_get_uv(loop);
    if (!uv) return SIP_EINVAL;
    sip_location_t *loc = calloc(1, sizeof(*loc));
    if (!loc) return SIP_ENOMEM;
    sip__live_inc(SIP_LIVE_LOCATION);
    loc->refs = 1;
    loc->loop = loop;
    loc->now = opts->now;
    loc->clock_user = opts->clock_user;
    loc->expire_ms = opts->expire_interval_ms ? opts->expire_interval_ms : 1000;
    loc->next_id = 1;
    loc->mask = 1023;
    int rc = SIP_ENOMEM;
    if (!(loc->buckets = calloc(loc->mask + 1, sizeof(*loc->buckets)))) goto fail;
    /* One store at a time: a Redis store shares its bindings with other nodes, SQLite keeps
     * them for this one, a worker's hub store with the other workers. */
    if ((opts->db_path != NULL) + (opts->redis_url != NULL) + (opts->worker != NULL) > 1) {
        rc = SIP_EINVAL;
        goto fail;
    }
    if (opts->db_path) {
        rc = sip__loc_sqlite_ops.open(&loc->store, loc, opts, sip__location_now(loc));
        if (rc < 0) goto fail;
    } else if (opts->worker) {
        /* A worker process: the hub's index now, writes through the hub (sip/worker.h). */
        rc = sip__loc_hub_ops.open(&loc->store, loc, opts, sip__location_now(loc));
        if (rc < 0) goto fail;
    }
    if (opts->redis_url) {
        rc = sip__loc_redis_ops.open(&loc->store, loc, opts, sip__location_now(loc));
        if (rc < 0) goto fail;
    }
    /* Expiry runs on a timer that does not keep the loop running on its own. */
    uv_timer_init(uv, &loc->expire_timer);
    loc->expire_timer.data = loc;
    loc->pending++;
    uv_timer_start(&loc->expire_timer, expire_tick, loc->expire_ms, loc->expire_ms);
    uv_unref((uv_handle_t *)&loc->expire_timer);
    loc->child.close = child_close;
    sip__loop_add_child(loop, &loc->child);
    *out = loc;
    return 0;
fail:
    loc->refs = 0;
    maybe_free(loc);
    return rc;
}

sip_location_t *sip_location_ref(sip_location_t *loc)
{
    if (loc) loc->refs++;
    return loc;
}

void sip_location_unref(sip_location_t *loc)
{
    if (!loc || --loc->refs > 0) return;
    loc->refs++; /* closing runs callbacks, which may take and drop references */
    sip_location_close(loc);
    loc->refs--;
    maybe_free(loc);
}

void sip_location_close(sip_location_t *loc)
{
    if (!loc || loc->closed) return;
    loc->closed = 1;
    /* The bindings leave the loop's gauge now: those left in memory serve only counts, and the
     * loop may be gone before the memory is. */
    sip__stat_add(loc->loop, SIP_STAT_BINDINGS, -(int64_t)loc->nbindings);
    loc->refs++;
    sip__loop_remove_child(loc->loop, &loc->child);
    /* The memory stays until the last reference goes: handles a script holds keep answering
     * their counts; writes and lookups answer SIP_ECLOSED. */
    sip__loop_closing_begin(loc->loop);
    uv_timer_stop(&loc->expire_timer);
    uv_close((uv_handle_t *)&loc->expire_timer, timer_closed);
    if (loc->store) loc->store->ops->close(loc->store);
    loc->refs--;
}

sip_loop_t *sip_location_get_loop(sip_location_t *loc)
{
    return loc ? loc->loop : NULL;
}

size_t sip_location_count(const sip_location_t *loc)
{
    return loc ? loc->nbindings : 0;
}

size_t sip_location_aor_count(const sip_location_t *loc)
{
    return loc ? loc->naors : 0;
}

/* ---- writes ------------------------------------------------------------------------------- */

void sip__loc_op_free(sip__loc_op_t *op)
{
    if (!op) return;
    sip__loc_rec_unref(op->rec);
    for (size_t i = 0; i < op->nids; i++)
        sip__loc_rec_unref(op->olds[i]);
    free(op);
}

void sip__location_op_done(sip_location_t *loc, sip__loc_op_t *op, int status)
{
    /* The write did not persist: the binding it made must not be served either (the one it
     * replaced is still in the database, and back after a restart). */
    if (status < 0 && op->kind == SIP__LOC_PUT && op->rec->aor) {
        sip__loc_aor_t *a = op->rec->aor;
        unlink_rec(loc, op->rec);
        aor_drop_if_empty(loc, a);
    }
    if (op->cb) op->cb(loc, status, op->user);
    if (op->user_free) op->user_free(op->user);
    sip__loc_op_free(op);
}

static sip__loc_op_t *op_new(sip__loc_op_kind_t kind, size_t nids, const char *key, size_t len)
{
    sip__loc_op_t *op =
        calloc(1, sizeof(*op) + nids * (sizeof(uint64_t) + sizeof(void *)) + (key ? len + 1 : 0));
    if (!op) return NULL;
    op->kind = kind;
    op->nids = 0;
    op->olds = (sip__loc_rec_t **)(op->ids + nids);
    if (key) {
        char *k = (char *)(op->olds + nids);
        memcpy(k, key, len);
        k[len] = '\0';
        op->aor = k;
    }
    return op;
}

/* Records r as removed by op (its row id and a reference). */
static void op_add_old(sip__loc_op_t *op, sip__loc_rec_t *r)
{
    r->refs++;
    op->olds[op->nids] = r;
    op->ids[op->nids++] = r->id;
}

/* 0 while the store cannot take writes (Redis away): the write is then refused before the
 * memory changes, so that what the node serves stays what the store holds. */
static int store_ready(sip_location_t *loc)
{
    return !loc->store || !loc->store->ops->ready || loc->store->ops->ready(loc->store);
}

/* Completes a write the store cannot take: nothing changed, the callback hears SIP_EIO. */
static int refuse_write(sip_location_t *loc, sip_location_done_cb cb, void *user,
                        sip_free_fn user_free)
{
    sip__loc_op_t *op = op_new(SIP__LOC_NOP, 0, NULL, 0);
    if (!op) {
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    op->cb = cb;
    op->user = user;
    op->user_free = user_free;
    loc->refs++;
    sip__location_op_done(loc, op, SIP_EIO);
    sip_location_unref(loc);
    return 0;
}

/* Hands a write to the store, or completes it at once in memory. */
static void submit(sip_location_t *loc, sip__loc_op_t *op)
{
    if (loc->store) {
        loc->store->ops->write(loc->store, op);
        return;
    }
    loc->refs++;
    sip__location_op_done(loc, op, 0);
    sip_location_unref(loc);
}

static int contact_equal(const sip_uri_t *c, const sip__loc_rec_t *r)
{
    sip_uri_t u;
    const char *s = sip__loc_str(r, SIP__LOC_CONTACT);
    return sip_uri_parse(&u, s, strlen(s)) == 0 && sip_uri_equal(c, &u);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The name of the first of a binding's strings with a line break, or NULL. The registrar's 2xx
 * and a proxy's Route are made of them as they are: a CR or LF would end the header line. */
static const char *broken_line(const sip_binding_t *b)
{
    const char *names[] = {"params", "call_id",  "path",      "received",
                           "socket", "instance", "user_agent"};
    const char *vals[] = {b->params, b->call_id,  b->path,      b->received,
                          b->socket, b->instance, b->user_agent};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        if (vals[i] && strpbrk(vals[i], "\r\n")) return names[i];
    return NULL;
}

int sip_location_put(sip_location_t *loc, const sip_binding_t *b, sip_location_done_cb cb,
                     void *user, sip_free_fn user_free)
{
    char key[KEY_MAX];
    sip_uri_t contact;
    sip__loc_rec_t *r = NULL;
    sip__loc_op_t *op = NULL;
    int rc = SIP_EINVAL;

    if (!loc || !b || !b->aor || !b->contact || !*b->contact || b->q < -1 || b->q > 1000) goto fail;
    rc = SIP_ECLOSED;
    if (loc->closed) goto fail;
    const char *bad = broken_line(b);
    if (bad) {
        sip_log(loc->loop, SIP_LOG_WARN, "location", "binding of %s refused: a line break in %s",
                b->aor, bad);
        rc = SIP_EINVAL;
        goto fail;
    }
    int klen = sip__loc_key_str(loc, b->aor, 0, key, sizeof(key));
    if (klen < 0) {
        rc = klen == SIP_ENOSPC ? SIP_EINVAL : klen;
        goto fail;
    }
    rc = SIP_EURI;
    if (sip_uri_parse(&contact, b->contact, strlen(b->contact)) < 0) goto fail;
    if (!store_ready(loc)) return refuse_write(loc, cb, user, user_free);
    int64_t now = sip__location_now(loc);
    int removing = b->expires <= now;
    const char *instance = nz(b->instance);

    /* Everything that can fail is done before the index changes. */
    rc = SIP_ENOMEM;
    if (!removing) {
        const char *str[SIP__LOC_NSTR] = {b->contact,  nz(b->params),    nz(b->call_id),
                                          nz(b->path), nz(b->received),  nz(b->socket),
                                          instance,    nz(b->user_agent)};
        size_t len[SIP__LOC_NSTR];
        size_t total = 0;
        for (int k = 0; k < SIP__LOC_NSTR; k++)
            total += (len[k] = strlen(str[k])) + 1;
        if (total > SIP__LOC_STR_MAX) {
            rc = SIP_EINVAL;
            goto fail;
        }
        sip_binding_t copy = *b;
        if (!copy.updated) copy.updated = now;
        if (!(r = sip__loc_rec_new(&copy, str, len))) goto fail;
        if (heap_reserve(loc) < 0) goto fail;
    }
    if (loc->store) {
        op = op_new(removing ? SIP__LOC_DEL : SIP__LOC_PUT, 1, key, (size_t)klen);
    } else {
        op = op_new(SIP__LOC_NOP, 0, NULL, 0);
    }
    if (!op) goto fail;
    sip__loc_aor_t *a = removing ? aor_find(loc, key, (size_t)klen, sip__loc_hash(key, klen))
                                 : aor_get(loc, key, (size_t)klen);
    if (!removing && !a) goto fail;

    /* RFC 5626 §6: a binding with an instance replaces the one of the same instance and
     * reg-id; else RFC 3261 §10.3 step 7: the one with an equal Contact URI. */
    sip__loc_rec_t *old = NULL;
    for (sip__loc_rec_t *o = a ? a->head : NULL; o && !old; o = o->next) {
        if (*instance
                ? (o->reg_id == b->reg_id && !strcmp(sip__loc_str(o, SIP__LOC_INSTANCE), instance))
                : contact_equal(&contact, o))
            old = o;
    }
    if (removing) {
        if (old && loc->store) op_add_old(op, old);
        if (!old || !loc->store) op->kind = SIP__LOC_NOP;
        if (old) {
            unlink_rec(loc, old);
            aor_drop_if_empty(loc, a);
        }
    } else {
        /* A replacement is a new row, so that row order is write order: a restart loads
         * bindings of equal q and update time in the order they were written. */
        r->id = loc->next_id++;
        if (old && loc->store) op_add_old(op, old);
        if (old) unlink_rec(loc, old);
        link_rec(loc, a, r);
        if (op->kind == SIP__LOC_PUT) {
            r->refs++;
            op->rec = r;
        }
    }
    op->cb = cb;
    op->user = user;
    op->user_free = user_free;
    submit(loc, op);
    return 0;
fail:
    sip__loc_rec_unref(r);
    free(op);
    if (user_free) user_free(user);
    return rc;
}

int sip_location_remove(sip_location_t *loc, const char *aor, const char *contact,
                        sip_location_done_cb cb, void *user, sip_free_fn user_free)
{
    char key[KEY_MAX];
    sip_uri_t c;
    sip__loc_op_t *op = NULL;
    int rc = SIP_EINVAL;

    if (!loc || !aor) goto fail;
    rc = SIP_ECLOSED;
    if (loc->closed) goto fail;
    int klen = sip__loc_key_str(loc, aor, 0, key, sizeof(key));
    if (klen < 0) {
        rc = klen == SIP_ENOSPC ? SIP_EINVAL : klen;
        goto fail;
    }
    rc = SIP_EURI;
    if (contact && sip_uri_parse(&c, contact, strlen(contact)) < 0) goto fail;
    if (!store_ready(loc)) return refuse_write(loc, cb, user, user_free);
    sip__loc_aor_t *a = aor_find(loc, key, (size_t)klen, sip__loc_hash(key, klen));
    size_t n = 0;
    for (sip__loc_rec_t *o = a ? a->head : NULL; o; o = o->next)
        if (!contact || contact_equal(&c, o)) n++;
    rc = SIP_ENOMEM;
    if (!(op = op_new(loc->store && n ? SIP__LOC_DEL : SIP__LOC_NOP, n, key, (size_t)klen)))
        goto fail;
    sip__loc_rec_t **p = a ? &a->head : NULL;
    while (p && *p) {
        sip__loc_rec_t *o = *p;
        if (contact && !contact_equal(&c, o)) {
            p = &o->next;
            continue;
        }
        if (op->kind == SIP__LOC_DEL) op_add_old(op, o);
        unlink_rec(loc, o); /* *p is now the next one */
    }
    if (a) aor_drop_if_empty(loc, a);
    op->cb = cb;
    op->user = user;
    op->user_free = user_free;
    submit(loc, op);
    return 0;
fail:
    free(op);
    if (user_free) user_free(user);
    return rc;
}

size_t sip_location_expire(sip_location_t *loc)
{
    if (!loc || loc->closed) return 0;
    int64_t now = sip__location_now(loc);
    /* The expired bindings are the heap's top: taking them costs their number, not the
     * index's size. They are chained (through their unused links) to be counted first, so
     * the store gets their ids in one write. */
    sip__loc_rec_t *gone = NULL;
    size_t count = 0;
    while (loc->nheap && loc->heap[0]->expires <= now) {
        sip__loc_rec_t *r = loc->heap[0];
        sip__loc_aor_t *a = r->aor;
        r->refs++;
        unlink_rec(loc, r);
        aor_drop_if_empty(loc, a);
        r->next = gone;
        gone = r;
        count++;
    }
    /* Without memory for the write the rows stay: expired rows are never loaded, and the
     * next start deletes them. */
    sip__loc_op_t *op = loc->store && count ? op_new(SIP__LOC_DEL, count, NULL, 0) : NULL;
    while (gone) {
        sip__loc_rec_t *next = gone->next;
        gone->next = NULL;
        if (op) op_add_old(op, gone);
        sip__loc_rec_unref(gone);
        gone = next;
    }
    if (op) submit(loc, op);
    return count;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static int make_set(sip_location_t *loc, const char *key, size_t klen, sip_bindings_t **out)
{
    sip__loc_aor_t *a = aor_find(loc, key, klen, sip__loc_hash(key, klen));
    int64_t now = sip__location_now(loc);
    size_t n = 0;
    for (sip__loc_rec_t *r = a ? a->head : NULL; r; r = r->next)
        if (r->expires > now) n++;
    /* One allocation: the header, the bindings, the records they point into, the key. */
    sip_bindings_t *set =
        malloc(sizeof(*set) + n * (sizeof(sip_binding_t) + sizeof(sip__loc_rec_t *)) + klen + 1);
    if (!set) return SIP_ENOMEM;
    set->refs = 1;
    set->n = n;
    set->recs = (sip__loc_rec_t **)(set->b + n);
    char *k = (char *)(set->recs + n);
    memcpy(k, key, klen);
    k[klen] = '\0';
    set->aor = k;
    size_t i = 0;
    for (sip__loc_rec_t *r = a ? a->head : NULL; r; r = r->next) {
        if (r->expires <= now) continue;
        sip_binding_t *b = &set->b[i];
        r->refs++;
        set->recs[i++] = r;
        b->aor = k;
        b->contact = sip__loc_str(r, SIP__LOC_CONTACT);
        b->params = sip__loc_str(r, SIP__LOC_PARAMS);
        b->expires = r->expires;
        b->q = r->q;
        b->call_id = sip__loc_str(r, SIP__LOC_CALL_ID);
        b->cseq = r->cseq;
        b->path = sip__loc_str(r, SIP__LOC_PATH);
        b->received = sip__loc_str(r, SIP__LOC_RECEIVED);
        b->socket = sip__loc_str(r, SIP__LOC_SOCKET);
        b->conn_id = r->conn_id;
        b->instance = sip__loc_str(r, SIP__LOC_INSTANCE);
        b->reg_id = r->reg_id;
        b->user_agent = sip__loc_str(r, SIP__LOC_USER_AGENT);
        b->updated = r->updated;
    }
    sip__live_inc(SIP_LIVE_BINDINGS);
    *out = set;
    return 0;
}

int sip_location_lookup(sip_location_t *loc, const char *uri, sip_location_lookup_cb cb, void *user,
                        sip_free_fn user_free)
{
    char key[KEY_MAX];
    sip_bindings_t *set = NULL;
    int rc = SIP_EINVAL;
    if (!loc || !uri || !cb) goto fail;
    rc = SIP_ECLOSED;
    if (loc->closed) goto fail;
    int klen = sip__loc_key_str(loc, uri, 1, key, sizeof(key));
    if (klen < 0) {
        rc = klen == SIP_ENOSPC ? SIP_EURI : klen;
        goto fail;
    }
    if (loc->store && loc->store->ops->lookup)
        return loc->store->ops->lookup(loc->store, key, cb, user, user_free);
    if ((rc = make_set(loc, key, (size_t)klen, &set)) < 0) goto fail;
    loc->refs++;
    cb(loc, set->n ? 0 : SIP_ENOENT, set, user);
    if (user_free) user_free(user);
    sip_bindings_unref(set);
    sip_location_unref(loc);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_location_lookup_now(sip_bindings_t **out, sip_location_t *loc, const sip_uri_t *uri)
{
    char key[KEY_MAX];
    if (out) *out = NULL;
    if (!out || !loc || !uri) return SIP_EINVAL;
    if (loc->closed) return SIP_ECLOSED;
    if (loc->store && loc->store->ops->lookup) return SIP_ENOTSUP;
    int klen = sip__loc_key(loc, uri, key, sizeof(key));
    if (klen < 0) return klen == SIP_ENOSPC ? SIP_EURI : klen;
    if (loc->aliases.n) {
        const sip__loc_ment_t *a = sip__loc_map_get(&loc->aliases, key, (size_t)klen);
        if (a) {
            klen = (int)strlen(a->val);
            memcpy(key, a->val, (size_t)klen + 1);
        }
    }
    return make_set(loc, key, (size_t)klen, out);
}

/* ---- sets --------------------------------------------------------------------------------- */

sip_bindings_t *sip_bindings_ref(sip_bindings_t *set)
{
    if (set) set->refs++;
    return set;
}

void sip_bindings_unref(sip_bindings_t *set)
{
    if (!set || --set->refs > 0) return;
    for (size_t i = 0; i < set->n; i++)
        sip__loc_rec_unref(set->recs[i]);
    free(set);
    sip__live_dec(SIP_LIVE_BINDINGS);
}

size_t sip_bindings_count(const sip_bindings_t *set)
{
    return set ? set->n : 0;
}

const sip_binding_t *sip_bindings_at(const sip_bindings_t *set, size_t i)
{
    return set && i < set->n ? &set->b[i] : NULL;
}

const char *sip_bindings_aor(const sip_bindings_t *set)
{
    return set ? set->aor : NULL;
}

/* ---- writes made elsewhere ------------------------------------------------------------------ */

/* The binding of a that b replaces (sip_location_put's rule), or NULL. */
static sip__loc_rec_t *find_replaced(sip__loc_aor_t *a, const sip_binding_t *b,
                                     const sip_uri_t *contact)
{
    const char *instance = nz(b->instance);
    for (sip__loc_rec_t *o = a ? a->head : NULL; o; o = o->next) {
        if (*instance
                ? (o->reg_id == b->reg_id && !strcmp(sip__loc_str(o, SIP__LOC_INSTANCE), instance))
                : contact_equal(contact, o))
            return o;
    }
    return NULL;
}

int sip__location_apply_put(sip_location_t *loc, const sip_binding_t *b)
{
    sip_uri_t contact;
    if (!loc || loc->closed || !b || !b->aor || !*b->aor || !b->contact || !*b->contact ||
        b->q < -1 || b->q > 1000 || broken_line(b))
        return SIP_EINVAL;
    size_t klen = strlen(b->aor);
    if (klen >= KEY_MAX || sip_uri_parse(&contact, b->contact, strlen(b->contact)) < 0)
        return SIP_EINVAL;
    int64_t now = sip__location_now(loc);
    sip__loc_aor_t *a = aor_find(loc, b->aor, klen, sip__loc_hash(b->aor, klen));
    /* An expired binding (another node wrote it a while ago, or it went with its TTL) is a
     * removal, as in sip_location_put(). */
    if (b->expires <= now) {
        sip__loc_rec_t *old = find_replaced(a, b, &contact);
        if (old) {
            unlink_rec(loc, old);
            aor_drop_if_empty(loc, a);
        }
        return 0;
    }
    const char *str[SIP__LOC_NSTR] = {b->contact,      nz(b->params),    nz(b->call_id),
                                      nz(b->path),     nz(b->received),  nz(b->socket),
                                      nz(b->instance), nz(b->user_agent)};
    size_t len[SIP__LOC_NSTR];
    size_t total = 0;
    for (int k = 0; k < SIP__LOC_NSTR; k++)
        total += (len[k] = strlen(str[k])) + 1;
    if (total > SIP__LOC_STR_MAX) return SIP_EINVAL;
    sip_binding_t copy = *b;
    if (!copy.updated) copy.updated = now;
    sip__loc_rec_t *r = sip__loc_rec_new(&copy, str, len);
    if (!r) return SIP_ENOMEM;
    if (heap_reserve(loc) < 0 || (!a && !(a = aor_get(loc, b->aor, klen)))) {
        sip__loc_rec_unref(r);
        return SIP_ENOMEM;
    }
    sip__loc_rec_t *old = find_replaced(a, b, &contact);
    r->id = loc->next_id++;
    if (old) unlink_rec(loc, old);
    link_rec(loc, a, r);
    return 0;
}

int sip__location_apply_del(sip_location_t *loc, const char *aor, const char *contact)
{
    sip_uri_t c;
    if (!loc || loc->closed || !aor || !*aor) return SIP_EINVAL;
    size_t klen = strlen(aor);
    if (contact && sip_uri_parse(&c, contact, strlen(contact)) < 0) return SIP_EINVAL;
    sip__loc_aor_t *a = aor_find(loc, aor, klen, sip__loc_hash(aor, klen));
    size_t n = 0;
    sip__loc_rec_t **p = a ? &a->head : NULL;
    while (p && *p) {
        sip__loc_rec_t *o = *p;
        if (contact && !contact_equal(&c, o)) {
            p = &o->next;
            continue;
        }
        unlink_rec(loc, o); /* *p is now the next one */
        n++;
    }
    if (a) aor_drop_if_empty(loc, a);
    return n ? 0 : SIP_ENOENT;
}

void sip__location_apply_clear(sip_location_t *loc)
{
    if (!loc) return;
    for (size_t i = 0; loc->buckets && i <= loc->mask; i++) {
        while (loc->buckets[i]) {
            sip__loc_aor_t *a = loc->buckets[i];
            while (a->head)
                unlink_rec(loc, a->head);
            aor_drop_if_empty(loc, a);
        }
    }
}
