/*
 * report.c - the summary on stdout and the results directory: CSV files,
 * summary.json (jansson), and gnuplot scripts run when gnuplot is found.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "sim_int.h"

static const char *region_name(const sim_t *s, size_t r)
{
    return sim_places[s->sc->regions[r].place].name;
}

void sim_print_summary(const sim_t *s, FILE *f)
{
    const sim_scenario_t *sc = s->sc;
    sim_figures_t x;
    sim_figures(s, &x);
    fprintf(f, "edgekv-sim: scenario %s, policy %s, seed %" PRIu64 ", %zu edges in %zu regions\n",
            sc->name, sim_policy_name(sc->policy), s->seed, s->nedges, sc->nregions);
    fprintf(f, "  virtual time     %.1f s (workload %.1f s + quiet %.1f s)\n", x.virtual_s,
            sc->duration_s, sc->quiet_s);
    fprintf(f,
            "  events           %" PRIu64 " in %.2f s wall = %.0f events/s (%.2f s CPU = %.0f "
            "events/CPU-s)\n",
            x.events, x.wall_s, x.events_per_s, x.cpu_s, x.events_per_cpu_s);
    fprintf(f, "  trace hash       %016" PRIx64 "\n", x.trace_hash);
    fprintf(f,
            "  writes           issued %" PRIu64 ", acked %" PRIu64 ", failed %" PRIu64
            ", dropped by the 1/s/key limit %" PRIu64 ", delayed %" PRIu64 "; commits %" PRIu64
            "\n",
            x.writes_issued, x.writes_acked, x.writes_failed, x.writes_dropped, s->writes_delayed,
            x.commits);
    fprintf(f,
            "  reads            %" PRIu64 " served, %" PRIu64 " failed, %" PRIu64
            " refused (snapshot), %" PRIu64 " served while flagged stale\n",
            s->reads, s->reads_failed, s->reads_refused, s->reads_stale_flag);
    fprintf(f,
            "  propagation      p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms  (%" PRIu64
            " write x edge samples)\n",
            x.prop_p50_ms, x.prop_p99_ms, x.prop_p999_ms, x.prop_max_ms, x.prop_samples);
    fprintf(f, "  read latency     p50 %.2f  p99 %.2f ms\n", x.read_p50_ms, x.read_p99_ms);
    fprintf(f, "  t-visibility     ");
    for (size_t i = 0; i < sc->ntvis; i++)
        fprintf(f, "%s%g ms: %.4f", i ? ", " : "", sc->tvis_ms[i], sim_tvis(s, i));
    fprintf(f, "\n  k-staleness      ");
    for (int k = 0; k <= 2; k++)
        fprintf(f, "k=%d: %.4f  ", k, s->reads ? (double)s->kstale[k] / (double)s->reads : 0);
    uint64_t more = 0;
    for (int k = 3; k <= SIM_KSTALE_MAX; k++)
        more += s->kstale[k];
    fprintf(f, "k>=3: %.4f\n", s->reads ? (double)more / (double)s->reads : 0);
    fprintf(f,
            "  faults           reconnects %" PRIu64 ", failed connects %" PRIu64
            ", connection resets %" PRIu64 ", snapshots %" PRIu64 ", alarms %" PRIu64 "\n",
            x.reconnects, s->connects_failed, s->resets, x.snapshots_started, x.alarms);
    fprintf(f, "  origin uplink    %.1f MiB sent downstream, %.1f KiB per commit\n",
            (double)x.origin_tx_bytes / 1048576.0,
            x.commits ? (double)x.origin_tx_bytes / 1024.0 / (double)x.commits : 0.0);
    fprintf(f, "  checks          ");
    for (int i = 0; i < SIM_CK_COUNT; i++) {
        const sim_check_result_t *r = sim_check_result(s->ck, (sim_check_id_t)i);
        fprintf(f, " %s %s (%" PRIu64 ")", sim_check_name((sim_check_id_t)i),
                sim_verdict_name(r->verdict), r->checked);
    }
    if (s->hc) /* --history: the clients' history (history.c) */
        fprintf(f, " history %s (%" PRIu64 ")", s->hist_failing ? "FAIL" : "PASS",
                hc_stats(s->hc)->ops);
    fprintf(f, "\n");
    for (int i = 0; i < SIM_CK_COUNT; i++) {
        const sim_check_result_t *r = sim_check_result(s->ck, (sim_check_id_t)i);
        if (r->verdict == SIM_CHECK_FAIL)
            fprintf(f, "  FAILED %s: %" PRIu64 " violations; first: %s\n",
                    sim_check_name((sim_check_id_t)i), r->violations, r->first);
    }
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return fopen(path, "w");
}

static void write_tvis(const sim_t *s, const char *dir)
{
    FILE *f = open_out(dir, "tvis.csv");
    if (!f)
        return;
    fprintf(f, "delta_ms,p_visible_probe,probes,p_visible_exact\n");
    for (size_t i = 0; i < s->sc->ntvis; i++)
        fprintf(f, "%g,%.6f,%" PRIu64 ",%.6f\n", s->sc->tvis_ms[i], sim_tvis(s, i), s->tvis_n[i],
                sim_hist_cdf(&s->prop_all, s->sc->tvis_ms[i]));
    fclose(f);
}

static void write_prop(const sim_t *s, const char *dir)
{
    const sim_scenario_t *sc = s->sc;
    FILE *f = open_out(dir, "propagation_region.csv");
    if (f) {
        fprintf(f, "region,edges,samples,p50_ms,p99_ms,p999_ms,max_ms,mean_ms\n");
        for (size_t r = 0; r < sc->nregions; r++) {
            const sim_hist_t *h = &s->prop_region[r];
            fprintf(f, "%s,%zu,%" PRIu64 ",%.3f,%.3f,%.3f,%.3f,%.3f\n", region_name(s, r),
                    s->region_n[r], h->n, sim_hist_quantile_ms(h, .5), sim_hist_quantile_ms(h, .99),
                    sim_hist_quantile_ms(h, .999), sim_hist_max_ms(h), sim_hist_mean_ms(h));
        }
        fclose(f);
    }
    f = open_out(dir, "propagation_edge.csv");
    if (f) {
        fprintf(f, "edge,region,relay,samples,p50_ms,p99_ms,p999_ms,max_ms\n");
        for (size_t i = 1; i < s->nnodes; i++) {
            const sim_node_t *n = &s->nodes[i];
            fprintf(f, "%zu,%s,%d,%" PRIu64 ",%.3f,%.3f,%.3f,%.3f\n", i - 1,
                    region_name(s, (size_t)n->region), n->is_relay, n->prop.n,
                    sim_hist_quantile_ms(&n->prop, .5), sim_hist_quantile_ms(&n->prop, .99),
                    sim_hist_quantile_ms(&n->prop, .999), sim_hist_max_ms(&n->prop));
        }
        fclose(f);
    }
    /* CDF per region on a log grid, wide: ms, one column per region. */
    f = open_out(dir, "propagation_cdf.csv");
    if (f) {
        fprintf(f, "ms");
        for (size_t r = 0; r < sc->nregions; r++)
            fprintf(f, ",%s", region_name(s, r));
        fprintf(f, ",all\n");
        double top = sim_hist_max_ms(&s->prop_all);
        for (double ms = 0.1; ms < top * 1.2 + 1; ms *= 1.05) {
            fprintf(f, "%.4f", ms);
            for (size_t r = 0; r < sc->nregions; r++)
                fprintf(f, ",%.6f", sim_hist_cdf(&s->prop_region[r], ms));
            fprintf(f, ",%.6f\n", sim_hist_cdf(&s->prop_all, ms));
        }
        fclose(f);
    }
}

static void write_lag(const sim_t *s, const char *dir)
{
    const sim_scenario_t *sc = s->sc;
    const char *names[2] = {"lag_mean.csv", "lag_max.csv"};
    for (int k = 0; k < 2; k++) {
        FILE *f = open_out(dir, names[k]);
        if (!f)
            continue;
        const double *v = k ? s->lag_max : s->lag_mean;
        fprintf(f, "t_s");
        for (size_t r = 0; r < sc->nregions; r++)
            fprintf(f, ",%s", region_name(s, r));
        fprintf(f, "\n");
        for (size_t i = 0; i < s->nlag; i++) {
            fprintf(f, "%.3f", (double)i * sc->lag_sample_ms / 1000.0);
            for (size_t r = 0; r < sc->nregions; r++)
                fprintf(f, ",%.3f", v[i * sc->nregions + r]);
            fprintf(f, "\n");
        }
        fclose(f);
    }
}

static void write_reads(const sim_t *s, const char *dir)
{
    FILE *f = open_out(dir, "read_latency.csv");
    if (f) {
        fprintf(f, "region,reads,p50_ms,p99_ms,p999_ms,max_ms\n");
        for (size_t r = 0; r < s->sc->nregions; r++) {
            const sim_hist_t *h = &s->read_lat_region[r];
            fprintf(f, "%s,%" PRIu64 ",%.3f,%.3f,%.3f,%.3f\n", region_name(s, r), h->n,
                    sim_hist_quantile_ms(h, .5), sim_hist_quantile_ms(h, .99),
                    sim_hist_quantile_ms(h, .999), sim_hist_max_ms(h));
        }
        fclose(f);
    }
    f = open_out(dir, "kstale.csv");
    if (f) {
        fprintf(f, "k,reads,fraction\n");
        for (int k = 0; k <= SIM_KSTALE_MAX; k++)
            fprintf(f, "%s%d,%" PRIu64 ",%.6f\n", k == SIM_KSTALE_MAX ? ">=" : "", k, s->kstale[k],
                    s->reads ? (double)s->kstale[k] / (double)s->reads : 0);
        fclose(f);
    }
}

static json_t *summary_json(const sim_t *s)
{
    const sim_scenario_t *sc = s->sc;
    sim_figures_t x;
    sim_figures(s, &x);
    char hash[24];
    snprintf(hash, sizeof hash, "%016" PRIx64, x.trace_hash);
    json_t *checks = json_object();
    for (int i = 0; i < SIM_CK_COUNT; i++) {
        const sim_check_result_t *r = sim_check_result(s->ck, (sim_check_id_t)i);
        json_object_set_new(checks, sim_check_name((sim_check_id_t)i),
                            json_pack("{s:s,s:I,s:I,s:s}", "verdict", sim_verdict_name(r->verdict),
                                      "checked", (json_int_t)r->checked, "violations",
                                      (json_int_t)r->violations, "first", r->first));
    }
    json_t *tv = json_array();
    for (size_t i = 0; i < sc->ntvis; i++)
        json_array_append_new(tv, json_pack("{s:f,s:f,s:f}", "delta_ms", sc->tvis_ms[i], "p_probe",
                                            sim_tvis(s, i), "p_exact",
                                            sim_hist_cdf(&s->prop_all, sc->tvis_ms[i])));
    json_t *regs = json_array();
    for (size_t r = 0; r < sc->nregions; r++) {
        const sim_hist_t *h = &s->prop_region[r];
        json_array_append_new(
            regs, json_pack("{s:s,s:I,s:f,s:f,s:f,s:f}", "region", region_name(s, r), "edges",
                            (json_int_t)s->region_n[r], "prop_p50_ms", sim_hist_quantile_ms(h, .5),
                            "prop_p99_ms", sim_hist_quantile_ms(h, .99), "prop_p999_ms",
                            sim_hist_quantile_ms(h, .999), "prop_max_ms", sim_hist_max_ms(h)));
    }
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:f,s:I,s:f,s:f,s:f,s:f,s:s,"
        "s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:f,s:f,s:f},"
        "s:{s:f,s:f,s:f,s:f,s:I},s:o,s:o,s:{s:I,s:I,s:I,s:I},s:I,s:o,s:b}",
        "scenario", sc->name, "policy", sim_policy_name(sc->policy), "seed", (json_int_t)s->seed,
        "edges", (json_int_t)s->nedges, "virtual_s", x.virtual_s, "events", (json_int_t)x.events,
        "wall_s", x.wall_s, "events_per_s", x.events_per_s, "cpu_s", x.cpu_s, "events_per_cpu_s",
        x.events_per_cpu_s, "trace_hash", hash, "writes", "issued", (json_int_t)x.writes_issued,
        "acked", (json_int_t)x.writes_acked, "failed", (json_int_t)x.writes_failed, "dropped",
        (json_int_t)x.writes_dropped, "commits", (json_int_t)x.commits, "reads", "served",
        (json_int_t)s->reads, "failed", (json_int_t)x.reads_failed, "stale_flagged",
        (json_int_t)s->reads_stale_flag, "p50_ms", x.read_p50_ms, "p99_ms", x.read_p99_ms,
        "kstale0", x.kstale0, "propagation", "p50_ms", x.prop_p50_ms, "p99_ms", x.prop_p99_ms,
        "p999_ms", x.prop_p999_ms, "max_ms", x.prop_max_ms, "samples", (json_int_t)x.prop_samples,
        "regions", regs, "tvis", tv, "faults", "reconnects", (json_int_t)x.reconnects, "resets",
        (json_int_t)s->resets, "snapshots", (json_int_t)x.snapshots_started, "alarms",
        (json_int_t)x.alarms, "origin_tx_bytes", (json_int_t)x.origin_tx_bytes, "checks", checks,
        "ok", sim_check_ok(s->ck));
}

/* Plots: t-visibility, propagation CDF per region (the 8 most and least
 * distant regions would crowd it: all regions, thin lines), lag over time. */
static void write_plots(const sim_t *s, const char *dir)
{
    FILE *f = open_out(dir, "plots.gp");
    if (!f)
        return;
    size_t nr = s->sc->nregions;
    const char *title = s->sc->name;
    fprintf(f, "# generated by edgekv-sim; run: gnuplot plots.gp (in this directory)\n"
               "set datafile separator ','\nset key outside right font ',8'\nset grid\n");
    for (int png = 0; png < 2; png++) {
        const char *term =
            png ? "pngcairo size 1100,650 noenhanced" : "svg size 1100,650 dynamic noenhanced";
        const char *ext = png ? "png" : "svg";
        fprintf(f,
                "set terminal %s\nset output 'tvis.%s'\nset title '%s: t-visibility'\n"
                "set xlabel 'ms after commit'\nset ylabel 'P(read at a random edge is fresh)'\n"
                "set logscale x\nset yrange [0:1.02]\n"
                "plot 'tvis.csv' every ::1 using ($1>0?$1:0.1):2 with linespoints title 'probes', "
                "'' every ::1 using ($1>0?$1:0.1):4 with lines title 'all deliveries'\n",
                term, ext, title);
        fprintf(f,
                "set output 'propagation_cdf.%s'\nset title '%s: propagation delay CDF per "
                "region'\nset xlabel 'ms'\nset ylabel 'CDF'\nplot for [i=2:%zu] "
                "'propagation_cdf.csv' using 1:i with lines lw 1 title columnheader(i)\n",
                ext, title, nr + 2);
        fprintf(f,
                "unset logscale x\nset yrange [*:*]\nset output 'lag.%s'\nset title '%s: mean "
                "replication lag per region'\nset xlabel 'virtual s'\nset ylabel 'ms'\n"
                "plot for [i=2:%zu] 'lag_mean.csv' using 1:i with lines title columnheader(i)\n",
                ext, title, nr + 1);
    }
    fclose(f);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "command -v gnuplot >/dev/null 2>&1 && cd '%s' && gnuplot plots.gp",
             dir);
    if (system(cmd) != 0 && !s->opt.quiet)
        fprintf(stderr, "edgekv-sim: gnuplot not run (not installed?): plots.gp left in %s\n", dir);
}

int sim_write_outputs(const sim_t *s, const char *dir, bool plots)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    write_tvis(s, dir);
    write_prop(s, dir);
    write_lag(s, dir);
    write_reads(s, dir);
    json_t *j = summary_json(s);
    char path[4096];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    int rc = j ? json_dump_file(j, path, JSON_INDENT(2)) : -1;
    json_decref(j);
    if (rc != 0)
        return -EIO;
    if (plots)
        write_plots(s, dir);
    return 0;
}
