/* SPDX-License-Identifier: MIT */
/* A call's session descriptions: the offer/answer engine (RFC 3264, sip/oa.h) when the call has
 * local capabilities, else the application's own SDP text. */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "sip/error.h"
#include "sip/sdp.h"

int sip__call_has_sdp(const sip_msg_t *msg)
{
    const sip_media_t *ct = sip_msg_get_content_type(msg);
    return ct && sip_msg_get_body(msg).len && sip_str_caseeq_cstr(ct->type, "application") &&
           sip_str_caseeq_cstr(ct->subtype, "sdp");
}

int sip__call_media_init(sip_call_t *c, const char *media, const char *address)
{
    sip_sdp_t *caps = NULL;
    int rc = sip__ua_caps(c->ua, media, &caps);
    if (rc) return rc;
    sip_oa_opts_t o;
    sip_oa_opts_init(&o);
    o.address = address;
    rc = sip_oa_create(&c->oa, &o);
    if (!rc) rc = sip_oa_set_local(c->oa, caps, NULL);
    sip_sdp_unref(caps);
    return rc;
}

static int print_sdp(const sip_sdp_t *sdp, char **text)
{
    int n = sip_sdp_print(sdp, NULL, 0);
    if (n < 0) return n;
    char *s = malloc((size_t)n + 1);
    if (!s) return SIP_ENOMEM;
    sip_sdp_print(sdp, s, (size_t)n + 1);
    *text = s;
    return 0;
}

int sip__call_offer(sip_oa_t *oa, char **text)
{
    sip_sdp_t *offer = NULL;
    int rc = sip_oa_create_offer(oa, &offer, NULL);
    if (!rc) rc = print_sdp(offer, text);
    sip_sdp_unref(offer);
    return rc;
}

static int parse_body(const sip_msg_t *msg, sip_sdp_t **out)
{
    sip_str_t b = sip_msg_get_body(msg);
    sip_sdp_error_t perr;
    return sip_sdp_parse(out, b.ptr, b.len, &perr);
}

int sip__call_answer(sip_oa_t *oa, const sip_msg_t *msg, char **text)
{
    sip_sdp_t *offer = NULL, *answer = NULL;
    int rc = parse_body(msg, &offer);
    if (!rc) rc = sip_oa_set_remote_offer(oa, offer, NULL);
    sip_sdp_unref(offer);
    if (rc) return rc;
    rc = sip_oa_create_answer(oa, &answer, NULL);
    if (!rc) rc = print_sdp(answer, text);
    sip_sdp_unref(answer);
    return rc;
}

int sip__call_take_answer(sip_oa_t *oa, const sip_msg_t *msg)
{
    sip_sdp_t *answer = NULL;
    int rc = parse_body(msg, &answer);
    if (!rc) rc = sip_oa_set_remote_answer(oa, answer, NULL);
    sip_sdp_unref(answer);
    return rc;
}

void sip__call_media_done(sip_call_t *c, sip_oa_t *oa, sip_msg_t *msg)
{
    if (oa) {
        char *l = NULL, *r = NULL;
        const sip_sdp_t *ls = sip_oa_get_local(oa), *rs = sip_oa_get_remote(oa);
        if (ls && print_sdp(ls, &l) == 0) {
            free(c->local_sdp);
            c->local_sdp = l;
        }
        if (rs && print_sdp(rs, &r) == 0) {
            free(c->remote_sdp);
            c->remote_sdp = r;
        }
    }
    sip__call_emit(c, SIP_CALL_EVENT_MEDIA, msg, NULL);
}
