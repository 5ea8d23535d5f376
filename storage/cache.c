/*
 * cache.c - the sharded, byte-bounded LRU read cache of cache.h.
 *
 * The key space is split over up to CACHE_SHARDS_MAX shards by a hash of
 * namespace id + key; each shard is a mutex, a chained hash table, an
 * intrusive LRU list (head = most recently used) and a byte budget of
 * max_bytes / nshards. A lookup hashes once, takes one lock and allocates
 * nothing. Entries are allocated and blobs released outside the lock: the
 * critical sections only link, unlink and count.
 *
 * Freshness (see cache.h): every cache_put() bumps its shard's write counter
 * and a fill ticket is that counter plus the shard index, so a fill is only
 * admitted if no write reached the shard since the ticket was taken; and no
 * install ever replaces a newer version. When something cannot be cached (too
 * big, out of memory) the older entry for the key is removed rather than left
 * to be served stale.
 *
 * This is not a store: it never reads RocksDB, never judges expiry and never
 * reports errors; a failure just means "not cached".
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* Enough shards that 64 event loops rarely meet on one lock. */
#define CACHE_SHARD_BITS 6
#define CACHE_SHARDS_MAX (1u << CACHE_SHARD_BITS)
/* A small cache uses fewer shards so a shard still holds two of the largest
 * entries; otherwise big values would never be cacheable in it. */
#define CACHE_SHARD_MIN_BYTES (2u * KV_CACHE_MAX_ENTRY_BYTES)
/* Initial buckets per shard; tables double when they hold more entries. */
#define CACHE_BUCKETS_INIT 16u

typedef struct cache_entry {
    struct cache_entry *hnext;       /* bucket chain */
    struct cache_entry *prev, *next; /* LRU list, towards head / tail */
    stor_blob_t *blob;               /* one reference; NULL = negative */
    kv_version_t version;            /* zero for "nothing stored" */
    uint64_t hash;
    size_t charge; /* bytes counted against the shard budget */
    size_t key_len;
    char ns_id[KV_NS_ID_LEN];
    char key[]; /* key_len bytes, not NUL-terminated */
} cache_entry_t;

/* Bytes charged per entry beyond key and blob: the entry, its bucket slot and
 * the blob's header. Malloc's own overhead is not guessed at. */
#define CACHE_ENTRY_OVERHEAD (sizeof(cache_entry_t) + sizeof(cache_entry_t *) + sizeof(stor_blob_t))

typedef struct {
    pthread_mutex_t lock;
    /* Written under lock; read without it by cache_fill_begin(). */
    atomic_uint_fast64_t writes;
    /* All below: guarded by lock. */
    cache_entry_t **buckets;
    size_t bucket_mask;
    cache_entry_t *head, *tail;
    size_t bytes, entries, budget;
    uint64_t hits, misses, negative_hits, fills, fills_refused, evictions;
    unsigned index; /* constant */
    /* Keeps two shards' hot fields off one cache line. */
    char pad[64];
} cache_shard_t;

struct cache {
    size_t max_bytes;
    unsigned nshards; /* power of two, 1..CACHE_SHARDS_MAX */
    cache_shard_t shards[];
};

/* ---- hashing ---------------------------------------------------------------- */

static uint64_t cache__load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static uint64_t cache__round(uint64_t h, uint64_t w)
{
    h ^= w * UINT64_C(0x87c37b91114253d5);
    h = (h << 31) | (h >> 33);
    return h * UINT64_C(0x4cf5ad432745937f);
}

/* A murmur3-style hash of ns_id + key, eight bytes per step, finished with
 * the fmix64 avalanche so both the low (bucket) and top (shard) bits mix. */
static uint64_t cache__hash(const char *ns_id, const char *key, size_t key_len)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ key_len;
    for (size_t i = 0; i < KV_NS_ID_LEN; i += 8)
        h = cache__round(h, cache__load64(ns_id + i));
    size_t i = 0;
    for (; i + 8 <= key_len; i += 8)
        h = cache__round(h, cache__load64(key + i));
    if (i < key_len) {
        char tail[8] = {0};
        memcpy(tail, key + i, key_len - i);
        h = cache__round(h, cache__load64(tail));
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* Top bits pick the shard, low bits the bucket: the two stay independent. */
static cache_shard_t *cache__shard(cache_t *c, uint64_t hash)
{
    return &c->shards[(hash >> (64 - CACHE_SHARD_BITS)) & (c->nshards - 1)];
}

/* ---- one shard (caller holds s->lock) ---------------------------------------- */

static cache_entry_t *cache__find(cache_shard_t *s, uint64_t hash, const char *ns_id,
                                  const char *key, size_t key_len)
{
    for (cache_entry_t *e = s->buckets[hash & s->bucket_mask]; e; e = e->hnext) {
        if (e->hash == hash && e->key_len == key_len &&
            memcmp(e->ns_id, ns_id, KV_NS_ID_LEN) == 0 && memcmp(e->key, key, key_len) == 0)
            return e;
    }
    return NULL;
}

static void cache__lru_unlink(cache_shard_t *s, cache_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void cache__lru_push(cache_shard_t *s, cache_entry_t *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    else
        s->tail = e;
    s->head = e;
}

static void cache__lru_touch(cache_shard_t *s, cache_entry_t *e)
{
    if (s->head == e)
        return;
    cache__lru_unlink(s, e);
    cache__lru_push(s, e);
}

/* Take `e` out of the shard and chain it on *garbage (via hnext) to be
 * released once the lock is dropped. */
static void cache__remove(cache_shard_t *s, cache_entry_t *e, cache_entry_t **garbage)
{
    cache_entry_t **pp = &s->buckets[e->hash & s->bucket_mask];
    while (*pp != e) {
        KV_ASSERT(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    cache__lru_unlink(s, e);
    KV_ASSERT(s->bytes >= e->charge && s->entries > 0);
    s->bytes -= e->charge;
    s->entries--;
    e->hnext = *garbage;
    *garbage = e;
}

/* Double the bucket array. Out of memory only lengthens the chains. */
static void cache__grow(cache_shard_t *s)
{
    size_t n = (s->bucket_mask + 1) * 2;
    cache_entry_t **nb = kv_calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (size_t i = 0; i <= s->bucket_mask; i++) {
        cache_entry_t *e = s->buckets[i];
        while (e) {
            cache_entry_t *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    kv_free(s->buckets);
    s->buckets = nb;
    s->bucket_mask = n - 1;
}

static void cache__insert(cache_shard_t *s, cache_entry_t *e)
{
    cache_entry_t **b = &s->buckets[e->hash & s->bucket_mask];
    e->hnext = *b;
    *b = e;
    cache__lru_push(s, e);
    s->bytes += e->charge;
    s->entries++;
    if (s->entries > s->bucket_mask + 1)
        cache__grow(s);
}

/* Evict from the tail until the shard fits its budget, sparing `keep`. */
static void cache__evict(cache_shard_t *s, cache_entry_t *keep, cache_entry_t **garbage)
{
    while (s->bytes > s->budget && s->tail && s->tail != keep) {
        cache__remove(s, s->tail, garbage);
        s->evictions++;
    }
    KV_ASSERT(s->bytes <= s->budget);
}

static cache_ticket_t cache__ticket(const cache_shard_t *s, uint64_t writes)
{
    return (cache_ticket_t)(writes << CACHE_SHARD_BITS) | s->index;
}

/* The admission rules of cache.h, under the lock. `ticket` NULL means a put.
 * Returns true when `fresh` (which may be NULL: could not be built) was
 * linked in; it is then owned by the shard. */
static bool cache__admit(cache_shard_t *s, const cache_ticket_t *ticket, uint64_t hash,
                         const char *ns_id, const char *key, size_t key_len, kv_version_t version,
                         cache_entry_t *fresh, cache_entry_t **garbage)
{
    if (!ticket) {
        atomic_fetch_add(&s->writes, 1);
    } else if (*ticket != cache__ticket(s, atomic_load(&s->writes))) {
        s->fills_refused++;
        return false;
    }
    cache_entry_t *old = cache__find(s, hash, ns_id, key, key_len);
    if (old) {
        int cmp = kv_version_cmp(old->version, version);
        if (cmp > 0) {
            s->fills_refused += ticket != NULL;
            return false;
        }
        if (cmp == 0) {
            /* Same version, same record: keep the entry, just touch it. */
            cache__lru_touch(s, old);
            s->fills += ticket != NULL;
            return false;
        }
        cache__remove(s, old, garbage);
    }
    if (!fresh)
        return false;
    cache__insert(s, fresh);
    s->fills += ticket != NULL;
    cache__evict(s, fresh, garbage);
    return true;
}

/* ---- outside the lock ---------------------------------------------------------- */

static void cache__release(cache_entry_t *list)
{
    while (list) {
        cache_entry_t *next = list->hnext;
        stor_blob_unref(list->blob);
        kv_free(list);
        list = next;
    }
}

static cache_entry_t *cache__entry_new(uint64_t hash, const char *ns_id, const char *key,
                                       size_t key_len, stor_blob_t *blob, kv_version_t version,
                                       size_t charge)
{
    cache_entry_t *e = kv_malloc(sizeof(*e) + key_len);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->key_len = key_len;
    e->charge = charge;
    e->version = version;
    memcpy(e->ns_id, ns_id, KV_NS_ID_LEN);
    if (key_len)
        memcpy(e->key, key, key_len);
    if (blob) {
        stor_blob_ref(blob);
        e->blob = blob;
    }
    return e;
}

/* Shared body of cache_fill (ticket set) and cache_put (ticket NULL). */
static void cache__offer(cache_t *c, const cache_ticket_t *ticket, const char *ns_id,
                         const char *key, size_t key_len, stor_blob_t *blob)
{
    kv_version_t version = KV_VERSION_ZERO;
    stor_blob_t *held = NULL; /* what the entry keeps; a tombstone keeps none */
    if (blob) {
        stor_record_t rec;
        stor_blob_record(blob, &rec);
        version = rec.version;
        if (!rec.tombstone)
            held = blob;
    }
    uint64_t hash = cache__hash(ns_id, key, key_len);
    cache_shard_t *s = cache__shard(c, hash);
    size_t held_len = held ? held->len : 0;
    size_t charge = CACHE_ENTRY_OVERHEAD + key_len + held_len;
    bool fits = held_len <= KV_CACHE_MAX_ENTRY_BYTES && key_len <= s->budget && charge <= s->budget;
    cache_entry_t *fresh =
        fits ? cache__entry_new(hash, ns_id, key, key_len, held, version, charge) : NULL;
    cache_entry_t *garbage = NULL;

    pthread_mutex_lock(&s->lock);
    bool linked = cache__admit(s, ticket, hash, ns_id, key, key_len, version, fresh, &garbage);
    pthread_mutex_unlock(&s->lock);

    if (fresh && !linked) {
        fresh->hnext = garbage;
        garbage = fresh;
    }
    cache__release(garbage);
}

/* ---- public API ------------------------------------------------------------------ */

static void cache__shard_fini(cache_shard_t *s)
{
    cache_entry_t *garbage = NULL;
    while (s->tail)
        cache__remove(s, s->tail, &garbage);
    cache__release(garbage);
    kv_free(s->buckets);
    pthread_mutex_destroy(&s->lock);
}

static int cache__shard_init(cache_shard_t *s, unsigned index, size_t budget)
{
    memset(s, 0, sizeof(*s));
    s->index = index;
    s->budget = budget;
    atomic_init(&s->writes, 0);
    s->buckets = kv_calloc(CACHE_BUCKETS_INIT, sizeof(*s->buckets));
    if (!s->buckets)
        return -ENOMEM;
    s->bucket_mask = CACHE_BUCKETS_INIT - 1;
    int rc = pthread_mutex_init(&s->lock, NULL);
    if (rc != 0) {
        kv_free(s->buckets);
        return -rc;
    }
    return 0;
}

int cache_create(size_t max_bytes, cache_t **out)
{
    unsigned n = CACHE_SHARDS_MAX;
    while (n > 1 && max_bytes / n < CACHE_SHARD_MIN_BYTES)
        n /= 2;
    cache_t *c = kv_malloc(sizeof(*c) + n * sizeof(cache_shard_t));
    if (!c)
        return -ENOMEM;
    c->max_bytes = max_bytes;
    c->nshards = n;
    for (unsigned i = 0; i < n; i++) {
        int rc = cache__shard_init(&c->shards[i], i, max_bytes / n);
        if (rc != 0) {
            while (i-- > 0)
                cache__shard_fini(&c->shards[i]);
            kv_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

void cache_destroy(cache_t *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++)
        cache__shard_fini(&c->shards[i]);
    kv_free(c);
}

cache_result_t cache_get(cache_t *c, const char *ns_id, const char *key, size_t key_len,
                         stor_blob_t **blob)
{
    uint64_t hash = cache__hash(ns_id, key, key_len);
    cache_shard_t *s = cache__shard(c, hash);
    cache_result_t r;
    *blob = NULL;

    pthread_mutex_lock(&s->lock);
    cache_entry_t *e = cache__find(s, hash, ns_id, key, key_len);
    if (!e) {
        s->misses++;
        r = CACHE_MISS;
    } else {
        cache__lru_touch(s, e);
        if (e->blob) {
            /* The reference is taken under the lock, before any eviction
             * could drop the cache's own. */
            stor_blob_ref(e->blob);
            *blob = e->blob;
            s->hits++;
            r = CACHE_HIT;
        } else {
            s->negative_hits++;
            r = CACHE_NEGATIVE;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

cache_ticket_t cache_fill_begin(cache_t *c, const char *ns_id, const char *key, size_t key_len)
{
    /* No lock: the counter is only compared later, under the lock. */
    cache_shard_t *s = cache__shard(c, cache__hash(ns_id, key, key_len));
    return cache__ticket(s, atomic_load(&s->writes));
}

void cache_fill(cache_t *c, cache_ticket_t t, const char *ns_id, const char *key, size_t key_len,
                stor_blob_t *blob)
{
    cache__offer(c, &t, ns_id, key, key_len, blob);
}

void cache_put(cache_t *c, const char *ns_id, const char *key, size_t key_len, stor_blob_t *blob)
{
    KV_ASSERT(blob != NULL);
    cache__offer(c, NULL, ns_id, key, key_len, blob);
}

bool cache_written(cache_t *c, const char *ns_id, const char *key, size_t key_len)
{
    uint64_t hash = cache__hash(ns_id, key, key_len);
    cache_shard_t *s = cache__shard(c, hash);
    pthread_mutex_lock(&s->lock);
    atomic_fetch_add(&s->writes, 1);
    bool cached = cache__find(s, hash, ns_id, key, key_len) != NULL;
    pthread_mutex_unlock(&s->lock);
    return cached;
}

void cache_invalidate(cache_t *c, const char *ns_id, const char *key, size_t key_len)
{
    uint64_t hash = cache__hash(ns_id, key, key_len);
    cache_shard_t *s = cache__shard(c, hash);
    cache_entry_t *garbage = NULL;
    pthread_mutex_lock(&s->lock);
    /* Counts as a write: a read that raced it must not refill the old value.
     * Whatever is cached goes, even a newer version: a miss is always safe. */
    atomic_fetch_add(&s->writes, 1);
    cache_entry_t *e = cache__find(s, hash, ns_id, key, key_len);
    if (e)
        cache__remove(s, e, &garbage);
    pthread_mutex_unlock(&s->lock);
    cache__release(garbage);
}

void cache_drop_namespace(cache_t *c, const char *ns_id)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        cache_shard_t *s = &c->shards[i];
        cache_entry_t *garbage = NULL;
        pthread_mutex_lock(&s->lock);
        /* A fill racing the drop must not bring the namespace back. */
        atomic_fetch_add(&s->writes, 1);
        cache_entry_t *e = s->head;
        while (e) {
            cache_entry_t *next = e->next;
            if (!ns_id || memcmp(e->ns_id, ns_id, KV_NS_ID_LEN) == 0)
                cache__remove(s, e, &garbage);
            e = next;
        }
        pthread_mutex_unlock(&s->lock);
        cache__release(garbage);
    }
}

void cache_clear(cache_t *c)
{
    cache_drop_namespace(c, NULL);
}

void cache_get_stats(cache_t *c, cache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->max_bytes = c->max_bytes;
    for (unsigned i = 0; i < c->nshards; i++) {
        cache_shard_t *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->hits += s->hits;
        out->misses += s->misses;
        out->negative_hits += s->negative_hits;
        out->fills += s->fills;
        out->fills_refused += s->fills_refused;
        out->evictions += s->evictions;
        out->bytes += s->bytes;
        out->entries += s->entries;
        pthread_mutex_unlock(&s->lock);
    }
}
