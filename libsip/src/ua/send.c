/* SPDX-License-Identifier: MIT */
/* Requests the UA sends in their own client transactions (sip_ua_send_request()), the
 * credentials it answers challenges with, and the retry of a challenged request (RFC 3261
 * §22.2, §8.1.3.5) that calls use too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg_int.h"
#include "sip/error.h"
#include "sip/str.h"
#include "ua/ua_int.h"

/* A stale nonce, a second realm or a proxy after the server: a few rounds are normal; a peer
 * that challenges for ever is not followed further. */
#define MAX_AUTH_ROUNDS 8

/* One request of sip_ua_send_request() (or of a call's sip__ua_send_auth()), across the
 * transactions its challenges make. */
struct sip__ua_req {
    struct sip__ua_req *prev, *next; /* the UA's list, so that closing it stops the request */
    sip_ua_t *ua;                    /* NULL once the UA closed */
    int refs;                        /* one per live transaction, one while sending */
    sip_msg_t *req;                  /* the request as last sent */
    sip_txn_t *txn;                  /* its transaction */
    unsigned rounds;
    sip_ua_response_cb ucb; /* sip_ua_send_request()'s callback ... */
    sip_response_cb tcb;    /* ... or the transaction-level one of sip__ua_send_auth() */
    void *user;
    sip_free_fn user_free;
};

static sip_auth_client_t *auth_of(sip_ua_t *ua)
{
    if (!ua->auth && sip_auth_client_create(&ua->auth) != 0) ua->auth = NULL;
    return ua->auth;
}

int sip_ua_add_credential(sip_ua_t *ua, const sip_auth_cred_t *cred)
{
    if (!ua || !cred) return SIP_EINVAL;
    if (ua->closed) return SIP_ECLOSED;
    sip_auth_client_t *ac = auth_of(ua);
    return ac ? sip_auth_client_add(ac, cred) : SIP_ENOMEM;
}

sip_auth_client_t *sip_ua_get_auth(sip_ua_t *ua)
{
    return ua && !ua->closed ? auth_of(ua) : NULL;
}

int sip__ua_auth_next(sip_ua_t *ua, const sip_msg_t *sent, const sip_msg_t *challenge, int first,
                      sip_msg_t **next)
{
    *next = NULL;
    int st = sip_msg_get_status(challenge);
    if (ua->closed || !ua->auth || !sip_auth_client_count(ua->auth) || (st != 401 && st != 407))
        return SIP_EAUTH;
    const sip_cseq_t *cs = sip_msg_get_cseq(sent);
    const sip_addr_t *from = sip_msg_get_from(sent), *to = sip_msg_get_to(sent);
    if (!cs || !from || !to) return SIP_EINVAL;
    /* RFC 3261 §8.1.3.5: a new request (a new branch: the old top Via goes and the transaction
     * layer adds one) with the CSeq one higher. Inside a dialog that is the dialog's next
     * number, which the dialog then counts (§12.2.1.1), so its later requests go above it. */
    uint32_t seq = cs->seq + 1;
    sip_dialog_t *d =
        to->tag.len ? sip__ua_dialog_find(ua, sip_msg_get_call_id(sent), from->tag, to->tag) : NULL;
    if (d) seq = sip__dialog_take_cseq(d, seq);
    char buf[64];
    snprintf(buf, sizeof(buf), "%u %.*s", seq, (int)cs->method_str.len, cs->method_str.ptr);
    sip_msg_t *m = NULL, *bare = NULL;
    int rc = sip_msg_clone(&m, sent);
    if (!rc) rc = sip_msg_remove_headers(m, "Via") < 0 ? SIP_ENOMEM : 0;
    if (!rc) rc = sip_msg_set_header(m, "CSeq", buf);
    if (!rc && first) {
        /* Credentials the first request took from the cache (sip_auth_client_prepare()) and
         * that the server challenges again (a nonce it forgot, another server of the realm)
         * are no wrong password: the challenge is answered as a new one, as PJSIP does. A
         * request that answered a challenge of its own and is challenged again is. The rule
         * stays with the chain, not in the auth client: only the chain knows where the
         * credentials came from (RFC 2069's, without nc or cnonce, read the same taken from
         * the cache as made for a challenge). */
        const char *h = st == 401 ? "Authorization" : "Proxy-Authorization";
        if (sip_msg_header_by_name(m, h, 0)) {
            sip_msg_remove_headers(m, h);
            rc = sip_msg_clone(&bare, m);
        }
    }
    if (!rc) rc = sip_auth_client_authorize(ua->auth, m, bare ? bare : sent, challenge);
    sip_msg_unref(bare);
    if (rc) {
        sip_msg_unref(m);
        return rc;
    }
    *next = m;
    return 0;
}

void sip__ua_auth_done(sip_ua_t *ua, const sip_msg_t *sent, const sip_msg_t *rsp)
{
    int st = rsp ? sip_msg_get_status(rsp) : 0;
    if (!ua || ua->closed || !ua->auth || !sent || st < 200 || st >= 300) return;
    /* RFC 7616 §3.5: a nextnonce is the nonce of the next request. A wrong rspauth leaves
     * the cache as it was (sip_auth_client_update() takes nothing from it): the response
     * itself goes on to the application, which can check it with sip_auth_client_update(). */
    (void)sip_auth_client_update(ua->auth, sent, rsp);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void req_unlink(struct sip__ua_req *r)
{
    sip_ua_t *ua = r->ua;
    if (!ua) return;
    if (r->prev)
        r->prev->next = r->next;
    else
        ua->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->ua = NULL;
}

static void req_release(void *user)
{
    struct sip__ua_req *r = user;
    if (--r->refs > 0) return;
    req_unlink(r);
    sip_txn_unref(r->txn);
    sip_msg_unref(r->req);
    if (r->user_free) r->user_free(r->user);
    free(r);
}

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *crsp, void *user);

/* Sends m in a new transaction of r. 0, or an error (r keeps its former request). */
static int req_send(struct sip__ua_req *r, sip_msg_t *m, const sip_netinfo_t *dst)
{
    sip_netinfo_t ni;
    if (!dst && sip__ua_dst(m, &ni) == 0) dst = &ni;
    sip_txn_t *t = NULL;
    r->refs++;
    int rc = sip_txn_client_create(&t, r->ua->layer, m, dst, NULL, on_response, r, req_release);
    if (rc) return rc;
    sip_txn_unref(r->txn);
    r->txn = t;
    if (r->req != m) {
        sip_msg_unref(r->req);
        r->req = sip_msg_ref(m);
    }
    return 0;
}

/* A 401 or 407 the credentials answer: the request again, to the server that challenged. */
static int retry(struct sip__ua_req *r, const sip_msg_t *rsp)
{
    if (r->rounds >= MAX_AUTH_ROUNDS) return 0;
    sip_msg_t *next = NULL;
    if (sip__ua_auth_next(r->ua, r->req, rsp, r->rounds == 0, &next) != 0) return 0;
    const sip_netinfo_t *was = sip_msg_get_netinfo(r->req);
    sip_netinfo_t ni;
    if (was) ni = *was;
    int rc = req_send(r, next, was && ni.remote_ip[0] ? &ni : NULL);
    sip_msg_unref(next);
    if (rc) return 0;
    r->rounds++;
    return 1;
}

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *crsp, void *user)
{
    struct sip__ua_req *r = user;
    sip_msg_t *rsp = (sip_msg_t *)crsp;
    /* A transaction a retry replaced has nothing more to say. */
    if (!r->ua || txn != r->txn) return;
    r->refs++;
    if ((status == 401 || status == 407) && rsp && retry(r, rsp)) goto out;
    sip__ua_auth_done(r->ua, r->req, rsp);
    if (r->tcb) {
        r->tcb(txn, status, rsp, r->user);
    } else if (r->ucb) {
        /* A timeout or a transport failure is the transaction layer's 408 or 503 without a
         * message: the application gets one made here (RFC 3261 §8.1.3.1). */
        sip_msg_t *made = NULL;
        if (!rsp && sip_msg_create_response(&made, r->req, status, NULL, NULL) == 0) rsp = made;
        sip_ua_t *ua = r->ua;
        if (rsp) r->ucb(ua, r->req, rsp, r->user);
        sip_msg_unref(made);
    }
out:
    req_release(r);
}

/* internal: a call's request (a re-INVITE may go this way), else the application's. */
static int send_common(sip_ua_t *ua, sip_msg_t *req, const sip_netinfo_t *dst, int internal,
                       sip_ua_response_cb ucb, sip_response_cb tcb, void *user,
                       sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (!ua || !req || !sip_msg_is_request(req)) goto fail;
    sip_method_t m = sip_msg_get_method(req);
    if (m == SIP_METHOD_ACK || m == SIP_METHOD_CANCEL || (!internal && m == SIP_METHOD_INVITE))
        goto fail;
    rc = SIP_ECLOSED;
    if (ua->closed || !ua->layer) goto fail;
    rc = 0;
    if (!sip_msg_header_count(req, SIP_HDR_USER_AGENT))
        rc = sip__msg_copy_headers(req, ua->deco, SIP_HDR_USER_AGENT);
    /* RFC 7616 §3.4: the challenges answered before authorise the request at once. */
    if (!rc && ua->auth && sip_auth_client_count(ua->auth))
        rc = sip_auth_client_prepare(ua->auth, req);
    if (rc) goto fail;
    struct sip__ua_req *r = calloc(1, sizeof(*r));
    if (!r) {
        rc = SIP_ENOMEM;
        goto fail;
    }
    r->ua = ua;
    r->refs = 1;
    r->req = sip_msg_ref(req);
    r->ucb = ucb;
    r->tcb = tcb;
    r->user = user;
    r->user_free = user_free;
    r->next = ua->reqs;
    if (r->next) r->next->prev = r;
    ua->reqs = r;
    rc = req_send(r, req, dst);
    if (rc) {
        /* The request's user_free runs once, here: not through r. */
        r->user = NULL;
        r->user_free = NULL;
        req_release(r);
        goto fail;
    }
    req_release(r);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

int sip_ua_send_request(sip_ua_t *ua, sip_msg_t *req, const sip_netinfo_t *dst,
                        sip_ua_response_cb cb, void *user, sip_free_fn user_free)
{
    return send_common(ua, req, dst, 0, cb, NULL, user, user_free);
}

int sip__ua_send_auth(sip_ua_t *ua, sip_msg_t *req, const sip_netinfo_t *dst, sip_response_cb cb,
                      void *user, sip_free_fn user_free)
{
    return send_common(ua, req, dst, 1, NULL, cb, user, user_free);
}

void sip__ua_requests_close(sip_ua_t *ua)
{
    /* No callback after the UA closed: each transaction closes, and its user_free drops the
     * request's last reference. */
    while (ua->reqs) {
        struct sip__ua_req *r = ua->reqs;
        r->refs++;
        req_unlink(r);
        sip_txn_t *t = r->txn;
        r->txn = NULL;
        sip_txn_close(t);
        sip_txn_unref(t);
        req_release(r);
    }
}

/* ---- OPTIONS ------------------------------------------------------------------------------ */

int sip_ua_answer_options(sip_ua_t *ua, sip_txn_t *txn)
{
    if (!ua || !txn || sip_txn_is_client(txn)) return SIP_EINVAL;
    if (ua->closed) return SIP_ECLOSED;
    sip_msg_t *req = sip_txn_get_request(txn);
    sip_txn_state_t st = sip_txn_get_state(txn);
    if (!req || sip_msg_get_method(req) != SIP_METHOD_OPTIONS ||
        (st != SIP_TXN_TRYING && st != SIP_TXN_PROCEEDING))
        return SIP_EINVAL;
    sip_msg_t *rsp = NULL;
    int rc = sip_ua_create_response(&rsp, ua, txn, 200, NULL);
    /* RFC 3261 §11.2: what this UA takes, as the answer to an INVITE would say it. The
     * body types are those of accept; the UA reads bodies in no other encoding (§8.2.3). */
    if (!rc) rc = sip__msg_copy_headers(rsp, ua->deco, SIP_HDR_ALLOW);
    if (!rc && ua->accept && *ua->accept) rc = sip_msg_add_header(rsp, "Accept", ua->accept);
    if (!rc) rc = sip_msg_add_header(rsp, "Accept-Encoding", "identity");
    if (!rc) rc = sip_msg_add_header(rsp, "Accept-Language", "en");
    if (!rc) rc = sip__msg_copy_headers(rsp, ua->deco, SIP_HDR_SUPPORTED);
    if (!rc) rc = sip_txn_reply(txn, rsp);
    sip_msg_unref(rsp);
    return rc;
}
