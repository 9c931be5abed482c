/* SPDX-License-Identifier: MIT */
/* HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760): the client half, which
 * answers 401 and 407 challenges with stored credentials, and the server half, which challenges
 * requests and verifies their credentials (sip_auth_server_*, below). */
#ifndef SIP_AUTH_H
#define SIP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sip/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Digest algorithms (RFC 7616 §3.2, RFC 8760), as bits so that a set of them fits an int. */
typedef enum sip_auth_algorithm {
    SIP_AUTH_MD5 = 1,                 /**< "MD5" (RFC 2617; the default when none is named) */
    SIP_AUTH_MD5_SESS = 2,            /**< "MD5-sess" */
    SIP_AUTH_SHA256 = 4,              /**< "SHA-256" */
    SIP_AUTH_SHA256_SESS = 8,         /**< "SHA-256-sess" */
    SIP_AUTH_SHA512_256 = 16,         /**< "SHA-512-256" */
    SIP_AUTH_SHA512_256_SESS = 32,    /**< "SHA-512-256-sess" */
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
 * Adds a credential. One for the same realm and user replaces the earlier one.
 * @return 0, SIP_EINVAL (no user; neither password nor ha1; ha1 without a realm or not hex of
 *         the algorithm's length), SIP_ENOMEM.
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
/** The number of credentials. */
SIP_EXTERN size_t sip_auth_client_count(const sip_auth_client_t *ac);

#ifdef __cplusplus
}
#endif
#endif
