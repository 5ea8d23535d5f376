/* test_judge.c - node/replica/judge.c: the one place where writes are judged.
 * Every rule of judge.h, alone and against the earlier ops of the same
 * group, over a real store; and that a judged group, committed as the
 * origin commits it, leaves what the verdicts said. Writes forwarded by an
 * edge: forged ops against the token the edge names. */
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
    assert_int_equal(judge_group(f->s, NULL, m, n, res), 0);
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
    assert_int_equal(judge_group(f->s, NULL, m, N, res), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i], i % 2 ? 0 : KV_ENOTFOUND);
    free(m);
    free(res);
}

/* ---- writes forwarded by an edge: the token it names is re-checked ---- */

#define NSO    "44444444444444444444444444444444" /* of account "other" */
#define DIGEST "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const k_only_ns1[] = {NS1};

/* A stored token record (the bytes of a TOKEN_PUT value), kv_malloc'd. */
static uint8_t *record(const char *id, const char *account, bool write, bool scoped, size_t *len)
{
    state_token_t t = {.id = id,
                       .name = "n",
                       .account = account,
                       .sha256_hex = DIGEST,
                       .write = write,
                       .scoped = scoped,
                       .namespaces = scoped ? k_only_ns1 : NULL,
                       .namespace_count = scoped ? 1 : 0};
    uint8_t *rec = NULL;
    assert_int_equal(state_token_encode(&t, &rec, len), 0);
    return rec;
}

static void store_token(fx_t *f, const char *id, const char *account, bool write, bool scoped)
{
    char name[STATE_TOKEN_NAME_BYTES];
    size_t len;
    uint8_t *rec = record(id, account, write, scoped, &len);
    state_token_name(name, id, strlen(id));
    assert_int_equal(stor_state_put(f->s, name, (const char *)rec, len), 0);
    kv_free(rec);
}

/* The configured tokens of the judged origin: "cfg-w" (acc, write, every
 * namespace) and "cfg-r" (acc, read). */
static int configured(void *arg, const char *id, judge_scope_t *out)
{
    (void)arg;
    if (strcmp(id, "cfg-w") != 0 && strcmp(id, "cfg-r") != 0)
        return 0;
    *out = (judge_scope_t){.account = "acc", .write = id[4] == 'w'};
    return 1;
}

static const judge_tokens_t k_configured = {.lookup = configured};

/* The configured table held around a group (a SIGHUP reload may replace
 * it otherwise): every lookup happens while held, hold and release once. */
typedef struct {
    int holds, releases, lookups_unheld, lookups;
} hold_count_t;

static int counted_lookup(void *arg, const char *id, judge_scope_t *out)
{
    hold_count_t *c = arg;
    c->lookups++;
    if (c->holds != c->releases + 1)
        c->lookups_unheld++;
    return configured(NULL, id, out);
}

static void counted_hold(void *arg)
{
    ((hold_count_t *)arg)->holds++;
}

static void counted_release(void *arg)
{
    ((hold_count_t *)arg)->releases++;
}

/* Stored tokens: "adm" (acc, write, all), "rd" (acc, read), "sc" (acc,
 * write, NS1 only), "rev" (revoked), "oadm" (other, write, all); NSO is a
 * namespace of "other". */
static int setup_fwd(void **state)
{
    fx_t *f;
    setup(state);
    f = *state;
    assert_int_equal(stor_ns_create(f->s, "other", "o", (kv_version_t){1, 1}, NSO, NULL), 0);
    store_token(f, "adm", "acc", true, false);
    store_token(f, "rd", "acc", false, false);
    store_token(f, "sc", "acc", true, true);
    store_token(f, "oadm", "other", true, false);
    assert_int_equal(stor_state_put(f->s, STATE_TOKEN_PREFIX "rev", "", 0), 0);
    return 0;
}

/* The per-account token limit counts the store's live tokens and the
 * group's puts and deletes; revoked records and other accounts' tokens do
 * not count. */
static void test_token_limit(void **state)
{
    fx_t *f = *state;
    static char ids[KV_TOKENS_PER_ACCOUNT_MAX][16];
    uint8_t *recs[7];
    size_t lens[7];
    const char *put_ids[] = {"new1", "new2", "new3", NULL, "new4", "onew", "rev"};
    const char *put_acc[] = {"acc", "acc", "acc", NULL, "acc", "other", "acc"};
    repl_mutation_t m[7];
    int i;
    for (i = 0; i < KV_TOKENS_PER_ACCOUNT_MAX - 2; i++) {
        snprintf(ids[i], sizeof ids[i], "t%d", i);
        store_token(f, ids[i], "acc", true, false);
    }
    store_token(f, "o1", "other", true, false);
    assert_int_equal(stor_state_put(f->s, STATE_TOKEN_PREFIX "rev", "", 0), 0);
    for (i = 0; i < 7; i++) {
        if (!put_ids[i]) {
            m[i] = token(REPL_OP_TOKEN_DELETE, ids[0]);
            recs[i] = NULL;
            continue;
        }
        m[i] = token(REPL_OP_TOKEN_PUT, put_ids[i]);
        recs[i] = record(put_ids[i], put_acc[i], true, false, &lens[i]);
        m[i].op.value = recs[i];
        m[i].op.value_len = lens[i];
    }
    /* MAX - 2 stored: two more fit, the third is refused; a revocation in
     * the group makes room for one; another account is not affected; a
     * revoked id put again counts as new. */
    int want[] = {0, 0, KV_ELIMIT, 0, 0, 0, KV_ELIMIT};
    expect(f, m, 7, want);
    for (i = 0; i < 7; i++)
        kv_free(recs[i]);
}

/* m as one forwarded write of its own, naming token `who`. */
static repl_mutation_t fwd(repl_mutation_t m, const char *who)
{
    m.op.auth_id = who;
    m.op.request_head = true;
    return m;
}

/* The same write's next op. */
static repl_mutation_t more(repl_mutation_t m, const char *who)
{
    m.op.auth_id = who;
    return m;
}

static void expect_fwd(fx_t *f, const repl_mutation_t *m, size_t n, const int *want)
{
    int res[64];
    assert_true(n <= 64);
    memset(res, 0x55, sizeof res);
    assert_int_equal(judge_group(f->s, &k_configured, m, n, res), 0);
    for (size_t i = 0; i < n; i++) {
        if (res[i] != want[i])
            fprintf(stderr, "op %zu: got %d want %d\n", i, res[i], want[i]);
        assert_int_equal(res[i], want[i]);
    }
}

/* Token ops: a hostile edge cannot mint for another account, mint from a
 * read or a scoped token, smuggle a record under another id, or revoke
 * another account's token. */
static void test_fwd_token_ops(void **state)
{
    fx_t *f = *state;
    size_t l[8];
    uint8_t *r[8] = {
        record("n1", "other", true, false, &l[0]), record("n2", "acc", true, false, &l[1]),
        record("n3", "acc", true, false, &l[2]),   record("n4", "acc", true, false, &l[3]),
        record("zz", "acc", true, false, &l[4]),   record("n6", "acc", true, false, &l[5]),
    };
    repl_mutation_t m[9];
    for (int i = 0; i < 6; i++) {
        char id[3] = {'n', (char)('1' + i), 0};
        m[i] = token(REPL_OP_TOKEN_PUT, i == 4 ? "n5" : i == 5 ? "n6" : strdup(id));
        m[i].op.value = r[i];
        m[i].op.value_len = l[i];
    }
    m[0] = fwd(m[0], "adm"); /* another account's token */
    m[1] = fwd(m[1], "rd");  /* a write token from a read token */
    m[2] = fwd(m[2], "sc");  /* from a namespace-scoped token */
    m[3] = fwd(m[3], "adm"); /* fine */
    m[4] = fwd(m[4], "adm"); /* a record whose id is not the key */
    m[5] = fwd(m[5], "adm");
    m[5].op.value = (const uint8_t *)"{}"; /* no TokenRecord */
    m[5].op.value_len = 2;
    m[6] = fwd(token(REPL_OP_TOKEN_DELETE, "oadm"), "adm"); /* another account's */
    m[7] = fwd(token(REPL_OP_TOKEN_DELETE, "sc"), "sc");    /* scoped: no */
    m[8] = fwd(token(REPL_OP_TOKEN_DELETE, "sc"), "adm");   /* fine */
    int want[] = {KV_EFORBIDDEN, KV_EFORBIDDEN, KV_EFORBIDDEN, 0, KV_EINVAL,
                  KV_EINVAL,     KV_ENOTFOUND,  KV_EFORBIDDEN, 0};
    expect_fwd(f, m, 9, want);
    for (int i = 0; i < 6; i++)
        kv_free(r[i]);
    for (int i = 0; i < 4; i++)
        free((void *)m[i].op.key);
}

/* Values and namespaces: the token's account, scope and access; unknown,
 * revoked and missing tokens; the configured ones. */
static void test_fwd_values_and_ns(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {
        fwd(put(NSO, "a"), "adm"),                                /* another account */
        fwd(put(NS1, "a"), "adm"),                                /* fine */
        fwd(del(NS2, "a"), "sc"),                                 /* outside its scope */
        fwd(put(NS1, "a"), "sc"),                                 /* inside */
        fwd(put(NS1, "a"), "rd"),                                 /* read only */
        fwd(ns_op(REPL_OP_NS_CREATE, NS3, "other", "x"), "adm"),  /* another account */
        fwd(ns_op(REPL_OP_NS_CREATE, NS3, "acc", "x"), "sc"),     /* scoped */
        fwd(ns_op(REPL_OP_NS_CREATE, NS3, "acc", "x"), "adm"),    /* fine */
        fwd(ns_op(REPL_OP_NS_RENAME, NSO, NULL, "mine"), "adm"),  /* another account's */
        fwd(ns_op(REPL_OP_NS_DELETE, NSO, NULL, NULL), "adm"),    /* another account's */
        fwd(ns_op(REPL_OP_NS_DELETE, NS2, NULL, NULL), "sc"),     /* outside its scope */
        fwd(put(NS1, "a"), "rev"),                                /* revoked */
        fwd(put(NS1, "a"), "nope"),                               /* unknown */
        fwd(put(NS1, "a"), ""),                                   /* none named */
        fwd(put(NS1, "a"), "cfg-w"),                              /* configured */
        fwd(put(NS1, "a"), "cfg-r"),                              /* configured, read */
        fwd(put(NSX, "a"), "adm"),                                /* no such namespace */
        fwd(ns_op(REPL_OP_NS_CREATE, NSX, "other", "y"), "oadm"), /* fine */
        put(NSO, "local"), /* the origin's own write: its API checked it */
    };
    int want[] = {KV_EFORBIDDEN,
                  0,
                  KV_EFORBIDDEN,
                  0,
                  KV_EFORBIDDEN,
                  KV_EFORBIDDEN,
                  KV_EFORBIDDEN,
                  0,
                  KV_EFORBIDDEN,
                  KV_EFORBIDDEN,
                  KV_EFORBIDDEN,
                  KV_EUNAUTH,
                  KV_EUNAUTH,
                  KV_EUNAUTH,
                  0,
                  KV_EFORBIDDEN,
                  KV_ENOTFOUND,
                  0,
                  0};
    expect_fwd(f, m, sizeof m / sizeof m[0], want);
}

/* One op out of scope refuses its whole write, and what the write's
 * earlier ops did is not seen by the writes after it. */
static void test_fwd_all_or_nothing(void **state)
{
    fx_t *f = *state;
    repl_mutation_t m[] = {
        fwd(ns_op(REPL_OP_NS_CREATE, NS3, "acc", "three"), "adm"),
        more(put(NS3, "k"), "adm"),
        more(put(NSO, "k"), "adm"), /* the forged one */
        fwd(put(NS3, "k"), "adm"),  /* NS3 was never created */
        fwd(ns_op(REPL_OP_NS_CREATE, NS3, "acc", "three"), "adm"),
        more(put(NS3, "k"), "adm"),
    };
    int want[] = {KV_EFORBIDDEN, KV_EFORBIDDEN, KV_EFORBIDDEN, KV_ENOTFOUND, 0, 0};
    expect_fwd(f, m, 6, want);
}

/* The token table as the group leaves it: a token minted earlier in the
 * group works, one revoked earlier does not. */
static void test_fwd_tokens_follow_group(void **state)
{
    fx_t *f = *state;
    size_t len;
    uint8_t *rec = record("n7", "acc", true, false, &len);
    repl_mutation_t m[] = {
        fwd(token(REPL_OP_TOKEN_PUT, "n7"), "adm"),
        fwd(put(NS1, "a"), "n7"),
        fwd(token(REPL_OP_TOKEN_DELETE, "adm"), "adm"),
        fwd(put(NS1, "a"), "adm"),
    };
    m[0].op.value = rec;
    m[0].op.value_len = len;
    int want[] = {0, 0, 0, KV_EUNAUTH};
    expect_fwd(f, m, 4, want);
    kv_free(rec);
}

static void test_fwd_configured_held(void **state)
{
    fx_t *f = *state;
    hold_count_t c = {0};
    judge_tokens_t tokens = {
        .lookup = counted_lookup, .hold = counted_hold, .release = counted_release, .arg = &c};
    repl_mutation_t m[] = {fwd(put(NS1, "a"), "cfg-w"), fwd(put(NS1, "b"), "cfg-r"),
                           fwd(put(NS1, "c"), "adm")};
    int res[3];
    assert_int_equal(judge_group(f->s, &tokens, m, 3, res), 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], KV_EFORBIDDEN);
    assert_int_equal(res[2], 0);
    assert_int_equal(c.holds, 1);
    assert_int_equal(c.releases, 1);
    assert_int_equal(c.lookups, 3);
    assert_int_equal(c.lookups_unheld, 0);
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
        cmocka_unit_test_setup_teardown(test_token_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_token_ops, setup_fwd, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_values_and_ns, setup_fwd, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_all_or_nothing, setup_fwd, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_tokens_follow_group, setup_fwd, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_configured_held, setup_fwd, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
