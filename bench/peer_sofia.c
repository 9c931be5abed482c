/* SPDX-License-Identifier: MIT */
/* parse-bench peer: Sofia-SIP, which parses every header of its message class inside msg_make. */
#include <stdio.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

int pb_sofia_setup(void);
int pb_sofia_parse(const char *buf, size_t len);
int pb_sofia_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap);

static msg_mclass_t const *mclass;

int pb_sofia_setup(void)
{
    mclass = sip_default_mclass();
    return mclass != NULL ? 0 : -1;
}

int pb_sofia_parse(const char *buf, size_t len)
{
    msg_t *msg = msg_make(mclass, 0, buf, (ssize_t)len);
    if (msg == NULL) return -1;
    /* msg_make returns a message even when a header failed; the flag tells. */
    int rc = (msg_object(msg)->msg_flags & MSG_FLG_ERROR) ? -1 : 0;
    msg_destroy(msg);
    return rc;
}

static int fail(char *why, size_t cap, const char *what)
{
    snprintf(why, cap, "%s", what);
    return -1;
}

static int check_sip(const sip_t *sip, int vias, int contacts, unsigned long cseq,
                     const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if (sip->sip_error != NULL) return fail(why, cap, "a header failed to parse");
    int n = 0;
    for (const sip_via_t *v = sip->sip_via; v != NULL; v = v->v_next)
        n++;
    if (n != vias) return fail(why, cap, "wrong Via count");
    if (sip->sip_via->v_branch == NULL || strncmp(sip->sip_via->v_branch, "z9hG4bK", 7) != 0)
        return fail(why, cap, "top Via branch not parsed");
    if (sip->sip_from == NULL || sip->sip_from->a_tag == NULL || sip->sip_from->a_tag[0] == '\0')
        return fail(why, cap, "From tag not parsed");
    if (sip->sip_call_id == NULL || sip->sip_call_id->i_id == NULL)
        return fail(why, cap, "Call-ID not parsed");
    if (sip->sip_cseq == NULL || sip->sip_cseq->cs_seq != cseq)
        return fail(why, cap, "CSeq not parsed");
    n = 0;
    for (const sip_contact_t *m = sip->sip_contact; m != NULL; m = m->m_next)
        n++;
    if (n != contacts) return fail(why, cap, "wrong Contact count");
    if (contacts > 0 && sip->sip_contact->m_url->url_host == NULL)
        return fail(why, cap, "Contact URI not parsed");
    if (auth_user != NULL) {
        if (sip->sip_authorization == NULL) return fail(why, cap, "Authorization not parsed");
        /* Sofia-SIP keeps the quotes of quoted auth-params. */
        const char *u = msg_params_find(sip->sip_authorization->au_params, "username");
        size_t ulen = strlen(auth_user);
        if (u == NULL || strlen(u) != ulen + 2 || strncmp(u + 1, auth_user, ulen) != 0 ||
            msg_params_find(sip->sip_authorization->au_params, "response") == NULL)
            return fail(why, cap, "Authorization credentials not parsed");
    }
    size_t got = sip->sip_payload != NULL ? sip->sip_payload->pl_len : 0;
    if (got != body_len) return fail(why, cap, "wrong body length");
    for (const sip_unknown_t *u = sip->sip_unknown; u != NULL; u = u->un_next)
        fprintf(stderr, "note: sofia keeps header \"%s\" unparsed (unknown to its class)\n",
                u->un_name);
    return 0;
}

int pb_sofia_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap)
{
    msg_t *msg = msg_make(mclass, 0, buf, (ssize_t)len);
    if (msg == NULL) return fail(why, cap, "msg_make returned NULL");
    int rc;
    if (msg_object(msg)->msg_flags & MSG_FLG_ERROR)
        rc = fail(why, cap, "msg_make flagged a parse error");
    else
        rc = check_sip(sip_object(msg), vias, contacts, cseq, auth_user, body_len, why, cap);
    msg_destroy(msg);
    return rc;
}
