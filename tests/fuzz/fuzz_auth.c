/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for digest authentication (sip/auth.h). The input is lines:
 *   line 1: a flags byte, then user ":" password ":" realm (a round trip: the server's
 *           challenge, the client's answer, the server's check, which must pass)
 *   line 2: challenge header values ("Digest realm=..."), '|'-separated, answered by a client
 *           that has a password for any realm
 *   line 3: credentials values ("Digest username=..."), '|'-separated, checked by a server
 * Nothing may crash or leak; every result must be one the header documents. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/auth.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_auth: %s\n", what);
    abort();
}

static const char request[] = "REGISTER sip:example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKfz\r\n"
                              "Max-Forwards: 70\r\n"
                              "From: <sip:alice@example.com>;tag=a1\r\n"
                              "To: <sip:alice@example.com>\r\n"
                              "Call-ID: fuzz@10.0.0.1\r\n"
                              "CSeq: 1 REGISTER\r\n"
                              "Content-Length: 0\r\n\r\n";

static sip_msg_t *req(void)
{
    sip_msg_t *m;
    if (sip_msg_parse(&m, request, sizeof(request) - 1, NULL) != 0) fail("request");
    return m;
}

/* The next line of [*p, end) as a NUL-terminated copy (freed by the caller). */
static char *line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p, *e = s;
    while (e < end && *e != '\n')
        e++;
    char *out = malloc((size_t)(e - s) + 1);
    if (!out) abort();
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    /* NUL inside a line ends it for the C strings below. */
    *p = e < end ? e + 1 : end;
    return out;
}

typedef struct answer {
    int how; /* 0 password, 1 HA1, 2 unknown, 3 later */
    const char *password;
    sip_auth_query_t *kept;
    int lookups, dones;
} answer_t;

static void on_check(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    answer_t *a = user;
    if (ev == SIP_AUTH_EVENT_DONE) {
        a->dones++;
        sip_auth_verdict_t v = sip_auth_query_get_verdict(q);
        if (v <= SIP_AUTH_PENDING || v > SIP_AUTH_MALFORMED) fail("verdict out of range");
        return;
    }
    a->lookups++;
    if (sip_auth_query_get_user(q).len == 0) fail("a lookup without a user");
    switch (a->how) {
    case 0:
        if (sip_auth_query_answer_password(q, a->password) != 0) fail("answer password");
        break;
    case 1: {
        char ha1[65];
        size_t n = sip_auth_query_get_algorithm(q) & (SIP_AUTH_MD5 | SIP_AUTH_MD5_SESS) ? 32 : 64;
        memset(ha1, 'a', n);
        ha1[n] = '\0';
        if (sip_auth_query_answer_ha1(q, ha1) != 0) fail("answer ha1");
        break;
    }
    case 2:
        if (sip_auth_query_answer_unknown(q) != 0) fail("answer unknown");
        break;
    default: a->kept = sip_auth_query_ref(q); break;
    }
}

/* Checks req with a server and looks at everything a check gives. */
static sip_auth_verdict_t check(sip_auth_server_t *srv, sip_msg_t *m, answer_t *a)
{
    sip_auth_query_t *q;
    if (sip_auth_server_check(&q, srv, m, on_check, a, NULL) != 0) fail("check");
    if (a->kept) {
        /* Answered later, or never: closed. */
        if (a->how == 3 && (a->lookups & 1)) {
            if (sip_auth_query_answer_unknown(a->kept) != 0) fail("late answer");
        } else {
            sip_auth_query_close(a->kept);
        }
        sip_auth_query_unref(a->kept);
        a->kept = NULL;
    }
    sip_auth_verdict_t v = sip_auth_query_get_verdict(q);
    int status = sip_auth_query_get_status(q);
    sip_msg_t *rsp = NULL;
    if (v != SIP_AUTH_PENDING && v != SIP_AUTH_OK) {
        if (status != 400 && status != 401 && status != 407) fail("status");
        if (sip_auth_query_create_response(&rsp, q) != 0) fail("response");
        if (sip_msg_get_status(rsp) != status) fail("response status");
    } else if (v == SIP_AUTH_OK) {
        if (sip_msg_create_response(&rsp, m, 200, NULL, NULL) != 0) fail("200");
        if (sip_auth_query_add_info(q, rsp) != 0) fail("add_info");
    }
    sip_msg_unref(rsp);
    sip_auth_query_unref(q);
    return v;
}

static sip_auth_server_t *server(uint8_t flags, const char *realm)
{
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv = NULL;
    sip_auth_server_opts_init(&o);
    o.realm = realm;
    o.algorithms = (flags & 63) ? (flags & 63) : SIP_AUTH_SHA256;
    o.qop = (flags >> 6) & 3;
    o.proxy = 0;
    o.replay_slots = 16;
    o.secret = "fuzz";
    int rc = sip_auth_server_create(&srv, &o);
    if (rc != 0 && rc != SIP_EINVAL) fail("server create");
    return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    if (size < 1) return 0;
    uint8_t flags = *p++;
    char *who = line(&p, end), *challenges = line(&p, end), *creds = line(&p, end);

    /* 1. The round trip: whatever user, password and realm are accepted must pass. */
    char *user = who, *password = strchr(who, ':'), *realm = NULL;
    if (password) {
        *password++ = '\0';
        realm = strchr(password, ':');
        if (realm) *realm++ = '\0';
    }
    sip_auth_server_t *srv = server(flags, realm && *realm ? realm : "example.com");
    sip_auth_client_t *ac;
    if (sip_auth_client_create(&ac) != 0) fail("client");
    sip_auth_cred_t c = {.realm = realm, .user = user, .password = password ? password : ""};
    int added = sip_auth_client_add(ac, &c);
    if (added != 0 && added != SIP_EINVAL) fail("add");
    if (srv && added == 0) {
        sip_msg_t *sent = req(), *next = req(), *rsp;
        if (sip_msg_create_response(&rsp, sent, 401, NULL, NULL) != 0) fail("401");
        if (sip_auth_server_challenge(srv, rsp, flags & 1) != 0) fail("challenge");
        int rc = sip_auth_client_authorize(ac, next, sent, rsp);
        /* A credential for another realm than the server's answers nothing. */
        if (rc != 0 && rc != SIP_EAUTH) fail("authorize of our own challenge");
        if (rc == 0) {
            answer_t a = {.how = 0, .password = c.password};
            if (check(srv, next, &a) != SIP_AUTH_OK) fail("round trip refused");
            /* Replayed: refused; the next count: taken. */
            if (check(srv, next, &a) != SIP_AUTH_REPLAY) fail("replay taken");
            sip_msg_t *later = req();
            if (sip_auth_client_prepare(ac, later) != 0) fail("prepare");
            /* Without a qop there is no count: a nonce is good once. */
            if (check(srv, later, &a) != (((flags >> 6) & 3) ? SIP_AUTH_OK : SIP_AUTH_REPLAY))
                fail("next count");
            sip_msg_unref(later);
        }
        sip_msg_unref(rsp);
        sip_msg_unref(sent);
        sip_msg_unref(next);
    }

    /* 2. Fuzzed challenges, answered by a client with a password for any realm. */
    sip_auth_client_t *any;
    if (sip_auth_client_create(&any) != 0) fail("client");
    sip_auth_cred_t wild = {.user = "alice", .password = "secret"};
    if (sip_auth_client_add(any, &wild) != 0) fail("add any");
    sip_msg_t *sent = req(), *rsp;
    if (sip_msg_create_response(&rsp, sent, (flags & 2) ? 407 : 401, NULL, NULL) != 0)
        fail("response");
    for (char *s = challenges, *bar; s; s = bar) {
        if ((bar = strchr(s, '|'))) *bar++ = '\0';
        (void)sip_msg_add_header(rsp, (flags & 4) ? "Proxy-Authenticate" : "WWW-Authenticate", s);
    }
    for (int round = 0; round < 2; round++) {
        sip_msg_t *next = req();
        int rc = sip_auth_client_authorize(any, next, sent, rsp);
        if (rc != 0 && rc != SIP_EAUTH && rc != SIP_EINVAL) fail("authorize result");
        if (sip_auth_client_prepare(any, next) != 0) fail("prepare after");
        sip_msg_unref(sent);
        sent = next; /* the second round: challenged again (a wrong password unless stale) */
    }
    sip_msg_unref(rsp);
    sip_msg_unref(sent);

    /* 3. Fuzzed credentials, checked. */
    if (srv) {
        sip_msg_t *m = req();
        for (char *s = creds, *bar; s; s = bar) {
            if ((bar = strchr(s, '|'))) *bar++ = '\0';
            (void)sip_msg_add_header(m, "Authorization", s);
        }
        for (int how = 0; how < 4; how++) {
            answer_t a = {.how = how, .password = "secret"};
            sip_auth_verdict_t v = check(srv, m, &a);
            if (a.lookups > 1 || (a.dones > 1)) fail("events repeated");
            if (v == SIP_AUTH_OK && how >= 2) fail("an unknown user passed");
        }
        sip_msg_unref(m);
    }

    sip_auth_client_unref(any);
    sip_auth_client_unref(ac);
    sip_auth_server_unref(srv);
    free(who);
    free(challenges);
    free(creds);
    return 0;
}
