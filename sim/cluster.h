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

/* One replica's state over one sample period (per-second time series). */
typedef struct fs_replica_sample {
    fs_ns t;                  /* end of the period */
    int replica;
    int waiting, running;     /* at the end of the period */
    double kv_usage;          /* at the end of the period, 0..1 */
    double input_tps;         /* prompt tokens computed per second over the period */
    double output_tps;        /* output tokens per second over the period */
    double utilisation;       /* busy fraction of the period, 0..1 */
    double power_w;           /* all accelerators of the replica */
} fs_replica_sample;

/*
 * Who watches a run (the results store, a progress bar). Every member may be NULL.
 * Callbacks must not call back into the cluster; the records they get are valid only
 * during the call.
 */
typedef struct fs_run_observer {
    void *ctx;
    /* A request finished (or was rejected: output_tokens == 0 then). */
    void (*on_request)(void *ctx, const fs_req_record *r);
    /* One sample per replica at the end of every sample period. */
    void (*on_sample)(void *ctx, const fs_replica_sample *s);
    /* Now and then (every 65,536 events): simulated time and requests done so far. */
    void (*on_progress)(void *ctx, fs_ns now, uint64_t completed, uint64_t in_flight);
    fs_ns sample_period;      /* 0 = one second */
} fs_run_observer;

/*
 * Sizes the KV cache of a replica of the scenario (fm_kv_size with the scenario's
 * engine settings, or the override). Fails when the model does not fit.
 */
int fs_cluster_size_kv(const fs_scenario *sc, fm_kv_sizing *out, char **err);
/* The same for pool `pool` of the scenario. */
int fs_cluster_size_pool_kv(const fs_scenario *sc, int pool, fm_kv_sizing *out, char **err);

/* Where one replica sits: its node and rack, both numbered from 0 in placement order. */
typedef struct fs_placement {
    int node, rack;
} fs_placement;

/*
 * Places the scenario's replicas, pool by pool in order (the order fs_cluster_run
 * numbers them): each pool's replicas fill nodes of accels_per_node accelerators (a
 * replica of tp accelerators never straddles two nodes); a pool of another accelerator
 * type starts a new node, one of the same type continues where the previous pool
 * stopped (so small P/D deployments share a node and transfer over NVLink); nodes fill
 * racks of topology.nodes_per_rack in order (0 = one rack). out has one entry per
 * replica (fs_scenario's pools' replicas summed). Returns the number of nodes used.
 */
int fs_cluster_place(const fs_scenario *sc, fs_placement *out);

/* Runs the scenario to completion. */
int fs_cluster_run(const fs_scenario *sc, fs_run_result *out, char **err);
/* The same, reporting to `obs` (NULL = nobody) as it goes. */
int fs_cluster_run_observed(const fs_scenario *sc, const fs_run_observer *obs,
                            fs_run_result *out, char **err);

#endif
