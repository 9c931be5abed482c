/* SPDX-License-Identifier: MIT */
/* Transport names, ports and properties; addresses as logs print them. */
#include <stdio.h>
#include <string.h>

#include "sip/net.h"
#include "transport/addr.h"

static const struct {
    const char *name, *param;
    uint16_t port;
} info[] = {
    [SIP_TRANSPORT_NONE] = {NULL, NULL, 0},     [SIP_TRANSPORT_UDP] = {"UDP", "udp", 5060},
    [SIP_TRANSPORT_TCP] = {"TCP", "tcp", 5060}, [SIP_TRANSPORT_TLS] = {"TLS", "tls", 5061},
    [SIP_TRANSPORT_WS] = {"WS", "ws", 80},      [SIP_TRANSPORT_WSS] = {"WSS", "wss", 443},
};

const char *sip_transport_name(sip_transport_type_t t)
{
    return (unsigned)t <= SIP_TRANSPORT_WSS ? info[t].name : NULL;
}

const char *sip_transport_param(sip_transport_type_t t)
{
    return (unsigned)t <= SIP_TRANSPORT_WSS ? info[t].param : NULL;
}

sip_transport_type_t sip_transport_from_name(const char *s, size_t len)
{
    if (!s) return SIP_TRANSPORT_NONE;
    for (int t = SIP_TRANSPORT_UDP; t <= SIP_TRANSPORT_WSS; t++)
        if (sip_str_caseeq((sip_str_t){s, len}, sip_str_from_cstr(info[t].name)))
            return (sip_transport_type_t)t;
    return SIP_TRANSPORT_NONE;
}

int sip_transport_is_reliable(sip_transport_type_t t)
{
    return t >= SIP_TRANSPORT_TCP && t <= SIP_TRANSPORT_WSS;
}

int sip_transport_is_secure(sip_transport_type_t t)
{
    return t == SIP_TRANSPORT_TLS || t == SIP_TRANSPORT_WSS;
}

uint16_t sip_transport_default_port(sip_transport_type_t t)
{
    return (unsigned)t <= SIP_TRANSPORT_WSS ? info[t].port : 0;
}

const char *sip__addr_str(char buf[SIP__ADDR_STRLEN], sip_transport_type_t t, const char *ip,
                          uint16_t port)
{
    const char *name = sip_transport_param(t);
    int v6 = ip && strchr(ip, ':') != NULL && ip[0] != '[';
    snprintf(buf, SIP__ADDR_STRLEN, "%s%s%s%s%s:%u", name ? name : "", name ? ":" : "",
             v6 ? "[" : "", ip ? ip : "", v6 ? "]" : "", port);
    return buf;
}
