/* SPDX-License-Identifier: MIT */
/* sipd --demo: on the server's loop, two libsip user agents (alice and bob, each with its own
 * transport on a free loopback port) register with the server (digest when it has a users
 * table), alice calls bob through it, bob rings and answers with the offer/answer engine, alice
 * hangs up a moment later and both unregister. Every message of theirs is printed as one line of a
 * ladder as it arrives (transport handlers at SIP_HANDLER_PRIO_FIRST on the three transports see
 * every message received, so each message is seen once, where it lands). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

/* The media both user agents offer and answer with (no RTP flows: the demo is signalling). */
#define DEMO_MEDIA                                                                                 \
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 40000 RTP/AVP 0 8 101\r\n"                                                            \
    "a=rtpmap:0 PCMU/8000\r\n"                                                                     \
    "a=rtpmap:8 PCMA/8000\r\n"                                                                     \
    "a=rtpmap:101 telephone-event/8000\r\n"
#define RING_MS 400       /* bob rings this long before answering */
#define TALK_MS 1000      /* the call lasts this long before alice hangs up */
#define DEADLINE_MS 20000 /* the whole demo, registrations to unregistrations */
#define SETTLE_MS 200     /* after the call: the BYE's 200 reaches alice before they unregister */
#define SETTLE_POLLS 25   /* how many SETTLE_MS that answer may take */
#define USER_AGENT "sipd-demo (libsip)"

typedef struct peer {
    const char *name;
    char password[33];
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    sip_reg_t *reg;
    int handler;      /* ladder hook id on tp */
    uint16_t port;    /* its listening port: how the ladder names it */
    int registered;   /* 1 registered, 2 unregistered (or given up) */
    sip_call_t *call; /* our reference */
    struct sipd_demo *d;
} peer_t;

/* What sip_loop_post() carries: a close before it ran clears d. */
typedef struct post_tok {
    struct sipd_demo *d;
} post_tok_t;

struct sipd_demo {
    sip_server_t *srv;
    sip_loop_t *loop;
    FILE *out;
    sipd_demo_done_cb done;
    void *user;
    uint64_t t0;
    sip_transport_t *srv_tp;
    int srv_handler;
    sip_netinfo_t srv_addr; /* where alice and bob send: the server's UDP listening point */
    char domain[256];
    peer_t alice, bob;
    sip_timer_t *deadline, *step;
    post_tok_t *tok;
    /* How the demo users came to be: added to the server's table (to remove at the end), or a
     * reload with a users file (the configuration before it is put back at the end). */
    int added_alice, added_bob;
    sip_config_t *saved_cfg;
    int authenticated;
    int answered, hung_up, finished, ok;
    int bye_status;   /* the final status alice got for her BYE (seen in the ladder) */
    int settle_polls; /* SETTLE_MS waits for it so far */
    int closing;      /* sipd_demo_close() runs: nothing more starts */
    char why[160];
};

/* ---- the ladder ------------------------------------------------------------------------------ */

static double elapsed(const sipd_demo_t *d)
{
    return (double)(sip_loop_now(d->loop) - d->t0) / 1000.0;
}

/* The name of a party by the port it sends from (every party sends from its listening port
 * over UDP, RFC 3261 §18.1.1), or NULL for anyone else. */
static const char *party(const sipd_demo_t *d, uint16_t port)
{
    if (port == d->alice.port) return "alice";
    if (port == d->bob.port) return "bob";
    if (port == d->srv_addr.local_port) return "sipd";
    return NULL;
}

static void ladder(sipd_demo_t *d, const char *to, const sip_msg_t *msg)
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    const char *from = ni ? party(d, ni->remote_port) : NULL;
    /* Only the demo's own messages: sipd may serve others meanwhile. */
    if (!from || (strcmp(from, "sipd") == 0 && strcmp(to, "sipd") == 0)) return;
    if (strcmp(to, "sipd") == 0 && strcmp(from, "alice") != 0 && strcmp(from, "bob") != 0) return;
    char what[200];
    if (sip_msg_is_request(msg)) {
        sip_str_t m = sip_msg_get_method_str(msg);
        const sip_uri_t *u = sip_msg_get_uri(msg);
        snprintf(what, sizeof(what), "%.*s %.*s", (int)m.len, m.ptr, u ? (int)u->raw.len : 0,
                 u ? u->raw.ptr : "");
    } else {
        sip_str_t r = sip_msg_get_reason(msg);
        const sip_cseq_t *cs = sip_msg_get_cseq(msg);
        snprintf(what, sizeof(what), "%d %.*s (%.*s)", sip_msg_get_status(msg), (int)r.len, r.ptr,
                 cs ? (int)cs->method_str.len : 0, cs ? cs->method_str.ptr : "");
    }
    if (!sip_msg_is_request(msg) && strcmp(to, "alice") == 0 && sip_msg_get_status(msg) >= 200) {
        const sip_cseq_t *cs = sip_msg_get_cseq(msg);
        if (cs && cs->method == SIP_METHOD_BYE) d->bye_status = sip_msg_get_status(msg);
    }
    const char *sdp = sip_msg_get_body(msg).len ? "  [SDP]" : "";
    fprintf(d->out, "%7.3f  %5s → %-5s  %s%s\n", elapsed(d), from, to, what, sdp);
    fflush(d->out);
}

static int on_srv_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    ladder(user, "sipd", msg);
    return 0;
}

static int on_peer_msg(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    peer_t *p = user;
    ladder(p->d, p->name, msg);
    return 0;
}

__attribute__((format(printf, 2, 3))) static void note(sipd_demo_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->out, "%7.3f  ", elapsed(d));
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    fflush(d->out);
    va_end(ap);
}

/* ---- the end ----------------------------------------------------------------------------------
 */

static void peer_close(peer_t *p)
{
    if (p->handler > 0 && p->tp) sip_transport_remove_handler(p->tp, p->handler);
    p->handler = 0;
    if (p->call) {
        sip_call_t *c = p->call;
        p->call = NULL;
        sip_call_unref(c);
    }
    if (p->reg) sip_reg_close(p->reg);
    sip_reg_unref(p->reg);
    p->reg = NULL;
    if (p->ua) sip_ua_close(p->ua);
    sip_ua_unref(p->ua);
    p->ua = NULL;
    if (p->layer) sip_txn_layer_close(p->layer);
    sip_txn_layer_unref(p->layer);
    p->layer = NULL;
    if (p->tp) sip_transport_close(p->tp);
    sip_transport_unref(p->tp);
    p->tp = NULL;
}

/* Puts the server's users back as they were before the demo. */
static void restore_users(sipd_demo_t *d)
{
    sip_userdb_t *db = sip_server_get_users(d->srv);
    if (db && d->added_alice) sip_userdb_remove(db, "alice", d->domain);
    if (db && d->added_bob) sip_userdb_remove(db, "bob", d->domain);
    d->added_alice = d->added_bob = 0;
    if (d->saved_cfg) {
        sip_parse_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = sip_server_reload(d->srv, d->saved_cfg, &err);
        if (rc)
            fprintf(stderr, "sipd: demo: the configuration could not be put back: %s\n",
                    err.reason[0] ? err.reason : sip_strerror(rc));
        sip_config_unref(d->saved_cfg);
        d->saved_cfg = NULL;
    }
}

/* Everything of the demo but the structure itself goes; idempotent. */
static void teardown(sipd_demo_t *d)
{
    /* The user agents first: what their closing reports must start no timer after ours. */
    peer_close(&d->alice);
    peer_close(&d->bob);
    sip_timer_stop(d->deadline);
    sip_timer_unref(d->deadline);
    d->deadline = NULL;
    sip_timer_stop(d->step);
    sip_timer_unref(d->step);
    d->step = NULL;
    if (d->srv_handler > 0 && d->srv_tp) sip_transport_remove_handler(d->srv_tp, d->srv_handler);
    d->srv_handler = 0;
    sip_transport_unref(d->srv_tp);
    d->srv_tp = NULL;
    if (d->srv) restore_users(d);
}

static void on_finished(sip_loop_t *loop, void *user)
{
    (void)loop;
    post_tok_t *tok = user;
    sipd_demo_t *d = tok->d;
    if (!d) return;
    d->tok = NULL;
    teardown(d);
    if (d->ok) {
        fprintf(d->out, "demo: alice and bob registered%s, called through sipd and hung up: ok\n",
                d->authenticated ? " (digest)" : "");
        fprintf(d->out, "demo: sipd serves on; Ctrl-C stops it\n");
        fflush(d->out);
        return; /* done is for a failure only (demo.h): the server serves on */
    }
    fprintf(d->out, "demo: FAILED: %s\n", d->why);
    fflush(d->out);
    if (d->done) d->done(0, d->user);
}

static void tok_free(void *user)
{
    post_tok_t *tok = user;
    if (tok->d) tok->d->tok = NULL;
    free(tok);
}

/* Ends the demo on a later loop iteration (never inside a callback of what it closes). */
static void finish(sipd_demo_t *d, int ok, const char *why)
{
    if (d->finished || d->closing) return;
    d->finished = 1;
    d->ok = ok;
    if (why) snprintf(d->why, sizeof(d->why), "%s", why);
    post_tok_t *tok = calloc(1, sizeof(*tok));
    if (tok) {
        tok->d = d;
        d->tok = tok;
        if (sip_loop_post(d->loop, on_finished, tok, tok_free) == 0) return;
    }
    /* Cannot post: end now (we are on the loop thread; the caller returns at once). */
    post_tok_t now = {d};
    on_finished(d->loop, &now);
}

__attribute__((format(printf, 2, 3))) static void fail(sipd_demo_t *d, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    finish(d, 0, why);
}

static void on_deadline(sip_timer_t *t, void *user)
{
    (void)t;
    sipd_demo_t *d = user;
    if (!d->answered)
        fail(d, "no call within %d s", DEADLINE_MS / 1000);
    else if (!d->hung_up)
        fail(d, "the call did not end within %d s", DEADLINE_MS / 1000);
    else /* the call was made; only an unregistration went unanswered */
        finish(d, 1, NULL);
}

/* ---- the call ---------------------------------------------------------------------------------
 */

static void unregister(peer_t *p)
{
    if (p->reg && sip_reg_unregister(p->reg, NULL) == 0) return;
    p->registered = 2;
}

static void on_settled(sip_timer_t *t, void *user)
{
    (void)t;
    sipd_demo_t *d = user;
    /* RFC 3261 §15.1.1: the call is over once the BYE is answered; wait for that (bounded). */
    if (d->bye_status == 0 && ++d->settle_polls < SETTLE_POLLS) {
        sip_timer_unref(d->step);
        d->step = NULL;
        if (sip_timer_start(&d->step, d->loop, SETTLE_MS, 0, on_settled, d, NULL) == 0) return;
    }
    if (d->bye_status < 200 || d->bye_status >= 300) {
        if (d->bye_status)
            fail(d, "alice's BYE got %d", d->bye_status);
        else
            fail(d, "alice's BYE got no answer");
        return;
    }
    /* The call is over on both sides: the bindings go (RFC 3261 §10.2.2), then the demo ends. */
    unregister(&d->alice);
    unregister(&d->bob);
    if (d->alice.registered == 2 && d->bob.registered == 2) finish(d, 1, NULL);
}

static void on_call_ended(sipd_demo_t *d)
{
    if (!d->answered || !d->hung_up) return;
    sip_timer_stop(d->step);
    sip_timer_unref(d->step);
    d->step = NULL;
    if (sip_timer_start(&d->step, d->loop, SETTLE_MS, 0, on_settled, d, NULL) != 0)
        on_settled(NULL, d);
}

static void on_talk_over(sip_timer_t *t, void *user)
{
    (void)t;
    sipd_demo_t *d = user;
    note(d, "alice hangs up");
    if (d->alice.call) sip_call_hangup(d->alice.call, NULL);
}

static void on_alice_call(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    (void)msg;
    (void)txn;
    sipd_demo_t *d = user;
    if (ev != SIP_CALL_EVENT_STATE || d->finished || d->closing) return;
    sip_call_state_t st = sip_call_get_state(call);
    if (st == SIP_CALL_CONFIRMED && !d->answered) {
        d->answered = 1;
        note(d, "call up (offer/answer done: %zu bytes of SDP from bob)",
             sip_call_get_remote_sdp(call).len);
        sip_timer_stop(d->step);
        sip_timer_unref(d->step);
        d->step = NULL;
        sip_timer_start(&d->step, d->loop, TALK_MS, 0, on_talk_over, d, NULL);
    } else if (st == SIP_CALL_ENDED) {
        int end = sip_call_get_end_status(call);
        if (!d->answered) {
            fail(d, "alice's call to bob failed: %d", end);
            return;
        }
        d->hung_up = 1;
        on_call_ended(d);
    }
}

static void place_call(sipd_demo_t *d)
{
    char from[300], target[300];
    snprintf(from, sizeof(from), "Alice <sip:alice@%s>", d->domain);
    snprintf(target, sizeof(target), "sip:bob@%s", d->domain);
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.from = from;
    o.media = DEMO_MEDIA;
    /* The classic ladder: plain provisionals, no session timer refreshes. */
    o.rel100 = SIP_CALL_100REL_OFF;
    o.session_timer = SIP_CALL_TIMER_OFF;
    /* Through sipd, as through an outbound proxy (RFC 3261 §8.1.2). */
    o.dst = &d->srv_addr;
    note(d, "alice calls bob");
    int rc = sip_call_invite(&d->alice.call, d->alice.ua, target, &o, on_alice_call, d, NULL);
    if (rc) fail(d, "alice cannot call: %s", sip_strerror(rc));
}

static void on_bob_answer(sip_timer_t *t, void *user)
{
    (void)t;
    sipd_demo_t *d = user;
    if (d->bob.call && sip_call_get_state(d->bob.call) == SIP_CALL_EARLY)
        sip_call_answer(d->bob.call, 200, NULL); /* the engine's answer (RFC 3264 §6) */
}

static void on_bob_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    sipd_demo_t *d = user;
    if (d->finished || d->closing) {
        sip_txn_respond(txn, 480, NULL);
        return;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE || d->bob.call) {
        sip_txn_respond(txn, sip_msg_get_method(req) == SIP_METHOD_INVITE ? 486 : 501, NULL);
        return;
    }
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = DEMO_MEDIA;
    o.rel100 = SIP_CALL_100REL_OFF;
    o.session_timer = SIP_CALL_TIMER_OFF;
    int rc = sip_call_accept(&d->bob.call, ua, txn, &o, NULL, NULL, NULL);
    if (rc) {
        fail(d, "bob cannot take the call: %s", sip_strerror(rc));
        return;
    }
    /* RFC 3261 §13.3.1.1: ringing first, the answer a moment later. */
    sip_call_ring(d->bob.call, 180, NULL);
    sip_timer_stop(d->step);
    sip_timer_unref(d->step);
    d->step = NULL;
    sip_timer_start(&d->step, d->loop, RING_MS, 0, on_bob_answer, d, NULL);
}

/* ---- registration -----------------------------------------------------------------------------
 */

static void on_reg(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)reg;
    (void)msg;
    peer_t *p = user;
    sipd_demo_t *d = p->d;
    if (d->finished || d->closing) return;
    switch (ev) {
    case SIP_REG_EVENT_REGISTERED:
        p->registered = 1;
        note(d, "%s registered", p->name);
        if (d->alice.registered == 1 && d->bob.registered == 1 && !d->alice.call) place_call(d);
        break;
    case SIP_REG_EVENT_UNREGISTERED:
        p->registered = 2;
        note(d, "%s unregistered", p->name);
        if (d->alice.registered == 2 && d->bob.registered == 2) finish(d, 1, NULL);
        break;
    case SIP_REG_EVENT_FAILED:
        if (d->hung_up) { /* on the way out: the call was made */
            p->registered = 2;
            if (d->alice.registered == 2 && d->bob.registered == 2) finish(d, 1, NULL);
        } else {
            fail(d, "%s could not register: %d", p->name, status);
        }
        break;
    default: break;
    }
}

/* A password nobody can guess: the demo's users exist only while it runs. */
static void make_password(char out[33])
{
    unsigned char raw[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, raw, sizeof(raw)) : -1;
    if (fd >= 0) close(fd);
    if (n != (ssize_t)sizeof(raw)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        srand((unsigned)(ts.tv_nsec ^ ts.tv_sec ^ getpid()));
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)rand();
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static int peer_open(sipd_demo_t *d, peer_t *p, const char *name)
{
    p->d = d;
    p->name = name;
    make_password(p->password);
    int v6 = strchr(d->srv_addr.remote_ip, ':') != NULL;
    int rc = sip_transport_create(&p->tp, d->loop, NULL);
    if (rc) return rc;
    /* Port 0: a free port, on the loopback address of the server's family. */
    int idx = sip_transport_listen(p->tp, v6 ? "udp:[::1]:0" : "udp:127.0.0.1:0");
    if (idx < 0) return idx;
    sip_netinfo_t ni;
    rc = sip_transport_listener_info(p->tp, (size_t)idx, &ni);
    if (rc) return rc;
    p->port = ni.local_port;
    rc = sip_transport_add_handler(p->tp, SIP_HANDLER_PRIO_FIRST, on_peer_msg, p, NULL);
    if (rc < 0) return rc;
    p->handler = rc;
    rc = sip_txn_layer_create(&p->layer, p->tp, NULL);
    if (rc) return rc;
    sip_ua_opts_t uo;
    sip_ua_opts_init(&uo);
    uo.user_agent = USER_AGENT;
    uo.contact_user = name;
    rc = sip_ua_create(&p->ua, p->layer, &uo, p == &d->bob ? on_bob_request : NULL, d, NULL);
    if (rc) return rc;
    sip_auth_cred_t cred = {.realm = d->domain, .user = name, .password = p->password};
    return sip_ua_add_credential(p->ua, &cred);
}

static int peer_register(sipd_demo_t *d, peer_t *p)
{
    char aor[300], registrar[300];
    snprintf(aor, sizeof(aor), "sip:%s@%s", p->name, d->domain);
    snprintf(registrar, sizeof(registrar), "sip:%s", d->domain);
    sip_reg_opts_t ro;
    sip_reg_opts_init(&ro);
    ro.registrar = registrar;
    ro.expires = 300;
    ro.retry_initial = 0;
    ro.dst = &d->srv_addr;
    return sip_reg_create(&p->reg, p->ua, aor, &ro, on_reg, p, NULL);
}

/* The users alice and bob with fresh passwords, in the server's table: added to the one it has
 * (in memory only; removed at the end), or, when it has none, given by a reload with a users
 * file written for it (removed at once; the configuration before is reloaded at the end). A
 * server that refuses that reload (one made without a users table cannot start challenging)
 * takes the demo's REGISTERs unauthenticated, as anyone's, and the demo says so. */
static int add_users(sipd_demo_t *d)
{
    sip_userdb_t *db = sip_server_get_users(d->srv);
    if (db) {
        if (sip_userdb_get_ha1(db, "alice", d->domain, SIP_AUTH_MD5) ||
            sip_userdb_get_ha1(db, "bob", d->domain, SIP_AUTH_MD5)) {
            fprintf(stderr, "sipd: demo: the users file has alice or bob of %s already\n",
                    d->domain);
            return SIP_EEXIST;
        }
        int rc = sip_userdb_set_password(db, "alice", d->domain, d->alice.password);
        if (rc) return rc;
        d->added_alice = 1;
        rc = sip_userdb_set_password(db, "bob", d->domain, d->bob.password);
        if (rc) return rc;
        d->added_bob = 1;
        d->authenticated = 1;
        return 0;
    }
    sip_userdb_t *tmp = NULL;
    int rc = sip_userdb_create(&tmp, NULL, NULL);
    if (rc == 0) rc = sip_userdb_set_password(tmp, "alice", d->domain, d->alice.password);
    if (rc == 0) rc = sip_userdb_set_password(tmp, "bob", d->domain, d->bob.password);
    char path[] = "/tmp/sipd-demo-users-XXXXXX";
    int fd = rc == 0 ? mkstemp(path) : -1;
    if (rc == 0 && fd < 0) rc = -errno;
    if (fd >= 0) close(fd);
    if (rc == 0) rc = sip_userdb_save(tmp, path);
    sip_userdb_unref(tmp);
    sip_config_t *cfg = NULL, *saved = NULL;
    sip_parse_error_t err;
    memset(&err, 0, sizeof(err));
    if (rc == 0) rc = sip_config_clone(&saved, sip_server_get_config(d->srv));
    if (rc == 0) rc = sip_config_clone(&cfg, saved);
    if (rc == 0) rc = sip_config_set(cfg, "users", path, &err);
    if (rc == 0) rc = sip_server_reload(d->srv, cfg, &err);
    if (fd >= 0) unlink(path);
    sip_config_unref(cfg);
    if (rc) {
        /* A server that cannot take a users table live (its registrar was made without
         * authentication) serves the demo as it serves anyone: said, not hidden. */
        sip_config_unref(saved);
        return 0;
    }
    d->saved_cfg = saved;
    d->authenticated = 1;
    return 0;
}

/* The server's UDP listening point, a wildcard address taken as the loopback one. alice and bob
 * are named in the ladder by the port they send from, which only UDP keeps (a connection's
 * source port is another). */
static int find_server(sipd_demo_t *d)
{
    size_t n = sip_transport_listener_count(d->srv_tp);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        sip_netinfo_t ni;
        if (sip_transport_listener_info(d->srv_tp, i, &ni) != 0) continue;
        if (ni.transport != SIP_TRANSPORT_UDP) continue;
        d->srv_addr = ni;
        found = 1;
    }
    if (!found) return SIP_ENOENT;
    sip_netinfo_t *a = &d->srv_addr;
    const char *ip = a->local_ip;
    if (strcmp(ip, "0.0.0.0") == 0) ip = "127.0.0.1";
    if (strcmp(ip, "::") == 0) ip = "::1";
    snprintf(a->remote_ip, sizeof(a->remote_ip), "%s", ip);
    a->remote_port = a->local_port;
    a->server_name[0] = '\0';
    a->conn_id = 0;
    return 0;
}

int sipd_demo_start(sipd_demo_t **out, sip_server_t *srv, FILE *outf, sipd_demo_done_cb done,
                    void *user)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!srv || !outf) return SIP_EINVAL;
    sipd_demo_t *d = calloc(1, sizeof(*d));
    if (!d) return SIP_ENOMEM;
    d->srv = sip_server_ref(srv);
    d->loop = sip_server_get_loop(srv);
    d->srv_tp = sip_server_get_transport(srv);
    d->out = outf;
    d->done = done;
    d->user = user;
    int rc = d->loop && d->srv_tp ? 0 : SIP_ECLOSED, said = 0;
    if (rc == 0) {
        sip_transport_ref(d->srv_tp);
        d->t0 = sip_loop_now(d->loop);
        const char *dom = sip_config_get(sip_server_get_config(srv), "domains", 0);
        snprintf(d->domain, sizeof(d->domain), "%s", dom && *dom ? dom : "localhost");
        rc = find_server(d);
        if (rc) {
            fprintf(stderr, "sipd: --demo needs a udp: listening point\n");
            said = 1;
        }
    }
    if (rc == 0) rc = peer_open(d, &d->alice, "alice");
    if (rc == 0) rc = peer_open(d, &d->bob, "bob");
    if (rc == 0) {
        rc = add_users(d);
        said = rc == SIP_EEXIST; /* add_users() said which users */
    }
    if (rc == 0) {
        rc = sip_transport_add_handler(d->srv_tp, SIP_HANDLER_PRIO_FIRST, on_srv_msg, d, NULL);
        if (rc > 0) {
            d->srv_handler = rc;
            rc = 0;
        }
    }
    if (rc == 0) rc = sip_timer_start(&d->deadline, d->loop, DEADLINE_MS, 0, on_deadline, d, NULL);
    if (rc == 0) {
        fprintf(outf,
                "demo: alice (udp:%s:%u) and bob (udp:%s:%u) register with sipd at %s:%s:%u as "
                "users of %s%s; alice calls bob through it\n",
                d->srv_addr.remote_ip, d->alice.port, d->srv_addr.remote_ip, d->bob.port,
                sip_transport_param(d->srv_addr.transport), d->srv_addr.remote_ip,
                d->srv_addr.remote_port, d->domain, d->authenticated ? " (digest)" : "");
        if (!d->authenticated)
            fprintf(outf,
                    "demo: sipd has no users file, so REGISTER is not authenticated (with "
                    "--users FILE the demo's users are added to it and register with digest)\n");
        fflush(outf);
        rc = peer_register(d, &d->alice);
        if (rc == 0) rc = peer_register(d, &d->bob);
    }
    if (rc) {
        if (!said) fprintf(stderr, "sipd: demo: %s\n", sip_strerror(rc));
        teardown(d);
        sip_server_unref(d->srv);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void sipd_demo_close(sipd_demo_t *d)
{
    if (!d) return;
    d->closing = 1;
    if (d->tok) {
        d->tok->d = NULL; /* the posted end runs no more */
        d->tok = NULL;
    }
    teardown(d);
    sip_server_unref(d->srv);
    free(d);
}
