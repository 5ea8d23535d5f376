/*
 * pbs_check.c - edgekv-pbs-check: the PBS reproduction check over seeds.
 *
 *   edgekv-pbs-check [--seeds A-B] SCENARIO.json...
 *
 * Runs each WARS scenario (sim/scenarios/pbs_*.json with a "paper" object)
 * for every seed in A..B (default 1-20) and checks it against the paper's
 * published numbers with sim_wars_check_file, the check tests/sim/test_wars.c
 * runs for a few seeds. Prints one line per seed (PASS/FAIL, the numbers,
 * what failed) and per scenario the number of seeds that passed and the
 * range of each number over the seeds. Exit 0 when every run passed, 1 when
 * one failed, 2 on a usage or scenario error. Not a simulator front end:
 * edgekv-sim runs one scenario and writes its files.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wars_check.h"

typedef struct {
    double lo, hi;
} range_t;

static void widen(range_t *r, double x)
{
    if (x < r->lo)
        r->lo = x;
    if (x > r->hi)
        r->hi = x;
}

static int usage(void)
{
    fprintf(stderr, "usage: edgekv-pbs-check [--seeds A-B] SCENARIO.json...\n");
    return 2;
}

static bool parse_seeds(const char *s, uint64_t *a, uint64_t *b)
{
    char *end;
    *a = strtoull(s, &end, 10);
    if (end == s)
        return false;
    *b = *a;
    if (*end == '-') {
        const char *t = end + 1;
        *b = strtoull(t, &end, 10);
        if (end == t)
            return false;
    }
    return *end == '\0' && *a >= 1 && *a <= *b;
}

static void print_bound(const char *label, const sim_wars_bound_t *b)
{
    if (b->checked && !b->ok)
        printf("  %s!", label);
}

/* One scenario over the seeds: the number of seeds that failed, or -1. */
static int check_scenario(const char *path, uint64_t a, uint64_t b)
{
    range_t p0 = {INFINITY, -INFINITY}, t = p0, est = p0, lr = p0, lw = p0;
    int failed = 0;
    for (uint64_t seed = a; seed <= b; seed++) {
        sim_wars_check_t c;
        if (sim_wars_check_file(path, seed, &c) < 0) {
            fprintf(stderr, "edgekv-pbs-check: %s: %s\n", path, c.why);
            return -1;
        }
        if (seed == a) {
            printf("%s (paper:", path);
            if (c.p_t0.checked)
                printf(" P0 %.4g%%,", 100 * c.p_t0.paper);
            printf(" t99.9 %.4g ms", c.t_target.paper);
            if (c.read_p999.checked && c.write_p999.checked)
                printf(", read/write p99.9 %.4g / %.4g ms", c.read_p999.paper, c.write_p999.paper);
            printf(")\n");
        }
        const sim_wars_summary_t *s = &c.s;
        printf("  seed %2" PRIu64
               "  %s  P0 %.3f%%  t99.9 %.4g ms  paper-estimator %.4g (99%% [%.4g, "
               "%.4g])  read/write p99.9 %.4g / %.4g ms",
               seed, c.failures ? "FAIL" : "PASS", 100 * s->p_t0, s->t_target, s->sweep_p50,
               s->sweep_p005, s->sweep_p995, s->read_p999, s->write_p999);
        print_bound("P0", &c.p_t0);
        print_bound("t99.9", &c.t_target);
        print_bound("read", &c.read_p999);
        print_bound("write", &c.write_p999);
        if (c.failures)
            printf("\n        %s", c.why);
        printf("\n");
        failed += c.failures > 0;
        widen(&p0, 100 * s->p_t0);
        widen(&t, s->t_target);
        widen(&est, s->sweep_p50);
        widen(&lr, s->read_p999);
        widen(&lw, s->write_p999);
    }
    printf("%s: %d of %" PRIu64 " seeds pass (seeds %" PRIu64 "-%" PRIu64 "); over the seeds: P0 "
           "%.2f-%.2f%%, t99.9 %.4g-%.4g ms, paper-estimator median %.4g-%.4g ms, read p99.9 "
           "%.4g-%.4g ms, write p99.9 %.4g-%.4g ms\n",
           path, (int)(b - a + 1) - failed, b - a + 1, a, b, p0.lo, p0.hi, t.lo, t.hi, est.lo,
           est.hi, lr.lo, lr.hi, lw.lo, lw.hi);
    return failed;
}

int main(int argc, char **argv)
{
    uint64_t a = 1, b = 20;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--seeds")) {
        if (!parse_seeds(argv[2], &a, &b))
            return usage();
        first = 3;
    }
    if (first >= argc)
        return usage();
    int failed = 0;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-')
            return usage();
        int f = check_scenario(argv[i], a, b);
        if (f < 0)
            return 2;
        failed += f;
    }
    return failed ? 1 : 0;
}
