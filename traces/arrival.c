/*
 * arrival.c: the arrival processes of the workload generator.
 *
 * Open-loop traffic as production LLM services see it: Poisson; renewal processes
 * burstier or smoother than Poisson (gamma, Weibull, given the mean rate and the
 * coefficient of variation of the gaps, as AlpaServe and ServeGen describe traffic);
 * an on/off (two-state Markov-modulated Poisson) process for bursts; a diurnal
 * sinusoid for the daily cycle; and ServeGen's measured per-window rate, CV and gap
 * family, replayed window by window.
 * Workload assumed: millions of arrivals; each costs one or two GSL draws, except a
 * Weibull window's shape, solved once per window by root finding.
 */
#include "ft_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>
#include <gsl/gsl_sf_gamma.h>

/* --- Weibull shape from the coefficient of variation --- */

/* log(1 + cv^2) of a Weibull of shape exp(x), minus the target. Decreasing in x. */
static double weibull_cv_gap(double x, void *p)
{
    double k = exp(x), target = *(double *)p;
    return gsl_sf_lngamma(1 + 2 / k) - 2 * gsl_sf_lngamma(1 + 1 / k) - target;
}

double fti_weibull_shape(double cv)
{
    double target = log1p(cv * cv);
    gsl_function f = { weibull_cv_gap, &target };
    double lo = log(0.02), hi = log(1000.0);
    if (weibull_cv_gap(lo, &target) <= 0)      /* cv beyond shape 0.02 (~ 1e14) */
        return 0.02;
    if (weibull_cv_gap(hi, &target) >= 0)      /* cv below shape 1000 (~ 0.0013) */
        return 1000.0;
    gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    if (!s)
        return 1.0;
    gsl_root_fsolver_set(s, &f, lo, hi);
    double x = 0;
    for (int i = 0; i < 200; i++) {
        gsl_root_fsolver_iterate(s);
        x = gsl_root_fsolver_root(s);
        if (gsl_root_test_interval(gsl_root_fsolver_x_lower(s), gsl_root_fsolver_x_upper(s),
                                   0, 1e-12) == GSL_SUCCESS)
            break;
    }
    gsl_root_fsolver_free(s);
    return exp(x);
}

/* --- validation --- */

static bool finite_pos(double x)
{
    return isfinite(x) && x > 0;
}

static int check_windows(const ft_arrival *a, char **err)
{
    if (a->nwindows == 0 || !a->windows)
        return fti_gen_fail(err, "arrival.windows: expected at least one window");
    if (!(a->window_s >= 0) || !isfinite(a->window_s))
        return fti_gen_fail(err, "arrival.window_s: expected a finite length >= 0");
    for (size_t i = 0; i < a->nwindows; i++) {
        const ft_rate_window *w = &a->windows[i];
        if (!isfinite(w->start_s) || w->start_s < 0 || !isfinite(w->rate) || w->rate < 0 ||
            !isfinite(w->cv) || w->cv < 0 || (unsigned)w->family > FT_FAM_WEIBULL)
            return fti_gen_fail(err, "arrival.windows[%zu]: expected start >= 0, rate >= 0, "
                                "cv >= 0 and a known family", i);
        if (i > 0 && w->start_s <= a->windows[i - 1].start_s)
            return fti_gen_fail(err, "arrival.windows[%zu]: expected windows in increasing "
                                "order of start", i);
    }
    return 0;
}

static int check_arrival(const ft_arrival *a, char **err)
{
    if (a->kind == FT_ARR_WINDOWS) {
        if (!(a->rate >= 0) || !isfinite(a->rate))
            return fti_gen_fail(err, "arrival.rate: expected a finite rate multiplier >= 0, "
                                "got %g", a->rate);
        return check_windows(a, err);
    }
    if (!finite_pos(a->rate))
        return fti_gen_fail(err, "arrival.rate: expected a finite rate > 0 requests/s, got %g",
                            a->rate);
    switch (a->kind) {
    case FT_ARR_POISSON:
        return 0;
    case FT_ARR_GAMMA:
    case FT_ARR_WEIBULL:
        if (!finite_pos(a->cv))
            return fti_gen_fail(err, "arrival.cv: a %s process needs a finite cv > 0, got %g",
                                a->kind == FT_ARR_GAMMA ? "gamma" : "weibull", a->cv);
        return 0;
    case FT_ARR_ONOFF:
        if (!(a->off_rate >= 0) || !isfinite(a->off_rate) || !finite_pos(a->on_s) ||
            !finite_pos(a->off_s))
            return fti_gen_fail(err, "arrival.on/off: an onoff process needs on > 0 s, "
                                "off > 0 s and off_rate >= 0");
        return 0;
    case FT_ARR_DIURNAL:
        if (!(a->amplitude >= 0 && a->amplitude <= 1) || !(a->period_s >= 0) ||
            !isfinite(a->period_s) || !isfinite(a->peak_s))
            return fti_gen_fail(err, "arrival.amplitude: a diurnal process needs an "
                                "amplitude in [0, 1] and a finite period >= 0");
        return 0;
    default:
        return fti_gen_fail(err, "arrival.kind: unknown arrival process %d", (int)a->kind);
    }
}

int fti_arrivals_init(fti_arrivals *s, const ft_arrival *a, char **err)
{
    memset(s, 0, sizeof *s);
    int rc = check_arrival(a, err);
    if (rc != 0)
        return rc;
    s->a = *a;
    s->on = true;
    s->state_end = -1;
    if (a->kind == FT_ARR_WEIBULL) {
        s->k = fti_weibull_shape(a->cv);
        s->scale = 1 / (a->rate * gsl_sf_gamma(1 + 1 / s->k));
    }
    if (a->kind != FT_ARR_WINDOWS)
        return 0;
    s->windows = malloc(a->nwindows * sizeof *s->windows);
    if (!s->windows) {
        if (err)
            *err = strdup("generator: out of memory");
        return -ENOMEM;
    }
    memcpy(s->windows, a->windows, a->nwindows * sizeof *s->windows);
    s->a.windows = s->windows;
    if (s->a.window_s == 0)
        s->a.window_s = 600;
    if (s->a.rate == 0)
        s->a.rate = 1;
    return 0;
}

void fti_arrivals_free(fti_arrivals *s)
{
    free(s->windows);
    memset(s, 0, sizeof *s);
}

/* --- drawing --- */

/* A gap of mean m and coefficient of variation cv from a family. */
static double family_gap(gsl_rng *r, ft_family fam, double m, double cv, double wk)
{
    if (fam == FT_FAM_GAMMA && cv > 0) {
        double k = 1.0 / (cv * cv);
        return gsl_ran_gamma(r, k, m / k);
    }
    if (fam == FT_FAM_WEIBULL && cv > 0)
        return gsl_ran_weibull(r, m / gsl_sf_gamma(1 + 1 / wk), wk);
    return gsl_ran_exponential(r, m);
}

static void onoff_next(fti_arrivals *s, gsl_rng *r)
{
    const ft_arrival *a = &s->a;
    if (s->state_end < 0)
        s->state_end = gsl_ran_exponential(r, a->on_s);
    for (;;) {
        double rate = s->on ? a->rate : a->off_rate;
        double gap = rate > 0 ? gsl_ran_exponential(r, 1 / rate) : INFINITY;
        if (s->t + gap < s->state_end) {        /* memoryless: restarting is exact */
            s->t += gap;
            return;
        }
        s->t = s->state_end;
        s->on = !s->on;
        s->state_end = s->t + gsl_ran_exponential(r, s->on ? a->on_s : a->off_s);
    }
}

/* Lewis-Shedler thinning against the peak rate. */
static void diurnal_next(fti_arrivals *s, gsl_rng *r)
{
    const ft_arrival *a = &s->a;
    double period = a->period_s > 0 ? a->period_s : 86400, peak = a->rate * (1 + a->amplitude);
    for (;;) {
        s->t += gsl_ran_exponential(r, 1 / peak);
        double rate = a->rate * (1 + a->amplitude * cos(2 * M_PI * (s->t - a->peak_s) / period));
        if (gsl_rng_uniform(r) * peak < rate)
            return;
    }
}

/* Enters window w (or the next one with a positive rate); false past the last. */
static bool enter_window(fti_arrivals *s)
{
    while (s->w < s->a.nwindows && s->windows[s->w].rate <= 0)
        s->w++;
    if (s->w == s->a.nwindows)
        return false;
    const ft_rate_window *w = &s->windows[s->w];
    if (s->t < w->start_s)
        s->t = w->start_s;
    if (w->family == FT_FAM_WEIBULL && w->cv > 0)
        s->k = fti_weibull_shape(w->cv);
    s->w_started = true;
    return true;
}

static bool windows_next(fti_arrivals *s, gsl_rng *r)
{
    for (;;) {
        if (!s->w_started && !enter_window(s))
            return false;
        const ft_rate_window *w = &s->windows[s->w];
        double end = w->start_s + s->a.window_s;
        if (s->w + 1 < s->a.nwindows && s->windows[s->w + 1].start_s < end)
            end = s->windows[s->w + 1].start_s;
        double gap = family_gap(r, w->family, 1 / (w->rate * s->a.rate), w->cv, s->k);
        if (s->t + gap < end) {
            s->t += gap;
            return true;
        }
        s->t = end;                         /* the renewal restarts in the next window */
        s->w++;
        s->w_started = false;
    }
}

bool fti_arrivals_next(fti_arrivals *s, gsl_rng *r, double *t)
{
    const ft_arrival *a = &s->a;
    if (s->done)
        return false;
    switch (a->kind) {
    case FT_ARR_POISSON:
        s->t += gsl_ran_exponential(r, 1.0 / a->rate);
        break;
    case FT_ARR_GAMMA: {
        double k = 1.0 / (a->cv * a->cv);   /* shape 1/cv^2, scale 1/(rate k): mean 1/rate */
        s->t += gsl_ran_gamma(r, k, 1.0 / (a->rate * k));
        break;
    }
    case FT_ARR_WEIBULL:
        s->t += gsl_ran_weibull(r, s->scale, s->k);
        break;
    case FT_ARR_ONOFF:
        onoff_next(s, r);
        break;
    case FT_ARR_DIURNAL:
        diurnal_next(s, r);
        break;
    case FT_ARR_WINDOWS:
        if (!windows_next(s, r)) {
            s->done = true;
            return false;
        }
        break;
    }
    *t = s->t;
    return true;
}
