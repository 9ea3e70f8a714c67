/*
 * generator.c: a synthetic workload source drawn from GSL random streams.
 *
 * Models the open-loop traffic of a chat or completion service: arrivals form a
 * Poisson process or a gamma renewal process (burstier or smoother than Poisson, set
 * by the coefficient of variation of the gaps); prompt and output lengths are drawn
 * independently per request from fixed, uniform, normal or lognormal distributions;
 * optionally every prompt starts with one of a few shared system prompts (prefix
 * groups) so that prefix caching and prefix-aware routing have something to find.
 * Workload assumed: up to tens of millions of requests; O(1) memory and work per
 * request, so the generator never dominates a simulation.
 *
 * Reproducibility: one gsl_rng_mt19937 stream seeded with cfg->seed, and a fixed
 * order of draws per request (gap, prefix group, input length, output length), so the
 * same configuration gives the same sequence on every platform GSL supports.
 */
#include "ft_workload.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <xxhash.h>

typedef struct gen {
    ft_gen_config cfg;
    gsl_rng *rng;
    double t_s;             /* arrival time of the last request, seconds */
    uint64_t n;             /* requests returned */
    bool done;
    ft_segment segs[2];     /* the current request's prompt */
} gen;

/* --- validation --- */

static int fail(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(err, fmt, ap) < 0)
            *err = NULL;
        va_end(ap);
    }
    return -EINVAL;
}

static int oom(char **err)
{
    if (err)
        *err = strdup("generator: out of memory");
    return -ENOMEM;
}

static int check_dist(const ft_dist *d, const char *field, char **err)
{
    if (!isfinite(d->mean) || !isfinite(d->sd) || !isfinite(d->lo) || !isfinite(d->hi))
        return fail(err, "generator: %s: every parameter must be a finite number", field);
    if (d->sd < 0)
        return fail(err, "generator: %s.sd: expected >= 0, got %g", field, d->sd);
    if (d->lo < 0 || d->hi < 0)
        return fail(err, "generator: %s.lo/hi: expected >= 0, got [%g, %g]", field, d->lo, d->hi);
    if (d->hi > 0 && d->lo > d->hi)
        return fail(err, "generator: %s: expected lo <= hi, got lo %g > hi %g", field, d->lo, d->hi);
    switch (d->kind) {
    case FT_DIST_FIXED:
        if (d->mean < 1)
            return fail(err, "generator: %s.mean: a fixed length must be >= 1, got %g", field, d->mean);
        return 0;
    case FT_DIST_UNIFORM:
        if (d->hi <= 0)
            return fail(err, "generator: %s.hi: a uniform length needs hi > 0", field);
        return 0;
    case FT_DIST_NORMAL:
        return 0;
    case FT_DIST_LOGNORMAL:
        if (d->mean <= 0)
            return fail(err, "generator: %s.mean: a lognormal length needs mean > 0, got %g", field, d->mean);
        return 0;
    }
    return fail(err, "generator: %s.kind: unknown distribution %d", field, (int)d->kind);
}

static int check_arrival(const ft_arrival *a, char **err)
{
    if (!(a->rate > 0) || !isfinite(a->rate))
        return fail(err, "generator: arrival.rate: expected a finite rate > 0 requests/s, got %g", a->rate);
    if (a->kind == FT_ARR_POISSON)
        return 0;
    if (a->kind != FT_ARR_GAMMA)
        return fail(err, "generator: arrival.kind: unknown arrival process %d", (int)a->kind);
    if (!(a->cv > 0) || !isfinite(a->cv))
        return fail(err, "generator: arrival.cv: a gamma process needs a finite cv > 0, got %g", a->cv);
    return 0;
}

static int check_config(const ft_gen_config *c, char **err)
{
    int rc = check_arrival(&c->arrival, err);
    if (rc == 0)
        rc = check_dist(&c->input, "input", err);
    if (rc == 0)
        rc = check_dist(&c->output, "output", err);
    if (rc != 0)
        return rc;
    if (c->prefix_tokens > UINT32_MAX / 2)
        return fail(err, "generator: prefix_tokens: expected at most %u, got %u",
                    UINT32_MAX / 2, c->prefix_tokens);
    if (c->duration_ns < 0)
        return fail(err, "generator: duration_ns: expected >= 0, got %lld", (long long)c->duration_ns);
    if (c->max_requests == 0 && c->duration_ns == 0)
        return fail(err, "generator: max_requests and duration_ns are both 0 (unlimited): "
                         "set at least one, an endless workload never finishes");
    return 0;
}

/* --- drawing --- */

/* Seconds to the next arrival. Gamma: shape k = 1/cv^2, scale 1/(rate k), mean 1/rate. */
static double draw_gap(gen *g)
{
    const ft_arrival *a = &g->cfg.arrival;
    if (a->kind == FT_ARR_POISSON)
        return gsl_ran_exponential(g->rng, 1.0 / a->rate);
    double k = 1.0 / (a->cv * a->cv);
    return gsl_ran_gamma(g->rng, k, 1.0 / (a->rate * k));
}

/* A lognormal with the given mean m and sd s of the variate itself (not of its log). */
static double draw_lognormal(gsl_rng *r, double m, double s)
{
    double sigma2 = log1p((s * s) / (m * m));
    return gsl_ran_lognormal(r, log(m) - sigma2 / 2, sqrt(sigma2));
}

/* Rounds and clamps a draw to [max(1, lo), hi] (hi > 0) or [1, cap]. */
static uint32_t clamp_len(double x, const ft_dist *d, uint32_t cap)
{
    double lo = d->lo > 1 ? d->lo : 1;
    double hi = d->hi > 0 && d->hi < cap ? d->hi : cap;
    x = nearbyint(x);
    if (!(x >= lo))             /* also catches NaN */
        x = lo;
    if (x > hi)
        x = hi;
    return (uint32_t)x;
}

static uint32_t draw_len(gsl_rng *r, const ft_dist *d, uint32_t cap)
{
    double x = d->mean;
    switch (d->kind) {
    case FT_DIST_FIXED:
        break;
    case FT_DIST_UNIFORM:       /* integers lo..hi inclusive, each equally likely */
        x = floor(gsl_ran_flat(r, d->lo, d->hi + 1));
        break;
    case FT_DIST_NORMAL:
        x = d->mean + gsl_ran_gaussian(r, d->sd);
        break;
    case FT_DIST_LOGNORMAL:
        x = draw_lognormal(r, d->mean, d->sd);
        break;
    }
    return clamp_len(x, d, cap);
}

/*
 * Content ids are hashes of a tag, an index and the seed, so prefix ids, unique ids
 * and the ids of generators with other seeds do not collide (short of a 64-bit hash
 * collision). Rejected: counters, which two generators in one scenario would share.
 */
static uint64_t content_id(const char *tag, uint64_t index, uint64_t seed)
{
    unsigned char buf[32] = { 0 };
    size_t n = strlen(tag);
    memcpy(buf, tag, n < 16 ? n : 16);
    for (int i = 0; i < 8; i++) {
        buf[16 + i] = (unsigned char)(index >> (8 * i));
        buf[24 + i] = (unsigned char)(seed >> (8 * i));
    }
    return XXH64(buf, sizeof buf, 0);
}

/* Fills the prompt of request number g->n into g->segs; returns the segment count. */
static uint32_t draw_prompt(gen *g)
{
    const ft_gen_config *c = &g->cfg;
    uint32_t n = 0;
    if (c->prefix_tokens > 0) {
        uint32_t groups = c->prefix_groups ? c->prefix_groups : 1;
        uint64_t grp = gsl_rng_uniform_int(g->rng, groups);
        g->segs[n++] = (ft_segment){ content_id("gen/prefix", grp, c->seed), c->prefix_tokens };
    }
    uint32_t len = draw_len(g->rng, &c->input, UINT32_MAX - c->prefix_tokens);
    g->segs[n++] = (ft_segment){ content_id("gen/unique", g->n, c->seed), len };
    return n;
}

static int gen_next(void *self, ft_request *out, char **err)
{
    (void)err;                              /* a valid generator cannot fail */
    gen *g = self;
    if (g->done || (g->cfg.max_requests && g->n >= g->cfg.max_requests))
        return 0;
    g->t_s += draw_gap(g);
    int64_t t = llround(g->t_s * 1e9);     /* from the double sum: rounding never drifts */
    if (g->cfg.duration_ns && t > g->cfg.duration_ns) {
        g->done = true;
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->arrival_ns = t;
    out->nsegs = draw_prompt(g);
    out->segs = g->segs;
    out->input_tokens = g->cfg.prefix_tokens + g->segs[out->nsegs - 1].len;
    out->output_tokens = draw_len(g->rng, &g->cfg.output, UINT32_MAX);
    g->n++;
    return 1;
}

static void gen_destroy(void *self)
{
    gen *g = self;
    if (!g)
        return;
    gsl_rng_free(g->rng);
    free(g);
}

static const ft_source_ops gen_ops = { "generator", gen_next, gen_destroy };

int ft_gen_new(const ft_gen_config *cfg, ft_source **out, char **err)
{
    assert(cfg && out);
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc != 0)
        return rc;
    gen *g = calloc(1, sizeof *g);
    if (!g || !(g->rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        free(g);
        return oom(err);
    }
    g->cfg = *cfg;
    /* GSL's mt19937 keeps 32 bits of its seed: fold the high half in rather than drop it. */
    gsl_rng_set(g->rng, (unsigned long)((cfg->seed ^ (cfg->seed >> 32)) & 0xffffffffu));
    *out = ft_source_wrap(&gen_ops, g);
    return *out ? 0 : oom(err);
}
