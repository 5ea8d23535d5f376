/*
 * engine.h - the discrete-event core: a virtual clock in nanoseconds, a
 * priority queue of events, the trace hash and the flight recorder.
 *
 * Events are ordered by (time, insertion sequence): two events at the same
 * virtual time run in the order they were scheduled, so a run depends on
 * nothing but its seed. An event's key is 16 bytes (time, seq, slot) over a
 * pool of event bodies with a free list, so the queue moves keys, not
 * bodies; a body is one cache line. Events due before a "far line" at most
 * SIM_NEAR_NS ahead of the clock sit in a timing wheel of SIM_WHEEL_SLOTS
 * buckets of SIM_BUCKET_NS (one per millisecond of virtual time); a bucket
 * is an array of keys in any order until the clock reaches it, then it is
 * sorted, greatest key first (a counting sort on the key's offset in the
 * millisecond, then an insertion sort that mends it: O(n)), and a pop
 * takes its last key. A key pushed into the bucket being drained goes in
 * at its place, moving the keys due before it. The sorted order says which
 * bodies come next, so a pop prefetches the body SIM_PREFETCH_AHEAD pops
 * ahead. The bucket being drained holds one millisecond's events (~90 in
 * world300_push) and stays in the cache, where one 4-ary heap of every
 * event of the next second missed it at each of its lower levels, and a
 * binary heap per bucket still took ~7 levels of sifting per pop
 * (sim_engine_pop was 11 % of the run). Later events (t-visibility probes
 * up to minutes ahead) wait in an unordered bag and move into the wheel
 * when the line moves on. Any correct priority queue pops the same order:
 * keys are unique.
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

/* A body in the pool: one cache line each, so that a prefetch of its line
 * brings the whole body (56-byte bodies straddled two lines). */
typedef struct {
    _Alignas(64) sim_ev_t ev;
} sim_slot_t;

/* A queue key: time, then (insertion seq << 24 | pool slot), so one 128-bit
 * comparison orders by (time, seq). */
typedef struct {
    uint64_t t;
    uint64_t ss;
} sim_hent_t;

#define SIM_SLOT_BITS 24 /* at most 16 M pending events */
/* The wheel: SIM_WHEEL_SLOTS buckets of SIM_BUCKET_NS; the far line is
 * drawn SIM_NEAR_NS (the whole wheel) past the start of the clock's bucket
 * and moves on when the clock is half way there. Most events are due within
 * a second. */
#define SIM_BUCKET_NS   UINT64_C(1000000)
#define SIM_WHEEL_SLOTS 1024u
#define SIM_NEAR_NS     (SIM_BUCKET_NS * SIM_WHEEL_SLOTS)
/* Sorting a bucket: an offset in it has at most SIM_BUCKET_BITS bits, and
 * the counting sort uses at most 2^SIM_SORT_BITS_MAX bins. */
#define SIM_BUCKET_BITS    20
#define SIM_SORT_BITS_MAX  16
#define SIM_PREFETCH_AHEAD 8 /* a pop prefetches the body this many pops ahead */
_Static_assert(SIM_BUCKET_NS <= (UINT64_C(1) << SIM_BUCKET_BITS), "an offset fits the bits");
_Static_assert(SIM_SORT_BITS_MAX >= 6 && SIM_SORT_BITS_MAX <= SIM_BUCKET_BITS, "bins");

/* One bucket of the wheel: keys in any order, sorted greatest first once it
 * is the active one. */
typedef struct {
    sim_hent_t *k;
    uint32_t n, cap;
} sim_bucket_t;

typedef struct {
    uint64_t t;
    uint16_t kind;
    uint32_t node;
    size_t len;
} sim_recent_t;

typedef struct {
    uint64_t now_ns;
    sim_bucket_t *wheel; /* SIM_WHEEL_SLOTS buckets; bucket number b is wheel[b % slots] */
    uint64_t cur;        /* bucket number of the clock: wheel keys are in [cur, cur + slots) */
    uint64_t active;     /* the bucket being drained, sorted; the others are in any order */
    sim_hent_t *scratch; /* a bucket's sort writes here, then swaps arrays with it */
    size_t scratch_cap;
    uint32_t *bins;  /* the sort's counts, 2^SIM_SORT_BITS_MAX */
    size_t nwheel;   /* keys in the wheel */
    sim_hent_t *bag; /* keys due at or after far_ns, in any order */
    size_t nbag, bag_cap;
    uint64_t far_ns;
    sim_slot_t *pool; /* pool_cap bodies, npool of them ever used */
    uint32_t *free_slots;
    size_t npool, pool_cap, nfree;
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

/* Call fn for every pending event (key and body), in no particular order
 * (tests look for a scheduled event). */
void sim_engine_each(const sim_engine_t *e,
                     void (*fn)(void *ctx, const sim_hent_t *key, const sim_ev_t *ev), void *ctx);

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
