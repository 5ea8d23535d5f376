/*
 * replica.c - the replication driver's loop: lifecycle, writers blocked in
 * replica_write, the core's deadlines, and the dispatch of its actions.
 *
 * Threading: the core object, the connections and the timers belong to the
 * replication loop thread. Other threads reach it only through two queues
 * under `lock` (new writes; finished storage jobs), each followed by a
 * uv_async_send. The status snapshot is copied under `lock` after every
 * batch of actions so /status and the staleness check never touch the core.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "edgekv_version.h"
#include "kv_assert.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "replica_int.h"

/* The tunables' defaults have one home, the core's *_config_default. */
void replica_config_defaults(replica_config_t *c, replica_role_t role)
{
    repl_origin_config_t oc;
    repl_edge_config_t ec;
    repl_origin_config_default(&oc);
    repl_edge_config_default(&ec);
    memset(c, 0, sizeof *c);
    c->role = role;
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = REPLICA_DEFAULT_PORT;
    c->propagation_bound_ms = ec.propagation_bound_ms;
    c->heartbeat_interval_ms = oc.heartbeat_interval_ms;
    c->max_clock_offset_ms = oc.max_clock_offset_ms;
    c->write_timeout_ms = ec.write_timeout_ms;
    c->log_retention = oc.log_retention;
    c->log_retention_max = oc.log_retention_max;
    c->accept_handshake_timeout_ms = KV_TLS_HANDSHAKE_TIMEOUT_MS;
}

/* The core's now_ms: monotonic, so a step of the wall clock moves no timer
 * and no staleness verdict (repl.h, "Clocks"); CLOCK_BOOTTIME rather than
 * CLOCK_MONOTONIC so that time spent suspended counts: an edge resumed
 * after an hour must not judge itself fresh. The cores read the wall clock
 * for HLC time themselves (repl_wall_realtime, their config's default). */
uint64_t replica__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- core events by side ------------------------------------------------------------ */

/* The edge part of an edge or a relay, the serving part of an origin or a
 * relay: the rest of the driver calls these and never asks which core. */
const replica_addr_t *replica__upstream(const replica_t *r)
{
    static const replica_addr_t none = {"", 0}; /* a standby before it knows its leader */
    if (r->cfg.upstream_count == 0)
        return &none;
    return &r->cfg.upstreams[r->up_turn % r->cfg.upstream_count];
}

void replica__up_connected(replica_t *r, repl_peer_t p, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_up_connect(r->relay, p, replica__now_ms(), a);
    else
        repl_edge_on_connect(r->edge, p, replica__now_ms(), a);
}

void replica__up_connect_failed(replica_t *r, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_up_connect_failed(r->relay, replica__now_ms(), a);
    else
        repl_edge_on_connect_failed(r->edge, replica__now_ms(), a);
}

void replica__up_bytes(replica_t *r, const uint8_t *data, size_t len, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_up_bytes(r->relay, data, len, replica__now_ms(), a);
    else
        repl_edge_on_bytes(r->edge, data, len, replica__now_ms(), a);
}

void replica__up_gone(replica_t *r, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_up_disconnect(r->relay, replica__now_ms(), a);
    else
        repl_edge_on_disconnect(r->edge, replica__now_ms(), a);
}

void replica__up_applied(replica_t *r, int rc, uint64_t seq, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_applied(r->relay, rc, seq, replica__now_ms(), a);
    else
        repl_edge_applied(r->edge, rc, seq, replica__now_ms(), a);
}

void replica__up_reset_done(replica_t *r, int rc, repl_actions_t *a)
{
    if (!replica__follows(r))
        return; /* the core was replaced (replica_ha.c) */
    if (r->relay)
        repl_relay_reset_done(r->relay, rc, replica__now_ms(), a);
    else
        repl_edge_reset_done(r->edge, rc, replica__now_ms(), a);
}

void replica__down_connected(replica_t *r, repl_peer_t p, const char *name, repl_actions_t *a)
{
    if (r->relay)
        repl_relay_down_connect(r->relay, p, name, replica__now_ms(), a);
    else
        repl_origin_on_connect(r->origin, p, name, replica__now_ms(), a);
}

void replica__down_bytes(replica_t *r, repl_peer_t p, const uint8_t *data, size_t len,
                         repl_actions_t *a)
{
    if (r->relay)
        repl_relay_down_bytes(r->relay, p, data, len, replica__now_ms(), a);
    else
        repl_origin_on_bytes(r->origin, p, data, len, replica__now_ms(), a);
}

void replica__down_gone(replica_t *r, repl_peer_t p, repl_actions_t *a)
{
    if (r->relay)
        repl_relay_down_disconnect(r->relay, p, replica__now_ms(), a);
    else
        repl_origin_on_disconnect(r->origin, p, replica__now_ms(), a);
}

void replica__down_flushed(replica_t *r, repl_peer_t p, size_t len, repl_actions_t *a)
{
    if (r->relay)
        repl_relay_down_flushed(r->relay, p, len, replica__now_ms(), a);
    else
        repl_origin_on_flushed(r->origin, p, len, replica__now_ms(), a);
}

void replica__down_log_read(replica_t *r, repl_peer_t p, int rc, const repl_mutation_t *muts,
                            size_t n, repl_actions_t *a)
{
    if (r->relay)
        repl_relay_log_read(r->relay, p, rc, muts, n, replica__now_ms(), a);
    else
        repl_origin_log_read(r->origin, p, rc, muts, n, replica__now_ms(), a);
}

void replica__down_snapshot_sent(replica_t *r, repl_peer_t p, int rc, uint64_t seq,
                                 repl_actions_t *a)
{
    if (r->relay)
        repl_relay_snapshot_sent(r->relay, p, rc, seq, replica__now_ms(), a);
    else
        repl_origin_snapshot_sent(r->origin, p, rc, seq, replica__now_ms(), a);
}

/* ---- status ------------------------------------------------------------------------ */

/* The core's staleness verdict, for the HTTP threads: published after every
 * call into the core and before its actions are carried out, so a store
 * wipe for a snapshot is never visible while reads still count as fresh. */
static void publish_freshness(replica_t *r)
{
    uint64_t since, until = r->relay ? repl_relay_fresh_until(r->relay, &since)
                                     : repl_edge_fresh_until(r->edge, &since);
    atomic_store_explicit(&r->stale_since_ms, since, memory_order_relaxed);
    atomic_store_explicit(&r->fresh_until_ms, until, memory_order_release);
}

/* Save the downstream positions in r->edges_now (n of them) when they
 * changed since the last save (an origin's or a relay's known edges). */
static void save_acks_if_changed(replica_t *r, size_t n, uint64_t now)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (r->edges_now[i].node_id * 31u + r->edges_now[i].acked_seq)) * 1099511628211ull;
    if (h == r->acks_hash)
        return;
    r->acks_hash = h;
    r->acks_saved_ms = now;
    replica__save_acks(r, r->edges_now, n);
}

static void update_status(replica_t *r)
{
    replica_status_t s;
    uint64_t now = replica__now_ms();
    memset(&s, 0, sizeof s);
    s.role = r->cfg.role;
    if (r->edge) {
        repl_edge_status(r->edge, now, &s.edge);
        publish_freshness(r);
    } else if (r->relay) {
        repl_relay_status(r->relay, now, &s.edge);
        publish_freshness(r);
        repl_relay_stats(r->relay, &s.origin);
        s.edge_count = repl_relay_edges(r->relay, now, r->edges_now, KV_REPL_EDGES_MAX);
        if (s.edge_count > KV_REPL_EDGES_MAX)
            s.edge_count = KV_REPL_EDGES_MAX;
    } else {
        repl_origin_stats(r->origin, &s.origin);
        s.edge_count = repl_origin_edges(r->origin, now, r->edges_now, KV_REPL_EDGES_MAX);
        if (s.edge_count > KV_REPL_EDGES_MAX)
            s.edge_count = KV_REPL_EDGES_MAX;
        if (!r->ha_sync_due && replica__ha_sync_needed(r, r->edges_now, s.edge_count)) {
            r->ha_sync_due = true;
            replica__defer(r);
        }
    }
    if ((r->origin || r->relay) && now - r->acks_saved_ms >= REPLICA_ACKS_SAVE_MS)
        save_acks_if_changed(r, s.edge_count, now);
    s.snapshots_taken = r->snapshots_taken;
    s.snapshots_served = r->snapshots_served;
    if (r->origin && replica__ha(r)) {
        s.ha_leader = true;
        s.sync_count = r->ha_sync_n;
        memcpy(s.sync_names, r->ha_sync, r->ha_sync_n * sizeof r->ha_sync[0]);
    }
    if (replica__follows(r))
        snprintf(s.upstream, sizeof s.upstream, "%s:%d", replica__upstream(r)->host,
                 replica__upstream(r)->port);
    pthread_mutex_lock(&r->lock);
    memcpy(s.history_id, r->status.history_id, sizeof s.history_id);
    s.alarm = r->status.alarm;
    memcpy(s.alarm_reason, r->status.alarm_reason, sizeof s.alarm_reason);
    s.edges = r->edges_shown;
    if (s.edge_count)
        memcpy(s.edges, r->edges_now, s.edge_count * sizeof *s.edges);
    r->status = s;
    pthread_mutex_unlock(&r->lock);
}

/* Both judge with the core's verdict (repl_edge_fresh_until), applied to
 * the current time; neither knows a rule of its own. */
static bool judge_stale(replica_t *r, uint64_t *staleness_ms)
{
    uint64_t now = replica__now_ms();
    uint64_t until = atomic_load_explicit(&r->fresh_until_ms, memory_order_acquire);
    uint64_t since = atomic_load_explicit(&r->stale_since_ms, memory_order_relaxed);
    *staleness_ms = now > since ? now - since : 0;
    return repl_stale_at(until, now);
}

int replica_status(replica_t *r, replica_status_t *out)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    *out = r->status;
    out->links_total = r->links_total;
    out->edges = out->edge_count ? kv_malloc(out->edge_count * sizeof *out->edges) : NULL;
    if (out->edges)
        memcpy(out->edges, r->status.edges, out->edge_count * sizeof *out->edges);
    else if (out->edge_count)
        rc = -ENOMEM;
    pthread_mutex_unlock(&r->lock);
    if (rc)
        out->edge_count = 0;
    if (out->role != REPLICA_ORIGIN)
        out->edge.stale = judge_stale(r, &out->edge.staleness_ms);
    else {
        uint64_t answered = atomic_load_explicit(&r->answered_seq, memory_order_acquire);
        if (answered > out->origin.last_seq)
            out->origin.last_seq = answered;
    }
    return rc;
}

void replica_status_free(replica_status_t *s)
{
    kv_free(s->edges);
    s->edges = NULL;
    s->edge_count = 0;
}

/* On every answer an edge gives: two atomic loads, no lock. */
bool replica_is_stale(replica_t *r, uint64_t *staleness_ms)
{
    if (r->cfg.role == REPLICA_ORIGIN) {
        *staleness_ms = 0;
        return false;
    }
    return judge_stale(r, staleness_ms);
}

/* ---- actions ----------------------------------------------------------------------- */

/* Hand a writer its outcome (results already filled). */
static void writer_answer(replica_t *r, rwrite_t *w, int status, uint64_t seq)
{
    if (w->done_fn) {
        w->done_fn(w->done_arg, status, seq);
        kv_free(w);
        return;
    }
    pthread_mutex_lock(&r->lock);
    w->status = status;
    w->seq = seq;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&r->lock);
}

static void write_done(replica_t *r, const repl_action_t *act)
{
    rwrite_t *prev = NULL, *w;
    uint64_t token = act->u.write_done.token;
    int status = act->u.write_done.status;
    const int *results = act->u.write_done.results;
    /* Oldest first, the order the core answers in: found at the head. */
    for (w = r->waiting; w; prev = w, w = w->next)
        if ((uint64_t)(uintptr_t)w == token)
            break;
    if (!w) {
        KV_LOG_WARN(REPLICA_LOG, "answer for an unknown writer %llx", (unsigned long long)token);
        return;
    }
    if (prev)
        prev->next = w->next;
    else
        r->waiting = w->next;
    if (r->waiting_tail == w)
        r->waiting_tail = prev;
    for (size_t i = 0; i < w->n && w->results; i++)
        w->results[i] = results && i < act->u.write_done.n ? results[i] : status;
    uint64_t seq = act->u.write_done.seq;
    /* Only this loop stores it; the answer's own hand-off orders the store
     * before anything the writer's thread reads afterwards. */
    if (status == 0 && r->origin && !r->relay &&
        seq > atomic_load_explicit(&r->answered_seq, memory_order_relaxed))
        atomic_store_explicit(&r->answered_seq, seq, memory_order_release);
    writer_answer(r, w, status, seq);
}

static void alarm_raised(replica_t *r, const char *reason)
{
    KV_LOG_ERROR(REPLICA_LOG, "ALARM: %s", reason ? reason : "");
    pthread_mutex_lock(&r->lock);
    r->status.alarm = true;
    snprintf(r->status.alarm_reason, sizeof r->status.alarm_reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&r->lock);
}

/* The core refused its upstream for a term older than one it has seen
 * (replication/repl.h "Terms"): say which, once per refusal. */
static void log_term_refused(replica_t *r)
{
    if (!r->edge && !r->relay)
        return;
    repl_edge_status_t st;
    if (r->edge)
        repl_edge_status(r->edge, replica__now_ms(), &st);
    else
        repl_relay_status(r->relay, replica__now_ms(), &st);
    if (st.terms_refused == r->terms_refused_logged)
        return;
    r->terms_refused_logged = st.terms_refused;
    KV_LOG_WARN(REPLICA_LOG,
                "refused upstream %s:%d: its term %llu is older than term %llu seen here (a "
                "deposed leader); trying the next upstream",
                replica__upstream(r)->host, replica__upstream(r)->port,
                (unsigned long long)st.refused_term, (unsigned long long)st.term);
}

static void dispatch_one(replica_t *r, const repl_action_t *act)
{
    switch (act->kind) {
    case REPL_ACT_SEND:
        replica__send(r, act->u.send.peer, act->u.send.data, act->u.send.len, act->u.send.buf);
        break;
    case REPL_ACT_CLOSE: {
        rpeer_t *peer = replica__peer(r, act->u.close.peer);
        KV_LOG_INFO(REPLICA_LOG, "closing link %u (%s): %s", act->u.close.peer,
                    peer ? tls_conn_peer_name(peer->tls) : "",
                    act->u.close.reason ? act->u.close.reason : "");
        log_term_refused(r);
        replica__close_peer(r, act->u.close.peer);
        break;
    }
    case REPL_ACT_CONNECT:
        replica__connect(r);
        break;
    case REPL_ACT_PERSIST:
        replica__persist(r, act);
        break;
    case REPL_ACT_READ_LOG:
        replica__read_log(r, act);
        break;
    case REPL_ACT_SNAPSHOT:
        KV_LOG_INFO(REPLICA_LOG, "link %u takes a snapshot: %s", act->u.snapshot.peer,
                    act->u.snapshot.reason ? act->u.snapshot.reason : "");
        r->snapshots_served++;
        replica__snapshot(r, act->u.snapshot.peer);
        break;
    case REPL_ACT_TRIM_LOG:
        replica__trim(r, act->u.trim.below_seq);
        break;
    case REPL_ACT_RESET:
        if (act->u.reset.diverged)
            KV_LOG_WARN(REPLICA_LOG, "%s", act->u.reset.reason ? act->u.reset.reason : "");
        else
            KV_LOG_INFO(REPLICA_LOG, "taking a snapshot: %s",
                        act->u.reset.reason ? act->u.reset.reason : "");
        r->snapshots_taken++;
        replica__reset(r);
        break;
    case REPL_ACT_APPLY:
        replica__apply(r, act);
        break;
    case REPL_ACT_WRITE_DONE:
        write_done(r, act);
        break;
    case REPL_ACT_ALARM:
        alarm_raised(r, act->u.alarm.reason);
        break;
    }
}

static void on_timer(uv_timer_t *t);

static void rearm(replica_t *r)
{
    uint64_t dl = r->edge    ? repl_edge_deadline(r->edge)
                  : r->relay ? repl_relay_deadline(r->relay)
                             : repl_origin_deadline(r->origin);
    uint64_t now = replica__now_ms();
    if (dl == UINT64_MAX) {
        uv_timer_stop(&r->timer);
        return;
    }
    uv_timer_start(&r->timer, on_timer, dl > now ? dl - now : 0, 0);
}

void replica__dispatch_order(const repl_action_t *acts, size_t n, uint8_t *order)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (acts[i].kind == REPL_ACT_WRITE_DONE)
            order[k++] = (uint8_t)i;
    for (size_t i = 0; i < n; i++)
        if (acts[i].kind != REPL_ACT_WRITE_DONE)
            order[k++] = (uint8_t)i;
}

/* Carry out the actions and what the core asks for after them, until it
 * asks for nothing; the timer and the status are left to the caller. */
static void dispatch_actions(replica_t *r, repl_actions_t *a)
{
    for (;;) {
        if (replica__follows(r))
            publish_freshness(r);
        uint8_t order[REPLICA_ACTIONS_CAP];
        replica__dispatch_order(a->acts, a->n, order);
        for (size_t i = 0; i < a->n; i++)
            dispatch_one(r, &a->acts[order[i]]);
        a->n = 0;
        if (r->edge)
            repl_edge_poll(r->edge, a);
        else if (r->relay)
            repl_relay_poll(r->relay, a);
        else
            repl_origin_poll(r->origin, a);
        if (a->n == 0)
            break;
    }
}

void replica__dispatch(replica_t *r, repl_actions_t *a)
{
    dispatch_actions(r, a);
    r->settle_due = true;
}

/* Once per loop iteration, before it polls: an iteration that dispatched
 * thirty writes and eight acks rearms and publishes once (per dispatch,
 * computing every edge's lag each time, it was a twentieth of an origin's
 * loop with eight edges). */
static void on_settle(uv_prepare_t *h)
{
    replica_t *r = h->data;
    if (!r->settle_due)
        return;
    r->settle_due = false;
    rearm(r);
    if (!atomic_load_explicit(&r->status_frozen, memory_order_relaxed))
        update_status(r);
}

void replica_port_stats(replica_t *r, replica_port_stats_t *out)
{
    *out = (replica_port_stats_t){
        .listening = (r->origin || r->relay) && !r->cfg.lone,
        .evicted = atomic_load_explicit(&r->port_counts.evicted, memory_order_relaxed),
        .handshake_timeouts = atomic_load_explicit(&r->port_counts.timed_out, memory_order_relaxed),
        .refused = atomic_load_explicit(&r->port_counts.refused, memory_order_relaxed),
        .handshake_failures = atomic_load_explicit(&r->port_counts.failed, memory_order_relaxed),
        .unauthenticated = atomic_load_explicit(&r->unproven, memory_order_relaxed)};
}

void replica_status_freeze(replica_t *r, bool frozen)
{
    atomic_store_explicit(&r->status_frozen, frozen, memory_order_relaxed);
}

static void on_timer(uv_timer_t *t)
{
    replica_t *r = t->data;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (r->edge)
        repl_edge_tick(r->edge, replica__now_ms(), &a);
    else if (r->relay)
        repl_relay_tick(r->relay, replica__now_ms(), &a);
    else
        repl_origin_tick(r->origin, replica__now_ms(), &a);
    replica__dispatch(r, &a);
}

/* ---- queues from other threads ------------------------------------------------------ */

void replica__complete(replica_t *r, rjob_t *j)
{
    pthread_mutex_lock(&r->lock);
    if (r->stopping) {
        pthread_mutex_unlock(&r->lock);
        j->drop(j);
        return;
    }
    j->next = NULL;
    /* One wakeup per batch of completions: the loop takes them all. */
    bool wake = r->done_head == NULL;
    if (r->done_tail)
        r->done_tail->next = j;
    else
        r->done_head = j;
    r->done_tail = j;
    /* Under the lock: the wake handle closes only after `stopping` is set. */
    if (wake)
        uv_async_send(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

static void fail_writer(replica_t *r, rwrite_t *w, int status)
{
    for (size_t i = 0; i < w->n && w->results; i++)
        w->results[i] = status;
    writer_answer(r, w, status, 0);
}

void replica__fail_waiting(replica_t *r, int status)
{
    rwrite_t *w, *next;
    for (w = r->waiting, r->waiting = r->waiting_tail = NULL; w; w = next) {
        next = w->next;
        fail_writer(r, w, status);
    }
}

static void take_submissions(replica_t *r)
{
    rwrite_t *w, *next;
    pthread_mutex_lock(&r->lock);
    w = r->submit_head;
    r->submit_head = r->submit_tail = NULL;
    pthread_mutex_unlock(&r->lock);
    /* An origin commits the writes taken here as one group (repl.h,
     * repl_origin_cork), not the first alone and the rest behind it. */
    bool cork = w && w->next && r->origin && !r->edge && !r->relay;
    if (cork)
        repl_origin_cork(r->origin);
    for (; w; w = next) {
        repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
        uint64_t token = (uint64_t)(uintptr_t)w;
        next = w->next;
        w->next = NULL;
        if (r->waiting_tail)
            r->waiting_tail->next = w;
        else
            r->waiting = w;
        r->waiting_tail = w;
        if (r->edge)
            repl_edge_write(r->edge, token, w->ops, w->n, replica__now_ms(), &a);
        else if (r->relay)
            repl_relay_write(r->relay, token, w->ops, w->n, replica__now_ms(), &a);
        else
            repl_origin_write(r->origin, token, w->ops, w->n, replica__now_ms(), &a);
        replica__dispatch(r, &a);
    }
    if (cork) {
        repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
        repl_origin_uncork(r->origin, &a);
        replica__dispatch(r, &a);
    }
}

static void take_completions(replica_t *r)
{
    rjob_t *j, *next;
    pthread_mutex_lock(&r->lock);
    j = r->done_head;
    r->done_head = r->done_tail = NULL;
    pthread_mutex_unlock(&r->lock);
    for (; j; j = next) {
        next = j->next;
        j->done(j); /* frees j */
    }
}

static void shutdown_loop(replica_t *r);

void replica__defer(replica_t *r)
{
    uv_async_send(&r->wake);
}

static void take_deferred(replica_t *r)
{
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (r->defer_connect_failed) {
        r->defer_connect_failed = false;
        replica__up_connect_failed(r, &a);
        replica__dispatch(r, &a);
    }
    if (r->defer_apply_failed) {
        r->defer_apply_failed = false;
        replica__up_applied(r, -ENOMEM, r->defer_apply_seq, &a);
        replica__dispatch(r, &a);
    }
    if (r->defer_reset_failed) {
        r->defer_reset_failed = false;
        replica__up_reset_done(r, -ENOMEM, &a);
        replica__dispatch(r, &a);
    }
    for (size_t i = 0; i < r->defer_persist_n; i++) {
        repl_origin_persisted(r->origin, r->defer_persist_batch[i], -ENOMEM, NULL,
                              replica__now_ms(), &a);
        replica__dispatch(r, &a);
    }
    r->defer_persist_n = 0;
}

/* A reloaded TLS context replaces the one new connections use; open
 * connections hold their own reference to the old one (tls.h). */
static void take_tls(replica_t *r)
{
    tls_ctx_t *next;
    pthread_mutex_lock(&r->lock);
    next = r->tls_next;
    r->tls_next = NULL;
    pthread_mutex_unlock(&r->lock);
    if (!next)
        return;
    tls_ctx_free(r->tls);
    r->tls = next;
}

static void on_wake(uv_async_t *h)
{
    replica_t *r = h->data;
    bool stopping;
    take_tls(r);
    take_deferred(r);
    take_completions(r);
    pthread_mutex_lock(&r->lock);
    stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    if (stopping) {
        shutdown_loop(r);
        return;
    }
    if (replica__ha(r)) {
        replica__ha_switch(r);
        replica__ha_sync(r);
    }
    take_submissions(r);
    /* Groups the loop committed just now (replica__persist): answered and
     * pushed in this wakeup, not the next. */
    take_completions(r);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void shutdown_loop(replica_t *r)
{
    rwrite_t *w, *next;
    if (!r->loop_started)
        return;
    r->loop_started = false;
    /* Writers not yet answered: the node is going away. */
    pthread_mutex_lock(&r->lock);
    w = r->submit_head;
    r->submit_head = r->submit_tail = NULL;
    pthread_mutex_unlock(&r->lock);
    for (; w; w = next) {
        next = w->next;
        fail_writer(r, w, KV_ESHUTDOWN);
    }
    replica__fail_waiting(r, KV_ESHUTDOWN);
    /* The last positions, whatever the save interval: a clean stop loses
     * none (the store worker finishes queued work before it stops). Not
     * when the start failed: the worker is gone, and nothing ran to save. */
    if ((r->origin || r->relay) && r->store_w.running) {
        uint64_t now = replica__now_ms();
        size_t n = r->relay ? repl_relay_edges(r->relay, now, r->edges_now, KV_REPL_EDGES_MAX)
                            : repl_origin_edges(r->origin, now, r->edges_now, KV_REPL_EDGES_MAX);
        save_acks_if_changed(r, n < KV_REPL_EDGES_MAX ? n : KV_REPL_EDGES_MAX, now);
    }
    if (replica__ha(r))
        replica__ha_stop(r);
    replica__net_stop(r);
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_prepare_stop(&r->settle);
    uv_close((uv_handle_t *)&r->settle, NULL);
    uv_close((uv_handle_t *)&r->wake, NULL);
}

static void loop_main(void *arg)
{
    replica_t *r = arg;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    pthread_setname_np(pthread_self(), "ekv-repl");
    if (r->edge)
        repl_edge_start(r->edge, replica__now_ms(), &a);
    else if (r->relay)
        repl_relay_start(r->relay, replica__now_ms(), &a);
    replica__dispatch(r, &a);
    uv_run(&r->loop, UV_RUN_DEFAULT);
}

int replica__create_core(replica_t *r)
{
    char history[33] = "";
    uint64_t last_seq = 0, log_first = 0, hlc_last = 0;
    int rc = replica__load_state(r, history, &last_seq, &log_first, &hlc_last);
    if (rc != 0)
        return rc;
    memcpy(r->status.history_id, history, sizeof history);
    if (r->cfg.role == REPLICA_ORIGIN) {
        repl_origin_config_t oc;
        repl_origin_config_default(&oc);
        oc.node_id = r->cfg.node_id;
        oc.last_seq = last_seq;
        oc.log_first_seq = log_first;
        oc.hlc_last = hlc_last;
        oc.term = r->pos.term; /* the largest of its log (repl.h "Terms") */
        oc.heartbeat_interval_ms = r->cfg.heartbeat_interval_ms;
        oc.max_clock_offset_ms = r->cfg.max_clock_offset_ms;
        oc.log_retention = r->cfg.log_retention;
        oc.log_retention_max = r->cfg.log_retention_max;
        oc.groups_in_flight = REPLICA_GROUPS_IN_FLIGHT;
        oc.software = EDGEKV_VERSION;
        if (replica__ha(r)) { /* a candidate that won (replica_ha.c) */
            oc.leadership = true;
            oc.sync_standbys = r->cfg.ha.sync_standbys;
            oc.sync_timeout_ms = r->cfg.write_timeout_ms;
            oc.sync_named = true; /* the set in etcd (replica_ha.c) */
            if ((uint64_t)r->ha_term > oc.term)
                oc.term = (uint64_t)r->ha_term;
        }
        memcpy(oc.history_id, history, sizeof oc.history_id);
        memcpy(oc.parent_history, r->pos.parent_history, sizeof oc.parent_history);
        if ((rc = repl_origin_create(&oc, &r->origin)) == 0)
            replica__restore_acks(r);
        return rc;
    }
    repl_edge_config_t ec;
    repl_edge_config_default(&ec);
    ec.node_id = r->cfg.node_id;
    ec.applied_seq = last_seq;
    ec.applied_version = r->pos.seq_version;
    ec.hlc_last = hlc_last;
    ec.term = r->pos.term;
    ec.propagation_bound_ms = r->cfg.propagation_bound_ms;
    ec.write_timeout_ms = r->cfg.write_timeout_ms;
    ec.seed = r->cfg.node_id;
    ec.reconnect_round = r->cfg.upstream_count; /* try each upstream before backing off */
    ec.software = EDGEKV_VERSION;
    memcpy(ec.history_id, history, sizeof ec.history_id);
    if (r->cfg.role == REPLICA_EDGE) {
        ec.apply_merge_max_muts = REPLICA_APPLY_MERGE_MAX_MUTS;
        ec.ack_coalesce_idle = true; /* its acks answer no write (a relay's may: HA) */
        return repl_edge_create(&ec, &r->edge);
    }
    repl_relay_config_t rc_;
    repl_relay_config_default(&rc_);
    rc_.up = ec;
    rc_.down.heartbeat_interval_ms = r->cfg.heartbeat_interval_ms;
    rc_.down.log_retention = r->cfg.log_retention;
    rc_.down.log_retention_max = r->cfg.log_retention_max;
    rc_.down.log_first_seq = log_first;
    rc_.down.software = EDGEKV_VERSION;
    if ((rc = repl_relay_create(&rc_, &r->relay)) == 0)
        replica__restore_acks(r); /* its downstream links' positions, as an origin's */
    return rc;
}

static void replica_free(replica_t *r)
{
    repl_origin_destroy(r->origin);
    repl_edge_destroy(r->edge);
    repl_relay_destroy(r->relay);
    kv_free(r->edges_now);
    kv_free(r->edges_shown);
    tls_ctx_free(r->tls);
    tls_ctx_free(r->tls_next);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->snap_cond);
    kv_free(r);
}

static int init_loop(replica_t *r)
{
    int rc = uv_loop_init(&r->loop);
    if (rc != 0)
        return rc;
    uv_async_init(&r->loop, &r->wake, on_wake);
    uv_timer_init(&r->loop, &r->timer);
    uv_prepare_init(&r->loop, &r->settle);
    r->wake.data = r->timer.data = r->settle.data = r;
    uv_prepare_start(&r->settle, on_settle);
    r->loop_started = true;
    return 0;
}

int replica_start(const replica_config_t *cfg, replica_t **out)
{
    replica_t *r = kv_calloc(1, sizeof *r);
    int rc;
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    r->next_peer = 1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->snap_cond, NULL);
    bool lone = cfg->role == REPLICA_ORIGIN && cfg->lone;
    if (cfg->role != REPLICA_ORIGIN && r->cfg.upstream_count == 0) {
        /* An edge given one address: it is the only upstream. */
        r->cfg.upstreams[0].port = cfg->port;
        snprintf(r->cfg.upstreams[0].host, sizeof r->cfg.upstreams[0].host, "%s", cfg->host);
        r->cfg.upstream_count = 1;
    }
    if (cfg->role == REPLICA_RELAY && r->cfg.upstream_count == 0) {
        KV_LOG_ERROR(REPLICA_LOG, "a relay needs at least one upstream");
        replica_free(r);
        return KV_ECONFIG;
    }
    if (cfg->role != REPLICA_EDGE &&
        (!(r->edges_now = kv_calloc(KV_REPL_EDGES_MAX, sizeof *r->edges_now)) ||
         !(r->edges_shown = kv_calloc(KV_REPL_EDGES_MAX, sizeof *r->edges_shown)))) {
        replica_free(r);
        return -ENOMEM;
    }
    rc = lone ? 0
              : tls_ctx_create(cfg->role == REPLICA_ORIGIN  ? TLS_ROLE_ORIGIN
                               : cfg->role == REPLICA_RELAY ? TLS_ROLE_RELAY
                                                            : TLS_ROLE_EDGE,
                               cfg->ca_file, cfg->cert_file, cfg->key_file, &r->tls);
    if (rc == 0 && replica__ha(r)) {
        tls_ctx_allow_candidates(r->tls); /* standbys follow the leader (tls.h) */
        r->cfg.role = REPLICA_RELAY;      /* a standby until it wins (replica_ha.c) */
    }
    if (rc == 0)
        rc = replica__create_core(r);
    if (rc == 0)
        rc = init_loop(r);
    if (rc == 0 && replica__ha(r))
        rc = replica__ha_start(r);
    if (rc == 0 && cfg->role != REPLICA_EDGE && !lone)
        rc = replica__listen(r);
    if (rc == 0)
        rc = rworker_start(&r->store_w, r, "ekv-store");
    if (rc == 0)
        rc = rworker_start(&r->read_w, r, "ekv-read");
    if (rc == 0)
        rc = uv_thread_create(&r->thread, loop_main, r);
    if (rc != 0) {
        KV_LOG_ERROR(REPLICA_LOG, "cannot start replication: %s", kv_strerror(rc));
        rworker_stop(&r->store_w);
        rworker_stop(&r->read_w);
        if (r->loop_started) {
            shutdown_loop(r);
            uv_run(&r->loop, UV_RUN_DEFAULT);
            uv_loop_close(&r->loop);
        }
        replica_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int replica_reload_tls(replica_t *r)
{
    tls_ctx_t *fresh, *stale;
    int rc;
    if (r->cfg.role == REPLICA_ORIGIN && r->cfg.lone)
        return KV_ENOTFOUND;
    rc = tls_ctx_create(r->cfg.role == REPLICA_ORIGIN || replica__ha(r) ? TLS_ROLE_ORIGIN
                        : r->cfg.role == REPLICA_RELAY                  ? TLS_ROLE_RELAY
                                                                        : TLS_ROLE_EDGE,
                        r->cfg.ca_file, r->cfg.cert_file, r->cfg.key_file, &fresh);
    if (rc != 0)
        return rc;
    if (replica__ha(r))
        tls_ctx_allow_candidates(fresh);
    pthread_mutex_lock(&r->lock);
    stale = r->tls_next; /* a reload the loop has not taken yet */
    r->tls_next = fresh;
    if (!r->stopping)
        uv_async_send(&r->wake);
    pthread_mutex_unlock(&r->lock);
    tls_ctx_free(stale);
    return 0;
}

int replica_port(const replica_t *r)
{
    return r->port;
}

void replica_stop(replica_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->snap_cond);
    uv_async_send(&r->wake);
    pthread_mutex_unlock(&r->lock);
    uv_thread_join(&r->thread);
    /* Storage work already queued finishes (a commit in progress completes);
     * its completions are dropped: nobody is waiting any more. A snapshot
     * cut short leaves records never ingested: dropped, as its position
     * was never written (the next start resets). */
    rworker_stop(&r->store_w);
    rworker_stop(&r->read_w);
    stor_bulk_close(r->bulk);
    r->bulk = NULL;
    /* Completions queued before `stopping` was seen: drop them (snapshot
     * frames among them release their streams), then wait for streams. */
    pthread_mutex_lock(&r->lock);
    rjob_t *j = r->done_head, *next;
    r->done_head = r->done_tail = NULL;
    pthread_mutex_unlock(&r->lock);
    for (; j; j = next) {
        next = j->next;
        j->drop(j);
    }
    pthread_mutex_lock(&r->lock);
    while (r->snapshots_running > 0)
        pthread_cond_wait(&r->snap_cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    uv_run(&r->loop, UV_RUN_NOWAIT);
    uv_loop_close(&r->loop);
    replica_free(r);
}

/* Queue the list head..tail for the loop; false when the node is stopping
 * (nothing queued). Called and returns with r->lock held. */
static bool submit_locked(replica_t *r, rwrite_t *head, rwrite_t *tail)
{
    if (r->stopping)
        return false;
    /* One wakeup per batch of submissions: the loop takes them all. */
    bool wake = r->submit_head == NULL;
    tail->next = NULL;
    if (r->submit_tail)
        r->submit_tail->next = head;
    else
        r->submit_head = head;
    r->submit_tail = tail;
    if (wake)
        uv_async_send(&r->wake);
    return true;
}

static rwrite_t *writer_new(const repl_op_t *ops, size_t n, int *results, replica_done_fn done,
                            void *arg)
{
    rwrite_t *w = kv_calloc(1, sizeof *w);
    if (w)
        *w = (rwrite_t){.ops = ops, .n = n, .results = results, .done_fn = done, .done_arg = arg};
    return w;
}

int replica_submit(replica_t *r, const repl_op_t *ops, size_t n, int *results, replica_done_fn done,
                   void *arg)
{
    rwrite_t *w = writer_new(ops, n, results, done, arg);
    if (!w)
        return -ENOMEM;
    pthread_mutex_lock(&r->lock);
    bool queued = submit_locked(r, w, w);
    pthread_mutex_unlock(&r->lock);
    if (!queued)
        fail_writer(r, w, KV_ESHUTDOWN);
    return 0;
}

/* The writes this thread holds (replica_submit_held), all for one replica. */
static _Thread_local struct {
    replica_t *r;
    rwrite_t *head, *tail;
} held;

int replica_submit_held(replica_t *r, const repl_op_t *ops, size_t n, int *results,
                        replica_done_fn done, void *arg)
{
    rwrite_t *w = writer_new(ops, n, results, done, arg);
    if (!w)
        return -ENOMEM;
    if (held.r != r)
        replica_submit_flush();
    held.r = r;
    if (held.tail)
        held.tail->next = w;
    else
        held.head = w;
    held.tail = w;
    return 0;
}

void replica_submit_flush(void)
{
    rwrite_t *w = held.head, *tail = held.tail, *next;
    replica_t *r = held.r;
    if (!w)
        return;
    held.head = held.tail = NULL;
    held.r = NULL;
    pthread_mutex_lock(&r->lock);
    bool queued = submit_locked(r, w, tail);
    pthread_mutex_unlock(&r->lock);
    for (; !queued && w; w = next) {
        next = w->next;
        fail_writer(r, w, KV_ESHUTDOWN);
    }
}

int replica_write(replica_t *r, const repl_op_t *ops, size_t n, int *results, uint64_t *seq)
{
    rwrite_t w = {.ops = ops, .n = n, .results = results};
    int status;
    pthread_cond_init(&w.cond, NULL);
    pthread_mutex_lock(&r->lock);
    if (!submit_locked(r, &w, &w)) {
        pthread_mutex_unlock(&r->lock);
        pthread_cond_destroy(&w.cond);
        return KV_ESHUTDOWN;
    }
    while (!w.done)
        pthread_cond_wait(&w.cond, &r->lock);
    status = w.status;
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&w.cond);
    if (seq)
        *seq = w.seq;
    return status;
}
