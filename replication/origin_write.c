/*
 * origin_write.c - how the origin orders writes: stamp, sequence, group
 * commit, answer.
 *
 * A write (local, or a WriteRequest from an edge) gets a version per op
 * from the HLC (advanced past the edge's hint first) and consecutive
 * sequence numbers at once, then waits in the write queue. Up to
 * cfg.groups_in_flight groups are being persisted at once; writes that
 * arrive meanwhile form the next group (up to group_max_ops, or
 * KV_REPL_GROUP_MAX_BYTES; a bigger single write goes alone). Groups are
 * reported back in the order they were emitted: when storage reports the
 * oldest committed, its mutations move to the in-memory tail, are pushed
 * to the edges, and its writers are answered. A failed commit stops writes
 * for good (storage that cannot commit must not be written around): every
 * queued writer is answered with the error at once, and the groups still
 * in flight are only released (their mutations are borrowed by the driver)
 * as their reports come in, in any order.
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "origin_int.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "results travel as int32");

static owrite_t *wq_at(repl_origin_t *o, size_t i)
{
    KV_ASSERT(i < o->wq_n);
    return &o->wq[(o->wq_head + i) % o->wq_cap];
}

static void wq_push(repl_origin_t *o, const owrite_t *w)
{
    if (o->wq_n == o->wq_cap) {
        size_t cap = o->wq_cap ? 2 * o->wq_cap : 16;
        owrite_t *q = kv_malloc(cap * sizeof *q);
        REPL__NOMEM(q);
        for (size_t i = 0; i < o->wq_n; i++)
            q[i] = *wq_at(o, i);
        kv_free(o->wq);
        o->wq = q;
        o->wq_cap = cap;
        o->wq_head = 0;
    }
    o->wq[(o->wq_head + o->wq_n) % o->wq_cap] = *w;
    o->wq_n++;
    o->wq_ops += w->n;
    o->wq_bytes += w->bytes;
}

/* Drop the last write (answered; not in a group). */
static void wq_pop_back(repl_origin_t *o)
{
    KV_ASSERT(o->wq_n > o->grouped_writes);
    owrite_t *w = wq_at(o, o->wq_n - 1);
    o->wq_ops -= w->n;
    o->wq_bytes -= w->bytes;
    kv_free(w->muts);
    repl__hold_unref(w->hold);
    o->wq_n--;
}

/* Drop the head write (answered). */
static void wq_pop(repl_origin_t *o)
{
    owrite_t *w = wq_at(o, 0);
    o->wq_ops -= w->n;
    o->wq_bytes -= w->bytes;
    kv_free(w->muts);
    repl__hold_unref(w->hold);
    o->wq_head = (o->wq_head + 1) % o->wq_cap;
    o->wq_n--;
}

static void group_free(ogroup_t *g)
{
    kv_free(g->muts);
    repl__hold_unref(g->enc);
    g->muts = NULL;
    g->enc = NULL;
}

/* Encode every mutation of g once, into one block: the driver writes
 * these bytes as the log entries, and the tail keeps them for the batch
 * frames, which copy them in (wire.c) instead of packing each mutation
 * again for every frame it goes into. */
static void group_encode(ogroup_t *g)
{
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++)
        total += g->muts[i].enc_len = repl_mutation_encoded_size(&g->muts[i]);
    uint8_t *p;
    g->enc = repl__hold_bytes(total, &p);
    REPL__NOMEM(g->enc);
    for (size_t i = 0; i < g->n; i++) {
        size_t len = repl_mutation_pack(&g->muts[i], p);
        KV_ASSERT(len == g->muts[i].enc_len);
        g->muts[i].enc = p;
        p += len;
    }
}

void repl__origin_writes_free(repl_origin_t *o)
{
    for (size_t i = 0; i < o->fwd_n; i++)
        frame_free(o->fwd[i].frame);
    kv_free(o->fwd);
    o->fwd = NULL;
    o->fwd_n = o->fwd_cap = 0;
    while (o->wq_n > 0)
        wq_pop(o);
    kv_free(o->wq);
    o->wq = NULL;
    for (size_t i = 0; i < o->groups_n; i++)
        group_free(&o->groups[(o->groups_head + i) % KV_REPL_GROUPS_IN_FLIGHT_MAX]);
    o->groups_n = 0;
}

static ogroup_t *group_at(repl_origin_t *o, size_t i)
{
    KV_ASSERT(i < o->groups_n);
    return &o->groups[(o->groups_head + i) % KV_REPL_GROUPS_IN_FLIGHT_MAX];
}

/* Answer a remote writer; dropped if its link is gone (it sees a
 * disconnect and answers its client itself). */
void repl__origin_write_result(repl_origin_t *o, repl_peer_t peer, uint64_t request_id, int status,
                               uint64_t seq, const int *results, size_t n, uint64_t now_ms,
                               repl_actions_t *a)
{
    opeer_t *p = repl__origin_peer(o, peer);
    if (!p || p->state == OPEER_HELLO)
        return;
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteResult r = EDGEKV__WRITE_RESULT__INIT;
    r.request_id = request_id;
    r.status = status;
    r.seq = seq;
    /* NULL results (a storage that reported none) read as all zero. */
    r.n_results = status == 0 && results ? n : 0;
    r.results = (int32_t *)results;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_RESULT;
    f.write_result = &r;
    (void)repl__origin_send(o, p, &f, now_ms, a);
}

/* results: per op when status is 0, else NULL. */
static void origin__answer(repl_origin_t *o, const owrite_t *w, int status, const int *results,
                           uint64_t now_ms, repl_actions_t *a)
{
    uint64_t seq = status == 0 ? w->first_seq + w->n - 1 : 0;
    if (w->remote)
        repl__origin_write_result(o, w->peer, w->request_id, status, seq, results, w->n, now_ms, a);
    else
        repl__emit_write_done(&o->out, a, w->token, status, seq, results, status == 0 ? w->n : 0);
}

/* Emit one group of the writes after those in flight; false if there are
 * none. */
static bool origin__emit_group(repl_origin_t *o, repl_actions_t *a)
{
    size_t first = o->grouped_writes, k = first, ops = 0, bytes = 0;
    for (; k < o->wq_n; k++) {
        const owrite_t *w = wq_at(o, k);
        if (k > first &&
            (ops + w->n > o->cfg.group_max_ops || bytes + w->bytes > KV_REPL_GROUP_MAX_BYTES))
            break;
        ops += w->n;
        bytes += w->bytes;
    }
    if (k == first)
        return false;
    ogroup_t *g = &o->groups[(o->groups_head + o->groups_n) % KV_REPL_GROUPS_IN_FLIGHT_MAX];
    g->muts = kv_malloc(ops * sizeof *g->muts);
    REPL__NOMEM(g->muts);
    size_t off = 0;
    for (size_t i = first; i < k; i++) {
        const owrite_t *w = wq_at(o, i);
        memcpy(g->muts + off, w->muts, w->n * sizeof *w->muts);
        off += w->n;
    }
    g->n = ops;
    group_encode(g);
    g->writes = k - first;
    g->id = ++o->group_id;
    g->reported = false;
    o->groups_n++;
    o->grouped_writes = k;
    repl_action_t act = {
        .kind = REPL_ACT_PERSIST,
        .u.persist = {.batch_id = g->id, .muts = g->muts, .n = ops, .bytes = bytes}};
    repl__out_emit(&o->out, a, &act, NULL);
    return true;
}

/* Start groups while fewer than groups_in_flight are in flight. */
static void origin__start_groups(repl_origin_t *o, repl_actions_t *a)
{
    while (!o->failed && !o->corked && o->groups_n < o->cfg.groups_in_flight &&
           origin__emit_group(o, a))
        ;
}

void repl_origin_cork(repl_origin_t *o)
{
    o->corked = true;
}

void repl_origin_uncork(repl_origin_t *o, repl_actions_t *a)
{
    repl__origin_begin(o);
    o->corked = false;
    origin__start_groups(o, a);
}

/* Stamp and sequence w, queue it, and start a group if none is in flight. */
static void origin__enqueue(repl_origin_t *o, owrite_t *w, uint64_t now_ms, repl_actions_t *a)
{
    for (size_t i = 0; i < w->n; i++) {
        w->muts[i].seq = o->next_seq++;
        w->muts[i].term = o->term;
        w->muts[i].version = hlc_stamp(&o->hlc, repl__origin_wall(o, now_ms));
    }
    w->first_seq = w->muts[0].seq;
    wq_push(o, w);
    origin__start_groups(o, a);
}

/* May a write of n ops and `bytes` join the queue? */
static int origin__admit(const repl_origin_t *o, size_t n, size_t bytes)
{
    if (o->failed)
        return KV_EIO;
    if (n == 0 || n > KV_REPL_WRITE_MAX_OPS)
        return KV_EINVAL;
    if (o->wq_n > 0 && (o->wq_ops + n > KV_REPL_PENDING_MAX_OPS ||
                        o->wq_bytes + bytes > KV_REPL_PENDING_MAX_BYTES))
        return KV_EBUSY;
    return 0;
}

static int origin__check_op(const repl_op_t *op)
{
    return op->kind == REPL_OP_NOOP ? KV_EINVAL : repl_op_check(op);
}

void repl_origin_write(repl_origin_t *o, uint64_t token, const repl_op_t *ops, size_t n,
                       uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    size_t bytes = 0;
    int rc = n == 0 || n > KV_REPL_WRITE_MAX_OPS ? KV_EINVAL : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = origin__check_op(&ops[i]);
        bytes += ops[i].key_len + ops[i].value_len + ops[i].metadata_len;
    }
    if (rc == 0)
        rc = origin__admit(o, n, bytes);
    if (rc == 0)
        rc = repl__origin_sync_admit(o, now_ms);
    owrite_t w = {.token = token, .n = n, .bytes = bytes};
    if (rc == 0 && !(w.muts = kv_calloc(n, sizeof *w.muts)))
        rc = -ENOMEM;
    if (rc == 0 && !(w.hold = repl__hold_copy(ops, n, w.muts))) {
        kv_free(w.muts);
        rc = -ENOMEM;
    }
    if (rc != 0) {
        repl__emit_write_done(&o->out, a, token, rc, 0, NULL, 0);
        return;
    }
    origin__enqueue(o, &w, now_ms, a);
}

/* Ops of a WriteRequest, borrowing the frame's bytes. Each carries the
 * token id the edge named, for the judge's re-check (repl.h, auth_id). */
static int origin__request_ops(const Edgekv__WriteRequest *r, repl_mutation_t **out)
{
    const char *who = r->token_id ? r->token_id : "";
    if (r->n_ops == 0 || r->n_ops > KV_REPL_WRITE_MAX_OPS)
        return KV_EINVAL;
    if (strnlen(who, KV_AUTH_ID_MAX_BYTES + 1) > KV_AUTH_ID_MAX_BYTES)
        return KV_EINVAL;
    repl_mutation_t *muts = kv_calloc(r->n_ops, sizeof *muts);
    if (!muts)
        return -ENOMEM;
    for (size_t i = 0; i < r->n_ops; i++) {
        int rc = repl_wire_op_from_pb(r->ops[i], &muts[i].op);
        if (rc == 0)
            rc = origin__check_op(&muts[i].op);
        if (rc != 0) {
            kv_free(muts);
            return rc;
        }
        muts[i].op.auth_id = who;
        muts[i].op.request_head = i == 0;
    }
    *out = muts;
    return 0;
}

/* A relay orders nothing: the request waits for the relay (relay.c) to
 * pass it upstream. Bounded by the relay's upstream write table, which
 * answers KV_EBUSY past its limits. */
static void origin__forward(repl_origin_t *o, opeer_t *p, Edgekv__Frame **f, uint64_t now_ms,
                            repl_actions_t *a)
{
    if (o->fwd_n == o->fwd_cap) {
        size_t cap = o->fwd_cap ? 2 * o->fwd_cap : 8;
        oforward_t *t = kv_realloc(o->fwd, cap * sizeof *t);
        REPL__NOMEM(t);
        o->fwd = t;
        o->fwd_cap = cap;
    }
    (void)now_ms;
    (void)a;
    oforward_t *w = &o->fwd[o->fwd_n++];
    w->peer = p->id;
    w->request_id = (*f)->write_request->request_id;
    w->frame = *f;
    *f = NULL;
}

void repl__origin_on_write_request(repl_origin_t *o, opeer_t *p, Edgekv__Frame **f, uint64_t now_ms,
                                   repl_actions_t *a)
{
    const Edgekv__WriteRequest *r = (*f)->write_request;
    if (o->relay.on) {
        origin__forward(o, p, f, now_ms, a);
        return;
    }
    owrite_t w = {.remote = true, .peer = p->id, .request_id = r->request_id, .n = r->n_ops};
    w.bytes = p->rd.last_frame_bytes;
    uint64_t ts;
    int rc = origin__admit(o, w.n, w.bytes);
    if (rc == 0)
        rc = repl__origin_sync_admit(o, now_ms);
    if (rc == 0)
        rc = origin__request_ops(r, &w.muts);
    /* The hint last: a refused write must not move the clock. */
    if (rc == 0 && (rc = hlc_update(&o->hlc, r->hlc_hint, repl__origin_wall(o, now_ms),
                                    o->cfg.max_clock_offset_ms, &ts)) != 0)
        kv_free(w.muts);
    if (rc == 0 && !(w.hold = repl__hold_frame(*f, w.bytes))) {
        kv_free(w.muts);
        rc = -ENOMEM;
    }
    if (rc == 0)
        *f = NULL; /* the hold owns it (or freed it) */
    if (rc != 0) {
        repl__origin_write_result(o, p->id, w.request_id, rc, 0, NULL, 0, now_ms, a);
        return;
    }
    origin__enqueue(o, &w, now_ms, a);
}

/* A commit failed: every queued writer gets rc, writes stop. The writes of
 * groups in flight stay queued (answered) until their groups are reported:
 * the driver borrows their mutations until then. */
static void origin__fail(repl_origin_t *o, int rc, uint64_t now_ms, repl_actions_t *a)
{
    o->failed = rc;
    for (size_t i = 0; i < o->wq_n; i++)
        origin__answer(o, wq_at(o, i), rc, NULL, now_ms, a);
    while (o->wq_n > o->grouped_writes)
        wq_pop_back(o);
    o->next_seq = o->last_seq + 1;
    repl__emit_alarm(&o->out, a, "origin storage failed to commit: writes stopped");
}

/* After a failure: release the groups once every one was reported. */
static void origin__release_failed(repl_origin_t *o)
{
    for (size_t i = 0; i < o->groups_n; i++)
        if (!group_at(o, i)->reported)
            return;
    while (o->groups_n > 0) {
        ogroup_t *g = group_at(o, 0);
        for (size_t k = 0; k < g->writes; k++)
            wq_pop(o);
        group_free(g);
        o->groups_head = (o->groups_head + 1) % KV_REPL_GROUPS_IN_FLIGHT_MAX;
        o->groups_n--;
    }
    o->grouped_writes = 0;
}

/* Committed: the oldest group's mutations go to the tail as their
 * encodings (failed ops as NOOPs, which have none: a frame packs their
 * few bytes). The cost stays the op's, as for a relay's tail. */
static void origin__commit_group(repl_origin_t *o, const ogroup_t *g, const int *results,
                                 uint64_t now_ms)
{
    size_t off = 0;
    for (size_t k = 0; k < g->writes; k++) {
        owrite_t *w = wq_at(o, k);
        for (size_t i = 0; i < w->n; i++, off++) {
            repl_mutation_t m = g->muts[off];
            bool ok = !results || results[off] == 0;
            m.op = (repl_op_t){.kind = ok ? m.op.kind : REPL_OP_NOOP};
            if (!ok)
                m.enc = NULL, m.enc_len = 0;
            size_t cost = repl_mutation_cost(ok ? &w->muts[i] : &m);
            o->writes_committed += ok;
            repl__tail_push(o, &m, ok ? g->enc : NULL, cost);
        }
    }
    KV_ASSERT(off == g->n);
    KV_ASSERT(g->muts[0].seq == o->last_seq + 1);
    repl__commit_note(o, o->last_seq + 1, now_ms);
    o->last_seq += g->n;
}

void repl_origin_persisted(repl_origin_t *o, uint64_t batch_id, int rc, const int *results,
                           uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    size_t i = 0;
    while (i < o->groups_n && group_at(o, i)->id != batch_id)
        i++;
    KV_ASSERT(i < o->groups_n && !group_at(o, i)->reported);
    if (rc != 0 || o->failed) {
        /* A success reported after a failure of a group before it is not
         * one its writers can be told of: they were answered already. */
        if (!o->failed)
            origin__fail(o, rc, now_ms, a);
        group_at(o, i)->reported = true;
        origin__release_failed(o);
        return;
    }
    KV_ASSERT(i == 0); /* reported in the order they were emitted */
    ogroup_t g = *group_at(o, 0);
    origin__commit_group(o, &g, results, now_ms);
    group_free(&g);
    o->groups_head = (o->groups_head + 1) % KV_REPL_GROUPS_IN_FLIGHT_MAX;
    o->groups_n--;
    o->grouped_writes -= g.writes;
    repl__origin_push_all(o, now_ms, a);
    size_t off = 0;
    bool hold = o->cfg.sync_standbys > 0 || o->cfg.leadership;
    for (size_t k = 0; k < g.writes; k++) {
        const owrite_t *w = wq_at(o, 0);
        if (hold)
            repl__origin_sync_answer(o, w, results ? results + off : NULL, now_ms, a);
        else
            origin__answer(o, w, 0, results ? results + off : NULL, now_ms, a);
        off += w->n;
        wq_pop(o);
    }
    if (hold)
        repl__origin_sync_release(o, now_ms, a);
    repl__tail_evict(o);
    repl__origin_trim(o, a);
    origin__start_groups(o, a);
}
