/* SPDX-License-Identifier: MIT */
/* Message memory, reference counting, header lists and read accessors. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "msg/msg_int.h"

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)
#define CHUNK_HDR ALIGN16(sizeof(sip__chunk_t))

static inline char *chunk_data(sip__chunk_t *c)
{
    return (char *)c + CHUNK_HDR;
}

const sip__hlist_t sip__hlist_empty;

sip_msg_t *sip__msg_new(size_t extra)
{
    /* The inline chunk header is the last member of struct sip_msg; its data follows the struct. */
    size_t base = ALIGN16(sizeof(sip_msg_t));
    extra = ALIGN16(extra);
    sip_msg_t *msg = malloc(base + extra);
    if (!msg) return NULL;
    sip__live_inc(SIP_LIVE_MSG);
    /* Only the fixed part needs zeroing: chunk data is handed out uninitialised, and the header
     * id lists are cleared one by one as known_set says (msg_int.h). */
    memset(msg, 0, offsetof(sip_msg_t, kslot));
    msg->lists = msg->inline_lists;
    msg->caplists = SIP__INLINE_LISTS;
    msg->refs = 1;
    msg->uri.ttl = -1;
    msg->inline_chunk.size = extra;
    msg->inline_chunk.used = 0;
    return msg;
}

void *sip__msg_alloc_slow(sip_msg_t *msg, size_t n)
{
    sip__chunk_t *c = msg->chunks;
    if (c && c->size - c->used >= n) {
        void *p = chunk_data(c) + c->used;
        c->used += n;
        return p;
    }
    /* Grow geometrically so a long edit session stays cheap. */
    size_t want = n > 2048 ? n : 2048;
    if (c && c->size * 2 > want && c->size < ((size_t)1 << 24)) want = c->size * 2;
    sip__chunk_t *nc = malloc(CHUNK_HDR + want);
    if (!nc) return NULL;
    nc->size = want;
    nc->used = n;
    nc->next = msg->chunks;
    msg->chunks = nc;
    return chunk_data(nc);
}

char *sip__msg_strdup(sip_msg_t *msg, const char *s, size_t n)
{
    char *p = sip__msg_alloc(msg, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

sip_msg_t *sip_msg_ref(const sip_msg_t *msg)
{
    /* Counting references does not change the message (see msg.h); messages are always
     * allocated, never const objects, so the count may change through a const view. */
    sip_msg_t *m = (sip_msg_t *)msg;
    if (m) m->refs++;
    return m;
}

void sip_msg_unref(sip_msg_t *msg)
{
    if (!msg || --msg->refs > 0) return;
    sip__chunk_t *c = msg->chunks;
    while (c) {
        sip__chunk_t *next = c->next;
        free(c);
        c = next;
    }
    sip__live_dec(SIP_LIVE_MSG);
    free(msg);
}

int sip__msg_new_list(sip_msg_t *msg, sip_hdr_id_t id)
{
    if (msg->nlists == msg->caplists) {
        /* Past the inline lists: a larger array from the message's chunks (the old one stays
         * there until the message goes). */
        size_t cap = (size_t)msg->caplists * 2;
        if (cap > SIP_HDR__COUNT) cap = SIP_HDR__COUNT;
        sip__hlist_t *n = sip__msg_alloc(msg, cap * sizeof(*n));
        if (!n) return SIP_ENOMEM;
        memcpy(n, msg->lists, msg->nlists * sizeof(*n));
        msg->lists = n;
        msg->caplists = (uint8_t)cap;
    }
    uint8_t k = msg->nlists++;
    msg->kslot[id] = k;
    msg->lists[k] = (sip__hlist_t){NULL, NULL, 0};
    return 0;
}

void sip__msg_unlink(sip_msg_t *msg, struct sip_header *h)
{
    /* The line this value was on is no longer as received: it prints anew without it. */
    if (h->joined) {
        struct sip_header *first = h->prev;
        while (first && first->joined)
            first = first->prev;
        if (first) first->raw = (sip_str_t){NULL, 0};
    } else if (h->next && h->next->joined) {
        h->next->joined = 0;
        h->next->raw = (sip_str_t){NULL, 0};
    }
    h->joined = 0;
    h->raw = (sip_str_t){NULL, 0};
    if (h->prev)
        h->prev->next = h->next;
    else
        msg->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        msg->tail = h->prev;
    msg->nheaders--;
    if (h->id == SIP_HDR_OTHER) return;
    if (!((msg->known_set[h->id >> 6] >> (h->id & 63)) & 1)) return;
    sip__hlist_t *l = sip__hlist_of(msg, h->id);
    struct sip_header *p = NULL, *c = l->first;
    while (c && c != h) {
        p = c;
        c = c->next_same;
    }
    if (!c) return;
    if (p)
        p->next_same = h->next_same;
    else
        l->first = h->next_same;
    if (l->last == h) l->last = p;
    l->count--;
}

/* ---- accessors ---- */

int sip_msg_is_request(const sip_msg_t *msg)
{
    return msg ? msg->is_request : 0;
}

sip_method_t sip_msg_get_method(const sip_msg_t *msg)
{
    return msg && msg->is_request ? msg->method : SIP_METHOD_UNKNOWN;
}

sip_str_t sip_msg_get_method_str(const sip_msg_t *msg)
{
    return msg ? msg->method_str : SIP_STR_NULL;
}

const sip_uri_t *sip_msg_get_uri(const sip_msg_t *msg)
{
    return msg && msg->is_request ? &msg->uri : NULL;
}

int sip_msg_get_status(const sip_msg_t *msg)
{
    return msg ? msg->status : 0;
}

sip_str_t sip_msg_get_reason(const sip_msg_t *msg)
{
    return msg ? msg->reason : SIP_STR_NULL;
}

sip_str_t sip_msg_get_body(const sip_msg_t *msg)
{
    return msg ? msg->body : SIP_STR_NULL;
}

size_t sip_msg_header_count(const sip_msg_t *msg, sip_hdr_id_t id)
{
    if (!msg || id <= SIP_HDR_OTHER || id >= SIP_HDR__COUNT) return 0;
    return sip__known(msg, id)->count;
}

const sip_header_t *sip_msg_header_at(const sip_msg_t *msg, sip_hdr_id_t id, size_t i)
{
    if (!msg || id <= SIP_HDR_OTHER || id >= SIP_HDR__COUNT) return NULL;
    const struct sip_header *h = sip__known(msg, id)->first;
    while (h && i--)
        h = h->next_same;
    return h;
}

const sip_header_t *sip_msg_header_by_name(const sip_msg_t *msg, const char *name, size_t i)
{
    if (!msg || !name) return NULL;
    size_t n = strlen(name);
    sip_hdr_id_t id = sip_hdr_id_from_name(name, n);
    if (id != SIP_HDR_OTHER) return sip_msg_header_at(msg, id, i);
    sip_str_t want = {name, n};
    for (const struct sip_header *h = msg->head; h; h = h->next) {
        if (h->id == SIP_HDR_OTHER && sip_str_caseeq(h->name, want) && i-- == 0) return h;
    }
    return NULL;
}

const sip_header_t *sip_msg_header_first(const sip_msg_t *msg)
{
    return msg ? msg->head : NULL;
}

size_t sip_msg_header_total(const sip_msg_t *msg)
{
    return msg ? msg->nheaders : 0;
}

sip_hdr_id_t sip_header_get_id(const sip_header_t *h)
{
    return h ? h->id : SIP_HDR_OTHER;
}

sip_str_t sip_header_get_name(const sip_header_t *h)
{
    return h ? h->name : SIP_STR_NULL;
}

sip_str_t sip_header_get_value(const sip_header_t *h)
{
    return h ? h->value : SIP_STR_NULL;
}

const sip_header_t *sip_header_next(const sip_header_t *h)
{
    return h ? h->next : NULL;
}

#define TYPED_GETTER(fn, type, member, k1, k2)                                                     \
    const type *fn(const sip_header_t *h)                                                          \
    {                                                                                              \
        return h && (h->kind == (k1) || h->kind == (k2)) ? &h->v.member : NULL;                    \
    }
TYPED_GETTER(sip_header_via, sip_via_t, via, SIP_HK_VIA, SIP_HK_VIA)
TYPED_GETTER(sip_header_addr, sip_addr_t, addr, SIP_HK_ADDR, SIP_HK_ADDR)
TYPED_GETTER(sip_header_cseq, sip_cseq_t, cseq, SIP_HK_CSEQ, SIP_HK_CSEQ)
TYPED_GETTER(sip_header_num, sip_num_t, num, SIP_HK_NUM, SIP_HK_DATE)
TYPED_GETTER(sip_header_token, sip_token_t, token, SIP_HK_TOKEN, SIP_HK_TOKEN)
TYPED_GETTER(sip_header_media, sip_media_t, media, SIP_HK_MEDIA, SIP_HK_MEDIA)
TYPED_GETTER(sip_header_auth, sip_auth_t, auth, SIP_HK_AUTH, SIP_HK_AUTH)
TYPED_GETTER(sip_header_warning, sip_warning_t, warning, SIP_HK_WARNING, SIP_HK_WARNING)
TYPED_GETTER(sip_header_rack, sip_rack_t, rack, SIP_HK_RACK, SIP_HK_RACK)

sip_str_t sip_msg_get_call_id(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_CALL_ID)->first : NULL;
    return h ? h->v.token.value : SIP_STR_NULL;
}

const sip_cseq_t *sip_msg_get_cseq(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_CSEQ)->first : NULL;
    return h ? &h->v.cseq : NULL;
}

const sip_addr_t *sip_msg_get_from(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_FROM)->first : NULL;
    return h ? &h->v.addr : NULL;
}

const sip_addr_t *sip_msg_get_to(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_TO)->first : NULL;
    return h ? &h->v.addr : NULL;
}

const sip_via_t *sip_msg_get_via(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_VIA)->first : NULL;
    return h ? &h->v.via : NULL;
}

int sip_msg_get_max_forwards(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_MAX_FORWARDS)->first : NULL;
    return h ? (int)h->v.num.value : -1;
}

int sip_msg_get_expires(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_EXPIRES)->first : NULL;
    if (!h) return -1;
    return h->v.num.value > 0x7fffffffu ? 0x7fffffff : (int)h->v.num.value;
}

const sip_media_t *sip_msg_get_content_type(const sip_msg_t *msg)
{
    const struct sip_header *h = msg ? sip__known(msg, SIP_HDR_CONTENT_TYPE)->first : NULL;
    return h ? &h->v.media : NULL;
}

const sip_netinfo_t *sip_msg_get_netinfo(const sip_msg_t *msg)
{
    return msg && msg->has_net ? &msg->net : NULL;
}

int sip_msg_set_netinfo(sip_msg_t *msg, const sip_netinfo_t *info)
{
    if (!msg) return SIP_EINVAL;
    msg->has_net = info != NULL;
    if (info) msg->net = *info;
    return 0;
}
