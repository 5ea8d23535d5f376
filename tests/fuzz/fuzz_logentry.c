/*
 * fuzz_logentry.c - libFuzzer harness of the stored form of a log entry
 * (replication/wire.c: repl_mutation_decode, what the origin reads back
 * from its RocksDB log) and of a stored record (storage/record.c:
 * stor_record_decode, what every read decodes). Properties: an entry that
 * decodes passes repl_op_check and round-trips through
 * repl_mutation_encode; repl_mutation_peek (what a log read takes of an
 * entry it passes on as it is) never reads past the entry and, on every
 * entry that decodes, reads the same seq, version and term; a record that
 * decodes points inside the buffer and re-encodes to the same header.
 */
#include "fuzz_repl.h"
#include "kv_mem.h"
#include "record.h"
#include "wire.h"

static void logentry(const uint8_t *data, size_t size)
{
    repl_mutation_t *m, *back, peek;
    int peek_rc = repl_mutation_peek(data, size, &peek);
    if (repl_mutation_decode(data, size, &m) != 0)
        return;
    FZ_CHECK(peek_rc == 0 && peek.enc_len == size && peek.op.kind == REPL_OP_NOOP);
    FZ_CHECK(peek.seq == m->seq && peek.term == m->term && peek.version.hlc == m->version.hlc &&
             peek.version.node_id == m->version.node_id);
    FZ_CHECK(repl_op_check(&m->op) == 0);
    size_t need = repl_mutation_encoded_size(m), len;
    uint8_t *buf = kv_malloc(need ? need : 1);
    FZ_CHECK(buf != NULL);
    FZ_CHECK(repl_mutation_encode(m, buf, need, &len) == 0 && len == need);
    FZ_CHECK(repl_mutation_decode(buf, len, &back) == 0);
    same_mut(m, back);
    repl_mutation_free(back);
    repl_mutation_free(m);
    kv_free(buf);
}

static void record(const uint8_t *data, size_t size)
{
    stor_record_t r;
    uint8_t hdr[STOR_RECORD_HEADER_BYTES];
    if (stor_record_decode(data, size, &r) != 0)
        return;
    const uint8_t *end = data + size;
    FZ_CHECK(size >= STOR_RECORD_HEADER_BYTES);
    FZ_CHECK(r.metadata_len == 0 || ((const uint8_t *)r.metadata >= data &&
                                     (const uint8_t *)r.metadata + r.metadata_len <= end));
    FZ_CHECK(r.value_len == 0 || (r.value >= data && r.value + r.value_len <= end));
    FZ_CHECK(STOR_RECORD_HEADER_BYTES + r.metadata_len + r.value_len <= size);
    stor_record_encode_header(&r, hdr);
    stor_record_t again;
    uint8_t *copy = kv_malloc(size);
    FZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    memcpy(copy, hdr, STOR_RECORD_HEADER_BYTES);
    FZ_CHECK(stor_record_decode(copy, size, &again) == 0);
    FZ_CHECK(again.version.hlc == r.version.hlc && again.version.node_id == r.version.node_id &&
             again.expiration == r.expiration && again.tombstone == r.tombstone &&
             again.metadata_len == r.metadata_len && again.value_len == r.value_len);
    (void)stor_record_hidden(&r, (int64_t)size);
    kv_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    logentry(data, size);
    record(data, size);
    return 0;
}
