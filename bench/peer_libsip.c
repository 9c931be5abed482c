/* SPDX-License-Identifier: MIT */
/* parse-bench peer: libsip, which parses every known header into typed fields in sip_msg_parse. */
#include <stdio.h>
#include <string.h>

#include "sip/msg.h"

int pb_libsip_setup(void);
int pb_libsip_parse(const char *buf, size_t len);
int pb_libsip_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                    const char *auth_user, size_t body_len, char *why, size_t cap);

int pb_libsip_setup(void)
{
    return 0;
}

int pb_libsip_parse(const char *buf, size_t len)
{
    sip_msg_t *m = NULL;
    int rc = sip_msg_parse(&m, buf, len, NULL);
    sip_msg_unref(m);
    return rc == 0 ? 0 : -1;
}

static int fail(char *why, size_t cap, const char *what)
{
    snprintf(why, cap, "%s", what);
    return -1;
}

static int starts_with(sip_str_t s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.ptr != NULL && s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static int check_msg(const sip_msg_t *m, int vias, int contacts, unsigned long cseq,
                     const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if ((int)sip_msg_header_count(m, SIP_HDR_VIA) != vias) return fail(why, cap, "wrong Via count");
    const sip_via_t *via = sip_msg_get_via(m);
    if (via == NULL || !starts_with(via->branch, "z9hG4bK"))
        return fail(why, cap, "top Via branch not parsed");
    const sip_addr_t *from = sip_msg_get_from(m);
    if (from == NULL || from->tag.len == 0) return fail(why, cap, "From tag not parsed");
    if (sip_msg_get_call_id(m).len == 0) return fail(why, cap, "Call-ID not parsed");
    const sip_cseq_t *cs = sip_msg_get_cseq(m);
    if (cs == NULL || cs->seq != cseq) return fail(why, cap, "CSeq not parsed");
    if ((int)sip_msg_header_count(m, SIP_HDR_CONTACT) != contacts)
        return fail(why, cap, "wrong Contact count");
    if (contacts > 0) {
        const sip_addr_t *c = sip_header_addr(sip_msg_header_at(m, SIP_HDR_CONTACT, 0));
        if (c == NULL || c->uri.host.len == 0) return fail(why, cap, "Contact URI not parsed");
    }
    if (auth_user != NULL) {
        const sip_auth_t *a = sip_header_auth(sip_msg_header_at(m, SIP_HDR_AUTHORIZATION, 0));
        /* libsip gives quoted auth-param values without their quotes. */
        if (a == NULL || a->username.len != strlen(auth_user) ||
            memcmp(a->username.ptr, auth_user, a->username.len) != 0 || a->response.len == 0)
            return fail(why, cap, "Authorization credentials not parsed");
    }
    if (sip_msg_get_body(m).len != body_len) return fail(why, cap, "wrong body length");
    return 0;
}

int pb_libsip_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                    const char *auth_user, size_t body_len, char *why, size_t cap)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = sip_msg_parse(&m, buf, len, &err);
    if (rc != 0) {
        snprintf(why, cap, "sip_msg_parse returned %d (line %u col %u, header \"%s\": %s)", rc,
                 err.line, err.column, err.header, err.reason);
        return -1;
    }
    rc = check_msg(m, vias, contacts, cseq, auth_user, body_len, why, cap);
    sip_msg_unref(m);
    return rc;
}

/* ---- printing ----------------------------------------------------------------------------
 * "libsip-print" times sip_msg_print() alone on a message parsed once (a relay printing what it
 * received); "libsip-fwd" times what a stateless proxy does per message: parse, add its Via on
 * top, take one off Max-Forwards, print, free (RFC 3261 §16.6). */

int pb_libsip_print_setup(void);
int pb_libsip_print_parse(const char *buf, size_t len);
int pb_libsip_print_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                          const char *auth_user, size_t body_len, char *why, size_t cap);
int pb_libsip_fwd_setup(void);
int pb_libsip_fwd_parse(const char *buf, size_t len);
int pb_libsip_fwd_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                        const char *auth_user, size_t body_len, char *why, size_t cap);

static char print_out[65536];
static const char *print_key;
static sip_msg_t *print_msg;

int pb_libsip_print_setup(void)
{
    return 0;
}

int pb_libsip_print_parse(const char *buf, size_t len)
{
    /* The message is parsed on the first call for a buffer and kept: only printing is timed. */
    if (buf != print_key) {
        sip_msg_unref(print_msg);
        print_msg = NULL;
        print_key = NULL;
        if (sip_msg_parse(&print_msg, buf, len, NULL) != 0) return -1;
        print_key = buf;
    }
    int n = sip_msg_print(print_msg, print_out, sizeof(print_out));
    return n > 0 && (size_t)n < sizeof(print_out) ? 0 : -1;
}

int pb_libsip_print_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                          const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if (pb_libsip_print_parse(buf, len) != 0) return fail(why, cap, "print failed");
    return pb_libsip_check(print_out, strlen(print_out), vias, contacts, cseq, auth_user,
                           body_len, why, cap);
}

int pb_libsip_fwd_setup(void)
{
    return 0;
}

int pb_libsip_fwd_parse(const char *buf, size_t len)
{
    sip_msg_t *m = NULL;
    if (sip_msg_parse(&m, buf, len, NULL) != 0) return -1;
    int rc = sip_msg_prepend_header(m, "Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.f0rw4rd");
    int mf = sip_msg_get_max_forwards(m);
    if (rc == 0 && mf > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", mf - 1);
        rc = sip_msg_set_header(m, "Max-Forwards", v);
    }
    int n = rc == 0 ? sip_msg_print(m, print_out, sizeof(print_out)) : -1;
    sip_msg_unref(m);
    return n > 0 && (size_t)n < sizeof(print_out) ? 0 : -1;
}

int pb_libsip_fwd_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                        const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if (pb_libsip_fwd_parse(buf, len) != 0) return fail(why, cap, "forward failed");
    return pb_libsip_check(print_out, strlen(print_out), vias + 1, contacts, cseq, auth_user,
                           body_len, why, cap);
}
