/*
 * rng.h - the simulator's only source of randomness.
 *
 * xoshiro256** (Blackman & Vigna, https://prng.di.unimi.it/) seeded through
 * splitmix64, so any 64-bit seed (including 0) gives a well-mixed state.
 * Every random choice in a run comes from a sim_rng_t derived from the run's
 * seed (sim_rng_derive), so a run is reproducible byte for byte. Not a
 * cryptographic generator.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} sim_rng_t;

/* Seed in place. */
void sim_rng_seed(sim_rng_t *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t sim_rng_next(sim_rng_t *r);

/* Uniform double in [0,1) with 53 random bits. */
double sim_rng_unit(sim_rng_t *r);

/* Uniform integer in [0,n); n > 0 (Lemire's multiply-shift, nearly unbiased). */
uint64_t sim_rng_below(sim_rng_t *r, uint64_t n);

/* An independent stream for component `stream` of a run seeded with `seed`:
 * the same (seed, stream) always gives the same stream. */
void sim_rng_derive(sim_rng_t *r, uint64_t seed, uint64_t stream);

#endif
