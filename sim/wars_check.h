/*
 * wars_check.h - does a WARS run reproduce the paper?
 *
 * The check behind "the PBS reproduction" (README.md, "PBS t-visibility"):
 * run a scenario of sim/scenarios/pbs_*.json with a seed and compare the run
 * with the numbers the paper published (the scenario's "paper" object),
 * within the paper's own sampling error and rounding (tolerances at
 * sim_wars_check_json in wars_check.c). One implementation for
 * tests/sim/test_wars.c and for edgekv-pbs-check (sim/pbs_check.c), which
 * runs it over a range of seeds, so the README's seed claims come from the
 * same code the tests run. Not a test framework: it reports, the caller
 * decides what a failure means.
 */
#ifndef SIM_WARS_CHECK_H
#define SIM_WARS_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "wars.h"

/* One check of a published number: the paper's value and the range ours
 * allows it in. `checked` is false when the paper gives no such number. */
typedef struct {
    bool checked, ok;
    double paper, lo, hi;
} sim_wars_bound_t;

typedef struct {
    sim_wars_summary_t s;       /* the run's headline numbers */
    sim_wars_bound_t p_t0;      /* P(consistent) at t = 0 */
    sim_wars_bound_t t_target;  /* the Delta at `target`, against the paper's estimator */
    sim_wars_bound_t read_p999; /* 99.9th percentile read latency (ms) */
    sim_wars_bound_t write_p999;
    int failures;  /* checks that failed; 0: the run reproduces the paper */
    char why[512]; /* one clause per failed check, "" when none */
} sim_wars_check_t;

/* Run `scn` (a WARS scenario with a "paper" object that has t_at_target_ms
 * and an "estimator") with `seed`, no files written, nothing printed, and
 * check it. Returns 0 with *out filled (out->failures says whether it
 * reproduced), or a negative errno when the scenario cannot be run or has
 * nothing to check against (out->why says which). */
int sim_wars_check_json(const json_t *scn, const char *name, uint64_t seed, sim_wars_check_t *out);

/* sim_wars_check_json on a file. */
int sim_wars_check_file(const char *path, uint64_t seed, sim_wars_check_t *out);

#endif
