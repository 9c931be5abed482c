/* SPDX-License-Identifier: MIT */
/* Live-object counters: the library's one process-wide state (see sip/live.h for why). */
#include <stddef.h>

#include "core/live_int.h"

sip__live_count_t sip__live[SIP_LIVE__COUNT];

static const char *const names[SIP_LIVE__COUNT] = {
    [SIP_LIVE_MSG] = "msg",
    [SIP_LIVE_TXN] = "txn",
    [SIP_LIVE_TXN_LAYER] = "txn_layer",
    [SIP_LIVE_TRANSPORT] = "transport",
    [SIP_LIVE_CONN] = "conn",
    [SIP_LIVE_RESOLVER] = "resolver",
    [SIP_LIVE_LOOP] = "loop",
    [SIP_LIVE_SDP] = "sdp",
    [SIP_LIVE_DIALOG] = "dialog",
    [SIP_LIVE_UA] = "ua",
    [SIP_LIVE_CALL] = "call",
    [SIP_LIVE_OA] = "oa",
    [SIP_LIVE_BRIDGE] = "bridge",
    [SIP_LIVE_AUTH_SERVER] = "auth_server",
    [SIP_LIVE_AUTH_QUERY] = "auth_query",
    [SIP_LIVE_REG] = "reg",
    [SIP_LIVE_SUB] = "sub",
    [SIP_LIVE_LOCATION] = "location",
    [SIP_LIVE_BINDINGS] = "bindings",
    [SIP_LIVE_REGISTRAR] = "registrar",
    [SIP_LIVE_USERDB] = "userdb",
    [SIP_LIVE_PROXY] = "proxy",
    [SIP_LIVE_PROXY_REQ] = "proxy_req",
    [SIP_LIVE_GUARD] = "guard",
    [SIP_LIVE_METRICS] = "metrics",
    [SIP_LIVE_CONFIG] = "config",
    [SIP_LIVE_SERVER] = "server",
    [SIP_LIVE_HUB] = "hub",
    [SIP_LIVE_WORKER] = "worker",
};

long sip_live_count(sip_live_kind_t kind)
{
    if ((unsigned)kind >= SIP_LIVE__COUNT) return -1;
    return atomic_load_explicit(&sip__live[kind].n, memory_order_relaxed);
}

const char *sip_live_name(sip_live_kind_t kind)
{
    if ((unsigned)kind >= SIP_LIVE__COUNT) return NULL;
    return names[kind];
}
