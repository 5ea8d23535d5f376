/*
 * test_cache.c - unit tests of the read cache (storage/cache.c).
 *
 * Single-threaded tests pin down each rule of cache.h: hits, misses and
 * negatives, LRU order and the byte bound, ticket invalidation, "never
 * older", tombstones, oversized values, namespace drops, the disabled cache,
 * blob reference counts and allocation failure. A multi-threaded test then
 * races writers against read-through fills and checks online that no lookup
 * ever returns a version older than a put that had completed before it.
 *
 * Caches smaller than 4 MiB have a single shard, which makes LRU order
 * global and exactly predictable; the default size exercises 64 shards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "record.h"

static const char *NS_A = "0123456789abcdef0123456789abcdef";
static const char *NS_B = "fedcba9876543210fedcba9876543210";

/* One shard of ~2 MiB: ten 200 000-byte values fit, eleven do not. */
#define SMALL_CACHE_BYTES (2u * 1024u * 1024u)
#define LRU_VALUE_BYTES   200000u

/* A zero-filled value source large enough for every blob built here. */
static uint8_t g_zeros[KV_CACHE_MAX_ENTRY_BYTES + 1];

static stor_blob_t *mkblob_raw(uint64_t hlc, uint32_t node_id, size_t value_len, bool tombstone)
{
    stor_record_t rec = {
        .version = {hlc, node_id},
        .tombstone = tombstone,
        .value = g_zeros,
        .value_len = value_len,
    };
    return stor_blob_from_record(&rec);
}

static stor_blob_t *mkblob(uint64_t hlc, size_t value_len)
{
    stor_blob_t *b = mkblob_raw(hlc, 1, value_len, false);
    assert_non_null(b);
    return b;
}

static stor_blob_t *mktomb(uint64_t hlc)
{
    stor_blob_t *b = mkblob_raw(hlc, 1, 0, true);
    assert_non_null(b);
    return b;
}

static unsigned refs(stor_blob_t *b)
{
    return atomic_load(&b->refs);
}

static kv_version_t blob_version(const stor_blob_t *b)
{
    stor_record_t rec;
    stor_blob_record(b, &rec);
    return rec.version;
}

/* Put a fresh blob and drop the test's reference at once. */
static void put_new(cache_t *c, const char *ns, const char *key, uint64_t hlc, size_t len)
{
    stor_blob_t *b = mkblob(hlc, len);
    cache_put(c, ns, key, strlen(key), b);
    stor_blob_unref(b);
}

/* The hlc of the cached entry: 0 for a miss, UINT64_MAX for a negative. */
static uint64_t cached_hlc(cache_t *c, const char *ns, const char *key)
{
    stor_blob_t *b = (stor_blob_t *)&b; /* must be overwritten */
    cache_result_t r = cache_get(c, ns, key, strlen(key), &b);
    if (r == CACHE_MISS || r == CACHE_NEGATIVE) {
        assert_null(b);
        return r == CACHE_MISS ? 0 : UINT64_MAX;
    }
    assert_int_equal(r, CACHE_HIT);
    uint64_t hlc = blob_version(b).hlc;
    stor_blob_unref(b);
    return hlc;
}

static cache_t *new_cache(size_t max_bytes)
{
    cache_t *c = NULL;
    assert_int_equal(cache_create(max_bytes, &c), 0);
    assert_non_null(c);
    return c;
}

static void test_hit_miss_negative(void **state)
{
    (void)state;
    cache_t *c = new_cache(KV_CACHE_DEFAULT_BYTES);
    stor_blob_t *got = NULL;
    assert_int_equal(cache_get(c, NS_A, "k", 1, &got), CACHE_MISS);

    /* A read-through that found nothing caches a negative. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    cache_fill(c, t, NS_A, "k", 1, NULL);
    assert_int_equal(cache_get(c, NS_A, "k", 1, &got), CACHE_NEGATIVE);
    assert_null(got);

    stor_blob_t *b = mkblob(10, 5);
    cache_put(c, NS_A, "k", 1, b);
    assert_int_equal(cache_get(c, NS_A, "k", 1, &got), CACHE_HIT);
    assert_ptr_equal(got, b);
    stor_blob_unref(got);

    /* Keys are compared in full: other namespace, prefix, extension. */
    assert_int_equal(cache_get(c, NS_B, "k", 1, &got), CACHE_MISS);
    assert_int_equal(cache_get(c, NS_A, "kk", 2, &got), CACHE_MISS);
    assert_int_equal(cache_get(c, NS_A, "k\0", 2, &got), CACHE_MISS);
    assert_int_equal(cache_get(c, NS_A, "", 0, &got), CACHE_MISS);

    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 5);
    assert_int_equal(st.negative_hits, 1);
    assert_int_equal(st.fills, 1);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.max_bytes, KV_CACHE_DEFAULT_BYTES);
    assert_true(st.bytes > 1 + b->len);
    cache_destroy(c);
    assert_int_equal(refs(b), 1);
    stor_blob_unref(b);
}

static uint64_t stat_refused(cache_t *c)
{
    cache_stats_t st;
    cache_get_stats(c, &st);
    return st.fills_refused;
}

static void test_tombstone_is_negative(void **state)
{
    (void)state;
    cache_t *c = new_cache(KV_CACHE_DEFAULT_BYTES);
    put_new(c, NS_A, "k", 10, 100);
    stor_blob_t *tomb = mktomb(20);
    cache_put(c, NS_A, "k", 1, tomb);
    /* The cache keeps only the tombstone's version, never the blob. */
    assert_int_equal(refs(tomb), 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), UINT64_MAX);

    /* An older value read with a valid ticket loses to the tombstone. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    stor_blob_t *old = mkblob(15, 1);
    cache_fill(c, t, NS_A, "k", 1, old);
    assert_int_equal(stat_refused(c), 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), UINT64_MAX);
    assert_int_equal(refs(old), 1);

    /* A negative fill (zero version) cannot replace it either. */
    t = cache_fill_begin(c, NS_A, "k", 1);
    cache_fill(c, t, NS_A, "k", 1, NULL);
    assert_int_equal(cached_hlc(c, NS_A, "k"), UINT64_MAX);

    /* A filled tombstone is negative too. */
    t = cache_fill_begin(c, NS_A, "t", 1);
    cache_fill(c, t, NS_A, "t", 1, tomb);
    assert_int_equal(cached_hlc(c, NS_A, "t"), UINT64_MAX);
    assert_int_equal(refs(tomb), 1);

    put_new(c, NS_A, "k", 30, 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 30);
    stor_blob_unref(old);
    stor_blob_unref(tomb);
    cache_destroy(c);
}

static void test_put_never_older(void **state)
{
    (void)state;
    cache_t *c = new_cache(KV_CACHE_DEFAULT_BYTES);
    put_new(c, NS_A, "k", 50, 10);
    put_new(c, NS_A, "k", 30, 10);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 50);
    put_new(c, NS_A, "k", 50, 10); /* equal: either is fine */
    assert_int_equal(cached_hlc(c, NS_A, "k"), 50);
    put_new(c, NS_A, "k", 70, 10);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 70);

    /* Same timestamp: the node id decides. */
    stor_blob_t *n2 = mkblob_raw(80, 2, 1, false), *n1 = mkblob_raw(80, 1, 1, false);
    assert_non_null(n2);
    assert_non_null(n1);
    cache_put(c, NS_A, "k", 1, n2);
    cache_put(c, NS_A, "k", 1, n1);
    stor_blob_t *got = NULL;
    assert_int_equal(cache_get(c, NS_A, "k", 1, &got), CACHE_HIT);
    assert_ptr_equal(got, n2);
    stor_blob_unref(got);
    /* An older tombstone does not hide a newer value. */
    stor_blob_t *tomb = mktomb(60);
    cache_put(c, NS_A, "k", 1, tomb);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 80);
    stor_blob_unref(tomb);
    stor_blob_unref(n1);
    stor_blob_unref(n2);
    cache_destroy(c);
}

static void key_name(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "k%u", i);
}

static void test_lru_eviction_order(void **state)
{
    (void)state;
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    char key[16];
    for (unsigned i = 0; i < 10; i++) {
        key_name(key, sizeof key, i);
        put_new(c, NS_A, key, 100 + i, LRU_VALUE_BYTES);
    }
    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evictions, 0);

    /* Touch k0: k1 becomes the least recently used and goes first. */
    assert_int_equal(cached_hlc(c, NS_A, "k0"), 100);
    put_new(c, NS_A, "k10", 110, LRU_VALUE_BYTES);
    assert_int_equal(cached_hlc(c, NS_A, "k1"), 0);
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evictions, 1);

    /* Touch everything but k5, oldest first: k5 is next out. */
    for (unsigned i = 0; i <= 10; i++) {
        if (i == 1 || i == 5)
            continue;
        key_name(key, sizeof key, i);
        assert_int_equal(cached_hlc(c, NS_A, key), 100 + i);
    }
    put_new(c, NS_A, "k11", 111, LRU_VALUE_BYTES);
    assert_int_equal(cached_hlc(c, NS_A, "k5"), 0);
    assert_int_equal(cached_hlc(c, NS_A, "k0"), 100);

    /* One large put evicts several from the tail, in order: k2, k3. */
    put_new(c, NS_A, "big", 200, 2 * LRU_VALUE_BYTES);
    assert_int_equal(cached_hlc(c, NS_A, "k2"), 0);
    assert_int_equal(cached_hlc(c, NS_A, "k3"), 0);
    assert_int_equal(cached_hlc(c, NS_A, "k4"), 104);
    assert_int_equal(cached_hlc(c, NS_A, "big"), 200);
    cache_get_stats(c, &st);
    assert_true(st.bytes <= st.max_bytes);
    cache_destroy(c);
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Many puts of mixed sizes over many keys: the bound always holds. */
static void check_byte_bound(size_t max_bytes, unsigned puts, unsigned nkeys, size_t len_max)
{
    cache_t *c = new_cache(max_bytes);
    uint32_t rng = 12345;
    char key[16];
    cache_stats_t st;
    for (unsigned i = 0; i < puts; i++) {
        key_name(key, sizeof key, xorshift(&rng) % nkeys);
        size_t len = xorshift(&rng) % 8 == 0 ? xorshift(&rng) % len_max : xorshift(&rng) % 64;
        put_new(c, i % 2 ? NS_A : NS_B, key, 1 + i, len);
        cache_get_stats(c, &st);
        assert_true(st.bytes <= max_bytes);
    }
    assert_true(st.evictions > 0);
    assert_true(st.entries > 0);
    cache_destroy(c);
}

static void test_byte_bound(void **state)
{
    (void)state;
    check_byte_bound(64 * 1024, 5000, 300, 4000);                              /* one shard */
    check_byte_bound(128u * 1024 * 1024, 3000, 400, KV_CACHE_MAX_ENTRY_BYTES); /* 64 shards */
    check_byte_bound(1000, 500, 10, 2000); /* entries near the budget */
}

static void test_fill_ticket(void **state)
{
    (void)state;
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    /* Undisturbed: the fill goes in. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "a", 1);
    stor_blob_t *v1 = mkblob(1, 10);
    cache_fill(c, t, NS_A, "a", 1, v1);
    assert_int_equal(cached_hlc(c, NS_A, "a"), 1);

    /* Read raced a write whose entry was then evicted: still refused. */
    put_new(c, NS_A, "b", 1, 10);
    t = cache_fill_begin(c, NS_A, "b", 1);
    put_new(c, NS_A, "b", 2, 10);
    char key[16];
    for (unsigned i = 0; i < 11; i++) {
        key_name(key, sizeof key, i);
        put_new(c, NS_B, key, 10, LRU_VALUE_BYTES);
    }
    assert_int_equal(cached_hlc(c, NS_A, "b"), 0);
    stor_blob_t *b1 = mkblob(1, 10);
    uint64_t refused = stat_refused(c);
    cache_fill(c, t, NS_A, "b", 1, b1);
    assert_int_equal(stat_refused(c), refused + 1);
    assert_int_equal(cached_hlc(c, NS_A, "b"), 0);

    /* Negative fills obey tickets too. */
    t = cache_fill_begin(c, NS_A, "c", 1);
    put_new(c, NS_A, "c", 5, 10);
    put_new(c, NS_B, "k0", 11, 10); /* pushes nothing out; just a write */
    cache_fill(c, t, NS_A, "c", 1, NULL);
    assert_int_equal(cached_hlc(c, NS_A, "c"), 5);

    /* Two readers with the same valid ticket: the newer read wins. */
    cache_ticket_t t1 = cache_fill_begin(c, NS_A, "d", 1);
    cache_ticket_t t2 = cache_fill_begin(c, NS_A, "d", 1);
    stor_blob_t *d3 = mkblob(3, 10), *d2 = mkblob(2, 10);
    cache_fill(c, t2, NS_A, "d", 1, d3);
    cache_fill(c, t1, NS_A, "d", 1, d2);
    assert_int_equal(cached_hlc(c, NS_A, "d"), 3);
    assert_int_equal(refs(d2), 1);
    assert_int_equal(refs(b1), 1);

    stor_blob_unref(v1);
    stor_blob_unref(b1);
    stor_blob_unref(d2);
    stor_blob_unref(d3);
    cache_destroy(c);
}

static void test_oversized(void **state)
{
    (void)state;
    cache_t *c = new_cache(KV_CACHE_DEFAULT_BYTES);
    /* A put too big to cache removes the older, smaller value. */
    put_new(c, NS_A, "k", 1, 10);
    put_new(c, NS_A, "k", 2, KV_CACHE_MAX_ENTRY_BYTES + 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    /* A fill too big is skipped. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    stor_blob_t *big = mkblob(2, KV_CACHE_MAX_ENTRY_BYTES + 1);
    cache_fill(c, t, NS_A, "k", 1, big);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    assert_int_equal(refs(big), 1);
    stor_blob_unref(big);
    /* The limit is on the whole blob: exactly at it is cached, one more
     * byte is not. */
    put_new(c, NS_A, "k", 3, KV_CACHE_MAX_ENTRY_BYTES - STOR_RECORD_HEADER_BYTES);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 3);
    put_new(c, NS_A, "k", 4, KV_CACHE_MAX_ENTRY_BYTES - STOR_RECORD_HEADER_BYTES + 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    cache_destroy(c);

    /* Larger than the shard's whole budget: not cached, older removed. */
    c = new_cache(1000);
    put_new(c, NS_A, "k", 1, 10);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 1);
    put_new(c, NS_A, "k", 2, 2000);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    cache_destroy(c);
}

static void test_invalidate(void **state)
{
    (void)state;
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    put_new(c, NS_A, "k", 5, 10);
    put_new(c, NS_A, "j", 5, 10);
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    cache_invalidate(c, NS_A, "k", 1);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    assert_int_equal(cached_hlc(c, NS_A, "j"), 5);
    /* A read that raced the invalidated write cannot refill the old value. */
    stor_blob_t *old = mkblob(5, 10);
    cache_fill(c, t, NS_A, "k", 1, old);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    /* Invalidating what is not cached is harmless. */
    cache_invalidate(c, NS_B, "k", 1);
    stor_blob_unref(old);
    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    cache_destroy(c);

    c = new_cache(0);
    cache_invalidate(c, NS_A, "k", 1);
    cache_destroy(c);
}

/* cache_written: tells a writer whether the key has an entry (a value or a
 * negative one) and refuses the fills of reads that raced the write, as a
 * put does, whether or not anything is cached. */
static void test_written(void **state)
{
    (void)state;
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    put_new(c, NS_A, "k", 5, 10);
    stor_blob_t *tomb = mktomb(6);
    cache_put(c, NS_A, "gone", 4, tomb);
    stor_blob_unref(tomb);
    assert_true(cache_written(c, NS_A, "k", 1));
    assert_true(cache_written(c, NS_A, "gone", 4)); /* a negative entry counts */
    assert_false(cache_written(c, NS_A, "new", 3));
    assert_false(cache_written(c, NS_B, "k", 1));
    assert_int_equal(cached_hlc(c, NS_A, "k"), 5); /* nothing changed */
    assert_int_equal(cached_hlc(c, NS_A, "new"), 0);
    /* A read of an uncached key that raced the write cannot fill. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "new", 3);
    assert_false(cache_written(c, NS_A, "new", 3));
    stor_blob_t *old = mkblob(4, 10);
    cache_fill(c, t, NS_A, "new", 3, old);
    assert_int_equal(cached_hlc(c, NS_A, "new"), 0);
    /* One taken after the write fills. */
    t = cache_fill_begin(c, NS_A, "new", 3);
    cache_fill(c, t, NS_A, "new", 3, old);
    assert_int_equal(cached_hlc(c, NS_A, "new"), 4);
    stor_blob_unref(old);
    cache_destroy(c);

    c = new_cache(0);
    assert_false(cache_written(c, NS_A, "k", 1));
    cache_destroy(c);
}

static void test_drop_namespace(void **state)
{
    (void)state;
    cache_t *c = new_cache(KV_CACHE_DEFAULT_BYTES);
    char key[16];
    for (unsigned i = 0; i < 200; i++) {
        key_name(key, sizeof key, i);
        put_new(c, NS_A, key, 1 + i, 10);
        put_new(c, NS_B, key, 1 + i, 10);
    }
    key_name(key, sizeof key, 7);
    cache_ticket_t t = cache_fill_begin(c, NS_A, key, strlen(key));
    cache_drop_namespace(c, NS_A);
    for (unsigned i = 0; i < 200; i++) {
        key_name(key, sizeof key, i);
        assert_int_equal(cached_hlc(c, NS_A, key), 0);
        assert_int_equal(cached_hlc(c, NS_B, key), 1 + i);
    }
    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 200);
    /* A read that started before the drop does not bring it back. */
    key_name(key, sizeof key, 7);
    stor_blob_t *b = mkblob(8, 10);
    cache_fill(c, t, NS_A, key, strlen(key), b);
    assert_int_equal(cached_hlc(c, NS_A, key), 0);
    stor_blob_unref(b);
    cache_drop_namespace(c, NS_B);
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    cache_destroy(c);
}

static void test_disabled(void **state)
{
    (void)state;
    cache_t *c = new_cache(0);
    stor_blob_t *b = mkblob(1, 10);
    cache_put(c, NS_A, "k", 1, b);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    cache_fill(c, t, NS_A, "k", 1, b);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    t = cache_fill_begin(c, NS_A, "n", 1);
    cache_fill(c, t, NS_A, "n", 1, NULL);
    assert_int_equal(cached_hlc(c, NS_A, "n"), 0);
    cache_drop_namespace(c, NS_A);
    cache_stats_t st;
    cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.max_bytes, 0);
    assert_int_equal(st.misses, 3);
    assert_int_equal(refs(b), 1);
    stor_blob_unref(b);
    cache_destroy(c);
    cache_destroy(NULL);
}

static void test_refcounts(void **state)
{
    (void)state;
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    stor_blob_t *b1 = mkblob(1, 100), *b2 = mkblob(2, 100), *got = NULL;
    cache_put(c, NS_A, "k", 1, b1);
    assert_int_equal(refs(b1), 2);
    assert_int_equal(cache_get(c, NS_A, "k", 1, &got), CACHE_HIT);
    assert_ptr_equal(got, b1);
    assert_int_equal(refs(b1), 3);
    /* Replaced while a reader holds it: the reader's copy stays valid. */
    cache_put(c, NS_A, "k", 1, b2);
    assert_int_equal(refs(b1), 2);
    assert_int_equal(blob_version(got).hlc, 1);
    stor_blob_unref(got);
    assert_int_equal(refs(b1), 1);
    assert_int_equal(refs(b2), 2);

    /* Evicted: the cache lets go of its reference. */
    stor_blob_t *e = mkblob(3, LRU_VALUE_BYTES);
    cache_put(c, NS_B, "e", 1, e);
    char key[16];
    for (unsigned i = 0; i < 11; i++) {
        key_name(key, sizeof key, i);
        put_new(c, NS_A, key, 10, LRU_VALUE_BYTES);
    }
    assert_int_equal(refs(e), 1);

    /* Held across destroy: still valid, back to our single reference. */
    assert_int_equal(cache_get(c, NS_A, "k10", 3, &got), CACHE_HIT);
    cache_destroy(c);
    assert_int_equal(refs(got), 1);
    assert_int_equal(blob_version(got).hlc, 10);
    assert_int_equal(refs(b2), 1);
    stor_blob_unref(got);
    stor_blob_unref(e);
    stor_blob_unref(b1);
    stor_blob_unref(b2);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    /* cache_create fails cleanly at every allocation (ASan checks leaks). */
    for (long n = 0;; n++) {
        cache_t *c = NULL;
        kv_mem_failing_set(n);
        int rc = cache_create(KV_CACHE_DEFAULT_BYTES, &c);
        kv_mem_set(NULL);
        if (rc == 0) {
            assert_true(n > 1);
            cache_destroy(c);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(c);
    }

    /* A put whose entry cannot be allocated leaves no stale entry. */
    cache_t *c = new_cache(SMALL_CACHE_BYTES);
    put_new(c, NS_A, "k", 1, 10);
    stor_blob_t *b2 = mkblob(2, 10);
    kv_mem_failing_set(0);
    cache_put(c, NS_A, "k", 1, b2);
    kv_mem_set(NULL);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    assert_int_equal(refs(b2), 1);
    /* A fill likewise just does not cache. */
    cache_ticket_t t = cache_fill_begin(c, NS_A, "k", 1);
    kv_mem_failing_set(0);
    cache_fill(c, t, NS_A, "k", 1, b2);
    kv_mem_set(NULL);
    assert_int_equal(cached_hlc(c, NS_A, "k"), 0);
    stor_blob_unref(b2);
    cache_destroy(c);

    /* Failures at every point of a run of puts (entries, table growth):
     * every key is then either missing or at its latest version. */
    enum { NK = 40 };
    char key[16];
    for (long n = 0; n < 2 * NK + 10; n++) {
        c = new_cache(SMALL_CACHE_BYTES);
        stor_blob_t *v1[NK], *v2[NK];
        for (unsigned i = 0; i < NK; i++) {
            v1[i] = mkblob(1, 10);
            v2[i] = mkblob(2, 10);
        }
        kv_mem_failing_set(n);
        for (unsigned i = 0; i < 2 * NK; i++) {
            key_name(key, sizeof key, i % NK);
            cache_put(c, NS_A, key, strlen(key), i < NK ? v1[i] : v2[i - NK]);
        }
        kv_mem_set(NULL);
        for (unsigned i = 0; i < NK; i++) {
            key_name(key, sizeof key, i);
            uint64_t hlc = cached_hlc(c, NS_A, key);
            assert_true(hlc == 0 || hlc == 2);
        }
        cache_destroy(c);
        for (unsigned i = 0; i < NK; i++) {
            assert_int_equal(refs(v1[i]), 1);
            assert_int_equal(refs(v2[i]), 1);
            stor_blob_unref(v1[i]);
            stor_blob_unref(v2[i]);
        }
    }
}

/* ---- concurrency ------------------------------------------------------------- */

#define MT_THREADS 4

/* A key of the simulated store. Writes to one key are serialised by `lock`
 * across storage write + cache_put, as the node's apply path does. */
typedef struct {
    pthread_mutex_t lock;
    stor_blob_t *stored; /* storage's record; NULL = never written */
    uint64_t next_hlc;
    _Atomic uint64_t last_put;  /* hlc of the last completed put */
    _Atomic bool last_was_tomb; /* ... and whether it was a tombstone */
    _Atomic uint64_t tomb_hlc;  /* hlc of the newest tombstone written */
} mt_key_t;

typedef struct {
    cache_t *c;
    mt_key_t *keys;
    unsigned nkeys;
    size_t len_max;
    unsigned ops;
    uint32_t seed;
    atomic_uint stale;
    atomic_uint hits;
} mt_ctx_t;

static void mt_key_name(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "key-%u", i);
}

static void mt_write(mt_ctx_t *x, unsigned k, uint32_t *rng)
{
    mt_key_t *mk = &x->keys[k];
    char key[32];
    mt_key_name(key, sizeof key, k);
    bool tomb = xorshift(rng) % 8 == 0;
    size_t len = xorshift(rng) % 16 == 0 ? xorshift(rng) % x->len_max : xorshift(rng) % 128;
    pthread_mutex_lock(&mk->lock);
    uint64_t hlc = ++mk->next_hlc;
    stor_blob_t *b = mkblob_raw(hlc, 1, tomb ? 0 : len, tomb);
    if (!b)
        abort();
    stor_blob_unref(mk->stored);
    mk->stored = b;
    if (tomb)
        atomic_store(&mk->tomb_hlc, hlc);
    cache_put(x->c, NS_A, key, strlen(key), b);
    pthread_mutex_unlock(&mk->lock);
    atomic_store(&mk->last_put, hlc);
    atomic_store(&mk->last_was_tomb, tomb);
}

static void mt_read(mt_ctx_t *x, unsigned k)
{
    mt_key_t *mk = &x->keys[k];
    char key[32];
    mt_key_name(key, sizeof key, k);
    bool last_tomb = atomic_load(&mk->last_was_tomb);
    uint64_t last = atomic_load(&mk->last_put);
    stor_blob_t *b = NULL;
    cache_result_t r = cache_get(x->c, NS_A, key, strlen(key), &b);
    if (r == CACHE_HIT) {
        atomic_fetch_add(&x->hits, 1);
        if (blob_version(b).hlc < last)
            atomic_fetch_add(&x->stale, 1);
        stor_blob_unref(b);
    } else if (r == CACHE_NEGATIVE) {
        /* Only a tombstone at least as new as the last value may hide it. */
        if (last && !last_tomb && atomic_load(&mk->tomb_hlc) < last)
            atomic_fetch_add(&x->stale, 1);
    } else {
        cache_ticket_t t = cache_fill_begin(x->c, NS_A, key, strlen(key));
        pthread_mutex_lock(&mk->lock);
        stor_blob_t *cur = mk->stored;
        if (cur)
            stor_blob_ref(cur);
        pthread_mutex_unlock(&mk->lock);
        cache_fill(x->c, t, NS_A, key, strlen(key), cur);
        stor_blob_unref(cur);
    }
}

typedef struct {
    mt_ctx_t *x;
    uint32_t seed;
} mt_arg_t;

static void *mt_worker(void *arg)
{
    mt_arg_t *a = arg;
    mt_ctx_t *x = a->x;
    uint32_t rng = a->seed;
    for (unsigned i = 0; i < x->ops; i++) {
        unsigned k = xorshift(&rng) % x->nkeys;
        unsigned op = xorshift(&rng) % 1000;
        if (op < 250)
            mt_write(x, k, &rng);
        else if (op == 999)
            cache_drop_namespace(x->c, NS_A);
        else
            mt_read(x, k);
    }
    return NULL;
}

/* After the run: each key is missing or exactly what storage holds. */
static void mt_check_final(mt_ctx_t *x)
{
    char key[32];
    for (unsigned k = 0; k < x->nkeys; k++) {
        mt_key_t *mk = &x->keys[k];
        mt_key_name(key, sizeof key, k);
        uint64_t hlc = cached_hlc(x->c, NS_A, key);
        if (hlc == 0)
            continue;
        assert_non_null(mk->stored);
        stor_record_t rec;
        stor_blob_record(mk->stored, &rec);
        if (rec.tombstone)
            assert_true(hlc == UINT64_MAX);
        else
            assert_int_equal(hlc, rec.version.hlc);
    }
}

static void run_threads(size_t max_bytes, unsigned nkeys, size_t len_max, unsigned ops)
{
    mt_ctx_t x = {.c = new_cache(max_bytes), .nkeys = nkeys, .len_max = len_max, .ops = ops};
    x.keys = calloc(nkeys, sizeof(*x.keys));
    assert_non_null(x.keys);
    for (unsigned k = 0; k < nkeys; k++)
        pthread_mutex_init(&x.keys[k].lock, NULL);
    pthread_t th[MT_THREADS];
    mt_arg_t args[MT_THREADS];
    for (unsigned i = 0; i < MT_THREADS; i++) {
        args[i] = (mt_arg_t){&x, 0x9e3779b9u * (i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < MT_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&x.stale), 0);
    assert_true(atomic_load(&x.hits) > 0);
    mt_check_final(&x);
    cache_stats_t st;
    cache_get_stats(x.c, &st);
    assert_true(st.bytes <= max_bytes);
    assert_true(st.fills > 0);
    cache_destroy(x.c);
    for (unsigned k = 0; k < nkeys; k++) {
        if (x.keys[k].stored)
            assert_int_equal(refs(x.keys[k].stored), 1);
        stor_blob_unref(x.keys[k].stored);
        pthread_mutex_destroy(&x.keys[k].lock);
    }
    free(x.keys);
}

static void test_threads_small(void **state)
{
    (void)state;
    /* One 16 KiB shard, 16 hot keys: constant eviction and ticket races. */
    run_threads(16 * 1024, 16, 4096, 100000);
}

static void test_threads_sharded(void **state)
{
    (void)state;
    /* 64 shards of 2 MiB, occasional values near the entry limit. */
    run_threads(128u * 1024 * 1024, 256, KV_CACHE_MAX_ENTRY_BYTES, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_negative), cmocka_unit_test(test_tombstone_is_negative),
        cmocka_unit_test(test_put_never_older),   cmocka_unit_test(test_lru_eviction_order),
        cmocka_unit_test(test_byte_bound),        cmocka_unit_test(test_fill_ticket),
        cmocka_unit_test(test_oversized),         cmocka_unit_test(test_invalidate),
        cmocka_unit_test(test_written),           cmocka_unit_test(test_drop_namespace),
        cmocka_unit_test(test_disabled),          cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_alloc_failure),     cmocka_unit_test(test_threads_small),
        cmocka_unit_test(test_threads_sharded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
