/* SPDX-License-Identifier: MIT */
/* The registrar (RFC 3261 §10.3): processes REGISTER requests into the location service (add,
 * refresh, remove, `*`), with Call-ID/CSeq ordering, min/max expires and 423, Path (RFC 3327),
 * Service-Route (RFC 3608) and SIP Outbound flows (RFC 5626 §6). Authentication (step 3) is the
 * caller's: it passes the user the request was authenticated as, and the registrar refuses an
 * AOR that user may not register. */
#ifndef SIP_REGISTRAR_H
#define SIP_REGISTRAR_H

#include <stdint.h>

#include "sip/auth.h"
#include "sip/location.h"
#include "sip/msg.h"
#include "sip/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A registrar. Opaque; reference counted. */
typedef struct sip_registrar sip_registrar_t;

/** Options; initialise with sip_registrar_opts_init(). Strings are copied. */
typedef struct sip_registrar_opts {
    uint32_t min_expires;      /**< shorter is answered 423 with Min-Expires (default 60) */
    uint32_t max_expires;      /**< longer is granted as this (default 3600) */
    uint32_t default_expires;  /**< without Expires or an expires param (default 3600) */
    uint32_t max_contacts;     /**< bindings per AOR at most; more is answered 403 (default 0:
                                    256, so that one user cannot grow the service unbounded) */
    const char *service_route; /**< Service-Route values for the 2xx (RFC 3608 §6: "<sip:
                                    proxy.example.com;lr>"); NULL or "": none */
    int path;                  /**< 1 (default): keep Path (RFC 3327 §5.3) when the UA supports
                                    "path", and echo it in the 2xx; 0: ignore Path */
    uint32_t flow_timer;       /**< RFC 5626 §6: Flow-Timer of a 2xx that binds a flow over a
                                    stream connection (default 120 s; 0: none) */
    int outbound;              /**< 1 (default): honour +sip.instance/reg-id (RFC 5626 §6) */
    int auth_required;         /**< 1 (default): sip_registrar_save() without an authenticated
                                    user answers 403 (so a caller that forgot to authenticate
                                    never opens the registrar); 0 lets anyone register */
    const char *server;        /**< Server header of the responses (default "libsip/" version;
                                    "": none) */
} sip_registrar_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_registrar_opts_init(sip_registrar_opts_t *opts);

/**
 * Creates a registrar writing into a location service.
 * @param out  New reference
 * @param loc  Takes its own reference
 * @return 0, SIP_EINVAL (min_expires above max_expires...), SIP_ENOMEM.
 */
SIP_EXTERN int sip_registrar_create(sip_registrar_t **out, sip_location_t *loc,
                                    const sip_registrar_opts_t *opts);
/** Takes a reference. @return r. */
SIP_EXTERN sip_registrar_t *sip_registrar_ref(sip_registrar_t *r);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_registrar_unref(sip_registrar_t *r);
/** The location service. Borrowed. */
SIP_EXTERN sip_location_t *sip_registrar_get_location(sip_registrar_t *r);

/**
 * The outcome of a save: the response went out (or could not: status is then what was meant).
 * @param status  the status answered (200, 400, 403, 404, 423, 500 (the store failed)...)
 * @param rsp     Borrowed for the call: the response sent (NULL when none could be made)
 * @param set     Borrowed for the call: the AOR's bindings after the save (on a 200), or NULL
 */
typedef void (*sip_registrar_cb)(sip_registrar_t *r, int status, sip_msg_t *rsp,
                                 sip_bindings_t *set, void *user);

/**
 * Processes a REGISTER on its server transaction and answers it (RFC 3261 §10.3 steps 1-2 and
 * 4-8):
 * - the To is the AOR; a domain not local to the location service is answered 404, a To that
 *   is not a SIP/SIPS URI with a user 404 too (§10.3 step 5), a Require the registrar does not
 *   support 420;
 * - with auth_user, the AOR (its aliases followed) must be that user's in a local domain, else
 *   403; without one, 403 unless auth_required is 0;
 * - each Contact: expires param, else Expires, else default; above max granted as max; non-zero
 *   below min answered 423 with Min-Expires (nothing changes); `*` only alone with Expires: 0
 *   (else 400) removes every binding unless its Call-ID is the same with a CSeq not higher;
 *   a binding of the same Call-ID and a CSeq not higher is refused with 500 (§10.3 step 7: an
 *   out-of-order request), another Call-ID replaces it; a Call-ID longer than 255 octets 400;
 * - a refusal's reason phrase says what was wrong ("Too Many Contacts", "Call-ID Too Long"...);
 * - the bindings keep Path (with "path" in Supported), the source address, socket and stream
 *   connection (RFC 5626 flows), instance and reg-id, User-Agent;
 * - the 200 (sent once every write is durable) lists every current binding with its expires,
 *   Date, Path and Service-Route, Supported: outbound and Require: outbound when a flow was
 *   bound (RFC 5626 §6), Flow-Timer.
 * @param txn        the REGISTER's server transaction (Borrowed; a reference is taken)
 * @param auth_user  the user the request was authenticated as (sip_auth_query_get_user()), or
 *                   NULL
 * @param cb         may be NULL
 * @param user_free  runs once after cb (or when this call fails)
 * @return 0 (the answer follows, maybe inside this call), SIP_EINVAL (not a REGISTER's
 *         server transaction), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_registrar_save(sip_registrar_t *r, sip_txn_t *txn, const char *auth_user,
                                  sip_registrar_cb cb, void *user, sip_free_fn user_free);

/**
 * Answers a REGISTER without Contact the way §10.3 step 8 says, for the caller that only wants
 * the current bindings listed; sip_registrar_save() already does this for such a request.
 * @return as sip_registrar_save().
 */
SIP_EXTERN int sip_registrar_fetch(sip_registrar_t *r, sip_txn_t *txn, sip_registrar_cb cb,
                                   void *user, sip_free_fn user_free);

/* ---- users -------------------------------------------------------------------------------- */

/** A table of users and their HA1 hashes per realm and algorithm: what `sipd passwd` writes and
 * what answers the digest server's lookups (sip/auth.h). Opaque; reference counted. */
typedef struct sip_userdb sip_userdb_t;

/**
 * Creates a table, empty or read from a file. The file has one user per line, "user:realm:
 * algorithm:ha1" (algorithm "MD5" or "SHA-256", HA1 in lower-case hex; '#' starts a comment;
 * a user has one line per algorithm).
 * @param path  NULL for an empty table
 * @param err   when not NULL and the file is malformed: the line number (>0) of the first error
 * @return 0, SIP_EIO (unreadable: the reason is logged), SIP_EPARSE (a malformed line, logged
 *         with its number and what is wrong), SIP_ENOMEM.
 */
SIP_EXTERN int sip_userdb_create(sip_userdb_t **out, const char *path, int *err_line);
/** Takes a reference. @return db. */
SIP_EXTERN sip_userdb_t *sip_userdb_ref(sip_userdb_t *db);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_userdb_unref(sip_userdb_t *db);
/**
 * Adds (or replaces) a user's hashes for a realm from the password: MD5 and SHA-256 HA1s
 * (RFC 7616 §3.4.2); the password is not kept.
 * @return 0, SIP_EINVAL (empty user or realm, or one with ':' or a control character),
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_userdb_set_password(sip_userdb_t *db, const char *user, const char *realm,
                                       const char *password);
/** Removes a user from a realm. @return 0, SIP_ENOENT. */
SIP_EXTERN int sip_userdb_remove(sip_userdb_t *db, const char *user, const char *realm);
/**
 * The HA1 of a user for a realm and an algorithm (SIP_AUTH_ALG_*; a -sess one asks its base's).
 * @return the hex HA1 (Borrowed: valid until the table changes), or NULL.
 */
SIP_EXTERN const char *sip_userdb_get_ha1(const sip_userdb_t *db, const char *user,
                                          const char *realm, int algorithm);
/** The number of users (user and realm pairs). */
SIP_EXTERN size_t sip_userdb_count(const sip_userdb_t *db);
/**
 * Writes the table to a file (replaced atomically: a temporary file renamed over it, mode
 * 0600). @return 0, SIP_EIO.
 */
SIP_EXTERN int sip_userdb_save(const sip_userdb_t *db, const char *path);
/**
 * Answers a digest server's lookup (SIP_AUTH_EVENT_LOOKUP) from the table: the HA1 of the
 * query's user, realm and algorithm, or sip_auth_query_answer_unknown(), which costs the same.
 * @return what the answer returned.
 */
SIP_EXTERN int sip_userdb_answer(const sip_userdb_t *db, sip_auth_query_t *q);

#ifdef __cplusplus
}
#endif
#endif
