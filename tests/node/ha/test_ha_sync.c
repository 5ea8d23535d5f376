/*
 * test_ha_sync.c - the leader's record of its synchronous standbys
 * (node/ha/ha_sync.h): what it writes, and who may claim under it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ha_sync.h"
#include "kv_err.h"
#include "kv_limits.h"

static void test_format(void **state)
{
    char buf[KV_HA_RECORD_MAX_BYTES + 1];
    const char *two[2] = {"origin-b", "origin_c.2"};
    (void)state;
    assert_int_equal(ha_sync_format(buf, sizeof buf, 42, "origin-a", two, 2), 0);
    assert_string_equal(buf, "42 origin-a origin-b,origin_c.2");
    assert_int_equal(ha_sync_format(buf, sizeof buf, 7, "a", NULL, 0), 0);
    assert_string_equal(buf, "7 a -");
    /* Names the record could not carry, too many, too little room. */
    const char *bad[1] = {"has space"};
    assert_int_equal(ha_sync_format(buf, sizeof buf, 1, "a", bad, 1), KV_EINVAL);
    const char *comma[1] = {"a,b"};
    assert_int_equal(ha_sync_format(buf, sizeof buf, 1, "a", comma, 1), KV_EINVAL);
    assert_int_equal(ha_sync_format(buf, sizeof buf, 1, "", NULL, 0), KV_EINVAL);
    const char *nine[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    assert_int_equal(ha_sync_format(buf, sizeof buf, 1, "x", nine, 9), KV_EINVAL);
    assert_int_equal(ha_sync_format(buf, 8, 1, "origin-a", two, 2), KV_ETOOBIG);
}

static void test_may_claim(void **state)
{
    (void)state;
    assert_true(ha_sync_may_claim(NULL, "a")); /* no record: the first leader */
    assert_true(ha_sync_may_claim("42 a b,c", "a"));
    assert_true(ha_sync_may_claim("42 a b,c", "b"));
    assert_true(ha_sync_may_claim("42 a b,c", "c"));
    assert_false(ha_sync_may_claim("42 a b,c", "d"));
    assert_false(ha_sync_may_claim("42 a b,c", "b,c"));
    assert_false(ha_sync_may_claim("42 ab c", "a")); /* whole names only */
    assert_false(ha_sync_may_claim("42 a bc", "b"));
    assert_true(ha_sync_may_claim("42 a -", "a"));
    assert_false(ha_sync_may_claim("42 a -", "b"));
    /* What does not parse names nobody. */
    assert_false(ha_sync_may_claim("", "a"));
    assert_false(ha_sync_may_claim("42 a", "a"));
    assert_false(ha_sync_may_claim("x a b", "a"));
    assert_false(ha_sync_may_claim("42 a b c", "a"));
    assert_false(ha_sync_may_claim("42 a b,", "b"));
    assert_false(ha_sync_may_claim("42 a ,b", "b"));
    assert_false(ha_sync_may_claim("42  a b", "a"));
    assert_false(ha_sync_may_claim("42 a b,c,d,e,f,g,h,i,j", "b")); /* over the limit */
    assert_false(ha_sync_may_claim("42 a b/c", "a"));
}

/* What format writes, may_claim reads. */
static void test_round_trip(void **state)
{
    char buf[KV_HA_RECORD_MAX_BYTES + 1];
    const char *names[KV_REPL_SYNC_STANDBYS_MAX] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"};
    (void)state;
    for (size_t n = 0; n <= KV_REPL_SYNC_STANDBYS_MAX; n++) {
        assert_int_equal(ha_sync_format(buf, sizeof buf, 9000000000LL, "lead", names, n), 0);
        assert_true(ha_sync_may_claim(buf, "lead"));
        for (size_t i = 0; i < KV_REPL_SYNC_STANDBYS_MAX; i++)
            assert_int_equal(ha_sync_may_claim(buf, names[i]), i < n);
        assert_false(ha_sync_may_claim(buf, "n"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_may_claim),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
