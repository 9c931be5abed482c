/* SPDX-License-Identifier: MIT */
/* Stateful relaying (RFC 3261 §16.5-§16.10): targets, branches as client transactions, parallel
 * and sequential forking by q, response aggregation (§16.7), timer C, CANCEL. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "proxy/proxy_int.h"
#include "sip/error.h"

#define CONTAINER(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

void sip_proxy_relay_opts_init(sip_proxy_relay_opts_t *o)
{
    if (!o) return;
    *o = (sip_proxy_relay_opts_t){0};
    o->parallel = 1;
}

/* ---- targets ------------------------------------------------------------------------------- */

static void target_free(sip__proxy_target_t *t)
{
    free(t->uri);
    free(t->path);
    free(t->dst);
}

void sip__proxy_targets_free(sip_proxy_req_t *req)
{
    for (size_t i = 0; i < req->ntargets; i++)
        target_free(&req->targets[i]);
    free(req->targets);
    req->targets = NULL;
    req->ntargets = req->cap_targets = 0;
}

static int tried(const sip_proxy_req_t *req, const char *uri)
{
    for (size_t i = 0; i < req->ntried; i++)
        if (strcmp(req->tried[i], uri) == 0) return 1;
    return 0;
}

static int remember(sip_proxy_req_t *req, const char *uri)
{
    if (req->ntried == req->cap_tried) {
        size_t cap = req->cap_tried ? req->cap_tried * 2 : 8;
        char **t = realloc(req->tried, cap * sizeof(*t));
        if (!t) return SIP_ENOMEM;
        req->tried = t;
        req->cap_tried = cap;
    }
    char *c = sip__strdup(uri);
    if (!c) return SIP_ENOMEM;
    req->tried[req->ntried++] = c;
    return 0;
}

int sip_proxy_req_add_target(sip_proxy_req_t *req, const sip_proxy_target_t *t)
{
    if (!req || !t || !t->uri) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    sip_uri_t u;
    if (sip_uri_parse(&u, t->uri, strlen(t->uri))) return SIP_EURI;
    /* The Path goes into a Route as it is: a line break would only skip the branch later,
     * without a word. */
    if (t->path && strpbrk(t->path, "\r\n")) return SIP_EINVAL;
    if (req->nbranches + req->ntargets >= req->p->max_branches) return SIP_ERANGE;
    if (req->ntargets == req->cap_targets) {
        size_t cap = req->cap_targets ? req->cap_targets * 2 : 4;
        sip__proxy_target_t *n = realloc(req->targets, cap * sizeof(*n));
        if (!n) return SIP_ENOMEM;
        req->targets = n;
        req->cap_targets = cap;
    }
    sip__proxy_target_t c = {0};
    c.uri = sip__strdup(t->uri);
    c.path = t->path && *t->path ? sip__strdup(t->path) : NULL;
    c.dst = t->dst && *t->dst ? sip__strdup(t->dst) : NULL;
    c.q = t->q < 0 ? 1000 : t->q > 1000 ? 1000 : t->q;
    c.conn_id = t->conn_id;
    if (!c.uri || (t->path && *t->path && !c.path) || (t->dst && *t->dst && !c.dst)) {
        target_free(&c);
        return SIP_ENOMEM;
    }
    req->targets[req->ntargets++] = c;
    return 0;
}

size_t sip_proxy_req_target_count(const sip_proxy_req_t *req)
{
    return req ? req->ntargets : 0;
}

void sip_proxy_req_clear_targets(sip_proxy_req_t *req)
{
    if (req) sip__proxy_targets_free(req);
}

/* Highest q first; equal q keep the order they were added (§16.6: sequential forking by q). */
static void sort_targets(sip_proxy_req_t *req)
{
    for (size_t i = 1; i < req->ntargets; i++) {
        sip__proxy_target_t t = req->targets[i];
        size_t j = i;
        while (j > 0 && req->targets[j - 1].q < t.q) {
            req->targets[j] = req->targets[j - 1];
            j--;
        }
        req->targets[j] = t;
    }
}

/* ---- branches -------------------------------------------------------------------------------- */

static void branch_unref(sip__proxy_branch_t *b)
{
    if (--b->refs > 0) return;
    sip_txn_unref(b->txn);
    sip_msg_unref(b->rsp);
    free(b->target);
    sip_proxy_unref(b->p);
    free(b);
}

void sip__proxy_branches_free(sip_proxy_req_t *req)
{
    for (size_t i = 0; i < req->nbranches; i++) {
        sip__proxy_branch_t *b = req->branches[i];
        sip_txn_unref(b->txn);
        b->txn = NULL;
        b->req = NULL;
        branch_unref(b);
    }
    free(req->branches);
    req->branches = NULL;
    req->nbranches = req->cap_branches = 0;
}

size_t sip_proxy_req_branch_count(const sip_proxy_req_t *req)
{
    return req ? req->nbranches : 0;
}

int sip_proxy_req_branch_status(const sip_proxy_req_t *req, size_t i)
{
    return req && i < req->nbranches ? req->branches[i]->status : 0;
}

sip_msg_t *sip_proxy_req_branch_response(const sip_proxy_req_t *req, size_t i)
{
    return req && i < req->nbranches ? req->branches[i]->rsp : NULL;
}

const char *sip_proxy_req_branch_target(const sip_proxy_req_t *req, size_t i)
{
    return req && i < req->nbranches ? req->branches[i]->target : NULL;
}

static int current(const sip_proxy_req_t *req, const sip__proxy_branch_t *b)
{
    return b->relay == req->relays;
}

static void stop_timer_c(sip__proxy_branch_t *b)
{
    sip__tq_stop(&b->req->p->tq, &b->timer_c);
}

/* Asks a branch to stop: an INVITE is cancelled (§9.1; with a Reason after a 2xx elsewhere,
 * RFC 3326), a non-INVITE runs to its end (it cannot be cancelled) unless force, which ends it
 * as a 408. */
static void cancel_branch(sip__proxy_branch_t *b, const char *reason, int force)
{
    if (b->final || !b->txn) return;
    if (b->invite) {
        if (!b->cancelled) {
            b->cancelled = 1;
            if (reason)
                sip_txn_cancel_with_reason(b->txn, reason);
            else
                sip_txn_cancel(b->txn);
        }
        return;
    }
    if (!force) return;
    b->final = 1;
    b->status = 408;
    sip_txn_t *t = b->txn;
    b->txn = NULL;
    sip_txn_close(t); /* its user_free drops the transaction's reference to the branch */
    sip_txn_unref(t);
}

static void cancel_others(sip_proxy_req_t *req, const sip__proxy_branch_t *except,
                          const char *reason)
{
    for (size_t i = 0; i < req->nbranches; i++) {
        sip__proxy_branch_t *b = req->branches[i];
        if (b != except && current(req, b)) cancel_branch(b, reason, 0);
    }
}

/* ---- aggregation (§16.7) ------------------------------------------------------------------------
 */

/* The reason of a response the proxy makes for a branch (NULL: the standard phrase). */
static const char *phrase(int status)
{
    return status == 430 ? "Flow Failed" : NULL; /* RFC 5626 §11.5 */
}

/* Step 6 of §16.7: lower is better. */
static int rank(const sip__proxy_branch_t *b)
{
    int s = b->status;
    if (s >= 600) return 0;
    /* Within a class, the responses that help the next attempt come first (401, 407, 415,
     * 420, 484); a 408 the proxy made for silence comes last. */
    int pref = s == 401 || s == 407 || s == 415 || s == 420 || s == 484 ? 0 : 1;
    if (!b->rsp) pref = 2;
    return (s / 100) * 10 + pref;
}

/* The best branch of the current relay (-1: none answered, a 408). */
static int best_branch(const sip_proxy_req_t *req)
{
    int best = -1, br = 0;
    for (size_t i = 0; i < req->nbranches; i++) {
        const sip__proxy_branch_t *b = req->branches[i];
        if (!current(req, b) || !b->final || b->redirected) continue;
        if (b->status >= 200 && b->status < 300) return (int)i;
        int r = rank(b);
        if (best < 0 || r < br) {
            best = (int)i;
            br = r;
        }
    }
    return best;
}

/* Steps 7-9: the response to forward for the best branch: its response with every other
 * branch's challenges (401/407), a 500 in place of a 503 (step 6: a 503 would say this proxy is
 * overloaded), a 408 the proxy makes when nothing answered. New reference in *out. */
static int upstream_response(sip_proxy_req_t *req, int best, sip_msg_t **out)
{
    const sip__proxy_branch_t *b = best >= 0 ? req->branches[best] : NULL;
    int st = b ? b->status : 408;
    *out = NULL;
    if (!b || !b->rsp || st == 503)
        return sip_proxy_req_create_response(out, req, st == 503 ? 500 : st, phrase(st));
    sip_msg_t *m = sip_msg_ref(b->rsp);
    if (st == 401 || st == 407) {
        for (size_t i = 0; i < req->nbranches; i++) {
            const sip__proxy_branch_t *o = req->branches[i];
            if (o == b || !current(req, o) || !o->final || !o->rsp ||
                (o->status != 401 && o->status != 407))
                continue;
            static const sip_hdr_id_t ids[] = {SIP_HDR_WWW_AUTHENTICATE,
                                               SIP_HDR_PROXY_AUTHENTICATE};
            for (size_t k = 0; k < 2; k++) {
                size_t n = sip_msg_header_count(o->rsp, ids[k]);
                for (size_t j = 0; j < n; j++)
                    sip_msg_add_header_copy(m, sip_msg_header_at(o->rsp, ids[k], j));
            }
        }
    }
    *out = m;
    return 0;
}

int sip_proxy_req_forward_best(sip_proxy_req_t *req)
{
    if (!req) return SIP_EINVAL;
    if (req->p->closed) return SIP_ECLOSED;
    if (!req->outcome_ran || req->relaying) return SIP_ENOENT;
    if (req->final) return SIP_EBUSY;
    sip_msg_t *m;
    int rc = upstream_response(req, best_branch(req), &m);
    if (rc) return rc;
    rc = sip__proxy_send_upstream(req, m);
    sip_msg_unref(m);
    return rc;
}

/* The relay is over: cb hears the outcome; without a decision the best response goes up. */
static void outcome(sip_proxy_req_t *req)
{
    if (!req->relaying) return;
    sip_proxy_t *p = req->p;
    req->relaying = 0;
    req->outcome_ran = 1;
    sip__tq_stop(&p->tq, &req->timeout);
    sip__tq_stop(&p->tq, &req->kick);
    int best = best_branch(req);
    const sip__proxy_branch_t *b = best >= 0 ? req->branches[best] : NULL;
    int st = b ? b->status : 408;
    sip_proxy_done_cb cb = req->done_cb;
    void *u = req->done_user;
    sip_free_fn f = req->done_free;
    int keep = req->ro.keep_final;
    req->done_cb = NULL;
    req->done_free = NULL;
    req->done_user = NULL;
    unsigned relays = req->relays;
    if (cb) {
        sip_msg_t *made = NULL;
        sip_msg_t *msg = b ? b->rsp : NULL;
        if (!msg && sip_proxy_req_create_response(&made, req, st, phrase(st)) == 0) msg = made;
        cb(req, st, msg, u);
        sip_msg_unref(made);
    }
    if (f) f(u);
    /* Not forwarded when cb relayed again or answered, or the caller keeps it (keep_final). */
    if (!p->closed && st >= 300 && !keep && !req->final && !req->relaying && relays == req->relays)
        sip_proxy_req_forward_best(req);
    sip_proxy_req_unref(req); /* the relay's reference */
}

static int start_group(sip_proxy_req_t *req);
static int start_branch(sip_proxy_req_t *req, const sip__proxy_target_t *t, int group);

/* Whether the relay is over once a branch ended: the next q group (sequential forking), or the
 * outcome. */
static void check_done(sip_proxy_req_t *req)
{
    if (!req->relaying || req->starting) return;
    for (;;) {
        for (size_t i = 0; i < req->nbranches; i++) {
            const sip__proxy_branch_t *b = req->branches[i];
            if (current(req, b) && !b->final) return;
        }
        if (req->relay_stop || !req->ntargets || !start_group(req)) break;
    }
    outcome(req);
}

/* ---- timers ---------------------------------------------------------------------------------- */

static void on_timer_c(sip__tq_entry_t *e)
{
    sip__proxy_branch_t *b = CONTAINER(e, sip__proxy_branch_t, timer_c);
    sip_proxy_req_t *req = sip_proxy_req_ref(b->req);
    if (!b->final && b->txn) {
        if (b->provisional) {
            /* §16.8: a provisional came: CANCEL; the 487 (or the transaction's 408) follows. */
            b->cancelled = 1;
            sip_txn_cancel(b->txn);
        } else {
            /* §16.8: nothing came: as if the transaction had answered 408. */
            b->final = 1;
            b->status = 408;
            sip_txn_t *t = b->txn;
            b->txn = NULL;
            sip_txn_close(t);
            sip_txn_unref(t);
            check_done(req);
        }
    }
    sip_proxy_req_unref(req);
}

static void on_timeout(sip__tq_entry_t *e)
{
    sip_proxy_req_t *req = CONTAINER(e, sip_proxy_req_t, timeout);
    sip_proxy_req_ref(req);
    /* The group had its time: its branches stop and the next group goes (sequential). */
    for (size_t i = 0; i < req->nbranches; i++) {
        sip__proxy_branch_t *b = req->branches[i];
        if (current(req, b) && b->group == req->relay_group) cancel_branch(b, NULL, 1);
    }
    if (!req->relay_stop && req->ntargets && req->relaying) start_group(req);
    check_done(req);
    sip_proxy_req_unref(req);
}

static void on_kick(sip__tq_entry_t *e)
{
    sip_proxy_req_t *req = CONTAINER(e, sip_proxy_req_t, kick);
    sip_proxy_req_ref(req);
    check_done(req);
    sip_proxy_req_unref(req);
}

/* ---- responses of a branch ------------------------------------------------------------------- */

static void on_branch_free(void *user)
{
    branch_unref(user);
}

/* A response on a branch whose request is gone: a 2xx (a retransmission, or another fork's)
 * still goes up, statelessly, as one no transaction took (§16.7 step 5, §16.11). */
static void orphan_response(sip__proxy_branch_t *b, int status, const sip_msg_t *rsp)
{
    if (!rsp || status < 200 || status >= 300 || b->p->closed) return;
    sip_msg_t *m = sip_msg_ref(rsp);
    sip__proxy_stray_response(b->p, m);
    sip_msg_unref(m);
}

/* 3xx recursion (§16.5): the Contacts not tried yet become targets, started at once. 1 when
 * one started. */
static int recurse(sip_proxy_req_t *req, const sip_msg_t *rsp)
{
    size_t n = sip_msg_header_count(rsp, SIP_HDR_CONTACT), before = req->ntargets;
    for (size_t i = 0; i < n; i++) {
        const sip_addr_t *a = sip_header_addr(sip_msg_header_at(rsp, SIP_HDR_CONTACT, i));
        if (!a || a->star || !a->uri.raw.len) continue;
        char *uri = sip__strndup(a->uri.raw.ptr, a->uri.raw.len);
        if (!uri) continue;
        if (!tried(req, uri)) {
            sip_proxy_target_t t = {.uri = uri, .q = a->q};
            sip_proxy_req_add_target(req, &t);
        }
        free(uri);
    }
    if (req->ntargets == before) return 0;
    /* The new targets go now, beside the branches still out; those waiting for a later q
     * group stay where they are. */
    size_t added = req->ntargets - before;
    sip__proxy_target_t *now = malloc(added * sizeof(*now));
    if (!now) return 0;
    memcpy(now, req->targets + before, added * sizeof(*now));
    req->ntargets = before;
    int started = 0;
    for (size_t i = 0; i < added; i++) {
        started += start_branch(req, &now[i], req->relay_group);
        target_free(&now[i]);
    }
    free(now);
    return started;
}

static void on_branch_rsp(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    sip__proxy_branch_t *b = user;
    sip_proxy_req_t *req = b->req;
    if (!req) {
        orphan_response(b, status, rsp);
        return;
    }
    sip_proxy_t *p = req->p;
    if (p->closed) return;
    sip_proxy_req_ref(req);
    sip_msg_t *m = NULL;
    if (rsp) {
        m = sip_msg_ref(rsp);
        /* §16.7 step 3: our Via goes. */
        sip_msg_remove_header(m, "Via", 0);
    }
    if (status == 100) {
        /* §16.7 step 5: a 100 is not forwarded, and does not reset timer C (§16.8). */
        if (!b->status) b->status = 100;
        goto out;
    }
    if (m && current(req, b) && req->ro.on_branch &&
        req->ro.on_branch(req, SIP_PROXY_BRANCH_RESPONSE, (int)b->idx, m, req->done_user)) {
        /* Dropped by the hook: a provisional is not forwarded, a final counts as a 408. */
        if (status < 200) goto out;
        sip_msg_unref(m);
        m = NULL;
        status = 408;
    }
    if (status < 200) {
        if (b->final) goto out;
        b->status = status;
        sip_msg_unref(b->rsp);
        b->rsp = sip_msg_ref(m);
        if (b->invite) {
            /* §16.8: each provisional above 100 restarts timer C. */
            b->provisional = 1;
            sip__tq_start(&p->tq, &b->timer_c, p->timer_c_ms);
        }
        /* §16.7 step 5: provisionals go upstream as they come. */
        if (!req->final) sip__proxy_send_upstream(req, m);
        goto out;
    }
    int first = !b->final;
    if (status < 300) {
        if (first) {
            b->final = 1;
            b->status = status;
            sip_msg_unref(b->rsp);
            b->rsp = sip_msg_ref(m);
            stop_timer_c(b);
            sip_txn_unref(b->txn);
            b->txn = NULL;
        }
        /* §16.7 step 5: every 2xx of every branch goes upstream at once (their ACKs and
         * dialogs are the UAC's), retransmissions too. */
        if (m) sip__proxy_send_upstream(req, m);
        if (current(req, b) && req->relaying && !req->relay_2xx) {
            req->relay_2xx = 1;
            req->relay_stop = 1;
            /* §16.7 step 10: the other INVITE branches are cancelled. */
            cancel_others(req, b, "SIP;cause=200;text=\"Call completed elsewhere\"");
            outcome(req);
        }
        goto out;
    }
    if (!first) goto out;
    b->final = 1;
    b->status = status;
    sip_msg_unref(b->rsp);
    b->rsp = sip_msg_ref(m);
    stop_timer_c(b);
    sip_txn_unref(b->txn);
    b->txn = NULL;
    if (!current(req, b) || !req->relaying) goto out;
    if (status < 400 && req->ro.follow_redirects && !req->relay_stop && m) {
        /* §16.5: a 3xx's Contacts become targets; the 3xx itself is no answer then. */
        if (recurse(req, m)) b->redirected = 1;
    } else if (status >= 600) {
        /* §16.7 step 5: a 6xx ends the search: no new branch, the others cancelled. */
        req->relay_6xx = 1;
        req->relay_stop = 1;
        sip__proxy_targets_free(req);
        cancel_others(req, b, NULL);
        outcome(req);
        goto out;
    }
    check_done(req);
out:
    sip_msg_unref(m);
    sip_proxy_req_unref(req);
}

/* ---- starting branches -------------------------------------------------------------------- */

static int add_branch(sip_proxy_req_t *req, sip__proxy_branch_t *b)
{
    if (req->nbranches == req->cap_branches) {
        size_t cap = req->cap_branches ? req->cap_branches * 2 : 4;
        sip__proxy_branch_t **n = realloc(req->branches, cap * sizeof(*n));
        if (!n) return SIP_ENOMEM;
        req->branches = n;
        req->cap_branches = cap;
    }
    b->idx = req->nbranches;
    req->branches[req->nbranches++] = b;
    return 0;
}

/* Starts one branch (§16.6): a copy of the request with the target's edits in its own client
 * transaction. 1 when it went (or ended at once: it counts, as a 503), 0 when skipped. */
static int start_branch(sip_proxy_req_t *req, const sip__proxy_target_t *t, int group)
{
    sip_proxy_t *p = req->p;
    if (req->nbranches >= p->max_branches) return 0;
    sip__proxy_branch_t *b = calloc(1, sizeof(*b));
    if (!b) return 0;
    b->refs = 1;
    b->req = req;
    b->p = sip_proxy_ref(p);
    b->relay = req->relays;
    b->group = group;
    b->invite = req->method == SIP_METHOD_INVITE;
    b->idx = req->nbranches;
    sip__tq_entry_init(&b->timer_c, on_timer_c);
    if (sip__proxy_flow_failed(p, t)) {
        /* RFC 5626 §5.3: the flow the contact registered over is gone: the branch ends as
         * 430 (Flow Failed) without going out. */
        b->target = sip__strdup(t->uri ? t->uri : "");
        if (!b->target || add_branch(req, b)) {
            branch_unref(b);
            return 0;
        }
        b->final = 1;
        b->status = 430;
        return 1;
    }
    sip_msg_t *m = NULL;
    char branch[64];
    sip__proxy_branch_id(req, ++p->serial, branch, sizeof(branch));
    sip_netinfo_t dst;
    int has_dst = 0;
    int rc = sip_msg_clone(&m, req->msg);
    if (!rc) rc = sip__proxy_prepare(req, m, t, req->ro.record_route, branch, &dst, &has_dst);
    if (!rc) {
        const sip_uri_t *u = sip_msg_get_uri(m);
        b->target = sip__strndup(u->raw.ptr, u->raw.len);
        if (!b->target) rc = SIP_ENOMEM;
    }
    if (!rc && req->ro.on_branch &&
        req->ro.on_branch(req, SIP_PROXY_BRANCH_REQUEST, (int)b->idx, m, req->done_user)) {
        /* The hook skips this target. */
        sip_msg_unref(m);
        branch_unref(b);
        return 0;
    }
    if (rc || add_branch(req, b)) {
        /* The request could not be made: the branch would only ever have failed. */
        sip_msg_unref(m);
        branch_unref(b);
        return 0;
    }
    remember(req, b->target);
    b->refs++; /* the transaction's, until its user_free */
    rc = sip_txn_client_create(&b->txn, p->layer, m, has_dst ? &dst : NULL, NULL, on_branch_rsp, b,
                               on_branch_free);
    sip_msg_unref(m);
    if (rc) {
        /* §16.7: a branch that cannot be sent ends as the transaction's 503 would. */
        b->final = 1;
        b->status = 503;
        return 1;
    }
    if (b->invite) sip__tq_start(&p->tq, &b->timer_c, p->timer_c_ms);
    return 1;
}

/* Starts the next group: every target when parallel, else those of the highest q. The number
 * started. */
static int start_group(sip_proxy_req_t *req)
{
    sip_proxy_t *p = req->p;
    int started = 0;
    while (req->ntargets && !started) {
        size_t n = req->ro.parallel ? req->ntargets : 1;
        while (!req->ro.parallel && n < req->ntargets && req->targets[n].q == req->targets[0].q)
            n++;
        req->relay_group++;
        sip__proxy_target_t *group = malloc(n * sizeof(*group));
        if (!group) break;
        memcpy(group, req->targets, n * sizeof(*group));
        memmove(req->targets, req->targets + n, (req->ntargets - n) * sizeof(*group));
        req->ntargets -= n;
        for (size_t i = 0; i < n; i++) {
            started += start_branch(req, &group[i], req->relay_group);
            target_free(&group[i]);
        }
        free(group);
    }
    if (started && req->ro.timeout_ms) sip__tq_start(&p->tq, &req->timeout, req->ro.timeout_ms);
    return started;
}

int sip_proxy_req_relay(sip_proxy_req_t *req, const sip_proxy_relay_opts_t *opts,
                        sip_proxy_done_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!req) goto fail;
    sip_proxy_t *p = req->p;
    rc = SIP_ECLOSED;
    if (p->closed || !p->layer) goto fail;
    rc = SIP_ENOTSUP;
    if (p->stateless || !req->txn || req->method == SIP_METHOD_ACK ||
        req->method == SIP_METHOD_CANCEL)
        goto fail;
    rc = SIP_EBUSY;
    if (req->relaying || req->final || req->cancelled || (req->done && !req->relays)) goto fail;
    if (!req->ntargets) {
        /* No target: the Request-URI, or where the Route set says. */
        const sip_uri_t *u = sip_msg_get_uri(req->msg);
        char *uri = sip__strndup(u->raw.ptr, u->raw.len);
        rc = SIP_ENOMEM;
        if (!uri) goto fail;
        sip_proxy_target_t t = {.uri = uri, .q = -1};
        rc = sip_proxy_req_add_target(req, &t);
        free(uri);
        if (rc) goto fail;
    }
    rc = sip__tq_reserve(&p->tq, req->ntargets + 2);
    if (rc) goto fail;
    if (opts)
        req->ro = *opts;
    else
        sip_proxy_relay_opts_init(&req->ro);
    sort_targets(req);
    /* The entries were made with the request (idx -1); only what they call is set here. */
    req->timeout.fire = on_timeout;
    req->kick.fire = on_kick;
    req->relays++;
    req->relaying = 1;
    req->relay_2xx = req->relay_6xx = req->relay_stop = 0;
    req->relay_group = 0;
    req->outcome_ran = 0;
    req->done = 1;
    req->done_cb = cb;
    req->done_user = user;
    req->done_free = user_free;
    sip_proxy_req_ref(req); /* the relay's, until its outcome */
    req->starting = 1;
    while (req->ntargets && !start_group(req))
        continue;
    req->starting = 0;
    /* Every branch may have ended already (nothing could be sent): the outcome comes from the
     * loop, never from inside this call. */
    int pending = 0;
    for (size_t i = 0; i < req->nbranches; i++)
        pending += current(req, req->branches[i]) && !req->branches[i]->final;
    if (!pending) sip__tq_start(&p->tq, &req->kick, 0);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_proxy_req_cancel(sip_proxy_req_t *req)
{
    if (!req || !req->relaying) return SIP_ENOENT;
    req->relay_stop = 1;
    sip__proxy_targets_free(req);
    sip_proxy_req_ref(req);
    for (size_t i = 0; i < req->nbranches; i++) {
        sip__proxy_branch_t *b = req->branches[i];
        if (current(req, b)) cancel_branch(b, NULL, 0);
    }
    check_done(req);
    sip_proxy_req_unref(req);
    return 0;
}

int sip_proxy_req_relay_detach(sip_proxy_req_t *req)
{
    if (!req) return SIP_EINVAL;
    if (!req->relaying) return SIP_ENOENT;
    if (req->ro.on_branch) return SIP_EBUSY;
    sip_free_fn f = req->done_free;
    void *u = req->done_user;
    req->done_cb = NULL;
    req->done_free = NULL;
    req->done_user = NULL;
    /* Nobody waits for the outcome any more: outcome() forwards the best response itself. */
    req->ro.keep_final = 0;
    if (f) f(u);
    return 0;
}

void sip__proxy_relay_cancelled(sip_proxy_req_t *req)
{
    /* §16.10: every pending branch is cancelled; the final response is what they answer. */
    sip_proxy_req_cancel(req);
}

void sip__proxy_relay_close(sip_proxy_req_t *req)
{
    sip_proxy_t *p = req->p;
    sip__tq_stop(&p->tq, &req->timeout);
    sip__tq_stop(&p->tq, &req->kick);
    for (size_t i = 0; i < req->nbranches; i++) {
        sip__proxy_branch_t *b = req->branches[i];
        stop_timer_c(b);
        if (b->txn && !b->final && b->invite && !b->cancelled) {
            b->cancelled = 1;
            sip_txn_cancel(b->txn);
        }
        sip_txn_unref(b->txn);
        b->txn = NULL;
    }
    sip_free_fn f = req->done_free;
    void *u = req->done_user;
    req->done_cb = NULL;
    req->done_free = NULL;
    req->done_user = NULL;
    if (f) f(u);
    if (req->relaying) {
        req->relaying = 0;
        sip_proxy_req_unref(req);
    }
}
