/*
 * test_drive.c - the action dispatcher of sim/drive.h on real cores: every
 * action reaches its hook in order, also through a one-slot action array;
 * a PERSIST is held until drive_persisted, which commits it to the replica
 * (failed ops logged as no-ops, the results reaching the writer); an edge's
 * RESET and APPLY steps are held until drive_stepped, which empties the
 * replica, applies a snapshot and stores its history, with every hook
 * seeing its part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drive.h"
#include "edgekv.pb-c.h"
#include "frame.h"
#include "hlc.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "wire.h"

static const char NS[33] = "0123456789abcdef0123456789abcdef";
static const char HIST[33] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/* What the hooks saw, in order. */
typedef struct {
    char log[64][24];
    size_t n;
    int fail_status, fail_result;
    uint64_t advanced_from, advanced_to;
} seen_t;

static seen_t *seen(drive_node_t *d)
{
    return d->ctx;
}

static void note(drive_node_t *d, const char *what)
{
    seen_t *s = seen(d);
    assert_true(s->n < 64);
    snprintf(s->log[s->n++], sizeof s->log[0], "%s", what);
}

static void h_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *act)
{
    (void)peer;
    assert_true(act->u.send.len > 0);
    note(d, "send");
}

static void h_close(drive_node_t *d, repl_peer_t peer)
{
    (void)peer;
    note(d, "close");
}

static void h_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                         const int *results, size_t n)
{
    (void)seq;
    if (token == 2) {
        seen(d)->fail_status = status;
        seen(d)->fail_result = n == 1 && results ? results[0] : 1;
    }
    note(d, "done");
}

static void h_persist(drive_node_t *d)
{
    note(d, "persist");
}

static void h_read_log(drive_node_t *d, repl_peer_t peer, uint64_t from, size_t max)
{
    (void)peer;
    (void)from;
    (void)max;
    note(d, "read_log");
}

static void h_snapshot(drive_node_t *d, repl_peer_t peer, uint64_t min_seq)
{
    (void)peer;
    (void)min_seq;
    note(d, "snapshot");
}

static void h_trim(drive_node_t *d, uint64_t below)
{
    (void)below;
    note(d, "trim");
}

static void h_connect(drive_node_t *d)
{
    note(d, "connect");
}

static void h_step(drive_node_t *d)
{
    note(d, d->step.reset ? "step reset" : "step apply");
}

/* Keys starting with "bad" fail at commit. */
static int h_op_fails(drive_node_t *d, const repl_mutation_t *m)
{
    (void)d;
    return m->op.key_len >= 3 && memcmp(m->op.key, "bad", 3) == 0 ? KV_EINVAL : 0;
}

static void h_logged(drive_node_t *d, const repl_mutation_t *m, int fail)
{
    (void)m;
    note(d, fail ? "logged noop" : "logged");
}

static void h_reset(drive_node_t *d)
{
    note(d, "reset");
}

static void h_applied(drive_node_t *d, const repl_mutation_t *m, uint32_t slot)
{
    (void)m;
    (void)slot;
    note(d, "applied");
}

static void h_advanced(drive_node_t *d, uint64_t from, uint64_t to)
{
    seen(d)->advanced_from = from;
    seen(d)->advanced_to = to;
    note(d, "advanced");
}

static void h_history(drive_node_t *d)
{
    note(d, "history");
}

static const drive_ops_t OPS = {
    .send = h_send,
    .close = h_close,
    .write_done = h_write_done,
    .persist = h_persist,
    .read_log = h_read_log,
    .snapshot = h_snapshot,
    .trim = h_trim,
    .connect = h_connect,
    .step = h_step,
    .op_fails = h_op_fails,
    .logged = h_logged,
    .reset = h_reset,
    .applied = h_applied,
    .advanced = h_advanced,
    .history = h_history,
};

static repl_op_t put(const char *key)
{
    repl_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = REPL_OP_PUT;
    memcpy(op.ns_id, NS, sizeof op.ns_id);
    op.key = key;
    op.key_len = strlen(key);
    op.value = (const uint8_t *)"value";
    op.value_len = 5;
    return op;
}

/* The cores' wall clock (replication/repl.h, "Clocks"): the call's virtual
 * now_ms, so that two runs stamp the same versions. */
static uint64_t virtual_wall(void *ctx, uint64_t now_ms)
{
    (void)ctx;
    return now_ms;
}

/* An origin at seq 0 writing "a", then "bad" and "c" (one group), with an
 * action array of cap slots. */
static void origin_run(size_t cap, seen_t *s, lww_replica_t *m)
{
    repl_origin_config_t c;
    repl_origin_config_default(&c);
    c.wall = virtual_wall;
    c.node_id = 1;
    memcpy(c.history_id, HIST, sizeof c.history_id);
    c.log_first_seq = 1;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    drive_node_t d;
    drive_init(&d, o, NULL, m, &OPS, s);
    repl_action_t buf[64];
    repl_actions_t a = {buf, cap, 0};
    repl_op_t ops[3] = {put("a"), put("bad"), put("c")};
    for (uint64_t i = 0; i < 3; i++) {
        repl_origin_write(o, i + 1, &ops[i], 1, 1000, &a);
        drive_run(&d, &a);
    }
    assert_true(d.persist.pending); /* "a", held */
    assert_int_equal(d.persist.n, 1);
    drive_persisted(&d, 0, 1001, &a);
    drive_run(&d, &a);
    assert_true(d.persist.pending); /* "bad" and "c" */
    assert_int_equal(d.persist.n, 2);
    drive_persisted(&d, 0, 1002, &a);
    drive_run(&d, &a);
    assert_false(d.persist.pending);
    repl_origin_destroy(o);
}

static void print_seen(const seen_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        print_message("  %zu: %s\n", i, s->log[i]);
}

static void test_origin_persist(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(true);
    lww_replica_t m;
    lww_replica_init(&m, k);
    seen_t s = {0};
    origin_run(64, &s, &m);
    const char *want[] = {"persist",     "logged", "done", "persist",
                          "logged noop", "logged", "done", "done"};
    if (s.n != sizeof want / sizeof *want)
        print_seen(&s);
    assert_int_equal(s.n, sizeof want / sizeof *want);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.log[i], want[i]);
    /* The failed op reached its writer, and is not in the replica. */
    assert_int_equal(s.fail_status, 0);
    assert_int_equal(s.fail_result, KV_EINVAL);
    assert_int_equal(m.applied_seq, 3);
    assert_non_null(lww_lookup(&m, NS, "a"));
    assert_null(lww_lookup(&m, NS, "bad"));
    assert_non_null(lww_lookup(&m, NS, "c"));
    /* Through a one-slot array (the rest comes by poll): the same. */
    lww_replica_t m1;
    lww_replica_init(&m1, k);
    seen_t s1 = {0};
    origin_run(1, &s1, &m1);
    assert_int_equal(s1.n, s.n);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s1.log[i], s.log[i]);
    assert_true(lww_equal(&m, &m1));
    lww_replica_free(&m);
    lww_replica_free(&m1);
    lww_keys_free(k);
}

static void feed(drive_node_t *d, const uint8_t *b, size_t len, repl_actions_t *a)
{
    repl_edge_on_bytes(d->edge, b, len, 2000, a);
    drive_run(d, a);
}

static void test_edge_snapshot_steps(void **state)
{
    (void)state;
    lww_keys_t *k = lww_keys_new(true);
    lww_replica_t m;
    lww_replica_init(&m, k);
    repl_edge_config_t c;
    repl_edge_config_default(&c);
    c.wall = virtual_wall;
    c.node_id = 101;
    repl_edge_t *e;
    assert_int_equal(repl_edge_create(&c, &e), 0);
    seen_t s = {0};
    drive_node_t d;
    drive_init(&d, NULL, e, &m, &OPS, &s);
    repl_action_t buf[64];
    repl_actions_t a = {buf, 64, 0};
    repl_edge_start(e, 2000, &a);
    drive_run(&d, &a);
    repl_edge_on_connect(e, 1, 2000, &a);
    drive_run(&d, &a); /* the Hello */
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    w.history_id = (char *)HIST;
    w.mode = EDGEKV__WELCOME__MODE__SNAPSHOT;
    w.origin_seq = 2;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &w;
    uint8_t *b;
    size_t len;
    assert_int_equal(frame_encode(&f, &b, &len), 0);
    feed(&d, b, len, &a);
    kv_free(b);
    assert_true(d.step.pending && d.step.reset);
    drive_stepped(&d, 0, 2001, &a);
    drive_run(&d, &a);
    repl_mutation_t muts[2] = {{.version = {hlc_pack(5, 0), 1}, .op = put("x")},
                               {.version = {hlc_pack(6, 0), 1}, .op = put("y")}};
    assert_int_equal(repl_wire_snapshot_chunk(muts, 2, &b, &len), 0);
    feed(&d, b, len, &a);
    kv_free(b);
    assert_true(d.step.pending && !d.step.reset && d.step.seq == 0 && d.step.n == 2);
    drive_stepped(&d, 0, 2002, &a);
    drive_run(&d, &a);
    assert_int_equal(repl_wire_snapshot_end(2, KV_VERSION_ZERO, HIST, &b, &len), 0);
    feed(&d, b, len, &a);
    kv_free(b);
    assert_true(d.step.pending && d.step.seq == 2 && d.step.history != NULL);
    drive_stepped(&d, 0, 2003, &a);
    drive_run(&d, &a); /* and the ack */
    const char *want[] = {"connect", "send",       "step reset", "reset",   "step apply", "applied",
                          "applied", "step apply", "advanced",   "history", "send"};
    if (s.n != sizeof want / sizeof *want)
        print_seen(&s);
    assert_int_equal(s.n, sizeof want / sizeof *want);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.log[i], want[i]);
    assert_int_equal(s.advanced_from, 0);
    assert_int_equal(s.advanced_to, 2);
    assert_int_equal(m.applied_seq, 2);
    assert_string_equal(m.history, HIST);
    assert_non_null(lww_lookup(&m, NS, "x"));
    assert_non_null(lww_lookup(&m, NS, "y"));
    repl_edge_destroy(e);
    lww_replica_free(&m);
    lww_keys_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_persist),
        cmocka_unit_test(test_edge_snapshot_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
