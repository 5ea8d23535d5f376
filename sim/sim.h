/*
 * sim.h - edgekv-sim: a deterministic discrete-event simulation of an
 * edgekv deployment (origin + N edges) driving the real replication core
 * (replication/, the same object files as the node) with virtual time, a
 * seeded fault-injecting network and an in-memory storage model; or the
 * cache-TTL "pull" and relay-tree models for comparison.
 *
 * Usage: sim_create(scenario, seed) -> sim_run() -> sim_print_summary() /
 * sim_write_outputs() -> sim_destroy(). One run per sim_t. Not thread-safe.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "scenario.h"

typedef struct sim sim_t;

typedef struct {
    bool quiet;
    const char *history; /* write the clients' history here and check it (history.c) */
    /* Non-NULL: every (write, edge) visibility sample, as it happens, one
     * "t_commit_ms edge delay_ms" line (edge: 1-based node number; the
     * network lab's samples have the same form). Borrowed; writing to it
     * changes nothing in the run (same events, same trace hash). */
    FILE *visibility;
} sim_options_t;

/* The scenario is borrowed and must outlive the sim. -ENOMEM, -EINVAL
 * (a fault selector that matches nothing, ...; message in err). */
int sim_create(const sim_scenario_t *sc, uint64_t seed, const sim_options_t *opt, sim_t **out,
               char *err, size_t errlen);
void sim_destroy(sim_t *s);

/* Run to the end (duration + quiet), then run the checkers. */
void sim_run(sim_t *s);
/* Run the events before virtual time t_ns (tests); false once the run has
 * reached its end. sim_run() continues from there. */
bool sim_run_until(sim_t *s, uint64_t t_ns);

/* Key figures of a finished run. */
typedef struct {
    uint64_t events;
    double wall_s;
    double events_per_s;
    double cpu_s;            /* process CPU time in the event loop */
    double events_per_cpu_s; /* the speed on an unloaded core */
    uint64_t trace_hash;
    double virtual_s;
    uint64_t writes_issued, writes_acked, writes_failed, writes_dropped;
    uint64_t reads, reads_failed;
    uint64_t commits;
    double prop_p50_ms, prop_p99_ms, prop_p999_ms, prop_max_ms;
    uint64_t prop_samples;
    double read_p50_ms, read_p99_ms;
    double kstale0; /* fraction of reads that returned the latest value */
    uint64_t reconnects, snapshots_started, alarms;
    uint64_t origin_tx_bytes; /* frame bytes the origin sent downstream (its uplink) */
    uint64_t edge_tx_frames;  /* frames edges sent upstream (acks, Hellos, writes) */
} sim_figures_t;

void sim_figures(const sim_t *s, sim_figures_t *out);
const sim_check_t *sim_checks(const sim_t *s);
/* true unless --history was given and its check failed. */
bool sim_history_ok(const sim_t *s);
/* P(visible) at each t-visibility grid point (probe-based); n = scenario ntvis. */
double sim_tvis(const sim_t *s, size_t i);

void sim_print_summary(const sim_t *s, FILE *f);
/* CSV/JSON (and gnuplot plots when gnuplot is installed) into dir. */
int sim_write_outputs(const sim_t *s, const char *dir, bool plots);

#endif
