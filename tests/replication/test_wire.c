/*
 * test_wire.c - unit tests of the frame codec (proto/frame.c) and the wire
 * conversions (replication/wire.c).
 *
 * The frame reader is fed whole frames, single bytes, random chunks,
 * truncated and corrupted frames, random garbage and lengths over the
 * limit; it must hand back exactly the frames sent or a clean error, never
 * crash, and allocate its body buffer once per frame. The origin's guard
 * (repl_wire_guard_feed) is fed what an edge may send, what it may not,
 * and malformed wire bytes, cut at every size.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_int.h"
#include "repl_testkit.h"
#include "wire.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint8_t *hello_frame(uint64_t applied, size_t *len)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    h.history_id = (char *)TK_HIST_A;
    h.applied_seq = applied;
    h.node_id = 7;
    h.hlc_ms = 123;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    return tk_frame_bytes(&f, len);
}

/* Feed `data` in pieces of at most `piece` bytes; count hellos decoded. */
static int feed(frame_reader_t *r, const uint8_t *data, size_t len, size_t piece, size_t *frames,
                uint64_t *applied_sum)
{
    while (len > 0) {
        size_t n = piece && piece < len ? piece : len;
        const uint8_t *p = data;
        size_t left = n;
        for (;;) {
            Edgekv__Frame *f;
            int rc = frame_reader_next(r, &p, &left, &f);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            (*frames)++;
            if (f->msg_case == EDGEKV__FRAME__MSG_HELLO)
                *applied_sum += f->hello->applied_seq;
            frame_free(f);
        }
        assert_int_equal(left, 0);
        data += n;
        len -= n;
    }
    return 0;
}

static void test_frame_roundtrip_chunked(void **state)
{
    (void)state;
    uint8_t stream[4096];
    size_t total = 0;
    uint64_t want = 0;
    for (uint64_t i = 1; i <= 20; i++) {
        size_t len;
        uint8_t *b = hello_frame(i * 1000, &len);
        memcpy(stream + total, b, len);
        total += len;
        want += i * 1000;
        free(b);
    }
    static const size_t pieces[] = {0, 1, 2, 3, 5, 17, 64};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        frame_reader_t r;
        frame_reader_init(&r, KV_FRAME_MAX_BYTES);
        size_t frames = 0;
        uint64_t sum = 0;
        assert_int_equal(feed(&r, stream, total, pieces[k], &frames, &sum), 0);
        assert_int_equal(frames, 20);
        assert_int_equal(sum, want);
        assert_int_equal(r.hdr_have, 0);
        frame_reader_free(&r);
    }
}

static void test_frame_empty_body(void **state)
{
    (void)state;
    uint8_t zero[4] = {0, 0, 0, 0};
    frame_reader_t r;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    const uint8_t *p = zero;
    size_t len = 4;
    Edgekv__Frame *f;
    assert_int_equal(frame_reader_next(&r, &p, &len, &f), 1);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG__NOT_SET);
    frame_free(f);
    frame_reader_free(&r);
}

static void test_frame_oversized_length(void **state)
{
    (void)state;
    uint8_t hdr[4];
    frame_put_len(hdr, KV_FRAME_MAX_BYTES + 1);
    frame_reader_t r;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    /* No allocation may happen: every allocation fails from here on. */
    kv_mem_failing_set(0);
    const uint8_t *p = hdr;
    size_t len = 4;
    Edgekv__Frame *f;
    assert_int_equal(frame_reader_next(&r, &p, &len, &f), KV_ETOOBIG);
    kv_mem_set(NULL);
    assert_null(f);
    /* Sticky: the stream cannot be resynchronised. */
    size_t hl;
    uint8_t *h = hello_frame(1, &hl);
    p = h;
    len = hl;
    assert_int_equal(frame_reader_next(&r, &p, &len, &f), KV_ETOOBIG);
    free(h);
    frame_reader_free(&r);

    /* Exactly at a small limit is fine; one over is not. */
    frame_reader_init(&r, 8);
    frame_put_len(hdr, 9);
    p = hdr;
    len = 4;
    assert_int_equal(frame_reader_next(&r, &p, &len, &f), KV_ETOOBIG);
    frame_reader_free(&r);
}

static void test_frame_truncated_and_corrupt(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = hello_frame(42, &len);
    frame_reader_t r;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    size_t frames = 0;
    uint64_t sum = 0;
    /* Everything but the last byte: no frame yet, nothing lost. */
    assert_int_equal(feed(&r, b, len - 1, 0, &frames, &sum), 0);
    assert_int_equal(frames, 0);
    assert_int_equal(feed(&r, b + len - 1, 1, 0, &frames, &sum), 0);
    assert_int_equal(frames, 1);
    assert_int_equal(sum, 42);
    frame_reader_free(&r);

    /* A body that is not a Frame: field 1 (hello) with a length past the end. */
    uint8_t bad[] = {0, 0, 0, 3, 0x0a, 0x7f, 0x00};
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    assert_int_equal(feed(&r, bad, sizeof bad, 0, &frames, &sum), KV_ECORRUPT);
    frame_reader_free(&r);
    free(b);
}

static void test_frame_fuzz(void **state)
{
    (void)state;
    rng_state = 12345;
    size_t hl;
    uint8_t *h = hello_frame(99, &hl);
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t buf[512];
        size_t len = 1 + rnd() % sizeof buf;
        if (iter % 3 == 0) {
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();
            if (iter % 2)
                frame_put_len(buf, (uint32_t)(rnd() % 600)); /* plausible lengths */
        } else {
            /* Valid frames with flipped bits and random truncation. */
            len = 0;
            while (len + hl <= sizeof buf) {
                memcpy(buf + len, h, hl);
                len += hl;
            }
            for (int k = 0; k < 3; k++)
                buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            len = 1 + rnd() % len;
        }
        frame_reader_t r;
        frame_reader_init(&r, 1024);
        size_t frames = 0;
        uint64_t sum = 0;
        int rc = feed(&r, buf, len, 1 + rnd() % 40, &frames, &sum);
        assert_true(rc == 0 || rc == KV_ECORRUPT || rc == KV_ETOOBIG);
        frame_reader_free(&r);
    }
    free(h);
}

/* Counting allocator: how often the reader's body buffer is allocated. */
static size_t big_allocs;
static size_t big_threshold;

static void *count_malloc(size_t n)
{
    if (n >= big_threshold)
        big_allocs++;
    return malloc(n);
}

static void *count_calloc(size_t n, size_t s)
{
    if (n * s >= big_threshold)
        big_allocs++;
    return calloc(n, s);
}

static void *count_realloc(void *p, size_t n)
{
    if (n >= big_threshold)
        big_allocs++;
    return realloc(p, n);
}

static void test_frame_big_value_grows_once(void **state)
{
    (void)state;
    size_t vlen = 3u * 1024u * 1024u;
    uint8_t *value = malloc(vlen);
    for (size_t i = 0; i < vlen; i++)
        value[i] = (uint8_t)(i * 7);
    repl_mutation_t m = {.seq = 0, .version = {UINT64_C(5) << 16, 1}};
    m.op = tk_put("big", "");
    m.op.value = value;
    m.op.value_len = vlen;
    uint8_t *b;
    size_t len;
    assert_int_equal(repl_wire_snapshot_chunk(&m, 1, &b, &len), 0);
    assert_true(len > vlen);

    static const kv_mem_t counting = {count_malloc, count_calloc, count_realloc, free};
    big_threshold = vlen;
    big_allocs = 0;
    kv_mem_set(&counting);
    frame_reader_t r;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    size_t off = 0;
    Edgekv__Frame *f = NULL;
    while (off < len) {
        size_t n = len - off < 65536 ? len - off : 65536;
        const uint8_t *p = b + off;
        size_t left = n;
        int rc = frame_reader_next(&r, &p, &left, &f);
        assert_true(rc >= 0);
        off += n - left;
        if (rc == 1)
            break;
    }
    kv_mem_set(NULL);
    /* One body buffer for the frame, one value copy by protobuf-c. */
    assert_int_equal(big_allocs, 2);
    assert_non_null(f);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK);
    repl_mutation_t got;
    assert_int_equal(repl_wire_mut_from_pb(f->snapshot_chunk->mutations[0], &got), 0);
    assert_int_equal(got.op.value_len, vlen);
    assert_memory_equal(got.op.value, value, vlen);
    /* The 3 MiB buffer is not kept for the next, small frame. */
    assert_null(r.buf);
    frame_free(f);
    frame_reader_free(&r);
    kv_free(b);
    free(value);
}

static void check_decoded(const repl_mutation_t *d, const repl_mutation_t *m);

static void check_roundtrip(const repl_mutation_t *m)
{
    size_t need = repl_mutation_encoded_size(m);
    uint8_t *buf = malloc(need + 1);
    size_t len;
    if (need > 0)
        assert_int_equal(repl_mutation_encode(m, buf, need - 1, &len), KV_ETOOBIG);
    assert_int_equal(repl_mutation_encode(m, buf, need, &len), 0);
    assert_int_equal(len, need);
    repl_mutation_t *d;
    assert_int_equal(repl_mutation_decode(buf, len, &d), 0);
    /* The same through an arena (the origin's log reads). */
    frame_arena_t *arena = frame_arena_new(0);
    assert_non_null(arena);
    repl_mutation_t in;
    assert_int_equal(repl_mutation_decode_in(arena, buf, len, &in), 0);
    free(buf); /* neither decoded entry borrows the buffer */
    check_decoded(&in, m);
    frame_arena_free(arena);
    check_decoded(d, m);
    repl_mutation_free(d);
}

static void check_decoded(const repl_mutation_t *d, const repl_mutation_t *m)
{
    assert_int_equal(d->seq, m->seq);
    assert_int_equal(kv_version_cmp(d->version, m->version), 0);
    assert_int_equal(d->op.kind, m->op.kind);
    if (m->op.kind != REPL_OP_NOOP)
        assert_string_equal(d->op.ns_id, m->op.ns_id);
    if (repl_op_has_key(m->op.kind)) {
        assert_int_equal(d->op.key_len, m->op.key_len);
        assert_memory_equal(d->op.key, m->op.key, m->op.key_len);
    }
    if (repl_op_has_value(m->op.kind)) {
        assert_int_equal(d->op.value_len, m->op.value_len);
        assert_non_null(d->op.value);
        if (m->op.value_len)
            assert_memory_equal(d->op.value, m->op.value, m->op.value_len);
    }
    if (m->op.kind == REPL_OP_PUT) {
        assert_int_equal(d->op.metadata_len, m->op.metadata ? m->op.metadata_len : 0);
        if (m->op.metadata)
            assert_memory_equal(d->op.metadata, m->op.metadata, m->op.metadata_len);
        else
            assert_null(d->op.metadata);
        assert_int_equal(d->op.expiration, m->op.expiration);
    }
    if (m->op.kind == REPL_OP_NS_CREATE)
        assert_string_equal(d->op.account, m->op.account);
    if (m->op.kind == REPL_OP_NS_CREATE || m->op.kind == REPL_OP_NS_RENAME)
        assert_string_equal(d->op.title, m->op.title);
}

static void test_mutation_roundtrip_all_kinds(void **state)
{
    (void)state;
    repl_mutation_t m = {.seq = 77, .version = {0x123456789abcULL, 9}};
    m.op = tk_put("k\0ey", "value");
    m.op.key_len = 4; /* keys are bytes, not C strings */
    m.op.metadata = "{\"a\":1}";
    m.op.metadata_len = 7;
    m.op.expiration = 1900000000;
    check_roundtrip(&m);
    m.op = tk_put("empty", ""); /* an empty value is a value */
    check_roundtrip(&m);
    m.op = tk_del("gone");
    check_roundtrip(&m);
    memset(&m.op, 0, sizeof m.op);
    m.op.kind = REPL_OP_NOOP;
    check_roundtrip(&m);
    m.op = tk_put("x", "y");
    m.op.kind = REPL_OP_NS_CREATE;
    m.op.account = "acct1";
    m.op.title = "My NS";
    check_roundtrip(&m);
    m.op.kind = REPL_OP_NS_RENAME;
    m.op.account = NULL;
    check_roundtrip(&m);
    m.op.kind = REPL_OP_NS_DELETE;
    m.op.title = NULL;
    check_roundtrip(&m);
    /* API tokens: key = id, value = the record (a revocation has none). */
    m.op = tk_put("0123456789abcdef", "{\"sha256\":\"...\"}");
    m.op.kind = REPL_OP_TOKEN_PUT;
    memcpy(m.op.ns_id, REPL_TOKEN_NS_ID, sizeof m.op.ns_id);
    check_roundtrip(&m);
    m.op = tk_del("0123456789abcdef");
    m.op.kind = REPL_OP_TOKEN_DELETE;
    memcpy(m.op.ns_id, REPL_TOKEN_NS_ID, sizeof m.op.ns_id);
    check_roundtrip(&m);
    /* A token id over its limit is refused. */
    char big[REPL_TOKEN_ID_MAX_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    m.op.key = big;
    m.op.key_len = sizeof big - 1;
    assert_int_equal(repl_op_check(&m.op), KV_ETOOBIG);
}

/* Many entries into one arena (a log read): every one stays intact while
 * later ones fill new chunks, and the arena's errors are the decoder's. */
static void test_mutation_decode_in_arena(void **state)
{
    (void)state;
    enum { N = 3000 };
    static repl_mutation_t got[N];
    char value[700];
    uint8_t buf[1024];
    size_t len;
    frame_arena_t *arena = frame_arena_new(0);
    assert_non_null(arena);
    size_t first = frame_arena_bytes(arena);
    for (size_t i = 0; i < N; i++) {
        repl_mutation_t m = {.seq = i + 1, .version = {1000 + i, 1}};
        memset(value, 'a' + (int)(i % 26), sizeof value - 1);
        value[sizeof value - 1] = '\0';
        m.op = tk_put("k", value);
        assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
        assert_int_equal(repl_mutation_decode_in(arena, buf, len, &got[i]), 0);
        memset(buf, 0, sizeof buf); /* the entry does not borrow buf */
    }
    assert_true(frame_arena_bytes(arena) > first + N * (sizeof value - 1));
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(got[i].seq, i + 1);
        assert_int_equal(got[i].version.hlc, 1000 + i);
        assert_int_equal(got[i].op.value_len, sizeof value - 1);
        for (size_t b = 0; b < sizeof value - 1; b++)
            assert_int_equal(got[i].op.value[b], 'a' + (int)(i % 26));
    }
    /* Corrupt bytes and a failed op check are reported as by the decoder. */
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    repl_mutation_t d;
    assert_int_equal(repl_mutation_decode_in(arena, junk, sizeof junk, &d), KV_ECORRUPT);
    repl_mutation_t bad = {.seq = 1, .version = {1, 1}};
    bad.op = tk_put("k", "v");
    bad.op.ns_id[0] = 'G';
    assert_int_equal(repl_mutation_encode(&bad, buf, sizeof buf, &len), 0);
    assert_int_equal(repl_mutation_decode_in(arena, buf, len, &d), KV_EINVAL);
    frame_arena_free(arena);
    frame_arena_free(NULL);
    /* Out of memory: the arena itself, or a chunk it needs, is -ENOMEM. */
    kv_mem_failing_set(0);
    assert_null(frame_arena_new(0));
    kv_mem_set(NULL);
    arena = frame_arena_new(0); /* a first chunk too small for the value */
    assert_non_null(arena);
    repl_mutation_t m = {.seq = 1, .version = {1, 1}};
    m.op = tk_put("k", value);
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    kv_mem_failing_set(0);
    assert_int_equal(repl_mutation_decode_in(arena, buf, len, &d), -ENOMEM);
    kv_mem_set(NULL);
    assert_int_equal(repl_mutation_decode_in(arena, buf, len, &d), 0);
    assert_int_equal(d.op.value_len, sizeof value - 1);
    frame_arena_free(arena);
}

/* A stored entry peeked at: seq, version and term as the encoder wrote
 * them, its bytes borrowed, its op left empty; malformed bytes refused. */
static void test_mutation_peek(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len;
    repl_mutation_t m = {.seq = 1234567, .version = {0x123456789abcULL, 77}, .term = 9};
    m.op = tk_put("key", "value");
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    repl_mutation_t p;
    assert_int_equal(repl_mutation_peek(buf, len, &p), 0);
    assert_int_equal(p.seq, m.seq);
    assert_int_equal(p.version.hlc, m.version.hlc);
    assert_int_equal(p.version.node_id, m.version.node_id);
    assert_int_equal(p.term, 9);
    assert_ptr_equal(p.enc, buf);
    assert_int_equal(p.enc_len, len);
    assert_int_equal(p.op.kind, REPL_OP_NOOP);
    /* A no-op slot (an empty Op) and zero fields (left out) peek too. */
    repl_mutation_t noop = {.seq = 5, .version = {1, 0}};
    assert_int_equal(repl_mutation_encode(&noop, buf, sizeof buf, &len), 0);
    assert_int_equal(repl_mutation_peek(buf, len, &p), 0);
    assert_int_equal(p.seq, 5);
    assert_int_equal(p.version.hlc, 1);
    assert_int_equal(p.term, 0);
    /* Cut anywhere, the entry is refused: a field cut short, or (cut after
     * a whole field) no op, the last field without a term. Never read past
     * its end (ASan: each cut in a buffer of its own size). */
    m.term = 0;
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        assert_int_equal(repl_mutation_peek(part, cut, &p), KV_ECORRUPT);
        free(part);
    }
    /* No version, no op, a field of the wrong wire type, a group. */
    uint8_t seq_only[] = {0x08, 0x05};
    assert_int_equal(repl_mutation_peek(seq_only, sizeof seq_only, &p), KV_ECORRUPT);
    uint8_t no_op[] = {0x08, 0x05, 0x12, 0x02, 0x08, 0x01};
    assert_int_equal(repl_mutation_peek(no_op, sizeof no_op, &p), KV_ECORRUPT);
    uint8_t ok[] = {0x08, 0x05, 0x12, 0x02, 0x08, 0x01, 0x1a, 0x00};
    assert_int_equal(repl_mutation_peek(ok, sizeof ok, &p), 0);
    assert_int_equal(p.seq, 5);
    uint8_t seq_len[] = {0x0a, 0x01, 0x05, 0x12, 0x02, 0x08, 0x01, 0x1a, 0x00};
    assert_int_equal(repl_mutation_peek(seq_len, sizeof seq_len, &p), KV_ECORRUPT);
    uint8_t version_varint[] = {0x08, 0x05, 0x10, 0x01, 0x1a, 0x00};
    assert_int_equal(repl_mutation_peek(version_varint, sizeof version_varint, &p), KV_ECORRUPT);
    uint8_t hlc_len[] = {0x08, 0x05, 0x12, 0x02, 0x0a, 0x00, 0x1a, 0x00};
    assert_int_equal(repl_mutation_peek(hlc_len, sizeof hlc_len, &p), KV_ECORRUPT);
    uint8_t group[] = {0x08, 0x05, 0x12, 0x00, 0x1a, 0x00, 0x2b};
    assert_int_equal(repl_mutation_peek(group, sizeof group, &p), KV_ECORRUPT);
    uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0x01, 0x12, 0x00, 0x1a, 0x00};
    assert_int_equal(repl_mutation_peek(long_varint, sizeof long_varint, &p), KV_ECORRUPT);
    /* Fields given twice read as protobuf-c decodes them: the later scalar
     * wins, and the later Version whole (not merged into the first). */
    uint8_t twice[] = {0x08, 0x05, 0x12, 0x04, 0x08, 0x01, 0x10, 0x02,
                       0x1a, 0x00, 0x08, 0x06, 0x12, 0x02, 0x08, 0x03};
    assert_int_equal(repl_mutation_peek(twice, sizeof twice, &p), 0);
    Edgekv__Mutation *pb = edgekv__mutation__unpack(NULL, sizeof twice, twice);
    assert_non_null(pb);
    assert_int_equal(p.seq, pb->seq);
    assert_int_equal(p.version.hlc, pb->version->hlc);
    assert_int_equal(p.version.node_id, pb->version->node_id);
    assert_int_equal(p.seq, 6);
    assert_int_equal(p.version.hlc, 3);
    assert_int_equal(p.version.node_id, 0);
    edgekv__mutation__free_unpacked(pb, NULL);
    /* A later field is passed over (and on, with the bytes); so is field 0
     * in a tag of two bytes, which protobuf-c decodes as an unknown field
     * too, while it refuses a one-byte tag 0. */
    uint8_t tag0[] = {0x08, 0x05, 0x12, 0x00, 0x1a, 0x00, 0x00, 0x07};
    assert_int_equal(repl_mutation_peek(tag0, sizeof tag0, &p), KV_ECORRUPT);
    assert_null(edgekv__mutation__unpack(NULL, sizeof tag0, tag0));
    uint8_t later[] = {0x08, 0x05, 0x12, 0x00, 0x1a, 0x00, 0x78, 0x01, 0x80, 0x00, 0x07};
    assert_int_equal(repl_mutation_peek(later, sizeof later, &p), 0);
    assert_int_equal(p.enc_len, sizeof later);
    assert_int_equal(p.seq, 5);
    pb = edgekv__mutation__unpack(NULL, sizeof later, later);
    assert_non_null(pb);
    edgekv__mutation__free_unpacked(pb, NULL);
    /* The field numbers wire.c hard-codes are the generated ones. */
    static const char *const mut[] = {"seq", "version", "op", "term"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            protobuf_c_message_descriptor_get_field_by_name(&edgekv__mutation__descriptor, mut[i])
                ->id,
            i + 1);
    static const char *const ver[] = {"hlc", "node_id"};
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            protobuf_c_message_descriptor_get_field_by_name(&edgekv__version__descriptor, ver[i])
                ->id,
            i + 1);
    static const char *const batch[] = {"mutations", "origin_seq", "origin_time_ms", "term",
                                        "acked_seq"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(protobuf_c_message_descriptor_get_field_by_name(
                             &edgekv__mutation_batch__descriptor, batch[i])
                             ->id,
                         i + 1);
}

/* A batch of log-read entries carrying their stored bytes is the same
 * frame, byte for byte, as the one encoded from their ops; so is one that
 * mixes both, and every header field (zero ones left out) is kept. */
static void test_batch_frame_stored_bytes(void **state)
{
    (void)state;
    enum { N = 40 };
    static uint8_t store[N][1024];
    static repl_mutation_t ops[N], peeked[N];
    static char key[N][32], value[N][600]; /* the ops borrow them */
    for (size_t i = 0; i < N; i++) {
        snprintf(key[i], sizeof key[i], "key-%zu", i);
        memset(value[i], 'a' + (int)(i % 26), i * 13 % sizeof value[i]);
        value[i][i * 13 % sizeof value[i]] = '\0';
        ops[i] = (repl_mutation_t){.seq = 100 + i, .version = {5000 + i, 3}, .term = i % 3};
        ops[i].op = i % 7 == 3 ? tk_del(key[i]) : tk_put(key[i], value[i]);
        size_t len;
        assert_int_equal(repl_mutation_encode(&ops[i], store[i], sizeof store[i], &len), 0);
        assert_int_equal(repl_mutation_peek(store[i], len, &peeked[i]), 0);
    }
    static const uint64_t hdr[][4] = {{139, 1700000000123ULL, 4, 120}, {0, 0, 0, 0}, {1, 0, 7, 0}};
    for (size_t h = 0; h < 3; h++) {
        for (size_t n = 0; n <= N; n += 13) {
            repl_buf_t *a, *b;
            assert_int_equal(
                repl__batch_frame_array(ops, n, hdr[h][0], hdr[h][1], hdr[h][2], hdr[h][3], &a), 0);
            assert_int_equal(
                repl__batch_frame_array(peeked, n, hdr[h][0], hdr[h][1], hdr[h][2], hdr[h][3], &b),
                0);
            assert_int_equal(b->len, a->len);
            assert_memory_equal(b->data, a->data, a->len);
            repl_buf_unref(b);
            if (n > 1) { /* mixed: every other entry from its op */
                static repl_mutation_t mixed[N];
                for (size_t i = 0; i < n; i++)
                    mixed[i] = i % 2 ? ops[i] : peeked[i];
                assert_int_equal(repl__batch_frame_array(mixed, n, hdr[h][0], hdr[h][1], hdr[h][2],
                                                         hdr[h][3], &b),
                                 0);
                assert_int_equal(b->len, a->len);
                assert_memory_equal(b->data, a->data, a->len);
                repl_buf_unref(b);
            }
            repl_buf_unref(a);
        }
    }
    /* Out of memory, and a frame over the limit, are the encoder's errors. */
    repl_buf_t *b = NULL;
    kv_mem_failing_set(0);
    assert_int_equal(repl__batch_frame_array(peeked, N, 1, 1, 1, 1, &b), -ENOMEM);
    kv_mem_set(NULL);
    repl_mutation_t huge = peeked[0];
    huge.enc_len = KV_FRAME_MAX_BYTES; /* never read: refused by its size */
    assert_int_equal(repl__batch_frame_array(&huge, 1, 1, 1, 1, 1, &b), KV_ETOOBIG);
}

static void test_mutation_decode_errors(void **state)
{
    (void)state;
    repl_mutation_t *d = NULL;
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(repl_mutation_decode(junk, sizeof junk, &d), KV_ECORRUPT);
    /* Decodes, but carries no version/op. */
    uint8_t seq_only[] = {0x08, 0x05};
    assert_int_equal(repl_mutation_decode(seq_only, sizeof seq_only, &d), KV_ECORRUPT);
    /* Decodes, but the op breaks a limit: bad namespace id. */
    repl_mutation_t m = {.seq = 1, .version = {1, 1}};
    m.op = tk_put("k", "v");
    m.op.ns_id[0] = 'G';
    uint8_t buf[256];
    size_t len;
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    assert_int_equal(repl_mutation_decode(buf, len, &d), KV_EINVAL);
    /* Allocation failure on the way is an error, not a crash. */
    m.op.ns_id[0] = '0';
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    for (long k = 0; k < 8; k++) {
        kv_mem_failing_set(k);
        int rc = repl_mutation_decode(buf, len, &d);
        kv_mem_set(NULL);
        if (rc == 0) {
            repl_mutation_free(d);
            break;
        }
        assert_true(rc == -ENOMEM || rc == KV_ECORRUPT);
    }
}

static void test_op_check_limits(void **state)
{
    (void)state;
    static char key[KV_KEY_MAX_BYTES + 1];
    memset(key, 'k', sizeof key);
    repl_op_t op = tk_put("k", "v");
    assert_int_equal(repl_op_check(&op), 0);
    op.key = key;
    op.key_len = KV_KEY_MAX_BYTES;
    assert_int_equal(repl_op_check(&op), 0);
    op.key_len = KV_KEY_MAX_BYTES + 1;
    assert_int_equal(repl_op_check(&op), KV_ETOOBIG);
    op.key_len = 0;
    assert_int_equal(repl_op_check(&op), KV_EINVAL);
    op = tk_put("k", "v");
    op.value_len = KV_VALUE_MAX_BYTES + 1; /* never read: the check is on the length */
    assert_int_equal(repl_op_check(&op), KV_ETOOBIG);
    op = tk_put("k", "v");
    op.metadata = key;
    op.metadata_len = KV_METADATA_MAX_BYTES + 1;
    assert_int_equal(repl_op_check(&op), KV_ETOOBIG);
    op = tk_put("k", "v");
    memcpy(op.ns_id, "0123456789ABCDEF0123456789abcdef", KV_NS_ID_LEN + 1);
    assert_int_equal(repl_op_check(&op), KV_EINVAL); /* lowercase hex only */
    op = tk_put("k", "v");
    op.kind = REPL_OP_NS_CREATE;
    op.title = "t";
    assert_int_equal(repl_op_check(&op), KV_EINVAL); /* no account */
    op.account = "acct";
    assert_int_equal(repl_op_check(&op), 0);
    op.kind = (repl_op_kind_t)42;
    assert_int_equal(repl_op_check(&op), KV_EINVAL);
}

static void test_max_value_fits_a_frame(void **state)
{
    (void)state;
    uint8_t *value = calloc(1, KV_VALUE_MAX_BYTES);
    static char key[KV_KEY_MAX_BYTES], meta[KV_METADATA_MAX_BYTES];
    memset(key, 'k', sizeof key);
    memset(meta, 'm', sizeof meta);
    repl_mutation_t m[2];
    memset(m, 0, sizeof m);
    m[0].seq = UINT64_MAX;
    m[0].version = (kv_version_t){UINT64_MAX, UINT32_MAX};
    m[0].op = tk_put("k", "");
    m[0].op.key = key;
    m[0].op.key_len = sizeof key;
    m[0].op.value = value;
    m[0].op.value_len = KV_VALUE_MAX_BYTES;
    m[0].op.metadata = meta;
    m[0].op.metadata_len = sizeof meta;
    m[0].op.expiration = INT64_MIN;
    uint8_t *b;
    size_t len;
    assert_int_equal(repl_wire_snapshot_chunk(m, 1, &b, &len), 0);
    assert_true(len - FRAME_PREFIX_BYTES <= KV_FRAME_MAX_BYTES);
    kv_free(b);
    /* Two of them do not fit: the frame limit is enforced on encode. */
    m[1] = m[0];
    assert_int_equal(repl_wire_snapshot_chunk(m, 2, &b, &len), KV_ETOOBIG);
    free(value);
}

static void test_snapshot_frames_decode(void **state)
{
    (void)state;
    repl_mutation_t m[3];
    m[0] = (repl_mutation_t){.version = {10, 1}, .op = tk_put("a", "1")};
    m[1] = (repl_mutation_t){.version = {11, 1}, .op = tk_del("b")};
    m[2] = (repl_mutation_t){.version = {12, 1}, .op = tk_put("c", "3")};
    uint8_t *b;
    size_t len;
    assert_int_equal(repl_wire_snapshot_chunk(m, 3, &b, &len), 0);
    Edgekv__Frame *f;
    assert_int_equal(frame_decode(b + 4, len - 4, &f), 0);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK);
    assert_int_equal(f->snapshot_chunk->n_mutations, 3);
    repl_mutation_t got;
    assert_int_equal(repl_wire_mut_from_pb(f->snapshot_chunk->mutations[1], &got), 0);
    assert_int_equal(got.op.kind, REPL_OP_DELETE);
    assert_int_equal(got.version.hlc, 11);
    frame_free(f);
    kv_free(b);
    assert_int_equal(repl_wire_snapshot_end(99, KV_VERSION_ZERO, TK_HIST_A, &b, &len), 0);
    assert_int_equal(frame_decode(b + 4, len - 4, &f), 0);
    assert_int_equal(f->msg_case, EDGEKV__FRAME__MSG_SNAPSHOT_END);
    assert_int_equal(f->snapshot_end->seq, 99);
    assert_string_equal(f->snapshot_end->history_id, TK_HIST_A);
    frame_free(f);
    kv_free(b);
}

/* A decoded frame's memory is one arena (frame.c): many mutations spill over
 * several chunks, a large value gets a chunk of its own, and every field
 * comes back as sent. */
#define WIRE_TEST_SMALL_VALUES 300
static void wire__check_decoded(size_t n, size_t big_at, size_t big_len)
{
    repl_mutation_t *m = calloc(n, sizeof *m);
    char(*keys)[32] = calloc(n, sizeof *keys);
    size_t big_cap = big_len > WIRE_TEST_SMALL_VALUES ? big_len : WIRE_TEST_SMALL_VALUES;
    uint8_t *big = malloc(big_cap);
    assert_non_null(m);
    assert_non_null(keys);
    assert_non_null(big);
    for (size_t i = 0; i < big_cap; i++)
        big[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%zu", i);
        m[i] = (repl_mutation_t){.version = {1000 + i, 1 + i % 3}, .op = tk_put(keys[i], "")};
        m[i].op.value = big;
        m[i].op.value_len = i == big_at ? big_len : i % WIRE_TEST_SMALL_VALUES;
        if (i % 7 == 0) {
            m[i].op.metadata = "{\"m\":1}";
            m[i].op.metadata_len = 7;
        }
    }
    uint8_t *b;
    size_t len;
    assert_int_equal(repl_wire_snapshot_chunk(m, n, &b, &len), 0);
    Edgekv__Frame *f;
    assert_int_equal(frame_decode(b + 4, len - 4, &f), 0);
    assert_int_equal(f->snapshot_chunk->n_mutations, n);
    for (size_t i = 0; i < n; i++) {
        repl_mutation_t got;
        assert_int_equal(repl_wire_mut_from_pb(f->snapshot_chunk->mutations[i], &got), 0);
        assert_int_equal(got.version.hlc, 1000 + i);
        assert_int_equal(got.version.node_id, 1 + i % 3);
        assert_int_equal(got.op.key_len, strlen(keys[i]));
        assert_memory_equal(got.op.key, keys[i], got.op.key_len);
        assert_int_equal(got.op.value_len, m[i].op.value_len);
        if (got.op.value_len)
            assert_memory_equal(got.op.value, big, got.op.value_len);
        assert_int_equal(got.op.metadata_len, m[i].op.metadata_len);
        if (m[i].op.metadata_len)
            assert_memory_equal(got.op.metadata, m[i].op.metadata, got.op.metadata_len);
    }
    frame_free(f);
    kv_free(b);
    free(big);
    free(keys);
    free(m);
}

static void test_frame_decode_arena(void **state)
{
    (void)state;
    wire__check_decoded(1, 0, 0);
    wire__check_decoded(3000, 1500, 0);
    wire__check_decoded(50, 20, 3u * 1024u * 1024u);
}

/* Memory running out while decoding is -ENOMEM, not a corrupt frame, at
 * every allocation, and leaves nothing behind. */
static void test_frame_decode_alloc_failure(void **state)
{
    (void)state;
    repl_mutation_t m[40];
    for (size_t i = 0; i < 40; i++)
        m[i] = (repl_mutation_t){.version = {10 + i, 1}, .op = tk_put("some-key", "some value")};
    m[5].op.value_len = 0;
    uint8_t *b;
    size_t len;
    assert_int_equal(repl_wire_snapshot_chunk(m, 40, &b, &len), 0);
    Edgekv__Frame *f = NULL;
    int rc = -ENOMEM;
    long k;
    for (k = 0; k < 100000 && rc != 0; k++) {
        kv_mem_failing_set(k);
        rc = frame_decode(b + 4, len - 4, &f);
        kv_mem_set(NULL);
        assert_true(rc == 0 || rc == -ENOMEM);
    }
    assert_int_equal(rc, 0);
    assert_true(k > 1); /* at least the arena's first chunk was failed */
    assert_int_equal(f->snapshot_chunk->n_mutations, 40);
    frame_free(f);
    kv_free(b);
}

/* The edge's ack frame, written directly: byte for byte what protobuf-c
 * packs for the same Frame, for zero, one-byte, multi-byte and 64-bit
 * values, and the origin's guard and reader take it. */
static void test_ack_frame_bytes(void **state)
{
    (void)state;
    static const uint64_t v[] = {
        0, 1, 127, 128, 300, 16383, 16384, 1764000000123u, UINT64_C(1) << 63, UINT64_MAX};
    size_t nv = sizeof v / sizeof v[0];
    for (size_t i = 0; i < nv; i++) {
        for (size_t j = 0; j < nv; j++) {
            Edgekv__Frame f = EDGEKV__FRAME__INIT;
            Edgekv__ProgressAck ack = EDGEKV__PROGRESS_ACK__INIT;
            Edgekv__Probe probe = EDGEKV__PROBE__INIT;
            ack.applied_seq = v[i];
            probe.sent_ms = v[j];
            ack.probe = &probe;
            f.msg_case = EDGEKV__FRAME__MSG_ACK;
            f.ack = &ack;
            size_t len;
            uint8_t *want = tk_frame_bytes(&f, &len);
            repl_buf_t *b;
            assert_int_equal(repl__ack_frame(v[i], v[j], &b), 0);
            assert_int_equal(b->len, len);
            assert_memory_equal(b->data, want, len);
            repl_wire_guard_t g;
            repl_wire_guard_init(&g);
            assert_int_equal(repl_wire_guard_feed(&g, b->data, b->len), 0);
            uint64_t seq = 1, ms = 1; /* the origin's fast path reads the same numbers */
            assert_true(repl__ack_parse(b->data, b->len, &seq, &ms));
            assert_int_equal(seq, v[i]);
            assert_int_equal(ms, v[j]);
            frame_reader_t r;
            frame_reader_init(&r, KV_FRAME_MAX_BYTES);
            const uint8_t *p = b->data;
            size_t left = b->len;
            Edgekv__Frame *d;
            assert_int_equal(frame_reader_next(&r, &p, &left, &d), 1);
            assert_int_equal(d->msg_case, EDGEKV__FRAME__MSG_ACK);
            assert_int_equal(d->ack->applied_seq, v[i]);
            assert_non_null(d->ack->probe);
            assert_int_equal(d->ack->probe->sent_ms, v[j]);
            frame_free(d);
            frame_reader_free(&r);
            repl_buf_unref(b);
            free(want);
        }
    }
}

/* The origin's ack fast path takes only an ack frame exactly as the edge
 * writes it; any other bytes (a padded varint, another or an extra field,
 * no probe, a zero written out, a prefix that does not match, a byte too
 * many or too few) go to the guard and protobuf-c as before. */
static void test_ack_parse_refuses(void **state)
{
    (void)state;
    uint64_t seq, ms;
    /* Frame{ack{applied_seq 300, probe{sent_ms 5}}}: the edge's bytes. */
    const uint8_t ok[] = {0, 0, 0, 9, 0x42, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5};
    repl_buf_t *b;
    assert_int_equal(repl__ack_frame(300, 5, &b), 0);
    assert_int_equal(b->len, sizeof ok);
    assert_memory_equal(b->data, ok, sizeof ok);
    repl_buf_unref(b);
    assert_true(repl__ack_parse(ok, sizeof ok, &seq, &ms));
    assert_int_equal(seq, 300);
    assert_int_equal(ms, 5);
    static const struct {
        uint8_t b[16];
        size_t len;
    } bad[] = {
        {{0, 0, 0, 10, 0x42, 8, 0x08, 0xac, 0x82, 0x00, 0x12, 2, 0x08, 5}, 14}, /* padded */
        {{0, 0, 0, 9, 0x3a, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5}, 13},        /* heartbeat */
        {{0, 0, 0, 9, 0x42, 7, 0x10, 0xac, 0x02, 0x12, 2, 0x08, 5}, 13},        /* field 2 varint */
        {{0, 0, 0, 5, 0x42, 3, 0x08, 0xac, 0x02}, 9},                           /* no probe */
        {{0, 0, 0, 6, 0x42, 4, 0x08, 0x00, 0x12, 0}, 10},                       /* seq 0 written */
        {{0, 0, 0, 6, 0x42, 4, 0x12, 2, 0x08, 0}, 10},                      /* sent_ms 0 written */
        {{0, 0, 0, 9, 0x42, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5, 0}, 14}, /* one more byte */
        {{0, 0, 0, 9, 0x42, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x08}, 12},       /* one byte less */
        {{0, 0, 0, 8, 0x42, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5}, 13},    /* prefix */
        {{0, 0, 0, 9, 0x42, 6, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5}, 13},    /* ack length */
        {{0, 0, 0, 9, 0x42, 7, 0x08, 0xac, 0x02, 0x12, 1, 0x08, 5}, 13},    /* probe length */
        {{0, 0, 0, 11, 0x42, 9, 0x08, 0xac, 0x02, 0x12, 2, 0x08, 5, 0x18, 1}, 15}, /* extra */
        {{0, 0, 0, 4, 0x42, 2, 0x12, 0}, 8}, /* ok, then cut: */
    };
    for (size_t i = 0; i + 1 < sizeof bad / sizeof bad[0]; i++)
        assert_false(repl__ack_parse(bad[i].b, bad[i].len, &seq, &ms));
    const size_t last = sizeof bad / sizeof bad[0] - 1;
    assert_true(repl__ack_parse(bad[last].b, bad[last].len, &seq, &ms));
    assert_int_equal(seq, 0);
    assert_int_equal(ms, 0);
    for (size_t cut = 0; cut < bad[last].len; cut++)
        assert_false(repl__ack_parse(bad[last].b, cut, &seq, &ms));
    /* 64-bit values: ten-byte varints, the last byte 1; a 2 there is past 64 bits. */
    uint8_t big[] = {0,    0,    0,    15,   0x42, 13,   0x08, 0xff, 0xff, 0xff,
                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x12, 0};
    assert_true(repl__ack_parse(big, sizeof big, &seq, &ms));
    assert_true(seq == UINT64_MAX);
    big[16] = 0x02;
    assert_false(repl__ack_parse(big, sizeof big, &seq, &ms));
}

/* One whole frame through a reader: its Frame (the caller frees it). */
static Edgekv__Frame *read_one(frame_reader_t *r, const uint8_t *b, size_t len)
{
    Edgekv__Frame *f = NULL;
    const uint8_t *p = b;
    size_t left = len;
    assert_int_equal(frame_reader_next(r, &p, &left, &f), 1);
    assert_int_equal(left, 0);
    return f;
}

/* Shared decodes (frame_share_install): readers that opted in get the very
 * same Frame for equal batch or chunk bytes, decoded once, and each frees
 * its hold; different bytes of the same length, a reader that did not opt
 * in, a body under FRAME_SHARE_MIN_BYTES and a frame kind that is not
 * shared decode on their own; a Frame outlives the table (uninstalled while
 * held) and its other holders (ASan checks the frees). */
static void test_frame_shared_decode(void **state)
{
    (void)state;
    repl_mutation_t m[3];
    for (size_t i = 0; i < 3; i++)
        m[i] =
            (repl_mutation_t){.seq = 7 + i,
                              .version = {100 + i, 1},
                              .op = tk_put("shared-key", "a value of some forty bytes, or so..")};
    uint8_t *c1, *c2, *c3, *small;
    size_t l1, l2, l3, lsmall;
    assert_int_equal(repl_wire_snapshot_chunk(m, 3, &c1, &l1), 0);
    uint8_t *c1b = malloc(l1); /* equal bytes at another address */
    memcpy(c1b, c1, l1);
    m[1].op.value = (const uint8_t *)"A value of some forty bytes, or so.."; /* same length */
    assert_int_equal(repl_wire_snapshot_chunk(m, 3, &c2, &l2), 0);
    assert_int_equal(l2, l1);
    assert_int_equal(repl_wire_snapshot_chunk(m + 2, 1, &c3, &l3), 0);
    repl_mutation_t tiny = {.version = {1, 1}, .op = tk_put("k", "v")};
    assert_int_equal(repl_wire_snapshot_chunk(&tiny, 1, &small, &lsmall), 0);
    assert_true(lsmall - FRAME_PREFIX_BYTES < FRAME_SHARE_MIN_BYTES);
    char hist[120];
    memset(hist, 'h', sizeof hist - 1);
    hist[sizeof hist - 1] = '\0';
    Edgekv__Frame wf = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    w.history_id = hist;
    wf.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    wf.welcome = &w;
    size_t lw;
    uint8_t *wel = tk_frame_bytes(&wf, &lw);

    assert_int_equal(frame_share_install(16), 0);
    uint64_t hits0 = frame_share_hits();
    frame_reader_t r1, r2, plain;
    frame_reader_init(&r1, KV_FRAME_MAX_BYTES);
    frame_reader_init(&r2, KV_FRAME_MAX_BYTES);
    frame_reader_init(&plain, KV_FRAME_MAX_BYTES);
    frame_reader_share(&r1, true);
    frame_reader_share(&r2, true);

    Edgekv__Frame *a = read_one(&r1, c1, l1);
    Edgekv__Frame *b = read_one(&r2, c1b, l1);
    assert_ptr_equal(a, b);
    assert_int_equal(frame_share_hits(), hits0 + 1);
    Edgekv__Frame *d = read_one(&r2, c2, l2); /* other bytes: its own */
    assert_ptr_not_equal(d, a);
    assert_memory_equal(d->snapshot_chunk->mutations[1]->op->value.data, m[1].op.value, 36);
    Edgekv__Frame *e = read_one(&plain, c1, l1); /* not opted in */
    assert_ptr_not_equal(e, a);
    Edgekv__Frame *s1 = read_one(&r1, small, lsmall), *s2 = read_one(&r2, small, lsmall);
    assert_ptr_not_equal(s1, s2);
    Edgekv__Frame *w1 = read_one(&r1, wel, lw), *w2 = read_one(&r2, wel, lw);
    assert_ptr_not_equal(w1, w2);
    assert_string_equal(w2->welcome->history_id, hist);
    assert_int_equal(frame_share_hits(), hits0 + 1);
    Edgekv__Frame *g = read_one(&r1, c2, l2); /* the table kept c2's too */
    assert_ptr_equal(g, d);
    assert_int_equal(frame_share_hits(), hits0 + 2);
    Edgekv__Frame *x = read_one(&r1, c3, l3);
    Edgekv__Frame *y = read_one(&r2, c3, l3);
    assert_ptr_equal(x, y);

    /* Holders free in any order, before and after the table lets go. */
    frame_free(a);
    assert_int_equal(b->snapshot_chunk->n_mutations, 3);
    assert_int_equal(frame_share_install(0), 0);
    assert_int_equal(b->snapshot_chunk->mutations[2]->seq, 9);
    frame_free(b);
    frame_free(d);
    assert_int_equal(g->snapshot_chunk->mutations[0]->seq, 7);
    frame_free(g);
    frame_free(x);
    frame_free(y);
    frame_free(e);
    frame_free(s1);
    frame_free(s2);
    frame_free(w1);
    frame_free(w2);
    /* Uninstalled: opted-in readers decode on their own again. */
    a = read_one(&r1, c1, l1);
    b = read_one(&r2, c1, l1);
    assert_ptr_not_equal(a, b);
    frame_free(a);
    frame_free(b);
    frame_reader_free(&r1);
    frame_reader_free(&r2);
    frame_reader_free(&plain);
    kv_free(c1);
    kv_free(c2);
    kv_free(c3);
    kv_free(small);
    free(c1b);
    free(wel);
}

static void test_frame_encode_alloc_failure(void **state)
{
    (void)state;
    repl_mutation_t m = {.version = {10, 1}, .op = tk_put("a", "1")};
    uint8_t *b = NULL;
    size_t len;
    kv_mem_failing_set(0);
    int rc = repl_wire_snapshot_chunk(&m, 1, &b, &len);
    kv_mem_set(NULL);
    assert_int_equal(rc, -ENOMEM);
    kv_mem_failing_set(2); /* scratch ok, frame buffer fails */
    rc = repl_wire_snapshot_chunk(&m, 1, &b, &len);
    kv_mem_set(NULL);
    assert_int_equal(rc, -ENOMEM);
    /* The reader's body buffer failing is sticky -ENOMEM. */
    size_t hl;
    uint8_t *h = hello_frame(5, &hl);
    frame_reader_t r;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    const uint8_t *p = h;
    size_t left = hl - 1; /* not whole: must buffer */
    Edgekv__Frame *f;
    kv_mem_failing_set(0);
    rc = frame_reader_next(&r, &p, &left, &f);
    kv_mem_set(NULL);
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(frame_reader_next(&r, &p, &left, &f), -ENOMEM);
    frame_reader_free(&r);
    free(h);
}

/* ---- the origin's guard on what an edge sends ------------------------------------ */

/* Feed a guard in pieces of at most `piece` bytes (0: at once); the first
 * nonzero result, or 0. */
static int guard_feed(repl_wire_guard_t *g, const uint8_t *data, size_t len, size_t piece)
{
    while (len > 0) {
        size_t n = piece && piece < len ? piece : len;
        int rc = repl_wire_guard_feed(g, data, n);
        if (rc != 0)
            return rc;
        data += n, len -= n;
    }
    return 0;
}

static int guard_once(const uint8_t *data, size_t len, size_t piece)
{
    repl_wire_guard_t g;
    repl_wire_guard_init(&g);
    return guard_feed(&g, data, len, piece);
}

/* A WriteRequest frame of n empty ops (2 bytes each on the wire). */
static uint8_t *ops_frame(size_t n, size_t *len)
{
    Edgekv__Op *ops = calloc(n, sizeof *ops), **ptrs = calloc(n, sizeof *ptrs);
    assert_true(ops && ptrs);
    for (size_t i = 0; i < n; i++) {
        edgekv__op__init(&ops[i]);
        ptrs[i] = &ops[i];
    }
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    r.request_id = 9;
    r.n_ops = n;
    r.ops = ptrs;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    uint8_t *b = tk_frame_bytes(&f, len);
    free(ops);
    free(ptrs);
    return b;
}

/* Append a protobuf varint. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* A frame whose body is `body` (prefix added), in a new malloc'd buffer. */
static uint8_t *raw_frame(const uint8_t *body, size_t n, size_t *len)
{
    uint8_t *b = malloc(n + 4);
    assert_non_null(b);
    frame_put_len(b, (uint32_t)n);
    memcpy(b + 4, body, n);
    *len = n + 4;
    return b;
}

/* The field numbers wire.c hard-codes are the generated ones. */
static void test_guard_field_numbers(void **state)
{
    (void)state;
    const ProtobufCFieldDescriptor *ops =
        protobuf_c_message_descriptor_get_field_by_name(&edgekv__write_request__descriptor, "ops");
    assert_non_null(ops);
    assert_int_equal(ops->id, 3);
    static const char *const sent[] = {"hello", "refuse", "write_request", "ack"};
    static const int cases[] = {EDGEKV__FRAME__MSG_HELLO, EDGEKV__FRAME__MSG_REFUSE,
                                EDGEKV__FRAME__MSG_WRITE_REQUEST, EDGEKV__FRAME__MSG_ACK};
    for (size_t i = 0; i < 4; i++) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(&edgekv__frame__descriptor, sent[i]);
        assert_non_null(fd);
        assert_int_equal(fd->id, cases[i]);
    }
}

/* KV_REPL_WRITE_MAX_OPS ops pass, one more is refused, however the bytes
 * are cut, before the frame's last byte arrives: 26 MiB of empty ops are
 * refused after ~20 KiB and never decoded. */
static void test_guard_counts_ops_before_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ok = ops_frame(KV_REPL_WRITE_MAX_OPS, &len);
    assert_int_equal(guard_once(ok, len, 0), 0);
    assert_int_equal(guard_once(ok, len, 1), 0);
    assert_int_equal(guard_once(ok, len, 333), 0);
    frame_reader_t rd;
    frame_reader_init(&rd, KV_FRAME_MAX_BYTES);
    const uint8_t *p = ok;
    size_t left = len;
    Edgekv__Frame *f;
    assert_int_equal(frame_reader_next(&rd, &p, &left, &f), 1);
    assert_int_equal(f->write_request->n_ops, KV_REPL_WRITE_MAX_OPS);
    frame_free(f);
    frame_reader_free(&rd);
    free(ok);

    uint8_t *over = ops_frame(KV_REPL_WRITE_MAX_OPS + 1, &len);
    assert_int_equal(guard_once(over, len, 0), KV_ELIMIT);
    assert_int_equal(guard_once(over, len - 1, 1), KV_ELIMIT); /* the last byte not needed */
    repl_wire_guard_t g;
    repl_wire_guard_init(&g);
    assert_int_equal(guard_feed(&g, over, len, 7), KV_ELIMIT);
    assert_int_equal(repl_wire_guard_feed(&g, over, 4), KV_ELIMIT); /* sticky */
    free(over);

    /* The attack itself: a frame announcing 26 MiB of empty ops. Only its
     * first ops are ever sent here. */
    size_t body = KV_FRAME_MAX_BYTES - 16, n = 0;
    uint8_t *b = malloc(32 + 2 * (KV_REPL_WRITE_MAX_OPS + 1));
    assert_non_null(b);
    frame_put_len(b, (uint32_t)body);
    n = 4;
    b[n++] = (EDGEKV__FRAME__MSG_WRITE_REQUEST << 3) | 2;
    n += put_varint(b + n, body - 1 - 4); /* 4: the varint's own bytes */
    for (size_t i = 0; i <= KV_REPL_WRITE_MAX_OPS; i++) {
        b[n++] = (3 << 3) | 2;
        b[n++] = 0;
    }
    assert_int_equal(guard_once(b, n - 2, 0), 0);
    assert_int_equal(guard_once(b, n, 0), KV_ELIMIT);
    assert_int_equal(guard_once(b, n, 5), KV_ELIMIT);
    free(b);

    /* Ops count over every WriteRequest of a frame (protobuf-c merges them). */
    uint8_t two[16 + 4 * (KV_REPL_WRITE_MAX_OPS / 2 + 1)];
    n = 0;
    for (int k = 0; k < 2; k++) {
        size_t inner = 2 * (KV_REPL_WRITE_MAX_OPS / 2 + 1);
        two[n++] = (EDGEKV__FRAME__MSG_WRITE_REQUEST << 3) | 2;
        n += put_varint(two + n, inner);
        for (size_t i = 0; i < inner / 2; i++) {
            two[n++] = (3 << 3) | 2;
            two[n++] = 0;
        }
    }
    uint8_t *fr = raw_frame(two, n, &len);
    assert_int_equal(guard_once(fr, len, 0), KV_ELIMIT);
    free(fr);
}

/* The frames an edge sends pass, back to back and cut anywhere; the ones
 * only an origin sends, unknown ones, and messages of too many fields are
 * refused. */
static void test_guard_frame_kinds_and_fields(void **state)
{
    (void)state;
    uint8_t stream[4096];
    size_t n = 0, len;
    for (int i = 0; i < 3; i++) {
        uint8_t *h = hello_frame((uint64_t)i, &len);
        memcpy(stream + n, h, len);
        n += len;
        free(h);
        Edgekv__Frame f = EDGEKV__FRAME__INIT;
        Edgekv__ProgressAck ack = EDGEKV__PROGRESS_ACK__INIT;
        ack.applied_seq = 1000u * (uint64_t)i;
        f.msg_case = EDGEKV__FRAME__MSG_ACK;
        f.ack = &ack;
        uint8_t *a = tk_frame_bytes(&f, &len);
        memcpy(stream + n, a, len);
        n += len;
        free(a);
        uint8_t *w = ops_frame(5, &len);
        memcpy(stream + n, w, len);
        n += len;
        free(w);
    }
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Refuse rf = EDGEKV__REFUSE__INIT;
    rf.reason = "no";
    f.msg_case = EDGEKV__FRAME__MSG_REFUSE;
    f.refuse = &rf;
    uint8_t *r = tk_frame_bytes(&f, &len);
    memcpy(stream + n, r, len);
    n += len;
    free(r);
    uint8_t empty[4] = {0, 0, 0, 0}; /* an empty body: the core judges it */
    memcpy(stream + n, empty, 4);
    n += 4;
    for (size_t piece = 0; piece < 40; piece++)
        assert_int_equal(guard_once(stream, n, piece), 0);
    rng_state = 11;
    for (int round = 0; round < 200; round++) {
        repl_wire_guard_t g;
        repl_wire_guard_init(&g);
        for (size_t off = 0; off < n;) {
            size_t k = 1 + (size_t)(rnd() % 50);
            k = k < n - off ? k : n - off;
            assert_int_equal(repl_wire_guard_feed(&g, stream + off, k), 0);
            off += k;
        }
    }

    /* What only the origin sends. */
    Edgekv__MutationBatch batch = EDGEKV__MUTATION_BATCH__INIT;
    f = (Edgekv__Frame)EDGEKV__FRAME__INIT;
    f.msg_case = EDGEKV__FRAME__MSG_BATCH;
    f.batch = &batch;
    uint8_t *bt = tk_frame_bytes(&f, &len);
    assert_int_equal(guard_once(bt, len, 0), KV_EINVAL);
    free(bt);
    Edgekv__Welcome wl = EDGEKV__WELCOME__INIT;
    f = (Edgekv__Frame)EDGEKV__FRAME__INIT;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &wl;
    uint8_t *we = tk_frame_bytes(&f, &len);
    assert_int_equal(guard_once(we, len, 1), KV_EINVAL);
    free(we);
    uint8_t unknown[] = {(12 << 3) | 2, 0}; /* field 12: no such message */
    uint8_t *u = raw_frame(unknown, sizeof unknown, &len);
    assert_int_equal(guard_once(u, len, 0), KV_EINVAL);
    free(u);

    /* A Hello of KV_REPL_WIRE_FIELDS_MAX fields (unknown ones included)
     * passes; one more is refused. The same for one op. */
    for (int over = 0; over <= 1; over++) {
        uint8_t body[16 + 2 * (KV_REPL_WIRE_FIELDS_MAX + 1)];
        size_t fields = KV_REPL_WIRE_FIELDS_MAX + (size_t)over, m = 0;
        body[m++] = (EDGEKV__FRAME__MSG_HELLO << 3) | 2;
        m += put_varint(body + m, 2 * fields);
        for (size_t i = 0; i < fields; i++) {
            body[m++] = (uint8_t)((15 << 3) | 0); /* unknown field 15, varint 0 */
            body[m++] = 0;
        }
        uint8_t *hf = raw_frame(body, m, &len);
        assert_int_equal(guard_once(hf, len, 0), over ? KV_ELIMIT : 0);
        free(hf);
        uint8_t oplen[4];
        size_t ol = put_varint(oplen, 2 * fields);
        m = 0;
        body[m++] = (EDGEKV__FRAME__MSG_WRITE_REQUEST << 3) | 2;
        m += put_varint(body + m, 1 + ol + 2 * fields);
        body[m++] = (3 << 3) | 2;
        memcpy(body + m, oplen, ol);
        m += ol;
        for (size_t i = 0; i < fields; i++) {
            body[m++] = (uint8_t)((1 << 3) | 0); /* kind, again and again */
            body[m++] = 0;
        }
        uint8_t *of = raw_frame(body, m, &len);
        assert_int_equal(guard_once(of, len, 0), over ? KV_ELIMIT : 0);
        free(of);
    }
}

/* What is not the protobuf wire format is refused, never read past. */
static void test_guard_malformed(void **state)
{
    (void)state;
    size_t len;
    uint8_t huge[4];
    frame_put_len(huge, KV_FRAME_MAX_BYTES + 1);
    assert_int_equal(guard_once(huge, 4, 1), KV_ETOOBIG);
    const struct {
        uint8_t body[16];
        size_t n;
    } bad[] = {
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 5, 0x08, 1}, 4},           /* past the frame */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 2, 0x0a, 3, 'a', 'b'}, 6}, /* past the Hello */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 1, 0x08}, 3},              /* a value cut off */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 12, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0x01},
         14},                                                           /* an 11-byte varint */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 2, (1 << 3) | 3, 0}, 4}, /* a group */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 2, 2, 0x00, 0}, 4},         /* field 0 */
        {{(EDGEKV__FRAME__MSG_HELLO << 3) | 0, 1}, 2},                  /* a message as a varint */
        {{0xff, 0xff}, 2},                                              /* a tag cut off */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *fr = raw_frame(bad[i].body, bad[i].n, &len);
        assert_int_equal(guard_once(fr, len, 0), KV_ECORRUPT);
        assert_int_equal(guard_once(fr, len, 1), KV_ECORRUPT);
        free(fr);
    }
    /* Random bytes: a clean answer, never a crash or a read past them. */
    rng_state = 5;
    for (int round = 0; round < 2000; round++) {
        uint8_t junk[64];
        size_t n = 1 + (size_t)(rnd() % sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rnd();
        if (round % 2)
            frame_put_len(junk, (uint32_t)(rnd() % 80));
        int rc = guard_once(junk, n, 1 + (size_t)(rnd() % 8));
        assert_true(rc == 0 || rc == KV_ECORRUPT || rc == KV_EINVAL || rc == KV_ELIMIT ||
                    rc == KV_ETOOBIG);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_roundtrip_chunked),
        cmocka_unit_test(test_frame_empty_body),
        cmocka_unit_test(test_frame_oversized_length),
        cmocka_unit_test(test_frame_truncated_and_corrupt),
        cmocka_unit_test(test_frame_fuzz),
        cmocka_unit_test(test_frame_big_value_grows_once),
        cmocka_unit_test(test_mutation_roundtrip_all_kinds),
        cmocka_unit_test(test_mutation_decode_errors),
        cmocka_unit_test(test_mutation_decode_in_arena),
        cmocka_unit_test(test_mutation_peek),
        cmocka_unit_test(test_batch_frame_stored_bytes),
        cmocka_unit_test(test_op_check_limits),
        cmocka_unit_test(test_max_value_fits_a_frame),
        cmocka_unit_test(test_snapshot_frames_decode),
        cmocka_unit_test(test_frame_decode_arena),
        cmocka_unit_test(test_frame_decode_alloc_failure),
        cmocka_unit_test(test_frame_shared_decode),
        cmocka_unit_test(test_ack_frame_bytes),
        cmocka_unit_test(test_ack_parse_refuses),
        cmocka_unit_test(test_frame_encode_alloc_failure),
        cmocka_unit_test(test_guard_field_numbers),
        cmocka_unit_test(test_guard_counts_ops_before_decoding),
        cmocka_unit_test(test_guard_frame_kinds_and_fields),
        cmocka_unit_test(test_guard_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
