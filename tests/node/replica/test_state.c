/* test_state.c - node/replica/state.c: each state message in and out of a real
 * store, refusal of unknown formats, the upgrade of a data directory
 * written before format 1 (including allocation failure at every step),
 * token records read back by the token reload, and more than 64 known
 * edges saved, read back and restored into the origin core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "edgekv.pb-c.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "repl.h"
#include "state.h"
#include "tokens.h"

#define HIST  "0123456789abcdef0123456789abcdef"
#define NS_A  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NS_B  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_F "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define SHA_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

typedef struct {
    char dir[64];
    stor_t *s;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    stor_options_t o;
    snprintf(f->dir, sizeof f->dir, "/tmp/edgekv-state-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_options_default(&o);
    o.path = f->dir;
    o.sync = STOR_SYNC_OFF;
    assert_int_equal(stor_open(&o, &f->s), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    kv_mem_set(NULL);
    stor_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void put_text(stor_t *s, const char *name, const char *text)
{
    assert_int_equal(stor_state_put(s, name, text, strlen(text)), 0);
}

static bool has(stor_t *s, const char *name)
{
    char *v = NULL;
    size_t len;
    int rc = stor_state_get(s, name, &v, &len);
    kv_free(v);
    assert_true(rc == 0 || rc == KV_ENOTFOUND);
    return rc == 0;
}

/* Count state entries (every name). */
static int count_cb(void *arg, const char *name, size_t name_len, const char *val, size_t len)
{
    (void)name, (void)name_len, (void)val, (void)len;
    (*(size_t *)arg)++;
    return 0;
}

static void edges_equal(const state_edge_t *a, const state_edge_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(a[i].node_id == b[i].node_id && a[i].acked_seq == b[i].acked_seq &&
                    a[i].last_ack_ms == b[i].last_ack_ms && strcmp(a[i].name, b[i].name) == 0);
}

static size_t state_entries(stor_t *s)
{
    size_t n = 0;
    assert_int_equal(stor_state_scan(s, "", count_cb, &n), 0);
    return n;
}

/* ---- each message ----------------------------------------------------------------- */

static void test_identity(void **state)
{
    fx_t *f = *state;
    state_identity_t id = {.node_id = 42}, got;
    assert_int_equal(state_identity_get(f->s, &got), KV_ENOTFOUND);
    assert_int_equal(got.node_id, 0);
    snprintf(id.account_id, sizeof id.account_id, "acct");
    snprintf(id.default_token, sizeof id.default_token, "%0128d", 7);
    assert_int_equal(state_identity_put(f->s, &id), 0);
    assert_int_equal(state_identity_get(f->s, &got), 0);
    assert_int_equal(got.node_id, 42);
    assert_string_equal(got.account_id, "acct");
    assert_string_equal(got.default_token, id.default_token);
}

static void test_position(void **state)
{
    fx_t *f = *state;
    state_position_t p = {.history_id = HIST,
                          .seq = UINT64_MAX,
                          .hlc_last = UINT64_MAX,
                          .seq_version = {UINT64_MAX, UINT32_MAX},
                          .parent_history = "0123456789abcdef0123456789abcdef",
                          .term = UINT64_MAX},
                     got;
    uint8_t buf[STATE_POSITION_MAX_BYTES];
    stor_snap_t *snap;
    /* The largest position fits the bound the commits size their buffer by. */
    assert_true(state_position_encode(&p, buf) <= STATE_POSITION_MAX_BYTES);
    assert_int_equal(state_position_get(f->s, &got), KV_ENOTFOUND);
    assert_int_equal(state_position_put(f->s, &p), 0);
    assert_int_equal(stor_snapshot_open(f->s, &snap), 0);
    p.seq = 5;
    p.seq_version = (kv_version_t){77, 3};
    p.term = 12;
    assert_int_equal(state_position_put(f->s, &p), 0);
    assert_int_equal(state_position_get(f->s, &got), 0);
    assert_string_equal(got.history_id, HIST);
    assert_string_equal(got.parent_history, "0123456789abcdef0123456789abcdef");
    assert_true(got.seq == 5 && got.hlc_last == UINT64_MAX);
    assert_true(got.seq_version.hlc == 77 && got.seq_version.node_id == 3);
    assert_int_equal(got.term, 12); /* the fence survives a restart */
    /* The snapshot still sees the position it was taken at. */
    assert_int_equal(state_position_get_at(snap, &got), 0);
    assert_true(got.seq == UINT64_MAX && got.seq_version.hlc == UINT64_MAX);
    stor_snapshot_close(snap);
}

/* A format-1 position written before the resume proof has no seq_version:
 * it reads as unknown (zero), so that edge's next resume is a snapshot. */
static void test_position_without_version(void **state)
{
    fx_t *f = *state;
    Edgekv__ReplPosition m = EDGEKV__REPL_POSITION__INIT;
    uint8_t buf[256];
    state_position_t got;
    m.format = STATE_FORMAT;
    m.history_id = HIST;
    m.seq = 9;
    m.hlc_last = 123;
    assert_int_equal(
        stor_state_put(f->s, STATE_POSITION, buf, edgekv__repl_position__pack(&m, buf)), 0);
    assert_int_equal(state_position_get(f->s, &got), 0);
    assert_true(got.seq == 9 && got.hlc_last == 123);
    assert_true(kv_version_is_zero(got.seq_version));
}

/* An old text, a future format and a history past its size are refused. */
static void test_unknown_formats(void **state)
{
    fx_t *f = *state;
    Edgekv__ReplPosition m = EDGEKV__REPL_POSITION__INIT;
    uint8_t buf[256];
    state_position_t got;
    state_identity_t id;
    char long_hist[40];
    put_text(f->s, STATE_POSITION, "1234");
    assert_int_equal(state_position_get(f->s, &got), KV_ECORRUPT);
    m.format = STATE_FORMAT + 1;
    m.history_id = HIST;
    m.seq = 9;
    assert_int_equal(
        stor_state_put(f->s, STATE_POSITION, buf, edgekv__repl_position__pack(&m, buf)), 0);
    assert_int_equal(state_position_get(f->s, &got), KV_ECORRUPT);
    assert_int_equal(got.seq, 0);
    memset(long_hist, 'a', sizeof long_hist - 1);
    long_hist[sizeof long_hist - 1] = '\0';
    m.format = STATE_FORMAT;
    m.history_id = long_hist;
    assert_int_equal(
        stor_state_put(f->s, STATE_POSITION, buf, edgekv__repl_position__pack(&m, buf)), 0);
    assert_int_equal(state_position_get(f->s, &got), KV_ECORRUPT);
    put_text(f->s, STATE_IDENTITY, "");
    assert_int_equal(state_identity_get(f->s, &id), KV_ECORRUPT);
}

/* ---- known edges: more than 64 ------------------------------------------------------- */

static void test_edges_many(void **state)
{
    fx_t *f = *state;
    size_t n = 300, got_n;
    state_edge_t *e = calloc(KV_REPL_EDGES_MAX + 1, sizeof *e), *got;
    for (size_t i = 0; i < KV_REPL_EDGES_MAX + 1; i++) {
        e[i] = (state_edge_t){(uint32_t)(1000 + i), 10 + i, 5000 + i, ""};
        /* The certificate name travels with the ack (every third: none, as
         * a record from before names were kept). */
        if (i % 3)
            snprintf(e[i].name, sizeof e[i].name, "edge-%zu.example", i);
    }
    assert_int_equal(state_edges_get(f->s, &got, &got_n), KV_ENOTFOUND);
    assert_int_equal(state_edges_put(f->s, e, n), 0);
    assert_int_equal(state_edges_get(f->s, &got, &got_n), 0);
    assert_int_equal(got_n, n);
    edges_equal(got, e, n);
    kv_free(got);
    /* Every edge the core can know fits; one more is refused, nothing written. */
    assert_int_equal(state_edges_put(f->s, e, KV_REPL_EDGES_MAX), 0);
    assert_int_equal(state_edges_put(f->s, e, KV_REPL_EDGES_MAX + 1), KV_ELIMIT);
    assert_int_equal(state_edges_get(f->s, &got, &got_n), 0);
    assert_int_equal(got_n, KV_REPL_EDGES_MAX);
    edges_equal(got, e, KV_REPL_EDGES_MAX);
    kv_free(got);
    assert_int_equal(state_edges_put(f->s, NULL, 0), 0);
    assert_int_equal(state_edges_get(f->s, &got, &got_n), 0);
    assert_int_equal(got_n, 0);
    assert_null(got);
    free(e);
}

/* What the origin does at start (node/replica/replica_work.c restore_acks): every
 * saved edge goes back into the core, and the core reports them all. */
static void test_edges_restore_core(void **state)
{
    fx_t *f = *state;
    size_t n = 200, got_n, restored = 0;
    state_edge_t *e = calloc(n, sizeof *e), *got;
    repl_origin_config_t oc;
    repl_origin_t *o;
    repl_edge_info_t *info = calloc(KV_REPL_EDGES_MAX, sizeof *info);
    for (size_t i = 0; i < n; i++) {
        e[i] = (state_edge_t){(uint32_t)(7 + i), 100 + i, 9000 + i, ""};
        snprintf(e[i].name, sizeof e[i].name, "e%zu", i);
    }
    assert_int_equal(state_edges_put(f->s, e, n), 0);

    repl_origin_config_default(&oc);
    oc.node_id = 1;
    snprintf(oc.history_id, sizeof oc.history_id, "%s", HIST);
    oc.last_seq = 1000;
    oc.log_first_seq = 1;
    assert_int_equal(repl_origin_create(&oc, &o), 0);
    assert_int_equal(state_edges_get(f->s, &got, &got_n), 0);
    for (size_t i = 0; i < got_n; i++)
        if (repl_origin_restore_edge(o, got[i].node_id, got[i].name, got[i].acked_seq,
                                     got[i].last_ack_ms) == 0)
            restored++;
    kv_free(got);
    assert_int_equal(restored, n);
    assert_int_equal(repl_origin_edges(o, 10000, info, KV_REPL_EDGES_MAX), n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = info[k].node_id == e[i].node_id && info[k].acked_seq == e[i].acked_seq &&
                    info[k].last_ack_ms == e[i].last_ack_ms && strcmp(info[k].name, e[i].name) == 0;
        assert_true(found);
    }
    repl_origin_destroy(o);
    free(info);
    free(e);
}

/* ---- tokens -------------------------------------------------------------------------- */

static void test_token_records(void **state)
{
    const char *ns[] = {NS_A, NS_B};
    state_token_t t = {.id = "0123456789abcdef",
                       .name = "ci",
                       .account = "acct",
                       .sha256_hex = SHA_F,
                       .write = true,
                       .scoped = true,
                       .namespaces = ns,
                       .namespace_count = 2},
                  got;
    uint8_t *rec, *conv;
    size_t len, conv_len;
    char name[STATE_TOKEN_NAME_BYTES];
    (void)state;
    assert_int_equal(state_token_name(name, "abc", 3), 9);
    assert_string_equal(name, "token:abc");

    assert_int_equal(state_token_encode(&t, &rec, &len), 0);
    assert_int_equal(state_token_decode(rec, len, &got), 0);
    assert_string_equal(got.id, t.id);
    assert_string_equal(got.name, "ci");
    assert_string_equal(got.account, "acct");
    assert_string_equal(got.sha256_hex, SHA_F);
    assert_true(got.write && got.scoped);
    assert_int_equal(got.namespace_count, 2);
    assert_string_equal(got.namespaces[1], NS_B);
    state_token_free(&got);
    /* A TokenRecord is stored as it is; so is a revocation. */
    assert_int_equal(state_token_convert(rec, len, &conv, &conv_len), 0);
    assert_null(conv);
    assert_int_equal(state_token_convert("", 0, &conv, &conv_len), 0);
    assert_null(conv);
    kv_free(rec);

    /* Scoped to no namespace at all is not "every namespace". */
    t.namespace_count = 0;
    t.namespaces = NULL;
    assert_int_equal(state_token_encode(&t, &rec, &len), 0);
    assert_int_equal(state_token_decode(rec, len, &got), 0);
    assert_true(got.scoped);
    assert_int_equal(got.namespace_count, 0);
    state_token_free(&got);
    kv_free(rec);

    /* A record of the JSON era is converted. */
    const char *json = "{\"id\":\"0123456789abcdef\",\"name\":\"old\",\"account\":\"acct\","
                       "\"sha256\":\"" SHA_E "\",\"write\":false,\"namespaces\":[\"" NS_A "\"]}";
    assert_int_equal(state_token_convert(json, strlen(json), &conv, &conv_len), 0);
    assert_non_null(conv);
    assert_int_equal(state_token_decode(conv, conv_len, &got), 0);
    assert_string_equal(got.name, "old");
    assert_string_equal(got.sha256_hex, SHA_E);
    assert_true(!got.write && got.scoped);
    assert_int_equal(got.namespace_count, 1);
    assert_string_equal(got.namespaces[0], NS_A);
    state_token_free(&got);
    kv_free(conv);
    /* Neither form: refused. */
    assert_int_equal(state_token_convert("xyz", 3, &conv, &conv_len), KV_ECORRUPT);
    assert_int_equal(state_token_convert("{\"id\":1}", 8, &conv, &conv_len), KV_ECORRUPT);
    assert_int_equal(state_token_decode("{}", 2, &got), KV_ECORRUPT);
}

/* The token reload reads TokenRecords: the secret authenticates, with its
 * scope; a revoked and an unreadable record add nothing. */
static void test_tokens_reload(void **state)
{
    fx_t *f = *state;
    const char *ns[] = {NS_A};
    char digest[65];
    uint8_t *rec;
    size_t len;
    auth_t *a;
    auth_token_t cfg = {.token = "configured-token", .account = "acct", .write = true};
    auth_digest_hex("s3cret", 6, digest);
    state_token_t t = {.id = "0123456789abcdef",
                       .name = "ci",
                       .account = "acct",
                       .sha256_hex = digest,
                       .write = true,
                       .scoped = true,
                       .namespaces = ns,
                       .namespace_count = 1};
    assert_int_equal(state_token_encode(&t, &rec, &len), 0);
    assert_int_equal(stor_state_put(f->s, STATE_TOKEN_PREFIX "0123456789abcdef", rec, len), 0);
    kv_free(rec);
    put_text(f->s, STATE_TOKEN_PREFIX "1111111111111111", "");
    put_text(f->s, STATE_TOKEN_PREFIX "2222222222222222", "junk");

    assert_int_equal(auth_create(&cfg, 1, &a), 0);
    assert_int_equal(tokens_reload(f->s, a), 0);
    const char *h = "Bearer s3cret";
    assert_int_equal(auth_check(a, h, strlen(h), "acct", NS_A, true, NULL), AUTH_OK);
    assert_int_equal(auth_check(a, h, strlen(h), "acct", NS_B, false, NULL), AUTH_FORBIDDEN);
    auth_destroy(a);
}

/* ---- upgrade ------------------------------------------------------------------------- */

#define OLD_TOKEN_JSON                                                                             \
    "{\"id\":\"0123456789abcdef\",\"name\":\"old\",\"account\":\"acct-old\",\"sha256\":\"%s\","    \
    "\"write\":true,\"namespaces\":[\"" NS_A "\"]}"

/* An origin's data directory as the code before format 1 left it. */
static void write_old_origin(stor_t *s, size_t n_edges)
{
    char acks[64 * 1100] = "", json[512], digest[65];
    size_t off = 0;
    put_text(s, STATE_OLD_NODE_ID, "0000002a");
    put_text(s, STATE_OLD_ACCOUNT_ID, "acct-old");
    put_text(s, STATE_OLD_DEFAULT_TOKEN,
             "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface");
    put_text(s, STATE_OLD_HISTORY, HIST);
    put_text(s, STATE_OLD_LAST_SEQ, "1234");
    put_text(s, STATE_OLD_HLC_LAST, "112233445566");
    for (size_t i = 0; i < n_edges; i++)
        off += (size_t)snprintf(acks + off, sizeof acks - off, "%zu:%zu:%zu;", 100 + i, 10 + i,
                                70000 + i);
    put_text(s, STATE_OLD_EDGE_ACKS, acks);
    auth_digest_hex("old-secret", 10, digest);
    snprintf(json, sizeof json, OLD_TOKEN_JSON, digest);
    put_text(s, STATE_TOKEN_PREFIX "0123456789abcdef", json);
    put_text(s, STATE_TOKEN_PREFIX "1111111111111111", "");     /* revoked */
    put_text(s, STATE_TOKEN_PREFIX "2222222222222222", "junk"); /* unreadable */
}

static void check_new_origin(stor_t *s, size_t n_edges)
{
    static const char *const old[] = {
        STATE_OLD_NODE_ID,  STATE_OLD_ACCOUNT_ID,  STATE_OLD_DEFAULT_TOKEN, STATE_OLD_HISTORY,
        STATE_OLD_LAST_SEQ, STATE_OLD_APPLIED_SEQ, STATE_OLD_HLC_LAST,      STATE_OLD_EDGE_ACKS};
    state_identity_t id;
    state_position_t pos;
    state_edge_t *e;
    state_token_t t;
    size_t n;
    char *v;
    assert_int_equal(state_identity_get(s, &id), 0);
    assert_int_equal(id.node_id, 42);
    assert_string_equal(id.account_id, "acct-old");
    assert_string_equal(id.default_token,
                        "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface");
    assert_int_equal(state_position_get(s, &pos), 0);
    assert_string_equal(pos.history_id, HIST);
    assert_int_equal(pos.seq, 1234);
    assert_int_equal(pos.hlc_last, 112233445566ull);
    assert_int_equal(state_edges_get(s, &e, &n), 0);
    assert_int_equal(n, n_edges);
    for (size_t i = 0; i < n; i++)
        assert_true(e[i].node_id == 100 + i && e[i].acked_seq == 10 + i &&
                    e[i].last_ack_ms == 70000 + i);
    kv_free(e);
    assert_int_equal(stor_state_get(s, STATE_TOKEN_PREFIX "0123456789abcdef", &v, &n), 0);
    assert_int_equal(state_token_decode(v, n, &t), 0);
    assert_string_equal(t.account, "acct-old");
    assert_true(t.write && t.scoped && t.namespace_count == 1);
    state_token_free(&t);
    kv_free(v);
    assert_int_equal(stor_state_get(s, STATE_TOKEN_PREFIX "1111111111111111", &v, &n), 0);
    assert_int_equal(n, 0);
    kv_free(v);
    assert_int_equal(stor_state_get(s, STATE_TOKEN_PREFIX "2222222222222222", &v, &n), 0);
    assert_string_equal(v, "junk");
    kv_free(v);
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        assert_false(has(s, old[i]));
}

static void test_upgrade_origin(void **state)
{
    fx_t *f = *state;
    size_t converted;
    auth_t *a;
    auth_token_t cfg = {.token = "configured-token", .account = "acct", .write = true};
    const char *h = "Bearer old-secret";
    write_old_origin(f->s, 100);
    assert_int_equal(state_upgrade(f->s, &converted), 0);
    assert_int_equal(converted, 8); /* 7 old names and 1 JSON token */
    check_new_origin(f->s, 100);
    /* identity, position, known_edges, 3 tokens */
    assert_int_equal(state_entries(f->s), 6);
    /* Once is enough. */
    assert_int_equal(state_upgrade(f->s, &converted), 0);
    assert_int_equal(converted, 0);
    check_new_origin(f->s, 100);
    /* The converted token works. */
    assert_int_equal(auth_create(&cfg, 1, &a), 0);
    assert_int_equal(tokens_reload(f->s, a), 0);
    assert_int_equal(auth_check(a, h, strlen(h), "acct-old", NS_A, true, NULL), AUTH_OK);
    auth_destroy(a);
}

static void test_upgrade_edge(void **state)
{
    fx_t *f = *state;
    state_position_t pos;
    state_identity_t id;
    size_t converted;
    put_text(f->s, STATE_OLD_NODE_ID, "00000000"); /* read as node 1 before */
    put_text(f->s, STATE_OLD_APPLIED_SEQ, "77");
    put_text(f->s, STATE_OLD_HISTORY, HIST);
    assert_int_equal(state_upgrade(f->s, &converted), 0);
    assert_int_equal(converted, 3);
    assert_int_equal(state_position_get(f->s, &pos), 0);
    assert_int_equal(pos.seq, 77);
    assert_int_equal(pos.hlc_last, 0);
    assert_int_equal(state_identity_get(f->s, &id), 0);
    assert_int_equal(id.node_id, 1);
    assert_string_equal(id.account_id, "");
    assert_false(has(f->s, STATE_KNOWN_EDGES));
    assert_int_equal(state_entries(f->s), 2);
}

/* An old fact written after a conversion (an older binary ran in between)
 * replaces only itself. */
static void test_upgrade_merge(void **state)
{
    fx_t *f = *state;
    state_identity_t id = {.node_id = 9, .account_id = "new-acct"};
    state_position_t pos = {.history_id = HIST, .seq = 50, .hlc_last = 60};
    size_t converted;
    assert_int_equal(state_identity_put(f->s, &id), 0);
    assert_int_equal(state_position_put(f->s, &pos), 0);
    put_text(f->s, STATE_OLD_ACCOUNT_ID, "old-acct");
    put_text(f->s, STATE_OLD_LAST_SEQ, "51");
    assert_int_equal(state_upgrade(f->s, &converted), 0);
    assert_int_equal(converted, 2);
    assert_int_equal(state_identity_get(f->s, &id), 0);
    assert_int_equal(id.node_id, 9);
    assert_string_equal(id.account_id, "old-acct");
    assert_int_equal(state_position_get(f->s, &pos), 0);
    assert_string_equal(pos.history_id, HIST);
    assert_true(pos.seq == 51 && pos.hlc_last == 60);
}

static void test_upgrade_fresh(void **state)
{
    fx_t *f = *state;
    size_t converted = 99;
    assert_int_equal(state_upgrade(f->s, &converted), 0);
    assert_int_equal(converted, 0);
    assert_int_equal(state_entries(f->s), 0);
}

/* Every allocation of the upgrade fails in turn: it reports the error and
 * leaves the old state exactly as it was, then succeeds. */
static void test_upgrade_alloc_failure(void **state)
{
    fx_t *f = *state;
    int rc = -1;
    long fail_at;
    write_old_origin(f->s, 70);
    for (fail_at = 0; fail_at < 10000 && rc != 0; fail_at++) {
        kv_mem_failing_set(fail_at);
        rc = state_upgrade(f->s, NULL);
        kv_mem_set(NULL);
        if (rc != 0) {
            assert_true(rc == -ENOMEM || rc == KV_ECORRUPT);
            assert_true(has(f->s, STATE_OLD_NODE_ID) && has(f->s, STATE_OLD_EDGE_ACKS));
            assert_false(has(f->s, STATE_IDENTITY) || has(f->s, STATE_POSITION) ||
                         has(f->s, STATE_KNOWN_EDGES));
        }
    }
    assert_int_equal(rc, 0);
    assert_true(fail_at > 3);
    check_new_origin(f->s, 70);
}

/* A commit's removals: atomic with its puts, and an empty name is refused. */
static void test_commit_removes(void **state)
{
    fx_t *f = *state;
    const char *del[] = {"a", "b"}, *bad[] = {""};
    stor_state_put_t put[] = {{"b", "2", 1}, {"c", "3", 1}};
    put_text(f->s, "a", "1");
    stor_commit_t c = {.state = put, .n_state = 2, .state_del = del, .n_state_del = 2};
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_false(has(f->s, "a"));
    assert_true(has(f->s, "b") && has(f->s, "c")); /* removed, then put */
    c.state_del = bad;
    c.n_state_del = 1;
    assert_int_equal(stor_commit(f->s, &c), KV_EINVAL);
    c.state_del = NULL;
    assert_int_equal(stor_commit(f->s, &c), KV_EINVAL);
}

/* The restore marker: absent, left by edgekv restore, then honoured once:
 * the new position and the marker's removal are one commit. */
static void test_new_history_marker(void **state)
{
    fx_t *f = *state;
    bool pending = true;
    state_position_t p = {.history_id = HIST, .seq = 7}, got;
    assert_int_equal(state_new_history_pending(f->s, &pending), 0);
    assert_false(pending);
    assert_int_equal(state_new_history_mark(f->s), 0);
    assert_int_equal(state_new_history_pending(f->s, &pending), 0);
    assert_true(pending);
    assert_true(has(f->s, STATE_NEW_HISTORY));
    assert_int_equal(state_new_history_commit(f->s, &p), 0);
    assert_int_equal(state_new_history_pending(f->s, &pending), 0);
    assert_false(pending);
    assert_int_equal(state_position_get(f->s, &got), 0);
    assert_string_equal(got.history_id, HIST);
    assert_int_equal(got.seq, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_position_without_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_restore_core, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_history_marker, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
