/* test_record.c - record encoding, decoding, visibility and blobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "record.h"

static stor_record_t sample(void)
{
    stor_record_t r = {0};
    r.version = (kv_version_t){0x0123456789abcdefULL, 0xdeadbeef};
    r.expiration = 1700000000;
    r.metadata = "{\"a\":1}";
    r.metadata_len = 7;
    r.value = (const uint8_t *)"hello\0world";
    r.value_len = 11;
    return r;
}

static void test_round_trip(void **state)
{
    stor_record_t r = sample();
    stor_blob_t *b = stor_blob_from_record(&r);
    assert_non_null(b);
    assert_int_equal(b->len, STOR_RECORD_HEADER_BYTES + 7 + 11);
    /* Layout of record.h, byte for byte. */
    assert_int_equal(b->data[0], STOR_RECORD_FORMAT);
    assert_int_equal(b->data[1], 0);
    assert_int_equal(b->data[4], 7);
    assert_int_equal(b->data[8], 0xef);
    assert_int_equal(b->data[15], 0x01);
    assert_int_equal(b->data[16], 0xef);
    assert_int_equal(b->data[19], 0xde);
    assert_memory_equal(b->data + 32, "{\"a\":1}", 7);

    stor_record_t d;
    assert_int_equal(stor_record_decode(b->data, b->len, &d), 0);
    assert_true(d.version.hlc == r.version.hlc);
    assert_int_equal(d.version.node_id, 0xdeadbeef);
    assert_int_equal(d.expiration, 1700000000);
    assert_false(d.tombstone);
    assert_int_equal(d.metadata_len, 7);
    assert_memory_equal(d.metadata, "{\"a\":1}", 7);
    assert_int_equal(d.value_len, 11);
    assert_memory_equal(d.value, "hello\0world", 11);
    /* Views point into the blob, no copies. */
    assert_ptr_equal(d.value, b->data + 32 + 7);

    stor_record_t e;
    stor_blob_record(b, &e);
    assert_int_equal(e.value_len, 11);
    stor_blob_unref(b);
}

static void test_header_then_parts(void **state)
{
    stor_record_t r = {0};
    r.version = (kv_version_t){5, 2};
    r.tombstone = true;
    uint8_t buf[STOR_RECORD_HEADER_BYTES];
    stor_record_encode_header(&r, buf);
    assert_int_equal(buf[1], 1);
    stor_record_t d;
    assert_int_equal(stor_record_decode(buf, sizeof(buf), &d), 0);
    assert_true(d.tombstone);
    assert_int_equal(d.metadata_len, 0);
    assert_int_equal(d.value_len, 0);
    assert_int_equal(d.expiration, 0);
    assert_true(d.version.hlc == 5);
    assert_int_equal(d.version.node_id, 2);
}

static void test_corrupt(void **state)
{
    stor_record_t r = sample();
    stor_blob_t *b = stor_blob_from_record(&r);
    stor_record_t d;
    /* Short buffers, including one byte short of a header. */
    assert_int_equal(stor_record_decode(b->data, 0, &d), KV_ECORRUPT);
    assert_int_equal(stor_record_decode(b->data, STOR_RECORD_HEADER_BYTES - 1, &d), KV_ECORRUPT);
    /* Metadata length running past the end (header + 6 of 7 metadata bytes). */
    assert_int_equal(stor_record_decode(b->data, STOR_RECORD_HEADER_BYTES + 6, &d), KV_ECORRUPT);
    assert_int_equal(stor_record_decode(b->data, STOR_RECORD_HEADER_BYTES + 7, &d), 0);
    assert_int_equal(d.value_len, 0);

    uint8_t copy[64];
    memcpy(copy, b->data, b->len);
    copy[4] = 0xff; /* metadata length 255 > 18 bytes left */
    assert_int_equal(stor_record_decode(copy, b->len, &d), KV_ECORRUPT);
    memcpy(copy, b->data, b->len);
    copy[7] = 0x80; /* metadata length near 2^31 */
    assert_int_equal(stor_record_decode(copy, b->len, &d), KV_ECORRUPT);
    memcpy(copy, b->data, b->len);
    copy[0] = 2; /* unknown format */
    assert_int_equal(stor_record_decode(copy, b->len, &d), KV_ECORRUPT);
    copy[0] = 0;
    assert_int_equal(stor_record_decode(copy, b->len, &d), KV_ECORRUPT);
    memcpy(copy, b->data, b->len);
    copy[1] = 0x02; /* unknown flag */
    assert_int_equal(stor_record_decode(copy, b->len, &d), KV_ECORRUPT);
    stor_blob_unref(b);
}

static void test_hidden(void **state)
{
    stor_record_t r = {0};
    r.expiration = 0;
    assert_false(stor_record_hidden(&r, 0));
    assert_false(stor_record_hidden(&r, INT64_MAX));
    r.expiration = 1000;
    assert_false(stor_record_hidden(&r, 999));
    assert_true(stor_record_hidden(&r, 1000)); /* expiration <= now is gone */
    assert_true(stor_record_hidden(&r, 1001));
    r.expiration = 0;
    r.tombstone = true;
    assert_true(stor_record_hidden(&r, 0));
    r.expiration = 5000;
    assert_true(stor_record_hidden(&r, 1));
}

static void test_blob_refs(void **state)
{
    stor_blob_t *b = stor_blob_new("abc", 3);
    assert_non_null(b);
    assert_int_equal(atomic_load(&b->refs), 1);
    assert_int_equal(b->len, 3);
    assert_memory_equal(b->data, "abc", 3);
    stor_blob_ref(b);
    assert_int_equal(atomic_load(&b->refs), 2);
    stor_blob_unref(b);
    assert_int_equal(atomic_load(&b->refs), 1);
    stor_blob_unref(b); /* freed: ASan would flag a leak or double free */
    stor_blob_unref(NULL);

    stor_blob_t *e = stor_blob_new(NULL, 0);
    assert_non_null(e);
    assert_int_equal(e->len, 0);
    stor_blob_unref(e);
}

static void test_blob_oom(void **state)
{
    stor_record_t r = sample();
    kv_mem_failing_set(0);
    assert_null(stor_blob_new("abc", 3));
    kv_mem_failing_set(0);
    assert_null(stor_blob_from_record(&r));
    kv_mem_set(NULL);
    stor_blob_t *b = stor_blob_from_record(&r);
    assert_non_null(b);
    stor_blob_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_header_then_parts),
        cmocka_unit_test(test_corrupt),    cmocka_unit_test(test_hidden),
        cmocka_unit_test(test_blob_refs),  cmocka_unit_test(test_blob_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
