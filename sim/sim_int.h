/*
 * sim_int.h - the simulator's private state, shared by sim.c (world
 * building, the event loop, faults), net.c (links and connections),
 * push.c (driving the real cores), pull.c (the cache-TTL model),
 * workload.c (writes, reads, probes), metrics.c and report.c.
 *
 * Node 0 is the origin; nodes 1..N are edges. Virtual time is in ns. As in
 * node/, a core gets two clocks (replication/repl.h, "Clocks"): now_ms, the
 * monotonic one, is SIM_EPOCH_MS + virtual ms on every node
 * (sim__mono_ms); its wall clock, read for HLC time through its config, is
 * that plus the node's skew (sim__wall_ms), so skew and clock jumps move
 * version stamps and hints, never timers or staleness.
 */
#ifndef SIM_INT_H
#define SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "dist.h"
#include "drive.h"
#include "engine.h"
#include "hcheck.h"
#include "hist.h"
#include "lww.h"
#include "repl.h"
#include "rng.h"
#include "scenario.h"
#include "sim.h"

#define SIM_EPOCH_MS           UINT64_C(1700000000000) /* 2023-11-14: a plausible wall clock */
#define SIM_NS_PER_MS          UINT64_C(1000000)
#define SIM_ACTS_CAP           256
#define SIM_FLUSH_REPORT_BYTES (256u * 1024u) /* on_flushed granularity (see net.c) */
#define SIM_KSTALE_MAX         10             /* k-staleness histogram: 0..9, 10+ */
#define SIM_VALUE_MIN          4              /* a value carries its write id */

enum {
    EV_TIMER = 1,     /* node: a core's deadline */
    EV_DELIVER,       /* conn, flags DIR_UP: frame bytes arrive */
    EV_FIN,           /* conn, flags DIR_UP: the other side closed */
    EV_RESET,         /* conn: the connection broke (loss): both sides hear */
    EV_CONNECT,       /* node: a connect attempt ends (a: 1 ok) */
    EV_PERSIST,       /* origin: a PERSIST is durable */
    EV_READLOG,       /* origin: READ_LOG done (conn = peer, a = from, b = max bytes) */
    EV_SNAPDONE,      /* origin: snapshot streamed (conn = peer, a = seq) */
    EV_APPLY,         /* edge: storage step done */
    EV_FLUSH,         /* origin: a = bytes of conn written */
    EV_WRITE,         /* workload: next write */
    EV_WRITE_DELAYED, /* workload: a rate-limited write released (a = wid) */
    EV_READ,          /* workload: next read */
    EV_PROBE,         /* t-visibility probe (a = seq, b = grid index) */
    EV_FAULT,         /* a = fault index, b = 0 start / 1 end */
    EV_SAMPLE,        /* lag sampling */
    EV_PULL_FETCH,    /* pull: fetch reaches the origin (node = edge, a = key, b = read id) */
    EV_PULL_RESP,     /* pull: response reaches the edge */
    EV_PULL_WRITE,    /* pull: write reaches the origin (a = wid) */
    EV_PULL_COMMIT,   /* pull: write durable (a = wid) */
    EV_PULL_ACK,      /* pull: ack reaches the writing edge (a = wid, b = seq) */
    EV_END,
    EV_NODE_START, /* node: a crashed node's start is over: its core runs */
    EV_KINDS
};

#define DIR_UP  1u /* edge -> origin; else origin -> edge */
#define EVF_OWN 2u /* p is a malloc'd buffer (snapshot chunk), else a repl_buf_t */

typedef enum { OPK_NONE = 0, OPK_PUT, OPK_DEL, OPK_NOOP } sim_opk_t;

/* A replica's record of one key (version zero: never written; val: the
 * write id of its value). Replicas are lww_replica_t (sim/lww.h) over
 * blocks of nkeys records: slot i is key i. */
typedef sim_check_rec_t sim_rec_t;

/* One committed sequence number (the origin's durable log, never freed:
 * the log window is [log_first, last_seq]). */
typedef struct {
    kv_version_t v;
    uint64_t t_ns;     /* when it became durable */
    uint64_t prev_seq; /* previous real commit of the same key, 0 none */
    uint32_t key;
    uint32_t wid;
    uint32_t len;
    uint8_t kind; /* sim_opk_t */
} sim_commit_t;

typedef struct {
    uint64_t start, end; /* ns */
} sim_window_t;

typedef struct {
    sim_window_t *w;
    size_t n, cap;
} sim_windows_t;

/* Pull-policy cache entry. */
typedef struct {
    kv_version_t v;
    uint32_t wid;
    bool valid;
    uint64_t expires_ns;
} sim_centry_t;

typedef struct {
    /* static */
    int region; /* index into sc->regions; -1 for the origin */
    int place;
    uint32_t parent; /* its first upstream (0 = origin, else its relay) */
    bool is_relay;   /* relay policy: runs repl_relay_t (d.relay) */
    double up_ms;    /* base one-way delay of the hop to the parent */
    int64_t skew_us; /* wall clock offset (clock jumps move it) */
    sim_rng_t rng;   /* this node's link delays */

    /* dynamic */
    bool up;
    uint32_t inc; /* incarnation: events of an older one are void */
    uint64_t timer_ns;
    drive_node_t d;      /* edges: the core (d.edge or d.relay) and its RESET/APPLY in flight */
    uint32_t conn;       /* the link to its upstream, 0 none */
    uint32_t dial;       /* the upstream it connects to next (or is connected to) */
    uint32_t up_turn;    /* failovers since start: picks dial from its upstream list */
    bool kids_started;   /* relay: its children were started (once it held a history) */
    uint64_t rlog_first; /* relay: the oldest seq of its stored log (durable) */
    repl_edge_info_t *saved_down; /* relay: its children's acks, captured at a crash */
    size_t nsaved_down;
    uint64_t conn_up_ns;
    lww_replica_t m; /* the durable replica (edges) */
    bool snapshotting;
    uint64_t hw_seq; /* highest seq counted in propagation */

    /* the hop to its upstream, both directions */
    uint64_t tx_free_down, tx_free_up;
    sim_windows_t parts;  /* partitions of this hop (the origin's: of every hop into it) */
    sim_windows_t faults; /* any fault touching this node (bound checker) */

    sim_centry_t *cache; /* pull */
    sim_hist_t prop;
    uint64_t reconnects;
} sim_node_t;

/* A connection between a downstream node (`edge`: an edge or a relay) and
 * its upstream (`up`: the origin, or a relay). "origin" names the upstream
 * side below, whichever node it is. */
typedef struct {
    uint32_t edge;
    uint32_t up;
    bool origin_open, edge_open;
    bool broken;                 /* a frame was lost: nothing more is delivered */
    uint64_t last_down, last_up; /* FIFO: latest arrival per direction */
    size_t unreported;           /* origin SEND bytes not yet reported flushed */
} sim_conn_t;

typedef enum { W_PENDING, W_ACKED, W_FAILED, W_DROPPED } sim_wstate_t;

typedef struct {
    uint32_t key;
    uint32_t edge; /* node, 0 = origin */
    uint32_t len;
    uint8_t kind;
    uint8_t state;
    bool in_core; /* handed to a core, not yet answered */
    uint64_t t_ns;
    uint64_t seq;
} sim_write_t;

struct sim {
    const sim_scenario_t *sc;
    sim_options_t opt;
    uint64_t seed;
    sim_engine_t eng;
    uint64_t end_ns, work_end_ns;
    bool stopping;

    sim_rng_t rng_work, rng_net, rng_disk, rng_probe, rng_fault;

    sim_node_t *nodes;         /* 1 + nedges */
    sim_rec_t *recs_block;     /* every replica model, nkeys records each */
    sim_centry_t *cache_block; /* pull: every edge cache */
    size_t nnodes;
    size_t nedges;
    uint32_t **region_nodes; /* per region: node indices */
    size_t *region_n;
    double *read_cum, *write_cum; /* cumulative region weights */

    sim_conn_t *conns; /* by id; 0 unused */
    size_t nconns, conns_cap;

    /* origin */
    drive_node_t od;       /* the core (od.origin) and its PERSIST in flight */
    lww_replica_t om;      /* its durable records (node 0's block) */
    lww_keys_t *keys;      /* key i is slot i of every replica */
    sim_commit_t *commits; /* [seq - 1] */
    size_t ncommits, commits_cap;
    uint64_t log_first;
    uint64_t *key_last_seq; /* per key: last real commit */
    uint64_t origin_tx_free;
    uint64_t origin_tx_bytes;     /* frame bytes sent on the origin's links, downstream */
    uint64_t edge_tx_frames;      /* frames edges handed to their links (upstream) */
    repl_edge_info_t *saved_acks; /* captured at an origin crash */
    size_t nsaved_acks;
    uint64_t next_pull_seq;

    /* driver scratch */
    repl_action_t acts[SIM_ACTS_CAP];
    const void *hash_key;
    uint64_t hash_val;
    uint8_t *vbuf;
    size_t vbuf_cap;

    /* workload */
    double *zipf_cum;
    uint64_t *key_last_write_ns;
    sim_write_t *writes; /* [wid - 1] */
    size_t nwrites, writes_cap;

    /* measurement */
    sim_hist_t prop_all;     /* the nodes' prop summed when the run ends (sim_run) */
    sim_hist_t *prop_region; /* likewise, per region */
    sim_hist_t read_lat;
    sim_hist_t *read_lat_region;
    uint64_t *tvis_hit, *tvis_n;
    uint64_t kstale[SIM_KSTALE_MAX + 1];
    uint64_t reads, reads_failed, reads_refused, reads_stale_flag;
    uint64_t writes_acked, writes_failed, writes_dropped, writes_delayed;
    uint64_t snapshots, alarms, resets, connects_failed;
    double *lag_mean, *lag_max; /* [sample * nregions + r] */
    size_t nlag, lag_cap;
    sim_check_t *ck;
    hc_t *hc;              /* --history: the clients' history, checked at the end */
    FILE *hist_f;          /* ... and written to the file */
    uint64_t hist_failing; /* failing violations, + 1 when the file is incomplete */
    bool hist_write_failed;
    uint32_t **fault_nodes; /* per fault: the nodes its selector chose */
    size_t *fault_n;
    double wall_s, cpu_s;
    bool started;
    bool done;
};

/* sim.c */
uint64_t sim__mono_ms(const sim_t *s);
uint64_t sim__wall_ms(const sim_t *s, const sim_node_t *n);
/* The cores' wall hook (repl_wall_fn); ctx is the sim_node_t. */
uint64_t sim__core_wall(void *ctx, uint64_t now_ms);
uint64_t sim__virtual_ns(const sim_t *s, uint64_t mono_ms);
bool sim__windows_hit(const sim_windows_t *w, uint64_t a, uint64_t b, uint64_t *end);
void sim__windows_add(sim_windows_t *w, uint64_t start, uint64_t end);
double sim__sample_ms(const sim_dist_t *d, sim_rng_t *r);
sim_ev_t *sim__at(sim_t *s, uint64_t t_ns, uint16_t kind, uint32_t node);

/* net.c */
/* A new connection of edge to its upstream nodes[edge].dial. */
uint32_t sim__conn_new(sim_t *s, uint32_t edge);
/* Send frame bytes over conn, towards the origin (DIR_UP) or the edge:
 * schedules the EV_DELIVER (or, when the frame is lost in reset mode, an
 * EV_RESET of the connection). Takes buf's reference (a repl_buf_t the
 * caller already referenced) or own (malloc'd). */
void sim__send_frame(sim_t *s, uint32_t conn, unsigned dir, repl_buf_t *buf, uint8_t *own,
                     const uint8_t *data, size_t len);
/* One side closed conn: the other hears EV_FIN after the bytes before. */
void sim__close(sim_t *s, uint32_t conn, unsigned dir);
/* Both sides hear of a broken connection at t. */
void sim__reset(sim_t *s, uint32_t conn, uint64_t t);
/* An edge asks to connect: schedules EV_CONNECT (ok or failed). */
void sim__connect(sim_t *s, uint32_t edge);
/* Arrival time over the hop between edge and its first upstream (pull:
 * the origin), no loss. */
uint64_t sim__path_arrival(sim_t *s, uint32_t edge, unsigned dir, uint64_t t);
/* A one-way delay sample over the hop between edge and upstream up, in ns. */
uint64_t sim__hop_delay_ns(sim_t *s, uint32_t edge, uint32_t up);
/* The upstream list's entry for failover turn `turn` (relay policy: its
 * relay, the region's other relays, then the origin when the scenario
 * allows; push: the origin). */
uint32_t sim__upstream(const sim_t *s, uint32_t edge, uint32_t turn);

/* push.c */
void sim__origin_start(sim_t *s, bool restart);
void sim__origin_crash(sim_t *s);
void sim__edge_start(sim_t *s, uint32_t node, bool restart);
void sim__edge_crash(sim_t *s, uint32_t node);
void sim__push_event(sim_t *s, const sim_ev_t *ev);
void sim__origin_rearm(sim_t *s);
void sim__edge_rearm(sim_t *s, uint32_t node);
void sim__push_write(sim_t *s, uint32_t wid);
void sim__origin_drain(sim_t *s, repl_actions_t *a);
void sim__edge_drain(sim_t *s, uint32_t node, repl_actions_t *a);
void sim__value(sim_t *s, uint32_t wid, uint32_t len, const uint8_t **out);
void sim__key(uint32_t key, char *buf, size_t *len);
extern const char SIM_NS[33];

/* pull.c */
void sim__pull_event(sim_t *s, const sim_ev_t *ev);
void sim__pull_write(sim_t *s, uint32_t wid);
bool sim__pull_read(sim_t *s, uint32_t node, uint32_t key, uint64_t read_id);
bool sim__pull_visible(sim_t *s, uint32_t node, uint32_t key, kv_version_t v);

/* workload.c */
void sim__workload_start(sim_t *s);
void sim__workload_event(sim_t *s, const sim_ev_t *ev);
void sim__write_done(sim_t *s, uint32_t wid, int status, uint64_t seq);

/* history.c */
int sim__history_open(sim_t *s, char *err, size_t errlen);
void sim__history_close(sim_t *s);
void sim__history_write(sim_t *s, uint32_t wid, hc_outcome_t outcome);
void sim__history_read(sim_t *s, uint32_t node, uint32_t key, const lww_rec_t *rec, long stale_ms,
                       bool refused);
void sim__history_final(sim_t *s);

/* metrics.c */
void sim__commit(sim_t *s, uint64_t seq, kv_version_t v, uint32_t key, uint32_t wid, uint32_t len,
                 sim_opk_t kind);
void sim__edge_advanced(sim_t *s, uint32_t node, uint64_t from, uint64_t to);
unsigned sim__kstale(const sim_t *s, uint32_t key, kv_version_t v);
void sim__read_done(sim_t *s, uint32_t node, uint32_t key, kv_version_t v, double lat_ms);
void sim__lag_sample(sim_t *s);
void sim__final_checks(sim_t *s);

#endif
