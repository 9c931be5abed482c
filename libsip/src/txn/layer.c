/* SPDX-License-Identifier: MIT */
/* The transaction layer: creation and close, the clock and timer heap, the Call-ID table,
 * dispatch of received messages, stateless sending. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "stats/stats_int.h"
#include "transport/raw.h"
#include "txn/txn_int.h"

void sip_txn_opts_init(sip_txn_opts_t *o)
{
    if (!o) return;
    memset(o, 0, sizeof(*o));
    o->t1_ms = 500;
    o->t2_ms = 4000;
    /* RFC 3261 §17.1.2.2: T4 is 5 s, the longest a message stays in the network. */
    o->t4_ms = 5000;
    o->timer_100_ms = 200;
    /* RFC 3261 §9.2: a UAS answers the cancelled INVITE 487 itself. */
    o->cancel_keeps_invite = 0;
}

/* ---- the default clock: one uv timer ---------------------------------------------------- */

static uint64_t uv_clock_now(void *user)
{
    sip_txn_layer_t *l = user;
    return uv_now(l->uvt.loop);
}

static void on_uv_timer(uv_timer_t *h)
{
    sip_txn_layer_t *l = h->data;
    void (*fire)(void *) = (void (*)(void *))l->uvt_fire;
    if (fire) fire(l);
}

static void uv_clock_start(void *user, uint64_t delay_ms, void (*fire)(void *), void *arg)
{
    sip_txn_layer_t *l = user;
    (void)arg; /* always the layer */
    l->uvt_fire = (void (*)(void))fire;
    uv_timer_start(&l->uvt, on_uv_timer, delay_ms, 0);
}

static void uv_clock_stop(void *user)
{
    sip_txn_layer_t *l = user;
    uv_timer_stop(&l->uvt);
}

uint64_t sip__txn_now(sip_txn_layer_t *l)
{
    return l->clock.now_ms(l->clock.user);
}

/* ---- the timer heap ---------------------------------------------------------------------- */

/* End timers (B, D, F, H, I, J, K, L, M) are rounded up to the layer's quantum so that a busy
 * layer ends a batch of transactions per wake-up instead of waking the loop for each one (at
 * 2,000 calls/s two transactions end every half millisecond); they only bound how long a
 * transaction waits, and a few tens of milliseconds later changes nothing. Retransmissions keep
 * their exact time. */
static inline uint64_t due(const sip_txn_layer_t *l, const sip_txn_t *t)
{
    uint64_t e = t->t_end;
    uint64_t q = l->end_quantum;
    if (q && e != SIP__TXN_NEVER) e += (q - e % q) % q;
    return t->t_retx < e ? t->t_retx : e;
}

/* The heap holds each deadline beside its transaction, so that sifting compares keys in one
 * array instead of visiting transactions all over memory (a busy layer has ~10^5 of them). */
static void heap_set(sip_txn_layer_t *l, size_t i, sip__txn_heap_entry_t e)
{
    l->heap[i] = e;
    e.t->hidx = (int)i;
}

static void sift_up(sip_txn_layer_t *l, size_t i)
{
    sip__txn_heap_entry_t e = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p].key <= e.key) break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, e);
}

static void sift_down(sip_txn_layer_t *l, size_t i)
{
    sip__txn_heap_entry_t e = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap) break;
        if (c + 1 < l->nheap && l->heap[c + 1].key < l->heap[c].key) c++;
        if (l->heap[c].key >= e.key) break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, e);
}

static void heap_remove(sip_txn_layer_t *l, sip_txn_t *t)
{
    if (t->hidx < 0) return;
    size_t i = (size_t)t->hidx;
    t->hidx = -1;
    sip__txn_heap_entry_t last = l->heap[--l->nheap];
    if (i == l->nheap) return;
    heap_set(l, i, last);
    sift_up(l, i);
    sift_down(l, (size_t)last.t->hidx);
}

/* Makes room for every live transaction in the heap, so filing one never fails later. */
static int heap_reserve(sip_txn_layer_t *l, size_t n)
{
    if (n <= l->heap_cap) return 0;
    size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    sip__txn_heap_entry_t *h = realloc(l->heap, cap * sizeof(*h));
    if (!h) return SIP_ENOMEM;
    l->heap = h;
    l->heap_cap = cap;
    return 0;
}

static void layer_fire(void *arg);

/* Keeps the clock's single wake-up at the earliest deadline. */
static void schedule(sip_txn_layer_t *l)
{
    if (l->closed || l->firing) return;
    uint64_t d = l->nheap ? l->heap[0].key : SIP__TXN_NEVER;
    if (d == l->armed) return;
    l->armed = d;
    if (d == SIP__TXN_NEVER) {
        l->clock.stop_timer(l->clock.user);
        return;
    }
    uint64_t now = sip__txn_now(l);
    l->clock.start_timer(l->clock.user, d > now ? d - now : 0, layer_fire, l);
}

void sip__txn_timers_changed(sip_txn_t *t)
{
    sip_txn_layer_t *l = t->layer;
    if (!l) return;
    uint64_t key = due(l, t);
    if (key == SIP__TXN_NEVER) {
        heap_remove(l, t);
    } else if (t->hidx < 0) {
        /* heap_reserve() at creation guarantees the room. */
        heap_set(l, l->nheap++, (sip__txn_heap_entry_t){key, t});
        sift_up(l, (size_t)t->hidx);
    } else {
        l->heap[t->hidx].key = key;
        sift_up(l, (size_t)t->hidx);
        sift_down(l, (size_t)t->hidx);
    }
    schedule(l);
}

static void layer_fire(void *arg)
{
    sip_txn_layer_t *l = arg;
    if (l->closed) return;
    l->armed = SIP__TXN_NEVER;
    l->refs++;
    l->firing = 1;
    uint64_t now = sip__txn_now(l);
    while (!l->closed && l->nheap && l->heap[0].key <= now) {
        sip_txn_t *t = l->heap[0].t;
        t->refs++;
        if (t->flags & SIP__TXN_CLIENT)
            sip__txn_client_timer(t, now);
        else
            sip__txn_server_timer(t, now);
        /* Every handler moves or clears the deadlines it served (and re-files the transaction);
         * never spin on one that is still first and due. */
        if (t->layer && t->hidx == 0 && l->heap[0].key <= now) {
            if (due(l, t) <= now) {
                t->t_retx = t->t_end = SIP__TXN_NEVER;
                heap_remove(l, t);
            } else {
                sip__txn_timers_changed(t);
            }
        }
        sip_txn_unref(t);
    }
    l->firing = 0;
    schedule(l);
    sip_txn_layer_unref(l);
}

/* ---- the Call-ID table ------------------------------------------------------------------- */

uint32_t sip__txn_hash(sip_str_t s)
{
    /* FNV-1a */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 16777619u;
    }
    return h;
}

static void grow_table(sip_txn_layer_t *l)
{
    size_t n = l->nbuckets * 2;
    sip_txn_t **b = calloc(n, sizeof(*b));
    if (!b) return; /* longer chains, still correct */
    for (size_t i = 0; i < l->nbuckets; i++) {
        sip_txn_t *t = l->buckets[i];
        while (t) {
            sip_txn_t *next = t->hnext;
            size_t j = t->hash & (n - 1);
            t->hnext = b[j];
            b[j] = t;
            t = next;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->nbuckets = n;
}

static void unlink_txn(sip_txn_layer_t *l, sip_txn_t *t)
{
    sip_txn_t **pp = &l->buckets[t->hash & (l->nbuckets - 1)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp) *pp = t->hnext;
    t->hnext = NULL;
}

sip_txn_t *sip__txn_bucket(sip_txn_layer_t *l, uint32_t hash)
{
    return l->buckets[hash & (l->nbuckets - 1)];
}

/* Copies v into the key's buffer at *pos. */
static sip_str_t key_put(char *buf, size_t *pos, sip_str_t v)
{
    if (!v.len) return SIP_STR_NULL;
    sip_str_t out = {buf + *pos, v.len};
    memcpy(buf + *pos, v.ptr, v.len);
    *pos += v.len;
    return out;
}

int sip__txn_key_method_is(const sip__txn_key_t *k, sip_method_t m, sip_str_t name)
{
    if ((sip_method_t)k->method != m) return 0;
    return m != SIP_METHOD_UNKNOWN || sip_str_eq(k->method_str, name);
}

sip_txn_t *sip__txn_new(sip_txn_layer_t *l, sip_msg_t *req, const sip_txn_opts_t *opts)
{
    if (heap_reserve(l, l->count + 1)) return NULL;
    /* The key: what matching needs of the request, in the transaction's own allocation. */
    const sip_via_t *v = sip_msg_get_via(req);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    const sip_addr_t *from = sip_msg_get_from(req), *to = sip_msg_get_to(req);
    sip_method_t m = sip_msg_get_method(req);
    sip_str_t src[8] = {
        v ? v->branch : SIP_STR_NULL,
        v ? v->host : SIP_STR_NULL,
        m == SIP_METHOD_UNKNOWN ? sip_msg_get_method_str(req) : SIP_STR_NULL,
        sip_msg_get_call_id(req),
        from ? from->tag : SIP_STR_NULL,
        to ? to->tag : SIP_STR_NULL,
        SIP_STR_NULL,
        SIP_STR_NULL,
    };
    if (!sip__txn_has_cookie(src[0])) {
        /* RFC 3261 §17.2.3: RFC 2543 requests match on the Request-URI and the whole top Via. */
        const sip_uri_t *u = sip_msg_get_uri(req);
        const sip_header_t *h = sip_msg_header_at(req, SIP_HDR_VIA, 0);
        if (u) src[6] = u->raw;
        if (h) src[7] = sip_header_get_value(h);
    }
    size_t klen = 0;
    for (size_t i = 0; i < 8; i++)
        klen += src[i].len;
    sip_txn_t *t = calloc(1, sizeof(*t) + klen);
    if (!t) return NULL;
    sip__live_inc(SIP_LIVE_TXN);
    size_t pos = 0;
    t->key.branch = key_put(t->kbuf, &pos, src[0]);
    t->key.host = key_put(t->kbuf, &pos, src[1]);
    t->key.method_str = key_put(t->kbuf, &pos, src[2]);
    t->key.call_id = key_put(t->kbuf, &pos, src[3]);
    t->key.from_tag = key_put(t->kbuf, &pos, src[4]);
    t->key.to_tag = key_put(t->kbuf, &pos, src[5]);
    t->key.ruri = key_put(t->kbuf, &pos, src[6]);
    t->key.via = key_put(t->kbuf, &pos, src[7]);
    t->key.seq = cs ? cs->seq : 0;
    t->key.port = v ? v->port : 0;
    t->key.method = (uint8_t)m;
    if (l->count >= l->nbuckets) grow_table(l);
    t->layer = l;
    t->req = sip_msg_ref(req);
    t->t_retx = t->t_end = SIP__TXN_NEVER;
    const sip_txn_opts_t *o = opts ? opts : &l->opts;
    /* A zero field of per-transaction options means the layer's value (never zero). */
    t->t1 = o->t1_ms ? o->t1_ms : l->opts.t1_ms;
    t->t2 = o->t2_ms ? o->t2_ms : l->opts.t2_ms;
    t->t4 = o->t4_ms ? o->t4_ms : l->opts.t4_ms;
    t->hash = sip__txn_hash(t->key.call_id);
    t->hidx = -1;
    t->refs = 1;
    t->flags = SIP__TXN_LAYER_REF;
    t->state = SIP__TXN_NEW;
    size_t i = t->hash & (l->nbuckets - 1);
    t->hnext = l->buckets[i];
    l->buckets[i] = t;
    l->count++;
    sip__stat_born(l->loop, SIP_STAT_TXN_CREATED, SIP_STAT_TXN_ACTIVE);
    return t;
}

int sip__txn_compact(sip_txn_t *t, sip_msg_t *keep, const sip_netinfo_t *ni, sip_str_t tag)
{
    if (t->flags & SIP__TXN_IDLE) return 0;
    if (keep && !ni) ni = sip_msg_get_netinfo(keep);
    /* Bytes are only worth keeping when they can be resent on their own. They are the ones the
     * transport just sent when it still has them; otherwise one print into a stack buffer sizes
     * and fills them for the usual message (a larger one prints twice). */
    sip_txn_layer_t *l = t->layer;
    char buf[2048];
    const char *src = buf;
    size_t sent_len;
    int n = 0;
    if (keep && ni) {
        if (l && l->io.last_wire && l->io.last_wire(l->io.ctx, keep, &src, &sent_len) == 0 &&
            sent_len < INT_MAX) {
            n = (int)sent_len;
        } else {
            src = buf;
            n = sip_msg_print(keep, buf, sizeof(buf));
            if (n < 0) n = 0;
        }
    }
    size_t nl = ni ? strnlen(ni->server_name, sizeof(ni->server_name) - 1) : 0;
    sip__txn_wire_t *w = malloc(sizeof(*w) + (size_t)n + 1 + tag.len + nl);
    if (!w) return SIP_ENOMEM;
    if (src != buf || (size_t)n < sizeof(buf))
        memcpy(w->data, src, (size_t)n);
    else if (sip_msg_print(keep, w->data, (size_t)n + 1) != n)
        n = 0;
    w->len = (size_t)n;
    w->has_ni = ni != NULL;
    if (ni)
        memcpy(w->ni, ni, sizeof(w->ni));
    else
        memset(w->ni, 0, sizeof(w->ni));
    memcpy(w->data + n, tag.ptr ? tag.ptr : "", tag.len);
    w->to_tag = (sip_str_t){w->data + n, tag.len};
    if (nl) memcpy(w->data + n + tag.len, ni->server_name, nl);
    w->server_name = (sip_str_t){w->data + n + tag.len, nl};
    t->wire = w;
    t->flags |= SIP__TXN_IDLE;
    /* The message stays only when there was no way to keep it as bytes (rare: no netinfo). */
    sip_msg_t *stay = keep && !n ? sip_msg_ref(keep) : NULL;
    sip_msg_unref(t->req);
    sip_msg_unref(t->rsp);
    t->req = NULL;
    t->rsp = stay;
    return 0;
}

void sip__txn_terminate(sip_txn_t *t)
{
    sip_txn_layer_t *l = t->layer;
    if (!l) return;
    sip__txn_set_state(t, SIP_TXN_TERMINATED);
    unlink_txn(l, t);
    heap_remove(l, t);
    l->count--;
    sip__stat_dec(l->loop, SIP_STAT_TXN_ACTIVE);
    t->layer = NULL;
    t->cb.rsp = NULL;
    if (l->reasons) free(sip__txn_take_reason(l, t));
    sip_free_fn f = t->user_free;
    void *u = t->user;
    t->user_free = NULL;
    t->user = NULL;
    if (f) f(u);
    if (!l->closed) schedule(l);
    if (t->flags & SIP__TXN_LAYER_REF) {
        t->flags &= (uint16_t)~SIP__TXN_LAYER_REF;
        sip_txn_unref(t);
    }
}

/* ---- sending ----------------------------------------------------------------------------- */

static int tp_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    sip_txn_layer_t *l = ctx;
    if (!l->tp) {
        if (user_free) user_free(user);
        return SIP_ECLOSED;
    }
    if (dst) return sip_transport_send(l->tp, msg, dst, cb, user, user_free);
    return sip_transport_send_request(l->tp, msg, cb, user, user_free);
}

static int tp_send_response(void *ctx, sip_msg_t *rsp)
{
    sip_txn_layer_t *l = ctx;
    if (!l->tp) return SIP_ECLOSED;
    return sip_transport_send_response(l->tp, rsp);
}

static int tp_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    sip_txn_layer_t *l = ctx;
    if (!l->tp) return SIP_ECLOSED;
    return sip__transport_send_raw(l->tp, ni, data, len);
}

static int tp_last_wire(void *ctx, const sip_msg_t *msg, const char **data, size_t *len)
{
    sip_txn_layer_t *l = ctx;
    if (!l->tp) return SIP_ECLOSED;
    return sip__transport_last_wire(l->tp, msg, data, len);
}

void sip__txn_layer_set_io(sip_txn_layer_t *l, const sip__txn_io_t *io)
{
    if (!l) return;
    if (io) {
        l->io = *io;
    } else {
        l->io.send = tp_send;
        l->io.send_response = tp_send_response;
        l->io.send_raw = tp_send_raw;
        l->io.last_wire = tp_last_wire;
        l->io.ctx = l;
    }
}

int sip__txn_send(sip_txn_layer_t *l, sip_msg_t *msg, const sip_netinfo_t *dst,
                  sip_transport_sent_cb cb, void *user, sip_free_fn user_free)
{
    /* The transport rewrites the message's netinfo while sending; dst may point into it. */
    sip_netinfo_t copy;
    if (dst) {
        copy = *dst;
        dst = &copy;
    }
    return l->io.send(l->io.ctx, msg, dst, cb, user, user_free);
}

int sip__txn_send_response(sip_txn_layer_t *l, sip_msg_t *rsp)
{
    return l->io.send_response(l->io.ctx, rsp);
}

int sip__txn_send_wire(sip_txn_layer_t *l, const sip__txn_wire_t *w)
{
    if (!l->io.send_raw) return SIP_EINVAL;
    sip_netinfo_t ni;
    if (!sip__txn_wire_ni(w, &ni)) memset(&ni, 0, sizeof(ni));
    return l->io.send_raw(l->io.ctx, &ni, w->data, w->len);
}

int sip__txn_has_cookie(sip_str_t b)
{
    /* RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with the magic cookie. */
    return b.len > 7 && memcmp(b.ptr, "z9hG4bK", 7) == 0;
}

void sip__txn_make_branch(sip_txn_layer_t *l, char *buf, size_t size)
{
    /* xorshift64*: unique per layer from a random seed; branches need uniqueness, not secrecy. */
    uint64_t x = l->rnd;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rnd = x;
    if (l->mark >= 0) {
        char m[SIP__TXN_MARK_LEN + 1];
        sip__txn_mark_write(m, l->mark);
        m[SIP__TXN_MARK_LEN] = '\0';
        snprintf(buf, size, "z9hG4bK%s%016llx", m,
                 (unsigned long long)(x * 2685821657736338717ull));
        return;
    }
    snprintf(buf, size, "z9hG4bK%016llx", (unsigned long long)(x * 2685821657736338717ull));
}

void sip__txn_mark_write(char *buf, int index)
{
    static const char hex[] = "0123456789abcdef";
    buf[0] = 'W';
    buf[1] = hex[(index >> 4) & 15];
    buf[2] = hex[index & 15];
}

void sip__txn_layer_set_mark(sip_txn_layer_t *l, int index)
{
    if (l) l->mark = index >= 0 && index < 256 ? index : -1;
}

int sip__txn_layer_mark(const sip_txn_layer_t *l)
{
    return l ? l->mark : -1;
}

/* RFC 3261 §8.1.1.7: every request a transaction sends carries a branch of its own. */
int sip__txn_ensure_branch(sip_txn_layer_t *l, sip_msg_t *msg)
{
    char br[40];
    char buf[1024];
    const sip_header_t *h = sip_msg_header_at(msg, SIP_HDR_VIA, 0);
    if (!h) {
        sip__txn_make_branch(l, br, sizeof(br));
        /* The transport writes its own transport and sent-by over this placeholder. */
        snprintf(buf, sizeof(buf), "SIP/2.0/UDP 0.0.0.0;branch=%s", br);
        return sip_msg_prepend_header(msg, "Via", buf);
    }
    const sip_via_t *v = sip_header_via(h);
    if (v && v->branch.len) return 0;
    sip__txn_make_branch(l, br, sizeof(br));
    sip_str_t val = sip_header_get_value(h);
    int n = snprintf(buf, sizeof(buf), "%.*s;branch=%s", (int)val.len, val.ptr, br);
    if (n < 0 || (size_t)n >= sizeof(buf)) return SIP_ERANGE;
    return sip_msg_update_header(msg, h, buf);
}

/* ---- the layer --------------------------------------------------------------------------- */

static void on_uv_closed(uv_handle_t *h)
{
    sip_txn_layer_t *l = h->data;
    l->uv_open = 0;
    sip__loop_closing_end(l->loop);
    if (l->refs == 0) {
        sip__live_dec(SIP_LIVE_TXN_LAYER);
        free(l->buckets);
        free(l->heap);
        while (l->reasons)
            free(sip__txn_take_reason(l, l->reasons->t));
        free(l);
    }
}

static void leave_transport(sip_txn_layer_t *l);

static void layer_close(sip_txn_layer_t *l)
{
    if (l->closed) return;
    l->closed = 1;
    sip__loop_remove_child(l->loop, &l->child);
    l->refs++;
    for (size_t i = 0; i < l->nbuckets; i++)
        while (l->buckets[i])
            sip__txn_terminate(l->buckets[i]);
    l->nheap = 0;
    l->clock.stop_timer(l->clock.user);
    if (l->uv_open && !uv_is_closing((uv_handle_t *)&l->uvt)) {
        uv_timer_stop(&l->uvt);
        sip__loop_closing_begin(l->loop);
        uv_close((uv_handle_t *)&l->uvt, on_uv_closed);
    }
    if (l->tp) {
        leave_transport(l);
        sip_transport_unref(l->tp);
        l->tp = NULL;
    }
    sip_free_fn rf = l->req_free, sf = l->stray_free;
    void *ru = l->req_user, *su = l->stray_user;
    l->req_cb = NULL;
    l->stray_cb = NULL;
    l->req_free = l->stray_free = NULL;
    if (rf) rf(ru);
    if (sf) sf(su);
    l->refs--;
}

static void child_close(sip__loop_child_t *c)
{
    layer_close((sip_txn_layer_t *)c);
}

/* ---- the layer's links in the transport's chain ------------------------------------------ */

/* RFC 3261 §17.1.3, §17.2.3: 1 when msg belongs to a transaction (and was handled there). */
static int match(sip_txn_layer_t *l, sip_msg_t *msg)
{
    if (sip_msg_is_request(msg)) return sip__txn_server_match(l, msg);
    sip_txn_t *t = sip__txn_client_match(l, msg);
    if (!t) return 0;
    sip__txn_client_response(t, msg);
    return 1;
}

/* What no transaction took and no handler before: new requests and stray responses. */
static void deliver(sip_txn_layer_t *l, sip_msg_t *msg)
{
    if (sip_msg_is_request(msg))
        sip__txn_server_new(l, msg);
    else if (l->stray_cb)
        l->stray_cb(l, msg, l->stray_user);
}

/* The first link, at SIP_HANDLER_PRIO_TXN: what belongs to a transaction stops here, so the
 * handlers after it (a UA core at SIP_HANDLER_PRIO_UA) see only new requests, the ACKs of 2xx
 * and stray responses. */
static int on_txn_link(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    sip_txn_layer_t *l = user;
    if (l->closed) return 0;
    /* A callback may drop the last reference to the layer. */
    l->refs++;
    int taken = match(l, msg);
    sip_txn_layer_unref(l);
    return taken;
}

/* The request link: the transport's application slot (SIP_HANDLER_PRIO_APP), so that an
 * application that sets its own handler there after creating the layer replaces the layer's
 * delivery, as it always did (it then hands messages on with sip_txn_layer_receive()). */
static void on_request_link(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    sip_txn_layer_t *l = user;
    if (l->closed) return;
    l->refs++;
    deliver(l, msg);
    sip_txn_layer_unref(l);
}

/* The slot's user_free: the layer gave it up, the transport closed, or an application took the
 * slot. In the last case the application stands where the layer stood and feeds it through
 * sip_txn_layer_receive(): the first link goes too, or it would take messages from it. */
static void on_slot_released(void *user)
{
    sip_txn_layer_t *l = user;
    l->in_slot = 0;
    if (l->leaving_slot || !l->link_id) return;
    int id = l->link_id;
    l->link_id = 0;
    if (l->tp) sip_transport_remove_handler(l->tp, id);
}

static void leave_transport(sip_txn_layer_t *l)
{
    if (l->link_id) {
        int id = l->link_id;
        l->link_id = 0;
        sip_transport_remove_handler(l->tp, id);
    }
    /* Only while the slot is still the layer's: a handler an application put there stays. */
    if (l->in_slot) {
        l->leaving_slot = 1;
        sip_transport_set_handler(l->tp, NULL, NULL, NULL);
        l->leaving_slot = 0;
        l->in_slot = 0;
    }
}

static int join_transport(sip_txn_layer_t *l)
{
    int id = sip_transport_add_handler(l->tp, SIP_HANDLER_PRIO_TXN, on_txn_link, l, NULL);
    if (id < 0) return id;
    l->link_id = id;
    l->in_slot = 1;
    int rc = sip_transport_set_handler(l->tp, on_request_link, l, on_slot_released);
    if (rc) leave_transport(l); /* on_slot_released ran and took the first link away */
    return rc;
}

int sip_txn_layer_create(sip_txn_layer_t **out, sip_transport_t *tp, const sip_txn_opts_t *opts)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!tp) return SIP_EINVAL;
    sip_loop_t *loop = sip_transport_get_loop(tp);
    uv_loop_t *uv = loop ? sip_loop_get_uv(loop) : NULL;
    if (!uv) return SIP_ECLOSED;
    sip_txn_layer_t *l = calloc(1, sizeof(*l));
    if (!l) return SIP_ENOMEM;
    l->nbuckets = 64;
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    if (!l->buckets) {
        free(l);
        return SIP_ENOMEM;
    }
    l->refs = 1;
    l->mark = -1;
    sip__live_inc(SIP_LIVE_TXN_LAYER);
    l->loop = loop;
    if (opts)
        l->opts = *opts;
    else
        sip_txn_opts_init(&l->opts);
    if (!l->opts.t1_ms) l->opts.t1_ms = 500;
    if (!l->opts.t2_ms) l->opts.t2_ms = 4000;
    if (!l->opts.t4_ms) l->opts.t4_ms = 5000;
    uv_timer_init(uv, &l->uvt);
    l->uvt.data = l;
    l->uv_open = 1;
    if (l->opts.clock && l->opts.clock->now_ms && l->opts.clock->start_timer &&
        l->opts.clock->stop_timer) {
        l->clock = *l->opts.clock;
    } else {
        l->clock.now_ms = uv_clock_now;
        l->clock.start_timer = uv_clock_start;
        l->clock.stop_timer = uv_clock_stop;
        l->clock.user = l;
        /* An injected clock (tests) sees every deadline exact. */
        l->end_quantum = SIP__TXN_END_QUANTUM;
    }
    l->opts.clock = NULL;
    l->armed = SIP__TXN_NEVER;
    if (getrandom(&l->rnd, sizeof(l->rnd), 0) != (ssize_t)sizeof(l->rnd))
        l->rnd = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)l;
    l->rnd |= 1;
    sip__txn_layer_set_io(l, NULL);
    l->tp = sip_transport_ref(tp);
    int rc = join_transport(l);
    if (rc) {
        sip_transport_unref(l->tp);
        l->tp = NULL;
        l->closed = 1;
        sip__loop_closing_begin(loop);
        l->refs = 0;
        uv_close((uv_handle_t *)&l->uvt, on_uv_closed);
        return rc;
    }
    l->child.close = child_close;
    sip__loop_add_child(loop, &l->child);
    *out = l;
    return 0;
}

sip_txn_layer_t *sip_txn_layer_ref(sip_txn_layer_t *l)
{
    if (l) l->refs++;
    return l;
}

void sip_txn_layer_unref(sip_txn_layer_t *l)
{
    if (!l || --l->refs > 0) return;
    layer_close(l);
    if (l->refs == 0 && !l->uv_open) {
        sip__live_dec(SIP_LIVE_TXN_LAYER);
        free(l->buckets);
        free(l->heap);
        while (l->reasons)
            free(sip__txn_take_reason(l, l->reasons->t));
        free(l);
    }
}

void sip_txn_layer_close(sip_txn_layer_t *l)
{
    if (l) layer_close(l);
}

int sip_txn_layer_set_request_handler(sip_txn_layer_t *l, sip_request_cb cb, void *user,
                                      sip_free_fn user_free)
{
    if (!l || l->closed) {
        if (user_free) user_free(user);
        return l ? SIP_ECLOSED : SIP_EINVAL;
    }
    sip_free_fn f = l->req_free;
    void *u = l->req_user;
    l->req_cb = cb;
    l->req_user = user;
    l->req_free = user_free;
    if (f) f(u);
    return 0;
}

int sip_txn_layer_set_stray_handler(sip_txn_layer_t *l, sip_stray_response_cb cb, void *user,
                                    sip_free_fn user_free)
{
    if (!l || l->closed) {
        if (user_free) user_free(user);
        return l ? SIP_ECLOSED : SIP_EINVAL;
    }
    sip_free_fn f = l->stray_free;
    void *u = l->stray_user;
    l->stray_cb = cb;
    l->stray_user = user;
    l->stray_free = user_free;
    if (f) f(u);
    return 0;
}

int sip_txn_layer_receive(sip_txn_layer_t *l, sip_msg_t *msg)
{
    if (!l || !msg) return SIP_EINVAL;
    if (l->closed) return SIP_ECLOSED;
    /* A callback may drop the last reference to the layer. */
    l->refs++;
    if (!match(l, msg) && !l->closed) deliver(l, msg);
    sip_txn_layer_unref(l);
    return 0;
}

size_t sip_txn_layer_count(const sip_txn_layer_t *l)
{
    return l ? l->count : 0;
}

sip_transport_t *sip_txn_layer_get_transport(sip_txn_layer_t *l)
{
    return l ? l->tp : NULL;
}

/* ---- transactions: sharing and state ---------------------------------------------------- */

sip_txn_t *sip_txn_ref(sip_txn_t *t)
{
    if (t) t->refs++;
    return t;
}

void sip_txn_unref(sip_txn_t *t)
{
    if (!t) return;
    if (--t->refs == 0) {
        sip_msg_unref(t->req);
        sip_msg_unref(t->rsp);
        free(t->wire);
        sip__live_dec(SIP_LIVE_TXN);
        free(t);
        return;
    }
    /* Only the layer holds it now: a server transaction nobody can answer any more gets a 500
     * rather than waiting forever (RFC 3261 §8.2: every request gets a final response), or the
     * 487 of §9.2 when a CANCEL left it to the TU. */
    if (t->refs == 1 && (t->flags & SIP__TXN_LAYER_REF) && !(t->flags & SIP__TXN_CLIENT) &&
        (t->state == SIP_TXN_TRYING || t->state == SIP_TXN_PROCEEDING))
        sip_txn_respond(t, (t->flags & SIP__TXN_CANCELLED) ? 487 : 500, NULL);
}

void sip_txn_close(sip_txn_t *t)
{
    if (t && t->layer) sip__txn_end(t, NULL);
}

sip_msg_t *sip_txn_get_request(const sip_txn_t *t)
{
    return t && !(t->flags & SIP__TXN_IDLE) ? t->req : NULL;
}

sip_msg_t *sip_txn_get_response(const sip_txn_t *t)
{
    return t && !(t->flags & SIP__TXN_IDLE) ? t->rsp : NULL;
}

sip_txn_state_t sip_txn_get_state(const sip_txn_t *t)
{
    return t ? (sip_txn_state_t)t->state : SIP_TXN_TERMINATED;
}

int sip_txn_is_client(const sip_txn_t *t)
{
    return t && (t->flags & SIP__TXN_CLIENT) ? 1 : 0;
}

sip_txn_layer_t *sip_txn_get_layer(const sip_txn_t *t)
{
    return t ? t->layer : NULL;
}

const char *sip_txn_state_name(sip_txn_state_t s)
{
    static const char *const names[] = {"Calling",  "Trying",    "Proceeding", "Completed",
                                        "Accepted", "Confirmed", "Terminated"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "Unknown";
}

/* ---- stateless ---------------------------------------------------------------------------- */

int sip_txn_send_stateless(sip_txn_layer_t *l, sip_msg_t *msg, const sip_netinfo_t *dst)
{
    if (!l || !msg) return SIP_EINVAL;
    if (l->closed) return SIP_ECLOSED;
    if (!sip_msg_is_request(msg)) return sip__txn_send_response(l, msg);
    int rc = sip__txn_ensure_branch(l, msg);
    if (rc) return rc;
    return sip__txn_send(l, msg, dst, NULL, NULL, NULL);
}

int sip_txn_reply_stateless(sip_txn_layer_t *l, const sip_msg_t *req, int status,
                            const char *reason)
{
    if (!l || !req || !sip_msg_is_request(req) || status < 100 || status > 699) return SIP_EINVAL;
    if (l->closed) return SIP_ECLOSED;
    sip_msg_t *rsp;
    int rc = sip_msg_create_response(&rsp, req, status, reason, NULL);
    if (rc) return rc;
    rc = sip__txn_send_response(l, rsp);
    sip_msg_unref(rsp);
    return rc;
}
