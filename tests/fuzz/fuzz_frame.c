/*
 * fuzz_frame.c - libFuzzer harness of the replication link's framing and
 * codec: proto/frame.c's incremental reader fed the input in fuzzed chunk
 * sizes (first byte: the chunking seed), every frame it returns walked
 * through replication/wire.c's conversions of every frame kind (ops of a
 * WriteRequest, mutations of a batch or snapshot chunk), and two
 * properties: a decoded frame re-encodes, and encoding is a fixpoint
 * (encode, decode, encode gives the same bytes); a mutation that passes
 * the checks round-trips through the stored form (repl_mutation_encode,
 * repl_mutation_decode) unchanged.
 */
#include "fuzz_util.h"

#include "frame.h"
#include "kv_mem.h"
#include "fuzz_repl.h"
#include "wire.h"

static void check_mutation(const Edgekv__Mutation *pb)
{
    repl_mutation_t m, *back;
    if (repl_wire_mut_from_pb(pb, &m) != 0)
        return;
    FZ_CHECK(repl_op_check(&m.op) == 0);
    size_t need = repl_mutation_encoded_size(&m), len;
    uint8_t *buf = kv_malloc(need ? need : 1);
    FZ_CHECK(buf != NULL);
    FZ_CHECK(repl_mutation_encode(&m, buf, need, &len) == 0 && len == need);
    FZ_CHECK(repl_mutation_decode(buf, len, &back) == 0);
    same_mut(&m, back);
    repl_mutation_free(back);
    kv_free(buf);
}

static void walk(const Edgekv__Frame *f)
{
    repl_op_t op;
    size_t i;
    switch (f->msg_case) {
    case EDGEKV__FRAME__MSG_WRITE_REQUEST:
        for (i = 0; i < f->write_request->n_ops; i++)
            if (repl_wire_op_from_pb(f->write_request->ops[i], &op) == 0)
                FZ_CHECK(repl_op_check(&op) == 0);
        break;
    case EDGEKV__FRAME__MSG_BATCH:
        for (i = 0; i < f->batch->n_mutations; i++)
            check_mutation(f->batch->mutations[i]);
        break;
    case EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK:
        for (i = 0; i < f->snapshot_chunk->n_mutations; i++)
            check_mutation(f->snapshot_chunk->mutations[i]);
        break;
    case EDGEKV__FRAME__MSG_HELLO:
        FZ_CHECK(f->hello != NULL);
        break;
    default:
        break;
    }
}

/* Drop the unknown fields of m and of every message inside it. protobuf-c
 * keeps them and packs them again, but it accepts a field number 0 whose
 * tag is a non-minimal varint (0x81 0x00) and then refuses the minimal tag
 * it packs (0x01): edgekv never re-encodes a decoded frame, so the fixpoint
 * is checked on the known fields only (corpus/frame/regress-tag0). */
static void strip_unknown(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        char *at = (char *)m + fd->offset;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)((char *)m + fd->quantifier_offset);
            ProtobufCMessage **sub = *(ProtobufCMessage ***)at;
            for (size_t k = 0; k < n; k++)
                strip_unknown(sub[k]);
            continue;
        }
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)((char *)m + fd->quantifier_offset) != fd->id)
            continue;
        if (*(ProtobufCMessage **)at)
            strip_unknown(*(ProtobufCMessage **)at);
    }
    /* The decoded frame's arena owns them (frame.h): drop, do not free. */
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
}

/* Encode, decode, encode: a decodable frame re-encodes, to a fixpoint. */
static void check_reencode(const Edgekv__Frame *f)
{
    uint8_t *a, *b;
    size_t alen, blen;
    Edgekv__Frame *g;
    if (frame_encode(f, &a, &alen) != 0)
        return; /* over KV_FRAME_MAX_BYTES: not from a fuzzer-sized input */
    FZ_CHECK(frame_get_len(a) == alen - FRAME_PREFIX_BYTES);
    FZ_CHECK(frame_decode(a + FRAME_PREFIX_BYTES, alen - FRAME_PREFIX_BYTES, &g) == 0);
    FZ_CHECK(g->msg_case == f->msg_case);
    FZ_CHECK(frame_encode(g, &b, &blen) == 0);
    FZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
    frame_free(g);
    kv_free(a);
    kv_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    uint32_t seed = fz_u8(&in);
    const uint8_t *p = in.p;
    size_t left = in.n;
    frame_reader_t r;
    /* The real limit when the first byte is 0xff. Else a smaller one: a
     * prefix announcing megabytes makes the reader allocate them at once,
     * and ASan's bookkeeping of such blocks would cost most of the run. */
    frame_reader_init(&r, seed == 0xff ? KV_FRAME_MAX_BYTES : KV_FRAME_READER_KEEP_BYTES);
    while (left > 0) {
        /* Chunks of 1..256 bytes, sizes from a small LCG over the seed. */
        seed = seed * 1103515245u + 12345u;
        size_t chunk = (seed >> 16) % 256 + 1;
        if (chunk > left)
            chunk = left;
        const uint8_t *c = p;
        size_t clen = chunk;
        p += chunk;
        left -= chunk;
        int rc;
        Edgekv__Frame *f;
        while ((rc = frame_reader_next(&r, &c, &clen, &f)) == 1) {
            FZ_CHECK(f != NULL);
            FZ_CHECK(r.last_frame_bytes >= FRAME_PREFIX_BYTES);
            walk(f);
            strip_unknown(&f->base);
            check_reencode(f);
            frame_free(f);
        }
        if (rc < 0) {
            /* Sticky: the stream is dead. */
            const uint8_t *z = p;
            size_t zl = left;
            FZ_CHECK(frame_reader_next(&r, &z, &zl, &f) == rc && f == NULL);
            break;
        }
        FZ_CHECK(clen == 0);
    }
    frame_reader_free(&r);
    return 0;
}
