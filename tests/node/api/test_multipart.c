/* test_multipart.c - node/api/multipart.c on the shapes real clients send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "multipart.h"

static void test_sdk_shape(void **state)
{
    /* What undici's FormData (wrangler, the SDK) produces. */
    const char *ct = "multipart/form-data; boundary=----formdata-undici-0123";
    const char *body = "------formdata-undici-0123\r\n"
                       "Content-Disposition: form-data; name=\"value\"; filename=\"blob\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n"
                       "bin\r\nary\r\n\r\n"
                       "------formdata-undici-0123\r\n"
                       "Content-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                       "{\"a\":1}\r\n"
                       "------formdata-undici-0123--\r\n";
    mp_part_t parts[MP_MAX_PARTS];
    size_t n;
    const mp_part_t *v, *m;
    (void)state;
    assert_true(mp_is_multipart(ct, strlen(ct)));
    assert_int_equal(
        mp_parse(ct, strlen(ct), (const uint8_t *)body, strlen(body), parts, MP_MAX_PARTS, &n), 0);
    assert_int_equal(n, 2);
    v = mp_find(parts, n, "value");
    m = mp_find(parts, n, "metadata");
    assert_non_null(v);
    assert_non_null(m);
    assert_true(v->is_file);
    assert_int_equal(v->len, 10); /* the CRLF before the delimiter is not data */
    assert_memory_equal(v->data, "bin\r\nary\r\n", 10);
    assert_int_equal(m->len, 7);
    assert_memory_equal(m->data, "{\"a\":1}", 7);
    assert_null(mp_find(parts, n, "other"));
}

static void test_quoted_boundary_and_errors(void **state)
{
    const char *ct = "multipart/form-data; boundary=\"xyz\"";
    const char *ok = "--xyz\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nv\r\n--xyz--";
    const char *trunc = "--xyz\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nv";
    const char *nohdr = "--xyz\r\nno end of headers";
    mp_part_t parts[1];
    size_t n;
    (void)state;
    assert_int_equal(mp_parse(ct, strlen(ct), (const uint8_t *)ok, strlen(ok), parts, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(parts[0].data, "v", 1);
    assert_false(parts[0].is_file);
    assert_int_equal(mp_parse(ct, strlen(ct), (const uint8_t *)trunc, strlen(trunc), parts, 1, &n),
                     -1);
    assert_int_equal(mp_parse(ct, strlen(ct), (const uint8_t *)nohdr, strlen(nohdr), parts, 1, &n),
                     -1);
    assert_int_equal(
        mp_parse("multipart/form-data", 19, (const uint8_t *)ok, strlen(ok), parts, 1, &n), -1);
    assert_false(mp_is_multipart("text/plain", 10));
}

static void test_bracketed_fields_are_separate(void **state)
{
    /* The SDK sends object metadata as metadata[foo]; it must not match. */
    const char *ct = "multipart/form-data; boundary=b";
    const char *body =
        "--b\r\nContent-Disposition: form-data; name=\"metadata[foo]\"\r\n\r\nbar\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nv\r\n--b--\r\n";
    mp_part_t parts[MP_MAX_PARTS];
    size_t n;
    (void)state;
    assert_int_equal(
        mp_parse(ct, strlen(ct), (const uint8_t *)body, strlen(body), parts, MP_MAX_PARTS, &n), 0);
    assert_null(mp_find(parts, n, "metadata"));
    assert_non_null(mp_find(parts, n, "value"));
}

static void test_empty_body(void **state)
{
    /* A multipart PUT without a body (no Content-Length) has no buffer:
     * refused, without arithmetic on the NULL pointer (found by fuzz_http;
     * the sanitizer builds abort on it). */
    const char *ct = "multipart/form-data; boundary=XX";
    mp_part_t parts[1];
    size_t n = 1;
    (void)state;
    assert_int_equal(mp_parse(ct, strlen(ct), NULL, 0, parts, 1, &n), -1);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_shape),
        cmocka_unit_test(test_quoted_boundary_and_errors),
        cmocka_unit_test(test_bracketed_fields_are_separate),
        cmocka_unit_test(test_empty_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
