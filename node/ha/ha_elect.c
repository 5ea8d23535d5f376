/*
 * ha_elect.c - the election's state machine (the contract and the safety
 * argument: ha_elect.h).
 *
 * At most one request of the election is in flight (e->op), plus one
 * best-effort revoke of a lease it let go (e->drop_id). A follower reads the
 * key (OP_READ); absent, it grants a lease (OP_GRANT) and claims the key
 * (OP_CLAIM). A leader renews (OP_RENEW), then checks the key (OP_CHECK).
 * The deadline is e->until_ms, published in e->lead_until_ms for
 * ha_elect_leading; every handler ends in rearm(), which asks wake_at for
 * the earliest of the next request and the deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ha_elect.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

#define NONE               UINT64_MAX /* no time asked for */
#define KEY_MAX_BYTES      (sizeof "/edgekv//leader" + KV_HA_CLUSTER_MAX_BYTES)
#define SYNC_KEY_MAX_BYTES (sizeof "/edgekv//sync" + KV_HA_CLUSTER_MAX_BYTES)
/* The key's value: {"name":"...","address":"..."}. */
#define VALUE_MAX_BYTES (KV_HA_NAME_MAX_BYTES + KV_HA_ADDRESS_MAX_BYTES + 32)

typedef enum { ST_IDLE, ST_FOLLOW, ST_LEAD, ST_STOPPING, ST_STOPPED } state_t;
/* What the next request is for. */
typedef enum { STEP_READ, STEP_GUARD, STEP_CLAIM, STEP_RENEW, STEP_CHECK } step_t;
typedef enum { OP_NONE, OP_READ, OP_GUARD, OP_GRANT, OP_CLAIM, OP_RENEW, OP_CHECK, OP_REVOKE } op_t;

struct ha_elect {
    char key[KEY_MAX_BYTES];
    char sync_key[SYNC_KEY_MAX_BYTES]; /* the leader's record of its standbys */
    int64_t guard_mod;                 /* its mod_revision when read before a claim */
    uint64_t pub_id;                   /* a ha_elect_publish in flight; 0: none */
    bool restart_checked;              /* the first read looked for a key of its own */
    void (*pub_cb)(void *arg, bool ok);
    void *pub_arg;
    char value[VALUE_MAX_BYTES];
    char name[KV_HA_NAME_MAX_BYTES + 1];
    char address[KV_HA_ADDRESS_MAX_BYTES + 1];
    uint64_t lease_ms, poll_ms, renew_ms, retry_ms;
    ha_now_fn now;
    void *now_arg;
    ha_etcd_t *etcd;
    ha_elect_cbs_t cbs;

    state_t state;
    op_t op;        /* the request in flight */
    uint64_t op_id; /* its ha_etcd id */
    uint64_t op_sent_ms;
    step_t step;            /* the next request */
    uint64_t next_ms;       /* when it starts (op == OP_NONE); NONE: not planned */
    int64_t lease;          /* the lease held (granted, not yet let go); 0: none */
    uint64_t until_ms;      /* the lease's local deadline: last answered send + lease */
    uint64_t renew_base_ms; /* the send time until_ms derives from */
    int64_t term;           /* while leading */
    uint64_t drop_id;       /* a revoke of a lease let go, in flight; 0: none */
    ha_leader_t seen;
    void (*done)(void *arg);
    void *done_arg;

    /* For ha_elect_leading on any thread: 0 when not leading. */
    _Atomic uint64_t lead_until_ms;
    _Atomic int64_t lead_term;
};

uint64_t ha_clock_now_ms(void *unused)
{
    struct timespec ts;
    (void)unused;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *ha_deposed_str(ha_deposed_t why)
{
    switch (why) {
    case HA_DEPOSED_LEASE:
        return "lease";
    case HA_DEPOSED_DEADLINE:
        return "deadline";
    case HA_DEPOSED_KEY:
        return "key";
    case HA_DEPOSED_STOPPED:
        return "stopped";
    }
    return "?";
}

static uint64_t now_ms(const ha_elect_t *e)
{
    return e->now(e->now_arg);
}

static void plan(ha_elect_t *e, step_t step, uint64_t at_ms)
{
    e->step = step;
    e->next_ms = at_ms;
}

/* ---- wake-ups and the leader's deadline ------------------------------------------------ */

static void rearm(ha_elect_t *e)
{
    uint64_t at = e->op == OP_NONE ? e->next_ms : NONE;
    if (e->state == ST_LEAD && e->until_ms < at)
        at = e->until_ms;
    if (at != NONE && e->state != ST_STOPPED)
        e->cbs.wake_at(e->cbs.wake_arg, at);
}

static void publish(ha_elect_t *e, bool leading)
{
    if (!leading) {
        atomic_store_explicit(&e->lead_until_ms, 0, memory_order_release);
        return;
    }
    atomic_store_explicit(&e->lead_term, e->term, memory_order_relaxed);
    atomic_store_explicit(&e->lead_until_ms, e->until_ms, memory_order_release);
}

bool ha_elect_leading(ha_elect_t *e, int64_t *term)
{
    uint64_t until = atomic_load_explicit(&e->lead_until_ms, memory_order_acquire);
    int64_t t = atomic_load_explicit(&e->lead_term, memory_order_relaxed);
    if (until == 0 || now_ms(e) >= until)
        return false;
    if (term)
        *term = t;
    return true;
}

static void seen(ha_elect_t *e, const ha_leader_t *l)
{
    if (l->term == e->seen.term && strcmp(l->name, e->seen.name) == 0 &&
        strcmp(l->address, e->seen.address) == 0)
        return;
    e->seen = *l;
    if (e->cbs.on_leader_seen)
        e->cbs.on_leader_seen(e->cbs.arg, &e->seen);
}

/* The leader in a key's value ({"name","address"}); an unreadable value
 * still names a leader, "?". */
static void seen_kv(ha_elect_t *e, const ha_kv_t *kv)
{
    ha_leader_t l = {.term = kv->found ? kv->create_revision : 0};
    json_t *v = kv->found ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *addr = json_string_value(json_object_get(v, "address"));
    if (kv->found) {
        snprintf(l.name, sizeof l.name, "%s", name ? name : "?");
        snprintf(l.address, sizeof l.address, "%s", addr ? addr : "?");
    }
    json_decref(v);
    seen(e, &l);
}

/* ---- letting a lease go ------------------------------------------------------------------ */

static void cancel_publish(ha_elect_t *e)
{
    if (e->pub_id)
        ha_etcd_cancel(e->etcd, e->pub_id);
    e->pub_id = 0;
    e->pub_cb = NULL;
}

static void on_dropped(void *arg, const ha_etcd_result_t *r)
{
    ha_elect_t *e = arg;
    e->drop_id = 0;
    if (r->err && r->err != KV_ENOTFOUND)
        KV_LOG_DEBUG("ha", "revoke of a lease let go: %s (it expires by itself)",
                     kv_strerror(r->err));
}

/* Best effort: a lease that could still hold the key is revoked, so the key
 * frees now rather than at its expiry; if this fails it expires anyway. */
static void drop_lease(ha_elect_t *e)
{
    int64_t lease = e->lease;
    e->lease = 0;
    if (!lease)
        return;
    if (e->drop_id)
        ha_etcd_cancel(e->etcd, e->drop_id); /* an older one: it expires by itself */
    e->drop_id = 0;
    if (ha_etcd_revoke(e->etcd, lease, e->lease_ms, on_dropped, e, &e->drop_id) != 0)
        e->drop_id = 0;
}

static void cancel_op(ha_elect_t *e)
{
    if (e->op != OP_NONE)
        ha_etcd_cancel(e->etcd, e->op_id);
    e->op = OP_NONE;
}

/* ---- leading ------------------------------------------------------------------------------ */

static void depose(ha_elect_t *e, ha_deposed_t why)
{
    int64_t term = e->term;
    publish(e, false); /* first: no thread believes it leads from here on */
    e->state = why == HA_DEPOSED_STOPPED ? ST_STOPPING : ST_FOLLOW;
    cancel_op(e);
    KV_LOG_INFO("ha", "%s: no longer leader of term %lld (%s)", e->name, (long long)term,
                ha_deposed_str(why));
    cancel_publish(e); /* its answer no longer matters: the txn checks the term anyway */
    if (e->cbs.on_deposed)
        e->cbs.on_deposed(e->cbs.arg, term, why, e->until_ms);
    e->term = 0;
    if (why != HA_DEPOSED_STOPPED) {
        drop_lease(e);
        plan(e, STEP_READ, now_ms(e) + e->poll_ms);
    }
}

static void lead(ha_elect_t *e, int64_t term)
{
    ha_leader_t self = {.term = term};
    uint64_t now = now_ms(e);
    if (now >= e->until_ms) { /* won too late to lead at all: let it go */
        drop_lease(e);
        plan(e, STEP_READ, now);
        return;
    }
    e->state = ST_LEAD;
    e->term = term;
    publish(e, true);
    snprintf(self.name, sizeof self.name, "%s", e->name);
    snprintf(self.address, sizeof self.address, "%s", e->address);
    seen(e, &self);
    KV_LOG_INFO("ha", "%s: leader of term %lld", e->name, (long long)term);
    if (e->cbs.on_leader)
        e->cbs.on_leader(e->cbs.arg, term, e->until_ms);
    plan(e, STEP_RENEW, e->renew_base_ms + e->renew_ms);
}

static void on_renewed(ha_elect_t *e, const ha_etcd_result_t *r)
{
    uint64_t now = now_ms(e), ttl_ms = (uint64_t)r->ttl_s * 1000u;
    uint64_t until = e->op_sent_ms + (ttl_ms < e->lease_ms ? ttl_ms : e->lease_ms);
    if (r->err) {
        plan(e, STEP_RENEW, now + e->retry_ms); /* the deadline decides, not one failure */
        return;
    }
    if (r->ttl_s <= 0) {
        depose(e, HA_DEPOSED_LEASE);
        return;
    }
    if (now >= e->until_ms) { /* answered after the deadline: too late to count */
        depose(e, HA_DEPOSED_DEADLINE);
        return;
    }
    if (until > e->until_ms) {
        e->until_ms = until;
        e->renew_base_ms = e->op_sent_ms;
        publish(e, true);
        if (e->cbs.on_renewed)
            e->cbs.on_renewed(e->cbs.arg, e->term, e->until_ms);
    }
    plan(e, STEP_CHECK, now);
}

static void on_checked(ha_elect_t *e, const ha_etcd_result_t *r)
{
    plan(e, STEP_RENEW, e->renew_base_ms + e->renew_ms);
    if (r->err)
        return; /* the lease is renewed; the key is read again next round */
    if (!r->kv.found || r->kv.lease != e->lease || r->kv.create_revision != e->term)
        depose(e, HA_DEPOSED_KEY);
}

/* ---- following ---------------------------------------------------------------------------- */

static void on_read(ha_elect_t *e, const ha_etcd_result_t *r)
{
    uint64_t now = now_ms(e);
    if (r->err) {
        plan(e, STEP_READ, now + e->retry_ms);
        return;
    }
    if (r->kv.found && e->lease && r->kv.lease == e->lease) {
        lead(e, r->kv.create_revision); /* a claim whose answer was lost did win */
        return;
    }
    if (!e->restart_checked && r->kv.found && strcmp(r->kv.value, e->value) == 0) {
        /* The key names this candidate - its name and address - under a
         * lease it does not hold: it led before a restart, and the process
         * that held the lease is gone (this one holds its address and its
         * store). Revoking that lease frees the key now instead of when it
         * expires. Only on the first read: later, a key of its own is one
         * it won (above). */
        e->restart_checked = true;
        KV_LOG_INFO("ha",
                    "%s: the leader key is this candidate's from before its restart: "
                    "revoking lease %" PRId64,
                    e->name, r->kv.lease);
        drop_lease(e);
        e->lease = r->kv.lease;
        drop_lease(e);
        plan(e, STEP_READ, now + e->retry_ms);
        return;
    }
    e->restart_checked = true;
    seen_kv(e, &r->kv);
    if (r->kv.found) {
        drop_lease(e); /* someone leads */
        plan(e, STEP_READ, now + e->poll_ms);
        return;
    }
    plan(e, STEP_GUARD, now);
}

/* The leader key is absent: the record of the last leader's standbys, read
 * after it, decides whether this candidate may claim (may_claim); the
 * claim then holds only if the record has not moved since (the guard). */
static void on_guard(ha_elect_t *e, const ha_etcd_result_t *r)
{
    uint64_t now = now_ms(e);
    if (r->err) {
        plan(e, STEP_READ, now + e->retry_ms);
        return;
    }
    if (e->cbs.may_claim && !e->cbs.may_claim(e->cbs.arg, r->kv.found ? r->kv.value : NULL)) {
        drop_lease(e); /* this candidate's log may lack what was acknowledged */
        plan(e, STEP_READ, now + e->poll_ms);
        return;
    }
    e->guard_mod = r->kv.found ? r->kv.mod_revision : 0;
    plan(e, STEP_CLAIM, now);
}

static void on_granted(ha_elect_t *e, const ha_etcd_result_t *r)
{
    uint64_t ttl_ms = (uint64_t)r->ttl_s * 1000u;
    if (r->err) {
        plan(e, STEP_READ, now_ms(e) + e->retry_ms);
        return;
    }
    e->lease = r->lease;
    e->renew_base_ms = e->op_sent_ms;
    e->until_ms = e->op_sent_ms + (ttl_ms < e->lease_ms ? ttl_ms : e->lease_ms);
    plan(e, STEP_CLAIM, now_ms(e));
}

static void on_claimed(ha_elect_t *e, const ha_etcd_result_t *r)
{
    uint64_t now = now_ms(e);
    if (r->err) { /* it may have landed: read the key to know */
        plan(e, STEP_READ, now);
        return;
    }
    if (r->created) {
        lead(e, r->revision);
        return;
    }
    if (r->kv.found && r->kv.lease == e->lease) {
        lead(e, r->kv.create_revision);
        return;
    }
    seen_kv(e, &r->kv); /* lost the race */
    drop_lease(e);
    plan(e, STEP_READ, now + e->poll_ms);
}

/* ---- requests ----------------------------------------------------------------------------- */

static void on_answer(void *arg, const ha_etcd_result_t *r);

/* The request of the planned step. One that cannot start is retried after
 * retry_ms, like a failed answer. */
static void issue(ha_elect_t *e)
{
    uint64_t now = now_ms(e), left = e->until_ms > now ? e->until_ms - now : 1;
    step_t step = e->step;
    int rc;
    op_t op;
    if (step == STEP_CLAIM && e->lease && now + e->renew_ms >= e->until_ms)
        drop_lease(e); /* too close to its deadline to lead for a while: a new one */
    e->op_sent_ms = now;
    e->next_ms = NONE;
    switch (step) {
    case STEP_RENEW:
        op = OP_RENEW;
        rc = ha_etcd_keepalive(e->etcd, e->lease, left, on_answer, e, &e->op_id);
        break;
    case STEP_CHECK:
        op = OP_CHECK;
        rc = ha_etcd_get(e->etcd, e->key, left, on_answer, e, &e->op_id);
        break;
    case STEP_GUARD:
        op = OP_GUARD;
        rc = ha_etcd_get(e->etcd, e->sync_key, e->lease_ms, on_answer, e, &e->op_id);
        break;
    case STEP_CLAIM:
        if (!e->lease) {
            int64_t ttl_s = (int64_t)((e->lease_ms + 999u) / 1000u); /* etcd: whole seconds */
            op = OP_GRANT;
            rc = ha_etcd_grant(e->etcd, ttl_s, e->lease_ms, on_answer, e, &e->op_id);
        } else {
            op = OP_CLAIM;
            rc = ha_etcd_put_absent(e->etcd, e->key, e->value, e->lease, e->sync_key, e->guard_mod,
                                    left, on_answer, e, &e->op_id);
        }
        break;
    default:
        op = OP_READ;
        rc = ha_etcd_get(e->etcd, e->key, e->lease_ms, on_answer, e, &e->op_id);
        break;
    }
    if (rc != 0) {
        KV_LOG_WARN("ha", "%s: cannot send to etcd: %s", e->name, kv_strerror(rc));
        plan(e, step == STEP_CHECK ? STEP_RENEW : step, now + e->retry_ms);
        return;
    }
    e->op = op;
}

/* Starts the planned request if its time has come. */
static void advance(ha_elect_t *e)
{
    if ((e->state == ST_FOLLOW || e->state == ST_LEAD) && e->op == OP_NONE && e->next_ms != NONE &&
        now_ms(e) >= e->next_ms)
        issue(e);
}

static void on_answer(void *arg, const ha_etcd_result_t *r)
{
    ha_elect_t *e = arg;
    op_t op = e->op;
    e->op = OP_NONE;
    switch (op) {
    case OP_READ:
        on_read(e, r);
        break;
    case OP_GUARD:
        on_guard(e, r);
        break;
    case OP_GRANT:
        on_granted(e, r);
        break;
    case OP_CLAIM:
        on_claimed(e, r);
        break;
    case OP_RENEW:
        on_renewed(e, r);
        break;
    case OP_CHECK:
        on_checked(e, r);
        break;
    default:
        break;
    }
    advance(e);
    rearm(e);
}

/* ---- the owner's calls -------------------------------------------------------------------- */

static void stopped(ha_elect_t *e)
{
    void (*done)(void *) = e->done;
    e->state = ST_STOPPED;
    e->done = NULL;
    if (done)
        done(e->done_arg); /* last: the owner may free e */
}

static void on_revoked(void *arg, const ha_etcd_result_t *r)
{
    ha_elect_t *e = arg;
    e->op = OP_NONE;
    if (r->err && r->err != KV_ENOTFOUND)
        KV_LOG_WARN("ha", "%s: revoke on stop: %s (the lease expires by itself)", e->name,
                    kv_strerror(r->err));
    stopped(e);
}

void ha_elect_tick(ha_elect_t *e)
{
    uint64_t now = now_ms(e);
    if (e->state == ST_STOPPED)
        return;
    if (e->state == ST_STOPPING) {
        if (e->op == OP_NONE)
            stopped(e);
        return;
    }
    if (e->state == ST_LEAD && now >= e->until_ms)
        depose(e, HA_DEPOSED_DEADLINE);
    advance(e);
    rearm(e);
}

int ha_elect_start(ha_elect_t *e)
{
    if (e->state != ST_IDLE)
        return KV_EINVAL;
    e->state = ST_FOLLOW;
    plan(e, STEP_READ, now_ms(e));
    rearm(e);
    return 0;
}

int ha_elect_stop(ha_elect_t *e, void (*done)(void *arg), void *arg)
{
    int64_t lease;
    if (e->state == ST_STOPPING || e->state == ST_STOPPED)
        return KV_EINVAL;
    e->done = done;
    e->done_arg = arg;
    if (e->state == ST_LEAD)
        depose(e, HA_DEPOSED_STOPPED);
    cancel_op(e);
    cancel_publish(e);
    e->state = ST_STOPPING;
    if (e->drop_id)
        ha_etcd_cancel(e->etcd, e->drop_id);
    e->drop_id = 0;
    lease = e->lease;
    e->lease = 0;
    if (lease && ha_etcd_revoke(e->etcd, lease, e->lease_ms, on_revoked, e, &e->op_id) == 0) {
        e->op = OP_REVOKE;
        return 0;
    }
    e->next_ms = now_ms(e); /* done from the next tick */
    e->cbs.wake_at(e->cbs.wake_arg, e->next_ms);
    return 0;
}

void ha_elect_leader(const ha_elect_t *e, ha_leader_t *out)
{
    *out = e->seen;
}

static void on_published(void *arg, const ha_etcd_result_t *r)
{
    ha_elect_t *e = arg;
    void (*cb)(void *, bool) = e->pub_cb;
    bool ok = r->err == 0 && r->created;
    e->pub_id = 0;
    e->pub_cb = NULL;
    if (!ok)
        KV_LOG_WARN("ha", "%s: the standbys' record was not written (%s)", e->name,
                    r->err ? kv_strerror(r->err) : "no longer the leader's key");
    if (cb)
        cb(e->pub_arg, ok);
}

int ha_elect_publish(ha_elect_t *e, const char *record, void (*done)(void *arg, bool ok), void *arg)
{
    if (e->state != ST_LEAD || e->pub_id || !record || strlen(record) > KV_HA_RECORD_MAX_BYTES)
        return KV_EINVAL;
    uint64_t now = now_ms(e), left = e->until_ms > now ? e->until_ms - now : 1;
    int rc = ha_etcd_put_if(e->etcd, e->sync_key, record, e->key, e->term, left, on_published, e,
                            &e->pub_id);
    if (rc == 0) {
        e->pub_cb = done;
        e->pub_arg = arg;
    }
    return rc;
}

/* ---- creation ----------------------------------------------------------------------------- */

static bool word_ok(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || strchr(extra, ch)))
            return false;
    }
    return true;
}

int ha_elect_key(const char *cluster, char *buf, size_t size)
{
    if (!word_ok(cluster, KV_HA_CLUSTER_MAX_BYTES, ""))
        return KV_EINVAL;
    return (size_t)snprintf(buf, size, "/edgekv/%s/leader", cluster) < size ? 0 : KV_ETOOBIG;
}

static int check_config(const ha_elect_config_t *cfg, const ha_elect_cbs_t *cbs)
{
    uint64_t lease = cfg->lease_ms ? cfg->lease_ms : KV_HA_LEASE_MS_DEFAULT;
    const char *what = NULL;
    if (!word_ok(cfg->cluster, KV_HA_CLUSTER_MAX_BYTES, ""))
        what = "cluster name: 1 to 64 of [A-Za-z0-9._-]";
    else if (!word_ok(cfg->name, KV_HA_NAME_MAX_BYTES, ""))
        what = "candidate name: 1 to 64 of [A-Za-z0-9._-]";
    else if (!word_ok(cfg->address, KV_HA_ADDRESS_MAX_BYTES, ":[]"))
        what = "address: host:port, 1 to 256 of [A-Za-z0-9._-:[]]";
    else if (lease < KV_HA_LEASE_MS_MIN || lease > KV_HA_LEASE_MS_MAX)
        what = "lease: 500 to 60000 ms";
    else if (cfg->poll_ms > lease)
        what = "poll interval: at most the lease";
    else if (!cbs->wake_at)
        what = "no wake_at";
    if (what)
        KV_LOG_ERROR("ha", "invalid %s", what);
    return what ? KV_EINVAL : 0;
}

int ha_elect_create(const ha_elect_config_t *cfg, ha_etcd_t *etcd, const ha_elect_cbs_t *cbs,
                    ha_elect_t **out)
{
    ha_elect_t *e;
    int rc;
    if ((rc = check_config(cfg, cbs)) != 0)
        return rc;
    if (!(e = kv_calloc(1, sizeof *e)))
        return -ENOMEM;
    ha_elect_key(cfg->cluster, e->key, sizeof e->key);
    snprintf(e->sync_key, sizeof e->sync_key, "/edgekv/%s/sync", cfg->cluster);
    snprintf(e->name, sizeof e->name, "%s", cfg->name);
    snprintf(e->address, sizeof e->address, "%s", cfg->address);
    snprintf(e->value, sizeof e->value, "{\"name\":\"%s\",\"address\":\"%s\"}", e->name,
             e->address); /* both checked: nothing to escape */
    e->lease_ms = cfg->lease_ms ? cfg->lease_ms : KV_HA_LEASE_MS_DEFAULT;
    e->poll_ms = cfg->poll_ms ? cfg->poll_ms : e->lease_ms / KV_HA_POLL_DIV;
    e->renew_ms = e->lease_ms / KV_HA_RENEW_DIV;
    e->retry_ms = e->lease_ms / KV_HA_RETRY_DIV;
    e->now = cfg->now ? cfg->now : ha_clock_now_ms;
    e->now_arg = cfg->now_arg;
    e->etcd = etcd;
    e->cbs = *cbs;
    e->next_ms = NONE;
    atomic_init(&e->lead_until_ms, 0);
    atomic_init(&e->lead_term, 0);
    *out = e;
    return 0;
}

void ha_elect_free(ha_elect_t *e)
{
    if (!e)
        return;
    cancel_op(e);
    cancel_publish(e);
    if (e->drop_id)
        ha_etcd_cancel(e->etcd, e->drop_id);
    kv_free(e);
}
