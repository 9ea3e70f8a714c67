/*
 * replicate.h: a seed sweep of one scenario (`fleetsim run --replications N`): the
 * scenario runs N times with seeds seed, seed+1, ..., seed+N-1 (replication 0 is the
 * plain run), and every reported figure (mean, p50, p90, p99 of TTFT, TPOT, ITL, E2E
 * and queueing; throughput; SLO attainment) gets its mean over the replications and a
 * Student-t confidence interval for that mean. Runs are independent, so the interval
 * is the textbook one: mean +- t(1-(1-level)/2, N-1) x sd / sqrt(N).
 *
 * What the interval covers: the randomness the seed drives (generated arrivals and
 * lengths, random routing). A trace replay with deterministic routing gives N equal
 * runs and zero-width intervals, which is the honest answer. Each run's percentiles
 * are themselves P^2 estimates (metrics.h), within a few percent of the order
 * statistics; the interval does not include that estimation error.
 *
 * Ownership: plain values. Errors: 0 or negative errno with a malloc'd message.
 */
#ifndef FS_REPLICATE_H
#define FS_REPLICATE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "cluster.h"
#include "scenario.h"

/* One figure over the replications. */
typedef struct fs_rep_stat {
    double mean, sd;            /* over replications (sd with N-1) */
    double lo, hi;              /* confidence interval of the mean; lo == hi when N == 1 */
} fs_rep_stat;

enum { FS_REP_MEAN, FS_REP_P50, FS_REP_P90, FS_REP_P99, FS_REP_NQ };

typedef struct fs_replication {
    int n;                      /* replications */
    uint64_t first_seed;
    double level;               /* e.g. 0.95 */
    fs_rep_stat ttft[FS_REP_NQ], tpot[FS_REP_NQ], itl[FS_REP_NQ], e2e[FS_REP_NQ],
        queue[FS_REP_NQ];       /* seconds */
    fs_rep_stat throughput_rps, output_tps, slo_attainment;
    uint64_t completed_min, completed_max;
} fs_replication;

/*
 * The statistics of n values at confidence `level` in (0, 1): mean, sd and the
 * t-interval of the mean. n >= 1 (asserted).
 */
fs_rep_stat fs_rep_stat_of(const double *v, int n, double level);

/*
 * Runs the scenario n >= 1 times with seeds sc->seed + i (the scenario is copied and
 * reseeded, not changed) and summarises. `progress` (may be NULL) is called after each
 * run with the number done.
 */
int fs_replicate(const fs_scenario *sc, int n, double level, fs_replication *out,
                 void (*progress)(void *ctx, int done), void *ctx, char **err);

/* A fixed-format table: one row per figure, mean, interval, sd (latencies in ms). */
void fs_replication_print(FILE *f, const fs_replication *r);
/* {"replications": n, "first_seed", "level", "ttft_s": {"p50": {mean, sd, lo, hi}, ...}} */
json_t *fs_replication_to_json(const fs_replication *r);

/*
 * `fleetsim run --replications N` (sim/replicate_cmd.c, linked into the tool only): loads `path` with the run options, sweeps and
 * prints (JSON when json). Returns the process exit status (0, or 2 after printing
 * "fleetsim CMD: message").
 */
struct fs_run_opts;
int fs_replicate_cmd(const char *cmd, const char *path, const struct fs_run_opts *ro, int n,
                     bool json);

#endif
