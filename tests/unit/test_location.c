/* SPDX-License-Identifier: MIT */
/* Unit tests of the location service: put and replace rules, removal, expiry, domains and
 * aliases, ordering, lookups, errors, and the SQLite store's durability (clean stop, SIGKILL). */
#include <errno.h>
#include <poll.h>
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

#include "alloc_hook.h"
#include "location/store.h"
#include "sip/sip.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t fake_now = 1000000;

static int64_t clock_now(void *user)
{
    (void)user;
    return fake_now;
}

typedef struct {
    int calls, freed, status;
} done_t;

static void on_done(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    done_t *d = user;
    d->calls++;
    d->status = status;
}

static void done_free(void *user)
{
    ((done_t *)user)->freed++;
}

static void no_timer(sip_timer_t *t, void *user)
{
    (void)t;
    (void)user;
}

static sip_location_t *mem_service(sip_loop_t *loop)
{
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.now = clock_now;
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    return loc;
}

static sip_binding_t binding(const char *aor, const char *contact, int64_t expires_in)
{
    sip_binding_t b = {0};
    b.aor = aor;
    b.contact = contact;
    b.expires = fake_now + expires_in;
    b.q = -1;
    b.call_id = "call-1";
    b.cseq = 1;
    return b;
}

static int put(sip_location_t *loc, const sip_binding_t *b)
{
    return sip_location_put(loc, b, NULL, NULL, NULL);
}

/* The bindings of an AOR (lookup_now), as a new reference. */
static sip_bindings_t *find(sip_location_t *loc, const char *uri)
{
    sip_uri_t u;
    sip_bindings_t *set = NULL;
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), 0);
    assert_non_null(set);
    return set;
}

static size_t count_of(sip_location_t *loc, const char *uri)
{
    sip_bindings_t *set = find(loc, uri);
    size_t n = sip_bindings_count(set);
    sip_bindings_unref(set);
    return n;
}

/* Runs the loop until *flag reaches want, or 10 s. */
static void run_until(sip_loop_t *loop, const int *flag, int want)
{
    for (int i = 0; i < 10000 && *flag < want; i++) {
        sip_loop_run_once(loop, 0);
        if (*flag < want) usleep(1000);
    }
}

static char dir[64];

static void db_path(char *buf, size_t size)
{
    snprintf(buf, size, "%s/location.db", dir);
}

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_location.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    char p[128];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/location.db%s", dir, suffix[i]);
        unlink(p);
    }
    return rmdir(dir);
}

static sip_location_t *db_service(sip_loop_t *loop, int64_t (*now)(void *))
{
    char path[128];
    db_path(path, sizeof(path));
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.db_path = path;
    o.now = now;
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    return loc;
}

/* ---- the memory store --------------------------------------------------------------------- */

static void location_put_replaces_by_contact_or_instance(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    done_t d = {0};

    sip_binding_t b = binding("sip:alice@example.com", "sip:alice@192.0.2.1:5060", 3600);
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), 0);
    /* In memory a write is durable at once. */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.freed, 1);
    /* RFC 3261 §19.1.4: an equal Contact URI (host case, default parameters) replaces. */
    b.contact = "sip:alice@192.0.2.1:5060;LR";
    b.contact = "SIP:alice@192.0.2.1:5060";
    b.cseq = 2;
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 1);
    sip_bindings_t *set = find(loc, "sip:alice@example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    assert_int_equal(sip_bindings_at(set, 0)->cseq, 2);
    assert_string_equal(sip_bindings_at(set, 0)->contact, "SIP:alice@192.0.2.1:5060");
    assert_string_equal(sip_bindings_at(set, 0)->params, "");
    assert_string_equal(sip_bindings_at(set, 0)->path, "");
    assert_string_equal(sip_bindings_aor(set), "sip:alice@example.com");
    assert_null(sip_bindings_at(set, 1));
    sip_bindings_unref(set);
    /* Another contact adds a binding. */
    b.contact = "sip:alice@192.0.2.2:5060";
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 2);
    assert_int_equal(sip_location_aor_count(loc), 1);

    /* RFC 5626 §6: with an instance, the same instance and reg-id replace whatever the
     * contact (a new address after a NAT rebinding). */
    sip_binding_t f = binding("sip:bob@example.com", "sip:bob@198.51.100.1:5060;ob", 600);
    f.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
    f.reg_id = 1;
    f.conn_id = 42;
    assert_int_equal(put(loc, &f), 0);
    f.contact = "sip:bob@198.51.100.1:6000;ob";
    f.cseq = 7;
    assert_int_equal(put(loc, &f), 0);
    assert_int_equal(count_of(loc, "sip:bob@example.com"), 1);
    /* Another reg-id is another flow of the same instance. */
    f.reg_id = 2;
    assert_int_equal(put(loc, &f), 0);
    assert_int_equal(count_of(loc, "sip:bob@example.com"), 2);
    set = find(loc, "sip:bob@example.com");
    const sip_binding_t *got = sip_bindings_at(set, 0);
    assert_string_equal(got->instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    assert_int_equal(got->conn_id, 42);
    assert_int_equal(got->updated, fake_now);
    /* The set keeps its bindings past their removal. */
    assert_int_equal(sip_location_remove(loc, "sip:bob@example.com", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(count_of(loc, "sip:bob@example.com"), 0);
    assert_string_equal(sip_bindings_at(set, 1)->contact, "sip:bob@198.51.100.1:6000;ob");
    assert_int_equal(sip_live_count(SIP_LIVE_BINDINGS), 1);
    sip_bindings_unref(set);
    assert_int_equal(sip_location_aor_count(loc), 1);

    /* An expiry in the past removes. */
    b.expires = fake_now;
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), 0);
    assert_int_equal(d.calls, 2);
    assert_int_equal(sip_location_count(loc), 1);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_remove_by_contact_or_all(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_binding_t b = binding("sip:carol@example.com", "sip:carol@192.0.2.1", 60);
    assert_int_equal(put(loc, &b), 0);
    b.contact = "sip:carol@192.0.2.2";
    assert_int_equal(put(loc, &b), 0);
    b.contact = "sip:carol@192.0.2.3";
    assert_int_equal(put(loc, &b), 0);
    done_t d = {0};
    assert_int_equal(sip_location_remove(loc, "sip:carol@EXAMPLE.com;transport=tcp",
                                         "sip:carol@192.0.2.2:5060", on_done, &d, done_free),
                     0);
    /* An explicit default port is not the same URI (§19.1.4): nothing removed, still a
     * success. */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.freed, 1);
    assert_int_equal(sip_location_count(loc), 3);
    assert_int_equal(
        sip_location_remove(loc, "sip:carol@example.com", "sip:carol@192.0.2.2", NULL, NULL, NULL),
        0);
    assert_int_equal(sip_location_count(loc), 2);
    assert_int_equal(sip_location_remove(loc, "sip:carol@example.com", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(sip_location_count(loc), 0);
    assert_int_equal(sip_location_aor_count(loc), 0);
    assert_int_equal(sip_location_remove(loc, "sip:nobody@example.com", NULL, on_done, &d, NULL),
                     0);
    assert_int_equal(d.calls, 2);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_expiry_follows_the_clock(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    char aor[64];
    /* 100 AORs whose bindings end one second apart, written out of order. */
    for (int i = 0; i < 100; i++) {
        int k = (i * 37) % 100;
        snprintf(aor, sizeof(aor), "sip:u%d@example.com", k);
        sip_binding_t b = binding(aor, "sip:u@192.0.2.1", 10 + k);
        assert_int_equal(put(loc, &b), 0);
    }
    assert_int_equal(sip_location_count(loc), 100);
    assert_int_equal(sip_location_expire(loc), 0);
    fake_now += 10;                                           /* u0 ends now */
    assert_int_equal(count_of(loc, "sip:u0@example.com"), 0); /* lookups hide it at once */
    assert_int_equal(sip_location_expire(loc), 1);
    fake_now += 49;
    assert_int_equal(sip_location_expire(loc), 49);
    assert_int_equal(sip_location_count(loc), 50);
    assert_int_equal(sip_location_aor_count(loc), 50);
    assert_int_equal(count_of(loc, "sip:u49@example.com"), 0);
    assert_int_equal(count_of(loc, "sip:u50@example.com"), 1);
    /* A refresh moves a binding's end. */
    sip_binding_t b = binding("sip:u50@example.com", "sip:u@192.0.2.1", 1000);
    assert_int_equal(put(loc, &b), 0);
    fake_now += 100;
    assert_int_equal(sip_location_expire(loc), 49);
    assert_int_equal(sip_location_count(loc), 1);
    assert_int_equal(count_of(loc, "sip:u50@example.com"), 1);
    fake_now += 1000;
    assert_int_equal(sip_location_expire(loc), 1);
    assert_int_equal(sip_location_count(loc), 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_timer_expires_bindings(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.expire_interval_ms = 5;
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    /* libuv runs no timer of a loop nothing keeps alive (a transport would): this does. */
    sip_timer_t *keep;
    assert_int_equal(sip_timer_start(&keep, loop, 60000, 0, no_timer, NULL, NULL), 0);
    sip_binding_t b = binding("sip:t@example.com", "sip:t@192.0.2.1", 0);
    b.expires = (int64_t)time(NULL) + 1;
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 1);
    /* The expiry timer alone does not keep the loop running: poll it. */
    for (int i = 0; i < 3000 && sip_location_count(loc); i++) {
        sip_loop_run_once(loop, 0);
        usleep(1000);
    }
    assert_int_equal(sip_location_count(loc), 0);
    sip_timer_unref(keep);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_domains_and_aliases(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    char key[128];
    sip_uri_t u;

    assert_int_equal(sip_location_domain_count(loc), 0);
    assert_int_equal(sip_location_is_local(loc, "anything.org", 12), 1);
    assert_int_equal(sip_location_add_domain(loc, "Example.COM", NULL), 0);
    assert_int_equal(sip_location_add_domain(loc, "sip.example.com", "example.com"), 0);
    assert_int_equal(sip_location_add_domain(loc, "192.0.2.10", "sip.example.com"), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), SIP_EEXIST);
    assert_int_equal(sip_location_add_domain(loc, "x.org", "nowhere.org"), SIP_EINVAL);
    assert_int_equal(sip_location_add_domain(loc, "", NULL), SIP_EINVAL);
    assert_int_equal(sip_location_domain_count(loc), 3);
    assert_int_equal(sip_location_is_local(loc, "SIP.example.com", 15), 1);
    assert_int_equal(sip_location_is_local(loc, "192.0.2.10", 10), 1);
    assert_int_equal(sip_location_is_local(loc, "example.org", 11), 0);

    /* RFC 3261 §10.3 step 5: parameters, headers, password and the port of our domain go;
     * the user's escapes are undone; sips is keyed as sip; a domain alias is replaced. */
    const char *uri = "sips:%61lice:secret@SIP.Example.com:5061;transport=tcp?subject=x";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_int_equal(sip_location_aor(loc, &u, key, sizeof(key)), 21);
    assert_string_equal(key, "sip:alice@example.com");
    uri = "sip:a%40b%2a@192.0.2.10";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_true(sip_location_aor(loc, &u, key, sizeof(key)) > 0);
    assert_string_equal(key, "sip:a%40b*@example.com");
    /* Elsewhere only a default port goes; the user keeps its case. */
    uri = "sip:Bob@Example.ORG:5080";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_true(sip_location_aor(loc, &u, key, sizeof(key)) > 0);
    assert_string_equal(key, "sip:Bob@example.org:5080");
    uri = "sip:bob@example.org:5060";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_true(sip_location_aor(loc, &u, key, sizeof(key)) > 0);
    assert_string_equal(key, "sip:bob@example.org");
    assert_int_equal(sip_location_aor(loc, &u, key, 8), SIP_ENOSPC);
    /* An escaped NUL stays escaped: the key is one C string, never cut short at it. */
    uri = "sip:al%00ice@example.com";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_int_equal(sip_location_aor(loc, &u, key, sizeof(key)), 24);
    assert_string_equal(key, "sip:al%00ice@example.com");

    /* A binding written under one spelling is found under the others. */
    sip_binding_t b = binding("sip:alice@sip.example.com", "sip:alice@192.0.2.1", 60);
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(count_of(loc, "sip:alice@192.0.2.10:5060;user=phone"), 1);

    /* Alias AORs (as alias_db): a lookup of the alias finds the AOR's bindings. */
    assert_int_equal(sip_location_add_alias(loc, "sip:1000@example.com", "sip:alice@example.com"),
                     0);
    assert_int_equal(sip_location_add_alias(loc, "sip:1000@example.com", "sip:bob@example.com"),
                     SIP_EEXIST);
    assert_int_equal(sip_location_add_alias(loc, "tel:1000", "sip:bob@example.com"), SIP_EURI);
    assert_int_equal(sip_location_add_alias(loc, "sip:1000@example.com", NULL), SIP_EINVAL);
    sip_bindings_t *set = find(loc, "sip:1000@sip.example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    assert_string_equal(sip_bindings_aor(set), "sip:alice@example.com");
    assert_string_equal(sip_bindings_at(set, 0)->aor, "sip:alice@example.com");
    sip_bindings_unref(set);
    /* sip_location_aor() does not follow an alias. */
    uri = "sip:1000@example.com";
    assert_int_equal(sip_uri_parse(&u, uri, strlen(uri)), 0);
    assert_true(sip_location_aor(loc, &u, key, sizeof(key)) > 0);
    assert_string_equal(key, "sip:1000@example.com");
    assert_int_equal(sip_location_remove_alias(loc, "sip:1000@EXAMPLE.com"), 0);
    assert_int_equal(sip_location_remove_alias(loc, "sip:1000@example.com"), SIP_ENOENT);
    assert_int_equal(count_of(loc, "sip:1000@example.com"), 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_orders_by_q_then_most_recent(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    struct {
        const char *contact;
        int q;
        int64_t updated;
    } in[] = {
        {"sip:a@192.0.2.1", 500, 10}, {"sip:b@192.0.2.1", 1000, 10}, {"sip:c@192.0.2.1", 500, 30},
        {"sip:d@192.0.2.1", -1, 5},   {"sip:e@192.0.2.1", 100, 50},  {"sip:f@192.0.2.1", 500, 20},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        sip_binding_t b = binding("sip:o@example.com", in[i].contact, 60);
        b.q = in[i].q;
        b.updated = in[i].updated;
        assert_int_equal(put(loc, &b), 0);
    }
    /* No q counts as 1.0; among equals the most recent update goes first. */
    static const char *const want[] = {"sip:b@192.0.2.1", "sip:d@192.0.2.1", "sip:c@192.0.2.1",
                                       "sip:f@192.0.2.1", "sip:a@192.0.2.1", "sip:e@192.0.2.1"};
    sip_bindings_t *set = find(loc, "sip:o@example.com");
    assert_int_equal(sip_bindings_count(set), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(sip_bindings_at(set, i)->contact, want[i]);
    assert_int_equal(sip_bindings_at(set, 1)->q, -1);
    sip_bindings_unref(set);
    /* A refresh with a new q moves the binding. */
    sip_binding_t b = binding("sip:o@example.com", "sip:e@192.0.2.1", 60);
    b.q = 1000;
    b.updated = 60;
    assert_int_equal(put(loc, &b), 0);
    set = find(loc, "sip:o@example.com");
    assert_string_equal(sip_bindings_at(set, 0)->contact, "sip:e@192.0.2.1");
    assert_int_equal(sip_bindings_count(set), 6);
    sip_bindings_unref(set);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

typedef struct {
    int calls, freed, status;
    sip_bindings_t *kept;
} look_t;

static void on_lookup(sip_location_t *loc, int status, sip_bindings_t *set, void *user)
{
    (void)loc;
    look_t *l = user;
    l->calls++;
    l->status = status;
    assert_non_null(set);
    l->kept = sip_bindings_ref(set);
}

static void look_free(void *user)
{
    ((look_t *)user)->freed++;
}

static void location_lookup_of_a_request_uri(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_binding_t b = binding("<sip:dave@example.com>", "sip:dave@192.0.2.1", 60);
    /* The AOR must be a bare URI. */
    assert_int_equal(put(loc, &b), SIP_EURI);
    b.aor = "sip:dave@example.com";
    b.path = "<sip:edge.example.com;lr>";
    b.received = "sip:198.51.100.7:5060;transport=udp";
    b.socket = "udp:127.0.0.1:5060";
    b.user_agent = "phone/1.0";
    b.params = ";+sip.instance=\"<urn:uuid:1>\"";
    b.q = 700;
    assert_int_equal(put(loc, &b), 0);

    look_t l = {0};
    assert_int_equal(sip_location_lookup(loc, "sip:dave@example.com;transport=tcp;lr?x=y",
                                         on_lookup, &l, look_free),
                     0);
    /* The memory store answers inside the call. */
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.freed, 1);
    assert_int_equal(l.status, 0);
    assert_int_equal(sip_bindings_count(l.kept), 1);
    const sip_binding_t *got = sip_bindings_at(l.kept, 0);
    assert_string_equal(got->path, "<sip:edge.example.com;lr>");
    assert_string_equal(got->received, "sip:198.51.100.7:5060;transport=udp");
    assert_string_equal(got->socket, "udp:127.0.0.1:5060");
    assert_string_equal(got->user_agent, "phone/1.0");
    assert_string_equal(got->params, ";+sip.instance=\"<urn:uuid:1>\"");
    assert_string_equal(got->call_id, "call-1");
    assert_int_equal(got->q, 700);
    assert_int_equal(got->expires, fake_now + 60);
    sip_bindings_unref(l.kept);

    /* None: SIP_ENOENT with an empty set. */
    look_t n = {0};
    assert_int_equal(sip_location_lookup(loc, "sip:nobody@example.com", on_lookup, &n, NULL), 0);
    assert_int_equal(n.status, SIP_ENOENT);
    assert_int_equal(sip_bindings_count(n.kept), 0);
    assert_string_equal(sip_bindings_aor(n.kept), "sip:nobody@example.com");
    sip_bindings_unref(n.kept);

    /* Not a SIP URI or no user part: SIP_EURI, no callback, user_free runs. */
    look_t e = {0};
    assert_int_equal(sip_location_lookup(loc, "tel:+15551234", on_lookup, &e, look_free), SIP_EURI);
    assert_int_equal(sip_location_lookup(loc, "sip:example.com", on_lookup, &e, look_free),
                     SIP_EURI);
    assert_int_equal(sip_location_lookup(loc, "not a uri", on_lookup, &e, look_free), SIP_EURI);
    assert_int_equal(e.calls, 0);
    assert_int_equal(e.freed, 3);
    sip_uri_t u;
    sip_bindings_t *set = (sip_bindings_t *)1;
    assert_int_equal(sip_uri_parse(&u, "tel:+15551234", 13), 0);
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), SIP_EURI);
    assert_null(set);
    assert_int_equal(sip_location_aor(loc, &u, (char[8]){0}, 8), SIP_EURI);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_refuses_bad_input(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_location_create(NULL, loop, NULL), SIP_EINVAL);
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    done_t d = {0};
    sip_binding_t b = binding("sip:e@example.com", "sip:e@192.0.2.1", 60);
    b.q = 1001;
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EINVAL);
    b.q = -1;
    b.contact = NULL;
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EINVAL);
    b.contact = "sip:e@192.0.2.1";
    b.aor = "tel:+1555";
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EURI);
    b.aor = "sip:e@example.com";
    b.contact = "no uri";
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EURI);
    assert_int_equal(sip_location_put(loc, NULL, on_done, &d, done_free), SIP_EINVAL);
    /* Values that go into headers as they are (the registrar's 200, a proxy's Route): one
     * line each. */
    b.contact = "sip:e@192.0.2.1";
    b.path = "<sip:edge.example.com;lr>\r\nX-Evil: 1";
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EINVAL);
    b.path = NULL;
    b.params = ";a=b\nX-Evil: 1";
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_EINVAL);
    b.params = NULL;
    b.contact = "no uri";
    assert_int_equal(sip_location_remove(loc, "sips:", NULL, on_done, &d, done_free), SIP_EURI);
    assert_int_equal(sip_location_remove(NULL, "sip:a@b", NULL, on_done, &d, done_free),
                     SIP_EINVAL);
    /* A failed call never calls back; its user_free always runs. */
    assert_int_equal(d.calls, 0);
    assert_int_equal(d.freed, 9);
    assert_int_equal(sip_location_lookup(loc, "sip:a@b", NULL, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_location_count(NULL), 0);
    assert_null(sip_location_get_loop(NULL));
    assert_ptr_equal(sip_location_get_loop(loc), loop);
    assert_null(sip_bindings_at(NULL, 0));
    assert_int_equal(sip_bindings_count(NULL), 0);
    sip_bindings_unref(NULL);
    sip_location_unref(NULL);

    /* Closed: everything answers SIP_ECLOSED; the counts stay readable. */
    b.contact = "sip:e@192.0.2.1";
    b.expires = (int64_t)time(NULL) + 60; /* the default clock */
    assert_int_equal(put(loc, &b), 0);
    sip_location_close(loc);
    sip_location_close(loc); /* idempotent */
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), SIP_ECLOSED);
    assert_int_equal(sip_location_lookup(loc, "sip:e@example.com", on_lookup, &d, done_free),
                     SIP_ECLOSED);
    assert_int_equal(d.freed, 11);
    sip_uri_t u;
    sip_bindings_t *set;
    assert_int_equal(sip_uri_parse(&u, b.aor, strlen(b.aor)), 0);
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), SIP_ECLOSED);
    assert_int_equal(sip_location_count(loc), 1);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_put_survives_allocation_failures(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    char aor[64];
    int rc = SIP_ENOMEM;
    for (long n = 1; rc == SIP_ENOMEM && n < 100; n++) {
        done_t d = {0};
        snprintf(aor, sizeof(aor), "sip:m%ld@example.com", n);
        sip_binding_t b = binding(aor, "sip:m@192.0.2.1", 60);
        test_alloc_fail_at(n);
        rc = sip_location_put(loc, &b, on_done, &d, done_free);
        test_alloc_fail_at(0);
        assert_int_equal(d.freed, 1);
        if (rc == SIP_ENOMEM) {
            assert_int_equal(d.calls, 0);
            assert_int_equal(sip_location_count(loc), 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(sip_location_count(loc), 1);
        }
    }
    assert_int_equal(rc, 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_closes_with_its_loop(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_loop_close(loop);
    sip_binding_t b = binding("sip:z@example.com", "sip:z@192.0.2.1", 60);
    assert_int_equal(put(loc, &b), SIP_ECLOSED);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

/* A store that answers lookups later (as a Redis store would): the lookup's callback runs
 * after the call, and lookup_now() refuses. */
typedef struct {
    sip_location_lookup_cb cb;
    void *user;
    sip_free_fn user_free;
    char key[64];
} later_t;

static later_t later;

static int later_lookup(sip__loc_store_t *st, const char *key, sip_location_lookup_cb cb,
                        void *user, sip_free_fn user_free)
{
    (void)st;
    snprintf(later.key, sizeof(later.key), "%s", key);
    later.cb = cb;
    later.user = user;
    later.user_free = user_free;
    return 0;
}

static void later_nop(sip__loc_store_t *st)
{
    (void)st;
}

static int later_writes;

static void later_write(sip__loc_store_t *st, sip__loc_op_t *op)
{
    (void)st;
    later_writes++;
    sip__loc_op_free(op);
}

static const sip__loc_store_ops_t later_ops = {.name = "later",
                                               .write = later_write,
                                               .lookup = later_lookup,
                                               .close = later_nop,
                                               .free = later_nop};

static void location_a_store_may_answer_later(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_binding_t b = binding("sip:l@example.com", "sip:l@192.0.2.1", 60);
    assert_int_equal(put(loc, &b), 0);
    sip_bindings_t *set = find(loc, "sip:l@example.com");
    sip__loc_store_t store = {&later_ops};
    loc->store = &store;
    look_t l = {0};
    assert_int_equal(sip_location_lookup(loc, "sip:l@EXAMPLE.com;lr", on_lookup, &l, look_free), 0);
    assert_int_equal(l.calls, 0);
    assert_string_equal(later.key, "sip:l@example.com");
    sip_uri_t u;
    sip_bindings_t *none = (sip_bindings_t *)1;
    assert_int_equal(sip_uri_parse(&u, "sip:l@example.com", 17), 0);
    assert_int_equal(sip_location_lookup_now(&none, loc, &u), SIP_ENOTSUP);
    assert_null(none);
    /* The answer comes later. */
    later.cb(loc, 0, set, later.user);
    later.user_free(later.user);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.freed, 1);
    assert_int_equal(sip_bindings_count(l.kept), 1);
    sip_bindings_unref(l.kept);
    sip_bindings_unref(set);
    loc->store = NULL;
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

/* ---- writes made elsewhere ---------------------------------------------------------------- */

/* A change made on another node or worker enters the index as it is: the same replace rules as
 * sip_location_put(), no callback, no store write. */
static void location_apply_put_follows_the_replace_rules(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    /* A store that would see any write made again. */
    sip__loc_store_t store = {&later_ops};
    later_writes = 0;
    loc->store = &store;

    sip_binding_t b = binding("sip:alice@example.com", "sip:alice@192.0.2.1:5060", 3600);
    b.cseq = 5;
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 1);
    assert_int_equal(sip_location_aor_count(loc), 1);
    /* RFC 3261 §19.1.4: an equal Contact URI replaces. */
    b.contact = "SIP:alice@192.0.2.1:5060";
    b.cseq = 6;
    b.user_agent = "ua/2";
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 1);
    loc->store = NULL; /* lookup_now answers from memory only without a store answering later */
    sip_bindings_t *set = find(loc, "sip:alice@example.com");
    assert_int_equal(sip_bindings_at(set, 0)->cseq, 6);
    assert_string_equal(sip_bindings_at(set, 0)->user_agent, "ua/2");
    assert_int_equal(sip_bindings_at(set, 0)->updated, fake_now);
    sip_bindings_unref(set);
    loc->store = &store;
    b.contact = "sip:alice@192.0.2.2";
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 2);

    /* RFC 5626 §6: the same instance and reg-id replace whatever the contact. */
    sip_binding_t f = binding("sip:bob@example.com", "sip:bob@198.51.100.1:5060;ob", 600);
    f.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
    f.reg_id = 1;
    f.updated = fake_now - 5;
    assert_int_equal(sip__location_apply_put(loc, &f), 0);
    f.contact = "sip:bob@198.51.100.1:6000;ob";
    assert_int_equal(sip__location_apply_put(loc, &f), 0);
    f.reg_id = 2;
    assert_int_equal(sip__location_apply_put(loc, &f), 0);
    assert_int_equal(sip_location_count(loc), 4);
    assert_int_equal(sip_location_aor_count(loc), 2);

    /* An expired binding removes the one it would replace. */
    f.expires = fake_now;
    assert_int_equal(sip__location_apply_put(loc, &f), 0);
    assert_int_equal(sip_location_count(loc), 3);
    f.reg_id = 1;
    assert_int_equal(sip__location_apply_put(loc, &f), 0);
    assert_int_equal(sip_location_aor_count(loc), 1);
    assert_int_equal(sip__location_apply_put(loc, &f), 0); /* nothing there: still fine */

    /* The key is taken as it is: it was made by sip_location_aor() where the write was made. */
    loc->store = NULL;
    assert_int_equal(count_of(loc, "sip:alice@example.com"), 2);
    set = find(loc, "sip:bob@example.com");
    assert_int_equal(sip_bindings_count(set), 0);
    sip_bindings_unref(set);
    /* Expiry takes applied bindings too. */
    fake_now += 3600;
    assert_int_equal(sip_location_expire(loc), 2);
    fake_now -= 3600;
    assert_int_equal(sip_location_count(loc), 0);
    assert_int_equal(later_writes, 0);

    /* Bad input changes nothing. */
    sip_binding_t bad = binding("sip:c@example.com", "not a uri", 60);
    assert_int_equal(sip__location_apply_put(loc, &bad), SIP_EINVAL);
    bad.contact = NULL;
    assert_int_equal(sip__location_apply_put(loc, &bad), SIP_EINVAL);
    bad = binding("sip:c@example.com", "sip:c@192.0.2.9", 60);
    bad.user_agent = "x\r\nVia: y";
    assert_int_equal(sip__location_apply_put(loc, &bad), SIP_EINVAL);
    bad.user_agent = NULL;
    bad.q = 1001;
    assert_int_equal(sip__location_apply_put(loc, &bad), SIP_EINVAL);
    bad.q = 500;
    bad.aor = "";
    assert_int_equal(sip__location_apply_put(loc, &bad), SIP_EINVAL);
    assert_int_equal(sip__location_apply_put(NULL, &bad), SIP_EINVAL);
    assert_int_equal(sip__location_apply_put(loc, NULL), SIP_EINVAL);
    assert_int_equal(sip_location_count(loc), 0);
    assert_int_equal(sip_location_aor_count(loc), 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_apply_del_and_clear(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_binding_t b = binding("sip:carol@example.com", "sip:carol@192.0.2.1", 60);
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    b.contact = "sip:carol@192.0.2.2";
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    b.contact = "sip:carol@192.0.2.3";
    assert_int_equal(put(loc, &b), 0);
    b = binding("sip:dave@example.com", "sip:dave@192.0.2.4", 60);
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(sip_location_count(loc), 4);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 4);

    /* By contact URI (§19.1.4): an explicit default port is another URI. */
    assert_int_equal(
        sip__location_apply_del(loc, "sip:carol@example.com", "sip:carol@192.0.2.2:5060"),
        SIP_ENOENT);
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", "sip:CAROL@192.0.2.2"),
                     SIP_ENOENT);
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", "sip:carol@192.0.2.2"),
                     0);
    assert_int_equal(count_of(loc, "sip:carol@example.com"), 2);
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", "sip:carol@192.0.2.2"),
                     SIP_ENOENT);
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", "::"), SIP_EINVAL);
    assert_int_equal(sip__location_apply_del(loc, NULL, NULL), SIP_EINVAL);
    /* A set keeps what it holds past the removal. */
    sip_bindings_t *set = find(loc, "sip:carol@example.com");
    /* Every binding of the AOR. */
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", NULL), 0);
    assert_int_equal(sip__location_apply_del(loc, "sip:carol@example.com", NULL), SIP_ENOENT);
    assert_int_equal(sip_location_aor_count(loc), 1);
    assert_int_equal(sip_bindings_count(set), 2);
    assert_string_equal(sip_bindings_at(set, 1)->contact, "sip:carol@192.0.2.1");
    sip_bindings_unref(set);

    /* Clear empties the index (a store that reloads after losing track), not the domains. */
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    for (int i = 0; i < 3000; i++) {
        char aor[64];
        snprintf(aor, sizeof(aor), "sip:u%d@example.com", i);
        b = binding(aor, "sip:u@192.0.2.1", 60 + i);
        assert_int_equal(sip__location_apply_put(loc, &b), 0);
    }
    assert_int_equal(sip_location_count(loc), 3001);
    sip__location_apply_clear(loc);
    assert_int_equal(sip_location_count(loc), 0);
    assert_int_equal(sip_location_aor_count(loc), 0);
    assert_int_equal(sip_stat_get(loop, SIP_STAT_BINDINGS), 0);
    assert_int_equal(sip_location_domain_count(loc), 1);
    assert_int_equal(sip_location_expire(loc), 0);
    /* It works as before afterwards. */
    b = binding("sip:erin@example.com", "sip:erin@192.0.2.5", 60);
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    assert_int_equal(put(loc, &b), 0);
    assert_int_equal(count_of(loc, "sip:erin@example.com"), 1);
    sip__location_apply_clear(NULL);
    /* A closed service takes nothing. */
    sip_location_close(loc);
    assert_int_equal(sip__location_apply_put(loc, &b), SIP_EINVAL);
    assert_int_equal(sip__location_apply_del(loc, b.aor, NULL), SIP_EINVAL);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_apply_put_survives_allocation_failures(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = mem_service(loop);
    sip_binding_t b = binding("sip:m@example.com", "sip:m@192.0.2.1", 60);
    assert_int_equal(sip__location_apply_put(loc, &b), 0);
    int rc = SIP_ENOMEM;
    for (long n = 1; rc == SIP_ENOMEM && n < 100; n++) {
        char aor[64];
        snprintf(aor, sizeof(aor), "sip:m%ld@example.com", n);
        b = binding(aor, "sip:m@192.0.2.1", 60);
        test_alloc_fail_at(n);
        rc = sip__location_apply_put(loc, &b);
        test_alloc_fail_at(0);
        if (rc == SIP_ENOMEM) {
            assert_int_equal(sip_location_count(loc), 1);
            assert_int_equal(sip_location_aor_count(loc), 1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(sip_location_count(loc), 2);
        }
    }
    assert_int_equal(rc, 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

/* ---- the SQLite store --------------------------------------------------------------------- */

static void location_sqlite_persists_across_restarts(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = db_service(loop, clock_now);
    done_t d = {0};
    sip_binding_t b = binding("sip:p@example.com", "sip:p@192.0.2.1", 3600);
    b.path = "<sip:edge;lr>";
    b.instance = "<urn:uuid:2>";
    b.reg_id = 3;
    b.conn_id = 99;
    b.q = 250;
    b.cseq = 17;
    b.received = "sip:198.51.100.7:5060";
    b.socket = "udp:127.0.0.1:5060";
    b.user_agent = "ua";
    b.params = ";ob";
    assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), 0);
    /* Served at once; acknowledged only once committed. */
    assert_int_equal(count_of(loc, "sip:p@example.com"), 1);
    assert_int_equal(d.calls, 0);
    run_until(loop, &d.calls, 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.freed, 1);
    sip_binding_t q = binding("sip:q@example.com", "sip:q@192.0.2.1", 3600);
    assert_int_equal(put(loc, &q), 0);
    q.contact = "sip:q@192.0.2.2";
    assert_int_equal(put(loc, &q), 0);
    q.contact = "sip:q@192.0.2.1";
    q.cseq = 5;
    assert_int_equal(put(loc, &q), 0); /* replaces the first */
    sip_binding_t gone = binding("sip:r@example.com", "sip:r@192.0.2.1", 3600);
    assert_int_equal(put(loc, &gone), 0);
    done_t rd = {0};
    assert_int_equal(sip_location_remove(loc, "sip:r@example.com", NULL, on_done, &rd, NULL), 0);
    sip_binding_t soon = binding("sip:s@example.com", "sip:s@192.0.2.1", 10);
    assert_int_equal(put(loc, &soon), 0);
    run_until(loop, &rd.calls, 1);
    assert_int_equal(rd.status, 0);
    sip_location_unref(loc);

    fake_now += 20; /* s has expired while the service was down */
    loc = db_service(loop, clock_now);
    assert_int_equal(sip_location_count(loc), 3);
    assert_int_equal(sip_location_aor_count(loc), 2);
    sip_bindings_t *set = find(loc, "sip:p@example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    const sip_binding_t *got = sip_bindings_at(set, 0);
    assert_string_equal(got->contact, "sip:p@192.0.2.1");
    assert_string_equal(got->path, "<sip:edge;lr>");
    assert_string_equal(got->instance, "<urn:uuid:2>");
    assert_string_equal(got->received, "sip:198.51.100.7:5060");
    assert_string_equal(got->socket, "udp:127.0.0.1:5060");
    assert_string_equal(got->user_agent, "ua");
    assert_string_equal(got->params, ";ob");
    assert_string_equal(got->call_id, "call-1");
    assert_int_equal(got->reg_id, 3);
    assert_int_equal(got->q, 250);
    assert_int_equal(got->cseq, 17);
    assert_int_equal(got->expires, b.expires);
    assert_int_equal(got->conn_id, 0); /* a connection does not outlive the process */
    sip_bindings_unref(set);
    set = find(loc, "sip:q@example.com");
    assert_int_equal(sip_bindings_count(set), 2);
    assert_int_equal(sip_bindings_at(set, 0)->cseq, 5);
    sip_bindings_unref(set);
    assert_int_equal(count_of(loc, "sip:r@example.com"), 0);
    assert_int_equal(count_of(loc, "sip:s@example.com"), 0);
    /* The instance binding is replaced across the restart too (the row keeps its id). */
    b.contact = "sip:p@192.0.2.9";
    assert_int_equal(put(loc, &b), 0);
    /* Expiry deletes the rows as well. */
    fake_now += 3600;
    assert_int_equal(sip_location_expire(loc), 3);
    sip_location_unref(loc);
    fake_now -= 3600;
    loc = db_service(loop, clock_now);
    assert_int_equal(sip_location_count(loc), 0);
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_sqlite_clean_stop_keeps_every_write(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = db_service(loop, NULL);
    char aor[64];
    done_t d = {0};
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        snprintf(aor, sizeof(aor), "sip:c%d@example.com", i);
        sip_binding_t b = binding(aor, "sip:c@192.0.2.1", 0);
        b.expires = (int64_t)time(NULL) + 3600;
        assert_int_equal(sip_location_put(loc, &b, on_done, &d, done_free), 0);
        /* Let some batches go while others are queued. */
        if (i == N / 2) sip_loop_run_once(loop, 0);
    }
    /* The close waits for the batch in flight and commits the rest. */
    sip_location_close(loc);
    assert_int_equal(d.calls, N);
    assert_int_equal(d.freed, N);
    assert_int_equal(d.status, 0);
    sip_location_unref(loc);
    loc = db_service(loop, NULL);
    assert_int_equal(sip_location_count(loc), N);
    assert_int_equal(count_of(loc, "sip:c1999@example.com"), 1);
    assert_int_equal(sip_location_remove(loc, "sip:c0@example.com", NULL, NULL, NULL, NULL), 0);
    /* The last reference does the same. */
    sip_location_unref(loc);
    loc = db_service(loop, NULL);
    assert_int_equal(sip_location_count(loc), N - 1);
    for (int i = 1; i < N; i++) {
        snprintf(aor, sizeof(aor), "sip:c%d@example.com", i);
        assert_int_equal(sip_location_remove(loc, aor, NULL, NULL, NULL, NULL), 0);
    }
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

typedef struct {
    int order[8], n;
    sip_location_t *close_at_first;
} seq_t;

typedef struct {
    seq_t *seq;
    int k;
} seq_item_t;

static void on_seq(sip_location_t *loc, int status, void *user)
{
    seq_item_t *it = user;
    assert_int_equal(status, 0);
    it->seq->order[it->seq->n++] = it->k;
    /* The first callback closes the service: the rest still complete, in order. */
    if (it->seq->close_at_first) sip_location_close(loc);
    it->seq->close_at_first = NULL;
}

static void location_sqlite_callbacks_keep_order_through_close(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    char path[128];
    db_path(path, sizeof(path));
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.db_path = path;
    o.batch_ms = 0; /* a batch at the next loop turn */
    sip_location_t *loc = NULL;
    assert_int_equal(sip_location_create(&loc, loop, &o), 0);
    seq_t seq = {.close_at_first = loc};
    seq_item_t items[6];
    char aor[64];
    for (int k = 0; k < 6; k++) {
        items[k] = (seq_item_t){&seq, k};
        snprintf(aor, sizeof(aor), "sip:o%d@example.com", k);
        sip_binding_t b = binding(aor, "sip:o@192.0.2.1", 0);
        b.expires = (int64_t)time(NULL) + 60;
        assert_int_equal(sip_location_put(loc, &b, on_seq, &items[k], NULL), 0);
        /* Three writes go in a first batch (its callbacks run in a later turn), three wait
         * for the next. */
        if (k == 2) sip_loop_run_once(loop, 0);
        assert_int_equal(seq.n, 0);
    }
    run_until(loop, &seq.n, 6);
    assert_int_equal(seq.n, 6);
    for (int k = 0; k < 6; k++)
        assert_int_equal(seq.order[k], k);
    assert_int_equal(sip_location_count(loc), 6);
    sip_location_unref(loc);
    loc = db_service(loop, NULL);
    assert_int_equal(sip_location_count(loc), 6);
    for (int k = 0; k < 6; k++) {
        snprintf(aor, sizeof(aor), "sip:o%d@example.com", k);
        assert_int_equal(sip_location_remove(loc, aor, NULL, NULL, NULL, NULL), 0);
    }
    sip_location_unref(loc);
    sip_loop_unref(loop);
}

static void location_sqlite_reports_a_bad_file(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.db_path = "/nonexistent-dir/x/location.db";
    sip_location_t *loc = (sip_location_t *)1;
    assert_int_equal(sip_location_create(&loc, loop, &o), SIP_EIO);
    assert_null(loc);
    sip_loop_unref(loop);
}

/* SIGKILL in the middle of a registration burst: a child writes bindings as fast as it can and
 * reports, through a pipe, each one whose callback said it is durable; the parent kills it
 * mid-burst, reopens the database and finds every binding that was acknowledged. */
enum { CRASH_TOTAL = 200000, CRASH_KILL_AFTER = 3000 };

typedef struct {
    int fd;
    uint32_t i;
} ack_t;

static void crash_ack(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    ack_t *a = user;
    if (status == 0 && write(a->fd, &a->i, sizeof(a->i)) != sizeof(a->i)) _exit(3);
}

static void crash_child(int fd)
{
    sip_loop_t *loop;
    sip_location_t *loc;
    char path[128], aor[64];
    db_path(path, sizeof(path));
    sip_location_opts_t o;
    sip_location_opts_init(&o);
    o.db_path = path;
    if (sip_loop_create(&loop) < 0 || sip_location_create(&loc, loop, &o) < 0) _exit(2);
    int64_t now = (int64_t)time(NULL);
    for (uint32_t i = 0; i < CRASH_TOTAL; i++) {
        ack_t *a = malloc(sizeof(*a));
        if (!a) _exit(2);
        a->fd = fd;
        a->i = i;
        snprintf(aor, sizeof(aor), "sip:k%u@example.com", i);
        sip_binding_t b = {.aor = aor,
                           .contact = "sip:k@192.0.2.1:5060",
                           .expires = now + 3600,
                           .q = -1,
                           .call_id = "burst",
                           .cseq = i};
        if (sip_location_put(loc, &b, crash_ack, a, free) < 0) _exit(2);
        /* A registrar takes requests between loop turns; so does this burst. */
        if (i % 64 == 63) sip_loop_run_once(loop, 0);
    }
    sip_location_unref(loc);
    sip_loop_unref(loop);
    _exit(0);
}

static void location_sqlite_keeps_acknowledged_writes_through_sigkill(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(fds[1]);
    }
    close(fds[1]);
    uint8_t *acked = calloc(CRASH_TOTAL, 1);
    assert_non_null(acked);
    size_t n = 0, got = 0;
    int killed = 0;
    uint32_t buf[1024];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, 1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (!killed && (n >= CRASH_KILL_AFTER || t.tv_sec - t0.tv_sec > 20)) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (t.tv_sec - t0.tv_sec > 30) break;
            continue;
        }
        ssize_t k = read(fds[0], (char *)buf + got, sizeof(buf) - got);
        if (k <= 0) break; /* EOF: the child is gone and every ack written is read */
        got += (size_t)k;
        for (size_t i = 0; i + sizeof(uint32_t) <= got; i += sizeof(uint32_t)) {
            assert_true(buf[i / 4] < CRASH_TOTAL);
            acked[buf[i / 4]] = 1;
            n++;
        }
        size_t rest = got % sizeof(uint32_t);
        memmove(buf, (char *)buf + got - rest, rest);
        got = rest;
    }
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    print_message("      %zu bindings acknowledged before the kill\n", n);
    assert_true(n >= CRASH_KILL_AFTER);
    assert_true(n < CRASH_TOTAL);

    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_location_t *loc = db_service(loop, NULL);
    assert_true(sip_location_count(loc) >= n);
    char aor[64];
    size_t missing = 0;
    for (uint32_t i = 0; i < CRASH_TOTAL; i++) {
        if (!acked[i]) continue;
        snprintf(aor, sizeof(aor), "sip:k%u@example.com", i);
        if (count_of(loc, aor) != 1) missing++;
    }
    assert_int_equal(missing, 0);
    free(acked);
    /* Leave an empty database to the next test. */
    sip_location_unref(loc);
    sip_loop_unref(loop);
    char path[128];
    db_path(path, sizeof(path));
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while this process has no thread that fork() could catch holding a lock. */
        cmocka_unit_test(location_sqlite_keeps_acknowledged_writes_through_sigkill),
        cmocka_unit_test(location_put_replaces_by_contact_or_instance),
        cmocka_unit_test(location_remove_by_contact_or_all),
        cmocka_unit_test(location_expiry_follows_the_clock),
        cmocka_unit_test(location_timer_expires_bindings),
        cmocka_unit_test(location_domains_and_aliases),
        cmocka_unit_test(location_orders_by_q_then_most_recent),
        cmocka_unit_test(location_lookup_of_a_request_uri),
        cmocka_unit_test(location_refuses_bad_input),
        cmocka_unit_test(location_put_survives_allocation_failures),
        cmocka_unit_test(location_closes_with_its_loop),
        cmocka_unit_test(location_a_store_may_answer_later),
        cmocka_unit_test(location_apply_put_follows_the_replace_rules),
        cmocka_unit_test(location_apply_del_and_clear),
        cmocka_unit_test(location_apply_put_survives_allocation_failures),
        cmocka_unit_test(location_sqlite_persists_across_restarts),
        cmocka_unit_test(location_sqlite_clean_stop_keeps_every_write),
        cmocka_unit_test(location_sqlite_callbacks_keep_order_through_close),
        cmocka_unit_test(location_sqlite_reports_a_bad_file),
    };
    return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
