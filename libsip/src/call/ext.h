/* SPDX-License-Identifier: MIT */
/* Option tags (RFC 3261 §19.2): which ones a message lists in Supported, Require or
 * Proxy-Require, the values to send, and the §8.2.2.3 check that answers 420 Bad Extension. */
#ifndef SIP_CALL_EXT_H
#define SIP_CALL_EXT_H

#include <stddef.h>

#include "sip/msg.h"

/* The option tags the call layer knows, as bits of a mask. A mask says what a message lists or
 * what a side supports; SIP__EXT_OTHER stands for any tag outside this list. */
enum {
    SIP__EXT_100REL = 1u << 0,       /* RFC 3262 reliable provisional responses */
    SIP__EXT_TIMER = 1u << 1,        /* RFC 4028 session timers */
    SIP__EXT_REPLACES = 1u << 2,     /* RFC 3891 */
    SIP__EXT_PRECONDITION = 1u << 3, /* RFC 3312 */
    SIP__EXT_NOREFERSUB = 1u << 4,   /* RFC 4488 */
    SIP__EXT_PATH = 1u << 5,         /* RFC 3327 */
    SIP__EXT_OUTBOUND = 1u << 6,     /* RFC 5626 */
    SIP__EXT_GRUU = 1u << 7,         /* RFC 5627 */
    SIP__EXT_OTHER = 1u << 31,       /* a tag this list does not name */
};

/* The bit of one option tag (compared without regard to case), or SIP__EXT_OTHER. */
unsigned sip__ext_from_str(sip_str_t tag);

/* The tag of one bit ("100rel"); NULL for SIP__EXT_OTHER, 0 or several bits. */
const char *sip__ext_name(unsigned bit);

/* The mask of the tags that every header with this id in msg lists (id is SIP_HDR_SUPPORTED,
 * SIP_HDR_REQUIRE, SIP_HDR_PROXY_REQUIRE or SIP_HDR_UNSUPPORTED; compact forms share the id).
 * 0 for a NULL msg. */
unsigned sip__ext_list(const sip_msg_t *msg, sip_hdr_id_t id);

/* 1 when a header with this id in msg lists tag (any tag, known or not), else 0. */
int sip__ext_has(const sip_msg_t *msg, sip_hdr_id_t id, const char *tag);

/*
 * Writes the tags of mask as a header value, in bit order: "100rel, timer". SIP__EXT_OTHER is
 * left out (it names no tag).
 * @return the length written (0 for an empty mask), or SIP_ENOSPC when buf is too small (then
 *         buf holds an empty string when size > 0).
 */
int sip__ext_format(unsigned mask, char *buf, size_t size);

/*
 * Adds the tags of mask that msg does not list yet in a header with this id as one more header
 * ("Supported: 100rel, timer"), so that a session can add its tags to what the UA put in.
 * @param id  SIP_HDR_SUPPORTED, SIP_HDR_REQUIRE, SIP_HDR_PROXY_REQUIRE or SIP_HDR_UNSUPPORTED
 * @return 0 (also when nothing was missing), SIP_ENOMEM, SIP_EINVAL.
 */
int sip__ext_add(sip_msg_t *msg, sip_hdr_id_t id, unsigned mask);

/*
 * RFC 3261 §8.2.2.3: finds the option tags a request Requires that this side does not support.
 * Proxy-Require is a proxy's business (§20.29) and is not looked at; CANCEL and ACK are never
 * rejected for their Require (§8.2.2.3 ignores it there), so they pass.
 * @param req          the request
 * @param supported    the mask of known tags this side supports
 * @param extra        further supported tags as a comma-separated list ("foo, bar"), or NULL
 * @param unsupported  receives the Unsupported header value, each tag once as the request
 *                     spelled it ("x-foo, timer"); empty when the request passes; tags that
 *                     do not fit are left out, so the list stays well formed; may be NULL
 * @param size         size of unsupported
 * @return 0 when every required tag is supported, 420 when the request is to be rejected with
 *         420 (Bad Extension) and an Unsupported header carrying the value written, SIP_EINVAL
 *         for a NULL req.
 */
int sip__ext_check_require(const sip_msg_t *req, unsigned supported, const char *extra,
                           char *unsupported, size_t size);

#endif
