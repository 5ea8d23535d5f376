/* test_judge.c - node/replica/judge.c: the one place where writes are judged.
 * Every rule of judge.h, alone and against the earlier ops of the same
 * group, over a real store; and that a judged group, committed as the
 * origin commits it, leaves what the verdicts said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "judge.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "state.h"

#define NS1 "11111111111111111111111111111111"
#define NS2 "22222222222222222222222222222222"
#define NS3 "33333333333333333333333333333333"
#define NSX "ffffffffffffffffffffffffffffffff"

typedef struct {
    char dir[64];
    stor_t *s;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    stor_options_t o;
    snprintf(f->dir, sizeof f->dir, "/tmp/edgekv-judge-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_options_default(&o);
    o.path = f->dir;
    o.sync = STOR_SYNC_OFF;
    assert_int_equal(stor_open(&o, &f->s), 0);
    /* NS1 "one" and NS2 "two" of account "acc". */
    assert_int_equal(stor_ns_create(f->s, "acc", "one", (kv_version_t){1, 1}, NS1, NULL), 0);
    assert_int_equal(stor_ns_create(f->s, "acc", "two", (kv_version_t){1, 1}, NS2, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    stor_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static repl_mutation_t put(const char *ns, const char *key)
{
    repl_mutation_t m = {.op = {.kind = REPL_OP_PUT, .key = key, .key_len = strlen(key)}};
    snprintf(m.op.ns_id, sizeof m.op.ns_id, "%s", ns);
    m.op.value = (const uint8_t *)"v";
    m.op.value_len = 1;
    return m;
}

static repl_mutation_t del(const char *ns, const char *key)
{
    repl_mutation_t m = put(ns, key);
    m.op.kind = REPL_OP_DELETE;
    m.op.value = NULL;
    m.op.value_len = 0;
    return m;
}

static repl_mutation_t ns_op(repl_op_kind_t kind, const char *id, const char *account,
                             const char *title)
{
    repl_mutation_t m = {.op = {.kind = kind, .account = account, .title = title}};
    snprintf(m.op.ns_id, sizeof m.op.ns_id, "%s", id);
    return m;
}

static repl_mutation_t token(repl_op_kind_t kind, const char *id)
{
    repl_mutation_t m = {.op = {.kind = kind, .key = id, .key_len = strlen(id)}};
    memcpy(m.op.ns_id, REPL_TOKEN_NS_ID, sizeof m.op.ns_id);
    if (kind == REPL_OP_TOKEN_PUT) {
        m.op.value = (const uint8_t *)"{}";
        m.op.value_len = 2;
    }
    return m;
}

/* Judge the group and compare every verdict with want[]. */
static void expect(fx_t *f, const repl_mutation_t *m, size_t n, const int *want)
{
    int res[64];
    assert_true(n <= 64);
    memset(res, 0x55, sizeof res);
    assert_int_equal(judge_group(f->s, m, n, res), 0);
    for (size_t i = 0; i < n; i++) {
        if (res[i] != want[i])
            fprintf(stderr, "op %zu: got %d want %d\n", i, res[i], want[i]);
        assert_int_equal(res[i], want[i]);
    }
}

static void test_values(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {put(NS1, "a"), del(NS2, "b"), put(NSX, "c"), del(NSX, "d")};
    int want[] = {0, 0, KV_ENOTFOUND, KV_ENOTFOUND};
    expect(f, m, 4, want);
}

/* A namespace created earlier in the group takes writes; one deleted
 * earlier refuses them, even when its id is created again after the delete
 * (the commit writes records before namespace changes: the delete would
 * wipe an acknowledged write). */
static void test_values_follow_group(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {
        put(NS3, "early"),
        ns_op(REPL_OP_NS_CREATE, NS3, "acc", "three"),
        put(NS3, "late"),
        put(NS1, "before"),
        ns_op(REPL_OP_NS_DELETE, NS1, NULL, NULL),
        put(NS1, "after"),
        ns_op(REPL_OP_NS_CREATE, NS1, "acc", "one-again"),
        put(NS1, "recreated"),
    };
    int want[] = {KV_ENOTFOUND, 0, 0, 0, 0, KV_ENOTFOUND, 0, KV_ENOTFOUND};
    expect(f, m, 8, want);
}

static void test_ns_rules(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {
        ns_op(REPL_OP_NS_CREATE, NS3, "acc", "one"),   /* title taken */
        ns_op(REPL_OP_NS_CREATE, NS1, "other", "new"), /* id taken (any account) */
        ns_op(REPL_OP_NS_CREATE, NS3, "other", "one"), /* another account: free */
        ns_op(REPL_OP_NS_RENAME, NS1, NULL, "two"),    /* another namespace's title */
        ns_op(REPL_OP_NS_RENAME, NS1, NULL, "one"),    /* its own title */
        ns_op(REPL_OP_NS_RENAME, NSX, NULL, "x"),      /* unknown */
        ns_op(REPL_OP_NS_DELETE, NSX, NULL, NULL),     /* unknown */
    };
    int want[] = {KV_EEXISTS, KV_EEXISTS, 0, KV_EEXISTS, 0, KV_ENOTFOUND, KV_ENOTFOUND};
    expect(f, m, 7, want);
}

/* Titles move within a group: a renamed namespace frees its old title for
 * a later create, and takes the new one from later ones. */
static void test_titles_follow_group(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {
        ns_op(REPL_OP_NS_RENAME, NS1, NULL, "uno"),  ns_op(REPL_OP_NS_CREATE, NS3, "acc", "one"),
        ns_op(REPL_OP_NS_CREATE, NSX, "acc", "uno"), ns_op(REPL_OP_NS_DELETE, NS2, NULL, NULL),
        ns_op(REPL_OP_NS_RENAME, NS3, NULL, "two"),  ns_op(REPL_OP_NS_DELETE, NS2, NULL, NULL),
        ns_op(REPL_OP_NS_RENAME, NS2, NULL, "zwei"),
    };
    int want[] = {0, 0, KV_EEXISTS, 0, 0, KV_ENOTFOUND, KV_ENOTFOUND};
    expect(f, m, 7, want);
}

/* The per-account limit counts the store's namespaces and the group's. */
static void test_limit(void **state)
{
    fx_t *f = *state;
    static char ids[KV_NS_PER_ACCOUNT_MAX + 2][KV_NS_ID_LEN + 1];
    static char titles[KV_NS_PER_ACCOUNT_MAX + 2][16];
    repl_mutation_t m[5];
    int i;
    /* The store holds two of "acc"; fill it to MAX - 1. */
    for (i = 0; i < KV_NS_PER_ACCOUNT_MAX - 3; i++) {
        snprintf(ids[i], sizeof ids[i], "%032x", 0x1000 + i);
        snprintf(titles[i], sizeof titles[i], "n%d", i);
        assert_int_equal(stor_ns_create(f->s, "acc", titles[i], (kv_version_t){1, 1}, ids[i], NULL),
                         0);
    }
    m[0] = ns_op(REPL_OP_NS_CREATE, "a0000000000000000000000000000000", "acc", "last");
    m[1] = ns_op(REPL_OP_NS_CREATE, "a0000000000000000000000000000001", "acc", "over");
    m[2] = ns_op(REPL_OP_NS_DELETE, NS1, NULL, NULL);
    m[3] = ns_op(REPL_OP_NS_CREATE, "a0000000000000000000000000000002", "acc", "room");
    m[4] = ns_op(REPL_OP_NS_CREATE, "a0000000000000000000000000000003", "other", "fine");
    int want[] = {0, KV_ELIMIT, 0, 0, 0};
    expect(f, m, 5, want);
}

static void test_tokens(void **state)
{
    fx_t *f = *state;
    /* t1 is live in the store, t2 was revoked (an empty record). */
    assert_int_equal(stor_state_put(f->s, STATE_TOKEN_PREFIX "t1", "{}", 2), 0);
    assert_int_equal(stor_state_put(f->s, STATE_TOKEN_PREFIX "t2", "", 0), 0);
    repl_mutation_t m[] = {
        token(REPL_OP_TOKEN_PUT, "t1"),    token(REPL_OP_TOKEN_PUT, "t2"),
        token(REPL_OP_TOKEN_DELETE, "t2"), token(REPL_OP_TOKEN_DELETE, "t1"),
        token(REPL_OP_TOKEN_DELETE, "t1"), token(REPL_OP_TOKEN_PUT, "t1"),
        token(REPL_OP_TOKEN_DELETE, "t3"), {.op = {.kind = REPL_OP_NOOP}},
    };
    int want[] = {KV_EEXISTS, 0, 0, 0, KV_ENOTFOUND, 0, KV_ENOTFOUND, 0};
    expect(f, m, 8, want);
}

/* A bulk-sized group: a verdict for every op, alternating namespaces. */
static void test_big_group(void **state)
{
    fx_t *f = *state;
    enum { N = 20000 };
    repl_mutation_t *m = calloc(N, sizeof *m);
    int *res = calloc(N, sizeof *res);
    for (int i = 0; i < N; i++)
        m[i] = put(i % 2 ? NS1 : NSX, "k");
    assert_int_equal(judge_group(f->s, m, N, res), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i], i % 2 ? 0 : KV_ENOTFOUND);
    free(m);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_follow_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ns_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_titles_follow_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_group, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
