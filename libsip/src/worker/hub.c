/* SPDX-License-Identifier: MIT */
/* The hub, in the parent process: a link per worker, the sibling links it makes and passes, the
 * location index it gives a starting worker, and the location writes of the workers, applied
 * to the parent's location service (the one writer of SQLite) and shared with the others. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/live_int.h"
#include "location/location_int.h"
#include "sip/error.h"
#include "worker/worker_int.h"

typedef struct hub_slot {
    sip__wlink_t *link;
    int ready;
    uint32_t gen; /* which incarnation of the worker: an ACK for an older one is dropped */
} hub_slot_t;

struct sip_hub {
    sip__loop_child_t child;
    int refs;
    int closed;
    sip_loop_t *loop;
    sip_location_t *loc;
    unsigned n;
    hub_slot_t slot[SIP_WORKERS_MAX];
    /* One secret for every worker: the digest nonces and the proxy branches one worker makes
     * are checked by any other (RFC 7616 §3.3, RFC 3261 §16.11). */
    uint8_t secret[SIP__WSECRET_LEN];
};

void sip_hub_opts_init(sip_hub_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->workers = 1;
}

static void hub_close(sip_hub_t *hub);

static void child_close(sip__loop_child_t *c)
{
    hub_close((sip_hub_t *)c);
}

int sip_hub_create(sip_hub_t **out, sip_loop_t *loop, const sip_hub_opts_t *opts)
{
    sip_hub_opts_t d;
    if (out) *out = NULL;
    if (!out || !loop) return SIP_EINVAL;
    if (!opts) {
        sip_hub_opts_init(&d);
        opts = &d;
    }
    if (opts->workers < 1 || opts->workers > SIP_WORKERS_MAX) return SIP_EINVAL;
    if (opts->location && sip_location_get_loop(opts->location) != loop) return SIP_EINVAL;
    sip_hub_t *hub = calloc(1, sizeof(*hub));
    if (!hub) return SIP_ENOMEM;
    if (RAND_bytes(hub->secret, (int)sizeof(hub->secret)) != 1) {
        free(hub);
        return SIP_EIO;
    }
    sip__live_inc(SIP_LIVE_HUB);
    hub->refs = 1;
    hub->loop = loop;
    hub->n = opts->workers;
    hub->loc = sip_location_ref(opts->location);
    hub->child.close = child_close;
    sip__loop_add_child(loop, &hub->child);
    *out = hub;
    return 0;
}

sip_hub_t *sip_hub_ref(sip_hub_t *hub)
{
    if (hub) hub->refs++;
    return hub;
}

static void hub_close(sip_hub_t *hub)
{
    if (hub->closed) return;
    hub->closed = 1;
    sip__loop_remove_child(hub->loop, &hub->child);
    for (unsigned i = 0; i < hub->n; i++) {
        sip__wlink_close(hub->slot[i].link);
        hub->slot[i].link = NULL;
        hub->slot[i].ready = 0;
    }
    sip_location_unref(hub->loc);
    hub->loc = NULL;
}

void sip_hub_unref(sip_hub_t *hub)
{
    if (!hub || --hub->refs > 0) return;
    hub_close(hub);
    sip__live_dec(SIP_LIVE_HUB);
    free(hub);
}

void sip_hub_close(sip_hub_t *hub)
{
    if (hub) hub_close(hub);
}

unsigned sip_hub_ready_count(const sip_hub_t *hub)
{
    unsigned n = 0;
    for (unsigned i = 0; hub && i < hub->n; i++)
        n += hub->slot[i].ready;
    return n;
}

/* ---- a worker ready: its siblings and the index -------------------------------------------- */

static int send_to(sip_hub_t *hub, unsigned i, const sip__wframe_t *h, const void *p, size_t len)
{
    return hub->slot[i].link ? sip__wlink_send(hub->slot[i].link, h, p, len, NULL, 0, -1)
                             : SIP_ECLOSED;
}

/* RFC 3261 §10.3 bindings of the parent's service, each as the frame a write makes, so that a
 * starting worker loads what every other worker holds. */
static void send_snapshot(sip_hub_t *hub, unsigned k)
{
    sip_location_t *loc = hub->loc;
    sip__wframe_t h = {.type = SIP__WF_BIND};
    int64_t now = loc ? sip__location_now(loc) : 0;
    for (size_t i = 0; loc && !loc->closed && loc->buckets && i <= loc->mask; i++) {
        for (sip__loc_aor_t *a = loc->buckets[i]; a; a = a->next) {
            for (sip__loc_rec_t *r = a->head; r; r = r->next) {
                if (r->expires <= now) continue;
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
                if (sip__wbind_encode(&b, a->key, &p, &len) == 0) {
                    send_to(hub, k, &h, p, len);
                    free(p);
                }
            }
        }
    }
    h.type = SIP__WF_SNAP_END;
    send_to(hub, k, &h, NULL, 0);
}

static void on_ready(sip_hub_t *hub, unsigned k)
{
    /* A socket pair per pair of workers: they exchange messages directly, not through here. */
    for (unsigned j = 0; j < hub->n; j++) {
        if (j == k || !hub->slot[j].ready) continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            sip_log(hub->loop, SIP_LOG_ERROR, "worker", "cannot link workers %u and %u", k, j);
            continue;
        }
        sip__wframe_t h = {.type = SIP__WF_LINK, .from = (uint16_t)j};
        sip__wlink_send(hub->slot[k].link, &h, NULL, 0, NULL, 0, sv[0]);
        h.from = (uint16_t)k;
        sip__wlink_send(hub->slot[j].link, &h, NULL, 0, NULL, 0, sv[1]);
    }
    sip__wframe_t sh = {.type = SIP__WF_SECRET};
    send_to(hub, k, &sh, hub->secret, sizeof(hub->secret));
    send_snapshot(hub, k);
    hub->slot[k].ready = 1;
    sip_log(hub->loop, SIP_LOG_INFO, "worker", "worker %u ready (%u of %u)", k,
            sip_hub_ready_count(hub), hub->n);
}

/* ---- location writes ----------------------------------------------------------------------- */

typedef struct hub_write {
    sip_hub_t *hub;
    unsigned k;
    uint32_t gen;
    uint64_t id;
    uint8_t type; /* what the others apply: BIND or UNBIND */
    size_t len;
    char data[]; /* the frame's payload, shared as it came */
} hub_write_t;

static void write_done(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    hub_write_t *w = user;
    sip_hub_t *hub = w->hub;
    if (hub->closed) return;
    /* The writer hears first: its registrar answers only now (the write is durable). */
    if (hub->slot[w->k].gen == w->gen) {
        sip__wframe_t ack = {.type = SIP__WF_ACK, .status = status, .id = w->id};
        send_to(hub, w->k, &ack, NULL, 0);
    }
    if (status) return;
    sip__wframe_t h = {.type = w->type, .from = (uint16_t)w->k};
    for (unsigned j = 0; j < hub->n; j++)
        if (j != w->k && hub->slot[j].ready) send_to(hub, j, &h, w->data, w->len);
}

static void write_free(void *user)
{
    hub_write_t *w = user;
    sip_hub_unref(w->hub);
    free(w);
}

static void on_write(sip_hub_t *hub, unsigned k, const sip__wframe_t *h, const char *p, size_t len)
{
    hub_write_t *w = malloc(sizeof(*w) + len);
    if (!w) {
        sip__wframe_t ack = {.type = SIP__WF_ACK, .status = SIP_ENOMEM, .id = h->id};
        send_to(hub, k, &ack, NULL, 0);
        return;
    }
    w->hub = sip_hub_ref(hub);
    w->k = k;
    w->gen = hub->slot[k].gen;
    w->id = h->id;
    w->type = h->type == SIP__WF_PUT ? SIP__WF_BIND : SIP__WF_UNBIND;
    w->len = len;
    memcpy(w->data, p, len);
    int rc;
    if (!hub->loc) {
        /* No service of its own: the hub only shares the writes. */
        write_done(NULL, 0, w);
        write_free(w);
        return;
    }
    if (h->type == SIP__WF_PUT) {
        sip_binding_t b;
        rc = sip__wbind_decode(w->data, len, &b);
        if (rc == 0)
            rc = sip_location_put(hub->loc, &b, write_done, w, write_free);
        else
            write_free(w);
    } else {
        /* "aor\0contact\0"; an empty contact removes every binding of the AOR. */
        const char *nul = memchr(w->data, '\0', len);
        const char *contact = nul ? nul + 1 : NULL;
        if (contact && !memchr(contact, '\0', len - (size_t)(contact - w->data))) contact = NULL;
        if (!contact) {
            write_free(w);
            rc = SIP_EINVAL;
        } else {
            rc = sip_location_remove(hub->loc, w->data, *contact ? contact : NULL, write_done, w,
                                     write_free);
        }
    }
    if (rc) {
        sip__wframe_t ack = {.type = SIP__WF_ACK, .status = rc, .id = h->id};
        send_to(hub, k, &ack, NULL, 0);
    }
}

/* ---- the links ----------------------------------------------------------------------------- */

static void on_frame(sip__wlink_t *lk, const sip__wframe_t *h, const char *p, size_t len, int fd)
{
    sip_hub_t *hub = lk->owner;
    unsigned k = lk->peer;
    if (fd >= 0) close(fd);
    if (hub->closed || hub->slot[k].link != lk) return;
    switch (h->type) {
    case SIP__WF_READY:
        if (!hub->slot[k].ready) on_ready(hub, k);
        break;
    case SIP__WF_PUT:
    case SIP__WF_DEL: on_write(hub, k, h, p, len); break;
    default: break;
    }
}

static void tell_gone(sip_hub_t *hub, unsigned k)
{
    sip__wframe_t h = {.type = SIP__WF_GONE, .from = (uint16_t)k};
    for (unsigned j = 0; j < hub->n; j++)
        if (j != k && hub->slot[j].ready) send_to(hub, j, &h, NULL, 0);
}

static void on_down(sip__wlink_t *lk)
{
    sip_hub_t *hub = lk->owner;
    sip_log(hub->loop, SIP_LOG_INFO, "worker", "worker %u left", lk->peer);
    sip_hub_unlink(hub, lk->peer);
}

void sip_hub_unlink(sip_hub_t *hub, unsigned index)
{
    if (!hub || index >= hub->n || !hub->slot[index].link) return;
    hub_slot_t *s = &hub->slot[index];
    sip__wlink_close(s->link);
    s->link = NULL;
    int was_ready = s->ready;
    s->ready = 0;
    s->gen++;
    /* Its connections are gone with it: a message for one of them fails at once elsewhere. */
    if (was_ready) tell_gone(hub, index);
}

int sip_hub_link(sip_hub_t *hub, unsigned index, int *child_fd)
{
    if (child_fd) *child_fd = -1;
    if (!hub || !child_fd || index >= hub->n) return SIP_EINVAL;
    if (hub->closed) return SIP_ECLOSED;
    sip_hub_unlink(hub, index);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -errno;
    sip__wlink_t *lk;
    int rc = sip__wlink_create(&lk, hub->loop, sv[0]);
    if (rc == 0) {
        lk->owner = hub;
        lk->peer = index;
        lk->on_frame = on_frame;
        lk->on_down = on_down;
        rc = sip__wlink_start(lk);
        if (rc) sip__wlink_close(lk);
    }
    if (rc) {
        close(sv[1]);
        return rc;
    }
    hub->slot[index].link = lk;
    hub->slot[index].gen++;
    /* The child's end must survive exec (uv_spawn's stdio, or fork then exec). */
    int fl = fcntl(sv[1], F_GETFD);
    if (fl >= 0) fcntl(sv[1], F_SETFD, fl & ~FD_CLOEXEC);
    *child_fd = sv[1];
    return 0;
}
