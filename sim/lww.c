/*
 * lww.c - the replica model of lww.h: the keyspace (key and value
 * interning, open-addressing hash tables), the LWW rule, namespace records,
 * comparison and snapshots.
 */
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "lww.h"

#define LWW__NOMEM(p) KV_ASSERT((p) != NULL && "lww model out of memory")

typedef struct {
    char ns[KV_NS_ID_LEN + 1];
    char *key;
    size_t len;
    uint64_t hash;
} lww__key_t;

typedef struct {
    uint8_t *bytes;
    size_t len;
    char *meta; /* NULL: none */
    size_t meta_len;
    int64_t exp;
    uint64_t hash;
} lww__val_t;

/* An open-addressing table of entry numbers + 1 (0: empty), at most half
 * full. */
typedef struct {
    uint32_t *t;
    size_t cap;
} lww__tab_t;

struct lww_keys {
    bool keep_values;
    lww__key_t *keys;
    size_t nkeys, kcap;
    lww__tab_t ktab;
    lww__val_t *vals;
    size_t nvals, vcap;
    lww__tab_t vtab;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t key_hash(const char *ns, const char *key, size_t len)
{
    uint64_t w[2];
    memcpy(w, ns, sizeof w); /* a namespace id is 32 hex digits: 16 tell them apart */
    return fnv(UINT64_C(0xcbf29ce484222325) ^ w[0] ^ (w[1] << 1), key, len);
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    LWW__NOMEM(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* ---- hash tables ------------------------------------------------------------------ */

static void tab_put(lww__tab_t *t, uint64_t hash, uint32_t entry)
{
    size_t i = (size_t)hash & (t->cap - 1);
    while (t->t[i])
        i = (i + 1) & (t->cap - 1);
    t->t[i] = entry + 1;
}

/* Room for one more of n entries; hash_of(i) rehashes entry i. */
static void tab_reserve(lww__tab_t *t, size_t n, const lww_keys_t *k,
                        uint64_t (*hash_of)(const lww_keys_t *k, size_t i))
{
    if (2 * (n + 1) <= t->cap)
        return;
    size_t cap = t->cap ? 2 * t->cap : 64;
    lww__tab_t nt = {calloc(cap, sizeof *nt.t), cap};
    LWW__NOMEM(nt.t);
    for (size_t i = 0; i < n; i++)
        tab_put(&nt, hash_of(k, i), (uint32_t)i);
    free(t->t);
    *t = nt;
}

static uint64_t key_hash_of(const lww_keys_t *k, size_t i)
{
    return k->keys[i].hash;
}

static uint64_t val_hash_of(const lww_keys_t *k, size_t i)
{
    return k->vals[i].hash;
}

/* ---- the keyspace ----------------------------------------------------------------- */

lww_keys_t *lww_keys_new(bool keep_values)
{
    lww_keys_t *k = calloc(1, sizeof *k);
    LWW__NOMEM(k);
    k->keep_values = keep_values;
    return k;
}

void lww_keys_free(lww_keys_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nkeys; i++)
        free(k->keys[i].key);
    for (size_t i = 0; i < k->nvals; i++) {
        free(k->vals[i].bytes);
        free(k->vals[i].meta);
    }
    free(k->keys);
    free(k->vals);
    free(k->ktab.t);
    free(k->vtab.t);
    free(k);
}

uint32_t lww_keys_find(const lww_keys_t *k, const char *ns, const char *key, size_t len)
{
    if (!k->ktab.cap)
        return UINT32_MAX;
    uint64_t h = key_hash(ns, key, len);
    for (size_t i = (size_t)h & (k->ktab.cap - 1); k->ktab.t[i]; i = (i + 1) & (k->ktab.cap - 1)) {
        const lww__key_t *e = &k->keys[k->ktab.t[i] - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0 &&
            memcmp(e->ns, ns, KV_NS_ID_LEN) == 0)
            return k->ktab.t[i] - 1;
    }
    return UINT32_MAX;
}

uint32_t lww_keys_slot(lww_keys_t *k, const char *ns, const char *key, size_t len)
{
    uint32_t slot = lww_keys_find(k, ns, key, len);
    if (slot != UINT32_MAX)
        return slot;
    KV_ASSERT(k->nkeys < UINT32_MAX - 1);
    tab_reserve(&k->ktab, k->nkeys, k, key_hash_of);
    if (k->nkeys == k->kcap) {
        k->kcap = k->kcap ? 2 * k->kcap : 64;
        k->keys = realloc(k->keys, k->kcap * sizeof *k->keys);
        LWW__NOMEM(k->keys);
    }
    lww__key_t *e = &k->keys[k->nkeys];
    memcpy(e->ns, ns, KV_NS_ID_LEN);
    e->ns[KV_NS_ID_LEN] = '\0';
    e->key = dup_bytes(key, len);
    e->len = len;
    e->hash = key_hash(ns, key, len);
    tab_put(&k->ktab, e->hash, (uint32_t)k->nkeys);
    return (uint32_t)k->nkeys++;
}

size_t lww_keys_count(const lww_keys_t *k)
{
    return k->nkeys;
}

const char *lww_keys_name(const lww_keys_t *k, uint32_t slot, const char **ns, size_t *len)
{
    KV_ASSERT(slot < k->nkeys);
    *ns = k->keys[slot].ns;
    *len = k->keys[slot].len;
    return k->keys[slot].key;
}

static uint64_t val_hash(const uint8_t *b, size_t len, const char *meta, size_t meta_len,
                         int64_t exp)
{
    uint64_t h = fnv(UINT64_C(0xcbf29ce484222325), b, len);
    h = fnv(h, &meta_len, sizeof meta_len);
    h = fnv(h, meta, meta ? meta_len : 0);
    return fnv(h, &exp, sizeof exp);
}

uint32_t lww_keys_value(lww_keys_t *k, const repl_op_t *op)
{
    if (!k->keep_values) {
        uint32_t id = 0;
        if (op->value_len >= sizeof id)
            memcpy(&id, op->value, sizeof id);
        return id;
    }
    const char *meta = op->metadata && op->metadata_len ? op->metadata : NULL;
    size_t meta_len = meta ? op->metadata_len : 0;
    uint64_t h = val_hash(op->value, op->value_len, meta, meta_len, op->expiration);
    if (k->vtab.cap) {
        for (size_t i = (size_t)h & (k->vtab.cap - 1); k->vtab.t[i];
             i = (i + 1) & (k->vtab.cap - 1)) {
            const lww__val_t *e = &k->vals[k->vtab.t[i] - 1];
            if (e->hash == h && e->len == op->value_len &&
                (e->len == 0 || memcmp(e->bytes, op->value, e->len) == 0) &&
                e->meta_len == meta_len && (!meta || memcmp(e->meta, meta, meta_len) == 0) &&
                e->exp == op->expiration)
                return k->vtab.t[i]; /* ids start at 1 */
        }
    }
    KV_ASSERT(k->nvals < UINT32_MAX - 1);
    tab_reserve(&k->vtab, k->nvals, k, val_hash_of);
    if (k->nvals == k->vcap) {
        k->vcap = k->vcap ? 2 * k->vcap : 64;
        k->vals = realloc(k->vals, k->vcap * sizeof *k->vals);
        LWW__NOMEM(k->vals);
    }
    lww__val_t *e = &k->vals[k->nvals];
    e->bytes = dup_bytes(op->value, op->value_len);
    e->len = op->value_len;
    e->meta = meta ? dup_bytes(meta, meta_len) : NULL;
    e->meta_len = meta_len;
    e->exp = op->expiration;
    e->hash = h;
    tab_put(&k->vtab, h, (uint32_t)k->nvals);
    return (uint32_t)++k->nvals;
}

void lww_keys_value_view(const lww_keys_t *k, uint32_t val, repl_op_t *op)
{
    KV_ASSERT(k->keep_values && val >= 1 && val <= k->nvals);
    const lww__val_t *e = &k->vals[val - 1];
    op->value = e->bytes;
    op->value_len = e->len;
    op->metadata = e->meta;
    op->metadata_len = e->meta_len;
    op->expiration = e->exp;
}

/* ---- replicas --------------------------------------------------------------------- */

void lww_replica_init(lww_replica_t *r, lww_keys_t *k)
{
    memset(r, 0, sizeof *r);
    r->keys = k;
    r->stride = 1;
}

void lww_replica_init_fixed(lww_replica_t *r, lww_keys_t *k, lww_rec_t *recs, size_t cap)
{
    lww_replica_init_strided(r, k, recs, cap, 1);
}

void lww_replica_init_strided(lww_replica_t *r, lww_keys_t *k, lww_rec_t *recs, size_t cap,
                              size_t stride)
{
    KV_ASSERT(stride >= 1);
    lww_replica_init(r, k);
    r->recs = recs;
    r->cap = cap;
    r->stride = stride;
    r->fixed = true;
}

static void ns_clear(lww_replica_t *r)
{
    for (size_t i = 0; i < r->nns; i++) {
        free(r->ns[i].title);
        free(r->ns[i].account);
    }
    r->nns = 0;
}

void lww_replica_free(lww_replica_t *r)
{
    ns_clear(r);
    free(r->ns);
    if (!r->fixed)
        free(r->recs);
    memset(r, 0, sizeof *r);
}

void lww_replica_clear(lww_replica_t *r)
{
    if (r->stride == 1 && r->cap)
        memset(r->recs, 0, r->cap * sizeof *r->recs);
    else
        for (uint32_t i = 0; i < r->cap; i++)
            memset(lww_rec(r, i), 0, sizeof(lww_rec_t));
    ns_clear(r);
    r->applied_seq = 0;
    r->applied_version = KV_VERSION_ZERO;
    r->history[0] = '\0';
}

static lww_rec_t *rec_at(lww_replica_t *r, uint32_t slot)
{
    if (slot < r->cap)
        return lww_rec(r, slot);
    KV_ASSERT(!r->fixed && "slot past a fixed replica");
    size_t cap = r->cap ? r->cap : 64;
    while (cap <= slot)
        cap *= 2;
    r->recs = realloc(r->recs, cap * sizeof *r->recs);
    LWW__NOMEM(r->recs);
    memset(r->recs + r->cap, 0, (cap - r->cap) * sizeof *r->recs);
    r->cap = cap;
    return &r->recs[slot];
}

bool lww_apply(lww_replica_t *r, uint32_t slot, kv_version_t v, uint32_t val, uint32_t len,
               bool tomb)
{
    lww_rec_t *rec = rec_at(r, slot);
    if (v.hlc > r->hlc_max)
        r->hlc_max = v.hlc;
    if (kv_version_cmp(v, rec->v) <= 0)
        return false; /* older, or a duplicate: whatever the value */
    rec->v = v;
    rec->val = val;
    rec->len = len;
    rec->tomb = tomb;
    return true;
}

static lww_ns_t *ns_find(const lww_replica_t *r, const char *id)
{
    for (size_t i = 0; i < r->nns; i++)
        if (memcmp(r->ns[i].id, id, KV_NS_ID_LEN) == 0)
            return &r->ns[i];
    return NULL;
}

static char *dup_str(const char *s)
{
    return s ? dup_bytes(s, strlen(s) + 1) : NULL;
}

static bool apply_ns(lww_replica_t *r, const repl_mutation_t *m)
{
    const repl_op_t *op = &m->op;
    if (m->version.hlc > r->hlc_max)
        r->hlc_max = m->version.hlc;
    lww_ns_t *n = ns_find(r, op->ns_id);
    if (n && kv_version_cmp(m->version, n->v) <= 0)
        return false;
    if (!n) {
        if (r->nns == r->nscap) {
            r->nscap = r->nscap ? 2 * r->nscap : 8;
            r->ns = realloc(r->ns, r->nscap * sizeof *r->ns);
            LWW__NOMEM(r->ns);
        }
        n = &r->ns[r->nns++];
        memset(n, 0, sizeof *n);
        memcpy(n->id, op->ns_id, KV_NS_ID_LEN);
    }
    n->v = m->version;
    n->deleted = op->kind == REPL_OP_NS_DELETE;
    if (n->deleted)
        return true;
    free(n->title);
    n->title = dup_str(op->title);
    if (op->kind == REPL_OP_NS_CREATE) {
        free(n->account);
        n->account = dup_str(op->account);
    }
    return true;
}

bool lww_apply_mut(lww_replica_t *r, const repl_mutation_t *m, uint32_t *slot)
{
    const repl_op_t *op = &m->op;
    *slot = UINT32_MAX;
    if (op->kind == REPL_OP_NOOP)
        return false;
    if (!repl_op_has_key(op->kind))
        return apply_ns(r, m);
    *slot = lww_keys_slot(r->keys, op->ns_id, op->key, op->key_len);
    if (!repl_op_has_value(op->kind))
        return lww_apply(r, *slot, m->version, 0, 0, true);
    return lww_apply(r, *slot, m->version, lww_keys_value(r->keys, op), (uint32_t)op->value_len,
                     false);
}

const lww_rec_t *lww_get(const lww_replica_t *r, uint32_t slot)
{
    if (slot >= r->cap || kv_version_is_zero(lww_rec(r, slot)->v))
        return NULL;
    return lww_rec(r, slot);
}

const lww_rec_t *lww_lookup(const lww_replica_t *r, const char *ns, const char *key)
{
    uint32_t slot = lww_keys_find(r->keys, ns, key, strlen(key));
    return slot == UINT32_MAX ? NULL : lww_get(r, slot);
}

static bool rec_equal(const lww_rec_t *a, const lww_rec_t *b)
{
    if (kv_version_cmp(a->v, b->v) != 0 || a->tomb != b->tomb)
        return false;
    return a->tomb || (a->val == b->val && a->len == b->len);
}

bool lww_equal(const lww_replica_t *a, const lww_replica_t *b)
{
    static const lww_rec_t none;
    KV_ASSERT(a->keys == b->keys && "slots of different keyspaces");
    size_t n = a->cap > b->cap ? a->cap : b->cap;
    for (size_t i = 0; i < n; i++)
        if (!rec_equal(i < a->cap ? lww_rec(a, (uint32_t)i) : &none,
                       i < b->cap ? lww_rec(b, (uint32_t)i) : &none))
            return false;
    if (a->nns != b->nns)
        return false;
    for (size_t i = 0; i < a->nns; i++) {
        const lww_ns_t *x = &a->ns[i], *y = ns_find(b, x->id);
        if (!y || kv_version_cmp(x->v, y->v) != 0 || x->deleted != y->deleted)
            return false;
        if (!x->deleted && strcmp(x->title ? x->title : "", y->title ? y->title : "") != 0)
            return false;
    }
    return true;
}

size_t lww_snapshot(const lww_replica_t *r, repl_mutation_t **out)
{
    size_t n = r->nns;
    for (uint32_t i = 0; i < r->cap; i++)
        n += !kv_version_is_zero(lww_rec(r, i)->v);
    repl_mutation_t *s = calloc(n ? n : 1, sizeof *s);
    LWW__NOMEM(s);
    size_t k = 0;
    for (uint32_t i = 0; i < r->cap; i++) {
        const lww_rec_t *rec = lww_rec(r, i);
        if (kv_version_is_zero(rec->v))
            continue;
        repl_op_t *op = &s[k].op;
        s[k++].version = rec->v;
        const char *ns;
        op->key = lww_keys_name(r->keys, i, &ns, &op->key_len);
        memcpy(op->ns_id, ns, sizeof op->ns_id);
        bool token = memcmp(ns, REPL_TOKEN_NS_ID, KV_NS_ID_LEN) == 0;
        if (rec->tomb) {
            op->kind = token ? REPL_OP_TOKEN_DELETE : REPL_OP_DELETE;
        } else {
            op->kind = token ? REPL_OP_TOKEN_PUT : REPL_OP_PUT;
            lww_keys_value_view(r->keys, rec->val, op);
        }
    }
    for (size_t i = 0; i < r->nns; i++) {
        const lww_ns_t *x = &r->ns[i];
        repl_op_t *op = &s[k].op;
        s[k++].version = x->v;
        op->kind = x->deleted ? REPL_OP_NS_DELETE : REPL_OP_NS_CREATE;
        memcpy(op->ns_id, x->id, sizeof op->ns_id);
        op->title = x->title ? x->title : "untitled";
        op->account = x->account ? x->account : "acct";
    }
    *out = s;
    return n;
}
