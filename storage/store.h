/*
 * store.h - the RocksDB replica: records, namespaces and node state.
 *
 * This module is the only code in edgekv that includes rocksdb/c.h. It owns
 * three column families:
 *   records     key = namespace id (32 hex) + user key; value = record.h form.
 *               Bytewise order of these keys is the spec's list order.
 *   namespaces  key = namespace id; value = account, title and version.
 *   state       small node facts (account id, default token, history id...).
 *
 * Every write goes through last-writer-wins: stor_apply() stores a record only
 * if its version is newer than the stored one, so the same call serves local
 * writes and replicated mutations, and duplicated or reordered streams
 * converge. Expiry is evaluated at read time and purged by a compaction
 * filter. Namespaces are mirrored in memory (they are consulted by every
 * request) and changed only through this module.
 *
 * Thread-safety: every function may be called from any thread concurrently,
 * except stor_open/stor_close. What is NOT here: caching (cache.h), clocks
 * (the caller stamps versions), the HTTP view of errors.
 */
#ifndef STOR_STORE_H
#define STOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_limits.h"
#include "kv_version.h"
#include "record.h"

typedef struct stor stor_t;

/* When a write is reported durable. */
typedef enum {
    STOR_SYNC_ALWAYS, /* fsync the WAL before acknowledging (group commit) */
    STOR_SYNC_BATCH,  /* acknowledge after the WAL write; fsync every sync_interval_ms */
    STOR_SYNC_OFF     /* WAL written, fsync left to the OS (tests, benchmarks) */
} stor_sync_t;

typedef struct {
    const char *path;          /* directory, created if missing */
    size_t block_cache_bytes;  /* RocksDB LRU block cache */
    size_t write_buffer_bytes; /* memtable size per column family */
    size_t blob_min_bytes;     /* values this large go to blob files */
    stor_sync_t sync;
    unsigned sync_interval_ms;     /* STOR_SYNC_BATCH only */
    bool compression;              /* LZ4 for SST and blob files */
    int64_t tombstone_retention_s; /* compaction may drop older tombstones */
} stor_options_t;

/* Defaults: 64 MiB block cache, 64 MiB memtables, KV_BLOB_MIN_BYTES, sync
 * always, 100 ms batch interval, compression on, tombstones kept 24 h. */
void stor_options_default(stor_options_t *o);

/* Parse "always" | "batch" | "off". 0 or KV_EINVAL. */
int stor_sync_parse(const char *s, stor_sync_t *out);
const char *stor_sync_name(stor_sync_t s);

int stor_open(const stor_options_t *o, stor_t **out);
/* Flushes and closes; NULL is a no-op. No call may be in flight. */
void stor_close(stor_t *s);

/* ---- records ----------------------------------------------------------------- */

/* One write of a batch. `rec` borrows. */
typedef struct {
    const char *ns_id; /* KV_NS_ID_LEN bytes, not NUL-terminated necessarily */
    const char *key;
    size_t key_len;
    stor_record_t rec;
} stor_mutation_t;

/* Store `rec` under (ns_id, key) if rec.version is newer than what is held.
 * Returns 0 when applied, KV_ESTALE when an equal or newer version is
 * already stored (not an error for replicated streams), or another negative
 * code. Durable per the sync policy when it returns 0. */
int stor_apply(stor_t *s, const char *ns_id, const char *key, size_t key_len,
               const stor_record_t *rec);

/* Apply n mutations in one atomic write batch, each under LWW. results[i]
 * gets 0 or KV_ESTALE per mutation (results may be NULL). Returns 0 when the
 * batch was written, else a negative code and nothing was written. */
int stor_apply_batch(stor_t *s, const stor_mutation_t *muts, size_t n, int *results);

/* Read the record of (ns_id, key) whether hidden or not. *out is a new
 * blob (caller unrefs) or NULL when nothing is stored. Returns 0 or a
 * negative code. */
int stor_get(stor_t *s, const char *ns_id, const char *key, size_t key_len, stor_blob_t **out);

/* stor_get for n keys of one namespace in one call; out[i] as stor_get. */
int stor_multi_get(stor_t *s, const char *ns_id, const char *const *keys, const size_t *key_lens,
                   size_t n, stor_blob_t **out);

typedef struct {
    char *name; /* NUL-terminated copy */
    size_t name_len;
    int64_t expiration; /* 0 = none */
    char *metadata;     /* NUL-terminated JSON text, NULL = none */
    size_t metadata_len;
} stor_list_item_t;

typedef struct {
    stor_list_item_t *items;
    size_t count;
    bool complete; /* no further keys with the prefix */
    char *cursor;  /* opaque, NUL-terminated; NULL when complete */
} stor_list_t;

/* List live keys of a namespace in UTF-8 byte order. `cursor` NULL (or "")
 * starts at the beginning; a cursor not produced by this function gives
 * KV_EBADCURSOR. Expired (at now_s) and deleted keys are skipped; at most
 * KV_LIST_SCAN_MAX entries are examined, so a page may be short or empty
 * with complete=false. Free *out with stor_list_free. */
int stor_list(stor_t *s, const char *ns_id, const char *prefix, size_t prefix_len,
              const char *cursor, size_t limit, int64_t now_s, stor_list_t *out);
void stor_list_free(stor_list_t *l);

/* ---- namespaces -------------------------------------------------------------- */

typedef struct {
    char id[KV_NS_ID_LEN + 1];
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1];
    char title[KV_NS_TITLE_MAX_BYTES + 1];
    kv_version_t version;
} stor_ns_t;

/* Create a namespace with a fresh random 32-hex id (or `id_opt` when not
 * NULL, for replicated creates). KV_EEXISTS when the account already has a
 * namespace with that title; KV_ELIMIT past KV_NS_PER_ACCOUNT_MAX. */
int stor_ns_create(stor_t *s, const char *account, const char *title, kv_version_t version,
                   const char *id_opt, stor_ns_t *out);
/* Look a namespace up by id (any account). KV_ENOTFOUND if absent. Copies. */
int stor_ns_get(stor_t *s, const char *id, stor_ns_t *out);
/* KV_ENOTFOUND, KV_EEXISTS (title taken by another namespace). */
int stor_ns_rename(stor_t *s, const char *id, const char *title, kv_version_t version);
/* Remove the namespace and every record in it. KV_ENOTFOUND if absent. */
int stor_ns_delete(stor_t *s, const char *id, kv_version_t version);

typedef enum { STOR_NS_ORDER_ID, STOR_NS_ORDER_TITLE } stor_ns_order_t;

/* Page `page` (1-based) of `per_page` namespaces of `account`, ordered.
 * *out is a kv_malloc'd array (free with kv_free), *total the count of all
 * namespaces of the account. */
int stor_ns_list(stor_t *s, const char *account, stor_ns_order_t order, bool desc, size_t page,
                 size_t per_page, stor_ns_t **out, size_t *count, size_t *total);

/* ---- node state -------------------------------------------------------------- */

/* Small durable facts. *val is kv_malloc'd, NUL-terminated (kv_free). */
int stor_state_get(stor_t *s, const char *name, char **val, size_t *len);
int stor_state_put(stor_t *s, const char *name, const void *val, size_t len);

/* ---- introspection ----------------------------------------------------------- */

typedef struct {
    uint64_t live_sst_bytes;
    uint64_t blob_bytes;
    uint64_t memtable_bytes;
    uint64_t estimated_keys;
    uint64_t block_cache_bytes;
} stor_stats_t;

void stor_get_stats(stor_t *s, stor_stats_t *out);

/* Force a full compaction (runs the expiry filter now). For tests and ops. */
int stor_compact(stor_t *s);

#endif
