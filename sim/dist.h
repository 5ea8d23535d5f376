/*
 * dist.h - latency / size distributions parsed from JSON scenario specs.
 *
 * Values are milliseconds for latencies (any unit for sizes: the caller
 * decides) and never negative. Specs:
 *   {"type":"constant","value":v}
 *   {"type":"uniform","min":a,"max":b}
 *   {"type":"normal","mean":m,"stddev":s}         truncated at 0 (resampled)
 *   {"type":"lognormal","mu":mu,"sigma":sg}        of the natural log
 *   {"type":"exponential","lambda":l}              rate per ms, mean 1/l
 *   {"type":"pareto","xm":x,"alpha":a}             support [xm, inf)
 *   {"type":"mixture","components":[{"weight":w,"dist":{...}},...]}
 * Mixture weights are normalised; mixtures of exponential and Pareto are the
 * latency fits of Bailis et al., "Probabilistically Bounded Staleness"
 * (VLDB 2012). Any spec may add "offset":c (ms), a constant added to every
 * sample (a propagation floor). A bare JSON number is shorthand for constant.
 */
#ifndef SIM_DIST_H
#define SIM_DIST_H

#include <stddef.h>

#include <jansson.h>

#include "rng.h"

typedef struct sim_dist sim_dist_t;

/* Parse `spec`. On success returns 0 and *out (free with sim_dist_free); on
 * failure returns -EINVAL and writes a message into err (if non-NULL). */
int sim_dist_parse(const json_t *spec, sim_dist_t **out, char *err, size_t errlen);

/* A constant distribution without JSON (free with sim_dist_free). */
sim_dist_t *sim_dist_constant(double value);

/* One draw, >= 0. */
double sim_dist_sample(const sim_dist_t *d, sim_rng_t *r);

/* The mean (INFINITY for a Pareto with alpha <= 1). */
double sim_dist_mean(const sim_dist_t *d);

/* P(X <= x). Every built-in type has a closed form (the normal uses erfc). */
double sim_dist_cdf(const sim_dist_t *d, double x);

/* The q-quantile, q in (0,1), by bisection on the CDF (closed form not
 * needed); accurate to ~1e-9 relative. */
double sim_dist_quantile(const sim_dist_t *d, double q);

/* NULL is a no-op. */
void sim_dist_free(sim_dist_t *d);

#endif
