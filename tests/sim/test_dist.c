/*
 * test_dist.c - unit tests of sim/rng.c and sim/dist.c.
 *
 * Each distribution is sampled 200 000 times with a fixed seed, and checked
 * two ways:
 *
 * - Against the module's own formulas (check_dist): the sample mean against
 *   sim_dist_mean, and F(empirical q-quantile) within 0.006 of q for four q,
 *   about 5 standard errors sqrt(q(1-q)/n) (at most 0.0011 for n = 200 000).
 *   That proves sampling, mean and CDF agree with each other, not that any
 *   of them is the named distribution: a parameter misread the same way by
 *   all three would pass.
 * - Against references that do not come from dist.c (check_uniform,
 *   check_normal, check_lognormal): exact moments, fixed values of the
 *   standard normal CDF (Phi(1) = 0.8413447460685429, ...), and the
 *   empirical CDF at points where the true CDF is known.
 *
 * Tolerances are 5 standard errors of each statistic for n = 200 000:
 *   sample mean         sigma / sqrt(n)
 *   sample variance     sqrt((m4 - s^4) / n), m4 the sample's fourth central
 *                       moment (delta method; sigma^2 sqrt(2/n) for a normal)
 *   empirical CDF at x  sqrt(p (1 - p) / n), p the true F(x)
 * A correct sampler with another seed would miss by 5 standard errors with
 * probability under 1e-6 per check; the seed is fixed, so the tests never
 * fail by chance, and the margin is still small enough that a 2 % error in
 * a scale parameter (a 4 % error in a variance) fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>

#include <cmocka.h>

#include "dist.h"
#include "rng.h"

#define DRAWS 200000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sim_dist_t *parse(const char *json)
{
    json_error_t jerr;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &jerr);
    assert_non_null(j);
    sim_dist_t *d = NULL;
    char err[128];
    int rc = sim_dist_parse(j, &d, err, sizeof err);
    if (rc != 0)
        fail_msg("parse %s: %s", json, err);
    json_decref(j);
    return d;
}

/* Sample, check the mean within rel_tol (relative) and quantiles. */
static void check_dist(const char *json, double rel_tol)
{
    sim_dist_t *d = parse(json);
    sim_rng_t r;
    sim_rng_seed(&r, 42);
    double *xs = malloc(DRAWS * sizeof *xs);
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        xs[i] = sim_dist_sample(d, &r);
        assert_true(xs[i] >= 0);
        sum += xs[i];
    }
    double mean = sum / DRAWS, want = sim_dist_mean(d);
    if (fabs(mean - want) > rel_tol * want)
        fail_msg("%s: mean %g want %g", json, mean, want);
    qsort(xs, DRAWS, sizeof *xs, cmp_double);
    const double qs[] = {0.25, 0.5, 0.9, 0.99};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double emp = xs[(size_t)(qs[i] * DRAWS)];
        double f = sim_dist_cdf(d, emp);
        if (fabs(f - qs[i]) > 0.006)
            fail_msg("%s: F(q%.2f=%g) = %g", json, qs[i], emp, f);
        /* The numeric quantile lands near the empirical one. */
        double qq = sim_dist_quantile(d, qs[i]);
        assert_true(fabs(sim_dist_cdf(d, qq) - qs[i]) < 1e-6);
    }
    free(xs);
    sim_dist_free(d);
}

/* ---- independent references ---------------------------------------------------- */

/* Standard normal CDF and density, from libm, not from dist.c. */
static double ref_phi_cdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static double ref_phi_pdf(double z)
{
    return exp(-0.5 * z * z) / sqrt(2.0 * M_PI);
}

/* A sorted sample with its first four moments. */
typedef struct {
    double *xs;
    double mean, var, m4; /* var and m4: central, divided by n - 1 and n */
} sample_t;

static void draw(const char *json, sample_t *s, double (*f)(double))
{
    sim_dist_t *d = parse(json);
    sim_rng_t r;
    sim_rng_seed(&r, 42);
    s->xs = malloc(DRAWS * sizeof *s->xs);
    assert_non_null(s->xs);
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        double x = sim_dist_sample(d, &r);
        s->xs[i] = f ? f(x) : x;
        sum += s->xs[i];
    }
    s->mean = sum / DRAWS;
    double m2 = 0, m4 = 0;
    for (int i = 0; i < DRAWS; i++) {
        double e = s->xs[i] - s->mean;
        m2 += e * e;
        m4 += e * e * e * e;
    }
    s->var = m2 / (DRAWS - 1);
    s->m4 = m4 / DRAWS;
    qsort(s->xs, DRAWS, sizeof *s->xs, cmp_double);
    sim_dist_free(d);
}

/* Fraction of the sample <= x. */
static double ecdf(const sample_t *s, double x)
{
    size_t lo = 0, hi = DRAWS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->xs[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (double)lo / DRAWS;
}

#define SE_MAX 5.0 /* tolerance, in standard errors (see the top of the file) */

static void near(const char *what, double got, double want, double se)
{
    if (fabs(got - want) > SE_MAX * se)
        fail_msg("%s: %.6g, reference %.6g (|diff| %.3g > %g x se %.3g)", what, got, want,
                 fabs(got - want), SE_MAX, se);
}

/* Mean and variance of the sample against exact values. */
static void check_moments(const char *what, const sample_t *s, double mean, double var)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s: mean", what);
    near(buf, s->mean, mean, sqrt(var / DRAWS));
    snprintf(buf, sizeof buf, "%s: variance", what);
    near(buf, s->var, var, sqrt((s->m4 - s->var * s->var) / DRAWS));
}

/* The empirical CDF at x against the true value p. */
static void check_ecdf(const char *what, const sample_t *s, double x, double p)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s: F(%g)", what, x);
    near(buf, ecdf(s, x), p, sqrt(p * (1 - p) / DRAWS));
}

/* Fixed values of the standard normal CDF (and one of its density), to
 * 16 digits; ref_phi_cdf must reproduce them, so a broken libm or a typo in
 * the reference fails here, not silently in the checks below. */
#define PHI_M1  0.15865525393145707   /* Phi(-1) */
#define PHI_1   0.8413447460685429    /* Phi(1) */
#define PHI_2   0.9772498680518208    /* Phi(2) */
#define PHI_M05 0.3085375387259869    /* Phi(-0.5) */
#define PHI_M5  2.866515718791946e-07 /* Phi(-5) */
#define PDF_05  0.3520653267642995    /* phi(0.5) = phi(-0.5) */

static void test_reference_values(void **state)
{
    (void)state;
    assert_true(fabs(ref_phi_cdf(-1) - PHI_M1) < 1e-15);
    assert_true(fabs(ref_phi_cdf(1) - PHI_1) < 1e-15);
    assert_true(fabs(ref_phi_cdf(2) - PHI_2) < 1e-15);
    assert_true(fabs(ref_phi_cdf(-0.5) - PHI_M05) < 1e-15);
    assert_true(fabs(ref_phi_cdf(-5) - PHI_M5) < 1e-20);
    assert_true(fabs(ref_phi_pdf(0.5) - PDF_05) < 1e-15);
}

static void test_rng_determinism(void **state)
{
    (void)state;
    sim_rng_t a, b, c;
    sim_rng_seed(&a, 1);
    sim_rng_seed(&b, 1);
    sim_rng_seed(&c, 2);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_rng_next(&a);
        assert_int_equal(x, sim_rng_next(&b));
        same_c += x == sim_rng_next(&c);
    }
    assert_int_equal(same_c, 0);
    /* Known-answer: splitmix64(0) first output is 0xe220a8397b1dcdaf. */
    sim_rng_seed(&a, 0);
    assert_int_equal(a.s[0], 0xe220a8397b1dcdafULL);
    /* Derived streams differ from each other and are reproducible. */
    sim_rng_derive(&a, 7, 1);
    sim_rng_derive(&b, 7, 2);
    sim_rng_derive(&c, 7, 1);
    uint64_t x = sim_rng_next(&a);
    assert_int_not_equal(x, sim_rng_next(&b));
    assert_int_equal(x, sim_rng_next(&c));
    for (int i = 0; i < 100000; i++) {
        double u = sim_rng_unit(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(sim_rng_below(&a, 10) < 10);
    }
}

static void test_constant(void **state)
{
    (void)state;
    sim_dist_t *d = parse("{\"type\":\"constant\",\"value\":12.5}");
    sim_rng_t r;
    sim_rng_seed(&r, 1);
    assert_true(sim_dist_sample(d, &r) == 12.5);
    assert_true(sim_dist_mean(d) == 12.5);
    assert_true(sim_dist_cdf(d, 12.4) == 0 && sim_dist_cdf(d, 12.5) == 1);
    sim_dist_free(d);
    d = parse("7");
    assert_true(sim_dist_mean(d) == 7);
    sim_dist_free(d);
}

static void test_uniform(void **state)
{
    (void)state;
    const char *j = "{\"type\":\"uniform\",\"min\":10,\"max\":30}";
    check_dist(j, 0.005);
    /* U(a, b): mean (a+b)/2, variance (b-a)^2/12, F(x) = (x-a)/(b-a). */
    sample_t s;
    draw(j, &s, NULL);
    check_moments("U(10,30)", &s, 20.0, 400.0 / 12);
    check_ecdf("U(10,30)", &s, 12, 0.1);
    check_ecdf("U(10,30)", &s, 15, 0.25);
    check_ecdf("U(10,30)", &s, 29, 0.95);
    assert_true(s.xs[0] >= 10 && s.xs[DRAWS - 1] < 30);
    free(s.xs);
    sim_dist_t *d = parse(j);
    assert_true(sim_dist_mean(d) == 20);
    assert_true(fabs(sim_dist_cdf(d, 15) - 0.25) < 1e-15);
    assert_true(fabs(sim_dist_quantile(d, 0.9) - 28) < 1e-6);
    sim_dist_free(d);
}

/* N(mu, sigma) truncated at 0 (dist.h): with alpha = -mu/sigma, Z = 1 -
 * Phi(alpha) and l = phi(alpha)/Z, the mean is mu + sigma l and the
 * variance sigma^2 (1 + alpha l - l^2) (Johnson, Kotz, Balakrishnan,
 * "Continuous Univariate Distributions" vol. 1, 13.10). The caller gives
 * the values it expects, so the formula is pinned too. */
static void check_truncated_normal(const char *what, const sample_t *s, double mu, double sigma,
                                   double mean, double var)
{
    double alpha = -mu / sigma, z = 1 - ref_phi_cdf(alpha), l = ref_phi_pdf(alpha) / z;
    assert_true(fabs(mu + sigma * l - mean) < 1e-12);
    assert_true(fabs(sigma * sigma * (1 + alpha * l - l * l) - var) < 1e-12);
    check_moments(what, s, mean, var);
}

static void test_normal(void **state)
{
    (void)state;
    const char *j = "{\"type\":\"normal\",\"mean\":50,\"stddev\":10}";
    check_dist(j, 0.005);
    /* 5 sigma above 0: the truncation moves the mean by 1.5e-5, the
     * variance by 1e-4, both far under a standard error. */
    sample_t s;
    draw(j, &s, NULL);
    check_moments("N(50,10)", &s, 50, 100);
    check_ecdf("N(50,10)", &s, 40, PHI_M1);
    check_ecdf("N(50,10)", &s, 50, 0.5);
    check_ecdf("N(50,10)", &s, 60, PHI_1);
    check_ecdf("N(50,10)", &s, 70, PHI_2);
    free(s.xs);
    /* The module's CDF is the truncated one: (Phi(z) - Phi(-5)) / (1 - Phi(-5)). */
    sim_dist_t *d = parse(j);
    assert_true(fabs(sim_dist_cdf(d, 60) - (PHI_1 - PHI_M5) / (1 - PHI_M5)) < 1e-12);
    assert_true(fabs(sim_dist_cdf(d, 70) - (PHI_2 - PHI_M5) / (1 - PHI_M5)) < 1e-12);
    sim_dist_free(d);

    /* Heavily truncated: the mean is the truncated-normal mean, not 1. */
    j = "{\"type\":\"normal\",\"mean\":1,\"stddev\":2}";
    check_dist(j, 0.01);
    draw(j, &s, NULL);
    check_truncated_normal("N(1,2)>0", &s, 1, 2, 2.018320867674067, 1.944701742785468);
    /* F(x) = (Phi((x-1)/2) - Phi(-0.5)) / (1 - Phi(-0.5)) */
    check_ecdf("N(1,2)>0", &s, 1, (0.5 - PHI_M05) / (1 - PHI_M05));
    check_ecdf("N(1,2)>0", &s, 3, (PHI_1 - PHI_M05) / (1 - PHI_M05));
    check_ecdf("N(1,2)>0", &s, 5, (PHI_2 - PHI_M05) / (1 - PHI_M05));
    assert_true(s.xs[0] >= 0);
    free(s.xs);
}

static void test_exponential(void **state)
{
    (void)state;
    check_dist("{\"type\":\"exponential\",\"lambda\":0.25}", 0.01);
    sim_dist_t *d = parse("{\"type\":\"exponential\",\"lambda\":0.25}");
    assert_true(fabs(sim_dist_mean(d) - 4.0) < 1e-12);
    assert_true(fabs(sim_dist_quantile(d, 0.5) - 4.0 * log(2)) < 1e-6);
    sim_dist_free(d);
}

static void test_pareto(void **state)
{
    (void)state;
    /* alpha 3: finite variance, so the sample mean converges. */
    check_dist("{\"type\":\"pareto\",\"xm\":2,\"alpha\":3}", 0.02);
    sim_dist_t *d = parse("{\"type\":\"pareto\",\"xm\":2,\"alpha\":3}");
    assert_true(fabs(sim_dist_mean(d) - 3.0) < 1e-12);
    /* median xm * 2^(1/alpha) */
    assert_true(fabs(sim_dist_quantile(d, 0.5) - 2 * pow(2, 1.0 / 3)) < 1e-6);
    sim_dist_free(d);
    d = parse("{\"type\":\"pareto\",\"xm\":2,\"alpha\":1}");
    assert_true(isinf(sim_dist_mean(d)));
    sim_dist_free(d);
}

static double log_of(double x)
{
    return log(x);
}

static void test_lognormal(void **state)
{
    (void)state;
    const char *j = "{\"type\":\"lognormal\",\"mu\":2,\"sigma\":0.5}";
    check_dist(j, 0.01);
    /* X = e^Y, Y ~ N(2, 0.5): E X = exp(mu + sigma^2/2), Var X = (exp(sigma^2)
     * - 1) exp(2 mu + sigma^2), median e^mu, F(e^(mu + k sigma)) = Phi(k). */
    sample_t s;
    draw(j, &s, NULL);
    check_moments("LN(2,0.5)", &s, exp(2.125), (exp(0.25) - 1) * exp(4.25));
    check_ecdf("LN(2,0.5)", &s, exp(1.5), PHI_M1);
    check_ecdf("LN(2,0.5)", &s, exp(2.0), 0.5);
    check_ecdf("LN(2,0.5)", &s, exp(2.5), PHI_1);
    check_ecdf("LN(2,0.5)", &s, exp(3.0), PHI_2);
    assert_true(s.xs[0] > 0);
    free(s.xs);
    /* The log of the sample is N(2, 0.5): mean 2, variance 0.25. */
    draw(j, &s, log_of);
    check_moments("ln LN(2,0.5)", &s, 2, 0.25);
    free(s.xs);
    sim_dist_t *d = parse(j);
    assert_true(fabs(sim_dist_mean(d) - 8.372897488127265) < 1e-12);
    assert_true(fabs(sim_dist_cdf(d, exp(2.5)) - PHI_1) < 1e-9);
    assert_true(fabs(sim_dist_quantile(d, 0.5) - exp(2.0)) < 1e-6);
    sim_dist_free(d);
}

static void test_mixture(void **state)
{
    (void)state;
    /* A PBS-style fit (LNKD-SSD write latency shape): Pareto body, exp tail. */
    const char *j = "{\"type\":\"mixture\",\"components\":["
                    "{\"weight\":0.9,\"dist\":{\"type\":\"pareto\",\"xm\":0.235,\"alpha\":10}},"
                    "{\"weight\":0.1,\"dist\":{\"type\":\"exponential\",\"lambda\":1.66}}]}";
    check_dist(j, 0.01);
    sim_dist_t *d = parse(j);
    double want = 0.9 * (10 * 0.235 / 9) + 0.1 / 1.66;
    assert_true(fabs(sim_dist_mean(d) - want) < 1e-12);
    sim_dist_free(d);
    /* Unnormalised weights and an offset. */
    check_dist("{\"type\":\"mixture\",\"offset\":5,\"components\":["
               "{\"weight\":3,\"dist\":{\"type\":\"uniform\",\"min\":1,\"max\":2}},"
               "{\"weight\":1,\"dist\":{\"type\":\"exponential\",\"lambda\":0.1}}]}",
               0.01);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"type\":\"exponential\",\"lambda\":0}",
        "{\"type\":\"exponential\"}",
        "{\"type\":\"pareto\",\"xm\":0,\"alpha\":1}",
        "{\"type\":\"uniform\",\"min\":5,\"max\":1}",
        "{\"type\":\"nope\"}",
        "{\"type\":\"mixture\",\"components\":[]}",
        "{\"type\":\"mixture\",\"components\":[{\"weight\":1,\"dist\":{\"type\":\"x\"}}]}",
        "{\"type\":\"constant\",\"value\":1,\"offset\":-1}",
        "-3",
        "\"str\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        sim_dist_t *d = (sim_dist_t *)1;
        char err[128] = "";
        assert_true(sim_dist_parse(j, &d, err, sizeof err) < 0);
        assert_null(d);
        assert_true(err[0] != 0);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_values), cmocka_unit_test(test_rng_determinism),
        cmocka_unit_test(test_constant),         cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_normal),           cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_pareto),           cmocka_unit_test(test_lognormal),
        cmocka_unit_test(test_mixture),          cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
