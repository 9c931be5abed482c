/* SPDX-License-Identifier: MIT */
/* Private layout of the location service (sip/location.h): the memory index every store reads
 * from, its records, and what the stores call back. */
#ifndef SIP_LOCATION_INT_H
#define SIP_LOCATION_INT_H

#include <stdint.h>

#include <uv.h>

#include "loop/loop_int.h"
#include "sip/location.h"

/* The strings of a record, in this order after its fixed part. */
enum {
    SIP__LOC_CONTACT,
    SIP__LOC_PARAMS,
    SIP__LOC_CALL_ID,
    SIP__LOC_PATH,
    SIP__LOC_RECEIVED,
    SIP__LOC_SOCKET,
    SIP__LOC_INSTANCE,
    SIP__LOC_USER_AGENT,
    SIP__LOC_NSTR
};

/* The most bytes of strings (with their NULs) one binding holds: offsets are 16 bits, which
 * keeps a record small when a million of them are kept. */
#define SIP__LOC_STR_MAX 65535u

struct sip__loc_aor;

/* One binding: a single allocation with its strings after it. Immutable once made but for the
 * links, refs and heap place, which only the loop thread touches (a store's worker thread reads
 * the immutable part while the loop goes on). A replaced binding is a new record. */
typedef struct sip__loc_rec {
    struct sip__loc_rec *next; /* in its AOR's list, best first */
    struct sip__loc_aor *aor;  /* NULL once out of the index */
    uint32_t refs;             /* the index's, the sets' and the queued writes' */
    uint32_t heap;             /* place in the expiry heap; UINT32_MAX when not in it */
    uint64_t id;               /* row id in a persistent store */
    int64_t expires, updated;
    uint64_t conn_id;
    uint32_t cseq, reg_id;
    int16_t q;
    uint16_t off[SIP__LOC_NSTR]; /* where each string starts in s */
    char s[];
} sip__loc_rec_t;

static inline const char *sip__loc_str(const sip__loc_rec_t *r, int k)
{
    return r->s + r->off[k];
}

/* An address of record with at least one binding: one allocation with its key. */
typedef struct sip__loc_aor {
    struct sip__loc_aor *next; /* in its bucket */
    uint64_t hash;
    sip__loc_rec_t *head;
    uint32_t n;
    uint32_t len;
    char key[];
} sip__loc_aor_t;

/* A small string map (domains, alias AORs): one allocation per entry. */
typedef struct sip__loc_ment {
    struct sip__loc_ment *next;
    uint64_t hash;
    char *val; /* in the same allocation */
    size_t len;
    char key[];
} sip__loc_ment_t;

typedef struct sip__loc_map {
    sip__loc_ment_t **b;
    size_t mask, n;
} sip__loc_map_t;

/* A write queued for a store: the row ids to delete (DEL; PUT: the one it replaces) with their
 * records, and the record written (PUT), or nothing (NOP: a write that changed nothing still
 * completes in order). aor is the key of the AOR written (PUT) or removed from (DEL by
 * sip_location_put() or sip_location_remove()); NULL for the removals of expiry, which span
 * AORs. */
typedef enum { SIP__LOC_PUT, SIP__LOC_DEL, SIP__LOC_NOP } sip__loc_op_kind_t;

typedef struct sip__loc_op {
    struct sip__loc_op *next;
    sip__loc_op_kind_t kind;
    sip__loc_rec_t *rec; /* PUT: a reference */
    const char *aor;     /* PUT: the key, in this allocation (the AOR entry may go first) */
    sip_location_done_cb cb;
    void *user;
    sip_free_fn user_free;
    sip__loc_rec_t **olds; /* the records of ids, a reference each (in this allocation) */
    size_t nids;
    uint64_t ids[]; /* DEL */
} sip__loc_op_t;

typedef struct sip__loc_store sip__loc_store_t;

struct sip_location {
    sip__loop_child_t child;
    int refs;
    int closed;
    int pending; /* open uv handles and store work in flight: the memory waits for them */
    sip_loop_t *loop;
    int64_t (*now)(void *clock_user);
    void *clock_user;
    /* The index: AOR key -> bindings. */
    sip__loc_aor_t **buckets;
    size_t mask, naors, nbindings;
    /* The expiry heap: every listed record, soonest first. */
    sip__loc_rec_t **heap;
    size_t nheap, capheap;
    uint64_t next_id;
    sip__loc_map_t domains, aliases;
    uv_timer_t expire_timer;
    uint32_t expire_ms;
    sip__loc_store_t *store;
};

struct sip_bindings {
    int refs;
    size_t n;
    const char *aor;
    sip__loc_rec_t **recs;
    sip_binding_t b[];
};

int64_t sip__location_now(const sip_location_t *loc);

/* Records. */
sip__loc_rec_t *sip__loc_rec_new(const sip_binding_t *b, const char *const str[SIP__LOC_NSTR],
                                 const size_t len[SIP__LOC_NSTR]);
void sip__loc_rec_unref(sip__loc_rec_t *r);

/* Adds a loaded record under key (a store's load at create). It takes the record's reference.
 * @return 0, SIP_ENOMEM (the record is freed). */
int sip__location_load(sip_location_t *loc, const char *key, size_t len, sip__loc_rec_t *r);

/* A store finished a write (on the loop thread; during sip_location_close too): runs its
 * callback and frees it. On failure the binding it wrote leaves the memory as well. */
void sip__location_op_done(sip_location_t *loc, sip__loc_op_t *op, int status);
void sip__loc_op_free(sip__loc_op_t *op);

/* Writes made elsewhere (another node through Redis, another worker through the hub), applied to
 * the memory index only: the store does not write them again and no callback runs. A put
 * replaces as sip_location_put() does (the same instance and reg-id, else the same contact
 * URI); a binding already expired is removed instead. A del removes the binding of that contact
 * (contact NULL: every binding of the AOR). Keys are AOR keys as sip_location_aor() makes them.
 * Neither takes the AOR's domains or aliases into account: the key is used as it is.
 * @return 0, SIP_ENOENT (del: nothing to remove), SIP_EINVAL (also a closed service, or a
 *         contact that is not a URI), SIP_ENOMEM (put: the index is unchanged). */
int sip__location_apply_put(sip_location_t *loc, const sip_binding_t *b);
int sip__location_apply_del(sip_location_t *loc, const char *aor, const char *contact);
/* Empties the memory index (a store that lost track reloads everything after it). */
void sip__location_apply_clear(sip_location_t *loc);

/* A store's handle closed or its work ended: the service may be freed now. */
void sip__location_release(sip_location_t *loc);

/* The maps. */
uint64_t sip__loc_hash(const char *s, size_t n);
const sip__loc_ment_t *sip__loc_map_get(const sip__loc_map_t *m, const char *key, size_t len);
int sip__loc_map_add(sip__loc_map_t *m, const char *key, size_t len, const char *val);
int sip__loc_map_del(sip__loc_map_t *m, const char *key, size_t len);
void sip__loc_map_free(sip__loc_map_t *m);

/* The key of a parsed URI (sip_location_aor()), domains applied. */
int sip__loc_key(const sip_location_t *loc, const sip_uri_t *uri, char *buf, size_t size);
/* The key of a URI string, with an alias followed when follow is set. */
int sip__loc_key_str(const sip_location_t *loc, const char *s, int follow, char *buf, size_t size);

#endif
