/*
 * test_lww.c - the replica model of sim/lww.h: last writer wins by version
 * (timestamp, then node id), never by value or arrival; duplicates do not
 * apply; slots are shared by the replicas of a keyspace; kept values come
 * back byte for byte (with metadata and expiration) and compare by id;
 * unkept ones are their first four bytes; namespaces; RESET; snapshots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hlc.h"
#include "lww.h"

static const char NS[33] = "0123456789abcdef0123456789abcdef";
static const char NS2[33] = "fedcba9876543210fedcba9876543210";

static repl_mutation_t put(const char *ns, const char *key, const char *val, uint64_t ms,
                           uint32_t node)
{
    repl_mutation_t m;
    memset(&m, 0, sizeof m);
    m.version = (kv_version_t){hlc_pack(ms, 0), node};
    m.op.kind = REPL_OP_PUT;
    memcpy(m.op.ns_id, ns, sizeof m.op.ns_id);
    m.op.key = key;
    m.op.key_len = strlen(key);
    m.op.value = (const uint8_t *)val;
    m.op.value_len = strlen(val);
    return m;
}

static repl_mutation_t del(const char *ns, const char *key, uint64_t ms, uint32_t node)
{
    repl_mutation_t m = put(ns, key, "", ms, node);
    m.op.kind = REPL_OP_DELETE;
    m.op.value = NULL;
    return m;
}

static void test_lww_by_version_not_arrival(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(true);
    lww_replica_t a, b;
    lww_replica_init(&a, k);
    lww_replica_init(&b, k);
    repl_mutation_t m1 = put(NS, "k", "old", 1000, 1), m2 = put(NS, "k", "new", 2000, 1);
    repl_mutation_t tie = put(NS, "k", "zzz", 2000, 2), gone = del(NS, "k", 1500, 9);
    uint32_t slot;
    assert_true(lww_apply_mut(&a, &m1, &slot));
    assert_true(lww_apply_mut(&a, &m2, &slot));
    assert_false(lww_apply_mut(&a, &m2, &slot));   /* a duplicate */
    assert_false(lww_apply_mut(&a, &gone, &slot)); /* older */
    assert_true(lww_apply_mut(&b, &m2, &slot));
    assert_false(lww_apply_mut(&b, &m1, &slot));
    assert_true(lww_equal(&a, &b));
    /* Same timestamp: the higher node id wins, whatever the values. */
    assert_true(lww_apply_mut(&a, &tie, &slot));
    assert_false(lww_equal(&a, &b));
    const lww_rec_t *r = lww_lookup(&a, NS, "k");
    assert_non_null(r);
    assert_int_equal(r->v.node_id, 2);
    assert_int_equal(a.hlc_max, hlc_pack(2000, 0));
    /* A delete leaves a tombstone that still wins by version. */
    repl_mutation_t later = del(NS, "k", 3000, 1);
    assert_true(lww_apply_mut(&a, &later, &slot));
    assert_true(lww_lookup(&a, NS, "k")->tomb);
    assert_false(lww_apply_mut(&a, &tie, &slot));
    lww_replica_free(&a);
    lww_replica_free(&b);
    lww_keys_free(k);
}

static void test_keyspace_slots_and_kept_values(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(true);
    /* Slots number (namespace, key) pairs in order; the namespace counts. */
    assert_int_equal(lww_keys_slot(k, NS, "a", 1), 0);
    assert_int_equal(lww_keys_slot(k, NS, "b", 1), 1);
    assert_int_equal(lww_keys_slot(k, NS2, "a", 1), 2);
    assert_int_equal(lww_keys_slot(k, NS, "a", 1), 0);
    assert_int_equal(lww_keys_find(k, NS2, "b", 1), UINT32_MAX);
    for (int i = 0; i < 1000; i++) { /* the table grows */
        char key[16];
        int n = snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(lww_keys_slot(k, NS, key, (size_t)n), 3 + i);
    }
    assert_int_equal(lww_keys_find(k, NS, "key999", 6), 1002);
    assert_int_equal(lww_keys_count(k), 1003);
    const char *ns;
    size_t len;
    assert_memory_equal(lww_keys_name(k, 2, &ns, &len), "a", 1);
    assert_string_equal(ns, NS2);
    /* Equal values (bytes, metadata, expiration) share an id. */
    repl_mutation_t m = put(NS, "a", "value", 1, 1);
    uint32_t v1 = lww_keys_value(k, &m.op);
    assert_int_equal(lww_keys_value(k, &m.op), v1);
    m.op.metadata = "{}";
    m.op.metadata_len = 2;
    uint32_t v2 = lww_keys_value(k, &m.op);
    assert_int_not_equal(v2, v1);
    m.op.expiration = 99;
    assert_int_not_equal(lww_keys_value(k, &m.op), v2);
    repl_op_t op;
    memset(&op, 0, sizeof op);
    lww_keys_value_view(k, v2, &op);
    assert_int_equal(op.value_len, 5);
    assert_memory_equal(op.value, "value", 5);
    assert_int_equal(op.metadata_len, 2);
    assert_int_equal(op.expiration, 0);
    lww_keys_free(k);
}

static void test_unkept_values_are_their_first_bytes(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(false);
    uint32_t wid = 0xdeadbeef;
    uint8_t bytes[64];
    memset(bytes, 'v', sizeof bytes);
    memcpy(bytes, &wid, sizeof wid);
    lww_rec_t block[4];
    memset(block, 0, sizeof block);
    lww_replica_t r;
    lww_replica_init_fixed(&r, k, block, 4);
    assert_int_equal(lww_keys_slot(k, NS, "k0", 2), 0);
    repl_mutation_t m = put(NS, "k0", "", 10, 1);
    m.op.value = bytes;
    m.op.value_len = sizeof bytes;
    uint32_t slot;
    assert_true(lww_apply_mut(&r, &m, &slot));
    assert_int_equal(slot, 0);
    assert_int_equal(block[0].val, wid);
    assert_int_equal(block[0].len, sizeof bytes);
    repl_mutation_t shortv = put(NS, "k0", "ab", 11, 1);
    assert_true(lww_apply_mut(&r, &shortv, &slot));
    assert_int_equal(block[0].val, 0); /* too short to carry an id */
    /* RESET empties the caller's block too. */
    memcpy(r.history, NS, sizeof r.history);
    r.applied_seq = 7;
    lww_replica_clear(&r);
    assert_null(lww_get(&r, 0));
    assert_int_equal(r.applied_seq, 0);
    assert_string_equal(r.history, "");
    lww_replica_free(&r);
    lww_keys_free(k);
}

static void test_namespaces_noops_and_snapshot(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(true);
    lww_replica_t a, b;
    lww_replica_init(&a, k);
    lww_replica_init(&b, k);
    repl_mutation_t ns = {.version = {hlc_pack(5, 0), 1}};
    ns.op.kind = REPL_OP_NS_CREATE;
    memcpy(ns.op.ns_id, NS2, sizeof ns.op.ns_id);
    ns.op.title = "first";
    ns.op.account = "acct1";
    repl_mutation_t rename = ns;
    rename.version.hlc = hlc_pack(6, 0);
    rename.op.kind = REPL_OP_NS_RENAME;
    rename.op.title = "second";
    rename.op.account = NULL;
    repl_mutation_t noop = {.version = {hlc_pack(99, 0), 1}};
    repl_mutation_t p = put(NS, "x", "1", 7, 1), d = del(NS, "y", 8, 1);
    uint32_t slot;
    assert_true(lww_apply_mut(&a, &ns, &slot));
    assert_int_equal(slot, UINT32_MAX);
    assert_true(lww_apply_mut(&a, &rename, &slot));
    assert_false(lww_apply_mut(&a, &ns, &slot)); /* older */
    assert_false(lww_apply_mut(&a, &noop, &slot));
    assert_int_equal(a.hlc_max, hlc_pack(6, 0)); /* a no-op is no write */
    assert_true(lww_apply_mut(&a, &p, &slot));
    assert_true(lww_apply_mut(&a, &d, &slot));
    assert_int_equal(a.nns, 1);
    assert_string_equal(a.ns[0].title, "second");
    assert_string_equal(a.ns[0].account, "acct1");
    /* A snapshot of a, applied to an empty replica, makes it equal. */
    repl_mutation_t *snap;
    size_t n = lww_snapshot(&a, &snap);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(lww_apply_mut(&b, &snap[i], &slot));
    free(snap);
    assert_true(lww_equal(&a, &b));
    const lww_rec_t *x = lww_lookup(&b, NS, "x");
    assert_non_null(x);
    repl_op_t op;
    memset(&op, 0, sizeof op);
    lww_keys_value_view(k, x->val, &op);
    assert_memory_equal(op.value, "1", 1);
    assert_true(lww_lookup(&b, NS, "y")->tomb);
    lww_replica_clear(&b);
    assert_false(lww_equal(&a, &b));
    assert_int_equal(b.nns, 0);
    lww_replica_free(&a);
    lww_replica_free(&b);
    lww_keys_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lww_by_version_not_arrival),
        cmocka_unit_test(test_keyspace_slots_and_kept_values),
        cmocka_unit_test(test_unkept_values_are_their_first_bytes),
        cmocka_unit_test(test_namespaces_noops_and_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
