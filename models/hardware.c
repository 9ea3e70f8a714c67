/*
 * hardware.c: quantities that follow from an LLM's architecture and an accelerator's
 * description: parameter counts, weight bytes, FLOPs and KV bytes per token, the
 * consistency checks of both structs, and vLLM-style sizing of a replica's KV cache.
 *
 * Everything here is pure arithmetic on small structs and runs once per replica (or
 * once per latency model), never per simulated step, so clarity wins over speed.
 *
 * Parameter counts are the usual approximation for decoder-only transformers: input
 * embedding + attention (Q, K, V, O projections) + MLP (3 matrices when gated, 2
 * otherwise) per expert + MoE router + two RMSNorm vectors per layer + final norm +
 * LM head (unless tied). Biases, rotary tables, attention sinks and per-head q/k norms
 * are left out: they are well under 0.1 % of any catalogued model.
 */
#include "fm_models.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Runtime memory outside torch's allocator that vLLM's profiling sees as non-KV: CUDA
 * context and kernels (~0.5 GB), cuBLAS/cuBLASLt workspaces, NCCL buffers at TP > 1,
 * allocator fragmentation. 1.5 GB is a middle value of the 1-2 GB seen in vLLM start-up
 * logs on H100; accelerators with other runtimes are assumed alike for lack of data.
 */
#define RUNTIME_RESERVE_BYTES 1.5e9
/* Activations are bf16 in every catalogued model; logits are sampled in fp32. */
#define ACT_BYTES 2.0
#define LOGIT_BYTES 4.0

/* --- parameter counts --- */

static bool is_moe(const fm_llm *m) { return m->n_experts > 1; }

static double experts_total(const fm_llm *m) { return is_moe(m) ? m->n_experts : 1; }

static double experts_active(const fm_llm *m) { return is_moe(m) ? m->n_experts_active : 1; }

/* Q, K, V and O projections of one layer. */
static double attn_params_per_layer(const fm_llm *m)
{
    double d = m->d_model, q = (double)m->n_heads * m->head_dim;
    double kv = (double)m->n_kv_heads * m->head_dim;
    return d * q + 2 * d * kv + q * d;
}

/* Router (MoE) and the two norm vectors of one layer: touched by every token. */
static double misc_params_per_layer(const fm_llm *m)
{
    return (is_moe(m) ? (double)m->d_model * m->n_experts : 0) + 2.0 * m->d_model;
}

/* Input embedding, LM head (unless tied) and final norm. */
static double embedding_params(const fm_llm *m)
{
    double e = (double)m->vocab * m->d_model;
    return (m->tied_embeddings ? e : 2 * e) + m->d_model;
}

double fm_llm_params_expert(const fm_llm *m)
{
    return (m->gated_mlp ? 3.0 : 2.0) * m->d_model * m->d_ff * m->n_layers;
}

/* Parameters with `experts` MLP copies per layer. */
static double params_with_experts(const fm_llm *m, double experts)
{
    double per_layer = attn_params_per_layer(m) + misc_params_per_layer(m);
    return per_layer * m->n_layers + experts * fm_llm_params_expert(m) + embedding_params(m);
}

double fm_llm_params_total(const fm_llm *m) { return params_with_experts(m, experts_total(m)); }

double fm_llm_params_active(const fm_llm *m) { return params_with_experts(m, experts_active(m)); }

double fm_llm_weight_bytes(const fm_llm *m)
{
    return fm_llm_params_total(m) * m->weight_bytes_per_param;
}

/*
 * The input embedding is a gather, not a matmul, so it costs no FLOPs; with tied
 * embeddings the one matrix is still multiplied once, as the LM head.
 */
double fm_llm_linear_flops_per_token(const fm_llm *m)
{
    double gather = m->tied_embeddings ? 0 : (double)m->vocab * m->d_model;
    return 2 * (fm_llm_params_active(m) - gather);
}

double fm_llm_kv_bytes_per_token(const fm_llm *m, int tp)
{
    assert(tp >= 1);
    int heads = m->n_kv_heads / tp; /* vLLM's integer division, then at least one head */
    if (heads < 1)
        heads = 1;
    return 2.0 * m->n_layers * heads * m->head_dim * m->kv_bytes_per_elem;
}

/* --- validation --- */

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* The first structural problem of an LLM description, or NULL. */
static const char *llm_problem(const fm_llm *m)
{
    if (m->n_layers < 1 || m->d_model < 1 || m->n_heads < 1 || m->head_dim < 1)
        return "layers, hidden_size, heads and head_dim must be positive";
    if (m->n_kv_heads < 1 || m->n_kv_heads > m->n_heads || m->n_heads % m->n_kv_heads)
        return "kv_heads must be between 1 and heads and divide heads";
    if (m->d_ff < 1 || m->vocab < 1 || m->max_model_len < 1)
        return "intermediate_size, vocab_size and max_model_len must be positive";
    if (m->n_experts < 0 || (is_moe(m) && (m->n_experts_active < 1 ||
                                           m->n_experts_active > m->n_experts)))
        return "a mixture of experts needs 1 <= experts_per_token <= experts";
    if (!(m->weight_bytes_per_param > 0) || !(m->kv_bytes_per_elem > 0))
        return "weight_bytes and kv_bytes must be positive";
    return NULL;
}

int fm_llm_validate(const fm_llm *m, char **err)
{
    const char *p = llm_problem(m);
    return p ? fail(err, fu_asprintf("model '%s': %s", m->name, p)) : 0;
}

int fm_llm_check_tp(const fm_llm *m, int tp, char **err)
{
    if (tp >= 1 && m->n_heads % tp == 0)
        return 0;
    return fail(err, fu_asprintf("tp %d must be a positive divisor of %s's %d attention heads",
                                 tp, m->name, m->n_heads));
}

static bool in_unit(double x) { return x > 0 && x <= 1; }

/* The first inconsistency of an accelerator description, or NULL. */
static const char *accel_problem(const fm_accel *a)
{
    if (!(a->bf16_flops > 0) || !(a->fp8_flops >= 0))
        return "bf16_tflops must be positive and fp8_tflops not negative";
    if (!(a->mem_bytes > 0) || !(a->mem_bw > 0))
        return "memory_gb and memory_tbps must be positive";
    if (!(a->intra_bw > 0) || !(a->scaleout_bw > 0) || a->accels_per_node < 1)
        return "intra_node_gbps, scaleout_gbit and accels_per_node must be positive";
    if (!(a->intra_lat >= 0) || !(a->scaleout_lat >= 0) || !(a->step_overhead >= 0))
        return "latencies and step_overhead_us must not be negative";
    if (!in_unit(a->eff_compute) || !in_unit(a->eff_memory) || !in_unit(a->eff_comm))
        return "eff_compute, eff_memory and eff_comm must be in (0, 1]";
    if (!(a->idle_w >= 0) || !(a->tdp_w >= a->idle_w) || !(a->price_per_hour >= 0))
        return "need 0 <= idle_w <= tdp_w and price_per_hour >= 0";
    return NULL;
}

int fm_accel_validate(const fm_accel *a, char **err)
{
    const char *p = accel_problem(a);
    return p ? fail(err, fu_asprintf("accelerator '%s': %s", a->name, p)) : 0;
}

/* --- KV sizing --- */

/*
 * Activation peak of vLLM's profiling forward over `tokens` tokens, per shard: the
 * residual stream and its normed copy, attention output and MLP output (4 x d_model,
 * not sharded), the QKV projection output, and the MLP's up/gate output plus the
 * activated product ((3 or 2) x d_ff per routed expert, sharded). Rejected: profiling
 * the real allocator's high-water mark, which needs the framework; this estimate is
 * within a few hundred MB of vLLM's logged peak for Llama-class models.
 */
static double activation_peak(const fm_llm *m, int tp, double tokens)
{
    double qkv = (double)(m->n_heads + 2 * m->n_kv_heads) * m->head_dim / tp;
    double mlp = (m->gated_mlp ? 3.0 : 2.0) * m->d_ff * experts_active(m) / tp;
    return tokens * ACT_BYTES * (4.0 * m->d_model + qkv + mlp);
}

/* Sampler pass of the profiling run: one fp32 logits row per sequence, plus the probs. */
static double logits_peak(const fm_llm *m, int max_num_seqs)
{
    return 2.0 * max_num_seqs * m->vocab * LOGIT_BYTES;
}

static int does_not_fit(const fm_accel *a, const fm_llm *m, int tp, double util,
                        const fm_kv_sizing *s, char **err)
{
    if (s->weight_bytes >= s->requested_bytes) {
        if (tp == 1)
            return fail(err, fu_asprintf("%s needs %.0f GB of weights per replica; 1 x %s "
                                         "offers %.0f GB at gpu_memory_utilization %g: raise tp",
                                         m->name, s->weight_bytes / 1e9, a->name,
                                         s->requested_bytes / 1e9, util));
        return fail(err, fu_asprintf("%s needs %.0f GB of weights per accelerator at tp %d; "
                                     "%s offers %.0f GB at gpu_memory_utilization %g: raise tp",
                                     m->name, s->weight_bytes / 1e9, tp, a->name,
                                     s->requested_bytes / 1e9, util));
    }
    return fail(err, fu_asprintf("%s at tp %d needs %.1f GB of weights and %.1f GB of "
                                 "activation and runtime reserve per accelerator; %s offers "
                                 "%.1f GB at gpu_memory_utilization %g, which leaves no room "
                                 "for one KV block: raise tp or lower max_num_batched_tokens",
                                 m->name, tp, s->weight_bytes / 1e9, s->activation_bytes / 1e9,
                                 a->name, s->requested_bytes / 1e9, util));
}

int fm_kv_size(const fm_accel *a, const fm_llm *m, int tp, double gpu_memory_utilization,
               int block_size, int max_num_batched_tokens, int max_num_seqs,
               fm_kv_sizing *out, char **err)
{
    assert(a && m && out && block_size >= 1 && max_num_batched_tokens >= 1);
    assert(max_num_seqs >= 1 && gpu_memory_utilization > 0 && gpu_memory_utilization <= 1);
    int rc = fm_llm_check_tp(m, tp, err);
    if (rc)
        return rc;
    fm_kv_sizing s = {0};
    s.requested_bytes = ceil(a->mem_bytes * gpu_memory_utilization);
    s.weight_bytes = fm_llm_weight_bytes(m) / tp;
    s.activation_bytes = activation_peak(m, tp, max_num_batched_tokens) +
                         logits_peak(m, max_num_seqs) + RUNTIME_RESERVE_BYTES;
    s.kv_bytes = s.requested_bytes - s.weight_bytes - s.activation_bytes;
    s.kv_bytes_per_token = fm_llm_kv_bytes_per_token(m, tp);
    /* vLLM floors per layer (bytes / page / layers); per-token flooring is the same
     * number because every layer of a uniform full-attention model has equal pages. */
    double blocks = s.kv_bytes > 0 ? floor(s.kv_bytes / (block_size * s.kv_bytes_per_token)) : 0;
    if (blocks < 2) /* block 0 is vLLM's null block, never handed out */
        return does_not_fit(a, m, tp, gpu_memory_utilization, &s, err);
    s.num_blocks = (int64_t)blocks - 1;
    s.num_tokens = s.num_blocks * block_size;
    *out = s;
    return 0;
}
