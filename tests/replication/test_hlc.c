/*
 * test_hlc.c - unit tests of the hybrid logical clock (replication/hlc.c).
 *
 * The clock is pure, so every test drives it with explicit wall times,
 * including ones that go backwards, stand still for a whole logical range,
 * or come from a peer too far ahead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hlc.h"
#include "kv_err.h"

static void test_pack_roundtrip(void **state)
{
    (void)state;
    uint64_t ts = hlc_pack(123456789, 42);
    assert_int_equal(hlc_ms(ts), 123456789);
    assert_int_equal(hlc_logical(ts), 42);
    assert_int_equal(hlc_pack(HLC_MS_MAX, HLC_LOGICAL_MAX), UINT64_MAX);
}

static void test_init(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 7, hlc_pack(1000, 3));
    assert_int_equal(h.node_id, 7);
    assert_int_equal(h.last, hlc_pack(1000, 3));
    /* A restart with a persisted `last` ahead of the wall keeps counting. */
    assert_int_equal(hlc_now(&h, 900), hlc_pack(1000, 4));
}

static void test_now_follows_wall(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    assert_int_equal(hlc_now(&h, 1000), hlc_pack(1000, 0));
    assert_int_equal(hlc_now(&h, 1005), hlc_pack(1005, 0));
    assert_int_equal(h.last, hlc_pack(1005, 0));
}

static void test_logical_within_ms(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    assert_int_equal(hlc_now(&h, 50), hlc_pack(50, 0));
    assert_int_equal(hlc_now(&h, 50), hlc_pack(50, 1));
    assert_int_equal(hlc_now(&h, 50), hlc_pack(50, 2));
    assert_int_equal(hlc_now(&h, 51), hlc_pack(51, 0));
}

static void test_monotonic_wall_backwards(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    uint64_t prev = hlc_now(&h, 10000);
    /* The wall jumps back 5 s, wanders, then recovers. */
    static const uint64_t walls[] = {5000, 5001, 4000, 9999, 10000, 10000, 3, 10001, 10002};
    for (size_t i = 0; i < sizeof walls / sizeof walls[0]; i++) {
        uint64_t ts = hlc_now(&h, walls[i]);
        assert_true(ts > prev);
        prev = ts;
    }
    /* Behind the wall again: a logical bump on the latest ms. */
    assert_int_equal(hlc_now(&h, 10000), hlc_pack(10002, 1));
    assert_int_equal(hlc_now(&h, 20000), hlc_pack(20000, 0));
}

static void test_logical_overflow_carries(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    uint64_t prev = 0;
    for (uint32_t i = 0; i <= HLC_LOGICAL_MAX; i++) {
        uint64_t ts = hlc_now(&h, 777);
        assert_true(ts > prev);
        assert_int_equal(hlc_ms(ts), 777);
        assert_int_equal(hlc_logical(ts), i);
        prev = ts;
    }
    /* Stamp 65537 in the same ms moves to the next millisecond. */
    uint64_t ts = hlc_now(&h, 777);
    assert_int_equal(ts, hlc_pack(778, 0));
    assert_int_equal(hlc_now(&h, 777), hlc_pack(778, 1));
    /* The wall catching up to the borrowed ms still moves forward. */
    assert_int_equal(hlc_now(&h, 778), hlc_pack(778, 2));
}

static void test_wall_clamped(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    uint64_t ts = hlc_now(&h, UINT64_MAX);
    assert_int_equal(hlc_ms(ts), HLC_MS_MAX);
    assert_int_equal(hlc_logical(ts), 0);
}

static void test_stamp_node_id(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 0xabcdef, 0);
    kv_version_t v1 = hlc_stamp(&h, 400);
    kv_version_t v2 = hlc_stamp(&h, 400);
    assert_int_equal(v1.node_id, 0xabcdef);
    assert_int_equal(v1.hlc, hlc_pack(400, 0));
    assert_int_equal(v2.hlc, hlc_pack(400, 1));
    assert_true(kv_version_cmp(v1, v2) < 0);
}

static void test_version_tiebreak(void **state)
{
    (void)state;
    hlc_t a, b;
    hlc_init(&a, 1, 0);
    hlc_init(&b, 2, 0);
    kv_version_t va = hlc_stamp(&a, 1000);
    kv_version_t vb = hlc_stamp(&b, 1000);
    assert_int_equal(va.hlc, vb.hlc);
    assert_true(kv_version_cmp(va, vb) < 0);
    assert_true(kv_version_cmp(vb, va) > 0);
    assert_int_equal(kv_version_cmp(va, va), 0);
    /* The timestamp dominates the node id. */
    kv_version_t va2 = hlc_stamp(&a, 1000);
    assert_true(kv_version_cmp(vb, va2) < 0);
    assert_true(kv_version_cmp(KV_VERSION_ZERO, va) < 0);
}

static void test_update_remote_ahead(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    hlc_now(&h, 1000);
    uint64_t remote = hlc_pack(1400, 9), out = 0;
    assert_int_equal(hlc_update(&h, remote, 1000, 500, &out), 0);
    assert_true(out > remote);
    assert_int_equal(out, hlc_pack(1400, 10));
    assert_int_equal(h.last, out);
    /* The next local event is still after what we observed. */
    uint64_t next = hlc_now(&h, 1001);
    assert_true(next > out);
    assert_int_equal(next, hlc_pack(1400, 11));
    /* Exactly at the offset limit is accepted. */
    assert_int_equal(hlc_update(&h, hlc_pack(1501, 0), 1001, 500, &out), 0);
    assert_int_equal(out, hlc_pack(1501, 1));
}

static void test_update_remote_too_far(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    uint64_t before = hlc_now(&h, 1000);
    uint64_t out = 12345;
    assert_int_equal(hlc_update(&h, hlc_pack(1501, 0), 1000, 500, &out), KV_ECLOCK);
    assert_int_equal(out, 12345);
    assert_int_equal(h.last, before);
    assert_int_equal(hlc_now(&h, 1000), hlc_pack(1000, 1));
    /* A hint with no successor is refused too, even with a huge offset. */
    assert_int_equal(hlc_update(&h, UINT64_MAX, UINT64_MAX, UINT64_MAX, &out), KV_ECLOCK);
    assert_int_equal(h.last, hlc_pack(1000, 1));
}

/* The offset limit counts from the later of the wall clock and the clock's
 * own last value: a hint that echoes what this clock issued is accepted
 * whatever the wall says (it stepped back, or the clock was restored ahead
 * of it), and only a hint beyond both by more than the offset is refused. */
static void test_update_wall_behind_clock(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, hlc_pack(600000, 7)); /* restored 10 min ahead of the wall */
    uint64_t out = 0;
    assert_int_equal(hlc_update(&h, hlc_pack(600000, 7), 1000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(600000, 8));
    assert_int_equal(hlc_update(&h, hlc_pack(600000, 3), 1000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(600000, 9));
    /* Ahead of the clock, within the offset of it: accepted. */
    assert_int_equal(hlc_update(&h, hlc_pack(600500, 0), 1000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(600500, 1));
    /* Beyond the offset of both: refused, clock unchanged. */
    assert_int_equal(hlc_update(&h, hlc_pack(601001, 0), 1000, 500, &out), KV_ECLOCK);
    assert_int_equal(h.last, hlc_pack(600500, 1));
    /* A wall clock ahead of the clock's value still sets the limit. */
    assert_int_equal(hlc_update(&h, hlc_pack(700400, 0), 700000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(700400, 1));
}

static void test_update_remote_behind(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    hlc_now(&h, 2000);
    hlc_now(&h, 2000);
    uint64_t last = h.last, out = 0;
    /* Remote behind, wall behind: logical bump past last. */
    assert_int_equal(hlc_update(&h, hlc_pack(1500, 7), 1999, 500, &out), 0);
    assert_true(out > last);
    assert_int_equal(out, hlc_pack(2000, 2));
    /* Remote behind, wall ahead of both: the wall wins with logical 0. */
    assert_int_equal(hlc_update(&h, hlc_pack(1500, 7), 3000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(3000, 0));
    /* Remote on the same ms as last with a bigger counter. */
    assert_int_equal(hlc_update(&h, hlc_pack(3000, 40), 3000, 500, &out), 0);
    assert_int_equal(out, hlc_pack(3000, 41));
}

static void test_update_logical_overflow(void **state)
{
    (void)state;
    hlc_t h;
    hlc_init(&h, 1, 0);
    uint64_t out = 0;
    assert_int_equal(hlc_update(&h, hlc_pack(100, HLC_LOGICAL_MAX), 100, 0, &out), 0);
    assert_int_equal(out, hlc_pack(101, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_roundtrip),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_now_follows_wall),
        cmocka_unit_test(test_logical_within_ms),
        cmocka_unit_test(test_monotonic_wall_backwards),
        cmocka_unit_test(test_logical_overflow_carries),
        cmocka_unit_test(test_wall_clamped),
        cmocka_unit_test(test_stamp_node_id),
        cmocka_unit_test(test_version_tiebreak),
        cmocka_unit_test(test_update_remote_ahead),
        cmocka_unit_test(test_update_remote_too_far),
        cmocka_unit_test(test_update_wall_behind_clock),
        cmocka_unit_test(test_update_remote_behind),
        cmocka_unit_test(test_update_logical_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
