/*
 * frame.c - the length-prefixed Frame codec of frame.h.
 *
 * The reader is a two-phase state machine (prefix, then body). Its only
 * allocation is the body buffer, sized to the announced length once that
 * length has been checked against the limit; a frame that arrives whole
 * in one chunk is decoded in place and never touches the buffer.
 */
#include "frame.h"

#include <errno.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_mem.h"

static void *frame__pb_alloc(void *data, size_t size)
{
    (void)data;
    return kv_malloc(size);
}

static void frame__pb_free(void *data, void *p)
{
    (void)data;
    kv_free(p);
}

static ProtobufCAllocator frame__allocator = {frame__pb_alloc, frame__pb_free, NULL};

ProtobufCAllocator *frame_pb_allocator(void)
{
    return &frame__allocator;
}

void frame_put_len(uint8_t *p, uint32_t len)
{
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

uint32_t frame_get_len(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int frame_size(const Edgekv__Frame *f, size_t *out)
{
    size_t body = edgekv__frame__get_packed_size(f);
    if (body > KV_FRAME_MAX_BYTES)
        return KV_ETOOBIG;
    *out = FRAME_PREFIX_BYTES + body;
    return 0;
}

void frame_pack(const Edgekv__Frame *f, uint8_t *buf, size_t size)
{
    KV_ASSERT(size >= FRAME_PREFIX_BYTES && size - FRAME_PREFIX_BYTES <= KV_FRAME_MAX_BYTES);
    frame_put_len(buf, (uint32_t)(size - FRAME_PREFIX_BYTES));
    size_t n = edgekv__frame__pack(f, buf + FRAME_PREFIX_BYTES);
    KV_ASSERT(n == size - FRAME_PREFIX_BYTES);
}

int frame_encode(const Edgekv__Frame *f, uint8_t **out, size_t *out_len)
{
    size_t size;
    int rc = frame_size(f, &size);
    if (rc != 0)
        return rc;
    uint8_t *buf = kv_malloc(size);
    if (!buf)
        return -ENOMEM;
    frame_pack(f, buf, size);
    *out = buf;
    *out_len = size;
    return 0;
}

int frame_decode(const uint8_t *body, size_t len, Edgekv__Frame **out)
{
    static const uint8_t empty[1];
    Edgekv__Frame *f = edgekv__frame__unpack(&frame__allocator, len, len ? body : empty);
    if (!f)
        return KV_ECORRUPT;
    *out = f;
    return 0;
}

void frame_free(Edgekv__Frame *f)
{
    if (f)
        edgekv__frame__free_unpacked(f, &frame__allocator);
}

void frame_reader_init(frame_reader_t *r, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->max_bytes = max_bytes;
}

void frame_reader_free(frame_reader_t *r)
{
    kv_free(r->buf);
    r->buf = NULL;
    r->buf_cap = 0;
}

/* The frame is done: back to reading a prefix. A big buffer is not kept. */
static void frame__reader_done(frame_reader_t *r)
{
    r->last_frame_bytes = FRAME_PREFIX_BYTES + r->body_len;
    r->hdr_have = 0;
    r->body_len = 0;
    r->body_have = 0;
    if (r->buf_cap > KV_FRAME_READER_KEEP_BYTES)
        frame_reader_free(r);
}

static int frame__reader_fail(frame_reader_t *r, int err)
{
    r->err = err;
    frame_reader_free(r);
    return err;
}

/* Read prefix bytes; check the announced length before anything else. */
static int frame__reader_prefix(frame_reader_t *r, const uint8_t **data, size_t *len)
{
    size_t take = FRAME_PREFIX_BYTES - r->hdr_have;
    if (take > *len)
        take = *len;
    memcpy(r->hdr + r->hdr_have, *data, take);
    r->hdr_have += take;
    *data += take;
    *len -= take;
    if (r->hdr_have < FRAME_PREFIX_BYTES)
        return 0;
    r->body_len = frame_get_len(r->hdr);
    if (r->body_len > r->max_bytes)
        return frame__reader_fail(r, KV_ETOOBIG);
    return 0;
}

/* Buffer body bytes; 1 when the body is complete. */
static int frame__reader_body(frame_reader_t *r, const uint8_t **data, size_t *len)
{
    if (r->buf_cap < r->body_len) {
        KV_ASSERT(r->body_have == 0);
        kv_free(r->buf);
        r->buf_cap = 0;
        r->buf = kv_malloc(r->body_len);
        if (!r->buf)
            return frame__reader_fail(r, -ENOMEM);
        r->buf_cap = r->body_len;
    }
    size_t take = r->body_len - r->body_have;
    if (take > *len)
        take = *len;
    memcpy(r->buf + r->body_have, *data, take);
    r->body_have += take;
    *data += take;
    *len -= take;
    return r->body_have == r->body_len;
}

int frame_reader_next(frame_reader_t *r, const uint8_t **data, size_t *len, Edgekv__Frame **out)
{
    *out = NULL;
    if (r->err)
        return r->err;
    while (*len > 0 || r->hdr_have == FRAME_PREFIX_BYTES) {
        if (r->hdr_have < FRAME_PREFIX_BYTES) {
            int rc = frame__reader_prefix(r, data, len);
            if (rc < 0)
                return rc;
            continue;
        }
        const uint8_t *body;
        if (r->body_have == 0 && *len >= r->body_len) {
            /* Whole body in the caller's chunk: decode it in place. */
            body = *data;
            *data += r->body_len;
            *len -= r->body_len;
        } else {
            int rc = frame__reader_body(r, data, len);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return 0;
            body = r->buf;
        }
        int rc = frame_decode(body, r->body_len, out);
        if (rc != 0)
            return frame__reader_fail(r, rc);
        frame__reader_done(r);
        return 1;
    }
    return 0;
}
