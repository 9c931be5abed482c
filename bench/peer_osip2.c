/* SPDX-License-Identifier: MIT */
/* parse-bench peer: GNU oSIP2, which parses every header it knows during osip_message_parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

/* The driver (parse_bench.c) declares these with the same prototypes. */
int pb_osip2_setup(void);
int pb_osip2_parse(const char *buf, size_t len);
int pb_osip2_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap);

int pb_osip2_setup(void)
{
    /* Builds oSIP2's header-name lookup table; required once before any parse. */
    return parser_init() == OSIP_SUCCESS ? 0 : -1;
}

int pb_osip2_parse(const char *buf, size_t len)
{
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != OSIP_SUCCESS) return -1;
    int rc = osip_message_parse(m, buf, len);
    osip_message_free(m);
    return rc == OSIP_SUCCESS ? 0 : -1;
}

static int fail(char *why, size_t cap, const char *what)
{
    snprintf(why, cap, "%s", what);
    return -1;
}

static int check_msg(osip_message_t *m, int vias, int contacts, unsigned long cseq,
                     const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if (osip_list_size(&m->vias) != vias) return fail(why, cap, "wrong Via count");
    osip_via_t *via = NULL;
    osip_generic_param_t *p = NULL;
    if (osip_message_get_via(m, 0, &via) < 0 || osip_via_param_get_byname(via, "branch", &p) < 0 ||
        p == NULL || p->gvalue == NULL || strncmp(p->gvalue, "z9hG4bK", 7) != 0)
        return fail(why, cap, "top Via branch not parsed");
    p = NULL;
    if (m->from == NULL || osip_from_get_tag(m->from, &p) < 0 || p == NULL || p->gvalue == NULL ||
        p->gvalue[0] == '\0')
        return fail(why, cap, "From tag not parsed");
    if (m->call_id == NULL || osip_call_id_get_number(m->call_id) == NULL)
        return fail(why, cap, "Call-ID not parsed");
    if (m->cseq == NULL || osip_cseq_get_number(m->cseq) == NULL ||
        strtoul(osip_cseq_get_number(m->cseq), NULL, 10) != cseq)
        return fail(why, cap, "CSeq not parsed");
    if (osip_list_size(&m->contacts) != contacts) return fail(why, cap, "wrong Contact count");
    if (contacts > 0) {
        osip_contact_t *c = NULL;
        if (osip_message_get_contact(m, 0, &c) < 0 || osip_contact_get_url(c) == NULL ||
            osip_contact_get_url(c)->host == NULL)
            return fail(why, cap, "Contact URI not parsed");
    }
    if (auth_user != NULL) {
        osip_authorization_t *a = NULL;
        if (osip_message_get_authorization(m, 0, &a) < 0 || a == NULL)
            return fail(why, cap, "Authorization not parsed");
        /* oSIP2 keeps the quotes of quoted auth-params. */
        const char *u = osip_authorization_get_username(a);
        size_t ulen = strlen(auth_user);
        if (u == NULL || strlen(u) != ulen + 2 || strncmp(u + 1, auth_user, ulen) != 0 ||
            osip_authorization_get_response(a) == NULL)
            return fail(why, cap, "Authorization credentials not parsed");
    }
    osip_body_t *body = NULL;
    size_t got = 0;
    if (osip_message_get_body(m, 0, &body) >= 0 && body != NULL) got = body->length;
    if (got != body_len) return fail(why, cap, "wrong body length");
    return 0;
}

int pb_osip2_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap)
{
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != OSIP_SUCCESS) return fail(why, cap, "osip_message_init failed");
    int rc = osip_message_parse(m, buf, len);
    if (rc != OSIP_SUCCESS) {
        snprintf(why, cap, "osip_message_parse returned %d", rc);
        osip_message_free(m);
        return -1;
    }
    rc = check_msg(m, vias, contacts, cseq, auth_user, body_len, why, cap);
    osip_message_free(m);
    return rc;
}
