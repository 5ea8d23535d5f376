/*
 * check.c - the checkers (see check.h).
 */
#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "kv_assert.h"

typedef struct {
    uint32_t key;
    uint32_t wid;
    bool tomb;
    uint64_t seq;
} acked_t;

struct sim_check {
    size_t nedges, nkeys;
    kv_version_t *hw; /* [key * nedges + edge]: newest version observed (key by key,
                       * as the replicas are laid out: see sim.c) */
    acked_t *acked;
    size_t nacked, acked_cap;
    sim_check_result_t r[SIM_CK_COUNT];
};

sim_check_t *sim_check_new(size_t nedges, size_t nkeys)
{
    sim_check_t *c = calloc(1, sizeof *c);
    KV_ASSERT(c != NULL);
    c->nedges = nedges;
    c->nkeys = nkeys;
    size_t cells = nedges * nkeys;
    c->hw = sim_big_calloc(cells ? cells : 1, sizeof *c->hw);
    KV_ASSERT(c->hw != NULL);
    return c;
}

void sim_check_free(sim_check_t *c)
{
    if (!c)
        return;
    free(c->hw);
    free(c->acked);
    free(c);
}

static void fail(sim_check_t *c, sim_check_id_t id, const char *fmt, ...)
{
    sim_check_result_t *r = &c->r[id];
    if (r->violations++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first, sizeof r->first, fmt, ap);
        va_end(ap);
    }
}

void sim_check_observe(sim_check_t *c, size_t edge, uint32_t key, kv_version_t v, uint64_t t_ns)
{
    KV_ASSERT(edge < c->nedges && key < c->nkeys);
    kv_version_t *hw = &c->hw[(size_t)key * c->nedges + edge];
    c->r[SIM_CK_REWIND].checked++;
    if (kv_version_cmp(v, *hw) < 0) {
        fail(c, SIM_CK_REWIND,
             "edge %zu key %u went back from hlc %" PRIu64 "/%u to %" PRIu64 "/%u at t=%.3f s",
             edge, key, hw->hlc, hw->node_id, v.hlc, v.node_id, (double)t_ns / 1e9);
        return;
    }
    *hw = v;
}

void sim_check_acked(sim_check_t *c, uint32_t key, uint32_t wid, bool tomb, uint64_t seq)
{
    if (c->nacked == c->acked_cap) {
        c->acked_cap = c->acked_cap ? 2 * c->acked_cap : 1024;
        c->acked = realloc(c->acked, c->acked_cap * sizeof *c->acked);
        KV_ASSERT(c->acked != NULL);
    }
    c->acked[c->nacked++] = (acked_t){key, wid, tomb, seq};
}

void sim_check_lost_final(sim_check_t *c, const sim_check_logent_t *durable, size_t nseq,
                          const sim_check_rec_t *origin_final)
{
    for (size_t i = 0; i < c->nacked; i++) {
        const acked_t *a = &c->acked[i];
        c->r[SIM_CK_LOST].checked++;
        if (a->seq == 0 || a->seq > nseq) {
            fail(c, SIM_CK_LOST, "acked write %u (key %u) at seq %" PRIu64 " is not in the log",
                 a->wid, a->key, a->seq);
            continue;
        }
        const sim_check_logent_t *d = &durable[a->seq - 1];
        if (d->noop || d->key != a->key || d->wid != a->wid || d->tomb != a->tomb) {
            fail(c, SIM_CK_LOST, "acked write %u (key %u): log seq %" PRIu64 " holds another",
                 a->wid, a->key, a->seq);
            continue;
        }
        if (a->key >= c->nkeys || kv_version_cmp(origin_final[a->key].v, d->v) < 0)
            fail(c, SIM_CK_LOST, "acked write %u (key %u) lost: final version is older", a->wid,
                 a->key);
    }
}

void sim_check_converge(sim_check_t *c, size_t edge, const sim_check_rec_t *replica,
                        uint64_t replica_seq, const sim_check_rec_t *origin, uint64_t origin_seq,
                        bool up)
{
    c->r[SIM_CK_CONVERGE].checked++;
    if (!up) {
        fail(c, SIM_CK_CONVERGE, "edge %zu is down at the end", edge);
        return;
    }
    if (replica_seq != origin_seq) {
        fail(c, SIM_CK_CONVERGE, "edge %zu applied seq %" PRIu64 ", origin %" PRIu64, edge,
             replica_seq, origin_seq);
        return;
    }
    for (size_t k = 0; k < c->nkeys; k++) {
        const sim_check_rec_t *a = &replica[k], *b = &origin[k];
        if (kv_version_cmp(a->v, b->v) != 0 || a->val != b->val || a->len != b->len ||
            a->tomb != b->tomb) {
            fail(c, SIM_CK_CONVERGE, "edge %zu key %zu differs (write %u vs origin %u)", edge, k,
                 a->val, b->val);
            return;
        }
    }
}

void sim_check_bound(sim_check_t *c, size_t edge, uint64_t seq, double delay_ms, double bound_ms)
{
    c->r[SIM_CK_BOUND].checked++;
    if (delay_ms > bound_ms)
        fail(c, SIM_CK_BOUND, "edge %zu applied seq %" PRIu64 " after %.1f ms > bound %.0f ms",
             edge, seq, delay_ms, bound_ms);
}

const sim_check_result_t *sim_check_result(const sim_check_t *c, sim_check_id_t id)
{
    sim_check_result_t *r = (sim_check_result_t *)&c->r[id];
    r->verdict = r->violations ? SIM_CHECK_FAIL : r->checked ? SIM_CHECK_PASS : SIM_CHECK_NA;
    return r;
}

const char *sim_check_name(sim_check_id_t id)
{
    static const char *names[] = {"no_rewind", "no_lost_ack", "convergence", "bound_held"};
    return id < SIM_CK_COUNT ? names[id] : "?";
}

const char *sim_verdict_name(sim_verdict_t v)
{
    return v == SIM_CHECK_PASS ? "PASS" : v == SIM_CHECK_FAIL ? "FAIL" : "N/A";
}

bool sim_check_ok(const sim_check_t *c)
{
    for (int i = 0; i < SIM_CK_COUNT; i++)
        if (c->r[i].violations)
            return false;
    return true;
}
