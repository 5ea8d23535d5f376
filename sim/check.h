/*
 * check.h - the simulator's correctness checkers, fed by the simulation or
 * by a test with a synthetic history:
 *   - no version rewind: every observation of a key at an edge (a replica
 *     state after a storage step, or a value returned to a reader) is at
 *     least as new as every earlier one there;
 *   - no acknowledged write lost: every acked write is in the origin's
 *     durable log at its sequence with its version, and the origin's final
 *     version of its key is at least as new;
 *   - convergence: after the quiet period every replica equals the origin
 *     (same version, value and tombstone for every key, same applied seq);
 *   - bound held: in fault-free windows every propagation delay is within
 *     the propagation bound.
 * A checker that saw no input says N/A rather than PASS.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_version.h"
#include "lww.h"

typedef enum { SIM_CHECK_NA, SIM_CHECK_PASS, SIM_CHECK_FAIL } sim_verdict_t;

typedef enum {
    SIM_CK_REWIND,
    SIM_CK_LOST,
    SIM_CK_CONVERGE,
    SIM_CK_BOUND,
    SIM_CK_COUNT
} sim_check_id_t;

typedef struct {
    sim_verdict_t verdict;
    uint64_t checked; /* observations / writes / replicas / deliveries */
    uint64_t violations;
    char first[160]; /* the first violation, in words */
} sim_check_result_t;

/* A replica's record of one key, as the checkers compare it: the replica
 * model's record (sim/lww.h), whose val is the write id of the value (0 for
 * none). */
typedef lww_rec_t sim_check_rec_t;

typedef struct sim_check sim_check_t;

sim_check_t *sim_check_new(size_t nedges, size_t nkeys);
void sim_check_free(sim_check_t *c);

/* Rewind: edge `edge` holds (or returned) version v of key. */
void sim_check_observe(sim_check_t *c, size_t edge, uint32_t key, kv_version_t v, uint64_t t_ns);

/* One entry of the origin's durable log, as the lost-write check sees it. */
typedef struct {
    kv_version_t v;
    uint32_t key;
    uint32_t wid; /* the write's id for a PUT, 0 for a DELETE or a no-op */
    bool tomb;
    bool noop;
} sim_check_logent_t;

/* Lost writes: an acknowledged write (wid 0 for a delete), recorded when
 * acked with the seq the ack named ... */
void sim_check_acked(sim_check_t *c, uint32_t key, uint32_t wid, bool tomb, uint64_t seq);
/* ... checked at the end against the durable log (durable[seq - 1] for
 * seq 1..nseq) and the origin's final records (nkeys). */
void sim_check_lost_final(sim_check_t *c, const sim_check_logent_t *durable, size_t nseq,
                          const sim_check_rec_t *origin_final);

/* Convergence: one replica against the origin (nkeys records each). */
void sim_check_converge(sim_check_t *c, size_t edge, const sim_check_rec_t *replica,
                        uint64_t replica_seq, const sim_check_rec_t *origin, uint64_t origin_seq,
                        bool up);

/* Bound: one delivery in a fault-free window. */
void sim_check_bound(sim_check_t *c, size_t edge, uint64_t seq, double delay_ms, double bound_ms);

const sim_check_result_t *sim_check_result(const sim_check_t *c, sim_check_id_t id);
const char *sim_check_name(sim_check_id_t id);
const char *sim_verdict_name(sim_verdict_t v);
/* true when no checker failed. */
bool sim_check_ok(const sim_check_t *c);

#endif
