/* SPDX-License-Identifier: MIT */
/* A worker process's side: its link to the hub (the handshake that brings its siblings and the
 * location index), the links to its siblings, and the dispatch of received messages to their
 * owner (the Call-ID for requests, the branch mark for responses), of sends to the
 * worker holding a connection, and of messages the others pass here. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/live_int.h"
#include "sip/error.h"
#include "transport/raw.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"
#include "worker/worker_int.h"

/* How long a starting worker waits for its hub's answer. */
#define HANDSHAKE_MS 10000

/* A location frame that came before the location service attached (the snapshot, above all). */
typedef struct pend {
    struct pend *next;
    sip__wframe_t h;
    size_t len;
    char data[];
} pend_t;

/* Another worker's connection, as it announced it. */
typedef struct rconn {
    struct rconn *next;
    sip_netinfo_t ni;
} rconn_t;

struct sip_worker {
    sip__loop_child_t child;
    int refs;
    int closed;
    int handshake_done;
    sip_loop_t *loop;
    unsigned index, count;
    sip__wlink_t *hub;
    sip__wlink_t *sib[SIP_WORKERS_MAX];
    pend_t *pend, *pend_tail;
    sip__hub_store_t *store;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    rconn_t **rc;
    size_t rc_mask, rc_n;
    int batching; /* inside a batch of received messages (sip__tp_worker_t.batch) */
    int has_secret;
    uint8_t secret[SIP__WSECRET_LEN]; /* the hub's, from the handshake */
};

void sip_worker_opts_init(sip_worker_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->count = 1;
    opts->fd = -1;
}

unsigned sip_worker_index(const sip_worker_t *w)
{
    return w ? w->index : 0;
}

unsigned sip_worker_count(const sip_worker_t *w)
{
    return w ? w->count : 0;
}

int sip_worker_is_linked(const sip_worker_t *w)
{
    return w && !w->closed && w->hub && !w->hub->closed ? 1 : 0;
}

int sip_worker_secret(const sip_worker_t *w, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    if (!w || (!buf && size)) return SIP_EINVAL;
    if (!w->has_secret) return SIP_ENOENT;
    for (size_t i = 0; i < 2 * SIP__WSECRET_LEN && i + 1 < size; i++)
        buf[i] = hex[(w->secret[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    if (size) buf[size - 1 < 2 * SIP__WSECRET_LEN ? size - 1 : 2 * SIP__WSECRET_LEN] = '\0';
    return 2 * SIP__WSECRET_LEN;
}

sip_loop_t *sip__worker_loop(const sip_worker_t *w)
{
    return w->loop;
}

/* ---- netinfo on the wire: the fixed part and the server name's octets ---------------------- */

#define NI_FIXED offsetof(sip_netinfo_t, server_name)

static size_t ni_len(const sip_netinfo_t *ni)
{
    return NI_FIXED + strnlen(ni->server_name, sizeof(ni->server_name) - 1) + 1;
}

static int ni_decode(const char *p, size_t len, sip_netinfo_t *ni, size_t *used)
{
    if (len < NI_FIXED + 1) return SIP_EINVAL;
    const char *nul = memchr(p + NI_FIXED, '\0', len - NI_FIXED);
    if (!nul || (size_t)(nul - p - NI_FIXED) >= sizeof(ni->server_name)) return SIP_EINVAL;
    memcpy(ni, p, NI_FIXED);
    memcpy(ni->server_name, p + NI_FIXED, (size_t)(nul - p - NI_FIXED) + 1);
    ni->local_ip[sizeof(ni->local_ip) - 1] = '\0';
    ni->remote_ip[sizeof(ni->remote_ip) - 1] = '\0';
    *used = (size_t)(nul - p) + 1;
    return 0;
}

/* ---- other workers' connections ------------------------------------------------------------ */

static size_t rc_slot(const sip_worker_t *w, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & w->rc_mask;
}

static rconn_t **rc_find(sip_worker_t *w, uint64_t id)
{
    if (!w->rc) return NULL;
    rconn_t **p = &w->rc[rc_slot(w, id)];
    while (*p && (*p)->ni.conn_id != id)
        p = &(*p)->next;
    return p;
}

static void rc_add(sip_worker_t *w, const sip_netinfo_t *ni)
{
    if (!w->rc || w->rc_n > w->rc_mask) {
        size_t cap = w->rc ? (w->rc_mask + 1) * 2 : 64;
        rconn_t **b = calloc(cap, sizeof(*b));
        if (!b) {
            if (!w->rc) return;
        } else {
            for (size_t i = 0; w->rc && i <= w->rc_mask; i++)
                while (w->rc[i]) {
                    rconn_t *r = w->rc[i];
                    w->rc[i] = r->next;
                    size_t s = (size_t)((r->ni.conn_id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
                    r->next = b[s];
                    b[s] = r;
                }
            free(w->rc);
            w->rc = b;
            w->rc_mask = cap - 1;
        }
    }
    rconn_t **p = rc_find(w, ni->conn_id);
    if (*p) {
        (*p)->ni = *ni;
        return;
    }
    rconn_t *r = malloc(sizeof(*r));
    if (!r) return;
    r->ni = *ni;
    r->next = NULL;
    *p = r;
    w->rc_n++;
}

static void rc_del(sip_worker_t *w, uint64_t id)
{
    rconn_t **p = rc_find(w, id);
    if (!p || !*p) return;
    rconn_t *r = *p;
    *p = r->next;
    free(r);
    w->rc_n--;
}

/* Every connection of worker j (it ended), or of every worker (j < 0). */
static void rc_drop(sip_worker_t *w, int j)
{
    for (size_t i = 0; w->rc && i <= w->rc_mask; i++) {
        rconn_t **p = &w->rc[i];
        while (*p) {
            rconn_t *r = *p;
            if (j < 0 || r->ni.conn_id >> SIP__CONN_WORKER_SHIFT == (uint64_t)j) {
                *p = r->next;
                free(r);
                w->rc_n--;
            } else {
                p = &r->next;
            }
        }
    }
}

/* ---- the hooks of the transport ------------------------------------------------------------ */

static inline uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int name_is(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n != l) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p[i]) != lit[i]) return 0;
    return 1;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* What decides a response's owner, found in the bytes as received: a message that crosses is
 * parsed once, by its owner. The top Via's branch (and sent-by). -1 when the bytes do not show
 * them plainly (a folded line, no Via): the receiver keeps the message. */
typedef struct wkey {
    const char *branch, *host;
    size_t branch_len, host_len;
    unsigned port;
} wkey_t;

static int scan_via(const char *p, const char *end, wkey_t *k)
{
    /* RFC 3261 §20.42: sent-protocol LWS sent-by *( SEMI via-params ). */
    int slashes = 0;
    while (p < end && slashes < 2) {
        if (*p == '/') slashes++;
        if (*p == '\r' || *p == '\n' || *p == ',') return -1;
        p++;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        p++;
    p = skip_ws(p, end);
    const char *h = p;
    if (p < end && *p == '[') {
        while (p < end && *p != ']' && *p != '\r' && *p != '\n')
            p++;
        if (p < end && *p == ']') p++;
    } else {
        while (p < end && *p != ':' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t' &&
               *p != '\r' && *p != '\n')
            p++;
    }
    k->host = h;
    k->host_len = (size_t)(p - h);
    if (!k->host_len) return -1;
    p = skip_ws(p, end);
    if (p < end && *p == ':') {
        p = skip_ws(p + 1, end);
        unsigned v = 0;
        while (p < end && *p >= '0' && *p <= '9' && v < 100000)
            v = v * 10 + (unsigned)(*p++ - '0');
        k->port = v;
    }
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != ';') return 0;
        p = skip_ws(p + 1, end);
        const char *n = p;
        while (p < end && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t' &&
               *p != '\r' && *p != '\n')
            p++;
        size_t nl = (size_t)(p - n);
        p = skip_ws(p, end);
        const char *v = p;
        if (p < end && *p == '=') {
            p = v = skip_ws(p + 1, end);
            while (p < end && *p != ';' && *p != ',' && *p != ' ' && *p != '\t' && *p != '\r' &&
                   *p != '\n')
                p++;
        }
        if (name_is(n, nl, "branch")) {
            k->branch = v;
            k->branch_len = (size_t)(p - v);
        }
    }
}

/* The end of the line at p (its '\n', or end) and of its content (before a CR). */
static const char *line_end(const char *p, const char *end, const char **ce)
{
    const char *le = memchr(p, '\n', (size_t)(end - p));
    if (!le) le = end;
    *ce = le > p && le[-1] == '\r' ? le - 1 : le;
    return le;
}

static int scan_response(const char *data, size_t len, wkey_t *k)
{
    const char *p = data, *end = data + len;
    memset(k, 0, sizeof(*k));
    const char *nl = memchr(p, '\n', len);
    if (!nl) return -1;
    p = nl + 1;
    while (p < end) {
        const char *ce, *le = line_end(p, end, &ce);
        if (ce == p) break; /* the end of the headers */
        /* A folded line (RFC 3261 §7.3.1) is left to the parser. */
        if (*p == ' ' || *p == '\t') return -1;
        const char *colon = memchr(p, ':', (size_t)(ce - p));
        if (colon) {
            const char *ne = colon;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            size_t n = (size_t)(ne - p);
            if (name_is(p, n, "via") || name_is(p, n, "v")) return scan_via(colon + 1, ce, k);
        }
        p = le + 1;
    }
    return -1;
}

/* The Call-ID of a request as received (RFC 3261 §20.8, compact form "i", names in any case),
 * its value a view of data. A header starts a line; a line starting with whitespace continues
 * the one before (§7.3.1), so the value may follow the colon on a folded line: "Call-ID:" CRLF
 * SP "a84b4c76e66710". 0, or -1 when there is none (the receiver keeps the request and its
 * parser answers 400). */
static int scan_call_id(const char *data, size_t len, const char **id, size_t *id_len)
{
    const char *p = data, *end = data + len;
    const char *nl = memchr(p, '\n', len);
    if (!nl) return -1;
    p = nl + 1;
    while (p < end) {
        const char *ce, *le = line_end(p, end, &ce);
        if (ce == p) break; /* the end of the headers */
        const char *colon = *p == ' ' || *p == '\t' ? NULL : memchr(p, ':', (size_t)(ce - p));
        if (colon) {
            const char *ne = colon;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            size_t n = (size_t)(ne - p);
            if (name_is(p, n, "call-id") || name_is(p, n, "i")) {
                /* SWS after the colon, over folds: whitespace, or a line end followed by
                 * whitespace. */
                const char *v = skip_ws(colon + 1, ce);
                while (v == ce && le < end && le + 1 < end && (le[1] == ' ' || le[1] == '\t')) {
                    p = le + 1;
                    le = line_end(p, end, &ce);
                    v = skip_ws(p, ce);
                }
                const char *ve = v;
                while (ve < ce && *ve != ' ' && *ve != '\t')
                    ve++;
                if (ve == v) return -1;
                *id = v;
                *id_len = (size_t)(ve - v);
                return 0;
            }
        }
        p = le + 1;
    }
    return -1;
}

/* The worker that owns a received message. A request: hash(Call-ID) mod N, so that every
 * request of a call lands on one worker whatever the kernel chose: retransmissions, the CANCEL
 * and the ACK of a non-2xx find their transaction (RFC 3261 §17.2.3), and an ACK for a 2xx
 * (§13.2.2.4) and the in-dialog requests after it (a BYE) are handled by the worker holding the
 * dialog, in the order they came. A response: the mark of its branch. -1: this worker decides
 * (no Call-ID, a response whose branch carries no mark). */
static int owner_of(const sip_worker_t *w, const char *data, size_t len)
{
    if (len >= 4 && memcmp(data, "SIP/", 4) == 0) {
        wkey_t k;
        if (scan_response(data, len, &k) || !k.branch) return -1;
        return sip__txn_branch_owner((sip_str_t){k.branch, k.branch_len});
    }
    const char *id;
    size_t id_len;
    if (scan_call_id(data, len, &id, &id_len)) return -1;
    uint64_t h = fnv(0xcbf29ce484222325ull, id, id_len);
    h ^= h >> 29;
    return (int)(h % w->count);
}

int sip__worker_owner(const sip_worker_t *w, const char *data, size_t len)
{
    return w->count < 2 ? -1 : owner_of(w, data, len);
}

static int steer(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len, int trusted)
{
    sip_worker_t *w = ctx;
    if (w->count < 2) return 0;
    int o = owner_of(w, data, len);
    if (o < 0 || (unsigned)o == w->index || (unsigned)o >= w->count) return 0;
    sip__wlink_t *lk = w->sib[o];
    /* A sibling not linked (starting, or gone) leaves the message here: better served by the
     * wrong worker than by none. */
    if (!lk || lk->closed) return 0;
    sip__wframe_t h = {
        .type = SIP__WF_MSG, .flags = trusted ? SIP__WF_TRUSTED : 0, .from = (uint16_t)w->index};
    /* Inside a batch of received messages, the frames for each sibling leave together at its
     * end (one call, one wake-up of the sibling). */
    if (w->batching) return sip__wlink_queue(lk, &h, ni, ni_len(ni), data, len) == 0;
    return sip__wlink_send(lk, &h, ni, ni_len(ni), data, len, -1) == 0;
}

static void batch(void *ctx, int begin)
{
    sip_worker_t *w = ctx;
    if (begin) {
        w->batching++;
        return;
    }
    if (w->batching > 0 && --w->batching > 0) return;
    for (unsigned j = 0; j < w->count; j++)
        sip__wlink_flush(w->sib[j]);
}

static int send_remote(void *ctx, uint64_t conn_id, const char *data, size_t len)
{
    sip_worker_t *w = ctx;
    uint64_t o = conn_id >> SIP__CONN_WORKER_SHIFT;
    sip__wlink_t *lk = o < w->count ? w->sib[o] : NULL;
    if (!lk || lk->closed) return SIP_ENOENT;
    sip__wframe_t h = {.type = SIP__WF_SEND, .from = (uint16_t)w->index, .id = conn_id};
    return sip__wlink_send(lk, &h, data, len, NULL, 0, -1);
}

static const sip_netinfo_t *remote_conn(void *ctx, uint64_t conn_id)
{
    sip_worker_t *w = ctx;
    rconn_t **p = rc_find(w, conn_id);
    return p && *p ? &(*p)->ni : NULL;
}

static void announce_to(sip_worker_t *w, unsigned j, const sip_netinfo_t *ni, int open)
{
    sip__wlink_t *lk = w->sib[j];
    if (!lk || lk->closed) return;
    sip__wframe_t h = {.type = open ? SIP__WF_CONN_OPEN : SIP__WF_CONN_CLOSE,
                       .from = (uint16_t)w->index,
                       .id = ni->conn_id};
    sip__wlink_send(lk, &h, ni, open ? ni_len(ni) : 0, NULL, 0, -1);
}

static void conn_event(void *ctx, const sip_netinfo_t *ni, int open)
{
    sip_worker_t *w = ctx;
    for (unsigned j = 0; j < w->count; j++)
        if (j != w->index) announce_to(w, j, ni, open);
}

/* ---- sibling links ------------------------------------------------------------------------- */

static void sib_frame(sip__wlink_t *lk, const sip__wframe_t *h, const char *p, size_t len, int fd)
{
    sip_worker_t *w = lk->owner;
    if (fd >= 0) close(fd);
    if (w->closed) return;
    sip_netinfo_t ni;
    size_t used;
    switch (h->type) {
    case SIP__WF_MSG:
        if (w->tp && ni_decode(p, len, &ni, &used) == 0)
            sip__transport_inject(w->tp, &ni, p + used, len - used, h->flags & SIP__WF_TRUSTED);
        break;
    case SIP__WF_SEND:
        /* A closed connection fails here as it would have there: the transaction above
         * retransmits or times out (RFC 3261 §17). */
        if (w->tp && sip__transport_send_conn(w->tp, h->id, p, len) != 0)
            sip_log(w->loop, SIP_LOG_DEBUG, "worker",
                    "connection %llu asked for by worker %u is not open", (unsigned long long)h->id,
                    lk->peer);
        break;
    case SIP__WF_CONN_OPEN:
        if (ni_decode(p, len, &ni, &used) == 0 && ni.conn_id == h->id &&
            ni.conn_id >> SIP__CONN_WORKER_SHIFT == lk->peer)
            rc_add(w, &ni);
        break;
    case SIP__WF_CONN_CLOSE: rc_del(w, h->id); break;
    default: break;
    }
}

static void sib_down(sip__wlink_t *lk)
{
    sip_worker_t *w = lk->owner;
    rc_drop(w, (int)lk->peer);
}

static void tell_conn(void *ctx, const sip_netinfo_t *ni)
{
    void **a = ctx;
    announce_to(a[0], *(unsigned *)a[1], ni, 1);
}

static void on_link(sip_worker_t *w, unsigned j, int fd)
{
    if (j >= w->count || j == w->index || fd < 0) {
        if (fd >= 0) close(fd);
        return;
    }
    if (w->sib[j]) {
        sip__wlink_close(w->sib[j]);
        w->sib[j] = NULL;
        rc_drop(w, (int)j);
    }
    sip__wlink_t *lk;
    if (sip__wlink_create(&lk, w->loop, fd)) return;
    lk->owner = w;
    lk->peer = j;
    lk->on_frame = sib_frame;
    lk->on_down = sib_down;
    if (sip__wlink_start(lk)) {
        sip__wlink_close(lk);
        return;
    }
    w->sib[j] = lk;
    /* The newcomer learns of this worker's connections (a restarted one knows none). */
    void *a[2] = {w, &j};
    if (w->tp) sip__transport_each_conn(w->tp, tell_conn, a);
}

/* ---- the hub link -------------------------------------------------------------------------- */

static void pend_add(sip_worker_t *w, const sip__wframe_t *h, const char *p, size_t len)
{
    pend_t *e = malloc(sizeof(*e) + len);
    if (!e) return;
    e->next = NULL;
    e->h = *h;
    e->len = len;
    memcpy(e->data, p, len);
    if (w->pend_tail)
        w->pend_tail->next = e;
    else
        w->pend = e;
    w->pend_tail = e;
}

static void pend_free(sip_worker_t *w)
{
    while (w->pend) {
        pend_t *e = w->pend;
        w->pend = e->next;
        free(e);
    }
    w->pend_tail = NULL;
}

static void hub_frame(sip__wlink_t *lk, const sip__wframe_t *h, const char *p, size_t len, int fd)
{
    sip_worker_t *w = lk->owner;
    if (w->closed) {
        if (fd >= 0) close(fd);
        return;
    }
    switch (h->type) {
    case SIP__WF_LINK: on_link(w, h->from, fd); return;
    case SIP__WF_BIND:
    case SIP__WF_UNBIND:
        /* Kept until the location service attaches, in the order they came. */
        if (w->store)
            sip__hub_store_frame(w->store, h, p, len);
        else
            pend_add(w, h, p, len);
        break;
    case SIP__WF_ACK:
        if (w->store) sip__hub_store_frame(w->store, h, p, len);
        break;
    case SIP__WF_SECRET:
        if (len == sizeof(w->secret)) {
            memcpy(w->secret, p, len);
            w->has_secret = 1;
        }
        break;
    case SIP__WF_SNAP_END: w->handshake_done = 1; break;
    case SIP__WF_GONE:
        if (h->from < w->count && w->sib[h->from]) {
            sip__wlink_close(w->sib[h->from]);
            w->sib[h->from] = NULL;
        }
        if (h->from < w->count) rc_drop(w, h->from);
        break;
    default: break;
    }
    if (fd >= 0) close(fd);
}

static void hub_down(sip__wlink_t *lk)
{
    sip_worker_t *w = lk->owner;
    sip_log(w->loop, SIP_LOG_ERROR, "worker", "worker %u: the hub is gone", w->index);
    if (w->store) sip__hub_store_down(w->store);
}

/* ---- the worker ---------------------------------------------------------------------------- */

static void worker_close(sip_worker_t *w);

static void child_close(sip__loop_child_t *c)
{
    worker_close((sip_worker_t *)c);
}

static void free_worker(sip_worker_t *w)
{
    pend_free(w);
    rc_drop(w, -1);
    free(w->rc);
    sip__live_dec(SIP_LIVE_WORKER);
    free(w);
}

int sip_worker_create(sip_worker_t **out, sip_loop_t *loop, const sip_worker_opts_t *opts)
{
    int fd = opts ? opts->fd : -1;
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !loop || !opts || fd < 0 || opts->count < 1 || opts->count > SIP_WORKERS_MAX ||
        opts->index >= opts->count || !sip_loop_get_uv(loop)) {
        if (fd >= 0) close(fd);
        return rc;
    }
    sip_worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        close(fd);
        return SIP_ENOMEM;
    }
    sip__live_inc(SIP_LIVE_WORKER);
    w->refs = 1;
    w->loop = loop;
    w->index = opts->index;
    w->count = opts->count;
    if ((rc = sip__wlink_create(&w->hub, loop, fd))) {
        w->hub = NULL;
        free_worker(w);
        return rc == SIP_ENOMEM ? rc : SIP_EINVAL;
    }
    w->hub->owner = w;
    w->hub->on_frame = hub_frame;
    w->hub->on_down = hub_down;
    /* The handshake is synchronous: a worker serves nothing before it knows its siblings and
     * holds the index (a registered user must be reachable from its first request). */
    sip__wframe_t h = {.type = SIP__WF_READY, .from = (uint16_t)w->index};
    rc = sip__wlink_send(w->hub, &h, NULL, 0, NULL, 0, -1);
    uint64_t start = uv_hrtime();
    while (rc == 0 && !w->handshake_done) {
        int64_t left = HANDSHAKE_MS - (int64_t)((uv_hrtime() - start) / 1000000);
        if (left <= 0 || sip__wlink_wait(w->hub, (int)left) <= 0 || sip__wlink_read(w->hub) != 0)
            rc = SIP_EIO;
    }
    if (rc == 0) rc = sip__wlink_start(w->hub);
    if (rc) {
        sip_log(loop, SIP_LOG_ERROR, "worker", "worker %u: no answer from the hub", w->index);
        w->closed = 1;
        sip__wlink_close(w->hub);
        for (unsigned j = 0; j < w->count; j++)
            sip__wlink_close(w->sib[j]);
        free_worker(w);
        return rc == SIP_ENOMEM ? rc : SIP_EIO;
    }
    w->child.close = child_close;
    sip__loop_add_child(loop, &w->child);
    *out = w;
    return 0;
}

sip_worker_t *sip_worker_ref(sip_worker_t *w)
{
    if (w) w->refs++;
    return w;
}

static void detach(sip_worker_t *w)
{
    /* Whatever a batch in progress queued leaves now. */
    w->batching = 0;
    for (unsigned j = 0; j < w->count; j++)
        sip__wlink_flush(w->sib[j]);
    if (w->tp) {
        if (w->tp->worker.ctx == w) sip__transport_set_worker(w->tp, NULL);
        sip_transport_unref(w->tp);
        w->tp = NULL;
    }
    if (w->layer) {
        sip__txn_layer_set_mark(w->layer, -1);
        sip_txn_layer_unref(w->layer);
        w->layer = NULL;
    }
}

void sip__worker_detach(sip_worker_t *w, sip_transport_t *tp)
{
    if (w && tp && w->tp == tp) detach(w);
}

static void worker_close(sip_worker_t *w)
{
    if (w->closed) return;
    w->closed = 1;
    sip__loop_remove_child(w->loop, &w->child);
    w->refs++;
    if (w->store) sip__hub_store_down(w->store);
    sip__wlink_close(w->hub);
    w->hub = NULL;
    for (unsigned j = 0; j < w->count; j++) {
        sip__wlink_close(w->sib[j]);
        w->sib[j] = NULL;
    }
    detach(w);
    pend_free(w);
    rc_drop(w, -1);
    w->refs--;
}

void sip_worker_unref(sip_worker_t *w)
{
    if (!w || --w->refs > 0) return;
    worker_close(w);
    free_worker(w);
}

void sip_worker_close(sip_worker_t *w)
{
    if (w) worker_close(w);
}

int sip_worker_attach(sip_worker_t *w, sip_transport_t *tp, sip_txn_layer_t *layer)
{
    if (!w || !tp || !layer) return SIP_EINVAL;
    if (w->closed) return SIP_ECLOSED;
    if (w->tp) return SIP_EEXIST;
    if (sip_transport_get_loop(tp) != w->loop || sip_txn_layer_get_transport(layer) != tp)
        return SIP_EINVAL;
    if (tp->worker.ctx) return SIP_EEXIST;
    sip__tp_worker_t hooks = {
        .ctx = w,
        .index = w->index,
        .steer = steer,
        .send_remote = send_remote,
        .remote_conn = remote_conn,
        .conn_event = conn_event,
        .batch = batch,
    };
    int rc = sip__transport_set_worker(tp, &hooks);
    if (rc) return rc;
    w->tp = sip_transport_ref(tp);
    w->layer = sip_txn_layer_ref(layer);
    /* One worker alone keeps its branches as they always were. */
    if (w->count > 1) sip__txn_layer_set_mark(layer, (int)w->index);
    /* Siblings linked before learn of connections opened from now on; none is open yet. */
    return 0;
}

/* ---- what the hub store uses ---------------------------------------------------------------- */

int sip__worker_store_attach(sip_worker_t *w, sip__hub_store_t *st)
{
    if (w->closed) return SIP_ECLOSED;
    if (w->store) return SIP_EEXIST;
    w->store = st;
    /* The index the hub gave, and what others wrote since, in their order. */
    pend_t *e = w->pend;
    w->pend = w->pend_tail = NULL;
    while (e) {
        pend_t *next = e->next;
        sip__hub_store_frame(st, &e->h, e->data, e->len);
        free(e);
        e = next;
    }
    return 0;
}

void sip__worker_store_detach(sip_worker_t *w, sip__hub_store_t *st)
{
    if (w->store == st) w->store = NULL;
}

int sip__worker_to_hub(sip_worker_t *w, const sip__wframe_t *h, const void *p, size_t len)
{
    if (w->closed || !w->hub) return SIP_ECLOSED;
    return sip__wlink_send(w->hub, h, p, len, NULL, 0, -1);
}

void sip__worker_pump(sip_worker_t *w, int timeout_ms, int (*done)(void *arg), void *arg)
{
    uint64_t start = uv_hrtime();
    while (!done(arg) && w->hub && !w->hub->closed) {
        int64_t left = timeout_ms - (int64_t)((uv_hrtime() - start) / 1000000);
        if (left <= 0 || sip__wlink_wait(w->hub, (int)left) <= 0) break;
        if (sip__wlink_read(w->hub) != 0) break;
    }
}
