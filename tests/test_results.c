/*
 * test_results.c: the results store: the schema is created and migrated from the
 * first version, foreign and newer files are refused, a run's rows add up to its
 * summary, an unfinished run stays incomplete beside complete ones, comparisons give
 * the right differences, merges copy complete runs once, CSV export writes every
 * table; and the progress bar's line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cluster.h"
#include "progress.h"
#include "results.h"

/* A fresh temporary directory per test, removed afterwards. */
typedef struct fixture {
    char dir[64];
    char db[96], db2[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fleetsim-test-results-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/a.db", f->dir);
    snprintf(f->db2, sizeof f->db2, "%s/b.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int64_t query_int(fs_results *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(fs_results_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static double query_double(fs_results *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(fs_results_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static fs_results *open_db(const char *path)
{
    fs_results *db = NULL;
    char *err = NULL;
    int rc = fs_results_open(path, true, &db, &err);
    if (rc != 0)
        fail_msg("%s", err);
    return db;
}

static void run_sqlite(const char *path, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* --- schema --- */

static void test_schema_created(void **state)
{
    fixture *f = *state;
    fs_results *db = open_db(f->db);
    assert_int_equal(query_int(db, "PRAGMA user_version"), FS_RESULTS_SCHEMA_VERSION);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                   " AND name IN ('runs','requests','summary','samples',"
                                   "'run_tags')"), 5);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(fs_results_handle(db), "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    fs_results_close(db);
    db = open_db(f->db);            /* reopening an up-to-date file changes nothing */
    assert_int_equal(query_int(db, "PRAGMA user_version"), FS_RESULTS_SCHEMA_VERSION);
    char *err = NULL;
    assert_int_equal(fs_results_check(db, &err), 0);
    fs_results_close(db);
}

/* A database as version 1 wrote it, with one run, migrates and keeps the run. */
static void test_schema_migrated_from_v1(void **state)
{
    fixture *f = *state;
    FILE *in = fopen(TOP_SRCDIR "/tests/data/results-v1.sql", "r");
    assert_non_null(in);
    char sql[8192];
    size_t n = fread(sql, 1, sizeof sql - 1, in);
    fclose(in);
    sql[n] = '\0';
    run_sqlite(f->db, sql);
    fs_results *db = open_db(f->db);
    assert_int_equal(query_int(db, "PRAGMA user_version"), FS_RESULTS_SCHEMA_VERSION);
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs WHERE name = 'old-run'"
                                   " AND length(uid) = 32"), 1);
    char *err = NULL;
    int64_t id;
    assert_int_equal(fs_results_resolve(db, "old-run", &id, &err), 0);
    assert_int_equal(fs_results_tag(db, id, "v1", true, &err), 0);
    json_t *list;
    assert_int_equal(fs_results_list(db, "v1", &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_t *run = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "complete");
    assert_int_equal(json_number_value(json_object_get(run, "completed")), 10);
    json_decref(list);
    fs_results_close(db);
}

static void test_foreign_and_newer_refused(void **state)
{
    fixture *f = *state;
    fs_results *db = NULL;
    char *err = NULL;
    run_sqlite(f->db, "CREATE TABLE t (x)");
    assert_int_equal(fs_results_open(f->db, true, &db, &err), -EINVAL);
    assert_non_null(strstr(err, "not a fleetsim results database"));
    free(err), err = NULL;
    db = open_db(f->db2);
    fs_results_close(db);
    run_sqlite(f->db2, "PRAGMA user_version = 99");
    assert_int_equal(fs_results_open(f->db2, true, &db, &err), -EINVAL);
    assert_non_null(strstr(err, "newer fleetsim"));
    free(err), err = NULL;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none.db", f->dir);
    assert_int_equal(fs_results_open(missing, false, &db, &err), -ENOENT);
    assert_non_null(strstr(err, "no such results database"));
    free(err);
    assert_int_equal(access(missing, F_OK), -1);
}

/* --- a real run --- */

static void load(fs_scenario *sc, uint64_t requests)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    assert_int_equal(fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err), 0);
    assert_int_equal(fs_scenario_load(TOP_SRCDIR "/scenarios/quickstart.yaml", cat, sc, &err), 0);
    fm_catalog_free(cat);
    ft_spec_set_requests(&sc->workload, requests);
}

static void on_request(void *ctx, const fs_req_record *r)
{
    fs_results_run_request(ctx, r);
}

static void on_sample(void *ctx, const fs_replica_sample *s)
{
    fs_results_run_sample(ctx, s);
}

/* Runs the quick start (n requests) into db; returns the run id. */
static int64_t store_run(fs_results *db, uint64_t n, const char *name, fs_run_result *res)
{
    fs_scenario sc;
    load(&sc, n);
    const char *tags[] = {"test", "quick"};
    fs_run_meta meta = {.name = name, .tags = tags, .ntags = 2, .store_requests = true,
                        .sample_period_s = 1};
    fs_results_run *w;
    char *err = NULL;
    assert_int_equal(fs_results_run_begin(db, &sc, &meta, &w, &err), 0);
    int64_t id = fs_results_run_id(w);
    fs_run_observer obs = {.ctx = w, .on_request = on_request, .on_sample = on_sample};
    assert_int_equal(fs_cluster_run_observed(&sc, &obs, res, &err), 0);
    json_t *result = json_pack("{s:o}", "summary", fs_summary_to_json(&res->summary));
    assert_int_equal(fs_results_run_finish(w, "the text\n", result, 0.5, &err), 0);
    json_decref(result);
    fs_scenario_free(&sc);
    return id;
}

static double metric(fs_results *db, int64_t id, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT value FROM summary WHERE run_id = %lld AND metric = '%s'",
             (long long)id, name);
    return query_double(db, sql);
}

static void test_rows_match_summary(void **state)
{
    fixture *f = *state;
    fs_results *db = open_db(f->db);
    fs_run_result res;
    int64_t id = store_run(db, 300, NULL, &res);
    const fs_summary *s = &res.summary;
    assert_int_equal(metric(db, id, "completed"), s->completed);
    assert_true(metric(db, id, "ttft_s.p99") == s->ttft_s.p99);
    assert_true(metric(db, id, "tpot_s.p50") == s->tpot_s.p50);
    assert_true(metric(db, id, "e2e_s.max") == s->e2e_s.max);
    assert_true(metric(db, id, "cost.usd_per_m_tokens") == s->cost.usd_per_m_tokens);
    assert_true(metric(db, id, "energy.j_per_token") == s->energy.j_per_token);
    assert_true(metric(db, id, "slo.percentile_targets_met") == (s->slo.all_ok ? 1 : 0));
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests WHERE rejected = 0"), s->completed);
    assert_int_equal(query_int(db, "SELECT requests_stored FROM runs"), s->completed + s->rejected);
    assert_int_equal(query_int(db, "SELECT sum(output_tokens) FROM requests"), s->output_tokens);
    assert_int_equal(query_int(db, "SELECT sum(input_tokens) FROM requests"), s->input_tokens);
    /* Aggregated serving: no prefill replica, no KV transfer. */
    assert_int_equal(query_int(db, "SELECT count(prefill_replica) + count(kv_transfer_s)"
                                   " FROM requests"), 0);
    /* Means and maxima from the rows are the summary's (quantiles are P^2 estimates). */
    assert_float_equal(query_double(db, "SELECT avg(ttft_s) FROM requests"), s->ttft_s.mean,
                       1e-9);
    assert_float_equal(query_double(db, "SELECT avg(e2e_s) FROM requests"), s->e2e_s.mean, 1e-9);
    assert_float_equal(query_double(db, "SELECT avg(tpot_s) FROM requests"), s->tpot_s.mean,
                       1e-9);
    assert_float_equal(query_double(db, "SELECT max(queue_s) FROM requests"), s->queue_s.max,
                       1e-9);
    /* One sample per second of the run, and the status and text are the final ones. */
    int64_t samples = query_int(db, "SELECT count(*) FROM samples");
    assert_true(samples >= (int64_t)s->makespan_s - 1 && samples <= (int64_t)s->makespan_s + 3);
    assert_true(query_double(db, "SELECT sum(output_tps) FROM samples") ==
                (double)s->output_tokens);
    json_t *run;
    char *err = NULL;
    assert_int_equal(fs_results_get(db, id, &run, &err), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "complete");
    assert_string_equal(json_string_value(json_object_get(run, "summary_text")), "the text\n");
    assert_string_equal(json_string_value(json_object_get(run, "name")), "quickstart");
    assert_int_equal(json_array_size(json_object_get(run, "tags")), 2);
    assert_non_null(json_object_get(json_object_get(run, "result"), "summary"));
    json_decref(run);
    fs_results_close(db);
}

/* A run that is begun and fed but never finished stays incomplete; the run before it
 * is untouched, and the rows of full batches were committed. */
static void test_unfinished_run_incomplete(void **state)
{
    fixture *f = *state;
    fs_results *db = open_db(f->db);
    fs_run_result res;
    int64_t done = store_run(db, 50, "first", &res);
    fs_scenario sc;
    load(&sc, 50);
    fs_run_meta meta = {.store_requests = true, .sample_period_s = 1};
    fs_results_run *w;
    char *err = NULL;
    assert_int_equal(fs_results_run_begin(db, &sc, &meta, &w, &err), 0);
    int64_t id = fs_results_run_id(w);
    fs_req_record r = {.arrival = 0, .first_scheduled = 1, .first_token = 2, .finish = 3,
                       .input_tokens = 10, .output_tokens = 2, .prefill_replica = -1};
    for (int i = 0; i < 5000; i++) {
        r.id = (uint64_t)i;
        fs_results_run_request(w, &r);
    }
    fs_results_run_abandon(w, "killed");
    fs_scenario_free(&sc);
    fs_results_close(db);

    db = open_db(f->db);
    json_t *run;
    assert_int_equal(fs_results_get(db, id, &run, &err), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "incomplete");
    assert_string_equal(json_string_value(json_object_get(run, "error")), "killed");
    assert_int_equal(json_integer_value(json_object_get(run, "requests_stored")), 4096);
    json_decref(run);
    assert_int_equal(fs_results_get(db, done, &run, &err), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "complete");
    json_decref(run);
    assert_int_equal(fs_results_check(db, &err), 0);
    fs_results_close(db);
}

/* --- compare --- */

/* A complete run whose summary says only what `summary` says. */
static int64_t synthetic_run(fs_results *db, const char *name, json_t *summary)
{
    fs_scenario sc = {.seed = 1, .tp = 1, .replicas = 1};
    snprintf(sc.name, sizeof sc.name, "synthetic");
    fs_run_meta meta = {.name = name, .sample_period_s = 1};
    fs_results_run *w;
    char *err = NULL;
    assert_int_equal(fs_results_run_begin(db, &sc, &meta, &w, &err), 0);
    int64_t id = fs_results_run_id(w);
    json_t *result = json_pack("{s:o}", "summary", summary);
    assert_int_equal(fs_results_run_finish(w, "", result, 0, &err), 0);
    json_decref(result);
    return id;
}

static void test_compare_differences(void **state)
{
    fixture *f = *state;
    fs_results *db = open_db(f->db);
    int64_t ids[3];
    ids[0] = synthetic_run(db, "base", json_pack("{s:f, s:{s:f}, s:{s:f}}", "throughput_rps",
                                                  4.0, "ttft_s", "p99", 0.2, "cost",
                                                  "usd_per_m_tokens", 0.5));
    ids[1] = synthetic_run(db, "slower", json_pack("{s:f, s:{s:f}, s:{s:f}}", "throughput_rps",
                                                    3.0, "ttft_s", "p99", 0.3, "cost",
                                                    "usd_per_m_tokens", 0.5));
    ids[2] = synthetic_run(db, "nocost", json_pack("{s:f, s:{s:f}, s:n}", "throughput_rps",
                                                    5.0, "ttft_s", "p99", 0.1, "cost"));
    json_t *cmp;
    char *err = NULL;
    assert_int_equal(fs_results_compare(db, ids, 3, &cmp, &err), 0);
    size_t i;
    json_t *row;
    int seen = 0;
    json_array_foreach(json_object_get(cmp, "metrics"), i, row) {
        const char *m = json_string_value(json_object_get(row, "metric"));
        json_t *v = json_object_get(row, "values"), *d = json_object_get(row, "diff_pct");
        assert_true(json_is_null(json_array_get(d, 0)));
        if (strcmp(m, "ttft_s.p99") == 0) {
            assert_float_equal(json_number_value(json_array_get(v, 1)), 300, 1e-9);
            assert_float_equal(json_number_value(json_array_get(d, 1)), 50, 1e-9);
            assert_float_equal(json_number_value(json_array_get(d, 2)), -50, 1e-9);
            seen++;
        } else if (strcmp(m, "throughput_rps") == 0) {
            assert_float_equal(json_number_value(json_array_get(d, 1)), -25, 1e-9);
            assert_float_equal(json_number_value(json_array_get(d, 2)), 25, 1e-9);
            seen++;
        } else if (strcmp(m, "cost.usd_per_m_tokens") == 0) {
            assert_float_equal(json_number_value(json_array_get(d, 1)), 0, 1e-9);
            assert_true(json_is_null(json_array_get(v, 2)));
            assert_true(json_is_null(json_array_get(d, 2)));
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    char *text = NULL;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    fs_results_compare_print(out, cmp);
    fclose(out);
    const char *line = strstr(text, "TTFT p99");
    assert_non_null(line);
    assert_non_null(strstr(line, "200"));
    assert_non_null(strstr(line, "+50.0%"));
    assert_non_null(strstr(line, "-50.0%"));
    assert_non_null(strstr(strstr(text, "throughput "), "-25.0%"));
    assert_non_null(strstr(text, "#2     slower (complete)"));
    free(text);
    json_decref(cmp);
    fs_results_close(db);
}

/* --- merge and export --- */

static void test_merge_copies_complete_runs_once(void **state)
{
    fixture *f = *state;
    fs_results *a = open_db(f->db), *b = open_db(f->db2);
    fs_run_result res;
    store_run(a, 40, "in-a", &res);
    int64_t in_b = store_run(b, 60, "in-b", &res);
    fs_scenario sc;
    load(&sc, 10);
    fs_run_meta meta = {.sample_period_s = 1};
    fs_results_run *w;
    char *err = NULL;
    assert_int_equal(fs_results_run_begin(b, &sc, &meta, &w, &err), 0);
    fs_results_run_abandon(w, NULL);            /* incomplete: never merged */
    fs_scenario_free(&sc);
    int copied, skipped;
    assert_int_equal(fs_results_merge(a, f->db2, &copied, &skipped, &err), 0);
    assert_int_equal(copied, 1);
    assert_int_equal(skipped, 1);
    assert_int_equal(fs_results_merge(a, f->db2, &copied, &skipped, &err), 0);
    assert_int_equal(copied, 0);
    assert_int_equal(skipped, 2);
    assert_int_equal(fs_results_merge(a, f->db, &copied, &skipped, &err), -EINVAL);
    free(err);
    int64_t id;
    assert_int_equal(fs_results_resolve(a, "in-b", &id, &err), 0);
    assert_int_equal(id, 2);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM requests WHERE run_id = 2");
    assert_int_equal(query_int(a, sql), 60);
    assert_int_equal(query_int(a, "SELECT count(*) FROM run_tags WHERE run_id = 2"), 2);
    assert_true(query_int(a, "SELECT count(*) FROM samples WHERE run_id = 2") > 0);
    assert_int_equal(query_int(a, "SELECT count(*) FROM summary WHERE run_id = 2"),
                     query_int(b, "SELECT count(*) FROM summary WHERE run_id = 1"));
    (void)in_b;
    fs_results_close(a);
    fs_results_close(b);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int c, n = 0;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_export_csv(void **state)
{
    fixture *f = *state;
    fs_results *db = open_db(f->db);
    fs_run_result res;
    int64_t id = store_run(db, 30, "x,\"quoted\"", &res);
    char dir[128], path[192];
    snprintf(dir, sizeof dir, "%s/csv", f->dir);
    json_t *files = NULL;
    char *err = NULL;
    assert_int_equal(fs_results_export_csv(db, id, dir, &files, &err), 0);
    assert_int_equal(json_array_size(files), 5);
    snprintf(path, sizeof path, "%s/requests.csv", dir);
    assert_int_equal(count_lines(path), 31);
    snprintf(path, sizeof path, "%s/tags.csv", dir);
    assert_int_equal(count_lines(path), 3);
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    FILE *in = fopen(path, "r");
    char buf[256];
    assert_non_null(fgets(buf, sizeof buf, in));
    assert_non_null(strstr(buf, "\"scenario_text\""));
    fclose(in);
    json_decref(files);
    fs_results_close(db);
}

/* --- the progress line --- */

static void test_progress_line(void **state)
{
    char line[160];
    fs_progress *p = fs_progress_new(stderr, false, "requests", 1000);
    fs_progress_format(p, 250, "12 s simulated", 2.0, line, sizeof line);
    assert_non_null(strstr(line, " 25% 250/1000 requests, 125/s, 6s left, 12 s simulated"));
    assert_non_null(strstr(line, "[======>"));
    fs_progress_update(p, 300, NULL);       /* disabled: draws nothing */
    fs_progress_free(p);
    p = fs_progress_new(stderr, false, "points", 0);
    fs_progress_format(p, 7, NULL, 1.0, line, sizeof line);
    assert_string_equal(line, "7 points, 7/s");
    fs_progress_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_migrated_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_match_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_run_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare_differences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_copies_complete_runs_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_csv, setup, teardown),
        cmocka_unit_test(test_progress_line),
    };
    return cmocka_run_group_tests_name("results", tests, NULL, NULL);
}
