/*
 * origin.c - the origin state machine: lifecycle, connections, frame
 * dispatch, time (heartbeats, handshake timeouts) and the status views.
 *
 * The origin orders every write and pushes the log to its edges. This file
 * only routes: writes and group commit are in origin_write.c, the handshake
 * and pushing in origin_stream.c, the tail, acks and trimming in
 * origin_log.c, the deadline in origin_timer.c. It performs no I/O; time
 * comes in as now_ms, and the wall clock only through cfg.wall (repl.h,
 * "Clocks").
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "origin_int.h"

/* The one home of these defaults: the node (node/replica/replica.c, node/cmd/config.c)
 * and the simulator (sim/scenario.c) take theirs from here. */
void repl_origin_config_default(repl_origin_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->heartbeat_interval_ms = 200;
    cfg->max_clock_offset_ms = 500;
    cfg->wall = repl_wall_realtime;
    cfg->log_retention = 100000;
    cfg->log_retention_max = 5000000;
    cfg->peer_buffer_max_bytes = KV_REPL_PEER_BUFFER_DEFAULT_BYTES;
    cfg->peer_buffer_slack_bytes = KV_REPL_PEER_BUFFER_SLACK_BYTES;
    cfg->peer_stall_ms = KV_REPL_PEER_STALL_MS;
    cfg->group_max_ops = 1000;
    cfg->tail_max_bytes = KV_REPL_TAIL_DEFAULT_BYTES;
}

static int origin__config_ok(const repl_origin_config_t *c)
{
    if (!c->wall || c->heartbeat_interval_ms == 0 || c->peer_buffer_max_bytes == 0 ||
        c->group_max_ops == 0 || c->groups_in_flight > KV_REPL_GROUPS_IN_FLIGHT_MAX ||
        c->sync_standbys > KV_REPL_SYNC_STANDBYS_MAX)
        return 0;
    if (c->log_retention_max && c->log_retention_max < c->log_retention)
        return 0;
    if (c->log_first_seq == 0 || c->log_first_seq > c->last_seq + 1)
        return 0;
    size_t parent = strnlen(c->parent_history, sizeof c->parent_history);
    if (parent != 0 && (parent != KV_NS_ID_LEN || strcmp(c->parent_history, c->history_id) == 0))
        return 0;
    return strnlen(c->history_id, sizeof c->history_id) == KV_NS_ID_LEN;
}

int repl_origin_create(const repl_origin_config_t *cfg, repl_origin_t **out)
{
    if (!origin__config_ok(cfg))
        return KV_ECONFIG;
    repl_origin_t *o = kv_calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->cfg = *cfg;
    if (o->cfg.tail_max_bytes == 0)
        o->cfg.tail_max_bytes = KV_REPL_TAIL_DEFAULT_BYTES;
    if (o->cfg.groups_in_flight == 0)
        o->cfg.groups_in_flight = 1;
    if (o->cfg.peer_buffer_slack_bytes == 0)
        o->cfg.peer_buffer_slack_bytes = KV_REPL_PEER_BUFFER_SLACK_BYTES;
    if (o->cfg.peer_stall_ms == 0)
        o->cfg.peer_stall_ms = KV_REPL_PEER_STALL_MS;
    if (o->cfg.sync_timeout_ms == 0)
        o->cfg.sync_timeout_ms = KV_REPL_SYNC_TIMEOUT_DEFAULT_MS;
    o->lead_until_ms = o->cfg.leadership ? 0 : UINT64_MAX;
    o->visible_seq = cfg->last_seq;
    if (!repl__protocol_config(&o->cfg.protocol, &o->cfg.protocol_min)) {
        kv_free(o);
        return KV_ECONFIG;
    }
    hlc_init(&o->hlc, cfg->node_id, cfg->hlc_last);
    o->last_seq = cfg->last_seq;
    o->term = cfg->term;
    o->next_seq = cfg->last_seq + 1;
    o->log_first_seq = cfg->log_first_seq;
    o->tail_first_seq = cfg->last_seq + 1;
    o->trim_need = UINT64_MAX;
    *out = o;
    return 0;
}

static void origin__peer_free(opeer_t *p)
{
    frame_reader_free(&p->rd);
    kv_free(p);
}

void repl_origin_destroy(repl_origin_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->npeers; i++)
        origin__peer_free(o->peers[i]);
    kv_free(o->peers);
    kv_free(o->peer_ids);
    kv_free(o->heap);
    kv_free(o->edges);
    repl__origin_writes_free(o);
    repl__origin_sync_free(o);
    repl__tail_free(o);
    repl_buf_unref(o->cache);
    repl__out_free(&o->out);
    kv_free(o);
}

/* Every entry point starts here: release what the last call handed out,
 * and forget the shared batch frame (it carries the time of that call). */
void repl__origin_begin(repl_origin_t *o)
{
    repl__out_begin(&o->out);
    repl_buf_unref(o->cache);
    o->cache = NULL;
}

/* The peer table is sorted by id: lookups are a binary search, and
 * removing an entry while walking it backwards skips nothing. The search
 * reads the ids' own array (a few cache lines for hundreds of links), not
 * one peer struct per probe, and selects without branches (which half wins
 * is a coin toss: mispredictions were most of its cost): every frame from an
 * edge starts here. The first position whose id is >= id. Drivers number
 * their links in order, so where no link below id has gone, id sits
 * id - ids[0] places after the first: one probe checks that before the
 * search (nine dependent loads for 300 links were 3-4 % of world300_push). */
static size_t origin__peer_pos(const repl_origin_t *o, repl_peer_t id)
{
    const repl_peer_t *ids = o->peer_ids;
    size_t lo = 0, len = o->npeers;
    if (len == 0)
        return 0;
    size_t guess = (size_t)id - ids[0]; /* wraps to a huge number below ids[0] */
    if (guess < len && ids[guess] == id)
        return guess; /* sorted and distinct: exactly the first position >= id */
    while (len > 1) { /* the answer is in [lo, lo + len] */
        size_t half = len / 2;
        lo += half & -(size_t)(ids[lo + half] < id);
        len -= half;
    }
    return lo + (ids[lo] < id);
}

opeer_t *repl__origin_peer(repl_origin_t *o, repl_peer_t id)
{
    size_t i = origin__peer_pos(o, id);
    return i < o->npeers && o->peers[i]->id == id ? o->peers[i] : NULL;
}

static void origin__peer_remove(repl_origin_t *o, opeer_t *p)
{
    if (p->edge != SIZE_MAX) {
        oedge_t *e = &o->edges[p->edge];
        if (e->connected && e->peer == p->id)
            e->connected = false;
    }
    repl__origin_timer_remove(o, p);
    size_t i = origin__peer_pos(o, p->id);
    KV_ASSERT(i < o->npeers && o->peers[i] == p);
    memmove(&o->peers[i], &o->peers[i + 1], (o->npeers - i - 1) * sizeof *o->peers);
    memmove(&o->peer_ids[i], &o->peer_ids[i + 1], (o->npeers - i - 1) * sizeof *o->peer_ids);
    o->npeers--;
    origin__peer_free(p);
}

void repl__origin_close(repl_origin_t *o, opeer_t *p, const char *reason, repl_actions_t *a)
{
    repl__emit_close(&o->out, a, p->id, reason);
    origin__peer_remove(o, p);
    /* A snapshot pin may be gone: the log may shrink. */
    repl__origin_trim(o, a);
}

int repl__origin_send_buf(repl_origin_t *o, opeer_t *p, repl_buf_t *b, uint64_t now_ms,
                          repl_actions_t *a)
{
    /* Pushing stops at peer_buffer_max_bytes; what still comes (a batch
     * under way, WriteResults) may pass it by the slack, not more: an edge
     * that reads nothing never grows the origin's memory. */
    size_t cap = o->cfg.peer_buffer_max_bytes + o->cfg.peer_buffer_slack_bytes;
    if (p->unflushed > cap || b->len > cap - p->unflushed) {
        repl_buf_unref(b);
        repl__origin_close(o, p, "edge not reading: send buffer over its limit", a);
        return KV_ELIMIT;
    }
    p->unflushed += b->len;
    repl__emit_send(&o->out, a, p->id, b);
    return 0;
}

int repl__origin_send(repl_origin_t *o, opeer_t *p, const Edgekv__Frame *f, uint64_t now_ms,
                      repl_actions_t *a)
{
    repl_buf_t *b;
    int rc = repl__buf_frame(f, &b);
    if (rc != 0) {
        repl__origin_close(o, p, "cannot encode frame", a);
        return rc;
    }
    return repl__origin_send_buf(o, p, b, now_ms, a);
}

void repl_origin_on_connect(repl_origin_t *o, repl_peer_t id, const char *name, uint64_t now_ms,
                            repl_actions_t *a)
{
    repl__origin_begin(o);
    KV_ASSERT(repl__origin_peer(o, id) == NULL);
    size_t name_len = name ? strnlen(name, KV_TLS_PEER_NAME_MAX + 1) : 0;
    if (name_len == 0 || name_len > KV_TLS_PEER_NAME_MAX) {
        repl__emit_close(&o->out, a, id, "edge without a certificate name");
        return;
    }
    if (o->npeers >= KV_REPL_PEERS_MAX) {
        repl__emit_close(&o->out, a, id, "too many replication links");
        return;
    }
    if (o->npeers == o->peers_cap) {
        size_t cap = o->peers_cap ? 2 * o->peers_cap : 8;
        opeer_t **t = kv_realloc(o->peers, cap * sizeof *t);
        REPL__NOMEM(t);
        o->peers = t;
        repl_peer_t *ids = kv_realloc(o->peer_ids, cap * sizeof *ids);
        REPL__NOMEM(ids);
        o->peer_ids = ids;
        o->peers_cap = cap;
    }
    opeer_t *p = kv_calloc(1, sizeof *p);
    REPL__NOMEM(p);
    p->id = id;
    p->state = OPEER_HELLO;
    p->edge = SIZE_MAX;
    p->connected_ms = now_ms;
    p->beat_ms = now_ms;
    p->heap_pos = SIZE_MAX;
    memcpy(p->name, name, name_len + 1);
    frame_reader_init(&p->rd, KV_FRAME_MAX_BYTES);
    repl_wire_guard_init(&p->guard);
    size_t i = origin__peer_pos(o, id);
    memmove(&o->peers[i + 1], &o->peers[i], (o->npeers - i) * sizeof *o->peers);
    memmove(&o->peer_ids[i + 1], &o->peer_ids[i], (o->npeers - i) * sizeof *o->peer_ids);
    o->peers[i] = p;
    o->peer_ids[i] = id;
    o->npeers++;
    repl__origin_timer_update(o, p);
}

/* One frame from p; takes ownership of *f (handlers keep it by NULLing
 * *f). Returns false when p was closed. */
static bool origin__dispatch(repl_origin_t *o, opeer_t *p, Edgekv__Frame **f, uint64_t now_ms,
                             repl_actions_t *a)
{
    Edgekv__Frame *fr = *f;
    repl_peer_t id = p->id; /* p may be freed below */
    if (p->state == OPEER_HELLO && fr->msg_case != EDGEKV__FRAME__MSG_HELLO) {
        repl__origin_close(o, p, "expected hello", a);
        return false;
    }
    if ((p->state == OPEER_VERIFY || p->state == OPEER_WAIT) &&
        fr->msg_case != EDGEKV__FRAME__MSG_REFUSE) {
        repl__origin_close(o, p, "frame before welcome", a);
        return false;
    }
    if (p->state == OPEER_REFUSED && fr->msg_case != EDGEKV__FRAME__MSG_REFUSE) {
        /* It follows another history: nothing it says may enter ours. */
        repl__origin_close(o, p, "refused link", a);
        return false;
    }
    switch (fr->msg_case) {
    case EDGEKV__FRAME__MSG_HELLO:
        repl__origin_on_hello(o, p, fr->hello, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_WRITE_REQUEST:
        repl__origin_on_write_request(o, p, f, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_ACK: {
        bool standby = p->standby; /* on_ack may close p */
        repl__origin_on_ack(o, p, fr->ack, now_ms, a);
        if (standby)
            repl__origin_sync_release(o, now_ms, a);
        break;
    }
    case EDGEKV__FRAME__MSG_REFUSE:
        repl__origin_close(o, p, "edge refused the link", a);
        return false;
    default:
        repl__origin_close(o, p, "unexpected frame", a);
        return false;
    }
    return repl__origin_peer(o, id) != NULL;
}

/* The fast path of an edge's ack, the frame an origin hears most (one per
 * batch an edge applies): bytes that are exactly one ack frame in the form
 * repl__ack_frame writes, at a frame boundary of the guard and the reader,
 * go to the ack handler without the guard's walk and protobuf-c's decode,
 * as the Frame frame_decode would have made of them. The guard would have
 * let them pass and the reader would have returned that Frame: the result
 * is the same, without an allocation. Anything else: false. */
static bool origin__ack_fast(repl_origin_t *o, opeer_t *p, const uint8_t *data, size_t len,
                             uint64_t now_ms, repl_actions_t *a)
{
    Edgekv__Probe probe = EDGEKV__PROBE__INIT;
    Edgekv__ProgressAck ack = EDGEKV__PROGRESS_ACK__INIT;
    Edgekv__Frame fr = EDGEKV__FRAME__INIT;
    if (!repl_wire_guard_idle(&p->guard) || !frame_reader_idle(&p->rd) ||
        !repl__ack_parse(data, len, &ack.applied_seq, &probe.sent_ms))
        return false;
    frame_reader_passed(&p->rd, len);
    ack.probe = &probe;
    fr.msg_case = EDGEKV__FRAME__MSG_ACK;
    fr.ack = &ack;
    Edgekv__Frame *f = &fr;
    (void)origin__dispatch(o, p, &f, now_ms, a); /* an ack's handler keeps nothing of it */
    return true;
}

/* Why the guard refused an edge's bytes (wire.h). */
static const char *origin__guard_reason(int rc)
{
    switch (rc) {
    case KV_ETOOBIG:
        return "frame too big";
    case KV_ELIMIT:
        return "too many ops or fields in a frame";
    case KV_EINVAL:
        return "unexpected frame";
    default:
        return "bad frame";
    }
}

void repl_origin_on_bytes(repl_origin_t *o, repl_peer_t id, const uint8_t *data, size_t len,
                          uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    opeer_t *p = repl__origin_peer(o, id);
    if (!p)
        return; /* closed by us; the driver may still have had bytes */
    if (origin__ack_fast(o, p, data, len, now_ms, a))
        return;
    /* The whole chunk passes the guard before any frame in it is decoded. */
    int bad = repl_wire_guard_feed(&p->guard, data, len);
    if (bad != 0) {
        repl__origin_close(o, p, origin__guard_reason(bad), a);
        return;
    }
    for (;;) {
        Edgekv__Frame *f;
        int rc = frame_reader_next(&p->rd, &data, &len, &f);
        if (rc == 0)
            return;
        if (rc < 0) {
            repl__origin_close(o, p, rc == KV_ETOOBIG ? "frame too big" : "bad frame", a);
            return;
        }
        bool alive = origin__dispatch(o, p, &f, now_ms, a);
        frame_free(f);
        if (!alive)
            return;
    }
}

void repl_origin_on_flushed(repl_origin_t *o, repl_peer_t id, size_t len, uint64_t now_ms,
                            repl_actions_t *a)
{
    repl__origin_begin(o);
    opeer_t *p = repl__origin_peer(o, id);
    if (!p)
        return;
    p->unflushed -= len < p->unflushed ? len : p->unflushed;
    if (p->behind && p->unflushed <= o->cfg.peer_buffer_max_bytes / 2) {
        p->behind = false;
        repl__origin_timer_update(o, p);
        repl__origin_pump(o, p, now_ms, a);
    } else if (p->behind && len > 0) {
        p->flushed_ms = now_ms; /* progress: not stalled */
        repl__origin_timer_update(o, p);
    }
}

void repl_origin_on_disconnect(repl_origin_t *o, repl_peer_t id, uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    opeer_t *p = repl__origin_peer(o, id);
    if (!p)
        return;
    origin__peer_remove(o, p);
    repl__origin_trim(o, a);
}

void repl_origin_tick(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a)
{
    repl__origin_begin(o);
    /* Backwards: closing a peer shifts only those already visited. */
    for (size_t i = o->npeers; i-- > 0;) {
        opeer_t *p = o->peers[i];
        if (p->state == OPEER_HELLO &&
            now_ms >= repl__add_sat(p->connected_ms, KV_REPL_HANDSHAKE_TIMEOUT_MS))
            repl__origin_close(o, p, "no hello", a);
    }
    repl__origin_heartbeats(o, now_ms, a);
    repl__origin_sync_release(o, now_ms, a);
}

void repl_origin_poll(repl_origin_t *o, repl_actions_t *a)
{
    repl__out_begin(&o->out);
    repl__out_poll(&o->out, a);
}

void repl_origin_set_term(repl_origin_t *o, uint64_t term)
{
    o->term = repl__max64(o->term, term);
}

void repl_origin_stats(const repl_origin_t *o, repl_origin_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->last_seq = o->last_seq;
    out->log_first_seq = o->log_first_seq;
    out->term = o->term;
    out->sync_seq = repl__origin_sync_seq(o);
    out->sync_waiting = o->sq_n;
    out->answer_seq = o->cfg.sync_standbys == 0      ? o->last_seq
                      : o->visible_seq < o->last_seq ? o->visible_seq
                                                     : o->last_seq;
    for (size_t i = 0; i < o->npeers; i++)
        out->standbys += o->peers[i]->standby && o->peers[i]->state == OPEER_STREAM;
    out->writes_committed = o->writes_committed;
    out->failed = o->failed;
    for (size_t i = 0; i < o->nedges; i++)
        out->edges_connected += o->edges[i].connected;
}

static void origin__edge_info(const repl_origin_t *o, const oedge_t *e, uint64_t now_ms,
                              repl_edge_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->node_id = e->node_id;
    out->peer = e->peer;
    out->connected = e->connected;
    memcpy(out->name, e->name, sizeof out->name);
    out->acked_seq = e->acked_seq;
    out->last_ack_ms = e->last_ack_ms;
    out->lag_seq = o->last_seq > e->acked_seq ? o->last_seq - e->acked_seq : 0;
    if (out->lag_seq) {
        uint64_t t = repl__commit_ms(o, e->acked_seq + 1);
        out->lag_ms = now_ms > t ? now_ms - t : 0;
    }
    const opeer_t *p = e->connected ? repl__origin_peer((repl_origin_t *)o, e->peer) : NULL;
    if (p) {
        out->sent_seq = p->state == OPEER_STREAM ? p->next_seq - 1 : 0;
        out->behind = p->behind;
        out->snapshotting = p->state == OPEER_SNAPSHOT;
        out->standby = p->standby && p->state == OPEER_STREAM;
    }
    memcpy(out->software, e->software, sizeof out->software);
    out->protocol = e->protocol;
}

size_t repl_origin_edges(const repl_origin_t *o, uint64_t now_ms, repl_edge_info_t *out, size_t cap)
{
    for (size_t i = 0; i < o->nedges && i < cap; i++)
        origin__edge_info(o, &o->edges[i], now_ms, &out[i]);
    return o->nedges;
}
