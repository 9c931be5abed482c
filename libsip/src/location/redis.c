/* SPDX-License-Identifier: MIT */
/* The Redis store of the location service: every binding is a Redis hash that expires with it
 * (EXPIREAT), shared by every node using the same Redis; each change is published on a channel
 * and the other nodes apply it to their memory index, which stays the read path. Through
 * hiredis's asynchronous API on the loop (no blocking call after create); reconnects with a
 * backoff and reloads everything after a reconnect. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "core/mem.h"
#include "location/store.h"
#include "sip/error.h"
#include "sip/str.h"

#define PREFIX "libsip:loc:"
#define BINDING_PREFIX PREFIX "b:"
#define EPOCH_KEY PREFIX "epoch"
/* How long create waits for Redis, and close for the writes in flight. */
#define SYNC_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* One write as one atomic script: the bindings it replaces or removes go, the new one is
 * written with its expiry as the key's TTL, and the change is published to the other nodes.
 * KEYS[1]: the binding written ("" for none); KEYS[2..]: the ones removed. ARGV[1]: the
 * expiry (UNIX seconds); ARGV[2]: the channel; ARGV[3]: the change; ARGV[4..]: the hash. */
static const char script[] = "for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end "
                             "if #ARGV > 3 then "
                             "redis.call('HSET', KEYS[1], unpack(ARGV, 4)) "
                             "redis.call('EXPIREAT', KEYS[1], ARGV[1]) "
                             "end "
                             "redis.call('PUBLISH', ARGV[2], ARGV[3]) "
                             "return 0";

/* A binding read back during a reload, applied once the reload is complete. */
typedef struct snap {
    struct snap *next;
    sip__loc_rec_t *rec;
    char aor[];
} snap_t;

/* A change received during a reload: applied after the reloaded bindings. */
typedef struct msg {
    struct msg *next;
    size_t len;
    char s[];
} msg_t;

/* The libuv side of one hiredis connection (as hiredis's own libuv adapter, with the handle
 * counted in the service's pending work so that the memory waits for its close). */
typedef struct events {
    redisAsyncContext *ac;
    sip_location_t *loc;
    uv_poll_t poll;
    int flags;
} events_t;

typedef struct redis_store {
    sip__loc_store_t base;
    sip_location_t *loc;
    char url[300];
    char ip[64];
    int port, db;
    char node[20];    /* this process's id: a change it published comes back to it */
    char channel[40]; /* PUBLISH is not per database: the channel names it */
    char epoch[40];   /* set by the first node on an empty Redis; a new one says it lost all */
    char sha[41];     /* the script's SHA-1: EVALSHA, loaded on each connection first */
    redisAsyncContext *cmd, *sub;
    int cmd_up, sub_up; /* the epoch read; subscribed */
    int need_reload;    /* a connection was lost: reload before taking writes again */
    int reloading;
    int restore; /* Redis lost its data: write back what this node knows first */
    int down_logged;
    sip__loc_op_t *head, **tail; /* writes sent or waiting behind one sent, in order */
    snap_t *snap;
    msg_t *msgs, **msgs_tail;
    size_t nsnap;
    uv_timer_t retry;
    uint32_t backoff_ms;
    int opening; /* in rd_open: a lost connection fails the open, no retry */
    int closed;
} redis_store_t;

static void schedule_retry(redis_store_t *st);
static void maybe_reload(redis_store_t *st);
static void lost(redis_store_t *st, redisAsyncContext *ac, const char *why);

/* ---- the libuv adapter -------------------------------------------------------------------- */

static void ev_poll(uv_poll_t *h, int status, int events)
{
    events_t *e = h->data;
    if (status < 0 && e->ac) {
        /* An error on the socket: the connection is dropped (what is in flight fails) and
         * made again; libuv would report it again rather than a read. */
        redisAsyncContext *ac = e->ac;
        lost(ac->data, ac, uv_strerror(status));
        redisAsyncFree(ac);
        return;
    }
    if (e->ac && (events & UV_READABLE)) redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(e->ac);
}

static void ev_update(events_t *e)
{
    if (e->flags)
        uv_poll_start(&e->poll, e->flags, ev_poll);
    else
        uv_poll_stop(&e->poll);
}

static void ev_add_read(void *p)
{
    events_t *e = p;
    e->flags |= UV_READABLE;
    ev_update(e);
}

static void ev_del_read(void *p)
{
    events_t *e = p;
    e->flags &= ~UV_READABLE;
    ev_update(e);
}

static void ev_add_write(void *p)
{
    events_t *e = p;
    e->flags |= UV_WRITABLE;
    ev_update(e);
}

static void ev_del_write(void *p)
{
    events_t *e = p;
    e->flags &= ~UV_WRITABLE;
    ev_update(e);
}

static void ev_closed(uv_handle_t *h)
{
    events_t *e = h->data;
    sip_location_t *loc = e->loc;
    free(e);
    sip__location_release(loc);
}

static void ev_cleanup(void *p)
{
    events_t *e = p;
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->poll, ev_closed);
}

/* Hands the connection to the loop. A connection made at create was driven by hand until
 * then: what it waits for is read from its state. @return 0 or SIP_ENOMEM. */
static int ev_attach(redis_store_t *st, redisAsyncContext *ac)
{
    events_t *e = calloc(1, sizeof(*e));
    if (!e) return SIP_ENOMEM;
    if (uv_poll_init(sip_loop_get_uv(st->loc->loop), &e->poll, ac->c.fd) < 0) {
        free(e);
        return SIP_ENOMEM;
    }
    e->ac = ac;
    e->loc = st->loc;
    e->poll.data = e;
    st->loc->pending++;
    /* The connections keep the loop running: the subscription is how the other nodes'
     * changes arrive. */
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    e->flags = UV_READABLE;
    if (!(ac->c.flags & REDIS_CONNECTED) || sdslen(ac->c.obuf)) e->flags |= UV_WRITABLE;
    ev_update(e);
    return 0;
}

/* Runs one connection's I/O on this thread until done says so or ms pass: at create (before
 * the loop has it) and at close (the writes in flight). */
static void drive(redis_store_t *st, redisAsyncContext **acp, int (*done)(redis_store_t *), int ms)
{
    uint64_t end = uv_hrtime() / 1000000 + (uint64_t)ms;
    while (*acp && !done(st)) {
        redisAsyncContext *ac = *acp;
        uint64_t now = uv_hrtime() / 1000000;
        if (now >= end) break;
        struct pollfd p = {.fd = ac->c.fd, .events = POLLIN};
        if (!(ac->c.flags & REDIS_CONNECTED) || sdslen(ac->c.obuf)) p.events |= POLLOUT;
        int n = poll(&p, 1, (int)(end - now));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (p.revents & (POLLOUT | POLLERR | POLLHUP)) redisAsyncHandleWrite(ac);
        if (*acp == ac && (p.revents & (POLLIN | POLLERR | POLLHUP))) redisAsyncHandleRead(ac);
    }
}

/* ---- strings ------------------------------------------------------------------------------ */

typedef struct buf {
    char *s;
    size_t len, cap;
    int oom;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_num(buf_t *b, long long v)
{
    char n[24];
    buf_add(b, n, (size_t)snprintf(n, sizeof(n), "%lld", v));
}

/* The Redis key of a binding: its AOR and what identifies it there (RFC 5626 §6: the instance
 * and reg-id; else the contact, RFC 3261 §10.3 step 7). A space is in neither an AOR key nor a
 * URI, so keys of different AORs never meet. */
static void key_of(buf_t *b, const char *aor, const sip__loc_rec_t *r)
{
    buf_str(b, BINDING_PREFIX);
    buf_str(b, aor);
    const char *instance = sip__loc_str(r, SIP__LOC_INSTANCE);
    if (*instance) {
        buf_str(b, " i ");
        buf_str(b, instance);
        buf_str(b, " ");
        buf_num(b, r->reg_id);
    } else {
        buf_str(b, " c ");
        buf_str(b, sip__loc_str(r, SIP__LOC_CONTACT));
    }
}

/* The fields of a binding, in the order of a published change. */
enum {
    F_AOR,
    F_CONTACT,
    F_PARAMS,
    F_EXPIRES,
    F_Q,
    F_CALL_ID,
    F_CSEQ,
    F_PATH,
    F_RECEIVED,
    F_SOCKET,
    F_INSTANCE,
    F_REG_ID,
    F_USER_AGENT,
    F_UPDATED,
    F_NODE, /* the hash only: who wrote it, and its connection (valid for that process only) */
    F_CONN_ID,
    F_N
};

static const char *const field_names[F_N] = {
    "aor",      "contact", "params",   "expires", "q",          "call_id", "cseq", "path",
    "received", "socket",  "instance", "reg_id",  "user_agent", "updated", "node", "conn_id"};

/* The values of r as strings; numbers go into nums. */
static void values_of(const sip__loc_rec_t *r, const char *aor, const char *node,
                      const char *v[F_N], char nums[F_N][24])
{
    v[F_AOR] = aor;
    v[F_CONTACT] = sip__loc_str(r, SIP__LOC_CONTACT);
    v[F_PARAMS] = sip__loc_str(r, SIP__LOC_PARAMS);
    v[F_CALL_ID] = sip__loc_str(r, SIP__LOC_CALL_ID);
    v[F_PATH] = sip__loc_str(r, SIP__LOC_PATH);
    v[F_RECEIVED] = sip__loc_str(r, SIP__LOC_RECEIVED);
    v[F_SOCKET] = sip__loc_str(r, SIP__LOC_SOCKET);
    v[F_INSTANCE] = sip__loc_str(r, SIP__LOC_INSTANCE);
    v[F_USER_AGENT] = sip__loc_str(r, SIP__LOC_USER_AGENT);
    v[F_NODE] = node;
    snprintf(nums[F_EXPIRES], 24, "%lld", (long long)r->expires);
    snprintf(nums[F_Q], 24, "%d", r->q);
    snprintf(nums[F_CSEQ], 24, "%u", r->cseq);
    snprintf(nums[F_REG_ID], 24, "%u", r->reg_id);
    snprintf(nums[F_UPDATED], 24, "%lld", (long long)r->updated);
    snprintf(nums[F_CONN_ID], 24, "%llu", (unsigned long long)r->conn_id);
    static const int numeric[] = {F_EXPIRES, F_Q, F_CSEQ, F_REG_ID, F_UPDATED, F_CONN_ID};
    for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
        v[numeric[i]] = nums[numeric[i]];
}

static int parse_i64(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* A binding from its field values (NUL-terminated). conn_id is taken only from a hash this
 * process wrote: a connection does not outlive it. @return 0 or SIP_EINVAL. */
static int binding_of(redis_store_t *st, const char *v[F_N], sip_binding_t *b)
{
    long long expires, q, cseq, reg_id, updated, conn_id = 0;
    for (int i = 0; i < F_NODE; i++)
        if (!v[i]) return SIP_EINVAL;
    if (parse_i64(v[F_EXPIRES], 0, INT64_MAX, &expires) < 0 ||
        parse_i64(v[F_Q], -1, 1000, &q) < 0 || parse_i64(v[F_CSEQ], 0, UINT32_MAX, &cseq) < 0 ||
        parse_i64(v[F_REG_ID], 0, UINT32_MAX, &reg_id) < 0 ||
        parse_i64(v[F_UPDATED], 0, INT64_MAX, &updated) < 0)
        return SIP_EINVAL;
    if (v[F_NODE] && v[F_CONN_ID] && !strcmp(v[F_NODE], st->node))
        (void)parse_i64(v[F_CONN_ID], 0, INT64_MAX, &conn_id);
    memset(b, 0, sizeof(*b));
    b->aor = v[F_AOR];
    b->contact = v[F_CONTACT];
    b->params = v[F_PARAMS];
    b->expires = expires;
    b->q = (int)q;
    b->call_id = v[F_CALL_ID];
    b->cseq = (uint32_t)cseq;
    b->path = v[F_PATH];
    b->received = v[F_RECEIVED];
    b->socket = v[F_SOCKET];
    b->conn_id = (uint64_t)conn_id;
    b->instance = v[F_INSTANCE];
    b->reg_id = (uint32_t)reg_id;
    b->user_agent = v[F_USER_AGENT];
    b->updated = updated;
    return 0;
}

/* The field values of an HGETALL reply. @return 0, or -1 for a reply that is not a hash. */
static int hash_values(const redisReply *rep, const char *v[F_N])
{
    for (int i = 0; i < F_N; i++)
        v[i] = NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements % 2) return -1;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *val = rep->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) return -1;
        for (int f = 0; f < F_N; f++)
            if (!strcmp(k->str, field_names[f])) v[f] = val->str;
    }
    return 0;
}

/* ---- writes ------------------------------------------------------------------------------- */

/* Sends one write script. @return 0, SIP_ENOMEM, SIP_EIO (the connection refused it). */
static int send_script(redis_store_t *st, const char *aor, const sip__loc_rec_t *put,
                       sip__loc_rec_t *const *olds, size_t nolds, const char *change,
                       redisCallbackFn *cb)
{
    /* "EVAL" script numkeys KEYS... ARGV...: the keys are built in one buffer first (it moves
     * while it grows), then pointed at. */
    size_t argc = 3 + 1 + nolds + 3 + (put ? 2 * F_N : 0);
    const char **argv = malloc(argc * (sizeof(char *) + sizeof(size_t)));
    size_t *argvlen = (size_t *)(argv + argc);
    size_t *koff = malloc((nolds + 1) * 2 * sizeof(size_t));
    buf_t keys = {0};
    int rc = SIP_ENOMEM;
    if (!argv || !koff) goto out;
    for (size_t i = 0; i <= nolds; i++) {
        koff[2 * i] = keys.len;
        if (i == 0 && put) key_of(&keys, aor, put);
        if (i > 0) key_of(&keys, aor, olds[i - 1]);
        koff[2 * i + 1] = keys.len - koff[2 * i];
        buf_add(&keys, "", 0);
    }
    if (keys.oom || !keys.s) goto out;
    char numkeys[24], expires[24];
    snprintf(numkeys, sizeof(numkeys), "%zu", nolds + 1);
    snprintf(expires, sizeof(expires), "%lld", put ? (long long)put->expires : 0LL);
    size_t n = 0;
    argv[n] = "EVALSHA", argvlen[n++] = 7;
    argv[n] = st->sha, argvlen[n++] = 40;
    argv[n] = numkeys, argvlen[n++] = strlen(numkeys);
    for (size_t i = 0; i <= nolds; i++)
        argv[n] = keys.s + koff[2 * i], argvlen[n++] = koff[2 * i + 1];
    argv[n] = expires, argvlen[n++] = strlen(expires);
    argv[n] = st->channel, argvlen[n++] = strlen(st->channel);
    argv[n] = change, argvlen[n++] = strlen(change);
    const char *v[F_N];
    char nums[F_N][24];
    if (put) {
        values_of(put, aor, st->node, v, nums);
        for (int f = 0; f < F_N; f++) {
            argv[n] = field_names[f], argvlen[n++] = strlen(field_names[f]);
            argv[n] = v[f], argvlen[n++] = strlen(v[f]);
        }
    }
    rc = redisAsyncCommandArgv(st->cmd, cb, NULL, (int)n, argv, argvlen) == REDIS_OK ? 0 : SIP_EIO;
out:
    free(keys.s);
    free(koff);
    free(argv);
    return rc;
}

/* The change a PUT publishes: "P" node, then the binding's fields, a line each (no value
 * holds a line break: sip_location_put() refuses them). */
static void change_put(buf_t *b, redis_store_t *st, const char *aor, const sip__loc_rec_t *r)
{
    const char *v[F_N];
    char nums[F_N][24];
    values_of(r, aor, st->node, v, nums);
    buf_str(b, "P\n");
    buf_str(b, st->node);
    for (int f = 0; f < F_NODE; f++) {
        buf_str(b, "\n");
        buf_str(b, v[f]);
    }
}

/* ... and a DEL: "D" node aor, then for each binding removed its instance, reg-id and
 * contact: the flows of one instance often share a contact URI (RFC 5626 §4.2), so a flow is
 * named by its instance and reg-id, a binding without an instance by its contact. */
static void change_del(buf_t *b, redis_store_t *st, const char *aor, sip__loc_rec_t *const *olds,
                       size_t n)
{
    buf_str(b, "D\n");
    buf_str(b, st->node);
    buf_str(b, "\n");
    buf_str(b, aor);
    for (size_t i = 0; i < n; i++) {
        buf_str(b, "\n");
        buf_str(b, sip__loc_str(olds[i], SIP__LOC_INSTANCE));
        buf_str(b, "\n");
        buf_num(b, olds[i]->reg_id);
        buf_str(b, "\n");
        buf_str(b, sip__loc_str(olds[i], SIP__LOC_CONTACT));
    }
}

/* An op goes to Redis when it changes something there: expiry is Redis's own (TTLs). */
static int op_sent(const sip__loc_op_t *op)
{
    return op->aor && (op->kind == SIP__LOC_PUT || (op->kind == SIP__LOC_DEL && op->nids));
}

/* Completes the ops at the head that wait for nothing, after the one whose reply came. */
static void complete_head(redis_store_t *st, int status)
{
    sip_location_t *loc = st->loc;
    loc->refs++; /* the callbacks may drop the last reference */
    int first = 1;
    while (st->head && (first || !op_sent(st->head))) {
        sip__loc_op_t *op = st->head;
        st->head = op->next;
        if (!st->head) st->tail = &st->head;
        op->next = NULL;
        sip__location_op_done(loc, op, first ? status : 0);
        first = 0;
    }
    sip_location_unref(loc);
}

static void on_written(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    const redisReply *rep = reply;
    (void)priv;
    int status = 0;
    if (!rep) {
        status = SIP_EIO; /* the connection went: hiredis fails what was in flight */
    } else if (rep->type == REDIS_REPLY_ERROR) {
        sip_log(st->loc->loop, SIP_LOG_ERROR, "location", "%s: write refused: %s", st->url,
                rep->str);
        status = SIP_EIO;
        /* The script was flushed (SCRIPT FLUSH): a new connection loads it again. */
        if (!strncmp(rep->str, "NOSCRIPT", 8) && ac == st->cmd) redisAsyncDisconnect(ac);
    }
    complete_head(st, status);
}

static void rd_write(sip__loc_store_t *base, sip__loc_op_t *op)
{
    redis_store_t *st = (redis_store_t *)base;
    op->next = NULL;
    if (!op_sent(op)) {
        /* Nothing to send: it completes after the writes before it. */
        if (st->head) {
            *st->tail = op;
            st->tail = &op->next;
            return;
        }
        st->loc->refs++;
        sip__location_op_done(st->loc, op, 0);
        sip_location_unref(st->loc);
        return;
    }
    int rc = SIP_EIO;
    buf_t change = {0};
    if (st->cmd && !st->closed) {
        if (op->kind == SIP__LOC_PUT)
            change_put(&change, st, op->aor, op->rec);
        else
            change_del(&change, st, op->aor, op->olds, op->nids);
        rc = change.oom ? SIP_ENOMEM
                        : send_script(st, op->aor, op->kind == SIP__LOC_PUT ? op->rec : NULL,
                                      op->olds, op->nids, change.s, on_written);
    }
    free(change.s);
    if (rc < 0) {
        /* Not sent: it completes at once (after nothing: a write is sent only while every
         * write before it was). */
        st->loc->refs++;
        sip__location_op_done(st->loc, op, rc);
        sip_location_unref(st->loc);
        return;
    }
    *st->tail = op;
    st->tail = &op->next;
}

static int rd_ready(sip__loc_store_t *base)
{
    redis_store_t *st = (redis_store_t *)base;
    return st->cmd && !st->need_reload && !st->closed;
}

/* ---- changes from other nodes ------------------------------------------------------------- */

/* Applies one published change (s is modified). */
static void apply_change(redis_store_t *st, char *s)
{
    const char *v[F_N + 1] = {0};
    size_t n = 0;
    char *kind = s, *p = strchr(s, '\n');
    if (!p) return;
    *p++ = '\0';
    char *node = p;
    if (!(p = strchr(p, '\n'))) return;
    *p++ = '\0';
    if (!strcmp(node, st->node)) return; /* ours, already in memory */
    int rc = 0;
    if (!strcmp(kind, "P")) {
        while (p && n < F_NODE) {
            v[n++] = p;
            if ((p = strchr(p, '\n'))) *p++ = '\0';
        }
        sip_binding_t b;
        if (n != F_NODE || binding_of(st, v, &b) < 0) return;
        rc = sip__location_apply_put(st->loc, &b);
    } else if (!strcmp(kind, "D")) {
        const char *aor = p;
        if ((p = strchr(p, '\n'))) *p++ = '\0';
        while (p) {
            const char *part[3];
            int k = 0;
            for (; k < 3 && p; k++) {
                part[k] = p;
                if ((p = strchr(p, '\n'))) *p++ = '\0';
            }
            long long reg_id;
            if (k < 3 || parse_i64(part[1], 0, UINT32_MAX, &reg_id) < 0) return;
            if (!*part[0]) {
                (void)sip__location_apply_del(st->loc, aor, part[2]);
                continue;
            }
            /* An expired put removes the binding it would replace: the flow's. */
            sip_binding_t b = {.aor = aor,
                               .contact = part[2],
                               .instance = part[0],
                               .reg_id = (uint32_t)reg_id,
                               .q = -1,
                               .expires = 0};
            (void)sip__location_apply_put(st->loc, &b);
        }
    }
    if (rc == SIP_ENOMEM)
        sip_log(st->loc->loop, SIP_LOG_ERROR, "location",
                "%s: out of memory applying another node's change", st->url);
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    const redisReply *rep = reply;
    (void)priv;
    if (!rep || st->closed || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
    const redisReply *what = rep->element[0], *payload = rep->element[2];
    if (what->type != REDIS_REPLY_STRING) return;
    if (!strcmp(what->str, "subscribe")) {
        st->sub_up = 1;
        maybe_reload(st);
        return;
    }
    if (strcmp(what->str, "message") || payload->type != REDIS_REPLY_STRING) return;
    /* Our own change comes back too: it is in memory already. */
    size_t nl = strlen(st->node);
    if (payload->len > nl + 3 && payload->str[1] == '\n' && payload->str[nl + 2] == '\n' &&
        !memcmp(payload->str + 2, st->node, nl))
        return;
    msg_t *m = malloc(sizeof(*m) + payload->len + 1);
    if (!m) return;
    m->next = NULL;
    m->len = payload->len;
    memcpy(m->s, payload->str, payload->len);
    m->s[payload->len] = '\0';
    if (st->reloading) {
        /* Applied after the reloaded bindings: they may be older than it. */
        *st->msgs_tail = m;
        st->msgs_tail = &m->next;
        return;
    }
    apply_change(st, m->s);
    free(m);
}

/* ---- connections -------------------------------------------------------------------------- */

static void log_down(redis_store_t *st, const char *why)
{
    if (st->down_logged || st->closed) return;
    st->down_logged = 1;
    sip_log(st->loc->loop, SIP_LOG_WARN, "location",
            "%s: %s; registrations are refused (503) until it is back", st->url, why);
}

static void free_reload(redis_store_t *st)
{
    while (st->snap) {
        snap_t *s = st->snap;
        st->snap = s->next;
        sip__loc_rec_unref(s->rec);
        free(s);
    }
    while (st->msgs) {
        msg_t *m = st->msgs;
        st->msgs = m->next;
        free(m);
    }
    st->msgs_tail = &st->msgs;
    st->nsnap = 0;
    st->reloading = 0;
}

/* A connection was lost: everything is reloaded once both are back. */
static void lost(redis_store_t *st, redisAsyncContext *ac, const char *why)
{
    if (ac == st->cmd) {
        st->cmd = NULL;
        st->cmd_up = 0;
    } else if (ac == st->sub) {
        st->sub = NULL;
        st->sub_up = 0;
    } else {
        return;
    }
    if (st->closed || st->opening) return;
    st->need_reload = 1;
    free_reload(st);
    log_down(st, why);
    schedule_retry(st);
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    redis_store_t *st = ac->data;
    if (status != REDIS_OK) lost(st, (redisAsyncContext *)ac, ac->errstr);
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    redis_store_t *st = ac->data;
    (void)status;
    lost(st, (redisAsyncContext *)ac, ac->err ? ac->errstr : "connection closed");
}

static void on_epoch(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    const redisReply *rep = reply;
    (void)priv;
    if (!rep || st->closed || ac != st->cmd) return;
    if (rep->type != REDIS_REPLY_STRING) {
        sip_log(st->loc->loop, SIP_LOG_ERROR, "location", "%s: reading %s: %s", st->url, EPOCH_KEY,
                rep->type == REDIS_REPLY_ERROR ? rep->str : "not a string");
        redisAsyncDisconnect(ac);
        return;
    }
    /* Another epoch: this Redis lost what it held (restarted without saving); what this node
     * knows is written back before the reload, so that no acknowledged binding is lost. */
    if (strcmp(rep->str, st->epoch)) st->restore = 1;
    snprintf(st->epoch, sizeof(st->epoch), "%s", rep->str);
    st->cmd_up = 1;
    maybe_reload(st);
}

static redisAsyncContext *open_conn(redis_store_t *st, int is_sub)
{
    redisAsyncContext *ac = redisAsyncConnect(st->ip, st->port);
    if (!ac) return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = st;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    if (is_sub) {
        redisAsyncCommand(ac, on_message, NULL, "SUBSCRIBE %s", st->channel);
    } else {
        /* A fresh value each time: the same one again would hide that Redis lost it. */
        char epoch[20];
        if (sip_random_hex(64, epoch, sizeof(epoch)) < 0) {
            redisAsyncFree(ac);
            return NULL;
        }
        if (st->db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", st->db);
        /* Sent before any write on this connection: EVALSHA then finds it, even on a Redis
         * that restarted empty. */
        redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %s", script);
        redisAsyncCommand(ac, NULL, NULL, "SET %s %s NX", EPOCH_KEY, epoch);
        redisAsyncCommand(ac, on_epoch, NULL, "GET %s", EPOCH_KEY);
    }
    return ac;
}

static void retry_tick(uv_timer_t *t)
{
    redis_store_t *st = t->data;
    if (st->closed) return;
    for (int is_sub = 0; is_sub < 2; is_sub++) {
        redisAsyncContext **slot = is_sub ? &st->sub : &st->cmd;
        if (*slot) continue;
        redisAsyncContext *ac = open_conn(st, is_sub);
        if (ac && ev_attach(st, ac) < 0) {
            redisAsyncFree(ac);
            ac = NULL;
        }
        *slot = ac;
    }
    if (!st->cmd || !st->sub) schedule_retry(st);
}

static void schedule_retry(redis_store_t *st)
{
    if (st->closed || uv_is_active((uv_handle_t *)&st->retry)) return;
    uv_timer_start(&st->retry, retry_tick, st->backoff_ms, 0);
    /* Doubling up to a ceiling: a Redis that is down is not hammered, one that is back is
     * found within two seconds. */
    st->backoff_ms = st->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : st->backoff_ms * 2;
}

/* ---- reloading ---------------------------------------------------------------------------- */

static void on_restored(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    (void)priv;
}

/* Writes back every binding this node knows (Redis came back empty). */
static void restore(redis_store_t *st)
{
    sip_location_t *loc = st->loc;
    int64_t now = sip__location_now(loc);
    size_t n = 0;
    for (size_t i = 0; loc->buckets && i <= loc->mask; i++)
        for (sip__loc_aor_t *a = loc->buckets[i]; a; a = a->next)
            for (sip__loc_rec_t *r = a->head; r; r = r->next) {
                if (r->expires <= now) continue;
                buf_t change = {0};
                change_put(&change, st, a->key, r);
                if (!change.oom) (void)send_script(st, a->key, r, NULL, 0, change.s, on_restored);
                free(change.s);
                n++;
            }
    sip_log(loc->loop, SIP_LOG_WARN, "location", "%s: came back empty; %zu bindings written back",
            st->url, n);
}

static void on_reloaded(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    (void)priv;
    if (!reply || !st->reloading || ac != st->cmd) return;
    sip_location_t *loc = st->loc;
    sip__location_apply_clear(loc);
    size_t n = 0;
    while (st->snap) {
        snap_t *s = st->snap;
        st->snap = s->next;
        const sip__loc_rec_t *r = s->rec;
        sip_binding_t b = {
            .aor = s->aor,
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
        if (sip__location_apply_put(loc, &b) == 0) n++;
        sip__loc_rec_unref(s->rec);
        free(s);
    }
    /* The changes that came during the reload are newer than it, or as old. */
    while (st->msgs) {
        msg_t *m = st->msgs;
        st->msgs = m->next;
        apply_change(st, m->s);
        free(m);
    }
    free_reload(st);
    st->need_reload = 0;
    st->down_logged = 0;
    st->backoff_ms = BACKOFF_MIN_MS;
    sip_log(loc->loop, SIP_LOG_INFO, "location", "%s: back; %zu bindings reloaded", st->url, n);
}

static void on_hgetall(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    const char *v[F_N];
    sip_binding_t b;
    (void)priv;
    if (!reply || !st->reloading || ac != st->cmd) return;
    if (hash_values(reply, v) < 0 || binding_of(st, v, &b) < 0) return; /* gone meanwhile */
    const char *str[SIP__LOC_NSTR] = {b.contact,  b.params, b.call_id,  b.path,
                                      b.received, b.socket, b.instance, b.user_agent};
    size_t len[SIP__LOC_NSTR];
    for (int k = 0; k < SIP__LOC_NSTR; k++)
        len[k] = strlen(str[k]);
    size_t alen = strlen(b.aor);
    snap_t *s = malloc(sizeof(*s) + alen + 1);
    if (!s || !(s->rec = sip__loc_rec_new(&b, str, len))) {
        free(s);
        return;
    }
    memcpy(s->aor, b.aor, alen + 1);
    s->next = st->snap;
    st->snap = s;
    st->nsnap++;
}

static void on_scan(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_store_t *st = ac->data;
    const redisReply *rep = reply;
    (void)priv;
    if (!rep || !st->reloading || ac != st->cmd) return;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
        redisAsyncDisconnect(ac); /* reloaded when it comes back */
        return;
    }
    const redisReply *keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            redisAsyncCommand(ac, on_hgetall, NULL, "HGETALL %b", keys->element[i]->str,
                              keys->element[i]->len);
    if (strcmp(rep->element[0]->str, "0"))
        redisAsyncCommand(ac, on_scan, NULL, "SCAN %s MATCH %s* COUNT 1000", rep->element[0]->str,
                          BINDING_PREFIX);
    else
        /* Replies come in order: this one comes after every HGETALL. */
        redisAsyncCommand(ac, on_reloaded, NULL, "PING");
}

/* Both connections are back: reload everything (writes are refused until it is done). */
static void maybe_reload(redis_store_t *st)
{
    if (!st->need_reload || st->reloading || !st->cmd_up || !st->sub_up || st->closed) return;
    st->reloading = 1;
    if (st->restore) restore(st);
    st->restore = 0;
    redisAsyncCommand(st->cmd, on_scan, NULL, "SCAN 0 MATCH %s* COUNT 1000", BINDING_PREFIX);
}

/* ---- opening, loading, closing ------------------------------------------------------------ */

static int fail_redis(redis_store_t *st, const char *what, const char *why)
{
    sip_log(st->loc->loop, SIP_LOG_ERROR, "location", "%s: %s: %s", st->url, what, why);
    return SIP_EIO;
}

/* "redis://host:port[/db]", host resolved to an address now (no resolving on the loop). */
static int parse_url(redis_store_t *st, const char *url)
{
    char host[256];
    if (strlen(url) >= sizeof(st->url) || strncmp(url, "redis://", 8)) return SIP_EINVAL;
    snprintf(st->url, sizeof(st->url), "%s", url);
    const char *hp = url + 8, *slash = strchr(hp, '/');
    size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
    const char *colon = n ? memrchr(hp, ':', n) : NULL;
    if (!colon || colon == hp) return SIP_EINVAL;
    const char *h = hp;
    size_t hl = (size_t)(colon - hp);
    if (*h == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
    if (hl >= sizeof(host)) return SIP_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    long long port, db = 0;
    char num[16];
    size_t pl = n - (size_t)(colon + 1 - hp);
    if (pl >= sizeof(num)) return SIP_EINVAL;
    memcpy(num, colon + 1, pl);
    num[pl] = '\0';
    if (parse_i64(num, 1, 65535, &port) < 0) return SIP_EINVAL;
    if (slash && parse_i64(slash + 1, 0, 65535, &db) < 0) return SIP_EINVAL;
    st->port = (int)port;
    st->db = (int)db;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc) return fail_redis(st, "cannot resolve", gai_strerror(rc));
    rc =
        getnameinfo(res->ai_addr, res->ai_addrlen, st->ip, sizeof(st->ip), NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return rc ? fail_redis(st, "cannot resolve", gai_strerror(rc)) : 0;
}

static int subscribed(redis_store_t *st)
{
    return st->sub_up;
}

static int epoch_read(redis_store_t *st)
{
    return st->cmd_up;
}

static void free_conn(redisAsyncContext **acp)
{
    redisAsyncContext *ac = *acp;
    *acp = NULL;
    if (ac) redisAsyncFree(ac);
}

/* Loads every binding on a blocking connection (create may wait, as SQLite's does). */
static int load(redis_store_t *st)
{
    struct timeval tv = {SYNC_MS / 1000, (SYNC_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(st->ip, st->port, tv);
    int rc = 0;
    redisReply *r = NULL;
    if (!c || c->err) {
        rc = fail_redis(st, "cannot connect", c ? c->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(c, tv);
#define CMD(...)                                                                                   \
    do {                                                                                           \
        freeReplyObject(r);                                                                        \
        r = redisCommand(c, __VA_ARGS__);                                                          \
        if (!r || r->type == REDIS_REPLY_ERROR) {                                                  \
            rc = fail_redis(st, "loading", r ? r->str : c->errstr);                                \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
    if (st->db) CMD("SELECT %d", st->db);
    char epoch[20];
    if (sip_random_hex(64, epoch, sizeof(epoch)) < 0) {
        rc = SIP_EIO;
        goto out;
    }
    CMD("SET %s %s NX", EPOCH_KEY, epoch);
    CMD("GET %s", EPOCH_KEY);
    if (r->type != REDIS_REPLY_STRING) {
        rc = fail_redis(st, "loading", EPOCH_KEY " is not a string");
        goto out;
    }
    snprintf(st->epoch, sizeof(st->epoch), "%s", r->str);
    char cursor[32] = "0";
    do {
        CMD("SCAN %s MATCH %s* COUNT 1000", cursor, BINDING_PREFIX);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = fail_redis(st, "loading", "unexpected SCAN reply");
            goto out;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        /* The hashes of one page are asked for together (one round trip). */
        const redisReply *keys = r->element[1];
        size_t asked = 0;
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element[i]->type == REDIS_REPLY_STRING &&
                redisAppendCommand(c, "HGETALL %b", keys->element[i]->str, keys->element[i]->len) ==
                    REDIS_OK)
                asked++;
        for (size_t i = 0; i < asked; i++) {
            void *got = NULL;
            if (redisGetReply(c, &got) != REDIS_OK) {
                rc = fail_redis(st, "loading", c->errstr);
                goto out;
            }
            const char *v[F_N];
            sip_binding_t b;
            if (hash_values(got, v) == 0 && binding_of(st, v, &b) == 0) {
                int arc = sip__location_apply_put(st->loc, &b);
                if (arc == SIP_ENOMEM) rc = arc;
            }
            freeReplyObject(got);
            if (rc < 0) goto out;
        }
    } while (strcmp(cursor, "0"));
#undef CMD
out:
    freeReplyObject(r);
    if (c) redisFree(c);
    return rc;
}

static int rd_open(sip__loc_store_t **out, sip_location_t *loc, const sip_location_opts_t *opts,
                   int64_t now)
{
    (void)now;
    redis_store_t *st = calloc(1, sizeof(*st));
    if (!st) return SIP_ENOMEM;
    st->base.ops = &sip__loc_redis_ops;
    st->loc = loc;
    st->tail = &st->head;
    st->msgs_tail = &st->msgs;
    st->backoff_ms = BACKOFF_MIN_MS;
    st->opening = 1;
    int rc = parse_url(st, opts->redis_url);
    if (rc == SIP_EINVAL)
        sip_log(loc->loop, SIP_LOG_ERROR, "location", "\"%s\": wants redis://host:port[/db]",
                opts->redis_url);
    if (rc < 0) goto fail;
    snprintf(st->channel, sizeof(st->channel), PREFIX "%d", st->db);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(script, sizeof(script) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        rc = SIP_EIO;
        goto fail;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(st->sha + 2 * i, 3, "%02x", md[i]);
    if (sip_random_hex(64, st->node, sizeof(st->node)) < 0) {
        rc = SIP_EIO;
        goto fail;
    }
    /* Subscribed before the load: a change made meanwhile is in the subscription, applied
     * after the load (in the loop), so none falls between the two. The asynchronous
     * connections are driven here by hand until the loop takes them. */
    rc = SIP_EIO;
    if (!(st->sub = open_conn(st, 1))) {
        fail_redis(st, "cannot connect", "out of memory");
        goto fail;
    }
    drive(st, &st->sub, subscribed, SYNC_MS);
    if (!st->sub_up) {
        fail_redis(st, "cannot connect", st->sub ? "no answer to SUBSCRIBE" : "connection refused");
        goto fail;
    }
    if ((rc = load(st)) < 0) goto fail;
    rc = SIP_EIO;
    if (!(st->cmd = open_conn(st, 0))) goto fail;
    drive(st, &st->cmd, epoch_read, SYNC_MS);
    if (!st->cmd_up) {
        fail_redis(st, "cannot connect", st->cmd ? "no answer" : "connection refused");
        goto fail;
    }
    uv_timer_init(sip_loop_get_uv(loc->loop), &st->retry);
    st->retry.data = st;
    loc->pending++;
    st->opening = 0;
    /* From here the store is open: a connection the loop cannot take (no memory for its
     * handle) is a connection lost, made again later. */
    if (ev_attach(st, st->sub) < 0) redisAsyncFree(st->sub);
    if (ev_attach(st, st->cmd) < 0) redisAsyncFree(st->cmd);
    *out = &st->base;
    return 0;
fail:
    sip__location_apply_clear(loc);
    free_conn(&st->cmd);
    free_conn(&st->sub);
    free(st);
    return rc;
}

static int writes_done(redis_store_t *st)
{
    return st->head == NULL;
}

static void retry_closed(uv_handle_t *h)
{
    redis_store_t *st = h->data;
    sip__location_release(st->loc);
}

static void rd_close(sip__loc_store_t *base)
{
    redis_store_t *st = (redis_store_t *)base;
    if (st->closed) return;
    /* The writes in flight are waited for (a clean stop loses nothing acknowledged), unless
     * this runs inside one of the connection's callbacks: those fail then. */
    if (st->cmd && st->head && !(st->cmd->c.flags & REDIS_IN_CALLBACK))
        drive(st, &st->cmd, writes_done, SYNC_MS);
    st->closed = 1;
    uv_timer_stop(&st->retry);
    uv_close((uv_handle_t *)&st->retry, retry_closed);
    free_reload(st);
    /* What no reply came for fails: hiredis calls every command back as it frees (later,
     * when this runs inside one of its callbacks). */
    free_conn(&st->cmd);
    free_conn(&st->sub);
}

static void rd_free(sip__loc_store_t *base)
{
    redis_store_t *st = (redis_store_t *)base;
    free_reload(st);
    free(st);
}

const sip__loc_store_ops_t sip__loc_redis_ops = {
    .name = "redis",
    .open = rd_open,
    .write = rd_write,
    .lookup = NULL,
    .close = rd_close,
    .free = rd_free,
    .ready = rd_ready,
};
