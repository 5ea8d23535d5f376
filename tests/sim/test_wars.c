/*
 * test_wars.c - unit tests of the PBS WARS mode (sim/wars.c).
 *
 * 1. Closed forms. With A and the read-request leg R constant (a, r), S
 *    i.i.d. continuous (so the first R responders are a uniformly random
 *    R-subset, independent of the writes) and W ~ Exp(lambda), the replicas
 *    that had the write at commit are exactly the W fastest, and every other
 *    replica's arrival exceeds the W-th one by an independent Exp(lambda)
 *    (memorylessness). A read starting t after commit is stale iff all R of
 *    its responders are outside the write quorum and each excess exceeds
 *    t + a + r:
 *        P(consistent at t) = 1 - C(N-W,R)/C(N,R) * exp(-R lambda (t+a+r)),
 *    whose t = 0, a = r = 0 value is the paper's equation (1) for
 *    non-expanding probabilistic quorums. (A single replica, N = 1, is never
 *    stale under WARS: the write commits only once that replica has it.)
 * 2. Always-consistent cases: constant delays; any strict quorum (R+W > N).
 * 3. Determinism: same seed, same bytes; another seed, other numbers.
 * 4. Reproduction of the paper's LNKD-SSD (and LNKD-DISK, YMMR, WAN) N=3,
 *    R=W=1 numbers from the scenario files, by sim_wars_check_file (its
 *    tolerances are explained in sim/wars_check.c), and that check failing
 *    when a published number is changed.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dist.h"
#include "wars.h"
#include "wars_check.h"

#ifndef SIM_SCENARIO_DIR
#error "SIM_SCENARIO_DIR (the sim/scenarios directory) must be defined"
#endif

static sim_dist_t *parse(const char *json)
{
    json_error_t jerr;
    json_t *spec = json_loads(json, JSON_DECODE_ANY, &jerr);
    assert_non_null(spec);
    sim_dist_t *d = NULL;
    char err[128];
    assert_int_equal(sim_dist_parse(spec, &d, err, sizeof err), 0);
    json_decref(spec);
    return d;
}

static double choose(int n, int k)
{
    if (k < 0 || k > n)
        return 0;
    double c = 1;
    for (int i = 1; i <= k; i++)
        c = c * (n - k + i) / i;
    return c;
}

/* ------------------------------------------------------------------ 1 */

static void check_exponential_case(int n, int w, int r, double lambda, double a, double rr)
{
    char buf[64];
    snprintf(buf, sizeof buf, "{\"type\":\"exponential\",\"lambda\":%.17g}", lambda);
    sim_dist_t *dw = parse(buf);
    sim_dist_t *da = sim_dist_constant(a);
    sim_dist_t *dr = sim_dist_constant(rr);
    sim_dist_t *ds = parse("{\"type\":\"exponential\",\"lambda\":1}");
    const uint64_t m = 200000;
    sim_wars_params_t p = {.n = n,
                           .r = r,
                           .w = w,
                           .d_w = dw,
                           .d_a = da,
                           .d_r = dr,
                           .d_s = ds,
                           .trials = m,
                           .seed = 42};
    sim_wars_result_t res;
    assert_int_equal(sim_wars_simulate(&p, &res), 0);

    double c = choose(n - w, r) / choose(n, r);
    const double ts[] = {0, 0.1, 0.5, 1, 2, 5};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        double exact = 1 - c * exp(-r * lambda * (ts[i] + a + rr));
        double got = sim_wars_p_consistent(&res, ts[i]);
        /* five binomial standard errors (plus a floor for p near 1) */
        double tol = 5 * sqrt(exact * (1 - exact) / (double)m) + 1e-5;
        if (fabs(got - exact) > tol)
            fail_msg("N=%d W=%d R=%d t=%g: P=%f, closed form %f (tol %g)", n, w, r, ts[i], got,
                     exact, tol);
    }
    /* The 99.9% point: closed form t = ln(c / 0.001) / (R lambda) - a - r,
     * checked against our order statistic at p -/+ 5 standard errors. */
    double texact = log(c / 0.001) / (r * lambda) - a - rr;
    if (texact < 0)
        texact = 0;
    double se = 5 * sqrt(0.999 * 0.001 / (double)m);
    double lo = sim_wars_t_for(&res, 0.999 - se), hi = sim_wars_t_for(&res, 0.999 + se);
    if (texact < lo - 1e-12 || texact > hi + 1e-12)
        fail_msg("N=%d W=%d R=%d: t99.9 closed form %g outside [%g, %g]", n, w, r, texact, lo, hi);

    sim_wars_result_free(&res);
    sim_dist_free(dw);
    sim_dist_free(da);
    sim_dist_free(dr);
    sim_dist_free(ds);
}

static void test_closed_form_exponential(void **state)
{
    (void)state;
    check_exponential_case(3, 1, 1, 1.0, 0, 0);     /* eq. (1): 2/3 stale at t=0 */
    check_exponential_case(2, 1, 1, 0.5, 0, 0);     /* 1 - e^{-lambda t}/2 */
    check_exponential_case(5, 2, 1, 0.5, 0, 0);     /* 3/5 stale at t=0 */
    check_exponential_case(5, 2, 2, 2.0, 0, 0);     /* C(3,2)/C(5,2) = 3/10 */
    check_exponential_case(6, 1, 3, 1.0, 0, 0);     /* C(5,3)/C(6,3) = 1/2 */
    check_exponential_case(3, 1, 1, 1.0, 0.3, 0.2); /* constant A and R shift t */
    check_exponential_case(4, 2, 1, 0.25, 0.5, 1.0);
}

/* The paper's equation (1), exactly, from the t = 0 value. */
static void test_probabilistic_quorum_eq1(void **state)
{
    (void)state;
    sim_dist_t *dw = parse("{\"type\":\"exponential\",\"lambda\":1}");
    sim_dist_t *zero = sim_dist_constant(0);
    sim_dist_t *ds = parse("{\"type\":\"uniform\",\"min\":0,\"max\":1}");
    const uint64_t m = 40000;
    for (int n = 1; n <= 6; n++)
        for (int w = 1; w <= n; w++)
            for (int r = 1; r <= n; r++) {
                sim_wars_params_t p = {.n = n,
                                       .r = r,
                                       .w = w,
                                       .d_w = dw,
                                       .d_a = zero,
                                       .d_r = zero,
                                       .d_s = ds,
                                       .trials = m,
                                       .seed = 7};
                sim_wars_result_t res;
                assert_int_equal(sim_wars_simulate(&p, &res), 0);
                double exact = 1 - choose(n - w, r) / choose(n, r);
                double got = sim_wars_p_consistent(&res, 0);
                double tol = 5 * sqrt(exact * (1 - exact) / (double)m) + 1e-9;
                if (fabs(got - exact) > tol)
                    fail_msg("N=%d W=%d R=%d: P0=%f, eq. (1) %f", n, w, r, got, exact);
                if (r + w > n)
                    assert_true(got == 1.0);
                sim_wars_result_free(&res);
            }
    sim_dist_free(dw);
    sim_dist_free(zero);
    sim_dist_free(ds);
}

/* ------------------------------------------------------------------ 2 */

static void test_constant_delays(void **state)
{
    (void)state;
    sim_dist_t *w = sim_dist_constant(1), *a = sim_dist_constant(2), *r = sim_dist_constant(3),
               *s = sim_dist_constant(4);
    sim_wars_params_t p = {
        .n = 3, .r = 1, .w = 1, .d_w = w, .d_a = a, .d_r = r, .d_s = s, .trials = 1000, .seed = 1};
    sim_wars_result_t res;
    assert_int_equal(sim_wars_simulate(&p, &res), 0);
    /* every replica has the write (at 1) before commit (at 3) */
    assert_true(sim_wars_p_consistent(&res, 0) == 1.0);
    assert_true(sim_wars_t_for(&res, 0.999) == 0.0);
    for (uint64_t i = 0; i < res.trials; i++) {
        assert_true(res.write_lat[i] == 3.0);
        assert_true(res.read_lat[i] == 7.0);
    }
    sim_wars_summary_t sum;
    sim_wars_summarize(&res, 0.999, &sum);
    assert_true(sum.p_t0 == 1.0 && sum.t_target == 0.0);
    assert_true(sum.read_p999 == 7.0 && sum.write_p50 == 3.0);
    sim_wars_result_free(&res);

    /* A write that is slow everywhere but still reaches every replica before
     * the W-th ack: a constant W of 10 and a constant read leg of 0 is still
     * consistent at t = 0 (w_t = 10 + A >= 10). */
    sim_dist_free(w);
    w = sim_dist_constant(10);
    sim_dist_t *zero = sim_dist_constant(0);
    p.d_w = w;
    p.d_a = zero;
    p.d_r = zero;
    assert_int_equal(sim_wars_simulate(&p, &res), 0);
    assert_true(sim_wars_p_consistent(&res, 0) == 1.0);
    sim_wars_result_free(&res);

    sim_dist_free(w);
    sim_dist_free(a);
    sim_dist_free(r);
    sim_dist_free(s);
    sim_dist_free(zero);
}

static void test_strict_quorum_never_stale(void **state)
{
    (void)state;
    /* heavy-tailed, like the paper's fits */
    sim_dist_t *d =
        parse("{\"type\":\"mixture\",\"components\":["
              "{\"weight\":0.38,\"dist\":{\"type\":\"pareto\",\"xm\":1.05,\"alpha\":1.51}},"
              "{\"weight\":0.62,\"dist\":{\"type\":\"exponential\",\"lambda\":0.183}}]}");
    sim_dist_t *remote = sim_dist_constant(75);
    const int cfg[][3] = {{3, 2, 2}, {3, 1, 3}, {3, 3, 1}, {5, 3, 3}, {5, 2, 4}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++)
        for (int wan = 0; wan < 2; wan++) {
            sim_wars_params_t p = {.n = cfg[i][0],
                                   .r = cfg[i][1],
                                   .w = cfg[i][2],
                                   .d_w = d,
                                   .d_a = d,
                                   .d_r = d,
                                   .d_s = d,
                                   .d_remote = wan ? remote : NULL,
                                   .trials = 50000,
                                   .seed = 3};
            sim_wars_result_t res;
            assert_int_equal(sim_wars_simulate(&p, &res), 0);
            assert_true(sim_wars_p_consistent(&res, 0) == 1.0);
            sim_wars_result_free(&res);
        }
    /* ... while a partial quorum over the same delays is not */
    sim_wars_params_t p = {
        .n = 3, .r = 1, .w = 1, .d_w = d, .d_a = d, .d_r = d, .d_s = d, .trials = 50000, .seed = 3};
    sim_wars_result_t res;
    assert_int_equal(sim_wars_simulate(&p, &res), 0);
    assert_true(sim_wars_p_consistent(&res, 0) < 0.99);
    /* P(consistent at t) never decreases in t */
    double prev = 0;
    for (double t = 0; t < 100; t += 0.25) {
        double pc = sim_wars_p_consistent(&res, t);
        assert_true(pc >= prev);
        prev = pc;
    }
    sim_wars_result_free(&res);
    sim_dist_free(d);
    sim_dist_free(remote);
}

static void test_bad_params(void **state)
{
    (void)state;
    sim_dist_t *d = sim_dist_constant(1);
    sim_wars_result_t res;
    sim_wars_params_t p = {
        .n = 3, .r = 4, .w = 1, .d_w = d, .d_a = d, .d_r = d, .d_s = d, .trials = 10};
    assert_int_equal(sim_wars_simulate(&p, &res), -EINVAL);
    p.r = 1;
    p.w = 0;
    assert_int_equal(sim_wars_simulate(&p, &res), -EINVAL);
    p.w = 1;
    p.trials = 0;
    assert_int_equal(sim_wars_simulate(&p, &res), -EINVAL);
    p.trials = 10;
    p.d_s = NULL;
    assert_int_equal(sim_wars_simulate(&p, &res), -EINVAL);
    sim_dist_free(d);

    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    const char *bad[] = {
        "{\"mode\":\"events\",\"n\":3,\"r\":1,\"w\":1}",
        "{\"n\":3,\"r\":1,\"w\":1}",
        "{\"n\":3,\"r\":1,\"w\":1,\"delays\":{\"W\":1,\"A\":1,\"R\":1}}",
        "{\"n\":3,\"r\":1,\"w\":5,\"delays\":{\"W\":1,\"A\":1,\"R\":1,\"S\":1}}",
        "{\"n\":3,\"r\":1,\"w\":1,\"delays\":{\"W\":1,\"A\":1,\"R\":1,\"S\":{\"type\":\"x\"}}}",
        "{\"n\":3,\"r\":1,\"w\":1,\"target\":1.5,\"delays\":{\"W\":1,\"A\":1,\"R\":1,\"S\":1}}",
        "{\"n\":3,\"r\":1,\"w\":1,\"wan\":{},\"delays\":{\"W\":1,\"A\":1,\"R\":1,\"S\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *scn = json_loads(bad[i], 0, NULL);
        assert_non_null(scn);
        assert_int_equal(sim_wars_run_json(scn, "bad", 1, NULL, devnull, NULL, NULL), -EINVAL);
        json_decref(scn);
    }
    fclose(devnull);
}

/* ------------------------------------------------------------------ 3 */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void rm_outputs(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.tvis.csv", dir, name);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.summary.json", dir, name);
    unlink(path);
    rmdir(dir);
}

static void test_determinism(void **state)
{
    (void)state;
    sim_dist_t *d =
        parse("{\"type\":\"mixture\",\"components\":["
              "{\"weight\":0.9122,\"dist\":{\"type\":\"pareto\",\"xm\":0.235,\"alpha\":10}},"
              "{\"weight\":0.0878,\"dist\":{\"type\":\"exponential\",\"lambda\":1.66}}]}");
    sim_dist_t *remote = sim_dist_constant(75);
    sim_wars_params_t p = {.n = 3,
                           .r = 1,
                           .w = 1,
                           .d_w = d,
                           .d_a = d,
                           .d_r = d,
                           .d_s = d,
                           .d_remote = remote,
                           .trials = 20000,
                           .seed = 99};
    sim_wars_result_t a, b, c;
    assert_int_equal(sim_wars_simulate(&p, &a), 0);
    assert_int_equal(sim_wars_simulate(&p, &b), 0);
    p.seed = 100;
    assert_int_equal(sim_wars_simulate(&p, &c), 0);
    size_t bytes = a.trials * sizeof(double);
    assert_memory_equal(a.tstar, b.tstar, bytes);
    assert_memory_equal(a.read_lat, b.read_lat, bytes);
    assert_memory_equal(a.write_lat, b.write_lat, bytes);
    assert_memory_not_equal(a.read_lat, c.read_lat, bytes);
    assert_memory_not_equal(a.write_lat, c.write_lat, bytes);
    sim_wars_result_free(&a);
    sim_wars_result_free(&b);
    sim_wars_result_free(&c);
    sim_dist_free(d);
    sim_dist_free(remote);

    /* The file driver end to end: byte-identical CSV and summary. */
    char d1[] = "/tmp/test_wars.XXXXXX", d2[] = "/tmp/test_wars.XXXXXX";
    assert_non_null(mkdtemp(d1));
    assert_non_null(mkdtemp(d2));
    const char *scn = SIM_SCENARIO_DIR "/pbs_wan.json";
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(sim_wars_run_file(scn, 5, d1, devnull), 0);
    assert_int_equal(sim_wars_run_file(scn, 5, d2, devnull), 0);
    fclose(devnull);
    const char *suffix[] = {"tvis.csv", "summary.json"};
    for (int i = 0; i < 2; i++) {
        char p1[512], p2[512];
        snprintf(p1, sizeof p1, "%s/pbs_wan.%s", d1, suffix[i]);
        snprintf(p2, sizeof p2, "%s/pbs_wan.%s", d2, suffix[i]);
        char *x = slurp(p1), *y = slurp(p2);
        assert_true(strlen(x) > 100);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    /* The CSV starts at t = 0 and is monotone. */
    char p1[512];
    snprintf(p1, sizeof p1, "%s/pbs_wan.tvis.csv", d1);
    FILE *f = fopen(p1, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "t_ms,p_consistent,stale,trials\n");
    double prev = -1, t, pc;
    int rows = 0;
    while (fscanf(f, "%lf,%lf,%*u,%*u\n", &t, &pc) == 2) {
        if (rows == 0)
            assert_true(t == 0);
        assert_true(pc >= prev);
        prev = pc;
        rows++;
    }
    fclose(f);
    assert_true(rows > 50);
    rm_outputs(d1, "pbs_wan");
    rm_outputs(d2, "pbs_wan");
}

/* The paper's estimator emulation converges to our quantile when its
 * per-point sample is huge. */
static void test_sweep_emulation_limit(void **state)
{
    (void)state;
    sim_dist_t *dw = parse("{\"type\":\"exponential\",\"lambda\":0.5}");
    sim_dist_t *zero = sim_dist_constant(0);
    sim_dist_t *ds = parse("{\"type\":\"exponential\",\"lambda\":1}");
    sim_wars_params_t p = {.n = 3,
                           .r = 1,
                           .w = 1,
                           .d_w = dw,
                           .d_a = zero,
                           .d_r = zero,
                           .d_s = ds,
                           .trials = 100000,
                           .seed = 11};
    sim_wars_result_t res;
    assert_int_equal(sim_wars_simulate(&p, &res), 0);
    sim_wars_sweep_t sw = {
        .start_ms = 0, .step_ms = 0.05, .max_ms = 40, .per_point = 1000000000000ULL, .reps = 20};
    double out[20];
    assert_int_equal(sim_wars_emulate_sweep(&res, &sw, 0.999, 1, out), 0);
    double first = ceil(sim_wars_t_for(&res, 0.999) / 0.05 - 1e-9) * 0.05;
    for (int i = 0; i < 20; i++)
        assert_true(fabs(out[i] - first) <= 0.05 + 1e-9);
    /* a grid that ends too early never reaches the target */
    sw.max_ms = 1;
    sw.per_point = 50000;
    assert_int_equal(sim_wars_emulate_sweep(&res, &sw, 0.999, 1, out), 0);
    assert_true(isinf(out[0]));
    sim_wars_result_free(&res);
    sim_dist_free(dw);
    sim_dist_free(zero);
    sim_dist_free(ds);
}

/* ------------------------------------------------------------------ 4 */

/* The check itself, with its tolerances, is sim_wars_check_file
 * (sim/wars_check.c), shared with edgekv-pbs-check, which runs it over
 * seeds 1-20 for the README. */
static void check_reproduction(const char *file, uint64_t seed)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SIM_SCENARIO_DIR, file);
    sim_wars_check_t c;
    int rc = sim_wars_check_file(path, seed, &c);
    if (rc != 0)
        fail_msg("%s seed %lu: cannot check: %s", file, (unsigned long)seed, c.why);
    const sim_wars_summary_t *s = &c.s;
    print_message("%s seed %lu: P0 %.4f  t99.9 %.4g [%.4g, %.4g]  paper-estimator %.4g [%.4g, "
                  "%.4g]  Lr %.4g Lw %.4g\n",
                  file, (unsigned long)seed, s->p_t0, s->t_target, s->t_target_lo, s->t_target_hi,
                  s->sweep_p50, s->sweep_p005, s->sweep_p995, s->read_p999, s->write_p999);
    /* Every number the paper gives for these scenarios is checked (it gives
     * no P(consistent) at 0 for WAN: README.md, note 4). */
    assert_true(c.p_t0.checked == (strcmp(file, "pbs_wan.json") != 0));
    assert_true(c.t_target.checked && c.read_p999.checked && c.write_p999.checked);
    if (c.failures)
        fail_msg("%s seed %lu does not reproduce the paper: %s", file, (unsigned long)seed, c.why);
}

/* A check that cannot fail is no check: a scenario whose "paper" numbers
 * were mistyped must fail it, each number on its own. */
static void test_check_detects_wrong_paper_numbers(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/pbs_lnkd_ssd.json", SIM_SCENARIO_DIR);
    const char *keys[] = {"p_consistent_t0", "t_at_target_ms", "read_latency_p99_9_ms",
                          "write_latency_p99_9_ms"};
    /* 97.4% -> 96.4%, 1.85 -> 2.15 ms, 0.66 -> 0.70 ms: each outside its
     * tolerance (about +-0.6 points; the estimator's 99% range, 1.75-1.97 ms
     * for seed 1; about +-0.01 ms), the others untouched. */
    const double wrong[] = {0.964, 2.15, 0.70, 0.70};
    for (size_t i = 0; i < 4; i++) {
        json_t *scn = json_load_file(path, 0, NULL);
        assert_non_null(scn);
        json_t *paper = json_object_get(scn, "paper");
        assert_int_equal(json_object_set_new(paper, keys[i], json_real(wrong[i])), 0);
        sim_wars_check_t c;
        assert_int_equal(sim_wars_check_json(scn, "pbs_lnkd_ssd", 1, &c), 0);
        assert_int_equal(c.failures, 1);
        const sim_wars_bound_t *b[] = {&c.p_t0, &c.t_target, &c.read_p999, &c.write_p999};
        for (size_t k = 0; k < 4; k++)
            assert_true(b[k]->checked && b[k]->ok == (k != i));
        assert_non_null(strstr(c.why, "outside"));
        json_decref(scn);
    }
    /* Nothing to check against: an error, not a pass. */
    json_t *scn = json_load_file(path, 0, NULL);
    json_object_del(scn, "paper");
    sim_wars_check_t c;
    assert_int_equal(sim_wars_check_json(scn, "x", 1, &c), -EINVAL);
    assert_true(c.why[0] != 0);
    json_decref(scn);
}

static void test_reproduce_lnkd_ssd(void **state)
{
    (void)state;
    check_reproduction("pbs_lnkd_ssd.json", 1);
    check_reproduction("pbs_lnkd_ssd.json", 2);
}

static void test_reproduce_lnkd_disk_wan_ymmr(void **state)
{
    (void)state;
    check_reproduction("pbs_lnkd_disk.json", 1);
    check_reproduction("pbs_wan.json", 1);
    /* YMMR as the authors' simulator ran it (W Pareto alpha 3.5). The table's
     * alpha 3.35 (pbs_ymmr.json) gives P0 88.7% and a 99.9th percentile write
     * latency of 11.3 ms against the published 89.3% and 10.83 ms: see
     * README.md "PBS t-visibility". */
    check_reproduction("pbs_ymmr_code.json", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_form_exponential),
        cmocka_unit_test(test_probabilistic_quorum_eq1),
        cmocka_unit_test(test_constant_delays),
        cmocka_unit_test(test_strict_quorum_never_stale),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_sweep_emulation_limit),
        cmocka_unit_test(test_check_detects_wrong_paper_numbers),
        cmocka_unit_test(test_reproduce_lnkd_ssd),
        cmocka_unit_test(test_reproduce_lnkd_disk_wan_ymmr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
