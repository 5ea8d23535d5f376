/* test_hcheck.c - the history checker (sim/hcheck.h): the format's writer
 * and reader, the rules hc_add enforces, the checks on histories built in
 * code (the hand-written ledgers of tests/nemesis/ledgers go through
 * edgekv-check in the nemesis_checker test), and the simulator's history
 * (sim/history.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hcheck.h"
#include "scenario.h"
#include "sim.h"

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    hc_record_t r = {.op = HC_OP_GET,
                     .outcome = HC_OUT_OK,
                     .node = "edge1",
                     .session = "s0",
                     .key = "k\"1",
                     .value = "v1.2",
                     .has_version = true,
                     .version = UINT64_C(111412894105600),
                     .t0_us = 10,
                     .t1_us = 20,
                     .code = 200,
                     .stale_ms = 7};
    char line[HC_LINE_MAX];
    int n = hc_format(&r, line, sizeof line);
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    assert_string_equal(line, "{\"op\":\"get\",\"node\":\"edge1\",\"session\":\"s0\",\"key\":"
                              "\"k\\\"1\",\"value\":\"v1.2\",\"version\":111412894105600,\"t0\":10,"
                              "\"t1\":20,\"outcome\":\"ok\",\"code\":200,\"stale_ms\":7}\n");
    hc_record_t p;
    void *json;
    assert_int_equal(hc_parse(line, &p, &json), 0);
    assert_int_equal(p.op, HC_OP_GET);
    assert_int_equal(p.outcome, HC_OUT_OK);
    assert_string_equal(p.node, "edge1");
    assert_string_equal(p.session, "s0");
    assert_string_equal(p.key, "k\"1");
    assert_string_equal(p.value, "v1.2");
    assert_true(p.has_version);
    assert_true(p.version == r.version);
    assert_int_equal(p.t0_us, 10);
    assert_int_equal(p.t1_us, 20);
    assert_int_equal(p.stale_ms, 7);
    hc_parsed_free(json);
    /* No session, no version, an absent value. */
    r = (hc_record_t){.op = HC_OP_DELETE,
                      .outcome = HC_OUT_UNKNOWN,
                      .node = "origin",
                      .key = "a",
                      .stale_ms = -1};
    assert_true(hc_format(&r, line, sizeof line) > 0);
    assert_null(strstr(line, "session"));
    assert_null(strstr(line, "version"));
    assert_non_null(strstr(line, "\"value\":null"));
    assert_int_equal(hc_parse(line, &p, &json), 0);
    assert_null(p.session);
    assert_null(p.value);
    assert_false(p.has_version);
    hc_parsed_free(json);
    /* Too small a buffer. */
    assert_int_equal(hc_format(&r, line, 16), -ENOSPC);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{\"op\":\"put\",\"node\":\"ori",
        "{\"op\":\"bump\",\"node\":\"a\",\"key\":\"k\",\"t0\":1,\"t1\":2,\"outcome\":\"ok\"}",
        "{\"op\":\"get\",\"node\":\"a\",\"key\":\"k\",\"t0\":1,\"t1\":2,\"outcome\":\"maybe\"}",
        "{\"op\":\"get\",\"node\":\"a\",\"key\":\"k\",\"t0\":1,\"t1\":2,\"outcome\":\"ok\","
        "\"version\":\"7\"}",
        "{\"op\":\"get\",\"node\":\"a\",\"key\":\"k\",\"t0\":1,\"t1\":2,\"outcome\":\"ok\","
        "\"value\":3}",
        "{\"op\":\"get\",\"node\":\"a\",\"key\":\"k\",\"t1\":2,\"outcome\":\"ok\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hc_record_t r;
        void *json = (void *)1;
        assert_int_equal(hc_parse(bad[i], &r, &json), -EINVAL);
        assert_null(json);
    }
}

static hc_t *checker(void)
{
    hc_options_t o;
    hc_options_default(&o);
    hc_t *h = hc_new(&o);
    assert_non_null(h);
    return h;
}

static void add(hc_t *h, hc_op_t op, const char *node, const char *session, const char *value,
                int64_t t0, int64_t t1)
{
    hc_record_t r = {.op = op,
                     .outcome = HC_OUT_OK,
                     .node = node,
                     .session = session,
                     .key = "a",
                     .value = value,
                     .t0_us = t0,
                     .t1_us = t1,
                     .stale_ms = -1};
    assert_int_equal(hc_add(h, &r, NULL), 0);
}

/* Runs the checks with their report in a temporary file; returns the
 * failing count and the report's text (freed by the caller). */
static uint64_t run(hc_t *h, char **text)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    uint64_t failing = hc_check(h, f);
    long len = ftell(f);
    *text = calloc(1, (size_t)len + 1);
    rewind(f);
    assert_int_equal(fread(*text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return failing;
}

static void test_add_rules(void **state)
{
    (void)state;
    hc_t *h = checker();
    hc_record_t r = {.op = HC_OP_PUT, .outcome = HC_OUT_OK, .node = "origin", .key = "a"};
    assert_int_equal(hc_add(h, &r, NULL), -EINVAL); /* a put without a value */
    r.value = "v1";
    assert_int_equal(hc_add(h, &r, NULL), 0);
    assert_int_equal(hc_add(h, &r, NULL), -EINVAL); /* values name writes */
    hc_free(h);
}

static void test_read_your_writes(void **state)
{
    (void)state;
    hc_t *h = checker();
    add(h, HC_OP_PUT, "origin", NULL, "x1", 10, 50);
    add(h, HC_OP_PUT, "edge1", "s1", "v1", 100, 200);
    add(h, HC_OP_GET, "edge1", "s1", "v1", 300, 310);
    char *text;
    assert_int_equal(run(h, &text), 0);
    free(text);
    add(h, HC_OP_GET, "edge1", "s1", "x1", 400, 410); /* behind its own write */
    assert_int_equal(run(h, &text), 1);
    assert_int_equal(hc_stats(h)->violations[HC_V_RYW], 1);
    assert_non_null(strstr(text, "VIOLATION read-your-writes on key a"));
    assert_non_null(strstr(text, "    wrote      {\"op\":\"put\",\"node\":\"edge1\""));
    assert_non_null(strstr(text, "-> FAIL"));
    free(text);
    hc_free(h);
}

static void test_monotonic_absent(void **state)
{
    (void)state;
    hc_t *h = checker();
    add(h, HC_OP_PUT, "origin", NULL, "v1", 10, 50);
    add(h, HC_OP_GET, "edge2", "s2", "v1", 100, 110);
    add(h, HC_OP_GET, "edge2", "s2", NULL, 200, 210); /* only the start was absent */
    char *text;
    assert_int_equal(run(h, &text), 1);
    assert_int_equal(hc_stats(h)->violations[HC_V_MONOTONIC], 1);
    assert_non_null(strstr(text, "(the key's start: absent)"));
    free(text);
    hc_free(h);
    /* With a delete that may follow v1, the absent read is allowed. */
    h = checker();
    add(h, HC_OP_PUT, "origin", NULL, "v1", 10, 50);
    add(h, HC_OP_DELETE, "origin", NULL, NULL, 40, 150);
    add(h, HC_OP_GET, "edge2", "s2", "v1", 100, 110);
    add(h, HC_OP_GET, "edge2", "s2", NULL, 200, 210);
    assert_int_equal(run(h, &text), 0);
    free(text);
    hc_free(h);
}

/* The simulator writes its clients' history and checks it in-process; the
 * file holds every operation the checker counted. */
static void test_sim_history(void **state)
{
    (void)state;
    char err[256], path[] = "/tmp/test_hcheck_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sim_scenario_t *sc;
    assert_int_equal(sim_scenario_load(SIM_SCENARIO_DIR "/smoke.json", &sc, err, sizeof err), 0);
    sim_options_t opt = {.quiet = true, .history = path};
    sim_t *s;
    assert_int_equal(sim_create(sc, 7, &opt, &s, err, sizeof err), 0);
    sim_run(s);
    assert_true(sim_history_ok(s));
    sim_destroy(s);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    hc_t *h = checker();
    assert_int_equal(hc_load(h, path, stderr), 0);
    fclose(f);
    char *text;
    assert_int_equal(run(h, &text), 0);
    const hc_stats_t *st = hc_stats(h);
    assert_true(st->put_ok > 0 && st->reads_in_session > 0 && st->finals > 0);
    assert_true(st->sessions > 1);
    free(text);
    hc_free(h);
    unlink(path);
    sim_scenario_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_add_rules),
        cmocka_unit_test(test_read_your_writes),
        cmocka_unit_test(test_monotonic_absent),
        cmocka_unit_test(test_sim_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
