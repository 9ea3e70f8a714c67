/*
 * xform.c: transforms of a workload source: class filter, time window, sampling, shift
 * to zero, speed or target rate, repetition and a request limit.
 *
 * A transform is itself a source wrapped around the input; it reopens the input
 * through an opener for each repetition (and once more, up front, to measure the rate
 * when a target rate is asked for), so a trace file is streamed again rather than
 * held in memory. Workload assumed: inputs of up to tens of millions of requests; the
 * wrapper keeps a constant amount of state plus one request's re-hashed segments.
 *
 * Order: class filter, window, sampling (Bernoulli, GSL stream seeded with
 * sample_seed, restarted for every pass so each repetition keeps the same requests),
 * then times: t' = (t - origin) x factor + offset, origin = the first kept arrival
 * when start_at_zero (else 0), factor = 1/speed or measured_rate/target_rate, offset
 * = repetition k x (span' + mean gap') of the first pass; then the limit.
 */
#include "ft_internal.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pass_stats {
    uint64_t n;
    int64_t first, last;        /* input time */
} pass_stats;

typedef struct xform {
    ft_transforms t;
    ft_opener open;
    void *ctx;
    void (*free_ctx)(void *ctx);
    ft_source *in;
    gsl_rng *rng;               /* sampling; NULL when sample is 1 */
    uint32_t rep, reps;
    double factor;              /* output time per input time */
    int64_t origin;
    bool have_origin;
    pass_stats p0;              /* the first pass, for the repetition period */
    int64_t period;             /* between repetitions, output ns */
    int64_t offset;             /* of the current repetition, output ns */
    uint64_t n;                 /* requests returned */
    ft_source_info acc;         /* counters of closed passes */
    char *first_skipped;        /* kept from a closed pass */
    bool shares;
    const char *kind;           /* the input's, kept after its last pass */
    ft_segment *segs;           /* re-hashed segments of repetitions > 0 */
    size_t cap;
} xform;

bool ft_transforms_identity(const ft_transforms *t)
{
    return t->class_mask == 0 && t->window_start_ns == 0 && t->window_end_ns == 0 &&
           (t->sample == 0 || t->sample == 1) && !t->start_at_zero &&
           (t->speed == 0 || t->speed == 1) && t->target_rate == 0 && t->repeat <= 1 &&
           t->limit == 0;
}

static int fail(char **err, const char *msg)
{
    if (err)
        *err = strdup(msg);
    return -EINVAL;
}

static int nomem(char **err)
{
    if (err)
        *err = strdup("transforms: out of memory");
    return -ENOMEM;
}

static int check(const ft_transforms *t, char **err)
{
    if (!isfinite(t->speed) || t->speed < 0)
        return fail(err, "transforms: speed: expected a finite factor > 0");
    if (!isfinite(t->target_rate) || t->target_rate < 0)
        return fail(err, "transforms: rate: expected a finite rate > 0 requests/s");
    if (t->speed > 0 && t->target_rate > 0)
        return fail(err, "transforms: give speed or rate, not both");
    if (!(t->sample >= 0 && t->sample <= 1))
        return fail(err, "transforms: sample: expected a probability in (0, 1]");
    if (t->window_start_ns < 0 || t->window_end_ns < 0 ||
        (t->window_end_ns && t->window_end_ns <= t->window_start_ns))
        return fail(err, "transforms: window: expected 0 <= start < end");
    return 0;
}

/* --- one pass over the input --- */

static void restart_sampling(xform *x)
{
    if (x->rng)
        gsl_rng_set(x->rng, (unsigned long)((x->t.sample_seed ^ (x->t.sample_seed >> 32)) &
                                            0xffffffffu));
}

/* Whether r passes the class filter, the window and the sample; -1 = past the window. */
static int keep(xform *x, const ft_request *r)
{
    const ft_transforms *t = &x->t;
    if (t->class_mask && (r->cls < 0 || r->cls > 63 || !(t->class_mask >> r->cls & 1)))
        return 0;
    if (r->arrival_ns < t->window_start_ns)
        return 0;
    if (t->window_end_ns && r->arrival_ns >= t->window_end_ns)
        return -1;                          /* sources are sorted: the rest is later */
    if (x->rng && gsl_rng_uniform(x->rng) >= t->sample)
        return 0;
    return 1;
}

/* Next kept request of the current pass: 1, 0 = pass over, <0 = error. */
static int pass_next(xform *x, ft_request *r, char **err)
{
    for (;;) {
        int rc = ft_source_next(x->in, r, err);
        if (rc <= 0)
            return rc;
        rc = keep(x, r);
        if (rc != 0)
            return rc > 0 ? 1 : 0;
    }
}

static void close_pass(xform *x)
{
    ft_source_info i;
    ft_source_get_info(x->in, &i);
    x->acc.skipped += i.skipped;
    x->acc.filtered += i.filtered;
    x->shares |= i.shares_prefixes;
    x->kind = i.kind;
    if (!x->first_skipped && i.first_skipped)
        x->first_skipped = strdup(i.first_skipped);
    ft_source_free(x->in);
    x->in = NULL;
}

static int open_pass(xform *x, char **err)
{
    restart_sampling(x);
    return x->open(x->ctx, &x->in, err);
}

/* --- measuring the rate for target_rate --- */

static int measure(xform *x, char **err)
{
    pass_stats p = { 0 };
    ft_request r;
    int rc = open_pass(x, err);
    if (rc == 0)
        while ((rc = pass_next(x, &r, err)) == 1) {
            if (p.n++ == 0)
                p.first = r.arrival_ns;
            p.last = r.arrival_ns;
        }
    if (x->in)
        close_pass(x);
    x->acc = (ft_source_info){ 0 };        /* counted again by the real passes */
    free(x->first_skipped);
    x->first_skipped = NULL;
    if (rc < 0)
        return rc;
    if (p.n < 2 || p.last == p.first)
        return fail(err, "transforms: rate: the input needs at least 2 requests over a "
                         "time span to rescale it to a target rate");
    double rate = p.n / ((p.last - p.first) / 1e9);
    x->factor = rate / x->t.target_rate;
    return 0;
}

/* --- the source --- */

static uint64_t rehash(uint64_t id, uint32_t rep)
{
    return id ? fti_content("xform/repeat", id, rep) : 0;
}

/* Gives repetition k > 0 its own content ids and sessions. */
static int relabel(xform *x, ft_request *r)
{
    if (r->nsegs > x->cap) {
        ft_segment *s = realloc(x->segs, r->nsegs * sizeof *s);
        if (!s)
            return -ENOMEM;
        x->segs = s;
        x->cap = r->nsegs;
    }
    for (uint32_t i = 0; i < r->nsegs; i++)
        x->segs[i] = (ft_segment){ rehash(r->segs[i].content, x->rep), r->segs[i].len };
    r->segs = x->segs;
    r->output_content = rehash(r->output_content, x->rep);
    r->session = rehash(r->session, x->rep);
    return 0;
}

/* Starts the next repetition; 1 = started, 0 = none left, <0 = error. */
static int next_rep(xform *x, char **err)
{
    close_pass(x);
    if (x->rep + 1 >= x->reps || x->p0.n == 0)
        return 0;
    if (x->rep == 0) {                      /* the period, in output time */
        double span = (x->p0.last - x->p0.first) * x->factor;
        double gap = x->p0.n > 1 ? span / (x->p0.n - 1) : 0;
        x->period = llround(span + (gap > 0 ? gap : 1e9));
    }
    x->rep++;
    x->offset = (int64_t)x->rep * x->period;
    int rc = open_pass(x, err);
    return rc < 0 ? rc : 1;
}

static int xform_next(void *self, ft_request *out, char **err)
{
    xform *x = self;
    if (x->t.limit && x->n >= x->t.limit)
        return 0;
    for (;;) {
        if (!x->in)
            return 0;
        int rc = pass_next(x, out, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
        if ((rc = next_rep(x, err)) <= 0)
            return rc;
    }
    if (x->rep == 0) {
        if (x->p0.n++ == 0)
            x->p0.first = out->arrival_ns;
        x->p0.last = out->arrival_ns;
    }
    if (!x->have_origin) {
        x->origin = x->t.start_at_zero ? out->arrival_ns : 0;
        x->have_origin = true;
    }
    out->arrival_ns = llround((out->arrival_ns - x->origin) * x->factor) + x->offset;
    if (x->rep > 0 && relabel(x, out) != 0)
        return nomem(err);
    x->n++;
    return 1;
}

static void xform_info(void *self, ft_source_info *out)
{
    xform *x = self;
    ft_source_info cur = { .kind = x->kind };
    if (x->in)
        ft_source_get_info(x->in, &cur);
    out->kind = cur.kind;
    out->skipped = x->acc.skipped + cur.skipped;
    out->filtered = x->acc.filtered + cur.filtered;
    out->first_skipped = x->first_skipped ? x->first_skipped : cur.first_skipped;
    out->shares_prefixes = x->shares || cur.shares_prefixes;
}

static void xform_destroy(void *self)
{
    xform *x = self;
    if (!x)
        return;
    ft_source_free(x->in);
    if (x->free_ctx)
        x->free_ctx(x->ctx);
    if (x->rng)
        gsl_rng_free(x->rng);
    free(x->first_skipped);
    free(x->segs);
    free(x);
}

static const ft_source_ops xform_ops = { "transform", xform_next, xform_destroy, xform_info };

int ft_transform_open(const ft_transforms *t, ft_opener open, void *ctx,
                      void (*free_ctx)(void *ctx), ft_source **out, char **err)
{
    assert(t && open && out);
    *out = NULL;
    int rc = check(t, err);
    xform *x = rc == 0 ? calloc(1, sizeof *x) : NULL;
    if (rc == 0 && !x)
        rc = nomem(err);
    if (rc != 0) {
        if (free_ctx)
            free_ctx(ctx);
        return rc;
    }
    *x = (xform){ .t = *t, .open = open, .ctx = ctx, .free_ctx = free_ctx,
                  .reps = t->repeat ? t->repeat : 1, .factor = t->speed > 0 ? 1 / t->speed : 1 };
    if (t->sample > 0 && t->sample < 1 && !(x->rng = gsl_rng_alloc(gsl_rng_mt19937)))
        rc = nomem(err);
    if (rc == 0 && t->target_rate > 0)
        rc = measure(x, err);
    if (rc == 0)
        rc = open_pass(x, err);
    if (rc != 0) {
        xform_destroy(x);
        return rc;
    }
    *out = ft_source_wrap(&xform_ops, x);
    return *out ? 0 : nomem(err);
}
