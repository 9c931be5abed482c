/* SPDX-License-Identifier: MIT */
/* The registration client (RFC 3261 §10.2): REGISTER, refresh on the granted expiry, 423,
 * unregistration, retries, Service-Route (RFC 3608), Path (RFC 3327) and Outbound (RFC 5626). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "msg/msg_int.h"
#include "reg/reg_int.h"
#include "transport/addr.h"
#include "sip/error.h"
#include "sip/param.h"
#include "sip/str.h"

void sip_reg_opts_init(sip_reg_opts_t *o)
{
    if (!o) return;
    *o = (sip_reg_opts_t){0};
    o->expires = 3600;
    o->retry_s = 30;
    o->max_retry_s = 1800;
    o->retry_initial = 1;
}

static const char *const state_names[] = {"registering",   "registered",   "retrying",
                                          "unregistering", "unregistered", "failed"};
static const char *const event_names[] = {NULL,           "registering", "registered", "refreshed",
                                          "unregistered", "failed",      "flow_lost"};

const char *sip_reg_state_name(sip_reg_state_t s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(*state_names) ? state_names[s] : NULL;
}

const char *sip_reg_event_name(sip_reg_event_t e)
{
    return (unsigned)e < sizeof(event_names) / sizeof(*event_names) ? event_names[e] : NULL;
}

static void fire_refresh(sip__tq_entry_t *e);
static void fire_keepalive(sip__tq_entry_t *e);
static void flow_closed(sip__flow_watch_t *w);
static int send_register(sip_reg_t *reg, int kind, const char *unreg_contact);

static char *dup_or_null(const char *s)
{
    return s ? sip__strdup(s) : NULL;
}

/* Replaces *dst with a copy of the n-byte text (NULL on failure: the old one stays). */
static void set_text(char **dst, const char *s, size_t n)
{
    char *c = sip__strndup(s, n);
    if (!c) return;
    free(*dst);
    *dst = c;
}

static void reg_free(sip_reg_t *reg)
{
    free(reg->aor);
    free(reg->registrar);
    free(reg->from);
    free(reg->contact_params);
    free(reg->instance_id);
    free(reg->service_route);
    sip_msg_unref(reg->routes);
    free(reg->path);
    free(reg->bindings);
    free(reg->queued_contact);
    sip_msg_unref(reg->contacts);
    free(reg);
    sip__live_dec(SIP_LIVE_REG);
}

/* ---- the Contact values ------------------------------------------------------------------- */

/* The holder of our Contact headers, made once: the application's list, or the UA's Contact for
 * the listening point the REGISTER goes through (RFC 3261 §10.2.1). */
static int ensure_contacts(sip_reg_t *reg, const sip_msg_t *req)
{
    if (reg->contacts) return 0;
    sip_msg_t *h = NULL;
    int rc = sip_msg_create_request(&h, "OPTIONS", "sip:x");
    if (rc) return rc;
    char c[600];
    sip_netinfo_t ni = {0};
    if (reg->has_dst)
        ni = reg->dst;
    else if (sip__ua_dst(req, &ni) != 0)
        ni.transport = SIP_TRANSPORT_UDP;
    rc = sip__ua_contact(reg->ua, &ni, c, sizeof(c));
    if (!rc) rc = sip_msg_add_header(h, "Contact", c);
    if (rc) {
        sip_msg_unref(h);
        return rc;
    }
    reg->contacts = h;
    return 0;
}

/* Writes the Contact value of our i-th contact as this REGISTER sends it. */
static int contact_value(sip_reg_t *reg, size_t i, int unreg, char *buf, size_t size)
{
    sip_str_t v = sip_header_get_value(sip_msg_header_at(reg->contacts, SIP_HDR_CONTACT, i));
    char ob[400] = "";
    /* RFC 5626 §4.2: the instance-id and reg-id mark the flow this binding uses. */
    if (reg->instance_id && reg->reg_id)
        snprintf(ob, sizeof(ob), ";+sip.instance=\"%s\";reg-id=%u", reg->instance_id,
                 (unsigned)reg->reg_id);
    else if (reg->instance_id)
        snprintf(ob, sizeof(ob), ";+sip.instance=\"%s\"", reg->instance_id);
    int w = snprintf(buf, size, "%.*s%s%s%s", (int)v.len, v.ptr,
                     reg->contact_params ? reg->contact_params : "", ob, unreg ? ";expires=0" : "");
    return w > 0 && (size_t)w < size ? 0 : SIP_EINVAL;
}

/* 1 when a Contact of a 2xx is our i-th binding: by instance-id and reg-id with Outbound
 * (RFC 5626 §6: the registrar may rewrite the URI), else by URI (RFC 3261 §10.2.4, §19.1.4). */
static int is_ours(sip_reg_t *reg, const sip_addr_t *c, size_t i)
{
    if (reg->instance_id) {
        sip_str_t inst, rid;
        if (sip_params_get(c->params, "+sip.instance", &inst)) {
            inst = sip_str_unquote(inst);
            if (!sip_str_caseeq_cstr(inst, reg->instance_id)) return 0;
            if (!reg->reg_id) return 1;
            unsigned long id = 0;
            if (!sip_params_get(c->params, "reg-id", &rid) ||
                sip_str_to_u32(rid, UINT32_MAX, &id) != 0)
                return 0;
            return id == reg->reg_id;
        }
    }
    const sip_addr_t *o = sip_header_addr(sip_msg_header_at(reg->contacts, SIP_HDR_CONTACT, i));
    return o && sip_uri_equal(&o->uri, &c->uri);
}

/* Builds a holder without our i-th contact (an unregistered one). */
static int drop_contact(sip_reg_t *reg, const sip_addr_t *gone)
{
    sip_msg_t *h = NULL;
    int rc = sip_msg_create_request(&h, "OPTIONS", "sip:x");
    size_t n = sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT);
    for (size_t i = 0; !rc && i < n; i++) {
        const sip_header_t *hd = sip_msg_header_at(reg->contacts, SIP_HDR_CONTACT, i);
        const sip_addr_t *a = sip_header_addr(hd);
        if (a && sip_uri_equal(&a->uri, &gone->uri)) continue;
        rc = sip_msg_add_header_copy(h, hd);
    }
    if (rc) {
        sip_msg_unref(h);
        return rc;
    }
    sip_msg_unref(reg->contacts);
    reg->contacts = h;
    return 0;
}

/* ---- the REGISTER ------------------------------------------------------------------------- */

/* One REGISTER in flight (RFC 3261 §10.2: never two at once). reg is weak: closing the
 * registration clears it, and the response then goes nowhere. */
typedef struct reg_req {
    sip_reg_t *reg;
    int kind;      /* REQ_REGISTER or REQ_UNREGISTER */
    int sent;      /* sip_ua_send_request() took it */
    int to_home;   /* sent to reg->home rather than located */
    char *contact; /* the contact unregistered (NULL: ours; "*": all) */
} reg_req_t;

enum { REQ_REGISTER = 1, REQ_UNREGISTER };

static void retry_later(sip_reg_t *reg, const sip_msg_t *rsp);

/* The most rounds of challenges the UA answers in one request (ua/send.c MAX_AUTH_ROUNDS). */
#define REG_AUTH_ROUNDS 8

static void req_free(void *user)
{
    reg_req_t *r = user;
    sip_reg_t *reg = r->reg;
    if (reg && reg->inflight == r) {
        reg->inflight = NULL;
        if (r->sent && !reg->closed && !reg->ua->closed) {
            /* The request ended without a final response reaching on_response(): out of
             * memory, the UA could not make the 408 of a timeout. Challenges may have raised
             * its CSeq without our knowing: skip past them, so that the next REGISTER still
             * counts up (RFC 3261 §10.2), and try again later rather than never (the send
             * stopped the refresh). */
            reg->cseq += REG_AUTH_ROUNDS;
            if (r->kind == REQ_REGISTER) retry_later(reg, NULL);
        }
    }
    free(r->contact);
    free(r);
}

static int build(sip_reg_t *reg, sip_msg_t **out, int kind, const char *unreg_contact)
{
    sip_msg_t *m = NULL;
    int rc = sip_msg_create_request(&m, "REGISTER", reg->registrar);
    if (rc) return rc;
    char buf[1200];
    rc = ensure_contacts(reg, m);
    if (!rc) rc = sip_msg_add_header(m, "Max-Forwards", "70");
    if (!rc) {
        /* §10.2: To is the AOR; From too unless a third party registers it. */
        snprintf(buf, sizeof(buf), "<%s>", reg->aor);
        rc = sip_msg_add_header(m, "To", buf);
    }
    if (!rc) {
        if (reg->from)
            snprintf(buf, sizeof(buf), "%s;tag=%s", reg->from, reg->tag);
        else
            snprintf(buf, sizeof(buf), "<%s>;tag=%s", reg->aor, reg->tag);
        rc = sip_msg_add_header(m, "From", buf);
    }
    /* §10.2: one Call-ID for every REGISTER to this registrar, the CSeq one higher each time
     * (after a challenge, one higher than the authorised request). */
    if (!rc) rc = sip_msg_add_header(m, "Call-ID", reg->call_id);
    if (!rc) {
        snprintf(buf, sizeof(buf), "%u REGISTER", (unsigned)++reg->cseq);
        rc = sip_msg_add_header(m, "CSeq", buf);
    }
    if (!rc && kind == REQ_UNREGISTER && unreg_contact && strcmp(unreg_contact, "*") == 0) {
        /* §10.2.2: Contact: * with Expires: 0 removes every binding of the AOR. */
        rc = sip_msg_add_header(m, "Contact", "*");
    } else if (!rc && kind == REQ_UNREGISTER && unreg_contact) {
        snprintf(buf, sizeof(buf), "%s;expires=0", unreg_contact);
        rc = sip_msg_add_header(m, "Contact", buf);
    } else {
        size_t n = sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT);
        for (size_t i = 0; !rc && i < n; i++) {
            rc = contact_value(reg, i, kind == REQ_UNREGISTER, buf, sizeof(buf));
            if (!rc) rc = sip_msg_add_header(m, "Contact", buf);
        }
    }
    if (!rc) {
        snprintf(buf, sizeof(buf), "%u", kind == REQ_UNREGISTER ? 0u : (unsigned)reg->expires);
        rc = sip_msg_add_header(m, "Expires", buf);
    }
    /* RFC 3327 §5: a UA that understands Path says so; RFC 5626 §4.2: so does Outbound. */
    if (!rc)
        rc = sip_msg_add_header(m, "Supported",
                                reg->instance_id && reg->reg_id ? "path, outbound" : "path");
    if (!rc) rc = sip__msg_copy_headers(m, reg->ua->deco, SIP_HDR_USER_AGENT);
    if (rc) {
        sip_msg_unref(m);
        return rc == SIP_EINVAL ? SIP_EPARSE : rc;
    }
    *out = m;
    return 0;
}

static void on_response(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user);

static int send_register(sip_reg_t *reg, int kind, const char *unreg_contact)
{
    if (reg->closed || reg->ua->closed) return SIP_ECLOSED;
    if (reg->inflight) {
        /* §10.2: one at a time; this one goes when the final response to that one came. An
         * unregistration takes the place of a queued refresh. */
        if (kind == REQ_UNREGISTER || !reg->queued) {
            char *c = dup_or_null(unreg_contact);
            if (unreg_contact && !c) return SIP_ENOMEM;
            free(reg->queued_contact);
            reg->queued_contact = c;
            reg->queued = kind;
        }
        return 0;
    }
    reg_req_t *r = calloc(1, sizeof(*r));
    if (!r) return SIP_ENOMEM;
    r->kind = kind;
    if (unreg_contact && !(r->contact = sip__strdup(unreg_contact))) {
        free(r);
        return SIP_ENOMEM;
    }
    sip_msg_t *m = NULL;
    int rc = build(reg, &m, kind, unreg_contact);
    if (rc) {
        req_free(r);
        return rc;
    }
    r->reg = reg;
    reg->inflight = r;
    /* A REGISTER's 2xx arms the next refresh; an unregistration leaves it (the contacts left,
     * or a failure, keep the registration as it was). */
    if (kind == REQ_REGISTER) {
        sip__tq_stop(&reg->ua->tq, &reg->t_refresh);
        reg->next_due = 0;
    }
    /* A registrar found through DNS keeps the server that took the binding (reg->home): a
     * refresh that made a new RFC 2782 weighted pick each time would move the binding between
     * the servers of the domain for no reason (and, with Outbound, onto a new flow). */
    const sip_netinfo_t *dst = reg->has_dst ? &reg->dst : reg->has_home ? &reg->home : NULL;
    r->to_home = !reg->has_dst && reg->has_home;
    rc = sip_ua_send_request(reg->ua, m, dst, on_response, r, req_free);
    /* r lives on until req_free() when the call succeeded (a failing one freed it). */
    if (!rc && reg->inflight == r) r->sent = 1;
    sip_msg_unref(m);
    return rc;
}

/* ---- timers ------------------------------------------------------------------------------- */

static void arm_refresh(sip_reg_t *reg, uint64_t delay_ms)
{
    sip__tq_start(&reg->ua->tq, &reg->t_refresh, delay_ms);
    reg->next_due = sip__tq_now(&reg->ua->tq) + delay_ms;
}

/* The refresh rule: half the grant when it is 64 s or less, else 32 s before it expires (one
 * non-INVITE transaction's 64*T1), so that a refresh that times out still leaves time for a
 * retry. PJSIP refreshes 5 s before expiry; a margin of a whole transaction timeout is safer. */
uint64_t sip__reg_refresh_delay_ms(uint32_t granted_s)
{
    uint64_t g = (uint64_t)granted_s * 1000;
    return granted_s <= 64 ? g / 2 : g - 32000;
}

static void emit(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg)
{
    if (!reg->closed && reg->cb) reg->cb(reg, ev, status, msg, reg->user);
}

static void stop_flow(sip_reg_t *reg)
{
    sip__flow_unwatch(&reg->watch);
    sip__tq_stop(&reg->ua->tq, &reg->t_ka);
    reg->flow_conn = 0;
    reg->ka_checking = 0;
}

static void retry_later(sip_reg_t *reg, const sip_msg_t *rsp)
{
    /* RFC 5626 §4.5: the wait doubles with each failure in a row, up to a ceiling. */
    uint64_t wait = reg->retry_s;
    for (unsigned i = 0; i < reg->failures && wait < reg->max_retry_s; i++)
        wait *= 2;
    if (wait > reg->max_retry_s) wait = reg->max_retry_s;
    /* A Retry-After of a 503 (RFC 3261 §21.5.4) says how long the registrar wants. */
    const sip_header_t *ra = rsp ? sip_msg_header_at(rsp, SIP_HDR_RETRY_AFTER, 0) : NULL;
    const sip_num_t *n = ra ? sip_header_num(ra) : NULL;
    if (n && n->value > wait) wait = n->value;
    reg->failures++;
    reg->state = SIP_REG_STATE_RETRYING;
    arm_refresh(reg, wait * 1000);
}

static void fire_refresh(sip__tq_entry_t *e)
{
    sip_reg_t *reg = (sip_reg_t *)((char *)e - offsetof(sip_reg_t, t_refresh));
    if (reg->closed) return;
    if (reg->inflight) {
        /* An unregistration is out: the refresh waits for its answer (§10.2: one at a time). */
        arm_refresh(reg, 1000);
        return;
    }
    sip_reg_ref(reg);
    reg->next_due = 0;
    int again = reg->state != SIP_REG_STATE_REGISTERED;
    if (reg->flow_lost) {
        reg->flow_lost = 0;
        again = 1;
        emit(reg, SIP_REG_EVENT_FLOW_LOST, 0, NULL);
    }
    if (!reg->closed && again) {
        reg->state = SIP_REG_STATE_REGISTERING;
        emit(reg, SIP_REG_EVENT_REGISTERING, 0, NULL);
    }
    if (!reg->closed && !reg->inflight) {
        int rc = send_register(reg, REQ_REGISTER, NULL);
        if (rc && !reg->closed) {
            /* The transport refused at once: a failure like a 503 without a response. */
            reg->state = SIP_REG_STATE_RETRYING;
            retry_later(reg, NULL);
            emit(reg, SIP_REG_EVENT_FAILED, 503, NULL);
        }
    }
    sip_reg_unref(reg);
}

/* ---- RFC 5626 flows ----------------------------------------------------------------------- */

static void flow_closed(sip__flow_watch_t *w)
{
    sip_reg_t *reg = (sip_reg_t *)((char *)w - offsetof(sip_reg_t, watch));
    /* The transport is closing the connection: register again from the loop, not from here. */
    sip__tq_stop(&reg->ua->tq, &reg->t_ka);
    reg->flow_conn = 0;
    reg->ka_checking = 0;
    if (reg->closed || reg->state != SIP_REG_STATE_REGISTERED) return;
    reg->flow_lost = 1;
    arm_refresh(reg, 0);
}

static sip_transport_t *reg_tp(sip_reg_t *reg)
{
    return reg->ua->layer ? sip_txn_layer_get_transport(reg->ua->layer) : NULL;
}

/* RFC 5626 §4.4.1: a missed pong or a failed ping: the flow is dead. §4.5: the new REGISTER
 * goes over a new flow, so the old connection is closed first (left open, the transport would
 * send the REGISTER over it again); the refresh timer sends it from the loop. */
static void flow_failed(sip_reg_t *reg)
{
    uint64_t conn = reg->flow_conn;
    stop_flow(reg);
    sip__flow_close(reg_tp(reg), conn);
    reg->flow_lost = 1;
    arm_refresh(reg, 0);
}

static void fire_keepalive(sip__tq_entry_t *e)
{
    sip_reg_t *reg = (sip_reg_t *)((char *)e - offsetof(sip_reg_t, t_ka));
    if (reg->closed || !reg->flow_conn) return;
    sip_transport_t *tp = reg_tp(reg);
    if (reg->ka_checking) {
        /* RFC 5626 §4.4.1: no pong within 10 s of the ping: the flow failed. */
        reg->ka_checking = 0;
        if (sip__flow_pongs(tp, reg->flow_conn) == reg->ka_pongs) {
            flow_failed(reg);
            return;
        }
        sip__tq_start(&reg->ua->tq, &reg->t_ka, (uint64_t)reg->ka_period_s * 1000 - 10000);
        return;
    }
    reg->ka_pongs = sip__flow_pongs(tp, reg->flow_conn);
    if (sip__flow_ping(tp, reg->flow_conn) != 0) {
        flow_failed(reg);
        return;
    }
    reg->pings++;
    if (reg->expect_pong) {
        reg->ka_checking = 1;
        sip__tq_start(&reg->ua->tq, &reg->t_ka, 10000);
    } else {
        sip__tq_start(&reg->ua->tq, &reg->t_ka, (uint64_t)reg->ka_period_s * 1000);
    }
}

/* After a 2xx: the flow it came over is watched, and kept alive, when Outbound is on or a
 * keep-alive period was asked for (RFC 5626 §4.4). */
static void start_flow(sip_reg_t *reg, const sip_msg_t *rsp)
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(rsp);
    int outbound = reg->instance_id && reg->reg_id;
    if (!ni || !ni->conn_id || !sip_transport_is_reliable(ni->transport)) return;
    if (!outbound && !reg->keepalive_s) return;
    if (reg->flow_conn == ni->conn_id && reg->watch.tp) return;
    stop_flow(reg);
    sip_transport_t *tp = reg_tp(reg);
    if (!tp || sip__flow_watch(tp, &reg->watch, ni->conn_id) != 0) return;
    reg->flow_conn = ni->conn_id;
    /* §4.4.1: the registrar's Flow-Timer is the most it waits between keep-alives; a pong is
     * expected only from a registrar that Requires outbound (the edge proxy answers them). */
    uint32_t period = reg->keepalive_s ? reg->keepalive_s : 90;
    const sip_header_t *ft = sip_msg_header_by_name(rsp, "Flow-Timer", 0);
    if (ft && !reg->keepalive_s) {
        sip_str_t v = sip_header_get_value(ft);
        unsigned long f = 0;
        if (sip_str_to_u32(v, UINT32_MAX, &f) != 0) f = 0;
        /* §4.4.1: send a little before the server's limit (80-100% of it). */
        if (f >= 15) period = (uint32_t)(f - f / 10);
    }
    if (period < 11) period = 11;
    reg->ka_period_s = period;
    reg->expect_pong = 0;
    size_t nr = sip_msg_header_count(rsp, SIP_HDR_REQUIRE);
    for (size_t i = 0; i < nr; i++) {
        const sip_token_t *t = sip_header_token(sip_msg_header_at(rsp, SIP_HDR_REQUIRE, i));
        if (t && sip_str_caseeq_cstr(t->value, "outbound")) reg->expect_pong = 1;
    }
    sip__tq_start(&reg->ua->tq, &reg->t_ka, (uint64_t)period * 1000);
}

/* ---- responses ---------------------------------------------------------------------------- */

/* Joins the values of a header of rsp into *dst, comma-separated. */
static void keep_list(char **dst, const sip_msg_t *rsp, sip_hdr_id_t id)
{
    char buf[4096];
    size_t len = 0, n = sip_msg_header_count(rsp, id);
    for (size_t i = 0; i < n; i++) {
        sip_str_t v = sip_header_get_value(sip_msg_header_at(rsp, id, i));
        int w = snprintf(buf + len, sizeof(buf) - len, "%s%.*s", i ? ", " : "", (int)v.len, v.ptr);
        if (w < 0 || (size_t)w >= sizeof(buf) - len) break;
        len += (size_t)w;
    }
    set_text(dst, buf, len);
}

/* Keeps the Service-Route of a 2xx (NULL: none) as Route headers, ready to copy. */
static int keep_routes(sip_reg_t *reg, const sip_msg_t *rsp)
{
    size_t n = rsp ? sip_msg_header_count(rsp, SIP_HDR_SERVICE_ROUTE) : 0;
    sip_msg_t *h = NULL;
    int rc = 0;
    if (n) rc = sip_msg_create_request(&h, "OPTIONS", "sip:x");
    for (size_t i = 0; !rc && i < n; i++) {
        sip_str_t v = sip_header_get_value(sip_msg_header_at(rsp, SIP_HDR_SERVICE_ROUTE, i));
        char *c = sip__strndup(v.ptr, v.len);
        rc = c ? sip_msg_add_header(h, "Route", c) : SIP_ENOMEM;
        free(c);
    }
    if (rc) {
        sip_msg_unref(h);
        return rc;
    }
    sip_msg_unref(reg->routes);
    reg->routes = h;
    return 0;
}

const sip_msg_t *sip__reg_service_route(sip_ua_t *ua, const sip_msg_t *req)
{
    /* RFC 3608 §6: the Service-Route is for requests sent on behalf of the AOR registered:
     * the registration whose AOR is the From of the request (RFC 3261 §19.1.4 comparison);
     * none for another identity. */
    const sip_addr_t *from = sip_msg_get_from(req);
    if (!from || !from->uri.raw.len) return NULL;
    for (sip_reg_t *reg = ua->regs; reg; reg = reg->next) {
        if (reg->closed || !reg->routes || !reg->aor) continue;
        if (sip_uri_equal(&reg->aor_uri, &from->uri)) return reg->routes;
    }
    return NULL;
}

/* The expiry granted to our bindings: the least expires param of our Contacts in the 2xx, else
 * its Expires header, else what was asked (RFC 3261 §10.2.4, §10.3 step 8). */
static uint32_t granted(sip_reg_t *reg, const sip_msg_t *rsp)
{
    long best = -1;
    size_t n = sip_msg_header_count(rsp, SIP_HDR_CONTACT);
    size_t mine = sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT);
    int hdr = sip_msg_get_expires(rsp);
    for (size_t i = 0; i < n; i++) {
        const sip_addr_t *c = sip_header_addr(sip_msg_header_at(rsp, SIP_HDR_CONTACT, i));
        if (!c || c->star) continue;
        for (size_t j = 0; j < mine; j++) {
            if (!is_ours(reg, c, j)) continue;
            long e = c->expires >= 0 ? c->expires : hdr >= 0 ? hdr : (long)reg->expires;
            if (best < 0 || e < best) best = e;
            break;
        }
    }
    if (best < 0) best = hdr >= 0 ? hdr : (long)reg->expires;
    return (uint32_t)best;
}

static int transient(int status)
{
    return status == 408 || status == 480 || status == 500 || status == 503 || status == 504 ||
           status == 600;
}

static void send_queued(sip_reg_t *reg)
{
    if (!reg->queued || reg->closed || reg->inflight) return;
    int kind = reg->queued;
    char *c = reg->queued_contact;
    reg->queued = 0;
    reg->queued_contact = NULL;
    if (kind == REQ_UNREGISTER && reg->state != SIP_REG_STATE_UNREGISTERING) {
        /* The REGISTER before it may have changed the state: this one is what goes now. */
        reg->unreg_prev = (int)reg->state;
        reg->state = SIP_REG_STATE_UNREGISTERING;
    }
    int rc = send_register(reg, kind, c);
    free(c);
    if (rc && !reg->closed) {
        if (kind == REQ_REGISTER) retry_later(reg, NULL);
        emit(reg, SIP_REG_EVENT_FAILED, 503, NULL);
    }
}

/* The server a located REGISTER reached (where the request was last sent), kept as home. */
static void keep_home(sip_reg_t *reg, const sip_msg_t *req)
{
    const sip_netinfo_t *ni = req ? sip_msg_get_netinfo(req) : NULL;
    sip_uri_t u;
    if (reg->has_dst || !ni || !ni->remote_ip[0] || !ni->remote_port) return;
    /* Only a registrar named by a domain: an address is where it is anyway. */
    if (sip_uri_parse(&u, reg->registrar, strlen(reg->registrar)) != 0 ||
        u.host_type == SIP_HOST_IPV4 || u.host_type == SIP_HOST_IPV6)
        return;
    sip_netinfo_t h = {0};
    h.transport = ni->transport;
    memcpy(h.remote_ip, ni->remote_ip, sizeof(h.remote_ip));
    h.remote_port = ni->remote_port;
    memcpy(h.server_name, ni->server_name, sizeof(h.server_name));
    reg->home = h;
    reg->has_home = 1;
}

/* The home server failed (no response, a transport error, a 503): RFC 3263 §4.3 goes on to the
 * next server of the domain, and RFC 5626 §4.2.1 has a REGISTER that is retried revisit the DNS
 * results so that another host may be chosen. The resolver lists this one last for a while (a
 * 503's Retry-After says how long, RFC 3261 §21.5.4) and the REGISTER goes again at once,
 * located afresh. 1 when it went. */
static int leave_home(sip_reg_t *reg, reg_req_t *r, int status, const sip_msg_t *rsp)
{
    if (!r->to_home || !reg->has_home || (status != 408 && status != 503)) return 0;
    reg->has_home = 0;
    sip_transport_t *tp = reg_tp(reg);
    sip_resolver_t *res = tp ? sip_transport_get_resolver(tp) : NULL;
    uint32_t ms = 0;
    const sip_header_t *ra = rsp ? sip_msg_header_at(rsp, SIP_HDR_RETRY_AFTER, 0) : NULL;
    const sip_num_t *n = ra ? sip_header_num(ra) : NULL;
    if (n && n->value) ms = n->value > 3600 ? 3600000u : n->value * 1000u;
    if (res) sip_resolver_mark_failed(res, &reg->home, ms);
    char a[SIP__ADDR_STRLEN];
    sip_log(reg->ua->loop, SIP_LOG_INFO, "reg", "%s: registrar %s failed (%d); trying the others",
            reg->aor,
            sip__addr_str(a, reg->home.transport, reg->home.remote_ip, reg->home.remote_port),
            status);
    return send_register(reg, r->kind, r->contact) == 0;
}

static void on_register_2xx(sip_reg_t *reg, sip_msg_t *rsp)
{
    reg->granted = granted(reg, rsp);
    keep_list(&reg->service_route, rsp, SIP_HDR_SERVICE_ROUTE);
    keep_list(&reg->path, rsp, SIP_HDR_PATH);
    keep_list(&reg->bindings, rsp, SIP_HDR_CONTACT);
    /* RFC 3608 §6: later requests for this AOR carry the Service-Route as their preloaded
     * route (a holder that cannot be made keeps the one before). */
    keep_routes(reg, rsp);
    int first = reg->state != SIP_REG_STATE_REGISTERED;
    reg->state = SIP_REG_STATE_REGISTERED;
    reg->failures = 0;
    reg->n423 = 0;
    reg->ever_registered = 1;
    if (reg->granted) arm_refresh(reg, sip__reg_refresh_delay_ms(reg->granted));
    start_flow(reg, rsp);
    emit(reg, first ? SIP_REG_EVENT_REGISTERED : SIP_REG_EVENT_REFRESHED, 200, rsp);
}

static void on_unregister_2xx(sip_reg_t *reg, reg_req_t *r, sip_msg_t *rsp, int prev)
{
    keep_list(&reg->bindings, rsp, SIP_HDR_CONTACT);
    int all = !r->contact || strcmp(r->contact, "*") == 0;
    if (!all) {
        /* One contact: ours goes from the list; the others stay registered. */
        sip_msg_t *tmp = NULL;
        char hv[700];
        snprintf(hv, sizeof(hv), "%s", r->contact);
        if (sip_msg_create_request(&tmp, "OPTIONS", "sip:x") == 0 &&
            sip_msg_add_header(tmp, "Contact", hv) == 0) {
            const sip_addr_t *a = sip_header_addr(sip_msg_header_at(tmp, SIP_HDR_CONTACT, 0));
            if (a) drop_contact(reg, a);
        }
        sip_msg_unref(tmp);
        all = sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT) == 0;
    }
    if (all) {
        sip__tq_stop(&reg->ua->tq, &reg->t_refresh);
        reg->next_due = 0;
        stop_flow(reg);
        reg->granted = 0;
        reg->state = SIP_REG_STATE_UNREGISTERED;
        free(reg->service_route);
        reg->service_route = NULL;
        keep_routes(reg, NULL);
    } else {
        reg->state = (sip_reg_state_t)prev;
    }
    emit(reg, SIP_REG_EVENT_UNREGISTERED, sip_msg_get_status(rsp), rsp);
}

static void on_response(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp, void *user)
{
    (void)ua;
    reg_req_t *r = user;
    sip_reg_t *reg = r->reg;
    int status = rsp ? sip_msg_get_status(rsp) : 503;
    if (!reg || reg->closed || status < 200) return;
    /* §10.2: the CSeq goes on from the request actually sent (a challenge raised it). */
    const sip_cseq_t *cs = req ? sip_msg_get_cseq(req) : NULL;
    if (cs && cs->seq > reg->cseq) reg->cseq = cs->seq;
    r->reg = NULL;
    reg->inflight = NULL;
    sip_reg_ref(reg);
    int prev = reg->unreg_prev;
    int failed = 0;
    if (leave_home(reg, r, status, rsp)) {
        sip_reg_unref(reg);
        return;
    }
    if (status < 300) {
        if (r->kind == REQ_REGISTER) {
            keep_home(reg, req);
            on_register_2xx(reg, rsp);
        } else {
            on_unregister_2xx(reg, r, rsp, prev);
        }
    } else if (status == 423 && r->kind == REQ_REGISTER) {
        /* §10.2.8: 423 with Min-Expires: ask again for at least that (a few times at most). */
        const sip_header_t *h = sip_msg_header_at(rsp, SIP_HDR_MIN_EXPIRES, 0);
        const sip_num_t *mn = h ? sip_header_num(h) : NULL;
        failed = 1;
        if (mn && mn->value > reg->expires && reg->n423 < 3) {
            reg->expires = mn->value;
            reg->n423++;
            failed = send_register(reg, REQ_REGISTER, NULL) != 0;
        }
    } else {
        failed = 1;
    }
    if (failed && !reg->closed) {
        if (r->kind == REQ_UNREGISTER) {
            /* The bindings stay as they were. */
            reg->state = (sip_reg_state_t)prev;
        } else {
            int was = reg->state == SIP_REG_STATE_REGISTERED || reg->ever_registered;
            if (was || (reg->retry_initial && transient(status))) {
                retry_later(reg, rsp);
            } else {
                sip__tq_stop(&reg->ua->tq, &reg->t_refresh);
                reg->next_due = 0;
                stop_flow(reg);
                reg->state = SIP_REG_STATE_FAILED;
            }
        }
        emit(reg, SIP_REG_EVENT_FAILED, status, rsp);
    }
    send_queued(reg);
    sip_reg_unref(reg);
}

/* ---- the handle --------------------------------------------------------------------------- */

int sip_reg_create(sip_reg_t **out, sip_ua_t *ua, const char *aor, const sip_reg_opts_t *opts,
                   sip_reg_event_cb cb, void *user, sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (out) *out = NULL;
    sip_reg_opts_t def;
    if (!opts) {
        sip_reg_opts_init(&def);
        opts = &def;
    }
    if (!out || !ua || !aor) goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed || !ua->layer) goto fail;
    /* The AOR and registrar must be SIP or SIPS URIs (§10.2: the registrar defaults to the
     * AOR's domain, with no user part). */
    sip_uri_t u;
    rc = SIP_EURI;
    if (sip_uri_parse(&u, aor, strlen(aor)) != 0 ||
        (u.scheme != SIP_URI_SIP && u.scheme != SIP_URI_SIPS) || !u.host.len)
        goto fail;
    if (opts->registrar) {
        sip_uri_t r;
        if (sip_uri_parse(&r, opts->registrar, strlen(opts->registrar)) != 0 ||
            (r.scheme != SIP_URI_SIP && r.scheme != SIP_URI_SIPS))
            goto fail;
    }
    rc = SIP_ENOMEM;
    sip_reg_t *reg = calloc(1, sizeof(*reg));
    if (!reg) goto fail;
    sip__live_inc(SIP_LIVE_REG);
    reg->refs = 1;
    reg->ua = ua;
    reg->aor = sip__strdup(aor);
    if (reg->aor) sip_uri_parse(&reg->aor_uri, reg->aor, strlen(reg->aor)); /* checked above */
    if (opts->registrar) {
        reg->registrar = sip__strdup(opts->registrar);
    } else {
        char b[600], port[8] = "";
        if (u.port) snprintf(port, sizeof(port), ":%u", (unsigned)u.port);
        snprintf(b, sizeof(b), "%.*s:%.*s%s", (int)u.scheme_str.len, u.scheme_str.ptr,
                 (int)u.host.len, u.host.ptr, port);
        reg->registrar = sip__strdup(b);
    }
    reg->from = dup_or_null(opts->from);
    reg->contact_params = dup_or_null(opts->contact_params);
    reg->instance_id = dup_or_null(opts->instance_id);
    reg->expires = opts->expires ? opts->expires : 3600;
    reg->reg_id = opts->reg_id;
    reg->keepalive_s = opts->keepalive_s;
    reg->retry_s = opts->retry_s ? opts->retry_s : 30;
    reg->max_retry_s = opts->max_retry_s ? opts->max_retry_s : 1800;
    if (reg->max_retry_s < reg->retry_s) reg->max_retry_s = reg->retry_s;
    reg->retry_initial = opts->retry_initial;
    if (opts->dst) {
        reg->has_dst = 1;
        reg->dst = *opts->dst;
    }
    sip__tq_entry_init(&reg->t_refresh, fire_refresh);
    sip__tq_entry_init(&reg->t_ka, fire_keepalive);
    reg->watch.closed = flow_closed;
    if (!reg->aor || !reg->registrar || (opts->from && !reg->from) ||
        (opts->contact_params && !reg->contact_params) || (opts->instance_id && !reg->instance_id))
        goto fail_reg;
    if (sip_random_hex(64, reg->tag, sizeof(reg->tag)) < 0 ||
        sip_random_hex(128, reg->call_id, sizeof(reg->call_id)) < 0) {
        rc = SIP_EIO;
        goto fail_reg;
    }
    if (opts->contacts) {
        rc = sip_msg_create_request(&reg->contacts, "OPTIONS", "sip:x");
        if (!rc) rc = sip_msg_add_header(reg->contacts, "Contact", opts->contacts);
        if (rc == SIP_EINVAL) rc = SIP_EPARSE;
        if (!rc && !sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT)) rc = SIP_EPARSE;
        for (size_t i = 0; !rc && i < sip_msg_header_count(reg->contacts, SIP_HDR_CONTACT); i++) {
            const sip_addr_t *a =
                sip_header_addr(sip_msg_header_at(reg->contacts, SIP_HDR_CONTACT, i));
            if (!a || a->star) rc = SIP_EPARSE;
        }
        if (rc) goto fail_reg;
    }
    rc = sip__tq_reserve(&ua->tq, 2);
    if (rc) goto fail_reg;
    sip_ua_ref(ua);
    reg->next = ua->regs;
    if (reg->next) reg->next->prev = reg;
    ua->regs = reg;
    reg->state = SIP_REG_STATE_REGISTERING;
    rc = send_register(reg, REQ_REGISTER, NULL);
    if (rc) {
        reg->cb = NULL;
        sip_reg_close(reg);
        sip_reg_unref(reg);
        goto fail;
    }
    reg->cb = cb;
    reg->user = user;
    reg->user_free = user_free;
    *out = reg;
    return 0;
fail_reg:
    reg_free(reg);
fail:
    if (user_free) user_free(user);
    return rc;
}

sip_reg_t *sip_reg_ref(sip_reg_t *reg)
{
    if (reg) reg->refs++;
    return reg;
}

void sip_reg_close(sip_reg_t *reg)
{
    if (!reg || reg->closed) return;
    reg->closed = 1;
    sip_ua_t *ua = reg->ua;
    sip__tq_stop(&ua->tq, &reg->t_refresh);
    stop_flow(reg);
    if (reg->inflight) {
        reg->inflight->reg = NULL;
        reg->inflight = NULL;
    }
    if (reg->prev)
        reg->prev->next = reg->next;
    else if (ua->regs == reg)
        ua->regs = reg->next;
    if (reg->next) reg->next->prev = reg->prev;
    reg->next = reg->prev = NULL;
    sip_free_fn f = reg->user_free;
    void *u = reg->user;
    reg->cb = NULL;
    reg->user_free = NULL;
    if (f) f(u);
}

void sip_reg_unref(sip_reg_t *reg)
{
    if (!reg || --reg->refs > 0) return;
    reg->refs = 1;
    sip_reg_close(reg);
    if (--reg->refs > 0) return;
    sip_ua_t *ua = reg->ua;
    reg_free(reg);
    sip_ua_unref(ua);
}

void sip__reg_ua_closed(sip_reg_t *reg)
{
    sip_reg_close(reg);
}

int sip_reg_unregister(sip_reg_t *reg, const char *contact)
{
    if (!reg) return SIP_EINVAL;
    if (reg->closed || reg->ua->closed) return SIP_ECLOSED;
    if (contact && strcmp(contact, "*") != 0) {
        /* One binding: it must parse as a Contact value. */
        sip_msg_t *tmp = NULL;
        int rc = sip_msg_create_request(&tmp, "OPTIONS", "sip:x");
        if (!rc) rc = sip_msg_add_header(tmp, "Contact", contact);
        if (!rc && sip_msg_header_count(tmp, SIP_HDR_CONTACT) != 1) rc = SIP_EPARSE;
        sip_msg_unref(tmp);
        if (rc) return rc == SIP_EINVAL ? SIP_EPARSE : rc;
    }
    if (reg->state != SIP_REG_STATE_UNREGISTERING) reg->unreg_prev = (int)reg->state;
    int rc = send_register(reg, REQ_UNREGISTER, contact);
    if (!rc) reg->state = SIP_REG_STATE_UNREGISTERING;
    return rc;
}

int sip_reg_refresh(sip_reg_t *reg)
{
    if (!reg) return SIP_EINVAL;
    if (reg->closed || reg->ua->closed) return SIP_ECLOSED;
    if (reg->state != SIP_REG_STATE_REGISTERED) reg->state = SIP_REG_STATE_REGISTERING;
    return send_register(reg, REQ_REGISTER, NULL);
}

sip_reg_state_t sip_reg_get_state(const sip_reg_t *reg)
{
    return reg ? reg->state : SIP_REG_STATE_FAILED;
}

uint32_t sip_reg_get_expires(const sip_reg_t *reg)
{
    return reg ? reg->granted : 0;
}

int64_t sip_reg_next_ms(const sip_reg_t *reg)
{
    if (!reg || reg->closed || !sip__tq_active(&reg->t_refresh)) return -1;
    uint64_t now = sip__tq_now(&reg->ua->tq);
    return reg->next_due > now ? (int64_t)(reg->next_due - now) : 0;
}

const char *sip_reg_get_aor(const sip_reg_t *reg)
{
    return reg ? reg->aor : NULL;
}

const char *sip_reg_get_service_route(const sip_reg_t *reg)
{
    return reg && reg->service_route ? reg->service_route : "";
}

const char *sip_reg_get_path(const sip_reg_t *reg)
{
    return reg && reg->path ? reg->path : "";
}

const char *sip_reg_get_bindings(const sip_reg_t *reg)
{
    return reg && reg->bindings ? reg->bindings : "";
}

sip_ua_t *sip_reg_get_ua(sip_reg_t *reg)
{
    return reg && !reg->closed ? reg->ua : NULL;
}
