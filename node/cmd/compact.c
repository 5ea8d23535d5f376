/*
 * compact.c - `edgekv compact --data-dir DIR`: a full compaction of a
 * stopped node's store, run by an operator.
 *
 * It opens DIR/db, compacts every column family over its whole range
 * (stor_compact), so the records' expiry filter drops every expired record
 * and every tombstone past the retention window now rather than when
 * RocksDB's background compactions reach them, prints the store's sizes
 * before and after (stor_get_stats), and closes. Reads already hide what
 * it drops: it changes no answer, only the bytes on disk.
 *
 * What it is not: a tool for a running node. RocksDB lets one process at
 * a time open a store (an fcntl lock on DIR/db/LOCK); the command names
 * the process that holds it and stops, instead of waiting or failing with
 * RocksDB's own words. Nor does it create a store: a directory without one
 * is refused. With --config FILE the node's storage settings apply, above
 * all tombstone_retention_s, which decides which tombstones may go.
 */
#include "compact.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kv_err.h"
#include "kv_log.h"
#include "store.h"

static void compact_usage(void)
{
    printf("usage: edgekv compact --data-dir DIR [--config FILE]\n"
           "Compact the store of a stopped node now: expired records and tombstones past the\n"
           "retention window are dropped, and the store's sizes before and after are printed.\n"
           "  --data-dir DIR   the node's data directory (the node's --data); the store is DIR/db\n"
           "  --config FILE    the node's JSON configuration: its storage settings apply\n"
           "                   (tombstone_retention_s decides which tombstones may go)\n"
           "exit status: 0 compacted; 1 refused or failed (a running node holds the store, no\n"
           "store in DIR, a storage error); 2 bad arguments\n");
}

pid_t compact_lock_holder(const char *db)
{
    char path[NODE_PATH_MAX + 16];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd;
    snprintf(path, sizeof path, "%s/LOCK", db);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) != 0)
        fl.l_type = F_UNLCK;
    close(fd);
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

static void print_sizes(const stor_stats_t *a, const stor_stats_t *b)
{
    printf("  %-18s %14s %14s\n", "", "before", "after");
    printf("  %-18s %14llu %14llu\n", "sst bytes", (unsigned long long)a->live_sst_bytes,
           (unsigned long long)b->live_sst_bytes);
    printf("  %-18s %14llu %14llu\n", "blob bytes", (unsigned long long)a->blob_bytes,
           (unsigned long long)b->blob_bytes);
    printf("  %-18s %14llu %14llu\n", "memtable bytes", (unsigned long long)a->memtable_bytes,
           (unsigned long long)b->memtable_bytes);
    printf("  %-18s %14llu %14llu\n", "keys (estimate)", (unsigned long long)a->estimated_keys,
           (unsigned long long)b->estimated_keys);
}

/* Open, compact, report, close. The arguments are checked. */
static int compact_store(const char *dir, node_config_t *cfg)
{
    char db[NODE_PATH_MAX + 8], current[NODE_PATH_MAX + 16];
    struct stat st;
    struct timespec t0, t1;
    stor_stats_t before, after;
    stor_t *s = NULL;
    pid_t holder;
    int rc;

    if ((size_t)snprintf(db, sizeof db, "%s/db", dir) >= sizeof db) {
        fprintf(stderr, "edgekv compact: the path %s is too long\n", dir);
        return 2;
    }
    snprintf(current, sizeof current, "%s/CURRENT", db);
    if (stat(current, &st) != 0) {
        fprintf(stderr, "edgekv compact: no store in %s (%s is missing)\n", dir, current);
        return 1;
    }
    if ((holder = compact_lock_holder(db)) != 0) {
        fprintf(stderr,
                "edgekv compact: %s is in use by process %ld (a running node holds its lock); "
                "stop the node first\n",
                db, (long)holder);
        return 1;
    }
    cfg->storage.path = db;
    rc = stor_open(&cfg->storage, &s);
    cfg->storage.path = NULL;
    if (rc != 0) {
        fprintf(stderr, "edgekv compact: cannot open the store at %s: %s\n", db, kv_strerror(rc));
        return 1;
    }
    stor_get_stats(s, &before);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = stor_compact(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    stor_get_stats(s, &after);
    stor_close(s);
    if (rc != 0) {
        fprintf(stderr, "edgekv compact: compaction of %s failed: %s\n", db, kv_strerror(rc));
        return 1;
    }
    printf("edgekv compact: %s compacted in %.2f s\n", db,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    print_sizes(&before, &after);
    return 0;
}

int compact_main(int argc, char **argv)
{
    const char *dir = NULL, *config = NULL;
    char err[512];
    node_config_t cfg;
    int i, rc;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            compact_usage();
            return 0;
        }
        if ((strcmp(a, "--data-dir") == 0 || strcmp(a, "--data") == 0) && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "edgekv compact: unknown option or missing value: '%s' (see --help)\n",
                    a);
            return 2;
        }
    }
    if (!dir || !dir[0]) {
        fprintf(stderr, "edgekv compact: --data-dir DIR is required (see --help)\n");
        return 2;
    }
    node_config_defaults(&cfg, "origin");
    if (config && node_config_load_file(&cfg, config, err, sizeof err) != 0) {
        fprintf(stderr, "edgekv compact: %s\n", err);
        node_config_free(&cfg);
        return 2;
    }
    /* RocksDB's and the store's own messages: warnings and errors only. */
    kv_log_set_level(KV_LOG_WARN);
    rc = compact_store(dir, &cfg);
    node_config_free(&cfg);
    return rc;
}
