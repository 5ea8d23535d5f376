/*
 * wars.c - PBS t-visibility under the WARS model (see wars.h).
 */
#include "wars.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WARS_STREAM         0x5741525355ULL /* sim_rng_derive stream: "WARSU" */
#define WARS_TRIALS_DEFAULT 1000000ULL
#define WARS_TRIALS_MAX     100000000ULL
#define WARS_GRID_MAX       100000
#define WARS_Z95            1.959963984540054

/* ---------------------------------------------------------------- model */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort idx[0..n) by key ascending; ties keep index order (insertion sort is
 * stable and N is small). */
static void order_by(int *idx, const double *key, int n)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && key[idx[j]] > key[v]) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

int sim_wars_simulate(const sim_wars_params_t *p, sim_wars_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (!p || p->n < 1 || p->n > SIM_WARS_N_MAX || p->r < 1 || p->r > p->n || p->w < 1 ||
        p->w > p->n || !p->d_w || !p->d_a || !p->d_r || !p->d_s || p->trials == 0 ||
        p->trials > WARS_TRIALS_MAX)
        return -EINVAL;

    uint64_t m = p->trials;
    out->tstar = malloc(m * sizeof(double));
    out->read_lat = malloc(m * sizeof(double));
    out->write_lat = malloc(m * sizeof(double));
    if (!out->tstar || !out->read_lat || !out->write_lat) {
        sim_wars_result_free(out);
        return -ENOMEM;
    }
    out->trials = m;

    sim_rng_t rng;
    sim_rng_derive(&rng, p->seed, WARS_STREAM);
    const int n = p->n;
    double W[SIM_WARS_N_MAX], R[SIM_WARS_N_MAX], wl[SIM_WARS_N_MAX], rl[SIM_WARS_N_MAX];
    int widx[SIM_WARS_N_MAX], ridx[SIM_WARS_N_MAX];

    for (uint64_t k = 0; k < m; k++) {
        int wdc = -1, rdc = -1;
        if (p->d_remote) {
            wdc = (int)sim_rng_below(&rng, (uint64_t)n);
            rdc = (int)sim_rng_below(&rng, (uint64_t)n);
        }
        for (int i = 0; i < n; i++) {
            double w = sim_dist_sample(p->d_w, &rng);
            double a = sim_dist_sample(p->d_a, &rng);
            double r = sim_dist_sample(p->d_r, &rng);
            double s = sim_dist_sample(p->d_s, &rng);
            if (p->d_remote && i != wdc) {
                w += sim_dist_sample(p->d_remote, &rng);
                a += sim_dist_sample(p->d_remote, &rng);
            }
            if (p->d_remote && i != rdc) {
                r += sim_dist_sample(p->d_remote, &rng);
                s += sim_dist_sample(p->d_remote, &rng);
            }
            W[i] = w;
            R[i] = r;
            wl[i] = w + a;
            rl[i] = r + s;
        }
        order_by(widx, wl, n);
        double wt = wl[widx[p->w - 1]];
        order_by(ridx, rl, n);
        double best = INFINITY;
        for (int j = 0; j < p->r; j++) {
            int i = ridx[j];
            double need = W[i] - wt - R[i];
            if (need < best)
                best = need;
        }
        out->tstar[k] = best > 0 ? best : 0;
        out->write_lat[k] = wt;
        out->read_lat[k] = rl[ridx[p->r - 1]];
    }
    qsort(out->tstar, m, sizeof(double), cmp_double);
    qsort(out->read_lat, m, sizeof(double), cmp_double);
    qsort(out->write_lat, m, sizeof(double), cmp_double);
    return 0;
}

void sim_wars_result_free(sim_wars_result_t *res)
{
    if (!res)
        return;
    free(res->tstar);
    free(res->read_lat);
    free(res->write_lat);
    memset(res, 0, sizeof *res);
}

/* The number of trials with t* <= t (upper bound in the sorted t*). */
static uint64_t count_consistent(const sim_wars_result_t *res, double t)
{
    uint64_t lo = 0, hi = res->trials;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (res->tstar[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

double sim_wars_p_consistent(const sim_wars_result_t *res, double t)
{
    return (double)count_consistent(res, t) / (double)res->trials;
}

/* 1-based rank of the nearest-rank q-quantile, clamped to [1, n]. */
static uint64_t rank_of(double q, uint64_t n)
{
    double k = ceil(q * (double)n - 1e-9);
    if (k < 1)
        return 1;
    if (k > (double)n)
        return n;
    return (uint64_t)k;
}

double sim_wars_quantile(const double *sorted, uint64_t n, double q)
{
    return sorted[rank_of(q, n) - 1];
}

double sim_wars_t_for(const sim_wars_result_t *res, double p)
{
    return sim_wars_quantile(res->tstar, res->trials, p);
}

void sim_wars_summarize(const sim_wars_result_t *res, double target, sim_wars_summary_t *o)
{
    memset(o, 0, sizeof *o);
    uint64_t m = res->trials;
    double dm = (double)m;
    o->trials = m;
    o->p_t0 = sim_wars_p_consistent(res, 0);
    double se = sqrt(o->p_t0 * (1 - o->p_t0) / dm);
    o->p_t0_lo = fmax(0, o->p_t0 - WARS_Z95 * se);
    o->p_t0_hi = fmin(1, o->p_t0 + WARS_Z95 * se);
    o->target = target;
    o->t_target = sim_wars_t_for(res, target);
    /* Distribution-free interval of a quantile: ranks m*p -/+ z*sqrt(m*p*(1-p)). */
    double sd = sqrt(dm * target * (1 - target));
    double klo = floor(dm * target - WARS_Z95 * sd), khi = ceil(dm * target + WARS_Z95 * sd);
    o->t_target_lo = res->tstar[klo < 1 ? 0 : (uint64_t)klo - 1];
    o->t_target_hi = res->tstar[khi > dm ? m - 1 : (uint64_t)khi - 1];
    o->read_p50 = sim_wars_quantile(res->read_lat, m, 0.5);
    o->read_p999 = sim_wars_quantile(res->read_lat, m, 0.999);
    o->write_p50 = sim_wars_quantile(res->write_lat, m, 0.5);
    o->write_p999 = sim_wars_quantile(res->write_lat, m, 0.999);
}

/* Binomial(n, q): inversion for small means (exact), normal approximation
 * (rounded, clamped) for large ones, where it only has to be "far from the
 * threshold" for the sweep emulation. */
static uint64_t binomial(sim_rng_t *rng, uint64_t n, double q)
{
    double mean = (double)n * q;
    if (q <= 0)
        return 0;
    if (q >= 1)
        return n;
    if (mean > 300) {
        double u1 = 1.0 - sim_rng_unit(rng), u2 = sim_rng_unit(rng);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        double x = floor(mean + z * sqrt(mean * (1 - q)) + 0.5);
        return x < 0 ? 0 : x > (double)n ? n : (uint64_t)x;
    }
    double u = sim_rng_unit(rng);
    double f = exp((double)n * log1p(-q)), c = f, r = q / (1 - q);
    uint64_t k = 0;
    while (u >= c && k < n) {
        f *= (double)(n - k) / (double)(k + 1) * r;
        k++;
        c += f;
        if (f < 1e-300 && (double)k > mean)
            break;
    }
    return k;
}

int sim_wars_emulate_sweep(const sim_wars_result_t *res, const sim_wars_sweep_t *sw, double target,
                           uint64_t seed, double *out)
{
    if (!res || !sw || !out || !(sw->step_ms > 0) || sw->start_ms < 0 ||
        sw->max_ms < sw->start_ms || sw->per_point == 0 || sw->reps < 1 ||
        (sw->max_ms - sw->start_ms) / sw->step_ms > 1e7)
        return -EINVAL;
    sim_rng_t rng;
    sim_rng_derive(&rng, seed, WARS_STREAM + 1);
    long points = (long)floor((sw->max_ms - sw->start_ms) / sw->step_ms + 1e-9) + 1;
    /* stale counts allowed for the estimate to reach target */
    double allow = floor((1 - target) * (double)sw->per_point + 1e-9);
    for (int k = 0; k < sw->reps; k++) {
        out[k] = INFINITY;
        for (long i = 0; i < points; i++) {
            double t = sw->start_ms + (double)i * sw->step_ms;
            double q = 1.0 - sim_wars_p_consistent(res, t);
            if ((double)binomial(&rng, sw->per_point, q) <= allow) {
                out[k] = t;
                break;
            }
        }
    }
    qsort(out, (size_t)sw->reps, sizeof(double), cmp_double);
    return 0;
}

/* ------------------------------------------------------------- scenarios */

static int fail(FILE *report, int rc, const char *fmt, ...)
{
    FILE *f = report ? report : stderr;
    va_list ap;
    va_start(ap, fmt);
    fputs("wars: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    return rc;
}

static int get_int(const json_t *o, const char *k, int *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        return -EINVAL;
    *out = (int)json_integer_value(v);
    return 0;
}

static int opt_number(const json_t *o, const char *k, double *out)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return -EINVAL;
    *out = json_number_value(v);
    return 1;
}

/* A "nice" grid step (1, 2 or 5 times a power of ten) >= x. */
static double nice_step(double x)
{
    if (!(x > 0))
        return 1e-3;
    double e = pow(10, floor(log10(x)));
    double f = x / e;
    double s = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return s * e;
}

static const char *source_text(const json_t *scn)
{
    json_t *src = json_object_get(scn, "source");
    if (json_is_string(src))
        return json_string_value(src);
    if (json_is_object(src)) {
        json_t *p = json_object_get(src, "paper");
        if (json_is_string(p))
            return json_string_value(p);
    }
    return NULL;
}

static void print_row_pct(FILE *f, const char *label, const json_t *paper_v, double ours, double lo,
                          double hi, int have_ci)
{
    char pbuf[32] = "-";
    if (json_is_number(paper_v))
        snprintf(pbuf, sizeof pbuf, "%.1f%%", 100 * json_number_value(paper_v));
    if (have_ci)
        fprintf(f, "  %-34s %10s   %8.3f%% [%.3f, %.3f]\n", label, pbuf, 100 * ours, 100 * lo,
                100 * hi);
    else
        fprintf(f, "  %-34s %10s   %8.3f%%\n", label, pbuf, 100 * ours);
}

static void print_row_ms(FILE *f, const char *label, const json_t *paper_v, double ours, double lo,
                         double hi, int have_ci)
{
    char pbuf[32] = "-";
    if (json_is_number(paper_v))
        snprintf(pbuf, sizeof pbuf, "%g", json_number_value(paper_v));
    if (have_ci)
        fprintf(f, "  %-34s %10s   %9.4g [%.4g, %.4g]\n", label, pbuf, ours, lo, hi);
    else
        fprintf(f, "  %-34s %10s   %9.4g\n", label, pbuf, ours);
}

static int write_outputs(const char *out_dir, const char *name, const json_t *scn,
                         const sim_wars_params_t *p, const sim_wars_result_t *res,
                         const sim_wars_summary_t *s, double grid_max, double grid_step,
                         const json_t *tpoints, FILE *report)
{
    if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
        return fail(report, -errno, "cannot create %s: %s", out_dir, strerror(errno));
    size_t len = strlen(out_dir) + strlen(name) + 32;
    char *path = malloc(len);
    if (!path)
        return -ENOMEM;

    snprintf(path, len, "%s/%s.tvis.csv", out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        int rc = fail(report, -errno, "cannot write %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    fprintf(f, "t_ms,p_consistent,stale,trials\n");
    long steps = (long)floor(grid_max / grid_step + 1e-9);
    for (long i = 0; i <= steps; i++) {
        double t = (double)i * grid_step;
        uint64_t ok = count_consistent(res, t);
        fprintf(f, "%.6g,%.7f,%llu,%llu\n", t, (double)ok / (double)res->trials,
                (unsigned long long)(res->trials - ok), (unsigned long long)res->trials);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(path);
        return fail(report, -EIO, "write error on %s.tvis.csv", name);
    }

    json_t *sum =
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:b}", "name", name, "mode", "wars", "n",
                  p->n, "r", p->r, "w", p->w, "trials", (json_int_t)s->trials, "seed",
                  (json_int_t)p->seed, "wan", p->d_remote != NULL);
    json_t *t0 =
        json_pack("{s:f, s:[f,f]}", "p_consistent", s->p_t0, "ci95", s->p_t0_lo, s->p_t0_hi);
    json_t *tt = json_pack("{s:f, s:f, s:[f,f]}", "p", s->target, "t_ms", s->t_target, "ci95",
                           s->t_target_lo, s->t_target_hi);
    json_t *lat =
        json_pack("{s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}}", "read", "p50", s->read_p50, "p99",
                  sim_wars_quantile(res->read_lat, res->trials, .99), "p99_9", s->read_p999,
                  "write", "p50", s->write_p50, "p99",
                  sim_wars_quantile(res->write_lat, res->trials, .99), "p99_9", s->write_p999);
    json_t *pts = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(tpoints, i, v)
    {
        double t = json_number_value(v);
        json_array_append_new(
            pts, json_pack("{s:f, s:f}", "t_ms", t, "p_consistent", sim_wars_p_consistent(res, t)));
    }
    if (!sum || !t0 || !tt || !lat || !pts) {
        json_decref(sum);
        json_decref(t0);
        json_decref(tt);
        json_decref(lat);
        json_decref(pts);
        free(path);
        return -ENOMEM;
    }
    json_object_set_new(sum, "t0", t0);
    json_object_set_new(sum, "t_at_target", tt);
    json_object_set_new(sum, "points", pts);
    json_object_set_new(sum, "latency_ms", lat);
    if (s->sweep_reps > 0) {
        json_t *em =
            json_pack("{s:i, s:f, s:[f,f], s:[f,f]}", "reps", s->sweep_reps, "median", s->sweep_p50,
                      "ci95", s->sweep_p025, s->sweep_p975, "ci99", s->sweep_p005, s->sweep_p995);
        if (em)
            json_object_set_new(tt, "paper_estimator", em);
    }
    json_t *paper = json_object_get(scn, "paper");
    if (paper)
        json_object_set(sum, "paper", paper);
    json_t *src = json_object_get(scn, "source");
    if (src)
        json_object_set(sum, "source", src);
    snprintf(path, len, "%s/%s.summary.json", out_dir, name);
    int rc = json_dump_file(sum, path, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    json_decref(sum);
    if (rc != 0) {
        rc = fail(report, -EIO, "cannot write %s", path);
        free(path);
        return rc;
    }
    free(path);
    return 0;
}

int sim_wars_run_json(const json_t *scn, const char *name, uint64_t seed, const char *out_dir,
                      FILE *report, sim_wars_summary_t *summary_out, sim_wars_result_t *result_out)
{
    if (result_out)
        memset(result_out, 0, sizeof *result_out);
    char err[256] = "";
    int rc = 0;
    sim_dist_t *dw = NULL, *da = NULL, *dr = NULL, *ds = NULL, *dremote = NULL;
    sim_wars_result_t res = {0};

    if (!json_is_object(scn))
        return fail(report, -EINVAL, "scenario is not a JSON object");
    json_t *jname = json_object_get(scn, "name");
    if (json_is_string(jname))
        name = json_string_value(jname);
    if (!name || !*name)
        name = "wars";
    json_t *mode = json_object_get(scn, "mode");
    if (mode && (!json_is_string(mode) || strcmp(json_string_value(mode), "wars") != 0))
        return fail(report, -EINVAL, "%s: \"mode\" must be \"wars\"", name);

    sim_wars_params_t p = {.seed = seed, .trials = WARS_TRIALS_DEFAULT};
    if (get_int(scn, "n", &p.n) < 0 || get_int(scn, "r", &p.r) < 0 || get_int(scn, "w", &p.w) < 0)
        return fail(report, -EINVAL, "%s: integer \"n\", \"r\" and \"w\" are required", name);
    if (p.n < 1 || p.n > SIM_WARS_N_MAX || p.r < 1 || p.r > p.n || p.w < 1 || p.w > p.n)
        return fail(report, -EINVAL, "%s: need 1 <= r, w <= n <= %d", name, SIM_WARS_N_MAX);
    json_t *jt = json_object_get(scn, "trials");
    if (jt) {
        if (!json_is_integer(jt) || json_integer_value(jt) < 1 ||
            (uint64_t)json_integer_value(jt) > WARS_TRIALS_MAX)
            return fail(report, -EINVAL, "%s: \"trials\" must be an integer in [1, %llu]", name,
                        (unsigned long long)WARS_TRIALS_MAX);
        p.trials = (uint64_t)json_integer_value(jt);
    }
    double target = 0.999;
    if (opt_number(scn, "target", &target) < 0 || !(target > 0 && target <= 1))
        return fail(report, -EINVAL, "%s: \"target\" must be a probability in (0,1]", name);

    json_t *delays = json_object_get(scn, "delays");
    if (!json_is_object(delays))
        return fail(report, -EINVAL, "%s: \"delays\" {W, A, R, S} is required", name);
    const char *keys[4] = {"W", "A", "R", "S"};
    sim_dist_t **dst[4] = {&dw, &da, &dr, &ds};
    for (int i = 0; i < 4; i++) {
        json_t *spec = json_object_get(delays, keys[i]);
        if (!spec) {
            rc = fail(report, -EINVAL, "%s: delays.%s is missing", name, keys[i]);
            goto out;
        }
        rc = sim_dist_parse(spec, dst[i], err, sizeof err);
        if (rc < 0) {
            rc = fail(report, rc, "%s: delays.%s: %s", name, keys[i], err);
            goto out;
        }
    }
    json_t *wan = json_object_get(scn, "wan");
    if (wan) {
        json_t *spec = json_object_get(wan, "remote_delay");
        if (!json_is_object(wan) || !spec) {
            rc = fail(report, -EINVAL, "%s: \"wan\" needs \"remote_delay\"", name);
            goto out;
        }
        rc = sim_dist_parse(spec, &dremote, err, sizeof err);
        if (rc < 0) {
            rc = fail(report, rc, "%s: wan.remote_delay: %s", name, err);
            goto out;
        }
    }
    p.d_w = dw;
    p.d_a = da;
    p.d_r = dr;
    p.d_s = ds;
    p.d_remote = dremote;

    json_t *tpoints = json_object_get(scn, "t_points");
    if (tpoints) {
        size_t i;
        json_t *v;
        int ok = json_is_array(tpoints);
        json_array_foreach(tpoints, i, v) ok = ok && json_is_number(v) && json_number_value(v) >= 0;
        if (!ok) {
            rc = fail(report, -EINVAL, "%s: \"t_points\" must be an array of numbers >= 0", name);
            goto out;
        }
    }

    rc = sim_wars_simulate(&p, &res);
    if (rc < 0) {
        rc = fail(report, rc, "%s: simulation failed (%s)", name, strerror(-rc));
        goto out;
    }
    sim_wars_summary_t s;
    sim_wars_summarize(&res, target, &s);
    json_t *est = json_object_get(json_object_get(scn, "paper"), "estimator");
    if (est) {
        sim_wars_sweep_t sw = {.reps = 1000};
        double per = 0, reps = sw.reps;
        if (!json_is_object(est) || opt_number(est, "start_ms", &sw.start_ms) < 0 ||
            opt_number(est, "step_ms", &sw.step_ms) <= 0 ||
            opt_number(est, "max_ms", &sw.max_ms) <= 0 ||
            opt_number(est, "trials_per_point", &per) <= 0 || opt_number(est, "reps", &reps) < 0 ||
            !(per >= 1 && per <= 1e9) || !(reps >= 1 && reps <= 1e6)) {
            rc = fail(report, -EINVAL,
                      "%s: paper.estimator needs step_ms, max_ms, trials_per_point "
                      "(optional start_ms, reps)",
                      name);
            goto out;
        }
        sw.per_point = (uint64_t)per;
        sw.reps = (int)reps;
        double *emu = malloc((size_t)sw.reps * sizeof(double));
        if (!emu) {
            rc = -ENOMEM;
            goto out;
        }
        rc = sim_wars_emulate_sweep(&res, &sw, target, seed, emu);
        if (rc < 0) {
            free(emu);
            rc = fail(report, rc, "%s: bad paper.estimator grid", name);
            goto out;
        }
        s.sweep_reps = sw.reps;
        s.sweep_p005 = sim_wars_quantile(emu, (uint64_t)sw.reps, 0.005);
        s.sweep_p025 = sim_wars_quantile(emu, (uint64_t)sw.reps, 0.025);
        s.sweep_p50 = sim_wars_quantile(emu, (uint64_t)sw.reps, 0.5);
        s.sweep_p975 = sim_wars_quantile(emu, (uint64_t)sw.reps, 0.975);
        s.sweep_p995 = sim_wars_quantile(emu, (uint64_t)sw.reps, 0.995);
        free(emu);
    }
    if (summary_out)
        *summary_out = s;

    double gmax = 0, gstep = 0;
    json_t *grid = json_object_get(scn, "t_grid");
    if (grid && (!json_is_object(grid) || opt_number(grid, "max_ms", &gmax) < 0 ||
                 opt_number(grid, "step_ms", &gstep) < 0 || gmax < 0 || gstep < 0)) {
        rc = fail(report, -EINVAL, "%s: \"t_grid\" is {\"max_ms\": x, \"step_ms\": y}", name);
        goto out;
    }
    if (!(gmax > 0)) {
        gmax = 1.25 * s.t_target;
        if (!(gmax > 0))
            gmax = 1.25 * res.tstar[res.trials - 1];
        if (!(gmax > 0))
            gmax = 1;
    }
    if (!(gstep > 0))
        gstep = nice_step(gmax / 100);
    if (gmax / gstep > WARS_GRID_MAX)
        gstep = gmax / WARS_GRID_MAX;

    json_t *empty = NULL;
    if (!tpoints)
        tpoints = empty = json_array();
    if (out_dir && *out_dir) {
        rc = write_outputs(out_dir, name, scn, &p, &res, &s, gmax, gstep, tpoints, report);
        if (rc < 0) {
            json_decref(empty);
            goto out;
        }
    }

    if (report) {
        json_t *paper = json_object_get(scn, "paper");
        const char *src = source_text(scn);
        fprintf(report, "wars %s: N=%d R=%d W=%d%s, %llu trials, seed %llu\n", name, p.n, p.r, p.w,
                p.d_remote ? " (WAN)" : "", (unsigned long long)s.trials, (unsigned long long)seed);
        if (src)
            fprintf(report, "  source: %s\n", src);
        fprintf(report, "  %-34s %10s   %s\n", "", "paper", "ours [95% Monte Carlo interval]");
        print_row_pct(report, "P(consistent) at t=0", json_object_get(paper, "p_consistent_t0"),
                      s.p_t0, s.p_t0_lo, s.p_t0_hi, 1);
        char label[64];
        snprintf(label, sizeof label, "t (ms) for P >= %g%%", 100 * target);
        print_row_ms(report, label, json_object_get(paper, "t_at_target_ms"), s.t_target,
                     s.t_target_lo, s.t_target_hi, 1);
        if (s.sweep_reps > 0) {
            snprintf(label, sizeof label, "  same, paper's estimator (x%d)", s.sweep_reps);
            fprintf(report, "  %-34s %10s   %9.4g [%.4g, %.4g] (median [2.5%%, 97.5%%])\n", label,
                    "", s.sweep_p50, s.sweep_p025, s.sweep_p975);
        }
        size_t i;
        json_t *v;
        json_t *ppts = json_object_get(paper, "points");
        json_array_foreach(tpoints, i, v)
        {
            double t = json_number_value(v);
            const json_t *pv = NULL;
            size_t j;
            json_t *pp;
            json_array_foreach(ppts, j, pp)
            {
                json_t *pt = json_object_get(pp, "t_ms");
                if (json_is_number(pt) && json_number_value(pt) == t)
                    pv = json_object_get(pp, "p_consistent");
            }
            snprintf(label, sizeof label, "P(consistent) at t=%g ms", t);
            print_row_pct(report, label, pv, sim_wars_p_consistent(&res, t), 0, 0, 0);
        }
        print_row_ms(report, "read latency p99.9 (ms)",
                     json_object_get(paper, "read_latency_p99_9_ms"), s.read_p999, 0, 0, 0);
        print_row_ms(report, "write latency p99.9 (ms)",
                     json_object_get(paper, "write_latency_p99_9_ms"), s.write_p999, 0, 0, 0);
        fprintf(report, "  %-34s %10s   %9.4g / %.4g\n", "read / write latency p50 (ms)", "-",
                s.read_p50, s.write_p50);
    }
    json_decref(empty);
    rc = 0;
    if (result_out) {
        *result_out = res;
        memset(&res, 0, sizeof res);
    }

out:
    sim_wars_result_free(&res);
    sim_dist_free(dw);
    sim_dist_free(da);
    sim_dist_free(dr);
    sim_dist_free(ds);
    sim_dist_free(dremote);
    return rc;
}

int sim_wars_run_file(const char *scenario_path, uint64_t seed, const char *out_dir, FILE *report)
{
    json_error_t jerr;
    json_t *scn = json_load_file(scenario_path, 0, &jerr);
    if (!scn)
        return fail(report, -EINVAL, "%s:%d: %s", scenario_path, jerr.line, jerr.text);
    /* default name: base name without ".json" */
    const char *base = strrchr(scenario_path, '/');
    base = base ? base + 1 : scenario_path;
    char name[128];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".json"))
        *dot = '\0';
    int rc = sim_wars_run_json(scn, name, seed, out_dir, report, NULL, NULL);
    json_decref(scn);
    return rc;
}
