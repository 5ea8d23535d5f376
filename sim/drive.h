/*
 * drive.h - the one dispatcher of the replication core's actions outside
 * node/: the simulator (sim/push.c) and the replication tests
 * (tests/replication/repl_testkit_world.c, test_repl_sim.c) hand every
 * action array a core call filled to drive_run(), and complete the storage
 * work it asked for with drive_persisted() / drive_stepped(), which apply
 * it to the node's replica model (sim/lww.h).
 *
 * A drive_node_t wraps one core (an origin, an edge or a relay), its durable
 * replica and the storage work the core is waiting for: at most one
 * PERSIST (origin) or one RESET/APPLY step (edge) at a time, with the
 * mutations it points at (borrowed from the core until completed, as
 * repl.h allows). What only the driver can do (move bytes, open and close
 * connections, decide when storage finishes, record answers, keep a log)
 * it does in the hooks of its drive_ops_t. A hook a role never needs may
 * be NULL: the dispatcher asserts the core never asks for it (an origin
 * never CONNECTs, an edge never PERSISTs).
 *
 * Not a node: no threads, no clock, no sockets. Not thread-safe. Misuse
 * (two PERSISTs at once, a step completed that was not asked for, an
 * APPLY out of log order) aborts through KV_ASSERT.
 */
#ifndef SIM_DRIVE_H
#define SIM_DRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lww.h"
#include "repl.h"

typedef struct drive_node drive_node_t;

typedef struct {
    /* Optional: sees every action before it is carried out. */
    void (*each)(drive_node_t *d, const repl_action_t *act);
    /* Both roles. */
    void (*send)(drive_node_t *d, repl_peer_t peer, const repl_action_t *act);
    void (*close)(drive_node_t *d, repl_peer_t peer);
    void (*write_done)(drive_node_t *d, uint64_t token, int status, uint64_t seq,
                       const int *results, size_t n);
    void (*alarm)(drive_node_t *d, const char *reason); /* optional: d->alarms counts */
    /* Origin: a PERSIST is pending now (d->persist), then the other asks. */
    void (*persist)(drive_node_t *d); /* optional */
    void (*read_log)(drive_node_t *d, repl_peer_t peer, uint64_t from_seq, size_t max_bytes);
    void (*snapshot)(drive_node_t *d, repl_peer_t peer, uint64_t min_seq);
    void (*trim)(drive_node_t *d, uint64_t below_seq);
    /* Edge: CONNECT; a RESET or APPLY is pending now (d->step). */
    void (*connect)(drive_node_t *d);
    void (*step)(drive_node_t *d); /* optional */
    /* drive_persisted: 0, or the code an op fails with (it is then logged
     * as a no-op); not asked for NOOPs. Optional: nothing fails. */
    int (*op_fails)(drive_node_t *d, const repl_mutation_t *m);
    /* drive_persisted: m is durable in the log; fail: its code, when it was
     * logged as a no-op. Optional. */
    void (*logged)(drive_node_t *d, const repl_mutation_t *m, int fail);
    /* drive_stepped, all optional: the replica was emptied (RESET); a key
     * mutation went through LWW at slot (won or not); the applied seq moved
     * from..to; a snapshot's history was stored. */
    void (*reset)(drive_node_t *d);
    void (*applied)(drive_node_t *d, const repl_mutation_t *m, uint32_t slot);
    void (*advanced)(drive_node_t *d, uint64_t from, uint64_t to);
    void (*history)(drive_node_t *d);
} drive_ops_t;

struct drive_node {
    repl_origin_t *origin; /* exactly one of the three */
    repl_edge_t *edge;
    repl_relay_t *relay; /* both roles' actions; its log entries go to ops->logged */
    lww_replica_t *m;    /* the durable replica */
    const drive_ops_t *ops;
    void *ctx; /* the driver's */
    struct {
        bool pending;
        uint64_t batch_id;
        const repl_mutation_t *muts;
        size_t n;
    } persist;
    struct {
        bool pending;
        bool reset;
        const repl_mutation_t *muts;
        size_t n;
        uint64_t seq;
        kv_version_t version; /* of the entry at seq */
        const char *history;
    } step;
    size_t alarms;
};

/* Wrap a core (origin or edge, the other NULL) and its replica. */
void drive_init(drive_node_t *d, repl_origin_t *origin, repl_edge_t *edge, lww_replica_t *m,
                const drive_ops_t *ops, void *ctx);
/* Wrap a relay: its edge actions as an edge's, its origin actions as an
 * origin's; drive_stepped also hands each applied log entry to
 * ops->logged (a relay's APPLY appends to its log, repl.h). */
void drive_init_relay(drive_node_t *d, repl_relay_t *relay, lww_replica_t *m,
                      const drive_ops_t *ops, void *ctx);
/* The core is gone (a crash): storage work it asked for is forgotten. */
void drive_forget(drive_node_t *d);

/* Carry out the actions of the call that filled a, then poll the core for
 * the rest (a is reused, from n = 0) until it has none. */
void drive_run(drive_node_t *d, repl_actions_t *a);

/* The pending PERSIST finished with rc. rc 0: every mutation is committed
 * to the replica in order (those ops->op_fails fails as no-ops; the
 * replica's applied seq follows), ops->logged sees each; then
 * repl_origin_persisted. Its actions land in a (run them with drive_run). */
void drive_persisted(drive_node_t *d, int rc, uint64_t now_ms, repl_actions_t *a);
/* The pending RESET or APPLY finished with rc. rc 0: applied to the
 * replica (RESET empties it; APPLY takes the mutations under LWW, then the
 * applied seq and the history). Then repl_edge_reset_done or
 * repl_edge_applied. */
void drive_stepped(drive_node_t *d, int rc, uint64_t now_ms, repl_actions_t *a);

#endif
