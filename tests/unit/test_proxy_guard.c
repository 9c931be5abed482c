/* SPDX-License-Identifier: MIT */
/* The proxy and the guard: every failed authentication is reported with its source, which is
 * blocked at the limit (its requests dropped, by the proxy or before parsing by a transport
 * with the same guard); an unknown user and a wrong password get the same answer, made with
 * the same hashing (counted, not timed: EVP_DigestFinal_ex is wrapped at link time). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "pump.h"
#include "sip/sip.h"

/* Digests finished anywhere in the process (tests/unit_guard.cmake wraps the symbol). */
static long digests;
int __real_EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
int __wrap_EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
    digests++;
    return __real_EVP_DigestFinal_ex(ctx, md, s);
}

#define REALM "example.com"

typedef struct {
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_userdb_t *users;
    sip_auth_server_t *auth;
    sip_location_t *loc;
    sip_registrar_t *reg;
    sip_guard_t *guard;
    sip_proxy_t *proxy;
    uint16_t port;
} server_t;

static void server_up(server_t *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(sip_loop_create(&s->loop), 0);
    assert_int_equal(sip_transport_create(&s->tp, s->loop, NULL), 0);
    assert_true(sip_transport_listen(s->tp, "udp:127.0.0.1:0") >= 0);
    sip_netinfo_t li;
    assert_int_equal(sip_transport_listener_info(s->tp, 0, &li), 0);
    s->port = li.local_port;
    assert_int_equal(sip_txn_layer_create(&s->layer, s->tp, NULL), 0);
    assert_int_equal(sip_userdb_create(&s->users, NULL, NULL), 0);
    assert_int_equal(sip_userdb_set_password(s->users, "alice", REALM, "secret"), 0);
    sip_auth_server_opts_t ao;
    sip_auth_server_opts_init(&ao);
    ao.realm = REALM;
    assert_int_equal(sip_auth_server_create(&s->auth, &ao), 0);
    assert_int_equal(sip_location_create(&s->loc, s->loop, NULL), 0);
    assert_int_equal(sip_registrar_create(&s->reg, s->loc, NULL), 0);
    sip_guard_opts_t go;
    sip_guard_opts_init(&go);
    go.auth_max_failures = 3;
    assert_int_equal(sip_guard_create(&s->guard, s->loop, &go), 0);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.users = s->users;
    po.auth = s->auth;
    po.location = s->loc;
    po.registrar = s->reg;
    po.guard = s->guard;
    assert_int_equal(sip_proxy_create(&s->proxy, s->layer, &po, NULL, NULL, NULL), 0);
}

static void server_down(server_t *s)
{
    sip_proxy_close(s->proxy);
    sip_proxy_unref(s->proxy);
    sip_guard_unref(s->guard);
    sip_registrar_unref(s->reg);
    sip_location_unref(s->loc);
    sip_auth_server_unref(s->auth);
    sip_userdb_unref(s->users);
    sip_txn_layer_unref(s->layer);
    sip_transport_unref(s->tp);
    test_pump(s->loop, 20);
    sip_loop_unref(s->loop);
}

typedef struct {
    int fd;
    uint16_t port;
    char src[16];
    int serial;
} client_t;

static void client_up(client_t *c, const char *src)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->src, sizeof(c->src), "%s", src);
    c->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(c->fd, (struct sockaddr *)&a, &len);
    c->port = ntohs(a.sin_port);
}

/* A REGISTER for user; every serial number has the same width, so that two requests differ
 * only where their user does. */
static sip_msg_t *register_for(client_t *c, const char *user, int cseq)
{
    char buf[1024];
    int n = ++c->serial;
    snprintf(buf, sizeof(buf),
             "REGISTER sip:" REALM " SIP/2.0\r\n"
             "Via: SIP/2.0/UDP %s:%u;rport;branch=z9hG4bK%08d\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:%s@" REALM ">;tag=%08d\r\n"
             "To: <sip:%s@" REALM ">\r\n"
             "Call-ID: %08d@test\r\n"
             "CSeq: %d REGISTER\r\n"
             "Contact: <sip:%s@%s:%u>\r\n"
             "Expires: 60\r\n"
             "Content-Length: 0\r\n\r\n",
             c->src, c->port, n, user, n, user, n, cseq, user, c->src, c->port);
    sip_msg_t *m;
    assert_int_equal(sip_msg_parse(&m, buf, strlen(buf), NULL), 0);
    return m;
}

static void client_send(client_t *c, const server_t *s, const sip_msg_t *m)
{
    char buf[2048];
    int n = sip_msg_print(m, buf, sizeof(buf));
    assert_true(n > 0 && n < (int)sizeof(buf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(sendto(c->fd, buf, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)), n);
}

/* The next datagram, within ms; its bytes in raw (NUL-terminated). NULL when none came. */
static sip_msg_t *client_recv(client_t *c, server_t *s, int ms, char *raw, size_t size)
{
    for (int t = 0; t < ms; t += 10) {
        ssize_t n = recv(c->fd, raw, size - 1, MSG_DONTWAIT);
        if (n > 0) {
            raw[n] = '\0';
            sip_msg_t *m;
            assert_int_equal(sip_msg_parse(&m, raw, (size_t)n, NULL), 0);
            return m;
        }
        test_pump(s->loop, 10);
    }
    return NULL;
}

/* Registers user with password; the final answer's bytes land in raw. Returns its status (0
 * for none) and the digests the server finished while answering the second request. */
static int register_with(client_t *c, server_t *s, const char *user, const char *password,
                         char *raw, size_t size, long *work)
{
    sip_msg_t *first = register_for(c, user, 1);
    client_send(c, s, first);
    sip_msg_t *chal = client_recv(c, s, 2000, raw, size);
    if (!chal) {
        sip_msg_unref(first);
        return 0;
    }
    assert_int_equal(sip_msg_get_status(chal), 401);
    sip_auth_client_t *ac;
    assert_int_equal(sip_auth_client_create(&ac), 0);
    sip_auth_cred_t cred = {.realm = REALM, .user = user, .password = password};
    assert_int_equal(sip_auth_client_add(ac, &cred), 0);
    sip_msg_t *next = register_for(c, user, 2);
    assert_int_equal(sip_auth_client_authorize(ac, next, first, chal), 0);
    long before = digests;
    client_send(c, s, next);
    sip_msg_t *fin = client_recv(c, s, 2000, raw, size);
    if (work) *work = digests - before;
    int st = fin ? sip_msg_get_status(fin) : 0;
    sip_msg_unref(fin);
    sip_msg_unref(next);
    sip_msg_unref(chal);
    sip_msg_unref(first);
    sip_auth_client_unref(ac);
    return st;
}

/* The response with every letter, digit and base64url character (nonces) made 'x': what is
 * left is its shape (lengths, headers, separators), the same for two answers that tell nothing
 * apart. */
static void shape(const char *in, char *out)
{
    for (; *in; in++)
        *out++ = isalnum((unsigned char)*in) || *in == '-' || *in == '_' ? 'x' : *in;
    *out = '\0';
}

static void proxy_guard_no_user_enumeration(void **state)
{
    (void)state;
    server_t s;
    server_up(&s);
    client_t c;
    client_up(&c, "127.0.0.1");
    char wrong[2048], unknown[2048], a[2048], b[2048];
    long work_wrong = -1, work_unknown = -2;
    /* "alice" and "mally" have the same length: the requests differ only in the user. */
    assert_int_equal(register_with(&c, &s, "alice", "guess", wrong, sizeof(wrong), &work_wrong),
                     401);
    assert_int_equal(
        register_with(&c, &s, "mally", "guess", unknown, sizeof(unknown), &work_unknown), 401);
    /* The same status line, the same headers in the same order, the same lengths. */
    assert_int_equal(strlen(wrong), strlen(unknown));
    assert_memory_equal(wrong, unknown, strcspn(wrong, "\r"));
    shape(wrong, a);
    shape(unknown, b);
    assert_string_equal(a, b);
    assert_non_null(strstr(wrong, "WWW-Authenticate: Digest "));
    /* The same hashing work for both (the code path, not a clock). */
    assert_true(work_wrong > 0);
    assert_int_equal(work_wrong, work_unknown);
    /* The right password, for comparison: registered. */
    client_t ok;
    client_up(&ok, "127.0.0.3");
    assert_int_equal(register_with(&ok, &s, "alice", "secret", a, sizeof(a), NULL), 200);
    close(ok.fd);
    close(c.fd);
    server_down(&s);
}

static void proxy_guard_blocks_guesser(void **state)
{
    (void)state;
    server_t s;
    server_up(&s);
    client_t c, other;
    client_up(&c, "127.0.0.1");
    client_up(&other, "127.0.0.2");
    char raw[2048];
    /* Challenges are no failures; wrong passwords and unknown users are, from the source. */
    assert_int_equal(register_with(&c, &s, "alice", "guess1", raw, sizeof(raw), NULL), 401);
    assert_int_equal(register_with(&c, &s, "nobody", "guess2", raw, sizeof(raw), NULL), 401);
    assert_int_equal(sip_guard_is_blocked(s.guard, "127.0.0.1"), 0);
    /* The third: answered, and the source is blocked from now on. */
    assert_int_equal(register_with(&c, &s, "alice", "guess3", raw, sizeof(raw), NULL), 401);
    assert_int_equal(sip_guard_is_blocked(s.guard, "127.0.0.1"), 1);
    /* Its requests go unanswered now, the right password too (dropped by the proxy). */
    uint64_t dropped = sip_stat_get(s.loop, SIP_STAT_BLOCKED);
    assert_int_equal(register_with(&c, &s, "alice", "secret", raw, sizeof(raw), NULL), 0);
    assert_true(sip_stat_get(s.loop, SIP_STAT_BLOCKED) > dropped);
    /* Another source is not: alice registers from there. */
    assert_int_equal(register_with(&other, &s, "alice", "secret", raw, sizeof(raw), NULL), 200);
    /* With the guard on the transport too, the blocked source is dropped before parsing. */
    assert_int_equal(sip_transport_set_guard(s.tp, s.guard), 0);
    dropped = sip_stat_get(s.loop, SIP_STAT_BLOCKED);
    assert_int_equal(register_with(&c, &s, "alice", "secret", raw, sizeof(raw), NULL), 0);
    assert_int_equal(sip_stat_get(s.loop, SIP_STAT_BLOCKED), dropped + 1);
    /* Lifted by hand: served again. */
    assert_int_equal(sip_guard_unblock(s.guard, "127.0.0.1"), 0);
    assert_int_equal(register_with(&c, &s, "alice", "secret", raw, sizeof(raw), NULL), 200);
    close(c.fd);
    close(other.fd);
    server_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxy_guard_no_user_enumeration),
        cmocka_unit_test(proxy_guard_blocks_guesser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
