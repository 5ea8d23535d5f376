/*
 * store_checkpoint.c - a RocksDB checkpoint of the live store, for backups
 * (`edgekv backup`, node/api/backup.c).
 *
 * RocksDB stops deleting obsolete files, flushes the memtables, then hard
 * links (or copies, across file systems) every live SST and blob file into
 * the new directory and copies the MANIFEST, CURRENT, OPTIONS and the live
 * WAL: a store of its own, consistent across the column families as of one
 * instant, while writes go on. What it is not: a transfer. Reading the
 * checkpoint's files, hashing and serving them is the caller's business.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kv_err.h"
#include "kv_log.h"
#include "store_int.h"

/* The memtables are always flushed first (a log size threshold of 0): the
 * checkpoint then carries a short WAL instead of everything not yet in an
 * SST, and opens without a long replay. */
#define STOR__CHECKPOINT_FLUSH_LOG_BYTES 0

int stor_checkpoint(stor_t *s, const char *dir)
{
    struct stat st;
    char *err = NULL;
    if (!dir || !dir[0])
        return KV_EINVAL;
    if (lstat(dir, &st) == 0)
        return KV_EEXISTS;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(s->db, &err);
    if (err)
        return stor__err(err, "checkpoint");
    rocksdb_checkpoint_create(cp, dir, STOR__CHECKPOINT_FLUSH_LOG_BYTES, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err) {
        /* RocksDB builds the checkpoint in "<dir>.tmp" and renames it into
         * place only once complete: on failure nothing is left at dir. */
        char what[64 + 4096];
        snprintf(what, sizeof what, "checkpoint to %s", dir);
        return stor__err(err, what);
    }
    KV_LOG_INFO(STOR_LOG, "checkpoint of %s at %s", s->path, dir);
    return 0;
}
