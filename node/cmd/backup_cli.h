/*
 * backup_cli.h - `edgekv backup` and `edgekv restore` (backup_cli.c,
 * backup_sync.c, restore.c), over the checkpoints of node/api/backup.h.
 *
 * A backup directory holds manifest.json (backup_desc_json: node, role,
 * history, seq, time, version, every file with its size and SHA-256) and
 * db/, the checkpoint's files. `edgekv backup` fills it from a live node
 * over HTTP (operator token) or from a stopped node's data directory;
 * `edgekv restore` verifies it and installs db/ as a new data directory's
 * store.
 */
#ifndef NODE_BACKUP_CLI_H
#define NODE_BACKUP_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "backup.h"

/* argv[0] is the first option after the command. Exit status: 0 done;
 * 1 refused or failed (verification, a running node's lock, an API
 * error); 2 bad arguments; 4 authentication refused; 5 node unreachable. */
int backup_main(int argc, char **argv);
int restore_main(int argc, char **argv);

/* ---- shared by the commands (backup_sync.c) ------------------------------------- */

#define BKCLI_MANIFEST "manifest.json"
#define BKCLI_DB       "db"
#define BKCLI_PART     ".part"

/* Where the bytes of a checkpoint's files come from: the node over HTTP,
 * or a local checkpoint directory. read fills buf[0..len) from offset of
 * file `name`; 0, or a negative code with err set. */
typedef struct bkcli_src {
    int (*read)(struct bkcli_src *s, const char *name, uint64_t offset, size_t len, uint8_t *buf,
                char *err, size_t err_cap);
    size_t chunk_bytes; /* the largest read asked of it */
} bkcli_src_t;

typedef struct {
    size_t fetched, kept; /* files transferred, files already complete */
    size_t continued;     /* of the fetched: continued from an interrupted run's NAME.part */
    uint64_t fetched_bytes, kept_bytes;
    size_t removed; /* stale files removed from DIR/db */
} bkcli_stats_t;

/* Make out/db hold exactly the files of d, each verified against its size
 * and SHA-256: a file already there whole and verified is kept; a
 * NAME.part left by an interrupted run is continued from its length (and
 * fetched again from the start if the result does not verify); files d
 * does not list are removed. 0, or -1 with the reason printed. */
int bkcli_sync(const char *out, const backup_desc_t *d, bkcli_src_t *src, bkcli_stats_t *st);

/* Write out/manifest.json (a temporary file renamed into place). 0 or -1
 * (printed). */
int bkcli_write_manifest(const char *out, const backup_desc_t *d);

/* Read and check dir/manifest.json into *d. 0 or -1 (printed). */
int bkcli_read_manifest(const char *dir, backup_desc_t *d, const char *who);

/* mkdir -p with mode 0700 for what it creates. 0 or -errno. */
int bkcli_mkdirs(const char *path);

/* fsync a directory (its entries). */
void bkcli_sync_dir(const char *dir);

/* A size for people: "5.2 MiB". */
void bkcli_size_text(uint64_t n, char *buf, size_t cap);

#endif
