/*
 * bulk_scan_oracle.h - node/api/bulk_scan.h's promise on one body, held
 * against jansson: whatever the reader takes (with its metadata texts
 * parsed by jansson, as rest_write.c does), jansson takes too and holds the
 * same items - key and value bytes, integers, base64 exactly when `true`,
 * the same metadata. A body the reader leaves is left unchanged.
 * Shared by test_bulk_scan.c and tests/fuzz/fuzz_bulkscan.c; the includer
 * defines BSO_CHECK(cond), which must not return when cond is false.
 */
#ifndef BULK_SCAN_ORACLE_H
#define BULK_SCAN_ORACLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bulk_scan.h"

static void bso_same_int(json_t *f, bool has, int64_t v)
{
    if (!f || json_is_null(f)) {
        BSO_CHECK(!has);
        return;
    }
    BSO_CHECK(has && json_is_integer(f) && json_integer_value(f) == v);
}

static void bso_same_string(json_t *s, const uint8_t *text, size_t len)
{
    BSO_CHECK(json_is_string(s) && json_string_length(s) == len);
    BSO_CHECK(len == 0 || memcmp(json_string_value(s), text, len) == 0);
}

static void bso_same_metadata(json_t *m, json_t *read)
{
    if (!m || json_is_null(m)) {
        BSO_CHECK(read == NULL);
        return;
    }
    char *a = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    char *b = json_dumps(read, JSON_COMPACT | JSON_ENCODE_ANY);
    BSO_CHECK(a && b && strcmp(a, b) == 0);
    free(a), free(b);
}

/* 1 when the reader took body[0..len) (checked against jansson), 0 when it
 * left it. buf holds len bytes, items and metas cap entries. */
static int bulk_scan_oracle(const uint8_t *body, size_t len, bool keys, uint8_t *buf,
                            bulk_scan_item_t *items, json_t **metas, size_t cap)
{
    json_t *doc;
    size_t n, i;
    if (len)
        memcpy(buf, body, len);
    n = keys ? bulk_scan_keys(buf, len, items, cap) : bulk_scan_put(buf, len, items, cap);
    if (n == 0) {
        BSO_CHECK(len == 0 || memcmp(buf, body, len) == 0);
        return 0;
    }
    BSO_CHECK(n <= cap);
    for (i = 0; i < n; i++) {
        metas[i] = items[i].metadata
                       ? json_loadb((const char *)items[i].metadata, items[i].metadata_len,
                                    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                       : NULL;
        if (items[i].metadata && !metas[i])
            break; /* the caller sends such a body to jansson */
    }
    if (i < n) {
        while (i > 0)
            json_decref(metas[--i]);
        return 0;
    }
    bulk_scan_decode(items, n);
    doc = json_loadb((const char *)body, len, JSON_ALLOW_NUL, NULL);
    BSO_CHECK(json_is_array(doc) && json_array_size(doc) == n);
    for (i = 0; i < n; i++) {
        json_t *item = json_array_get(doc, i);
        if (keys) {
            bso_same_string(item, items[i].key, items[i].key_len);
            continue;
        }
        BSO_CHECK(json_is_object(item));
        bso_same_string(json_object_get(item, "key"), items[i].key, items[i].key_len);
        bso_same_string(json_object_get(item, "value"), items[i].value, items[i].value_len);
        BSO_CHECK(json_is_true(json_object_get(item, "base64")) == items[i].base64);
        bso_same_int(json_object_get(item, "expiration"), items[i].has_expiration,
                     items[i].expiration);
        bso_same_int(json_object_get(item, "expiration_ttl"), items[i].has_expiration_ttl,
                     items[i].expiration_ttl);
        bso_same_metadata(json_object_get(item, "metadata"), metas[i]);
        json_decref(metas[i]);
    }
    json_decref(doc);
    return 1;
}

#endif /* BULK_SCAN_ORACLE_H */
