/*
 * results.h: the results store, an embedded SQLite database that every simulating
 * command writes by default and that `fleetsim results`, `plot` and `report` read.
 *
 * Workload assumed: hundreds to thousands of runs in one file, each with up to tens of
 * millions of per-request rows (optional) and one time-series row per replica per
 * second; several processes (a sweep's workers) may write the same file at once, each
 * its own run. Writing must cost a small fraction of the simulation, so a run is
 * written through prepared statements in batches of rows, one transaction per batch,
 * in WAL mode with synchronous=NORMAL (a power loss may lose the last batches, never
 * corrupt the file).
 *
 * Life of a run: fs_results_run_begin() inserts the run with status 'incomplete' and
 * commits; rows then go in by batches; fs_results_run_finish() writes the summary and
 * flips the status to 'complete' in the last transaction. A run that is killed, runs
 * out of disk or fails to simulate therefore stays 'incomplete', and no other run is
 * touched. Merges copy complete runs only.
 *
 * Schema (version FS_RESULTS_SCHEMA_VERSION in PRAGMA user_version; older files are
 * migrated on open, one step per version, each in its own transaction):
 *   runs(id, uid, name, scenario, scenario_file, scenario_text, scenario_hash, seed,
 *        model, fleet, accelerators, fleetsim_version, started_at, wall_s, status,
 *        error, requests_stored, sample_period_s, summary_text, result_json)
 *   run_tags(run_id, tag)
 *   requests(run_id, seq, id, arrival_s, prefill_replica, decode_replica, queue_s,
 *            ttft_s, tpot_s, e2e_s, input_tokens, output_tokens, cached_tokens,
 *            preemptions, kv_transfer_s, rejected)
 *            (NULL where undefined: a rejected request's latencies and replica, TPOT
 *            of a one-token answer, prefill replica and KV transfer of a request that
 *            was not disaggregated)
 *   summary(run_id, metric, value)   every figure of `fleetsim run --json`'s summary
 *            and kv_cache, flattened to dotted names ("ttft_s.p99"), NULL = undefined
 *   samples(run_id, t_s, replica, waiting, running, kv_usage, input_tps, output_tps,
 *           utilisation, power_w)
 * Times are seconds of simulated time (REAL).
 *
 * Ownership: fs_results and fs_results_run are opaque, owned by the caller that opened
 * or began them. JSON objects handed out are new references the caller releases.
 * Errors: 0 or a negative errno-style code (-EIO for SQLite errors) with a malloc'd
 * message in *err naming the database file.
 */
#ifndef FS_RESULTS_H
#define FS_RESULTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cluster.h"
#include "scenario.h"

#define FS_RESULTS_SCHEMA_VERSION 2

typedef struct fs_results fs_results;
typedef struct fs_results_run fs_results_run;

/*
 * Opens (with `create`, creating) the database at `path`, sets WAL mode, and migrates
 * an older schema to the current one. Fails on a file that is not a fleetsim results
 * database, or one written by a newer fleetsim (schema version too high).
 */
int fs_results_open(const char *path, bool create, fs_results **out, char **err);
/* Closes the database; accepts NULL. A run still being written is left incomplete. */
void fs_results_close(fs_results *db);
/* The file name given to fs_results_open (owned by db). */
const char *fs_results_path(const fs_results *db);
/* The SQLite connection, for read-only queries by the tool (plots, reports). */
sqlite3 *fs_results_handle(fs_results *db);

/* --- writing a run --- */

typedef struct fs_run_meta {
    const char *name;           /* NULL = the scenario's name */
    const char *const *tags;    /* ntags tags, each added once */
    int ntags;
    bool store_requests;        /* per-request rows (off for huge runs) */
    double sample_period_s;     /* of the time series */
} fs_run_meta;

/*
 * Inserts the run (status 'incomplete') and commits, then prepares the batch writers.
 * `db` must outlive the writer. On success *out is finished or abandoned by the caller.
 */
int fs_results_run_begin(fs_results *db, const fs_scenario *sc, const fs_run_meta *meta,
                         fs_results_run **out, char **err);
/* The run's id in the database. */
int64_t fs_results_run_id(const fs_results_run *w);
/*
 * Add one request / one replica sample. Buffered into the current batch transaction;
 * a batch commits every few thousand rows. They cannot fail: the first error is kept,
 * later rows are dropped, and fs_results_run_finish reports it.
 */
void fs_results_run_request(fs_results_run *w, const fs_req_record *r);
void fs_results_run_sample(fs_results_run *w, const fs_replica_sample *s);
/*
 * Writes the summary (`result` is fs_run_to_json's object; `text` what `fleetsim run`
 * prints), the wall time, and marks the run complete, in one transaction. Frees w
 * whatever the outcome; on failure the run stays incomplete.
 */
int fs_results_run_finish(fs_results_run *w, const char *text, const json_t *result,
                          double wall_s, char **err);
/* Gives up on the run: records `why` (may be NULL) and leaves it incomplete. Frees w;
 * accepts NULL. */
void fs_results_run_abandon(fs_results_run *w, const char *why);

/* --- reading (results_read.c) --- */

/*
 * Resolves a run reference: a run id, "last" (the newest run), or a name (the newest
 * run with that name). -ENOENT with a message when nothing matches.
 */
int fs_results_resolve(fs_results *db, const char *ref, int64_t *id, char **err);
/*
 * The runs, oldest first, as a JSON array of objects (id, uid, name, scenario, seed,
 * model, fleet, accelerators, status, started_at, wall_s, requests_stored,
 * scenario_hash (XXH64 of the scenario's text, 16 hex digits), tags, and
 * from the summary completed, ttft_p99_s, tpot_p99_s, usd_per_m_tokens). `tag` (may be
 * NULL) keeps the runs carrying it.
 */
int fs_results_list(fs_results *db, const char *tag, json_t **out, char **err);
/* One run: the list's fields plus scenario_file, scenario_text, fleetsim_version,
 * error, summary_text, result (the stored JSON) and metrics (flat name -> value). */
int fs_results_get(fs_results *db, int64_t id, json_t **out, char **err);
/*
 * Side by side: {"runs": [{id, name}...], "metrics": [{metric, label, unit, values:
 * [...], diff_pct: [null, ...]}]}. Values are in display units (ms, %, ...); diff_pct
 * is relative to the first run (null where the first value is 0 or either is null).
 */
int fs_results_compare(fs_results *db, const int64_t *ids, int n, json_t **out, char **err);
/* Prints a comparison as an aligned text table, differences as "+12.3%". */
void fs_results_compare_print(FILE *f, const json_t *cmp);
/* Writes DIR/{runs,tags,summary,requests,samples}.csv for run `id` (DIR is created);
 * *files (may be NULL) gets the array of paths written. */
int fs_results_export_csv(fs_results *db, int64_t id, const char *dir, json_t **files,
                          char **err);
/*
 * Copies the complete runs of the database at `src_path` that `db` does not hold yet
 * (by uid) into `db`, with new ids, in one transaction. Counts go to *copied and
 * *skipped (incomplete or already present).
 */
int fs_results_merge(fs_results *db, const char *src_path, int *copied, int *skipped,
                     char **err);
/* PRAGMA integrity_check: 0 when the answer is "ok", else -EIO with the answer. */
int fs_results_check(fs_results *db, char **err);
/* Adds (add) or removes a tag; renames a run. */
int fs_results_tag(fs_results *db, int64_t id, const char *tag, bool add, char **err);
int fs_results_rename(fs_results *db, int64_t id, const char *name, char **err);

#endif
