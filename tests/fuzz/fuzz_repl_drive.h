/*
 * fuzz_repl_drive.h - the small driver the origin and edge harnesses share
 * (fuzz_origin.c, fuzz_edge.c): it carries out a core's actions the way
 * node/replica does, minus I/O, and turns the fuzzer's input into a
 * program of events.
 *
 * Storage completions are queued (todo_t) and run after the action array
 * is consumed, never while a core call's actions are still being read
 * (repl.h: pointers in actions live until the next call into the core).
 * In "deferred" mode they wait for an explicit command, so a fuzzed peer
 * races its frames against storage.
 *
 * Every frame a core SENDs is decoded again: a core never sends bytes its
 * peer cannot read.
 *
 * The event program, one command per step (command byte c, c % 8):
 *   0  raw bytes: n = next byte, the next n input bytes as they are
 *   1  a frame: n = next 2 bytes (LE), the next n bytes as its body, with
 *      a correct length prefix, in one call
 *   2  the same, delivered in two calls split at (c >> 3) bytes
 *   3  time passes: (next byte) * 50 ms, then tick
 *   4  run queued storage completions
 *   5  a local write: kind, key and value bytes from the input
 *   6  the link drops (and, at the origin, a new one says Hello)
 *   7  toggle deferred storage; c >> 3 == 31 fails the next commit
 */
#ifndef FUZZ_REPL_DRIVE_H
#define FUZZ_REPL_DRIVE_H

#include "frame.h"
#include "fuzz_util.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl.h"
#include "wire.h"

/* The cores' wall clock (repl_wall_fn, replication/repl.h): the harness's
 * virtual now_ms, so that a run reproduces from its input. */
static inline uint64_t fz_wall(void *ctx, uint64_t now_ms)
{
    (void)ctx;
    return now_ms;
}

#define FZ_ACTS    16   /* small: the cores' queueing (poll) is exercised too */
#define FZ_TODO    4096 /* queued completions */
#define FZ_MAXSTEP 20000
#define FZ_HIST    "0123456789abcdef0123456789abcdef"
#define FZ_NS      "00112233445566778899aabbccddeeff"

typedef enum {
    TODO_PERSIST,
    TODO_READ_LOG,
    TODO_SNAPSHOT,
    TODO_RESET,
    TODO_APPLY,
    TODO_CONNECT
} todo_kind_t;

typedef struct {
    todo_kind_t kind;
    repl_peer_t peer;
    uint64_t a; /* batch id, from_seq, min_seq, seq */
    size_t n;   /* PERSIST: op count */
} todo_t;

typedef struct {
    todo_t q[FZ_TODO];
    size_t head, n;
    bool deferred;
    bool fail_next;
} todos_t;

static inline void todo_push(todos_t *t, todo_t td)
{
    FZ_CHECK(t->n < FZ_TODO);
    t->q[(t->head + t->n++) % FZ_TODO] = td;
}

static inline bool todo_pop(todos_t *t, todo_t *out)
{
    if (t->n == 0)
        return false;
    *out = t->q[t->head];
    t->head = (t->head + 1) % FZ_TODO;
    t->n--;
    return true;
}

/* Every byte a core sends parses as whole, valid frames. */
static inline void fz_check_sent(const uint8_t *data, size_t len)
{
    frame_reader_t r;
    Edgekv__Frame *f;
    int rc;
    frame_reader_init(&r, KV_FRAME_MAX_BYTES);
    while ((rc = frame_reader_next(&r, &data, &len, &f)) == 1) {
        FZ_CHECK(f->msg_case != EDGEKV__FRAME__MSG__NOT_SET);
        frame_free(f);
    }
    FZ_CHECK(rc == 0 && r.hdr_have == 0);
    frame_reader_free(&r);
}

/* A framed copy of body (kv_free it). */
static inline uint8_t *fz_framed(const uint8_t *body, size_t n)
{
    uint8_t *b = kv_malloc(n + FRAME_PREFIX_BYTES);
    FZ_CHECK(b != NULL);
    frame_put_len(b, (uint32_t)n);
    if (n)
        memcpy(b + FRAME_PREFIX_BYTES, body, n);
    return b;
}

/* Steps 0-2 of both state-machine harnesses, chosen by c % 8: raw bytes
 * (0), or a framed body fed whole (1) or split at c >> 3 (2), each given
 * to feed. Returns false for another step. */
static inline bool fz_feed_step(fz_in_t *in, uint8_t c,
                                void (*feed)(const uint8_t *b, size_t n, repl_actions_t *a),
                                repl_actions_t *a)
{
    const uint8_t *b;
    size_t n;
    if (c % 8 == 0) {
        n = fz_bytes(in, fz_u8(in), &b);
        feed(b, n, a);
        return true;
    }
    if (c % 8 != 1 && c % 8 != 2)
        return false;
    n = fz_bytes(in, fz_u16(in), &b);
    uint8_t *fr = fz_framed(b, n);
    size_t whole = n + FRAME_PREFIX_BYTES;
    size_t split = c % 8 == 2 ? (size_t)(c >> 3) : whole;
    if (split > whole)
        split = whole;
    feed(fr, split, a);
    feed(fr + split, whole - split, a);
    kv_free(fr);
    return true;
}

/* A frame built here (kv_free it). */
static inline uint8_t *fz_encode(const Edgekv__Frame *f, size_t *len)
{
    uint8_t *b;
    FZ_CHECK(frame_encode(f, &b, len) == 0);
    return b;
}

/* A local write's op from the input; key and value borrow from it. */
static inline void fz_op(fz_in_t *in, repl_op_t *op)
{
    memset(op, 0, sizeof *op);
    uint8_t k = fz_u8(in);
    op->kind = (repl_op_kind_t)(k % 8);
    memcpy(op->ns_id, (k & 0x80) ? REPL_TOKEN_NS_ID : FZ_NS, KV_NS_ID_LEN + 1);
    const uint8_t *b;
    op->key_len = fz_bytes(in, fz_u8(in) % 16, &b);
    op->key = (const char *)b;
    op->value_len = fz_bytes(in, fz_u8(in) % 64, &b);
    op->value = b;
    op->expiration = (int64_t)fz_u8(in);
    op->account = "acct";
    op->title = (k & 0x40) ? "title-b" : "title-a";
}

#endif
