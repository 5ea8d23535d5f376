/*
 * hist.h - a log-linear histogram of non-negative durations (microseconds)
 * for percentiles and CDFs without keeping the samples.
 *
 * 128 linear sub-buckets per power of two: values below 128 us are exact,
 * larger ones are kept to within 1/128 (0.8 %) of their value. Max and sum
 * are exact. Counts are 64-bit; one histogram is ~36 KiB.
 */
#ifndef SIM_HIST_H
#define SIM_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_HIST_SUB     128
#define SIM_HIST_BUCKETS (SIM_HIST_SUB * 36) /* up to 2^42 us (~50 days) */

/* Samples sim_hist_add_later keeps before it adds them all at once. */
#define SIM_HIST_PEND 32

typedef struct {
    uint64_t *c; /* SIM_HIST_BUCKETS counts, allocated on first add */
    uint64_t n;
    uint64_t max_us;
    double sum_us;
    uint32_t npend; /* samples in pend, not yet in c, n, max_us, sum_us */
    uint32_t pend[SIM_HIST_PEND];
} sim_hist_t;

void sim_hist_init(sim_hist_t *h);
void sim_hist_free(sim_hist_t *h);
void sim_hist_add(sim_hist_t *h, uint64_t us);
/* The same sample, added with the SIM_HIST_PEND - 1 after it (or at
 * sim_hist_flush): one add into a 36 KiB table missed the cache at each
 * sample of the simulator's 300 edges' propagation histograms (5 % of
 * world300_push), where a batch of adds waits for its misses together.
 * Counts, maximum and the sum of whole microseconds do not depend on when
 * they are added. Every reader and sim_hist_merge want no sample pending
 * (asserted): flush first. */
void sim_hist_add_later(sim_hist_t *h, uint64_t us);
void sim_hist_flush(sim_hist_t *h);
void sim_hist_merge(sim_hist_t *dst, const sim_hist_t *src);
/* The q-quantile in ms (q in [0,1]); 0 when empty. */
double sim_hist_quantile_ms(const sim_hist_t *h, double q);
/* Fraction of samples <= ms. */
double sim_hist_cdf(const sim_hist_t *h, double ms);
double sim_hist_mean_ms(const sim_hist_t *h);
double sim_hist_max_ms(const sim_hist_t *h);

#endif
