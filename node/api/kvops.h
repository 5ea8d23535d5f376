/*
 * kvops.h - the Workers KV operations both APIs share.
 *
 * The REST API and the binding protocol differ only in how they frame
 * requests and errors; what a key may be, which expirations are valid, how
 * a read consults the cache and where a write goes is the same.
 * That lives here, with the exact validation texts of KV-SPEC §2 in the
 * spec's validation order, so the two front ends cannot drift apart.
 *
 * Reads (kvops_get, kvops_list, ...) are cheap and run on the event loop.
 * Writes go to the origin's replication core through the node's replica
 * (node/replica/replica.h) - on a lone origin too - which orders, versions and
 * judges them (node/replica/judge.h) and answers once they are durable; they block
 * and must run off the loop (the HTTP front ends use uv_queue_work). All
 * functions are thread-safe.
 */
#ifndef NODE_KVOPS_H
#define NODE_KVOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "store.h"

#define KVOP_MSG_MAX 768

/* REST error codes. Observed in production: KEY_NOT_FOUND, NS_NOT_FOUND,
 * NS_TITLE_EXISTS, BASE64, EXPIRATION, AUTH, NO_ROUTE. The others are not
 * documented publicly; edgekv picks codes from the ranges legacy wrangler
 * lists for the same family (README, "REST error codes"). */
#define KVOP_CODE_AUTH             10000
#define KVOP_CODE_BAD_REQUEST      10001
#define KVOP_CODE_KEY_NOT_FOUND    10009
#define KVOP_CODE_NS_ID_INVALID    10011
#define KVOP_CODE_BASE64           10012
#define KVOP_CODE_NS_NOT_FOUND     10013
#define KVOP_CODE_NS_TITLE_EXISTS  10014
#define KVOP_CODE_NS_TITLE_INVALID 10018
#define KVOP_CODE_KEY_INVALID      10019
#define KVOP_CODE_LIMIT            10022
#define KVOP_CODE_TOO_MANY_ITEMS   10024
#define KVOP_CODE_NS_LIMIT         10026
#define KVOP_CODE_TOO_LARGE        10030
#define KVOP_CODE_EXPIRATION       10033
#define KVOP_CODE_METADATA         10035
#define KVOP_CODE_INTERNAL         10043
#define KVOP_CODE_UNAVAILABLE      10044
#define KVOP_CODE_NO_ROUTE         7003
#define KVOP_CODE_METHOD           7001

/* An operation's failure as both APIs report it. */
typedef struct {
    int status; /* HTTP status */
    int code;   /* REST error code */
    char msg[KVOP_MSG_MAX];
} kvop_err_t;

typedef struct kvops kvops_t;

/* Wall clock in ms; replaceable for tests. */
typedef uint64_t (*kvops_clock_fn)(void *arg);

/* The store and cache are borrowed and must outlive the kvops. */
int kvops_create(stor_t *store, cache_t *cache, kvops_t **out);
void kvops_destroy(kvops_t *k);
void kvops_set_clock(kvops_t *k, kvops_clock_fn fn, void *arg);
uint64_t kvops_now_ms(kvops_t *k);
/* floor(ms / 1000): the "now" of every expiration rule. */
int64_t kvops_now_s(kvops_t *k);
stor_t *kvops_store(kvops_t *k);
cache_t *kvops_cache(kvops_t *k);

/* ---- validation (KV-SPEC §2); each returns 0 or -1 with *e filled ------- */

/* The second sentence of rules 7 and 9 ("Invalid expiration_ttl of N. "...),
 * shared with the binding protocol's not-a-number answers. */
#define KVOPS_RULE_TTL_POSITIVE "Please specify integer greater than 0."
#define KVOPS_RULE_EXPIRATION_FUTURE                                                               \
    "Please specify integer greater than the current number of seconds since the UNIX epoch."

/* Rule 11: the runtime's text for a number outside its 32-bit int range.
 * The gateway never sees one from a Worker; where a client sends one anyway
 * (REST, a raw binding request) it is the closest rule, and the answer. */
#define KVOPS_RULE_RANGE                                                                           \
    "Value out of range. Must be between -2147483648 and 2147483647 (inclusive)."

/* Not UTF-8 (rule 5's text: the gateway's URL-decoding refuses such
 * bytes), empty, "." / "..", longer than KV_KEY_MAX_BYTES (rule 4b). */
int kvops_check_key(const char *key, size_t len, kvop_err_t *e);
/* Rules 7-10, TTL first when present, each value first held to rule 11's
 * int32 range (so now + ttl never overflows). *exp_abs = absolute seconds
 * or 0. */
int kvops_check_expiry(bool has_ttl, int64_t ttl, bool has_exp, int64_t exp, int64_t now_s,
                       int64_t *exp_abs, kvop_err_t *e);
/* Rule 13, then well-formed JSON. */
int kvops_check_metadata(const char *meta, size_t len, kvop_err_t *e);
/* Rule 14. */
int kvops_check_value_len(uint64_t len, kvop_err_t *e);
/* Map a storage or replication error to its answer (logged once here): 503
 * when the origin is unreachable or refused this edge's clock hint, 413 for
 * a write too big to forward, else 500. */
void kvops_internal(int rc, const char *what, kvop_err_t *e);

/* ---- reads (run on the loop) ---------------------------------------------- */

/* The visible record of (ns, key): *out = new blob reference or NULL when
 * absent, deleted or expired. Uses the cache. 0 or a negative code. */
int kvops_get(kvops_t *k, const char *ns, const char *key, size_t key_len, stor_blob_t **out);

/* n keys of one namespace at once; out[i] as kvops_get (every out[i] NULL
 * on an error). Each key is looked up in the cache; the misses are read
 * from storage with one stor_multi_get (a RocksDB MultiGet) and fill the
 * cache as kvops_get does. Keys may repeat. */
int kvops_multi_get(kvops_t *k, const char *ns, const char *const *keys, const size_t *lens,
                    size_t n, stor_blob_t **out);

/* ---- writes (block: run off the loop) --------------------------------------- */

typedef struct {
    const char *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    const char *metadata; /* JSON text or NULL */
    size_t metadata_len;
    int64_t expiration; /* absolute seconds or 0 */
    bool tombstone;     /* delete */
} kvops_write_t;

/* Writes of one namespace, atomically (one group commit at the origin).
 * Blocks until the origin made them durable and, on an edge, they were
 * applied here (read-your-writes); the write cache is updated by the
 * commit. 0, KV_ENOTFOUND (the namespace is gone), or the replica's error
 * (KV_EUNAVAILABLE, KV_ETIMEDOUT, KV_ESHUTDOWN, KV_ETOOBIG...).
 * auth_id, in every write function below: the id of the API token the
 * caller checked (auth_check_id, node/api/auth.h), or NULL; an edge names it
 * to the origin, which refuses a write outside that token's scope with
 * KV_EUNAUTH (401) or KV_EFORBIDDEN (403) (node/replica/judge.h). */
int kvops_write(kvops_t *k, const char *auth_id, const char *ns, const kvops_write_t *w, size_t n);

/* The same without blocking, from any thread but the replication loop: no
 * thread waits while the write is committed. The write is held on the
 * calling thread until it calls replica_submit_flush() (an HTTP loop does
 * after each iteration: app.c), so a thread's writes reach the replication
 * loop together (replica_submit_held). done(arg, rc) is called once
 * with kvops_write's result, on the replication loop (node/replica/replica.h:
 * it must not block) or, when the write cannot start, before this returns.
 * w[] and the bytes it points to must stay valid until then. */
void kvops_write_async(kvops_t *k, const char *auth_id, const char *ns, const kvops_write_t *w,
                       size_t n, void (*done)(void *arg, int rc), void *arg);

/* The node's replica, where every write goes; required before the first
 * write (without it writes fail with KV_EUNAVAILABLE). Set before serving. */
struct replica;
void kvops_set_replica(kvops_t *k, struct replica *r);

/* API tokens (node/api/tokens.c): put a token record under `id` (KV_EEXISTS if
 * a live token has it), or revoke it (KV_ENOTFOUND if none is live).
 * Through the replication log, so every node's token table follows. */
int kvops_token_put(kvops_t *k, const char *auth_id, const char *id, const char *record,
                    size_t len);
int kvops_token_delete(kvops_t *k, const char *auth_id, const char *id);

/* Namespace changes, judged at the origin (node/replica/judge.h): KV_EEXISTS,
 * KV_ELIMIT, KV_ENOTFOUND as the rules there say. */
int kvops_ns_create(kvops_t *k, const char *auth_id, const char *account, const char *title,
                    stor_ns_t *out);
int kvops_ns_rename(kvops_t *k, const char *auth_id, const char *id, const char *title);
int kvops_ns_delete(kvops_t *k, const char *auth_id, const char *id);

#endif
