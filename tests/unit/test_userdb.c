/* SPDX-License-Identifier: MIT */
/* The user table: HA1s from passwords (RFC 7616 §3.4.2), the file format and its errors by
 * line, atomic saves, and the digest server's lookups answered from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "sip/sip.h"

/* RFC 7616 §3.9.1's example: Mufasa, http-auth@example.org, "Circle of Life". */
#define MUFASA_MD5 "3ce2e2a9d7ed8a3e4b2b2a1a7e4f2c36"
static const char realm[] = "http-auth@example.org";

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sip-userdb-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const char *file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (text) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
    }
    return path;
}

/* RFC 7616 §3.9.1: the SHA-256 and MD5 HA1 of the example, worked out from its A1. */
static void userdb_ha1_from_password(void **state)
{
    (void)state;
    sip_userdb_t *db;
    assert_int_equal(sip_userdb_create(&db, NULL, NULL), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_USERDB), 1);
    assert_int_equal(sip_userdb_count(db), 0);
    assert_int_equal(sip_userdb_set_password(db, "Mufasa", realm, "Circle of Life"), 0);
    assert_int_equal(sip_userdb_count(db), 1);
    assert_string_equal(sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_SHA256),
                        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
    const char *md5 = sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_MD5);
    assert_non_null(md5);
    assert_int_equal(strlen(md5), 32);
    /* A -sess algorithm asks its base's HA1. */
    assert_string_equal(md5, "3d78807defe7de2157e2b0b6573a855f");
    assert_string_equal(sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_MD5_SESS), md5);
    assert_null(sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_SHA512_256));
    assert_null(sip_userdb_get_ha1(db, "mufasa", realm, SIP_AUTH_MD5));
    assert_null(sip_userdb_get_ha1(db, "Mufasa", "other", SIP_AUTH_MD5));
    assert_null(sip_userdb_get_ha1(db, "Mufasa", realm, 3));
    /* Replacing the password replaces both hashes. */
    assert_int_equal(sip_userdb_set_password(db, "Mufasa", realm, "x"), 0);
    assert_int_equal(sip_userdb_count(db), 1);
    assert_string_not_equal(sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_MD5), MUFASA_MD5);
    assert_int_equal(sip_userdb_set_password(db, "Mufasa", "b.example", "y"), 0);
    assert_int_equal(sip_userdb_count(db), 2);
    /* Names the file format cannot hold. */
    assert_int_equal(sip_userdb_set_password(db, "", realm, "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "a", "", "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "a:b", realm, "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "a", "r:1", "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "a\nb", realm, "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "#a", realm, "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(NULL, "a", realm, "p"), SIP_EINVAL);
    assert_int_equal(sip_userdb_set_password(db, "a", realm, NULL), SIP_EINVAL);
    assert_int_equal(sip_userdb_remove(db, "Mufasa", realm), 0);
    assert_int_equal(sip_userdb_remove(db, "Mufasa", realm), SIP_ENOENT);
    assert_null(sip_userdb_get_ha1(db, "Mufasa", realm, SIP_AUTH_MD5));
    assert_int_equal(sip_userdb_count(db), 1);
    assert_ptr_equal(sip_userdb_ref(db), db);
    sip_userdb_unref(db);
    sip_userdb_unref(db);
    sip_userdb_unref(NULL);
    assert_int_equal(sip_live_count(SIP_LIVE_USERDB), 0);
}

/* Many users: the table grows and every one is still found. */
static void userdb_many_users(void **state)
{
    (void)state;
    sip_userdb_t *db;
    char name[32];
    assert_int_equal(sip_userdb_create(&db, NULL, NULL), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(sip_userdb_set_password(db, name, "example.com", name), 0);
    }
    assert_int_equal(sip_userdb_count(db), 300);
    for (int i = 0; i < 300; i += 2) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(sip_userdb_remove(db, name, "example.com"), 0);
    }
    assert_int_equal(sip_userdb_count(db), 150);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        const char *h = sip_userdb_get_ha1(db, name, "example.com", SIP_AUTH_SHA256);
        if (i % 2)
            assert_non_null(h);
        else
            assert_null(h);
    }
    sip_userdb_unref(db);
}

/* A table saved is the same table read back; the file is 0600 and replaced whole. */
static void userdb_save_and_load(void **state)
{
    (void)state;
    sip_userdb_t *db, *back;
    assert_int_equal(sip_userdb_create(&db, NULL, NULL), 0);
    assert_int_equal(sip_userdb_set_password(db, "alice", "example.com", "secret"), 0);
    assert_int_equal(sip_userdb_set_password(db, "bob", "example.com", "b0b"), 0);
    const char *path = file("users", "old content\n");
    chmod(path, 0644);
    assert_int_equal(sip_userdb_save(db, path), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int err = -1;
    assert_int_equal(sip_userdb_create(&back, path, &err), 0);
    assert_int_equal(err, 0);
    assert_int_equal(sip_userdb_count(back), 2);
    for (int alg = SIP_AUTH_MD5; alg <= SIP_AUTH_SHA256; alg *= 4)
        assert_string_equal(sip_userdb_get_ha1(back, "alice", "example.com", alg),
                            sip_userdb_get_ha1(db, "alice", "example.com", alg));
    /* No temporary file is left beside it. */
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sip_userdb_save(db, "/nonexistent-dir/users"), SIP_EIO);
    assert_int_equal(sip_userdb_save(NULL, path), SIP_EINVAL);
    sip_userdb_unref(back);
    sip_userdb_unref(db);
}

/* The file: comments, blank lines, CRLF, one line per algorithm, upper-case hex. */
static void userdb_file_format(void **state)
{
    (void)state;
    sip_userdb_t *db;
    const char *path = file("users", "# users\r\n"
                                     "\n"
                                     "  alice:example.com:MD5:" MUFASA_MD5 "\r\n"
                                     "alice:example.com:sha-256:"
                                     "7987C64C30E25F1B74BE53F966B49B90F2808AA92FAF9A00262392D7B"
                                     "4794232  \n"
                                     "bob:example.com:MD5:" MUFASA_MD5);
    assert_int_equal(sip_userdb_create(&db, path, NULL), 0);
    assert_int_equal(sip_userdb_count(db), 2);
    assert_string_equal(sip_userdb_get_ha1(db, "alice", "example.com", SIP_AUTH_MD5), MUFASA_MD5);
    assert_string_equal(sip_userdb_get_ha1(db, "alice", "example.com", SIP_AUTH_SHA256),
                        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
    assert_null(sip_userdb_get_ha1(db, "bob", "example.com", SIP_AUTH_SHA256));
    sip_userdb_unref(db);
}

/* A malformed file is refused with the number of its first bad line. */
static void userdb_errors_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
    } bad[] = {
        {"# c\nalice:example.com:MD5\n", 2},
        {"alice:example.com:MD5:" MUFASA_MD5 ":x\n", 1},
        {"\n\n:example.com:MD5:" MUFASA_MD5 "\n", 3},
        {"alice::MD5:" MUFASA_MD5 "\n", 1},
        {"alice:example.com:SHA-512-256:" MUFASA_MD5 "\n", 1},
        {"alice:example.com:MD5-sess:" MUFASA_MD5 "\n", 1},
        {"alice:example.com:SHA-256:" MUFASA_MD5 "\n", 1},
        {"alice:example.com:MD5:3ce2e2a9d7ed8a3e4b2b2a1a7e4f2c3g\n", 1},
        {"alice:example.com:MD5:" MUFASA_MD5 "\nalice:example.com:MD5:" MUFASA_MD5 "\n", 2},
        {"alice:exa\001mple.com:MD5:" MUFASA_MD5 "\n", 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sip_userdb_t *db = (sip_userdb_t *)1;
        int line = -1;
        assert_int_equal(sip_userdb_create(&db, file("bad", bad[i].text), &line), SIP_EPARSE);
        assert_null(db);
        if (line != bad[i].line) fail_msg("case %zu: line %d, want %d", i, line, bad[i].line);
    }
    sip_userdb_t *db;
    int line = -1;
    assert_int_equal(sip_userdb_create(&db, file("missing", NULL), &line), SIP_EIO);
    assert_int_equal(line, 0);
    assert_int_equal(sip_userdb_create(NULL, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_live_count(SIP_LIVE_USERDB), 0);
}

/* Reading a file under allocation failures: only SIP_ENOMEM until it passes, nothing left. */
static void userdb_alloc_failures(void **state)
{
    (void)state;
    const char *path = file("users", "alice:example.com:MD5:" MUFASA_MD5 "\n"
                                     "bob:example.com:MD5:" MUFASA_MD5 "\n");
    for (int n = 1;; n++) {
        sip_userdb_t *db = NULL;
        test_alloc_fail_at(n);
        int rc = sip_userdb_create(&db, path, NULL);
        if (rc == 0) {
            rc = sip_userdb_set_password(db, "carol", "example.com", "c");
            test_alloc_fail_at(0);
            if (rc == 0) {
                assert_int_equal(sip_userdb_count(db), 3);
                sip_userdb_unref(db);
                break;
            }
            sip_userdb_unref(db);
        }
        test_alloc_fail_at(0);
        assert_int_equal(rc, SIP_ENOMEM);
        assert_int_equal(sip_live_count(SIP_LIVE_USERDB), 0);
        assert_true(n < 1000);
    }
}

/* ---- the digest server's lookups ------------------------------------------------------- */

typedef struct check {
    sip_userdb_t *db;
    int answered, done;
    sip_auth_verdict_t verdict;
} check_t;

static void on_check(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    check_t *c = user;
    if (ev == SIP_AUTH_EVENT_LOOKUP) {
        c->answered++;
        assert_int_equal(sip_userdb_answer(c->db, q), 0);
    } else {
        c->done++;
        c->verdict = sip_auth_query_get_verdict(q);
    }
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

/* A REGISTER answered by a client with password against srv's challenge, checked with the
 * table. */
static sip_auth_verdict_t verdict(sip_auth_server_t *srv, sip_userdb_t *db, const char *user,
                                  const char *password)
{
    sip_auth_client_t *ac;
    assert_int_equal(sip_auth_client_create(&ac), 0);
    sip_auth_cred_t cred = {.realm = "example.com", .user = user, .password = password};
    assert_int_equal(sip_auth_client_add(ac, &cred), 0);
    sip_msg_t *sent = parse(register_req), *next = parse(register_req), *rsp;
    assert_int_equal(sip_msg_create_response(&rsp, sent, 401, NULL, NULL), 0);
    assert_int_equal(sip_auth_server_challenge(srv, rsp, 0), 0);
    assert_int_equal(sip_auth_client_authorize(ac, next, sent, rsp), 0);
    check_t c = {.db = db};
    assert_int_equal(sip_auth_server_check(NULL, srv, next, on_check, &c, NULL), 0);
    assert_int_equal(c.answered, 1);
    assert_int_equal(c.done, 1);
    sip_msg_unref(rsp);
    sip_msg_unref(sent);
    sip_msg_unref(next);
    sip_auth_client_unref(ac);
    return c.verdict;
}

static void userdb_answers_digest_lookups(void **state)
{
    (void)state;
    sip_userdb_t *db;
    assert_int_equal(sip_userdb_create(&db, NULL, NULL), 0);
    assert_int_equal(sip_userdb_set_password(db, "alice", "example.com", "secret"), 0);
    for (int algs = SIP_AUTH_MD5; algs <= SIP_AUTH_SHA256; algs *= 4) {
        sip_auth_server_opts_t o;
        sip_auth_server_t *srv;
        sip_auth_server_opts_init(&o);
        o.realm = "example.com";
        o.algorithms = algs;
        assert_int_equal(sip_auth_server_create(&srv, &o), 0);
        assert_int_equal(verdict(srv, db, "alice", "secret"), SIP_AUTH_OK);
        assert_int_equal(verdict(srv, db, "alice", "wrong"), SIP_AUTH_FAILED);
        assert_int_equal(verdict(srv, db, "mallory", "secret"), SIP_AUTH_FAILED);
        sip_auth_server_unref(srv);
    }
    /* A user with only an MD5 line is unknown to a SHA-256 check. */
    const char *path = file("users", "carol:example.com:MD5:" MUFASA_MD5 "\n");
    sip_userdb_t *md5only;
    assert_int_equal(sip_userdb_create(&md5only, path, NULL), 0);
    sip_auth_server_opts_t o;
    sip_auth_server_t *srv;
    sip_auth_server_opts_init(&o);
    o.realm = "example.com";
    o.algorithms = SIP_AUTH_SHA256;
    assert_int_equal(sip_auth_server_create(&srv, &o), 0);
    assert_int_equal(verdict(srv, md5only, "carol", "x"), SIP_AUTH_FAILED);
    sip_auth_server_unref(srv);
    sip_userdb_unref(md5only);
    assert_int_equal(sip_userdb_answer(NULL, NULL), SIP_EINVAL);
    sip_userdb_unref(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(userdb_ha1_from_password),      cmocka_unit_test(userdb_many_users),
        cmocka_unit_test(userdb_save_and_load),          cmocka_unit_test(userdb_file_format),
        cmocka_unit_test(userdb_errors_name_the_line),   cmocka_unit_test(userdb_alloc_failures),
        cmocka_unit_test(userdb_answers_digest_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
