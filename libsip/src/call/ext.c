/* SPDX-License-Identifier: MIT */
/* Option tags in Supported, Require and Unsupported, and the RFC 3261 §8.2.2.3 420 check. */
#include <stdio.h>
#include <string.h>

#include "call/ext.h"

static const char *const ext_names[] = {
    "100rel", "timer", "replaces", "precondition", "norefersub", "path", "outbound", "gruu",
};
#define EXT_COUNT (sizeof(ext_names) / sizeof(ext_names[0]))

unsigned sip__ext_from_str(sip_str_t tag)
{
    /* RFC 3261 §19.2 gives option tags no case rule; like the other tokens of §7.3.1 they are
     * compared without case, as most stacks do. */
    for (size_t i = 0; i < EXT_COUNT; i++)
        if (sip_str_caseeq_cstr(tag, ext_names[i])) return 1u << i;
    return SIP__EXT_OTHER;
}

const char *sip__ext_name(unsigned bit)
{
    for (size_t i = 0; i < EXT_COUNT; i++)
        if (bit == 1u << i) return ext_names[i];
    return NULL;
}

unsigned sip__ext_list(const sip_msg_t *msg, sip_hdr_id_t id)
{
    unsigned mask = 0;
    for (const sip_header_t *h = sip_msg_header_first(msg); h; h = sip_header_next(h)) {
        if (sip_header_get_id(h) != id) continue;
        const sip_token_t *t = sip_header_token(h);
        /* An empty Supported (§25.1 allows it) lists nothing. */
        if (t && t->value.len) mask |= sip__ext_from_str(t->value);
    }
    return mask;
}

int sip__ext_has(const sip_msg_t *msg, sip_hdr_id_t id, const char *tag)
{
    if (!tag) return 0;
    for (const sip_header_t *h = sip_msg_header_first(msg); h; h = sip_header_next(h)) {
        if (sip_header_get_id(h) != id) continue;
        const sip_token_t *t = sip_header_token(h);
        if (t && sip_str_caseeq_cstr(t->value, tag)) return 1;
    }
    return 0;
}

/* Appends ", tag" (or "tag" first) when it fits whole; 1 when it did. */
static int append_tag(char *buf, size_t size, size_t *len, sip_str_t tag)
{
    size_t sep = *len ? 2 : 0;
    if (!buf || *len + sep + tag.len + 1 > size) return 0;
    if (sep) memcpy(buf + *len, ", ", 2);
    memcpy(buf + *len + sep, tag.ptr, tag.len);
    *len += sep + tag.len;
    buf[*len] = '\0';
    return 1;
}

int sip__ext_format(unsigned mask, char *buf, size_t size)
{
    size_t len = 0;
    if (buf && size) buf[0] = '\0';
    for (size_t i = 0; i < EXT_COUNT; i++) {
        if (!(mask & (1u << i))) continue;
        if (!append_tag(buf, size, &len, sip_str_from_cstr(ext_names[i]))) {
            if (buf && size) buf[0] = '\0';
            return SIP_ENOSPC;
        }
    }
    return (int)len;
}

int sip__ext_add(sip_msg_t *msg, sip_hdr_id_t id, unsigned mask)
{
    const char *name = sip_hdr_name(id);
    if (!msg || !name || sip_hdr_kind(id) != SIP_HK_TOKEN) return SIP_EINVAL;
    mask &= ~(sip__ext_list(msg, id) | SIP__EXT_OTHER);
    if (!mask) return 0;
    char value[128];
    int rc = sip__ext_format(mask, value, sizeof(value));
    if (rc < 0) return rc;
    return sip_msg_add_header(msg, name, value);
}

/* 1 when tag is one of the entries of a comma-separated list. */
static int in_list(sip_str_t list, sip_str_t tag)
{
    const char *p = list.ptr, *end = list.ptr + list.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p > s && sip_str_caseeq(tag, (sip_str_t){s, (size_t)(p - s)})) return 1;
    }
    return 0;
}

int sip__ext_check_require(const sip_msg_t *req, unsigned supported, const char *extra,
                           char *unsupported, size_t size)
{
    if (!req || !sip_msg_is_request(req)) return SIP_EINVAL;
    if (unsupported && size) unsupported[0] = '\0';
    sip_method_t m = sip_msg_get_method(req);
    /* RFC 3261 §8.2.2.3: Require in CANCEL and in the ACK of a non-2xx is ignored; the ACK of a
     * 2xx gets no response at all. */
    if (m == SIP_METHOD_CANCEL || m == SIP_METHOD_ACK) return 0;
    int bad = 0;
    size_t len = 0;
    for (const sip_header_t *h = sip_msg_header_first(req); h; h = sip_header_next(h)) {
        if (sip_header_get_id(h) != SIP_HDR_REQUIRE) continue;
        const sip_token_t *t = sip_header_token(h);
        if (!t || !t->value.len) continue;
        unsigned bit = sip__ext_from_str(t->value);
        if ((bit != SIP__EXT_OTHER && (supported & bit)) ||
            in_list(sip_str_from_cstr(extra), t->value))
            continue;
        bad = 1;
        if (unsupported && !in_list((sip_str_t){unsupported, len}, t->value))
            append_tag(unsupported, size, &len, t->value);
    }
    return bad ? 420 : 0;
}
