/*
 * repl_testkit_world.c - the world of repl_testkit.h: one origin, a few
 * edges, in-memory links, storage fakes and virtual time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_testkit.h"
#include "wire.h"

#define TK_STEP_LIMIT 2000000

uint64_t tk_rand(tk_world_t *w)
{
    uint64_t z = (w->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void tk_trace(tk_world_t *w, uint64_t x)
{
    w->trace = (w->trace ^ x) * UINT64_C(0x100000001b3);
}

static void bytes_put(tk_bytes_t *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void bytes_clear(tk_bytes_t *b)
{
    b->len = b->off = 0;
}

static void bytes_free(tk_bytes_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void done_add(tk_done_t **d, size_t *n, size_t *cap, const repl_action_t *act, uint64_t now)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *d = realloc(*d, *cap * sizeof **d);
        assert_non_null(*d);
    }
    (*d)[(*n)++] = (tk_done_t){act->u.write_done.token, act->u.write_done.status,
                               act->u.write_done.seq, act->u.write_done.n, now};
}

void tk_origin_config(repl_origin_config_t *c)
{
    repl_origin_config_default(c);
    c->node_id = 1;
    memcpy(c->history_id, TK_HIST_A, sizeof c->history_id);
    c->last_seq = 0;
    c->log_first_seq = 1;
    c->heartbeat_interval_ms = 100;
    c->max_clock_offset_ms = 500;
    c->log_retention = 8;
    c->log_retention_max = 64;
    c->peer_buffer_max_bytes = 4096;
    c->group_max_ops = 4;
}

void tk_edge_config(repl_edge_config_t *c, uint32_t node_id)
{
    repl_edge_config_default(c);
    c->node_id = node_id;
    c->propagation_bound_ms = 1000;
    c->write_timeout_ms = 5000;
    c->reconnect_min_ms = 50;
    c->reconnect_max_ms = 800;
    c->seed = node_id;
}

/* ---- executing actions -------------------------------------------------------- */

static tk_edge_t *edge_by_peer(tk_world_t *w, repl_peer_t p)
{
    for (size_t i = 0; i < w->nedges; i++)
        if (w->edges[i].link.up && w->edges[i].link.id == p)
            return &w->edges[i];
    return NULL;
}

static void origin_snapshot(tk_world_t *w, repl_peer_t p)
{
    tk_origin_t *o = &w->origin;
    tk_edge_t *e = edge_by_peer(w, p);
    repl_mutation_t *s;
    size_t n = tk_model_snapshot(&o->m, &s);
    for (size_t i = 0; i < n && e && !e->link.origin_closed; i += 3) {
        uint8_t *b;
        size_t len;
        assert_int_equal(repl_wire_snapshot_chunk(s + i, n - i < 3 ? n - i : 3, &b, &len), 0);
        bytes_put(&e->link.o2e, b, len);
        if (e->capture)
            bytes_put(&e->link.capture, b, len);
        kv_free(b);
    }
    free(s);
    if (e && !e->link.origin_closed) {
        uint8_t *b;
        size_t len;
        assert_int_equal(repl_wire_snapshot_end(o->last_seq, TK_HIST_A, &b, &len), 0);
        bytes_put(&e->link.o2e, b, len);
        if (e->capture)
            bytes_put(&e->link.capture, b, len);
        kv_free(b);
    }
    assert_true(o->nsnaps < 64);
    o->snaps[o->nsnaps].peer = p;
    o->snaps[o->nsnaps++].seq = o->last_seq;
    o->snapshots++;
}

static void origin_trim(tk_origin_t *o, uint64_t below)
{
    assert_true(below > o->trimmed_below);
    assert_true(below <= o->last_seq + 1);
    size_t k = 0;
    while (k < o->nlog && o->log[k].seq < below)
        free(o->log[k++].b);
    memmove(o->log, o->log + k, (o->nlog - k) * sizeof *o->log);
    o->nlog -= k;
    o->trimmed_below = below;
    o->trims++;
}

/* The origin's first frame on a link is its Welcome: record how it answered
 * the edge's Hello (resume from a seq, snapshot, or refusal). Counted from
 * the bytes, so the counts hold whatever the core believes it did. */
static void note_welcome(tk_edge_t *e, const repl_action_t *act)
{
    Edgekv__Frame *f = tk_send_frame(act);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    const Edgekv__Welcome *wel = f->welcome;
    if (wel->mode == EDGEKV__WELCOME__MODE__SNAPSHOT) {
        e->snapshots++;
        e->snapshots_later += e->welcomes > 0;
    } else if (wel->from_seq == 0) {
        e->refusals++;
    } else {
        e->resumes++;
        e->resumes_behind += wel->from_seq <= wel->origin_seq;
    }
    e->welcomes++;
    e->link.welcomed = true;
    frame_free(f);
}

static void origin_act(tk_world_t *w, const repl_action_t *act)
{
    tk_origin_t *o = &w->origin;
    tk_edge_t *e;
    switch (act->kind) {
    case REPL_ACT_SEND:
        tk_trace(w, act->kind * 31 + act->u.send.peer);
        e = edge_by_peer(w, act->u.send.peer);
        if (e && !e->link.origin_closed) {
            if (!e->link.welcomed)
                note_welcome(e, act);
            bytes_put(&e->link.o2e, act->u.send.data, act->u.send.len);
            if (e->capture)
                bytes_put(&e->link.capture, act->u.send.data, act->u.send.len);
            e->link.unflushed += act->u.send.len;
        }
        tk_trace(w, act->u.send.len);
        break;
    case REPL_ACT_CLOSE:
        tk_trace(w, act->kind * 31 + act->u.close.peer);
        e = edge_by_peer(w, act->u.close.peer);
        if (e && !e->link.origin_closed) {
            e->link.origin_closed = true;
            bytes_clear(&e->link.e2o);
        }
        break;
    case REPL_ACT_PERSIST:
        assert_false(o->persist_pending);
        o->persist_pending = true;
        tk_trace(w, act->kind * 31);
        o->batch = act->u.persist.batch_id;
        o->pmuts = act->u.persist.muts;
        o->pn = act->u.persist.n;
        break;
    case REPL_ACT_READ_LOG:
        tk_trace(w, act->kind * 31 + act->u.read_log.peer);
        assert_true(o->nreads < 64);
        o->reads[o->nreads++] =
            (tk_read_t){act->u.read_log.peer, act->u.read_log.from_seq, act->u.read_log.max_bytes};
        o->log_reads++;
        break;
    case REPL_ACT_SNAPSHOT:
        tk_trace(w, act->kind * 31 + act->u.snapshot.peer);
        origin_snapshot(w, act->u.snapshot.peer);
        break;
    case REPL_ACT_TRIM_LOG:
        tk_trace(w, act->kind * 31);
        origin_trim(o, act->u.trim.below_seq);
        break;
    case REPL_ACT_WRITE_DONE:
        tk_trace(w, act->kind * 31);
        done_add(&o->done, &o->ndone, &o->donecap, act, w->now);
        break;
    case REPL_ACT_ALARM:
        tk_trace(w, act->kind * 31);
        o->alarms++;
        break;
    default:
        fail_msg("origin emitted action %d", act->kind);
    }
}

static void edge_act(tk_world_t *w, tk_edge_t *e, const repl_action_t *act)
{
    tk_trace(w, act->kind * 131 + (uint64_t)(e - w->edges));
    switch (act->kind) {
    case REPL_ACT_SEND:
        assert_true(e->link.up && act->u.send.peer == e->link.id);
        if (!e->link.edge_closed)
            bytes_put(&e->link.e2o, act->u.send.data, act->u.send.len);
        break;
    case REPL_ACT_CLOSE:
        assert_true(e->link.up && act->u.close.peer == e->link.id);
        e->link.edge_closed = true;
        bytes_clear(&e->link.o2e);
        break;
    case REPL_ACT_CONNECT:
        assert_false(e->connect_pending);
        e->connect_pending = true;
        break;
    case REPL_ACT_RESET:
    case REPL_ACT_APPLY:
        assert_false(e->step_pending);
        e->step_pending = true;
        e->step_reset = act->kind == REPL_ACT_RESET;
        e->muts = e->step_reset ? NULL : act->u.apply.muts;
        e->n = e->step_reset ? 0 : act->u.apply.n;
        e->seq = e->step_reset ? 0 : act->u.apply.seq;
        e->hist = e->step_reset ? NULL : act->u.apply.history_id;
        break;
    case REPL_ACT_WRITE_DONE:
        if (act->u.write_done.status == 0) {
            /* Read-your-writes: answered only once applied here. */
            assert_true(e->m.applied_seq >= act->u.write_done.seq);
            w->ryw_checked++;
        }
        done_add(&e->done, &e->ndone, &e->donecap, act, w->now);
        break;
    case REPL_ACT_ALARM:
        e->alarms++;
        break;
    default:
        fail_msg("edge emitted action %d", act->kind);
    }
}

/* Call into a core happened with t; execute its actions and poll the rest. */
static void origin_drain(tk_world_t *w, tk_acts_t *t)
{
    for (;;) {
        for (size_t i = 0; i < t->a.n; i++)
            origin_act(w, &t->buf[i]);
        tk_acts_reset(t, w->act_cap);
        repl_origin_poll(w->origin.o, &t->a);
        if (t->a.n == 0)
            return;
    }
}

static void edge_drain(tk_world_t *w, tk_edge_t *e, tk_acts_t *t)
{
    for (;;) {
        for (size_t i = 0; i < t->a.n; i++)
            edge_act(w, e, &t->buf[i]);
        tk_acts_reset(t, w->act_cap);
        repl_edge_poll(e->e, &t->a);
        if (t->a.n == 0)
            return;
    }
}

#define TK_ORIGIN_CALL(w, call)                                                                    \
    do {                                                                                           \
        tk_acts_t t_;                                                                              \
        tk_acts_reset(&t_, (w)->act_cap);                                                          \
        repl_actions_t *a_ = &t_.a;                                                                \
        call;                                                                                      \
        origin_drain((w), &t_);                                                                    \
    } while (0)

#define TK_EDGE_CALL(w, e, call)                                                                   \
    do {                                                                                           \
        tk_acts_t t_;                                                                              \
        tk_acts_reset(&t_, (w)->act_cap);                                                          \
        repl_actions_t *a_ = &t_.a;                                                                \
        call;                                                                                      \
        edge_drain((w), (e), &t_);                                                                 \
    } while (0)

/* ---- storage fakes ------------------------------------------------------------ */

static void do_persist(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    o->persist_pending = false;
    if (o->persist_fail_rc) {
        int rc = o->persist_fail_rc;
        o->persist_fail_rc = 0;
        TK_ORIGIN_CALL(w, repl_origin_persisted(o->o, o->batch, rc, NULL, w->now, a_));
        return;
    }
    int *results = calloc(o->pn, sizeof *results);
    for (size_t i = 0; i < o->pn; i++) {
        repl_mutation_t m = o->pmuts[i];
        assert_int_equal(m.seq, o->last_seq + 1);
        if (m.op.key_len >= 4 && memcmp(m.op.key, "fail", 4) == 0) {
            results[i] = KV_EINVAL; /* logged as a no-op */
            memset(&m.op, 0, sizeof m.op);
        } else if (m.op.kind != REPL_OP_NOOP) {
            assert_true(tk_model_apply(&o->m, &m));
        }
        size_t len = repl_mutation_encoded_size(&m);
        uint8_t *b = malloc(len + 1);
        assert_int_equal(repl_mutation_encode(&m, b, len, &len), 0);
        if (o->nlog == o->logcap) {
            o->logcap = o->logcap ? 2 * o->logcap : 64;
            o->log = realloc(o->log, o->logcap * sizeof *o->log);
        }
        o->log[o->nlog++] = (tk_entry_t){m.seq, b, len};
        o->last_seq = m.seq;
    }
    o->m.applied_seq = o->last_seq;
    TK_ORIGIN_CALL(w, repl_origin_persisted(o->o, o->batch, 0, results, w->now, a_));
    free(results);
}

static void do_read(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    tk_read_t r = o->reads[0];
    memmove(o->reads, o->reads + 1, --o->nreads * sizeof *o->reads);
    repl_mutation_t *dec[256], muts[256];
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < o->nlog && n < 256; i++) {
        if (o->log[i].seq < r.seq)
            continue;
        if (n > 0 && bytes + o->log[i].len > r.max_bytes)
            break;
        assert_int_equal(repl_mutation_decode(o->log[i].b, o->log[i].len, &dec[n]), 0);
        muts[n] = *dec[n];
        bytes += o->log[i].len;
        n++;
    }
    TK_ORIGIN_CALL(w, repl_origin_log_read(o->o, r.peer, 0, muts, n, w->now, a_));
    for (size_t i = 0; i < n; i++)
        repl_mutation_free(dec[i]);
}

static void do_snapshot_sent(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    repl_peer_t p = o->snaps[0].peer;
    uint64_t seq = o->snaps[0].seq;
    memmove(o->snaps, o->snaps + 1, --o->nsnaps * sizeof *o->snaps);
    TK_ORIGIN_CALL(w, repl_origin_snapshot_sent(o->o, p, 0, seq, w->now, a_));
}

static void do_edge_step(tk_world_t *w, tk_edge_t *e)
{
    e->step_pending = false;
    if (e->step_reset) {
        tk_model_clear(&e->m);
        TK_EDGE_CALL(w, e, repl_edge_reset_done(e->e, 0, w->now, a_));
        return;
    }
    if (e->seq && e->n) {
        /* Log order: the batch continues exactly where the replica is. */
        assert_int_equal(e->muts[0].seq, e->m.applied_seq + 1);
        assert_int_equal(e->muts[e->n - 1].seq, e->seq);
    }
    for (size_t i = 0; i < e->n; i++)
        tk_model_apply(&e->m, &e->muts[i]);
    if (e->seq) {
        assert_true(e->seq >= e->m.applied_seq);
        e->m.applied_seq = e->seq;
    }
    if (e->hist)
        memcpy(e->m.history, e->hist, sizeof e->m.history);
    TK_EDGE_CALL(w, e, repl_edge_applied(e->e, 0, e->seq, w->now, a_));
}

/* ---- links -------------------------------------------------------------------- */

static void link_down(tk_link_t *l)
{
    l->up = false;
    l->origin_closed = l->edge_closed = l->welcomed = false;
    l->unflushed = 0;
    bytes_clear(&l->o2e);
    bytes_clear(&l->e2o);
}

static void do_connect(tk_world_t *w, tk_edge_t *e)
{
    e->connect_pending = false;
    if (e->partitioned) {
        TK_EDGE_CALL(w, e, repl_edge_on_connect_failed(e->e, w->now, a_));
        return;
    }
    link_down(&e->link);
    e->link.up = true;
    e->link.id = ++w->next_peer;
    bytes_clear(&e->link.capture);
    TK_ORIGIN_CALL(w, repl_origin_on_connect(w->origin.o, e->link.id, w->now, a_));
    TK_EDGE_CALL(w, e, repl_edge_on_connect(e->e, e->link.id, w->now, a_));
}

static size_t chunk_len(tk_world_t *w, size_t avail)
{
    if (!w->chunk_max)
        return avail;
    size_t n = 1 + (size_t)(tk_rand(w) % w->chunk_max);
    return n < avail ? n : avail;
}

static void deliver_o2e(tk_world_t *w, tk_edge_t *e)
{
    tk_bytes_t *b = &e->link.o2e;
    size_t n = chunk_len(w, b->len - b->off);
    uint8_t *tmp = malloc(n);
    memcpy(tmp, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len)
        bytes_clear(b);
    tk_trace(w, n);
    TK_EDGE_CALL(w, e, repl_edge_on_bytes(e->e, tmp, n, w->now, a_));
    free(tmp);
}

static void deliver_e2o(tk_world_t *w, tk_edge_t *e)
{
    tk_bytes_t *b = &e->link.e2o;
    size_t n = chunk_len(w, b->len - b->off);
    uint8_t *tmp = malloc(n);
    memcpy(tmp, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len)
        bytes_clear(b);
    tk_trace(w, n + 7);
    TK_ORIGIN_CALL(w, repl_origin_on_bytes(w->origin.o, e->link.id, tmp, n, w->now, a_));
    free(tmp);
}

static void do_flush(tk_world_t *w, tk_edge_t *e)
{
    size_t n = e->link.unflushed;
    e->link.unflushed = 0;
    TK_ORIGIN_CALL(w, repl_origin_on_flushed(w->origin.o, e->link.id, n, w->now, a_));
}

/* A closed side's peer hears of it once the bytes sent before are in. */
static void do_teardown(tk_world_t *w, tk_edge_t *e)
{
    tk_link_t *l = &e->link;
    bool tell_edge = l->origin_closed && !l->edge_closed;
    bool tell_origin = l->edge_closed && !l->origin_closed;
    repl_peer_t id = l->id;
    link_down(l);
    if (tell_edge)
        TK_EDGE_CALL(w, e, repl_edge_on_disconnect(e->e, w->now, a_));
    if (tell_origin)
        TK_ORIGIN_CALL(w, repl_origin_on_disconnect(w->origin.o, id, w->now, a_));
}

void tk_partition(tk_world_t *w, size_t i, bool down)
{
    tk_edge_t *e = &w->edges[i];
    e->partitioned = down;
    if (!down || !e->link.up)
        return;
    tk_link_t *l = &e->link;
    bool tell_edge = !l->edge_closed, tell_origin = !l->origin_closed;
    repl_peer_t id = l->id;
    link_down(l);
    if (tell_edge)
        TK_EDGE_CALL(w, e, repl_edge_on_disconnect(e->e, w->now, a_));
    if (tell_origin)
        TK_ORIGIN_CALL(w, repl_origin_on_disconnect(w->origin.o, id, w->now, a_));
}

/* ---- scheduling --------------------------------------------------------------- */

typedef enum {
    W_PERSIST,
    W_READ,
    W_SNAP,
    W_O2E,
    W_E2O,
    W_FLUSH,
    W_STEP,
    W_CONNECT,
    W_DOWN
} tk_work_t;

typedef struct {
    tk_work_t kind;
    size_t edge;
} tk_item_t;

static size_t ready_items(tk_world_t *w, tk_item_t *out)
{
    size_t n = 0;
    tk_origin_t *o = &w->origin;
    if (o->persist_pending)
        out[n++] = (tk_item_t){W_PERSIST, 0};
    if (o->nreads)
        out[n++] = (tk_item_t){W_READ, 0};
    if (o->nsnaps)
        out[n++] = (tk_item_t){W_SNAP, 0};
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        tk_link_t *l = &e->link;
        if (l->up && l->o2e.len > l->o2e.off && !l->edge_closed)
            out[n++] = (tk_item_t){W_O2E, i};
        if (l->up && l->e2o.len > l->e2o.off && !l->origin_closed)
            out[n++] = (tk_item_t){W_E2O, i};
        if (l->up && l->unflushed && !l->origin_closed)
            out[n++] = (tk_item_t){W_FLUSH, i};
        if (e->step_pending)
            out[n++] = (tk_item_t){W_STEP, i};
        if (l->up && ((l->origin_closed && (l->edge_closed || l->o2e.len == l->o2e.off)) ||
                      (l->edge_closed && l->e2o.len == l->e2o.off)))
            out[n++] = (tk_item_t){W_DOWN, i};
        if (e->connect_pending && !l->up)
            out[n++] = (tk_item_t){W_CONNECT, i};
    }
    return n;
}

bool tk_step(tk_world_t *w)
{
    tk_item_t items[3 + 7 * TK_MAX_EDGES];
    size_t n = ready_items(w, items);
    if (n == 0)
        return false;
    tk_item_t it = items[w->random_order ? tk_rand(w) % n : 0];
    tk_edge_t *e = &w->edges[it.edge];
    tk_trace(w, it.kind * 1000 + it.edge);
    switch (it.kind) {
    case W_PERSIST:
        do_persist(w);
        break;
    case W_READ:
        do_read(w);
        break;
    case W_SNAP:
        do_snapshot_sent(w);
        break;
    case W_O2E:
        deliver_o2e(w, e);
        break;
    case W_E2O:
        deliver_e2o(w, e);
        break;
    case W_FLUSH:
        do_flush(w, e);
        break;
    case W_STEP:
        do_edge_step(w, e);
        break;
    case W_CONNECT:
        do_connect(w, e);
        break;
    case W_DOWN:
        do_teardown(w, e);
        break;
    }
    return true;
}

void tk_quiesce(tk_world_t *w)
{
    size_t steps = 0;
    while (tk_step(w))
        assert_true(++steps < TK_STEP_LIMIT);
}

static uint64_t next_deadline(tk_world_t *w)
{
    uint64_t d = repl_origin_deadline(w->origin.o);
    for (size_t i = 0; i < w->nedges; i++) {
        uint64_t x = repl_edge_deadline(w->edges[i].e);
        d = x < d ? x : d;
    }
    return d;
}

static void tick_all(tk_world_t *w)
{
    if (repl_origin_deadline(w->origin.o) <= w->now)
        TK_ORIGIN_CALL(w, repl_origin_tick(w->origin.o, w->now, a_));
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        if (repl_edge_deadline(e->e) <= w->now)
            TK_EDGE_CALL(w, e, repl_edge_tick(e->e, w->now, a_));
    }
}

void tk_run_until(tk_world_t *w, uint64_t to)
{
    for (size_t iter = 0;; iter++) {
        assert_true(iter < TK_STEP_LIMIT);
        tk_quiesce(w);
        uint64_t d = next_deadline(w);
        if (d > to)
            break;
        if (d > w->now)
            w->now = d;
        tick_all(w);
    }
    w->now = to;
}

void tk_origin_write(tk_world_t *w, uint64_t token, const repl_op_t *ops, size_t n)
{
    TK_ORIGIN_CALL(w, repl_origin_write(w->origin.o, token, ops, n, w->now, a_));
}

void tk_edge_write(tk_world_t *w, size_t i, uint64_t token, const repl_op_t *ops, size_t n)
{
    tk_edge_t *e = &w->edges[i];
    TK_EDGE_CALL(w, e, repl_edge_write(e->e, token, ops, n, w->now, a_));
}

void tk_world_init(tk_world_t *w, const repl_origin_config_t *oc, const repl_edge_config_t *ec,
                   size_t nedges, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    assert_true(nedges <= TK_MAX_EDGES);
    w->rng = seed;
    w->random_order = seed != 0;
    w->chunk_max = seed ? 97 : 0;
    w->act_cap = TK_ACTS_MAX;
    w->now = 1000;
    tk_model_init(&w->origin.m);
    assert_int_equal(repl_origin_create(oc, &w->origin.o), 0);
    w->origin.last_seq = oc->last_seq;
    w->nedges = nedges;
    for (size_t i = 0; i < nedges; i++) {
        repl_edge_config_t c = *ec;
        c.node_id = ec->node_id + (uint32_t)i;
        c.seed = ec->seed + i;
        tk_model_init(&w->edges[i].m);
        assert_int_equal(repl_edge_create(&c, &w->edges[i].e), 0);
    }
}

void tk_world_start(tk_world_t *w)
{
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        TK_EDGE_CALL(w, e, repl_edge_start(e->e, w->now, a_));
    }
}

void tk_world_free(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    repl_origin_destroy(o->o);
    tk_model_free(&o->m);
    for (size_t i = 0; i < o->nlog; i++)
        free(o->log[i].b);
    free(o->log);
    free(o->done);
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        repl_edge_destroy(e->e);
        tk_model_free(&e->m);
        bytes_free(&e->link.o2e);
        bytes_free(&e->link.e2o);
        bytes_free(&e->link.capture);
        free(e->done);
    }
}
