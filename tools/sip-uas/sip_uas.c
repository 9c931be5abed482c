/* SPDX-License-Identifier: MIT */
/* sip-uas: answers SIP requests and calls on the listening points given (a test peer and
 * benchmark target), on libsip's UA layer: the UA core (sip/ua.h) does the RFC 3261 §8.2
 * checks and keeps the dialogs, each call (sip/call.h) retransmits its 2xx until the ACK and
 * handles CANCEL, BYE and re-INVITE. This program only decides what to answer and when. */
#include <errno.h>
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
#define MAX_MEDIA_FILE 65536
#define MIN_SESSION_TIMER 90U /* RFC 4028 §4: Min-SE is never below 90 s */
#define MAX_SESSION_TIMER 86400U
#define T2_MS 4000U
/* The answer's media ports: one even port per m= line from here (no media is ever sent). */
#define MEDIA_PORT_BASE 40000U
#define HEAP_NONE SIZE_MAX
#define NEVER UINT64_MAX
#define MAX_XFERS 64 /* transferred calls up at once (--accept-transfer) */
#define ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE"
#define ALLOW_PRACK "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE, PRACK"
/* §8.2.3: the bodies read; INFO (RFC 6086) carries DTMF as application/dtmf-relay. */
#define ACCEPT "application/sdp"

/* Our side of a session description, shared between the calls that use the same text. */
typedef struct sdp_blob {
    unsigned refs;
    size_t len;
    char text[];
} sdp_blob_t;

typedef enum call_state {
    CALL_RINGING,   /* 180 sent; the final answer waits for the ring timer */
    CALL_ANSWERED,  /* 2xx sent; the call retransmits it until the ACK comes */
    CALL_CONFIRMED, /* ACK received; the dialog lives until BYE or --call-timeout */
    CALL_ENDED,     /* over; the call's last reference is being dropped */
} call_state_t;

typedef struct uas uas_t;

/* What this program keeps of a call; the dialog, transactions and timers of RFC 3261 are the
 * call's (sip_call_t). Freed by the call's user_free. */
typedef struct call {
    struct call *prev, *next; /* the live calls, for the count and the exit */
    uas_t *uas;
    sip_call_t *call; /* our reference, dropped when it ends */
    size_t heap_idx;  /* HEAP_NONE when no timer runs */
    uint64_t due;     /* ring timer or the call's expiry */
    uint32_t sdp_version;
    call_state_t state;
    int hung_up;     /* --call-timeout ended it */
    sdp_blob_t *sdp; /* our current session description without --media, or NULL */
    char cid[];      /* the Call-ID, for the log lines */
} call_t;

typedef struct stats {
    unsigned long invites, answered, rejected, cancelled, acked, byes, no_ack, reinvites, failed;
    unsigned long expired;
} stats_t;

struct uas {
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    int verbose, stateless;
    unsigned code;    /* final status for a new INVITE */
    uint64_t ring_ms; /* delay between the 180 and the final */
    uint32_t t1, t2;
    uint64_t call_timeout_ms;     /* a confirmed call without BYE is ended after this; 0: never */
    char *media;                  /* --media: the engine's capabilities, or NULL */
    int rel100;                   /* --rel100, a sip_call_100rel_t */
    uint32_t session_timer;       /* --session-timer: the most granted, seconds; 0: off */
    const char *allow;            /* the methods taken (PRACK with --rel100) */
    int accept_transfer;          /* --accept-transfer: follow REFERs in calls */
    sip_call_t *xfers[MAX_XFERS]; /* the calls those REFERs placed, while they live */
    unsigned long requests;
    stats_t st;
    uint64_t secret; /* keys the stateless To tags and the o= session id */
    call_t *calls;   /* the live calls */
    size_t ncalls;
    /* The ring and expiry timers of every call in one binary heap over one libuv timer. */
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
};

/* ---- tags ------------------------------------------------------------------------------------ */

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

/* ---- calls ----------------------------------------------------------------------------------- */

static void log_call(const uas_t *u, const call_t *c, const char *what)
{
    if (!u->verbose) return;
    printf("call %s: %s\n", c->cid, what);
    fflush(stdout);
}

/* The call's user_free: the call is gone (freed, or closed with the UA). */
static void call_free(void *user)
{
    call_t *c = user;
    heap_remove(c->uas, c);
    blob_unref(c->sdp);
    free(c);
}

static void call_unlink(uas_t *u, call_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        u->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    u->ncalls--;
}

/* The call ended: counted by why, then our reference goes (and with it, once the call's BYE or
 * final response is done, the call and this record). */
static void call_ended(uas_t *u, call_t *c)
{
    sip_call_t *call = c->call;
    int st = sip_call_get_end_status(call), locally = sip_call_ended_locally(call);
    call_state_t was = c->state;
    c->state = CALL_ENDED;
    heap_remove(u, c);
    call_unlink(u, c);
    if (c->hung_up) {
        /* counted as expired already */
    } else if (was == CALL_RINGING && st == 487 && !locally) {
        u->st.cancelled++;
        log_call(u, c, "cancelled");
    } else if (was == CALL_ANSWERED && st == 408) {
        /* RFC 3261 §13.3.1.4: no ACK within 64*T1; the call sent BYE. */
        u->st.no_ack++;
        log_call(u, c, "no ACK for the 2xx, call given up");
    } else if (st >= 200 && st < 300 && !locally) {
        u->st.byes++;
    } else if (!(locally && st >= 300)) {
        u->st.failed++;
        char why[64];
        snprintf(why, sizeof(why), "ended with %d", st);
        log_call(u, c, why);
    }
    c->call = NULL;
    sip_call_unref(call);
}

/* The final answer of a ringing call: --code. */
static void send_final(uas_t *u, call_t *c)
{
    /* Ours while we look at c: an ending call frees c only with its last reference. */
    sip_call_t *call = sip_call_ref(c->call);
    int rc;
    if (u->code >= 300) {
        /* The transaction keeps the 180's To tag and retransmits the final itself (Timer G);
         * no dialog comes of it. The call ends in the reject (the state event). */
        u->st.rejected++;
        rc = sip_call_reject(c->call, (int)u->code, NULL);
    } else {
        u->st.answered++;
        c->state = CALL_ANSWERED;
        /* With --media the engine's answer (or offer, for an INVITE without one). */
        rc = sip_call_answer(c->call, (int)u->code, c->sdp ? c->sdp->text : NULL);
    }
    if (rc && sip_call_get_state(call) != SIP_CALL_ENDED) {
        u->st.failed++;
        log_call(u, c, sip_strerror(rc));
        c->hung_up = 1; /* counted */
        sip_call_hangup(call, NULL);
    }
    sip_call_unref(call);
}

static void call_timer(uas_t *u, call_t *c)
{
    if (c->state == CALL_RINGING) {
        send_final(u, c);
    } else if (c->state == CALL_CONFIRMED) {
        /* A peer that never sends BYE (it crashed, or its scenario has none) would otherwise
         * keep the call, and its memory, until exit: the call ends with a BYE (RFC 3261 §15). */
        u->st.expired++;
        c->hung_up = 1;
        log_call(u, c, "no BYE within --call-timeout, call ended with BYE");
        sip_call_hangup(c->call, "SIP;cause=408;text=\"No BYE within the call timeout\"");
    }
}

static void on_timer(uv_timer_t *h)
{
    uas_t *u = h->data;
    u->armed = NEVER;
    uint64_t now = uv_now(u->uv);
    while (u->nheap && u->heap[0]->due <= now) {
        call_t *c = u->heap[0];
        heap_remove(u, c);
        call_timer(u, c);
    }
    rearm(u);
}

/* A re-INVITE or UPDATE offer, without --media (RFC 3264 §8): our description unchanged when
 * the new offer leads to the same answer (a refresh), else a new answer with the next o=
 * version. */
static void answer_offer(uas_t *u, call_t *c, const sip_msg_t *req)
{
    sip_str_t body = sip_msg_get_body(req);
    char ip[48];
    local_addr(req, ip);
    sdp_blob_t *b;
    if (build_sdp(u, &body, ip, c->sdp_version, &b)) {
        sip_call_reject_offer(c->call, 488);
        return;
    }
    if (!c->sdp || b->len != c->sdp->len || memcmp(b->text, c->sdp->text, b->len) != 0) {
        blob_unref(b);
        if (build_sdp(u, &body, ip, c->sdp_version + 1, &b)) {
            sip_call_reject_offer(c->call, 488);
            return;
        }
        c->sdp_version++;
    }
    blob_unref(c->sdp);
    c->sdp = b;
    int rc = sip_call_answer_offer(c->call, b->text);
    if (rc) log_call(u, c, sip_strerror(rc));
}

/* A request inside the call that the call leaves to us: OPTIONS says what this UA supports
 * (RFC 3261 §11.2), INFO is taken (RFC 6086), anything else 501. */
static void log_call(const uas_t *u, const call_t *c, const char *what);

/* The events of a call a REFER placed: its outcome printed with -v ("transfer answered: 200
 * OK", "transfer failed: 486 Busy Here"), the record dropped once it ended. */
static void on_xfer_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    uas_t *u = user;
    if (ev == SIP_CALL_EVENT_REQUEST) {
        sip_txn_respond(txn, sip_msg_get_method(msg) == SIP_METHOD_INFO ? 200 : 501, NULL);
        return;
    }
    if (ev != SIP_CALL_EVENT_STATE) return;
    sip_call_state_t st = sip_call_get_state(call);
    if (st != SIP_CALL_CONFIRMED && st != SIP_CALL_ENDED) return;
    if (u->verbose) {
        int status = st == SIP_CALL_CONFIRMED ? 200 : sip_call_get_end_status(call);
        printf("transfer %s: %d %s\n",
               st == SIP_CALL_CONFIRMED ? "answered"
               : status == 200          ? "ended"
                                        : "failed",
               status, sip_status_phrase(status));
        fflush(stdout);
    }
    if (st != SIP_CALL_ENDED) return;
    for (size_t i = 0; i < MAX_XFERS; i++)
        if (u->xfers[i] == call) {
            u->xfers[i] = NULL;
            sip_call_unref(call);
            break;
        }
}

/* --accept-transfer: the REFER of a call is followed (RFC 3515, RFC 5589): 202, a new call to
 * Refer-To (with its Replaces and the Referred-By), its progress in NOTIFYs to the
 * transferor; the old call ends with the transferor's BYE. */
static void accept_transfer(uas_t *u, call_t *c, sip_msg_t *req, sip_txn_t *txn)
{
    size_t slot = 0;
    while (slot < MAX_XFERS && u->xfers[slot])
        slot++;
    if (slot == MAX_XFERS) {
        sip_txn_respond(txn, 503, NULL);
        return;
    }
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = u->media;
    o.rel100 = u->rel100;
    o.session_timer = u->session_timer ? SIP_CALL_TIMER_SUPPORTED : SIP_CALL_TIMER_OFF;
    o.session_expires = u->session_timer;
    sdp_blob_t *offer = NULL;
    char ip[48];
    local_addr(req, ip);
    if (!u->media && build_sdp(u, NULL, ip, 1, &offer) == 0) o.sdp = offer->text;
    int rc = sip_call_accept_transfer(&u->xfers[slot], c->call, txn, &o, on_xfer_event, u, NULL);
    blob_unref(offer);
    if (rc)
        log_call(u, c, rc == SIP_ENOTACCEPTABLE ? "REFER refused (Refer-To)" : sip_strerror(rc));
}

static void in_dialog_request(uas_t *u, call_t *c, sip_msg_t *req, sip_txn_t *txn)
{
    sip_method_t m = sip_msg_get_method(req);
    if (u->verbose) {
        sip_str_t name = sip_msg_get_method_str(req);
        const sip_media_t *ct = sip_msg_get_content_type(req);
        sip_str_t body = sip_msg_get_body(req);
        char what[256];
        snprintf(what, sizeof(what), "%.*s%s%.*s%s%.*s", (int)name.len, name.ptr, ct ? " " : "",
                 ct ? (int)ct->type.len : 0, ct ? ct->type.ptr : "", ct ? "/" : "",
                 ct ? (int)ct->subtype.len : 0, ct ? ct->subtype.ptr : "");
        /* One line: the first line of the body (application/dtmf-relay: "Signal=5"). */
        size_t n = strcspn(body.ptr ? body.ptr : "", "\r\n");
        if (body.len && n > body.len) n = body.len;
        if (body.len && n) {
            size_t l = strlen(what);
            snprintf(what + l, sizeof(what) - l, " %.*s", (int)(n > 64 ? 64 : n), body.ptr);
        }
        log_call(u, c, what);
    }
    if (m == SIP_METHOD_REFER && u->accept_transfer) {
        accept_transfer(u, c, req, txn);
        return;
    }
    sip_msg_t *rsp = NULL;
    /* RFC 3428 §7: a MESSAGE inside the call is taken like one outside it. */
    int status =
        m == SIP_METHOD_OPTIONS || m == SIP_METHOD_INFO || m == SIP_METHOD_MESSAGE ? 200 : 501;
    if (sip_ua_create_response(&rsp, u->ua, txn, status, NULL) != 0) return;
    if (m == SIP_METHOD_OPTIONS) {
        sip_msg_add_header(rsp, "Allow", u->allow);
        sip_msg_add_header(rsp, "Accept", ACCEPT);
    }
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

static void on_call_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    call_t *c = user;
    uas_t *u = c->uas;
    if (c->state == CALL_ENDED || c->call != call) return;
    switch (ev) {
    case SIP_CALL_EVENT_STATE:
        if (sip_call_get_state(call) == SIP_CALL_CONFIRMED && c->state == CALL_ANSWERED) {
            c->state = CALL_CONFIRMED;
            u->st.acked++;
            if (u->call_timeout_ms && heap_push(u, c, uv_now(u->uv) + u->call_timeout_ms)) {
                u->st.failed++;
                c->hung_up = 1;
                log_call(u, c, "out of memory for the call timer");
                sip_call_hangup(call, NULL);
            }
        } else if (sip_call_get_state(call) == SIP_CALL_ENDED) {
            call_ended(u, c);
        }
        break;
    case SIP_CALL_EVENT_OFFER:
        if (msg) answer_offer(u, c, msg);
        break;
    case SIP_CALL_EVENT_REINVITE: u->st.reinvites++; break;
    case SIP_CALL_EVENT_REQUEST:
        if (msg && txn) in_dialog_request(u, c, msg, txn);
        break;
    default: break;
    }
}

/* A new INVITE: a call, 180 Ringing at once (RFC 3261 §13.3.1.1; it makes the early dialog),
 * the final answer after --ring. */
static void new_call(uas_t *u, sip_txn_t *txn, const sip_msg_t *req)
{
    sdp_blob_t *sdp = NULL;
    if (u->code < 300 && !u->media) {
        int st = session_for(u, req, &sdp);
        if (st) {
            sip_txn_respond(txn, st, NULL);
            return;
        }
    }
    sip_str_t cid = sip_msg_get_call_id(req);
    call_t *c = calloc(1, sizeof(*c) + cid.len + 1);
    if (!c) {
        blob_unref(sdp);
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    c->uas = u;
    c->heap_idx = HEAP_NONE;
    c->state = CALL_RINGING;
    c->sdp_version = 1;
    c->sdp = sdp;
    memcpy(c->cid, cid.ptr, cid.len);
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = u->media;
    /* Both off unless asked for: the default call takes 100rel and timers when offered. */
    o.rel100 = u->rel100;
    o.session_timer = u->session_timer ? SIP_CALL_TIMER_SUPPORTED : SIP_CALL_TIMER_OFF;
    o.session_expires = u->session_timer;
    /* On failure the call has run call_free (its user_free) and, for an offer the engine
     * cannot answer, sent 488; the UA answers 500 to a request left unanswered. */
    int rc = sip_call_accept(&c->call, u->ua, txn, &o, on_call_event, c, call_free);
    if (rc) {
        /* The call answered the INVITE itself (SIP_ENOTACCEPTABLE): 488 for an offer --media
         * cannot answer (RFC 3264 §6), 420 or 421 for 100rel (RFC 3262 §4), 420 or 422 for
         * session timers (RFC 4028 §8): no call, as for any request refused before it became
         * one. */
        int refused = rc == SIP_ENOTACCEPTABLE || rc == SIP_ESDP;
        if (!refused) u->st.failed++;
        /* Which status went out the call does not say (the transaction no longer holds its
         * final response): the wire does. */
        if (u->verbose)
            printf("call %.*s: %s\n", (int)cid.len, cid.ptr,
                   refused ? "INVITE refused by the call (offer, 100rel or session timer)"
                           : sip_strerror(rc));
        fflush(stdout);
        return;
    }
    u->st.invites++;
    c->next = u->calls;
    if (u->calls) u->calls->prev = c;
    u->calls = c;
    u->ncalls++;
    rc = sip_call_ring(c->call, 180, NULL);
    if (rc) {
        u->st.failed++;
        log_call(u, c, sip_strerror(rc));
        c->hung_up = 1;
        sip_call_hangup(c->call, NULL);
        return;
    }
    if (u->ring_ms == 0) {
        send_final(u, c);
    } else if (heap_push(u, c, uv_now(u->uv) + u->ring_ms)) {
        u->st.failed++;
        c->hung_up = 1;
        sip_call_hangup(c->call, NULL);
    }
}

/* RFC 3428: with -v, a MESSAGE outside a dialog is printed as one line, "MESSAGE from
 * <sip:alice@host> text/plain: the text" (its first line, at most 200 bytes). */
static void print_message(uas_t *u, const sip_msg_t *req)
{
    if (!u->verbose) return;
    const sip_header_t *from = sip_msg_header_at(req, SIP_HDR_FROM, 0);
    const sip_addr_t *fa = sip_msg_get_from(req);
    sip_str_t who = fa ? fa->uri.raw : (from ? sip_header_get_value(from) : SIP_STR_NULL);
    const sip_media_t *ct = sip_msg_get_content_type(req);
    sip_str_t body = sip_msg_get_body(req);
    size_t n = 0;
    while (n < body.len && body.ptr[n] != '\r' && body.ptr[n] != '\n')
        n++;
    printf("MESSAGE from <%.*s> %.*s%s%.*s: %.*s\n", (int)who.len, who.ptr,
           ct ? (int)ct->type.len : 0, ct ? ct->type.ptr : "", ct ? "/" : "",
           ct ? (int)ct->subtype.len : 0, ct ? ct->subtype.ptr : "", (int)(n > 200 ? 200 : n),
           body.ptr ? body.ptr : "");
    fflush(stdout);
}

/* Requests outside any dialog, after the UA's §8.2 checks (405, 416, 420, 415). */
static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    uas_t *u = user;
    switch (sip_msg_get_method(req)) {
    case SIP_METHOD_INVITE: new_call(u, txn, req); break;
    case SIP_METHOD_OPTIONS: {
        sip_msg_t *rsp;
        if (sip_ua_create_response(&rsp, ua, txn, 200, NULL) != 0) return;
        /* RFC 3261 §11.2: what this UA supports. */
        sip_msg_add_header(rsp, "Allow", u->allow);
        sip_msg_add_header(rsp, "Accept", ACCEPT);
        sip_txn_reply(txn, rsp);
        sip_msg_unref(rsp);
        break;
    }
    case SIP_METHOD_BYE: sip_txn_respond(txn, 481, NULL); break; /* §15.1.2 */
    case SIP_METHOD_MESSAGE:
        print_message(u, req);
        sip_txn_respond(txn, 200, NULL);
        break;
    default: sip_txn_respond(txn, 501, NULL); break; /* §8.2.1 */
    }
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

/* First in the transport's handler chain, taking nothing: -v and the count see each received
 * request (CANCELs, retransmissions and the ACKs the layers absorb included). */
static int on_message(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    uas_t *u = user;
    if (sip_msg_is_request(msg)) {
        u->requests++;
        if (u->verbose) print_request(msg);
    }
    return 0;
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
        sip_msg_add_header(rsp, "Allow", u->allow);
        sip_msg_add_header(rsp, "Accept", ACCEPT);
    }
    int rc = sip_transport_send_response(tp, rsp);
    if (rc && u->verbose) fprintf(stderr, "sip-uas: cannot answer: %s\n", sip_strerror(rc));
    sip_msg_unref(rsp);
}

/* ---- the program ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sip-uas --listen SPEC [--listen SPEC ...] [options]\n"
        "\n"
        "Answers SIP requests on libsip's UA layer: OPTIONS with 200 OK; INVITE with\n"
        "180 Ringing and 200 OK (Contact, SDP answer to the offer), which the call\n"
        "retransmits until the ACK comes on every transport (RFC 3261 13.3.1.4) and ends\n"
        "with a BYE after 64*T1 without one; BYE in a call with 200 (481 outside one);\n"
        "CANCEL with 200 and the INVITE with 487; re-INVITE and UPDATE with an answer;\n"
        "INFO and OPTIONS in a call with 200; a request the UA core refuses (RFC 3261 8.2)\n"
        "with 405, 415, 416 or 420; anything else with 501 Not Implemented. Runs until\n"
        "SIGINT or SIGTERM. sip-uas-txn is the same program on the transaction layer.\n"
        "\n"
        "  -l, --listen SPEC     listening point: udp:127.0.0.1:5062, tcp:[::1]:5062,\n"
        "                        tls:127.0.0.1:5063, ws:127.0.0.1:8080, wss:127.0.0.1:8443\n"
        "      --ring MS         wait MS milliseconds between the 180 and the final answer\n"
        "                        (default 0; at most %lu)\n"
        "      --code N          answer INVITEs with status N (200-699; default 200); N >= 300\n"
        "                        rejects the call (no SDP)\n"
        "      --media FILE      answer with the offer/answer engine from these capabilities\n"
        "                        (an SDP file of m= lines with their rtpmap lines): codecs\n"
        "                        intersected, hold answered, 488 for an offer with none in\n"
        "                        common (default: the first format of each offered stream)\n"
        "      --rel100 MODE     reliable provisional responses (RFC 3262): none (default: a\n"
        "                        Require of 100rel gets 420), supported (the 180 goes\n"
        "                        reliably, with RSeq, until its PRACK, when the INVITE\n"
        "                        supports 100rel) or required (an INVITE without 100rel\n"
        "                        gets 421)\n"
        "      --session-timer S grant session timers (RFC 4028) of at most S seconds\n"
        "                        (90-86400; default: none, a Require of timer gets 420);\n"
        "                        the 200 says who refreshes, and a session not refreshed\n"
        "                        in time ends with BYE\n"
        "      --t1 MS           RFC 3261 T1 for the transactions and the 200 retransmissions\n"
        "                        (default 500; 1-%lu)\n"
        "      --call-timeout S  end an answered call that has no BYE after S seconds with a\n"
        "                        BYE (default %lu; 0: keep it until exit; at most %lu)\n"
        "      --stateless       answer each request statelessly (RFC 3261 8.2.7): OPTIONS\n"
        "                        with 200, anything else with 501 (no calls)\n"
        "      --tls-cert FILE   PEM certificate chain for tls: and wss: listeners\n"
        "      --tls-key FILE    PEM private key for them\n"
        "      --tls-ca FILE     PEM CA certificates that client certificates are checked\n"
        "                        against (default: the system's)\n"
        "      --tls-verify-client  require a client certificate signed by --tls-ca on tls:\n"
        "                        and wss: listeners; a client without one fails the handshake\n"
        "      --trace           log every message sent and received\n"
        "      --register AOR    register AOR (RFC 3261 10.2) with this program's Contact and\n"
        "                        keep it registered while answering calls (refreshed before\n"
        "                        the granted expiry); unregistered on SIGINT or SIGTERM.\n"
        "                        Prints \"registered AOR: STATUS REASON, expires S\"; a\n"
        "                        refused or unanswered first REGISTER exits 1\n"
        "      --registrar URI   where to register (default: the AOR's domain)\n"
        "      --expires S       the expiry asked (default 3600)\n"
        "      --user NAME       answer digest challenges (RFC 3261 22.2) as NAME\n"
        "      --password P      the password of --user\n"
        "      --accept-transfer follow a REFER inside a call (RFC 3515, RFC 5589): 202, a\n"
        "                        new call to its Refer-To (with the Replaces and Referred-By\n"
        "                        it carries) and NOTIFYs of that call's progress to the\n"
        "                        transferor; with -v prints \"transfer answered: 200 OK\",\n"
        "                        \"transfer failed: STATUS REASON\" and \"transfer ended: 200\n"
        "                        OK\". Without it a REFER gets 501\n"
        "  -v, --verbose         print one line per received request, one per call that\n"
        "                        ends abnormally or gets a request in its dialog (INFO), and\n"
        "                        counters at exit; a MESSAGE (RFC 3428, answered 200) prints\n"
        "                        \"MESSAGE from <URI> TYPE: TEXT\" on stdout\n"
        "  -h, --help            this text\n"
        "\n"
        "Exit status: 0 after a signal, 1 when a listening point cannot be opened, --media\n"
        "cannot be read or the registrar refused --register, 2 for a usage error.\n",
        MAX_RING_MS, MAX_T1_MS, DEFAULT_CALL_TIMEOUT_S, MAX_CALL_TIMEOUT_S);
}

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

/* Reads --media: the whole file, NUL-terminated, its lines ended by CRLF (RFC 4566 §5) whatever
 * the file's editor wrote. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *raw = malloc(MAX_MEDIA_FILE + 1);
    size_t n = raw ? fread(raw, 1, MAX_MEDIA_FILE + 1, f) : 0;
    int bad = !raw || ferror(f) || n == 0 || n > MAX_MEDIA_FILE;
    fclose(f);
    char *out = bad ? NULL : malloc(2 * n + 3);
    size_t k = 0;
    for (size_t i = 0; out && i < n; i++) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out[k++] = '\r';
        out[k++] = raw[i];
    }
    if (out && out[k - 1] != '\n') {
        out[k++] = '\r';
        out[k++] = '\n';
    }
    if (out) out[k] = '\0';
    free(raw);
    if (!out) errno = bad ? EINVAL : ENOMEM;
    return out;
}

/* Closes the UA (the calls still up end without sending; their records go with their
 * user_free), then drops the references we held on them. */
static void close_calls(uas_t *u)
{
    /* The calls --accept-transfer placed: ours to drop (the UA's close ends them). */
    sip_call_t *xf[MAX_XFERS];
    memcpy(xf, u->xfers, sizeof(xf));
    memset(u->xfers, 0, sizeof(u->xfers));
    size_t n = 0;
    sip_call_t **held = u->ncalls ? calloc(u->ncalls, sizeof(*held)) : NULL;
    for (call_t *c = u->calls; c && held; c = c->next)
        held[n++] = c->call;
    sip_ua_close(u->ua);
    for (size_t i = 0; i < n; i++)
        sip_call_unref(held[i]);
    for (size_t i = 0; i < MAX_XFERS; i++)
        sip_call_unref(xf[i]);
    free(held);
    u->calls = NULL;
    u->ncalls = 0;
    free(u->heap);
    free(u->offer);
    blob_unref(u->answer);
}

/* ---- --register: this program's own registration (RFC 3261 §10.2) ------------------------- */

static struct {
    const char *aor, *registrar, *user, *password;
    uint32_t expires;
    sip_reg_t *reg;
    int unregistering, failed;
    sip_loop_t *loop;
} regc;

static void on_reg_event(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)user;
    sip_str_t r = msg ? sip_msg_get_reason(msg) : (sip_str_t){"", 0};
    switch (ev) {
    case SIP_REG_EVENT_REGISTERED:
    case SIP_REG_EVENT_REFRESHED:
        printf("%s %s: %d %.*s, expires %u\n",
               ev == SIP_REG_EVENT_REGISTERED ? "registered" : "refreshed", regc.aor, status,
               (int)r.len, r.ptr, (unsigned)sip_reg_get_expires(reg));
        break;
    case SIP_REG_EVENT_UNREGISTERED:
        printf("unregistered %s: %d %.*s\n", regc.aor, status, (int)r.len, r.ptr);
        if (regc.unregistering) sip_loop_stop(regc.loop);
        break;
    case SIP_REG_EVENT_FAILED:
        fprintf(stderr, "sip-uas: REGISTER of %s failed: %d %.*s%s%s\n", regc.aor, status,
                (int)r.len, r.ptr, status == 408 ? " (timeout)" : "",
                sip_reg_get_state(reg) == SIP_REG_STATE_RETRYING ? ", trying again later" : "");
        /* A refusal of the first REGISTER, or of the unregistration at exit, ends the
         * program; a refresh that fails is tried again (the registration had been up). */
        if (sip_reg_get_state(reg) == SIP_REG_STATE_FAILED || regc.unregistering) {
            regc.failed = !regc.unregistering;
            sip_loop_stop(regc.loop);
        }
        break;
    case SIP_REG_EVENT_FLOW_LOST: printf("flow lost %s: registering again\n", regc.aor); break;
    default: break;
    }
    fflush(stdout);
}

static int start_register(sip_ua_t *ua, sip_loop_t *loop)
{
    regc.loop = loop;
    if (regc.user) {
        sip_auth_cred_t cred = {0};
        cred.user = regc.user;
        cred.password = regc.password;
        int rc = sip_ua_add_credential(ua, &cred);
        if (rc) {
            fprintf(stderr, "sip-uas: --user: %s\n", sip_strerror(rc));
            return rc;
        }
    }
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = regc.registrar;
    if (regc.expires) o.expires = regc.expires;
    o.retry_initial = 0;
    int rc = sip_reg_create(&regc.reg, ua, regc.aor, &o, on_reg_event, NULL, NULL);
    if (rc) fprintf(stderr, "sip-uas: --register %s: %s\n", regc.aor, sip_strerror(rc));
    return rc;
}

/* At exit: the binding goes (Expires 0), waiting at most a transaction's time for the answer. */
static void on_unregister_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "sip-uas: no answer to the unregistration of %s\n", regc.aor);
    sip_loop_stop(regc.loop);
}

static void stop_register(uv_loop_t *uv, uint32_t t1)
{
    if (!regc.reg) return;
    if (!regc.failed && sip_reg_get_state(regc.reg) == SIP_REG_STATE_REGISTERED &&
        sip_reg_unregister(regc.reg, NULL) == 0) {
        regc.unregistering = 1;
        uv_timer_t deadline;
        uv_timer_init(uv, &deadline);
        uv_timer_start(&deadline, on_unregister_deadline, 64 * (uint64_t)t1 + 1000, 0);
        sip_loop_run(regc.loop);
        uv_close((uv_handle_t *)&deadline, NULL);
        uv_run(uv, UV_RUN_NOWAIT);
    }
    sip_reg_close(regc.reg);
    sip_reg_unref(regc.reg);
    regc.reg = NULL;
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
        OPT_VERIFY_CLIENT,
        OPT_MEDIA,
        OPT_REL100,
        OPT_SESSION_TIMER,
        OPT_REGISTER,
        OPT_REGISTRAR,
        OPT_EXPIRES,
        OPT_USER,
        OPT_PASSWORD,
        OPT_ACCEPT_TRANSFER,
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
        {"media", required_argument, NULL, OPT_MEDIA},
        {"rel100", required_argument, NULL, OPT_REL100},
        {"session-timer", required_argument, NULL, OPT_SESSION_TIMER},
        {"t1", required_argument, NULL, OPT_T1},
        {"call-timeout", required_argument, NULL, OPT_CALL_TIMEOUT},
        {"register", required_argument, NULL, OPT_REGISTER},
        {"registrar", required_argument, NULL, OPT_REGISTRAR},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"user", required_argument, NULL, OPT_USER},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"accept-transfer", no_argument, NULL, OPT_ACCEPT_TRANSFER},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen[MAX_LISTEN];
    const char *media_file = NULL;
    int nlisten = 0, trace = 0;
    static uas_t uas;
    uas.code = 200;
    uas.t1 = 500;
    uas.call_timeout_ms = DEFAULT_CALL_TIMEOUT_S * 1000;
    uas.armed = NEVER;
    uas.allow = ALLOW;
    uas.rel100 = SIP_CALL_100REL_OFF;
    sip_transport_opts_t opts;
    sip_transport_opts_init(&opts);
    unsigned long v;
    int c;
    while ((c = getopt_long(argc, argv, "l:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "sip-uas: at most %d listening points\n", MAX_LISTEN);
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
                fprintf(stderr, "sip-uas: --ring wants milliseconds, 0 to %lu\n", MAX_RING_MS);
                return 2;
            }
            uas.ring_ms = v;
            break;
        case OPT_CODE:
            /* A final status: 1xx would leave the INVITE unanswered. */
            if (parse_num(optarg, 200, 699, &v)) {
                fprintf(stderr, "sip-uas: --code wants a final status, 200 to 699\n");
                return 2;
            }
            uas.code = (unsigned)v;
            break;
        case OPT_MEDIA: media_file = optarg; break;
        case OPT_REL100:
            if (strcmp(optarg, "none") == 0) {
                uas.rel100 = SIP_CALL_100REL_OFF;
            } else if (strcmp(optarg, "supported") == 0) {
                uas.rel100 = SIP_CALL_100REL_SUPPORTED;
            } else if (strcmp(optarg, "required") == 0) {
                uas.rel100 = SIP_CALL_100REL_REQUIRED;
            } else {
                fprintf(stderr, "sip-uas: --rel100 is none, supported or required\n");
                return 2;
            }
            break;
        case OPT_SESSION_TIMER:
            if (parse_num(optarg, MIN_SESSION_TIMER, MAX_SESSION_TIMER, &v)) {
                fprintf(stderr, "sip-uas: --session-timer wants seconds, %u to %u\n",
                        MIN_SESSION_TIMER, MAX_SESSION_TIMER);
                return 2;
            }
            uas.session_timer = (uint32_t)v;
            break;
        case OPT_T1:
            if (parse_num(optarg, 1, MAX_T1_MS, &v)) {
                fprintf(stderr, "sip-uas: --t1 wants milliseconds, 1 to %lu\n", MAX_T1_MS);
                return 2;
            }
            uas.t1 = (uint32_t)v;
            break;
        case OPT_CALL_TIMEOUT:
            if (parse_num(optarg, 0, MAX_CALL_TIMEOUT_S, &v)) {
                fprintf(stderr, "sip-uas: --call-timeout wants seconds, 0 to %lu\n",
                        MAX_CALL_TIMEOUT_S);
                return 2;
            }
            uas.call_timeout_ms = (uint64_t)v * 1000;
            break;
        case OPT_REGISTER: regc.aor = optarg; break;
        case OPT_REGISTRAR: regc.registrar = optarg; break;
        case OPT_EXPIRES:
            if (parse_num(optarg, 1, 0xffffffffUL, &v)) {
                fprintf(stderr, "sip-uas: --expires wants seconds from 1 up\n");
                return 2;
            }
            regc.expires = (uint32_t)v;
            break;
        case OPT_USER: regc.user = optarg; break;
        case OPT_PASSWORD: regc.password = optarg; break;
        case OPT_ACCEPT_TRANSFER: uas.accept_transfer = 1; break;
        case 'v': uas.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if ((regc.registrar || regc.expires || regc.user) && !regc.aor) {
        fprintf(stderr, "sip-uas: --registrar, --expires and --user go with --register\n");
        return 2;
    }
    if (!regc.user != !regc.password) {
        fprintf(stderr, "sip-uas: --user and --password go together\n");
        return 2;
    }
    if (regc.aor && uas.stateless) {
        fprintf(stderr, "sip-uas: --register needs the UA; --stateless has none\n");
        return 2;
    }
    if (optind != argc || nlisten == 0) {
        usage(stderr);
        return 2;
    }
    if (media_file && uas.stateless) {
        fprintf(stderr, "sip-uas: --media answers calls; --stateless takes none\n");
        return 2;
    }
    if (media_file) {
        uas.media = read_file(media_file);
        if (!uas.media) {
            fprintf(stderr, "sip-uas: cannot read --media %s (1 to %d bytes): %s\n", media_file,
                    MAX_MEDIA_FILE, strerror(errno));
            return 1;
        }
    }
    /* RFC 3261 §17.1.2.2: T2 is 4 s, and never below T1. */
    uas.t2 = uas.t1 > T2_MS ? uas.t1 : T2_MS;
    if (getrandom(&uas.secret, sizeof(uas.secret), 0) != (ssize_t)sizeof(uas.secret)) {
        fprintf(stderr, "sip-uas: no random source\n");
        free(uas.media);
        return 1;
    }
    /* A peer that resets a connection must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    sip_loop_t *loop;
    if (sip_loop_create(&loop) != 0) {
        free(uas.media);
        return 1;
    }
    uas.loop = loop;
    uas.uv = sip_loop_get_uv(loop);
    if (trace) {
        sip_loop_set_log(loop, SIP_LOG_INFO, on_log, NULL, NULL);
        sip_loop_set_trace(loop, 1);
    }
    int rc = sip_transport_create(&uas.tp, loop, &opts);
    if (rc) {
        fprintf(stderr, "sip-uas: %s\n", sip_strerror(rc));
        sip_loop_unref(loop);
        free(uas.media);
        return 1;
    }
    for (int i = 0; i < nlisten; i++) {
        rc = sip_transport_listen(uas.tp, listen[i]);
        if (rc < 0) {
            fprintf(stderr, "sip-uas: cannot listen on %s: %s\n", listen[i], sip_strerror(rc));
            sip_transport_unref(uas.tp);
            sip_loop_unref(loop);
            free(uas.media);
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
        sip_ua_opts_t uo;
        sip_ua_opts_init(&uo);
        uo.user_agent = "sip-uas (libsip)";
        uo.contact_user = "sip-uas";
        /* The option tags taken: any other Required gets 420 (RFC 3261 §8.2.2.3). */
        int rel = uas.rel100 != SIP_CALL_100REL_OFF, timer = uas.session_timer != 0;
        uas.allow = rel ? ALLOW_PRACK : ALLOW;
        /* REFER is not in the default Allow: listed when this program acts on it. */
        static char allow_refer[128];
        if (uas.accept_transfer) {
            snprintf(allow_refer, sizeof(allow_refer), "%s, REFER", uas.allow);
            uas.allow = allow_refer;
        }
        uo.allow = uas.allow;
        uo.accept = ACCEPT;
        uo.supported = rel && timer ? "100rel, timer" : rel ? "100rel" : timer ? "timer" : "";
        uo.t1_ms = uas.t1;
        uo.t2_ms = uas.t2;
        /* §17.2.1: 100 Trying only when the TU has not answered within 200 ms (the layer's
         * default); the 180 goes out in the same turn. */
        rc = sip_txn_layer_create(&uas.layer, uas.tp, &to);
        if (rc == 0) rc = sip_ua_create(&uas.ua, uas.layer, &uo, on_ua_request, &uas, NULL);
        if (rc == 0) {
            rc = sip_transport_add_handler(uas.tp, SIP_HANDLER_PRIO_FIRST, on_message, &uas, NULL);
            rc = rc < 0 ? rc : 0;
        }
        if (rc == 0 && regc.aor) rc = start_register(uas.ua, loop);
        if (rc) {
            fprintf(stderr, "sip-uas: %s\n", sip_strerror(rc));
            sip_ua_unref(uas.ua);
            sip_txn_layer_unref(uas.layer);
            sip_transport_unref(uas.tp);
            sip_loop_unref(loop);
            free(uas.media);
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
    /* --register: the binding is removed before the calls and the UA go. */
    stop_register(uas.uv, uas.t1);
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
    /* The UA first: the calls end without sending anything more. */
    close_calls(&uas);
    sip_ua_unref(uas.ua);
    sip_txn_layer_close(uas.layer);
    sip_txn_layer_unref(uas.layer);
    sip_transport_unref(uas.tp);
    sip_loop_unref(loop);
    free(uas.media);
    return regc.failed ? 1 : 0;
}
