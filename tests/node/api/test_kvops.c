/* test_kvops.c - node/api/kvops.c: every server-side validation rule of
 * KV-SPEC §2 with its exact text and status, cached reads, and writes
 * through a lone origin's replica (the one write path: node/replica/judge.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "kvops.h"
#include "replica.h"
#include "state.h"

#define NS    "0123456789abcdef0123456789abcdef"
#define NOW_S 1800000000LL

typedef struct {
    char dir[64];
    stor_t *store;
    cache_t *cache;
    kvops_t *ops;
    replica_t *replica;
    uint64_t now_ms;
} fx_t;

static uint64_t fake_clock(void *arg)
{
    return ((fx_t *)arg)->now_ms;
}

/* A lone origin: the origin core and its commit path, no listener. */
static void start_replica(fx_t *f)
{
    replica_config_t rc;
    replica_config_defaults(&rc, REPLICA_ORIGIN);
    rc.lone = true;
    rc.node_id = 7;
    rc.store = f->store;
    rc.cache = f->cache;
    assert_int_equal(replica_start(&rc, &f->replica), 0);
    kvops_set_replica(f->ops, f->replica);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    stor_options_t o;
    stor_ns_t ns;
    snprintf(f->dir, sizeof f->dir, "/tmp/edgekv-kvops-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_options_default(&o);
    o.path = f->dir;
    o.sync = STOR_SYNC_OFF;
    assert_int_equal(stor_open(&o, &f->store), 0);
    assert_int_equal(cache_create(1 << 20, &f->cache), 0);
    assert_int_equal(kvops_create(f->store, f->cache, &f->ops), 0);
    f->now_ms = (uint64_t)NOW_S * 1000 + 500;
    kvops_set_clock(f->ops, fake_clock, f);
    assert_int_equal(stor_ns_create(f->store, "acct", "t", (kv_version_t){1, 1}, NS, &ns), 0);
    start_replica(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    replica_stop(f->replica);
    kvops_destroy(f->ops);
    cache_destroy(f->cache);
    stor_close(f->store);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void expect_err(int rc, const kvop_err_t *e, int status, const char *msg)
{
    assert_int_equal(rc, -1);
    assert_int_equal(e->status, status);
    assert_string_equal(e->msg, msg);
}

static void test_keys(void **state)
{
    kvop_err_t e;
    char big[KV_KEY_MAX_BYTES + 2];
    (void)state;
    memset(big, 'x', sizeof big);
    expect_err(kvops_check_key("", 0, &e), &e, 400, "Key names must not be empty");
    expect_err(kvops_check_key(".", 1, &e), &e, 400,
               "Illegal key name \".\". Please use a different name.");
    expect_err(kvops_check_key("..", 2, &e), &e, 400,
               "Illegal key name \"..\". Please use a different name.");
    expect_err(kvops_check_key(big, KV_KEY_MAX_BYTES + 1, &e), &e, 414,
               "UTF-8 encoded length of 513 exceeds key length limit of 512.");
    assert_int_equal(kvops_check_key(big, KV_KEY_MAX_BYTES, &e), 0);
    assert_int_equal(kvops_check_key("...", 3, &e), 0);
    assert_int_equal(kvops_check_key(".a", 2, &e), 0);
    /* Not UTF-8: refused as the gateway's URL-decoding refuses it (rule 5). */
    expect_err(kvops_check_key("\xff", 1, &e), &e, 400, "Could not URL-decode key name");
    expect_err(kvops_check_key("a\xc3(", 3, &e), &e, 400, "Could not URL-decode key name");
    assert_int_equal(e.code, KVOP_CODE_KEY_INVALID);
    assert_int_equal(kvops_check_key("\xc3\xa9t\xc3\xa9", 6, &e), 0);
}

static void test_expiry_rules(void **state)
{
    kvop_err_t e;
    int64_t abs = -1;
    (void)state;
    /* Rule 7: TTL <= 0 (NaN arrives as 0). */
    expect_err(kvops_check_expiry(true, 0, false, 0, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration_ttl of 0. Please specify integer greater than 0.");
    expect_err(kvops_check_expiry(true, -5, false, 0, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration_ttl of -5. Please specify integer greater than 0.");
    /* Rule 8: 1..59. */
    expect_err(kvops_check_expiry(true, 30, false, 0, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration_ttl of 30. Expiration TTL must be at least 60.");
    expect_err(kvops_check_expiry(true, 59, false, 0, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration_ttl of 59. Expiration TTL must be at least 60.");
    /* Rule 9: expiration <= now. */
    expect_err(kvops_check_expiry(false, 0, true, NOW_S, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration of 1800000000. Please specify integer greater than the "
               "current number of seconds since the UNIX epoch.");
    expect_err(kvops_check_expiry(false, 0, true, 0, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration of 0. Please specify integer greater than the current number "
               "of seconds since the UNIX epoch.");
    /* Rule 10: now < expiration < now + 60. */
    expect_err(kvops_check_expiry(false, 0, true, NOW_S + 59, NOW_S, &abs, &e), &e, 400,
               "Invalid expiration of 1800000059. Expiration times must be at least 60 seconds "
               "in the future.");
    /* Rule 12: both given: TTL wins and only it is validated. */
    assert_int_equal(kvops_check_expiry(true, 60, true, 5, NOW_S, &abs, &e), 0);
    assert_int_equal(abs, NOW_S + 60);
    assert_int_equal(kvops_check_expiry(false, 0, true, NOW_S + 60, NOW_S, &abs, &e), 0);
    assert_int_equal(abs, NOW_S + 60);
    assert_int_equal(kvops_check_expiry(false, 0, false, 0, NOW_S, &abs, &e), 0);
    assert_int_equal(abs, 0);
    assert_int_equal(e.code, KVOP_CODE_EXPIRATION);
    /* Rule 11 first: outside the runtime's int32 range, whatever the rest
     * (now + ttl must never overflow). */
    static const int64_t absurd[] = {INT64_MAX, INT64_MIN, 9223372036000000000LL,
                                     (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        expect_err(kvops_check_expiry(true, absurd[i], false, 0, NOW_S, &abs, &e), &e, 400,
                   KVOPS_RULE_RANGE);
        expect_err(kvops_check_expiry(false, 0, true, absurd[i], NOW_S, &abs, &e), &e, 400,
                   KVOPS_RULE_RANGE);
        expect_err(kvops_check_expiry(true, absurd[i], true, NOW_S + 60, NOW_S, &abs, &e), &e, 400,
                   KVOPS_RULE_RANGE);
        assert_int_equal(e.code, KVOP_CODE_EXPIRATION);
    }
    assert_int_equal(kvops_check_expiry(true, INT32_MAX, false, 0, NOW_S, &abs, &e), 0);
    assert_int_equal(abs, NOW_S + INT32_MAX);
    /* An expiration is judged by rule 9 in range, by rule 11 past it. */
    assert_int_equal(kvops_check_expiry(false, 0, true, INT32_MAX, NOW_S, &abs, &e), 0);
}

static void test_metadata_and_value(void **state)
{
    kvop_err_t e;
    char meta[KV_METADATA_MAX_BYTES + 2];
    (void)state;
    meta[0] = '"';
    memset(meta + 1, 'm', sizeof meta - 1);
    meta[KV_METADATA_MAX_BYTES] = '"'; /* 1025 bytes: "mmm...m" + one more */
    expect_err(kvops_check_metadata(meta, KV_METADATA_MAX_BYTES + 1, &e), &e, 413,
               "Metadata length of 1025 exceeds limit of 1024.");
    meta[KV_METADATA_MAX_BYTES - 1] = '"';
    assert_int_equal(kvops_check_metadata(meta, KV_METADATA_MAX_BYTES, &e), 0);
    assert_int_equal(kvops_check_metadata("{\"a\":1}", 7, &e), 0);
    assert_int_equal(kvops_check_metadata("{bad", 4, &e), -1);
    assert_int_equal(e.status, 400);
    expect_err(kvops_check_value_len(KV_VALUE_MAX_BYTES + 1, &e), &e, 413,
               "Value length of 26214401 exceeds limit of 26214400.");
    assert_int_equal(kvops_check_value_len(KV_VALUE_MAX_BYTES, &e), 0);
}

static void put(fx_t *f, const char *key, const char *val, int64_t exp)
{
    kvops_write_t w = {.key = key,
                       .key_len = strlen(key),
                       .value = (const uint8_t *)val,
                       .value_len = strlen(val),
                       .expiration = exp};
    assert_int_equal(kvops_write(f->ops, NULL, NS, &w, 1), 0);
}

static void check_value(fx_t *f, const char *key, const char *val)
{
    stor_blob_t *b = (stor_blob_t *)1;
    stor_record_t r;
    assert_int_equal(kvops_get(f->ops, NS, key, strlen(key), &b), 0);
    if (!val) {
        assert_null(b);
        return;
    }
    assert_non_null(b);
    stor_blob_record(b, &r);
    assert_int_equal(r.value_len, strlen(val));
    assert_memory_equal(r.value, val, r.value_len);
    stor_blob_unref(b);
}

/* The origin refusing an edge's clock hint is a 503 that says which clock
 * to fix, not a bare 500 (replication/repl.h, max_clock_offset_ms). */
static void test_clock_refusal_answer(void **state)
{
    kvop_err_t e;
    (void)state;
    kvops_internal(KV_ECLOCK, "put", &e);
    assert_int_equal(e.status, 503);
    assert_int_equal(e.code, KVOP_CODE_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "clock"));
    assert_non_null(strstr(e.msg, "max_clock_offset_ms"));
    assert_non_null(strstr(e.msg, "not applied"));
}

static void test_write_read_delete(void **state)
{
    fx_t *f = *state;
    kvops_write_t del = {.key = "k", .key_len = 1, .tombstone = true};
    check_value(f, "k", NULL); /* negative, now cached */
    put(f, "k", "v1", 0);
    check_value(f, "k", "v1"); /* write-through replaced the negative entry */
    put(f, "k", "v2", 0);
    check_value(f, "k", "v2");
    assert_int_equal(kvops_write(f->ops, NULL, NS, &del, 1), 0);
    check_value(f, "k", NULL);
    put(f, "k", "v3", 0);
    check_value(f, "k", "v3");
}

static uint64_t origin_last_seq(fx_t *f)
{
    replica_status_t st;
    assert_int_equal(replica_status(f->replica, &st), 0);
    uint64_t seq = st.origin.last_seq;
    replica_status_free(&st);
    return seq;
}

/* The status never shows a last_seq behind a write that was answered, even
 * with the per-iteration publishing stopped: each write here is one seq. */
static void test_status_covers_answered(void **state)
{
    fx_t *f = *state;
    replica_status_freeze(f->replica, true);
    put(f, "s1", "v", 0);
    uint64_t a = origin_last_seq(f);
    put(f, "s2", "v", 0);
    uint64_t b = origin_last_seq(f);
    put(f, "s3", "v", 0);
    uint64_t c = origin_last_seq(f);
    replica_status_freeze(f->replica, false);
    assert_true(a >= 1);
    assert_int_equal(b, a + 1);
    assert_int_equal(c, a + 2);
}

static void test_expiry_at_read_time(void **state)
{
    fx_t *f = *state;
    put(f, "e", "soon", NOW_S + 60);
    check_value(f, "e", "soon");
    f->now_ms += 59 * 1000;
    check_value(f, "e", "soon");
    f->now_ms += 1000; /* expiration <= now: gone, even though cached */
    check_value(f, "e", NULL);
}

static void test_restart_keeps_order(void **state)
{
    fx_t *f = *state;
    put(f, "c", "new", 0);
    /* A restarted origin resumes its clock past every version it stored
     * (the core's hlc_last), so the next acknowledged write wins. */
    replica_stop(f->replica);
    start_replica(f);
    put(f, "c", "newer", 0);
    check_value(f, "c", "newer");
    cache_invalidate(f->cache, NS, "c", 1);
    check_value(f, "c", "newer"); /* from storage, not only the cache */
}

static void test_namespace_gone(void **state)
{
    fx_t *f = *state;
    kvops_write_t w = {.key = "k", .key_len = 1, .value = (const uint8_t *)"v", .value_len = 1};
    put(f, "k", "before", 0);
    assert_int_equal(kvops_ns_delete(f->ops, NULL, NS), 0);
    /* The whole call is refused, and nothing of it is visible. */
    assert_int_equal(kvops_write(f->ops, NULL, NS, &w, 1), KV_ENOTFOUND);
    check_value(f, "k", NULL);
    assert_int_equal(kvops_ns_delete(f->ops, NULL, NS), KV_ENOTFOUND);
}

static void test_tokens(void **state)
{
    fx_t *f = *state;
    char digest[STATE_TOKEN_SHA256_HEX + 1];
    state_token_t t = {.id = "t1", .name = "n", .account = "acct", .sha256_hex = digest};
    uint8_t *rec = NULL;
    size_t rec_len = 0, len;
    char *v = NULL;
    memset(digest, 'a', STATE_TOKEN_SHA256_HEX);
    digest[STATE_TOKEN_SHA256_HEX] = '\0';
    assert_int_equal(state_token_encode(&t, &rec, &rec_len), 0);
    assert_int_equal(kvops_token_put(f->ops, NULL, "t1", (const char *)rec, rec_len), 0);
    assert_int_equal(kvops_token_put(f->ops, NULL, "t1", (const char *)rec, rec_len), KV_EEXISTS);
    assert_int_equal(stor_state_get(f->store, STATE_TOKEN_PREFIX "t1", &v, &len), 0);
    assert_int_equal(len, rec_len);
    assert_memory_equal(v, rec, rec_len);
    kv_free(v);
    kv_free(rec);
    assert_int_equal(kvops_token_delete(f->ops, NULL, "t1"), 0);
    assert_int_equal(kvops_token_delete(f->ops, NULL, "t1"), KV_ENOTFOUND);
    assert_int_equal(kvops_token_delete(f->ops, NULL, "never"), KV_ENOTFOUND);
}

static void test_batch(void **state)
{
    fx_t *f = *state;
    kvops_write_t w[3] = {
        {.key = "b1", .key_len = 2, .value = (const uint8_t *)"1", .value_len = 1},
        {.key = "b2", .key_len = 2, .value = (const uint8_t *)"2", .value_len = 1},
        {.key = "b1", .key_len = 2, .tombstone = true}, /* later in the batch wins */
    };
    const char *keys[] = {"b1", "b2", "zz"};
    size_t lens[] = {2, 2, 2};
    stor_blob_t *out[3];
    assert_int_equal(kvops_write(f->ops, NULL, NS, w, 3), 0);
    check_value(f, "b2", "2");
    check_value(f, "b1", NULL);
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 3, out), 0);
    assert_null(out[0]);
    assert_non_null(out[1]);
    assert_null(out[2]);
    stor_blob_unref(out[1]);
}

/* Check out[i] against want[i] (NULL: absent) and release them. */
static void expect_values(stor_blob_t **out, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        stor_record_t r;
        if (!want[i]) {
            assert_null(out[i]);
            continue;
        }
        assert_non_null(out[i]);
        stor_blob_record(out[i], &r);
        assert_int_equal(r.value_len, strlen(want[i]));
        assert_memory_equal(r.value, want[i], r.value_len);
        stor_blob_unref(out[i]);
    }
}

/* kvops_multi_get: the cache first, the misses from storage in one
 * MultiGet whose answers fill the cache; repeated, absent and expired
 * keys. */
static void test_multi_get(void **state)
{
    fx_t *f = *state;
    const char *keys[] = {"m1", "m2", "zz", "m1", "m3"};
    size_t lens[] = {2, 2, 2, 2, 2};
    const char *want[] = {"one", "two", NULL, "one", "three"};
    const char *later[] = {"one", NULL, NULL, "one", "three"};
    stor_blob_t *out[5];
    cache_stats_t before, after;
    put(f, "m1", "one", 0);
    put(f, "m2", "two", NOW_S + 60);
    put(f, "m3", "three", 0);
    /* A written key is cached once a reader asked for it: m2 is, so it
     * hits below; m1 and m3 were never read, so they miss. */
    const char *k2[] = {"m2"}, *w2[] = {"two"};
    size_t l2[] = {2};
    assert_int_equal(kvops_multi_get(f->ops, NS, k2, l2, 1, out), 0);
    expect_values(out, w2, 1);
    cache_get_stats(f->cache, &before);
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 5, out), 0);
    expect_values(out, want, 5);
    cache_get_stats(f->cache, &after);
    assert_int_equal(after.hits - before.hits, 1);     /* m2 */
    assert_int_equal(after.misses - before.misses, 4); /* m1 twice, zz, m3 */
    /* The misses filled the cache: the same read again never reaches storage. */
    cache_get_stats(f->cache, &before);
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 5, out), 0);
    expect_values(out, want, 5);
    cache_get_stats(f->cache, &after);
    assert_int_equal(after.misses - before.misses, 0);
    assert_int_equal(after.hits - before.hits, 4);
    assert_int_equal(after.negative_hits - before.negative_hits, 1); /* zz */
    /* m2 expires at NOW_S + 60, cached or read from storage. */
    f->now_ms += 60 * 1000;
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 5, out), 0);
    expect_values(out, later, 5);
    cache_invalidate(f->cache, NS, "m2", 2);
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 5, out), 0);
    expect_values(out, later, 5);
    assert_int_equal(kvops_multi_get(f->ops, NS, keys, lens, 0, out), 0);
}

static void test_namespaces(void **state)
{
    fx_t *f = *state;
    stor_ns_t a, b;
    assert_int_equal(kvops_ns_create(f->ops, NULL, "acct", "one", &a), 0);
    assert_int_equal(kvops_ns_create(f->ops, NULL, "acct", "one", &b), KV_EEXISTS);
    assert_int_equal(kvops_ns_rename(f->ops, NULL, a.id, "two"), 0);
    assert_int_equal(stor_ns_get(f->store, a.id, &b), 0);
    assert_string_equal(b.title, "two");
    assert_int_equal(kvops_ns_delete(f->ops, NULL, a.id), 0);
    assert_int_equal(stor_ns_get(f->store, a.id, &b), KV_ENOTFOUND);
}

/* A write refused because the writes waiting (for a group commit at the
 * origin, for the origin's answer at an edge) are at their bound is a 503
 * the client may retry, not a 500. */
static void test_busy_is_503(void **state)
{
    (void)state;
    kvop_err_t e;
    memset(&e, 0, sizeof e);
    kvops_internal(KV_EBUSY, "test write", &e);
    assert_int_equal(e.status, 503);
    assert_int_equal(e.code, KVOP_CODE_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "retry later"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_busy_is_503),
        cmocka_unit_test(test_expiry_rules),
        cmocka_unit_test(test_metadata_and_value),
        cmocka_unit_test(test_clock_refusal_answer),
        cmocka_unit_test_setup_teardown(test_write_read_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_covers_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_at_read_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
