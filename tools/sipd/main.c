/* SPDX-License-Identifier: MIT */
/* sipd: a registrar, location service and proxy (RFC 3261 §10.3, §16), the sip_server_t of
 * libsip (sip/server.h) run from a configuration file and a command line. This file reads
 * both, maps the signals (SIGHUP reloads, SIGTERM and SIGINT shut down cleanly) and starts the
 * routing script (script.h) or the demo (demo.h) when asked. With several workers it runs the
 * parent (workers.c) or, started by it with the internal flags, one worker process. `sipd
 * passwd` is passwd.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sip/sip.h>

#include "demo.h"
#include "script.h"
#include "sipd.h"
#include "workers.h"

#define MAX_FLAGS 128
#define STATE_FILE "location.sqlite"

void sipd_usage(FILE *f)
{
    fprintf(
        f, "usage: sipd [-c FILE] [--listen SPEC]... [--domain D]... [--users FILE]\n"
           "            [--state DIR | --store URL] [--stateless | --redirect]\n"
           "            [--script FILE] [--workers N] [-v]...\n"
           "       sipd --check-config [-c FILE] [options]\n"
           "       sipd passwd FILE USER [--realm R]\n"
           "\n"
           "Runs a registrar, a location service and a proxy (RFC 3261 10.3, 16) with the\n"
           "default routing: a REGISTER for one of our domains is authenticated against\n"
           "--users (digest, 401) and saved; a request for a registered address of record\n"
           "is forked to its contacts by q (or redirected with 302, --redirect), 404 when\n"
           "there is none (for a user of --users too: users cannot be told from unknown\n"
           "names); a request for another domain is forwarded (RFC 3263) only for a sender\n"
           "that authenticates as one of our users (407), never for anyone else; a request\n"
           "inside a dialog that sipd record-routed follows its Route. A routing script\n"
           "(--script) replaces the default routing. Runs until SIGINT or SIGTERM; SIGHUP\n"
           "reloads.\n"
           "\n"
           "The configuration is the embedded defaults, then the file of -c (YAML; the keys\n"
           "are in docs/SIPD.md), then the flags: a flag overrides the file, and a flag that\n"
           "repeats (--listen, --domain, --allow) replaces the file's whole list.\n"
           "\n"
           "  -c, --config FILE   read the configuration file (YAML)\n"
           "      --check-config  load and check the configuration and the flags, print \"ok\"\n"
           "                      or the error (file:line:column: key: reason), and exit\n"
           "  -l, --listen SPEC   listening point (listen): udp:127.0.0.1:5060,\n"
           "                      tcp:[::1]:5060, tls:127.0.0.1:5061, ws:127.0.0.1:8080,\n"
           "                      wss:... (repeat; default udp:127.0.0.1:" DEFAULT_PORT " and\n"
           "                      tcp:127.0.0.1:" DEFAULT_PORT ")\n"
           "  -d, --domain D      a domain we are the registrar and proxy for (domains;\n"
           "                      repeat; the first is the digest realm and has the\n"
           "                      listening addresses as aliases; default \"" DEFAULT_DOMAIN "\")\n"
           "  -u, --users FILE    the users and their HA1 hashes (\"user:realm:algorithm:ha1\"\n"
           "                      lines, MD5 and SHA-256, as `sipd passwd` writes them);\n"
           "                      without it registrations are not authenticated and nothing\n"
           "                      is forwarded outside our domains\n"
           "  -s, --state DIR     keep the bindings in DIR/" STATE_FILE " (SQLite; created when\n"
           "                      missing) so that they survive a restart; default: memory\n"
           "      --store URL     keep the bindings on Redis, redis://HOST:PORT[/DB] (store),\n"
           "                      shared with every sipd using it; excludes --state\n"
           "      --stateless     forward without transactions (RFC 3261 16.11): no forking,\n"
           "                      a registered AOR goes to its best contact (mode)\n"
           "      --redirect      answer requests for registered AORs with 302 and their\n"
           "                      contacts rather than proxying them (mode)\n"
           "      --digest ALGS   the digest algorithms challenged with, strongest first:\n"
           "                      SHA-256, MD5 or both comma-separated (default SHA-256,MD5;\n"
           "                      MD5 alone for UAs that stop at a challenge they do not\n"
           "                      know, such as sipsak)\n"
           "      --tls-cert FILE PEM certificate chain for tls: and wss: listening points\n"
           "      --tls-key FILE  PEM private key for them\n"
           "      --tls-ca FILE   PEM CA bundle for verifying peers and client certificates\n"
           "      --script FILE   route every request with FILE's route(req) (.py or .lua)\n"
           "      --metrics ADDR  serve the counters at http://ADDR/metrics (127.0.0.1:9090)\n"
           "      --workers N     worker processes sharing the listening points (workers;\n"
           "                      0, the default: one per core; 1: a single process)\n"
           "      --allow CIDR    an address the rate and authentication limits never block\n"
           "                      (limits.allow; repeat)\n"
           "      --log-level L   error, warn, notice (default), info or debug\n"
           "      --log-requests  one line per request at info when it ends\n"
           "      --trace         log every message sent and received\n"
           "      --demo          two user agents register and call each other through\n"
           "                      this sipd; the call's ladder is printed\n"
           "      --pid-file FILE write the process id into FILE (removed at exit)\n"
           "  -v, --verbose       log the listening points, each request routed and the\n"
           "                      library's notices (log.level info); twice: every message\n"
           "                      sent and received (log.trace)\n"
           "  -h, --help          this text\n"
           "      --version       print the version\n"
           "\n"
           "Signals: SIGHUP reads the configuration file again, applies the flags over it\n"
           "and reloads the server and the script without dropping calls, transactions or\n"
           "registrations (a configuration or script that is refused is logged and the old\n"
           "one keeps running); SIGTERM and SIGINT answer new requests 503, give pending\n"
           "transactions shutdown.grace seconds, commit the bindings and exit.\n"
           "\n"
           "sipd passwd FILE USER [--realm R] reads USER's password from standard input (the\n"
           "first line) and writes its MD5 and SHA-256 HA1 for realm R (default \"" DEFAULT_DOMAIN
           "\")\n"
           "into FILE, creating it (mode 0600) or replacing USER's lines in it.\n"
           "\n"
           "Exit status: 0 after SIGINT or SIGTERM (the bindings flushed to --state), for\n"
           "--help, --version, a --check-config that found the configuration good, a --demo\n"
           "whose call succeeded and a passwd that wrote FILE; 1 on a runtime failure (a\n"
           "listening point that cannot be opened, an unreadable or malformed --users file,\n"
           "a --state directory or database that cannot be used, a script that does not\n"
           "load, a demo call that failed, FILE not written); 2 for a usage error: a bad\n"
           "flag, or a configuration file that does not load or (--check-config) does not\n"
           "pass the checks.\n");
}

/* ---- the configuration: file, then flags --------------------------------------------------- */

/* One flag that sets a key (applied over the file, at start and at each SIGHUP). */
typedef struct flag {
    const char *key, *value, *name;
} flag_t;

typedef struct sipd {
    const char *config_file;
    flag_t flags[MAX_FLAGS];
    int nflags;
    int verbose;
    int demo;
    const char *pid_file;
    sip_loop_t *loop;
    sip_server_t *srv;
    sipd_script_t *script;
    sipd_demo_t *demo_run;
    int demo_ok;
    sip_signal_t *sighup, *sigint, *sigterm;
    int signalled;
    int stopping;
    size_t bindings; /* when the shutdown began */
    /* A worker process (started by the parent with the internal flags), else -1. */
    int worker_index, worker_link, worker_control;
    sip_worker_t *worker;
    sipd_control_t *control;
} sipd_t;

static int add_flag(sipd_t *d, const char *key, const char *value, const char *name)
{
    if (d->nflags == MAX_FLAGS) {
        fprintf(stderr, "sipd: too many flags\n");
        return -1;
    }
    d->flags[d->nflags++] = (flag_t){key, value, name};
    return 0;
}

/* The flag that set key, for messages ("--state"); NULL when the file did. */
static const char *flag_of(const sipd_t *d, const char *key)
{
    for (int i = d->nflags - 1; i >= 0; i--)
        if (strcmp(d->flags[i].key, key) == 0) return d->flags[i].name;
    return NULL;
}

static void print_error(const sipd_t *d, const sip_parse_error_t *err)
{
    const char *flag = err->line ? NULL : flag_of(d, err->header);
    fprintf(stderr, "sipd: %s%s%s\n", flag ? flag : "", flag ? ": " : "", err->reason);
}

/* The defaults, the file, the flags. Usage errors (a file that does not load, a bad flag
 * value) return EXIT_USAGE with the reason in why. */
static int build_config(sipd_t *d, sip_config_t **out, char *why, size_t size)
{
    sip_config_t *cfg = NULL;
    sip_parse_error_t err;
    *out = NULL;
    int rc = sip_config_create(&cfg);
    if (rc) {
        snprintf(why, size, "%s", sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    if (d->config_file) {
        rc = sip_config_load(cfg, d->config_file, &err);
        if (rc) {
            if (rc == SIP_ECONFIG || err.reason[0])
                snprintf(why, size, "%s", err.reason);
            else
                snprintf(why, size, "%s: %s", d->config_file, sip_strerror(rc));
            sip_config_unref(cfg);
            return EXIT_USAGE;
        }
    }
    /* A list flag replaces the file's whole list: the first of its kind empties it. */
    for (int i = 0; i < d->nflags; i++) {
        const flag_t *f = &d->flags[i];
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(d->flags[j].key, f->key) == 0) first = 0;
        int list = strcmp(f->key, "listen") == 0 || strcmp(f->key, "domains") == 0 ||
                   strcmp(f->key, "limits.allow") == 0;
        if (list && first) sip_config_reset(cfg, f->key);
        rc = list ? sip_config_add(cfg, f->key, f->value, &err)
                  : sip_config_set(cfg, f->key, f->value, &err);
        if (rc) {
            snprintf(why, size, "%s: %s", f->name, err.reason);
            sip_config_unref(cfg);
            return EXIT_USAGE;
        }
    }
    *out = cfg;
    return EXIT_CLEAN;
}

/* ---- logging ------------------------------------------------------------------------------- */

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)user;
    fprintf(stderr, "sipd %s %s: %s\n", sip_log_level_name(level), module, text);
}

/* sipd's own lines about what it does (reloads, shutdown): shown unless log.level is error or
 * warn. */
static void notice(sipd_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(sipd_t *d, const char *fmt, ...)
{
    const sip_config_t *cfg = d->srv ? sip_server_get_config(d->srv) : NULL;
    const char *lvl = cfg ? sip_config_get(cfg, "log.level", 0) : "notice";
    if (lvl && (strcmp(lvl, "error") == 0 || strcmp(lvl, "warn") == 0)) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sipd notice sipd: %s\n", buf);
}

static const char *addr_str(char buf[80], sip_transport_type_t t, const char *ip, uint16_t port)
{
    int v6 = strchr(ip, ':') != NULL;
    snprintf(buf, 80, "%s:%s%s%s:%u", sip_transport_param(t), v6 ? "[" : "", ip, v6 ? "]" : "",
             port);
    return buf;
}

/* -v without a script: one line per request routed, then the default routing decides. */
static void on_route_verbose(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    sipd_t *d = user;
    const sip_msg_t *msg = sip_proxy_req_get_msg(req);
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    const sip_uri_t *ruri = sip_msg_get_uri(msg);
    sip_str_t m = sip_msg_get_method_str(msg);
    sip_str_t u = ruri ? ruri->raw : (sip_str_t){"", 0};
    char a[80] = "";
    if (ni) addr_str(a, ni->transport, ni->remote_ip, ni->remote_port);
    sip_log(d->loop, SIP_LOG_INFO, "sipd", "%.*s %.*s from %s%s", (int)m.len, m.ptr, (int)u.len,
            u.ptr, a, sip_proxy_req_routed(req) ? " (routed)" : "");
    sip_proxy_route_default(req);
}

/* ---- signals ------------------------------------------------------------------------------- */

static void on_shutdown_done(sip_server_t *srv, void *user)
{
    (void)srv;
    sipd_t *d = user;
    sip_loop_stop(d->loop);
}

static void on_stop_signal(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    sipd_t *d = user;
    d->signalled = signum;
    if (d->stopping) {
        /* A second signal: no more grace. */
        sip_server_close(d->srv);
        sip_loop_stop(d->loop);
        return;
    }
    d->stopping = 1;
    sip_location_t *loc = sip_server_get_location(d->srv);
    d->bindings = loc ? sip_location_count(loc) : 0;
    uint32_t grace_ms = 5000;
    const char *g = sip_config_get(sip_server_get_config(d->srv), "shutdown.grace", 0);
    if (g) {
        double s = strtod(g, NULL);
        size_t n = strlen(g);
        grace_ms = n > 2 && strcmp(g + n - 2, "ms") == 0 ? (uint32_t)s : (uint32_t)(s * 1000);
    }
    notice(d, "signal %d: shutting down (%u ms grace)", signum, grace_ms);
    if (sip_server_shutdown(d->srv, grace_ms, on_shutdown_done, d) != 0) sip_loop_stop(d->loop);
}

static void on_hup(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    (void)signum;
    sipd_t *d = user;
    if (d->stopping) return;
    sip_config_t *cfg = NULL;
    char why[512];
    if (build_config(d, &cfg, why, sizeof(why)) != EXIT_CLEAN) {
        fprintf(stderr, "sipd: reload refused: %s; the old configuration keeps running\n", why);
        return;
    }
    sip_parse_error_t err;
    int rc = sip_server_reload(d->srv, cfg, &err);
    if (rc) {
        fprintf(stderr, "sipd: reload refused: %s; the old configuration keeps running\n",
                rc == SIP_ECONFIG ? err.reason : sip_strerror(rc));
        sip_config_unref(cfg);
        return;
    }
    const char *script = sip_config_get(cfg, "script", 0);
    if (d->script && script && *script) {
        why[0] = '\0';
        if (sipd_script_reload(d->script, script, why, sizeof(why)) != 0)
            fprintf(stderr, "sipd: script reload refused: %s; the old script keeps running\n", why);
    } else if (!d->script != !(script && *script)) {
        /* The host of a script is made at start (it may own the loop: sipd_script_run()). */
        fprintf(stderr, "sipd: script: %s a script needs a restart; %s\n",
                d->script ? "removing" : "adding",
                d->script ? "the script keeps routing" : "the default routing goes on");
    }
    sip_transport_t *tp = sip_server_get_transport(d->srv);
    size_t live = 0;
    for (size_t i = 0; i < sip_transport_listener_count(tp); i++) {
        sip_netinfo_t ni;
        if (sip_transport_listener_info(tp, i, &ni) == 0 && ni.transport) live++;
    }
    notice(d, "reloaded: %zu domains, %zu users, %zu listening points",
           sip_config_count(cfg, "domains"),
           sip_server_get_users(d->srv) ? sip_userdb_count(sip_server_get_users(d->srv)) : 0, live);
    sip_config_unref(cfg);
}

/* ---- demo ---------------------------------------------------------------------------------- */

static void on_demo_done(int ok, void *user)
{
    sipd_t *d = user;
    d->demo_ok = ok;
    if (!d->stopping) {
        d->stopping = 1;
        if (sip_server_shutdown(d->srv, 0, on_shutdown_done, d) != 0) sip_loop_stop(d->loop);
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

static void teardown(sipd_t *d)
{
    sipd_demo_close(d->demo_run);
    d->demo_run = NULL;
    if (d->script) sipd_script_close(d->script);
    d->script = NULL;
    sip_signal_unref(d->sighup);
    sip_signal_unref(d->sigint);
    sip_signal_unref(d->sigterm);
    sip_server_close(d->srv);
    sip_server_unref(d->srv);
    d->srv = NULL;
    sipd_control_close(d->control);
    d->control = NULL;
    if (d->worker) {
        sip_worker_close(d->worker);
        sip_worker_unref(d->worker);
    }
    d->worker = NULL;
    sip_loop_unref(d->loop);
    d->loop = NULL;
    if (d->pid_file) unlink(d->pid_file);
}

/* The configuration again, for the parent's SIGHUP. */
static int rebuild(void *user, sip_config_t **out, char *why, size_t size)
{
    return build_config(user, out, why, size);
}

/* A worker's parent has gone: the worker ends as at SIGTERM. */
static void on_parent_gone(void *user)
{
    sipd_t *d = user;
    if (!d->stopping) on_stop_signal(NULL, SIGTERM, d);
}

/* A number flag of the internal ones. */
static int fd_arg(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1024) return -1;
    *out = (int)v;
    return 0;
}

static void print_started(sipd_t *d, const sip_config_t *cfg, FILE *out)
{
    sip_transport_t *tp = sip_server_get_transport(d->srv);
    size_t n = sip_transport_listener_count(tp);
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t ni;
        char a[80];
        if (sip_transport_listener_info(tp, i, &ni) == 0)
            fprintf(out, "listening on %s\n",
                    addr_str(a, ni.transport, ni.local_ip, ni.local_port));
    }
    fprintf(out, "domain %s (realm)", sip_config_get(cfg, "domains", 0));
    for (size_t i = 1; i < sip_config_count(cfg, "domains"); i++)
        fprintf(out, ", %s", sip_config_get(cfg, "domains", i));
    sip_userdb_t *users = sip_server_get_users(d->srv);
    const char *state = sip_config_get(cfg, "state", 0), *mode = sip_config_get(cfg, "mode", 0);
    char db[4200];
    snprintf(db, sizeof(db), "%s/" STATE_FILE, state);
    fprintf(out, "; %zu users%s; %s; %zu bindings; %s\n", users ? sip_userdb_count(users) : 0,
            users ? "" : " (registrations not authenticated)",
            *sip_config_get(cfg, "store", 0) ? sip_config_get(cfg, "store", 0)
            : *state                         ? db
                                             : "bindings in memory",
            sip_location_count(sip_server_get_location(d->srv)),
            strcmp(mode, "redirect") == 0 ? "redirecting" : mode);
    sip_metrics_t *m = sip_server_get_metrics(d->srv);
    if (m) {
        /* The address as configured, with the port chosen for port 0. */
        const char *ml = sip_config_get(cfg, "metrics.listen", 0);
        const char *colon = strrchr(ml, ':');
        fprintf(out, "metrics on http://%.*s:%u/metrics\n", (int)(colon ? colon - ml : 0), ml,
                sip_metrics_get_port(m));
    }
    fflush(out);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "passwd") == 0) return sipd_passwd(argc - 1, argv + 1);
    enum {
        OPT_STATELESS = 256,
        OPT_REDIRECT,
        OPT_DIGEST,
        OPT_CERT,
        OPT_KEY,
        OPT_CA,
        OPT_VERSION,
        OPT_CHECK,
        OPT_SCRIPT,
        OPT_METRICS,
        OPT_ALLOW,
        OPT_LOG_LEVEL,
        OPT_LOG_REQUESTS,
        OPT_TRACE,
        OPT_DEMO,
        OPT_PID_FILE,
        OPT_WORKERS,
        OPT_WORKER_INDEX,
        OPT_WORKER_LINK,
        OPT_WORKER_CONTROL,
        OPT_WORKER_LISTEN,
        OPT_STORE,
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"listen", required_argument, NULL, 'l'},
        {"domain", required_argument, NULL, 'd'},
        {"users", required_argument, NULL, 'u'},
        {"state", required_argument, NULL, 's'},
        {"stateless", no_argument, NULL, OPT_STATELESS},
        {"redirect", no_argument, NULL, OPT_REDIRECT},
        {"digest", required_argument, NULL, OPT_DIGEST},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"tls-ca", required_argument, NULL, OPT_CA},
        {"script", required_argument, NULL, OPT_SCRIPT},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"allow", required_argument, NULL, OPT_ALLOW},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-requests", no_argument, NULL, OPT_LOG_REQUESTS},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"pid-file", required_argument, NULL, OPT_PID_FILE},
        {"store", required_argument, NULL, OPT_STORE},
        {"workers", required_argument, NULL, OPT_WORKERS},
        /* Internal: what the parent gives a worker process (docs/SIPD.md, "Workers"). */
        {"worker-index", required_argument, NULL, OPT_WORKER_INDEX},
        {"worker-link", required_argument, NULL, OPT_WORKER_LINK},
        {"worker-control", required_argument, NULL, OPT_WORKER_CONTROL},
        {"worker-listen", required_argument, NULL, OPT_WORKER_LISTEN},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    static sipd_t d;
    d.worker_index = d.worker_link = d.worker_control = -1;
    int check = 0, c, rc = 0, mode_flags = 0, worker_listen = 0;
    while ((c = getopt_long(argc, argv, "c:l:d:u:s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': d.config_file = optarg; break;
        case OPT_CHECK: check = 1; break;
        case 'l': rc = add_flag(&d, "listen", optarg, "--listen"); break;
        case 'd':
            if (!*optarg) {
                fprintf(stderr, "sipd: --domain wants a name\n");
                return EXIT_USAGE;
            }
            rc = add_flag(&d, "domains", optarg, "--domain");
            break;
        case 'u': rc = add_flag(&d, "users", optarg, "--users"); break;
        case 's':
            if (!*optarg) {
                fprintf(stderr, "sipd: --state wants a directory\n");
                return EXIT_USAGE;
            }
            rc = add_flag(&d, "state", optarg, "--state");
            break;
        case OPT_STORE: rc = add_flag(&d, "store", optarg, "--store"); break;
        case OPT_STATELESS:
            mode_flags++;
            rc = add_flag(&d, "mode", "stateless", "--stateless");
            break;
        case OPT_REDIRECT:
            mode_flags++;
            rc = add_flag(&d, "mode", "redirect", "--redirect");
            break;
        case OPT_DIGEST: rc = add_flag(&d, "digest", optarg, "--digest"); break;
        case OPT_CERT: rc = add_flag(&d, "tls.cert", optarg, "--tls-cert"); break;
        case OPT_KEY: rc = add_flag(&d, "tls.key", optarg, "--tls-key"); break;
        case OPT_CA: rc = add_flag(&d, "tls.ca", optarg, "--tls-ca"); break;
        case OPT_SCRIPT: rc = add_flag(&d, "script", optarg, "--script"); break;
        case OPT_METRICS: rc = add_flag(&d, "metrics.listen", optarg, "--metrics"); break;
        case OPT_ALLOW: rc = add_flag(&d, "limits.allow", optarg, "--allow"); break;
        case OPT_LOG_LEVEL: rc = add_flag(&d, "log.level", optarg, "--log-level"); break;
        case OPT_LOG_REQUESTS: rc = add_flag(&d, "log.requests", "true", "--log-requests"); break;
        case OPT_TRACE: rc = add_flag(&d, "log.trace", "true", "--trace"); break;
        case OPT_DEMO: d.demo = 1; break;
        case OPT_PID_FILE: d.pid_file = optarg; break;
        case OPT_WORKERS: rc = add_flag(&d, "workers", optarg, "--workers"); break;
        case OPT_WORKER_INDEX: rc = fd_arg(optarg, &d.worker_index); break;
        case OPT_WORKER_LINK: rc = fd_arg(optarg, &d.worker_link); break;
        case OPT_WORKER_CONTROL: rc = fd_arg(optarg, &d.worker_control); break;
        case OPT_WORKER_LISTEN:
            worker_listen = 1;
            rc = add_flag(&d, "listen", optarg, "--worker-listen");
            break;
        case 'v':
            d.verbose++;
            rc = add_flag(&d, "log.level", "info", "--verbose");
            if (d.verbose > 1 && rc == 0) rc = add_flag(&d, "log.trace", "true", "--verbose");
            break;
        case 'h': sipd_usage(stdout); return EXIT_CLEAN;
        case OPT_VERSION: printf("sipd " SIPD_VERSION "\n"); return EXIT_CLEAN;
        default: sipd_usage(stderr); return EXIT_USAGE;
        }
        if (rc) return EXIT_USAGE;
    }
    if (optind != argc) {
        fprintf(stderr, "sipd: unexpected argument '%s'\n", argv[optind]);
        sipd_usage(stderr);
        return EXIT_USAGE;
    }
    if (worker_listen) {
        /* The listening points worker 0 opened (a port 0 given its port) replace the others. */
        int n = 0;
        for (int i = 0; i < d.nflags; i++)
            if (strcmp(d.flags[i].key, "listen") != 0 ||
                strcmp(d.flags[i].name, "--worker-listen") == 0)
                d.flags[n++] = d.flags[i];
        d.nflags = n;
    }
    int internal = (d.worker_index >= 0) + (d.worker_link >= 0) + (d.worker_control >= 0);
    if (internal != 0 && internal != 3) {
        fprintf(stderr, "sipd: --worker-index, --worker-link and --worker-control go together\n");
        return EXIT_USAGE;
    }
    if (mode_flags > 1) {
        fprintf(stderr, "sipd: --stateless and --redirect exclude each other\n");
        return EXIT_USAGE;
    }
    if (!flag_of(&d, "tls.cert") != !flag_of(&d, "tls.key") && !d.config_file) {
        fprintf(stderr, "sipd: --tls-cert and --tls-key go together\n");
        return EXIT_USAGE;
    }

    sip_config_t *cfg = NULL;
    char why[512];
    rc = build_config(&d, &cfg, why, sizeof(why));
    if (rc) {
        fprintf(stderr, "sipd: %s\n", why);
        return rc;
    }
    const char *nw = sip_config_get(cfg, "workers", 0);
    if (nw && strtoul(nw, NULL, 10) > SIP_WORKERS_MAX) {
        fprintf(stderr, "sipd: %s%sworkers: at most %d\n",
                flag_of(&d, "workers") ? "--workers" : "", flag_of(&d, "workers") ? ": " : "",
                SIP_WORKERS_MAX);
        sip_config_unref(cfg);
        return EXIT_USAGE;
    }
    sip_parse_error_t err;
    if (check) {
        rc = sip_config_check(cfg, &err);
        sip_config_unref(cfg);
        if (rc) {
            print_error(&d, &err);
            return EXIT_USAGE;
        }
        printf("ok\n");
        return EXIT_CLEAN;
    }

    /* A peer that resets a connection must not end the server. */
    signal(SIGPIPE, SIG_IGN);
    unsigned workers = sipd_workers_count(cfg);
    if (d.worker_link < 0 && workers > 1 && !d.demo) {
        /* The parent: the workers are this program again, with the internal flags. */
        rc = sip_config_check(cfg, &err);
        if (rc) {
            print_error(&d, &err);
            sip_config_unref(cfg);
            return EXIT_RUNTIME;
        }
        sipd_parent_opts_t po = {.argc = argc,
                                 .argv = argv,
                                 .workers = workers,
                                 .pid_file = d.pid_file,
                                 .rebuild = rebuild,
                                 .rebuild_user = &d};
        rc = sipd_parent_run(cfg, &po);
        sip_config_unref(cfg);
        return rc;
    }
    if (d.worker_link >= 0) {
        /* A worker ends with its parent, whatever killed the parent. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        d.pid_file = NULL;
    }
    rc = sip_loop_create(&d.loop);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        sip_config_unref(cfg);
        return EXIT_RUNTIME;
    }
    sip_loop_set_log(d.loop, SIP_LOG_WARN, on_log, NULL, NULL);
    if (d.worker_link >= 0) {
        sip_worker_opts_t wo;
        sip_worker_opts_init(&wo);
        wo.index = (unsigned)d.worker_index;
        wo.count = workers;
        wo.fd = d.worker_link;
        rc = sip_worker_create(&d.worker, d.loop, &wo);
        if (rc == 0)
            rc = sipd_control_open(&d.control, d.loop, d.worker_control, on_parent_gone, &d);
        else
            close(d.worker_control);
        if (rc) {
            fprintf(stderr, "sipd: worker %d: %s\n", d.worker_index, sip_strerror(rc));
            sip_config_unref(cfg);
            teardown(&d);
            return EXIT_RUNTIME;
        }
    }
    rc = d.worker ? sip_server_create_worker(&d.srv, d.loop, cfg, d.worker, &err)
                  : sip_server_create(&d.srv, d.loop, cfg, &err);
    if (rc) {
        if (rc == SIP_ECONFIG)
            print_error(&d, &err);
        else
            fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        sip_config_unref(cfg);
        teardown(&d);
        return EXIT_RUNTIME;
    }
    sip_config_unref(cfg);
    cfg = NULL;
    const sip_config_t *run = sip_server_get_config(d.srv);

    const char *script = sip_config_get(run, "script", 0);
    if (script && *script) {
        char why[512] = "";
        rc = sipd_script_open(&d.script, d.srv, script, why, sizeof(why));
        if (rc) {
            fprintf(stderr, "sipd: script %s: %s\n", script, why[0] ? why : sip_strerror(rc));
            d.script = NULL;
            teardown(&d);
            return EXIT_RUNTIME;
        }
    } else if (d.verbose) {
        sip_server_set_route(d.srv, on_route_verbose, &d, NULL);
    }

    rc = sip_signal_start(&d.sigint, d.loop, SIGINT, on_stop_signal, &d, NULL);
    if (rc == 0) rc = sip_signal_start(&d.sigterm, d.loop, SIGTERM, on_stop_signal, &d, NULL);
    if (rc == 0) rc = sip_signal_start(&d.sighup, d.loop, SIGHUP, on_hup, &d, NULL);
    if (rc) {
        fprintf(stderr, "sipd: signals: %s\n", sip_strerror(rc));
        teardown(&d);
        return EXIT_RUNTIME;
    }
    if (d.pid_file) {
        FILE *f = fopen(d.pid_file, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "sipd: --pid-file %s: %s\n", d.pid_file, strerror(errno));
            d.pid_file = NULL;
            teardown(&d);
            return EXIT_RUNTIME;
        }
    }
    if (d.control) {
        /* The parent prints worker 0's lines once every worker is ready. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            print_started(&d, run, f);
            fclose(f);
        }
        rc = f ? sipd_control_ready(d.control, text) : SIP_ENOMEM;
        free(text);
        if (rc) {
            fprintf(stderr, "sipd: worker %d: %s\n", d.worker_index, sip_strerror(rc));
            teardown(&d);
            return EXIT_RUNTIME;
        }
    } else {
        print_started(&d, run, stdout);
    }
    if (d.demo) {
        rc = sipd_demo_start(&d.demo_run, d.srv, stdout, on_demo_done, &d);
        if (rc) {
            d.demo_run = NULL;
            teardown(&d);
            return EXIT_RUNTIME;
        }
    }

    rc = d.script ? sipd_script_run(d.script) : sip_loop_run(d.loop);
    if (rc < 0 && !d.signalled && !d.stopping) {
        fprintf(stderr, "sipd: the loop failed: %s\n", sip_strerror(rc));
        teardown(&d);
        return EXIT_RUNTIME;
    }
    size_t bindings = d.bindings;
    int demo = d.demo, demo_ok = d.demo_ok, worker = d.worker != NULL;
    teardown(&d);
    if (d.signalled && !worker)
        printf("stopped on signal %d; %zu bindings\n", d.signalled, bindings);
    fflush(stdout);
    if (demo && !d.signalled) return demo_ok ? EXIT_CLEAN : EXIT_RUNTIME;
    return EXIT_CLEAN;
}
