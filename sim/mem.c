/*
 * mem.c - size-class free lists behind kv_mem (see mem.h).
 *
 * Every block has a 16-byte header (so user pointers keep malloc's 16-byte
 * alignment) that says its class: 1..SMALL_CLASSES for a small block of
 * class * 16 bytes, 0 for a big one from libc (the header then also holds
 * its size, for realloc).
 */
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_mem.h"

/* SMALL_MAX: protobuf-c messages, strings, frame views, and the decode
 * arenas and reader buffers of batch frames (values of a few hundred bytes;
 * with 1024 those went to libc: _int_malloc 2.3 % of world300_push). */
#define ALIGN         16u                 /* malloc's alignment on x86-64 and arm64 */
#define SMALL_MAX     8192u               /* see above */
#define SMALL_CLASSES (SMALL_MAX / ALIGN) /* one free list per 16 bytes of size */
#define SLAB_BYTES    (256u * 1024u)      /* carved into small blocks, never freed */
_Static_assert(SLAB_BYTES >= 16 * (SMALL_MAX + ALIGN), "a slab holds a few of the largest");

typedef struct {
    uint64_t cls;  /* 0: big (libc), else the small class */
    uint64_t size; /* big: bytes asked for */
} hdr_t;
_Static_assert(sizeof(hdr_t) == ALIGN, "the header keeps user pointers aligned");

typedef struct free_blk {
    struct free_blk *next;
} free_blk_t;

/* One process-wide pool: the simulator is single-threaded. */
static struct {
    free_blk_t *free[SMALL_CLASSES + 1];
    uint8_t *slab, *slab_end;
} pool;

static void *carve(size_t bytes)
{
    if ((size_t)(pool.slab_end - pool.slab) < bytes) {
        pool.slab = malloc(SLAB_BYTES);
        if (!pool.slab)
            return NULL;
        pool.slab_end = pool.slab + SLAB_BYTES;
    }
    void *p = pool.slab;
    pool.slab += bytes;
    return p;
}

static void *mem_malloc(size_t size)
{
    hdr_t *h;
    if (size > SMALL_MAX) {
        if (size > SIZE_MAX - sizeof *h)
            return NULL;
        h = malloc(sizeof *h + size);
        if (!h)
            return NULL;
        *h = (hdr_t){0, size};
        return h + 1;
    }
    size_t cls = size ? (size + ALIGN - 1) / ALIGN : 1;
    free_blk_t *b = pool.free[cls];
    if (b) {
        pool.free[cls] = b->next;
        return b; /* its header still names cls */
    }
    h = carve(sizeof *h + cls * ALIGN);
    if (!h)
        return NULL;
    *h = (hdr_t){cls, 0};
    return h + 1;
}

static void mem_free(void *p)
{
    if (!p)
        return;
    hdr_t *h = (hdr_t *)p - 1;
    if (h->cls == 0) {
        free(h);
        return;
    }
    KV_ASSERT(h->cls <= SMALL_CLASSES);
    free_blk_t *b = p;
    b->next = pool.free[h->cls];
    pool.free[h->cls] = b;
}

static void *mem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = mem_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *mem_realloc(void *p, size_t size)
{
    if (!p)
        return mem_malloc(size);
    if (size == 0) { /* as glibc: free, and no block */
        mem_free(p);
        return NULL;
    }
    const hdr_t *h = (const hdr_t *)p - 1;
    size_t have = h->cls ? h->cls * ALIGN : h->size;
    if (h->cls && size <= have)
        return p; /* the class has room */
    void *q = mem_malloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, have < size ? have : size);
    mem_free(p);
    return q;
}

/* AddressSanitizer builds keep libc's allocator, which it watches. */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_MEM_ASAN 1
#endif
#endif
#ifndef SIM_MEM_ASAN
#define SIM_MEM_ASAN 0
#endif

void sim_mem_install(void)
{
    static const kv_mem_t mem = {mem_malloc, mem_calloc, mem_realloc, mem_free};
    if (!SIM_MEM_ASAN)
        kv_mem_set(&mem);
}
