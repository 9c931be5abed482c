/* SPDX-License-Identifier: MIT */
/* Requests a UA sends with sip_ua_send_request(), answered by the other UA of the pair: digest
 * challenges answered with the UA's credentials (RFC 3261 §22.2), MESSAGE (RFC 3428) and
 * OPTIONS (§11) outside dialogs; challenged INVITEs, CANCEL, BYE and requests inside calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "sip/sip.h"
#include "ua_pair.h"

enum { A = PAIR_A, B = PAIR_B };

#define USER "alice"
#define PASS "secret"
#define TARGET "sip:bob@127.0.0.1:5061"

/* ---- the digest the challenger checks, computed here with OpenSSL (RFC 2617 §3.2.2) -------- */

static void md5_hex(const char *s, char out[33])
{
    unsigned char d[16];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_md5(), NULL);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A parameter of a Digest credentials value (quoted or a token), or "" when absent. */
static void param(sip_str_t v, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    const char *p = v.ptr, *end = v.ptr + v.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *k = p;
        while (p < end && *p != '=' && *p != ' ' && *p != ',')
            p++;
        int match = (size_t)(p - k) == nl && strncasecmp(k, name, nl) == 0;
        if (p >= end || *p != '=') continue;
        p++;
        const char *s = p, *e;
        if (*p == '"') {
            s = ++p;
            while (p < end && *p != '"')
                p++;
            e = p;
            if (p < end) p++;
        } else {
            while (p < end && *p != ',')
                p++;
            e = p;
        }
        if (match) {
            snprintf(out, size, "%.*s", (int)(e - s), s);
            return;
        }
    }
}

/* 1 when the request's Authorization (or Proxy-Authorization) for realm answers nonce with
 * the password pass. */
static int digest_ok(const sip_msg_t *req, const char *hdr, const char *realm, const char *nonce,
                     const char *pass)
{
    for (size_t i = 0;; i++) {
        const sip_header_t *h = sip_msg_header_by_name(req, hdr, i);
        if (!h) return 0;
        sip_str_t v = sip_header_get_value(h);
        char r[64], n[64], user[64], uri[128], resp[64], qop[16], nc[16], cnonce[64];
        param(v, "realm", r, sizeof(r));
        if (strcmp(r, realm) != 0) continue;
        param(v, "nonce", n, sizeof(n));
        param(v, "username", user, sizeof(user));
        param(v, "uri", uri, sizeof(uri));
        param(v, "response", resp, sizeof(resp));
        param(v, "qop", qop, sizeof(qop));
        param(v, "nc", nc, sizeof(nc));
        param(v, "cnonce", cnonce, sizeof(cnonce));
        if (strcmp(n, nonce) != 0 || strcmp(user, USER) != 0) return 0;
        char buf[512], ha1[33], ha2[33], want[33];
        snprintf(buf, sizeof(buf), "%s:%s:%s", user, realm, pass);
        md5_hex(buf, ha1);
        sip_str_t m = sip_msg_get_method_str(req);
        snprintf(buf, sizeof(buf), "%.*s:%s", (int)m.len, m.ptr, uri);
        md5_hex(buf, ha2);
        if (qop[0])
            snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
        else
            snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, ha2);
        md5_hex(buf, want);
        return strcmp(want, resp) == 0;
    }
}

/* ---- the calls' applications --------------------------------------------------------- */

typedef struct callapp {
    int responses[16], nresponses;
    int requests;
    char body[128];
    int ended;
    int modified; /* the status of the last MODIFIED */
} callapp_t;
static callapp_t capp[2];

static void on_call(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                    void *user)
{
    (void)call;
    callapp_t *a = user;
    if (ev == SIP_CALL_EVENT_RESPONSE && a->nresponses < 16)
        a->responses[a->nresponses++] = sip_msg_get_status(msg);
    if (ev == SIP_CALL_EVENT_REQUEST) {
        a->requests++;
        sip_str_t b = sip_msg_get_body(msg);
        snprintf(a->body, sizeof(a->body), "%.*s", (int)b.len, b.ptr);
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
    }
    if (ev == SIP_CALL_EVENT_STATE && sip_call_get_state(call) == SIP_CALL_ENDED) a->ended++;
    if (ev == SIP_CALL_EVENT_OFFER) assert_int_equal(sip_call_answer_offer(call, "v=0\r\n"), 0);
    if (ev == SIP_CALL_EVENT_MODIFIED) a->modified = msg ? sip_msg_get_status(msg) : -1;
}

/* ---- B, the challenger ------------------------------------------------------------------ */

typedef struct challenge {
    int status;        /* 401 or 407 */
    const char *realm; /* the challenge's realm */
    const char *nonce;
    int stale;
} challenge_t;

/* What B does with each request: the challenges it sends in turn (the i-th request gets the
 * i-th, when it does not already answer it), then 200. */
static struct server {
    challenge_t ch[4];
    int nch, next;
    const char *pass; /* what B's user database holds */
    int requests, answered, verified;
    char last_branch[8][64];
    uint32_t cseq[8];
    char body[256], ctype[64];
    sip_method_t last_method;
    int answer_options; /* OPTIONS answered with sip_ua_answer_options() */
    sip_call_t *call;
    int ring; /* INVITE: ring only, do not answer */
} srv;

static void save(const sip_msg_t *req)
{
    if (srv.requests < 8) {
        const sip_via_t *v = sip_header_via(sip_msg_header_at(req, SIP_HDR_VIA, 0));
        snprintf(srv.last_branch[srv.requests], 64, "%.*s", (int)v->branch.len, v->branch.ptr);
        srv.cseq[srv.requests] = sip_msg_get_cseq(req)->seq;
    }
    srv.requests++;
    srv.last_method = sip_msg_get_method(req);
}

static void send_challenge(sip_ua_t *ua, sip_txn_t *txn, const challenge_t *c)
{
    sip_msg_t *rsp = NULL;
    char v[256];
    snprintf(v, sizeof(v), "Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", algorithm=MD5%s",
             c->realm, c->nonce, c->stale ? ", stale=true" : "");
    assert_int_equal(sip_ua_create_response(&rsp, ua, txn, c->status, NULL), 0);
    assert_int_equal(
        sip_msg_add_header(rsp, c->status == 401 ? "WWW-Authenticate" : "Proxy-Authenticate", v),
        0);
    assert_int_equal(sip_txn_reply(txn, rsp), 0);
    sip_msg_unref(rsp);
}

/* 1 when the request was challenged (answered here). */
static int challenge_request(sip_ua_t *ua, sip_txn_t *txn, const sip_msg_t *req)
{
    save(req);
    /* Every challenge sent so far must be answered by now. */
    for (int i = 0; i < srv.next; i++) {
        const challenge_t *c = &srv.ch[i];
        /* A later challenge of the same realm (stale) replaced this one. */
        int replaced = 0;
        for (int j = i + 1; j < srv.next; j++)
            replaced |= strcmp(srv.ch[j].realm, c->realm) == 0;
        if (replaced) continue;
        const char *hdr = c->status == 401 ? "Authorization" : "Proxy-Authorization";
        if (!digest_ok(req, hdr, c->realm, c->nonce, srv.pass)) {
            /* A wrong password: the same challenge again (a fresh nonce would be the same). */
            send_challenge(ua, txn, c);
            return 1;
        }
    }
    if (srv.next) srv.verified++;
    if (srv.next < srv.nch) {
        send_challenge(ua, txn, &srv.ch[srv.next++]);
        return 1;
    }
    return 0;
}

/* With the auth module's server half: B checks the credentials itself (SHA-256 and MD5
 * offered, the strongest first: RFC 8760 §2.4). */
static sip_auth_server_t *auth_srv;
static int auth_algorithm, auth_ok;

static void on_check(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    sip_txn_t *txn = user;
    if (ev == SIP_AUTH_EVENT_LOOKUP) {
        assert_true(sip_str_eq(sip_auth_query_get_user(q), SIP_STR(USER)));
        assert_int_equal(sip_auth_query_answer_password(q, srv.pass), 0);
        return;
    }
    if (sip_auth_query_get_verdict(q) == SIP_AUTH_OK) {
        auth_ok++;
        auth_algorithm = sip_auth_query_get_algorithm(q);
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        return;
    }
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
    assert_int_equal(sip_txn_reply(txn, rsp), 0);
    sip_msg_unref(rsp);
}

static void unref_txn(void *user)
{
    sip_txn_unref(user);
}

static void on_b_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (auth_srv) {
        save(req);
        assert_int_equal(
            sip_auth_server_check(NULL, auth_srv, req, on_check, sip_txn_ref(txn), unref_txn), 0);
        return;
    }
    if (challenge_request(ua, txn, req)) return;
    sip_str_t b = sip_msg_get_body(req);
    snprintf(srv.body, sizeof(srv.body), "%.*s", (int)b.len, b.ptr);
    const sip_media_t *ct = sip_msg_get_content_type(req);
    srv.ctype[0] = '\0';
    if (ct)
        snprintf(srv.ctype, sizeof(srv.ctype), "%.*s/%.*s", (int)ct->type.len, ct->type.ptr,
                 (int)ct->subtype.len, ct->subtype.ptr);
    srv.answered++;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE) {
        sip_call_t *c = NULL;
        assert_int_equal(sip_call_accept(&c, ua, txn, NULL, on_call, &capp[B], NULL), 0);
        if (srv.ring)
            assert_int_equal(sip_call_ring(c, 180, NULL), 0);
        else
            assert_int_equal(sip_call_answer(c, 200, "v=0\r\n"), 0);
        sip_call_unref(srv.call);
        srv.call = c;
        return;
    }
    if (sip_msg_get_method(req) == SIP_METHOD_OPTIONS && srv.answer_options) {
        assert_int_equal(sip_ua_answer_options(ua, txn), 0);
        /* Answered: a second answer is refused. */
        assert_int_equal(sip_ua_answer_options(ua, txn), SIP_EINVAL);
        return;
    }
    assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
}

/* ---- A, the client ------------------------------------------------------------------------ */

static struct client {
    int statuses[16];
    int n;
    int freed;
    uint32_t final_cseq;
    sip_msg_t *final;
} cli;

static void on_a_response(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user)
{
    (void)ua;
    (void)user;
    assert_non_null(rsp);
    int st = sip_msg_get_status(rsp);
    if (cli.n < 16) cli.statuses[cli.n++] = st;
    /* The response answers the request as last sent. */
    assert_int_equal(sip_msg_get_cseq(rsp)->seq, sip_msg_get_cseq(req)->seq);
    if (st >= 200) {
        cli.final_cseq = sip_msg_get_cseq(req)->seq;
        sip_msg_unref(cli.final);
        cli.final = sip_msg_ref(rsp);
    }
}

static void on_a_free(void *user)
{
    (void)user;
    cli.freed++;
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof(srv));
    memset(&cli, 0, sizeof(cli));
    srv.pass = PASS;
    sip_ua_request_cb cbs[2] = {NULL, on_b_request};
    pair_setup(NULL, cbs, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_msg_unref(cli.final);
    cli.final = NULL;
    sip_call_unref(srv.call);
    srv.call = NULL;
    pair_teardown();
    return 0;
}

static void add_cred(const char *realm, const char *pass)
{
    sip_auth_cred_t c = {0};
    c.realm = realm;
    c.user = USER;
    c.password = pass;
    assert_int_equal(sip_ua_add_credential(pair[A].ua, &c), 0);
}

static void send_from_a(const char *method, const char *ct, const char *body)
{
    sip_msg_t *m = NULL;
    assert_int_equal(
        sip_ua_create_request(&m, pair[A].ua, method, TARGET, "Alice <sip:alice@127.0.0.1>"), 0);
    if (body) assert_int_equal(sip_msg_set_body(m, ct, body, strlen(body)), 0);
    assert_int_equal(sip_ua_send_request(pair[A].ua, m, NULL, on_a_response, NULL, on_a_free), 0);
    sip_msg_unref(m);
    pair_advance(0);
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void request_answers_401(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.nch = 1;
    send_from_a("MESSAGE", "text/plain", "hello");
    /* The 401 was answered, not passed on: the application sees the 200 only. */
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 200);
    assert_int_equal(srv.requests, 2);
    assert_int_equal(srv.verified, 1);
    /* RFC 3261 §8.1.3.5: the CSeq one higher, a new branch (a new transaction). */
    assert_int_equal(srv.cseq[0], 1);
    assert_int_equal(srv.cseq[1], 2);
    assert_int_equal(cli.final_cseq, 2);
    assert_string_not_equal(srv.last_branch[0], srv.last_branch[1]);
    assert_string_equal(srv.body, "hello");
    pair_advance(40000);
    assert_int_equal(cli.freed, 1);
}

static void request_401_then_407(void **state)
{
    (void)state;
    /* One credential for any realm: the server's and the proxy's. */
    add_cred(NULL, PASS);
    srv.ch[0] = (challenge_t){401, "server", "s-1", 0};
    srv.ch[1] = (challenge_t){407, "proxy", "p-1", 0};
    srv.nch = 2;
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 200);
    assert_int_equal(srv.requests, 3);
    assert_int_equal(srv.cseq[2], 3);
    assert_string_not_equal(srv.last_branch[1], srv.last_branch[2]);
    pair_advance(40000);
    assert_int_equal(cli.freed, 1);
}

static void request_stale_nonce_retried(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.ch[1] = (challenge_t){401, "test", "n-2", 1};
    srv.nch = 2;
    send_from_a("OPTIONS", NULL, NULL);
    /* RFC 7616 §3.3: stale=true is answered again without asking, with the new nonce. */
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 200);
    assert_int_equal(srv.requests, 3);
    assert_int_equal(cli.final_cseq, 3);
    pair_advance(40000);
}

static void request_wrong_password_reaches_cb(void **state)
{
    (void)state;
    add_cred("test", "wrong");
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.nch = 1;
    send_from_a("OPTIONS", NULL, NULL);
    /* The first 401 was answered; the second one (the password is wrong) reaches cb. */
    assert_int_equal(srv.requests, 2);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 401);
    assert_int_equal(cli.final_cseq, 2);
    assert_non_null(sip_msg_header_by_name(cli.final, "WWW-Authenticate", 0));
    pair_advance(40000);
    assert_int_equal(cli.freed, 1);
}

static void request_without_credentials_gets_401(void **state)
{
    (void)state;
    srv.ch[0] = (challenge_t){407, "test", "n-1", 0};
    srv.nch = 1;
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 1);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 407);
    pair_advance(40000);
}

static void request_cached_challenge_authorises_next(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.nch = 1;
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 2);
    /* RFC 7616 §3.4: the next request carries credentials at once (nonce count 2). */
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 3);
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.statuses[1], 200);
    pair_advance(40000);
    assert_int_equal(cli.freed, 2);
}

static void request_cached_credentials_challenged_anew(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.ch[1] = (challenge_t){401, "test", "n-2", 0};
    srv.nch = 2;
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 2);
    /* The next request carries the cached answer to n-1; the server wants n-2 now (a nonce
     * it forgot, no stale=true): answered once more, not taken for a wrong password. */
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 4);
    assert_int_equal(cli.n, 2);
    assert_int_equal(cli.statuses[1], 200);
    assert_int_equal(cli.final_cseq, 2);
    pair_advance(40000);
}

static void request_checked_by_auth_server(void **state)
{
    (void)state;
    sip_auth_server_opts_t o;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.proxy = 1; /* a proxy: 407 and Proxy-Authorization (RFC 3261 §22.3) */
    assert_int_equal(sip_auth_server_create(&auth_srv, &o), 0);
    auth_ok = 0;
    add_cred(NULL, PASS);
    send_from_a("MESSAGE", "text/plain", "checked");
    assert_int_equal(srv.requests, 2);
    assert_int_equal(auth_ok, 1);
    /* The strongest algorithm offered that the credential can answer. */
    assert_int_equal(auth_algorithm, SIP_AUTH_SHA256);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 200);
    /* The next request is authorised at once from the cached challenge (nonce count 2). */
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(srv.requests, 3);
    assert_int_equal(auth_ok, 2);
    sip_auth_server_unref(auth_srv);
    auth_srv = NULL;
    pair_advance(40000);
}

static void request_refused_by_auth_server(void **state)
{
    (void)state;
    sip_auth_server_opts_t o;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    assert_int_equal(sip_auth_server_create(&auth_srv, &o), 0);
    srv.pass = "the real one";
    add_cred("example.com", PASS);
    send_from_a("OPTIONS", NULL, NULL);
    /* Answered once; the server's second challenge means a wrong password: it reaches cb. */
    assert_int_equal(srv.requests, 2);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 401);
    assert_int_equal(cli.final_cseq, 2);
    sip_auth_server_unref(auth_srv);
    auth_srv = NULL;
    pair_advance(40000);
}

static void request_refused_arguments(void **state)
{
    (void)state;
    sip_msg_t *m = NULL;
    assert_int_equal(sip_ua_create_request(&m, pair[A].ua, "INVITE", TARGET, NULL), 0);
    cli.freed = 0;
    /* Calls send INVITEs; user_free runs on failure too. */
    assert_int_equal(sip_ua_send_request(pair[A].ua, m, NULL, on_a_response, NULL, on_a_free),
                     SIP_EINVAL);
    assert_int_equal(cli.freed, 1);
    sip_msg_unref(m);
    assert_int_equal(sip_ua_send_request(NULL, NULL, NULL, NULL, NULL, on_a_free), SIP_EINVAL);
    assert_int_equal(cli.freed, 2);
    assert_int_equal(sip_ua_add_credential(pair[A].ua, NULL), SIP_EINVAL);
    assert_non_null(sip_ua_get_auth(pair[A].ua));
    assert_int_equal(sip_ua_answer_options(pair[A].ua, NULL), SIP_EINVAL);
}

static int drop_all(int from, const sip_msg_t *m)
{
    (void)from;
    (void)m;
    return 1;
}

static void request_timeout_gives_408(void **state)
{
    (void)state;
    sip_msg_t *m = NULL;
    assert_int_equal(sip_ua_create_request(&m, pair[A].ua, "OPTIONS", TARGET, NULL), 0);
    /* Nothing arrives: the transaction layer's timer F, as a 408 made for the callback. */
    pair_drop = drop_all;
    assert_int_equal(sip_ua_send_request(pair[A].ua, m, NULL, on_a_response, NULL, on_a_free), 0);
    sip_msg_unref(m);
    pair_advance(40000);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 408);
    assert_int_equal(cli.freed, 1);
    pair_drop = NULL;
}

static void request_stopped_when_ua_closes(void **state)
{
    (void)state;
    sip_msg_t *m = NULL;
    assert_int_equal(sip_ua_create_request(&m, pair[A].ua, "OPTIONS", TARGET, NULL), 0);
    assert_int_equal(sip_ua_send_request(pair[A].ua, m, NULL, on_a_response, NULL, on_a_free), 0);
    sip_msg_unref(m);
    sip_ua_close(pair[A].ua);
    assert_int_equal(cli.freed, 1);
    pair_advance(0);
    assert_int_equal(cli.n, 0);
    assert_null(sip_ua_get_auth(pair[A].ua));
    assert_int_equal(sip_ua_add_credential(pair[A].ua, &(sip_auth_cred_t){.user = "x"}),
                     SIP_ECLOSED);
}

/* ---- MESSAGE and OPTIONS ---------------------------------------------------------------- */

static void message_out_of_dialog(void **state)
{
    (void)state;
    /* B's Accept is the default application/sdp: a MESSAGE of text/plain still reaches the
     * application (RFC 3428 §7: its body types are the application's to judge). */
    send_from_a("MESSAGE", "text/plain", "Watson, come here.");
    assert_int_equal(srv.answered, 1);
    assert_int_equal(srv.last_method, SIP_METHOD_MESSAGE);
    assert_string_equal(srv.body, "Watson, come here.");
    assert_string_equal(srv.ctype, "text/plain");
    assert_int_equal(cli.statuses[0], 200);
    pair_advance(40000);
}

static void options_answered_with_capabilities(void **state)
{
    (void)state;
    srv.answer_options = 1;
    send_from_a("OPTIONS", NULL, NULL);
    assert_int_equal(cli.n, 1);
    assert_int_equal(cli.statuses[0], 200);
    /* RFC 3261 §11.2. */
    char buf[256] = "";
    size_t n = sip_msg_header_count(cli.final, SIP_HDR_ALLOW), len = 0;
    for (size_t i = 0; i < n; i++) {
        sip_str_t v = sip_header_get_value(sip_msg_header_at(cli.final, SIP_HDR_ALLOW, i));
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%.*s", i ? ", " : "", (int)v.len,
                                v.ptr);
    }
    /* The default Allow takes MESSAGE (RFC 3428), SUBSCRIBE and NOTIFY (RFC 6665). */
    assert_string_equal(
        buf, "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, MESSAGE, SUBSCRIBE, NOTIFY");
    assert_non_null(sip_msg_header_by_name(cli.final, "Accept", 0));
    assert_non_null(sip_msg_header_by_name(cli.final, "Accept-Encoding", 0));
    assert_non_null(sip_msg_header_by_name(cli.final, "Accept-Language", 0));
    assert_non_null(sip_msg_header_by_name(cli.final, "Supported", 0));
    pair_advance(40000);
}

/* ---- calls ---------------------------------------------------------------------------------- */

static sip_call_t *invite_b(void)
{
    memset(capp, 0, sizeof(capp));
    sip_call_t *c = NULL;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = "v=0\r\n";
    o.from = "Alice <sip:alice@127.0.0.1>";
    assert_int_equal(sip_call_invite(&c, pair[A].ua, TARGET, &o, on_call, &capp[A], NULL), 0);
    pair_advance(0);
    return c;
}

static void call_invite_challenged_then_answered(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){407, "test", "n-1", 0};
    srv.nch = 1;
    sip_call_t *c = invite_b();
    /* The 407 was seen and answered; the call went on and was answered. */
    assert_int_equal(srv.requests, 2);
    assert_int_equal(srv.verified, 1);
    assert_int_equal(capp[A].nresponses, 2);
    assert_int_equal(capp[A].responses[0], 407);
    assert_int_equal(capp[A].responses[1], 200);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_int_equal(srv.cseq[1], 2);
    assert_string_not_equal(srv.last_branch[0], srv.last_branch[1]);
    /* §22.2: the same Call-ID and From tag (the call's dialog is the retried INVITE's). */
    sip_dialog_t *d = sip_call_get_dialog(c);
    assert_true(sip_str_eq(sip_dialog_get_call_id(d),
                           sip_dialog_get_call_id(sip_call_get_dialog(srv.call))));
    assert_int_equal(sip_dialog_get_local_cseq(d), 2);
    int before = srv.requests;
    sip_call_hangup(c, NULL);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(srv.call), SIP_CALL_ENDED);
    assert_int_equal(srv.requests, before); /* the BYE went to the call, not the UA's cb */
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_invite_wrong_password_ends(void **state)
{
    (void)state;
    add_cred("test", "wrong");
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.nch = 1;
    sip_call_t *c = invite_b();
    assert_int_equal(srv.requests, 2);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(c), 401);
    sip_call_unref(c);
    pair_advance(60000);
}

static int saw_cancel;
static uint32_t cancel_cseq;
static char cancel_branch[64];
static void spy_cancel(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != SIP_METHOD_CANCEL) return;
    saw_cancel++;
    cancel_cseq = sip_msg_get_cseq(m)->seq;
    const sip_via_t *v = sip_header_via(sip_msg_header_at(m, SIP_HDR_VIA, 0));
    snprintf(cancel_branch, sizeof(cancel_branch), "%.*s", (int)v->branch.len, v->branch.ptr);
}

static void call_cancel_after_challenge(void **state)
{
    (void)state;
    add_cred("test", PASS);
    srv.ch[0] = (challenge_t){401, "test", "n-1", 0};
    srv.nch = 1;
    srv.ring = 1;
    saw_cancel = 0;
    pair_spy = spy_cancel;
    sip_call_t *c = invite_b();
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    /* RFC 3261 §9.1: the CANCEL is the new INVITE's: its CSeq number and branch. */
    assert_int_equal(saw_cancel, 1);
    assert_int_equal(cancel_cseq, 2);
    assert_string_equal(cancel_branch, srv.last_branch[1]);
    assert_int_equal(sip_call_get_state(srv.call), SIP_CALL_ENDED);
    assert_int_equal(sip_call_get_end_status(srv.call), 487);
    pair_spy = NULL;
    sip_call_unref(c);
    pair_advance(60000);
}

/* B's answer to a request inside a call is its call's; a challenge to one is made by hand:
 * the first such request A sends is dropped on the wire and a 401 to it injected into A. */
static sip_method_t intercept_method;
static sip_msg_t *intercepted;
static int drop_once(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != intercept_method) return 0;
    if (sip_msg_header_by_name(m, "Authorization", 0)) return 0;
    if (!intercepted) intercepted = sip_msg_ref((sip_msg_t *)m);
    return 1;
}

static void inject_401(void)
{
    assert_non_null(intercepted);
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, intercepted, 401, NULL, NULL), 0);
    assert_int_equal(sip_msg_add_header(rsp, "WWW-Authenticate",
                                        "Digest realm=\"test\", nonce=\"n-9\", qop=\"auth\""),
                     0);
    pair_inject(A, rsp);
    sip_msg_unref(rsp);
    sip_msg_unref(intercepted);
    intercepted = NULL;
    pair_advance(0);
}

static uint32_t seen_cseq;
static int seen_auth;
static void spy_method(int from, const sip_msg_t *m)
{
    if (from == A && sip_msg_is_request(m) && sip_msg_get_method(m) == intercept_method &&
        sip_msg_header_by_name(m, "Authorization", 0)) {
        seen_cseq = sip_msg_get_cseq(m)->seq;
        seen_auth = digest_ok(m, "Authorization", "test", "n-9", PASS);
    }
}

static sip_call_t *confirmed_call(void)
{
    add_cred("test", PASS);
    sip_call_t *c = invite_b();
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    assert_non_null(srv.call);
    return c;
}

static void call_bye_challenged(void **state)
{
    (void)state;
    sip_call_t *c = confirmed_call();
    intercept_method = SIP_METHOD_BYE;
    pair_drop = drop_once;
    pair_spy = spy_method;
    seen_cseq = 0;
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    inject_401();
    /* The BYE again with credentials and the CSeq one higher; B's call ends. */
    assert_int_equal(seen_cseq, 3);
    assert_true(seen_auth);
    assert_int_equal(sip_call_get_state(srv.call), SIP_CALL_ENDED);
    pair_drop = NULL;
    pair_spy = NULL;
    sip_call_unref(c);
    pair_advance(60000);
}

static int info_status, info_done;
static void on_info(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)rsp;
    (void)user;
    info_status = status;
}
static void on_info_free(void *user)
{
    (void)user;
    info_done++;
}

static void call_message_both_ways_and_challenged(void **state)
{
    (void)state;
    sip_call_t *c = confirmed_call();
    intercept_method = SIP_METHOD_MESSAGE;
    pair_drop = drop_once;
    pair_spy = spy_method;
    info_status = 0;
    info_done = 0;
    assert_int_equal(
        sip_call_request(c, "MESSAGE", "text/plain", "hi B", on_info, NULL, on_info_free), 0);
    pair_advance(0);
    inject_401();
    assert_int_equal(info_status, 200);
    assert_int_equal(capp[B].requests, 1);
    assert_string_equal(capp[B].body, "hi B");
    assert_int_equal(seen_cseq, 3);
    assert_true(seen_auth);
    /* The dialog counts the raised CSeq: the next request goes above it. */
    assert_int_equal(sip_dialog_get_local_cseq(sip_call_get_dialog(c)), 3);
    pair_drop = NULL;
    pair_spy = NULL;
    assert_int_equal(sip_call_request(c, "OPTIONS", NULL, NULL, on_info, NULL, NULL), 0);
    pair_advance(0);
    assert_int_equal(info_status, 200);
    assert_int_equal(sip_dialog_get_local_cseq(sip_call_get_dialog(c)), 4);
    /* B to A: A's call has a callback and sees the MESSAGE. */
    assert_int_equal(sip_call_request(srv.call, "MESSAGE", "text/plain", "hi A", NULL, NULL, NULL),
                     0);
    pair_advance(0);
    assert_int_equal(capp[A].requests, 1);
    assert_string_equal(capp[A].body, "hi A");
    sip_call_hangup(c, NULL);
    pair_advance(40000);
    assert_int_equal(info_done, 1);
    sip_call_unref(c);
    pair_advance(60000);
}

static void call_reinvite_challenged(void **state)
{
    (void)state;
    sip_call_t *c = confirmed_call();
    intercept_method = SIP_METHOD_INVITE;
    pair_drop = drop_once;
    pair_spy = spy_method;
    seen_cseq = 0;
    assert_int_equal(sip_call_reinvite(c, "v=0\r\ns=hold\r\n"), 0);
    pair_advance(0);
    inject_401();
    assert_int_equal(seen_cseq, 3);
    assert_true(seen_auth);
    /* The offer went across in the retried re-INVITE; the exchange completed. */
    assert_true(sip_str_eq(sip_call_get_remote_sdp(srv.call), SIP_STR("v=0\r\ns=hold\r\n")));
    /* A heard the outcome once, the 200 (the 401 was answered, not reported). */
    assert_int_equal(capp[A].modified, 200);
    assert_int_equal(sip_dialog_get_local_cseq(sip_call_get_dialog(c)), 3);
    assert_int_equal(sip_call_reinvite(c, "v=0\r\n"), 0);
    pair_advance(0);
    pair_drop = NULL;
    pair_spy = NULL;
    sip_call_hangup(c, NULL);
    pair_advance(0);
    sip_call_unref(c);
    pair_advance(60000);
}

/* RFC 3262 §7.1 with RFC 3261 §22.3: a proxy on the way challenges the PRACK of a reliable 180
 * with 407; A sends the PRACK again with Proxy-Authorization, the CSeq one higher in the early
 * dialog and a new branch, and the call goes on to its 200. */
static uint32_t prack_cseq[2];
static char prack_branch[2][64];
static int prack_auth, npracks;
static int drop_prack_once(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != SIP_METHOD_PRACK) return 0;
    if (sip_msg_header_by_name(m, "Proxy-Authorization", 0)) return 0;
    if (!intercepted) intercepted = sip_msg_ref((sip_msg_t *)m);
    return 1;
}

static void spy_prack(int from, const sip_msg_t *m)
{
    if (from != A || !sip_msg_is_request(m) || sip_msg_get_method(m) != SIP_METHOD_PRACK ||
        npracks >= 2)
        return;
    prack_cseq[npracks] = sip_msg_get_cseq(m)->seq;
    const sip_via_t *v = sip_header_via(sip_msg_header_at(m, SIP_HDR_VIA, 0));
    snprintf(prack_branch[npracks], sizeof(prack_branch[0]), "%.*s", (int)v->branch.len,
             v->branch.ptr);
    if (npracks == 1)
        prack_auth = digest_ok(m, "Proxy-Authorization", "proxy", "p-9", PASS) &&
                     sip_msg_header_by_name(m, "RAck", 0) != NULL;
    npracks++;
}

static void call_prack_challenged(void **state)
{
    (void)state;
    add_cred("proxy", PASS);
    memset(capp, 0, sizeof(capp));
    npracks = 0;
    prack_auth = 0;
    srv.ring = 1;
    pair_drop = drop_prack_once;
    pair_spy = spy_prack;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.sdp = "v=0\r\n";
    o.rel100 = SIP_CALL_100REL_REQUIRED;
    sip_call_t *c = NULL;
    assert_int_equal(sip_call_invite(&c, pair[A].ua, TARGET, &o, on_call, &capp[A], NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_EARLY);
    assert_int_equal(npracks, 1);
    /* The proxy's 407 to the PRACK. */
    assert_non_null(intercepted);
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, intercepted, 407, NULL, NULL), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Proxy-Authenticate",
                                        "Digest realm=\"proxy\", nonce=\"p-9\", qop=\"auth\""),
                     0);
    pair_inject(A, rsp);
    sip_msg_unref(rsp);
    sip_msg_unref(intercepted);
    intercepted = NULL;
    pair_advance(0);
    assert_int_equal(npracks, 2);
    assert_true(prack_auth);
    assert_int_equal(prack_cseq[0], 2);
    assert_int_equal(prack_cseq[1], 3);
    assert_string_not_equal(prack_branch[0], prack_branch[1]);
    /* B took the PRACK: its 200 may go now, and the call is answered. */
    assert_int_equal(sip_call_answer(srv.call, 200, "v=0\r\n"), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(c), SIP_CALL_CONFIRMED);
    /* The dialog counts the PRACKs' CSeqs: the BYE goes above them. */
    assert_true(sip_dialog_get_local_cseq(sip_call_get_dialog(c)) >= 3);
    pair_drop = NULL;
    pair_spy = NULL;
    assert_int_equal(sip_call_hangup(c, NULL), 0);
    pair_advance(0);
    assert_int_equal(sip_call_get_state(srv.call), SIP_CALL_ENDED);
    sip_call_unref(c);
    pair_advance(60000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(request_answers_401),
        T(request_401_then_407),
        T(request_stale_nonce_retried),
        T(request_wrong_password_reaches_cb),
        T(request_without_credentials_gets_401),
        T(request_cached_challenge_authorises_next),
        T(request_cached_credentials_challenged_anew),
        T(request_checked_by_auth_server),
        T(request_refused_by_auth_server),
        T(request_refused_arguments),
        T(request_timeout_gives_408),
        T(request_stopped_when_ua_closes),
        T(message_out_of_dialog),
        T(options_answered_with_capabilities),
        T(call_invite_challenged_then_answered),
        T(call_invite_wrong_password_ends),
        T(call_cancel_after_challenge),
        T(call_bye_challenged),
        T(call_message_both_ways_and_challenged),
        T(call_reinvite_challenged),
        T(call_prack_challenged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
