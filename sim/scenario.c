/*
 * scenario.c - JSON scenario parsing with defaults (see scenario.h and the
 * format in README.md "Simulator").
 */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "repl.h"

typedef struct {
    char *err;
    size_t errlen;
    int rc;
} pctx_t;

static void perr(pctx_t *c, const char *fmt, ...)
{
    if (c->rc)
        return; /* keep the first error */
    c->rc = -EINVAL;
    if (!c->err || !c->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static double num(pctx_t *c, const json_t *o, const char *name, double def, double lo, double hi)
{
    json_t *v = o ? json_object_get(o, name) : NULL;
    if (!v)
        return def;
    if (!json_is_number(v)) {
        perr(c, "\"%s\" must be a number", name);
        return def;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        perr(c, "\"%s\" = %g is out of range [%g, %g]", name, x, lo, hi);
        return def;
    }
    return x;
}

static const char *str(pctx_t *c, const json_t *o, const char *name, const char *def)
{
    json_t *v = o ? json_object_get(o, name) : NULL;
    if (!v)
        return def;
    if (!json_is_string(v)) {
        perr(c, "\"%s\" must be a string", name);
        return def;
    }
    return json_string_value(v);
}

/* A distribution field, or `def` (a JSON text) when absent; NULL def and
 * absent field give NULL. */
static sim_dist_t *dist(pctx_t *c, const json_t *o, const char *name, const char *def)
{
    json_t *v = o ? json_object_get(o, name) : NULL;
    json_t *own = NULL;
    if (!v && def)
        v = own = json_loads(def, JSON_DECODE_ANY, NULL);
    if (!v)
        return NULL;
    sim_dist_t *d = NULL;
    char e[200];
    if (sim_dist_parse(v, &d, e, sizeof e) != 0)
        perr(c, "\"%s\": %s", name, e);
    json_decref(own);
    return d;
}

static void parse_topology(pctx_t *c, const json_t *t, sim_scenario_t *s)
{
    const char *origin = str(c, t, "origin", "ashburn");
    s->origin_place = sim_place_find(origin);
    if (s->origin_place < 0)
        perr(c, "unknown origin place \"%s\"", origin);
    size_t total = (size_t)num(c, t, "edges", 5, 1, 1000);
    json_t *regs = t ? json_object_get(t, "regions") : NULL;
    if (!regs || (json_is_string(regs) && !strcmp(json_string_value(regs), "all"))) {
        s->nregions = sim_nplaces;
        s->regions = calloc(s->nregions, sizeof *s->regions);
        for (size_t i = 0; i < s->nregions; i++)
            s->regions[i] = (sim_region_t){(int)i, 0, -1, -1};
    } else if (json_is_array(regs) && json_array_size(regs) > 0) {
        s->nregions = json_array_size(regs);
        s->regions = calloc(s->nregions, sizeof *s->regions);
        for (size_t i = 0; i < s->nregions; i++) {
            json_t *r = json_array_get(regs, i);
            const char *name = json_is_string(r) ? json_string_value(r) : str(c, r, "name", "");
            int p = sim_place_find(name);
            if (p < 0)
                perr(c, "unknown region \"%s\" (see sim/world.c)", name);
            s->regions[i] = (sim_region_t){p, 0, -1, -1};
            if (json_is_object(r)) {
                s->regions[i].edges = (size_t)num(c, r, "edges", 0, 0, 1000);
                s->regions[i].read_w = num(c, r, "read", -1, 0, 1e9);
                s->regions[i].write_w = num(c, r, "write", -1, 0, 1e9);
            }
        }
    } else {
        perr(c, "\"regions\" must be \"all\" or a non-empty array");
        return;
    }
    /* Explicit counts first; the rest of `edges` round-robin over regions
     * without an explicit count. */
    size_t fixed = 0, open = 0;
    for (size_t i = 0; i < s->nregions; i++) {
        fixed += s->regions[i].edges;
        open += s->regions[i].edges == 0;
    }
    size_t left = total > fixed ? total - fixed : 0;
    if (open && left) {
        size_t *open_idx = calloc(open, sizeof *open_idx);
        for (size_t i = 0, k = 0; i < s->nregions; i++)
            if (s->regions[i].edges == 0)
                open_idx[k++] = i;
        for (size_t k = 0; k < left; k++)
            s->regions[open_idx[k % open]].edges++;
        free(open_idx);
    }
    s->nedges = 0;
    for (size_t i = 0; i < s->nregions; i++) {
        sim_region_t *r = &s->regions[i];
        if (r->read_w < 0)
            r->read_w = (double)r->edges; /* default: uniform over edges */
        if (r->write_w < 0)
            r->write_w = (double)r->edges;
        s->nedges += r->edges;
    }
    if (s->nedges == 0)
        perr(c, "no edges");
    if (s->nedges > 1000)
        perr(c, "at most 1000 edges (KV_REPL_EDGES_MAX is 1024)");
}

static void parse_faults(pctx_t *c, const json_t *f, sim_scenario_t *s)
{
    if (!f)
        return;
    if (!json_is_array(f)) {
        perr(c, "\"faults\" must be an array");
        return;
    }
    s->nfaults = json_array_size(f);
    s->faults = calloc(s->nfaults ? s->nfaults : 1, sizeof *s->faults);
    for (size_t i = 0; i < s->nfaults; i++) {
        json_t *o = json_array_get(f, i);
        sim_fault_t *x = &s->faults[i];
        const char *type = str(c, o, "type", "");
        if (!strcmp(type, "partition"))
            x->kind = SIM_FAULT_PARTITION;
        else if (!strcmp(type, "crash"))
            x->kind = SIM_FAULT_CRASH;
        else if (!strcmp(type, "clock_jump"))
            x->kind = SIM_FAULT_CLOCK_JUMP;
        else
            perr(c, "fault %zu: unknown type \"%s\"", i, type);
        snprintf(x->sel, sizeof x->sel, "%s", str(c, o, "nodes", str(c, o, "node", "all")));
        x->at_s = num(c, o, "at_s", 0, 0, 1e7);
        x->dur_s = num(c, o, "duration_s", 1, 0, 1e7);
        x->by_ms = num(c, o, "by_ms", 0, -1e9, 1e9);
    }
}

static void parse_measure(pctx_t *c, const json_t *m, sim_scenario_t *s)
{
    static const double grid[] = {0,   5,   10,  20,   30,   50,   75,    100,   150,   200,
                                  300, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000, 120000};
    json_t *g = m ? json_object_get(m, "tvis_grid_ms") : NULL;
    if (g && (!json_is_array(g) || json_array_size(g) == 0)) {
        perr(c, "\"tvis_grid_ms\" must be a non-empty array");
        g = NULL;
    }
    s->ntvis = g ? json_array_size(g) : sizeof grid / sizeof grid[0];
    s->tvis_ms = calloc(s->ntvis, sizeof *s->tvis_ms);
    for (size_t i = 0; i < s->ntvis; i++) {
        s->tvis_ms[i] = g ? json_number_value(json_array_get(g, i)) : grid[i];
        if (s->tvis_ms[i] < 0)
            perr(c, "tvis grid values must be >= 0");
    }
    s->probe_fraction = num(c, m, "probe_fraction", 1, 0, 1);
    s->lag_sample_ms = num(c, m, "lag_sample_ms", 1000, 1, 1e7);
    s->settle_ms = num(c, m, "settle_ms", 5000, 0, 1e7);
}

static void parse_all(pctx_t *c, const json_t *root, sim_scenario_t *s)
{
    snprintf(s->name, sizeof s->name, "%s", str(c, root, "name", "scenario"));
    s->seed = (uint64_t)num(c, root, "seed", 1, 0, 1.8e19);
    s->duration_s = num(c, root, "duration_s", 60, 0, 1e7);
    s->quiet_s = num(c, root, "quiet_s", 30, 0, 1e7);
    const char *pol = str(c, root, "policy", "push");
    if (!strcmp(pol, "push"))
        s->policy = SIM_POLICY_PUSH;
    else if (!strcmp(pol, "pull"))
        s->policy = SIM_POLICY_PULL;
    else if (!strcmp(pol, "relay"))
        s->policy = SIM_POLICY_RELAY;
    else
        perr(c, "unknown policy \"%s\" (push, pull, relay)", pol);

    parse_topology(c, json_object_get(root, "topology"), s);

    const json_t *n = json_object_get(root, "network");
    sim_rtt_model_default(&s->rtt);
    s->rtt.inflation = num(c, n, "route_inflation", s->rtt.inflation, 1, 10);
    s->rtt.hop_ms = num(c, n, "hop_ms", s->rtt.hop_ms, 0, 1e4);
    s->rtt.fibre_km_per_ms = num(c, n, "fibre_km_per_ms", s->rtt.fibre_km_per_ms, 1, 300);
    s->one_way = dist(c, n, "one_way", NULL);
    s->jitter = dist(c, n, "jitter", NULL);
    s->loss = num(c, n, "loss", 0, 0, 1);
    const char *lm = str(c, n, "loss_mode", "reset");
    if (!strcmp(lm, "reset"))
        s->loss_mode = SIM_LOSS_RESET;
    else if (!strcmp(lm, "retransmit"))
        s->loss_mode = SIM_LOSS_RETRANSMIT;
    else
        perr(c, "unknown loss_mode \"%s\" (reset, retransmit)", lm);
    s->rto_ms = num(c, n, "rto_ms", 200, 0, 1e6);
    s->link_mbps = num(c, n, "link_mbps", 0, 0, 1e6);
    s->origin_uplink_mbps = num(c, n, "origin_uplink_mbps", 0, 0, 1e6);
    s->connect_timeout_ms = num(c, n, "connect_timeout_ms", 3000, 1, 1e7);

    const json_t *st = json_object_get(root, "storage");
    s->origin_disk = dist(c, st, "origin_disk", "{\"type\":\"constant\",\"value\":1}");
    s->edge_disk = dist(c, st, "edge_disk", "{\"type\":\"constant\",\"value\":0.2}");
    s->read_disk = dist(c, st, "read_disk", "{\"type\":\"constant\",\"value\":0.5}");
    s->node_start = dist(c, st, "node_start", NULL);
    s->write_fail_p = num(c, st, "write_fail_p", 0, 0, 1);
    s->apply_fail_p = num(c, st, "apply_fail_p", 0, 0, 1);

    s->skew_max_ms = num(c, json_object_get(root, "clocks"), "skew_max_ms", 0, 0, 1e7);

    const json_t *w = json_object_get(root, "workload");
    s->nkeys = (size_t)num(c, w, "keys", 1000, 1, 1e7);
    const json_t *pop = w ? json_object_get(w, "popularity") : NULL;
    const char *pt = str(c, pop, "type", "uniform");
    s->zipf_s = 0;
    if (!strcmp(pt, "zipf"))
        s->zipf_s = num(c, pop, "s", 1, 0.01, 10);
    else if (strcmp(pt, "uniform"))
        perr(c, "unknown popularity \"%s\" (uniform, zipf)", pt);
    s->writes_per_s = num(c, w, "writes_per_s", 10, 0, 1e6);
    /* "paced": one write every 1/writes_per_s from t=0, as a client that
     * paces its writes (the lab's) sends them; "poisson": independent. */
    const char *arr = str(c, w, "write_arrivals", "poisson");
    s->writes_paced = !strcmp(arr, "paced");
    if (strcmp(arr, "poisson") && strcmp(arr, "paced"))
        perr(c, "unknown write_arrivals \"%s\" (poisson, paced)", arr);
    s->reads_per_s = num(c, w, "reads_per_s", 100, 0, 1e7);
    s->delete_fraction = num(c, w, "delete_fraction", 0, 0, 1);
    s->value_size = dist(c, w, "value_size", "{\"type\":\"constant\",\"value\":256}");
    s->key_limit_per_s = num(c, w, "key_write_limit_per_s", 1, 0, 1e6);
    const char *km = str(c, w, "key_limit_mode", "drop");
    s->key_limit_delay = !strcmp(km, "delay");
    if (strcmp(km, "drop") && strcmp(km, "delay"))
        perr(c, "unknown key_limit_mode \"%s\" (drop, delay)", km);
    const char *wa = str(c, w, "write_at", "edge");
    s->write_at_origin = !strcmp(wa, "origin");
    if (strcmp(wa, "edge") && strcmp(wa, "origin"))
        perr(c, "unknown write_at \"%s\" (edge, origin)", wa);
    s->read_service_ms = num(c, w, "read_service_ms", 0.1, 0, 1e6);

    /* What a scenario leaves out is what the node runs with: the core's
     * defaults (replication/origin.c, replication/edge.c). */
    const json_t *p = json_object_get(root, "push");
    repl_origin_config_t od;
    repl_edge_config_t ed;
    repl_origin_config_default(&od);
    repl_edge_config_default(&ed);
    s->heartbeat_ms = (uint64_t)num(c, p, "heartbeat_ms", (double)od.heartbeat_interval_ms, 1, 1e7);
    s->bound_ms =
        (uint64_t)num(c, p, "propagation_bound_ms", (double)ed.propagation_bound_ms, 1, 1e7);
    s->link_timeout_ms = (uint64_t)num(c, p, "link_timeout_ms", (double)ed.link_timeout_ms, 1, 1e7);
    s->reconnect_min_ms =
        (uint64_t)num(c, p, "reconnect_min_ms", (double)ed.reconnect_min_ms, 1, 1e7);
    s->reconnect_max_ms =
        (uint64_t)num(c, p, "reconnect_max_ms", (double)ed.reconnect_max_ms, 1, 1e7);
    s->log_retention = (uint64_t)num(c, p, "log_retention", (double)od.log_retention, 1, 1e9);
    const json_t *ac = p ? json_object_get(p, "ack_coalesce_idle") : NULL;
    if (ac && !json_is_boolean(ac))
        perr(c, "\"ack_coalesce_idle\" must be true or false");
    s->ack_coalesce_idle = ac ? json_is_true(ac) : ed.ack_coalesce_idle;
    if (s->reconnect_max_ms < s->reconnect_min_ms)
        perr(c, "reconnect_max_ms < reconnect_min_ms");

    s->cache_ttl_s = num(c, json_object_get(root, "pull"), "cache_ttl_s", 60, 0, 1e7);

    const json_t *r = json_object_get(root, "relay");
    s->relays_per_region = (size_t)num(c, r, "relays_per_region", 1, 1, 1000);
    s->relay_proc = dist(c, r, "forward_ms", "{\"type\":\"constant\",\"value\":0.2}");
    const char *fo = str(c, r, "failover", "origin");
    if (!strcmp(fo, "wait"))
        s->relay_failover = SIM_FAILOVER_WAIT;
    else if (!strcmp(fo, "region"))
        s->relay_failover = SIM_FAILOVER_REGION;
    else if (!strcmp(fo, "origin"))
        s->relay_failover = SIM_FAILOVER_ORIGIN;
    else
        perr(c, "unknown relay failover \"%s\" (wait, region, origin)", fo);

    parse_faults(c, json_object_get(root, "faults"), s);
    parse_measure(c, json_object_get(root, "measure"), s);
    const json_t *ck = json_object_get(root, "checks");
    json_t *b = ck ? json_object_get(ck, "bound") : NULL;
    s->check_bound = b ? json_is_true(b) : true;
}

int sim_scenario_parse(const char *text, sim_scenario_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        if (err)
            snprintf(err, errlen, "JSON line %d: %s", je.line, je.text);
        return -EINVAL;
    }
    pctx_t c = {err, errlen, 0};
    sim_scenario_t *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(root);
        return -ENOMEM;
    }
    if (!json_is_object(root))
        perr(&c, "a scenario is a JSON object");
    else
        parse_all(&c, root, s);
    json_decref(root);
    if (c.rc) {
        sim_scenario_free(s);
        return c.rc;
    }
    *out = s;
    return 0;
}

int sim_scenario_load(const char *path, sim_scenario_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int rc = -errno;
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        if (err)
            snprintf(err, errlen, "%s: read failed", path);
        return -EIO;
    }
    fclose(f);
    buf[n] = '\0';
    int rc = sim_scenario_parse(buf, out, err, errlen);
    free(buf);
    return rc;
}

void sim_scenario_free(sim_scenario_t *s)
{
    if (!s)
        return;
    sim_dist_t *ds[] = {s->one_way,   s->jitter,     s->origin_disk, s->edge_disk,
                        s->read_disk, s->value_size, s->relay_proc,  s->node_start};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
        sim_dist_free(ds[i]);
    free(s->regions);
    free(s->faults);
    free(s->tvis_ms);
    free(s);
}

const char *sim_policy_name(sim_policy_t p)
{
    return p == SIM_POLICY_PUSH ? "push" : p == SIM_POLICY_PULL ? "pull" : "relay";
}
