/* SPDX-License-Identifier: MIT */
/* Unit tests of the digest server (RFC 7616, RFC 8760) on a hand clock: challenges, checks
 * with lookups answered at once or later, stale and forged nonces, replays, and the same answer
 * for an unknown user as for a wrong password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "auth/auth_int.h"

#include "sip/auth.h"
#include "sip/live.h"
#include "sip/msg.h"

/* ---- a hand clock -------------------------------------------------------------------------- */

static uint64_t clock_ms = 1700000000000ull;

static uint64_t hand_now(void *user)
{
    (void)user;
    return clock_ms;
}

static const sip_txn_clock_t hand_clock = {hand_now, NULL, NULL, NULL};

static sip_auth_server_t *server(int algorithms, int qop, int proxy)
{
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.algorithms = algorithms;
    o.qop = qop;
    o.proxy = proxy;
    o.clock = &hand_clock;
    assert_int_equal(sip_auth_server_create(&srv, &o), 0);
    return srv;
}

static sip_msg_t *parse(const char *text)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    if (sip_msg_parse(&m, text, strlen(text), &err) != 0) fail_msg("parse: %s", err.reason);
    return m;
}

static const char register_req[] = "REGISTER sip:example.com SIP/2.0\r\n"
                                   "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\n"
                                   "Max-Forwards: 70\r\n"
                                   "From: <sip:alice@example.com>;tag=a1\r\n"
                                   "To: <sip:alice@example.com>\r\n"
                                   "Call-ID: reg1@10.0.0.1\r\n"
                                   "CSeq: 1 REGISTER\r\n"
                                   "Contact: <sip:alice@10.0.0.1:5060>\r\n"
                                   "Content-Length: 0\r\n\r\n";

static void assert_str(sip_str_t s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr ? s.ptr : "", want);
}

/* ---- a check and its lookup ---------------------------------------------------------------- */

typedef struct lookup {
    const char *password; /* answer with it */
    const char *ha1;      /* or with it */
    int unknown;          /* or "no such user" */
    int defer;            /* or keep the query and answer later */
    int lookups, dones, freed;
    sip_auth_verdict_t verdict;
    char user[64];
    int algorithm;
    sip_auth_query_t *kept;
} lookup_t;

static void on_check(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    lookup_t *l = user;
    if (ev == SIP_AUTH_EVENT_DONE) {
        l->dones++;
        l->verdict = sip_auth_query_get_verdict(q);
        return;
    }
    l->lookups++;
    sip_str_copy(sip_auth_query_get_user(q), l->user, sizeof(l->user));
    l->algorithm = sip_auth_query_get_algorithm(q);
    assert_str(sip_auth_query_get_realm(q), "example.com");
    if (l->defer)
        l->kept = sip_auth_query_ref(q);
    else if (l->unknown)
        assert_int_equal(sip_auth_query_answer_unknown(q), 0);
    else if (l->ha1)
        assert_int_equal(sip_auth_query_answer_ha1(q, l->ha1), 0);
    else
        assert_int_equal(sip_auth_query_answer_password(q, l->password), 0);
}

static void on_free(void *user)
{
    ((lookup_t *)user)->freed++;
}

/* Checks req with the lookup; returns the query (a reference the caller drops). */
static sip_auth_query_t *check(sip_auth_server_t *srv, sip_msg_t *req, lookup_t *l)
{
    sip_auth_query_t *q;
    assert_int_equal(sip_auth_server_check(&q, srv, req, on_check, l, on_free), 0);
    assert_non_null(q);
    return q;
}

static sip_auth_verdict_t verdict_of(sip_auth_server_t *srv, sip_msg_t *req, const char *pw)
{
    lookup_t l = {.password = pw};
    sip_auth_query_unref(check(srv, req, &l));
    assert_int_equal(l.dones, 1);
    assert_int_equal(l.freed, 1);
    return l.verdict;
}

static sip_auth_client_t *client(const char *password)
{
    sip_auth_client_t *ac;
    assert_int_equal(sip_auth_client_create(&ac), 0);
    sip_auth_cred_t c = {.realm = "example.com", .user = "alice", .password = password};
    assert_int_equal(sip_auth_client_add(ac, &c), 0);
    return ac;
}

/* A request authorised by ac against a fresh challenge of srv (status 401 or 407). */
static sip_msg_t *answered(sip_auth_server_t *srv, sip_auth_client_t *ac, int status)
{
    sip_msg_t *sent = parse(register_req), *next = parse(register_req), *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, sent, status, NULL, NULL), 0);
    assert_int_equal(sip_auth_server_challenge(srv, rsp, 0), 0);
    assert_int_equal(sip_auth_client_authorize(ac, next, sent, rsp), 0);
    sip_msg_unref(rsp);
    sip_msg_unref(sent);
    return next;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void auth_server_options(void **state)
{
    (void)state;
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv;
    sip_auth_server_opts_init(&o);
    assert_int_equal(o.nonce_lifetime_s, 300);
    assert_int_equal(o.algorithms, SIP_AUTH_SHA256 | SIP_AUTH_MD5);
    assert_int_equal(o.qop, SIP_AUTH_QOP_AUTH);
    assert_int_equal(o.proxy, 0);
    assert_int_equal(sip_auth_server_create(&srv, &o), SIP_EINVAL); /* no realm */
    assert_null(srv);
    o.realm = "r";
    o.algorithms = 0;
    assert_int_equal(sip_auth_server_create(&srv, &o), SIP_EINVAL);
    o.algorithms = 64;
    assert_int_equal(sip_auth_server_create(&srv, &o), SIP_EINVAL);
    o.algorithms = SIP_AUTH_MD5;
    o.qop = 4;
    assert_int_equal(sip_auth_server_create(&srv, &o), SIP_EINVAL);
    o.qop = 0;
    o.realm = "a\r\nb";
    assert_int_equal(sip_auth_server_create(&srv, &o), SIP_EINVAL);
    o.realm = "r";
    assert_int_equal(sip_auth_server_create(NULL, &o), SIP_EINVAL);
    assert_int_equal(sip_auth_server_create(&srv, NULL), SIP_EINVAL);
    assert_int_equal(sip_auth_server_create(&srv, &o), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_AUTH_SERVER), 1);
    assert_string_equal(sip_auth_server_get_realm(srv), "r");
    assert_ptr_equal(sip_auth_server_ref(srv), srv);
    sip_auth_server_unref(srv);
    sip_auth_server_unref(srv);
    sip_auth_server_unref(NULL);
    assert_int_equal(sip_live_count(SIP_LIVE_AUTH_SERVER), 0);

    assert_string_equal(sip_auth_verdict_name(SIP_AUTH_OK), "ok");
    assert_string_equal(sip_auth_verdict_name(SIP_AUTH_MALFORMED), "malformed");
    assert_string_equal(sip_auth_verdict_name(SIP_AUTH_PENDING), "pending");
    assert_null(sip_auth_verdict_name((sip_auth_verdict_t)99));
}

static void auth_server_challenge(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_MD5 | SIP_AUTH_SHA512_256 | SIP_AUTH_SHA256_SESS,
                                    SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT, 0);
    sip_msg_t *req = parse(register_req), *rsp;
    lookup_t l = {.password = "x"};
    sip_auth_query_t *q = check(srv, req, &l);
    /* No credentials: challenged at once, no lookup. */
    assert_int_equal(l.lookups, 0);
    assert_int_equal(l.dones, 1);
    assert_int_equal(l.freed, 1);
    assert_int_equal(sip_auth_query_get_verdict(q), SIP_AUTH_CHALLENGE);
    assert_int_equal(sip_auth_query_get_status(q), 401);
    assert_int_equal(sip_auth_query_get_user(q).len, 0);
    assert_int_equal(sip_auth_query_get_algorithm(q), 0);
    assert_ptr_equal(sip_auth_query_get_request(q), req);
    assert_ptr_equal(sip_auth_query_get_server(q), srv);
    assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
    assert_int_equal(sip_msg_get_status(rsp), 401);
    /* RFC 8760 §2.4: one per algorithm, the preferred first. */
    assert_int_equal(sip_msg_header_count(rsp, SIP_HDR_WWW_AUTHENTICATE), 3);
    static const char *const order[] = {"SHA-512-256", "SHA-256-sess", "MD5"};
    sip_str_t nonce = SIP_STR_NULL;
    for (size_t i = 0; i < 3; i++) {
        const sip_auth_t *a = sip_header_auth(sip_msg_header_at(rsp, SIP_HDR_WWW_AUTHENTICATE, i));
        assert_str(a->scheme, "Digest");
        assert_str(a->realm, "example.com");
        assert_str(a->algorithm, order[i]);
        assert_str(a->qop, "auth,auth-int");
        assert_int_equal(a->stale.len, 0);
        assert_int_equal(a->nonce.len, 43);
        if (i) assert_true(sip_str_eq(a->nonce, nonce));
        nonce = a->nonce;
    }
    assert_int_equal(sip_auth_query_add_info(q, rsp), SIP_EINVAL); /* not OK */
    assert_int_equal(sip_auth_query_answer_password(q, "x"), SIP_EBUSY);
    sip_msg_unref(rsp);
    sip_auth_query_unref(q);

    /* Proxy mode: 407 and Proxy-Authenticate. */
    sip_auth_server_unref(srv);
    srv = server(SIP_AUTH_SHA256, 0, 1);
    l = (lookup_t){.password = "x"};
    q = check(srv, req, &l);
    assert_int_equal(sip_auth_query_get_status(q), 407);
    assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
    assert_int_equal(sip_msg_get_status(rsp), 407);
    assert_int_equal(sip_msg_header_count(rsp, SIP_HDR_PROXY_AUTHENTICATE), 1);
    assert_int_equal(sip_msg_header_count(rsp, SIP_HDR_WWW_AUTHENTICATE), 0);
    assert_int_equal(
        sip_header_auth(sip_msg_header_at(rsp, SIP_HDR_PROXY_AUTHENTICATE, 0))->qop.len, 0);
    sip_msg_unref(rsp);
    sip_auth_query_unref(q);
    sip_msg_unref(req);
    sip_auth_server_unref(srv);
}

/* Every algorithm and qop: the client's answer passes, and Authentication-Info's rspauth is
 * the RFC 7616 §3.5 digest. */
static void auth_server_roundtrip(void **state)
{
    (void)state;
    static const int algs[] = {SIP_AUTH_MD5,         SIP_AUTH_MD5_SESS,   SIP_AUTH_SHA256,
                               SIP_AUTH_SHA256_SESS, SIP_AUTH_SHA512_256, SIP_AUTH_SHA512_256_SESS};
    static const int qops[] = {0, SIP_AUTH_QOP_AUTH, SIP_AUTH_QOP_AUTH_INT};
    for (size_t i = 0; i < 6; i++) {
        for (size_t k = 0; k < 3; k++) {
            sip_auth_server_t *srv = server(algs[i], qops[k], 0);
            sip_auth_client_t *ac = client("secret");
            sip_msg_t *sent = parse(register_req), *next = parse(register_req), *rsp, *ok;
            assert_int_equal(sip_msg_set_body(next, "text/plain", "body", 4), 0);
            assert_int_equal(sip_msg_create_response(&rsp, sent, 401, NULL, NULL), 0);
            assert_int_equal(sip_auth_server_challenge(srv, rsp, 0), 0);
            assert_int_equal(sip_auth_client_authorize(ac, next, sent, rsp), 0);
            lookup_t l = {.password = "secret"};
            sip_auth_query_t *q = check(srv, next, &l);
            assert_int_equal(l.lookups, 1);
            assert_string_equal(l.user, "alice");
            assert_int_equal(l.algorithm, algs[i]);
            if (l.verdict != SIP_AUTH_OK)
                fail_msg("%s qop %d: %s", sip_auth_algorithm_name(algs[i]), qops[k],
                         sip_auth_verdict_name(l.verdict));
            assert_int_equal(sip_auth_query_get_status(q), 0);
            assert_int_equal(sip_auth_query_create_response(&ok, q), SIP_EINVAL);
            assert_int_equal(sip_msg_create_response(&ok, next, 200, NULL, NULL), 0);
            assert_int_equal(sip_auth_query_add_info(q, ok), 0);
            const sip_auth_t *info =
                sip_header_auth(sip_msg_header_at(ok, SIP_HDR_AUTHENTICATION_INFO, 0));
            assert_non_null(info);
            assert_int_equal(info->nextnonce.len, 43);
            const sip_auth_t *cr =
                sip_header_auth(sip_msg_header_at(next, SIP_HDR_AUTHORIZATION, 0));
            if (qops[k]) {
                char ha1[SIP__AUTH_HEX_MAX], want[SIP__AUTH_HEX_MAX];
                sip__auth_ha1(NULL, algs[i], SIP_STR("alice"), SIP_STR("example.com"),
                              SIP_STR("secret"), ha1);
                sip__auth_response(NULL, algs[i], sip_str_from_cstr(ha1), cr->nonce, cr->nc,
                                   cr->cnonce,
                                   qops[k] == SIP_AUTH_QOP_AUTH ? SIP__QOP_AUTH : SIP__QOP_AUTH_INT,
                                   NULL, cr->uri, SIP_STR_NULL, want);
                assert_str(info->rspauth, want);
                assert_true(sip_str_eq(info->cnonce, cr->cnonce));
                assert_str(info->nc, "00000001");
                assert_str(info->qop, qops[k] == SIP_AUTH_QOP_AUTH ? "auth" : "auth-int");
            } else {
                assert_int_equal(info->rspauth.len, 0);
            }
            sip_msg_unref(ok);
            sip_auth_query_unref(q);
            sip_msg_unref(rsp);
            sip_msg_unref(sent);
            sip_msg_unref(next);
            sip_auth_client_unref(ac);
            sip_auth_server_unref(srv);
        }
    }
}

static void auth_server_ha1_lookup(void **state)
{
    (void)state;
    char ha1[SIP__AUTH_HEX_MAX];
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 401);
    sip__auth_ha1(NULL, SIP_AUTH_SHA256, SIP_STR("alice"), SIP_STR("example.com"),
                  SIP_STR("secret"), ha1);
    for (char *p = ha1; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A'); /* any case */
    lookup_t l = {.defer = 1};
    sip_auth_query_t *q = check(srv, req, &l);
    assert_int_equal(sip_auth_query_answer_ha1(l.kept, "abc"), SIP_EINVAL); /* still pending */
    assert_int_equal(sip_auth_query_answer_ha1(l.kept, NULL), SIP_EINVAL);
    assert_int_equal(sip_auth_query_get_verdict(q), SIP_AUTH_PENDING);
    assert_int_equal(sip_auth_query_get_status(q), 0);
    assert_int_equal(sip_auth_query_answer_ha1(l.kept, ha1), 0);
    assert_int_equal(l.verdict, SIP_AUTH_OK);
    assert_int_equal(sip_auth_query_answer_ha1(l.kept, ha1), SIP_EBUSY);
    sip_auth_query_unref(l.kept);
    sip_auth_query_unref(q);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

/* A lookup answered later (a database or network service): nothing is decided until then. */
static void auth_server_async_lookup(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 401);
    lookup_t l = {.defer = 1};
    /* Without a reference of its own: the check keeps itself. */
    assert_int_equal(sip_auth_server_check(NULL, srv, req, on_check, &l, on_free), 0);
    assert_int_equal(l.lookups, 1);
    assert_int_equal(l.dones, 0);
    assert_int_equal(l.freed, 0);
    assert_int_equal(sip_live_count(SIP_LIVE_AUTH_QUERY), 1);
    /* The server and request may go meanwhile: the check holds them. */
    sip_auth_server_unref(srv);
    sip_msg_unref(req);
    clock_ms += 1000;
    assert_int_equal(sip_auth_query_answer_password(l.kept, "secret"), 0);
    assert_int_equal(l.dones, 1);
    assert_int_equal(l.freed, 1);
    assert_int_equal(l.verdict, SIP_AUTH_OK);
    assert_string_equal(l.user, "alice");
    sip_auth_query_unref(l.kept);
    assert_int_equal(sip_live_count(SIP_LIVE_AUTH_QUERY), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_AUTH_SERVER), 0);
    sip_auth_client_unref(ac);
}

static void auth_server_close_pending(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 401);
    lookup_t l = {.defer = 1};
    sip_auth_query_t *q = check(srv, req, &l);
    sip_auth_query_close(q);
    assert_int_equal(l.freed, 1);
    assert_int_equal(l.dones, 0);
    assert_int_equal(sip_auth_query_answer_password(l.kept, "secret"), SIP_ECLOSED);
    assert_int_equal(sip_auth_query_answer_unknown(l.kept), SIP_ECLOSED);
    sip_auth_query_close(q); /* idempotent */
    assert_int_equal(l.freed, 1);
    assert_int_equal(sip_auth_query_get_verdict(q), SIP_AUTH_PENDING);
    sip_auth_query_unref(l.kept);
    sip_auth_query_unref(q);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

/* A response with its nonces (which are fresh each time) taken out. */
static void without_nonces(const sip_msg_t *rsp, char *buf, size_t size)
{
    assert_true(sip_msg_print(rsp, buf, size) < (int)size);
    for (char *p = strstr(buf, "nonce=\""); p; p = strstr(p + 1, "nonce=\"")) {
        char *q = strchr(p + 7, '"');
        memset(p + 7, 'N', (size_t)(q - p - 7));
    }
}

/* RFC 7616 §5.12 / the issue: an unknown user and a wrong password get the same answer. */
static void auth_server_unknown_user_like_wrong_password(void **state)
{
    (void)state;
    char a[2048], b[2048];
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256 | SIP_AUTH_MD5, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("wrong");
    sip_msg_t *req = answered(srv, ac, 401), *r1, *r2;
    lookup_t l1 = {.password = "secret"}, l2 = {.unknown = 1};
    sip_auth_query_t *q1 = check(srv, req, &l1), *q2 = check(srv, req, &l2);
    assert_int_equal(l1.verdict, SIP_AUTH_FAILED);
    assert_int_equal(l2.verdict, SIP_AUTH_FAILED);
    assert_int_equal(l1.lookups, 1);
    assert_int_equal(l2.lookups, 1);
    assert_int_equal(sip_auth_query_get_status(q1), sip_auth_query_get_status(q2));
    /* The responses differ only in their fresh nonces. */
    assert_int_equal(sip_auth_query_create_response(&r1, q1), 0);
    assert_int_equal(sip_auth_query_create_response(&r2, q2), 0);
    assert_int_equal(sip_msg_remove_headers(r1, "To"), 1);
    assert_int_equal(sip_msg_remove_headers(r2, "To"), 1); /* fresh To tags too */
    without_nonces(r1, a, sizeof(a));
    without_nonces(r2, b, sizeof(b));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "WWW-Authenticate: Digest"));
    sip_msg_unref(r1);
    sip_msg_unref(r2);
    sip_auth_query_unref(q1);
    sip_auth_query_unref(q2);
    /* A right password of an unknown user is still unknown. */
    assert_int_equal(verdict_of(srv, req, "wrong"), SIP_AUTH_OK);
    sip_msg_unref(req);
    req = answered(srv, ac, 401);
    lookup_t l3 = {.unknown = 1};
    sip_auth_query_unref(check(srv, req, &l3));
    assert_int_equal(l3.verdict, SIP_AUTH_FAILED);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

static void auth_server_stale(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 401), *rsp;
    clock_ms += 299 * 1000;
    assert_int_equal(verdict_of(srv, req, "secret"), SIP_AUTH_OK);
    sip_msg_unref(req);
    req = answered(srv, ac, 401);
    clock_ms += 301 * 1000; /* past the 300 s lifetime */
    /* Only the time is past: stale, and the challenge says so. */
    lookup_t l = {.password = "secret"};
    sip_auth_query_t *q = check(srv, req, &l);
    assert_int_equal(l.verdict, SIP_AUTH_STALE);
    assert_int_equal(sip_auth_query_get_status(q), 401);
    assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
    const sip_auth_t *a = sip_header_auth(sip_msg_header_at(rsp, SIP_HDR_WWW_AUTHENTICATE, 0));
    assert_str(a->stale, "true");
    /* ...and the client retries at once with the new nonce, which passes. */
    sip_msg_t *retry = parse(register_req);
    assert_int_equal(sip_auth_client_authorize(ac, retry, req, rsp), 0);
    assert_int_equal(verdict_of(srv, retry, "secret"), SIP_AUTH_OK);
    sip_msg_unref(retry);
    sip_msg_unref(rsp);
    sip_auth_query_unref(q);
    /* A wrong password with an old nonce is a failure, not stale. */
    assert_int_equal(verdict_of(srv, req, "other"), SIP_AUTH_FAILED);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

/* A nonce changed on the way, or made with another secret, is not ours. */
static void auth_server_forged_nonce(void **state)
{
    (void)state;
    sip_auth_server_opts_t o;
    sip_auth_server_t *a, *b, *c;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.clock = &hand_clock;
    o.secret = "shared secret";
    assert_int_equal(sip_auth_server_create(&a, &o), 0);
    assert_int_equal(sip_auth_server_create(&b, &o), 0);
    o.secret = NULL;
    assert_int_equal(sip_auth_server_create(&c, &o), 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(a, ac, 401);
    /* Servers that share the secret take each other's nonces (and count them apart). */
    assert_int_equal(verdict_of(b, req, "secret"), SIP_AUTH_OK);
    /* A random secret's server does not: right credentials are only stale (RFC 7616 §3.3). */
    assert_int_equal(verdict_of(c, req, "secret"), SIP_AUTH_STALE);
    assert_int_equal(verdict_of(c, req, "wrong"), SIP_AUTH_FAILED);

    /* A nonce edited by one character fails the signature. */
    char text[2048];
    int n = sip_msg_print(req, text, sizeof(text));
    assert_true(n > 0 && n < (int)sizeof(text));
    char *p = strstr(strstr(text, "Authorization:"), "nonce=\"") + 7;
    *p = *p == 'A' ? 'B' : 'A';
    sip_msg_t *forged = parse(text);
    assert_int_equal(verdict_of(a, forged, "secret"), SIP_AUTH_FAILED); /* response mismatch */
    sip_msg_unref(forged);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(a);
    sip_auth_server_unref(b);
    sip_auth_server_unref(c);
}

static void auth_server_replay(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *r1 = answered(srv, ac, 401), *r2 = parse(register_req), *r3 = parse(register_req);
    assert_int_equal(sip_auth_client_prepare(ac, r2), 0); /* nc 2 */
    assert_int_equal(sip_auth_client_prepare(ac, r3), 0); /* nc 3 */
    assert_int_equal(verdict_of(srv, r1, "secret"), SIP_AUTH_OK);
    assert_int_equal(verdict_of(srv, r1, "secret"), SIP_AUTH_REPLAY); /* the same again */
    assert_int_equal(verdict_of(srv, r3, "secret"), SIP_AUTH_OK);
    assert_int_equal(verdict_of(srv, r2, "secret"), SIP_AUTH_REPLAY); /* not above 3 */
    assert_int_equal(verdict_of(srv, r3, "secret"), SIP_AUTH_REPLAY);
    lookup_t l = {.password = "secret"};
    sip_auth_query_t *q = check(srv, r3, &l);
    assert_int_equal(sip_auth_query_get_status(q), 401);
    /* Challenged with stale=true: the client retries at once instead of giving up. */
    sip_msg_t *rsp, *retry = parse(register_req);
    assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
    assert_str(sip_header_auth(sip_msg_header_at(rsp, SIP_HDR_WWW_AUTHENTICATE, 0))->stale, "true");
    assert_int_equal(sip_auth_client_authorize(ac, retry, r3, rsp), 0);
    assert_int_equal(verdict_of(srv, retry, "secret"), SIP_AUTH_OK);
    sip_msg_unref(retry);
    sip_msg_unref(rsp);
    sip_auth_query_unref(q);
    /* A wrong password does not use up the count. */
    sip_msg_t *r4 = parse(register_req);
    assert_int_equal(sip_auth_client_prepare(ac, r4), 0); /* nc 4 */
    assert_int_equal(verdict_of(srv, r4, "nope"), SIP_AUTH_FAILED);
    assert_int_equal(verdict_of(srv, r4, "secret"), SIP_AUTH_OK);
    sip_msg_unref(r1);
    sip_msg_unref(r2);
    sip_msg_unref(r3);
    sip_msg_unref(r4);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

/* A full replay table forgets its oldest nonce, which is then stale, never replayable. */
static void auth_server_replay_table_bounded(void **state)
{
    (void)state;
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.clock = &hand_clock;
    o.replay_slots = 1; /* 16, the least */
    assert_int_equal(sip_auth_server_create(&srv, &o), 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *first = answered(srv, ac, 401);
    assert_int_equal(verdict_of(srv, first, "secret"), SIP_AUTH_OK);
    int stale_first = 0;
    for (int i = 0; i < 64; i++) {
        clock_ms += 10;
        sip_msg_t *r = answered(srv, ac, 401);
        assert_int_equal(verdict_of(srv, r, "secret"), SIP_AUTH_OK);
        sip_msg_unref(r);
    }
    sip_auth_verdict_t v = verdict_of(srv, first, "secret");
    stale_first = v == SIP_AUTH_STALE;
    assert_true(v == SIP_AUTH_STALE || v == SIP_AUTH_REPLAY);
    (void)stale_first;
    sip_msg_unref(first);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

static void auth_server_malformed(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_MD5 | SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    static const char *const bad[] = {
        /* no response */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\"",
        /* nonce count not 8 hex digits */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", "
        "response=\"0123456789abcdef0123456789abcdef\", qop=auth, cnonce=\"c\", nc=1",
        /* qop without cnonce */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", "
        "response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001",
        /* another uri than the Request-URI (RFC 7616 §3.4.6) */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:evil.com\", "
        "response=\"0123456789abcdef0123456789abcdef\"",
        /* a response of the wrong length for MD5 */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", "
        "response=\"0123\"",
        /* an unknown algorithm */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", "
        "response=\"0123456789abcdef0123456789abcdef\", algorithm=SHA-1",
        /* an unknown qop */
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", "
        "response=\"0123456789abcdef0123456789abcdef\", qop=xyz, cnonce=\"c\", nc=00000001",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sip_msg_t *req = parse(register_req), *rsp;
        assert_int_equal(sip_msg_add_header(req, "Authorization", bad[i]), 0);
        lookup_t l = {.password = "secret"};
        sip_auth_query_t *q = check(srv, req, &l);
        if (l.verdict != SIP_AUTH_MALFORMED) fail_msg("case %zu: %d", i, l.verdict);
        assert_int_equal(l.lookups, 0);
        assert_int_equal(sip_auth_query_get_status(q), 400);
        assert_int_equal(sip_auth_query_create_response(&rsp, q), 0);
        assert_int_equal(sip_msg_get_status(rsp), 400);
        assert_int_equal(sip_msg_header_count(rsp, SIP_HDR_WWW_AUTHENTICATE), 0);
        sip_msg_unref(rsp);
        sip_auth_query_unref(q);
        sip_msg_unref(req);
    }
    /* Credentials for another realm (another proxy's): not ours, so a challenge. */
    sip_msg_t *req = parse(register_req);
    assert_int_equal(sip_msg_add_header(req, "Authorization",
                                        "Digest username=\"a\", "
                                        "realm=\"other\", nonce=\"n\""),
                     0);
    assert_int_equal(verdict_of(srv, req, "x"), SIP_AUTH_CHALLENGE);
    /* Errors: nothing fires but user_free. */
    lookup_t l = {0};
    sip_auth_query_t *q = (sip_auth_query_t *)1;
    assert_int_equal(sip_auth_server_check(&q, NULL, req, on_check, &l, on_free), SIP_EINVAL);
    assert_null(q);
    assert_int_equal(sip_auth_server_check(&q, srv, req, NULL, &l, on_free), SIP_EINVAL);
    sip_msg_t *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, req, 200, NULL, NULL), 0);
    assert_int_equal(sip_auth_server_check(&q, srv, rsp, on_check, &l, on_free), SIP_EINVAL);
    assert_int_equal(sip_auth_server_challenge(srv, req, 0), SIP_EINVAL);
    assert_int_equal(sip_auth_server_challenge(NULL, rsp, 0), SIP_EINVAL);
    assert_int_equal(l.freed, 3);
    assert_int_equal(l.dones + l.lookups, 0);
    assert_int_equal(sip_auth_query_answer_unknown(NULL), SIP_EINVAL);
    assert_int_equal(sip_auth_query_get_verdict(NULL), SIP_AUTH_PENDING);
    sip_auth_query_close(NULL);
    sip_auth_query_unref(NULL);
    sip_msg_unref(rsp);
    sip_msg_unref(req);
    sip_auth_server_unref(srv);
}

/* A client answers the strongest of several challenges; the server takes it. Credentials for
 * an algorithm the server did not offer (an old challenge) are stale: challenged again. */
static void auth_server_several_algorithms(void **state)
{
    (void)state;
    sip_auth_server_t *srv =
        server(SIP_AUTH_SHA512_256 | SIP_AUTH_SHA256 | SIP_AUTH_MD5, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 401);
    const sip_auth_t *a = sip_header_auth(sip_msg_header_at(req, SIP_HDR_AUTHORIZATION, 0));
    assert_str(a->algorithm, "SHA-512-256");
    assert_int_equal(verdict_of(srv, req, "secret"), SIP_AUTH_OK);
    sip_auth_server_t *md5only = server(SIP_AUTH_MD5, SIP_AUTH_QOP_AUTH, 0);
    sip_msg_unref(req);
    req = answered(srv, ac, 401);
    /* The hand clock shares nothing but the time; a random secret: not its nonce anyway. */
    assert_int_equal(verdict_of(md5only, req, "secret"), SIP_AUTH_STALE);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(md5only);
    sip_auth_server_unref(srv);
}

static void auth_server_proxy(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 1);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *req = answered(srv, ac, 407);
    assert_int_equal(sip_msg_header_count(req, SIP_HDR_PROXY_AUTHORIZATION), 1);
    assert_int_equal(verdict_of(srv, req, "secret"), SIP_AUTH_OK);
    /* A registrar behind the proxy sees no credentials of its own. */
    sip_auth_server_t *reg = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    assert_int_equal(verdict_of(reg, req, "secret"), SIP_AUTH_CHALLENGE);
    sip_msg_unref(req);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(reg);
    sip_auth_server_unref(srv);
}

static void auth_server_alloc_failure_sweep(void **state)
{
    (void)state;
    sip_auth_client_t *ac = client("secret");
    sip_auth_server_t *srv0 = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    for (long fail = 1;; fail++) {
        sip_auth_server_t *srv = NULL;
        sip_auth_server_opts_t o;
        sip_auth_server_opts_init(&o);
        o.realm = "example.com";
        o.clock = &hand_clock;
        sip_msg_t *req = answered(srv0, ac, 401), *rsp = NULL;
        lookup_t l = {.password = "secret"};
        sip_auth_query_t *q = NULL;
        test_alloc_fail_at(fail);
        int rc = sip_auth_server_create(&srv, &o);
        if (rc == 0) rc = sip_auth_server_check(&q, srv, req, on_check, &l, on_free);
        if (rc == 0) rc = sip_auth_query_create_response(&rsp, q);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!failed)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, SIP_ENOMEM);
        if (rc < 0 && q == NULL && srv != NULL && l.freed == 0) fail_msg("user_free missing");
        sip_msg_unref(rsp);
        sip_auth_query_unref(q);
        sip_auth_server_unref(srv);
        sip_msg_unref(req);
        if (!failed) break;
    }
    sip_auth_server_unref(srv0);
    sip_auth_client_unref(ac);
}

/* RFC 7616 §3.5: the client checks rspauth and takes nextnonce, so that its next request is
 * authorised with it (nc 1) and passes without a challenge. */
static void auth_client_nextnonce(void **state)
{
    (void)state;
    static const int algs[] = {SIP_AUTH_MD5, SIP_AUTH_SHA256_SESS, SIP_AUTH_SHA512_256};
    static const int qops[] = {0, SIP_AUTH_QOP_AUTH, SIP_AUTH_QOP_AUTH_INT};
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < 3; k++) {
            sip_auth_server_t *srv = server(algs[i], qops[k], 0);
            sip_auth_client_t *ac = client("secret");
            sip_msg_t *next = answered(srv, ac, 401), *ok;
            lookup_t l = {.password = "secret"};
            sip_auth_query_t *q = check(srv, next, &l);
            assert_int_equal(l.verdict, SIP_AUTH_OK);
            assert_int_equal(sip_msg_create_response(&ok, next, 200, NULL, NULL), 0);
            assert_int_equal(sip_msg_set_body(ok, "text/plain", "ok", 2), 0);
            assert_int_equal(sip_auth_query_add_info(q, ok), 0);
            sip_auth_query_unref(q);
            assert_int_equal(sip_auth_client_update(ac, next, ok), 0);
            const sip_auth_t *info =
                sip_header_auth(sip_msg_header_at(ok, SIP_HDR_AUTHENTICATION_INFO, 0));
            sip_msg_t *refresh = parse(register_req);
            assert_int_equal(sip_auth_client_prepare(ac, refresh), 0);
            const sip_auth_t *cr =
                sip_header_auth(sip_msg_header_at(refresh, SIP_HDR_AUTHORIZATION, 0));
            assert_true(sip_str_eq(cr->nonce, info->nextnonce));
            if (qops[k]) assert_str(cr->nc, "00000001");
            assert_int_equal(verdict_of(srv, refresh, "secret"), SIP_AUTH_OK);
            sip_msg_unref(refresh);
            sip_msg_unref(ok);
            sip_msg_unref(next);
            sip_auth_client_unref(ac);
            sip_auth_server_unref(srv);
        }
    }
}

/* RFC 7616 §3.5: a rspauth the credentials do not give is refused, and its nextnonce is not
 * taken; a response without Authentication-Info, or to a request without credentials,
 * changes nothing. */
static void auth_client_wrong_rspauth(void **state)
{
    (void)state;
    sip_auth_server_t *srv = server(SIP_AUTH_SHA256, SIP_AUTH_QOP_AUTH, 0);
    sip_auth_client_t *ac = client("secret");
    sip_msg_t *next = answered(srv, ac, 401), *ok, *bare = parse(register_req), *later;
    const sip_auth_t *cr = sip_header_auth(sip_msg_header_at(next, SIP_HDR_AUTHORIZATION, 0));
    char nonce[128];
    sip_str_copy(cr->nonce, nonce, sizeof(nonce));

    assert_int_equal(sip_msg_create_response(&ok, next, 200, NULL, NULL), 0);
    assert_int_equal(sip_auth_client_update(ac, next, ok), 0);
    assert_int_equal(sip_msg_add_header(ok, "Authentication-Info",
                                        "nextnonce=\"forged\", qop=auth, rspauth=\"00112233\", "
                                        "cnonce=\"x\", nc=00000001"),
                     0);
    assert_int_equal(sip_auth_client_update(ac, next, ok), SIP_EAUTH);
    assert_int_equal(sip_auth_client_update(ac, bare, ok), 0);
    assert_int_equal(sip_auth_client_update(NULL, next, ok), SIP_EINVAL);
    assert_int_equal(sip_auth_client_update(ac, ok, next), SIP_EINVAL);
    later = parse(register_req);
    assert_int_equal(sip_auth_client_prepare(ac, later), 0);
    cr = sip_header_auth(sip_msg_header_at(later, SIP_HDR_AUTHORIZATION, 0));
    assert_str(cr->nonce, nonce);
    assert_str(cr->nc, "00000002");
    sip_msg_unref(later);
    sip_msg_unref(bare);
    sip_msg_unref(ok);
    sip_msg_unref(next);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auth_server_options),
        cmocka_unit_test(auth_server_challenge),
        cmocka_unit_test(auth_server_roundtrip),
        cmocka_unit_test(auth_server_ha1_lookup),
        cmocka_unit_test(auth_server_async_lookup),
        cmocka_unit_test(auth_server_close_pending),
        cmocka_unit_test(auth_server_unknown_user_like_wrong_password),
        cmocka_unit_test(auth_server_stale),
        cmocka_unit_test(auth_server_forged_nonce),
        cmocka_unit_test(auth_server_replay),
        cmocka_unit_test(auth_server_replay_table_bounded),
        cmocka_unit_test(auth_server_malformed),
        cmocka_unit_test(auth_server_several_algorithms),
        cmocka_unit_test(auth_server_proxy),
        cmocka_unit_test(auth_server_alloc_failure_sweep),
        cmocka_unit_test(auth_client_nextnonce),
        cmocka_unit_test(auth_client_wrong_rspauth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
