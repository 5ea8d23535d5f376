/*
 * pull.c - the "pull" policy: a Workers-KV-like cache-TTL model, for
 * comparison with edgekv's push. It does not use the replication core.
 *
 * What is modelled: writes travel from the writing edge to the origin
 * (one-way path delay), become durable after an origin_disk draw (the
 * origin stamps an HLC-like version), and are acknowledged back; the
 * writing edge then caches the new value (Workers KV: a write is visible at
 * once where it was made). A read at an edge is served from its cache while
 * the entry is younger than cache_ttl_s (negative results are cached too);
 * otherwise it fetches from the origin (a round trip plus a read_disk draw)
 * and caches the answer for cache_ttl_s. A fill keeps the newer version
 * when two fetches race (and the reader gets the newer). Concurrent misses
 * for a key are not coalesced.
 *
 * Propagation of a write to an edge: 0 if the edge holds no fresh entry
 * older than the write at commit time, else the remaining TTL of that entry
 * (a fetch already in flight at commit time is not accounted for). The
 * t-visibility probes ask "would a read here now return the write or
 * newer?": a fresh cached entry answers with its version, anything else
 * fetches and sees the write.
 */
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "sim_int.h"

static uint64_t ttl_ns(const sim_t *s)
{
    return (uint64_t)(s->sc->cache_ttl_s * 1e9);
}

static bool fresh(const sim_t *s, const sim_centry_t *c)
{
    return c->valid && s->eng.now_ns < c->expires_ns;
}

static void fill(sim_t *s, uint32_t node, uint32_t key, kv_version_t v, uint32_t wid)
{
    sim_centry_t *c = &s->nodes[node].cache[key];
    if (fresh(s, c) && kv_version_cmp(c->v, v) > 0)
        return; /* a racing fetch brought something newer */
    c->v = v;
    c->wid = wid;
    c->valid = true;
    c->expires_ns = s->eng.now_ns + ttl_ns(s);
}

void sim__pull_write(sim_t *s, uint32_t wid)
{
    sim_write_t *w = &s->writes[wid - 1];
    if (!s->nodes[w->edge].up) {
        sim__write_done(s, wid, KV_EUNAVAILABLE, 0);
        return;
    }
    uint64_t t = w->edge ? sim__path_arrival(s, w->edge, DIR_UP, s->eng.now_ns) : s->eng.now_ns;
    sim_ev_t *ev = sim__at(s, t, EV_PULL_WRITE, 0);
    ev->a = wid;
}

static void commit(sim_t *s, uint32_t wid)
{
    sim_write_t *w = &s->writes[wid - 1];
    if (s->sc->write_fail_p > 0 && sim_rng_unit(&s->rng_disk) < s->sc->write_fail_p) {
        sim__write_done(s, wid, KV_EIO, 0);
        return;
    }
    uint64_t hlc = sim__wall_ms(s, &s->nodes[0]) << 16;
    if (hlc <= s->om.hlc_max)
        hlc = s->om.hlc_max + 1;
    kv_version_t v = {hlc, 1};
    bool put = w->kind == OPK_PUT;
    uint64_t seq = s->ncommits + 1;
    lww_apply(&s->om, w->key, v, put ? wid : 0, put ? w->len : 0, !put);
    sim__commit(s, seq, v, w->key, put ? wid : 0, put ? w->len : 0, put ? OPK_PUT : OPK_DEL);
    s->om.applied_seq = seq;
    /* Where a stale entry is cached, the write shows when it expires. */
    uint64_t now = s->eng.now_ns;
    for (uint32_t i = 1; i < s->nnodes; i++) {
        sim_node_t *n = &s->nodes[i];
        const sim_centry_t *c = &n->cache[w->key];
        uint64_t us = fresh(s, c) && kv_version_cmp(c->v, v) < 0 ? (c->expires_ns - now) / 1000 : 0;
        sim_hist_add_later(&n->prop, us); /* flushed, and the region's and the total
                                           * summed, by sim__prop_fold */
    }
    uint64_t t = w->edge ? sim__path_arrival(s, w->edge, 0, now) : now;
    sim_ev_t *ev = sim__at(s, t, EV_PULL_ACK, 0);
    ev->a = wid;
    ev->b = seq;
}

bool sim__pull_read(sim_t *s, uint32_t node, uint32_t key, uint64_t issued_ns)
{
    sim_centry_t *c = &s->nodes[node].cache[key];
    if (fresh(s, c)) {
        sim__read_done(s, node, key, c->v, s->sc->read_service_ms);
        return true;
    }
    sim_ev_t *ev = sim__at(s, sim__path_arrival(s, node, DIR_UP, s->eng.now_ns), EV_PULL_FETCH, 0);
    ev->conn = node;
    ev->a = key;
    ev->b = issued_ns;
    return false;
}

bool sim__pull_visible(sim_t *s, uint32_t node, uint32_t key, kv_version_t v)
{
    const sim_centry_t *c = &s->nodes[node].cache[key];
    return !fresh(s, c) || kv_version_cmp(c->v, v) >= 0;
}

void sim__pull_event(sim_t *s, const sim_ev_t *ev)
{
    sim_ev_t *next;
    switch (ev->kind) {
    case EV_PULL_WRITE:
        if (!s->nodes[0].up) {
            sim__write_done(s, (uint32_t)ev->a, KV_EUNAVAILABLE, 0);
            return;
        }
        next = sim__at(
            s, s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->origin_disk, &s->rng_disk) * 1e6),
            EV_PULL_COMMIT, 0);
        next->a = ev->a;
        return;
    case EV_PULL_COMMIT:
        if (ev->inc != s->nodes[0].inc || !s->nodes[0].up) {
            sim__write_done(s, (uint32_t)ev->a, KV_EUNAVAILABLE, 0);
            return;
        }
        commit(s, (uint32_t)ev->a);
        return;
    case EV_PULL_ACK: {
        sim_write_t *w = &s->writes[ev->a - 1];
        sim__write_done(s, (uint32_t)ev->a, 0, ev->b);
        const sim_commit_t *c = &s->commits[ev->b - 1];
        if (w->edge && s->nodes[w->edge].up)
            fill(s, w->edge, w->key, c->v, c->wid);
        return;
    }
    case EV_PULL_FETCH: {
        if (!s->nodes[0].up) {
            s->reads_failed++;
            return;
        }
        /* The origin answers with its durable record after a disk read. */
        uint32_t node = ev->conn, key = (uint32_t)ev->a;
        const sim_rec_t *r = lww_rec(&s->om, key);
        uint64_t t =
            s->eng.now_ns + (uint64_t)(sim__sample_ms(s->sc->read_disk, &s->rng_disk) * 1e6);
        t = sim__path_arrival(s, node, 0, t);
        next = sim__at(s, t, EV_PULL_RESP, node);
        next->a = key | ((uint64_t)r->val << 32);
        next->b = ev->b;
        next->len = r->v.hlc; /* the version travels in len/flags-free fields */
        next->conn = r->v.node_id;
        return;
    }
    case EV_PULL_RESP: {
        uint32_t node = ev->node, key = (uint32_t)(ev->a & 0xffffffffu);
        if (ev->inc != s->nodes[node].inc || !s->nodes[node].up) {
            s->reads_failed++;
            return;
        }
        kv_version_t v = {ev->len, ev->conn};
        fill(s, node, key, v, (uint32_t)(ev->a >> 32));
        /* The reader gets what the cache holds now: a racing fetch or the
         * edge's own write may have brought something newer. */
        sim__read_done(s, node, key, s->nodes[node].cache[key].v,
                       (double)(s->eng.now_ns - ev->b) / 1e6 + s->sc->read_service_ms);
        return;
    }
    default:
        KV_ASSERT(!"unexpected pull event");
    }
}
