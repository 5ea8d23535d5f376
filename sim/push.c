/*
 * push.c - the simulator's driver of the real replication core: it executes
 * the actions of one repl_origin_t and N repl_edge_t the way node/ does,
 * with virtual time, the links of net.c and an in-memory storage model.
 *
 * Storage model (the LWW rules of storage/): a replica is an array of
 * records by key id (version, value id, length, tombstone); the origin's
 * durable log is the array of commits (sim_commit_t) from log_first on.
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

uint32_t sim__key_id(const char *key, size_t len)
{
    KV_ASSERT(len >= 2 && key[0] == 'k');
    uint32_t v = 0;
    for (size_t i = 1; i < len; i++)
        v = v * 10 + (uint32_t)(key[i] - '0');
    return v;
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

static uint32_t value_wid(const repl_op_t *op)
{
    uint32_t wid = 0;
    if (op->value_len >= sizeof wid)
        memcpy(&wid, op->value, sizeof wid);
    return wid;
}

/* Mutations for records or log entries, with keys and values in one arena
 * (free both with free()). */
typedef struct {
    repl_mutation_t *m;
    uint8_t *arena;
    size_t n;
} mbatch_t;

static void mbatch_build(mbatch_t *b, const sim_commit_t *const *cs, const uint64_t *seqs,
                         size_t n)
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
    uint64_t t = sim__virtual_ns(s, n, deadline_ms);
    if (t >= n->timer_ns)
        return;
    n->timer_ns = t;
    sim_ev_t *ev = sim__at(s, t, EV_TIMER, node);
    ev->a = t;
}

void sim__origin_rearm(sim_t *s)
{
    if (s->o)
        arm(s, 0, repl_origin_deadline(s->o));
}

void sim__edge_rearm(sim_t *s, uint32_t node)
{
    if (s->nodes[node].e)
        arm(s, node, repl_edge_deadline(s->nodes[node].e));
}

/* ---- origin -------------------------------------------------------------------- */

static void origin_snapshot(sim_t *s, repl_peer_t peer)
{
    /* A consistent snapshot: the durable model as of now. */
    size_t nk = s->sc->nkeys, i = 0;
    while (i < nk) {
        const sim_commit_t *cs[256];
        sim_commit_t tmp[256];
        size_t n = 0, bytes = 0;
        for (; i < nk && n < 256 && bytes < 512u * 1024u; i++) {
            const sim_rec_t *r = &s->om.recs[i];
            if (kv_version_is_zero(r->v))
                continue;
            tmp[n] = (sim_commit_t){.v = r->v, .key = (uint32_t)i, .wid = r->wid, .len = r->len,
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
    KV_ASSERT(repl_wire_snapshot_end(s->ncommits, SIM_HISTORY, &frame, &len) == 0);
    sim__send_frame(s, peer, 0, NULL, frame, frame, len);
    sim_ev_t *ev = sim__at(s, s->eng.now_ns, EV_SNAPDONE, 0);
    ev->conn = peer;
    ev->a = s->ncommits;
    s->snapshots++;
}

/* A writer's answer: its status, else the first op's result. */
static void write_done(sim_t *s, const repl_action_t *a)
{
    int status = a->u.write_done.status;
    if (status == 0 && a->u.write_done.n && a->u.write_done.results)
        status = a->u.write_done.results[0];
    sim__write_done(s, (uint32_t)a->u.write_done.token, status, a->u.write_done.seq);
}

static void origin_act(sim_t *s, const repl_action_t *a)
{
    sim_ev_t *ev;
    switch (a->kind) {
    case REPL_ACT_SEND:
        sim__send_frame(s, a->u.send.peer, 0, repl_buf_ref(a->u.send.buf), NULL, a->u.send.data,
                        a->u.send.len);
        break;
    case REPL_ACT_CLOSE:
        sim__close(s, a->u.close.peer, 0);
        break;
    case REPL_ACT_PERSIST:
        KV_ASSERT(!s->persist_pending);
        s->persist_pending = true;
        s->persist_batch = a->u.persist.batch_id;
        s->persist_muts = a->u.persist.muts;
        s->persist_n = a->u.persist.n;
        sim__at(s, s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->origin_disk, &s->rng_disk) * 1e6),
                EV_PERSIST, 0);
        break;
    case REPL_ACT_READ_LOG:
        ev = sim__at(s, s->eng.now_ns +
                            (uint64_t)(sim__sample_ms(s->sc->read_disk, &s->rng_disk) * 1e6),
                     EV_READLOG, 0);
        ev->conn = a->u.read_log.peer;
        ev->a = a->u.read_log.from_seq;
        ev->b = a->u.read_log.max_bytes;
        break;
    case REPL_ACT_SNAPSHOT:
        origin_snapshot(s, a->u.snapshot.peer);
        break;
    case REPL_ACT_TRIM_LOG:
        if (a->u.trim.below_seq > s->log_first)
            s->log_first = a->u.trim.below_seq;
        break;
    case REPL_ACT_WRITE_DONE:
        write_done(s, a);
        break;
    case REPL_ACT_ALARM:
        s->alarms++;
        if (!s->opt.quiet)
            fprintf(stderr, "edgekv-sim: t=%.3f s origin ALARM: %s\n",
                    (double)s->eng.now_ns / 1e9, a->u.alarm.reason);
        break;
    default:
        KV_ASSERT(!"origin emitted an edge action");
    }
}

void sim__origin_drain(sim_t *s, repl_actions_t *a)
{
    s->call_id++;
    s->hash_key = NULL; /* buffers of earlier calls may be freed and reused */
    for (;;) {
        for (size_t i = 0; i < a->n; i++)
            origin_act(s, &a->acts[i]);
        a->n = 0;
        repl_origin_poll(s->o, a);
        if (a->n == 0)
            break;
    }
}

void sim__origin_start(sim_t *s, bool restart)
{
    const sim_scenario_t *sc = s->sc;
    repl_origin_config_t c;
    repl_origin_config_default(&c);
    c.node_id = 1;
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
    KV_ASSERT(repl_origin_create(&c, &s->o) == 0);
    if (restart)
        for (size_t i = 0; i < s->nsaved_acks; i++)
            if (s->saved_acks[i].acked_seq <= c.last_seq)
                (void)repl_origin_restore_edge(s->o, s->saved_acks[i].node_id,
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
        repl_origin_edges(s->o, sim__local_ms(s, n), s->saved_acks, KV_REPL_EDGES_MAX);
    repl_origin_destroy(s->o);
    s->o = NULL;
    s->persist_pending = false; /* not durable: lost */
    n->up = false;
    n->inc++;
    n->timer_ns = UINT64_MAX;
    for (uint32_t id = 1; id <= s->nconns; id++) {
        sim_conn_t *c = &s->conns[id];
        if (c->origin_open)
            sim__close(s, id, 0); /* the kernel resets its sockets */
    }
    for (size_t i = 0; i < s->nwrites; i++)
        if (s->writes[i].state == W_PENDING && s->writes[i].edge == 0 && s->writes[i].in_core)
            sim__write_done(s, (uint32_t)i + 1, KV_EUNAVAILABLE, 0);
}

static void do_persist(sim_t *s)
{
    KV_ASSERT(s->persist_pending);
    s->persist_pending = false;
    size_t n = s->persist_n;
    int *results = calloc(n ? n : 1, sizeof *results);
    KV_ASSERT(results != NULL);
    for (size_t i = 0; i < n; i++) {
        const repl_mutation_t *m = &s->persist_muts[i];
        KV_ASSERT(m->seq == s->ncommits + 1);
        const repl_op_t *op = &m->op;
        if (op->kind != REPL_OP_PUT && op->kind != REPL_OP_DELETE) {
            sim__commit(s, m->seq, m->version, 0, 0, 0, OPK_NOOP);
            continue;
        }
        uint32_t key = sim__key_id(op->key, op->key_len);
        if (s->sc->write_fail_p > 0 && sim_rng_unit(&s->rng_disk) < s->sc->write_fail_p) {
            results[i] = KV_EIO; /* logged as a no-op */
            sim__commit(s, m->seq, m->version, key, 0, 0, OPK_NOOP);
            continue;
        }
        bool put = op->kind == REPL_OP_PUT;
        uint32_t wid = put ? value_wid(op) : 0, len = put ? (uint32_t)op->value_len : 0;
        KV_ASSERT(sim__model_apply(&s->om, key, m->version, wid, len, !put));
        sim__commit(s, m->seq, m->version, key, wid, len, put ? OPK_PUT : OPK_DEL);
    }
    s->om.applied_seq = s->ncommits;
    ORIGIN_CALL(s, repl_origin_persisted(s->o, s->persist_batch, 0, results,
                                         sim__local_ms(s, &s->nodes[0]), &a_));
    free(results);
}

static void do_read_log(sim_t *s, const sim_ev_t *ev)
{
    uint64_t from = ev->a;
    size_t max_bytes = ev->b, bytes = 0, n = 0;
    enum { READ_MAX = 1024 };
    const sim_commit_t *cs[READ_MAX];
    uint64_t seqs[READ_MAX];
    if (from >= s->log_first) {
        for (uint64_t q = from; q <= s->ncommits && n < READ_MAX; q++) {
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
    ORIGIN_CALL(s, repl_origin_log_read(s->o, ev->conn, 0, b.m, n, sim__local_ms(s, &s->nodes[0]),
                                        &a_));
    mbatch_free(&b);
}

/* ---- edges --------------------------------------------------------------------- */

static void edge_act(sim_t *s, uint32_t idx, const repl_action_t *a)
{
    sim_node_t *n = &s->nodes[idx];
    switch (a->kind) {
    case REPL_ACT_SEND:
        KV_ASSERT(a->u.send.peer == n->conn);
        sim__send_frame(s, a->u.send.peer, DIR_UP, repl_buf_ref(a->u.send.buf), NULL,
                        a->u.send.data, a->u.send.len);
        break;
    case REPL_ACT_CLOSE:
        sim__close(s, a->u.close.peer, DIR_UP);
        if (n->conn == a->u.close.peer)
            n->conn = 0;
        break;
    case REPL_ACT_CONNECT:
        sim__connect(s, idx);
        break;
    case REPL_ACT_RESET:
    case REPL_ACT_APPLY:
        KV_ASSERT(!n->step);
        n->step = true;
        n->step_reset = a->kind == REPL_ACT_RESET;
        n->step_muts = n->step_reset ? NULL : a->u.apply.muts;
        n->step_n = n->step_reset ? 0 : a->u.apply.n;
        n->step_seq = n->step_reset ? 0 : a->u.apply.seq;
        n->step_hist = n->step_reset ? NULL : a->u.apply.history_id;
        sim__at(s, s->eng.now_ns +
                       (uint64_t)(sim__sample_ms(s->sc->edge_disk, &s->rng_disk) * 1e6),
                EV_APPLY, idx);
        break;
    case REPL_ACT_WRITE_DONE:
        write_done(s, a);
        break;
    case REPL_ACT_ALARM:
        s->alarms++;
        if (!s->opt.quiet)
            fprintf(stderr, "edgekv-sim: t=%.3f s edge %u ALARM: %s\n",
                    (double)s->eng.now_ns / 1e9, idx - 1, a->u.alarm.reason);
        break;
    default:
        KV_ASSERT(!"edge emitted an origin action");
    }
}

void sim__edge_drain(sim_t *s, uint32_t idx, repl_actions_t *a)
{
    s->hash_key = NULL;
    for (;;) {
        for (size_t i = 0; i < a->n; i++)
            edge_act(s, idx, &a->acts[i]);
        a->n = 0;
        repl_edge_poll(s->nodes[idx].e, a);
        if (a->n == 0)
            break;
    }
}

void sim__edge_start(sim_t *s, uint32_t idx, bool restart)
{
    const sim_scenario_t *sc = s->sc;
    sim_node_t *n = &s->nodes[idx];
    repl_edge_config_t c;
    repl_edge_config_default(&c);
    c.node_id = 100 + idx;
    memcpy(c.history_id, n->m.history, sizeof c.history_id);
    c.applied_seq = n->m.applied_seq;
    c.hlc_last = n->m.hlc_max;
    c.propagation_bound_ms = sc->bound_ms;
    c.reconnect_min_ms = sc->reconnect_min_ms;
    c.reconnect_max_ms = sc->reconnect_max_ms;
    c.link_timeout_ms = sc->link_timeout_ms;
    c.seed = s->seed * 1000003u + idx * 7919u + n->inc;
    KV_ASSERT(repl_edge_create(&c, &n->e) == 0);
    n->up = true;
    n->timer_ns = UINT64_MAX;
    n->step = false;
    n->snapshotting = false;
    (void)restart;
    EDGE_CALL(s, idx, repl_edge_start(n->e, sim__local_ms(s, n), &a_));
}

void sim__edge_crash(sim_t *s, uint32_t idx)
{
    sim_node_t *n = &s->nodes[idx];
    if (!n->up)
        return;
    repl_edge_destroy(n->e);
    n->e = NULL;
    n->up = false;
    n->inc++;
    n->step = false; /* an unfinished step was not durable */
    n->timer_ns = UINT64_MAX;
    if (n->conn) {
        sim__close(s, n->conn, DIR_UP); /* the kernel resets the socket */
        n->conn = 0;
    }
    /* A relay takes its children's connections down with it. */
    for (uint32_t d = 1; d < s->nnodes; d++) {
        if (d == idx || !s->nodes[d].conn)
            continue;
        for (uint32_t x = s->nodes[d].parent; x != 0; x = s->nodes[x].parent) {
            if (x == idx) {
                sim__reset(s, s->nodes[d].conn,
                           s->eng.now_ns + sim__path_delay_ns(s, d) / 2);
                break;
            }
        }
    }
    for (size_t i = 0; i < s->nwrites; i++)
        if (s->writes[i].state == W_PENDING && s->writes[i].edge == idx && s->writes[i].in_core)
            sim__write_done(s, (uint32_t)i + 1, KV_EUNAVAILABLE, 0);
}

static void do_apply(sim_t *s, uint32_t idx)
{
    sim_node_t *n = &s->nodes[idx];
    KV_ASSERT(n->step);
    n->step = false;
    int rc = 0;
    if (s->sc->apply_fail_p > 0 && sim_rng_unit(&s->rng_disk) < s->sc->apply_fail_p)
        rc = KV_EIO;
    uint64_t now_ms = sim__local_ms(s, n);
    if (n->step_reset) {
        if (rc == 0) {
            memset(n->m.recs, 0, s->sc->nkeys * sizeof *n->m.recs);
            n->m.applied_seq = 0;
            n->m.history[0] = '\0';
            n->snapshotting = true;
        }
        EDGE_CALL(s, idx, repl_edge_reset_done(n->e, rc, now_ms, &a_));
        return;
    }
    if (rc == 0) {
        for (size_t i = 0; i < n->step_n; i++) {
            const repl_mutation_t *m = &n->step_muts[i];
            const repl_op_t *op = &m->op;
            if (op->kind != REPL_OP_PUT && op->kind != REPL_OP_DELETE)
                continue;
            uint32_t key = sim__key_id(op->key, op->key_len);
            bool put = op->kind == REPL_OP_PUT;
            sim__model_apply(&n->m, key, m->version, put ? value_wid(op) : 0,
                             put ? (uint32_t)op->value_len : 0, !put);
            if (!n->snapshotting)
                sim_check_observe(s->ck, idx - 1, key, n->m.recs[key].v, s->eng.now_ns);
        }
        if (n->step_seq) {
            uint64_t from = n->m.applied_seq;
            n->m.applied_seq = n->step_seq;
            sim__edge_advanced(s, idx, from, n->step_seq);
        }
        if (n->step_hist) {
            memcpy(n->m.history, n->step_hist, sizeof n->m.history);
            n->m.history[32] = '\0';
            if (n->snapshotting) {
                n->snapshotting = false; /* the snapshot as a whole must not rewind */
                for (uint32_t k = 0; k < s->sc->nkeys; k++)
                    sim_check_observe(s->ck, idx - 1, k, n->m.recs[k].v, s->eng.now_ns);
            }
        }
    }
    EDGE_CALL(s, idx, repl_edge_applied(n->e, rc, n->step_seq, now_ms, &a_));
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
    uint64_t now_ms = sim__local_ms(s, n);
    if (w->edge == 0)
        ORIGIN_CALL(s, repl_origin_write(s->o, wid, &op, 1, now_ms, &a_));
    else
        EDGE_CALL(s, w->edge, repl_edge_write(n->e, wid, &op, 1, now_ms, &a_));
}

/* ---- events -------------------------------------------------------------------- */

static void release(const sim_ev_t *ev)
{
    if (ev->flags & EVF_OWN)
        kv_free(ev->p);
    else
        repl_buf_unref(ev->p);
}

static void on_deliver(sim_t *s, const sim_ev_t *ev)
{
    sim_conn_t *c = &s->conns[ev->conn];
    if (ev->flags & DIR_UP) {
        if (c->origin_open)
            ORIGIN_CALL(s, repl_origin_on_bytes(s->o, ev->conn, ev->data, ev->len,
                                                sim__local_ms(s, &s->nodes[0]), &a_));
    } else if (c->edge_open) {
        sim_node_t *n = &s->nodes[c->edge];
        KV_ASSERT(n->conn == ev->conn);
        EDGE_CALL(s, c->edge, repl_edge_on_bytes(n->e, ev->data, ev->len, sim__local_ms(s, n), &a_));
    }
    release(ev);
}

static void edge_lost_conn(sim_t *s, sim_conn_t *c, uint32_t id)
{
    c->edge_open = false;
    sim_node_t *n = &s->nodes[c->edge];
    if (n->conn == id)
        n->conn = 0;
    EDGE_CALL(s, c->edge, repl_edge_on_disconnect(n->e, sim__local_ms(s, n), &a_));
}

static void origin_lost_conn(sim_t *s, sim_conn_t *c, uint32_t id)
{
    c->origin_open = false;
    ORIGIN_CALL(s, repl_origin_on_disconnect(s->o, id, sim__local_ms(s, &s->nodes[0]), &a_));
}

static void on_connect(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *n = &s->nodes[ev->node];
    uint64_t now_ms = sim__local_ms(s, n);
    if (!ev->a || !sim__path_up(s, ev->node)) {
        s->connects_failed++;
        EDGE_CALL(s, ev->node, repl_edge_on_connect_failed(n->e, now_ms, &a_));
        return;
    }
    uint32_t id = sim__conn_new(s, ev->node);
    n->conn = id;
    n->conn_up_ns = s->eng.now_ns;
    n->reconnects++;
    ORIGIN_CALL(s, repl_origin_on_connect(s->o, id, sim__local_ms(s, &s->nodes[0]), &a_));
    if (!s->conns[id].origin_open) { /* the origin refused it at once */
        s->conns[id].edge_open = false;
        n->conn = 0;
        EDGE_CALL(s, ev->node, repl_edge_on_connect_failed(n->e, now_ms, &a_));
        return;
    }
    EDGE_CALL(s, ev->node, repl_edge_on_connect(n->e, id, now_ms, &a_));
}

static void on_timer(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *n = &s->nodes[ev->node];
    if (ev->a != n->timer_ns)
        return; /* superseded */
    n->timer_ns = UINT64_MAX;
    uint64_t now_ms = sim__local_ms(s, n);
    if (ev->node == 0)
        ORIGIN_CALL(s, repl_origin_tick(s->o, now_ms, &a_));
    else
        EDGE_CALL(s, ev->node, repl_edge_tick(n->e, now_ms, &a_));
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
        if (c->origin_open)
            ORIGIN_CALL(s, repl_origin_on_flushed(s->o, ev->conn, ev->a,
                                                  sim__local_ms(s, &s->nodes[0]), &a_));
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
        ORIGIN_CALL(s, repl_origin_snapshot_sent(s->o, ev->conn, 0, ev->a,
                                                 sim__local_ms(s, &s->nodes[0]), &a_));
        break;
    case EV_APPLY:
        do_apply(s, ev->node);
        break;
    default:
        KV_ASSERT(!"unexpected event kind in push");
    }
}
