/*
 * record.h - the stored form of a key's record, and the shared buffer that
 * carries it from RocksDB through the read cache to an HTTP response.
 *
 * On disk a record is a fixed 32-byte little-endian header followed by the
 * metadata bytes and then the value bytes:
 *
 *   off size field
 *     0    1  format (STOR_RECORD_FORMAT)
 *     1    1  flags (bit 0: tombstone)
 *     2    2  reserved, 0
 *     4    4  metadata length
 *     8    8  version.hlc
 *    16    4  version.node_id
 *    20    4  reserved, 0
 *    24    8  expiration, absolute epoch seconds (0 = never)
 *    32  ...  metadata, then value
 *
 * A stor_blob_t is an immutable, reference-counted copy of one encoded
 * record. Decoding is a view into it (no allocation), so a hot GET sends the
 * value bytes straight out of the cached blob.
 *
 * Why not a protobuf like the node's state (node/replica/state.h): records are the
 * hot path. The fixed layout is read in place with no allocation and no
 * parse, the value bytes stay where they are (a 25 MiB value is never
 * re-encoded), and the format byte versions it as well as a message field
 * would.
 */
#ifndef STOR_RECORD_H
#define STOR_RECORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_version.h"

#define STOR_RECORD_FORMAT       1
#define STOR_RECORD_HEADER_BYTES 32

/* Decoded view of a record. Pointers borrow from the buffer decoded (or
 * from the caller for stor_apply), valid as long as that buffer is. */
typedef struct {
    kv_version_t version;
    int64_t expiration; /* absolute epoch seconds, 0 = never */
    bool tombstone;
    const char *metadata; /* JSON text; metadata_len 0 = none */
    size_t metadata_len;
    const uint8_t *value;
    size_t value_len;
} stor_record_t;

typedef struct stor_blob {
    atomic_uint refs;
    size_t len;
    uint8_t data[]; /* encoded record, len bytes */
} stor_blob_t;

/* Encode into the header buffer `hdr` (STOR_RECORD_HEADER_BYTES); the caller
 * concatenates hdr + metadata + value. */
void stor_record_encode_header(const stor_record_t *rec, uint8_t hdr[STOR_RECORD_HEADER_BYTES]);

/* The whole encoded record - header, metadata, value - into `out`, which
 * holds STOR_RECORD_HEADER_BYTES + metadata_len + value_len bytes. */
void stor_record_encode(const stor_record_t *rec, uint8_t *out);

/* Decode `len` bytes at `buf`. Returns 0 or KV_ECORRUPT. `out` borrows. */
int stor_record_decode(const uint8_t *buf, size_t len, stor_record_t *out);

/* True when the record is hidden at `now_s`: a tombstone, or expired
 * (expiration <= now, the Miniflare rule). */
bool stor_record_hidden(const stor_record_t *rec, int64_t now_s);

/* New blob holding a copy of `len` bytes, refs = 1. NULL when out of memory. */
stor_blob_t *stor_blob_new(const void *data, size_t len);
/* New blob encoding `rec` (header + metadata + value), refs = 1. */
stor_blob_t *stor_blob_from_record(const stor_record_t *rec);
void stor_blob_ref(stor_blob_t *b);
/* Drop one reference; frees on the last. NULL is a no-op. */
void stor_blob_unref(stor_blob_t *b);
/* Decode a blob produced by this module (KV_ASSERTs it is well formed). */
void stor_blob_record(const stor_blob_t *b, stor_record_t *out);

#endif
