/* test_store_repl.c - the replication side of the RocksDB replica: atomic
 * commits (records, namespaces, log, state), namespace rules for deciding
 * and replicated changes, the log, snapshots, reset and the digest. Each
 * test runs in fresh temporary directories that are removed afterwards. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "store.h"
#include "store_fx.h"

#define NS1 "0123456789abcdef0123456789abcdef"
#define NS2 "fedcba9876543210fedcba9876543210"
#define NS3 "00000000000000000000000000000003"

typedef struct {
    char dir[STORE_FX_DIR_CAP], dir2[STORE_FX_DIR_CAP];
    stor_options_t o, o2;
    stor_t *s, *s2; /* s2: a second replica, opened on demand */
} fx_t;

static void fx_reopen(fx_t *f)
{
    stor_close(f->s);
    f->s = NULL;
    assert_int_equal(stor_open(&f->o, &f->s), 0);
}

static stor_t *fx_second(fx_t *f)
{
    assert_int_equal(store_fx_mkdir(f->dir2, "repl2"), 0);
    store_fx_options(&f->o2, f->dir2);
    assert_int_equal(stor_open(&f->o2, &f->s2), 0);
    return f->s2;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || store_fx_open(f->dir, "repl", &f->o, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kv_mem_set(NULL);
    store_fx_close(f->s, f->dir);
    if (f->dir2[0])
        store_fx_close(f->s2, f->dir2);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static stor_mutation_t mut(const char *ns, const char *key, uint64_t hlc, const char *val)
{
    stor_mutation_t m = {0};
    m.ns_id = ns;
    m.key = key;
    m.key_len = strlen(key);
    m.rec.version = (kv_version_t){hlc, 1};
    m.rec.value = (const uint8_t *)val;
    m.rec.value_len = val ? strlen(val) : 0;
    m.rec.tombstone = val == NULL;
    return m;
}

static stor_ns_change_t nsc(stor_ns_op_t kind, const char *id, const char *account,
                            const char *title)
{
    return (stor_ns_change_t){kind, id, account, title, (kv_version_t){1, 1}};
}

/* Commit only mutations / only namespace changes. */
static int commit_muts(stor_t *s, const stor_mutation_t *m, size_t n, int *res)
{
    stor_commit_t c = {.muts = m, .n_muts = n, .mut_results = res};
    return stor_commit(s, &c);
}

static int commit_ns(stor_t *s, const stor_ns_change_t *ch, size_t n, int *res)
{
    stor_commit_t c = {.ns = ch, .n_ns = n, .ns_results = res};
    return stor_commit(s, &c);
}

/* "account/title" of a namespace, in a static buffer (one use at a time). */
static const char *title_of(stor_t *s, const char *id)
{
    static char buf[KV_ACCOUNT_ID_MAX_BYTES + 1 + KV_NS_TITLE_MAX_BYTES + 1];
    stor_ns_t ns;
    if (stor_ns_get(s, id, &ns) != 0)
        return "<none>";
    snprintf(buf, sizeof(buf), "%s/%s", ns.account, ns.title);
    return buf;
}

static size_t ns_count(stor_t *s, const char *account)
{
    stor_ns_t *out = NULL;
    size_t count = 0, total = 0;
    assert_int_equal(
        stor_ns_list(s, account, STOR_NS_ORDER_ID, false, 1, KV_NS_PAGE_MAX, &out, &count, &total),
        0);
    kv_free(out);
    return total;
}

/* Log entries collected by a read, as "seq:data,..." */
typedef struct {
    char text[512];
    size_t n;
    int stop_after; /* return `stop_rc` after this many (0: never) */
    int stop_rc;
} logbuf_t;

static int log_collect(void *arg, uint64_t seq, const void *data, size_t len)
{
    logbuf_t *b = arg;
    size_t o = strlen(b->text);
    snprintf(b->text + o, sizeof(b->text) - o, "%s%llu:%.*s", o ? "," : "", (unsigned long long)seq,
             (int)len, (const char *)data);
    b->n++;
    return b->stop_after && (int)b->n == b->stop_after ? b->stop_rc : 0;
}

static const char *log_text(stor_t *s, uint64_t from, size_t max_n, size_t max_bytes, logbuf_t *b)
{
    memset(b, 0, sizeof(*b));
    assert_int_equal(stor_log_read(s, from, max_n, max_bytes, log_collect, b), 0);
    return b->text;
}

static int commit_log(stor_t *s, uint64_t seq, const char *data)
{
    stor_log_entry_t e = {seq, data, strlen(data)};
    stor_commit_t c = {.log = &e, .n_log = 1};
    return stor_commit(s, &c);
}

/* ---- commits -------------------------------------------------------------------- */

/* Records, namespaces, log and state of one commit all land, or none. */
static void test_commit_all(void **state)
{
    fx_t *f = *state;
    char buf[128];
    stor_mutation_t m[] = {mut(NS1, "a", 5, "va"), mut(NS1, "b", 5, "vb")};
    stor_ns_change_t ch[] = {nsc(STOR_NS_CREATE, NS1, "acc", "t1")};
    stor_log_entry_t log[] = {{1, "e1", 2}, {2, "e2", 2}};
    stor_state_put_t st[] = {{"last_seq", "2", 1}, {"history_id", "h", 1}};
    int mres[2] = {99, 99}, nres[1] = {99};
    stor_commit_t c = {m, 2, mres, ch, 1, nres, log, 2, st, 2, NULL, 0, 0, false, false};
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_int_equal(mres[0], 0);
    assert_int_equal(mres[1], 0);
    assert_int_equal(nres[0], 0);
    assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "va");
    assert_string_equal(title_of(f->s, NS1), "acc/t1");
    assert_string_equal(store_fx_state(f->s, "last_seq", buf, sizeof(buf)), "2");
    assert_string_equal(store_fx_state(f->s, "history_id", buf, sizeof(buf)), "h");
    uint64_t first = 9, last = 9;
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == 2);
    logbuf_t lb;
    assert_string_equal(log_text(f->s, 1, 10, 1000, &lb), "1:e1,2:e2");

    /* A malformed item anywhere: nothing of the commit is written. */
    stor_mutation_t m2[] = {mut(NS1, "c", 9, "vc")};
    stor_ns_change_t ch2[] = {nsc(STOR_NS_CREATE, NS2, "acc", "t2")};
    stor_log_entry_t bad_log[] = {{3, "e3", 2}, {0, "zero", 4}};
    stor_state_put_t st2[] = {{"last_seq", "4", 1}};
    stor_commit_t c2 = {m2, 1, NULL, ch2, 1, NULL, bad_log, 2, st2, 1, NULL, 0, 0, false, false};
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    stor_state_put_t bad_st[] = {{"", "x", 1}};
    c2.log = log + 1; /* seq 2 again: fine */
    c2.n_log = 1;
    c2.state = bad_st;
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    stor_ns_change_t bad_ch[] = {nsc(STOR_NS_CREATE, "XYZ", "acc", "t")};
    c2.state = st2;
    c2.ns = bad_ch;
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    bad_ch[0] = nsc(STOR_NS_RENAME, NS1, NULL, "");
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    bad_ch[0] = nsc((stor_ns_op_t)42, NS1, NULL, "x");
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    stor_mutation_t bad_m[] = {mut(NS1, "", 9, "x")};
    c2.ns = ch2;
    c2.muts = bad_m;
    assert_int_equal(stor_commit(f->s, &c2), KV_EINVAL);
    assert_string_equal(store_fx_value(f->s, NS1, "c", buf, sizeof(buf)), "");
    assert_string_equal(title_of(f->s, NS2), "<none>");
    assert_string_equal(store_fx_state(f->s, "last_seq", buf, sizeof(buf)), "2");
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == 2);
    assert_int_equal(stor_commit(f->s, NULL), KV_EINVAL);
    stor_commit_t empty = {0};
    assert_int_equal(stor_commit(f->s, &empty), 0);
}

/* Commit c with the n-th allocation failing, n = 0, 1, ... until it
 * succeeds; after each failure, which must be -ENOMEM, untouched(f) checks
 * that it left no trace. Returns how many failed. */
static int commit_oom_steps(fx_t *f, const stor_commit_t *c, void (*untouched)(fx_t *))
{
    int fails = 0;
    for (long n = 0; n < 20; n++) {
        kv_mem_failing_set(n);
        int rc = stor_commit(f->s, c);
        kv_mem_set(NULL);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        fails++;
        untouched(f);
    }
    return fails;
}

static void oom_untouched(fx_t *f)
{
    char buf[128];
    assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS3, "b", buf, sizeof(buf)), "");
    assert_string_equal(title_of(f->s, NS1), "<none>");
    assert_string_equal(title_of(f->s, NS3), "acc/old");
    assert_string_equal(store_fx_state(f->s, "last_seq", buf, sizeof(buf)), "<none>");
    uint64_t first = 9, last = 9;
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 0 && last == 0);
}

/* Every allocation of a commit failing in turn: -ENOMEM and no trace. */
static void test_commit_oom(void **state)
{
    fx_t *f = *state;
    char buf[128];
    assert_int_equal(stor_ns_create(f->s, "acc", "old", (kv_version_t){1, 1}, NS3, NULL), 0);
    stor_mutation_t m[] = {mut(NS1, "a", 5, "va"), mut(NS3, "b", 5, "vb")};
    stor_ns_change_t ch[] = {
        nsc(STOR_NS_CREATE, NS1, "acc", "t1"),     nsc(STOR_NS_RENAME, NS1, NULL, "t1b"),
        nsc(STOR_NS_RENAME, NS3, NULL, "renamed"), nsc(STOR_NS_CREATE, NS2, "acc", "t2"),
        nsc(STOR_NS_DELETE, NS2, NULL, NULL),
    };
    stor_log_entry_t log[] = {{7, "e7", 2}};
    stor_state_put_t st[] = {{"last_seq", "7", 1}};
    stor_commit_t c = {m, 2, NULL, ch, 5, NULL, log, 1, st, 1, NULL, 0, 0, false, false};
    int fails = commit_oom_steps(f, &c, oom_untouched);
    /* prepare, plan array, plan bookkeeping, create, copy on rename of a
     * mirror entry, create, then the batched read of the two keys: seven
     * allocations, then success (the LWW check's run starts and versions
     * are on the stack for a commit this small). */
    assert_int_equal(fails, 7);
    assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "va");
    assert_string_equal(title_of(f->s, NS1), "acc/t1b");
    assert_string_equal(title_of(f->s, NS3), "acc/renamed");
    assert_string_equal(title_of(f->s, NS2), "<none>");
    assert_int_equal(ns_count(f->s, "acc"), 2);
}

static void oom_big_untouched(fx_t *f)
{
    char buf[64];
    assert_string_equal(store_fx_value(f->s, NS1, "k000", buf, sizeof(buf)), "");
}

/* A commit of more mutations than the LWW check keeps on the stack: its
 * scratch is allocated, and running out of memory there too leaves no
 * trace. */
static void test_commit_oom_big(void **state)
{
    fx_t *f = *state;
    enum { N = 100 };
    char keys[N][8], buf[64];
    stor_mutation_t m[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%03d", (i * 37) % N);
        m[i] = mut(NS1, keys[i], 5, "v");
    }
    stor_commit_t c = {.muts = m, .n_muts = N};
    int fails = commit_oom_steps(f, &c, oom_big_untouched);
    /* prepare, the run starts, the versions, the batched read. */
    assert_int_equal(fails, 4);
    assert_string_equal(store_fx_value(f->s, NS1, "k000", buf, sizeof(buf)), "v");
    assert_string_equal(store_fx_value(f->s, NS1, "k099", buf, sizeof(buf)), "v");
}

/* The size of the biggest file of a store directory. */
static off_t biggest_file(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    off_t max = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[512];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > max)
            max = sb.st_size;
    }
    closedir(d);
    return max;
}

/* A write that really fails (the WAL cannot grow past RLIMIT_FSIZE, set
 * with room for RocksDB's info LOG to go on growing a little):
 * KV_EIO, nothing visible, the mirror unchanged, and still nothing after a
 * reopen replays the WAL. */
static void test_commit_io_error(void **state)
{
    fx_t *f = *state;
    char buf[128];
    assert_int_equal(commit_log(f->s, 1, "before"), 0);
    size_t big_len = 4u << 20;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    stor_mutation_t m[] = {mut(NS1, "a", 5, "va")};
    stor_ns_change_t ch[] = {nsc(STOR_NS_CREATE, NS1, "acc", "t1")};
    stor_log_entry_t log[] = {{2, big, big_len}};
    stor_state_put_t st[] = {{"last_seq", "2", 1}};
    stor_commit_t c = {m, 1, NULL, ch, 1, NULL, log, 1, st, 1, NULL, 0, 0, false, false};

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)biggest_file(f->dir) + 256 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = stor_commit(f->s, &c);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    free(big);
    assert_int_equal(rc, KV_EIO);

    for (int round = 0; round < 2; round++) {
        assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "");
        assert_string_equal(title_of(f->s, NS1), "<none>");
        assert_string_equal(store_fx_state(f->s, "last_seq", buf, sizeof(buf)), "<none>");
        uint64_t first = 9, last = 9;
        assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
        assert_true(first == 1 && last == 1);
        fx_reopen(f);
    }
    /* The reopened store writes again. */
    c.log = NULL;
    c.n_log = 0;
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_string_equal(title_of(f->s, NS1), "acc/t1");
}

static void test_commit_lww(void **state)
{
    fx_t *f = *state;
    char buf[64];
    stor_mutation_t first[] = {mut(NS1, "k1", 10, "old")};
    assert_int_equal(commit_muts(f->s, first, 1, NULL), 0);
    stor_mutation_t m[] = {
        mut(NS1, "k1", 5, "stale"),  mut(NS1, "k2", 3, "three"), mut(NS1, "k2", 2, "two"),
        mut(NS1, "k1", 10, "equal"), mut(NS1, "k1", 11, NULL),   mut(NS1, "k2", 4, "four"),
    };
    int res[6];
    memset(res, 0x55, sizeof(res));
    stor_log_entry_t log[] = {{1, "x", 1}};
    stor_commit_t c = {.muts = m, .n_muts = 6, .mut_results = res, .log = log, .n_log = 1};
    assert_int_equal(stor_commit(f->s, &c), 0);
    int want[] = {KV_ESTALE, 0, KV_ESTALE, KV_ESTALE, 0, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(res[i], want[i]);
    assert_string_equal(store_fx_value(f->s, NS1, "k1", buf, sizeof(buf)), "<del>");
    assert_string_equal(store_fx_value(f->s, NS1, "k2", buf, sizeof(buf)), "four");
    /* Replayed: every mutation stale, yet the log entry is (re)written. */
    assert_int_equal(stor_commit(f->s, &c), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(res[i], KV_ESTALE);
    /* stor_apply_batch is the same path. */
    stor_mutation_t m2[] = {mut(NS1, "k2", 4, "again"), mut(NS1, "k2", 5, "five")};
    assert_int_equal(stor_apply_batch(f->s, m2, 2, res), 0);
    assert_int_equal(res[0], KV_ESTALE);
    assert_int_equal(res[1], 0);
    assert_string_equal(store_fx_value(f->s, NS1, "k2", buf, sizeof(buf)), "five");
}

/* The caller's promises skip the LWW reads: a run of a key whose every
 * mutation is above stored_hlc_max is written without reading, one with a
 * mutation at or below it is read and judged; keys_absent reads nothing.
 * The broken promises below show that the reads were really skipped. */
static void test_commit_lww_promises(void **state)
{
    fx_t *f = *state;
    char buf[64];
    stor_mutation_t first[] = {mut(NS1, "a", 100, "a100"), mut(NS1, "c", 200, "c200"),
                               mut(NS1, "d", 50, "d50")};
    assert_int_equal(commit_muts(f->s, first, 3, NULL), 0);
    /* Kept: a has a mutation at the bound (read: stale), b is above it. */
    stor_mutation_t m[] = {mut(NS1, "a", 90, "a90"), mut(NS1, "b", 150, "b150"),
                           mut(NS1, "a", 100, "a100'"), mut(NS1, "b", 160, "b160")};
    int res[4];
    memset(res, 0x55, sizeof(res));
    stor_commit_t c = {.muts = m, .n_muts = 4, .mut_results = res, .stored_hlc_max = 100};
    assert_int_equal(stor_commit(f->s, &c), 0);
    int want[] = {KV_ESTALE, 0, KV_ESTALE, 0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(res[i], want[i]);
    assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "a100");
    assert_string_equal(store_fx_value(f->s, NS1, "b", buf, sizeof(buf)), "b160");
    /* Broken: c is stored at 200 but the caller says nothing is above 100. */
    stor_mutation_t m2[] = {mut(NS1, "c", 150, "c150")};
    stor_commit_t c2 = {.muts = m2, .n_muts = 1, .mut_results = res, .stored_hlc_max = 100};
    assert_int_equal(stor_commit(f->s, &c2), 0);
    assert_int_equal(res[0], 0);
    assert_string_equal(store_fx_value(f->s, NS1, "c", buf, sizeof(buf)), "c150");
    /* Broken: d is stored, the caller says no key is. */
    stor_mutation_t m3[] = {mut(NS1, "d", 40, "d40"), mut(NS1, "e", 1, "e1")};
    stor_commit_t c3 = {.muts = m3, .n_muts = 2, .mut_results = res, .keys_absent = true};
    assert_int_equal(stor_commit(f->s, &c3), 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], 0);
    assert_string_equal(store_fx_value(f->s, NS1, "d", buf, sizeof(buf)), "d40");
    /* Without a promise the same commit is judged against what is stored. */
    stor_mutation_t m4[] = {mut(NS1, "d", 30, "d30")};
    assert_int_equal(commit_muts(f->s, m4, 1, res), 0);
    assert_int_equal(res[0], KV_ESTALE);
}

/* A no_sync commit (a snapshot chunk) does not sync the WAL even under
 * STOR_SYNC_ALWAYS, is read at once like any other, and is made durable by
 * the next commit that syncs (the WAL is one sequential file). */
static void test_commit_no_sync(void **state)
{
    fx_t *f = *state;
    char buf[32];
    stor_stats_t s0, s1, s2;
    f->o.sync = STOR_SYNC_ALWAYS;
    fx_reopen(f);
    stor_mutation_t x[] = {mut(NS1, "x", 10, "chunk1"), mut(NS1, "x2", 10, "chunk2")};
    stor_commit_t cx = {.muts = x, .n_muts = 2, .keys_absent = true, .no_sync = true};
    stor_get_stats(f->s, &s0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(stor_commit(f->s, &cx), 0);
    stor_get_stats(f->s, &s1);
    assert_int_equal(s1.wal_syncs, s0.wal_syncs);
    assert_string_equal(store_fx_value(f->s, NS1, "x", buf, sizeof(buf)), "chunk1");
    stor_mutation_t y[] = {mut(NS1, "y", 11, "end")};
    assert_int_equal(commit_muts(f->s, y, 1, NULL), 0);
    stor_get_stats(f->s, &s2);
    assert_int_equal(s2.wal_syncs, s1.wal_syncs + 1); /* the one sync, at the end */
    fx_reopen(f);
    assert_string_equal(store_fx_value(f->s, NS1, "x2", buf, sizeof(buf)), "chunk2");
    assert_string_equal(store_fx_value(f->s, NS1, "y", buf, sizeof(buf)), "end");
}

/* ---- namespace rules ------------------------------------------------------------------ */

/* Storage applies changes in commit order, each on top of the earlier ones;
 * whether they were allowed was decided before (node/replica/judge.c). */
static void test_ns_plan(void **state)
{
    fx_t *f = *state;
    int res[3];
    /* Create then rename it, in one commit. */
    stor_ns_change_t ch[] = {nsc(STOR_NS_CREATE, NS1, "acc", "a"),
                             nsc(STOR_NS_RENAME, NS1, NULL, "b"),
                             nsc(STOR_NS_CREATE, NS2, "acc", "a")};
    assert_int_equal(commit_ns(f->s, ch, 3, res), 0);
    assert_true(res[0] == 0 && res[1] == 0 && res[2] == 0);
    assert_string_equal(title_of(f->s, NS1), "acc/b");
    assert_string_equal(title_of(f->s, NS2), "acc/a");
    /* Delete then re-create the id and take its title in one commit. */
    stor_ns_change_t ch2[] = {
        nsc(STOR_NS_DELETE, NS2, NULL, NULL),
        nsc(STOR_NS_RENAME, NS1, NULL, "a"),
        nsc(STOR_NS_CREATE, NS2, "acc", "b"),
    };
    assert_int_equal(commit_ns(f->s, ch2, 3, res), 0);
    assert_true(res[0] == 0 && res[1] == 0 && res[2] == 0);
    assert_string_equal(title_of(f->s, NS1), "acc/a");
    assert_string_equal(title_of(f->s, NS2), "acc/b");
    /* All survives a reopen (the mirror was what is on disk). */
    fx_reopen(f);
    assert_string_equal(title_of(f->s, NS1), "acc/a");
    assert_string_equal(title_of(f->s, NS2), "acc/b");
    assert_int_equal(ns_count(f->s, "acc"), 2);
}

static void test_ns_replicated(void **state)
{
    fx_t *f = *state;
    char buf[128];
    assert_int_equal(stor_ns_create(f->s, "acc", "t", (kv_version_t){1, 1}, NS1, NULL), 0);
    stor_mutation_t m[] = {mut(NS3, "k", 1, "orphan"), mut(NS1, "k", 1, "v1")};
    assert_int_equal(commit_muts(f->s, m, 2, NULL), 0);
    /* The origin says: NS2 "t" too (a local clash: still applied), NS1 is
     * renamed onto "t" (ditto), NS3 (unknown here) is deleted, and a
     * rename of an id unknown here cannot apply. */
    stor_ns_change_t ch[] = {
        nsc(STOR_NS_CREATE, NS2, "acc", "t"),
        nsc(STOR_NS_RENAME, NS1, NULL, "t"),
        nsc(STOR_NS_DELETE, NS3, NULL, NULL),
        nsc(STOR_NS_RENAME, "0000000000000000000000000000dead", NULL, "x"),
    };
    int res[4];
    assert_int_equal(commit_ns(f->s, ch, 4, res), 0);
    assert_true(res[0] == 0 && res[1] == 0 && res[2] == 0 && res[3] == KV_ENOTFOUND);
    assert_string_equal(title_of(f->s, NS1), "acc/t");
    assert_string_equal(title_of(f->s, NS2), "acc/t");
    assert_string_equal(store_fx_value(f->s, NS3, "k", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "v1");
    /* A replicated create over an existing id replaces the entry and keeps
     * the records; a replicated delete removes entry and records. */
    stor_ns_change_t ch2[] = {nsc(STOR_NS_CREATE, NS1, "acc2", "u")};
    assert_int_equal(commit_ns(f->s, ch2, 1, res), 0);
    assert_string_equal(title_of(f->s, NS1), "acc2/u");
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "v1");
    assert_int_equal(ns_count(f->s, "acc"), 1);
    ch2[0] = nsc(STOR_NS_DELETE, NS1, NULL, NULL);
    assert_int_equal(commit_ns(f->s, ch2, 1, res), 0);
    assert_string_equal(title_of(f->s, NS1), "<none>");
    assert_string_equal(store_fx_value(f->s, NS1, "k", buf, sizeof(buf)), "");
    fx_reopen(f);
    assert_string_equal(title_of(f->s, NS2), "acc/t");
    assert_string_equal(title_of(f->s, NS1), "<none>");
}

/* Records and namespace changes in one commit: records first, so a
 * namespace the commit deletes loses the records the commit wrote into it,
 * as it did at the origin. */
static void test_commit_records_then_ns(void **state)
{
    fx_t *f = *state;
    char buf[64];
    int mres[2], nres[1];
    assert_int_equal(stor_ns_create(f->s, "acc", "t2", (kv_version_t){1, 1}, NS2, NULL), 0);
    assert_int_equal(stor_ns_create(f->s, "acc", "t3", (kv_version_t){1, 1}, NS3, NULL), 0);
    stor_mutation_t m[] = {mut(NS2, "b", 1, "old")};
    assert_int_equal(commit_muts(f->s, m, 1, mres), 0);
    stor_ns_change_t ch[] = {nsc(STOR_NS_DELETE, NS2, NULL, NULL)};
    stor_mutation_t m2[] = {mut(NS2, "c", 9, "wiped"), mut(NS3, "z", 9, "kept")};
    stor_commit_t c = {m2, 2, mres, ch, 1, nres, NULL, 0, NULL, 0, NULL, 0, 0, false, false};
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_true(mres[0] == 0 && mres[1] == 0 && nres[0] == 0);
    assert_string_equal(store_fx_value(f->s, NS2, "c", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS2, "b", buf, sizeof(buf)), "");
    assert_string_equal(store_fx_value(f->s, NS3, "z", buf, sizeof(buf)), "kept");
    assert_string_equal(title_of(f->s, NS2), "<none>");
}

/* Readers see all of a commit's namespace changes or none: two namespaces
 * are always created together and deleted together. */
typedef struct {
    fx_t *f;
    atomic_bool stop;
    int odd; /* times a reader saw one of the pair without the other */
} pair_t;

static void *pair_reader(void *arg)
{
    pair_t *p = arg;
    while (!atomic_load(&p->stop)) {
        if (ns_count(p->f->s, "acc") % 2 != 0)
            p->odd++;
    }
    return NULL;
}

static void test_ns_commit_visibility(void **state)
{
    fx_t *f = *state;
    pair_t p = {.f = f};
    atomic_init(&p.stop, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pair_reader, &p), 0);
    for (int i = 0; i < 300; i++) {
        char t1[16], t2[16];
        snprintf(t1, sizeof(t1), "x%d", i);
        snprintf(t2, sizeof(t2), "y%d", i);
        stor_ns_change_t add[] = {nsc(STOR_NS_CREATE, NS1, "acc", t1),
                                  nsc(STOR_NS_CREATE, NS2, "acc", t2)};
        stor_ns_change_t del[] = {nsc(STOR_NS_DELETE, NS2, NULL, NULL),
                                  nsc(STOR_NS_DELETE, NS1, NULL, NULL)};
        int res[2];
        assert_int_equal(commit_ns(f->s, add, 2, res), 0);
        assert_true(res[0] == 0 && res[1] == 0);
        assert_int_equal(commit_ns(f->s, del, 2, res), 0);
        assert_true(res[0] == 0 && res[1] == 0);
    }
    atomic_store(&p.stop, true);
    pthread_join(t, NULL);
    assert_int_equal(p.odd, 0);
}

/* ---- the log -------------------------------------------------------------------------- */

static void test_log(void **state)
{
    fx_t *f = *state;
    logbuf_t b;
    uint64_t first = 9, last = 9;
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 0 && last == 0);
    assert_string_equal(log_text(f->s, 1, 10, 100, &b), "");
    /* 1..5 in one commit, 7 and 8 later (6 missing), 300 far away. */
    stor_log_entry_t e[] = {{1, "a", 1}, {2, "bb", 2}, {3, "ccc", 3}, {4, "dddd", 4}, {5, "", 0}};
    stor_commit_t c = {.log = e, .n_log = 5};
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_int_equal(commit_log(f->s, 8, "h"), 0);
    assert_int_equal(commit_log(f->s, 7, "g"), 0);
    assert_int_equal(commit_log(f->s, 300, "far"), 0);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == 300);
    assert_string_equal(log_text(f->s, 1, 100, 1000, &b), "1:a,2:bb,3:ccc,4:dddd,5:");
    assert_string_equal(log_text(f->s, 2, 2, 1000, &b), "2:bb,3:ccc");
    assert_string_equal(log_text(f->s, 6, 100, 1000, &b), "");
    assert_string_equal(log_text(f->s, 7, 100, 1000, &b), "7:g,8:h");
    /* max_bytes: never exceeded, except by a lone first entry. */
    assert_string_equal(log_text(f->s, 1, 100, 6, &b), "1:a,2:bb,3:ccc");
    assert_string_equal(log_text(f->s, 1, 100, 5, &b), "1:a,2:bb");
    assert_string_equal(log_text(f->s, 4, 100, 1, &b), "4:dddd");
    assert_string_equal(log_text(f->s, 4, 100, 0, &b), "4:dddd");
    assert_string_equal(log_text(f->s, 3, 100, 7, &b), "3:ccc,4:dddd,5:");
    /* The callback stops a read: positive -> 0, negative -> returned. */
    memset(&b, 0, sizeof(b));
    b.stop_after = 2;
    b.stop_rc = 1;
    assert_int_equal(stor_log_read(f->s, 1, 100, 1000, log_collect, &b), 0);
    assert_string_equal(b.text, "1:a,2:bb");
    memset(&b, 0, sizeof(b));
    b.stop_after = 1;
    b.stop_rc = -ENOSPC;
    assert_int_equal(stor_log_read(f->s, 1, 100, 1000, log_collect, &b), -ENOSPC);
    assert_int_equal(b.n, 1);
    assert_int_equal(stor_log_read(f->s, 0, 1, 1, log_collect, &b), KV_EINVAL);
    assert_int_equal(stor_log_read(f->s, 1, 0, 1, log_collect, &b), KV_EINVAL);
    assert_int_equal(stor_log_read(f->s, 1, 1, 1, NULL, &b), KV_EINVAL);

    /* Trim: below 4, then again lower (no-op), then everything. */
    assert_int_equal(stor_log_trim(f->s, 4), 0);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 4 && last == 300);
    assert_string_equal(log_text(f->s, 2, 100, 1000, &b), "");
    assert_string_equal(log_text(f->s, 4, 100, 1000, &b), "4:dddd,5:");
    assert_int_equal(stor_log_trim(f->s, 2), 0);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 4);
    /* A trim short of a step is not on disk: after a reopen the floor is
     * gone and the entries below it are back, whole. */
    fx_reopen(f);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == 300);
    assert_string_equal(log_text(f->s, 3, 100, 1000, &b), "3:ccc,4:dddd,5:");
    assert_int_equal(stor_log_trim(f->s, 301), 0);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 0 && last == 0);
    assert_int_equal(commit_log(f->s, 301, "next"), 0);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 301 && last == 301);
    assert_string_equal(log_text(f->s, 301, 10, 10, &b), "301:next");
    /* A trim a step past the last deletion deletes: durable across a reopen. */
    uint64_t top = 301 + STOR_LOG_TRIM_STEP;
    for (uint64_t q = 302; q <= top + 1; q++)
        assert_int_equal(commit_log(f->s, q, "x"), 0);
    /* The floor alone (the loop's half): readers skip below it at once,
     * and it says whether a deletion is due without making it. */
    assert_false(stor_log_trim_floor(f->s, 305));
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 305 && last == top + 1);
    assert_true(stor_log_trim_floor(f->s, top));
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == top);
    fx_reopen(f);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == top + 1); /* nothing deleted yet */
    assert_true(stor_log_trim_floor(f->s, top));
    assert_int_equal(stor_log_trim(f->s, top), 0); /* the floor was raised: it deletes */
    assert_false(stor_log_trim_floor(f->s, top));
    fx_reopen(f);
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == top && last == top + 1);
    assert_string_equal(log_text(f->s, 1, 10, 10, &b), "");
}

typedef struct {
    const char *big;
    size_t big_len;
    int calls;
} big_check_t;

static int big_cb(void *arg, uint64_t seq, const void *data, size_t len)
{
    big_check_t *c = arg;
    c->calls++;
    if (seq == 41)
        return len == 1 && memcmp(data, "x", 1) == 0 ? 0 : -1;
    return seq == 42 && len == c->big_len && memcmp(data, c->big, len) == 0 ? 0 : -1;
}

/* Log and state outlive a reopen, and a big entry reads back whole. */
static void test_reopen_log_state(void **state)
{
    fx_t *f = *state;
    size_t big_len = 64u * 1024u; /* past blob_min_bytes: a blob file */
    char *big = malloc(big_len + 1);
    memset(big, 'b', big_len);
    big[big_len] = '\0';
    stor_log_entry_t e[] = {{41, "x", 1}, {42, big, big_len}};
    stor_state_put_t st[] = {{"applied_seq", "42", 2}, {"history_id", "hist", 4}};
    stor_commit_t c = {.log = e, .n_log = 2, .state = st, .n_state = 2};
    assert_int_equal(stor_commit(f->s, &c), 0);
    stor_compact(f->s);
    fx_reopen(f);
    char buf[64];
    assert_string_equal(store_fx_state(f->s, "applied_seq", buf, sizeof(buf)), "42");
    assert_string_equal(store_fx_state(f->s, "history_id", buf, sizeof(buf)), "hist");
    uint64_t first = 0, last = 0;
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 41 && last == 42);
    big_check_t bc = {big, big_len, 0};
    assert_int_equal(stor_log_read(f->s, 41, 10, 1, big_cb, &bc), 0);
    assert_int_equal(bc.calls, 1); /* 41, then 42 would pass max_bytes */
    bc.calls = 0;
    assert_int_equal(stor_log_read(f->s, 42, 10, 1, big_cb, &bc), 0);
    assert_int_equal(bc.calls, 1); /* alone, delivered despite max_bytes */
    free(big);
}

/* ---- snapshots ---------------------------------------------------------------------- */

static void test_snapshot(void **state)
{
    fx_t *f = *state;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(stor_ns_create(f->s, "acc", "one", (kv_version_t){1, 1}, NS1, NULL), 0);
    assert_int_equal(stor_ns_create(f->s, "acc", "two", (kv_version_t){1, 1}, NS2, NULL), 0);
    stor_mutation_t m[] = {mut(NS1, "b", 5, "vb"), mut(NS1, "a", 5, "va"), mut(NS1, "c", 5, NULL),
                           mut(NS2, "a", 5, "v2"), mut(NS1, "e", 5, "expired")};
    m[4].rec.expiration = now - 100;
    stor_state_put_t st[] = {{"last_seq", "10", 2}};
    stor_commit_t c = {.muts = m, .n_muts = 5, .state = st, .n_state = 1};
    assert_int_equal(stor_commit(f->s, &c), 0);

    stor_snap_t *snap = NULL;
    assert_int_equal(stor_snapshot_open(f->s, &snap), 0);
    /* Afterwards: overwrites, a new key, a deleted namespace, a new one. */
    stor_mutation_t m2[] = {mut(NS1, "a", 6, "new"), mut(NS1, "d", 6, "vd")};
    stor_ns_change_t ch[] = {nsc(STOR_NS_DELETE, NS2, NULL, NULL),
                             nsc(STOR_NS_CREATE, NS3, "acc", "three")};
    stor_state_put_t st2[] = {{"last_seq", "11", 2}};
    stor_commit_t c2 = {.muts = m2, .n_muts = 2, .ns = ch, .n_ns = 2, .state = st2, .n_state = 1};
    assert_int_equal(stor_commit(f->s, &c2), 0);

    char *v = NULL;
    size_t len = 0;
    assert_int_equal(stor_snapshot_state(snap, "last_seq", &v, &len), 0);
    assert_string_equal(v, "10");
    kv_free(v);
    assert_int_equal(stor_snapshot_state(snap, "nope", &v, &len), KV_ENOTFOUND);
    assert_null(v);
    stor_ns_t *nss = NULL;
    size_t n = 0;
    assert_int_equal(stor_snapshot_namespaces(snap, &nss, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(nss[0].id, NS1);
    assert_string_equal(nss[0].title, "one");
    assert_string_equal(nss[1].id, NS2);
    assert_string_equal(nss[1].account, "acc");
    kv_free(nss);

    const char *want[][3] = {
        {NS1, "a", "va"}, {NS1, "b", "vb"}, {NS1, "c", "<del>"}, {NS1, "e", "expired"}};
    stor_snap_item_t it;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(stor_snapshot_next(snap, &it), 1);
        /* The first next() pinned the iterator's view: a compaction now
         * (whose expiry filter would drop "e") cannot change what it sees. */
        if (i == 0)
            stor_compact(f->s);
        assert_string_equal(it.ns_id, want[i][0]);
        assert_int_equal(it.key_len, 1);
        assert_memory_equal(it.key, want[i][1], 1);
        stor_record_t r;
        stor_blob_record(it.blob, &r);
        char got[32];
        snprintf(got, sizeof(got), "%.*s", (int)r.value_len, (const char *)r.value);
        assert_string_equal(r.tombstone ? "<del>" : got, want[i][2]);
        stor_blob_unref(it.blob);
    }
    /* NS2's record: deleted since, but the snapshot still has it. */
    assert_int_equal(stor_snapshot_next(snap, &it), 1);
    assert_string_equal(it.ns_id, NS2);
    stor_blob_unref(it.blob);
    assert_int_equal(stor_snapshot_next(snap, &it), 0);
    assert_null(it.blob);
    assert_int_equal(stor_snapshot_next(snap, &it), 0);
    stor_snapshot_close(snap);
    stor_snapshot_close(NULL);
    char buf[32];
    assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "new");
}

/* Stream a snapshot of one replica into an empty one: equal digests. */
static void test_snapshot_copy(void **state)
{
    fx_t *f = *state;
    stor_t *dst = fx_second(f);
    assert_int_equal(stor_ns_create(f->s, "acc", "one", (kv_version_t){1, 1}, NS1, NULL), 0);
    for (int i = 0; i < 200; i++) {
        char k[16], val[16];
        snprintf(k, sizeof(k), "key%03d", i);
        snprintf(val, sizeof(val), "val%d", i);
        stor_mutation_t m = mut(NS1, k, 10 + (uint64_t)i, i % 7 ? val : NULL);
        assert_int_equal(commit_muts(f->s, &m, 1, NULL), 0);
    }
    stor_state_put_t st[] = {{"last_seq", "200", 3}};
    stor_commit_t sc = {.state = st, .n_state = 1};
    assert_int_equal(stor_commit(f->s, &sc), 0);

    stor_snap_t *snap = NULL;
    assert_int_equal(stor_snapshot_open(f->s, &snap), 0);
    stor_ns_t *nss = NULL;
    size_t n = 0;
    assert_int_equal(stor_snapshot_namespaces(snap, &nss, &n), 0);
    for (size_t i = 0; i < n; i++) {
        stor_ns_change_t ch = nsc(STOR_NS_CREATE, nss[i].id, nss[i].account, nss[i].title);
        assert_int_equal(commit_ns(dst, &ch, 1, NULL), 0);
    }
    kv_free(nss);
    stor_snap_item_t it;
    int rc, items = 0;
    while ((rc = stor_snapshot_next(snap, &it)) == 1) {
        stor_mutation_t m = {.ns_id = it.ns_id, .key = it.key, .key_len = it.key_len};
        stor_blob_record(it.blob, &m.rec);
        int res = 9;
        assert_int_equal(commit_muts(dst, &m, 1, &res), 0);
        assert_int_equal(res, 0);
        stor_blob_unref(it.blob);
        items++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(items, 200);
    stor_snapshot_close(snap);
    uint8_t d1[STOR_DIGEST_BYTES], d2[STOR_DIGEST_BYTES];
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(dst, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));
}

/* ---- reset -------------------------------------------------------------------------- */

static void test_reset(void **state)
{
    fx_t *f = *state;
    char buf[64];
    assert_int_equal(stor_ns_create(f->s, "acc", "one", (kv_version_t){1, 1}, NS1, NULL), 0);
    stor_mutation_t m[] = {mut(NS1, "a", 1, "va"), mut(NS1, "b", 1, NULL), mut(NS2, "c", 1, "o")};
    stor_log_entry_t e[] = {{1, "x", 1}, {2, "y", 1}};
    stor_state_put_t st[] = {{"node_id", "7", 1}, {"applied_seq", "2", 1}, {"history_id", "h", 1}};
    stor_commit_t c = {.muts = m, .n_muts = 3, .log = e, .n_log = 2, .state = st, .n_state = 3};
    assert_int_equal(stor_commit(f->s, &c), 0);
    assert_int_equal(stor_log_trim(f->s, 2), 0);
    const char *keep[] = {"not-there", "node_id"};
    assert_int_equal(stor_reset(f->s, keep, 2), 0);
    for (int round = 0; round < 2; round++) {
        assert_string_equal(store_fx_value(f->s, NS1, "a", buf, sizeof(buf)), "");
        assert_string_equal(store_fx_value(f->s, NS1, "b", buf, sizeof(buf)), "");
        assert_string_equal(store_fx_value(f->s, NS2, "c", buf, sizeof(buf)), "");
        assert_string_equal(title_of(f->s, NS1), "<none>");
        assert_int_equal(ns_count(f->s, "acc"), 0);
        assert_string_equal(store_fx_state(f->s, "node_id", buf, sizeof(buf)), "7");
        assert_string_equal(store_fx_state(f->s, "applied_seq", buf, sizeof(buf)), "<none>");
        assert_string_equal(store_fx_state(f->s, "history_id", buf, sizeof(buf)), "<none>");
        uint64_t first = 9, last = 9;
        assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
        assert_true(first == 0 && last == 0);
        uint8_t d[STOR_DIGEST_BYTES], empty[STOR_DIGEST_BYTES];
        assert_int_equal(stor_digest(f->s, 0, d), 0);
        stor_t *fresh = f->s2 ? f->s2 : fx_second(f);
        assert_int_equal(stor_digest(fresh, 0, empty), 0);
        assert_memory_equal(d, empty, sizeof(d));
        fx_reopen(f);
    }
    /* Usable again: the old title is free; log seqs below a trim point of
     * before the reset are readable (a snapshot may start anywhere). */
    assert_int_equal(stor_ns_create(f->s, "acc", "one", (kv_version_t){2, 1}, NS2, NULL), 0);
    assert_int_equal(commit_log(f->s, 5, "five"), 0);
    assert_int_equal(stor_log_trim(f->s, 6), 0);
    assert_int_equal(stor_reset(f->s, keep, 2), 0);
    assert_int_equal(commit_log(f->s, 1, "again"), 0);
    logbuf_t b;
    assert_string_equal(log_text(f->s, 1, 10, 100, &b), "1:again");
    uint64_t first = 0, last = 0;
    assert_int_equal(stor_log_bounds(f->s, &first, &last), 0);
    assert_true(first == 1 && last == 1);
    /* Reset of an empty-but-for-node_id store, keeping everything. */
    const char *keep_all[] = {"node_id"};
    assert_int_equal(stor_reset(f->s, keep_all, 1), 0);
    assert_string_equal(store_fx_state(f->s, "node_id", buf, sizeof(buf)), "7");
    assert_int_equal(stor_reset(f->s, NULL, 0), 0);
    assert_string_equal(store_fx_state(f->s, "node_id", buf, sizeof(buf)), "<none>");
    assert_int_equal(stor_reset(f->s, NULL, 1), KV_EINVAL);
}

/* ---- digest ------------------------------------------------------------------------- */

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < STOR_DIGEST_BYTES; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Reference values from Python's hashlib over the documented encoding. */
static void test_digest_vectors(void **state)
{
    fx_t *f = *state;
    uint8_t d[STOR_DIGEST_BYTES];
    char h[2 * STOR_DIGEST_BYTES + 1];
    assert_int_equal(stor_digest(f->s, 0, d), 0);
    hex(d, h);
    assert_string_equal(h, "af13988e15fbbed7b9dc9e9bd02ab2929fce48113ff4d205bc52147747029a00");
    assert_int_equal(stor_ns_create(f->s, "acc", "title", (kv_version_t){1, 1}, NS1, NULL), 0);
    char v[101];
    memset(v, 'v', 100);
    v[100] = '\0';
    stor_mutation_t m = mut(NS1, "key", 0x1234, v);
    m.rec.version.node_id = 7;
    m.rec.expiration = 4102444800;
    m.rec.metadata = "{\"m\":1}";
    m.rec.metadata_len = 7;
    assert_int_equal(commit_muts(f->s, &m, 1, NULL), 0);
    assert_int_equal(stor_digest(f->s, 0, d), 0);
    hex(d, h);
    assert_string_equal(h, "6040452d50285f9ff75cb7500b5a5c6e0e7152c39fdd91b0236bf7cd1de7f09c");
}

/* Build the same content into a store: in order one at a time (order 0),
 * or in reverse, in batches, with superseded versions first (order 1).
 * Versions are recent (hlc from `base`): the expiry filter drops
 * tombstones older than the retention window in a compaction. */
static void build(stor_t *s, int order, uint64_t base)
{
    kv_version_t v = {1, 1};
    if (order == 0) {
        assert_int_equal(stor_ns_create(s, "acc", "one", v, NS1, NULL), 0);
        assert_int_equal(stor_ns_create(s, "acc", "two", v, NS2, NULL), 0);
    } else {
        stor_ns_change_t ch[] = {nsc(STOR_NS_CREATE, NS2, "acc", "zwei"),
                                 nsc(STOR_NS_CREATE, NS1, "acc", "one"),
                                 nsc(STOR_NS_RENAME, NS2, NULL, "two")};
        assert_int_equal(commit_ns(s, ch, 3, NULL), 0);
    }
    stor_mutation_t batch[64];
    char keys[64][16], vals[64][32]; /* mutations borrow them */
    size_t nb = 0;
    for (int j = 0; j < 120; j++) {
        int i = order == 0 ? j : 119 - j;
        const char *ns = i % 3 ? NS1 : NS2;
        snprintf(keys[nb], sizeof(keys[nb]), "k%03d", i);
        if (order == 1) {
            batch[nb] = mut(ns, keys[nb], base, "superseded");
            nb++;
            memcpy(keys[nb], keys[nb - 1], sizeof(keys[nb]));
        }
        snprintf(vals[nb], sizeof(vals[nb]), "value-%d", i * 7);
        batch[nb] = mut(ns, keys[nb], base + 100 + (uint64_t)i, i % 10 == 0 ? NULL : vals[nb]);
        nb++;
        if (order == 0 || nb >= 60 || j == 119) {
            assert_int_equal(commit_muts(s, batch, nb, NULL), 0);
            nb = 0;
        }
    }
}

static void test_digest_converge(void **state)
{
    fx_t *f = *state;
    stor_t *b = fx_second(f);
    uint64_t base = (uint64_t)time(NULL) * 1000 << 16;
    build(f->s, 0, base);
    build(b, 1, base);
    stor_compact(b); /* a different layout: SSTs vs memtable */
    uint8_t d1[STOR_DIGEST_BYTES], d2[STOR_DIGEST_BYTES];
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));
    fx_reopen(f);
    assert_int_equal(stor_digest(f->s, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));

    /* One byte of one value (same key and version): different. */
    stor_mutation_t m = mut(NS1, "k001", base + 1000, "value-7");
    assert_int_equal(commit_muts(f->s, &m, 1, NULL), 0);
    m = mut(NS1, "k001", base + 1000, "value-8");
    assert_int_equal(commit_muts(b, &m, 1, NULL), 0);
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_not_equal(d1, d2, sizeof(d1));
    /* Only the version's node id differs: different. */
    m = mut(NS1, "k001", base + 1001, "same");
    assert_int_equal(commit_muts(f->s, &m, 1, NULL), 0);
    m.rec.version.node_id = 2;
    assert_int_equal(commit_muts(b, &m, 1, NULL), 0);
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_not_equal(d1, d2, sizeof(d1));
    /* Both take the same newer write: equal again. */
    m = mut(NS1, "k001", base + 1002, "final");
    assert_int_equal(commit_muts(f->s, &m, 1, NULL), 0);
    assert_int_equal(commit_muts(b, &m, 1, NULL), 0);
    assert_int_equal(stor_digest(f->s, 0, d1), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));
    /* A namespace title. */
    assert_int_equal(stor_ns_rename(b, NS2, "twO", (kv_version_t){5, 1}), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_not_equal(d1, d2, sizeof(d1));
    assert_int_equal(stor_ns_rename(b, NS2, "two", (kv_version_t){6, 1}), 0);
    assert_int_equal(stor_digest(b, 0, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));

    /* An expired record on one side only counts until it has expired. */
    int64_t now = (int64_t)time(NULL);
    m = mut(NS1, "ttl", base + 2000, "soon");
    m.rec.expiration = now + 60;
    assert_int_equal(commit_muts(b, &m, 1, NULL), 0);
    assert_int_equal(stor_digest(b, now, d2), 0);
    assert_memory_not_equal(d1, d2, sizeof(d1));
    assert_int_equal(stor_digest(f->s, now + 60, d1), 0);
    assert_int_equal(stor_digest(b, now + 60, d2), 0);
    assert_memory_equal(d1, d2, sizeof(d1));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_commit_all),           T(test_commit_oom),
        T(test_commit_oom_big),       T(test_commit_io_error),
        T(test_commit_lww),           T(test_commit_lww_promises),
        T(test_commit_no_sync),       T(test_ns_plan),
        T(test_ns_replicated),        T(test_commit_records_then_ns),
        T(test_ns_commit_visibility), T(test_log),
        T(test_reopen_log_state),     T(test_snapshot),
        T(test_snapshot_copy),        T(test_reset),
        T(test_digest_vectors),       T(test_digest_converge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
