/* SPDX-License-Identifier: MIT */
/* The SQLite store of the location service: every binding stays in the memory index (the read
 * path); writes are queued and committed in batches, one transaction each, by a worker of
 * libuv's thread pool, so the loop never waits on the disk. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/mem.h"
#include "location/store.h"
#include "sip/error.h"

/* One batch is in flight at a time: batches commit in the order their writes were made, and
 * the ones made during a commit go together in the next (a group commit: the busier the
 * service, the larger and cheaper its transactions). */
typedef struct batch {
    uv_work_t req;
    sip__loc_op_t *head;
    int status;
    int abandoned; /* sip_location_close() completed it; the after-work callback only ends */
    char err[256];
} batch_t;

typedef struct sqlite_store {
    sip__loc_store_t base;
    sip_location_t *loc;
    char *path;
    sqlite3 *db;
    /* Used by one thread at a time: the loop thread at open and close, else the worker of the
     * batch in flight (uv_queue_work orders them). */
    sqlite3_stmt *put, *del, *begin, *commit, *rollback;
    sip__loc_op_t *head, **tail; /* queued, not yet in a batch */
    batch_t batch;
    int inflight, closed;
    /* The ops whose callbacks are running, and their status: a callback that closes the
     * service has close() finish them first, so callbacks keep the order of the writes. */
    sip__loc_op_t *completing;
    int completing_status;
    uv_timer_t timer;
    uint32_t batch_ms;
    /* sip_location_close() waits on these for the worker of the batch in flight. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int worker_done;
} sqlite_store_t;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS bindings ("
    " id INTEGER PRIMARY KEY, aor TEXT NOT NULL, contact TEXT NOT NULL, params TEXT,"
    " expires INTEGER NOT NULL, q INTEGER NOT NULL, call_id TEXT, cseq INTEGER,"
    " path TEXT, received TEXT, socket TEXT, instance TEXT, reg_id INTEGER,"
    " user_agent TEXT, updated INTEGER)";

/* conn_id is not a column: a connection does not outlive the process (sip/location.h). */
static const char sql_put[] =
    "INSERT INTO bindings (id, aor, contact, params, expires, q, call_id, cseq,"
    " path, received, socket, instance, reg_id, user_agent, updated)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
static const char sql_load[] =
    "SELECT id, aor, contact, params, expires, q, call_id, cseq, path, received, socket,"
    " instance, reg_id, user_agent, updated FROM bindings WHERE expires > ?1 ORDER BY id";

static int fail_db(sqlite_store_t *st, const char *what)
{
    sip_log(st->loc->loop, SIP_LOG_ERROR, "location", "%s: %s: %s", st->path, what,
            st->db ? sqlite3_errmsg(st->db) : "out of memory");
    return SIP_EIO;
}

/* ---- the worker side ---------------------------------------------------------------------- */

static int step(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int write_op(sqlite_store_t *st, const sip__loc_op_t *op)
{
    int rc = 0;
    for (size_t i = 0; i < op->nids && !rc; i++) {
        sqlite3_bind_int64(st->del, 1, (sqlite3_int64)op->ids[i]);
        rc = step(st->del);
    }
    if (!rc && op->kind == SIP__LOC_PUT) {
        const sip__loc_rec_t *r = op->rec;
        sqlite3_stmt *s = st->put;
        sqlite3_bind_int64(s, 1, (sqlite3_int64)r->id);
        bind_text(s, 2, op->aor);
        bind_text(s, 3, sip__loc_str(r, SIP__LOC_CONTACT));
        bind_text(s, 4, sip__loc_str(r, SIP__LOC_PARAMS));
        sqlite3_bind_int64(s, 5, r->expires);
        sqlite3_bind_int(s, 6, r->q);
        bind_text(s, 7, sip__loc_str(r, SIP__LOC_CALL_ID));
        sqlite3_bind_int64(s, 8, r->cseq);
        bind_text(s, 9, sip__loc_str(r, SIP__LOC_PATH));
        bind_text(s, 10, sip__loc_str(r, SIP__LOC_RECEIVED));
        bind_text(s, 11, sip__loc_str(r, SIP__LOC_SOCKET));
        bind_text(s, 12, sip__loc_str(r, SIP__LOC_INSTANCE));
        sqlite3_bind_int64(s, 13, r->reg_id);
        bind_text(s, 14, sip__loc_str(r, SIP__LOC_USER_AGENT));
        sqlite3_bind_int64(s, 15, r->updated);
        rc = step(s);
        sqlite3_clear_bindings(s);
    }
    return rc;
}

/* Commits the ops in one transaction. @return 0 or SIP_EIO with the reason in err. */
static int commit_ops(sqlite_store_t *st, const sip__loc_op_t *ops, char *err, size_t size)
{
    int rc = step(st->begin);
    for (const sip__loc_op_t *op = ops; op && !rc; op = op->next)
        rc = write_op(st, op);
    if (!rc) rc = step(st->commit);
    if (!rc) return 0;
    snprintf(err, size, "%s", sqlite3_errmsg(st->db));
    if (!sqlite3_get_autocommit(st->db)) (void)step(st->rollback);
    return SIP_EIO;
}

static void work(uv_work_t *req)
{
    sqlite_store_t *st = req->data;
    batch_t *b = &st->batch;
    b->status = commit_ops(st, b->head, b->err, sizeof(b->err));
    pthread_mutex_lock(&st->mu);
    st->worker_done = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* ---- the loop side ------------------------------------------------------------------------ */

static void drain(sqlite_store_t *st)
{
    while (st->completing) {
        sip__loc_op_t *op = st->completing;
        st->completing = op->next;
        op->next = NULL;
        sip__location_op_done(st->loc, op, st->completing_status);
    }
}

/* Completes a list of ops with a status, in order. */
static void complete(sqlite_store_t *st, sip__loc_op_t *ops, int status, const char *err)
{
    if (status < 0 && ops)
        sip_log(st->loc->loop, SIP_LOG_ERROR, "location", "%s: commit failed: %s", st->path, err);
    st->completing = ops;
    st->completing_status = status;
    drain(st);
}

static void start_batch(sqlite_store_t *st);

static void after_work(uv_work_t *req, int status)
{
    sqlite_store_t *st = req->data;
    sip_location_t *loc = st->loc;
    batch_t *b = &st->batch;
    (void)status; /* UV_ECANCELED: sip_location_close() took the batch back and committed it */
    if (!b->abandoned) {
        sip__loc_op_t *ops = b->head;
        b->head = NULL;
        st->inflight = 0;
        loc->refs++; /* the callbacks may drop the last reference */
        complete(st, ops, b->status, b->err);
        if (st->head && !st->closed) start_batch(st);
        loc->refs--;
    }
    sip__location_release(loc);
}

static void start_batch(sqlite_store_t *st)
{
    batch_t *b = &st->batch;
    b->head = st->head;
    b->status = 0;
    b->abandoned = 0;
    b->err[0] = '\0';
    st->head = NULL;
    st->tail = &st->head;
    st->inflight = 1;
    st->worker_done = 0;
    b->req.data = st;
    st->loc->pending++;
    int rc = uv_queue_work(sip_loop_get_uv(st->loc->loop), &b->req, work, after_work);
    if (rc < 0) {
        /* Only an invalid argument fails here; commit at once rather than lose the writes. */
        st->loc->pending--;
        st->inflight = 0;
        sip__loc_op_t *ops = b->head;
        b->head = NULL;
        b->status = commit_ops(st, ops, b->err, sizeof(b->err));
        complete(st, ops, b->status, b->err);
    }
}

static void batch_due(uv_timer_t *t)
{
    sqlite_store_t *st = t->data;
    if (!st->inflight && st->head && !st->closed) start_batch(st);
}

static void sq_write(sip__loc_store_t *base, sip__loc_op_t *op)
{
    sqlite_store_t *st = (sqlite_store_t *)base;
    op->next = NULL;
    *st->tail = op;
    st->tail = &op->next;
    /* A batch in flight takes the queue with it when it ends; else the queue waits batch_ms
     * for company. */
    if (!st->inflight && !uv_is_active((uv_handle_t *)&st->timer))
        uv_timer_start(&st->timer, batch_due, st->batch_ms, 0);
}

static void timer_closed(uv_handle_t *h)
{
    sqlite_store_t *st = h->data;
    sip__location_release(st->loc);
}

static void finalize(sqlite_store_t *st)
{
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->rollback);
    st->put = st->del = st->begin = st->commit = st->rollback = NULL;
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        sip_log(st->loc->loop, SIP_LOG_WARN, "location", "%s: close: %s", st->path,
                sqlite3_errmsg(st->db));
    st->db = NULL;
}

static void sq_close(sip__loc_store_t *base)
{
    sqlite_store_t *st = (sqlite_store_t *)base;
    if (st->closed) return;
    st->closed = 1;
    drain(st); /* closed from a write's callback: the writes before go first */
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, timer_closed);
    char err[256] = "";
    if (st->inflight) {
        batch_t *b = &st->batch;
        sip__loc_op_t *ops = b->head;
        b->head = NULL;
        b->abandoned = 1;
        st->inflight = 0;
        if (uv_cancel((uv_req_t *)&b->req) == 0) {
            /* Not started: its writes go first in the commit below. */
            sip__loc_op_t **p = &ops;
            while (*p)
                p = &(*p)->next;
            *p = st->head;
            st->head = ops;
        } else {
            /* Running (or done, its after-work callback not run yet): wait for its commit. */
            pthread_mutex_lock(&st->mu);
            while (!st->worker_done)
                pthread_cond_wait(&st->cv, &st->mu);
            pthread_mutex_unlock(&st->mu);
            complete(st, ops, b->status, b->err);
        }
    }
    /* A clean stop loses nothing pending: the rest is committed here, on this thread. */
    sip__loc_op_t *ops = st->head;
    st->head = NULL;
    st->tail = &st->head;
    if (ops) {
        int rc = commit_ops(st, ops, err, sizeof(err));
        complete(st, ops, rc, err);
    }
    finalize(st);
}

static void sq_free(sip__loc_store_t *base)
{
    sqlite_store_t *st = (sqlite_store_t *)base;
    finalize(st);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->path);
    free(st);
}

/* ---- opening and loading ------------------------------------------------------------------ */

static const char *col_text(sqlite3_stmt *s, int i, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    *len = t ? (size_t)sqlite3_column_bytes(s, i) : 0;
    return t ? t : "";
}

static int load(sqlite_store_t *st, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int rc = 0;
    /* Expired rows are deleted rather than loaded (the process may have been down a while). */
    sqlite3_stmt *d = NULL;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM bindings WHERE expires <= ?1", -1, &d, NULL) ||
        (sqlite3_bind_int64(d, 1, now), step(d))) {
        sqlite3_finalize(d);
        return fail_db(st, "deleting expired bindings");
    }
    sqlite3_finalize(d);
    if (sqlite3_prepare_v2(st->db, sql_load, -1, &s, NULL)) return fail_db(st, "loading");
    sqlite3_bind_int64(s, 1, now);
    int step_rc;
    while ((step_rc = sqlite3_step(s)) == SQLITE_ROW) {
        sip_binding_t b = {0};
        const char *str[SIP__LOC_NSTR];
        size_t len[SIP__LOC_NSTR], klen;
        static const int cols[SIP__LOC_NSTR] = {2, 3, 6, 8, 9, 10, 11, 13};
        for (int k = 0; k < SIP__LOC_NSTR; k++)
            str[k] = col_text(s, cols[k], &len[k]);
        const char *key = col_text(s, 1, &klen);
        b.expires = sqlite3_column_int64(s, 4);
        b.q = sqlite3_column_int(s, 5);
        b.cseq = (uint32_t)sqlite3_column_int64(s, 7);
        b.reg_id = (uint32_t)sqlite3_column_int64(s, 12);
        b.updated = sqlite3_column_int64(s, 14);
        if (b.q < -1 || b.q > 1000) b.q = -1;
        if (!klen || !len[SIP__LOC_CONTACT]) continue;
        size_t total = 0;
        for (int k = 0; k < SIP__LOC_NSTR; k++)
            total += len[k] + 1;
        if (total > SIP__LOC_STR_MAX) continue; /* not written by us */
        sip__loc_rec_t *r = sip__loc_rec_new(&b, str, len);
        if (!r) {
            rc = SIP_ENOMEM;
            break;
        }
        r->id = (uint64_t)sqlite3_column_int64(s, 0);
        if ((rc = sip__location_load(st->loc, key, klen, r)) < 0) break;
    }
    if (!rc && step_rc != SQLITE_DONE) rc = fail_db(st, "loading");
    sqlite3_finalize(s);
    return rc;
}

static int prepare(sqlite_store_t *st, const char *sql, sqlite3_stmt **out)
{
    /* SQLITE_PREPARE_PERSISTENT: these live as long as the store. */
    return sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) ? SIP_EIO : 0;
}

static int sq_open(sip__loc_store_t **out, sip_location_t *loc, const sip_location_opts_t *opts,
                   int64_t now)
{
    sqlite_store_t *st = calloc(1, sizeof(*st));
    if (!st) return SIP_ENOMEM;
    st->base.ops = &sip__loc_sqlite_ops;
    st->loc = loc;
    st->tail = &st->head;
    st->batch_ms = opts->batch_ms;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    int rc = SIP_ENOMEM;
    if (!(st->path = sip__strdup(opts->db_path))) goto fail;
    /* The connection is used by one thread at a time (see sqlite_store_t): no mutex of its own. */
    if (sqlite3_open_v2(opts->db_path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = fail_db(st, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL with synchronous=NORMAL: a commit is in the log file when COMMIT returns, so it
     * survives the process being killed (SIGKILL included) -- what an acknowledged
     * registration needs; only a power loss or an OS crash may lose the last commits, the
     * price of not syncing the disk on each of them (https://sqlite.org/wal.html). */
    char *msg = NULL;
    if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        sqlite3_free(msg);
        rc = fail_db(st, "cannot set up the database");
        goto fail;
    }
    if ((rc = load(st, now)) < 0) goto fail;
    if (prepare(st, sql_put, &st->put) ||
        prepare(st, "DELETE FROM bindings WHERE id = ?1", &st->del) ||
        prepare(st, "BEGIN", &st->begin) || prepare(st, "COMMIT", &st->commit) ||
        prepare(st, "ROLLBACK", &st->rollback)) {
        rc = fail_db(st, "cannot prepare statements");
        goto fail;
    }
    uv_timer_init(sip_loop_get_uv(loc->loop), &st->timer);
    st->timer.data = st;
    loc->pending++;
    *out = &st->base;
    return 0;
fail:
    finalize(st);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->path);
    free(st);
    return rc;
}

const sip__loc_store_ops_t sip__loc_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .write = sq_write,
    .lookup = NULL,
    .close = sq_close,
    .free = sq_free,
};
