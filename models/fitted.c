/*
 * fitted.c: the "fitted" latency model and the scaled form it usually takes.
 *
 * The scaled form (fm_fit.h) keeps the roofline's structure, two phases each bound by
 * FLOPs or bytes, plus collectives and a fixed overhead, but lets measurements set
 * every factor: each raw term (at data-sheet peaks) gets a fitted multiplier, the
 * hard maximum of each phase becomes a soft maximum whose exponent is fitted (real
 * GEMMs leave the memory-bound plateau gradually: wave quantisation, tile shapes), and
 * fixed costs per step, per layer and per sequence are added, as BLIS's trained
 * physics model does. With factors 1/eff, hard maxima and no extra overheads it is
 * exactly the roofline (tests/test_calib.c checks this), so a fit moves the roofline
 * only as far as the data asks.
 *
 * Rejected alternatives: per-operator random forests (vidur) need the attention
 * profiles that the shared data lacks and do not extrapolate to other batch shapes;
 * a plain polynomial in tokens (DistServe) fits one model on one accelerator but has
 * no terms that carry to another TP degree or context length. The distserve form is
 * still offered for DistServe's own coefficient files.
 *
 * Workload: fm_scaled_terms() and fm_scaled_eval() run once per simulated step, so the
 * per-replica constants are folded once in fm_scaled_ctx_new() and a step is one
 * O(batch) pass with no allocation. Fitting runs once, offline, on thousands of rows.
 */
#include "fm_fit.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* --- the scaled form --- */

struct fm_scaled_ctx {
    double peak_lin, peak_attn, bw;   /* raw data-sheet figures */
    double body_flops, head_flops;    /* per token (LM head excluded) / per sequence, per shard */
    double attn_coef;                 /* 4 x layers x heads x head_dim / tp */
    double dense_bytes, expert_bytes; /* per shard; MoE experts separately */
    double n_experts, experts_active;
    double kv_per_token;
    double layers;
    double layer_flops, layer_bytes, layer_expert_bytes; /* one layer's linear part */
    double comm_per_token, comm_lat;  /* all layers' all-reduces */
    bool fitted_comm;
};

static double raw_peak(const fm_accel *a, double operand_bytes)
{
    return operand_bytes <= 1 && a->fp8_flops > 0 ? a->fp8_flops : a->bf16_flops;
}

/* The same weight and FLOP split as roofline.c's fold_weights, per layer as well. */
static void fold_weights(fm_scaled_ctx *c, const fm_llm *m, int tp)
{
    double bpp = m->weight_bytes_per_param, lm = (double)m->vocab * m->d_model;
    double gather = m->tied_embeddings ? 0 : lm;
    c->n_experts = m->n_experts > 1 ? m->n_experts : 0;
    c->experts_active = m->n_experts > 1 ? m->n_experts_active : 0;
    double expert_params = fm_llm_params_expert(m);
    double dense = fm_llm_params_total(m) - gather - c->n_experts * expert_params;
    c->dense_bytes = dense * bpp / tp;
    c->expert_bytes = expert_params * bpp / tp;
    c->head_flops = 2 * lm / tp;
    c->body_flops = (fm_llm_linear_flops_per_token(m) - 2 * lm) / tp;
    c->layers = m->n_layers;
    c->layer_flops = c->body_flops / m->n_layers;
    c->layer_bytes = (c->dense_bytes - lm * bpp / tp) / m->n_layers;
    c->layer_expert_bytes = c->expert_bytes / m->n_layers;
}

/* Two all-reduces per layer of tokens x d_model bf16 values: fitted, else ideal rings. */
static void fold_comm(fm_scaled_ctx *c, const fm_accel *a, const fm_llm *m, int tp,
                      const fm_collectives *coll)
{
    if (tp == 1)
        return;
    double per_step = 2.0 * m->n_layers, bytes_per_token = 2.0 * m->d_model;
    bool in_node = tp <= a->accels_per_node;
    double t0 = coll ? fm_coll_time(coll, FM_COLL_ALL_REDUCE, tp, in_node, 0) : -1;
    if (t0 >= 0) {
        double probe = 1 << 20;
        double slope = (fm_coll_time(coll, FM_COLL_ALL_REDUCE, tp, in_node, probe) - t0) / probe;
        c->comm_per_token = per_step * bytes_per_token * slope;
        c->comm_lat = per_step * t0;
        c->fitted_comm = true;
        return;
    }
    double bw = in_node ? a->intra_bw : a->scaleout_bw;
    double lat = in_node ? a->intra_lat : a->scaleout_lat;
    c->comm_per_token = per_step * 2.0 * (tp - 1) / tp * bytes_per_token / bw;
    c->comm_lat = per_step * 2.0 * (tp - 1) * lat;
}

int fm_scaled_ctx_new(const fm_accel *a, const fm_llm *m, int tp, const fm_collectives *coll,
                      fm_scaled_ctx **out, char **err)
{
    int rc;
    if ((rc = fm_accel_validate(a, err)) || (rc = fm_llm_validate(m, err)) ||
        (rc = fm_llm_check_tp(m, tp, err)))
        return rc;
    fm_scaled_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    c->peak_lin = raw_peak(a, m->weight_bytes_per_param);
    c->peak_attn = raw_peak(a, m->kv_bytes_per_elem);
    c->bw = a->mem_bw;
    c->attn_coef = 4.0 * m->n_layers * m->n_heads * m->head_dim / tp;
    c->kv_per_token = fm_llm_kv_bytes_per_token(m, tp);
    fold_weights(c, m, tp);
    fold_comm(c, a, m, tp, coll);
    *out = c;
    return 0;
}

void fm_scaled_ctx_free(fm_scaled_ctx *c) { free(c); }

bool fm_scaled_ctx_fitted_comm(const fm_scaled_ctx *c) { return c->fitted_comm; }

void fm_scaled_terms(const fm_scaled_ctx *c, const fm_seq_work *seqs, size_t n,
                     fm_step_terms *out)
{
    double tokens = 0, attn = 0, kv_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        double nw = seqs[i].new_tokens, ctx = seqs[i].context;
        tokens += nw;
        attn += nw * (ctx + (nw + 1) * 0.5);
        kv_tokens += ctx + 2 * nw;
    }
    double touched = fmin(tokens * c->experts_active, c->n_experts);
    *out = (fm_step_terms){
        .seqs = (double)n,
        .layers = n ? c->layers : 0,
        .lin_flop_s = (tokens * c->body_flops + (double)n * c->head_flops) / c->peak_lin,
        .lin_byte_s = n ? (c->dense_bytes + touched * c->expert_bytes) / c->bw : 0,
        .attn_flop_s = attn * c->attn_coef / c->peak_attn,
        .attn_byte_s = kv_tokens * c->kv_per_token / c->bw,
        .comm_s = n ? tokens * c->comm_per_token : 0,
        .comm_lat_s = n ? c->comm_lat : 0,
    };
}

void fm_scaled_layer_terms(const fm_scaled_ctx *c, double tokens, fm_step_terms *out)
{
    double touched = fmin(tokens * c->experts_active, c->n_experts);
    *out = (fm_step_terms){
        .layers = 1,
        .lin_flop_s = tokens * c->layer_flops / c->peak_lin,
        .lin_byte_s = (c->layer_bytes + touched * c->layer_expert_bytes) / c->bw,
    };
}

/* (x^p + y^p)^(1/p), computed without overflow; p == 0 is the hard maximum. */
static double smax(double x, double y, double p)
{
    double m = fmax(x, y);
    if (p == 0 || m <= 0)
        return m;
    return m * pow(pow(x / m, p) + pow(y / m, p), 1 / p);
}

/* One phase's scaled time, filed under compute or memory by its larger term. */
static double phase(double flop_s, double byte_s, double p, fm_step_breakdown *bd)
{
    double t = smax(flop_s, byte_s, p);
    if (flop_s >= byte_s)
        bd->compute += t;
    else
        bd->memory += t;
    return t;
}

double fm_scaled_eval(const fm_scaled_coef *k, const fm_step_terms *t, fm_step_breakdown *out)
{
    fm_step_breakdown bd = {0};
    bd.overhead = k->step_s + k->seq_s * t->seqs + k->layer_s * t->layers;
    phase(k->lin_flops * t->lin_flop_s, k->lin_bytes * t->lin_byte_s, k->lin_p, &bd);
    phase(k->attn_flops * t->attn_flop_s, k->attn_bytes * t->attn_byte_s, k->attn_p, &bd);
    bd.comm = k->comm * t->comm_s + t->comm_lat_s;
    bd.total = bd.compute + bd.memory + bd.comm + bd.overhead;
    if (out)
        *out = bd;
    return bd.total;
}

void fm_scaled_roofline_coef(const fm_scaled_ctx *c, const fm_accel *a, fm_scaled_coef *out)
{
    *out = (fm_scaled_coef){
        .step_s = a->step_overhead,
        .lin_flops = 1 / a->eff_compute, .lin_bytes = 1 / a->eff_memory,
        .attn_flops = 1 / a->eff_compute, .attn_bytes = 1 / a->eff_memory,
        .comm = c && c->fitted_comm ? 1 : 1 / a->eff_comm,
    };
}

/* --- coefficient names and masks --- */

typedef enum { XF_ABS, XF_EXP, XF_EXP1 } xform; /* value = |x|, e^x, 1 + e^x */

static const struct coef_desc {
    unsigned bit;
    const char *name;
    size_t off;
    xform xf;
} coef_desc[] = {
    {FM_FIT_STEP, "step_s", offsetof(fm_scaled_coef, step_s), XF_ABS},
    {FM_FIT_SEQ, "seq_s", offsetof(fm_scaled_coef, seq_s), XF_ABS},
    {FM_FIT_LAYER, "layer_s", offsetof(fm_scaled_coef, layer_s), XF_ABS},
    {FM_FIT_LIN_FLOPS, "lin_flops", offsetof(fm_scaled_coef, lin_flops), XF_EXP},
    {FM_FIT_LIN_BYTES, "lin_bytes", offsetof(fm_scaled_coef, lin_bytes), XF_EXP},
    {FM_FIT_LIN_P, "lin_p", offsetof(fm_scaled_coef, lin_p), XF_EXP1},
    {FM_FIT_ATTN_FLOPS, "attn_flops", offsetof(fm_scaled_coef, attn_flops), XF_EXP},
    {FM_FIT_ATTN_BYTES, "attn_bytes", offsetof(fm_scaled_coef, attn_bytes), XF_EXP},
    {FM_FIT_ATTN_P, "attn_p", offsetof(fm_scaled_coef, attn_p), XF_EXP1},
    {FM_FIT_COMM, "comm", offsetof(fm_scaled_coef, comm), XF_EXP},
};
#define NCOEF (sizeof coef_desc / sizeof coef_desc[0])

const char *fm_scaled_coef_name(unsigned bit)
{
    for (size_t i = 0; i < NCOEF; i++)
        if (coef_desc[i].bit == bit)
            return coef_desc[i].name;
    return NULL;
}

int fm_scaled_parse_mask(const char *list, unsigned *mask, char **err)
{
    unsigned m = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ", ");
        size_t i = 0;
        while (i < NCOEF && !(strlen(coef_desc[i].name) == len &&
                              strncmp(coef_desc[i].name, p, len) == 0))
            i++;
        if (len && i == NCOEF)
            return fail(err, fu_asprintf("unknown coefficient '%.*s' (known: step_s, seq_s, "
                                         "layer_s, lin_flops, lin_bytes, lin_p, attn_flops, "
                                         "attn_bytes, attn_p, comm)", (int)len, p), -EINVAL);
        if (len)
            m |= coef_desc[i].bit;
        p += len + (p[len] != '\0');
    }
    *mask = m;
    return 0;
}

/* --- fitting --- */

typedef struct fit_problem {
    const fm_step_terms *x;
    const double *y;
    size_t *rows;               /* indices of the fitted rows */
    size_t nrows;
    const struct coef_desc *free[NCOEF];
    size_t nfree;
    fm_scaled_coef base;
} fit_problem;

static double *coef_at(fm_scaled_coef *k, const struct coef_desc *d)
{
    return (double *)((char *)k + d->off);
}

static double to_value(const struct coef_desc *d, double x)
{
    return d->xf == XF_ABS ? fabs(x) : d->xf == XF_EXP ? exp(x) : 1 + exp(x);
}

static double to_param(const struct coef_desc *d, double v)
{
    if (d->xf == XF_ABS)
        return v;
    if (d->xf == XF_EXP)
        return log(v > 1e-12 ? v : 1e-12);
    return log(v > 1 + 1e-9 ? v - 1 : 1e-9);
}

static void unpack(const fit_problem *p, const gsl_vector *x, fm_scaled_coef *k)
{
    *k = p->base;
    for (size_t j = 0; j < p->nfree; j++)
        *coef_at(k, p->free[j]) = to_value(p->free[j], gsl_vector_get(x, j));
}

static int residuals(const gsl_vector *x, void *data, gsl_vector *f)
{
    const fit_problem *p = data;
    fm_scaled_coef k;
    unpack(p, x, &k);
    for (size_t i = 0; i < p->nrows; i++) {
        size_t r = p->rows[i];
        gsl_vector_set(f, i, fm_scaled_eval(&k, &p->x[r], NULL) / p->y[r] - 1);
    }
    return GSL_SUCCESS;
}

/* One Levenberg-Marquardt run from k0; returns the cost (sum of squares) and fills *k. */
static double solve_once(fit_problem *p, const fm_scaled_coef *k0, fm_scaled_coef *k)
{
    const gsl_multifit_nlinear_type *T = gsl_multifit_nlinear_trust;
    gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
    gsl_multifit_nlinear_workspace *w = gsl_multifit_nlinear_alloc(T, &params, p->nrows,
                                                                   p->nfree);
    gsl_vector *x0 = gsl_vector_alloc(p->nfree);
    double cost = INFINITY;
    if (w && x0) {
        for (size_t j = 0; j < p->nfree; j++)
            gsl_vector_set(x0, j, to_param(p->free[j], *coef_at((fm_scaled_coef *)k0,
                                                                p->free[j])));
        gsl_multifit_nlinear_fdf fdf = {.f = residuals, .n = p->nrows, .p = p->nfree,
                                        .params = p};
        int info;
        gsl_multifit_nlinear_init(x0, &fdf, w);
        int st = gsl_multifit_nlinear_driver(300, 1e-10, 1e-10, 1e-10, NULL, NULL, &info, w);
        gsl_vector *r = gsl_multifit_nlinear_residual(w);
        double c2;
        gsl_blas_ddot(r, r, &c2);
        if ((st == GSL_SUCCESS || st == GSL_EMAXITER) && isfinite(c2)) {
            cost = c2;
            unpack(p, gsl_multifit_nlinear_position(w), k);
        }
    }
    gsl_vector_free(x0);
    if (w)
        gsl_multifit_nlinear_free(w);
    return cost;
}

/* Multi-start over the soft-max exponents when they are free (their cost is not convex). */
static double solve(fit_problem *p, unsigned mask, const fm_scaled_coef *k0, fm_scaled_coef *best)
{
    static const double starts[] = {2, 4, 8};
    bool pfree = mask & (FM_FIT_LIN_P | FM_FIT_ATTN_P);
    double best_cost = INFINITY;
    for (size_t s = 0; s < (pfree ? 3 : 1); s++) {
        fm_scaled_coef k = *k0, out;
        if ((mask & FM_FIT_LIN_P) && (k.lin_p == 0 || s > 0 || k.lin_p < 1.01))
            k.lin_p = starts[s];
        if ((mask & FM_FIT_ATTN_P) && (k.attn_p == 0 || s > 0 || k.attn_p < 1.01))
            k.attn_p = starts[s];
        double c = solve_once(p, &k, &out);
        if (c < best_cost) {
            best_cost = c;
            *best = out;
        }
    }
    return best_cost;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void fm_pct_stats(const double *pct, size_t n, double *median, double *mean, double *max)
{
    double *v = n ? malloc(n * sizeof *v) : NULL, sum = 0, mx = 0;
    for (size_t i = 0; v && i < n; i++) {
        v[i] = fabs(pct[i]);
        sum += v[i];
        mx = fmax(mx, v[i]);
    }
    if (v)
        qsort(v, n, sizeof *v, cmp_double);
    if (median)
        *median = !v ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    if (mean)
        *mean = v ? sum / (double)n : 0;
    if (max)
        *max = mx;
    free(v);
}

static void quality(const fm_scaled_coef *k, const fm_step_terms *x, const double *y,
                    const bool *held, size_t n, fm_fit_quality *q)
{
    double *e = malloc((n ? n : 1) * sizeof *e);
    size_t nf = 0, nh = n;
    if (!e)
        return;
    for (size_t pass = 0; pass < 2; pass++) /* fitted rows first, then held ones from the end */
        for (size_t i = 0; i < n; i++) {
            bool h = held && held[i];
            if (h != (pass == 1))
                continue;
            double pct = 100 * (fm_scaled_eval(k, &x[i], NULL) / y[i] - 1);
            if (h)
                e[--nh] = pct;
            else
                e[nf++] = pct;
        }
    memset(q, 0, sizeof *q);
    q->n_fit = nf;
    q->n_held = n - nf;
    fm_pct_stats(e, nf, &q->fit_median_pct, &q->fit_mape_pct, NULL);
    fm_pct_stats(e + nf, n - nf, &q->held_median_pct, &q->held_mape_pct, &q->held_max_pct);
    free(e);
}

int fm_scaled_fit(const fm_step_terms *x, const double *y, const bool *held, size_t n,
                  unsigned mask, fm_scaled_coef *k, fm_fit_quality *q, char **err)
{
    fit_problem p = {.x = x, .y = y, .base = *k};
    for (size_t j = 0; j < NCOEF; j++)
        if (mask & coef_desc[j].bit)
            p.free[p.nfree++] = &coef_desc[j];
    p.rows = malloc((n ? n : 1) * sizeof *p.rows);
    if (!p.rows)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    for (size_t i = 0; i < n; i++)
        if (!(held && held[i]) && y[i] > 0)
            p.rows[p.nrows++] = i;
    if (p.nfree == 0 || p.nrows <= p.nfree) {
        free(p.rows);
        return fail(err, fu_asprintf("%zu rows to fit %zu coefficients: need more rows than "
                                     "coefficients", p.nrows, p.nfree), -EINVAL);
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off(); /* errors as values, not abort */
    fm_scaled_coef best;
    double cost = solve(&p, mask, k, &best);
    gsl_set_error_handler(old);
    free(p.rows);
    if (!isfinite(cost))
        return fail(err, fu_asprintf("the least-squares solver failed to converge"), -EDOM);
    *k = best;
    if (q)
        quality(k, x, y, held, n, q);
    return 0;
}

/* --- the distserve form --- */

static double poly(const double c[3], double x, double y) { return c[0] + c[1] * x + c[2] * y; }

double fm_distserve_eval(const fm_distserve_coef *c, const fm_seq_work *seqs, size_t n)
{
    double S = 0, S2 = 0, T = 0, B = 0;
    for (size_t i = 0; i < n; i++) {
        double nw = seqs[i].new_tokens, ctx = seqs[i].context;
        if (nw == 1 && ctx > 0) {
            T += ctx + 1;
            B += 1;
        } else {
            S += nw;
            S2 += nw * (nw + 2 * ctx);
        }
    }
    const double *dec = B >= c->threshold ? c->large : c->small;
    double ms = 0;
    if (S > 0 && B > 0)
        ms = poly(c->prefill, S, S2) + poly(dec, T, B) - fmin(c->prefill[0], dec[0]);
    else if (S > 0)
        ms = poly(c->prefill, S, S2);
    else if (B > 0)
        ms = poly(dec, T, B);
    return ms / 1e3;
}

/* --- the "fitted" latency model --- */

typedef struct fitted {
    fm_fit_form form;
    fm_scaled_ctx *ctx;
    fm_scaled_coef k;
    fm_distserve_coef ds;
} fitted;

/* "H100-SXM/llama-2-7b/tp1 (scaled), ..." of what a set holds, for the no-entry message. */
static char *list_entries(const fm_fits *f)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    for (size_t i = 0; i < f->n && i < 12; i++)
        fprintf(m, "%s%s/%s/tp%d", i ? ", " : "", f->e[i].accel, f->e[i].model, f->e[i].tp);
    if (f->n > 12)
        fprintf(m, ", ... (%zu entries)", f->n);
    if (f->n == 0)
        fprintf(m, "no entries");
    fclose(m);
    return s;
}

int fm_fits_lookup(const char *params, unsigned forms, const char *what, const fm_accel *a,
                   const fm_llm *m, int tp, fm_fits **fits, const fm_fit_entry **e,
                   char **err)
{
    const char *path = params && *params ? params : fm_default_fits_dir();
    int rc = fm_fits_load(path, fits, err);
    if (rc)
        return rc;
    *e = fm_fits_find(*fits, forms, a->name, m->name, tp);
    if (*e)
        return 0;
    char *have = list_entries(*fits);
    rc = fail(err, fu_asprintf("%s: no %s entry for %s / %s / tp %d (it has: %s); use "
                               "latency_model: roofline for hardware without data, or fit "
                               "one with fleetsim calibrate", path, what, a->name, m->name, tp,
                               have ? have : "?"), -EINVAL);
    free(have);
    fm_fits_free(*fits);
    *fits = NULL;
    return rc;
}

static int fitted_create_with(const fm_accel *a, const fm_llm *m, int tp, const char *params,
                              void **self, char **err)
{
    fm_fits *fits;
    const fm_fit_entry *e;
    unsigned forms = 1u << FM_FORM_SCALED | 1u << FM_FORM_DISTSERVE;
    int rc = fm_fits_lookup(params, forms, "fitted", a, m, tp, &fits, &e, err);
    if (rc)
        return rc;
    fitted *f = calloc(1, sizeof *f);
    if (!f)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    else if ((f->form = e->form) == FM_FORM_SCALED)
        rc = fm_scaled_ctx_new(a, m, tp, fm_fits_coll(fits, a->name), &f->ctx, err);
    if (f && rc == 0) {
        f->k = e->scaled;
        f->ds = e->ds;
        *self = f;
    } else
        free(f);
    fm_fits_free(fits);
    return rc;
}

static int fitted_create(const fm_accel *a, const fm_llm *m, int tp, void **self, char **err)
{
    return fitted_create_with(a, m, tp, NULL, self, err);
}

static double fitted_step(void *self, const fm_seq_work *seqs, size_t n, fm_step_breakdown *bd)
{
    const fitted *f = self;
    if (f->form == FM_FORM_SCALED) {
        fm_step_terms t;
        fm_scaled_terms(f->ctx, seqs, n, &t);
        return fm_scaled_eval(&f->k, &t, bd);
    }
    /* a fitted polynomial extrapolated far from its data can dip below 0 */
    double t = fmax(fm_distserve_eval(&f->ds, seqs, n), 0);
    if (bd) {
        bool prefill = false;
        for (size_t i = 0; i < n; i++)
            prefill |= !(seqs[i].new_tokens == 1 && seqs[i].context > 0);
        *bd = (fm_step_breakdown){.total = t, .compute = prefill ? t : 0,
                                  .memory = prefill ? 0 : t};
    }
    return t;
}

static void fitted_destroy(void *self)
{
    fitted *f = self;
    if (f)
        fm_scaled_ctx_free(f->ctx);
    free(f);
}

const fm_latency_ops fm_fitted_ops = {
    .name = "fitted",
    .create = fitted_create,
    .step_time = fitted_step,
    .destroy = fitted_destroy,
    .create_with = fitted_create_with,
};
