/*
 * replica.h - the libuv driver of the replication core (replication/repl.h).
 *
 * One replica per node. It runs the core on its own event-loop thread (the
 * "replication loop"), which owns the core object, the TLS connections
 * (tls.h) and the timers; storage work (group commits, applies, log reads,
 * snapshot streaming) runs on dedicated worker threads so an fsync never
 * stalls the link.
 *
 * On the origin it listens for edges (unless it is a lone origin: the same
 * core and commit path, no listener); on an edge it keeps one link to the
 * origin, reconnecting with backoff. Writes from the HTTP APIs enter with
 * replica_submit(), whose callback says when the write is durable at the
 * origin and, on an edge, applied locally (read-your-writes at the writing
 * edge); replica_write() is the same, waiting for it.
 */
#ifndef NODE_REPLICA_H
#define NODE_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "judge.h"
#include "kv_limits.h"
#include "repl.h"
#include "store.h"

typedef struct replica replica_t;

/* The origin's replication port unless configured otherwise. */
#define REPLICA_DEFAULT_PORT 7400

/* A relay follows an upstream like an edge and serves edges and relays
 * like an origin, from its own log (replication/repl.h, "The relay"). */
typedef enum { REPLICA_ORIGIN, REPLICA_EDGE, REPLICA_RELAY } replica_role_t;

/* Upstreams an edge or relay may follow, tried in turn. */
#define REPLICA_UPSTREAMS_MAX 8

typedef struct {
    char host[256];
    int port;
} replica_addr_t;

/* "host:port" of a replica_addr_t, NUL included. */
#define REPLICA_ADDR_TEXT_MAX (256 + 8)

typedef struct {
    replica_role_t role;
    uint32_t node_id;
    stor_t *store;  /* borrowed */
    cache_t *cache; /* borrowed */
    /* Origin, relay: where edges (and relays) connect. Edge: the origin's
     * replication address, unless upstreams are given. */
    char host[256];
    int port;
    /* Edge, relay: the upstreams (the origin or relays of its history), in
     * the order they are tried: on a failed connect or a lost link the
     * next one is dialled, after the core's backoff, and the link resumes
     * by sequence wherever the new upstream's log allows. An edge without
     * any follows host:port. */
    replica_addr_t upstreams[REPLICA_UPSTREAMS_MAX];
    size_t upstream_count;
    /* TLS: the cluster CA and this node's certificate and key. */
    char ca_file[4096 + 80], cert_file[4096 + 80], key_file[4096 + 80];
    uint64_t propagation_bound_ms;
    uint64_t heartbeat_interval_ms;
    uint64_t max_clock_offset_ms;
    uint64_t write_timeout_ms;
    uint64_t log_retention;     /* entries kept even when every edge has them */
    uint64_t log_retention_max; /* at most this many for lagging edges */
    /* Origin, relay: a connection to the replication port whose TLS
     * handshake is not done this long after it was accepted is closed
     * (default KV_TLS_HANDSHAKE_TIMEOUT_MS). The link this node dials keeps
     * KV_TLS_HANDSHAKE_TIMEOUT_MS, which ends before the core's own link
     * deadline (KV_REPL_HANDSHAKE_TIMEOUT_MS). */
    uint64_t accept_handshake_timeout_ms;
    bool new_history; /* origin: start a new history (after a restore) */
    /* Origin: a lone origin, without a replication listener (host, port and
     * the TLS files are unused). Its writes take the same path as any
     * origin's: ordered by the core, judged (judge.h), committed with
     * their log entries. */
    bool lone;
    /* Edge: apply a batch of up to REPLICA_INLINE_APPLY_MAX_MUTS mutations
     * on the replication loop itself rather than hand it to the storage
     * worker and back (two thread wakeups per batch). Only for a store
     * whose commits do not wait for an fsync (sync batch or off): the loop
     * must not block on the disk. */
    bool apply_inline;
    /* Called (from the storage worker, or the replication loop for an
     * inline apply) after a commit that changed the
     * stored API tokens: the node reloads its token table. May be NULL. */
    void (*on_tokens)(void *arg);
    void *on_tokens_arg;
    /* Origin: the tokens of its configuration, for the judge's re-check of
     * writes forwarded by edges (judge.h); fn NULL = none. */
    judge_tokens_t tokens;
    /* Origin leadership (replica_ha.c): with etcd endpoints, an origin is a
     * candidate. It campaigns in etcd (node/ha) on the replication loop;
     * while another candidate leads it is a standby, a relay following the
     * leader's advertised address (which serves edges as a relay does);
     * when it wins it becomes the leader over its own store, under the
     * election's term, acknowledging writes once sync_standbys standbys
     * made them durable and only before the election's deadline. */
    struct {
        char endpoints[KV_HA_ENDPOINTS_MAX][KV_HA_URL_MAX_BYTES + 1];
        size_t endpoint_count; /* 0: no leadership (a single origin) */
        char cluster[KV_HA_CLUSTER_MAX_BYTES + 1];
        char name[KV_HA_NAME_MAX_BYTES + 1];
        char address[KV_HA_ADDRESS_MAX_BYTES + 1]; /* HOST:PORT standbys and edges dial */
        uint64_t lease_ms;
        size_t sync_standbys;
        /* This node's certificate name: how the standbys' record names it
         * (node/ha/ha_sync.h). */
        char cert_name[KV_TLS_PEER_NAME_MAX + 1];
    } ha;
} replica_config_t;

void replica_config_defaults(replica_config_t *c, replica_role_t role);

/* Start the replication loop thread. 0 or a negative code (nothing left
 * running on error). */
int replica_start(const replica_config_t *cfg, replica_t **out);

/* Stop the link/listener, finish storage work, join threads, free. */
void replica_stop(replica_t *r);

/* SIGHUP: read the CA, certificate and key files of the configuration
 * again (any thread but the replication loop). When they make a valid
 * context (tls_ctx_create's checks: role, key match) new connections and
 * reconnects use it from the loop's next turn on; established links keep
 * the session they have, so no healthy link drops. 0 then; otherwise
 * KV_ECONFIG (the reason logged) or -ENOMEM, and the previous material
 * stays in use. KV_ENOTFOUND for a lone origin, which has no TLS. */
int replica_reload_tls(replica_t *r);

/* The port the origin's replication listener bound (useful with port 0). */
int replica_port(const replica_t *r);

/* Submit ops and wait for the outcome. Any thread except the replication
 * loop. Returns 0 (results[i] per op: 0 or a negative kv code) or a
 * negative code for the whole write (KV_EUNAVAILABLE, KV_ETIMEDOUT, ...).
 * *seq, when not NULL, gets the log sequence of the last op. */
int replica_write(replica_t *r, const repl_op_t *ops, size_t n, int *results, uint64_t *seq);

/* The outcome of replica_submit, as replica_write returns it. Called once,
 * on the replication loop (or in replica_submit itself when the node is
 * stopping): it must not block; it hands the outcome to its own thread. */
typedef void (*replica_done_fn)(void *arg, int status, uint64_t seq);

/* Submit ops without waiting, from any thread except the replication loop.
 * ops (and the bytes they point to) and results[n] must stay valid until
 * done is called; results[i] is then filled as by replica_write. Returns 0,
 * or -ENOMEM with done never called. */
int replica_submit(replica_t *r, const repl_op_t *ops, size_t n, int *results, replica_done_fn done,
                   void *arg);
/* As replica_submit, but held on the calling thread until it calls
 * replica_submit_flush(): the writes one thread gathers (an HTTP loop's,
 * over one iteration of its I/O) reach the replication loop together,
 * under one lock with at most one wakeup, and an origin sequences them as
 * one group. The thread must flush before it waits for anything (an HTTP
 * loop flushes before it polls: http_handler_t.tail). Writes held
 * for another replica are flushed first. */
int replica_submit_held(replica_t *r, const repl_op_t *ops, size_t n, int *results,
                        replica_done_fn done, void *arg);
/* Hand this thread's held writes to their replica's loop (none: nothing).
 * A stopping node fails them with KV_ESHUTDOWN, here. */
void replica_submit_flush(void);

typedef struct {
    replica_role_t role;
    /* edge, relay (its upstream link) */
    repl_edge_status_t edge;
    /* origin, relay (its downstream links) */
    repl_origin_stats_t origin;
    /* Every known edge (at most KV_REPL_EDGES_MAX); NULL when edge_count
     * is 0. Owned by the copy replica_status made (replica_status_free). */
    repl_edge_info_t *edges;
    size_t edge_count;
    char history_id[33];
    /* Replication links established since start (edge: its link to the
     * origin; origin: every edge's), counted at the TLS handshake. It moves
     * only when a link is (re)made: a certificate reload leaves it. */
    uint64_t links_total;
    bool alarm;
    char alarm_reason[256];
    /* Since start: snapshots this node took (RESETs: edge, relay) and
     * streamed to downstream links (origin, relay); the upstream followed
     * now (edge, relay: "host:port"). */
    uint64_t snapshots_taken, snapshots_served;
    char upstream[REPLICA_ADDR_TEXT_MAX];
    /* An origin candidate that leads (--etcd): the standbys whose acks it
     * counts, as recorded in etcd (node/ha/ha_sync.h); ha_leader false
     * otherwise. */
    bool ha_leader;
    char sync_names[KV_REPL_SYNC_STANDBYS_MAX][KV_TLS_PEER_NAME_MAX + 1];
    size_t sync_count;
} replica_status_t;

/* A consistent copy of the replication state (any thread). 0, or -ENOMEM:
 * then everything but the edges was copied (edges NULL, edge_count 0).
 * Either way release it with replica_status_free. The loop publishes it once
 * per iteration, after that iteration's writers were answered; an origin's
 * last_seq is nonetheless never below the seq of a write it answered (that
 * one is published before the answer leaves). */
int replica_status(replica_t *r, replica_status_t *out);

/* Tests: while frozen the loop publishes no status; replica_status() shows
 * the last one published, with an origin's last_seq still covering every
 * answered write. */
void replica_status_freeze(replica_t *r, bool frozen);
void replica_status_free(replica_status_t *s);

/* The replication port of an origin or relay (replica_net.c), since start:
 * connections evicted from the handshake to make room for newer ones
 * (KV_REPL_HANDSHAKES_MAX, KV_REPL_CONNS_PER_ADDR_MAX), closed at the
 * handshake deadline, closed at once (over a cap with none to evict, out of
 * memory, an accept error), and whose TLS handshake failed (no or a wrong
 * certificate); and the connections not authenticated now (in the handshake,
 * or closed and not yet freed). `listening` false (an edge, a lone origin):
 * no port, all 0. Any thread. */
typedef struct {
    bool listening;
    uint64_t evicted, handshake_timeouts, refused, handshake_failures;
    uint64_t unauthenticated;
} replica_port_stats_t;
void replica_port_stats(replica_t *r, replica_port_stats_t *out);

/* Edge, relay: should reads be refused (strict staleness)? Cheap; any thread.
 * *staleness_ms gets how long since the edge was last caught up with the
 * origin (repl_edge_fresh_until). */
bool replica_is_stale(replica_t *r, uint64_t *staleness_ms);

#endif
