/*
 * fp_plugins.h: the operations tables of every built-in plugin type, collected into the
 * registry (registry.c). Internal to libfleetpolicy; the tables are const and live for
 * the whole program, plugin instances own their `self` (see fp_internal.h).
 */
#ifndef FP_PLUGINS_H
#define FP_PLUGINS_H

#include "fp_internal.h"

/* scorers.c */
extern const fp__ops fp__ops_queue_scorer, fp__ops_running_scorer, fp__ops_kv_scorer,
    fp__ops_load_aware_scorer, fp__ops_active_request_scorer, fp__ops_token_load_scorer,
    fp__ops_prefix_cache_scorer, fp__ops_no_hit_lru_scorer, fp__ops_session_affinity_scorer,
    fp__ops_header_label_scorer;
/* filters.c */
extern const fp__ops fp__ops_decode_filter, fp__ops_prefill_filter, fp__ops_encode_filter,
    fp__ops_label_selector_filter, fp__ops_prefix_affinity_filter;
/* pickers.c */
extern const fp__ops fp__ops_max_score_picker, fp__ops_random_picker,
    fp__ops_weighted_random_picker, fp__ops_round_robin_picker, fp__ops_lor_picker;
/* handlers.c */
extern const fp__ops fp__ops_single_handler, fp__ops_disagg_handler, fp__ops_header_handler,
    fp__ops_prefix_pd_decider, fp__ops_always_pd_decider, fp__ops_always_mm_decider;
/* producers.c */
extern const fp__ops fp__ops_approx_producer, fp__ops_precise_producer,
    fp__ops_precise_scorer, fp__ops_inflight_producer;

/* create() of plugins that take no parameters (rejects any key). */
int fp__no_params(fp__loader *ld, fu_ynode params, void **self, char **err);

#endif
