/* SPDX-License-Identifier: MIT */
/* Generic ";name=value" parameter lists (header params, URI params) as views. */
#ifndef SIP_PARAM_H
#define SIP_PARAM_H

#include "sip/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Steps through a parameter list such as "branch=z9hG4bK1;rport;received=1.2.3.4"
 * (the leading ';' already stripped, as every params view in libsip is).
 * @param iter   the rest of the list; advanced past the parameter returned
 * @param name   receives the parameter name
 * @param value  receives the value (quotes kept), empty when the parameter has no '='
 * @return 1 when a parameter was returned, 0 at the end of the list.
 */
SIP_EXTERN int sip_params_next(sip_str_t *iter, sip_str_t *name, sip_str_t *value);

/**
 * Finds a parameter by name (case-insensitive) in a list.
 * @param params  the list (leading ';' stripped)
 * @param name    the name to find
 * @param value   receives the value (quotes kept; empty for a flag); may be NULL
 * @return 1 when present, 0 when absent.
 */
SIP_EXTERN int sip_params_get(sip_str_t params, const char *name, sip_str_t *value);

/**
 * Like sip_params_get() with a custom separator ('&' for URI headers).
 */
SIP_EXTERN int sip_params_get_sep(sip_str_t params, char sep, const char *name, sip_str_t *value);

/**
 * Strips one level of double quotes from a value, if it has them ("\"abc\"" gives "abc").
 * Backslash escapes inside are left as they are.
 */
SIP_EXTERN sip_str_t sip_str_unquote(sip_str_t v);

#ifdef __cplusplus
}
#endif
#endif
