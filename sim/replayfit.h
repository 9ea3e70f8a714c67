/*
 * replayfit.h: calibration from per-request timings of a real serving benchmark.
 *
 * A benchmark run (vLLM's benchmark tools, or any harness that records, per request,
 * when it was sent, its input and output tokens, and when its first and last tokens
 * came back) is replayed through one replica's engine (sim/engine.h, clock-free) with
 * the server's settings (max_num_seqs, max_num_batched_tokens, KV blocks, block size),
 * each step timed by a latency model; the predicted TTFT and TPOT of every request
 * are compared with the measured ones. Calibration searches the scaled form's
 * coefficients (models/fm_fit.h) that make the replay match: Nelder-Mead
 * (gsl_multimin nmsimplex2) on the coefficients' logarithms, minimising the mean
 * squared log-ratio of predicted to measured TPOT per request plus that of TTFT
 * compared rank by rank, over the requests not held out (fm_fit_held_out on the
 * request index), restarted from its best point until a restart gains less than 1 %.
 * Nelder-Mead rather than a gradient method because the replay is piecewise smooth: a
 * coefficient that moves a step end past an arrival changes which requests share the
 * next batch.
 *
 * What the data can tell: TTFT fixes the prefill speed (lin_flops) well; TPOT fixes
 * the decode step, but splits it between weight reads (lin_bytes) and KV reads
 * (attn_bytes) only when the benchmark runs decode batches whose total context varies
 * widely (high load, long prompts). A light-load benchmark leaves that split loose.
 *
 * Workload: benchmark runs of hundreds to tens of thousands of requests; one replay
 * is O(steps x batch) with no allocation per step, and a fit needs a few hundred
 * replays.
 *
 * Ownership: arrays returned through out-parameters are malloc'd and the caller's
 * (free(), fs_replay_result_free()). Errors: 0 or negative errno with a malloc'd
 * message naming file:line for bad input.
 */
#ifndef FS_REPLAYFIT_H
#define FS_REPLAYFIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "fm_fit.h"

/* One measured request; times in seconds from the first arrival. */
typedef struct fs_timed_req {
    double arrival_s;
    uint32_t input_tokens, output_tokens;
    double ttft_s;              /* first token - arrival */
    double e2e_s;               /* last token - arrival */
    int line;                   /* where it came from (1-based; 0 for array files) */
} fs_timed_req;

/*
 * Reads per-request timings, sorted by arrival and shifted so the first arrives at 0.
 * Formats, recognised by content:
 *   CSV with a header, or JSON lines, with per request: an arrival time
 *   (arrival_time|arrival_s|start_time|send_time|timestamp, s), input tokens
 *   (input_tokens|prompt_tokens|input_len|prompt_len), output tokens
 *   (output_tokens|completion_tokens|output_len), the first token as an absolute time
 *   (first_token_time) or a latency (ttft, or ttft_ms), and the last token as an
 *   absolute time (last_token_time) or a latency (e2e|latency|e2e_latency, or e2e_ms|
 *   latency_ms);
 *   a vLLM benchmark result (one JSON object with the arrays input_lens, output_lens,
 *   ttfts, itls and start_times, as --save-result --save-detailed writes them, the
 *   start times added by the harness): e2e = ttft + the sum of the request's itls.
 * Requests with no output tokens (failed) are skipped. -EINVAL names file:line and the
 * field; a file with no usable request is an error.
 */
int fs_timings_read(const char *path, fs_timed_req **out, size_t *n, char **err);

/* The benchmarked server's settings; 0 = vLLM's default (or sized from memory). */
typedef struct fs_server_opts {
    int max_num_seqs, max_num_batched_tokens, block_size, max_model_len;
    int64_t num_gpu_blocks;     /* the KV block count the server logged; 0 = fm_kv_size */
    double gpu_memory_utilization;
    bool no_chunked_prefill;
} fs_server_opts;

/*
 * The engine config of a replica of m on tp x a with these settings: vLLM's defaults,
 * overridden; KV blocks from num_gpu_blocks or sized as vLLM would (fm_kv_size);
 * max_model_len defaults to the model's. -EINVAL when the model does not fit.
 */
int fs_server_engine_config(const fm_accel *a, const fm_llm *m, int tp,
                            const fs_server_opts *o, fs_engine_config *out, char **err);

/* A step-time function: the latency model the replay uses. */
typedef double (*fs_step_fn)(void *ctx, const fm_seq_work *seqs, size_t n);

/* What a replay predicted, per request (NaN for a request the engine rejected). */
typedef struct fs_replay_result {
    double *ttft_s, *e2e_s;
    size_t n, rejected;
    double makespan_s;          /* first arrival to last token */
    uint64_t steps;
} fs_replay_result;

/*
 * Replays n requests (sorted by arrival) through one engine with config cfg
 * (num_blocks set), timing each step with fn. Prompts are distinct (no prefix hits).
 * -EINVAL for an invalid config, -ENOMEM.
 */
int fs_replay(const fs_timed_req *r, size_t n, const fs_engine_config *cfg, fs_step_fn fn,
              void *ctx, fs_replay_result *out, char **err);
void fs_replay_result_free(fs_replay_result *res);

/* Errors of a replay against the measurements. */
typedef struct fs_replay_errors {
    fm_fit_quality ttft, tpot;  /* absolute % errors per request, fitted vs held-out */
    double measured_tps, predicted_tps; /* output tokens per second over the makespan */
    double measured_ttft_p50, predicted_ttft_p50, measured_ttft_p90, predicted_ttft_p90;
    double measured_tpot_p50, predicted_tpot_p50, measured_tpot_p90, predicted_tpot_p90;
} fs_replay_errors;

/* Compares a replay with the measurements it replayed. */
void fs_replay_compare(const fs_timed_req *r, size_t n, const fs_replay_result *p,
                       fs_replay_errors *out);

/*
 * Fits the coefficients in `mask` (fm_fit.h bits) of the scaled form on ctx so that a
 * replay matches the measured TTFT and TPOT; *k is the start on entry and the result
 * on success; *q (may be NULL) gets the final replay's errors. -EINVAL when no
 * coefficient is free or fewer than 10 requests have both TTFT and TPOT, -EDOM when
 * the search does not converge in 1,500 replays (k still gets the best point found).
 */
int fs_replay_calibrate(const fs_timed_req *r, size_t n, const fs_engine_config *cfg,
                        const fm_scaled_ctx *ctx, unsigned mask, fm_scaled_coef *k,
                        fs_replay_errors *q, char **err);

/* The scaled form as an fs_step_fn; ctx is an fs_scaled_step. */
typedef struct fs_scaled_step {
    const fm_scaled_ctx *ctx;
    fm_scaled_coef k;
} fs_scaled_step;
double fs_scaled_step_fn(void *ctx, const fm_seq_work *seqs, size_t n);

#endif
