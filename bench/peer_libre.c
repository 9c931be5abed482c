/* SPDX-License-Identifier: MIT */
/* parse-bench peer: libre, whose sip_msg_decode is lazy, so every Via and Contact is decoded. */

/* libre's headers expect the configuration macros its own build defines. */
#define _DEFAULT_SOURCE
#define HAVE_INTTYPES_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_INET6 1
#define RELEASE 1

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <re.h>

int pb_libre_setup(void);
int pb_libre_parse(const char *buf, size_t len);
int pb_libre_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap);

int pb_libre_setup(void)
{
    return 0;
}

/* sip_msg_decode parses the start line, the top Via, From, To, CSeq and Content-Type, and only
 * splits the other headers into name/value. A proxy also needs every Via and the Contact. */
static bool via_h(const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct sip_via via;
    if (sip_via_decode(&via, &hdr->val) != 0) ++*(int *)arg;
    return false;
}

static bool contact_h(const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct sip_addr addr;
    if (sip_addr_decode(&addr, &hdr->val) != 0) ++*(int *)arg;
    return false;
}

static int decode(struct sip_msg **out, const char *buf, size_t len)
{
    /* The message keeps a reference to the mbuf, like the others keep their copy of the bytes. */
    struct mbuf *mb = mbuf_alloc(len);
    if (mb == NULL) return -1;
    if (mbuf_write_mem(mb, (const uint8_t *)buf, len) != 0) {
        mem_deref(mb);
        return -1;
    }
    mb->pos = 0;
    int err = sip_msg_decode(out, mb);
    mem_deref(mb);
    if (err != 0) return -1;
    int bad = 0;
    sip_msg_hdr_apply(*out, true, SIP_HDR_VIA, via_h, &bad);
    sip_msg_hdr_apply(*out, true, SIP_HDR_CONTACT, contact_h, &bad);
    if (bad != 0) {
        *out = mem_deref(*out);
        return -1;
    }
    return 0;
}

int pb_libre_parse(const char *buf, size_t len)
{
    struct sip_msg *msg = NULL;
    if (decode(&msg, buf, len) != 0) return -1;
    mem_deref(msg);
    return 0;
}

/* Whether the text of pl contains str (libre 1.1 has no pl_strstr). */
static int pl_contains(const struct pl *pl, const char *str)
{
    size_t n = strlen(str);
    for (size_t i = 0; i + n <= pl->l; i++)
        if (memcmp(pl->p + i, str, n) == 0) return 1;
    return 0;
}

static int fail(char *why, size_t cap, const char *what)
{
    snprintf(why, cap, "%s", what);
    return -1;
}

static int check_msg(const struct sip_msg *msg, int vias, int contacts, unsigned long cseq,
                     const char *auth_user, size_t body_len, char *why, size_t cap)
{
    if ((int)sip_msg_hdr_count(msg, SIP_HDR_VIA) != vias) return fail(why, cap, "wrong Via count");
    if (msg->via.branch.l < 7 || memcmp(msg->via.branch.p, "z9hG4bK", 7) != 0)
        return fail(why, cap, "top Via branch not parsed");
    if (!pl_isset(&msg->from.tag)) return fail(why, cap, "From tag not parsed");
    if (!pl_isset(&msg->callid)) return fail(why, cap, "Call-ID not parsed");
    if (msg->cseq.num != cseq) return fail(why, cap, "CSeq not parsed");
    if ((int)sip_msg_hdr_count(msg, SIP_HDR_CONTACT) != contacts)
        return fail(why, cap, "wrong Contact count");
    if (contacts > 0) {
        struct sip_addr addr;
        const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
        if (h == NULL || sip_addr_decode(&addr, &h->val) != 0 || !pl_isset(&addr.uri.host))
            return fail(why, cap, "Contact URI not parsed");
    }
    if (auth_user != NULL) {
        /* libre keeps Authorization as text (its digest decoder lives in the HTTP module). */
        const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION);
        char want[64];
        snprintf(want, sizeof(want), "username=\"%s\"", auth_user);
        if (h == NULL || !pl_contains(&h->val, want))
            return fail(why, cap, "Authorization header missing");
    }
    if (mbuf_get_left(msg->mb) != body_len) return fail(why, cap, "wrong body length");
    return 0;
}

int pb_libre_check(const char *buf, size_t len, int vias, int contacts, unsigned long cseq,
                   const char *auth_user, size_t body_len, char *why, size_t cap)
{
    struct sip_msg *msg = NULL;
    if (decode(&msg, buf, len) != 0)
        return fail(why, cap, "sip_msg_decode or Via/Contact decoding failed");
    int rc = check_msg(msg, vias, contacts, cseq, auth_user, body_len, why, cap);
    mem_deref(msg);
    return rc;
}
