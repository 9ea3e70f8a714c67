/*
 * cmd_results.c: `fleetsim results`: find, show, compare, export, tag and merge the
 * runs in a results database (sim/results.h).
 *
 * Every action takes --db PATH (default $FLEETSIM_DB or ./fleetsim.db) and --json;
 * runs are named by id, by name (the newest run of that name) or as "last". The
 * database is never created here: a missing file is bad input (exit 2), except as the
 * destination of `merge`.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "results.h"
#include "runcommon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim results ACTION [OPTIONS] [ARGS]\n\n"
            "Reads the results database that runs are stored in.\n\n"
            "actions:\n"
            "  list [--tag TAG]          the runs, oldest first\n"
            "  show RUN                  a run's summary, as `fleetsim run` printed it\n"
            "  compare RUN RUN...        key metrics side by side, differences in %% of the\n"
            "                            first run\n"
            "  export RUN --csv DIR      each table of the run to DIR/TABLE.csv\n"
            "  merge SRC.db...           copy the complete runs of other databases (sweep\n"
            "                            shards) into this one, skipping those it holds\n"
            "  tag RUN TAG...            add tags (untag RUN TAG... removes them)\n"
            "  rename RUN NAME           rename a run\n"
            "  check                     verify the database file (SQLite integrity check)\n\n"
            "RUN is a run id, a run name (the newest run of that name) or 'last'.\n\n"
            "options:\n"
            "  --db PATH       the database (default $FLEETSIM_DB or ./fleetsim.db)\n"
            "  --json          print JSON\n"
            "  --csv DIR       (export) the directory to write\n"
            "  --tag TAG       (list) only runs with this tag\n"
            "  -h, --help      show this help\n\n"
            "Exit status: 0 done; 1 the integrity check failed; 2 bad input.\n");
}

typedef struct args {
    const char *db, *tag, *csv;
    bool json;
    int argc;               /* positional arguments after the action */
    char **argv;
} args;

static int fail(const char *msg)
{
    fprintf(stderr, "fleetsim results: %s\n", msg);
    return FS_EXIT_USAGE;
}

static int fail_free(char *err)
{
    int rc = fail(err ? err : "out of memory");
    free(err);
    return rc;
}

static int print_json(json_t *o)
{
    int rc = o && json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) == 0
                 ? FS_EXIT_OK : fail("out of memory");
    putchar('\n');
    json_decref(o);
    return rc;
}

static int open_db(const args *a, bool create, fs_results **db)
{
    char *err = NULL;
    if (fs_results_open(a->db, create, db, &err) != 0)
        return fail_free(err);
    return FS_EXIT_OK;
}

/* Resolves a.argv[0..n) into ids (n >= 1). */
static int resolve_all(fs_results *db, char **refs, int n, int64_t *ids)
{
    for (int i = 0; i < n; i++) {
        char *err = NULL;
        if (fs_results_resolve(db, refs[i], &ids[i], &err) != 0)
            return fail_free(err);
    }
    return FS_EXIT_OK;
}

/* --- list --- */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_tags(const json_t *tags)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
        printf("%s%s", i ? "," : "", json_string_value(t));
}

static void print_list_row(const json_t *r)
{
    char started[20], ttft[16] = "-", cost[16] = "-";
    snprintf(started, sizeof started, "%.16s", str(r, "started_at"));
    for (char *p = started; *p; p++)
        if (*p == 'T')
            *p = ' ';
    json_t *v = json_object_get(r, "ttft_p99_s");
    if (json_is_number(v))
        snprintf(ttft, sizeof ttft, "%.4g", json_number_value(v) * 1e3);
    if (json_is_number(v = json_object_get(r, "usd_per_m_tokens")))
        snprintf(cost, sizeof cost, "%.4g", json_number_value(v));
    v = json_object_get(r, "completed");
    printf("%5" JSON_INTEGER_FORMAT "  %-20.20s %-10s %-16s %8.0f %10s %9s  %-22.22s ",
           json_integer_value(json_object_get(r, "id")), str(r, "name"), str(r, "status"),
           started, json_is_number(v) ? json_number_value(v) : 0.0, ttft, cost,
           str(r, "fleet"));
    print_tags(json_object_get(r, "tags"));
    putchar('\n');
}

static int do_list(const args *a, fs_results *db)
{
    json_t *runs;
    char *err = NULL;
    if (fs_results_list(db, a->tag, &runs, &err) != 0)
        return fail_free(err);
    if (a->json)
        return print_json(runs);
    printf("%5s  %-20s %-10s %-16s %8s %10s %9s  %-22s %s\n", "id", "name", "status",
           "started (UTC)", "requests", "p99 ttft", "$/M tok", "fleet", "tags");
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
        print_list_row(r);
    json_decref(runs);
    return FS_EXIT_OK;
}

/* --- show --- */

static int do_show(const args *a, fs_results *db)
{
    int64_t id;
    json_t *run;
    char *err = NULL;
    if (a->argc != 1)
        return fail("show expects one RUN");
    if (resolve_all(db, a->argv, 1, &id) != 0)
        return FS_EXIT_USAGE;
    if (fs_results_get(db, id, &run, &err) != 0)
        return fail_free(err);
    if (a->json)
        return print_json(run);
    json_t *wall = json_object_get(run, "wall_s");
    printf("run %" PRId64 " (%s), %s, seed %" JSON_INTEGER_FORMAT ", started %s",
           id, str(run, "name"), str(run, "status"),
           json_integer_value(json_object_get(run, "seed")), str(run, "started_at"));
    if (json_is_number(wall))
        printf(", %.2f s wall", json_number_value(wall));
    if (json_array_size(json_object_get(run, "tags"))) {
        printf(", tags ");
        print_tags(json_object_get(run, "tags"));
    }
    printf("\n\n");
    if (json_is_string(json_object_get(run, "summary_text")))
        fputs(str(run, "summary_text"), stdout);
    else
        printf("(no summary: the run did not complete%s%s)\n",
               *str(run, "error") ? ": " : "", str(run, "error"));
    json_decref(run);
    return FS_EXIT_OK;
}

/* --- compare, export --- */

static int do_compare(const args *a, fs_results *db)
{
    if (a->argc < 2)
        return fail("compare expects at least two runs");
    int64_t *ids = calloc((size_t)a->argc, sizeof *ids);
    json_t *cmp = NULL;
    char *err = NULL;
    int rc = !ids ? fail("out of memory") : resolve_all(db, a->argv, a->argc, ids);
    if (rc == 0 && fs_results_compare(db, ids, a->argc, &cmp, &err) != 0)
        rc = fail_free(err);
    free(ids);
    if (rc != 0)
        return rc;
    if (a->json)
        return print_json(cmp);
    fs_results_compare_print(stdout, cmp);
    json_decref(cmp);
    return FS_EXIT_OK;
}

static int do_export(const args *a, fs_results *db)
{
    int64_t id;
    json_t *files = NULL;
    char *err = NULL;
    if (a->argc != 1 || !a->csv)
        return fail("export expects one RUN and --csv DIR");
    if (resolve_all(db, a->argv, 1, &id) != 0)
        return FS_EXIT_USAGE;
    if (fs_results_export_csv(db, id, a->csv, &files, &err) != 0)
        return fail_free(err);
    if (a->json)
        return print_json(json_pack("{s:I, s:o}", "run", (json_int_t)id, "files", files));
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
        printf("%s\n", json_string_value(f));
    json_decref(files);
    return FS_EXIT_OK;
}

/* --- merge, tags, names, check --- */

static int do_merge(const args *a, fs_results *db)
{
    if (a->argc < 1)
        return fail("merge expects at least one database to merge from");
    json_t *out = json_array();
    for (int i = 0; i < a->argc; i++) {
        int copied, skipped;
        char *err = NULL;
        if (fs_results_merge(db, a->argv[i], &copied, &skipped, &err) != 0) {
            json_decref(out);
            return fail_free(err);
        }
        if (!a->json)
            printf("%s: %d run%s copied, %d skipped (incomplete or already here)\n",
                   a->argv[i], copied, copied == 1 ? "" : "s", skipped);
        json_array_append_new(out, json_pack("{s:s, s:i, s:i}", "file", a->argv[i],
                                             "copied", copied, "skipped", skipped));
    }
    if (a->json)
        return print_json(out);
    json_decref(out);
    return FS_EXIT_OK;
}

static int do_tag(const args *a, fs_results *db, bool add)
{
    int64_t id;
    if (a->argc < 2)
        return fail(add ? "tag expects RUN TAG..." : "untag expects RUN TAG...");
    if (resolve_all(db, a->argv, 1, &id) != 0)
        return FS_EXIT_USAGE;
    for (int i = 1; i < a->argc; i++) {
        char *err = NULL;
        if (fs_results_tag(db, id, a->argv[i], add, &err) != 0)
            return fail_free(err);
    }
    return FS_EXIT_OK;
}

static int do_rename(const args *a, fs_results *db)
{
    int64_t id;
    char *err = NULL;
    if (a->argc != 2)
        return fail("rename expects RUN NAME");
    if (resolve_all(db, a->argv, 1, &id) != 0)
        return FS_EXIT_USAGE;
    return fs_results_rename(db, id, a->argv[1], &err) == 0 ? FS_EXIT_OK : fail_free(err);
}

static int do_check(const args *a, fs_results *db)
{
    char *err = NULL;
    int rc = fs_results_check(db, &err);
    if (a->json)
        print_json(json_pack("{s:s, s:s}", "file", a->db, "integrity", rc ? err : "ok"));
    else if (rc == 0)
        printf("%s: ok\n", a->db);
    else
        fprintf(stderr, "fleetsim results: %s\n", err);
    free(err);
    return rc == 0 ? FS_EXIT_OK : FS_EXIT_CHECK;
}

/* --- dispatch --- */

static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"csv", required_argument, NULL, 'c'}, {"tag", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    a->db = fs_default_db();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->db = optarg; break;
        case 'j': a->json = true; break;
        case 'c': a->csv = optarg; break;
        case 't': a->tag = optarg; break;
        case 'h': return 1;
        default: return -1;
        }
    }
    a->argc = argc - optind;
    a->argv = argv + optind;
    return 0;
}

static int dispatch(const char *action, const args *a, fs_results *db)
{
    if (strcmp(action, "list") == 0)
        return do_list(a, db);
    if (strcmp(action, "show") == 0)
        return do_show(a, db);
    if (strcmp(action, "compare") == 0)
        return do_compare(a, db);
    if (strcmp(action, "export") == 0)
        return do_export(a, db);
    if (strcmp(action, "merge") == 0)
        return do_merge(a, db);
    if (strcmp(action, "tag") == 0 || strcmp(action, "untag") == 0)
        return do_tag(a, db, action[0] == 't');
    if (strcmp(action, "rename") == 0)
        return do_rename(a, db);
    return do_check(a, db);
}

static const char *const ACTIONS[] = {"list", "show", "compare", "export", "merge",
                                      "tag", "untag", "rename", "check"};

static int run(int argc, char **argv)
{
    args a = {0};
    int p = parse(argc, argv, &a);
    if (p > 0)
        return usage(stdout), FS_EXIT_OK;
    if (p < 0 || a.argc < 1)
        return usage(stderr), FS_EXIT_USAGE;
    const char *action = a.argv[0];
    bool known = false;
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        known |= strcmp(action, ACTIONS[i]) == 0;
    if (!known) {
        fprintf(stderr, "fleetsim results: unknown action '%s'\n\n", action);
        return usage(stderr), FS_EXIT_USAGE;
    }
    a.argc--, a.argv++;
    fs_results *db;
    if (open_db(&a, strcmp(action, "merge") == 0, &db) != 0)
        return FS_EXIT_USAGE;
    int rc = dispatch(action, &a, db);
    fs_results_close(db);
    return rc;
}

const fs_cmd fs_cmd_results = {"results", "list, show, compare, export and merge stored runs",
                               run};
