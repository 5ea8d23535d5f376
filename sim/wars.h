/*
 * wars.h - the PBS "WARS" mode of edgekv-sim.
 *
 * Monte Carlo t-visibility of a Dynamo-style partial quorum, after Bailis,
 * Venkataraman, Franklin, Hellerstein, Stoica, "Probabilistically Bounded
 * Staleness for Practical Partial Quorums", PVLDB 5(8), 2012 (arXiv
 * 1204.6082; tech report UCB/EECS-2012-4), the WARS model:
 *
 *   A coordinator sends a write to all N replicas; replica i receives it after
 *   W[i] and acks after a further A[i]; the write commits at w_t, the W-th
 *   smallest W[i]+A[i]. A read starts t ms after commit and is sent to all N
 *   replicas; replica i gets the request after R[i] and answers with the state
 *   it has at that moment; the answer takes S[i] more. The coordinator keeps
 *   the first R answers (smallest R[i]+S[i]); the read is consistent iff one
 *   of them came from a replica that had the write: w_t + t + R[i] >= W[i].
 *
 * Every delay is drawn independently per message from a sim_dist_t. One trial
 * gives, instead of a yes/no at one t, the exact threshold
 *   t*[trial] = max(0, min over the first R responders of W[i] - w_t - R[i])
 * (the read is consistent at t iff t >= t*), so M trials give the whole
 * empirical curve P(consistent at t) = #{t* <= t} / M at once, from the same
 * (common) random numbers, and the Delta at which it reaches p is an order
 * statistic of t*: no grid, no bisection noise, monotone in t by
 * construction. All randomness comes from sim_rng (deterministic per seed).
 *
 * Scenario files (sim/scenarios/pbs_*.json) have "mode": "wars"; the driver
 * (sim/main.c) should hand such a file to sim_wars_run_file().
 */
#ifndef SIM_WARS_H
#define SIM_WARS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "dist.h"
#include "rng.h"

#define SIM_WARS_N_MAX 64

/* One model instance. The distributions are borrowed, not owned. */
typedef struct {
    int n, r, w;           /* replicas, read quorum, write quorum: 1 <= r,w <= n */
    const sim_dist_t *d_w; /* coordinator -> replica, write request (ms) */
    const sim_dist_t *d_a; /* replica -> coordinator, write ack */
    const sim_dist_t *d_r; /* coordinator -> replica, read request */
    const sim_dist_t *d_s; /* replica -> coordinator, read response */
    /* WAN (optional, NULL = one datacenter): every replica is in its own
     * datacenter; the write coordinator and, independently, the read
     * coordinator sit next to one replica chosen uniformly at random, and
     * each message to or from any other replica is delayed by a further draw
     * of d_remote (the paper's WAN scenario: constant 75 ms). */
    const sim_dist_t *d_remote;
    uint64_t trials; /* > 0 */
    uint64_t seed;
} sim_wars_params_t;

/* Sorted per-trial samples (ascending), each of length `trials`. */
typedef struct {
    uint64_t trials;
    double *tstar;     /* consistency thresholds t* (ms) */
    double *read_lat;  /* read latency: R-th smallest R[i]+S[i] */
    double *write_lat; /* write latency (commit time w_t) */
} sim_wars_result_t;

/* Run the Monte Carlo. 0, or -EINVAL (bad parameters) / -ENOMEM. */
int sim_wars_simulate(const sim_wars_params_t *p, sim_wars_result_t *out);

void sim_wars_result_free(sim_wars_result_t *res);

/* Empirical P(consistent read | read starts t ms after commit). */
double sim_wars_p_consistent(const sim_wars_result_t *res, double t);

/* The smallest t with sim_wars_p_consistent(t) >= p, p in (0,1]. */
double sim_wars_t_for(const sim_wars_result_t *res, double p);

/* The q-quantile (q in (0,1]) of a sorted sample of length n (nearest rank). */
double sim_wars_quantile(const double *sorted, uint64_t n, double q);

/*
 * The paper's own estimator, emulated: at each grid point t = start, start +
 * step, ... <= max it drew `per_point` fresh trials and reported the first t
 * whose estimate reached `target` (the authors' Simulator.java "SWEEP"). With
 * many grid points near the threshold this first-passage estimate is biased
 * low. Emulation: the stale count at each t is Binomial(per_point, 1 - P(t))
 * with P(t) taken from `res`; `reps` repetitions (seeded) give the
 * distribution of what that procedure reports. out[0..reps) receives the
 * reported t values, sorted (INFINITY if the grid never reaches target).
 * Returns 0 or -EINVAL.
 */
typedef struct {
    double start_ms, step_ms, max_ms;
    uint64_t per_point;
    int reps;
} sim_wars_sweep_t;

int sim_wars_emulate_sweep(const sim_wars_result_t *res, const sim_wars_sweep_t *sw, double target,
                           uint64_t seed, double *out);

/* Headline numbers of one run (95% intervals are Monte Carlo intervals:
 * normal approximation for the probability, order-statistic ranks for the
 * quantile). */
typedef struct {
    uint64_t trials;
    double p_t0, p_t0_lo, p_t0_hi; /* P(consistent) at t = 0 */
    double target;                 /* e.g. 0.999 */
    double t_target, t_target_lo, t_target_hi;
    double read_p50, read_p999, write_p50, write_p999;
    /* The paper's estimator emulated (sim_wars_emulate_sweep), when the
     * scenario's "paper" object has an "estimator": quantiles of the t it
     * would report (sweep_reps == 0: not run). */
    int sweep_reps;
    double sweep_p005, sweep_p025, sweep_p50, sweep_p975, sweep_p995;
} sim_wars_summary_t;

void sim_wars_summarize(const sim_wars_result_t *res, double target, sim_wars_summary_t *out);

/*
 * Run one scenario (see README.md "PBS t-visibility" for the format). `seed` is the run
 * seed (the scenario never carries one). If out_dir is non-NULL, writes
 *   <out_dir>/<name>.tvis.csv       t_ms,p_consistent,stale,trials
 *   <out_dir>/<name>.summary.json   the summary, the paper's numbers, source
 * If report is non-NULL, prints a human summary with the paper's published
 * numbers (the scenario's "paper" object) side by side. If summary_out is
 * non-NULL it receives the headline numbers; if result_out is non-NULL it
 * receives the samples (free with sim_wars_result_free). Returns 0 or a
 * negative errno; on error a message goes to `report` (or stderr).
 */
int sim_wars_run_json(const json_t *scenario, const char *name, uint64_t seed, const char *out_dir,
                      FILE *report, sim_wars_summary_t *summary_out, sim_wars_result_t *result_out);

/* sim_wars_run_json on a file; the name defaults to the file's base name. */
int sim_wars_run_file(const char *scenario_path, uint64_t seed, const char *out_dir, FILE *report);

#endif
