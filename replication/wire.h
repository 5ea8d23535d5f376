/*
 * wire.h - repl_op_t / repl_mutation_t <-> the protobuf messages of
 * proto/edgekv.proto, the stored form of one log entry, and the snapshot
 * frames a driver streams.
 *
 * Views, not copies: a protobuf message built from a repl_ type points at
 * the repl_ type's bytes, and a repl_ type read from a decoded message points
 * into the message. The only copy of a value is the one protobuf-c makes
 * when it packs (into the frame buffer) or unpacks (out of it).
 *
 * Not a state machine and not I/O: the origin and edge cores and the
 * drivers (node/ stores log entries in RocksDB with repl_mutation_encode)
 * all use it.
 */
#ifndef REPL_WIRE_H
#define REPL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "edgekv.pb-c.h"
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
/* Decode a stored entry. Copying: *out does not borrow buf (protobuf-c's
 * unpack copies the bytes once and *out points into that copy). Free with
 * repl_mutation_free(). KV_ECORRUPT, KV_EINVAL/KV_ETOOBIG (fails the check),
 * -ENOMEM. */
int repl_mutation_decode(const uint8_t *buf, size_t len, repl_mutation_t **out);
void repl_mutation_free(repl_mutation_t *m);

/* Rough wire cost of a mutation (payload plus a fixed overhead), used for
 * the soft batch and buffer caps. */
size_t repl_mutation_cost(const repl_mutation_t *m);

/* Snapshot frames for the driver's stream (REPL_ACT_SNAPSHOT). Each returns
 * one whole frame (prefix included) in a new kv_malloc()'d buffer the
 * caller frees with kv_free(). Keep a chunk under KV_REPL_BATCH_MAX_BYTES
 * of repl_mutation_cost (one bigger record may go alone); KV_ETOOBIG past
 * KV_FRAME_MAX_BYTES, -ENOMEM. Snapshot mutations carry seq 0: records as
 * PUT (or DELETE for a tombstone), namespaces as NS_CREATE (NS_DELETE when
 * deleted), each with its stored version. */
int repl_wire_snapshot_chunk(const repl_mutation_t *muts, size_t n, uint8_t **out, size_t *len);
int repl_wire_snapshot_end(uint64_t seq, const char *history_id, uint8_t **out, size_t *len);

#endif
