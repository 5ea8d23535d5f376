/*
 * repl.h - the sans-I/O replication core: the origin and edge state machines.
 *
 * No sockets, no storage, no clock of its own: events go in (bytes from a
 * peer, a storage completion, the current time as an argument), actions come out
 * (send these bytes to that peer, persist this group of mutations, apply this
 * batch, answer that writer), and repl_*_deadline() says when to call back
 * (it is O(1): a driver simply asks after every call).
 * node/ drives it with libuv, TLS and RocksDB; sim/ drives the very same
 * object files with a virtual clock, a seeded network and an in-memory store.
 *
 * The protocol (frames are proto/frame.h length-prefixed protobuf messages,
 * defined in proto/edgekv.proto):
 *   edge -> origin   Hello{history_id, applied_seq, node_id, hlc_ms,
 *                    applied_version, probe}
 *   origin -> edge   Welcome{history_id, mode RESUME|SNAPSHOT, origin_seq,
 *                    from_seq, diverged, echo}; then SnapshotChunk*,
 *                    SnapshotEnd{seq, history_id, version} when SNAPSHOT
 *                    (streamed by the driver),
 *                    then MutationBatch{mutations with seq} as the log grows,
 *                    and Heartbeat{origin_seq, origin_time_ms, echo} every
 *                    heartbeat interval (echo: the edge's latest probe)
 *   edge -> origin   ProgressAck{applied_seq, probe} after applying, and as
 *                    a probe every KV_REPL_PROBE_INTERVAL_MS while streaming,
 *                    WriteRequest{request_id, hlc_hint, ops}
 *   origin -> edge   WriteResult{request_id, status, seq, results} once
 *                    durable
 *   either           Refuse{reason} before closing a refused link
 *
 * Resume proof: a sequence number alone does not say which write it was.
 * An origin that does not sync every commit (sync=batch|off) can crash,
 * come back with a lower last_seq and give those numbers to other writes;
 * an edge that had received the lost ones would then resume "in step" and
 * stay diverged. So an edge keeps, with its applied seq, the version of the
 * entry at that seq (every write's version is unique: HLC + node id) and
 * sends it in Hello; the origin resumes it only if its own log entry at
 * that seq has that version, reading the entry from storage (READ_LOG)
 * when it is not in memory. Anything else is a snapshot, never a refusal:
 * an edge ahead of the origin, a version that differs, an entry already
 * trimmed (the log keeps the entry at the slowest edge's ack for this), no
 * version (an edge or a stored position from before the proof). Welcome
 * says `diverged` when the position was off the history, and the edge
 * reports it (RESET's reason). A different history_id is still refused.
 *
 * Ordering: only the origin stamps versions (HLC, advanced past the edge's
 * hint, refusing hints more than max_clock_offset_ms ahead of both its wall
 * and its HLC: see max_clock_offset_ms and "Clocks") and assigns log
 * sequence numbers; every replica applies under last-writer-wins, so
 * duplicated, reordered or replayed batches converge. Ops that fail at the
 * origin (e.g. a duplicate namespace title) still consume their sequence as
 * a no-op, so an edge's stream has no gaps.
 *
 * Ownership: pointers inside actions borrow core memory valid until the
 * next call into the same core object (process an action array before
 * calling again, poll included), with three exceptions that outlive it:
 *   - SEND data/len point into `buf`, a reference-counted buffer (the same
 *     one may go to many peers: one encoding per fan-out). A driver that
 *     writes asynchronously keeps it without copying: repl_buf_ref(buf)
 *     before the next call, repl_buf_unref(buf) once written. One that
 *     copies the bytes need do nothing.
 *   - PERSIST muts stay valid until repl_origin_persisted() for that batch
 *     returns; APPLY muts and history_id until repl_edge_applied() for it
 *     returns (storage runs off the event loop).
 *   - CLOSE/ALARM reasons are static strings.
 * Pointers passed in are borrowed for the duration of the call only (the
 * core copies what it keeps). The core appends to the caller's array; the
 * driver resets `n` between calls.
 *
 * Allocation failure: payload allocations (value copies, frames) fail the
 * write or the link; the core's small bookkeeping (action queue, peer
 * tables) aborts through KV_ASSERT, since a state machine that has lost an
 * action cannot continue correctly.
 *
 * Clocks: two, never compared with each other.
 *   - now_ms, the argument of every call, is the driver's MONOTONIC clock
 *     (node/: CLOCK_BOOTTIME, which also counts a suspend; sim/: virtual
 *     time). Everything measured uses it and only it: heartbeats, handshake,
 *     link and write timeouts, reconnect backoff, staleness and lag, ages
 *     and forget times. A step of the wall clock (NTP, a VM resumed, an
 *     operator) therefore neither fires nor delays a timer, nor makes an edge
 *     stale or fresh. Values derived from it (deadlines, last_heard_ms,
 *     repl_edge_fresh_until) are judged only against the same clock.
 *   - The WALL clock (ms since the Unix epoch) is read through the config's
 *     `wall` function, and only for what leaves the process as a point in
 *     time: the physical part of HLC timestamps (versions stamped, hints,
 *     Hello.hlc_ms), origin_time_ms in batches and heartbeats, and an edge's
 *     last_ack_ms (which the node saves across restarts). The default reads
 *     CLOCK_REALTIME; the simulator and the unit tests inject their own
 *     (virtual time plus a per-node skew) through the same hook. It is
 *     passed the call's now_ms so a virtual wall can be derived from it.
 *     (A hook rather than a second time argument on every call: only the
 *     HLC needs the wall, and the signatures stay as they were.)
 * Wall steps only move HLC physical time, which never goes backwards: a
 * step back makes stamps advance by their logical counter until the wall
 * catches up, and the origin keeps accepting every hint up to what its own
 * HLC issued (see max_clock_offset_ms). An edge's clock holds only the
 * highest version it has seen; its hint is the next timestamp after that,
 * or its wall if later, and is not remembered, so an edge wall that ran
 * ahead for a while leaves no trace once it is back.
 *
 * Terms (fencing): with origin leadership (node/ha), each leader writes
 * under its term (etcd's create_revision of its leader key, which grows
 * with every new leader) and its history carries it: every log entry it
 * writes has that term, and its Welcome, MutationBatch and Heartbeat frames
 * carry it (a relay sends the largest term it has seen). Every replica
 * keeps the largest term it has seen (stored with its position through
 * APPLY's term) and refuses a Welcome, batch or heartbeat of a smaller
 * one: it sends Refuse and drops the link, counts it (terms_refused) and
 * reconnects after the backoff, so a deposed leader's late batches are
 * refused everywhere and the replica moves on to its next upstream. Not a
 * refusal for good (unlike another history): the next upstream may lead.
 * Terms order the leaders of one history: a replica that takes the
 * snapshot of an origin restored from a backup of its history (a new
 * history, repl.h "parent_history") takes that origin's term, lower or not.
 * An origin without leadership has term 0 (fields absent on the wire), and
 * nothing changes for it; one restarted without leadership over a history
 * written under terms keeps the largest term of its log (the driver's
 * config), so its replicas follow it again.
 *
 * Not thread-safe: one owner (an event loop or the simulator) per object.
 */
#ifndef REPL_REPL_H
#define REPL_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_limits.h"
#include "kv_version.h"

/* A reference-counted, immutable buffer of frame bytes (see SEND). The
 * count is not atomic: take and drop references on the core's thread. */
typedef struct repl_buf repl_buf_t;
/* Take one more reference; returns b. */
repl_buf_t *repl_buf_ref(repl_buf_t *b);
/* Drop one reference; the last one frees the buffer. NULL is a no-op. */
void repl_buf_unref(repl_buf_t *b);

/* A connection, numbered by the driver (never reused while open). */
typedef uint32_t repl_peer_t;

typedef enum {
    REPL_OP_NOOP = 0, /* a failed op's sequence slot */
    REPL_OP_PUT,
    REPL_OP_DELETE,
    REPL_OP_NS_CREATE,
    REPL_OP_NS_RENAME,
    REPL_OP_NS_DELETE,
    /* API tokens travel the log too, so a revocation reaches every edge
     * within the propagation bound. key = token id; value = the token's
     * record (opaque to the core: JSON the node defines). ns_id is all
     * zeros (REPL_TOKEN_NS_ID). */
    REPL_OP_TOKEN_PUT,
    REPL_OP_TOKEN_DELETE
} repl_op_kind_t;

#define REPL_TOKEN_NS_ID "00000000000000000000000000000000"
/* A token id (the key of a token op): at most this many bytes. */
#define REPL_TOKEN_ID_MAX_BYTES 64
/* A token record (the value of TOKEN_PUT): at most this many bytes. */
#define REPL_TOKEN_RECORD_MAX_BYTES (64u * 1024u)

/* Op kinds that carry a key, and a value. */
static inline int repl_op_has_key(repl_op_kind_t k)
{
    return k == REPL_OP_PUT || k == REPL_OP_DELETE || k == REPL_OP_TOKEN_PUT ||
           k == REPL_OP_TOKEN_DELETE;
}
static inline int repl_op_has_value(repl_op_kind_t k)
{
    return k == REPL_OP_PUT || k == REPL_OP_TOKEN_PUT;
}

/* One logical write. Strings are not NUL-terminated unless noted. */
typedef struct {
    repl_op_kind_t kind;
    char ns_id[KV_NS_ID_LEN + 1]; /* NUL-terminated; all kinds but NOOP */
    const char *key;              /* PUT, DELETE */
    size_t key_len;
    const uint8_t *value; /* PUT */
    size_t value_len;
    const char *metadata; /* PUT; JSON, NULL = none */
    size_t metadata_len;
    int64_t expiration;  /* PUT; absolute seconds, 0 = never */
    const char *account; /* NS_CREATE; NUL-terminated */
    const char *title;   /* NS_CREATE, NS_RENAME; NUL-terminated */
    /* Who asked, for the origin's re-check of forwarded writes (never part
     * of the logged op). Into repl_edge_write: the id of the API token the
     * write was authenticated with (NUL-terminated, at most
     * KV_AUTH_ID_MAX_BYTES; the same on every op of the write), NULL for
     * none; it travels once per WriteRequest (token_id). Out of the origin
     * core (PERSIST): on every op of a forwarded write, that id ("" when the
     * edge named none), with request_head set on the write's first op; NULL
     * on the origin's own writes, whose API checked them. */
    const char *auth_id;
    bool request_head;
} repl_op_t;

/* An op with its place in history. */
typedef struct {
    uint64_t seq;
    kv_version_t version;
    uint64_t term; /* of the leader that wrote it (0: none; see "Terms") */
    repl_op_t op;
    /* The mutation's encoding (an edgekv.Mutation, as repl_mutation_encode
     * writes it), which goes into batch frames as it is: from log reads
     * (repl_origin_log_read: the entry's stored bytes, and then `op` may be
     * left empty), and in an origin's PERSIST (the core encodes a group
     * once; the driver writes these bytes as the log entries, `op` is
     * whole). seq, version and term must match the encoding (wire.h,
     * repl_mutation_peek). NULL everywhere else. */
    const uint8_t *enc;
    size_t enc_len;
} repl_mutation_t;

/* What the core asks its driver to do. Each kind's payload is the union
 * member of the same name in repl_action_t (CONNECT and RESET have none). */
typedef enum {
    REPL_ACT_SEND,       /* write these bytes (whole frames) to the peer, in
                            order */
    REPL_ACT_CLOSE,      /* close the connection. The core has already
                            forgotten it: report nothing more about it (no
                            on_bytes/on_disconnect; they are ignored) */
    REPL_ACT_CONNECT,    /* edge: open the link to the origin now */
    REPL_ACT_PERSIST,    /* origin: commit muts[0..n) durably, in one batch, then
                            call repl_origin_persisted(batch_id, results) */
    REPL_ACT_READ_LOG,   /* origin: read the log from from_seq for peer (at
                            least one entry, then up to max_bytes), then call
                            repl_origin_log_read */
    REPL_ACT_SNAPSHOT,   /* origin: after writing the SENDs before it, stream
                            a consistent snapshot to peer (SnapshotChunk
                            frames, then SnapshotEnd{seq, history_id,
                            version} where seq is the last committed seq it
                            contains, at least min_seq, and version that
                            entry's; see wire.h), then call
                            repl_origin_snapshot_sent */
    REPL_ACT_TRIM_LOG,   /* origin: log entries with seq < below_seq may be
                            dropped */
    REPL_ACT_RESET,      /* edge: a snapshot begins (u.reset says why): remove
                            every record and
                            namespace and clear the stored history_id and
                            applied seq (one batch, so a crash mid-snapshot
                            restarts fresh), then repl_edge_reset_done */
    REPL_ACT_APPLY,      /* edge: apply muts[0..n) under LWW and set the
                            applied seq to seq and its version to version
                            (the resume proof), in one batch (n may be 0: only
                            advance; seq 0: a snapshot chunk, leave both
                            alone); also store history_id when non-NULL; then
                            call repl_edge_applied(seq) */
    REPL_ACT_WRITE_DONE, /* answer a writer */
    REPL_ACT_ALARM       /* an operator must look (history changed, storage
                            failed) */
} repl_act_kind_t;

typedef struct {
    repl_act_kind_t kind;
    union {
        struct {
            repl_peer_t peer;
            const uint8_t *data; /* whole frames: data[0..len) */
            size_t len;
            repl_buf_t *buf; /* the buffer data points into (see Ownership) */
        } send;
        struct {
            repl_peer_t peer;
            const char *reason; /* static */
        } close;
        struct {
            uint64_t batch_id;
            const repl_mutation_t *muts; /* each with its encoding (enc): the log entry */
            size_t n;
            size_t bytes; /* the group's size as KV_REPL_GROUP_MAX_BYTES counts it */
        } persist;
        struct {
            repl_peer_t peer;
            uint64_t from_seq;
            size_t max_bytes;
        } read_log;
        struct {
            repl_peer_t peer;
            uint64_t min_seq;
            const char *reason; /* static: why this edge needs one */
        } snapshot;
        struct {
            uint64_t below_seq;
        } trim;
        struct {
            const char *reason; /* static: why the replica is replaced */
            bool diverged;      /* its position was not on the origin's history
                                   (a driver logs this as a warning) */
        } reset;
        struct {
            const repl_mutation_t *muts;
            size_t n;
            uint64_t seq;           /* 0: a snapshot chunk */
            kv_version_t version;   /* seq != 0: the entry at seq's version
                                       (zero: unknown) */
            const char *history_id; /* NUL-terminated, set after a snapshot */
            uint64_t term;          /* the largest term seen: store it with
                                       the position ("Terms") */
        } apply;
        struct {
            uint64_t token;
            int status;         /* 0 or a negative kv code */
            uint64_t seq;       /* the write's last seq when status is 0 */
            const int *results; /* per op, n entries (0 or the op's kv code) */
            size_t n;
        } write_done;
        struct {
            const char *reason; /* static */
        } alarm;
    } u;
} repl_action_t;

/* Caller-sized action array: the core appends; when it is full the core
 * keeps the rest queued and repl_*_poll() returns them next. */
typedef struct {
    repl_action_t *acts;
    size_t cap;
    size_t n;
} repl_actions_t;

/* The wall clock (see "Clocks" above): milliseconds since the Unix epoch,
 * given the call's monotonic now_ms (which a real clock ignores). */
typedef uint64_t (*repl_wall_fn)(void *ctx, uint64_t now_ms);

/* The default wall: CLOCK_REALTIME (ctx and now_ms unused). */
uint64_t repl_wall_realtime(void *ctx, uint64_t now_ms);

/* ------------------------------------------------------------------------------------- */

typedef struct repl_origin repl_origin_t;

/*
 * Replication protocol versions. Each end sends the protocol it speaks
 * (Hello.protocol, Welcome.protocol; protocol 1, the baseline, is sent as
 * an absent field, so builds from before the field count as 1) and the link
 * runs at the lower of the two: a newer end talks down. Each end refuses a
 * peer below its own minimum, with an ALARM that says which side to
 * upgrade. Bump KV_REPL_PROTOCOL when a change needs both ends to know it;
 * raise KV_REPL_PROTOCOL_MIN when support for an old protocol is dropped.
 * A rolling upgrade goes edges first, then the origin: an upgraded edge
 * still talks to the old origin as long as that origin's protocol is at
 * least the edge's minimum.
 */
#define KV_REPL_PROTOCOL     1
#define KV_REPL_PROTOCOL_MIN 1
_Static_assert(KV_REPL_PROTOCOL_MIN >= 1 && KV_REPL_PROTOCOL_MIN <= KV_REPL_PROTOCOL,
               "the protocol window");

/* The longest build name (Hello.software, Welcome.software) kept from a
 * peer; longer ones are cut, and any byte but [0-9A-Za-z.+_~-] becomes '?'
 * (safe in logs, JSON and Prometheus labels). */
#define KV_REPL_SOFTWARE_MAX 32

typedef struct {
    uint32_t node_id;
    char history_id[33];    /* 32 hex, NUL-terminated; stable per data set */
    uint64_t last_seq;      /* last committed sequence (from storage) */
    uint64_t log_first_seq; /* oldest seq still in the log (last_seq+1 if empty) */
    uint64_t hlc_last;      /* highest version timestamp stored */
    uint64_t heartbeat_interval_ms;
    /* A write's hint (an edge's HLC reading) more than this ahead of both
     * the origin's wall clock and the origin's own HLC is refused
     * (KV_ECLOCK): a hint never above what the origin issued is accepted
     * whatever the wall says, so a wall stepped back or an HLC restored
     * ahead of it never stops writes; only an edge clock that really runs
     * ahead is refused, so that it cannot drag versions into the future. */
    uint64_t max_clock_offset_ms;
    repl_wall_fn wall; /* HLC physical time; default repl_wall_realtime */
    void *wall_ctx;
    uint64_t log_retention;       /* entries kept even if no edge needs them ... */
    uint64_t log_retention_max;   /* ... and at most this many whatever edges need */
    size_t peer_buffer_max_bytes; /* unflushed bytes per edge before it is "behind" */
    /* Unflushed bytes over peer_buffer_max_bytes that close the link ("edge
     * not reading"); 0: KV_REPL_PEER_BUFFER_SLACK_BYTES. */
    size_t peer_buffer_slack_bytes;
    /* A link "behind" that flushes nothing for this long is closed; 0:
     * KV_REPL_PEER_STALL_MS. */
    uint64_t peer_stall_ms;
    size_t group_max_ops; /* ops per PERSIST (a bigger single write goes alone) */
    /* PERSISTs in flight at once, 1..KV_REPL_GROUPS_IN_FLIGHT_MAX (0: 1).
     * The driver must then report them in the order they were emitted, and
     * judge and commit each one after the ones before it (a FIFO storage
     * worker does both). */
    size_t groups_in_flight;
    size_t tail_max_bytes; /* in-memory tail of recent mutations */
    /* The protocol spoken and the oldest accepted from an edge; 0 takes
     * KV_REPL_PROTOCOL / KV_REPL_PROTOCOL_MIN (tests set others). */
    uint32_t protocol, protocol_min;
    /* This node's build, sent in every Welcome (NULL: not sent; the node
     * sets EDGEKV_VERSION). */
    const char *software;
    /* The history this one was started over by a restore from a backup
     * ("" none): an edge still on it is sent a snapshot (Welcome names the
     * parent, and the edge accepts it) instead of being refused. */
    char parent_history[33];
    /* The term it writes under ("Terms"): a leader's etcd term, or for an
     * origin without leadership the largest term of its log (0: none). */
    uint64_t term;
    /* Leadership ("Synchronous standbys" below). leadership: this origin
     * leads only until the time given by repl_origin_lead_until (none at
     * first); false: always (a lone origin). sync_standbys: a committed
     * write is answered only once this many standby links acknowledged it
     * (0: at once, as a lone origin does). sync_timeout_ms: how long a
     * committed write waits for them before it is answered KV_EUNAVAILABLE
     * (0: KV_REPL_SYNC_TIMEOUT_DEFAULT_MS). */
    bool leadership;
    size_t sync_standbys;
    uint64_t sync_timeout_ms;
    /* sync_named: only the standbys the driver names count
     * (repl_origin_sync_names: the set it published in etcd); false: any
     * sync_standbys standby links do. */
    bool sync_named;
} repl_origin_config_t;

/* Defaults for every tunable; identity and log position are left zero. */
void repl_origin_config_default(repl_origin_config_t *cfg);

/* KV_ECONFIG for a config that cannot work, -ENOMEM. */
int repl_origin_create(const repl_origin_config_t *cfg, repl_origin_t **out);
void repl_origin_destroy(repl_origin_t *o);

/* Connection events. on_connect: a TLS-authenticated edge; `name` is the
 * name its certificate proved (NUL-terminated, 1..KV_TLS_PEER_NAME_MAX
 * bytes; copied) and is its identity here, not the node id its Hello
 * claims: a node id, once bound to a name, is refused to every other name
 * (until the edge is forgotten, KV_REPL_EDGE_FORGET_MS), and a name speaks
 * for one node id at a time (while its link is up, a Hello with another is
 * refused; once it is down, the name may move to a new node id, e.g. an edge
 * reinstalled with empty data, and its old record is dropped). So one
 * certificate can never replace another edge's link, move its acknowledged
 * position or hold more than one record. A missing or overlong name closes
 * the link. */
void repl_origin_on_connect(repl_origin_t *o, repl_peer_t p, const char *name, uint64_t now_ms,
                            repl_actions_t *a);
void repl_origin_on_bytes(repl_origin_t *o, repl_peer_t p, const uint8_t *data, size_t len,
                          uint64_t now_ms, repl_actions_t *a);
/* The driver wrote `len` bytes of earlier SENDs to p's socket (bytes of
 * snapshot frames the driver writes itself are not counted). */
void repl_origin_on_flushed(repl_origin_t *o, repl_peer_t p, size_t len, uint64_t now_ms,
                            repl_actions_t *a);
void repl_origin_on_disconnect(repl_origin_t *o, repl_peer_t p, uint64_t now_ms, repl_actions_t *a);

/*
 * Synchronous standbys (origin leadership). A standby is an origin
 * candidate that does not lead: it follows the leader as a relay does (the
 * full log, the same history id and sequence numbers, each entry durable
 * before it acks). The driver marks its links (repl_origin_peer_standby,
 * after on_connect, from what the certificate proved). With sync_standbys
 * k > 0, a committed write is answered (WRITE_DONE, WriteResult) only once
 * k standby links have acknowledged its seq, so every acknowledged write is
 * durable on a standby that can take over. With `leadership`, a write is
 * answered only while now_ms < the time given to repl_origin_lead_until
 * (the election's deadline, on the same monotonic clock): a write arriving
 * after it is refused KV_EUNAVAILABLE at once, and every write still
 * waiting is answered KV_EUNAVAILABLE at that time, whatever the standbys
 * said. A write that waits sync_timeout_ms without its standby acks is
 * answered KV_EUNAVAILABLE too: no standby reachable means no
 * acknowledgement, never one without a standby copy. Such a write is in the
 * leader's log and may still reach the edges or be lost at a failover: an
 * unacknowledged write, which a client retries (puts and deletes are
 * idempotent under last-writer-wins).
 */
void repl_origin_peer_standby(repl_origin_t *o, repl_peer_t p); /* emits nothing */
/* With sync_named: the standbys whose acks count, by certificate name
 * (copied; at most KV_REPL_SYNC_STANDBYS_MAX names of at most
 * KV_TLS_PEER_NAME_MAX bytes, else KV_EINVAL and nothing changes). A
 * write is answered once every named standby has acknowledged it, and only
 * when the set holds sync_standbys names: the driver names a standby only
 * once the set is recorded where a successor looks before it claims
 * (node/replica/replica_ha.c), and only one that holds every write that
 * may have been acknowledged (repl_origin_stats_t.answer_seq). Answers what
 * the new set allows at once. */
int repl_origin_sync_names(repl_origin_t *o, const char *const *names, size_t n, uint64_t now_ms,
                           repl_actions_t *a);
/* The leadership deadline (monotonic, as now_ms): answers stop at until_ms.
 * A driver passes each renewal's new deadline, and 0 once deposed. */
void repl_origin_lead_until(repl_origin_t *o, uint64_t until_ms, uint64_t now_ms,
                            repl_actions_t *a);

/* Raise the term it writes under and sends from now on (a standby that
 * takes over continues the history under its new term). A smaller term is
 * ignored: terms never go back. */
void repl_origin_set_term(repl_origin_t *o, uint64_t term);

/* A write arriving at the origin's own API (1..KV_REPL_WRITE_MAX_OPS ops,
 * checked with repl_op_check). Answered by WRITE_DONE(token), maybe within
 * this call (KV_EINVAL, KV_ETOOBIG, KV_EBUSY, KV_EIO after a failed commit). */
void repl_origin_write(repl_origin_t *o, uint64_t token, const repl_op_t *ops, size_t n,
                       uint64_t now_ms, repl_actions_t *a);

/* Group commit across a run of writes: between cork and uncork, writes are
 * stamped, sequenced and queued but no group starts, so a driver that
 * takes several writes at once (a wakeup's worth) commits them as one
 * group instead of sending the first alone while the rest wait behind it.
 * Uncork starts the groups there is room for. Nothing else changes: the
 * order, the answers and a failure's handling are those of the writes
 * passed one by one. */
void repl_origin_cork(repl_origin_t *o);
void repl_origin_uncork(repl_origin_t *o, repl_actions_t *a);

/* Storage completions. results[i]: 0 or the op's negative kv code (it then
 * was logged as a no-op). rc != 0: nothing was committed (the core fails
 * the writers and stops: a storage that cannot commit must not be written
 * around). */
void repl_origin_persisted(repl_origin_t *o, uint64_t batch_id, int rc, const int *results,
                           uint64_t now_ms, repl_actions_t *a);
/* muts: the log from the requested seq on, consecutive. n == 0 or a first
 * seq past the requested one (trimmed meanwhile) closes the link: the edge
 * reconnects and takes a snapshot. A mutation with `enc` is sent as those
 * bytes, not encoded again from its op (the driver's copy of its stored
 * entry: no decode and re-encode per entry). */
void repl_origin_log_read(repl_origin_t *o, repl_peer_t p, int rc, const repl_mutation_t *muts,
                          size_t n, uint64_t now_ms, repl_actions_t *a);
void repl_origin_snapshot_sent(repl_origin_t *o, repl_peer_t p, int rc, uint64_t seq,
                               uint64_t now_ms, repl_actions_t *a);

/* Seed a known edge at start-up from the driver's own record of acks
 * (repl_origin_edges), so that a restart does not trim the log past an
 * edge that was away meanwhile. `name` is the certificate name node_id was
 * bound to (repl_edge_info_t.name; NUL-terminated, copied): it stays bound
 * after the restart, and another name claiming node_id is refused. NULL or
 * "" (a record from before names were kept): the first edge whose Hello
 * claims node_id binds it. last_ack_ms (wall clock) is only reported
 * back; the record's forget time (KV_REPL_EDGE_FORGET_MS) counts from the
 * first call after start-up, on the monotonic clock, which does not
 * survive a restart. KV_EINVAL (acked past last_seq, or a name over
 * KV_TLS_PEER_NAME_MAX bytes), KV_ELIMIT (KV_REPL_EDGES_MAX). */
int repl_origin_restore_edge(repl_origin_t *o, uint32_t node_id, const char *name,
                             uint64_t acked_seq, uint64_t last_ack_ms);

void repl_origin_tick(repl_origin_t *o, uint64_t now_ms, repl_actions_t *a);
void repl_origin_poll(repl_origin_t *o, repl_actions_t *a);
/* When repl_origin_tick() has something to do (UINT64_MAX = never): the
 * earliest handshake timeout or heartbeat of any link, kept up to date by
 * every call, so asking costs O(1). */
uint64_t repl_origin_deadline(const repl_origin_t *o);

typedef struct {
    uint32_t node_id;
    char name[KV_TLS_PEER_NAME_MAX + 1]; /* the certificate name it is bound to, or "" */
    repl_peer_t peer;
    bool connected;
    uint64_t acked_seq;
    uint64_t lag_seq;
    uint64_t lag_ms;      /* age of the oldest unacknowledged mutation */
    uint64_t last_ack_ms; /* wall clock of its last ack (as restored, if none since) */
    uint64_t sent_seq;    /* last seq sent on the current link */
    bool behind;          /* its buffer is full: served by catch-up */
    bool snapshotting;    /* a snapshot is streaming to it */
    bool standby;         /* an origin candidate, streaming (repl_origin_peer_standby) */
    /* From its last Hello: the build it runs ("" when it did not say) and
     * the protocol it speaks (0: not heard yet). */
    char software[KV_REPL_SOFTWARE_MAX + 1];
    uint32_t protocol;
} repl_edge_info_t;

typedef struct {
    uint64_t last_seq;
    uint64_t log_first_seq;
    uint64_t term;             /* the term it writes under and sends */
    uint64_t sync_seq;         /* the seq sync_standbys standbys acknowledged */
    size_t sync_waiting;       /* committed writes waiting for standby acks */
    size_t standbys;           /* standby links streaming */
    uint64_t answer_seq;       /* every write up to here may have been
                                * acknowledged to a client; none past it */
    uint64_t writes_committed; /* ops committed (failed ops excluded) */
    size_t edges_connected;
    int failed; /* 0, or the commit error that stopped writes */
} repl_origin_stats_t;

void repl_origin_stats(const repl_origin_t *o, repl_origin_stats_t *out);
/* Fill up to cap edge records (ages as of now_ms); returns how many edges
 * are known. */
size_t repl_origin_edges(const repl_origin_t *o, uint64_t now_ms, repl_edge_info_t *out,
                         size_t cap);

/* ------------------------------------------------------------------------------------- */

typedef struct repl_edge repl_edge_t;

typedef struct {
    uint32_t node_id;
    char history_id[33]; /* "" for a fresh replica */
    uint64_t applied_seq;
    /* The version of the entry at applied_seq (zero: unknown): the resume proof. */
    kv_version_t applied_version;
    uint64_t hlc_last; /* highest version stored here */
    uint64_t propagation_bound_ms;
    uint64_t write_timeout_ms;
    uint64_t reconnect_min_ms, reconnect_max_ms;
    /* Failed connects per backoff step (0 or 1: each doubles the delay).
     * A driver with a list of N upstreams, which dials the next one after
     * each failure, passes N: every upstream of the list is tried once at
     * the same delay before the delay doubles, so a failover to a later
     * upstream does not wait out a backoff the earlier ones built up. */
    size_t reconnect_round;
    uint64_t seed;            /* backoff jitter */
    uint64_t link_timeout_ms; /* silence after which the link is dropped */
    repl_wall_fn wall;        /* HLC physical time; default repl_wall_realtime */
    void *wall_ctx;
    /* As repl_origin_config_t's: spoken, and the oldest accepted from the
     * origin; 0 takes the defaults. */
    uint32_t protocol, protocol_min;
    const char *software; /* sent in every Hello, as the origin's */
    /* The largest term seen, as stored with the position ("Terms"). */
    uint64_t term;
    /* Queued batches (or snapshot chunks) that follow each other go to
     * storage as one APPLY of up to this many mutations, so a backlog
     * costs one storage step per many frames. 0 or 1 (the default): one
     * frame per APPLY. Not for a relay's upstream part (it logs each
     * frame as it came). The APPLY's muts then point into an array the
     * core owns until the step's completion, as always. */
    size_t apply_merge_max_muts;
    /* Acks (progress reports: the origin trims its log and reports lag by
     * them) are coalesced to one per KV_REPL_ACK_INTERVAL_MS while the
     * apply queue is busy. false (the default): an idle edge acks each
     * step at once, as a synchronous standby must (its acks answer
     * writes). true: idle too, the first ack after a quiet interval at
     * once and the rest at its end; for an edge whose acks answer no
     * write, so that at a steady write rate its origin reads up to a
     * hundred acks a second instead of one per batch. */
    bool ack_coalesce_idle;
} repl_edge_config_t;

/* Defaults for every tunable; identity and position are left zero. */
void repl_edge_config_default(repl_edge_config_t *cfg);

/* KV_ECONFIG for a config that cannot work, -ENOMEM. */
int repl_edge_create(const repl_edge_config_t *cfg, repl_edge_t **out);
void repl_edge_destroy(repl_edge_t *e);

/* Start: emits CONNECT. */
void repl_edge_start(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
void repl_edge_on_connect(repl_edge_t *e, repl_peer_t p, uint64_t now_ms, repl_actions_t *a);
void repl_edge_on_connect_failed(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
/* The upstream to dial is a new one (a new leader's address, read from
 * etcd): the backoff the old one built up is forgotten, and a link that is
 * down waiting for its next attempt is dialled now. Nothing otherwise. */
void repl_edge_redial(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
void repl_edge_on_bytes(repl_edge_t *e, const uint8_t *data, size_t len, uint64_t now_ms,
                        repl_actions_t *a);
void repl_edge_on_disconnect(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);

/* A write arriving at this edge's API: forwarded to the origin, answered
 * (WRITE_DONE) once the origin made it durable AND this edge applied it.
 * Answered at once with KV_EUNAVAILABLE when the link is not live, KV_EBUSY
 * when too many writes are pending, KV_EINVAL/KV_ETOOBIG for a bad write. */
void repl_edge_write(repl_edge_t *e, uint64_t token, const repl_op_t *ops, size_t n,
                     uint64_t now_ms, repl_actions_t *a);

void repl_edge_reset_done(repl_edge_t *e, int rc, uint64_t now_ms, repl_actions_t *a);
void repl_edge_applied(repl_edge_t *e, int rc, uint64_t seq, uint64_t now_ms, repl_actions_t *a);

void repl_edge_tick(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a);
void repl_edge_poll(repl_edge_t *e, repl_actions_t *a);
/* When repl_edge_tick() has something to do (UINT64_MAX = never); O(1). */
uint64_t repl_edge_deadline(const repl_edge_t *e);

typedef enum {
    REPL_LINK_DOWN,
    REPL_LINK_CONNECTING,
    REPL_LINK_SYNCING, /* hello sent, or a snapshot streaming */
    REPL_LINK_LIVE,
    REPL_LINK_REFUSED /* history changed: alarm raised, not applying and not
                         reconnecting until the process restarts */
} repl_link_state_t;

typedef struct {
    repl_link_state_t link;
    uint64_t applied_seq;
    uint64_t origin_seq; /* latest the origin announced */
    uint64_t lag_seq;
    uint64_t lag_ms;        /* now - when the oldest unapplied seq was announced */
    uint64_t last_heard_ms; /* local time of the last frame from the origin */
    bool stale;             /* now_ms > repl_edge_fresh_until(): see there */
    uint64_t staleness_ms;  /* now - the last time it was caught up (since start if never) */
    /* From the upstream's last Welcome: its build ("" when it did not say)
     * and protocol (0: no Welcome yet). */
    char upstream_software[KV_REPL_SOFTWARE_MAX + 1];
    uint32_t upstream_protocol;
    uint64_t term;          /* the largest term seen ("Terms") */
    uint64_t terms_refused; /* frames refused for a smaller term (links dropped) */
    uint64_t refused_term;  /* the term of the last one refused (0: none) */
    /* A standby: the largest seq its leader said may have been acknowledged
     * to a client (Welcome/MutationBatch/Heartbeat acked_seq). An origin
     * candidate campaigns only while applied_seq >= acked_seen, so the
     * winner holds every write acknowledged up to what it was told. */
    uint64_t acked_seen;
} repl_edge_status_t;

void repl_edge_status(const repl_edge_t *e, uint64_t now_ms, repl_edge_status_t *out);

/* The one staleness rule, for drivers that answer reads on other threads
 * and must not lock the core per answer: publish these two values after
 * every call into the core (before carrying out its actions) and judge with
 * them. Answers are fresh while now_ms <= the returned time, which is 0
 * (stale whatever the clock says) while there is no history, the edge has
 * never caught up, a snapshot is half applied or the history was refused,
 * and else caught_up + propagation_bound_ms. caught_up is a time on the
 * edge's own clock by which everything the origin had committed is applied
 * here: the edge stamps its Hello and acks with its clock (a probe, sent
 * every KV_REPL_PROBE_INTERVAL_MS even with nothing to ack), the origin
 * echoes the latest stamp in its Welcome and heartbeats next to its
 * origin_seq, and once that origin_seq is applied, caught_up is the echoed
 * stamp. Neither hearing the origin nor a frame's arrival is enough: an
 * edge that resumes behind a backlog (after its own restart, the origin's,
 * or a cut link) is stale until it has applied what the origin announced,
 * and a frame held up on the way (a frozen link) dates only from the probe
 * it echoes. From an origin that echoes nothing (built before probes), an
 * announcing frame's arrival is taken instead. *since_ms gets the local
 * time staleness is measured from (caught_up, or the start). */
uint64_t repl_edge_fresh_until(const repl_edge_t *e, uint64_t *since_ms);

/* The verdict at now_ms, from a repl_edge_fresh_until() value. */
static inline bool repl_stale_at(uint64_t fresh_until_ms, uint64_t now_ms)
{
    return fresh_until_ms == 0 || now_ms > fresh_until_ms;
}

/* Storage steps queued (or in flight) and their bytes. A driver stops
 * reading from the link while this is above its high-water mark and resumes
 * below a low one, so a fast origin (a snapshot stream, a burst) is slowed
 * by TCP instead of overflowing the queue, which would drop the link. */
void repl_edge_backlog(const repl_edge_t *e, size_t *items, size_t *bytes);

/* ------------------------------------------------------------------------------------- */

/*
 * The relay: an edge part that follows an upstream (the origin or another
 * relay) exactly as an edge does, composed with an origin part that serves
 * downstream edges and relays as the origin does, from the relay's own log
 * of what it applied. It starts no history: it keeps its upstream's history
 * id and sequence numbers, so an edge may move between the origin and any
 * relay of the same history and resume by sequence (repl.h's resume proof)
 * whenever the new upstream's log window holds its position.
 *
 * Actions: the edge part's (CONNECT, RESET, APPLY, WRITE_DONE for
 * repl_relay_write) and the origin part's (READ_LOG, SNAPSHOT, TRIM_LOG);
 * SEND and CLOSE name the upstream link or a downstream one by the peer ids
 * the driver gave them (one id space). Never PERSIST. For a relay:
 *   - APPLY with seq != 0 also appends muts to the relay's log, in the same
 *     batch (READ_LOG reads it; a snapshot chunk, seq 0, is not logged);
 *   - RESET also empties the log; the origin part is rebuilt when the
 *     snapshot's SnapshotEnd step is applied (every downstream link is
 *     closed at the RESET and comes back, mostly for a snapshot);
 *   - SNAPSHOT streams the relay's own store (its applied seq and version).
 * Staleness composes: the relay echoes a downstream probe only once its own
 * catch-up time has passed the probe's arrival (origin_stream.c), and
 * announces its upstream's latest seq; so an edge behind a stale relay is
 * stale, and never fresher than the relay. A downstream edge whose position
 * is past the relay's log (it came from a relay further along) waits until
 * the relay's log reaches it, or is given a snapshot once the relay is
 * caught up with an upstream that does not hold that position.
 * Writes forwarded by downstream links travel upstream as the relay's own
 * WriteRequests (with the token id they named) and are answered downstream
 * once this relay has applied them. Ownership and threading as above.
 */
typedef struct repl_relay repl_relay_t;

typedef struct {
    /* The edge part: identity (node_id), the stored position (history_id,
     * applied_seq, applied_version, hlc_last) and the link timers. */
    repl_edge_config_t up;
    /* The origin part's tunables (heartbeat_interval_ms, log_retention*,
     * peer buffers, tail_max_bytes, protocol) and log_first_seq, the oldest
     * entry of the relay's stored log (0: none stored). Its node_id,
     * history_id, last_seq and hlc_last are taken from `up`. */
    repl_origin_config_t down;
} repl_relay_config_t;

/* Tokens of repl_relay_write must be below this (the relay numbers the
 * writes it forwards for downstream links at and above it). */
#define REPL_RELAY_TOKEN_LIMIT (UINT64_C(1) << 63)

void repl_relay_config_default(repl_relay_config_t *cfg);
/* KV_ECONFIG, -ENOMEM. */
int repl_relay_create(const repl_relay_config_t *cfg, repl_relay_t **out);
void repl_relay_destroy(repl_relay_t *r);

/* Start: emits CONNECT (for the upstream link). */
void repl_relay_start(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a);
/* The upstream link: as repl_edge_on_*. */
void repl_relay_up_connect(repl_relay_t *r, repl_peer_t p, uint64_t now_ms, repl_actions_t *a);
void repl_relay_up_connect_failed(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a);
void repl_relay_up_redial(repl_relay_t *r, uint64_t now_ms,
                          repl_actions_t *a); /* repl_edge_redial */
void repl_relay_up_bytes(repl_relay_t *r, const uint8_t *data, size_t len, uint64_t now_ms,
                         repl_actions_t *a);
void repl_relay_up_disconnect(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a);
/* Downstream links: as repl_origin_on_*. A link that arrives while the
 * relay holds no history yet is closed. */
void repl_relay_down_connect(repl_relay_t *r, repl_peer_t p, const char *name, uint64_t now_ms,
                             repl_actions_t *a);
void repl_relay_down_bytes(repl_relay_t *r, repl_peer_t p, const uint8_t *data, size_t len,
                           uint64_t now_ms, repl_actions_t *a);
void repl_relay_down_flushed(repl_relay_t *r, repl_peer_t p, size_t len, uint64_t now_ms,
                             repl_actions_t *a);
void repl_relay_down_disconnect(repl_relay_t *r, repl_peer_t p, uint64_t now_ms, repl_actions_t *a);
/* A write at the relay's own API: as repl_edge_write (token below
 * REPL_RELAY_TOKEN_LIMIT). */
void repl_relay_write(repl_relay_t *r, uint64_t token, const repl_op_t *ops, size_t n,
                      uint64_t now_ms, repl_actions_t *a);
/* Storage completions: as repl_edge_reset_done / repl_edge_applied and
 * repl_origin_log_read / repl_origin_snapshot_sent. */
void repl_relay_reset_done(repl_relay_t *r, int rc, uint64_t now_ms, repl_actions_t *a);
void repl_relay_applied(repl_relay_t *r, int rc, uint64_t seq, uint64_t now_ms, repl_actions_t *a);
void repl_relay_log_read(repl_relay_t *r, repl_peer_t p, int rc, const repl_mutation_t *muts,
                         size_t n, uint64_t now_ms, repl_actions_t *a);
void repl_relay_snapshot_sent(repl_relay_t *r, repl_peer_t p, int rc, uint64_t seq, uint64_t now_ms,
                              repl_actions_t *a);
/* Seed a known downstream link at start-up, as repl_origin_restore_edge
 * (the driver's record of what its edges and relays acknowledged), so that
 * the relay's own restart neither trims its log past an edge that is away
 * nor forgets which certificate a node id is bound to. KV_EINVAL also while
 * the relay holds no history (nothing to keep a position in). */
int repl_relay_restore_edge(repl_relay_t *r, uint32_t node_id, const char *name, uint64_t acked_seq,
                            uint64_t last_ack_ms);

void repl_relay_tick(repl_relay_t *r, uint64_t now_ms, repl_actions_t *a);
void repl_relay_poll(repl_relay_t *r, repl_actions_t *a);
/* The earlier of both parts' deadlines; O(1). */
uint64_t repl_relay_deadline(const repl_relay_t *r);

/* The upstream view (as repl_edge_status), and the staleness rule of the
 * relay's own answers (as repl_edge_fresh_until). */
void repl_relay_status(const repl_relay_t *r, uint64_t now_ms, repl_edge_status_t *out);
uint64_t repl_relay_fresh_until(const repl_relay_t *r, uint64_t *since_ms);
void repl_relay_backlog(const repl_relay_t *r, size_t *items, size_t *bytes);
/* The downstream view (as repl_origin_stats / repl_origin_edges; zero and
 * 0 while the relay holds no history). */
void repl_relay_stats(const repl_relay_t *r, repl_origin_stats_t *out);
size_t repl_relay_edges(const repl_relay_t *r, uint64_t now_ms, repl_edge_info_t *out, size_t cap);

#endif
