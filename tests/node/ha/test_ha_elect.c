/* test_ha_elect.c - the election (node/ha/ha_elect.c) and the etcd client
 * (node/ha/ha_etcd.c) against a fake etcd behind the ha_http.h seam, on a
 * virtual clock.
 *
 * The fake is one etcd store shared by every candidate: revisions, leases
 * that expire on the virtual clock, the leader key, and its gateway's JSON
 * (int64 as strings, base64 keys and values, an error answer followed by a
 * gRPC trailer). Three members: each can refuse connections or hang (the
 * request times out at its deadline), and the next answers can be lost
 * after they were applied. step() moves the clock to the next event (an
 * answer due, a lease expiring, a wake-up asked for) and checks after each
 * that no two candidates lead at once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ha_elect.h"
#include "ha_sync.h"
#include "ha_etcd.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "kv_mem.h"

#define MEMBERS    3
#define CANDIDATES 3
#define PENDING    64
#define LEASES     256
#define NEVER      UINT64_MAX
#define LEASE_MS   2000u
#define TTL_S      2

static const char *const urls[MEMBERS] = {"http://m0:2379", "http://m1:2379", "http://m2:2379"};

/* ---- the fake etcd -------------------------------------------------------------------- */

typedef struct {
    bool used;
    uint64_t id;
    uint64_t due_ms;
    int err; /* 0: answer below */
    long status;
    char *body;
    ha_http_cb cb;
    void *arg;
    const bool *paused; /* its candidate's: a paused one gets nothing */
} pending_t;

static struct {
    uint64_t now;
    int64_t revision;
    int64_t next_lease;
    struct {
        int64_t id;
        int64_t ttl_s;
        uint64_t expires_ms;
        bool live;
    } leases[LEASES];
    struct fkey {
        bool present;
        int64_t create_rev, mod_rev, lease;
        char value[512];
    } key, sync; /* /edgekv/test/leader and /edgekv/test/sync */
    bool down[MEMBERS];
    bool hang[MEMBERS];
    const char *lose_path;        /* the next lose_count requests to this path are */
    unsigned lose_count;          /* applied, and their answers lost */
    uint64_t latency_ms;          /* every answer arrives this much later */
    unsigned requests[MEMBERS];   /* per member */
    unsigned keepalives, revokes; /* applied */
    unsigned txns_put;            /* txns whose compares held */
    bool move_sync_at_claim;      /* the next claim finds the record moved since its read */
    pending_t pending[PENDING];
    uint64_t next_id;
} F;

static uint64_t fake_now(void *arg)
{
    (void)arg;
    return F.now;
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static void unb64(const char *s, char *out, size_t size)
{
    size_t n = strlen(s), pad = 0;
    int len;
    assert_true(3 * (n / 4) + 1 <= size);
    len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
        pad++;
    out[len - (int)pad] = '\0';
}

static int64_t jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : 0;
}

static void delete_key(void)
{
    F.key.present = false;
    F.revision++;
}

/* Leases whose time has come go, with the key attached to them. */
static void expire_leases(void)
{
    int i;
    for (i = 0; i < LEASES; i++) {
        if (F.leases[i].live && F.leases[i].expires_ms <= F.now) {
            F.leases[i].live = false;
            if (F.key.present && F.key.lease == F.leases[i].id)
                delete_key();
        }
    }
}

static int lease_index(int64_t id)
{
    int i;
    for (i = 0; i < LEASES; i++)
        if (F.leases[i].live && F.leases[i].id == id)
            return i;
    return -1;
}

static char *header(void)
{
    static char h[96];
    snprintf(h, sizeof h, "\"header\":{\"cluster_id\":\"1\",\"revision\":\"%lld\"}",
             (long long)F.revision);
    return h;
}

static char *kvs_of(const struct fkey *key, const char *name)
{
    static char s[1024];
    char *k = b64(name), *v = b64(key->value);
    if (!key->present)
        snprintf(s, sizeof s, "%s", header());
    else
        snprintf(s, sizeof s,
                 "%s,\"kvs\":[{\"key\":\"%s\",\"create_revision\":\"%lld\",\"mod_revision\":"
                 "\"%lld\",\"version\":\"1\",\"value\":\"%s\",\"lease\":\"%lld\"}],\"count\":\"1\"",
                 header(), k, (long long)key->create_rev, (long long)key->mod_rev, v,
                 (long long)key->lease);
    free(k);
    free(v);
    return s;
}

/* The fake's key a request names (base64 in "key"). */
static struct fkey *key_named(json_t *o, const char **name)
{
    char k[128];
    unb64(json_string_value(json_object_get(o, "key")), k, sizeof k);
    if (strcmp(k, "/edgekv/test/sync") == 0) {
        *name = "/edgekv/test/sync";
        return &F.sync;
    }
    assert_string_equal(k, "/edgekv/test/leader");
    *name = "/edgekv/test/leader";
    return &F.key;
}

/* Every compare of a txn holds (EQUAL on CREATE or MOD; an absent key's
 * revisions are 0, as etcd has them). */
static bool compares_hold(json_t *j)
{
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(j, "compare"), i, c)
    {
        const char *name, *target = json_string_value(json_object_get(c, "target"));
        struct fkey *k = key_named(c, &name);
        assert_string_equal(json_string_value(json_object_get(c, "result")), "EQUAL");
        bool create = strcmp(target, "CREATE") == 0;
        assert_true(create || strcmp(target, "MOD") == 0);
        int64_t have = !k->present ? 0 : create ? k->create_rev : k->mod_rev;
        if (have != jnum(c, create ? "create_revision" : "mod_revision"))
            return false;
    }
    return true;
}

/* Applies one request as etcd would; the answer into *status, *body. */
static void apply(const char *path, const char *req, long *status, char **body)
{
    json_t *j = json_loads(req, 0, NULL);
    char buf[2048];
    assert_non_null(j);
    expire_leases();
    *status = 200;
    if (strcmp(path, "/v3/lease/grant") == 0) {
        int i = 0;
        while (F.leases[i].live)
            i++;
        F.leases[i].id = ++F.next_lease;
        F.leases[i].ttl_s = jnum(j, "TTL");
        F.leases[i].expires_ms = F.now + (uint64_t)F.leases[i].ttl_s * 1000u;
        F.leases[i].live = true;
        snprintf(buf, sizeof buf, "{%s,\"ID\":\"%lld\",\"TTL\":\"%lld\"}", header(),
                 (long long)F.leases[i].id, (long long)F.leases[i].ttl_s);
    } else if (strcmp(path, "/v3/lease/keepalive") == 0) {
        int i = lease_index(jnum(j, "ID"));
        F.keepalives++;
        if (i >= 0) {
            F.leases[i].expires_ms = F.now + (uint64_t)F.leases[i].ttl_s * 1000u;
            snprintf(buf, sizeof buf, "{\"result\":{%s,\"ID\":\"%lld\",\"TTL\":\"%lld\"}}\n",
                     header(), (long long)F.leases[i].id, (long long)F.leases[i].ttl_s);
        } else {
            snprintf(buf, sizeof buf, "{\"result\":{%s,\"ID\":\"%lld\"}}\n", header(),
                     (long long)jnum(j, "ID"));
        }
    } else if (strcmp(path, "/v3/lease/revoke") == 0) {
        int i = lease_index(jnum(j, "ID"));
        F.revokes++;
        if (i < 0) {
            *status = 404;
            snprintf(buf, sizeof buf,
                     "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}"
                     "Grpc-Trailer-Content-Type: application/grpc\n");
        } else {
            F.leases[i].live = false;
            if (F.key.present && F.key.lease == F.leases[i].id)
                delete_key();
            else
                F.revision++;
            snprintf(buf, sizeof buf, "{%s}", header());
        }
    } else if (strcmp(path, "/v3/kv/range") == 0) {
        const char *name;
        struct fkey *k = key_named(j, &name);
        snprintf(buf, sizeof buf, "{%s}", kvs_of(k, name));
    } else if (strcmp(path, "/v3/kv/txn") == 0) {
        json_t *put =
            json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put");
        json_t *range =
            json_object_get(json_array_get(json_object_get(j, "failure"), 0), "request_range");
        const char *name;
        if (F.move_sync_at_claim && json_array_size(json_object_get(j, "compare")) == 2) {
            F.move_sync_at_claim = false; /* a leader came and went between read and claim */
            F.sync.present = true;
            F.sync.mod_rev = ++F.revision;
            if (!F.sync.create_rev)
                F.sync.create_rev = F.sync.mod_rev;
        }
        if (compares_hold(j)) {
            struct fkey *k = key_named(put, &name);
            k->mod_rev = ++F.revision;
            if (!k->present)
                k->create_rev = k->mod_rev;
            k->present = true;
            k->lease = jnum(put, "lease");
            unb64(json_string_value(json_object_get(put, "value")), k->value, sizeof k->value);
            F.txns_put++;
            snprintf(buf, sizeof buf,
                     "{%s,\"succeeded\":true,\"responses\":[{\"response_put\":{}}]}", header());
        } else {
            struct fkey *k = key_named(range, &name);
            snprintf(buf, sizeof buf, "{%s,\"responses\":[{\"response_range\":{%s}}]}", header(),
                     kvs_of(k, name));
        }
    } else {
        fail_msg("unexpected path %s", path);
    }
    json_decref(j);
    *body = strdup(buf);
}

static int fake_post(void *impl, const char *url, const char *body, size_t body_len,
                     uint64_t timeout_ms, ha_http_cb cb, void *arg, uint64_t *id)
{
    int m, i = 0;
    pending_t *p;
    (void)body_len;
    for (m = 0; m < MEMBERS; m++)
        if (strncmp(url, urls[m], strlen(urls[m])) == 0)
            break;
    assert_true(m < MEMBERS);
    F.requests[m]++;
    while (F.pending[i].used)
        i++;
    assert_true(i < PENDING);
    p = &F.pending[i];
    memset(p, 0, sizeof *p);
    p->used = true;
    p->id = *id = ++F.next_id;
    p->cb = cb;
    p->arg = arg;
    p->paused = impl;
    if (F.down[m]) {
        p->err = -ECONNREFUSED;
        p->due_ms = F.now;
    } else if (F.hang[m]) {
        p->err = -ETIMEDOUT;
        p->due_ms = F.now + timeout_ms;
    } else {
        const char *path = url + strlen(urls[m]);
        apply(path, body, &p->status, &p->body);
        if (F.lose_count && strcmp(path, F.lose_path) == 0) {
            F.lose_count--;
            p->err = -ETIMEDOUT;
            p->due_ms = F.now + timeout_ms;
        } else if (F.latency_ms >= timeout_ms) {
            p->err = -ETIMEDOUT;
            p->due_ms = F.now + timeout_ms;
        } else {
            p->due_ms = F.now + F.latency_ms;
        }
    }
    return 0;
}

static void fake_cancel(void *impl, uint64_t id)
{
    int i;
    (void)impl;
    for (i = 0; i < PENDING; i++) {
        if (F.pending[i].used && F.pending[i].id == id) {
            free(F.pending[i].body);
            F.pending[i].used = false;
        }
    }
}

static const ha_http_ops_t fake_ops = {.post = fake_post, .cancel = fake_cancel};

/* ---- candidates ------------------------------------------------------------------------ */

typedef struct {
    ha_etcd_t *etcd;
    ha_elect_t *e;
    uint64_t wake_ms;
    unsigned leader_calls, deposed_calls, seen_calls, done_calls;
    int64_t term;      /* of the last on_leader */
    uint64_t since_ms; /* when it last became leader */
    uint64_t until_ms; /* the last deadline it was told */
    ha_deposed_t why;  /* of the last on_deposed */
    bool paused;       /* SIGSTOP: no answer, no tick */
    bool hold_claim;   /* may_claim answers no */
    bool by_record;    /* may_claim answers by the standbys' record (ha_sync.h) */
    char name[16];
    unsigned published, publish_failed;
    uint64_t deposed_at_ms;
    ha_leader_t seen;
} cand_t;

static cand_t C[CANDIDATES];

static void on_leader(void *arg, int64_t term, uint64_t until_ms)
{
    cand_t *c = arg;
    c->leader_calls++;
    c->term = term;
    c->since_ms = F.now;
    c->until_ms = until_ms;
}

static void on_renewed(void *arg, int64_t term, uint64_t until_ms)
{
    cand_t *c = arg;
    assert_int_equal(term, c->term);
    assert_true(until_ms > c->until_ms);
    c->until_ms = until_ms;
}

static void on_deposed(void *arg, int64_t term, ha_deposed_t why, uint64_t until_ms)
{
    cand_t *c = arg;
    assert_int_equal(term, c->term);
    c->deposed_calls++;
    c->why = why;
    c->until_ms = until_ms;
    c->deposed_at_ms = F.now;
}

static void on_seen(void *arg, const ha_leader_t *l)
{
    cand_t *c = arg;
    c->seen_calls++;
    c->seen = *l;
}

static bool may_claim(void *arg, const char *record)
{
    cand_t *c = arg;
    if (c->by_record && !ha_sync_may_claim(record, c->name))
        return false;
    return !c->hold_claim;
}

static void on_published(void *arg, bool ok)
{
    cand_t *c = arg;
    if (ok)
        c->published++;
    else
        c->publish_failed++;
}

static void wake_at(void *arg, uint64_t at_ms)
{
    ((cand_t *)arg)->wake_ms = at_ms;
}

static void on_done(void *arg)
{
    ((cand_t *)arg)->done_calls++;
}

static void candidate(int i, uint64_t poll_ms)
{
    char name[16], addr[32];
    int rc;
    ha_etcd_config_t ec = {.endpoints = urls,
                           .endpoint_count = MEMBERS,
                           .attempt_timeout_ms = LEASE_MS / KV_HA_ATTEMPT_DIV,
                           .now = fake_now};
    ha_http_t http = {.ops = &fake_ops, .impl = &C[i].paused};
    ha_elect_config_t cfg = {.cluster = "test",
                             .name = name,
                             .address = addr,
                             .lease_ms = LEASE_MS,
                             .poll_ms = poll_ms,
                             .now = fake_now};
    ha_elect_cbs_t cbs = {.on_leader = on_leader,
                          .on_renewed = on_renewed,
                          .on_deposed = on_deposed,
                          .on_leader_seen = on_seen,
                          .may_claim = may_claim,
                          .arg = &C[i],
                          .wake_at = wake_at,
                          .wake_arg = &C[i]};
    snprintf(name, sizeof name, "o%d", i);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", 7400 + i);
    memset(&C[i], 0, sizeof C[i]);
    C[i].wake_ms = NEVER;
    snprintf(C[i].name, sizeof C[i].name, "%s", name);
    /* Under test_alloc_failures one allocation fails: creation says so and
     * leaves nothing behind; the next try succeeds. */
    while ((rc = ha_etcd_create(&ec, http, &C[i].etcd)) == -ENOMEM)
        ;
    assert_int_equal(rc, 0);
    while ((rc = ha_elect_create(&cfg, C[i].etcd, &cbs, &C[i].e)) == -ENOMEM)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(ha_elect_start(C[i].e), 0);
}

/* SIGKILL: it sends nothing more, its requests vanish. */
static void kill_candidate(int i)
{
    ha_elect_free(C[i].e);
    ha_etcd_free(C[i].etcd);
    C[i].e = NULL;
    C[i].etcd = NULL;
    C[i].wake_ms = NEVER;
}

static int leaders(void)
{
    int i, n = 0;
    for (i = 0; i < CANDIDATES; i++)
        if (C[i].e && !C[i].paused && ha_elect_leading(C[i].e, NULL))
            n++;
    return n;
}

/* The next event: an answer due, a lease expiring, a wake-up. */
static uint64_t next_event(void)
{
    uint64_t t = NEVER;
    int i;
    for (i = 0; i < PENDING; i++)
        if (F.pending[i].used && !*F.pending[i].paused && F.pending[i].due_ms < t)
            t = F.pending[i].due_ms;
    for (i = 0; i < LEASES; i++)
        if (F.leases[i].live && F.leases[i].expires_ms < t)
            t = F.leases[i].expires_ms;
    for (i = 0; i < CANDIDATES; i++)
        if (C[i].e && !C[i].paused && C[i].wake_ms < t)
            t = C[i].wake_ms;
    return t;
}

/* Runs everything due at F.now: answers in order of their ids, then ticks. */
static void run_due(void)
{
    bool any = true;
    while (any) {
        int i, best = -1;
        any = false;
        expire_leases();
        for (i = 0; i < PENDING; i++)
            if (F.pending[i].used && !*F.pending[i].paused && F.pending[i].due_ms <= F.now &&
                (best < 0 || F.pending[i].id < F.pending[best].id))
                best = i;
        if (best >= 0) {
            pending_t p = F.pending[best];
            ha_http_resp_t r = {
                .status = p.status, .body = p.body, .body_len = p.body ? strlen(p.body) : 0};
            F.pending[best].used = false;
            p.cb(p.arg, p.err, p.err ? NULL : &r);
            free(p.body);
            any = true;
            continue;
        }
        for (i = 0; i < CANDIDATES; i++) {
            if (C[i].e && !C[i].paused && C[i].wake_ms <= F.now) {
                C[i].wake_ms = NEVER;
                ha_elect_tick(C[i].e);
                any = true;
            }
        }
    }
}

/* Advances the clock to `to`, event by event; at most one leader throughout. */
static void run_until(uint64_t to)
{
    for (;;) {
        uint64_t t;
        run_due();
        assert_true(leaders() <= 1);
        t = next_event();
        if (t > to)
            break;
        F.now = t > F.now ? t : F.now;
    }
    F.now = to;
    run_due();
    assert_true(leaders() <= 1);
}

static int leader_index(void)
{
    int i;
    for (i = 0; i < CANDIDATES; i++)
        if (C[i].e && ha_elect_leading(C[i].e, NULL))
            return i;
    return -1;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.now = 1000000;
    F.revision = 1;
    F.next_lease = 7000;
    memset(C, 0, sizeof C);
    return 0;
}

static int teardown(void **state)
{
    int i;
    (void)state;
    for (i = 0; i < CANDIDATES; i++)
        if (C[i].e)
            kill_candidate(i);
    for (i = 0; i < PENDING; i++)
        free(F.pending[i].used ? F.pending[i].body : NULL);
    return 0;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* One candidate: it leads with the key's create_revision as its term, and
 * renewals keep it leading (every lease / KV_HA_RENEW_DIV). */
static void test_single_leads_and_renews(void **state)
{
    int64_t term = 0;
    (void)state;
    candidate(0, 0);
    run_until(F.now + 100);
    assert_int_equal(C[0].leader_calls, 1);
    assert_true(ha_elect_leading(C[0].e, &term));
    assert_int_equal(term, F.key.create_rev);
    assert_int_equal(C[0].term, term);
    assert_int_equal(C[0].until_ms, C[0].since_ms + LEASE_MS); /* granted now, answered now */
    run_until(F.now + 10 * LEASE_MS);
    assert_true(ha_elect_leading(C[0].e, NULL));
    assert_int_equal(C[0].deposed_calls, 0);
    assert_in_range(F.keepalives, 10 * KV_HA_RENEW_DIV - 1, 10 * KV_HA_RENEW_DIV + 1);
    assert_string_equal(F.key.value, "{\"name\":\"o0\",\"address\":\"127.0.0.1:7400\"}");
}

/* etcd answers a renewal with "no such lease": deposed at once. */
static void test_lease_lost(void **state)
{
    int i;
    (void)state;
    candidate(0, 0);
    run_until(F.now + 100);
    assert_true(ha_elect_leading(C[0].e, NULL));
    for (i = 0; i < LEASES; i++) /* etcd lost it (an operator revoked it, a restore...) */
        if (F.leases[i].live && F.leases[i].id == F.key.lease)
            F.leases[i].live = false;
    F.key.present = true; /* the key is left: only the renewal can tell */
    run_until(F.now + LEASE_MS / KV_HA_RENEW_DIV + 1);
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_LEASE);
    assert_false(ha_elect_leading(C[0].e, NULL));
}

/* Every member hangs: renewals time out; the candidate stops leading
 * exactly at lease_ms after its last answered renewal was sent, before
 * etcd's lease expires. */
static void test_keepalive_late(void **state)
{
    uint64_t until, expires = 0;
    int i;
    (void)state;
    candidate(0, 0);
    run_until(F.now + LEASE_MS); /* a few renewals */
    until = C[0].until_ms;
    for (i = 0; i < MEMBERS; i++)
        F.hang[i] = true;
    for (i = 0; i < LEASES; i++)
        if (F.leases[i].live && F.leases[i].id == F.key.lease)
            expires = F.leases[i].expires_ms;
    assert_true(until <= expires); /* the safety argument of ha_elect.h */
    run_until(until - 1);
    assert_true(ha_elect_leading(C[0].e, NULL));
    assert_int_equal(C[0].deposed_calls, 0);
    F.now = until; /* before any tick: leading() reads the clock */
    assert_false(ha_elect_leading(C[0].e, NULL));
    run_until(until);
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_DEADLINE);
    assert_int_equal(C[0].until_ms, until);
}

/* A renewal answered after the deadline does not bring leadership back:
 * the process is paused right after it sent a renewal (etcd renews the
 * lease), and the answer is read when it resumes, past its deadline. */
static void test_answer_after_deadline(void **state)
{
    unsigned k;
    uint64_t until;
    int64_t term;
    (void)state;
    candidate(0, 0);
    run_until(F.now + 100);
    term = C[0].term;
    F.latency_ms = 100;
    k = F.keepalives;
    while (F.keepalives == k)
        run_until(F.now + 1);
    C[0].paused = true; /* the answer is on its way */
    until = C[0].until_ms;
    run_until(until + 100);
    C[0].paused = false;
    assert_false(ha_elect_leading(C[0].e, NULL));
    run_until(F.now + 1);
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_DEADLINE);
    assert_int_equal(C[0].until_ms, until); /* the late answer moved nothing */
    F.latency_ms = 0;
    run_until(F.now + 10 * LEASE_MS);
    /* It campaigns again once its old lease is gone, with a new term. */
    assert_true(ha_elect_leading(C[0].e, NULL));
    assert_int_equal(C[0].leader_calls, 2);
    assert_true(C[0].term > term);
}

/* Three candidates start together: all see the key absent and claim it;
 * one txn wins, the others lose the race, follow the winner and let their
 * leases go. */
static void test_txn_lost_race(void **state)
{
    int i, w;
    (void)state;
    for (i = 0; i < CANDIDATES; i++)
        candidate(i, 0);
    run_until(F.now + 100);
    w = leader_index();
    assert_true(w >= 0);
    for (i = 0; i < CANDIDATES; i++) {
        if (i == w)
            continue;
        assert_int_equal(C[i].leader_calls, 0);
        assert_int_equal(C[i].seen.term, C[w].term);
        assert_string_equal(C[i].seen.name, w == 0 ? "o0" : w == 1 ? "o1" : "o2");
    }
    assert_int_equal(F.revokes, CANDIDATES - 1); /* the losers' leases */
    run_until(F.now + 10 * LEASE_MS);
    assert_int_equal(leader_index(), w);
}

/* The txn's answer is lost after etcd applied it: the candidate reads the
 * key, finds its own lease on it and leads with its create_revision. */
static void test_claim_answer_lost(void **state)
{
    (void)state;
    F.lose_path = "/v3/kv/txn";
    F.lose_count = MEMBERS; /* on every member: the claim fails with a timeout */
    candidate(0, 0);
    run_until(F.now + LEASE_MS);
    assert_int_equal(F.lose_count, 0);
    assert_int_equal(C[0].leader_calls, 1);
    assert_int_equal(C[0].term, F.key.create_rev);
    assert_int_equal(F.key.lease, 7001); /* the first grant's */
    assert_true(ha_elect_leading(C[0].e, NULL));
    run_until(F.now + 5 * LEASE_MS);
    assert_int_equal(C[0].deposed_calls, 0);
}

/* Member 0 refuses connections: everything goes to member 1 at once. Then
 * member 1 hangs and 0 is back: a renewal moves on after one attempt's
 * timeout, and leadership is never interrupted. */
static void test_endpoint_failover(void **state)
{
    (void)state;
    F.down[0] = true;
    candidate(0, 0);
    run_until(F.now + 100);
    assert_true(ha_elect_leading(C[0].e, NULL));
    assert_true(F.requests[1] > 0);
    F.down[0] = false;
    F.hang[1] = true;
    F.requests[0] = F.requests[2] = 0;
    run_until(F.now + 5 * LEASE_MS);
    assert_true(ha_elect_leading(C[0].e, NULL));
    assert_int_equal(C[0].deposed_calls, 0);
    assert_true(F.requests[0] + F.requests[2] > 0); /* the next member after 1 */
    /* Every member down: the deadline deposes it. */
    F.down[0] = F.down[2] = true;
    run_until(F.now + 2 * LEASE_MS);
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_DEADLINE);
}

/* The clock jumps (the process was paused, the host suspended): leading()
 * is false at once, before any timer runs; the tick then reports the
 * deadline, and the other candidate, which took over after etcd expired
 * the lease, started after the old leader's deadline. */
static void test_clock_jump(void **state)
{
    int a, b;
    uint64_t until;
    (void)state;
    candidate(0, 0);
    run_until(F.now + 100);
    candidate(1, 0);
    run_until(F.now + 100);
    a = leader_index();
    assert_int_equal(a, 0);
    b = 1;
    until = C[a].until_ms;
    /* Candidate a stops running: only b and etcd move on. */
    C[a].paused = true;
    run_until(until + 3 * LEASE_MS);
    C[a].paused = false;
    assert_int_equal(C[b].leader_calls, 1);
    assert_true(C[b].since_ms >= until);
    assert_true(C[b].term > C[a].term);
    /* a resumes: the clock says its deadline passed. */
    assert_false(ha_elect_leading(C[a].e, NULL));
    run_until(F.now + LEASE_MS);
    assert_int_equal(C[a].deposed_calls, 1);
    assert_int_equal(C[a].why, HA_DEPOSED_DEADLINE);
    assert_int_equal(C[a].until_ms, until);
    assert_int_equal(leader_index(), b);
    assert_int_equal(C[a].seen.term, C[b].term);
}

/* A clean stop revokes the lease: the follower leads within one poll, long
 * before the old lease would have expired. */
static void test_stop_hands_over(void **state)
{
    uint64_t stop_at, old_until;
    (void)state;
    candidate(0, 100);
    run_until(F.now + 50);
    candidate(1, 100);
    run_until(F.now + 1000);
    assert_int_equal(leader_index(), 0);
    stop_at = F.now;
    old_until = C[0].until_ms;
    assert_int_equal(ha_elect_stop(C[0].e, on_done, &C[0]), 0);
    assert_int_equal(C[0].done_calls, 0); /* never from inside the call */
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_STOPPED);
    assert_false(ha_elect_leading(C[0].e, NULL));
    assert_int_equal(ha_elect_stop(C[0].e, on_done, &C[0]), KV_EINVAL);
    run_until(F.now + 200);
    assert_int_equal(C[0].done_calls, 1);
    assert_int_equal(C[1].leader_calls, 1);
    assert_true(C[1].since_ms <= stop_at + 100);
    assert_true(C[1].since_ms < old_until);
    run_until(F.now + LEASE_MS);
    assert_int_equal(C[0].done_calls, 1);
}

/* A stop of a follower holds no lease: done comes from the next tick. */
static void test_stop_follower(void **state)
{
    (void)state;
    candidate(0, 0);
    candidate(1, 0);
    run_until(F.now + 100);
    assert_int_equal(leader_index(), 0);
    assert_int_equal(ha_elect_stop(C[1].e, on_done, &C[1]), 0);
    assert_int_equal(C[1].done_calls, 0);
    run_until(F.now + 10);
    assert_int_equal(C[1].done_calls, 1);
    assert_int_equal(C[1].deposed_calls, 0);
}

/* SIGKILL of the leader, ten times over: each time another leads with a
 * larger term, after the old deadline, within a lease and a poll of it. */
static void test_kill_rounds(void **state)
{
    int i, round;
    (void)state;
    for (i = 0; i < CANDIDATES; i++)
        candidate(i, 0);
    run_until(F.now + 100);
    for (round = 0; round < 10; round++) {
        int old = leader_index(), now_lead;
        int64_t term = C[old].term;
        uint64_t until = C[old].until_ms, killed = F.now;
        assert_true(old >= 0);
        kill_candidate(old);
        run_until(killed + LEASE_MS + LEASE_MS / KV_HA_POLL_DIV + 1);
        now_lead = leader_index();
        assert_true(now_lead >= 0 && now_lead != old);
        assert_true(C[now_lead].term > term);
        assert_true(C[now_lead].since_ms >= until); /* leading: now < until */
        candidate(old, 0);                          /* back as a follower */
        run_until(F.now + 100);
        assert_int_equal(leader_index(), now_lead);
    }
}

/* Someone deletes the key while the lease lives: the leader's check sees
 * it and steps down before another candidate can lead. */
static void test_key_lost(void **state)
{
    (void)state;
    candidate(0, 0);
    run_until(F.now + 100);
    delete_key();
    run_until(F.now + LEASE_MS / KV_HA_RENEW_DIV + 1);
    assert_int_equal(C[0].deposed_calls, 1);
    assert_int_equal(C[0].why, HA_DEPOSED_KEY);
}

/* Each allocation in turn fails once, over a race of two candidates, a
 * SIGKILL and a takeover: no crash and no leak (the ASan build), at most one
 * leader throughout, and someone leads at the end. */
static void test_alloc_failures(void **state)
{
    long n;
    (void)state;
    kv_log_set_level(KV_LOG_ERROR); /* a line per refused request otherwise */
    for (n = 0; n < 400; n++) {
        setup(NULL);
        kv_mem_failing_set(n);
        candidate(0, 0);
        candidate(1, 0);
        run_until(F.now + 3 * LEASE_MS);
        if (leader_index() >= 0)
            kill_candidate(leader_index());
        run_until(F.now + 4 * LEASE_MS);
        assert_true(leader_index() >= 0);
        kv_mem_set(NULL);
        teardown(NULL);
    }
    kv_log_set_level(KV_LOG_INFO);
}

static void test_bad_config(void **state)
{
    ha_elect_t *e = NULL;
    ha_elect_cbs_t cbs = {.wake_at = wake_at};
    ha_elect_config_t ok = {.cluster = "c", .name = "n", .address = "127.0.0.1:1"};
    ha_elect_config_t c;
    char key[17];
    (void)state;
    c = ok, c.cluster = "a/b";
    assert_int_equal(ha_elect_create(&c, NULL, &cbs, &e), KV_EINVAL);
    c = ok, c.name = "";
    assert_int_equal(ha_elect_create(&c, NULL, &cbs, &e), KV_EINVAL);
    c = ok, c.address = "a b";
    assert_int_equal(ha_elect_create(&c, NULL, &cbs, &e), KV_EINVAL);
    c = ok, c.lease_ms = KV_HA_LEASE_MS_MIN - 1;
    assert_int_equal(ha_elect_create(&c, NULL, &cbs, &e), KV_EINVAL);
    c = ok, c.lease_ms = KV_HA_LEASE_MS_MAX + 1;
    assert_int_equal(ha_elect_create(&c, NULL, &cbs, &e), KV_EINVAL);
    cbs.wake_at = NULL;
    assert_int_equal(ha_elect_create(&ok, NULL, &cbs, &e), KV_EINVAL);
    assert_int_equal(ha_elect_key("cd", key, sizeof key), KV_ETOOBIG);
    assert_int_equal(ha_elect_key("c", key, sizeof key), 0);
    assert_string_equal(key, "/edgekv/c/leader");
}

static void test_etcd_bad_endpoints(void **state)
{
    ha_etcd_t *c = NULL;
    const char *bad[] = {"m0:2379"};
    const char *good[] = {"http://m0:2379/"};
    ha_etcd_config_t ec = {.endpoints = bad, .endpoint_count = 1, .now = fake_now};
    ha_http_t http = {.ops = &fake_ops};
    (void)state;
    assert_int_equal(ha_etcd_create(&ec, http, &c), KV_EINVAL);
    ec.endpoint_count = 0;
    assert_int_equal(ha_etcd_create(&ec, http, &c), KV_EINVAL);
    ec.endpoints = good;
    ec.endpoint_count = 1;
    assert_int_equal(ha_etcd_create(&ec, http, &c), 0);
    assert_string_equal(ha_etcd_endpoint(c, 0), "http://m0:2379");
    ha_etcd_free(c);
}

/* The leader's record of its synchronous standbys decides who may claim:
 * after each leader is killed, only the standby it named leads, never the
 * candidate it did not name, and a record is written only by the leader. */
static void test_record_decides_claim(void **state)
{
    char rec[128];
    (void)state;
    for (int i = 0; i < CANDIDATES; i++) {
        candidate(i, 0);
        C[i].by_record = true;
    }
    run_until(F.now + 100);
    for (int round = 0; round < 6; round++) {
        int lead = leader_index(), named = (lead + 1 + round % 2) % CANDIDATES;
        assert_true(lead >= 0);
        for (int i = 0; i < CANDIDATES; i++) /* only the leader writes it */
            if (i != lead)
                assert_int_equal(ha_elect_publish(C[i].e, "1 x -", on_published, &C[i]), KV_EINVAL);
        const char *names[1] = {C[named].name};
        assert_int_equal(ha_sync_format(rec, sizeof rec, C[lead].term, C[lead].name, names, 1), 0);
        assert_int_equal(ha_elect_publish(C[lead].e, rec, on_published, &C[lead]), 0);
        assert_int_equal(ha_elect_publish(C[lead].e, rec, on_published, &C[lead]), KV_EINVAL);
        run_until(F.now + 100);
        assert_int_equal(C[lead].published, 1);
        C[lead].published = 0;
        assert_string_equal(F.sync.value, rec);
        kill_candidate(lead);
        run_until(F.now + 3 * LEASE_MS);
        assert_int_equal(leader_index(), named); /* the third one never leads */
        candidate(lead, 0);
        C[lead].by_record = true;
        run_until(F.now + 100);
    }
}

/* A deposed leader's record is refused by etcd: its key is not the leader
 * key any more (the txn compares the term). */
static void test_publish_after_deposed(void **state)
{
    (void)state;
    candidate(0, 0);
    candidate(1, 0);
    run_until(F.now + 100);
    int old = leader_index(), other = 1 - old;
    C[old].paused = true; /* SIGSTOP: its lease runs out, the other leads */
    run_until(F.now + 3 * LEASE_MS);
    assert_int_equal(leader_index(), other);
    /* Still believing it leads until its next tick, it writes a record. */
    C[old].paused = false;
    int rc = ha_elect_publish(C[old].e, "1 a b", on_published, &C[old]);
    if (rc == 0) { /* sent: etcd refuses it */
        run_until(F.now + 100);
        assert_int_equal(C[old].published, 0);
    } else {
        assert_int_equal(rc, KV_EINVAL);
    }
    assert_false(F.sync.present);
}

/* The record moved between the candidate's read and its claim (a leader
 * came, wrote one and went): the claim fails, and the candidate reads
 * again before it tries once more. */
static void test_claim_guard(void **state)
{
    (void)state;
    F.move_sync_at_claim = true;
    candidate(0, 100);
    run_until(F.now + 30);
    assert_int_equal(C[0].leader_calls, 0); /* the first claim was refused */
    assert_false(F.move_sync_at_claim);
    assert_int_equal(F.txns_put, 0);
    run_until(F.now + 500);
    assert_int_equal(C[0].leader_calls, 1);
    assert_int_equal(F.txns_put, 1);
}

/* A leader killed and restarted at once (a supervisor) finds the key of
 * its dead self - its name and address - and revokes that lease: the next
 * leader is chosen within a few polls, not after the lease ran out. A
 * candidate of another name never touches it. */
static void test_restart_frees_own_key(void **state)
{
    (void)state;
    candidate(0, 100);
    candidate(1, 100);
    run_until(F.now + 100);
    int old = leader_index(), other = 1 - old;
    assert_true(old >= 0);
    unsigned revokes = F.revokes;
    uint64_t killed = F.now;
    kill_candidate(old);
    run_until(F.now + 50);
    assert_int_equal(F.revokes, revokes); /* the other one waits for the lease */
    candidate(old, 100);
    run_until(F.now + 600);
    assert_int_equal(F.revokes, revokes + 1);
    int now_lead = leader_index();
    assert_true(now_lead == old || now_lead == other);
    assert_true(C[now_lead].since_ms < killed + LEASE_MS / 2);
}

/* may_claim says no (a log behind what was acknowledged): the candidate
 * keeps following an empty key; once it says yes, it leads within a poll. */
static void test_claim_held_back(void **state)
{
    uint64_t from;
    (void)state;
    candidate(0, 100);
    C[0].hold_claim = true;
    run_until(F.now + 3 * LEASE_MS);
    assert_int_equal(C[0].leader_calls, 0);
    assert_int_equal(leaders(), 0);
    C[0].hold_claim = false;
    from = F.now;
    run_until(F.now + 300);
    assert_int_equal(C[0].leader_calls, 1);
    assert_true(C[0].since_ms <= from + 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_leads_and_renews, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_after_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_lost_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_answer_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpoint_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_hands_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_held_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_decides_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_after_deposed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_frees_own_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_follower, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_bad_endpoints, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
