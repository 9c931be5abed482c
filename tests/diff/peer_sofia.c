/* SPDX-License-Identifier: MIT */
/* Differential test peer: Sofia-SIP, driven as bench/peer_sofia.c drives it (msg_make). */
#include <stdio.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su.h>

#include "diff.h"

static msg_mclass_t const *mclass;

int diff_sofia_setup(void)
{
    mclass = sip_default_mclass();
    return mclass != NULL ? 0 : -1;
}

void diff_sofia_teardown(void) {}

int diff_sofia_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap)
{
    memset(f, 0, sizeof(*f));
    f->cseq = -1;
    f->body_len = -1;
    f->content_length = -1;
    msg_t *msg = msg_make(mclass, 0, buf, (ssize_t)len);
    if (msg == NULL) {
        if (why) snprintf(why, cap, "msg_make returned NULL");
        return 0;
    }
    int ok = 1;
    sip_t const *sip = sip_object(msg);
    /* msg_make returns a message even when a header failed: a critical one (start line,
     * framing) sets MSG_FLG_ERROR, any other known header that failed to parse lands in
     * sip_error, which nta answers 400 to (nta.c, agent_recv_request). */
    if (msg_object(msg)->msg_flags & MSG_FLG_ERROR) {
        if (why) snprintf(why, cap, "MSG_FLG_ERROR");
        ok = 0;
    } else if (sip == NULL || (sip->sip_request == NULL && sip->sip_status == NULL)) {
        if (why) snprintf(why, cap, "no start line");
        ok = 0;
    } else if (sip->sip_error != NULL) {
        if (why) {
            /* The failed header's text (er_name is not always set). */
            const msg_common_t *h = sip->sip_error->er_common;
            int n = h->h_data ? (int)h->h_len : 0;
            const char *d = h->h_data ? h->h_data : "";
            while (n > 0 && (d[n - 1] == '\r' || d[n - 1] == '\n'))
                n--;
            snprintf(why, cap, "header failed: %.*s", n > 60 ? 60 : n, d);
        }
        ok = 0;
    }
    if (ok) {
        for (sip_via_t const *v = sip->sip_via; v != NULL; v = v->v_next)
            f->vias++;
        if (sip->sip_via) {
            diff_copy(f->via_host, sizeof(f->via_host), sip->sip_via->v_host);
            diff_copy(f->via_branch, sizeof(f->via_branch), sip->sip_via->v_branch);
        }
        if (sip->sip_call_id) diff_copy(f->call_id, sizeof(f->call_id), sip->sip_call_id->i_id);
        if (sip->sip_cseq) {
            f->cseq = (long)sip->sip_cseq->cs_seq;
            diff_copy(f->cseq_method, sizeof(f->cseq_method), sip->sip_cseq->cs_method_name);
        }
        if (sip->sip_from) diff_copy(f->from_tag, sizeof(f->from_tag), sip->sip_from->a_tag);
        if (sip->sip_to) diff_copy(f->to_tag, sizeof(f->to_tag), sip->sip_to->a_tag);
        if (sip->sip_content_length) f->content_length = (long)sip->sip_content_length->l_length;
        f->body_len = sip->sip_payload ? (long)sip->sip_payload->pl_len : 0;
    }
    msg_destroy(msg);
    return ok;
}
