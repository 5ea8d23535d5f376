/* test_hostgauges.c - node/api/hostgauges.h: certificate expiry and the data
 * directory's file system as /metrics gauges (and certs_not_after, which
 * reads the expiry). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "certs.h"
#include "hostgauges.h"
#include "kv_err.h"
#include "kv_mem.h"

#define DAY_S 86400

static char dir[64];
static char ca[128], e1[128], junk[128], quoted[128], missing[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_hostgauges-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(certs_create_ca(dir, 30), 0);
    assert_int_equal(certs_issue_window(dir, "edge", "e1", -300, 5 * DAY_S, NULL, 0), 0);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(e1, sizeof e1, "%s/e1.crt", dir);
    snprintf(junk, sizeof junk, "%s/junk.crt", dir);
    snprintf(quoted, sizeof quoted, "%s/q\"uo\\te.crt", dir);
    snprintf(missing, sizeof missing, "%s/missing.crt", dir);
    write_file(junk, "not a certificate\n");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The value of the first line of b starting with `prefix`, or -1. */
static long long sample(const metrics_buf_t *b, const char *prefix)
{
    const char *p = b->data;
    size_t n = strlen(prefix);
    while (p && *p) {
        if (strncmp(p, prefix, n) == 0)
            return strtoll(p + n, NULL, 10);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

static void test_not_after(void **state)
{
    int64_t t;
    (void)state;
    assert_int_equal(certs_not_after(e1, &t), 0);
    assert_in_range(t, time(NULL) + 5 * DAY_S - 60, time(NULL) + 5 * DAY_S + 60);
    assert_int_equal(certs_not_after(ca, &t), 0);
    assert_in_range(t, time(NULL) + 30 * DAY_S - 60, time(NULL) + 30 * DAY_S + 60);
    assert_int_equal(certs_not_after(junk, &t), KV_EINVAL);
    assert_int_equal(certs_not_after(missing, &t), -ENOENT);
}

static void test_render(void **state)
{
    hostgauges_cert_t c[] = {{ca, "ca"}, {e1, "replication"}, {junk, "https"}, {missing, "https"}};
    hostgauges_t *h;
    metrics_buf_t b = {0};
    char key[256];
    struct statvfs vfs;
    int64_t t;
    (void)state;
    assert_int_equal(hostgauges_create(dir, c, 4, &h), 0);
    hostgauges_render(h, &b);
    assert_false(b.oom);
    assert_int_equal(certs_not_after(e1, &t), 0);
    snprintf(key, sizeof key,
             "edgekv_certificate_not_after_seconds{use=\"replication\",file=\"%s\"} ", e1);
    assert_int_equal(sample(&b, key), t);
    assert_int_equal(certs_not_after(ca, &t), 0);
    snprintf(key, sizeof key, "edgekv_certificate_not_after_seconds{use=\"ca\",file=\"%s\"} ", ca);
    assert_int_equal(sample(&b, key), t);
    /* A file that holds no certificate, or none at all: no sample. */
    assert_null(strstr(b.data, "junk.crt"));
    assert_null(strstr(b.data, "missing.crt"));
    assert_int_equal(statvfs(dir, &vfs), 0);
    assert_int_equal(sample(&b, "edgekv_disk_size_bytes "),
                     (long long)((uint64_t)vfs.f_blocks * vfs.f_frsize));
    assert_true(sample(&b, "edgekv_disk_free_bytes ") > 0);
    assert_non_null(strstr(b.data, "# TYPE edgekv_certificate_not_after_seconds gauge\n"));
    metrics_buf_free(&b);
    hostgauges_destroy(h);
}

/* A certificate replaced (a new file renamed over it) or appearing later is
 * read again at the next render; an unchanged one is not re-parsed. */
static void test_replaced(void **state)
{
    hostgauges_cert_t c[] = {{e1, "replication"}, {missing, "https"}};
    hostgauges_t *h;
    metrics_buf_t b = {0};
    char key[256];
    int64_t before, after;
    (void)state;
    assert_int_equal(hostgauges_create(NULL, c, 2, &h), 0);
    assert_int_equal(certs_not_after(e1, &before), 0);
    hostgauges_render(h, &b);
    assert_null(strstr(b.data, "edgekv_disk_")); /* no data directory given */
    metrics_buf_free(&b);
    assert_int_equal(certs_issue_window(dir, "edge", "e1", -300, 9 * DAY_S, NULL, 0), 0);
    assert_int_equal(certs_issue_window(dir, "edge", "missing", -300, 2 * DAY_S, NULL, 0), 0);
    assert_int_equal(certs_not_after(e1, &after), 0);
    assert_true(after > before + 3 * DAY_S);
    hostgauges_render(h, &b);
    snprintf(key, sizeof key,
             "edgekv_certificate_not_after_seconds{use=\"replication\",file=\"%s\"} ", e1);
    assert_int_equal(sample(&b, key), after);
    assert_non_null(strstr(b.data, "missing.crt"));
    metrics_buf_free(&b);
    hostgauges_destroy(h);
    remove(missing);
    remove(e1);
    assert_int_equal(certs_issue_window(dir, "edge", "e1", -300, 5 * DAY_S, NULL, 0), 0);
}

/* A path with a quote and a backslash is escaped in the label. */
static void test_label_escaped(void **state)
{
    hostgauges_cert_t c[] = {{quoted, "https"}};
    hostgauges_t *h;
    metrics_buf_t b = {0};
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/q\"uo\\te.crt'", e1, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hostgauges_create(dir, c, 1, &h), 0);
    hostgauges_render(h, &b);
    assert_non_null(strstr(b.data, "/q\\\"uo\\\\te.crt\"} "));
    metrics_buf_free(&b);
    hostgauges_destroy(h);
    hostgauges_render(NULL, &b); /* nothing to render */
    assert_int_equal(b.len, 0);
}

/* Every allocation of create may fail: -ENOMEM, nothing leaked (ASan). */
static void test_oom(void **state)
{
    hostgauges_cert_t c[] = {{ca, "ca"}, {e1, "replication"}};
    hostgauges_t *h = NULL;
    int rc = -ENOMEM;
    (void)state;
    for (long k = 0; rc != 0; k++) {
        assert_true(k < 100);
        kv_mem_failing_set(k);
        rc = hostgauges_create(dir, c, 2, &h);
        kv_mem_failing_set(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
    }
    hostgauges_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_after), cmocka_unit_test(test_render),
        cmocka_unit_test(test_replaced),  cmocka_unit_test(test_label_escaped),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
