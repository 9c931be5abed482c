/* SPDX-License-Identifier: MIT */
/* Differential test peer: libsip (sip_msg_parse, a datagram's rules). */
#include <stdio.h>
#include <string.h>

#include "sip/msg.h"

#include "diff.h"

void diff_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void str_copy(char *dst, size_t cap, sip_str_t s)
{
    sip_str_copy(s, dst, cap);
}

int diff_libsip_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap)
{
    memset(f, 0, sizeof(*f));
    f->cseq = -1;
    f->body_len = -1;
    f->content_length = -1;
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc != 0) {
        if (why)
            snprintf(why, cap, "%s (header \"%s\", line %u)", err.reason, err.header, err.line);
        return 0;
    }
    /* What every received message also passes (the transport runs it): a header that may
     * appear once appears once. Its other check, that the mandatory headers are there, is the
     * transaction layer's business and no parser's, so a missing header is not a refusal. */
    rc = sip_msg_validate(m, &err);
    if (rc != 0 && strstr(err.reason, "more than once") != NULL) {
        if (why) snprintf(why, cap, "sip_msg_validate: %s", err.reason);
        sip_msg_unref(m);
        return 0;
    }
    f->vias = (int)sip_msg_header_count(m, SIP_HDR_VIA);
    const sip_via_t *via = sip_msg_get_via(m);
    if (via != NULL) {
        str_copy(f->via_host, sizeof(f->via_host), via->host);
        str_copy(f->via_branch, sizeof(f->via_branch), via->branch);
    }
    str_copy(f->call_id, sizeof(f->call_id), sip_msg_get_call_id(m));
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    if (cs != NULL) {
        f->cseq = (long)cs->seq;
        str_copy(f->cseq_method, sizeof(f->cseq_method), cs->method_str);
    }
    const sip_addr_t *a = sip_msg_get_from(m);
    if (a != NULL) str_copy(f->from_tag, sizeof(f->from_tag), a->tag);
    a = sip_msg_get_to(m);
    if (a != NULL) str_copy(f->to_tag, sizeof(f->to_tag), a->tag);
    const sip_num_t *cl = sip_header_num(sip_msg_header_at(m, SIP_HDR_CONTENT_LENGTH, 0));
    if (cl != NULL) f->content_length = (long)cl->value;
    f->body_len = (long)sip_msg_get_body(m).len;
    sip_msg_unref(m);
    return 1;
}
