/*
 * kvops.c - validation, cached reads and stamped writes shared by the REST
 * API and the binding protocol. Messages are byte-for-byte those of
 * KV-SPEC §2 (Miniflare's gateway texts, as production returns them).
 */
#include "kvops.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "replica.h"
#include "text.h"

/* Re-stamps of one write that lost to a stored newer version. One suffices
 * (the clock then observed the newer version); more means a concurrent
 * writer kept winning, and we give up rather than loop. */
#define KVOPS_RESTAMP_MAX 4

struct kvops {
    stor_t *store;
    cache_t *cache;
    pthread_mutex_t hlc_lock; /* guards hlc */
    hlc_t hlc;
    kvops_clock_fn clock;
    void *clock_arg;
    replica_t *replica; /* NULL: local writes */
    void (*token_hook)(void *arg);
    void *token_hook_arg;
};

static uint64_t wall_ms(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int kvops_create(stor_t *store, cache_t *cache, uint32_t node_id, kvops_t **out)
{
    kvops_t *k = kv_calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->store = store;
    k->cache = cache;
    k->clock = wall_ms;
    pthread_mutex_init(&k->hlc_lock, NULL);
    hlc_init(&k->hlc, node_id, 0);
    *out = k;
    return 0;
}

void kvops_destroy(kvops_t *k)
{
    if (!k)
        return;
    pthread_mutex_destroy(&k->hlc_lock);
    kv_free(k);
}

void kvops_set_replica(kvops_t *k, struct replica *r)
{
    k->replica = r;
}

void kvops_set_clock(kvops_t *k, kvops_clock_fn fn, void *arg)
{
    k->clock = fn ? fn : wall_ms;
    k->clock_arg = arg;
}

uint64_t kvops_now_ms(kvops_t *k)
{
    return k->clock(k->clock_arg);
}

int64_t kvops_now_s(kvops_t *k)
{
    return (int64_t)(kvops_now_ms(k) / 1000u);
}

stor_t *kvops_store(kvops_t *k)
{
    return k->store;
}

cache_t *kvops_cache(kvops_t *k)
{
    return k->cache;
}

__attribute__((format(printf, 4, 5))) static int fail(kvop_err_t *e, int status, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int kvops_check_key(const char *key, size_t len, kvop_err_t *e)
{
    if (len == 0)
        return fail(e, 400, KVOP_CODE_KEY_INVALID, "Key names must not be empty");
    if ((len == 1 && key[0] == '.') || (len == 2 && key[0] == '.' && key[1] == '.'))
        return fail(e, 400, KVOP_CODE_KEY_INVALID,
                    "Illegal key name \"%.*s\". Please use a different name.", (int)len, key);
    if (len > KV_KEY_MAX_BYTES)
        return fail(e, 414, KVOP_CODE_KEY_INVALID,
                    "UTF-8 encoded length of %zu exceeds key length limit of %d.", len,
                    KV_KEY_MAX_BYTES);
    return 0;
}

int kvops_check_expiry(bool has_ttl, int64_t ttl, bool has_exp, int64_t exp, int64_t now_s,
                       int64_t *exp_abs, kvop_err_t *e)
{
    *exp_abs = 0;
    if (has_ttl) {
        if (ttl <= 0)
            return fail(e, 400, KVOP_CODE_EXPIRATION,
                        "Invalid expiration_ttl of %lld. Please specify integer greater than 0.",
                        (long long)ttl);
        if (ttl < KV_EXPIRATION_MIN_TTL_S)
            return fail(e, 400, KVOP_CODE_EXPIRATION,
                        "Invalid expiration_ttl of %lld. Expiration TTL must be at least %d.",
                        (long long)ttl, KV_EXPIRATION_MIN_TTL_S);
        *exp_abs = now_s + ttl;
        return 0;
    }
    if (has_exp) {
        if (exp <= now_s)
            return fail(e, 400, KVOP_CODE_EXPIRATION,
                        "Invalid expiration of %lld. Please specify integer greater than the "
                        "current number of seconds since the UNIX epoch.",
                        (long long)exp);
        if (exp < now_s + KV_EXPIRATION_MIN_TTL_S)
            return fail(e, 400, KVOP_CODE_EXPIRATION,
                        "Invalid expiration of %lld. Expiration times must be at least %d "
                        "seconds in the future.",
                        (long long)exp, KV_EXPIRATION_MIN_TTL_S);
        *exp_abs = exp;
    }
    return 0;
}

int kvops_check_metadata(const char *meta, size_t len, kvop_err_t *e)
{
    json_t *j;
    json_error_t jerr;
    if (len > KV_METADATA_MAX_BYTES)
        return fail(e, 413, KVOP_CODE_METADATA, "Metadata length of %zu exceeds limit of %d.", len,
                    KV_METADATA_MAX_BYTES);
    j = json_loadb(meta, len, JSON_DECODE_ANY, &jerr);
    if (!j)
        return fail(e, 400, KVOP_CODE_METADATA, "Metadata must be valid JSON: %s", jerr.text);
    json_decref(j);
    return 0;
}

int kvops_check_value_len(uint64_t len, kvop_err_t *e)
{
    if (len > KV_VALUE_MAX_BYTES)
        return fail(e, 413, KVOP_CODE_TOO_LARGE, "Value length of %llu exceeds limit of %u.",
                    (unsigned long long)len, KV_VALUE_MAX_BYTES);
    return 0;
}

void kvops_internal(int rc, const char *what, kvop_err_t *e)
{
    if (rc == KV_EUNAVAILABLE || rc == KV_ETIMEDOUT || rc == KV_ESHUTDOWN) {
        /* The origin could not be reached (or the node is stopping): the
         * write may or may not have been applied; a retry is safe (LWW). */
        KV_LOG_WARN("kvops", "%s: %s", what, kv_strerror(rc));
        fail(e, 503, KVOP_CODE_UNAVAILABLE, "Service Unavailable");
        return;
    }
    if (rc == KV_ETOOBIG) {
        /* A write through an edge travels as one replication frame. */
        fail(e, 413, KVOP_CODE_TOO_LARGE,
             "Request too large to forward to the origin in one piece (over %u bytes); "
             "split the bulk request",
             KV_FRAME_MAX_BYTES);
        return;
    }
    KV_LOG_ERROR("kvops", "%s: %s", what, kv_strerror(rc));
    fail(e, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
}

/* ---- reads ---------------------------------------------------------------- */

static stor_blob_t *visible(stor_blob_t *b, int64_t now_s)
{
    stor_record_t rec;
    if (!b)
        return NULL;
    stor_blob_record(b, &rec);
    if (stor_record_hidden(&rec, now_s)) {
        stor_blob_unref(b);
        return NULL;
    }
    return b;
}

int kvops_get(kvops_t *k, const char *ns, const char *key, size_t key_len, stor_blob_t **out)
{
    stor_blob_t *b = NULL;
    cache_ticket_t t;
    int rc;

    *out = NULL;
    switch (cache_get(k->cache, ns, key, key_len, &b)) {
    case CACHE_HIT:
        *out = visible(b, kvops_now_s(k));
        return 0;
    case CACHE_NEGATIVE:
        return 0;
    case CACHE_MISS:
        break;
    }
    t = cache_fill_begin(k->cache, ns, key, key_len);
    rc = stor_get(k->store, ns, key, key_len, &b);
    if (rc != 0)
        return rc;
    cache_fill(k->cache, t, ns, key, key_len, b);
    *out = visible(b, kvops_now_s(k));
    return 0;
}

int kvops_multi_get(kvops_t *k, const char *ns, const char *const *keys, const size_t *lens,
                    size_t n, stor_blob_t **out)
{
    size_t i, nm = 0, *idx;
    cache_ticket_t *tickets;
    const char **mkeys;
    size_t *mlens;
    stor_blob_t **got;
    void *block;
    int64_t now_s = kvops_now_s(k);
    int rc;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0)
        return 0;
    /* The per-miss arrays in one allocation: a miss's fill ticket, its index
     * into keys, its key (length, pointer), what storage returned. Every
     * element is a uint64_t, a size_t or a pointer, so each array that
     * follows another is aligned. */
    block = kv_malloc(
        n * (2 * sizeof(size_t) + sizeof(cache_ticket_t) + sizeof(char *) + sizeof(stor_blob_t *)));
    if (!block)
        return -ENOMEM;
    tickets = block;
    idx = (size_t *)(tickets + n);
    mlens = idx + n;
    mkeys = (const char **)(mlens + n);
    got = (stor_blob_t **)(mkeys + n);
    for (i = 0; i < n; i++) {
        stor_blob_t *b = NULL;
        switch (cache_get(k->cache, ns, keys[i], lens[i], &b)) {
        case CACHE_HIT:
            out[i] = visible(b, now_s);
            break;
        case CACHE_NEGATIVE:
            break;
        case CACHE_MISS:
            idx[nm] = i;
            mkeys[nm] = keys[i];
            mlens[nm] = lens[i];
            nm++;
            break;
        }
    }
    /* Every miss takes its ticket before storage is read (cache.h), then
     * one RocksDB MultiGet fetches them all. */
    for (i = 0; i < nm; i++)
        tickets[i] = cache_fill_begin(k->cache, ns, mkeys[i], mlens[i]);
    rc = nm ? stor_multi_get(k->store, ns, mkeys, mlens, nm, got) : 0;
    if (rc != 0) {
        for (i = 0; i < n; i++) {
            stor_blob_unref(out[i]);
            out[i] = NULL;
        }
        kv_free(block);
        return rc;
    }
    for (i = 0; i < nm; i++) {
        cache_fill(k->cache, tickets[i], ns, mkeys[i], mlens[i], got[i]);
        out[idx[i]] = visible(got[i], now_s);
    }
    kv_free(block);
    return 0;
}

/* ---- writes --------------------------------------------------------------- */

static kv_version_t stamp(kvops_t *k)
{
    kv_version_t v;
    pthread_mutex_lock(&k->hlc_lock);
    v = hlc_stamp(&k->hlc, kvops_now_ms(k));
    pthread_mutex_unlock(&k->hlc_lock);
    return v;
}

/* Move the clock past a version found in storage. */
static void observe(kvops_t *k, kv_version_t seen)
{
    uint64_t ts;
    pthread_mutex_lock(&k->hlc_lock);
    /* A stored version is a fact, not a hint: no offset bound applies. */
    (void)hlc_update(&k->hlc, seen.hlc, kvops_now_ms(k), UINT64_MAX / 2, &ts);
    pthread_mutex_unlock(&k->hlc_lock);
}

static void publish(kvops_t *k, const char *ns, const kvops_write_t *w, const stor_record_t *rec)
{
    stor_blob_t *b;
    if (w->value_len + w->metadata_len + STOR_RECORD_HEADER_BYTES > KV_CACHE_MAX_ENTRY_BYTES ||
        !(b = stor_blob_from_record(rec))) {
        cache_invalidate(k->cache, ns, w->key, w->key_len);
        return;
    }
    cache_put(k->cache, ns, w->key, w->key_len, b);
    stor_blob_unref(b);
}

static void fill_mutation(const char *ns, const kvops_write_t *w, kv_version_t v,
                          stor_mutation_t *m)
{
    m->ns_id = ns;
    m->key = w->key;
    m->key_len = w->key_len;
    m->rec.version = v;
    m->rec.tombstone = w->tombstone;
    m->rec.expiration = w->tombstone ? 0 : w->expiration;
    m->rec.metadata = w->tombstone ? NULL : w->metadata;
    m->rec.metadata_len = w->tombstone ? 0 : w->metadata_len;
    m->rec.value = w->tombstone ? NULL : w->value;
    m->rec.value_len = w->tombstone ? 0 : w->value_len;
}

/* Re-stamp and re-apply the writes of a batch that lost to a newer stored
 * version, one at a time. */
static int restamp(kvops_t *k, const char *ns, stor_mutation_t *m)
{
    int attempt, rc = KV_ESTALE;
    for (attempt = 0; attempt < KVOPS_RESTAMP_MAX && rc == KV_ESTALE; attempt++) {
        stor_blob_t *cur = NULL;
        if (stor_get(k->store, ns, m->key, m->key_len, &cur) == 0 && cur) {
            stor_record_t r;
            stor_blob_record(cur, &r);
            observe(k, r.version);
            stor_blob_unref(cur);
        }
        m->rec.version = stamp(k);
        rc = stor_apply(k->store, ns, m->key, m->key_len, &m->rec);
    }
    return rc;
}

/* Writes through the replication driver: ops in, one outcome per op. */
static int write_replicated(kvops_t *k, const char *ns, const kvops_write_t *w, size_t n)
{
    repl_op_t *ops = kv_calloc(n, sizeof *ops);
    int *res = kv_calloc(n, sizeof *res), rc;
    size_t i;
    if (!ops || !res) {
        kv_free(ops);
        kv_free(res);
        return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        repl_op_t *o = &ops[i];
        o->kind = w[i].tombstone ? REPL_OP_DELETE : REPL_OP_PUT;
        memcpy(o->ns_id, ns, KV_NS_ID_LEN);
        o->key = w[i].key;
        o->key_len = w[i].key_len;
        if (!w[i].tombstone) {
            o->value = w[i].value;
            o->value_len = w[i].value_len;
            o->metadata = w[i].metadata;
            o->metadata_len = w[i].metadata_len;
            o->expiration = w[i].expiration;
        }
    }
    rc = replica_write(k->replica, ops, n, res, NULL);
    /* A namespace deleted meanwhile refuses its writes: report it whole. */
    for (i = 0; rc == 0 && i < n; i++)
        if (res[i] != 0 && res[i] != KV_ESTALE)
            rc = res[i] == KV_ENOTFOUND ? KV_ENOTFOUND : res[i];
    kv_free(ops);
    kv_free(res);
    return rc;
}

static int ns_replicated(kvops_t *k, repl_op_kind_t kind, const char *id, const char *account,
                         const char *title)
{
    repl_op_t op = {.kind = kind, .account = account, .title = title};
    int res = 0, rc;
    memcpy(op.ns_id, id, KV_NS_ID_LEN);
    rc = replica_write(k->replica, &op, 1, &res, NULL);
    return rc != 0 ? rc : res;
}

int kvops_write(kvops_t *k, const char *ns, const kvops_write_t *w, size_t n)
{
    stor_mutation_t *m;
    int *res, rc;
    size_t i;

    if (n == 0)
        return 0;
    if (k->replica)
        return write_replicated(k, ns, w, n);
    m = kv_malloc(n * sizeof *m);
    res = kv_malloc(n * sizeof *res);
    if (!m || !res) {
        kv_free(m);
        kv_free(res);
        return -ENOMEM;
    }
    for (i = 0; i < n; i++)
        fill_mutation(ns, &w[i], stamp(k), &m[i]);
    rc = stor_apply_batch(k->store, m, n, res);
    for (i = 0; rc == 0 && i < n; i++) {
        int r = res[i] == KV_ESTALE ? restamp(k, ns, &m[i]) : res[i];
        if (r == 0) {
            publish(k, ns, &w[i], &m[i].rec);
        } else {
            /* What storage holds is unknown to us now: never keep a guess. */
            cache_invalidate(k->cache, ns, w[i].key, w[i].key_len);
            if (r != KV_ESTALE)
                rc = r;
        }
    }
    kv_free(m);
    kv_free(res);
    return rc;
}

int kvops_ns_create(kvops_t *k, const char *account, const char *title, stor_ns_t *out)
{
    char id[KV_NS_ID_LEN + 1];
    int rc;
    if (!k->replica)
        return stor_ns_create(k->store, account, title, stamp(k), NULL, out);
    /* The id is chosen here (128 random bits) and the origin checks it. */
    if ((rc = text_random_hex(id, KV_NS_ID_LEN)) != 0 ||
        (rc = ns_replicated(k, REPL_OP_NS_CREATE, id, account, title)) != 0)
        return rc;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->account, sizeof out->account, "%s", account);
    snprintf(out->title, sizeof out->title, "%s", title);
    return 0;
}

int kvops_ns_rename(kvops_t *k, const char *id, const char *title)
{
    if (k->replica)
        return ns_replicated(k, REPL_OP_NS_RENAME, id, NULL, title);
    return stor_ns_rename(k->store, id, title, stamp(k));
}

int kvops_ns_delete(kvops_t *k, const char *id)
{
    int rc;
    if (k->replica)
        return ns_replicated(k, REPL_OP_NS_DELETE, id, NULL, NULL);
    rc = stor_ns_delete(k->store, id, stamp(k));
    if (rc == 0)
        cache_drop_namespace(k->cache, id);
    return rc;
}

void kvops_set_token_hook(kvops_t *k, void (*fn)(void *arg), void *arg)
{
    k->token_hook = fn;
    k->token_hook_arg = arg;
}

static int token_write(kvops_t *k, repl_op_kind_t kind, const char *id, const char *record,
                       size_t len)
{
    char name[8 + REPL_TOKEN_ID_MAX_BYTES];
    int rc, res = 0;
    if (k->replica) {
        repl_op_t op = {.kind = kind,
                        .key = id,
                        .key_len = strlen(id),
                        .value = (const uint8_t *)record,
                        .value_len = record ? len : 0};
        memcpy(op.ns_id, REPL_TOKEN_NS_ID, sizeof op.ns_id);
        rc = replica_write(k->replica, &op, 1, &res, NULL);
        return rc != 0 ? rc : res;
    }
    snprintf(name, sizeof name, "token:%s", id);
    rc = stor_state_put(k->store, name, record ? record : "", record ? len : 0);
    if (rc == 0 && k->token_hook)
        k->token_hook(k->token_hook_arg);
    return rc;
}

int kvops_token_put(kvops_t *k, const char *id, const char *record, size_t len)
{
    return token_write(k, REPL_OP_TOKEN_PUT, id, record, len);
}

int kvops_token_delete(kvops_t *k, const char *id)
{
    return token_write(k, REPL_OP_TOKEN_DELETE, id, NULL, 0);
}
