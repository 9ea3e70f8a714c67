/*
 * registry.c: the compiled-in table of plugin types, looked up by llm-d type name.
 *
 * Besides the plugins that shape decisions, llm-d configurations name plugins that
 * feed or guard the router in ways a caller of this library replaces (scraping
 * /metrics, parsing request bodies, admission): they are accepted, parameters
 * unchecked, and do nothing here, so that llm-d's files load unchanged. A type in
 * neither list is an error.
 *
 * Workload: a few dozen look-ups per configuration loaded, so a linear scan of ~40
 * entries; nothing here runs per pick.
 */
#include <string.h>

#include "fp_plugins.h"

static int inert_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    (void)ld, (void)params, (void)err;
    *self = NULL;
    return 0;
}

#define INERT(var, name) static const fp__ops var = { .type = name, .kind = FP__INERT, .create = inert_create }
INERT(metrics_source, "metrics-data-source");
INERT(metrics_extractor, "core-metrics-extractor");
INERT(dcgm_extractor, "dcgm-extractor");
INERT(token_producer, "token-producer");
INERT(latency_producer, "predicted-latency-producer");
INERT(utilization_detector, "utilization-detector");
INERT(concurrency_detector, "concurrency-detector");
INERT(prob_admitter, "probabilistic-admitter");
INERT(openai_parser, "openai-parser");
INERT(vllmgrpc_parser, "vllmgrpc-parser");
INERT(anthropic_parser, "anthropic-parser");
INERT(passthrough_parser, "passthrough-parser");
#undef INERT

static const fp__ops *const table[] = {
    /* scorers */
    &fp__ops_queue_scorer, &fp__ops_running_scorer, &fp__ops_kv_scorer,
    &fp__ops_load_aware_scorer, &fp__ops_active_request_scorer, &fp__ops_token_load_scorer,
    &fp__ops_session_affinity_scorer, &fp__ops_no_hit_lru_scorer, &fp__ops_prefix_cache_scorer,
    &fp__ops_precise_scorer, &fp__ops_header_label_scorer,
    /* filters */
    &fp__ops_decode_filter, &fp__ops_prefill_filter, &fp__ops_encode_filter,
    &fp__ops_label_selector_filter, &fp__ops_prefix_affinity_filter,
    /* pickers */
    &fp__ops_max_score_picker, &fp__ops_random_picker, &fp__ops_weighted_random_picker,
    &fp__ops_round_robin_picker, &fp__ops_lor_picker,
    /* profile handlers and deciders */
    &fp__ops_single_handler, &fp__ops_disagg_handler, &fp__ops_header_handler,
    &fp__ops_prefix_pd_decider, &fp__ops_always_pd_decider, &fp__ops_always_mm_decider,
    /* producers */
    &fp__ops_approx_producer, &fp__ops_precise_producer, &fp__ops_inflight_producer,
    /* accepted for compatibility, no effect on picks */
    &metrics_source, &metrics_extractor, &dcgm_extractor, &token_producer, &latency_producer,
    &utilization_detector, &concurrency_detector, &prob_admitter, &openai_parser,
    &vllmgrpc_parser, &anthropic_parser, &passthrough_parser,
};

#define NTYPES (sizeof table / sizeof table[0])

const fp__ops *fp__ops_find(const char *type)
{
    for (size_t i = 0; type && i < NTYPES; i++)
        if (strcmp(table[i]->type, type) == 0)
            return table[i];
    return NULL;
}

/* The same names as table[], in the same order (test_policy checks they agree); a
   literal list rather than one filled on first use, so no global is ever written. */
static const char *const names[] = {
    "queue-scorer", "running-requests-size-scorer", "kv-cache-utilization-scorer",
    "load-aware-scorer", "active-request-scorer", "token-load-scorer",
    "session-affinity-scorer", "no-hit-lru-scorer", "prefix-cache-scorer",
    "precise-prefix-cache-scorer", "header-label-affinity-scorer",
    "decode-filter", "prefill-filter", "encode-filter", "label-selector-filter",
    "prefix-cache-affinity-filter",
    "max-score-picker", "random-picker", "weighted-random-picker", "round-robin-picker",
    "least-outstanding-requests-picker",
    "single-profile-handler", "disagg-profile-handler", "header-profile-handler",
    "prefix-based-pd-decider", "always-disagg-pd-decider", "always-disagg-multimodal-decider",
    "approx-prefix-cache-producer", "precise-prefix-cache-producer", "inflight-load-producer",
    "metrics-data-source", "core-metrics-extractor", "dcgm-extractor", "token-producer",
    "predicted-latency-producer", "utilization-detector", "concurrency-detector",
    "probabilistic-admitter", "openai-parser", "vllmgrpc-parser", "anthropic-parser",
    "passthrough-parser", NULL,
};

_Static_assert(sizeof names / sizeof names[0] == NTYPES + 1, "names[] must list table[]");

const char *const *fp_plugin_types(void) { return names; }
