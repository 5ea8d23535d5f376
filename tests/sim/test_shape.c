/*
 * test_shape.c - unit tests of sim/shape.c, the live lab's per-direction
 * delay model, on a fake clock (the time is an argument).
 *
 * Exact cases (constant delays): the one-way delay, FIFO order, the token
 * bucket with and without burst, loss in both modes, the re-timing after a
 * partition. Statistical cases use a fixed seed and 5-standard-error
 * tolerances, so they never fail by chance: the draws follow the scenario's
 * distribution (mean and a quantile), and the world profile's base delay is
 * the simulator's (RTT / 2 of the same model).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shape.h"

#define MS 1000000ull

static sim_shape_cfg_t const_cfg(double ms)
{
    sim_shape_cfg_t c;
    memset(&c, 0, sizeof c);
    c.base_ms = ms;
    c.rto_ms = 200;
    return c;
}

static void test_constant_delay(void **state)
{
    (void)state;
    sim_shape_cfg_t c = const_cfg(50);
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 1, 1);
    bool reset = true;
    assert_int_equal(sim_shape_admit(&sh, 1000 * MS, 100, &reset), 1050 * MS);
    assert_false(reset);
    assert_int_equal(sim_shape_admit(&sh, 1001 * MS, 100, &reset), 1051 * MS);
}

/* A long draw holds back a short one behind it: TCP order. */
static void test_fifo(void **state)
{
    (void)state;
    json_t *spec = json_pack("{s:s,s:f,s:f}", "type", "uniform", "min", 10.0, "max", 150.0);
    sim_dist_t *d;
    assert_int_equal(sim_dist_parse(spec, &d, NULL, 0), 0);
    json_decref(spec);
    sim_shape_cfg_t c = const_cfg(0);
    c.one_way = d;
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 7, 3);
    uint64_t last = 0;
    int held_back = 0;
    for (uint64_t i = 0; i < 10000; i++) {
        bool reset;
        uint64_t now = i * MS;
        uint64_t t = sim_shape_admit(&sh, now, 10, &reset);
        assert_true(t >= last);
        assert_true(t >= now + 10 * MS);
        if (t == last)
            held_back++;
        last = t;
    }
    /* Sent 1 ms apart with 10-150 ms draws: most chunks wait for an earlier one. */
    assert_true(held_back > 5000);
    sim_dist_free(d);
}

/* 8 Mbit/s = 1 byte per microsecond. */
static void test_bandwidth(void **state)
{
    (void)state;
    sim_shape_cfg_t c = const_cfg(10);
    c.mbps = 8;
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 1, 1);
    bool reset;
    /* Like the simulator: the last byte leaves after bytes / rate. */
    assert_int_equal(sim_shape_admit(&sh, 0, 1000, &reset), 1 * MS + 10 * MS);
    assert_int_equal(sim_shape_admit(&sh, 0, 1000, &reset), 2 * MS + 10 * MS);
    /* The link idles; a later chunk starts at its own time. */
    assert_int_equal(sim_shape_admit(&sh, 100 * MS, 500, &reset), 100 * MS + 500000 + 10 * MS);
}

static void test_burst(void **state)
{
    (void)state;
    sim_shape_cfg_t c = const_cfg(0);
    c.mbps = 8;
    c.burst_bytes = 2000;
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 1, 1);
    bool reset;
    /* A full bucket lets 2000 bytes through at once; the third 1000 wait. */
    assert_int_equal(sim_shape_admit(&sh, 10 * MS, 1000, &reset), 10 * MS);
    assert_int_equal(sim_shape_admit(&sh, 10 * MS, 1000, &reset), 10 * MS);
    assert_int_equal(sim_shape_admit(&sh, 10 * MS, 1000, &reset), 11 * MS);
}

static void test_loss(void **state)
{
    (void)state;
    sim_shape_cfg_t c = const_cfg(5);
    c.loss = 1.0; /* every draw loses: the bounded number of retransmissions */
    c.loss_mode = SIM_LOSS_RETRANSMIT;
    c.rto_ms = 200;
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 1, 1);
    bool reset;
    assert_int_equal(sim_shape_admit(&sh, 0, 10, &reset), 5 * MS + 16 * 200 * MS);
    assert_false(reset);
    c.loss_mode = SIM_LOSS_RESET;
    sim_shape_init(&sh, &c, 1, 1);
    sim_shape_admit(&sh, 0, 10, &reset);
    assert_true(reset);
    /* A small loss rate: the fraction of resets is the rate. */
    c.loss = 0.01;
    sim_shape_init(&sh, &c, 2, 1);
    int resets = 0, n = 100000;
    for (int i = 0; i < n; i++) {
        sim_shape_admit(&sh, (uint64_t)i * MS, 10, &reset);
        resets += reset;
    }
    double se = sqrt(0.01 * 0.99 / n);
    assert_true(fabs((double)resets / n - 0.01) < 5 * se);
}

/* Held over a partition: heal + rto + a fresh delay, in order. */
static void test_resend(void **state)
{
    (void)state;
    sim_shape_cfg_t c = const_cfg(20);
    c.rto_ms = 200;
    sim_shape_t sh;
    sim_shape_init(&sh, &c, 1, 1);
    bool reset;
    uint64_t due = sim_shape_admit(&sh, 0, 10, &reset);
    assert_int_equal(due, 20 * MS);
    assert_int_equal(sim_shape_resend(&sh, 5000 * MS, due), 5220 * MS);
    /* A chunk due after the re-timed one stays due then. */
    assert_int_equal(sim_shape_resend(&sh, 5000 * MS, 9000 * MS), 9000 * MS);
}

/* The world profile: frankfurt -> singapore is RTT / 2 of the same model
 * the simulator uses, plus the scenario's jitter, drawn from its distribution. */
static void test_from_scenario(void **state)
{
    (void)state;
    const char *json = "{\"name\":\"t\",\"duration_s\":1,\"policy\":\"push\","
                       "\"topology\":{\"origin\":\"frankfurt\",\"regions\":[\"singapore\"],"
                       "\"edges\":1},"
                       "\"network\":{\"jitter\":{\"type\":\"exponential\",\"lambda\":0.5},"
                       "\"loss\":0.001,\"loss_mode\":\"retransmit\",\"rto_ms\":300,"
                       "\"link_mbps\":100}}";
    sim_scenario_t *sc;
    char err[256];
    assert_int_equal(sim_scenario_parse(json, &sc, err, sizeof err), 0);
    int sg = sim_place_find("singapore");
    sim_shape_cfg_t c;
    sim_shape_cfg_from_scenario(&c, sc, sg);
    double base = sim_rtt_ms(&sc->rtt, sg, sim_place_find("frankfurt")) / 2;
    assert_true(fabs(c.base_ms - base) < 1e-9);
    assert_true(base > 50 && base < 150);
    assert_true(c.loss == 0.001 && c.loss_mode == SIM_LOSS_RETRANSMIT && c.rto_ms == 300);
    assert_true(c.mbps == 100);
    /* Draws: base + Exp(0.5): mean base + 2, sd 2. */
    sim_shape_t sh;
    c.loss = 0;
    sim_shape_init(&sh, &c, 11, 5);
    int n = 200000, below = 0;
    double sum = 0, q = base + 2 * log(2.0); /* the median of base + Exp(0.5) */
    for (int i = 0; i < n; i++) {
        double d = sim_shape_one_way_ms(&sh);
        assert_true(d >= base);
        sum += d;
        below += d <= q;
    }
    assert_true(fabs(sum / n - (base + 2)) < 5 * 2 / sqrt(n));
    assert_true(fabs((double)below / n - 0.5) < 5 * sqrt(0.25 / n));
    /* The same seed and stream give the same draws; another stream others. */
    sim_shape_t a, b, o;
    sim_shape_init(&a, &c, 11, 5);
    sim_shape_init(&b, &c, 11, 5);
    sim_shape_init(&o, &c, 11, 6);
    int same = 0;
    for (int i = 0; i < 100; i++) {
        double x = sim_shape_one_way_ms(&a);
        assert_true(x == sim_shape_one_way_ms(&b));
        same += x == sim_shape_one_way_ms(&o);
    }
    assert_true(same < 5);
    sim_scenario_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_delay), cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_bandwidth),      cmocka_unit_test(test_burst),
        cmocka_unit_test(test_loss),           cmocka_unit_test(test_resend),
        cmocka_unit_test(test_from_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
