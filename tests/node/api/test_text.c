/* test_text.c - node/api/text.c: percent-decoding, queries, Go-compatible
 * base64 errors, UTF-8 and integer parsing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void test_pct_decode(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(text_pct_decode("a%3Fb%2F%25", 11, out, false), 5);
    assert_memory_equal(out, "a?b/%", 5);
    assert_int_equal(text_pct_decode("a+b", 3, out, false), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(text_pct_decode("a+b", 3, out, true), 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(text_pct_decode("%e2%82%ac", 9, out, false), 3);
    assert_memory_equal(out, "\xe2\x82\xac", 3);
    assert_int_equal(text_pct_decode("bad%", 4, out, false), -1);
    assert_int_equal(text_pct_decode("bad%4", 5, out, false), -1);
    assert_int_equal(text_pct_decode("bad%zz", 6, out, false), -1);
}

static void test_query(void **state)
{
    const char *q = "urlencoded=true&prefix=a%20b&flag&cursor=";
    const char *v;
    size_t n;
    char buf[16];
    (void)state;
    assert_int_equal(text_query_get(q, strlen(q), "urlencoded", &v, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "true", 4);
    assert_int_equal(text_query_get(q, strlen(q), "flag", &v, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(text_query_get(q, strlen(q), "url", &v, &n), 0);
    assert_int_equal(text_query_get(NULL, 0, "x", &v, &n), 0);
    assert_int_equal(text_query_decode(q, strlen(q), "prefix", buf, sizeof buf), 3);
    assert_string_equal(buf, "a b");
    assert_int_equal(text_query_decode(q, strlen(q), "cursor", buf, sizeof buf), 0);
    assert_int_equal(text_query_decode(q, strlen(q), "nope", buf, sizeof buf), -1);
    assert_int_equal(text_query_decode("p=%zz", 5, "p", buf, sizeof buf), -2);
    assert_int_equal(text_query_decode("p=0123456789abcdefXYZ", 21, "p", buf, sizeof buf), -2);
}

static void test_parse_int(void **state)
{
    int64_t v;
    (void)state;
    assert_true(text_parse_int("60", 2, &v));
    assert_int_equal(v, 60);
    assert_true(text_parse_int("-5", 2, &v));
    assert_int_equal(v, -5);
    assert_true(text_parse_int("123.5", 5, &v));
    assert_int_equal(v, 123);
    assert_false(text_parse_int("NaN", 3, &v));
    assert_int_equal(v, 0);
    assert_false(text_parse_int("", 0, &v));
    assert_false(text_parse_int("12a", 3, &v));
    assert_false(text_parse_int("99999999999999999999999", 23, &v));
}

/* Numbers as the runtime converts them: int32 or refused, never wrapped. */
static void test_parse_num(void **state)
{
    int64_t v;
    char long_text[80];
    (void)state;
    assert_int_equal(text_parse_num("60", 2, &v), TEXT_NUM_OK);
    assert_int_equal(v, 60);
    assert_int_equal(text_parse_num("1e2", 3, &v), TEXT_NUM_OK);
    assert_int_equal(v, 100);
    assert_int_equal(text_parse_num("-29.9", 5, &v), TEXT_NUM_OK);
    assert_int_equal(v, -29);
    assert_int_equal(text_parse_num("2147483647", 10, &v), TEXT_NUM_OK);
    assert_int_equal(v, INT32_MAX);
    assert_int_equal(text_parse_num("-2147483648", 11, &v), TEXT_NUM_OK);
    assert_int_equal(v, INT32_MIN);
    assert_int_equal(text_parse_num("2147483648", 10, &v), TEXT_NUM_RANGE);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(text_parse_num("1e300", 5, &v), TEXT_NUM_RANGE);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(text_parse_num("-1e300", 6, &v), TEXT_NUM_RANGE);
    assert_int_equal(v, INT64_MIN);
    assert_int_equal(text_parse_num("1e999", 5, &v), TEXT_NUM_RANGE); /* inf */
    memset(long_text, '9', sizeof long_text);
    assert_int_equal(text_parse_num(long_text, sizeof long_text, &v), TEXT_NUM_RANGE);
    assert_int_equal(text_parse_num("abc", 3, &v), TEXT_NUM_NAN);
    assert_int_equal(v, 0);
    assert_int_equal(text_parse_num("", 0, &v), TEXT_NUM_NAN);
    assert_int_equal(text_parse_num("1e", 2, &v), TEXT_NUM_NAN);
    assert_int_equal(text_num_real(1e300, &v), TEXT_NUM_RANGE);
    assert_int_equal(text_num_real(-1e300, &v), TEXT_NUM_RANGE);
    assert_int_equal(v, INT64_MIN);
    assert_int_equal(text_num_real((double)NAN, &v), TEXT_NUM_NAN);
    assert_int_equal(text_num_real(60.9, &v), TEXT_NUM_OK);
    assert_int_equal(v, 60);
}

static void b64_ok(const char *in, const char *want)
{
    uint8_t out[64];
    size_t pos = 999;
    long n = text_b64_decode(in, strlen(in), out, &pos);
    assert_int_equal(n, (long)strlen(want));
    assert_memory_equal(out, want, strlen(want));
}

static void b64_bad(const char *in, size_t want_pos)
{
    uint8_t out[64];
    size_t pos = 999;
    assert_int_equal(text_b64_decode(in, strlen(in), out, &pos), -1);
    assert_int_equal(pos, want_pos);
}

static void test_b64(void **state)
{
    char enc[64];
    (void)state;
    b64_ok("", "");
    b64_ok("aGVsbG8=", "hello");
    b64_ok("aGVsbG8h", "hello!");
    b64_ok("aGVs\r\nbG8=", "hello");
    b64_ok("aGk=", "hi");
    /* Offsets as Go's encoding/base64 reports them. */
    b64_bad("aGVsbG!=", 6); /* the production example: byte 6 */
    b64_bad("aGVsbG8", 4);  /* truncated quantum: its first byte */
    b64_bad("a", 0);
    b64_bad("=aaa", 0);
    b64_bad("aG==aGk=", 4); /* data after padding */
    b64_bad("aGk", 0);
    assert_int_equal(text_b64_encode((const uint8_t *)"hello", 5, enc), 8);
    assert_string_equal(enc, "aGVsbG8=");
    assert_int_equal(text_b64_encode((const uint8_t *)"hi!", 3, enc), 4);
    assert_string_equal(enc, "aGkh");
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(text_utf8_valid("plain", 5));
    assert_true(text_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_false(text_utf8_valid("\xc3", 1));
    assert_false(text_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(text_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(text_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(text_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode), cmocka_unit_test(test_query),
        cmocka_unit_test(test_parse_int),  cmocka_unit_test(test_b64),
        cmocka_unit_test(test_utf8),       cmocka_unit_test(test_parse_num),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
