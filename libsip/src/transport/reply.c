/* SPDX-License-Identifier: MIT */
/* Stateless answers to requests too malformed to parse (RFC 3261 §8.2 / §21.4.1 400). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport/transport_int.h"

/* The headers a response must echo (RFC 3261 §8.2.6.2), long and compact forms. */
static int echoed(const char *name, size_t n)
{
    sip_hdr_id_t id = sip_hdr_id_from_name(name, n);
    return id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO || id == SIP_HDR_CALL_ID ||
           id == SIP_HDR_CSEQ;
}

/* Whether a To value (after the colon) has a tag parameter: a ';' outside quotes and angle
 * brackets followed by "tag" and '='. */
static int has_tag(const char *p, const char *end)
{
    int quoted = 0, angle = 0;
    for (; p < end; p++) {
        if (quoted) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '"')
                quoted = 0;
        } else if (*p == '"') {
            quoted = 1;
        } else if (*p == '<') {
            angle = 1;
        } else if (*p == '>') {
            angle = 0;
        } else if (*p == ';' && !angle) {
            const char *q = p + 1;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (end - q < 3 || strncasecmp(q, "tag", 3) != 0) continue;
            q += 3;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (q < end && *q == '=') return 1;
        }
    }
    return 0;
}

int sip__reply_malformed(char *out, size_t size, const char *req, size_t len, int status,
                         const char *phrase)
{
    const char *p = req, *end = req + len;
    /* Past the start line. */
    const char *nl = memchr(p, '\n', len);
    if (!nl) return SIP_EPARSE;
    int n = snprintf(out, size, "SIP/2.0 %d %s\r\n", status, phrase);
    if (n < 0 || (size_t)n >= size) return SIP_ENOSPC;
    size_t used = (size_t)n;
    int have_via = 0;
    for (p = nl + 1; p < end;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *content_end = (le > p && le[-1] == '\r') ? le - 1 : le;
        if (content_end == p) break; /* end of headers */
        const char *colon = memchr(p, ':', (size_t)(content_end - p));
        if (colon) {
            const char *ne = colon;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            if (echoed(p, (size_t)(ne - p))) {
                size_t l = (size_t)(content_end - p);
                /* Octets that could end the line early or hide another header stay out. */
                if (memchr(p, '\r', l) || memchr(p, '\0', l)) goto next;
                /* RFC 3261 §8.2.6.2: the To of a final response gets a tag of its own (the
                 * request's when it has one). */
                char tag[22] = "";
                if (sip_hdr_id_from_name(p, (size_t)(ne - p)) == SIP_HDR_TO &&
                    !has_tag(colon + 1, content_end)) {
                    while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
                        l--;
                    memcpy(tag, ";tag=", 5);
                    if (sip_random_hex(64, tag + 5, sizeof(tag) - 5) < 0) tag[0] = '\0';
                }
                size_t tl = strlen(tag);
                if (used + l + tl + 2 >= size) return SIP_ENOSPC;
                memcpy(out + used, p, l);
                memcpy(out + used + l, tag, tl);
                memcpy(out + used + l + tl, "\r\n", 2);
                used += l + tl + 2;
                if (sip_hdr_id_from_name(p, (size_t)(ne - p)) == SIP_HDR_VIA) have_via = 1;
            }
        }
    next:
        if (!nl) break;
        p = nl + 1;
    }
    if (!have_via) return SIP_ENOENT;
    n = snprintf(out + used, size - used, "Content-Length: 0\r\n\r\n");
    if (n < 0 || (size_t)n >= size - used) return SIP_ENOSPC;
    return (int)(used + (size_t)n);
}

int sip__reply_udp_dest(const char *rsp, size_t len, const char *src_ip, uint16_t src_port,
                        char *ip, size_t iplen, uint16_t *port)
{
    snprintf(ip, iplen, "%s", src_ip);
    *port = src_port;
    /* The answer's first Via line (a copy of the request's), parsed on its own: the rest of the
     * request may be what is malformed. */
    const char *p = memchr(rsp, '\n', len), *end = rsp + len;
    while (p && ++p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        const char *colon = memchr(p, ':', (size_t)(nl - p));
        const char *ne = colon;
        while (ne && ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        if (!colon || sip_hdr_id_from_name(p, (size_t)(ne - p)) != SIP_HDR_VIA) {
            p = nl;
            continue;
        }
        char buf[1100];
        int n = snprintf(buf, sizeof(buf), "SIP/2.0 400 x\r\n%.*s\r\n", (int)(nl + 1 - p), p);
        if (n < 0 || (size_t)n >= sizeof(buf)) return SIP_ENOENT;
        sip_msg_t *m;
        if (sip_msg_parse(&m, buf, (size_t)n, NULL)) return SIP_ENOENT;
        const sip_via_t *v = sip_msg_get_via(m);
        char vip[64];
        uint16_t vport;
        struct sockaddr_storage a, b;
        int rc =
            v && sip_transport_from_name(v->transport.ptr, v->transport.len) == SIP_TRANSPORT_UDP
                ? sip__via_udp_dest(v, src_ip, src_port, vip, sizeof(vip), &vport)
                : SIP_ENOENT;
        sip_msg_unref(m);
        /* Only an address of the source's family: a name (in maddr) is not resolved for a
         * stateless answer. */
        if (rc || sip__sockaddr_from(vip, vport, &a) || sip__sockaddr_from(src_ip, 0, &b) ||
            a.ss_family != b.ss_family)
            return SIP_ENOENT;
        snprintf(ip, iplen, "%s", vip);
        *port = vport;
        return 0;
    }
    return SIP_ENOENT;
}
