/* SPDX-License-Identifier: MIT */
/* Unit tests of the location service's Redis store against a redis-server each test starts on
 * 127.0.0.1 (port 50100, without persistence): bindings shared between nodes, expiry as TTLs,
 * load at create, Redis going away and coming back empty, a clean stop. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "location/store.h"
#include "sip/sip.h"

#define PORT 50100
#define URL "redis://127.0.0.1:50100"

/* ---- the server --------------------------------------------------------------------------- */

static pid_t redis_pid;

/* A blocking connection for the test's own checks, or NULL. */
static redisContext *direct(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", PORT, tv);
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

static void redis_start(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", PORT);
    redis_pid = fork();
    assert_true(redis_pid >= 0);
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    /* Up when it answers: at most 10 s. */
    for (int i = 0; i < 1000; i++) {
        redisContext *c = direct();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok) return;
        }
        usleep(10000);
    }
    fail_msg("redis-server did not start on port %d", PORT);
}

static void redis_stop(void)
{
    if (redis_pid <= 0) return;
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    redis_pid = 0;
}

static long long redis_int(const char *cmd, const char *arg)
{
    redisContext *c = direct();
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd, arg);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static int setup(void **state)
{
    (void)state;
    redis_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    redis_stop();
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct {
    int calls, status;
} done_t;

static void on_done(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    done_t *d = user;
    d->calls++;
    d->status = status;
}

static sip_location_t *node(sip_loop_t *loop)
{
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.redis_url = URL;
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    return loc;
}

static sip_binding_t binding(const char *aor, const char *contact, int64_t expires_in)
{
    sip_binding_t b = {0};
    b.aor = aor;
    b.contact = contact;
    b.expires = (int64_t)time(NULL) + expires_in;
    b.q = -1;
    b.call_id = "call-1";
    b.cseq = 1;
    return b;
}

static size_t count_of(sip_location_t *loc, const char *uri)
{
    sip_uri_t u;
    sip_bindings_t *set = NULL;
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), 0);
    size_t n = sip_bindings_count(set);
    sip_bindings_unref(set);
    return n;
}

/* Runs both loops until cond holds, at most 10 s. */
static int run_until(sip_loop_t *a, sip_loop_t *b, int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 5000; i++) {
        if (cond(arg)) return 1;
        sip_loop_run_once(a, 0);
        if (b) sip_loop_run_once(b, 0);
        usleep(2000);
    }
    return cond(arg);
}

static int done_called(void *arg)
{
    return ((done_t *)arg)->calls > 0;
}

typedef struct {
    sip_location_t *loc;
    size_t want;
} count_t;

static int count_is(void *arg)
{
    count_t *c = arg;
    return sip_location_count(c->loc) == c->want;
}

/* Writes b on loc and waits for its outcome. */
static int put_wait(sip_loop_t *loop, sip_location_t *loc, const sip_binding_t *b)
{
    done_t d = {0};
    assert_int_equal(sip_location_put(loc, b, on_done, &d, NULL), 0);
    assert_true(run_until(loop, NULL, done_called, &d));
    return d.status;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* A binding made on one node is seen by the other, replaced and removed there too; it is a
 * hash in Redis whose TTL is the binding's expiry. */
static void location_redis_shares_bindings_between_nodes(void **state)
{
    (void)state;
    sip_loop_t *la, *lb;
    assert_int_equal(sip_loop_create(&la), 0);
    assert_int_equal(sip_loop_create(&lb), 0);
    sip_location_t *a = node(la), *b = node(lb);

    sip_binding_t x = binding("sip:alice@example.com", "sip:alice@192.0.2.1:5060", 3600);
    x.conn_id = 7;
    x.user_agent = "ua/1";
    assert_int_equal(put_wait(la, a, &x), 0);
    count_t cb = {b, 1};
    assert_true(run_until(la, lb, count_is, &cb));
    sip_uri_t u;
    sip_bindings_t *set = NULL;
    assert_int_equal(sip_uri_parse(&u, "sip:alice@example.com", 21), 0);
    assert_int_equal(sip_location_lookup_now(&set, b, &u), 0);
    const sip_binding_t *got = sip_bindings_at(set, 0);
    assert_non_null(got);
    assert_string_equal(got->contact, "sip:alice@192.0.2.1:5060");
    assert_string_equal(got->user_agent, "ua/1");
    assert_int_equal(got->expires, x.expires);
    /* A connection is the node's own: the other does not get its id. */
    assert_int_equal(got->conn_id, 0);
    sip_bindings_unref(set);
    /* Redis expires it when the binding does. */
    long long ttl = redis_int("TTL %s", "libsip:loc:b:sip:alice@example.com c "
                                        "sip:alice@192.0.2.1:5060");
    assert_true(ttl > 3500 && ttl <= 3600);

    /* RFC 5626 §6 on the other node: the same instance and reg-id replace. */
    sip_binding_t f = binding("sip:bob@example.com", "sip:bob@198.51.100.1:5060;ob", 600);
    f.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
    f.reg_id = 1;
    assert_int_equal(put_wait(lb, b, &f), 0);
    f.contact = "sip:bob@198.51.100.1:6000;ob";
    assert_int_equal(put_wait(lb, b, &f), 0);
    count_t ca = {a, 2};
    assert_true(run_until(la, lb, count_is, &ca));
    assert_int_equal(count_of(a, "sip:bob@example.com"), 1);
    assert_int_equal(redis_int("EXISTS %s", "libsip:loc:b:sip:bob@example.com i "
                                            "<urn:uuid:00000000-0000-1000-8000-000A95A0E128> 1"),
                     1);

    /* Two flows of the instance share a contact URI (RFC 5626 §4.2): removing one on B
     * leaves the other on A. */
    f.reg_id = 2;
    assert_int_equal(put_wait(lb, b, &f), 0);
    ca.want = 3;
    assert_true(run_until(la, lb, count_is, &ca));
    f.expires = (int64_t)time(NULL) - 1;
    assert_int_equal(put_wait(lb, b, &f), 0);
    ca.want = 2;
    assert_true(run_until(la, lb, count_is, &ca));
    sip_bindings_t *flows = NULL;
    assert_int_equal(sip_uri_parse(&u, "sip:bob@example.com", 19), 0);
    assert_int_equal(sip_location_lookup_now(&flows, a, &u), 0);
    assert_int_equal(sip_bindings_count(flows), 1);
    assert_int_equal(sip_bindings_at(flows, 0)->reg_id, 1);
    sip_bindings_unref(flows);

    /* A removal on A (every binding of the AOR) leaves B and Redis too. */
    done_t d = {0};
    assert_int_equal(sip_location_remove(a, "sip:bob@example.com", NULL, on_done, &d, NULL), 0);
    assert_true(run_until(la, NULL, done_called, &d));
    assert_int_equal(d.status, 0);
    cb.want = 1;
    assert_true(run_until(la, lb, count_is, &cb));
    assert_int_equal(count_of(b, "sip:bob@example.com"), 0);
    assert_int_equal(redis_int("DBSIZE", NULL), 2); /* alice's and the epoch */

    /* An expiry in the past removes, everywhere. */
    x.expires = (int64_t)time(NULL) - 1;
    assert_int_equal(put_wait(la, a, &x), 0);
    cb.want = 0;
    assert_true(run_until(la, lb, count_is, &cb));
    assert_int_equal(redis_int("DBSIZE", NULL), 1);

    sip_location_unref(a);
    sip_location_unref(b);
    sip_loop_unref(la);
    sip_loop_unref(lb);
}

/* A node that starts later loads what the others wrote; a clean stop waits for the writes in
 * flight. */
static void location_redis_loads_at_create_and_stops_cleanly(void **state)
{
    (void)state;
    sip_loop_t *la;
    assert_int_equal(sip_loop_create(&la), 0);
    sip_location_t *a = node(la);
    done_t d[20] = {{0}};
    char aor[20][64];
    for (int i = 0; i < 20; i++) {
        snprintf(aor[i], sizeof(aor[i]), "sip:u%d@example.com", i);
        sip_binding_t x = binding(aor[i], "sip:u@192.0.2.1", 600);
        assert_int_equal(sip_location_put(a, &x, on_done, &d[i], NULL), 0);
    }
    /* Nothing has been answered yet: close commits it all before it returns. */
    assert_int_equal(d[19].calls, 0);
    sip_location_close(a);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].status, 0);
    }
    sip_location_unref(a);
    assert_int_equal(redis_int("DBSIZE", NULL), 21);

    sip_location_t *c = node(la);
    assert_int_equal(sip_location_count(c), 20);
    assert_int_equal(count_of(c, "sip:u7@example.com"), 1);
    sip_location_unref(c);
    sip_loop_unref(la);
}

typedef struct {
    sip_loop_t *loop;
    sip_location_t *loc;
} node_t;

/* Writes a probe binding and waits for its outcome (refused at once while Redis is away). */
static int probe(node_t *n)
{
    done_t d = {0};
    sip_binding_t x = binding("sip:probe@example.com", "sip:probe@192.0.2.9", 60);
    assert_int_equal(sip_location_put(n->loc, &x, on_done, &d, NULL), 0);
    for (int i = 0; i < 5000 && !d.calls; i++) {
        sip_loop_run_once(n->loop, 0);
        usleep(1000);
    }
    assert_int_equal(d.calls, 1);
    return d.status;
}

static int refused(void *arg)
{
    return probe(arg) == SIP_EIO;
}

static int accepted(void *arg)
{
    return probe(arg) == 0;
}

/* Redis goes away: lookups answer from memory, writes fail with SIP_EIO (changing nothing);
 * it comes back empty (no persistence): the nodes write back what they know, nothing
 * acknowledged is lost, and writes are taken again. */
static void location_redis_survives_redis_going_away(void **state)
{
    (void)state;
    sip_loop_t *la, *lb;
    assert_int_equal(sip_loop_create(&la), 0);
    assert_int_equal(sip_loop_create(&lb), 0);
    sip_location_t *a = node(la), *b = node(lb);
    sip_binding_t x = binding("sip:carol@example.com", "sip:carol@192.0.2.1", 600);
    assert_int_equal(put_wait(la, a, &x), 0);
    sip_binding_t y = binding("sip:dave@example.com", "sip:dave@192.0.2.2", 600);
    assert_int_equal(put_wait(lb, b, &y), 0);
    count_t ca = {a, 2}, cb = {b, 2};
    assert_true(run_until(la, lb, count_is, &ca));
    assert_true(run_until(la, lb, count_is, &cb));

    node_t na = {la, a}, nb = {lb, b};
    redis_stop();
    assert_true(run_until(la, NULL, refused, &na));
    assert_true(run_until(lb, NULL, refused, &nb));
    /* What is known still answers; a refused refresh did not remove it. */
    x.cseq = 2;
    done_t d = {0};
    assert_int_equal(sip_location_put(a, &x, on_done, &d, NULL), 0);
    assert_int_equal(d.status, SIP_EIO);
    assert_int_equal(count_of(a, "sip:carol@example.com"), 1);
    assert_int_equal(count_of(b, "sip:carol@example.com"), 1);
    assert_int_equal(count_of(a, "sip:dave@example.com"), 1);
    assert_int_equal(sip_location_remove(a, "sip:carol@example.com", NULL, on_done, &d, NULL), 0);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.status, SIP_EIO);
    assert_int_equal(count_of(a, "sip:carol@example.com"), 1);

    redis_start();
    assert_true(run_until(la, lb, accepted, &na));
    assert_true(run_until(la, lb, accepted, &nb));
    /* Both bindings are back in Redis (each node wrote back what it knew), with the probe. */
    assert_int_equal(redis_int("EXISTS %s", "libsip:loc:b:sip:carol@example.com c "
                                            "sip:carol@192.0.2.1"),
                     1);
    assert_int_equal(redis_int("EXISTS %s", "libsip:loc:b:sip:dave@example.com c "
                                            "sip:dave@192.0.2.2"),
                     1);
    assert_int_equal(count_of(a, "sip:dave@example.com"), 1);
    assert_int_equal(count_of(b, "sip:carol@example.com"), 1);
    /* Changes flow again between the nodes. */
    sip_binding_t z = binding("sip:erin@example.com", "sip:erin@192.0.2.3", 600);
    assert_int_equal(put_wait(la, a, &z), 0);
    cb.want = 4;
    assert_true(run_until(la, lb, count_is, &cb));
    assert_int_equal(count_of(b, "sip:erin@example.com"), 1);

    sip_location_unref(a);
    sip_location_unref(b);
    sip_loop_unref(la);
    sip_loop_unref(lb);
}

/* The subscription drops (CLIENT KILL): a change made meanwhile is found by the reload that
 * follows. The script is flushed (SCRIPT FLUSH): the write fails, the connection is made again
 * and writes go on. */
static void location_redis_reloads_after_a_lost_subscription(void **state)
{
    (void)state;
    sip_loop_t *la;
    assert_int_equal(sip_loop_create(&la), 0);
    sip_location_t *a = node(la);
    node_t na = {la, a};
    redisContext *c = direct();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE pubsub");
    assert_non_null(r);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    /* Written by "another node" while nobody listens: only a reload finds it. */
    char exp[24];
    snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 600);
    r = redisCommand(c,
                     "HSET %s aor %s contact %s params %s expires %s q %s call_id %s cseq %s "
                     "path %s received %s socket %s instance %s reg_id %s user_agent %s "
                     "updated %s node %s conn_id %s",
                     "libsip:loc:b:sip:gina@example.com c sip:gina@192.0.2.7",
                     "sip:gina@example.com", "sip:gina@192.0.2.7", "", exp, "-1", "c-g", "3", "",
                     "", "", "", "0", "other/1", exp, "elsewhere", "9");
    assert_non_null(r);
    freeReplyObject(r);
    count_t ca = {a, 1};
    assert_true(run_until(la, NULL, count_is, &ca));
    sip_uri_t u;
    sip_bindings_t *set = NULL;
    assert_int_equal(sip_uri_parse(&u, "sip:gina@example.com", 20), 0);
    assert_int_equal(sip_location_lookup_now(&set, a, &u), 0);
    assert_int_equal(sip_bindings_count(set), 1);
    assert_string_equal(sip_bindings_at(set, 0)->user_agent, "other/1");
    assert_int_equal(sip_bindings_at(set, 0)->conn_id, 0); /* another process's connection */
    sip_bindings_unref(set);
    assert_true(run_until(la, NULL, accepted, &na));

    r = redisCommand(c, "SCRIPT FLUSH");
    freeReplyObject(r);
    assert_int_equal(probe(&na), SIP_EIO);
    assert_true(run_until(la, NULL, accepted, &na));
    redisFree(c);
    sip_location_unref(a);
    sip_loop_unref(la);
}

static void location_redis_refuses_what_it_cannot_open(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    sip_location_t *loc = (sip_location_t *)1;
    o.redis_url = "redis://127.0.0.1:50101"; /* nothing listens there */
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EIO);
    assert_null(loc);
    o.redis_url = "http://127.0.0.1:50100";
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EINVAL);
    o.redis_url = "redis://127.0.0.1";
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EINVAL);
    o.redis_url = "redis://127.0.0.1:50100/x";
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EINVAL);
    /* One store: not SQLite and Redis at once. */
    o.redis_url = URL;
    o.db_path = "/tmp/never.db";
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EINVAL);
    /* Another database of the same Redis is another set of bindings. */
    o.db_path = NULL;
    o.redis_url = "redis://127.0.0.1:50100/3";
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    sip_binding_t x = binding("sip:f@example.com", "sip:f@192.0.2.1", 60);
    assert_int_equal(put_wait(loop, loc, &x), 0);
    assert_int_equal(redis_int("DBSIZE", NULL), 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(location_redis_shares_bindings_between_nodes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(location_redis_loads_at_create_and_stops_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(location_redis_survives_redis_going_away, setup, teardown),
        cmocka_unit_test_setup_teardown(location_redis_reloads_after_a_lost_subscription, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(location_redis_refuses_what_it_cannot_open, setup,
                                        teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
