/* test_store.c - the RocksDB replica: LWW, reads, listing, expiry,
 * namespaces, state, sync policies, allocation failure, large values. Each
 * test runs in a fresh temporary directory that is removed afterwards.
 *
 * The sync policy tests count real WAL syncs: this file defines fdatasync
 * and fsync, which librocksdb then calls instead of libc's (an executable's
 * symbols come first), and counts the calls on WAL files per thread. What
 * an acknowledged write survives (a power cut, not only a clean reopen) is
 * test_powercut.sh's subject. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "store.h"
#include "store_fx.h"

#define NS1 "0123456789abcdef0123456789abcdef"
#define NS2 "fedcba9876543210fedcba9876543210"

typedef struct {
    char dir[STORE_FX_DIR_CAP];
    stor_options_t o;
    stor_t *s;
} fx_t;

static void fx_open(fx_t *f)
{
    assert_int_equal(stor_open(&f->o, &f->s), 0);
    assert_non_null(f->s);
}

static void fx_reopen(fx_t *f)
{
    stor_close(f->s);
    f->s = NULL;
    fx_open(f);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || store_fx_open(f->dir, "store", &f->o, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kv_mem_set(NULL);
    store_fx_close(f->s, f->dir);
    free(f);
    return 0;
}

static stor_record_t mkrec(uint64_t hlc, uint32_t node, const char *val, int64_t exp,
                           const char *meta)
{
    stor_record_t r = {0};
    r.version = (kv_version_t){hlc, node};
    r.expiration = exp;
    r.value = (const uint8_t *)val;
    r.value_len = val ? strlen(val) : 0;
    r.metadata = meta;
    r.metadata_len = meta ? strlen(meta) : 0;
    return r;
}

static int put(stor_t *s, const char *ns, const char *key, uint64_t hlc, uint32_t node,
               const char *val, int64_t exp)
{
    stor_record_t r = mkrec(hlc, node, val, exp, NULL);
    return stor_apply(s, ns, key, strlen(key), &r);
}

static int del(stor_t *s, const char *ns, const char *key, uint64_t hlc, uint32_t node)
{
    stor_record_t r = mkrec(hlc, node, NULL, 0, NULL);
    r.tombstone = true;
    return stor_apply(s, ns, key, strlen(key), &r);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static uint64_t hlc_at_ms(int64_t ms)
{
    return (uint64_t)ms << 16;
}

/* ---- records ------------------------------------------------------------------ */

static void test_put_get(void **state)
{
    fx_t *f = *state;
    stor_record_t r = mkrec(100, 7, "value-1", 4102444800, "{\"m\":true}");
    assert_int_equal(stor_apply(f->s, NS1, "k", 1, &r), 0);
    stor_blob_t *b = NULL;
    assert_int_equal(stor_get(f->s, NS1, "k", 1, &b), 0);
    assert_non_null(b);
    assert_int_equal(atomic_load(&b->refs), 1);
    stor_record_t d;
    stor_blob_record(b, &d);
    assert_int_equal(d.value_len, 7);
    assert_memory_equal(d.value, "value-1", 7);
    assert_int_equal(d.metadata_len, 10);
    assert_memory_equal(d.metadata, "{\"m\":true}", 10);
    assert_int_equal(d.expiration, 4102444800);
    assert_true(d.version.hlc == 100);
    assert_int_equal(d.version.node_id, 7);
    assert_false(d.tombstone);
    stor_blob_unref(b);

    /* Absent key, another namespace, invalid arguments. */
    b = (stor_blob_t *)1;
    assert_int_equal(stor_get(f->s, NS1, "nope", 4, &b), 0);
    assert_null(b);
    assert_int_equal(stor_get(f->s, NS2, "k", 1, &b), 0);
    assert_null(b);
    assert_int_equal(stor_get(f->s, "0123456789ABCDEF0123456789abcdef", "k", 1, &b), KV_EINVAL);
    assert_int_equal(stor_get(f->s, NS1, "", 0, &b), KV_EINVAL);
    char big[KV_KEY_MAX_BYTES + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(stor_apply(f->s, NS1, big, sizeof(big), &r), KV_ETOOBIG);
    assert_int_equal(stor_apply(f->s, NS1, big, KV_KEY_MAX_BYTES, &r), 0);
    assert_int_equal(stor_get(f->s, NS1, big, KV_KEY_MAX_BYTES, &b), 0);
    assert_non_null(b);
    stor_blob_unref(b);
    char meta[KV_METADATA_MAX_BYTES + 2];
    memset(meta, 'm', sizeof(meta) - 1);
    meta[sizeof(meta) - 1] = '\0';
    stor_record_t rm = mkrec(200, 1, "v", 0, meta);
    assert_int_equal(stor_apply(f->s, NS1, "m", 1, &rm), KV_ETOOBIG);
}

static void test_lww(void **state)
{
    fx_t *f = *state;
    char buf[64];
    assert_int_equal(put(f->s, NS1, "k", 10, 1, "a", 0), 0);
    /* Older: refused, value unchanged. */
    assert_int_equal(put(f->s, NS1, "k", 5, 9, "b", 0), KV_ESTALE);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "a");
    /* Equal version: refused even with a different value. */
    assert_int_equal(put(f->s, NS1, "k", 10, 1, "c", 0), KV_ESTALE);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "a");
    /* Same hlc, higher node id wins; lower loses, whatever the value. */
    assert_int_equal(put(f->s, NS1, "k", 10, 2, "d", 0), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "d");
    assert_int_equal(put(f->s, NS1, "k", 10, 1, "zzzz", 0), KV_ESTALE);
    assert_int_equal(put(f->s, NS1, "k", 10, 2, "zzzz", 0), KV_ESTALE);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "d");
    /* The zero version is never newer than nothing. */
    assert_int_equal(put(f->s, NS1, "z", 0, 0, "x", 0), KV_ESTALE);
    assert_string_equal(store_fx_value(f->s, NS1, "z", buf, sizeof(buf)), "");
    /* Newer hlc wins over a higher node id. */
    assert_int_equal(put(f->s, NS1, "k", 11, 0, "e", 0), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "e");
}

static void test_tombstone(void **state)
{
    fx_t *f = *state;
    char buf[64];
    assert_int_equal(put(f->s, NS1, "k", 10, 1, "a", 0), 0);
    assert_int_equal(del(f->s, NS1, "k", 9, 1), KV_ESTALE);
    assert_int_equal(del(f->s, NS1, "k", 20, 1), 0);
    stor_blob_t *b = NULL;
    assert_int_equal(stor_get(f->s, NS1, "k", 1, &b), 0);
    assert_non_null(b);
    stor_record_t r;
    stor_blob_record(b, &r);
    assert_true(r.tombstone);
    assert_true(r.version.hlc == 20);
    assert_true(stor_record_hidden(&r, 0));
    stor_blob_unref(b);
    /* A write older than the tombstone stays dead (a replayed stream). */
    assert_int_equal(put(f->s, NS1, "k", 15, 3, "old", 0), KV_ESTALE);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "<del>");
    assert_int_equal(put(f->s, NS1, "k", 21, 0, "back", 0), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "back");
}

static stor_mutation_t mut(const char *ns, const char *key, uint64_t hlc, const char *val)
{
    stor_mutation_t m = {0};
    m.ns_id = ns;
    m.key = key;
    m.key_len = strlen(key);
    m.rec = mkrec(hlc, 1, val, 0, NULL);
    return m;
}

static void test_batch(void **state)
{
    fx_t *f = *state;
    char buf[64];
    assert_int_equal(put(f->s, NS1, "k1", 10, 1, "old", 0), 0);
    stor_mutation_t m[] = {
        mut(NS1, "k1", 5, "stale"),  mut(NS1, "k2", 1, "new"), mut(NS1, "k3", 3, "three"),
        mut(NS1, "k3", 2, "two"),    mut(NS2, "k1", 1, "ns2"), mut(NS1, "k3", 4, "four"),
        mut(NS1, "k1", 11, "fresh"),
    };
    int res[7];
    memset(res, 0x55, sizeof(res));
    assert_int_equal(stor_apply_batch(f->s, m, 7, res), 0);
    assert_int_equal(res[0], KV_ESTALE);
    assert_int_equal(res[1], 0);
    assert_int_equal(res[2], 0);
    assert_int_equal(res[3], KV_ESTALE); /* older than k3@3 earlier in the batch */
    assert_int_equal(res[4], 0);
    assert_int_equal(res[5], 0);
    assert_int_equal(res[6], 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k1", buf, sizeof(buf)), "fresh");
    assert_string_equal(store_fx_value(f->s, NS1, "k2", buf, sizeof(buf)), "new");
    assert_string_equal(store_fx_value(f->s, NS1, "k3", buf, sizeof(buf)), "four");
    assert_string_equal(store_fx_value(f->s, NS2, "k1", buf, sizeof(buf)), "ns2");

    /* All stale: nothing to write, still success. */
    assert_int_equal(stor_apply_batch(f->s, m, 1, res), 0);
    assert_int_equal(res[0], KV_ESTALE);
    /* One invalid mutation: nothing of the batch is written. */
    stor_mutation_t bad[] = {mut(NS1, "k9", 50, "x"),
                             mut("not-hex-not-hex-not-hex-not-hex!", "k", 1, "y")};
    assert_int_equal(stor_apply_batch(f->s, bad, 2, NULL), KV_EINVAL);
    assert_string_equal(store_fx_value(f->s, NS1, "k9", buf, sizeof(buf)), "");
    assert_int_equal(stor_apply_batch(f->s, NULL, 0, NULL), 0);
}

/* ---- RocksDB's per-thread perf counters ---------------------------------------- */

/* A thread's commits, point reads and multi-gets leave RocksDB's perf
 * counters alone (store.c stor__thread_prepare); then, as a control, the
 * same commit with RocksDB's default level counts. */
static void *perf_thread(void *arg)
{
    fx_t *f = arg;
    rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
    rocksdb_perfcontext_reset(pc);
    char keys[40][8];
    stor_mutation_t m[40];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "p%02d", (i * 17) % 40);
        m[i] = mut(NS1, keys[i], 100 + (uint64_t)i, "v");
    }
    int rc = stor_apply_batch(f->s, m, 20, NULL);
    stor_blob_t *b = NULL;
    if (rc == 0)
        rc = stor_get(f->s, NS1, keys[3], strlen(keys[3]), &b);
    stor_blob_unref(b);
    const char *ks[2] = {keys[1], keys[2]};
    size_t kl[2] = {strlen(keys[1]), strlen(keys[2])};
    stor_blob_t *got[2] = {NULL, NULL};
    if (rc == 0)
        rc = stor_multi_get(f->s, NS1, ks, kl, 2, got);
    stor_blob_unref(got[0]);
    stor_blob_unref(got[1]);
    uint64_t off = rocksdb_perfcontext_metric(pc, rocksdb_user_key_comparison_count);
    rocksdb_set_perf_level(rocksdb_enable_count);
    if (rc == 0)
        rc = stor_apply_batch(f->s, m + 20, 20, NULL);
    uint64_t on = rocksdb_perfcontext_metric(pc, rocksdb_user_key_comparison_count);
    rocksdb_perfcontext_destroy(pc);
    return (void *)(intptr_t)(rc == 0 && off == 0 && on > 0 ? 0 : rc ? 1 : off ? 2 : 3);
}

static void test_perf_counters_off(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 30; i++) { /* keys to compare against */
        char k[8];
        snprintf(k, sizeof k, "q%02d", i);
        assert_int_equal(put(f->s, NS1, k, 1, 1, "v", 0), 0);
    }
    pthread_t t;
    void *ret = NULL;
    assert_int_equal(pthread_create(&t, NULL, perf_thread, f), 0);
    pthread_join(t, &ret);
    assert_int_equal((intptr_t)ret, 0); /* 1: a call failed, 2: counted, 3: control did not */
}

static void test_multi_get(void **state)
{
    fx_t *f = *state;
    assert_int_equal(put(f->s, NS1, "a", 1, 1, "va", 0), 0);
    assert_int_equal(del(f->s, NS1, "c", 1, 1), 0);
    assert_int_equal(put(f->s, NS2, "b", 1, 1, "other-ns", 0), 0);
    const char *keys[] = {"a", "b", "c", "a"};
    size_t lens[] = {1, 1, 1, 1};
    stor_blob_t *out[4];
    assert_int_equal(stor_multi_get(f->s, NS1, keys, lens, 4, out), 0);
    stor_record_t r;
    assert_non_null(out[0]);
    stor_blob_record(out[0], &r);
    assert_memory_equal(r.value, "va", 2);
    assert_null(out[1]);
    assert_non_null(out[2]);
    stor_blob_record(out[2], &r);
    assert_true(r.tombstone);
    assert_non_null(out[3]);
    assert_ptr_not_equal(out[0], out[3]);
    for (int i = 0; i < 4; i++)
        stor_blob_unref(out[i]);
    size_t bad_lens[] = {1, 0, 1, 1};
    assert_int_equal(stor_multi_get(f->s, NS1, keys, bad_lens, 4, out), KV_EINVAL);
    for (int i = 0; i < 4; i++)
        assert_null(out[i]);
}

static void *lww_writer(void *arg)
{
    fx_t *f = arg;
    static atomic_uint next_node;
    uint32_t node = atomic_fetch_add(&next_node, 1) + 1;
    for (uint64_t i = 1; i <= 300; i++) {
        char v[32];
        snprintf(v, sizeof(v), "%u-%u", (unsigned)i, (unsigned)node);
        int rc = put(f->s, NS1, "hot", i, node, v, 0);
        if (rc != 0 && rc != KV_ESTALE)
            return (void *)1;
    }
    return NULL;
}

/* Concurrent writers of one key: the newest version must win. */
static void test_lww_concurrent(void **state)
{
    fx_t *f = *state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, lww_writer, f), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    stor_blob_t *b = NULL;
    assert_int_equal(stor_get(f->s, NS1, "hot", 3, &b), 0);
    stor_record_t r;
    stor_blob_record(b, &r);
    assert_true(r.version.hlc == 300);
    char want[32];
    snprintf(want, sizeof(want), "300-%u", r.version.node_id);
    assert_int_equal(r.value_len, strlen(want));
    assert_memory_equal(r.value, want, r.value_len);
    /* Node ids are 1..4 in some order; the highest must have won. */
    assert_int_equal(r.version.node_id, 4);
    stor_blob_unref(b);
}

/* ---- list ------------------------------------------------------------------------ */

/* Collect every key of a full paging walk into keys (joined by '|'). */
static int list_all(stor_t *s, const char *ns, const char *prefix, size_t limit, int64_t now,
                    char *keys, size_t cap, int *pages)
{
    char *cursor = NULL;
    keys[0] = '\0';
    *pages = 0;
    for (;;) {
        stor_list_t l;
        int rc = stor_list(s, ns, prefix, prefix ? strlen(prefix) : 0, cursor, limit, now, &l);
        free(cursor);
        cursor = NULL;
        if (rc)
            return rc;
        (*pages)++;
        for (size_t i = 0; i < l.count; i++) {
            strncat(keys, l.items[i].name, cap - strlen(keys) - 1);
            strncat(keys, "|", cap - strlen(keys) - 1);
        }
        if (l.complete) {
            assert_null(l.cursor);
            stor_list_free(&l);
            return 0;
        }
        assert_non_null(l.cursor);
        cursor = strdup(l.cursor);
        stor_list_free(&l);
        if (*pages > 10000)
            return -1;
    }
}

static void test_list_order(void **state)
{
    fx_t *f = *state;
    const char *keys[] = {"b", "a, ", "\xc3\xa9", "a", "a!", "A", "a\x7f", "\x7f"};
    for (int i = 0; i < 8; i++)
        assert_int_equal(put(f->s, NS1, keys[i], 1, 1, "v", 0), 0);
    assert_int_equal(put(f->s, NS2, "a0", 1, 1, "v", 0), 0);
    char got[512];
    int pages;
    assert_int_equal(list_all(f->s, NS1, NULL, 1000, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "A|a|a!|a, |a\x7f|b|\x7f|\xc3\xa9|");
    assert_int_equal(pages, 1);
    assert_int_equal(list_all(f->s, NS2, NULL, 1000, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "a0|");

    /* Items carry expiration and metadata copies. */
    stor_record_t r = mkrec(5, 1, "v", 4102444800, "{\"x\":1}");
    assert_int_equal(stor_apply(f->s, NS2, "m", 1, &r), 0);
    stor_list_t l;
    assert_int_equal(stor_list(f->s, NS2, NULL, 0, NULL, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 2);
    assert_true(l.complete);
    assert_string_equal(l.items[0].name, "a0");
    assert_int_equal(l.items[0].name_len, 2);
    assert_null(l.items[0].metadata);
    assert_int_equal(l.items[0].expiration, 0);
    assert_string_equal(l.items[1].name, "m");
    assert_string_equal(l.items[1].metadata, "{\"x\":1}");
    assert_int_equal(l.items[1].metadata_len, 7);
    assert_int_equal(l.items[1].expiration, 4102444800);
    stor_list_free(&l);
}

static void test_list_prefix(void **state)
{
    fx_t *f = *state;
    const char *keys[] = {"u", "user",      "user:1",        "user:2", "users",
                          "v", "p\xff\xff", "p\xff\xff\x61", "q"};
    for (int i = 0; i < 9; i++)
        assert_int_equal(put(f->s, NS1, keys[i], 1, 1, "v", 0), 0);
    char got[512];
    int pages;
    assert_int_equal(list_all(f->s, NS1, "user:", 1000, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "user:1|user:2|");
    assert_int_equal(list_all(f->s, NS1, "user", 1, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "user|user:1|user:2|users|");
    assert_int_equal(pages, 4);
    /* A prefix ending in 0xff bytes: the range end must carry correctly. */
    assert_int_equal(list_all(f->s, NS1, "p\xff", 1000, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "p\xff\xff|p\xff\xff\x61|");
    assert_int_equal(list_all(f->s, NS1, "zz", 1000, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "");
    assert_int_equal(pages, 1);
}

static void test_list_paging(void **state)
{
    fx_t *f = *state;
    char expect[1024] = "";
    for (int i = 0; i < 25; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%02d", i);
        assert_int_equal(put(f->s, NS1, k, 1, 1, "v", 0), 0);
        strcat(expect, k);
        strcat(expect, "|");
    }
    char got[1024];
    int pages;
    assert_int_equal(list_all(f->s, NS1, NULL, 10, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, expect);
    assert_int_equal(pages, 3);
    /* 25 keys by 5: the 5th page is full and complete (peek found nothing). */
    assert_int_equal(list_all(f->s, NS1, NULL, 5, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, expect);
    assert_int_equal(pages, 5);

    stor_list_t l;
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, NULL, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 10);
    assert_false(l.complete);
    assert_string_equal(l.items[9].name, "key09");
    char *c = strdup(l.cursor);
    stor_list_free(&l);
    /* The cursor resumes strictly after key09 and works with a new limit. */
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, c, 1, now_s(), &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "key10");
    stor_list_free(&l);
    free(c);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, "", 1000, now_s(), &l), 0);
    assert_int_equal(l.count, 25);
    assert_true(l.complete);
    stor_list_free(&l);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, NULL, 0, now_s(), &l), KV_EINVAL);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, NULL, KV_LIST_MAX_KEYS + 1, now_s(), &l),
                     KV_EINVAL);
}

static void test_list_hidden(void **state)
{
    fx_t *f = *state;
    int64_t now = now_s();
    assert_int_equal(put(f->s, NS1, "a", 1, 1, "v", 0), 0);
    assert_int_equal(put(f->s, NS1, "b-expired", 1, 1, "v", now - 5), 0);
    assert_int_equal(put(f->s, NS1, "c-expires-now", 1, 1, "v", now), 0);
    assert_int_equal(put(f->s, NS1, "d-deleted", 1, 1, "v", 0), 0);
    assert_int_equal(del(f->s, NS1, "d-deleted", 2, 1), 0);
    assert_int_equal(put(f->s, NS1, "e-future", 1, 1, "v", now + 3600), 0);
    char got[512];
    int pages;
    assert_int_equal(list_all(f->s, NS1, NULL, 1000, now, got, sizeof(got), &pages), 0);
    assert_string_equal(got, "a|e-future|");
    /* Limit 1: the peek skips hidden keys to find e-future, so page 1 is not
     * complete, and page 2 (holding e-future) is. */
    assert_int_equal(list_all(f->s, NS1, NULL, 1, now, got, sizeof(got), &pages), 0);
    assert_string_equal(got, "a|e-future|");
    assert_int_equal(pages, 2);
    /* An hour later everything but "a" has gone. */
    assert_int_equal(list_all(f->s, NS1, NULL, 1, now + 3600, got, sizeof(got), &pages), 0);
    assert_string_equal(got, "a|");
    assert_int_equal(pages, 1);
}

/* Minimal base64url (no padding) for hand-made cursors. */
static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = t[(acc >> bits) & 63];
        }
    }
    if (bits)
        *out++ = t[(acc << (6 - bits)) & 63];
    *out = '\0';
}

static void test_list_bad_cursor(void **state)
{
    fx_t *f = *state;
    assert_int_equal(put(f->s, NS1, "a", 1, 1, "v", 0), 0);
    assert_int_equal(put(f->s, NS1, "b", 1, 1, "v", 0), 0);
    stor_list_t l;
    const char *bad[] = {"garbage", "k",   "k!!!", "kA",         "kAB",
                         "k====",   "xYQ", "kYQ=", "kYQ\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l.count = 99;
        assert_int_equal(stor_list(f->s, NS1, NULL, 0, bad[i], 10, now_s(), &l), KV_EBADCURSOR);
        assert_int_equal(l.count, 0);
        assert_null(l.items);
    }
    /* A well-formed cursor naming a key longer than any key can be. */
    uint8_t big[KV_KEY_MAX_BYTES + 1];
    memset(big, 'x', sizeof(big));
    char c[1 + 4 * sizeof(big) / 3 + 4];
    c[0] = 'k';
    b64url(big, sizeof(big), c + 1);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, c, 10, now_s(), &l), KV_EBADCURSOR);
    b64url(big, KV_KEY_MAX_BYTES, c + 1);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, c, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 0);
    assert_true(l.complete);
    stor_list_free(&l);
    /* "kYQ" is a valid encoding of "a": resume strictly after it. */
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, "kYQ", 10, now_s(), &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "b");
    stor_list_free(&l);
}

/* More tombstones than one scan may examine: short pages, but the walk ends
 * and finds every live key exactly once. */
static void test_list_scan_budget(void **state)
{
    fx_t *f = *state;
    size_t n = KV_LIST_SCAN_MAX + 5;
    stor_mutation_t *m = calloc(n + 2, sizeof(*m));
    char(*keys)[16] = calloc(n + 2, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "t%06zu", i);
        m[i] = mut(NS1, keys[i], 1, NULL);
        m[i].rec.tombstone = true;
    }
    m[n] = mut(NS1, "a", 1, "live");
    m[n + 1] = mut(NS1, "z", 1, "live");
    assert_int_equal(stor_apply_batch(f->s, m, n + 2, NULL), 0);
    stor_list_t l;
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, NULL, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "a");
    assert_false(l.complete);
    assert_non_null(l.cursor);
    char *c = strdup(l.cursor);
    stor_list_free(&l);
    assert_int_equal(stor_list(f->s, NS1, NULL, 0, c, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "z");
    assert_true(l.complete);
    stor_list_free(&l);
    free(c);
    /* Only tombstones under a prefix: an empty, incomplete first page. */
    char got[64];
    int pages;
    assert_int_equal(stor_list(f->s, NS1, "t", 1, NULL, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 0);
    assert_false(l.complete);
    stor_list_free(&l);
    assert_int_equal(list_all(f->s, NS1, "t", 10, now_s(), got, sizeof(got), &pages), 0);
    assert_string_equal(got, "");
    assert_int_equal(pages, 2);
    free(m);
    free(keys);
}

/* ---- durability and expiry ---------------------------------------------------------- */

static void test_reopen(void **state)
{
    fx_t *f = *state;
    char buf[64];
    stor_ns_t ns;
    assert_int_equal(put(f->s, NS1, "k", 3, 1, "kept", 0), 0);
    assert_int_equal(stor_ns_create(f->s, "acct", "title", (kv_version_t){9, 1}, NULL, &ns), 0);
    assert_int_equal(stor_state_put(f->s, "history", "h-1", 3), 0);
    fx_reopen(f);
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "kept");
    assert_int_equal(put(f->s, NS1, "k", 3, 1, "again", 0), KV_ESTALE);
    stor_ns_t got;
    assert_int_equal(stor_ns_get(f->s, ns.id, &got), 0);
    assert_string_equal(got.title, "title");
    assert_string_equal(got.account, "acct");
    assert_true(got.version.hlc == 9);
    assert_int_equal(got.version.node_id, 1);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(stor_state_get(f->s, "history", &v, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(v, "h-1");
    kv_free(v);
}

/* Bytes in the store's WAL files (NNNNNN.log). */
static off_t wal_bytes(const char *dir)
{
    off_t total = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        char path[STORE_FX_DIR_CAP + 300];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0)
            total += st.st_size;
    }
    closedir(d);
    return total;
}

/* A clean close leaves nothing in the WAL to replay: the memtables were
 * written out (a 64 MiB memtable's replay made a restart take 0.6 s). */
static void test_close_flushes(void **state)
{
    enum { N = 2000, VAL = 500 }; /* 1 MB: well under the 4 MiB memtable */
    fx_t *f = *state;
    char key[32], val[VAL + 1], buf[VAL + 1];
    memset(val, 'v', VAL);
    val[VAL] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        assert_int_equal(put(f->s, NS1, key, 3, 1, val, 0), 0);
    }
    assert_true(wal_bytes(f->dir) >= (off_t)N * VAL); /* still only in the WAL */
    stor_close(f->s);
    f->s = NULL;
    assert_true(wal_bytes(f->dir) < 4096);
    fx_open(f);
    for (int i = 0; i < N; i += 97) {
        snprintf(key, sizeof key, "k%05d", i);
        assert_string_equal(store_fx_value(f->s, NS1, key, buf, sizeof buf), val);
    }
}

static void test_compaction_filter(void **state)
{
    fx_t *f = *state;
    int64_t now = now_s();
    char buf[64];
    /* "r" first lives in the bottom level, then gets an expired version:
     * the filter must not resurrect the old one. */
    assert_int_equal(put(f->s, NS1, "r", 1, 1, "old", 0), 0);
    assert_int_equal(stor_compact(f->s), 0);
    assert_int_equal(put(f->s, NS1, "r", 2, 1, "expired", now - 10), 0);
    assert_int_equal(put(f->s, NS1, "expired", 1, 1, "x", now - 10), 0);
    assert_int_equal(put(f->s, NS1, "future", 1, 1, "x", now + 3600), 0);
    assert_int_equal(put(f->s, NS1, "forever", 1, 1, "x", 0), 0);
    int64_t ms = now * 1000;
    int64_t keep_ms = f->o.tombstone_retention_s * 1000;
    assert_int_equal(del(f->s, NS1, "old-del", hlc_at_ms(ms - keep_ms - 60000), 1), 0);
    assert_int_equal(del(f->s, NS1, "new-del", hlc_at_ms(ms), 1), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "expired", buf, sizeof(buf)), "x");
    /* A value in a blob file is filtered too (RocksDB fetches it for us). */
    char *bigval = malloc(4 * KV_BLOB_MIN_BYTES + 1);
    memset(bigval, 'b', 4 * KV_BLOB_MIN_BYTES);
    bigval[4 * KV_BLOB_MIN_BYTES] = '\0';
    assert_int_equal(put(f->s, NS1, "big-expired", 1, 1, bigval, now - 10), 0);
    assert_int_equal(put(f->s, NS1, "big-live", 1, 1, bigval, 0), 0);
    assert_int_equal(stor_compact(f->s), 0);
    stor_blob_t *b = NULL;
    assert_int_equal(stor_get(f->s, NS1, "big-expired", 11, &b), 0);
    assert_null(b);
    assert_int_equal(stor_get(f->s, NS1, "big-live", 8, &b), 0);
    assert_non_null(b);
    assert_int_equal(b->len, STOR_RECORD_HEADER_BYTES + 4 * KV_BLOB_MIN_BYTES);
    stor_blob_unref(b);
    free(bigval);
    assert_string_equal(store_fx_value(f->s, NS1, "r", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS1, "expired", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS1, "future", buf, sizeof(buf)), "x");
    assert_string_equal(store_fx_value(f->s, NS1, "forever", buf, sizeof(buf)), "x");
    assert_string_equal(store_fx_value(f->s, NS1, "old-del", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS1, "new-del", buf, sizeof(buf)), "<del>");
    fx_reopen(f);
    assert_string_equal(store_fx_value(f->s, NS1, "r", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS1, "forever", buf, sizeof(buf)), "x");
}

/* ---- sync policies ----------------------------------------------------------------- */

/* Successful syncs of WAL files (*.log): by this thread, by any thread. */
static _Thread_local uint64_t t_wal_syncs;
static atomic_uint_fast64_t g_wal_syncs;

static void count_wal_sync(int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 4 || memcmp(path + n - 4, ".log", 4) != 0)
        return;
    t_wal_syncs++;
    atomic_fetch_add(&g_wal_syncs, 1);
}

/* Counted once the sync has returned: a count seen after a write returned
 * is a sync that finished before the write was acknowledged. */
int fdatasync(int fd)
{
    int rc = (int)syscall(SYS_fdatasync, fd);
    if (rc == 0)
        count_wal_sync(fd);
    return rc;
}

int fsync(int fd)
{
    int rc = (int)syscall(SYS_fsync, fd);
    if (rc == 0)
        count_wal_sync(fd);
    return rc;
}

static void fx_reopen_sync(fx_t *f, stor_sync_t sync, unsigned interval_ms)
{
    stor_close(f->s);
    f->o.sync = sync;
    f->o.sync_interval_ms = interval_ms;
    fx_open(f);
}

#define SYNC_WRITERS     4
#define SYNC_WRITES_EACH 25
#define SYNC_WAIT_MS     10000 /* generous: the machine may be loaded */

static void *sync_writer(void *arg)
{
    fx_t *f = arg;
    static atomic_int next_id;
    int id = atomic_fetch_add(&next_id, 1);
    for (int i = 0; i < SYNC_WRITES_EACH; i++) {
        char k[32];
        snprintf(k, sizeof(k), "w%d-%d", id, i);
        if (put(f->s, NS1, k, 1, 1, "v", 0) != 0)
            return (void *)1;
    }
    return NULL;
}

/* ALWAYS: no write is acknowledged before a WAL sync that covers it has
 * finished. Sequential writes are one write group each: RocksDB counts one
 * sync per write, and the writing thread itself fdatasynced a WAL file
 * before the call returned. Concurrent writes share syncs (group commit),
 * but every group syncs. */
static void test_sync_always(void **state)
{
    fx_t *f = *state;
    fx_reopen_sync(f, STOR_SYNC_ALWAYS, 5);
    stor_stats_t a, b;
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "seq%d", i);
        stor_get_stats(f->s, &a);
        uint64_t t0 = t_wal_syncs;
        if (i % 2)
            assert_int_equal(put(f->s, NS1, k, 1, 1, "v", 0), 0);
        else /* the commit path (state, namespaces, the log) syncs alike */
            assert_int_equal(stor_state_put(f->s, k, "v", 1), 0);
        uint64_t t1 = t_wal_syncs;
        stor_get_stats(f->s, &b);
        assert_int_equal(b.commit_groups - a.commit_groups, 1);
        assert_int_equal(b.wal_syncs - a.wal_syncs, 1);
        assert_true(t1 - t0 >= 1);
    }
    assert_int_equal(b.wal_interval_syncs, 0);

    stor_get_stats(f->s, &a);
    uint64_t g0 = atomic_load(&g_wal_syncs);
    pthread_t t[SYNC_WRITERS];
    for (int i = 0; i < SYNC_WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sync_writer, f), 0);
    for (int i = 0; i < SYNC_WRITERS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    uint64_t g1 = atomic_load(&g_wal_syncs);
    stor_get_stats(f->s, &b);
    uint64_t groups = b.commit_groups - a.commit_groups;
    assert_true(groups >= 1 && groups <= SYNC_WRITERS * SYNC_WRITES_EACH);
    assert_int_equal(b.wal_syncs - a.wal_syncs, groups);
    assert_true(g1 - g0 >= groups);
    assert_int_equal(b.wal_interval_syncs, 0);
}

/* OFF: writes are acknowledged with no WAL sync at all, RocksDB's count
 * and the real calls alike. */
static void test_sync_off(void **state)
{
    fx_t *f = *state;
    fx_reopen_sync(f, STOR_SYNC_OFF, 5);
    stor_stats_t a, b;
    stor_get_stats(f->s, &a);
    uint64_t g0 = atomic_load(&g_wal_syncs);
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(put(f->s, NS1, k, 1, 1, "v", 0), 0);
    }
    assert_int_equal(stor_state_put(f->s, "s", "v", 1), 0);
    stor_get_stats(f->s, &b);
    assert_int_equal(b.commit_groups - a.commit_groups, 21);
    assert_int_equal(b.wal_syncs, 0);
    assert_int_equal(b.wal_interval_syncs, 0);
    assert_int_equal(atomic_load(&g_wal_syncs) - g0, 0);
    /* The sizes alone: the same memtable figure, no counter read. */
    stor_stats_t z;
    stor_get_sizes(f->s, &z);
    assert_true(z.memtable_bytes > 0);
    assert_int_equal(z.memtable_bytes, b.memtable_bytes);
    assert_int_equal(z.commit_groups, 0);
    assert_int_equal(z.wal_syncs, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* BATCH: writes never sync; the interval thread does. With an interval
 * longer than the test, no WAL sync happens at all; with a short one the
 * syncs come, from another thread, while the writer has done none. */
static void test_sync_batch(void **state)
{
    fx_t *f = *state;
    fx_reopen_sync(f, STOR_SYNC_BATCH, 3600 * 1000);
    stor_stats_t a, b;
    stor_get_stats(f->s, &a);
    uint64_t g0 = atomic_load(&g_wal_syncs), t0 = t_wal_syncs;
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(put(f->s, NS1, k, 1, 1, "v", 0), 0);
    }
    stor_get_stats(f->s, &b);
    assert_int_equal(b.commit_groups - a.commit_groups, 20);
    assert_int_equal(b.wal_syncs, 0);
    assert_int_equal(b.wal_interval_syncs, 0);
    assert_int_equal(atomic_load(&g_wal_syncs) - g0, 0);

    fx_reopen_sync(f, STOR_SYNC_BATCH, 5);
    t0 = t_wal_syncs;
    g0 = atomic_load(&g_wal_syncs);
    assert_int_equal(put(f->s, NS1, "after", 1, 1, "v", 0), 0);
    uint64_t deadline = now_ms() + SYNC_WAIT_MS;
    do {
        stor_get_stats(f->s, &b);
        if (b.wal_interval_syncs >= 3 && atomic_load(&g_wal_syncs) - g0 >= 1)
            break;
        usleep(1000); /* polling: the condition, not this pause, ends the wait */
    } while (now_ms() < deadline);
    assert_true(b.wal_interval_syncs >= 3);
    assert_true(b.wal_syncs >= 1 && b.wal_syncs <= b.wal_interval_syncs);
    assert_true(atomic_load(&g_wal_syncs) - g0 >= 1);
    assert_int_equal(t_wal_syncs - t0, 0); /* none in the writing thread */
}

/* Whatever the policy, a clean close is durable (close syncs the WAL). */
static void test_sync_policies(void **state)
{
    fx_t *f = *state;
    const stor_sync_t pol[] = {STOR_SYNC_ALWAYS, STOR_SYNC_BATCH, STOR_SYNC_OFF};
    char buf[64];
    for (int i = 0; i < 3; i++) {
        fx_reopen_sync(f, pol[i], 5);
        for (uint64_t v = 1; v <= 20; v++) {
            char val[16];
            snprintf(val, sizeof(val), "%d-%u", i, (unsigned)v);
            assert_int_equal(put(f->s, NS1, "k", 100 * (uint64_t)i + v, 1, val, 0), 0);
        }
        fx_reopen(f);
        char want[16];
        snprintf(want, sizeof(want), "%d-20", i);
        assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), want);
    }
    stor_sync_t s;
    assert_int_equal(stor_sync_parse("batch", &s), 0);
    assert_int_equal(s, STOR_SYNC_BATCH);
    assert_int_equal(stor_sync_parse("always", &s), 0);
    assert_int_equal(s, STOR_SYNC_ALWAYS);
    assert_int_equal(stor_sync_parse("off", &s), 0);
    assert_int_equal(s, STOR_SYNC_OFF);
    assert_int_equal(stor_sync_parse("sometimes", &s), KV_EINVAL);
    assert_string_equal(stor_sync_name(STOR_SYNC_BATCH), "batch");
    stor_options_t o = f->o;
    stor_t *t = (stor_t *)1;
    o.sync = STOR_SYNC_BATCH;
    o.sync_interval_ms = 0;
    assert_int_equal(stor_open(&o, &t), KV_ECONFIG);
    assert_null(t);
}

static void test_open_errors(void **state)
{
    fx_t *f = *state;
    stor_options_t o = f->o;
    stor_t *t = (stor_t *)1;
    o.path = NULL;
    assert_int_equal(stor_open(&o, &t), KV_ECONFIG);
    assert_null(t);
    o.path = "";
    assert_int_equal(stor_open(&o, &t), KV_ECONFIG);
    /* A directory below a regular file cannot be created. */
    char file[128], under[160];
    snprintf(file, sizeof(file), "%s/plain-file", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(under, sizeof(under), "%s/db", file);
    o.path = under;
    assert_int_equal(stor_open(&o, &t), KV_EIO);
    assert_null(t);
    /* The store already open holds the DB lock: a second open fails cleanly. */
    o.path = f->dir;
    assert_int_equal(stor_open(&o, &t), KV_EIO);
    assert_null(t);
    stor_close(NULL);
}

static void test_big_value(void **state)
{
    fx_t *f = *state;
    size_t n = KV_VALUE_MAX_BYTES;
    uint8_t *v = malloc(n + 1);
    uint64_t x = 88172645463325252ull; /* xorshift64: incompressible bytes */
    for (size_t i = 0; i < n + 1; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (uint8_t)x;
    }
    stor_record_t r = mkrec(1, 1, NULL, 0, "{}");
    r.value = v;
    r.value_len = n;
    assert_int_equal(stor_apply(f->s, NS1, "big", 3, &r), 0);
    r.value_len = n + 1;
    r.version.hlc = 2;
    assert_int_equal(stor_apply(f->s, NS1, "big", 3, &r), KV_ETOOBIG);
    stor_blob_t *b = NULL;
    assert_int_equal(stor_get(f->s, NS1, "big", 3, &b), 0);
    stor_record_t d;
    stor_blob_record(b, &d);
    assert_int_equal(d.value_len, n);
    assert_memory_equal(d.value, v, n);
    stor_blob_unref(b);
    assert_int_equal(stor_compact(f->s), 0);
    stor_stats_t st;
    stor_get_stats(f->s, &st);
    assert_true(st.blob_bytes >= n); /* random bytes do not compress */
    assert_true(st.live_sst_bytes > 0);
    assert_true(st.live_sst_bytes < n / 4); /* the value went to a blob file */
    fx_reopen(f);
    assert_int_equal(stor_get(f->s, NS1, "big", 3, &b), 0);
    stor_blob_record(b, &d);
    assert_int_equal(d.value_len, n);
    assert_memory_equal(d.value, v, n);
    stor_blob_unref(b);
    free(v);
}

/* ---- allocation failure ------------------------------------------------------------- */

static void test_oom(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        stor_record_t r = mkrec(1, 1, "v", 0, "{\"m\":1}");
        assert_int_equal(stor_apply(f->s, NS1, k, strlen(k), &r), 0);
    }
    int get_fail = 0, list_fail = 0, list_ok = 0;
    for (long n = 0; n < 12; n++) {
        stor_blob_t *b = (stor_blob_t *)1;
        kv_mem_failing_set(n);
        int rc = stor_get(f->s, NS1, "k1", 2, &b);
        kv_mem_set(NULL);
        if (rc) {
            assert_int_equal(rc, -ENOMEM);
            assert_null(b);
            get_fail++;
        } else {
            assert_non_null(b);
            stor_blob_unref(b);
        }
        stor_list_t l;
        kv_mem_failing_set(n);
        rc = stor_list(f->s, NS1, NULL, 0, NULL, 4, now_s(), &l);
        kv_mem_set(NULL);
        if (rc) {
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(l.count, 0);
            assert_null(l.items);
            assert_null(l.cursor);
            list_fail++;
        } else {
            assert_int_equal(l.count, 4);
            assert_non_null(l.cursor);
            stor_list_free(&l);
            list_ok++;
        }
    }
    /* get allocates once; list 1 (items) + 4 names + 4 metadata + cursor. */
    assert_int_equal(get_fail, 1);
    assert_int_equal(list_fail, 10);
    assert_int_equal(list_ok, 2);

    const char *keys[] = {"k1", "k2", "k3"};
    size_t lens[] = {2, 2, 2};
    stor_blob_t *out[3];
    for (long n = 0; n < 4; n++) {
        kv_mem_failing_set(n);
        int rc = stor_multi_get(f->s, NS1, keys, lens, 3, out);
        kv_mem_set(NULL);
        assert_int_equal(rc, n < 4 ? -ENOMEM : 0);
        for (int i = 0; i < 3; i++)
            assert_null(out[i]);
    }
    stor_mutation_t m[] = {mut(NS1, "k1", 9, "x"), mut(NS1, "k2", 9, "y")};
    kv_mem_failing_set(0);
    assert_int_equal(stor_apply_batch(f->s, m, 2, NULL), -ENOMEM);
    kv_mem_set(NULL);
    char buf[16];
    assert_string_equal(store_fx_value(f->s, NS1, "k1", buf, sizeof(buf)), "v");
}

/* ---- namespaces ---------------------------------------------------------------------- */

static void test_ns_basic(void **state)
{
    fx_t *f = *state;
    stor_ns_t a, b, c, got;
    kv_version_t v1 = {1, 1};
    assert_int_equal(stor_ns_create(f->s, "acc1", "t1", v1, NULL, &a), 0);
    assert_int_equal(strlen(a.id), KV_NS_ID_LEN);
    assert_int_equal(strspn(a.id, "0123456789abcdef"), KV_NS_ID_LEN);
    assert_int_equal(stor_ns_get(f->s, a.id, &got), 0);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.title, "t1");
    assert_int_equal(stor_ns_create(f->s, "acc2", "t1", v1, NULL, &b), 0);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(stor_ns_create(f->s, "acc1", "t2", v1, NULL, &c), 0);

    /* Rename: a new title, its own title. (Whether a title is free is the
     * origin's judgement, node/replica/judge.c: storage applies.) */
    assert_int_equal(stor_ns_rename(f->s, a.id, "t3", (kv_version_t){2, 1}), 0);
    assert_int_equal(stor_ns_get(f->s, a.id, &got), 0);
    assert_string_equal(got.title, "t3");
    assert_true(got.version.hlc == 2);
    assert_int_equal(stor_ns_rename(f->s, a.id, "t3", (kv_version_t){3, 1}), 0);
    assert_int_equal(stor_ns_get(f->s, a.id, &got), 0);
    assert_string_equal(got.title, "t3");

    /* Unknown and malformed ids. */
    assert_int_equal(stor_ns_get(f->s, NS1, &got), KV_ENOTFOUND);
    assert_int_equal(stor_ns_get(f->s, "abc", &got), KV_ENOTFOUND);
    assert_int_equal(stor_ns_rename(f->s, NS1, "x", v1), KV_ENOTFOUND);
    assert_int_equal(stor_ns_rename(f->s, "abc", "x", v1), KV_ENOTFOUND);
    assert_int_equal(stor_ns_create(f->s, "", "t", v1, NULL, NULL), KV_EINVAL);
    assert_int_equal(stor_ns_create(f->s, "acc1", "", v1, NULL, NULL), KV_EINVAL);

    /* Delete drops the namespace's records, and only those. */
    char buf[64];
    assert_int_equal(put(f->s, a.id, "k1", 1, 1, "v", 0), 0);
    assert_int_equal(put(f->s, a.id, "k2", 1, 1, "v", 0), 0);
    assert_int_equal(put(f->s, c.id, "k1", 1, 1, "other", 0), 0);
    assert_int_equal(stor_ns_delete(f->s, a.id, (kv_version_t){5, 1}), 0);
    assert_int_equal(stor_ns_get(f->s, a.id, &got), KV_ENOTFOUND);
    assert_string_equal(store_fx_value(f->s, a.id, "k1", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, a.id, "k2", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, c.id, "k1", buf, sizeof(buf)), "other");
    stor_list_t l;
    assert_int_equal(stor_list(f->s, a.id, NULL, 0, NULL, 10, now_s(), &l), 0);
    assert_int_equal(l.count, 0);
    assert_true(l.complete);
    stor_list_free(&l);
    /* Deleting an id not known here still applies (and wipes its range). */
    assert_int_equal(stor_ns_delete(f->s, a.id, (kv_version_t){6, 1}), 0);
}

static void test_ns_id_opt(void **state)
{
    fx_t *f = *state;
    stor_ns_t a, got;
    kv_version_t v = {7, 3};
    assert_int_equal(stor_ns_create(f->s, "acc", "x", v, NS1, &a), 0);
    assert_string_equal(a.id, NS1);
    assert_int_equal(stor_ns_get(f->s, NS1, &got), 0);
    assert_string_equal(got.title, "x");
    /* A create over an existing id replaces its entry (the origin decided). */
    assert_int_equal(stor_ns_create(f->s, "other", "y", v, NS1, NULL), 0);
    assert_int_equal(stor_ns_get(f->s, NS1, &got), 0);
    assert_string_equal(got.account, "other");
    assert_string_equal(got.title, "y");
    assert_int_equal(stor_ns_create(f->s, "acc", "y", v, "0123", NULL), KV_EINVAL);
    assert_int_equal(stor_ns_create(f->s, "acc", "y", v, "0123456789ABCDEF0123456789ABCDEF", NULL),
                     KV_EINVAL);
    assert_int_equal(stor_ns_create(f->s, "acc", "y", v, NS2, NULL), 0);
}

static void test_ns_list(void **state)
{
    fx_t *f = *state;
    const char *titles[] = {"e", "c", "a", "d", "b"};
    const char *ids[] = {"00000000000000000000000000000004", "00000000000000000000000000000002",
                         "00000000000000000000000000000005", "00000000000000000000000000000001",
                         "00000000000000000000000000000003"};
    kv_version_t v = {1, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(stor_ns_create(f->s, "acc", titles[i], v, ids[i], NULL), 0);
    assert_int_equal(stor_ns_create(f->s, "zzz", "a", v, NULL, NULL), 0);
    assert_int_equal(stor_ns_create(f->s, "aaa", "b", v, NULL, NULL), 0);
    stor_ns_t *out = NULL;
    size_t count = 0, total = 0;
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_TITLE, false, 1, 2, &out, &count, &total), 0);
    assert_int_equal(count, 2);
    assert_int_equal(total, 5);
    assert_string_equal(out[0].title, "a");
    assert_string_equal(out[1].title, "b");
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_TITLE, false, 3, 2, &out, &count, &total), 0);
    assert_int_equal(count, 1);
    assert_string_equal(out[0].title, "e");
    assert_string_equal(out[0].account, "acc");
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_TITLE, false, 4, 2, &out, &count, &total), 0);
    assert_int_equal(count, 0);
    assert_int_equal(total, 5);
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_TITLE, true, 1, 2, &out, &count, &total), 0);
    assert_int_equal(count, 2);
    assert_string_equal(out[0].title, "e");
    assert_string_equal(out[1].title, "d");
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_ID, false, 1, 10, &out, &count, &total), 0);
    assert_int_equal(count, 5);
    const char *by_id = "dcbea";
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i].title[0], by_id[i]);
    kv_free(out);
    assert_int_equal(stor_ns_list(f->s, "acc", STOR_NS_ORDER_ID, true, 2, 3, &out, &count, &total),
                     0);
    assert_int_equal(count, 2);
    assert_string_equal(out[0].title, "c");
    assert_string_equal(out[1].title, "d");
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "none", STOR_NS_ORDER_ID, false, 1, 10, &out, &count, &total), 0);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    kv_free(out);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_ID, false, 0, 10, &out, &count, &total), KV_EINVAL);
    /* Survives a reopen, order included. */
    fx_reopen(f);
    assert_int_equal(
        stor_ns_list(f->s, "acc", STOR_NS_ORDER_TITLE, false, 1, 10, &out, &count, &total), 0);
    assert_int_equal(count, 5);
    const char *by_title = "abcde";
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i].title[0], by_title[i]);
    kv_free(out);
}

/* ---- state and stats ----------------------------------------------------------------- */

static void test_state(void **state)
{
    fx_t *f = *state;
    char *v = (char *)1;
    size_t len = 99;
    assert_int_equal(stor_state_get(f->s, "account", &v, &len), KV_ENOTFOUND);
    assert_null(v);
    assert_int_equal(stor_state_put(f->s, "account", "abc", 3), 0);
    assert_int_equal(stor_state_get(f->s, "account", &v, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(v, "abc");
    kv_free(v);
    assert_int_equal(stor_state_put(f->s, "account", "de", 2), 0);
    assert_int_equal(stor_state_get(f->s, "account", &v, &len), 0);
    assert_int_equal(len, 2);
    assert_string_equal(v, "de");
    kv_free(v);
    assert_int_equal(stor_state_put(f->s, "empty", NULL, 0), 0);
    assert_int_equal(stor_state_get(f->s, "empty", &v, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(v, "");
    kv_free(v);
    assert_int_equal(stor_state_put(f->s, "", "x", 1), KV_EINVAL);
}

static void test_stats(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        assert_int_equal(put(f->s, NS1, k, 1, 1, "value", 0), 0);
    }
    stor_stats_t st;
    stor_get_stats(f->s, &st);
    assert_true(st.memtable_bytes > 0);
    assert_true(st.estimated_keys >= 90 && st.estimated_keys <= 110);
    assert_int_equal(stor_compact(f->s), 0);
    char buf[16];
    assert_string_equal(store_fx_value(f->s, NS1, "key42", buf, sizeof(buf)), "value");
    stor_get_stats(f->s, &st);
    assert_true(st.live_sst_bytes > 0);
    assert_true(st.block_cache_bytes > 0);
}

/* Wait (30 s at most) until no flush or compaction runs or waits; *st the
 * last sample. RocksDB may still schedule work of its own right after a
 * manual compaction returned, so quiet is waited for, not assumed. */
static void wait_quiet(stor_t *s, stor_stats_t *st)
{
    for (int i = 0; i < 3000; i++) {
        stor_get_sizes(s, st);
        if (st->bg_running == 0 && st->bg_pending == 0)
            return;
        usleep(10000);
    }
}

/* The background gauges see the flushes of a 64 KiB memtable filling again
 * and again, and fall to 0 once the writes stop and the work is done. */
static void test_stats_background(void **state)
{
    fx_t *f = *state;
    stor_close(f->s);
    f->o.write_buffer_bytes = 64 * 1024;
    fx_open(f);
    static char val[4096];
    memset(val, 'v', sizeof(val) - 1);
    stor_stats_t st;
    bool busy = false;
    /* 8 000 writes of 4 KiB are some 500 flushes; the first sample taken
     * while one runs or waits ends the writing. */
    for (int i = 0; i < 8000 && !busy; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        assert_int_equal(put(f->s, NS1, k, (uint64_t)i + 1, 1, val, 0), 0);
        stor_get_sizes(f->s, &st);
        busy = st.bg_running > 0 || st.bg_pending > 0;
    }
    assert_true(busy);
    wait_quiet(f->s, &st);
    assert_int_equal(st.bg_running, 0);
    assert_int_equal(st.bg_pending, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_get),
        T(test_lww),
        T(test_tombstone),
        T(test_batch),
        T(test_perf_counters_off),
        T(test_multi_get),
        T(test_lww_concurrent),
        T(test_list_order),
        T(test_list_prefix),
        T(test_list_paging),
        T(test_list_hidden),
        T(test_list_bad_cursor),
        T(test_list_scan_budget),
        T(test_reopen),
        T(test_close_flushes),
        T(test_compaction_filter),
        T(test_sync_policies),
        T(test_sync_always),
        T(test_sync_off),
        T(test_sync_batch),
        T(test_open_errors),
        T(test_big_value),
        T(test_oom),
        T(test_ns_basic),
        T(test_ns_id_opt),
        T(test_ns_list),
        T(test_state),
        T(test_stats),
        T(test_stats_background),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
