/* SPDX-License-Identifier: MIT */
/* What the user agent does with received requests and stray responses: the UAS checks of
 * RFC 3261 §8.2, in-dialog routing (§12.2.2) and the 481 for an unknown dialog. */
#include <stdio.h>
#include <string.h>

#include "sip/error.h"
#include "sip/param.h"
#include "sip/str.h"
#include "ua/ua_int.h"

/* 1 when the comma-separated list has the token (case-insensitive). */
int sip__ua_list_has(const char *list, sip_str_t tok)
{
    if (!list || !tok.len) return 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - s) == tok.len && strncasecmp(s, tok.ptr, tok.len) == 0) return 1;
    }
    return 0;
}

/* Answers with one extra header. */
static void respond_with(sip_ua_t *ua, sip_txn_t *txn, int status, const char *name,
                         const char *value)
{
    sip_msg_t *rsp = NULL;
    if (sip_txn_create_response(&rsp, txn, status, NULL) != 0) return;
    if (name && value && *value) sip_msg_add_header(rsp, name, value);
    if (ua->user_agent && *ua->user_agent) sip_msg_add_header(rsp, "Server", ua->user_agent);
    sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
}

/* RFC 3261 §8.2.1-§8.2.3, in the order the RFC gives them. 0 when the request passes, else
 * the status it was answered with. */
static int uas_checks(sip_ua_t *ua, sip_txn_t *txn, const sip_msg_t *req)
{
    sip_method_t m = sip_msg_get_method(req);
    /* §8.2.1: a method this UA knows but does not take gets 405 with Allow. ACK and CANCEL
     * are the transaction layer's; an unknown method is 501 (below, by the application). */
    if (m != SIP_METHOD_UNKNOWN && m != SIP_METHOD_ACK && m != SIP_METHOD_CANCEL && ua->allow &&
        *ua->allow && !sip__ua_list_has(ua->allow, sip_msg_get_method_str(req))) {
        respond_with(ua, txn, 405, "Allow", ua->allow);
        return 405;
    }
    /* §8.2.2.1: a Request-URI scheme this UA does not serve gets 416. */
    const sip_uri_t *u = sip_msg_get_uri(req);
    if (u && !sip__ua_list_has(ua->schemes, u->scheme_str)) {
        respond_with(ua, txn, 416, NULL, NULL);
        return 416;
    }
    /* §8.2.2.3: an extension Required but not supported gets 420 with Unsupported. */
    char unsup[256] = "";
    size_t n = sip_msg_header_count(req, SIP_HDR_REQUIRE), len = 0;
    for (size_t i = 0; i < n; i++) {
        const sip_token_t *t = sip_header_token(sip_msg_header_at(req, SIP_HDR_REQUIRE, i));
        if (!t || sip__ua_list_has(ua->supported, t->value)) continue;
        int w = snprintf(unsup + len, sizeof(unsup) - len, "%s%.*s", len ? ", " : "",
                         (int)t->value.len, t->value.ptr);
        if (w > 0 && (size_t)w < sizeof(unsup) - len) len += (size_t)w;
    }
    if (len && m != SIP_METHOD_ACK && m != SIP_METHOD_CANCEL) {
        respond_with(ua, txn, 420, "Unsupported", unsup);
        return 420;
    }
    /* §8.2.3: a body in an encoding or of a type this UA cannot read gets 415, with
     * Accept-Encoding or Accept. */
    if (sip_msg_get_body(req).len) {
        size_t ne = sip_msg_header_count(req, SIP_HDR_CONTENT_ENCODING);
        for (size_t i = 0; i < ne; i++) {
            const sip_token_t *t =
                sip_header_token(sip_msg_header_at(req, SIP_HDR_CONTENT_ENCODING, i));
            if (t && !sip_str_caseeq_cstr(t->value, "identity")) {
                respond_with(ua, txn, 415, "Accept-Encoding", "identity");
                return 415;
            }
        }
        const sip_media_t *ct = sip_msg_get_content_type(req);
        if (ct && ua->accept && *ua->accept && m != SIP_METHOD_MESSAGE && m != SIP_METHOD_INFO &&
            m != SIP_METHOD_NOTIFY && m != SIP_METHOD_PUBLISH) {
            char full[256];
            snprintf(full, sizeof(full), "%.*s/%.*s", (int)ct->type.len, ct->type.ptr,
                     (int)ct->subtype.len, ct->subtype.ptr);
            sip_str_t f = sip_str_from_cstr(full);
            /* multipart/mixed may carry SDP among other parts (RFC 5621). */
            if (!sip__ua_list_has(ua->accept, f) && !sip_str_caseeq_cstr(ct->type, "multipart")) {
                respond_with(ua, txn, 415, "Accept", ua->accept);
                return 415;
            }
        }
    }
    return 0;
}

/* Starts the server transaction of a request the UA takes. */
static sip_txn_t *take(sip_ua_t *ua, sip_msg_t *req)
{
    sip_txn_t *txn = NULL;
    if (sip_txn_server_create(&txn, ua->layer, req) != 0) return NULL;
    return txn;
}

/* ---- usages (RFC 5057) ------------------------------------------------------------------- */

static void invite_on_request(sip__usage_t *u, sip_dialog_t *d, sip_txn_t *txn, sip_msg_t *req)
{
    sip__call_on_request(u->owner, d, txn, req);
}

static void invite_on_stray(sip__usage_t *u, sip_dialog_t *d, sip_msg_t *rsp)
{
    sip__call_on_stray(u->owner, d, rsp);
}

const sip__usage_ops_t sip__ua_invite_usage = {invite_on_request, invite_on_stray};

/* The package and id of a request's Event header (RFC 6665 §8.2.1). 0, or -1 when it
 * has none. */
static int event_of(const sip_msg_t *req, sip_str_t *pkg, sip_str_t *id)
{
    const sip_token_t *t = sip_header_token(sip_msg_header_at(req, SIP_HDR_EVENT, 0));
    if (!t || !t->value.len) return -1;
    *pkg = t->value;
    *id = (sip_str_t){"", 0};
    sip_params_get(t->params, "id", id);
    return 0;
}

/* The usage of the dialog a request goes to, or NULL. RFC 6665 §4.1.2, §4.2.1: a SUBSCRIBE or
 * NOTIFY goes to the subscription of its Event package and id (the package compares without
 * case, the id exactly); anything else goes to the INVITE usage. */
static sip__usage_t *usage_for(sip_dialog_t *d, const sip_msg_t *req)
{
    sip_method_t m = sip_msg_get_method(req);
    if (m == SIP_METHOD_SUBSCRIBE || m == SIP_METHOD_NOTIFY) {
        sip_str_t pkg, id;
        if (event_of(req, &pkg, &id)) return NULL;
        for (sip__usage_t *u = d->usage_list; u; u = u->next)
            if (!u->invite && sip_str_caseeq(u->event, pkg) && sip_str_eq(u->id, id)) return u;
        /* RFC 3515 §2.4.6: a NOTIFY of a REFER's subscription may leave the id out when the
         * dialog has one such subscription; the first refer usage takes it. */
        if (m == SIP_METHOD_NOTIFY && !id.len && sip_str_caseeq_cstr(pkg, "refer"))
            for (sip__usage_t *u = d->usage_list; u; u = u->next)
                if (!u->invite && sip_str_caseeq(u->event, pkg)) return u;
        return NULL;
    }
    for (sip__usage_t *u = d->usage_list; u; u = u->next)
        if (u->invite) return u;
    return NULL;
}

/* A request in a dialog of ours with no usage for it. RFC 5057: a request for a usage the
 * dialog does not have is refused without harming the others: 481 for one that needs the
 * usage (a NOTIFY or SUBSCRIBE for an unknown subscription, the INVITE usage's requests), 405
 * with Allow for the rest. */
static void no_usage(sip_ua_t *ua, sip_txn_t *txn, const sip_msg_t *req)
{
    switch (sip_msg_get_method(req)) {
    case SIP_METHOD_NOTIFY:
    case SIP_METHOD_SUBSCRIBE:
    case SIP_METHOD_BYE:
    case SIP_METHOD_UPDATE:
    case SIP_METHOD_PRACK:
    case SIP_METHOD_INFO:
    case SIP_METHOD_INVITE: respond_with(ua, txn, 481, NULL, NULL); break;
    default: respond_with(ua, txn, 405, "Allow", "SUBSCRIBE, NOTIFY"); break;
    }
}

/* RFC 6665 §4.2.1.1, §8.3.2: a SUBSCRIBE for an event package this UA is no notifier of gets 489
 * with the packages it takes in Allow-Events. 1 when answered. */
static int bad_event(sip_ua_t *ua, sip_txn_t *txn, const sip_msg_t *req)
{
    sip_str_t pkg, id;
    if (!event_of(req, &pkg, &id) && sip__ua_list_has(ua->events, pkg)) return 0;
    /* A SUBSCRIBE without Event is for no package served here either (RFC 6665 keeps it for
     * PINT, RFC 2848): 489 as well. */
    respond_with(ua, txn, 489, "Allow-Events", ua->events);
    return 1;
}

/* A request: in one of our dialogs, for an unknown dialog (481), or out of dialog for the
 * application's callback. ACKs of 2xx come here too (the transaction layer passes them on). */
static int on_request(sip_ua_t *ua, sip_msg_t *req)
{
    const sip_addr_t *to = sip_msg_get_to(req), *from = sip_msg_get_from(req);
    sip_method_t m = sip_msg_get_method(req);
    if (!to || !from || m == SIP_METHOD_CANCEL) return 0;
    if (to->tag.len) {
        /* RFC 3261 §12.2.2: a request with a To tag belongs to a dialog of ours or gets 481. */
        sip_dialog_t *d = sip__ua_dialog_find(ua, sip_msg_get_call_id(req), to->tag, from->tag);
        if (m == SIP_METHOD_ACK) {
            sip__usage_t *u = d ? usage_for(d, req) : NULL;
            if (!u) return 0;
            u->ops->on_request(u, d, NULL, req);
            return 1;
        }
        sip_txn_t *txn = take(ua, req);
        if (!txn) return 1;
        if (!d) {
            /* RFC 6665 §4.1.2.4: a NOTIFY may come before the 2xx of its SUBSCRIBE, or from
             * another fork of it: the subscription makes the dialog. */
            if (m != SIP_METHOD_NOTIFY || !sip__sub_on_orphan_notify(ua, txn, req))
                respond_with(ua, txn, 481, NULL, NULL);
        } else if (!uas_checks(ua, txn, req)) {
            sip_dialog_ref(d);
            sip__usage_t *u = usage_for(d, req);
            if (u) {
                u->ops->on_request(u, d, txn, req);
            } else if (m == SIP_METHOD_SUBSCRIBE && ua->cb) {
                /* A new subscription inside the dialog (a call's): the application's to
                 * accept, as one out of dialog. */
                if (!bad_event(ua, txn, req)) ua->cb(ua, txn, req, ua->user);
            } else {
                no_usage(ua, txn, req);
            }
            sip_dialog_unref(d);
        }
        sip_txn_unref(txn);
        return 1;
    }
    /* Out of dialog: the application's, when it gave a callback; else the next handlers'. */
    if (m == SIP_METHOD_ACK || !ua->cb) return 0;
    sip_txn_t *txn = take(ua, req);
    if (!txn) return 1;
    if (!uas_checks(ua, txn, req) && !(m == SIP_METHOD_SUBSCRIBE && bad_event(ua, txn, req)))
        ua->cb(ua, txn, req, ua->user);
    sip_txn_unref(txn);
    return 1;
}

/* A response no transaction took: a 2xx sent again after our INVITE's transaction ended. */
static int on_stray(sip_ua_t *ua, sip_msg_t *rsp)
{
    const sip_addr_t *to = sip_msg_get_to(rsp), *from = sip_msg_get_from(rsp);
    if (!to || !from) return 0;
    /* A response to our request: our tag is in From. */
    sip_dialog_t *d = sip__ua_dialog_find(ua, sip_msg_get_call_id(rsp), from->tag, to->tag);
    if (!d) return 0;
    for (sip__usage_t *u = d->usage_list; u; u = u->next) {
        if (u->invite && u->ops->on_stray) {
            u->ops->on_stray(u, d, rsp);
            return 1;
        }
    }
    return 0;
}

int sip__ua_on_message(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    sip_ua_t *ua = user;
    if (ua->closed || !ua->layer) return 0;
    sip_ua_ref(ua);
    int taken = sip_msg_is_request(msg) ? on_request(ua, msg) : on_stray(ua, msg);
    sip_ua_unref(ua);
    return taken;
}
