/* test_config.c - node/config.c: defaults, the JSON file, flags over file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    int fd;
    snprintf(path, sizeof path, "/tmp/edgekv-cfg-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    node_config_t c;
    (void)state;
    node_config_defaults(&c, "origin");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8788);
    assert_string_equal(c.data_dir, "./data/origin");
    assert_int_equal(c.storage.sync, STOR_SYNC_ALWAYS);
    assert_true(c.http_threads >= 1);
    assert_int_equal(c.token_count, 0);
    node_config_free(&c);
}

static void test_file_then_flags(void **state)
{
    node_config_t c;
    char err[256];
    char *path =
        write_tmp("{\"listen\": \"0.0.0.0:9000\", \"sync\": \"batch\", \"http_threads\": 3,"
                  " \"cache_bytes\": 1048576, \"node_id\": 42, \"account_id\": \"acc\","
                  " \"tokens\": [{\"token\": \"s1\", \"account\": \"acc\", \"access\": "
                  "\"read\", \"namespaces\": [\"n1\", \"n2\"]}]}");
    char *argv[] = {"--sync", "off", "--config", path, "--listen=127.0.0.2:9001", "--token", "s2"};
    (void)state;
    node_config_defaults(&c, "origin");
    assert_int_equal(node_config_parse(&c, 7, argv, err, sizeof err), 0);
    assert_string_equal(c.listen_host, "127.0.0.2"); /* flag beats file */
    assert_int_equal(c.listen_port, 9001);
    assert_int_equal(c.storage.sync, STOR_SYNC_OFF);
    assert_int_equal(c.http_threads, 3);
    assert_int_equal(c.cache_bytes, 1048576);
    assert_int_equal(c.node_id, 42);
    assert_string_equal(c.account_id, "acc");
    assert_int_equal(c.token_count, 2);
    assert_string_equal(c.tokens[0].token, "s1");
    assert_false(c.tokens[0].write);
    assert_int_equal(c.tokens[0].namespace_count, 2);
    assert_string_equal(c.tokens[0].namespaces[1], "n2");
    assert_string_equal(c.tokens[1].token, "s2");
    assert_true(c.tokens[1].write);
    assert_null(c.tokens[1].account); /* filled with the node's account at start */
    node_config_free(&c);
    unlink(path);
}

static void expect_error(const char *json, const char *const *argv, int argc, const char *want)
{
    node_config_t c;
    char err[256] = "";
    char *args[8];
    int n = 0;
    char *path = NULL;
    node_config_defaults(&c, "origin");
    if (json) {
        path = write_tmp(json);
        args[n++] = "--config";
        args[n++] = path;
    }
    for (int i = 0; i < argc; i++)
        args[n++] = (char *)argv[i];
    assert_int_equal(node_config_parse(&c, n, args, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error [%s] lacks [%s]", err, want);
    node_config_free(&c);
    if (path)
        unlink(path);
}

static void test_errors(void **state)
{
    const char *bad_sync[] = {"--sync", "sometimes"};
    const char *bad_port[] = {"--listen", "127.0.0.1:99999"};
    const char *bad_num[] = {"--threads", "0"};
    const char *unknown[] = {"--frobnicate", "1"};
    const char *dangling[] = {"--data"};
    (void)state;
    expect_error("{\"typo_key\": 1}", NULL, 0, "unknown or mistyped configuration key 'typo_key'");
    expect_error("{\"http_threads\": \"two\"}", NULL, 0,
                 "http_threads: expected an integer in [1, 64]");
    expect_error("{not json", NULL, 0, "edgekv-cfg-");
    expect_error("[1]", NULL, 0, "must be a JSON object");
    expect_error("{\"tokens\": [{\"token\": \"x\"}]}", NULL, 0, "needs \"token\" and \"account\"");
    expect_error("{\"tokens\": [{\"token\": \"x\", \"account\": \"a\", \"access\": \"admin\"}]}",
                 NULL, 0, "access must be");
    expect_error(NULL, bad_sync, 2, "--sync: expected always|batch|off");
    expect_error(NULL, bad_port, 2, "bad port");
    expect_error(NULL, bad_num, 2, "--threads: bad number '0'");
    expect_error(NULL, unknown, 2, "unknown option '--frobnicate'");
    expect_error(NULL, dangling, 1, "--data needs a value");
}

static void test_help(void **state)
{
    node_config_t c;
    char err[64];
    char *argv[] = {"--help"};
    (void)state;
    node_config_defaults(&c, "origin");
    assert_int_equal(node_config_parse(&c, 1, argv, err, sizeof err), 1);
    node_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_then_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
