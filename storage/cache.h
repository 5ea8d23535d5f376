/*
 * cache.h - the in-memory read cache in front of the RocksDB replica.
 *
 * Keyed by namespace id + user key; holds the record blob (positive entry)
 * or the knowledge that nothing live is stored (negative entry). Bounded by
 * bytes, evicting least recently used entries within each shard.
 *
 * It never serves a version older than the replica. Two rules give that:
 *  - Writers publish the new version with cache_put() right after storage
 *    accepted it (write-through, including tombstones as negative entries),
 *    and a put never replaces an entry with an older version.
 *  - Readers that miss take a ticket with cache_fill_begin() BEFORE reading
 *    storage and hand it to cache_fill(). Any cache_put() to the same shard in
 *    between invalidates the ticket, so a read that raced a write (and may
 *    have seen the old version) never installs it, even if the write's own
 *    entry was evicted meanwhile.
 *
 * Thread-safety: all functions may be called concurrently; shards are
 * guarded by their own mutex. Expiry is not judged here: the caller checks
 * the record it gets (stor_record_hidden).
 */
#ifndef CACHE_H
#define CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_version.h"
#include "record.h"

typedef struct cache cache_t;

/* A fill ticket (opaque value). */
typedef uint64_t cache_ticket_t;

/* max_bytes counts keys, blobs and per-entry overhead. 0 disables caching
 * (every lookup misses, puts and fills are no-ops). */
int cache_create(size_t max_bytes, cache_t **out);
void cache_destroy(cache_t *c);

typedef enum {
    CACHE_MISS,    /* nothing known: read storage */
    CACHE_HIT,     /* *blob set: a new reference the caller must unref */
    CACHE_NEGATIVE /* known absent (never stored, or a tombstone) */
} cache_result_t;

cache_result_t cache_get(cache_t *c, const char *ns_id, const char *key, size_t key_len,
                         stor_blob_t **blob);

/* Take before reading storage on a miss. */
cache_ticket_t cache_fill_begin(cache_t *c, const char *ns_id, const char *key, size_t key_len);

/* Install what storage returned: blob (a reference is taken; NULL means
 * nothing stored -> negative entry with the zero version). Refused when the
 * ticket is stale or a newer version is cached. Blobs larger than
 * KV_CACHE_MAX_ENTRY_BYTES are not cached. */
void cache_fill(cache_t *c, cache_ticket_t t, const char *ns_id, const char *key, size_t key_len,
                stor_blob_t *blob);

/* Write-through after a successful storage write of `blob` (its record may
 * be a tombstone, cached as negative). Invalidates outstanding tickets of the
 * shard. Never replaces a newer cached version. */
void cache_put(cache_t *c, const char *ns_id, const char *key, size_t key_len, stor_blob_t *blob);

/* A write of (ns, key) is about to be published: invalidates outstanding
 * tickets of its shard at once (a read that raced the write cannot install
 * what it read) and tells whether the key has an entry, a value or a
 * negative one. A writer that only keeps cached keys fresh (an edge: a
 * replicated write of a key nobody read there costs no blob and evicts
 * nothing) replaces it with cache_put() when true and is done when false. */
bool cache_written(cache_t *c, const char *ns_id, const char *key, size_t key_len);

/* Forget (ns, key) and invalidate outstanding tickets of its shard: the
 * write-through for a record too large to cache. */
void cache_invalidate(cache_t *c, const char *ns_id, const char *key, size_t key_len);

/* Drop every entry of a namespace (namespace deleted). */
void cache_drop_namespace(cache_t *c, const char *ns_id);

/* Drop every entry (a replica reset before a snapshot). */
void cache_clear(cache_t *c);

typedef struct {
    uint64_t hits, misses, negative_hits;
    uint64_t fills, fills_refused, evictions;
    uint64_t bytes, entries, max_bytes;
} cache_stats_t;

void cache_get_stats(cache_t *c, cache_stats_t *out);

#endif
