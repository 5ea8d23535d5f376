/* kv_mem.c - the default and the failing allocator of kv_mem.h. */
#include "kv_mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static kv_mem_t g_mem = {malloc, calloc, realloc, free};

void kv_mem_set(const kv_mem_t *mem)
{
    if (mem)
        g_mem = *mem;
    else
        g_mem = (kv_mem_t){malloc, calloc, realloc, free};
}

void *kv_malloc(size_t size)
{
    return g_mem.malloc_fn(size);
}

void *kv_calloc(size_t n, size_t size)
{
    return g_mem.calloc_fn(n, size);
}

void *kv_realloc(void *p, size_t size)
{
    return g_mem.realloc_fn(p, size);
}

void kv_free(void *p)
{
    g_mem.free_fn(p);
}

char *kv_strndup(const char *s, size_t n)
{
    char *d = kv_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static atomic_long g_countdown;

static int fail_now(void)
{
    long c = atomic_load(&g_countdown);
    if (c < 0)
        return 0;
    return atomic_fetch_sub(&g_countdown, 1) <= 0;
}

static void *failing_malloc(size_t size)
{
    return fail_now() ? NULL : malloc(size);
}

static void *failing_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : calloc(n, size);
}

static void *failing_realloc(void *p, size_t size)
{
    return fail_now() ? NULL : realloc(p, size);
}

void kv_mem_failing_set(long countdown)
{
    static const kv_mem_t failing = {failing_malloc, failing_calloc, failing_realloc, free};
    atomic_store(&g_countdown, countdown);
    kv_mem_set(&failing);
}
