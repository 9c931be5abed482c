/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the URI parser, comparator and printer. */
#ifndef SIP_URI_INT_H
#define SIP_URI_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sip/uri.h"

/* Character classes of sip__uri_cls[] (one bit each). The sets come from the ABNF of
 * RFC 3261 §25.1 unless noted; '%' is never in a class, escapes are handled by the scanners. */
#define URI_ALPHA 0x0001u   /* ALPHA */
#define URI_DIGIT 0x0002u   /* DIGIT */
#define URI_HEX 0x0004u     /* HEXDIG */
#define URI_USER 0x0008u    /* user: unreserved / user-unreserved, plus '#' (see parse.c) */
#define URI_PASS 0x0010u    /* password: unreserved / "&" / "=" / "+" / "$" / "," */
#define URI_PARAM 0x0020u   /* paramchar: param-unreserved / unreserved */
#define URI_HDR 0x0040u     /* hname/hvalue: hnv-unreserved / unreserved */
#define URI_SCHEME 0x0080u  /* scheme after the first ALPHA: ALPHA / DIGIT / "+" / "-" / "." */
#define URI_OPAQUE 0x0100u  /* RFC 3986 §2: unreserved / gen-delims / sub-delims */
#define URI_TELNUM 0x0200u  /* RFC 3966 phonedigit-hex: HEXDIG / "*" / "#" / visual-separator */
#define URI_TELVIS 0x0400u  /* RFC 3966 visual-separator: "-" / "." / "(" / ")" */
#define URI_RES 0x0800u     /* RFC 3261 reserved: escaped and literal forms differ (§19.1.4) */
#define URI_RES3986 0x1000u /* RFC 3986 §2.2 reserved: gen-delims / sub-delims */
#define URI_IPV6 0x2000u    /* inside "[...]": HEXDIG / ":" / "." */
#define URI_LABEL 0x4000u   /* hostname label: alphanum / "-" */

/* The table itself lives in parse.c; 512 bytes, read-only. */
extern const uint16_t sip__uri_cls[256];

/* Value of a hex digit already known to be one. */
static inline unsigned sip__uri_hexval(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* ASCII lower-case without locale. */
static inline unsigned char sip__uri_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Parses the text between '[' and ']' (RFC 3261 IPv6address, tolerant of the three-colon form of
 * RFC 5118 §4.10). out (may be NULL) receives the 16 octets. Returns 0 or -1. */
int sip__uri_ipv6(const unsigned char *p, size_t n, uint8_t out[16]);

/* Scans a host at p (the same rules): returns the first octet after it, or NULL when what starts
 * at p is no host. Sets *type. */
const unsigned char *sip__uri_host_scan(const unsigned char *p, const unsigned char *end,
                                        sip_host_type_t *type);

/* Checks that a whole view is a host (hostname, IPv4address or IPv6reference).
 * Returns 0 and sets *type, or -1. */
int sip__uri_host_check(const unsigned char *p, size_t n, sip_host_type_t *type);

#endif
