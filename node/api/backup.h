/*
 * backup.h - consistent checkpoints of a node's store, described for a
 * backup: the operator endpoints that make, list, serve and delete them on
 * a live node (backup.c), and the making and describing that `edgekv
 * backup` and `edgekv restore` share with them (backup_ckpt.c).
 *
 * A checkpoint (stor_checkpoint) lives in a private directory under the
 * node's data directory, DATA/backups/<id> (mode 0700), on the store's file
 * system so its SST and blob files are hard links. Its description - the
 * backup's manifest - names the node, its role, the history and sequence
 * its data holds (read from the checkpoint itself, so they say exactly
 * what it contains), the time, the edgekv version, and every file with its
 * size and SHA-256.
 *
 * Endpoints (operator token, as /status and /digest; errors in the REST
 * envelope):
 *   POST   /backup                      make a checkpoint: 200 + its manifest
 *   GET    /backup/<id>                 its manifest again
 *   GET    /backup/<id>/files/<name>?offset=O&length=L
 *                                       L bytes of a file from O (at most
 *                                       KV_BACKUP_CHUNK_MAX_BYTES)
 *   DELETE /backup/<id>                 delete it
 * Making, reading and deleting run on the threadpool, never on an HTTP
 * loop. At most KV_BACKUP_CHECKPOINTS_MAX checkpoints live at once and
 * KV_BACKUP_READS_MAX chunk reads run at once (429 beyond); a checkpoint
 * idle for KV_BACKUP_IDLE_TTL_S is deleted; directories left by an earlier
 * process are deleted when the next checkpoint is made.
 *
 * What it is not: a transfer protocol with state on the server. Resuming
 * is the client's business (it skips files it already holds whole).
 */
#ifndef NODE_BACKUP_H
#define NODE_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "kv_limits.h"
#include "store.h"

#define BACKUP_MANIFEST_FORMAT 1
#define BACKUP_ID_HEX          16
#define BACKUP_SHA256_HEX      64
#define BACKUP_HISTORY_HEX     32
/* DATA/<this>: where a node keeps its checkpoints. */
#define BACKUP_AREA_NAME "backups"

typedef struct {
    char name[KV_BACKUP_NAME_MAX_BYTES + 1];
    uint64_t size;
    char sha256[BACKUP_SHA256_HEX + 1];
} backup_file_t;

/* A checkpoint's manifest. files is kv_malloc'd (backup_desc_free). */
typedef struct {
    char id[BACKUP_ID_HEX + 1];
    char role[8]; /* "origin" | "edge" */
    uint32_t node_id;
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1]; /* "" unknown */
    char history_id[BACKUP_HISTORY_HEX + 1];   /* "" none yet */
    uint64_t seq;                              /* origin: last committed; edge: last applied */
    int64_t created_s;                         /* wall clock, seconds since the epoch */
    char version[32];                          /* edgekv version that made it */
    backup_file_t *files;
    size_t nfiles;
    uint64_t bytes; /* sum of the sizes */
} backup_desc_t;

/* Make a checkpoint of s at dir (which must not exist; its parent must) and
 * describe it into *out. role NULL: told from the checkpoint's content (a
 * log or known edges: an origin; data without a log: an edge; an empty
 * store: an origin). node_id 0 and account NULL: the stored identity's.
 * Blocks (flush, links, hashing every file): never on an event loop. 0, or
 * a negative code with nothing left at dir. */
int backup_make(stor_t *s, const char *dir, const char *role, uint32_t node_id, const char *account,
                backup_desc_t *out);
void backup_desc_free(backup_desc_t *d);

/* The manifest as JSON (a new reference; NULL without memory). */
json_t *backup_desc_json(const backup_desc_t *d);
/* Read a manifest (from backup_desc_json's form): every field checked,
 * file names plain (no '/', not "." or ".."). 0, or -1 with err set. */
int backup_desc_parse(const json_t *j, backup_desc_t *out, char *err, size_t err_cap);

/* Size and SHA-256 (lowercase hex) of the file at path. 0 or -errno. */
int backup_sha256_file(const char *path, uint64_t *size, char hex[BACKUP_SHA256_HEX + 1]);
/* Remove dir and the plain files in it (a checkpoint is flat). 0 or -errno
 * (ENOENT: 0). */
int backup_remove_dir(const char *dir);
/* True for a name a checkpoint file may have: 1..KV_BACKUP_NAME_MAX_BYTES
 * bytes of letters, digits, '.', '-' and '_', not "." or "..". */
bool backup_name_ok(const char *name, size_t len);

/* The operator endpoints above: true when req was one of them (answered,
 * now or later), false when the path is not /backup or under it. On the
 * request's loop. */
bool backup_handle(node_app_t *app, http_req_t *req);

#endif
