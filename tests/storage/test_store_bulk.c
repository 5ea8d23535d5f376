/* test_store_bulk.c - bulk loads (storage/store_bulk.c): records written
 * into SST files and ingested whole, the key order they must come in, what
 * an interrupted load leaves, and a snapshot interrupted between an ingest
 * and the position that would end it. A crash is a child process (this
 * binary run again with "child MODE DIR") that SIGKILLs itself: the page
 * cache keeps what it wrote, as after a process crash. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "store.h"
#include "store_fx.h"

#define NS1  "0123456789abcdef0123456789abcdef"
#define NS2  "fedcba9876543210fedcba9876543210"
#define NREC 500 /* records of a "snapshot" */

typedef struct {
    char dir[STORE_FX_DIR_CAP], dir2[STORE_FX_DIR_CAP];
    stor_options_t o, o2;
    stor_t *s, *s2; /* s2: a reference replica written by commits */
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || store_fx_open(f->dir, "bulk", &f->o, &f->s) != 0 ||
        store_fx_open(f->dir2, "bulkref", &f->o2, &f->s2) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kv_mem_set(NULL);
    store_fx_close(f->s, f->dir);
    store_fx_close(f->s2, f->dir2);
    free(f);
    return 0;
}

static void fx_reopen(fx_t *f)
{
    stor_close(f->s);
    f->s = NULL;
    assert_int_equal(stor_open(&f->o, &f->s), 0);
}

/* ---- helpers ------------------------------------------------------------------ */

/* Keys and values of the test records: k0000.. in NS1, then NS2. */
typedef struct {
    char key[NREC][24];
    char val[NREC][24];
    stor_mutation_t m[NREC];
} recs_t;

/* Records [0, n): every 7th a tombstone; the first half in NS1, the rest
 * in NS2 (so the keys ascend across the namespaces too). */
static void recs_make(recs_t *r, size_t n, const char *tag)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(r->key[i], sizeof r->key[i], "k%04zu", i);
        snprintf(r->val[i], sizeof r->val[i], "%s-%zu", tag, i);
        stor_mutation_t *m = &r->m[i];
        memset(m, 0, sizeof *m);
        m->ns_id = i < n / 2 ? NS1 : NS2;
        m->key = r->key[i];
        m->key_len = strlen(r->key[i]);
        /* Versions of now: the expiry filter drops tombstones past the
         * retention window whenever a compaction runs. */
        m->rec.version = (kv_version_t){((uint64_t)time(NULL) * 1000u << 16) + i, 1};
        m->rec.tombstone = i % 7 == 3;
        if (!m->rec.tombstone) {
            m->rec.value = (const uint8_t *)r->val[i];
            m->rec.value_len = strlen(r->val[i]);
        }
        if (i % 5 == 1) {
            m->rec.metadata = "{\"m\":1}";
            m->rec.metadata_len = 7;
        }
    }
}

static void state_put(stor_t *s, const char *name, const char *v, bool no_sync)
{
    stor_state_put_t st = {name, v, strlen(v)};
    stor_commit_t c = {.state = &st, .n_state = 1, .no_sync = no_sync};
    assert_int_equal(stor_commit(s, &c), 0);
}

/* Every record of r[0, n) reads back as written. */
static void recs_check(stor_t *s, const recs_t *r, size_t n)
{
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        const stor_mutation_t *m = &r->m[i];
        assert_string_equal(store_fx_value(s, m->ns_id, m->key, buf, sizeof buf),
                            m->rec.tombstone ? "<del>" : r->val[i]);
    }
}

/* The same records committed into the reference replica: the digests of
 * the two must then be equal. */
static void digest_same(fx_t *f, const recs_t *r, size_t n)
{
    stor_commit_t c = {.muts = r->m, .n_muts = n};
    uint8_t d1[STOR_DIGEST_BYTES], d2[STOR_DIGEST_BYTES];
    assert_int_equal(stor_commit(f->s2, &c), 0);
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(f->s2, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof d1);
}

/* Files in <store>/bulk (0 when it does not exist). */
static size_t bulk_files(const char *store)
{
    char p[128];
    snprintf(p, sizeof p, "%s/bulk", store);
    DIR *d = opendir(p);
    struct dirent *de;
    size_t n = 0;
    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* ---- a crash: this binary again, as a child that kills itself ----------------- */

static const char *self_path;

/* Run "child MODE DIR" and expect it to die of SIGKILL. The parent's store
 * is closed around it (RocksDB locks the directory). */
static void crash_child(fx_t *f, const char *mode)
{
    stor_close(f->s);
    f->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self_path, self_path, "child", mode, f->dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_int_equal(stor_open(&f->o, &f->s), 0);
}

/* The child's side: a snapshot as node/replica/replica_work.c loads one
 * (reset, records into the bulk load, the position raising hlc_last,
 * ingest), cut short by SIGKILL. "ingested": after the ingest, before the
 * position that ends the snapshot; "added": before any ingest. */
static int child_main(const char *mode, const char *dir)
{
    static recs_t r;
    static const char *const keep[] = {"identity"};
    stor_options_t o;
    stor_t *s = NULL;
    stor_bulk_t *b = NULL;
    store_fx_options(&o, dir);
    if (stor_open(&o, &s) != 0 || stor_reset(s, keep, 1) != 0 || stor_bulk_open(s, &b) != 0)
        return 2;
    recs_make(&r, NREC, "new");
    if (stor_bulk_add(b, r.m, NREC / 2) != 0)
        return 3;
    stor_state_put_t st = {"position", "hlc-only", 8};
    stor_commit_t c = {.state = &st, .n_state = 1, .no_sync = true};
    if (stor_commit(s, &c) != 0)
        return 4;
    if (strcmp(mode, "ingested") == 0 && stor_bulk_ingest(b) != 0)
        return 5;
    raise(SIGKILL);
    return 6;
}

/* ---- tests ---------------------------------------------------------------------- */

/* Records added are invisible until the ingest, then all there, tombstones
 * and metadata included, durable across a reopen, and the store's digest
 * is that of the same records committed one by one. */
static void test_bulk_ingest(void **state)
{
    fx_t *f = *state;
    static recs_t r;
    char buf[64];
    stor_bulk_t *b = NULL;
    recs_make(&r, NREC, "v");
    assert_int_equal(stor_bulk_open(f->s, &b), 0);
    assert_int_equal(stor_bulk_add(b, r.m, NREC / 2), 0);
    assert_true(stor_bulk_pending_bytes(b) > 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");
    assert_int_equal(stor_bulk_ingest(b), 0);
    assert_int_equal(stor_bulk_pending_bytes(b), 0);
    assert_int_equal(stor_bulk_ingest(b), 0); /* nothing pending: nothing done */
    recs_check(f->s, &r, NREC / 2);
    /* A second file, above the first. */
    for (size_t i = NREC / 2; i < NREC; i += 50)
        assert_int_equal(stor_bulk_add(b, r.m + i, 50), 0);
    assert_int_equal(stor_bulk_ingest(b), 0);
    assert_int_equal(stor_bulk_ingested(b), NREC);
    stor_bulk_close(b);
    assert_int_equal(bulk_files(f->dir), 0); /* moved into the store */
    fx_reopen(f);
    recs_check(f->s, &r, NREC);
    digest_same(f, &r, NREC);
}

/* Keys must ascend, within a call and across calls; a call that breaks
 * the order (or is malformed) adds nothing and leaves the handle usable. */
static void test_bulk_order(void **state)
{
    fx_t *f = *state;
    static recs_t r;
    char buf[64];
    stor_bulk_t *b = NULL;
    recs_make(&r, 10, "o");
    assert_int_equal(stor_bulk_open(f->s, &b), 0);
    assert_int_equal(stor_bulk_add(b, r.m + 1, 2), 0);         /* k1, k2 */
    assert_int_equal(stor_bulk_add(b, r.m + 0, 1), KV_EINVAL); /* k0: below */
    assert_int_equal(stor_bulk_add(b, r.m + 2, 1), KV_EINVAL); /* k2 again */
    stor_mutation_t swapped[2] = {r.m[4], r.m[3]};             /* k4, k3 */
    assert_int_equal(stor_bulk_add(b, swapped, 2), KV_EINVAL);
    stor_mutation_t twice[2] = {r.m[3], r.m[3]};
    assert_int_equal(stor_bulk_add(b, twice, 2), KV_EINVAL);
    stor_mutation_t bad[2] = {r.m[3], r.m[4]};
    bad[1].ns_id = "0123456789ABCDEF0123456789abcdef"; /* not lowercase hex */
    assert_int_equal(stor_bulk_add(b, bad, 2), KV_EINVAL);
    bad[1] = r.m[4];
    bad[1].key_len = 0;
    assert_int_equal(stor_bulk_add(b, bad, 2), KV_EINVAL);
    /* NS2's keys sort after NS1's: k6 of NS2 follows k2..k4 of NS1. */
    assert_int_equal(stor_bulk_add(b, r.m + 3, 2), 0);
    assert_int_equal(stor_bulk_add(b, r.m + 6, 1), 0);
    assert_int_equal(stor_bulk_ingest(b), 0);
    /* After an ingest the order goes on from the last key. */
    assert_int_equal(stor_bulk_add(b, r.m + 5, 1), KV_EINVAL);
    assert_int_equal(stor_bulk_add(b, r.m + 7, 3), 0);
    assert_int_equal(stor_bulk_ingest(b), 0);
    stor_bulk_close(b);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");
    assert_string_equal(store_fx_value(f->s, NS1, "k0001", buf, sizeof buf), "o-1");
    assert_string_equal(store_fx_value(f->s, NS1, "k0003", buf, sizeof buf), "<del>");
    assert_string_equal(store_fx_value(f->s, NS2, "k0005", buf, sizeof buf), "");
    assert_string_equal(store_fx_value(f->s, NS2, "k0009", buf, sizeof buf), "o-9");
    assert_int_equal(stor_bulk_ingested(NULL), 0);
}

/* Records never ingested are gone: after a close, and after a crash (the
 * file it left is deleted at the next open). */
static void test_bulk_dropped(void **state)
{
    fx_t *f = *state;
    static recs_t r;
    char buf[64];
    stor_bulk_t *b = NULL;
    recs_make(&r, NREC, "new");
    assert_int_equal(stor_bulk_open(f->s, &b), 0);
    assert_int_equal(stor_bulk_add(b, r.m, 10), 0);
    assert_int_equal(bulk_files(f->dir), 1);
    stor_bulk_close(b);
    assert_int_equal(bulk_files(f->dir), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");

    /* The child adds, then dies; its file stays until the next open. */
    stor_close(f->s);
    f->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self_path, self_path, "child", "added", f->dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(bulk_files(f->dir), 1);
    assert_int_equal(stor_open(&f->o, &f->s), 0);
    assert_int_equal(bulk_files(f->dir), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");
    assert_string_equal(store_fx_state(f->s, "position", buf, sizeof buf), "hlc-only");
}

/* A snapshot interrupted between an ingest and the position that ends it:
 * the store holds the reset (the old records and position gone), the
 * ingested records, the position without a history (which makes the
 * replica reset and ask again); the snapshot taken again over it ends with
 * exactly the origin's records. */
static void test_bulk_interrupted_snapshot(void **state)
{
    fx_t *f = *state;
    static recs_t r, old;
    static const char *const keep[] = {"identity"};
    char buf[64];
    stor_bulk_t *b = NULL;
    recs_make(&old, 40, "old");
    stor_commit_t c = {.muts = old.m, .n_muts = 40};
    assert_int_equal(stor_commit(f->s, &c), 0);
    state_put(f->s, "identity", "me", false);
    state_put(f->s, "position", "old-history:40", false);

    crash_child(f, "ingested");
    recs_make(&r, NREC, "new");
    recs_check(f->s, &r, NREC / 2); /* the ingested file survived */
    assert_string_equal(store_fx_value(f->s, NS2, r.key[NREC - 1], buf, sizeof buf), "");
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "new-0");
    assert_string_equal(store_fx_value(f->s, NS2, "k0030", buf, sizeof buf), ""); /* old, reset */
    assert_string_equal(store_fx_state(f->s, "position", buf, sizeof buf), "hlc-only");
    assert_string_equal(store_fx_state(f->s, "identity", buf, sizeof buf), "me");

    /* The resume: reset, the whole snapshot again, then its position. */
    assert_int_equal(stor_reset(f->s, keep, 1), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");
    assert_int_equal(stor_bulk_open(f->s, &b), 0);
    assert_int_equal(stor_bulk_add(b, r.m, NREC), 0);
    assert_int_equal(stor_bulk_ingest(b), 0);
    stor_bulk_close(b);
    state_put(f->s, "position", "new-history:500", false);
    fx_reopen(f);
    recs_check(f->s, &r, NREC);
    assert_string_equal(store_fx_state(f->s, "position", buf, sizeof buf), "new-history:500");
    digest_same(f, &r, NREC); /* nothing of the old records is left */
}

/* Allocation failures: the open fails cleanly; an add that cannot encode
 * drops the file and the handle keeps failing until closed. */
static void test_bulk_oom(void **state)
{
    fx_t *f = *state;
    static recs_t r;
    char buf[64];
    stor_bulk_t *b = NULL;
    static uint8_t big[8192]; /* larger than the scratch the first add made */
    recs_make(&r, 10, "m");
    r.m[2].rec.value = big;
    r.m[2].rec.value_len = sizeof big;
    for (long n = 0; n < 3; n++) {
        kv_mem_failing_set(n);
        int rc = stor_bulk_open(f->s, &b);
        kv_mem_set(NULL);
        assert_int_equal(rc, -ENOMEM);
        assert_null(b);
    }
    assert_int_equal(stor_bulk_open(f->s, &b), 0);
    assert_int_equal(stor_bulk_add(b, r.m, 2), 0);
    kv_mem_failing_set(0);
    assert_int_equal(stor_bulk_add(b, r.m + 2, 2), -ENOMEM);
    kv_mem_set(NULL);
    assert_int_equal(stor_bulk_add(b, r.m + 4, 2), -ENOMEM);
    assert_int_equal(stor_bulk_ingest(b), -ENOMEM);
    stor_bulk_close(b);
    assert_int_equal(bulk_files(f->dir), 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k0000", buf, sizeof buf), "");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child_main(argv[2], argv[3]);
    self_path = "/proc/self/exe";
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bulk_ingest),  T(test_bulk_order),
        T(test_bulk_dropped), T(test_bulk_interrupted_snapshot),
        T(test_bulk_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
