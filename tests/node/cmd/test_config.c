/* test_config.c - node/cmd/config.c and config_doc.c: defaults, the JSON file,
 * flags over file, every option reachable by its flag and its key alike,
 * and the generated --help and README table. */
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
#include "config_int.h"
#include "repl.h"

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

/* The replication defaults are the core's, not a copy beside them. */
static void test_replication_defaults_are_the_cores(void **state)
{
    node_config_t c;
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    (void)state;
    repl_origin_config_default(&oc);
    repl_edge_config_default(&ec);
    for (int edge = 0; edge < 2; edge++) {
        node_config_defaults(&c, edge ? "edge" : "origin");
        assert_int_equal(c.heartbeat_interval_ms, oc.heartbeat_interval_ms);
        assert_int_equal(c.max_clock_offset_ms, oc.max_clock_offset_ms);
        assert_int_equal(c.log_retention, oc.log_retention);
        assert_int_equal(c.log_retention_max, oc.log_retention_max);
        assert_int_equal(c.propagation_bound_ms, ec.propagation_bound_ms);
        assert_int_equal(c.write_timeout_ms, ec.write_timeout_ms);
        node_config_free(&c);
    }
    /* The values users run (README "Configuration"). */
    assert_int_equal(oc.heartbeat_interval_ms, 200);
    assert_int_equal(oc.max_clock_offset_ms, 500);
    assert_int_equal(oc.log_retention, 100000);
    assert_int_equal(oc.log_retention_max, 5000000);
    assert_int_equal(ec.propagation_bound_ms, 1000);
    assert_int_equal(ec.write_timeout_ms, 10000);
    node_config_defaults(&c, "edge");
    assert_int_equal(c.listen_port, 8787);
    assert_int_equal(c.storage.sync, STOR_SYNC_BATCH);
    assert_string_equal(c.name, "edge");
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

/* Every kind of option refuses what it cannot hold, by the same name the
 * user wrote (the flag or the key). */
static void test_errors_by_kind(void **state)
{
    const char *nh[] = {"--new-history", "maybe"};
    const char *account[] = {"--account",
                             "0123456789012345678901234567890123456789012345678901234567890123X"};
    const char *name[] = {"--name="};
    const char *level[] = {"--log-level", "loud"};
    const char *low[] = {"--heartbeat-ms=4"};
    const char *neg[] = {"--cache-bytes", "-1"};
    const char *noport[] = {"--origin", "host"};
    const char *cfg[] = {"--config"};
    const char *stray[] = {"stray"};
    const char *unknown_eq[] = {"--frobnicate=1"};
    (void)state;
    expect_error("{\"listen\": 1}", NULL, 0, "listen: expected a string");
    expect_error("{\"strict_staleness\": \"yes\"}", NULL, 0,
                 "strict_staleness: expected true or false");
    expect_error("{\"sync\": \"x\"}", NULL, 0, "sync: expected always|batch|off, got 'x'");
    expect_error("{\"log_level\": \"loud\"}", NULL, 0, "log_level: expected debug|info|warn|error");
    expect_error("{\"cache_bytes\": -1}", NULL, 0, "cache_bytes: expected an integer in [0, ");
    expect_error("{\"account_id\": \"\"}", NULL, 0, "account_id: 1..64 characters, got ''");
    expect_error("{\"tokens\": {}}", NULL, 0, "tokens: expected an array of tokens");
    expect_error("{\"tokens\": [{\"token\": \"x\", \"account\": \"a\", \"acces\": \"read\"}]}",
                 NULL, 0, "tokens: unknown key 'acces'");
    expect_error("{\"new_history\": true}", NULL, 0,
                 "unknown or mistyped configuration key 'new_history'");
    expect_error(NULL, nh, 2, "--new-history: true or false, got 'maybe'");
    expect_error(NULL, account, 2, "--account: 1..64 characters");
    expect_error(NULL, name, 1, "--name: 1..63 characters, got ''");
    expect_error(NULL, level, 2, "--log-level: expected debug|info|warn|error, got 'loud'");
    expect_error(NULL, low, 1,
                 "--heartbeat-ms: bad number '4' (expected an integer in [5, 600000])");
    expect_error(NULL, neg, 2, "--cache-bytes: bad number '-1'");
    expect_error(NULL, noport, 2, "--origin: expected HOST:PORT, got 'host'");
    expect_error(NULL, cfg, 1, "--config needs a file");
    expect_error(NULL, stray, 1, "unexpected argument 'stray'");
    expect_error(NULL, unknown_eq, 1, "unknown option '--frobnicate'");
}

/* A value each kind accepts, other than every default. */
static const char *sample(const node_config_t *def, const node_opt_t *o, char *buf, size_t n)
{
    switch (o->kind) {
    case OPT_BOOL:
        return *(const bool *)config__field(def, o) ? "false" : "true";
    case OPT_STR:
        return "sample";
    case OPT_ENUM:
        return o->name(2); /* "off", "warn": neither is a default */
    case OPT_ADDR:
        return "10.1.2.3:4567";
    case OPT_ADDRS:
        return "10.1.2.3:4567,relay.example:7401";
    default:
        snprintf(buf, n, "%llu", o->hi - 1);
        return buf;
    }
}

/* Every option with both a flag and a key sets the same field either way,
 * and every option's value reaches node_config_t. */
static void test_flag_and_key_agree(void **state)
{
    char err[256], v[32], json[256];
    (void)state;
    for (size_t i = 0; i < config__opt_count; i++) {
        const node_opt_t *o = &config__opts[i];
        node_config_t def, byflag, bykey;
        if (o->kind == OPT_CONFIG || o->kind == OPT_TOKENS)
            continue; /* tested above: test_file_then_flags */
        node_config_defaults(&def, "origin");
        const char *val = sample(&def, o, v, sizeof v);
        node_config_defaults(&byflag, "origin");
        node_config_defaults(&bykey, "origin");
        if (o->flag) {
            char *argv[] = {(char *)o->flag, (char *)val};
            if (node_config_parse(&byflag, 2, argv, err, sizeof err) != 0)
                fail_msg("%s %s: %s", o->flag, val, err);
            if (memcmp(&byflag, &def, sizeof def) == 0)
                fail_msg("%s %s changed nothing", o->flag, val);
        }
        if (o->key) {
            bool quoted = o->kind != OPT_BOOL && !config__is_number(o);
            snprintf(json, sizeof json, "{\"%s\": %s%s%s}", o->key, quoted ? "\"" : "", val,
                     quoted ? "\"" : "");
            char *path = write_tmp(json);
            if (node_config_load_file(&bykey, path, err, sizeof err) != 0)
                fail_msg("%s: %s", json, err);
            unlink(path);
            node_config_free(&bykey); /* only json_root differs from here on */
            if (memcmp(&bykey, &def, sizeof def) == 0)
                fail_msg("%s changed nothing", json);
            if (o->flag && memcmp(&bykey, &byflag, sizeof def) != 0)
                fail_msg("%s and %s set different fields", o->flag, o->key);
        }
        node_config_free(&def);
        node_config_free(&byflag);
    }
}

/* --config=FILE works like --config FILE, and tokens of every file read
 * stay valid (they point into its JSON). */
static void test_two_config_files(void **state)
{
    node_config_t c;
    char err[256], a[64], b[64], fa[80], fb[80];
    (void)state;
    snprintf(a, sizeof a, "%s",
             write_tmp("{\"tokens\": [{\"token\": \"ta\", \"account\": \"x\"}]}"));
    snprintf(
        b, sizeof b, "%s",
        write_tmp("{\"tokens\": [{\"token\": \"tb\", \"account\": \"x\"}], \"name\": \"e7\"}"));
    snprintf(fa, sizeof fa, "--config=%s", a);
    snprintf(fb, sizeof fb, "%s", b);
    char *argv[] = {fa, "--config", fb, "--name", "e8"};
    node_config_defaults(&c, "edge");
    assert_int_equal(node_config_parse(&c, 5, argv, err, sizeof err), 0);
    assert_int_equal(c.token_count, 2);
    assert_string_equal(c.tokens[0].token, "ta");
    assert_string_equal(c.tokens[1].token, "tb");
    assert_string_equal(c.name, "e8"); /* the flag beats the file */
    node_config_free(&c);
    unlink(a);
    unlink(b);
}

/* --help and the table print the real defaults of each role. */
static void test_usage_and_table(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    (void)state;
    assert_non_null(f = open_memstream(&text, &len));
    node_config_usage(f, "edge");
    fclose(f);
    assert_non_null(strstr(text, "usage: edgekv edge [options]"));
    assert_non_null(strstr(text, "  --listen HOST:PORT  (file: \"listen\")\n"));
    assert_non_null(strstr(text, "        default: 127.0.0.1:8787\n"));
    assert_non_null(strstr(
        text, "  --heartbeat-ms N  (file: \"heartbeat_interval_ms\")\n"
              "        origin, relay: heartbeat interval (each echoes the edge's latest probe)\n"
              "        default: 200\n"));
    assert_non_null(strstr(text, "  \"max_clock_offset_ms\": N\n"));
    free(text);
    assert_non_null(f = open_memstream(&text, &len));
    node_config_table(f);
    fclose(f);
    assert_non_null(strstr(text, "| flag | file key | default | meaning |\n|---|---|---|---|\n"));
    assert_non_null(strstr(text, "| `--sync MODE` | `sync` | `always` (edge: `batch`) |"));
    assert_non_null(strstr(text, "| `--strict-staleness true\\|false` | `strict_staleness` |"));
    assert_non_null(strstr(text, "| | `max_clock_offset_ms` | 500 | origin: "));
    assert_non_null(strstr(text,
                           "| `--upstream HOST:PORT[,HOST:PORT...]` | `upstreams` | --origin | "
                           "edge, relay: "));
    free(text);
    /* A relay: its own ports, the edge's options for its upstream, the
     * origin's for the links it serves. */
    assert_non_null(f = open_memstream(&text, &len));
    node_config_usage(f, "relay");
    fclose(f);
    assert_non_null(strstr(text, "usage: edgekv relay [options]"));
    assert_non_null(strstr(text, "        default: 127.0.0.1:8789\n"));
    assert_non_null(strstr(text, "        default: 0.0.0.0:7401\n"));
    free(text);
}

/* --upstream: a list of HOST:PORT, each checked; at most NODE_UPSTREAMS_MAX. */
static void test_upstream_list(void **state)
{
    node_config_t c;
    char err[256];
    (void)state;
    node_config_defaults(&c, "edge");
    char *ok[] = {"--upstream", "relay1.example:7401,127.0.0.1:7402,::1:7400"};
    assert_int_equal(node_config_parse(&c, 2, ok, err, sizeof err), 0);
    assert_int_equal(c.upstream_count, 3);
    assert_string_equal(c.upstream_hosts[0], "relay1.example");
    assert_int_equal(c.upstream_ports[1], 7402);
    assert_string_equal(c.upstream_hosts[2], "::1");
    node_config_free(&c);
    const char *bad[] = {"a:1,,b:2", "a:1,b", "a:99999", ",a:1", "a:1,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        node_config_defaults(&c, "edge");
        char *argv[] = {"--upstream", (char *)bad[i]};
        assert_int_equal(node_config_parse(&c, 2, argv, err, sizeof err), -1);
        node_config_free(&c);
    }
    char many[256] = "";
    for (int i = 0; i <= NODE_UPSTREAMS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:1", i ? "," : "", i);
    node_config_defaults(&c, "edge");
    char *argv[] = {"--upstream", many};
    assert_int_equal(node_config_parse(&c, 2, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most"));
    node_config_free(&c);
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
        cmocka_unit_test(test_replication_defaults_are_the_cores),
        cmocka_unit_test(test_file_then_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_by_kind),
        cmocka_unit_test(test_flag_and_key_agree),
        cmocka_unit_test(test_two_config_files),
        cmocka_unit_test(test_usage_and_table),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_upstream_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
