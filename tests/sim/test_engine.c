/*
 * test_engine.c - unit tests of the event engine (sim/engine.c), the
 * histogram (sim/hist.c) and the world model (sim/world.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>

#include <cmocka.h>

#include "engine.h"
#include "hist.h"
#include "rng.h"
#include "world.h"

static void test_order_time_then_insertion(void **state)
{
    (void)state;
    sim_engine_t e;
    sim_engine_init(&e);
    /* Same time: insertion order; earlier time first regardless of order. */
    sim_engine_push(&e, 500, 1)->a = 1;
    sim_engine_push(&e, 100, 1)->a = 2;
    sim_engine_push(&e, 500, 1)->a = 3;
    sim_engine_push(&e, 100, 1)->a = 4;
    sim_engine_push(&e, 0, 1)->a = 5;
    const uint64_t want[] = {5, 2, 4, 1, 3};
    const uint64_t when[] = {0, 100, 100, 500, 500};
    sim_ev_t ev;
    for (int i = 0; i < 5; i++) {
        assert_true(sim_engine_pop(&e, &ev));
        assert_int_equal(ev.a, want[i]);
        assert_int_equal(e.now_ns, when[i]);
    }
    assert_false(sim_engine_pop(&e, &ev));
    /* A push into the past is clamped to now. */
    sim_engine_push(&e, 10, 1)->a = 6;
    assert_int_equal(sim_engine_peek(&e), 500);
    assert_int_equal(e.executed, 5);
    sim_engine_free(&e);
}

/* Many random pushes interleaved with pops: popped times never decrease,
 * ties come out in push order, and two engines fed alike hash alike. */
static uint64_t random_run(uint64_t seed, size_t *popped)
{
    sim_engine_t e;
    sim_engine_init(&e);
    sim_rng_t r;
    sim_rng_seed(&r, seed);
    uint64_t last_t = 0, last_id = 0, id = 0;
    *popped = 0;
    for (int round = 0; round < 200000; round++) {
        int k = (int)sim_rng_below(&r, 3);
        for (int i = 0; i < k; i++) {
            sim_ev_t *ev = sim_engine_push(&e, e.now_ns + sim_rng_below(&r, 50), 2);
            ev->a = ++id;
        }
        sim_ev_t ev;
        if (sim_engine_pop(&e, &ev)) {
            assert_true(e.now_ns >= last_t);
            if (e.now_ns == last_t && *popped)
                assert_true(ev.a > last_id);
            last_t = e.now_ns;
            last_id = ev.a;
            sim_engine_trace(&e, &ev, ev.a);
            (*popped)++;
        }
    }
    uint64_t h = e.trace;
    sim_engine_free(&e);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    size_t n1, n2, n3;
    uint64_t a = random_run(11, &n1), b = random_run(11, &n2), c = random_run(12, &n3);
    assert_true(n1 > 100000);
    assert_int_equal(n1, n2);
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
}

/* The queue against a plain model (an array searched for its least (time,
 * id) at every pop), with delays from zero to minutes: events in the
 * wheel's current bucket, in later ones, past the wheel's end (the far
 * bag), across its wrap-around, and after gaps that leave it empty. Pops
 * must come out in exactly the model's order. */
typedef struct {
    uint64_t t, id;
} model_ev_t;

static void test_order_against_model(void **state)
{
    (void)state;
    sim_engine_t e;
    sim_engine_init(&e);
    sim_rng_t r;
    sim_rng_seed(&r, 5);
    enum { CAP = 40000 };
    model_ev_t *m = calloc(CAP, sizeof *m);
    assert_non_null(m);
    size_t n = 0, popped = 0;
    uint64_t id = 0;
    static const uint64_t scale[] = {1,         1000,        1000000,     30000000,
                                     700000000, 3000000000u, 90000000000u};
    for (int round = 0; round < 60000; round++) {
        int k = (int)sim_rng_below(&r, 3);
        for (int i = 0; i < k && n < CAP; i++) {
            uint64_t span = scale[sim_rng_below(&r, sizeof scale / sizeof scale[0])];
            uint64_t t = e.now_ns + sim_rng_below(&r, span);
            sim_engine_push(&e, t, 3)->a = ++id;
            m[n++] = (model_ev_t){t, id};
        }
        if (sim_rng_below(&r, 4) == 0)
            continue; /* let the queue grow now and then */
        sim_ev_t ev;
        bool got = sim_engine_pop(&e, &ev);
        assert_int_equal(got, n > 0);
        if (!got)
            continue;
        size_t best = 0;
        for (size_t j = 1; j < n; j++)
            if (m[j].t < m[best].t || (m[j].t == m[best].t && m[j].id < m[best].id))
                best = j;
        assert_int_equal(ev.a, m[best].id);
        assert_int_equal(e.now_ns, m[best].t);
        m[best] = m[--n];
        popped++;
        if (n)
            assert_true(sim_engine_peek(&e) >= e.now_ns);
    }
    sim_ev_t ev;
    while (sim_engine_pop(&e, &ev)) { /* drain: the rest in order too */
        size_t best = 0;
        for (size_t j = 1; j < n; j++)
            if (m[j].t < m[best].t || (m[j].t == m[best].t && m[j].id < m[best].id))
                best = j;
        assert_int_equal(ev.a, m[best].id);
        m[best] = m[--n];
        popped++;
    }
    assert_int_equal(n, 0);
    assert_true(popped > 30000);
    free(m);
    sim_engine_free(&e);
}

static void test_fnv(void **state)
{
    (void)state;
    uint8_t buf[19];
    for (int i = 0; i < 19; i++)
        buf[i] = (uint8_t)i;
    uint64_t h = sim_fnv_bytes(SIM_FNV_INIT, buf, sizeof buf);
    assert_int_equal(h, sim_fnv_bytes(SIM_FNV_INIT, buf, sizeof buf));
    buf[18] ^= 1;
    assert_int_not_equal(h, sim_fnv_bytes(SIM_FNV_INIT, buf, sizeof buf));
}

static void test_hist(void **state)
{
    (void)state;
    sim_hist_t h;
    sim_hist_init(&h);
    assert_true(sim_hist_quantile_ms(&h, 0.5) == 0);
    for (uint64_t us = 1; us <= 100000; us++)
        sim_hist_add(&h, us); /* 1 us .. 100 ms uniform */
    assert_true(fabs(sim_hist_quantile_ms(&h, 0.5) - 50.0) < 50.0 * 0.01);
    assert_true(fabs(sim_hist_quantile_ms(&h, 0.99) - 99.0) < 99.0 * 0.01);
    assert_true(sim_hist_max_ms(&h) == 100.0);
    assert_true(fabs(sim_hist_mean_ms(&h) - 50.0005) < 1e-6);
    assert_true(fabs(sim_hist_cdf(&h, 25.0) - 0.25) < 0.01);
    assert_true(sim_hist_cdf(&h, 1000.0) == 1.0);
    sim_hist_t g;
    sim_hist_init(&g);
    sim_hist_add(&g, 7);
    sim_hist_merge(&g, &h);
    assert_int_equal(g.n, 100001);
    sim_hist_free(&g);
    sim_hist_free(&h);
}

/* Adds that wait (sim_hist_add_later) make the same histogram as adds at
 * once: every bucket, count, maximum and sum, whether the last batch was
 * whole or flushed part way, and for a sample too big to wait. */
static void test_hist_add_later(void **state)
{
    (void)state;
    sim_hist_t now, later;
    sim_hist_init(&now);
    sim_hist_init(&later);
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 10 * SIM_HIST_PEND + 7; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t us = i == 100 ? (uint64_t)UINT32_MAX + 5 : x % 2000000;
        sim_hist_add(&now, us);
        sim_hist_add_later(&later, us);
        if (i == 3 * SIM_HIST_PEND + 1)
            sim_hist_flush(&later);
    }
    /* Pending: what came after the flush, but the big one, which went in at once. */
    assert_int_equal(later.npend, (7 * SIM_HIST_PEND + 5 - 1) % SIM_HIST_PEND);
    assert_true(later.n < now.n);
    sim_hist_flush(&later);
    sim_hist_flush(&later); /* nothing pending: a no-op */
    assert_int_equal(later.npend, 0);
    assert_int_equal(later.n, now.n);
    assert_int_equal(later.max_us, now.max_us);
    assert_true(later.sum_us == now.sum_us);
    const sim_hist_t *want = &now, *got = &later;
    assert_memory_equal(got->c, want->c, SIM_HIST_BUCKETS * sizeof *want->c);
    assert_true(sim_hist_quantile_ms(&later, 0.99) == sim_hist_quantile_ms(&now, 0.99));
    sim_hist_free(&now);
    sim_hist_free(&later);
}

static void test_world(void **state)
{
    (void)state;
    assert_true(sim_nplaces >= 20 && sim_nplaces <= 30);
    int ny = sim_place_find("NewYork"), lon = sim_place_find("london");
    int syd = sim_place_find("sydney");
    assert_true(ny >= 0 && lon >= 0 && syd >= 0);
    assert_int_equal(sim_place_find("atlantis"), -1);
    /* New York - London is ~5570 km great-circle. */
    const sim_place_t *a = &sim_places[ny], *b = &sim_places[lon];
    double km = sim_haversine_km(a->lat, a->lon, b->lat, b->lon);
    assert_true(km > 5540 && km < 5600);
    sim_rtt_model_t m;
    sim_rtt_model_default(&m);
    /* 2 * 5570 / 200 * 1.5 + 2 = ~85.6 ms (measured: ~70-80 ms). */
    double rtt = sim_rtt_ms(&m, ny, lon);
    assert_true(fabs(rtt - (2 * km / 200.0 * 1.5 + 2)) < 1e-9);
    assert_true(rtt > 80 && rtt < 90);
    assert_true(sim_rtt_ms(&m, ny, ny) == m.hop_ms);
    assert_true(sim_rtt_ms(&m, lon, syd) > 250);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_time_then_insertion),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_order_against_model),
        cmocka_unit_test(test_fnv),
        cmocka_unit_test(test_hist),
        cmocka_unit_test(test_hist_add_later),
        cmocka_unit_test(test_world),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
