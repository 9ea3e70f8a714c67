/*
 * calibrate.c: from measured data to fit-file entries (what `fleetsim calibrate` does
 * for everything except per-request timings, which need the simulator's engine and
 * live in sim/replayfit.c).
 *
 * Each driver reads one kind of input, fits with the routines of fitted.c and
 * collective.c, and appends entries that carry their own fit quality: the error on
 * the rows fitted and on the rows held back (every fifth row, fm_fit_held_out), so a
 * fit file says how far to trust it. Workload: thousands of rows, once, offline.
 */
#include "fm_fit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static fm_fit_entry new_entry(const char *accel, const char *model, int tp, fm_fit_form form)
{
    fm_fit_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.accel, sizeof e.accel, "%s", accel);
    snprintf(e.model, sizeof e.model, "%s", model);
    e.tp = tp;
    e.form = form;
    return e;
}

static int oom(char **err) { return fail(err, fu_asprintf("out of memory"), -ENOMEM); }

/* --- vidur mlp.csv --- */

typedef struct pt {
    double tokens, y;
} pt;

static int by_tokens(const void *a, const void *b)
{
    double x = ((const pt *)a)->tokens, y = ((const pt *)b)->tokens;
    return (x > y) - (x < y);
}

/* The profile table of the fitted rows: sorted by tokens, duplicates averaged. */
static int build_profile(const fm_mlp_row *rows, const size_t *idx, size_t k, fm_fit_entry *e)
{
    pt *p = malloc(k * sizeof *p);
    size_t np = 0;
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++)
        if (!fm_fit_held_out(i))
            p[np++] = (pt){rows[idx[i]].tokens, rows[idx[i]].layer_s};
    qsort(p, np, sizeof *p, by_tokens);
    e->tokens = malloc(np * sizeof(double));
    e->layer_s = malloc(np * sizeof(double));
    if (!e->tokens || !e->layer_s) {
        free(p);
        return -ENOMEM;
    }
    size_t out = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        double sum = 0;
        while (j < np && p[j].tokens == p[i].tokens)
            sum += p[j++].y;
        e->tokens[out] = p[i].tokens;
        e->layer_s[out++] = sum / (double)(j - i);
        i = j;
    }
    e->npoints = out;
    free(p);
    return 0;
}

static void profile_quality(const fm_mlp_row *rows, const size_t *idx, size_t k,
                            fm_fit_entry *e)
{
    double *pct = malloc(k * sizeof *pct);
    size_t nf = 0, nh = k;
    if (!pct)
        return;
    for (size_t i = 0; i < k; i++) {
        const fm_mlp_row *r = &rows[idx[i]];
        double v = 100 * (fm_profile_interp(e, r->tokens) / r->layer_s - 1);
        if (fm_fit_held_out(i))
            pct[--nh] = v;
        else
            pct[nf++] = v;
    }
    e->q = (fm_fit_quality){.n_fit = nf, .n_held = k - nf};
    fm_pct_stats(pct, nf, &e->q.fit_median_pct, &e->q.fit_mape_pct, NULL);
    fm_pct_stats(pct + nf, k - nf, &e->q.held_median_pct, &e->q.held_mape_pct,
                 &e->q.held_max_pct);
    e->has_q = true;
    free(pct);
}

/* Fits one TP degree's rows (idx[0..k)) and appends the scaled and profile entries. */
static int mlp_one_tp(const char *path, const fm_mlp_row *rows, const size_t *idx, size_t k,
                      const fm_accel *a, const fm_llm *m, int tp, fm_fits *out, char **err)
{
    fm_scaled_ctx *ctx;
    int rc = fm_scaled_ctx_new(a, m, tp, fm_fits_coll(out, a->name), &ctx, err);
    if (rc)
        return rc;
    fm_step_terms *x = malloc(k * sizeof *x);
    double *y = malloc(k * sizeof *y), ymin = INFINITY;
    bool *held = malloc(k * sizeof *held);
    fm_fit_entry s = new_entry(a->name, m->name, tp, FM_FORM_SCALED);
    fm_fit_entry p = new_entry(a->name, m->name, tp, FM_FORM_PROFILE);
    if (!x || !y || !held)
        rc = oom(err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        fm_scaled_layer_terms(ctx, rows[idx[i]].tokens, &x[i]);
        y[i] = rows[idx[i]].layer_s;
        held[i] = fm_fit_held_out(i);
        ymin = fmin(ymin, y[i]);
    }
    fm_scaled_coef c = {.layer_s = ymin / 2, .lin_flops = 1 / a->eff_compute,
                        .lin_bytes = 1 / a->eff_memory};
    unsigned mask = FM_FIT_LAYER | FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES | FM_FIT_LIN_P;
    if (rc == 0)
        rc = fm_scaled_fit(x, y, held, k, mask, &c, &s.q, err);
    if (rc == 0) {
        fm_scaled_roofline_coef(ctx, a, &s.scaled);
        s.scaled.layer_s = c.layer_s;
        s.scaled.lin_flops = c.lin_flops;
        s.scaled.lin_bytes = c.lin_bytes;
        s.scaled.lin_p = c.lin_p;
        s.has_q = true;
        snprintf(s.source, sizeof s.source, "%s: %zu rows at tp %d, every 5th held out; "
                 "linear layers fitted, attention and LM head from the roofline",
                 base_name(path), k, tp);
        snprintf(p.source, sizeof p.source, "%s: %zu rows at tp %d, every 5th held out",
                 base_name(path), k, tp);
        rc = build_profile(rows, idx, k, &p) ? oom(err) : 0;
    }
    if (rc == 0) {
        profile_quality(rows, idx, k, &p);
        if (fm_fits_add(out, &s) || fm_fits_add(out, &p))
            rc = oom(err);
    }
    free(p.tokens);
    free(p.layer_s);
    free(x);
    free(y);
    free(held);
    fm_scaled_ctx_free(ctx);
    return rc;
}

int fm_calib_vidur_mlp(const char *path, const fm_accel *a, const fm_llm *m, fm_fits *out,
                       char **err)
{
    fm_mlp_row *rows;
    size_t n;
    fm_vidur_shape shape;
    int rc = fm_vidur_mlp_read(path, &rows, &n, &shape, err);
    if (rc)
        return rc;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        rc = oom(err);
    if (rc == 0)
        rc = fm_vidur_shape_check(&shape, m, path, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool first = true; /* first row of its TP degree: fit that degree now */
        for (size_t j = 0; j < i && first; j++)
            first = rows[j].tp != rows[i].tp;
        if (!first)
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (rows[j].tp == rows[i].tp)
                idx[k++] = j;
        rc = mlp_one_tp(path, rows, idx, k, a, m, rows[i].tp, out, err);
    }
    free(idx);
    free(rows);
    return rc;
}

/* --- vidur network CSVs --- */

int fm_calib_vidur_net(const char *path, const char *accel, fm_fits *out, fm_fit_quality *q,
                       char **err)
{
    fm_coll_row *rows;
    size_t n;
    int rc = fm_vidur_net_read(path, &rows, &n, err);
    if (rc)
        return rc;
    fm_collectives c;
    memset(&c, 0, sizeof c);
    snprintf(c.accel, sizeof c.accel, "%s", accel);
    char *msg = NULL;
    rc = fm_coll_fit_rows(rows, n, &c, q, &msg);
    if (rc)
        fail(err, fu_asprintf("%s:%s", path, msg ? msg : " cannot fit"), rc);
    else if (fm_fits_add_coll(out, &c))
        rc = oom(err);
    free(msg);
    free(rows);
    return rc;
}

/* --- DistServe coefficient files --- */

#define DS_MAX_SEQS 256

static int ds_fit(const fm_distserve_row *r, const fm_accel *a, const fm_llm *m,
                  size_t batches, uint64_t seed, fm_fits *out, fm_fit_entry *e, char **err)
{
    fm_scaled_ctx *ctx;
    int rc = fm_scaled_ctx_new(a, m, r->tp, fm_fits_coll(out, a->name), &ctx, err);
    if (rc)
        return rc;
    fm_step_terms *x = malloc(batches * sizeof *x);
    double *y = malloc(batches * sizeof *y);
    bool *held = malloc(batches * sizeof *held);
    fm_seq_work seqs[DS_MAX_SEQS];
    if (!x || !y || !held)
        rc = oom(err);
    for (size_t i = 0; rc == 0 && i < batches; i++) {
        size_t n = fm_distserve_batch(seed, i, seqs, DS_MAX_SEQS);
        fm_scaled_terms(ctx, seqs, n, &x[i]);
        y[i] = fm_distserve_eval(&r->c, seqs, n);
        held[i] = fm_fit_held_out(i);
    }
    fm_scaled_roofline_coef(ctx, a, &e->scaled);
    unsigned mask = FM_FIT_STEP | FM_FIT_SEQ | FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES |
                    FM_FIT_LIN_P | FM_FIT_ATTN_FLOPS | FM_FIT_ATTN_BYTES;
    if (rc == 0 && (rc = fm_scaled_fit(x, y, held, batches, mask, &e->scaled, &e->q, err)) == 0)
        e->has_q = true;
    free(x);
    free(y);
    free(held);
    fm_scaled_ctx_free(ctx);
    return rc;
}

int fm_calib_distserve(const char *path, const fm_catalog *cat, const fm_accel *a,
                       fm_fit_form form, size_t batches, uint64_t seed, fm_fits *out,
                       size_t *skipped, char **err)
{
    fm_distserve_row *rows = NULL;
    size_t n = 0, skip = 0;
    int rc = fm_distserve_read(path, &rows, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *short_name = strrchr(rows[i].model, '/');
        const fm_llm *m = fm_catalog_llm(cat, short_name ? short_name + 1 : rows[i].model);
        if (!m) {
            skip++;
            continue;
        }
        fm_fit_entry e = new_entry(a->name, m->name, rows[i].tp, form);
        if (form == FM_FORM_DISTSERVE) {
            e.ds = rows[i].c;
            snprintf(e.source, sizeof e.source, "%s: %s tp %d, DistServe's own coefficients",
                     base_name(path), rows[i].model, rows[i].tp);
        } else {
            snprintf(e.source, sizeof e.source, "%s: %s tp %d, fitted to DistServe's "
                     "predictions on %zu synthetic batches (seed %llu), every 5th held out",
                     base_name(path), rows[i].model, rows[i].tp, batches,
                     (unsigned long long)seed);
            rc = ds_fit(&rows[i], a, m, batches, seed, out, &e, err);
        }
        if (rc == 0 && fm_fits_add(out, &e))
            rc = oom(err);
    }
    free(rows);
    if (skipped)
        *skipped = skip;
    return rc;
}

/* --- the project's step-time CSV --- */

static bool same_key(const fm_step_row *a, const fm_step_row *b)
{
    return a->tp == b->tp && strcmp(a->accel, b->accel) == 0 && strcmp(a->model, b->model) == 0;
}

static int steps_group(const char *path, const fm_step_row *rows, size_t n, size_t first,
                       const fm_catalog *cat, unsigned mask, fm_fits *out, char **err)
{
    const fm_step_row *r0 = &rows[first];
    const fm_accel *a = fm_catalog_accel(cat, r0->accel);
    const fm_llm *m = fm_catalog_llm(cat, r0->model);
    fm_scaled_ctx *ctx;
    if (!a || !m)
        return fail(err, fu_asprintf("%s:%d: unknown %s '%s'", path, r0->line,
                                     a ? "model" : "accelerator", a ? r0->model : r0->accel),
                    -EINVAL);
    int rc = fm_scaled_ctx_new(a, m, r0->tp, fm_fits_coll(out, a->name), &ctx, err);
    if (rc)
        return rc;
    fm_step_terms *x = malloc(n * sizeof *x);
    double *y = malloc(n * sizeof *y);
    bool *held = malloc(n * sizeof *held);
    size_t k = 0;
    if (!x || !y || !held)
        rc = oom(err);
    for (size_t i = first; rc == 0 && i < n; i++)
        if (same_key(&rows[i], r0)) {
            fm_scaled_terms(ctx, rows[i].seqs, rows[i].nseqs, &x[k]);
            y[k] = rows[i].time_s;
            held[k] = fm_fit_held_out(k);
            k++;
        }
    fm_fit_entry e = new_entry(a->name, m->name, r0->tp, FM_FORM_SCALED);
    fm_scaled_roofline_coef(ctx, a, &e.scaled);
    snprintf(e.source, sizeof e.source, "%s: %zu measured steps, every 5th held out",
             base_name(path), k);
    if (rc == 0 && (rc = fm_scaled_fit(x, y, held, k, mask, &e.scaled, &e.q, err)) == 0) {
        e.has_q = true;
        if (fm_fits_add(out, &e))
            rc = oom(err);
    }
    free(x);
    free(y);
    free(held);
    fm_scaled_ctx_free(ctx);
    return rc;
}

int fm_calib_steps(const char *path, const fm_catalog *cat, unsigned mask, fm_fits *out,
                   char **err)
{
    fm_step_row *rows = NULL;
    size_t n = 0;
    int rc = fm_steps_read(path, &rows, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = !same_key(&rows[j], &rows[i]);
        if (first)
            rc = steps_group(path, rows, n, i, cat, mask, out, err);
    }
    fm_step_rows_free(rows, n);
    return rc;
}
