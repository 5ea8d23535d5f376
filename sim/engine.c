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
    e->bins = malloc(sizeof *e->bins << SIM_SORT_BITS_MAX);
    KV_ASSERT(e->wheel != NULL && e->bins != NULL);
}

void sim_engine_free(sim_engine_t *e)
{
    for (size_t i = 0; e->wheel && i < SIM_WHEEL_SLOTS; i++)
        free(e->wheel[i].k);
    free(e->wheel);
    free(e->bag);
    free(e->scratch);
    free(e->bins);
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
    if (e->npool == e->pool_cap) {
        size_t cap = e->pool_cap ? 2 * e->pool_cap : 4096;
        /* aligned_alloc: a body is one cache line (realloc keeps 16 bytes). */
        sim_slot_t *p = aligned_alloc(_Alignof(sim_slot_t), cap * sizeof *p);
        uint32_t *f = realloc(e->free_slots, cap * sizeof *f);
        KV_ASSERT(p && f);
        if (e->npool)
            memcpy(p, e->pool, e->npool * sizeof *p);
        free(e->pool);
        e->pool = p;
        e->pool_cap = cap;
        e->free_slots = f;
    }
    return (uint32_t)e->npool++;
}

static inline sim_bucket_t *bucket_of(sim_engine_t *e, uint64_t t)
{
    return &e->wheel[(t / SIM_BUCKET_NS) % SIM_WHEEL_SLOTS];
}

/* Into the wheel (ent.t < far_ns, so its bucket is one of the next
 * SIM_WHEEL_SLOTS from cur). The bucket being drained (active) is sorted,
 * greatest key first: the key goes in after the last greater one, moving
 * the lesser ones up a place. They are the ones due before it, few for the
 * events scheduled into the bucket being drained (disk steps, reads: a
 * fraction of a millisecond ahead). Any other bucket is appended to in any
 * order and sorted when the clock reaches it: a store, where a sift-up in
 * a bucket not touched for a while waited for its cache lines. */
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
    for (; i > 0 && h_less(&h[i - 1], &ent); i--)
        h[i] = h[i - 1];
    h[i] = ent;
}

/* Sort the keys of bucket number num, greatest first, so that a pop takes
 * the last. A counting sort on the key's offset in the bucket into at least
 * as many bins as keys (most bins then hold zero to two keys), scattered
 * from each bin's end down so that keys appended in push order (ascending
 * sequence) come out descending, then an insertion sort that mends the
 * bins: O(n) for the ~70 keys of a world300_push millisecond, where the
 * binary heap this replaces took ~7 levels of sifting per pop (the
 * sorted order also says which bodies to prefetch). */
static void bucket_sort(sim_engine_t *e, sim_bucket_t *b, uint64_t num)
{
    uint32_t n = b->n;
    if (n < 2)
        return;
    unsigned bits = 6;
    while (bits < SIM_SORT_BITS_MAX && (1u << bits) < n)
        bits++;
    const unsigned shift = SIM_BUCKET_BITS - bits;
    const uint32_t nbins = 1u << bits;
    const uint64_t base = num * SIM_BUCKET_NS;
    if (e->scratch_cap < b->cap) {
        free(e->scratch);
        e->scratch = malloc(b->cap * sizeof *e->scratch);
        KV_ASSERT(e->scratch != NULL);
        e->scratch_cap = b->cap;
    }
    uint32_t *cnt = e->bins;
    memset(cnt, 0, nbins * sizeof *cnt);
    const sim_hent_t *k = b->k;
    for (uint32_t j = 0; j < n; j++)
        cnt[(k[j].t - base) >> shift]++;
    /* Greatest first: bin i's places follow those of the bins above it. */
    uint32_t end = 0;
    for (uint32_t i = nbins; i-- > 0;) {
        end += cnt[i];
        cnt[i] = end; /* one past bin i's last place */
    }
    sim_hent_t *out = e->scratch;
    for (uint32_t j = 0; j < n; j++)
        out[--cnt[(k[j].t - base) >> shift]] = k[j];
    for (uint32_t j = 1; j < n; j++) {
        sim_hent_t x = out[j];
        uint32_t i = j;
        for (; i > 0 && h_less(&out[i - 1], &x); i--)
            out[i] = out[i - 1];
        out[i] = x;
    }
    /* The sorted copy becomes the bucket's array, the old one scratch. */
    e->scratch = b->k;
    b->k = out;
    uint32_t cap = b->cap;
    b->cap = (uint32_t)e->scratch_cap;
    e->scratch_cap = cap;
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
    sim_ev_t *ev = &e->pool[slot].ev;
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
            return b->k[b->n - 1].t;
        uint64_t t = UINT64_MAX;
        for (uint32_t j = 0; j < b->n; j++)
            t = b->k[j].t < t ? b->k[j].t : t;
        return t;
    }
    return e->nbag ? far_min(e) : UINT64_MAX;
}

bool sim_engine_pop(sim_engine_t *e, sim_ev_t *out)
{
    far_advance(e);
    if (!e->nwheel)
        return false;
    uint64_t num;
    sim_bucket_t *b = first_bucket(e, &num);
    e->cur = num;
    const uint64_t mask = (1u << SIM_SLOT_BITS) - 1;
    if (num != e->active) {
        bucket_sort(e, b, num);
        e->active = num;
        for (uint32_t j = 1; j <= SIM_PREFETCH_AHEAD && j < b->n; j++)
            __builtin_prefetch(&e->pool[b->k[b->n - 1 - j].ss & mask]);
        /* The next bucket's keys, written up to a second ago, are read
         * when it is sorted. */
        const sim_bucket_t *nb = &e->wheel[(num + 1) % SIM_WHEEL_SLOTS];
        for (uint32_t j = 0; j < nb->n; j += 64 / sizeof *nb->k)
            __builtin_prefetch(&nb->k[j]);
    }
    sim_hent_t top = b->k[--b->n];
    e->nwheel--;
    /* The next bodies to be read are known: start loading them now. */
    if (b->n > SIM_PREFETCH_AHEAD)
        __builtin_prefetch(&e->pool[b->k[b->n - 1 - SIM_PREFETCH_AHEAD].ss & mask]);
    uint32_t slot = (uint32_t)(top.ss & mask);
    *out = e->pool[slot].ev;
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
            fn(ctx, &e->wheel[i].k[j], &e->pool[e->wheel[i].k[j].ss & mask].ev);
    for (size_t j = 0; j < e->nbag; j++)
        fn(ctx, &e->bag[j], &e->pool[e->bag[j].ss & mask].ev);
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
