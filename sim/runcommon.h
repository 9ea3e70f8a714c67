/*
 * runcommon.h: what the subcommands that simulate a scenario share (run, bench, and
 * later sweep and plan): common options, loading the catalogue and the scenario with
 * errors reported the same way, the run header and the JSON form of a result; and
 * where a run goes: the results database (sim/results.h) and the progress bar.
 *
 * Storing: unless --no-db, every run is written to the results database given by
 * --db, else by the environment variable FLEETSIM_DB, else ./fleetsim.db (make check
 * sets FLEETSIM_DB to a temporary file so that no database lands in the tree). Store
 * messages and the progress bar go to stderr, only when it is a terminal and not
 * --quiet: stdout carries the same bytes with or without a database.
 */
#ifndef FS_RUNCOMMON_H
#define FS_RUNCOMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cluster.h"
#include "scenario.h"

#define FS_RUN_MAX_TAGS 16

typedef struct fs_run_opts {
    const char *catalog;     /* NULL = fm_default_catalog_dir() */
    bool seed_set;
    uint64_t seed;
    uint64_t requests;       /* 0 = as in the scenario */
    /* where the run is stored, and what is shown while it runs */
    const char *db;          /* NULL = $FLEETSIM_DB or fleetsim.db */
    bool no_db;              /* do not store the run */
    bool no_requests;        /* store no per-request rows */
    bool quiet;              /* no progress bar, no store messages */
    const char *name;        /* the run's name (NULL = the scenario's) */
    const char *tags[FS_RUN_MAX_TAGS];
    int ntags;
} fs_run_opts;

/* getopt codes of the store options (outside the range of characters). */
enum {
    FS_OPT_DB = 0x1000, FS_OPT_NO_DB, FS_OPT_NO_REQUESTS, FS_OPT_QUIET, FS_OPT_NAME,
    FS_OPT_TAG
};

/* Long options every simulating command accepts, with their getopt codes. */
#define FS_RUN_LONG_OPTS                                   \
    {"seed", required_argument, NULL, 's'},                \
    {"catalog", required_argument, NULL, 'c'},             \
    {"requests", required_argument, NULL, 'n'},            \
    {"db", required_argument, NULL, FS_OPT_DB},            \
    {"no-db", no_argument, NULL, FS_OPT_NO_DB},            \
    {"no-requests", no_argument, NULL, FS_OPT_NO_REQUESTS}, \
    {"quiet", no_argument, NULL, FS_OPT_QUIET},            \
    {"name", required_argument, NULL, FS_OPT_NAME},        \
    {"tag", required_argument, NULL, FS_OPT_TAG}

/* Their lines for a command's --help. */
#define FS_RUN_STORE_HELP                                                              \
    "  --db PATH       store the run in PATH (default $FLEETSIM_DB or ./fleetsim.db)\n" \
    "  --no-db         do not store the run\n"                                           \
    "  --no-requests   store the summary and time series but no per-request rows\n"     \
    "  --name NAME     name the stored run (default: the scenario's name)\n"            \
    "  --tag TAG       tag the stored run (repeatable)\n"                               \
    "  --quiet         no progress bar or store messages on stderr\n"

/* The database a command uses when not given --db: $FLEETSIM_DB, else fleetsim.db. */
const char *fs_default_db(void);

/* Applies option `c` with argument `arg`; 0, or -1 after printing "fleetsim CMD: ...". */
int fs_run_opt(fs_run_opts *ro, int c, const char *arg, const char *cmd);

/*
 * Loads the catalogue and scenario `path`, applies the overrides and runs it with
 * fs_run_scenario. On success *sc must be freed with fs_scenario_free(). On failure
 * prints "fleetsim CMD: message" to stderr and returns -1 with nothing to free.
 */
int fs_load_and_run(const char *cmd, const char *path, const fs_run_opts *ro,
                    fs_scenario *sc, fs_run_result *res);
/*
 * Runs a loaded scenario: opens the database and begins the run (unless ro->no_db),
 * simulates it with the progress bar and the store watching, then writes the summary
 * and marks the run complete. *run_id (may be NULL) gets the stored run's id, or 0
 * when not stored. Returns 0 when simulated: a database that fails at the end is
 * reported on stderr and leaves the run incomplete, but the result is still good.
 * Returns -1 after printing "fleetsim CMD: message" when the database cannot be
 * opened (before simulating) or the simulation fails (the run stays incomplete, with
 * the error recorded). The scenario stays the caller's.
 */
int fs_run_scenario(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                    fs_run_result *res, int64_t *run_id);
/* Loads without running (for bench, which runs several times). Same contract. */
int fs_load_scenario(const char *cmd, const char *path, const fs_run_opts *ro,
                     fs_scenario *sc);

/* The lines above the summary: what was simulated and the KV capacity (vLLM-style). */
void fs_print_run_header(FILE *f, const fs_scenario *sc, const fm_kv_sizing *kv);

/* {"scenario": {...}, "kv_cache": {...}, "summary": {...}}; NULL when out of memory. */
json_t *fs_run_to_json(const fs_scenario *sc, const fs_run_result *res);

/*
 * Stores a run measured outside the simulator (fleetsim replay against live servers)
 * the way fs_run_scenario stores a simulated one, so that `fleetsim results compare`
 * sets the two side by side: `sc` describes the fleet that was measured, recs[0..n-1]
 * are the requests (unless ro->no_requests), `res` the summary. Returns 0 with the run's
 * id in *run_id (may be NULL), or -1 after printing "fleetsim CMD: ..." (the run is
 * then left incomplete in the database, or not begun).
 */
int fs_store_measured(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                      const fs_req_record *recs, size_t n, const fs_run_result *res,
                      double wall, int64_t *run_id);

#endif
