/* SPDX-License-Identifier: MIT */
/* HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760): the client half, which
 * answers 401 and 407 challenges with stored credentials, and the server half, which challenges
 * requests and verifies their credentials (sip_auth_server_*, below). */
#ifndef SIP_AUTH_H
#define SIP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sip/msg.h"
#include "sip/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Digest algorithms (RFC 7616 §3.2, RFC 8760), as bits so that a set of them fits an int. */
typedef enum sip_auth_algorithm {
    SIP_AUTH_MD5 = 1,              /**< "MD5" (RFC 2617; the default when none is named) */
    SIP_AUTH_MD5_SESS = 2,         /**< "MD5-sess" */
    SIP_AUTH_SHA256 = 4,           /**< "SHA-256" */
    SIP_AUTH_SHA256_SESS = 8,      /**< "SHA-256-sess" */
    SIP_AUTH_SHA512_256 = 16,      /**< "SHA-512-256" */
    SIP_AUTH_SHA512_256_SESS = 32, /**< "SHA-512-256-sess" */
} sip_auth_algorithm_t;

/** Names an algorithm ("SHA-256"); NULL for a value that is not one algorithm. */
SIP_EXTERN const char *sip_auth_algorithm_name(int algorithm);
/** The algorithm a name gives (case-insensitive), or 0 for an unknown one. */
SIP_EXTERN int sip_auth_algorithm_from_name(const char *name);

/* ---- client ------------------------------------------------------------------------------ */

/** A set of credentials and the challenges they answered. Opaque; reference counted. */
typedef struct sip_auth_client sip_auth_client_t;

/** One credential. Strings are copied. */
typedef struct sip_auth_cred {
    const char *realm;    /**< the realm it answers; NULL or "*" for any realm */
    const char *user;     /**< the username (required) */
    const char *password; /**< the password; or NULL and ha1 */
    const char *ha1;      /**< H(username:realm:password) in lower-case hex for algorithm, when
                               the password is not given (then realm must be named) */
    int algorithm;        /**< with ha1: which algorithm's hash it is (0: SIP_AUTH_MD5; the
                               -sess variants use the same HA1 as their base) */
} sip_auth_cred_t;

/**
 * Creates an empty credential store.
 * @param out  New reference
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_client_create(sip_auth_client_t **out);
/** Takes a reference. @return ac. */
SIP_EXTERN sip_auth_client_t *sip_auth_client_ref(sip_auth_client_t *ac);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_auth_client_unref(sip_auth_client_t *ac);

/**
 * Adds a credential. One for the same realm and user replaces the earlier one; the challenges
 * cached for that user (in that realm, or any for a credential of any realm) are forgotten, so
 * that the next request answers a fresh challenge with it.
 * @return 0, SIP_EINVAL (no user; neither password nor ha1; ha1 without a realm or not hex of
 *         the algorithm's length; a control character in the user or realm), SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_client_add(sip_auth_client_t *ac, const sip_auth_cred_t *cred);
/** Forgets every credential and every cached challenge. */
SIP_EXTERN void sip_auth_client_clear(sip_auth_client_t *ac);

/**
 * Answers the challenges of a 401 or 407 (RFC 3261 §22.2, §22.3). For each WWW-Authenticate
 * (401) or Proxy-Authenticate (407) with the Digest scheme, it picks the strongest algorithm
 * offered for that realm that it has a credential for (SHA-512-256, SHA-256, MD5; the -sess
 * forms after their base), qop auth-int when offered and the body is at hand, else auth, else
 * RFC 2069's none; a fresh cnonce from OpenSSL and the nonce count; and adds Authorization or
 * Proxy-Authorization to next, replacing the ones next had for the same realm. The challenge is
 * cached per realm, so that sip_auth_client_prepare() authorises later requests at once.
 * A challenge for a realm that sent already held credentials for it (the same user) is a wrong
 * password unless it says stale=true (RFC 7616 §3.3): then it gives SIP_EAUTH, not a retry.
 * @param next       the request to send next: the caller's copy of sent with its CSeq raised
 *                   and its top Via gone (a new transaction); edited here
 * @param sent       Borrowed: the request that was challenged
 * @param challenge  Borrowed: the 401 or 407 to it
 * @return 0 (next carries an answer to at least one challenge and to every one it can),
 *         SIP_EAUTH (no challenge it has a credential for, or a wrong password), SIP_EINVAL
 *         (NULL, not a 401/407, no Digest challenge), SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_client_authorize(sip_auth_client_t *ac, sip_msg_t *next,
                                         const sip_msg_t *sent, const sip_msg_t *challenge);
/**
 * Authorises a new request at once with the challenges cached for every realm (RFC 7616 §3.4:
 * the same nonce, the nonce count one higher), as PJSIP and Sofia-SIP do, so that a refresh or
 * a second request to the same server is not challenged again. A request that carries
 * Authorization for a realm already keeps it.
 * @return 0 (also when nothing is cached), SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_client_prepare(sip_auth_client_t *ac, sip_msg_t *req);
/**
 * Takes in the response to a request the client authorised (RFC 7616 §3.5, RFC 2617 §3.2.3):
 * its Authentication-Info. A rspauth is checked against the credentials the request carried
 * (mutual authentication: the server knew the password too); a nextnonce then replaces the
 * nonce cached for that realm, its nonce count starting again at 1, so that the next request
 * (a registration refresh) is authorised with it and not challenged. Authentication-Info names
 * no realm: with credentials for several realms, the one whose rspauth it carries is meant
 * (without a rspauth the nextnonce is taken only when there is one). Meant for each final 2xx
 * of an authorised request; a response without Authentication-Info, or to a request without
 * credentials of this client, changes nothing.
 * @param req  Borrowed: the request as sent, with its Authorization
 * @param rsp  Borrowed: the response to it
 * @return 0 (taken, or nothing to take), SIP_EAUTH (a rspauth that the credentials sent do not
 *         give: a server that does not know the password, or an altered response; its
 *         nextnonce is not taken), SIP_EINVAL (NULL, req not a request or rsp not a
 *         response), SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_client_update(sip_auth_client_t *ac, const sip_msg_t *req,
                                      const sip_msg_t *rsp);
/** The number of credentials. */
SIP_EXTERN size_t sip_auth_client_count(const sip_auth_client_t *ac);

/* ---- server ------------------------------------------------------------------------------ */

/** Quality-of-protection values a server offers (RFC 7616 §3.3), as bits. */
typedef enum sip_auth_qop {
    SIP_AUTH_QOP_AUTH = 1,     /**< "auth": the request line is protected */
    SIP_AUTH_QOP_AUTH_INT = 2, /**< "auth-int": the body too */
} sip_auth_qop_t;

/** What a check found (sip_auth_query_get_verdict()). */
typedef enum sip_auth_verdict {
    SIP_AUTH_PENDING = 0, /**< the lookup has not answered yet */
    SIP_AUTH_OK,          /**< the credentials are right: sip_auth_query_get_user() is who */
    SIP_AUTH_CHALLENGE,   /**< no credentials for this realm: answer with a challenge */
    SIP_AUTH_STALE,       /**< right, but for a nonce the server no longer takes (expired,
                               forgotten by the replay table, signed with another secret) or
                               an algorithm or qop it does not offer: the challenge says
                               stale=true and the client retries at once */
    SIP_AUTH_FAILED,      /**< a wrong response: a wrong password or an unknown user, the same
                               challenge as SIP_AUTH_CHALLENGE, so that nobody learns which */
    SIP_AUTH_REPLAY,      /**< right, but the nonce count was used before (RFC 7616 §3.4.5):
                               a replayed request; challenged again with stale=true */
    SIP_AUTH_MALFORMED,   /**< credentials for this realm that cannot be checked (a missing
                               field, a bad nonce count, a uri other than the Request-URI):
                               answer 400 */
} sip_auth_verdict_t;

/** Names a verdict ("ok", "challenge", "stale", "failed", "replay", "malformed", "pending");
 * NULL for another value. */
SIP_EXTERN const char *sip_auth_verdict_name(sip_auth_verdict_t verdict);

/** A digest server for one realm: challenges and checks. Opaque; reference counted. */
typedef struct sip_auth_server sip_auth_server_t;
/** One check in progress: the credentials it asks a password or HA1 for, then its verdict.
 * Opaque; reference counted. */
typedef struct sip_auth_query sip_auth_query_t;

/** Options; initialise with sip_auth_server_opts_init(). */
typedef struct sip_auth_server_opts {
    const char *realm;            /**< the realm (required; RFC 3261 §22.1: usually the domain) */
    const char *secret;           /**< signs the nonces; servers that share it accept each other's
                                       nonces, also across restarts. NULL (default): 32 random bytes
                                       from OpenSSL, so that nonces end with the server */
    uint32_t nonce_lifetime_s;    /**< how long a nonce is good for (default 300); after it, right
                                       credentials get SIP_AUTH_STALE */
    int algorithms;               /**< a set of sip_auth_algorithm_t offered, one challenge each,
                                       strongest first (RFC 8760 §2.4) (default SHA-256 and MD5) */
    int qop;                      /**< a set of sip_auth_qop_t offered (default SIP_AUTH_QOP_AUTH);
                                       0: RFC 2069's none, which cannot count nonces: a nonce is
                                       then good for one request */
    int proxy;                    /**< 1: a proxy's Proxy-Authenticate and Proxy-Authorization, and
                                       407 (RFC 3261 §22.3); 0 (default): WWW-Authenticate,
                                       Authorization and 401 */
    uint32_t replay_slots;        /**< how many nonces the nonce-count check remembers (default
                                       4096; rounded up to a power of two). A forgotten nonce is
                                       stale, never replayable */
    const sip_txn_clock_t *clock; /**< NULL (default): the wall clock, so that a nonce outlives
                                       a restart with the same secret; tests give their own
                                       (only now_ms is used); copied */
} sip_auth_server_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_auth_server_opts_init(sip_auth_server_opts_t *opts);

/** A check's events. */
typedef enum sip_auth_event {
    SIP_AUTH_EVENT_LOOKUP = 0, /**< the credentials name a user: answer the query with
                                    sip_auth_query_answer_ha1(), _password() or _unknown(), now
                                    or later (take a reference with sip_auth_query_ref()) */
    SIP_AUTH_EVENT_DONE,       /**< the verdict is in: sip_auth_query_get_verdict() */
} sip_auth_event_t;

/**
 * A check's callback: once with SIP_AUTH_EVENT_LOOKUP when the request carries credentials for
 * the realm, then once with SIP_AUTH_EVENT_DONE. Both may come inside sip_auth_server_check().
 * @param q  Borrowed: the check (sip_auth_query_ref() to keep it)
 */
typedef void (*sip_auth_check_cb)(sip_auth_query_t *q, sip_auth_event_t event, void *user);

/**
 * Creates a server.
 * @param out   New reference
 * @param opts  the options (realm required); strings are copied
 * @return 0, SIP_EINVAL (no realm or one with a control character, an unknown algorithm or
 *         qop bit, no algorithm), SIP_EIO (no random bytes for the secret), SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_server_create(sip_auth_server_t **out, const sip_auth_server_opts_t *opts);
/** Takes a reference. @return srv. */
SIP_EXTERN sip_auth_server_t *sip_auth_server_ref(sip_auth_server_t *srv);
/** Drops a reference. Checks in progress keep the server alive. Accepts NULL. */
SIP_EXTERN void sip_auth_server_unref(sip_auth_server_t *srv);
/** The realm. Borrowed. */
SIP_EXTERN const char *sip_auth_server_get_realm(const sip_auth_server_t *srv);

/**
 * Checks the credentials of a request (RFC 7616 §3.4, RFC 3261 §22.4): the Authorization (or,
 * for a proxy, Proxy-Authorization) for the server's realm. Without one the verdict is
 * SIP_AUTH_CHALLENGE at once. With one, cb gets SIP_AUTH_EVENT_LOOKUP to find the user's HA1
 * (or password); the lookup may answer later, from a database or a network service, without
 * blocking the loop. Then the response is compared in constant time (CRYPTO_memcmp); an
 * unknown user costs the same hashing as a wrong password and gets the same verdict. The
 * nonce carries its time and is signed with the secret, so no state is kept per challenge:
 * only the last nonce counts of the nonces that passed, to refuse replays.
 * @param out   a New reference to the check, or NULL when the caller needs none (the check
 *              keeps itself alive until DONE)
 * @param req   the request; the check takes its own reference
 * @param cb    the events (required)
 * @param user_free  runs once after DONE, or when the check is closed, or when this call fails
 * @return 0 (cb may already have run, DONE included), SIP_EINVAL (NULL, not a request),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_server_check(sip_auth_query_t **out, sip_auth_server_t *srv, sip_msg_t *req,
                                     sip_auth_check_cb cb, void *user, sip_free_fn user_free);

/**
 * Adds the challenges to a 401 or 407 (or to any response a script builds): one
 * WWW-Authenticate (Proxy-Authenticate for a proxy) per algorithm offered, strongest first
 * (RFC 8760 §2.4), with a fresh signed nonce, the qop offered and stale=true when asked.
 * @return 0, SIP_EINVAL, SIP_EIO (no random bytes), SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_server_challenge(sip_auth_server_t *srv, sip_msg_t *rsp, int stale);

/** Takes a reference. @return q. */
SIP_EXTERN sip_auth_query_t *sip_auth_query_ref(sip_auth_query_t *q);
/** Drops a reference. A check in progress keeps itself until answered or closed. Accepts
 * NULL. */
SIP_EXTERN void sip_auth_query_unref(sip_auth_query_t *q);
/** Stops a check in progress: no callback after it returns, user_free runs, and an answer
 * later gives SIP_ECLOSED. Idempotent; nothing for a check that is done. */
SIP_EXTERN void sip_auth_query_close(sip_auth_query_t *q);

/** The server. Borrowed. */
SIP_EXTERN sip_auth_server_t *sip_auth_query_get_server(const sip_auth_query_t *q);
/** The request checked. Borrowed. */
SIP_EXTERN sip_msg_t *sip_auth_query_get_request(const sip_auth_query_t *q);
/** The username of the credentials (quotes and escapes gone); empty without credentials.
 * Borrowed. */
SIP_EXTERN sip_str_t sip_auth_query_get_user(const sip_auth_query_t *q);
/** The realm of the credentials (the server's). Borrowed. */
SIP_EXTERN sip_str_t sip_auth_query_get_realm(const sip_auth_query_t *q);
/** The algorithm of the credentials: the HA1 asked is H(user:realm:password) with its hash (a
 * -sess algorithm asks its base's HA1); 0 without credentials. */
SIP_EXTERN int sip_auth_query_get_algorithm(const sip_auth_query_t *q);
/** The verdict; SIP_AUTH_PENDING until DONE. */
SIP_EXTERN sip_auth_verdict_t sip_auth_query_get_verdict(const sip_auth_query_t *q);
/** The status to answer with: 0 while pending and for SIP_AUTH_OK (the application's own), 400
 * for SIP_AUTH_MALFORMED, else 401 (407 for a proxy). */
SIP_EXTERN int sip_auth_query_get_status(const sip_auth_query_t *q);

/**
 * Answers the lookup with the user's HA1 for sip_auth_query_get_algorithm()'s hash, in hex.
 * @return 0 (DONE follows, maybe inside this call), SIP_EINVAL (not hex of that hash's length:
 *         the query stays pending), SIP_EBUSY (no lookup pending: answered or not asked),
 *         SIP_ECLOSED.
 */
SIP_EXTERN int sip_auth_query_answer_ha1(sip_auth_query_t *q, const char *ha1);
/** Answers the lookup with the user's password. @return as sip_auth_query_answer_ha1(). */
SIP_EXTERN int sip_auth_query_answer_password(sip_auth_query_t *q, const char *password);
/** Answers that no such user exists: the verdict is SIP_AUTH_FAILED, reached with the same
 * work as a wrong password. @return as sip_auth_query_answer_ha1(). */
SIP_EXTERN int sip_auth_query_answer_unknown(sip_auth_query_t *q);

/**
 * Makes the response a check asks for when its verdict is not SIP_AUTH_OK: 401 (407 for a
 * proxy) with the challenges (stale=true for SIP_AUTH_STALE and SIP_AUTH_REPLAY: the digest
 * was right, so the client retries with the fresh nonce at once), or 400 for
 * SIP_AUTH_MALFORMED.
 * @param out  New reference
 * @return 0, SIP_EINVAL (pending or SIP_AUTH_OK), SIP_EIO, SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_query_create_response(sip_msg_t **out, sip_auth_query_t *q);

/**
 * Adds Authentication-Info to the 2xx of a request whose verdict is SIP_AUTH_OK (RFC 7616
 * §3.5): a nextnonce, and with a qop the rspauth that proves the server knows the password,
 * with the qop, cnonce and nc it answers.
 * @return 0, SIP_EINVAL (not SIP_AUTH_OK), SIP_EIO, SIP_ENOMEM.
 */
SIP_EXTERN int sip_auth_query_add_info(sip_auth_query_t *q, sip_msg_t *rsp);

#ifdef __cplusplus
}
#endif
#endif
