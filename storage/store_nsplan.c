/*
 * store_nsplan.c - the namespace changes of one commit, planned on a private
 * copy of the mirror before anything is written.
 *
 * A plan copies the mirror's array of entry pointers and edits the copy,
 * change by change, so each change applies on top of what the earlier ones
 * of the same commit left (create then rename, delete then create...). It
 * never writes to an entry the mirror holds: an entry to change is copied
 * first (copy on write), and the replaced one is "retired", freed only once
 * the copy has become the mirror. So until stor__nsplan_publish() readers
 * see the old namespaces, and afterwards all of the commit's at once; an
 * aborted plan frees what it made and the mirror never knew about it.
 *
 * Every bound here is the commit's number of changes: each change allocates
 * at most one entry, retires at most one and touches one id. The caller
 * holds ns_write_lock throughout, which is what lets the plan read the
 * mirror's array without the rwlock. Not here: rules about which changes
 * are allowed (the origin decided before committing) and the write batch
 * (store_commit.c).
 */
#include <errno.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "store_int.h"

int stor__nsplan_begin(stor_t *s, size_t n_changes, stor__nsplan_t *p)
{
    memset(p, 0, sizeof(*p));
    size_t per = 2 * sizeof(stor_ns_t *) + sizeof(stor__nstouch_t);
    if (n_changes > (SIZE_MAX / per) - s->ns_count)
        return -ENOMEM;
    p->cap = s->ns_count + n_changes;
    p->v = kv_malloc(p->cap * sizeof(*p->v));
    /* One block for the bookkeeping: fresh, retired, touched. */
    p->fresh = kv_malloc(n_changes * per);
    if (!p->v || !p->fresh) {
        kv_free(p->v);
        kv_free(p->fresh);
        memset(p, 0, sizeof(*p));
        return -ENOMEM;
    }
    p->retired = p->fresh + n_changes;
    p->touched = (stor__nstouch_t *)(p->retired + n_changes);
    if (s->ns_count)
        memcpy(p->v, s->ns, s->ns_count * sizeof(*p->v));
    p->count = s->ns_count;
    p->n_max = n_changes;
    p->owned = true;
    return 0;
}

static bool stor__nsplan_is_fresh(const stor__nsplan_t *p, const stor_ns_t *e, size_t *at)
{
    for (size_t i = 0; i < p->n_fresh; i++) {
        if (p->fresh[i] == e) {
            *at = i;
            return true;
        }
    }
    return false;
}

/* A new entry, a copy of `from`, owned by the plan. */
static stor_ns_t *stor__nsplan_new(stor__nsplan_t *p, const stor_ns_t *from)
{
    stor_ns_t *e = kv_malloc(sizeof(*e));
    if (!e)
        return NULL;
    *e = *from;
    KV_ASSERT(p->n_fresh < p->n_max);
    p->fresh[p->n_fresh++] = e;
    return e;
}

/* Let go of e, which v no longer holds: free it if the plan made it, else
 * retire it (the mirror may still show it until publish). */
static void stor__nsplan_drop(stor__nsplan_t *p, stor_ns_t *e)
{
    size_t at;
    if (stor__nsplan_is_fresh(p, e, &at)) {
        p->fresh[at] = p->fresh[--p->n_fresh];
        kv_free(e);
    } else {
        KV_ASSERT(p->n_retired < p->n_max);
        p->retired[p->n_retired++] = e;
    }
}

static void stor__nsplan_touch(stor__nsplan_t *p, const char *id, bool wiped)
{
    for (size_t i = 0; i < p->n_touched; i++) {
        if (memcmp(p->touched[i].id, id, KV_NS_ID_LEN) == 0) {
            p->touched[i].wiped = p->touched[i].wiped || wiped;
            return;
        }
    }
    KV_ASSERT(p->n_touched < p->n_max);
    memcpy(p->touched[p->n_touched].id, id, KV_NS_ID_LEN);
    p->touched[p->n_touched++].wiped = wiped;
}

static int stor__nsplan_create(stor__nsplan_t *p, const stor_ns_change_t *ch, int *result)
{
    bool found;
    size_t i = stor__nsv_find(p->v, p->count, ch->id, &found);
    stor_ns_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.id, ch->id, KV_NS_ID_LEN);
    strcpy(tmp.account, ch->account); /* lengths checked by stor__ns_change_check */
    strcpy(tmp.title, ch->title);
    tmp.version = ch->version;
    stor_ns_t *e = stor__nsplan_new(p, &tmp);
    if (!e)
        return -ENOMEM;
    if (found) { /* the decided entry replaces ours */
        stor__nsplan_drop(p, p->v[i]);
    } else {
        memmove(p->v + i + 1, p->v + i, (p->count - i) * sizeof(*p->v));
        p->count++;
    }
    p->v[i] = e;
    stor__nsplan_touch(p, ch->id, false);
    *result = 0;
    return 0;
}

static int stor__nsplan_rename(stor__nsplan_t *p, const stor_ns_change_t *ch, int *result)
{
    bool found;
    size_t i = stor__nsv_find(p->v, p->count, ch->id, &found);
    *result = found ? 0 : KV_ENOTFOUND;
    stor_ns_t *cur = found ? p->v[i] : NULL;
    if (*result)
        return 0;
    size_t at;
    if (!stor__nsplan_is_fresh(p, cur, &at)) {
        stor_ns_t *e = stor__nsplan_new(p, cur);
        if (!e)
            return -ENOMEM;
        KV_ASSERT(p->n_retired < p->n_max);
        p->retired[p->n_retired++] = cur;
        p->v[i] = cur = e;
    }
    strcpy(cur->title, ch->title);
    cur->version = ch->version;
    stor__nsplan_touch(p, ch->id, false);
    return 0;
}

static void stor__nsplan_delete(stor__nsplan_t *p, const stor_ns_change_t *ch, int *result)
{
    bool found;
    size_t i = stor__nsv_find(p->v, p->count, ch->id, &found);
    if (found) {
        stor__nsplan_drop(p, p->v[i]);
        memmove(p->v + i, p->v + i + 1, (p->count - i - 1) * sizeof(*p->v));
        p->count--;
    }
    /* Wipe the id's records even if the entry is unknown here. */
    stor__nsplan_touch(p, ch->id, true);
    *result = 0;
}

int stor__nsplan_apply(stor__nsplan_t *p, const stor_ns_change_t *ch, int *result)
{
    KV_ASSERT(p->owned);
    switch (ch->kind) {
    case STOR_NS_CREATE:
        return stor__nsplan_create(p, ch, result);
    case STOR_NS_RENAME:
        return stor__nsplan_rename(p, ch, result);
    case STOR_NS_DELETE:
        stor__nsplan_delete(p, ch, result);
        return 0;
    }
    KV_ASSERT(!"kind checked by stor__ns_change_check");
    return KV_EINVAL;
}

/* Per touched id, in the order first touched: a deleted id loses its entry
 * and every record (a hex digit + 1 never carries, so [id, id+1) is exactly
 * the id's keys); an id present at the end gets its final entry. */
void stor__nsplan_write(stor_t *s, const stor__nsplan_t *p, rocksdb_writebatch_t *wb)
{
    for (size_t t = 0; t < p->n_touched; t++) {
        const char *id = p->touched[t].id;
        if (p->touched[t].wiped) {
            char hi[KV_NS_ID_LEN];
            memcpy(hi, id, KV_NS_ID_LEN);
            hi[KV_NS_ID_LEN - 1]++;
            rocksdb_writebatch_delete_cf(wb, s->cf_ns, id, KV_NS_ID_LEN);
            rocksdb_writebatch_delete_range_cf(wb, s->cf_records, id, KV_NS_ID_LEN, hi,
                                               KV_NS_ID_LEN);
        }
        bool found;
        size_t i = stor__nsv_find(p->v, p->count, id, &found);
        if (found) {
            uint8_t buf[STOR__NS_VAL_MAX];
            size_t n = stor__ns_encode(p->v[i], buf);
            rocksdb_writebatch_put_cf(wb, s->cf_ns, id, KV_NS_ID_LEN, (const char *)buf, n);
        }
    }
}

void stor__nsplan_publish(stor_t *s, stor__nsplan_t *p)
{
    if (!p->owned)
        return;
    pthread_rwlock_wrlock(&s->ns_lock);
    stor_ns_t **old = s->ns;
    s->ns = p->v;
    s->ns_count = p->count;
    s->ns_cap = p->cap;
    pthread_rwlock_unlock(&s->ns_lock);
    /* No reader keeps an entry pointer past the rwlock: safe to free. */
    kv_free(old);
    for (size_t i = 0; i < p->n_retired; i++)
        kv_free(p->retired[i]);
    kv_free(p->fresh);
    memset(p, 0, sizeof(*p));
}

void stor__nsplan_abort(stor__nsplan_t *p)
{
    if (!p->owned)
        return;
    for (size_t i = 0; i < p->n_fresh; i++)
        kv_free(p->fresh[i]);
    kv_free(p->v);
    kv_free(p->fresh);
    memset(p, 0, sizeof(*p));
}
