/* SPDX-License-Identifier: MIT */
/* The location service (RFC 3261 §10, §16.5): the bindings of each address of record to the
 * contacts it is reached at, kept in memory or persistently on SQLite, with local domains and
 * aliases. The registrar (sip/registrar.h) writes it; a proxy looks targets up in it. */
#ifndef SIP_LOCATION_H
#define SIP_LOCATION_H

#include <stdint.h>

#include "sip/loop.h"
#include "sip/msg.h"
#include "sip/net.h"
#include "sip/uri.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A location service. Opaque; reference counted; lives on one loop. */
typedef struct sip_location sip_location_t;

/** A set of bindings a lookup found, ordered by q (highest first), then by the most recent
 * update. Opaque; reference counted, so a script may keep it past the callback. */
typedef struct sip_bindings sip_bindings_t;

/**
 * One binding of an address of record to a contact (RFC 3261 §10.3 step 7, RFC 3327, RFC 5626).
 * In a set a lookup returns, every string is a NUL-terminated copy that lives as long as the set
 * ("" for none, never NULL). Given to sip_location_put(), the strings are copied and NULL means
 * "".
 */
typedef struct sip_binding {
    const char *aor;        /**< the AOR key, "sip:user@domain" (sip_location_aor()) */
    const char *contact;    /**< the Contact URI as registered ("sip:a@192.0.2.1:5060;ob") */
    const char *params;     /**< the Contact header's params other than q and expires, as
                                 they came (";+sip.instance=\"<urn:uuid:...>\";reg-id=1") */
    int64_t expires;        /**< when it ends: UNIX time in seconds */
    int q;                  /**< q-value in thousandths (0..1000), -1 when the Contact gave none */
    const char *call_id;    /**< Call-ID of the REGISTER that made or last refreshed it */
    uint32_t cseq;          /**< its CSeq number (§10.3 step 7 ordering) */
    const char *path;       /**< RFC 3327 Path values, comma-joined as one header value */
    const char *received;   /**< where the REGISTER came from, as a URI
                                 ("sip:198.51.100.7:5060;transport=udp"); "" when not known */
    const char *socket;     /**< the local listening point it came in on ("udp:127.0.0.1:5060") */
    uint64_t conn_id;       /**< RFC 5626 flow: the stream connection it came over (0: none or
                                 UDP); valid only while that connection is open, never stored */
    const char *instance;   /**< +sip.instance (RFC 5626 §4.1), "<urn:uuid:...>" */
    uint32_t reg_id;        /**< reg-id (RFC 5626 §4.2), 0 for none */
    const char *user_agent; /**< User-Agent of the REGISTER */
    int64_t updated;        /**< when it was last written: UNIX time in seconds */
} sip_binding_t;

/** Options; initialise with sip_location_opts_init(). Strings are copied. */
typedef struct sip_location_opts {
    const char *db_path;         /**< SQLite database file (created when missing; WAL journal);
                                      NULL: bindings live in memory only */
    uint32_t batch_ms;           /**< SQLite: the longest a write waits to be committed with the
                                      others of its batch (default 2); 0 commits each loop turn */
    uint32_t expire_interval_ms; /**< how often expired bindings are removed (default 1000) */
    int64_t (*now)(void *clock_user); /**< the time in UNIX seconds (NULL: time()); for tests */
    void *clock_user;
    const char *redis_url;     /**< "redis://host:port[/db]": bindings kept in Redis (hashes that
                                    expire as the bindings do), shared with every node using the
                                    same Redis; a change made on one node is published and applied
                                    by the others. Loaded at create like SQLite; while Redis is
                                    away lookups answer from memory and writes fail with SIP_EIO
                                    (the registrar answers 503 with Retry-After). NULL: none.
                                    Excludes db_path and worker. */
    struct sip_worker *worker; /**< a worker process (sip/worker.h): writes go to the hub, which
                                    acknowledges them and shares them with the other workers;
                                    the hub's index is loaded at create. NULL: none */
} sip_location_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_location_opts_init(sip_location_opts_t *opts);

/**
 * Creates a location service. With db_path, every binding stored there that has not expired is
 * loaded before this returns, and every write afterwards is committed by a worker of libuv's
 * thread pool, in batches, so a burst of registrations never waits on the disk in the loop;
 * a write's callback runs once it is durable (the commit returned: it survives the process
 * being killed). With redis_url, the subscription to the other nodes' changes is made and every
 * binding in Redis is loaded before this returns (waiting 2 s at most for Redis); afterwards
 * nothing blocks the loop, and a write's callback runs once Redis has it.
 * @param out   New reference
 * @param loop  Borrowed; the service lives on it
 * @param opts  NULL for the defaults (in memory)
 * @return 0, SIP_EINVAL (also db_path with redis_url, or a URL that is not
 *         "redis://host:port[/db]"), SIP_EIO (the database cannot be opened, created or read,
 *         or Redis cannot be reached or read: the reason is logged), SIP_ENOMEM.
 */
SIP_EXTERN int sip_location_create(sip_location_t **out, sip_loop_t *loop,
                                   const sip_location_opts_t *opts);
/** Takes a reference. @return loc. */
SIP_EXTERN sip_location_t *sip_location_ref(sip_location_t *loc);
/** Drops a reference; the last one closes the service. Accepts NULL. */
SIP_EXTERN void sip_location_unref(sip_location_t *loc);
/**
 * Closes the service: writes still queued are committed (this waits for them: a clean stop
 * loses nothing acknowledged or pending) and their callbacks run with 0 before this returns,
 * the database is closed, and every other operation in progress (a lookup of a store that
 * answers later) completes with SIP_ECLOSED. Idempotent.
 */
SIP_EXTERN void sip_location_close(sip_location_t *loc);

/* ---- domains and aliases ------------------------------------------------------------------ */

/**
 * Adds a domain this service is responsible for. canonical names the domain its AORs are kept
 * under when this one is an alias of it ("sip.example.com" and "192.0.2.10" as aliases of
 * "example.com"); NULL makes the domain canonical itself. Domains compare without case.
 * @return 0, SIP_EINVAL (empty, or canonical not added before), SIP_EEXIST, SIP_ENOMEM.
 */
SIP_EXTERN int sip_location_add_domain(sip_location_t *loc, const char *domain,
                                       const char *canonical);
/** 1 when the host is one of the domains (or an alias of one), else 0. */
SIP_EXTERN int sip_location_is_local(const sip_location_t *loc, const char *host, size_t len);
/** The number of domains (aliases included); 0 means every domain is taken as local. */
SIP_EXTERN size_t sip_location_domain_count(const sip_location_t *loc);

/**
 * Adds an alias AOR: a lookup of alias finds the bindings of aor ("sip:1000@example.com" for
 * "sip:alice@example.com", as Kamailio's alias_db). Both are URIs; they are canonicalised.
 * @return 0, SIP_EINVAL, SIP_EURI, SIP_EEXIST, SIP_ENOMEM.
 */
SIP_EXTERN int sip_location_add_alias(sip_location_t *loc, const char *alias, const char *aor);
/** Removes an alias. @return 0, SIP_ENOENT. */
SIP_EXTERN int sip_location_remove_alias(sip_location_t *loc, const char *alias);

/**
 * The AOR key of a URI (RFC 3261 §10.3 step 5): "sip:" user "@" the canonical domain (lower
 * case; aliases of a domain replaced by it); parameters, headers and password dropped; the port
 * dropped for one of the service's domains (a port names a host, not a user) and elsewhere kept
 * unless it is the default; sips becomes sip (one binding table for both). An alias AOR is not
 * followed.
 * @param buf   where the key goes, NUL-terminated
 * @return the key's length, SIP_EURI (not a SIP/SIPS URI, or no user part), SIP_ENOSPC.
 */
SIP_EXTERN int sip_location_aor(const sip_location_t *loc, const sip_uri_t *uri, char *buf,
                                size_t size);

/* ---- lookups and writes ------------------------------------------------------------------ */

/**
 * A lookup's outcome.
 * @param status  0, SIP_ENOENT (no binding: set is empty, not NULL), SIP_EURI, SIP_ECLOSED,
 *                SIP_EIO (a store that could not answer)
 * @param set     Borrowed for the call (sip_bindings_ref() to keep): the bindings that have not
 *                expired, best first
 */
typedef void (*sip_location_lookup_cb)(sip_location_t *loc, int status, sip_bindings_t *set,
                                       void *user);

/**
 * Looks up the bindings of an AOR (its aliases followed). The memory and SQLite stores answer
 * from memory inside this call; other stores may answer later, so callers must allow both.
 * @param uri   the AOR or a Request-URI ("sip:alice@example.com;transport=tcp"); parsed here
 * @param user_free  runs once after cb, or when this call fails
 * @return 0 (cb ran or will run once), SIP_EINVAL, SIP_EURI (cb not called), SIP_ECLOSED,
 *         SIP_ENOMEM.
 */
SIP_EXTERN int sip_location_lookup(sip_location_t *loc, const char *uri, sip_location_lookup_cb cb,
                                   void *user, sip_free_fn user_free);

/**
 * Looks up without a callback, from memory, for the stores that keep every binding there
 * (memory and SQLite): the fast path of a proxy (under 2 µs with a million bindings).
 * @param out  New reference: the set (empty when there is none)
 * @return 0, SIP_EURI, SIP_ENOTSUP (a store that does not answer at once), SIP_ENOMEM.
 */
SIP_EXTERN int sip_location_lookup_now(sip_bindings_t **out, sip_location_t *loc,
                                       const sip_uri_t *uri);

/**
 * A write's outcome: 0 once it is durable (at once in memory; after its batch is committed on
 * SQLite; once Redis answered), SIP_ECLOSED, SIP_EIO (the commit failed: the reason is logged;
 * the binding is not kept in memory either; or Redis is away: the write was refused before it
 * changed anything, inside the call).
 */
typedef void (*sip_location_done_cb)(sip_location_t *loc, int status, void *user);

/**
 * Adds or replaces one binding. The binding it replaces is the one of the same AOR with the
 * same instance and reg-id when the binding has an instance (RFC 5626 §6), else the one with
 * an equal contact URI (RFC 3261 §19.1.4 comparison). Expiry in the past removes instead.
 * Writes complete in the order they were made.
 * @param b   the binding (aor and contact required); copied
 * @param cb  may be NULL
 * @return 0, SIP_EINVAL (also a string with a CR or LF: they go into headers as they are; the
 *         field is logged), SIP_EURI, SIP_ECLOSED, SIP_ENOMEM (cb not called; user_free runs).
 */
SIP_EXTERN int sip_location_put(sip_location_t *loc, const sip_binding_t *b,
                                sip_location_done_cb cb, void *user, sip_free_fn user_free);
/**
 * Removes the binding of an AOR with that contact URI, or every binding of the AOR when
 * contact is NULL.
 * @return as sip_location_put(); removing what is not there succeeds.
 */
SIP_EXTERN int sip_location_remove(sip_location_t *loc, const char *aor, const char *contact,
                                   sip_location_done_cb cb, void *user, sip_free_fn user_free);

/** The number of bindings (all AORs). */
SIP_EXTERN size_t sip_location_count(const sip_location_t *loc);
/** The number of AORs with at least one binding. */
SIP_EXTERN size_t sip_location_aor_count(const sip_location_t *loc);
/** Removes the bindings that have expired now (the timer does it on its own). @return how many. */
SIP_EXTERN size_t sip_location_expire(sip_location_t *loc);
/** The loop. Borrowed. */
SIP_EXTERN sip_loop_t *sip_location_get_loop(sip_location_t *loc);

/* ---- binding sets ------------------------------------------------------------------------ */

/** Takes a reference. @return set. */
SIP_EXTERN sip_bindings_t *sip_bindings_ref(sip_bindings_t *set);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_bindings_unref(sip_bindings_t *set);
/** The number of bindings. */
SIP_EXTERN size_t sip_bindings_count(const sip_bindings_t *set);
/** The binding at i (0 is the best), or NULL past the end. Borrowed: lives with the set. */
SIP_EXTERN const sip_binding_t *sip_bindings_at(const sip_bindings_t *set, size_t i);
/** The AOR key the set was looked up under (aliases followed). Borrowed. */
SIP_EXTERN const char *sip_bindings_aor(const sip_bindings_t *set);

#ifdef __cplusplus
}
#endif
#endif
