/*
 * history.c - the simulated clients' history (edgekv-sim --history FILE):
 * every write and read of the workload as a record of the history checker
 * (hcheck.h), written in its format to FILE and checked in-process by the
 * same code edgekv-check runs on a real cluster's history.
 *
 * The mapping: a write is "w<write id>" on key "k<key>" at node "origin" or
 * "edge<N>", from its issue to its answer (t0/t1: virtual microseconds);
 * acknowledged writes carry their version (the HLC timestamp of the commit
 * the answer named); a write the core answered with an error, or still
 * unanswered at the end, is "unknown" (it may have been committed); one the
 * per-key rate limit dropped is "fail". A read is instantaneous (t0 = t1)
 * and carries the version the replica held and, when the edge's core said
 * it was stale, its staleness as stale_ms; a read refused during a snapshot
 * is "unknown" (503). After the quiet period every node that is up reads
 * every key once ("final"). Each node is one session: the simulated
 * clients of a place share its edge, so an edge must show them its own
 * writes once answered, and never go back.
 *
 * The propagation bound is the scenario's, with SIM_HISTORY_SLACK_MS: the
 * core's clock is whole milliseconds. The real core only (policies push and
 * relay): the cache-TTL model promises neither the bound nor sessions.
 *
 * Memory: the checker keeps every operation; meant for scenarios of
 * minutes, not the 300-edge world runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "sim_int.h"

/* The cores' clock is whole milliseconds: a read may be up to 1 ms later
 * than the moment the core judged its staleness. */
#define SIM_HISTORY_SLACK_MS 1

int sim__history_open(sim_t *s, char *err, size_t errlen)
{
    if (!s->opt.history)
        return 0;
    if (s->sc->policy == SIM_POLICY_PULL) {
        snprintf(err, errlen, "--history needs the real core (policy push or relay)");
        return -EINVAL;
    }
    hc_options_t o;
    hc_options_default(&o);
    o.bound_ms = (int64_t)s->sc->bound_ms;
    o.slack_ms = SIM_HISTORY_SLACK_MS;
    o.origin = "origin";
    s->hc = hc_new(&o);
    if (!s->hc)
        return -ENOMEM;
    s->hist_f = fopen(s->opt.history, "w");
    if (!s->hist_f) {
        snprintf(err, errlen, "%s: %s", s->opt.history, strerror(errno));
        return -errno;
    }
    return 0;
}

void sim__history_close(sim_t *s)
{
    if (s->hist_f)
        fclose(s->hist_f);
    hc_free(s->hc);
}

static void node_name(uint32_t node, char *buf, size_t cap)
{
    if (node == 0)
        snprintf(buf, cap, "origin");
    else
        snprintf(buf, cap, "edge%" PRIu32, node);
}

static void add(sim_t *s, hc_record_t *r, uint32_t node, uint32_t key)
{
    char name[24], k[16], line[HC_LINE_MAX];
    node_name(node, name, sizeof name);
    snprintf(k, sizeof k, "k%" PRIu32, key);
    r->node = name;
    r->key = k;
    if (!r->session && r->op != HC_OP_FINAL)
        r->session = name;
    int n = hc_format(r, line, sizeof line);
    KV_ASSERT(n > 0);
    if (fwrite(line, 1, (size_t)n, s->hist_f) != (size_t)n)
        s->hist_write_failed = true; /* reported at the end: the file is incomplete */
    line[n - 1] = '\0';
    KV_ASSERT(hc_add(s->hc, r, line) == 0);
}

void sim__history_write(sim_t *s, uint32_t wid, hc_outcome_t outcome)
{
    if (!s->hc)
        return;
    const sim_write_t *w = &s->writes[wid - 1];
    char value[16];
    snprintf(value, sizeof value, "w%" PRIu32, wid);
    hc_record_t r = {.op = w->kind == OPK_DEL ? HC_OP_DELETE : HC_OP_PUT,
                     .outcome = outcome,
                     .value = w->kind == OPK_DEL ? NULL : value,
                     .t0_us = (int64_t)(w->t_ns / 1000),
                     .t1_us = (int64_t)(s->eng.now_ns / 1000),
                     .code = outcome == HC_OUT_OK     ? 200
                             : outcome == HC_OUT_FAIL ? 429
                                                      : 503,
                     .stale_ms = -1};
    if (outcome == HC_OUT_OK && w->seq >= 1 && w->seq <= s->ncommits) {
        r.has_version = true;
        r.version = s->commits[w->seq - 1].v.hlc;
    }
    add(s, &r, w->edge, w->key);
}

static void read_rec(sim_t *s, hc_op_t op, uint32_t node, uint32_t key, const lww_rec_t *rec,
                     long stale_ms, bool refused)
{
    char value[16];
    bool present = rec && !refused && !kv_version_is_zero(rec->v) && !rec->tomb;
    snprintf(value, sizeof value, "w%" PRIu32, present ? rec->val : 0);
    int64_t t = (int64_t)(s->eng.now_ns / 1000);
    hc_record_t r = {.op = op,
                     .outcome = refused ? HC_OUT_UNKNOWN : HC_OUT_OK,
                     .value = present ? value : NULL,
                     .has_version = present,
                     .version = present ? rec->v.hlc : 0,
                     .t0_us = t,
                     .t1_us = t,
                     .code = refused   ? 503
                             : present ? 200
                                       : 404,
                     .stale_ms = stale_ms};
    add(s, &r, node, key);
}

void sim__history_read(sim_t *s, uint32_t node, uint32_t key, const lww_rec_t *rec, long stale_ms,
                       bool refused)
{
    if (s->hc)
        read_rec(s, HC_OP_GET, node, key, rec, stale_ms, refused);
}

/* At the end: writes never answered, every node's final reads, the check. */
void sim__history_final(sim_t *s)
{
    if (!s->hc)
        return;
    for (size_t i = 0; i < s->nwrites; i++)
        if (s->writes[i].state == W_PENDING)
            sim__history_write(s, (uint32_t)i + 1, HC_OUT_UNKNOWN);
    for (uint32_t n = 0; n < s->nnodes; n++) {
        const sim_node_t *nd = &s->nodes[n];
        if (n > 0 && (!nd->up || nd->snapshotting))
            continue;
        const lww_replica_t *m = n == 0 ? &s->om : &nd->m;
        for (uint32_t k = 0; k < s->sc->nkeys; k++)
            read_rec(s, HC_OP_FINAL, n, k, lww_rec(m, k), -1, false);
    }
    s->hist_failing = hc_check(s->hc, stdout);
    if (fflush(s->hist_f) != 0 || ferror(s->hist_f) || s->hist_write_failed) {
        fprintf(stderr, "edgekv-sim: writing the history to %s failed\n", s->opt.history);
        s->hist_failing++;
    }
}

bool sim_history_ok(const sim_t *s)
{
    return s->hist_failing == 0;
}
