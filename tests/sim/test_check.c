/*
 * test_check.c - the checkers (sim/check.c) fed synthetic histories: a
 * clean history passes, a history with a lost write, a rewind, a diverged
 * replica or a late delivery fails, and a checker with no input says N/A.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"

#define KEYS 4

static kv_version_t V(uint64_t hlc)
{
    return (kv_version_t){hlc, 1};
}

/* Three writes: key 0 <- w1 (seq 1), key 1 <- w2 (seq 2), key 0 <- w3 (seq 3). */
static void history(sim_check_logent_t log[3], sim_check_rec_t fin[KEYS])
{
    log[0] = (sim_check_logent_t){V(10), 0, 1, false, false};
    log[1] = (sim_check_logent_t){V(20), 1, 2, false, false};
    log[2] = (sim_check_logent_t){V(30), 0, 3, false, false};
    memset(fin, 0, KEYS * sizeof *fin);
    fin[0] = (sim_check_rec_t){V(30), 3, 100, false};
    fin[1] = (sim_check_rec_t){V(20), 2, 100, false};
}

static void test_na_when_empty(void **state)
{
    (void)state;
    sim_check_t *c = sim_check_new(2, KEYS);
    for (int i = 0; i < SIM_CK_COUNT; i++)
        assert_int_equal(sim_check_result(c, (sim_check_id_t)i)->verdict, SIM_CHECK_NA);
    assert_true(sim_check_ok(c));
    sim_check_free(c);
}

static void test_clean_history_passes(void **state)
{
    (void)state;
    sim_check_t *c = sim_check_new(2, KEYS);
    sim_check_logent_t log[3];
    sim_check_rec_t fin[KEYS];
    history(log, fin);
    /* Edge 0 sees key 0 at v10 then v30; key 1 at v20; reads repeat them. */
    sim_check_observe(c, 0, 0, V(10), 1);
    sim_check_observe(c, 0, 0, V(30), 2);
    sim_check_observe(c, 0, 0, V(30), 3);
    sim_check_observe(c, 1, 1, V(20), 4);
    sim_check_acked(c, 0, 1, false, 1);
    sim_check_acked(c, 1, 2, false, 2);
    sim_check_acked(c, 0, 3, false, 3);
    sim_check_lost_final(c, log, 3, fin);
    sim_check_converge(c, 0, fin, 3, fin, 3, true);
    sim_check_converge(c, 1, fin, 3, fin, 3, true);
    sim_check_bound(c, 0, 1, 120.0, 1000.0);
    for (int i = 0; i < SIM_CK_COUNT; i++)
        assert_int_equal(sim_check_result(c, (sim_check_id_t)i)->verdict, SIM_CHECK_PASS);
    assert_true(sim_check_ok(c));
    sim_check_free(c);
}

static void test_rewind_fails(void **state)
{
    (void)state;
    sim_check_t *c = sim_check_new(2, KEYS);
    sim_check_observe(c, 1, 2, V(30), 1);
    sim_check_observe(c, 0, 2, V(10), 2); /* another edge: fine */
    sim_check_observe(c, 1, 2, V(20), 3); /* edge 1 went back */
    const sim_check_result_t *r = sim_check_result(c, SIM_CK_REWIND);
    assert_int_equal(r->verdict, SIM_CHECK_FAIL);
    assert_int_equal(r->violations, 1);
    assert_non_null(strstr(r->first, "edge 1 key 2"));
    assert_false(sim_check_ok(c));
    /* The same version again is not a rewind; a tie broken by node id is. */
    sim_check_t *d = sim_check_new(1, KEYS);
    sim_check_observe(d, 0, 0, (kv_version_t){30, 2}, 1);
    sim_check_observe(d, 0, 0, (kv_version_t){30, 2}, 2);
    assert_true(sim_check_ok(d));
    sim_check_observe(d, 0, 0, (kv_version_t){30, 1}, 3);
    assert_false(sim_check_ok(d));
    sim_check_free(d);
    sim_check_free(c);
}

static void test_lost_write_fails(void **state)
{
    (void)state;
    sim_check_logent_t log[3];
    sim_check_rec_t fin[KEYS];
    /* 1: the acked seq is past the durable log (the crash lost it). */
    sim_check_t *c = sim_check_new(1, KEYS);
    history(log, fin);
    sim_check_acked(c, 0, 1, false, 1);
    sim_check_acked(c, 0, 9, false, 4);
    sim_check_lost_final(c, log, 3, fin);
    assert_int_equal(sim_check_result(c, SIM_CK_LOST)->verdict, SIM_CHECK_FAIL);
    assert_int_equal(sim_check_result(c, SIM_CK_LOST)->violations, 1);
    sim_check_free(c);
    /* 2: the seq holds another write (it was re-sequenced after a crash). */
    c = sim_check_new(1, KEYS);
    sim_check_acked(c, 1, 7, false, 2);
    sim_check_lost_final(c, log, 3, fin);
    assert_int_equal(sim_check_result(c, SIM_CK_LOST)->verdict, SIM_CHECK_FAIL);
    sim_check_free(c);
    /* 3: in the log, but the final state of the key is older. */
    c = sim_check_new(1, KEYS);
    fin[0].v = V(10);
    sim_check_acked(c, 0, 3, false, 3);
    sim_check_lost_final(c, log, 3, fin);
    assert_int_equal(sim_check_result(c, SIM_CK_LOST)->verdict, SIM_CHECK_FAIL);
    assert_non_null(strstr(sim_check_result(c, SIM_CK_LOST)->first, "lost"));
    sim_check_free(c);
    /* 4: a no-op at that seq (the op failed) cannot be an acked write. */
    c = sim_check_new(1, KEYS);
    history(log, fin);
    log[1].noop = true;
    sim_check_acked(c, 1, 2, false, 2);
    sim_check_lost_final(c, log, 3, fin);
    assert_int_equal(sim_check_result(c, SIM_CK_LOST)->verdict, SIM_CHECK_FAIL);
    sim_check_free(c);
}

static void test_convergence_and_bound_fail(void **state)
{
    (void)state;
    sim_check_logent_t log[3];
    sim_check_rec_t fin[KEYS], rep[KEYS];
    history(log, fin);
    memcpy(rep, fin, sizeof rep);
    rep[1].val = 5; /* same version, other value: diverged */
    sim_check_t *c = sim_check_new(3, KEYS);
    sim_check_converge(c, 0, fin, 3, fin, 3, true);
    assert_true(sim_check_ok(c));
    sim_check_converge(c, 1, rep, 3, fin, 3, true);
    assert_int_equal(sim_check_result(c, SIM_CK_CONVERGE)->verdict, SIM_CHECK_FAIL);
    sim_check_free(c);
    c = sim_check_new(3, KEYS);
    sim_check_converge(c, 2, fin, 2, fin, 3, true); /* behind */
    assert_false(sim_check_ok(c));
    sim_check_free(c);
    c = sim_check_new(3, KEYS);
    sim_check_converge(c, 2, fin, 3, fin, 3, false); /* down */
    assert_false(sim_check_ok(c));
    sim_check_free(c);
    c = sim_check_new(1, KEYS);
    sim_check_bound(c, 0, 1, 999.9, 1000);
    assert_true(sim_check_ok(c));
    sim_check_bound(c, 0, 2, 1000.1, 1000);
    assert_int_equal(sim_check_result(c, SIM_CK_BOUND)->verdict, SIM_CHECK_FAIL);
    sim_check_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_na_when_empty),
        cmocka_unit_test(test_clean_history_passes),
        cmocka_unit_test(test_rewind_fails),
        cmocka_unit_test(test_lost_write_fails),
        cmocka_unit_test(test_convergence_and_bound_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
