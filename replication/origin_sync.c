/*
 * origin_sync.c - the answers of an origin that leads (repl.h "Synchronous
 * standbys"): a committed write is answered once sync_standbys standby
 * links have acknowledged its seq, and only while the leadership deadline
 * holds; else KV_EUNAVAILABLE, at the deadline or after sync_timeout_ms.
 *
 * Held answers wait in a FIFO in seq order (writes are committed in seq
 * order, each with the same timeout, so the head has both the lowest seq
 * and the earliest deadline). Without leadership and standbys (a lone
 * origin) nothing is held: answers go out at commit, as always. Not the
 * standby's side: a standby is a relay (relay.c) whose acks say durable.
 */
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "origin_int.h"

static osync_t *sq_at(repl_origin_t *o, size_t i)
{
    KV_ASSERT(i < o->sq_n);
    return &o->sq[(o->sq_head + i) % o->sq_cap];
}

static void sq_push(repl_origin_t *o, const osync_t *s)
{
    if (o->sq_n == o->sq_cap) {
        size_t cap = o->sq_cap ? 2 * o->sq_cap : 16;
        osync_t *q = kv_malloc(cap * sizeof *q);
        REPL__NOMEM(q);
        for (size_t i = 0; i < o->sq_n; i++)
            q[i] = *sq_at(o, i);
        kv_free(o->sq);
        o->sq = q;
        o->sq_cap = cap;
        o->sq_head = 0;
    }
    o->sq[(o->sq_head + o->sq_n) % o->sq_cap] = *s;
    o->sq_n++;
}

static void sq_answer_pop(repl_origin_t *o, int status, uint64_t now_ms, repl_actions_t *a)
{
    osync_t *s = sq_at(o, 0);
    uint64_t seq = status == 0 ? s->seq : 0;
    const int *res = status == 0 ? s->results : NULL;
    size_t n = status == 0 ? s->n : 0;
    if (s->remote)
        repl__origin_write_result(o, s->peer, s->request_id, status, seq, res, n, now_ms, a);
    else
        repl__emit_write_done(&o->out, a, s->token, status, seq, res, n);
    kv_free(s->results);
    o->sq_head = (o->sq_head + 1) % o->sq_cap;
    o->sq_n--;
}

static bool sync__leading(const repl_origin_t *o, uint64_t now_ms)
{
    return now_ms < o->lead_until_ms;
}

int repl__origin_sync_admit(const repl_origin_t *o, uint64_t now_ms)
{
    return sync__leading(o, now_ms) ? 0 : KV_EUNAVAILABLE;
}

static bool sync__named(const repl_origin_t *o, const char *name)
{
    for (size_t i = 0; i < o->sync_n; i++)
        if (strcmp(o->sync_names[i], name) == 0)
            return true;
    return false;
}

uint64_t repl__origin_sync_seq(const repl_origin_t *o)
{
    size_t k = o->cfg.sync_standbys;
    if (k == 0)
        return o->last_seq;
    if (o->cfg.sync_named && o->sync_n < k)
        return 0; /* the set is not complete: nothing is answered */
    /* The k largest acked seqs of streaming standby links, descending. */
    uint64_t top[KV_REPL_SYNC_STANDBYS_MAX];
    size_t have = 0;
    for (size_t i = 0; i < o->npeers; i++) {
        const opeer_t *p = o->peers[i];
        if (!p->standby || p->state != OPEER_STREAM || p->edge == SIZE_MAX)
            continue;
        if (o->cfg.sync_named && !sync__named(o, p->name))
            continue;
        uint64_t v = o->edges[p->edge].acked_seq;
        size_t j = have < k ? have++ : k;
        while (j > 0 && top[j - 1] < v) {
            if (j < k)
                top[j] = top[j - 1];
            j--;
        }
        if (j < k)
            top[j] = v;
    }
    return have < k ? 0 : top[k - 1];
}

void repl__origin_sync_answer(repl_origin_t *o, const owrite_t *w, const int *results,
                              uint64_t now_ms, repl_actions_t *a)
{
    osync_t s = {.remote = w->remote,
                 .token = w->token,
                 .peer = w->peer,
                 .request_id = w->request_id,
                 .seq = w->first_seq + w->n - 1,
                 .n = w->n,
                 .deadline_ms = repl__add_sat(now_ms, o->cfg.sync_timeout_ms)};
    if (results) {
        s.results = kv_malloc(w->n * sizeof *s.results);
        REPL__NOMEM(s.results);
        memcpy(s.results, results, w->n * sizeof *s.results);
    }
    sq_push(o, &s);
    /* Released by the caller once the whole group is queued. */
}

void repl__origin_sync_release(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    if (!sync__leading(o, now_ms)) {
        while (o->sq_n > 0)
            sq_answer_pop(o, KV_EUNAVAILABLE, now_ms, a);
        return;
    }
    uint64_t synced = repl__origin_sync_seq(o);
    if (o->cfg.sync_standbys > 0 && synced > o->visible_seq) {
        o->visible_seq = synced;
        repl__origin_push_all(o, now_ms, a); /* edges may have it now */
    }
    while (o->sq_n > 0 && sq_at(o, 0)->seq <= synced)
        sq_answer_pop(o, 0, now_ms, a);
    while (o->sq_n > 0 && now_ms >= sq_at(o, 0)->deadline_ms)
        sq_answer_pop(o, KV_EUNAVAILABLE, now_ms, a);
}

uint64_t repl__origin_sync_deadline(const repl_origin_t *o)
{
    if (o->sq_n == 0)
        return UINT64_MAX;
    const osync_t *s = &o->sq[o->sq_head];
    return repl__min64(s->deadline_ms, o->lead_until_ms);
}

void repl__origin_sync_free(repl_origin_t *o)
{
    for (size_t i = 0; i < o->sq_n; i++)
        kv_free(sq_at(o, i)->results);
    kv_free(o->sq);
    o->sq = NULL;
    o->sq_n = o->sq_cap = 0;
}

void repl_origin_peer_standby(repl_origin_t *o, repl_peer_t id)
{
    /* Emits nothing: the actions of the call before stay valid. */
    opeer_t *p = repl__origin_peer(o, id);
    if (p)
        p->standby = true;
}

int repl_origin_sync_names(repl_origin_t *o, const char *const *names, size_t n, uint64_t now_ms,
                           repl_actions_t *a)
{
    repl__origin_begin(o);
    if (n > KV_REPL_SYNC_STANDBYS_MAX)
        return KV_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || strlen(names[i]) > KV_TLS_PEER_NAME_MAX)
            return KV_EINVAL;
    for (size_t i = 0; i < n; i++)
        memcpy(o->sync_names[i], names[i], strlen(names[i]) + 1);
    o->sync_n = n;
    repl__origin_sync_release(o, now_ms, a);
    return 0;
}

void repl_origin_lead_until(repl_origin_t *o, uint64_t until_ms, uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    if (!o->cfg.leadership)
        return;
    o->lead_until_ms = until_ms;
    repl__origin_sync_release(o, now_ms, a);
}
