/*
 * store_log.c - the replication log: reads, bounds and trimming of the "log"
 * column family. Entries are written only by stor_commit, in the same batch
 * as the mutations they describe.
 *
 * A key is the sequence number in 8 big-endian bytes, so RocksDB's bytewise
 * order is numeric order and the first and last entries are one seek away.
 * Values are opaque here. Trimming is a range deletion: cheap to write, but
 * until compaction drops them the deleted keys are still stepped over by an
 * iterator, so every read seeks from log_floor, the highest trim point, and
 * never walks the trimmed range.
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

rocksdb_readoptions_t *stor__scan_ropts(const rocksdb_snapshot_t *snap)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0);
    if (snap)
        rocksdb_readoptions_set_snapshot(ro, snap);
    return ro;
}

int stor__iter_err(rocksdb_iterator_t *it, const char *what)
{
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return stor__err(err, what);
}

/* The seq of the iterator's current entry, KV_ECORRUPT for a foreign key. */
static int stor__log_seq(rocksdb_iterator_t *it, uint64_t *seq)
{
    size_t kl = 0;
    const char *k = rocksdb_iter_key(it, &kl);
    if (kl != 8) {
        KV_LOG_ERROR(STOR_LOG, "log: key of %zu bytes", kl);
        return KV_ECORRUPT;
    }
    *seq = stor__key_seq(k);
    return 0;
}

/* Deliver from the iterator's position while the seqs run on. */
static int stor__log_walk(rocksdb_iterator_t *it, uint64_t want, size_t max_entries,
                          size_t max_bytes, stor_log_cb cb, void *arg)
{
    size_t n = 0, bytes = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        uint64_t seq = 0;
        int rc = stor__log_seq(it, &seq);
        if (rc)
            return rc;
        if (seq != want)
            return 0; /* a gap, or past the end of a trimmed range */
        size_t vl = 0;
        const char *v = rocksdb_iter_value(it, &vl);
        if (n > 0 && (bytes > max_bytes || vl > max_bytes - bytes))
            return 0;
        rc = cb(arg, seq, v, vl);
        if (rc)
            return rc < 0 ? rc : 0;
        bytes += vl;
        if (++n == max_entries || want == UINT64_MAX)
            return 0;
        want++;
    }
    return stor__iter_err(it, "log read");
}

int stor_log_read(stor_t *s, uint64_t from_seq, size_t max_entries, size_t max_bytes,
                  stor_log_cb cb, void *arg)
{
    if (!cb || from_seq == 0 || max_entries == 0)
        return KV_EINVAL;
    if (from_seq < atomic_load(&s->log_floor))
        return 0; /* trimmed away */
    stor__thread_prepare();
    char k[8];
    stor__seq_key(from_seq, k);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf_log);
    rocksdb_iter_seek(it, k, sizeof(k));
    int rc = stor__log_walk(it, from_seq, max_entries, max_bytes, cb, arg);
    rocksdb_iter_destroy(it);
    return rc;
}

int stor_log_bounds(stor_t *s, uint64_t *first, uint64_t *last)
{
    *first = *last = 0;
    char lo[8];
    stor__seq_key(atomic_load(&s->log_floor), lo);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    /* The bound must outlive the iterator: lo does. */
    rocksdb_readoptions_set_iterate_lower_bound(ro, lo, sizeof(lo));
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf_log);
    rocksdb_iter_seek(it, lo, sizeof(lo)); /* SeekToFirst ignores the lower bound */
    int rc = 0;
    uint64_t f = 0, l = 0;
    if (rocksdb_iter_valid(it)) {
        rc = stor__log_seq(it, &f);
        rocksdb_iter_seek_to_last(it);
        if (rc == 0 && rocksdb_iter_valid(it))
            rc = stor__log_seq(it, &l);
    }
    if (rc == 0)
        rc = stor__iter_err(it, "log bounds");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rc == 0 && f && l) {
        *first = f;
        *last = l;
    }
    return rc;
}

/* Raise *a to v unless it is higher already (concurrent trims keep the
 * highest point). */
static void stor__raise(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load(a);
    while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

bool stor_log_trim_floor(stor_t *s, uint64_t below_seq)
{
    /* Trimmed for every reader at once: none reads below the floor. */
    stor__raise(&s->log_floor, below_seq);
    /* Deleted in steps (STOR_LOG_TRIM_STEP). Entries between the last
     * deletion and the floor stay on disk, whole and valid, until the next
     * step; after a reopen the floor is unknown and the log starts at the
     * first entry still there (stor_log_bounds), which the origin may serve. */
    return below_seq >= atomic_load(&s->log_deleted) + STOR_LOG_TRIM_STEP;
}

int stor_log_trim(stor_t *s, uint64_t below_seq)
{
    if (!stor_log_trim_floor(s, below_seq))
        return 0;
    char lo[8], hi[8];
    stor__seq_key(0, lo);
    stor__seq_key(below_seq, hi);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range_cf(wb, s->cf_log, lo, sizeof(lo), hi, sizeof(hi));
    int rc = stor__write(s, wb);
    rocksdb_writebatch_destroy(wb);
    if (rc == 0)
        stor__raise(&s->log_deleted, below_seq);
    return rc;
}
