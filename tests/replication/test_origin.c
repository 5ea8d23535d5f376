/*
 * test_origin.c - unit tests of the origin state machine, driven by hand:
 * frames an edge would send go in as bytes, and the actions that come out
 * (decoded frames included) are checked one by one at exact virtual times.
 * test_deadline_cache_matches_scan reaches into origin_int.h to recompute
 * the deadline by brute force.
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
#include "origin_int.h"
#include "repl_testkit.h"
#include "wire.h"

typedef struct {
    repl_origin_t *o;
    tk_acts_t t;
    uint64_t hello_probe_ms;    /* the probe the next Hello carries (0: none) */
    uint32_t hello_protocol;    /* the protocol field of the next Hello (0: absent) */
    const char *hello_software; /* the software field of the next Hello (NULL: absent) */
} fx_t;

static void fx_init(fx_t *x, const repl_origin_config_t *c)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(repl_origin_create(c, &x->o), 0);
    tk_acts_reset(&x->t, TK_ACTS_MAX);
}

/* Before each call: release the previous call's actions. */
static repl_actions_t *fx_a(fx_t *x)
{
    tk_acts_reset(&x->t, TK_ACTS_MAX);
    return &x->t.a;
}

static void fx_free(fx_t *x)
{
    repl_origin_destroy(x->o);
}

static void cfg_at(repl_origin_config_t *c, uint64_t last_seq, uint64_t log_first_seq)
{
    tk_origin_config(c);
    c->last_seq = last_seq;
    c->log_first_seq = log_first_seq;
}

static void fx_frame(fx_t *x, repl_peer_t p, const Edgekv__Frame *f, uint64_t now)
{
    size_t len;
    uint8_t *b = tk_frame_bytes(f, &len);
    repl_origin_on_bytes(x->o, p, b, len, now, fx_a(x));
    free(b);
}

/* The version these tests' log holds at seq when the in-memory tail does
 * not: what a log read answers. */
static kv_version_t fx_log_version(uint64_t seq)
{
    return (kv_version_t){(seq + 1) << 16, 1};
}

/* The version of the origin's entry at seq, as an edge that followed it
 * would claim: the tail's when held, else fx_log_version. */
static kv_version_t fx_entry_version(fx_t *x, uint64_t seq)
{
    const otail_t *t = repl__tail_at(x->o, seq);
    return t ? t->m.version : fx_log_version(seq);
}

/* Connect p as certificate `name` and say Hello claiming version v at
 * applied (no version when zero). */
static void fx_hello_v(fx_t *x, repl_peer_t p, const char *name, const char *hist, uint64_t applied,
                       kv_version_t v, uint32_t node, uint64_t now)
{
    repl_origin_on_connect(x->o, p, name, now, fx_a(x));
    assert_int_equal(x->t.a.n, 0);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    Edgekv__Version pv = EDGEKV__VERSION__INIT;
    h.history_id = (char *)hist;
    h.applied_seq = applied;
    h.node_id = node;
    if (!kv_version_is_zero(v)) {
        pv.hlc = v.hlc;
        pv.node_id = v.node_id;
        h.applied_version = &pv;
    }
    Edgekv__Probe probe = EDGEKV__PROBE__INIT;
    if (x->hello_probe_ms) {
        probe.sent_ms = x->hello_probe_ms;
        h.probe = &probe;
    }
    h.protocol = x->hello_protocol;
    h.software = (char *)x->hello_software;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    fx_frame(x, p, &f, now);
}

/* Answer the READ_LOG of the resume proof (the entry at `seq`, version v)
 * if the last call asked for it: that READ_LOG is replaced by the answer's
 * actions (the call's others, a CLOSE of a replaced link, stay; it sent
 * nothing, so no SEND buffer is at stake). */
static void fx_answer_proof(fx_t *x, repl_peer_t p, uint64_t seq, kv_version_t v, uint64_t now)
{
    int i = tk_acts_find(&x->t, REPL_ACT_READ_LOG, 0);
    if (i < 0 || x->t.buf[i].u.read_log.peer != p || x->t.buf[i].u.read_log.from_seq != seq ||
        tk_acts_count(&x->t, REPL_ACT_SEND) != 0)
        return;
    memmove(&x->t.buf[i], &x->t.buf[i + 1], (x->t.a.n - (size_t)i - 1) * sizeof x->t.buf[0]);
    x->t.a.n--;
    repl_mutation_t m = {.seq = seq, .version = v, .op = tk_put("k", "v")};
    repl_origin_log_read(x->o, p, 0, &m, 1, now, &x->t.a);
}

/* Connect p as certificate `name` and say Hello as an edge that followed
 * this origin's history up to applied (its proof answered from the log when
 * the origin reads it): the last call's actions are the origin's answer. */
static void fx_hello_as(fx_t *x, repl_peer_t p, const char *name, const char *hist,
                        uint64_t applied, uint32_t node, uint64_t now)
{
    kv_version_t v = applied ? fx_entry_version(x, applied) : KV_VERSION_ZERO;
    fx_hello_v(x, p, name, hist, applied, v, node, now);
    fx_answer_proof(x, p, applied, v, now);
}

/* The same, with the certificate name of node `node` ("edge<node>"). */
static void fx_hello(fx_t *x, repl_peer_t p, const char *hist, uint64_t applied, uint32_t node,
                     uint64_t now)
{
    char name[32];
    snprintf(name, sizeof name, "edge%u", node);
    fx_hello_as(x, p, name, hist, applied, node, now);
}

/* An ack carrying a probe of probe_ms (0: none). */
static void fx_ack_probe(fx_t *x, repl_peer_t p, uint64_t seq, uint64_t probe_ms, uint64_t now)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__ProgressAck ack = EDGEKV__PROGRESS_ACK__INIT;
    Edgekv__Probe probe = EDGEKV__PROBE__INIT;
    ack.applied_seq = seq;
    if (probe_ms) {
        probe.sent_ms = probe_ms;
        ack.probe = &probe;
    }
    f.msg_case = EDGEKV__FRAME__MSG_ACK;
    f.ack = &ack;
    fx_frame(x, p, &f, now);
}

static void fx_ack(fx_t *x, repl_peer_t p, uint64_t seq, uint64_t now)
{
    fx_ack_probe(x, p, seq, 0, now);
}

static void fx_write_req(fx_t *x, repl_peer_t p, uint64_t id, uint64_t hint, const repl_op_t *ops,
                         size_t n, uint64_t now)
{
    Edgekv__Op pbs[8], *ptrs[8];
    for (size_t i = 0; i < n; i++) {
        repl_wire_op_view(&ops[i], &pbs[i]);
        ptrs[i] = &pbs[i];
    }
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    r.request_id = id;
    r.hlc_hint = hint;
    r.n_ops = n;
    r.ops = ptrs;
    if (n > 0 && ops[0].auth_id)
        r.token_id = (char *)ops[0].auth_id; /* as an edge names it */
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    fx_frame(x, p, &f, now);
}

/* The single action of `kind` in the last call's actions. */
static const repl_action_t *fx_one(fx_t *x, repl_act_kind_t kind)
{
    assert_int_equal(tk_acts_count(&x->t, kind), 1);
    return &x->t.buf[tk_acts_find(&x->t, kind, 0)];
}

/* Commit the PERSIST of the last call with all-zero results. */
static void fx_persist_ok(fx_t *x, uint64_t now)
{
    const repl_action_t *p = fx_one(x, REPL_ACT_PERSIST);
    uint64_t id = p->u.persist.batch_id;
    repl_origin_persisted(x->o, id, 0, NULL, now, fx_a(x));
}

/* The origin's committed seq and count of committed writes. */
static void fx_check_committed(fx_t *x, uint64_t last_seq, uint64_t writes)
{
    repl_origin_stats_t st;
    repl_origin_stats(x->o, &st);
    assert_int_equal(st.last_seq, last_seq);
    assert_int_equal(st.writes_committed, writes);
}

static void test_fresh_edge_gets_snapshot(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, "", 0, 101, 1000);
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_int_equal(f->welcome->mode, EDGEKV__WELCOME__MODE__SNAPSHOT);
    assert_int_equal(f->welcome->origin_seq, 10);
    assert_string_equal(f->welcome->history_id, TK_HIST_A);
    frame_free(f);
    /* SEND (welcome) comes before SNAPSHOT: the driver writes it first. */
    assert_true(tk_acts_find(&x.t, REPL_ACT_SEND, 0) < tk_acts_find(&x.t, REPL_ACT_SNAPSHOT, 0));
    assert_int_equal(fx_one(&x, REPL_ACT_SNAPSHOT)->u.snapshot.peer, 1);
    repl_edge_info_t info;
    assert_int_equal(repl_origin_edges(x.o, 1000, &info, 1), 1);
    assert_true(info.snapshotting);
    /* Snapshot done at 10: the edge is live; a commit reaches it. */
    repl_origin_snapshot_sent(x.o, 1, 0, 10, 1001, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(x.o, 7, &op, 1, 1002, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_PERSIST)->u.persist.muts[0].seq, 11);
    fx_persist_ok(&x, 1003);
    f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_BATCH);
    assert_int_equal(f->batch->n_mutations, 1);
    assert_int_equal(f->batch->mutations[0]->seq, 11);
    assert_int_equal(f->batch->origin_seq, 11);
    assert_int_equal(f->batch->origin_time_ms, 1003);
    frame_free(f);
    fx_free(&x);
}

static void check_welcome(fx_t *x, Edgekv__Welcome__Mode mode, uint64_t from)
{
    Edgekv__Frame *f = tk_acts_frame(&x->t, 0);
    assert_non_null(f);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_int_equal(f->welcome->mode, mode);
    if (mode == EDGEKV__WELCOME__MODE__RESUME)
        assert_int_equal(f->welcome->from_seq, from);
    frame_free(f);
}

static void test_resume_or_snapshot_by_window(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 5); /* log holds 5..10 */
    fx_t x;
    fx_init(&x, &c);
    /* applied 5: its entry (the resume proof) is in the log: resume, read
     * what follows. */
    fx_hello(&x, 1, TK_HIST_A, 5, 101, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 6);
    const repl_action_t *r = fx_one(&x, REPL_ACT_READ_LOG);
    assert_int_equal(r->u.read_log.from_seq, 6);
    assert_int_equal(r->u.read_log.max_bytes, KV_REPL_BATCH_MAX_BYTES);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SNAPSHOT), 0);
    /* applied 4: entry 4 is trimmed, nothing proves the position: snapshot. */
    fx_hello(&x, 2, TK_HIST_A, 4, 102, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__SNAPSHOT, 0);
    fx_one(&x, REPL_ACT_SNAPSHOT);
    /* applied 10: caught up; nothing to read. */
    fx_hello(&x, 3, TK_HIST_A, 10, 103, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 11);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_READ_LOG), 0);
    /* The read for edge 1 comes back: one batch 6..10. */
    repl_mutation_t muts[5];
    for (int i = 0; i < 5; i++)
        muts[i] = (repl_mutation_t){.seq = 6 + i, .version = {100 + i, 1}, .op = tk_put("k", "v")};
    repl_origin_log_read(x.o, 1, 0, muts, 5, 1001, fx_a(&x));
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->batch->n_mutations, 5);
    assert_int_equal(f->batch->mutations[0]->seq, 6);
    assert_int_equal(f->batch->mutations[4]->seq, 10);
    frame_free(f);
    fx_free(&x);
}

static void test_history_mismatch_refused(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_B, 3, 101, 1000);
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_string_equal(f->welcome->history_id, TK_HIST_A); /* ours: the edge refuses */
    frame_free(f);
    assert_int_equal(x.t.a.n, 1); /* no snapshot, no read: never rewind it */
    /* Refused links get nothing when the log grows. */
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(x.o, 1, &op, 1, 1001, fx_a(&x));
    fx_persist_ok(&x, 1002);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 0);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_WRITE_DONE), 1);
    assert_int_equal(repl_origin_deadline(x.o), UINT64_MAX); /* no heartbeats either */
    fx_free(&x);
}

/* Build names (repl.h, KV_REPL_SOFTWARE_MAX): the origin sends its own in
 * every Welcome and keeps each edge's, with its protocol, from its last
 * Hello, so an operator sees which edge runs which build during a rolling
 * upgrade. A hostile name is cut, and carries no control byte, quote or
 * brace into a log line, /status or a /metrics label. */
static void test_software_names(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.software = "0.1.0";
    fx_t x;
    fx_init(&x, &c);
    x.hello_software = "0.1.1";
    x.hello_protocol = 2;
    fx_hello(&x, 1, "", 0, 101, 1000);
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_string_equal(f->welcome->software, "0.1.0");
    frame_free(f);
    x.hello_software = NULL; /* a build from before the field */
    x.hello_protocol = 0;
    fx_hello(&x, 2, "", 0, 102, 1001);
    x.hello_software = "0.2\n\x01{evil}\"=1 0.2.0-a-very-long-build-name-cut-off-here";
    fx_hello(&x, 3, "", 0, 103, 1002);
    repl_edge_info_t info[3];
    assert_int_equal(repl_origin_edges(x.o, 1003, info, 3), 3);
    assert_string_equal(info[0].software, "0.1.1");
    assert_int_equal(info[0].protocol, 2);
    assert_string_equal(info[1].software, "");
    assert_int_equal(info[1].protocol, 1);
    assert_int_equal(strlen(info[2].software), KV_REPL_SOFTWARE_MAX);
    assert_string_equal(info[2].software, "0.2???evil???1?0.2.0-a-very-long");
    fx_free(&x);
}

/* Protocol versions (repl.h): an edge below the origin's minimum is told
 * why and closed with an ALARM; one at or above it is served, a newer one
 * too (it talks down); protocol 1 never appears on the wire. */
static void test_protocol_window(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.protocol = 3;
    c.protocol_min = 2;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, "", 0, 101, 1000); /* field absent: protocol 1 */
    Edgekv__Frame *f = tk_send_frame(&x.t.buf[tk_acts_find(&x.t, REPL_ACT_SEND, 0)]);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_REFUSE);
    assert_non_null(strstr(f->refuse->reason, "upgrade the edge"));
    frame_free(f);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_ALARM), 1);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_CLOSE), 1);
    assert_int_equal(repl_origin_edges(x.o, 1000, NULL, 0), 0); /* never attached */
    for (uint32_t v = 2; v <= 9; v += 7) { /* at the minimum, and newer than the origin */
        x.hello_protocol = v;
        fx_hello(&x, 1 + v, "", 0, 100 + v, 1001);
        assert_int_equal(tk_acts_count(&x.t, REPL_ACT_ALARM), 0);
        f = tk_acts_frame(&x.t, 0);
        assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
        assert_int_equal(f->welcome->protocol, 3);
        frame_free(f);
    }
    fx_free(&x);
    /* Defaults: protocol 1, sent as an absent field. */
    cfg_at(&c, 10, 1);
    fx_init(&x, &c);
    x.hello_protocol = 0;
    fx_hello(&x, 1, "", 0, 101, 1000);
    f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->welcome->protocol, 0);
    frame_free(f);
    fx_free(&x);
    /* An empty window is a configuration error. */
    cfg_at(&c, 10, 1);
    c.protocol = 2;
    c.protocol_min = 3;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), KV_ECONFIG);
}

/* An origin restored from a backup of history B (its parent) sends an edge
 * still on B a snapshot, naming B in the Welcome; an edge of any other
 * history is still told only the origin's history (and refuses). */
static void test_restored_origin_snapshots_parent_edges(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    memcpy(c.parent_history, TK_HIST_B, sizeof c.parent_history);
    fx_t x;
    fx_init(&x, &c);
    fx_hello_v(&x, 1, "edge101", TK_HIST_B, 40, (kv_version_t){999, 1}, 101, 1000);
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->welcome->mode, EDGEKV__WELCOME__MODE__SNAPSHOT);
    assert_true(f->welcome->diverged); /* ahead of this log: replaced whole */
    assert_string_equal(f->welcome->history_id, TK_HIST_A);
    assert_string_equal(f->welcome->parent_history, TK_HIST_B);
    frame_free(f);
    fx_hello(&x, 2, "cccccccccccccccccccccccccccccccc", 3, 102, 1001);
    f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->welcome->mode, EDGEKV__WELCOME__MODE__RESUME);
    assert_int_equal(x.t.a.n, 1); /* our history only: it refuses */
    frame_free(f);
    fx_free(&x);
    /* A parent equal to the history itself, or not 32 digits: refused. */
    memcpy(c.parent_history, TK_HIST_A, sizeof c.parent_history);
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), KV_ECONFIG);
    snprintf(c.parent_history, sizeof c.parent_history, "abc");
    assert_int_equal(repl_origin_create(&c, &o), KV_ECONFIG);
}

static void test_group_commit(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.group_max_ops = 4;
    fx_t x;
    fx_init(&x, &c);
    repl_op_t ops[3] = {tk_put("a", "1"), tk_put("b", "2"), tk_del("c")};
    repl_origin_write(x.o, 1, ops, 1, 1000, fx_a(&x));
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 1);
    assert_int_equal(p->u.persist.muts[0].seq, 11);
    const repl_mutation_t *first = p->u.persist.muts; /* valid until persisted */
    uint64_t b1 = p->u.persist.batch_id;
    kv_version_t v1 = p->u.persist.muts[0].version;
    assert_int_equal(v1.node_id, 1);
    assert_int_equal(hlc_ms(v1.hlc), 1000);
    /* Two more writes while the first is in flight: no second PERSIST. */
    repl_origin_write(x.o, 2, ops, 2, 1000, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_write(x.o, 3, ops, 3, 1001, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    assert_int_equal(first[0].seq, 11);
    assert_memory_equal(first[0].op.key, "a", 1);
    repl_origin_persisted(x.o, b1, 0, NULL, 1002, fx_a(&x));
    const repl_action_t *d = fx_one(&x, REPL_ACT_WRITE_DONE);
    assert_int_equal(d->u.write_done.token, 1);
    assert_int_equal(d->u.write_done.status, 0);
    assert_int_equal(d->u.write_done.seq, 11);
    assert_int_equal(d->u.write_done.n, 1);
    /* Next group: write 2 (2 ops); write 3 would pass group_max_ops. */
    p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 2);
    assert_int_equal(p->u.persist.muts[0].seq, 12);
    assert_int_equal(p->u.persist.muts[1].seq, 13);
    assert_true(kv_version_cmp(p->u.persist.muts[0].version, v1) > 0);
    assert_true(kv_version_cmp(p->u.persist.muts[1].version, p->u.persist.muts[0].version) > 0);
    fx_persist_ok(&x, 1003);
    d = fx_one(&x, REPL_ACT_WRITE_DONE);
    assert_int_equal(d->u.write_done.token, 2);
    assert_int_equal(d->u.write_done.seq, 13);
    p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 3);
    assert_int_equal(p->u.persist.muts[2].seq, 16);
    fx_persist_ok(&x, 1004);
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.seq, 16);
    fx_check_committed(&x, 16, 6);
    fx_free(&x);
}

/* The clock restarts past the highest version stored (hlc_last), however
 * far behind the wall clock is now: a write after a restart with a clock
 * that went back still wins over everything stored before it. */
static void test_clock_behind_stored_versions(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    uint64_t wall = 1000, stored = hlc_pack(wall + 3600 * 1000, 7);
    c.hlc_last = stored;
    fx_t x;
    fx_init(&x, &c);
    repl_op_t op = tk_put("a", "1");
    repl_origin_write(x.o, 1, &op, 1, wall, fx_a(&x));
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_true(p->u.persist.muts[0].version.hlc > stored);
    uint64_t b = p->u.persist.batch_id;
    repl_origin_persisted(x.o, b, 0, NULL, wall + 1, fx_a(&x));
    repl_origin_write(x.o, 2, &op, 1, wall + 2, fx_a(&x));
    p = fx_one(&x, REPL_ACT_PERSIST);
    assert_true(p->u.persist.muts[0].version.hlc > stored + 1);
    fx_free(&x);
}

static void test_failed_op_becomes_noop(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_op_t ops[2] = {tk_put("a", "1"), tk_put("b", "2")};
    repl_origin_write(x.o, 5, ops, 2, 1000, fx_a(&x));
    uint64_t id = fx_one(&x, REPL_ACT_PERSIST)->u.persist.batch_id;
    int results[2] = {0, KV_EEXISTS};
    repl_origin_persisted(x.o, id, 0, results, 1001, fx_a(&x));
    const repl_action_t *d = fx_one(&x, REPL_ACT_WRITE_DONE);
    assert_int_equal(d->u.write_done.status, 0);
    assert_int_equal(d->u.write_done.seq, 12);
    assert_int_equal(d->u.write_done.n, 2);
    assert_int_equal(d->u.write_done.results[0], 0);
    assert_int_equal(d->u.write_done.results[1], KV_EEXISTS);
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->batch->n_mutations, 2);
    assert_int_equal(f->batch->mutations[1]->seq, 12);
    assert_int_equal(f->batch->mutations[1]->op->kind, EDGEKV__OP__KIND__NOOP);
    assert_int_equal(f->batch->mutations[1]->op->key.len, 0);
    frame_free(f);
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.writes_committed, 1);
    fx_free(&x);
}

/* A group's mutations are encoded once, when the group is made: PERSIST
 * carries each one's encoding (the log entry), and the tail keeps it for
 * the batch frames, which copy it in (the same bytes protobuf-c packs).
 * The tail does not need the write's payload once the write is answered:
 * an edge that links afterwards is sent the batch from the encodings. */
static void test_group_encoded_once(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    char key[3][8] = {"k1", "k2", "k3"}, val[2][8] = {"v1", "v2"};
    repl_op_t ops[3] = {tk_put(key[0], val[0]), tk_put(key[1], val[1]), tk_del(key[2])};
    ops[0].metadata = "{\"m\":1}";
    ops[0].metadata_len = strlen(ops[0].metadata);
    ops[1].expiration = 1900000000;
    repl_origin_write(x.o, 7, ops, 3, 1000, fx_a(&x));
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 3);
    for (size_t i = 0; i < 3; i++) {
        repl_mutation_t m = p->u.persist.muts[i];
        assert_non_null(m.enc);
        m.enc = NULL;
        uint8_t buf[256];
        size_t len = 0;
        assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
        assert_int_equal(p->u.persist.muts[i].enc_len, len);
        assert_memory_equal(p->u.persist.muts[i].enc, buf, len);
    }
    /* The caller's buffers are the write's own business once it was
     * submitted (the core copied them). */
    memset(key, 'x', sizeof key);
    memset(val, 'y', sizeof val);
    fx_persist_ok(&x, 1001);
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.seq, 13);
    /* The batch the linked edge got: canonical bytes, the writes' content. */
    const repl_action_t *send = fx_one(&x, REPL_ACT_SEND);
    Edgekv__Frame *f = tk_send_frame(send);
    size_t len = 0;
    uint8_t *packed = tk_frame_bytes(f, &len);
    assert_int_equal(len, send->u.send.len);
    assert_memory_equal(packed, send->u.send.data, len);
    free(packed);
    frame_free(f);
    /* Answered: the write and its payload are gone. A second edge is
     * served from the tail's encodings. */
    fx_hello(&x, 2, TK_HIST_A, 10, 102, 1002);
    f = tk_acts_frame(&x.t, 1);
    assert_non_null(f);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_BATCH);
    assert_int_equal(f->batch->n_mutations, 3);
    const char *want_key[3] = {"k1", "k2", "k3"};
    for (size_t i = 0; i < 3; i++) {
        Edgekv__Mutation *m = f->batch->mutations[i];
        assert_int_equal(m->seq, 11 + i);
        assert_int_equal(m->op->key.len, 2);
        assert_memory_equal(m->op->key.data, want_key[i], 2);
    }
    assert_int_equal(f->batch->mutations[0]->op->value.len, 2);
    assert_memory_equal(f->batch->mutations[0]->op->value.data, "v1", 2);
    assert_memory_equal(f->batch->mutations[0]->op->metadata.data, "{\"m\":1}", 7);
    assert_int_equal(f->batch->mutations[1]->op->expiration, 1900000000);
    assert_int_equal(f->batch->mutations[2]->op->kind, EDGEKV__OP__KIND__DELETE);
    frame_free(f);
    fx_free(&x);
}

static void test_remote_write_clock_hint(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.max_clock_offset_ms = 500;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_op_t op = tk_put("k", "v");
    /* 501 ms ahead: refused, nothing written, the clock untouched. */
    fx_write_req(&x, 1, 77, hlc_pack(1501, 0), &op, 1, 1000);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WRITE_RESULT);
    assert_int_equal(f->write_result->request_id, 77);
    assert_int_equal(f->write_result->status, KV_ECLOCK);
    frame_free(f);
    /* 500 ms ahead: accepted, stamped after the hint. */
    uint64_t hint = hlc_pack(1500, 3);
    fx_write_req(&x, 1, 78, hint, &op, 1, 1000);
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_true(p->u.persist.muts[0].version.hlc > hint);
    assert_int_equal(p->u.persist.muts[0].seq, 11);
    fx_persist_ok(&x, 1001);
    /* The batch and the result go to the writer's link. */
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 2);
    f = tk_acts_frame(&x.t, 1);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WRITE_RESULT);
    assert_int_equal(f->write_result->status, 0);
    assert_int_equal(f->write_result->seq, 11);
    frame_free(f);
    /* A bad op from an edge is refused, not committed. */
    repl_op_t bad = tk_put("k", "v");
    bad.ns_id[3] = 'Z';
    fx_write_req(&x, 1, 79, 0, &bad, 1, 1002);
    f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->write_result->status, KV_EINVAL);
    frame_free(f);
    fx_free(&x);
}

/* The ops of a forwarded write reach PERSIST with the token id the edge
 * named ("" when none) and the write's first op marked, for the judge's
 * re-check (node/replica/judge.h); the origin's own writes carry none,
 * whatever the caller set. */
static void test_forwarded_writes_name_their_token(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_op_t local = tk_put("l", "v");
    local.auth_id = "ignored";
    repl_origin_write(x.o, 1, &local, 1, 1000, fx_a(&x)); /* in flight: the rest group */
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_null(p->u.persist.muts[0].op.auth_id);
    uint64_t b1 = p->u.persist.batch_id;
    repl_op_t two[2] = {tk_put("a", "1"), tk_put("b", "2")};
    two[0].auth_id = two[1].auth_id = "tok-a";
    fx_write_req(&x, 1, 7, 0, two, 2, 1000);
    repl_op_t one = tk_put("c", "3");
    fx_write_req(&x, 1, 8, 0, &one, 1, 1000);
    repl_origin_persisted(x.o, b1, 0, NULL, 1001, fx_a(&x));
    p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 3);
    const repl_op_t *o = &p->u.persist.muts[0].op;
    assert_string_equal(o[0].auth_id, "tok-a");
    assert_true(o[0].request_head);
    assert_string_equal(p->u.persist.muts[1].op.auth_id, "tok-a");
    assert_false(p->u.persist.muts[1].op.request_head);
    assert_string_equal(p->u.persist.muts[2].op.auth_id, "");
    assert_true(p->u.persist.muts[2].op.request_head);
    fx_persist_ok(&x, 1002);
    fx_free(&x);
}

static void test_persist_failure_stops_writes(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(x.o, 1, &op, 1, 1000, fx_a(&x));
    uint64_t id = fx_one(&x, REPL_ACT_PERSIST)->u.persist.batch_id;
    repl_origin_write(x.o, 2, &op, 1, 1000, fx_a(&x));
    repl_origin_persisted(x.o, id, -EIO, NULL, 1001, fx_a(&x));
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_WRITE_DONE), 2);
    for (size_t i = 0; i < x.t.a.n; i++)
        if (x.t.buf[i].kind == REPL_ACT_WRITE_DONE)
            assert_int_equal(x.t.buf[i].u.write_done.status, -EIO);
    fx_one(&x, REPL_ACT_ALARM);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    repl_origin_write(x.o, 3, &op, 1, 1002, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, KV_EIO);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.failed, -EIO);
    assert_int_equal(st.last_seq, 10);
    fx_free(&x);
}

/* The status every WRITE_DONE of the last call carries; their count. */
static size_t fx_done_all(fx_t *x, int status)
{
    size_t n = 0;
    for (size_t i = 0; i < x->t.a.n; i++)
        if (x->t.buf[i].kind == REPL_ACT_WRITE_DONE) {
            assert_int_equal(x->t.buf[i].u.write_done.status, status);
            n++;
        }
    return n;
}

/* An origin at seq 10 whose groups hold up to 4 ops, two in flight. */
static void fx_init_groups(fx_t *x)
{
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.group_max_ops = 4;
    c.groups_in_flight = 2;
    fx_init(x, &c);
}

/* With two groups in flight the second is emitted at once, a third waits
 * for the first report; reports answer writers in order. */
static void test_groups_in_flight(void **state)
{
    (void)state;
    fx_t x;
    fx_init_groups(&x);
    repl_op_t ops[3] = {tk_put("a", "1"), tk_put("b", "2"), tk_del("c")};
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_origin_write(x.o, 1, ops, 1, 1000, fx_a(&x));
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    uint64_t b1 = p->u.persist.batch_id;
    assert_int_equal(p->u.persist.muts[0].seq, 11);
    repl_origin_write(x.o, 2, ops, 2, 1000, fx_a(&x));
    p = fx_one(&x, REPL_ACT_PERSIST); /* the second group, at once */
    uint64_t b2 = p->u.persist.batch_id;
    const repl_mutation_t *m2 = p->u.persist.muts;
    assert_int_not_equal(b1, b2);
    assert_int_equal(p->u.persist.n, 2);
    assert_int_equal(m2[0].seq, 12);
    repl_origin_write(x.o, 3, ops, 3, 1001, fx_a(&x));
    assert_int_equal(x.t.a.n, 0); /* two in flight: the third waits */
    repl_origin_persisted(x.o, b1, 0, NULL, 1002, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.token, 1);
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->batch->origin_seq, 11); /* only what is committed */
    frame_free(f);
    p = fx_one(&x, REPL_ACT_PERSIST);
    uint64_t b3 = p->u.persist.batch_id;
    assert_int_equal(p->u.persist.n, 3);
    assert_int_equal(p->u.persist.muts[0].seq, 14);
    assert_memory_equal(m2[1].op.key, "b", 1); /* still lent to the driver */
    repl_origin_persisted(x.o, b2, 0, NULL, 1003, fx_a(&x));
    const repl_action_t *d = fx_one(&x, REPL_ACT_WRITE_DONE);
    assert_int_equal(d->u.write_done.token, 2);
    assert_int_equal(d->u.write_done.seq, 13);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    repl_origin_persisted(x.o, b3, 0, NULL, 1004, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.seq, 16);
    fx_check_committed(&x, 16, 6);
    fx_free(&x);
}

/* Corked, writes are sequenced and queued but no group starts; uncork
 * starts one group of all of them (as many as group_max_ops allows, up to
 * groups_in_flight), answered in order as one. */
static void test_cork_groups_a_run_of_writes(void **state)
{
    (void)state;
    fx_t x;
    fx_init_groups(&x);
    repl_op_t ops[3] = {tk_put("a", "1"), tk_put("b", "2"), tk_del("c")};
    repl_origin_cork(x.o);
    repl_origin_write(x.o, 1, ops, 1, 1000, fx_a(&x));
    assert_int_equal(x.t.a.n, 0); /* corked: the first write waits too */
    repl_origin_write(x.o, 2, ops, 2, 1000, fx_a(&x));
    repl_origin_write(x.o, 3, ops, 3, 1000, fx_a(&x));
    repl_origin_write(x.o, 4, ops, 2, 1000, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_uncork(x.o, fx_a(&x));
    /* 1 + 2 ops fit the first group of 4; 3 ops the second; the fourth
     * write waits for a report (two in flight). */
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 2);
    const repl_action_t *p1 = &x.t.buf[0], *p2 = &x.t.buf[1];
    assert_int_equal(p1->kind, REPL_ACT_PERSIST);
    assert_int_equal(p1->u.persist.n, 3);
    assert_int_equal(p1->u.persist.muts[0].seq, 11);
    assert_int_equal(p2->u.persist.n, 3);
    assert_int_equal(p2->u.persist.muts[0].seq, 14);
    uint64_t b1 = p1->u.persist.batch_id, b2 = p2->u.persist.batch_id;
    repl_origin_persisted(x.o, b1, 0, NULL, 1001, fx_a(&x));
    assert_int_equal(fx_done_all(&x, 0), 2); /* writers 1 and 2, together */
    const repl_action_t *p = fx_one(&x, REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 2);
    assert_int_equal(p->u.persist.muts[0].seq, 17);
    uint64_t b3 = p->u.persist.batch_id;
    repl_origin_persisted(x.o, b2, 0, NULL, 1002, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.token, 3);
    /* Uncorked again: a write starts its group at once when there is room. */
    repl_origin_write(x.o, 5, ops, 1, 1003, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_PERSIST)->u.persist.muts[0].seq, 19);
    repl_origin_persisted(x.o, b3, 0, NULL, 1004, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.token, 4);
    fx_free(&x);
}

/* A failure with groups in flight answers every writer at once; the groups
 * behind it stay lent to the driver until reported, and a success reported
 * for them after the failure commits nothing. */
static void test_failure_with_groups_in_flight(void **state)
{
    (void)state;
    for (int newer_first = 0; newer_first <= 1; newer_first++) {
        repl_origin_config_t c;
        cfg_at(&c, 10, 1);
        c.group_max_ops = 1;
        c.groups_in_flight = 3;
        fx_t x;
        fx_init(&x, &c);
        fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
        repl_op_t op = tk_put("k", "v");
        uint64_t b[3];
        const repl_mutation_t *m[3];
        for (int i = 0; i < 3; i++) {
            repl_origin_write(x.o, (uint64_t)i + 1, &op, 1, 1000, fx_a(&x));
            b[i] = fx_one(&x, REPL_ACT_PERSIST)->u.persist.batch_id;
            m[i] = fx_one(&x, REPL_ACT_PERSIST)->u.persist.muts;
        }
        repl_origin_write(x.o, 4, &op, 1, 1000, fx_a(&x)); /* queued */
        /* newer_first: the driver could not hand the second group over
         * (out of memory) and says so before the first is reported. */
        repl_origin_persisted(x.o, b[newer_first], newer_first ? -ENOMEM : -EIO, NULL, 1001,
                              fx_a(&x));
        assert_int_equal(fx_done_all(&x, newer_first ? -ENOMEM : -EIO), 4);
        fx_one(&x, REPL_ACT_ALARM);
        assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 0);
        for (int i = 0; i < 3; i++)
            assert_memory_equal(m[i][0].op.key, "k", 1); /* still lent */
        for (int i = 0; i < 3; i++) {
            if (i == newer_first)
                continue;
            repl_origin_persisted(x.o, b[i], 0, NULL, 1002, fx_a(&x));
            assert_int_equal(x.t.a.n, 0); /* answered already, nothing sent */
        }
        repl_origin_write(x.o, 5, &op, 1, 1003, fx_a(&x));
        assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, KV_EIO);
        fx_check_committed(&x, 10, 0);
        fx_free(&x);
    }
}

/* Commit one write of one 200-byte value at time now. */
static void commit_one(fx_t *x, uint64_t now)
{
    static char value[201];
    memset(value, 'v', 200);
    repl_op_t op = tk_put("key", value);
    repl_origin_write(x->o, now, &op, 1, now, fx_a(x));
    fx_persist_ok(x, now);
}

static void test_flow_control_behind_and_catch_up(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.peer_buffer_max_bytes = 1000;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 0, 101, 1000);
    size_t unflushed = x.t.buf[0].u.send.len; /* the welcome */
    uint64_t now = 1000;
    size_t pushed = 0;
    for (int i = 0; i < 10; i++) {
        commit_one(&x, ++now);
        if (tk_acts_count(&x.t, REPL_ACT_SEND)) {
            unflushed += x.t.buf[tk_acts_find(&x.t, REPL_ACT_SEND, 0)].u.send.len;
            pushed++;
        }
    }
    /* Pushing stopped once 1000 bytes were unflushed: no unbounded queue. */
    assert_true(pushed >= 3 && pushed < 10);
    assert_true(unflushed >= 1000 && unflushed < 1000 + 400);
    repl_edge_info_t info;
    repl_origin_edges(x.o, now, &info, 1);
    assert_true(info.behind);
    assert_int_equal(info.sent_seq, pushed);
    /* Flushed to just above half: still behind. */
    repl_origin_on_flushed(x.o, 1, unflushed - 501, now, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    /* Below half: catch up from memory, in order, from where it stopped. */
    repl_origin_on_flushed(x.o, 1, 2, now, fx_a(&x));
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->batch->mutations[0]->seq, pushed + 1);
    frame_free(f);
    repl_origin_on_flushed(x.o, 1, 100000, now, fx_a(&x));
    repl_origin_on_flushed(x.o, 1, 100000, now, fx_a(&x));
    repl_origin_edges(x.o, now, &info, 1);
    assert_false(info.behind);
    assert_int_equal(info.sent_seq, 10);
    fx_free(&x);
}

/* An edge that stops reading: once its buffer is full it gets nothing more,
 * not even heartbeats (they would only grow its buffer), and a link that
 * flushes nothing for peer_stall_ms is closed; flushing anything restarts
 * that wait. Before: heartbeats went on into the full buffer and the link
 * was held for ever. */
static void test_non_reading_edge_closed_on_stall(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.peer_buffer_max_bytes = 1000;
    c.peer_stall_ms = 5000;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 0, 101, 1000);
    uint64_t now = 1000;
    repl_edge_info_t info;
    for (int i = 0; i < 10; i++)
        commit_one(&x, ++now);
    repl_origin_edges(x.o, now, &info, 1);
    assert_true(info.behind);
    /* Long past a heartbeat interval: no heartbeat, no close yet. */
    for (uint64_t t = now + 100; t < now + 4000; t += 100) {
        repl_origin_tick(x.o, t, fx_a(&x));
        assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 0);
        assert_int_equal(tk_acts_count(&x.t, REPL_ACT_CLOSE), 0);
    }
    /* Some bytes flushed (not down to half): the stall wait restarts. */
    now += 4000;
    repl_origin_on_flushed(x.o, 1, 10, now, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    assert_int_equal(repl_origin_deadline(x.o), now + 5000);
    repl_origin_tick(x.o, now + 4999, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_tick(x.o, now + 5000, fx_a(&x));
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason,
                        "edge not reading: nothing flushed while behind");
    repl_origin_edges(x.o, now, &info, 1);
    assert_false(info.connected);
    /* It comes back and resumes from the log where it stopped applying. */
    fx_hello(&x, 2, TK_HIST_A, 3, 101, now + 6000);
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->welcome->mode, EDGEKV__WELCOME__MODE__RESUME);
    assert_int_equal(f->welcome->from_seq, 4);
    frame_free(f);
    fx_free(&x);
}

/* What may still go to an edge past peer_buffer_max_bytes is bounded by the
 * slack: a frame that would take its unflushed bytes over max + slack
 * closes the link instead of being queued. */
static void test_send_buffer_hard_cap(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.peer_buffer_max_bytes = 1000;
    c.peer_buffer_slack_bytes = 2000;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 0, 101, 1000);
    fx_hello(&x, 2, TK_HIST_A, 0, 102, 1000);
    commit_one(&x, 1001); /* both get it: each has ~300 bytes unflushed */
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 2);
    repl_origin_on_flushed(x.o, 2, 100000, 1001, fx_a(&x));
    /* A single 2800-byte value: edge 2 (empty buffer) takes it, edge 1
     * would pass 3000 unflushed bytes. */
    static char big[2801];
    memset(big, 'b', 2800);
    repl_op_t op = tk_put("big", big);
    repl_origin_write(x.o, 1002, &op, 1, 1002, fx_a(&x));
    fx_persist_ok(&x, 1002);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 1);
    const repl_action_t *cl = fx_one(&x, REPL_ACT_CLOSE);
    assert_int_equal(cl->u.close.peer, 1);
    assert_string_equal(cl->u.close.reason, "edge not reading: send buffer over its limit");
    assert_int_equal(x.t.buf[tk_acts_find(&x.t, REPL_ACT_SEND, 0)].u.send.peer, 2);
    fx_free(&x);
}

/* Edge 1 linked at seq 0 while seqs 1..6 are committed with a send buffer
 * and an in-memory tail of about two mutations: its next batch comes from
 * the log. Returns the READ_LOG's from_seq. */
static uint64_t fx_tail_evicted(fx_t *x)
{
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.peer_buffer_max_bytes = 300;
    c.tail_max_bytes = 600; /* about two mutations */
    fx_init(x, &c);
    fx_hello(x, 1, TK_HIST_A, 0, 101, 1000);
    for (int i = 0; i < 6; i++)
        commit_one(x, 1001 + i);
    repl_origin_on_flushed(x->o, 1, 1u << 20, 1010, fx_a(x));
    uint64_t from = fx_one(x, REPL_ACT_READ_LOG)->u.read_log.from_seq;
    assert_true(from >= 2 && from <= 4);
    return from;
}

/* Log entries from..last as a store returns them; their count. */
static size_t log_entries(repl_mutation_t *muts, uint64_t from, uint64_t last)
{
    size_t n = 0;
    for (uint64_t s = from; s <= last; s++, n++)
        muts[n] = (repl_mutation_t){.seq = s, .version = {s, 1}, .op = tk_put("key", "v")};
    return n;
}

/* The first frame among x's actions is a batch of seqs first..last. */
static void expect_batch(fx_t *x, uint64_t first, uint64_t last)
{
    Edgekv__Frame *f = tk_acts_frame(&x->t, 0);
    assert_non_null(f);
    assert_int_equal(f->batch->mutations[0]->seq, first);
    assert_int_equal(f->batch->mutations[f->batch->n_mutations - 1]->seq, last);
    frame_free(f);
}

static void test_catch_up_reads_log_when_tail_evicted(void **state)
{
    (void)state;
    fx_t x;
    uint64_t from = fx_tail_evicted(&x);
    /* Entries come back; the batch continues the stream. */
    repl_mutation_t muts[6];
    size_t n = log_entries(muts, from, 6);
    repl_origin_log_read(x.o, 1, 0, muts, n, 1011, fx_a(&x));
    expect_batch(&x, from, 6);
    /* A read that skips entries (trimmed meanwhile) closes the link. */
    fx_hello(&x, 2, TK_HIST_A, 1, 102, 1012);
    assert_int_equal(fx_one(&x, REPL_ACT_READ_LOG)->u.read_log.from_seq, 2);
    repl_origin_log_read(x.o, 2, 0, muts + 1, n - 1, 1013, fx_a(&x));
    fx_one(&x, REPL_ACT_CLOSE);
    fx_free(&x);
}

/* A log read can return entries past the last committed seq: the store
 * holds a group the driver committed whose completion the core has not
 * seen yet (the read runs on another thread). They are not sent and the
 * link stays: the batch ends at the committed seq, and the group goes out
 * live once it is reported. */
static void test_log_read_past_committed_seq(void **state)
{
    (void)state;
    fx_t x;
    uint64_t from = fx_tail_evicted(&x);
    repl_mutation_t muts[8];
    size_t n = log_entries(muts, from, 8);
    repl_origin_log_read(x.o, 1, 0, muts, n, 1011, fx_a(&x));
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_CLOSE), 0);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_READ_LOG), 0); /* caught up */
    expect_batch(&x, from, 6);
    /* Seq 7 committed: it goes out from its group, after 6. */
    repl_origin_on_flushed(x.o, 1, 1u << 20, 1012, fx_a(&x));
    commit_one(&x, 1013);
    expect_batch(&x, 7, 7);
    fx_free(&x);
}

/* The heartbeat that comes due; it says origin_seq and echoes `echo`
 * (0: no echo). */
static void hb_expect(fx_t *x, uint64_t at, uint64_t origin_seq, uint64_t echo)
{
    assert_int_equal(repl_origin_deadline(x->o), at);
    repl_origin_tick(x->o, at - 1, fx_a(x));
    assert_int_equal(x->t.a.n, 0);
    repl_origin_tick(x->o, at, fx_a(x));
    Edgekv__Frame *f = tk_send_frame(fx_one(x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_HEARTBEAT);
    assert_int_equal(f->heartbeat->origin_seq, origin_seq);
    assert_int_equal(f->heartbeat->origin_time_ms, at);
    if (echo) {
        assert_non_null(f->heartbeat->echo);
        assert_int_equal(f->heartbeat->echo->sent_ms, echo);
    } else {
        assert_null(f->heartbeat->echo);
    }
    frame_free(f);
}

/* A heartbeat every interval, batches or not (a batch frame is shared by
 * every edge; the per-edge echo rides on heartbeats), echoing the edge's
 * latest probe: the Hello's, then each ack's. */
static void test_heartbeat_echoes_probes(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.heartbeat_interval_ms = 100;
    fx_t x;
    fx_init(&x, &c);
    x.hello_probe_ms = 777; /* the edge's own clock: any value */
    fx_hello_v(&x, 1, "edge1", TK_HIST_A, 10, fx_entry_version(&x, 10), 1, 1000);
    fx_answer_proof(&x, 1, 10, fx_entry_version(&x, 10), 1000);
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_non_null(f->welcome->echo);
    assert_int_equal(f->welcome->echo->sent_ms, 777);
    frame_free(f);
    hb_expect(&x, 1100, 10, 777);
    /* A batch at 1150 does not put the heartbeat off. */
    commit_one(&x, 1150);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 1);
    hb_expect(&x, 1200, 11, 777);
    fx_ack_probe(&x, 1, 11, 900, 1210);
    fx_ack_probe(&x, 1, 11, 850, 1220); /* older than the last: ignored */
    fx_ack(&x, 1, 11, 1230);            /* none: the last stays */
    assert_int_equal(x.t.a.n, 0);
    hb_expect(&x, 1300, 11, 900);
    /* An edge whose Hello carries no probe (built before probes) gets
     * no echo. */
    x.hello_probe_ms = 0;
    fx_hello(&x, 2, TK_HIST_A, 11, 2, 1300);
    f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_null(f->welcome->echo);
    frame_free(f);
    repl_origin_tick(x.o, 1400, fx_a(&x));
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 2);
    for (size_t i = 0; i < x.t.a.n; i++) {
        f = tk_send_frame(&x.t.a.acts[i]);
        assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_HEARTBEAT);
        if (x.t.a.acts[i].u.send.peer == 1)
            assert_int_equal(f->heartbeat->echo->sent_ms, 900);
        else
            assert_null(f->heartbeat->echo);
        frame_free(f);
    }
    fx_free(&x);
}

/* ---- clock steps (repl.h, "Clocks") ----------------------------------------------- */

#define MIN_MS (60u * 1000u)

static uint64_t persisted_hlc(fx_t *x)
{
    return fx_one(x, REPL_ACT_PERSIST)->u.persist.muts[0].version.hlc;
}

static int write_result_status(fx_t *x)
{
    Edgekv__Frame *f = tk_send_frame(fx_one(x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WRITE_RESULT);
    int status = f->write_result->status;
    frame_free(f);
    return status;
}

/* The origin's wall ran 10 minutes ahead, stamped versions there, then
 * stepped back (NTP). Edges echo those versions in their hints: every hint
 * up to what the origin's HLC issued is accepted whatever the wall says;
 * only one more than max_clock_offset_ms past both is refused. */
static void test_hint_accepted_after_wall_steps_back(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    int64_t skew = 10 * MIN_MS;
    c.wall_ctx = &skew;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(x.o, 1, &op, 1, 1000, fx_a(&x));
    uint64_t v1 = persisted_hlc(&x);
    assert_int_equal(hlc_ms(v1), 1000 + 10 * MIN_MS);
    fx_persist_ok(&x, 1001);
    skew = 0; /* the wall steps back by 10 minutes */
    /* What an edge that applied v1 sends (repl_edge_write: just past it). */
    fx_write_req(&x, 1, 2, v1 + 1, &op, 1, 1100);
    uint64_t v2 = persisted_hlc(&x);
    assert_true(v2 > v1 + 1);
    fx_persist_ok(&x, 1101);
    /* Up to the offset past the origin's clock: accepted ... */
    fx_write_req(&x, 1, 3, hlc_pack(hlc_ms(v2) + 500, 0), &op, 1, 1200);
    uint64_t v3 = persisted_hlc(&x);
    assert_true(v3 > hlc_pack(hlc_ms(v2) + 500, 0));
    fx_persist_ok(&x, 1201);
    /* ... beyond: refused, nothing written, the clock unchanged. */
    fx_write_req(&x, 1, 4, hlc_pack(hlc_ms(v3) + 501, 0), &op, 1, 1300);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    assert_int_equal(write_result_status(&x), KV_ECLOCK);
    /* The origin's own writes go on from its clock by the logical counter. */
    repl_origin_write(x.o, 5, &op, 1, 1400, fx_a(&x));
    uint64_t v5 = persisted_hlc(&x);
    assert_int_equal(v5, v3 + 1);
    fx_persist_ok(&x, 1401);
    fx_free(&x);
}

/* An origin restarted with a saved HLC ahead of its wall (it ran ahead
 * before the restart) keeps accepting its edges' writes. */
static void test_restart_with_hlc_ahead_of_wall(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.hlc_last = hlc_pack(1000 + 10 * MIN_MS, 5);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    repl_op_t op = tk_put("k", "v");
    fx_write_req(&x, 1, 1, c.hlc_last + 1, &op, 1, 1000);
    uint64_t v1 = persisted_hlc(&x);
    assert_true(v1 > c.hlc_last + 1);
    fx_persist_ok(&x, 1001);
    repl_origin_write(x.o, 2, &op, 1, 1002, fx_a(&x));
    assert_true(persisted_hlc(&x) > v1);
    fx_persist_ok(&x, 1003);
    fx_free(&x);
}

/* Heartbeats follow now_ms (monotonic): the wall stepping back or forward
 * by minutes neither delays nor fires one; it only moves origin_time_ms. */
static void test_heartbeats_ignore_wall_steps(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    c.heartbeat_interval_ms = 100;
    int64_t skew = 10 * MIN_MS;
    c.wall_ctx = &skew;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    assert_int_equal(repl_origin_deadline(x.o), 1100);
    skew = 5 * MIN_MS; /* back by 5 minutes */
    repl_origin_tick(x.o, 1099, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_tick(x.o, 1100, fx_a(&x));
    Edgekv__Frame *f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_HEARTBEAT);
    assert_int_equal(f->heartbeat->origin_time_ms, 1100 + skew);
    frame_free(f);
    assert_int_equal(repl_origin_deadline(x.o), 1200);
    skew = 15 * MIN_MS; /* forward by 10 minutes */
    repl_origin_tick(x.o, 1199, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_tick(x.o, 1200, fx_a(&x));
    f = tk_send_frame(fx_one(&x, REPL_ACT_SEND));
    assert_int_equal(f->heartbeat->origin_time_ms, 1200 + 15 * MIN_MS);
    frame_free(f);
    fx_free(&x);
}

/* Writes through a real edge while the origin's wall, first five minutes
 * ahead of the edge's, steps back to it, then to five minutes behind it,
 * with pauses longer than max_clock_offset_ms between writes: every write
 * succeeds, each version is above the one before, and the edge stays
 * fresh. */
static void test_edge_writes_across_origin_wall_steps(void **state)
{
    (void)state;
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    tk_origin_config(&oc);
    tk_edge_config(&ec, 101);
    int64_t skew = 0, edge_skew = 5 * MIN_MS;
    oc.wall_ctx = &skew;
    ec.wall_ctx = &edge_skew;
    tk_world_t w;
    tk_world_init(&w, &oc, &ec, 1, 0);
    tk_world_start(&w);
    tk_run_until(&w, 2000);
    const int64_t steps[] = {10 * MIN_MS, 5 * MIN_MS, 0};
    tk_edge_t *e = &w.edges[0];
    kv_version_t last = {0, 0};
    uint64_t token = 1;
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        skew = steps[s];
        for (int i = 0; i < 4; i++, token++) {
            char val[24];
            snprintf(val, sizeof val, "%llu", (unsigned long long)token);
            repl_op_t op = tk_put("k", val);
            tk_edge_write(&w, 0, token, &op, 1);
            tk_run_until(&w, w.now + 1500);
            assert_int_equal(e->ndone, token);
            assert_int_equal(e->done[token - 1].status, 0);
            const lww_rec_t *r = lww_lookup(&w.origin.m, TK_NS, "k");
            assert_non_null(r);
            assert_true(kv_version_cmp(r->v, last) > 0);
            last = r->v;
            const lww_rec_t *at_edge = lww_lookup(&e->m, TK_NS, "k");
            assert_non_null(at_edge);
            assert_int_equal(kv_version_cmp(at_edge->v, last), 0);
            repl_edge_status_t st;
            repl_edge_status(e->d.edge, w.now, &st);
            assert_false(st.stale);
        }
    }
    tk_world_free(&w);
}

static uint64_t last_trim(fx_t *x)
{
    int i = tk_acts_find(&x->t, REPL_ACT_TRIM_LOG, 0);
    return i < 0 ? 0 : x->t.buf[i].u.trim.below_seq;
}

/* The trim tests' origin: 8 entries retained, at most 64; two edges
 * linked from 0, and 20 writes committed at 1001..1020 (*now: the last),
 * which trim nothing since nobody acked. */
static void trim_fx_start(fx_t *x, uint64_t *now)
{
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.log_retention = 8;
    c.log_retention_max = 64;
    c.peer_buffer_max_bytes = 1u << 30;
    fx_init(x, &c);
    fx_hello(x, 1, TK_HIST_A, 0, 101, 1000);
    fx_hello(x, 2, TK_HIST_A, 0, 102, 1000);
    *now = 1000;
    uint64_t trimmed = 0;
    for (int i = 0; i < 20; i++) {
        commit_one(x, ++*now);
        trimmed = last_trim(x) ? last_trim(x) : trimmed;
    }
    assert_int_equal(trimmed, 0); /* nobody acked: the log stays */
}

static void test_trim_follows_acks_within_retention(void **state)
{
    (void)state;
    fx_t x;
    uint64_t now;
    trim_fx_start(&x, &now);
    fx_ack(&x, 1, 20, now);
    assert_int_equal(x.t.a.n, 0); /* edge 2 still needs 1.. */
    fx_ack(&x, 2, 5, now);
    assert_int_equal(last_trim(&x), 5); /* entry 5 stays: edge 2's resume proof */
    fx_ack(&x, 2, 15, now);
    assert_int_equal(last_trim(&x), 13); /* at least 8 entries kept: 13..20 */
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.log_first_seq, 13);
    /* An ack past the log is a protocol error. */
    fx_ack(&x, 2, 21, now);
    fx_one(&x, REPL_ACT_CLOSE);
    /* Edge 2 is gone at 15; edge 1 keeps acking. Past 64 entries the log is
     * trimmed regardless: edge 2 will need a snapshot. */
    for (int i = 0; i < 100; i++) {
        commit_one(&x, ++now);
        fx_ack(&x, 1, 20 + (uint64_t)i + 1, now);
    }
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.last_seq, 120);
    assert_int_equal(st.log_first_seq, 121 - 64);
    repl_edge_info_t info[2];
    assert_int_equal(repl_origin_edges(x.o, now, info, 2), 2);
    assert_false(info[1].connected);
    assert_int_equal(info[1].acked_seq, 15);
    assert_int_equal(info[1].lag_seq, 105);
    fx_free(&x);
}

/* An ack that can move the trim point is one from below end - retention:
 * at that bound it still does, past it (edges in step) it cannot. */
static void test_trim_on_ack_at_the_retention_bound(void **state)
{
    (void)state;
    fx_t x;
    uint64_t now;
    trim_fx_start(&x, &now);
    fx_ack(&x, 1, 20, now);
    fx_ack(&x, 2, 11, now);
    assert_int_equal(last_trim(&x), 11); /* retention keeps 13..; edge 2 needs 11 */
    fx_ack(&x, 2, 12, now);
    assert_int_equal(last_trim(&x), 12); /* 12 is one below the bound: it moves */
    fx_ack(&x, 2, 19, now);
    assert_int_equal(last_trim(&x), 13); /* from 12 below the bound: up to it */
    fx_ack(&x, 2, 20, now);
    assert_int_equal(x.t.a.n, 0); /* from 19, past the bound: nothing to trim */
    commit_one(&x, ++now);
    assert_int_equal(last_trim(&x), 14); /* the bound moved with the log */
    fx_ack(&x, 1, 21, now);
    fx_ack(&x, 2, 21, now);
    assert_int_equal(x.t.a.n, 0);
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.log_first_seq, 14);
    fx_free(&x);
}

static void test_trim_never_passes_a_snapshot(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.log_retention = 2;
    c.log_retention_max = 4;
    c.peer_buffer_max_bytes = 1u << 30;
    fx_t x;
    fx_init(&x, &c);
    for (int i = 0; i < 3; i++)
        commit_one(&x, 1000 + i);
    fx_hello(&x, 1, "", 0, 101, 1010); /* snapshot as of seq 3 */
    fx_one(&x, REPL_ACT_SNAPSHOT);
    uint64_t now = 1010;
    for (int i = 0; i < 20; i++) {
        commit_one(&x, ++now);
        assert_true(last_trim(&x) <= 4); /* 4.. is what the edge needs next */
    }
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.log_first_seq, 4);
    /* The snapshot ends at 3; the edge then streams from 4. */
    repl_origin_snapshot_sent(x.o, 1, 0, 3, ++now, fx_a(&x));
    /* The tail still has it all: no storage read needed. */
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_READ_LOG), 0);
    Edgekv__Frame *f = tk_acts_frame(&x.t, 0);
    assert_int_equal(f->batch->mutations[0]->seq, 4);
    frame_free(f);
    /* Caught up: the pin is gone; retention_max applies again. */
    commit_one(&x, ++now);
    assert_int_equal(last_trim(&x), 24 - 4 + 1);
    fx_free(&x);
}

static void test_action_overflow_poll(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t big, small;
    fx_init(&big, &c);
    fx_init(&small, &c);
    /* Same inputs: with room for 1 action the rest come from poll, in order. */
    repl_op_t op = tk_put("k", "v");
    for (repl_peer_t p = 1; p <= 3; p++) {
        fx_hello(&big, p, TK_HIST_A, 10, 100 + p, 1000);
        fx_hello(&small, p, TK_HIST_A, 10, 100 + p, 1000);
    }
    repl_origin_write(big.o, 1, &op, 1, 1000, fx_a(&big));
    repl_origin_write(small.o, 1, &op, 1, 1000, fx_a(&small));
    repl_origin_write(big.o, 2, &op, 1, 1000, fx_a(&big));
    repl_origin_write(small.o, 2, &op, 1, 1000, fx_a(&small));
    assert_int_equal(big.t.a.n, 0); /* write 1 is in flight (batch 1) */
    repl_origin_persisted(big.o, 1, 0, NULL, 1001, fx_a(&big));
    size_t want = big.t.a.n;
    assert_true(want >= 5); /* 3 batches, 1 write done, 1 persist */
    tk_acts_reset(&small.t, 1);
    repl_origin_persisted(small.o, 1, 0, NULL, 1001, &small.t.a);
    size_t got = 0;
    while (small.t.a.n == 1) {
        const repl_action_t *s = &small.t.buf[0], *b = &big.t.buf[got];
        assert_int_equal(s->kind, b->kind);
        if (s->kind == REPL_ACT_SEND) {
            assert_int_equal(s->u.send.peer, b->u.send.peer);
            assert_int_equal(s->u.send.len, b->u.send.len);
            assert_memory_equal(s->u.send.data, b->u.send.data, s->u.send.len);
        }
        if (s->kind == REPL_ACT_PERSIST) {
            assert_int_equal(s->u.persist.n, b->u.persist.n);
            assert_int_equal(s->u.persist.muts[0].seq, b->u.persist.muts[0].seq);
        }
        if (s->kind == REPL_ACT_WRITE_DONE) {
            assert_int_equal(s->u.write_done.token, b->u.write_done.token);
            assert_int_equal(s->u.write_done.seq, b->u.write_done.seq);
        }
        got++;
        tk_acts_reset(&small.t, 1);
        repl_origin_poll(small.o, &small.t.a);
    }
    assert_int_equal(got, want);
    fx_free(&big);
    fx_free(&small);
}

static void test_hello_timeout_and_bad_frames(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    repl_origin_on_connect(x.o, 1, "edge1", 1000, fx_a(&x));
    assert_int_equal(repl_origin_deadline(x.o), 1000 + KV_REPL_HANDSHAKE_TIMEOUT_MS);
    repl_origin_tick(x.o, 1000 + KV_REPL_HANDSHAKE_TIMEOUT_MS - 1, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    repl_origin_tick(x.o, 1000 + KV_REPL_HANDSHAKE_TIMEOUT_MS, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.peer, 1);
    /* Bytes for a closed link are ignored. */
    repl_origin_on_bytes(x.o, 1, (const uint8_t *)"xx", 2, 20000, fx_a(&x));
    assert_int_equal(x.t.a.n, 0);
    /* Garbage. */
    repl_origin_on_connect(x.o, 2, "edge2", 1000, fx_a(&x));
    uint8_t junk[] = {0, 0, 0, 2, 0xff, 0xff};
    repl_origin_on_bytes(x.o, 2, junk, sizeof junk, 1000, fx_a(&x));
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "bad frame");
    /* A length over the limit. */
    repl_origin_on_connect(x.o, 3, "edge3", 1000, fx_a(&x));
    uint8_t huge[4];
    frame_put_len(huge, KV_FRAME_MAX_BYTES + 1);
    repl_origin_on_bytes(x.o, 3, huge, 4, 1000, fx_a(&x));
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "frame too big");
    /* Anything but Hello first. */
    repl_origin_on_connect(x.o, 4, "edge4", 1000, fx_a(&x));
    fx_ack(&x, 4, 1, 1000);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "expected hello");
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.edges_connected, 0);
    fx_free(&x);
}

static void test_same_edge_new_link_replaces_old(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    fx_hello(&x, 2, TK_HIST_A, 10, 101, 1001);
    const repl_action_t *cl = fx_one(&x, REPL_ACT_CLOSE);
    assert_int_equal(cl->u.close.peer, 1);
    repl_edge_info_t info[2];
    assert_int_equal(repl_origin_edges(x.o, 1001, info, 2), 1);
    assert_int_equal(info[0].peer, 2);
    assert_true(info[0].connected);
    /* The old link's disconnect, arriving late, changes nothing. */
    repl_origin_on_disconnect(x.o, 1, 1002, fx_a(&x));
    repl_origin_edges(x.o, 1002, info, 2);
    assert_true(info[0].connected);
    repl_origin_on_disconnect(x.o, 2, 1003, fx_a(&x));
    repl_origin_edges(x.o, 1003, info, 2);
    assert_false(info[0].connected);
    fx_free(&x);
}

static void test_edge_lag(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    c.peer_buffer_max_bytes = 1u << 30;
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 0, 101, 1000);
    commit_one(&x, 1100); /* seq 1 */
    commit_one(&x, 1200); /* seq 2 */
    repl_edge_info_t info;
    repl_origin_edges(x.o, 1500, &info, 1);
    assert_int_equal(info.lag_seq, 2);
    assert_int_equal(info.lag_ms, 400); /* seq 1 committed at 1100 */
    fx_ack(&x, 1, 1, 1500);
    repl_origin_edges(x.o, 1500, &info, 1);
    assert_int_equal(info.lag_seq, 1);
    assert_int_equal(info.lag_ms, 300);
    assert_int_equal(info.last_ack_ms, 1500);
    fx_ack(&x, 1, 2, 1600);
    repl_origin_edges(x.o, 1700, &info, 1);
    assert_int_equal(info.lag_seq, 0);
    assert_int_equal(info.lag_ms, 0);
    fx_free(&x);
}

static void test_write_checks_and_alloc_failure(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(x.o, 1, &op, 0, 1000, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, KV_EINVAL);
    repl_op_t big = tk_put("k", "v");
    big.value_len = KV_VALUE_MAX_BYTES + 1;
    repl_origin_write(x.o, 2, &big, 1, 1000, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, KV_ETOOBIG);
    kv_mem_failing_set(0);
    repl_origin_write(x.o, 3, &op, 1, 1000, fx_a(&x));
    kv_mem_set(NULL);
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, -ENOMEM);
    kv_mem_failing_set(1); /* the mutation array, then the payload copy fails */
    repl_origin_write(x.o, 4, &op, 1, 1000, fx_a(&x));
    kv_mem_set(NULL);
    assert_int_equal(fx_one(&x, REPL_ACT_WRITE_DONE)->u.write_done.status, -ENOMEM);
    /* Nothing was sequenced by the failures. */
    repl_origin_write(x.o, 5, &op, 1, 1000, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_PERSIST)->u.persist.muts[0].seq, 11);
    /* The caller's buffers may change right after the call: the core copied. */
    fx_free(&x);
    repl_origin_t *o;
    c.history_id[0] = '\0';
    assert_int_equal(repl_origin_create(&c, &o), KV_ECONFIG);
    cfg_at(&c, 10, 12);
    assert_int_equal(repl_origin_create(&c, &o), KV_ECONFIG);
}

static void test_send_buffers_shared_and_kept_by_ref(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 0, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 0, 101, 1000);
    fx_hello(&x, 2, TK_HIST_A, 0, 102, 1000);
    commit_one(&x, 1001);
    /* One commit, two live edges: one encoding, the same bytes twice. */
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SEND), 2);
    const repl_action_t *s1 = &x.t.buf[tk_acts_find(&x.t, REPL_ACT_SEND, 0)];
    const repl_action_t *s2 = &x.t.buf[tk_acts_find(&x.t, REPL_ACT_SEND, 1)];
    assert_int_not_equal(s1->u.send.peer, s2->u.send.peer);
    assert_ptr_equal(s1->u.send.buf, s2->u.send.buf);
    assert_ptr_equal(s1->u.send.data, s2->u.send.data);
    /* An asynchronous writer keeps it past the next call without a copy. */
    repl_buf_t *kept = repl_buf_ref(s1->u.send.buf);
    const uint8_t *data = s1->u.send.data;
    size_t len = s1->u.send.len;
    commit_one(&x, 1002);
    commit_one(&x, 1003);
    Edgekv__Frame *f;
    assert_int_equal(frame_decode(data + 4, len - 4, &f), 0);
    assert_int_equal(f->batch->mutations[0]->seq, 1);
    frame_free(f);
    repl_buf_unref(kept);
    fx_free(&x);
}

/* The origin's answer to the last call's Hello: its Welcome, decoded. */
static Edgekv__Frame *fx_welcome(fx_t *x)
{
    Edgekv__Frame *f = tk_acts_frame(&x->t, 0);
    assert_non_null(f);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    return f;
}

static void check_snapshot(fx_t *x, bool diverged)
{
    Edgekv__Frame *f = fx_welcome(x);
    assert_int_equal(f->welcome->mode, EDGEKV__WELCOME__MODE__SNAPSHOT);
    assert_int_equal(f->welcome->diverged, diverged);
    frame_free(f);
    assert_non_null(fx_one(x, REPL_ACT_SNAPSHOT)->u.snapshot.reason);
}

/* Resume needs proof that the edge's position is on this origin's history
 * (repl.h): an origin that lost a committed tail (sync=batch|off, a crash)
 * reuses those seqs for other writes, and an edge that had received the
 * lost ones must not resume "in step" with them, nor be refused for being
 * ahead: it takes a snapshot. Before the proof, sequence numbers alone
 * decided: these edges resumed (diverged forever) or were refused. */
static void test_resume_needs_proof_of_history(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1); /* log 1..10, none of it in memory */
    fx_t x;
    fx_init(&x, &c);
    kv_version_t lost = {(8 + 1) << 16 | 7, 1}; /* what seq 8 was before the crash */

    /* Ahead of the log (it received 11 and 12, lost here): snapshot. */
    fx_hello_v(&x, 1, "e1", TK_HIST_A, 12, lost, 101, 1000);
    check_snapshot(&x, true);
    repl_edge_info_t info;
    assert_int_equal(repl_origin_edges(x.o, 1000, &info, 1), 1);
    assert_int_equal(info.acked_seq, 0); /* never past the log */

    /* Seq 8 was reused for another write: its entry is read, the versions
     * differ, snapshot. Nothing is sent until the entry is read. */
    fx_hello_v(&x, 2, "e2", TK_HIST_A, 8, lost, 102, 1000);
    assert_int_equal(x.t.a.n, 1);
    assert_int_equal(fx_one(&x, REPL_ACT_READ_LOG)->u.read_log.from_seq, 8);
    assert_int_equal(repl_origin_deadline(x.o), UINT64_MAX); /* no heartbeat before Welcome */
    repl_mutation_t m = {.seq = 8, .version = fx_log_version(8), .op = tk_put("k", "other")};
    repl_origin_log_read(x.o, 2, 0, &m, 1, 1001, fx_a(&x));
    check_snapshot(&x, true);

    /* The same seq with the version the log holds: resume, then the rest. */
    fx_hello_v(&x, 3, "e3", TK_HIST_A, 8, fx_log_version(8), 103, 1000);
    fx_one(&x, REPL_ACT_READ_LOG);
    repl_origin_log_read(x.o, 3, 0, &m, 1, 1001, fx_a(&x));
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 9);
    assert_int_equal(fx_one(&x, REPL_ACT_READ_LOG)->u.read_log.from_seq, 9);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SNAPSHOT), 0);

    /* No version (an edge or a stored position from before the proof):
     * nothing proves it, snapshot, without blaming the edge. */
    fx_hello_v(&x, 4, "e4", TK_HIST_A, 8, KV_VERSION_ZERO, 104, 1000);
    check_snapshot(&x, false);

    /* Trimmed between the Hello and the read: snapshot. */
    fx_hello_v(&x, 5, "e5", TK_HIST_A, 9, fx_log_version(9), 105, 1000);
    repl_mutation_t m10 = {.seq = 10, .version = fx_log_version(10), .op = tk_put("k", "v")};
    repl_origin_log_read(x.o, 5, 0, &m10, 1, 1001, fx_a(&x));
    check_snapshot(&x, false);

    /* A frame before the Welcome (here an ack) closes the link. */
    fx_hello_v(&x, 6, "e6", TK_HIST_A, 9, fx_log_version(9), 106, 1000);
    fx_ack(&x, 6, 9, 1001);
    fx_one(&x, REPL_ACT_CLOSE);
    repl_origin_log_read(x.o, 6, 0, &m, 1, 1002, fx_a(&x)); /* late: ignored */
    assert_int_equal(x.t.a.n, 0);

    /* An entry still in memory is judged at once. */
    commit_one(&x, 1100); /* seq 11 */
    kv_version_t v11 = fx_entry_version(&x, 11);
    fx_hello_v(&x, 7, "e7", TK_HIST_A, 11, v11, 107, 1200);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 12);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_READ_LOG), 0);
    v11.hlc++;
    fx_hello_v(&x, 8, "e8", TK_HIST_A, 11, v11, 108, 1200);
    check_snapshot(&x, true);
    fx_free(&x);

    /* Below the log's first seq, an entry still held in memory proves
     * nothing: past log_retention_max an edge takes a snapshot. */
    cfg_at(&c, 0, 1);
    c.log_retention = 1;
    c.log_retention_max = 4;
    c.peer_buffer_max_bytes = 1u << 30;
    fx_init(&x, &c);
    for (int i = 0; i < 3; i++)
        commit_one(&x, 1000 + (uint64_t)i);
    kv_version_t v2 = fx_entry_version(&x, 2);
    for (int i = 3; i < 10; i++)
        commit_one(&x, 1000 + (uint64_t)i);
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_true(st.log_first_seq > 2);
    assert_non_null(repl__tail_at(x.o, 2));
    fx_hello_v(&x, 1, "e1", TK_HIST_A, 2, v2, 101, 2000);
    check_snapshot(&x, false);
    fx_free(&x);

    /* The empty prefix is on every history: applied 0 resumes from 1 while
     * the log starts there. */
    cfg_at(&c, 3, 1);
    fx_init(&x, &c);
    fx_hello_v(&x, 1, "e1", TK_HIST_A, 0, KV_VERSION_ZERO, 101, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 1);
    fx_free(&x);
}

/* A restored known edge keeps its certificate name (EdgeAck.name): after
 * an origin restart, another certificate claiming its node id is refused,
 * and its own is accepted. Before, a restored record had no name and the
 * first certificate to claim the node id took it (and its position). */
static void test_restored_edge_keeps_its_name(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    char longname[KV_TLS_PEER_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(repl_origin_restore_edge(x.o, 101, longname, 5, 900), KV_EINVAL);
    assert_int_equal(repl_origin_restore_edge(x.o, 101, "edge-a", 5, 900), 0);
    assert_int_equal(repl_origin_restore_edge(x.o, 102, "", 5, 900), 0); /* an old record */
    repl_edge_info_t info[3];
    assert_int_equal(repl_origin_edges(x.o, 1000, info, 3), 2);
    assert_string_equal(info[0].name, "edge-a");
    assert_string_equal(info[1].name, "");

    fx_hello_as(&x, 1, "edge-b", TK_HIST_A, 5, 101, 1000);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason,
                        "node id bound to another certificate");
    repl_origin_edges(x.o, 1000, info, 3);
    assert_int_equal(info[0].acked_seq, 5); /* its position was not moved */
    assert_false(info[0].connected);

    fx_hello_as(&x, 2, "edge-a", TK_HIST_A, 5, 101, 1001);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 6);
    /* The unnamed record is bound by the first name that claims it. */
    fx_hello_as(&x, 3, "edge-c", TK_HIST_A, 5, 102, 1002);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 6);
    assert_int_equal(repl_origin_edges(x.o, 1002, info, 3), 2);
    assert_string_equal(info[1].name, "edge-c");

    /* A later record of the same name replaces the earlier one (a name
     * speaks for one node id). */
    repl_origin_on_disconnect(x.o, 3, 1003, fx_a(&x));
    assert_int_equal(repl_origin_restore_edge(x.o, 103, "edge-c", 7, 900), 0);
    assert_int_equal(repl_origin_edges(x.o, 1003, info, 3), 2);
    assert_int_equal(info[1].node_id, 103);
    /* Not while that name is linked as another node id. */
    assert_int_equal(repl_origin_restore_edge(x.o, 104, "edge-a", 7, 900), KV_EINVAL);
    fx_free(&x);
}

static void test_restored_edge_holds_the_log(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 3, 1);
    c.log_retention = 2;
    c.log_retention_max = 10;
    fx_t x;
    fx_init(&x, &c);
    assert_int_equal(repl_origin_restore_edge(x.o, 101, NULL, 4, 0), KV_EINVAL);
    assert_int_equal(repl_origin_restore_edge(x.o, 101, NULL, 1, 900), 0);
    for (int i = 0; i < 5; i++)
        commit_one(&x, 1000 + i);
    repl_origin_stats_t st;
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.log_first_seq, 1); /* edge 101 still needs 1 (its proof) and 2.. */
    for (int i = 5; i < 12; i++)
        commit_one(&x, 1000 + i);
    repl_origin_stats(x.o, &st);
    assert_int_equal(st.log_first_seq, 15 - 10 + 1); /* retention_max wins */
    /* It comes back behind the log: snapshot. */
    fx_hello_v(&x, 1, "edge101", TK_HIST_A, 1, fx_log_version(1), 101, 2000);
    fx_one(&x, REPL_ACT_SNAPSHOT);
    /* A refused link may not write into our history. */
    fx_hello(&x, 2, TK_HIST_B, 1, 102, 2000);
    repl_op_t op = tk_put("k", "v");
    fx_write_req(&x, 2, 1, 0, &op, 1, 2001);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "refused link");
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    fx_free(&x);
}

/* ---- identity: the certificate, not the claimed node id -------------------------- */

static void check_edge(fx_t *x, uint64_t now, size_t want_n, uint32_t node, bool connected,
                       uint64_t acked)
{
    repl_edge_info_t info[8];
    size_t n = repl_origin_edges(x->o, now, info, 8);
    assert_int_equal(n, want_n);
    for (size_t i = 0; i < n && i < 8; i++) {
        if (info[i].node_id != node)
            continue;
        assert_int_equal(info[i].connected, connected);
        assert_int_equal(info[i].acked_seq, acked);
        return;
    }
    fail_msg("node %u not known", node);
}

/* One certificate can neither replace another edge's link nor move its
 * acknowledged position by claiming its node id; a name keeps its node id
 * while its link is up, and may move once it is down. */
static void test_edge_identity_is_its_certificate(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello_as(&x, 1, "edgeA", TK_HIST_A, 10, 101, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 11);
    /* edgeB claims node 101 (and position 0): refused, A untouched. */
    fx_hello_as(&x, 2, "edgeB", TK_HIST_A, 0, 101, 1001);
    const repl_action_t *cl = fx_one(&x, REPL_ACT_CLOSE);
    assert_int_equal(cl->u.close.peer, 2);
    assert_string_equal(cl->u.close.reason, "node id bound to another certificate");
    check_edge(&x, 1001, 1, 101, true, 10);
    /* Also while A is away. */
    repl_origin_on_disconnect(x.o, 1, 1002, fx_a(&x));
    fx_hello_as(&x, 3, "edgeB", "", 0, 101, 1003);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason,
                        "node id bound to another certificate");
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_SNAPSHOT), 0);
    check_edge(&x, 1003, 1, 101, false, 10);
    /* A's own new link replaces its old one as before. */
    fx_hello_as(&x, 4, "edgeA", TK_HIST_A, 10, 101, 1004);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 11);
    /* While linked, A may not speak for a second node id ... */
    fx_hello_as(&x, 5, "edgeA", TK_HIST_A, 10, 102, 1005);
    cl = fx_one(&x, REPL_ACT_CLOSE);
    assert_int_equal(cl->u.close.peer, 5);
    assert_string_equal(cl->u.close.reason, "certificate linked as another node id");
    check_edge(&x, 1005, 1, 101, true, 10);
    /* ... once its link is down it may move (reinstalled, empty): its old
     * record goes, and node 101 is free for another certificate. */
    repl_origin_on_disconnect(x.o, 4, 1006, fx_a(&x));
    fx_hello_as(&x, 6, "edgeA", "", 0, 102, 1007);
    fx_one(&x, REPL_ACT_SNAPSHOT);
    check_edge(&x, 1007, 1, 102, true, 0);
    fx_hello_as(&x, 7, "edgeB", TK_HIST_A, 10, 101, 1008);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 11);
    check_edge(&x, 1008, 2, 101, true, 10);
    /* A link without a certificate name is closed at once. */
    repl_origin_on_connect(x.o, 8, "", 1009, fx_a(&x));
    assert_int_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.peer, 8);
    fx_free(&x);
}

/* Records restored at start-up carry no name: the first certificate to
 * claim one binds it; their forgetting time starts at the first Hello. */
static void test_restored_edges_bind_and_age(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    assert_int_equal(repl_origin_restore_edge(x.o, 101, NULL, 5, 900), 0);
    assert_int_equal(repl_origin_restore_edge(x.o, 102, NULL, 7, 0), 0); /* never acked */
    fx_hello_as(&x, 1, "edgeA", TK_HIST_A, 5, 101, 1000);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 6);
    fx_hello_as(&x, 2, "edgeB", TK_HIST_A, 5, 101, 1001);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason,
                        "node id bound to another certificate");
    check_edge(&x, 1001, 2, 102, false, 7);
    /* 102's age counts from that first Hello (1000), not from time 0. */
    fx_hello_as(&x, 3, "edgeC", TK_HIST_A, 10, 103, 1000 + KV_REPL_EDGE_FORGET_MS - 1);
    check_edge(&x, 1000 + KV_REPL_EDGE_FORGET_MS - 1, 3, 102, false, 7);
    fx_hello_as(&x, 4, "edgeD", TK_HIST_A, 10, 104, 1000 + KV_REPL_EDGE_FORGET_MS);
    repl_edge_info_t info[8];
    size_t n = repl_origin_edges(x.o, 1000 + KV_REPL_EDGE_FORGET_MS, info, 8);
    assert_int_equal(n, 3); /* 101 (linked), 103, 104: 102 forgotten */
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(info[i].node_id, 102);
    fx_free(&x);
}

/* The edge table is bounded, and edges gone for KV_REPL_EDGE_FORGET_MS
 * make room: ephemeral edges cannot fill it for good. A linked edge is
 * never forgotten. */
static void test_known_edges_forgotten_after_limit(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    uint64_t t0 = 1000;
    repl_peer_t p = 0;
    for (uint32_t i = 0; i < KV_REPL_EDGES_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%u", i);
        fx_hello_as(&x, ++p, name, TK_HIST_A, 10, 1000 + i, t0);
        assert_int_equal(tk_acts_count(&x.t, REPL_ACT_CLOSE), 0);
        if (i > 0) /* e0 stays linked */
            repl_origin_on_disconnect(x.o, p, t0, fx_a(&x));
    }
    uint64_t t = t0 + KV_REPL_EDGE_FORGET_MS - 1;
    fx_hello_as(&x, ++p, "newcomer", TK_HIST_A, 10, 5000, t);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "too many edges");
    assert_int_equal(repl_origin_edges(x.o, t, NULL, 0), KV_REPL_EDGES_MAX);
    t = t0 + KV_REPL_EDGE_FORGET_MS;
    fx_hello_as(&x, ++p, "newcomer", TK_HIST_A, 10, 5000, t);
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_CLOSE), 0);
    check_welcome(&x, EDGEKV__WELCOME__MODE__RESUME, 11);
    check_edge(&x, t, 2, 1000, true, 10); /* e0 and the newcomer */
    fx_free(&x);
}

/* ---- the guard: counted before decoding ---------------------------------------- */

static size_t g_alloc_bytes;
static void *count_malloc(size_t n)
{
    g_alloc_bytes += n;
    return malloc(n);
}
static void *count_calloc(size_t n, size_t size)
{
    g_alloc_bytes += n * size;
    return calloc(n, size);
}
static void *count_realloc(void *p, size_t n)
{
    g_alloc_bytes += n;
    return realloc(p, n);
}
static const kv_mem_t k_counting = {count_malloc, count_calloc, count_realloc, free};

/* A WriteRequest of more than KV_REPL_WRITE_MAX_OPS ops (empty ones, 2
 * bytes each) closes the link before the frame is even complete, and
 * nothing the size of the ops is allocated. */
static void test_write_request_ops_counted_before_decoding(void **state)
{
    (void)state;
    repl_origin_config_t c;
    cfg_at(&c, 10, 1);
    fx_t x;
    fx_init(&x, &c);
    fx_hello(&x, 1, TK_HIST_A, 10, 101, 1000);
    size_t n = 3 * KV_REPL_WRITE_MAX_OPS, len;
    Edgekv__Op *ops = calloc(n, sizeof *ops), **ptrs = calloc(n, sizeof *ptrs);
    assert_true(ops && ptrs);
    for (size_t i = 0; i < n; i++) {
        edgekv__op__init(&ops[i]);
        ptrs[i] = &ops[i];
    }
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    r.request_id = 1;
    r.n_ops = n;
    r.ops = ptrs;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    uint8_t *b = tk_frame_bytes(&f, &len);
    repl_actions_t *a = fx_a(&x);
    g_alloc_bytes = 0;
    kv_mem_set(&k_counting);
    repl_origin_on_bytes(x.o, 1, b, len - 1, 1001, a);
    kv_mem_set(NULL);
    assert_true(g_alloc_bytes < 16u * 1024u);
    const repl_action_t *cl = fx_one(&x, REPL_ACT_CLOSE);
    assert_int_equal(cl->u.close.peer, 1);
    assert_string_equal(cl->u.close.reason, "too many ops or fields in a frame");
    assert_int_equal(tk_acts_count(&x.t, REPL_ACT_PERSIST), 0);
    /* Whole, from another edge: the same. */
    fx_hello(&x, 2, TK_HIST_A, 10, 102, 1002);
    repl_origin_on_bytes(x.o, 2, b, len, 1003, fx_a(&x));
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason,
                        "too many ops or fields in a frame");
    /* A frame only an origin sends is refused before it is decoded too. */
    fx_hello(&x, 3, TK_HIST_A, 10, 103, 1004);
    Edgekv__MutationBatch batch = EDGEKV__MUTATION_BATCH__INIT;
    f = (Edgekv__Frame)EDGEKV__FRAME__INIT;
    f.msg_case = EDGEKV__FRAME__MSG_BATCH;
    f.batch = &batch;
    fx_frame(&x, 3, &f, 1005);
    assert_string_equal(fx_one(&x, REPL_ACT_CLOSE)->u.close.reason, "unexpected frame");
    free(b);
    free(ops);
    free(ptrs);
    fx_free(&x);
}

/* ---- the cached deadline ------------------------------------------------------ */

/* What repl_origin_deadline() must answer, by scanning every link. */
static uint64_t deadline_scan(const repl_origin_t *o)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < o->npeers; i++) {
        const opeer_t *p = o->peers[i];
        uint64_t t = UINT64_MAX;
        if (p->state == OPEER_HELLO)
            t = p->connected_ms + KV_REPL_HANDSHAKE_TIMEOUT_MS;
        else if (p->state == OPEER_STREAM && p->behind)
            t = p->flushed_ms + o->cfg.peer_stall_ms;
        else if (p->state == OPEER_STREAM)
            t = p->beat_ms + o->cfg.heartbeat_interval_ms;
        d = t < d ? t : d;
    }
    return d;
}

typedef struct {
    fx_t x;
    uint64_t rng, now;
    repl_peer_t open[16]; /* links the origin has not closed */
    size_t nopen;
    repl_peer_t next_peer;
    uint64_t batch; /* PERSIST in flight, 0 none */
    uint64_t last_seq;
    repl_peer_t snaps[64], reads[64];
    uint64_t read_from[64];
    size_t nsnaps, nreads;
} dl_t;

static uint64_t dl_rand(dl_t *d, uint64_t n)
{
    uint64_t z = (d->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return (z ^ (z >> 31)) % n;
}

static void dl_forget(dl_t *d, repl_peer_t p)
{
    for (size_t i = 0; i < d->nopen; i++) {
        if (d->open[i] == p) {
            d->open[i] = d->open[--d->nopen];
            return;
        }
    }
}

/* Carry out the last call's actions (and what poll still holds), then
 * compare the cached deadline with the scan. */
static void dl_after(dl_t *d)
{
    for (;;) {
        for (size_t i = 0; i < d->x.t.a.n; i++) {
            const repl_action_t *a = &d->x.t.buf[i];
            if (a->kind == REPL_ACT_CLOSE)
                dl_forget(d, a->u.close.peer);
            else if (a->kind == REPL_ACT_PERSIST)
                d->batch = a->u.persist.batch_id;
            else if (a->kind == REPL_ACT_SNAPSHOT && d->nsnaps < 64)
                d->snaps[d->nsnaps++] = a->u.snapshot.peer;
            else if (a->kind == REPL_ACT_READ_LOG && d->nreads < 64) {
                d->read_from[d->nreads] = a->u.read_log.from_seq;
                d->reads[d->nreads++] = a->u.read_log.peer;
            }
        }
        repl_origin_poll(d->x.o, fx_a(&d->x));
        if (d->x.t.a.n == 0)
            break;
    }
    assert_int_equal(repl_origin_deadline(d->x.o), deadline_scan(d->x.o));
}

static void dl_log_read(dl_t *d)
{
    size_t k = (size_t)dl_rand(d, d->nreads);
    repl_peer_t p = d->reads[k];
    uint64_t from = d->read_from[k];
    d->reads[k] = d->reads[--d->nreads];
    d->read_from[k] = d->read_from[d->nreads];
    repl_mutation_t m[4];
    size_t n = 0;
    for (uint64_t q = from; q <= d->last_seq && n < 4; q++, n++)
        m[n] = (repl_mutation_t){.seq = q, .version = {hlc_pack(q, 0), 1}};
    repl_origin_log_read(d->x.o, p, 0, m, n, d->now, fx_a(&d->x));
}

static void dl_step(dl_t *d)
{
    repl_op_t op = tk_put("k", "v");
    uint64_t r = dl_rand(d, 100);
    if (r < 10 && d->nopen < 16) {
        repl_peer_t p = ++d->next_peer;
        char name[16];
        snprintf(name, sizeof name, "e%u", p % 6); /* the name of node 100 + p % 6 */
        d->open[d->nopen++] = p;
        repl_origin_on_connect(d->x.o, p, name, d->now, fx_a(&d->x));
    } else if (r < 25 && d->nopen) {
        /* A Hello: fresh (snapshot), resuming (maybe from far behind), or
         * another history (refused). */
        repl_peer_t p = d->open[dl_rand(d, d->nopen)];
        uint64_t kind = dl_rand(d, 4);
        const char *hist = kind == 0 ? "" : kind == 1 ? TK_HIST_B : TK_HIST_A;
        uint64_t applied = kind >= 2 ? dl_rand(d, d->last_seq + 1) : 0;
        Edgekv__Frame f = EDGEKV__FRAME__INIT;
        Edgekv__Hello h = EDGEKV__HELLO__INIT;
        h.history_id = (char *)hist;
        h.applied_seq = applied;
        h.node_id = 100 + p % 6; /* links of one edge replace each other */
        f.msg_case = EDGEKV__FRAME__MSG_HELLO;
        f.hello = &h;
        fx_frame(&d->x, p, &f, d->now);
    } else if (r < 33 && d->nopen) {
        fx_ack(&d->x, d->open[dl_rand(d, d->nopen)], dl_rand(d, d->last_seq + 1), d->now);
    } else if (r < 43) {
        repl_origin_write(d->x.o, r, &op, 1, d->now, fx_a(&d->x));
    } else if (r < 48 && d->nopen) {
        fx_write_req(&d->x, d->open[dl_rand(d, d->nopen)], r, 0, &op, 1, d->now);
    } else if (r < 58 && d->batch) {
        repl_origin_stats_t st;
        uint64_t b = d->batch;
        d->batch = 0;
        repl_origin_persisted(d->x.o, b, 0, NULL, d->now, fx_a(&d->x));
        repl_origin_stats(d->x.o, &st);
        d->last_seq = st.last_seq;
    } else if (r < 63 && d->nsnaps) {
        size_t k = (size_t)dl_rand(d, d->nsnaps);
        repl_peer_t p = d->snaps[k];
        d->snaps[k] = d->snaps[--d->nsnaps];
        repl_origin_snapshot_sent(d->x.o, p, 0, d->last_seq, d->now, fx_a(&d->x));
    } else if (r < 66 && d->nreads) {
        dl_log_read(d);
    } else if (r < 72 && d->nopen) {
        repl_peer_t p = d->open[dl_rand(d, d->nopen)];
        repl_origin_on_flushed(d->x.o, p, (size_t)dl_rand(d, 8192), d->now, fx_a(&d->x));
    } else if (r < 76 && d->nopen) {
        repl_peer_t p = d->open[dl_rand(d, d->nopen)];
        dl_forget(d, p);
        repl_origin_on_disconnect(d->x.o, p, d->now, fx_a(&d->x));
    } else {
        repl_origin_tick(d->x.o, d->now, fx_a(&d->x));
    }
}

/* The deadline is cached (a heap of link timers, origin_timer.c): across
 * random connects, Hellos of every kind, acks, writes, commits, snapshots,
 * log reads, flushes, disconnects and ticks, with the clock moving forward
 * in small and large steps and sometimes backwards, it always equals the
 * minimum over every link's timer. */
static void test_deadline_cache_matches_scan(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        repl_origin_config_t c;
        cfg_at(&c, 0, 1);
        c.tail_max_bytes = 256; /* resumes from far behind read the log */
        dl_t d;
        memset(&d, 0, sizeof d);
        fx_init(&d.x, &c);
        d.rng = seed;
        d.now = 100000;
        for (int i = 0; i < 5000; i++) {
            uint64_t t = dl_rand(&d, 100);
            if (t < 60)
                d.now += dl_rand(&d, 150);
            else if (t < 65)
                d.now += dl_rand(&d, 2 * KV_REPL_HANDSHAKE_TIMEOUT_MS);
            else if (t < 70)
                d.now -= dl_rand(&d, 3000); /* a backward clock step */
            dl_step(&d);
            dl_after(&d);
        }
        fx_free(&d.x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_edge_gets_snapshot),
        cmocka_unit_test(test_resume_or_snapshot_by_window),
        cmocka_unit_test(test_history_mismatch_refused),
        cmocka_unit_test(test_resume_needs_proof_of_history),
        cmocka_unit_test(test_restored_edge_keeps_its_name),
        cmocka_unit_test(test_protocol_window),
        cmocka_unit_test(test_software_names),
        cmocka_unit_test(test_restored_origin_snapshots_parent_edges),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_clock_behind_stored_versions),
        cmocka_unit_test(test_failed_op_becomes_noop),
        cmocka_unit_test(test_group_encoded_once),
        cmocka_unit_test(test_remote_write_clock_hint),
        cmocka_unit_test(test_forwarded_writes_name_their_token),
        cmocka_unit_test(test_persist_failure_stops_writes),
        cmocka_unit_test(test_groups_in_flight),
        cmocka_unit_test(test_cork_groups_a_run_of_writes),
        cmocka_unit_test(test_failure_with_groups_in_flight),
        cmocka_unit_test(test_flow_control_behind_and_catch_up),
        cmocka_unit_test(test_non_reading_edge_closed_on_stall),
        cmocka_unit_test(test_send_buffer_hard_cap),
        cmocka_unit_test(test_catch_up_reads_log_when_tail_evicted),
        cmocka_unit_test(test_log_read_past_committed_seq),
        cmocka_unit_test(test_heartbeat_echoes_probes),
        cmocka_unit_test(test_trim_follows_acks_within_retention),
        cmocka_unit_test(test_trim_on_ack_at_the_retention_bound),
        cmocka_unit_test(test_trim_never_passes_a_snapshot),
        cmocka_unit_test(test_action_overflow_poll),
        cmocka_unit_test(test_hello_timeout_and_bad_frames),
        cmocka_unit_test(test_same_edge_new_link_replaces_old),
        cmocka_unit_test(test_edge_lag),
        cmocka_unit_test(test_write_checks_and_alloc_failure),
        cmocka_unit_test(test_restored_edge_holds_the_log),
        cmocka_unit_test(test_send_buffers_shared_and_kept_by_ref),
        cmocka_unit_test(test_edge_identity_is_its_certificate),
        cmocka_unit_test(test_restored_edges_bind_and_age),
        cmocka_unit_test(test_known_edges_forgotten_after_limit),
        cmocka_unit_test(test_write_request_ops_counted_before_decoding),
        cmocka_unit_test(test_deadline_cache_matches_scan),
        cmocka_unit_test(test_hint_accepted_after_wall_steps_back),
        cmocka_unit_test(test_restart_with_hlc_ahead_of_wall),
        cmocka_unit_test(test_heartbeats_ignore_wall_steps),
        cmocka_unit_test(test_edge_writes_across_origin_wall_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
