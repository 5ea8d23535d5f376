/*
 * backup_sync.c - what `edgekv backup` and `edgekv restore` share: filling
 * a backup directory with a checkpoint's files, each verified, resuming
 * what an earlier run left; the manifest in and out (backup_cli.h).
 *
 * Resuming needs no state of its own: a file whose size and SHA-256 match
 * the manifest is complete (RocksDB never rewrites a file under the same
 * name: SST and blob files are immutable, and the others are small), and
 * a NAME.part holds the first bytes of one being fetched.
 */
#include "backup_cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_err.h"
#include "kv_mem.h"

/* A backup directory or its db/ (longer ones are refused), and a path in it. */
#define BKCLI_DIR_MAX  (4096 + 16)
#define BKCLI_PATH_MAX (BKCLI_DIR_MAX + 300)

void bkcli_size_text(uint64_t n, char *buf, size_t cap)
{
    if (n < 1024)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else if (n < 1024u * 1024u)
        snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
    else if (n < 1024ull * 1024u * 1024u)
        snprintf(buf, cap, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, cap, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

int bkcli_mkdirs(const char *path)
{
    char p[BKCLI_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p)
        return KV_EINVAL;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -errno;
        p[i] = c;
    }
    return 0;
}

void bkcli_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static bool listed(const backup_desc_t *d, const char *name)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i].name, name) == 0)
            return true;
    return false;
}

/* Is the file at path exactly f? */
static bool verified(const char *path, const backup_file_t *f)
{
    struct stat st;
    uint64_t size;
    char hex[BACKUP_SHA256_HEX + 1];
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)
        return false;
    return backup_sha256_file(path, &size, hex) == 0 && size == f->size &&
           strcmp(hex, f->sha256) == 0;
}

/* Append f's bytes from `from` to the end into the open part file. */
static int fetch_into(int fd, const backup_file_t *f, uint64_t from, bkcli_src_t *src, uint8_t *buf)
{
    char err[512] = "";
    for (uint64_t off = from; off < f->size;) {
        size_t len = (size_t)(f->size - off < src->chunk_bytes ? f->size - off : src->chunk_bytes);
        if (src->read(src, f->name, off, len, buf, err, sizeof err) != 0) {
            fprintf(stderr, "edgekv backup: %s: %s\n", f->name, err);
            return -1;
        }
        for (size_t w = 0; w < len;) {
            ssize_t n = pwrite(fd, buf + w, len - w, (off_t)(off + w));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                fprintf(stderr, "edgekv backup: writing %s: %s\n", f->name, strerror(errno));
                return -1;
            }
            w += (size_t)n;
        }
        off += len;
    }
    if (fsync(fd) != 0) {
        fprintf(stderr, "edgekv backup: fsync %s: %s\n", f->name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Fetch one file into db/NAME.part (continuing it), verify, rename. */
static int fetch_file(const char *db, const backup_file_t *f, bkcli_src_t *src, uint8_t *buf,
                      bool *continued)
{
    char part[BKCLI_PATH_MAX], path[BKCLI_PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", db, f->name);
    snprintf(part, sizeof part, "%s/%s%s", db, f->name, BKCLI_PART);
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t from = 0;
        int fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "edgekv backup: cannot create %s: %s\n", part, strerror(errno));
            return -1;
        }
        if (attempt == 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size <= f->size)
            from = (uint64_t)st.st_size; /* an interrupted run's first bytes */
        if (from == 0 && ftruncate(fd, 0) != 0) {
            fprintf(stderr, "edgekv backup: truncating %s: %s\n", part, strerror(errno));
            close(fd);
            return -1;
        }
        int rc = fetch_into(fd, f, from, src, buf);
        close(fd);
        if (rc != 0)
            return -1;
        if (verified(part, f)) {
            *continued = from > 0;
            if (rename(part, path) != 0) {
                fprintf(stderr, "edgekv backup: rename %s: %s\n", part, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (from == 0)
            break; /* fetched whole and still wrong */
        /* The kept bytes were not this file's: once more from the start. */
    }
    unlink(part);
    fprintf(stderr,
            "edgekv backup: %s does not verify: its SHA-256 differs from the node's listing "
            "(%s); nothing kept\n",
            f->name, f->sha256);
    return -1;
}

/* Remove what d does not list (an older run's WAL, a stray part). */
static size_t remove_stale(const char *db, const backup_desc_t *d)
{
    DIR *dh = opendir(db);
    struct dirent *e;
    size_t n = 0;
    if (!dh)
        return 0;
    while ((e = readdir(dh)) != NULL) {
        char p[BKCLI_PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || listed(d, e->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", db, e->d_name);
        if (unlink(p) == 0)
            n++;
    }
    closedir(dh);
    return n;
}

int bkcli_sync(const char *out, const backup_desc_t *d, bkcli_src_t *src, bkcli_stats_t *st)
{
    char db[BKCLI_DIR_MAX];
    uint8_t *buf;
    int rc;
    memset(st, 0, sizeof *st);
    if (strlen(out) + sizeof BKCLI_DB + 1 > sizeof db) {
        fprintf(stderr, "edgekv backup: the path %s is too long\n", out);
        return -1;
    }
    snprintf(db, sizeof db, "%s/%s", out, BKCLI_DB);
    if ((rc = bkcli_mkdirs(db)) != 0) {
        fprintf(stderr, "edgekv backup: cannot create %s: %s\n", db, kv_strerror(rc));
        return -1;
    }
    if (!(buf = kv_malloc(src->chunk_bytes))) {
        fprintf(stderr, "edgekv backup: out of memory\n");
        return -1;
    }
    rc = 0;
    for (size_t i = 0; rc == 0 && i < d->nfiles; i++) {
        const backup_file_t *f = &d->files[i];
        char path[BKCLI_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", db, f->name);
        if (verified(path, f)) {
            st->kept++;
            st->kept_bytes += f->size;
            continue;
        }
        bool continued = false;
        if ((rc = fetch_file(db, f, src, buf, &continued)) == 0) {
            st->continued += continued;
            st->fetched++;
            st->fetched_bytes += f->size;
        }
    }
    kv_free(buf);
    if (rc != 0)
        return -1;
    st->removed = remove_stale(db, d);
    bkcli_sync_dir(db);
    return 0;
}

int bkcli_write_manifest(const char *out, const backup_desc_t *d)
{
    char path[BKCLI_PATH_MAX], tmp[BKCLI_PATH_MAX + 8];
    json_t *j = backup_desc_json(d);
    int rc = -1;
    snprintf(path, sizeof path, "%s/%s", out, BKCLI_MANIFEST);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (j && json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        rc = rename(tmp, path) == 0 ? 0 : -1;
    }
    json_decref(j);
    if (rc != 0)
        fprintf(stderr, "edgekv backup: cannot write %s: %s\n", path, strerror(errno));
    else
        bkcli_sync_dir(out);
    return rc;
}

int bkcli_read_manifest(const char *dir, backup_desc_t *d, const char *who)
{
    char path[BKCLI_PATH_MAX], err[256];
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s", dir, BKCLI_MANIFEST);
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        fprintf(stderr, "edgekv %s: cannot read %s: %s\n", who, path, je.text);
        return -1;
    }
    int rc = backup_desc_parse(j, d, err, sizeof err);
    json_decref(j);
    if (rc != 0)
        fprintf(stderr, "edgekv %s: %s: %s\n", who, path, err);
    return rc;
}
