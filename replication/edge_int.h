/*
 * edge_int.h - the edge state machine's private state, shared by edge.c
 * (link lifecycle, backoff, dispatch, time, status), edge_sync.c (welcome,
 * snapshot, batches, the apply queue, acks) and edge_write.c (forwarded
 * writes).
 *
 * Owner: the single thread that drives the edge (see repl.h).
 */
#ifndef REPL_EDGE_INT_H
#define REPL_EDGE_INT_H

#include "hlc.h"
#include "repl_int.h"

/* Where the edge is with its origin: one state for the link and the sync
 * phase together. Transitions (edge.c, edge_sync.c):
 *
 *   IDLE           --repl_edge_start-->                     CONNECTING
 *   DOWN           --reconnect_at reached (tick)-->         CONNECTING
 *   CONNECTING     --on_connect, apply queue empty-->       HELLO_SENT
 *   CONNECTING     --on_connect, steps still queued-->      HELLO_PENDING
 *   CONNECTING     --on_connect_failed, or no answer within
 *                    KV_REPL_HANDSHAKE_TIMEOUT_MS-->        DOWN
 *   HELLO_PENDING  --the apply queue drained-->             HELLO_SENT
 *   HELLO_SENT     --Welcome RESUME-->                      STREAMING
 *   HELLO_SENT     --Welcome SNAPSHOT (queues a RESET)-->   SNAPSHOT
 *   HELLO_SENT     --Welcome of another history, or of an
 *                    origin behind us-->                    REFUSED
 *   SNAPSHOT       --SnapshotEnd (queues its step)-->       SNAPSHOT_ENDED
 *   SNAPSHOT_ENDED --that step applied-->                   STREAMING
 *   any linked     --disconnect, no Welcome within the
 *                    handshake timeout, origin silent,
 *                    protocol error, apply queue full,
 *                    storage failure-->                     DOWN (backoff)
 *
 * "Linked" is HELLO_PENDING..SNAPSHOT_ENDED: a connection is open. REFUSED
 * is final until the process restarts (see edge.c). The public
 * repl_link_state_t is a coarser view of this (edge__link_state). */
typedef enum {
    ESTATE_IDLE,           /* created, not started */
    ESTATE_DOWN,           /* no link; the next attempt at reconnect_at */
    ESTATE_CONNECTING,     /* CONNECT emitted, its outcome not reported yet */
    ESTATE_HELLO_PENDING,  /* connected; Hello states what is durable, so it
                              waits until the queued steps are applied */
    ESTATE_HELLO_SENT,     /* waiting for the Welcome */
    ESTATE_STREAMING,      /* batches flow (LIVE) */
    ESTATE_SNAPSHOT,       /* snapshot chunks flow */
    ESTATE_SNAPSHOT_ENDED, /* SnapshotEnd received: batches flow; the
                              snapshot completes when its step is applied */
    ESTATE_REFUSED         /* the origin's history is not ours */
} estate_t;

static inline bool repl__edge_linked(estate_t s)
{
    return s >= ESTATE_HELLO_PENDING && s <= ESTATE_SNAPSHOT_ENDED;
}

/* Welcomed on the current link: the origin is streaming to us. */
static inline bool repl__edge_welcomed(estate_t s)
{
    return s >= ESTATE_STREAMING && s <= ESTATE_SNAPSHOT_ENDED;
}

/* One storage step: a RESET or an APPLY. The head of the queue may be in
 * flight; the rest wait. */
typedef struct {
    bool reset;
    repl_mutation_t *muts; /* kv_malloc'd views into frame */
    size_t n;
    uint64_t seq;         /* APPLY seq; 0 = snapshot chunk */
    kv_version_t version; /* APPLY with seq: the entry at seq's version */
    bool set_history;     /* the SnapshotEnd step */
    bool diverged;        /* RESET: the position was off the origin's history */
    const char *reason;   /* RESET: why (static) */
    Edgekv__Frame *frame; /* owns the bytes muts point at */
    size_t bytes;
} eitem_t;

/* A forwarded write. */
typedef struct {
    uint64_t token;
    uint64_t request_id;
    uint64_t deadline_ms;
    size_t n;      /* ops */
    size_t bytes;  /* of the request frame, until the result arrives */
    bool answered; /* the origin committed it: waiting for the apply */
    uint64_t seq;
    int *results; /* n, once answered */
} ewrite_t;

typedef struct {
    uint64_t seq;     /* an origin_seq announced ... */
    uint64_t ms;      /* ... first heard at this time (lag), */
    uint64_t echo_ms; /* ... with this probe echoed (0: none): caught up
                         as of it once seq is applied */
} esample_t;

struct repl_edge {
    repl_edge_config_t cfg;
    repl__out_t out;
    hlc_t hlc; /* the highest version seen; hints are hlc_peek of it (never issued) */
    estate_t state;
    uint64_t started_ms;
    /* The booleans below are facts independent of state: each holds
     * whatever the link does (they survive drops, or concern storage or
     * acks rather than where the link is). */

    /* The connection (while linked). */
    repl_peer_t peer;
    frame_reader_t rd;
    uint64_t connect_ms;
    uint64_t snap_min_seq;
    char origin_history[33];
    /* The upstream's build and protocol, from its last Welcome. */
    char upstream_software[KV_REPL_SOFTWARE_MAX + 1];
    uint32_t upstream_protocol;
    /* A snapshot is replacing the stored data: from its Welcome until its
     * SnapshotEnd step is applied. Not a link phase: it outlives a dropped
     * link (the queued steps still run, and the data stays half replaced
     * until a later snapshot completes), so it is kept apart from state. */
    bool snapshotting;

    /* Replica position: applied is durable, recv is queued or applied. */
    char history_id[33];
    uint64_t applied_seq;
    kv_version_t applied_version; /* of the entry at applied_seq: the resume proof */
    uint64_t recv_seq;

    /* What the origin said, and when (kept across links: staleness is
     * measured from the last frame of any link). */
    uint64_t origin_seq;
    bool heard; /* a frame ever arrived from the origin */
    uint64_t last_heard_ms;
    /* Everything the origin had committed by this local time is applied
     * here (0: not known). It is the latest probe the origin echoed with an
     * origin_seq that is applied: a frame's arrival says nothing about when
     * it left (a frozen link delivers old news late), a probe's own time
     * does. Staleness counts from it. */
    uint64_t caught_up_ms;
    bool stale_seen; /* the staleness deadline has passed (tick saw it) */
    /* The origin on this link echoes probes. Frames without an echo (all
     * but Welcome and Heartbeat) then date nothing; from an origin built
     * before probes, a frame's arrival is taken instead. */
    bool link_echoes;
    uint64_t last_probe_ms; /* the last Hello or ack sent */
    /* The origin_seqs announced beyond applied_seq, oldest first: lag, and
     * caught_up_ms (their echoes) as applied_seq advances. */
    esample_t samples[KV_REPL_LAG_SAMPLES_MAX];
    size_t samples_head, samples_n;

    /* Terms ("Terms" in repl.h): the largest seen, and the refusals. */
    uint64_t term;
    uint64_t terms_refused;
    uint64_t refused_term;
    /* The largest acked_seq a leader told this replica (a standby): a
     * candidate with a shorter log does not campaign. */
    uint64_t acked_seen;

    /* Reconnects. */
    uint64_t rng;
    unsigned attempts;
    uint64_t connect_ms_started; /* CONNECT emitted (a lost one is retried) */
    uint64_t reconnect_at;       /* UINT64_MAX: none scheduled */

    /* Storage steps. */
    eitem_t *q;
    size_t q_head, q_n, q_cap;
    size_t q_bytes;
    bool q_inflight; /* the head step is with storage (runs across links) */
    /* Queue items in the step in flight (1 unless merged, see
     * repl_edge_config_t.apply_merge_max_muts) and the merged mutations'
     * array (NULL unless merged). */
    size_t q_inflight_items;
    repl_mutation_t *q_merged;

    /* Progress acks. */
    uint64_t acked_sent;
    uint64_t last_ack_ms;
    bool ack_due; /* an ack was held back by coalescing (cleared on unlink) */

    /* Forwarded writes, in request_id order. */
    ewrite_t *w;
    size_t nw, wcap;
    size_t w_bytes; /* sum of bytes of unanswered writes */
    uint64_t w_due; /* earliest deadline_ms of the table, UINT64_MAX: none */
    uint64_t next_request_id;
};

/* The wall clock, for HLC physical time only (repl.h, "Clocks"); now_ms
 * measures everything else. */
static inline uint64_t repl__edge_wall(const repl_edge_t *e, uint64_t now_ms)
{
    return e->cfg.wall(e->cfg.wall_ctx, now_ms);
}

/* edge.c */
void repl__edge_begin(repl_edge_t *e);
/* Forget the link (CLOSE it when close is set) and fail unanswered writes:
 * DOWN, with no reconnect scheduled (the caller says what comes next). */
void repl__edge_unlink(repl_edge_t *e, bool close, const char *reason, repl_actions_t *a);
/* Drop the link if there is one: unlink, then schedule a reconnect. */
void repl__edge_drop(repl_edge_t *e, bool close, const char *reason, uint64_t now_ms,
                     repl_actions_t *a);
/* Send a frame on the link; drops the link when it cannot be encoded. */
int repl__edge_send(repl_edge_t *e, const Edgekv__Frame *f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_send_hello(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
/* A frame arrived (the link is alive). */
void repl__edge_heard(repl_edge_t *e, uint64_t now_ms);
/* A frame that says how far the origin is (Welcome, MutationBatch,
 * Heartbeat, SnapshotEnd), with the probe it echoes (NULL: none): lag
 * samples and the caught-up time. */
void repl__edge_announced(repl_edge_t *e, uint64_t origin_seq, const Edgekv__Probe *echo,
                          uint64_t now_ms);
void repl__edge_lag_update(repl_edge_t *e);

/* edge_sync.c */
/* The fence: false (the link refused and dropped) when term is below the
 * largest seen; else that term is now the largest seen. */
bool repl__edge_term_ok(repl_edge_t *e, uint64_t term, uint64_t now_ms, repl_actions_t *a);
void repl__edge_on_welcome(repl_edge_t *e, const Edgekv__Welcome *w, uint64_t now_ms,
                           repl_actions_t *a);
void repl__edge_on_batch(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_on_chunk(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_on_snapshot_end(repl_edge_t *e, const Edgekv__SnapshotEnd *end, uint64_t now_ms,
                                repl_actions_t *a);
void repl__edge_ack(repl_edge_t *e, bool force, uint64_t now_ms, repl_actions_t *a);
/* Streaming, and no probe for KV_REPL_PROBE_INTERVAL_MS: send one. */
void repl__edge_probe(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
uint64_t repl__edge_probe_due(const repl_edge_t *e);
void repl__edge_queue_free(repl_edge_t *e);
/* The storage step in flight, NULL when none (a relay takes an APPLY's
 * frame from it before reporting it applied: relay.c). */
eitem_t *repl__edge_step_inflight(repl_edge_t *e);

/* edge_write.c */
void repl__edge_on_write_result(repl_edge_t *e, const Edgekv__WriteResult *r, uint64_t now_ms,
                                repl_actions_t *a);
void repl__edge_writes_applied(repl_edge_t *e, repl_actions_t *a);
void repl__edge_writes_link_lost(repl_edge_t *e, repl_actions_t *a);
void repl__edge_writes_expire(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
uint64_t repl__edge_writes_deadline(const repl_edge_t *e);
void repl__edge_writes_free(repl_edge_t *e);

#endif
