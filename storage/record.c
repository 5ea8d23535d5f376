/*
 * record.c - encoding of a stored record and the reference-counted blob that
 * carries one.
 *
 * This file knows the byte layout documented in record.h and nothing about
 * RocksDB, namespaces or caching. Decoding never allocates: it returns a view
 * into the caller's buffer. It rejects any buffer whose lengths do not add up
 * (KV_ECORRUPT), so code past stor_record_decode() may trust the view.
 */
#include "record.h"

#include <string.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_mem.h"

/* Header offsets (record.h). */
#define REC_OFF_FORMAT     0
#define REC_OFF_FLAGS      1
#define REC_OFF_META_LEN   4
#define REC_OFF_HLC        8
#define REC_OFF_NODE       16
#define REC_OFF_EXPIRATION 24

#define REC_FLAG_TOMBSTONE 0x01u
/* Flags this version understands; any other bit means a newer or broken writer. */
#define REC_FLAGS_KNOWN REC_FLAG_TOMBSTONE

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void stor_record_encode_header(const stor_record_t *rec, uint8_t hdr[STOR_RECORD_HEADER_BYTES])
{
    KV_ASSERT(rec->metadata_len <= UINT32_MAX);
    memset(hdr, 0, STOR_RECORD_HEADER_BYTES);
    hdr[REC_OFF_FORMAT] = STOR_RECORD_FORMAT;
    hdr[REC_OFF_FLAGS] = rec->tombstone ? REC_FLAG_TOMBSTONE : 0;
    put_u32(hdr + REC_OFF_META_LEN, (uint32_t)rec->metadata_len);
    put_u64(hdr + REC_OFF_HLC, rec->version.hlc);
    put_u32(hdr + REC_OFF_NODE, rec->version.node_id);
    put_u64(hdr + REC_OFF_EXPIRATION, (uint64_t)rec->expiration);
}

int stor_record_decode(const uint8_t *buf, size_t len, stor_record_t *out)
{
    if (len < STOR_RECORD_HEADER_BYTES)
        return KV_ECORRUPT;
    if (buf[REC_OFF_FORMAT] != STOR_RECORD_FORMAT)
        return KV_ECORRUPT;
    if (buf[REC_OFF_FLAGS] & ~REC_FLAGS_KNOWN)
        return KV_ECORRUPT;
    size_t meta_len = get_u32(buf + REC_OFF_META_LEN);
    if (meta_len > len - STOR_RECORD_HEADER_BYTES)
        return KV_ECORRUPT;
    out->tombstone = (buf[REC_OFF_FLAGS] & REC_FLAG_TOMBSTONE) != 0;
    out->version.hlc = get_u64(buf + REC_OFF_HLC);
    out->version.node_id = get_u32(buf + REC_OFF_NODE);
    out->expiration = (int64_t)get_u64(buf + REC_OFF_EXPIRATION);
    out->metadata = (const char *)buf + STOR_RECORD_HEADER_BYTES;
    out->metadata_len = meta_len;
    out->value = buf + STOR_RECORD_HEADER_BYTES + meta_len;
    out->value_len = len - STOR_RECORD_HEADER_BYTES - meta_len;
    return 0;
}

bool stor_record_hidden(const stor_record_t *rec, int64_t now_s)
{
    if (rec->tombstone)
        return true;
    return rec->expiration != 0 && rec->expiration <= now_s;
}

stor_blob_t *stor_blob_new(const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(stor_blob_t))
        return NULL;
    stor_blob_t *b = kv_malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

void stor_record_encode(const stor_record_t *rec, uint8_t *out)
{
    stor_record_encode_header(rec, out);
    if (rec->metadata_len)
        memcpy(out + STOR_RECORD_HEADER_BYTES, rec->metadata, rec->metadata_len);
    if (rec->value_len)
        memcpy(out + STOR_RECORD_HEADER_BYTES + rec->metadata_len, rec->value, rec->value_len);
}

stor_blob_t *stor_blob_from_record(const stor_record_t *rec)
{
    size_t body = rec->metadata_len + rec->value_len;
    if (body < rec->metadata_len ||
        body > SIZE_MAX - sizeof(stor_blob_t) - STOR_RECORD_HEADER_BYTES)
        return NULL;
    size_t len = STOR_RECORD_HEADER_BYTES + body;
    stor_blob_t *b = kv_malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    stor_record_encode(rec, b->data);
    return b;
}

void stor_blob_ref(stor_blob_t *b)
{
    /* Taking a reference needs no ordering: the caller already holds one. */
    unsigned old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    KV_ASSERT(old > 0);
}

void stor_blob_unref(stor_blob_t *b)
{
    if (!b)
        return;
    /* acq_rel: the last dropper must see every other holder's reads finished. */
    unsigned old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
    KV_ASSERT(old > 0);
    if (old == 1)
        kv_free(b);
}

void stor_blob_record(const stor_blob_t *b, stor_record_t *out)
{
    int rc = stor_record_decode(b->data, b->len, out);
    KV_ASSERT(rc == 0);
}
