/*
 * edge.c - the edge state machine: lifecycle, the link to the origin
 * (connect, Hello, reconnect with jittered exponential backoff, timeouts),
 * frame dispatch, the deadline and the status view.
 *
 * What the edge does with the stream (welcome, snapshot, batches, applies,
 * acks) is in edge_sync.c; forwarded writes are in edge_write.c. A refused
 * link (the origin's history is not ours, or it is behind us) stays refused
 * until the process restarts: an operator must look, and reconnecting in a
 * loop would only repeat the alarm. The edge's states and their
 * transitions are listed in edge_int.h. No I/O; time comes in as now_ms, and
 * the wall clock only through cfg.wall (repl.h, "Clocks").
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "edge_int.h"

/* The one home of these defaults: the node (node/replica/replica.c, node/cmd/config.c)
 * and the simulator (sim/scenario.c) take theirs from here. */
void repl_edge_config_default(repl_edge_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->propagation_bound_ms = 1000;
    cfg->write_timeout_ms = 10000;
    cfg->reconnect_min_ms = 100;
    cfg->reconnect_max_ms = 10000;
    cfg->link_timeout_ms = KV_REPL_LINK_TIMEOUT_DEFAULT_MS;
    cfg->wall = repl_wall_realtime;
}

static int edge__config_ok(const repl_edge_config_t *c)
{
    size_t hl = strnlen(c->history_id, sizeof c->history_id);
    if (hl != 0 && hl != KV_NS_ID_LEN)
        return 0;
    return c->wall && c->propagation_bound_ms > 0 && c->write_timeout_ms > 0 &&
           c->reconnect_min_ms > 0 && c->reconnect_min_ms <= c->reconnect_max_ms;
}

int repl_edge_create(const repl_edge_config_t *cfg, repl_edge_t **out)
{
    if (!edge__config_ok(cfg))
        return KV_ECONFIG;
    repl_edge_t *e = kv_calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->cfg = *cfg;
    if (e->cfg.link_timeout_ms == 0)
        e->cfg.link_timeout_ms = KV_REPL_LINK_TIMEOUT_DEFAULT_MS;
    if (!repl__protocol_config(&e->cfg.protocol, &e->cfg.protocol_min)) {
        kv_free(e);
        return KV_ECONFIG;
    }
    hlc_init(&e->hlc, cfg->node_id, cfg->hlc_last);
    e->state = ESTATE_IDLE;
    memcpy(e->history_id, cfg->history_id, sizeof e->history_id);
    e->history_id[sizeof e->history_id - 1] = '\0';
    e->applied_seq = e->recv_seq = cfg->applied_seq;
    e->applied_version = cfg->applied_version;
    e->term = cfg->term;
    e->rng = cfg->seed;
    e->reconnect_at = UINT64_MAX;
    e->w_due = UINT64_MAX;
    *out = e;
    return 0;
}

void repl_edge_destroy(repl_edge_t *e)
{
    if (!e)
        return;
    frame_reader_free(&e->rd);
    repl__edge_queue_free(e);
    repl__edge_writes_free(e);
    repl__out_free(&e->out);
    kv_free(e);
}

void repl__edge_begin(repl_edge_t *e)
{
    repl__out_begin(&e->out);
}

static void edge__connect(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl_action_t act = {.kind = REPL_ACT_CONNECT};
    repl__out_emit(&e->out, a, &act, NULL);
    e->state = ESTATE_CONNECTING;
    e->connect_ms_started = now_ms;
    e->reconnect_at = UINT64_MAX;
}

/* Next attempt after min * 2^step (capped; step: attempts, or whole rounds
 * of reconnect_round attempts), with "equal jitter": half
 * fixed, half drawn from the seeded PRNG, so edges that lost the origin
 * together do not come back together, yet a seed replays exactly. */
static void edge__schedule(repl_edge_t *e, uint64_t now_ms)
{
    uint64_t d = e->cfg.reconnect_max_ms;
    uint64_t step = e->cfg.reconnect_round > 1 ? e->attempts / e->cfg.reconnect_round : e->attempts;
    if (step < 32 && (e->cfg.reconnect_min_ms << step) < d)
        d = e->cfg.reconnect_min_ms << step;
    e->attempts++;
    uint64_t half = d / 2;
    d = half + repl__rand(&e->rng) % (d - half + 1);
    e->reconnect_at = repl__add_sat(now_ms, d);
    e->state = ESTATE_DOWN;
}

void repl_edge_start(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    if (e->state != ESTATE_IDLE)
        return;
    e->started_ms = now_ms;
    edge__connect(e, now_ms, a);
}

void repl__edge_send_hello(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    Edgekv__Version v = EDGEKV__VERSION__INIT;
    h.history_id = e->history_id;
    h.applied_seq = e->applied_seq;
    if (!kv_version_is_zero(e->applied_version)) {
        v.hlc = e->applied_version.hlc;
        v.node_id = e->applied_version.node_id;
        h.applied_version = &v;
    }
    h.node_id = e->cfg.node_id;
    h.hlc_ms = hlc_ms(hlc_peek(&e->hlc, repl__edge_wall(e, now_ms)));
    Edgekv__Probe probe = EDGEKV__PROBE__INIT;
    probe.sent_ms = now_ms;
    h.probe = &probe;
    h.protocol = repl__protocol_wire(e->cfg.protocol);
    h.software = (char *)e->cfg.software;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    if (repl__edge_send(e, &f, now_ms, a) != 0)
        return;
    e->last_probe_ms = now_ms;
    e->state = ESTATE_HELLO_SENT;
    e->recv_seq = e->applied_seq;
    e->acked_sent = e->applied_seq;
}

void repl_edge_on_connect(repl_edge_t *e, repl_peer_t p, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    if (e->state != ESTATE_CONNECTING) {
        repl__emit_close(&e->out, a, p, "not connecting");
        return;
    }
    e->peer = p;
    frame_reader_init(&e->rd, KV_FRAME_MAX_BYTES);
    /* Batches may be decoded once for many edges in one process (proto/frame.h;
     * edgekv-sim): the core only reads the frames it is handed. */
    frame_reader_share(&e->rd, true);
    e->connect_ms = now_ms;
    e->state = ESTATE_HELLO_PENDING;
    /* Hello states what is durable: wait until queued applies are done. */
    if (e->q_n == 0)
        repl__edge_send_hello(e, now_ms, a);
}

void repl_edge_on_connect_failed(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    if (e->state == ESTATE_CONNECTING)
        edge__schedule(e, now_ms);
}

void repl_edge_redial(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    e->attempts = 0;
    if (e->state == ESTATE_DOWN && e->reconnect_at != UINT64_MAX)
        edge__connect(e, now_ms, a);
}

void repl__edge_unlink(repl_edge_t *e, bool close, const char *reason, repl_actions_t *a)
{
    if (close)
        repl__emit_close(&e->out, a, e->peer, reason);
    frame_reader_free(&e->rd);
    e->ack_due = false;
    e->state = ESTATE_DOWN;
    repl__edge_writes_link_lost(e, a);
}

void repl__edge_drop(repl_edge_t *e, bool close, const char *reason, uint64_t now_ms,
                     repl_actions_t *a)
{
    if (!repl__edge_linked(e->state))
        return;
    repl__edge_unlink(e, close, reason, a);
    edge__schedule(e, now_ms);
}

void repl_edge_on_disconnect(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    repl__edge_drop(e, false, NULL, now_ms, a);
}

int repl__edge_send(repl_edge_t *e, const Edgekv__Frame *f, uint64_t now_ms, repl_actions_t *a)
{
    int rc = repl__send_frame(&e->out, a, e->peer, f, NULL);
    if (rc != 0)
        repl__edge_drop(e, true, "cannot encode frame", now_ms, a);
    return rc;
}

/* Everything the origin had committed by local time ms is applied. */
static void edge__caught_up(repl_edge_t *e, uint64_t ms)
{
    if (ms <= e->caught_up_ms)
        return;
    e->caught_up_ms = ms;
    e->stale_seen = false;
}

void repl__edge_heard(repl_edge_t *e, uint64_t now_ms)
{
    e->heard = true;
    e->last_heard_ms = now_ms;
}

/* The local time a frame dates the origin_seq it announces by (0: none):
 * its echo (never later than now: the origin cannot echo the future), or,
 * from an origin that does not echo, its arrival. */
static uint64_t edge__dated(const repl_edge_t *e, const Edgekv__Probe *echo, uint64_t now_ms)
{
    if (echo)
        return echo->sent_ms < now_ms ? echo->sent_ms : now_ms;
    return e->link_echoes ? 0 : now_ms;
}

void repl__edge_announced(repl_edge_t *e, uint64_t origin_seq, const Edgekv__Probe *echo,
                          uint64_t now_ms)
{
    uint64_t dated = edge__dated(e, echo, now_ms);
    if (origin_seq > e->origin_seq)
        e->origin_seq = origin_seq;
    if (e->origin_seq <= e->applied_seq) {
        edge__caught_up(e, dated);
        return;
    }
    /* Pairing a date with a later seq than its frame announced (the
     * newest, or a stretched sample) only delays the credit: safe. */
    esample_t *last =
        e->samples_n == 0
            ? NULL
            : &e->samples[(e->samples_head + e->samples_n - 1) % KV_REPL_LAG_SAMPLES_MAX];
    if (last && (last->seq >= e->origin_seq || e->samples_n == KV_REPL_LAG_SAMPLES_MAX)) {
        /* Nothing new announced, or full: the newest sample takes it (a
         * stretched one overstates the lag: the safe side too). */
        last->seq = e->origin_seq;
        last->echo_ms = repl__max64(last->echo_ms, dated);
        return;
    }
    esample_t *s = &e->samples[(e->samples_head + e->samples_n) % KV_REPL_LAG_SAMPLES_MAX];
    s->seq = e->origin_seq;
    s->ms = now_ms;
    s->echo_ms = dated;
    e->samples_n++;
}

void repl__edge_lag_update(repl_edge_t *e)
{
    uint64_t dated = 0;
    while (e->samples_n > 0 && e->samples[e->samples_head].seq <= e->applied_seq) {
        dated = repl__max64(dated, e->samples[e->samples_head].echo_ms);
        e->samples_head = (e->samples_head + 1) % KV_REPL_LAG_SAMPLES_MAX;
        e->samples_n--;
    }
    edge__caught_up(e, dated);
}

/* One frame; takes ownership of *f (handlers keep it by NULLing *f). */
static void edge__dispatch(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a)
{
    Edgekv__Frame *fr = *f;
    repl__edge_heard(e, now_ms);
    if (!repl__edge_welcomed(e->state) && fr->msg_case != EDGEKV__FRAME__MSG_WELCOME) {
        repl__edge_drop(e, true, "expected welcome", now_ms, a);
        return;
    }
    switch (fr->msg_case) {
    case EDGEKV__FRAME__MSG_WELCOME:
        repl__edge_on_welcome(e, fr->welcome, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_BATCH:
        repl__edge_on_batch(e, f, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_HEARTBEAT:
        if (repl__edge_term_ok(e, fr->heartbeat->term, now_ms, a)) {
            e->acked_seen = repl__max64(e->acked_seen, fr->heartbeat->acked_seq);
            repl__edge_announced(e, fr->heartbeat->origin_seq, fr->heartbeat->echo, now_ms);
        }
        break;
    case EDGEKV__FRAME__MSG_WRITE_RESULT:
        repl__edge_on_write_result(e, fr->write_result, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK:
        repl__edge_on_chunk(e, f, now_ms, a);
        break;
    case EDGEKV__FRAME__MSG_SNAPSHOT_END:
        repl__edge_on_snapshot_end(e, fr->snapshot_end, now_ms, a);
        break;
    default:
        repl__edge_drop(e, true, "unexpected frame", now_ms, a);
        break;
    }
}

void repl_edge_on_bytes(repl_edge_t *e, const uint8_t *data, size_t len, uint64_t now_ms,
                        repl_actions_t *a)
{
    repl__edge_begin(e);
    while (repl__edge_linked(e->state)) {
        Edgekv__Frame *f;
        int rc = frame_reader_next(&e->rd, &data, &len, &f);
        if (rc == 0)
            return;
        if (rc < 0) {
            repl__edge_drop(e, true, rc == KV_ETOOBIG ? "frame too big" : "bad frame", now_ms, a);
            return;
        }
        edge__dispatch(e, &f, now_ms, a);
        frame_free(f);
    }
}

void repl_edge_tick(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    if (e->state == ESTATE_DOWN && now_ms >= e->reconnect_at)
        edge__connect(e, now_ms, a);
    /* A connect that never reported back is given up and retried. */
    if (e->state == ESTATE_CONNECTING &&
        now_ms >= repl__add_sat(e->connect_ms_started, KV_REPL_HANDSHAKE_TIMEOUT_MS))
        edge__schedule(e, now_ms);
    if (repl__edge_linked(e->state) && !repl__edge_welcomed(e->state) &&
        now_ms >= repl__add_sat(e->connect_ms, KV_REPL_HANDSHAKE_TIMEOUT_MS))
        repl__edge_drop(e, true, "no welcome", now_ms, a);
    uint64_t heard = e->last_heard_ms > e->connect_ms ? e->last_heard_ms : e->connect_ms;
    if (repl__edge_linked(e->state) && now_ms >= repl__add_sat(heard, e->cfg.link_timeout_ms))
        repl__edge_drop(e, true, "origin silent", now_ms, a);
    if (e->caught_up_ms && now_ms > repl__add_sat(e->caught_up_ms, e->cfg.propagation_bound_ms))
        e->stale_seen = true;
    if (e->ack_due && now_ms >= repl__add_sat(e->last_ack_ms, KV_REPL_ACK_INTERVAL_MS))
        repl__edge_ack(e, true, now_ms, a);
    repl__edge_probe(e, now_ms, a);
    repl__edge_writes_expire(e, now_ms, a);
}

void repl_edge_poll(repl_edge_t *e, repl_actions_t *a)
{
    repl__edge_begin(e);
    repl__out_poll(&e->out, a);
}

uint64_t repl_edge_deadline(const repl_edge_t *e)
{
    uint64_t d = e->state == ESTATE_DOWN ? e->reconnect_at : UINT64_MAX;
    if (e->state == ESTATE_CONNECTING)
        d = repl__add_sat(e->connect_ms_started, KV_REPL_HANDSHAKE_TIMEOUT_MS);
    if (repl__edge_linked(e->state)) {
        if (!repl__edge_welcomed(e->state))
            d = repl__min64(d, repl__add_sat(e->connect_ms, KV_REPL_HANDSHAKE_TIMEOUT_MS));
        uint64_t heard = e->last_heard_ms > e->connect_ms ? e->last_heard_ms : e->connect_ms;
        d = repl__min64(d, repl__add_sat(heard, e->cfg.link_timeout_ms));
    }
    if (e->caught_up_ms && !e->stale_seen)
        d = repl__min64(d, repl__add_sat(e->caught_up_ms, e->cfg.propagation_bound_ms + 1));
    if (e->ack_due)
        d = repl__min64(d, repl__add_sat(e->last_ack_ms, KV_REPL_ACK_INTERVAL_MS));
    d = repl__min64(d, repl__edge_probe_due(e));
    return repl__min64(d, repl__edge_writes_deadline(e));
}

/* The public view of the state: every linked state but STREAMING is
 * SYNCING (hello pending or sent, a snapshot streaming or finishing). */
static repl_link_state_t edge__link_state(estate_t s)
{
    switch (s) {
    case ESTATE_IDLE:
    case ESTATE_DOWN:
        return REPL_LINK_DOWN;
    case ESTATE_CONNECTING:
        return REPL_LINK_CONNECTING;
    case ESTATE_STREAMING:
        return REPL_LINK_LIVE;
    case ESTATE_REFUSED:
        return REPL_LINK_REFUSED;
    default:
        return REPL_LINK_SYNCING;
    }
}

void repl_edge_backlog(const repl_edge_t *e, size_t *items, size_t *bytes)
{
    *items = e->q_n;
    *bytes = e->q_bytes;
}

void repl_edge_status(const repl_edge_t *e, uint64_t now_ms, repl_edge_status_t *out)
{
    memset(out, 0, sizeof *out);
    out->link = edge__link_state(e->state);
    out->applied_seq = e->applied_seq;
    out->origin_seq = e->origin_seq;
    out->lag_seq = e->origin_seq > e->applied_seq ? e->origin_seq - e->applied_seq : 0;
    for (size_t i = 0; i < e->samples_n; i++) {
        const esample_t *s = &e->samples[(e->samples_head + i) % KV_REPL_LAG_SAMPLES_MAX];
        if (s->seq > e->applied_seq) {
            out->lag_ms = now_ms > s->ms ? now_ms - s->ms : 0;
            break;
        }
    }
    out->last_heard_ms = e->last_heard_ms;
    uint64_t since, fresh_until = repl_edge_fresh_until(e, &since);
    out->staleness_ms = now_ms > since ? now_ms - since : 0;
    out->stale = repl_stale_at(fresh_until, now_ms);
    memcpy(out->upstream_software, e->upstream_software, sizeof out->upstream_software);
    out->upstream_protocol = e->upstream_protocol;
    out->term = e->term;
    out->terms_refused = e->terms_refused;
    out->refused_term = e->refused_term;
    out->acked_seen = e->acked_seen;
}

uint64_t repl_edge_fresh_until(const repl_edge_t *e, uint64_t *since_ms)
{
    *since_ms = e->caught_up_ms ? e->caught_up_ms : e->started_ms;
    if (!e->caught_up_ms || e->snapshotting || !e->history_id[0] || e->state == ESTATE_REFUSED)
        return 0;
    return repl__add_sat(e->caught_up_ms, e->cfg.propagation_bound_ms);
}
