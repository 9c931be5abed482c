/* SPDX-License-Identifier: MIT */
/* Transport types and the network facts of a message (where it came from, where it went). */
#ifndef SIP_NET_H
#define SIP_NET_H

#include <stdint.h>

#include "sip/export.h"
#include "sip/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Transport protocols. */
typedef enum sip_transport_type {
    SIP_TRANSPORT_NONE = 0,
    SIP_TRANSPORT_UDP,
    SIP_TRANSPORT_TCP,
    SIP_TRANSPORT_TLS,
    SIP_TRANSPORT_WS,
    SIP_TRANSPORT_WSS,
} sip_transport_type_t;

/** Addresses of a received or sent message. IP strings are printable, without brackets. */
typedef struct sip_netinfo {
    sip_transport_type_t transport;
    char local_ip[48];
    uint16_t local_port;
    char remote_ip[48];
    uint16_t remote_port;
    uint64_t conn_id; /**< stream connection it used (0 for UDP) */
    /** Where to send: the domain the target was located from (the URI's host, not an SRV
     *  target: RFC 5922 §4.1), or "" for an address. TLS and WSS send it as SNI and check it
     *  against the server certificate's DNS names (RFC 5922 §7.2); WebSocket sends it as Host.
     *  Empty: the certificate must name remote_ip. sip_resolve() fills it in; on a message
     *  sent or received over a connection, the name that connection was opened to. */
    char server_name[256];
} sip_netinfo_t;

/** The Via token of a transport ("UDP", "TLS", "WSS"), or NULL. */
SIP_EXTERN const char *sip_transport_name(sip_transport_type_t t);
/** The lower-case URI/spec form ("udp", "tls", "wss"), or NULL. */
SIP_EXTERN const char *sip_transport_param(sip_transport_type_t t);
/** Looks up a transport by name, any case ("tcp", "WSS"); SIP_TRANSPORT_NONE when unknown. */
SIP_EXTERN sip_transport_type_t sip_transport_from_name(const char *s, size_t len);
/** 1 for the stream transports (TCP, TLS, WS, WSS). */
SIP_EXTERN int sip_transport_is_reliable(sip_transport_type_t t);
/** 1 for the secure ones (TLS, WSS). */
SIP_EXTERN int sip_transport_is_secure(sip_transport_type_t t);
/** The default port (5060, 5061 for TLS, 80 for WS, 443 for WSS). */
SIP_EXTERN uint16_t sip_transport_default_port(sip_transport_type_t t);

#ifdef __cplusplus
}
#endif
#endif
