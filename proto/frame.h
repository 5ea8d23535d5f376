/*
 * frame.h - the framing of the replication link: a 4-byte big-endian body
 * length, then one protobuf-encoded edgekv.Frame of that many bytes.
 *
 * Encoding packs a Frame straight into one buffer of its final size (prefix
 * included), so a 25 MiB value is copied once, from the message into the
 * wire buffer. Decoding goes through frame_reader_t, an incremental reader
 * that is fed whatever the socket delivered and hands back whole frames. It
 * checks the announced length against its limit before allocating anything,
 * grows its buffer to that length once (not per chunk), and decodes a frame
 * that arrived whole in one chunk straight from the caller's bytes, with no
 * copy into its own buffer. protobuf-c copies bytes fields while unpacking;
 * that copy is the one the decoded Frame owns. A decoded Frame's memory is
 * one arena (frame.c): its many small parts are bumped out of a few chunks
 * and freed together.
 *
 * This is not a transport: no sockets, no TLS, no retries. All memory comes
 * from kv_mem (protobuf-c is given a kv_mem allocator too), so tests can fail
 * any allocation.
 */
#ifndef PROTO_FRAME_H
#define PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgekv.pb-c.h"
#include "kv_limits.h"

#define FRAME_PREFIX_BYTES 4

/* protobuf-c allocator backed by kv_malloc/kv_free. Static; never NULL. */
ProtobufCAllocator *frame_pb_allocator(void);

/* Size of f once framed (prefix + body) into *out. KV_ETOOBIG when the body
 * would exceed KV_FRAME_MAX_BYTES. */
int frame_size(const Edgekv__Frame *f, size_t *out);

/* Pack f into buf, which holds exactly `size` bytes as frame_size() said. */
void frame_pack(const Edgekv__Frame *f, uint8_t *buf, size_t size);

/* Frame f into a new kv_malloc()'d buffer (*out, *out_len); the caller
 * frees it with kv_free(). KV_ETOOBIG, -ENOMEM. */
int frame_encode(const Edgekv__Frame *f, uint8_t **out, size_t *out_len);

/* Decode one frame body (no prefix). *out is freed with frame_free(), and
 * only with it: its parts are not separately allocated. KV_ECORRUPT when the
 * bytes are not a Frame, -ENOMEM when memory ran out. A decoded Frame is
 * never written to after decoding (it may be shared: frame_share_install). */
int frame_decode(const uint8_t *body, size_t len, Edgekv__Frame **out);
void frame_free(Edgekv__Frame *f);

/* Shared decodes, for one process that hands the same frame bytes to many
 * readers: edgekv-sim delivers every pushed batch to each of its hundreds of
 * edges, which all decoded the same bytes into the same Frame (protobuf-c
 * decode, allocation and free were ~15 % of world300_push). Once installed,
 * a reader that opted in (frame_reader_share: the edge core's) decodes a
 * MutationBatch or SnapshotChunk body of at least FRAME_SHARE_MIN_BYTES
 * once: the table keeps the Frame with a copy of its bytes, and a later body
 * equal byte for byte (compared in full) gets that Frame again, counted, and
 * each holder frees it with frame_free() as before. Decoding is a function
 * of the bytes alone and no reader writes to a decoded Frame, so a reader
 * cannot tell. The table is direct-mapped (slots, a power of two): a
 * collision replaces the older entry, and its holders keep it.
 *
 * Not thread-safe, and off unless installed: the node never installs it
 * (its readers run on several threads, and no two of its readers see the
 * same bytes). slots 0 uninstalls and drops the table's references.
 * -ENOMEM. frame_share_hits: bodies served from the table so far. */
#define FRAME_SHARE_MIN_BYTES 64
int frame_share_install(size_t slots);
uint64_t frame_share_hits(void);

/* An arena for decoding many protobuf messages at once (the origin's log
 * reads: thousands of stored mutations per read): protobuf-c's many small
 * allocations are bumped out of a few chunks and freed together by
 * frame_arena_free(), with no malloc or free per field. The same chunks as
 * a decoded Frame's (under ASan every allocation gets its own chunk, so
 * overruns are caught). One thread at a time. */
typedef struct frame_arena frame_arena_t;

/* A new arena whose first chunk holds first_bytes (later chunks double up
 * to 256 KiB; a larger allocation gets a chunk of its own). NULL when
 * memory ran out. */
frame_arena_t *frame_arena_new(size_t first_bytes);
/* The arena's protobuf-c allocator: its free() does nothing. Borrowed: valid
 * until frame_arena_free(a), which frees every message unpacked with it. */
ProtobufCAllocator *frame_arena_pb(frame_arena_t *a);
/* Bytes of the chunks the arena holds (tests, limits). */
size_t frame_arena_bytes(const frame_arena_t *a);
/* Whether an allocation from it failed (an unpack that returned NULL ran
 * out of memory rather than met corrupt bytes). */
bool frame_arena_failed(const frame_arena_t *a);
/* NULL is a no-op. */
void frame_arena_free(frame_arena_t *a);

/* Big-endian length prefix helpers. */
void frame_put_len(uint8_t *p, uint32_t len);
uint32_t frame_get_len(const uint8_t *p);

typedef struct {
    size_t max_bytes; /* largest body accepted */
    uint8_t hdr[FRAME_PREFIX_BYTES];
    size_t hdr_have;  /* prefix bytes received, 0..4 */
    size_t body_len;  /* announced body length (hdr_have == 4) */
    size_t body_have; /* body bytes buffered in buf */
    uint8_t *buf;     /* kv_malloc'd; body being assembled */
    size_t buf_cap;
    size_t last_frame_bytes; /* prefix + body of the frame last returned */
    int err;                 /* sticky: once set, every call returns it */
    bool share;              /* decode through the shared table (frame_reader_share) */
} frame_reader_t;

/* max_bytes: the largest body accepted (normally KV_FRAME_MAX_BYTES). */
void frame_reader_init(frame_reader_t *r, size_t max_bytes);
void frame_reader_free(frame_reader_t *r);
/* Let this reader's frames come from the shared table when one is installed
 * (frame_share_install; a no-op otherwise). Off after frame_reader_init. */
void frame_reader_share(frame_reader_t *r, bool on);

/* Consume bytes from (*data, *len), advancing both, until one frame is
 * complete or the input is used up. Returns 1 with *out set (free it with
 * frame_free()) when a frame completed; the rest of the input is still in
 * (*data, *len). Returns 0 when all input was consumed without completing a
 * frame. Returns KV_ETOOBIG (announced length over the limit), KV_ECORRUPT
 * (undecodable body) or -ENOMEM; the error is sticky: the stream cannot be
 * resynchronised and the caller must drop the connection. */
int frame_reader_next(frame_reader_t *r, const uint8_t **data, size_t *len, Edgekv__Frame **out);

/* true when r holds no part of a frame and no error: the next bytes start a
 * frame. A caller that decodes such a whole frame itself (the origin's ack
 * fast path) tells the reader with frame_reader_passed(r, its prefix and
 * body bytes), which leaves r as frame_reader_next would have. */
bool frame_reader_idle(const frame_reader_t *r);
void frame_reader_passed(frame_reader_t *r, size_t frame_bytes);

#endif
