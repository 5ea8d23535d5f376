/*
 * lww.h - the one replica model of the replication core's drivers outside
 * node/: the simulator (sim/push.c, sim/pull.c) and the replication tests
 * (tests/replication/repl_testkit_world.c) apply the core's PERSIST, RESET
 * and APPLY actions to it (through sim/drive.h), under the last-writer-wins
 * rule of storage/: a mutation takes a record only when its version is
 * newer; an equal version is a duplicate, an older one lost.
 *
 * A keyspace (lww_keys_t), shared by the replicas of one world, numbers
 * every (namespace, key) it is shown: slot i is the same key in every
 * replica, so replicas compare slot by slot, and the simulator, which
 * numbers its keys in order before it starts, indexes records by key
 * number. Values are either kept (interned in the keyspace with their
 * metadata and expiration, so tests can read them back and stream
 * snapshots of them) or, in a world too big to hold them (the
 * simulator's), identified by their first four bytes, which the
 * simulator's writes fill with a write id (it regenerates the rest).
 * Namespace records (NS_CREATE, NS_RENAME, NS_DELETE) live in a short list
 * per replica; token ops are records in REPL_TOKEN_NS_ID.
 *
 * Not storage/: no persistence, no expiry, no listing. Not thread-safe.
 * Running out of memory aborts (KV_ASSERT): this is test and simulation
 * code.
 */
#ifndef SIM_LWW_H
#define SIM_LWW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_version.h"
#include "repl.h"

/* One key of a replica. The simulator's checkers compare these too
 * (sim/check.h). */
typedef struct {
    kv_version_t v; /* zero: never written */
    uint32_t val;   /* the value's id: equal ids, equal values; 0 for none */
    uint32_t len;   /* value bytes */
    bool tomb;
} lww_rec_t;

typedef struct lww_keys lww_keys_t;

/* keep_values: intern values (see above); else a value's id is its first
 * four bytes. */
lww_keys_t *lww_keys_new(bool keep_values);
void lww_keys_free(lww_keys_t *k);
/* The slot of (ns, key) (ns: KV_NS_ID_LEN chars), numbering it when new. */
uint32_t lww_keys_slot(lww_keys_t *k, const char *ns, const char *key, size_t len);
/* The slot of (ns, key), or UINT32_MAX when it was never numbered. */
uint32_t lww_keys_find(const lww_keys_t *k, const char *ns, const char *key, size_t len);
size_t lww_keys_count(const lww_keys_t *k);
/* The key of a slot; *ns gets its namespace (NUL-terminated). */
const char *lww_keys_name(const lww_keys_t *k, uint32_t slot, const char **ns, size_t *len);
/* The id of a PUT's value (its bytes, metadata and expiration when kept). */
uint32_t lww_keys_value(lww_keys_t *k, const repl_op_t *op);
/* A kept value's bytes, metadata and expiration, into op (which keeps
 * pointing into the keyspace). */
void lww_keys_value_view(const lww_keys_t *k, uint32_t val, repl_op_t *op);

typedef struct {
    char id[KV_NS_ID_LEN + 1];
    char *title;
    char *account;
    kv_version_t v;
    bool deleted;
} lww_ns_t;

typedef struct {
    lww_keys_t *keys;
    lww_rec_t *recs; /* slot i at recs[i * stride]; slots past cap were never written */
    size_t cap;
    size_t stride; /* 1, but for interleaved replicas (lww_replica_init_strided) */
    bool fixed;    /* recs is the caller's block: never grown nor freed */
    lww_ns_t *ns;
    size_t nns, nscap;
    uint64_t applied_seq;
    kv_version_t applied_version; /* of the log entry at applied_seq (zero: unknown) */
    char history[33];
    uint64_t hlc_max; /* highest version timestamp offered to lww_apply */
} lww_replica_t;

/* An empty replica whose records grow with the keyspace ... */
void lww_replica_init(lww_replica_t *r, lww_keys_t *k);
/* ... or held in the caller's zeroed block of cap records ... */
void lww_replica_init_fixed(lww_replica_t *r, lww_keys_t *k, lww_rec_t *recs, size_t cap);
/* ... or interleaved with other replicas in the caller's zeroed block: slot i
 * at recs[i * stride]. The simulator keeps every replica's record of one key
 * side by side, since a write reaches all replicas of its key within a
 * fraction of a second and a replica-by-replica layout made each apply a
 * cache miss. */
void lww_replica_init_strided(lww_replica_t *r, lww_keys_t *k, lww_rec_t *recs, size_t cap,
                              size_t stride);
void lww_replica_free(lww_replica_t *r);
/* What a RESET leaves: no record, no namespace, no history, applied seq 0. */
void lww_replica_clear(lww_replica_t *r);

/* LWW on one slot: true when v is newer than the record, which then takes
 * (v, val, len, tomb). */
bool lww_apply(lww_replica_t *r, uint32_t slot, kv_version_t v, uint32_t val, uint32_t len,
               bool tomb);
/* A mutation (its seq is not looked at): key ops on their slot (*slot gets
 * it), namespace ops on the list (*slot = UINT32_MAX); a NOOP changes
 * nothing. True when it won. */
bool lww_apply_mut(lww_replica_t *r, const repl_mutation_t *m, uint32_t *slot);

/* The record of a slot below cap (zero version: never written). */
static inline lww_rec_t *lww_rec(const lww_replica_t *r, uint32_t slot)
{
    return &r->recs[(size_t)slot * r->stride];
}
/* The record of a slot, NULL when it was never written. */
const lww_rec_t *lww_get(const lww_replica_t *r, uint32_t slot);
/* The record of (ns, key), NULL when it was never written. */
const lww_rec_t *lww_lookup(const lww_replica_t *r, const char *ns, const char *key);
/* Same records and namespaces (applied seq and history not compared), of
 * replicas of one keyspace. */
bool lww_equal(const lww_replica_t *a, const lww_replica_t *b);
/* Snapshot mutations (seq 0) viewing a replica of a keyspace that keeps
 * values; free the array with free(). */
size_t lww_snapshot(const lww_replica_t *r, repl_mutation_t **out);

#endif
