/* test_store_checkpoint.c - stor_checkpoint (storage/store_checkpoint.c)
 * and the read-only open that describes a checkpoint: a checkpoint holds
 * exactly what was committed before it (records, a large value in a blob
 * file, namespaces, state) and nothing written after it; it is a store of
 * its own (its digest equals the source's at that instant, writes to it
 * leave the source alone); a read-only open changes none of its files and
 * refuses writes; an existing or empty target and a missing parent are
 * refused, and a failed checkpoint leaves nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "store.h"
#include "store_fx.h"

#define NS1 "0123456789abcdef0123456789abcdef"

typedef struct {
    char dir[STORE_FX_DIR_CAP]; /* the test's temporary directory */
    char db[96];                /* the source store */
    char cp[96];                /* where checkpoints go */
    stor_options_t o;
    stor_t *s;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || store_fx_mkdir(f->dir, "ckpt") != 0)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/db", f->dir);
    snprintf(f->cp, sizeof f->cp, "%s/cp", f->dir);
    store_fx_options(&f->o, f->db);
    if (stor_open(&f->o, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kv_mem_set(NULL);
    stor_close(f->s);
    store_fx_rmtree(f->dir);
    free(f);
    return 0;
}

static int put(stor_t *s, const char *key, uint64_t hlc, const char *val)
{
    stor_record_t r = {
        .version = {hlc, 1}, .value = (const uint8_t *)val, .value_len = strlen(val)};
    return stor_apply(s, NS1, key, strlen(key), &r);
}

/* The stored value of key ("" for none), into buf. */
static const char *value_of(stor_t *s, const char *key, char *buf, size_t cap)
{
    stor_blob_t *b = NULL;
    stor_record_t r;
    assert_int_equal(stor_get(s, NS1, key, strlen(key), &b), 0);
    if (!b)
        return "";
    stor_blob_record(b, &r);
    snprintf(buf, cap, "%.*s", (int)r.value_len, (const char *)r.value);
    stor_blob_unref(b);
    return buf;
}

static stor_t *open_at(fx_t *f, const char *path, bool read_only)
{
    stor_options_t o = f->o;
    stor_t *s = NULL;
    o.path = path;
    o.read_only = read_only;
    assert_int_equal(stor_open(&o, &s), 0);
    return s;
}

/* "name size\n" of every file in dir, in name order, into buf. */
static void listing(const char *dir, char *buf, size_t cap)
{
    struct dirent **e;
    int n = scandir(dir, &e, NULL, alphasort);
    size_t off = 0;
    assert_true(n > 0);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        char p[512];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e[i]->d_name);
        if (e[i]->d_name[0] != '.' && stat(p, &st) == 0 && off < cap)
            off += (size_t)snprintf(buf + off, cap - off, "%s %lld\n", e[i]->d_name,
                                    (long long)st.st_size);
        free(e[i]);
    }
    free(e);
}

static void test_checkpoint_is_the_prefix(void **state)
{
    fx_t *f = *state;
    char buf[64], *big = malloc(KV_BLOB_MIN_BYTES * 4 + 1), *v = NULL;
    uint8_t d_src[STOR_DIGEST_BYTES], d_cp[STOR_DIGEST_BYTES];
    stor_ns_t ns;
    size_t len = 0;
    assert_string_equal(stor_path(f->s), f->db);
    assert_int_equal(stor_ns_create(f->s, "acct", "t", (kv_version_t){1, 1}, NS1, &ns), 0);
    assert_int_equal(put(f->s, "a", 10, "before"), 0);
    assert_int_equal(put(f->s, "b", 11, "before"), 0);
    memset(big, 'x', KV_BLOB_MIN_BYTES * 4);
    big[KV_BLOB_MIN_BYTES * 4] = '\0';
    assert_int_equal(put(f->s, "big", 12, big), 0); /* into a blob file */
    assert_int_equal(stor_state_put(f->s, "marker", "m1", 2), 0);
    assert_int_equal(stor_digest(f->s, 0, d_src), 0);

    assert_int_equal(stor_checkpoint(f->s, f->cp), 0);

    /* After the checkpoint: none of it may show in the checkpoint. */
    assert_int_equal(put(f->s, "a", 20, "after"), 0);
    assert_int_equal(put(f->s, "c", 21, "after"), 0);
    assert_int_equal(stor_state_put(f->s, "marker", "m2", 2), 0);

    char before[4096], after[4096];
    listing(f->cp, before, sizeof before);
    stor_t *c = open_at(f, f->cp, true);
    assert_string_equal(stor_path(c), f->cp);
    assert_string_equal(value_of(c, "a", buf, sizeof buf), "before");
    assert_string_equal(value_of(c, "b", buf, sizeof buf), "before");
    assert_string_equal(value_of(c, "c", buf, sizeof buf), "");
    assert_int_equal(strlen(value_of(c, "big", big, KV_BLOB_MIN_BYTES * 4 + 1)),
                     KV_BLOB_MIN_BYTES * 4);
    assert_int_equal(stor_state_get(c, "marker", &v, &len), 0);
    assert_string_equal(v, "m1");
    kv_free(v);
    assert_int_equal(stor_ns_get(c, NS1, &ns), 0);
    assert_int_equal(stor_digest(c, 0, d_cp), 0);
    assert_memory_equal(d_src, d_cp, sizeof d_src);
    /* Read-only: refused, and nothing written. */
    assert_int_not_equal(put(c, "z", 30, "no"), 0);
    stor_close(c);
    listing(f->cp, after, sizeof after);
    assert_string_equal(before, after);

    /* The source goes on with its own data. */
    assert_string_equal(value_of(f->s, "a", buf, sizeof buf), "after");

    /* Opened for writing, the checkpoint is a store of its own. */
    c = open_at(f, f->cp, false);
    assert_int_equal(put(c, "d", 40, "in the copy"), 0);
    stor_close(c);
    assert_string_equal(value_of(f->s, "d", buf, sizeof buf), "");
    free(big);
}

static void test_checkpoint_refusals(void **state)
{
    fx_t *f = *state;
    char missing[160];
    struct stat st;
    assert_int_equal(stor_checkpoint(f->s, ""), KV_EINVAL);
    assert_int_equal(stor_checkpoint(f->s, NULL), KV_EINVAL);
    assert_int_equal(mkdir(f->cp, 0700), 0);
    assert_int_equal(stor_checkpoint(f->s, f->cp), KV_EEXISTS); /* never into a used dir */
    assert_int_equal(stor_checkpoint(f->s, f->db), KV_EEXISTS);
    snprintf(missing, sizeof missing, "%s/no/such/parent", f->dir);
    assert_int_equal(stor_checkpoint(f->s, missing), KV_EIO);
    assert_int_not_equal(lstat(missing, &st), 0);
    snprintf(missing, sizeof missing, "%s/no/such/parent.tmp", f->dir);
    assert_int_not_equal(lstat(missing, &st), 0);
    /* Two checkpoints of one store, one after the other. */
    snprintf(missing, sizeof missing, "%s/cp2", f->dir);
    assert_int_equal(put(f->s, "k", 1, "v"), 0);
    assert_int_equal(stor_checkpoint(f->s, missing), 0);
    char cp3[160];
    snprintf(cp3, sizeof cp3, "%s/cp3", f->dir);
    assert_int_equal(stor_checkpoint(f->s, cp3), 0);
}

/* A store that is not there cannot be opened read-only (no creation). */
static void test_read_only_never_creates(void **state)
{
    fx_t *f = *state;
    stor_options_t o = f->o;
    stor_t *s = NULL;
    struct stat st;
    char p[160];
    snprintf(p, sizeof p, "%s/none", f->dir);
    o.path = p;
    o.read_only = true;
    assert_int_not_equal(stor_open(&o, &s), 0);
    assert_null(s);
    snprintf(p, sizeof p, "%s/none/CURRENT", f->dir);
    assert_int_not_equal(lstat(p, &st), 0);
}

/* Out of memory while opening a checkpoint: an error, no leak. */
static void test_read_only_open_oom(void **state)
{
    fx_t *f = *state;
    stor_options_t o = f->o;
    assert_int_equal(put(f->s, "k", 1, "v"), 0);
    assert_int_equal(stor_checkpoint(f->s, f->cp), 0);
    o.path = f->cp;
    o.read_only = true;
    for (long n = 0; n < 4; n++) {
        stor_t *s = NULL;
        kv_mem_failing_set(n);
        int rc = stor_open(&o, &s);
        kv_mem_set(NULL);
        if (rc == 0)
            stor_close(s);
        else
            assert_int_equal(rc, -ENOMEM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_is_the_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_never_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
