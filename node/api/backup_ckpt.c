/*
 * backup_ckpt.c - making a checkpoint and describing it (backup.h): the
 * checkpoint itself (stor_checkpoint), the facts its data holds (read from
 * the checkpoint opened read-only, so the manifest says what it contains,
 * not what the live store held a moment later), and every file's size and
 * SHA-256. Shared by the node's endpoints (backup.c) and the commands
 * (node/cmd/backup_cli.c). Nothing here runs on an event loop.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgekv_version.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "state.h"

#define BACKUP_LOG "backup"
/* Read size while hashing a file. */
#define BACKUP_HASH_BUF_BYTES (256u * 1024u)
/* The block cache of the read-only open that reads the facts: a few reads. */
#define BACKUP_DESCRIBE_CACHE_BYTES (1u << 20)

bool backup_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > KV_BACKUP_NAME_MAX_BYTES || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

int backup_sha256_file(const char *path, uint64_t *size, char hex[BACKUP_SHA256_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    uint8_t *buf = kv_malloc(BACKUP_HASH_BUF_BYTES);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!buf || !c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        rc = -ENOMEM;
    while (rc == 0) {
        ssize_t n = read(fd, buf, BACKUP_HASH_BUF_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        else if (n == 0)
            break;
        else if (EVP_DigestUpdate(c, buf, (size_t)n) != 1)
            rc = -ENOMEM;
        total += n > 0 ? (uint64_t)n : 0;
    }
    if (rc == 0 && EVP_DigestFinal_ex(c, md, &mdlen) != 1)
        rc = -ENOMEM;
    for (unsigned i = 0; rc == 0 && i < mdlen && 2 * i < BACKUP_SHA256_HEX; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
    kv_free(buf);
    close(fd);
    if (rc == 0)
        *size = total;
    return rc;
}

int backup_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096 + KV_BACKUP_NAME_MAX_BYTES + 300];
    int rc = 0;
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT)
            rc = -errno;
    }
    closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const backup_file_t *)a)->name, ((const backup_file_t *)b)->name);
}

/* Every file of the checkpoint at dir, with size and SHA-256, in name
 * order. RocksDB's info logs (LOG*) are left out: text, not data. */
static int describe_files(const char *dir, backup_desc_t *d)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;
    if (!dh)
        return -errno;
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        char p[4096 + KV_BACKUP_NAME_MAX_BYTES + 300];
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || strncmp(e->d_name, "LOG", 3) == 0)
            continue;
        if (!backup_name_ok(e->d_name, len)) {
            KV_LOG_ERROR(BACKUP_LOG, "%s: unexpected file name '%s'", dir, e->d_name);
            rc = KV_ECORRUPT;
            break;
        }
        if (d->nfiles == KV_BACKUP_FILES_MAX) {
            rc = KV_ELIMIT;
            break;
        }
        if (d->nfiles == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            backup_file_t *nf = kv_realloc(d->files, ncap * sizeof *nf);
            if (!nf) {
                rc = -ENOMEM;
                break;
            }
            d->files = nf;
            cap = ncap;
        }
        backup_file_t *f = &d->files[d->nfiles];
        memcpy(f->name, e->d_name, len + 1);
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if ((rc = backup_sha256_file(p, &f->size, f->sha256)) == 0) {
            d->bytes += f->size;
            d->nfiles++;
        }
    }
    closedir(dh);
    if (rc == 0 && d->nfiles)
        qsort(d->files, d->nfiles, sizeof *d->files, name_cmp);
    return rc;
}

/* What the checkpoint's data holds: identity, position, and its role when
 * the caller did not say (see backup_make). */
static int describe_state(const char *dir, const char *role, backup_desc_t *d)
{
    stor_options_t o;
    stor_t *s = NULL;
    state_identity_t id;
    state_position_t pos;
    state_edge_t *edges = NULL;
    size_t nedges = 0;
    uint64_t first = 0, last = 0;
    int rc;
    stor_options_default(&o);
    o.path = dir;
    o.read_only = true;
    o.block_cache_bytes = BACKUP_DESCRIBE_CACHE_BYTES;
    if ((rc = stor_open(&o, &s)) != 0)
        return rc;
    if ((rc = state_identity_get(s, &id)) == KV_ENOTFOUND)
        rc = 0;
    if (rc == 0 && (rc = state_position_get(s, &pos)) == KV_ENOTFOUND)
        rc = 0;
    if (rc == 0 && !role && (rc = stor_log_bounds(s, &first, &last)) == 0)
        rc = state_edges_get(s, &edges, &nedges);
    if (rc == 0) {
        if (!d->node_id)
            d->node_id = id.node_id;
        if (!d->account[0])
            snprintf(d->account, sizeof d->account, "%s", id.account_id);
        snprintf(d->history_id, sizeof d->history_id, "%s", pos.history_id);
        d->seq = pos.seq;
        if (!role) /* only an origin writes a log; an edge always holds some data */
            role = last || nedges || !pos.seq ? "origin" : "edge";
        snprintf(d->role, sizeof d->role, "%s", role);
    }
    kv_free(edges);
    stor_close(s);
    return rc;
}

int backup_make(stor_t *s, const char *dir, const char *role, uint32_t node_id, const char *account,
                backup_desc_t *out)
{
    const char *base = strrchr(dir, '/');
    int rc;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", base ? base + 1 : dir);
    out->node_id = node_id;
    snprintf(out->account, sizeof out->account, "%s", account ? account : "");
    snprintf(out->version, sizeof out->version, "%s", EDGEKV_VERSION);
    out->created_s = (int64_t)time(NULL);
    if ((rc = stor_checkpoint(s, dir)) != 0)
        return rc;
    if ((rc = describe_state(dir, role, out)) == 0)
        rc = describe_files(dir, out);
    if (rc != 0) {
        KV_LOG_ERROR(BACKUP_LOG, "describing the checkpoint %s: %s", dir, kv_strerror(rc));
        backup_desc_free(out);
        backup_remove_dir(dir);
    }
    return rc;
}

void backup_desc_free(backup_desc_t *d)
{
    kv_free(d->files);
    d->files = NULL;
    d->nfiles = 0;
}

/* ---- the manifest as JSON -------------------------------------------------------- */

json_t *backup_desc_json(const backup_desc_t *d)
{
    char utc[32] = "";
    struct tm tm;
    time_t t = (time_t)d->created_s;
    json_t *files = json_array();
    if (gmtime_r(&t, &tm))
        strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (size_t i = 0; files && i < d->nfiles; i++) {
        const backup_file_t *f = &d->files[i];
        if (json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", f->name, "size",
                                                   (json_int_t)f->size, "sha256", f->sha256)) !=
            0) {
            json_decref(files);
            return NULL;
        }
    }
    if (!files)
        return NULL;
    return json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:o}", "format",
                     BACKUP_MANIFEST_FORMAT, "id", d->id, "node_id", (json_int_t)d->node_id, "role",
                     d->role, "account", d->account, "history_id", d->history_id, "seq",
                     (json_int_t)d->seq, "created", (json_int_t)d->created_s, "created_utc", utc,
                     "version", d->version, "bytes", (json_int_t)d->bytes, "files", files);
}

/* A string field into buf (cap bytes with the NUL); -1 when absent, not a
 * string or too long. */
static int str_field(const json_t *j, const char *key, char *buf, size_t cap)
{
    const json_t *v = json_object_get(j, key);
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int uint_field(const json_t *j, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static bool hex_ok(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int parse_files(const json_t *arr, backup_desc_t *d, char *err, size_t cap)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > KV_BACKUP_FILES_MAX) {
        snprintf(err, cap, "'files' is not a list of at most %u files", KV_BACKUP_FILES_MAX);
        return -1;
    }
    if (n && !(d->files = kv_calloc(n, sizeof *d->files))) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(arr, i);
        backup_file_t *o = &d->files[i];
        if (str_field(f, "name", o->name, sizeof o->name) != 0 ||
            !backup_name_ok(o->name, strlen(o->name)) ||
            uint_field(f, "size", INT64_MAX, &o->size) != 0 ||
            str_field(f, "sha256", o->sha256, sizeof o->sha256) != 0 ||
            !hex_ok(o->sha256, BACKUP_SHA256_HEX) ||
            (i && strcmp(d->files[i - 1].name, o->name) >= 0)) {
            snprintf(err, cap,
                     "file %zu: a name (sorted, unique, no path), a size and a sha256 "
                     "are required",
                     i);
            return -1;
        }
        d->bytes += o->size;
        d->nfiles++;
    }
    return 0;
}

int backup_desc_parse(const json_t *j, backup_desc_t *out, char *err, size_t err_cap)
{
    uint64_t format = 0, node_id = 0, created = 0;
    memset(out, 0, sizeof *out);
    if (!json_is_object(j) || uint_field(j, "format", UINT32_MAX, &format) != 0) {
        snprintf(err, err_cap, "not a backup manifest (no 'format')");
        return -1;
    }
    if (format != BACKUP_MANIFEST_FORMAT) {
        snprintf(err, err_cap, "manifest format %llu is not one this edgekv reads (%d)",
                 (unsigned long long)format, BACKUP_MANIFEST_FORMAT);
        return -1;
    }
    if (str_field(j, "id", out->id, sizeof out->id) != 0 ||
        str_field(j, "role", out->role, sizeof out->role) != 0 ||
        (strcmp(out->role, "origin") != 0 && strcmp(out->role, "edge") != 0 &&
         strcmp(out->role, "relay") != 0) ||
        uint_field(j, "node_id", UINT32_MAX, &node_id) != 0 ||
        str_field(j, "account", out->account, sizeof out->account) != 0 ||
        str_field(j, "history_id", out->history_id, sizeof out->history_id) != 0 ||
        (out->history_id[0] && !hex_ok(out->history_id, BACKUP_HISTORY_HEX)) ||
        uint_field(j, "seq", INT64_MAX, &out->seq) != 0 ||
        uint_field(j, "created", INT64_MAX, &created) != 0 ||
        str_field(j, "version", out->version, sizeof out->version) != 0) {
        snprintf(err, err_cap,
                 "the manifest lacks a field or has a bad one (id, role, node_id, "
                 "account, history_id, seq, created, version)");
        return -1;
    }
    out->node_id = (uint32_t)node_id;
    out->created_s = (int64_t)created;
    if (parse_files(json_object_get(j, "files"), out, err, err_cap) != 0) {
        backup_desc_free(out);
        return -1;
    }
    return 0;
}
