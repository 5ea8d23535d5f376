/*
 * restore.c - `edgekv restore --from DIR --data NEWDATADIR`: install a
 * backup (backup_cli.h) as a new data directory's store.
 *
 * Every file of DIR/db is checked against the manifest's size and SHA-256
 * first: one that differs stops the restore before anything is written. The
 * target must be empty (or absent): a restore never mixes into, nor
 * replaces, a store. The files are copied into NEWDATADIR/db.restoring,
 * verified again, made durable and renamed to NEWDATADIR/db, which is then
 * opened once to prove it is a store. An origin's backup also gets the
 * restore marker (node/replica/state.h STATE_NEW_HISTORY): that origin
 * starts a new history at its next start, exactly as --new-history, so
 * edges that followed the old one refuse it instead of resuming onto data
 * that went back in time. An edge's backup needs none: the origin's proof
 * of history (README, "How an edge resumes") decides how it resumes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backup_cli.h"
#include "config.h"
#include "kv_err.h"
#include "kv_log.h"
#include "state.h"

#define RESTORE_DB_TMP "db.restoring"

static void usage(void)
{
    printf("usage: edgekv restore --from DIR --data NEWDATADIR\n"
           "Install a backup made by `edgekv backup` as the store of a new data directory.\n"
           "  --from DIR          the backup directory (DIR/manifest.json, DIR/db/)\n"
           "  --data NEWDATADIR   the new node's data directory: absent or empty\n"
           "Every file is verified against the manifest's SHA-256 before and after the copy.\n"
           "An origin's backup starts a new history at that origin's next start, whose\n"
           "parent is the backup's history: edges that followed that history take a\n"
           "snapshot of the new one by themselves.\n"
           "exit status: 0 restored; 1 refused or failed (a file that does not verify, a\n"
           "non-empty target); 2 bad arguments\n");
}

/* Absent, or an empty directory. */
static bool empty_target(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    if (!d)
        return errno == ENOENT;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* Every file of dir/db against d; the ones that differ are named. */
static int verify_all(const char *dir, const backup_desc_t *d)
{
    int bad = 0;
    for (size_t i = 0; i < d->nfiles; i++) {
        char p[NODE_PATH_MAX + 160], hex[BACKUP_SHA256_HEX + 1];
        uint64_t size = 0;
        const backup_file_t *f = &d->files[i];
        snprintf(p, sizeof p, "%s/%s/%s", dir, BKCLI_DB, f->name);
        int rc = backup_sha256_file(p, &size, hex);
        if (rc != 0) {
            fprintf(stderr, "edgekv restore: %s: %s\n", p, kv_strerror(rc));
            bad++;
        } else if (size != f->size || strcmp(hex, f->sha256) != 0) {
            fprintf(stderr,
                    "edgekv restore: %s does not verify: %llu bytes, SHA-256 %s; the manifest "
                    "says %llu bytes, %s\n",
                    p, (unsigned long long)size, hex, (unsigned long long)f->size, f->sha256);
            bad++;
        }
    }
    return bad ? -1 : 0;
}

typedef struct {
    bkcli_src_t src; /* first */
    const char *dir; /* the backup's db/ */
} file_src_t;

static int file_read(bkcli_src_t *src, const char *name, uint64_t offset, size_t len, uint8_t *buf,
                     char *err, size_t cap)
{
    file_src_t *s = (file_src_t *)src;
    char p[NODE_PATH_MAX + 160];
    snprintf(p, sizeof p, "%s/%s", s->dir, name);
    FILE *f = fopen(p, "rb");
    size_t got = 0;
    if (f && fseeko(f, (off_t)offset, SEEK_SET) == 0)
        got = fread(buf, 1, len, f);
    if (f)
        fclose(f);
    if (got != len) {
        snprintf(err, cap, "reading %s: %s", p,
                 f ? "shorter than the manifest says" : strerror(errno));
        return -1;
    }
    return 0;
}

/* Open the installed store once; an origin's gets the restore marker. */
static int open_installed(const char *db, const backup_desc_t *d)
{
    stor_options_t o;
    stor_t *s = NULL;
    int rc;
    stor_options_default(&o);
    o.path = db;
    if ((rc = stor_open(&o, &s)) != 0) {
        fprintf(stderr, "edgekv restore: %s does not open as a store: %s\n", db, kv_strerror(rc));
        return -1;
    }
    if (strcmp(d->role, "origin") == 0 && (rc = state_new_history_mark(s)) != 0)
        fprintf(stderr, "edgekv restore: cannot mark %s for a new history: %s\n", db,
                kv_strerror(rc));
    stor_close(s);
    return rc == 0 ? 0 : -1;
}

static int restore(const char *from, const char *data)
{
    char db[NODE_PATH_MAX + 8], src_db[NODE_PATH_MAX + 8], size[32];
    char when[32] = "";
    backup_desc_t d;
    bkcli_stats_t st;
    struct tm tm;
    time_t t;
    if (bkcli_read_manifest(from, &d, "restore") != 0)
        return 1;
    if (verify_all(from, &d) != 0) {
        fprintf(stderr,
                "edgekv restore: %s is damaged or incomplete: nothing restored (run "
                "`edgekv backup` into it again to repair it)\n",
                from);
        backup_desc_free(&d);
        return 1;
    }
    if (!empty_target(data)) {
        fprintf(stderr,
                "edgekv restore: %s is not empty: a restore never replaces or mixes "
                "into a store; give a new or empty directory\n",
                data);
        backup_desc_free(&d);
        return 1;
    }
    snprintf(db, sizeof db, "%s/db", data);
    snprintf(src_db, sizeof src_db, "%s/%s", from, BKCLI_DB);
    file_src_t fs = {.src = {.read = file_read, .chunk_bytes = KV_BACKUP_CHUNK_MAX_BYTES},
                     .dir = src_db};
    /* Staged in DATA/db.restoring/db (bkcli_sync's layout), then renamed. */
    char stage[NODE_PATH_MAX + 48];
    snprintf(stage, sizeof stage, "%s/%s", data, RESTORE_DB_TMP);
    int rc = bkcli_mkdirs(data) == 0 && bkcli_sync(stage, &d, &fs.src, &st) == 0 ? 0 : -1;
    if (rc == 0) {
        char staged_db[NODE_PATH_MAX + 64];
        snprintf(staged_db, sizeof staged_db, "%s/%s", stage, BKCLI_DB);
        if (rename(staged_db, db) != 0) {
            fprintf(stderr, "edgekv restore: rename %s: %s\n", staged_db, strerror(errno));
            rc = -1;
        } else {
            rmdir(stage);
            bkcli_sync_dir(data);
        }
    }
    if (rc == 0)
        rc = open_installed(db, &d);
    if (rc != 0) {
        fprintf(stderr, "edgekv restore: failed; remove %s before trying again\n", data);
        backup_desc_free(&d);
        return 1;
    }
    t = (time_t)d.created_s;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    bkcli_size_text(d.bytes, size, sizeof size);
    printf("edgekv restore: backup %s of %s node %08x (history %s, seq %llu, taken %s by edgekv "
           "%s)\n  installed as %s: %zu files, %s, every SHA-256 verified\n",
           d.id, d.role, d.node_id, d.history_id[0] ? d.history_id : "none",
           (unsigned long long)d.seq, when, d.version, db, d.nfiles, size);
    if (strcmp(d.role, "origin") == 0)
        printf("  an origin's backup: it starts a new history at its next start, its parent %s;\n"
               "  edges that followed that history take a snapshot of the new one\n",
               d.history_id[0] ? d.history_id : "none");
    else
        printf("  an edge's backup: start it with its certificates; the origin resumes it from "
               "its log\n  if its position is on the origin's history, else sends a snapshot\n");
    backup_desc_free(&d);
    return 0;
}

int restore_main(int argc, char **argv)
{
    const char *from = NULL, *data = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (strcmp(a, "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if ((strcmp(a, "--data") == 0 || strcmp(a, "--data-dir") == 0) && i + 1 < argc) {
            data = argv[++i];
        } else {
            fprintf(stderr, "edgekv restore: unknown option or missing value: '%s' (see --help)\n",
                    a);
            return 2;
        }
    }
    if (!from || !from[0] || !data || !data[0]) {
        fprintf(stderr, "edgekv restore: --from DIR and --data NEWDATADIR are required (see "
                        "--help)\n");
        return 2;
    }
    kv_log_set_level(KV_LOG_WARN);
    return restore(from, data);
}
