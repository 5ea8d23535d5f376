/* store_fx.c - see store_fx.h. */
#include "store_fx.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
