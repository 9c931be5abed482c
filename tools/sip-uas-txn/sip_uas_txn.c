/* SPDX-License-Identifier: MIT */
/* sip-uas-txn: answers SIP requests and calls on the listening points given, with its own UAS
 * core on the transaction layer (its call table, 2xx retransmission and ACK matching): the
 * sip-uas from before the UA layer, kept as the transaction-level baseline of the calls
 * benchmark (bench/calls). sip-uas does the same on the UA layer (sip/ua.h, sip/call.h). */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sip/sdp.h>
#include <sip/sip.h>
#include <uv.h>

#define MAX_LISTEN 16
#define MAX_RING_MS 3600000UL
#define MAX_T1_MS 60000UL
#define MAX_CALL_TIMEOUT_S 604800UL
#define DEFAULT_CALL_TIMEOUT_S 3600UL
#define T2_MS 4000U
/* The answer's media ports: one even port per m= line from here (no media is ever sent). */
#define MEDIA_PORT_BASE 40000U
#define HEAP_NONE SIZE_MAX
#define NEVER UINT64_MAX
#define CONTACT_CACHE 8
#define ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS"

/* Our side of a session description, shared between the calls that use the same text. */
typedef struct sdp_blob {
    unsigned refs;
    size_t len;
    char text[];
} sdp_blob_t;

typedef enum call_state {
    CALL_RINGING,   /* 180 sent; the final answer waits for the ring timer */
    CALL_ANSWERED,  /* 2xx sent; retransmitted until the ACK comes */
    CALL_CONFIRMED, /* ACK received; the dialog lives until BYE or --call-timeout */
} call_state_t;

typedef struct uas uas_t;

/* One call: a dialog (RFC 3261 §12) in the table, keyed by Call-ID, From tag and our To tag. */
typedef struct call {
    struct call *hnext;
    uas_t *uas;
    uint64_t hash;
    size_t heap_idx;   /* HEAP_NONE when no timer runs */
    uint64_t due;      /* ring timer, the next 2xx retransmission, or the call's expiry */
    uint64_t give_up;  /* 64*T1 after the 2xx */
    uint32_t interval; /* current 2xx retransmission interval */
    uint32_t remote_cseq;
    uint32_t invite_cseq; /* the INVITE being answered (its ACK carries the same number) */
    uint32_t sdp_version;
    call_state_t state;
    sip_txn_t *txn;  /* the INVITE server transaction, until ACK or a non-2xx final */
    sip_msg_t *rsp;  /* the 2xx, kept for retransmission */
    sdp_blob_t *sdp; /* our current session description, or NULL */
    size_t cid_len, ftag_len;
    char tag[17]; /* our To tag */
    char key[];   /* Call-ID, then the From tag */
} call_t;

typedef struct contact_entry {
    sip_transport_type_t transport;
    uint16_t port;
    char ip[48];
    char text[128];
    sip_msg_t *parsed; /* holds the Contact parsed once, copied into each response */
} contact_entry_t;

typedef struct stats {
    unsigned long invites, answered, rejected, cancelled, acked, byes, no_ack, reinvites, failed;
    unsigned long expired;
} stats_t;

struct uas {
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    int verbose, stateless;
    unsigned code;    /* final status for a new INVITE */
    uint64_t ring_ms; /* delay between the 180 and the final */
    uint32_t t1, t2;
    uint64_t call_timeout_ms; /* a confirmed call without BYE is forgotten after this; 0: never */
    unsigned long requests;
    stats_t st;
    uint64_t secret; /* keys the To tags */
    uint64_t tag_seq;
    /* The dialog table: chained buckets, a power of two, grown when the load passes 1. */
    call_t **buckets;
    size_t nbuckets, ncalls;
    /* Every call timer in one binary heap over one libuv timer. */
    uv_timer_t timer;
    uint64_t armed;
    call_t **heap;
    size_t nheap, heap_cap;
    /* The last offer answered and its answer: a load generator sends the same offer each call. */
    char *offer;
    size_t offer_len;
    int offer_none;
    char offer_ip[48];
    sdp_blob_t *answer;
    contact_entry_t contacts[CONTACT_CACHE];
    sip_msg_t *allow; /* the Allow header parsed once */
    size_t ncontacts, contact_next;
};

/* ---- tags and hashing ------------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void hex16(uint64_t h, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = hex[(h >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

/* A stateless UAS gives every retransmission of a request the same To tag (RFC 3261 §8.2.7),
 * so the tag is a keyed hash of what identifies the request. */
static void make_tag(const uas_t *u, const sip_msg_t *req, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL ^ u->secret;
    const sip_addr_t *from = sip_msg_get_from(req);
    const sip_via_t *via = sip_msg_get_via(req);
    const sip_cseq_t *cseq = sip_msg_get_cseq(req);
    sip_str_t cid = sip_msg_get_call_id(req);
    h = fnv1a(h, cid.ptr, cid.len);
    if (from) h = fnv1a(h, from->tag.ptr, from->tag.len);
    if (via) h = fnv1a(h, via->branch.ptr, via->branch.len);
    if (cseq) h ^= cseq->seq;
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
    hex16(h, out);
}

/* RFC 3261 §19.3: a To tag must be globally unique; a keyed permutation of a counter is, and
 * costs no system call per call. */
static void next_tag(uas_t *u, char out[17])
{
    uint64_t z = (u->tag_seq++ + u->secret) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    hex16(z ^ (z >> 31), out);
}

static uint64_t dialog_hash(sip_str_t cid, sip_str_t ftag, sip_str_t ttag)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, cid.ptr, cid.len);
    h = fnv1a(h ^ 1, ftag.ptr, ftag.len);
    return fnv1a(h ^ 2, ttag.ptr, ttag.len);
}

/* ---- the dialog table ------------------------------------------------------------------------ */

static int table_grow(uas_t *u)
{
    size_t n = u->nbuckets ? u->nbuckets * 2 : 1024;
    call_t **b = calloc(n, sizeof(*b));
    if (!b) return -1;
    for (size_t i = 0; i < u->nbuckets; i++) {
        call_t *c = u->buckets[i];
        while (c) {
            call_t *next = c->hnext;
            c->hnext = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(u->buckets);
    u->buckets = b;
    u->nbuckets = n;
    return 0;
}

static int table_insert(uas_t *u, call_t *c)
{
    if (u->ncalls >= u->nbuckets && table_grow(u) && !u->nbuckets) return -1;
    call_t **slot = &u->buckets[c->hash & (u->nbuckets - 1)];
    c->hnext = *slot;
    *slot = c;
    u->ncalls++;
    return 0;
}

static void table_remove(uas_t *u, call_t *c)
{
    for (call_t **p = &u->buckets[c->hash & (u->nbuckets - 1)]; *p; p = &(*p)->hnext) {
        if (*p == c) {
            *p = c->hnext;
            u->ncalls--;
            return;
        }
    }
}

/* The dialog of an in-dialog request: its From tag is the peer's, its To tag ours. */
static call_t *table_find(const uas_t *u, const sip_msg_t *req)
{
    const sip_addr_t *from = sip_msg_get_from(req), *to = sip_msg_get_to(req);
    if (!u->nbuckets || !from || !to || to->tag.len != 16) return NULL;
    sip_str_t cid = sip_msg_get_call_id(req);
    uint64_t h = dialog_hash(cid, from->tag, to->tag);
    for (call_t *c = u->buckets[h & (u->nbuckets - 1)]; c; c = c->hnext) {
        if (c->hash == h && c->cid_len == cid.len && c->ftag_len == from->tag.len &&
            memcmp(c->tag, to->tag.ptr, 16) == 0 && memcmp(c->key, cid.ptr, cid.len) == 0 &&
            memcmp(c->key + cid.len, from->tag.ptr, from->tag.len) == 0)
            return c;
    }
    return NULL;
}

/* ---- call timers ----------------------------------------------------------------------------- */

static void heap_set(uas_t *u, size_t i, call_t *c)
{
    u->heap[i] = c;
    c->heap_idx = i;
}

static void heap_up(uas_t *u, size_t i)
{
    call_t *c = u->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (u->heap[p]->due <= c->due) break;
        heap_set(u, i, u->heap[p]);
        i = p;
    }
    heap_set(u, i, c);
}

static void heap_down(uas_t *u, size_t i)
{
    call_t *c = u->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        uint64_t best = c->due;
        if (l < u->nheap && u->heap[l]->due < best) {
            m = l;
            best = u->heap[l]->due;
        }
        if (l + 1 < u->nheap && u->heap[l + 1]->due < best) m = l + 1;
        if (m == i) break;
        heap_set(u, i, u->heap[m]);
        i = m;
    }
    heap_set(u, i, c);
}

static void heap_remove(uas_t *u, call_t *c)
{
    size_t i = c->heap_idx;
    if (i == HEAP_NONE) return;
    c->heap_idx = HEAP_NONE;
    call_t *last = u->heap[--u->nheap];
    if (last == c) return;
    heap_set(u, i, last);
    heap_up(u, i);
    heap_down(u, last->heap_idx);
}

static void on_timer(uv_timer_t *h);

/* The one libuv timer fires at the earliest deadline; a removed call leaves it early, which
 * only costs an empty wake-up. */
static void rearm(uas_t *u)
{
    if (!u->nheap) return;
    uint64_t due = u->heap[0]->due;
    if (u->armed <= due) return;
    uint64_t now = uv_now(u->uv);
    uv_timer_start(&u->timer, on_timer, due > now ? due - now : 0, 0);
    u->armed = due;
}

static int heap_push(uas_t *u, call_t *c, uint64_t due)
{
    heap_remove(u, c);
    if (u->nheap == u->heap_cap) {
        size_t n = u->heap_cap ? u->heap_cap * 2 : 1024;
        call_t **h = realloc(u->heap, n * sizeof(*h));
        if (!h) return -1;
        u->heap = h;
        u->heap_cap = n;
    }
    c->due = due;
    heap_set(u, u->nheap++, c);
    heap_up(u, c->heap_idx);
    rearm(u);
    return 0;
}

/* ---- SDP ------------------------------------------------------------------------------------- */

static void blob_unref(sdp_blob_t *b)
{
    if (b && --b->refs == 0) free(b);
}

static sdp_blob_t *blob_ref(sdp_blob_t *b)
{
    if (b) b->refs++;
    return b;
}

static int copy_cstr(char *dst, size_t size, sip_str_t s)
{
    if (s.len >= size) return -1;
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return 0;
}

/* Copies the a=<name> line of a media that describes format fmt ("<fmt> ..."), if any. */
static int copy_format_attr(sip_sdp_t *ans, size_t idx, const sip_sdp_media_t *m, const char *name,
                            const char *fmt)
{
    size_t fl = strlen(fmt);
    char value[512];
    const sip_sdp_attr_t *a;
    for (size_t k = 0; (a = sip_sdp_media_attr_get(m, name, k)) != NULL; k++) {
        if (a->value.len > fl && memcmp(a->value.ptr, fmt, fl) == 0 && a->value.ptr[fl] == ' ') {
            if (copy_cstr(value, sizeof(value), a->value)) return SIP_EINVAL;
            return sip_sdp_media_add_attr(ans, idx, name, value);
        }
    }
    return 0;
}

/* RFC 3264 §6: one m= line per offered stream, in order; a stream offered with port 0 stays
 * rejected (port 0); an accepted one gets the first format offered (with its rtpmap and fmtp),
 * our address and the opposite direction (§6.1). Without an offer, ours (RFC 3261 §13.2.1:
 * the 2xx carries the offer and the ACK the answer). */
static int build_sdp(const uas_t *u, const sip_str_t *offer, const char *ip, uint32_t version,
                     sdp_blob_t **out)
{
    *out = NULL;
    sip_sdp_t *o = NULL, *a = NULL;
    int rc = offer ? sip_sdp_parse(&o, offer->ptr, offer->len, NULL) : 0;
    if (rc == 0) rc = sip_sdp_create(&a);
    const char *at = strchr(ip, ':') ? "IP6" : "IP4";
    char sess[24], ver[16];
    snprintf(sess, sizeof(sess), "%llu", (unsigned long long)(u->secret >> 12));
    snprintf(ver, sizeof(ver), "%lu", (unsigned long)version);
    if (rc == 0) rc = sip_sdp_set_origin(a, "sip-uas", sess, ver, "IN", at, ip);
    if (rc == 0) rc = sip_sdp_set_session_name(a, "sip-uas");
    if (rc == 0) rc = sip_sdp_set_connection(a, "IN", at, ip);
    if (rc == 0 && !o) {
        int idx = sip_sdp_add_media(a, "audio", MEDIA_PORT_BASE, "RTP/AVP", "0 8");
        rc = idx < 0 ? idx : sip_sdp_media_add_attr(a, (size_t)idx, "rtpmap", "0 PCMU/8000");
        if (rc == 0) rc = sip_sdp_media_add_attr(a, (size_t)idx, "rtpmap", "8 PCMA/8000");
    }
    if (rc == 0 && o) {
        /* §6: the answer's t= equals the offer's. */
        const sip_sdp_time_t *t = sip_sdp_time_at(o, 0);
        if (t) rc = sip_sdp_set_time(a, t->start, t->stop);
    }
    size_t nm = o ? sip_sdp_media_count(o) : 0;
    for (size_t i = 0; rc == 0 && i < nm; i++) {
        const sip_sdp_media_t *m = sip_sdp_media_at(o, i);
        char type[64], proto[64], fmt[64];
        if (copy_cstr(type, sizeof(type), sip_sdp_media_get_type(m)) ||
            copy_cstr(proto, sizeof(proto), sip_sdp_media_get_proto(m)) ||
            copy_cstr(fmt, sizeof(fmt), sip_sdp_media_format_at(m, 0))) {
            rc = SIP_EINVAL;
            break;
        }
        int rejected = sip_sdp_media_get_port(m) == 0;
        unsigned port = rejected ? 0 : MEDIA_PORT_BASE + 2 * (unsigned)(i % 10000);
        int idx = sip_sdp_add_media(a, type, port, proto, fmt);
        if (idx < 0) {
            rc = idx;
            break;
        }
        if (rejected) continue;
        rc = copy_format_attr(a, (size_t)idx, m, "rtpmap", fmt);
        if (rc == 0) rc = copy_format_attr(a, (size_t)idx, m, "fmtp", fmt);
        sip_sdp_dir_t d = sip_sdp_media_get_direction(m);
        sip_sdp_dir_t r = d == SIP_SDP_SENDONLY   ? SIP_SDP_RECVONLY
                          : d == SIP_SDP_RECVONLY ? SIP_SDP_SENDONLY
                                                  : d;
        if (rc == 0 && r != SIP_SDP_SENDRECV) rc = sip_sdp_media_set_direction(a, (size_t)idx, r);
    }
    sdp_blob_t *b = NULL;
    if (rc == 0) {
        int len = sip_sdp_print(a, NULL, 0);
        b = len > 0 ? malloc(sizeof(*b) + (size_t)len + 1) : NULL;
        if (!b) {
            rc = len < 0 ? len : SIP_ENOMEM;
        } else {
            b->refs = 1;
            b->len = (size_t)len;
            sip_sdp_print(a, b->text, (size_t)len + 1);
        }
    }
    sip_sdp_unref(o);
    sip_sdp_unref(a);
    *out = b;
    return rc;
}

/* The local address for Contact and c=: where the request arrived, or for a wildcard listener
 * the host the peer addressed. */
static void local_addr(const sip_msg_t *req, char ip[48])
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(req);
    const char *l = ni ? ni->local_ip : "127.0.0.1";
    if (strcmp(l, "0.0.0.0") != 0 && strcmp(l, "::") != 0) {
        snprintf(ip, 48, "%s", l);
        return;
    }
    const sip_uri_t *uri = sip_msg_get_uri(req);
    sip_str_t h = uri ? uri->host : SIP_STR_NULL;
    if (h.len > 2 && h.ptr[0] == '[') {
        h.ptr++;
        h.len -= 2;
    }
    if (!h.len || copy_cstr(ip, 48, h)) snprintf(ip, 48, "%s", l);
}

/* Offer/answer for an INVITE: 0 and *out (our description), or the status to reject it with. */
static int session_for(uas_t *u, const sip_msg_t *req, sdp_blob_t **out)
{
    *out = NULL;
    sip_str_t body = sip_msg_get_body(req);
    const sip_str_t *offer = NULL;
    if (body.len) {
        const sip_media_t *ct = sip_msg_get_content_type(req);
        if (!ct || !sip_str_caseeq(ct->type, SIP_STR("application")) ||
            !sip_str_caseeq(ct->subtype, SIP_STR("sdp")))
            return 415; /* RFC 3261 §21.4.13 */
        offer = &body;
    }
    char ip[48];
    local_addr(req, ip);
    if ((offer ? !u->offer_none && u->offer_len == body.len &&
                     memcmp(u->offer, body.ptr, body.len) == 0
               : u->offer_none) &&
        u->answer && strcmp(ip, u->offer_ip) == 0) {
        *out = blob_ref(u->answer);
        return 0;
    }
    sdp_blob_t *b;
    if (build_sdp(u, offer, ip, 1, &b)) return 488; /* RFC 3261 §13.3.1.3: not acceptable */
    char *copy = offer ? malloc(body.len) : NULL;
    if (offer && !copy) {
        *out = b;
        return 0;
    }
    if (offer) memcpy(copy, body.ptr, body.len);
    free(u->offer);
    u->offer = copy;
    u->offer_len = offer ? body.len : 0;
    u->offer_none = !offer;
    snprintf(u->offer_ip, sizeof(u->offer_ip), "%s", ip);
    blob_unref(u->answer);
    u->answer = blob_ref(b);
    *out = b;
    return 0;
}

/* ---- building responses ---------------------------------------------------------------------- */

/* A request that only carries headers parsed once and copied into responses. */
static sip_msg_t *header_holder(const char *name, const char *value)
{
    sip_msg_t *m = NULL;
    if (sip_msg_create_request(&m, "OPTIONS", "sip:sip-uas.invalid")) return NULL;
    if (sip_msg_add_header(m, name, value)) {
        sip_msg_unref(m);
        return NULL;
    }
    return m;
}

/* Copies every value of the holder's header id into rsp. */
static int copy_held(sip_msg_t *rsp, const sip_msg_t *holder, sip_hdr_id_t id)
{
    const sip_header_t *h;
    int rc = 0;
    for (size_t i = 0; rc == 0 && (h = sip_msg_header_at(holder, id, i)); i++)
        rc = sip_msg_add_header_copy(rsp, h);
    return rc;
}

/* RFC 3261 §12.1.1: a Contact with the address and transport the request arrived on. */
static const contact_entry_t *contact_for(uas_t *u, const sip_msg_t *req, char spare[128])
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(req);
    sip_transport_type_t tr = ni ? ni->transport : SIP_TRANSPORT_UDP;
    uint16_t port = ni ? ni->local_port : 5060;
    const char *lip = ni ? ni->local_ip : "";
    for (size_t i = 0; i < u->ncontacts; i++) {
        contact_entry_t *e = &u->contacts[i];
        if (e->transport == tr && e->port == port && strcmp(e->ip, lip) == 0) return e;
    }
    char ip[48];
    local_addr(req, ip);
    int v6 = strchr(ip, ':') != NULL;
    const char *tp = sip_transport_param(tr);
    snprintf(spare, 128, "<sip:sip-uas@%s%s%s:%u;transport=%s>", v6 ? "[" : "", ip, v6 ? "]" : "",
             (unsigned)port, tp ? tp : "udp");
    /* A wildcard listener's Contact depends on the request; only fixed ones are cached. */
    if (strcmp(ip, lip) != 0) return NULL;
    contact_entry_t *e = &u->contacts[u->contact_next];
    u->contact_next = (u->contact_next + 1) % CONTACT_CACHE;
    if (u->ncontacts < CONTACT_CACHE) u->ncontacts++;
    e->transport = tr;
    e->port = port;
    snprintf(e->ip, sizeof(e->ip), "%s", lip);
    memcpy(e->text, spare, 128);
    sip_msg_unref(e->parsed);
    e->parsed = header_holder("Contact", e->text);
    return e;
}

static int add_contact(uas_t *u, sip_msg_t *rsp, const sip_msg_t *req)
{
    char spare[128];
    const contact_entry_t *e = contact_for(u, req, spare);
    if (e && e->parsed) return copy_held(rsp, e->parsed, SIP_HDR_CONTACT);
    return sip_msg_add_header(rsp, "Contact", e ? e->text : spare);
}

static int add_allow(uas_t *u, sip_msg_t *rsp)
{
    if (!u->allow) u->allow = header_holder("Allow", ALLOW);
    return u->allow ? copy_held(rsp, u->allow, SIP_HDR_ALLOW)
                    : sip_msg_add_header(rsp, "Allow", ALLOW);
}

/* A response that takes part in the dialog (18x, 2xx): To tag, Record-Route (RFC 3261
 * §12.1.1), Contact, and our description for a 2xx. */
static int dialog_response(uas_t *u, sip_msg_t **out, const sip_msg_t *req, int status,
                           const char *tag, const sdp_blob_t *sdp)
{
    sip_msg_t *rsp;
    int rc = sip_msg_create_response(&rsp, req, status, NULL, tag);
    if (rc) return rc;
    const sip_header_t *h;
    for (size_t i = 0; rc == 0 && (h = sip_msg_header_at(req, SIP_HDR_RECORD_ROUTE, i)); i++) {
        char buf[1024];
        sip_str_t v = sip_header_get_value(h);
        rc = copy_cstr(buf, sizeof(buf), v) ? SIP_EINVAL
                                            : sip_msg_add_header(rsp, "Record-Route", buf);
    }
    if (rc == 0) rc = add_contact(u, rsp, req);
    if (rc == 0 && status >= 200) rc = add_allow(u, rsp);
    if (rc == 0 && sdp) rc = sip_msg_set_body(rsp, "application/sdp", sdp->text, sdp->len);
    if (rc) {
        sip_msg_unref(rsp);
        return rc;
    }
    *out = rsp;
    return 0;
}

/* ---- calls ----------------------------------------------------------------------------------- */

static void call_free(call_t *c)
{
    if (c->txn) {
        /* No event for a call that is gone; the transaction runs on without us. */
        sip_txn_set_event_handler(c->txn, NULL, NULL, NULL);
        sip_txn_unref(c->txn);
    }
    sip_msg_unref(c->rsp);
    blob_unref(c->sdp);
    free(c);
}

static void call_end(uas_t *u, call_t *c)
{
    heap_remove(u, c);
    table_remove(u, c);
    call_free(c);
}

static void log_call(const uas_t *u, const call_t *c, const char *what)
{
    if (!u->verbose) return;
    printf("call %.*s: %s\n", (int)c->cid_len, c->key, what);
    fflush(stdout);
}

/* Sends the 2xx and starts its retransmission: RFC 3261 §13.3.1.4 (T1 doubling to T2) with the
 * RFC 6026 Accepted state passing each copy through the transaction. */
static void answer_2xx(uas_t *u, call_t *c)
{
    sip_msg_t *req = sip_txn_get_request(c->txn), *rsp;
    int rc = dialog_response(u, &rsp, req, (int)u->code < 300 ? (int)u->code : 200, c->tag, c->sdp);
    if (rc == 0) {
        rc = sip_txn_reply(c->txn, rsp);
        if (rc) sip_msg_unref(rsp);
    } else {
        sip_txn_respond(c->txn, 500, NULL);
    }
    if (rc) {
        u->st.failed++;
        log_call(u, c, sip_strerror(rc));
        call_end(u, c);
        return;
    }
    uint64_t now = uv_now(u->uv);
    c->rsp = rsp;
    c->state = CALL_ANSWERED;
    c->interval = u->t1;
    c->give_up = now + 64 * (uint64_t)u->t1;
    if (heap_push(u, c, now + u->t1)) {
        u->st.failed++;
        call_end(u, c);
    }
}

static void send_final(uas_t *u, call_t *c)
{
    if (u->code >= 300) {
        /* The transaction keeps the 180's To tag and retransmits the final itself (Timer G);
         * no dialog comes of it, so the call is over for us. */
        sip_txn_respond(c->txn, (int)u->code, NULL);
        u->st.rejected++;
        call_end(u, c);
        return;
    }
    u->st.answered++;
    answer_2xx(u, c);
}

static void call_timer(uas_t *u, call_t *c, uint64_t now)
{
    if (c->state == CALL_RINGING) {
        send_final(u, c);
        return;
    }
    if (c->state == CALL_CONFIRMED) {
        /* A peer that never sends BYE (it crashed, or its scenario has none) would otherwise
         * keep the call, and its memory, until exit. */
        u->st.expired++;
        log_call(u, c, "no BYE within --call-timeout, call forgotten");
        call_end(u, c);
        return;
    }
    if (c->state != CALL_ANSWERED) return;
    if (now >= c->give_up) {
        /* §13.3.1.4: no ACK within 64*T1: the session is given up. */
        u->st.no_ack++;
        log_call(u, c, "no ACK for the 2xx, call given up");
        call_end(u, c);
        return;
    }
    int rc = sip_txn_reply(c->txn, c->rsp);
    if (rc) {
        u->st.no_ack++;
        log_call(u, c, "cannot retransmit the 2xx, call given up");
        call_end(u, c);
        return;
    }
    c->interval = c->interval * 2 < u->t2 ? c->interval * 2 : u->t2;
    uint64_t next = now + c->interval;
    if (heap_push(u, c, next < c->give_up ? next : c->give_up)) call_end(u, c);
}

static void on_timer(uv_timer_t *h)
{
    uas_t *u = h->data;
    u->armed = NEVER;
    uint64_t now = uv_now(u->uv);
    while (u->nheap && u->heap[0]->due <= now) {
        call_t *c = u->heap[0];
        heap_remove(u, c);
        call_timer(u, c, now);
    }
    rearm(u);
}

static void on_txn_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)txn;
    (void)msg;
    call_t *c = user;
    uas_t *u = c->uas;
    if (ev == SIP_TXN_EVENT_CANCEL && c->state == CALL_RINGING) {
        /* RFC 3261 §9.2: the layer answered the CANCEL 200 and the INVITE 487. */
        u->st.cancelled++;
        log_call(u, c, "cancelled");
        call_end(u, c);
    } else if (ev == SIP_TXN_EVENT_ERROR && c->state != CALL_CONFIRMED) {
        u->st.failed++;
        log_call(u, c, "transport error");
        call_end(u, c);
    }
}

static int has_require(const sip_msg_t *req)
{
    return sip_msg_header_count(req, SIP_HDR_REQUIRE) > 0;
}

/* RFC 3261 §8.2.2.3: no extension is supported, so any Require gets 420 with Unsupported. */
static void reject_require(sip_txn_t *txn, const sip_msg_t *req)
{
    sip_msg_t *rsp;
    if (sip_msg_create_response(&rsp, req, 420, NULL, NULL)) {
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    const sip_header_t *h;
    for (size_t i = 0; (h = sip_msg_header_at(req, SIP_HDR_REQUIRE, i)); i++) {
        char buf[256];
        if (copy_cstr(buf, sizeof(buf), sip_header_get_value(h)) == 0)
            sip_msg_add_header(rsp, "Unsupported", buf);
    }
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

/* A final error answer; 415 says what is accepted (RFC 3261 §21.4.13). */
static void reject(sip_txn_t *txn, const sip_msg_t *req, int status)
{
    sip_msg_t *rsp;
    if (status != 415 || sip_msg_create_response(&rsp, req, status, NULL, NULL) != 0) {
        sip_txn_respond(txn, status, NULL);
        return;
    }
    sip_msg_add_header(rsp, "Accept", "application/sdp");
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

static void new_call(uas_t *u, sip_txn_t *txn, const sip_msg_t *req)
{
    const sip_addr_t *from = sip_msg_get_from(req);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    sip_str_t cid = sip_msg_get_call_id(req);
    if (!from || !from->tag.len) {
        /* RFC 3261 §8.1.1.3: a From tag is mandatory, and the dialog needs it. */
        sip_txn_respond(txn, 400, "Missing From tag");
        return;
    }
    sdp_blob_t *sdp = NULL;
    if (u->code < 300) {
        int st = session_for(u, req, &sdp);
        if (st) {
            reject(txn, req, st);
            return;
        }
    }
    call_t *c = malloc(sizeof(*c) + cid.len + from->tag.len);
    if (!c) {
        blob_unref(sdp);
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    memset(c, 0, sizeof(*c));
    c->uas = u;
    c->heap_idx = HEAP_NONE;
    c->state = CALL_RINGING;
    c->remote_cseq = c->invite_cseq = cs->seq;
    c->sdp_version = 1;
    c->sdp = sdp;
    c->cid_len = cid.len;
    c->ftag_len = from->tag.len;
    memcpy(c->key, cid.ptr, cid.len);
    memcpy(c->key + cid.len, from->tag.ptr, from->tag.len);
    next_tag(u, c->tag);
    u->st.invites++;
    c->hash = dialog_hash(cid, from->tag, (sip_str_t){c->tag, 16});
    if (table_insert(u, c)) {
        call_free(c);
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    c->txn = sip_txn_ref(txn);
    sip_txn_set_event_handler(txn, on_txn_event, c, NULL);
    /* RFC 3261 §13.3.1.1: 180 Ringing, with our tag and Contact (it makes the early dialog). */
    sip_msg_t *ringing;
    int rc = dialog_response(u, &ringing, req, 180, c->tag, NULL);
    if (rc == 0) {
        rc = sip_txn_reply(txn, ringing);
        sip_msg_unref(ringing);
    }
    if (rc) {
        u->st.failed++;
        call_end(u, c);
        return;
    }
    if (u->ring_ms == 0) {
        send_final(u, c);
    } else if (heap_push(u, c, uv_now(u->uv) + u->ring_ms)) {
        sip_txn_respond(txn, 500, NULL);
        call_end(u, c);
    }
}

static void retry_later(sip_txn_t *txn, const sip_msg_t *req, const char *reason)
{
    sip_msg_t *rsp;
    if (sip_msg_create_response(&rsp, req, 500, reason, NULL) == 0) {
        /* §14.2: Retry-After a random time between 0 and 10 s; any fixed value in it will do. */
        sip_msg_add_header(rsp, "Retry-After", "3");
        sip_txn_reply(txn, rsp);
        sip_msg_unref(rsp);
    }
}

/* A re-INVITE (RFC 3261 §14.2): 200 with our description, unchanged when the new offer leads
 * to the same answer (a refresh), else a new answer with the next o= version (RFC 3264 §8);
 * without an offer our current description is the offer. */
static void reinvite(uas_t *u, sip_txn_t *txn, const sip_msg_t *req)
{
    call_t *c = table_find(u, req);
    const sip_cseq_t *cs = sip_msg_get_cseq(req);
    if (!c) {
        sip_txn_respond(txn, 481, NULL); /* §12.2.2 */
        return;
    }
    if (c->state != CALL_CONFIRMED) {
        retry_later(txn, req, "Previous INVITE Pending");
        return;
    }
    if (cs->seq <= c->remote_cseq) {
        sip_txn_respond(txn, 500, "CSeq Out of Order"); /* §12.2.2 */
        return;
    }
    c->remote_cseq = cs->seq;
    sip_str_t body = sip_msg_get_body(req);
    if (body.len) {
        const sip_media_t *ct = sip_msg_get_content_type(req);
        if (!ct || !sip_str_caseeq(ct->type, SIP_STR("application")) ||
            !sip_str_caseeq(ct->subtype, SIP_STR("sdp"))) {
            reject(txn, req, 415);
            return;
        }
        char ip[48];
        local_addr(req, ip);
        sdp_blob_t *b;
        if (build_sdp(u, &body, ip, c->sdp_version, &b)) {
            sip_txn_respond(txn, 488, NULL);
            return;
        }
        if (!c->sdp || b->len != c->sdp->len || memcmp(b->text, c->sdp->text, b->len) != 0) {
            blob_unref(b);
            if (build_sdp(u, &body, ip, c->sdp_version + 1, &b)) {
                sip_txn_respond(txn, 488, NULL);
                return;
            }
            c->sdp_version++;
        }
        blob_unref(c->sdp);
        c->sdp = b;
    }
    u->st.reinvites++;
    c->txn = sip_txn_ref(txn);
    c->invite_cseq = cs->seq;
    sip_txn_set_event_handler(txn, on_txn_event, c, NULL);
    answer_2xx(u, c);
}

static void on_ack(uas_t *u, const sip_msg_t *ack)
{
    call_t *c = table_find(u, ack);
    const sip_cseq_t *cs = sip_msg_get_cseq(ack);
    /* §13.3.1.4: the ACK of the 2xx being retransmitted (same CSeq number) ends it. */
    if (!c || c->state != CALL_ANSWERED || !cs || cs->seq != c->invite_cseq) return;
    heap_remove(u, c);
    sip_msg_unref(c->rsp);
    c->rsp = NULL;
    sip_txn_set_event_handler(c->txn, NULL, NULL, NULL);
    sip_txn_unref(c->txn);
    c->txn = NULL;
    c->state = CALL_CONFIRMED;
    u->st.acked++;
    if (u->call_timeout_ms && heap_push(u, c, uv_now(u->uv) + u->call_timeout_ms)) {
        u->st.failed++;
        log_call(u, c, "out of memory for the call timer");
        call_end(u, c);
    }
}

static void on_bye(uas_t *u, sip_txn_t *txn, const sip_msg_t *req)
{
    call_t *c = table_find(u, req);
    if (!c) {
        sip_txn_respond(txn, 481, NULL); /* §15.1.2 */
        return;
    }
    if (sip_msg_get_cseq(req)->seq < c->remote_cseq) {
        sip_txn_respond(txn, 500, "CSeq Out of Order"); /* §12.2.2 */
        return;
    }
    /* §15.1.2: a BYE in the early dialog still gets the INVITE answered, 487 recommended. */
    if (c->state == CALL_RINGING) sip_txn_respond(c->txn, 487, NULL);
    sip_txn_respond(txn, 200, NULL);
    u->st.byes++;
    call_end(u, c);
}

static void on_options(uas_t *u, sip_txn_t *txn, const sip_msg_t *req)
{
    sip_msg_t *rsp;
    char tag[17];
    next_tag(u, tag);
    if (sip_msg_create_response(&rsp, req, 200, NULL, tag) != 0) {
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    /* RFC 3261 §11.2: what this UA supports. */
    sip_msg_add_header(rsp, "Allow", ALLOW);
    sip_msg_add_header(rsp, "Accept", "application/sdp");
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

static void on_txn_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)layer;
    uas_t *u = user;
    sip_method_t m = sip_msg_get_method(req);
    if (!txn) {
        if (m == SIP_METHOD_ACK) on_ack(u, req);
        return;
    }
    if (m != SIP_METHOD_OPTIONS && m != SIP_METHOD_INVITE && m != SIP_METHOD_BYE) {
        sip_txn_respond(txn, 501, NULL); /* RFC 3261 §8.2.1 */
        return;
    }
    if (has_require(req)) {
        reject_require(txn, req);
        return;
    }
    const sip_addr_t *to = sip_msg_get_to(req);
    int in_dialog = to && to->tag.len;
    if (m == SIP_METHOD_OPTIONS)
        on_options(u, txn, req);
    else if (m == SIP_METHOD_BYE)
        on_bye(u, txn, req);
    else if (in_dialog)
        reinvite(u, txn, req);
    else
        new_call(u, txn, req);
}

/* ---- receiving ------------------------------------------------------------------------------- */

/* "udp:[::1]:5060": the form --listen takes, brackets around an IPv6 address. */
static const char *addr_str(char buf[64], sip_transport_type_t t, const char *ip, uint16_t port)
{
    int v6 = strchr(ip, ':') != NULL;
    snprintf(buf, 64, "%s:%s%s%s:%u", sip_transport_param(t), v6 ? "[" : "", ip, v6 ? "]" : "",
             port);
    return buf;
}

static void print_request(const sip_msg_t *msg)
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(msg);
    sip_str_t m = sip_msg_get_method_str(msg), cid = sip_msg_get_call_id(msg);
    char a[64];
    printf("%.*s from %s Call-ID %.*s\n", (int)m.len, m.ptr,
           addr_str(a, ni->transport, ni->remote_ip, ni->remote_port), (int)cid.len, cid.ptr);
    fflush(stdout);
}

/* Every message passes here first, so -v and the count see each received request (CANCELs,
 * retransmissions and the ACKs the transaction layer absorbs included). */
static void on_message(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    uas_t *u = user;
    if (sip_msg_is_request(msg)) {
        u->requests++;
        if (u->verbose) print_request(msg);
    }
    sip_txn_layer_receive(u->layer, msg);
}

static void on_request_stateless(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    uas_t *u = user;
    if (!sip_msg_is_request(msg)) return;
    u->requests++;
    if (u->verbose) print_request(msg);
    sip_method_t method = sip_msg_get_method(msg);
    if (method == SIP_METHOD_ACK) return;
    int status = method == SIP_METHOD_OPTIONS ? 200 : 501;
    sip_msg_t *rsp;
    char tag[17];
    make_tag(u, msg, tag);
    if (sip_msg_create_response(&rsp, msg, status, NULL, tag) != 0) return;
    if (status == 200) {
        /* RFC 3261 §11.2: what this UA supports. */
        sip_msg_add_header(rsp, "Allow", ALLOW);
        sip_msg_add_header(rsp, "Accept", "application/sdp");
    }
    int rc = sip_transport_send_response(tp, rsp);
    if (rc && u->verbose) fprintf(stderr, "sip-uas-txn: cannot answer: %s\n", sip_strerror(rc));
    sip_msg_unref(rsp);
}

/* ---- the program ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sip-uas-txn --listen SPEC [--listen SPEC ...] [options]\n"
        "\n"
        "The transaction-level sip-uas (the calls benchmark's baseline): its own UAS core on\n"
        "the transaction layer. Answers SIP requests: OPTIONS with 200 OK; INVITE with\n"
        "180 Ringing and 200 OK (Contact, SDP answer to the offer), retransmitting\n"
        "the 200 until the ACK comes; BYE in a call with 200 (481 outside one); CANCEL with\n"
        "200 and the INVITE with 487; anything else with 501 Not Implemented. Runs until\n"
        "SIGINT or SIGTERM.\n"
        "\n"
        "  -l, --listen SPEC     listening point: udp:127.0.0.1:5062, tcp:[::1]:5062,\n"
        "                        tls:127.0.0.1:5063, ws:127.0.0.1:8080, wss:127.0.0.1:8443\n"
        "      --ring MS         wait MS milliseconds between the 180 and the final answer\n"
        "                        (default 0; at most %lu)\n"
        "      --code N          answer INVITEs with status N (200-699; default 200); N >= 300\n"
        "                        rejects the call (no SDP)\n"
        "      --t1 MS           RFC 3261 T1 for the transactions and the 200 retransmissions\n"
        "                        (default 500; 1-%lu)\n"
        "      --call-timeout S  forget an answered call that has no BYE after S seconds\n"
        "                        (default %lu; 0: keep it until exit; at most %lu)\n"
        "      --stateless       answer each request statelessly (RFC 3261 §8.2.7): OPTIONS\n"
        "                        with 200, anything else with 501 (no calls)\n"
        "      --tls-cert FILE   PEM certificate chain for tls: and wss: listeners\n"
        "      --tls-key FILE    PEM private key for them\n"
        "      --tls-ca FILE     PEM CA certificates that client certificates are checked\n"
        "                        against (default: the system's)\n"
        "      --tls-verify-client  require a client certificate signed by --tls-ca on tls:\n"
        "                        and wss: listeners; a client without one fails the handshake\n"
        "      --trace           log every message sent and received\n"
        "  -v, --verbose         print one line per received request, one per call that\n"
        "                        ends abnormally, and counters at exit\n"
        "  -h, --help            this text\n"
        "\n"
        "Exit status: 0 after a signal, 1 when a listening point cannot be opened,\n"
        "2 for a usage error.\n",
        MAX_RING_MS, MAX_T1_MS, DEFAULT_CALL_TIMEOUT_S, MAX_CALL_TIMEOUT_S);
}

/* Decimal digits only, no sign, no overflow, within [min, max]. */
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v < min) return -1;
    *out = v;
    return 0;
}

/* The loop's default logger prints warnings and errors only; --trace wants the INFO lines. */
static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)user;
    fprintf(stderr, "libsip %s %s: %s\n", sip_log_level_name(level), module, text);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    sip_loop_stop(h->data);
}

static void free_calls(uas_t *u)
{
    for (size_t i = 0; i < u->nbuckets; i++) {
        call_t *c = u->buckets[i];
        while (c) {
            call_t *next = c->hnext;
            call_free(c);
            c = next;
        }
    }
    free(u->buckets);
    free(u->heap);
    free(u->offer);
    blob_unref(u->answer);
    for (size_t i = 0; i < u->ncontacts; i++)
        sip_msg_unref(u->contacts[i].parsed);
    sip_msg_unref(u->allow);
}

int main(int argc, char **argv)
{
    enum {
        OPT_STATELESS = 256,
        OPT_CERT,
        OPT_KEY,
        OPT_TRACE,
        OPT_RING,
        OPT_CODE,
        OPT_T1,
        OPT_CALL_TIMEOUT,
        OPT_CA,
        OPT_VERIFY_CLIENT
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"stateless", no_argument, NULL, OPT_STATELESS},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"tls-ca", required_argument, NULL, OPT_CA},
        {"tls-verify-client", no_argument, NULL, OPT_VERIFY_CLIENT},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"ring", required_argument, NULL, OPT_RING},
        {"code", required_argument, NULL, OPT_CODE},
        {"t1", required_argument, NULL, OPT_T1},
        {"call-timeout", required_argument, NULL, OPT_CALL_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen[MAX_LISTEN];
    int nlisten = 0, trace = 0;
    static uas_t uas;
    uas.code = 200;
    uas.t1 = 500;
    uas.call_timeout_ms = DEFAULT_CALL_TIMEOUT_S * 1000;
    uas.armed = NEVER;
    sip_transport_opts_t opts;
    sip_transport_opts_init(&opts);
    unsigned long v;
    int c;
    while ((c = getopt_long(argc, argv, "l:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "sip-uas-txn: at most %d listening points\n", MAX_LISTEN);
                return 2;
            }
            listen[nlisten++] = optarg;
            break;
        case OPT_STATELESS: uas.stateless = 1; break;
        case OPT_CERT: opts.tls_cert_file = optarg; break;
        case OPT_KEY: opts.tls_key_file = optarg; break;
        case OPT_CA: opts.tls_ca_file = optarg; break;
        case OPT_VERIFY_CLIENT:
            /* RFC 5922 §7.4 / RFC 5246 §7.4.6: a client without a certificate that verifies
             * against --tls-ca (or the system's CAs) fails the handshake. */
            opts.tls_verify_client = 1;
            break;
        case OPT_TRACE: trace = 1; break;
        case OPT_RING:
            if (parse_num(optarg, 0, MAX_RING_MS, &v)) {
                fprintf(stderr, "sip-uas-txn: --ring wants milliseconds, 0 to %lu\n", MAX_RING_MS);
                return 2;
            }
            uas.ring_ms = v;
            break;
        case OPT_CODE:
            /* A final status: 1xx would leave the INVITE unanswered. */
            if (parse_num(optarg, 200, 699, &v)) {
                fprintf(stderr, "sip-uas-txn: --code wants a final status, 200 to 699\n");
                return 2;
            }
            uas.code = (unsigned)v;
            break;
        case OPT_T1:
            if (parse_num(optarg, 1, MAX_T1_MS, &v)) {
                fprintf(stderr, "sip-uas-txn: --t1 wants milliseconds, 1 to %lu\n", MAX_T1_MS);
                return 2;
            }
            uas.t1 = (uint32_t)v;
            break;
        case OPT_CALL_TIMEOUT:
            if (parse_num(optarg, 0, MAX_CALL_TIMEOUT_S, &v)) {
                fprintf(stderr, "sip-uas-txn: --call-timeout wants seconds, 0 to %lu\n",
                        MAX_CALL_TIMEOUT_S);
                return 2;
            }
            uas.call_timeout_ms = (uint64_t)v * 1000;
            break;
        case 'v': uas.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || nlisten == 0) {
        usage(stderr);
        return 2;
    }
    /* RFC 3261 §17.1.2.2: T2 is 4 s, and never below T1. */
    uas.t2 = uas.t1 > T2_MS ? uas.t1 : T2_MS;
    if (getrandom(&uas.secret, sizeof(uas.secret), 0) != (ssize_t)sizeof(uas.secret)) {
        fprintf(stderr, "sip-uas-txn: no random source\n");
        return 1;
    }
    /* A peer that resets a connection must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    sip_loop_t *loop;
    if (sip_loop_create(&loop) != 0) return 1;
    uas.loop = loop;
    uas.uv = sip_loop_get_uv(loop);
    if (trace) {
        sip_loop_set_log(loop, SIP_LOG_INFO, on_log, NULL, NULL);
        sip_loop_set_trace(loop, 1);
    }
    int rc = sip_transport_create(&uas.tp, loop, &opts);
    if (rc) {
        fprintf(stderr, "sip-uas-txn: %s\n", sip_strerror(rc));
        sip_loop_unref(loop);
        return 1;
    }
    for (int i = 0; i < nlisten; i++) {
        rc = sip_transport_listen(uas.tp, listen[i]);
        if (rc < 0) {
            fprintf(stderr, "sip-uas-txn: cannot listen on %s: %s\n", listen[i], sip_strerror(rc));
            sip_transport_unref(uas.tp);
            sip_loop_unref(loop);
            return 1;
        }
        if (uas.verbose) {
            sip_netinfo_t ni;
            sip_transport_listener_info(uas.tp, (size_t)rc, &ni);
            char a[64];
            printf("listening on %s\n", addr_str(a, ni.transport, ni.local_ip, ni.local_port));
            fflush(stdout);
        }
    }
    if (uas.stateless) {
        sip_transport_set_handler(uas.tp, on_request_stateless, &uas, NULL);
    } else {
        sip_txn_opts_t to;
        sip_txn_opts_init(&to);
        to.t1_ms = uas.t1;
        to.t2_ms = uas.t2;
        /* §17.2.1: 100 Trying only when the TU has not answered within 200 ms (the layer's
         * default); the 180 goes out in the same turn, so a 100 would be one more datagram per
         * call for nothing. */
        rc = sip_txn_layer_create(&uas.layer, uas.tp, &to);
        if (rc == 0) rc = sip_txn_layer_set_request_handler(uas.layer, on_txn_request, &uas, NULL);
        /* The layer made itself the transport's handler; ours goes in front of it. */
        if (rc == 0) rc = sip_transport_set_handler(uas.tp, on_message, &uas, NULL);
        if (rc) {
            fprintf(stderr, "sip-uas-txn: %s\n", sip_strerror(rc));
            sip_txn_layer_unref(uas.layer);
            sip_transport_unref(uas.tp);
            sip_loop_unref(loop);
            return 1;
        }
    }
    uv_timer_init(uas.uv, &uas.timer);
    uas.timer.data = &uas;
    uv_signal_t sigint, sigterm;
    uv_signal_init(uas.uv, &sigint);
    uv_signal_init(uas.uv, &sigterm);
    sigint.data = sigterm.data = loop;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    sip_loop_run(loop);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&uas.timer, NULL);
    if (uas.verbose) {
        const stats_t *s = &uas.st;
        printf("%lu requests\n", uas.requests);
        if (!uas.stateless)
            printf("calls %lu answered %lu rejected %lu cancelled %lu acked %lu byes %lu "
                   "no-ack %lu reinvites %lu failed %lu active %zu expired %lu\n",
                   s->invites, s->answered, s->rejected, s->cancelled, s->acked, s->byes, s->no_ack,
                   s->reinvites, s->failed, uas.ncalls, s->expired);
        fflush(stdout);
    }
    /* Closing the layer first: the calls' transactions end without answering anything more. */
    sip_txn_layer_close(uas.layer);
    free_calls(&uas);
    sip_txn_layer_unref(uas.layer);
    sip_transport_unref(uas.tp);
    sip_loop_unref(loop);
    return 0;
}
