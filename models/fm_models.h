/*
 * fm_models.h: what hardware and LLMs are, as data (libfleetmodels).
 *
 * An accelerator (GPU, TPU, ASIC) is its peak compute, memory, links, power and price
 * plus achievable-efficiency factors; an LLM is its architecture (dense, GQA or MoE)
 * and dtypes. Both come from catalogue files (YAML under models/catalog/), from a scenario
 * that names a catalogue entry and overrides fields, from an inline definition, or (for
 * LLMs) from a Hugging Face config.json. From them follow weight bytes, FLOPs per
 * token, KV bytes per token per tensor-parallel shard and the KV block count of a
 * replica.
 *
 * All quantities are SI: FLOP/s, bytes, bytes/s, seconds, watts, USD per hour.
 * Catalogue files use the units people quote (TFLOPS, GB, TB/s, GB/s, us) and the
 * field tables convert.
 *
 * Ownership: structs are plain values the caller owns; a catalogue owns its entries
 * and fm_catalog_free() releases them. Errors: 0 or negative errno, message through
 * `char **err` (malloc'd, caller frees). Depends on no other part of the tree.
 */
#ifndef FM_MODELS_H
#define FM_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fu_yaml.h"

#define FM_NAME_MAX 64

typedef struct fm_accel {
    char name[FM_NAME_MAX];     /* catalogue key, e.g. "H100-SXM" */
    char vendor[32];
    double bf16_flops;          /* peak dense BF16 FLOP/s */
    double fp8_flops;           /* peak dense FP8 FLOP/s; 0 = no FP8 (falls back to BF16) */
    double mem_bytes;           /* device memory, bytes */
    double mem_bw;              /* device memory bandwidth, bytes/s */
    double intra_bw;            /* intra-node link bandwidth per accelerator, one direction, bytes/s */
    double intra_lat;           /* intra-node link latency, s */
    int accels_per_node;
    double scaleout_bw;         /* scale-out network per accelerator, bytes/s */
    double scaleout_lat;        /* scale-out latency, s */
    double tdp_w;               /* board power at full load, W */
    double idle_w;              /* power when idle, W */
    double price_per_hour;      /* USD per accelerator-hour; 0 = unknown */
    char price_source[96];
    double eff_compute;         /* achievable fraction of peak FLOP/s (0,1] */
    double eff_memory;          /* achievable fraction of memory bandwidth (0,1] */
    double eff_comm;            /* achievable fraction of link bandwidth (0,1] */
    double step_overhead;       /* fixed per-step overhead (launch, scheduling), s */
} fm_accel;

typedef struct fm_llm {
    char name[FM_NAME_MAX];     /* catalogue key, e.g. "llama-3.1-8b" */
    int n_layers;
    int d_model;                /* hidden size */
    int n_heads;                /* query heads */
    int n_kv_heads;             /* key/value heads (GQA when < n_heads) */
    int head_dim;
    int d_ff;                   /* MLP intermediate size (per expert for MoE) */
    int vocab;
    int n_experts;              /* 0 or 1 = dense */
    int n_experts_active;       /* experts per token (MoE) */
    bool gated_mlp;             /* SwiGLU-style: 3 matrices instead of 2 */
    bool tied_embeddings;
    double weight_bytes_per_param; /* 2 = bf16, 1 = fp8 */
    double kv_bytes_per_elem;   /* 2 = bf16, 1 = fp8 KV cache */
    int max_model_len;          /* context window, tokens */
} fm_llm;

/* --- derived quantities (all pure) --- */

/*
 * Total parameters, and parameters touched per token (MoE: active experts only):
 * embeddings (+ LM head unless tied), Q/K/V/O, MLP (3 matrices when gated, else 2)
 * per expert, router, norms. Biases and other sub-0.1 % terms are left out.
 */
double fm_llm_params_total(const fm_llm *m);
double fm_llm_params_active(const fm_llm *m);
/* Parameters of one expert's MLP summed over all layers (a dense model: its MLP). */
double fm_llm_params_expert(const fm_llm *m);
/* Bytes of all weights (whole model, not per shard). */
double fm_llm_weight_bytes(const fm_llm *m);
/*
 * Matmul FLOPs per token excluding attention over the context: 2 x active parameters
 * without the input embedding (a gather), LM head included.
 */
double fm_llm_linear_flops_per_token(const fm_llm *m);
/* KV-cache bytes per token held by one TP shard: 2 x layers x max(1, kv_heads/tp) x head_dim x dtype. */
double fm_llm_kv_bytes_per_token(const fm_llm *m, int tp);
/*
 * Check internal consistency (positive sizes, kv_heads divides heads, efficiencies in
 * (0, 1], idle_w <= tdp_w, ...); 0 or -EINVAL with a message naming the entry.
 */
int fm_llm_validate(const fm_llm *m, char **err);
int fm_accel_validate(const fm_accel *a, char **err);
/* 0 when tp >= 1 divides the attention heads (vLLM's rule), else -EINVAL. */
int fm_llm_check_tp(const fm_llm *m, int tp, char **err);

/* How a replica's KV capacity was sized, vLLM style (reference/vllm-engine.md §3). */
typedef struct fm_kv_sizing {
    double requested_bytes;     /* memory x gpu_memory_utilization */
    double weight_bytes;        /* per shard */
    double activation_bytes;    /* activation peak + runtime reserve, per shard */
    double kv_bytes;            /* what is left for the KV cache, per shard */
    double kv_bytes_per_token;  /* per shard */
    int64_t num_blocks;         /* usable blocks: vLLM's num_gpu_blocks - 1 (null block) */
    int64_t num_tokens;         /* num_blocks x block_size (usable tokens) */
} fm_kv_sizing;

/*
 * Sizes the KV cache of one replica of `m` on `tp` accelerators `a`, per shard:
 * requested = memory x gpu_memory_utilization; weights = weight bytes / tp; reserve =
 * activation peak of one forward over max_num_batched_tokens + fp32 logits (and probs)
 * for max_num_seqs rows + 1.5 GB runtime (CUDA context, cuBLAS, NCCL); KV = the rest,
 * floored to whole blocks. Fails with -EINVAL and a message ("... raise tp") when the
 * weights and reserve leave no block, or when tp does not divide the heads; *out is
 * only written on success. Whether max_model_len fits is the caller's check.
 */
int fm_kv_size(const fm_accel *a, const fm_llm *m, int tp, double gpu_memory_utilization,
               int block_size, int max_num_batched_tokens, int max_num_seqs,
               fm_kv_sizing *out, char **err);

/* --- catalogues --- */

typedef struct fm_catalog fm_catalog;

/*
 * Loads every *.yaml catalogue file in directory `dir` (accelerators: and llms:
 * top-level keys). Errors name file:line:column.
 */
int fm_catalog_load_dir(const char *dir, fm_catalog **out, char **err);
void fm_catalog_free(fm_catalog *c);
/* Looks up by name, case-insensitively; NULL when absent. */
const fm_accel *fm_catalog_accel(const fm_catalog *c, const char *name);
const fm_llm *fm_catalog_llm(const fm_catalog *c, const char *name);
size_t fm_catalog_n_accels(const fm_catalog *c);
const fm_accel *fm_catalog_accel_at(const fm_catalog *c, size_t i);
size_t fm_catalog_n_llms(const fm_catalog *c);
const fm_llm *fm_catalog_llm_at(const fm_catalog *c, size_t i);

/*
 * Reads an accelerator or LLM from a YAML mapping on top of *inout (fields absent from
 * the mapping keep their value), so a scenario can start from a catalogue entry and
 * override any field. Keys are those of the catalogue files plus `name`; `base` (and
 * for LLMs `hf_config`) are left to the caller. Unknown keys and out-of-range values are errors
 * naming file:line:col. An LLM left with kv_heads, head_dim, weight_bytes or kv_bytes
 * at 0 gets the default (heads, hidden_size / heads, 2, 2). Does not call the
 * validators (the caller does, once the entry is complete). On error *inout is
 * unchanged.
 */
int fm_accel_from_yaml(fu_ynode map, fm_accel *inout, char **err);
int fm_llm_from_yaml(fu_ynode map, fm_llm *inout, char **err);
/*
 * Reads an LLM from a Hugging Face config.json (jansson) into *out. The name is the
 * last part of "_name_or_path", else the parent directory of a file called
 * config.json, else the file name without ".json". Fails with -ENOENT/-EIO for the
 * file and -EINVAL naming the file and the missing or bad key; validates the result.
 */
int fm_llm_from_hf_config(const char *path, fm_llm *out, char **err);

/*
 * The directory holding the bundled catalogue: $FLEETSIM_DATADIR/catalog when set,
 * else the installed data directory, else the source tree's models/catalog.
 */
const char *fm_default_catalog_dir(void);

#endif
