/*
 * workload.c - the clients: writes and reads arriving as Poisson processes,
 * keys drawn uniformly or from a Zipf law (key id = popularity rank), a
 * per-region mix, value sizes from a distribution, and the per-key write
 * rate limit of Workers KV (1 write/s per key): a write over it is dropped
 * (Workers KV answers 429) or, with key_limit_mode "delay", held until the
 * key may be written again. Also the t-visibility probes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_limits.h"
#include "sim_int.h"

static uint64_t exp_ns(sim_t *s, double per_s)
{
    return (uint64_t)(-log(1.0 - sim_rng_unit(&s->rng_work)) / per_s * 1e9) + 1;
}

/* The gap to the next write: paced (no draw, so the other draws of a
 * Poisson scenario are unchanged) or exponential. */
static uint64_t write_gap_ns(sim_t *s)
{
    if (s->sc->writes_paced)
        return (uint64_t)(1e9 / s->sc->writes_per_s);
    return exp_ns(s, s->sc->writes_per_s);
}

static size_t pick_cum(sim_rng_t *r, const double *cum, size_t n)
{
    double u = sim_rng_unit(r) * cum[n - 1];
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint32_t pick_key(sim_t *s)
{
    if (!s->zipf_cum)
        return (uint32_t)sim_rng_below(&s->rng_work, s->sc->nkeys);
    return (uint32_t)pick_cum(&s->rng_work, s->zipf_cum, s->sc->nkeys);
}

static uint32_t pick_node(sim_t *s, const double *cum)
{
    size_t r;
    do
        r = pick_cum(&s->rng_work, cum, s->sc->nregions);
    while (s->region_n[r] == 0);
    return s->region_nodes[r][sim_rng_below(&s->rng_work, s->region_n[r])];
}

void sim__workload_start(sim_t *s)
{
    const sim_scenario_t *sc = s->sc;
    if (sc->zipf_s > 0) {
        s->zipf_cum = malloc(sc->nkeys * sizeof *s->zipf_cum);
        KV_ASSERT(s->zipf_cum != NULL);
        double acc = 0;
        for (size_t k = 0; k < sc->nkeys; k++) {
            acc += 1.0 / pow((double)(k + 1), sc->zipf_s);
            s->zipf_cum[k] = acc;
        }
    }
    if (sc->writes_per_s > 0)
        sim__at(s, sc->writes_paced ? 1 : exp_ns(s, sc->writes_per_s), EV_WRITE, 0);
    if (sc->reads_per_s > 0)
        sim__at(s, exp_ns(s, sc->reads_per_s), EV_READ, 0);
}

void sim__write_done(sim_t *s, uint32_t wid, int status, uint64_t seq)
{
    sim_write_t *w = &s->writes[wid - 1];
    if (w->state != W_PENDING)
        return;
    w->in_core = false;
    if (status != 0) {
        w->state = W_FAILED;
        s->writes_failed++;
        sim__history_write(s, wid, HC_OUT_UNKNOWN); /* it may have been committed */
        return;
    }
    w->state = W_ACKED;
    w->seq = seq;
    s->writes_acked++;
    sim__history_write(s, wid, HC_OUT_OK);
    bool tomb = w->kind == OPK_DEL;
    sim_check_acked(s->ck, w->key, tomb ? 0 : wid, tomb, seq);
}

static void issue(sim_t *s, uint32_t wid)
{
    if (s->sc->policy == SIM_POLICY_PULL)
        sim__pull_write(s, wid);
    else
        sim__push_write(s, wid);
}

static void new_write(sim_t *s)
{
    const sim_scenario_t *sc = s->sc;
    if (s->nwrites == s->writes_cap) {
        s->writes_cap = s->writes_cap ? 2 * s->writes_cap : 4096;
        s->writes = realloc(s->writes, s->writes_cap * sizeof *s->writes);
        KV_ASSERT(s->writes != NULL);
    }
    uint32_t wid = (uint32_t)++s->nwrites;
    sim_write_t *w = &s->writes[wid - 1];
    memset(w, 0, sizeof *w);
    w->t_ns = s->eng.now_ns;
    w->edge = sc->write_at_origin ? 0 : pick_node(s, s->write_cum);
    w->key = pick_key(s);
    w->kind = sc->delete_fraction > 0 && sim_rng_unit(&s->rng_work) < sc->delete_fraction ? OPK_DEL
                                                                                          : OPK_PUT;
    double len = sim_dist_sample(sc->value_size, &s->rng_work);
    len = len < SIM_VALUE_MIN ? SIM_VALUE_MIN : len > KV_VALUE_MAX_BYTES ? KV_VALUE_MAX_BYTES : len;
    w->len = (uint32_t)len;
    w->state = W_PENDING;
    if (sc->key_limit_per_s > 0) {
        uint64_t gap = (uint64_t)(1e9 / sc->key_limit_per_s);
        uint64_t *last = &s->key_last_write_ns[w->key];
        if (*last != UINT64_MAX && s->eng.now_ns < *last + gap) {
            if (!sc->key_limit_delay) {
                w->state = W_DROPPED;
                s->writes_dropped++;
                sim__history_write(s, wid, HC_OUT_FAIL);
                return;
            }
            *last += gap;
            s->writes_delayed++;
            sim_ev_t *ev = sim__at(s, *last, EV_WRITE_DELAYED, 0);
            ev->a = wid;
            return;
        }
        *last = s->eng.now_ns;
    }
    issue(s, wid);
}

static void do_read(sim_t *s)
{
    uint32_t node = pick_node(s, s->read_cum);
    uint32_t key = pick_key(s);
    sim_node_t *n = &s->nodes[node];
    if (!n->up) {
        s->reads_failed++;
        return;
    }
    if (s->sc->policy == SIM_POLICY_PULL) {
        sim__pull_read(s, node, key, s->eng.now_ns);
        return;
    }
    if (n->snapshotting) {
        s->reads_refused++; /* a half-applied snapshot: edgekv flags it stale */
        sim__history_read(s, node, key, NULL, -1, true);
        return;
    }
    repl_edge_status_t st;
    if (n->d.relay)
        repl_relay_status(n->d.relay, sim__mono_ms(s), &st);
    else
        repl_edge_status(n->d.edge, sim__mono_ms(s), &st);
    s->reads_stale_flag += st.stale;
    sim__history_read(s, node, key, lww_rec(&n->m, key), st.stale ? (long)st.staleness_ms : -1,
                      false);
    sim__read_done(s, node, key, lww_rec(&n->m, key)->v, s->sc->read_service_ms);
}

static void do_probe(sim_t *s, const sim_ev_t *ev)
{
    const sim_commit_t *c = &s->commits[ev->a - 1];
    uint32_t node = 0;
    for (int i = 0; i < 8 && !node; i++) {
        uint32_t x = 1 + (uint32_t)sim_rng_below(&s->rng_probe, s->nedges);
        if (s->nodes[x].up)
            node = x;
    }
    if (!node)
        return;
    const sim_node_t *n = &s->nodes[node];
    bool vis;
    if (s->sc->policy == SIM_POLICY_PULL)
        vis = sim__pull_visible(s, node, c->key, c->v);
    else
        vis = !n->snapshotting && kv_version_cmp(lww_rec(&n->m, c->key)->v, c->v) >= 0;
    s->tvis_n[ev->b]++;
    s->tvis_hit[ev->b] += vis;
}

void sim__workload_event(sim_t *s, const sim_ev_t *ev)
{
    bool open = s->eng.now_ns < s->work_end_ns;
    switch (ev->kind) {
    case EV_WRITE:
        if (!open)
            return;
        new_write(s);
        sim__at(s, s->eng.now_ns + write_gap_ns(s), EV_WRITE, 0);
        return;
    case EV_WRITE_DELAYED:
        issue(s, (uint32_t)ev->a);
        return;
    case EV_READ:
        if (!open)
            return;
        do_read(s);
        sim__at(s, s->eng.now_ns + exp_ns(s, s->sc->reads_per_s), EV_READ, 0);
        return;
    case EV_PROBE:
        do_probe(s, ev);
        return;
    default:
        KV_ASSERT(!"unexpected workload event");
    }
}
