/*
 * band.c - edgekv-band: an empirical CDF with a bootstrap 95 % band, and
 * the nearest-rank p50/p90/p99 with their bootstrap 95 % intervals.
 *
 *   edgekv-band [--resamples B] [--seed S] < VALUES > BAND
 *
 * VALUES: one number a line (the network lab's report feeds it one column
 * of the visibility samples, or of a history's latencies); lines that do
 * not start with a number are skipped. Output, deterministic for a given
 * input and seed (sim/rng.h):
 *
 *   # n N resamples B seed S
 *   # q P EST LO HI          for P = 50, 90, 99: the nearest-rank quantile
 *                            (as report.sh computes it) and the 2.5th and
 *                            97.5th percentiles of its bootstrap copies
 *   X F LO HI                the CDF at X (fraction of values <= X) and
 *                            its band, one line per grid point
 *
 * The grid is the sample's own quantiles at p = 0.005, 0.010, ..., 0.990,
 * then 0.991 ... 0.999 and the maximum: finer in the tail, where a
 * partition's held writes are. Each bootstrap copy draws N indices with
 * replacement from the sorted sample; a copy's CDF at X is the fraction of
 * its draws at or below X, and its quantile the value at the draw of rank
 * ceil(p N), so one pass over the draw counts answers every grid point.
 * The percentile interval (not BCa, not smoothed): the band says how much
 * of a difference between two curves one run's sampling alone explains.
 * Exit 0, 1 on no values, 2 on a usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define BAND_RESAMPLES_DEFAULT 400    /* the 2.5 % tail is 10 copies: a steady band */
#define BAND_RESAMPLES_MAX     100000 /* a bound on the work, not a statistical limit */
#define BAND_GRID_MAX          256    /* 198 body points + 9 tail points + the maximum */

typedef struct {
    double *v;
    size_t n, cap;
} vec_t;

static int vec_push(vec_t *a, double x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        double *v = realloc(a->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, 1-based as report.sh's q(): ceil(p n), at least 1. */
static size_t rank_of(double p, size_t n)
{
    size_t r = (size_t)(p * (double)n + 0.999999);
    return r < 1 ? 1 : (r > n ? n : r);
}

/* The grid's probabilities; returns how many. */
static size_t grid_probs(double *p)
{
    size_t g = 0;
    for (int i = 1; i <= 198; i++)
        p[g++] = i * 0.005;
    for (int i = 1; i <= 9; i++)
        p[g++] = 0.99 + i * 0.001;
    p[g++] = 1.0;
    return g;
}

/* The 2.5th and 97.5th percentiles of b copies (sorted in place). */
static void interval(double *copies, size_t b, double *lo, double *hi)
{
    qsort(copies, b, sizeof(*copies), cmp_double);
    *lo = copies[rank_of(0.025, b) - 1];
    *hi = copies[rank_of(0.975, b) - 1];
}

static const double band_q[] = {0.5, 0.9, 0.99};
#define BAND_NQ (sizeof(band_q) / sizeof(band_q[0]))

typedef struct {
    const double *v; /* the sorted sample */
    size_t n, g;
    size_t *upto;    /* per grid point: how many values are <= its X */
    uint32_t *count; /* draws per index of one copy */
    double *cdf;     /* [g][b]: each copy's CDF at each grid point */
    double *qv;      /* [BAND_NQ][b]: each copy's quantiles */
} band_t;

/* One bootstrap copy: draw, then one pass over the counts. */
static void band_copy(band_t *s, sim_rng_t *rng, size_t b, size_t nb)
{
    size_t n = s->n;
    memset(s->count, 0, n * sizeof(*s->count));
    for (size_t i = 0; i < n; i++)
        s->count[sim_rng_below(rng, n)]++;
    size_t cum = 0, gi = 0, qi = 0;
    for (size_t i = 0; i < n; i++) {
        cum += s->count[i];
        while (qi < BAND_NQ && cum >= rank_of(band_q[qi], n))
            s->qv[qi++ * nb + b] = s->v[i];
        while (gi < s->g && s->upto[gi] == i + 1)
            s->cdf[gi++ * nb + b] = (double)cum / (double)n;
    }
}

static int run(const vec_t *a, size_t nb, uint64_t seed)
{
    double p[BAND_GRID_MAX];
    band_t s = {.v = a->v, .n = a->n, .g = grid_probs(p)};
    s.upto = calloc(s.g, sizeof(*s.upto));
    s.count = calloc(s.n, sizeof(*s.count));
    s.cdf = calloc(s.g * nb, sizeof(*s.cdf));
    s.qv = calloc(BAND_NQ * nb, sizeof(*s.qv));
    if (!s.upto || !s.count || !s.cdf || !s.qv) {
        fprintf(stderr, "edgekv-band: out of memory\n");
        free(s.upto), free(s.count), free(s.cdf), free(s.qv);
        return 1;
    }
    /* Grid points at or below the previous one repeat its X: drop them. */
    size_t g = 0;
    for (size_t i = 0; i < s.g; i++) {
        size_t r = rank_of(p[i], s.n);
        while (r < s.n && s.v[r] == s.v[r - 1])
            r++; /* every value equal to X counts */
        if (g == 0 || r > s.upto[g - 1])
            s.upto[g++] = r;
    }
    s.g = g;
    sim_rng_t rng;
    sim_rng_seed(&rng, seed);
    for (size_t b = 0; b < nb; b++)
        band_copy(&s, &rng, b, nb);

    printf("# n %zu resamples %zu seed %llu\n", s.n, nb, (unsigned long long)seed);
    for (size_t qi = 0; qi < BAND_NQ; qi++) {
        double lo, hi;
        interval(s.qv + qi * nb, nb, &lo, &hi);
        printf("# q %g %.3f %.3f %.3f\n", band_q[qi] * 100, s.v[rank_of(band_q[qi], s.n) - 1], lo,
               hi);
    }
    for (size_t gi = 0; gi < s.g; gi++) {
        double lo, hi;
        interval(s.cdf + gi * nb, nb, &lo, &hi);
        printf("%.3f %.6f %.6f %.6f\n", s.v[s.upto[gi] - 1], (double)s.upto[gi] / (double)s.n, lo,
               hi);
    }
    free(s.upto), free(s.count), free(s.cdf), free(s.qv);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: edgekv-band [--resamples B] [--seed S] < VALUES\n");
    return 2;
}

int main(int argc, char **argv)
{
    size_t nb = BAND_RESAMPLES_DEFAULT;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (i + 1 >= argc)
            return usage();
        errno = 0;
        unsigned long long x = strtoull(argv[i + 1], &end, 10);
        if (errno != 0 || end == argv[i + 1] || *end != '\0')
            return usage();
        if (strcmp(argv[i], "--resamples") == 0 && x >= 40 && x <= BAND_RESAMPLES_MAX)
            nb = (size_t)x;
        else if (strcmp(argv[i], "--seed") == 0)
            seed = x;
        else
            return usage();
        i++;
    }
    vec_t a = {0};
    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *end = NULL;
        double x = strtod(line, &end);
        if (end == line)
            continue;
        if (vec_push(&a, x) != 0) {
            fprintf(stderr, "edgekv-band: out of memory\n");
            free(a.v);
            return 1;
        }
    }
    if (a.n == 0) {
        fprintf(stderr, "edgekv-band: no values\n");
        free(a.v);
        return 1;
    }
    qsort(a.v, a.n, sizeof(*a.v), cmp_double);
    int rc = run(&a, nb, seed);
    free(a.v);
    return rc;
}
