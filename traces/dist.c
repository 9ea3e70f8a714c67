/*
 * dist.c: the length and duration distributions of the workload generator.
 *
 * Token lengths (prompt, output, document, follow-up message, turns per session) and
 * durations (think time between turns) are drawn from fixed, uniform, normal,
 * lognormal or empirical distributions. Empirical ones come from a trace's own
 * lengths or from a ServeGen PMF: up to a few hundred thousand distinct values, drawn
 * in O(1) with GSL's Walker alias tables (gsl_ran_discrete). Rejected: a cumulative
 * table with binary search, O(log n) per draw for no gain in exactness.
 * Workload assumed: millions of draws, so a draw does no allocation.
 */
#include "ft_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int fti_gen_fail(char **err, const char *fmt, ...)
{
    if (err) {
        char *body = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&body, fmt, ap) < 0)
            body = NULL;
        va_end(ap);
        if (!body || asprintf(err, "generator: %s", body) < 0)
            *err = NULL;
        free(body);
    }
    return -EINVAL;
}

static int check_empirical(const ft_dist *d, const char *field, char **err)
{
    double sum = 0;
    if (d->nvalues == 0 || !d->values || !d->weights)
        return fti_gen_fail(err, "%s: an empirical distribution needs at least one value",
                            field);
    for (size_t i = 0; i < d->nvalues; i++) {
        if (!isfinite(d->values[i]) || d->values[i] < 0)
            return fti_gen_fail(err, "%s.values: expected finite values >= 0, got %g", field,
                                d->values[i]);
        if (!isfinite(d->weights[i]) || d->weights[i] < 0)
            return fti_gen_fail(err, "%s.weights: expected finite weights >= 0, got %g",
                                field, d->weights[i]);
        sum += d->weights[i];
    }
    if (!(sum > 0))
        return fti_gen_fail(err, "%s.weights: expected a positive total weight", field);
    return 0;
}

static int check_dist(const ft_dist *d, const char *field, bool real, char **err)
{
    if (!isfinite(d->mean) || !isfinite(d->sd) || !isfinite(d->lo) || !isfinite(d->hi))
        return fti_gen_fail(err, "%s: every parameter must be a finite number", field);
    if (d->sd < 0)
        return fti_gen_fail(err, "%s.sd: expected >= 0, got %g", field, d->sd);
    if (d->lo < 0 || d->hi < 0)
        return fti_gen_fail(err, "%s.lo/hi: expected >= 0, got [%g, %g]", field, d->lo, d->hi);
    if (d->hi > 0 && d->lo > d->hi)
        return fti_gen_fail(err, "%s: expected lo <= hi, got lo %g > hi %g", field, d->lo,
                            d->hi);
    switch (d->kind) {
    case FT_DIST_FIXED:
        if (d->mean < (real ? 0 : 1))
            return fti_gen_fail(err, "%s.mean: a fixed %s must be >= %d, got %g", field,
                                real ? "duration" : "length", real ? 0 : 1, d->mean);
        return 0;
    case FT_DIST_UNIFORM:
        if (d->hi <= 0)
            return fti_gen_fail(err, "%s.hi: a uniform %s needs hi > 0", field,
                                real ? "duration" : "length");
        return 0;
    case FT_DIST_NORMAL:
        return 0;
    case FT_DIST_LOGNORMAL:
        if (d->mean <= 0)
            return fti_gen_fail(err, "%s.mean: a lognormal %s needs mean > 0, got %g", field,
                                real ? "duration" : "length", d->mean);
        return 0;
    case FT_DIST_EMPIRICAL:
        return check_empirical(d, field, err);
    }
    return fti_gen_fail(err, "%s.kind: unknown distribution %d", field, (int)d->kind);
}

int fti_dist_init(fti_dist *out, const ft_dist *d, const char *field, bool real, char **err)
{
    memset(out, 0, sizeof *out);
    int rc = check_dist(d, field, real, err);
    if (rc != 0)
        return rc;
    out->d = *d;
    if (d->kind != FT_DIST_EMPIRICAL) {
        out->d.values = out->d.weights = NULL;
        out->d.nvalues = 0;
        return 0;
    }
    out->values = malloc(d->nvalues * sizeof *out->values);
    out->table = gsl_ran_discrete_preproc(d->nvalues, d->weights);
    if (!out->values || !out->table) {
        fti_dist_free(out);
        if (err)
            *err = strdup("generator: out of memory");
        return -ENOMEM;
    }
    memcpy(out->values, d->values, d->nvalues * sizeof *out->values);
    out->d.values = out->values;
    out->d.weights = NULL;
    return 0;
}

void fti_dist_free(fti_dist *d)
{
    free(d->values);
    if (d->table)
        gsl_ran_discrete_free(d->table);
    memset(d, 0, sizeof *d);
}

/* A lognormal with the given mean m and sd s of the variate itself (not of its log). */
static double draw_lognormal(gsl_rng *r, double m, double s)
{
    double sigma2 = log1p((s * s) / (m * m));
    return gsl_ran_lognormal(r, log(m) - sigma2 / 2, sqrt(sigma2));
}

static double draw(const fti_dist *f, gsl_rng *r, bool integer)
{
    const ft_dist *d = &f->d;
    switch (d->kind) {
    case FT_DIST_FIXED:
        return d->mean;
    case FT_DIST_UNIFORM:       /* integers lo..hi inclusive, each equally likely */
        return integer ? floor(gsl_ran_flat(r, d->lo, d->hi + 1)) : gsl_ran_flat(r, d->lo, d->hi);
    case FT_DIST_NORMAL:
        return d->mean + gsl_ran_gaussian(r, d->sd);
    case FT_DIST_LOGNORMAL:
        return draw_lognormal(r, d->mean, d->sd);
    case FT_DIST_EMPIRICAL:
        return f->values[gsl_ran_discrete(r, f->table)];
    }
    return d->mean;
}

uint32_t fti_dist_len(const fti_dist *f, gsl_rng *r, uint32_t cap)
{
    const ft_dist *d = &f->d;
    double x = draw(f, r, true);
    double lo = d->lo > 1 ? d->lo : 1;
    double hi = d->hi > 0 && d->hi < cap ? d->hi : cap;
    x = nearbyint(x);
    if (!(x >= lo))             /* also catches NaN */
        x = lo;
    if (x > hi)
        x = hi;
    return (uint32_t)x;
}

double fti_dist_real(const fti_dist *f, gsl_rng *r)
{
    const ft_dist *d = &f->d;
    double x = draw(f, r, false);
    if (!(x >= d->lo))
        x = d->lo;
    if (d->hi > 0 && x > d->hi)
        x = d->hi;
    return x;
}
