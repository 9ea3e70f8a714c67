/*
 * fm_latency.h: the time of one engine step, behind one interface.
 *
 * A latency model predicts how long one forward pass (one step of continuous
 * batching) takes on a replica, given the batch's composition: for each scheduled
 * sequence, how many new tokens it computes this step and how many tokens of context
 * it already has in the KV cache. Implementations: "roofline" (from FLOPs, bytes and
 * interconnect with per-accelerator efficiency factors; works for any catalogued
 * accelerator); "fitted" (coefficients fitted to measurements: roofline terms scaled by
 * fitted factors plus overheads, or DistServe's polynomials); "profile" (interpolated
 * measured per-layer times). The last two read their numbers from a fit file
 * (fm_fit.h) named by the scenario's `latency_params:`, or from the bundled fits
 * directory when none is named; the roofline reads only fitted collectives from it.
 *
 * The simulator calls step_time() once per step, so implementations are O(batch) with
 * no allocation. Ownership: fm_latency_new() copies what it needs from its inputs; the
 * caller frees the model with fm_latency_free().
 */
#ifndef FM_LATENCY_H
#define FM_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#include "fm_models.h"

/* One scheduled sequence in a step. */
typedef struct fm_seq_work {
    uint32_t new_tokens; /* tokens computed this step (prefill chunk, or 1 for decode) */
    uint32_t context;    /* tokens already in the KV cache before this step */
} fm_seq_work;

/*
 * Where a step's time goes, in seconds. total = the predicted step time =
 * compute + memory + comm + overhead. A step has phases (for the roofline: the linear
 * layers, then attention), each taking the longer of its FLOP time and its memory
 * time; a phase's time is counted under compute when FLOPs won and under memory when
 * bytes won, so compute vs memory says which bound dominated.
 */
typedef struct fm_step_breakdown {
    double total;
    double compute;      /* time of phases bound by FLOPs */
    double memory;       /* time of phases bound by memory traffic (weights, KV) */
    double comm;         /* tensor-parallel collectives */
    double overhead;     /* fixed per-step overhead */
    double flops;        /* FLOPs of the step (whole replica) */
    double bytes;        /* device-memory bytes moved per shard */
} fm_step_breakdown;

typedef struct fm_latency fm_latency;

/* Operations of one latency-model implementation (found by name). */
typedef struct fm_latency_ops {
    const char *name;
    /* Builds the model's private state for this replica; 0 or -errno with *err. */
    int (*create)(const fm_accel *a, const fm_llm *m, int tp, void **self, char **err);
    /* Predicted step time in seconds, finite and >= 0; fills *bd when not NULL. n may be
       0 (returns overhead). */
    double (*step_time)(void *self, const fm_seq_work *seqs, size_t n, fm_step_breakdown *bd);
    void (*destroy)(void *self);
    /*
     * Like create, with a parameter file (a fit file, fm_fit.h; never NULL here).
     * NULL when the model takes no parameters.
     */
    int (*create_with)(const fm_accel *a, const fm_llm *m, int tp, const char *params,
                       void **self, char **err);
} fm_latency_ops;

/* The roofline model (models/roofline.c); registered in models/latency.c's table. */
extern const fm_latency_ops fm_roofline_ops;
/* The fitted and profile-table models (models/fitted.c, models/profile.c). */
extern const fm_latency_ops fm_fitted_ops;
extern const fm_latency_ops fm_profile_ops;

/* Looks up an implementation by name ("roofline"); NULL when unknown. */
const fm_latency_ops *fm_latency_find(const char *name);
/* The i-th registered implementation, NULL past the end (for listing names). */
const fm_latency_ops *fm_latency_at(size_t i);

/*
 * Creates a model of `kind` for a replica of `m` on `tp` accelerators `a`; 0, or
 * -EINVAL with *err for an unknown kind or a replica the model rejects (invalid
 * accelerator or LLM, tp not dividing the heads), -ENOMEM.
 */
int fm_latency_new(const char *kind, const fm_accel *a, const fm_llm *m, int tp,
                   fm_latency **out, char **err);
/*
 * The same with a parameter file (`params`, a fit file or a directory of them; NULL or
 * "" = none, exactly fm_latency_new). -EINVAL when the kind takes no parameters, or
 * with the file's own errors (file:line:column), or when it has no entry for this
 * accelerator, model and TP (the message lists what it has).
 */
int fm_latency_new_with(const char *kind, const fm_accel *a, const fm_llm *m, int tp,
                        const char *params, fm_latency **out, char **err);
/* Frees the model; accepts NULL. */
void fm_latency_free(fm_latency *l);
/* Predicted step time in seconds; see fm_latency_ops.step_time. */
double fm_latency_step(fm_latency *l, const fm_seq_work *seqs, size_t n,
                       fm_step_breakdown *bd);

#endif
