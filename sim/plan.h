/*
 * plan.h: the capacity planner's search, shared by `fleetsim plan` and `fleetsim
 * scorecard`: a plan spec (loaded from YAML or filled in by a caller), its candidate
 * configurations (accelerator x TP x aggregated or P/D ratio x router), the search for
 * each candidate's cheapest replica count meeting the SLOs at a target rate (doubling,
 * then bisection, on the assumption that meeting is monotone in replicas) and its
 * highest sustainable rate, and the ranking with the cost-latency Pareto front.
 *
 * The workload is the scenario's generator or trace, or a trace file the spec names
 * (`trace:`, which replaces the scenario's workload). A target rate reaches a
 * generator as its arrival rate and a trace as a speed factor on its arrival times
 * (the trace's `speed:` transform, or its `rate:` transform scaled, when the scenario
 * already has one), relative to the trace's own mean rate as replayed: so a trace is
 * streamed again for every run and never copied, and "2x today's traffic" is the same
 * requests arriving twice as fast.
 *
 * Workload assumed: scenarios of a few hundred to a few thousand requests per run
 * (the spec's `requests:` caps them), tens of candidates, each search
 * O(log max_replicas) in-memory runs (nothing stored).
 *
 * Ownership: a spec's strings point into its YAML document (doc) or, for a spec a
 * caller fills in, into the caller's storage; `fixed` strings are malloc'd and freed by
 * fs_plan_spec_free. Errors: 0 or negative errno with a malloc'd message in *err;
 * fs_plan_search reports on stderr ("fleetsim plan: ...").
 */
#ifndef FS_PLAN_H
#define FS_PLAN_H

#include <limits.h>
#include <stdbool.h>

#include "fu_yaml.h"
#include "runcommon.h"

#define MAX_LIST 16
#define MAX_FIXED 32
#define MAX_AVAIL 16

typedef struct fs_plan_spec {
    char name[64];
    char scenario[PATH_MAX];
    char trace[PATH_MAX];   /* "" or an absolute path: replaces the scenario's workload */
    char trace_shown[PATH_MAX];   /* the same as given (joined to the spec's directory) */
    double rate, growth, attainment, budget;
    double requests;        /* requests per run (0: the scenario's) */
    char *fixed[MAX_FIXED];
    int nfixed;
    const char *accels[MAX_LIST], *modes[MAX_LIST], *routers[MAX_LIST];
    int tps[MAX_LIST];
    int naccels, ntps, nmodes, nrouters;
    int max_replicas;
    const char *avail_name[MAX_AVAIL];
    int avail_n[MAX_AVAIL], navail;
    fu_yaml *doc;           /* the strings above point into it */
} fs_plan_spec;

/* One candidate configuration and what the search found. */
typedef struct fs_plan_cand {
    const char *accel, *mode, *router;
    int tp, p, d;           /* p = d = 0: aggregated; else the P/D ratio */
    int cap;                /* most scale steps allowed (max_replicas, availability) */
    bool feasible, over_budget;
    int scale;              /* replicas (aggregated) or k (P/D: k*p + k*d replicas) */
    int accelerators;
    double usd_h, usd_mtok, ttft_s, tpot_s, attain, max_rate, headroom;
    double max_growth;      /* max_rate over the workload's own rate (0: unknown) */
    bool pareto;
    int runs;
    char why[160];          /* why infeasible when a run failed (weights do not fit) */
} fs_plan_cand;

/* The workload as the planner scales it (fs_plan_workload_load). */
typedef struct fs_plan_workload {
    bool trace;             /* a trace: a rate becomes a speed factor on its arrivals */
    double base_rate;       /* the workload's own rate, req/s (0: unknown): a
                               generator's arrival rate; a trace's requests / span as
                               a run replays it (after its transforms and cap), the
                               mean rate `fleetsim trace stats` prints */
    double speed;           /* trace: the scenario's `speed:` transform (1 if none) */
    double xrate;           /* trace: the scenario's `rate:` transform (0 if none) */
} fs_plan_workload;

/* What a search runs against. */
typedef struct fs_planner {
    fs_plan_spec *ps;
    fs_run_opts ro;
    fs_plan_workload wl;    /* filled by fs_plan_workload_load before any search */
    double rate;            /* the target */
    bool max_rate;
} fs_planner;

/* Loads a plan spec (the format of cmd_plan.c's comment). On failure the spec may hold
 * partial state: free it with fs_plan_spec_free anyway (accepts a zeroed spec). */
int fs_plan_spec_load(const char *path, fs_plan_spec *ps, char **err);
void fs_plan_spec_free(fs_plan_spec *ps);
/* The candidates of a spec, malloc'd into *out (*n of them); -EINVAL (reported on
 * stderr) for a bad mode. */
int fs_plan_make_cands(const fs_plan_spec *ps, fs_plan_cand **out, int *n);
/* Replaces the spec's trace by `path` (relative to the working directory; must be a
 * readable file). 0, or -EINVAL with a malloc'd message in *err naming the path. */
int fs_plan_set_trace(fs_plan_spec *ps, const char *path, char **err);
/* Loads the scenario with the spec's trace and overrides and fills pl->wl (a trace is
 * read once to measure its rate). 0, or -1 after reporting on stderr ("fleetsim
 * CMD: ..."): the scenario does not load, the trace is unreadable or has fewer than
 * two requests or no time span (no rate to scale). */
int fs_plan_workload_load(fs_planner *pl, const char *cmd);
/* The target rate given a rate (> 0) or else a growth factor (> 0) on the workload's
 * own rate; 0, or -1 after reporting when a growth factor has no rate to multiply
 * (a generator whose arrivals have no `rate:`). Needs pl->wl. */
int fs_plan_target(fs_planner *pl, double rate, double growth, const char *cmd);
/* Searches one candidate at pl->rate: fills c (feasible, scale, costs, latencies, max
 * rate when pl->max_rate). 0, or -1 when a run failed (bad input, reported). */
int fs_plan_search(const fs_planner *pl, fs_plan_cand *c);
/* Sorts feasible within budget first, then by cost per hour and per token, and marks
 * the Pareto front (cost per hour against TTFT at the SLO percentile). */
void fs_plan_rank(fs_plan_cand *cs, int n);

#endif
