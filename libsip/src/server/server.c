/* SPDX-License-Identifier: MIT */
/* The server: its parts assembled from a configuration (what sipd wired by hand), the routing
 * program, the per-request log line, clean shutdown and the getters. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config_int.h"
#include "core/mem.h"
#include "location/location_int.h"
#include "core/live_int.h"
#include "proxy/proxy_int.h"
#include "server/server_int.h"
#include "sip/error.h"
#include "transport/addr.h"
#include "transport/transport_int.h"
#include "worker/worker_int.h"

#define STATE_FILE "location.sqlite"
/* RFC 3261 §21.5.4: a 503 may say when to come back; a restart takes a few seconds. */
#define RETRY_AFTER "5"
/* How often a shutdown looks whether every request in progress has ended. */
#define SHUTDOWN_POLL_MS 20

sip_log_level_t sip__server_log_level(const char *name)
{
    if (strcmp(name, "error") == 0) return SIP_LOG_ERROR;
    if (strcmp(name, "info") == 0) return SIP_LOG_INFO;
    if (strcmp(name, "debug") == 0) return SIP_LOG_DEBUG;
    return SIP_LOG_WARN; /* warn, notice */
}

void sip__server_apply_log(sip_server_t *srv, const sip_config_t *cfg)
{
    sip_log_level_t level = sip__server_log_level(sip__config_str(cfg, "log.level"));
    int trace = sip__config_bool(cfg, "log.trace");
    int requests = sip__config_bool(cfg, "log.requests");
    /* The loop logs its trace and the request lines at SIP_LOG_INFO: asking for them is asking
     * to see them, at any log.level (turned on by a reload, they show without a change of
     * level). */
    if ((trace || requests) && level < SIP_LOG_INFO) level = SIP_LOG_INFO;
    sip_loop_set_log_level(srv->loop, level);
    sip_loop_set_trace(srv->loop, trace);
}

int sip__server_verify_client(const char *name)
{
    return strcmp(name, "required") == 0   ? SIP_TLS_CLIENT_REQUIRE
           : strcmp(name, "optional") == 0 ? SIP_TLS_CLIENT_OPTIONAL
                                           : SIP_TLS_CLIENT_NONE;
}

void sip__server_remove_domain(sip_server_t *srv, const char *domain)
{
    /* Domains compare without case (sip_location_add_domain() keeps them lower case). */
    char d[256];
    size_t n = strlen(domain);
    if (n >= sizeof(d)) return;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)domain[i]);
    d[n] = '\0';
    sip__loc_map_del(&srv->loc->domains, d, n);
}

int sip__server_make_registrar(sip_registrar_t **out, sip_location_t *loc, int auth_required,
                               const sip_config_t *cfg)
{
    sip_registrar_opts_t ro;
    sip_registrar_opts_init(&ro);
    /* Without a users file nobody can authenticate: the registrar takes anyone (documented). */
    ro.auth_required = auth_required;
    ro.server = sip__config_str(cfg, "server_header");
    return sip_registrar_create(out, loc, &ro);
}

int sip__server_load_users(sip_userdb_t **out, const sip_config_t *cfg, sip_parse_error_t *err)
{
    *out = NULL;
    const char *path = sip__config_str(cfg, "users");
    if (!*path) return 0;
    int line = 0;
    int rc = sip_userdb_create(out, path, &line);
    if (rc == SIP_ENOMEM) return rc;
    if (rc && line > 0) {
        sip__config_error(err, NULL, 0, 0, "users", "%s:%d: malformed line", path, line);
        return SIP_ECONFIG;
    }
    if (rc) {
        sip__config_error(err, NULL, 0, 0, "users", "cannot read %s: %s", path, sip_strerror(rc));
        return SIP_ECONFIG;
    }
    return 0;
}

int sip__server_make_auth(sip_auth_server_t **auth, sip_auth_server_t **proxy_auth,
                          const sip_config_t *cfg, const char *secret, sip_parse_error_t *err)
{
    /* RFC 3261 §22.1: the realm is the domain; RFC 8760 §2.4: the strongest challenge first;
     * 401 for REGISTER and our users' requests, 407 for the rest. */
    *auth = *proxy_auth = NULL;
    sip_auth_server_opts_t ao;
    sip_auth_server_opts_init(&ao);
    ao.realm = sip_config_get(cfg, "domains", 0);
    ao.algorithms = sip__config_algorithms(sip__config_str(cfg, "digest"));
    if (secret && *secret) ao.secret = secret;
    int rc = sip_auth_server_create(auth, &ao);
    if (rc == 0) {
        ao.proxy = 1;
        rc = sip_auth_server_create(proxy_auth, &ao);
    }
    if (rc) {
        sip_auth_server_unref(*auth);
        *auth = NULL;
        if (rc != SIP_ENOMEM)
            sip__config_error(err, NULL, 0, 0, "domains", "digest server for realm %s: %s",
                              ao.realm ? ao.realm : "", sip_strerror(rc));
    }
    return rc == SIP_EINVAL ? SIP_ECONFIG : rc;
}

void sip__server_guard_opts(sip_guard_opts_t *o, const sip_config_t *cfg)
{
    sip_guard_opts_init(o);
    o->rate_max = sip__config_uint(cfg, "limits.rate");
    o->rate_window_ms = sip__config_ms(cfg, "limits.rate_window");
    o->rate_block_ms = sip__config_ms(cfg, "limits.rate_block");
    o->auth_max_failures = sip__config_uint(cfg, "limits.auth_failures");
    o->auth_window_ms = sip__config_ms(cfg, "limits.auth_window");
    o->auth_block_ms = sip__config_ms(cfg, "limits.auth_block");
}

int sip__server_add_domains(sip_server_t *srv, const sip_config_t *cfg, sip_parse_error_t *err)
{
    size_t nd = sip_config_count(cfg, "domains");
    for (size_t i = 0; i < nd; i++) {
        const char *d = sip_config_get(cfg, "domains", i);
        int rc = sip_location_add_domain(srv->loc, d, NULL);
        if (rc == SIP_ENOMEM) return rc;
        if (rc && rc != SIP_EEXIST) {
            sip__config_error(err, NULL, 0, 0, "domains", "%s: %s", d, sip_strerror(rc));
            return SIP_ECONFIG;
        }
    }
    /* Every specific listening address is an alias of the first domain (as Kamailio's
     * auto_aliases), so that "sip:alice@127.0.0.1:5060" is alice of that domain. */
    const char *first = sip_config_get(cfg, "domains", 0);
    size_t n = sip_transport_listener_count(srv->tp);
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t ni;
        if (sip_transport_listener_info(srv->tp, i, &ni) != 0 || !ni.transport) continue;
        if (strcmp(ni.local_ip, "0.0.0.0") == 0 || strcmp(ni.local_ip, "::") == 0) continue;
        int rc = sip_location_add_domain(srv->loc, ni.local_ip, first);
        if (rc == SIP_ENOMEM) return rc;
        if (rc && rc != SIP_EEXIST) {
            sip__config_error(err, NULL, 0, 0, "listen", "alias %s: %s", ni.local_ip,
                              sip_strerror(rc));
            return SIP_ECONFIG;
        }
    }
    return 0;
}

/* ---- the per-request line -------------------------------------------------------------------- */

static void on_req_done(const sip_proxy_req_t *req, void *user)
{
    sip_server_t *srv = user;
    if (!srv->log_requests) return;
    const sip_msg_t *msg = req->msg;
    const sip_uri_t *ruri = sip_msg_get_uri(msg);
    sip_str_t m = sip_msg_get_method_str(msg);
    sip_str_t u = ruri ? ruri->raw : (sip_str_t){"", 0};
    sip_str_t cid = sip_msg_get_call_id(msg);
    char a[SIP__ADDR_STRLEN] = "-";
    if (req->in.transport)
        sip__addr_str(a, req->in.transport, req->in.remote_ip, req->in.remote_port);
    char st[16];
    if (req->final)
        snprintf(st, sizeof(st), "%d", req->final);
    else
        snprintf(st, sizeof(st), "%s", req->done ? "forwarded" : "-");
    uint64_t now = sip_loop_now(srv->loop);
    sip_log(srv->loop, SIP_LOG_INFO, "request", "%.*s %.*s from %s call-id %.*s: %s in %llu ms",
            (int)m.len, m.ptr, (int)u.len, u.ptr, a, (int)cid.len, cid.ptr, st,
            (unsigned long long)(now >= req->t0 ? now - req->t0 : 0));
}

/* ---- create, close ------------------------------------------------------------------------- */

static void server_teardown(sip_server_t *srv)
{
    sip_timer_stop(srv->shutdown_timer);
    sip_timer_unref(srv->shutdown_timer);
    srv->shutdown_timer = NULL;
    /* The proxy first (requests in progress get 503, their branches are cancelled), then the
     * layers under it; closing the location service commits the writes still queued. */
    if (srv->proxy) {
        /* Requests answered by the close are logged; one a program still holds is freed
         * after the server: the hook goes first. */
        sip_proxy_close(srv->proxy);
        sip__proxy_set_req_done(srv->proxy, NULL, NULL);
    }
    sip_proxy_unref(srv->proxy);
    srv->proxy = NULL;
    if (srv->layer) sip_txn_layer_close(srv->layer);
    sip_txn_layer_unref(srv->layer);
    srv->layer = NULL;
    sip_registrar_unref(srv->reg);
    srv->reg = NULL;
    if (srv->loc) sip_location_close(srv->loc);
    sip_location_unref(srv->loc);
    srv->loc = NULL;
    sip_auth_server_unref(srv->auth);
    sip_auth_server_unref(srv->proxy_auth);
    srv->auth = srv->proxy_auth = NULL;
    sip_userdb_unref(srv->users);
    srv->users = NULL;
    if (srv->worker) sip__worker_detach(srv->worker, srv->tp);
    if (srv->tp) sip_transport_close(srv->tp);
    sip_transport_unref(srv->tp);
    srv->tp = NULL;
    if (srv->metrics) {
        sip_metrics_close(srv->metrics);
        sip_metrics_unref(srv->metrics);
    }
    srv->metrics = NULL;
    sip_guard_unref(srv->guard);
    srv->guard = NULL;
}

static void server_free(sip_server_t *srv)
{
    server_teardown(srv);
    sip_config_unref(srv->cfg);
    sip_worker_unref(srv->worker);
    sip_loop_unref(srv->loop);
    for (size_t i = 0; i < srv->nlistens; i++)
        free(srv->listens[i].spec);
    free(srv->listens);
    free(srv);
    sip__live_dec(SIP_LIVE_SERVER);
}

/* The state directory exists (made 0700 when missing) and is a directory. */
static int make_state_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
    if (stat(dir, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int sip__server_listen(sip_server_t *srv, const char *spec, sip_parse_error_t *err)
{
    struct sip__server_listen *nl = realloc(srv->listens, (srv->nlistens + 1) * sizeof(*nl));
    if (!nl) return SIP_ENOMEM;
    srv->listens = nl;
    char *copy = sip__strdup(spec);
    if (!copy) return SIP_ENOMEM;
    int rc = sip_transport_listen(srv->tp, spec);
    if (rc >= 0) {
        nl[srv->nlistens].spec = copy;
        nl[srv->nlistens].idx = (size_t)rc;
        srv->nlistens++;
        return 0;
    }
    free(copy);
    if (rc == SIP_ENOMEM) return rc;
    sip__config_error(err, NULL, 0, 0, "listen", "cannot listen on %s: %s", spec,
                      rc == -EADDRINUSE ? "address already in use" : sip_strerror(rc));
    return SIP_ECONFIG;
}

static int assemble(sip_server_t *srv, const sip_config_t *cfg, sip_parse_error_t *err)
{
    int rc = sip__server_load_users(&srv->users, cfg, err);
    if (rc) return rc;

    sip_transport_opts_t topts;
    sip_transport_opts_init(&topts);
    const char *cert = sip__config_str(cfg, "tls.cert"), *key = sip__config_str(cfg, "tls.key"),
               *ca = sip__config_str(cfg, "tls.ca"),
               *vc = sip__config_str(cfg, "tls.verify_client");
    if (*cert) topts.tls_cert_file = cert;
    if (*key) topts.tls_key_file = key;
    if (*ca) topts.tls_ca_file = ca;
    topts.tls_verify_client = sip__server_verify_client(vc);
    topts.max_connections = sip__config_uint(cfg, "limits.max_connections");
    topts.idle_timeout_ms = sip__config_ms(cfg, "limits.idle_timeout");
    /* The worker processes of one server share its listening points (sip/worker.h). */
    topts.reuseport = srv->worker != NULL;
    rc = sip_transport_create(&srv->tp, srv->loop, &topts);
    if (rc == SIP_EIO || rc == SIP_EINVAL) {
        sip__config_error(err, NULL, 0, 0, "tls.cert", "cannot use %s and %s: %s", cert, key,
                          sip_strerror(rc));
        return SIP_ECONFIG;
    }
    if (rc) return rc;
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        rc = sip__server_listen(srv, sip_config_get(cfg, "listen", i), err);
        if (rc) return rc;
    }

    /* The guard sees every source before anything is parsed (sip/guard.h). */
    sip_guard_opts_t go;
    sip__server_guard_opts(&go, cfg);
    rc = sip_guard_create(&srv->guard, srv->loop, &go);
    if (rc == SIP_EINVAL) {
        sip__config_error(err, NULL, 0, 0, "limits", "a limit is set with a zero window");
        return SIP_ECONFIG;
    }
    if (rc) return rc;
    for (size_t i = 0; i < sip_config_count(cfg, "limits.allow"); i++) {
        rc = sip_guard_allow(srv->guard, sip_config_get(cfg, "limits.allow", i));
        if (rc == SIP_EINVAL) {
            sip__config_error(err, NULL, 0, 0, "limits.allow", "%s: not an address or CIDR",
                              sip_config_get(cfg, "limits.allow", i));
            return SIP_ECONFIG;
        }
        if (rc) return rc;
    }
    rc = sip_transport_set_guard(srv->tp, srv->guard);
    if (rc) return rc;

    rc = sip_txn_layer_create(&srv->layer, srv->tp, NULL);
    if (rc) return rc;
    if (srv->worker && (rc = sip_worker_attach(srv->worker, srv->tp, srv->layer))) return rc;

    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    const char *state = sip__config_str(cfg, "state");
    char db_path[4096];
    /* store: the bindings on Redis, shared with the other nodes using it (one store only). */
    const char *store = sip__config_str(cfg, "store");
    if (*store && *state) {
        sip__config_error(err, NULL, 0, 0, "store", "excludes state (one location store)");
        return SIP_ECONFIG;
    }
    if (*store) lo.redis_url = store;
    if (*state) {
        rc = make_state_dir(state);
        if (rc) {
            sip__config_error(err, NULL, 0, 0, "state", "%s: %s", state, strerror(-rc));
            return SIP_ECONFIG;
        }
        if ((size_t)snprintf(db_path, sizeof(db_path), "%s/%s", state, STATE_FILE) >=
            sizeof(db_path)) {
            sip__config_error(err, NULL, 0, 0, "state", "%s: name too long", state);
            return SIP_ECONFIG;
        }
        lo.db_path = db_path;
    }
    /* A worker's bindings come from the hub, whose parent process is the one writer of the
     * state directory's database; a Redis store is each worker's own. */
    if (srv->worker && !*store) {
        lo.db_path = NULL;
        lo.worker = srv->worker;
    }
    rc = sip_location_create(&srv->loc, srv->loop, &lo);
    if (rc == SIP_ENOMEM) return rc;
    if (rc) {
        sip__config_error(
            err, NULL, 0, 0, *store ? "store" : "state", "cannot open the location service%s%s: %s",
            *state || *store ? " in " : "", *state ? db_path : store, sip_strerror(rc));
        return SIP_ECONFIG;
    }
    rc = sip__server_add_domains(srv, cfg, err);
    if (rc) return rc;

    rc = sip__server_make_registrar(&srv->reg, srv->loc, srv->users != NULL, cfg);
    if (rc) return rc;

    if (srv->users) {
        rc = sip__server_make_auth(&srv->auth, &srv->proxy_auth, cfg, srv->secret, err);
        if (rc) return rc;
    }

    const char *mode = sip__config_str(cfg, "mode");
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.stateless = strcmp(mode, "stateless") == 0;
    po.redirect = strcmp(mode, "redirect") == 0;
    po.location = srv->loc;
    po.registrar = srv->reg;
    po.auth = srv->auth;
    po.proxy_auth = srv->proxy_auth;
    po.users = srv->users;
    po.server = sip__config_str(cfg, "server_header");
    po.guard = srv->guard;
    if (*srv->secret) po.secret = srv->secret;
    rc = sip_proxy_create(&srv->proxy, srv->layer, &po, NULL, NULL, NULL);
    if (rc == SIP_EINVAL) {
        sip__config_error(err, NULL, 0, 0, "server_header", "not usable in a header");
        return SIP_ECONFIG;
    }
    if (rc) return rc;
    sip__proxy_set_req_done(srv->proxy, on_req_done, srv);
    srv->log_requests = sip__config_bool(cfg, "log.requests");

    /* A worker serves no metrics endpoint of its own: the port is the parent's. */
    const char *ml = srv->worker ? "" : sip__config_str(cfg, "metrics.listen");
    if (*ml) {
        rc = sip_metrics_create(&srv->metrics, srv->loop, ml, NULL, NULL, NULL, NULL);
        if (rc == SIP_ENOMEM) return rc;
        if (rc) {
            sip__config_error(err, NULL, 0, 0, "metrics.listen", "cannot serve on %s: %s", ml,
                              sip_strerror(rc));
            return SIP_ECONFIG;
        }
    }
    sip__server_apply_log(srv, cfg);
    return 0;
}

int sip_server_create(sip_server_t **out, sip_loop_t *loop, const sip_config_t *cfg,
                      sip_parse_error_t *err)
{
    return sip_server_create_worker(out, loop, cfg, NULL, err);
}

int sip_server_create_worker(sip_server_t **out, sip_loop_t *loop, const sip_config_t *cfg,
                             sip_worker_t *worker, sip_parse_error_t *err)
{
    if (err) memset(err, 0, sizeof(*err));
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!loop || !cfg || (worker && sip__worker_loop(worker) != loop)) return SIP_EINVAL;
    int rc = sip_config_check(cfg, err);
    if (rc) return rc;
    sip_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv) return SIP_ENOMEM;
    sip__live_inc(SIP_LIVE_SERVER);
    srv->refs = 1;
    srv->loop = sip_loop_ref(loop);
    srv->worker = sip_worker_ref(worker);
    /* One secret for the whole worker set: a REGISTER answering a challenge and a response to
     * a stateless branch are taken by whichever worker they reach (sip/worker.h). */
    rc = worker ? sip_worker_secret(worker, srv->secret, sizeof(srv->secret)) : 0;
    if (rc > 0) rc = 0;
    if (rc == 0) rc = sip_config_clone(&srv->cfg, cfg);
    if (rc == 0) rc = assemble(srv, cfg, err);
    if (rc) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

sip_server_t *sip_server_ref(sip_server_t *srv)
{
    if (srv) srv->refs++;
    return srv;
}

void sip_server_unref(sip_server_t *srv)
{
    if (!srv || --srv->refs > 0) return;
    server_free(srv);
}

void sip_server_close(sip_server_t *srv)
{
    if (!srv || srv->closed) return;
    srv->closed = 1;
    sip_server_ref(srv);
    server_teardown(srv);
    sip_server_unref(srv);
}

int sip_server_set_route(sip_server_t *srv, sip_proxy_route_cb cb, void *user,
                         sip_free_fn user_free)
{
    if (!srv || srv->closed || srv->shutting || !srv->proxy) {
        if (user_free) user_free(user);
        return srv ? SIP_ECLOSED : SIP_EINVAL;
    }
    return sip_proxy_set_route(srv->proxy, cb, user, user_free);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

/* While shutting down: requests inside a dialog this proxy record-routed (a BYE, an ACK) still
 * go on, so that calls can end; a new request is answered 503 with Retry-After (RFC 3261
 * §21.5.4). */
static void route_shutting(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    (void)user;
    const sip_msg_t *m = sip_proxy_req_get_msg(req);
    if (sip_proxy_req_routed(req) || sip_msg_get_method(m) == SIP_METHOD_ACK) {
        sip_proxy_route_default(req);
        return;
    }
    sip_msg_t *rsp = NULL;
    if (sip_proxy_req_create_response(&rsp, req, 503, NULL) == 0) {
        sip_msg_add_header(rsp, "Retry-After", RETRY_AFTER);
        sip_proxy_req_send_response(req, rsp);
    }
    sip_msg_unref(rsp);
    if (!sip_proxy_req_is_done(req)) sip_proxy_req_reply(req, 503, NULL);
}

static void shutdown_tick(sip_timer_t *t, void *user)
{
    (void)t;
    sip_server_t *srv = user;
    if (srv->closed) return;
    if (!srv->proxy_closed) {
        size_t pending = sip_proxy_req_count(srv->proxy);
        if (pending && sip_loop_now(srv->loop) < srv->shutdown_deadline) return;
        if (pending)
            sip_log(srv->loop, SIP_LOG_WARN, "server",
                    "shutdown: %zu requests still pending after the grace time: answered 503",
                    pending);
        /* What is pending is answered 503 and its branches cancelled now; the transport
         * stays open until the next look, so that those messages leave. */
        sip_proxy_close(srv->proxy);
        srv->proxy_closed = 1;
        return;
    }
    sip_server_done_cb done = srv->done;
    void *du = srv->done_user;
    srv->done = NULL;
    sip_server_ref(srv);
    /* Closing answers what is pending (503, branches cancelled) and commits the store. */
    sip_server_close(srv);
    if (done) done(srv, du);
    sip_server_unref(srv);
}

static void shutdown_timer_free(void *user)
{
    sip_server_unref(user);
}

int sip_server_shutdown(sip_server_t *srv, uint32_t grace_ms, sip_server_done_cb done, void *user)
{
    if (!srv) return SIP_EINVAL;
    if (srv->closed || srv->shutting) return SIP_ECLOSED;
    int rc = sip_proxy_set_route(srv->proxy, route_shutting, srv, NULL);
    if (rc) return rc;
    srv->shutting = 1;
    srv->done = done;
    srv->done_user = user;
    srv->shutdown_deadline = sip_loop_now(srv->loop) + grace_ms;
    /* The first look is on a later iteration, so that done never runs inside this call. */
    rc = sip_timer_start(&srv->shutdown_timer, srv->loop, 0, SHUTDOWN_POLL_MS, shutdown_tick,
                         sip_server_ref(srv), shutdown_timer_free);
    if (rc) {
        srv->shutting = 0;
        sip_proxy_set_route(srv->proxy, NULL, NULL, NULL);
        return rc;
    }
    sip_log(srv->loop, SIP_LOG_INFO, "server", "shutting down: %zu requests pending, %u ms grace",
            sip_proxy_req_count(srv->proxy), grace_ms);
    return 0;
}

/* ---- getters --------------------------------------------------------------------------------- */

sip_loop_t *sip_server_get_loop(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->loop : NULL;
}

sip_transport_t *sip_server_get_transport(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->tp : NULL;
}

sip_txn_layer_t *sip_server_get_layer(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->layer : NULL;
}

sip_proxy_t *sip_server_get_proxy(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->proxy : NULL;
}

sip_location_t *sip_server_get_location(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->loc : NULL;
}

sip_registrar_t *sip_server_get_registrar(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->reg : NULL;
}

sip_userdb_t *sip_server_get_users(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->users : NULL;
}

sip_guard_t *sip_server_get_guard(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->guard : NULL;
}

sip_metrics_t *sip_server_get_metrics(sip_server_t *srv)
{
    return srv && !srv->closed ? srv->metrics : NULL;
}

const sip_config_t *sip_server_get_config(sip_server_t *srv)
{
    return srv ? srv->cfg : NULL;
}
