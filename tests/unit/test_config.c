/* SPDX-License-Identifier: MIT */
/* The configuration: every key's default and file form, errors that name the file, line,
 * column and key (unknown key, wrong type, duplicate key, a list where a scalar is wanted, bad
 * YAML), scalars read by the key's type, the checks of the whole, the YAML dump loading back
 * the same, and an allocation-failure sweep. */
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
#include "config/config_int.h"
#include "sip/sip.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sip-config-XXXXXX");
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
    static char path[4][128];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    if (text) {
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
    }
    return p;
}

static int load(sip_config_t *cfg, const char *text, sip_parse_error_t *err)
{
    return sip_config_load_text(cfg, text, strlen(text), "test.yaml", err);
}

/* ---- defaults and every key ------------------------------------------------------------- */

/* The embedded defaults are sipd's (docs/SIPD.md lists them). */
static void config_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value;
    } want[] = {
        {"domains", "localhost"},
        {"users", ""},
        {"state", ""},
        {"mode", "stateful"},
        {"digest", "SHA-256,MD5"},
        {"store", ""},
        {"workers", "0"},
        {"script", ""},
        {"tls.cert", ""},
        {"tls.key", ""},
        {"tls.ca", ""},
        {"tls.verify_client", "none"},
        {"limits.max_connections", "1024"},
        {"limits.idle_timeout", "300"},
        {"limits.rate", "0"},
        {"limits.rate_window", "2"},
        {"limits.rate_block", "60"},
        {"limits.auth_failures", "10"},
        {"limits.auth_window", "600"},
        {"limits.auth_block", "900"},
        {"log.level", "notice"},
        {"log.requests", "false"},
        {"log.trace", "false"},
        {"metrics.listen", ""},
        {"shutdown.grace", "5"},
    };
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_CONFIG), 1);
    assert_int_equal(sip_config_count(cfg, "listen"), 2);
    assert_string_equal(sip_config_get(cfg, "listen", 0), "udp:127.0.0.1:5060");
    assert_string_equal(sip_config_get(cfg, "listen", 1), "tcp:127.0.0.1:5060");
    assert_null(sip_config_get(cfg, "listen", 2));
    assert_int_equal(sip_config_count(cfg, "limits.allow"), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(sip_config_count(cfg, want[i].key), 1);
        assert_string_equal(sip_config_get(cfg, want[i].key, 0), want[i].value);
    }
    assert_non_null(strstr(sip_config_get(cfg, "server_header", 0), "sipd (libsip/"));
    /* Every key is listed once, and the list ends. */
    size_t n = 0;
    while (sip_config_key_at(n))
        n++;
    assert_int_equal(n, sip__cfg_nkeys);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]) + 3); /* listen, allow, server_header */
    assert_int_equal(sip_config_count(cfg, "nope"), 0);
    assert_null(sip_config_get(cfg, "nope", 0));
    assert_int_equal(sip_config_check(cfg, NULL), 0);
    sip_config_unref(cfg);
}

static const char every_key[] = "# every key, none at its default\n"
                                "listen:\n"
                                "  - udp:[::1]:5070\n"
                                "  - \"tls:127.0.0.1:5071\"\n"
                                "  - ws:127.0.0.1:8080\n"
                                "domains: [example.com, 192.0.2.1]\n"
                                "users: USERS\n"
                                "state: STATE\n"
                                "store: redis://127.0.0.1:6379/2\n"
                                "workers: 3\n"
                                "mode: REDIRECT\n"
                                "digest: MD5\n"
                                "script: SCRIPT\n"
                                "server_header: no\n"
                                "tls:\n"
                                "  cert: CERT\n"
                                "  key: KEY\n"
                                "  ca: CA\n"
                                "  verify_client: optional\n"
                                "limits:\n"
                                "  max_connections: 64\n"
                                "  idle_timeout: 1.5\n"
                                "  rate: '20'\n"
                                "  rate_window: 250ms\n"
                                "  rate_block: 10s\n"
                                "  auth_failures: 3\n"
                                "  auth_window: 60\n"
                                "  auth_block: 120\n"
                                "  allow: [10.0.0.0/8, \"::1\", 2001:db8::/32]\n"
                                "log:\n"
                                "  level: debug\n"
                                "  requests: yes\n"
                                "  trace: On\n"
                                "metrics: {listen: \"[::1]:9090\"}\n"
                                "shutdown:\n"
                                "  grace: 0\n";

/* Every key from a file: lists, sections in block and flow style, YAML 1.1 booleans and
 * seconds in their three forms; a string `no` stays the text "no". */
static void config_every_key_from_yaml(void **state)
{
    (void)state;
    sip_config_t *cfg;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(load(cfg, every_key, &err), 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 3);
    assert_string_equal(sip_config_get(cfg, "listen", 0), "udp:[::1]:5070");
    assert_string_equal(sip_config_get(cfg, "listen", 1), "tls:127.0.0.1:5071");
    assert_string_equal(sip_config_get(cfg, "listen", 2), "ws:127.0.0.1:8080");
    assert_int_equal(sip_config_count(cfg, "domains"), 2);
    assert_string_equal(sip_config_get(cfg, "domains", 1), "192.0.2.1");
    assert_string_equal(sip_config_get(cfg, "users", 0), "USERS");
    assert_string_equal(sip_config_get(cfg, "state", 0), "STATE");
    assert_string_equal(sip_config_get(cfg, "mode", 0), "redirect"); /* enums without case */
    assert_string_equal(sip_config_get(cfg, "digest", 0), "MD5");
    assert_string_equal(sip_config_get(cfg, "script", 0), "SCRIPT");
    assert_string_equal(sip_config_get(cfg, "server_header", 0), "no");
    assert_string_equal(sip_config_get(cfg, "tls.cert", 0), "CERT");
    assert_string_equal(sip_config_get(cfg, "tls.key", 0), "KEY");
    assert_string_equal(sip_config_get(cfg, "tls.ca", 0), "CA");
    assert_string_equal(sip_config_get(cfg, "tls.verify_client", 0), "optional");
    assert_int_equal(sip__config_uint(cfg, "limits.max_connections"), 64);
    assert_int_equal(sip__config_ms(cfg, "limits.idle_timeout"), 1500);
    assert_int_equal(sip__config_uint(cfg, "limits.rate"), 20);
    assert_int_equal(sip__config_ms(cfg, "limits.rate_window"), 250);
    assert_int_equal(sip__config_ms(cfg, "limits.rate_block"), 10000);
    assert_int_equal(sip__config_uint(cfg, "limits.auth_failures"), 3);
    assert_int_equal(sip__config_ms(cfg, "limits.auth_window"), 60000);
    assert_int_equal(sip__config_ms(cfg, "limits.auth_block"), 120000);
    assert_int_equal(sip_config_count(cfg, "limits.allow"), 3);
    assert_string_equal(sip_config_get(cfg, "limits.allow", 2), "2001:db8::/32");
    assert_string_equal(sip_config_get(cfg, "log.level", 0), "debug");
    assert_string_equal(sip_config_get(cfg, "log.requests", 0), "true");
    assert_string_equal(sip_config_get(cfg, "log.trace", 0), "true");
    assert_string_equal(sip_config_get(cfg, "metrics.listen", 0), "[::1]:9090");
    assert_int_equal(sip__config_ms(cfg, "shutdown.grace"), 0);
    sip_config_unref(cfg);
}

/* A file sets only what it names; an empty file or document changes nothing; a later file
 * replaces a list as a whole. */
static void config_file_sets_only_its_keys(void **state)
{
    (void)state;
    sip_config_t *cfg;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(load(cfg, "", &err), 0);
    assert_int_equal(load(cfg, "# nothing\n---\n", &err), 0);
    assert_int_equal(load(cfg, "~\n", &err), 0);
    assert_int_equal(load(cfg, "log: {level: info}\nlisten: udp:127.0.0.1:5999\n", &err), 0);
    assert_string_equal(sip_config_get(cfg, "log.level", 0), "info");
    assert_string_equal(sip_config_get(cfg, "log.requests", 0), "false");
    assert_int_equal(sip_config_count(cfg, "listen"), 1); /* a lone value is a list of one */
    assert_string_equal(sip_config_get(cfg, "domains", 0), "localhost");
    assert_int_equal(load(cfg, "listen: []\nusers:\nlog:\n", &err), 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 0);
    assert_string_equal(sip_config_get(cfg, "users", 0), "");
    /* From a file on disk; a file that is not there is -ENOENT and names the file. */
    const char *p = file("a.yaml", "domains: [a.example, b.example]\n");
    assert_int_equal(sip_config_load(cfg, p, &err), 0);
    assert_int_equal(sip_config_count(cfg, "domains"), 2);
    assert_int_equal(sip_config_load(cfg, file("missing.yaml", NULL), &err), -2);
    assert_non_null(strstr(err.reason, "missing.yaml"));
    assert_int_equal(sip_config_load(cfg, dir, &err), -21); /* EISDIR */
    assert_non_null(strstr(err.reason, "Is a directory"));
    sip_config_unref(cfg);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Each error names the line and column of the node at fault, the key, and why; and a refused
 * file changes nothing. */
static void config_errors_name_line_and_key(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned line, column;
        const char *key, *reason;
    } cases[] = {
        {"log:\n  level: loud\n", 2, 10, "log.level", "wants one of error, warn, notice"},
        {"mode: stateful\nfoo: 1\n", 2, 1, "foo", "unknown key"},
        {"log:\n  colour: red\n", 2, 3, "log.colour", "unknown key"},
        {"limits:\n  rate: many\n", 2, 9, "limits.rate", "wants a whole number"},
        {"limits:\n  rate: -1\n", 2, 9, "limits.rate", "wants a whole number"},
        {"limits:\n  rate: 4294967296\n", 2, 9, "limits.rate", "wants a whole number"},
        {"shutdown:\n  grace: soon\n", 2, 10, "shutdown.grace", "wants a number of seconds"},
        {"shutdown:\n  grace: 1.2345\n", 2, 10, "shutdown.grace", "seconds"},
        {"log:\n  trace: maybe\n", 2, 10, "log.trace", "wants true or false"},
        {"users: [a, b]\n", 1, 8, "users", "wants a single value, not a list"},
        {"mode:\n  - stateful\n", 2, 3, "mode", "wants a single value, not a list"},
        {"digest: {a: 1}\n", 1, 9, "digest", "wants a single value, not a mapping"},
        {"listen: {udp: 1}\n", 1, 9, "listen", "wants a list of values, not a mapping"},
        {"listen:\n  - [udp:127.0.0.1:1]\n", 2, 5, "listen", "not of a list"},
        {"listen:\n  - udp:127.0.0.1:1\n  - sctp:127.0.0.1:2\n", 3, 5, "listen", "sctp"},
        {"listen: [\"udp:example.com:5060\"]\n", 1, 10, "listen", "the address an IP"},
        {"listen: [\"udp:127.0.0.1:70000\"]\n", 1, 10, "listen", "70000"},
        {"domains: [\"\"]\n", 1, 11, "domains", "wants a domain name"},
        {"domains: [\"a b\"]\n", 1, 11, "domains", "wants a domain name"},
        {"digest: MD4\n", 1, 9, "digest", "SHA-256, MD5 or both"},
        {"digest: \"SHA-256,\"\n", 1, 9, "digest", "SHA-256, MD5 or both"},
        {"limits:\n  allow: [10.0.0.0/33]\n", 2, 11, "limits.allow", "CIDR"},
        {"metrics:\n  listen: localhost:9090\n", 2, 11, "metrics.listen", "IP address"},
        {"metrics:\n  listen: 127.0.0.1\n", 2, 11, "metrics.listen", "address:port"},
        {"tls: on\n", 1, 6, "tls", "is a section"},
        {"store: http://127.0.0.1:6379\n", 1, 8, "store", "wants redis://host:port"},
        {"store: redis://127.0.0.1\n", 1, 8, "store", "wants redis://host:port"},
        {"store: redis://127.0.0.1:0\n", 1, 8, "store", "the port is 1 to 65535"},
        {"store: redis://127.0.0.1:6379/x\n", 1, 8, "store", "the database after / is a number"},
        {"workers: many\n", 1, 10, "workers", "wants a whole number"},
        {"log:\n  level: info\n  level: debug\n", 3, 3, "log.level",
         "duplicate key (first at line 2)"},
        {"mode: stateful\nlog: {}\nmode: stateless\n", 3, 1, "mode", "duplicate key"},
        {"log: {}\nlog: {}\n", 2, 1, "log", "duplicate key"},
        /* The dotted name and the section name the same key (found by fuzz_config). */
        {"tls:\n  ca: a.pem\ntls.ca: b.pem\n", 3, 1, "tls.ca", "set twice (first at line 2)"},
        {"log.level: info\nlog:\n  level: debug\n", 3, 3, "log.level",
         "set twice (first at line 1)"},
        {"server_header: \"a\\nb\"\n", 1, 16, "server_header", "control characters"},
        {"server_header: \"a\\0b\"\n", 1, 16, "server_header", "control characters"},
        {"[a]: 1\n", 1, 1, "", "a key is a name"},
        {"- listen\n", 1, 1, "", "wants a mapping of keys"},
        {"listen: [a\n", 2, 1, "", "did not find expected"},
        {"mode: stateful\n---\nmode: redirect\n", 2, 1, "", "one YAML document"},
        {"mode: 'x\n", 2, 1, "", "found unexpected end of stream"},
        {"\tmode: x\n", 1, 1, "", "cannot start any token"},
    };
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sip_parse_error_t err;
        int rc = load(cfg, cases[i].text, &err);
        if (rc != SIP_ECONFIG || err.line != cases[i].line || err.column != cases[i].column ||
            strcmp(err.header, cases[i].key) != 0 || !strstr(err.reason, cases[i].reason))
            fail_msg("case %zu (%s): rc %d line %u col %u key \"%s\" reason \"%s\"", i,
                     cases[i].text, rc, err.line, err.column, err.header, err.reason);
        assert_int_equal(err.code, SIP_ECONFIG);
        /* The reason is a whole line: the file's name, the position and the key first. */
        char head[96];
        snprintf(head, sizeof(head), "test.yaml:%u:%u: ", cases[i].line, cases[i].column);
        assert_memory_equal(err.reason, head, strlen(head));
        /* Nothing changed, though keys before the fault were good. */
        assert_string_equal(sip_config_get(cfg, "mode", 0), "stateful");
        assert_string_equal(sip_config_get(cfg, "log.level", 0), "notice");
        assert_int_equal(sip_config_count(cfg, "listen"), 2);
    }
    /* err may be NULL. */
    assert_int_equal(load(cfg, "foo: 1\n", NULL), SIP_ECONFIG);
    sip_config_unref(cfg);
}

/* Set, add and reset by key, checked as the file's values are. */
static void config_set_add_reset(void **state)
{
    (void)state;
    sip_config_t *cfg;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_set(cfg, "listen", "tcp:[::1]:5090", &err), 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 1);
    assert_int_equal(sip_config_add(cfg, "listen", "udp:[::1]:5090", &err), 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 2);
    assert_string_equal(sip_config_get(cfg, "listen", 1), "udp:[::1]:5090");
    assert_int_equal(sip_config_add(cfg, "listen", "udp:nowhere", &err), SIP_ECONFIG);
    assert_string_equal(err.header, "listen");
    assert_int_equal(err.line, 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 2);
    assert_int_equal(sip_config_add(cfg, "mode", "stateless", &err), SIP_ECONFIG);
    assert_non_null(strstr(err.reason, "not a list"));
    assert_int_equal(sip_config_set(cfg, "nope", "1", &err), SIP_ECONFIG);
    assert_string_equal(err.header, "nope");
    assert_string_equal(err.reason, "nope: unknown key");
    assert_int_equal(sip_config_set(cfg, "users", "caf\xe9", &err), SIP_ECONFIG); /* Latin-1 */
    assert_non_null(strstr(err.reason, "UTF-8"));
    assert_int_equal(sip_config_set(cfg, "users", "\xed\xa0\x80", &err), SIP_ECONFIG);
    assert_int_equal(sip_config_set(cfg, "users", "\xc0\xaf", &err), SIP_ECONFIG);
    assert_int_equal(sip_config_set(cfg, "users", "caf\xc3\xa9 \xf0\x9f\x93\x9e", &err), 0);
    assert_int_equal(sip_config_set(cfg, "log.requests", "ON", NULL), 0);
    assert_string_equal(sip_config_get(cfg, "log.requests", 0), "true");
    assert_int_equal(sip_config_set(cfg, "log.level", "Info", NULL), 0);
    assert_string_equal(sip_config_get(cfg, "log.level", 0), "info");
    assert_int_equal(sip_config_set(cfg, "log.level", "loud", NULL), SIP_ECONFIG);
    assert_string_equal(sip_config_get(cfg, "log.level", 0), "info");
    assert_int_equal(sip_config_reset(cfg, "log.level"), 0);
    assert_string_equal(sip_config_get(cfg, "log.level", 0), "notice");
    assert_int_equal(sip_config_reset(cfg, "listen"), 0);
    assert_int_equal(sip_config_count(cfg, "listen"), 0);
    assert_int_equal(sip_config_reset(cfg, "nope"), SIP_ECONFIG);
    assert_int_equal(sip_config_set(NULL, "mode", "x", NULL), SIP_EINVAL);
    assert_int_equal(sip_config_set(cfg, NULL, "x", NULL), SIP_EINVAL);
    assert_int_equal(sip_config_set(cfg, "mode", NULL, NULL), SIP_EINVAL);
    /* A clone is a copy: changing one leaves the other. */
    sip_config_t *copy;
    assert_int_equal(sip_config_clone(&copy, cfg), 0);
    assert_int_equal(sip_config_set(copy, "mode", "redirect", NULL), 0);
    assert_string_equal(sip_config_get(cfg, "mode", 0), "stateful");
    assert_int_equal(sip_live_count(SIP_LIVE_CONFIG), 2);
    sip_config_unref(copy);
    assert_ptr_equal(sip_config_ref(cfg), cfg);
    sip_config_unref(cfg);
    sip_config_unref(cfg);
    sip_config_unref(NULL);
}

/* The checks of the whole name the key at fault (line 0). */
static void config_check_names_the_key(void **state)
{
    (void)state;
    const char *pem = file("x.pem", "not really\n"), *users = file("users", "");
    static const struct {
        const char *key, *value, *want_key, *reason;
    } cases[] = {
        {"tls.cert", "CERT", "tls.key", "go together"},
        {"tls.key", "CERT", "tls.cert", "go together"},
        {"listen", "tls:127.0.0.1:5061", "listen", "needs tls.cert and tls.key"},
        {"listen", "wss:127.0.0.1:5061", "listen", "needs tls.cert and tls.key"},
        {"users", "/nonexistent/users", "users", "No such file"},
        {"users", "/", "users", "directory"},
        {"tls.ca", "/nonexistent/ca.pem", "tls.ca", "cannot read"},
        {"script", "USERS", "script", "ends in .py or .lua"},
        {"script", "/nonexistent/route.py", "script", "cannot read"},
        {"state", "USERS", "state", "not a directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sip_config_t *cfg;
        sip_parse_error_t err;
        assert_int_equal(sip_config_create(&cfg), 0);
        const char *v = strcmp(cases[i].value, "CERT") == 0    ? pem
                        : strcmp(cases[i].value, "USERS") == 0 ? users
                                                               : cases[i].value;
        assert_int_equal(sip_config_set(cfg, cases[i].key, v, NULL), 0);
        int rc = sip_config_check(cfg, &err);
        if (rc != SIP_ECONFIG || strcmp(err.header, cases[i].want_key) != 0 ||
            !strstr(err.reason, cases[i].reason) || err.line != 0)
            fail_msg("case %zu: rc %d key \"%s\" reason \"%s\"", i, rc, err.header, err.reason);
        sip_config_unref(cfg);
    }
    /* No listening point, no domain. */
    sip_config_t *cfg;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_reset(cfg, "listen"), 0);
    assert_int_equal(sip_config_check(cfg, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "listen");
    assert_int_equal(sip_config_set(cfg, "listen", "udp:127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_reset(cfg, "domains"), 0);
    assert_int_equal(sip_config_check(cfg, &err), SIP_ECONFIG);
    assert_string_equal(err.header, "domains");
    /* Good: TLS files together, a readable users file, a .py script. */
    const char *script = file("route.py", "def route(req): pass\n");
    assert_int_equal(sip_config_add(cfg, "domains", "example.com", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "tls.cert", pem, NULL), 0);
    assert_int_equal(sip_config_set(cfg, "tls.key", pem, NULL), 0);
    assert_int_equal(sip_config_add(cfg, "listen", "tls:127.0.0.1:0", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "users", users, NULL), 0);
    assert_int_equal(sip_config_set(cfg, "script", script, NULL), 0);
    assert_int_equal(sip_config_set(cfg, "state", dir, NULL), 0);
    assert_int_equal(sip_config_check(cfg, &err), 0);
    sip_config_unref(cfg);
}

/* ---- the dump ------------------------------------------------------------------------------- */

static void assert_same(const sip_config_t *a, const sip_config_t *b)
{
    for (size_t i = 0; sip_config_key_at(i); i++) {
        const char *k = sip_config_key_at(i);
        assert_int_equal(sip_config_count(a, k), sip_config_count(b, k));
        for (size_t j = 0; j < sip_config_count(a, k); j++)
            assert_string_equal(sip_config_get(a, k, j), sip_config_get(b, k, j));
    }
}

/* What sip_config_format() writes loads back the same, awkward strings included; a buffer too
 * small gets the length needed, as snprintf. */
static void config_format_round_trip(void **state)
{
    (void)state;
    sip_config_t *cfg, *back;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(load(cfg, every_key, &err), 0);
    assert_int_equal(sip_config_set(cfg, "server_header", "a \"quoted\" \\ # : - [x] {y} é", NULL),
                     0);
    assert_int_equal(sip_config_set(cfg, "users", "no", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "state", "~", NULL), 0);
    assert_int_equal(sip_config_reset(cfg, "limits.allow"), 0);
    char buf[8192];
    int n = sip_config_format(cfg, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_int_equal(strlen(buf), (size_t)n);
    assert_non_null(strstr(buf, "log:\n  level: \"debug\"\n"));
    assert_non_null(strstr(buf, "  allow: []\n"));
    assert_int_equal(sip_config_create(&back), 0);
    if (load(back, buf, &err) != 0) fail_msg("%s\n%s", err.reason, buf);
    assert_same(cfg, back);
    sip_config_unref(back);
    /* The defaults too. */
    sip_config_t *def;
    assert_int_equal(sip_config_create(&def), 0);
    n = sip_config_format(def, buf, sizeof(buf));
    assert_int_equal(load(cfg, buf, &err), 0);
    assert_same(cfg, def);
    /* Too small: truncated and terminated, the full length returned. */
    char small[16];
    assert_int_equal(sip_config_format(def, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(sip_config_format(def, NULL, 0), n);
    sip_config_unref(def);
    sip_config_unref(cfg);
}

/* The sample configuration that is installed loads, checks and is the defaults. */
static void config_sample_is_the_defaults(void **state)
{
    (void)state;
    sip_config_t *cfg, *def;
    sip_parse_error_t err;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_create(&def), 0);
    int rc = sip_config_load(cfg, SIP_SOURCE_DIR "/tools/sipd/sipd.yaml", &err);
    if (rc) fail_msg("%s", err.reason);
    assert_int_equal(sip_config_check(cfg, &err), 0);
    assert_same(cfg, def);
    sip_config_unref(def);
    sip_config_unref(cfg);
}

/* ---- allocation failures -------------------------------------------------------------------- */

static void config_alloc_failure_sweep(void **state)
{
    (void)state;
    for (long n = 1;; n++) {
        sip_config_t *cfg = NULL, *copy = NULL;
        sip_parse_error_t err;
        test_alloc_fail_at(n);
        int rc = sip_config_create(&cfg);
        if (rc == 0) rc = load(cfg, every_key, &err);
        if (rc == 0) rc = sip_config_set(cfg, "mode", "stateless", &err);
        if (rc == 0) rc = sip_config_add(cfg, "domains", "c.example", &err);
        if (rc == 0) rc = sip_config_reset(cfg, "digest");
        if (rc == 0) rc = sip_config_clone(&copy, cfg);
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        sip_config_unref(copy);
        sip_config_unref(cfg);
        assert_int_equal(sip_live_count(SIP_LIVE_CONFIG), 0);
        if (!fired) {
            assert_int_equal(rc, 0);
            break;
        }
        if (rc != SIP_ENOMEM) fail_msg("allocation %ld: %d", n, rc);
        assert_true(n < 10000);
    }
    /* A failed load changes nothing, whichever allocation failed. */
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    for (long n = 1;; n++) {
        test_alloc_fail_at(n);
        int rc = load(cfg, "mode: redirect\nlisten: [udp:127.0.0.1:1, udp:127.0.0.1:2]\n", NULL);
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!fired) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, SIP_ENOMEM);
        assert_string_equal(sip_config_get(cfg, "mode", 0), "stateful");
        assert_int_equal(sip_config_count(cfg, "listen"), 2);
        assert_string_equal(sip_config_get(cfg, "listen", 0), "udp:127.0.0.1:5060");
    }
    assert_string_equal(sip_config_get(cfg, "mode", 0), "redirect");
    sip_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults),
        cmocka_unit_test(config_every_key_from_yaml),
        cmocka_unit_test(config_file_sets_only_its_keys),
        cmocka_unit_test(config_errors_name_line_and_key),
        cmocka_unit_test(config_set_add_reset),
        cmocka_unit_test(config_check_names_the_key),
        cmocka_unit_test(config_format_round_trip),
        cmocka_unit_test(config_sample_is_the_defaults),
        cmocka_unit_test(config_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
