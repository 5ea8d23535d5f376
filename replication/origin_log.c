/*
 * origin_log.c - the origin's view of its log: the in-memory tail of recent
 * mutations, commit times (for lag in ms), edge acknowledgements and the
 * trimming decision.
 *
 * The tail is a ring of consecutive committed mutations bounded by
 * tail_max_bytes and KV_REPL_TAIL_MAX_MUTS; entries share the payload of
 * their write through a hold, so keeping them costs no copy. Trimming tells
 * storage which log entries no edge will need: below the lowest ack of any
 * known edge, keeping at least log_retention entries and at most
 * log_retention_max (an edge further behind takes a snapshot), and never
 * past what an edge taking a snapshot, or catching up after one, still
 * needs.
 */
#include <string.h>

#include "kv_mem.h"
#include "origin_int.h"

const otail_t *repl__tail_at(const repl_origin_t *o, uint64_t seq)
{
    if (seq < o->tail_first_seq || seq - o->tail_first_seq >= o->tail_n)
        return NULL;
    return &o->tail[repl__ring(o->tail_head, (size_t)(seq - o->tail_first_seq), o->tail_cap)];
}

static void tail__pop(repl_origin_t *o)
{
    otail_t *t = &o->tail[o->tail_head];
    repl__hold_unref(t->hold);
    o->tail_bytes -= t->cost;
    o->tail_head = repl__ring(o->tail_head, 1, o->tail_cap);
    o->tail_n--;
    o->tail_first_seq++;
}

static void tail__grow(repl_origin_t *o)
{
    size_t cap = o->tail_cap ? 2 * o->tail_cap : 64;
    if (cap > KV_REPL_TAIL_MAX_MUTS)
        cap = KV_REPL_TAIL_MAX_MUTS;
    otail_t *t = kv_malloc(cap * sizeof *t);
    REPL__NOMEM(t);
    for (size_t i = 0; i < o->tail_n; i++)
        t[i] = o->tail[repl__ring(o->tail_head, i, o->tail_cap)];
    kv_free(o->tail);
    o->tail = t;
    o->tail_cap = cap;
    o->tail_head = 0;
}

void repl__tail_push(repl_origin_t *o, const repl_mutation_t *m, repl__hold_t *hold, size_t cost)
{
    if (o->tail_n == KV_REPL_TAIL_MAX_MUTS)
        tail__pop(o);
    if (o->tail_n == o->tail_cap)
        tail__grow(o);
    if (o->tail_n == 0)
        o->tail_first_seq = m->seq;
    KV_ASSERT(m->seq == o->tail_first_seq + o->tail_n);
    otail_t *t = &o->tail[repl__ring(o->tail_head, o->tail_n, o->tail_cap)];
    t->m = *m;
    t->hold = hold ? repl__hold_ref(hold) : NULL;
    t->cost = cost;
    o->tail_bytes += t->cost;
    o->tail_n++;
}

void repl__tail_evict(repl_origin_t *o)
{
    while (o->tail_n > 0 && o->tail_bytes > o->cfg.tail_max_bytes)
        tail__pop(o);
    if (o->tail_n == 0)
        o->tail_first_seq = o->last_seq + 1;
}

void repl__tail_free(repl_origin_t *o)
{
    while (o->tail_n > 0)
        tail__pop(o);
    kv_free(o->tail);
    o->tail = NULL;
    o->tail_cap = 0;
}

void repl__commit_note(repl_origin_t *o, uint64_t first_seq, uint64_t now_ms)
{
    if (o->commits_n == KV_REPL_COMMIT_INDEX_MAX) {
        o->commits_head = (o->commits_head + 1) % KV_REPL_COMMIT_INDEX_MAX;
        o->commits_n--;
    }
    ocommit_t *c = &o->commits[(o->commits_head + o->commits_n) % KV_REPL_COMMIT_INDEX_MAX];
    c->first_seq = first_seq;
    c->ms = now_ms;
    o->commits_n++;
}

/* Commit time of the group holding seq; for a seq older than the index,
 * the oldest time known (so lag is under- rather than over-stated); 0 if
 * nothing was committed since start. */
uint64_t repl__commit_ms(const repl_origin_t *o, uint64_t seq)
{
    if (o->commits_n == 0)
        return 0;
    size_t lo = 0, hi = o->commits_n; /* find the last entry with first_seq <= seq */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        const ocommit_t *c = &o->commits[(o->commits_head + mid) % KV_REPL_COMMIT_INDEX_MAX];
        if (c->first_seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return o->commits[(o->commits_head + lo) % KV_REPL_COMMIT_INDEX_MAX].ms;
}

void repl__origin_append(repl_origin_t *o, const repl_mutation_t *muts, size_t n,
                         repl__hold_t *hold, uint64_t now_ms, repl_actions_t *a)
{
    KV_ASSERT(o->relay.on);
    if (n == 0)
        return;
    KV_ASSERT(muts[0].seq == o->last_seq + 1);
    for (size_t i = 0; i < n; i++) {
        KV_ASSERT(muts[i].seq == o->last_seq + 1 + i);
        KV_ASSERT(hold || muts[i].op.kind == REPL_OP_NOOP);
        o->writes_committed += muts[i].op.kind != REPL_OP_NOOP;
        repl__tail_push(o, &muts[i], muts[i].op.kind == REPL_OP_NOOP ? NULL : hold,
                        repl_mutation_cost(&muts[i]));
    }
    repl__commit_note(o, o->last_seq + 1, now_ms);
    o->last_seq += n;
    o->next_seq = o->last_seq + 1;
    repl__origin_push_all(o, now_ms, a);
    repl__tail_evict(o);
    repl__origin_trim(o, a);
    repl__origin_relay_wake(o, now_ms, a);
}

void repl__origin_on_ack(repl_origin_t *o, opeer_t *p, const Edgekv__ProgressAck *ack,
                         uint64_t now_ms, repl_actions_t *a)
{
    if (p->state == OPEER_REFUSED || p->state == OPEER_VERIFY || p->edge == SIZE_MAX) {
        repl__origin_close(o, p, "unexpected ack", a);
        return;
    }
    if (ack->applied_seq > o->last_seq) {
        repl__origin_close(o, p, "ack beyond the log", a);
        return;
    }
    repl__origin_on_probe(o, p, ack->probe, now_ms);
    oedge_t *e = &o->edges[p->edge];
    uint64_t old = e->acked_seq;
    if (ack->applied_seq > e->acked_seq)
        e->acked_seq = ack->applied_seq;
    e->last_ack_ms = repl__origin_wall(o, now_ms);
    e->seen_ms = now_ms;
    /* Only the slowest edge moving can move the trim point: with many
     * edges acking every few ms, the others must not rescan them all. Nor
     * can an edge at or past what retention keeps anyway (the trim point
     * is at most end - log_retention): edges in step all sit at the
     * slowest one's seq, and each of their acks rescanned every peer and
     * edge (quadratic in the edges per batch, 2-3 % of world300_push). */
    uint64_t end = o->last_seq + 1;
    uint64_t kept = o->cfg.log_retention < end ? end - o->cfg.log_retention : 0;
    if (old <= o->trim_need && old < kept)
        repl__origin_trim(o, a);
}

/* The seq an edge's link still needs regardless of retention_max, or
 * UINT64_MAX: a snapshot in progress, or the catch-up right after one. */
static uint64_t origin__pinned(const opeer_t *p)
{
    if (p->state == OPEER_SNAPSHOT)
        return p->snap_pin + 1;
    if (p->state == OPEER_STREAM && p->post_snapshot)
        return p->next_seq;
    return UINT64_MAX;
}

void repl__origin_trim(repl_origin_t *o, repl_actions_t *a)
{
    uint64_t pins = UINT64_MAX;
    for (size_t i = 0; i < o->npeers; i++) {
        const opeer_t *p = o->peers[i];
        uint64_t pin = origin__pinned(p);
        if (pin == UINT64_MAX)
            continue;
        pins = repl__min64(pins, pin);
        if (p->edge != SIZE_MAX)
            o->edges[p->edge].pinned = true; /* its pin decides, not its ack */
    }
    /* An edge's acked entry itself is kept: its version is the proof of
     * its next resume (repl.h). */
    uint64_t need = UINT64_MAX;
    for (size_t i = 0; i < o->nedges; i++) {
        oedge_t *e = &o->edges[i];
        if (!e->pinned)
            need = repl__min64(need, e->acked_seq);
        e->pinned = false;
    }
    o->trim_need = need;
    uint64_t end = o->last_seq + 1;
    uint64_t below = o->cfg.log_retention < end ? end - o->cfg.log_retention : 0;
    below = repl__min64(below, need);
    if (o->cfg.log_retention_max && end > o->cfg.log_retention_max &&
        below < end - o->cfg.log_retention_max)
        below = end - o->cfg.log_retention_max;
    below = repl__min64(below, pins);
    if (below <= o->log_first_seq)
        return;
    o->log_first_seq = below;
    repl_action_t act = {.kind = REPL_ACT_TRIM_LOG, .u.trim = {.below_seq = below}};
    repl__out_emit(&o->out, a, &act, NULL);
}
