/*
 * store_commit.c - stor_commit: records, namespaces, log and state in one
 * atomic RocksDB write batch.
 *
 * Every write but the single-record stor_apply comes through here: the
 * replication core's group commits at the origin and batch applies at an
 * edge, stor_apply_batch, and the one-change namespace calls. The order is
 * always the same, and it is also the lock order: namespace write lock
 * (only when the commit has namespace changes), then
 * the record stripes in ascending order. Under them: plan the namespace
 * changes (store_nsplan.c), decide each mutation under LWW (store_rec.c),
 * append the namespace writes, log entries and state puts, write once, and
 * only then publish the planned namespaces to the mirror. An error at any
 * step before the write leaves no trace: the batch is dropped and the plan
 * aborted.
 *
 * Not here: what a log entry means (replication/ encodes and decodes it),
 * sequence numbering (the caller assigns seqs), and whether a change is
 * allowed (a title taken, a namespace gone): the origin decided that before
 * the commit, once for every replica; storage applies what it is given.
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "store_int.h"

void stor__seq_key(uint64_t seq, char key[8])
{
    for (int i = 0; i < 8; i++)
        key[i] = (char)(uint8_t)(seq >> (56 - 8 * i));
}

uint64_t stor__key_seq(const char key[8])
{
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | (uint8_t)key[i];
    return seq;
}

/* Everything but the mutations (stor__recs_prepare checks those). */
static int stor__commit_check(const stor_commit_t *c)
{
    if ((c->n_ns && !c->ns) || (c->n_log && !c->log) || (c->n_state && !c->state) ||
        (c->n_state_del && !c->state_del))
        return KV_EINVAL;
    for (size_t i = 0; i < c->n_state_del; i++)
        if (!c->state_del[i] || !c->state_del[i][0])
            return KV_EINVAL;
    for (size_t i = 0; i < c->n_ns; i++) {
        int rc = stor__ns_change_check(&c->ns[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < c->n_log; i++) {
        const stor_log_entry_t *e = &c->log[i];
        if (e->seq == 0 || (e->len && !e->data))
            return KV_EINVAL;
    }
    for (size_t i = 0; i < c->n_state; i++) {
        const stor_state_put_t *st = &c->state[i];
        if (!st->name || !st->name[0] || (st->len && !st->value))
            return KV_EINVAL;
    }
    return 0;
}

static void stor__commit_tail(stor_t *s, const stor_commit_t *c, rocksdb_writebatch_t *wb)
{
    for (size_t i = 0; i < c->n_log; i++) {
        char k[8];
        stor__seq_key(c->log[i].seq, k);
        rocksdb_writebatch_put_cf(wb, s->cf_log, k, sizeof(k), c->log[i].len ? c->log[i].data : "",
                                  c->log[i].len);
    }
    for (size_t i = 0; i < c->n_state_del; i++)
        rocksdb_writebatch_delete_cf(wb, s->cf_state, c->state_del[i], strlen(c->state_del[i]));
    for (size_t i = 0; i < c->n_state; i++) {
        const stor_state_put_t *st = &c->state[i];
        rocksdb_writebatch_put_cf(wb, s->cf_state, st->name, strlen(st->name),
                                  st->len ? st->value : "", st->len);
    }
}

/* Under the locks: decide LWW, build and write the batch. A plan (NULL
 * when the commit changes no namespace) is published by the caller when
 * this returns 0. */
static int stor__commit_write(stor_t *s, const stor_commit_t *c, const stor__recs_t *r,
                              stor__nsplan_t *plan)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_ns; i++) {
        int res = 0;
        rc = stor__nsplan_apply(plan, &c->ns[i], &res);
        if (c->ns_results)
            c->ns_results[i] = res;
    }
    stor__recs_lock(s, r, true);
    if (rc == 0)
        rc = stor__recs_decide(s, c, r, wb);
    if (rc == 0) {
        if (plan)
            stor__nsplan_write(s, plan, wb);
        stor__commit_tail(s, c, wb);
        if (rocksdb_writebatch_count(wb) > 0)
            rc = c->no_sync ? stor__write_nosync(s, wb) : stor__write(s, wb);
    }
    /* The stripes are held across the write: that is what makes each LWW
     * check-then-write atomic. */
    stor__recs_lock(s, r, false);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int stor_commit(stor_t *s, const stor_commit_t *c)
{
    if (!c)
        return KV_EINVAL;
    stor__thread_prepare(); /* before the LWW reads */
    int rc = stor__commit_check(c);
    stor__recs_t r;
    if (rc == 0)
        rc = stor__recs_prepare(c->muts, c->n_muts, &r);
    if (rc)
        return rc;
    bool ns_locked = c->n_ns > 0;
    stor__nsplan_t plan;
    if (ns_locked) {
        pthread_mutex_lock(&s->ns_write_lock);
        rc = stor__nsplan_begin(s, c->n_ns, &plan);
    }
    if (rc == 0)
        rc = stor__commit_write(s, c, &r, ns_locked ? &plan : NULL);
    if (ns_locked) {
        if (rc == 0)
            stor__nsplan_publish(s, &plan);
        else
            stor__nsplan_abort(&plan);
        pthread_mutex_unlock(&s->ns_write_lock);
    }
    stor__recs_free(&r);
    return rc;
}
