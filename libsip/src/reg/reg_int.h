/* SPDX-License-Identifier: MIT */
/* Private layout of a registration (sip/reg.h). */
#ifndef SIP_REG_INT_H
#define SIP_REG_INT_H

#include "core/timerq.h"
#include "sip/reg.h"
#include "transport/flow.h"
#include "ua/ua_int.h"

struct reg_req;

struct sip_reg {
    int refs;
    int closed;
    sip_ua_t *ua;                /* referenced */
    struct sip_reg *next, *prev; /* the UA's list */
    char *aor, *registrar, *from, *contact_params, *instance_id;
    sip_uri_t aor_uri;   /* views into aor, parsed once: compared with the From of every request
                            the UA builds (RFC 3608 §6) */
    sip_msg_t *contacts; /* our Contact headers, in a holder message (made at the first send
                            when the application gave none) */
    uint32_t expires;    /* asked; a 423's Min-Expires raises it */
    uint32_t reg_id, keepalive_s, retry_s, max_retry_s;
    int retry_initial;
    int has_dst;
    sip_netinfo_t dst;
    /* The server the last 2xx came from when the registrar was located by RFC 3263: the next
     * REGISTERs go there, not to a new weighted pick, until it fails. */
    int has_home;
    sip_netinfo_t home;
    char tag[33], call_id[33];
    uint32_t cseq; /* of the last REGISTER sent */
    sip_reg_state_t state;
    int unreg_prev; /* the state before an unregistration, to go back to if it fails */
    int ever_registered;
    uint32_t granted;
    unsigned failures; /* in a row, for the back-off */
    int n423;
    struct reg_req *inflight; /* the REGISTER waiting for its final response */
    int queued;               /* what goes once it has one (0: nothing) */
    char *queued_contact;
    sip__tq_entry_t t_refresh; /* the next refresh or retry */
    uint64_t next_due;
    /* RFC 5626: the flow the last 2xx came over, watched and kept alive. */
    sip__flow_watch_t watch;
    uint64_t flow_conn;
    sip__tq_entry_t t_ka;
    uint32_t ka_period_s;
    int ka_checking, expect_pong, flow_lost;
    uint64_t ka_pongs, pings;
    char *service_route, *path, *bindings;
    /* RFC 3608 §6: the last 2xx's Service-Route as the Route headers of a holder message (NULL:
     * none), preloaded on the requests the UA builds for this AOR (sip__reg_service_route()). */
    sip_msg_t *routes;
    sip_reg_event_cb cb;
    void *user;
    sip_free_fn user_free;
};

/* When a refresh goes, in ms after a 2xx that granted granted_s. */
uint64_t sip__reg_refresh_delay_ms(uint32_t granted_s);

#endif
