/*
 * kv_mem.h - the injectable allocator.
 *
 * All edgekv modules allocate through kv_malloc()/kv_calloc()/kv_realloc()/
 * kv_free(). Tests replace the functions with kv_mem_set() to fail the Nth
 * allocation and check that every error path frees what it took. Memory
 * returned by a third-party library (RocksDB, jansson, OpenSSL) is freed with
 * that library's own function, never with kv_free().
 */
#ifndef KV_MEM_H
#define KV_MEM_H

#include <stddef.h>

typedef struct {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t n, size_t size);
    void *(*realloc_fn)(void *p, size_t size);
    void (*free_fn)(void *p);
} kv_mem_t;

/* Replace the allocator; NULL restores libc's. Call before any thread starts. */
void kv_mem_set(const kv_mem_t *mem);

void *kv_malloc(size_t size);
void *kv_calloc(size_t n, size_t size);
void *kv_realloc(void *p, size_t size);
void kv_free(void *p);

/* Copy of n bytes plus a terminating NUL; free with kv_free(). */
char *kv_strndup(const char *s, size_t n);

/* Test helper: a kv_mem_t whose allocations fail once `countdown` reaches 0
 * (countdown < 0 never fails). kv_mem_failing_set() installs it. */
void kv_mem_failing_set(long countdown);

#endif
