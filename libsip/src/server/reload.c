/* SPDX-License-Identifier: MIT */
/* Reloading a running server: everything that can fail is prepared first (the users file
 * read, digest servers and the metrics endpoint made, new listening addresses probed), so that
 * a refused reload changes nothing; then the new parts are swapped in. Calls, transactions and
 * registrations are untouched: the transport, the transaction layer, the location service and
 * the proxy stay the same objects. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config_int.h"
#include "core/mem.h"
#include "proxy/proxy_int.h"
#include "server/server_int.h"
#include "sip/error.h"
#include "transport/transport_int.h"

static int same(const sip_config_t *a, const sip_config_t *b, const char *key)
{
    size_t n = sip_config_count(a, key);
    if (n != sip_config_count(b, key)) return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sip_config_get(a, key, i), sip_config_get(b, key, i)) != 0) return 0;
    return 1;
}

/* 1 when list key of cfg holds value (case-insensitive: transports and domains). */
static int listed(const sip_config_t *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < sip_config_count(cfg, key); i++)
        if (strcasecmp(sip_config_get(cfg, key, i), value) == 0) return 1;
    return 0;
}

/* Whether a listening point could be opened now: a socket bound to its address and closed at
 * once, so that a reload that cannot open one is refused before anything changed. */
static int probe_listen(const char *spec)
{
    char ip[64];
    const char *c = strchr(spec, ':'), *h, *he, *pp;
    if (!c) return SIP_EINVAL;
    int stream = strncasecmp(spec, "udp:", 4) != 0;
    h = c + 1;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he) return SIP_EINVAL;
        h++;
        pp = he + 1;
    } else {
        he = strrchr(h, ':');
        if (!he) he = h + strlen(h);
        pp = he;
    }
    if ((size_t)(he - h) >= sizeof(ip)) return SIP_EINVAL;
    memcpy(ip, h, (size_t)(he - h));
    ip[he - h] = '\0';
    unsigned port = *pp == ':' ? (unsigned)strtoul(pp + 1, NULL, 10) : 0;
    if (port == 0) return 0; /* any free port, or the default one the transport picks */
    struct sockaddr_storage ss;
    if (sip__sockaddr_from(ip, (uint16_t)port, &ss)) return SIP_EINVAL;
    int fd = socket(ss.ss_family, stream ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0) return -errno;
    int one = 1;
    /* As libuv binds a listening TCP socket: a port in TIME_WAIT is free. */
    if (stream) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int rc = bind(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int refuse(sip_parse_error_t *err, const char *key, const char *why)
{
    sip__config_error(err, NULL, 0, 0, key, "%s", why);
    return SIP_ECONFIG;
}

int sip_server_reload(sip_server_t *srv, const sip_config_t *cfg, sip_parse_error_t *err)
{
    if (err) memset(err, 0, sizeof(*err));
    if (!srv || !cfg) return SIP_EINVAL;
    if (srv->closed || srv->shutting) return SIP_ECLOSED;
    int rc = sip_config_check(cfg, err);
    if (rc) return rc;
    const sip_config_t *old = srv->cfg;

    /* What the running objects cannot take live. */
    if (!same(old, cfg, "mode")) return refuse(err, "mode", "changing it needs a restart");
    if (!same(old, cfg, "state")) return refuse(err, "state", "changing it needs a restart");
    if (!same(old, cfg, "store")) return refuse(err, "store", "changing it needs a restart");
    /* The realm: the digest servers and the aliases of the listening addresses name it. */
    if (strcasecmp(sip_config_get(old, "domains", 0), sip_config_get(cfg, "domains", 0)) != 0)
        return refuse(err, "domains", "changing the first domain (the realm) needs a restart");
    for (size_t i = 0; i < sip_config_count(old, "limits.allow"); i++)
        if (!listed(cfg, "limits.allow", sip_config_get(old, "limits.allow", i)))
            return refuse(err, "limits.allow", "removing an address needs a restart");
    sip_guard_opts_t go;
    sip__server_guard_opts(&go, cfg);
    if ((go.rate_max && !go.rate_window_ms) || (go.auth_max_failures && !go.auth_window_ms))
        return refuse(err, "limits", "a limit is set with a zero window");
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        const char *l = sip_config_get(cfg, "listen", i);
        if (listed(old, "listen", l)) continue;
        rc = probe_listen(l);
        if (rc) {
            sip__config_error(err, NULL, 0, 0, "listen", "cannot listen on %s: %s", l,
                              rc == -EADDRINUSE ? "address already in use" : sip_strerror(rc));
            return SIP_ECONFIG;
        }
    }

    /* The new parts, made aside. */
    sip_config_t *copy = NULL;
    sip_userdb_t *users = NULL;
    sip_auth_server_t *auth = NULL, *proxy_auth = NULL;
    sip_metrics_t *metrics = NULL;
    sip_registrar_t *reg = NULL;
    char *server = NULL;
    rc = sip_config_clone(&copy, cfg);
    if (rc) goto fail;
    rc = sip__server_load_users(&users, cfg, err);
    if (rc) goto fail;
    if (users) {
        if (srv->auth && same(old, cfg, "digest")) {
            /* The same realm and algorithms: the nonces handed out stay good. */
            auth = sip_auth_server_ref(srv->auth);
            proxy_auth = sip_auth_server_ref(srv->proxy_auth);
        } else {
            rc = sip__server_make_auth(&auth, &proxy_auth, cfg, srv->secret, err);
            if (rc) goto fail;
        }
    }
    /* A worker serves no metrics endpoint (sip_server_create_worker()). */
    const char *ml = srv->worker ? "" : sip__config_str(cfg, "metrics.listen");
    int new_metrics = !srv->worker && !same(old, cfg, "metrics.listen");
    if (new_metrics && *ml) {
        rc = sip_metrics_create(&metrics, srv->loop, ml, NULL, NULL, NULL, NULL);
        if (rc && rc != SIP_ENOMEM) {
            sip__config_error(err, NULL, 0, 0, "metrics.listen", "cannot serve on %s: %s", ml,
                              sip_strerror(rc));
            rc = SIP_ECONFIG;
        }
        if (rc) goto fail;
    }
    /* A registrar of its own: whether REGISTER needs credentials follows the users file. */
    rc = sip__server_make_registrar(&reg, srv->loc, users != NULL, cfg);
    if (rc) goto fail;
    /* The value checks let no control character into server_header. */
    server = sip__strdup(sip__config_str(cfg, "server_header"));
    rc = SIP_ENOMEM;
    if (!server) goto fail;
    int new_tls = 0;
    static const char *const tls[] = {"tls.cert", "tls.key", "tls.ca", "tls.verify_client"};
    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
        if (!same(old, cfg, tls[i])) new_tls = 1;
    if (new_tls) {
        /* The last step that can fail: the TLS context for the connections made from now on. */
        const char *vc = sip__config_str(cfg, "tls.verify_client");
        char why[256] = "";
        rc = sip__transport_set_tls(srv->tp, sip__config_str(cfg, "tls.cert"),
                                    sip__config_str(cfg, "tls.key"), sip__config_str(cfg, "tls.ca"),
                                    sip__server_verify_client(vc), why, sizeof(why));
        if (rc && rc != SIP_ENOMEM) {
            sip__config_error(err, NULL, 0, 0, "tls.cert", "%s", why[0] ? why : sip_strerror(rc));
            rc = SIP_ECONFIG;
        }
        if (rc) goto fail;
    }

    /* Nothing can be refused from here: swap. */
    sip__proxy_reconfigure(srv->proxy, reg, users, auth, proxy_auth, server);
    server = NULL;
    sip_registrar_unref(srv->reg);
    srv->reg = reg;
    /* Listening points no longer listed close; their connections stay until they end. */
    for (size_t i = 0; i < srv->nlistens;) {
        if (listed(cfg, "listen", srv->listens[i].spec)) {
            i++;
            continue;
        }
        sip__transport_unlisten(srv->tp, srv->listens[i].idx);
        free(srv->listens[i].spec);
        srv->listens[i] = srv->listens[--srv->nlistens];
    }
    /* Domains no longer listed are not ours any more (their bindings stay in the store). */
    for (size_t i = 0; i < sip_config_count(old, "domains"); i++) {
        const char *d = sip_config_get(old, "domains", i);
        if (!listed(cfg, "domains", d)) sip__server_remove_domain(srv, d);
    }
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        const char *l = sip_config_get(cfg, "listen", i);
        if (listed(old, "listen", l)) continue;
        sip_parse_error_t lerr;
        if (sip__server_listen(srv, l, &lerr))
            sip_log(srv->loop, SIP_LOG_ERROR, "server", "reload: %s", lerr.reason);
    }
    sip_parse_error_t derr;
    if (sip__server_add_domains(srv, cfg, &derr))
        sip_log(srv->loop, SIP_LOG_ERROR, "server", "reload: %s", derr.reason);
    sip_userdb_unref(srv->users);
    srv->users = users;
    sip_auth_server_unref(srv->auth);
    sip_auth_server_unref(srv->proxy_auth);
    srv->auth = auth;
    srv->proxy_auth = proxy_auth;
    if (srv->guard) {
        sip_guard_set_opts(srv->guard, &go);
        for (size_t i = 0; i < sip_config_count(cfg, "limits.allow"); i++)
            if (!listed(old, "limits.allow", sip_config_get(cfg, "limits.allow", i)))
                sip_guard_allow(srv->guard, sip_config_get(cfg, "limits.allow", i));
    }
    /* The connection limits are read as connections come and go. */
    srv->tp->opts.max_connections = sip__config_uint(cfg, "limits.max_connections");
    srv->tp->opts.idle_timeout_ms = sip__config_ms(cfg, "limits.idle_timeout");
    if (new_metrics) {
        if (srv->metrics) {
            sip_metrics_close(srv->metrics);
            sip_metrics_unref(srv->metrics);
        }
        srv->metrics = metrics;
    }
    srv->log_requests = sip__config_bool(cfg, "log.requests");
    sip__server_apply_log(srv, cfg);
    sip_config_unref(srv->cfg);
    srv->cfg = copy;
    return 0;
fail:
    free(server);
    sip_registrar_unref(reg);
    sip_config_unref(copy);
    sip_userdb_unref(users);
    sip_auth_server_unref(auth);
    sip_auth_server_unref(proxy_auth);
    if (metrics) {
        sip_metrics_close(metrics);
        sip_metrics_unref(metrics);
    }
    return rc;
}
