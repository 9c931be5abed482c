/* SPDX-License-Identifier: MIT */
/* Private side of the guard: addresses as 16 bytes (IPv4 mapped into ::ffff:0:0/96, RFC 4291
 * §2.5.5.2, so that an IPv4 peer seen on a dual-stack socket is one source), CIDR parsing, and
 * the entry points of the transport, which has the peer's binary address at hand. */
#ifndef SIP_GUARD_INT_H
#define SIP_GUARD_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip/guard.h"

/* An address: 16 bytes, IPv4 mapped. */
typedef struct sip__gaddr {
    uint8_t b[16];
} sip__gaddr_t;

/* A network: the address masked to its prefix, and the prefix length in bits over the 16
 * bytes (an IPv4 /24 is 96 + 24). */
typedef struct sip__gnet {
    sip__gaddr_t addr;
    unsigned bits;
} sip__gnet_t;

/* Parses "192.0.2.7" or "2001:db8::1" (square brackets allowed around IPv6). 0 or SIP_EINVAL. */
int sip__gaddr_parse(const char *s, sip__gaddr_t *out);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a single address (a full prefix). Host bits set
 * below the prefix are refused ("10.0.0.1/8" is a typo more often than not). 0 or SIP_EINVAL. */
int sip__gnet_parse(const char *s, size_t len, sip__gnet_t *out);
/* 1 when addr is inside net. */
int sip__gnet_contains(const sip__gnet_t *net, const sip__gaddr_t *addr);
/* From a sockaddr (AF_INET or AF_INET6). 0 or SIP_EINVAL. */
int sip__gaddr_from_sa(const struct sockaddr *sa, sip__gaddr_t *out);
/* Writes the address as text ("192.0.2.7" for a mapped IPv4 one). Returns buf. */
const char *sip__gaddr_str(const sip__gaddr_t *a, char *buf, size_t size);

/* What the transport asks for each datagram, stream message and new connection.
 * request: 1 counts it against the rate limit (a request), 0 only asks whether the source is
 * blocked (a response, a connection). Returns 0 (go on) or SIP_EBLOCKED (drop it; counted as
 * SIP_STAT_BLOCKED). A guard that is closed, or an address it cannot read, lets it through. */
int sip__guard_admit(sip_guard_t *g, const struct sockaddr *sa, int request);

/* The loop the guard was made on (its users must live on the same one: one thread). */
sip_loop_t *sip__guard_loop(const sip_guard_t *g);

#endif
