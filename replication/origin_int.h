/*
 * origin_int.h - the origin state machine's private state, shared by
 * origin.c (connections, dispatch, time), origin_write.c (writes and group
 * commit), origin_stream.c (handshake, pushing, catch-up), origin_log.c
 * (in-memory tail, acks, trimming, lag), origin_timer.c (the heap of
 * link timers behind repl_origin_deadline) and origin_sync.c (answers held
 * for synchronous standbys and the leadership deadline).
 *
 * Owner: the single thread that drives the origin (see repl.h).
 */
#ifndef REPL_ORIGIN_INT_H
#define REPL_ORIGIN_INT_H

#include "hlc.h"
#include "repl_int.h"

typedef enum {
    OPEER_HELLO,    /* connected, waiting for Hello */
    OPEER_VERIFY,   /* Hello received: reading the log entry at its
                       applied seq to check the resume proof */
    OPEER_SNAPSHOT, /* the driver is streaming a snapshot */
    OPEER_STREAM,   /* pushing the log from next_seq */
    OPEER_REFUSED,  /* told a history it will refuse; sending nothing */
    OPEER_WAIT      /* relay: its Hello names a seq past this relay's log;
                       judged once the log reaches it, or given a snapshot
                       once the relay's catch-up passes the Hello's arrival
                       and the log still has not (origin_stream.c) */
} opeer_state_t;

/* Probes a relay holds back until its own catch-up vouches for them. */
#define ORIGIN__HELD_PROBES 2

/* One connection. Heap-allocated so pointers stay put while the table grows. */
typedef struct {
    repl_peer_t id;
    opeer_state_t state;
    frame_reader_t rd;
    repl_wire_guard_t guard;             /* sees every byte before rd decodes it */
    char name[KV_TLS_PEER_NAME_MAX + 1]; /* its certificate's: who it is */
    size_t edge;                         /* index into o->edges, SIZE_MAX before Hello */
    uint64_t connected_ms;
    uint64_t beat_ms; /* the last Welcome or Heartbeat: the next is owed
                         heartbeat_interval_ms later, whatever else went */
    bool echo;        /* probe_ms holds the edge's latest probe */
    uint64_t probe_ms;
    /* Relay only (o->relay.on): probes received but not yet echoed, with
     * their arrival on this relay's clock, oldest first; the last slot
     * takes the newest when full (origin_stream.c, origin__echo). */
    uint64_t held_probe_ms[ORIGIN__HELD_PROBES];
    uint64_t held_at_ms[ORIGIN__HELD_PROBES];
    size_t held_n;
    uint64_t next_seq;   /* STREAM: next seq to send */
    uint64_t snap_pin;   /* SNAPSHOT: the log from snap_pin + 1 is kept */
    bool post_snapshot;  /* STREAM after a snapshot, not yet caught up:
                            its catch-up is protected from trimming */
    size_t unflushed;    /* bytes of SENDs not yet reported flushed */
    bool behind;         /* unflushed hit the cap: no pushes until half */
    uint64_t flushed_ms; /* behind: when it fell behind or last flushed bytes */
    bool read_pending;   /* a READ_LOG for it is outstanding */
    uint64_t due_ms;     /* its timer (origin_timer.c), UINT64_MAX: none */
    size_t heap_pos;     /* its place in o->heap, SIZE_MAX: not there */

    /* VERIFY, WAIT: the edge's applied seq and the version it claims there;
     * WAIT: since when (its Hello's arrival). */
    uint64_t wait_since_ms;
    uint64_t verify_seq;
    kv_version_t verify_version;
    bool standby; /* an origin candidate following this leader (repl.h) */
} opeer_t;

/* An edge the origin has heard from, kept after it disconnects (until
 * KV_REPL_EDGE_FORGET_MS). Its identity is its certificate name: a node id
 * is bound to one name and a name to one node id (origin_stream.c). */
typedef struct {
    uint32_t node_id;
    char name[KV_TLS_PEER_NAME_MAX + 1]; /* "": restored, not yet claimed */
    repl_peer_t peer;
    bool connected;
    uint64_t acked_seq;
    uint64_t last_ack_ms;
    uint64_t seen_ms;                        /* last Hello, ack or heartbeat; 0: not known yet */
    bool pinned;                             /* scratch of repl__origin_trim */
    char software[KV_REPL_SOFTWARE_MAX + 1]; /* from its last Hello */
    uint32_t protocol;                       /* from its last Hello; 0: none yet */
} oedge_t;

/* A write waiting to be committed: its ops are stamped and sequenced. */
typedef struct {
    bool remote;
    uint64_t token;      /* local: WRITE_DONE token */
    repl_peer_t peer;    /* remote: where the WriteResult goes */
    uint64_t request_id; /* remote */
    uint64_t first_seq;
    size_t n;
    size_t bytes;
    repl_mutation_t *muts; /* n, kv_malloc'd; payloads in hold */
    repl__hold_t *hold;
} owrite_t;

/* A group commit in flight: the first `writes` writes of the queue past
 * the groups before it. */
typedef struct {
    uint64_t id;
    size_t writes;
    size_t n;              /* ops */
    repl_mutation_t *muts; /* what PERSIST pointed at, each with its enc */
    repl__hold_t *enc;     /* the bytes of muts[i].enc, one block */
    bool reported;         /* after a failure: its report came in */
} ogroup_t;

/* A committed mutation kept in memory: a relay's as it came (its op, in
 * the frame it came in), the origin's own as its encoding (m.enc, in its
 * group's block; m.op keeps only its kind: the write's payload is freed
 * once the write is answered). */
typedef struct {
    repl_mutation_t m;
    repl__hold_t *hold; /* what m points into; NULL for a NOOP */
    size_t cost;        /* repl_mutation_cost of the op */
} otail_t;

typedef struct {
    uint64_t first_seq;
    uint64_t ms;
} ocommit_t;

/* A committed write whose answer waits for standby acks or leadership
 * (origin_sync.c). */
typedef struct {
    bool remote;
    uint64_t token;      /* local */
    repl_peer_t peer;    /* remote */
    uint64_t request_id; /* remote */
    uint64_t seq;        /* its last op's */
    size_t n;
    int *results; /* n, kv_malloc'd; NULL: all zero */
    uint64_t deadline_ms;
} osync_t;

/* A WriteRequest a relay's origin part received: passed upstream by the
 * relay (relay.c), answered with repl__origin_write_result. */
typedef struct {
    repl_peer_t peer;
    uint64_t request_id;
    Edgekv__Frame *frame; /* owned: the decoded WriteRequest */
} oforward_t;

/* What an origin part serving a relay knows of the relay's own upstream
 * (relay.c refreshes it before every call into the origin part). */
typedef struct {
    bool on;               /* this origin serves a relay: it orders nothing */
    uint64_t caught_up_ms; /* the relay's catch-up time (repl.h,
                              repl_edge_fresh_until), 0: not caught up */
    uint64_t upstream_seq; /* the latest seq its upstream announced */
    /* The position the relay's log was started from (after a snapshot, or
     * at start-up) and the version of its entry: an edge exactly there is
     * on the history though its entry is not in the log. */
    uint64_t base_seq;
    kv_version_t base_version;
} orelay_t;

struct repl_origin {
    repl_origin_config_t cfg;
    repl__out_t out;
    hlc_t hlc;
    uint64_t last_seq;      /* last committed */
    uint64_t next_seq;      /* next to assign */
    uint64_t log_first_seq; /* oldest seq not trimmed */
    int failed;             /* persist error that stopped writes, or 0 */
    uint64_t writes_committed;
    /* The term this origin writes under and sends (cfg.term, raised by
     * repl_origin_set_term; a relay's: the largest its edge part saw). */
    uint64_t term;

    /* Writes in seq order; the first grouped_writes form the PERSISTs in
     * flight, oldest first (groups, a ring of groups_n from groups_head). */
    owrite_t *wq;
    size_t wq_head, wq_n, wq_cap;
    size_t wq_ops, wq_bytes;
    size_t grouped_writes;
    ogroup_t groups[KV_REPL_GROUPS_IN_FLIGHT_MAX];
    size_t groups_head, groups_n;
    uint64_t group_id; /* of the last group emitted */
    bool corked;       /* repl_origin_cork: writes queue, no group starts */

    /* Recent committed mutations, consecutive from tail_first_seq. */
    otail_t *tail;
    size_t tail_head, tail_n, tail_cap;
    size_t tail_bytes;
    uint64_t tail_first_seq;

    ocommit_t commits[KV_REPL_COMMIT_INDEX_MAX]; /* ring: first seq and time per group */
    size_t commits_head, commits_n;

    opeer_t **peers;
    repl_peer_t *peer_ids; /* peer_ids[i] == peers[i]->id: searched without a load per probe */
    size_t npeers, peers_cap;
    opeer_t **heap; /* links with a timer, a min-heap on due_ms */
    size_t heap_n, heap_cap;
    oedge_t *edges;
    size_t nedges, edges_cap;
    uint64_t trim_need; /* lowest acked seq of unpinned edges, at the last trim */

    /* Relay mode: the relay's view, and WriteRequests awaiting the relay. */
    orelay_t relay;
    oforward_t *fwd;
    size_t fwd_n, fwd_cap;

    /* Answers held for standbys, oldest (lowest seq) first, and the
     * leadership deadline (UINT64_MAX: no leadership in use). */
    osync_t *sq;
    size_t sq_head, sq_n, sq_cap;
    uint64_t lead_until_ms;
    /* With sync_standbys: the log up to here is on enough standbys and may
     * go to edges (never back: repl__origin_visible). */
    uint64_t visible_seq;
    /* With cfg.sync_named: the standbys whose acks count. */
    char sync_names[KV_REPL_SYNC_STANDBYS_MAX][KV_TLS_PEER_NAME_MAX + 1];
    size_t sync_n;

    /* The batch frame last encoded in this call: live edges share it. */
    repl_buf_t *cache;
    uint64_t cache_first, cache_last, cache_announced, cache_acked;
};

/* The wall clock, for HLC physical time and origin_time_ms only (repl.h,
 * "Clocks"); now_ms measures everything else. */
static inline uint64_t repl__origin_wall(const repl_origin_t *o, uint64_t now_ms)
{
    return o->cfg.wall(o->cfg.wall_ctx, now_ms);
}

/* origin.c */
void repl__origin_begin(repl_origin_t *o);
opeer_t *repl__origin_peer(repl_origin_t *o, repl_peer_t id);
void repl__origin_close(repl_origin_t *o, opeer_t *p, const char *reason, repl_actions_t *a);
/* Send a frame to p (counted as unflushed); closes p and returns the error
 * when it cannot be encoded. */
int repl__origin_send(repl_origin_t *o, opeer_t *p, const Edgekv__Frame *f, uint64_t now_ms,
                      repl_actions_t *a);
/* The same for an encoded frame (taken over). Over peer_buffer_max_bytes +
 * peer_buffer_slack_bytes unflushed it closes p instead and returns
 * KV_ELIMIT. */
int repl__origin_send_buf(repl_origin_t *o, opeer_t *p, repl_buf_t *b, uint64_t now_ms,
                          repl_actions_t *a);

/* How far p may be sent the log: all of it, except that with synchronous
 * standbys a link that is not one gets only what enough standbys made
 * durable (repl.h "Synchronous standbys"), so an edge never applies a write
 * a takeover could lose. */
static inline uint64_t repl__origin_visible(const repl_origin_t *o, const opeer_t *p)
{
    if (o->cfg.sync_standbys == 0 || p->standby)
        return o->last_seq;
    return o->visible_seq < o->last_seq ? o->visible_seq : o->last_seq;
}

/* What p is told may have been acknowledged to clients (Welcome.acked_seq):
 * a standby only, which will not campaign with a shorter log. */
static inline uint64_t repl__origin_acked(const repl_origin_t *o, const opeer_t *p)
{
    if (!p->standby)
        return 0;
    if (o->cfg.sync_standbys == 0)
        return o->last_seq;
    return o->visible_seq < o->last_seq ? o->visible_seq : o->last_seq;
}

/* The origin_seq announced to p: the log's end it may see, or for a relay
 * the later of that and its upstream's (so an edge's lag includes the
 * relay's). */
static inline uint64_t repl__origin_announced(const repl_origin_t *o, const opeer_t *p)
{
    uint64_t v = repl__origin_visible(o, p);
    return o->relay.on && o->relay.upstream_seq > v ? o->relay.upstream_seq : v;
}

/* origin_write.c */
/* Answer a remote writer (dropped if its link is gone). */
void repl__origin_write_result(repl_origin_t *o, repl_peer_t peer, uint64_t request_id, int status,
                               uint64_t seq, const int *results, size_t n, uint64_t now_ms,
                               repl_actions_t *a);
void repl__origin_on_write_request(repl_origin_t *o, opeer_t *p, Edgekv__Frame **f, uint64_t now_ms,
                                   repl_actions_t *a);
void repl__origin_writes_free(repl_origin_t *o);

/* origin_stream.c */
void repl__origin_on_hello(repl_origin_t *o, opeer_t *p, const Edgekv__Hello *h, uint64_t now_ms,
                           repl_actions_t *a);
void repl__origin_pump(repl_origin_t *o, opeer_t *p, uint64_t now_ms, repl_actions_t *a);
void repl__origin_push_all(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a);
void repl__origin_heartbeats(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a);
/* Relay: judge the links in OPEER_WAIT again (the log grew, or the view of
 * the upstream changed). */
void repl__origin_relay_wake(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a);
/* Relay: close every link (its data is being replaced by a snapshot). */
void repl__origin_close_all(repl_origin_t *o, const char *reason, repl_actions_t *a);

/* origin_sync.c */
/* May a write be taken now (leading)? 0 or KV_EUNAVAILABLE. */
int repl__origin_sync_admit(const repl_origin_t *o, uint64_t now_ms);
/* Answer a committed write now, or hold it for standbys / leadership. */
void repl__origin_sync_answer(repl_origin_t *o, const owrite_t *w, const int *results,
                              uint64_t now_ms, repl_actions_t *a);
/* Answer what the standbys' acks, the clock or a lost lead allow. */
void repl__origin_sync_release(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a);
/* The acked seq that sync_standbys standby links have reached. */
uint64_t repl__origin_sync_seq(const repl_origin_t *o);
uint64_t repl__origin_sync_deadline(const repl_origin_t *o);
void repl__origin_sync_free(repl_origin_t *o);

/* origin_timer.c: re-key p after its state or beat_ms changed; drop it
 * from the heap before it is freed. */
void repl__origin_timer_update(repl_origin_t *o, opeer_t *p);
void repl__origin_timer_remove(repl_origin_t *o, opeer_t *p);

/* origin_log.c */
const otail_t *repl__tail_at(const repl_origin_t *o, uint64_t seq); /* NULL if not held */
void repl__tail_push(repl_origin_t *o, const repl_mutation_t *m, repl__hold_t *hold, size_t cost);
void repl__tail_evict(repl_origin_t *o);
void repl__tail_free(repl_origin_t *o);
void repl__commit_note(repl_origin_t *o, uint64_t first_seq, uint64_t now_ms);
uint64_t repl__commit_ms(const repl_origin_t *o, uint64_t seq);
/* A Hello or ack carried a probe (NULL: none): the next Welcome or
 * Heartbeat echoes the latest (probes only go forward on the edge's clock;
 * an older one, reordered by nothing over TCP, would be an edge's bug). A
 * relay holds it back, with its arrival time, until its own catch-up
 * passes that time (origin_stream.c). */
void repl__origin_on_probe(const repl_origin_t *o, opeer_t *p, const Edgekv__Probe *probe,
                           uint64_t now_ms);
/* Relay: append applied mutations muts[0..n) (consecutive from last_seq +
 * 1; payloads held by hold, which may be NULL only for NOOPs) to the log
 * and push them to the links. */
void repl__origin_append(repl_origin_t *o, const repl_mutation_t *muts, size_t n,
                         repl__hold_t *hold, uint64_t now_ms, repl_actions_t *a);

void repl__origin_on_ack(repl_origin_t *o, opeer_t *p, const Edgekv__ProgressAck *ack,
                         uint64_t now_ms, repl_actions_t *a);
void repl__origin_trim(repl_origin_t *o, repl_actions_t *a);

#endif
