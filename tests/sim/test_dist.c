/*
 * test_dist.c - unit tests of sim/rng.c and sim/dist.c.
 *
 * Each distribution is sampled 200 000 times with a fixed seed; the sample
 * mean and three empirical quantiles are checked against closed forms
 * (quantiles via the CDF: F(empirical q-quantile) must be within 0.006 of q,
 * ~3 standard errors of sqrt(q(1-q)/n) for n = 200 000... with margin).
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
    check_dist("{\"type\":\"uniform\",\"min\":10,\"max\":30}", 0.005);
}

static void test_normal(void **state)
{
    (void)state;
    check_dist("{\"type\":\"normal\",\"mean\":50,\"stddev\":10}", 0.005);
    /* Heavily truncated: the mean is the truncated-normal mean, not 1. */
    check_dist("{\"type\":\"normal\",\"mean\":1,\"stddev\":2}", 0.01);
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

static void test_lognormal(void **state)
{
    (void)state;
    check_dist("{\"type\":\"lognormal\",\"mu\":2,\"sigma\":0.5}", 0.01);
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
        cmocka_unit_test(test_rng_determinism), cmocka_unit_test(test_constant),
        cmocka_unit_test(test_uniform),         cmocka_unit_test(test_normal),
        cmocka_unit_test(test_exponential),     cmocka_unit_test(test_pareto),
        cmocka_unit_test(test_lognormal),       cmocka_unit_test(test_mixture),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
