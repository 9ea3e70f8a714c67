/*
 * cmd_regress.c: `fleetsim regress`: run a suite of scenarios and compare key metrics
 * with a baseline file kept in the repository, with per-metric tolerances; exit 1 on a
 * regression. Meant for CI on every change to a router configuration or a policy.
 *
 *   fleetsim regress [--suite DIR] [--baseline FILE]   run the scenarios in DIR (default
 *                                                      scenarios/regress), compare
 *   fleetsim regress --update-baseline                 run and rewrite the baseline
 *   fleetsim regress BASELINE.json CANDIDATE.json      compare two files (--output)
 *
 * Metrics per scenario: TTFT and TPOT p50 and p99, output throughput, prefix hit rate
 * (share of input tokens served from cache), SLO attainment and cost per million
 * tokens, each with a direction (lower or higher is better) and a tolerance in percent
 * of the baseline value: only a change in the bad direction beyond it is a regression.
 * The baseline file (JSON, sorted keys) holds the tolerances too, so that CI uses the
 * repository's; --tolerance METRIC=PCT (or all=PCT) overrides them.
 *
 * Workload assumed: a handful of scenarios of a few hundred requests each, simulated in
 * memory (nothing stored): the bundled suite takes well under a second. The same
 * scenarios and seeds give the same metrics bit for bit, so tolerances only absorb
 * intended changes (a model fix), not noise.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster.h"
#include "cmd.h"
#include "overrides.h"
#include "runcommon.h"

#define MAX_SETS 32
#define MAX_SCEN 256

typedef struct metric {
    const char *name;
    bool higher_better;
    double tol_pct;          /* default tolerance */
} metric;

static const metric metrics[] = {
    {"ttft_p50_s", false, 5}, {"ttft_p99_s", false, 5}, {"tpot_p50_s", false, 5},
    {"tpot_p99_s", false, 5}, {"output_tps", true, 2}, {"prefix_hit_rate", true, 2},
    {"slo_attainment", true, 1}, {"usd_per_m_tokens", false, 2},
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

typedef struct regress_opts {
    const char *suite, *baseline, *output;
    const char *sets[MAX_SETS];
    int nsets;
    bool update, json;
    double tol[NMETRICS];    /* < 0: not given on the command line */
    fs_run_opts ro;
} regress_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim regress [OPTIONS]\n"
            "       fleetsim regress [OPTIONS] BASELINE.json CANDIDATE.json\n\n"
            "Runs every scenario of the suite and compares TTFT and TPOT (p50, p99), output\n"
            "throughput, prefix hit rate, SLO attainment and cost per million tokens with\n"
            "the baseline; a change for the worse beyond a metric's tolerance is a\n"
            "regression. With two files, compares them without running anything.\n\n"
            "options:\n"
            "  --suite DIR         the scenarios (default: the bundled scenarios/regress)\n"
            "  --baseline FILE     the baseline (default: SUITE/baseline.json)\n"
            "  --update-baseline   write the current metrics (and tolerances) as the baseline\n"
            "  --output FILE       also write the current metrics in the baseline format\n"
            "  --tolerance M=PCT   tolerance of metric M (or all) in %% of the baseline\n"
            "  --set PATH=VALUE    override a field of every scenario (e.g. router.policy=\n"
            "                      round-robin), to try a change before committing it\n"
            "  --json              print the comparison as JSON\n"
            "  --catalog DIR       read accelerators and LLMs from DIR (default: bundled)\n"
            "  -h, --help          show this help\n\n"
            "Exit status: 0 no regression; 1 a regression, or a scenario without a\n"
            "baseline (or a baseline without its scenario); 2 bad input.\n");
}

/* --- running the suite --- */

static json_t *summary_metrics(const fs_summary *s)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "ttft_p50_s", s->ttft_s.p50,
                     "ttft_p99_s", s->ttft_s.p99, "tpot_p50_s", s->tpot_s.p50, "tpot_p99_s",
                     s->tpot_s.p99, "output_tps", s->output_tps, "prefix_hit_rate",
                     s->cached_share, "slo_attainment", s->slo.set ? s->slo.attainment : 1.0,
                     "usd_per_m_tokens", s->cost.usd_per_m_tokens);
}

static json_t *run_one(const char *path, const regress_opts *o)
{
    fs_scenario sc;
    fs_run_result res;
    char *err = NULL;
    if (fs_load_scenario_set("regress", path, o->sets, o->nsets, &o->ro, &sc) != 0)
        return NULL;
    json_t *m = NULL;
    if (fs_cluster_run(&sc, &res, &err) == 0)
        m = summary_metrics(&res.summary);
    else
        fprintf(stderr, "fleetsim regress: %s: %s\n", path, err ? err : "simulation failed");
    free(err);
    fs_scenario_free(&sc);
    return m;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The suite's scenario files (*.yaml that are scenarios: not epp-*.yaml), sorted. */
static int list_suite(const char *dir, char **names, int *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return fprintf(stderr, "fleetsim regress: %s: %s\n", dir, strerror(errno)), -1;
    struct dirent *e;
    *n = 0;
    while ((e = readdir(d)) && *n < MAX_SCEN) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0 &&
            strncmp(e->d_name, "epp-", 4) != 0)
            names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return 0;
}

/* {"scenarios": {file: metrics}} for the suite; NULL on a failure (reported). */
static json_t *run_suite(const regress_opts *o)
{
    char *names[MAX_SCEN];
    int n;
    if (list_suite(o->suite, names, &n) != 0)
        return NULL;
    json_t *sc = json_object(), *ok = sc;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", o->suite, names[i]);
        json_t *m = ok ? run_one(path, o) : NULL;
        if (!m)
            ok = NULL;
        else
            json_object_set_new(sc, names[i], m);
        free(names[i]);
    }
    if (!ok || n == 0) {
        if (n == 0)
            fprintf(stderr, "fleetsim regress: %s: no scenarios (*.yaml)\n", o->suite);
        json_decref(sc);
        return NULL;
    }
    return json_pack("{s:i,s:o}", "fleetsim_regress", 1, "scenarios", sc);
}

/* --- tolerances and comparing --- */

static double tolerance(const regress_opts *o, const json_t *base, size_t k)
{
    if (o->tol[k] >= 0)
        return o->tol[k];
    json_t *t = json_object_get(json_object_get(base, "tolerances_pct"), metrics[k].name);
    return json_is_number(t) ? json_number_value(t) : metrics[k].tol_pct;
}

typedef struct verdicts {
    int worse, better, missing;
} verdicts;

/* One metric of one scenario: a row {scenario, metric, ...}. */
static json_t *compare_metric(const regress_opts *o, const json_t *base, const char *scen,
                              size_t k, double b, double c, verdicts *v)
{
    double tol = tolerance(o, base, k);
    double rel = fabs(b) > 1e-12 ? (c - b) / fabs(b) * 100 : (c == b ? 0 : copysign(INFINITY, c - b));
    double bad = metrics[k].higher_better ? -rel : rel;
    const char *verdict = bad > tol ? "WORSE" : -bad > tol ? "better" : "ok";
    v->worse += bad > tol;
    v->better += -bad > tol;
    return json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:s}", "scenario", scen, "metric",
                     metrics[k].name, "baseline", b, "current", c, "change_pct",
                     isfinite(rel) ? rel : (rel > 0 ? 1e9 : -1e9), "tolerance_pct", tol,
                     "verdict", verdict);
}

static json_t *row_missing(const char *scen, const char *what, verdicts *v)
{
    v->missing++;
    return json_pack("{s:s,s:s,s:s}", "scenario", scen, "metric", "*", "verdict", what);
}

static json_t *compare(const regress_opts *o, const json_t *base, const json_t *cur,
                       verdicts *v)
{
    json_t *rows = json_array(), *bs = json_object_get(base, "scenarios"),
           *cs = json_object_get(cur, "scenarios"), *m;
    const char *name;
    json_object_foreach(cs, name, m) {
        json_t *bm = json_object_get(bs, name);
        if (!bm) {
            json_array_append_new(rows, row_missing(name, "NO BASELINE", v));
            continue;
        }
        for (size_t k = 0; k < NMETRICS; k++)
            json_array_append_new(rows, compare_metric(o, base, name, k,
                json_number_value(json_object_get(bm, metrics[k].name)),
                json_number_value(json_object_get(m, metrics[k].name)), v));
    }
    json_object_foreach(bs, name, m)
        if (!json_object_get(cs, name))
            json_array_append_new(rows, row_missing(name, "NOT RUN", v));
    return rows;
}

/* --- output --- */

static void print_table(const json_t *rows, const verdicts *v)
{
    printf("%-24s %-18s %12s %12s %9s %6s  %s\n", "scenario", "metric", "baseline", "current",
           "change", "tol", "verdict");
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *verdict = json_string_value(json_object_get(r, "verdict"));
        if (!json_object_get(r, "baseline")) {
            printf("%-24s %-18s %12s %12s %9s %6s  %s\n",
                   json_string_value(json_object_get(r, "scenario")), "*", "", "", "", "",
                   verdict);
            continue;
        }
        printf("%-24s %-18s %12.6g %12.6g %+8.2f%% %5.1f%%  %s\n",
               json_string_value(json_object_get(r, "scenario")),
               json_string_value(json_object_get(r, "metric")),
               json_number_value(json_object_get(r, "baseline")),
               json_number_value(json_object_get(r, "current")),
               json_number_value(json_object_get(r, "change_pct")),
               json_number_value(json_object_get(r, "tolerance_pct")), verdict);
    }
    printf("\n%d regression%s, %d improvement%s beyond tolerance, %d scenario%s without a "
           "match\n", v->worse, v->worse == 1 ? "" : "s", v->better, v->better == 1 ? "" : "s",
           v->missing, v->missing == 1 ? "" : "s");
    if (v->missing)
        printf("(a new or removed scenario: run `fleetsim regress --update-baseline`)\n");
}

static int write_json(const char *path, json_t *o)
{
    if (json_dump_file(o, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10)) != 0)
        return fprintf(stderr, "fleetsim regress: cannot write %s\n", path), -1;
    return 0;
}

/* The baseline to write: the current metrics and the tolerances in force. */
static int update_baseline(const regress_opts *o, json_t *cur, const json_t *old)
{
    json_t *tol = json_object();
    for (size_t k = 0; k < NMETRICS; k++)
        json_object_set_new(tol, metrics[k].name, json_real(tolerance(o, old, k)));
    json_object_set_new(cur, "tolerances_pct", tol);
    if (write_json(o->baseline, cur) != 0)
        return FS_EXIT_USAGE;
    printf("fleetsim regress: wrote %s (%zu scenarios)\n", o->baseline,
           json_object_size(json_object_get(cur, "scenarios")));
    return FS_EXIT_OK;
}

static json_t *load_json(const char *path, bool must)
{
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    if (!o && must)
        fprintf(stderr, "fleetsim regress: %s:%d:%d: %s\n", path, e.line, e.column, e.text);
    if (o && !json_is_object(json_object_get(o, "scenarios"))) {
        fprintf(stderr, "fleetsim regress: %s: expected {\"scenarios\": {...}} (a baseline "
                        "written by fleetsim regress)\n", path);
        json_decref(o);
        return NULL;
    }
    return o;
}

static int report(const regress_opts *o, const json_t *base, const json_t *cur)
{
    verdicts v = {0};
    json_t *rows = compare(o, base, cur, &v);
    if (o->json) {
        json_t *out = json_pack("{s:O,s:i,s:i,s:i}", "rows", rows, "regressions", v.worse,
                                "improvements", v.better, "unmatched", v.missing);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(out);
    } else {
        print_table(rows, &v);
    }
    json_decref(rows);
    return v.worse || v.missing ? FS_EXIT_CHECK : FS_EXIT_OK;
}

static int regress(regress_opts *o, int nargs, char **args)
{
    if (nargs == 2) {
        json_t *b = load_json(args[0], true), *c = b ? load_json(args[1], true) : NULL;
        int rc = c ? report(o, b, c) : FS_EXIT_USAGE;
        json_decref(b);
        json_decref(c);
        return rc;
    }
    json_t *base = load_json(o->baseline, !o->update);
    if (!base && !o->update)
        return FS_EXIT_USAGE;
    json_t *cur = run_suite(o);
    int rc = !cur ? FS_EXIT_USAGE : o->output && write_json(o->output, cur) != 0 ? FS_EXIT_USAGE
             : o->update ? update_baseline(o, cur, base) : report(o, base, cur);
    json_decref(base);
    json_decref(cur);
    return rc;
}

/* --- options --- */

static int tol_opt(regress_opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char *end;
    double v = eq ? strtod(eq + 1, &end) : -1;
    if (!eq || *end || !(v >= 0) || v > 1e6)
        return fprintf(stderr, "fleetsim regress: --tolerance expects METRIC=PCT\n"), -1;
    bool all = strncmp(arg, "all=", 4) == 0, found = all;
    for (size_t k = 0; k < NMETRICS; k++)
        if (all || (strlen(metrics[k].name) == (size_t)(eq - arg) &&
                    strncmp(arg, metrics[k].name, (size_t)(eq - arg)) == 0))
            o->tol[k] = v, found = true;
    if (!found) {
        fprintf(stderr, "fleetsim regress: --tolerance: unknown metric; expected all");
        for (size_t k = 0; k < NMETRICS; k++)
            fprintf(stderr, ", %s", metrics[k].name);
        fputc('\n', stderr);
    }
    return found ? 0 : -1;
}

static int opt(regress_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'S': return o->suite = arg, 0;
    case 'B': return o->baseline = arg, 0;
    case 'O': return o->output = arg, 0;
    case 'U': return o->update = true, 0;
    case 'J': return o->json = true, 0;
    case 'T': return tol_opt(o, arg);
    case 'E':
        if (o->nsets == MAX_SETS)
            return fprintf(stderr, "fleetsim regress: at most %d --set\n", MAX_SETS), -1;
        return o->sets[o->nsets++] = arg, 0;
    case 'c': return fs_run_opt(&o->ro, c, arg, "regress");
    default: return -1;
    }
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"suite", required_argument, NULL, 'S'}, {"baseline", required_argument, NULL, 'B'},
        {"output", required_argument, NULL, 'O'}, {"update-baseline", no_argument, NULL, 'U'},
        {"tolerance", required_argument, NULL, 'T'}, {"set", required_argument, NULL, 'E'},
        {"json", no_argument, NULL, 'J'}, {"catalog", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    regress_opts o = {.suite = FLEETSIM_SRCDIR "/scenarios/regress",
                      .ro = {.no_db = true, .quiet = true}};
    for (size_t k = 0; k < NMETRICS; k++)
        o.tol[k] = -1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (opt(&o, c, optarg) != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    int nargs = argc - optind;
    if (nargs != 0 && nargs != 2)
        return usage(stderr), FS_EXIT_USAGE;
    char bl[PATH_MAX];
    if (!o.baseline) {
        snprintf(bl, sizeof bl, "%s/baseline.json", o.suite);
        o.baseline = bl;
    }
    return regress(&o, nargs, argv + optind);
}

const fs_cmd fs_cmd_regress = {"regress", "compare a scenario suite with a stored baseline "
                                          "(CI)", run};
