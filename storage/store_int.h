/*
 * store_int.h - what the files of the store module share: the stor_t struct
 * and a few helpers. Private to storage/store*.c; nobody else includes it.
 *
 * The module is split by subject: store.c (options, open/close, WAL sync,
 * expiry filter, node state, stats), store_rec.c (records: LWW writes, reads,
 * listing) and store_ns.c (namespaces and their in-memory mirror).
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
    rocksdb_t *db;
    rocksdb_options_t *opts;            /* DB options and non-record CFs */
    rocksdb_options_t *rec_opts;        /* records CF: opts + expiry filter */
    rocksdb_compactionfilter_t *filter; /* borrowed by rec_opts; freed after close */
    rocksdb_cache_t *block_cache;       /* shared by every CF */
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;        /* sync flag per policy */
    rocksdb_column_family_handle_t **cfs; /* every CF opened, incl. unknown ones */
    int cf_count;
    rocksdb_column_family_handle_t *cf_records, *cf_ns, *cf_state;
    stor_sync_t sync;
    unsigned sync_interval_ms;
    int64_t tombstone_retention_s;
    atomic_bool filter_warned; /* expiry filter logged a bad value */

    /* Record writes: stripe i guards every key hashing to i. */
    pthread_mutex_t stripes[STOR__STRIPES];

    /* Namespaces. ns_write_lock serialises mutations (so a check-then-write
     * is atomic); ns_lock guards the mirror, taken for writing only around
     * the in-memory update so readers never wait on a disk write. */
    pthread_mutex_t ns_write_lock;
    pthread_rwlock_t ns_lock;
    stor_ns_t **ns; /* sorted by id; guarded by ns_lock */
    size_t ns_count, ns_cap;

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

/* Write a batch with the store's sync policy. 0 or KV_EIO. */
int stor__write(stor_t *s, rocksdb_writebatch_t *wb);

/* True if the first `len` bytes of id are lowercase hex digits. */
bool stor__hex_valid(const char *id, size_t len);

/* store_ns.c: load the namespace mirror at open / free it at close. */
int stor__ns_load(stor_t *s);
void stor__ns_free(stor_t *s);

#endif
