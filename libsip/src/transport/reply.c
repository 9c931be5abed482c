/* SPDX-License-Identifier: MIT */
/* Stateless answers to requests too malformed to parse (RFC 3261 §8.2 / §21.4.1 400). */
#include <stdio.h>
#include <string.h>

#include "transport/transport_int.h"

/* The headers a response must echo (RFC 3261 §8.2.6.2), long and compact forms. */
static int echoed(const char *name, size_t n)
{
    sip_hdr_id_t id = sip_hdr_id_from_name(name, n);
    return id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO || id == SIP_HDR_CALL_ID ||
           id == SIP_HDR_CSEQ;
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
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
            if (echoed(p, (size_t)(ne - p))) {
                size_t l = (size_t)(content_end - p);
                /* Octets that could end the line early or hide another header stay out. */
                if (memchr(p, '\r', l) || memchr(p, '\0', l)) goto next;
                if (used + l + 2 >= size) return SIP_ENOSPC;
                memcpy(out + used, p, l);
                memcpy(out + used + l, "\r\n", 2);
                used += l + 2;
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
