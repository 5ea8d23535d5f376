/*
 * store_snap.c - full copies of a replica: snapshots to stream one out, and
 * the reset that wipes a replica before one is streamed in.
 *
 * A snapshot is a RocksDB snapshot plus read options pinned to it: state,
 * namespaces and records are all read as of one instant, however many
 * commits land meanwhile. Records come out one at a time from an iterator,
 * so streaming a store of any size takes the memory of one record.
 *
 * A reset is one write batch of range deletions over each column family's
 * whole key space (from the empty key to the last key present) plus point
 * deletions of the state names not kept, so a crash leaves either the old
 * replica or an empty one, never a mixture. Not here: the snapshot's wire
 * form (replication/) and applying one (it is a series of stor_commits).
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

struct stor_snap {
    stor_t *s;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro; /* reads at snap, no block cache fill */
    rocksdb_iterator_t *it;    /* records; created by the first next() */
    bool done;
    char key[KV_KEY_MAX_BYTES]; /* the last item's key */
};

int stor_snapshot_open(stor_t *s, stor_snap_t **out)
{
    *out = NULL;
    stor_snap_t *sn = kv_calloc(1, sizeof(*sn));
    if (!sn)
        return -ENOMEM;
    sn->s = s;
    sn->snap = rocksdb_create_snapshot(s->db);
    sn->ro = stor__scan_ropts(sn->snap);
    *out = sn;
    return 0;
}

void stor_snapshot_close(stor_snap_t *sn)
{
    if (!sn)
        return;
    if (sn->it)
        rocksdb_iter_destroy(sn->it);
    rocksdb_readoptions_destroy(sn->ro);
    rocksdb_release_snapshot(sn->s->db, sn->snap);
    kv_free(sn);
}

int stor_snapshot_state(stor_snap_t *sn, const char *name, char **val, size_t *len)
{
    return stor__state_read(sn->s, sn->ro, name, val, len);
}

/* Append the iterator's entry to *v (capacity *cap), growing it. */
static int stor__snap_ns_push(rocksdb_iterator_t *it, stor_ns_t **v, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        stor_ns_t *nv = kv_realloc(*v, c * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    size_t kl = 0, vl = 0;
    const char *k = rocksdb_iter_key(it, &kl);
    const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vl);
    int rc = stor__ns_decode(k, kl, val, vl, &(*v)[*n]);
    if (rc)
        KV_LOG_ERROR(STOR_LOG, "snapshot: corrupt namespace entry (key %zu bytes)", kl);
    else
        (*n)++;
    return rc;
}

int stor_snapshot_namespaces(stor_snap_t *sn, stor_ns_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sn->s->db, sn->ro, sn->s->cf_ns);
    stor_ns_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it))
        rc = stor__snap_ns_push(it, &v, &n, &cap);
    if (rc == 0)
        rc = stor__iter_err(it, "snapshot namespaces");
    rocksdb_iter_destroy(it);
    if (rc) {
        kv_free(v);
        return rc;
    }
    *out = v;
    *count = n;
    return 0;
}

/* Fill *item from the iterator's current record. */
static int stor__snap_item(stor_snap_t *sn, stor_snap_item_t *item)
{
    size_t kl = 0, vl = 0;
    const char *k = rocksdb_iter_key(sn->it, &kl);
    const uint8_t *v = (const uint8_t *)rocksdb_iter_value(sn->it, &vl);
    stor_record_t rec;
    if (kl <= KV_NS_ID_LEN || kl > KV_NS_ID_LEN + KV_KEY_MAX_BYTES ||
        !stor__hex_valid(k, KV_NS_ID_LEN) || stor_record_decode(v, vl, &rec) != 0) {
        KV_LOG_ERROR(STOR_LOG, "snapshot: corrupt record (key %zu, value %zu bytes)", kl, vl);
        return KV_ECORRUPT;
    }
    item->blob = stor_blob_new(v, vl);
    if (!item->blob)
        return -ENOMEM;
    memcpy(item->ns_id, k, KV_NS_ID_LEN);
    item->ns_id[KV_NS_ID_LEN] = '\0';
    item->key_len = kl - KV_NS_ID_LEN;
    memcpy(sn->key, k + KV_NS_ID_LEN, item->key_len);
    item->key = sn->key;
    return 0;
}

int stor_snapshot_next(stor_snap_t *sn, stor_snap_item_t *item)
{
    memset(item, 0, sizeof(*item));
    if (sn->done)
        return 0;
    stor__thread_prepare(); /* the walk may move between threads */
    if (!sn->it) {
        sn->it = rocksdb_create_iterator_cf(sn->s->db, sn->ro, sn->s->cf_records);
        rocksdb_iter_seek_to_first(sn->it);
    } else {
        rocksdb_iter_next(sn->it);
    }
    if (!rocksdb_iter_valid(sn->it)) {
        int rc = stor__iter_err(sn->it, "snapshot records");
        sn->done = rc == 0;
        return rc;
    }
    int rc = stor__snap_item(sn, item);
    return rc ? rc : 1;
}

/* ---- reset ------------------------------------------------------------------------ */

/* Add to wb the deletion of every key of cf: a range from the empty key to
 * the last key, and the last key itself (range ends are exclusive). */
static int stor__cf_wipe(stor_t *s, rocksdb_column_family_handle_t *cf, rocksdb_writebatch_t *wb)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, cf);
    rocksdb_iter_seek_to_last(it);
    int rc = 0;
    if (rocksdb_iter_valid(it)) {
        size_t kl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete_range_cf(wb, cf, "", 0, k, kl);
        rocksdb_writebatch_delete_cf(wb, cf, k, kl);
    } else {
        rc = stor__iter_err(it, "reset");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

static bool stor__kept(const char *name, size_t len, const char *const *keep, size_t nkeep)
{
    for (size_t i = 0; i < nkeep; i++)
        if (strlen(keep[i]) == len && memcmp(keep[i], name, len) == 0)
            return true;
    return false;
}

/* State is a handful of names: delete them one by one, sparing the kept. */
static int stor__state_wipe(stor_t *s, const char *const *keep, size_t nkeep,
                            rocksdb_writebatch_t *wb)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf_state);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        if (!stor__kept(k, kl, keep, nkeep))
            rocksdb_writebatch_delete_cf(wb, s->cf_state, k, kl);
    }
    int rc = stor__iter_err(it, "reset state");
    rocksdb_iter_destroy(it);
    return rc;
}

int stor_reset(stor_t *s, const char *const *keep_state, size_t nkeep)
{
    if (nkeep && !keep_state)
        return KV_EINVAL;
    for (size_t i = 0; i < nkeep; i++)
        if (!keep_state[i])
            return KV_EINVAL;
    /* Every stripe, in the commits' lock order: no record or namespace
     * write can land between the scan for last keys and the write. */
    stor__recs_t all;
    memset(&all, 0, sizeof(all));
    memset(all.stripes, 0xff, sizeof(all.stripes));
    pthread_mutex_lock(&s->ns_write_lock);
    stor__recs_lock(s, &all, true);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    int rc = stor__cf_wipe(s, s->cf_records, wb);
    if (rc == 0)
        rc = stor__cf_wipe(s, s->cf_ns, wb);
    if (rc == 0)
        rc = stor__cf_wipe(s, s->cf_log, wb);
    if (rc == 0)
        rc = stor__state_wipe(s, keep_state, nkeep, wb);
    if (rc == 0 && rocksdb_writebatch_count(wb) > 0)
        rc = stor__write(s, wb);
    rocksdb_writebatch_destroy(wb);
    if (rc == 0) {
        stor__ns_clear(s);
        atomic_store(&s->log_floor, 0);
        atomic_store(&s->log_deleted, 0);
    }
    stor__recs_lock(s, &all, false);
    pthread_mutex_unlock(&s->ns_write_lock);
    return rc;
}
