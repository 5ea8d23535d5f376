/*
 * repl_int.h - what the origin and edge state machines share privately:
 * reference-counted send buffers, the action output (caller's array plus an
 * overflow queue), payload holds for mutations, a seeded PRNG, and the
 * batch-frame builder. Not for drivers: they see repl.h and wire.h only.
 */
#ifndef REPL_INT_H
#define REPL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgekv.pb-c.h"
#include "frame.h"
#include "kv_assert.h"
#include "repl.h"
#include "wire.h"

/* Bookkeeping allocations abort when they fail (see repl.h "Allocation"). */
#define REPL__NOMEM(p) KV_ASSERT((p) != NULL && "replication bookkeeping out of memory")

/* ---- send buffers ------------------------------------------------------------- */

struct repl_buf {
    unsigned refs; /* owners: queued or handed-out SEND actions, caches */
    size_t len;
    uint8_t data[];
};

/* Frame f into a new buffer holding one reference. KV_ETOOBIG, -ENOMEM. */
int repl__buf_frame(const Edgekv__Frame *f, repl_buf_t **out);

/* ---- action output ------------------------------------------------------------ */

typedef struct {
    repl_action_t act;
    void *own; /* kv_malloc'd memory the action points into, or NULL */
} repl__qact_t;

typedef struct {
    repl__qact_t *q; /* overflow ring: actions the caller's array had no room for */
    size_t head, n, cap;
    void **handed; /* `own` of actions handed out; freed at the next call */
    size_t handed_n, handed_cap;
    repl_buf_t **hbufs; /* buffers of SENDs handed out; unref'd at the next call */
    size_t hbufs_n, hbufs_cap;
} repl__out_t;

/* Every public entry point calls this first: frees what the actions handed
 * out by the previous call pointed into. */
void repl__out_begin(repl__out_t *o);
/* Append act (taking `own`, and a SEND's buffer reference) to the caller's
 * array, or to the overflow queue when the array is full or the queue is
 * not empty (actions keep their order). */
void repl__out_emit(repl__out_t *o, repl_actions_t *a, const repl_action_t *act, void *own);
void repl__out_poll(repl__out_t *o, repl_actions_t *a);
void repl__out_free(repl__out_t *o);

/* Emit a SEND of b (takes the caller's reference). */
void repl__emit_send(repl__out_t *o, repl_actions_t *a, repl_peer_t p, repl_buf_t *b);
/* Encode f and SEND it; *bytes (may be NULL) gets the frame size. */
int repl__send_frame(repl__out_t *o, repl_actions_t *a, repl_peer_t p, const Edgekv__Frame *f,
                     size_t *bytes);
void repl__emit_close(repl__out_t *o, repl_actions_t *a, repl_peer_t p, const char *reason);
void repl__emit_alarm(repl__out_t *o, repl_actions_t *a, const char *reason);

/* A Refuse frame f saying `reason` (static), its message in *r. */
static inline void repl__refuse_frame(Edgekv__Frame *f, Edgekv__Refuse *r, const char *reason)
{
    edgekv__frame__init(f);
    edgekv__refuse__init(r);
    r->reason = (char *)reason;
    f->msg_case = EDGEKV__FRAME__MSG_REFUSE;
    f->refuse = r;
}

/* Protocol versions on the wire (repl.h): protocol 1 is sent as an absent
 * field, and an absent field is read as 1. */
static inline uint32_t repl__protocol_wire(uint32_t p)
{
    return p > 1 ? p : 0;
}
static inline uint32_t repl__protocol_of(uint32_t wire)
{
    return wire ? wire : 1;
}
/* A peer's build name into dst (KV_REPL_SOFTWARE_MAX + 1 bytes): cut to
 * the limit, any byte but [0-9A-Za-z.+_~-] replaced by '?', "" for NULL. */
void repl__software_copy(char *dst, const char *src);

/* A config's protocol fields with their defaults filled in; false when the
 * window is empty. */
static inline bool repl__protocol_config(uint32_t *protocol, uint32_t *protocol_min)
{
    if (*protocol == 0)
        *protocol = KV_REPL_PROTOCOL;
    if (*protocol_min == 0)
        *protocol_min = KV_REPL_PROTOCOL_MIN;
    return *protocol_min <= *protocol;
}
/* WRITE_DONE with a copy of results[0..n) (results may be NULL: n zeros). */
void repl__emit_write_done(repl__out_t *o, repl_actions_t *a, uint64_t token, int status,
                           uint64_t seq, const int *results, size_t n);

/* ---- payload holds ------------------------------------------------------------ */

/* Owns the bytes that mutations point at: either one block holding copies
 * (local writes) or a decoded Frame (writes and batches off the wire).
 * Reference-counted because the mutations of one write outlive it one by
 * one in the origin's tail. */
typedef struct {
    unsigned refs;
    size_t bytes;         /* payload size, for caps */
    Edgekv__Frame *frame; /* owned, or NULL: the copies follow the struct */
} repl__hold_t;

/* Copy the payloads of ops[0..n) into one new hold; out[i].op = ops[i]
 * (the fields its kind uses) with pointers into the hold. NULL when memory
 * ran out. */
repl__hold_t *repl__hold_copy(const repl_op_t *ops, size_t n, repl_mutation_t *out);
/* Take ownership of a decoded frame. NULL (and the frame freed) on ENOMEM. */
repl__hold_t *repl__hold_frame(Edgekv__Frame *f, size_t bytes);
/* A hold of n bytes of the caller's (*data, following the struct). NULL
 * when memory ran out. */
repl__hold_t *repl__hold_bytes(size_t n, uint8_t **data);
repl__hold_t *repl__hold_ref(repl__hold_t *h);
void repl__hold_unref(repl__hold_t *h);

/* ---- batch frames ------------------------------------------------------------- */

/* Mutation i of a sequence the frame builder reads. */
typedef const repl_mutation_t *(*repl__mut_at_fn)(const void *ctx, size_t i);

/* Frame muts [0..n) as a MutationBatch (chunk = false, with origin_seq,
 * time_ms, the sender's term and, to a standby, acked_seq) or a
 * SnapshotChunk, into a new buffer (one reference). */
int repl__muts_frame(bool chunk, repl__mut_at_fn at, const void *ctx, size_t n, uint64_t origin_seq,
                     uint64_t time_ms, uint64_t term, uint64_t acked_seq, repl_buf_t **out);

/* The same for a MutationBatch of an array. */
int repl__batch_frame_array(const repl_mutation_t *muts, size_t n, uint64_t origin_seq,
                            uint64_t time_ms, uint64_t term, uint64_t acked_seq, repl_buf_t **out);

/* An edge's ProgressAck frame (applied_seq, a probe sent at sent_ms), into a
 * new buffer (one reference): the same bytes protobuf-c packs for that
 * Frame (test_wire checks), written directly. An edge acks every batch it
 * applies, and protobuf-c's packed-size walk and pack of this three-field
 * frame were ~5 % of world300_push. -ENOMEM. */
int repl__ack_frame(uint64_t applied_seq, uint64_t sent_ms, repl_buf_t **out);
/* The inverse, for the origin's fast path: true when (p, len) is exactly
 * one whole ack frame in the form repl__ack_frame writes (shortest varints,
 * no other field, the probe present), with its applied_seq and probe
 * sent_ms, which are what frame_decode would give. false for anything
 * else, which then takes the guard and the reader as before. */
bool repl__ack_parse(const uint8_t *p, size_t len, uint64_t *applied_seq, uint64_t *sent_ms);

/* ---- misc --------------------------------------------------------------------- */

/* splitmix64: a small, deterministic PRNG for backoff jitter. */
uint64_t repl__rand(uint64_t *state);

static inline uint64_t repl__min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static inline uint64_t repl__max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static inline uint64_t repl__add_sat(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* Slot i after head of a ring of cap slots (head < cap, i <= cap): a
 * subtraction, not a division. The edge's apply queue and the origin's tail
 * are read this way several times per frame; a 64-bit modulo there was most
 * of q_next's time in the simulator's profile. */
static inline size_t repl__ring(size_t head, size_t i, size_t cap)
{
    size_t j = head + i;
    return j >= cap ? j - cap : j;
}

#endif
