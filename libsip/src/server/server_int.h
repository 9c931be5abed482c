/* SPDX-License-Identifier: MIT */
/* Private side of the server: its parts and the steps create and reload share. */
#ifndef SIP_SERVER_INT_H
#define SIP_SERVER_INT_H

#include "sip/auth.h"
#include "sip/server.h"

struct sip_server {
    int refs;
    int closed;
    int shutting;
    sip_loop_t *loop;
    sip_config_t *cfg; /* the configuration in force (a copy) */
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_location_t *loc;
    sip_registrar_t *reg;
    sip_userdb_t *users;
    sip_auth_server_t *auth, *proxy_auth;
    sip_proxy_t *proxy;
    sip_guard_t *guard;
    sip_metrics_t *metrics;
    sip_worker_t *worker; /* sip_server_create_worker(): one worker process of several */
    /* The worker set's secret (sip_worker_secret()) for the digest servers and the proxy, so
     * that any worker takes what another made; "" for a server alone (random secrets). */
    char secret[2 * 32 + 1];
    int log_requests;
    /* Each listening point opened, by its text in the configuration, and its index in the
     * transport (a reload closes those no longer listed). */
    struct sip__server_listen {
        char *spec;
        size_t idx;
    } * listens;
    size_t nlistens;
    /* sip_server_shutdown() */
    sip_timer_t *shutdown_timer;
    int proxy_closed; /* the shutdown's first step is done */
    uint64_t shutdown_deadline;
    sip_server_done_cb done;
    void *done_user;
};

/* The log level of a log.level value ("notice" is the warnings: libsip has no notice level,
 * and the program's own notices are its to print). */
sip_log_level_t sip__server_log_level(const char *name);
/* Applies log.level and log.trace of cfg to the server's loop. */
void sip__server_apply_log(sip_server_t *srv, const sip_config_t *cfg);
/* Reads the users file of cfg (NULL when it names none). 0, or SIP_ECONFIG with err. */
int sip__server_load_users(sip_userdb_t **out, const sip_config_t *cfg, sip_parse_error_t *err);
/* The registrar of cfg (its Server header), requiring authentication when there are users. */
int sip__server_make_registrar(sip_registrar_t **out, sip_location_t *loc, int auth_required,
                               const sip_config_t *cfg);
/* The two digest servers (401 and 407) for the realm and algorithms of cfg, signing their
 * nonces with secret ("" or NULL: a random one each). */
int sip__server_make_auth(sip_auth_server_t **auth, sip_auth_server_t **proxy_auth,
                          const sip_config_t *cfg, const char *secret, sip_parse_error_t *err);
/* The guard's options from limits.*. */
void sip__server_guard_opts(sip_guard_opts_t *o, const sip_config_t *cfg);
/* sip_transport_opts_t.tls_verify_client of a tls.verify_client value. */
int sip__server_verify_client(const char *name);
/* Takes a domain out of the location service's (a reload that no longer lists it). */
void sip__server_remove_domain(sip_server_t *srv, const char *domain);
/* Opens a listening point and records it. 0, SIP_ECONFIG (err: "listen"), SIP_ENOMEM. */
int sip__server_listen(sip_server_t *srv, const char *spec, sip_parse_error_t *err);
/* Every domain of cfg, and each specific listening address as an alias of the first. */
int sip__server_add_domains(sip_server_t *srv, const sip_config_t *cfg, sip_parse_error_t *err);

#endif
