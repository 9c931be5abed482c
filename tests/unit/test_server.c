/* SPDX-License-Identifier: MIT */
/* The server over loopback: assembled from a configuration and closed with nothing left; a bad
 * key's error; a reload that adds a domain and a user while an INVITE transaction is in
 * progress and a binding exists (both survive); a refused reload that changes nothing; the
 * routing program replaced; the per-request log line; and a shutdown that answers a pending
 * INVITE and new requests 503 and commits the SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "pump.h"
#include "testca.h"
#include "sip/sip.h"

#define REALM "example.com"

static char dir[64];
static sip_loop_t *loop;
static sip_server_t *srv;
static uint16_t srv_port;

/* ---- a UA: a transport and a transaction layer --------------------------------------------- */

typedef struct node {
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    uint16_t port;
} node_t;

static node_t uac, uas;

/* The UAS answers 180 and keeps the INVITE until the test says. */
static sip_txn_t *held;
static int uas_invites, uas_cancels;

static void on_uas_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)txn;
    (void)msg;
    (void)user;
    if (ev == SIP_TXN_EVENT_CANCEL) uas_cancels++;
}

static void on_uas_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)user;
    if (!txn) return; /* an ACK */
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        sip_txn_respond(txn, 200, NULL);
        return;
    }
    uas_invites++;
    sip_txn_set_event_handler(txn, on_uas_event, NULL, NULL);
    sip_txn_respond(txn, 180, NULL);
    sip_txn_unref(held);
    held = sip_txn_ref(txn);
}

static void node_up(node_t *n)
{
    assert_int_equal(sip_transport_create(&n->tp, loop, NULL), 0);
    assert_true(sip_transport_listen(n->tp, "udp:127.0.0.1:0") >= 0);
    sip_netinfo_t li;
    assert_int_equal(sip_transport_listener_info(n->tp, 0, &li), 0);
    n->port = li.local_port;
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t4_ms = 50;
    assert_int_equal(sip_txn_layer_create(&n->layer, n->tp, &o), 0);
}

static void node_down(node_t *n)
{
    if (n->layer) sip_txn_layer_close(n->layer);
    sip_txn_layer_unref(n->layer);
    if (n->tp) sip_transport_close(n->tp);
    sip_transport_unref(n->tp);
    memset(n, 0, sizeof(*n));
}

/* ---- requests ------------------------------------------------------------------------------ */

typedef struct result {
    int final, provisional;
    sip_msg_t *rsp;
} result_t;

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    result_t *r = user;
    if (status < 200) {
        r->provisional = status;
        return;
    }
    if (r->final) return;
    r->final = status;
    sip_msg_unref(r->rsp);
    r->rsp = rsp ? sip_msg_ref((sip_msg_t *)rsp) : NULL;
}

static int ncall;

static sip_msg_t *request(const char *method, const char *ruri, const char *from_user,
                          const char *call_id, int cseq, uint16_t contact_port)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "%s %s SIP/2.0\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:%s@" REALM ">;tag=t%d\r\n"
             "To: <%s>\r\n"
             "Call-ID: %s\r\n"
             "CSeq: %d %s\r\n"
             "Contact: <sip:%s@127.0.0.1:%u>\r\n"
             "Content-Length: 0\r\n\r\n",
             method, ruri, from_user, ncall++,
             strcmp(method, "REGISTER") == 0 ? "sip:x@" REALM : ruri, call_id, cseq, method,
             from_user, contact_port);
    if (strcmp(method, "REGISTER") == 0) {
        /* To is the AOR registered. */
        char to[128];
        snprintf(to, sizeof(to), "To: <sip:%s@" REALM ">", from_user);
        char *t = strstr(text, "To: <sip:x@" REALM ">");
        char rest[2048];
        snprintf(rest, sizeof(rest), "%s", t + strlen("To: <sip:x@" REALM ">"));
        snprintf(t, sizeof(text) - (size_t)(t - text), "%s%s", to, rest);
    }
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), &err), 0);
    return m;
}

static sip_txn_t *send_req(sip_msg_t *req, result_t *r)
{
    sip_netinfo_t dst = {0};
    dst.transport = SIP_TRANSPORT_UDP;
    strcpy(dst.remote_ip, "127.0.0.1");
    dst.remote_port = srv_port;
    memset(r, 0, sizeof(*r));
    sip_txn_t *t;
    assert_int_equal(sip_txn_client_create(&t, uac.layer, req, &dst, NULL, on_response, r, NULL),
                     0);
    return t;
}

static void wait_for(const int *flag, int want)
{
    for (int i = 0; i < 5000 && *flag < want; i++)
        sip_loop_run_once(loop, 0), usleep(1000);
    assert_true(*flag >= want);
}

static void wait_nonzero(const int *flag)
{
    wait_for(flag, 1);
}

/* REGISTER user with contact at the UAS, answering the digest challenge. Returns the final. */
static int do_register(const char *user, const char *password)
{
    char cid[64];
    snprintf(cid, sizeof(cid), "reg-%s-%d@test", user, ncall);
    result_t r;
    sip_msg_t *m = request("REGISTER", "sip:" REALM, user, cid, 1, uas.port);
    sip_txn_t *t = send_req(m, &r);
    wait_nonzero(&r.final);
    if (r.final == 401 && password) {
        sip_auth_client_t *ac;
        assert_int_equal(sip_auth_client_create(&ac), 0);
        sip_auth_cred_t cred = {.realm = REALM, .user = user, .password = password};
        assert_int_equal(sip_auth_client_add(ac, &cred), 0);
        sip_msg_t *m2 = request("REGISTER", "sip:" REALM, user, cid, 2, uas.port);
        assert_int_equal(sip_auth_client_authorize(ac, m2, m, r.rsp), 0);
        sip_auth_client_unref(ac);
        sip_msg_unref(r.rsp);
        sip_txn_unref(t);
        t = send_req(m2, &r);
        sip_msg_unref(m2);
        wait_nonzero(&r.final);
    }
    sip_txn_unref(t);
    sip_msg_unref(m);
    sip_msg_unref(r.rsp);
    return r.final;
}

/* ---- files and configuration ----------------------------------------------------------------- */

static const char *path(const char *name)
{
    static char p[4][128];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 128, "%s/%s", dir, name);
    return s;
}

/* A users file with these users (password = user name). */
static const char *users_file(const char *name, const char *const *users)
{
    sip_userdb_t *db;
    assert_int_equal(sip_userdb_create(&db, NULL, NULL), 0);
    for (size_t i = 0; users[i]; i++)
        assert_int_equal(sip_userdb_set_password(db, users[i], REALM, users[i]), 0);
    const char *p = path(name);
    assert_int_equal(sip_userdb_save(db, p), 0);
    sip_userdb_unref(db);
    return p;
}

static sip_config_t *base_config(const char *users, int state)
{
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_set(cfg, "listen", "udp:127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "domains", REALM, NULL), 0);
    if (users) assert_int_equal(sip_config_set(cfg, "users", users, NULL), 0);
    if (state) assert_int_equal(sip_config_set(cfg, "state", path("state"), NULL), 0);
    assert_int_equal(sip_config_set(cfg, "log.level", "error", NULL), 0);
    return cfg;
}

static void start(const sip_config_t *cfg)
{
    sip_parse_error_t err;
    int rc = sip_server_create(&srv, loop, cfg, &err);
    if (rc) fail_msg("server: %d %s", rc, err.reason);
    sip_netinfo_t li;
    assert_int_equal(sip_transport_listener_info(sip_server_get_transport(srv), 0, &li), 0);
    srv_port = li.local_port;
}

/* ---- the log --------------------------------------------------------------------------------- */

static char log_lines[8192];

static void on_log(sip_loop_t *l, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)l;
    (void)level;
    (void)user;
    size_t n = strlen(log_lines);
    snprintf(log_lines + n, sizeof(log_lines) - n, "%s: %s\n", module, text);
}

/* ---- fixture ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sip-server-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_loop_set_log(loop, SIP_LOG_ERROR, on_log, NULL, NULL);
    log_lines[0] = '\0';
    node_up(&uac);
    node_up(&uas);
    assert_int_equal(sip_txn_layer_set_request_handler(uas.layer, on_uas_request, NULL, NULL), 0);
    held = NULL;
    uas_invites = uas_cancels = 0;
    srv = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_txn_unref(held);
    held = NULL;
    sip_server_close(srv);
    sip_server_unref(srv);
    srv = NULL;
    node_down(&uac);
    node_down(&uas);
    test_pump(loop, 20);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    loop = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- create, close ----------------------------------------------------------------------- */

static void server_create_and_close(void **state)
{
    (void)state;
    static const char *const users[] = {"alice", NULL};
    sip_config_t *cfg = base_config(users_file("users", users), 1);
    assert_int_equal(sip_config_add(cfg, "listen", "tcp:127.0.0.1:0", NULL), 0);
    start(cfg);
    sip_config_unref(cfg);
    assert_int_equal(sip_live_count(SIP_LIVE_SERVER), 1);
    assert_ptr_equal(sip_server_get_loop(srv), loop);
    assert_int_equal(sip_transport_listener_count(sip_server_get_transport(srv)), 2);
    assert_non_null(sip_server_get_layer(srv));
    assert_non_null(sip_server_get_proxy(srv));
    assert_non_null(sip_server_get_registrar(srv));
    assert_non_null(sip_server_get_location(srv));
    assert_int_equal(sip_userdb_count(sip_server_get_users(srv)), 1);
    assert_null(sip_server_get_metrics(srv)); /* metrics.listen "" */
    /* The guard is on the transport. */
    assert_non_null(sip_server_get_guard(srv));
    assert_ptr_equal(sip_transport_get_guard(sip_server_get_transport(srv)),
                     sip_server_get_guard(srv));
    assert_string_equal(sip_config_get(sip_server_get_config(srv), "domains", 0), REALM);
    /* The listening address is an alias of the realm. */
    assert_int_equal(sip_location_is_local(sip_server_get_location(srv), "127.0.0.1", 9), 1);
    assert_int_equal(sip_location_is_local(sip_server_get_location(srv), REALM, 11), 1);
    /* The SQLite store is under state. */
    assert_int_equal(access(path("state/location.sqlite"), F_OK), 0);
    /* A reload starts the metrics endpoint and changes the limits. */
    sip_config_t *more;
    assert_int_equal(sip_config_clone(&more, sip_server_get_config(srv)), 0);
    assert_int_equal(sip_config_set(more, "metrics.listen", "127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_set(more, "limits.rate", "100", NULL), 0);
    assert_int_equal(sip_config_add(more, "limits.allow", "10.0.0.0/8", NULL), 0);
    assert_int_equal(sip_server_reload(srv, more, NULL), 0);
    assert_non_null(sip_server_get_metrics(srv));
    assert_true(sip_metrics_get_port(sip_server_get_metrics(srv)) > 0);
    assert_int_equal(sip_config_set(more, "metrics.listen", "", NULL), 0);
    assert_int_equal(sip_server_reload(srv, more, NULL), 0);
    assert_null(sip_server_get_metrics(srv));
    sip_config_unref(more);
    sip_server_close(srv);
    sip_server_close(srv);
    assert_null(sip_server_get_proxy(srv));
    assert_null(sip_server_get_transport(srv));
    assert_int_equal(sip_server_reload(srv, sip_server_get_config(srv), NULL), SIP_ECLOSED);
    assert_int_equal(sip_server_shutdown(srv, 0, NULL, NULL), SIP_ECLOSED);
    assert_int_equal(sip_server_set_route(srv, NULL, NULL, NULL), SIP_ECLOSED);
    sip_server_unref(srv);
    srv = NULL;
    test_pump(loop, 20);
    for (int k = 0; k < SIP_LIVE__COUNT; k++)
        if (k != SIP_LIVE_LOOP && k != SIP_LIVE_TRANSPORT && k != SIP_LIVE_TXN_LAYER)
            assert_int_equal(sip_live_count((sip_live_kind_t)k), 0);
    assert_int_equal(sip_server_create(NULL, loop, cfg, NULL), SIP_EINVAL);
}

/* A bad part names its key and leaves nothing open. */
static void server_bad_key_error(void **state)
{
    (void)state;
    sip_parse_error_t err;
    sip_config_t *cfg = base_config(path("missing-users"), 0);
    assert_int_equal(sip_server_create(&srv, loop, cfg, &err), SIP_ECONFIG);
    assert_null(srv);
    assert_string_equal(err.header, "users");
    assert_non_null(strstr(err.reason, "missing-users"));
    sip_config_unref(cfg);
    /* A malformed line is named by its number. */
    FILE *f = fopen(path("bad-users"), "w");
    fputs("# users\nalice:" REALM ":MD5:00\n", f);
    fclose(f);
    cfg = base_config(path("bad-users"), 0);
    assert_int_equal(sip_server_create(&srv, loop, cfg, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "users");
    assert_non_null(strstr(err.reason, "bad-users:2: malformed line"));
    sip_config_unref(cfg);
    /* A listening point that is taken. */
    cfg = base_config(NULL, 0);
    char spec[64];
    snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", uac.port);
    assert_int_equal(sip_config_set(cfg, "listen", spec, NULL), 0);
    assert_int_equal(sip_server_create(&srv, loop, cfg, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "listen");
    assert_non_null(strstr(err.reason, "address already in use"));
    sip_config_unref(cfg);
    /* A state that is a file. */
    cfg = base_config(NULL, 0);
    assert_int_equal(sip_config_set(cfg, "state", path("bad-users"), NULL), 0);
    assert_int_equal(sip_server_create(&srv, loop, cfg, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "state");
    sip_config_unref(cfg);
    test_pump(loop, 20);
    assert_int_equal(sip_live_count(SIP_LIVE_SERVER), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_PROXY), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_LOCATION), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_USERDB), 0);
}

/* Any allocation that fails makes the create fail with SIP_ENOMEM and leave nothing open. */
static void server_create_alloc_failure_sweep(void **state)
{
    (void)state;
    static const char *const one[] = {"alice", NULL};
    sip_config_t *cfg = base_config(users_file("users", one), 1);
    assert_int_equal(sip_config_add(cfg, "listen", "tcp:127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "metrics.listen", "127.0.0.1:0", NULL), 0);
    for (long n = 1;; n++) {
        sip_parse_error_t err;
        test_alloc_fail_at(n);
        int rc = sip_server_create(&srv, loop, cfg, &err);
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        if (rc == 0) {
            sip_server_close(srv);
            sip_server_unref(srv);
            srv = NULL;
        }
        test_pump(loop, 5);
        assert_int_equal(sip_live_count(SIP_LIVE_SERVER), 0);
        assert_int_equal(sip_live_count(SIP_LIVE_PROXY), 0);
        assert_int_equal(sip_live_count(SIP_LIVE_LOCATION), 0);
        assert_int_equal(sip_live_count(SIP_LIVE_GUARD), 0);
        assert_int_equal(sip_live_count(SIP_LIVE_METRICS), 0);
        if (!fired) {
            assert_int_equal(rc, 0);
            break;
        }
        if (rc != SIP_ENOMEM) fail_msg("allocation %ld: %d (%s)", n, rc, err.reason);
        assert_true(n < 20000);
    }
    sip_config_unref(cfg);
}

/* ---- reload ---------------------------------------------------------------------------------- */

static void server_reload_keeps_call_and_binding(void **state)
{
    (void)state;
    static const char *const one[] = {"alice", NULL}, *const two[] = {"alice", "bob", NULL};
    sip_config_t *cfg = base_config(users_file("users", one), 0);
    assert_int_equal(sip_config_set(cfg, "log.requests", "true", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "log.level", "info", NULL), 0);
    start(cfg);
    sip_location_t *loc = sip_server_get_location(srv);
    /* A binding: alice at the UAS. bob is nobody yet. */
    assert_int_equal(do_register("alice", "alice"), 200);
    assert_int_equal(do_register("bob", "bob"), 401);
    assert_int_equal(sip_location_count(loc), 1);
    /* A call in progress: INVITE to alice, 180 from the UAS, no final yet. */
    result_t inv;
    sip_msg_t *m = request("INVITE", "sip:alice@" REALM, "carol", "call-1@test", 1, uac.port);
    sip_txn_t *t = send_req(m, &inv);
    sip_msg_unref(m);
    wait_for(&uas_invites, 1);
    wait_nonzero(&inv.provisional);
    assert_int_equal(inv.final, 0);
    /* The log line of the REGISTER that got 200: method, Request-URI, source, Call-ID, status,
     * time. */
    char want[128];
    snprintf(want, sizeof(want), "request: REGISTER sip:" REALM " from udp:127.0.0.1:%u call-id ",
             uac.port);
    assert_non_null(strstr(log_lines, want));
    assert_non_null(strstr(log_lines, ": 200 in "));

    /* Reload: a new domain, bob in the users file. */
    users_file("users", two);
    assert_int_equal(sip_config_add(cfg, "domains", "other.example", NULL), 0);
    sip_parse_error_t err;
    int rc = sip_server_reload(srv, cfg, &err);
    if (rc) fail_msg("reload: %s", err.reason);
    assert_ptr_equal(sip_server_get_location(srv), loc);
    assert_int_equal(sip_location_is_local(loc, "other.example", 13), 1);
    assert_int_equal(sip_userdb_count(sip_server_get_users(srv)), 2);
    assert_int_equal(sip_config_count(sip_server_get_config(srv), "domains"), 2);
    /* Both survived: the binding is there and the call completes. */
    assert_int_equal(sip_location_count(loc), 1);
    assert_non_null(held);
    assert_int_equal(sip_txn_respond(held, 200, NULL), 0);
    wait_nonzero(&inv.final);
    assert_int_equal(inv.final, 200);
    assert_int_equal(uas_cancels, 0);
    sip_msg_unref(inv.rsp);
    sip_txn_unref(t);
    /* And bob is a user now. */
    assert_int_equal(do_register("bob", "bob"), 200);
    assert_int_equal(sip_location_count(loc), 2);
    sip_config_unref(cfg);
}

static void server_refused_reload_changes_nothing(void **state)
{
    (void)state;
    static const char *const one[] = {"alice", NULL};
    sip_config_t *cfg = base_config(users_file("users", one), 0);
    start(cfg);
    const sip_config_t *before = sip_server_get_config(srv);
    sip_transport_t *tp = sip_server_get_transport(srv);
    sip_parse_error_t err;
    /* A new listening point that cannot open (the UAC holds it), with a new domain too. */
    sip_config_t *bad;
    assert_int_equal(sip_config_clone(&bad, cfg), 0);
    char spec[64];
    snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", uac.port);
    assert_int_equal(sip_config_add(bad, "domains", "other.example", NULL), 0);
    assert_int_equal(sip_config_add(bad, "listen", spec, NULL), 0);
    assert_int_equal(sip_config_set(bad, "log.level", "debug", NULL), 0);
    assert_int_equal(sip_server_reload(srv, bad, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "listen");
    assert_non_null(strstr(err.reason, "address already in use"));
    assert_ptr_equal(sip_server_get_config(srv), before);
    assert_int_equal(sip_transport_listener_count(tp), 1);
    assert_int_equal(sip_location_is_local(sip_server_get_location(srv), "other.example", 13), 0);
    assert_int_equal(sip_config_count(sip_server_get_config(srv), "domains"), 1);
    sip_config_unref(bad);
    /* A users file with a bad line. */
    FILE *f = fopen(path("bad-users"), "w");
    fputs("alice:" REALM ":MD5:00\n", f);
    fclose(f);
    assert_int_equal(sip_config_clone(&bad, cfg), 0);
    assert_int_equal(sip_config_set(bad, "users", path("bad-users"), NULL), 0);
    assert_int_equal(sip_server_reload(srv, bad, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "users");
    assert_int_equal(sip_userdb_count(sip_server_get_users(srv)), 1);
    sip_config_unref(bad);
    /* What cannot change live. */
    static const struct {
        const char *key, *value;
    } live[] = {{"mode", "stateless"}, {"state", "/tmp"}, {"domains", "first.example"}};
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        assert_int_equal(sip_config_clone(&bad, cfg), 0);
        assert_int_equal(sip_config_set(bad, live[i].key, live[i].value, NULL), 0);
        assert_int_equal(sip_server_reload(srv, bad, &err), SIP_ECONFIG);
        assert_string_equal(err.header, live[i].key);
        sip_config_unref(bad);
    }
    /* A configuration that does not pass the checks. */
    assert_int_equal(sip_config_clone(&bad, cfg), 0);
    assert_int_equal(sip_config_set(bad, "tls.cert", path("users"), NULL), 0);
    assert_int_equal(sip_server_reload(srv, bad, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "tls.key");
    sip_config_unref(bad);
    assert_ptr_equal(sip_server_get_config(srv), before);
    /* The server still serves. */
    assert_int_equal(do_register("alice", "alice"), 200);
    sip_config_unref(cfg);
}

/* A reload closes the listening points and drops the domains no longer listed, and takes new
 * TLS files (a tls: listening point opened with them in the same reload); a bad key file is
 * refused with nothing changed. */
static void server_reload_removes_and_changes_tls(void **state)
{
    (void)state;
    test_ca_t ca;
    assert_int_equal(test_ca_create(&ca), 0);
    sip_config_t *cfg = base_config(NULL, 0);
    assert_int_equal(sip_config_add(cfg, "listen", "tcp:127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_add(cfg, "domains", "other.example", NULL), 0);
    start(cfg);
    sip_transport_t *tp = sip_server_get_transport(srv);
    sip_location_t *loc = sip_server_get_location(srv);
    assert_int_equal(sip_location_is_local(loc, "OTHER.example", 13), 1);
    sip_parse_error_t err;
    sip_config_t *next = base_config(NULL, 0); /* udp only, example.com only */
    assert_int_equal(sip_config_set(next, "tls.cert", ca.server_cert, NULL), 0);
    assert_int_equal(sip_config_set(next, "tls.key", ca.server_key, NULL), 0);
    assert_int_equal(sip_config_add(next, "listen", "tls:127.0.0.1:0", NULL), 0);
    int rc = sip_server_reload(srv, next, &err);
    if (rc) fail_msg("reload: %s", err.reason);
    assert_int_equal(sip_location_is_local(loc, "other.example", 13), 0);
    assert_int_equal(sip_location_is_local(loc, REALM, 11), 1);
    size_t live = 0, tls = 0;
    for (size_t i = 0; i < sip_transport_listener_count(tp); i++) {
        sip_netinfo_t li;
        assert_int_equal(sip_transport_listener_info(tp, i, &li), 0);
        if (li.transport != SIP_TRANSPORT_NONE) live++;
        if (li.transport == SIP_TRANSPORT_TCP) fail_msg("the tcp listening point is open");
        if (li.transport == SIP_TRANSPORT_TLS) tls++;
    }
    assert_int_equal(live, 2);
    assert_int_equal(tls, 1);
    /* A key that does not go with the certificate: refused, the TLS files in force stay. */
    sip_config_t *bad;
    assert_int_equal(sip_config_clone(&bad, next), 0);
    assert_int_equal(sip_config_set(bad, "tls.key", ca.rogue_key, NULL), 0);
    assert_int_equal(sip_server_reload(srv, bad, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "tls.cert");
    assert_string_equal(sip_config_get(sip_server_get_config(srv), "tls.key", 0), ca.server_key);
    sip_config_unref(bad);
    /* The server still answers on UDP. */
    result_t r;
    sip_msg_t *m = request("OPTIONS", "sip:nobody@" REALM, "carol", "o9@test", 1, uac.port);
    sip_txn_t *t = send_req(m, &r);
    sip_msg_unref(m);
    wait_nonzero(&r.final);
    assert_int_equal(r.final, 404);
    sip_msg_unref(r.rsp);
    sip_txn_unref(t);
    sip_config_unref(next);
    sip_config_unref(cfg);
    test_ca_remove(&ca);
}

/* A users file added by a reload makes REGISTER authenticated from then on; removed, not. */
static void server_reload_adds_and_removes_users(void **state)
{
    (void)state;
    static const char *const one[] = {"alice", NULL};
    sip_config_t *cfg = base_config(NULL, 0);
    start(cfg);
    assert_int_equal(do_register("alice", NULL), 200); /* anyone, no challenge */
    assert_int_equal(sip_config_set(cfg, "users", users_file("users", one), NULL), 0);
    assert_int_equal(sip_server_reload(srv, cfg, NULL), 0);
    assert_non_null(sip_server_get_users(srv));
    assert_int_equal(do_register("alice", NULL), 401);
    assert_int_equal(do_register("alice", "alice"), 200);
    assert_int_equal(sip_config_set(cfg, "users", "", NULL), 0);
    assert_int_equal(sip_server_reload(srv, cfg, NULL), 0);
    assert_null(sip_server_get_users(srv));
    assert_int_equal(do_register("alice", NULL), 200);
    assert_int_equal(sip_location_count(sip_server_get_location(srv)), 1);
    sip_config_unref(cfg);
}

/* ---- the routing program ------------------------------------------------------------------- */

static int route_calls, route_frees;
static sip_proxy_req_t *kept;

static void route_keep(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    (void)user;
    route_calls++;
    kept = sip_proxy_req_ref(req);
}

static void route_488(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    (void)user;
    route_calls += 100;
    sip_proxy_req_reply(req, 488, NULL);
}

static void route_free(void *user)
{
    (void)user;
    route_frees++;
}

/* A new program routes new requests; the old one's user_free waits for the request it took. */
static void server_set_route_replaces_program(void **state)
{
    (void)state;
    route_calls = route_frees = 0;
    kept = NULL;
    sip_config_t *cfg = base_config(NULL, 0);
    start(cfg);
    sip_config_unref(cfg);
    assert_int_equal(sip_server_set_route(srv, route_keep, NULL, route_free), 0);
    result_t r1, r2;
    sip_msg_t *m = request("OPTIONS", "sip:x@" REALM, "carol", "o1@test", 1, uac.port);
    sip_txn_t *t1 = send_req(m, &r1);
    sip_msg_unref(m);
    wait_for(&route_calls, 1);
    assert_non_null(kept);
    assert_int_equal(sip_server_set_route(srv, route_488, NULL, route_free), 0);
    assert_int_equal(route_frees, 0); /* kept still holds the old program */
    m = request("OPTIONS", "sip:x@" REALM, "carol", "o2@test", 1, uac.port);
    sip_txn_t *t2 = send_req(m, &r2);
    sip_msg_unref(m);
    wait_nonzero(&r2.final);
    assert_int_equal(r2.final, 488);
    assert_int_equal(route_calls, 101);
    /* The old program's request finishes with it; then its user_free runs. */
    assert_int_equal(sip_proxy_req_reply(kept, 486, NULL), 0);
    sip_proxy_req_unref(kept);
    kept = NULL;
    assert_int_equal(route_frees, 1);
    wait_nonzero(&r1.final);
    assert_int_equal(r1.final, 486);
    /* Back to the default routing: the second user_free. */
    assert_int_equal(sip_server_set_route(srv, NULL, NULL, NULL), 0);
    assert_int_equal(route_frees, 2);
    sip_msg_unref(r1.rsp);
    sip_msg_unref(r2.rsp);
    sip_txn_unref(t1);
    sip_txn_unref(t2);
}

/* ---- shutdown ----------------------------------------------------------------------------------
 */

static int done_calls;

static void on_done(sip_server_t *s, void *user)
{
    (void)user;
    assert_ptr_equal(s, srv);
    done_calls++;
}

static void server_shutdown_answers_and_commits(void **state)
{
    (void)state;
    static const char *const one[] = {"alice", NULL};
    done_calls = 0;
    sip_config_t *cfg = base_config(users_file("users", one), 1);
    start(cfg);
    assert_int_equal(do_register("alice", "alice"), 200);
    /* A pending INVITE. */
    result_t inv, late;
    sip_msg_t *m = request("INVITE", "sip:alice@" REALM, "carol", "call-2@test", 1, uac.port);
    sip_txn_t *t = send_req(m, &inv);
    sip_msg_unref(m);
    wait_for(&uas_invites, 1);
    wait_nonzero(&inv.provisional);
    assert_int_equal(sip_server_shutdown(srv, 300, on_done, NULL), 0);
    assert_int_equal(done_calls, 0); /* never inside the call */
    assert_int_equal(sip_server_shutdown(srv, 300, on_done, NULL), SIP_ECLOSED);
    /* A new request during the grace time: 503 with Retry-After. */
    m = request("OPTIONS", "sip:x@" REALM, "carol", "o3@test", 1, uac.port);
    sip_txn_t *t2 = send_req(m, &late);
    sip_msg_unref(m);
    wait_nonzero(&late.final);
    assert_int_equal(late.final, 503);
    assert_int_equal(sip_msg_header_by_name(late.rsp, "Retry-After", 0) != NULL, 1);
    /* After the grace time the pending INVITE is answered, its branch cancelled. */
    wait_nonzero(&done_calls);
    assert_int_equal(done_calls, 1);
    wait_nonzero(&inv.final);
    assert_int_equal(inv.final, 503);
    wait_nonzero(&uas_cancels);
    assert_null(sip_server_get_proxy(srv));
    /* The store has the binding. */
    sip_location_t *loc;
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    lo.db_path = path("state/location.sqlite");
    assert_int_equal(sip_location_create(&loc, loop, &lo), 0);
    assert_int_equal(sip_location_count(loc), 1);
    sip_location_close(loc);
    sip_location_unref(loc);
    sip_msg_unref(inv.rsp);
    sip_msg_unref(late.rsp);
    sip_txn_unref(t);
    sip_txn_unref(t2);
    sip_config_unref(cfg);
}

/* With nothing pending the shutdown ends on the next iteration. */
static void server_shutdown_idle(void **state)
{
    (void)state;
    done_calls = 0;
    sip_config_t *cfg = base_config(NULL, 0);
    start(cfg);
    sip_config_unref(cfg);
    assert_int_equal(sip_server_shutdown(srv, 10000, on_done, NULL), 0);
    assert_int_equal(done_calls, 0);
    wait_nonzero(&done_calls);
    assert_null(sip_server_get_transport(srv));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(server_create_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(server_bad_key_error, setup, teardown),
        cmocka_unit_test_setup_teardown(server_create_alloc_failure_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(server_reload_keeps_call_and_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(server_refused_reload_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(server_reload_removes_and_changes_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(server_reload_adds_and_removes_users, setup, teardown),
        cmocka_unit_test_setup_teardown(server_set_route_replaces_program, setup, teardown),
        cmocka_unit_test_setup_teardown(server_shutdown_answers_and_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(server_shutdown_idle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
