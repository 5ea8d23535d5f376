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

sim_ev_t *sim_engine_push(sim_engine_t *e, uint64_t at_ns, uint16_t kind)
{
    if (at_ns < e->now_ns)
        at_ns = e->now_ns;
    if (e->n == e->cap) {
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
    uint32_t slot = slot_alloc(e);
    KV_ASSERT(slot < (1u << SIM_SLOT_BITS));
    sim_hent_t ent = {at_ns, (e->seq++ << SIM_SLOT_BITS) | slot};
    size_t i = e->n++;
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!h_less(&ent, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = ent;
    sim_ev_t *ev = &e->pool[slot];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    return ev;
}

uint64_t sim_engine_peek(const sim_engine_t *e)
{
    return e->n ? e->heap[0].t : UINT64_MAX;
}

bool sim_engine_pop(sim_engine_t *e, sim_ev_t *out)
{
    if (!e->n)
        return false;
    sim_hent_t top = e->heap[0];
    sim_hent_t last = e->heap[--e->n];
    size_t i = 0, n = e->n;
    for (;;) {
        size_t c = i * ARITY + 1;
        if (c >= n)
            break;
        size_t best = c;
        size_t end = c + ARITY < n ? c + ARITY : n;
        for (size_t k = c + 1; k < end; k++)
            if (h_less(&e->heap[k], &e->heap[best]))
                best = k;
        if (!h_less(&e->heap[best], &last))
            break;
        e->heap[i] = e->heap[best];
        i = best;
    }
    if (n) {
        e->heap[i] = last;
        /* The next body is read soon: start loading it now. */
        __builtin_prefetch(&e->pool[e->heap[0].ss & ((1u << SIM_SLOT_BITS) - 1)]);
    }
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
