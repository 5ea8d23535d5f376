/* store_fx.c - see store_fx.h. */
#include "store_fx.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv_err.h"
#include "kv_mem.h"

/* Open descriptors nftw may hold while it walks. */
#define STORE_FX_WALK_FDS 16

/* Small enough that a test's store costs little, large enough for its data. */
#define STORE_FX_BLOCK_CACHE_BYTES  (8u << 20)
#define STORE_FX_WRITE_BUFFER_BYTES (4u << 20)

int store_fx_mkdir(char *dir, const char *stem)
{
    int n = snprintf(dir, STORE_FX_DIR_CAP, "/tmp/edgekv-test-%s-XXXXXX", stem);
    if (n < 0 || n >= STORE_FX_DIR_CAP) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(dir) ? 0 : -1;
}

void store_fx_options(stor_options_t *o, const char *path)
{
    stor_options_default(o);
    o->path = path;
    o->sync = STOR_SYNC_OFF;
    o->block_cache_bytes = STORE_FX_BLOCK_CACHE_BYTES;
    o->write_buffer_bytes = STORE_FX_WRITE_BUFFER_BYTES;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void store_fx_rmtree(const char *dir)
{
    nftw(dir, rm_entry, STORE_FX_WALK_FDS, FTW_DEPTH | FTW_PHYS);
}

const char *store_fx_value(stor_t *s, const char *ns, const char *key, char *buf, size_t cap)
{
    stor_blob_t *b = NULL;
    int rc = stor_get(s, ns, key, strlen(key), &b);
    if (rc != 0) {
        snprintf(buf, cap, "<error %d>", rc);
        return buf;
    }
    if (!b)
        return "";
    stor_record_t r;
    stor_blob_record(b, &r);
    if (r.tombstone)
        snprintf(buf, cap, "<del>");
    else
        snprintf(buf, cap, "%.*s", (int)r.value_len, (const char *)r.value);
    stor_blob_unref(b);
    return buf;
}

const char *store_fx_state(stor_t *s, const char *name, char *buf, size_t cap)
{
    char *v = NULL;
    int rc = stor_state_get(s, name, &v, NULL);
    if (rc == KV_ENOTFOUND)
        return "<none>";
    if (rc != 0) {
        snprintf(buf, cap, "<error %d>", rc);
        return buf;
    }
    snprintf(buf, cap, "%s", v);
    kv_free(v);
    return buf;
}

int store_fx_open(char *dir, const char *stem, stor_options_t *o, stor_t **s)
{
    if (store_fx_mkdir(dir, stem) != 0)
        return -1;
    store_fx_options(o, dir);
    return stor_open(o, s) == 0 ? 0 : -1;
}

void store_fx_close(stor_t *s, const char *dir)
{
    stor_close(s);
    store_fx_rmtree(dir);
}
