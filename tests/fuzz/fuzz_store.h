/*
 * fuzz_store.h - the temporary store a harness runs against: opened once
 * per fuzzing process in a fresh directory (no fsync, small buffers) and
 * removed at exit. Shared by fuzz_list.c, fuzz_params.c and fuzz_node.h.
 * Not for tests that need durability or a particular layout.
 */
#ifndef EDGEKV_FUZZ_STORE_H
#define EDGEKV_FUZZ_STORE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "store.h"

/* Make the directory `dir` (a mkdtemp template, rewritten in place) and
 * open a store there with `buffer_bytes` of block cache and memtable. */
static inline stor_t *fz_store_open(char *dir, size_t buffer_bytes)
{
    stor_options_t o;
    stor_t *s;
    FZ_CHECK(mkdtemp(dir) != NULL);
    stor_options_default(&o);
    o.path = dir;
    o.sync = STOR_SYNC_OFF;
    o.block_cache_bytes = buffer_bytes;
    o.write_buffer_bytes = buffer_bytes;
    FZ_CHECK(stor_open(&o, &s) == 0);
    return s;
}

static inline int fz__rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* Close the store and remove its directory. */
static inline void fz_store_remove(stor_t *s, const char *dir)
{
    stor_close(s);
    nftw(dir, fz__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
