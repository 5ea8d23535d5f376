/*
 * origin_stream.c - what the origin sends to an edge: the handshake
 * (resume once the edge's position is proven on this history, else a
 * snapshot; another history is refused: repl.h, "Resume proof"), the
 * pushed log, catch-up, heartbeats.
 *
 * One loop, origin__pump, serves every state of an edge's stream: while the
 * edge is not "behind" (its unflushed bytes under peer_buffer_max_bytes) and
 * not waiting for a storage read, it sends batches from the in-memory tail
 * from next_seq on; a seq no longer in memory becomes a READ_LOG. A live
 * edge is simply one whose next_seq is last_seq + 1, so after a commit every
 * live edge asks for the same range and they share one encoded frame. An
 * edge whose buffer fills stops receiving until the driver reports it
 * flushed below half, then catches up the same way: nothing is queued for
 * it meanwhile, it is just a position in the log. It gets no heartbeats
 * while its buffer is full, and one that flushes nothing for peer_stall_ms
 * is closed (it resumes from the log when it reconnects); any frame that
 * would take its unflushed bytes over peer_buffer_max_bytes +
 * peer_buffer_slack_bytes closes it too (origin.c).
 */
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "origin_int.h"

/* ---- known edges: one record per certificate name ------------------------------ */

static size_t origin__edge_by_id(const repl_origin_t *o, uint32_t node_id)
{
    for (size_t i = 0; i < o->nedges; i++)
        if (o->edges[i].node_id == node_id)
            return i;
    return SIZE_MAX;
}

static size_t origin__edge_by_name(const repl_origin_t *o, const char *name)
{
    for (size_t i = 0; i < o->nedges; i++)
        if (o->edges[i].name[0] && strcmp(o->edges[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

/* A new record for node_id (unnamed), or SIZE_MAX when the table is full. */
static size_t origin__edge_add(repl_origin_t *o, uint32_t node_id)
{
    if (o->nedges >= KV_REPL_EDGES_MAX)
        return SIZE_MAX;
    if (o->nedges == o->edges_cap) {
        size_t cap = o->edges_cap ? 2 * o->edges_cap : 8;
        oedge_t *t = kv_realloc(o->edges, cap * sizeof *t);
        REPL__NOMEM(t);
        o->edges = t;
        o->edges_cap = cap;
    }
    oedge_t *e = &o->edges[o->nedges];
    memset(e, 0, sizeof *e);
    e->node_id = node_id;
    return o->nedges++;
}

/* Drop record i of an edge that is not connected; links keep pointing at
 * their own records. */
static void origin__edge_drop(repl_origin_t *o, size_t i)
{
    KV_ASSERT(i < o->nedges && !o->edges[i].connected);
    memmove(&o->edges[i], &o->edges[i + 1], (o->nedges - i - 1) * sizeof *o->edges);
    o->nedges--;
    for (size_t k = 0; k < o->npeers; k++) {
        opeer_t *p = o->peers[k];
        if (p->edge == i)
            p->edge = SIZE_MAX;
        else if (p->edge != SIZE_MAX && p->edge > i)
            p->edge--;
    }
}

/* Forget the edges not connected and not heard from for
 * KV_REPL_EDGE_FORGET_MS; a restored record's time starts now. */
static void origin__edges_sweep(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    bool dropped = false;
    for (size_t i = o->nedges; i-- > 0;) {
        oedge_t *e = &o->edges[i];
        if (e->connected)
            continue;
        if (e->seen_ms == 0) {
            e->seen_ms = now_ms;
        } else if (now_ms >= repl__add_sat(e->seen_ms, KV_REPL_EDGE_FORGET_MS)) {
            origin__edge_drop(o, i);
            dropped = true;
        }
    }
    if (dropped)
        repl__origin_trim(o, a); /* a forgotten edge no longer holds the log */
}

int repl_origin_restore_edge(repl_origin_t *o, uint32_t node_id, const char *name,
                             uint64_t acked_seq, uint64_t last_ack_ms)
{
    repl__origin_begin(o);
    if (!name)
        name = "";
    size_t name_len = strnlen(name, KV_TLS_PEER_NAME_MAX + 1);
    if (acked_seq > o->last_seq || name_len > KV_TLS_PEER_NAME_MAX)
        return KV_EINVAL;
    size_t idx = origin__edge_by_id(o, node_id);
    if (idx != SIZE_MAX && name_len && o->edges[idx].connected &&
        strcmp(o->edges[idx].name, name) != 0)
        return KV_EINVAL;
    size_t other = name_len ? origin__edge_by_name(o, name) : SIZE_MAX;
    if (other != SIZE_MAX && other != idx) {
        /* A name speaks for one node id: the later record wins. */
        if (o->edges[other].connected)
            return KV_EINVAL;
        origin__edge_drop(o, other);
        if (idx != SIZE_MAX && idx > other)
            idx--;
    }
    if (idx == SIZE_MAX && (idx = origin__edge_add(o, node_id)) == SIZE_MAX)
        return KV_ELIMIT;
    oedge_t *e = &o->edges[idx];
    if (name_len)
        memcpy(e->name, name, name_len + 1);
    e->acked_seq = acked_seq;
    e->last_ack_ms = last_ack_ms;
    e->seen_ms = 0; /* a monotonic time: set by the next sweep */
    return 0;
}

/* Bind p to the record of node_id, which its certificate name must own
 * (repl.h, repl_origin_on_connect): an older link of the same edge is
 * stale and closed. NULL, with the reason in *why, when refused. */
static oedge_t *origin__attach(repl_origin_t *o, opeer_t *p, uint32_t node_id, uint64_t now_ms,
                               repl_actions_t *a, const char **why)
{
    origin__edges_sweep(o, now_ms, a);
    size_t by_id = origin__edge_by_id(o, node_id);
    size_t by_name = origin__edge_by_name(o, p->name);
    if (by_id != SIZE_MAX && o->edges[by_id].name[0] &&
        strcmp(o->edges[by_id].name, p->name) != 0) {
        *why = "node id bound to another certificate";
        return NULL;
    }
    if (by_name != SIZE_MAX && by_name != by_id) {
        if (o->edges[by_name].connected) {
            *why = "certificate linked as another node id";
            return NULL;
        }
        /* The name moves to a new node id (reinstalled): its old record goes. */
        origin__edge_drop(o, by_name);
        if (by_id != SIZE_MAX && by_id > by_name)
            by_id--;
    }
    if (by_id == SIZE_MAX && (by_id = origin__edge_add(o, node_id)) == SIZE_MAX) {
        *why = "too many edges";
        return NULL;
    }
    oedge_t *e = &o->edges[by_id];
    if (e->connected && e->peer != p->id) {
        opeer_t *old = repl__origin_peer(o, e->peer);
        if (old)
            repl__origin_close(o, old, "replaced by a newer link", a);
    }
    e = &o->edges[by_id];
    memcpy(e->name, p->name, sizeof e->name);
    e->connected = true;
    e->peer = p->id;
    e->seen_ms = now_ms;
    p->edge = by_id;
    return e;
}

/* ---- probes and their echoes -------------------------------------------------------- */

void repl__origin_on_probe(const repl_origin_t *o, opeer_t *p, const Edgekv__Probe *probe,
                           uint64_t now_ms)
{
    if (!probe || (p->echo && probe->sent_ms < p->probe_ms))
        return;
    if (!o->relay.on) {
        p->echo = true;
        p->probe_ms = probe->sent_ms;
        return;
    }
    if (p->held_n == ORIGIN__HELD_PROBES)
        p->held_n--; /* the newest slot takes the newer probe */
    p->held_probe_ms[p->held_n] = probe->sent_ms;
    p->held_at_ms[p->held_n] = now_ms;
    p->held_n++;
}

/* The probe to echo to p, false for none. An origin echoes the latest. A
 * relay echoes only a probe that arrived before its own catch-up time:
 * everything its upstream had committed by then is applied here, so once
 * the edge has applied what this relay announces, everything committed
 * upstream before the edge sent that probe is applied there too, and
 * staleness composes down a chain of relays (a relay that hears nothing
 * from upstream vouches for nothing, and its edges go stale with it). A
 * relay always sends an echo, 0 when it vouches for nothing yet: an echo
 * tells the edge that frames without one date nothing (edge.c). */
static bool origin__echo(const repl_origin_t *o, opeer_t *p, uint64_t *sent_ms)
{
    if (o->relay.on) {
        size_t k = 0;
        while (k < p->held_n && p->held_at_ms[k] <= o->relay.caught_up_ms && o->relay.caught_up_ms)
            k++;
        if (k > 0) {
            p->echo = true;
            p->probe_ms = p->held_probe_ms[k - 1];
            memmove(p->held_probe_ms, p->held_probe_ms + k, (p->held_n - k) * sizeof(uint64_t));
            memmove(p->held_at_ms, p->held_at_ms + k, (p->held_n - k) * sizeof(uint64_t));
            p->held_n -= k;
        }
        *sent_ms = p->echo ? p->probe_ms : 0;
        return true;
    }
    if (!p->echo)
        return false;
    *sent_ms = p->probe_ms;
    return true;
}

/* ---- the handshake ---------------------------------------------------------------- */

static int origin__welcome(repl_origin_t *o, opeer_t *p, Edgekv__Welcome__Mode mode,
                           uint64_t from_seq, bool diverged, uint64_t now_ms, repl_actions_t *a)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    w.history_id = o->cfg.history_id;
    w.mode = mode;
    /* A snapshot ends at this node's last seq, and the edge takes the
     * Welcome's origin_seq as the least the snapshot must reach: a relay
     * behind its upstream announces its own log's end here (its heartbeats
     * announce the upstream's), else every snapshot it serves while behind
     * is refused ("unexpected snapshot end"). An origin's are the same. */
    w.origin_seq =
        mode == EDGEKV__WELCOME__MODE__SNAPSHOT ? o->last_seq : repl__origin_announced(o, p);
    w.from_seq = from_seq;
    w.diverged = diverged;
    w.protocol = repl__protocol_wire(o->cfg.protocol);
    w.software = (char *)o->cfg.software;
    w.term = o->term;
    w.acked_seq = repl__origin_acked(o, p);
    if (o->cfg.parent_history[0])
        w.parent_history = o->cfg.parent_history;
    Edgekv__Probe echo = EDGEKV__PROBE__INIT;
    if (origin__echo(o, p, &echo.sent_ms))
        w.echo = &echo;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &w;
    p->beat_ms = now_ms;
    return repl__origin_send(o, p, &f, now_ms, a);
}

/* Resume p's edge from from_seq (the proof held): stream the log. */
static void origin__resume(repl_origin_t *o, opeer_t *p, uint64_t from_seq, uint64_t now_ms,
                           repl_actions_t *a)
{
    if (p->edge != SIZE_MAX)
        o->edges[p->edge].acked_seq = from_seq - 1;
    if (origin__welcome(o, p, EDGEKV__WELCOME__MODE__RESUME, from_seq, false, now_ms, a) != 0)
        return;
    p->state = OPEER_STREAM;
    p->next_seq = from_seq;
    repl__origin_timer_update(o, p);
    repl__origin_pump(o, p, now_ms, a);
}

/* Replace p's edge's data with a snapshot; `diverged`: its position was
 * not on this history (why: the reason the driver is given). */
static void origin__snapshot(repl_origin_t *o, opeer_t *p, bool diverged, const char *why,
                             uint64_t now_ms, repl_actions_t *a)
{
    if (p->edge != SIZE_MAX)
        o->edges[p->edge].acked_seq = 0;
    if (origin__welcome(o, p, EDGEKV__WELCOME__MODE__SNAPSHOT, 0, diverged, now_ms, a) != 0)
        return;
    p->state = OPEER_SNAPSHOT;
    p->snap_pin = o->last_seq;
    repl__origin_timer_update(o, p);
    repl_action_t act = {.kind = REPL_ACT_SNAPSHOT,
                         .u.snapshot = {.peer = p->id, .min_seq = o->last_seq, .reason = why}};
    repl__out_emit(&o->out, a, &act, NULL);
}

static void origin__verify(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a);

#define ORIGIN__WHY_OFF_HISTORY "its position is not on this origin's history"

/* The resume proof (repl.h): the entry at the edge's applied seq has the
 * version it claims. */
static void origin__judge(repl_origin_t *o, opeer_t *p, const repl_mutation_t *m, uint64_t now_ms,
                          repl_actions_t *a)
{
    if (m && m->seq == p->verify_seq && kv_version_cmp(m->version, p->verify_version) == 0)
        origin__resume(o, p, p->verify_seq + 1, now_ms, a);
    else if (m && m->seq == p->verify_seq)
        origin__snapshot(o, p, true, ORIGIN__WHY_OFF_HISTORY, now_ms, a);
    else
        origin__snapshot(o, p, false, "the log was trimmed past its position", now_ms, a);
}

/* An edge below this origin's oldest protocol: told why (Refuse), an ALARM
 * here, the link closed. It retries with backoff until it is upgraded. */
static void origin__refuse_old(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a)
{
    static const char reason[] = "edge speaks a replication protocol older than this origin "
                                 "accepts: upgrade the edge (edges first, then the origin)";
    Edgekv__Frame f;
    Edgekv__Refuse r;
    repl__refuse_frame(&f, &r, reason);
    repl__emit_alarm(&o->out, a, reason);
    (void)repl__origin_send(o, p, &f, now_ms, a); /* best effort: closed either way */
    repl__origin_close(o, p, reason, a);
}

void repl__origin_on_hello(repl_origin_t *o, opeer_t *p, const Edgekv__Hello *h, uint64_t now_ms,
                           repl_actions_t *a)
{
    if (p->state != OPEER_HELLO) {
        repl__origin_close(o, p, "second hello", a);
        return;
    }
    if (repl__protocol_of(h->protocol) < o->cfg.protocol_min) {
        origin__refuse_old(o, p, now_ms, a);
        return;
    }
    const char *why = "";
    oedge_t *e = origin__attach(o, p, h->node_id, now_ms, a, &why);
    if (!e) {
        repl__origin_close(o, p, why, a);
        return;
    }
    repl__software_copy(e->software, h->software);
    e->protocol = repl__protocol_of(h->protocol);
    repl__origin_on_probe(o, p, h->probe, now_ms);
    const char *hist = h->history_id ? h->history_id : "";
    uint64_t applied = h->applied_seq;
    if (hist[0] && o->cfg.parent_history[0] && strcmp(hist, o->cfg.parent_history) == 0) {
        /* An edge of the history this origin was restored over: its data
         * goes, a snapshot of the restored one replaces it (the Welcome
         * names the parent, so the edge knows this is no stranger). */
        origin__snapshot(o, p, true, "its history is the one this origin was restored over", now_ms,
                         a);
        return;
    }
    if (hist[0] && strcmp(hist, o->cfg.history_id) != 0) {
        /* Never follow another history: tell it ours; it refuses and alarms. */
        p->state = OPEER_REFUSED;
        repl__origin_timer_update(o, p);
        (void)origin__welcome(o, p, EDGEKV__WELCOME__MODE__RESUME, 0, false, now_ms, a);
        return;
    }
    if (!hist[0]) {
        origin__snapshot(o, p, false, "a new replica", now_ms, a);
        return;
    }
    if (applied == 0) { /* the empty prefix is on every history */
        if (o->log_first_seq <= 1)
            origin__resume(o, p, 1, now_ms, a);
        else
            origin__snapshot(o, p, false, "the log was trimmed past its position", now_ms, a);
        return;
    }
    if (!h->applied_version && applied <= o->last_seq) {
        origin__snapshot(o, p, false, "its position carries no version to check", now_ms, a);
        return;
    }
    if (h->applied_version) {
        p->verify_seq = applied;
        p->verify_version = (kv_version_t){h->applied_version->hlc, h->applied_version->node_id};
    }
    if (applied > o->last_seq && h->applied_version && o->relay.on) {
        /* An edge from a relay further along (a failover): it waits for
         * this relay's log to reach its position (repl__origin_relay_wake). */
        p->state = OPEER_WAIT;
        p->wait_since_ms = now_ms;
        repl__origin_timer_update(o, p);
        repl__origin_relay_wake(o, now_ms, a);
        return;
    }
    if (applied > o->last_seq) {
        /* It holds entries this origin does not: a tail lost in a crash. */
        origin__snapshot(o, p, true, "its position is ahead of this origin's log", now_ms, a);
        return;
    }
    origin__verify(o, p, now_ms, a);
}

/* The resume proof for p->verify_seq (<= last_seq): from memory, or read. */
static void origin__verify(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a)
{
    uint64_t applied = p->verify_seq;
    if (applied < o->log_first_seq && o->relay.on && applied == o->relay.base_seq &&
        !kv_version_is_zero(o->relay.base_version)) {
        /* A relay's starting point: the proof holds without the entry. */
        repl_mutation_t base = {.seq = applied, .version = o->relay.base_version};
        origin__judge(o, p, &base, now_ms, a);
        return;
    }
    if (applied < o->log_first_seq) { /* trimmed: held in memory or not */
        origin__judge(o, p, NULL, now_ms, a);
        return;
    }
    const otail_t *t = repl__tail_at(o, applied);
    if (t) {
        origin__judge(o, p, &t->m, now_ms, a);
        return;
    }
    /* Read the entry (and what follows it, which a resume sends next). */
    p->state = OPEER_VERIFY;
    p->read_pending = true;
    repl__origin_timer_update(o, p);
    repl_action_t act = {
        .kind = REPL_ACT_READ_LOG,
        .u.read_log = {.peer = p->id, .from_seq = applied, .max_bytes = KV_REPL_BATCH_MAX_BYTES}};
    repl__out_emit(&o->out, a, &act, NULL);
}

void repl__origin_relay_wake(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    /* Backwards: closing a peer shifts only those already visited. */
    for (size_t i = o->npeers; i-- > 0;) {
        opeer_t *p = o->peers[i];
        if (p->state != OPEER_WAIT)
            continue;
        if (p->verify_seq <= o->last_seq) {
            p->state = OPEER_HELLO; /* not a state it is seen in: judged now */
            origin__verify(o, p, now_ms, a);
        } else if (o->relay.caught_up_ms && o->relay.caught_up_ms >= p->wait_since_ms) {
            /* Everything the upstream had committed when its Hello arrived
             * is applied here, and its position is not: that position is
             * off the history (an upstream that lost a tail in a crash). */
            origin__snapshot(o, p, true, "its position is ahead of this relay's history", now_ms,
                             a);
        }
    }
}

void repl__origin_close_all(repl_origin_t *o, const char *reason, repl_actions_t *a)
{
    for (size_t i = o->npeers; i-- > 0;)
        repl__origin_close(o, o->peers[i], reason, a);
}

typedef struct {
    const repl_origin_t *o;
    uint64_t first;
} origin__tail_ctx_t;

static const repl_mutation_t *origin__tail_mut(const void *ctx, size_t i)
{
    const origin__tail_ctx_t *c = ctx;
    return &repl__tail_at(c->o, c->first + i)->m;
}

/* One batch from the tail starting at p->next_seq (which it holds). */
static int origin__send_tail(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a)
{
    uint64_t first = p->next_seq, last = first, vis = repl__origin_visible(o, p);
    uint64_t acked = repl__origin_acked(o, p);
    size_t cost = repl__tail_at(o, first)->cost;
    while (last < vis && last - first + 1 < KV_REPL_BATCH_MAX_MUTS) {
        const otail_t *t = repl__tail_at(o, last + 1);
        if (!t || cost + t->cost > KV_REPL_BATCH_MAX_BYTES)
            break;
        cost += t->cost;
        last++;
    }
    repl_buf_t *b;
    if (o->cache && o->cache_first == first && o->cache_last == last && o->cache_announced == vis &&
        o->cache_acked == acked) {
        b = repl_buf_ref(o->cache);
    } else {
        origin__tail_ctx_t ctx = {o, first};
        int rc = repl__muts_frame(false, origin__tail_mut, &ctx, (size_t)(last - first + 1), vis,
                                  repl__origin_wall(o, now_ms), o->term, acked, &b);
        if (rc != 0) {
            repl__origin_close(o, p, "cannot encode batch", a);
            return rc;
        }
        repl_buf_unref(o->cache);
        o->cache = repl_buf_ref(b);
        o->cache_first = first;
        o->cache_last = last;
        o->cache_announced = vis;
        o->cache_acked = acked;
    }
    int rc = repl__origin_send_buf(o, p, b, now_ms, a);
    if (rc != 0)
        return rc; /* p is closed */
    p->next_seq = last + 1;
    return 0;
}

void repl__origin_pump(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a)
{
    if (p->state != OPEER_STREAM)
        return;
    while (!p->behind && !p->read_pending && p->next_seq <= repl__origin_visible(o, p)) {
        if (p->unflushed >= o->cfg.peer_buffer_max_bytes) {
            p->behind = true;
            p->flushed_ms = now_ms;
            repl__origin_timer_update(o, p); /* from heartbeats to the stall deadline */
            return;
        }
        if (p->next_seq < o->log_first_seq && !repl__tail_at(o, p->next_seq)) {
            /* Trimmed past it (log_retention_max): it needs a snapshot. */
            repl__origin_close(o, p, "log trimmed past this edge", a);
            return;
        }
        if (!repl__tail_at(o, p->next_seq)) {
            repl_action_t act = {.kind = REPL_ACT_READ_LOG,
                                 .u.read_log = {.peer = p->id,
                                                .from_seq = p->next_seq,
                                                .max_bytes = KV_REPL_BATCH_MAX_BYTES}};
            repl__out_emit(&o->out, a, &act, NULL);
            p->read_pending = true;
            return;
        }
        if (origin__send_tail(o, p, now_ms, a) != 0)
            return;
    }
    if (p->next_seq > repl__origin_visible(o, p))
        p->post_snapshot = false;
}

void repl__origin_push_all(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    /* Backwards: closing a peer shifts only those already visited. */
    for (size_t i = o->npeers; i-- > 0;)
        repl__origin_pump(o, o->peers[i], now_ms, a);
}

void repl__origin_heartbeats(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    for (size_t i = o->npeers; i-- > 0;) {
        opeer_t *p = o->peers[i];
        if (p->state == OPEER_STREAM && p->behind) {
            /* Its buffer is full: a heartbeat would only add to it. One that
             * flushed nothing for peer_stall_ms is not reading: close it; it
             * resumes from the log when it comes back. */
            if (now_ms >= repl__add_sat(p->flushed_ms, o->cfg.peer_stall_ms))
                repl__origin_close(o, p, "edge not reading: nothing flushed while behind", a);
            continue;
        }
        if (p->state != OPEER_STREAM ||
            now_ms < repl__add_sat(p->beat_ms, o->cfg.heartbeat_interval_ms))
            continue;
        if (p->edge != SIZE_MAX)
            o->edges[p->edge].seen_ms = now_ms; /* still linked: not to be forgotten */
        /* Sent even to a link busy with batches: batch frames are shared
         * by every edge, so the echo, which is per edge, rides here. */
        Edgekv__Frame f = EDGEKV__FRAME__INIT;
        Edgekv__Heartbeat hb = EDGEKV__HEARTBEAT__INIT;
        Edgekv__Probe echo = EDGEKV__PROBE__INIT;
        hb.origin_seq = repl__origin_announced(o, p);
        hb.origin_time_ms = repl__origin_wall(o, now_ms);
        hb.term = o->term;
        hb.acked_seq = repl__origin_acked(o, p);
        if (origin__echo(o, p, &echo.sent_ms))
            hb.echo = &echo;
        f.msg_case = EDGEKV__FRAME__MSG_HEARTBEAT;
        f.heartbeat = &hb;
        p->beat_ms = now_ms;
        repl__origin_timer_update(o, p);
        (void)repl__origin_send(o, p, &f, now_ms, a);
    }
}

/* Send log-read mutations [0..n) as batches; they must continue next_seq.
 * A node's log reads carry each entry's stored bytes (enc), which go into
 * the frame as they are (wire.c): no decode and re-encode per entry. */
static int origin__send_read(repl_origin_t *o, opeer_t *p, const repl_mutation_t *muts, size_t n,
                             uint64_t now_ms, repl_actions_t *a)
{
    uint64_t vis = repl__origin_visible(o, p);
    for (size_t k = 0; k < n; k++) {
        /* Not on enough standbys yet, or past last_seq: a group the
         * driver has committed but whose completion has not reached the
         * core, which a log read on another thread can already see in the
         * store. Sent once it is visible, from the group. */
        if (muts[k].seq > vis) {
            n = k;
            break;
        }
    }
    for (size_t i = 0; i < n;) {
        size_t j = i, cost = 0;
        while (j < n && j - i < KV_REPL_BATCH_MAX_MUTS) {
            size_t c = repl_mutation_cost(&muts[j]);
            if (j > i && cost + c > KV_REPL_BATCH_MAX_BYTES)
                break;
            if (muts[j].seq != p->next_seq + (j - i) || muts[j].seq > o->last_seq) {
                repl__origin_close(o, p, "log read out of order", a);
                return KV_ECORRUPT;
            }
            cost += c;
            j++;
        }
        repl_buf_t *b;
        int rc = repl__batch_frame_array(muts + i, j - i, vis, repl__origin_wall(o, now_ms),
                                         o->term, repl__origin_acked(o, p), &b);
        if (rc != 0) {
            repl__origin_close(o, p, "cannot encode batch", a);
            return rc;
        }
        if ((rc = repl__origin_send_buf(o, p, b, now_ms, a)) != 0)
            return rc; /* p is closed */
        p->next_seq += j - i;
        i = j;
    }
    return 0;
}

void repl_origin_log_read(repl_origin_t *o, repl_peer_t id, int rc, const repl_mutation_t *muts,
                          size_t n, uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    opeer_t *p = repl__origin_peer(o, id);
    if (!p || (p->state != OPEER_STREAM && p->state != OPEER_VERIFY) || !p->read_pending)
        return; /* the link went away meanwhile */
    p->read_pending = false;
    if (rc != 0) {
        repl__origin_close(o, p, "log read failed", a);
        return;
    }
    if (p->state == OPEER_VERIFY) {
        /* The entry at the edge's applied seq, unless trimmed meanwhile. */
        origin__judge(o, p, n > 0 ? &muts[0] : NULL, now_ms, a);
        return;
    }
    if (n == 0 || muts[0].seq != p->next_seq) {
        /* Trimmed meanwhile: the edge reconnects and takes a snapshot. */
        repl__origin_close(o, p, "log trimmed past this edge", a);
        return;
    }
    if (origin__send_read(o, p, muts, n, now_ms, a) != 0)
        return;
    repl__origin_pump(o, p, now_ms, a);
}

void repl_origin_snapshot_sent(repl_origin_t *o, repl_peer_t id, int rc, uint64_t seq,
                               uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    opeer_t *p = repl__origin_peer(o, id);
    if (!p || p->state != OPEER_SNAPSHOT)
        return;
    if (rc != 0 || seq < p->snap_pin || seq > o->last_seq) {
        repl__origin_close(o, p, rc != 0 ? "snapshot failed" : "snapshot inconsistent", a);
        return;
    }
    p->state = OPEER_STREAM;
    p->next_seq = seq + 1;
    p->post_snapshot = true;
    p->beat_ms = now_ms;
    repl__origin_timer_update(o, p);
    repl__origin_pump(o, p, now_ms, a);
    repl__origin_trim(o, a);
}
