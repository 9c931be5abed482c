/* SPDX-License-Identifier: MIT */
/* Private side of the server: its parts and the steps create and reload share. */
#ifndef SIP_SERVER_INT_H
#define SIP_SERVER_INT_H

#include "sip/auth.h"
#include "sip/server.h"

/* The guard and the metrics endpoint are modules of their own that a build may lack while they
 * are being written: weak references let the server run without them (no limits, no
 * endpoint) rather than fail to link. */
#pragma weak sip_guard_opts_init
#pragma weak sip_guard_create
#pragma weak sip_guard_unref
#pragma weak sip_guard_allow
#pragma weak sip_guard_set_opts
#pragma weak sip_transport_set_guard
#pragma weak sip_metrics_create
#pragma weak sip_metrics_close
#pragma weak sip_metrics_unref

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
    int log_requests;
    /* sip_server_shutdown() */
    sip_timer_t *shutdown_timer;
    uint64_t shutdown_deadline;
    sip_server_done_cb done;
    void *done_user;
};

/* 1 when the guard and the metrics modules are linked in (server.c). */
int sip__server_have_guard(void);
int sip__server_have_metrics(void);
/* The log level of a log.level value ("notice" is the warnings: libsip has no notice level,
 * and the program's own notices are its to print). */
sip_log_level_t sip__server_log_level(const char *name);
/* Reads the users file of cfg (NULL when it names none). 0, or SIP_ECONFIG with err. */
int sip__server_load_users(sip_userdb_t **out, const sip_config_t *cfg, sip_parse_error_t *err);
/* The two digest servers (401 and 407) for the realm and algorithms of cfg. */
int sip__server_make_auth(sip_auth_server_t **auth, sip_auth_server_t **proxy_auth,
                          const sip_config_t *cfg, sip_parse_error_t *err);
/* The guard's options from limits.*. */
void sip__server_guard_opts(sip_guard_opts_t *o, const sip_config_t *cfg);
/* Every domain of cfg, and each specific listening address as an alias of the first. */
int sip__server_add_domains(sip_server_t *srv, const sip_config_t *cfg, sip_parse_error_t *err);

#endif
