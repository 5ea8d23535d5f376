/*
 * replica_snap.c - the origin's reads for edges that are behind: log reads
 * (READ_LOG) on the read worker, and snapshot streams (SNAPSHOT), each on
 * its own thread with bounded memory.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "replica_int.h"
#include "wire.h"

/* Snapshot chunk: mutations per frame before the byte cap decides. */
#define SNAPSHOT_CHUNK_MAX 1024

static void snap_noop(rjob_t *j)
{
    (void)j;
}

/* ---- origin: log reads for lagging edges --------------------------------------------------- */

/* The entries of one read go into one flat array (what the core takes),
 * each with a copy of its stored bytes from one arena: no allocation per
 * entry on the read worker, nothing to free per entry on the loop. They
 * are not decoded: the core needs only each entry's seq and version
 * (repl_mutation_peek) and sends the stored bytes on as they are. */
typedef struct {
    rjob_t job;
    repl_peer_t peer;
    uint64_t from;
    size_t max_bytes;
    frame_arena_t *arena;
    repl_mutation_t *muts;
    size_t n, cap;
    int rc;
} read_job_t;

/* The arena's first chunk (later ones double up to 256 KiB). */
#define READ_ARENA_FIRST_BYTES (64u * 1024u)

static int read_cb(void *arg, uint64_t seq, const void *data, size_t len)
{
    read_job_t *p = arg;
    int rc;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        repl_mutation_t *d = kv_realloc(p->muts, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        p->muts = d;
        p->cap = cap;
    }
    ProtobufCAllocator *al = frame_arena_pb(p->arena);
    uint8_t *copy = al->alloc(al->allocator_data, len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    if ((rc = repl_mutation_peek(copy, len, &p->muts[p->n])) != 0)
        return rc;
    if (p->muts[p->n].seq != seq)
        return KV_ECORRUPT;
    p->n++;
    return 0;
}

static void read_run(rjob_t *j)
{
    read_job_t *p = (read_job_t *)j;
    if (!(p->arena = frame_arena_new(READ_ARENA_FIRST_BYTES))) {
        p->rc = -ENOMEM;
        return;
    }
    p->rc = stor_log_read(j->r->cfg.store, p->from, REPLICA_LOG_READ_ENTRIES,
                          p->max_bytes ? p->max_bytes : REPLICA_LOG_READ_BYTES, read_cb, p);
}

static void read_free(read_job_t *p)
{
    frame_arena_free(p->arena);
    kv_free(p->muts);
    kv_free(p);
}

static void read_done(rjob_t *j)
{
    read_job_t *p = (read_job_t *)j;
    replica_t *r = j->r;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    int rc = p->rc;
    replica__down_log_read(r, p->peer, rc, p->muts, rc == 0 ? p->n : 0, &a);
    read_free(p);
    replica__dispatch(r, &a);
}

static void read_drop(rjob_t *j)
{
    read_free((read_job_t *)j);
}

void replica__read_log(replica_t *r, const repl_action_t *act)
{
    read_job_t *p = kv_calloc(1, sizeof *p);
    if (!p) {
        replica__close_peer(r, act->u.read_log.peer); /* it reconnects and resumes */
        return;
    }
    p->job = (rjob_t){.r = r, .run = read_run, .done = read_done, .drop = read_drop};
    p->peer = act->u.read_log.peer;
    p->from = act->u.read_log.from_seq;
    p->max_bytes = act->u.read_log.max_bytes;
    rworker_push(&r->read_w, &p->job);
}

/* ---- origin: snapshot streams --------------------------------------------------------------- */

/* A snapshot runs on its own thread: it walks a RocksDB snapshot, builds
 * SnapshotChunk frames and hands them to the loop, waiting while more than
 * REPLICA_SNAPSHOT_INFLIGHT_BYTES are unflushed (so a slow edge costs a
 * bounded amount of memory; one that flushes nothing for
 * KV_REPL_PEER_STALL_MS is closed), then SnapshotEnd{seq}. */
typedef struct {
    rjob_t job; /* the final completion: snapshot_sent */
    repl_peer_t peer;
    pthread_t thread;
    size_t inflight;  /* guarded by replica.lock */
    rjob_t stall_job; /* closes the link of a stalled snapshot */
    uint64_t seq;
    int rc;
} snap_job_t;

typedef struct {
    rjob_t job;
    snap_job_t *owner;
    uint8_t *frame;
    size_t len;
} snap_send_t;

static void snap_send_done(rjob_t *j)
{
    snap_send_t *s = (snap_send_t *)j;
    replica__send_counted(j->r, s->owner->peer, s->frame, s->len, &s->owner->inflight);
    kv_free(s->frame);
    kv_free(s);
}

static void snap_send_drop(rjob_t *j)
{
    snap_send_t *s = (snap_send_t *)j;
    pthread_mutex_lock(&j->r->lock);
    s->owner->inflight -= s->len;
    pthread_cond_broadcast(&j->r->snap_cond);
    pthread_mutex_unlock(&j->r->lock);
    kv_free(s->frame);
    kv_free(s);
}

static uint64_t snap_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* sj->stall_job on the loop: close the link of a stalled snapshot. sj
 * outlives it: sj's own completion is queued after it. */
static void snap_stall_done(rjob_t *j)
{
    snap_job_t *sj = (snap_job_t *)((char *)j - offsetof(snap_job_t, stall_job));
    replica__close_peer(j->r, sj->peer);
}

/* Wait (lock held) while more than REPLICA_SNAPSHOT_INFLIGHT_BYTES are
 * unflushed. An edge that flushes nothing for KV_REPL_PEER_STALL_MS is not
 * reading: its link is closed from the loop (which fails what is queued,
 * so inflight drains) and KV_ETIMEDOUT ends the snapshot; the edge asks
 * for it again when it reconnects. */
static int snap_wait_room(snap_job_t *sj)
{
    replica_t *r = sj->job.r;
    size_t last = sj->inflight;
    uint64_t since = snap_mono_ms();
    while (sj->inflight > REPLICA_SNAPSHOT_INFLIGHT_BYTES && !r->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition's clock */
        ts.tv_sec += 1;
        pthread_cond_timedwait(&r->snap_cond, &r->lock, &ts);
        uint64_t now = snap_mono_ms();
        if (sj->inflight < last) {
            last = sj->inflight;
            since = now;
        } else if (now - since >= KV_REPL_PEER_STALL_MS) {
            KV_LOG_WARN(REPLICA_LOG, "snapshot to link %u: nothing flushed for %u ms; closing",
                        sj->peer, (unsigned)KV_REPL_PEER_STALL_MS);
            sj->stall_job =
                (rjob_t){.r = r, .run = snap_noop, .done = snap_stall_done, .drop = snap_noop};
            pthread_mutex_unlock(&r->lock);
            replica__complete(r, &sj->stall_job);
            pthread_mutex_lock(&r->lock);
            return KV_ETIMEDOUT;
        }
    }
    return r->stopping ? KV_ESHUTDOWN : 0;
}

/* Hand one frame to the loop; wait for room first. */
static int snap_emit(snap_job_t *sj, uint8_t *frame, size_t len)
{
    replica_t *r = sj->job.r;
    snap_send_t *s = kv_calloc(1, sizeof *s);
    if (!s) {
        kv_free(frame);
        return -ENOMEM;
    }
    pthread_mutex_lock(&r->lock);
    int rc = snap_wait_room(sj);
    if (rc != 0) {
        pthread_mutex_unlock(&r->lock);
        kv_free(frame);
        kv_free(s);
        return rc;
    }
    sj->inflight += len;
    pthread_mutex_unlock(&r->lock);
    s->job = (rjob_t){.r = r, .run = snap_noop, .done = snap_send_done, .drop = snap_send_drop};
    s->owner = sj;
    s->frame = frame;
    s->len = len;
    replica__complete(r, &s->job);
    return 0;
}

static int snap_flush(snap_job_t *sj, repl_mutation_t *buf, size_t *n)
{
    uint8_t *frame;
    size_t len;
    int rc;
    if (*n == 0)
        return 0;
    rc = repl_wire_snapshot_chunk(buf, *n, &frame, &len);
    if (rc == 0)
        rc = snap_emit(sj, frame, len);
    *n = 0;
    return rc;
}

static int snap_namespaces(snap_job_t *sj, stor_snap_t *snap, repl_mutation_t *buf, size_t *n)
{
    stor_ns_t *ns = NULL;
    size_t count = 0;
    int rc = stor_snapshot_namespaces(snap, &ns, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        buf[*n] = (repl_mutation_t){
            .version = ns[i].version,
            .op = {.kind = REPL_OP_NS_CREATE, .account = ns[i].account, .title = ns[i].title}};
        memcpy(buf[*n].op.ns_id, ns[i].id, sizeof buf[*n].op.ns_id);
        if (++*n == SNAPSHOT_CHUNK_MAX)
            rc = snap_flush(sj, buf, n);
    }
    if (rc == 0)
        rc = snap_flush(sj, buf, n); /* namespaces before their records */
    kv_free(ns);
    return rc;
}

/* Records, in chunks bounded by count and KV_REPL_BATCH_MAX_BYTES. The
 * mutations borrow their record blobs and key copies until the chunk is
 * encoded. */
typedef struct {
    stor_blob_t *rec[SNAPSHOT_CHUNK_MAX];
    stor_blob_t *key[SNAPSHOT_CHUNK_MAX];
    size_t n, bytes;
} snap_hold_t;

static void hold_release(snap_hold_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        stor_blob_unref(h->rec[i]);
        stor_blob_unref(h->key[i]);
    }
    h->n = h->bytes = 0;
}

static int snap_record(snap_hold_t *h, const stor_snap_item_t *it, repl_mutation_t *m)
{
    stor_record_t rec;
    stor_blob_t *key = stor_blob_new(it->key, it->key_len); /* the key borrows the iterator */
    if (!key) {
        stor_blob_unref(it->blob);
        return -ENOMEM;
    }
    stor_blob_record(it->blob, &rec);
    *m = (repl_mutation_t){.version = rec.version,
                           .op = {.kind = rec.tombstone ? REPL_OP_DELETE : REPL_OP_PUT,
                                  .key = (const char *)key->data,
                                  .key_len = it->key_len,
                                  .value = rec.value,
                                  .value_len = rec.value_len,
                                  .metadata = rec.metadata_len ? rec.metadata : NULL,
                                  .metadata_len = rec.metadata_len,
                                  .expiration = rec.expiration}};
    memcpy(m->op.ns_id, it->ns_id, sizeof m->op.ns_id);
    h->rec[h->n] = it->blob;
    h->key[h->n] = key;
    h->n++;
    h->bytes += repl_mutation_cost(m);
    return 0;
}

static int snap_records(snap_job_t *sj, stor_snap_t *snap, repl_mutation_t *buf)
{
    snap_hold_t *h = kv_calloc(1, sizeof *h);
    stor_snap_item_t it;
    int rc = h ? 0 : -ENOMEM, more = 0;
    while (rc == 0 && (more = stor_snapshot_next(snap, &it)) == 1) {
        rc = snap_record(h, &it, &buf[h->n]);
        if (rc == 0 && (h->n == SNAPSHOT_CHUNK_MAX || h->bytes >= KV_REPL_BATCH_MAX_BYTES)) {
            size_t n = h->n;
            rc = snap_flush(sj, buf, &n);
            hold_release(h);
        }
    }
    if (rc == 0 && more < 0)
        rc = more;
    if (rc == 0 && h->n) {
        size_t n = h->n;
        rc = snap_flush(sj, buf, &n);
    }
    if (h)
        hold_release(h);
    kv_free(h);
    return rc;
}

/* Stored API tokens go first (a replica reset removed them). They are read
 * live rather than from the snapshot: a token op after the snapshot's seq
 * is in the tail too, and token ops are idempotent puts and deletes. */
typedef struct {
    snap_job_t *sj;
    repl_mutation_t *buf;
    size_t n;
    int rc;
} snap_tokens_t;

static int snap_token(void *arg, const char *id, size_t id_len, const char *rec, size_t len)
{
    snap_tokens_t *t = arg;
    repl_mutation_t *m = &t->buf[t->n];
    *m = (repl_mutation_t){.op = {.kind = REPL_OP_TOKEN_PUT,
                                  .key = id,
                                  .key_len = id_len,
                                  .value = (const uint8_t *)rec,
                                  .value_len = len}};
    memcpy(m->op.ns_id, REPL_TOKEN_NS_ID, sizeof m->op.ns_id);
    t->n++;
    /* The callback's strings live only during the call: one per chunk. */
    return (t->rc = snap_flush(t->sj, t->buf, &t->n));
}

static int snap_stream(snap_job_t *sj)
{
    stor_t *s = sj->job.r->cfg.store;
    stor_snap_t *snap = NULL;
    state_position_t pos;
    size_t len, n = 0;
    repl_mutation_t *buf = kv_calloc(SNAPSHOT_CHUNK_MAX, sizeof *buf);
    uint8_t *frame;
    int rc = buf ? stor_snapshot_open(s, &snap) : -ENOMEM;

    /* The origin wrote its position (with the history) at start, and every
     * commit since: absent, it is KV_ENOTFOUND and no snapshot is sent. */
    if (rc == 0 && (rc = state_position_get_at(snap, &pos)) == 0)
        sj->seq = pos.seq;
    if (rc == 0) {
        snap_tokens_t t = {.sj = sj, .buf = buf};
        rc = state_tokens_each(sj->job.r->cfg.store, snap_token, &t);
        rc = rc ? rc : t.rc;
    }
    if (rc == 0)
        rc = snap_namespaces(sj, snap, buf, &n);
    if (rc == 0)
        rc = snap_records(sj, snap, buf);
    if (rc == 0 &&
        (rc = repl_wire_snapshot_end(sj->seq, pos.seq_version, pos.history_id, &frame, &len)) == 0)
        rc = snap_emit(sj, frame, len);
    kv_free(buf);
    stor_snapshot_close(snap);
    return rc;
}

static void *snap_main(void *arg)
{
    snap_job_t *sj = arg;
    replica_t *r = sj->job.r;
    pthread_setname_np(pthread_self(), "ekv-snap");
    sj->rc = snap_stream(sj);
    KV_LOG_INFO(REPLICA_LOG, "snapshot to link %u up to seq %llu: %s", sj->peer,
                (unsigned long long)sj->seq, kv_strerror(sj->rc));
    /* Every frame flushed or dropped: then no callback can touch sj. */
    pthread_mutex_lock(&r->lock);
    while (sj->inflight > 0)
        pthread_cond_wait(&r->snap_cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    replica__complete(r, &sj->job); /* sj is the loop's (or dropped) from here */
    pthread_mutex_lock(&r->lock);
    r->snapshots_running--;
    pthread_cond_broadcast(&r->snap_cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void snap_done(rjob_t *j)
{
    snap_job_t *sj = (snap_job_t *)j;
    repl_actions_t a = {j->r->act_buf, REPLICA_ACTIONS_CAP, 0};
    replica_t *r = j->r;
    replica__down_snapshot_sent(r, sj->peer, sj->rc, sj->seq, &a);
    kv_free(sj);
    replica__dispatch(r, &a);
}

static void snap_drop(rjob_t *j)
{
    kv_free(j);
}

void replica__snapshot(replica_t *r, repl_peer_t p)
{
    snap_job_t *sj = kv_calloc(1, sizeof *sj);
    bool slot;
    pthread_mutex_lock(&r->lock);
    slot = sj && r->snapshots_running < REPLICA_SNAPSHOTS_MAX;
    if (slot)
        r->snapshots_running++;
    pthread_mutex_unlock(&r->lock);
    if (!slot) {
        kv_free(sj);
        KV_LOG_WARN(REPLICA_LOG, "no snapshot slot for link %u; it will retry", p);
        replica__close_peer(r, p);
        return;
    }
    sj->job = (rjob_t){.r = r, .run = snap_noop, .done = snap_done, .drop = snap_drop};
    sj->peer = p;
    if (pthread_create(&sj->thread, NULL, snap_main, sj) != 0) {
        pthread_mutex_lock(&r->lock);
        r->snapshots_running--;
        pthread_mutex_unlock(&r->lock);
        kv_free(sj);
        replica__close_peer(r, p);
        return;
    }
    pthread_detach(sj->thread);
}
