/* test_log_limit.c - proto/kv_log.c kv_log_limit: the first line passes,
 * then one per interval with the count held back since, whatever the rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kv_limits.h"
#include "kv_log.h"

static void test_one_line_per_interval(void **state)
{
    kv_log_limit_t l = {0};
    uint64_t held = 99, lines = 0, events = 0;
    (void)state;
    /* The first event passes at once, whatever the clock reads. */
    assert_true(kv_log_limit(&l, 0, 1000, &held));
    assert_int_equal(held, 0);
    /* Within the interval: held back. */
    assert_false(kv_log_limit(&l, 1, 1000, &held));
    assert_false(kv_log_limit(&l, 999, 1000, &held));
    /* At the interval: passes, with the two held back. */
    assert_true(kv_log_limit(&l, 1000, 1000, &held));
    assert_int_equal(held, 2);
    /* A flood: 1000 events per millisecond for 10 s make 10 lines, and
     * every event is counted in one of them. */
    for (uint64_t t = 1001; t <= 11000; t++) {
        for (int i = 0; i < 1000; i++) {
            events++;
            if (kv_log_limit(&l, t, 1000, &held)) {
                lines++;
                events -= held;
            }
        }
    }
    assert_int_equal(lines, 10);
    /* Every other event was reported as held, or is still held. */
    assert_int_equal(events, lines + l.held);
    assert_int_equal(l.held, 999); /* the rest of the last millisecond */
    /* A clock seen going back lets the line through (never silenced). */
    assert_true(kv_log_limit(&l, 5, 1000, NULL));
    assert_false(kv_log_limit(&l, 6, 1000, &held));
}

static void test_handshake_interval(void **state)
{
    kv_log_limit_t l = {0};
    uint64_t held;
    (void)state;
    /* The replication port's failed handshakes: one line per interval. */
    assert_true(kv_log_limit(&l, 5000, KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS, &held));
    for (int i = 0; i < 1024; i++)
        assert_false(
            kv_log_limit(&l, 5000 + (uint64_t)i, KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS, &held));
    assert_true(kv_log_limit(&l, 5000 + KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS,
                             KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS, &held));
    assert_int_equal(held, 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line_per_interval),
        cmocka_unit_test(test_handshake_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
