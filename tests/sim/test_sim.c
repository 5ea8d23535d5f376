/*
 * test_sim.c - the simulator end to end and its fault model: smoke.json is
 * reproducible from its seed (and a different seed gives a different
 * trace); a partition holds a hop's frames until it heals and fails
 * connects into it; a crash loses exactly what was not yet durable (an
 * origin PERSIST in flight, an edge APPLY in flight) and the cores recover
 * from the durable state; the pull and relay policies run and pass; in the
 * relay policy the relays are the core's repl_relay_t, a relay tree
 * delivers every write to every edge, and a crashed relay's children fail
 * over by the scenario's rule (to the origin, without a snapshot; or wait),
 * and a restarted relay still knows its children's positions.
 * Reaches into sim_int.h to place faults at exact virtual times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "kv_mem.h"
#include "sim.h"
#include "sim_int.h"

#define S(x) ((uint64_t)((x)*1e9))

static sim_scenario_t *parse(const char *json)
{
    sim_scenario_t *sc;
    char err[256] = "";
    if (sim_scenario_parse(json, &sc, err, sizeof err) != 0)
        fail_msg("scenario: %s", err);
    return sc;
}

static sim_t *make(const sim_scenario_t *sc, uint64_t seed)
{
    sim_options_t opt = {.quiet = true};
    sim_t *s;
    char err[256] = "";
    if (sim_create(sc, seed, &opt, &s, err, sizeof err) != 0)
        fail_msg("sim_create: %s", err);
    return s;
}

static uint64_t run_smoke(uint64_t seed, sim_figures_t *f)
{
    sim_scenario_t *sc;
    char err[256] = "";
    if (sim_scenario_load(SIM_SCENARIO_DIR "/smoke.json", &sc, err, sizeof err) != 0)
        fail_msg("smoke.json: %s", err);
    sim_t *s = make(sc, seed ? seed : sc->seed);
    sim_run(s);
    sim_figures(s, f);
    if (!sim_check_ok(sim_checks(s)))
        sim_print_summary(s, stderr);
    assert_true(sim_check_ok(sim_checks(s)));
    uint64_t h = f->trace_hash;
    sim_destroy(s);
    sim_scenario_free(sc);
    return h;
}

static void test_smoke_reproducible(void **state)
{
    (void)state;
    sim_figures_t a, b, d;
    uint64_t h1 = run_smoke(0, &a);
    uint64_t h2 = run_smoke(0, &b);
    uint64_t h4 = run_smoke(8, &d);
    /* Batches decoded once for all edges (proto/frame.h, as edgekv-sim
     * runs): the same run. */
    sim_figures_t c;
    assert_int_equal(frame_share_install(64), 0);
    uint64_t hits = frame_share_hits();
    uint64_t h3 = run_smoke(0, &c);
    assert_true(frame_share_hits() > hits + 1000);
    assert_int_equal(frame_share_install(0), 0);
    assert_int_equal(h3, h1);
    assert_int_equal(c.events, a.events);
    assert_int_equal(h1, h2);
    assert_int_not_equal(h1, h4);
    assert_int_equal(a.events, b.events);
    assert_int_equal(a.writes_acked, b.writes_acked);
    assert_true(a.writes_acked > 100 && a.prop_samples > 500);
    /* smoke.json's faults happened: reconnects, and failed writes. */
    assert_true(a.reconnects > 0 && a.writes_failed > 0);
}

static const char *PART_JSON =
    "{\"name\":\"part\",\"duration_s\":12,\"quiet_s\":10,"
    "\"topology\":{\"origin\":\"ashburn\",\"regions\":[\"london\"],\"edges\":1},"
    "\"storage\":{\"origin_disk\":0.5,\"edge_disk\":0.1},"
    "\"workload\":{\"keys\":50,\"writes_per_s\":40,\"reads_per_s\":0,"
    "\"key_write_limit_per_s\":0,\"write_at\":\"origin\"},"
    "\"faults\":[{\"type\":\"partition\",\"nodes\":\"edge:0\",\"at_s\":2,\"duration_s\":3}]}";

/* The delivery event of conn scheduled last, or UINT64_MAX. */
typedef struct {
    uint16_t kind;
    uint32_t id;
    uint64_t best, best_ss, a;
} find_t;

static void find_one(void *ctx, const sim_hent_t *h, const sim_ev_t *ev)
{
    find_t *f = ctx;
    uint32_t id = f->kind == EV_CONNECT ? ev->node : ev->conn;
    if (ev->kind == f->kind && id == f->id && h->ss >= f->best_ss) {
        f->best = h->t;
        f->best_ss = h->ss;
        f->a = ev->a;
    }
}

static uint64_t find_event(const sim_t *s, uint16_t kind, uint32_t conn_or_node, uint64_t *a)
{
    find_t f = {.kind = kind, .id = conn_or_node, .best = UINT64_MAX};
    sim_engine_each(&s->eng, find_one, &f);
    if (a && f.best != UINT64_MAX)
        *a = f.a;
    return f.best;
}

static uint64_t send_probe(sim_t *s, uint32_t conn)
{
    uint8_t *b = kv_malloc(16);
    memset(b, 0, 16);
    sim__send_frame(s, conn, 0, NULL, b, b, 16);
    return find_event(s, EV_DELIVER, conn, NULL);
}

static void test_partition_holds_frames(void **state)
{
    (void)state;
    sim_scenario_t *sc = parse(PART_JSON);
    sim_t *s = make(sc, 1);
    /* London is ~5900 km from Ashburn: one way ~ 45 ms. */
    sim_run_until(s, S(1.0));
    uint32_t live = s->nodes[1].conn;
    assert_true(live != 0);
    uint32_t c = sim__conn_new(s, 1); /* a side connection for timing only: */
    s->conns[c].edge_open = false;    /* its frames are dropped on arrival */
    uint64_t t = send_probe(s, c);
    assert_true(t > S(1.0) && t < S(1.1)); /* before the window: untouched */
    uint64_t applied_before = s->nodes[1].m.applied_seq;
    sim_run_until(s, S(2.05));
    assert_int_equal(s->nodes[1].conn, live);
    applied_before = s->nodes[1].m.applied_seq;
    t = send_probe(s, c);
    /* Inside [2, 5]: held until the heal, then rto (200 ms) + a delay. */
    assert_true(t >= S(5.2) && t < S(5.3));
    sim_run_until(s, S(4.9));
    /* Nothing crossed the hop meanwhile... */
    assert_int_equal(s->nodes[1].m.applied_seq, applied_before);
    /* ... and a connect into the partition fails after connect_timeout. */
    sim__connect(s, 1);
    uint64_t ok = 7;
    uint64_t tc = find_event(s, EV_CONNECT, 1, &ok);
    assert_int_equal(ok, 0);
    assert_int_equal(tc, s->eng.now_ns + S(3.0));
    sim_run_until(s, S(5.6));
    assert_true(s->nodes[1].m.applied_seq > applied_before); /* healed */
    t = send_probe(s, c);
    assert_true(t > S(5.6) && t < S(5.7));
    /* The TCP connection survived the 3 s partition (link timeout 15 s). */
    assert_int_equal(s->nodes[1].conn, live);
    sim_run(s);
    assert_true(sim_check_ok(sim_checks(s)));
    sim_destroy(s);
    sim_scenario_free(sc);
}

static const char *CRASH_JSON =
    "{\"name\":\"crash\",\"duration_s\":10,\"quiet_s\":20,"
    "\"topology\":{\"origin\":\"frankfurt\",\"regions\":[\"paris\",\"madrid\"],\"edges\":2},"
    "\"storage\":{\"origin_disk\":200,\"edge_disk\":100},"
    "\"workload\":{\"keys\":100,\"writes_per_s\":30,\"reads_per_s\":50,"
    "\"key_write_limit_per_s\":0,\"write_at\":\"origin\"}}";

static void test_origin_crash_loses_unpersisted(void **state)
{
    (void)state;
    sim_scenario_t *sc = parse(CRASH_JSON);
    sim_t *s = make(sc, 3);
    uint64_t t = S(3.0);
    do {
        sim_run_until(s, t += S(0.01));
    } while (!(s->od.persist.pending && s->od.persist.n >= 2));
    uint32_t lost[64];
    size_t nlost = 0;
    for (size_t i = 0; i < s->od.persist.n && nlost < 64; i++) {
        const repl_op_t *op = &s->od.persist.muts[i].op;
        if (op->kind == REPL_OP_PUT)
            memcpy(&lost[nlost++], op->value, sizeof(uint32_t));
    }
    assert_true(nlost >= 1);
    size_t durable = s->ncommits;
    sim__origin_crash(s);
    for (size_t i = 0; i < nlost; i++)
        assert_int_equal(s->writes[lost[i] - 1].state, W_FAILED);
    assert_int_equal(s->ncommits, durable);
    sim__origin_start(s, true); /* from the durable state */
    sim_run(s);
    for (size_t q = 0; q < s->ncommits; q++)
        for (size_t i = 0; i < nlost; i++)
            assert_true(s->commits[q].kind != OPK_PUT || s->commits[q].wid != lost[i]);
    assert_true(s->ncommits > durable); /* writes went on after the restart */
    if (!sim_check_ok(sim_checks(s)))
        sim_print_summary(s, stderr);
    assert_true(sim_check_ok(sim_checks(s)));
    assert_int_equal(sim_check_result(sim_checks(s), SIM_CK_CONVERGE)->verdict, SIM_CHECK_PASS);
    sim_destroy(s);
    sim_scenario_free(sc);
}

static void test_edge_crash_loses_unapplied(void **state)
{
    (void)state;
    sim_scenario_t *sc = parse(CRASH_JSON);
    sim_t *s = make(sc, 4);
    sim_node_t *n = &s->nodes[1];
    uint64_t t = S(3.0);
    do {
        sim_run_until(s, t += S(0.01));
    } while (!(n->d.step.pending && !n->d.step.reset && n->d.step.seq > n->m.applied_seq &&
               n->d.step.n > 0));
    uint64_t applied = n->m.applied_seq, pending = n->d.step.seq;
    sim__edge_crash(s, 1);
    assert_false(n->up);
    assert_int_equal(n->m.applied_seq, applied); /* the step was not durable */
    /* Nothing scheduled for the old incarnation can apply it later. */
    sim_run_until(s, t + S(0.5));
    assert_int_equal(n->m.applied_seq, applied);
    sim__edge_start(s, 1, true);
    sim_run_until(s, t + S(2.0));
    assert_true(n->m.applied_seq >= pending); /* resumed from `applied` */
    sim_run(s);
    assert_true(sim_check_ok(sim_checks(s)));
    assert_int_equal(sim_check_result(sim_checks(s), SIM_CK_CONVERGE)->verdict, SIM_CHECK_PASS);
    sim_destroy(s);
    sim_scenario_free(sc);
}

/* storage.node_start: a crashed node runs again only after its start, drawn
 * per restart; without it, at the crash's end. Every check passes either
 * way, and nothing else moves: the runs differ only after the restart. */
static void test_node_start(void **state)
{
    (void)state;
    static const char *const json[] = {
        "{\"name\":\"start\",\"duration_s\":10,\"quiet_s\":10,"
        "\"topology\":{\"origin\":\"frankfurt\",\"regions\":[\"paris\",\"madrid\"],\"edges\":2},"
        "\"storage\":{\"origin_disk\":1,\"edge_disk\":0.2%s},"
        "\"workload\":{\"keys\":100,\"writes_per_s\":30,\"reads_per_s\":50,"
        "\"key_write_limit_per_s\":0,\"write_at\":\"origin\"},"
        "\"faults\":[{\"type\":\"crash\",\"node\":\"edge:0\",\"at_s\":3,\"duration_s\":1},"
        "{\"type\":\"crash\",\"node\":\"origin\",\"at_s\":6,\"duration_s\":1}]}"};
    char text[1024];
    for (int with = 0; with < 2; with++) {
        snprintf(text, sizeof text, json[0], with ? ",\"node_start\":1500" : "");
        sim_scenario_t *sc = parse(text);
        sim_t *s = make(sc, 7);
        sim_run_until(s, S(3.5));
        assert_false(s->nodes[1].up);
        sim_run_until(s, S(4.1)); /* the crash is over */
        assert_int_equal(s->nodes[1].up, !with);
        sim_run_until(s, S(5.6)); /* and its start too */
        assert_true(s->nodes[1].up);
        sim_run_until(s, S(7.1));
        assert_int_equal(s->nodes[0].up, !with);
        sim_run_until(s, S(8.6));
        assert_true(s->nodes[0].up);
        sim_run(s);
        if (!sim_check_ok(sim_checks(s)))
            sim_print_summary(s, stderr);
        assert_true(sim_check_ok(sim_checks(s)));
        sim_destroy(s);
        sim_scenario_free(sc);
    }
}

static void test_failed_commits_and_policies(void **state)
{
    (void)state;
    const char *base = "{\"name\":\"pol\",\"policy\":\"%s\",\"duration_s\":20,\"quiet_s\":70,"
                       "\"topology\":{\"origin\":\"ashburn\",\"regions\":\"all\",\"edges\":60},"
                       "\"network\":{\"jitter\":{\"type\":\"exponential\",\"lambda\":1}},"
                       "\"storage\":{\"write_fail_p\":0.05},"
                       "\"pull\":{\"cache_ttl_s\":10},"
                       "\"measure\":{\"tvis_grid_ms\":[0,50,100,500,1000,5000,15000]},"
                       "\"workload\":{\"keys\":300,\"writes_per_s\":20,\"reads_per_s\":300}}";
    const char *pols[] = {"push", "pull", "relay"};
    for (int i = 0; i < 3; i++) {
        char json[1024];
        snprintf(json, sizeof json, base, pols[i]);
        sim_scenario_t *sc = parse(json);
        sim_t *s = make(sc, 9);
        sim_run(s);
        sim_figures_t f;
        sim_figures(s, &f);
        if (!sim_check_ok(sim_checks(s)))
            sim_print_summary(s, stderr);
        assert_true(sim_check_ok(sim_checks(s)));
        assert_true(f.writes_failed > 0); /* write_fail_p */
        assert_true(f.writes_acked > 200);
        assert_true(f.reads > 3000);
        /* Visibility grows with delta and is complete after the TTL. */
        assert_true(sim_tvis(s, sc->ntvis - 1) > 0.999);
        assert_true(sim_tvis(s, 0) <= sim_tvis(s, sc->ntvis - 1));
        if (i == 2) { /* relay: every non-relay edge has a relay parent */
            size_t relays = 0;
            for (size_t k = 1; k < s->nnodes; k++)
                relays += s->nodes[k].is_relay;
            assert_int_equal(relays, 30);
        }
        sim_destroy(s);
        sim_scenario_free(sc);
    }
}

/* Three regions of four: one relay each (edges 0, 4, 8), three children
 * under each; writes at every node; the first relay crashes at 8 s for 4 s. */
static const char *TREE_JSON =
    "{\"name\":\"tree\",\"policy\":\"relay\",\"duration_s\":20,\"quiet_s\":20,"
    "\"topology\":{\"origin\":\"ashburn\",\"regions\":[\"london\",\"paris\",\"tokyo\"],"
    "\"edges\":12},"
    "\"network\":{\"jitter\":{\"type\":\"exponential\",\"lambda\":1}},"
    "\"workload\":{\"keys\":200,\"writes_per_s\":40,\"reads_per_s\":100,"
    "\"key_write_limit_per_s\":0},"
    "\"relay\":{\"relays_per_region\":1,\"failover\":\"%s\"},"
    "\"faults\":[{\"type\":\"crash\",\"node\":\"edge:0\",\"at_s\":8,\"duration_s\":4}]}";

/* The upstream node of idx's live link, or -1 when it has none. */
static int upstream_of(const sim_t *s, uint32_t idx)
{
    uint32_t c = s->nodes[idx].conn;
    return c && s->conns[c].origin_open && s->conns[c].edge_open ? (int)s->conns[c].up : -1;
}

static uint64_t run_tree(const char *failover, bool to_origin)
{
    char json[1024];
    snprintf(json, sizeof json, TREE_JSON, failover);
    sim_scenario_t *sc = parse(json);
    sim_t *s = make(sc, 11);
    assert_int_equal(s->nnodes, 13);
    sim_run_until(s, S(7.9));
    for (uint32_t i = 1; i < s->nnodes; i++) {
        bool relay = (i - 1) % 4 == 0;
        /* The relays run the node's relay core, the others the edge core. */
        assert_true(relay ? s->nodes[i].d.relay != NULL : s->nodes[i].d.edge != NULL);
        assert_int_equal(s->nodes[i].is_relay, relay);
        /* Every edge follows its region's relay, every relay the origin. */
        assert_int_equal(upstream_of(s, i), relay ? 0 : (int)(i - (i - 1) % 4));
    }
    size_t snaps = s->snapshots; /* one per fresh node, at the start */
    assert_int_equal(snaps, 12);
    sim_run_until(s, S(10.0)); /* relay 1 down since 8 s */
    assert_false(s->nodes[1].up);
    for (uint32_t i = 2; i <= 4; i++)
        assert_int_equal(upstream_of(s, i), to_origin ? 0 : -1);
    for (uint32_t i = 6; i <= 8; i++) /* the other trees are untouched */
        assert_int_equal(upstream_of(s, i), 5);
    /* Restarted at 12 s, relay 1 still knows its three children's positions
     * (as the node keeps them), before any of them is back. */
    sim_run_until(s, S(12.0) + 1000);
    assert_true(s->nodes[1].up);
    repl_edge_info_t kids[8];
    assert_int_equal(repl_relay_edges(s->nodes[1].d.relay, sim__mono_ms(s), kids, 8), 3);
    for (size_t k = 0; k < 3; k++)
        assert_true(!kids[k].connected && kids[k].acked_seq > 0);
    sim_run(s);
    sim_figures_t f;
    sim_figures(s, &f);
    if (!sim_check_ok(sim_checks(s)))
        sim_print_summary(s, stderr);
    assert_true(sim_check_ok(sim_checks(s)));
    assert_int_equal(sim_check_result(sim_checks(s), SIM_CK_CONVERGE)->verdict, SIM_CHECK_PASS);
    /* Every write reached every node, each counted once. */
    uint64_t real = 0;
    for (size_t q = 0; q < s->ncommits; q++)
        real += s->commits[q].kind != OPK_NOOP;
    assert_true(real > 500 && f.writes_acked > 500);
    for (uint32_t i = 1; i < s->nnodes; i++) {
        assert_int_equal(s->nodes[i].m.applied_seq, s->ncommits);
        assert_int_equal(s->nodes[i].prop.n, real);
    }
    /* The move cost no snapshot: the relays keep the origin's sequence. */
    assert_int_equal(s->snapshots, snaps);
    for (uint32_t i = 2; i <= 4; i++) /* after the restart: origin, or the relay again */
        assert_int_equal(upstream_of(s, i), to_origin ? 0 : 1);
    uint64_t h = f.trace_hash;
    sim_destroy(s);
    sim_scenario_free(sc);
    return h;
}

static void test_relay_tree(void **state)
{
    (void)state;
    uint64_t h1 = run_tree("origin", true);
    assert_int_equal(run_tree("origin", true), h1); /* same seed, same run */
    assert_int_not_equal(run_tree("wait", false), h1);
}

/* "write_arrivals": "paced": one write every 1/writes_per_s from t = 0, as
 * the lab's client sends them; the default stays Poisson. */
static void test_paced_writes(void **state)
{
    (void)state;
    static const char *const json =
        "{\"name\":\"paced\",\"duration_s\":2,\"quiet_s\":1,"
        "\"topology\":{\"origin\":\"frankfurt\",\"regions\":[\"paris\"],\"edges\":1},"
        "\"workload\":{\"keys\":100,\"writes_per_s\":10,\"reads_per_s\":0,%s"
        "\"key_write_limit_per_s\":0,\"write_at\":\"origin\"}}";
    char text[1024];
    for (int paced = 0; paced < 2; paced++) {
        snprintf(text, sizeof text, json, paced ? "\"write_arrivals\":\"paced\"," : "");
        sim_scenario_t *sc = parse(text);
        assert_int_equal(sc->writes_paced, paced);
        sim_t *s = make(sc, 3);
        sim_run(s);
        bool even = true;
        for (size_t i = 1; i < s->nwrites; i++)
            even = even && s->writes[i].t_ns - s->writes[i - 1].t_ns == 100000000u;
        if (paced) {
            assert_int_equal(s->nwrites, 20); /* t = 0 ... 1.9 s */
            assert_int_equal(s->writes[0].t_ns, 1);
        }
        assert_int_equal(even, paced); /* Poisson gaps are never exactly equal */
        sim_destroy(s);
        sim_scenario_free(sc);
    }
    sim_scenario_t *sc = (sim_scenario_t *)1;
    char err[256] = "";
    assert_true(sim_scenario_parse("{\"workload\":{\"write_arrivals\":\"bursty\"}}", &sc, err,
                                   sizeof err) < 0);
    assert_non_null(strstr(err, "write_arrivals"));
}

/* "push": {"ack_coalesce_idle": true} runs the edges as a node runs its
 * edges (at most one idle ack per KV_REPL_ACK_INTERVAL_MS); the default
 * is the core's (an idle edge acks each apply). Writes reach the edges
 * the same way either way; only the acks going up are fewer. */
static void test_ack_coalescing_switch(void **state)
{
    (void)state;
    static const char *const json =
        "{\"name\":\"acks\",\"duration_s\":3,\"quiet_s\":2,"
        "\"topology\":{\"origin\":\"frankfurt\",\"regions\":[\"paris\"],\"edges\":4},"
        "\"workload\":{\"keys\":1000,\"writes_per_s\":400,\"reads_per_s\":0,"
        "\"key_write_limit_per_s\":0,\"write_at\":\"origin\"}%s}";
    char text[1024];
    sim_figures_t f[2];
    for (int on = 0; on < 2; on++) {
        snprintf(text, sizeof text, json, on ? ",\"push\":{\"ack_coalesce_idle\":true}" : "");
        sim_scenario_t *sc = parse(text);
        assert_int_equal(sc->ack_coalesce_idle, on);
        sim_t *s = make(sc, 5);
        sim_run(s);
        assert_true(sim_check_ok(sim_checks(s)));
        sim_figures(s, &f[on]);
        sim_destroy(s);
        sim_scenario_free(sc);
    }
    assert_int_equal(f[1].writes_acked, f[0].writes_acked);
    assert_int_equal(f[1].prop_samples, f[0].prop_samples);
    /* 4 edges for 5 s: at once, an ack per batch each (4 504 here);
     * coalesced, at most one per interval each, and a few Hellos and
     * probes (1 272 here). */
    assert_true(f[1].edge_tx_frames <= 4 * (5 * 1000 / KV_REPL_ACK_INTERVAL_MS + 10));
    assert_true(f[0].edge_tx_frames > 3 * f[1].edge_tx_frames);
    sim_scenario_t *sc = (sim_scenario_t *)1;
    char err[256] = "";
    assert_true(sim_scenario_parse("{\"push\":{\"ack_coalesce_idle\":1}}", &sc, err, sizeof err) <
                0);
    assert_non_null(strstr(err, "ack_coalesce_idle"));
}

static void test_bad_scenarios(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"policy\":\"gossip\"}",
        "{\"topology\":{\"regions\":[\"atlantis\"]}}",
        "{\"network\":{\"loss\":2}}",
        "{\"workload\":{\"value_size\":{\"type\":\"pareto\"}}}",
        "{\"faults\":[{\"type\":\"meteor\"}]}",
        "{\"relay\":{\"failover\":\"anywhere\"}}",
        "[1,2]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sim_scenario_t *sc = (sim_scenario_t *)1;
        char err[256] = "";
        assert_true(sim_scenario_parse(bad[i], &sc, err, sizeof err) < 0);
        assert_null(sc);
        assert_true(err[0] != '\0');
    }
    /* A selector that matches nothing is refused at build time. */
    sim_scenario_t *sc = parse("{\"faults\":[{\"type\":\"crash\",\"node\":\"region:tokyo\"}],"
                               "\"topology\":{\"regions\":[\"paris\"],\"edges\":2}}");
    sim_t *s = NULL;
    char err[256] = "";
    assert_true(sim_create(sc, 1, NULL, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "region:tokyo"));
    sim_scenario_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smoke_reproducible),
        cmocka_unit_test(test_partition_holds_frames),
        cmocka_unit_test(test_origin_crash_loses_unpersisted),
        cmocka_unit_test(test_edge_crash_loses_unapplied),
        cmocka_unit_test(test_node_start),
        cmocka_unit_test(test_paced_writes),
        cmocka_unit_test(test_ack_coalescing_switch),
        cmocka_unit_test(test_failed_commits_and_policies),
        cmocka_unit_test(test_relay_tree),
        cmocka_unit_test(test_bad_scenarios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
