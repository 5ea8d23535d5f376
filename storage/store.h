/*
 * store.h - the RocksDB replica: records, namespaces and node state.
 *
 * This module is the only code in edgekv that includes rocksdb/c.h. It owns
 * four column families:
 *   records     key = namespace id (32 hex) + user key; value = record.h form.
 *               Bytewise order of these keys is the spec's list order.
 *   namespaces  key = namespace id; value = account, title and version.
 *   state       small node facts, opaque here (node/replica/state.h names and encodes
 *               them: identity, replication position, tokens...).
 *   log         key = sequence number, 8 bytes big-endian; value = opaque
 *               bytes (replication's encoded mutations, never read here).
 *
 * Every write goes through last-writer-wins: stor_apply() stores a record only
 * if its version is newer than the stored one, so the same call serves local
 * writes and replicated mutations, and duplicated or reordered streams
 * converge. Expiry is evaluated at read time and purged by a compaction
 * filter. Namespaces are mirrored in memory (they are consulted by every
 * request) and changed only through this module.
 *
 * Replication writes through stor_commit(): record mutations, namespace
 * changes, log entries and state (the replication position) in one atomic
 * RocksDB write batch, so a crash never separates a mutation from the
 * sequence number that says it was applied.
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
    unsigned max_open_files;       /* RocksDB table/blob files open at once; 0 = default */
    /* Open an existing store for reading only (a checkpoint being
     * described): nothing is created or written, every write fails. */
    bool read_only;
} stor_options_t;

/* Defaults: 64 MiB block cache, 64 MiB memtables, KV_BLOB_MIN_BYTES, sync
 * always, 100 ms batch interval, compression on, tombstones kept 24 h,
 * KV_STOR_MAX_OPEN_FILES_DEFAULT open files. */
void stor_options_default(stor_options_t *o);

/* Parse "always" | "batch" | "off". 0 or KV_EINVAL. */
int stor_sync_parse(const char *s, stor_sync_t *out);
const char *stor_sync_name(stor_sync_t s);

int stor_open(const stor_options_t *o, stor_t **out);
/* Syncs the WAL (every policy), writes the memtables out to SST files (the
 * next open replays no WAL) and closes; NULL is a no-op. No call may be in
 * flight. */
void stor_close(stor_t *s);

/* The directory the store was opened at (a copy of stor_options_t.path),
 * valid until stor_close. */
const char *stor_path(const stor_t *s);

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
 * batch was written, else a negative code and nothing was written. The same
 * as stor_commit with mutations only. */
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

/* create, rename and delete below are one-change stor_commit()s: they
 * apply a change the caller decided (see stor_ns_change_t), atomically. */

typedef struct {
    char id[KV_NS_ID_LEN + 1];
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1];
    char title[KV_NS_TITLE_MAX_BYTES + 1];
    kv_version_t version;
} stor_ns_t;

/* Create a namespace under `id_opt`, or a fresh random 32-hex id when it is
 * NULL; an existing entry with that id is replaced. */
int stor_ns_create(stor_t *s, const char *account, const char *title, kv_version_t version,
                   const char *id_opt, stor_ns_t *out);
/* Look a namespace up by id (any account). KV_ENOTFOUND if absent. Copies. */
int stor_ns_get(stor_t *s, const char *id, stor_ns_t *out);
/* Set the title. KV_ENOTFOUND (nothing written) when the id is unknown. */
int stor_ns_rename(stor_t *s, const char *id, const char *title, kv_version_t version);
/* Remove the namespace and every record of the id (known here or not). */
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

/* Call cb(arg, name, name_len, val, val_len) for every state entry whose
 * name starts with `prefix`, in name order; the pointers are valid during
 * the call only. A non-zero cb return stops the scan (and is returned if
 * negative). 0 or a negative code. */
typedef int (*stor_state_cb)(void *arg, const char *name, size_t name_len, const char *val,
                             size_t val_len);
int stor_state_scan(stor_t *s, const char *prefix, stor_state_cb cb, void *arg);

/* ---- replication: atomic commits ------------------------------------------- */

typedef enum { STOR_NS_CREATE = 1, STOR_NS_RENAME, STOR_NS_DELETE } stor_ns_op_t;

/* One namespace change of a commit. Strings borrow, NUL-terminated.
 *
 * Storage applies changes; it does not judge them. Whether a change is
 * allowed (a title taken, the per-account limit, an unknown id) is decided
 * once, by the origin, before it commits (and logs) the change; every
 * replica then applies the decision verbatim. CREATE puts the namespace
 * under `id` (replacing one with that id; a title clash is not looked for),
 * RENAME sets the title (KV_ENOTFOUND, nothing written, if the id is unknown
 * here), DELETE removes the entry and range-deletes every record of the id
 * whether the namespace is known or not. Result 0 else. */
typedef struct {
    stor_ns_op_t kind;
    const char *id;      /* KV_NS_ID_LEN lowercase hex digits */
    const char *account; /* CREATE only */
    const char *title;   /* CREATE and RENAME */
    kv_version_t version;
} stor_ns_change_t;

/* One log entry: `data` borrows (len bytes, opaque to storage). */
typedef struct {
    uint64_t seq; /* >= 1 */
    const void *data;
    size_t len;
} stor_log_entry_t;

/* One state put: `name` NUL-terminated, `value` len bytes; both borrow. */
typedef struct {
    const char *name;
    const void *value;
    size_t len;
} stor_state_put_t;

/* Everything one commit writes. Arrays borrow for the duration of the call;
 * a count of 0 allows a NULL array. Result arrays (n entries each, may be
 * NULL) are meaningful only when stor_commit returns 0. */
typedef struct {
    const stor_mutation_t *muts; /* LWW as stor_apply_batch */
    size_t n_muts;
    int *mut_results;           /* 0 or KV_ESTALE */
    const stor_ns_change_t *ns; /* applied in array order */
    size_t n_ns;
    int *ns_results;             /* see stor_ns_change_t */
    const stor_log_entry_t *log; /* into the log CF; a seq already there is replaced */
    size_t n_log;
    const stor_state_put_t *state; /* into the state CF */
    size_t n_state;
    /* State names removed (NUL-terminated, borrowed), before the puts: a
     * name both removed and put ends up put. */
    const char *const *state_del;
    size_t n_state_del;
    /* LWW reads the caller can prove unneeded (for a commit of many records
     * the reads cost more than the write). stored_hlc_max, when non-zero:
     * no stored record's version has an hlc above it, so a key whose every
     * mutation here is above it wins without its stored version being
     * read. keys_absent: no key of muts is stored at all (a snapshot chunk
     * applied into a store just reset, each key once): nothing is read. A
     * broken promise breaks LWW; when in doubt, leave both zero. */
    uint64_t stored_hlc_max;
    bool keys_absent;
    /* Do not sync the WAL for this commit, whatever the policy (under
     * STOR_SYNC_ALWAYS it returns before it is durable). The WAL is one
     * sequential file, so the next commit that syncs makes this one durable
     * too, and a crash never keeps a later commit without it. For many
     * commits whose durability only matters at a point the caller commits
     * afterwards: a snapshot's chunks, then the synced commit of the
     * position that ends it (node/replica/replica_work.c). */
    bool no_sync;
} stor_commit_t;

/* Write a whole commit as ONE atomic RocksDB write batch, durable per the
 * sync policy when it returns 0. Order of effect within the batch: record
 * mutations first, then namespace changes, so a namespace the commit deletes
 * loses its records including any the commit wrote; then log and state.
 * The namespace mirror changes after the batch is written, in one step
 * (stor_ns_get/list see all of the commit's namespace changes or none).
 *
 * Returns 0 (per-item outcomes in the result arrays; nothing is written when
 * every item was refused), KV_EINVAL / KV_ETOOBIG for a malformed item
 * (zero-length key, bad id, seq 0, empty state name...), -ENOMEM, KV_EIO.
 * On any error nothing was written and the mirror is unchanged.
 *
 * Thread-safety: commits may run concurrently with each other and with
 * every reader; record writes lock their keys' stripes, and a commit with
 * namespace changes also holds the namespace write
 * lock, so its plan and its write are atomic. */
int stor_commit(stor_t *s, const stor_commit_t *c);

/* ---- replication: the log ------------------------------------------------- */

/* Called once per entry; `data` borrows, valid only during the call. Return
 * 0 to go on, non-zero to stop (stor_log_read then returns it if negative,
 * else 0). */
typedef int (*stor_log_cb)(void *arg, uint64_t seq, const void *data, size_t len);

/* Deliver consecutive entries from_seq, from_seq + 1, ... to cb, from the
 * calling thread, before returning. Stops at the first missing seq, after
 * max_entries (>= 1), or before an entry that would take the bytes
 * delivered past max_bytes; the first entry is always delivered if present,
 * however large. Returns 0 (cb called zero or more times) or a negative
 * code (KV_EINVAL, KV_EIO, KV_ECORRUPT, or cb's); after an error, entries
 * already delivered were genuine but the read is incomplete. */
int stor_log_read(stor_t *s, uint64_t from_seq, size_t max_entries, size_t max_bytes,
                  stor_log_cb cb, void *arg);

/* Smallest and largest stored seq; both 0 when the log is empty. Two
 * iterator seeks, cheap enough for every heartbeat. */
int stor_log_bounds(stor_t *s, uint64_t *first, uint64_t *last);

/* Trim every entry with seq < below_seq: at once for every reader (reads
 * and bounds start at the highest trim point), and deleted on disk (one
 * range delete, durable per the sync policy) once the point is
 * STOR_LOG_TRIM_STEP past the last deletion. Until then, and so after a
 * reopen, the entries below it are still there, whole: a reopened log may
 * start lower than the last trim. Trimmed sequence numbers must not be
 * committed again, except after stor_reset. */
int stor_log_trim(stor_t *s, uint64_t below_seq);
/* stor_log_trim's first half, cheap enough for an event loop (no I/O):
 * raise the read floor to below_seq. True when a deletion on disk is due,
 * which stor_log_trim(below_seq) then makes. */
bool stor_log_trim_floor(stor_t *s, uint64_t below_seq);

/* Every range deletion stays in the memtable until a flush, and each flush
 * and each new log iterator fragments all of them: an origin trims after
 * nearly every group commit, and one deletion per trim left tens of
 * thousands in the memtable after seconds of small commits (its flushes
 * then took a core for minutes). So deletions go in steps of this many. */
#define STOR_LOG_TRIM_STEP 4096u

/* ---- replication: snapshots ----------------------------------------------- */

/* A consistent, read-only view of the whole store at one instant (a RocksDB
 * snapshot), for streaming a full copy to an edge while commits go on. One
 * thread at a time per handle; any number of handles. Close every snapshot
 * before stor_close. The expiry filter may still drop expired records and
 * tombstones past the retention window from under a long-lived snapshot. */
typedef struct stor_snap stor_snap_t;

int stor_snapshot_open(stor_t *s, stor_snap_t **out);
/* NULL is a no-op. */
void stor_snapshot_close(stor_snap_t *snap);

/* A state value as of the snapshot (e.g. the replication position: what
 * the snapshot contains). As stor_state_get: *val kv_malloc'd, NUL-terminated (kv_free);
 * KV_ENOTFOUND when absent. */
int stor_snapshot_state(stor_snap_t *snap, const char *name, char **val, size_t *len);

/* Every namespace as of the snapshot, in id order, read from disk (not from
 * the mirror). *out is kv_malloc'd (kv_free; NULL when *count is 0). */
int stor_snapshot_namespaces(stor_snap_t *snap, stor_ns_t **out, size_t *count);

typedef struct {
    char ns_id[KV_NS_ID_LEN + 1]; /* NUL-terminated */
    const char *key;              /* borrows from the snapshot until the next call */
    size_t key_len;
    stor_blob_t *blob; /* the stored record, a new reference: caller unrefs */
} stor_snap_item_t;

/* The next record in key order: every stored record, tombstones and expired
 * ones included (the receiver needs tombstones for LWW). Returns 1 with
 * *item filled, 0 at the end (and after it), or a negative code. Memory is
 * bounded: an iterator, one record copied at a time. */
int stor_snapshot_next(stor_snap_t *snap, stor_snap_item_t *item);

/* ---- replication: bulk loads (store_bulk.c) -------------------------------- */

/* Records written straight into sorted files (RocksDB SstFileWriter) and
 * added to the records column family whole (IngestExternalFile), without
 * the memtable, the WAL or an LWW read: for a snapshot streamed into a
 * store just reset, whose records come in key order, each key once. The
 * caller promises what stor_commit_t.keys_absent promises (no key added is
 * stored); a broken promise breaks LWW.
 *
 * Records added are invisible until stor_bulk_ingest, which makes them
 * visible and durable at once; it first syncs the WAL, so every write made
 * before it is durable before they are (a crash keeps the store as it was
 * before the ingest, or that plus the whole file, never the file without
 * the reset or the state written before it). Records added but not
 * ingested are dropped by stor_bulk_close and by a crash (the next
 * stor_open deletes the file).
 *
 * One thread at a time per handle; other writers may run beside it (none
 * may write the keys it adds). Close it before stor_close. */
typedef struct stor_bulk stor_bulk_t;

/* 0, KV_EINVAL (a read-only store), -ENOMEM or -errno (the directory). */
int stor_bulk_open(stor_t *s, stor_bulk_t **out);
/* Drop what was not ingested; NULL is a no-op. */
void stor_bulk_close(stor_bulk_t *b);

/* Add n records (muts borrow for the call). Keys (ns id + key) must be
 * strictly ascending, within the call and above every key this handle
 * added before. KV_EINVAL when one is not, or a mutation is malformed:
 * nothing was added and the handle is unchanged (the caller may write
 * these records another way). Another error (-ENOMEM, KV_EIO) drops the
 * records added since the last ingest, and every later add and ingest of
 * the handle returns it. */
int stor_bulk_add(stor_bulk_t *b, const stor_mutation_t *muts, size_t n);

/* Key and value bytes added since the last ingest (0 for NULL). */
uint64_t stor_bulk_pending_bytes(const stor_bulk_t *b);

/* Ingest what was added since the last ingest (0 when nothing was): the
 * WAL synced, then the file linked into the store, durable and visible
 * when this returns 0. On an error nothing of the file is in the store;
 * the handle keeps failing as stor_bulk_add says. */
int stor_bulk_ingest(stor_bulk_t *b);

/* Records this handle ingested so far. */
uint64_t stor_bulk_ingested(const stor_bulk_t *b);

/* ---- replication: reset and digest ---------------------------------------- */

/* Wipe the replica before a snapshot is applied: one batch that range-
 * deletes every record, namespace and log entry and deletes every state
 * name except the nkeep names in keep_state (e.g. the identity); then the
 * namespace mirror is emptied. Excludes namespace and record writers while
 * it runs; the caller must not commit log entries or state concurrently.
 * 0, KV_EINVAL, -ENOMEM or KV_EIO (then nothing was deleted). */
int stor_reset(stor_t *s, const char *const *keep_state, size_t nkeep);

#define STOR_DIGEST_BYTES 32

/* SHA-256 over a canonical encoding of every namespace (id, account, title)
 * and every record (ns id, key, version, tombstone, expiration, metadata,
 * value), in key order, read from one snapshot. Two replicas with the same
 * logical content give the same digest whatever their RocksDB layout.
 * Records expired at now_s are left out, since the expiry filter drops them
 * at different times on different replicas (now_s 0 keeps them all);
 * tombstones are always in. 0 or a negative code. */
int stor_digest(stor_t *s, int64_t now_s, uint8_t out[STOR_DIGEST_BYTES]);

/* ---- introspection ----------------------------------------------------------- */

typedef struct {
    uint64_t live_sst_bytes;
    uint64_t blob_bytes;
    uint64_t memtable_bytes;
    uint64_t estimated_keys;
    uint64_t block_cache_bytes;
    /* RocksDB's background work now: flushes and compactions running
     * (rocksdb.num-running-flushes + num-running-compactions), and column
     * families with a memtable flush or a compaction waiting for a thread
     * (mem-table-flush-pending + compaction-pending). Both 0: the store is
     * quiet, nothing competes with the writes and reads for CPU or disk. */
    uint64_t bg_running;
    uint64_t bg_pending;
    /* WAL durability since open, counted by RocksDB (its statistics) and
     * by the store. Under STOR_SYNC_ALWAYS each write group syncs the WAL
     * once and no write of the group returns before that sync finished:
     * wal_syncs grows with commit_groups. Under BATCH and OFF writes never
     * sync: wal_syncs grows only with wal_interval_syncs (counted as each
     * starts, so never behind) and with syncs RocksDB makes on its own
     * (closed WALs at a memtable flush, depending on its version). */
    uint64_t commit_groups;      /* write groups: concurrent writes joined (group commit) */
    uint64_t wal_syncs;          /* every WAL sync: in writes, plus the interval syncs */
    uint64_t wal_interval_syncs; /* syncs the store requested: BATCH thread and close */
    /* Time spent in WAL syncs since open (RocksDB's histogram
     * rocksdb.wal.file.sync.micros): how many and their sum, for the
     * fsync latency that /metrics exports and alerts watch. */
    uint64_t wal_sync_timed;
    uint64_t wal_sync_micros;
} stor_stats_t;

/* Fill *out. Safe from any thread while the store is open; the counters
 * are monotonic and read one by one (not one snapshot of all of them).
 * The WAL counters come from RocksDB's statistics text, which it builds
 * whole, histograms merged, for each call (about half a millisecond; its
 * C API reads no single ticker): not for a hot path. */
void stor_get_stats(stor_t *s, stor_stats_t *out);

/* The sizes and key estimate of stor_get_stats only (the WAL counters
 * zero): cheap enough for every status request. */
void stor_get_sizes(stor_t *s, stor_stats_t *out);

/* Compact every column family over its whole range, now: the expiry filter
 * then sees every record, and drops the expired ones and the tombstones
 * past the retention window. Blocks until done (`edgekv compact`, tests).
 * 0, or KV_EIO when RocksDB has counted a background error since open. */
int stor_compact(stor_t *s);

/* ---- backups ------------------------------------------------------------------ */

/* A RocksDB checkpoint of the live store at `dir` (store_checkpoint.c):
 * a consistent copy of every column family as of one instant, writes going
 * on meanwhile; its files are hard links to the store's immutable SST and
 * blob files where `dir` is on the same file system (copies elsewhere),
 * plus copies of the MANIFEST, OPTIONS and the live WAL. The memtables are
 * flushed first, so the copied WAL is short. `dir` must not exist; its
 * parent must. Blocks for the flush and the links: never on an event loop.
 * The checkpoint is a store of its own: stor_open (read_only to leave it
 * as it is) opens it. 0, KV_EINVAL (empty dir), KV_EEXISTS (dir exists),
 * or KV_EIO (details logged; nothing is left at dir). */
int stor_checkpoint(stor_t *s, const char *dir);

#endif
