/*
 * repl_testkit_world.c - the world of repl_testkit.h: one origin, a few
 * edges, in-memory links, storage fakes and virtual time. The actions are
 * carried out by sim/drive.h with the hooks below, and the replicas are
 * sim/lww.h models; this file adds the links, the scheduling and the
 * origin's encoded log.
 *
 * Test code: it aborts through cmocka's assertions (and the dispatcher's
 * KV_ASSERTs) on anything the core must never do (apply out of order,
 * answer a write before applying it, two storage steps at once), and uses
 * plain malloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static void done_add(tk_done_t **d, size_t *n, size_t *cap, uint64_t token, int status,
                     uint64_t seq, size_t nres, uint64_t now)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *d = realloc(*d, *cap * sizeof **d);
        assert_non_null(*d);
    }
    (*d)[(*n)++] = (tk_done_t){token, status, seq, nres, now};
}

uint64_t tk_wall(void *ctx, uint64_t now_ms)
{
    int64_t skew = ctx ? *(const int64_t *)ctx : 0;
    assert_true(skew >= 0 || (uint64_t)-skew <= now_ms);
    return now_ms + (uint64_t)skew;
}

void tk_origin_config(repl_origin_config_t *c)
{
    repl_origin_config_default(c);
    c->wall = tk_wall;
    c->wall_ctx = NULL;
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
    c->wall = tk_wall;
    c->wall_ctx = NULL;
    c->node_id = node_id;
    c->propagation_bound_ms = 1000;
    c->write_timeout_ms = 5000;
    c->reconnect_min_ms = 50;
    c->reconnect_max_ms = 800;
    c->seed = node_id;
}

/* ---- carrying out actions (sim/drive.h hooks) ----------------------------------- */

static tk_edge_t *edge_of(drive_node_t *d)
{
    return (tk_edge_t *)((char *)d - offsetof(tk_edge_t, d));
}

static tk_edge_t *edge_by_peer(tk_world_t *w, repl_peer_t p)
{
    for (size_t i = 0; i < w->nedges; i++)
        if (w->edges[i].link.up && w->edges[i].link.id == p)
            return &w->edges[i];
    return NULL;
}

static void trace_act(drive_node_t *d, const repl_action_t *act)
{
    tk_world_t *w = d->ctx;
    uint64_t who = d->origin ? 0 : 1 + (uint64_t)(edge_of(d) - w->edges);
    tk_trace(w, act->kind * 131 + who);
    if (act->kind == REPL_ACT_SEND)
        tk_trace(w, act->u.send.peer * 31 + act->u.send.len);
}

static void origin_snapshot(drive_node_t *d, repl_peer_t p, uint64_t min_seq)
{
    tk_world_t *w = d->ctx;
    tk_origin_t *o = &w->origin;
    tk_edge_t *e = edge_by_peer(w, p);
    assert_true(o->last_seq >= min_seq);
    repl_mutation_t *s;
    size_t n = lww_snapshot(&o->m, &s);
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
        assert_int_equal(
            repl_wire_snapshot_end(o->last_seq, o->m.applied_version, TK_HIST_A, &b, &len), 0);
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

static void origin_trim(drive_node_t *d, uint64_t below)
{
    tk_world_t *w = d->ctx;
    tk_origin_t *o = &w->origin;
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

static void origin_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *act)
{
    tk_edge_t *e = edge_by_peer(d->ctx, peer);
    if (!e || e->link.origin_closed)
        return;
    if (!e->link.welcomed)
        note_welcome(e, act);
    bytes_put(&e->link.o2e, act->u.send.data, act->u.send.len);
    if (e->capture)
        bytes_put(&e->link.capture, act->u.send.data, act->u.send.len);
    e->link.unflushed += act->u.send.len;
}

static void origin_close(drive_node_t *d, repl_peer_t peer)
{
    tk_edge_t *e = edge_by_peer(d->ctx, peer);
    if (e && !e->link.origin_closed) {
        e->link.origin_closed = true;
        bytes_clear(&e->link.e2o);
    }
}

static void origin_read_log(drive_node_t *d, repl_peer_t peer, uint64_t from, size_t max_bytes)
{
    tk_origin_t *o = &((tk_world_t *)d->ctx)->origin;
    assert_true(o->nreads < 64);
    o->reads[o->nreads++] = (tk_read_t){peer, from, max_bytes};
    o->log_reads++;
}

static void origin_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                              const int *results, size_t n)
{
    tk_world_t *w = d->ctx;
    (void)results;
    done_add(&w->origin.done, &w->origin.ndone, &w->origin.donecap, token, status, seq, n, w->now);
}

/* A key starting with "fail" fails at commit (it is logged as a no-op). */
static int origin_op_fails(drive_node_t *d, const repl_mutation_t *m)
{
    (void)d;
    const repl_op_t *op = &m->op;
    return op->key_len >= 4 && memcmp(op->key, "fail", 4) == 0 ? KV_EINVAL : 0;
}

/* The durable log: each committed entry, encoded. */
static void origin_logged(drive_node_t *d, const repl_mutation_t *mut, int fail)
{
    tk_origin_t *o = &((tk_world_t *)d->ctx)->origin;
    repl_mutation_t m = *mut;
    if (fail)
        memset(&m.op, 0, sizeof m.op);
    size_t len = repl_mutation_encoded_size(&m);
    uint8_t *b = malloc(len + 1);
    assert_non_null(b);
    assert_int_equal(repl_mutation_encode(&m, b, len, &len), 0);
    if (o->nlog == o->logcap) {
        o->logcap = o->logcap ? 2 * o->logcap : 64;
        o->log = realloc(o->log, o->logcap * sizeof *o->log);
        assert_non_null(o->log);
    }
    o->log[o->nlog++] = (tk_entry_t){m.seq, b, len};
    o->last_seq = m.seq;
}

static const drive_ops_t ORIGIN_OPS = {
    .each = trace_act,
    .send = origin_send,
    .close = origin_close,
    .write_done = origin_write_done,
    .read_log = origin_read_log,
    .snapshot = origin_snapshot,
    .trim = origin_trim,
    .op_fails = origin_op_fails,
    .logged = origin_logged,
};

static void edge_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *act)
{
    tk_edge_t *e = edge_of(d);
    assert_true(e->link.up && peer == e->link.id);
    if (!e->link.edge_closed)
        bytes_put(&e->link.e2o, act->u.send.data, act->u.send.len);
}

static void edge_close(drive_node_t *d, repl_peer_t peer)
{
    tk_edge_t *e = edge_of(d);
    assert_true(e->link.up && peer == e->link.id);
    e->link.edge_closed = true;
    bytes_clear(&e->link.o2e);
}

static void edge_connect(drive_node_t *d)
{
    tk_edge_t *e = edge_of(d);
    assert_false(e->connect_pending);
    e->connect_pending = true;
}

static void edge_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                            const int *results, size_t n)
{
    tk_world_t *w = d->ctx;
    tk_edge_t *e = edge_of(d);
    (void)results;
    if (status == 0) {
        /* Read-your-writes: answered only once applied here. */
        assert_true(e->m.applied_seq >= seq);
        w->ryw_checked++;
    }
    done_add(&e->done, &e->ndone, &e->donecap, token, status, seq, n, w->now);
}

static const drive_ops_t EDGE_OPS = {
    .each = trace_act,
    .send = edge_send,
    .close = edge_close,
    .write_done = edge_write_done,
    .connect = edge_connect,
};

#define TK_CALL(w, node, call)                                                                     \
    do {                                                                                           \
        tk_acts_t t_;                                                                              \
        tk_acts_reset(&t_, (w)->act_cap);                                                          \
        repl_actions_t *a_ = &t_.a;                                                                \
        call;                                                                                      \
        drive_run((node), a_);                                                                     \
    } while (0)

#define TK_ORIGIN_CALL(w, call)  TK_CALL((w), &(w)->origin.d, call)
#define TK_EDGE_CALL(w, e, call) TK_CALL((w), &(e)->d, call)

/* ---- storage fakes ------------------------------------------------------------ */

static void do_persist(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    int rc = o->persist_fail_rc;
    o->persist_fail_rc = 0;
    TK_ORIGIN_CALL(w, drive_persisted(&o->d, rc, w->now, a_));
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
    TK_ORIGIN_CALL(w, repl_origin_log_read(o->d.origin, r.peer, 0, muts, n, w->now, a_));
    for (size_t i = 0; i < n; i++)
        repl_mutation_free(dec[i]);
}

static void do_snapshot_sent(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    repl_peer_t p = o->snaps[0].peer;
    uint64_t seq = o->snaps[0].seq;
    memmove(o->snaps, o->snaps + 1, --o->nsnaps * sizeof *o->snaps);
    TK_ORIGIN_CALL(w, repl_origin_snapshot_sent(o->d.origin, p, 0, seq, w->now, a_));
}

static void do_edge_step(tk_world_t *w, tk_edge_t *e)
{
    TK_EDGE_CALL(w, e, drive_stepped(&e->d, 0, w->now, a_));
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
        TK_EDGE_CALL(w, e, repl_edge_on_connect_failed(e->d.edge, w->now, a_));
        return;
    }
    link_down(&e->link);
    e->link.up = true;
    e->link.id = ++w->next_peer;
    bytes_clear(&e->link.capture);
    char name[32]; /* its certificate's name: one per edge */
    snprintf(name, sizeof name, "edge%zu", (size_t)(e - w->edges));
    TK_ORIGIN_CALL(w, repl_origin_on_connect(w->origin.d.origin, e->link.id, name, w->now, a_));
    TK_EDGE_CALL(w, e, repl_edge_on_connect(e->d.edge, e->link.id, w->now, a_));
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
    TK_EDGE_CALL(w, e, repl_edge_on_bytes(e->d.edge, tmp, n, w->now, a_));
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
    TK_ORIGIN_CALL(w, repl_origin_on_bytes(w->origin.d.origin, e->link.id, tmp, n, w->now, a_));
    free(tmp);
}

static void do_flush(tk_world_t *w, tk_edge_t *e)
{
    size_t n = e->link.unflushed;
    e->link.unflushed = 0;
    TK_ORIGIN_CALL(w, repl_origin_on_flushed(w->origin.d.origin, e->link.id, n, w->now, a_));
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
        TK_EDGE_CALL(w, e, repl_edge_on_disconnect(e->d.edge, w->now, a_));
    if (tell_origin)
        TK_ORIGIN_CALL(w, repl_origin_on_disconnect(w->origin.d.origin, id, w->now, a_));
}

void tk_origin_crash(tk_world_t *w, uint64_t keep_seq)
{
    tk_origin_t *o = &w->origin;
    assert_true(keep_seq <= o->last_seq);
    assert_true(o->nlog == 0 || o->log[0].seq == 1);
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        if (!e->link.up)
            continue;
        bool tell_edge = !e->link.edge_closed;
        link_down(&e->link);
        if (tell_edge)
            TK_EDGE_CALL(w, e, repl_edge_on_disconnect(e->d.edge, w->now, a_));
    }
    repl_origin_destroy(o->d.origin);
    o->nreads = o->nsnaps = 0;
    while (o->nlog > 0 && o->log[o->nlog - 1].seq > keep_seq)
        free(o->log[--o->nlog].b);
    lww_replica_clear(&o->m);
    o->m.hlc_max = 0; /* what the lost entries stamped is lost with them */
    for (size_t i = 0; i < o->nlog; i++) {
        repl_mutation_t *m;
        uint32_t slot;
        assert_int_equal(repl_mutation_decode(o->log[i].b, o->log[i].len, &m), 0);
        (void)lww_apply_mut(&o->m, m, &slot);
        o->m.applied_seq = m->seq;
        o->m.applied_version = m->version;
        repl_mutation_free(m);
    }
    o->last_seq = keep_seq;
    repl_origin_config_t c = o->cfg;
    c.last_seq = keep_seq;
    c.log_first_seq = 1;
    c.hlc_last = o->m.hlc_max;
    repl_origin_t *core;
    assert_int_equal(repl_origin_create(&c, &core), 0);
    drive_init(&o->d, core, NULL, &o->m, &ORIGIN_OPS, w);
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
        TK_EDGE_CALL(w, e, repl_edge_on_disconnect(e->d.edge, w->now, a_));
    if (tell_origin)
        TK_ORIGIN_CALL(w, repl_origin_on_disconnect(w->origin.d.origin, id, w->now, a_));
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
    if (o->d.persist.pending)
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
        if (e->d.step.pending)
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
    uint64_t d = repl_origin_deadline(w->origin.d.origin);
    for (size_t i = 0; i < w->nedges; i++) {
        uint64_t x = repl_edge_deadline(w->edges[i].d.edge);
        d = x < d ? x : d;
    }
    return d;
}

static void tick_all(tk_world_t *w)
{
    if (repl_origin_deadline(w->origin.d.origin) <= w->now)
        TK_ORIGIN_CALL(w, repl_origin_tick(w->origin.d.origin, w->now, a_));
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        if (repl_edge_deadline(e->d.edge) <= w->now)
            TK_EDGE_CALL(w, e, repl_edge_tick(e->d.edge, w->now, a_));
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
    TK_ORIGIN_CALL(w, repl_origin_write(w->origin.d.origin, token, ops, n, w->now, a_));
}

void tk_edge_write(tk_world_t *w, size_t i, uint64_t token, const repl_op_t *ops, size_t n)
{
    tk_edge_t *e = &w->edges[i];
    TK_EDGE_CALL(w, e, repl_edge_write(e->d.edge, token, ops, n, w->now, a_));
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
    w->keys = lww_keys_new(true);
    tk_origin_t *o = &w->origin;
    repl_origin_t *core;
    assert_int_equal(repl_origin_create(oc, &core), 0);
    lww_replica_init(&o->m, w->keys);
    o->cfg = *oc;
    o->m.applied_seq = oc->last_seq;
    drive_init(&o->d, core, NULL, &o->m, &ORIGIN_OPS, w);
    o->last_seq = oc->last_seq;
    w->nedges = nedges;
    for (size_t i = 0; i < nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        repl_edge_config_t c = *ec;
        c.node_id = ec->node_id + (uint32_t)i;
        c.seed = ec->seed + i;
        repl_edge_t *ecore;
        assert_int_equal(repl_edge_create(&c, &ecore), 0);
        lww_replica_init(&e->m, w->keys);
        drive_init(&e->d, NULL, ecore, &e->m, &EDGE_OPS, w);
    }
}

void tk_world_start(tk_world_t *w)
{
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        TK_EDGE_CALL(w, e, repl_edge_start(e->d.edge, w->now, a_));
    }
}

void tk_world_free(tk_world_t *w)
{
    tk_origin_t *o = &w->origin;
    repl_origin_destroy(o->d.origin);
    lww_replica_free(&o->m);
    for (size_t i = 0; i < o->nlog; i++)
        free(o->log[i].b);
    free(o->log);
    free(o->done);
    for (size_t i = 0; i < w->nedges; i++) {
        tk_edge_t *e = &w->edges[i];
        repl_edge_destroy(e->d.edge);
        lww_replica_free(&e->m);
        bytes_free(&e->link.o2e);
        bytes_free(&e->link.e2o);
        bytes_free(&e->link.capture);
        free(e->done);
    }
    lww_keys_free(w->keys);
}
