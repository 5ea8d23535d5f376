/*
 * wire.c - conversions between repl_ types and protobuf messages (wire.h),
 * and the batch and snapshot frame builders.
 *
 * Every conversion is a view: pointers go one way or the other, bytes are
 * never copied here. Everything read off the wire passes repl_op_check()
 * before the cores see it, so a peer cannot smuggle in a 1 GiB key; and
 * what an edge sends passes repl_wire_guard_feed() before it is even
 * decoded, so it cannot make protobuf-c allocate per field without bound.
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

#include "frame.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_int.h"

/* Per-mutation overhead in repl_mutation_cost: tags, lengths, version. */
#define WIRE__MUT_OVERHEAD 64

static const char wire__empty[1] = "";

/* Protobuf wire types. */
enum { WIRE__WT_VARINT = 0, WIRE__WT_I64 = 1, WIRE__WT_LEN = 2, WIRE__WT_I32 = 5 };

/* Protobuf wire: a varint, and its size. */
static size_t wire__varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *wire__varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Read a varint at *p (before end); false when cut or over 10 bytes. */
static bool wire__varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t acc = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        acc |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = acc;
            return true;
        }
    }
    return false;
}

static bool wire__hex_id(const char *id)
{
    size_t i;
    for (i = 0; i < KV_NS_ID_LEN; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return id[i] == '\0';
}

static int wire__check_ns_op(const repl_op_t *op)
{
    size_t len;
    if (op->kind == REPL_OP_NS_CREATE) {
        if (!op->account || !op->account[0])
            return KV_EINVAL;
        if (strnlen(op->account, KV_ACCOUNT_ID_MAX_BYTES + 1) > KV_ACCOUNT_ID_MAX_BYTES)
            return KV_ETOOBIG;
    }
    if (op->kind == REPL_OP_NS_CREATE || op->kind == REPL_OP_NS_RENAME) {
        if (!op->title || !op->title[0])
            return KV_EINVAL;
        len = strnlen(op->title, KV_NS_TITLE_MAX_BYTES + 1);
        if (len > KV_NS_TITLE_MAX_BYTES)
            return KV_ETOOBIG;
    }
    return 0;
}

int repl_op_check(const repl_op_t *op)
{
    switch (op->kind) {
    case REPL_OP_NOOP:
        return 0;
    case REPL_OP_PUT:
    case REPL_OP_DELETE:
    case REPL_OP_NS_CREATE:
    case REPL_OP_NS_RENAME:
    case REPL_OP_NS_DELETE:
    case REPL_OP_TOKEN_PUT:
    case REPL_OP_TOKEN_DELETE:
        break;
    default:
        return KV_EINVAL;
    }
    if (!wire__hex_id(op->ns_id))
        return KV_EINVAL;
    if (op->kind == REPL_OP_TOKEN_PUT || op->kind == REPL_OP_TOKEN_DELETE) {
        if (!op->key || op->key_len == 0)
            return KV_EINVAL;
        if (op->key_len > REPL_TOKEN_ID_MAX_BYTES ||
            (op->kind == REPL_OP_TOKEN_PUT && op->value_len > REPL_TOKEN_RECORD_MAX_BYTES))
            return KV_ETOOBIG;
        return op->kind == REPL_OP_TOKEN_PUT && op->value_len && !op->value ? KV_EINVAL : 0;
    }
    if (op->kind != REPL_OP_PUT && op->kind != REPL_OP_DELETE)
        return wire__check_ns_op(op);
    if (!op->key || op->key_len == 0)
        return KV_EINVAL;
    if (op->key_len > KV_KEY_MAX_BYTES)
        return KV_ETOOBIG;
    if (op->kind == REPL_OP_DELETE)
        return 0;
    if (op->value_len > KV_VALUE_MAX_BYTES || op->metadata_len > KV_METADATA_MAX_BYTES)
        return KV_ETOOBIG;
    if ((op->value_len && !op->value) || (op->metadata_len && !op->metadata))
        return KV_EINVAL;
    return 0;
}

void repl_wire_op_view(const repl_op_t *op, Edgekv__Op *pb)
{
    edgekv__op__init(pb);
    pb->kind = (Edgekv__Op__Kind)op->kind;
    if (op->kind == REPL_OP_NOOP)
        return;
    pb->ns_id = (char *)op->ns_id;
    if (repl_op_has_key(op->kind)) {
        pb->key.data = (uint8_t *)op->key;
        pb->key.len = op->key_len;
    }
    if (repl_op_has_value(op->kind)) {
        pb->value.data = (uint8_t *)op->value;
        pb->value.len = op->value_len;
    }
    if (op->kind == REPL_OP_PUT) {
        pb->metadata.data = (uint8_t *)op->metadata;
        pb->metadata.len = op->metadata ? op->metadata_len : 0;
        pb->expiration = op->expiration;
    }
    if (op->kind == REPL_OP_NS_CREATE)
        pb->account = (char *)op->account;
    if (op->kind == REPL_OP_NS_CREATE || op->kind == REPL_OP_NS_RENAME)
        pb->title = (char *)op->title;
}

void repl_wire_mut_view(const repl_mutation_t *m, repl_wire_mut_t *w)
{
    edgekv__mutation__init(&w->mut);
    edgekv__version__init(&w->version);
    w->version.hlc = m->version.hlc;
    w->version.node_id = m->version.node_id;
    repl_wire_op_view(&m->op, &w->op);
    w->mut.seq = m->seq;
    w->mut.term = m->term;
    w->mut.version = &w->version;
    w->mut.op = &w->op;
}

/* An empty string field decodes as "" (protobuf-c's default) or NULL. */
static const char *wire__str(const char *s)
{
    return s && s[0] ? s : NULL;
}

int repl_wire_op_from_pb(const Edgekv__Op *pb, repl_op_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = (repl_op_kind_t)pb->kind;
    if (out->kind == REPL_OP_NOOP)
        return 0;
    const char *id = pb->ns_id ? pb->ns_id : wire__empty;
    if (strnlen(id, KV_NS_ID_LEN + 1) != KV_NS_ID_LEN)
        return KV_EINVAL;
    memcpy(out->ns_id, id, KV_NS_ID_LEN + 1);
    out->key = pb->key.len ? (const char *)pb->key.data : wire__empty;
    out->key_len = pb->key.len;
    out->value = pb->value.len ? pb->value.data : (const uint8_t *)wire__empty;
    out->value_len = pb->value.len;
    out->metadata = pb->metadata.len ? (const char *)pb->metadata.data : NULL;
    out->metadata_len = pb->metadata.len;
    out->expiration = pb->expiration;
    out->account = wire__str(pb->account);
    out->title = wire__str(pb->title);
    return repl_op_check(out);
}

int repl_wire_mut_from_pb(const Edgekv__Mutation *pb, repl_mutation_t *out)
{
    if (!pb->version || !pb->op)
        return KV_ECORRUPT;
    out->seq = pb->seq;
    out->term = pb->term;
    out->enc = NULL; /* no stored bytes: encoded from its op when sent */
    out->enc_len = 0;
    out->version.hlc = pb->version->hlc;
    out->version.node_id = pb->version->node_id;
    return repl_wire_op_from_pb(pb->op, &out->op);
}

size_t repl_mutation_encoded_size(const repl_mutation_t *m)
{
    repl_wire_mut_t w;
    repl_wire_mut_view(m, &w);
    return edgekv__mutation__get_packed_size(&w.mut);
}

size_t repl_mutation_pack(const repl_mutation_t *m, uint8_t *buf)
{
    repl_wire_mut_t w;
    repl_wire_mut_view(m, &w);
    return edgekv__mutation__pack(&w.mut, buf);
}

int repl_mutation_encode(const repl_mutation_t *m, uint8_t *buf, size_t cap, size_t *len)
{
    size_t need = repl_mutation_encoded_size(m);
    if (need > cap)
        return KV_ETOOBIG;
    *len = repl_mutation_pack(m, buf);
    KV_ASSERT(*len == need);
    return 0;
}

/* A decoded entry: the view first, so a repl_mutation_t * is the block. */
typedef struct {
    repl_mutation_t m;
    Edgekv__Mutation *pb;
} wire__decoded_t;

int repl_mutation_decode(const uint8_t *buf, size_t len, repl_mutation_t **out)
{
    static const uint8_t empty[1];
    Edgekv__Mutation *pb = edgekv__mutation__unpack(frame_pb_allocator(), len, len ? buf : empty);
    if (!pb)
        return KV_ECORRUPT;
    wire__decoded_t *d = kv_malloc(sizeof *d);
    if (!d) {
        edgekv__mutation__free_unpacked(pb, frame_pb_allocator());
        return -ENOMEM;
    }
    d->pb = pb;
    int rc = repl_wire_mut_from_pb(pb, &d->m);
    if (rc != 0) {
        repl_mutation_free(&d->m);
        return rc;
    }
    *out = &d->m;
    return 0;
}

int repl_mutation_decode_in(frame_arena_t *arena, const uint8_t *buf, size_t len,
                            repl_mutation_t *out)
{
    static const uint8_t empty[1];
    Edgekv__Mutation *pb = edgekv__mutation__unpack(frame_arena_pb(arena), len, len ? buf : empty);
    if (!pb)
        return frame_arena_failed(arena) ? -ENOMEM : KV_ECORRUPT;
    return repl_wire_mut_from_pb(pb, out); /* on error pb stays in the arena */
}

void repl_mutation_free(repl_mutation_t *m)
{
    if (!m)
        return;
    wire__decoded_t *d = (wire__decoded_t *)m;
    edgekv__mutation__free_unpacked(d->pb, frame_pb_allocator());
    kv_free(d);
}

/* Field numbers of Mutation and Version in proto/edgekv.proto (test_wire.c
 * checks them against the generated descriptors). */
enum { WIRE__MUT_SEQ = 1, WIRE__MUT_VERSION = 2, WIRE__MUT_OP = 3, WIRE__MUT_TERM = 4 };
enum { WIRE__VERSION_HLC = 1, WIRE__VERSION_NODE = 2 };

/* One field of a message in [*p, end): its number, wire type, and its
 * value (a varint) or its bytes (length-delimited); fixed-width skipped. */
static bool wire__field(const uint8_t **p, const uint8_t *end, uint64_t *field, int *wt,
                        uint64_t *v, const uint8_t **bytes)
{
    /* Tags as protobuf-c reads them: at most 5 bytes, the field number in
     * 32 bits; a first byte without field bits is refused, a longer tag
     * that still comes to field 0 is skipped like any unknown field. */
    const uint8_t *start = *p;
    uint64_t tag;
    if (*p < end && (**p & 0xf8) == 0)
        return false;
    if (!wire__varint_get(p, end, &tag) || *p - start > 5)
        return false;
    *field = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    switch (*wt) {
    case WIRE__WT_VARINT:
        return wire__varint_get(p, end, v);
    case WIRE__WT_I64:
    case WIRE__WT_I32:
        *v = *wt == WIRE__WT_I64 ? 8 : 4;
        break;
    case WIRE__WT_LEN:
        if (!wire__varint_get(p, end, v))
            return false;
        break;
    default:
        return false; /* groups, and wire types that do not exist */
    }
    if (*v > (uint64_t)(end - *p))
        return false;
    *bytes = *p;
    *p += *v;
    return true;
}

/* Version's fields into *out; a field given twice: the later one, and a
 * Version given twice: the later one whole, as protobuf-c decodes them. */
static int wire__peek_version(const uint8_t *p, const uint8_t *end, kv_version_t *out)
{
    uint64_t field, v;
    const uint8_t *bytes;
    int wt;
    *out = (kv_version_t){0};
    while (p < end) {
        if (!wire__field(&p, end, &field, &wt, &v, &bytes))
            return KV_ECORRUPT;
        if (field != WIRE__VERSION_HLC && field != WIRE__VERSION_NODE)
            continue;
        if (wt != WIRE__WT_VARINT)
            return KV_ECORRUPT;
        if (field == WIRE__VERSION_HLC)
            out->hlc = v;
        else
            out->node_id = (uint32_t)v; /* as protobuf-c reads a uint32 */
    }
    return 0;
}

int repl_mutation_peek(const uint8_t *buf, size_t len, repl_mutation_t *out)
{
    static const uint8_t empty[1];
    const uint8_t *p = len ? buf : empty, *end = p + len, *bytes;
    bool version = false, op = false;
    uint64_t field, v;
    int wt;
    memset(out, 0, sizeof *out);
    while (p < end) {
        if (!wire__field(&p, end, &field, &wt, &v, &bytes))
            return KV_ECORRUPT;
        bool message = field == WIRE__MUT_VERSION || field == WIRE__MUT_OP;
        if (field < WIRE__MUT_SEQ || field > WIRE__MUT_TERM)
            continue; /* not Mutation's: passed on with the rest */
        if (wt != (message ? WIRE__WT_LEN : WIRE__WT_VARINT))
            return KV_ECORRUPT;
        if (field == WIRE__MUT_SEQ) {
            out->seq = v;
        } else if (field == WIRE__MUT_TERM) {
            out->term = v;
        } else if (field == WIRE__MUT_OP) {
            op = true;
        } else {
            if (wire__peek_version(bytes, bytes + v, &out->version) != 0)
                return KV_ECORRUPT;
            version = true;
        }
    }
    if (!version || !op)
        return KV_ECORRUPT;
    out->enc = len ? buf : empty;
    out->enc_len = len;
    return 0;
}

size_t repl_mutation_cost(const repl_mutation_t *m)
{
    if (m->enc)
        return m->enc_len + 2 * sizeof(uint64_t); /* its bytes, tag and length */
    const repl_op_t *op = &m->op;
    size_t n = WIRE__MUT_OVERHEAD + op->key_len + op->value_len + op->metadata_len;
    if (op->account)
        n += strlen(op->account);
    if (op->title)
        n += strlen(op->title);
    return n;
}

/* ---- frames of many mutations ------------------------------------------------ */

typedef struct {
    Edgekv__Frame frame;
    Edgekv__MutationBatch batch;
    Edgekv__SnapshotChunk chunk;
    repl_wire_mut_t *views;
    Edgekv__Mutation **ptrs;
} wire__muts_msg_t;

static int wire__muts_msg(wire__muts_msg_t *w, bool chunk, repl__mut_at_fn at, const void *ctx,
                          size_t n, uint64_t origin_seq, uint64_t time_ms, uint64_t term,
                          uint64_t acked_seq)
{
    edgekv__frame__init(&w->frame);
    w->views = n ? kv_malloc(n * sizeof *w->views) : NULL;
    w->ptrs = n ? kv_malloc(n * sizeof *w->ptrs) : NULL;
    if (n && (!w->views || !w->ptrs)) {
        kv_free(w->views);
        kv_free(w->ptrs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        repl_wire_mut_view(at(ctx, i), &w->views[i]);
        w->ptrs[i] = &w->views[i].mut;
    }
    if (chunk) {
        edgekv__snapshot_chunk__init(&w->chunk);
        w->chunk.n_mutations = n;
        w->chunk.mutations = w->ptrs;
        w->frame.msg_case = EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK;
        w->frame.snapshot_chunk = &w->chunk;
    } else {
        edgekv__mutation_batch__init(&w->batch);
        w->batch.n_mutations = n;
        w->batch.mutations = w->ptrs;
        w->batch.origin_seq = origin_seq;
        w->batch.origin_time_ms = time_ms;
        w->batch.term = term;
        w->batch.acked_seq = acked_seq;
        w->frame.msg_case = EDGEKV__FRAME__MSG_BATCH;
        w->frame.batch = &w->batch;
    }
    return 0;
}

static void wire__muts_msg_fini(wire__muts_msg_t *w)
{
    kv_free(w->views);
    kv_free(w->ptrs);
}

/* A MutationBatch field holding a varint: its bytes, none for 0 (proto3). */
static size_t wire__opt_varint_size(uint64_t v)
{
    return v ? 1 + wire__varint_size(v) : 0;
}

static uint8_t *wire__opt_varint(uint8_t *p, unsigned field, uint64_t v)
{
    if (!v)
        return p;
    *p++ = (uint8_t)(field << 3 | WIRE__WT_VARINT);
    return wire__varint(p, v);
}

/* Field numbers of MutationBatch (test_wire.c checks them). */
enum {
    WIRE__BATCH_MUTATIONS = 1,
    WIRE__BATCH_ORIGIN_SEQ,
    WIRE__BATCH_TIME,
    WIRE__BATCH_TERM,
    WIRE__BATCH_ACKED
};

/* Encoded size of mutation m: its stored bytes, or packed from its view. */
static size_t wire__mut_size(const repl_mutation_t *m)
{
    return m->enc ? m->enc_len : repl_mutation_encoded_size(m);
}

/* A MutationBatch frame written directly, with the stored encodings of
 * mutations that carry one copied in as they are (log reads): the same
 * bytes protobuf-c packs (fields in number order, zero scalars left out),
 * without decoding an entry to encode it again. */
static int wire__batch_direct(repl__mut_at_fn at, const void *ctx, size_t n, uint64_t origin_seq,
                              uint64_t time_ms, uint64_t term, uint64_t acked_seq, repl_buf_t **out)
{
    uint64_t batch = wire__opt_varint_size(origin_seq) + wire__opt_varint_size(time_ms) +
                     wire__opt_varint_size(term) + wire__opt_varint_size(acked_seq);
    for (size_t i = 0; i < n; i++) {
        size_t len = wire__mut_size(at(ctx, i));
        batch += 1 + wire__varint_size(len) + len;
    }
    uint64_t body = 1 + wire__varint_size(batch) + batch;
    if (body > KV_FRAME_MAX_BYTES)
        return KV_ETOOBIG;
    repl_buf_t *b = kv_malloc(sizeof *b + FRAME_PREFIX_BYTES + (size_t)body);
    if (!b)
        return -ENOMEM;
    b->refs = 1;
    b->len = FRAME_PREFIX_BYTES + (size_t)body;
    uint8_t *p = b->data;
    frame_put_len(p, (uint32_t)body);
    p += FRAME_PREFIX_BYTES;
    *p++ = (uint8_t)(EDGEKV__FRAME__MSG_BATCH << 3 | WIRE__WT_LEN);
    p = wire__varint(p, batch);
    for (size_t i = 0; i < n; i++) {
        const repl_mutation_t *m = at(ctx, i);
        size_t len = wire__mut_size(m);
        *p++ = (uint8_t)(WIRE__BATCH_MUTATIONS << 3 | WIRE__WT_LEN);
        p = wire__varint(p, len);
        if (m->enc) {
            if (len)
                memcpy(p, m->enc, len);
        } else {
            repl_wire_mut_t w;
            repl_wire_mut_view(m, &w);
            size_t packed = edgekv__mutation__pack(&w.mut, p);
            KV_ASSERT(packed == len);
        }
        p += len;
    }
    p = wire__opt_varint(p, WIRE__BATCH_ORIGIN_SEQ, origin_seq);
    p = wire__opt_varint(p, WIRE__BATCH_TIME, time_ms);
    p = wire__opt_varint(p, WIRE__BATCH_TERM, term);
    p = wire__opt_varint(p, WIRE__BATCH_ACKED, acked_seq);
    KV_ASSERT((size_t)(p - b->data) == b->len);
    *out = b;
    return 0;
}

int repl__muts_frame(bool chunk, repl__mut_at_fn at, const void *ctx, size_t n, uint64_t origin_seq,
                     uint64_t time_ms, uint64_t term, uint64_t acked_seq, repl_buf_t **out)
{
    bool direct = false;
    for (size_t i = 0; i < n && !chunk && !direct; i++)
        direct = at(ctx, i)->enc != NULL;
    if (direct)
        return wire__batch_direct(at, ctx, n, origin_seq, time_ms, term, acked_seq, out);
    wire__muts_msg_t w;
    int rc = wire__muts_msg(&w, chunk, at, ctx, n, origin_seq, time_ms, term, acked_seq);
    if (rc != 0)
        return rc;
    rc = repl__buf_frame(&w.frame, out);
    wire__muts_msg_fini(&w);
    return rc;
}

static const repl_mutation_t *wire__array_at(const void *ctx, size_t i)
{
    return &((const repl_mutation_t *)ctx)[i];
}

int repl__batch_frame_array(const repl_mutation_t *muts, size_t n, uint64_t origin_seq,
                            uint64_t time_ms, uint64_t term, uint64_t acked_seq, repl_buf_t **out)
{
    return repl__muts_frame(false, wire__array_at, muts, n, origin_seq, time_ms, term, acked_seq,
                            out);
}

int repl_wire_snapshot_chunk(const repl_mutation_t *muts, size_t n, uint8_t **out, size_t *len)
{
    wire__muts_msg_t w;
    int rc = wire__muts_msg(&w, true, wire__array_at, muts, n, 0, 0, 0, 0);
    if (rc != 0)
        return rc;
    rc = frame_encode(&w.frame, out, len);
    wire__muts_msg_fini(&w);
    return rc;
}

int repl_wire_snapshot_end(uint64_t seq, kv_version_t version, const char *history_id,
                           uint8_t **out, size_t *len)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__SnapshotEnd end = EDGEKV__SNAPSHOT_END__INIT;
    Edgekv__Version v = EDGEKV__VERSION__INIT;
    end.seq = seq;
    end.history_id = (char *)history_id;
    if (!kv_version_is_zero(version)) {
        v.hlc = version.hlc;
        v.node_id = version.node_id;
        end.version = &v;
    }
    f.msg_case = EDGEKV__FRAME__MSG_SNAPSHOT_END;
    f.snapshot_end = &end;
    return frame_encode(&f, out, len);
}

/* ---- progress acks ------------------------------------------------------------- */

/* Frame { ack (8) = ProgressAck { applied_seq (1), probe (2) = Probe { sent_ms (1) } } }:
 * proto3 leaves out a zero scalar; the probe is always there. */
int repl__ack_frame(uint64_t applied_seq, uint64_t sent_ms, repl_buf_t **out)
{
    size_t probe = sent_ms ? 1 + wire__varint_size(sent_ms) : 0;
    size_t ack = (applied_seq ? 1 + wire__varint_size(applied_seq) : 0) + 1 +
                 wire__varint_size(probe) + probe;
    size_t body = 1 + wire__varint_size(ack) + ack;
    repl_buf_t *b = kv_malloc(sizeof *b + FRAME_PREFIX_BYTES + body);
    if (!b)
        return -ENOMEM;
    b->refs = 1;
    b->len = FRAME_PREFIX_BYTES + body;
    uint8_t *p = b->data;
    frame_put_len(p, (uint32_t)body);
    p += FRAME_PREFIX_BYTES;
    *p++ = (uint8_t)(EDGEKV__FRAME__MSG_ACK << 3 | WIRE__WT_LEN);
    p = wire__varint(p, ack);
    if (applied_seq) {
        *p++ = 1 << 3 | WIRE__WT_VARINT;
        p = wire__varint(p, applied_seq);
    }
    *p++ = 2 << 3 | WIRE__WT_LEN;
    p = wire__varint(p, probe);
    if (sent_ms) {
        *p++ = 1 << 3 | WIRE__WT_VARINT;
        p = wire__varint(p, sent_ms);
    }
    KV_ASSERT((size_t)(p - b->data) == b->len);
    *out = b;
    return 0;
}

/* A varint in its shortest form at p[*i] before end (what protobuf-c and
 * wire__varint write); false for anything else, a longer form included.
 * Stricter than wire__varint_get, which reads what protobuf-c accepts: the
 * ack fast path takes only the exact bytes an edge writes, and anything
 * else goes through protobuf-c. */
static bool wire__varint_shortest(const uint8_t *p, size_t end, size_t *i, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned k = 0; k < 10 && *i < end; k++) {
        uint8_t b = p[(*i)++];
        if (k == 9 && b > 1)
            return false; /* past 64 bits */
        x |= (uint64_t)(b & 0x7f) << (7 * k);
        if (!(b & 0x80)) {
            if (b == 0 && k > 0)
                return false; /* a padded form */
            *v = x;
            return true;
        }
    }
    return false;
}

bool repl__ack_parse(const uint8_t *p, size_t len, uint64_t *applied_seq, uint64_t *sent_ms)
{
    if (len < FRAME_PREFIX_BYTES + 4 || frame_get_len(p) != len - FRAME_PREFIX_BYTES)
        return false;
    size_t i = FRAME_PREFIX_BYTES;
    uint64_t ack, probe, seq = 0, ms = 0;
    if (p[i++] != (EDGEKV__FRAME__MSG_ACK << 3 | WIRE__WT_LEN) ||
        !wire__varint_shortest(p, len, &i, &ack) || ack != len - i || i == len)
        return false;
    if (p[i] == (1 << 3 | WIRE__WT_VARINT)) {
        i++;
        if (!wire__varint_shortest(p, len, &i, &seq) || seq == 0)
            return false; /* proto3 leaves a zero out */
    }
    if (i == len || p[i++] != (2 << 3 | WIRE__WT_LEN) ||
        !wire__varint_shortest(p, len, &i, &probe) || probe != len - i)
        return false;
    if (probe && (p[i++] != (1 << 3 | WIRE__WT_VARINT) || !wire__varint_shortest(p, len, &i, &ms) ||
                  ms == 0 || i != len))
        return false;
    *applied_seq = seq;
    *sent_ms = ms;
    return true;
}

/* ---- the origin's guard on what an edge sends ----------------------------------- */

/* Field numbers from proto/edgekv.proto (test_wire.c checks them against
 * the generated descriptors). The Frame's are its oneof cases. */
#define WIRE__WRITE_REQUEST_OPS 3

/* The messages the guard opens. */
enum { WIRE__FRAME, WIRE__WRITE_REQUEST, WIRE__LEAF };

/* What the next byte belongs to. */
enum { WIRE__TAG, WIRE__LEN, WIRE__VARINT, WIRE__SKIP };

_Static_assert(sizeof((repl_wire_guard_t *)0)->hdr == FRAME_PREFIX_BYTES, "the frame prefix");

void repl_wire_guard_init(repl_wire_guard_t *g)
{
    memset(g, 0, sizeof *g);
}

static int wire__guard_fail(repl_wire_guard_t *g, int err)
{
    g->err = err;
    return err;
}

/* A Frame's message an edge may send (it opens it) or not. */
static bool wire__edge_sends(uint32_t field)
{
    return field == EDGEKV__FRAME__MSG_HELLO || field == EDGEKV__FRAME__MSG_REFUSE ||
           field == EDGEKV__FRAME__MSG_WRITE_REQUEST || field == EDGEKV__FRAME__MSG_ACK;
}

/* A tag was read. */
static int wire__guard_tag(repl_wire_guard_t *g, uint64_t tag)
{
    uint64_t field = tag >> 3;
    int wt = (int)(tag & 7);
    if (field == 0 || field > UINT32_MAX)
        return KV_ECORRUPT;
    g->field = (uint32_t)field;
    g->wire_type = (uint8_t)wt;
    uint8_t kind = g->lv[g->depth].kind;
    if (kind == WIRE__FRAME && !wire__edge_sends(g->field))
        return KV_EINVAL;
    bool op = kind == WIRE__WRITE_REQUEST && g->field == WIRE__WRITE_REQUEST_OPS;
    if (op) {
        if (++g->ops > KV_REPL_WRITE_MAX_OPS)
            return KV_ELIMIT;
    } else if (++g->lv[g->depth].fields > KV_REPL_WIRE_FIELDS_MAX) {
        return KV_ELIMIT;
    }
    if ((kind == WIRE__FRAME || op) && wt != WIRE__WT_LEN)
        return KV_ECORRUPT; /* a message field must be length-delimited */
    switch (wt) {
    case WIRE__WT_VARINT:
        g->step = WIRE__VARINT;
        return 0;
    case WIRE__WT_I64:
    case WIRE__WT_I32:
        g->skip = wt == WIRE__WT_I64 ? 8 : 4;
        g->step = WIRE__SKIP;
        return 0;
    case WIRE__WT_LEN:
        g->step = WIRE__LEN;
        return 0;
    default:
        return KV_ECORRUPT; /* groups, and wire types that do not exist */
    }
}

/* A length was read: open the message, or skip its bytes. */
static int wire__guard_len(repl_wire_guard_t *g, uint64_t len)
{
    if (len > g->lv[g->depth].end - g->pos)
        return KV_ECORRUPT;
    uint8_t kind = g->lv[g->depth].kind;
    g->step = WIRE__TAG;
    if (kind == WIRE__FRAME ||
        (kind == WIRE__WRITE_REQUEST && g->field == WIRE__WRITE_REQUEST_OPS)) {
        int d = ++g->depth;
        g->lv[d].end = g->pos + len;
        g->lv[d].fields = 0;
        g->lv[d].kind = kind == WIRE__FRAME && g->field == EDGEKV__FRAME__MSG_WRITE_REQUEST
                            ? WIRE__WRITE_REQUEST
                            : WIRE__LEAF;
        return 0;
    }
    g->skip = len;
    if (len > 0)
        g->step = WIRE__SKIP;
    return 0;
}

/* Prefix bytes; on the fourth, open the frame. */
static int wire__guard_prefix(repl_wire_guard_t *g, const uint8_t **data, size_t *len)
{
    size_t take = FRAME_PREFIX_BYTES - g->hdr_have;
    if (take > *len)
        take = *len;
    memcpy(g->hdr + g->hdr_have, *data, take);
    g->hdr_have += take;
    *data += take;
    *len -= take;
    if (g->hdr_have < FRAME_PREFIX_BYTES)
        return 0;
    uint32_t body = frame_get_len(g->hdr);
    if (body > KV_FRAME_MAX_BYTES)
        return KV_ETOOBIG;
    g->pos = 0;
    g->depth = 0;
    g->lv[0].end = body;
    g->lv[0].fields = 0;
    g->lv[0].kind = WIRE__FRAME;
    g->step = WIRE__TAG;
    g->acc = 0;
    g->shift = 0;
    g->ops = 0;
    return 0;
}

bool repl_wire_guard_idle(const repl_wire_guard_t *g)
{
    return g->err == 0 && g->hdr_have == 0;
}

int repl_wire_guard_feed(repl_wire_guard_t *g, const uint8_t *data, size_t len)
{
    if (g->err)
        return g->err;
    for (;;) {
        int rc = 0;
        if (g->hdr_have < FRAME_PREFIX_BYTES) {
            if (len == 0)
                return 0;
            if ((rc = wire__guard_prefix(g, &data, &len)) != 0)
                return wire__guard_fail(g, rc);
            continue;
        }
        /* Close the messages that end here; the frame when it is whole. */
        while (g->pos == g->lv[g->depth].end) {
            if (g->step != WIRE__TAG || g->shift != 0)
                return wire__guard_fail(g, KV_ECORRUPT); /* a field cut by its end */
            if (g->depth == 0)
                break;
            g->depth--;
        }
        if (g->depth == 0 && g->pos == g->lv[0].end) {
            g->hdr_have = 0;
            continue;
        }
        if (len == 0)
            return 0;
        if (g->step == WIRE__SKIP) {
            /* Within bounds: the length was checked against its message. */
            size_t n = g->skip < len ? (size_t)g->skip : len;
            data += n, len -= n;
            g->pos += n;
            g->skip -= n;
            if (g->skip == 0)
                g->step = WIRE__TAG;
            continue;
        }
        /* Varint bytes, up to the end of the input or of the innermost
         * message (a varint cut there is caught above), in locals: stores
         * through g may alias the input's bytes, which kept every step in
         * memory when this went one byte per turn of the outer loop. */
        uint64_t acc = g->acc;
        unsigned shift = g->shift;
        size_t room = g->lv[g->depth].end - g->pos;
        size_t avail = len < room ? len : room, k = 0;
        bool more = true;
        while (k < avail) {
            uint8_t b = data[k++];
            if (shift >= 64) {
                g->pos += k;
                return wire__guard_fail(g, KV_ECORRUPT); /* over 10 bytes */
            }
            acc |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80)) {
                more = false;
                break;
            }
        }
        data += k;
        len -= k;
        g->pos += k;
        if (more) {
            g->acc = acc;
            g->shift = shift;
            continue;
        }
        uint64_t v = acc;
        g->acc = 0;
        g->shift = 0;
        if (g->step == WIRE__TAG)
            rc = wire__guard_tag(g, v);
        else if (g->step == WIRE__LEN)
            rc = wire__guard_len(g, v);
        else
            g->step = WIRE__TAG; /* a varint value */
        if (rc != 0)
            return wire__guard_fail(g, rc);
    }
}
