/*
 * drive.c - the action dispatcher of drive.h and the storage completions
 * that apply a node's PERSIST and RESET/APPLY to its replica model.
 */
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "kv_assert.h"

void drive_init(drive_node_t *d, repl_origin_t *origin, repl_edge_t *edge, lww_replica_t *m,
                const drive_ops_t *ops, void *ctx)
{
    KV_ASSERT((origin == NULL) != (edge == NULL));
    memset(d, 0, sizeof *d);
    d->origin = origin;
    d->edge = edge;
    d->m = m;
    d->ops = ops;
    d->ctx = ctx;
}

void drive_init_relay(drive_node_t *d, repl_relay_t *relay, lww_replica_t *m,
                      const drive_ops_t *ops, void *ctx)
{
    KV_ASSERT(relay != NULL);
    memset(d, 0, sizeof *d);
    d->relay = relay;
    d->m = m;
    d->ops = ops;
    d->ctx = ctx;
}

void drive_forget(drive_node_t *d)
{
    memset(&d->persist, 0, sizeof d->persist);
    memset(&d->step, 0, sizeof d->step);
}

static void drive__origin_act(drive_node_t *d, const repl_action_t *act)
{
    const drive_ops_t *ops = d->ops;
    switch (act->kind) {
    case REPL_ACT_PERSIST:
        KV_ASSERT(!d->persist.pending && "two PERSISTs at once");
        d->persist.pending = true;
        d->persist.batch_id = act->u.persist.batch_id;
        d->persist.muts = act->u.persist.muts;
        d->persist.n = act->u.persist.n;
        if (ops->persist)
            ops->persist(d);
        break;
    case REPL_ACT_READ_LOG:
        ops->read_log(d, act->u.read_log.peer, act->u.read_log.from_seq, act->u.read_log.max_bytes);
        break;
    case REPL_ACT_SNAPSHOT:
        ops->snapshot(d, act->u.snapshot.peer, act->u.snapshot.min_seq);
        break;
    case REPL_ACT_TRIM_LOG:
        ops->trim(d, act->u.trim.below_seq);
        break;
    default:
        KV_ASSERT(!"the origin emitted an edge action");
    }
}

static void drive__edge_act(drive_node_t *d, const repl_action_t *act)
{
    switch (act->kind) {
    case REPL_ACT_CONNECT:
        d->ops->connect(d);
        break;
    case REPL_ACT_RESET:
    case REPL_ACT_APPLY:
        KV_ASSERT(!d->step.pending && "two storage steps at once");
        memset(&d->step, 0, sizeof d->step);
        d->step.pending = true;
        d->step.reset = act->kind == REPL_ACT_RESET;
        if (!d->step.reset) {
            d->step.muts = act->u.apply.muts;
            d->step.n = act->u.apply.n;
            d->step.seq = act->u.apply.seq;
            d->step.version = act->u.apply.version;
            d->step.history = act->u.apply.history_id;
        }
        if (d->ops->step)
            d->ops->step(d);
        break;
    default:
        KV_ASSERT(!"an edge emitted an origin action");
    }
}

static void drive__act(drive_node_t *d, const repl_action_t *act)
{
    const drive_ops_t *ops = d->ops;
    if (ops->each)
        ops->each(d, act);
    switch (act->kind) {
    case REPL_ACT_SEND:
        ops->send(d, act->u.send.peer, act);
        break;
    case REPL_ACT_CLOSE:
        ops->close(d, act->u.close.peer);
        break;
    case REPL_ACT_WRITE_DONE:
        ops->write_done(d, act->u.write_done.token, act->u.write_done.status, act->u.write_done.seq,
                        act->u.write_done.results, act->u.write_done.n);
        break;
    case REPL_ACT_ALARM:
        d->alarms++;
        if (ops->alarm)
            ops->alarm(d, act->u.alarm.reason);
        break;
    case REPL_ACT_CONNECT:
    case REPL_ACT_RESET:
    case REPL_ACT_APPLY:
        KV_ASSERT(!d->origin && "the origin emitted an edge action");
        drive__edge_act(d, act);
        break;
    default:
        KV_ASSERT(!d->edge && "an edge emitted an origin action");
        drive__origin_act(d, act);
    }
}

void drive_run(drive_node_t *d, repl_actions_t *a)
{
    for (;;) {
        for (size_t i = 0; i < a->n; i++)
            drive__act(d, &a->acts[i]);
        a->n = 0;
        if (d->origin)
            repl_origin_poll(d->origin, a);
        else if (d->relay)
            repl_relay_poll(d->relay, a);
        else
            repl_edge_poll(d->edge, a);
        if (a->n == 0)
            return;
    }
}

void drive_persisted(drive_node_t *d, int rc, uint64_t now_ms, repl_actions_t *a)
{
    const drive_ops_t *ops = d->ops;
    KV_ASSERT(d->origin && d->persist.pending);
    d->persist.pending = false;
    size_t n = d->persist.n;
    int *results = NULL;
    if (rc == 0) {
        results = calloc(n ? n : 1, sizeof *results);
        KV_ASSERT(results != NULL);
        for (size_t i = 0; i < n; i++) {
            const repl_mutation_t *m = &d->persist.muts[i];
            KV_ASSERT(m->seq == d->m->applied_seq + 1);
            if (m->op.kind != REPL_OP_NOOP) {
                results[i] = ops->op_fails ? ops->op_fails(d, m) : 0;
                uint32_t slot;
                /* The origin orders every write: each one wins. */
                bool won = results[i] == 0 && lww_apply_mut(d->m, m, &slot);
                KV_ASSERT(won || results[i] != 0);
            }
            d->m->applied_seq = m->seq;
            d->m->applied_version = m->version;
            if (ops->logged)
                ops->logged(d, m, results[i]);
        }
    }
    repl_origin_persisted(d->origin, d->persist.batch_id, rc, results, now_ms, a);
    free(results);
}

void drive_stepped(drive_node_t *d, int rc, uint64_t now_ms, repl_actions_t *a)
{
    const drive_ops_t *ops = d->ops;
    KV_ASSERT((d->edge || d->relay) && d->step.pending);
    d->step.pending = false;
    if (d->step.reset) {
        if (rc == 0) {
            lww_replica_clear(d->m);
            if (ops->reset)
                ops->reset(d);
        }
        if (d->relay)
            repl_relay_reset_done(d->relay, rc, now_ms, a);
        else
            repl_edge_reset_done(d->edge, rc, now_ms, a);
        return;
    }
    const repl_mutation_t *muts = d->step.muts;
    size_t n = d->step.n;
    uint64_t seq = d->step.seq;
    if (rc == 0) {
        if (seq && n) {
            /* Log order: the batch continues exactly where the replica is. */
            KV_ASSERT(muts[0].seq == d->m->applied_seq + 1);
            KV_ASSERT(muts[n - 1].seq == seq);
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t slot;
            lww_apply_mut(d->m, &muts[i], &slot);
            if (slot != UINT32_MAX && ops->applied)
                ops->applied(d, &muts[i], slot);
            /* A relay's APPLY of log entries also appends them to its log. */
            if (d->relay && seq && ops->logged)
                ops->logged(d, &muts[i], 0);
        }
        if (seq) {
            KV_ASSERT(seq >= d->m->applied_seq);
            uint64_t from = d->m->applied_seq;
            d->m->applied_seq = seq;
            d->m->applied_version = d->step.version;
            if (ops->advanced)
                ops->advanced(d, from, seq);
        }
        if (d->step.history) {
            memcpy(d->m->history, d->step.history, sizeof d->m->history);
            d->m->history[sizeof d->m->history - 1] = '\0';
            if (ops->history)
                ops->history(d);
        }
    }
    if (d->relay)
        repl_relay_applied(d->relay, rc, seq, now_ms, a);
    else
        repl_edge_applied(d->edge, rc, seq, now_ms, a);
}
