/*
 * engine.c - event queue, clock, trace hash (see engine.h).
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kv_assert.h"

void sim_engine_init(sim_engine_t *e)
{
    memset(e, 0, sizeof *e);
    e->trace = SIM_FNV_INIT;
    e->active = UINT64_MAX;
    e->wheel = calloc(SIM_WHEEL_SLOTS, sizeof *e->wheel);
    KV_ASSERT(e->wheel != NULL);
}

void sim_engine_free(sim_engine_t *e)
{
    for (size_t i = 0; e->wheel && i < SIM_WHEEL_SLOTS; i++)
        free(e->wheel[i].k);
    free(e->wheel);
    free(e->bag);
    free(e->pool);
    free(e->free_slots);
    memset(e, 0, sizeof *e);
}

/* (t, ss) as one 128-bit number: one comparison the compiler can turn into
 * flags instead of two data-dependent branches. */
static inline unsigned __int128 h_key(const sim_hent_t *h)
{
    return ((unsigned __int128)h->t << 64) | h->ss;
}

static inline bool h_less(const sim_hent_t *a, const sim_hent_t *b)
{
    return h_key(a) < h_key(b);
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

static inline sim_bucket_t *bucket_of(sim_engine_t *e, uint64_t t)
{
    return &e->wheel[(t / SIM_BUCKET_NS) % SIM_WHEEL_SLOTS];
}

/* Into the wheel (ent.t < far_ns, so its bucket is one of the next
 * SIM_WHEEL_SLOTS from cur). The bucket being drained (active) is a binary
 * heap: a sift-up. Any other is appended to in any order and made a heap
 * when the clock reaches it: a store, where a sift-up in a bucket not
 * touched for a while waited for its cache lines (4.9 % of the run). */
static void wheel_insert(sim_engine_t *e, sim_hent_t ent)
{
    uint64_t num = ent.t / SIM_BUCKET_NS;
    sim_bucket_t *b = &e->wheel[num % SIM_WHEEL_SLOTS];
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 64;
        sim_hent_t *k = realloc(b->k, cap * sizeof *k);
        KV_ASSERT(k != NULL);
        b->k = k;
        b->cap = cap;
    }
    e->nwheel++;
    sim_hent_t *h = b->k;
    size_t i = b->n++;
    if (num != e->active) {
        h[i] = ent;
        return;
    }
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h_less(&ent, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = ent;
}

/* Make a bucket's keys a binary min-heap (Floyd: sift down from the last
 * parent). */
static void bucket_heapify(sim_bucket_t *b)
{
    sim_hent_t *h = b->k;
    size_t n = b->n;
    for (size_t p = n / 2; p-- > 0;) {
        sim_hent_t x = h[p];
        size_t i = p;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            c += (size_t)(c + 1 < n && h_less(&h[c + 1], &h[c]));
            if (!h_less(&h[c], &x))
                break;
            h[i] = h[c];
            i = c;
        }
        h[i] = x;
    }
}

static void bag_add(sim_engine_t *e, sim_hent_t ent)
{
    if (e->nbag == e->bag_cap) {
        size_t cap = e->bag_cap ? 2 * e->bag_cap : 4096;
        sim_hent_t *k = realloc(e->bag, cap * sizeof *k);
        KV_ASSERT(k != NULL);
        e->bag = k;
        e->bag_cap = cap;
    }
    e->bag[e->nbag++] = ent;
}

sim_ev_t *sim_engine_push(sim_engine_t *e, uint64_t at_ns, uint16_t kind)
{
    if (at_ns < e->now_ns)
        at_ns = e->now_ns;
    uint32_t slot = slot_alloc(e);
    KV_ASSERT(slot < (1u << SIM_SLOT_BITS));
    sim_hent_t ent = {at_ns, (e->seq++ << SIM_SLOT_BITS) | slot};
    if (at_ns >= e->far_ns)
        bag_add(e, ent); /* the far bag: any order */
    else
        wheel_insert(e, ent);
    sim_ev_t *ev = &e->pool[slot];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    return ev;
}

/* The earliest time in the far bag (which is not empty). */
static uint64_t far_min(const sim_engine_t *e)
{
    uint64_t t = UINT64_MAX;
    for (size_t j = 0; j < e->nbag; j++)
        t = e->bag[j].t < t ? e->bag[j].t : t;
    return t;
}

/* Move the far line ahead when the clock nears it (or the wheel ran dry:
 * then the wheel starts at the bag's earliest key), and the bag's keys
 * below it into the wheel. The line stays within SIM_WHEEL_SLOTS buckets
 * of cur, which only grows. */
static void far_advance(sim_engine_t *e)
{
    if (e->nbag == 0 || (e->nwheel && e->now_ns + SIM_NEAR_NS / 2 < e->far_ns))
        return;
    if (!e->nwheel)
        e->cur = far_min(e) / SIM_BUCKET_NS; /* nothing is due before it */
    uint64_t end = e->cur + SIM_WHEEL_SLOTS;
    e->far_ns = end < UINT64_MAX / SIM_BUCKET_NS ? end * SIM_BUCKET_NS : UINT64_MAX;
    size_t kept = 0;
    for (size_t j = 0; j < e->nbag; j++) {
        if (e->bag[j].t < e->far_ns)
            wheel_insert(e, e->bag[j]);
        else
            e->bag[kept++] = e->bag[j];
    }
    e->nbag = kept;
}

/* The first non-empty bucket from cur (the wheel is not empty). */
static sim_bucket_t *first_bucket(const sim_engine_t *e, uint64_t *num)
{
    uint64_t b = e->cur;
    for (;;) {
        sim_bucket_t *bk = &e->wheel[b % SIM_WHEEL_SLOTS];
        if (bk->n) {
            *num = b;
            return bk;
        }
        b++;
    }
}

uint64_t sim_engine_peek(const sim_engine_t *e)
{
    if (e->nwheel) { /* every key in the bag is later */
        uint64_t num;
        const sim_bucket_t *b = first_bucket(e, &num);
        if (num == e->active)
            return b->k[0].t;
        uint64_t t = UINT64_MAX;
        for (uint32_t j = 0; j < b->n; j++)
            t = b->k[j].t < t ? b->k[j].t : t;
        return t;
    }
    return e->nbag ? far_min(e) : UINT64_MAX;
}

/* Remove a bucket's root: the hole goes down along the lesser children to
 * a leaf (no comparison with the last key on the way: it came from the
 * bottom and nearly always goes back there), then the last key sifts up
 * from the hole. */
static void bucket_remove_root(sim_bucket_t *b)
{
    sim_hent_t *h = b->k;
    size_t n = --b->n;
    if (!n)
        return;
    sim_hent_t last = h[n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        /* Which child is less is a coin toss: select without a branch. */
        c += (size_t)(c + 1 < n && h_less(&h[c + 1], &h[c]));
        h[i] = h[c];
        i = c;
    }
    while (i > 0) {
        size_t parent = (i - 1) / 2;
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
    if (!e->nwheel)
        return false;
    uint64_t num;
    sim_bucket_t *b = first_bucket(e, &num);
    e->cur = num;
    if (num != e->active) {
        bucket_heapify(b);
        e->active = num;
    }
    sim_hent_t top = b->k[0];
    bucket_remove_root(b);
    e->nwheel--;
    if (b->n) /* the next body is read soon: start loading it now */
        __builtin_prefetch(&e->pool[b->k[0].ss & ((1u << SIM_SLOT_BITS) - 1)]);
    uint32_t slot = (uint32_t)(top.ss & ((1u << SIM_SLOT_BITS) - 1));
    *out = e->pool[slot];
    e->free_slots[e->nfree++] = slot;
    KV_ASSERT(top.t >= e->now_ns);
    e->now_ns = top.t;
    e->executed++;
    return true;
}

void sim_engine_each(const sim_engine_t *e,
                     void (*fn)(void *ctx, const sim_hent_t *key, const sim_ev_t *ev), void *ctx)
{
    const uint64_t mask = (1u << SIM_SLOT_BITS) - 1;
    for (size_t i = 0; i < SIM_WHEEL_SLOTS; i++)
        for (uint32_t j = 0; j < e->wheel[i].n; j++)
            fn(ctx, &e->wheel[i].k[j], &e->pool[e->wheel[i].k[j].ss & mask]);
    for (size_t j = 0; j < e->nbag; j++)
        fn(ctx, &e->bag[j], &e->pool[e->bag[j].ss & mask]);
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
