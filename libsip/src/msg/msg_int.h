/* SPDX-License-Identifier: MIT */
/* Private layout of messages and headers, shared by the msg/ sources. */
#ifndef SIP_MSG_INT_H
#define SIP_MSG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sip/msg.h"

/* Memory for views and header records lives in chunks owned by the message. The first chunk is
 * carved from the same allocation as the message, so a typical parse is a single malloc. */
typedef struct sip__chunk {
    struct sip__chunk *next;
    size_t size, used;
    /* data follows, 16-byte aligned */
} sip__chunk_t;

struct sip_header {
    struct sip_header *next; /* wire order */
    struct sip_header *prev;
    struct sip_header *next_same; /* next value with the same id (known headers only) */
    sip_hdr_id_t id;
    sip_hdr_kind_t kind;
    unsigned line; /* line of the header in the parsed input; 0 when added later */
    /* A value that shares its line with the one before it (a comma list: "Allow: INVITE, ACK"
     * is two records, the second joined). Printing keeps such values on one line. */
    unsigned char joined;
    sip_str_t name;
    sip_str_t value;
    /* On the first value of a received line that nothing has edited since: the whole line as it
     * came (name, colon, whitespace, every value, folds and the line end), printed as is so a
     * relayed message goes out byte for byte as it was received. Empty otherwise. */
    sip_str_t raw;
    union {
        sip_via_t via;
        sip_addr_t addr;
        sip_cseq_t cseq;
        sip_num_t num;
        sip_token_t token;
        sip_media_t media;
        sip_auth_t auth;
        sip_warning_t warning;
        sip_rack_t rack;
    } v;
};

/* The size of a header record of a kind: the union of parsed forms is as large as its largest
 * member (a name-addr, 280 octets), which a Call-ID or a Subject does not need. Records are
 * allocated at this size, so they are copied with it too, never by structure assignment. */
static inline size_t sip__hdr_size(sip_hdr_kind_t k)
{
    size_t base = offsetof(struct sip_header, v);
    switch (k) {
    case SIP_HK_ADDR: return base + sizeof(sip_addr_t);
    case SIP_HK_VIA: return base + sizeof(sip_via_t);
    case SIP_HK_CSEQ: return base + sizeof(sip_cseq_t);
    case SIP_HK_NUM:
    case SIP_HK_DATE: return base + sizeof(sip_num_t);
    case SIP_HK_TOKEN: return base + sizeof(sip_token_t);
    case SIP_HK_MEDIA: return base + sizeof(sip_media_t);
    case SIP_HK_AUTH: return base + sizeof(sip_auth_t);
    case SIP_HK_WARNING: return base + sizeof(sip_warning_t);
    case SIP_HK_RACK: return base + sizeof(sip_rack_t);
    default: return base;
    }
}

/* What a parse reserves per header record it expects: about the mean record of real traffic
 * (name-addrs and Vias are larger, Call-ID, CSeq and the numbers smaller); a denser message
 * takes another chunk. */
#define SIP__HDR_RESERVE 160

typedef struct sip__hlist {
    struct sip_header *first, *last;
    uint32_t count;
} sip__hlist_t;

/* Distinct header ids a message holds lists for without another allocation: a call's requests
 * and responses carry 10 to 16. */
#define SIP__INLINE_LISTS 16

struct sip_msg {
    int refs;
    int is_request;
    sip_method_t method;
    sip_str_t method_str;
    sip_uri_t uri;
    sip_str_t version; /* "SIP/2.0" */
    int status;
    sip_str_t reason;
    sip_str_t body;
    /* The start line and the blank line after the headers as received, line ends included;
     * empty for a built message or once the start line is edited. */
    sip_str_t start_raw, end_raw;
    /* 1 while a parsed message has not been edited: printing then adds no Content-Length that
     * was not there (RFC 3261 §18.3 makes it optional over UDP). */
    int intact;
    int has_net;
    struct sip_header *head, *tail; /* every header in wire order */
    size_t nheaders;
    sip__chunk_t *chunks; /* extra chunks; the inline one is not on this list */
    /* The list of each header id the message has: known_set says which ids have one, kslot[id]
     * (meaningful only for those) where it is in lists. A message is created with only the fields
     * above kslot cleared, and an id gets its list when its first header is linked: clearing a
     * list head for every id cost each parse about 250 instructions, and keeping one per id
     * (62 of them) made every message 1.5 KB larger, which a proxy holding its requests and
     * responses pays in memory it must fault in. */
    uint64_t known_set[(SIP_HDR__COUNT + 63) / 64];
    uint8_t nlists, caplists;
    sip__hlist_t *lists; /* inline_lists, or a larger array from the chunks */
    uint8_t kslot[SIP_HDR__COUNT];
    sip__hlist_t inline_lists[SIP__INLINE_LISTS];
    /* Where it came from or went (transport); valid only with has_net, so it is not cleared when
     * the message is made (with its server name it is a few hundred bytes). */
    sip_netinfo_t net;
    sip__chunk_t inline_chunk;
    /* the inline chunk's data follows; the copied input is inside it */
};

/* The list of a header id (an empty one when the message has none). */
extern const sip__hlist_t sip__hlist_empty;
static inline const sip__hlist_t *sip__known(const sip_msg_t *msg, sip_hdr_id_t id)
{
    return (msg->known_set[id >> 6] >> (id & 63)) & 1 ? &msg->lists[msg->kslot[id]]
                                                      : &sip__hlist_empty;
}

/* The list of an id the message has (its known_set bit is set). */
static inline sip__hlist_t *sip__hlist_of(sip_msg_t *msg, sip_hdr_id_t id)
{
    return &msg->lists[msg->kslot[id]];
}

/* Allocates n bytes (16-aligned) from the message's chunks; NULL on ENOMEM. The fast path is
 * inline: a parse makes one allocation per header value. */
void *sip__msg_alloc_slow(sip_msg_t *msg, size_t n);
#define SIP__ALIGN16(n) (((n) + 15u) & ~(size_t)15u)
static inline void *sip__msg_alloc(sip_msg_t *msg, size_t n)
{
    n = SIP__ALIGN16(n ? n : 1);
    sip__chunk_t *c = &msg->inline_chunk;
    if (c->size - c->used >= n) {
        void *p = (char *)msg + SIP__ALIGN16(sizeof(sip_msg_t)) + c->used;
        c->used += n;
        return p;
    }
    return sip__msg_alloc_slow(msg, n);
}

/* Static facts about each known header, indexed by id. */
typedef struct sip__hdr_info {
    const char *name, *compact;
    sip_hdr_kind_t kind;
    int multi;
} sip__hdr_info_t;
extern const sip__hdr_info_t sip__hdr_info[SIP_HDR__COUNT];

/* sip_hdr_id_from_name() for the parser, which guarantees 8 readable octets past the name. */
sip_hdr_id_t sip__hdr_id_fast(const char *s, size_t len);
/* Copies n bytes into message memory; NULL on ENOMEM. */
char *sip__msg_strdup(sip_msg_t *msg, const char *s, size_t n);
/* Makes an empty message with room for extra bytes in its first chunk. */
sip_msg_t *sip__msg_new(size_t extra);
/* Appends every value of a known header of src to dst without parsing them again (values that
 * shared a line share one in dst): a template's headers stamped onto many messages. */
int sip__msg_copy_headers(sip_msg_t *dst, const sip_msg_t *src, sip_hdr_id_t id);
/* sip_msg_add_header() with a value that is not NUL-terminated (a view into another message). */
int sip__msg_add_header_n(sip_msg_t *msg, const char *name, const char *value, size_t vl);
/* Gives id a list (its first header is being linked); SIP_ENOMEM when the lists must grow and
 * cannot. */
int sip__msg_new_list(sip_msg_t *msg, sip_hdr_id_t id);

/* Links a header at the end (or the start, when first is set) of the wire order and id lists.
 * 0, or SIP_ENOMEM (nothing linked) when a new id's list cannot be made. */
static inline int sip__msg_link(sip_msg_t *msg, struct sip_header *h, int first)
{
    h->next_same = NULL;
    sip__hlist_t *l = NULL;
    if (h->id != SIP_HDR_OTHER) {
        uint64_t *set = &msg->known_set[h->id >> 6], bit = (uint64_t)1 << (h->id & 63);
        if (!(*set & bit)) {
            if (sip__msg_new_list(msg, h->id)) return SIP_ENOMEM;
            *set |= bit;
        }
        l = sip__hlist_of(msg, h->id);
    }
    if (first) {
        h->prev = NULL;
        h->next = msg->head;
        if (msg->head)
            msg->head->prev = h;
        else
            msg->tail = h;
        msg->head = h;
    } else {
        h->next = NULL;
        h->prev = msg->tail;
        if (msg->tail)
            msg->tail->next = h;
        else
            msg->head = h;
        msg->tail = h;
    }
    msg->nheaders++;
    if (!l) return 0;
    if (!l->first) {
        l->first = l->last = h;
        l->count = 1;
        return 0;
    }
    if (first) {
        h->next_same = l->first;
        l->first = h;
    } else {
        l->last->next_same = h;
        l->last = h;
    }
    l->count++;
    return 0;
}

/* Unlinks a header from both lists. */
void sip__msg_unlink(sip_msg_t *msg, struct sip_header *h);

/* Parses the value of a header line (which may be a comma list) into header records that are
 * linked at the end (first == 0) or start of the message. Used by the parser and by add_header.
 * name/value must point into message memory. Fills err on failure. */
int sip__msg_parse_header_value(sip_msg_t *msg, sip_hdr_id_t id, sip_str_t name, const char *v,
                                size_t vlen, int first, sip_parse_error_t *err, unsigned line,
                                unsigned col);

/* Parses a name-addr / addr-spec with params (From, To, Contact, Route, ...). end receives how far
 * it read. Returns 0 or SIP_EPARSE with a reason in *why; *out is only meaningful on success. */
int sip__parse_addr(sip_addr_t *out, const char *p, size_t n, sip_hdr_id_t id, const char **why);

#endif
