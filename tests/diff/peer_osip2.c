/* SPDX-License-Identifier: MIT */
/* Differential test peer: GNU oSIP2, driven as bench/peer_osip2.c drives it
 * (osip_message_parse). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "diff.h"

static void quiet(const char *fi, int li, osip_trace_level_t level, const char *fmt, va_list ap)
{
    (void)fi, (void)li, (void)level, (void)fmt, (void)ap;
}

int diff_osip2_setup(void)
{
    /* Its error traces go to stderr by default: the refusals are ours to report. */
    osip_trace_initialize_func(TRACE_LEVEL0, quiet);
    for (int l = 0; l < END_TRACE_LEVEL; l++)
        osip_trace_disable_level((osip_trace_level_t)l);
    /* Builds oSIP2's header-name lookup table; required once before any parse. */
    return parser_init() == OSIP_SUCCESS ? 0 : -1;
}

static void param_copy(char *dst, size_t cap, osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) >= 0 && p != NULL)
        diff_copy(dst, cap, p->gvalue);
}

int diff_osip2_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap)
{
    memset(f, 0, sizeof(*f));
    f->cseq = -1;
    f->body_len = -1;
    f->content_length = -1;
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != OSIP_SUCCESS) {
        if (why) snprintf(why, cap, "osip_message_init failed");
        return 0;
    }
    int rc = osip_message_parse(m, buf, len);
    if (rc != OSIP_SUCCESS) {
        if (why) snprintf(why, cap, "osip_message_parse returned %d", rc);
        osip_message_free(m);
        return 0;
    }
    f->vias = osip_list_size(&m->vias);
    osip_via_t *via = NULL;
    if (osip_message_get_via(m, 0, &via) >= 0 && via != NULL) {
        diff_copy(f->via_host, sizeof(f->via_host), via->host);
        param_copy(f->via_branch, sizeof(f->via_branch), &via->via_params, "branch");
    }
    if (m->call_id != NULL) {
        /* oSIP2 splits the Call-ID at '@'. */
        const char *num = osip_call_id_get_number(m->call_id);
        const char *host = osip_call_id_get_host(m->call_id);
        if (host != NULL)
            snprintf(f->call_id, sizeof(f->call_id), "%s@%s", num ? num : "", host);
        else
            diff_copy(f->call_id, sizeof(f->call_id), num);
    }
    if (m->cseq != NULL) {
        const char *n = osip_cseq_get_number(m->cseq);
        f->cseq = n != NULL ? strtol(n, NULL, 10) : -1;
        diff_copy(f->cseq_method, sizeof(f->cseq_method), osip_cseq_get_method(m->cseq));
    }
    if (m->from != NULL) param_copy(f->from_tag, sizeof(f->from_tag), &m->from->gen_params, "tag");
    if (m->to != NULL) param_copy(f->to_tag, sizeof(f->to_tag), &m->to->gen_params, "tag");
    if (m->content_length != NULL && m->content_length->value != NULL)
        f->content_length = strtol(m->content_length->value, NULL, 10);
    osip_body_t *body = NULL;
    f->body_len = 0;
    if (osip_message_get_body(m, 0, &body) >= 0 && body != NULL) f->body_len = (long)body->length;
    osip_message_free(m);
    return 1;
}
