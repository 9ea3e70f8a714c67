/*
 * cmd_sweep.c: `fleetsim sweep SPEC`: run a scenario over a grid (or a list) of field
 * overrides, each point a run in the results store.
 *
 * A spec (YAML; README.md, "Capacity planning", has the full example):
 *   name: rate-by-replicas          # tag "sweep:NAME" on every run; runs are NAME/k=v,...
 *   scenario: ../quickstart.yaml    # relative to the spec
 *   set: {workload.requests: 300}   # overrides of every point (optional)
 *   grid:                           # the cartesian product, last key fastest
 *     workload.arrival.rate: [2, 4, 8]
 *     replicas: [1, 2]
 *   points:                         # and/or an explicit list
 *     - {workload.arrival.rate: 16, replicas: 4}
 * Overrides go through sim/overrides.h, so any field the scenario has can be swept.
 *
 * Workload assumed: tens to thousands of points of a few hundred milliseconds to
 * minutes each, on one machine (-j N worker processes) or many (--shard i/n, one
 * database per shard, `fleetsim results merge` afterwards). Resumable: a point whose
 * scenario text (base + overrides, re-emitted) hashes to that of a complete run tagged
 * with the sweep is skipped, so a killed sweep re-run does only what is missing and a
 * changed base scenario runs again. Workers are processes (fork) rather than threads:
 * the simulator keeps per-run state in globals nowhere, but SQLite connections, GSL's
 * error handler and the progress bar are simpler per process, and a crash in one
 * point takes down one worker, not the sweep. Each worker reports a finished point by
 * one byte on a pipe; the parent draws the progress bar and prints the table.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "cmd.h"
#include "fu_yaml.h"
#include "overrides.h"
#include "progress.h"
#include "results.h"
#include "runcommon.h"

#define MAX_POINTS 100000
#define MAX_SETS 64

typedef struct point {
    char *sets[MAX_SETS];   /* "path=value", malloc'd */
    int nsets;
    char *label;            /* the varying part, "k=v,k=v" */
    char hash[17];          /* of the overridden scenario text */
    bool done;              /* complete in the database already */
} point;

typedef struct sweep {
    char name[64];
    char scenario[PATH_MAX];
    char *fixed[MAX_SETS];  /* the spec's `set:` */
    int nfixed;
    point *pts;
    int npts;
} sweep;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim sweep [OPTIONS] SPEC.yaml\n\n"
            "Runs the spec's base scenario at every point of its grid or list of field\n"
            "overrides, each point stored as a run named SWEEP/k=v,... tagged sweep:SWEEP.\n"
            "Points already complete in the database (same scenario text) are skipped.\n\n"
            "options:\n"
            "  -j, --jobs N    run N points at a time (worker processes; default 1)\n"
            "  --shard I/N     run only points I, I+N, I+2N, ... (I from 0), e.g. one\n"
            "                  shard per machine, each with its own --db; merge them\n"
            "                  with `fleetsim results merge`\n"
            "  --list          print the points (index, hash, overrides) and run nothing\n"
            "  --json          print the table as JSON\n"
            "  --catalog DIR   read accelerators and LLMs from DIR (default: bundled)\n"
            "  --db PATH       store runs in PATH (default $FLEETSIM_DB or ./fleetsim.db)\n"
            "  --no-requests   store no per-request rows\n"
            "  --quiet         no progress bar\n"
            "  -h, --help      show this help\n\n"
            "Exit status: 0 every point complete; 1 a point failed; 2 bad input.\n");
}

/* --- the spec --- */

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

static int add_set(char **sets, int *n, const char *path, fu_ynode v, char **err)
{
    const char *s = fu_ynode_str(v);
    if (!s)
        return fail(err, fu_ynode_errf(v, "expected a scalar value for %s", path));
    if (*n == MAX_SETS)
        return fail(err, fu_ynode_errf(v, "more than %d overrides", MAX_SETS));
    return (sets[(*n)++] = fu_asprintf("%s=%s", path, s)) ? 0 : -ENOMEM;
}

static point *new_point(sweep *sw, fu_ynode at, char **err)
{
    if (sw->npts == MAX_POINTS)
        return fail(err, fu_ynode_errf(at, "more than %d points", MAX_POINTS)), NULL;
    if (sw->npts % 64 == 0) {
        point *p = realloc(sw->pts, (size_t)(sw->npts + 64) * sizeof *p);
        if (!p)
            return NULL;
        sw->pts = p;
    }
    point *p = &sw->pts[sw->npts++];
    memset(p, 0, sizeof *p);
    for (int i = 0; i < sw->nfixed; i++)
        p->sets[p->nsets++] = strdup(sw->fixed[i]);
    return p;
}

/* The label: the point's own overrides (after the fixed ones), comma-separated. */
static int label_point(sweep *sw, point *p)
{
    size_t len = 1;
    for (int i = sw->nfixed; i < p->nsets; i++)
        len += strlen(p->sets[i]) + 1;
    if (!(p->label = calloc(1, len)))
        return -ENOMEM;
    for (int i = sw->nfixed; i < p->nsets; i++) {
        if (i > sw->nfixed)
            strcat(p->label, ",");
        strcat(p->label, p->sets[i]);
    }
    return 0;
}

/* Grid: dimension d onwards, with `prefix` overrides chosen so far. */
static int grid_rec(sweep *sw, fu_ynode grid, size_t d, char **prefix, int np, char **err)
{
    if (d == fu_ynode_len(grid)) {
        point *p = new_point(sw, grid, err);
        if (!p)
            return err && *err ? -EINVAL : -ENOMEM;
        for (int i = 0; i < np; i++)
            p->sets[p->nsets++] = strdup(prefix[i]);
        return label_point(sw, p);
    }
    fu_ynode key = fu_ymap_key(grid, d), vals = fu_ymap_val(grid, d);
    if (!fu_ynode_is_seq(vals) || fu_ynode_len(vals) == 0)
        return fail(err, fu_ynode_errf(vals, "expected a non-empty list of values for %s",
                                       fu_ynode_str(key)));
    for (size_t i = 0; i < fu_ynode_len(vals); i++) {
        prefix[np] = NULL;
        int n = np, rc = add_set(prefix, &n, fu_ynode_str(key), fu_yseq_item(vals, i), err);
        if (rc == 0)
            rc = grid_rec(sw, grid, d + 1, prefix, n, err);
        free(prefix[np]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int load_points(sweep *sw, fu_ynode list, char **err)
{
    if (!fu_ynode_is_seq(list))
        return fail(err, fu_ynode_errf(list, "expected a list of points (mappings of "
                                             "path: value)"));
    for (size_t i = 0; i < fu_ynode_len(list); i++) {
        fu_ynode m = fu_yseq_item(list, i);
        if (!fu_ynode_is_map(m))
            return fail(err, fu_ynode_errf(m, "expected a mapping of path: value"));
        point *p = new_point(sw, m, err);
        if (!p)
            return err && *err ? -EINVAL : -ENOMEM;
        for (size_t k = 0; k < fu_ynode_len(m); k++) {
            int rc = add_set(p->sets, &p->nsets, fu_ynode_str(fu_ymap_key(m, k)),
                             fu_ymap_val(m, k), err);
            if (rc != 0)
                return rc;
        }
        if (label_point(sw, p) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int load_head(sweep *sw, const char *path, fu_ynode root, char **err)
{
    static const char *const keys[] = {"name", "scenario", "set", "grid", "points",
                                       "description", NULL};
    for (size_t i = 0; i < fu_ynode_len(root); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(root, i));
        int ok = 0;
        for (int j = 0; keys[j]; j++)
            ok |= k && strcmp(k, keys[j]) == 0;
        if (!ok)
            return fail(err, fu_ynode_errf(fu_ymap_key(root, i), "unknown key '%s'; "
                        "expected name, scenario, set, grid, points, description", k));
    }
    const char *name = fu_ynode_str(fu_ymap_get(root, "name"));
    const char *sc = fu_ynode_str(fu_ymap_get(root, "scenario"));
    if (!name || !*name || strlen(name) >= sizeof sw->name || !sc)
        return fail(err, fu_asprintf("%s: expected `name:` (up to 63 characters) and "
                                     "`scenario:` (the base scenario file)", path));
    snprintf(sw->name, sizeof sw->name, "%s", name);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(sw->scenario, sizeof sw->scenario, "%s%s%s", sc[0] == '/' ? "" : dirname(dir),
             sc[0] == '/' ? "" : "/", sc);
    fu_ynode set = fu_ymap_get(root, "set");
    if (fu_ynode_ok(set) && !fu_ynode_is_map(set))
        return fail(err, fu_ynode_errf(set, "expected a mapping of path: value"));
    for (size_t i = 0; i < fu_ynode_len(set); i++) {
        int rc = add_set(sw->fixed, &sw->nfixed, fu_ynode_str(fu_ymap_key(set, i)),
                         fu_ymap_val(set, i), err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void sweep_free(sweep *sw)
{
    for (int i = 0; i < sw->nfixed; i++)
        free(sw->fixed[i]);
    for (int i = 0; i < sw->npts; i++) {
        for (int k = 0; k < sw->pts[i].nsets; k++)
            free(sw->pts[i].sets[k]);
        free(sw->pts[i].label);
    }
    free(sw->pts);
}

static int load_spec(const char *path, sweep *sw, char **err)
{
    fu_yaml *doc = NULL;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc != 0)
        return rc;
    fu_ynode root = fu_yaml_root(doc), grid = fu_ymap_get(root, "grid");
    fu_ynode list = fu_ymap_get(root, "points");
    char *prefix[MAX_SETS];
    if (!fu_ynode_is_map(root))
        rc = fail(err, fu_asprintf("%s: expected a mapping (name, scenario, grid, ...)", path));
    if (rc == 0)
        rc = load_head(sw, path, root, err);
    if (rc == 0 && fu_ynode_ok(grid) && !fu_ynode_is_map(grid))
        rc = fail(err, fu_ynode_errf(grid, "expected a mapping of path: [values]"));
    if (rc == 0 && fu_ynode_ok(grid))
        rc = grid_rec(sw, grid, 0, prefix, 0, err);
    if (rc == 0 && fu_ynode_ok(list))
        rc = load_points(sw, list, err);
    if (rc == 0 && sw->npts == 0)
        rc = fail(err, fu_asprintf("%s: no points: give `grid:` or `points:`", path));
    fu_yaml_free(doc);
    return rc;
}

/* --- hashing and resuming --- */

/* The scenario text of every point and its hash; checks every point loads as YAML. */
static int hash_points(sweep *sw, char **err)
{
    char *base = NULL;
    int rc = fs_overrides_read_file(sw->scenario, &base, err);
    for (int i = 0; rc == 0 && i < sw->npts; i++) {
        point *p = &sw->pts[i];
        char *text = NULL;
        rc = fs_overrides_apply(sw->scenario, base, (const char *const *)p->sets, p->nsets,
                                &text, err);
        if (rc == 0)
            snprintf(p->hash, sizeof p->hash, "%016" PRIx64,
                     (uint64_t)XXH64(text, strlen(text), 0));
        free(text);
    }
    free(base);
    return rc;
}

/* The complete runs of the sweep in `db`, to mark points done; a missing file is none. */
static int mark_done(sweep *sw, const char *dbpath, json_t **runs, char **err)
{
    fs_results *db = NULL;
    *runs = NULL;
    if (access(dbpath, F_OK) != 0)
        return 0;
    char tag[80];
    snprintf(tag, sizeof tag, "sweep:%s", sw->name);
    int rc = fs_results_open(dbpath, false, &db, err);
    if (rc == 0)
        rc = fs_results_list(db, tag, runs, err);
    fs_results_close(db);
    size_t j;
    json_t *r;
    json_array_foreach(rc == 0 ? *runs : NULL, j, r) {
        const char *h = json_string_value(json_object_get(r, "scenario_hash"));
        const char *st = json_string_value(json_object_get(r, "status"));
        for (int i = 0; h && st && strcmp(st, "complete") == 0 && i < sw->npts; i++)
            sw->pts[i].done |= strcmp(sw->pts[i].hash, h) == 0;
    }
    return rc;
}

/* --- running --- */

typedef struct sweep_opts {
    fs_run_opts ro;
    int jobs, shard, nshards;
    bool list, json;
} sweep_opts;

static bool mine(const sweep_opts *o, int i)
{
    return i % o->nshards == o->shard;
}

/* One point in this process; 0 or -1 (reported). */
static int run_point(const sweep *sw, const point *p, const sweep_opts *o)
{
    fs_run_opts ro = o->ro;
    char name[256], tag[80];
    snprintf(name, sizeof name, "%s/%s", sw->name, p->label);
    snprintf(tag, sizeof tag, "sweep:%s", sw->name);
    ro.name = name;
    ro.tags[0] = tag;
    ro.ntags = 1;
    ro.quiet = true;
    fs_scenario sc;
    fs_run_result res;
    if (fs_load_scenario_set("sweep", sw->scenario, (const char *const *)p->sets, p->nsets,
                             &ro, &sc) != 0)
        return -1;
    int rc = fs_run_scenario("sweep", &sc, &ro, &res, NULL);
    fs_scenario_free(&sc);
    return rc;
}

/* Worker w of n: its share of the to-do points; writes '+' or '!' per point. */
static int worker(const sweep *sw, const sweep_opts *o, const int *todo, int ntodo, int w,
                  int n, int fd)
{
    int bad = 0;
    for (int k = w; k < ntodo; k += n) {
        int rc = run_point(sw, &sw->pts[todo[k]], o);
        bad |= rc != 0;
        char c = rc == 0 ? '+' : '!';
        if (write(fd, &c, 1) != 1)
            return 1;
    }
    return bad;
}

/* Forks the workers and follows their pipe; the number of failed points. */
static int run_all(const sweep *sw, const sweep_opts *o, const int *todo, int ntodo)
{
    int fds[2], nw = o->jobs < ntodo ? o->jobs : ntodo, failed = 0;
    pid_t pids[256];
    if (ntodo == 0)
        return 0;
    if (pipe(fds) != 0)
        return fprintf(stderr, "fleetsim sweep: pipe: %s\n", strerror(errno)), ntodo;
    fflush(NULL);
    for (int w = 0; w < nw; w++) {
        if ((pids[w] = fork()) == 0) {
            close(fds[0]);
            _exit(worker(sw, o, todo, ntodo, w, nw, fds[1]));
        }
        if (pids[w] < 0)
            nw = w;
    }
    close(fds[1]);
    fs_progress *bar = fs_progress_new(stderr, fs_progress_wanted(stderr, o->ro.quiet),
                                       "points", (uint64_t)ntodo);
    char c, detail[32];
    uint64_t done = 0;
    while (read(fds[0], &c, 1) == 1) {
        failed += c == '!';
        snprintf(detail, sizeof detail, "%d failed", failed);
        fs_progress_update(bar, ++done, detail);
    }
    fs_progress_free(bar);
    close(fds[0]);
    for (int w = 0; w < nw; w++) {
        int st;
        waitpid(pids[w], &st, 0);
    }
    return failed + (int)((uint64_t)ntodo - done);
}

/* --- output --- */

static json_t *find_run(json_t *runs, const char *hash)
{
    size_t j;
    json_t *r, *found = NULL;
    json_array_foreach(runs, j, r) {
        const char *h = json_string_value(json_object_get(r, "scenario_hash"));
        const char *st = json_string_value(json_object_get(r, "status"));
        if (h && st && strcmp(h, hash) == 0 && strcmp(st, "complete") == 0)
            found = r; /* the newest */
    }
    return found;
}

static double num(json_t *r, const char *k)
{
    return json_number_value(json_object_get(r, k));
}

static json_t *table_json(const sweep *sw, const sweep_opts *o, json_t *runs)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < sw->npts; i++) {
        if (!mine(o, i))
            continue;
        json_t *r = find_run(runs, sw->pts[i].hash);
        json_array_append_new(arr, json_pack("{s:i,s:s,s:s,s:O?}", "point", i, "overrides",
                                             sw->pts[i].label, "hash", sw->pts[i].hash,
                                             "run", r));
    }
    return arr;
}

static void table_text(const sweep *sw, const sweep_opts *o, json_t *runs)
{
    printf("sweep %s: %s, %d points\n\n", sw->name, sw->scenario, sw->npts);
    printf("%5s  %-40s %10s %10s %10s %10s\n", "point", "overrides", "completed",
           "ttft p99", "tpot p99", "$/M tok");
    printf("%5s  %-40s %10s %10s %10s %10s\n", "", "", "", "ms", "ms", "");
    for (int i = 0; i < sw->npts; i++) {
        if (!mine(o, i))
            continue;
        json_t *r = find_run(runs, sw->pts[i].hash);
        if (!r) {
            printf("%5d  %-40s %10s\n", i, sw->pts[i].label, "failed");
            continue;
        }
        printf("%5d  %-40s %10.0f %10.1f %10.2f %10.4f\n", i, sw->pts[i].label,
               num(r, "completed"), num(r, "ttft_p99_s") * 1e3, num(r, "tpot_p99_s") * 1e3,
               num(r, "usd_per_m_tokens"));
    }
}

static int print_list(const sweep *sw, const sweep_opts *o)
{
    for (int i = 0; i < sw->npts; i++) {
        if (!mine(o, i))
            continue;
        printf("%d\t%s\t%s", i, sw->pts[i].hash, sw->pts[i].done ? "complete" : "todo");
        for (int k = 0; k < sw->pts[i].nsets; k++)
            printf("\t%s", sw->pts[i].sets[k]);
        putchar('\n');
    }
    return FS_EXIT_OK;
}

/* Runs the points still to do, then prints the table of this shard's points. */
static int execute(sweep *sw, const sweep_opts *o)
{
    const char *dbpath = o->ro.db ? o->ro.db : fs_default_db();
    json_t *runs = NULL;
    char *err = NULL;
    int *todo = calloc((size_t)sw->npts, sizeof *todo), ntodo = 0, skipped = 0;
    if (!todo || mark_done(sw, dbpath, &runs, &err) != 0) {
        fprintf(stderr, "fleetsim sweep: %s\n", err ? err : "out of memory");
        free(err);
        free(todo);
        return FS_EXIT_USAGE;
    }
    json_decref(runs);
    for (int i = 0; i < sw->npts; i++)
        if (mine(o, i) && !sw->pts[i].done)
            todo[ntodo++] = i;
        else if (mine(o, i))
            skipped++;
    if (o->list)
        return free(todo), print_list(sw, o);
    if (!o->ro.quiet && skipped)
        fprintf(stderr, "fleetsim sweep: %d points already complete in %s, %d to run\n",
                skipped, dbpath, ntodo);
    /* create the database here: workers creating it at once race on the schema. Even
     * with nothing to run: a shard with no points (more shards than points) leaves an
     * empty database, so that a merge of every shard's file finds each one. */
    fs_results *db = NULL;
    if (fs_results_open(dbpath, true, &db, &err) != 0) {
        fprintf(stderr, "fleetsim sweep: %s\n", err);
        free(err);
        free(todo);
        return FS_EXIT_USAGE;
    }
    fs_results_close(db);
    int failed = run_all(sw, o, todo, ntodo);
    free(todo);
    if (mark_done(sw, dbpath, &runs, &err) != 0) {
        fprintf(stderr, "fleetsim sweep: %s\n", err);
        free(err);
        return FS_EXIT_USAGE;
    }
    if (o->json) {
        json_t *t = table_json(sw, o, runs);
        json_dumpf(t, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(t);
    } else {
        table_text(sw, o, runs);
    }
    json_decref(runs);
    return failed ? FS_EXIT_CHECK : FS_EXIT_OK;
}

static int parse_shard(const char *s, sweep_opts *o)
{
    char *end;
    long i = strtol(s, &end, 10), n = *end == '/' ? strtol(end + 1, &end, 10) : 0;
    if (*end || n < 1 || n > MAX_POINTS || i < 0 || i >= n)
        return -1;
    o->shard = (int)i;
    o->nshards = (int)n;
    return 0;
}

static int sweep_opt(sweep_opts *o, int c, const char *arg)
{
    char *end;
    if (c == 'j') {
        long j = strtol(arg, &end, 10);
        if (*end || j < 1 || j > 256)
            return fprintf(stderr, "fleetsim sweep: -j expects 1..256\n"), -1;
        o->jobs = (int)j;
        return 0;
    }
    if (c == 'S' && parse_shard(arg, o) != 0)
        return fprintf(stderr, "fleetsim sweep: --shard expects I/N with 0 <= I < N\n"), -1;
    if (c == 'S')
        return 0;
    if (c == 'L' || c == 'J')
        return c == 'L' ? (o->list = true) : (o->json = true), 0;
    if (c == 's' || c == 'n')
        return fprintf(stderr, "fleetsim sweep: give the seed and the request count in "
                       "the spec's `set:` (seed: N, workload.requests: N) so that they "
                       "are part of each point's scenario\n"), -1;
    return fs_run_opt(&o->ro, c, arg, "sweep");
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'j'}, {"shard", required_argument, NULL, 'S'},
        {"list", no_argument, NULL, 'L'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'}, FS_RUN_LONG_OPTS, {NULL, 0, NULL, 0},
    };
    sweep_opts o = {.jobs = 1, .nshards = 1};
    int c;
    while ((c = getopt_long(argc, argv, "hj:", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == '?' || sweep_opt(&o, c, optarg) != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc - 1 || o.ro.no_db)
        return usage(stderr), FS_EXIT_USAGE;
    sweep sw = {0};
    char *err = NULL;
    int rc = load_spec(argv[optind], &sw, &err);
    if (rc == 0)
        rc = hash_points(&sw, &err);
    if (rc != 0) {
        fprintf(stderr, "fleetsim sweep: %s\n", err ? err : strerror(-rc));
        free(err);
        sweep_free(&sw);
        return FS_EXIT_USAGE;
    }
    rc = execute(&sw, &o);
    sweep_free(&sw);
    return rc;
}

const fs_cmd fs_cmd_sweep = {"sweep", "run a scenario over a grid of field overrides", run};
