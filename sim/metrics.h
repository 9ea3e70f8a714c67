/*
 * metrics.h: per-request latency metrics, SLOs, cost and energy of one run.
 *
 * The simulator feeds one record per finished request (fs_metrics_request), one
 * sample per inter-token gap (fs_metrics_token_gap) and one call per request that can
 * never be served (fs_metrics_rejected); at the end it asks for a summary. Workload
 * assumed: traces of tens of millions of requests and billions of tokens, so memory is
 * constant: means, minima and maxima come from GSL running statistics (gsl_rstat) and
 * the p50/p90/p99 quantiles from the P^2 algorithm (gsl_rstat_quantile), which keeps
 * five markers per quantile instead of the samples. P^2 is exact for up to 5 samples
 * and within a few percent of the true quantile for large samples of smooth
 * distributions; it is an estimate, not an order statistic. Inter-token gaps, billions
 * on long traces and mostly equal within a step, are counted with weights in a
 * log-spaced GSL histogram instead (quantiles within ~1.2 %; mean and max exact).
 *
 * Definitions, per request: TTFT = first_token - arrival; E2E = finish - arrival;
 * queueing = first_scheduled - arrival; TPOT = (finish - first_token) /
 * (output_tokens - 1), only for requests with >= 2 output tokens. ITL samples are the
 * gaps the caller reports, one per output token after the first.
 *
 * Undefined figures: in fs_summary a figure that has no defined value (a latency
 * distribution with no samples, a per-token cost with no tokens, a rate over a zero
 * makespan) is 0, and its count (fs_stat.n, the token counts, makespan_s) says why. In
 * JSON such a figure is null, and so are "cost" and "energy" when no fleet was given
 * (no cost inputs, or 0 accelerators). Nothing in either is ever NaN or infinite.
 *
 * Ownership: fs_metrics is opaque and owned by its creator (fs_metrics_free);
 * fs_summary is a plain value with no pointers, safe to copy and to store.
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "evq.h"

/* One finished request. Times must be ordered arrival <= first_scheduled <=
 * first_token <= finish, and output_tokens >= 1 (asserted). */
typedef struct fs_req_record {
    uint64_t id;
    fs_ns arrival;          /* arrival at the cluster */
    fs_ns first_scheduled;  /* first time an engine scheduled it */
    fs_ns first_token;
    fs_ns finish;           /* last token */
    uint32_t input_tokens, output_tokens, cached_tokens, preemptions;
    int replica;            /* decode replica index (-1: rejected) */
    int prefill_replica;    /* prefill replica when disaggregated, else -1 */
    fs_ns kv_transfer;      /* KV transfer time of a disaggregated request, else 0 */
} fs_req_record;

/*
 * Service-level objectives, in seconds; 0 = not set. `percentile` (in (0,1), e.g. 0.9
 * for "p90 TTFT must be <= ttft_s") applies to every set SLO; 0 means 0.99.
 */
typedef struct fs_slo {
    double ttft_s, tpot_s, e2e_s;
    double percentile;
} fs_slo;

#define FS_METRICS_MAX_POOLS 16

/* What the caller knows about the fleet, for cost and energy. With pools (npools > 0)
 * the totals are sums over them and the top-level accelerators, price, power and busy
 * fields are ignored; each pool's fields mean the same for that pool alone. */
typedef struct fs_cost_inputs {
    char name[32];           /* pool name (pools only) */
    int accelerators;        /* total accelerators in the cluster */
    double price_per_hour;   /* USD per accelerator-hour */
    double tdp_w, idle_w;    /* power per accelerator at full load and at idle */
    double makespan_s;       /* first arrival to last finish; 0 = take it from the records */
    double busy_s;           /* accelerator-seconds during which a step was running
                              * (the caller multiplies replica-seconds by TP degree) */
    double prefill_s, decode_s; /* busy accelerator-seconds attributed to prefill tokens
                                 * and to decode tokens (prefill_s + decode_s = busy_s) */
    int npools;
    const struct fs_cost_inputs *pools;
} fs_cost_inputs;

/* One latency distribution, in seconds; every figure is 0 when n == 0. */
typedef struct fs_stat {
    uint64_t n;             /* samples */
    double mean, p50, p90, p99, max;
} fs_stat;

/* SLO outcome; all zero / false when no SLO is set. */
typedef struct fs_slo_result {
    bool set;               /* at least one of ttft_s, tpot_s, e2e_s is set */
    fs_slo target;          /* as given, percentile resolved (0.99 when it was 0) */
    uint64_t met;           /* requests meeting every set SLO individually */
    double attainment;      /* met / (completed + rejected): a rejected request missed */
    double goodput_rps;     /* met / makespan */
    double goodput_output_tps; /* output tokens of the requests that met / makespan */
    /* The target percentile of each metric, and whether it is within its SLO. An unset
     * SLO, or one with no samples (TPOT when every request had one token), is ok. */
    double ttft_at_pct_s, tpot_at_pct_s, e2e_at_pct_s;
    bool ttft_ok, tpot_ok, e2e_ok;
    bool all_ok;            /* every set percentile target is met */
} fs_slo_result;

/* Cost in USD. Input and output shares follow prefill_s and decode_s (idle time is
 * shared in the same proportion; evenly when nothing was busy). */
typedef struct fs_cost {
    int accelerators;
    double price_per_hour;      /* per accelerator */
    double accelerator_hours;   /* accelerators x makespan */
    double fleet_usd_per_hour;  /* accelerators x price */
    double total_usd;           /* accelerator_hours x price */
    double usd_per_m_input;     /* per million input tokens */
    double usd_per_m_output;    /* per million output tokens */
    double usd_per_m_tokens;    /* blended: per million input + output tokens */
} fs_cost;

/* Energy from a linear power model: per accelerator, idle + utilisation x (TDP - idle). */
typedef struct fs_energy {
    double utilisation;         /* busy_s / (accelerators x makespan), clamped to [0,1] */
    double mean_power_w;        /* whole fleet */
    double energy_j, energy_kwh;
    double j_per_output_token;
    double j_per_token;         /* per input + output token */
} fs_energy;

/* One pool's share of the cost and energy (only when the fleet has several pools). */
typedef struct fs_pool_cost {
    char name[32];
    fs_cost cost;               /* per-token figures: this pool's cost over all tokens */
    fs_energy energy;
} fs_pool_cost;

typedef struct fs_summary {
    uint64_t completed, rejected;
    uint64_t input_tokens, output_tokens, cached_tokens; /* over completed requests */
    uint64_t preemptions;
    double makespan_s;
    double throughput_rps, input_tps, output_tps;   /* per second of makespan */
    double cached_share;        /* cached_tokens / input_tokens */
    fs_stat ttft_s, tpot_s, itl_s, e2e_s, queue_s;
    fs_slo_result slo;
    fs_cost cost;
    fs_energy energy;
    int npools;                 /* 0 for a single-pool fleet */
    fs_pool_cost pools[FS_METRICS_MAX_POOLS];
} fs_summary;

typedef struct fs_metrics fs_metrics;

/* A new, empty collector for these SLOs (NULL = none; copied). NULL when out of
 * memory. GSL's default error handler aborts on allocation failure instead: a tool
 * that wants NULL back calls gsl_set_error_handler_off() first. */
fs_metrics *fs_metrics_new(const fs_slo *slo);
/* Frees the collector; accepts NULL. */
void fs_metrics_free(fs_metrics *m);

/* Records one finished request (copied). O(1), no allocation. */
void fs_metrics_request(fs_metrics *m, const fs_req_record *r);
/* Counts one request that can never be served (too long for any replica). */
void fs_metrics_rejected(fs_metrics *m);
/* Records one inter-token gap (>= 0, asserted) of any request. O(1). */
void fs_metrics_token_gap(fs_metrics *m, fs_ns gap_ns);
/* Records `count` inter-token gaps of the same length (one decode step's tokens). ITL
 * quantiles come from a log-spaced histogram: within ~1.2 % of the exact value; the
 * mean and max are exact. */
void fs_metrics_token_gaps(fs_metrics *m, fs_ns gap_ns, uint64_t count);

/*
 * Fills *out from what was recorded so far; `cost` may be NULL (cost and energy are
 * then 0, and makespan comes from the records). Does not change what was recorded, so
 * it may be called more than once (e.g. for progress).
 */
void fs_metrics_summarize(const fs_metrics *m, const fs_cost_inputs *cost, fs_summary *out);

/* Writes a fixed-format, aligned text table (latencies in ms, 4 significant digits).
 * Deterministic: the same summary gives the same bytes. */
void fs_summary_print(FILE *f, const fs_summary *s);

/* The summary as a new JSON object (the caller owns the reference); NULL when out of
 * memory. Keys are snake_case with units in their names (ttft_s: {n, mean, p50, p90,
 * p99, max}); undefined figures are null; "slo" is null when no SLO is set, "cost" and
 * "energy" when no fleet was given. Reals are doubles: dump with JSON_REAL_PRECISION
 * to shorten them. */
json_t *fs_summary_to_json(const fs_summary *s);

#endif
