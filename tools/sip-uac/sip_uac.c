/* SPDX-License-Identifier: MIT */
/* sip-uac: places calls at a steady rate on libsip's UA layer (sip/ua.h, sip/call.h: the core
 * builds the INVITE, sends the ACK of every copy of the 2xx, CANCEL and BYE) and counts how many
 * completed (a load generator and interop peer, like SIPp's uac scenario). Once a call is up it
 * can exercise the call's requests: re-INVITE (hold, resume), UPDATE, INFO. Targets are located
 * with RFC 3263 through libsip's resolver, over UDP, TCP, TLS, WS or WSS. */
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
#include <sys/socket.h>
#include <unistd.h>

#include <sip/sip.h>
#include <uv.h>

#define MAX_CALLS 10000000u
#define MAX_RATE 100000.0
#define MAX_SESSION_TIMER 86400u
#define ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
/* RFC 6086 §9, the DTMF relay body SIP INFO has carried since before Info-Package. */
#define DTMF_TYPE "application/dtmf-relay"
#define DTMF_BODY "Signal=5\r\nDuration=160\r\n"

/* Where a call is; a call that ended is freed and its slot cleared. */
typedef enum call_state {
    CALL_INVITING = 0, /* INVITE sent, no 2xx yet */
    CALL_STEPS,        /* confirmed; a re-INVITE, UPDATE or INFO of ours is out */
    CALL_HOLDING,      /* confirmed; waiting --hold before the BYE */
    CALL_BYEING,       /* BYE sent; its final response is awaited */
} call_state_t;

/* What a call does once it is up, in this order, each after the previous one's final response. */
enum { STEP_HOLD = 1, STEP_RESUME = 2, STEP_UPDATE = 4, STEP_INFO = 8 };

struct uac;

typedef struct call {
    uint32_t idx;
    uint8_t state;
    uint8_t steps_done;       /* the STEP_ bits already done */
    uint8_t step;             /* the step out, 0 when none */
    uint8_t sdp_version;      /* o= version of our last offer (RFC 3264 §8) */
    uint8_t ending;           /* this side is ending it: its state events are not news */
    uint8_t bye_challenged;   /* the BYE got a 401/407 the UA answers with --user */
    sip_call_t *call;         /* our reference until the call ends */
    char *call_id;            /* for the BYE's response */
    uint64_t due;             /* the BYE (holding) or giving up on its response (byeing) */
    struct queue *inq;        /* the queue it waits in, or NULL */
    struct call *prev, *next; /* its place there */
    struct call *hnext;       /* the Call-ID table, while byeing */
} call_t;

/* A call's place; calls and transactions carry a pointer to it, which stays valid after the
 * call ended (then c is NULL) for as long as the program runs. */
typedef struct slot {
    struct uac *u;
    call_t *c;
} slot_t;

/* Calls in deadline order under one timer: every call waits the same time in a queue. */
typedef struct queue {
    call_t *head, *tail;
    uv_timer_t timer;
    struct uac *u;
    void (*expire)(struct uac *u, call_t *c);
} queue_t;

typedef struct uac {
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    sip_transport_type_t transport;
    sip_resolver_t *resolver;
    sip_netinfo_t dst;   /* the first target RFC 3263 gave */
    int dst_fixed;       /* the target is an address: every INVITE goes to dst */
    const char *target;  /* Request-URI and To */
    char local_host[64]; /* for URIs: IPv6 in brackets */
    char local_ip[48];
    int ipv6;
    char from[128];
    uint32_t ncalls, started, completed, failed, in_flight, max_concurrent;
    double rate, credit;
    uint64_t last_ns;
    uint64_t hold_ms, bye_wait_ms;
    uint64_t linger_ms;
    unsigned steps;         /* the STEP_ bits of --reinvite, --update, --info */
    int prack;              /* --prack */
    uint32_t session_timer; /* --session-timer, seconds; 0: off */
    int verbose;
    int gave_up;
    struct slot *slots; /* by index */
    call_t **bye_table; /* calls whose BYE is out, by Call-ID */
    size_t bye_buckets;
    queue_t holdq, byeq;
    uv_timer_t pacer, deadline;
    uv_signal_t sigint, sigterm;
    /* --user, --password, --password-file, --message */
    int auth;            /* credentials given: challenges are answered (RFC 3261 §22.2) */
    const char *message; /* --message: one MESSAGE instead of calls */
    int msg_status;      /* its final status, 0 while none */
    int failure_shown;   /* the first failure went to stderr */
    /* --register, --expires, --contact, --unregister */
    const char *reg_aor; /* --register: one registration instead of calls */
    const char *reg_contact;
    uint32_t reg_expires;
    int reg_unregister;
    int reg_status; /* 0 while running, 1 on success, 2 on failure */
    /* --subscribe */
    const char *subscribe; /* --subscribe: the event package; wait for the first NOTIFY */
    sip_sub_t *sub;
    int sub_notified; /* the first NOTIFY came */
    int sub_over;     /* the subscription ended */
} uac_t;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void *slot_of(uac_t *u, const call_t *c)
{
    return &u->slots[c->idx];
}

/* ---- queues --------------------------------------------------------------------------------- */

static void q_remove(queue_t *q, call_t *c)
{
    if (c->inq != q) return;
    c->inq = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        q->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->tail = c->prev;
    c->prev = c->next = NULL;
}

static void on_queue(uv_timer_t *t)
{
    queue_t *q = t->data;
    uint64_t now = uv_now(q->u->uv);
    while (q->head && q->head->due <= now) {
        call_t *c = q->head;
        q_remove(q, c);
        q->expire(q->u, c);
    }
    if (q->head)
        uv_timer_start(&q->timer, on_queue, q->head->due > now ? q->head->due - now : 0, 0);
}

static void q_push(uac_t *u, queue_t *q, call_t *c, uint64_t wait_ms)
{
    c->due = uv_now(u->uv) + wait_ms;
    c->inq = q;
    c->next = NULL;
    c->prev = q->tail;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    if (q->head == c) uv_timer_start(&q->timer, on_queue, wait_ms, 0);
}

/* ---- the Call-ID table of the BYEs out ----------------------------------------------------------
 */

static call_t **bye_slot(uac_t *u, sip_str_t cid)
{
    return &u->bye_table[fnv1a(cid.ptr, cid.len) & (u->bye_buckets - 1)];
}

static void bye_table_remove(uac_t *u, call_t *c)
{
    if (c->state != CALL_BYEING || !c->call_id) return;
    for (call_t **p = bye_slot(u, sip_str_from_cstr(c->call_id)); *p; p = &(*p)->hnext) {
        if (*p == c) {
            *p = c->hnext;
            break;
        }
    }
    c->hnext = NULL;
}

static call_t *bye_table_find(uac_t *u, sip_str_t cid)
{
    for (call_t *c = *bye_slot(u, cid); c; c = c->hnext)
        if (sip_str_eq(cid, sip_str_from_cstr(c->call_id))) return c;
    return NULL;
}

/* ---- ending calls ------------------------------------------------------------------------- */

static void call_free(uac_t *u, call_t *c)
{
    q_remove(&u->holdq, c);
    q_remove(&u->byeq, c);
    bye_table_remove(u, c);
    u->slots[c->idx].c = NULL;
    sip_call_t *call = c->call;
    free(c->call_id);
    free(c);
    /* The last reference of a call still up hangs it up (a BYE, or CANCEL). */
    sip_call_unref(call);
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
    } else if (!ok && !u->failure_shown && fmt) {
        /* Without -v the first failure still says why (403, 404, a timeout...). */
        char why[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        fprintf(stderr, "sip-uac: call %" PRIu32 " failed: %s\n", c->idx, why);
        u->failure_shown = 1;
    }
    u->in_flight--;
    call_free(u, c);
    check_done(u);
}

/* A call that failed once it was up: BYE (the call's hangup), then it is counted failed. */
static void fail_up(uac_t *u, call_t *c, const char *what, int status, const sip_msg_t *rsp)
{
    sip_str_t r = rsp ? sip_msg_get_reason(rsp)
                      : sip_str_from_cstr(status == 408   ? "(timeout)"
                                          : status == 503 ? "(transport error)"
                                                          : "(not sent)");
    c->ending = 1; /* the state event of the hangup is ours */
    if (sip_call_get_state(c->call) != SIP_CALL_ENDED) sip_call_hangup(c->call, NULL);
    end_call(u, c, 0, "%s %d %.*s", what, status, (int)r.len, r.ptr);
}

/* ---- the call once it is up: re-INVITE, UPDATE, INFO, then BYE ---------------------------- */

/* RFC 3264 §5: an offer of one audio stream. No media flows; the port only has to be a valid
 * even RTP port (RFC 3550 §11). version is the o= version (§8: one more for each new offer);
 * dir "sendonly" puts the callee on hold (§8.4). */
static char *make_sdp(const uac_t *u, uint32_t idx, unsigned version, const char *dir)
{
    const char *ipv = u->ipv6 ? "IP6" : "IP4";
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "v=0\r\n"
                     "o=sip-uac %" PRIu32 " %u IN %s %s\r\n"
                     "s=-\r\n"
                     "c=IN %s %s\r\n"
                     "t=0 0\r\n"
                     "m=audio %u RTP/AVP 0 8 101\r\n"
                     "a=rtpmap:0 PCMU/8000\r\n"
                     "a=rtpmap:8 PCMA/8000\r\n"
                     "a=rtpmap:101 telephone-event/8000\r\n"
                     "a=%s\r\n",
                     idx, version, ipv, u->local_ip, ipv, u->local_ip, 10000u + 2u * (idx % 20000u),
                     dir);
    return n > 0 && (size_t)n < sizeof(buf) ? strdup(buf) : NULL;
}

static void send_bye(uac_t *u, call_t *c);
static void next_step(uac_t *u, call_t *c);

static const char *step_name(unsigned step)
{
    switch (step) {
    case STEP_HOLD: return "re-INVITE (hold)";
    case STEP_RESUME: return "re-INVITE (resume)";
    case STEP_UPDATE: return "UPDATE";
    default: return "INFO";
    }
}

static void step_done(uac_t *u, call_t *c, int status, const sip_msg_t *rsp)
{
    unsigned step = c->step;
    c->step = 0;
    if (status < 200 || status >= 300) {
        fail_up(u, c, step_name(step), status, rsp);
        return;
    }
    if (u->verbose) {
        printf("call %" PRIu32 ": %s %d\n", c->idx, step_name(step), status);
        fflush(stdout);
    }
    c->steps_done |= (uint8_t)step;
    next_step(u, c);
}

static void on_info_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    slot_t *s = user;
    call_t *c = s->c;
    if (!c || c->step != STEP_INFO || status < 200) return;
    step_done(s->u, c, status, rsp);
}

/* The offers: a re-INVITE puts the callee on hold, the next resumes (RFC 3264 §8.4); an UPDATE
 * (RFC 3311) offers the session again. Each o= version is one more. */
static int start_step(uac_t *u, call_t *c, unsigned step)
{
    c->step = (uint8_t)step;
    if (step == STEP_INFO)
        return sip_call_request(c->call, "INFO", DTMF_TYPE, DTMF_BODY, on_info_response,
                                slot_of(u, c), NULL);
    char *sdp =
        make_sdp(u, c->idx, c->sdp_version + 1u, step == STEP_HOLD ? "sendonly" : "sendrecv");
    if (!sdp) return SIP_ENOMEM;
    int rc = step == STEP_UPDATE ? sip_call_update(c->call, sdp) : sip_call_reinvite(c->call, sdp);
    free(sdp);
    if (rc == 0) c->sdp_version++;
    return rc;
}

static void next_step(uac_t *u, call_t *c)
{
    static const unsigned order[] = {STEP_HOLD, STEP_RESUME, STEP_UPDATE, STEP_INFO};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        unsigned s = order[i];
        if (!(u->steps & s) || (c->steps_done & s)) continue;
        c->state = CALL_STEPS;
        int rc = start_step(u, c, s);
        if (rc) {
            c->step = 0;
            if (u->verbose) {
                printf("call %" PRIu32 ": %s not sent: %s\n", c->idx, step_name(s),
                       sip_strerror(rc));
                fflush(stdout);
            }
            fail_up(u, c, step_name(s), 0, NULL);
        }
        return;
    }
    if (u->hold_ms == 0) {
        send_bye(u, c);
    } else {
        c->state = CALL_HOLDING;
        q_push(u, &u->holdq, c, u->hold_ms);
    }
}

/* The call hangs up with a BYE (RFC 3261 §15.1.1); the call completed when the BYE gets a 2xx,
 * which the tap sees (the core sends the BYE on its own and reports no outcome). */
static void send_bye(uac_t *u, call_t *c)
{
    /* The dialog's: the INVITE is gone once its transaction is over. */
    sip_dialog_t *d = sip_call_get_dialog(c->call);
    sip_str_t cid = d ? sip_dialog_get_call_id(d) : SIP_STR_NULL;
    c->call_id = cid.len ? strndup(cid.ptr, cid.len) : NULL;
    if (!c->call_id) {
        fail_up(u, c, "BYE", 0, NULL);
        return;
    }
    c->ending = 1;
    int rc = sip_call_hangup(c->call, NULL);
    if (rc) {
        end_call(u, c, 0, "BYE not sent: %s", sip_strerror(rc));
        return;
    }
    c->state = CALL_BYEING;
    call_t **slot = bye_slot(u, cid);
    c->hnext = *slot;
    *slot = c;
    q_push(u, &u->byeq, c, u->bye_wait_ms);
}

static void on_hold_expired(uac_t *u, call_t *c)
{
    send_bye(u, c);
}

/* Timer F of the BYE passed with no final response seen. */
static void on_bye_expired(uac_t *u, call_t *c)
{
    end_call(u, c, 0, "BYE 408 (timeout)");
}

/* First in the transport's handler chain, taking nothing: the final response to a BYE of ours
 * ends its call. */
static int on_message(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    uac_t *u = user;
    if (sip_msg_is_request(msg) || !u->bye_table) return 0;
    const sip_cseq_t *cs = sip_msg_get_cseq(msg);
    int st = sip_msg_get_status(msg);
    if (!cs || cs->method != SIP_METHOD_BYE || st < 200) return 0;
    call_t *c = bye_table_find(u, sip_msg_get_call_id(msg));
    if (!c) return 0;
    if ((st == 401 || st == 407) && u->auth && !c->bye_challenged) {
        /* The UA sends the BYE again with credentials: its answer decides. */
        c->bye_challenged = 1;
        return 0;
    }
    if (st < 300) {
        end_call(u, c, 1, NULL);
    } else {
        sip_str_t r = sip_msg_get_reason(msg);
        end_call(u, c, 0, "BYE %d %.*s", st, (int)r.len, r.ptr);
    }
    return 0;
}

/* ---- the call's events -------------------------------------------------------------------- */

static void on_call_event(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                          void *user)
{
    (void)txn;
    slot_t *s = user;
    uac_t *u = s->u;
    call_t *c = s->c;
    if (!c || c->call != call || c->ending) return;
    switch (ev) {
    case SIP_CALL_EVENT_STATE: {
        sip_call_state_t st = sip_call_get_state(call);
        if (st == SIP_CALL_CONFIRMED && c->state == CALL_INVITING) {
            /* The 2xx came and the core sent its ACK (RFC 3261 §13.2.2.4). */
            next_step(u, c);
        } else if (st == SIP_CALL_ENDED) {
            int status = sip_call_get_end_status(call);
            if (c->state != CALL_INVITING && status == 200 && !sip_call_ended_locally(call)) {
                /* RFC 3261 §15.1.2: the callee ended the session. */
                end_call(u, c, 1, "BYE from the peer");
            } else if (c->state == CALL_INVITING) {
                sip_str_t r =
                    msg && !sip_msg_is_request(msg) ? sip_msg_get_reason(msg) : SIP_STR_NULL;
                if (r.len)
                    end_call(u, c, 0, "INVITE %d %.*s", status, (int)r.len, r.ptr);
                else
                    end_call(u, c, 0, "INVITE %d (%s)", status,
                             status == 408   ? "timeout"
                             : status == 503 ? "transport error"
                                             : "ended");
            } else {
                end_call(u, c, 0, "ended with %d", status);
            }
        }
        break;
    }
    case SIP_CALL_EVENT_MODIFIED:
        if (c->step == STEP_HOLD || c->step == STEP_RESUME || c->step == STEP_UPDATE) {
            step_done(u, c, msg ? sip_msg_get_status(msg) : 0, msg);
        } else if (u->verbose && msg) {
            /* A session refresh the call sent itself (RFC 4028 §10). */
            sip_str_t m = sip_msg_get_cseq(msg) ? sip_msg_get_cseq(msg)->method_str : SIP_STR_NULL;
            printf("call %" PRIu32 ": session refresh (%.*s) %d\n", c->idx, (int)m.len, m.ptr,
                   sip_msg_get_status(msg));
            fflush(stdout);
        }
        break;
    case SIP_CALL_EVENT_RESPONSE:
        /* A reliable provisional (RFC 3262 §4): the core sends its PRACK. */
        if (u->verbose && msg && sip_msg_get_status(msg) < 200 &&
            sip_msg_header_by_name(msg, "RSeq", 0)) {
            sip_str_t r = sip_header_get_value(sip_msg_header_by_name(msg, "RSeq", 0));
            printf("call %" PRIu32 ": %d reliable (RSeq %.*s), PRACK sent\n", c->idx,
                   sip_msg_get_status(msg), (int)r.len, r.ptr);
            fflush(stdout);
        }
        break;
    default: break;
    }
}

/* Requests outside any call: RFC 3261 §15.1.2 and §12.2.2, 481 for a BYE; OPTIONS 200; else
 * 501. */
static void on_ua_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)ua;
    (void)user;
    switch (sip_msg_get_method(req)) {
    case SIP_METHOD_BYE: sip_txn_respond(txn, 481, NULL); break;
    case SIP_METHOD_OPTIONS: sip_txn_respond(txn, 200, NULL); break;
    default: sip_txn_respond(txn, 501, NULL); break;
    }
}

/* ---- starting calls ----------------------------------------------------------------------- */

static void start_call(uac_t *u)
{
    uint32_t idx = u->started++;
    call_t *c = calloc(1, sizeof(*c));
    char *sdp = c ? make_sdp(u, idx, 1, "sendrecv") : NULL;
    if (!sdp) {
        free(c);
        u->failed++;
        check_done(u);
        return;
    }
    c->idx = idx;
    c->sdp_version = 1;
    u->slots[idx].c = c;
    u->in_flight++;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.from = u->from;
    o.sdp = sdp;
    /* An address: the first target. A name: NULL, and the INVITE's transaction locates it
     * (RFC 3263) with the transport's resolver, moving on when a target fails (§4.3). */
    o.dst = u->dst_fixed ? &u->dst : NULL;
    /* Off unless asked for: the default call offers 100rel and session timers. --prack
     * Requires 100rel (RFC 3262 §4); --session-timer asks for Session-Expires and refreshes when
     * the 2xx makes this side the refresher (RFC 4028 §7). */
    o.rel100 = u->prack ? SIP_CALL_100REL_REQUIRED : SIP_CALL_100REL_OFF;
    o.session_timer = u->session_timer ? SIP_CALL_TIMER_SUPPORTED : SIP_CALL_TIMER_OFF;
    o.session_expires = u->session_timer;
    int rc = sip_call_invite(&c->call, u->ua, u->target, &o, on_call_event, slot_of(u, c), NULL);
    free(sdp);
    if (rc) end_call(u, c, 0, "INVITE not sent: %s", sip_strerror(rc));
}
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
    uv_timer_stop(&u->holdq.timer);
    uv_timer_stop(&u->byeq.timer);
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

/* ---- --message: one MESSAGE (RFC 3428) ---------------------------------------------------- */

static void on_message_response(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user)
{
    (void)ua;
    (void)req;
    uac_t *u = user;
    int st = sip_msg_get_status(rsp);
    if (st < 200 || u->msg_status) return;
    u->msg_status = st;
    sip_str_t r = sip_msg_get_reason(rsp);
    if (st < 300) {
        printf("MESSAGE: %d %.*s\n", st, (int)r.len, r.ptr);
    } else {
        /* 401/407 here: no credentials, or ones the server refused. */
        const char *why = st == 408                ? " (timeout)"
                          : st == 401 || st == 407 ? (u->auth ? " (credentials refused)"
                                                              : " (credentials needed: --user)")
                                                   : "";
        printf("MESSAGE: %d %.*s\n", st, (int)r.len, r.ptr);
        fprintf(stderr, "sip-uac: MESSAGE to %s failed: %d %.*s%s\n", u->target, st, (int)r.len,
                r.ptr, why);
    }
    fflush(stdout);
    sip_loop_stop(u->loop);
}

static void on_message_deadline(uv_timer_t *t)
{
    uac_t *u = t->data;
    fprintf(stderr, "sip-uac: MESSAGE to %s failed: no final response (overall timeout)\n",
            u->target);
    sip_loop_stop(u->loop);
}

/* Sends the MESSAGE and runs until its final response: 0 for a 2xx, else 1. */
static int send_message(uac_t *u)
{
    sip_msg_t *m = NULL;
    int rc = sip_ua_create_request(&m, u->ua, "MESSAGE", u->target, u->from);
    if (!rc) rc = sip_msg_set_body(m, "text/plain", u->message, strlen(u->message));
    if (!rc)
        rc = sip_ua_send_request(u->ua, m, u->dst_fixed ? &u->dst : NULL, on_message_response, u,
                                 NULL);
    sip_msg_unref(m);
    if (rc) {
        fprintf(stderr, "sip-uac: MESSAGE not sent: %s\n", sip_strerror(rc));
        return 1;
    }
    sip_loop_run(u->loop);
    return u->msg_status >= 200 && u->msg_status < 300 ? 0 : 1;
}

/* ---- --register: one registration (RFC 3261 §10.2) ------------------------------------------ */

static void on_reg_event(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    uac_t *u = user;
    sip_str_t r = msg ? sip_msg_get_reason(msg) : (sip_str_t){"", 0};
    if (ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) {
        printf("REGISTER: %d %.*s, expires %u\n", status, (int)r.len, r.ptr,
               (unsigned)sip_reg_get_expires(reg));
        fflush(stdout);
        if (u->reg_unregister) {
            /* --unregister: the binding goes again (with --contact '*', every binding). */
            int rc = sip_reg_unregister(
                reg, u->reg_contact && strcmp(u->reg_contact, "*") == 0 ? "*" : NULL);
            if (rc) {
                fprintf(stderr, "sip-uac: cannot unregister: %s\n", sip_strerror(rc));
                u->reg_status = 2;
                sip_loop_stop(u->loop);
            }
            return;
        }
        u->reg_status = 1;
        sip_loop_stop(u->loop);
    } else if (ev == SIP_REG_EVENT_UNREGISTERED) {
        printf("UNREGISTER: %d %.*s\n", status, (int)r.len, r.ptr);
        fflush(stdout);
        u->reg_status = 1;
        sip_loop_stop(u->loop);
    } else if (ev == SIP_REG_EVENT_FAILED) {
        const char *why =
            status == 408   ? " (timeout)"
            : status == 503 ? " (unavailable or unreachable)"
            : status == 401 || status == 407
                ? (u->auth ? " (credentials refused)" : " (credentials needed: --user)")
                : "";
        printf("REGISTER: %d %.*s\n", status, (int)r.len, r.ptr);
        fprintf(stderr, "sip-uac: REGISTER of %s failed: %d %.*s%s\n", u->reg_aor, status,
                (int)r.len, r.ptr, why);
        fflush(stdout);
        u->reg_status = 2;
        sip_loop_stop(u->loop);
    }
}

/* ---- --subscribe: one SUBSCRIBE until the first NOTIFY (RFC 6665) ------------------------ */

static void on_sub_event(sip_sub_t *sub, sip_sub_event_t ev, sip_msg_t *msg, void *user)
{
    uac_t *u = user;
    if (ev == SIP_SUB_EVENT_NOTIFY && !u->sub_notified) {
        u->sub_notified = 1;
        const sip_header_t *ss = sip_msg_header_at(msg, SIP_HDR_SUBSCRIPTION_STATE, 0);
        const sip_header_t *ct = sip_msg_header_at(msg, SIP_HDR_CONTENT_TYPE, 0);
        sip_str_t v = sip_header_get_value(ss), t = sip_header_get_value(ct);
        sip_str_t body = sip_msg_get_body(msg);
        printf("NOTIFY: %.*s\n", (int)v.len, v.ptr);
        if (t.len) printf("Content-Type: %.*s\n", (int)t.len, t.ptr);
        if (body.len)
            printf("\n%.*s%s", (int)body.len, body.ptr, body.ptr[body.len - 1] == '\n' ? "" : "\n");
        fflush(stdout);
        /* Done: unsubscribe (RFC 6665 §4.1.2.3), politely, and stop once it is over. */
        if (sip_sub_get_state(sub) == SIP_SUB_TERMINATED || sip_sub_unsubscribe(sub) != 0)
            sip_loop_stop(u->loop);
    } else if (ev == SIP_SUB_EVENT_STATE && sip_sub_get_state(sub) == SIP_SUB_TERMINATED) {
        u->sub_over = 1;
        if (!u->sub_notified) {
            int st = sip_sub_get_end_status(sub);
            const char *why = st == 408                ? " (no answer or no NOTIFY: timeout)"
                              : st == 489              ? " (the event package is not served)"
                              : st == 401 || st == 407 ? (u->auth ? " (credentials refused)"
                                                                  : " (credentials needed: --user)")
                                                       : "";
            fprintf(stderr, "sip-uac: SUBSCRIBE to %s (%s) failed: %d %s%s\n", u->target,
                    u->subscribe, st, sip_status_phrase(st), why);
        }
        sip_loop_stop(u->loop);
    }
}

static void on_register_deadline(uv_timer_t *t)
{
    uac_t *u = t->data;
    sip_loop_stop(u->loop);
}

/* Registers (and with --unregister removes the binding again) and runs until the registrar's
 * final answer: 0 when it accepted, else 1. */
static int send_register(uac_t *u)
{
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = u->target;
    if (u->reg_expires) o.expires = u->reg_expires;
    if (u->reg_contact && strcmp(u->reg_contact, "*") != 0) o.contacts = u->reg_contact;
    o.dst = u->dst_fixed ? &u->dst : NULL;
    /* One attempt: the program reports the first failure rather than retrying. */
    o.retry_initial = 0;
    sip_reg_t *reg = NULL;
    int rc = sip_reg_create(&reg, u->ua, u->reg_aor, &o, on_reg_event, u, NULL);
    if (rc) {
        fprintf(stderr, "sip-uac: REGISTER not sent: %s\n", sip_strerror(rc));
        return 1;
    }
    sip_loop_run(u->loop);
    if (!u->reg_status)
        fprintf(stderr, "sip-uac: REGISTER of %s failed: no final response (overall timeout)\n",
                u->reg_aor);
    sip_reg_close(reg);
    sip_reg_unref(reg);
    return u->reg_status == 1 ? 0 : 1;
}

static void on_sub_deadline(uv_timer_t *t)
{
    uac_t *u = t->data;
    if (!u->sub_notified)
        fprintf(stderr, "sip-uac: SUBSCRIBE to %s (%s) failed: no NOTIFY (overall timeout)\n",
                u->target, u->subscribe);
    sip_loop_stop(u->loop);
}

/* Subscribes and runs until the first NOTIFY (then unsubscribes): 0 when one came, else 1. */
static int subscribe_once(uac_t *u)
{
    sip_sub_opts_t o;
    sip_sub_opts_init(&o);
    o.event = u->subscribe;
    o.from = u->from;
    o.expires = 600;
    o.dst = u->dst_fixed ? &u->dst : NULL;
    int rc = sip_sub_subscribe(&u->sub, u->ua, u->target, &o, on_sub_event, u, NULL);
    if (rc) {
        fprintf(stderr, "sip-uac: SUBSCRIBE not sent: %s\n", sip_strerror(rc));
        return 1;
    }
    sip_loop_run(u->loop);
    sip_sub_close(u->sub);
    sip_sub_unref(u->sub);
    u->sub = NULL;
    return u->sub_notified ? 0 : 1;
}

/* ---- the command line --------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sip-uac [options] sip:USER@HOST[:PORT] | sips:USER@HOST[:PORT]\n"
            "\n"
            "Places calls to the target on libsip's UA layer: INVITE with an SDP offer, the\n"
            "core's ACK of the 2xx (again for each copy), then the requests asked for below\n"
            "(each after the previous one's final response), BYE after the hold time. A call\n"
            "completed when its BYE got a 2xx; anything else is a failure. On --timeout or a\n"
            "signal, calls not answered yet are CANCELled and calls up get a BYE.\n"
            "Prints one summary line, \"calls: N completed, M failed\".\n"
            "\n"
            "The target is located with RFC 3263 (NAPTR, SRV, A/AAAA) through libsip's\n"
            "resolver; each INVITE goes to the first target that answers, moving on when one\n"
            "is unreachable, silent or answers 503. TLS and WSS check the server's certificate\n"
            "against the target's domain name (or its address when the URI has one).\n"
            "\n"
            "  -n, --calls N           calls to place (default 1)\n"
            "  -r, --rate R            calls started per second, may have decimals (default 10)\n"
            "  -d, --hold MS           time between the ACK (or the last request below) and\n"
            "                          the BYE (default 0)\n"
            "      --reinvite          once up, put the callee on hold with a re-INVITE\n"
            "                          (a=sendonly), then resume it with another (a=sendrecv)\n"
            "                          (RFC 3261 14, RFC 3264 8.4); each must get a 2xx\n"
            "      --update            once up, send an UPDATE with a new offer (RFC 3311);\n"
            "                          it must get a 2xx\n"
            "      --info              once up, send an INFO with application/dtmf-relay\n"
            "                          (Signal=5, RFC 6086); it must get a 2xx\n"
            "      --prack             support and require 100rel (RFC 3262): reliable\n"
            "                          provisional responses are answered with PRACK; a callee\n"
            "                          without 100rel fails the call (420)\n"
            "      --session-timer S   ask for Session-Expires S seconds (RFC 4028, 90-86400)\n"
            "                          and refresh the session as negotiated (re-INVITE or\n"
            "                          UPDATE at half the interval when this side refreshes)\n"
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
            "      --user NAME         answer digest challenges (401, 407; RFC 3261 22.2) to\n"
            "                          every request sent (INVITE, BYE, re-INVITE, UPDATE,\n"
            "                          INFO, MESSAGE) as NAME, for any realm\n"
            "      --password P        the password of --user\n"
            "      --password-file F   read the password from the first line of F instead\n"
            "      --message TEXT      send one MESSAGE (RFC 3428, text/plain) to the target\n"
            "                          instead of calls; prints \"MESSAGE: STATUS REASON\" and\n"
            "                          exits 0 on a 2xx\n"
            "      --register AOR      register the address of record AOR (RFC 3261 10.2)\n"
            "                          instead of calls, at the target (the registrar; default\n"
            "                          the AOR's domain); prints \"REGISTER: STATUS REASON,\n"
            "                          expires GRANTED\" and exits 0 once the registrar accepted\n"
            "      --expires S         the expiry asked with --register (default 3600)\n"
            "      --contact URI       the Contact to bind (default this program's)\n"
            "      --unregister        then remove the binding (Expires 0; with --contact '*',\n"
            "                          every binding of the AOR); prints \"UNREGISTER: ...\"\n"
            "      --subscribe EVENT   subscribe to the target's EVENT package (RFC 6665:\n"
            "                          message-summary, dialog, presence...) instead of calls;\n"
            "                          prints the first NOTIFY (\"NOTIFY: SUBSCRIPTION-STATE\",\n"
            "                          its Content-Type and body), unsubscribes and exits 0;\n"
            "                          exits 1 on a failure (489, 404...) or no NOTIFY\n"
            "  -v, --verbose           print one line per call as it ends, and one per\n"
            "                          re-INVITE, UPDATE or INFO answered\n"
            "  -h, --help              this text\n"
            "\n"
            "Exit status: 0 when every call completed (--message, --register: on a 2xx;\n"
            "--subscribe: on a NOTIFY), 1 when any failed\n"
            "(the first failure is printed on stderr: 403, 404, a timeout, a challenge the\n"
            "credentials do not answer...) or on a runtime error (cannot listen, cannot resolve\n"
            "the target), 2 for a usage error.\n");
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

enum {
    OPT_T1 = 256,
    OPT_TIMEOUT,
    OPT_TRACE,
    OPT_DNS,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_REINVITE,
    OPT_UPDATE,
    OPT_INFO,
    OPT_PRACK,
    OPT_SESSION_TIMER,
    /* digest credentials and MESSAGE */
    OPT_USER,
    OPT_PASSWORD,
    OPT_PASSWORD_FILE,
    OPT_MESSAGE,
    OPT_REGISTER,
    OPT_EXPIRES,
    OPT_CONTACT,
    OPT_UNREGISTER,
    /* subscriptions */
    OPT_SUBSCRIBE,
};
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
        {"reinvite", no_argument, NULL, OPT_REINVITE},
        {"update", no_argument, NULL, OPT_UPDATE},
        {"info", no_argument, NULL, OPT_INFO},
        {"prack", no_argument, NULL, OPT_PRACK},
        {"session-timer", required_argument, NULL, OPT_SESSION_TIMER},
        {"user", required_argument, NULL, OPT_USER},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"register", required_argument, NULL, OPT_REGISTER},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"contact", required_argument, NULL, OPT_CONTACT},
        {"unregister", no_argument, NULL, OPT_UNREGISTER},
        {"subscribe", required_argument, NULL, OPT_SUBSCRIBE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uac_t uac;
    memset(&uac, 0, sizeof(uac));
    uac_t *u = &uac;
    uint64_t calls = 1, hold = 0, maxc = 0, t1 = 500, timeout = 0, session_timer = 0;
    double rate = 10;
    const char *listen = NULL, *transport = NULL, *dns = NULL;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    int trace = 0, c;
    const char *auth_user = NULL, *password = NULL, *password_file = NULL;
    char password_buf[256];
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
        case OPT_REINVITE: u->steps |= STEP_HOLD | STEP_RESUME; break;
        case OPT_UPDATE: u->steps |= STEP_UPDATE; break;
        case OPT_INFO: u->steps |= STEP_INFO; break;
        case OPT_PRACK: u->prack = 1; break;
        case OPT_SESSION_TIMER:
            /* RFC 4028 §4: Session-Expires is at least 90 s (the smallest Min-SE). */
            if (parse_uint(optarg, 90, MAX_SESSION_TIMER, &session_timer))
                return usage_error("--session-timer wants seconds from 90 to 86400, not '%s'",
                                   optarg);
            break;
        case OPT_USER: auth_user = optarg; break;
        case OPT_PASSWORD: password = optarg; break;
        case OPT_PASSWORD_FILE: password_file = optarg; break;
        case OPT_MESSAGE: u->message = optarg; break;
        case OPT_REGISTER: u->reg_aor = optarg; break;
        case OPT_EXPIRES: {
            uint64_t e;
            if (parse_uint(optarg, 1, 0xffffffffu, &e))
                return usage_error("--expires wants seconds from 1 up, not '%s'", optarg);
            u->reg_expires = (uint32_t)e;
            break;
        }
        case OPT_CONTACT: u->reg_contact = optarg; break;
        case OPT_UNREGISTER: u->reg_unregister = 1; break;
        case OPT_SUBSCRIBE: u->subscribe = optarg; break;
        case 'v': u->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* --register: the target is the registrar, by default the AOR's domain (§10.2). */
    char reg_target[600];
    if (u->reg_aor && optind == argc) {
        sip_uri_t a;
        if (sip_uri_parse(&a, u->reg_aor, strlen(u->reg_aor)) != 0 ||
            (a.scheme != SIP_URI_SIP && a.scheme != SIP_URI_SIPS) || !a.host.len)
            return usage_error("--register '%s' is not a sip: or sips: URI", u->reg_aor);
        char port[8] = "";
        if (a.port) snprintf(port, sizeof(port), ":%u", (unsigned)a.port);
        snprintf(reg_target, sizeof(reg_target), "%.*s:%.*s%s%s%.*s", (int)a.scheme_str.len,
                 a.scheme_str.ptr, (int)a.host.len, a.host.ptr, port, a.params.len ? ";" : "",
                 (int)a.params.len, a.params.ptr);
        argv[optind] = reg_target;
        argc = optind + 1;
    }
    if ((u->reg_expires || u->reg_contact || u->reg_unregister) && !u->reg_aor)
        return usage_error("%s", "--expires, --contact and --unregister go with --register");
    if (u->reg_aor && u->message) return usage_error("%s", "--register and --message: one of them");
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
    if (u->subscribe && (!*u->subscribe || strpbrk(u->subscribe, " ;,\r\n")))
        return usage_error("--subscribe wants an event package name, not '%s'", u->subscribe);
    if (u->subscribe && u->message) return usage_error("%s", "--subscribe or --message: one");
    u->session_timer = (uint32_t)session_timer;
    if (password && password_file)
        return usage_error("%s", "--password and --password-file: one of them");
    if ((password || password_file) && !auth_user)
        return usage_error("%s", "a password needs --user");
    if (auth_user && !*auth_user) return usage_error("%s", "--user wants a user name");
    if (password_file) {
        FILE *pf = fopen(password_file, "r");
        if (!pf || !fgets(password_buf, sizeof(password_buf), pf)) {
            fprintf(stderr, "sip-uac: cannot read --password-file %s: %s\n", password_file,
                    pf ? "empty" : strerror(errno));
            if (pf) fclose(pf);
            return 1;
        }
        fclose(pf);
        password_buf[strcspn(password_buf, "\r\n")] = '\0';
        password = password_buf;
    }
    if (auth_user && !password)
        return usage_error("%s", "--user needs --password or --password-file");

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
    /* Each re-INVITE, UPDATE or INFO may take its 64*T1 (and a 491 its §14.1 wait). */
    unsigned nsteps = (u->steps & STEP_HOLD ? 2u : 0u) + (u->steps & STEP_UPDATE ? 1u : 0u) +
                      (u->steps & STEP_INFO ? 1u : 0u);
    if (!timeout)
        timeout = (uint64_t)((double)calls / rate) + 1 + (hold + 999) / 1000 +
                  (128 * t1 + 999) / 1000 + nsteps * ((64 * t1 + 999) / 1000 + 5) + 5;
    u->bye_wait_ms = 65 * t1;
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
    snprintf(u->from, sizeof(u->from), "<sip:uac@%.63s>", u->local_host);
    /* An address target goes to the first target; a name is located again for each INVITE. */
    u->dst_fixed = uri.host_type == SIP_HOST_IPV4 || uri.host_type == SIP_HOST_IPV6;

    sip_txn_opts_t xopts;
    sip_txn_opts_init(&xopts);
    xopts.t1_ms = (uint32_t)t1;
    if (xopts.t2_ms < t1) xopts.t2_ms = (uint32_t)t1;
    rc = sip_txn_layer_create(&u->layer, u->tp, &xopts);
    sip_ua_opts_t uo;
    sip_ua_opts_init(&uo);
    uo.user_agent = "sip-uac (libsip)";
    uo.contact_user = "uac";
    /* Without a listening point (a TLS, WS or WSS client) the Contact names this host; the
     * responses come back over the connection (RFC 3261 §18.2.2). */
    if (!listen) uo.contact_host = u->local_host;
    uo.allow = u->prack ? ALLOW ", PRACK" : ALLOW;
    /* --subscribe: the NOTIFYs come in the subscription's dialog (RFC 6665 §4.1.3). */
    if (u->subscribe) uo.allow = ALLOW ", SUBSCRIBE, NOTIFY";
    /* The option tags taken in requests from the callee (a refresh may Require timer). */
    uo.supported = u->prack && u->session_timer ? "100rel, timer"
                   : u->prack                   ? "100rel"
                   : u->session_timer           ? "timer"
                                                : "";
    uo.t1_ms = xopts.t1_ms;
    uo.t2_ms = xopts.t2_ms;
    if (rc == 0) rc = sip_ua_create(&u->ua, u->layer, &uo, on_ua_request, u, NULL);
    if (rc == 0) {
        rc = sip_transport_add_handler(u->tp, SIP_HANDLER_PRIO_FIRST, on_message, u, NULL);
        rc = rc < 0 ? rc : 0;
    }
    u->slots = calloc(calls, sizeof(*u->slots));
    /* The BYEs out, by Call-ID: a power of two near the calls that can be up at once. */
    u->bye_buckets = 1024;
    while (u->bye_buckets < calls && u->bye_buckets < (1u << 20))
        u->bye_buckets *= 2;
    u->bye_table = calloc(u->bye_buckets, sizeof(*u->bye_table));
    if (rc || !u->slots || !u->bye_table) {
        fprintf(stderr, "sip-uac: %s\n", sip_strerror(rc ? rc : SIP_ENOMEM));
        free(u->slots);
        free(u->bye_table);
        sip_ua_unref(u->ua);
        sip_txn_layer_unref(u->layer);
        sip_transport_unref(u->tp);
        sip_resolver_unref(u->resolver);
        sip_loop_unref(loop);
        return 1;
    }
    if (auth_user) {
        /* Any realm: the server's and the proxies' challenges alike (RFC 3261 §22.3). */
        sip_auth_cred_t cred = {0};
        cred.user = auth_user;
        cred.password = password;
        rc = sip_ua_add_credential(u->ua, &cred);
        if (rc) {
            fprintf(stderr, "sip-uac: --user: %s\n", sip_strerror(rc));
            free(u->slots);
            free(u->bye_table);
            sip_ua_unref(u->ua);
            sip_txn_layer_unref(u->layer);
            sip_transport_unref(u->tp);
            sip_resolver_unref(u->resolver);
            sip_loop_unref(loop);
            return 1;
        }
        u->auth = 1;
    }
    for (uint64_t i = 0; i < calls; i++)
        u->slots[i].u = u;
    uv_timer_init(u->uv, &u->pacer);
    uv_timer_init(u->uv, &u->holdq.timer);
    uv_timer_init(u->uv, &u->byeq.timer);
    uv_timer_init(u->uv, &u->deadline);
    uv_signal_init(u->uv, &u->sigint);
    uv_signal_init(u->uv, &u->sigterm);
    u->holdq.u = u->byeq.u = u;
    u->holdq.expire = on_hold_expired;
    u->byeq.expire = on_bye_expired;
    u->holdq.timer.data = &u->holdq;
    u->byeq.timer.data = &u->byeq;
    u->pacer.data = u->deadline.data = u;
    u->sigint.data = u->sigterm.data = u;
    uv_signal_start(&u->sigint, on_signal, SIGINT);
    uv_signal_start(&u->sigterm, on_signal, SIGTERM);
    int status;
    if (u->subscribe) {
        uv_timer_start(&u->deadline, on_sub_deadline, timeout * 1000, 0);
        status = subscribe_once(u);
    } else if (u->message) {
        uv_timer_start(&u->deadline, on_message_deadline, timeout * 1000, 0);
        status = send_message(u);
    } else if (u->reg_aor) {
        uv_timer_start(&u->deadline, on_register_deadline, timeout * 1000, 0);
        status = send_register(u);
    } else {
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
        status = u->failed || u->completed != u->ncalls ? 1 : 0;
    }
    /* The calls left end without sending (no callback after the UA closes); then what they
     * pointed at can go. */
    sip_ua_close(u->ua);
    for (uint32_t i = 0; i < u->ncalls; i++)
        if (u->slots[i].c) call_free(u, u->slots[i].c);
    free(u->slots);
    free(u->bye_table);
    sip_ua_unref(u->ua);
    sip_txn_layer_close(u->layer);
    uv_close((uv_handle_t *)&u->pacer, NULL);
    uv_close((uv_handle_t *)&u->holdq.timer, NULL);
    uv_close((uv_handle_t *)&u->byeq.timer, NULL);
    uv_close((uv_handle_t *)&u->deadline, NULL);
    uv_close((uv_handle_t *)&u->sigint, NULL);
    uv_close((uv_handle_t *)&u->sigterm, NULL);
    sip_txn_layer_unref(u->layer);
    sip_transport_unref(u->tp);
    sip_resolver_unref(u->resolver);
    sip_loop_unref(loop);
    return status;
}
