/*
 * profile.c: the "profile" latency model: measured per-layer times of the linear
 * layers (projections, MLP, norms, activations: vidur's mlp.csv operators summed),
 * interpolated linearly in the step's token count, times the number of layers; the
 * parts the profiles do not cover (attention, whose profiles are missing from the
 * shared data, and the LM head) come from the roofline with the accelerator's
 * efficiency factors, the TP all-reduces from fitted collectives when the fit file has
 * them, and the accelerator's fixed step overhead.
 *
 * Interpolation, not a fit: it reproduces every measured point exactly and is as good
 * between points as the grid is dense (vidur measures every 8-64 tokens up to 4k-32k).
 * Beyond the last point it extrapolates along the last segment, which for GEMMs in
 * their compute-bound regime is the right shape. Rejected: per-operator tables (vidur's
 * own approach) gain nothing when the operators are only ever summed.
 *
 * Workload: step_time() runs once per simulated step: O(batch) for the batch terms
 * plus one binary search in the table, no allocation.
 */
#include "fm_fit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

typedef struct profile {
    fm_scaled_ctx *ctx;
    fm_scaled_coef k;          /* roofline-equivalent, for attention, head and comm */
    fm_fit_entry table;        /* tokens and layer_s owned here */
    double layers;
} profile;

static void profile_destroy(void *self)
{
    profile *p = self;
    if (!p)
        return;
    fm_scaled_ctx_free(p->ctx);
    free(p->table.tokens);
    free(p->table.layer_s);
    free(p);
}

static int take_table(profile *p, const fm_fit_entry *e)
{
    p->table = *e;
    p->table.tokens = malloc(e->npoints * sizeof(double));
    p->table.layer_s = malloc(e->npoints * sizeof(double));
    if (!p->table.tokens || !p->table.layer_s)
        return -ENOMEM;
    for (size_t i = 0; i < e->npoints; i++) {
        p->table.tokens[i] = e->tokens[i];
        p->table.layer_s[i] = e->layer_s[i];
    }
    return 0;
}

static int profile_create_with(const fm_accel *a, const fm_llm *m, int tp, const char *params,
                               void **self, char **err)
{
    fm_fits *fits;
    const fm_fit_entry *e;
    int rc = fm_fits_lookup(params, 1u << FM_FORM_PROFILE, "profile", a, m, tp, &fits, &e,
                            err);
    if (rc)
        return rc;
    profile *p = calloc(1, sizeof *p);
    if (!p || take_table(p, e)) {
        rc = -ENOMEM;
        if (err)
            *err = fu_asprintf("out of memory");
    }
    if (rc == 0)
        rc = fm_scaled_ctx_new(a, m, tp, fm_fits_coll(fits, a->name), &p->ctx, err);
    if (rc == 0) {
        fm_scaled_roofline_coef(p->ctx, a, &p->k);
        p->layers = m->n_layers;
        *self = p;
    } else
        profile_destroy(p);
    fm_fits_free(fits);
    return rc;
}

static int profile_create(const fm_accel *a, const fm_llm *m, int tp, void **self, char **err)
{
    return profile_create_with(a, m, tp, NULL, self, err);
}

static double profile_step(void *self, const fm_seq_work *seqs, size_t n,
                           fm_step_breakdown *out)
{
    const profile *p = self;
    fm_step_terms t, layer;
    double tokens = 0;
    for (size_t i = 0; i < n; i++)
        tokens += seqs[i].new_tokens;
    fm_scaled_terms(p->ctx, seqs, n, &t);
    fm_scaled_layer_terms(p->ctx, tokens, &layer);
    /* What is left of the linear phase once the layers are taken out: the LM head. */
    t.lin_flop_s = fmax(0, t.lin_flop_s - p->layers * layer.lin_flop_s);
    t.lin_byte_s = fmax(0, t.lin_byte_s - p->layers * layer.lin_byte_s);
    fm_step_breakdown bd;
    fm_scaled_eval(&p->k, &t, &bd);
    if (n > 0) {
        double lin = p->layers * fm_profile_interp(&p->table, tokens);
        bool flop_bound = p->k.lin_flops * layer.lin_flop_s >= p->k.lin_bytes * layer.lin_byte_s;
        if (flop_bound)
            bd.compute += lin;
        else
            bd.memory += lin;
        bd.total += lin;
    }
    if (out)
        *out = bd;
    return bd.total;
}

const fm_latency_ops fm_profile_ops = {
    .name = "profile",
    .create = profile_create,
    .step_time = profile_step,
    .destroy = profile_destroy,
    .create_with = profile_create_with,
};
