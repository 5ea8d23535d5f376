/*
 * wire.c - conversions between repl_ types and protobuf messages (wire.h),
 * and the batch and snapshot frame builders.
 *
 * Every conversion is a view: pointers go one way or the other, bytes are
 * never copied here. Everything read off the wire passes repl_op_check()
 * before the cores see it, so a peer cannot smuggle in a 1 GiB key.
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

int repl_mutation_encode(const repl_mutation_t *m, uint8_t *buf, size_t cap, size_t *len)
{
    repl_wire_mut_t w;
    repl_wire_mut_view(m, &w);
    size_t need = edgekv__mutation__get_packed_size(&w.mut);
    if (need > cap)
        return KV_ETOOBIG;
    *len = edgekv__mutation__pack(&w.mut, buf);
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

void repl_mutation_free(repl_mutation_t *m)
{
    if (!m)
        return;
    wire__decoded_t *d = (wire__decoded_t *)m;
    edgekv__mutation__free_unpacked(d->pb, frame_pb_allocator());
    kv_free(d);
}

size_t repl_mutation_cost(const repl_mutation_t *m)
{
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
                          size_t n, uint64_t origin_seq, uint64_t time_ms)
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

int repl__muts_frame(bool chunk, repl__mut_at_fn at, const void *ctx, size_t n, uint64_t origin_seq,
                     uint64_t time_ms, repl_buf_t **out)
{
    wire__muts_msg_t w;
    int rc = wire__muts_msg(&w, chunk, at, ctx, n, origin_seq, time_ms);
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
                            uint64_t time_ms, repl_buf_t **out)
{
    return repl__muts_frame(false, wire__array_at, muts, n, origin_seq, time_ms, out);
}

int repl_wire_snapshot_chunk(const repl_mutation_t *muts, size_t n, uint8_t **out, size_t *len)
{
    wire__muts_msg_t w;
    int rc = wire__muts_msg(&w, true, wire__array_at, muts, n, 0, 0);
    if (rc != 0)
        return rc;
    rc = frame_encode(&w.frame, out, len);
    wire__muts_msg_fini(&w);
    return rc;
}

int repl_wire_snapshot_end(uint64_t seq, const char *history_id, uint8_t **out, size_t *len)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__SnapshotEnd end = EDGEKV__SNAPSHOT_END__INIT;
    end.seq = seq;
    end.history_id = (char *)history_id;
    f.msg_case = EDGEKV__FRAME__MSG_SNAPSHOT_END;
    f.snapshot_end = &end;
    return frame_encode(&f, out, len);
}
