/*
 * runcommon.h: what the subcommands that simulate a scenario share (run, bench, and
 * later sweep and plan): common options, loading the catalogue and the scenario with
 * errors reported the same way, the run header and the JSON form of a result.
 */
#ifndef FS_RUNCOMMON_H
#define FS_RUNCOMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cluster.h"
#include "scenario.h"

typedef struct fs_run_opts {
    const char *catalog;     /* NULL = fm_default_catalog_dir() */
    bool seed_set;
    uint64_t seed;
    uint64_t requests;       /* 0 = as in the scenario */
} fs_run_opts;

/* Long options every simulating command accepts, with their getopt codes. */
#define FS_RUN_LONG_OPTS                                   \
    {"seed", required_argument, NULL, 's'},                \
    {"catalog", required_argument, NULL, 'c'},             \
    {"requests", required_argument, NULL, 'n'}

/* Applies option `c` with argument `arg`; 0, or -1 after printing "fleetsim CMD: ...". */
int fs_run_opt(fs_run_opts *ro, int c, const char *arg, const char *cmd);

/*
 * Loads the catalogue and scenario `path`, applies the overrides and runs it. On
 * success *sc must be freed with fs_scenario_free(). On failure prints
 * "fleetsim CMD: message" to stderr and returns -1 with nothing to free.
 */
int fs_load_and_run(const char *cmd, const char *path, const fs_run_opts *ro,
                    fs_scenario *sc, fs_run_result *res);
/* Loads without running (for bench, which runs several times). Same contract. */
int fs_load_scenario(const char *cmd, const char *path, const fs_run_opts *ro,
                     fs_scenario *sc);

/* The lines above the summary: what was simulated and the KV capacity (vLLM-style). */
void fs_print_run_header(FILE *f, const fs_scenario *sc, const fm_kv_sizing *kv);

/* {"scenario": {...}, "kv_cache": {...}, "summary": {...}}; NULL when out of memory. */
json_t *fs_run_to_json(const fs_scenario *sc, const fs_run_result *res);

#endif
