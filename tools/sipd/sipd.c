/* SPDX-License-Identifier: MIT */
/* sipd: a registrar, location service and proxy (RFC 3261 §10.3, §16) on the listening points
 * given, routing every request with sip_proxy_route_default(): REGISTER for our domains is
 * authenticated against the users file and saved, requests to a registered AOR are forked to
 * its contacts (or redirected), the rest gets 404 or goes on for an authenticated local user.
 * `sipd passwd` writes the users file. This program only wires the library's objects together
 * and reads the command line. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sip/sip.h>

#ifndef SIPD_VERSION
#define SIPD_VERSION "0"
#endif

#define MAX_LISTEN 16
#define MAX_DOMAINS 16
#define MAX_PASSWORD 1024
/* The embedded defaults: loopback only, so that a first run exposes nothing. */
#define DEFAULT_DOMAIN "localhost"
#define DEFAULT_PORT "5060"
#define STATE_FILE "location.sqlite"
#define SERVER "sipd (libsip/" SIPD_VERSION ")"

/* Exit statuses (documented in --help and docs/SIPD.md). */
enum { EXIT_CLEAN = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sipd [--listen SPEC]... [--domain D]... [--users FILE] [--state DIR]\n"
            "            [--stateless] [--redirect] [-v]\n"
            "       sipd passwd FILE USER [--realm R]\n"
            "\n"
            "Runs a registrar, a location service and a proxy (RFC 3261 10.3, 16) with the\n"
            "default routing: a REGISTER for one of our domains is authenticated against\n"
            "--users (digest, 401) and saved; a request for a registered address of record\n"
            "is forked to its contacts by q (or redirected with 302, --redirect), 404 when\n"
            "there is none (480 for a user of --users with no binding now); a request for\n"
            "another domain is forwarded (RFC 3263) only for a sender that authenticates as\n"
            "one of our users (407), never for anyone else; a request inside a dialog that\n"
            "sipd record-routed follows its Route. Runs until SIGINT or SIGTERM.\n"
            "\n"
            "  -l, --listen SPEC   listening point: udp:127.0.0.1:5060, tcp:[::1]:5060,\n"
            "                      tls:127.0.0.1:5061, ws:127.0.0.1:8080, wss:... (repeat;\n"
            "                      default udp:127.0.0.1:" DEFAULT_PORT
            " and tcp:127.0.0.1:" DEFAULT_PORT ")\n"
            "  -d, --domain D      a domain we are the registrar and proxy for (repeat; the\n"
            "                      first is the digest realm and has the listening addresses\n"
            "                      as aliases; default \"" DEFAULT_DOMAIN "\")\n"
            "  -u, --users FILE    the users and their HA1 hashes (\"user:realm:algorithm:ha1\"\n"
            "                      lines, MD5 and SHA-256, as `sipd passwd` writes them);\n"
            "                      without it registrations are not authenticated and nothing\n"
            "                      is forwarded outside our domains\n"
            "  -s, --state DIR     keep the bindings in DIR/" STATE_FILE " (SQLite; created when\n"
            "                      missing) so that they survive a restart; default: memory\n"
            "      --stateless     forward without transactions (RFC 3261 16.11): no forking,\n"
            "                      a registered AOR goes to its best contact\n"
            "      --redirect      answer requests for registered AORs with 302 and their\n"
            "                      contacts rather than proxying them\n"
            "      --digest ALGS   the digest algorithms challenged with, strongest first:\n"
            "                      SHA-256, MD5 or both comma-separated (default SHA-256,MD5;\n"
            "                      MD5 alone for UAs that stop at a challenge they do not\n"
            "                      know, such as sipsak)\n"
            "      --tls-cert FILE PEM certificate chain for tls: and wss: listening points\n"
            "      --tls-key FILE  PEM private key for them\n"
            "  -v, --verbose       log the listening points, each request routed and the\n"
            "                      library's notices; twice: every message sent and received\n"
            "  -h, --help          this text\n"
            "      --version       print the version\n"
            "\n"
            "sipd passwd FILE USER [--realm R] reads USER's password from standard input (the\n"
            "first line) and writes its MD5 and SHA-256 HA1 for realm R (default \"" DEFAULT_DOMAIN
            "\")\n"
            "into FILE, creating it (mode 0600) or replacing USER's lines in it.\n"
            "\n"
            "Exit status: 0 after SIGINT or SIGTERM (the bindings flushed to --state) or for\n"
            "--help, --version and a passwd that wrote FILE; 1 on a runtime failure (a\n"
            "listening point that cannot be opened, an unreadable or malformed --users file,\n"
            "a --state directory or database that cannot be used, FILE not written); 2 for a\n"
            "usage error.\n");
}

/* ---- sipd passwd ----------------------------------------------------------------------------- */

/* The first line of standard input, without its line end; echo is off on a terminal. */
static int read_password(char *buf, size_t size)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("Password: ", stderr);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(buf, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!line) return -1;
    size_t n = strlen(buf);
    if (n == size - 1 && buf[n - 1] != '\n' && !feof(stdin)) return -2; /* longer than buf */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}

static int cmd_passwd(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"realm", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *realm = DEFAULT_DOMAIN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': realm = optarg; break;
        case 'h': usage(stdout); return EXIT_CLEAN;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 2 || !*realm) {
        fprintf(stderr, "usage: sipd passwd FILE USER [--realm R]\n");
        return EXIT_USAGE;
    }
    const char *file = argv[optind], *user = argv[optind + 1];
    sip_userdb_t *db = NULL;
    int line = 0, rc;
    /* A missing file is a new table; an unreadable or malformed one is never overwritten. */
    if (access(file, F_OK) == 0) {
        rc = sip_userdb_create(&db, file, &line);
    } else {
        rc = sip_userdb_create(&db, NULL, NULL);
    }
    if (rc) {
        if (line > 0)
            fprintf(stderr, "sipd passwd: %s:%d: malformed line\n", file, line);
        else
            fprintf(stderr, "sipd passwd: cannot read %s: %s\n", file, sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    static char pw[MAX_PASSWORD];
    rc = read_password(pw, sizeof(pw));
    if (rc || !pw[0]) {
        fprintf(stderr, "sipd passwd: %s\n",
                rc == -2 ? "password too long" : "no password on standard input");
        sip_userdb_unref(db);
        return EXIT_RUNTIME;
    }
    rc = sip_userdb_set_password(db, user, realm, pw);
    memset(pw, 0, sizeof(pw));
    if (rc == SIP_EINVAL) {
        fprintf(stderr, "sipd passwd: a user or realm may not be empty or hold ':' or control "
                        "characters\n");
        sip_userdb_unref(db);
        return EXIT_USAGE;
    }
    if (rc == 0) rc = sip_userdb_save(db, file);
    sip_userdb_unref(db);
    if (rc) {
        fprintf(stderr, "sipd passwd: cannot write %s: %s\n", file, sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    return EXIT_CLEAN;
}

/* ---- the server ------------------------------------------------------------------------------ */

typedef struct sipd {
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_location_t *loc;
    sip_registrar_t *reg;
    sip_userdb_t *users;
    sip_auth_server_t *auth, *proxy_auth;
    sip_proxy_t *proxy;
    sip_signal_t *sigint, *sigterm;
    int verbose;
    int signalled;
} sipd_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)user;
    fprintf(stderr, "sipd %s %s: %s\n", sip_log_level_name(level), module, text);
}

static void on_signal(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    sipd_t *d = user;
    d->signalled = signum;
    sip_loop_stop(d->loop);
}

static const char *addr_str(char buf[80], sip_transport_type_t t, const char *ip, uint16_t port)
{
    int v6 = strchr(ip, ':') != NULL;
    snprintf(buf, 80, "%s:%s%s%s:%u", sip_transport_param(t), v6 ? "[" : "", ip, v6 ? "]" : "",
             port);
    return buf;
}

/* -v: one line per request routed, then the default routing decides. */
static void on_route(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    sipd_t *d = user;
    if (d->verbose) {
        const sip_msg_t *msg = sip_proxy_req_get_msg(req);
        const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
        const sip_uri_t *ruri = sip_msg_get_uri(msg);
        sip_str_t m = sip_msg_get_method_str(msg);
        sip_str_t u = ruri ? ruri->raw : (sip_str_t){"", 0};
        char a[80] = "";
        if (ni) addr_str(a, ni->transport, ni->remote_ip, ni->remote_port);
        sip_log(d->loop, SIP_LOG_INFO, "sipd", "%.*s %.*s from %s%s", (int)m.len, m.ptr, (int)u.len,
                u.ptr, a, sip_proxy_req_routed(req) ? " (routed)" : "");
    }
    sip_proxy_route_default(req);
}

static void teardown(sipd_t *d)
{
    sip_signal_unref(d->sigint);
    sip_signal_unref(d->sigterm);
    /* The proxy first (requests in progress get 503), then the layers under it; the location
     * service last but one: closing it commits the writes still queued. */
    if (d->proxy) sip_proxy_close(d->proxy);
    sip_proxy_unref(d->proxy);
    if (d->layer) sip_txn_layer_close(d->layer);
    sip_txn_layer_unref(d->layer);
    sip_registrar_unref(d->reg);
    if (d->loc) sip_location_close(d->loc);
    sip_location_unref(d->loc);
    sip_auth_server_unref(d->auth);
    sip_auth_server_unref(d->proxy_auth);
    sip_userdb_unref(d->users);
    if (d->tp) sip_transport_close(d->tp);
    sip_transport_unref(d->tp);
    sip_loop_unref(d->loop);
}

/* The state directory exists (made 0700 when missing) and is a directory. */
static int make_state_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
    if (stat(dir, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Every specific listening address is an alias of the first domain (as Kamailio's
 * auto_aliases), so that "sip:alice@127.0.0.1:5060" is alice of that domain. */
static int add_domains(sipd_t *d, const char **domains, int ndomains)
{
    for (int i = 0; i < ndomains; i++) {
        int rc = sip_location_add_domain(d->loc, domains[i], NULL);
        if (rc && rc != SIP_EEXIST) {
            fprintf(stderr, "sipd: --domain %s: %s\n", domains[i], sip_strerror(rc));
            return rc;
        }
    }
    size_t n = sip_transport_listener_count(d->tp);
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t ni;
        if (sip_transport_listener_info(d->tp, i, &ni) != 0) continue;
        if (strcmp(ni.local_ip, "0.0.0.0") == 0 || strcmp(ni.local_ip, "::") == 0) continue;
        int rc = sip_location_add_domain(d->loc, ni.local_ip, domains[0]);
        if (rc && rc != SIP_EEXIST) {
            fprintf(stderr, "sipd: alias %s: %s\n", ni.local_ip, sip_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* "SHA-256,MD5": the users file has an HA1 of these two only. 0 for anything else. */
static int parse_algorithms(const char *s)
{
    int set = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        char name[16];
        if (n == 0 || n >= sizeof(name)) return 0;
        memcpy(name, s, n);
        name[n] = '\0';
        int a = sip_auth_algorithm_from_name(name);
        if (a != SIP_AUTH_MD5 && a != SIP_AUTH_SHA256) return 0;
        set |= a;
        s += n;
        if (*s == ',' && !*++s) return 0;
    }
    return set;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "passwd") == 0) return cmd_passwd(argc - 1, argv + 1);
    enum {
        OPT_STATELESS = 256,
        OPT_REDIRECT,
        OPT_DIGEST,
        OPT_CERT,
        OPT_KEY,
        OPT_VERSION,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"domain", required_argument, NULL, 'd'},
        {"users", required_argument, NULL, 'u'},
        {"state", required_argument, NULL, 's'},
        {"stateless", no_argument, NULL, OPT_STATELESS},
        {"redirect", no_argument, NULL, OPT_REDIRECT},
        {"digest", required_argument, NULL, OPT_DIGEST},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *listen[MAX_LISTEN], *domains[MAX_DOMAINS];
    int nlisten = 0, ndomains = 0, stateless = 0, redirect = 0;
    int algorithms = SIP_AUTH_SHA256 | SIP_AUTH_MD5;
    const char *users_file = NULL, *state_dir = NULL;
    static sipd_t d;
    sip_transport_opts_t topts;
    sip_transport_opts_init(&topts);
    int c;
    while ((c = getopt_long(argc, argv, "l:d:u:s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "sipd: at most %d listening points\n", MAX_LISTEN);
                return EXIT_USAGE;
            }
            listen[nlisten++] = optarg;
            break;
        case 'd':
            if (ndomains == MAX_DOMAINS) {
                fprintf(stderr, "sipd: at most %d domains\n", MAX_DOMAINS);
                return EXIT_USAGE;
            }
            if (!*optarg) {
                fprintf(stderr, "sipd: --domain wants a name\n");
                return EXIT_USAGE;
            }
            domains[ndomains++] = optarg;
            break;
        case 'u': users_file = optarg; break;
        case 's': state_dir = optarg; break;
        case OPT_STATELESS: stateless = 1; break;
        case OPT_REDIRECT: redirect = 1; break;
        case OPT_DIGEST:
            algorithms = parse_algorithms(optarg);
            if (algorithms <= 0) {
                fprintf(stderr, "sipd: --digest is SHA-256, MD5 or both, comma-separated\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_CERT: topts.tls_cert_file = optarg; break;
        case OPT_KEY: topts.tls_key_file = optarg; break;
        case 'v': d.verbose++; break;
        case 'h': usage(stdout); return EXIT_CLEAN;
        case OPT_VERSION: printf("sipd " SIPD_VERSION "\n"); return EXIT_CLEAN;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sipd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!topts.tls_cert_file != !topts.tls_key_file) {
        fprintf(stderr, "sipd: --tls-cert and --tls-key go together\n");
        return EXIT_USAGE;
    }
    if (state_dir && !*state_dir) {
        fprintf(stderr, "sipd: --state wants a directory\n");
        return EXIT_USAGE;
    }
    if (nlisten == 0) {
        listen[nlisten++] = "udp:127.0.0.1:" DEFAULT_PORT;
        listen[nlisten++] = "tcp:127.0.0.1:" DEFAULT_PORT;
    }
    if (ndomains == 0) domains[ndomains++] = DEFAULT_DOMAIN;

    /* A peer that resets a connection must not end the server. */
    signal(SIGPIPE, SIG_IGN);
    int rc = sip_loop_create(&d.loop);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    if (d.verbose) sip_loop_set_log(d.loop, SIP_LOG_INFO, on_log, NULL, NULL);
    if (d.verbose > 1) sip_loop_set_trace(d.loop, 1);

    if (users_file) {
        int line = 0;
        rc = sip_userdb_create(&d.users, users_file, &line);
        if (rc) {
            if (line > 0)
                fprintf(stderr, "sipd: %s:%d: malformed line\n", users_file, line);
            else
                fprintf(stderr, "sipd: cannot read --users %s: %s\n", users_file, sip_strerror(rc));
            goto fail;
        }
    }

    rc = sip_transport_create(&d.tp, d.loop, &topts);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < nlisten; i++) {
        rc = sip_transport_listen(d.tp, listen[i]);
        if (rc < 0) {
            fprintf(stderr, "sipd: cannot listen on %s: %s\n", listen[i], sip_strerror(rc));
            goto fail;
        }
    }
    rc = sip_txn_layer_create(&d.layer, d.tp, NULL);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        goto fail;
    }

    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    char db_path[4096];
    if (state_dir) {
        rc = make_state_dir(state_dir);
        if (rc) {
            fprintf(stderr, "sipd: --state %s: %s\n", state_dir, strerror(-rc));
            goto fail;
        }
        if ((size_t)snprintf(db_path, sizeof(db_path), "%s/%s", state_dir, STATE_FILE) >=
            sizeof(db_path)) {
            fprintf(stderr, "sipd: --state %s: name too long\n", state_dir);
            goto fail;
        }
        lo.db_path = db_path;
    }
    rc = sip_location_create(&d.loc, d.loop, &lo);
    if (rc) {
        /* The library logged the file and SQLite's reason. */
        fprintf(stderr, "sipd: cannot open the location service%s%s: %s\n", state_dir ? " in " : "",
                state_dir ? db_path : "", sip_strerror(rc));
        goto fail;
    }
    if (add_domains(&d, domains, ndomains)) goto fail;

    sip_registrar_opts_t ro;
    sip_registrar_opts_init(&ro);
    /* Without a users file nobody can authenticate: the registrar takes anyone (documented). */
    ro.auth_required = d.users != NULL;
    ro.server = SERVER;
    rc = sip_registrar_create(&d.reg, d.loc, &ro);
    if (rc) {
        fprintf(stderr, "sipd: registrar: %s\n", sip_strerror(rc));
        goto fail;
    }

    if (d.users) {
        /* RFC 3261 §22.1: the realm is the domain; MD5 for the older UAs (RFC 8760 §2.4: the
         * strongest challenge first), 401 for REGISTER and local users, 407 for the rest. */
        sip_auth_server_opts_t ao;
        sip_auth_server_opts_init(&ao);
        ao.realm = domains[0];
        ao.algorithms = algorithms;
        rc = sip_auth_server_create(&d.auth, &ao);
        if (rc == 0) {
            ao.proxy = 1;
            rc = sip_auth_server_create(&d.proxy_auth, &ao);
        }
        if (rc) {
            fprintf(stderr, "sipd: digest server: %s\n", sip_strerror(rc));
            goto fail;
        }
    }

    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.stateless = stateless;
    po.redirect = redirect;
    po.location = d.loc;
    po.registrar = d.reg;
    po.auth = d.auth;
    po.proxy_auth = d.proxy_auth;
    po.users = d.users;
    po.server = SERVER;
    rc = sip_proxy_create(&d.proxy, d.layer, &po, on_route, &d, NULL);
    if (rc) {
        fprintf(stderr, "sipd: proxy: %s\n", sip_strerror(rc));
        goto fail;
    }

    rc = sip_signal_start(&d.sigint, d.loop, SIGINT, on_signal, &d, NULL);
    if (rc == 0) rc = sip_signal_start(&d.sigterm, d.loop, SIGTERM, on_signal, &d, NULL);
    if (rc) {
        fprintf(stderr, "sipd: signals: %s\n", sip_strerror(rc));
        goto fail;
    }

    size_t n = sip_transport_listener_count(d.tp);
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t ni;
        char a[80];
        if (sip_transport_listener_info(d.tp, i, &ni) == 0)
            printf("listening on %s\n", addr_str(a, ni.transport, ni.local_ip, ni.local_port));
    }
    printf("domain %s (realm)", domains[0]);
    for (int i = 1; i < ndomains; i++)
        printf(", %s", domains[i]);
    printf("; %zu users%s; %s; %zu bindings; %s\n", d.users ? sip_userdb_count(d.users) : 0,
           d.users ? "" : " (registrations not authenticated)",
           state_dir ? db_path : "bindings in memory", sip_location_count(d.loc),
           stateless  ? "stateless"
           : redirect ? "redirecting"
                      : "stateful");
    fflush(stdout);

    rc = sip_loop_run(d.loop);
    if (rc < 0 && !d.signalled) {
        fprintf(stderr, "sipd: the loop failed: %s\n", sip_strerror(rc));
        goto fail;
    }
    size_t bindings = sip_location_count(d.loc);
    teardown(&d);
    if (d.verbose) {
        printf("stopped on signal %d; %zu bindings\n", d.signalled, bindings);
        fflush(stdout);
    }
    return EXIT_CLEAN;
fail:
    teardown(&d);
    return EXIT_RUNTIME;
}
