/*
 * wire.h - repl_op_t / repl_mutation_t <-> the protobuf messages of
 * proto/edgekv.proto, the stored form of one log entry, the snapshot
 * frames a driver streams, and the guard the origin runs over an edge's
 * bytes before any of them is decoded.
 *
 * Views, not copies: a protobuf message built from a repl_ type points at
 * the repl_ type's bytes, and a repl_ type read from a decoded message points
 * into the message. The only copy of a value is the one protobuf-c makes
 * when it packs (into the frame buffer) or unpacks (out of it).
 *
 * Not a protocol state machine (the guard only follows the wire format)
 * and not I/O: the origin and edge cores and the drivers (node/ stores log
 * entries in RocksDB with repl_mutation_encode) all use it.
 */
#ifndef REPL_WIRE_H
#define REPL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "edgekv.pb-c.h"
#include "frame.h"
#include "repl.h"

/* Check one op against the KV limits and its kind's required fields:
 * 0, KV_EINVAL (unknown kind, ns id not 32 lowercase hex, empty key, missing
 * account/title) or KV_ETOOBIG (key, value, metadata, account or title over
 * its limit). NOOP always passes. */
int repl_op_check(const repl_op_t *op);

/* A protobuf view of a mutation: three messages wired together. */
typedef struct {
    Edgekv__Mutation mut;
    Edgekv__Version version;
    Edgekv__Op op;
} repl_wire_mut_t;

/* Fill pb (initialised here) so it describes op; pb borrows op's bytes and
 * stays valid as long as op does. */
void repl_wire_op_view(const repl_op_t *op, Edgekv__Op *pb);
void repl_wire_mut_view(const repl_mutation_t *m, repl_wire_mut_t *w);

/* Read a decoded message into a repl_ type that borrows pb's bytes (valid
 * while pb lives). Runs repl_op_check: KV_EINVAL/KV_ETOOBIG; KV_ECORRUPT for
 * a mutation without version or op. */
int repl_wire_op_from_pb(const Edgekv__Op *pb, repl_op_t *out);
int repl_wire_mut_from_pb(const Edgekv__Mutation *pb, repl_mutation_t *out);

/* The stored form of a log entry: one protobuf Mutation, no length prefix. */
size_t repl_mutation_encoded_size(const repl_mutation_t *m);
/* Encode into buf (cap >= repl_mutation_encoded_size(m)); *len = bytes
 * written. KV_ETOOBIG when cap is short. */
int repl_mutation_encode(const repl_mutation_t *m, uint8_t *buf, size_t cap, size_t *len);
/* The same into buf, which holds repl_mutation_encoded_size(m) bytes the
 * caller already computed (no second size walk); returns the bytes written. */
size_t repl_mutation_pack(const repl_mutation_t *m, uint8_t *buf);
/* Decode a stored entry. Copying: *out does not borrow buf (protobuf-c's
 * unpack copies the bytes once and *out points into that copy). Free with
 * repl_mutation_free(). KV_ECORRUPT, KV_EINVAL/KV_ETOOBIG (fails the check),
 * -ENOMEM. */
int repl_mutation_decode(const uint8_t *buf, size_t len, repl_mutation_t **out);
void repl_mutation_free(repl_mutation_t *m);
/* The same decode into *out, with every allocation from the arena (none of
 * its own): *out borrows the arena's copy of the bytes, valid until
 * frame_arena_free(). For decoding many entries at once (log reads): no
 * malloc or free per entry or field. Same errors; -ENOMEM when the arena
 * ran out of memory. */
int repl_mutation_decode_in(frame_arena_t *arena, const uint8_t *buf, size_t len,
                            repl_mutation_t *out);

/* A stored entry's place in history without decoding its op: *out gets
 * seq, version and term, enc/enc_len = buf/len (borrowed: valid while buf
 * is) and an empty op (NOOP), for repl_origin_log_read to pass the bytes
 * on as they are. It follows the protobuf wire format of Mutation's own
 * fields only (the op is a length-delimited field, skipped): the op is
 * checked where it is decoded, by the edge (repl_wire_mut_from_pb).
 * KV_ECORRUPT: not that wire format, a field of the wrong wire type, no
 * version or no op. */
int repl_mutation_peek(const uint8_t *buf, size_t len, repl_mutation_t *out);

/* Rough wire cost of a mutation (payload plus a fixed overhead), used for
 * the soft batch and buffer caps. */
size_t repl_mutation_cost(const repl_mutation_t *m);

/* ---- the origin's guard on what an edge sends --------------------------------
 *
 * protobuf-c decodes a whole message at once and allocates for every field:
 * 26 MiB of empty ops would become ~1.8 GB of structs before anyone could
 * count them. The origin therefore runs every byte an edge sends through
 * this guard before the frame reader decodes it. The guard follows the
 * framing and the protobuf wire format (tags and lengths; payloads are
 * skipped, never copied or kept), descends into the messages an edge may
 * send (Hello, Refuse, WriteRequest and its Ops, ProgressAck) and counts.
 * It is fed the stream in chunks of any size and refuses as soon as the
 * bytes seen prove the frame bad, so nothing over a limit is ever decoded
 * or even buffered whole. */
typedef struct {
    uint8_t hdr[4];
    size_t hdr_have; /* prefix bytes of the current frame, 0..4 */
    uint64_t pos;    /* body bytes of the current frame consumed */
    int depth;       /* index of the innermost open message in lv */
    struct {
        uint64_t end;    /* body offset where this message ends */
        uint32_t fields; /* fields seen in it (a WriteRequest's ops aside) */
        uint8_t kind;    /* which message (wire.c) */
    } lv[3];
    uint8_t step;   /* what the next byte belongs to (wire.c) */
    uint32_t field; /* the field whose length or value is being read */
    uint8_t wire_type;
    uint64_t acc; /* varint being read */
    unsigned shift;
    uint64_t skip; /* payload bytes still to skip */
    size_t ops;    /* ops in the current frame, over all its WriteRequests */
    int err;       /* sticky */
} repl_wire_guard_t;

void repl_wire_guard_init(repl_wire_guard_t *g);
/* Feed the next bytes of the stream. 0 while everything seen is within the
 * rules; else (sticky) KV_ETOOBIG (a frame over KV_FRAME_MAX_BYTES),
 * KV_ELIMIT (over KV_REPL_WRITE_MAX_OPS ops, or over KV_REPL_WIRE_FIELDS_MAX
 * fields in one message), KV_EINVAL (a frame kind an edge never sends, or an
 * unknown one) or KV_ECORRUPT (not the protobuf wire format: a length past
 * its message, a varint over 10 bytes, a group, field number 0). */
int repl_wire_guard_feed(repl_wire_guard_t *g, const uint8_t *data, size_t len);
/* true when g has seen only whole frames (none started) and no error: a
 * whole frame that follows may skip it when it is one the guard lets pass
 * (the origin's ack fast path, repl__ack_parse). */
bool repl_wire_guard_idle(const repl_wire_guard_t *g);

/* Snapshot frames for the driver's stream (REPL_ACT_SNAPSHOT). Each returns
 * one whole frame (prefix included) in a new kv_malloc()'d buffer the
 * caller frees with kv_free(). Keep a chunk under KV_REPL_BATCH_MAX_BYTES
 * of repl_mutation_cost (one bigger record may go alone); KV_ETOOBIG past
 * KV_FRAME_MAX_BYTES, -ENOMEM. Snapshot mutations carry seq 0: records as
 * PUT (or DELETE for a tombstone), namespaces as NS_CREATE (NS_DELETE when
 * deleted), each with its stored version. */
int repl_wire_snapshot_chunk(const repl_mutation_t *muts, size_t n, uint8_t **out, size_t *len);
/* SnapshotEnd: the snapshot holds history_id up to seq, whose log entry has
 * `version` (the edge's resume proof; zero: unknown, or seq 0). */
int repl_wire_snapshot_end(uint64_t seq, kv_version_t version, const char *history_id,
                           uint8_t **out, size_t *len);

#endif
