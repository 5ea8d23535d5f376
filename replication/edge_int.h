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

/* One storage step: a RESET or an APPLY. The head of the queue may be in
 * flight; the rest wait. */
typedef struct {
    bool reset;
    repl_mutation_t *muts; /* kv_malloc'd views into frame */
    size_t n;
    uint64_t seq;         /* APPLY seq; 0 = snapshot chunk */
    bool set_history;     /* the SnapshotEnd step */
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
    uint64_t seq; /* an origin_seq announced ... */
    uint64_t ms;  /* ... first seen at this time */
} esample_t;

struct repl_edge {
    repl_edge_config_t cfg;
    repl__out_t out;
    hlc_t hlc;
    repl_link_state_t link;
    bool started;
    uint64_t started_ms;

    /* The connection. */
    bool connected;
    repl_peer_t peer;
    frame_reader_t rd;
    uint64_t connect_ms;
    bool hello_sent; /* else pending until the apply queue drains */
    bool welcomed;
    bool stream_ok;    /* batches accepted (RESUME, or after SnapshotEnd) */
    bool snapshotting; /* Welcome SNAPSHOT seen, SnapshotEnd not applied */
    bool snap_ended;   /* SnapshotEnd received */
    uint64_t snap_min_seq;
    char origin_history[33];

    /* Replica position: applied is durable, recv is queued or applied. */
    char history_id[33];
    uint64_t applied_seq;
    uint64_t recv_seq;

    /* What the origin said, and when. */
    uint64_t origin_seq;
    bool heard;
    uint64_t last_heard_ms;
    bool stale_seen; /* the staleness deadline has passed (tick saw it) */
    esample_t samples[KV_REPL_LAG_SAMPLES_MAX];
    size_t samples_head, samples_n;

    /* Reconnects. */
    uint64_t rng;
    unsigned attempts;
    uint64_t connect_ms_started; /* CONNECT emitted (a lost one is retried) */
    uint64_t reconnect_at;       /* UINT64_MAX: none scheduled */

    /* Storage steps. */
    eitem_t *q;
    size_t q_head, q_n, q_cap;
    size_t q_bytes;
    bool q_inflight;

    /* Progress acks. */
    uint64_t acked_sent;
    uint64_t last_ack_ms;
    bool ack_due;

    /* Forwarded writes, in request_id order. */
    ewrite_t *w;
    size_t nw, wcap;
    size_t w_bytes; /* sum of bytes of unanswered writes */
    uint64_t w_due; /* earliest deadline_ms of the table, UINT64_MAX: none */
    uint64_t next_request_id;
};

/* edge.c */
void repl__edge_begin(repl_edge_t *e);
/* Drop the link (CLOSE when close is set), fail unanswered writes and
 * schedule a reconnect. */
void repl__edge_drop(repl_edge_t *e, bool close, const char *reason, uint64_t now_ms,
                     repl_actions_t *a);
/* Send a frame on the link; drops the link when it cannot be encoded. */
int repl__edge_send(repl_edge_t *e, const Edgekv__Frame *f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_send_hello(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
void repl__edge_heard(repl_edge_t *e, uint64_t origin_seq, uint64_t now_ms);
void repl__edge_lag_update(repl_edge_t *e);

/* edge_sync.c */
void repl__edge_on_welcome(repl_edge_t *e, const Edgekv__Welcome *w, uint64_t now_ms,
                           repl_actions_t *a);
void repl__edge_on_batch(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_on_chunk(repl_edge_t *e, Edgekv__Frame **f, uint64_t now_ms, repl_actions_t *a);
void repl__edge_on_snapshot_end(repl_edge_t *e, const Edgekv__SnapshotEnd *end, uint64_t now_ms,
                                repl_actions_t *a);
void repl__edge_ack(repl_edge_t *e, bool force, uint64_t now_ms, repl_actions_t *a);
void repl__edge_queue_free(repl_edge_t *e);

/* edge_write.c */
void repl__edge_on_write_result(repl_edge_t *e, const Edgekv__WriteResult *r, uint64_t now_ms,
                                repl_actions_t *a);
void repl__edge_writes_applied(repl_edge_t *e, repl_actions_t *a);
void repl__edge_writes_link_lost(repl_edge_t *e, repl_actions_t *a);
void repl__edge_writes_expire(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
uint64_t repl__edge_writes_deadline(const repl_edge_t *e);
void repl__edge_writes_free(repl_edge_t *e);

#endif
