/* SPDX-License-Identifier: MIT */
/* Subscriptions (RFC 6665): life, the usage the UA dispatches to, timers, and the subscriber's
 * and notifier's halves. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "sip/error.h"
#include "sip/param.h"
#include "sip/str.h"
#include "sub/sub_int.h"

/* ---- life ------------------------------------------------------------------------------- */

static void app_release(sip__sub_app_t *a)
{
    if (!a || --a->refs > 0) return;
    sip_free_fn f = a->user_free;
    void *u = a->user;
    free(a);
    if (f) f(u);
}

static void list_remove(sip_sub_t *s)
{
    sip_ua_t *ua = s->ua;
    if (!s->in_list || !ua) return;
    s->in_list = 0;
    if (s->prev)
        s->prev->next = s->next;
    else
        ua->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void sub_free(sip_sub_t *s)
{
    list_remove(s);
    app_release(s->app);
    sip_dialog_unref(s->dlg);
    sip_msg_unref(s->req);
    free(s->event);
    free(s->id);
    free(s->accept);
    free(s->body);
    free(s->ctype);
    free(s);
    sip__live_dec(SIP_LIVE_SUB);
}

static void hold(sip_sub_t *s)
{
    s->holds++;
}

static void release(sip_sub_t *s)
{
    if (--s->holds == 0 && s->refs == 0) sub_free(s);
}

static void fire_refresh(sip__tq_entry_t *e);
static void fire_expire(sip__tq_entry_t *e);
static void fire_wait(sip__tq_entry_t *e);
static const sip__usage_ops_t usage_ops;

static sip_sub_t *sub_new(sip_ua_t *ua, int subscriber, sip__sub_app_t *app)
{
    sip_sub_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    sip__live_inc(SIP_LIVE_SUB);
    s->ua = ua;
    /* In the UA's list from birth to free, so that closing the UA reaches every one (even
     * one that ended with a transaction still in flight). */
    s->in_list = 1;
    s->next = ua->subs;
    if (ua->subs) ua->subs->prev = s;
    ua->subs = s;
    s->subscriber = subscriber ? 1 : 0;
    s->retry_after = -1;
    s->app = app;
    if (app) app->refs++;
    s->usage.ops = &usage_ops;
    s->usage.owner = s;
    sip__tq_entry_init(&s->t_refresh, fire_refresh);
    sip__tq_entry_init(&s->t_expire, fire_expire);
    sip__tq_entry_init(&s->t_wait, fire_wait);
    return s;
}

static int set_event(sip_sub_t *s, sip_str_t event, sip_str_t id)
{
    s->event = sip__strndup(event.ptr, event.len);
    s->id = sip__strndup(id.ptr ? id.ptr : "", id.len);
    if (!s->event || !s->id) return SIP_ENOMEM;
    s->usage.event = (sip_str_t){s->event, event.len};
    s->usage.id = (sip_str_t){s->id, id.len};
    return 0;
}

/* Live: the library holds it until it ends. */
static void link_ua(sip_sub_t *s)
{
    s->linked = 1;
    hold(s);
    s->ua->nsubs++;
}

static void unlink_ua(sip_sub_t *s)
{
    if (!s->linked) return;
    s->linked = 0;
    if (s->ua) s->ua->nsubs--;
    release(s);
}

static void emit(sip_sub_t *s, sip_sub_event_t ev, sip_msg_t *msg)
{
    sip__sub_app_t *a = s->app;
    if (!a || !a->cb || s->closed) return;
    hold(s);
    a->refs++;
    a->cb(s, ev, msg, a->user);
    app_release(a);
    release(s);
}

static void set_state(sip_sub_t *s, sip_sub_state_t st, sip_msg_t *msg)
{
    if (s->state == st || s->state == SIP_SUB_TERMINATED) return;
    s->state = st;
    emit(s, SIP_SUB_EVENT_STATE, msg);
}

static void stop_timers(sip_sub_t *s)
{
    if (!s->ua) return;
    sip__tq_stop(&s->ua->tq, &s->t_refresh);
    sip__tq_stop(&s->ua->tq, &s->t_expire);
    sip__tq_stop(&s->ua->tq, &s->t_wait);
}

/* Takes the usage off its dialog, and ends the dialog with it when it was the last (RFC 5057:
 * a call's or another subscription's dialog goes on). */
static void drop_usage(sip_sub_t *s)
{
    if (!s->dlg) return;
    if (s->ua) sip__ua_usage_remove(s->ua, s->dlg, &s->usage);
    if (!s->dlg->usages) sip_dialog_terminate(s->dlg);
}

/* Nothing reaches the subscription from the network or the clock after this. */
static void teardown(sip_sub_t *s)
{
    stop_timers(s);
    drop_usage(s);
    unlink_ua(s);
}

/* The subscription is over: state Terminated, once. */
static void sub_end(sip_sub_t *s, int status, sip_msg_t *msg)
{
    if (s->state == SIP_SUB_TERMINATED) return;
    hold(s);
    teardown(s);
    s->end_status = status;
    s->state = SIP_SUB_TERMINATED;
    emit(s, SIP_SUB_EVENT_STATE, msg);
    release(s);
}

static void start_timer(sip_sub_t *s, sip__tq_entry_t *e, uint64_t ms)
{
    if (s->ua && sip__tq_reserve(&s->ua->tq, 1) == 0) sip__tq_start(&s->ua->tq, e, ms);
}

static uint64_t t1_64(const sip_sub_t *s)
{
    return 64ull * (s->ua ? s->ua->t1_ms : 500);
}

/* ---- messages ----------------------------------------------------------------------------- */

/* Adds "Name: value" lines (CRLF or LF separated). */
static int add_lines(sip_msg_t *m, const char *lines)
{
    const char *p = lines;
    while (p && *p) {
        size_t n = strcspn(p, "\r\n");
        if (n) {
            const char *colon = memchr(p, ':', n);
            if (!colon || colon == p) return SIP_EPARSE;
            char name[128];
            size_t nl = (size_t)(colon - p);
            while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
                nl--;
            if (nl >= sizeof(name)) return SIP_EPARSE;
            memcpy(name, p, nl);
            name[nl] = '\0';
            char *value = sip__strndup(colon + 1, (size_t)(p + n - colon - 1));
            if (!value) return SIP_ENOMEM;
            int rc = sip_msg_add_header(m, name, value);
            free(value);
            if (rc) return rc;
        }
        p += n;
        while (*p == '\r' || *p == '\n')
            p++;
    }
    return 0;
}

/* Event: package;id=... (RFC 6665 §8.2.1). */
static int add_event(sip_sub_t *s, sip_msg_t *m)
{
    char buf[512];
    int w = s->id[0] ? snprintf(buf, sizeof(buf), "%s;id=%s", s->event, s->id)
                     : snprintf(buf, sizeof(buf), "%s", s->event);
    if (w <= 0 || (size_t)w >= sizeof(buf)) return SIP_EINVAL;
    return sip_msg_add_header(m, "Event", buf);
}

static int add_uint(sip_msg_t *m, const char *name, uint32_t v)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", v);
    return sip_msg_add_header(m, name, buf);
}

/* The seconds left until the expiry, rounded up. */
static uint32_t left_s(const sip_sub_t *s)
{
    if (!s->ua || s->state == SIP_SUB_TERMINATED || !s->expires_at) return 0;
    uint64_t now = sip__tq_now(&s->ua->tq);
    return s->expires_at > now ? (uint32_t)((s->expires_at - now + 999) / 1000) : 0;
}

/* One request of a subscription in flight: what it was, for its response. */
typedef enum { REQ_SUBSCRIBE, REQ_REFRESH, REQ_UNSUBSCRIBE, REQ_NOTIFY } req_kind_t;
typedef struct sent {
    sip_sub_t *sub;
    req_kind_t kind;
    int final_notify;
    int answered; /* a final response reached on_response() */
} sent_t;

static void on_response(sent_t *x, sip_msg_t *req, sip_msg_t *rsp);
static void subscriber_response(sip_sub_t *s, req_kind_t kind, int status, sip_msg_t *rsp);
static void notifier_response(sip_sub_t *s, const sent_t *x, int status, sip_msg_t *rsp);

static void sent_done(void *user)
{
    sent_t *x = user;
    sip_sub_t *s = x->sub;
    /* A request can end without a final response reaching us: the UA could not allocate the
     * 408/503 it makes of a timeout (sip_ua_send_request()). Taken as that timeout, so that a
     * SUBSCRIBE or NOTIFY never leaves the subscription waiting for ever (RFC 6665 §4.1.2.2,
     * §4.2.2: a timeout ends it). */
    if (!x->answered && !s->sending && !s->closed && s->ua) {
        hold(s);
        if (x->kind == REQ_NOTIFY)
            notifier_response(s, x, 408, NULL);
        else
            subscriber_response(s, x->kind, 408, NULL);
        release(s);
    }
    free(x);
    release(s);
}

static void sent_response(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user)
{
    (void)ua;
    on_response(user, req, rsp);
}

/* Sends a request of the subscription through the UA, which answers 401 and 407 with its
 * credentials (RFC 3261 §22.2). */
static int send_req(sip_sub_t *s, sip_msg_t *req, req_kind_t kind, int final_notify)
{
    if (!s->ua) return SIP_ECLOSED;
    sent_t *x = calloc(1, sizeof(*x));
    if (!x) return SIP_ENOMEM;
    x->sub = s;
    x->kind = kind;
    x->final_notify = final_notify;
    hold(s);
    hold(s); /* for s->sending, which sent_done() may read */
    s->sending = 1;
    int rc = sip_ua_send_request(s->ua, req, s->has_dst && !s->dlg ? &s->dst : NULL, sent_response,
                                 x, sent_done);
    s->sending = 0;
    release(s);
    return rc;
}

/* ---- subscriber --------------------------------------------------------------------------- */

/* RFC 6665 §4.1.2.2: refresh before the expiry; a non-INVITE transaction may take 64*T1
 * (32 s), so the refresh goes that long before it, or half-way for a short one. */
static void arm_expiry(sip_sub_t *s, uint32_t secs)
{
    s->expires = secs;
    if (!s->ua) return;
    s->expires_at = sip__tq_now(&s->ua->tq) + (uint64_t)secs * 1000;
    if (!secs) {
        sip__tq_stop(&s->ua->tq, &s->t_refresh);
        sip__tq_stop(&s->ua->tq, &s->t_expire);
        return;
    }
    start_timer(s, &s->t_expire, (uint64_t)secs * 1000);
    if (s->subscriber && !s->unsubscribing && !s->refer) {
        uint64_t ms = (uint64_t)secs * 1000, lead = 32000;
        start_timer(s, &s->t_refresh, ms > 2 * lead ? ms - lead : ms / 2);
    }
}

static int build_subscribe(sip_sub_t *s, sip_msg_t **out, uint32_t expires)
{
    int rc = sip_dialog_create_request(out, s->dlg, "SUBSCRIBE");
    if (!rc) rc = add_event(s, *out);
    if (!rc) rc = add_uint(*out, "Expires", expires);
    if (!rc && s->accept) rc = sip_msg_add_header(*out, "Accept", s->accept);
    if (!rc && s->ua) rc = sip_msg_add_header(*out, "User-Agent", s->ua->user_agent);
    if (rc) {
        sip_msg_unref(*out);
        *out = NULL;
    }
    return rc;
}

static void fire_refresh(sip__tq_entry_t *e)
{
    sip_sub_t *s = (sip_sub_t *)(void *)((char *)e - offsetof(sip_sub_t, t_refresh));
    if (!s->dlg || s->state == SIP_SUB_TERMINATED) return;
    sip_msg_t *req = NULL;
    if (build_subscribe(s, &req, s->asked) == 0) send_req(s, req, REQ_REFRESH, 0);
    sip_msg_unref(req);
}

/* Subscriber: no refresh succeeded in time; notifier: the subscriber did not refresh. */
static void fire_expire(sip__tq_entry_t *e)
{
    sip_sub_t *s = (sip_sub_t *)(void *)((char *)e - offsetof(sip_sub_t, t_expire));
    if (s->subscriber) {
        sub_end(s, 408, NULL);
        return;
    }
    /* RFC 6665 §4.2.2: the notifier ends an expired subscription with a NOTIFY. */
    s->expired = 1;
    sip_sub_terminate(s, "timeout", -1, NULL);
    if (s->state != SIP_SUB_TERMINATED) sub_end(s, 408, NULL);
}

/* RFC 6665 §4.1.2.4: no NOTIFY within 64*T1 of the 2xx; or the NOTIFY that ends an
 * unsubscribe did not come. */
static void fire_wait(sip__tq_entry_t *e)
{
    sip_sub_t *s = (sip_sub_t *)(void *)((char *)e - offsetof(sip_sub_t, t_wait));
    sub_end(s, s->unsubscribing ? 200 : 408, NULL);
}

static int take_dialog(sip_sub_t *s, sip_dialog_t *d)
{
    int rc = sip__ua_usage_add(s->ua, d, &s->usage);
    if (rc) return rc;
    s->dlg = sip_dialog_ref(d);
    return 0;
}

/* RFC 4488: Refer-Sub: false in a REFER or its 2xx (no implicit subscription). */
static int refer_sub_false(const sip_msg_t *m)
{
    const sip_header_t *h = sip_msg_header_by_name(m, "Refer-Sub", 0);
    sip_str_t v = h ? sip_header_get_value(h) : (sip_str_t){"", 0};
    while (v.len && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
        v.len--;
    return v.len >= 5 && !strncasecmp(v.ptr, "false", 5) && (v.len == 5 || v.ptr[5] == ';');
}

static void subscriber_response(sip_sub_t *s, req_kind_t kind, int status, sip_msg_t *rsp)
{
    if (rsp) emit(s, SIP_SUB_EVENT_RESPONSE, rsp);
    if (s->state == SIP_SUB_TERMINATED) return;
    if (status >= 200 && status < 300 && rsp) {
        if (kind == REQ_UNSUBSCRIBE) return;
        /* RFC 4488 §4: the REFER was taken without a subscription: nothing more comes. */
        if (s->refer && kind == REQ_SUBSCRIBE && refer_sub_false(rsp)) {
            sub_end(s, 200, rsp);
            return;
        }
        if (!s->dlg) {
            sip_dialog_t *d = NULL;
            if (sip_dialog_create_uac(&d, s->req, rsp) != 0 || take_dialog(s, d) != 0) {
                sip_dialog_unref(d);
                sub_end(s, 500, rsp);
                return;
            }
            sip_dialog_unref(d);
        } else if (sip_dialog_match(s->dlg, rsp)) {
            sip_dialog_receive_response(s->dlg, rsp);
        } else {
            /* A 2xx of another fork: its NOTIFY will make its own subscription. */
            return;
        }
        /* RFC 6665 §4.1.2.1: the 2xx's Expires is the duration granted. A REFER's 2xx has
         * none: its NOTIFYs say how long the notifier keeps the subscription (RFC 3515). */
        int granted = sip_msg_get_expires(rsp);
        if (!s->refer) arm_expiry(s, granted >= 0 ? (uint32_t)granted : s->asked);
        if (!s->got_notify) {
            start_timer(s, &s->t_wait, t1_64(s));
            set_state(s, SIP_SUB_NOTIFY_WAIT, rsp);
        }
        return;
    }
    if (status < 300) return;
    /* RFC 6665 §4.1.2.2: a refresh that fails with 481 or a timeout ends the subscription;
     * after another failure it lasts until it expires. */
    if (kind == REQ_REFRESH && status != 481 && status != 408) return;
    sub_end(s, status, rsp);
}

/* Refer-To as a name-addr: bracketed unless it is one already, so that a URI's parameters and
 * headers (?Replaces=...) stay the URI's (RFC 3515 §2.1). */
static int add_refer_to(sip_msg_t *m, const char *uri)
{
    if (strchr(uri, '<')) return sip_msg_add_header(m, "Refer-To", uri);
    size_t n = strlen(uri) + 3;
    char *v = malloc(n);
    if (!v) return SIP_ENOMEM;
    snprintf(v, n, "<%s>", uri);
    int rc = sip_msg_add_header(m, "Refer-To", v);
    free(v);
    return rc;
}

/* The subscriber's start: a SUBSCRIBE, or a REFER with its implicit subscription. */
static int start_subscriber(sip_sub_t **out, sip_ua_t *ua, const char *target, const char *refer_to,
                            const sip_sub_opts_t *opts, sip_sub_event_cb cb, void *user,
                            sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    if (!out || !ua || !opts || (!target && !opts->dialog) || (refer_to && !*refer_to) ||
        (!refer_to && (!opts->event || !*opts->event)))
        goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed) goto fail;
    if (opts->dialog && (!opts->dialog->usages || opts->dialog->state == SIP_DIALOG_TERMINATED)) {
        rc = SIP_EINVAL; /* not a live dialog of the UA's table */
        goto fail;
    }
    rc = SIP_ENOMEM;
    sip__sub_app_t *app = calloc(1, sizeof(*app));
    if (!app) goto fail;
    *app = (sip__sub_app_t){0, cb, user, user_free};
    sip_sub_t *s = sub_new(ua, 1, app);
    if (!s) {
        free(app);
        goto fail;
    }
    s->refs = 1;
    s->refer = refer_to ? 1 : 0;
    s->asked = opts->expires;
    rc = 0;
    /* RFC 3515 §2.4.5: the NOTIFYs of a REFER carry message/sipfrag. */
    const char *accept = opts->accept ? opts->accept : refer_to ? "message/sipfrag" : NULL;
    if (accept) {
        s->accept = sip__strdup(accept);
        if (!s->accept) rc = SIP_ENOMEM;
    }
    if (opts->dst) {
        s->dst = *opts->dst;
        s->has_dst = 1;
    }
    const char *method = refer_to ? "REFER" : "SUBSCRIBE";
    sip_msg_t *req = NULL;
    if (!rc && opts->dialog)
        rc = sip_dialog_create_request(&req, opts->dialog, method);
    else if (!rc)
        rc = sip_ua_create_request(&req, ua, method, target, opts->from);
    if (!rc && refer_to) {
        /* RFC 3515 §2.4.6: the implicit subscription's Event is refer, its id the REFER's
         * CSeq number. */
        char num[16];
        snprintf(num, sizeof(num), "%u", sip_msg_get_cseq(req)->seq);
        rc = set_event(s, SIP_STR("refer"), sip_str_from_cstr(num));
    } else if (!rc) {
        sip_str_t id = opts->id ? sip_str_from_cstr(opts->id) : (sip_str_t){"", 0};
        rc = set_event(s, sip_str_from_cstr(opts->event), id);
    }
    /* Inside an existing dialog: a new usage of it (RFC 5057), linked before the request goes
     * so that a NOTIFY coming before the 2xx finds it. */
    if (!rc && opts->dialog) rc = take_dialog(s, opts->dialog);
    if (!rc && refer_to) rc = add_refer_to(req, refer_to);
    if (!rc && refer_to && opts->norefersub) {
        rc = sip_msg_add_header(req, "Refer-Sub", "false");
        if (!rc) rc = sip_msg_add_header(req, "Supported", "norefersub");
    }
    if (!rc && !refer_to) rc = add_event(s, req);
    if (!rc && !refer_to) rc = add_uint(req, "Expires", s->asked);
    if (!rc && s->accept) rc = sip_msg_add_header(req, "Accept", s->accept);
    if (!rc && opts->headers) rc = add_lines(req, opts->headers);
    if (!rc && opts->body)
        rc = sip_msg_set_body(req, opts->content_type ? opts->content_type : "text/plain",
                              opts->body, strlen(opts->body));
    if (!rc) {
        s->req = sip_msg_ref(req);
        link_ua(s);
        rc = send_req(s, req, REQ_SUBSCRIBE, 0);
    }
    sip_msg_unref(req);
    if (rc) {
        /* A failed call fires no callback: user_free runs once, below. */
        s->app = NULL;
        app->refs--;
        teardown(s);
        s->state = SIP_SUB_TERMINATED;
        s->refs = 0;
        hold(s);
        release(s);
        free(app);
        if (user_free) user_free(user);
        return rc;
    }
    *out = s;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_sub_subscribe(sip_sub_t **out, sip_ua_t *ua, const char *target, const sip_sub_opts_t *opts,
                      sip_sub_event_cb cb, void *user, sip_free_fn user_free)
{
    return start_subscriber(out, ua, target, NULL, opts, cb, user, user_free);
}

int sip_sub_refer(sip_sub_t **out, sip_ua_t *ua, const char *target, const char *refer_to,
                  const sip_sub_opts_t *opts, sip_sub_event_cb cb, void *user,
                  sip_free_fn user_free)
{
    sip_sub_opts_t def;
    if (!opts) {
        sip_sub_opts_init(&def);
        opts = &def;
    }
    if (!refer_to) {
        if (user_free) user_free(user);
        if (out) *out = NULL;
        return SIP_EINVAL;
    }
    return start_subscriber(out, ua, target, refer_to, opts, cb, user, user_free);
}

/* Subscription-State (RFC 6665 §8.2.3): its value and the parameters a subscriber uses. */
typedef struct sub_state {
    sip_sub_state_t state;
    long expires, retry_after;
    sip_str_t reason;
} sub_state_t;

static long num_param(sip_str_t params, const char *name)
{
    sip_str_t v;
    if (!sip_params_get(params, name, &v) || !v.len || v.len > 9) return -1;
    long n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') return -1;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n;
}

static int parse_state(const sip_msg_t *req, sub_state_t *out)
{
    const sip_token_t *t = sip_header_token(sip_msg_header_at(req, SIP_HDR_SUBSCRIPTION_STATE, 0));
    if (!t) return -1;
    if (sip_str_caseeq_cstr(t->value, "active"))
        out->state = SIP_SUB_ACTIVE;
    else if (sip_str_caseeq_cstr(t->value, "pending"))
        out->state = SIP_SUB_PENDING;
    else if (sip_str_caseeq_cstr(t->value, "terminated"))
        out->state = SIP_SUB_TERMINATED;
    else
        return -1; /* a state this side cannot follow: refused (400) */
    out->expires = num_param(t->params, "expires");
    out->retry_after = num_param(t->params, "retry-after");
    out->reason = (sip_str_t){"", 0};
    sip_params_get(t->params, "reason", &out->reason);
    return 0;
}

static void respond(sip_sub_t *s, sip_txn_t *txn, int status, const char *hdr, const char *val)
{
    sip_msg_t *rsp = NULL;
    if (s->ua && sip_ua_create_response(&rsp, s->ua, txn, status, NULL) == 0) {
        if (hdr) sip_msg_add_header(rsp, hdr, val);
        sip_txn_reply(txn, rsp);
    }
    sip_msg_unref(rsp);
}

/* A NOTIFY of the subscriber's dialog (RFC 6665 §4.1.3). */
static void subscriber_notify(sip_sub_t *s, sip_txn_t *txn, sip_msg_t *req)
{
    sub_state_t st;
    if (parse_state(req, &st)) {
        /* §8.2.3 makes Subscription-State mandatory in NOTIFY. */
        respond(s, txn, 400, NULL, NULL);
        return;
    }
    respond(s, txn, 200, NULL, NULL);
    s->got_notify = 1;
    if (!s->unsubscribing && s->ua) sip__tq_stop(&s->ua->tq, &s->t_wait);
    hold(s);
    /* The state the NOTIFY gives is the subscription's before the application hears it. */
    sip_sub_state_t old = s->state;
    if (st.state == SIP_SUB_TERMINATED) {
        size_t n = st.reason.len < sizeof(s->reason) ? st.reason.len : sizeof(s->reason) - 1;
        memcpy(s->reason, st.reason.ptr, n);
        s->reason[n] = '\0';
        s->retry_after = (int)st.retry_after;
        teardown(s);
        s->end_status = 200;
    } else if (st.expires >= 0 && !s->unsubscribing) {
        /* §4.1.3: the expires parameter is the time the notifier keeps the subscription. */
        arm_expiry(s, (uint32_t)st.expires);
    }
    s->state = st.state;
    emit(s, SIP_SUB_EVENT_NOTIFY, req);
    if (s->state == st.state && st.state != old) emit(s, SIP_SUB_EVENT_STATE, req);
    release(s);
}

/* RFC 6665 §4.1.2.4: a NOTIFY whose dialog we do not have yet. It belongs to one of our
 * SUBSCRIBEs when its Call-ID and To tag are the SUBSCRIBE's, and its Event the same: before
 * the 2xx it makes that subscription's dialog; from another fork it makes a new subscription. */
int sip__sub_on_orphan_notify(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req)
{
    const sip_token_t *ev = sip_header_token(sip_msg_header_at(req, SIP_HDR_EVENT, 0));
    const sip_addr_t *to = sip_msg_get_to(req);
    if (!ev || !to) return 0;
    sip_str_t id = {"", 0};
    sip_params_get(ev->params, "id", &id);
    sip_sub_t *s = ua->subs;
    for (; s; s = s->next) {
        if (!s->subscriber || s->forked || !s->req || s->state == SIP_SUB_TERMINATED ||
            s->unsubscribing)
            continue;
        const sip_addr_t *f = sip_msg_get_from(s->req);
        if (sip_str_eq(sip_msg_get_call_id(s->req), sip_msg_get_call_id(req)) &&
            sip_str_eq(f->tag, to->tag) && sip_str_caseeq(s->usage.event, ev->value) &&
            sip_str_eq(s->usage.id, id))
            break;
    }
    if (!s) return 0;
    sip_dialog_t *d = NULL;
    if (sip__dialog_create_notify(&d, s->req, req) != 0) {
        respond(s, txn, 400, NULL, NULL);
        return 1;
    }
    sip_sub_t *target = s;
    if (s->dlg) {
        /* Another fork: a subscription of its own, with the first one's callback. */
        target = sub_new(ua, 1, s->app);
        if (!target || set_event(target, s->usage.event, s->usage.id) != 0) {
            if (target) sub_free(target);
            sip_dialog_unref(d);
            respond(s, txn, 500, NULL, NULL);
            return 1;
        }
        target->forked = 1;
        target->asked = s->asked;
        if (s->accept) target->accept = sip__strdup(s->accept);
        link_ua(target);
    }
    if (take_dialog(target, d) != 0) {
        sip_dialog_unref(d);
        respond(s, txn, 500, NULL, NULL);
        if (target != s) sub_end(target, 500, NULL);
        return 1;
    }
    sip_dialog_unref(d);
    hold(target);
    if (target != s) {
        /* Its SUBSCRIBE's grant is the first one's (RFC 6665 §4.1.2.4: the forks answer the
         * same SUBSCRIBE); the NOTIFY's expires corrects it. */
        arm_expiry(target, s->expires ? s->expires : s->asked);
        emit(target, SIP_SUB_EVENT_FORKED, req);
    }
    if (sip_dialog_receive_request(target->dlg, req) == 0)
        subscriber_notify(target, txn, req);
    else
        respond(target, txn, 500, NULL, NULL);
    release(target);
    return 1;
}

int sip_sub_unsubscribe(sip_sub_t *s)
{
    if (!s || !s->subscriber) return SIP_EINVAL;
    if (s->state == SIP_SUB_TERMINATED || s->closed || !s->ua) return SIP_ECLOSED;
    if (s->unsubscribing) return 0;
    s->unsubscribing = 1;
    if (!s->dlg) {
        /* No dialog to send in yet: over now; a NOTIFY that comes later gets 481, which ends
         * the notifier's side (RFC 6665 §4.2.2). */
        sub_end(s, 200, NULL);
        return 0;
    }
    sip__tq_stop(&s->ua->tq, &s->t_refresh);
    sip_msg_t *req = NULL;
    int rc = build_subscribe(s, &req, 0);
    if (!rc) rc = send_req(s, req, REQ_UNSUBSCRIBE, 0);
    sip_msg_unref(req);
    if (rc) {
        s->unsubscribing = 0;
        return rc;
    }
    /* §4.1.2.3: the notifier answers with a NOTIFY terminated; wait for it. */
    start_timer(s, &s->t_wait, t1_64(s));
    return 0;
}

/* ---- notifier ----------------------------------------------------------------------------- */

static int copy_str(char **slot, const char *s)
{
    if (!s) return 0;
    char *c = sip__strdup(s);
    if (!c) return SIP_ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

/* Sends a NOTIFY in state st (terminated: with reason and retry-after). */
static int send_notify(sip_sub_t *s, sip_sub_state_t st, const char *reason, int retry_after,
                       const char *body)
{
    char ss[128];
    if (st == SIP_SUB_TERMINATED) {
        int w = snprintf(ss, sizeof(ss), "terminated");
        if (reason && *reason) w += snprintf(ss + w, sizeof(ss) - (size_t)w, ";reason=%s", reason);
        if (retry_after >= 0)
            snprintf(ss + w, sizeof(ss) - (size_t)w, ";retry-after=%d", retry_after);
    } else {
        snprintf(ss, sizeof(ss), "%s;expires=%u", st == SIP_SUB_ACTIVE ? "active" : "pending",
                 left_s(s));
    }
    sip_msg_t *req = NULL;
    int rc = sip_dialog_create_request(&req, s->dlg, "NOTIFY");
    if (!rc) rc = add_event(s, req);
    if (!rc) rc = sip_msg_add_header(req, "Subscription-State", ss);
    if (!rc && s->ua) rc = sip_msg_add_header(req, "User-Agent", s->ua->user_agent);
    if (!rc && body)
        rc = sip_msg_set_body(req, s->ctype ? s->ctype : "text/plain", body, strlen(body));
    if (!rc) rc = send_req(s, req, REQ_NOTIFY, st == SIP_SUB_TERMINATED);
    sip_msg_unref(req);
    return rc;
}

static void notifier_response(sip_sub_t *s, const sent_t *x, int status, sip_msg_t *rsp)
{
    if (rsp) emit(s, SIP_SUB_EVENT_RESPONSE, rsp);
    /* RFC 6665 §4.2.2: a NOTIFY that fails (481, a timeout, another error) ends the
     * subscription on the notifier's side. */
    if (status >= 300 && !x->final_notify) sub_end(s, status, rsp);
}

static void on_response(sent_t *x, sip_msg_t *req, sip_msg_t *rsp)
{
    sip_sub_t *s = x->sub;
    int status = sip_msg_get_status(rsp);
    if (status >= 200) x->answered = 1;
    if (status < 200 || s->closed || !s->ua) return;
    hold(s);
    if (x->kind == REQ_NOTIFY) {
        notifier_response(s, x, status, rsp);
    } else {
        /* After a challenge the SUBSCRIBE answered is the one sent again (a higher CSeq):
         * the dialog is made from it. */
        if (x->kind == REQ_SUBSCRIBE && req != s->req && !s->dlg) {
            sip_msg_unref(s->req);
            s->req = sip_msg_ref(req);
        }
        subscriber_response(s, x->kind, status, rsp);
    }
    release(s);
}

void sip_sub_opts_init(sip_sub_opts_t *o)
{
    if (!o) return;
    *o = (sip_sub_opts_t){0};
    o->expires = 3600;
    o->status = 200;
    o->state = SIP_SUB_ACTIVE;
}

int sip_sub_accept(sip_sub_t **out, sip_ua_t *ua, sip_txn_t *txn, const sip_sub_opts_t *opts,
                   sip_sub_event_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    sip_sub_opts_t def;
    if (!opts) {
        sip_sub_opts_init(&def);
        opts = &def;
    }
    sip_msg_t *req = txn ? sip_txn_get_request(txn) : NULL;
    const sip_token_t *ev = req ? sip_header_token(sip_msg_header_at(req, SIP_HDR_EVENT, 0)) : NULL;
    sip_method_t m = req ? sip_msg_get_method(req) : SIP_METHOD_UNKNOWN;
    int refer = m == SIP_METHOD_REFER;
    int nosub = refer && refer_sub_false(req); /* RFC 4488 */
    if (!out || !ua || !req || (m != SIP_METHOD_SUBSCRIBE && !refer) || (!ev && !refer) ||
        (refer && !sip_msg_header_count(req, SIP_HDR_REFER_TO)) ||
        (opts->status != 200 && opts->status != 202) ||
        (opts->state != SIP_SUB_ACTIVE && opts->state != SIP_SUB_PENDING))
        goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed) goto fail;
    const sip_addr_t *to = sip_msg_get_to(req), *from = sip_msg_get_from(req);
    sip_dialog_t *existing = NULL;
    if (to && to->tag.len) {
        /* A new subscription inside one of our dialogs (a call's). */
        existing = sip__ua_dialog_find(ua, sip_msg_get_call_id(req), to->tag, from->tag);
        rc = SIP_EINVAL;
        if (!existing) goto fail;
    }
    rc = SIP_ENOMEM;
    sip__sub_app_t *app = calloc(1, sizeof(*app));
    if (!app) goto fail;
    *app = (sip__sub_app_t){0, cb, user, user_free};
    sip_sub_t *s = sub_new(ua, 0, app);
    if (!s) {
        free(app);
        goto fail;
    }
    s->refs = 1;
    s->refer = refer;
    if (refer) {
        /* RFC 3515 §2.4.6: the implicit subscription of a REFER: Event refer, its id the
         * REFER's CSeq number; the NOTIFYs carry message/sipfrag (§2.4.5), the first one
         * "100 Trying" unless the application has more to say. */
        char num[16];
        snprintf(num, sizeof(num), "%u", sip_msg_get_cseq(req)->seq);
        rc = set_event(s, SIP_STR("refer"), sip_str_from_cstr(num));
        if (!rc)
            rc = copy_str(&s->ctype,
                          opts->content_type ? opts->content_type : "message/sipfrag;version=2.0");
        if (!rc) rc = copy_str(&s->body, opts->body ? opts->body : "SIP/2.0 100 Trying\r\n");
    } else {
        sip_str_t id = {"", 0};
        sip_params_get(ev->params, "id", &id);
        rc = set_event(s, ev->value, id);
        if (!rc) rc = copy_str(&s->ctype, opts->content_type);
        if (!rc) rc = copy_str(&s->body, opts->body);
    }
    s->max_expires = opts->expires;
    int asked = sip_msg_get_expires(req);
    uint32_t granted = asked < 0 ? opts->expires : (uint32_t)asked;
    if (granted > opts->expires) granted = opts->expires;
    sip_msg_t *rsp = NULL;
    /* RFC 3515 §2.4.2: a REFER accepted is answered 202. */
    if (!rc) rc = sip_ua_create_response(&rsp, ua, txn, refer ? 202 : opts->status, NULL);
    if (!rc && !refer) rc = add_uint(rsp, "Expires", granted);
    if (!rc && nosub) rc = sip_msg_add_header(rsp, "Refer-Sub", "false");
    if (!rc && opts->headers) rc = add_lines(rsp, opts->headers);
    sip_dialog_t *d = NULL;
    if (!rc && existing) {
        d = sip_dialog_ref(existing);
        /* A REFER in a call's dialog was checked by the call (RFC 3261 §12.2.2) already. */
        const sip_cseq_t *cs = sip_msg_get_cseq(req);
        if (!(d->remote_cseq_set && d->remote_cseq == cs->seq))
            rc = sip_dialog_receive_request(d, req) > 0 ? SIP_EINVAL : 0;
    } else if (!rc && !nosub) {
        rc = sip_dialog_create_uas(&d, req, rsp);
    }
    if (!rc && !nosub) rc = take_dialog(s, d);
    sip_dialog_unref(d);
    if (!rc) rc = sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
    if (rc) {
        s->app = NULL;
        app->refs--;
        teardown(s);
        s->state = SIP_SUB_TERMINATED;
        s->refs = 0;
        hold(s);
        release(s);
        free(app);
        goto fail;
    }
    if (nosub) {
        /* RFC 4488 §4: accepted without a subscription: over at once, no NOTIFY. */
        s->state = SIP_SUB_TERMINATED;
        s->end_status = 200;
        *out = s;
        return 0;
    }
    link_ua(s);
    s->state = opts->state;
    hold(s);
    if (granted == 0) {
        /* RFC 6665 §4.2.1.2: a fetch (Expires: 0) gets one NOTIFY, which ends it. */
        sip_sub_terminate(s, "timeout", -1, s->body);
    } else {
        arm_expiry(s, granted);
        /* §4.2.1.2: the NOTIFY that says the state at once. */
        if (send_notify(s, s->state, NULL, -1, s->body) != 0) sub_end(s, 500, NULL);
    }
    release(s);
    *out = s;
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_sub_notify(sip_sub_t *s, sip_sub_state_t state, const char *body, const char *content_type)
{
    if (!s || s->subscriber || (state != SIP_SUB_ACTIVE && state != SIP_SUB_PENDING))
        return SIP_EINVAL;
    if (s->state == SIP_SUB_TERMINATED || s->closed || !s->ua) return SIP_ECLOSED;
    int rc = copy_str(&s->ctype, content_type);
    if (!rc && body) rc = copy_str(&s->body, body);
    if (!rc && !body) {
        free(s->body);
        s->body = NULL;
    }
    if (rc) return rc;
    rc = send_notify(s, state, NULL, -1, s->body);
    if (rc) return rc;
    if (s->in_subscribe_cb) s->notified_in_cb = 1;
    hold(s);
    set_state(s, state, NULL);
    release(s);
    return 0;
}

int sip_sub_terminate(sip_sub_t *s, const char *reason, int retry_after, const char *body)
{
    if (!s || s->subscriber) return SIP_EINVAL;
    if (s->state == SIP_SUB_TERMINATED || s->closed || !s->ua) return SIP_ECLOSED;
    if (reason && (strlen(reason) >= sizeof(s->reason) || strpbrk(reason, " ;,\r\n")))
        return SIP_EINVAL;
    int rc = send_notify(s, SIP_SUB_TERMINATED, reason, retry_after, body);
    if (rc) return rc;
    snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
    s->retry_after = retry_after < 0 ? -1 : retry_after;
    sub_end(s, s->expired ? 408 : 200, NULL);
    return 0;
}

/* A SUBSCRIBE of the notifier's dialog: a refresh, or an unsubscribe (RFC 6665 §4.2.1). */
static void notifier_subscribe(sip_sub_t *s, sip_txn_t *txn, sip_msg_t *req)
{
    int asked = sip_msg_get_expires(req);
    uint32_t granted = asked < 0 ? s->max_expires : (uint32_t)asked;
    if (granted > s->max_expires) granted = s->max_expires;
    char num[16];
    snprintf(num, sizeof(num), "%u", granted);
    respond(s, txn, 200, "Expires", num);
    hold(s);
    if (granted == 0) {
        /* §4.2.1.4: an unsubscribe; its NOTIFY says terminated. */
        emit(s, SIP_SUB_EVENT_SUBSCRIBE, req);
        if (s->state != SIP_SUB_TERMINATED) sip_sub_terminate(s, NULL, -1, NULL);
        goto out;
    }
    arm_expiry(s, granted);
    s->in_subscribe_cb = 1;
    s->notified_in_cb = 0;
    emit(s, SIP_SUB_EVENT_SUBSCRIBE, req);
    s->in_subscribe_cb = 0;
    /* §4.2.1.2: a refresh is followed by a NOTIFY with the state at once. */
    if (!s->notified_in_cb && s->state != SIP_SUB_TERMINATED &&
        send_notify(s, s->state, NULL, -1, s->body) != 0)
        sub_end(s, 500, NULL);
out:
    release(s);
}

/* ---- the usage the UA dispatches to ---------------------------------------------------- */

static void usage_request(sip__usage_t *u, sip_dialog_t *d, sip_txn_t *txn, sip_msg_t *req)
{
    sip_sub_t *s = u->owner;
    if (!txn) return;
    hold(s);
    int st = sip_dialog_receive_request(d, req);
    if (st != 0) {
        respond(s, txn, st > 0 ? st : 500, NULL, NULL);
    } else if (sip_msg_get_method(req) == SIP_METHOD_NOTIFY && s->subscriber) {
        subscriber_notify(s, txn, req);
    } else if (sip_msg_get_method(req) == SIP_METHOD_SUBSCRIBE && !s->subscriber) {
        notifier_subscribe(s, txn, req);
    } else {
        /* A NOTIFY to the notifier, a SUBSCRIBE to the subscriber: no such subscription. */
        respond(s, txn, 481, NULL, NULL);
    }
    release(s);
}

static const sip__usage_ops_t usage_ops = {usage_request, NULL};

/* ---- handles and getters ----------------------------------------------------------------- */

sip_sub_t *sip_sub_ref(sip_sub_t *s)
{
    if (s) s->refs++;
    return s;
}

/* Lets go of the application's callback. */
static void drop_app(sip_sub_t *s)
{
    sip__sub_app_t *a = s->app;
    s->app = NULL;
    app_release(a);
}

void sip_sub_unref(sip_sub_t *s)
{
    if (!s || --s->refs > 0) return;
    hold(s);
    /* The application let go of a subscription that goes on: end it properly, so that
     * nothing is left running that nobody can end. */
    if (s->state != SIP_SUB_TERMINATED && !s->closed) {
        drop_app(s);
        if (s->subscriber && !s->unsubscribing) {
            if (sip_sub_unsubscribe(s) != 0) sub_end(s, 0, NULL);
        } else if (!s->subscriber) {
            if (sip_sub_terminate(s, "noresource", -1, NULL) != 0) sub_end(s, 0, NULL);
        }
    }
    drop_app(s);
    release(s);
}

void sip_sub_close(sip_sub_t *s)
{
    if (!s || s->closed) return;
    hold(s);
    s->closed = 1;
    teardown(s);
    if (s->state != SIP_SUB_TERMINATED) s->state = SIP_SUB_TERMINATED;
    drop_app(s);
    release(s);
}

void sip__sub_ua_closed(sip_sub_t *s)
{
    hold(s);
    if (s->state != SIP_SUB_TERMINATED && !s->closed) {
        /* Ends without sending; the application's user_free runs now. */
        s->closed = 1;
        teardown(s);
        s->state = SIP_SUB_TERMINATED;
        drop_app(s);
    }
    list_remove(s);
    s->ua = NULL;
    release(s);
}

sip_sub_state_t sip_sub_get_state(const sip_sub_t *s)
{
    return s ? s->state : SIP_SUB_TERMINATED;
}

const char *sip_sub_state_name(sip_sub_state_t st)
{
    switch (st) {
    case SIP_SUB_INIT: return "Init";
    case SIP_SUB_NOTIFY_WAIT: return "NotifyWait";
    case SIP_SUB_PENDING: return "Pending";
    case SIP_SUB_ACTIVE: return "Active";
    case SIP_SUB_TERMINATED: return "Terminated";
    }
    return "Unknown";
}

const char *sip_sub_event_name(sip_sub_event_t ev)
{
    switch (ev) {
    case SIP_SUB_EVENT_STATE: return "state";
    case SIP_SUB_EVENT_NOTIFY: return "notify";
    case SIP_SUB_EVENT_RESPONSE: return "response";
    case SIP_SUB_EVENT_FORKED: return "forked";
    case SIP_SUB_EVENT_SUBSCRIBE: return "subscribe";
    }
    return "unknown";
}

int sip_sub_is_subscriber(const sip_sub_t *s)
{
    return s ? s->subscriber : 0;
}

sip_str_t sip_sub_get_event(const sip_sub_t *s)
{
    return s ? s->usage.event : (sip_str_t){"", 0};
}

sip_str_t sip_sub_get_id(const sip_sub_t *s)
{
    return s ? s->usage.id : (sip_str_t){"", 0};
}

uint32_t sip_sub_get_expires(const sip_sub_t *s)
{
    return s ? left_s(s) : 0;
}

int sip_sub_get_end_status(const sip_sub_t *s)
{
    return s ? s->end_status : 0;
}

const char *sip_sub_get_reason(const sip_sub_t *s)
{
    return s ? s->reason : "";
}

int sip_sub_get_retry_after(const sip_sub_t *s)
{
    return s ? s->retry_after : -1;
}

sip_dialog_t *sip_sub_get_dialog(sip_sub_t *s)
{
    return s ? s->dlg : NULL;
}

sip_ua_t *sip_sub_get_ua(sip_sub_t *s)
{
    return s && s->state != SIP_SUB_TERMINATED ? s->ua : NULL;
}

size_t sip_sub_count(const sip_ua_t *ua)
{
    return ua ? ua->nsubs : 0;
}
