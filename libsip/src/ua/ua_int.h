/* SPDX-License-Identifier: MIT */
/* Private side of the user agent: what calls (and later subscriptions) use of it. */
#ifndef SIP_UA_INT_H
#define SIP_UA_INT_H

#include "core/timerq.h"
#include "dialog/dialog_int.h"
#include "sip/call.h"
#include "sip/ua.h"

struct sip_ua {
    int refs;
    int closed;
    sip_txn_layer_t *layer;
    sip_loop_t *loop;
    int handler_id; /* the UA's link in the transport's handler chain */
    /* The headers the UA stamps on messages (Server, User-Agent, Allow, Supported), parsed once:
     * copying a parsed record costs far less than parsing the text for every message. */
    sip_msg_t *deco;
    /* The Contact for each listening point a message went through, parsed once (wildcard
     * listeners and listener changes are rare: a small table, oldest entry replaced). */
    struct sip__ua_contact {
        sip_transport_type_t transport;
        uint16_t port;
        int family;        /* the target's address family when port is 0 (ip_family()) */
        sip_msg_t *holder; /* its Contact header */
    } contacts[8];
    unsigned ncontacts, contact_next;
    char *user_agent, *allow, *supported, *accept, *schemes, *contact_user, *contact_host;
    char *recv_info;
    uint32_t t1_ms, t2_ms;
    sip__tq_t tq;
    int tq_closing; /* the timer queue's uv handle is closing: free the UA after it */
    sip_ua_request_cb cb;
    void *user;
    sip_free_fn user_free;
    /* The dialog table: chained on Call-ID and local tag, so that the early dialogs of a
     * forked request sit in one chain and a new remote tag is found beside them. */
    sip_dialog_t **buckets;
    size_t nbuckets, ndialogs;
    /* The capabilities of the last calls' engines, parsed once and shared (read-only): calls
     * placed or answered with the same media text do not each keep a copy. */
    char *caps_text;
    sip_sdp_t *caps;
    /* Live calls, so that closing the UA ends them. */
    sip_call_t *calls;
    size_t ncalls;
    /* send.c: the credentials (made at the first use) and the requests of
     * sip_ua_send_request() in flight, which closing the UA stops. */
    sip_auth_client_t *auth;
    struct sip__ua_req *reqs;
    /* Live registrations, so that closing the UA closes them (reg/reg.c). */
    struct sip_reg *regs;
    /* Subscriptions (sub/): the event packages taken as notifier (RFC 6665 §4.2.1.1), and the
     * live subscriptions, so that a NOTIFY before the 2xx or from a fork finds its SUBSCRIBE
     * and closing the UA ends them. */
    char *events;
    struct sip_sub *subs;
    size_t nsubs;
};

/* The dialog table. A dialog is in it while it has a usage (RFC 5057): the INVITE usage of a
 * call (owner), added and removed with these two, or subscriptions (below). */
int sip__ua_dialog_add(sip_ua_t *ua, sip_dialog_t *dlg, void *owner);
void sip__ua_dialog_remove(sip_ua_t *ua, sip_dialog_t *dlg);
/* Finds a dialog by Call-ID, local tag and remote tag. */
sip_dialog_t *sip__ua_dialog_find(sip_ua_t *ua, sip_str_t call_id, sip_str_t local_tag,
                                  sip_str_t remote_tag);

/* The Contact value ("<sip:user@host:port;transport=tcp>") for a message that goes through
 * (or came in on) the listening point of ni (NULL: the first). */
int sip__ua_contact(sip_ua_t *ua, const sip_netinfo_t *ni, char *buf, size_t size);
/* The IP address of the listening point of ni (or contact_host's host when it is one), for
 * the c= line of SDP the engine makes. */
int sip__ua_local_ip(sip_ua_t *ua, const sip_netinfo_t *ni, char *buf, size_t size);
/* Adds the UA's headers to a response it sends (Server; Contact/Allow/Supported for a
 * dialog-creating 18x/2xx). */
int sip__ua_decorate_response(sip_ua_t *ua, sip_msg_t *rsp, const sip_msg_t *req);
/* Where a request goes when its target is an address: the top Route if loose, else the
 * Request-URI. 0 with *ni filled, or 1 when the host is a name (then RFC 3263 locates it). */
int sip__ua_dst(const sip_msg_t *req, sip_netinfo_t *ni);
/* Sends a request in a client transaction to its routing target. */
int sip__ua_send(sip_ua_t *ua, sip_txn_t **out, sip_msg_t *req, const sip_netinfo_t *dst,
                 sip_response_cb cb, void *user, sip_free_fn user_free);
/* Sends a message without a transaction (the ACK of a 2xx) to its routing target. */
int sip__ua_send_stateless(sip_ua_t *ua, sip_msg_t *msg);

/* 1 when the comma-separated list has the token (case-insensitive). */
int sip__ua_list_has(const char *list, sip_str_t tok);
/* The parsed capabilities for a media text (New reference), shared between calls. */
int sip__ua_caps(sip_ua_t *ua, const char *media, sip_sdp_t **out);

/* The calls' side, called by the UA. */
void sip__call_link(sip_ua_t *ua, sip_call_t *call);
void sip__call_unlink(sip_ua_t *ua, sip_call_t *call);
/* A request inside one of the call's dialogs (txn NULL: an ACK of a 2xx). */
void sip__call_on_request(sip_call_t *call, sip_dialog_t *dlg, sip_txn_t *txn, sip_msg_t *req);
/* A response of the call's dialog that no transaction took (a 2xx sent again). */
void sip__call_on_stray(sip_call_t *call, sip_dialog_t *dlg, sip_msg_t *rsp);
/* The UA closes: the call ends without sending. */
void sip__call_ua_closed(sip_call_t *call);

/* send.c: requests and challenges. */
/* The request to send after a 401 or 407 to sent (RFC 3261 §22.2, §8.1.3.5): a copy with no
 * Via (a new transaction), the CSeq one higher (inside a dialog the dialog's next, which it
 * then counts) and the UA's credentials for the challenge. first: sent is the first request
 * of its chain (credentials it carries came from the cache, and a new challenge to them is
 * answered). 0 with *next (New reference), or SIP_EAUTH when the credentials do not answer
 * it. */
int sip__ua_auth_next(sip_ua_t *ua, const sip_msg_t *sent, const sip_msg_t *challenge, int first,
                      sip_msg_t **next);
/* Sends req as sip_ua_send_request() does (INVITE too: a re-INVITE), cb hearing each response
 * on the transaction of the last request sent. */
int sip__ua_send_auth(sip_ua_t *ua, sip_msg_t *req, const sip_netinfo_t *dst, sip_response_cb cb,
                      void *user, sip_free_fn user_free);
/* The UA closes: its requests stop without a callback (their user_free runs). */
void sip__ua_requests_close(sip_ua_t *ua);
/* The UA closes: the registration stops without sending (reg/reg.c). */
void sip__reg_ua_closed(struct sip_reg *reg);

/* Usages (RFC 5057). Adds u to the dialog (and the dialog to the table with its first usage);
 * removes it (and the dialog from the table with its last). */
int sip__ua_usage_add(sip_ua_t *ua, sip_dialog_t *dlg, sip__usage_t *u);
void sip__ua_usage_remove(sip_ua_t *ua, sip_dialog_t *dlg, sip__usage_t *u);

/* The subscriptions' side, called by the UA (sub/). A NOTIFY that found no dialog: 1 when a
 * subscription of ours waiting for its dialog, or another fork of one, took it. */
int sip__sub_on_orphan_notify(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req);
/* The UA closes: every subscription ends without sending. */
void sip__sub_ua_closed(struct sip_sub *sub);

/* send.c: a final response to sent, a request the UA may have authorised: a 2xx's
 * Authentication-Info (rspauth checked, nextnonce taken) reaches the UA's credentials (RFC 7616
 * §3.5). Nothing for other responses. */
void sip__ua_auth_done(sip_ua_t *ua, const sip_msg_t *sent, const sip_msg_t *rsp);

/* reg/reg.c: the preloaded route of an out-of-dialog request the UA builds (RFC 3608 §6): a
 * holder whose Route headers are the Service-Route of the live registration whose AOR is the
 * From of req; NULL when none is. Borrowed. */
const sip_msg_t *sip__reg_service_route(sip_ua_t *ua, const sip_msg_t *req);

#endif
