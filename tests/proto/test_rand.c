/* test_rand.c - proto/kv_rand.c: hex ids of the asked length, distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_rand.h"

static void test_random_hex(void **state)
{
    char a[KV_RAND_HEX_MAX + 1], b[33], odd[8];
    (void)state;
    assert_int_equal(kv_random_hex(a, 32), 0);
    assert_int_equal(kv_random_hex(b, 32), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(kv_random_hex(odd, 7), 0);
    assert_int_equal(strlen(odd), 7);
    assert_int_equal(kv_random_hex(a, KV_RAND_HEX_MAX), 0);
    assert_int_equal(strlen(a), KV_RAND_HEX_MAX);
    assert_int_equal(kv_random_hex(a, KV_RAND_HEX_MAX + 1), KV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_hex)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
