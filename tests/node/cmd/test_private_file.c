/* test_private_file.c - node/cmd/private_file.c: a file that holds a secret
 * is mode 0600 from the moment it exists (checked while the secret is being
 * written, not only after), under any umask, over an older world-readable
 * file and over a planted temporary file or symlink. */
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

#include "private_file.h"

static char g_dir[64];

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void write_secret(const char *path, const char *secret)
{
    char tmp[256];
    FILE *f = private_file_open(path, tmp, sizeof tmp);
    assert_non_null(f);
    fprintf(f, "TOKEN=%s\n", secret);
    assert_int_equal(fflush(f), 0);
    /* The secret is on disk: the file holding it is already private. */
    assert_int_equal(mode_of(tmp), 0600);
    assert_int_equal(private_file_commit(f, path, tmp), 0);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void expect_content(const char *path, const char *want)
{
    char buf[128] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, want);
}

static void test_any_umask(void **state)
{
    char path[128];
    static const mode_t masks[] = {0, 022, 077, 0777};
    (void)state;
    snprintf(path, sizeof path, "%s/a.env", g_dir);
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        mode_t old = umask(masks[i]);
        write_secret(path, "s1");
        umask(old);
        expect_content(path, "TOKEN=s1\n");
    }
}

static void test_over_old_and_planted(void **state)
{
    char path[128], tmp[160], other[128];
    FILE *f;
    (void)state;
    snprintf(path, sizeof path, "%s/b.env", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(other, sizeof other, "%s/victim", g_dir);
    /* An older world-readable file is replaced, not rewritten in place. */
    f = fopen(path, "w");
    fputs("OLD\n", f);
    fclose(f);
    chmod(path, 0644);
    /* A planted temporary file (world-writable) and then a symlink. */
    f = fopen(tmp, "w");
    fclose(f);
    chmod(tmp, 0666);
    write_secret(path, "s2");
    expect_content(path, "TOKEN=s2\n");
    f = fopen(other, "w");
    fputs("VICTIM\n", f);
    fclose(f);
    assert_int_equal(symlink(other, tmp), 0);
    write_secret(path, "s3");
    expect_content(path, "TOKEN=s3\n");
    expect_content(other, "VICTIM\n"); /* never written through the link */
}

static void test_errors(void **state)
{
    char path[128], tmp[8];
    (void)state;
    snprintf(path, sizeof path, "%s/no/such/dir/c.env", g_dir);
    char big[256];
    assert_null(private_file_open(path, big, sizeof big));
    assert_null(private_file_open(path, tmp, sizeof tmp)); /* name too long for tmp */
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/edgekv-priv-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_umask),
        cmocka_unit_test(test_over_old_and_planted),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
