/* SPDX-License-Identifier: MIT */
/* The registrar (RFC 3261 §10.3): REGISTER requests into the location service, with Path
 * (RFC 3327), Service-Route (RFC 3608) and SIP Outbound flows (RFC 5626 §6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/live_int.h"
#include "core/mem.h"
#include "sip/error.h"
#include "sip/registrar.h"
#include "stats/stats_int.h"

#ifndef SIP_VERSION_STRING
#define SIP_VERSION_STRING "0"
#endif

/* The longest AOR key and Contact value the registrar writes. */
#define AOR_MAX 1024

/* Bindings per AOR when max_contacts is 0: more than any user's devices, few enough that one
 * user's REGISTERs cannot grow the location service, nor the scan of each Contact against
 * each binding (§10.3 step 7), without bound. */
#define CONTACTS_CEILING 256

/* The longest Call-ID a binding keeps (as Kamailio's usrloc, 255 octets), and +sip.instance. */
#define CALL_ID_MAX 256
#define INSTANCE_MAX 256

/* RFC 3261 §20.33: how long a UA waits before trying again when the location service is away
 * (the store reconnects within two seconds of it coming back). */
#define RETRY_AFTER "5"

struct sip_registrar {
    int refs;
    sip_location_t *loc;
    sip_registrar_opts_t o;
    char *service_route, *server; /* owned copies of the options' strings, NULL for none */
};

void sip_registrar_opts_init(sip_registrar_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->min_expires = 60;
    opts->max_expires = 3600;
    opts->default_expires = 3600;
    opts->path = 1;
    opts->flow_timer = 120;
    opts->outbound = 1;
    opts->auth_required = 1;
    opts->server = "libsip/" SIP_VERSION_STRING;
}

int sip_registrar_create(sip_registrar_t **out, sip_location_t *loc,
                         const sip_registrar_opts_t *opts)
{
    sip_registrar_opts_t def;
    if (out) *out = NULL;
    if (!opts) {
        sip_registrar_opts_init(&def);
        opts = &def;
    }
    /* A default above the maximum is granted as the maximum, like any other expiry. */
    if (!out || !loc || opts->min_expires > opts->max_expires || !opts->max_expires)
        return SIP_EINVAL;
    /* Values that go into a header as they are: no line breaks. */
    const char *strs[2] = {opts->service_route, opts->server};
    for (int i = 0; i < 2; i++)
        for (const char *p = strs[i]; p && *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t') return SIP_EINVAL;
    sip_registrar_t *r = calloc(1, sizeof(*r));
    if (!r) return SIP_ENOMEM;
    r->o = *opts;
    if ((opts->service_route && *opts->service_route &&
         !(r->service_route = sip__strdup(opts->service_route))) ||
        (opts->server && *opts->server && !(r->server = sip__strdup(opts->server)))) {
        free(r->service_route);
        free(r);
        return SIP_ENOMEM;
    }
    r->o.service_route = r->service_route;
    r->o.server = r->server;
    r->refs = 1;
    r->loc = sip_location_ref(loc);
    sip__live_inc(SIP_LIVE_REGISTRAR);
    *out = r;
    return 0;
}

sip_registrar_t *sip_registrar_ref(sip_registrar_t *r)
{
    if (r) r->refs++;
    return r;
}

void sip_registrar_unref(sip_registrar_t *r)
{
    if (!r || --r->refs > 0) return;
    sip_location_unref(r->loc);
    free(r->service_route);
    free(r->server);
    free(r);
    sip__live_dec(SIP_LIVE_REGISTRAR);
}

sip_location_t *sip_registrar_get_location(sip_registrar_t *r)
{
    return r ? r->loc : NULL;
}

/* ---- one REGISTER ------------------------------------------------------------------------- */

/* What a Contact of the request asks, worked out before anything is written. */
typedef struct want {
    const sip_addr_t *addr;
    uint32_t expires;   /* granted; 0 removes */
    sip_str_t instance; /* +sip.instance without its quotes; empty for none */
    uint32_t reg_id;    /* 0 for none */
    int flow;           /* an RFC 5626 registration: instance and reg-id, outbound on */
} want_t;

typedef struct save_op {
    sip_registrar_t *r;
    sip_txn_t *txn;
    sip_msg_t *req;
    char *auth_user;
    sip_registrar_cb cb;
    void *user;
    sip_free_fn user_free;
    int fetch;       /* list the bindings only (sip_registrar_fetch()) */
    int64_t now;     /* one clock reading for every expiry of this request */
    int pending;     /* writes not yet durable, plus one while they are being made */
    int failed;      /* a write failed: 500 */
    int unavailable; /* ... because the store is away (SIP_EIO): 503 */
    int flow;        /* a flow was bound: Require: outbound */
    int flow_stream; /* ... over a stream connection: Flow-Timer */
    int keep_path;   /* Path is kept and echoed */
    /* The phrase of a refusal, saying what was wrong (NULL: the standard one). */
    const char *reason;
    char aor[AOR_MAX];
    char to_uri[AOR_MAX];
} save_op_t;

static void op_free(save_op_t *op)
{
    if (op->user_free) op->user_free(op->user);
    sip_txn_unref(op->txn);
    sip_msg_unref(op->req);
    free(op->auth_user);
    sip_registrar_unref(op->r);
    free(op);
}

/* RFC 1123 date in GMT (RFC 3261 §20.17), without the locale's day and month names. */
static void http_date(int64_t now, char *buf, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A q-value in thousandths as RFC 3261 §20.10 writes it ("0.5", "1"). */
static void qvalue(int q, char *buf, size_t size)
{
    if (q >= 1000) {
        snprintf(buf, size, "1");
        return;
    }
    int n = snprintf(buf, size, "0.%03d", q < 0 ? 0 : q);
    while (n > 3 && buf[n - 1] == '0')
        buf[--n] = '\0';
}

/* Adds a Contact per binding with what is left of its expiry (RFC 3261 §10.3 step 8). */
static int add_contacts(save_op_t *op, sip_msg_t *rsp, sip_bindings_t *set)
{
    size_t n = set ? sip_bindings_count(set) : 0;
    for (size_t i = 0; i < n; i++) {
        const sip_binding_t *b = sip_bindings_at(set, i);
        int64_t left = b->expires - op->now;
        if (left <= 0) continue;
        char q[16] = "";
        if (b->q >= 0) {
            memcpy(q, ";q=", 4);
            qvalue(b->q, q + 3, sizeof(q) - 3);
        }
        size_t len = strlen(b->contact) + strlen(b->params) + 64;
        char *v = malloc(len);
        if (!v) return SIP_ENOMEM;
        snprintf(v, len, "<%s>%s%s;expires=%lld", b->contact, b->params, q, (long long)left);
        int rc = sip_msg_add_header(rsp, "Contact", v);
        free(v);
        /* A stored value that no longer parses or is not one line: leave it out. */
        if (rc == SIP_EPARSE || rc == SIP_EINVAL) continue;
        if (rc < 0) return rc;
    }
    return 0;
}

/* The response to the REGISTER, sent; then the caller hears of it and the request is done. */
static void finish(save_op_t *op, int status, sip_bindings_t *set, const char *unsupported)
{
    sip_registrar_t *r = op->r;
    sip_msg_t *rsp = NULL;
    int rc = sip_txn_create_response(&rsp, op->txn, status, status >= 300 ? op->reason : NULL);
    char buf[64];
    if (rc == 0 && r->server) rc = sip_msg_add_header(rsp, "Server", r->server);
    if (rc == 0 && status == 423) {
        /* RFC 3261 §10.3 step 7: the shortest interval the registrar takes. */
        snprintf(buf, sizeof(buf), "%u", r->o.min_expires);
        rc = sip_msg_add_header(rsp, "Min-Expires", buf);
    }
    /* RFC 3261 §21.5.4: the store is away for a while; the UA may try again after this
     * (the store reconnects within a couple of seconds of coming back). */
    if (rc == 0 && status == 503) rc = sip_msg_add_header(rsp, "Retry-After", RETRY_AFTER);
    if (rc == 0 && status == 420 && unsupported)
        rc = sip_msg_add_header(rsp, "Unsupported", unsupported);
    if (rc == 0 && status == 200) {
        http_date(op->now, buf, sizeof(buf));
        rc = sip_msg_add_header(rsp, "Date", buf);
        if (rc == 0) rc = add_contacts(op, rsp, set);
        /* RFC 3327 §5.3: the Path the registrar stored goes back in the 2xx, so that the UA
         * learns it. */
        for (size_t i = 0;
             rc == 0 && op->keep_path && i < sip_msg_header_count(op->req, SIP_HDR_PATH); i++)
            rc = sip_msg_add_header_copy(rsp, sip_msg_header_at(op->req, SIP_HDR_PATH, i));
        /* RFC 3608 §6: the route the UA's requests are to take, for this registration. */
        if (rc == 0 && r->service_route && !op->fetch)
            rc = sip_msg_add_header(rsp, "Service-Route", r->service_route);
        /* RFC 5626 §6: a registrar that bound a flow says so with Require: outbound, and how
         * often the UA is to refresh a stream flow with its keep-alives. */
        if (rc == 0 && op->flow) {
            rc = sip_msg_add_header(rsp, "Require", "outbound");
            if (rc == 0) rc = sip_msg_add_header(rsp, "Supported", "outbound");
            if (rc == 0 && op->flow_stream && r->o.flow_timer) {
                snprintf(buf, sizeof(buf), "%u", r->o.flow_timer);
                rc = sip_msg_add_header(rsp, "Flow-Timer", buf);
            }
        }
    }
    if (rc == 0) {
        /* A transport error ends the transaction; the caller still hears what was meant. */
        (void)sip_txn_reply(op->txn, rsp);
    } else {
        sip_msg_unref(rsp);
        rsp = NULL;
        /* Nothing could be built: the transaction answers 500 when its last reference goes. */
    }
    sip__stat_inc(sip_location_get_loop(r->loc),
                  status < 300 ? SIP_STAT_REG_OK : SIP_STAT_REG_FAILED);
    if (op->cb) op->cb(r, status, rsp, status == 200 ? set : NULL, op->user);
    sip_msg_unref(rsp);
    op_free(op);
}

static void on_listed(sip_location_t *loc, int status, sip_bindings_t *set, void *user)
{
    (void)loc;
    save_op_t *op = user;
    finish(op, status == 0 || status == SIP_ENOENT ? 200 : 500, set, NULL);
}

static void noop_free(void *user)
{
    (void)user;
}

/* Every write is durable: list what the AOR has now. */
static void written(save_op_t *op)
{
    if (op->failed) {
        op->reason = op->unavailable ? "Location Service Unavailable" : "Binding Not Stored";
        finish(op, op->unavailable ? 503 : 500, NULL, NULL);
        return;
    }
    if (sip_location_lookup(op->r->loc, op->aor, on_listed, op, noop_free) < 0)
        finish(op, 500, NULL, NULL);
}

static void on_written(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    save_op_t *op = user;
    if (status < 0) op->failed = 1;
    if (status == SIP_EIO) op->unavailable = 1;
    if (--op->pending == 0) written(op);
}

/* 1 when the comma list of option tags in the request's header id holds tag. */
static int has_tag(const sip_msg_t *msg, sip_hdr_id_t id, const char *tag)
{
    size_t n = sip_msg_header_count(msg, id);
    for (size_t i = 0; i < n; i++) {
        const sip_token_t *t = sip_header_token(sip_msg_header_at(msg, id, i));
        if (t && sip_str_caseeq_cstr(t->value, tag)) return 1;
    }
    return 0;
}

/* RFC 3261 §8.2.2.3 (§10.3 step 2): the option tags of Require this registrar does not
 * support, comma-joined into buf; 0 when there is none. */
static int unsupported_tags(const sip_registrar_t *r, const sip_msg_t *req, char *buf, size_t size)
{
    size_t n = sip_msg_header_count(req, SIP_HDR_REQUIRE), len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const sip_token_t *t = sip_header_token(sip_msg_header_at(req, SIP_HDR_REQUIRE, i));
        if (!t || !t->value.len) continue;
        if ((r->o.path && sip_str_caseeq_cstr(t->value, "path")) ||
            (r->o.outbound && sip_str_caseeq_cstr(t->value, "outbound")))
            continue;
        int w = snprintf(buf + len, size - len, "%s%.*s", len ? ", " : "", (int)t->value.len,
                         t->value.ptr);
        if (w < 0 || (size_t)w >= size - len) break;
        len += (size_t)w;
    }
    return len > 0;
}

/* The user part of an AOR key ("sip:" user "@" domain), unescaped, into buf; and its domain. */
static int aor_user(const char *aor, char *buf, size_t size, sip_str_t *domain)
{
    sip_uri_t u;
    if (sip_uri_parse(&u, aor, strlen(aor)) < 0 || !u.user.len) return SIP_EURI;
    *domain = u.host;
    int n = sip_uri_unescape(u.user, buf, size);
    if (n < 0 || (size_t)n >= size || memchr(buf, '\0', (size_t)n)) return SIP_EURI;
    return 0;
}

/* The existing binding a Contact of the request updates, or NULL: the one of the same instance
 * and reg-id for a flow (RFC 5626 §6), else the one with an equal URI (RFC 3261 §19.1.4). */
static const sip_binding_t *existing(sip_bindings_t *set, const want_t *w)
{
    size_t n = set ? sip_bindings_count(set) : 0;
    for (size_t i = 0; i < n; i++) {
        const sip_binding_t *b = sip_bindings_at(set, i);
        if (w->instance.len) {
            if (b->reg_id == w->reg_id && sip_str_eq(sip_str_from_cstr(b->instance), w->instance))
                return b;
            continue;
        }
        if (b->instance[0]) continue;
        sip_uri_t u;
        if (sip_uri_parse(&u, b->contact, strlen(b->contact)) == 0 &&
            sip_uri_equal(&u, &w->addr->uri))
            return b;
    }
    return NULL;
}

/* RFC 3261 §7.3.1: a folded line (CRLF then SP or HTAB, kept in a quoted string's view) is one
 * SP. A stored value goes into headers as it is (the 2xx, a proxy's Route), so its CR and LF
 * become spaces. */
static void unfold(char *s)
{
    for (; s && *s; s++)
        if (*s == '\r' || *s == '\n') *s = ' ';
}

/* The Contact's params other than q and expires, as they came (";a=b;c"), into a new string. */
static char *other_params(sip_str_t params)
{
    char *out = malloc(params.len + 2), *p = out;
    if (!out) return NULL;
    sip_str_t it = params, name, value;
    while (sip_params_next(&it, &name, &value)) {
        if (sip_str_caseeq_cstr(name, "q") || sip_str_caseeq_cstr(name, "expires")) continue;
        *p++ = ';';
        /* name and value are views into params: copy the whole "name=value" span. */
        const char *end = value.len ? value.ptr + value.len : name.ptr + name.len;
        memcpy(p, name.ptr, (size_t)(end - name.ptr));
        p += end - name.ptr;
    }
    *p = '\0';
    unfold(out);
    return out;
}

/* What the transport says of where the REGISTER came from (RFC 5626 §6: the flow). */
static void source_of(const sip_msg_t *req, char *received, size_t rsize, char *socket,
                      size_t ssize, uint64_t *conn_id, int *stream)
{
    const sip_netinfo_t *ni = sip_msg_get_netinfo(req);
    received[0] = socket[0] = '\0';
    *conn_id = 0;
    *stream = 0;
    if (!ni || ni->transport == SIP_TRANSPORT_NONE) return;
    const char *tp = sip_transport_param(ni->transport);
    int v6 = strchr(ni->remote_ip, ':') != NULL, lv6 = strchr(ni->local_ip, ':') != NULL;
    if (ni->remote_ip[0])
        snprintf(received, rsize, "sip:%s%s%s:%u;transport=%s", v6 ? "[" : "", ni->remote_ip,
                 v6 ? "]" : "", ni->remote_port, tp);
    if (ni->local_ip[0])
        snprintf(socket, ssize, "%s:%s%s%s:%u", tp, lv6 ? "[" : "", ni->local_ip, lv6 ? "]" : "",
                 ni->local_port);
    if (sip_transport_is_reliable(ni->transport)) {
        *conn_id = ni->conn_id;
        *stream = 1;
    }
}

/* Path values comma-joined as one header value (RFC 3327 §5.3), or NULL when none. */
static char *joined_path(const sip_msg_t *req)
{
    size_t n = sip_msg_header_count(req, SIP_HDR_PATH), len = 1;
    for (size_t i = 0; i < n; i++)
        len += sip_header_get_value(sip_msg_header_at(req, SIP_HDR_PATH, i)).len + 2;
    char *out = malloc(len), *p = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        sip_str_t v = sip_header_get_value(sip_msg_header_at(req, SIP_HDR_PATH, i));
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, v.ptr, v.len);
        p += v.len;
    }
    *p = '\0';
    unfold(out);
    return out;
}

/* Writes the bindings the Contacts ask for (RFC 3261 §10.3 step 7). */
static int write_bindings(save_op_t *op, want_t *w, size_t nw)
{
    const sip_msg_t *req = op->req;
    char received[128], socket[128], call_id[CALL_ID_MAX], ua[512];
    uint64_t conn_id;
    int stream;
    source_of(req, received, sizeof(received), socket, sizeof(socket), &conn_id, &stream);
    sip_str_t cid = sip_msg_get_call_id(req);
    if (cid.len >= sizeof(call_id)) return SIP_EINVAL;
    sip_str_copy(cid, call_id, sizeof(call_id));
    const sip_header_t *uah = sip_msg_header_at(req, SIP_HDR_USER_AGENT, 0);
    sip_str_copy(uah ? sip_header_get_value(uah) : SIP_STR(""), ua, sizeof(ua));
    unfold(ua);
    char *path = op->keep_path ? joined_path(req) : NULL;
    if (op->keep_path && !path) return SIP_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < nw && rc == 0; i++) {
        char contact[AOR_MAX], instance[INSTANCE_MAX];
        char *params = other_params(w[i].addr->params);
        if (!params) {
            rc = SIP_ENOMEM;
            break;
        }
        sip_str_copy(w[i].addr->uri.raw, contact, sizeof(contact));
        sip_str_copy(w[i].instance, instance, sizeof(instance));
        unfold(instance);
        sip_binding_t b = {
            .aor = op->aor,
            .contact = contact,
            .params = params,
            /* Expiry in the past removes (sip_location_put()). */
            .expires = w[i].expires ? op->now + w[i].expires : 0,
            .q = w[i].addr->q,
            .call_id = call_id,
            .cseq = sip_msg_get_cseq(req)->seq,
            .path = path,
            .received = received,
            .socket = socket,
            .conn_id = conn_id,
            .instance = instance,
            .reg_id = w[i].reg_id,
            .user_agent = ua,
            .updated = op->now,
        };
        op->pending++;
        rc = sip_location_put(op->r->loc, &b, on_written, op, NULL);
        if (rc < 0) op->pending--;
        free(params);
        if (rc == 0 && w[i].flow && w[i].expires) {
            op->flow = 1;
            op->flow_stream |= stream;
        }
    }
    free(path);
    return rc;
}

/* The request's Contacts against the AOR's bindings: the status to answer, 0 to write. */
static int check_contacts(save_op_t *op, sip_bindings_t *set, want_t *w, size_t nw, int *star)
{
    const sip_registrar_t *r = op->r;
    const sip_msg_t *req = op->req;
    int hdr_expires = sip_msg_get_expires(req);
    const sip_cseq_t *cseq = sip_msg_get_cseq(req);
    sip_str_t call_id = sip_msg_get_call_id(req);
    size_t flows = 0;
    int outbound_ok = has_tag(req, SIP_HDR_SUPPORTED, "outbound");
    *star = 0;
    for (size_t i = 0; i < nw; i++) {
        const sip_addr_t *a = sip_header_addr(sip_msg_header_at(req, SIP_HDR_CONTACT, i));
        if (!a) {
            op->reason = "Invalid Contact";
            return 400;
        }
        if (a->star) {
            *star = 1;
            continue;
        }
        w[i].addr = a;
        /* Kept whole or refused: a URI cut short is another contact. */
        if (a->uri.raw.len >= AOR_MAX) {
            op->reason = "Contact Too Long";
            return 400;
        }
        /* RFC 3261 §10.3 step 6: the expires param, else the Expires header, else the
         * registrar's own choice. */
        long e = a->expires >= 0    ? a->expires
                 : hdr_expires >= 0 ? hdr_expires
                                    : (long)r->o.default_expires;
        if (e > 0 && (unsigned long)e < r->o.min_expires) return 423;
        w[i].expires = (unsigned long)e > r->o.max_expires ? r->o.max_expires : (uint32_t)e;
        sip_str_t v;
        if (r->o.outbound && sip_params_get(a->params, "+sip.instance", &v) && v.len) {
            w[i].instance = sip_str_unquote(v);
            /* ... and an instance cut short another UA's. */
            if (w[i].instance.len >= INSTANCE_MAX) {
                op->reason = "Contact Too Long";
                return 400;
            }
            unsigned long id = 0;
            /* A flow only for a UA that says it does outbound: the 2xx then Requires it,
             * and a response may Require only what the request Supported (RFC 3261
             * §20.32); without it the reg-id is ignored (RFC 5626 §6) and the instance
             * alone keys the binding. */
            if (outbound_ok && sip_params_get(a->params, "reg-id", &v) &&
                sip_str_to_u32(v, UINT32_MAX, &id) == 0 && id > 0) {
                w[i].reg_id = (uint32_t)id;
                w[i].flow = 1;
                flows += w[i].expires > 0;
            }
        }
    }
    /* RFC 3261 §10.3 step 6: "*" only alone, and only to remove (Expires: 0). */
    if (*star) {
        if (nw != 1 || hdr_expires != 0) {
            op->reason =
                nw != 1 ? "Wildcard Contact Not Alone" : "Wildcard Contact Without Expires 0";
            return 400;
        }
        /* A binding this Call-ID made with a CSeq not lower: the "*" is older than it. */
        for (size_t i = 0; set && i < sip_bindings_count(set); i++) {
            const sip_binding_t *b = sip_bindings_at(set, i);
            if (sip_str_eq(sip_str_from_cstr(b->call_id), call_id) && cseq->seq <= b->cseq) {
                op->reason = "CSeq Not Higher Than The Binding's";
                return 500;
            }
        }
        return 0;
    }
    /* The Call-ID is kept with each binding (§10.3 step 7 ordering): one too long to keep is
     * the request's fault, not the server's. */
    if (call_id.len >= CALL_ID_MAX) {
        op->reason = "Call-ID Too Long";
        return 400;
    }
    /* RFC 5626 §6: a REGISTER binds one flow at most. */
    if (flows > 1) {
        op->reason = "More Than One Flow";
        return 400;
    }
    /* RFC 5626 §6: through an edge proxy, the first hop must have said it does outbound (ob in
     * its Path URI); else the flow could not be used and the UA must hear why. */
    if (flows && op->keep_path && sip_msg_header_count(req, SIP_HDR_PATH)) {
        const sip_addr_t *p = sip_header_addr(sip_msg_header_at(req, SIP_HDR_PATH, 0));
        if (p && !sip_uri_param(&p->uri, "ob", NULL)) return 439;
    }
    size_t after = set ? sip_bindings_count(set) : 0;
    for (size_t i = 0; i < nw; i++) {
        const sip_binding_t *b = existing(set, &w[i]);
        /* §10.3 step 7: a refresh or removal of the same Call-ID must come with a higher CSeq:
         * an older request arriving late would undo a newer one. */
        if (b && sip_str_eq(sip_str_from_cstr(b->call_id), call_id) && cseq->seq <= b->cseq) {
            op->reason = "CSeq Not Higher Than The Binding's";
            return 500;
        }
        if (b && !w[i].expires) after--;
        if (!b && w[i].expires) after++;
    }
    if (after > (r->o.max_contacts ? r->o.max_contacts : CONTACTS_CEILING)) {
        op->reason = "Too Many Contacts";
        return 403;
    }
    return 0;
}

static void on_looked_up(sip_location_t *loc, int status, sip_bindings_t *set, void *user)
{
    save_op_t *op = user;
    sip_registrar_t *r = op->r;
    const sip_msg_t *req = op->req;
    if (status < 0 && status != SIP_ENOENT) {
        finish(op, status == SIP_EURI ? 404 : 500, NULL, NULL);
        return;
    }
    /* The AOR the bindings are kept under: the To with its aliases followed. */
    const char *key = set ? sip_bindings_aor(set) : NULL;
    if (key && *key) {
        snprintf(op->aor, sizeof(op->aor), "%s", key);
    } else if (sip_location_aor(loc, &sip_msg_get_to(req)->uri, op->aor, sizeof(op->aor)) < 0) {
        finish(op, 404, NULL, NULL);
        return;
    }
    if (op->fetch) {
        finish(op, 200, set, NULL);
        return;
    }
    /* §10.3 step 4 (with RFC 3261 §22): the authenticated user registers only its own AOR, in
     * one of our domains. */
    char user_buf[256];
    sip_str_t domain;
    if (op->auth_user) {
        if (aor_user(op->aor, user_buf, sizeof(user_buf), &domain) < 0 ||
            strcmp(user_buf, op->auth_user) != 0 ||
            !sip_location_is_local(loc, domain.ptr, domain.len)) {
            op->reason = "Not The User's AOR";
            finish(op, 403, NULL, NULL);
            return;
        }
    } else if (r->o.auth_required) {
        op->reason = "Not Authenticated";
        finish(op, 403, NULL, NULL);
        return;
    }
    size_t nw = sip_msg_header_count(req, SIP_HDR_CONTACT);
    if (!nw) {
        /* §10.3 step 8 for a query: the current bindings. */
        finish(op, 200, set, NULL);
        return;
    }
    want_t *w = calloc(nw, sizeof(*w));
    if (!w) {
        finish(op, 500, NULL, NULL);
        return;
    }
    int star, st = check_contacts(op, set, w, nw, &star);
    if (st) {
        free(w);
        finish(op, st, NULL, NULL);
        return;
    }
    /* Writes may complete inside the calls: one more pending until all are made. */
    op->pending = 1;
    int rc;
    if (star) {
        op->pending++;
        rc = sip_location_remove(loc, op->aor, NULL, on_written, op, NULL);
        if (rc < 0) op->pending--;
    } else {
        rc = write_bindings(op, w, nw);
    }
    free(w);
    if (rc < 0) op->failed = 1;
    if (--op->pending == 0) written(op);
}

static int start(sip_registrar_t *r, sip_txn_t *txn, const char *auth_user, int fetch,
                 sip_registrar_cb cb, void *user, sip_free_fn user_free)
{
    sip_msg_t *req = txn ? sip_txn_get_request(txn) : NULL;
    if (!r || !txn || sip_txn_is_client(txn)) {
        if (user_free) user_free(user);
        return SIP_EINVAL;
    }
    if (!req) {
        if (user_free) user_free(user);
        return sip_txn_get_state(txn) == SIP_TXN_TERMINATED ? SIP_ECLOSED : SIP_EINVAL;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_REGISTER) {
        if (user_free) user_free(user);
        return SIP_EINVAL;
    }
    save_op_t *op = calloc(1, sizeof(*op));
    if (!op || (auth_user && !(op->auth_user = sip__strdup(auth_user)))) {
        free(op);
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    op->r = sip_registrar_ref(r);
    op->txn = sip_txn_ref(txn);
    op->req = sip_msg_ref(req);
    op->cb = cb;
    op->user = user;
    op->user_free = user_free;
    op->fetch = fetch;
    op->now = (int64_t)time(NULL);
    /* RFC 3327 §5.3: Path is kept only for a UA that said it knows it. */
    op->keep_path = r->o.path && has_tag(req, SIP_HDR_SUPPORTED, "path");

    /* §10.3 steps 1 and 5: the To names the AOR; one of our domains, a SIP or SIPS URI with a
     * user. */
    const sip_addr_t *to = sip_msg_get_to(req);
    if (!to || (to->uri.scheme != SIP_URI_SIP && to->uri.scheme != SIP_URI_SIPS) ||
        !to->uri.user.len || !sip_location_is_local(r->loc, to->uri.host.ptr, to->uri.host.len) ||
        to->uri.raw.len >= sizeof(op->to_uri)) {
        finish(op, 404, NULL, NULL);
        return 0;
    }
    /* §10.3 step 2: extensions the request requires that we do not have. */
    char unsup[256];
    if (unsupported_tags(r, req, unsup, sizeof(unsup))) {
        finish(op, 420, NULL, unsup);
        return 0;
    }
    sip_str_copy(to->uri.raw, op->to_uri, sizeof(op->to_uri));
    int rc = sip_location_lookup(r->loc, op->to_uri, on_looked_up, op, noop_free);
    if (rc == SIP_EURI) {
        finish(op, 404, NULL, NULL);
    } else if (rc < 0) {
        op->user_free = NULL;
        op_free(op);
        if (user_free) user_free(user);
        return rc;
    }
    return 0;
}

int sip_registrar_save(sip_registrar_t *r, sip_txn_t *txn, const char *auth_user,
                       sip_registrar_cb cb, void *user, sip_free_fn user_free)
{
    return start(r, txn, auth_user, 0, cb, user, user_free);
}

int sip_registrar_fetch(sip_registrar_t *r, sip_txn_t *txn, sip_registrar_cb cb, void *user,
                        sip_free_fn user_free)
{
    return start(r, txn, NULL, 1, cb, user, user_free);
}
