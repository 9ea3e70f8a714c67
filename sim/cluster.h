/*
 * cluster.h: one simulated run of a scenario, from the first arrival to the last token.
 *
 * The cluster owns the event queue, the replicas (an engine and a latency model each),
 * the workload source and the metrics. Requests are pulled from the source lazily, one
 * arrival event at a time, so memory follows the requests in flight and not the length
 * of the trace. At each arrival the request is routed to a replica; each replica's
 * engine steps whenever it has work, each step lasting what its latency model predicts.
 *
 * Ownership: fs_cluster_run() borrows the scenario and fills *out; nothing outlives
 * the call. Errors: 0 or negative errno with a malloc'd message (a trace line that
 * turns out malformed mid-run, a model that does not fit in memory).
 */
#ifndef FS_CLUSTER_H
#define FS_CLUSTER_H

#include <stdint.h>

#include "fm_models.h"
#include "metrics.h"
#include "scenario.h"

/* What a run produced. */
typedef struct fs_run_result {
    fm_kv_sizing kv;          /* KV capacity of one replica */
    fs_summary summary;       /* request metrics, cost and energy */
    uint64_t events;          /* events popped (for benchmarks) */
    uint64_t steps;           /* engine steps over all replicas */
} fs_run_result;

/*
 * Sizes the KV cache of a replica of the scenario (fm_kv_size with the scenario's
 * engine settings, or the override). Fails when the model does not fit.
 */
int fs_cluster_size_kv(const fs_scenario *sc, fm_kv_sizing *out, char **err);

/* Runs the scenario to completion. */
int fs_cluster_run(const fs_scenario *sc, fs_run_result *out, char **err);

#endif
