/*
 * bulk_scan.h - a direct reader for the usual shape of a REST bulk body,
 * so that a 10 000-item write is not first built as a jansson tree.
 *
 * The usual shape: a JSON array of objects whose fields are "key" and
 * "value" (strings), "base64" (true, false or null), "expiration" and
 * "expiration_ttl" (integers of at most BULK_SCAN_INT_DIGITS digits, or
 * null) and "metadata" (any JSON value, returned as its text), each at most
 * once, with "key" and "value" present. For a bulk delete: a JSON array of
 * strings.
 *
 * Anything else - another field, a repeated one, a number with a fraction
 * or an exponent, a string holding a UTF-16 surrogate escape, malformed
 * JSON anywhere, an empty array, more items than the caller's room - makes
 * the scan return 0, and the caller parses the body with jansson as
 * before. The reader never accepts a body jansson (JSON_ALLOW_NUL) would
 * refuse, and what it returns for a body it accepts is what jansson's tree
 * holds: the same bytes for each key and value, the same numbers, base64
 * exactly when the field is `true`. The one part it does not judge is a
 * metadata value beyond its syntax: the caller parses that text with
 * jansson (a number jansson cannot hold, such as 1e400, then sends the
 * whole body to jansson). tests/node/api/test_bulk_scan.c holds the reader
 * to this against jansson on generated and mutated bodies.
 *
 * Two steps, so that a refused body is left as it was: bulk_scan_put (or
 * bulk_scan_keys) reads without writing, and bulk_scan_decode then decodes
 * the escaped strings in place (a decoded string is never longer than its
 * JSON text), after which each item's pointers are its decoded bytes.
 */
#ifndef NODE_BULK_SCAN_H
#define NODE_BULK_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest integer the reader takes: 18 digits always fit an int64. */
#define BULK_SCAN_INT_DIGITS 18
/* Metadata nested deeper than this goes to jansson (its own limit is 2048). */
#define BULK_SCAN_MAX_DEPTH 64

typedef struct {
    uint8_t *key, *value; /* into the body; JSON text until bulk_scan_decode */
    size_t key_len, value_len;
    const uint8_t *metadata; /* the field's JSON text; NULL when absent or null */
    size_t metadata_len;
    int64_t expiration, expiration_ttl;
    bool has_expiration, has_expiration_ttl; /* present and not null */
    bool base64;                             /* the field is `true` */
    bool key_escaped, value_escaped;         /* hold a backslash (cleared by decode) */
} bulk_scan_item_t;

/* Read a bulk put body into items[0..cap). Returns the number of items (at
 * least 1), or 0 when the body is not of the usual shape or holds more than
 * cap items. Writes nothing into body. */
size_t bulk_scan_put(uint8_t *body, size_t len, bulk_scan_item_t *items, size_t cap);

/* Read a bulk delete body, a JSON array of strings, into items[0..cap)
 * (key fields only). Returns as bulk_scan_put. */
size_t bulk_scan_keys(uint8_t *body, size_t len, bulk_scan_item_t *items, size_t cap);

/* Decode the escaped keys and values of items read by bulk_scan_put or
 * bulk_scan_keys, in place in the body. Cannot fail: the scan checked every
 * escape. */
void bulk_scan_decode(bulk_scan_item_t *items, size_t n);

#endif /* NODE_BULK_SCAN_H */
