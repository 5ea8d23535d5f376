/*
 * store.c - the RocksDB replica: options, open and close, WAL sync policy,
 * the expiry compaction filter, node state and introspection.
 *
 * This module (store*.c, see store_int.h) is the only code in edgekv that
 * talks to RocksDB. Every RocksDB option we rely on is set in one place,
 * stor__options_build(), so tuning has one home. RocksDB errors are turned
 * into KV_EIO at the call site, logged and freed; nothing here asserts on
 * I/O. What this file is not: record semantics (store_rec.c), namespaces
 * (store_ns.c), caching (cache.c) or clocks (versions come from the caller;
 * only the expiry filter reads the wall clock, to judge expiry).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

/* Defaults of stor_options_default(); see store.h for the meaning. */
#define STOR_DEFAULT_BLOCK_CACHE_BYTES     (64u * 1024u * 1024u)
#define STOR_DEFAULT_WRITE_BUFFER_BYTES    (64u * 1024u * 1024u)
#define STOR_DEFAULT_SYNC_INTERVAL_MS      100u
#define STOR_DEFAULT_TOMBSTONE_RETENTION_S (24 * 3600)
/* 10 bits per key gives a ~1% false-positive bloom filter: a GET of an
 * absent key almost never touches a data block. */
#define STOR_BLOOM_BITS_PER_KEY 10.0
/* Flushes plus compactions running at once; 2 keeps the HTTP loops' cores
 * free on small edge machines while letting a flush overlap a compaction. */
#define STOR_BACKGROUND_JOBS 2

void stor_options_default(stor_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->path = NULL;
    o->block_cache_bytes = STOR_DEFAULT_BLOCK_CACHE_BYTES;
    o->write_buffer_bytes = STOR_DEFAULT_WRITE_BUFFER_BYTES;
    o->blob_min_bytes = KV_BLOB_MIN_BYTES;
    o->sync = STOR_SYNC_ALWAYS;
    o->sync_interval_ms = STOR_DEFAULT_SYNC_INTERVAL_MS;
    o->compression = true;
    o->tombstone_retention_s = STOR_DEFAULT_TOMBSTONE_RETENTION_S;
    o->max_open_files = KV_STOR_MAX_OPEN_FILES_DEFAULT;
}

int stor_sync_parse(const char *s, stor_sync_t *out)
{
    if (!s)
        return KV_EINVAL;
    if (strcmp(s, "always") == 0)
        *out = STOR_SYNC_ALWAYS;
    else if (strcmp(s, "batch") == 0)
        *out = STOR_SYNC_BATCH;
    else if (strcmp(s, "off") == 0)
        *out = STOR_SYNC_OFF;
    else
        return KV_EINVAL;
    return 0;
}

const char *stor_sync_name(stor_sync_t s)
{
    switch (s) {
    case STOR_SYNC_ALWAYS:
        return "always";
    case STOR_SYNC_BATCH:
        return "batch";
    case STOR_SYNC_OFF:
        return "off";
    }
    return "unknown";
}

/* ---- shared helpers ------------------------------------------------------------ */

int stor__err(char *err, const char *what)
{
    if (!err)
        return 0;
    KV_LOG_ERROR(STOR_LOG, "%s: %s", what, err);
    rocksdb_free(err);
    return KV_EIO;
}

/* RocksDB counts into a thread-local perf context on every operation (its
 * default perf level, kEnableCount: each key comparison of a memtable
 * insert or a lookup bumps a counter, each through __tls_get_addr, since
 * the library is shared). Nothing here reads those counters
 * (stor_get_stats reads the Statistics tickers), so the entry points that
 * reach RocksDB on a hot path (commits, point reads, log reads, snapshot
 * walks) turn them off for their thread on its first call: 10-15 % of the
 * CPU of a batch of writes. The level is per thread, so it cannot be set
 * once at open. */
void stor__thread_prepare(void)
{
    static _Thread_local bool done;
    if (!done) {
        rocksdb_set_perf_level(rocksdb_disable);
        done = true;
    }
}

static int stor__write_with(stor_t *s, const rocksdb_writeoptions_t *wo, rocksdb_writebatch_t *wb)
{
    stor__thread_prepare(); /* the namespace writes come here without stor_commit */
    char *err = NULL;
    rocksdb_write(s->db, wo, wb, &err);
    if (err)
        atomic_store(&s->write_failed, true);
    return stor__err(err, "write");
}

int stor__write(stor_t *s, rocksdb_writebatch_t *wb)
{
    return stor__write_with(s, s->wopts, wb);
}

int stor__write_nosync(stor_t *s, rocksdb_writebatch_t *wb)
{
    return stor__write_with(s, s->wopts_nosync, wb);
}

bool stor__hex_valid(const char *id, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* ---- expiry compaction filter ------------------------------------------------- */

/* Decide, during compaction, whether a records-CF entry may go. It drops a
 * record that has expired (the read path already hides it) and a tombstone
 * older than the retention window (replicas that could still send an older
 * write have acknowledged past it by then). A live, unexpired record is
 * always kept, and so is anything we cannot decode. Called concurrently by
 * RocksDB's compaction threads: it only reads immutable fields. */
static unsigned char stor__filter(void *arg, int level, const char *key, size_t key_len,
                                  const char *val, size_t val_len, char **new_val,
                                  size_t *new_val_len, unsigned char *changed)
{
    stor_t *s = arg;
    stor_record_t rec;
    *changed = 0;
    if (stor_record_decode((const uint8_t *)val, val_len, &rec) != 0) {
        if (!atomic_exchange(&s->filter_warned, true))
            KV_LOG_WARN(STOR_LOG, "expiry filter: undecodable record kept (key %zu bytes)",
                        key_len);
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (!rec.tombstone)
        return rec.expiration != 0 && rec.expiration <= (int64_t)now.tv_sec;
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t wall_ms = (int64_t)(rec.version.hlc >> 16);
    return wall_ms < now_ms - s->tombstone_retention_s * 1000;
}

static const char *stor__filter_name(void *arg)
{
    return "edgekv.expiry";
}

static void stor__filter_destroy(void *arg)
{
    /* The state is the stor_t, owned by stor_open/stor_close. */
}

/* ---- options ----------------------------------------------------------------- */

/* Build every RocksDB option edgekv uses. Nothing is left to a RocksDB
 * default we depend on without saying so here.
 *
 * WAL sync policy (store.h stor_sync_t):
 *  - ALWAYS: each write sets sync=1, so it returns only after the WAL is
 *    fsynced. RocksDB joins concurrent writers into one write group with a
 *    single fsync: that is the group commit, no extra code needed.
 *  - BATCH: writes set sync=0 (they reach the OS page cache); a background
 *    thread calls rocksdb_flush_wal(db, sync=1) every sync_interval_ms, so
 *    a power loss loses at most that window; a process crash loses nothing.
 *  - OFF: sync=0 and no thread; the OS writes back when it likes. */
static void stor__options_build(stor_t *s, const stor_options_t *o)
{
    int comp = o->compression ? rocksdb_lz4_compression : rocksdb_no_compression;
    rocksdb_options_t *opt = rocksdb_options_create();
    /* Make the directory and the DB on first start. */
    rocksdb_options_set_create_if_missing(opt, 1);
    /* Create our CFs in a DB that predates one of them. */
    rocksdb_options_set_create_missing_column_families(opt, 1);
    /* Memtable size per CF: bigger absorbs more overwrites before a flush. */
    rocksdb_options_set_write_buffer_size(opt, o->write_buffer_bytes);
    /* A bounded table cache (RocksDB's default, -1, keeps every file open):
     * the process reserves descriptors for these (KV_FD_BUDGET). */
    rocksdb_options_set_max_open_files(
        opt, (int)(o->max_open_files ? o->max_open_files : KV_STOR_MAX_OPEN_FILES_DEFAULT));
    /* Background flushes + compactions (see STOR_BACKGROUND_JOBS). */
    rocksdb_options_set_max_background_jobs(opt, STOR_BACKGROUND_JOBS);
    /* LZ4: cheap enough for the write path, ~2x on JSON-ish values. */
    rocksdb_options_set_compression(opt, comp);
    /* Large values go to blob files so compactions do not rewrite them. */
    rocksdb_options_set_enable_blob_files(opt, 1);
    /* ...from this size up (values, metadata and header together). */
    rocksdb_options_set_min_blob_size(opt, o->blob_min_bytes);
    /* Blob files get the same compression as SSTs. */
    rocksdb_options_set_blob_compression_type(opt, comp);
    /* Compactions relocate live blobs out of old files so overwritten and
     * deleted large values are reclaimed. */
    rocksdb_options_set_enable_blob_gc(opt, 1);
    /* Statistics, for the WAL sync and write group tickers of
     * stor_get_stats (the proof that a policy syncs when it says). The C
     * API cannot lower the level; the per-operation counters and timers
     * made no difference beyond noise to unsynced puts and to gets. */
    rocksdb_options_enable_statistics(opt);

    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    /* One LRU block cache for all CFs, so the budget is global. */
    s->block_cache = rocksdb_cache_create_lru(o->block_cache_bytes);
    rocksdb_block_based_options_set_block_cache(t, s->block_cache);
    /* Full (not block-based) bloom filter; the table options take ownership. */
    rocksdb_block_based_options_set_filter_policy(
        t, rocksdb_filterpolicy_create_bloom_full(STOR_BLOOM_BITS_PER_KEY));
    /* Filter on whole keys: our reads are point lookups of ns+key. */
    rocksdb_block_based_options_set_whole_key_filtering(t, 1);
    rocksdb_options_set_block_based_table_factory(opt, t); /* copies t */
    rocksdb_block_based_options_destroy(t);
    s->opts = opt;

    /* The records CF alone runs the expiry filter. The options hold a raw
     * pointer to it: it must outlive the DB (freed in stor_close). */
    s->filter =
        rocksdb_compactionfilter_create(s, stor__filter_destroy, stor__filter, stor__filter_name);
    s->rec_opts = rocksdb_options_create_copy(opt);
    rocksdb_options_set_compaction_filter(s->rec_opts, s->filter);

    s->ropts = rocksdb_readoptions_create();
    s->wopts = rocksdb_writeoptions_create();
    /* ALWAYS: fsync per write (grouped); BATCH and OFF: no fsync per write. */
    rocksdb_writeoptions_set_sync(s->wopts, o->sync == STOR_SYNC_ALWAYS);
    /* Bulk ingest (a snapshot's chunks): into the WAL, unsynced; the next
     * synced write syncs them too (stor_commit_t.no_sync). */
    s->wopts_nosync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts_nosync, 0);
}

static int stor__options_check(const stor_options_t *o)
{
    if (!o || !o->path || !o->path[0])
        return KV_ECONFIG;
    if (o->write_buffer_bytes == 0 || o->tombstone_retention_s < 0)
        return KV_ECONFIG;
    if (o->sync != STOR_SYNC_ALWAYS && o->sync != STOR_SYNC_BATCH && o->sync != STOR_SYNC_OFF)
        return KV_ECONFIG;
    if (o->sync == STOR_SYNC_BATCH && o->sync_interval_ms == 0)
        return KV_ECONFIG;
    return 0;
}

/* ---- batch WAL sync thread ----------------------------------------------------- */

/* Sync the WAL now (the batch thread and close), counted first: see
 * wal_interval_syncs in store_int.h. */
static void stor__wal_sync(stor_t *s, const char *what)
{
    char *err = NULL;
    atomic_fetch_add(&s->wal_interval_syncs, 1);
    rocksdb_flush_wal(s->db, 1, &err);
    stor__err(err, what);
}

static void *stor__sync_main(void *arg)
{
    stor_t *s = arg;
    pthread_setname_np(pthread_self(), "ekv-walsync");
    pthread_mutex_lock(&s->sync_lock);
    while (!s->sync_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)s->sync_interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        int rc = pthread_cond_timedwait(&s->sync_cond, &s->sync_lock, &ts);
        if (s->sync_stop || rc != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&s->sync_lock);
        if (!atomic_load(&s->write_failed))
            stor__wal_sync(s, "batch WAL sync");
        pthread_mutex_lock(&s->sync_lock);
    }
    pthread_mutex_unlock(&s->sync_lock);
    return NULL;
}

static int stor__sync_start(stor_t *s)
{
    int rc = pthread_create(&s->sync_thread, NULL, stor__sync_main, s);
    if (rc != 0) {
        KV_LOG_ERROR(STOR_LOG, "WAL sync thread: %s", strerror(rc));
        return -rc;
    }
    s->sync_running = true;
    return 0;
}

static void stor__sync_stop(stor_t *s)
{
    if (!s->sync_running)
        return;
    pthread_mutex_lock(&s->sync_lock);
    s->sync_stop = true;
    pthread_cond_signal(&s->sync_cond);
    pthread_mutex_unlock(&s->sync_lock);
    pthread_join(s->sync_thread, NULL);
    s->sync_running = false;
}

/* ---- open / close -------------------------------------------------------------- */

/* glibc's init functions cannot fail with default (or clock) attributes, so
 * a failure is a broken platform assumption, hence the asserts. */
static void stor__locks_init(stor_t *s)
{
    for (int i = 0; i < STOR__STRIPES; i++)
        KV_ASSERT(pthread_mutex_init(&s->stripes[i], NULL) == 0);
    KV_ASSERT(pthread_mutex_init(&s->ns_write_lock, NULL) == 0);
    KV_ASSERT(pthread_rwlock_init(&s->ns_lock, NULL) == 0);
    KV_ASSERT(pthread_mutex_init(&s->sync_lock, NULL) == 0);
    pthread_condattr_t ca;
    KV_ASSERT(pthread_condattr_init(&ca) == 0);
    KV_ASSERT(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
    KV_ASSERT(pthread_cond_init(&s->sync_cond, &ca) == 0);
    pthread_condattr_destroy(&ca);
}

static void stor__locks_destroy(stor_t *s)
{
    for (int i = 0; i < STOR__STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i]);
    pthread_mutex_destroy(&s->ns_write_lock);
    pthread_rwlock_destroy(&s->ns_lock);
    pthread_mutex_destroy(&s->sync_lock);
    pthread_cond_destroy(&s->sync_cond);
}

static const char *const stor__cf_names[] = {"default", "records", "namespaces", "state", "log"};
#define STOR__CF_OURS ((int)(sizeof(stor__cf_names) / sizeof(stor__cf_names[0])))

/* Names to open: ours, then any other CF the DB has (RocksDB insists that
 * every existing CF is opened). `have` is what rocksdb_list_column_families
 * found (NULL for a new DB). Returns the count written to names. */
static int stor__cf_plan(char **have, size_t have_n, const char **names)
{
    int n = 0;
    for (int i = 0; i < STOR__CF_OURS; i++)
        names[n++] = stor__cf_names[i];
    for (size_t i = 0; i < have_n; i++) {
        bool ours = false;
        for (int j = 0; j < STOR__CF_OURS; j++)
            ours = ours || strcmp(have[i], stor__cf_names[j]) == 0;
        if (!ours) {
            KV_LOG_WARN(STOR_LOG, "opening unknown column family '%s'", have[i]);
            names[n++] = have[i];
        }
    }
    return n;
}

static int stor__open_db(stor_t *s, const char *path)
{
    char *err = NULL;
    size_t have_n = 0;
    char **have = rocksdb_list_column_families(s->opts, path, &have_n, &err);
    if (err) { /* no DB yet; a real problem shows up in the open below */
        rocksdb_free(err);
        err = NULL;
        if (have) /* an empty array is still allocated */
            rocksdb_list_column_families_destroy(have, have_n);
        have = NULL;
        have_n = 0;
    }
    int rc = -ENOMEM;
    size_t cap = (size_t)STOR__CF_OURS + have_n;
    const char **names = kv_calloc(cap, sizeof(*names));
    const rocksdb_options_t **cf_opts = kv_calloc(cap, sizeof(*cf_opts));
    rocksdb_column_family_handle_t **h = kv_calloc(cap, sizeof(*h));
    if (!names || !cf_opts || !h)
        goto out;
    int n = stor__cf_plan(have, have_n, names);
    for (int i = 0; i < n; i++)
        cf_opts[i] = strcmp(names[i], "records") == 0 ? s->rec_opts : s->opts;
    if (s->read_only) /* a WAL left in it is replayed in memory, not an error */
        s->db = rocksdb_open_for_read_only_column_families(s->opts, path, n, names, cf_opts, h, 0,
                                                           &err);
    else
        s->db = rocksdb_open_column_families(s->opts, path, n, names, cf_opts, h, &err);
    rc = stor__err(err, path);
    if (rc == 0) {
        s->cfs = h;
        s->cf_count = n;
        h = NULL;
        s->cf_records = s->cfs[1]; /* order of stor__cf_names */
        s->cf_ns = s->cfs[2];
        s->cf_state = s->cfs[3];
        s->cf_log = s->cfs[4];
    }
out:
    if (have)
        rocksdb_list_column_families_destroy(have, have_n);
    kv_free(names);
    kv_free(cf_opts);
    kv_free(h);
    return rc;
}

int stor_open(const stor_options_t *o, stor_t **out)
{
    *out = NULL;
    int rc = stor__options_check(o);
    if (rc)
        return rc;
    stor_t *s = kv_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    stor__locks_init(s);
    s->read_only = o->read_only;
    s->sync = o->sync;
    s->sync_interval_ms = o->sync_interval_ms;
    s->tombstone_retention_s = o->tombstone_retention_s;
    atomic_init(&s->filter_warned, false);
    atomic_init(&s->write_failed, false);
    atomic_init(&s->log_floor, 0);
    atomic_init(&s->log_deleted, 0);
    atomic_init(&s->wal_interval_syncs, 0);
    stor__options_build(s, o);
    rc = (s->path = kv_malloc(strlen(o->path) + 1)) ? 0 : -ENOMEM;
    if (rc == 0) {
        memcpy(s->path, o->path, strlen(o->path) + 1);
        rc = stor__open_db(s, o->path);
    }
    if (rc == 0)
        rc = stor__ns_load(s);
    if (rc == 0 && !s->read_only)
        stor__bulk_sweep(s);
    if (rc == 0 && s->sync == STOR_SYNC_BATCH && !s->read_only)
        rc = stor__sync_start(s);
    if (rc) {
        stor_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* An integer property summed over the column families (0 where unknown). */
static uint64_t stor__prop_sum(stor_t *s, const char *name)
{
    uint64_t sum = 0;
    for (int i = 0; i < s->cf_count; i++) {
        uint64_t v = 0;
        if (rocksdb_property_int_cf(s->db, s->cfs[i], name, &v) == 0)
            sum += v;
    }
    return sum;
}

/* Write every column family's memtable to an SST, so that the next open
 * replays an empty WAL: a restart after a clean stop (an upgrade, an edge
 * brought back to catch up) then opens in tens of milliseconds where a
 * 64 MiB memtable's WAL took 0.6 s to replay and flush at open. The stop
 * takes that time instead, within the drain's budget. A failure only costs
 * the replay: the WAL (synced above) still holds every write. */
static void stor__flush_memtables(stor_t *s)
{
    uint64_t entries = stor__prop_sum(s, "rocksdb.num-entries-active-mem-table") +
                       stor__prop_sum(s, "rocksdb.num-entries-imm-mem-tables");
    uint64_t bytes = stor__prop_sum(s, "rocksdb.cur-size-all-mem-tables");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < s->cf_count; i++) {
        char *err = NULL;
        rocksdb_flush_cf(s->db, fo, s->cfs[i], &err);
        stor__err(err, "close: memtable flush");
    }
    rocksdb_flushoptions_destroy(fo);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (entries) /* the stop's time, where an operator looks for it */
        KV_LOG_INFO(
            STOR_LOG, "close: %llu memtable entries (%.1f MiB) written out in %lld ms",
            (unsigned long long)entries, (double)bytes / (1024.0 * 1024.0),
            (long long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

void stor_close(stor_t *s)
{
    if (!s)
        return;
    stor__sync_stop(s);
    /* A clean shutdown is durable under every policy. */
    if (s->db && s->sync != STOR_SYNC_ALWAYS && !s->read_only && !atomic_load(&s->write_failed))
        stor__wal_sync(s, "close: WAL sync");
    if (s->db && !s->read_only && !atomic_load(&s->write_failed))
        stor__flush_memtables(s);
    /* Column family handles go before the DB they belong to. */
    for (int i = 0; i < s->cf_count; i++)
        rocksdb_column_family_handle_destroy(s->cfs[i]);
    kv_free(s->cfs);
    if (s->db)
        rocksdb_close(s->db);
    /* Options, filter and cache outlive the DB that referenced them. */
    if (s->wopts)
        rocksdb_writeoptions_destroy(s->wopts);
    if (s->wopts_nosync)
        rocksdb_writeoptions_destroy(s->wopts_nosync);
    if (s->ropts)
        rocksdb_readoptions_destroy(s->ropts);
    if (s->rec_opts)
        rocksdb_options_destroy(s->rec_opts);
    if (s->opts)
        rocksdb_options_destroy(s->opts);
    if (s->filter)
        rocksdb_compactionfilter_destroy(s->filter);
    if (s->block_cache)
        rocksdb_cache_destroy(s->block_cache);
    stor__ns_free(s);
    stor__locks_destroy(s);
    kv_free(s->path);
    kv_free(s);
}

const char *stor_path(const stor_t *s)
{
    return s->path;
}

/* ---- node state ------------------------------------------------------------------ */

int stor__state_read(stor_t *s, const rocksdb_readoptions_t *ro, const char *name, char **val,
                     size_t *len)
{
    *val = NULL;
    if (len)
        *len = 0;
    if (!name || !name[0])
        return KV_EINVAL;
    char *err = NULL;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(s->db, ro, s->cf_state, name, strlen(name), &err);
    int rc = stor__err(err, "state get");
    if (rc)
        return rc;
    if (!p)
        return KV_ENOTFOUND;
    size_t n = 0;
    const char *v = rocksdb_pinnableslice_value(p, &n);
    char *copy = kv_strndup(v, n);
    rocksdb_pinnableslice_destroy(p);
    if (!copy)
        return -ENOMEM;
    *val = copy;
    if (len)
        *len = n;
    return 0;
}

int stor_state_get(stor_t *s, const char *name, char **val, size_t *len)
{
    return stor__state_read(s, s->ropts, name, val, len);
}

int stor_state_put(stor_t *s, const char *name, const void *val, size_t len)
{
    if (!name || !name[0] || (!val && len))
        return KV_EINVAL;
    stor_state_put_t put = {name, val, len};
    stor_commit_t c = {.state = &put, .n_state = 1};
    return stor_commit(s, &c);
}

/* ---- introspection ---------------------------------------------------------------- */

/* The COUNT of ticker `name` in RocksDB's statistics text, whose lines
 * read "rocksdb.wal.synced COUNT : 12"; 0 when absent. */
static uint64_t stor__ticker(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && (p = strstr(p, name)) != NULL; p += n) {
        unsigned long long v;
        if ((p == text || p[-1] == '\n') && sscanf(p + n, " COUNT : %llu", &v) == 1)
            return v;
    }
    return 0;
}

/* COUNT and SUM of histogram `name` in the statistics text, whose lines
 * read "rocksdb.wal.file.sync.micros P50 : 1.0 ... COUNT : 12 SUM : 340";
 * 0 and 0 when absent. */
static void stor__histogram(const char *text, const char *name, uint64_t *count, uint64_t *sum)
{
    size_t n = strlen(name);
    *count = *sum = 0;
    for (const char *p = text; p && (p = strstr(p, name)) != NULL; p += n) {
        const char *c, *eol = strchr(p, '\n');
        unsigned long long cv, sv;
        if ((p != text && p[-1] != '\n') || p[n] != ' ')
            continue;
        c = strstr(p, " COUNT : ");
        if (c && (!eol || c < eol) && sscanf(c, " COUNT : %llu SUM : %llu", &cv, &sv) == 2) {
            *count = cv;
            *sum = sv;
        }
        return;
    }
}

void stor_get_sizes(stor_t *s, stor_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->live_sst_bytes = stor__prop_sum(s, "rocksdb.live-sst-files-size");
    out->blob_bytes = stor__prop_sum(s, "rocksdb.live-blob-file-size");
    out->memtable_bytes = stor__prop_sum(s, "rocksdb.cur-size-all-mem-tables");
    out->estimated_keys = stor__prop_sum(s, "rocksdb.estimate-num-keys");
    out->block_cache_bytes = rocksdb_cache_get_usage(s->block_cache);
    uint64_t v = 0;
    if (rocksdb_property_int(s->db, "rocksdb.num-running-flushes", &v) == 0)
        out->bg_running += v;
    if (rocksdb_property_int(s->db, "rocksdb.num-running-compactions", &v) == 0)
        out->bg_running += v;
    out->bg_pending = stor__prop_sum(s, "rocksdb.mem-table-flush-pending") +
                      stor__prop_sum(s, "rocksdb.compaction-pending");
}

void stor_get_stats(stor_t *s, stor_stats_t *out)
{
    stor_get_sizes(s, out);
    /* The tickers first, then the store's count: an interval sync RocksDB
     * has counted is then in wal_interval_syncs too (see store_int.h). */
    char *text = rocksdb_options_statistics_get_string(s->opts);
    if (text) {
        out->commit_groups = stor__ticker(text, "rocksdb.write.self");
        out->wal_syncs = stor__ticker(text, "rocksdb.wal.synced");
        stor__histogram(text, "rocksdb.wal.file.sync.micros", &out->wal_sync_timed,
                        &out->wal_sync_micros);
        rocksdb_free(text);
    }
    out->wal_interval_syncs = atomic_load(&s->wal_interval_syncs);
}

int stor_compact(stor_t *s)
{
    /* A full range flushes the memtable first and, because records has a
     * compaction filter, rewrites the bottommost level too, so the filter
     * sees every record. The C API returns no status for a manual
     * compaction; a failing one is a background error, which RocksDB
     * counts (and details in its LOG). */
    uint64_t errors = 0;
    for (int i = 0; i < s->cf_count; i++)
        rocksdb_compact_range_cf(s->db, s->cfs[i], NULL, 0, NULL, 0);
    if (rocksdb_property_int(s->db, "rocksdb.background-errors", &errors) == 0 && errors > 0) {
        KV_LOG_ERROR(STOR_LOG,
                     "compaction: %llu background errors since open (see the RocksDB LOG)",
                     (unsigned long long)errors);
        return KV_EIO;
    }
    return 0;
}

int stor_state_scan(stor_t *s, const char *prefix, stor_state_cb cb, void *arg)
{
    size_t plen = strlen(prefix);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf_state);
    char *err = NULL;
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (rocksdb_iter_seek(it, prefix, plen); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen), *v = rocksdb_iter_value(it, &vlen);
        if (klen < plen || memcmp(k, prefix, plen) != 0)
            break;
        rc = cb(arg, k, klen, v, vlen);
    }
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    if (err)
        return stor__err(err, "state scan");
    return rc < 0 ? rc : 0;
}
