/*
 * push.c - the simulator's driver of the real replication core: it executes
 * the actions of one repl_origin_t, N repl_edge_t and, in the relay policy,
 * the relays' repl_relay_t (the node's relay: an edge part and an origin
 * part composed) the way node/ does, with virtual time, the links of net.c
 * and an in-memory storage model. The dispatching and the storage steps are
 * sim/drive.h's (shared with the replication tests); the hooks below are
 * what is the simulator's own.
 *
 * A relay is a node of its own: its children connect to it, it applies what
 * it receives to its replica, logs it and serves it downstream (batches,
 * catch-up from its log, snapshots of its replica); its log is a window
 * [rlog_first, applied seq] over the origin's durable log (the relay keeps
 * the origin's sequence numbers and versions, checked entry by entry).
 *
 * Storage model: a replica is a sim/lww.h model over nkeys records, slot i
 * being key i (version, value id, length, tombstone); the origin's durable
 * log is the array of commits (sim_commit_t) from log_first on.
 * A PERSIST becomes durable after an origin_disk draw, an APPLY/RESET after
 * an edge_disk draw; a crash before that loses it, and the core is created
 * again from the durable state, as node/ does from RocksDB. Values are not
 * stored: a value is its write id (its first 4 bytes) and its length, and
 * the bytes are regenerated when a snapshot or a log read needs them.
 *
 * Deadlines: after every call into a core the driver asks it for its
 * deadline (O(1): repl.h) and arms a timer event when it moved earlier; a
 * timer that fires before the real deadline ticks the core, which finds
 * nothing due, and re-arms.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "sim_int.h"
#include "wire.h"

const char SIM_NS[33] = "5eed0000000000000000000000000001";
static const char SIM_HISTORY[33] = "0123456789abcdef0123456789abcdef";

#define ORIGIN_CALL(s, call)                                                                       \
    do {                                                                                           \
        repl_actions_t a_ = {(s)->acts, SIM_ACTS_CAP, 0};                                          \
        call;                                                                                      \
        sim__origin_drain((s), &a_);                                                               \
        sim__origin_rearm(s);                                                                      \
    } while (0)

#define EDGE_CALL(s, idx, call)                                                                    \
    do {                                                                                           \
        repl_actions_t a_ = {(s)->acts, SIM_ACTS_CAP, 0};                                          \
        call;                                                                                      \
        sim__edge_drain((s), (idx), &a_);                                                          \
        sim__edge_rearm((s), (idx));                                                               \
    } while (0)

/* ---- keys and values ----------------------------------------------------------- */

void sim__key(uint32_t key, char *buf, size_t *len)
{
    char tmp[12];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + key % 10);
        key /= 10;
    } while (key);
    buf[0] = 'k';
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = tmp[n - 1 - i];
    *len = n + 1;
}

static void value_fill(uint8_t *p, uint32_t wid, uint32_t len)
{
    memset(p, 'v', len);
    memcpy(p, &wid, sizeof wid < len ? sizeof wid : len);
}

void sim__value(sim_t *s, uint32_t wid, uint32_t len, const uint8_t **out)
{
    if (len > s->vbuf_cap) {
        free(s->vbuf);
        s->vbuf_cap = len;
        s->vbuf = malloc(len);
        KV_ASSERT(s->vbuf != NULL);
    }
    value_fill(s->vbuf, wid, len);
    *out = s->vbuf;
}

/* Mutations for records or log entries, with keys and values in one arena
 * (free both with free()). */
typedef struct {
    repl_mutation_t *m;
    uint8_t *arena;
    size_t n;
} mbatch_t;

static void mbatch_build(mbatch_t *b, const sim_commit_t *const *cs, const uint64_t *seqs, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += 12 + (cs[i]->kind == OPK_PUT ? cs[i]->len : 0);
    b->m = calloc(n ? n : 1, sizeof *b->m);
    b->arena = malloc(bytes ? bytes : 1);
    KV_ASSERT(b->m && b->arena);
    b->n = n;
    uint8_t *p = b->arena;
    for (size_t i = 0; i < n; i++) {
        const sim_commit_t *c = cs[i];
        repl_mutation_t *m = &b->m[i];
        m->seq = seqs ? seqs[i] : 0;
        m->version = c->v;
        if (c->kind == OPK_NOOP)
            continue;
        m->op.kind = c->kind == OPK_PUT ? REPL_OP_PUT : REPL_OP_DELETE;
        memcpy(m->op.ns_id, SIM_NS, sizeof m->op.ns_id);
        size_t kl;
        sim__key(c->key, (char *)p, &kl);
        m->op.key = (const char *)p;
        m->op.key_len = kl;
        p += 12;
        if (c->kind == OPK_PUT) {
            value_fill(p, c->wid, c->len);
            m->op.value = p;
            m->op.value_len = c->len;
            p += c->len;
        }
    }
}

static void mbatch_free(mbatch_t *b)
{
    free(b->m);
    free(b->arena);
}

/* ---- timers -------------------------------------------------------------------- */

static void arm(sim_t *s, uint32_t node, uint64_t deadline_ms)
{
    if (deadline_ms == UINT64_MAX)
        return;
    sim_node_t *n = &s->nodes[node];
    uint64_t t = sim__virtual_ns(s, deadline_ms);
    if (t >= n->timer_ns)
        return;
    n->timer_ns = t;
    sim_ev_t *ev = sim__at(s, t, EV_TIMER, node);
    ev->a = t;
}

void sim__origin_rearm(sim_t *s)
{
    if (s->od.origin)
        arm(s, 0, repl_origin_deadline(s->od.origin));
}

void sim__edge_rearm(sim_t *s, uint32_t node)
{
    const drive_node_t *d = &s->nodes[node].d;
    if (d->relay)
        arm(s, node, repl_relay_deadline(d->relay));
    else if (d->edge)
        arm(s, node, repl_edge_deadline(d->edge));
}

/* ---- origin -------------------------------------------------------------------- */

/* A consistent snapshot of node's durable replica as of now (the origin's,
 * or a relay's), streamed to peer. */
static void snapshot_stream(sim_t *s, uint32_t node, repl_peer_t peer)
{
    const lww_replica_t *m = node ? &s->nodes[node].m : &s->om;
    size_t nk = s->sc->nkeys, i = 0;
    while (i < nk) {
        const sim_commit_t *cs[256];
        sim_commit_t tmp[256];
        size_t n = 0, bytes = 0;
        for (; i < nk && n < 256 && bytes < 512u * 1024u; i++) {
            const sim_rec_t *r = lww_rec(m, (uint32_t)i);
            if (kv_version_is_zero(r->v))
                continue;
            tmp[n] = (sim_commit_t){.v = r->v,
                                    .key = (uint32_t)i,
                                    .wid = r->val,
                                    .len = r->len,
                                    .kind = r->tomb ? OPK_DEL : OPK_PUT};
            cs[n] = &tmp[n];
            bytes += r->len;
            n++;
        }
        if (n == 0)
            break;
        mbatch_t b;
        mbatch_build(&b, cs, NULL, n);
        uint8_t *frame;
        size_t len;
        KV_ASSERT(repl_wire_snapshot_chunk(b.m, n, &frame, &len) == 0);
        mbatch_free(&b);
        sim__send_frame(s, peer, 0, NULL, frame, frame, len);
    }
    uint8_t *frame;
    size_t len;
    uint64_t seq = node ? m->applied_seq : s->ncommits;
    KV_ASSERT(repl_wire_snapshot_end(seq, m->applied_version, SIM_HISTORY, &frame, &len) == 0);
    sim__send_frame(s, peer, 0, NULL, frame, frame, len);
    sim_ev_t *ev = sim__at(s, s->eng.now_ns, EV_SNAPDONE, node);
    ev->conn = peer;
    ev->a = seq;
    s->snapshots++;
}

/* A writer's answer: its status, else the first op's result. */
static void on_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                          const int *results, size_t n)
{
    if (status == 0 && n && results)
        status = results[0];
    sim__write_done(d->ctx, (uint32_t)token, status, seq);
}

static void origin_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *a)
{
    sim__send_frame(d->ctx, peer, 0, repl_buf_ref(a->u.send.buf), NULL, a->u.send.data,
                    a->u.send.len);
}

static void origin_close(drive_node_t *d, repl_peer_t peer)
{
    sim__close(d->ctx, peer, 0);
}

static void origin_persist(drive_node_t *d)
{
    sim_t *s = d->ctx;
    sim__at(s, s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->origin_disk, &s->rng_disk) * 1e6),
            EV_PERSIST, 0);
}

static uint32_t edge_idx(const drive_node_t *d);

static void origin_read_log(drive_node_t *d, repl_peer_t peer, uint64_t from_seq, size_t max_bytes)
{
    sim_t *s = d->ctx;
    sim_ev_t *ev =
        sim__at(s, s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->read_disk, &s->rng_disk) * 1e6),
                EV_READLOG, d->origin ? 0 : edge_idx(d));
    ev->conn = peer;
    ev->a = from_seq;
    ev->b = max_bytes;
}

static void origin_snapshot_hook(drive_node_t *d, repl_peer_t peer, uint64_t min_seq)
{
    (void)min_seq; /* the durable model holds every commit (a relay's: its log's end) */
    snapshot_stream(d->ctx, d->origin ? 0 : edge_idx(d), peer);
}

static void origin_trim(drive_node_t *d, uint64_t below_seq)
{
    sim_t *s = d->ctx;
    if (below_seq > s->log_first)
        s->log_first = below_seq;
}

static void origin_alarm(drive_node_t *d, const char *reason)
{
    sim_t *s = d->ctx;
    s->alarms++;
    if (!s->opt.quiet)
        fprintf(stderr, "edgekv-sim: t=%.3f s origin ALARM: %s\n", (double)s->eng.now_ns / 1e9,
                reason);
}

/* A committed op fails (write_fail_p): it is logged as a no-op. */
static int origin_op_fails(drive_node_t *d, const repl_mutation_t *m)
{
    sim_t *s = d->ctx;
    (void)m;
    if (s->sc->write_fail_p > 0 && sim_rng_unit(&s->rng_disk) < s->sc->write_fail_p)
        return KV_EIO;
    return 0;
}

/* The durable log (sim_commit_t), with what the metrics need. */
static void origin_logged(drive_node_t *d, const repl_mutation_t *m, int fail)
{
    sim_t *s = d->ctx;
    const repl_op_t *op = &m->op;
    if (op->kind != REPL_OP_PUT && op->kind != REPL_OP_DELETE) {
        sim__commit(s, m->seq, m->version, 0, 0, 0, OPK_NOOP);
        return;
    }
    uint32_t key = lww_keys_find(s->keys, op->ns_id, op->key, op->key_len);
    KV_ASSERT(key < s->sc->nkeys);
    if (fail) {
        sim__commit(s, m->seq, m->version, key, 0, 0, OPK_NOOP);
        return;
    }
    bool put = op->kind == REPL_OP_PUT;
    sim__commit(s, m->seq, m->version, key, put ? lww_keys_value(s->keys, op) : 0,
                put ? (uint32_t)op->value_len : 0, put ? OPK_PUT : OPK_DEL);
}

static const drive_ops_t ORIGIN_OPS = {
    .send = origin_send,
    .close = origin_close,
    .write_done = on_write_done,
    .alarm = origin_alarm,
    .persist = origin_persist,
    .read_log = origin_read_log,
    .snapshot = origin_snapshot_hook,
    .trim = origin_trim,
    .op_fails = origin_op_fails,
    .logged = origin_logged,
};

void sim__origin_drain(sim_t *s, repl_actions_t *a)
{
    s->hash_key = NULL; /* buffers of earlier calls may be freed and reused */
    drive_run(&s->od, a);
}

void sim__origin_start(sim_t *s, bool restart)
{
    const sim_scenario_t *sc = s->sc;
    repl_origin_config_t c;
    repl_origin_config_default(&c);
    c.node_id = 1;
    c.wall = sim__core_wall;
    c.wall_ctx = &s->nodes[0];
    memcpy(c.history_id, SIM_HISTORY, sizeof c.history_id);
    c.last_seq = s->ncommits;
    c.log_first_seq = s->log_first ? s->log_first : 1;
    if (c.log_first_seq > c.last_seq + 1)
        c.log_first_seq = c.last_seq + 1;
    c.hlc_last = s->om.hlc_max;
    c.heartbeat_interval_ms = sc->heartbeat_ms;
    c.log_retention = sc->log_retention;
    if (c.log_retention_max < c.log_retention)
        c.log_retention_max = c.log_retention;
    repl_origin_t *o;
    KV_ASSERT(repl_origin_create(&c, &o) == 0);
    drive_init(&s->od, o, NULL, &s->om, &ORIGIN_OPS, s);
    if (restart)
        for (size_t i = 0; i < s->nsaved_acks; i++)
            if (s->saved_acks[i].acked_seq <= c.last_seq)
                (void)repl_origin_restore_edge(o, s->saved_acks[i].node_id, NULL,
                                               s->saved_acks[i].acked_seq,
                                               s->saved_acks[i].last_ack_ms);
    sim_node_t *n = &s->nodes[0];
    n->up = true;
    n->timer_ns = UINT64_MAX;
    sim__origin_rearm(s);
}

void sim__origin_crash(sim_t *s)
{
    sim_node_t *n = &s->nodes[0];
    if (!n->up)
        return;
    free(s->saved_acks);
    s->saved_acks = calloc(KV_REPL_EDGES_MAX, sizeof *s->saved_acks);
    KV_ASSERT(s->saved_acks != NULL);
    s->nsaved_acks =
        repl_origin_edges(s->od.origin, sim__mono_ms(s), s->saved_acks, KV_REPL_EDGES_MAX);
    repl_origin_destroy(s->od.origin);
    s->od.origin = NULL;
    drive_forget(&s->od); /* a PERSIST in flight was not durable: lost */
    n->up = false;
    n->inc++;
    n->timer_ns = UINT64_MAX;
    for (uint32_t id = 1; id <= s->nconns; id++) {
        sim_conn_t *c = &s->conns[id];
        if (c->origin_open && c->up == 0)
            sim__close(s, id, 0); /* the kernel resets its sockets */
    }
    for (size_t i = 0; i < s->nwrites; i++)
        if (s->writes[i].state == W_PENDING && s->writes[i].edge == 0 && s->writes[i].in_core)
            sim__write_done(s, (uint32_t)i + 1, KV_EUNAVAILABLE, 0);
}

static void do_persist(sim_t *s)
{
    ORIGIN_CALL(s, drive_persisted(&s->od, 0, sim__mono_ms(s), &a_));
}

/* READ_LOG at the origin, or at a relay (its window of the same log). */
static void do_read_log(sim_t *s, const sim_ev_t *ev)
{
    uint64_t from = ev->a;
    size_t max_bytes = ev->b, bytes = 0, n = 0;
    enum { READ_MAX = 1024 };
    const sim_commit_t *cs[READ_MAX] = {0}; /* zeroed: -O2 cannot see n bounds the reads */
    uint64_t seqs[READ_MAX] = {0};
    const sim_node_t *rn = ev->node ? &s->nodes[ev->node] : NULL;
    uint64_t first = rn ? rn->rlog_first : s->log_first;
    uint64_t last = rn ? rn->m.applied_seq : s->ncommits;
    if (from >= first && (!rn || first)) {
        for (uint64_t q = from; q <= last && n < READ_MAX; q++) {
            const sim_commit_t *c = &s->commits[q - 1];
            size_t cost = c->len + 64;
            if (n > 0 && bytes + cost > max_bytes)
                break;
            cs[n] = c;
            seqs[n++] = q;
            bytes += cost;
        }
    }
    mbatch_t b;
    mbatch_build(&b, cs, seqs, n);
    if (rn)
        EDGE_CALL(s, ev->node,
                  repl_relay_log_read(rn->d.relay, ev->conn, 0, b.m, n, sim__mono_ms(s), &a_));
    else
        ORIGIN_CALL(s,
                    repl_origin_log_read(s->od.origin, ev->conn, 0, b.m, n, sim__mono_ms(s), &a_));
    mbatch_free(&b);
}

/* ---- edges --------------------------------------------------------------------- */

static uint32_t edge_idx(const drive_node_t *d)
{
    const sim_t *s = d->ctx;
    const sim_node_t *n = (const sim_node_t *)((const char *)d - offsetof(sim_node_t, d));
    return (uint32_t)(n - s->nodes);
}

static void edge_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *a)
{
    sim_t *s = d->ctx;
    KV_ASSERT(peer == s->nodes[edge_idx(d)].conn);
    sim__send_frame(s, peer, DIR_UP, repl_buf_ref(a->u.send.buf), NULL, a->u.send.data,
                    a->u.send.len);
}

static void edge_close(drive_node_t *d, repl_peer_t peer)
{
    sim_t *s = d->ctx;
    sim_node_t *n = &s->nodes[edge_idx(d)];
    sim__close(s, peer, DIR_UP);
    if (n->conn == peer) {
        n->conn = 0;
        n->up_turn++; /* as node/: the next connect dials the next upstream */
    }
}

static void edge_connect(drive_node_t *d)
{
    sim__connect(d->ctx, edge_idx(d));
}

static void edge_step(drive_node_t *d)
{
    sim_t *s = d->ctx;
    sim__at(s, s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->edge_disk, &s->rng_disk) * 1e6),
            EV_APPLY, edge_idx(d));
}

static void edge_alarm(drive_node_t *d, const char *reason)
{
    sim_t *s = d->ctx;
    s->alarms++;
    if (!s->opt.quiet)
        fprintf(stderr, "edgekv-sim: t=%.3f s edge %u ALARM: %s\n", (double)s->eng.now_ns / 1e9,
                edge_idx(d) - 1, reason);
}

/* The replica was emptied: a snapshot begins; until it ends, what the
 * replica holds is not checked for rewinds key by key. */
static void edge_reset(drive_node_t *d)
{
    sim_t *s = d->ctx;
    s->nodes[edge_idx(d)].snapshotting = true;
}

static void edge_applied(drive_node_t *d, const repl_mutation_t *m, uint32_t slot)
{
    sim_t *s = d->ctx;
    uint32_t idx = edge_idx(d);
    sim_node_t *n = &s->nodes[idx];
    (void)m;
    if (!n->snapshotting)
        sim_check_observe(s->ck, idx - 1, slot, lww_rec(&n->m, slot)->v, s->eng.now_ns);
}

static void edge_advanced(drive_node_t *d, uint64_t from, uint64_t to)
{
    sim__edge_advanced(d->ctx, edge_idx(d), from, to);
}

static void edge_history(drive_node_t *d)
{
    sim_t *s = d->ctx;
    uint32_t idx = edge_idx(d);
    sim_node_t *n = &s->nodes[idx];
    if (!n->snapshotting)
        return;
    n->snapshotting = false; /* the snapshot as a whole must not rewind */
    for (uint32_t k = 0; k < s->sc->nkeys; k++)
        sim_check_observe(s->ck, idx - 1, k, lww_rec(&n->m, k)->v, s->eng.now_ns);
}

static const drive_ops_t EDGE_OPS = {
    .send = edge_send,
    .close = edge_close,
    .write_done = on_write_done,
    .alarm = edge_alarm,
    .connect = edge_connect,
    .step = edge_step,
    .reset = edge_reset,
    .applied = edge_applied,
    .advanced = edge_advanced,
    .history = edge_history,
};

/* ---- relays: an edge upstream, an origin downstream ------------------------------ */

static void relay_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *a)
{
    sim_t *s = d->ctx;
    uint32_t idx = edge_idx(d);
    if (peer == s->nodes[idx].conn) {
        edge_send(d, peer, a);
        return;
    }
    KV_ASSERT(s->conns[peer].up == idx);
    sim__send_frame(s, peer, 0, repl_buf_ref(a->u.send.buf), NULL, a->u.send.data, a->u.send.len);
}

static void relay_close(drive_node_t *d, repl_peer_t peer)
{
    sim_t *s = d->ctx;
    uint32_t idx = edge_idx(d);
    if (peer == s->nodes[idx].conn || s->conns[peer].edge == idx)
        edge_close(d, peer);
    else
        sim__close(s, peer, 0);
}

static void relay_trim(drive_node_t *d, uint64_t below_seq)
{
    sim_node_t *n = &((sim_t *)d->ctx)->nodes[edge_idx(d)];
    if (below_seq > n->rlog_first)
        n->rlog_first = below_seq;
}

/* An entry joins the relay's log: it is the origin's entry at that seq. */
static void relay_logged(drive_node_t *d, const repl_mutation_t *m, int fail)
{
    sim_t *s = d->ctx;
    (void)fail;
    KV_ASSERT(m->seq >= 1 && m->seq <= s->ncommits);
    KV_ASSERT(kv_version_cmp(m->version, s->commits[m->seq - 1].v) == 0);
}

static void relay_reset(drive_node_t *d)
{
    ((sim_t *)d->ctx)->nodes[edge_idx(d)].rlog_first = 0; /* the log goes with the data */
    edge_reset(d);
}

/* A snapshot's end (or a first history) is stored: the relay's log starts
 * after it (relay.c rebuilds its origin part there). */
static void relay_history(drive_node_t *d)
{
    sim_node_t *n = &((sim_t *)d->ctx)->nodes[edge_idx(d)];
    n->rlog_first = n->m.applied_seq + 1;
    edge_history(d);
}

static const drive_ops_t RELAY_OPS = {
    .send = relay_send,
    .close = relay_close,
    .write_done = on_write_done,
    .alarm = edge_alarm,
    .read_log = origin_read_log,
    .snapshot = origin_snapshot_hook,
    .trim = relay_trim,
    .connect = edge_connect,
    .step = edge_step,
    .logged = relay_logged,
    .reset = relay_reset,
    .applied = edge_applied,
    .advanced = edge_advanced,
    .history = relay_history,
};

/* Once a relay holds the history, its children start (sim.c, start). */
static void relay_kids(sim_t *s, uint32_t idx)
{
    sim_node_t *n = &s->nodes[idx];
    if (!n->d.relay || n->kids_started || !n->m.history[0])
        return;
    n->kids_started = true;
    for (uint32_t k = 1; k < s->nnodes; k++)
        if (s->nodes[k].parent == idx && !s->nodes[k].up && !s->nodes[k].d.edge)
            sim__edge_start(s, k, false);
}

void sim__edge_drain(sim_t *s, uint32_t idx, repl_actions_t *a)
{
    s->hash_key = NULL;
    drive_run(&s->nodes[idx].d, a);
}

void sim__edge_start(sim_t *s, uint32_t idx, bool restart)
{
    const sim_scenario_t *sc = s->sc;
    sim_node_t *n = &s->nodes[idx];
    repl_edge_config_t c;
    repl_edge_config_default(&c);
    c.node_id = 100 + idx;
    c.wall = sim__core_wall;
    c.wall_ctx = n;
    memcpy(c.history_id, n->m.history, sizeof c.history_id);
    c.applied_seq = n->m.applied_seq;
    c.applied_version = n->m.applied_version;
    c.hlc_last = n->m.hlc_max;
    c.propagation_bound_ms = sc->bound_ms;
    c.reconnect_min_ms = sc->reconnect_min_ms;
    c.reconnect_max_ms = sc->reconnect_max_ms;
    c.link_timeout_ms = sc->link_timeout_ms;
    c.ack_coalesce_idle = sc->ack_coalesce_idle;
    c.seed = s->seed * 1000003u + idx * 7919u + n->inc;
    n->up = true;
    n->timer_ns = UINT64_MAX;
    n->snapshotting = false;
    n->up_turn = 0; /* a new process dials its first upstream first */
    (void)restart;
    if (n->is_relay) {
        repl_relay_config_t rc;
        repl_relay_config_default(&rc);
        rc.up = c;
        rc.down.wall = sim__core_wall;
        rc.down.wall_ctx = n;
        rc.down.heartbeat_interval_ms = sc->heartbeat_ms;
        rc.down.log_retention = sc->log_retention;
        if (rc.down.log_retention_max < rc.down.log_retention)
            rc.down.log_retention_max = rc.down.log_retention;
        rc.down.log_first_seq = n->rlog_first; /* its stored log survives a crash */
        repl_relay_t *r;
        KV_ASSERT(repl_relay_create(&rc, &r) == 0);
        for (size_t i = 0; i < n->nsaved_down; i++) /* as node/ does from its store */
            if (n->saved_down[i].acked_seq <= n->m.applied_seq)
                (void)repl_relay_restore_edge(r, n->saved_down[i].node_id, NULL,
                                              n->saved_down[i].acked_seq,
                                              n->saved_down[i].last_ack_ms);
        drive_init_relay(&n->d, r, &n->m, &RELAY_OPS, s);
        EDGE_CALL(s, idx, repl_relay_start(r, sim__mono_ms(s), &a_));
        relay_kids(s, idx);
        return;
    }
    repl_edge_t *e;
    KV_ASSERT(repl_edge_create(&c, &e) == 0);
    drive_init(&n->d, NULL, e, &n->m, &EDGE_OPS, s);
    EDGE_CALL(s, idx, repl_edge_start(e, sim__mono_ms(s), &a_));
}

void sim__edge_crash(sim_t *s, uint32_t idx)
{
    sim_node_t *n = &s->nodes[idx];
    if (!n->up)
        return;
    if (n->d.relay) { /* what it knew of its children, as node/ keeps it */
        free(n->saved_down);
        n->saved_down = calloc(KV_REPL_EDGES_MAX, sizeof *n->saved_down);
        KV_ASSERT(n->saved_down != NULL);
        n->nsaved_down =
            repl_relay_edges(n->d.relay, sim__mono_ms(s), n->saved_down, KV_REPL_EDGES_MAX);
    }
    repl_edge_destroy(n->d.edge);
    repl_relay_destroy(n->d.relay);
    n->d.edge = NULL;
    n->d.relay = NULL;
    drive_forget(&n->d); /* an unfinished step was not durable */
    n->up = false;
    n->inc++;
    n->timer_ns = UINT64_MAX;
    if (n->conn) {
        sim__close(s, n->conn, DIR_UP); /* the kernel resets the socket */
        n->conn = 0;
    }
    /* A relay's downstream links: the kernel resets them, its children
     * hear it a one-way trip later. */
    for (uint32_t id = 1; id <= s->nconns; id++) {
        sim_conn_t *c = &s->conns[id];
        if (c->up != idx || !c->origin_open)
            continue;
        c->origin_open = false;
        if (!c->broken)
            sim__reset(s, id, s->eng.now_ns + sim__hop_delay_ns(s, c->edge, idx) / 2);
    }
    for (size_t i = 0; i < s->nwrites; i++)
        if (s->writes[i].state == W_PENDING && s->writes[i].edge == idx && s->writes[i].in_core)
            sim__write_done(s, (uint32_t)i + 1, KV_EUNAVAILABLE, 0);
}

static void do_apply(sim_t *s, uint32_t idx)
{
    sim_node_t *n = &s->nodes[idx];
    int rc = 0;
    if (s->sc->apply_fail_p > 0 && sim_rng_unit(&s->rng_disk) < s->sc->apply_fail_p)
        rc = KV_EIO;
    EDGE_CALL(s, idx, drive_stepped(&n->d, rc, sim__mono_ms(s), &a_));
    relay_kids(s, idx);
}

/* ---- writes -------------------------------------------------------------------- */

void sim__push_write(sim_t *s, uint32_t wid)
{
    sim_write_t *w = &s->writes[wid - 1];
    sim_node_t *n = &s->nodes[w->edge];
    if (!n->up) {
        sim__write_done(s, wid, KV_EUNAVAILABLE, 0);
        return;
    }
    repl_op_t op;
    memset(&op, 0, sizeof op);
    char key[16];
    memcpy(op.ns_id, SIM_NS, sizeof op.ns_id);
    sim__key(w->key, key, &op.key_len);
    op.key = key;
    if (w->kind == OPK_PUT) {
        op.kind = REPL_OP_PUT;
        sim__value(s, wid, w->len, &op.value);
        op.value_len = w->len;
    } else {
        op.kind = REPL_OP_DELETE;
    }
    w->in_core = true; /* a crash of its node fails it */
    uint64_t now_ms = sim__mono_ms(s);
    if (w->edge == 0)
        ORIGIN_CALL(s, repl_origin_write(s->od.origin, wid, &op, 1, now_ms, &a_));
    else if (n->d.relay)
        EDGE_CALL(s, w->edge, repl_relay_write(n->d.relay, wid, &op, 1, now_ms, &a_));
    else
        EDGE_CALL(s, w->edge, repl_edge_write(n->d.edge, wid, &op, 1, now_ms, &a_));
}

/* ---- events -------------------------------------------------------------------- */

static void release(const sim_ev_t *ev)
{
    if (ev->flags & EVF_OWN)
        kv_free(ev->p);
    else
        repl_buf_unref(ev->p);
}

/* The upstream side of a connection: the origin or a relay's origin part. */
static void upper_bytes(sim_t *s, uint32_t up, uint32_t id, const uint8_t *p, size_t len)
{
    uint64_t now_ms = sim__mono_ms(s);
    if (up == 0)
        ORIGIN_CALL(s, repl_origin_on_bytes(s->od.origin, id, p, len, now_ms, &a_));
    else
        EDGE_CALL(s, up, repl_relay_down_bytes(s->nodes[up].d.relay, id, p, len, now_ms, &a_));
}

/* The downstream side: an edge, or a relay's edge part. */
static void lower_bytes(sim_t *s, uint32_t idx, const uint8_t *p, size_t len)
{
    sim_node_t *n = &s->nodes[idx];
    uint64_t now_ms = sim__mono_ms(s);
    if (n->d.relay)
        EDGE_CALL(s, idx, repl_relay_up_bytes(n->d.relay, p, len, now_ms, &a_));
    else
        EDGE_CALL(s, idx, repl_edge_on_bytes(n->d.edge, p, len, now_ms, &a_));
}

static void lower_connect_failed(sim_t *s, uint32_t idx, uint64_t now_ms)
{
    sim_node_t *n = &s->nodes[idx];
    n->up_turn++; /* as node/: the next upstream in the list */
    if (n->d.relay)
        EDGE_CALL(s, idx, repl_relay_up_connect_failed(n->d.relay, now_ms, &a_));
    else
        EDGE_CALL(s, idx, repl_edge_on_connect_failed(n->d.edge, now_ms, &a_));
}

static void on_deliver(sim_t *s, const sim_ev_t *ev)
{
    sim_conn_t *c = &s->conns[ev->conn];
    if (ev->flags & DIR_UP) {
        if (c->origin_open)
            upper_bytes(s, c->up, ev->conn, ev->data, ev->len);
    } else if (c->edge_open) {
        KV_ASSERT(s->nodes[c->edge].conn == ev->conn);
        lower_bytes(s, c->edge, ev->data, ev->len);
    }
    release(ev);
}

static void edge_lost_conn(sim_t *s, sim_conn_t *c, uint32_t id)
{
    c->edge_open = false;
    sim_node_t *n = &s->nodes[c->edge];
    if (n->conn == id) {
        n->conn = 0;
        n->up_turn++; /* as node/: the next connect dials the next upstream */
    }
    uint64_t now_ms = sim__mono_ms(s);
    if (n->d.relay)
        EDGE_CALL(s, c->edge, repl_relay_up_disconnect(n->d.relay, now_ms, &a_));
    else
        EDGE_CALL(s, c->edge, repl_edge_on_disconnect(n->d.edge, now_ms, &a_));
}

static void origin_lost_conn(sim_t *s, sim_conn_t *c, uint32_t id)
{
    c->origin_open = false;
    uint64_t now_ms = sim__mono_ms(s);
    if (c->up == 0)
        ORIGIN_CALL(s, repl_origin_on_disconnect(s->od.origin, id, now_ms, &a_));
    else
        EDGE_CALL(s, c->up, repl_relay_down_disconnect(s->nodes[c->up].d.relay, id, now_ms, &a_));
}

static void on_connect(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *n = &s->nodes[ev->node];
    uint64_t now_ms = sim__mono_ms(s);
    uint32_t up = n->dial;
    if (!ev->a || !s->nodes[up].up) {
        s->connects_failed++;
        lower_connect_failed(s, ev->node, now_ms);
        return;
    }
    uint32_t id = sim__conn_new(s, ev->node);
    n->conn = id;
    n->conn_up_ns = s->eng.now_ns;
    n->reconnects++;
    char name[32]; /* its certificate's name: one per edge node */
    snprintf(name, sizeof name, "edge%u", (unsigned)ev->node);
    if (up == 0)
        ORIGIN_CALL(s, repl_origin_on_connect(s->od.origin, id, name, now_ms, &a_));
    else
        EDGE_CALL(s, up, repl_relay_down_connect(s->nodes[up].d.relay, id, name, now_ms, &a_));
    if (!s->conns[id].origin_open) { /* refused at once */
        s->conns[id].edge_open = false;
        n->conn = 0;
        lower_connect_failed(s, ev->node, now_ms);
        return;
    }
    if (n->d.relay)
        EDGE_CALL(s, ev->node, repl_relay_up_connect(n->d.relay, id, now_ms, &a_));
    else
        EDGE_CALL(s, ev->node, repl_edge_on_connect(n->d.edge, id, now_ms, &a_));
}

static void on_timer(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *n = &s->nodes[ev->node];
    if (ev->a != n->timer_ns)
        return; /* superseded */
    n->timer_ns = UINT64_MAX;
    uint64_t now_ms = sim__mono_ms(s);
    if (ev->node == 0)
        ORIGIN_CALL(s, repl_origin_tick(s->od.origin, now_ms, &a_));
    else if (n->d.relay)
        EDGE_CALL(s, ev->node, repl_relay_tick(n->d.relay, now_ms, &a_));
    else
        EDGE_CALL(s, ev->node, repl_edge_tick(n->d.edge, now_ms, &a_));
}

void sim__push_event(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *n = &s->nodes[ev->node];
    sim_conn_t *c = ev->conn ? &s->conns[ev->conn] : NULL;
    switch (ev->kind) {
    case EV_DELIVER:
        on_deliver(s, ev);
        return;
    case EV_FIN:
        if (ev->flags & DIR_UP) {
            if (c->origin_open)
                origin_lost_conn(s, c, ev->conn);
        } else if (c->edge_open) {
            edge_lost_conn(s, c, ev->conn);
        }
        return;
    case EV_RESET:
        if (c->edge_open)
            edge_lost_conn(s, c, ev->conn);
        if (c->origin_open)
            origin_lost_conn(s, c, ev->conn);
        return;
    case EV_FLUSH:
        if (c->origin_open && c->up == 0)
            ORIGIN_CALL(
                s, repl_origin_on_flushed(s->od.origin, ev->conn, ev->a, sim__mono_ms(s), &a_));
        else if (c->origin_open)
            EDGE_CALL(s, c->up,
                      repl_relay_down_flushed(s->nodes[c->up].d.relay, ev->conn, ev->a,
                                              sim__mono_ms(s), &a_));
        return;
    default:
        break;
    }
    /* Node events: void when the node crashed since. */
    if (ev->inc != n->inc || !n->up)
        return;
    switch (ev->kind) {
    case EV_TIMER:
        on_timer(s, ev);
        break;
    case EV_CONNECT:
        on_connect(s, ev);
        break;
    case EV_PERSIST:
        do_persist(s);
        break;
    case EV_READLOG:
        do_read_log(s, ev);
        break;
    case EV_SNAPDONE:
        if (ev->node == 0)
            ORIGIN_CALL(s, repl_origin_snapshot_sent(s->od.origin, ev->conn, 0, ev->a,
                                                     sim__mono_ms(s), &a_));
        else
            EDGE_CALL(
                s, ev->node,
                repl_relay_snapshot_sent(n->d.relay, ev->conn, 0, ev->a, sim__mono_ms(s), &a_));
        break;
    case EV_APPLY:
        do_apply(s, ev->node);
        break;
    default:
        KV_ASSERT(!"unexpected event kind in push");
    }
}
