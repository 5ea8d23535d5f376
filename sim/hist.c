/*
 * hist.c - log-linear histogram (see hist.h).
 */
#include "hist.h"

#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"

static size_t h_idx(uint64_t v)
{
    if (v < SIM_HIST_SUB)
        return (size_t)v;
    int b = 63 - __builtin_clzll(v); /* >= 7 */
    int shift = b - 7;
    size_t i = (size_t)(shift + 1) * SIM_HIST_SUB + (size_t)((v >> shift) - SIM_HIST_SUB);
    return i < SIM_HIST_BUCKETS ? i : SIM_HIST_BUCKETS - 1;
}

/* Midpoint of bucket i, in us. */
static double h_mid(size_t i)
{
    if (i < SIM_HIST_SUB)
        return (double)i;
    size_t shift = i / SIM_HIST_SUB - 1;
    double lo = (double)((SIM_HIST_SUB + i % SIM_HIST_SUB) << shift);
    return lo + (double)((uint64_t)1 << shift) / 2.0;
}

void sim_hist_init(sim_hist_t *h)
{
    memset(h, 0, sizeof *h);
}

void sim_hist_free(sim_hist_t *h)
{
    free(h->c);
    memset(h, 0, sizeof *h);
}

void sim_hist_add(sim_hist_t *h, uint64_t us)
{
    if (!h->c) {
        h->c = calloc(SIM_HIST_BUCKETS, sizeof *h->c);
        KV_ASSERT(h->c != NULL);
    }
    h->c[h_idx(us)]++;
    h->n++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

void sim_hist_add_later(sim_hist_t *h, uint64_t us)
{
    if (us > UINT32_MAX) {
        sim_hist_add(h, us); /* over an hour: not the common case */
        return;
    }
    h->pend[h->npend++] = (uint32_t)us;
    if (h->npend == SIM_HIST_PEND)
        sim_hist_flush(h);
}

void sim_hist_flush(sim_hist_t *h)
{
    uint32_t k = h->npend;
    if (!k)
        return;
    h->npend = 0;
    if (!h->c) {
        h->c = calloc(SIM_HIST_BUCKETS, sizeof *h->c);
        KV_ASSERT(h->c != NULL);
    }
    uint64_t *c = h->c, max = h->max_us;
    double sum = h->sum_us;
    for (uint32_t i = 0; i < k; i++) { /* in the order they came */
        uint64_t us = h->pend[i];
        c[h_idx(us)]++;
        sum += (double)us;
        max = us > max ? us : max;
    }
    h->n += k;
    h->sum_us = sum;
    h->max_us = max;
}

void sim_hist_merge(sim_hist_t *dst, const sim_hist_t *src)
{
    KV_ASSERT(!src->npend && !dst->npend);
    if (!src->n)
        return;
    if (!dst->c) {
        dst->c = calloc(SIM_HIST_BUCKETS, sizeof *dst->c);
        KV_ASSERT(dst->c != NULL);
    }
    for (size_t i = 0; i < SIM_HIST_BUCKETS; i++)
        dst->c[i] += src->c[i];
    dst->n += src->n;
    dst->sum_us += src->sum_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

double sim_hist_quantile_ms(const sim_hist_t *h, double q)
{
    KV_ASSERT(!h->npend);
    if (!h->n)
        return 0;
    if (q >= 1)
        return (double)h->max_us / 1000.0;
    uint64_t rank = (uint64_t)(q * (double)h->n); /* samples strictly below */
    uint64_t acc = 0;
    for (size_t i = 0; i < SIM_HIST_BUCKETS; i++) {
        acc += h->c[i];
        if (acc > rank) {
            double v = h_mid(i);
            if (v > (double)h->max_us)
                v = (double)h->max_us;
            return v / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

double sim_hist_cdf(const sim_hist_t *h, double ms)
{
    KV_ASSERT(!h->npend);
    if (!h->n)
        return 0;
    if (ms < 0)
        return 0;
    double us = ms * 1000.0;
    if (us >= (double)h->max_us)
        return 1.0;
    size_t lim = h_idx((uint64_t)us);
    uint64_t acc = 0;
    for (size_t i = 0; i <= lim; i++)
        acc += h->c[i];
    return (double)acc / (double)h->n;
}

double sim_hist_mean_ms(const sim_hist_t *h)
{
    KV_ASSERT(!h->npend);
    return h->n ? h->sum_us / (double)h->n / 1000.0 : 0;
}

double sim_hist_max_ms(const sim_hist_t *h)
{
    KV_ASSERT(!h->npend);
    return (double)h->max_us / 1000.0;
}
