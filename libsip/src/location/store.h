/* SPDX-License-Identifier: MIT */
/* What a location store provides. The memory index in location.c is the read path of every
 * store that keeps each binding in memory (memory, SQLite); a store only persists writes and
 * loads them back. A store that does not keep everything in memory (a Redis store) answers
 * lookups itself, later, through lookup. */
#ifndef SIP_LOCATION_STORE_H
#define SIP_LOCATION_STORE_H

#include "location/location_int.h"

typedef struct sip__loc_store_ops {
    const char *name;
    /* Loads every binding not expired at now with sip__location_load(). Logs its failures.
     * @return 0, SIP_EIO, SIP_ENOMEM. */
    int (*open)(sip__loc_store_t **out, sip_location_t *loc, const sip_location_opts_t *opts,
                int64_t now);
    /* Takes a write, already applied to the memory index, and completes it later with
     * sip__location_op_done(), in the order the writes came. Cannot fail. */
    void (*write)(sip__loc_store_t *st, sip__loc_op_t *op);
    /* NULL for a store whose bindings are all in memory; else answers a lookup later. */
    int (*lookup)(sip__loc_store_t *st, const char *key, sip_location_lookup_cb cb, void *user,
                  sip_free_fn user_free);
    /* Commits every write queued or in flight and completes them, synchronously; stops the
     * store's handles (each holds loc->pending until sip__location_release()). */
    void (*close)(sip__loc_store_t *st);
    /* Frees the store once closed and nothing of it is pending. */
    void (*free)(sip__loc_store_t *st);
    /* NULL for a store that always takes writes; else 0 while it cannot (Redis away): a put
     * or remove then changes nothing in memory and completes with SIP_EIO. */
    int (*ready)(sip__loc_store_t *st);
} sip__loc_store_ops_t;

struct sip__loc_store {
    const sip__loc_store_ops_t *ops;
};

extern const sip__loc_store_ops_t sip__loc_sqlite_ops;
extern const sip__loc_store_ops_t sip__loc_redis_ops; /* location/redis.c */
extern const sip__loc_store_ops_t sip__loc_hub_ops;   /* worker/hub_store.c */

#endif
