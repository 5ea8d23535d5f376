/*
 * repl_testkit.h - a test driver for the replication core: replicas under
 * last-writer-wins (sim/lww.h, the simulator's model), an origin log of
 * encoded entries, in-memory links, and virtual time. No sockets, no
 * threads.
 *
 * The core's actions are carried out by the simulator's dispatcher
 * (sim/drive.h) with this world's hooks, the way node/ would: SEND appends
 * to the link's byte queue, PERSIST/APPLY/RESET/READ_LOG/SNAPSHOT become
 * pending storage work completed later (PERSIST and APPLY keep pointing at
 * the core's memory until completion, as repl.h promises), CONNECT becomes
 * a pending connection. tk_step() performs one pending item, chosen in a
 * fixed order or, with a seed, at random among those the protocol allows to
 * go next (bytes of one link stay in order; each store does one thing at a
 * time). Helpers for the unit tests that drive one core by hand live here
 * too.
 */
#ifndef REPL_TESTKIT_H
#define REPL_TESTKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drive.h"
#include "edgekv.pb-c.h"
#include "lww.h"
#include "repl.h"

/* ---- ops ---------------------------------------------------------------------- */

extern const char TK_NS[KV_NS_ID_LEN + 1];
extern const char TK_HIST_A[33];
extern const char TK_HIST_B[33];
repl_op_t tk_put(const char *key, const char *value);
repl_op_t tk_del(const char *key);
/* The bytes of a record's value (r->len of them) in a replica of a
 * keyspace that keeps values. */
const uint8_t *tk_rec_value(const lww_replica_t *m, const lww_rec_t *r);

/* ---- single-core helpers ------------------------------------------------------ */

#define TK_ACTS_MAX 256
typedef struct {
    repl_action_t buf[TK_ACTS_MAX];
    repl_actions_t a;
} tk_acts_t;

void tk_acts_reset(tk_acts_t *t, size_t cap);
/* Index of the first action of `kind` at or after `from`, or -1. */
int tk_acts_find(const tk_acts_t *t, repl_act_kind_t kind, size_t from);
size_t tk_acts_count(const tk_acts_t *t, repl_act_kind_t kind);
/* Decode the frame a SEND action carries (must be exactly one). */
Edgekv__Frame *tk_send_frame(const repl_action_t *act);
/* Decode the k-th SEND's frame (of any peer), NULL when none. */
Edgekv__Frame *tk_acts_frame(const tk_acts_t *t, size_t k);
/* Encode a frame into a malloc'd buffer. */
uint8_t *tk_frame_bytes(const Edgekv__Frame *f, size_t *len);

/* ---- world -------------------------------------------------------------------- */

#define TK_MAX_EDGES 8

typedef struct {
    uint8_t *data;
    size_t len, cap, off;
} tk_bytes_t;

typedef struct {
    bool up; /* both sides know the connection */
    repl_peer_t id;
    tk_bytes_t o2e, e2o; /* bytes in flight */
    size_t unflushed;    /* SEND bytes the origin has not been told were written */
    bool origin_closed;  /* origin CLOSEd: edge hears on_disconnect after o2e drains */
    bool edge_closed;    /* edge CLOSEd: origin hears on_disconnect after e2o drains */
    tk_bytes_t capture;  /* every o2e byte, when capturing */
    bool welcomed;       /* the origin's first frame (its Welcome) was sent */
} tk_link_t;

typedef struct {
    uint64_t token;
    int status;
    uint64_t seq;
    size_t n;
    uint64_t at_ms;
} tk_done_t;

typedef struct {
    drive_node_t d;  /* the core (d.edge) and its storage step in flight */
    lww_replica_t m; /* its durable replica */
    tk_link_t link;
    bool partitioned; /* connects fail */
    bool connect_pending;
    tk_done_t *done;
    size_t ndone, donecap;
    bool capture;
    /* How the origin answered each of this edge's Hellos (its Welcome, the
     * first frame on a link, decoded by the driver): */
    size_t welcomes;        /* every answer */
    size_t resumes;         /* RESUME from the edge's applied seq + 1 ... */
    size_t resumes_behind;  /* ... of which with entries to replay from the log */
    size_t snapshots;       /* SNAPSHOT: the edge's state is replaced */
    size_t snapshots_later; /* ... not as the answer to its first Hello */
    size_t refusals;        /* RESUME from 0: history refused */
} tk_edge_t;

typedef struct {
    uint64_t seq;
    uint8_t *b;
    size_t len;
} tk_entry_t;

typedef struct {
    repl_peer_t peer;
    uint64_t seq;
    size_t max_bytes;
} tk_read_t;

typedef struct {
    drive_node_t d;  /* the core (d.origin) and its PERSIST in flight */
    lww_replica_t m; /* its durable records */
    tk_entry_t *log; /* consecutive seqs from log[0].seq */
    size_t nlog, logcap;
    uint64_t last_seq;
    int persist_fail_rc; /* next persist fails with this */
    tk_read_t reads[64];
    size_t nreads;
    struct {
        repl_peer_t peer;
        uint64_t seq;
    } snaps[64];
    size_t nsnaps;
    tk_done_t *done;
    size_t ndone, donecap;
    uint64_t trimmed_below;
    size_t trims;
    size_t snapshots;
    size_t log_reads; /* READ_LOG actions: catch-up below the in-memory tail */

    /* What it was created with (tk_origin_crash). */
    repl_origin_config_t cfg;
} tk_origin_t;

typedef struct {
    uint64_t now;
    uint64_t rng;
    bool random_order;
    size_t chunk_max; /* deliver bytes in random pieces of at most this (0: all) */
    size_t act_cap;   /* caller action array size (1 exercises overflow) */
    repl_peer_t next_peer;
    lww_keys_t *keys; /* of every replica, values kept */
    tk_origin_t origin;
    tk_edge_t edges[TK_MAX_EDGES];
    size_t nedges;
    uint64_t trace;     /* hash of every event, for determinism checks */
    size_t ryw_checked; /* edge WRITE_DONEs checked for read-your-writes */
} tk_world_t;

/* Origin at last_seq 0 with history A; nedges fresh edges (node ids 101..)
 * with the given template (history/applied overridden per edge later if
 * wanted). seed 0: fixed order; else random order and chunking. */
void tk_world_init(tk_world_t *w, const repl_origin_config_t *oc, const repl_edge_config_t *ec,
                   size_t nedges, uint64_t seed);
void tk_world_free(tk_world_t *w);
void tk_world_start(tk_world_t *w);
bool tk_step(tk_world_t *w);
void tk_quiesce(tk_world_t *w);
/* Move time forward to `to`, ticking every core at each deadline on the way. */
void tk_run_until(tk_world_t *w, uint64_t to);
void tk_origin_write(tk_world_t *w, uint64_t token, const repl_op_t *ops, size_t n);
void tk_edge_write(tk_world_t *w, size_t i, uint64_t token, const repl_op_t *ops, size_t n);
/* Cut edge i off (both sides see a disconnect; connects fail) or heal it. */
void tk_partition(tk_world_t *w, size_t i, bool down);
/* The origin process dies and restarts from storage that kept its log only
 * up to keep_seq (<= last_seq; the log untrimmed): what a crash does to an
 * origin on sync=batch|off whose last commits were not yet synced. Its links
 * drop (edges hear a disconnect), work in flight is lost, and a new origin
 * core starts from the records rebuilt from log entries 1..keep_seq. */
void tk_origin_crash(tk_world_t *w, uint64_t keep_seq);
uint64_t tk_rand(tk_world_t *w);

/* Config helpers: both set the wall clock to tk_wall with no skew. */
void tk_origin_config(repl_origin_config_t *c);
void tk_edge_config(repl_edge_config_t *c, uint32_t node_id);
/* The tests' wall clock (repl_wall_fn): the call's now_ms plus *ctx, an
 * int64_t skew in ms (NULL: none). A test steps a core's wall clock, and
 * only that, by pointing wall_ctx at a skew and changing it. */
uint64_t tk_wall(void *ctx, uint64_t now_ms);

#endif
