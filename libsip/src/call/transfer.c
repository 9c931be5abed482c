/* SPDX-License-Identifier: MIT */
/* The transferee's side of a transfer (RFC 3515, RFC 5589): a REFER accepted, the new call
 * placed to Refer-To, its progress reported to the transferor in sipfrag NOTIFYs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call/call_int.h"
#include "core/timerq.h"
#include "sip/sub.h"
#include "ua/ua_int.h"

/* One accepted transfer: the user of the new call, wrapping the application's. */
typedef struct xfer {
    sip_call_event_cb cb;
    void *user;
    sip_free_fn user_free;
    sip_ua_t *ua;     /* the queue of t_bye; not referenced: the UA's close ends the new call,
                       * which frees this, before its queue goes */
    sip_call_t *old;  /* reference while the old call may still need ending */
    sip_sub_t *sub;   /* reference until the final NOTIFY (NULL with norefersub) */
    int final_status; /* the last final response of the new call, and its line */
    char final_line[128];
    int reported, placed;
    sip__tq_entry_t t_bye;
} xfer_t;

#define XFER_OF(e) ((xfer_t *)((char *)(e)-offsetof(xfer_t, t_bye)))

/* "SIP/2.0 486 Busy Here\r\n": a message/sipfrag of the status line (RFC 3515 §2.4.5). */
static void status_line(char *buf, size_t size, int status, sip_str_t reason)
{
    if (!reason.len) reason = sip_str_from_cstr(sip_status_phrase(status));
    if (reason.len > 96) reason.len = 96;
    snprintf(buf, size, "SIP/2.0 %d %.*s\r\n", status, (int)reason.len, reason.ptr);
}

/* RFC 5589 §6.1, §7.1: the transferor normally ends the old call once the final NOTIFY said
 * the transfer worked; when it does not, the transferee does. */
static void bye_fire(sip__tq_entry_t *e)
{
    xfer_t *x = XFER_OF(e);
    sip_call_t *old = x->old;
    x->old = NULL;
    if (old && sip_call_get_state(old) != SIP_CALL_ENDED) sip_call_hangup(old, NULL);
    sip_call_unref(old);
}

/* The outcome of the new call, told to the transferor once: the final NOTIFY terminates the
 * implicit subscription (RFC 3515 §2.4.5, RFC 6665 §4.2.2 reason noresource). */
static void report_final(xfer_t *x, int status, const char *line)
{
    if (x->reported) return;
    x->reported = 1;
    sip_sub_t *sub = x->sub;
    x->sub = NULL;
    if (sub) {
        if (x->ua->closed)
            sip_sub_close(sub); /* a UA that closes ends its subscriptions without sending */
        else if (sip_sub_get_state(sub) != SIP_SUB_TERMINATED)
            sip_sub_terminate(sub, "noresource", -1, line);
        sip_sub_unref(sub);
    }
    if (status >= 200 && status < 300 && x->old && !x->ua->closed &&
        sip__tq_reserve(&x->ua->tq, 1) == 0) {
        sip__tq_start(&x->ua->tq, &x->t_bye, 64ull * x->ua->t1_ms);
        return;
    }
    /* A failed transfer leaves the old call as it is (RFC 5589 §6.2). */
    sip_call_t *old = x->old;
    x->old = NULL;
    sip_call_unref(old);
}

static void on_new_call(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                        void *user)
{
    xfer_t *x = user;
    if (ev == SIP_CALL_EVENT_RESPONSE && msg) {
        int st = sip_msg_get_status(msg);
        char line[128];
        status_line(line, sizeof(line), st, sip_msg_get_reason(msg));
        if (st > 100 && st < 200 && x->sub && !x->reported) {
            /* §2.4.5: each provisional of the new call as it comes. */
            sip_sub_notify(x->sub, SIP_SUB_ACTIVE, line, NULL);
        } else if (st >= 200) {
            /* Reported with the state it leads to: a 422 or a challenge may be retried. */
            x->final_status = st;
            memcpy(x->final_line, line, sizeof(line));
        }
    } else if (ev == SIP_CALL_EVENT_STATE && !x->reported) {
        sip_call_state_t s = sip_call_get_state(call);
        if (s == SIP_CALL_CONNECTING || s == SIP_CALL_CONFIRMED) {
            if (x->final_status < 200 || x->final_status >= 300) {
                x->final_status = 200;
                status_line(x->final_line, sizeof(x->final_line), 200, (sip_str_t){NULL, 0});
            }
            report_final(x, x->final_status, x->final_line);
        } else if (s == SIP_CALL_ENDED) {
            int st = sip_call_get_end_status(call);
            if (st < 300) st = 487; /* ended by this side before an answer */
            if (x->final_status != st)
                status_line(x->final_line, sizeof(x->final_line), st, (sip_str_t){NULL, 0});
            report_final(x, st, x->final_line);
        }
    }
    if (x->cb) x->cb(call, ev, msg, txn, x->user);
}

static void xfer_free(void *user)
{
    xfer_t *x = user;
    /* The new call went before its outcome was heard (closed, or dropped by the application
     * before its final response), or could not be placed: the transferor learns it failed. */
    if (x->placed)
        report_final(x, 487, "SIP/2.0 487 Request Terminated\r\n");
    else
        report_final(x, 503, "SIP/2.0 503 Service Unavailable\r\n");
    sip__tq_stop(&x->ua->tq, &x->t_bye);
    sip_call_unref(x->old);
    if (x->user_free) x->user_free(x->user);
    free(x);
}

/* RFC 3261 §19.1.5: headers of a URI that a request made from it must not take from there. */
static int header_allowed(const char *name)
{
    static const char *const deny[] = {
        "Via",
        "Call-ID",
        "CSeq",
        "From",
        "To",
        "Contact",
        "Max-Forwards",
        "Content-Length",
        "Route",
        "Record-Route",
        "Refer-To",
        "body",
        "i",
        "f",
        "t",
        "m",
        "l",
        "v",
    };
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
        if (!strcasecmp(name, deny[i])) return 0;
    return 1;
}

/* The headers of the new INVITE: the application's, the Refer-To URI's own ("?Replaces=...":
 * RFC 3515 §2.1, RFC 3891 §3) unescaped, and the REFER's Referred-By (RFC 3892 §3). */
static int build_headers(char **out, const char *app, sip_str_t uri_headers, const sip_msg_t *refer)
{
    size_t cap = (app ? strlen(app) : 0) + 3 * uri_headers.len + 64;
    const sip_header_t *rb = sip_msg_header_at(refer, SIP_HDR_REFERRED_BY, 0);
    sip_str_t rbv = rb ? sip_header_get_value(rb) : (sip_str_t){NULL, 0};
    cap += rbv.len;
    char *buf = malloc(cap), *p = buf;
    if (!buf) return SIP_ENOMEM;
    *p = 0;
    if (app && *app) p += sprintf(p, "%s\r\n", app);
    /* A Refer-To without headers has a NULL view: no arithmetic on it (C11 6.5.6). */
    const char *s = uri_headers.ptr, *end = s ? s + uri_headers.len : NULL;
    while (s && s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        if (!amp) amp = end;
        const char *eq = memchr(s, '=', (size_t)(amp - s));
        if (eq && eq > s) {
            char name[64];
            int nl = sip_uri_unescape((sip_str_t){s, (size_t)(eq - s)}, name, sizeof(name));
            size_t room = cap - (size_t)(p - buf);
            /* A header name is a token: an escaped ':', space or line break in it would make
             * another header of the INVITE than the one named. */
            if (nl < 0 ||
                (nl > 0 && (size_t)nl < sizeof(name) && strcspn(name, ": \t\r\n") != (size_t)nl)) {
                free(buf);
                return SIP_EURI;
            }
            if (nl > 0 && (size_t)nl < sizeof(name) && header_allowed(name) &&
                room > (size_t)nl + 4) {
                p += sprintf(p, "%s: ", name);
                room = cap - (size_t)(p - buf);
                int vl = sip_uri_unescape((sip_str_t){eq + 1, (size_t)(amp - eq - 1)}, p, room);
                /* Nor may an escaped CR, LF or NUL in a value smuggle in lines of its own. */
                if (vl < 0 || (size_t)vl + 3 > room || memchr(p, '\r', (size_t)vl) ||
                    memchr(p, '\n', (size_t)vl) || memchr(p, '\0', (size_t)vl)) {
                    free(buf);
                    return SIP_EURI;
                }
                p += vl;
                p += sprintf(p, "\r\n");
            }
        }
        s = amp + 1;
    }
    if (rbv.len) p += sprintf(p, "Referred-By: %.*s\r\n", (int)rbv.len, rbv.ptr);
    *out = buf;
    return 0;
}

int sip_call_accept_transfer(sip_call_t **out, sip_call_t *call, sip_txn_t *txn,
                             const sip_call_opts_t *opts, sip_call_event_cb cb, void *user,
                             sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    sip_msg_t *req = txn ? sip_txn_get_request(txn) : NULL;
    sip_ua_t *ua = call ? sip_call_get_ua(call) : NULL;
    if (!out || !call || !req || sip_msg_get_method(req) != SIP_METHOD_REFER ||
        (sip_txn_get_state(txn) != SIP_TXN_TRYING && sip_txn_get_state(txn) != SIP_TXN_PROCEEDING))
        goto fail;
    rc = SIP_ECLOSED;
    if (!ua || ua->closed) goto fail;
    /* RFC 3515 §2.4.1: exactly one Refer-To; §2.4.2: a URI the agent cannot act on is refused.
     * Only SIP and SIPS URIs can be called here (RFC 3261 §8.2.2.1: 416 for the others). */
    const sip_header_t *rt = sip_msg_header_at(req, SIP_HDR_REFER_TO, 0);
    const sip_addr_t *a = rt ? sip_header_addr(rt) : NULL;
    if (!a || sip_msg_header_count(req, SIP_HDR_REFER_TO) != 1 || !a->uri.raw.len) {
        sip_txn_respond(txn, 400, "Bad Refer-To");
        rc = SIP_ENOTACCEPTABLE;
        goto fail;
    }
    if (a->uri.scheme != SIP_URI_SIP && a->uri.scheme != SIP_URI_SIPS) {
        sip_txn_respond(txn, 416, NULL);
        rc = SIP_ENOTACCEPTABLE;
        goto fail;
    }
    /* The target: the URI without its headers, which go into the request instead. */
    sip_str_t raw = a->uri.raw, hdrs = a->uri.headers;
    size_t tlen = raw.len;
    if (hdrs.ptr && hdrs.ptr > raw.ptr && hdrs.ptr <= raw.ptr + raw.len)
        tlen = (size_t)(hdrs.ptr - raw.ptr) - 1;
    else if (tlen && raw.ptr[tlen - 1] == '?')
        tlen--;
    rc = SIP_ENOMEM;
    char *target = malloc(tlen + 1);
    if (!target) goto fail;
    memcpy(target, raw.ptr, tlen);
    target[tlen] = 0;
    char *headers = NULL;
    rc = build_headers(&headers, opts ? opts->headers : NULL, hdrs, req);
    if (rc == SIP_EURI) {
        free(target);
        sip_txn_respond(txn, 400, "Bad Refer-To");
        rc = SIP_ENOTACCEPTABLE;
        goto fail;
    }
    xfer_t *x = rc ? NULL : calloc(1, sizeof(*x));
    if (!x) {
        free(target);
        free(headers);
        rc = SIP_ENOMEM;
        goto fail;
    }
    x->cb = cb;
    x->user = user;
    x->user_free = user_free;
    sip__tq_entry_init(&x->t_bye, bye_fire);
    /* RFC 3515 §2.4.2, §2.4.5: 202 and a first NOTIFY "100 Trying"; RFC 4488: 202 with
     * Refer-Sub: false and no subscription when the REFER asks for none. */
    rc = sip_sub_accept(&x->sub, ua, txn, NULL, NULL, NULL, NULL);
    if (rc) {
        free(target);
        free(headers);
        free(x);
        goto fail;
    }
    if (sip_sub_get_state(x->sub) == SIP_SUB_TERMINATED) {
        sip_sub_unref(x->sub);
        x->sub = NULL;
    }
    x->ua = ua;
    x->old = sip_call_ref(call);
    sip_call_opts_t o;
    if (opts)
        o = *opts;
    else
        sip_call_opts_init(&o);
    o.headers = headers;
    /* From here the application's user belongs to the transfer: xfer_free runs user_free,
     * also when placing the call fails (and then reports it to the transferor). */
    rc = sip_call_invite(out, ua, target, &o, on_new_call, x, xfer_free);
    if (!rc) x->placed = 1;
    free(target);
    free(headers);
    return rc;
fail:
    if (user_free) user_free(user);
    return rc;
}
