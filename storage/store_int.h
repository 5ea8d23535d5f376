/*
 * store_int.h - what the files of the store module share: the stor_t struct
 * and a few helpers. Private to storage/store*.c; nobody else includes it.
 *
 * The module is split by subject: store.c (options, open/close, WAL sync,
 * expiry filter, node state, stats), store_rec.c (records: LWW writes, reads,
 * listing), store_ns.c (namespaces and their in-memory mirror),
 * store_commit.c (the atomic commit every write goes through but
 * stor_apply), store_log.c (the replication log), store_snap.c (snapshots
 * and reset), store_digest.c (the convergence digest), store_bulk.c (bulk
 * loads by SST ingest) and store_checkpoint.c (checkpoints for backups).
 */
#ifndef STOR_STORE_INT_H
#define STOR_STORE_INT_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kv_limits.h"
#include "store.h"

#define STOR_LOG "store"

/* Striped locks that make LWW read-check-write atomic per key. 256 keeps
 * collisions between unrelated hot keys rare at a few KiB of memory. */
#define STOR__STRIPES 256

/* A records-CF key: namespace id + user key (+1 byte of room for the
 * "strictly after" successor key a list cursor seeks to). */
#define STOR__KEY_BUF_BYTES (KV_NS_ID_LEN + KV_KEY_MAX_BYTES + 1)

struct stor {
    /* Set at open, read-only afterwards. */
    char *path;     /* stor_options_t.path, copied (stor_path) */
    bool read_only; /* opened with stor_options_t.read_only: no write, no WAL sync */
    rocksdb_t *db;
    rocksdb_options_t *opts;            /* DB options and non-record CFs */
    rocksdb_options_t *rec_opts;        /* records CF: opts + expiry filter */
    rocksdb_compactionfilter_t *filter; /* borrowed by rec_opts; freed after close */
    rocksdb_cache_t *block_cache;       /* shared by every CF */
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;        /* sync flag per policy */
    rocksdb_writeoptions_t *wopts_nosync; /* stor_commit_t.no_sync: WAL, never synced */
    rocksdb_column_family_handle_t **cfs; /* every CF opened, incl. unknown ones */
    int cf_count;
    rocksdb_column_family_handle_t *cf_records, *cf_ns, *cf_state, *cf_log;
    stor_sync_t sync;
    unsigned sync_interval_ms;
    int64_t tombstone_retention_s;
    atomic_bool filter_warned; /* expiry filter logged a bad value */
    /* A write failed: RocksDB now refuses writes, and a WAL sync would trip
     * an assertion in its WAL writer (Debian builds RocksDB with asserts
     * on), so neither the batch sync thread nor close syncs any more. */
    atomic_bool write_failed;

    /* Every log seq below it has been trimmed (0: unknown, e.g. after open).
     * Reads seek from here, so they never wade through a trimmed range's
     * deleted keys before compaction drops them. */
    _Atomic uint64_t log_floor;
    /* Below it the entries are deleted too: a range deletion is issued only
     * when the floor is STOR_LOG_TRIM_STEP past it (stor_log_trim). */
    _Atomic uint64_t log_deleted;

    /* Record writes: stripe i guards every key hashing to i. */
    pthread_mutex_t stripes[STOR__STRIPES];

    /* Namespaces. ns_write_lock serialises mutations (so a check-then-write
     * is atomic); ns_lock guards the mirror, taken for writing only around
     * the in-memory update so readers never wait on a disk write. */
    pthread_mutex_t ns_write_lock;
    pthread_rwlock_t ns_lock;
    stor_ns_t **ns; /* sorted by id; guarded by ns_lock */
    size_t ns_count, ns_cap;

    /* WAL syncs the store requested (rocksdb_flush_wal with sync), counted
     * before the call: RocksDB counts them in rocksdb.wal.synced as it
     * starts them, so this is never behind its share of that ticker. */
    _Atomic uint64_t wal_interval_syncs;

    /* STOR_SYNC_BATCH: the WAL syncing thread, stopped via sync_stop. */
    pthread_t sync_thread;
    bool sync_running;
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    bool sync_stop; /* guarded by sync_lock */
};

/* If err is set: log it with `what`, rocksdb_free it, return KV_EIO.
 * Else 0. */
int stor__err(char *err, const char *what);

/* store_bulk.c: delete the files an interrupted bulk load left (open). */
void stor__bulk_sweep(const stor_t *s);

/* Write a batch with the store's sync policy. 0 or KV_EIO. */
/* Per-thread RocksDB settings (the perf level), made on a thread's first
 * call of a hot entry point; a thread-local test after that (store.c). */
void stor__thread_prepare(void);
int stor__write(stor_t *s, rocksdb_writebatch_t *wb);
/* The same never synced, whatever the policy (stor_commit_t.no_sync). */
int stor__write_nosync(stor_t *s, rocksdb_writebatch_t *wb);

/* True if the first `len` bytes of id are lowercase hex digits. */
bool stor__hex_valid(const char *id, size_t len);

/* 8-byte big-endian log key <-> seq. */
void stor__seq_key(uint64_t seq, char key[8]);
uint64_t stor__key_seq(const char key[8]);

/* Read options for a scan (free with rocksdb_readoptions_destroy): at
 * `snap` (NULL: the latest state), and without filling the block cache,
 * which a full scan would otherwise empty of the hot set. */
rocksdb_readoptions_t *stor__scan_ropts(const rocksdb_snapshot_t *snap);

/* Iterator error as a kv code (0 if none). */
int stor__iter_err(rocksdb_iterator_t *it, const char *what);

/* The state value `name` read with `ro` (the latest state, or a snapshot's
 * pinned read options) into *val, kv_malloc'd and NUL-terminated (kv_free).
 * KV_EINVAL (empty name), KV_ENOTFOUND, -ENOMEM or KV_EIO. */
int stor__state_read(stor_t *s, const rocksdb_readoptions_t *ro, const char *name, char **val,
                     size_t *len);

/* ---- store_rec.c: the LWW part of a commit ---------------------------------- */

/* One mutation of a commit, sorted by key then by position. */
typedef struct {
    const char *k; /* records-CF key in the arena after the entries */
    uint32_t klen;
    uint32_t idx; /* position in the caller's array */
} stor__bent_t;

/* A commit's mutations, validated and sorted, and the stripes they need. */
typedef struct {
    stor__bent_t *e; /* one kv_malloc block (entries + key arena); NULL if n == 0 */
    size_t n;
    uint64_t stripes[STOR__STRIPES / 64];
} stor__recs_t;

/* Validate (KV_EINVAL, KV_ETOOBIG) and sort; -ENOMEM. Free with _free. */
int stor__recs_prepare(const stor_mutation_t *muts, size_t n, stor__recs_t *r);
void stor__recs_free(stor__recs_t *r);
/* Lock (or unlock) r's stripes in ascending order: two commits never wait
 * on each other. */
void stor__recs_lock(stor_t *s, const stor__recs_t *r, bool lock);
/* Under r's stripes: decide each of c's mutations under LWW (reading the
 * stored versions c's promises do not rule out), fill c->mut_results and
 * add the winners to wb. */
int stor__recs_decide(stor_t *s, const stor_commit_t *c, const stor__recs_t *r,
                      rocksdb_writebatch_t *wb);

/* ---- store_ns.c: the mirror and a commit's namespace plan ------------------- */

/* store_ns.c: load the namespace mirror at open / free it at close. */
int stor__ns_load(stor_t *s);
void stor__ns_free(stor_t *s);
/* Empty the mirror (after a reset was written). Caller holds ns_write_lock. */
void stor__ns_clear(stor_t *s);

/* A namespaces-CF value: format, version, then account and title with
 * u16 lengths. _encode returns the bytes written; _decode 0 or KV_ECORRUPT. */
#define STOR__NS_VAL_MAX (1 + 8 + 4 + 2 + KV_ACCOUNT_ID_MAX_BYTES + 2 + KV_NS_TITLE_MAX_BYTES)
size_t stor__ns_encode(const stor_ns_t *ns, uint8_t buf[STOR__NS_VAL_MAX]);
int stor__ns_decode(const char *key, size_t klen, const uint8_t *b, size_t len, stor_ns_t *ns);

/* Position of id (KV_NS_ID_LEN bytes) in the id-sorted array v, or where
 * it would go. */
size_t stor__nsv_find(stor_ns_t *const *v, size_t n, const char *id, bool *found);

/* KV_EINVAL / KV_ETOOBIG for a malformed change, else 0. */
int stor__ns_change_check(const stor_ns_change_t *ch);

/* A commit's namespaces: a private copy of the mirror's array that the
 * changes edit, entries the commit allocated, mirror entries it replaced
 * and the ids it touched. Nothing in the mirror changes until _publish. */
typedef struct {
    char id[KV_NS_ID_LEN];
    bool wiped; /* deleted at least once: entry and records go */
} stor__nstouch_t;

typedef struct {
    stor_ns_t **v; /* sorted by id */
    size_t count, cap;
    bool owned;
    size_t n_max;      /* the commit's number of changes: bounds the arrays below */
    stor_ns_t **fresh; /* allocated by the plan, all in v */
    size_t n_fresh;
    stor_ns_t **retired; /* mirror entries v no longer holds */
    size_t n_retired;
    stor__nstouch_t *touched;
    size_t n_touched;
} stor__nsplan_t;

/* Caller holds ns_write_lock from _begin to _publish/_abort; n_changes >= 1. */
int stor__nsplan_begin(stor_t *s, size_t n_changes, stor__nsplan_t *p);
/* Apply one change: *result as stor_ns_change_t says; returns 0 or -ENOMEM
 * (then abort the plan). */
int stor__nsplan_apply(stor__nsplan_t *p, const stor_ns_change_t *ch, int *result);
/* Add the plan's namespace writes to wb (after the commit's records). */
void stor__nsplan_write(stor_t *s, const stor__nsplan_t *p, rocksdb_writebatch_t *wb);
/* After the batch was written: make the plan the mirror, in one step. */
void stor__nsplan_publish(stor_t *s, stor__nsplan_t *p);
void stor__nsplan_abort(stor__nsplan_t *p);

#endif
