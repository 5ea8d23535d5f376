/*
 * store_rec.c - records: last-writer-wins writes, point reads, listing.
 *
 * A record lives in the "records" column family under namespace id + user
 * key, encoded as record.h describes. Every write compares versions with
 * what is stored (LWW) under a striped mutex, so a concurrent writer of the
 * same key can never slip between the read and the write. Reads return a
 * copy in a reference-counted blob, tombstones included: visibility
 * (deleted, expired) is the caller's call, except in stor_list which skips
 * hidden keys itself. List cursors are opaque strings made here.
 *
 * Multi-record writes are stor_commits (store_commit.c); their LWW part,
 * stor__recs_*, lives here next to the single-record stor_apply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

/* ---- keys and locks ------------------------------------------------------------ */

static int stor__key_len_check(const char *key, size_t key_len)
{
    if (!key || key_len == 0)
        return KV_EINVAL;
    return key_len > KV_KEY_MAX_BYTES ? KV_ETOOBIG : 0;
}

/* Whether (ns_id, key) makes a records-CF key: KV_EINVAL, KV_ETOOBIG. */
static int stor__rec_key_check(const char *ns_id, const char *key, size_t key_len)
{
    if (!ns_id || !stor__hex_valid(ns_id, KV_NS_ID_LEN))
        return KV_EINVAL;
    return stor__key_len_check(key, key_len);
}

/* The key of a checked (ns_id, key) into buf; its length. */
static size_t stor__rec_key_put(const char *ns_id, const char *key, size_t key_len, char *buf)
{
    memcpy(buf, ns_id, KV_NS_ID_LEN);
    memcpy(buf + KV_NS_ID_LEN, key, key_len);
    return KV_NS_ID_LEN + key_len;
}

/* Compose the records-CF key of (ns_id, key) into buf (STOR__KEY_BUF_BYTES). */
static int stor__rec_key(const char *ns_id, const char *key, size_t key_len, char *buf, size_t *len)
{
    int rc = stor__rec_key_check(ns_id, key, key_len);
    if (rc == 0)
        *len = stor__rec_key_put(ns_id, key, key_len, buf);
    return rc;
}

static int stor__rec_check(const stor_record_t *r)
{
    if (!r)
        return KV_EINVAL;
    if (r->metadata_len > KV_METADATA_MAX_BYTES || r->value_len > KV_VALUE_MAX_BYTES)
        return KV_ETOOBIG;
    if ((r->metadata_len && !r->metadata) || (r->value_len && !r->value))
        return KV_EINVAL;
    return 0;
}

/* FNV-1a of the full key, folded onto the stripes. */
/* A key's stripe: any function of the whole key keeps a key's writers on
 * one lock. Eight bytes a step (a byte-at-a-time FNV over a 32-byte
 * namespace id and the key was a fifth of a batch commit's own work). */
static unsigned stor__stripe(const char *k, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    uint64_t t = 0;
    memcpy(&t, k + i, len - i);
    h = (h ^ t) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return (unsigned)(h % STOR__STRIPES);
}

/* Scratch of one multi-get, one kv_malloc block: key pointers, sizes, pinned
 * results, errors, then the key bytes. */
typedef struct {
    const char **keys;
    size_t *sizes;
    rocksdb_pinnableslice_t **pins;
    char **errs;
} stor__mget_t;

/* Lay out m's arrays for n keys in one kv_malloc block, followed by
 * `arena` bytes for the caller (*arena_out); NULL without memory. */
static void *stor__mget_alloc(size_t n, size_t arena, stor__mget_t *m, char **arena_out)
{
    size_t per = sizeof(char *) + sizeof(size_t) + sizeof(void *) + sizeof(char *);
    char *b = kv_malloc(n * per + arena);
    if (!b)
        return NULL;
    m->keys = (const char **)b;
    m->sizes = (size_t *)(m->keys + n);
    m->pins = (rocksdb_pinnableslice_t **)(m->sizes + n);
    m->errs = (char **)(m->pins + n);
    *arena_out = (char *)(m->errs + n);
    return b;
}

/* ---- LWW writes ------------------------------------------------------------------ */

/* The version in a pinned stored record (destroyed here); KV_VERSION_ZERO
 * when p is NULL (nothing stored). */
static int stor__pinned_version(rocksdb_pinnableslice_t *p, kv_version_t *out)
{
    *out = KV_VERSION_ZERO;
    if (!p)
        return 0;
    size_t n = 0;
    const char *v = rocksdb_pinnableslice_value(p, &n);
    stor_record_t rec;
    int rc = stor_record_decode((const uint8_t *)v, n, &rec);
    if (rc)
        KV_LOG_ERROR(STOR_LOG, "corrupt stored record (%zu bytes); write refused", n);
    else
        *out = rec.version;
    rocksdb_pinnableslice_destroy(p);
    return rc;
}

/* Version stored under k, KV_VERSION_ZERO when nothing is. The caller holds
 * k's stripe. */
static int stor__stored_version(stor_t *s, const char *k, size_t klen, kv_version_t *out)
{
    *out = KV_VERSION_ZERO;
    char *err = NULL;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(s->db, s->ropts, s->cf_records, k, klen, &err);
    int rc = stor__err(err, "get (LWW check)");
    if (rc) {
        if (p)
            rocksdb_pinnableslice_destroy(p);
        return rc;
    }
    return stor__pinned_version(p, out);
}

/* Add header + metadata + value as one value, without concatenating them. */
static void stor__batch_put(stor_t *s, rocksdb_writebatch_t *wb, const char *k, size_t klen,
                            const stor_record_t *r)
{
    uint8_t hdr[STOR_RECORD_HEADER_BYTES];
    stor_record_encode_header(r, hdr);
    const char *parts[3] = {(const char *)hdr, r->metadata_len ? r->metadata : "",
                            r->value_len ? (const char *)r->value : ""};
    size_t sizes[3] = {STOR_RECORD_HEADER_BYTES, r->metadata_len, r->value_len};
    rocksdb_writebatch_putv_cf(wb, s->cf_records, 1, &k, &klen, 3, parts, sizes);
}

int stor_apply(stor_t *s, const char *ns_id, const char *key, size_t key_len,
               const stor_record_t *rec)
{
    stor__thread_prepare();
    char k[STOR__KEY_BUF_BYTES];
    size_t klen = 0;
    int rc = stor__rec_key(ns_id, key, key_len, k, &klen);
    if (rc == 0)
        rc = stor__rec_check(rec);
    if (rc)
        return rc;
    pthread_mutex_t *m = &s->stripes[stor__stripe(k, klen)];
    pthread_mutex_lock(m);
    kv_version_t cur;
    rc = stor__stored_version(s, k, klen, &cur);
    if (rc == 0 && kv_version_cmp(rec->version, cur) <= 0)
        rc = KV_ESTALE;
    if (rc == 0) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        stor__batch_put(s, wb, k, klen, rec);
        rc = stor__write(s, wb);
        rocksdb_writebatch_destroy(wb);
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int stor__bent_cmp(const void *a, const void *b)
{
    const stor__bent_t *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Validate every mutation and build the sorted entries (one kv_malloc
 * block: entries, then the key arena) and the set of stripes they hash to. */
int stor__recs_prepare(const stor_mutation_t *muts, size_t n, stor__recs_t *r)
{
    memset(r, 0, sizeof(*r));
    if (n == 0)
        return 0;
    if (!muts || n > UINT32_MAX)
        return KV_EINVAL;
    size_t arena = 0;
    const char *ns_ok = NULL; /* a namespace id checked already: most batches have one */
    for (size_t i = 0; i < n; i++) {
        const stor_mutation_t *m = &muts[i];
        bool ns_known = ns_ok && m->ns_id && memcmp(m->ns_id, ns_ok, KV_NS_ID_LEN) == 0;
        int rc = ns_known ? stor__key_len_check(m->key, m->key_len)
                          : stor__rec_key_check(m->ns_id, m->key, m->key_len);
        if (rc == 0 && !ns_known)
            ns_ok = m->ns_id;
        if (rc == 0)
            rc = stor__rec_check(&m->rec);
        if (rc)
            return rc;
        arena += KV_NS_ID_LEN + m->key_len;
    }
    stor__bent_t *e = kv_malloc(n * sizeof(*e) + arena);
    if (!e)
        return -ENOMEM;
    char *p = (char *)(e + n);
    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
        size_t klen = stor__rec_key_put(muts[i].ns_id, muts[i].key, muts[i].key_len, p);
        e[i] = (stor__bent_t){p, (uint32_t)klen, (uint32_t)i};
        p += klen;
        unsigned st = stor__stripe(e[i].k, e[i].klen);
        r->stripes[st / 64] |= (uint64_t)1 << (st % 64);
        if (sorted && i > 0 && stor__bent_cmp(&e[i - 1], &e[i]) > 0)
            sorted = false;
    }
    if (!sorted) /* a catch-up's or a bulk write's keys often come in order */
        qsort(e, n, sizeof(*e), stor__bent_cmp);
    r->e = e;
    r->n = n;
    return 0;
}

void stor__recs_free(stor__recs_t *r)
{
    kv_free(r->e);
    memset(r, 0, sizeof(*r));
}

/* Decide each mutation under LWW and add the winners to wb. Mutations of
 * the same key within the commit are judged in array order, each against
 * the newest version so far, so the result is that of applying them one by
 * one; only the final winner of a key is written. */
/* The stored version of every distinct key of r (the first entry of each
 * run of equal keys: starts[0..ng)), in one batched MultiGet: a batch apply
 * at an edge or a group commit reads them together instead of one Get
 * each. The caller holds the keys' stripes. */
/* The stored versions of the keys e[firsts[0..n)] into cur[0..n), in one
 * batched read. */
static int stor__stored_versions(stor_t *s, const stor__bent_t *e, const size_t *firsts, size_t n,
                                 kv_version_t *cur)
{
    stor__mget_t m;
    char *unused;
    void *b = stor__mget_alloc(n, 0, &m, &unused);
    if (!b)
        return -ENOMEM;
    for (size_t g = 0; g < n; g++) {
        m.keys[g] = e[firsts[g]].k;
        m.sizes[g] = e[firsts[g]].klen;
    }
    rocksdb_batched_multi_get_cf(s->db, s->ropts, s->cf_records, n, m.keys, m.sizes, m.pins, m.errs,
                                 false);
    int rc = 0;
    for (size_t g = 0; g < n; g++) {
        int eg = stor__err(m.errs[g], "multi get (LWW check)");
        if (eg == 0)
            eg = stor__pinned_version(m.pins[g], &cur[g]);
        else if (m.pins[g])
            rocksdb_pinnableslice_destroy(m.pins[g]);
        if (rc == 0)
            rc = eg;
    }
    kv_free(b);
    return rc;
}

/* Must the stored version of the key of entries [from, to) be read, or
 * does the caller's promise (stor_commit_t) decide without it? */
static bool stor__read_needed(const stor_commit_t *c, const stor__bent_t *e, size_t from, size_t to)
{
    if (c->keys_absent)
        return false;
    if (c->stored_hlc_max == 0)
        return true;
    for (size_t x = from; x < to; x++)
        if (c->muts[e[x].idx].rec.version.hlc <= c->stored_hlc_max)
            return true;
    return false;
}

/* Read the stored version of every run of equal keys that needs it into
 * cur (the others stay KV_VERSION_ZERO). starts: ng + 1 run bounds; idx:
 * scratch of 2 * ng; got: scratch of ng. */
static int stor__runs_read(stor_t *s, const stor_commit_t *c, const stor__bent_t *e,
                           const size_t *starts, size_t ng, size_t *idx, kv_version_t *cur,
                           kv_version_t *got)
{
    size_t *runs = idx, *firsts = idx + ng, nread = 0;
    for (size_t g = 0; g < ng; g++) {
        cur[g] = KV_VERSION_ZERO;
        if (stor__read_needed(c, e, starts[g], starts[g + 1])) {
            runs[nread] = g;
            firsts[nread++] = starts[g];
        }
    }
    if (nread == 0)
        return 0;
    int rc = nread == 1 ? stor__stored_version(s, e[firsts[0]].k, e[firsts[0]].klen, &got[0])
                        : stor__stored_versions(s, e, firsts, nread, got);
    for (size_t j = 0; rc == 0 && j < nread; j++)
        cur[runs[j]] = got[j];
    return rc;
}

/* A commit of up to this many mutations decides with its scratch on the
 * stack (a live write's group, an edge's batch); a bigger one allocates. */
#define STOR__DECIDE_STACK_MUTS 64

int stor__recs_decide(stor_t *s, const stor_commit_t *c, const stor__recs_t *r,
                      rocksdb_writebatch_t *wb)
{
    const stor__bent_t *e = r->e;
    const stor_mutation_t *muts = c->muts;
    int *results = c->mut_results;
    if (r->n == 0)
        return 0;
    /* Runs of equal keys (r is sorted): at most one read, one winner each.
     * One allocation each for the run bounds and read indices, and for the
     * versions. */
    size_t starts_buf[3 * STOR__DECIDE_STACK_MUTS + 1];
    kv_version_t cur_buf[2 * STOR__DECIDE_STACK_MUTS];
    bool heap = r->n > STOR__DECIDE_STACK_MUTS;
    size_t *starts = heap ? kv_malloc((3 * r->n + 1) * sizeof *starts) : starts_buf;
    kv_version_t *cur = heap ? kv_malloc(2 * r->n * sizeof *cur) : cur_buf;
    size_t ng = 0;
    int rc = starts && cur ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        if (i == 0 || e[i].klen != e[i - 1].klen || memcmp(e[i].k, e[i - 1].k, e[i].klen) != 0)
            starts[ng++] = i;
    if (rc == 0) {
        starts[ng] = r->n;
        rc = stor__runs_read(s, c, e, starts, ng, starts + ng + 1, cur, cur + ng);
    }
    for (size_t g = 0; rc == 0 && g < ng; g++) {
        const stor_record_t *win = NULL;
        for (size_t x = starts[g]; x < starts[g + 1]; x++) {
            const stor_record_t *rec = &muts[e[x].idx].rec;
            bool newer = kv_version_cmp(rec->version, cur[g]) > 0;
            if (newer) {
                cur[g] = rec->version;
                win = rec;
            }
            if (results)
                results[e[x].idx] = newer ? 0 : KV_ESTALE;
        }
        if (win)
            stor__batch_put(s, wb, e[starts[g]].k, e[starts[g]].klen, win);
    }
    if (heap) {
        kv_free(starts);
        kv_free(cur);
    }
    return rc;
}

/* Ascending order, so two commits can never wait on each other. */
void stor__recs_lock(stor_t *s, const stor__recs_t *r, bool lock)
{
    for (unsigned w = 0; w < STOR__STRIPES / 64; w++) {
        for (uint64_t bits = r->stripes[w]; bits; bits &= bits - 1) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            if (lock)
                pthread_mutex_lock(&s->stripes[i]);
            else
                pthread_mutex_unlock(&s->stripes[i]);
        }
    }
}

int stor_apply_batch(stor_t *s, const stor_mutation_t *muts, size_t n, int *results)
{
    if (n > 0 && !muts)
        return KV_EINVAL;
    stor_commit_t c = {.muts = muts, .n_muts = n, .mut_results = results};
    return stor_commit(s, &c);
}

/* ---- reads ----------------------------------------------------------------------- */

/* Copy a pinned record into a new blob (the one copy of a read) and destroy
 * the pinned slice. */
static int stor__blob_from_pinned(rocksdb_pinnableslice_t *p, stor_blob_t **out)
{
    size_t n = 0;
    const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(p, &n);
    stor_record_t rec;
    int rc = stor_record_decode(v, n, &rec);
    if (rc) {
        KV_LOG_ERROR(STOR_LOG, "corrupt stored record (%zu bytes)", n);
    } else {
        *out = stor_blob_new(v, n);
        rc = *out ? 0 : -ENOMEM;
    }
    rocksdb_pinnableslice_destroy(p);
    return rc;
}

int stor_get(stor_t *s, const char *ns_id, const char *key, size_t key_len, stor_blob_t **out)
{
    *out = NULL;
    stor__thread_prepare();
    char k[STOR__KEY_BUF_BYTES];
    size_t klen = 0;
    int rc = stor__rec_key(ns_id, key, key_len, k, &klen);
    if (rc)
        return rc;
    char *err = NULL;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(s->db, s->ropts, s->cf_records, k, klen, &err);
    rc = stor__err(err, "get");
    if (rc || !p)
        return rc;
    return stor__blob_from_pinned(p, out);
}

static int stor__mget_prepare(const char *ns_id, const char *const *keys, const size_t *key_lens,
                              size_t n, stor__mget_t *m, void **block)
{
    size_t arena = 0;
    for (size_t i = 0; i < n; i++) {
        char tmp[STOR__KEY_BUF_BYTES];
        size_t klen = 0;
        int rc = stor__rec_key(ns_id, keys[i], key_lens[i], tmp, &klen);
        if (rc)
            return rc;
        arena += klen;
    }
    char *p;
    void *b = stor__mget_alloc(n, arena, m, &p);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        stor__rec_key(ns_id, keys[i], key_lens[i], p, &m->sizes[i]);
        m->keys[i] = p;
        p += m->sizes[i];
    }
    *block = b;
    return 0;
}

int stor_multi_get(stor_t *s, const char *ns_id, const char *const *keys, const size_t *key_lens,
                   size_t n, stor_blob_t **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0)
        return 0;
    stor__thread_prepare();
    stor__mget_t m;
    void *block = NULL;
    int rc = stor__mget_prepare(ns_id, keys, key_lens, n, &m, &block);
    if (rc)
        return rc;
    rocksdb_batched_multi_get_cf(s->db, s->ropts, s->cf_records, n, m.keys, m.sizes, m.pins, m.errs,
                                 false);
    for (size_t i = 0; i < n; i++) {
        int e = stor__err(m.errs[i], "multi get");
        if (rc == 0)
            rc = e;
        if (m.pins[i] && rc == 0)
            rc = stor__blob_from_pinned(m.pins[i], &out[i]);
        else if (m.pins[i])
            rocksdb_pinnableslice_destroy(m.pins[i]);
    }
    kv_free(block);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            stor_blob_unref(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

/* ---- list cursors ---------------------------------------------------------------- */

/* A cursor is a version character then the last examined user key in
 * base64url without padding. The version character makes most foreign
 * strings fail, and lets a later format coexist. */
#define STOR__CURSOR_V1      'k'
#define STOR__CURSOR_B64_MAX ((KV_KEY_MAX_BYTES * 8 + 5) / 6)

static const char stor__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *stor__cursor_encode(const uint8_t *key, size_t len)
{
    char *c = kv_malloc(1 + (len * 8 + 5) / 6 + 1);
    if (!c)
        return NULL;
    size_t o = 0;
    c[o++] = STOR__CURSOR_V1;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | key[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            c[o++] = stor__b64[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        c[o++] = stor__b64[(acc << (6 - bits)) & 63];
    c[o] = '\0';
    return c;
}

static int stor__b64_val(char ch)
{
    const char *p = ch ? strchr(stor__b64, ch) : NULL;
    return p ? (int)(p - stor__b64) : -1;
}

/* Decode into key (KV_KEY_MAX_BYTES). Strict: canonical encodings only. */
static int stor__cursor_decode(const char *c, uint8_t *key, size_t *len)
{
    if (c[0] != STOR__CURSOR_V1)
        return KV_EBADCURSOR;
    size_t n = strnlen(c + 1, STOR__CURSOR_B64_MAX + 1);
    if (n == 0 || n > STOR__CURSOR_B64_MAX)
        return KV_EBADCURSOR;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 1; i <= n; i++) {
        int v = stor__b64_val(c[i]);
        if (v < 0)
            return KV_EBADCURSOR;
        acc = ((acc << 6) | (uint32_t)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == KV_KEY_MAX_BYTES)
                return KV_EBADCURSOR;
            key[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* A lone trailing character (6 bits) or non-zero padding bits cannot
     * come from the encoder. */
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
        return KV_EBADCURSOR;
    *len = o;
    return 0;
}

/* ---- list ------------------------------------------------------------------------ */

/* Key range of one list call: seek to lo, stay below hi, keep pfx. */
typedef struct {
    char pfx[KV_NS_ID_LEN + KV_KEY_MAX_BYTES]; /* ns id + prefix */
    size_t pfx_len;
    char lo[STOR__KEY_BUF_BYTES];
    size_t lo_len;
    char hi[KV_NS_ID_LEN + KV_KEY_MAX_BYTES]; /* exclusive: pfx's successor */
    size_t hi_len;
} stor__range_t;

static int stor__key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : (alen > blen);
}

static int stor__list_range(const char *ns_id, const char *prefix, size_t prefix_len,
                            const char *cursor, stor__range_t *r)
{
    memcpy(r->pfx, ns_id, KV_NS_ID_LEN);
    if (prefix_len)
        memcpy(r->pfx + KV_NS_ID_LEN, prefix, prefix_len);
    r->pfx_len = KV_NS_ID_LEN + prefix_len;
    /* Smallest key greater than every key with the prefix: drop trailing
     * 0xff bytes, increment the last. The hex ns id always has a byte left. */
    memcpy(r->hi, r->pfx, r->pfx_len);
    r->hi_len = r->pfx_len;
    while ((uint8_t)r->hi[r->hi_len - 1] == 0xff)
        r->hi_len--;
    r->hi[r->hi_len - 1]++;
    memcpy(r->lo, r->pfx, r->pfx_len);
    r->lo_len = r->pfx_len;
    if (!cursor || !cursor[0])
        return 0;
    uint8_t key[KV_KEY_MAX_BYTES];
    size_t klen = 0;
    int rc = stor__cursor_decode(cursor, key, &klen);
    if (rc)
        return rc;
    /* "Strictly after key" is key + "\0", its immediate successor. */
    char after[STOR__KEY_BUF_BYTES];
    memcpy(after, ns_id, KV_NS_ID_LEN);
    memcpy(after + KV_NS_ID_LEN, key, klen);
    after[KV_NS_ID_LEN + klen] = '\0';
    size_t alen = KV_NS_ID_LEN + klen + 1;
    if (stor__key_cmp(after, alen, r->lo, r->lo_len) > 0) {
        memcpy(r->lo, after, alen);
        r->lo_len = alen;
    }
    return 0;
}

static int stor__list_item(stor_list_item_t *it, const char *name, size_t len,
                           const stor_record_t *rec)
{
    it->name = kv_strndup(name, len);
    if (!it->name)
        return -ENOMEM;
    it->name_len = len;
    it->expiration = rec->expiration;
    if (rec->metadata_len) {
        it->metadata = kv_strndup(rec->metadata, rec->metadata_len);
        if (!it->metadata) {
            kv_free(it->name);
            it->name = NULL;
            return -ENOMEM;
        }
        it->metadata_len = rec->metadata_len;
    }
    return 0;
}

/* Walk the range: collect up to `limit` live keys, then peek for one more.
 * *more says a further page may exist; last/last_len is the last entry
 * consumed (returned or skipped), where the next page starts after. */
static int stor__list_scan(rocksdb_iterator_t *it, const stor__range_t *r, size_t limit,
                           int64_t now_s, stor_list_t *out, uint8_t *last, size_t *last_len,
                           bool *more)
{
    size_t examined = 0;
    *more = false;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        if (examined == KV_LIST_SCAN_MAX) {
            *more = true;
            return 0;
        }
        examined++;
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < r->pfx_len || memcmp(k, r->pfx, r->pfx_len) != 0)
            break; /* past the prefix (the upper bound normally stops us first) */
        if (kl > KV_NS_ID_LEN + KV_KEY_MAX_BYTES)
            return KV_ECORRUPT;
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        stor_record_t rec;
        bool live = false;
        if (stor_record_decode(v, vl, &rec) != 0)
            KV_LOG_WARN(STOR_LOG, "list: skipping corrupt record (%zu bytes)", vl);
        else
            live = !stor_record_hidden(&rec, now_s) && kl > KV_NS_ID_LEN;
        if (live && out->count == limit) {
            *more = true;
            return 0;
        }
        if (live) {
            int rc =
                stor__list_item(&out->items[out->count], k + KV_NS_ID_LEN, kl - KV_NS_ID_LEN, &rec);
            if (rc)
                return rc;
            out->count++;
        }
        *last_len = kl - KV_NS_ID_LEN;
        memcpy(last, k + KV_NS_ID_LEN, *last_len);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return stor__err(err, "list");
}

int stor_list(stor_t *s, const char *ns_id, const char *prefix, size_t prefix_len,
              const char *cursor, size_t limit, int64_t now_s, stor_list_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!ns_id || !stor__hex_valid(ns_id, KV_NS_ID_LEN) || (prefix_len && !prefix))
        return KV_EINVAL;
    if (prefix_len > KV_KEY_MAX_BYTES || limit == 0 || limit > KV_LIST_MAX_KEYS)
        return KV_EINVAL;
    stor__range_t r;
    int rc = stor__list_range(ns_id, prefix, prefix_len, cursor, &r);
    if (rc)
        return rc;
    out->items = kv_calloc(limit, sizeof(*out->items));
    if (!out->items)
        return -ENOMEM;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, r.hi, r.hi_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf_records);
    rocksdb_iter_seek(it, r.lo, r.lo_len);
    uint8_t last[KV_KEY_MAX_BYTES];
    size_t last_len = 0;
    bool more = false;
    rc = stor__list_scan(it, &r, limit, now_s, out, last, &last_len, &more);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rc == 0 && more) {
        out->cursor = stor__cursor_encode(last, last_len);
        if (!out->cursor)
            rc = -ENOMEM;
    }
    out->complete = !more;
    if (rc)
        stor_list_free(out);
    return rc;
}

void stor_list_free(stor_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        kv_free(l->items[i].name);
        kv_free(l->items[i].metadata);
    }
    kv_free(l->items);
    kv_free(l->cursor);
    memset(l, 0, sizeof(*l));
}
