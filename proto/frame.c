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
#include <stdbool.h>
#include <stdint.h>
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

/*
 * A decoded Frame lives in one arena: protobuf-c's many small allocations
 * (every sub-message, bytes field and pointer array) are bumped out of a few
 * chunks, and frame_free() drops the chunks without walking the message.
 * The arena's header sits in front of the Frame, which is protobuf-c's
 * first allocation (checked). Frees during unpacking (its scratch slabs) are
 * ignored; the memory goes with the frame. An allocation too big for a chunk
 * (a large value) gets a chunk of its own, so a 25 MiB value costs 25 MiB.
 * Under AddressSanitizer every allocation gets its own chunk, so overflows
 * inside a decoded frame are still caught.
 */
#define FRAME_ARENA_ALIGN     16u
#define FRAME_ARENA_MIN_BYTES 512u
/* Decoded structs outweigh their encoding for small fields: a first chunk of
 * twice the body's size holds most frames whole. */
#define FRAME_ARENA_BODY_FACTOR 2u
#define FRAME_ARENA_CHUNK_MAX   (256u * 1024u)

#if defined(__SANITIZE_ADDRESS__)
#define FRAME_ARENA_SEPARATE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FRAME_ARENA_SEPARATE 1
#endif
#endif
#ifndef FRAME_ARENA_SEPARATE
#define FRAME_ARENA_SEPARATE 0
#endif

typedef struct frame__chunk {
    struct frame__chunk *next;
    size_t cap; /* bytes of data[] */
    size_t used;
    _Alignas(FRAME_ARENA_ALIGN) unsigned char data[];
} frame__chunk_t;

typedef struct {
    frame__chunk_t *chunks; /* newest first; the last one holds this header */
    size_t next_cap;        /* capacity of the next shared chunk */
    bool failed;            /* an allocation failed: -ENOMEM, not corrupt */
    void *first;            /* protobuf-c's first allocation: the Frame */
    uint32_t refs;          /* a decoded Frame's holders (shared decodes); 1 otherwise */
} frame__arena_t;

static size_t frame__round(size_t n)
{
    return (n + FRAME_ARENA_ALIGN - 1) & ~(size_t)(FRAME_ARENA_ALIGN - 1);
}

static frame__chunk_t *frame__chunk_new(frame__arena_t *a, size_t cap)
{
    if (cap > SIZE_MAX - sizeof(frame__chunk_t))
        return NULL;
    frame__chunk_t *c = kv_malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = a->chunks;
    a->chunks = c;
    return c;
}

static void *frame__arena_alloc(void *data, size_t size)
{
    frame__arena_t *a = data;
    size_t n = frame__round(size ? size : 1);
    frame__chunk_t *c = a->chunks;
    if (n > c->cap - c->used || (FRAME_ARENA_SEPARATE && a->first)) {
        size_t cap = n;
        if (!FRAME_ARENA_SEPARATE && n <= a->next_cap / 2) {
            cap = a->next_cap; /* a new shared chunk; the old one's rest is wasted */
            if (a->next_cap < FRAME_ARENA_CHUNK_MAX)
                a->next_cap *= 2;
        }
        c = frame__chunk_new(a, cap);
        if (!c) {
            a->failed = true;
            return NULL;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    if (!a->first)
        a->first = p;
    return p;
}

static void frame__arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void frame__arena_drop(frame__arena_t *a)
{
    frame__chunk_t *c = a->chunks;
    while (c) {
        frame__chunk_t *next = c->next;
        kv_free(c); /* the last one holds *a */
        c = next;
    }
}

int frame_decode(const uint8_t *body, size_t len, Edgekv__Frame **out)
{
    static const uint8_t empty[1];
    *out = NULL;
    /* The first chunk holds the arena header and the Frame right behind it. */
    size_t head = frame__round(sizeof(frame__arena_t));
    size_t cap = len <= FRAME_ARENA_CHUNK_MAX / FRAME_ARENA_BODY_FACTOR
                     ? FRAME_ARENA_BODY_FACTOR * len
                     : FRAME_ARENA_CHUNK_MAX;
    if (cap < FRAME_ARENA_MIN_BYTES)
        cap = FRAME_ARENA_MIN_BYTES;
    if (FRAME_ARENA_SEPARATE)
        cap = head + frame__round(sizeof(Edgekv__Frame)); /* the Frame, exactly */
    frame__chunk_t *c = kv_malloc(sizeof *c + cap);
    if (!c)
        return -ENOMEM;
    c->next = NULL;
    c->cap = cap;
    c->used = head;
    frame__arena_t *a = (frame__arena_t *)(void *)c->data;
    *a = (frame__arena_t){
        .chunks = c, .next_cap = cap < FRAME_ARENA_CHUNK_MAX ? cap * 2 : cap, .refs = 1};
    ProtobufCAllocator alloc = {frame__arena_alloc, frame__arena_free, a};
    Edgekv__Frame *f = edgekv__frame__unpack(&alloc, len, len ? body : empty);
    if (!f) {
        bool oom = a->failed;
        frame__arena_drop(a);
        return oom ? -ENOMEM : KV_ECORRUPT;
    }
    /* frame_free() finds the header right in front of the Frame. */
    KV_ASSERT((void *)f == a->first && (unsigned char *)f == c->data + head);
    *out = f;
    return 0;
}

static frame__arena_t *frame__arena_of(Edgekv__Frame *f)
{
    return (frame__arena_t *)(void *)((unsigned char *)f - frame__round(sizeof(frame__arena_t)));
}

void frame_free(Edgekv__Frame *f)
{
    if (!f)
        return;
    frame__arena_t *a = frame__arena_of(f);
    KV_ASSERT(a->refs > 0);
    if (--a->refs == 0)
        frame__arena_drop(a);
}

/* ---- shared decodes (frame_share_install) ------------------------------------------ */

typedef struct {
    uint64_t hash;
    size_t len;
    uint8_t *bytes; /* kv_malloc'd copy of the body, compared in full on a hit */
    Edgekv__Frame *f;
} frame__share_ent_t;

/* Process-wide; NULL table (the default, and always in the node): no sharing. */
static struct {
    frame__share_ent_t *ents;
    size_t mask;
    uint64_t hits;
} frame__share;

static bool frame__shareable(const Edgekv__Frame *f)
{
    return f->msg_case == EDGEKV__FRAME__MSG_BATCH ||
           f->msg_case == EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK;
}

/* The table index: the length and a 64-bit multiply-xorshift over the
 * first FRAME_SHARE_MIN_BYTES bytes (a batch's first mutation's seq and
 * version are there), not a check: a hit compares every byte. */
static uint64_t frame__hash(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n;
    if (n > FRAME_SHARE_MIN_BYTES)
        n = FRAME_SHARE_MIN_BYTES;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h ^ (h >> 29);
}

static void frame__share_evict(frame__share_ent_t *e)
{
    frame_free(e->f);
    kv_free(e->bytes);
    memset(e, 0, sizeof *e);
}

int frame_share_install(size_t slots)
{
    if (frame__share.ents) {
        for (size_t i = 0; i <= frame__share.mask; i++)
            if (frame__share.ents[i].f)
                frame__share_evict(&frame__share.ents[i]);
        kv_free(frame__share.ents);
        memset(&frame__share, 0, sizeof frame__share);
    }
    if (slots == 0)
        return 0;
    KV_ASSERT((slots & (slots - 1)) == 0 && "a power of two");
    frame__share.ents = kv_calloc(slots, sizeof *frame__share.ents);
    if (!frame__share.ents)
        return -ENOMEM;
    frame__share.mask = slots - 1;
    return 0;
}

uint64_t frame_share_hits(void)
{
    return frame__share.hits;
}

/* frame_decode, or another holder of the very same bytes' Frame. */
static int frame__decode_shared(const uint8_t *body, size_t len, Edgekv__Frame **out)
{
    if (!frame__share.ents || len < FRAME_SHARE_MIN_BYTES)
        return frame_decode(body, len, out);
    uint64_t h = frame__hash(body, len);
    frame__share_ent_t *e = &frame__share.ents[h & frame__share.mask];
    if (e->f && e->hash == h && e->len == len && memcmp(e->bytes, body, len) == 0) {
        frame__arena_of(e->f)->refs++;
        frame__share.hits++;
        *out = e->f;
        return 0;
    }
    int rc = frame_decode(body, len, out);
    if (rc != 0 || !frame__shareable(*out))
        return rc;
    uint8_t *copy = kv_malloc(len);
    if (!copy)
        return 0; /* decoded all the same, only not shared */
    memcpy(copy, body, len);
    if (e->f)
        frame__share_evict(e);
    *e = (frame__share_ent_t){.hash = h, .len = len, .bytes = copy, .f = *out};
    frame__arena_of(*out)->refs++;
    return 0;
}

void frame_reader_share(frame_reader_t *r, bool on)
{
    r->share = on;
}

/* ---- arenas for many messages ----------------------------------------------------- */

struct frame_arena {
    frame__arena_t a;
    ProtobufCAllocator pb;
};

frame_arena_t *frame_arena_new(size_t first_bytes)
{
    frame_arena_t *fa = kv_malloc(sizeof *fa);
    if (!fa)
        return NULL;
    size_t cap =
        frame__round(first_bytes < FRAME_ARENA_MIN_BYTES ? FRAME_ARENA_MIN_BYTES : first_bytes);
    fa->a = (frame__arena_t){.next_cap = cap < FRAME_ARENA_CHUNK_MAX ? cap * 2 : cap};
    if (!frame__chunk_new(&fa->a, cap)) {
        kv_free(fa);
        return NULL;
    }
    fa->pb = (ProtobufCAllocator){frame__arena_alloc, frame__arena_free, &fa->a};
    return fa;
}

ProtobufCAllocator *frame_arena_pb(frame_arena_t *a)
{
    return &a->pb;
}

size_t frame_arena_bytes(const frame_arena_t *a)
{
    size_t n = 0;
    for (const frame__chunk_t *c = a->a.chunks; c; c = c->next)
        n += c->cap;
    return n;
}

bool frame_arena_failed(const frame_arena_t *a)
{
    return a->a.failed;
}

void frame_arena_free(frame_arena_t *a)
{
    if (!a)
        return;
    frame__arena_drop(&a->a);
    kv_free(a);
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

bool frame_reader_idle(const frame_reader_t *r)
{
    return r->err == 0 && r->hdr_have == 0;
}

void frame_reader_passed(frame_reader_t *r, size_t frame_bytes)
{
    KV_ASSERT(frame_reader_idle(r));
    r->last_frame_bytes = frame_bytes;
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
        int rc = r->share ? frame__decode_shared(body, r->body_len, out)
                          : frame_decode(body, r->body_len, out);
        if (rc != 0)
            return frame__reader_fail(r, rc);
        frame__reader_done(r);
        return 1;
    }
    return 0;
}
