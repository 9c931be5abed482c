/* SPDX-License-Identifier: MIT */
/* Wire form of a message, with a Content-Length that always matches the body. */
#include <stdio.h>
#include <string.h>

#include "msg/msg_int.h"

typedef struct {
    char *buf;
    size_t size, len;
} writer_t;

static inline void put(writer_t *w, const char *s, size_t n)
{
    if (w->len < w->size) {
        size_t room = w->size - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static inline void put_str(writer_t *w, sip_str_t s)
{
    put(w, s.ptr, s.len);
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_uint(writer_t *w, unsigned long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, tmp + i, sizeof(tmp) - i);
}

int sip_msg_print(const sip_msg_t *msg, char *buf, size_t size)
{
    if (!msg || (!buf && size)) return SIP_EINVAL;
    writer_t w = {buf, size, 0};
    if (msg->is_request) {
        put_str(&w, msg->method_str);
        PUT_LIT(&w, " ");
        put_str(&w, msg->uri.raw);
        PUT_LIT(&w, " SIP/2.0\r\n");
    } else {
        PUT_LIT(&w, "SIP/2.0 ");
        put_uint(&w, (unsigned long)msg->status);
        PUT_LIT(&w, " ");
        put_str(&w, msg->reason);
        PUT_LIT(&w, "\r\n");
    }
    int cl_done = 0;
    for (const struct sip_header *h = msg->head; h; h = h->next) {
        if (h->id == SIP_HDR_CONTENT_LENGTH) {
            /* One Content-Length, always the real one (duplicates are dropped: RFC 4475 mcl01). */
            if (cl_done) continue;
            cl_done = 1;
            put_str(&w, h->name);
            PUT_LIT(&w, ": ");
            put_uint(&w, (unsigned long)msg->body.len);
            PUT_LIT(&w, "\r\n");
            continue;
        }
        put_str(&w, h->name);
        PUT_LIT(&w, ": ");
        put_str(&w, h->value);
        PUT_LIT(&w, "\r\n");
    }
    if (!cl_done) {
        PUT_LIT(&w, "Content-Length: ");
        put_uint(&w, (unsigned long)msg->body.len);
        PUT_LIT(&w, "\r\n");
    }
    PUT_LIT(&w, "\r\n");
    put_str(&w, msg->body);
    if (w.len > 0x7fffffff) return SIP_ERANGE;
    if (size) buf[w.len < size ? w.len : size - 1] = '\0';
    return (int)w.len;
}
