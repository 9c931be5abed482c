/* SPDX-License-Identifier: MIT */
/* The proxy core (RFC 3261 §16): request validation and route preprocessing (§16.3, §16.4),
 * stateless forwarding (§16.11), transaction-stateful forwarding with parallel and sequential
 * forking, response aggregation, timer C and CANCEL (§16.6-§16.10), Record-Route, loop
 * detection; and the per-request routing API a program uses (look up, relay and read the
 * outcome, redirect, reply, authenticate, save). A forwarded request is the received bytes
 * with only the proxy's own edits. */
#ifndef SIP_PROXY_H
#define SIP_PROXY_H

#include <stdint.h>

#include "sip/auth.h"
#include "sip/guard.h"
#include "sip/location.h"
#include "sip/msg.h"
#include "sip/registrar.h"
#include "sip/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A proxy on a transaction layer. Opaque; reference counted. */
typedef struct sip_proxy sip_proxy_t;

/** One request the proxy received and a routing program decides about (with its server
 * transaction when the proxy is stateful). Opaque; reference counted: a program that decides
 * later (after a lookup, an await in Python, a yield in Lua) keeps a reference. */
typedef struct sip_proxy_req sip_proxy_req_t;

/**
 * A request to route. Called for every new request the proxy takes (after §16.3 checks and
 * §16.4 preprocessing; a request that fails them is answered without reaching here): out of
 * dialog or in (a request with Route naming this proxy, removed: sip_proxy_req_routed()),
 * ACKs of 2xx and CANCELs that match no transaction included.
 * @param req  Borrowed for the call: decide now, or sip_proxy_req_ref() it and decide later. A
 *             request nobody decided about and nobody references is answered 500 (an ACK is
 *             dropped).
 */
typedef void (*sip_proxy_route_cb)(sip_proxy_t *p, sip_proxy_req_t *req, void *user);

/** Options; initialise with sip_proxy_opts_init(). Strings are copied; objects referenced. */
typedef struct sip_proxy_opts {
    int stateless;                 /**< 1: no transactions (§16.11): relaying is refused
                                        (SIP_ENOTSUP); forward, reply, redirect and save work
                                        (default 0) */
    uint32_t timer_c_ms;           /**< INVITE branch with no final response (§16.6 step 11;
                                        reset by each provisional above 100; default 180000) */
    uint32_t max_branches;         /**< branches of one request at most (default 16) */
    int loop_detect;               /**< 1 (default): §16.3 step 4 loop detection, 482 */
    const char *record_route_host; /**< host[:port] of this proxy's Record-Route (default: the
                                        address of the listening point used) */
    sip_location_t *location;      /**< for sip_proxy_req_lookup() and which domains are local */
    sip_registrar_t *registrar;    /**< for sip_proxy_req_save() */
    sip_auth_server_t *auth;       /**< challenges for REGISTER and requests to a local user
                                        (401, WWW-Authenticate) */
    sip_auth_server_t *proxy_auth; /**< challenges for requests going on (407, Proxy-
                                        Authenticate; proxy mode); NULL: auth for both */
    sip_userdb_t *users;           /**< answers lookups of sip_proxy_req_authenticate() without a
                                        callback */
    const char *server;            /**< Server of the responses the proxy makes (default
                                        "libsip/" version; "": none) */
    int redirect;                  /**< sip_proxy_route_default(): redirect (302) rather than
                                        relay to registered contacts (default 0) */
    sip_guard_t *guard;            /**< told of every failed authentication (a wrong password,
                                        an unknown user, credentials that cannot be
                                        checked) with the source address; a blocked
                                        source's requests are dropped. Made on the same
                                        loop (else SIP_EINVAL) */
    const char *secret;            /**< keys the branches this proxy makes (the loop hash and
                                        the MAC of §16.11); proxies that share it take each
                                        other's stateless responses (the workers of one server:
                                        sip_worker_secret()). NULL or "" (default): random keys
                                        of this proxy alone. Copied into the keys at create */
} sip_proxy_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_proxy_opts_init(sip_proxy_opts_t *opts);

/**
 * Creates a proxy on a transaction layer. It joins the transport's handler chain at
 * SIP_HANDLER_PRIO_UA: every new request reaches cb; responses to its branches go to their
 * client transactions, and a response that matches none but whose top Via is this proxy's is
 * forwarded statelessly (§16.11; 2xx retransmissions of INVITEs included).
 * @param out        New reference
 * @param layer      Takes its own reference
 * @param opts       NULL for the defaults
 * @param cb         the routing program (NULL: sip_proxy_route_default())
 * @param user_free  runs once when the proxy closes, or when this call fails
 * @return 0, SIP_EINVAL (also a server with a line break, or a record_route_host longer than
 *         262 octets or with a space, a control character or one of <>;,?@"\; the option is
 *         logged), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_proxy_create(sip_proxy_t **out, sip_txn_layer_t *layer,
                                const sip_proxy_opts_t *opts, sip_proxy_route_cb cb, void *user,
                                sip_free_fn user_free);
/** Takes a reference. @return p. */
SIP_EXTERN sip_proxy_t *sip_proxy_ref(sip_proxy_t *p);
/** Drops a reference; the last one closes the proxy. Accepts NULL. */
SIP_EXTERN void sip_proxy_unref(sip_proxy_t *p);
/**
 * Closes the proxy: it leaves the handler chain; requests in progress are answered 503 (a relay
 * cancels its branches), their callbacks run no more. Idempotent.
 */
SIP_EXTERN void sip_proxy_close(sip_proxy_t *p);
/**
 * Replaces the routing program (NULL: sip_proxy_route_default()). Requests already taken
 * finish with the program that took them; the old user_free runs once none of them is
 * referenced any more (a script host reloading its script relies on this).
 * @return 0, SIP_ECLOSED.
 */
SIP_EXTERN int sip_proxy_set_route(sip_proxy_t *p, sip_proxy_route_cb cb, void *user,
                                   sip_free_fn user_free);
/** The transaction layer. Borrowed; NULL once closed. */
SIP_EXTERN sip_txn_layer_t *sip_proxy_get_layer(sip_proxy_t *p);
/**
 * Whether the proxy was made with sip_proxy_opts_t.redirect: a routing program (the default
 * one among them) answers a registered AOR with a 3xx rather than relaying to its contacts.
 * @return 1 or 0 (0 for NULL). Stays readable after sip_proxy_close().
 */
SIP_EXTERN int sip_proxy_get_redirect(const sip_proxy_t *p);
/**
 * Whether the proxy is stateless (sip_proxy_opts_t.stateless, §16.11): no transactions, so
 * sip_proxy_req_relay() answers SIP_ENOTSUP and a routing program forwards instead.
 * @return 1 or 0 (0 for NULL). Stays readable after sip_proxy_close().
 */
SIP_EXTERN int sip_proxy_get_stateless(const sip_proxy_t *p);
/**
 * The users table (sip_proxy_opts_t.users) that answers sip_proxy_req_authenticate().
 * @return Borrowed (the proxy keeps its reference until it is freed; sip_userdb_ref() to keep
 *         it longer); NULL when the proxy has none or p is NULL.
 */
SIP_EXTERN sip_userdb_t *sip_proxy_get_users(const sip_proxy_t *p);
/**
 * The digest server for REGISTER and our domains' requests (sip_proxy_opts_t.auth): its realm
 * is the one a user of sip_proxy_get_users() is looked up in.
 * @return Borrowed (as sip_proxy_get_users()); NULL when the proxy has none or p is NULL.
 */
SIP_EXTERN sip_auth_server_t *sip_proxy_get_auth(const sip_proxy_t *p);
/** The number of requests being routed (made and not yet freed). */
SIP_EXTERN size_t sip_proxy_req_count(const sip_proxy_t *p);
/** 1 when the URI's host is this proxy (a listening address or the Record-Route host) or one of
 * the location service's domains (every domain when it lists none), else 0. */
SIP_EXTERN int sip_proxy_is_local(const sip_proxy_t *p, const sip_uri_t *uri);

/* ---- the request --------------------------------------------------------------------------- */

/** Takes a reference. @return req. */
SIP_EXTERN sip_proxy_req_t *sip_proxy_req_ref(sip_proxy_req_t *req);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_proxy_req_unref(sip_proxy_req_t *req);
/** The proxy. Borrowed. */
SIP_EXTERN sip_proxy_t *sip_proxy_req_get_proxy(const sip_proxy_req_t *req);
/**
 * The request as it will be forwarded (Borrowed). Edit it with sip_msg_*() (Request-URI,
 * headers) before forwarding: edits apply to every branch made after them; the headers nobody
 * edits go out byte for byte.
 */
SIP_EXTERN sip_msg_t *sip_proxy_req_get_msg(const sip_proxy_req_t *req);
/** The server transaction (Borrowed), or NULL for a stateless proxy, an ACK or a CANCEL. */
SIP_EXTERN sip_txn_t *sip_proxy_req_get_txn(const sip_proxy_req_t *req);
/** 1 when §16.4 removed a Route naming this proxy (a request inside a record-routed dialog, or
 * one preloaded through this proxy): forward it as it is. */
SIP_EXTERN int sip_proxy_req_routed(const sip_proxy_req_t *req);
/** 1 once the request was answered, forwarded, relayed or dropped. */
SIP_EXTERN int sip_proxy_req_is_done(const sip_proxy_req_t *req);

/** Answers the request (statefully when there is a server transaction). A final response after
 * another final response is SIP_EBUSY. @return 0, SIP_EINVAL, SIP_EBUSY, SIP_ECLOSED,
 * SIP_ENOMEM. */
SIP_EXTERN int sip_proxy_req_reply(sip_proxy_req_t *req, int status, const char *reason);
/** Makes a response to the request (Server added) for the caller to edit and send with
 * sip_proxy_req_send_response(). @param out New reference. */
SIP_EXTERN int sip_proxy_req_create_response(sip_msg_t **out, sip_proxy_req_t *req, int status,
                                             const char *reason);
/** Sends a response the caller made (a reference is taken). @return as sip_proxy_req_reply(). */
SIP_EXTERN int sip_proxy_req_send_response(sip_proxy_req_t *req, sip_msg_t *rsp);
/**
 * Answers 3xx (300, 301, 302 or 305) with one Contact per binding (their q and expires), or 404
 * when set is NULL or empty (480 when asked: status 480 with an empty set).
 * @return as sip_proxy_req_reply(); SIP_EINVAL for another status.
 */
SIP_EXTERN int sip_proxy_req_redirect(sip_proxy_req_t *req, int status, const sip_bindings_t *set);
/** Drops the request without an answer (a stateless proxy's choice for junk). */
SIP_EXTERN int sip_proxy_req_drop(sip_proxy_req_t *req);

/**
 * Forwards the request statelessly (§16.11): Max-Forwards decremented, a Via whose branch is a
 * hash of the request (so its retransmissions take the same branch), Record-Route when asked;
 * to uri (which becomes the Request-URI) or, uri NULL, where the Route set or Request-URI says
 * (RFC 3263). ACKs of 2xx and CANCELs that matched nothing go this way in a stateful proxy.
 * @return 0 (sent or being resolved), SIP_EINVAL, SIP_EURI, SIP_EBUSY (already done),
 *         SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_proxy_req_forward(sip_proxy_req_t *req, const char *uri, int record_route);

/* ---- targets and relaying ------------------------------------------------------------------ */

/** Where a branch goes (§16.5, §16.6). Strings are copied; NULL means none. */
typedef struct sip_proxy_target {
    const char *uri;  /**< the branch's Request-URI (required) */
    int q;            /**< q in thousandths, -1 for none (taken as 1000) */
    const char *path; /**< Route values to preload (a binding's Path, RFC 3327 §5.2) */
    const char *dst;  /**< where to send, as a URI, instead of what the Route set or
                           Request-URI resolve to (a binding's received address behind a NAT:
                           sip_proxy_req_add_bindings()) */
    uint64_t conn_id; /**< RFC 5626 §5.3: the flow to send over while it is open, else dst */
} sip_proxy_target_t;

/** Adds a branch target. @return 0, SIP_EINVAL (also a path with a CR or LF), SIP_EURI,
 * SIP_ERANGE (max_branches), SIP_ENOMEM. */
SIP_EXTERN int sip_proxy_req_add_target(sip_proxy_req_t *req, const sip_proxy_target_t *t);
/**
 * Adds every binding of a set as a target, in the set's order (best q first): the contact as
 * Request-URI, q, the Path as preloaded Route (RFC 3327 §5.2) and the flow (RFC 5626 §5.3:
 * conn_id, used while its connection is open).
 * The address the REGISTER came from (the binding's received) becomes the target's dst only
 * when the contact cannot be reached as it is: an RFC 5626 registration (+sip.instance and
 * reg-id: the request goes back over the flow, §5.3), or a contact behind a NAT, told as
 * Kamailio's nathelper does by its host: an RFC 1918 or RFC 6598 IPv4 address, an IPv6
 * unique-local (fc00::/7) or link-local (fe80::/10) one, or an RFC 7118 ".invalid" name.
 * Any other contact is sent to as registered, so that a binding one UA registered for
 * another device (a third-party registration, RFC 3261 §10.2) reaches that device.
 * @param set  Borrowed; its strings are copied
 * @return as sip_proxy_req_add_target(); on SIP_ERANGE the targets added before stay (the
 *         best ones, as many as max_branches allows).
 */
SIP_EXTERN int sip_proxy_req_add_bindings(sip_proxy_req_t *req, const sip_bindings_t *set);
/**
 * The rule of sip_proxy_req_add_bindings() for one binding's fields: whether a binding with a
 * received address is reached through it (an RFC 5626 registration, or a contact behind a NAT:
 * RFC 1918/6598, IPv6 unique-local or link-local, ".invalid") rather than at its contact. For a
 * program that adds a copied binding with sip_proxy_req_add_target() (the script layers do).
 * @param contact   the binding's contact URI
 * @param instance  its +sip.instance, or NULL
 * @param reg_id    its reg-id, 0 for none
 * @return 1 (use the received address as dst) or 0 (the contact as it is; also a NULL or
 *         malformed contact).
 */
SIP_EXTERN int sip_proxy_binding_uses_received(const char *contact, const char *instance,
                                               uint32_t reg_id);
/** The number of targets added and not yet tried. */
SIP_EXTERN size_t sip_proxy_req_target_count(const sip_proxy_req_t *req);
/** Forgets the targets not yet tried. */
SIP_EXTERN void sip_proxy_req_clear_targets(sip_proxy_req_t *req);

/** What a branch hook sees. */
typedef enum sip_proxy_branch_event {
    SIP_PROXY_BRANCH_REQUEST = 0, /**< a branch's request is about to go out: edit it, or
                                       return non-zero to skip that target */
    SIP_PROXY_BRANCH_RESPONSE,    /**< a response arrived on a branch (every provisional and
                                       final): edit it before it is forwarded or kept, or
                                       return non-zero to drop it (a provisional is then not
                                       forwarded; a final counts as a 408 of that branch) */
} sip_proxy_branch_event_t;

/**
 * A per-branch hook (Kamailio's branch_route and onreply_route).
 * @param branch  the branch's index (sip_proxy_req_branch_*())
 * @param msg     Borrowed for the call: the branch's request or the response
 * @return 0 to go on, non-zero to skip or drop
 */
typedef int (*sip_proxy_branch_cb)(sip_proxy_req_t *req, sip_proxy_branch_event_t event, int branch,
                                   sip_msg_t *msg, void *user);

/**
 * A relay's outcome: every branch has a final response (or none will come), and no 2xx
 * arrived, or one did (then the 2xx went upstream at once, and status is 2xx).
 * @param status  the best final status (§16.7 step 6): 2xx if any branch answered, a 6xx,
 *                else the lowest class (408 when no branch answered)
 * @param best    Borrowed for the call: the best response (made by the proxy for a 408)
 */
typedef void (*sip_proxy_done_cb)(sip_proxy_req_t *req, int status, sip_msg_t *best, void *user);

/** How to relay; initialise with sip_proxy_relay_opts_init(). */
typedef struct sip_proxy_relay_opts {
    int record_route;     /**< 1: add Record-Route (two when the request leaves through
                               another transport or address than it came: RFC 3261 §16.6
                               step 4, RFC 5658) (default 0) */
    int parallel;         /**< 1 (default): every target at once; 0: sequential forking by q
                               (§16.6: the targets of the highest q first, in parallel; the next q
                               when they all fail or time out) */
    uint32_t timeout_ms;  /**< how long a group of branches may go without a final response
                               before it is cancelled and the next group tried (default 0: only
                               timer C and the transaction timers) */
    int follow_redirects; /**< 1: a 3xx's Contacts become new targets (§16.5 recursion, each
                               URI tried once) instead of a response (default 0) */
    int keep_final;       /**< 1: a non-2xx outcome is not forwarded when cb returns: the
                               caller relays again, replies, or sends it with
                               sip_proxy_req_forward_best() (scripts that await the outcome);
                               0 (default): forwarded after cb unless cb relayed or replied */
    sip_proxy_branch_cb on_branch; /**< per-branch hook (may be NULL); gets the relay's user */
} sip_proxy_relay_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_proxy_relay_opts_init(sip_proxy_relay_opts_t *opts);

/**
 * Relays the request statefully (§16.6-§16.10) to the targets added (none added: to the
 * Request-URI, or where the Route set says): each branch a copy of the request with its own Via
 * branch and Request-URI, Max-Forwards decremented, Path preloaded, Record-Route when asked.
 * Provisional responses (not 100) are forwarded as they come; the first 2xx of each branch is
 * forwarded at once and the other branches are cancelled (INVITE); a 6xx cancels the others;
 * otherwise the best final response waits for every branch (§16.7). A CANCEL of the request
 * cancels every branch. Timer C guards each INVITE branch. May be called again from cb (or
 * later with keep_final) to try more targets, which is how failure routing is written.
 * @param opts       NULL for the defaults
 * @param cb         the outcome (may be NULL: the best response is forwarded)
 * @param user_free  runs once after cb, or when the request closes, or when this call fails
 * @return 0, SIP_EINVAL, SIP_ENOTSUP (stateless proxy, ACK or CANCEL), SIP_EBUSY (a relay in
 *         progress, or answered), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_proxy_req_relay(sip_proxy_req_t *req, const sip_proxy_relay_opts_t *opts,
                                   sip_proxy_done_cb cb, void *user, sip_free_fn user_free);
/** Forwards the best response of the last relay as §16.7 steps 7-9 say (the challenges of every
 * 401/407 branch gathered, a 503 sent as 500). @return as sip_proxy_req_reply(); SIP_ENOENT
 * when no relay ended. */
SIP_EXTERN int sip_proxy_req_forward_best(sip_proxy_req_t *req);
/** Cancels every pending branch of the relay (the outcome follows). @return 0, SIP_ENOENT. */
SIP_EXTERN int sip_proxy_req_cancel(sip_proxy_req_t *req);
/**
 * Leaves the relay in progress to the proxy, as if it had been started without a callback: its
 * cb will not run, user_free runs now, and a non-2xx outcome is forwarded upstream (§16.7) as
 * with keep_final 0. For a routing program whose route ended without waiting for the outcome
 * (it relayed and returned): the outcome then costs it nothing.
 * @return 0, SIP_EINVAL (req NULL), SIP_ENOENT (no relay in progress), SIP_EBUSY (the relay has
 *         an on_branch hook, which gets the relay's user until it ends: nothing changed).
 */
SIP_EXTERN int sip_proxy_req_relay_detach(sip_proxy_req_t *req);

/** The number of branches made so far (every relay of the request). */
SIP_EXTERN size_t sip_proxy_req_branch_count(const sip_proxy_req_t *req);
/** A branch's final status, the last provisional's while it has none, 0 before any. */
SIP_EXTERN int sip_proxy_req_branch_status(const sip_proxy_req_t *req, size_t i);
/** A branch's final response, or its last provisional (Borrowed), or NULL. */
SIP_EXTERN sip_msg_t *sip_proxy_req_branch_response(const sip_proxy_req_t *req, size_t i);
/** A branch's Request-URI (Borrowed), or NULL past the end. */
SIP_EXTERN const char *sip_proxy_req_branch_target(const sip_proxy_req_t *req, size_t i);

/* ---- location, registrar and authentication ------------------------------------------------ */

/**
 * Looks up the Request-URI in the proxy's location service (sip_location_lookup()).
 * @return as sip_location_lookup(); SIP_ENOENT when the proxy has no location service.
 */
SIP_EXTERN int sip_proxy_req_lookup(sip_proxy_req_t *req, sip_location_lookup_cb cb, void *user,
                                    sip_free_fn user_free);
/**
 * Checks the request's credentials with the proxy's digest server (401 realm for REGISTER and
 * requests for a local domain, 407 for the rest). The lookup goes to cb, or, cb NULL, to the
 * proxy's users table; cb gets DONE too. After DONE, sip_proxy_req_get_auth_user() is who the
 * request was authenticated as.
 * @return as sip_auth_server_check(); SIP_ENOENT when the proxy has no digest server.
 */
SIP_EXTERN int sip_proxy_req_authenticate(sip_proxy_req_t *req, sip_auth_check_cb cb, void *user,
                                          sip_free_fn user_free);
/** The user the request was authenticated as (Borrowed), or NULL. */
SIP_EXTERN const char *sip_proxy_req_get_auth_user(const sip_proxy_req_t *req);
/** Answers the request with the challenge of the last check (401/407, stale=true when it was
 * stale; 400 for malformed credentials), or a fresh challenge without a check.
 * @return as sip_proxy_req_reply(); SIP_ENOENT without a digest server. */
SIP_EXTERN int sip_proxy_req_challenge(sip_proxy_req_t *req);
/**
 * Saves a REGISTER with the proxy's registrar, as the user the request was authenticated as
 * (sip_registrar_save()); a stateless proxy makes the server transaction here.
 * @return as sip_registrar_save(); SIP_ENOENT when the proxy has no registrar.
 */
SIP_EXTERN int sip_proxy_req_save(sip_proxy_req_t *req, sip_registrar_cb cb, void *user,
                                  sip_free_fn user_free);

/**
 * The default routing of `sipd`:
 * - a REGISTER for a local domain is authenticated (when the proxy has a digest server) and
 *   saved; for another domain it goes on like any request;
 * - a request routed by a Route naming this proxy (a dialog's) is forwarded as it is
 *   (statelessly for ACK and CANCEL, else relayed);
 * - a request for a local domain is relayed to the AOR's contacts (forking by q), or redirected
 *   302 with them (opts redirect); 404 when there is none, whether the AOR is a known user or
 *   not (no user enumeration);
 * - a request for another domain is forwarded with RFC 3263 when its sender authenticates as a
 *   local user (407 challenge first), never for anyone else: not an open relay.
 * Stateless proxies forward rather than relay.
 * @return 0 (the request is being routed), or an error it was answered 500 for.
 */
SIP_EXTERN int sip_proxy_route_default(sip_proxy_req_t *req);

#ifdef __cplusplus
}
#endif
#endif
