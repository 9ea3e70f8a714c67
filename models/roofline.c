/*
 * roofline.c: the roofline step-time model. One engine step of a TP shard is two
 * phases, each as long as the longer of its FLOP time and its memory time:
 *
 *   linear layers  FLOPs = tokens x body FLOPs/token + sequences x LM-head FLOPs
 *                  bytes = the weights the step touches (dense parts, LM head, and for
 *                          MoE min(experts, tokens x experts_per_token) experts)
 *   attention      FLOPs = sum 4 x layers x heads x head_dim x new x (context +
 *                          (new + 1) / 2)   (QK^T and PV, causal)
 *                  bytes = KV read for (context + new) tokens + KV written for new
 *
 * all divided by TP t, at peak x eff_compute and bandwidth x eff_memory; plus two ring
 * all-reduces per layer of tokens x d_model bf16 values (2(t-1)/t x size / (link x
 * eff_comm) + 2(t-1) x link latency), over NVLink-class links within a node and the
 * scale-out network beyond; plus the accelerator's fixed step overhead. It works for
 * any catalogued accelerator because it needs only data-sheet numbers and the three
 * efficiency factors. Given a fit file (fm_latency_new_with) that has collectives for
 * the accelerator, the all-reduces take their fitted latency and bandwidth instead
 * (models/collective.c); nothing else in the file is used.
 *
 * Workload: step_time() runs once per simulated step, millions of times per run, so
 * every per-replica constant is folded in create() and a step is one O(batch) pass
 * with no allocation.
 *
 * Deliberate simplifications (and rejected alternatives):
 * - Only the sampled row of each sequence goes through the LM head (vLLM computes
 *   logits at logits_indices only), so the head costs per sequence, not per token.
 * - Experts touched: min(E, tokens x k), an upper bound. The expected number of
 *   distinct experts under uniform routing, E(1 - (1 - k/E)^tokens), differs by < 3 %
 *   where it matters (small batches) and assumes a routing nobody measured.
 * - Activations' memory traffic, norms and rotary kernels are left to eff_*; so is the
 *   overlap of communication with compute (none assumed: vLLM's all-reduce sits on the
 *   critical path between layers).
 * - The LM head's input embedding is a gather: its bytes are not counted.
 */
#include "fm_latency.h"
#include "fm_fit.h"

#include <errno.h>
#include <stdlib.h>

typedef struct roofline {
    double peak_linear;   /* effective FLOP/s for the weight GEMMs */
    double peak_attn;     /* effective FLOP/s for attention */
    double bw;            /* effective bytes/s of device memory */
    double body_flops;    /* FLOPs per token per shard, LM head excluded */
    double head_flops;    /* LM-head FLOPs per sequence per shard */
    double attn_coef;     /* 4 x layers x heads x head_dim / t */
    double dense_bytes;   /* weight bytes read every step per shard (MoE: experts excluded) */
    double expert_bytes;  /* bytes of one expert over all layers per shard (MoE only) */
    double n_experts;     /* 0 for a dense model */
    double experts_active;
    double kv_per_token;  /* KV bytes per token per shard */
    double ar_s_per_token; /* all-reduce bandwidth time per token, all layers */
    double ar_latency;    /* all-reduce latency per step, all layers */
    double overhead;      /* fixed per-step overhead */
    double tp;
} roofline;

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* FP8 peak when operands are 1 byte or narrower and the part has FP8, else BF16. */
static double peak_for(const fm_accel *a, double operand_bytes)
{
    double peak = operand_bytes <= 1 && a->fp8_flops > 0 ? a->fp8_flops : a->bf16_flops;
    return peak * a->eff_compute;
}

static void fold_weights(roofline *r, const fm_llm *m, int tp)
{
    double bpp = m->weight_bytes_per_param, lm = (double)m->vocab * m->d_model;
    double gather = m->tied_embeddings ? 0 : lm; /* input embedding: rows gathered only */
    r->n_experts = m->n_experts > 1 ? m->n_experts : 0;
    r->experts_active = m->n_experts > 1 ? m->n_experts_active : 0;
    double expert_params = fm_llm_params_expert(m);
    double dense = fm_llm_params_total(m) - gather - r->n_experts * expert_params;
    r->dense_bytes = dense * bpp / tp;
    r->expert_bytes = expert_params * bpp / tp;
    r->head_flops = 2 * lm / tp;
    r->body_flops = (fm_llm_linear_flops_per_token(m) - 2 * lm) / tp;
}

/* Ring all-reduce, twice per layer, on the link that a TP group of `tp` spans. */
static void fold_comm(roofline *r, const fm_accel *a, const fm_llm *m, int tp)
{
    if (tp == 1)
        return;
    bool in_node = tp <= a->accels_per_node;
    double bw = (in_node ? a->intra_bw : a->scaleout_bw) * a->eff_comm;
    double lat = in_node ? a->intra_lat : a->scaleout_lat;
    double per_layer = 2.0; /* after attention and after the MLP */
    double ring = 2.0 * (tp - 1) / tp;
    r->ar_s_per_token = per_layer * m->n_layers * ring * m->d_model * 2.0 / bw;
    r->ar_latency = per_layer * m->n_layers * 2.0 * (tp - 1) * lat;
}

static int rl_create(const fm_accel *a, const fm_llm *m, int tp, void **self, char **err)
{
    int rc;
    if ((rc = fm_accel_validate(a, err)) || (rc = fm_llm_validate(m, err)) ||
        (rc = fm_llm_check_tp(m, tp, err)))
        return rc;
    roofline *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    r->peak_linear = peak_for(a, m->weight_bytes_per_param);
    r->peak_attn = peak_for(a, m->kv_bytes_per_elem);
    r->bw = a->mem_bw * a->eff_memory;
    r->attn_coef = 4.0 * m->n_layers * m->n_heads * m->head_dim / tp;
    r->kv_per_token = fm_llm_kv_bytes_per_token(m, tp);
    r->overhead = a->step_overhead;
    r->tp = tp;
    fold_weights(r, m, tp);
    fold_comm(r, a, m, tp);
    *self = r;
    return 0;
}

/* The all-reduces from fitted collectives: two per layer of tokens x d_model bf16 values. */
static void fitted_comm(roofline *r, const fm_collectives *c, const fm_accel *a,
                        const fm_llm *m, int tp)
{
    bool in_node = tp <= a->accels_per_node;
    double t0 = fm_coll_time(c, FM_COLL_ALL_REDUCE, tp, in_node, 0), probe = 1 << 20;
    if (tp == 1 || t0 < 0)
        return;
    double slope = (fm_coll_time(c, FM_COLL_ALL_REDUCE, tp, in_node, probe) - t0) / probe;
    r->ar_s_per_token = 2.0 * m->n_layers * 2.0 * m->d_model * slope;
    r->ar_latency = 2.0 * m->n_layers * t0;
}

static int rl_create_with(const fm_accel *a, const fm_llm *m, int tp, const char *params,
                          void **self, char **err)
{
    fm_fits *fits = NULL;
    int rc = fm_fits_load(params, &fits, err);
    if (rc == 0 && (rc = rl_create(a, m, tp, self, err)) == 0 && fm_fits_coll(fits, a->name))
        fitted_comm(*self, fm_fits_coll(fits, a->name), a, m, tp);
    fm_fits_free(fits);
    return rc;
}

/* Adds a phase's time to compute or memory, whichever bound it. */
static double phase(double flop_s, double byte_s, fm_step_breakdown *bd)
{
    if (flop_s >= byte_s)
        bd->compute += flop_s;
    else
        bd->memory += byte_s;
    return flop_s >= byte_s ? flop_s : byte_s;
}

static double rl_step_time(void *self, const fm_seq_work *seqs, size_t n,
                           fm_step_breakdown *out)
{
    const roofline *r = self;
    fm_step_breakdown bd = {.overhead = r->overhead};
    if (n > 0) {
        double tokens = 0, attn = 0, kv_tokens = 0;
        for (size_t i = 0; i < n; i++) {
            double nw = seqs[i].new_tokens, ctx = seqs[i].context;
            tokens += nw;
            attn += nw * (ctx + (nw + 1) * 0.5);
            kv_tokens += ctx + 2 * nw; /* read context + new, write new */
        }
        double touched = tokens * r->experts_active;
        if (touched > r->n_experts)
            touched = r->n_experts;
        double lin_flops = tokens * r->body_flops + (double)n * r->head_flops;
        double lin_bytes = r->dense_bytes + touched * r->expert_bytes;
        double attn_flops = attn * r->attn_coef, kv_bytes = kv_tokens * r->kv_per_token;
        phase(lin_flops / r->peak_linear, lin_bytes / r->bw, &bd);
        phase(attn_flops / r->peak_attn, kv_bytes / r->bw, &bd);
        bd.comm = tokens * r->ar_s_per_token + r->ar_latency; /* 0 at tp 1 */
        bd.flops = (lin_flops + attn_flops) * r->tp;
        bd.bytes = lin_bytes + kv_bytes;
    }
    bd.total = bd.compute + bd.memory + bd.comm + bd.overhead;
    if (out)
        *out = bd;
    return bd.total;
}

static void rl_destroy(void *self) { free(self); }

const fm_latency_ops fm_roofline_ops = {
    .name = "roofline",
    .create = rl_create,
    .step_time = rl_step_time,
    .destroy = rl_destroy,
    .create_with = rl_create_with,
};
