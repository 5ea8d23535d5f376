/*
 * test_repl_sim.c - origin and edges together, through the in-memory driver
 * of repl_testkit: convergence under random interleavings, disconnects and
 * trimming; resume versus snapshot; replayed streams; history refusal;
 * staleness at exact virtual times. Every run is seeded and must replay
 * to the same trace.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "hlc.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_testkit.h"
#include "wire.h"

static void world(tk_world_t *w, size_t nedges, uint64_t seed)
{
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    tk_origin_config(&oc);
    tk_edge_config(&ec, 101);
    tk_world_init(w, &oc, &ec, nedges, seed);
    tk_world_start(w);
}

static void assert_converged(tk_world_t *w)
{
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        repl_edge_status_t st;
        repl_edge_status(e->d.edge, w->now, &st);
        assert_int_equal(st.link, REPL_LINK_LIVE);
        assert_int_equal(e->m.applied_seq, w->origin.last_seq);
        assert_int_equal(st.applied_seq, w->origin.last_seq);
        assert_string_equal(e->m.history, TK_HIST_A);
        assert_true(lww_equal(&e->m, &w->origin.m));
        assert_int_equal(e->d.alarms, 0);
    }
    assert_int_equal(w->origin.d.alarms, 0);
}

static void test_sim_basic(void **state)
{
    (void)state;
    tk_world_t w;
    world(&w, 3, 0);
    tk_run_until(&w, 2000);
    repl_op_t ops[2] = {tk_put("a", "1"), tk_put("b", "2")};
    tk_origin_write(&w, 1, ops, 2);
    tk_edge_write(&w, 1, 2, ops, 1);
    tk_run_until(&w, 3000);
    assert_converged(&w);
    assert_int_equal(w.origin.last_seq, 3);
    assert_int_equal(w.edges[1].ndone, 1);
    assert_int_equal(w.edges[1].done[0].status, 0);
    assert_int_equal(w.edges[1].done[0].seq, 3);
    /* Versions: stamped by the origin, increasing with the log. */
    const lww_rec_t *r = lww_lookup(&w.edges[0].m, TK_NS, "a");
    assert_non_null(r);
    assert_int_equal(r->v.node_id, 1);
    assert_int_equal(r->len, 1);
    assert_memory_equal(tk_rec_value(&w.edges[0].m, r), "1", 1);
    for (size_t i = 1; i < w.origin.nlog; i++) {
        repl_mutation_t *p, *q;
        assert_int_equal(repl_mutation_decode(w.origin.log[i - 1].b, w.origin.log[i - 1].len, &p),
                         0);
        assert_int_equal(repl_mutation_decode(w.origin.log[i].b, w.origin.log[i].len, &q), 0);
        assert_true(kv_version_cmp(p->version, q->version) < 0);
        repl_mutation_free(p);
        repl_mutation_free(q);
    }
    tk_world_free(&w);
}

static void test_sim_lww_ties_by_node_id_not_value(void **state)
{
    (void)state;
    /* Same timestamp from two nodes: node 2 wins in either order, and a
     * "bigger" value does not help node 1. */
    repl_mutation_t a = {.seq = 1, .version = {hlc_pack(5000, 0), 1}, .op = tk_put("k", "zzzz")};
    repl_mutation_t b = {.seq = 2, .version = {hlc_pack(5000, 0), 2}, .op = tk_put("k", "a")};
    lww_keys_t *keys = lww_keys_new(true);
    lww_replica_t m1, m2;
    lww_replica_init(&m1, keys);
    lww_replica_init(&m2, keys);
    uint32_t slot;
    assert_true(lww_apply_mut(&m1, &a, &slot));
    assert_true(lww_apply_mut(&m1, &b, &slot));
    assert_true(lww_apply_mut(&m2, &b, &slot));
    assert_false(lww_apply_mut(&m2, &a, &slot));
    assert_true(lww_equal(&m1, &m2));
    assert_memory_equal(tk_rec_value(&m1, lww_lookup(&m1, TK_NS, "k")), "a", 1);
    /* An exact duplicate does not apply twice. */
    assert_false(lww_apply_mut(&m1, &b, &slot));
    lww_replica_free(&m1);
    lww_replica_free(&m2);
    lww_keys_free(keys);
}

static void test_sim_resume_vs_snapshot(void **state)
{
    (void)state;
    tk_world_t w;
    world(&w, 3, 0);
    tk_run_until(&w, 2000);
    assert_int_equal(w.origin.snapshots, 3); /* fresh edges */
    tk_partition(&w, 1, true);
    tk_partition(&w, 2, true);
    char keys[100][8];
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        repl_op_t op = tk_put(keys[i], "v");
        tk_origin_write(&w, (uint64_t)i, &op, 1);
        tk_run_until(&w, w.now + 10);
    }
    /* Edge 1 was away for 5 entries (retention 8): it resumes. */
    tk_partition(&w, 1, false);
    tk_run_until(&w, w.now + 2000);
    assert_int_equal(w.origin.snapshots, 3);
    assert_int_equal(w.edges[1].m.applied_seq, 5);
    assert_int_equal(w.edges[1].resumes_behind, 1);
    assert_int_equal(w.edges[1].snapshots_later, 0);
    /* Edge 2 misses more than log_retention_max (64): snapshot. */
    for (int i = 5; i < 100; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        repl_op_t op = i % 7 ? tk_put(keys[i % 20], keys[i]) : tk_del(keys[i % 20]);
        tk_origin_write(&w, (uint64_t)i, &op, 1);
        tk_run_until(&w, w.now + 10);
    }
    assert_true(w.origin.trimmed_below > 6);
    tk_partition(&w, 2, false);
    tk_run_until(&w, w.now + 2000);
    assert_int_equal(w.origin.snapshots, 4);
    assert_int_equal(w.edges[2].snapshots_later, 1);
    assert_int_equal(w.edges[2].resumes, 0);
    assert_converged(&w);
    tk_world_free(&w);
}

/* An origin on sync=batch|off crashes and comes back with a shorter log
 * (its last commits were never synced), then gives the lost seqs to other
 * writes. Edges that had applied the lost entries must not resume as if in
 * step (they would keep the lost writes and miss the new ones forever), nor
 * refuse the origin for being behind them: the resume proof (the version of
 * the entry at the applied seq, repl.h) sends them to a snapshot, and every
 * replica converges. Before the proof, edge 0 (ahead, origin_seq below its
 * applied seq) refused the origin, and edge 1 resumed diverged. */
static void test_sim_origin_lost_tail_reused_seqs(void **state)
{
    (void)state;
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    tk_origin_config(&oc);
    oc.log_retention = oc.log_retention_max = 1000; /* rebuilt from the whole log */
    tk_edge_config(&ec, 101);
    tk_world_t w;
    tk_world_init(&w, &oc, &ec, 3, 0);
    tk_world_start(&w);
    tk_run_until(&w, 2000);
    char keys[40][12];
    for (int i = 0; i < 10; i++) { /* seqs 1..10, durable */
        snprintf(keys[i], sizeof keys[i], "kept%d", i);
        repl_op_t op = tk_put(keys[i], "v");
        tk_origin_write(&w, (uint64_t)i, &op, 1);
        tk_run_until(&w, w.now + 10);
    }
    tk_partition(&w, 2, true);      /* edge 2 stays at 10: its position survives */
    for (int i = 10; i < 16; i++) { /* seqs 11..16, lost in the crash */
        snprintf(keys[i], sizeof keys[i], "lost%d", i);
        repl_op_t op = tk_put(keys[i], "lost");
        tk_origin_write(&w, (uint64_t)i, &op, 1);
        tk_run_until(&w, w.now + 10);
    }
    assert_int_equal(w.edges[0].m.applied_seq, 16);
    assert_int_equal(w.edges[1].m.applied_seq, 16);
    tk_partition(&w, 1, true); /* edge 1 is away while the seqs are reused */
    tk_origin_crash(&w, 10);
    size_t snaps = w.origin.snapshots;

    /* Edge 0 comes back at once: the origin is at 10, below its 16. */
    tk_run_until(&w, w.now + 2000);
    assert_int_equal(w.edges[0].snapshots_later, 1);
    assert_int_equal(w.edges[0].m.applied_seq, 10);
    assert_null(lww_lookup(&w.edges[0].m, TK_NS, "lost10"));

    /* Other writes take seqs 11..20; edge 1 returns at 16. */
    for (int i = 20; i < 30; i++) {
        snprintf(keys[i], sizeof keys[i], "new%d", i);
        repl_op_t op = tk_put(keys[i], "new");
        tk_origin_write(&w, (uint64_t)i, &op, 1);
        tk_run_until(&w, w.now + 10);
    }
    assert_int_equal(w.origin.last_seq, 20);
    tk_partition(&w, 1, false);
    tk_partition(&w, 2, false);
    tk_run_until(&w, w.now + 3000);
    assert_int_equal(w.edges[1].snapshots_later, 1); /* seq 16 is another write now */
    assert_int_equal(w.edges[2].snapshots_later, 0); /* 10 is on the history: resume */
    assert_int_equal(w.edges[2].resumes_behind, 1);
    assert_int_equal(w.origin.snapshots, snaps + 2);
    assert_converged(&w);
    for (size_t i = 0; i < w.nedges; i++)
        assert_null(lww_lookup(&w.edges[i].m, TK_NS, "lost12"));
    tk_world_free(&w);
}

static void test_sim_history_change_refused(void **state)
{
    (void)state;
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    tk_origin_config(&oc);
    tk_edge_config(&ec, 101);
    memcpy(ec.history_id, TK_HIST_B, sizeof ec.history_id);
    ec.applied_seq = 3;
    tk_world_t w;
    tk_world_init(&w, &oc, &ec, 1, 0);
    tk_world_start(&w);
    repl_op_t op = tk_put("a", "1");
    tk_origin_write(&w, 1, &op, 1);
    tk_run_until(&w, 60000);
    tk_edge_t *e = &w.edges[0];
    assert_int_equal(e->d.alarms, 1);
    assert_null(lww_lookup(&e->m, TK_NS, "a")); /* nothing applied */
    assert_int_equal(e->m.applied_seq, 0);
    repl_edge_status_t st;
    repl_edge_status(e->d.edge, w.now, &st);
    assert_int_equal(st.link, REPL_LINK_REFUSED);
    assert_int_equal(st.applied_seq, 3);
    assert_int_equal(w.next_peer, 1); /* refused once, never retried */
    tk_world_free(&w);
}

static void test_sim_staleness_and_heartbeats(void **state)
{
    (void)state;
    tk_world_t w;
    world(&w, 2, 0);
    tk_run_until(&w, 2000);
    /* Idle for a minute: heartbeats (every 100 ms) echoing probes (every
     * KV_REPL_PROBE_INTERVAL_MS) keep both fresh, never more than a probe
     * interval + a heartbeat interval behind (links here are instant). */
    uint64_t worst = 0;
    for (uint64_t t = 2000; t < 62000; t += 37) {
        tk_run_until(&w, t);
        for (size_t i = 0; i < 2; i++) {
            repl_edge_status_t st;
            repl_edge_status(w.edges[i].d.edge, w.now, &st);
            assert_false(st.stale);
            assert_true(st.staleness_ms <= KV_REPL_PROBE_INTERVAL_MS + 100);
            worst = st.staleness_ms > worst ? st.staleness_ms : worst;
        }
    }
    assert_true(worst > 100); /* and probes are not answered at once */
    /* Cut edge 0 off: stale exactly propagation_bound_ms after the time
     * its last echo dates, not a millisecond earlier. */
    tk_partition(&w, 0, true);
    uint64_t since;
    (void)repl_edge_fresh_until(w.edges[0].d.edge, &since);
    repl_edge_status_t st;
    tk_run_until(&w, since + 1000);
    repl_edge_status(w.edges[0].d.edge, w.now, &st);
    assert_false(st.stale);
    tk_run_until(&w, since + 1001);
    repl_edge_status(w.edges[0].d.edge, w.now, &st);
    assert_true(st.stale);
    assert_int_equal(st.staleness_ms, 1001);
    repl_edge_status(w.edges[1].d.edge, w.now, &st);
    assert_false(st.stale);
    tk_partition(&w, 0, false);
    tk_run_until(&w, w.now + 2000);
    repl_edge_status(w.edges[0].d.edge, w.now, &st);
    assert_false(st.stale);
    assert_converged(&w);
    tk_world_free(&w);
}

static void test_sim_persist_failure(void **state)
{
    (void)state;
    tk_world_t w;
    world(&w, 1, 0);
    tk_run_until(&w, 2000);
    repl_op_t op = tk_put("a", "1");
    w.origin.persist_fail_rc = -EIO;
    tk_edge_write(&w, 0, 5, &op, 1);
    tk_run_until(&w, 3000);
    assert_int_equal(w.origin.d.alarms, 1);
    assert_int_equal(w.edges[0].ndone, 1);
    assert_int_equal(w.edges[0].done[0].status, -EIO);
    tk_edge_write(&w, 0, 6, &op, 1);
    tk_origin_write(&w, 7, &op, 1);
    tk_run_until(&w, 4000);
    assert_int_equal(w.edges[0].done[1].status, KV_EIO);
    assert_int_equal(w.origin.done[0].status, KV_EIO);
    assert_int_equal(w.origin.last_seq, 0);
    tk_world_free(&w);
}

/* ---- replaying a captured stream into a stand-alone edge ---------------------- */

/* A stand-alone edge fed a recorded stream: its storage steps complete at
 * once; the bytes it sends go nowhere. */
static size_t ed_alarms; /* counted, and CLOSE allowed, when ed_tolerant */
static bool ed_tolerant;

static void ed_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *act)
{
    (void)d;
    (void)peer;
    (void)act;
}

static void ed_close(drive_node_t *d, repl_peer_t peer)
{
    (void)d;
    (void)peer;
    assert_true(ed_tolerant);
}

static void ed_alarm(drive_node_t *d, const char *reason)
{
    (void)d;
    (void)reason;
    assert_true(ed_tolerant);
    ed_alarms++;
}

static void ed_connect(drive_node_t *d)
{
    (void)d;
}

static void ed_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                          const int *results, size_t n)
{
    (void)d;
    (void)token;
    (void)status;
    (void)seq;
    (void)results;
    (void)n;
    fail_msg("no writes here");
}

static const drive_ops_t ED_OPS = {
    .send = ed_send,
    .close = ed_close,
    .write_done = ed_write_done,
    .alarm = ed_alarm,
    .connect = ed_connect,
};

/* Carry out the last call's actions, then every storage step it leads to. */
static void ed_process(drive_node_t *d, tk_acts_t *t, uint64_t now)
{
    drive_run(d, &t->a);
    while (d->step.pending) {
        tk_acts_reset(t, TK_ACTS_MAX);
        drive_stepped(d, 0, now, &t->a);
        drive_run(d, &t->a);
    }
}

/* Connect d's edge and feed it bytes in seeded random pieces. */
static void ed_replay(drive_node_t *d, const uint8_t *b, size_t len, uint64_t *rng, uint64_t now)
{
    repl_edge_t *e = d->edge;
    tk_acts_t t;
    tk_acts_reset(&t, TK_ACTS_MAX);
    repl_edge_start(e, now, &t.a);
    /* Already started: the reconnect is due (maybe after the staleness
     * deadline, which does nothing visible). */
    for (int i = 0; i < 2 && t.a.n == 0; i++)
        repl_edge_tick(e, repl_edge_deadline(e), &t.a);
    assert_int_equal(tk_acts_count(&t, REPL_ACT_CONNECT), 1);
    ed_process(d, &t, now);
    tk_acts_reset(&t, TK_ACTS_MAX);
    repl_edge_on_connect(e, 1, now, &t.a);
    ed_process(d, &t, now);
    for (size_t off = 0; off < len;) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = 1 + (size_t)((*rng >> 33) % 300);
        n = n < len - off ? n : len - off;
        tk_acts_reset(&t, TK_ACTS_MAX);
        repl_edge_on_bytes(e, b + off, n, now, &t.a);
        ed_process(d, &t, now);
        off += n;
    }
    repl_edge_status_t st;
    repl_edge_status(e, now, &st);
    if (st.link == REPL_LINK_REFUSED)
        return;
    tk_acts_reset(&t, TK_ACTS_MAX);
    repl_edge_on_disconnect(e, now, &t.a);
    ed_process(d, &t, now);
}

/* A stand-alone edge (node 500) with a replica in w's keyspace. */
static void ed_init(drive_node_t *d, lww_replica_t *m, tk_world_t *w, const char *hist)
{
    repl_edge_config_t c;
    tk_edge_config(&c, 500);
    memcpy(c.history_id, hist, strlen(hist) + 1);
    repl_edge_t *e;
    assert_int_equal(repl_edge_create(&c, &e), 0);
    lww_replica_init(m, w->keys);
    drive_init(d, NULL, e, m, &ED_OPS, NULL);
}

static void ed_free(drive_node_t *d)
{
    repl_edge_destroy(d->edge);
    lww_replica_free(d->m);
}

/* A world with one edge whose whole o2e byte stream is captured: a
 * snapshot of the empty start, then batches and heartbeats. */
static uint8_t *captured_run(tk_world_t *w, size_t *len)
{
    world(w, 1, 0);
    w->edges[0].capture = true;
    tk_run_until(w, 2000);
    static char keys[10][8], vals[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i % 10], sizeof keys[0], "key%d", i % 10);
        snprintf(vals[i], sizeof vals[0], "v%d", i);
        repl_op_t ops[2] = {tk_put(keys[i % 10], vals[i]), tk_del(keys[(i + 3) % 10])};
        tk_origin_write(w, (uint64_t)i, ops, i % 4 ? 1 : 2);
        tk_run_until(w, w->now + 7);
    }
    tk_run_until(w, w->now + 1000);
    assert_converged(w);
    *len = w->edges[0].link.capture.len;
    uint8_t *cap = malloc(*len);
    memcpy(cap, w->edges[0].link.capture.data, *len);
    return cap;
}

/* A Welcome resuming from 1, then every batch frame of the capture. */
static uint8_t *resume_stream(const tk_world_t *w, const uint8_t *cap, size_t len, size_t *out_len,
                              size_t *welcome_len)
{
    uint8_t *out = malloc(len + 64);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome wel = EDGEKV__WELCOME__INIT;
    wel.history_id = (char *)TK_HIST_A;
    wel.origin_seq = w->origin.last_seq;
    wel.from_seq = 1;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &wel;
    size_t n;
    uint8_t *wb = tk_frame_bytes(&f, &n);
    memcpy(out, wb, n);
    free(wb);
    *welcome_len = n;
    for (size_t off = 0; off < len;) {
        size_t flen = 4 + frame_get_len(cap + off);
        Edgekv__Frame *fr;
        assert_int_equal(frame_decode(cap + off + 4, flen - 4, &fr), 0);
        if (fr->msg_case == EDGEKV__FRAME__MSG_BATCH) {
            memcpy(out + n, cap + off, flen);
            n += flen;
        }
        frame_free(fr);
        off += flen;
    }
    *out_len = n;
    return out;
}

static void test_sim_replayed_stream(void **state)
{
    (void)state;
    tk_world_t w;
    size_t len;
    uint8_t *cap = captured_run(&w, &len);
    /* The captured stream into a fresh replica: the same state. */
    drive_node_t d;
    lww_replica_t m;
    ed_init(&d, &m, &w, "");
    uint64_t rng = 99;
    ed_replay(&d, cap, len, &rng, 5000);
    assert_true(lww_equal(&m, &w.origin.m));
    assert_int_equal(m.applied_seq, w.origin.last_seq);
    /* The old stream again (its Welcome says the origin was at 0): the
     * replica refuses to rewind and keeps what it has. */
    ed_tolerant = true;
    ed_replay(&d, cap, len, &rng, 6000);
    ed_tolerant = false;
    assert_int_equal(ed_alarms, 1);
    assert_int_equal(d.alarms, 1);
    assert_true(lww_equal(&m, &w.origin.m));
    assert_int_equal(m.applied_seq, w.origin.last_seq);
    ed_free(&d);
    free(cap);
    tk_world_free(&w);
}

static void test_sim_replayed_batches_twice(void **state)
{
    (void)state;
    tk_world_t w;
    size_t len, blen, wlen;
    uint8_t *cap = captured_run(&w, &len);
    uint8_t *batches = resume_stream(&w, cap, len, &blen, &wlen);
    /* Welcome, the batches, then the batches again: all duplicates. */
    uint8_t *twice = malloc(2 * blen);
    memcpy(twice, batches, blen);
    memcpy(twice + blen, batches + wlen, blen - wlen);
    drive_node_t d;
    lww_replica_t m;
    ed_init(&d, &m, &w, TK_HIST_A);
    uint64_t rng = 7;
    ed_replay(&d, twice, 2 * blen - wlen, &rng, 7000);
    assert_true(lww_equal(&m, &w.origin.m));
    assert_int_equal(m.applied_seq, w.origin.last_seq);
    ed_free(&d);
    free(twice);
    free(batches);
    free(cap);
    tk_world_free(&w);
}

static void test_sim_log_in_any_order(void **state)
{
    (void)state;
    tk_world_t w;
    size_t len, blen, wlen;
    uint8_t *cap = captured_run(&w, &len);
    uint8_t *batches = resume_stream(&w, cap, len, &blen, &wlen);
    /* Every mutation the batches carried, applied in random orders: LWW,
     * not arrival order, decides the state. */
    Edgekv__Frame *frames[256];
    repl_mutation_t all[512];
    size_t nf = 0, n = 0;
    for (size_t off = wlen; off < blen; nf++) {
        size_t flen = 4 + frame_get_len(batches + off);
        assert_true(nf < 256);
        assert_int_equal(frame_decode(batches + off + 4, flen - 4, &frames[nf]), 0);
        for (size_t i = 0; i < frames[nf]->batch->n_mutations; i++) {
            assert_true(n < 512);
            assert_int_equal(repl_wire_mut_from_pb(frames[nf]->batch->mutations[i], &all[n]), 0);
            assert_int_equal(all[n].seq, n + 1);
            n++;
        }
        off += flen;
    }
    assert_int_equal(n, w.origin.last_seq);
    uint64_t rng = 3;
    for (int round = 0; round < 20; round++) {
        lww_replica_t m;
        lww_replica_init(&m, w.keys);
        size_t perm[512];
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n; i > 1; i--) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t j = (size_t)((rng >> 33) % i), tmp = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = tmp;
        }
        uint32_t slot;
        for (size_t i = 0; i < n; i++)
            lww_apply_mut(&m, &all[perm[i]], &slot);
        assert_true(lww_equal(&m, &w.origin.m));
        lww_replica_free(&m);
    }
    for (size_t i = 0; i < nf; i++)
        frame_free(frames[i]);
    free(batches);
    free(cap);
    tk_world_free(&w);
}

/* ---- random writes, random faults, then heal ---------------------------------- */

typedef struct {
    uint64_t trace;
    size_t partitions;      /* partitions started */
    size_t welcomes;        /* Hellos the origin answered, over all edges */
    size_t resumes_behind;  /* answered RESUME from the edge's applied seq + 1, with
                               entries to replay from the log */
    size_t snapshots_later; /* answered SNAPSHOT on a reconnect (not the edge's first link) */
    size_t log_reads;       /* READ_LOG: catch-up from below the in-memory tail */
    size_t edge_ok;
} sim_result_t;

/* The origin's in-memory tail holds ~16 mutations (each costs 64 bytes of
 * overhead plus a short key and value, repl_mutation_cost), a quarter of
 * log_retention_max (64): an edge that missed 16..64 entries resumes with
 * READ_LOGs from storage, one that missed fewer from memory, one that missed
 * more takes a snapshot. All three happen in sim_random. */
#define SIM_TAIL_BYTES 1200

static void random_write(tk_world_t *w, uint64_t token, char (*keys)[8], char *val)
{
    repl_op_t ops[3];
    size_t n = 1 + tk_rand(w) % 3;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = tk_rand(w) % 20;
        const char *k = r == 0 ? "failkey" : keys[tk_rand(w) % 12];
        ops[i] = r < 3 ? tk_del(k) : tk_put(k, val);
    }
    uint64_t who = tk_rand(w) % 6;
    if (who == 5)
        tk_origin_write(w, token, ops, n);
    else
        tk_edge_write(w, who, token, ops, n);
}

static sim_result_t sim_random(uint64_t seed, size_t act_cap)
{
    tk_world_t w;
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    tk_origin_config(&oc);
    oc.tail_max_bytes = SIM_TAIL_BYTES;
    tk_edge_config(&ec, 101);
    tk_world_init(&w, &oc, &ec, 5, seed);
    tk_world_start(&w);
    w.act_cap = act_cap;
    char keys[12][8];
    for (int i = 0; i < 12; i++)
        snprintf(keys[i], sizeof keys[i], "key%d", i);
    char vals[1500][12];
    size_t partitions = 0;
    tk_run_until(&w, 2000);
    for (int round = 0; round < 1500; round++) {
        uint64_t r = tk_rand(&w) % 100;
        snprintf(vals[round], sizeof vals[round], "v%d", round);
        if (r < 45) {
            random_write(&w, (uint64_t)round, keys, vals[round]);
        } else if (r < 50) {
            size_t i = tk_rand(&w) % 5;
            partitions += !w.edges[i].partitioned;
            tk_partition(&w, i, !w.edges[i].partitioned);
        } else if (r < 70) {
            tk_run_until(&w, w.now + tk_rand(&w) % 120);
        } else {
            for (uint64_t k = tk_rand(&w) % 25; k > 0 && tk_step(&w); k--)
                ;
        }
    }
    for (size_t i = 0; i < 5; i++)
        tk_partition(&w, i, false);
    tk_run_until(&w, w.now + 30000);
    assert_converged(&w);
    sim_result_t res = {
        .trace = w.trace, .partitions = partitions, .log_reads = w.origin.log_reads};
    size_t snapshots = 0;
    for (size_t i = 0; i < 5; i++) {
        const tk_edge_t *e = &w.edges[i];
        for (size_t k = 0; k < e->ndone; k++)
            res.edge_ok += e->done[k].status == 0;
        /* One history: every Hello is answered by a resume or a snapshot,
         * and each edge's first one (empty replica) by a snapshot. */
        assert_int_equal(e->refusals, 0);
        assert_int_equal(e->welcomes, e->resumes + e->snapshots);
        assert_int_equal(e->snapshots, e->snapshots_later + 1);
        res.welcomes += e->welcomes;
        res.resumes_behind += e->resumes_behind;
        res.snapshots_later += e->snapshots_later;
        snapshots += e->snapshots;
    }
    /* The Welcomes on the wire agree with the SNAPSHOT actions the core asked for. */
    assert_int_equal(snapshots, w.origin.snapshots);
    assert_true(w.ryw_checked == res.edge_ok);
    tk_world_free(&w);
    return res;
}

/*
 * What sim_random must exercise, and how much of it to expect. Per seed:
 * 1500 rounds, 5 % of them toggle a random edge's partition: ~75 toggles,
 * about half of which start a partition (~37 per seed, ~750 over 20 seeds).
 * A partition of a live link ends with a reconnect, so nearly every one
 * adds a Welcome to the 5 initial snapshots. An edge stays cut off until a
 * toggle picks it again: 0.05 * 1/5 per round, so a geometric length of
 * mean 100 rounds, during which ~45 rounds write 1-3 ops (mean 2), one
 * sequence number each, minus the writes of cut-off edges that fail: ~0.75
 * seqs per round. Trimming keeps at most log_retention_max = 64 entries
 * behind the slowest edge, so the edge resumes when it missed fewer than 64
 * (~85 rounds: P = 1 - e^-0.85 ~ 0.57) and takes a snapshot otherwise (~0.43).
 * Expected over 20 seeds: ~430 resumes with entries to replay and ~320 later
 * snapshots (the runs give 450 and 194 of 792 partitions: some partitions
 * start while the edge is already cut off or backing off).
 * The bounds below are a quarter (resumes) and an eighth (snapshots) of the
 * partitions started: far under the expectation, far over what a core that
 * never resumes (0 resumes), never trims (0 later snapshots) or never reads
 * the log from storage (0 READ_LOGs) produces; and each seed on its own must
 * see all three.
 */
static void test_sim_random_faults_converge(void **state)
{
    (void)state;
    sim_result_t sum = {0};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sim_result_t a = sim_random(seed, TK_ACTS_MAX);
        sim_result_t b = sim_random(seed, TK_ACTS_MAX);
        assert_int_equal(a.trace, b.trace); /* deterministic per seed */
        if (a.resumes_behind == 0 || a.snapshots_later == 0 || a.log_reads == 0)
            fail_msg("seed %lu: %zu resumes with entries to replay, %zu snapshots after the "
                     "first link, %zu log reads",
                     (unsigned long)seed, a.resumes_behind, a.snapshots_later, a.log_reads);
        /* Reconnects: the initial 5 plus at least one per two partitions. */
        assert_true(a.welcomes >= 5 + a.partitions / 2);
        sum.partitions += a.partitions;
        sum.welcomes += a.welcomes;
        sum.resumes_behind += a.resumes_behind;
        sum.snapshots_later += a.snapshots_later;
        sum.log_reads += a.log_reads;
        sum.edge_ok += a.edge_ok;
    }
    print_message("20 seeds: %zu partitions, %zu welcomes, %zu resumes with entries to replay, "
                  "%zu snapshots after the first link, %zu log reads, %zu edge writes acked\n",
                  sum.partitions, sum.welcomes, sum.resumes_behind, sum.snapshots_later,
                  sum.log_reads, sum.edge_ok);
    assert_true(sum.partitions >= 20 * 25);
    assert_true(sum.resumes_behind >= sum.partitions / 4);
    assert_true(sum.snapshots_later >= sum.partitions / 8);
    assert_true(sum.edge_ok > 20 * 50);
}

static void test_sim_random_with_one_action_slot(void **state)
{
    (void)state;
    sim_result_t a = sim_random(42, 1);
    sim_result_t b = sim_random(42, 1);
    assert_int_equal(a.trace, b.trace);
    assert_true(a.edge_ok > 10);
    /* Every way back also works through a one-slot action array. */
    assert_true(a.resumes_behind > 0 && a.snapshots_later > 0 && a.log_reads > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_basic),
        cmocka_unit_test(test_sim_lww_ties_by_node_id_not_value),
        cmocka_unit_test(test_sim_resume_vs_snapshot),
        cmocka_unit_test(test_sim_origin_lost_tail_reused_seqs),
        cmocka_unit_test(test_sim_history_change_refused),
        cmocka_unit_test(test_sim_staleness_and_heartbeats),
        cmocka_unit_test(test_sim_persist_failure),
        cmocka_unit_test(test_sim_replayed_stream),
        cmocka_unit_test(test_sim_replayed_batches_twice),
        cmocka_unit_test(test_sim_log_in_any_order),
        cmocka_unit_test(test_sim_random_faults_converge),
        cmocka_unit_test(test_sim_random_with_one_action_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
