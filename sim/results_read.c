/*
 * results_read.c: reading the results store back: run references, listings, one run,
 * side-by-side comparisons, CSV export, merging other databases (sweep shards), and
 * the integrity check.
 *
 * Workload: interactive commands over files of up to thousands of runs; a listing
 * reads one row per run plus a few summary values by primary key, never the request
 * rows. Rows become JSON (jansson) so that the text and the --json forms of every
 * command come from the same data.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <csv.h>

#include "fu_yaml.h"
#include "results_impl.h"

static int oom(char **err)
{
    *err = fu_asprintf("out of memory");
    return -ENOMEM;
}

/* The current row as a JSON object, one key per column; "tags" holds JSON text. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    for (int i = 0; o && i < sqlite3_column_count(st); i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: v = json_integer(sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: v = json_real(sqlite3_column_double(st, i)); break;
        case SQLITE_NULL: v = json_null(); break;
        default:
            v = strcmp(name, "tags") == 0
                    ? json_loads((const char *)sqlite3_column_text(st, i), 0, NULL)
                    : json_string((const char *)sqlite3_column_text(st, i));
        }
        if (!v || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* --- references --- */

static int64_t lookup(fs_results *db, const char *sql, const char *text)
{
    sqlite3_stmt *st;
    int64_t id = -1;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

int fs_results_resolve(fs_results *db, const char *ref, int64_t *id, char **err)
{
    char *end;
    errno = 0;
    (void)strtoll(ref, &end, 10);
    int64_t found;
    if (strcmp(ref, "last") == 0)
        found = lookup(db, "SELECT max(id) FROM runs", NULL);
    else if (*ref && *end == '\0')
        found = lookup(db, "SELECT id FROM runs WHERE id = ?1", ref);
    else
        found = lookup(db, "SELECT max(id) FROM runs WHERE name = ?1", ref);
    if (found <= 0) {
        *err = fu_asprintf("%s: no run '%s' (give a run id, a name, or 'last')", db->path,
                           ref);
        return -ENOENT;
    }
    *id = found;
    return 0;
}

/* --- list and get --- */

#define SUMMARY_VALUE(metric, as) \
    "(SELECT value FROM summary WHERE run_id = r.id AND metric = '" metric "') AS " as

static const char LIST_SQL[] =
    "SELECT r.id, r.uid, r.name, r.scenario, r.seed, r.model, r.fleet, r.accelerators,"
    " r.status, r.started_at, r.wall_s, r.requests_stored, r.scenario_hash,"
    " (SELECT json_group_array(tag) FROM (SELECT tag FROM run_tags"
    "   WHERE run_id = r.id ORDER BY tag)) AS tags, "
    SUMMARY_VALUE("completed", "completed") ", "
    SUMMARY_VALUE("ttft_s.p99", "ttft_p99_s") ", "
    SUMMARY_VALUE("tpot_s.p99", "tpot_p99_s") ", "
    SUMMARY_VALUE("cost.usd_per_m_tokens", "usd_per_m_tokens")
    " %s FROM runs r WHERE %s ORDER BY r.id";

/* Runs `sql` (LIST_SQL filled in) with ?1 bound to `key` (text or id), rows to *out. */
static int select_runs(fs_results *db, const char *extra, const char *where,
                       const char *text, int64_t id, json_t **out, char **err)
{
    char *sql = fu_asprintf(LIST_SQL, extra, where);
    sqlite3_stmt *st = NULL;
    json_t *a = json_array();
    int rc = sql && a ? 0 : oom(err);
    if (rc == 0 && sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        rc = fsr_fail(db, err, "listing runs");
    if (rc == 0 && text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    else if (rc == 0)
        sqlite3_bind_int64(st, 1, id);
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = row_json(st);
        if (!o || json_array_append_new(a, o) != 0)
            rc = oom(err);
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = fsr_fail(db, err, "listing runs");
    sqlite3_finalize(st);
    free(sql);
    if (rc != 0)
        json_decref(a), a = NULL;
    *out = a;
    return rc;
}

int fs_results_list(fs_results *db, const char *tag, json_t **out, char **err)
{
    if (!tag)
        return select_runs(db, "", "?1 = 0", NULL, 0, out, err);
    return select_runs(db, "", "EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id"
                       " AND t.tag = ?1)", tag, 0, out, err);
}

/* metric -> value of one run as a JSON object. */
static int load_metrics(fs_results *db, int64_t id, json_t **out, char **err)
{
    sqlite3_stmt *st;
    json_t *o = json_object();
    if (!o)
        return oom(err);
    if (sqlite3_prepare_v2(db->h, "SELECT metric, value FROM summary WHERE run_id = ?1"
                           " ORDER BY metric", -1, &st, NULL) != SQLITE_OK) {
        json_decref(o);
        return fsr_fail(db, err, "reading the summary");
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = sqlite3_column_type(st, 1) == SQLITE_NULL
                        ? json_null() : json_real(sqlite3_column_double(st, 1));
        if (json_object_set_new(o, (const char *)sqlite3_column_text(st, 0), v) != 0)
            rc = oom(err);
    }
    sqlite3_finalize(st);
    if (rc != 0)
        json_decref(o), o = NULL;
    *out = o;
    return rc;
}

/* Replaces the stored JSON text "result_json" by the parsed "result". */
static void parse_result(json_t *run)
{
    const char *text = json_string_value(json_object_get(run, "result_json"));
    json_t *result = text ? json_loads(text, 0, NULL) : NULL;
    json_object_set_new(run, "result", result ? result : json_null());
    json_object_del(run, "result_json");
}

int fs_results_get(fs_results *db, int64_t id, json_t **out, char **err)
{
    json_t *rows, *metrics = NULL;
    int rc = select_runs(db, ", r.scenario_file, r.scenario_text,"
                         " r.fleetsim_version, r.error, r.sample_period_s,"
                         " r.summary_text, r.result_json", "r.id = ?1", NULL, id, &rows, err);
    if (rc != 0)
        return rc;
    if (json_array_size(rows) != 1) {
        json_decref(rows);
        *err = fu_asprintf("%s: no run %" PRId64, db->path, id);
        return -ENOENT;
    }
    json_t *run = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    parse_result(run);
    if ((rc = load_metrics(db, id, &metrics, err)) != 0) {
        json_decref(run);
        return rc;
    }
    json_object_set_new(run, "metrics", metrics);
    *out = run;
    return 0;
}

/* --- compare --- */

typedef struct key_metric {
    const char *metric, *label, *unit;
    double scale;               /* stored value x scale = displayed value */
} key_metric;

static const key_metric KEY_METRICS[] = {
    {"completed", "requests completed", "", 1},
    {"rejected", "requests rejected", "", 1},
    {"preemptions", "preemptions", "", 1},
    {"throughput_rps", "throughput", "req/s", 1},
    {"output_tokens_per_s", "output throughput", "tok/s", 1},
    {"ttft_s.mean", "TTFT mean", "ms", 1e3},
    {"ttft_s.p50", "TTFT p50", "ms", 1e3},
    {"ttft_s.p90", "TTFT p90", "ms", 1e3},
    {"ttft_s.p99", "TTFT p99", "ms", 1e3},
    {"tpot_s.p50", "TPOT p50", "ms", 1e3},
    {"tpot_s.p90", "TPOT p90", "ms", 1e3},
    {"tpot_s.p99", "TPOT p99", "ms", 1e3},
    {"itl_s.p99", "ITL p99", "ms", 1e3},
    {"e2e_s.p50", "E2E p50", "s", 1},
    {"e2e_s.p99", "E2E p99", "s", 1},
    {"queue_s.p99", "queueing p99", "ms", 1e3},
    {"cached_token_share", "input tokens cached", "%", 100},
    {"slo.attainment", "SLO attainment", "%", 100},
    {"slo.goodput_rps", "goodput", "req/s", 1},
    {"cost.fleet_usd_per_hour", "fleet cost", "$/h", 1},
    {"cost.usd_per_m_tokens", "cost per M tokens", "$", 1},
    {"cost.usd_per_m_output_tokens", "cost per M output tokens", "$", 1},
    {"energy.j_per_token", "energy per token", "J", 1},
};
#define NKEY (sizeof KEY_METRICS / sizeof KEY_METRICS[0])

static json_t *diff_pct(const json_t *base, const json_t *v)
{
    if (!json_is_number(base) || !json_is_number(v) || json_number_value(base) == 0)
        return json_null();
    double b = json_number_value(base);
    return json_real((json_number_value(v) - b) / fabs(b) * 100.0);
}

static json_t *compare_row(const key_metric *k, json_t *const *metrics, int n)
{
    json_t *values = json_array(), *diffs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(metrics[i], k->metric);
        json_array_append_new(values, json_is_number(v)
                                          ? json_real(json_number_value(v) * k->scale)
                                          : json_null());
    }
    for (int i = 0; i < n; i++)
        json_array_append_new(diffs, i == 0 ? json_null()
                                            : diff_pct(json_array_get(values, 0),
                                                       json_array_get(values, i)));
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "metric", k->metric, "label", k->label,
                     "unit", k->unit, "values", values, "diff_pct", diffs);
}

static int compare_runs(fs_results *db, const int64_t *ids, int n, json_t *runs,
                        json_t **metrics, char **err)
{
    for (int i = 0; i < n; i++) {
        json_t *run;
        int rc = fs_results_get(db, ids[i], &run, err);
        if (rc != 0)
            return rc;
        metrics[i] = json_incref(json_object_get(run, "metrics"));
        json_array_append_new(runs, json_pack("{s:I, s:O, s:O}", "id", (json_int_t)ids[i],
                                              "name", json_object_get(run, "name"),
                                              "status", json_object_get(run, "status")));
        json_decref(run);
    }
    return 0;
}

int fs_results_compare(fs_results *db, const int64_t *ids, int n, json_t **out, char **err)
{
    assert(n >= 1);
    json_t **metrics = calloc((size_t)n, sizeof *metrics);
    json_t *runs = json_array(), *rows = json_array();
    int rc = metrics && runs && rows ? compare_runs(db, ids, n, runs, metrics, err)
                                     : oom(err);
    for (size_t k = 0; rc == 0 && k < NKEY; k++)
        json_array_append_new(rows, compare_row(&KEY_METRICS[k], metrics, n));
    for (int i = 0; metrics && i < n; i++)
        json_decref(metrics[i]);
    free(metrics);
    *out = rc == 0 ? json_pack("{s:o, s:o}", "runs", runs, "metrics", rows) : NULL;
    if (rc != 0)
        json_decref(runs), json_decref(rows);
    return rc;
}

/* 4 significant digits, as the run summary prints latencies; "-" when undefined. */
static const char *fmt_value(const json_t *v, char buf[32])
{
    if (!json_is_number(v))
        return "-";
    double x = json_number_value(v);
    if (fabs(x) >= 1e4 && fabs(x) < 1e12 && x == floor(x))
        snprintf(buf, 32, "%.0f", x);
    else
        snprintf(buf, 32, "%.4g", x);
    return buf;
}

/* The runs named one per line, then the column heads "#ID". */
static void print_header(FILE *f, const json_t *runs)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
        fprintf(f, "#%-5" JSON_INTEGER_FORMAT " %s (%s)\n",
                json_integer_value(json_object_get(r, "id")),
                json_string_value(json_object_get(r, "name")),
                json_string_value(json_object_get(r, "status")));
    fprintf(f, "\n%-26s %-6s", "metric", "unit");
    json_array_foreach(runs, i, r) {
        char head[32];
        snprintf(head, sizeof head, "#%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(r, "id")));
        fprintf(f, i == 0 ? " %12s" : " %11s %8s", head, "");
    }
    fputc('\n', f);
}

void fs_results_compare_print(FILE *f, const json_t *cmp)
{
    size_t k, i;
    json_t *row, *v;
    print_header(f, json_object_get(cmp, "runs"));
    json_array_foreach(json_object_get(cmp, "metrics"), k, row) {
        fprintf(f, "%-26s %-6s", json_string_value(json_object_get(row, "label")),
                json_string_value(json_object_get(row, "unit")));
        json_array_foreach(json_object_get(row, "values"), i, v) {
            char buf[32], pct[32] = "";
            json_t *d = json_array_get(json_object_get(row, "diff_pct"), i);
            if (json_is_number(d))
                snprintf(pct, sizeof pct, "%+.1f%%", json_number_value(d));
            else if (i > 0)
                snprintf(pct, sizeof pct, "n/a");
            if (i == 0)
                fprintf(f, " %12s", fmt_value(v, buf));
            else
                fprintf(f, " %11s %8s", fmt_value(v, buf), pct);
        }
        fputc('\n', f);
    }
}

/* --- CSV export --- */

static void csv_cell(FILE *f, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: break;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: fputs((const char *)t, f); break;
    default: csv_fwrite(f, t, (size_t)sqlite3_column_bytes(st, i));
    }
}

static int export_table(fs_results *db, const char *sql, int64_t id, FILE *f, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "exporting");
    sqlite3_bind_int64(st, 1, id);
    int n = sqlite3_column_count(st), s;
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        fputs(i ? "," : "", f);
        csv_fwrite(f, name, strlen(name));
    }
    fputc('\n', f);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            fputs(i ? "," : "", f);
            csv_cell(f, st, i);
        }
        fputc('\n', f);
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : fsr_fail(db, err, "exporting");
}

static const struct {
    const char *file, *sql;
} EXPORTS[] = {
    {"runs.csv", "SELECT * FROM runs WHERE id = ?1"},
    {"tags.csv", "SELECT * FROM run_tags WHERE run_id = ?1 ORDER BY tag"},
    {"summary.csv", "SELECT * FROM summary WHERE run_id = ?1 ORDER BY metric"},
    {"requests.csv", "SELECT * FROM requests WHERE run_id = ?1 ORDER BY seq"},
    {"samples.csv", "SELECT * FROM samples WHERE run_id = ?1 ORDER BY t_s, replica"},
};

static int export_one(fs_results *db, int64_t id, const char *path, const char *sql,
                      char **err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        *err = fu_asprintf("%s: %s", path, strerror(errno));
        return -errno;
    }
    int rc = export_table(db, sql, id, f, err);
    if (fclose(f) != 0 && rc == 0) {
        *err = fu_asprintf("%s: %s", path, strerror(errno));
        rc = -EIO;
    }
    return rc;
}

int fs_results_export_csv(fs_results *db, int64_t id, const char *dir, json_t **files,
                          char **err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        *err = fu_asprintf("%s: %s", dir, strerror(errno));
        return -errno;
    }
    json_t *list = json_array();
    int rc = list ? 0 : oom(err);
    for (size_t i = 0; rc == 0 && i < sizeof EXPORTS / sizeof EXPORTS[0]; i++) {
        char *path = fu_asprintf("%s/%s", dir, EXPORTS[i].file);
        rc = path ? export_one(db, id, path, EXPORTS[i].sql, err) : oom(err);
        if (rc == 0)
            json_array_append_new(list, json_string(path));
        free(path);
    }
    if (rc == 0 && files)
        *files = json_incref(list);
    json_decref(list);
    return rc;
}

/* --- merge --- */

#define RUN_COLUMNS                                                                  \
    "uid, name, scenario, scenario_file, scenario_text, scenario_hash, seed, model,"  \
    " fleet, accelerators, fleetsim_version, started_at, wall_s, status, error,"      \
    " requests_stored, sample_period_s, summary_text, result_json"

static const char *const COPY_ROWS[] = {
    "INSERT INTO main.requests SELECT ?1, seq, id, arrival_s, prefill_replica,"
    " decode_replica, queue_s, ttft_s, tpot_s, e2e_s, input_tokens, output_tokens,"
    " cached_tokens, preemptions, kv_transfer_s, rejected FROM src.requests"
    " WHERE run_id = ?2",
    "INSERT INTO main.samples SELECT ?1, t_s, replica, waiting, running, kv_usage,"
    " input_tps, output_tps, utilisation, power_w FROM src.samples WHERE run_id = ?2",
    "INSERT INTO main.summary SELECT ?1, metric, value FROM src.summary WHERE run_id = ?2",
    "INSERT INTO main.run_tags SELECT ?1, tag FROM src.run_tags WHERE run_id = ?2",
};

static int copy_rows(fs_results *db, const char *sql, int64_t to, int64_t from, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "merging");
    sqlite3_bind_int64(st, 1, to);
    sqlite3_bind_int64(st, 2, from);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fsr_fail(db, err, "merging");
    sqlite3_finalize(st);
    return rc;
}

static int copy_run(fs_results *db, int64_t from, char **err)
{
    int rc = fsr_exec_bound(db, "INSERT INTO main.runs (" RUN_COLUMNS ") SELECT "
                            RUN_COLUMNS " FROM src.runs WHERE id = ?1", from, NULL, err);
    int64_t to = sqlite3_last_insert_rowid(db->h);
    for (size_t i = 0; rc == 0 && i < sizeof COPY_ROWS / sizeof COPY_ROWS[0]; i++)
        rc = copy_rows(db, COPY_ROWS[i], to, from, err);
    return rc;
}

static int copy_runs(fs_results *db, int *copied, int *skipped, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, "SELECT id, status = 'complete' AND uid NOT IN"
                           " (SELECT uid FROM main.runs) FROM src.runs ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "merging");
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (!sqlite3_column_int(st, 1)) {
            ++*skipped;
            continue;
        }
        rc = copy_run(db, sqlite3_column_int64(st, 0), err);
        ++*copied;
    }
    sqlite3_finalize(st);
    return rc;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int fs_results_merge(fs_results *db, const char *src_path, int *copied, int *skipped,
                     char **err)
{
    *copied = *skipped = 0;
    if (same_file(db->path, src_path)) {
        *err = fu_asprintf("%s: cannot merge a database into itself", src_path);
        return -EINVAL;
    }
    fs_results *src;                /* opening brings its schema up to date */
    int rc = fs_results_open(src_path, false, &src, err);
    if (rc != 0)
        return rc;
    fs_results_close(src);
    rc = fsr_exec_bound(db, "ATTACH ?2 AS src", 0, src_path, err);
    if (rc != 0)
        return rc;
    rc = fsr_exec(db, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = copy_runs(db, copied, skipped, err);
    if (rc == 0)
        rc = fsr_exec(db, "COMMIT", err);
    else
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(db->h, "DETACH src", NULL, NULL, NULL);
    if (rc != 0)
        *copied = *skipped = 0;
    return rc;
}

/* --- check, tags, names --- */

int fs_results_check(fs_results *db, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "checking");
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = fsr_fail(db, err, "checking");
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        *err = fu_asprintf("%s: integrity check: %s", db->path, sqlite3_column_text(st, 0));
        rc = -EIO;
    }
    sqlite3_finalize(st);
    return rc;
}

int fs_results_tag(fs_results *db, int64_t id, const char *tag, bool add, char **err)
{
    return fsr_exec_bound(db, add ? "INSERT OR IGNORE INTO run_tags VALUES (?1, ?2)"
                                  : "DELETE FROM run_tags WHERE run_id = ?1 AND tag = ?2",
                          id, tag, err);
}

int fs_results_rename(fs_results *db, int64_t id, const char *name, char **err)
{
    return fsr_exec_bound(db, "UPDATE runs SET name = ?2 WHERE id = ?1", id, name, err);
}
