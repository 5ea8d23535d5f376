/*
 * dist.c - sampling, means and CDFs of the scenario distributions.
 *
 * Inverse-transform sampling everywhere except the normal (Box-Muller with
 * rejection of negative draws, which is exactly the normal truncated at 0).
 */
#include "dist.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum dist_type { D_CONST, D_UNIFORM, D_NORMAL, D_LOGNORMAL, D_EXP, D_PARETO, D_MIX };

struct sim_dist {
    enum dist_type type;
    double a, b;   /* value | min,max | mean,stddev | mu,sigma | lambda | xm,alpha */
    double offset; /* added to every sample */
    size_t n;      /* mixture components */
    double *cum;   /* cumulative normalised weights, cum[n-1] == 1 */
    double *w;     /* normalised weights */
    sim_dist_t **comp;
};

#define MIX_DEPTH_MAX 8 /* mixtures of mixtures: enough nesting for any fit */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int get_num(const json_t *spec, const char *name, double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(spec, name);
    if (!v || !json_is_number(v)) {
        set_err(err, errlen, "distribution: missing numeric \"%s\"", name);
        return -EINVAL;
    }
    *out = json_number_value(v);
    if (!isfinite(*out)) {
        set_err(err, errlen, "distribution: \"%s\" is not finite", name);
        return -EINVAL;
    }
    return 0;
}

static int parse_rec(const json_t *spec, sim_dist_t **out, char *err, size_t errlen, int depth);

static int parse_mix(const json_t *spec, sim_dist_t *d, char *err, size_t errlen, int depth)
{
    json_t *comps = json_object_get(spec, "components");
    if (!json_is_array(comps) || json_array_size(comps) == 0) {
        set_err(err, errlen, "mixture: \"components\" must be a non-empty array");
        return -EINVAL;
    }
    d->n = json_array_size(comps);
    d->cum = calloc(d->n, sizeof *d->cum);
    d->w = calloc(d->n, sizeof *d->w);
    d->comp = calloc(d->n, sizeof *d->comp);
    if (!d->cum || !d->w || !d->comp)
        return -ENOMEM;
    double total = 0;
    for (size_t i = 0; i < d->n; i++) {
        json_t *c = json_array_get(comps, i);
        double w;
        if (get_num(c, "weight", &w, err, errlen) < 0)
            return -EINVAL;
        if (w < 0) {
            set_err(err, errlen, "mixture: negative weight");
            return -EINVAL;
        }
        int rc = parse_rec(json_object_get(c, "dist"), &d->comp[i], err, errlen, depth + 1);
        if (rc < 0)
            return rc;
        d->w[i] = w;
        total += w;
    }
    if (!(total > 0)) {
        set_err(err, errlen, "mixture: weights sum to zero");
        return -EINVAL;
    }
    double acc = 0;
    for (size_t i = 0; i < d->n; i++) {
        d->w[i] /= total;
        acc += d->w[i];
        d->cum[i] = acc;
    }
    d->cum[d->n - 1] = 1.0;
    return 0;
}

static int parse_params(const json_t *spec, const char *type, sim_dist_t *d, char *err,
                        size_t errlen, int depth)
{
    if (!strcmp(type, "constant")) {
        d->type = D_CONST;
        if (get_num(spec, "value", &d->a, err, errlen) < 0)
            return -EINVAL;
        if (d->a < 0) {
            set_err(err, errlen, "constant: value must be >= 0");
            return -EINVAL;
        }
    } else if (!strcmp(type, "uniform")) {
        d->type = D_UNIFORM;
        if (get_num(spec, "min", &d->a, err, errlen) < 0 ||
            get_num(spec, "max", &d->b, err, errlen) < 0)
            return -EINVAL;
        if (d->a < 0 || d->b < d->a) {
            set_err(err, errlen, "uniform: need 0 <= min <= max");
            return -EINVAL;
        }
    } else if (!strcmp(type, "normal")) {
        d->type = D_NORMAL;
        if (get_num(spec, "mean", &d->a, err, errlen) < 0 ||
            get_num(spec, "stddev", &d->b, err, errlen) < 0)
            return -EINVAL;
        if (d->b < 0 || (d->b == 0 && d->a < 0) || (d->b > 0 && d->a / d->b < -8)) {
            set_err(err, errlen, "normal: need stddev >= 0 and mean > -8 stddev");
            return -EINVAL;
        }
    } else if (!strcmp(type, "lognormal")) {
        d->type = D_LOGNORMAL;
        if (get_num(spec, "mu", &d->a, err, errlen) < 0 ||
            get_num(spec, "sigma", &d->b, err, errlen) < 0)
            return -EINVAL;
        if (d->b < 0) {
            set_err(err, errlen, "lognormal: sigma must be >= 0");
            return -EINVAL;
        }
    } else if (!strcmp(type, "exponential")) {
        d->type = D_EXP;
        if (get_num(spec, "lambda", &d->a, err, errlen) < 0)
            return -EINVAL;
        if (!(d->a > 0)) {
            set_err(err, errlen, "exponential: lambda must be > 0");
            return -EINVAL;
        }
    } else if (!strcmp(type, "pareto")) {
        d->type = D_PARETO;
        if (get_num(spec, "xm", &d->a, err, errlen) < 0 ||
            get_num(spec, "alpha", &d->b, err, errlen) < 0)
            return -EINVAL;
        if (!(d->a > 0) || !(d->b > 0)) {
            set_err(err, errlen, "pareto: xm and alpha must be > 0");
            return -EINVAL;
        }
    } else if (!strcmp(type, "mixture")) {
        d->type = D_MIX;
        return parse_mix(spec, d, err, errlen, depth);
    } else {
        set_err(err, errlen, "distribution: unknown type \"%s\"", type);
        return -EINVAL;
    }
    return 0;
}

static int parse_rec(const json_t *spec, sim_dist_t **out, char *err, size_t errlen, int depth)
{
    *out = NULL;
    if (depth > MIX_DEPTH_MAX) {
        set_err(err, errlen, "distribution: nested too deeply");
        return -EINVAL;
    }
    if (json_is_number(spec)) {
        double v = json_number_value(spec);
        if (!(v >= 0) || !isfinite(v)) {
            set_err(err, errlen, "distribution: constant must be finite and >= 0");
            return -EINVAL;
        }
        *out = sim_dist_constant(v);
        return *out ? 0 : -ENOMEM;
    }
    if (!json_is_object(spec)) {
        set_err(err, errlen, "distribution: spec must be an object or a number");
        return -EINVAL;
    }
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!type) {
        set_err(err, errlen, "distribution: missing \"type\"");
        return -EINVAL;
    }
    sim_dist_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    int rc = parse_params(spec, type, d, err, errlen, depth);
    json_t *off = json_object_get(spec, "offset");
    if (rc == 0 && off) {
        if (!json_is_number(off) || !(json_number_value(off) >= 0)) {
            set_err(err, errlen, "distribution: offset must be a number >= 0");
            rc = -EINVAL;
        } else {
            d->offset = json_number_value(off);
        }
    }
    if (rc < 0) {
        sim_dist_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int sim_dist_parse(const json_t *spec, sim_dist_t **out, char *err, size_t errlen)
{
    return parse_rec(spec, out, err, errlen, 0);
}

sim_dist_t *sim_dist_constant(double value)
{
    sim_dist_t *d = calloc(1, sizeof *d);
    if (d) {
        d->type = D_CONST;
        d->a = value < 0 ? 0 : value;
    }
    return d;
}

static double std_normal(sim_rng_t *r)
{
    /* Box-Muller; 1-u keeps the log argument in (0,1]. */
    double u1 = 1.0 - sim_rng_unit(r), u2 = sim_rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sim_dist_sample(const sim_dist_t *d, sim_rng_t *r)
{
    double x = 0;
    switch (d->type) {
    case D_CONST:
        x = d->a;
        break;
    case D_UNIFORM:
        x = d->a + (d->b - d->a) * sim_rng_unit(r);
        break;
    case D_NORMAL:
        if (d->b == 0) {
            x = d->a;
            break;
        }
        do
            x = d->a + d->b * std_normal(r);
        while (x < 0);
        break;
    case D_LOGNORMAL:
        x = exp(d->a + d->b * std_normal(r));
        break;
    case D_EXP:
        x = -log(1.0 - sim_rng_unit(r)) / d->a;
        break;
    case D_PARETO:
        x = d->a / pow(1.0 - sim_rng_unit(r), 1.0 / d->b);
        break;
    case D_MIX: {
        double u = sim_rng_unit(r);
        size_t i = 0;
        while (i + 1 < d->n && u >= d->cum[i])
            i++;
        x = sim_dist_sample(d->comp[i], r);
        break;
    }
    }
    return x + d->offset;
}

static double phi_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

double sim_dist_mean(const sim_dist_t *d)
{
    double m = 0;
    switch (d->type) {
    case D_CONST:
        m = d->a;
        break;
    case D_UNIFORM:
        m = (d->a + d->b) / 2;
        break;
    case D_NORMAL: {
        if (d->b == 0) {
            m = d->a;
            break;
        }
        double alpha = -d->a / d->b;
        double pdf = exp(-0.5 * alpha * alpha) / sqrt(2 * M_PI);
        m = d->a + d->b * pdf / (1.0 - phi_cdf(alpha));
        break;
    }
    case D_LOGNORMAL:
        m = exp(d->a + d->b * d->b / 2);
        break;
    case D_EXP:
        m = 1.0 / d->a;
        break;
    case D_PARETO:
        m = d->b > 1 ? d->b * d->a / (d->b - 1) : INFINITY;
        break;
    case D_MIX:
        for (size_t i = 0; i < d->n; i++)
            m += d->w[i] * sim_dist_mean(d->comp[i]);
        break;
    }
    return m + d->offset;
}

double sim_dist_cdf(const sim_dist_t *d, double x)
{
    x -= d->offset;
    switch (d->type) {
    case D_CONST:
        return x >= d->a ? 1.0 : 0.0;
    case D_UNIFORM:
        if (x < d->a)
            return 0;
        if (x >= d->b)
            return 1;
        return (x - d->a) / (d->b - d->a);
    case D_NORMAL: {
        if (x < 0)
            return 0;
        if (d->b == 0)
            return x >= d->a ? 1 : 0;
        double lo = phi_cdf(-d->a / d->b);
        return (phi_cdf((x - d->a) / d->b) - lo) / (1.0 - lo);
    }
    case D_LOGNORMAL:
        if (x <= 0)
            return 0;
        if (d->b == 0)
            return log(x) >= d->a ? 1 : 0;
        return phi_cdf((log(x) - d->a) / d->b);
    case D_EXP:
        return x <= 0 ? 0 : 1.0 - exp(-d->a * x);
    case D_PARETO:
        return x < d->a ? 0 : 1.0 - pow(d->a / x, d->b);
    case D_MIX: {
        double p = 0;
        for (size_t i = 0; i < d->n; i++)
            p += d->w[i] * sim_dist_cdf(d->comp[i], x);
        return p;
    }
    }
    return 0;
}

double sim_dist_quantile(const sim_dist_t *d, double q)
{
    if (q <= 0)
        return d->offset;
    double lo = 0, hi = 1;
    while (sim_dist_cdf(d, hi) < q && hi < 1e300)
        hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-9 * (hi > 1 ? hi : 1); i++) {
        double mid = (lo + hi) / 2;
        if (sim_dist_cdf(d, mid) < q)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

void sim_dist_free(sim_dist_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        sim_dist_free(d->comp[i]);
    free(d->comp);
    free(d->cum);
    free(d->w);
    free(d);
}
