/*
 * store_ns.c - namespaces: durable in the "namespaces" column family and
 * mirrored in memory, because every request looks its namespace up.
 *
 * The mirror is an array of entries sorted by id (binary search, O(log n))
 * under a rwlock. Mutations are serialised by ns_write_lock, so their checks
 * (title taken? account full?) read the mirror without racing another
 * mutation; they write RocksDB first and only then take the rwlock for the
 * brief in-memory update, so readers never wait on a disk write. Anything
 * that can fail (allocation, I/O) happens before the mirror changes, so the
 * mirror always equals what is on disk.
 *
 * Not here: which account may see which namespace (the HTTP layer), and
 * version conflict resolution across nodes (single origin for now: a create,
 * rename or delete simply applies and records its version).
 *
 * Stored value: format byte (1), hlc u64 LE, node_id u32 LE, account length
 * u16 LE + bytes, title length u16 LE + bytes. Key: the 32-hex id.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "store_int.h"

#define STOR__NS_FORMAT  1
#define STOR__NS_VAL_MAX (1 + 8 + 4 + 2 + KV_ACCOUNT_ID_MAX_BYTES + 2 + KV_NS_TITLE_MAX_BYTES)

/* ---- encoding ------------------------------------------------------------------ */

static size_t stor__ns_encode(const stor_ns_t *ns, uint8_t *buf)
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

static int stor__ns_decode(const char *key, size_t klen, const uint8_t *b, size_t len,
                           stor_ns_t *ns)
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

static int stor__ns_put(stor_t *s, const stor_ns_t *ns)
{
    uint8_t buf[STOR__NS_VAL_MAX];
    size_t n = stor__ns_encode(ns, buf);
    char *err = NULL;
    rocksdb_put_cf(s->db, s->wopts, s->cf_ns, ns->id, KV_NS_ID_LEN, (const char *)buf, n, &err);
    return stor__err(err, "namespace put");
}

/* ---- the mirror ------------------------------------------------------------------ */

/* Position of id in the mirror, or where it would go. Caller holds ns_lock
 * or ns_write_lock. */
static size_t stor__ns_find(const stor_t *s, const char *id, bool *found)
{
    size_t lo = 0, hi = s->ns_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->ns[mid]->id, id, KV_NS_ID_LEN);
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

/* Room for one more entry; called before the disk write so the insert after
 * it cannot fail. */
static int stor__ns_reserve(stor_t *s)
{
    if (s->ns_count < s->ns_cap)
        return 0;
    size_t cap = s->ns_cap ? s->ns_cap * 2 : 16;
    pthread_rwlock_wrlock(&s->ns_lock);
    stor_ns_t **v = kv_realloc(s->ns, cap * sizeof(*v));
    if (v) {
        s->ns = v;
        s->ns_cap = cap;
    }
    pthread_rwlock_unlock(&s->ns_lock);
    return v ? 0 : -ENOMEM;
}

static void stor__ns_insert(stor_t *s, stor_ns_t *ns)
{
    bool found;
    size_t i = stor__ns_find(s, ns->id, &found);
    pthread_rwlock_wrlock(&s->ns_lock);
    memmove(s->ns + i + 1, s->ns + i, (s->ns_count - i) * sizeof(*s->ns));
    s->ns[i] = ns;
    s->ns_count++;
    pthread_rwlock_unlock(&s->ns_lock);
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
        rc = ns ? stor__ns_reserve(s) : -ENOMEM;
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

/* KV_EEXISTS if another namespace (not `self`) of account has title;
 * KV_ELIMIT if the account is full (only checked when self is NULL). Caller
 * holds ns_write_lock. */
static int stor__ns_conflicts(const stor_t *s, const char *account, const char *title,
                              const stor_ns_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ns_count; i++) {
        const stor_ns_t *x = s->ns[i];
        if (x == self || strcmp(x->account, account) != 0)
            continue;
        if (strcmp(x->title, title) == 0)
            return KV_EEXISTS;
        n++;
    }
    if (!self && n >= KV_NS_PER_ACCOUNT_MAX)
        return KV_ELIMIT;
    return 0;
}

/* A fresh random id not in use. Caller holds ns_write_lock. */
static int stor__ns_new_id(const stor_t *s, char id[KV_NS_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (;;) {
        uint8_t r[KV_NS_ID_LEN / 2];
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return errno ? -errno : KV_EIO;
        for (size_t i = 0; i < sizeof(r); i++) {
            id[2 * i] = hex[r[i] >> 4];
            id[2 * i + 1] = hex[r[i] & 15];
        }
        id[KV_NS_ID_LEN] = '\0';
        bool found;
        stor__ns_find(s, id, &found);
        if (!found)
            return 0;
    }
}

/* ---- API --------------------------------------------------------------------------- */

/* Under ns_write_lock: checks, id, disk, mirror. Takes ns on success. */
static int stor__ns_create_locked(stor_t *s, stor_ns_t *ns, const char *id_opt)
{
    int rc = stor__ns_conflicts(s, ns->account, ns->title, NULL);
    if (rc)
        return rc;
    if (id_opt) {
        bool found;
        stor__ns_find(s, id_opt, &found);
        if (found)
            return KV_EEXISTS;
        memcpy(ns->id, id_opt, KV_NS_ID_LEN + 1);
    } else if ((rc = stor__ns_new_id(s, ns->id)) != 0) {
        return rc;
    }
    rc = stor__ns_reserve(s);
    if (rc == 0)
        rc = stor__ns_put(s, ns);
    if (rc == 0)
        stor__ns_insert(s, ns);
    return rc;
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
    stor_ns_t *ns = kv_calloc(1, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    strcpy(ns->account, account);
    strcpy(ns->title, title);
    ns->version = version;
    pthread_mutex_lock(&s->ns_write_lock);
    rc = stor__ns_create_locked(s, ns, id_opt);
    if (rc == 0 && out)
        *out = *ns;
    pthread_mutex_unlock(&s->ns_write_lock);
    if (rc)
        kv_free(ns);
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
    size_t i = stor__ns_find(s, id, &found);
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
    pthread_mutex_lock(&s->ns_write_lock);
    bool found;
    size_t i = stor__ns_find(s, id, &found);
    stor_ns_t *cur = found ? s->ns[i] : NULL;
    rc = cur ? stor__ns_conflicts(s, cur->account, title, cur) : KV_ENOTFOUND;
    if (rc == 0) {
        stor_ns_t next = *cur;
        strcpy(next.title, title);
        next.version = version;
        rc = stor__ns_put(s, &next);
        if (rc == 0) {
            pthread_rwlock_wrlock(&s->ns_lock);
            *cur = next;
            pthread_rwlock_unlock(&s->ns_lock);
        }
    }
    pthread_mutex_unlock(&s->ns_write_lock);
    return rc;
}

/* Delete the entry and all its records in one atomic batch. */
static int stor__ns_delete_disk(stor_t *s, const char *id)
{
    char lo[KV_NS_ID_LEN], hi[KV_NS_ID_LEN];
    memcpy(lo, id, KV_NS_ID_LEN);
    memcpy(hi, id, KV_NS_ID_LEN);
    hi[KV_NS_ID_LEN - 1]++; /* a hex digit: never 0xff, so no carry */
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_cf(wb, s->cf_ns, id, KV_NS_ID_LEN);
    rocksdb_writebatch_delete_range_cf(wb, s->cf_records, lo, sizeof(lo), hi, sizeof(hi));
    int rc = stor__write(s, wb);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int stor_ns_delete(stor_t *s, const char *id, kv_version_t version)
{
    if (!stor__ns_id_ok(id))
        return id ? KV_ENOTFOUND : KV_EINVAL;
    pthread_mutex_lock(&s->ns_write_lock);
    bool found;
    size_t i = stor__ns_find(s, id, &found);
    int rc = found ? stor__ns_delete_disk(s, id) : KV_ENOTFOUND;
    if (rc == 0) {
        stor_ns_t *gone = s->ns[i];
        pthread_rwlock_wrlock(&s->ns_lock);
        memmove(s->ns + i, s->ns + i + 1, (s->ns_count - i - 1) * sizeof(*s->ns));
        s->ns_count--;
        pthread_rwlock_unlock(&s->ns_lock);
        kv_free(gone);
    }
    pthread_mutex_unlock(&s->ns_write_lock);
    return rc;
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
