/*
 * fleetpolicy.h: libfleetpolicy, the router's brain shared by the fleetsim simulator and
 * the fleetsim-router HTTP router.
 *
 * It mirrors llm-d's Endpoint Picker (EPP): per request, data producers (approximate or
 * precise prefix-cache indexes, in-flight load) annotate the endpoints; a profile
 * handler picks which scheduling profiles to run; each profile runs filters, then a
 * weighted sum of scorers (each score clamped to [0,1]; the sum is NOT normalised by the
 * weights), then a picker. The disaggregation handler runs the decode profile first and
 * asks a decider whether to add a prefill pick. Plugins are found by their llm-d type
 * name; a policy is configured with llm-d's own EndpointPickerConfig YAML, so a file that
 * configures llm-d configures this library (unknown keys and types are errors).
 *
 * Workload assumed: one decision per request arrival, 1 to ~1,000 endpoints, prompts up
 * to llm-d's 131,072-token matching cap; a pick costs microseconds (see bench_pick.c).
 *
 * Everything is plain data in, plain data out. The library owns no threads, sockets or
 * clock: the caller passes `now` (any monotonic nanosecond clock: simulated time in
 * fleetsim, CLOCK_MONOTONIC in the router) and a random source (fp_rng) into every call
 * that needs them, so the same inputs always give the same decisions. It never reads the
 * wall clock or global random state. A policy is not thread-safe: one thread drives it.
 *
 * Ownership: fp_policy_* constructors return a policy the caller frees with
 * fp_policy_free(). Every input struct and string is borrowed for the duration of the
 * call and copied where kept (endpoint names and labels). Results point into the
 * policy and stay valid until the next fp_pick() or fp_policy_free() on it.
 * Errors: functions return 0 or a negative errno (-EINVAL bad input, -ENOENT no such
 * thing / no endpoint could serve, -EEXIST duplicate, -ENOMEM, -EIO/-errno for files);
 * the detail goes to `*err` (malloc'd, caller frees; pass NULL to ignore), and a failed
 * call changes nothing. Configuration errors name file:line:column and what was expected.
 * Programmer misuse (an endpoint id that was never handed out) is an assert.
 *
 * Install: headers via `make install`; link with `pkg-config --libs libfleetpolicy`.
 */
#ifndef FLEETPOLICY_H
#define FLEETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP_API_VERSION 1

typedef struct fp_policy fp_policy;

/* ------------------------------------------------------------------ random source */

/*
 * The caller's random source. Either set `next` (and `ctx`) to a generator of 64
 * uniformly random bits (e.g. a GSL stream of the scenario), or call fp_rng_seed() to
 * use the built-in xoshiro256** state `s`. The library draws from it only where llm-d
 * draws (tie-breaking among equal best scores, random and weighted-random pickers,
 * exploration), so a policy that never ties never consumes randomness.
 */
typedef struct fp_rng {
    uint64_t (*next)(void *ctx); /* NULL: use s[] */
    void *ctx;
    uint64_t s[4];               /* xoshiro256** state (private unless next == NULL) */
} fp_rng;

/* Seeds the built-in generator (splitmix64 expansion of `seed`); sets next = NULL. */
void fp_rng_seed(fp_rng *r, uint64_t seed);
/* 64 random bits from r. */
uint64_t fp_rng_u64(fp_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double fp_rng_uniform(fp_rng *r);
/* Uniform integer in [0, n), n > 0 (asserted); unbiased. */
uint64_t fp_rng_below(fp_rng *r, uint64_t n);

/* ------------------------------------------------------------------ prompts */

/*
 * A prompt described without tokens (the simulator's form): segment i contributes
 * tokens (content, 0) .. (content, len-1). Two prompts share a prefix exactly where
 * these token identities agree. Same layout as traces' ft_segment, so an array of one
 * can be passed as the other.
 */
typedef struct fp_segment {
    uint64_t content; /* content id: equal ids mean equal token streams */
    uint32_t len;     /* tokens taken from the start of that stream */
} fp_segment;

/* One request header (names compare case-insensitively, like HTTP). */
typedef struct fp_header {
    const char *name;
    const char *value;
} fp_header;

/*
 * What the router knows about a request when it picks. The prompt is given in one of
 * three forms, the first non-empty one winning: real token ids, the prompt text as
 * llm-d's "estimate" backend sees it (chat messages serialised, or the completion
 * prompt; 4 bytes make one pseudo-token), or segments.
 */
typedef struct fp_request {
    uint64_t id;                 /* unique among requests in flight; keys later events */
    const char *model;           /* target model name (hashed into the prefix chain); NULL = "" */
    const char *cache_salt;      /* NULL = none */
    const uint32_t *tokens;      /* real token ids (vLLM /render), or NULL */
    size_t ntokens;
    const char *text;            /* prompt text, or NULL */
    size_t text_len;
    const fp_segment *segs;      /* simulator prompt, or NULL */
    size_t nsegs;
    uint32_t prompt_tokens;      /* prompt length in tokens; 0 = derive (ntokens,
                                    text_len / 4, or the sum of segment lengths) */
    uint32_t max_tokens;         /* client's output cap (max_tokens); 0 = none */
    /* Keys of the prompt's full KV blocks as the caller's engines name them in KV
       events (the precise index); NULL = the library derives fp_block_keys() at the
       precise producer's block size. */
    const uint64_t *block_keys;
    size_t nblock_keys;
    uint32_t block_keys_size;    /* tokens per block of block_keys */
    const fp_header *headers;    /* x-session-token, x-session-id, EPP-Profile, ... */
    size_t nheaders;
    uint64_t session;            /* simulator session id, 0 = none: the session-id
                                    strategy's key when its header is absent */
    double slo_ttft_ms;          /* x-llm-d-slo-ttft-ms; 0 = none */
    double slo_tpot_ms;          /* x-llm-d-slo-tpot-ms; 0 = none (no built-in plugin
                                    reads the SLOs yet; carried for SLO-aware ones) */
    const char *request_class;   /* workload class name, NULL = none (informational:
                                    route classes with headers, e.g. EPP-Profile for
                                    header-profile-handler, or with separate policies) */
    bool multimodal;             /* has image/audio/video content (encode decider) */
} fp_request;

/* ------------------------------------------------------------------ endpoints */

typedef struct fp_label {
    const char *key;
    const char *value;
} fp_label;

/* Identity of an endpoint (a model-server pod). */
typedef struct fp_endpoint_desc {
    const char *name;            /* unique, e.g. "namespace/pod"; session tokens encode it */
    const char *address;         /* "ip:port" for x-gateway-destination-endpoint; NULL = name */
    const fp_label *labels;      /* e.g. llm-d.ai/role: decode */
    size_t nlabels;
} fp_endpoint_desc;

/* One scrape of an endpoint's /metrics (see llm-d-router.md section 2). */
typedef struct fp_metrics {
    int32_t waiting;             /* vllm:num_requests_waiting */
    int32_t running;             /* vllm:num_requests_running */
    double kv_usage;             /* vllm:kv_cache_usage_perc, 0..1 */
    uint32_t block_size;         /* vllm:cache_config_info block_size; 0 = unknown */
    uint32_t num_blocks;         /* vllm:cache_config_info num_gpu_blocks; 0 = unknown */
    int64_t updated_ns;          /* when it was scraped, on the caller's clock */
} fp_metrics;

/* What the policy holds for an endpoint (read back for debugging and metrics). */
typedef struct fp_endpoint_state {
    const char *name;
    const char *address;
    const char *role;            /* llm-d.ai/role label, NULL if absent */
    fp_metrics metrics;          /* last fp_endpoint_update() */
    int64_t inflight_requests;   /* picked and not yet ended (llm-d's InFlightLoad) */
    int64_t inflight_tokens;     /* uncached prompt (+ estimated output) tokens in flight */
} fp_endpoint_state;

/*
 * Adds an endpoint to the pool the policy picks from and returns its id in *id (small,
 * dense, reused after removal). Metrics start at zero until fp_endpoint_update().
 * Errors: -EEXIST name already present, -EINVAL empty name, -ENOMEM.
 */
int fp_endpoint_add(fp_policy *p, const fp_endpoint_desc *d, uint32_t *id, char **err);
/* Removes an endpoint: it is no longer a candidate and the prefix indexes forget it
   (llm-d does the latter on a 2-minute sweep; see DEVIATIONS in policy.c).
   Requests still in flight on it are released when their events arrive. */
void fp_endpoint_remove(fp_policy *p, uint32_t id);
/* Replaces an endpoint's metrics snapshot (the router's 50 ms refresh). */
void fp_endpoint_update(fp_policy *p, uint32_t id, const fp_metrics *m);
/* Looks an endpoint up by name: 0 and *id, or -ENOENT. */
int fp_endpoint_find(const fp_policy *p, const char *name, uint32_t *id);
/* Fills *out for endpoint id (strings point into the policy). */
void fp_endpoint_get(const fp_policy *p, uint32_t id, fp_endpoint_state *out);
/* Number of endpoints in the pool. */
size_t fp_endpoint_count(const fp_policy *p);

/* ------------------------------------------------------------------ picking */

/* One candidate of one profile run with its weighted score (sum over scorers). */
typedef struct fp_scored {
    uint32_t id;
    double score;
} fp_scored;

/* One scheduling profile that ran, for debugging. */
typedef struct fp_profile_run {
    const char *profile;         /* profile name */
    int status;                  /* 0, or -ENOENT when no candidate survived the filters */
    const fp_scored *scored;     /* candidates after the filters, in pool order */
    size_t nscored;
    const uint32_t *targets;     /* picker's choice, best first (fallbacks after it) */
    size_t ntargets;
} fp_profile_run;

typedef struct fp_result {
    uint32_t decode;             /* the endpoint to send the request to (primary profile) */
    int64_t prefill;             /* prefill endpoint when disaggregated, else -1 */
    const char *decode_address;  /* x-gateway-destination-endpoint */
    const char *prefill_address; /* x-prefiller-host-port, or NULL */
    const char *primary_profile;
    const fp_profile_run *runs;  /* every profile that ran, in order */
    size_t nruns;
} fp_result;

/*
 * Picks endpoints for a request: llm-d's Produce, scheduling cycle and PreRequest. On
 * success the pick is committed: the request counts as in flight on its decode (and
 * prefill) endpoint until fp_request_end(), the approximate prefix index learns the
 * prompt for the chosen endpoints, and session bindings are recorded.
 * `now` is the caller's clock in ns; `rng` is drawn from only where llm-d draws.
 * Errors: -ENOENT when no endpoint qualifies (llm-d answers 503) with a message naming
 * the profile; -EEXIST when req->id is already in flight; -ENOMEM. On error nothing
 * is recorded and *out is cleared (prefill -1, no runs). A request without a prompt is
 * valid: it matches no prefix.
 */
int fp_pick(fp_policy *p, const fp_request *req, int64_t now, fp_rng *rng, fp_result *out,
            char **err);

/* ------------------------------------------------------------------ events */

/* The first token of request `id` streamed back: prompt tokens leave the in-flight
   load (llm-d releases at the first chunk). Unknown ids are ignored (returns -ENOENT). */
int fp_request_first_token(fp_policy *p, uint64_t id, int64_t now);
/* End of stream, or the request was aborted or failed to dispatch: everything it held
   is released. Unknown ids are ignored (returns -ENOENT). */
int fp_request_end(fp_policy *p, uint64_t id, int64_t now);

/* Storage tier of a KV block event (the precise index weights gpu 1.0, cpu 0.8). */
typedef enum fp_tier { FP_TIER_GPU = 0, FP_TIER_CPU = 1 } fp_tier;

/* vLLM KV events of one endpoint, for the precise prefix index: blocks stored, blocks
   removed, all blocks cleared. Keys are the caller's block keys (the same keys its
   requests carry in block_keys, or fp_block_keys() output). No-ops without a precise
   producer. fp_kv_stored fails only with -ENOMEM (nothing stored then). */
int fp_kv_stored(fp_policy *p, uint32_t ep, const uint64_t *keys, size_t n, fp_tier tier);
void fp_kv_removed(fp_policy *p, uint32_t ep, const uint64_t *keys, size_t n, fp_tier tier);
void fp_kv_cleared(fp_policy *p, uint32_t ep);

/* ------------------------------------------------------------------ configuration */

/*
 * Builds a policy from an EndpointPickerConfig (apiVersion llm-d.ai/v1alpha1) file or
 * text. An empty document gives llm-d's default (queue-scorer 2, kv-cache-utilization-
 * scorer 2, prefix-cache-scorer 3, max-score-picker, single-profile-handler). Absent
 * fields take llm-d's defaults: plugin name = type, scorer weight 1, a profile without
 * a picker gets max-score-picker, one profile gets single-profile-handler, a missing
 * approx-prefix-cache-producer is instantiated when a plugin consumes prefix matches.
 * Errors (-EINVAL, positioned): invalid YAML, unknown keys, unknown plugin type,
 * duplicate names, missing or dangling pluginRef, negative or non-numeric weight,
 * several pickers in a profile, several profile handlers, parameters out of range.
 * `name` is what messages call the text.
 */
int fp_policy_load_file(const char *path, fp_policy **out, char **err);
int fp_policy_load_string(const char *name, const char *text, size_t len, fp_policy **out,
                          char **err);
/*
 * Built-in policies by name, each an EndpointPickerConfig text (fp_builtin_text):
 * "default" (llm-d's default), "token-aware" (prefix-cache-affinity-filter +
 * token-load-scorer, llm-d's guides), "pd" (the P/D example of the reference),
 * and the baselines users compare against: "round-robin" and "random" (a plain
 * Kubernetes Service) and "least-outstanding-requests". -ENOENT for other names.
 */
int fp_policy_builtin(const char *name, fp_policy **out, char **err);
/* The config text of a built-in policy, or NULL. */
const char *fp_builtin_text(const char *name);
/* NULL-terminated list of the built-in policy names. */
const char *const *fp_builtin_names(void);
/* NULL-terminated list of the plugin types a config may name. */
const char *const *fp_plugin_types(void);

/* Frees a policy; accepts NULL. */
void fp_policy_free(fp_policy *p);
/* Whether the policy has a precise prefix index (precise-prefix-cache-producer or
   -scorer): only then do KV events and fp_request.block_keys matter, so a caller may
   skip computing them otherwise. */
bool fp_policy_uses_block_keys(const fp_policy *p);

/* ------------------------------------------------------------------ helpers */

/*
 * Approximate-index prefix hashes of a prompt, as llm-d's approx-prefix-cache-producer
 * computes them: h0 = xxh64(model || cache_salt); h_i = xxh64(le64(xxh64(block_i)) ||
 * le64(h_{i-1})), the last partial block included. Blocks are block_size tokens: of
 * token ids, of 4-byte pseudo-tokens of text, or of segments (whose block content hash
 * is xxh64 of the block's (content, offset, length) runs). Uses the first non-empty
 * prompt form of req. Writes at most max hashes; returns how many. O(blocks + segments).
 */
size_t fp_prefix_hashes(const fp_request *req, uint32_t block_size, uint64_t *out, size_t max);
/*
 * Precise-index keys of the prompt's FULL blocks when the caller has no engine keys:
 * k_i = xxh64(block_i description, seed = k_{i-1}), k_{-1} = xxh64(model || hash_seed).
 * Engines that emit KV events with these keys match requests without block_keys.
 */
size_t fp_block_keys(const fp_request *req, uint32_t block_size, const char *hash_seed,
                     uint64_t *out, size_t max);
/* The x-session-token value that pins a session to endpoint id (base64 of its name)
   into buf; returns the length it needs (excluding the NUL), like snprintf. */
size_t fp_session_token(const fp_policy *p, uint32_t id, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
