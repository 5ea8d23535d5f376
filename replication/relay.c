/*
 * relay.c - the relay: an edge part (edge*.c) that follows an upstream,
 * composed with an origin part (origin*.c in relay mode) that serves
 * downstream links from the relay's own log (repl.h, "The relay").
 *
 * The relay owns the two cores and routes between them; it holds no
 * protocol logic of its own. Each sub-core call fills a small local action
 * array; the relay takes every action over into its own output (a SEND's
 * buffer gets a reference, a WRITE_DONE's results are copied), so that it
 * may call either core again within one call of its own (a core frees what
 * it handed out at its next call). What it intercepts:
 *   - the edge part's APPLY, once the driver reports it applied: its
 *     mutations are appended to the origin part's log (the frame they point
 *     into is taken over, so nothing is copied) and pushed downstream;
 *   - the edge part's RESET: every downstream link is closed and the origin
 *     part goes; it is rebuilt from the snapshot's end step;
 *   - the origin part's forwarded WriteRequests: passed to the edge part as
 *     writes of the relay's own (tokens from REPL_RELAY_TOKEN_LIMIT up), and
 *     their WRITE_DONEs turned into WriteResults downstream (the edge part
 *     answers only after this relay applied the write).
 * Not I/O, no clock: as every core, time comes in as now_ms.
 */
#include <errno.h>
#include <string.h>

#include "edge_int.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "origin_int.h"

/* Actions a sub-core call fills before the relay takes them over. */
#define RELAY__ACTS 64

typedef struct {
    repl_action_t buf[RELAY__ACTS];
    repl_actions_t a;
} relay__acts_t;

/* A downstream write passed upstream. */
typedef struct {
    uint64_t token; /* the edge part's token: REPL_RELAY_TOKEN_LIMIT + n */
    repl_peer_t peer;
    uint64_t request_id;
    bool live; /* its downstream link is still there */
} rfwd_t;

/* An edge-part answer to a forwarded write, waiting to go downstream. */
typedef struct {
    uint64_t token;
    int status;
    uint64_t seq;
    int *results; /* n, kv_malloc'd, or NULL */
    size_t n;
} rdone_t;

struct repl_relay {
    repl_relay_config_t cfg;
    repl__out_t out;
    repl_edge_t *up;
    repl_origin_t *down; /* NULL while the relay holds no history */
    char served[33];     /* the history the origin part serves or last served */
    rfwd_t *fwd;         /* forwarded writes in flight, in token order */
    size_t fwd_n, fwd_cap;
    uint64_t fwd_next;
    rdone_t *done;
    size_t done_n, done_cap;
};

static void relay__acts_init(relay__acts_t *t)
{
    t->a.acts = t->buf;
    t->a.cap = RELAY__ACTS;
    t->a.n = 0;
}

void repl_relay_config_default(repl_relay_config_t *cfg)
{
    repl_edge_config_default(&cfg->up);
    repl_origin_config_default(&cfg->down);
}

/* The origin part's view of the edge part (origin_int.h, orelay_t). */
static void relay__view(repl_relay_t *r)
{
    if (!r->down)
        return;
    uint64_t since, fresh_until = repl_edge_fresh_until(r->up, &since);
    r->down->relay.on = true;
    r->down->relay.caught_up_ms = fresh_until ? since : 0;
    r->down->relay.upstream_seq = r->up->origin_seq;
    repl_origin_set_term(r->down, r->up->term); /* passed down: repl.h "Terms" */
}

/* Build the origin part over the edge part's position, with `first` the
 * oldest seq of the stored log. */
static int relay__down_create(repl_relay_t *r, uint64_t first)
{
    repl_origin_config_t c = r->cfg.down;
    c.node_id = r->cfg.up.node_id;
    memcpy(c.history_id, r->up->history_id, sizeof c.history_id);
    c.last_seq = r->up->applied_seq;
    c.log_first_seq = first && first <= c.last_seq + 1 ? first : c.last_seq + 1;
    c.hlc_last = 0;
    /* A history that replaced the one served before (the origin was
     * restored): edges still on the old one take a snapshot. */
    c.parent_history[0] = '\0';
    if (r->served[0] && strcmp(r->served, c.history_id) != 0)
        memcpy(c.parent_history, r->served, sizeof c.parent_history);
    int rc = repl_origin_create(&c, &r->down);
    if (rc != 0)
        return rc;
    r->down->relay.base_seq = r->up->applied_seq;
    r->down->relay.base_version = r->up->applied_version;
    memcpy(r->served, c.history_id, sizeof r->served);
    relay__view(r);
    return 0;
}

int repl_relay_create(const repl_relay_config_t *cfg, repl_relay_t **out)
{
    repl_relay_t *r = kv_calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    int rc = repl_edge_create(&cfg->up, &r->up);
    if (rc == 0 && r->up->history_id[0])
        rc = relay__down_create(r, cfg->down.log_first_seq);
    if (rc != 0) {
        repl_relay_destroy(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void relay__done_free(repl_relay_t *r)
{
    for (size_t i = 0; i < r->done_n; i++)
        kv_free(r->done[i].results);
    r->done_n = 0;
}

void repl_relay_destroy(repl_relay_t *r)
{
    if (!r)
        return;
    repl_edge_destroy(r->up);
    repl_origin_destroy(r->down);
    relay__done_free(r);
    kv_free(r->done);
    kv_free(r->fwd);
    repl__out_free(&r->out);
    kv_free(r);
}

/* ---- taking sub-core actions over ----------------------------------------------- */

/* Re-emit act into the relay's output; the relay now owns what it points
 * at (a SEND's buffer reference; WRITE_DONE results are copied). */
static void relay__emit(repl_relay_t *r, const repl_action_t *act, repl_actions_t *a)
{
    if (act->kind == REPL_ACT_WRITE_DONE) {
        repl__emit_write_done(&r->out, a, act->u.write_done.token, act->u.write_done.status,
                              act->u.write_done.seq, act->u.write_done.results,
                              act->u.write_done.n);
        return;
    }
    if (act->kind == REPL_ACT_SEND)
        repl_buf_ref(act->u.send.buf);
    repl__out_emit(&r->out, a, act, NULL);
}

static void relay__stash_done(repl_relay_t *r, const repl_action_t *act)
{
    if (r->done_n == r->done_cap) {
        size_t cap = r->done_cap ? 2 * r->done_cap : 8;
        rdone_t *t = kv_realloc(r->done, cap * sizeof *t);
        REPL__NOMEM(t);
        r->done = t;
        r->done_cap = cap;
    }
    rdone_t *d = &r->done[r->done_n++];
    d->token = act->u.write_done.token;
    d->status = act->u.write_done.status;
    d->seq = act->u.write_done.seq;
    d->n = act->u.write_done.n;
    d->results = NULL;
    if (d->n && act->u.write_done.results) {
        d->results = kv_malloc(d->n * sizeof *d->results);
        REPL__NOMEM(d->results);
        memcpy(d->results, act->u.write_done.results, d->n * sizeof *d->results);
    }
}

static void relay__drain_down(repl_relay_t *r, relay__acts_t *t, repl_actions_t *a)
{
    for (;;) {
        for (size_t i = 0; i < t->a.n; i++) {
            KV_ASSERT(t->a.acts[i].kind != REPL_ACT_PERSIST && "a relay orders nothing");
            relay__emit(r, &t->a.acts[i], a);
        }
        t->a.n = 0;
        repl_origin_poll(r->down, &t->a);
        if (t->a.n == 0)
            return;
    }
}

/* The upstream snapshot begins: the data the downstream links follow goes. */
static void relay__down_drop(repl_relay_t *r, repl_actions_t *a)
{
    if (!r->down)
        return;
    relay__acts_t t;
    relay__acts_init(&t);
    repl__origin_begin(r->down);
    repl__origin_close_all(r->down, "relay replaced by a snapshot of its upstream", &t.a);
    relay__drain_down(r, &t, a);
    repl_origin_destroy(r->down);
    r->down = NULL;
    for (size_t i = 0; i < r->fwd_n; i++)
        r->fwd[i].live = false;
}

static void relay__drain_up(repl_relay_t *r, relay__acts_t *t, repl_actions_t *a)
{
    for (;;) {
        for (size_t i = 0; i < t->a.n; i++) {
            const repl_action_t *act = &t->a.acts[i];
            if (act->kind == REPL_ACT_WRITE_DONE &&
                act->u.write_done.token >= REPL_RELAY_TOKEN_LIMIT) {
                relay__stash_done(r, act);
                continue;
            }
            if (act->kind == REPL_ACT_RESET)
                relay__down_drop(r, a);
            relay__emit(r, act, a);
        }
        t->a.n = 0;
        repl_edge_poll(r->up, &t->a);
        if (t->a.n == 0)
            return;
    }
}

/* ---- forwarded writes -------------------------------------------------------------- */

static rfwd_t *relay__fwd_find(repl_relay_t *r, uint64_t token, size_t *pos)
{
    size_t lo = 0, hi = r->fwd_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->fwd[mid].token < token)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < r->fwd_n && r->fwd[lo].token == token ? &r->fwd[lo] : NULL;
}

/* Pass one WriteRequest of downstream link `peer` upstream. */
static void relay__forward(repl_relay_t *r, const oforward_t *w, uint64_t now_ms, repl_actions_t *a)
{
    const Edgekv__WriteRequest *req = w->frame->write_request;
    const char *who = req->token_id ? req->token_id : NULL;
    repl_op_t *ops = NULL;
    int rc = req->n_ops == 0 || req->n_ops > KV_REPL_WRITE_MAX_OPS ? KV_EINVAL : 0;
    if (rc == 0 && !(ops = kv_calloc(req->n_ops, sizeof *ops)))
        rc = -ENOMEM;
    if (rc == 0 && who && strnlen(who, KV_AUTH_ID_MAX_BYTES + 1) > KV_AUTH_ID_MAX_BYTES)
        rc = KV_EINVAL;
    for (size_t i = 0; rc == 0 && i < req->n_ops; i++) {
        rc = repl_wire_op_from_pb(req->ops[i], &ops[i]);
        ops[i].auth_id = who && who[0] ? who : NULL;
        if (rc == 0 && ops[i].kind == REPL_OP_NOOP)
            rc = KV_EINVAL;
    }
    if (rc != 0) {
        kv_free(ops);
        relay__acts_t t;
        relay__acts_init(&t);
        repl__origin_begin(r->down);
        repl__origin_write_result(r->down, w->peer, w->request_id, rc, 0, NULL, 0, now_ms, &t.a);
        relay__drain_down(r, &t, a);
        return;
    }
    if (r->fwd_n == r->fwd_cap) {
        size_t cap = r->fwd_cap ? 2 * r->fwd_cap : 8;
        rfwd_t *t = kv_realloc(r->fwd, cap * sizeof *t);
        REPL__NOMEM(t);
        r->fwd = t;
        r->fwd_cap = cap;
    }
    rfwd_t *f = &r->fwd[r->fwd_n++]; /* tokens only grow: the table stays sorted */
    f->token = REPL_RELAY_TOKEN_LIMIT + r->fwd_next++;
    f->peer = w->peer;
    f->request_id = w->request_id;
    f->live = true;
    relay__acts_t t;
    relay__acts_init(&t);
    repl_edge_write(r->up, f->token, ops, req->n_ops, now_ms, &t.a);
    kv_free(ops);
    relay__drain_up(r, &t, a);
}

/* Answer downstream what the edge part answered. */
static void relay__answer(repl_relay_t *r, const rdone_t *d, uint64_t now_ms, repl_actions_t *a)
{
    size_t pos;
    rfwd_t *f = relay__fwd_find(r, d->token, &pos);
    if (!f)
        return;
    if (f->live && r->down) {
        relay__acts_t t;
        relay__acts_init(&t);
        repl__origin_begin(r->down);
        relay__view(r);
        repl__origin_write_result(r->down, f->peer, f->request_id, d->status, d->seq, d->results,
                                  d->n, now_ms, &t.a);
        relay__drain_down(r, &t, a);
    }
    memmove(&r->fwd[pos], &r->fwd[pos + 1], (r->fwd_n - pos - 1) * sizeof *r->fwd);
    r->fwd_n--;
}

/* After every call: forward what the origin part received, answer what the
 * edge part answered, until neither has anything left. */
static void relay__settle(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    for (;;) {
        if (r->down && r->down->fwd_n > 0) {
            oforward_t w = r->down->fwd[0];
            memmove(&r->down->fwd[0], &r->down->fwd[1],
                    (r->down->fwd_n - 1) * sizeof *r->down->fwd);
            r->down->fwd_n--;
            relay__forward(r, &w, now_ms, a);
            frame_free(w.frame);
            continue;
        }
        if (r->done_n > 0) {
            rdone_t d = r->done[0];
            memmove(&r->done[0], &r->done[1], (r->done_n - 1) * sizeof *r->done);
            r->done_n--;
            relay__answer(r, &d, now_ms, a);
            kv_free(d.results);
            continue;
        }
        return;
    }
}

/* ---- entry points ------------------------------------------------------------------- */

/* Run `call` (an edge-part call filling &t_.a), take its actions over, then
 * settle and let the origin part see the edge part's new state. */
#define RELAY__UP(r, now_ms, a, call)                                                              \
    do {                                                                                           \
        relay__acts_t t_;                                                                          \
        repl__out_begin(&(r)->out);                                                                \
        relay__acts_init(&t_);                                                                     \
        call;                                                                                      \
        relay__drain_up((r), &t_, (a));                                                            \
        relay__settle((r), (now_ms), (a));                                                         \
        relay__wake((r), (now_ms), (a));                                                           \
    } while (0)

/* The same for an origin-part call (nothing happens without one). */
#define RELAY__DOWN(r, now_ms, a, call)                                                            \
    do {                                                                                           \
        relay__acts_t t_;                                                                          \
        repl__out_begin(&(r)->out);                                                                \
        relay__acts_init(&t_);                                                                     \
        if ((r)->down) {                                                                           \
            relay__view(r);                                                                        \
            call;                                                                                  \
            relay__drain_down((r), &t_, (a));                                                      \
        }                                                                                          \
        relay__settle((r), (now_ms), (a));                                                         \
    } while (0)

/* The edge part moved: links waiting for the log may be judged now. */
static void relay__wake(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    if (!r->down)
        return;
    relay__acts_t t;
    relay__acts_init(&t);
    repl__origin_begin(r->down);
    relay__view(r);
    repl__origin_relay_wake(r->down, now_ms, &t.a);
    relay__drain_down(r, &t, a);
}

void repl_relay_start(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_start(r->up, now_ms, &t_.a));
}

void repl_relay_up_connect(repl_relay_t *r, repl_peer_t p, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_on_connect(r->up, p, now_ms, &t_.a));
}

void repl_relay_up_connect_failed(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_on_connect_failed(r->up, now_ms, &t_.a));
}

void repl_relay_up_redial(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_redial(r->up, now_ms, &t_.a));
}

void repl_relay_up_bytes(repl_relay_t *r, const uint8_t *data, size_t len, uint64_t now_ms,
                         repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_on_bytes(r->up, data, len, now_ms, &t_.a));
}

void repl_relay_up_disconnect(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_on_disconnect(r->up, now_ms, &t_.a));
}

void repl_relay_write(repl_relay_t *r, uint64_t token, const repl_op_t *ops, size_t n,
                      uint64_t now_ms, repl_actions_t *a)
{
    if (token >= REPL_RELAY_TOKEN_LIMIT) {
        repl__out_begin(&r->out);
        repl__emit_write_done(&r->out, a, token, KV_EINVAL, 0, NULL, 0);
        return;
    }
    RELAY__UP(r, now_ms, a, repl_edge_write(r->up, token, ops, n, now_ms, &t_.a));
}

void repl_relay_reset_done(repl_relay_t *r, int rc, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_reset_done(r->up, rc, now_ms, &t_.a));
}

/* The APPLY in flight succeeded: its log entries join the origin part's
 * log (their frame is taken over by a hold, so nothing is copied), or its
 * snapshot end step rebuilds the origin part. */
static void relay__log_applied(repl_relay_t *r, eitem_t *it, uint64_t now_ms, repl_actions_t *a)
{
    if (it->set_history || !it->seq || it->n == 0 || !r->down)
        return;
    repl__hold_t *hold = NULL;
    if (it->frame) {
        hold = repl__hold_frame(it->frame, it->bytes);
        it->frame = NULL; /* the hold owns (or freed) it */
        KV_ASSERT(hold != NULL && "relay log out of memory");
    }
    relay__acts_t t;
    relay__acts_init(&t);
    repl__origin_begin(r->down);
    relay__view(r);
    repl__origin_append(r->down, it->muts, it->n, hold, now_ms, &t.a);
    repl__hold_unref(hold);
    relay__drain_down(r, &t, a);
}

void repl_relay_applied(repl_relay_t *r, int rc, uint64_t seq, uint64_t now_ms, repl_actions_t *a)
{
    repl__out_begin(&r->out);
    eitem_t *it = repl__edge_step_inflight(r->up);
    KV_ASSERT(it && !it->reset && it->seq == seq);
    bool ended = it->set_history;
    if (rc == 0)
        relay__log_applied(r, it, now_ms, a);
    relay__acts_t t;
    relay__acts_init(&t);
    repl_edge_applied(r->up, rc, seq, now_ms, &t.a);
    if (rc == 0 && ended && !r->down && r->up->history_id[0]) {
        int crc = relay__down_create(r, seq + 1);
        KV_ASSERT(crc == 0 && "relay origin part from a valid snapshot");
    }
    relay__drain_up(r, &t, a);
    relay__settle(r, now_ms, a);
    relay__wake(r, now_ms, a);
}

void repl_relay_down_connect(repl_relay_t *r, repl_peer_t p, const char *name, uint64_t now_ms,
                             repl_actions_t *a)
{
    if (!r->down) {
        repl__out_begin(&r->out);
        repl__emit_close(&r->out, a, p, "relay holds no data yet");
        return;
    }
    RELAY__DOWN(r, now_ms, a, repl_origin_on_connect(r->down, p, name, now_ms, &t_.a));
}

void repl_relay_down_bytes(repl_relay_t *r, repl_peer_t p, const uint8_t *data, size_t len,
                           uint64_t now_ms, repl_actions_t *a)
{
    RELAY__DOWN(r, now_ms, a, repl_origin_on_bytes(r->down, p, data, len, now_ms, &t_.a));
}

void repl_relay_down_flushed(repl_relay_t *r, repl_peer_t p, size_t len, uint64_t now_ms,
                             repl_actions_t *a)
{
    RELAY__DOWN(r, now_ms, a, repl_origin_on_flushed(r->down, p, len, now_ms, &t_.a));
}

void repl_relay_down_disconnect(repl_relay_t *r, repl_peer_t p, uint64_t now_ms, repl_actions_t *a)
{
    for (size_t i = 0; i < r->fwd_n; i++)
        if (r->fwd[i].peer == p)
            r->fwd[i].live = false; /* a later link may get the same id */
    RELAY__DOWN(r, now_ms, a, repl_origin_on_disconnect(r->down, p, now_ms, &t_.a));
}

void repl_relay_log_read(repl_relay_t *r, repl_peer_t p, int rc, const repl_mutation_t *muts,
                         size_t n, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__DOWN(r, now_ms, a, repl_origin_log_read(r->down, p, rc, muts, n, now_ms, &t_.a));
}

void repl_relay_snapshot_sent(repl_relay_t *r, repl_peer_t p, int rc, uint64_t seq, uint64_t now_ms,
                              repl_actions_t *a)
{
    RELAY__DOWN(r, now_ms, a, repl_origin_snapshot_sent(r->down, p, rc, seq, now_ms, &t_.a));
}

int repl_relay_restore_edge(repl_relay_t *r, uint32_t node_id, const char *name, uint64_t acked_seq,
                            uint64_t last_ack_ms)
{
    if (!r->down)
        return KV_EINVAL;
    return repl_origin_restore_edge(r->down, node_id, name, acked_seq, last_ack_ms);
}

void repl_relay_tick(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a)
{
    RELAY__UP(r, now_ms, a, repl_edge_tick(r->up, now_ms, &t_.a));
    relay__acts_t t;
    relay__acts_init(&t);
    if (r->down) {
        relay__view(r);
        repl_origin_tick(r->down, now_ms, &t.a);
        relay__drain_down(r, &t, a);
    }
    relay__settle(r, now_ms, a);
}

void repl_relay_poll(repl_relay_t *r, repl_actions_t *a)
{
    repl__out_begin(&r->out);
    repl__out_poll(&r->out, a);
}

uint64_t repl_relay_deadline(const repl_relay_t *r)
{
    uint64_t d = repl_edge_deadline(r->up);
    return r->down ? repl__min64(d, repl_origin_deadline(r->down)) : d;
}

void repl_relay_status(const repl_relay_t *r, uint64_t now_ms, repl_edge_status_t *out)
{
    repl_edge_status(r->up, now_ms, out);
}

uint64_t repl_relay_fresh_until(const repl_relay_t *r, uint64_t *since_ms)
{
    return repl_edge_fresh_until(r->up, since_ms);
}

void repl_relay_backlog(const repl_relay_t *r, size_t *items, size_t *bytes)
{
    repl_edge_backlog(r->up, items, bytes);
}

void repl_relay_stats(const repl_relay_t *r, repl_origin_stats_t *out)
{
    if (r->down)
        repl_origin_stats(r->down, out);
    else
        memset(out, 0, sizeof *out);
}

size_t repl_relay_edges(const repl_relay_t *r, uint64_t now_ms, repl_edge_info_t *out, size_t cap)
{
    return r->down ? repl_origin_edges(r->down, now_ms, out, cap) : 0;
}
