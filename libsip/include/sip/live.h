/* SPDX-License-Identifier: MIT */
/* Live-object counters: how many of each kind of libsip object exist, for leak checks. */
#ifndef SIP_LIVE_H
#define SIP_LIVE_H

#include "sip/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The kinds of object counted. */
typedef enum sip_live_kind {
    SIP_LIVE_MSG = 0,   /**< messages (sip_msg_t), parsed or built */
    SIP_LIVE_TXN,       /**< transactions (sip_txn_t), client and server */
    SIP_LIVE_TXN_LAYER, /**< transaction layers (sip_txn_layer_t) */
    SIP_LIVE_TRANSPORT, /**< transports (sip_transport_t) */
    SIP_LIVE_CONN,      /**< stream connections (TCP, TLS, WS, WSS) of the transports */
    SIP_LIVE_RESOLVER,  /**< resolvers (sip_resolver_t) */
    SIP_LIVE_LOOP,      /**< loops (sip_loop_t) */
    SIP_LIVE_SDP,       /**< session descriptions (sip_sdp_t) */
    SIP_LIVE_DIALOG,    /**< dialogs (sip_dialog_t) */
    SIP_LIVE_UA,        /**< user agents (sip_ua_t) */
    SIP_LIVE_CALL,      /**< INVITE sessions (sip_call_t) */
    SIP_LIVE_OA,        /**< offer/answer negotiators (sip_oa_t) */
    SIP_LIVE_BRIDGE,    /**< B2BUA bridges (sip_bridge_t) */
    /** digest servers (sip_auth_server_t) */
    SIP_LIVE_AUTH_SERVER,
    /** digest checks in progress or kept (sip_auth_query_t) */
    SIP_LIVE_AUTH_QUERY,
    SIP_LIVE_REG, /**< registrations (sip_reg_t) */
    /** subscriptions (sip_sub_t), subscribers' and notifiers' */
    SIP_LIVE_SUB,
    SIP_LIVE_LOCATION,  /**< location services (sip_location_t) */
    SIP_LIVE_BINDINGS,  /**< binding sets of lookups (sip_bindings_t) */
    SIP_LIVE_REGISTRAR, /**< registrars (sip_registrar_t) */
    SIP_LIVE_USERDB,    /**< user tables (sip_userdb_t) */
    SIP_LIVE_PROXY,     /**< proxies (sip_proxy_t) */
    SIP_LIVE_PROXY_REQ, /**< requests being routed by a proxy (sip_proxy_req_t) */
    SIP_LIVE_GUARD,     /**< guards (sip_guard_t) */
    SIP_LIVE_METRICS,   /**< metrics endpoints (sip_metrics_t) */
    SIP_LIVE_CONFIG,    /**< configurations (sip_config_t) */
    SIP_LIVE_SERVER,    /**< servers (sip_server_t) */
    SIP_LIVE_HUB,       /**< worker hubs (sip_hub_t) */
    SIP_LIVE_WORKER,    /**< worker links (sip_worker_t) */
    SIP_LIVE__COUNT     /**< the number of kinds (not a kind) */
} sip_live_kind_t;

/**
 * The number of objects of a kind that exist now in the whole process: created and not yet
 * freed (an object closed but still referenced, or still finishing an asynchronous close, is
 * counted). The counters are the library's one process-wide state: a count per loop could not
 * count messages and session descriptions, which belong to no loop. They are updated with
 * relaxed atomic operations, so any thread may read them; a reading taken while other threads
 * create or free objects is only a snapshot. Meant for tests that check that everything a
 * program made is gone (then 0 for every kind).
 * @param kind  a sip_live_kind_t
 * @return the count, or -1 for an unknown kind.
 */
SIP_EXTERN long sip_live_count(sip_live_kind_t kind);

/**
 * Names a kind: "msg", "txn", "txn_layer", "transport", "conn", "resolver", "loop", "sdp",
 * "dialog", "ua", "call", "oa", "bridge", "auth_server", "auth_query", "reg", "sub", "location",
 * "bindings", "registrar", "userdb", "proxy", "proxy_req", "guard", "metrics", "config",
 * "server".
 * @return a static string, or NULL for an unknown kind.
 */
SIP_EXTERN const char *sip_live_name(sip_live_kind_t kind);

#ifdef __cplusplus
}
#endif
#endif
