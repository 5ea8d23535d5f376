/*
 * replica_work.c - the replication driver's storage work, off the loop:
 * origin group commits (data, log entries and the replication position in
 * one RocksDB batch), edge applies (data and the position in one batch),
 * resets, log trims and the known edges' acknowledgements. The state
 * entries themselves are encoded by state.c. Log reads and snapshot
 * streams for edges that are behind are in replica_snap.c.
 *
 * LWW needs the stored version of every key a commit writes; the reads are
 * skipped where the worker can prove them unneeded (stor_commit_t): the
 * position's hlc_last is the highest version ever stored here (committed
 * with the records, kept across a reset), so a mutation stamped above it
 * wins outright, which is every mutation at the origin and every one an
 * edge streams or catches up past the window its snapshot covered; and
 * the chunks of a snapshot land in a store just reset, each key once
 * (snap_fresh, from the reset to the first apply that is not a chunk).
 *
 * Those chunks are never synced either (stor_commit_t.no_sync), whatever
 * the sync policy: a snapshot's data counts for nothing until the apply
 * that ends it records the position, and that commit syncs (per the
 * policy) the WAL with every chunk before it, so the position is never
 * durable without the data. A crash before it leaves a store whose
 * position names no history, which the next link resets for a new
 * snapshot, as a crash mid-snapshot always did. Under --sync always that
 * is one fsync per snapshot instead of one per chunk.
 *
 * A chunk of records only, above every key before it (the origin streams
 * them in the records column family's order), skips the memtable: its
 * records go into the bulk load's SST file (storage/store.h, bulk loads),
 * ingested whole every REPLICA_BULK_FILE_BYTES and before any other
 * apply, and the chunk's commit writes only the position, whose hlc_last
 * then covers records before they are ingested. The apply that ends the
 * snapshot ingests the rest, then records the position. A chunk that
 * breaks the order takes the commit path, after what the load holds.
 *
 * The mutations of a PERSIST or an APPLY are borrowed, not copied: the core
 * keeps them (and the bytes they point to, unchanged) until the job's
 * completion is reported (replication/repl.h, "Ownership"), and it outlives
 * the workers (replica_stop joins them before destroying it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "judge.h"
#include "kv_assert.h"
#include "kv_mem.h"
#include "kv_rand.h"
#include "replica_int.h"
#include "wire.h"

/* ---- workers ----------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    rworker_t *w = arg;
    pthread_setname_np(pthread_self(), w->name);
    for (;;) {
        rjob_t *j;
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        j = w->head;
        if (j) {
            w->head = j->next;
            while (j->absorb && w->head && j->absorb(j, w->head))
                w->head = w->head->next;
            if (!w->head)
                w->tail = NULL;
        }
        pthread_mutex_unlock(&w->lock);
        if (!j)
            return NULL; /* stop, queue drained */
        j->run(j);
        /* Read the chain before completing: the loop frees a completed job. */
        for (rjob_t *next; j; j = next) {
            next = j->chain;
            replica__complete(w->r, j);
        }
    }
}

int rworker_start(rworker_t *w, replica_t *r, const char *name)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->name = name;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -EAGAIN;
    w->running = true;
    return 0;
}

void rworker_push(rworker_t *w, rjob_t *j)
{
    j->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void rworker_stop(rworker_t *w)
{
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = false;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

/* ---- borrowed mutations ------------------------------------------------------------------ */

/* The core's mutations of one PERSIST or APPLY, valid until its completion
 * is reported to the core. */
typedef struct {
    const repl_mutation_t *muts;
    size_t n;
} mview_t;

/* ---- state ------------------------------------------------------------------------------- */

int replica__load_state(replica_t *r, char *history, uint64_t *last_seq, uint64_t *log_first,
                        uint64_t *hlc_last)
{
    stor_t *s = r->cfg.store;
    state_position_t *pos = &r->pos;
    uint64_t first = 0, last = 0;
    bool restored = false;
    int rc = state_position_get(s, pos);
    if (rc != 0 && rc != KV_ENOTFOUND)
        return rc;
    if (r->cfg.role == REPLICA_ORIGIN && (rc = state_new_history_pending(s, &restored)) != 0)
        return rc;
    if (r->cfg.role == REPLICA_ORIGIN && (r->cfg.new_history || restored || !pos->history_id[0])) {
        /* A new data set starts a new history: edges that knew another
         * one refuse it rather than be silently rewound. So does a
         * restored backup (edgekv restore left STATE_NEW_HISTORY), once:
         * the marker goes in the commit that stores the new history. */
        char old[STATE_HISTORY_HEX + 1];
        snprintf(old, sizeof old, "%s", pos->history_id);
        /* A restored backup is a prefix of the old history: its edges may
         * follow the new one through a snapshot (its parent). Anything else
         * (a new data set, --new-history) has no parent: refused. */
        snprintf(pos->parent_history, sizeof pos->parent_history, "%s",
                 restored && !r->cfg.new_history ? old : "");
        if ((rc = kv_random_hex(pos->history_id, STATE_HISTORY_HEX)) != 0 ||
            (rc = restored ? state_new_history_commit(s, pos) : state_position_put(s, pos)) != 0)
            return rc;
        if (old[0] || restored)
            KV_LOG_WARN(REPLICA_LOG, "starting a new history %s (was '%s') at seq %llu: %s",
                        pos->history_id, old, (unsigned long long)pos->seq,
                        pos->parent_history[0]
                            ? "this store was restored from a backup (edgekv restore); edges "
                              "that followed the old history take a snapshot of this one"
                            : "--new-history; edges that followed the old history refuse this "
                              "origin (ALARM) until their data is wiped");
    }
    snprintf(history, STATE_HISTORY_HEX + 1, "%s", pos->history_id);
    *hlc_last = pos->hlc_last;
    *last_seq = pos->seq;
    if (r->cfg.role == REPLICA_EDGE)
        return 0;
    if ((rc = stor_log_bounds(s, &first, &last)) != 0)
        return rc;
    *log_first = first ? first : *last_seq + 1;
    return 0;
}

/* ---- mutations into a commit --------------------------------------------------------- */

/* Storage arrays for one commit, sized for n mutations. */
typedef struct {
    stor_mutation_t *recs;
    size_t nrecs;
    stor_ns_change_t *ns;
    size_t nns;
    stor_log_entry_t *log;
    uint8_t *log_buf;
    size_t nlog;
    stor_state_put_t *st; /* token records, then the position */
    size_t nst;
    char *names; /* "token:<id>" names the state puts point to */
    size_t names_off;
    uint8_t **converted; /* token records converted from JSON (owned), or NULL */
    size_t nconverted, cap;
    int rc; /* a conversion ran out of memory: the commit fails */
    bool tokens_changed;
} commit_arrays_t;

/* State puts beyond the tokens: the position. */
#define COMMIT_STATE_EXTRA 1

static void arrays_free(commit_arrays_t *c)
{
    kv_free(c->recs);
    kv_free(c->ns);
    kv_free(c->log);
    kv_free(c->log_buf);
    kv_free(c->st);
    kv_free(c->names);
    for (size_t i = 0; i < c->nconverted; i++)
        kv_free(c->converted[i]);
    kv_free(c->converted);
}

static int arrays_alloc(commit_arrays_t *c, size_t n)
{
    memset(c, 0, sizeof *c);
    c->recs = kv_calloc(n + 1, sizeof *c->recs);
    c->ns = kv_calloc(n + 1, sizeof *c->ns);
    c->log = kv_calloc(n + 1, sizeof *c->log);
    c->st = kv_calloc(n + COMMIT_STATE_EXTRA, sizeof *c->st);
    c->names = kv_malloc(n * STATE_TOKEN_NAME_BYTES + 1);
    c->cap = n;
    if (!c->recs || !c->ns || !c->log || !c->st || !c->names) {
        arrays_free(c);
        return -ENOMEM;
    }
    return 0;
}

/* The record a token op stores: a TokenRecord as it came, one converted
 * from a JSON record of an older log (state_token_convert), or empty (a
 * revocation, or a record neither form reads, which grants nothing). */
static const void *token_record(commit_arrays_t *c, const repl_op_t *o, size_t *len)
{
    uint8_t *conv = NULL;
    int rc;
    *len = 0;
    if (o->kind != REPL_OP_TOKEN_PUT)
        return "";
    rc = state_token_convert(o->value, o->value_len, &conv, len);
    if (rc == 0 && !conv) {
        *len = o->value_len;
        return o->value_len ? (const void *)o->value : "";
    }
    if (rc == 0 && (c->converted || (c->converted = kv_calloc(c->cap, sizeof *c->converted)))) {
        c->converted[c->nconverted++] = conv;
        return conv;
    }
    kv_free(conv);
    if (rc == 0 || rc == -ENOMEM)
        c->rc = -ENOMEM;
    else
        KV_LOG_WARN(REPLICA_LOG, "token %.*s: unreadable record stored as a revocation",
                    (int)o->key_len, o->key);
    *len = 0;
    return "";
}

/* Add one mutation to the commit (the caller leaves out failed ones). */
static void add_mutation(commit_arrays_t *c, const repl_mutation_t *m)
{
    const repl_op_t *o = &m->op;
    switch (o->kind) {
    case REPL_OP_PUT:
    case REPL_OP_DELETE:
        c->recs[c->nrecs++] =
            (stor_mutation_t){.ns_id = o->ns_id,
                              .key = o->key,
                              .key_len = o->key_len,
                              .rec = {.version = m->version,
                                      .tombstone = o->kind == REPL_OP_DELETE,
                                      .expiration = o->kind == REPL_OP_PUT ? o->expiration : 0,
                                      .metadata = o->kind == REPL_OP_PUT ? o->metadata : NULL,
                                      .metadata_len = o->kind == REPL_OP_PUT ? o->metadata_len : 0,
                                      .value = o->kind == REPL_OP_PUT ? o->value : NULL,
                                      .value_len = o->kind == REPL_OP_PUT ? o->value_len : 0}};
        break;
    case REPL_OP_NS_CREATE:
    case REPL_OP_NS_RENAME:
    case REPL_OP_NS_DELETE:
        c->ns[c->nns++] =
            (stor_ns_change_t){.kind = o->kind == REPL_OP_NS_CREATE   ? STOR_NS_CREATE
                                       : o->kind == REPL_OP_NS_RENAME ? STOR_NS_RENAME
                                                                      : STOR_NS_DELETE,
                               .id = o->ns_id,
                               .account = o->account,
                               .title = o->title,
                               .version = m->version};
        break;
    case REPL_OP_TOKEN_PUT:
    case REPL_OP_TOKEN_DELETE: {
        /* Tokens live in the state column family; a revocation is an empty
         * record (node/api/tokens.c reads them back). */
        char *name = c->names + c->names_off;
        size_t len = 0;
        const void *rec = token_record(c, o, &len);
        c->names_off += state_token_name(name, o->key, o->key_len) + 1;
        c->st[c->nst++] = (stor_state_put_t){name, rec, len};
        c->tokens_changed = true;
        break;
    }
    case REPL_OP_NOOP:
        break;
    }
}

/* Every mutation (failed ones as no-ops) as log entries: the origin's own
 * come encoded (repl_mutation_t.enc, made once by the core, which keeps
 * it for the batch frames) and are written as they are; the rest are
 * encoded here. */
static int encode_log(commit_arrays_t *c, const repl_mutation_t *muts, size_t n, const int *failed)
{
    size_t total = 0, i, off = 0, len;
    for (i = 0; i < n; i++)
        if (!muts[i].enc || (failed && failed[i]))
            total += repl_mutation_encoded_size(&muts[i]);
    if (!(c->log_buf = kv_malloc(total ? total : 1)))
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        repl_mutation_t noop = {.seq = muts[i].seq, .version = muts[i].version};
        const repl_mutation_t *m = failed && failed[i] ? &noop : &muts[i];
        if (m->enc) {
            c->log[c->nlog++] =
                (stor_log_entry_t){.seq = m->seq, .data = m->enc, .len = m->enc_len};
            continue;
        }
        int rc = repl_mutation_encode(m, c->log_buf + off, total - off, &len);
        if (rc != 0)
            return rc;
        c->log[c->nlog++] = (stor_log_entry_t){.seq = m->seq, .data = c->log_buf + off, .len = len};
        off += len;
    }
    return 0;
}

/* Publish committed records to the read cache: the keys its readers have
 * cached (a value or a negative entry) are kept fresh in place when the
 * commit is small (a live write), only invalidated when it is a backlog
 * (catch-up, a bulk write: a blob per record would cost more than the one
 * miss a later read pays); namespace deletes drop their entries. A key
 * nobody read is not added: most written keys are not read on every node
 * (an edge replicates every write of the network), and a blob per record
 * would cost the commit CPU and evict what readers use. The first read of
 * a written key fills it, as any miss does. */
static void publish(replica_t *r, const commit_arrays_t *c, const int *rec_results)
{
    bool through = c->nrecs <= REPLICA_WRITE_THROUGH_MAX_RECORDS;
    for (size_t k = 0; k < c->nrecs; k++) {
        const stor_mutation_t *m = &c->recs[k];
        stor_blob_t *b = NULL;
#ifdef EDGEKV_TEST_FAULT_STALE_DELETE
        /* A deliberate replication bug, compiled only into the test binary
         * edgekv-broken (tests/nemesis/README.md): an edge leaves its cached
         * value in place when it applies a delete, so it serves the deleted
         * value, unmarked, until the entry is evicted or overwritten. Its
         * store (and so its digest) is right; only a history shows it. */
        if (r->edge && m->rec.tombstone)
            continue;
#endif
        if (through && rec_results && rec_results[k] == 0 &&
            STOR_RECORD_HEADER_BYTES + m->rec.value_len + m->rec.metadata_len <=
                KV_CACHE_MAX_ENTRY_BYTES) {
            /* Not cached here: the write refused racing fills; done. */
            if (!cache_written(r->cfg.cache, m->ns_id, m->key, m->key_len))
                continue;
            b = stor_blob_from_record(&m->rec);
        }
        if (b)
            cache_put(r->cfg.cache, m->ns_id, m->key, m->key_len, b);
        else if (!rec_results || rec_results[k] != KV_ESTALE)
            cache_invalidate(r->cfg.cache, m->ns_id, m->key, m->key_len);
        stor_blob_unref(b);
    }
    for (size_t k = 0; k < c->nns; k++)
        if (c->ns[k].kind == STOR_NS_DELETE)
            cache_drop_namespace(r->cfg.cache, c->ns[k].id);
}

/* After a successful commit: the cache, and the token table when tokens
 * changed (revocations take effect at once, on this node's next request).
 * snapshot: a chunk into a store just reset, whose records do not go
 * through the cache one by one: the cache is cleared once the snapshot
 * ends instead (apply_run), which also drops what reads cached meanwhile
 * (the edge was behind and said so). */
static void committed(replica_t *r, const commit_arrays_t *c, const int *rec_results, bool snapshot)
{
    if (!snapshot)
        publish(r, c, rec_results);
    if (c->tokens_changed && r->cfg.on_tokens)
        r->cfg.on_tokens(r->cfg.on_tokens_arg);
}

/* ---- origin: group commit -------------------------------------------------------------- */

typedef struct persist_job persist_job_t;
struct persist_job {
    rjob_t job;
    uint64_t batch_id;
    mview_t m;
    int *results;
    int rc;
    size_t bytes;       /* the group's size as the core counts it (repl.h) */
    size_t chain_n;     /* ops of this group and those chained to it */
    size_t chain_bytes; /* their bytes */
    rjob_t *chain_last; /* the last job chained (absorb appends there) */
    bool on_worker;     /* counted in persist_out */
};

/* Commit one run of mutations (one group, or consecutive groups taken
 * together): judged, recorded, logged and the position moved in one
 * RocksDB batch with one WAL sync. results[i] gets each op's outcome. */
static int persist_commit(replica_t *r, mview_t m, int *results)
{
    stor_t *s = r->cfg.store;
    int rc;
    commit_arrays_t c;
    state_position_t pos = r->pos;
    uint64_t stored_max = r->pos.hlc_last; /* before this group's */
    uint8_t posbuf[STATE_POSITION_MAX_BYTES];
    uint64_t hlc_max = 0;
    int *rec_res = NULL;

    if ((rc = arrays_alloc(&c, m.n)) != 0)
        return rc;
    /* The one place where writes are judged (judge.h); refused ops are
     * logged as no-ops in the same batch. */
    if ((rc = judge_group(s, &r->cfg.tokens, m.muts, m.n, results)) != 0) {
        arrays_free(&c);
        return rc;
    }
    for (size_t i = 0; i < m.n; i++) {
        if (results[i] == 0)
            add_mutation(&c, &m.muts[i]);
        if (m.muts[i].version.hlc > hlc_max)
            hlc_max = m.muts[i].version.hlc;
        if (m.muts[i].term > pos.term)
            pos.term = m.muts[i].term;
    }
    pos.seq = m.muts[m.n - 1].seq;
    pos.seq_version = m.muts[m.n - 1].version; /* snapshots state it (SnapshotEnd) */
    pos.hlc_last = hlc_max > pos.hlc_last ? hlc_max : pos.hlc_last;
    c.st[c.nst++] = (stor_state_put_t){STATE_POSITION, posbuf, state_position_encode(&pos, posbuf)};
    if ((rc = c.rc) != 0) {
        arrays_free(&c);
        return rc;
    }
    if ((rc = encode_log(&c, m.muts, m.n, results)) == 0 &&
        (rec_res = kv_calloc(c.nrecs + 1, sizeof *rec_res))) {
        stor_commit_t cm = {.muts = c.recs,
                            .n_muts = c.nrecs,
                            .mut_results = rec_res,
                            .ns = c.ns,
                            .n_ns = c.nns,
                            .log = c.log,
                            .n_log = c.nlog,
                            .state = c.st,
                            .n_state = c.nst,
                            .stored_hlc_max = stored_max};
        rc = stor_commit(s, &cm);
        if (rc == 0) {
            r->pos = pos;
            committed(r, &c, rec_res, false);
        }
    } else if (rc == 0) {
        rc = -ENOMEM;
    }
    kv_free(rec_res);
    arrays_free(&c);
    return rc;
}

/* Groups chained by persist_absorb commit as one run: their mutations are
 * consecutive in seq (each group follows the one before it), so the run
 * is what one bigger group would have been. Copied into one view (the
 * mutation structs only; the bytes stay where the groups hold them). */
static int persist_commit_chain(persist_job_t *p)
{
    replica_t *r = p->job.r;
    repl_mutation_t *muts = kv_malloc(p->chain_n * sizeof *muts);
    int *res = kv_calloc(p->chain_n + 1, sizeof *res);
    size_t off = 0;
    int rc = -ENOMEM;
    if (muts && res) {
        for (rjob_t *j = &p->job; j; j = j->chain) {
            const persist_job_t *q = (const persist_job_t *)j;
            memcpy(muts + off, q->m.muts, q->m.n * sizeof *muts);
            off += q->m.n;
        }
        rc = persist_commit(r, (mview_t){muts, p->chain_n}, res);
        off = 0;
        for (rjob_t *j = &p->job; j && rc == 0; j = j->chain) {
            persist_job_t *q = (persist_job_t *)j;
            memcpy(q->results, res + off, q->m.n * sizeof *res);
            off += q->m.n;
        }
    }
    kv_free(muts);
    kv_free(res);
    return rc;
}

static void persist_run(rjob_t *j)
{
    persist_job_t *p = (persist_job_t *)j;
    replica_t *r = j->r;
    /* After a failed group, the ones queued behind it must not be written:
     * the log would have a gap, and the origin answered their writers with
     * the failure already. */
    int rc = r->persist_rc;
    if (rc == 0)
        rc = j->chain ? persist_commit_chain(p) : persist_commit(r, p->m, p->results);
    for (; j; j = j->chain)
        ((persist_job_t *)j)->rc = rc;
    r->persist_rc = rc;
}

/* The worker's queue holds the next groups while one commits: take them
 * into its run, up to KV_REPL_GROUP_MAX_BYTES together (a group alone may
 * be bigger, as the core allows). Never a job of another kind. */
static bool persist_absorb(rjob_t *j, rjob_t *next)
{
    persist_job_t *p = (persist_job_t *)j, *q = (persist_job_t *)next;
    if (next->absorb != persist_absorb || p->chain_bytes + q->bytes > KV_REPL_GROUP_MAX_BYTES)
        return false;
    p->chain_n += q->m.n;
    p->chain_bytes += q->bytes;
    p->chain_last->chain = next;
    p->chain_last = next;
    next->chain = NULL;
    return true;
}

static void persist_free(persist_job_t *p)
{
    kv_free(p->results);
    kv_free(p);
}

static void persist_done(rjob_t *j)
{
    persist_job_t *p = (persist_job_t *)j;
    repl_actions_t a = {j->r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (p->rc != 0)
        KV_LOG_ERROR(REPLICA_LOG, "group commit failed: %s", kv_strerror(p->rc));
    replica_t *r = j->r;
    r->core_jobs--;
    if (p->on_worker)
        r->persist_out--;
    repl_origin_persisted(r->origin, p->batch_id, p->rc, p->results, replica__now_ms(), &a);
    persist_free(p);
    replica__dispatch(r, &a);
}

static void persist_drop(rjob_t *j)
{
    persist_free((persist_job_t *)j);
}

void replica__persist(replica_t *r, const repl_action_t *act)
{
    /* Behind a group that could not be handed over, none may be: a later
     * one committed would leave a gap in the log. */
    persist_job_t *p = r->defer_persist_n ? NULL : kv_calloc(1, sizeof *p);
    if (p && (p->results = kv_calloc(act->u.persist.n + 1, sizeof *p->results))) {
        p->m = (mview_t){act->u.persist.muts, act->u.persist.n};
        p->job = (rjob_t){.r = r,
                          .run = persist_run,
                          .done = persist_done,
                          .drop = persist_drop,
                          .absorb = persist_absorb};
        p->batch_id = act->u.persist.batch_id;
        p->bytes = act->u.persist.bytes;
        p->chain_n = p->m.n;
        p->chain_bytes = p->bytes;
        p->chain_last = &p->job;
        r->core_jobs++; /* its completion calls the core (replica_ha.c) */
        /* On the loop when it keeps the order (REPLICA_INLINE_COMMIT_MAX_BYTES);
         * a lone origin has no links to serve and commits every group
         * here. Its completion goes through the queue like a worker's (no
         * core re-entry); on_wake takes it before it sleeps. The worker
         * may meanwhile run log trims and the acks record, which touch
         * neither the records nor the position. */
        if (r->cfg.lone || (r->persist_out == 0 && p->bytes <= REPLICA_INLINE_COMMIT_MAX_BYTES)) {
            persist_run(&p->job);
            replica__complete(r, &p->job);
            return;
        }
        p->on_worker = true;
        r->persist_out++;
        rworker_push(&r->store_w, &p->job);
        return;
    }
    /* Out of memory: report the group failed (the core fails its writers),
     * from on_wake since we are inside a dispatch. */
    if (p)
        kv_free(p->results);
    kv_free(p);
    KV_ASSERT(r->defer_persist_n < KV_REPL_GROUPS_IN_FLIGHT_MAX);
    r->defer_persist_batch[r->defer_persist_n++] = act->u.persist.batch_id;
    replica__defer(r);
}

/* ---- edge: apply, reset ------------------------------------------------------------------- */

typedef struct {
    rjob_t job;
    mview_t m;
    uint64_t seq;         /* 0: leave applied_seq alone (a snapshot chunk) */
    kv_version_t version; /* of the entry at seq: stored with it (the resume proof) */
    uint64_t term;        /* the largest term seen: stored with the position */
    char history[33];
    bool set_history;
    int rc;
} apply_job_t;

/* A snapshot chunk of records only, into a store just reset: into the
 * bulk load's file (opened by the first such chunk). 0 when they went in;
 * KV_EINVAL when they cannot (not above the keys before them: the chunk is
 * committed as usual); another code fails the apply. */
static int apply_bulk_add(replica_t *r, const commit_arrays_t *c)
{
    int rc = r->bulk ? 0 : stor_bulk_open(r->cfg.store, &r->bulk);
    if (rc == 0)
        rc = stor_bulk_add(r->bulk, c->recs, c->nrecs);
    if (rc == KV_EINVAL && r->bulk) {
        int ingest_rc = stor_bulk_ingest(r->bulk); /* what came before it first */
        rc = ingest_rc ? ingest_rc : KV_EINVAL;
    }
    return rc;
}

/* Ingest what the bulk load holds; at the end of the snapshot (any apply
 * but a chunk into the reset store) close it too. */
static int apply_bulk_flush(replica_t *r, bool end)
{
    int rc = stor_bulk_ingest(r->bulk);
    if (end || rc != 0) {
        stor_bulk_close(r->bulk);
        r->bulk = NULL;
    }
    return rc;
}

static void apply_run(rjob_t *j)
{
    apply_job_t *p = (apply_job_t *)j;
    replica_t *r = j->r;
    commit_arrays_t c;
    state_position_t pos = r->pos;
    uint64_t stored_max = r->pos.hlc_last; /* before this batch's */
    bool chunk = p->seq == 0 && !p->set_history;
    bool into_reset = chunk && r->snap_fresh; /* a snapshot chunk into a reset store */
    bool bulk = false;
    uint8_t posbuf[STATE_POSITION_MAX_BYTES];
    uint64_t hlc_max = 0;
    int *rec_res = NULL;

    if ((p->rc = arrays_alloc(&c, p->m.n)) != 0)
        return;
    for (size_t i = 0; i < p->m.n; i++) {
        add_mutation(&c, &p->m.muts[i]);
        if (p->m.muts[i].version.hlc > hlc_max)
            hlc_max = p->m.muts[i].version.hlc;
    }
    if (p->seq) {
        pos.seq = p->seq;
        pos.seq_version = p->version;
    }
    if (p->set_history)
        memcpy(pos.history_id, p->history, sizeof pos.history_id);
    if (p->term > pos.term || p->set_history) /* a new history's terms start afresh */
        pos.term = p->term;
    pos.hlc_last = hlc_max > pos.hlc_last ? hlc_max : pos.hlc_last;
    /* A chunk of records only goes to the bulk load; the commit below
     * then writes the position alone, whose hlc_last covers them before
     * they are ingested. Anything else ingests what the load holds first,
     * so the position that ends a snapshot is written after its data. */
    if (c.rc == 0 && into_reset && c.nrecs > 0 && c.nrecs == p->m.n) {
        int rc = apply_bulk_add(r, &c);
        if (rc != 0 && rc != KV_EINVAL)
            c.rc = rc;
        bulk = rc == 0;
    } else if (c.rc == 0 && r->bulk) {
        c.rc = apply_bulk_flush(r, !into_reset);
    }
    c.st[c.nst++] = (stor_state_put_t){STATE_POSITION, posbuf, state_position_encode(&pos, posbuf)};
    if ((p->rc = c.rc) != 0) {
        arrays_free(&c);
        return;
    }
    /* A relay keeps the log of what it applied (not of snapshot chunks),
     * in the same batch: its edges resume from it (repl.h, "The relay"). */
    if (r->cfg.role == REPLICA_RELAY && p->seq && p->m.n &&
        (p->rc = encode_log(&c, p->m.muts, p->m.n, NULL)) != 0) {
        arrays_free(&c);
        return;
    }
    if (!(rec_res = kv_calloc(c.nrecs + 1, sizeof *rec_res))) {
        p->rc = -ENOMEM;
    } else {
        stor_commit_t cm = {.muts = c.recs,
                            .n_muts = bulk ? 0 : c.nrecs,
                            .mut_results = rec_res,
                            .ns = c.ns,
                            .n_ns = c.nns,
                            .log = c.log,
                            .n_log = c.nlog,
                            .state = c.st,
                            .n_state = c.nst,
                            .stored_hlc_max = stored_max,
                            .keys_absent = into_reset,
                            .no_sync = into_reset};
        p->rc = stor_commit(r->cfg.store, &cm);
        if (p->rc == 0 && bulk && stor_bulk_pending_bytes(r->bulk) >= REPLICA_BULK_FILE_BYTES)
            p->rc = apply_bulk_flush(r, false);
        if (p->rc == 0) {
            if (r->snap_fresh && !chunk)
                cache_clear(r->cfg.cache); /* the chunks did not publish */
            r->pos = pos;
            r->snap_fresh = into_reset;
            committed(r, &c, rec_res, into_reset);
        }
    }
    kv_free(rec_res);
    arrays_free(&c);
}

static void apply_free(apply_job_t *p)
{
    kv_free(p);
}

static void apply_done(rjob_t *j)
{
    apply_job_t *p = (apply_job_t *)j;
    replica_t *r = j->r;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    r->core_jobs--;
    if (p->rc != 0)
        KV_LOG_ERROR(REPLICA_LOG, "apply failed: %s", kv_strerror(p->rc));
    replica__up_applied(r, p->rc, p->seq, &a);
    if (p->rc == 0 && p->set_history) {
        pthread_mutex_lock(&r->lock);
        memcpy(r->status.history_id, p->history, sizeof p->history);
        pthread_mutex_unlock(&r->lock);
    }
    apply_free(p);
    replica__dispatch(r, &a);
    replica__flow(r); /* the queue shrank: maybe read again */
}

static void apply_drop(rjob_t *j)
{
    apply_free((apply_job_t *)j);
}

void replica__apply(replica_t *r, const repl_action_t *act)
{
    apply_job_t *p = kv_calloc(1, sizeof *p);
    if (!p) {
        /* Without memory the replica cannot keep up: the step is reported
         * failed (from on_wake: we are inside a dispatch), so the core
         * drops its queue and the link and resumes from the applied seq on
         * reconnect. */
        KV_LOG_ERROR(REPLICA_LOG, "out of memory applying a batch");
        r->defer_apply_failed = true;
        r->defer_apply_seq = act->u.apply.seq;
        replica__defer(r);
        return;
    }
    p->job = (rjob_t){.r = r, .run = apply_run, .done = apply_done, .drop = apply_drop};
    r->core_jobs++;
    p->m = (mview_t){act->u.apply.muts, act->u.apply.n};
    p->seq = act->u.apply.seq;
    p->version = act->u.apply.version;
    p->term = act->u.apply.term;
    if (act->u.apply.history_id && act->u.apply.history_id[0]) {
        p->set_history = true;
        snprintf(p->history, sizeof p->history, "%s", act->u.apply.history_id);
    }
    /* The core has one storage step in flight at a time, so the worker is
     * idle now and running it here keeps the order. Its completion still
     * goes through the queue: the core is not re-entered from a dispatch. */
    if (r->cfg.apply_inline && p->m.n <= REPLICA_INLINE_APPLY_MAX_MUTS && !r->bulk) {
        apply_run(&p->job);
        replica__complete(r, &p->job);
        return;
    }
    rworker_push(&r->store_w, &p->job);
}

typedef struct {
    rjob_t job;
    int rc;
} simple_job_t;

static void reset_run(rjob_t *j)
{
    static const char *const keep[] = {STATE_IDENTITY};
    simple_job_t *p = (simple_job_t *)j;
    stor_bulk_close(j->r->bulk); /* what an earlier snapshot left unfinished */
    j->r->bulk = NULL;
    p->rc = stor_reset(j->r->cfg.store, keep, sizeof keep / sizeof keep[0]);
    if (p->rc == 0) {
        /* The stored position went with the data; the highest timestamp
         * seen stays, so the next commit's position keeps it. */
        j->r->pos.history_id[0] = '\0';
        j->r->pos.seq = 0;
        j->r->pos.seq_version = KV_VERSION_ZERO;
        j->r->snap_fresh = true;
        cache_clear(j->r->cfg.cache);
        /* The stored tokens went too: reload the (now empty) table, so a
         * token revoked while this edge was away is refused from here on,
         * even when the snapshot that follows carries no token at all (its
         * token records reload the table again as they are applied). */
        if (j->r->cfg.on_tokens)
            j->r->cfg.on_tokens(j->r->cfg.on_tokens_arg);
    }
}

static void reset_done(rjob_t *j)
{
    simple_job_t *p = (simple_job_t *)j;
    replica_t *r = j->r;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    r->core_jobs--;
    KV_LOG_INFO(REPLICA_LOG, "replica reset for a snapshot: %s", kv_strerror(p->rc));
    pthread_mutex_lock(&r->lock);
    r->status.history_id[0] = '\0';
    pthread_mutex_unlock(&r->lock);
    replica__up_reset_done(r, p->rc, &a);
    kv_free(p);
    replica__dispatch(r, &a);
    replica__flow(r);
}

static void simple_drop(rjob_t *j)
{
    kv_free(j);
}

void replica__reset(replica_t *r)
{
    simple_job_t *p = kv_calloc(1, sizeof *p);
    if (!p) {
        KV_LOG_ERROR(REPLICA_LOG, "out of memory resetting for a snapshot");
        r->defer_reset_failed = true; /* as an apply, above */
        replica__defer(r);
        return;
    }
    p->job = (rjob_t){.r = r, .run = reset_run, .done = reset_done, .drop = simple_drop};
    r->core_jobs++;
    rworker_push(&r->store_w, &p->job);
}

typedef struct {
    rjob_t job;
    uint64_t below;
} trim_job_t;

static void trim_run(rjob_t *j)
{
    trim_job_t *p = (trim_job_t *)j;
    int rc = stor_log_trim(j->r->cfg.store, p->below);
    if (rc != 0)
        KV_LOG_WARN(REPLICA_LOG, "log trim below %llu: %s", (unsigned long long)p->below,
                    kv_strerror(rc));
}

static void trim_done(rjob_t *j)
{
    kv_free(j);
}

/* The floor moves here (no I/O); the worker is woken only for the
 * deletion on disk, once per STOR_LOG_TRIM_STEP entries, not per group. */
void replica__trim(replica_t *r, uint64_t below)
{
    if (!stor_log_trim_floor(r->cfg.store, below))
        return;
    trim_job_t *p = kv_calloc(1, sizeof *p);
    if (!p)
        return; /* trimming is best effort: the next trim covers it */
    p->job = (rjob_t){.r = r, .run = trim_run, .done = trim_done, .drop = trim_done};
    p->below = below;
    rworker_push(&r->store_w, &p->job);
}

/* ---- origin: known edges survive a restart ------------------------------------------------ */

/* The origin trims its log past what every known edge acknowledged; after
 * a restart it must still know the edges that were away, or it would trim
 * past them and force snapshots. Every known edge's ack (up to
 * KV_REPL_EDGES_MAX, all the core keeps) is saved, at most once per
 * REPLICA_ACKS_SAVE_MS and when they changed, and restored at start. */
typedef struct {
    rjob_t job;
    size_t n;
    state_edge_t edges[];
} acks_job_t;

static void acks_run(rjob_t *j)
{
    acks_job_t *p = (acks_job_t *)j;
    int rc = state_edges_put(j->r->cfg.store, p->edges, p->n);
    if (rc != 0)
        KV_LOG_WARN(REPLICA_LOG, "saving edge acks: %s", kv_strerror(rc));
}

static void acks_done(rjob_t *j)
{
    kv_free(j);
}

void replica__save_acks(replica_t *r, const repl_edge_info_t *e, size_t n)
{
    acks_job_t *p = kv_malloc(sizeof *p + (n ? n : 1) * sizeof p->edges[0]);
    if (!p)
        return; /* best effort: the next change saves them */
    for (size_t i = 0; i < n; i++)
        p->edges[i] = (state_edge_t){e[i].node_id, e[i].acked_seq, e[i].last_ack_ms, ""};
    for (size_t i = 0; i < n; i++)
        memcpy(p->edges[i].name, e[i].name, sizeof p->edges[i].name);
    p->n = n;
    p->job = (rjob_t){.r = r, .run = acks_run, .done = acks_done, .drop = acks_done};
    rworker_push(&r->store_w, &p->job);
}

void replica__restore_acks(replica_t *r)
{
    state_edge_t *e = NULL;
    size_t n = 0, restored = 0;
    int rc = state_edges_get(r->cfg.store, &e, &n);
    if (rc != 0 && rc != KV_ENOTFOUND)
        KV_LOG_WARN(REPLICA_LOG, "reading the known edges: %s", kv_strerror(rc));
    for (size_t i = 0; i < n; i++)
        if ((r->relay ? repl_relay_restore_edge(r->relay, e[i].node_id, e[i].name, e[i].acked_seq,
                                                e[i].last_ack_ms)
                      : repl_origin_restore_edge(r->origin, e[i].node_id, e[i].name, e[i].acked_seq,
                                                 e[i].last_ack_ms)) == 0)
            restored++;
    kv_free(e);
    if (restored)
        KV_LOG_INFO(REPLICA_LOG, "remembering %zu edges from before the restart", restored);
}
