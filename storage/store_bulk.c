/*
 * store_bulk.c - bulk loads: records written straight into SST files and
 * ingested whole, for a snapshot streamed into a store just reset.
 *
 * A snapshot's records arrive in the records column family's own key order
 * (the origin walks that column family with an iterator), each key once,
 * into a store that holds none of them. Writing them through the memtable
 * costs a skiplist insert per record, a WAL append, a flush later and the
 * memtable's page faults; an SstFileWriter instead appends them to a sorted
 * file, and IngestExternalFile links that file into the column family in
 * one step. No LWW read is made: the caller promises what
 * stor_commit_t.keys_absent promises.
 *
 * Durability order. An ingest first syncs the WAL, so every write made
 * before it (the reset that wiped the store, the namespaces and tokens of
 * the snapshot, the position that raised hlc_last over the file's records)
 * is durable before the file is; RocksDB then syncs the file and the
 * MANIFEST that adds it before the ingest returns. A crash therefore keeps
 * either the state before the ingest or that state plus the whole file.
 *
 * Files are written in the "bulk" directory inside the store's directory
 * (RocksDB ignores a subdirectory) and moved into the column family by a
 * hard link; what a crash leaves there is deleted at the next open. Not
 * here: deciding when records may take this path (node/replica/).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

#define STOR__BULK_DIR "bulk"

struct stor_bulk {
    stor_t *s;
    rocksdb_envoptions_t *env;
    rocksdb_sstfilewriter_t *w; /* NULL between files */
    char *dir;                  /* <store path>/bulk */
    char *file;                 /* the file being written (valid while w) */
    size_t file_cap;
    uint64_t file_no;  /* names files apart within this handle */
    size_t records;    /* in the current file */
    uint64_t bytes;    /* key and value bytes in the current file */
    uint64_t ingested; /* records ingested by this handle */
    int failed;        /* an add or an ingest failed: what every later call returns */
    uint8_t *val;      /* scratch: one encoded record */
    size_t val_cap;
    char last[STOR__KEY_BUF_BYTES]; /* the last key added (any file of this handle) */
    size_t last_len;
};

static char *stor__bulk_dir(const stor_t *s)
{
    size_t n = strlen(s->path) + sizeof("/" STOR__BULK_DIR);
    char *d = kv_malloc(n);
    if (d)
        snprintf(d, n, "%s/%s", s->path, STOR__BULK_DIR);
    return d;
}

void stor__bulk_sweep(const stor_t *s)
{
    char *dir = stor__bulk_dir(s);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;
    size_t removed = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < sizeof p && unlink(p) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    if (removed)
        KV_LOG_INFO(STOR_LOG, "removed %zu bulk file(s) an interrupted load left", removed);
    kv_free(dir);
}

int stor_bulk_open(stor_t *s, stor_bulk_t **out)
{
    *out = NULL;
    if (s->read_only)
        return KV_EINVAL;
    stor_bulk_t *b = kv_calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->s = s;
    b->dir = stor__bulk_dir(s);
    b->file_cap = b->dir ? strlen(b->dir) + 32 : 0;
    b->file = b->dir ? kv_malloc(b->file_cap) : NULL;
    if (!b->file) {
        stor_bulk_close(b);
        return -ENOMEM;
    }
    if (mkdir(b->dir, 0700) != 0 && errno != EEXIST) {
        int rc = -errno;
        KV_LOG_ERROR(STOR_LOG, "bulk: mkdir %s: %s", b->dir, strerror(errno));
        stor_bulk_close(b);
        return rc;
    }
    b->env = rocksdb_envoptions_create();
    *out = b;
    return 0;
}

/* Drop the file being written, if any. */
static void stor__bulk_discard(stor_bulk_t *b)
{
    if (!b->w)
        return;
    rocksdb_sstfilewriter_destroy(b->w);
    b->w = NULL;
    unlink(b->file);
    b->records = 0;
    b->bytes = 0;
}

void stor_bulk_close(stor_bulk_t *b)
{
    if (!b)
        return;
    stor__bulk_discard(b);
    if (b->env)
        rocksdb_envoptions_destroy(b->env);
    kv_free(b->val);
    kv_free(b->file);
    kv_free(b->dir);
    kv_free(b);
}

/* Start a new file (the records CF's options: its compression, block size
 * and bloom filter, as a flush would write it). */
static int stor__bulk_start(stor_bulk_t *b)
{
    char *err = NULL;
    snprintf(b->file, b->file_cap, "%s/%llu.sst", b->dir, (unsigned long long)++b->file_no);
    b->w = rocksdb_sstfilewriter_create(b->env, b->s->rec_opts);
    rocksdb_sstfilewriter_open(b->w, b->file, &err);
    if (err) {
        rocksdb_sstfilewriter_destroy(b->w);
        b->w = NULL;
        return stor__err(err, "bulk: open file");
    }
    return 0;
}

/* Check muts: well formed, keys strictly ascending and above the last key
 * added. Nothing is changed. */
static int stor__bulk_check(const stor_bulk_t *b, const stor_mutation_t *muts, size_t n)
{
    const char *prev_ns = NULL, *prev_key = NULL;
    size_t prev_len = 0;
    for (size_t i = 0; i < n; i++) {
        const stor_mutation_t *m = &muts[i];
        const stor_record_t *r = &m->rec;
        if (!m->ns_id || !stor__hex_valid(m->ns_id, KV_NS_ID_LEN) || !m->key || !m->key_len ||
            m->key_len > KV_KEY_MAX_BYTES || r->metadata_len > KV_METADATA_MAX_BYTES ||
            r->value_len > KV_VALUE_MAX_BYTES || (r->metadata_len && !r->metadata) ||
            (r->value_len && !r->value))
            return KV_EINVAL;
        int c;
        if (prev_ns) {
            c = memcmp(prev_ns, m->ns_id, KV_NS_ID_LEN);
            if (c == 0) {
                size_t l = prev_len < m->key_len ? prev_len : m->key_len;
                c = memcmp(prev_key, m->key, l);
                c = c ? c : (prev_len < m->key_len ? -1 : prev_len > m->key_len ? 1 : 0);
            }
        } else if (b->last_len) {
            char k[STOR__KEY_BUF_BYTES];
            memcpy(k, m->ns_id, KV_NS_ID_LEN);
            memcpy(k + KV_NS_ID_LEN, m->key, m->key_len);
            size_t kl = KV_NS_ID_LEN + m->key_len, l = b->last_len < kl ? b->last_len : kl;
            c = memcmp(b->last, k, l);
            c = c ? c : (b->last_len < kl ? -1 : b->last_len > kl ? 1 : 0);
        } else {
            c = -1;
        }
        if (c >= 0)
            return KV_EINVAL;
        prev_ns = m->ns_id;
        prev_key = m->key;
        prev_len = m->key_len;
    }
    return 0;
}

/* The encoded record (header, metadata, value) in b->val. */
static int stor__bulk_encode(stor_bulk_t *b, const stor_record_t *r, size_t *len)
{
    size_t n = STOR_RECORD_HEADER_BYTES + r->metadata_len + r->value_len;
    if (n > b->val_cap) {
        size_t cap = n < 4096 ? 4096 : n;
        uint8_t *v = kv_realloc(b->val, cap);
        if (!v)
            return -ENOMEM;
        b->val = v;
        b->val_cap = cap;
    }
    stor_record_encode(r, b->val);
    *len = n;
    return 0;
}

int stor_bulk_add(stor_bulk_t *b, const stor_mutation_t *muts, size_t n)
{
    if (!b || (n && !muts))
        return KV_EINVAL;
    if (b->failed)
        return b->failed;
    int rc = stor__bulk_check(b, muts, n);
    if (rc || n == 0)
        return rc;
    if (!b->w && (rc = stor__bulk_start(b)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const stor_mutation_t *m = &muts[i];
        char k[STOR__KEY_BUF_BYTES], *err = NULL;
        size_t kl = KV_NS_ID_LEN + m->key_len, vl = 0;
        memcpy(k, m->ns_id, KV_NS_ID_LEN);
        memcpy(k + KV_NS_ID_LEN, m->key, m->key_len);
        if ((rc = stor__bulk_encode(b, &m->rec, &vl)) == 0) {
            rocksdb_sstfilewriter_put(b->w, k, kl, (const char *)b->val, vl, &err);
            rc = stor__err(err, "bulk: add");
        }
        if (rc) {
            /* The file holds part of this call: it cannot be ingested,
             * and the records of earlier calls went with it. */
            stor__bulk_discard(b);
            return (b->failed = rc);
        }
        memcpy(b->last, k, kl);
        b->last_len = kl;
        b->records++;
        b->bytes += kl + vl;
    }
    return 0;
}

uint64_t stor_bulk_pending_bytes(const stor_bulk_t *b)
{
    return b ? b->bytes : 0;
}

int stor_bulk_ingest(stor_bulk_t *b)
{
    if (b && b->failed)
        return b->failed;
    if (!b || !b->w)
        return 0;
    stor_t *s = b->s;
    char *err = NULL;
    rocksdb_sstfilewriter_finish(b->w, &err);
    int rc = stor__err(err, "bulk: finish file");
    /* Everything written before this file is durable before it is. */
    if (rc == 0) {
        atomic_fetch_add(&s->wal_interval_syncs, 1);
        rocksdb_flush_wal(s->db, 1, &err);
        rc = stor__err(err, "bulk: WAL sync");
    }
    if (rc == 0) {
        rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
        const char *files[1] = {b->file};
        /* Link rather than copy; a file that overlaps a memtable (the
         * reset's range deletions) gets a flush first and a sequence
         * number above them. */
        rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
        rocksdb_ingestexternalfileoptions_set_allow_global_seqno(io, 1);
        rocksdb_ingestexternalfileoptions_set_allow_blocking_flush(io, 1);
        rocksdb_ingest_external_file_cf(s->db, s->cf_records, files, 1, io, &err);
        rocksdb_ingestexternalfileoptions_destroy(io);
        rc = stor__err(err, "bulk: ingest");
    }
    if (rc == 0)
        b->ingested += b->records;
    else
        b->failed = rc;
    stor__bulk_discard(b); /* moved on success: the unlink finds nothing */
    return rc;
}

uint64_t stor_bulk_ingested(const stor_bulk_t *b)
{
    return b ? b->ingested : 0;
}
