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
    if (msg->start_raw.len) {
        put_str(&w, msg->start_raw);
    } else if (msg->is_request) {
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
    /* Lines nothing edited go out as they came (msg_int.h); edited and added ones are written
     * "Name: value, value" with the values that share the line. */
    int cl_done = 0;
    for (const struct sip_header *h = msg->head; h;) {
        if (h->id == SIP_HDR_CONTENT_LENGTH) {
            /* One Content-Length, always the real one: the received line while it says so. An
             * unedited message keeps even a repeated one (sip_msg_validate() refuses it). */
            if (msg->intact && h->raw.len) {
                cl_done = 1;
                put_str(&w, h->raw);
            } else if (!cl_done) {
                cl_done = 1;
                if (h->raw.len && h->v.num.value == msg->body.len) {
                    put_str(&w, h->raw);
                } else {
                    put_str(&w, h->name);
                    PUT_LIT(&w, ": ");
                    put_uint(&w, (unsigned long)msg->body.len);
                    PUT_LIT(&w, "\r\n");
                }
            }
            h = h->next;
            continue;
        }
        if (h->raw.len) {
            put_str(&w, h->raw);
            for (h = h->next; h && h->joined; h = h->next)
                continue;
            continue;
        }
        put_str(&w, h->name);
        PUT_LIT(&w, ": ");
        put_str(&w, h->value);
        for (h = h->next; h && h->joined; h = h->next) {
            PUT_LIT(&w, ", ");
            put_str(&w, h->value);
        }
        PUT_LIT(&w, "\r\n");
    }
    /* A received message without Content-Length (allowed over UDP, RFC 3261 §18.3) gets none
     * while unedited; any other message gets one. */
    if (!cl_done && !(msg->intact && msg->end_raw.len)) {
        PUT_LIT(&w, "Content-Length: ");
        put_uint(&w, (unsigned long)msg->body.len);
        PUT_LIT(&w, "\r\n");
    }
    if (msg->end_raw.len)
        put_str(&w, msg->end_raw);
    else
        PUT_LIT(&w, "\r\n");
    put_str(&w, msg->body);
    if (w.len > 0x7fffffff) return SIP_ERANGE;
    if (size) buf[w.len < size ? w.len : size - 1] = '\0';
    return (int)w.len;
}
