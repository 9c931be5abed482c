/* SPDX-License-Identifier: MIT */
/* Addresses in logs, in the form sip_transport_listen() takes ("udp:[::1]:5060"). */
#ifndef SIP_TRANSPORT_ADDR_H
#define SIP_TRANSPORT_ADDR_H

#include <stdint.h>

#include "sip/net.h"

/* Room for the longest: "wss:[" + 45 characters of IPv6 + "]:65535" and the NUL. */
#define SIP__ADDR_STRLEN 64

/* Writes "udp:[::1]:5060" or "udp:127.0.0.1:5060" into buf, without the transport when t is
 * SIP_TRANSPORT_NONE ("[::1]:5060"): an IPv6 address keeps its colons apart from the port's (RFC
 * 3986 §3.2.2). Returns buf, so it fits in a log call's arguments. */
const char *sip__addr_str(char buf[SIP__ADDR_STRLEN], sip_transport_type_t t, const char *ip,
                          uint16_t port);

#endif
