/*
 * metrics.c - what the simulator measures, and the end-of-run checks.
 *
 * Propagation delay of seq s at edge e: from the moment s became durable at
 * the origin to the moment e's applied seq first reached s (its replica then
 * answers reads with it or something newer). Counted once per (s, e), for
 * real writes only, into per-edge, per-region and global histograms.
 * k-staleness of a read: how many committed versions of the key were newer
 * than the one it returned. Lag over time: per region, the mean and max
 * over edges of (now - commit time of the oldest seq an edge has not
 * applied).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "sim_int.h"

void sim__commit(sim_t *s, uint64_t seq, kv_version_t v, uint32_t key, uint32_t wid, uint32_t len,
                 sim_opk_t kind)
{
    KV_ASSERT(seq == s->ncommits + 1);
    if (s->ncommits == s->commits_cap) {
        s->commits_cap = s->commits_cap ? 2 * s->commits_cap : 4096;
        s->commits = realloc(s->commits, s->commits_cap * sizeof *s->commits);
        KV_ASSERT(s->commits != NULL);
    }
    sim_commit_t *c = &s->commits[s->ncommits++];
    *c = (sim_commit_t){
        .v = v, .t_ns = s->eng.now_ns, .key = key, .wid = wid, .len = len, .kind = (uint8_t)kind};
    if (v.hlc > s->om.hlc_max)
        s->om.hlc_max = v.hlc;
    if (kind == OPK_NOOP)
        return;
    c->prev_seq = s->key_last_seq[key];
    s->key_last_seq[key] = seq;
    if (s->stopping ||
        (s->sc->probe_fraction < 1 && sim_rng_unit(&s->rng_probe) >= s->sc->probe_fraction))
        return;
    for (size_t i = 0; i < s->sc->ntvis; i++) {
        sim_ev_t *ev = sim__at(s, s->eng.now_ns + (uint64_t)(s->sc->tvis_ms[i] * 1e6), EV_PROBE, 0);
        ev->a = seq;
        ev->b = i;
    }
}

/* No fault on the node, its relays or the origin in [a, b]? */
static bool fault_free(const sim_t *s, uint32_t node, uint64_t a, uint64_t b)
{
    uint64_t end;
    for (uint32_t x = node;; x = s->nodes[x].parent) {
        if (sim__windows_hit(&s->nodes[x].faults, a, b, &end))
            return false;
        if (x == 0)
            return true;
    }
}

void sim__edge_advanced(sim_t *s, uint32_t node, uint64_t from, uint64_t to)
{
    sim_node_t *n = &s->nodes[node];
    uint64_t lo = from > n->hw_seq ? from : n->hw_seq;
    if (to <= lo)
        return;
    n->hw_seq = to;
    uint64_t now = s->eng.now_ns, settle = (uint64_t)(s->sc->settle_ms * 1e6);
    for (uint64_t q = lo + 1; q <= to && q <= s->ncommits; q++) {
        const sim_commit_t *c = &s->commits[q - 1];
        if (c->kind == OPK_NOOP)
            continue;
        uint64_t us = (now - c->t_ns) / 1000;
        sim_hist_add_later(&n->prop, us); /* flushed, and the region's and the total
                                           * summed, by sim__prop_fold */
        if (s->opt.visibility)
            fprintf(s->opt.visibility, "%.3f %u %.3f\n", (double)c->t_ns / 1e6, node,
                    (double)(now - c->t_ns) / 1e6);
        if (s->sc->check_bound && c->t_ns >= n->conn_up_ns + settle && c->t_ns >= settle &&
            fault_free(s, node, c->t_ns - settle, now))
            sim_check_bound(s->ck, node - 1, q, (double)us / 1000.0, (double)s->sc->bound_ms);
    }
}

unsigned sim__kstale(const sim_t *s, uint32_t key, kv_version_t v)
{
    unsigned k = 0;
    for (uint64_t q = s->key_last_seq[key]; q; q = s->commits[q - 1].prev_seq) {
        if (kv_version_cmp(s->commits[q - 1].v, v) <= 0)
            break;
        k++;
    }
    return k;
}

void sim__read_done(sim_t *s, uint32_t node, uint32_t key, kv_version_t v, double lat_ms)
{
    s->reads++;
    unsigned k = sim__kstale(s, key, v);
    s->kstale[k < SIM_KSTALE_MAX ? k : SIM_KSTALE_MAX]++;
    uint64_t us = (uint64_t)(lat_ms * 1000.0);
    sim_hist_add(&s->read_lat, us);
    sim_hist_add(&s->read_lat_region[s->nodes[node].region], us);
    sim_check_observe(s->ck, node - 1, key, v, s->eng.now_ns);
}

void sim__lag_sample(sim_t *s)
{
    size_t nr = s->sc->nregions;
    if (s->nlag == s->lag_cap) {
        s->lag_cap = s->lag_cap ? 2 * s->lag_cap : 256;
        s->lag_mean = realloc(s->lag_mean, s->lag_cap * nr * sizeof *s->lag_mean);
        s->lag_max = realloc(s->lag_max, s->lag_cap * nr * sizeof *s->lag_max);
        KV_ASSERT(s->lag_mean && s->lag_max);
    }
    double *mean = &s->lag_mean[s->nlag * nr], *max = &s->lag_max[s->nlag * nr];
    s->nlag++;
    for (size_t r = 0; r < nr; r++) {
        double sum = 0, mx = 0;
        size_t cnt = s->region_n[r];
        for (size_t i = 0; i < cnt; i++) {
            const sim_node_t *n = &s->nodes[s->region_nodes[r][i]];
            uint64_t applied = n->m.applied_seq;
            double lag = 0;
            if (s->sc->policy != SIM_POLICY_PULL && applied < s->ncommits)
                lag = (double)(s->eng.now_ns - s->commits[applied].t_ns) / 1e6;
            sum += lag;
            mx = lag > mx ? lag : mx;
        }
        mean[r] = cnt ? sum / (double)cnt : 0;
        max[r] = mx;
    }
}

/* A replica's records, slot by slot, into out (nkeys records): the checkers
 * take them contiguous, the simulator interleaves replicas (sim.c). */
static void gather(const sim_t *s, const lww_replica_t *r, sim_rec_t *out)
{
    for (uint32_t k = 0; k < s->sc->nkeys; k++)
        out[k] = *lww_rec(r, k);
}

void sim__final_checks(sim_t *s)
{
    size_t nseq = s->ncommits;
    sim_check_logent_t *log = calloc(nseq ? nseq : 1, sizeof *log);
    KV_ASSERT(log != NULL);
    for (size_t i = 0; i < nseq; i++) {
        const sim_commit_t *c = &s->commits[i];
        log[i] = (sim_check_logent_t){c->v, c->key, c->kind == OPK_PUT ? c->wid : 0,
                                      c->kind == OPK_DEL, c->kind == OPK_NOOP};
    }
    size_t nk = s->sc->nkeys;
    sim_rec_t *origin = calloc(nk ? nk : 1, sizeof *origin);
    sim_rec_t *replica = calloc(nk ? nk : 1, sizeof *replica);
    KV_ASSERT(origin && replica);
    gather(s, &s->om, origin);
    sim_check_lost_final(s->ck, log, nseq, origin);
    free(log);
    /* Pull: caches expire; there is no replica to converge. */
    for (uint32_t i = 1; s->sc->policy != SIM_POLICY_PULL && i < s->nnodes; i++) {
        const sim_node_t *n = &s->nodes[i];
        gather(s, &n->m, replica);
        sim_check_converge(s->ck, i - 1, replica, n->m.applied_seq, origin, s->ncommits,
                           n->up && !n->snapshotting);
    }
    free(origin);
    free(replica);
}
