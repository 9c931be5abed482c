/* SPDX-License-Identifier: MIT */
/* URIs: sip, sips (RFC 3261 §19.1), tel (RFC 3966) and any other absolute URI as an opaque view. */
#ifndef SIP_URI_H
#define SIP_URI_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** URI schemes libsip understands; anything else parses as SIP_URI_OTHER (RFC 3986 absolute URI).
 */
typedef enum sip_uri_scheme {
    SIP_URI_OTHER = 0,
    SIP_URI_SIP,
    SIP_URI_SIPS,
    SIP_URI_TEL,
} sip_uri_scheme_t;

/** What kind of host a URI (or Via) names. */
typedef enum sip_host_type {
    SIP_HOST_NONE = 0,
    SIP_HOST_NAME,
    SIP_HOST_IPV4,
    SIP_HOST_IPV6, /* host view keeps the brackets: "[2001:db8::1]" */
} sip_host_type_t;

/**
 * A parsed URI. Every field is a view into the parsed text; nothing is unescaped (compare with
 * sip_uri_equal(), decode with sip_uri_unescape()). Absent parts are empty views.
 *
 * sip/sips: user, password, host, port, params (";a=b;lr" without the first ';'), headers
 * ("a=b&c=d" without '?'), and the common URI parameters found while parsing. tel: user holds the
 * number ("+1-201-555-0123" or "7042"), params the parameters. other: opaque holds everything after
 * "scheme:".
 */
typedef struct sip_uri {
    sip_uri_scheme_t scheme;
    sip_str_t scheme_str; /**< scheme as written */
    sip_str_t user;
    sip_str_t password;
    sip_str_t host; /**< IPv6 references keep their brackets */
    sip_host_type_t host_type;
    uint16_t port;     /**< 0 when absent */
    sip_str_t params;  /**< all URI parameters, ';'-separated, leading ';' stripped */
    sip_str_t headers; /**< URI headers, '&'-separated, leading '?' stripped */
    sip_str_t opaque;  /**< SIP_URI_OTHER: the part after "scheme:" */
    sip_str_t raw;     /**< the whole URI text */
    /* Common parameters (RFC 3261 §19.1.1), found while parsing. */
    sip_str_t transport;
    sip_str_t user_param;
    sip_str_t method;
    sip_str_t maddr;
    int ttl; /**< -1 when absent */
    int lr;  /**< 1 when the lr parameter is present */
} sip_uri_t;

/**
 * Parses a URI.
 * @param out  receives the views (cleared first); Borrowed: views point into s
 * @param s    the URI text
 * @param len  its length
 * @return 0, SIP_EURI when the text is not a URI, SIP_EINVAL for NULL arguments.
 */
SIP_EXTERN int sip_uri_parse(sip_uri_t *out, const char *s, size_t len);

/**
 * Compares two URIs with the rules of RFC 3261 §19.1.4 (sip/sips), RFC 3966 §4 (tel) or, for
 * other schemes, case-insensitive scheme and byte-exact rest after unescaping.
 * @return 1 when equal, 0 when not.
 */
SIP_EXTERN int sip_uri_equal(const sip_uri_t *a, const sip_uri_t *b);

/**
 * Finds a URI parameter by name (case-insensitive).
 * @param uri    the URI
 * @param name   parameter name
 * @param value  receives the value (empty view for a parameter without '='); may be NULL
 * @return 1 when present, 0 when absent.
 */
SIP_EXTERN int sip_uri_param(const sip_uri_t *uri, const char *name, sip_str_t *value);

/**
 * Finds a URI header ("?name=value") by name (case-insensitive).
 * @return 1 when present, 0 when absent.
 */
SIP_EXTERN int sip_uri_header(const sip_uri_t *uri, const char *name, sip_str_t *value);

/**
 * Decodes %HH escapes of a view into a buffer (NUL octets are kept; the result is NUL-terminated).
 * @param in    the escaped text
 * @param buf   destination
 * @param size  size of buf
 * @return the decoded length (>= size means truncated), SIP_EURI for a bad escape.
 */
SIP_EXTERN int sip_uri_unescape(sip_str_t in, char *buf, size_t size);

/**
 * Prints a URI in canonical form (scheme lower-case, everything else as parsed).
 * @return the length printed (>= size means truncated, like snprintf), or a negative error.
 */
SIP_EXTERN int sip_uri_print(const sip_uri_t *uri, char *buf, size_t size);

/**
 * Names a scheme ("sip", "sips", "tel", or NULL for SIP_URI_OTHER).
 */
SIP_EXTERN const char *sip_uri_scheme_name(sip_uri_scheme_t scheme);

#ifdef __cplusplus
}
#endif
#endif
