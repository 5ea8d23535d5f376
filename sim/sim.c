/*
 * sim.c - building the simulated world from a scenario, the event loop,
 * faults, and the assertion hook.
 *
 * Random streams: every component draws from its own xoshiro256** stream
 * derived from the run's seed (workload, network per node, disks, probes,
 * faults), so adding draws to one component does not shift another's.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_assert.h"
#include "kv_mem.h"
#include "sim_int.h"

enum { STREAM_WORK = 1, STREAM_NET, STREAM_DISK, STREAM_PROBE, STREAM_FAULT, STREAM_NODE = 100 };

/* ---- time and helpers ---------------------------------------------------------- */

uint64_t sim__mono_ms(const sim_t *s)
{
    return SIM_EPOCH_MS + s->eng.now_ns / SIM_NS_PER_MS;
}

/* A skew so negative that the wall would fall before the epoch reads 0. */
static uint64_t sim__skewed(uint64_t mono_ms, int64_t skew_us)
{
    int64_t ms = (int64_t)mono_ms + skew_us / 1000;
    return ms < 0 ? 0 : (uint64_t)ms;
}

uint64_t sim__wall_ms(const sim_t *s, const sim_node_t *n)
{
    return sim__skewed(sim__mono_ms(s), n->skew_us);
}

uint64_t sim__core_wall(void *ctx, uint64_t now_ms)
{
    const sim_node_t *n = ctx;
    return sim__skewed(now_ms, n->skew_us);
}

uint64_t sim__virtual_ns(const sim_t *s, uint64_t mono_ms)
{
    if (mono_ms < SIM_EPOCH_MS)
        return s->eng.now_ns;
    uint64_t t = (mono_ms - SIM_EPOCH_MS) * SIM_NS_PER_MS;
    return t > s->eng.now_ns ? t : s->eng.now_ns;
}

bool sim__windows_hit(const sim_windows_t *w, uint64_t a, uint64_t b, uint64_t *end)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->w[i].start <= b && w->w[i].end >= a) {
            *end = w->w[i].end;
            return true;
        }
    }
    return false;
}

void sim__windows_add(sim_windows_t *w, uint64_t start, uint64_t end)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 4;
        w->w = realloc(w->w, w->cap * sizeof *w->w);
        KV_ASSERT(w->w != NULL);
    }
    w->w[w->n++] = (sim_window_t){start, end};
}

double sim__sample_ms(const sim_dist_t *d, sim_rng_t *r)
{
    return d ? sim_dist_sample(d, r) : 0;
}

sim_ev_t *sim__at(sim_t *s, uint64_t t_ns, uint16_t kind, uint32_t node)
{
    sim_ev_t *ev = sim_engine_push(&s->eng, t_ns, kind);
    ev->node = node;
    ev->inc = s->nodes[node].inc;
    return ev;
}

static const char *ev_name(uint16_t k)
{
    static const char *names[EV_KINDS] = {
        "?",           "timer",      "deliver",     "fin",      "reset",  "connect",
        "persist",     "read_log",   "snap_done",   "apply",    "flush",  "write",
        "write_delay", "read",       "probe",       "fault",    "sample", "pull_fetch",
        "pull_resp",   "pull_write", "pull_commit", "pull_ack", "end"};
    return k < EV_KINDS ? names[k] : "?";
}

/* ---- assertion hook ------------------------------------------------------------ */

static sim_t *hook_sim;

static void assert_hook(const char *expr, const char *file, int line, void *arg)
{
    sim_t *s = arg;
    fprintf(stderr,
            "edgekv-sim: assertion failed: %s (%s:%d)\n"
            "edgekv-sim: scenario %s, seed %" PRIu64 ", virtual time %.6f s, %" PRIu64
            " events; rerun with --seed %" PRIu64 "\n"
            "edgekv-sim: last events:\n",
            expr, file, line, s->sc->name, s->seed, (double)s->eng.now_ns / 1e9, s->eng.executed,
            s->seed);
    sim_engine_dump_recent(&s->eng, stderr, ev_name);
}

/* ---- building ------------------------------------------------------------------ */

static int select_nodes(sim_t *s, const char *sel, uint32_t **out, size_t *n, char *err,
                        size_t errlen)
{
    uint32_t *v = calloc(s->nnodes, sizeof *v);
    KV_ASSERT(v != NULL);
    size_t k = 0;
    if (!strcmp(sel, "origin")) {
        v[k++] = 0;
    } else if (!strcmp(sel, "all")) {
        for (uint32_t i = 1; i < s->nnodes; i++)
            v[k++] = i;
    } else if (!strncmp(sel, "edge:", 5)) {
        unsigned long e = strtoul(sel + 5, NULL, 10);
        if (e < s->nedges)
            v[k++] = (uint32_t)e + 1;
    } else if (!strncmp(sel, "region:", 7)) {
        int p = sim_place_find(sel + 7);
        for (uint32_t i = 1; i < s->nnodes; i++)
            if (p >= 0 && s->nodes[i].place == p)
                v[k++] = i;
    } else if (!strncmp(sel, "random:", 7)) {
        size_t want = strtoul(sel + 7, NULL, 10);
        for (uint32_t i = 1; i < s->nnodes; i++)
            v[k++] = i;
        for (size_t i = 0; i < k; i++) { /* Fisher-Yates, seeded */
            size_t j = i + (size_t)sim_rng_below(&s->rng_fault, k - i);
            uint32_t t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        k = want < k ? want : k;
    }
    if (k == 0) {
        free(v);
        snprintf(err, errlen, "fault selector \"%s\" matches no node", sel);
        return -EINVAL;
    }
    *out = v;
    *n = k;
    return 0;
}

static int build_faults(sim_t *s, char *err, size_t errlen)
{
    const sim_scenario_t *sc = s->sc;
    s->fault_nodes = calloc(sc->nfaults ? sc->nfaults : 1, sizeof *s->fault_nodes);
    s->fault_n = calloc(sc->nfaults ? sc->nfaults : 1, sizeof *s->fault_n);
    KV_ASSERT(s->fault_nodes && s->fault_n);
    for (size_t f = 0; f < sc->nfaults; f++) {
        const sim_fault_t *x = &sc->faults[f];
        uint32_t *v;
        size_t n;
        int rc = select_nodes(s, x->sel, &v, &n, err, errlen);
        if (rc)
            return rc;
        s->fault_nodes[f] = v;
        s->fault_n[f] = n;
        uint64_t a = (uint64_t)(x->at_s * 1e9), b = a + (uint64_t)(x->dur_s * 1e9);
        for (size_t i = 0; i < n; i++) {
            if (x->kind == SIM_FAULT_PARTITION && v[i] == 0) {
                /* The origin cut off: every hop into it (node 0's windows
                 * for a relay's child that failed over to the origin). */
                for (uint32_t c = 1; c < s->nnodes; c++)
                    if (s->nodes[c].parent == 0)
                        sim__windows_add(&s->nodes[c].parts, a, b);
                sim__windows_add(&s->nodes[0].parts, a, b);
            } else if (x->kind == SIM_FAULT_PARTITION) {
                sim__windows_add(&s->nodes[v[i]].parts, a, b);
            }
            sim__windows_add(&s->nodes[v[i]].faults, a, x->kind == SIM_FAULT_CLOCK_JUMP ? a : b);
        }
        if (x->kind != SIM_FAULT_PARTITION) {
            sim_ev_t *ev = sim__at(s, a, EV_FAULT, 0);
            ev->a = f;
            if (x->kind == SIM_FAULT_CRASH) {
                ev = sim__at(s, b, EV_FAULT, 0);
                ev->a = f;
                ev->b = 1;
            }
        }
    }
    return 0;
}

static void build_nodes(sim_t *s)
{
    const sim_scenario_t *sc = s->sc;
    s->nedges = sc->nedges;
    s->nnodes = sc->nedges + 1;
    s->nodes = calloc(s->nnodes, sizeof *s->nodes);
    s->region_nodes = calloc(sc->nregions, sizeof *s->region_nodes);
    s->region_n = calloc(sc->nregions, sizeof *s->region_n);
    KV_ASSERT(s->nodes && s->region_nodes && s->region_n);
    sim_node_t *o = &s->nodes[0];
    o->region = -1;
    o->place = sc->origin_place;
    uint32_t idx = 1;
    for (size_t r = 0; r < sc->nregions; r++) {
        const sim_region_t *reg = &sc->regions[r];
        s->region_nodes[r] = calloc(reg->edges ? reg->edges : 1, sizeof **s->region_nodes);
        KV_ASSERT(s->region_nodes[r] != NULL);
        uint32_t first = idx;
        size_t nrelays = sc->policy == SIM_POLICY_RELAY ? sc->relays_per_region : 0;
        if (nrelays > reg->edges)
            nrelays = reg->edges;
        for (size_t i = 0; i < reg->edges; i++, idx++) {
            sim_node_t *n = &s->nodes[idx];
            n->region = (int)r;
            n->place = reg->place;
            s->region_nodes[r][s->region_n[r]++] = idx;
            if (sc->policy == SIM_POLICY_RELAY && i >= nrelays) {
                n->parent = first + (uint32_t)((i - nrelays) % nrelays);
                s->nodes[n->parent].is_relay = true;
            }
        }
    }
    bool pull = sc->policy == SIM_POLICY_PULL;
    if (pull) {
        s->cache_block = sim_big_calloc(sc->nedges * sc->nkeys, sizeof(sim_centry_t));
        s->recs_block = sim_big_calloc(sc->nkeys, sizeof(sim_rec_t));
    } else {
        s->recs_block = sim_big_calloc(s->nnodes * sc->nkeys, sizeof(sim_rec_t));
    }
    KV_ASSERT(s->recs_block && (!pull || s->cache_block));
    for (uint32_t i = 0; i < s->nnodes; i++) {
        sim_node_t *n = &s->nodes[i];
        sim_rng_derive(&n->rng, s->seed, STREAM_NODE + i);
        if (i > 0)
            n->up_ms = sim_rtt_ms(&sc->rtt, n->place, s->nodes[n->parent].place) / 2.0;
        if (sc->skew_max_ms > 0)
            n->skew_us = (int64_t)((sim_rng_unit(&s->rng_fault) * 2 - 1) * sc->skew_max_ms * 1000);
        n->timer_ns = UINT64_MAX;
        sim_hist_init(&n->prop);
        if (pull && i > 0)
            n->cache = s->cache_block + (size_t)(i - 1) * sc->nkeys;
        else if (pull)
            lww_replica_init_fixed(&n->m, s->keys, s->recs_block, sc->nkeys);
        else /* key by key: every replica's record of key k side by side */
            lww_replica_init_strided(&n->m, s->keys, s->recs_block + i, sc->nkeys, s->nnodes);
    }
    s->read_cum = calloc(sc->nregions, sizeof *s->read_cum);
    s->write_cum = calloc(sc->nregions, sizeof *s->write_cum);
    KV_ASSERT(s->read_cum && s->write_cum);
    double ra = 0, wa = 0;
    for (size_t r = 0; r < sc->nregions; r++) {
        bool has = s->region_n[r] > 0;
        ra += has ? sc->regions[r].read_w : 0;
        wa += has ? sc->regions[r].write_w : 0;
        s->read_cum[r] = ra;
        s->write_cum[r] = wa;
    }
}

int sim_create(const sim_scenario_t *sc, uint64_t seed, const sim_options_t *opt, sim_t **out,
               char *err, size_t errlen)
{
    *out = NULL;
    sim_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->sc = sc;
    s->seed = seed;
    if (opt)
        s->opt = *opt;
    sim_engine_init(&s->eng);
    sim_rng_derive(&s->rng_work, seed, STREAM_WORK);
    sim_rng_derive(&s->rng_net, seed, STREAM_NET);
    sim_rng_derive(&s->rng_disk, seed, STREAM_DISK);
    sim_rng_derive(&s->rng_probe, seed, STREAM_PROBE);
    sim_rng_derive(&s->rng_fault, seed, STREAM_FAULT);
    s->keys = lww_keys_new(false);
    for (uint32_t k = 0; k < sc->nkeys; k++) { /* slot k is key k */
        char key[12];
        size_t len;
        sim__key(k, key, &len);
        uint32_t slot = lww_keys_slot(s->keys, SIM_NS, key, len);
        KV_ASSERT(slot == k);
    }
    build_nodes(s);
    /* The origin's durable records: node 0's block. */
    lww_replica_init_strided(&s->om, s->keys, s->nodes[0].m.recs, sc->nkeys, s->nodes[0].m.stride);
    s->work_end_ns = (uint64_t)(sc->duration_s * 1e9);
    s->end_ns = s->work_end_ns + (uint64_t)(sc->quiet_s * 1e9);
    s->key_last_seq = calloc(sc->nkeys, sizeof *s->key_last_seq);
    s->key_last_write_ns = malloc(sc->nkeys * sizeof *s->key_last_write_ns);
    s->prop_region = calloc(sc->nregions, sizeof *s->prop_region);
    s->read_lat_region = calloc(sc->nregions, sizeof *s->read_lat_region);
    s->tvis_hit = calloc(sc->ntvis, sizeof *s->tvis_hit);
    s->tvis_n = calloc(sc->ntvis, sizeof *s->tvis_n);
    KV_ASSERT(s->key_last_seq && s->key_last_write_ns && s->prop_region && s->read_lat_region &&
              s->tvis_hit && s->tvis_n);
    for (size_t k = 0; k < sc->nkeys; k++)
        s->key_last_write_ns[k] = UINT64_MAX;
    s->ck = sim_check_new(s->nedges, sc->nkeys);
    int rc = build_faults(s, err, errlen);
    if (rc == 0)
        rc = sim__history_open(s, err, errlen);
    if (rc) {
        sim_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sim_destroy(sim_t *s)
{
    if (!s)
        return;
    /* Deliveries still queued hold buffer references. */
    sim_ev_t ev;
    while (sim_engine_pop(&s->eng, &ev)) {
        if (ev.kind == EV_DELIVER) {
            if (ev.flags & EVF_OWN)
                kv_free(ev.p);
            else
                repl_buf_unref(ev.p);
        }
    }
    if (hook_sim == s) {
        kv_assert_set_hook(NULL, NULL);
        hook_sim = NULL;
    }
    repl_origin_destroy(s->od.origin);
    lww_replica_free(&s->om);
    for (size_t i = 0; i < s->nnodes; i++) {
        sim_node_t *n = &s->nodes[i];
        repl_edge_destroy(n->d.edge);
        repl_relay_destroy(n->d.relay);
        free(n->saved_down);
        lww_replica_free(&n->m);
        free(n->parts.w);
        free(n->faults.w);
        sim_hist_free(&n->prop);
    }
    for (size_t r = 0; r < s->sc->nregions; r++) {
        free(s->region_nodes ? s->region_nodes[r] : NULL);
        if (s->prop_region)
            sim_hist_free(&s->prop_region[r]);
        if (s->read_lat_region)
            sim_hist_free(&s->read_lat_region[r]);
    }
    free(s->region_nodes);
    free(s->region_n);
    free(s->read_cum);
    free(s->write_cum);
    free(s->nodes);
    free(s->recs_block);
    lww_keys_free(s->keys);
    free(s->cache_block);
    free(s->conns);
    free(s->commits);
    free(s->key_last_seq);
    free(s->key_last_write_ns);
    free(s->saved_acks);
    free(s->vbuf);
    free(s->zipf_cum);
    free(s->writes);
    sim_hist_free(&s->prop_all);
    sim_hist_free(&s->read_lat);
    free(s->prop_region);
    free(s->read_lat_region);
    free(s->tvis_hit);
    free(s->tvis_n);
    free(s->lag_mean);
    free(s->lag_max);
    sim_check_free(s->ck);
    sim__history_close(s);
    for (size_t f = 0; s->fault_nodes && f < s->sc->nfaults; f++)
        free(s->fault_nodes[f]);
    free(s->fault_nodes);
    free(s->fault_n);
    sim_engine_free(&s->eng);
    free(s);
}

/* ---- faults -------------------------------------------------------------------- */

static void crash(sim_t *s, uint32_t node)
{
    if (s->sc->policy == SIM_POLICY_PULL) {
        sim_node_t *n = &s->nodes[node];
        if (!n->up)
            return;
        n->up = false;
        n->inc++;
        if (n->cache)
            memset(n->cache, 0, s->sc->nkeys * sizeof *n->cache); /* memory lost */
        return;
    }
    if (node == 0)
        sim__origin_crash(s);
    else
        sim__edge_crash(s, node);
}

static void restart(sim_t *s, uint32_t node)
{
    sim_node_t *n = &s->nodes[node];
    if (n->up)
        return;
    if (s->sc->policy == SIM_POLICY_PULL) {
        n->up = true;
        return;
    }
    if (node == 0)
        sim__origin_start(s, true);
    else
        sim__edge_start(s, node, true);
}

static void on_fault(sim_t *s, const sim_ev_t *ev)
{
    const sim_fault_t *x = &s->sc->faults[ev->a];
    const uint32_t *v = s->fault_nodes[ev->a]; /* resolved once, at build time */
    size_t n = s->fault_n[ev->a];
    for (size_t i = 0; i < n; i++) {
        uint32_t node = v[i];
        if (x->kind == SIM_FAULT_CRASH) {
            if (ev->b == 0)
                crash(s, node);
            else if (!s->sc->node_start)
                restart(s, node);
            else /* the node's own start: a draw per node */
                sim__at(s,
                        s->eng.now_ns +
                            (uint64_t)(sim__sample_ms(s->sc->node_start, &s->rng_fault) * 1e6),
                        EV_NODE_START, node);
        } else if (x->kind == SIM_FAULT_CLOCK_JUMP) {
            /* Only the wall moves (HLC time): timers and staleness follow
             * the monotonic clock, as in node/. */
            s->nodes[node].skew_us += (int64_t)(x->by_ms * 1000);
        }
    }
}

/* ---- the loop ------------------------------------------------------------------ */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dispatch(sim_t *s, const sim_ev_t *ev)
{
    switch (ev->kind) {
    case EV_WRITE:
    case EV_WRITE_DELAYED:
    case EV_READ:
    case EV_PROBE:
        sim__workload_event(s, ev);
        break;
    case EV_FAULT:
        on_fault(s, ev);
        break;
    case EV_NODE_START:
        restart(s, ev->node);
        break;
    case EV_SAMPLE:
        sim__lag_sample(s);
        if (s->eng.now_ns + (uint64_t)(s->sc->lag_sample_ms * 1e6) <= s->end_ns)
            sim__at(s, s->eng.now_ns + (uint64_t)(s->sc->lag_sample_ms * 1e6), EV_SAMPLE, 0);
        break;
    case EV_PULL_FETCH:
    case EV_PULL_RESP:
    case EV_PULL_WRITE:
    case EV_PULL_COMMIT:
    case EV_PULL_ACK:
        sim__pull_event(s, ev);
        break;
    default:
        sim__push_event(s, ev);
        break;
    }
}

static void start(sim_t *s)
{
    if (s->started)
        return;
    s->started = true;
    hook_sim = s;
    kv_assert_set_hook(assert_hook, s);
    sim__at(s, s->end_ns, EV_END, 0);
    sim__at(s, 0, EV_SAMPLE, 0);
    s->nodes[0].up = true;
    if (s->sc->policy == SIM_POLICY_PULL) {
        for (uint32_t i = 0; i < s->nnodes; i++)
            s->nodes[i].up = true;
    } else {
        sim__origin_start(s, false);
        /* A relay's children start once it holds the history (push.c), as
         * a tree is brought up from the top: a relay without one refuses
         * its links, and its children would fail over at once. */
        for (uint32_t i = 1; i < s->nnodes; i++)
            if (s->nodes[i].parent == 0)
                sim__edge_start(s, i, false);
    }
    sim__workload_start(s);
}

bool sim_run_until(sim_t *s, uint64_t t_ns)
{
    KV_ASSERT(!s->done);
    start(s);
    double t0 = wall_now(), c0 = cpu_now();
    sim_ev_t ev;
    bool more = true;
    /* Run to the end: no peek per event (a pop finds the queue empty). */
    while (t_ns == UINT64_MAX || sim_engine_peek(&s->eng) < t_ns) {
        if (!sim_engine_pop(&s->eng, &ev))
            break;
        if (ev.kind == EV_END) {
            more = false;
            break;
        }
        sim_engine_trace(&s->eng, &ev, ev.kind == EV_DELIVER ? ev.b : ev.a);
        dispatch(s, &ev);
    }
    if (more && sim_engine_peek(&s->eng) == UINT64_MAX)
        more = false;
    s->wall_s += wall_now() - t0;
    s->cpu_s += cpu_now() - c0;
    return more;
}

/* The regions' and the whole world's propagation histograms are the sums
 * of the nodes': one add per sample during the run (three adds into three
 * 36 KiB tables were 4 % of a run), and even that one waits in the node's
 * histogram with the next ones (sim_hist_add_later), flushed here and summed
 * once at the end of the run. Counts, maximum
 * and the sum of whole microseconds (exact in a double below 2^53) do not
 * depend on the order of the additions. */
static void sim__prop_fold(sim_t *s)
{
    for (size_t i = 1; i < s->nnodes; i++) {
        sim_node_t *n = &s->nodes[i];
        sim_hist_flush(&n->prop);
        sim_hist_merge(&s->prop_region[n->region], &n->prop);
        sim_hist_merge(&s->prop_all, &n->prop);
    }
}

void sim_run(sim_t *s)
{
    (void)sim_run_until(s, UINT64_MAX);
    sim__prop_fold(s);
    s->stopping = true;
    sim__final_checks(s);
    sim__history_final(s);
    s->done = true;
}

/* ---- results ------------------------------------------------------------------- */

void sim_figures(const sim_t *s, sim_figures_t *f)
{
    memset(f, 0, sizeof *f);
    f->events = s->eng.executed;
    f->wall_s = s->wall_s;
    f->events_per_s = s->wall_s > 0 ? (double)s->eng.executed / s->wall_s : 0;
    f->cpu_s = s->cpu_s;
    f->events_per_cpu_s = s->cpu_s > 0 ? (double)s->eng.executed / s->cpu_s : 0;
    f->trace_hash = s->eng.trace;
    f->virtual_s = (double)s->eng.now_ns / 1e9;
    f->writes_issued = s->nwrites;
    f->writes_acked = s->writes_acked;
    f->writes_failed = s->writes_failed;
    f->writes_dropped = s->writes_dropped;
    f->reads = s->reads;
    f->reads_failed = s->reads_failed + s->reads_refused;
    f->commits = s->ncommits;
    f->prop_p50_ms = sim_hist_quantile_ms(&s->prop_all, 0.5);
    f->prop_p99_ms = sim_hist_quantile_ms(&s->prop_all, 0.99);
    f->prop_p999_ms = sim_hist_quantile_ms(&s->prop_all, 0.999);
    f->prop_max_ms = sim_hist_max_ms(&s->prop_all);
    f->prop_samples = s->prop_all.n;
    f->read_p50_ms = sim_hist_quantile_ms(&s->read_lat, 0.5);
    f->read_p99_ms = sim_hist_quantile_ms(&s->read_lat, 0.99);
    f->kstale0 = s->reads ? (double)s->kstale[0] / (double)s->reads : 0;
    uint64_t rc = 0;
    for (size_t i = 1; i < s->nnodes; i++)
        rc += s->nodes[i].reconnects > 0 ? s->nodes[i].reconnects - 1 : 0;
    f->reconnects = rc;
    f->snapshots_started = s->snapshots;
    f->alarms = s->alarms;
    f->origin_tx_bytes = s->origin_tx_bytes;
    f->edge_tx_frames = s->edge_tx_frames;
}

const sim_check_t *sim_checks(const sim_t *s)
{
    return s->ck;
}

double sim_tvis(const sim_t *s, size_t i)
{
    return s->tvis_n[i] ? (double)s->tvis_hit[i] / (double)s->tvis_n[i] : 0;
}
