/*
 * test_relay.c - the relay core (replication/relay.c) in a tree of real
 * cores: one origin, relays and edges on in-memory links, virtual time,
 * storage done in order by the sim/drive.h dispatcher over sim/lww.h
 * replicas. Every test checks outcomes at the replicas (convergence with
 * the origin), and how each link was answered: a resume by sequence, or a
 * snapshot (counted from the RESETs each node carried out).
 *
 * What it covers: a write made at the origin reaches edges two hops down;
 * writes forwarded through a relay are answered after the writer applied
 * them; an edge resumes after a cut, and moves from one relay to another
 * (or to the origin) by sequence without a snapshot; an edge ahead of its
 * new relay waits for it; a relay kept away past the origin's window takes
 * a snapshot and its edges follow; staleness composes (an edge is never
 * fresher than its relay, and goes stale with it); another history is
 * refused on both sides of a relay; a relay behind its upstream serves a
 * snapshot of what it holds.
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
#include "frame.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_testkit.h"
#include "wire.h"

#define NODES_MAX  8
#define LINKS_MAX  64
#define STEP_LIMIT 1000000

typedef enum { N_ORIGIN, N_RELAY, N_EDGE } nkind_t;

typedef struct {
    repl_peer_t peer;
    uint64_t seq;
    size_t max_bytes;
} nread_t;

typedef struct {
    nkind_t kind;
    drive_node_t d;
    lww_replica_t m;
    int target; /* upstream node (relays and edges) */
    bool dead;  /* killed: no link, no calls */
    bool cut;   /* its upstream connects fail */
    bool hold;  /* its storage step waits (a slow disk) */
    bool connect_pending;
    bool standby;    /* an origin candidate: its links to an origin are marked so */
    tk_entry_t *log; /* origin, relay: the stored log */
    size_t nlog, logcap;
    nread_t reads[64];
    size_t nreads;
    struct {
        repl_peer_t peer;
        uint64_t seq;
    } snaps[64];
    size_t nsnaps;
    size_t resets;          /* RESETs carried out: snapshots taken */
    size_t snapshots_given; /* SNAPSHOTs streamed to downstream links */
    tk_done_t done[512];
    size_t ndone;
} node_t;

typedef struct {
    int up, down; /* node indexes */
    repl_peer_t id;
    bool open;
    bool tell_up, tell_down; /* the other side closed: report a disconnect */
    tk_bytes_t u2d, d2u;
} link_t;

typedef struct {
    uint64_t now;
    lww_keys_t *keys;
    node_t n[NODES_MAX];
    size_t nn;
    link_t l[LINKS_MAX];
    size_t nl;
    repl_peer_t next_peer;
} world_t;

static void bput(tk_bytes_t *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static node_t *node_of(drive_node_t *d)
{
    return (node_t *)((char *)d - offsetof(node_t, d));
}

static int idx_of(world_t *w, node_t *n)
{
    return (int)(n - w->n);
}

static link_t *link_by_peer(world_t *w, repl_peer_t p)
{
    for (size_t i = 0; i < w->nl; i++)
        if (w->l[i].id == p && w->l[i].open)
            return &w->l[i];
    return NULL;
}

/* The open link of node i to its upstream, or NULL. */
static link_t *up_link(world_t *w, int i)
{
    for (size_t k = 0; k < w->nl; k++)
        if (w->l[k].open && w->l[k].down == i)
            return &w->l[k];
    return NULL;
}

/* ---- hooks --------------------------------------------------------------------- */

static void h_send(drive_node_t *d, repl_peer_t peer, const repl_action_t *act)
{
    world_t *w = d->ctx;
    link_t *l = link_by_peer(w, peer);
    if (!l)
        return;
    int me = idx_of(w, node_of(d));
    bput(me == l->up ? &l->u2d : &l->d2u, act->u.send.data, act->u.send.len);
}

static void link_close(link_t *l, int by)
{
    l->open = false;
    l->u2d.len = l->u2d.off = l->d2u.len = l->d2u.off = 0;
    if (by != l->up)
        l->tell_up = true;
    if (by != l->down)
        l->tell_down = true;
}

static void h_close(drive_node_t *d, repl_peer_t peer)
{
    world_t *w = d->ctx;
    link_t *l = link_by_peer(w, peer);
    if (l)
        link_close(l, idx_of(w, node_of(d)));
}

static void h_write_done(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                         const int *results, size_t n)
{
    world_t *w = d->ctx;
    node_t *x = node_of(d);
    (void)results;
    if (status == 0 && x->kind != N_ORIGIN)
        assert_true(x->m.applied_seq >= seq); /* read-your-writes */
    assert_true(x->ndone < 512);
    x->done[x->ndone++] = (tk_done_t){token, status, seq, n, w->now};
}

static void h_connect(drive_node_t *d)
{
    node_of(d)->connect_pending = true;
}

static void h_read_log(drive_node_t *d, repl_peer_t peer, uint64_t from, size_t max_bytes)
{
    node_t *x = node_of(d);
    assert_true(x->nreads < 64);
    x->reads[x->nreads++] = (nread_t){peer, from, max_bytes};
}

static void h_snapshot(drive_node_t *d, repl_peer_t peer, uint64_t min_seq)
{
    world_t *w = d->ctx;
    node_t *x = node_of(d);
    link_t *l = link_by_peer(w, peer);
    assert_true(x->m.applied_seq >= min_seq);
    repl_mutation_t *s;
    size_t n = lww_snapshot(&x->m, &s);
    for (size_t i = 0; i < n && l; i += 3) {
        uint8_t *b;
        size_t len;
        assert_int_equal(repl_wire_snapshot_chunk(s + i, n - i < 3 ? n - i : 3, &b, &len), 0);
        bput(&l->u2d, b, len);
        kv_free(b);
    }
    free(s);
    if (l) {
        uint8_t *b;
        size_t len;
        assert_int_equal(
            repl_wire_snapshot_end(x->m.applied_seq, x->m.applied_version, x->m.history, &b, &len),
            0);
        bput(&l->u2d, b, len);
        kv_free(b);
    }
    assert_true(x->nsnaps < 64);
    x->snaps[x->nsnaps].peer = peer;
    x->snaps[x->nsnaps++].seq = x->m.applied_seq;
    x->snapshots_given++;
}

static void h_trim(drive_node_t *d, uint64_t below)
{
    node_t *x = node_of(d);
    size_t k = 0;
    while (k < x->nlog && x->log[k].seq < below)
        free(x->log[k++].b);
    memmove(x->log, x->log + k, (x->nlog - k) * sizeof *x->log);
    x->nlog -= k;
}

static void h_logged(drive_node_t *d, const repl_mutation_t *mut, int fail)
{
    node_t *x = node_of(d);
    repl_mutation_t m = *mut;
    if (fail)
        memset(&m.op, 0, sizeof m.op);
    size_t len = repl_mutation_encoded_size(&m);
    uint8_t *b = malloc(len + 1);
    assert_non_null(b);
    assert_int_equal(repl_mutation_encode(&m, b, len, &len), 0);
    if (x->nlog == x->logcap) {
        x->logcap = x->logcap ? 2 * x->logcap : 64;
        x->log = realloc(x->log, x->logcap * sizeof *x->log);
        assert_non_null(x->log);
    }
    /* A relay's log restarts after a snapshot: entries continue its replica. */
    if (x->nlog > 0 && x->log[x->nlog - 1].seq + 1 != m.seq) {
        for (size_t i = 0; i < x->nlog; i++)
            free(x->log[i].b);
        x->nlog = 0;
    }
    x->log[x->nlog++] = (tk_entry_t){m.seq, b, len};
}

static void h_reset(drive_node_t *d)
{
    node_t *x = node_of(d);
    x->resets++;
    for (size_t i = 0; i < x->nlog; i++)
        free(x->log[i].b);
    x->nlog = 0; /* a relay's RESET empties its log too */
}

static const drive_ops_t OPS = {
    .send = h_send,
    .close = h_close,
    .write_done = h_write_done,
    .connect = h_connect,
    .read_log = h_read_log,
    .snapshot = h_snapshot,
    .trim = h_trim,
    .logged = h_logged,
    .reset = h_reset,
};

#define CALL(x, call)                                                                              \
    do {                                                                                           \
        tk_acts_t t_;                                                                              \
        tk_acts_reset(&t_, TK_ACTS_MAX);                                                           \
        repl_actions_t *a_ = &t_.a;                                                                \
        call;                                                                                      \
        drive_run(&(x)->d, a_);                                                                    \
    } while (0)

/* ---- building the tree --------------------------------------------------------- */

static void relay_config(repl_relay_config_t *c, uint32_t node_id)
{
    repl_relay_config_default(c);
    tk_edge_config(&c->up, node_id);
    repl_origin_config_t oc;
    tk_origin_config(&oc);
    c->down = oc;
    c->down.log_first_seq = 0;
}

static void world_init(world_t *w)
{
    memset(w, 0, sizeof *w);
    w->now = 1000;
    w->keys = lww_keys_new(true);
    node_t *o = &w->n[w->nn++];
    o->kind = N_ORIGIN;
    lww_replica_init(&o->m, w->keys);
    memcpy(o->m.history, TK_HIST_A, sizeof o->m.history);
    repl_origin_config_t c;
    tk_origin_config(&c);
    repl_origin_t *core;
    assert_int_equal(repl_origin_create(&c, &core), 0);
    drive_init(&o->d, core, NULL, &o->m, &OPS, w);
}

static int add_relay(world_t *w, int target, const repl_relay_config_t *cfg)
{
    node_t *x = &w->n[w->nn];
    x->kind = N_RELAY;
    x->target = target;
    lww_replica_init(&x->m, w->keys);
    repl_relay_t *r;
    assert_int_equal(repl_relay_create(cfg, &r), 0);
    drive_init_relay(&x->d, r, &x->m, &OPS, w);
    CALL(x, repl_relay_start(r, w->now, a_));
    return (int)w->nn++;
}

static int relay_new(world_t *w, int target, uint32_t node_id)
{
    repl_relay_config_t c;
    relay_config(&c, node_id);
    return add_relay(w, target, &c);
}

static int edge_new(world_t *w, int target, uint32_t node_id)
{
    node_t *x = &w->n[w->nn];
    x->kind = N_EDGE;
    x->target = target;
    lww_replica_init(&x->m, w->keys);
    repl_edge_config_t c;
    tk_edge_config(&c, node_id);
    repl_edge_t *e;
    assert_int_equal(repl_edge_create(&c, &e), 0);
    drive_init(&x->d, NULL, e, &x->m, &OPS, w);
    CALL(x, repl_edge_start(e, w->now, a_));
    return (int)w->nn++;
}

static void world_free(world_t *w)
{
    for (size_t i = 0; i < w->nn; i++) {
        node_t *x = &w->n[i];
        repl_origin_destroy(x->d.origin);
        repl_relay_destroy(x->d.relay);
        repl_edge_destroy(x->d.edge);
        lww_replica_free(&x->m);
        for (size_t k = 0; k < x->nlog; k++)
            free(x->log[k].b);
        free(x->log);
    }
    for (size_t i = 0; i < w->nl; i++) {
        free(w->l[i].u2d.data);
        free(w->l[i].d2u.data);
    }
    lww_keys_free(w->keys);
}

/* ---- one node's events --------------------------------------------------------- */

static void ev_up_bytes(world_t *w, node_t *x, const uint8_t *p, size_t n)
{
    if (x->d.relay)
        CALL(x, repl_relay_up_bytes(x->d.relay, p, n, w->now, a_));
    else
        CALL(x, repl_edge_on_bytes(x->d.edge, p, n, w->now, a_));
}

static void ev_down_bytes(world_t *w, node_t *x, repl_peer_t id, const uint8_t *p, size_t n)
{
    if (x->d.relay)
        CALL(x, repl_relay_down_bytes(x->d.relay, id, p, n, w->now, a_));
    else
        CALL(x, repl_origin_on_bytes(x->d.origin, id, p, n, w->now, a_));
}

static void ev_flushed(world_t *w, node_t *x, repl_peer_t id, size_t n)
{
    if (x->d.relay)
        CALL(x, repl_relay_down_flushed(x->d.relay, id, n, w->now, a_));
    else
        CALL(x, repl_origin_on_flushed(x->d.origin, id, n, w->now, a_));
}

static void ev_up_disc(world_t *w, node_t *x)
{
    if (x->d.relay)
        CALL(x, repl_relay_up_disconnect(x->d.relay, w->now, a_));
    else
        CALL(x, repl_edge_on_disconnect(x->d.edge, w->now, a_));
}

static void ev_down_disc(world_t *w, node_t *x, repl_peer_t id)
{
    if (x->d.relay)
        CALL(x, repl_relay_down_disconnect(x->d.relay, id, w->now, a_));
    else
        CALL(x, repl_origin_on_disconnect(x->d.origin, id, w->now, a_));
}

static void ev_connect(world_t *w, int i)
{
    node_t *x = &w->n[i];
    node_t *t = &w->n[x->target];
    x->connect_pending = false;
    if (x->cut || t->dead) {
        if (x->d.relay)
            CALL(x, repl_relay_up_connect_failed(x->d.relay, w->now, a_));
        else
            CALL(x, repl_edge_on_connect_failed(x->d.edge, w->now, a_));
        return;
    }
    assert_true(w->nl < LINKS_MAX);
    link_t *l = &w->l[w->nl++];
    memset(l, 0, sizeof *l);
    l->up = x->target;
    l->down = i;
    l->id = ++w->next_peer;
    l->open = true;
    char name[16];
    snprintf(name, sizeof name, "node%d", i);
    if (t->d.relay)
        CALL(t, repl_relay_down_connect(t->d.relay, l->id, name, w->now, a_));
    else
        CALL(t, repl_origin_on_connect(t->d.origin, l->id, name, w->now, a_));
    if (!t->d.relay && x->standby)
        repl_origin_peer_standby(t->d.origin, l->id);
    if (x->d.relay)
        CALL(x, repl_relay_up_connect(x->d.relay, l->id, w->now, a_));
    else
        CALL(x, repl_edge_on_connect(x->d.edge, l->id, w->now, a_));
}

static void ev_read(world_t *w, node_t *x)
{
    nread_t r = x->reads[0];
    memmove(x->reads, x->reads + 1, --x->nreads * sizeof *x->reads);
    repl_mutation_t *dec[256], muts[256];
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < x->nlog && n < 256; i++) {
        if (x->log[i].seq < r.seq)
            continue;
        if (n > 0 && bytes + x->log[i].len > r.max_bytes)
            break;
        assert_int_equal(repl_mutation_decode(x->log[i].b, x->log[i].len, &dec[n]), 0);
        muts[n] = *dec[n];
        bytes += x->log[i].len;
        n++;
    }
    if (x->d.relay)
        CALL(x, repl_relay_log_read(x->d.relay, r.peer, 0, muts, n, w->now, a_));
    else
        CALL(x, repl_origin_log_read(x->d.origin, r.peer, 0, muts, n, w->now, a_));
    for (size_t i = 0; i < n; i++)
        repl_mutation_free(dec[i]);
}

static void ev_snapshot_sent(world_t *w, node_t *x)
{
    repl_peer_t p = x->snaps[0].peer;
    uint64_t seq = x->snaps[0].seq;
    memmove(x->snaps, x->snaps + 1, --x->nsnaps * sizeof *x->snaps);
    if (x->d.relay)
        CALL(x, repl_relay_snapshot_sent(x->d.relay, p, 0, seq, w->now, a_));
    else
        CALL(x, repl_origin_snapshot_sent(x->d.origin, p, 0, seq, w->now, a_));
}

static uint64_t node_deadline(const node_t *x)
{
    if (x->dead)
        return UINT64_MAX;
    if (x->d.relay)
        return repl_relay_deadline(x->d.relay);
    if (x->d.origin)
        return repl_origin_deadline(x->d.origin);
    return repl_edge_deadline(x->d.edge);
}

static void ev_tick(world_t *w, node_t *x)
{
    if (x->d.relay)
        CALL(x, repl_relay_tick(x->d.relay, w->now, a_));
    else if (x->d.origin)
        CALL(x, repl_origin_tick(x->d.origin, w->now, a_));
    else
        CALL(x, repl_edge_tick(x->d.edge, w->now, a_));
}

/* ---- scheduling ---------------------------------------------------------------- */

/* One pending item in a fixed order; false when nothing is pending. */
static bool step(world_t *w)
{
    for (size_t k = 0; k < w->nl; k++) {
        link_t *l = &w->l[k];
        if (l->tell_up) {
            l->tell_up = false;
            if (!w->n[l->up].dead)
                ev_down_disc(w, &w->n[l->up], l->id);
            return true;
        }
        if (l->tell_down) {
            l->tell_down = false;
            if (!w->n[l->down].dead)
                ev_up_disc(w, &w->n[l->down]);
            return true;
        }
        if (l->open && l->u2d.len > l->u2d.off) {
            size_t n = l->u2d.len - l->u2d.off;
            uint8_t *p = malloc(n);
            assert_non_null(p);
            memcpy(p, l->u2d.data + l->u2d.off, n);
            l->u2d.len = l->u2d.off = 0;
            ev_up_bytes(w, &w->n[l->down], p, n);
            free(p);
            if (l->open)
                ev_flushed(w, &w->n[l->up], l->id, n);
            return true;
        }
        if (l->open && l->d2u.len > l->d2u.off) {
            size_t n = l->d2u.len - l->d2u.off;
            uint8_t *p = malloc(n);
            assert_non_null(p);
            memcpy(p, l->d2u.data + l->d2u.off, n);
            l->d2u.len = l->d2u.off = 0;
            ev_down_bytes(w, &w->n[l->up], l->id, p, n);
            free(p);
            return true;
        }
    }
    for (size_t i = 0; i < w->nn; i++) {
        node_t *x = &w->n[i];
        if (x->dead)
            continue;
        if (x->connect_pending) {
            ev_connect(w, (int)i);
            return true;
        }
        if (x->d.persist.pending) {
            CALL(x, drive_persisted(&x->d, 0, w->now, a_));
            return true;
        }
        if (x->d.step.pending && !x->hold) {
            CALL(x, drive_stepped(&x->d, 0, w->now, a_));
            return true;
        }
        if (x->nreads) {
            ev_read(w, x);
            return true;
        }
        if (x->nsnaps) {
            ev_snapshot_sent(w, x);
            return true;
        }
    }
    return false;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Run everything due, moving time forward to `to` deadline by deadline. */
static void run_until(world_t *w, uint64_t to)
{
    for (size_t guard = 0; guard < STEP_LIMIT; guard++) {
        if (step(w))
            continue;
        uint64_t d = UINT64_MAX;
        for (size_t i = 0; i < w->nn; i++)
            d = min64(d, node_deadline(&w->n[i]));
        if (d > to) {
            w->now = to;
            return;
        }
        if (d > w->now)
            w->now = d;
        for (size_t i = 0; i < w->nn; i++)
            if (!w->n[i].dead && node_deadline(&w->n[i]) <= w->now)
                ev_tick(w, &w->n[i]);
    }
    fail_msg("no quiescence");
}

/* ---- faults and writes --------------------------------------------------------- */

/* Node i dies: its links close, and the other side of each hears it. */
static void kill_node(world_t *w, int i)
{
    w->n[i].dead = true;
    for (size_t k = 0; k < w->nl; k++)
        if (w->l[k].open && (w->l[k].up == i || w->l[k].down == i))
            link_close(&w->l[k], i);
}

/* Cut node i from its upstream (connects fail, the link drops) or heal it. */
static void cut_up(world_t *w, int i, bool cut)
{
    w->n[i].cut = cut;
    link_t *l = up_link(w, i);
    if (cut && l)
        link_close(l, -1);
}

static void origin_put_at(world_t *w, int i, uint64_t token, const char *key, const char *value)
{
    repl_op_t op = tk_put(key, value);
    node_t *o = &w->n[i];
    CALL(o, repl_origin_write(o->d.origin, token, &op, 1, w->now, a_));
}

static void origin_put(world_t *w, uint64_t token, const char *key, const char *value)
{
    origin_put_at(w, 0, token, key, value);
}

static void puts_n(world_t *w, int n, const char *prefix)
{
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%d", prefix, i);
        origin_put(w, 1000 + (uint64_t)i, key, prefix);
        run_until(w, w->now + 1);
    }
}

static void assert_converged(world_t *w, int i)
{
    assert_int_equal(w->n[i].m.applied_seq, w->n[0].m.applied_seq);
    assert_true(lww_equal(&w->n[0].m, &w->n[i].m));
}

static repl_link_state_t link_state(world_t *w, int i)
{
    repl_edge_status_t st;
    if (w->n[i].d.relay)
        repl_relay_status(w->n[i].d.relay, w->now, &st);
    else
        repl_edge_status(w->n[i].d.edge, w->now, &st);
    return st.link;
}

static uint64_t fresh_until(world_t *w, int i)
{
    uint64_t since;
    if (w->n[i].d.relay)
        return repl_relay_fresh_until(w->n[i].d.relay, &since);
    return repl_edge_fresh_until(w->n[i].d.edge, &since);
}

static const tk_done_t *done_of(const node_t *x, uint64_t token)
{
    for (size_t i = 0; i < x->ndone; i++)
        if (x->done[i].token == token)
            return &x->done[i];
    return NULL;
}

/* ---- tests --------------------------------------------------------------------- */

/* Origin -> relay -> relay -> edge: every write arrives two and three hops
 * down, each node taking one snapshot (its first) and then the stream. */
static void test_relay_chain(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r1 = relay_new(&w, 0, 201);
    int r2 = relay_new(&w, r1, 202);
    int e = edge_new(&w, r2, 101);
    run_until(&w, w.now + 2000);
    assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
    puts_n(&w, 20, "k");
    run_until(&w, w.now + 500);
    assert_converged(&w, r1);
    assert_converged(&w, r2);
    assert_converged(&w, e);
    assert_string_equal(w.n[e].m.history, TK_HIST_A);
    /* Sequence numbers and versions are the origin's (no history of its own). */
    assert_int_equal(w.n[e].m.applied_seq, 20);
    assert_int_equal(kv_version_cmp(w.n[e].m.applied_version, w.n[0].m.applied_version), 0);
    assert_int_equal(w.n[r1].resets, 1);
    assert_int_equal(w.n[e].resets, 1);
    repl_origin_stats_t st;
    repl_relay_stats(w.n[r1].d.relay, &st);
    assert_int_equal(st.last_seq, 20);
    assert_int_equal(st.edges_connected, 1);
    world_free(&w);
}

/* A relay that has heard of entries it has not applied yet (its disk is
 * slow) serves a fresh edge a snapshot of what it holds: the Welcome asks
 * for no more than that, so the edge takes it (before: the Welcome
 * announced the upstream's seq and the edge refused every such snapshot as
 * "unexpected snapshot end", reconnecting until the relay caught up). */
static void test_relay_snapshot_while_behind(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    run_until(&w, w.now + 2000);
    puts_n(&w, 5, "a");
    run_until(&w, w.now + 500);
    assert_converged(&w, r);
    w.n[r].hold = true;
    puts_n(&w, 3, "b");
    run_until(&w, w.now + 500);
    assert_int_equal(w.n[r].m.applied_seq, 5);
    repl_edge_status_t st;
    repl_relay_status(w.n[r].d.relay, w.now, &st);
    assert_int_equal(st.origin_seq, 8); /* it knows it is behind */
    int e = edge_new(&w, r, 101);
    run_until(&w, w.now + 2000);
    assert_int_equal(w.n[e].resets, 1);
    assert_int_equal(w.n[e].m.applied_seq, 5);
    assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
    w.n[r].hold = false;
    run_until(&w, w.now + 1000);
    assert_converged(&w, r);
    assert_converged(&w, e);
    assert_int_equal(w.n[e].resets, 1); /* the stream went on, no second snapshot */
    world_free(&w);
}

/* A write at an edge under a relay goes up through it, is stamped by the
 * origin, and is answered at the edge only once applied there (the hook
 * checks); a write at the relay's own API likewise. */
static void test_relay_forwarded_write(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    int e = edge_new(&w, r, 101);
    run_until(&w, w.now + 2000);
    repl_op_t ops[2] = {tk_put("a", "1"), tk_put("b", "2")};
    CALL(&w.n[e], repl_edge_write(w.n[e].d.edge, 7, ops, 2, w.now, a_));
    repl_op_t op = tk_put("c", "3");
    CALL(&w.n[r], repl_relay_write(w.n[r].d.relay, 8, &op, 1, w.now, a_));
    run_until(&w, w.now + 500);
    const tk_done_t *d = done_of(&w.n[e], 7);
    assert_non_null(d);
    assert_int_equal(d->status, 0);
    assert_int_equal(d->n, 2);
    d = done_of(&w.n[r], 8);
    assert_non_null(d);
    assert_int_equal(d->status, 0);
    assert_converged(&w, e);
    assert_non_null(lww_lookup(&w.n[0].m, TK_NS, "a"));
    assert_non_null(lww_lookup(&w.n[e].m, TK_NS, "c"));
    /* A token the relay keeps for itself is refused. */
    CALL(&w.n[r], repl_relay_write(w.n[r].d.relay, REPL_RELAY_TOKEN_LIMIT, &op, 1, w.now, a_));
    d = done_of(&w.n[r], REPL_RELAY_TOKEN_LIMIT);
    assert_non_null(d);
    assert_int_equal(d->status, KV_EINVAL);
    /* Relay cut from the origin: the edge's write fails, it does not hang. */
    cut_up(&w, r, true);
    run_until(&w, w.now + 10);
    CALL(&w.n[e], repl_edge_write(w.n[e].d.edge, 9, ops, 1, w.now, a_));
    run_until(&w, w.now + 500);
    d = done_of(&w.n[e], 9);
    assert_non_null(d);
    assert_int_equal(d->status, KV_EUNAVAILABLE);
    world_free(&w);
}

/* An edge cut from its relay resumes by sequence; a relay cut from the
 * origin resumes too, and its edge follows, all without a snapshot. */
static void test_relay_resume(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    int e = edge_new(&w, r, 101);
    run_until(&w, w.now + 2000);
    puts_n(&w, 5, "a");
    cut_up(&w, e, true);
    puts_n(&w, 5, "b");
    cut_up(&w, e, false);
    run_until(&w, w.now + 3000);
    assert_converged(&w, e);
    cut_up(&w, r, true);
    puts_n(&w, 5, "c");
    run_until(&w, w.now + 200);
    assert_int_equal(w.n[e].m.applied_seq, 10);
    cut_up(&w, r, false);
    run_until(&w, w.now + 3000);
    assert_converged(&w, r);
    assert_converged(&w, e);
    assert_int_equal(w.n[r].resets, 1);
    assert_int_equal(w.n[e].resets, 1);
    world_free(&w);
}

/* Relay A dies: its edge moves to relay B and resumes by sequence (no
 * second snapshot), then to the origin itself, and keeps following. */
static void test_relay_failover(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int ra = relay_new(&w, 0, 201);
    int rb = relay_new(&w, 0, 202);
    int e = edge_new(&w, ra, 101);
    run_until(&w, w.now + 2000);
    puts_n(&w, 6, "a");
    run_until(&w, w.now + 200);
    assert_converged(&w, e);
    kill_node(&w, ra);
    w.n[e].target = rb;
    puts_n(&w, 4, "b");
    run_until(&w, w.now + 3000);
    assert_converged(&w, e);
    assert_int_equal(w.n[e].resets, 1);
    assert_int_equal(w.n[rb].snapshots_given, 0);
    /* And from relay B to the origin. */
    kill_node(&w, rb);
    w.n[e].target = 0;
    puts_n(&w, 3, "c");
    run_until(&w, w.now + 3000);
    assert_converged(&w, e);
    assert_int_equal(w.n[e].resets, 1);
    world_free(&w);
}

/* An edge ahead of the relay it fails over to waits (no Welcome, no
 * snapshot) until that relay's log reaches its position, then resumes. */
static void test_relay_edge_ahead_waits(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int ra = relay_new(&w, 0, 201);
    int rb = relay_new(&w, 0, 202);
    int e = edge_new(&w, ra, 101);
    run_until(&w, w.now + 2000);
    cut_up(&w, rb, true);
    puts_n(&w, 5, "a");
    run_until(&w, w.now + 200);
    assert_int_equal(w.n[e].m.applied_seq, 5);
    kill_node(&w, ra);
    w.n[e].target = rb;
    run_until(&w, w.now + 1000);
    assert_int_equal(link_state(&w, e), REPL_LINK_SYNCING); /* hello sent, waiting */
    assert_int_equal(w.n[e].m.applied_seq, 5);
    cut_up(&w, rb, false);
    run_until(&w, w.now + 2000);
    assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
    assert_int_equal(w.n[e].resets, 1);
    assert_int_equal(w.n[rb].snapshots_given, 0);
    puts_n(&w, 2, "b");
    run_until(&w, w.now + 500);
    assert_converged(&w, e);
    world_free(&w);
}

/* A relay away past the origin's window takes a snapshot; its edges are
 * closed, come back, and follow (by snapshot when the relay's new log does
 * not hold their position); every replica converges with the origin. */
static void test_relay_snapshot_after_window(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    int e1 = edge_new(&w, r, 101);
    int e2 = edge_new(&w, r, 102);
    run_until(&w, w.now + 2000);
    puts_n(&w, 3, "a");
    run_until(&w, w.now + 200);
    cut_up(&w, r, true);
    puts_n(&w, 80, "b"); /* past log_retention_max (64) */
    run_until(&w, w.now + 200);
    assert_int_equal(w.n[e1].m.applied_seq, 3);
    cut_up(&w, r, false);
    run_until(&w, w.now + 5000);
    assert_int_equal(w.n[r].resets, 2);
    assert_converged(&w, r);
    assert_converged(&w, e1);
    assert_converged(&w, e2);
    assert_int_equal(w.n[e1].resets, 2);
    puts_n(&w, 3, "c");
    run_until(&w, w.now + 500);
    assert_converged(&w, e1);
    assert_converged(&w, e2);
    world_free(&w);
}

/* Right after a relay's own snapshot its log is empty, yet an edge exactly
 * at the snapshot's seq resumes from it: the relay knows that entry's
 * version (the proof needs no more). */
static void test_relay_resumes_at_its_snapshot_seq(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    int e = edge_new(&w, 0, 101); /* follows the origin first */
    run_until(&w, w.now + 2000);
    cut_up(&w, r, true);
    puts_n(&w, 80, "a"); /* past the origin's window for the relay */
    cut_up(&w, r, false);
    run_until(&w, w.now + 3000);
    assert_int_equal(w.n[r].resets, 2);
    assert_int_equal(w.n[r].nlog, 0);
    assert_converged(&w, e);
    cut_up(&w, e, true);
    w.n[e].target = r;
    cut_up(&w, e, false);
    run_until(&w, w.now + 3000);
    assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
    assert_int_equal(w.n[e].resets, 1);
    assert_int_equal(w.n[r].snapshots_given, 0);
    puts_n(&w, 2, "b");
    run_until(&w, w.now + 500);
    assert_converged(&w, e);
    world_free(&w);
}

/* Staleness composes: the edge is never fresher than its relay, goes stale
 * once the relay has been cut from the origin for the bound, and is fresh
 * again after the relay caught up. */
static void test_relay_staleness_composes(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    int r = relay_new(&w, 0, 201);
    int e = edge_new(&w, r, 101);
    run_until(&w, w.now + 2000);
    puts_n(&w, 3, "a");
    for (int i = 0; i < 20; i++) {
        run_until(&w, w.now + 50);
        uint64_t fe = fresh_until(&w, e), fr = fresh_until(&w, r);
        assert_true(fe != 0 && fr != 0);
        assert_true(fe <= fr);
        assert_false(repl_stale_at(fe, w.now));
    }
    cut_up(&w, r, true);
    uint64_t cut_at = w.now;
    for (int i = 0; i < 40; i++) {
        run_until(&w, w.now + 50);
        uint64_t fe = fresh_until(&w, e), fr = fresh_until(&w, r);
        assert_true(fe <= fr);
        /* The edge link is up and hears heartbeats, yet it goes stale. */
        if (w.now > cut_at + 1000)
            assert_true(repl_stale_at(fe, w.now));
    }
    assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
    cut_up(&w, r, false);
    run_until(&w, w.now + 2000);
    assert_false(repl_stale_at(fresh_until(&w, e), w.now));
    world_free(&w);
}

/* A relay of another history is refused by the origin's edge logic (it
 * alarms and stops), and an edge of another history by the relay. */
static void test_relay_refuses_other_history(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    repl_relay_config_t c;
    relay_config(&c, 201);
    memcpy(c.up.history_id, TK_HIST_B, sizeof c.up.history_id);
    int rb = add_relay(&w, 0, &c);
    int r = relay_new(&w, 0, 202);
    run_until(&w, w.now + 2000);
    assert_int_equal(link_state(&w, rb), REPL_LINK_REFUSED);
    assert_true(w.n[rb].d.alarms > 0);
    repl_edge_config_t ec;
    tk_edge_config(&ec, 101);
    memcpy(ec.history_id, TK_HIST_B, sizeof ec.history_id);
    ec.applied_seq = 3;
    node_t *x = &w.n[w.nn];
    x->kind = N_EDGE;
    x->target = r;
    lww_replica_init(&x->m, w.keys);
    repl_edge_t *eb;
    assert_int_equal(repl_edge_create(&ec, &eb), 0);
    drive_init(&x->d, NULL, eb, &x->m, &OPS, &w);
    int e = (int)w.nn++;
    CALL(x, repl_edge_start(eb, w.now, a_));
    run_until(&w, w.now + 2000);
    assert_int_equal(link_state(&w, e), REPL_LINK_REFUSED);
    assert_int_equal(w.n[e].resets, 0);
    world_free(&w);
}

/* Terms pass through a relay (repl.h "Terms"): its downstream links get the
 * largest term it has seen, also when its upstream's term grows under it,
 * so an edge under a relay fences a deposed leader as one above it does. */
static void test_relay_passes_term(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    repl_origin_set_term(w.n[0].d.origin, 7);
    int r = relay_new(&w, 0, 201);
    int e = edge_new(&w, r, 101);
    run_until(&w, w.now + 2000);
    puts_n(&w, 3, "k");
    run_until(&w, w.now + 500);
    assert_converged(&w, e);
    repl_edge_status_t st;
    repl_relay_status(w.n[r].d.relay, w.now, &st);
    assert_int_equal(st.term, 7);
    repl_edge_status(w.n[e].d.edge, w.now, &st);
    assert_int_equal(st.term, 7);
    repl_origin_set_term(w.n[0].d.origin, 9);
    puts_n(&w, 2, "m");
    run_until(&w, w.now + 500);
    assert_converged(&w, e);
    repl_edge_status(w.n[e].d.edge, w.now, &st);
    assert_int_equal(st.term, 9);
    assert_int_equal(st.terms_refused, 0);
    world_free(&w);
}

/* ---- takeover (repl.h "Terms", "Synchronous standbys") ---------------------------- */

static bool acknowledged(const node_t *x, uint64_t token)
{
    const tk_done_t *d = done_of(x, token);
    return d && d->status == 0;
}

/* Node i, a standby relay, takes over as the origin under `term`: a new
 * origin core over its replica and stored log (what a candidate's store
 * holds), leading from now on. */
static void take_over(world_t *w, int i, uint64_t term)
{
    node_t *x = &w->n[i];
    repl_origin_config_t c;
    tk_origin_config(&c);
    memcpy(c.history_id, x->m.history, sizeof c.history_id);
    c.node_id = 900 + (uint32_t)i;
    c.last_seq = x->m.applied_seq;
    c.log_first_seq = x->nlog ? x->log[0].seq : c.last_seq + 1;
    c.hlc_last = x->m.hlc_max;
    c.term = term;
    c.leadership = true;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    repl_relay_destroy(x->d.relay);
    for (size_t k = 0; k < w->nl; k++) /* its links went with its old core */
        if (w->l[k].open && (w->l[k].up == i || w->l[k].down == i))
            link_close(&w->l[k], -1);
    for (size_t k = 0; k < w->nl; k++)
        if (w->l[k].up == i || w->l[k].down == i)
            w->l[k].tell_up = w->l[k].tell_down = false;
    x->nreads = x->nsnaps = 0;
    x->kind = N_ORIGIN;
    drive_init(&x->d, o, NULL, &x->m, &OPS, w);
    CALL(x, repl_origin_lead_until(o, UINT64_MAX, w->now, a_));
}

/* A leader (term 4) with a synchronous standby and two edges; the leader
 * dies with a write committed only in its own log; the standby takes over
 * under term 6 from its log. Every acknowledged write is at the new leader
 * and every edge, the edges resume on its log without a snapshot, the
 * unacknowledged write is nowhere, and a deposed leader's frames (term 4)
 * are refused by an edge that has seen term 6. */
static void test_standby_takes_over(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    node_t *l = &w.n[0];
    repl_origin_destroy(l->d.origin);
    repl_origin_config_t c;
    tk_origin_config(&c);
    c.term = 4;
    c.leadership = true;
    c.sync_standbys = 1;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    drive_init(&l->d, o, NULL, &l->m, &OPS, &w);
    CALL(l, repl_origin_lead_until(o, UINT64_MAX, w.now, a_));
    repl_relay_config_t rc;
    relay_config(&rc, 201);
    w.n[w.nn].standby = true;
    int s = add_relay(&w, 0, &rc);
    int e1 = edge_new(&w, 0, 101);
    int e2 = edge_new(&w, 0, 102);
    run_until(&w, w.now + 2000);
    puts_n(&w, 10, "a"); /* tokens 1000..1009 */
    run_until(&w, w.now + 500);
    for (uint64_t t = 1000; t < 1010; t++)
        assert_true(acknowledged(l, t));
    run_until(&w, w.now + 300); /* a heartbeat: the standby hears what was acknowledged */
    repl_edge_status_t sst;
    repl_relay_status(w.n[s].d.relay, w.now, &sst);
    assert_int_equal(sst.acked_seen, 10); /* its log holds it: it may campaign */
    assert_true(sst.applied_seq >= sst.acked_seen);
    /* Without its standby the leader commits but acknowledges nothing. */
    cut_up(&w, s, true);
    origin_put(&w, 77, "lost", "x");
    run_until(&w, w.now + 500);
    assert_null(done_of(l, 77));
    assert_int_equal(l->m.applied_seq, 11);
    assert_int_equal(w.n[s].m.applied_seq, 10);
    kill_node(&w, 0);
    take_over(&w, s, 6);
    w.n[e1].target = w.n[e2].target = s;
    run_until(&w, w.now + 3000);
    origin_put_at(&w, s, 88, "b", "y");
    run_until(&w, w.now + 500);
    assert_true(acknowledged(&w.n[s], 88));
    for (int e = e1; e <= e2; e++) {
        assert_int_equal(link_state(&w, e), REPL_LINK_LIVE);
        assert_true(lww_equal(&w.n[s].m, &w.n[e].m));
        assert_int_equal(w.n[e].resets, 1); /* only its first snapshot */
        for (int k = 0; k < 10; k++) {
            char key[8];
            snprintf(key, sizeof key, "a%d", k);
            assert_non_null(lww_lookup(&w.n[e].m, TK_NS, key));
        }
        repl_edge_status_t st;
        repl_edge_status(w.n[e].d.edge, w.now, &st);
        assert_int_equal(st.term, 6);
    }
    assert_null(lww_lookup(&w.n[s].m, TK_NS, "lost"));
    /* The deposed leader comes back believing it leads: refused. */
    w.n[0].dead = false;
    w.n[e2].target = 0;
    cut_up(&w, e2, true);
    cut_up(&w, e2, false);
    run_until(&w, w.now + 1000);
    repl_edge_status_t st;
    repl_edge_status(w.n[e2].d.edge, w.now, &st);
    assert_true(st.terms_refused >= 1);
    assert_int_equal(st.refused_term, 4);
    assert_null(lww_lookup(&w.n[e2].m, TK_NS, "lost"));
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_chain),
        cmocka_unit_test(test_relay_snapshot_while_behind),
        cmocka_unit_test(test_relay_forwarded_write),
        cmocka_unit_test(test_relay_resume),
        cmocka_unit_test(test_relay_failover),
        cmocka_unit_test(test_relay_edge_ahead_waits),
        cmocka_unit_test(test_relay_snapshot_after_window),
        cmocka_unit_test(test_relay_resumes_at_its_snapshot_seq),
        cmocka_unit_test(test_relay_staleness_composes),
        cmocka_unit_test(test_relay_refuses_other_history),
        cmocka_unit_test(test_relay_passes_term),
        cmocka_unit_test(test_standby_takes_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
