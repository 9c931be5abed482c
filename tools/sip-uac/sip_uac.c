/* SPDX-License-Identifier: MIT */
/* sip-uac: places calls (INVITE, ACK, BYE) at a steady rate on the transaction layer and counts
 * how many completed (a load generator and interop peer, like SIPp's uac scenario). Targets are
 * located with RFC 3263 through libsip's resolver, over UDP, TCP, TLS, WS or WSS. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sip/sip.h>
#include <uv.h>

#define MAX_CALLS 10000000u
#define MAX_RATE 100000.0

/* Where a call is; a call that ended is freed and its slot cleared. */
enum { CALL_INVITING = 0, CALL_HOLDING, CALL_BYEING };

typedef struct call {
    uint32_t idx;
    uint8_t state;
    uint8_t creating; /* inside sip_txn_client_create(): a callback now ends the call later */
    int early_status; /* the final status such a callback reported, 0 when none */
    sip_txn_t *inv;   /* the INVITE client transaction */
    sip_txn_t *bye_txn;
    sip_msg_t *ack;        /* RFC 3261 §13.2.2.4: the ACK of the 2xx, sent again for each copy */
    sip_msg_t *bye;        /* built with the ACK, sent after --hold */
    sip_netinfo_t dlg_dst; /* where in-dialog requests go */
    uint64_t bye_at;       /* loop time for the BYE */
    struct call *prev, *next; /* the hold queue */
} call_t;

struct uac;

/* A call's place; transactions carry a pointer to it, which stays valid after the call ended
 * (then c is NULL) for as long as the program runs. */
typedef struct slot {
    struct uac *u;
    call_t *c;
} slot_t;

typedef struct uac {
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_transport_type_t transport;
    sip_resolver_t *resolver;
    sip_netinfo_t dst;   /* the first target RFC 3263 gave (each INVITE is located again) */
    const char *target;  /* Request-URI and To */
    char local_host[64]; /* for URIs: IPv6 in brackets */
    char local_ip[48];
    int ipv6;
    char contact[160];
    uint64_t secret; /* makes Call-IDs and tags unique to this run */
    uint32_t ncalls, started, completed, failed, in_flight, max_concurrent;
    double rate, credit;
    uint64_t last_ns;
    uint64_t hold_ms;
    uint64_t linger_ms;
    int verbose;
    int gave_up;
    struct slot *slots; /* by index: O(1) from a Call-ID or a callback */
    call_t *hold_head, *hold_tail;
    uv_timer_t pacer, holder, deadline;
    uv_signal_t sigint, sigterm;
} uac_t;

/* ---- small helpers ------------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    int err;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    if (b->err) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Call-IDs start with the call's index, so a message finds its call without a search; the
 * random part keeps them unique across runs (RFC 3261 §8.1.1.4). */
static void make_call_id(const uac_t *u, uint32_t idx, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu32 ".%016" PRIx64 "@%s", idx, mix64(u->secret ^ idx),
             u->local_host);
}

/* RFC 3261 §8.1.1.3: the From tag, at least 32 bits of randomness. */
static void make_tag(const uac_t *u, uint32_t idx, char *buf, size_t size)
{
    snprintf(buf, size, "%016" PRIx64, mix64(~u->secret ^ ((uint64_t)idx << 20)));
}

static call_t *find_call(const uac_t *u, sip_str_t call_id)
{
    uint64_t idx = 0;
    size_t i = 0;
    while (i < call_id.len && i < 10 && call_id.ptr[i] >= '0' && call_id.ptr[i] <= '9')
        idx = idx * 10 + (uint64_t)(call_id.ptr[i++] - '0');
    if (i == 0 || i == call_id.len || call_id.ptr[i] != '.' || idx >= u->ncalls) return NULL;
    call_t *c = u->slots[idx].c;
    if (!c) return NULL;
    char want[128];
    make_call_id(u, (uint32_t)idx, want, sizeof(want));
    return sip_str_eq(call_id, sip_str_from_cstr(want)) ? c : NULL;
}

static void *slot_of(uac_t *u, const call_t *c)
{
    return &u->slots[c->idx];
}

/* ---- ending calls ------------------------------------------------------------------------- */

static void hold_remove(uac_t *u, call_t *c)
{
    if (c->state != CALL_HOLDING) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        u->hold_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        u->hold_tail = c->prev;
    c->prev = c->next = NULL;
}

/* Stops what a call still has running, except a transaction in Completed: it still sends the
 * ACK for retransmitted non-2xx responses (RFC 3261 §17.1.1.2) and absorbs copies of the final
 * response until Timer D or K. */
static void release_txn(sip_txn_t **txn)
{
    if (!*txn) return;
    if (sip_txn_get_state(*txn) != SIP_TXN_COMPLETED) sip_txn_close(*txn);
    sip_txn_unref(*txn);
    *txn = NULL;
}

static void call_free(uac_t *u, call_t *c)
{
    hold_remove(u, c);
    release_txn(&c->inv);
    release_txn(&c->bye_txn);
    sip_msg_unref(c->ack);
    sip_msg_unref(c->bye);
    u->slots[c->idx].c = NULL;
    free(c);
}

static void on_linger(uv_timer_t *t)
{
    uac_t *u = t->data;
    sip_loop_stop(u->loop);
}

/* After the last call the endpoint stays up for one T1: a peer that retransmits a final
 * response (RFC 3261 §17.2.1 Timer G) still gets its ACK, and a peer on TCP finishes its last
 * call before the connection closes. */
static void check_done(uac_t *u)
{
    if (u->completed + u->failed != u->ncalls || u->gave_up) return;
    uv_timer_start(&u->deadline, on_linger, u->linger_ms, 0);
}

static void end_call(uac_t *u, call_t *c, int ok, const char *fmt, ...)
{
    if (ok)
        u->completed++;
    else
        u->failed++;
    if (u->verbose) {
        char why[160] = "";
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(why, sizeof(why), fmt, ap);
            va_end(ap);
        }
        printf("call %" PRIu32 " %s%s%s\n", c->idx, ok ? "completed" : "failed", *why ? ": " : "",
               why);
        fflush(stdout);
    }
    u->in_flight--;
    call_free(u, c);
    check_done(u);
}

/* ---- the dialog: ACK and BYE ---------------------------------------------------------------- */

/* RFC 3263 §4 is not run for in-dialog requests: an IP literal in the top Route or the remote
 * target is used directly; a host name falls back to where the 2xx came from (rsp: the target
 * the INVITE reached, its connection and the name it was checked against). */
static void dialog_dst(const uac_t *u, const sip_msg_t *req, const sip_msg_t *rsp,
                       sip_netinfo_t *dst)
{
    const sip_netinfo_t *from = rsp ? sip_msg_get_netinfo(rsp) : NULL;
    *dst = from && from->remote_port ? *from : u->dst;
    dst->transport = u->transport;
    const sip_uri_t *uri = sip_msg_get_uri(req);
    const sip_header_t *rh = sip_msg_header_at(req, SIP_HDR_ROUTE, 0);
    const sip_addr_t *ra = rh ? sip_header_addr(rh) : NULL;
    if (ra) uri = &ra->uri;
    if (!uri || (uri->host_type != SIP_HOST_IPV4 && uri->host_type != SIP_HOST_IPV6)) return;
    sip_str_t h = uri->host;
    if (uri->host_type == SIP_HOST_IPV6 && h.len >= 2) {
        h.ptr++;
        h.len -= 2;
    }
    if (h.len >= sizeof(dst->remote_ip)) return;
    memcpy(dst->remote_ip, h.ptr, h.len);
    dst->remote_ip[h.len] = '\0';
    dst->remote_port = uri->port ? uri->port : sip_transport_default_port(u->transport);
}

/*
 * Builds a request inside the dialog the 2xx established (RFC 3261 §12.2.1.1): the remote
 * target (the 2xx's Contact) as Request-URI, the route set (§12.1.2: Record-Route in reverse
 * order) as Route, the To of the 2xx with its tag, our From, the Call-ID. The transaction or
 * sip_txn_send_stateless() adds the Via with a new branch.
 */
static int build_in_dialog(const uac_t *u, const call_t *c, const sip_msg_t *rsp,
                           const char *method, uint32_t cseq, sip_msg_t **out)
{
    *out = NULL;
    sbuf_t b = {0};
    const sip_header_t *ch = sip_msg_header_at(rsp, SIP_HDR_CONTACT, 0);
    const sip_addr_t *ca = ch ? sip_header_addr(ch) : NULL;
    sip_str_t ruri =
        ca && !ca->star && ca->uri.raw.len ? ca->uri.raw : sip_str_from_cstr(u->target);
    const sip_header_t *th = sip_msg_header_at(rsp, SIP_HDR_TO, 0);
    if (!th) return SIP_EINVAL;
    sip_str_t to = sip_header_get_value(th);
    char call_id[128], tag[24];
    make_call_id(u, c->idx, call_id, sizeof(call_id));
    make_tag(u, c->idx, tag, sizeof(tag));
    sb_printf(&b, "%s %.*s SIP/2.0\r\n", method, (int)ruri.len, ruri.ptr);
    size_t nrr = sip_msg_header_count(rsp, SIP_HDR_RECORD_ROUTE);
    for (size_t i = nrr; i-- > 0;) {
        sip_str_t r = sip_header_get_value(sip_msg_header_at(rsp, SIP_HDR_RECORD_ROUTE, i));
        sb_printf(&b, "Route: %.*s\r\n", (int)r.len, r.ptr);
    }
    sb_printf(&b,
              "Max-Forwards: 70\r\n"
              "From: <sip:uac@%s>;tag=%s\r\n"
              "To: %.*s\r\n"
              "Call-ID: %s\r\n"
              "CSeq: %" PRIu32 " %s\r\n"
              "User-Agent: sip-uac (libsip)\r\n"
              "Content-Length: 0\r\n\r\n",
              u->local_host, tag, (int)to.len, to.ptr, call_id, cseq, method);
    int rc = b.err ? SIP_ENOMEM : sip_msg_parse(out, b.p, b.len, NULL);
    free(b.p);
    return rc;
}

static void send_bye(uac_t *u, call_t *c);

static void on_hold(uv_timer_t *t)
{
    uac_t *u = t->data;
    uint64_t now = uv_now(u->uv);
    /* The hold is the same for every call, so the queue is in deadline order: one timer. */
    while (u->hold_head && u->hold_head->bye_at <= now) {
        call_t *c = u->hold_head;
        hold_remove(u, c);
        send_bye(u, c);
    }
    if (u->hold_head) {
        uint64_t at = u->hold_head->bye_at;
        uv_timer_start(&u->holder, on_hold, at > now ? at - now : 0, 0);
    }
}

static void hold_push(uac_t *u, call_t *c)
{
    c->state = CALL_HOLDING;
    c->bye_at = uv_now(u->uv) + u->hold_ms;
    c->next = NULL;
    c->prev = u->hold_tail;
    if (u->hold_tail)
        u->hold_tail->next = c;
    else
        u->hold_head = c;
    u->hold_tail = c;
    if (u->hold_head == c) uv_timer_start(&u->holder, on_hold, u->hold_ms, 0);
}

/* A 2xx to the INVITE: the UAC core acknowledges it (RFC 3261 §13.2.2.4), then holds. */
static void on_2xx(uac_t *u, call_t *c, const sip_msg_t *rsp)
{
    if (c->state != CALL_INVITING) {
        /* A copy of the 2xx (our ACK was lost): the same ACK again. A 2xx with another To tag
         * (another fork) is not a dialog this program keeps. */
        const sip_addr_t *to = sip_msg_get_to(rsp);
        const sip_addr_t *ato = c->ack ? sip_msg_get_to(c->ack) : NULL;
        if (to && ato && sip_str_eq(to->tag, ato->tag))
            sip_txn_send_stateless(u->layer, c->ack, &c->dlg_dst);
        return;
    }
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    uint32_t seq = cs ? cs->seq : 1;
    /* §13.2.2.4: the ACK has the INVITE's CSeq number; the BYE the next one (§12.2.1.1). */
    int rc = build_in_dialog(u, c, rsp, "ACK", seq, &c->ack);
    if (!rc) rc = build_in_dialog(u, c, rsp, "BYE", seq + 1, &c->bye);
    if (rc) {
        end_call(u, c, 0, "cannot build the ACK or BYE: %s", sip_strerror(rc));
        return;
    }
    dialog_dst(u, c->ack, rsp, &c->dlg_dst);
    /* A lost ACK is repaired by the next copy of the 2xx; an ACK that cannot leave at all
     * means the BYE cannot either, and that one's failure ends the call. */
    (void)sip_txn_send_stateless(u->layer, c->ack, &c->dlg_dst);
    if (u->hold_ms == 0)
        send_bye(u, c);
    else
        hold_push(u, c);
}

static void invite_final(uac_t *u, call_t *c, int status, const sip_msg_t *rsp)
{
    if (rsp) {
        sip_str_t r = sip_msg_get_reason(rsp);
        end_call(u, c, 0, "INVITE %d %.*s", status, (int)r.len, r.ptr);
    } else {
        end_call(u, c, 0, "INVITE %d (%s)", status, status == 408 ? "timeout" : "transport error");
    }
}

static void on_invite_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    slot_t *s = user;
    uac_t *u = s->u;
    call_t *c = s->c;
    if (!c) return;
    if (txn != c->inv) {
        /* Inside sip_txn_client_create(): the caller ends the call once it returns. */
        if (c->creating && !c->inv && status >= 300) c->early_status = status;
        return;
    }
    if (status < 200) return;
    if (status < 300 && rsp)
        on_2xx(u, c, rsp);
    else
        invite_final(u, c, status, rsp);
}

static void bye_final(uac_t *u, call_t *c, int status, const sip_msg_t *rsp)
{
    if (status < 300) {
        end_call(u, c, 1, NULL);
        return;
    }
    sip_str_t r = rsp ? sip_msg_get_reason(rsp)
                      : sip_str_from_cstr(status == 408 ? "(timeout)" : "(transport error)");
    end_call(u, c, 0, "BYE %d %.*s", status, (int)r.len, r.ptr);
}

static void on_bye_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    slot_t *s = user;
    call_t *c = s->c;
    if (!c) return;
    if (txn != c->bye_txn) {
        if (c->creating && !c->bye_txn && status >= 200) c->early_status = status;
        return;
    }
    if (status >= 200) bye_final(s->u, c, status, rsp);
}

static void send_bye(uac_t *u, call_t *c)
{
    c->state = CALL_BYEING;
    c->creating = 1;
    int rc = sip_txn_client_create(&c->bye_txn, u->layer, c->bye, &c->dlg_dst, NULL,
                                   on_bye_response, slot_of(u, c), NULL);
    c->creating = 0;
    if (rc) {
        end_call(u, c, 0, "BYE not sent: %s", sip_strerror(rc));
        return;
    }
    sip_msg_unref(c->bye); /* the transaction keeps its own reference */
    c->bye = NULL;
    if (c->early_status) bye_final(u, c, c->early_status, NULL);
}

/* A 2xx that matched no transaction: a copy that came after Timer M (RFC 6026 §8.4). */
static void on_stray(sip_txn_layer_t *layer, sip_msg_t *rsp, void *user)
{
    (void)layer;
    uac_t *u = user;
    const sip_cseq_t *cs = sip_msg_get_cseq(rsp);
    int st = sip_msg_get_status(rsp);
    if (!cs || cs->method != SIP_METHOD_INVITE || st < 200 || st >= 300) return;
    call_t *c = find_call(u, sip_msg_get_call_id(rsp));
    if (c && c->state != CALL_INVITING) on_2xx(u, c, rsp);
}

static void on_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)layer;
    uac_t *u = user;
    if (!txn) return; /* an ACK of no transaction */
    switch (sip_msg_get_method(req)) {
    case SIP_METHOD_BYE: {
        /* RFC 3261 §15.1.2: the peer ended the session; §12.2.2: 481 outside a dialog. */
        call_t *c = find_call(u, sip_msg_get_call_id(req));
        if (!c || c->state == CALL_INVITING) {
            sip_txn_respond(txn, 481, NULL);
            return;
        }
        sip_txn_respond(txn, 200, NULL);
        end_call(u, c, 1, "BYE from the peer");
        return;
    }
    case SIP_METHOD_OPTIONS: sip_txn_respond(txn, 200, NULL); return;
    default: sip_txn_respond(txn, 501, NULL); return;
    }
}

/* ---- starting calls ----------------------------------------------------------------------- */

static int build_invite(const uac_t *u, uint32_t idx, sip_msg_t **out)
{
    char call_id[128], tag[24], sdp[512];
    make_call_id(u, idx, call_id, sizeof(call_id));
    make_tag(u, idx, tag, sizeof(tag));
    const char *ipv = u->ipv6 ? "IP6" : "IP4";
    /* RFC 3264 §5: an offer of one audio stream. No media flows; the port only has to be a
     * valid even RTP port (RFC 3550 §11). */
    int n = snprintf(sdp, sizeof(sdp),
                     "v=0\r\n"
                     "o=sip-uac %" PRIu32 " 1 IN %s %s\r\n"
                     "s=-\r\n"
                     "c=IN %s %s\r\n"
                     "t=0 0\r\n"
                     "m=audio %u RTP/AVP 0 8 101\r\n"
                     "a=rtpmap:0 PCMU/8000\r\n"
                     "a=rtpmap:8 PCMA/8000\r\n"
                     "a=rtpmap:101 telephone-event/8000\r\n"
                     "a=sendrecv\r\n",
                     idx, ipv, u->local_ip, ipv, u->local_ip, 10000u + 2u * (idx % 20000u));
    if (n < 0 || (size_t)n >= sizeof(sdp)) return SIP_ERANGE;
    sbuf_t b = {0};
    /* RFC 3261 §8.1.1: Request-URI, To, From with a tag, Call-ID, CSeq, Max-Forwards; the
     * transaction adds the Via; Contact (§8.1.1.8) is where this UA listens. */
    /* The Via names this host; the transaction adds the branch and the transport writes its
     * listening point over it when it has one of the transport used (a TLS, WS or WSS client
     * without a listener keeps it: its connection carries the responses back). */
    sb_printf(&b,
              "INVITE %s SIP/2.0\r\n"
              "Via: SIP/2.0/%s %s\r\n"
              "Max-Forwards: 70\r\n"
              "From: <sip:uac@%s>;tag=%s\r\n"
              "To: <%s>\r\n"
              "Call-ID: %s\r\n"
              "CSeq: 1 INVITE\r\n"
              "Contact: %s\r\n"
              "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
              "User-Agent: sip-uac (libsip)\r\n"
              "Content-Type: application/sdp\r\n"
              "Content-Length: %d\r\n\r\n%s",
              u->target, sip_transport_name(u->transport), u->local_host, u->local_host, tag,
              u->target, call_id, u->contact, n, sdp);
    int rc = b.err ? SIP_ENOMEM : sip_msg_parse(out, b.p, b.len, NULL);
    free(b.p);
    return rc;
}

static void start_call(uac_t *u)
{
    uint32_t idx = u->started++;
    call_t *c = calloc(1, sizeof(*c));
    if (!c) {
        u->failed++;
        check_done(u);
        return;
    }
    c->idx = idx;
    u->slots[idx].c = c;
    u->in_flight++;
    sip_msg_t *inv;
    int rc = build_invite(u, idx, &inv);
    if (rc) {
        end_call(u, c, 0, "cannot build the INVITE: %s", sip_strerror(rc));
        return;
    }
    c->creating = 1;
    /* No destination: the transaction locates the target (RFC 3263) with the transport's
     * resolver, and moves on to the next one when a target fails (§4.3). */
    rc = sip_txn_client_create(&c->inv, u->layer, inv, NULL, NULL, on_invite_response,
                               slot_of(u, c), NULL);
    c->creating = 0;
    sip_msg_unref(inv); /* the transaction keeps its own reference */
    if (rc)
        end_call(u, c, 0, "INVITE not sent: %s", sip_strerror(rc));
    else if (c->early_status)
        invite_final(u, c, c->early_status, NULL);
}

/* Credit accrues at --rate per second of real time; each tick spends what it has, so high
 * rates go out a few calls per millisecond, not in bursts, and the average does not drift. */
static void on_pace(uv_timer_t *t)
{
    uac_t *u = t->data;
    uint64_t now = uv_hrtime();
    u->credit += (double)(now - u->last_ns) * u->rate / 1e9;
    u->last_ns = now;
    /* After a stall, catch up by at most a tenth of a second's worth of calls. */
    double cap = u->rate / 10 > 1 ? u->rate / 10 : 1;
    if (u->credit > cap) u->credit = cap;
    while (u->credit >= 1.0 - 1e-9 && u->started < u->ncalls) {
        if (u->max_concurrent && u->in_flight >= u->max_concurrent) {
            if (u->credit > 1) u->credit = 1;
            break;
        }
        u->credit -= 1.0;
        start_call(u);
    }
    if (u->started >= u->ncalls) uv_timer_stop(t);
}

/* The overall timeout or a signal: whatever is unfinished counts as failed. */
static void give_up(uac_t *u, const char *why)
{
    u->gave_up = 1;
    uv_timer_stop(&u->pacer);
    uv_timer_stop(&u->holder);
    for (uint32_t i = u->started; i < u->ncalls; i++) {
        u->failed++;
        if (u->verbose) printf("call %" PRIu32 " failed: not started (%s)\n", i, why);
    }
    u->started = u->ncalls;
    for (uint32_t i = 0; i < u->ncalls; i++)
        if (u->slots[i].c) end_call(u, u->slots[i].c, 0, "%s", why);
    fflush(stdout);
    sip_loop_stop(u->loop);
}

static void on_deadline(uv_timer_t *t)
{
    give_up(t->data, "overall timeout");
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    give_up(h->data, "interrupted");
}

/* ---- the command line --------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sip-uac [options] sip:USER@HOST[:PORT] | sips:USER@HOST[:PORT]\n"
            "\n"
            "Places calls to the target: INVITE with an SDP offer, ACK of the 2xx, BYE after the\n"
            "hold time. A call completed when its BYE got a 2xx; anything else is a failure.\n"
            "Prints one summary line, \"calls: N completed, M failed\".\n"
            "\n"
            "The target is located with RFC 3263 (NAPTR, SRV, A/AAAA) through libsip's\n"
            "resolver; each INVITE goes to the first target that answers, moving on when one\n"
            "is unreachable, silent or answers 503. TLS and WSS check the server's certificate\n"
            "against the target's domain name (or its address when the URI has one).\n"
            "\n"
            "  -n, --calls N           calls to place (default 1)\n"
            "  -r, --rate R            calls started per second, may have decimals (default 10)\n"
            "  -d, --hold MS           time between the ACK and the BYE (default 0)\n"
            "  -m, --max-concurrent N  calls in progress at most (default: no limit)\n"
            "  -t, --transport T       udp, tcp, tls, ws or wss (default: the URI's transport\n"
            "                          parameter, else what DNS offers: udp, tcp or tls; tls\n"
            "                          for sips:)\n"
            "  -l, --listen SPEC       local listening point, TRANSPORT:IP:PORT of the transport\n"
            "                          used (default: port 0 on the address that routes to the\n"
            "                          target for udp and tcp, and for tls with --tls-cert;\n"
            "                          none for ws and wss)\n"
            "      --dns-server H:P    DNS server to ask, e.g. 127.0.0.1:5353 or [::1]:53\n"
            "                          (default: the system's, from /etc/resolv.conf)\n"
            "      --tls-ca FILE       PEM CA certificates that TLS and WSS servers are checked\n"
            "                          against (default: the system's)\n"
            "      --tls-cert FILE     PEM certificate chain to present to TLS servers that ask\n"
            "                          for one (and for a tls: --listen)\n"
            "      --tls-key FILE      PEM private key of --tls-cert\n"
            "      --t1 MS             RFC 3261 T1, the retransmission base (default 500)\n"
            "      --timeout S         give up after S seconds; unfinished calls fail\n"
            "                          (default: calls/rate + hold + 128*T1 + 6 s)\n"
            "      --trace             log every message sent and received (stderr)\n"
            "  -v, --verbose           print one line per call as it ends\n"
            "  -h, --help              this text\n"
            "\n"
            "Exit status: 0 when every call completed, 1 when any failed or on a runtime error\n"
            "(cannot listen, cannot resolve the target), 2 for a usage error.\n");
}

/* The default logger shows warnings only; --trace wants the INFO lines of the message trace. */
static void log_to_stderr(sip_loop_t *loop, sip_log_level_t level, const char *module,
                          const char *text, void *user)
{
    (void)loop;
    (void)user;
    fprintf(stderr, "%s %s: %s\n", sip_log_level_name(level), module, text);
}

/* Digits only: no sign, no spaces, no suffix. */
static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Digits with at most one decimal point. */
static int parse_rate(const char *s, double *out)
{
    int digits = 0, dots = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dots)
            dots++;
        else
            return -1;
    }
    if (!digits) return -1;
    double v = strtod(s, NULL);
    if (!(v > 0) || v > MAX_RATE) return -1;
    *out = v;
    return 0;
}

/* The local address the kernel would use toward the target (a connected UDP socket sends
 * nothing). */
static void source_address(const sip_netinfo_t *dst, int v6, char *out, size_t size)
{
    snprintf(out, size, "%s", v6 ? "::1" : "127.0.0.1");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(dst->remote_port);
        if (inet_pton(AF_INET6, dst->remote_ip, &a->sin6_addr) != 1) return;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(dst->remote_port);
        if (inet_pton(AF_INET, dst->remote_ip, &a->sin_addr) != 1) return;
        len = sizeof(*a);
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) return;
    struct sockaddr_storage me;
    socklen_t mlen = sizeof(me);
    if (connect(fd, (struct sockaddr *)&ss, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &mlen) == 0) {
        char ip[INET6_ADDRSTRLEN];
        const void *a = v6 ? (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)&me)->sin_addr;
        if (inet_ntop(me.ss_family, a, ip, sizeof(ip))) snprintf(out, size, "%s", ip);
    }
    close(fd);
}

/* The first target sip_resolve() gives for the URI (RFC 3263), while the loop runs. */
typedef struct lookup {
    int done, status;
    sip_netinfo_t first;
} lookup_t;

static void on_lookup(sip_resolver_t *r, int status, const sip_netinfo_t *targets, size_t count,
                      void *user)
{
    (void)r;
    lookup_t *l = user;
    l->done = 1;
    l->status = status ? status : count ? 0 : SIP_ENOENT;
    if (!l->status) l->first = targets[0];
}

static int locate_first(sip_loop_t *loop, sip_resolver_t *r, const sip_uri_t *uri,
                        sip_netinfo_t *out)
{
    lookup_t l = {0};
    int rc = sip_resolve(r, uri, on_lookup, &l, NULL);
    if (rc) return rc;
    /* The resolver's own timeouts bound this wait. */
    while (!l.done)
        sip_loop_run_once(loop, 1);
    if (!l.status) *out = l.first;
    return l.status;
}

/* The transport of a listening point spec ("tls:127.0.0.1:0"), NONE when it names none. */
static sip_transport_type_t spec_transport(const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (!colon) return SIP_TRANSPORT_NONE;
    return sip_transport_from_name(spec, (size_t)(colon - spec));
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sip-uac: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

enum { OPT_T1 = 256, OPT_TIMEOUT, OPT_TRACE, OPT_DNS, OPT_CA, OPT_CERT, OPT_KEY };

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"calls", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"hold", required_argument, NULL, 'd'},
        {"max-concurrent", required_argument, NULL, 'm'},
        {"transport", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"t1", required_argument, NULL, OPT_T1},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"dns-server", required_argument, NULL, OPT_DNS},
        {"tls-ca", required_argument, NULL, OPT_CA},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uac_t uac;
    memset(&uac, 0, sizeof(uac));
    uac_t *u = &uac;
    uint64_t calls = 1, hold = 0, maxc = 0, t1 = 500, timeout = 0;
    double rate = 10;
    const char *listen = NULL, *transport = NULL, *dns = NULL;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    int trace = 0, c;
    while ((c = getopt_long(argc, argv, "n:r:d:m:t:l:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_uint(optarg, 1, MAX_CALLS, &calls))
                return usage_error("--calls wants a whole number from 1 up, not '%s'", optarg);
            break;
        case 'r':
            if (parse_rate(optarg, &rate))
                return usage_error("--rate wants a positive number, not '%s'", optarg);
            break;
        case 'd':
            if (parse_uint(optarg, 0, 86400000, &hold))
                return usage_error("--hold wants milliseconds (0 or more), not '%s'", optarg);
            break;
        case 'm':
            if (parse_uint(optarg, 1, MAX_CALLS, &maxc))
                return usage_error("--max-concurrent wants a whole number from 1 up, not '%s'",
                                   optarg);
            break;
        case 't': transport = optarg; break;
        case 'l': listen = optarg; break;
        case OPT_T1:
            if (parse_uint(optarg, 1, 60000, &t1))
                return usage_error("--t1 wants milliseconds from 1 to 60000, not '%s'", optarg);
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 864000, &timeout))
                return usage_error("--timeout wants seconds from 1 up, not '%s'", optarg);
            break;
        case OPT_TRACE: trace = 1; break;
        case OPT_DNS: dns = optarg; break;
        case OPT_CA: tls_ca = optarg; break;
        case OPT_CERT: tls_cert = optarg; break;
        case OPT_KEY: tls_key = optarg; break;
        case 'v': u->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind == argc) return usage_error("%s", "no target URI");
    if (optind + 1 != argc) return usage_error("one target URI, not also '%s'", argv[optind + 1]);
    const char *target = argv[optind];
    sip_uri_t uri;
    if (strlen(target) > 512 || sip_uri_parse(&uri, target, strlen(target)) != 0 ||
        (uri.scheme != SIP_URI_SIP && uri.scheme != SIP_URI_SIPS) || uri.host.len == 0 ||
        uri.headers.len != 0)
        return usage_error("'%s' is not a sip: or sips: URI for a Request-URI", target);
    int sips = uri.scheme == SIP_URI_SIPS;
    if (!tls_cert != !tls_key) return usage_error("%s", "--tls-cert and --tls-key go together");

    /* The transports RFC 3263 may pick from (§4.1): the flag, else the URI's transport
     * parameter, else any this program speaks as a client (TLS only for sips). */
    unsigned allowed =
        (1u << SIP_TRANSPORT_UDP) | (1u << SIP_TRANSPORT_TCP) | (1u << SIP_TRANSPORT_TLS);
    if (sips) allowed = 1u << SIP_TRANSPORT_TLS;
    sip_transport_type_t want = SIP_TRANSPORT_NONE;
    if (uri.transport.len) {
        want = sip_transport_from_name(uri.transport.ptr, uri.transport.len);
        /* RFC 3261 §26.2.2: sips over TCP or WS means over TLS or WSS. */
        if (sips && want == SIP_TRANSPORT_TCP) want = SIP_TRANSPORT_TLS;
        if (sips && want == SIP_TRANSPORT_WS) want = SIP_TRANSPORT_WSS;
        if (want == SIP_TRANSPORT_NONE || (sips && !sip_transport_is_secure(want)))
            return usage_error("the target's transport is not one of udp, tcp, tls, ws, wss "
                               "(secure for sips): '%s'",
                               target);
    }
    if (transport) {
        sip_transport_type_t t = sip_transport_from_name(transport, strlen(transport));
        if (t == SIP_TRANSPORT_NONE)
            return usage_error("--transport is udp, tcp, tls, ws or wss, not '%s'", transport);
        if (sips && !sip_transport_is_secure(t))
            return usage_error("a sips: target goes over tls or wss, not '%s'", transport);
        if (want && want != t)
            return usage_error("--transport '%s' differs from the target's transport parameter",
                               transport);
        want = t;
    }
    if (listen && spec_transport(listen) == SIP_TRANSPORT_NONE)
        return usage_error("--listen '%s' is not TRANSPORT:IP:PORT", listen);
    if (!want && listen) want = spec_transport(listen);
    if (want) allowed = 1u << want;

    u->ncalls = (uint32_t)calls;
    u->rate = rate;
    u->hold_ms = hold;
    u->linger_ms = t1;
    u->max_concurrent = (uint32_t)maxc;
    u->target = target;
    if (!timeout)
        timeout = (uint64_t)((double)calls / rate) + 1 + (hold + 999) / 1000 +
                  (128 * t1 + 999) / 1000 + 5;
    if (getrandom(&u->secret, sizeof(u->secret), 0) != (ssize_t)sizeof(u->secret)) {
        fprintf(stderr, "sip-uac: no random source\n");
        return 1;
    }
    /* A peer that resets a connection must not kill the program. */
    signal(SIGPIPE, SIG_IGN);
    sip_loop_t *loop;
    if (sip_loop_create(&loop) != 0) return 1;
    u->loop = loop;
    u->uv = sip_loop_get_uv(loop);
    if (trace) {
        sip_loop_set_log(loop, SIP_LOG_INFO, log_to_stderr, NULL, NULL);
        sip_loop_set_trace(loop, 1);
    }

    /* RFC 3263 through libsip's resolver: the first target decides the transport and the local
     * address; every INVITE is located again by its transaction, which fails over (§4.3). */
    sip_resolver_opts_t ropts;
    sip_resolver_opts_init(&ropts);
    ropts.servers = dns;
    ropts.transports = allowed;
    int rc = sip_resolver_create(&u->resolver, loop, &ropts);
    if (rc) {
        sip_loop_unref(loop);
        return usage_error("--dns-server wants HOST:PORT (IPv6 in brackets), not '%s'",
                           dns ? dns : "");
    }
    rc = locate_first(loop, u->resolver, &uri, &u->dst);
    if (rc) {
        fprintf(stderr, "sip-uac: cannot resolve %s: %s\n", target, sip_strerror(rc));
        sip_resolver_unref(u->resolver);
        sip_loop_unref(loop);
        return 1;
    }
    sip_transport_type_t tt = u->dst.transport;
    u->transport = tt;
    int v6 = strchr(u->dst.remote_ip, ':') != NULL;
    if (listen && spec_transport(listen) != tt) {
        sip_resolver_unref(u->resolver);
        sip_loop_unref(loop);
        return usage_error("--listen '%s' must be of the transport the target is reached over",
                           listen);
    }

    char src[INET6_ADDRSTRLEN], spec[128];
    source_address(&u->dst, v6, src, sizeof(src));
    /* A client of a stream transport needs no listening point: its connections carry the
     * responses back (RFC 3261 §18.2.2). UDP and TCP listen as before (requests from the peer
     * can arrive); TLS only with a certificate to serve; WS and WSS never. */
    int need_listener =
        tt == SIP_TRANSPORT_UDP || tt == SIP_TRANSPORT_TCP || (tt == SIP_TRANSPORT_TLS && tls_cert);
    if (!listen && need_listener) {
        snprintf(spec, sizeof(spec), v6 ? "%s:[%s]:0" : "%s:%s:0", sip_transport_param(tt), src);
        listen = spec;
    }
    sip_transport_opts_t topts;
    sip_transport_opts_init(&topts);
    topts.tls_ca_file = tls_ca;
    topts.tls_cert_file = tls_cert;
    topts.tls_key_file = tls_key;
    /* A wildcard listener writes the routable address in its Via and Contact instead. */
    int wildcard = listen && (strstr(listen, ":0.0.0.0:") || strstr(listen, ":[::]:"));
    if (wildcard) topts.via_host = src;
    rc = sip_transport_create(&u->tp, loop, &topts);
    if (rc) {
        fprintf(stderr, "sip-uac: %s\n", sip_strerror(rc));
        sip_resolver_unref(u->resolver);
        sip_loop_unref(loop);
        return 1;
    }
    sip_transport_set_resolver(u->tp, u->resolver);
    sip_netinfo_t ni = {0};
    if (listen) {
        rc = sip_transport_listen(u->tp, listen);
        if (rc < 0 || sip_transport_listener_info(u->tp, (size_t)rc, &ni) != 0) {
            fprintf(stderr, "sip-uac: cannot listen on %s: %s\n", listen,
                    sip_strerror(rc < 0 ? rc : SIP_ENOENT));
            sip_transport_unref(u->tp);
            sip_resolver_unref(u->resolver);
            sip_loop_unref(loop);
            return 1;
        }
    }
    snprintf(u->local_ip, sizeof(u->local_ip), "%s", listen && !wildcard ? ni.local_ip : src);
    u->ipv6 = strchr(u->local_ip, ':') != NULL;
    snprintf(u->local_host, sizeof(u->local_host), u->ipv6 ? "[%.47s]" : "%.47s", u->local_ip);
    char port[8] = "";
    if (listen) snprintf(port, sizeof(port), ":%u", (unsigned)ni.local_port);
    snprintf(u->contact, sizeof(u->contact), "<sip:uac@%.63s%s%s%s>", u->local_host, port,
             tt == SIP_TRANSPORT_UDP ? "" : ";transport=",
             tt == SIP_TRANSPORT_UDP ? "" : sip_transport_param(tt));

    sip_txn_opts_t xopts;
    sip_txn_opts_init(&xopts);
    xopts.t1_ms = (uint32_t)t1;
    if (xopts.t2_ms < t1) xopts.t2_ms = (uint32_t)t1;
    rc = sip_txn_layer_create(&u->layer, u->tp, &xopts);
    u->slots = calloc(calls, sizeof(*u->slots));
    if (rc || !u->slots) {
        fprintf(stderr, "sip-uac: %s\n", sip_strerror(rc ? rc : SIP_ENOMEM));
        free(u->slots);
        sip_txn_layer_unref(u->layer);
        sip_transport_unref(u->tp);
        sip_resolver_unref(u->resolver);
        sip_loop_unref(loop);
        return 1;
    }
    for (uint64_t i = 0; i < calls; i++)
        u->slots[i].u = u;
    sip_txn_layer_set_stray_handler(u->layer, on_stray, u, NULL);
    sip_txn_layer_set_request_handler(u->layer, on_request, u, NULL);

    uv_timer_init(u->uv, &u->pacer);
    uv_timer_init(u->uv, &u->holder);
    uv_timer_init(u->uv, &u->deadline);
    uv_signal_init(u->uv, &u->sigint);
    uv_signal_init(u->uv, &u->sigterm);
    u->pacer.data = u->holder.data = u->deadline.data = u;
    u->sigint.data = u->sigterm.data = u;
    uv_signal_start(&u->sigint, on_signal, SIGINT);
    uv_signal_start(&u->sigterm, on_signal, SIGTERM);
    uv_timer_start(&u->deadline, on_deadline, timeout * 1000, 0);
    /* Ticks at twice the call interval (1 ms at most often), spending the accrued credit. */
    double period = 500.0 / rate;
    uint64_t tick = period < 1 ? 1 : period > 1000 ? 1000 : (uint64_t)period;
    u->credit = 1.0;
    u->last_ns = uv_hrtime();
    uv_timer_start(&u->pacer, on_pace, 0, tick);

    sip_loop_run(loop);

    printf("calls: %" PRIu32 " completed, %" PRIu32 " failed\n", u->completed, u->failed);
    fflush(stdout);
    int status = u->failed || u->completed != u->ncalls ? 1 : 0;
    /* No callback after the layer closes; then the calls it pointed at can go. */
    sip_txn_layer_close(u->layer);
    for (uint32_t i = 0; i < u->ncalls; i++)
        if (u->slots[i].c) call_free(u, u->slots[i].c);
    free(u->slots);
    uv_close((uv_handle_t *)&u->pacer, NULL);
    uv_close((uv_handle_t *)&u->holder, NULL);
    uv_close((uv_handle_t *)&u->deadline, NULL);
    uv_close((uv_handle_t *)&u->sigint, NULL);
    uv_close((uv_handle_t *)&u->sigterm, NULL);
    sip_txn_layer_unref(u->layer);
    sip_transport_unref(u->tp);
    sip_resolver_unref(u->resolver);
    sip_loop_unref(loop);
    return status;
}
