/*
 * store_ns.c - namespaces: durable in the "namespaces" column family and
 * mirrored in memory, because every request looks its namespace up.
 *
 * The mirror is an array of entries sorted by id (binary search, O(log n))
 * under a rwlock. Every change goes through stor_commit (store_nsplan.c
 * plans it on a private copy of the array, under ns_write_lock, so a plan
 * never races another change); the batch is written
 * first and the copy then replaces the mirror's array under the rwlock in
 * one step, so readers never wait on a disk write and never see half a
 * commit. Anything that can fail happens before that swap, so the mirror
 * always equals what is on disk.
 *
 * This file holds the encoding, the mirror's load/free, the validity checks
 * of a change, and the one-change public calls. Not here: which account
 * may see which namespace (the HTTP layer), and the rules of a change (a
 * title taken, the per-account limit): the origin judges every change
 * once, before committing it, and every replica applies it verbatim.
 *
 * Stored value: format byte (1), hlc u64 LE, node_id u32 LE, account length
 * u16 LE + bytes, title length u16 LE + bytes. Key: the 32-hex id. It stays
 * this compact fixed layout rather than a protobuf like the node's state
 * (node/replica/state.h) because namespace values are read on every open and
 * decoded into the mirror in place, with no allocation, into a bounded
 * buffer (STOR__NS_VAL_MAX); the format byte versions it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kv_rand.h"
#include "store_int.h"

#define STOR__NS_FORMAT 1

/* ---- encoding ------------------------------------------------------------------ */

size_t stor__ns_encode(const stor_ns_t *ns, uint8_t buf[STOR__NS_VAL_MAX])
{
    size_t o = 0, alen = strlen(ns->account), tlen = strlen(ns->title);
    buf[o++] = STOR__NS_FORMAT;
    for (int i = 0; i < 8; i++)
        buf[o++] = (uint8_t)(ns->version.hlc >> (8 * i));
    for (int i = 0; i < 4; i++)
        buf[o++] = (uint8_t)(ns->version.node_id >> (8 * i));
    buf[o++] = (uint8_t)alen;
    buf[o++] = (uint8_t)(alen >> 8);
    memcpy(buf + o, ns->account, alen);
    o += alen;
    buf[o++] = (uint8_t)tlen;
    buf[o++] = (uint8_t)(tlen >> 8);
    memcpy(buf + o, ns->title, tlen);
    return o + tlen;
}

/* Read a u16-length-prefixed string of at most max bytes into dst. */
static int stor__ns_str(const uint8_t *b, size_t len, size_t *o, char *dst, size_t max)
{
    if (len - *o < 2)
        return KV_ECORRUPT;
    size_t n = (size_t)b[*o] | (size_t)b[*o + 1] << 8;
    *o += 2;
    if (n == 0 || n > max || len - *o < n || memchr(b + *o, '\0', n))
        return KV_ECORRUPT;
    memcpy(dst, b + *o, n);
    dst[n] = '\0';
    *o += n;
    return 0;
}

int stor__ns_decode(const char *key, size_t klen, const uint8_t *b, size_t len, stor_ns_t *ns)
{
    if (klen != KV_NS_ID_LEN || !stor__hex_valid(key, KV_NS_ID_LEN))
        return KV_ECORRUPT;
    if (len < 13 || b[0] != STOR__NS_FORMAT)
        return KV_ECORRUPT;
    memset(ns, 0, sizeof(*ns));
    memcpy(ns->id, key, KV_NS_ID_LEN);
    for (int i = 7; i >= 0; i--)
        ns->version.hlc = ns->version.hlc << 8 | b[1 + i];
    for (int i = 3; i >= 0; i--)
        ns->version.node_id = ns->version.node_id << 8 | b[9 + i];
    size_t o = 13;
    int rc = stor__ns_str(b, len, &o, ns->account, KV_ACCOUNT_ID_MAX_BYTES);
    if (rc == 0)
        rc = stor__ns_str(b, len, &o, ns->title, KV_NS_TITLE_MAX_BYTES);
    if (rc == 0 && o != len)
        rc = KV_ECORRUPT;
    return rc;
}

/* ---- the mirror ------------------------------------------------------------------ */

size_t stor__nsv_find(stor_ns_t *const *v, size_t n, const char *id, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid]->id, id, KV_NS_ID_LEN);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Room for one more entry while loading (no reader exists yet). */
static int stor__ns_grow(stor_t *s)
{
    if (s->ns_count < s->ns_cap)
        return 0;
    size_t cap = s->ns_cap ? s->ns_cap * 2 : 16;
    stor_ns_t **v = kv_realloc(s->ns, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->ns = v;
    s->ns_cap = cap;
    return 0;
}

int stor__ns_load(stor_t *s)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf_ns);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        stor_ns_t *ns = kv_malloc(sizeof(*ns));
        rc = ns ? stor__ns_grow(s) : -ENOMEM;
        if (rc == 0)
            rc = stor__ns_decode(k, kl, v, vl, ns);
        if (rc == KV_ECORRUPT)
            KV_LOG_ERROR(STOR_LOG, "corrupt namespace entry (key %zu, value %zu bytes)", kl, vl);
        if (rc) {
            kv_free(ns);
            break;
        }
        s->ns[s->ns_count++] = ns; /* keys arrive in id order */
    }
    if (rc == 0) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        rc = stor__err(err, "namespace load");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

void stor__ns_free(stor_t *s)
{
    for (size_t i = 0; i < s->ns_count; i++)
        kv_free(s->ns[i]);
    kv_free(s->ns);
    s->ns = NULL;
    s->ns_count = s->ns_cap = 0;
}

void stor__ns_clear(stor_t *s)
{
    pthread_rwlock_wrlock(&s->ns_lock);
    size_t n = s->ns_count;
    s->ns_count = 0;
    pthread_rwlock_unlock(&s->ns_lock);
    for (size_t i = 0; i < n; i++)
        kv_free(s->ns[i]);
}

/* ---- checks ------------------------------------------------------------------------ */

/* An id argument: exactly 32 lowercase hex digits, NUL-terminated. */
static bool stor__ns_id_ok(const char *id)
{
    return id && stor__hex_valid(id, KV_NS_ID_LEN) && id[KV_NS_ID_LEN] == '\0';
}

static int stor__ns_str_ok(const char *str, size_t max)
{
    if (!str || !str[0])
        return KV_EINVAL;
    return strnlen(str, max + 1) > max ? KV_ETOOBIG : 0;
}

int stor__ns_change_check(const stor_ns_change_t *ch)
{
    if (ch->kind != STOR_NS_CREATE && ch->kind != STOR_NS_RENAME && ch->kind != STOR_NS_DELETE)
        return KV_EINVAL;
    if (!stor__ns_id_ok(ch->id))
        return KV_EINVAL;
    int rc = 0;
    if (ch->kind == STOR_NS_CREATE)
        rc = stor__ns_str_ok(ch->account, KV_ACCOUNT_ID_MAX_BYTES);
    if (rc == 0 && ch->kind != STOR_NS_DELETE)
        rc = stor__ns_str_ok(ch->title, KV_NS_TITLE_MAX_BYTES);
    return rc;
}

/* A random id not in use now. */
static int stor__ns_new_id(stor_t *s, char id[KV_NS_ID_LEN + 1])
{
    for (;;) {
        int rc = kv_random_hex(id, KV_NS_ID_LEN);
        if (rc)
            return rc;
        bool found;
        pthread_rwlock_rdlock(&s->ns_lock);
        stor__nsv_find(s->ns, s->ns_count, id, &found);
        pthread_rwlock_unlock(&s->ns_lock);
        if (!found)
            return 0;
    }
}

/* ---- API --------------------------------------------------------------------------- */

/* One change as a commit: its result, or the commit's error. */
static int stor__ns_commit1(stor_t *s, const stor_ns_change_t *ch)
{
    int res = 0;
    stor_commit_t c = {.ns = ch, .n_ns = 1, .ns_results = &res};
    int rc = stor_commit(s, &c);
    return rc ? rc : res;
}

int stor_ns_create(stor_t *s, const char *account, const char *title, kv_version_t version,
                   const char *id_opt, stor_ns_t *out)
{
    int rc = stor__ns_str_ok(account, KV_ACCOUNT_ID_MAX_BYTES);
    if (rc == 0)
        rc = stor__ns_str_ok(title, KV_NS_TITLE_MAX_BYTES);
    if (rc == 0 && id_opt && !stor__ns_id_ok(id_opt))
        rc = KV_EINVAL;
    if (rc)
        return rc;
    char id[KV_NS_ID_LEN + 1];
    if (id_opt)
        memcpy(id, id_opt, sizeof(id));
    else if ((rc = stor__ns_new_id(s, id)) != 0)
        return rc;
    stor_ns_change_t ch = {STOR_NS_CREATE, id, account, title, version};
    rc = stor__ns_commit1(s, &ch);
    if (rc == 0 && out) {
        memset(out, 0, sizeof(*out));
        memcpy(out->id, id, sizeof(id));
        strcpy(out->account, account);
        strcpy(out->title, title);
        out->version = version;
    }
    return rc;
}

int stor_ns_get(stor_t *s, const char *id, stor_ns_t *out)
{
    if (!id)
        return KV_EINVAL;
    if (!stor__ns_id_ok(id))
        return KV_ENOTFOUND; /* cannot name a namespace */
    pthread_rwlock_rdlock(&s->ns_lock);
    bool found;
    size_t i = stor__nsv_find(s->ns, s->ns_count, id, &found);
    if (found && out)
        *out = *s->ns[i];
    pthread_rwlock_unlock(&s->ns_lock);
    return found ? 0 : KV_ENOTFOUND;
}

int stor_ns_rename(stor_t *s, const char *id, const char *title, kv_version_t version)
{
    int rc = stor__ns_str_ok(title, KV_NS_TITLE_MAX_BYTES);
    if (rc)
        return rc;
    if (!stor__ns_id_ok(id))
        return id ? KV_ENOTFOUND : KV_EINVAL;
    stor_ns_change_t ch = {STOR_NS_RENAME, id, NULL, title, version};
    return stor__ns_commit1(s, &ch);
}

int stor_ns_delete(stor_t *s, const char *id, kv_version_t version)
{
    if (!stor__ns_id_ok(id))
        return id ? KV_ENOTFOUND : KV_EINVAL;
    stor_ns_change_t ch = {STOR_NS_DELETE, id, NULL, NULL, version};
    return stor__ns_commit1(s, &ch);
}

static int stor__ns_cmp_title(const void *a, const void *b)
{
    const stor_ns_t *x = *(const stor_ns_t *const *)a, *y = *(const stor_ns_t *const *)b;
    int c = strcmp(x->title, y->title);
    return c ? c : memcmp(x->id, y->id, KV_NS_ID_LEN);
}

/* Copy page [first, first+n) of the sorted selection sel into a new array. */
static int stor__ns_page(stor_ns_t *const *sel, size_t total, bool desc, size_t first, size_t n,
                         stor_ns_t **out)
{
    if (n == 0)
        return 0;
    stor_ns_t *v = kv_malloc(n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = *sel[desc ? total - 1 - (first + i) : first + i];
    *out = v;
    return 0;
}

int stor_ns_list(stor_t *s, const char *account, stor_ns_order_t order, bool desc, size_t page,
                 size_t per_page, stor_ns_t **out, size_t *count, size_t *total)
{
    *out = NULL;
    *count = 0;
    *total = 0;
    if (!account || page == 0 || per_page == 0)
        return KV_EINVAL;
    if (order != STOR_NS_ORDER_ID && order != STOR_NS_ORDER_TITLE)
        return KV_EINVAL;
    pthread_rwlock_rdlock(&s->ns_lock);
    stor_ns_t **sel = kv_malloc((s->ns_count ? s->ns_count : 1) * sizeof(*sel));
    int rc = sel ? 0 : -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < s->ns_count; i++)
        if (strcmp(s->ns[i]->account, account) == 0)
            sel[n++] = s->ns[i];
    if (rc == 0) {
        /* The mirror is in id order already. */
        if (order == STOR_NS_ORDER_TITLE)
            qsort(sel, n, sizeof(*sel), stor__ns_cmp_title);
        /* (page - 1) * per_page, without overflow for absurd pages. */
        size_t first = page - 1 > n / per_page ? n : (page - 1) * per_page;
        first = first > n ? n : first;
        size_t len = n - first < per_page ? n - first : per_page;
        rc = stor__ns_page(sel, n, desc, first, len, out);
        if (rc == 0) {
            *count = len;
            *total = n;
        }
    }
    pthread_rwlock_unlock(&s->ns_lock);
    kv_free(sel);
    return rc;
}
