/*
 * engine.c - event queue, clock, trace hash (see engine.h).
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kv_assert.h"

#define ARITY 4

void sim_engine_init(sim_engine_t *e)
{
    memset(e, 0, sizeof *e);
    e->trace = SIM_FNV_INIT;
}

void sim_engine_free(sim_engine_t *e)
{
    free(e->heap_mem);
    free(e->pool);
    free(e->free_slots);
    memset(e, 0, sizeof *e);
}

static inline bool h_less(const sim_hent_t *a, const sim_hent_t *b)
{
    return a->t < b->t || (a->t == b->t && a->ss < b->ss);
}

static uint32_t slot_alloc(sim_engine_t *e)
{
    if (e->nfree)
        return e->free_slots[--e->nfree];
    if (e->npool % 4096 == 0) {
        size_t cap = e->npool + 4096;
        sim_ev_t *p = realloc(e->pool, cap * sizeof *p);
        uint32_t *f = realloc(e->free_slots, cap * sizeof *f);
        KV_ASSERT(p && f);
        e->pool = p;
        e->free_slots = f;
    }
    return (uint32_t)e->npool++;
}

/* Room for one more key. */
static void keys_reserve(sim_engine_t *e)
{
    if (e->n < e->cap)
        return;
    size_t cap = e->cap ? 2 * e->cap : 4096;
    void *mem = aligned_alloc(64, (cap + 4) * sizeof(sim_hent_t));
    KV_ASSERT(mem != NULL);
    sim_hent_t *h = (sim_hent_t *)mem + 3;
    if (e->n)
        memcpy(h, e->heap, e->n * sizeof *h);
    free(e->heap_mem);
    e->heap_mem = mem;
    e->heap = h;
    e->cap = cap;
}

/* Put ent into the near heap at its end (heap[nnear] must be free). */
static void near_insert(sim_engine_t *e, sim_hent_t ent)
{
    size_t i = e->nnear++;
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!h_less(&ent, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = ent;
}

sim_ev_t *sim_engine_push(sim_engine_t *e, uint64_t at_ns, uint16_t kind)
{
    if (at_ns < e->now_ns)
        at_ns = e->now_ns;
    keys_reserve(e);
    uint32_t slot = slot_alloc(e);
    KV_ASSERT(slot < (1u << SIM_SLOT_BITS));
    sim_hent_t ent = {at_ns, (e->seq++ << SIM_SLOT_BITS) | slot};
    if (at_ns >= e->far_ns) {
        e->heap[e->n++] = ent; /* the far bag: any order */
    } else {
        /* The near heap grows into the bag's first key: move that to the
         * bag's end. */
        if (e->n > e->nnear)
            e->heap[e->n] = e->heap[e->nnear];
        e->n++;
        near_insert(e, ent);
    }
    sim_ev_t *ev = &e->pool[slot];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    return ev;
}

/* The earliest time in the far bag (which is not empty). */
static uint64_t far_min(const sim_engine_t *e)
{
    uint64_t t = UINT64_MAX;
    for (size_t j = e->nnear; j < e->n; j++)
        t = e->heap[j].t < t ? e->heap[j].t : t;
    return t;
}

/* Move the far line ahead when the clock nears it (or the near heap ran
 * dry), and the bag's keys below it into the near heap. */
static void far_advance(sim_engine_t *e)
{
    if (e->n == e->nnear || (e->nnear && e->now_ns + SIM_NEAR_NS / 2 < e->far_ns))
        return;
    uint64_t base = e->nnear ? e->now_ns : far_min(e);
    e->far_ns = base < UINT64_MAX - SIM_NEAR_NS ? base + SIM_NEAR_NS : UINT64_MAX;
    for (size_t j = e->nnear; j < e->n; j++) {
        if (e->heap[j].t >= e->far_ns)
            continue;
        sim_hent_t ent = e->heap[j];
        e->heap[j] = e->heap[e->nnear]; /* a bag key already looked at, or ent itself */
        near_insert(e, ent);
    }
}

uint64_t sim_engine_peek(const sim_engine_t *e)
{
    if (e->nnear)
        return e->heap[0].t; /* every key in the bag is later */
    return e->n ? far_min(e) : UINT64_MAX;
}

/* (t, ss) as one 128-bit number: one comparison the compiler can turn into
 * flags and masks instead of two data-dependent branches. */
static inline unsigned __int128 h_key(const sim_hent_t *h)
{
    return ((unsigned __int128)h->t << 64) | h->ss;
}

/* The index (0..3) of the least of four consecutive keys, without branches
 * (selects by masks: the compiler turned ?: into jumps): which child wins is
 * a coin toss, and mispredicted branches were much of the pop's cost. */
static inline size_t min4(const sim_hent_t *c)
{
    typedef unsigned __int128 u128;
    u128 k0 = h_key(&c[0]), k1 = h_key(&c[1]), k2 = h_key(&c[2]), k3 = h_key(&c[3]);
    size_t a = (size_t)(k1 < k0), b = (size_t)(k3 < k2);
    u128 ka = k0 ^ ((k0 ^ k1) & -(u128)a);
    u128 kb = k2 ^ ((k2 ^ k3) & -(u128)b);
    size_t take_b = -(size_t)(kb < ka); /* all ones or zero */
    return a ^ ((a ^ (2 + b)) & take_b);
}

/* Remove the near heap's root. Bottom-up: move the hole at the root down to
 * a leaf along the least children (no comparison with the last key on the
 * way: it came from the bottom and nearly always goes back there), then
 * sift the last key up from the hole. */
static void near_remove_root(sim_engine_t *e)
{
    sim_hent_t *h = e->heap;
    size_t n = --e->nnear;
    sim_hent_t last = h[n];
    if (e->n > n + 1)
        h[n] = h[e->n - 1]; /* the bag shifts down by one: its last key fills the gap */
    e->n--;
    if (!n)
        return;
    size_t i = 0;
    for (;;) {
        size_t c = i * ARITY + 1;
        if (c + ARITY <= n) {
            /* The next level's group is one of these four lines: ask for
             * all of them while this one is compared (the heap's lower
             * levels fall out of the cache between two pops). */
            size_t g = c * ARITY + 1;
            if (g < n) {
                __builtin_prefetch(&h[g]);
                __builtin_prefetch(&h[g + ARITY]);
                __builtin_prefetch(&h[g + 2 * ARITY]);
                __builtin_prefetch(&h[g + 3 * ARITY]);
            }
            size_t best = c + min4(&h[c]);
            h[i] = h[best];
            i = best;
            continue;
        }
        if (c < n) { /* the last, partly filled group: its children are leaves */
            size_t best = c;
            for (size_t k = c + 1; k < n; k++)
                if (h_less(&h[k], &h[best]))
                    best = k;
            h[i] = h[best];
            i = best;
        }
        break;
    }
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!h_less(&last, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = last;
}

bool sim_engine_pop(sim_engine_t *e, sim_ev_t *out)
{
    far_advance(e);
    if (!e->nnear)
        return false;
    sim_hent_t top = e->heap[0];
    near_remove_root(e);
    if (e->nnear) /* the next body is read soon: start loading it now */
        __builtin_prefetch(&e->pool[e->heap[0].ss & ((1u << SIM_SLOT_BITS) - 1)]);
    uint32_t slot = (uint32_t)(top.ss & ((1u << SIM_SLOT_BITS) - 1));
    *out = e->pool[slot];
    e->free_slots[e->nfree++] = slot;
    KV_ASSERT(top.t >= e->now_ns);
    e->now_ns = top.t;
    e->executed++;
    return true;
}

void sim_engine_trace(sim_engine_t *e, const sim_ev_t *ev, uint64_t payload_hash)
{
    uint64_t h = e->trace;
    h = sim_fnv_word(h, e->now_ns);
    h = sim_fnv_word(h, ((uint64_t)ev->kind << 32) | ev->node);
    h = sim_fnv_word(h, ev->len);
    h = sim_fnv_word(h, payload_hash);
    e->trace = h;
    sim_recent_t *r = &e->recent[e->recent_n++ % SIM_RECENT_MAX];
    r->t = e->now_ns;
    r->kind = ev->kind;
    r->node = ev->node;
    r->len = ev->len;
}

uint64_t sim_fnv_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = sim_fnv_word(h, w);
    }
    for (; i < n; i++)
        h = sim_fnv_word(h, p[i]);
    return h;
}

void sim_engine_dump_recent(const sim_engine_t *e, FILE *f, const char *(*name)(uint16_t))
{
    size_t n = e->recent_n < SIM_RECENT_MAX ? e->recent_n : SIM_RECENT_MAX;
    for (size_t k = 0; k < n; k++) {
        const sim_recent_t *r = &e->recent[(e->recent_n - n + k) % SIM_RECENT_MAX];
        fprintf(f, "  t=%.6f s  %-14s node=%u len=%zu\n", (double)r->t / 1e9,
                name ? name(r->kind) : "?", r->node, r->len);
    }
}

void *sim_big_calloc(size_t n, size_t size)
{
    const size_t huge = 2u * 1024u * 1024u;
    size_t bytes = n * size;
    if (n && bytes / n != size)
        return NULL;
    if (bytes < huge)
        return calloc(bytes ? bytes : 1, 1);
    bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, bytes);
    if (!p)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: fine if refused */
    memset(p, 0, bytes);
    return p;
}
