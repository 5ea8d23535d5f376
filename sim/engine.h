/*
 * engine.h - the discrete-event core: a virtual clock in nanoseconds, a
 * priority queue of events, the trace hash and the flight recorder.
 *
 * Events are ordered by (time, insertion sequence): two events at the same
 * virtual time run in the order they were scheduled, so a run depends on
 * nothing but its seed. The queue is a 4-ary min-heap of small keys
 * (time, seq, slot) over a pool of event bodies with a free list, so a push
 * or pop moves 16-byte keys, not bodies. Only events due before a "far
 * line" a little ahead of the clock are in the heap; later ones (t-visibility
 * probes up to minutes ahead were most of the queue) wait in an unordered
 * bag and move into the heap when the line moves on, so the heap stays
 * small enough for the cache. Any correct priority queue pops the same
 * order: keys are unique.
 *
 * The trace hash is FNV-1a 64 over every executed event's (time, kind,
 * node, length, payload hash): equal seeds on equal builds give equal
 * hashes. The flight recorder keeps the last SIM_RECENT_MAX events for the
 * assertion hook. Not thread-safe; one engine per run.
 */
#ifndef SIM_ENGINE_H
#define SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_RECENT_MAX 20

/* An event body. Fields are free for the kind to use, except kind. */
typedef struct {
    uint16_t kind;
    uint16_t flags;
    uint32_t node;
    uint32_t inc;  /* incarnation of `node` when scheduled */
    uint32_t conn; /* connection id, or another small number */
    uint64_t a, b;
    void *p;
    const uint8_t *data;
    size_t len;
} sim_ev_t;

/* A heap key: time, then (insertion seq << 24 | pool slot), so one 128-bit
 * comparison orders by (time, seq) and four children share a cache line. */
typedef struct {
    uint64_t t;
    uint64_t ss;
} sim_hent_t;

#define SIM_SLOT_BITS 24 /* at most 16 M pending events */
/* How far ahead of the clock the far line is drawn (it moves on when the
 * clock is half way there): most events are due within a second. */
#define SIM_NEAR_NS UINT64_C(1000000000)

typedef struct {
    uint64_t t;
    uint16_t kind;
    uint32_t node;
    size_t len;
} sim_recent_t;

typedef struct {
    uint64_t now_ns;
    /* heap[0, nnear): the heap of keys due before far_ns; heap[nnear, n):
     * the bag of the others, in any order. */
    sim_hent_t *heap; /* heap_mem + 3: children groups are 64-byte aligned */
    void *heap_mem;
    size_t n, nnear, cap;
    uint64_t far_ns;
    sim_ev_t *pool;
    uint32_t *free_slots;
    size_t npool, nfree;
    uint64_t seq;
    uint64_t trace;
    uint64_t executed;
    sim_recent_t recent[SIM_RECENT_MAX];
    size_t recent_n; /* total recorded; ring index = recent_n % MAX */
} sim_engine_t;

void sim_engine_init(sim_engine_t *e);
void sim_engine_free(sim_engine_t *e);

/* Schedule an event at `at_ns` (clamped to now): returns its body to fill
 * in, valid until the next push. */
sim_ev_t *sim_engine_push(sim_engine_t *e, uint64_t at_ns, uint16_t kind);

/* Time of the next event, or UINT64_MAX. */
uint64_t sim_engine_peek(const sim_engine_t *e);

/* Remove the next event into *out, advance the clock to its time and
 * count it. false when the queue is empty. */
bool sim_engine_pop(sim_engine_t *e, sim_ev_t *out);

/* Mix an executed event into the trace hash and the flight recorder. */
void sim_engine_trace(sim_engine_t *e, const sim_ev_t *ev, uint64_t payload_hash);

/* FNV-1a 64 step over one 64-bit word, and over bytes (8 at a time, then
 * the tail; a fast variant of byte-wise FNV-1a, documented as such). */
static inline uint64_t sim_fnv_word(uint64_t h, uint64_t x)
{
    return (h ^ x) * UINT64_C(0x100000001b3);
}
uint64_t sim_fnv_bytes(uint64_t h, const uint8_t *p, size_t n);
#define SIM_FNV_INIT UINT64_C(0xcbf29ce484222325)

/* Zeroed memory for big per-node tables (replica models, checker state):
 * 2 MiB aligned and advised for transparent huge pages, since the
 * simulator touches them at random and TLB misses dominated the profile.
 * Free with free(). NULL on ENOMEM. */
void *sim_big_calloc(size_t n, size_t size);

/* Print the flight recorder, oldest first, with kind names from `name`. */
void sim_engine_dump_recent(const sim_engine_t *e, FILE *f, const char *(*name)(uint16_t));

#endif
