/*
 * edge_sync.c - how the edge follows the origin's log: the welcome
 * decision (resume, snapshot, or refuse a different history), snapshot
 * chunks, mutation batches, the storage step queue and progress acks.
 *
 * Storage steps (RESET, APPLY) run one at a time, in order, from a bounded
 * queue; when it is full the edge drops the link and resumes later rather
 * than buffer without bound. A batch's mutations at or below what is
 * already queued are duplicates and skipped; the first new one must follow
 * directly, else the link is dropped and the resume fills the gap. The
 * queued steps point into the frames they came in (no copies).
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "edge_int.h"

static eitem_t *q_at(repl_edge_t *e, size_t i)
{
    KV_ASSERT(i < e->q_n);
    return &e->q[repl__ring(e->q_head, i, e->q_cap)];
}

static void item_free(eitem_t *it)
{
    kv_free(it->muts);
    frame_free(it->frame);
}

static void q_pop(repl_edge_t *e)
{
    eitem_t *it = q_at(e, 0);
    e->q_bytes -= it->bytes;
    item_free(it);
    e->q_head = repl__ring(e->q_head, 1, e->q_cap);
    /* Empty: the next item goes to the first slot, the one the last went
     * to, which is still in the cache (a queue that rarely holds more than
     * one item then stays on one slot instead of touching every slot in
     * turn: reading a cold item was most of q_next). */
    if (--e->q_n == 0)
        e->q_head = 0;
}

static void q_merged_free(repl_edge_t *e)
{
    kv_free(e->q_merged);
    e->q_merged = NULL;
    e->q_inflight_items = 0;
}

void repl__edge_queue_free(repl_edge_t *e)
{
    q_merged_free(e);
    while (e->q_n > 0)
        q_pop(e);
    kv_free(e->q);
    e->q = NULL;
    e->q_cap = 0;
    e->q_inflight = false;
}

eitem_t *repl__edge_step_inflight(repl_edge_t *e)
{
    KV_ASSERT(!e->q_inflight || e->q_inflight_items == 1); /* a relay never merges */
    return e->q_inflight ? q_at(e, 0) : NULL;
}

static bool q_admit(const repl_edge_t *e, size_t bytes)
{
    return e->q_n < KV_REPL_APPLY_QUEUE_MAX_ITEMS &&
           (e->q_n == 0 || e->q_bytes + bytes <= KV_REPL_APPLY_QUEUE_MAX_BYTES);
}

/* Queue items from the head that may go to storage as one APPLY: batches
 * (or snapshot chunks) that follow each other, up to apply_merge_max_muts
 * mutations; *n gets their mutations. At least the head. */
static size_t q_mergeable(repl_edge_t *e, size_t *n)
{
    const eitem_t *h = q_at(e, 0);
    size_t k = 1, max = e->cfg.apply_merge_max_muts;
    *n = h->n;
    if (h->reset || h->set_history || max <= 1)
        return 1;
    for (; k < e->q_n; k++) {
        const eitem_t *it = q_at(e, k);
        if (it->reset || it->set_history || (it->seq == 0) != (h->seq == 0) || *n + it->n > max)
            break;
        *n += it->n;
    }
    return k;
}

/* The mutations of the first k items in one array (e->q_merged); NULL
 * without memory (then the head goes alone). */
static const repl_mutation_t *q_merge(repl_edge_t *e, size_t k, size_t n)
{
    size_t off = 0;
    if (!(e->q_merged = kv_malloc(n * sizeof *e->q_merged)))
        return NULL;
    for (size_t i = 0; i < k; i++) {
        const eitem_t *it = q_at(e, i);
        memcpy(e->q_merged + off, it->muts, it->n * sizeof *it->muts);
        off += it->n;
    }
    return e->q_merged;
}

/* Start the head step (merged with those behind it when it may) if none
 * is in flight. */
static void q_next(repl_edge_t *e, repl_actions_t *a)
{
    if (e->q_inflight || e->q_n == 0)
        return;
    size_t n = 0, k = q_mergeable(e, &n);
    const repl_mutation_t *merged = k > 1 ? q_merge(e, k, n) : NULL;
    if (!merged) {
        k = 1;
        n = q_at(e, 0)->n;
    }
    const eitem_t *it = q_at(e, 0), *last = q_at(e, k - 1);
    repl_action_t act = {.kind = it->reset ? REPL_ACT_RESET : REPL_ACT_APPLY};
    if (it->reset) {
        act.u.reset.reason = it->reason;
        act.u.reset.diverged = it->diverged;
    } else {
        act.u.apply.muts = merged ? merged : it->muts;
        act.u.apply.n = n;
        act.u.apply.seq = last->seq;
        act.u.apply.version = last->version;
        act.u.apply.history_id = it->set_history ? e->origin_history : NULL;
        act.u.apply.term = e->term;
    }
    e->q_inflight_items = k;
    e->q_inflight = true;
    repl__out_emit(&e->out, a, &act, NULL);
}

static void q_push(repl_edge_t *e, const eitem_t *it, repl_actions_t *a)
{
    if (e->q_n == e->q_cap) {
        size_t cap = e->q_cap ? 2 * e->q_cap : 16;
        eitem_t *q = kv_malloc(cap * sizeof *q);
        REPL__NOMEM(q);
        for (size_t i = 0; i < e->q_n; i++)
            q[i] = *q_at(e, i);
        kv_free(e->q);
        e->q = q;
        e->q_cap = cap;
        e->q_head = 0;
    }
    e->q[repl__ring(e->q_head, e->q_n, e->q_cap)] = *it;
    e->q_n++;
    e->q_bytes += it->bytes;
    q_next(e, a);
}

static void edge__refuse(repl_edge_t *e, const char *reason, uint64_t now_ms, repl_actions_t *a)
{
    Edgekv__Frame f;
    Edgekv__Refuse r;
    repl__refuse_frame(&f, &r, reason);
    repl__emit_alarm(&e->out, a, reason);
    /* Best effort (a tiny frame fails only without memory): the link is
     * closed either way, and no reconnect is scheduled. */
    (void)repl__send_frame(&e->out, a, e->peer, &f, NULL);
    repl__edge_unlink(e, true, reason, a);
    e->state = ESTATE_REFUSED;
}

bool repl__edge_term_ok(repl_edge_t *e, uint64_t term, uint64_t now_ms, repl_actions_t *a)
{
    if (term >= e->term) {
        e->term = term;
        return true;
    }
    static const char reason[] = "upstream's term is older than one this replica has seen "
                                 "(a deposed leader): refused";
    e->terms_refused++;
    e->refused_term = term;
    Edgekv__Frame f;
    Edgekv__Refuse r;
    repl__refuse_frame(&f, &r, reason);
    (void)repl__send_frame(&e->out, a, e->peer, &f, NULL); /* best effort, as edge__refuse */
    repl__edge_drop(e, true, reason, now_ms, a);
    return false;
}

void repl__edge_on_welcome(repl_edge_t *e, const Edgekv__Welcome *w, uint64_t now_ms,
                           repl_actions_t *a)
{
    const char *wh = w->history_id ? w->history_id : "";
    if (e->state != ESTATE_HELLO_SENT || strnlen(wh, KV_NS_ID_LEN + 1) != KV_NS_ID_LEN) {
        repl__edge_drop(e, true, "bad welcome", now_ms, a);
        return;
    }
    /* An origin restored from a backup of this replica's history names it
     * as its parent: its snapshot replaces what this replica holds. */
    bool restored = e->history_id[0] && w->mode == EDGEKV__WELCOME__MODE__SNAPSHOT &&
                    w->parent_history && strcmp(w->parent_history, e->history_id) == 0;
    if (e->history_id[0] && strcmp(wh, e->history_id) != 0 && !restored) {
        edge__refuse(e, "origin history changed: refusing to replicate", now_ms, a);
        return;
    }
    /* Terms order the leaders of one history: an origin restored from a
     * backup starts a new history, whose terms start afresh. */
    if (restored)
        e->term = w->term;
    else if (!repl__edge_term_ok(e, w->term, now_ms, a))
        return;
    e->acked_seen = repl__max64(e->acked_seen, w->acked_seq);
    if (repl__protocol_of(w->protocol) < e->cfg.protocol_min) {
        /* Not a refusal for good: the origin will be upgraded; retry. */
        static const char reason[] = "origin speaks a replication protocol older than this edge "
                                     "accepts: upgrade the origin";
        repl__emit_alarm(&e->out, a, reason);
        repl__edge_drop(e, true, reason, now_ms, a);
        return;
    }
    /* An origin behind this replica (it lost a tail in a crash) answers
     * SNAPSHOT with `diverged`, and the snapshot replaces what only this
     * replica had. Any other answer from behind (an origin from before the
     * resume proof, a replayed stream) would rewind it: refused, as always. */
    if (e->history_id[0] && w->origin_seq < e->applied_seq &&
        !(w->mode == EDGEKV__WELCOME__MODE__SNAPSHOT && w->diverged)) {
        edge__refuse(e, "origin is behind this replica: refusing to rewind", now_ms, a);
        return;
    }
    e->attempts = 0;
    repl__software_copy(e->upstream_software, w->software);
    e->upstream_protocol = repl__protocol_of(w->protocol);
    e->link_echoes = w->echo != NULL;
    repl__edge_announced(e, w->origin_seq, w->echo, now_ms);
    if (w->mode == EDGEKV__WELCOME__MODE__RESUME) {
        if (!e->history_id[0] || w->from_seq != e->applied_seq + 1) {
            repl__edge_drop(e, true, "bad resume", now_ms, a);
            return;
        }
        e->state = ESTATE_STREAMING;
        e->recv_seq = e->applied_seq;
        return;
    }
    memcpy(e->origin_history, wh, KV_NS_ID_LEN + 1);
    e->snapshotting = true;
    e->snap_min_seq = w->origin_seq;
    e->state = ESTATE_SNAPSHOT;
    eitem_t it = {.reset = true, .diverged = w->diverged, .reason = "a new replica"};
    if (restored)
        it.reason = "the origin was restored from a backup of this replica's history and started "
                    "a new one: replacing this replica with a snapshot of it";
    else if (w->diverged)
        it.reason = "this replica's position is not on the origin's history (the origin lost a "
                    "tail of its log, e.g. a crash without sync): replacing it with a snapshot";
    else if (e->history_id[0])
        it.reason = "the origin no longer holds the log from this replica's position";
    q_push(e, &it, a);
}

/* Views of pb mutations [0..n) (checked); NULL mutation array on error. */
static int edge__muts(Edgekv__Mutation **pb, size_t n, repl_mutation_t **out, uint64_t *max_hlc)
{
    repl_mutation_t *m = kv_malloc(n * sizeof *m);
    if (!m)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = repl_wire_mut_from_pb(pb[i], &m[i]);
        if (rc != 0) {
            kv_free(m);
            return rc;
        }
        if (m[i].version.hlc > *max_hlc)
            *max_hlc = m[i].version.hlc;
    }
    *out = m;
    return 0;
}

/* Queue an APPLY of pb mutations [0..n) taken from frame *f. */
static void edge__queue_apply(repl_edge_t *e, Edgekv__Frame **f, Edgekv__Mutation **pb, size_t n,
                              uint64_t seq, uint64_t now_ms, repl_actions_t *a)
{
    size_t bytes = e->rd.last_frame_bytes;
    if (!q_admit(e, bytes)) {
        repl__edge_drop(e, true, "apply queue full", now_ms, a);
        return;
    }
    eitem_t it = {.n = n, .seq = seq, .bytes = bytes};
    uint64_t max_hlc = 0;
    int rc = edge__muts(pb, n, &it.muts, &max_hlc);
    if (rc != 0) {
        repl__edge_drop(e, true, rc == -ENOMEM ? "out of memory" : "bad mutation", now_ms, a);
        return;
    }
    for (size_t i = 0; seq && i < n; i++) {
        if (it.muts[i].seq != seq - n + 1 + i) {
            kv_free(it.muts);
            repl__edge_drop(e, true, "batch out of order", now_ms, a);
            return;
        }
    }
    /* Facts from the origin: remembered as they are, with no wall reading,
     * so the edge's clock is the highest version it has seen (repl.h). */
    hlc_observe(&e->hlc, max_hlc);
    it.frame = *f;
    *f = NULL;
    if (seq) {
        e->recv_seq = seq;
        it.version = it.muts[n - 1].version; /* n > 0: seq is its last entry */
    }
    q_push(e, &it, a);
}

void repl__edge_on_batch(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a)
{
    const Edgekv__MutationBatch *b = (*f)->batch;
    if (e->state != ESTATE_STREAMING && e->state != ESTATE_SNAPSHOT_ENDED) {
        repl__edge_drop(e, true, "unexpected batch", now_ms, a);
        return;
    }
    if (!repl__edge_term_ok(e, b->term, now_ms, a))
        return;
    e->acked_seen = repl__max64(e->acked_seen, b->acked_seq);
    repl__edge_announced(e, b->origin_seq, NULL, now_ms);
    size_t start = 0;
    while (start < b->n_mutations && b->mutations[start]->seq <= e->recv_seq)
        start++; /* already applied or queued */
    if (start == b->n_mutations)
        return;
    if (b->mutations[start]->seq != e->recv_seq + 1) {
        repl__edge_drop(e, true, "gap in the log", now_ms, a);
        return;
    }
    size_t n = b->n_mutations - start;
    edge__queue_apply(e, f, b->mutations + start, n, e->recv_seq + n, now_ms, a);
}

void repl__edge_on_chunk(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a)
{
    const Edgekv__SnapshotChunk *c = (*f)->snapshot_chunk;
    if (e->state != ESTATE_SNAPSHOT) {
        repl__edge_drop(e, true, "unexpected snapshot chunk", now_ms, a);
        return;
    }
    if (c->n_mutations > 0)
        edge__queue_apply(e, f, c->mutations, c->n_mutations, 0, now_ms, a);
}

void repl__edge_on_snapshot_end(repl_edge_t *e, const Edgekv__SnapshotEnd *end, uint64_t now_ms,
                                repl_actions_t *a)
{
    const char *h = end->history_id ? end->history_id : "";
    if (e->state != ESTATE_SNAPSHOT || strcmp(h, e->origin_history) != 0 ||
        end->seq < e->snap_min_seq) {
        repl__edge_drop(e, true, "unexpected snapshot end", now_ms, a);
        return;
    }
    if (!q_admit(e, 0)) {
        repl__edge_drop(e, true, "apply queue full", now_ms, a);
        return;
    }
    repl__edge_announced(e, end->seq, NULL, now_ms);
    e->state = ESTATE_SNAPSHOT_ENDED;
    e->recv_seq = end->seq;
    eitem_t it = {.seq = end->seq, .set_history = true};
    if (end->version && end->seq)
        it.version = (kv_version_t){end->version->hlc, end->version->node_id};
    q_push(e, &it, a);
}

/* An ack of applied_seq, which is also a probe. */
static void edge__send_ack(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    e->ack_due = false;
    repl_buf_t *b;
    if (repl__ack_frame(e->applied_seq, now_ms, &b) != 0) {
        repl__edge_drop(e, true, "cannot encode frame", now_ms, a); /* as repl__edge_send */
        return;
    }
    repl__emit_send(&e->out, a, e->peer, b);
    e->acked_sent = e->applied_seq;
    e->last_ack_ms = now_ms;
    e->last_probe_ms = now_ms;
}

void repl__edge_ack(repl_edge_t *e, bool force, uint64_t now_ms, repl_actions_t *a)
{
    if (!repl__edge_welcomed(e->state) || e->applied_seq <= e->acked_sent) {
        e->ack_due = false;
        return;
    }
    /* At most one per interval while busy, and idle too with
     * ack_coalesce_idle; otherwise an idle edge acks at once. */
    if (!force && (e->q_n > 0 || e->cfg.ack_coalesce_idle) &&
        now_ms < repl__add_sat(e->last_ack_ms, KV_REPL_ACK_INTERVAL_MS)) {
        e->ack_due = true;
        return;
    }
    edge__send_ack(e, now_ms, a);
}

/* Only while STREAMING: during a snapshot the origin sends no heartbeats
 * to echo a probe in, and applied_seq is not on its history yet. */
uint64_t repl__edge_probe_due(const repl_edge_t *e)
{
    if (e->state != ESTATE_STREAMING)
        return UINT64_MAX;
    return repl__add_sat(e->last_probe_ms, KV_REPL_PROBE_INTERVAL_MS);
}

void repl__edge_probe(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    if (now_ms >= repl__edge_probe_due(e))
        edge__send_ack(e, now_ms, a);
}

/* Storage could not apply: nothing queued can go on. */
static void edge__storage_failed(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__emit_alarm(&e->out, a, "edge storage failed to apply: replication paused");
    q_merged_free(e);
    while (e->q_n > 0)
        q_pop(e);
    e->q_inflight = false;
    e->recv_seq = e->applied_seq;
    repl__edge_drop(e, true, "storage failed", now_ms, a);
}

/* A step finished: start the next, say Hello if it was waiting, ack. */
static void edge__step_done(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    for (size_t i = e->q_inflight_items; i > 0; i--)
        q_pop(e);
    q_merged_free(e);
    e->q_inflight = false;
    q_next(e, a);
    if (e->state == ESTATE_HELLO_PENDING && e->q_n == 0)
        repl__edge_send_hello(e, now_ms, a);
    repl__edge_ack(e, false, now_ms, a);
}

void repl_edge_reset_done(repl_edge_t *e, int rc, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    KV_ASSERT(e->q_inflight && q_at(e, 0)->reset);
    if (rc != 0) {
        edge__storage_failed(e, now_ms, a);
        return;
    }
    e->history_id[0] = '\0';
    e->applied_seq = 0;
    e->applied_version = KV_VERSION_ZERO;
    edge__step_done(e, now_ms, a);
}

void repl_edge_applied(repl_edge_t *e, int rc, uint64_t seq, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    KV_ASSERT(e->q_inflight && !q_at(e, 0)->reset && q_at(e, e->q_inflight_items - 1)->seq == seq);
    if (rc != 0) {
        edge__storage_failed(e, now_ms, a);
        return;
    }
    const eitem_t *it = q_at(e, e->q_inflight_items - 1); /* a merged step's last */
    if (it->seq) {
        e->applied_seq = it->seq;
        e->applied_version = it->version;
    }
    if (it->set_history) {
        memcpy(e->history_id, e->origin_history, sizeof e->history_id);
        e->snapshotting = false;
        if (e->state == ESTATE_SNAPSHOT_ENDED)
            e->state = ESTATE_STREAMING;
    }
    repl__edge_lag_update(e);
    repl__edge_writes_applied(e, a);
    edge__step_done(e, now_ms, a);
}
