/*
 * plot.c: writes the data of fleetsim's plots from the results store and renders them
 * with gnuplot (see plot.h).
 *
 * Workload: a handful of runs of up to millions of requests each. Curves are thinned
 * before they reach gnuplot so that an SVG stays small: a CDF keeps at most CDF_POINTS
 * points per run (evenly spaced in rank, plus the extremes), time series are averaged
 * into at most about SERIES_BINS bins. Latency quantiles per time bin come from GSL on
 * the bin's sorted values.
 *
 * Rejected: piping commands into gnuplot through popen (no way to tell a command
 * failed, gnuplot_i's documentation says so) and a gnuplot library binding (none in
 * Debian that checks errors either). The data goes through files that stay beside the
 * pictures, so a user can re-plot them with their own scripts.
 */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "fu_yaml.h"

extern char **environ;

#define CDF_POINTS 400
#define SERIES_BINS 600
#define TIMELINE_BINS 120

typedef struct plotter {
    fs_results *db;
    const int64_t *ids;
    int n;
    const char *dir;
    const fs_plot_opts *o;
    json_t *made;
    char **err;
} plotter;

/* --- small helpers --- */

static int oom(char **err)
{
    *err = fu_asprintf("out of memory");
    return -ENOMEM;
}

static int io_fail(char **err, const char *path)
{
    int e = errno ? errno : EIO;
    *err = fu_asprintf("%s: %s", path, strerror(e));
    return -e;
}

static void note(const plotter *p, const char *fmt, const char *what)
{
    if (p->o->notes) {
        fprintf(p->o->notes, fmt, what);
        fputc('\n', p->o->notes);
    }
}

static sqlite3_stmt *prepare(const plotter *p, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fs_results_handle(p->db), sql, -1, &st, NULL) != SQLITE_OK) {
        *p->err = fu_asprintf("%s: %s", fs_results_path(p->db),
                              sqlite3_errmsg(fs_results_handle(p->db)));
        return NULL;
    }
    return st;
}

/* A summary figure of a run; false when absent or undefined. */
static bool metric(const plotter *p, int64_t id, const char *name, double *v)
{
    sqlite3_stmt *st = prepare(p, "SELECT value FROM summary WHERE run_id = ?1 AND metric = ?2");
    bool ok = false;
    if (!st)
        return false;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *v = sqlite3_column_double(st, 0);
        ok = true;
    }
    sqlite3_finalize(st);
    return ok;
}

static int64_t count(const plotter *p, const char *sql, int64_t id)
{
    sqlite3_stmt *st = prepare(p, sql);
    int64_t n = 0;
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* "#ID name" (with " (fleet)" when asked), with quotes, tabs and newlines made safe
 * for a TSV cell and a gnuplot string. Data rows quote it: a row that starts with #
 * is a comment to gnuplot. */
static void run_label(const plotter *p, int64_t id, bool fleet, char *buf, size_t size)
{
    sqlite3_stmt *st = prepare(p, "SELECT name, fleet FROM runs WHERE id = ?1");
    const char *name = "", *fl = "";
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            name = (const char *)sqlite3_column_text(st, 0);
            fl = sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "";
        }
    }
    snprintf(buf, size, fleet ? "#%" PRId64 " %s (%s)" : "#%" PRId64 " %s", id,
             name ? name : "", fl);
    sqlite3_finalize(st);
    for (char *c = buf; *c; c++)
        if (*c == '"' || *c == '\'' || *c == '\\')
            *c = '`';
        else if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
}

/* The smallest of 1, 2, 5 x 10^k that is at least x. */
static double nice_step(double x)
{
    double p = pow(10, floor(log10(x > 1e-9 ? x : 1e-9)));
    return x <= p ? p : x <= 2 * p ? 2 * p : x <= 5 * p ? 5 * p : 10 * p;
}

/* --- cdf --- */

static const struct {
    const char *column;
    double scale;
} CDF_METRICS[] = {{"ttft_s", 1e3}, {"tpot_s", 1e3}, {"e2e_s", 1}};

static int cdf_block(const plotter *p, FILE *f, int64_t id, int m)
{
    char label[192], sql[160];
    run_label(p, id, false, label, sizeof label);
    fprintf(f, "\"%s\"\tfraction\n", label);
    const char *col = CDF_METRICS[m].column;
    snprintf(sql, sizeof sql, "SELECT count(%s) FROM requests WHERE run_id = ?1", col);
    int64_t n = count(p, sql, id), k = 0, last = -1;
    snprintf(sql, sizeof sql, "SELECT %s FROM requests WHERE run_id = ?1 AND %s IS NOT NULL"
             " ORDER BY %s", col, col, col);
    sqlite3_stmt *st = prepare(p, sql);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t slot = k * CDF_POINTS / (n ? n : 1);
        if (slot != last || k == n - 1)
            fprintf(f, "%.6g\t%.6g\n", sqlite3_column_double(st, 0) * CDF_METRICS[m].scale,
                    (double)(k + 1) / (double)n);
        last = slot;
        k++;
    }
    sqlite3_finalize(st);
    if (n == 0)
        fprintf(f, "NaN\tNaN\n");
    fprintf(f, "\n\n");
    return 0;
}

/* Writes the CDF data; *nruns gets the runs that have request rows. */
static int cdf_data(const plotter *p, FILE *f, int *nruns)
{
    int rc = 0;
    *nruns = 0;
    for (int m = 0; m < 3 && rc == 0; m++)
        for (int i = 0; i < p->n && rc == 0; i++) {
            if (count(p, "SELECT requests_stored FROM runs WHERE id = ?1", p->ids[i]) == 0) {
                if (m == 0) {
                    char label[192];
                    run_label(p, p->ids[i], false, label, sizeof label);
                    note(p, "fleetsim plot: run %s has no request rows: not in the CDFs", label);
                }
                continue;
            }
            *nruns += m == 0;
            rc = cdf_block(p, f, p->ids[i], m);
        }
    return rc;
}

/* --- timeline --- */

typedef struct bin_values {
    double *ttft, *tpot;
    size_t nttft, ntpot, arrivals, cap;
} bin_values;

static double quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    gsl_sort(v, 1, n);
    return gsl_stats_quantile_from_sorted_data(v, 1, n, q);
}

static void timeline_row(FILE *f, double t, double width, bin_values *b)
{
    double t50 = quantile(b->ttft, b->nttft, 0.5), t99 = quantile(b->ttft, b->nttft, 0.99);
    double p50 = quantile(b->tpot, b->ntpot, 0.5), p99 = quantile(b->tpot, b->ntpot, 0.99);
    fprintf(f, "%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\n", t, (double)b->arrivals / width,
            t50 * 1e3, t99 * 1e3, p50 * 1e3, p99 * 1e3);
    b->nttft = b->ntpot = b->arrivals = 0;
}

static int bin_add(bin_values *b, sqlite3_stmt *st)
{
    if (b->nttft == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        double *a = realloc(b->ttft, cap * sizeof *a), *c = a ? realloc(b->tpot, cap * sizeof *c) : NULL;
        if (a)
            b->ttft = a;
        if (!c)
            return -ENOMEM;
        b->tpot = c;
        b->cap = cap;
    }
    b->arrivals++;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
        b->ttft[b->nttft++] = sqlite3_column_double(st, 1);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
        b->tpot[b->ntpot++] = sqlite3_column_double(st, 2);
    return 0;
}

static int timeline_data(const plotter *p, int64_t id, FILE *f, double *width)
{
    double span = 0;
    sqlite3_stmt *st = prepare(p, "SELECT max(arrival_s) FROM requests WHERE run_id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        span = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    *width = nice_step(span / TIMELINE_BINS);
    fprintf(f, "# bin start (s)\tarrivals/s\tTTFT p50 (ms)\tTTFT p99 (ms)\tTPOT p50 (ms)"
               "\tTPOT p99 (ms)\n");
    if (!(st = prepare(p, "SELECT arrival_s, ttft_s, tpot_s FROM requests WHERE run_id = ?1"
                          " ORDER BY arrival_s")))
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bin_values b = {0};
    int64_t bin = 0, rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        int64_t at = (int64_t)(sqlite3_column_double(st, 0) / *width);
        while (bin < at)
            timeline_row(f, (double)bin * *width, *width, &b), bin++;
        rc = bin_add(&b, st);
    }
    timeline_row(f, (double)bin * *width, *width, &b);
    sqlite3_finalize(st);
    free(b.ttft);
    free(b.tpot);
    return rc ? oom(p->err) : 0;
}

/* --- replicas --- */

static int replicas_data(const plotter *p, int64_t id, FILE *f, int *nreplicas)
{
    *nreplicas = (int)count(p, "SELECT max(replica) + 1 FROM samples WHERE run_id = ?1", id);
    double span = (double)count(p, "SELECT max(t_s) FROM samples WHERE run_id = ?1", id);
    double width = nice_step(span / SERIES_BINS);
    sqlite3_stmt *st = prepare(p,
        "SELECT replica, CAST(t_s / ?2 AS INTEGER) AS b, avg(running + waiting), avg(running),"
        " avg(waiting), 100 * avg(kv_usage), avg(output_tps), 100 * avg(utilisation)"
        " FROM samples WHERE run_id = ?1 GROUP BY replica, b ORDER BY replica, b");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_double(st, 2, width < 1 ? 1 : width);
    int prev = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int r = sqlite3_column_int(st, 0);
        if (r != prev)
            fprintf(f, "%s\"replica %d\"\tload\n", prev >= 0 ? "\n\n" : "", r);
        prev = r;
        fprintf(f, "%.6g", (double)sqlite3_column_int64(st, 1) * (width < 1 ? 1 : width));
        for (int c = 2; c < 8; c++)
            fprintf(f, "\t%.6g", sqlite3_column_double(st, c));
        fputc('\n', f);
    }
    sqlite3_finalize(st);
    return 0;
}

/* --- sweep and cost: one row per run --- */

typedef struct sweep_row {
    double v[6];
    char label[192];
} sweep_row;

static int by_throughput(const void *a, const void *b)
{
    double x = ((const sweep_row *)a)->v[0], y = ((const sweep_row *)b)->v[0];
    return x < y ? -1 : x > y;
}

static int sweep_data(const plotter *p, FILE *f, int *rows)
{
    static const char *const names[] = {"throughput_rps", "output_tokens_per_s", "ttft_s.p50",
                                        "ttft_s.p99", "tpot_s.p50", "tpot_s.p99"};
    static const double scale[] = {1, 1, 1e3, 1e3, 1e3, 1e3};
    sweep_row *r = calloc((size_t)p->n, sizeof *r);
    if (!r)
        return oom(p->err);
    *rows = 0;
    for (int i = 0; i < p->n; i++) {
        sweep_row *row = &r[*rows];
        bool ok = true;
        for (int k = 0; k < 6; k++) {
            ok &= metric(p, p->ids[i], names[k], &row->v[k]);
            row->v[k] *= scale[k];
        }
        run_label(p, p->ids[i], false, row->label, sizeof row->label);
        *rows += ok;
    }
    qsort(r, (size_t)*rows, sizeof *r, by_throughput);
    fprintf(f, "# run\tthroughput (req/s)\toutput tok/s\tTTFT p50 (ms)\tTTFT p99 (ms)"
               "\tTPOT p50 (ms)\tTPOT p99 (ms)\n");
    for (int i = 0; i < *rows; i++)
        fprintf(f, "\"%s\"\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\n", r[i].label, r[i].v[0],
                r[i].v[1], r[i].v[2], r[i].v[3], r[i].v[4], r[i].v[5]);
    free(r);
    return 0;
}

static int cost_data(const plotter *p, FILE *f, int *rows)
{
    *rows = 0;
    fprintf(f, "# run (fleet)\tUSD/M input\tUSD/M output\tUSD/M tokens\n");
    for (int i = 0; i < p->n; i++) {
        double in, out, all;
        char label[192];
        if (!metric(p, p->ids[i], "cost.usd_per_m_input_tokens", &in) ||
            !metric(p, p->ids[i], "cost.usd_per_m_output_tokens", &out) ||
            !metric(p, p->ids[i], "cost.usd_per_m_tokens", &all))
            continue;
        run_label(p, p->ids[i], true, label, sizeof label);
        fprintf(f, "\"%s\"\t%.6g\t%.6g\t%.6g\n", label, in, out, all);
        ++*rows;
    }
    return 0;
}

/* --- running gnuplot --- */

const char *fs_plot_scripts_dir(void)
{
    static char buf[4096];
    struct stat s;
    const char *env = getenv("FLEETSIM_PLOTS");
    if (env && *env)
        return env;
    snprintf(buf, sizeof buf, "%s/plots", FLEETSIM_DATADIR);
    if (stat(buf, &s) != 0 || !S_ISDIR(s.st_mode))
        snprintf(buf, sizeof buf, "%s/plots", FLEETSIM_SRCDIR);
    return buf;
}

/* The first 2,000 characters of gnuplot's messages, for an error. */
static char *read_log(const char *path)
{
    char buf[2001];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static int spawn_gnuplot(const char *vars, const char *script, const char *log, int *status,
                         char **err)
{
    const char *gp = getenv("FLEETSIM_GNUPLOT");
    gp = gp && *gp ? gp : "gnuplot";
    char *argv[] = {(char *)gp, "-e", (char *)vars, (char *)script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, gp, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        *err = fu_asprintf("cannot run %s: %s (install the Debian package gnuplot-nox, or "
                           "set FLEETSIM_GNUPLOT)", gp, strerror(rc));
        return -rc;
    }
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return io_fail(err, gp);
    return 0;
}

/* Renders `name` from its data file into fmt; checks the exit status and the file. */
static int render(const plotter *p, const char *name, const char *data, const char *extra,
                  const char *fmt, char **out)
{
    char *script = fu_asprintf("%s/%s.gp", fs_plot_scripts_dir(), strncmp(name, "timeline", 8) == 0
                               ? "timeline" : strncmp(name, "replicas", 8) == 0 ? "replicas" : name);
    char *pic = fu_asprintf("%s/%s.%s", p->dir, name, fmt);
    char *log = fu_asprintf("%s/%s.%s.log", p->dir, name, fmt);
    char *vars = fu_asprintf("datafile='%s'; outfile='%s'; fmt='%s'; %s", data, pic, fmt, extra);
    int status = 0, rc = script && pic && log && vars ? 0 : oom(p->err);
    if (rc == 0)
        rc = spawn_gnuplot(vars, script, log, &status, p->err);
    struct stat s;
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(pic, &s) == 0 &&
                     s.st_size > 0)) {
        char *msg = read_log(log);
        *p->err = fu_asprintf("gnuplot failed on %s (%s %d): %s", script,
                              WIFEXITED(status) ? "exit status" : "signal",
                              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                              msg ? msg : "");
        free(msg);
        rc = -EIO;
    }
    if (rc == 0)
        unlink(log);
    free(script), free(log), free(vars);
    if (rc == 0)
        *out = pic;
    else
        free(pic);
    return rc;
}

/* Renders every requested format of one plot and records it in p->made. */
static int render_all(plotter *p, const char *name, const char *data, const char *extra)
{
    json_t *entry = json_pack("{s:s, s:s}", "plot", name, "data", data);
    int rc = entry ? 0 : oom(p->err);
    static const char *const fmts[] = {"png", "svg"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        char *pic = NULL;
        if (!(i == 0 ? p->o->png : p->o->svg))
            continue;
        rc = render(p, name, data, extra, fmts[i], &pic);
        if (rc == 0)
            json_object_set_new(entry, fmts[i], json_string(pic));
        free(pic);
    }
    if (rc == 0)
        json_array_append(p->made, entry);
    json_decref(entry);
    return rc;
}

/* --- the plots --- */

typedef enum { ALL_RUNS, PER_RUN } plot_scope;

/* Writes NAME.tsv with `fill` (which reports how much it wrote into *rows and the
 * script's extra variables into extra) and renders it unless empty. */
typedef int (*fill_fn)(const plotter *p, int64_t id, FILE *f, int *rows, char *extra,
                       size_t size);

static int fill_cdf(const plotter *p, int64_t id, FILE *f, int *rows, char *extra, size_t size)
{
    int rc = cdf_data(p, f, rows);
    snprintf(extra, size, "nruns=%d", *rows);
    return rc;
}

static int fill_timeline(const plotter *p, int64_t id, FILE *f, int *rows, char *extra,
                         size_t size)
{
    char label[192];
    double width = 1;
    *rows = (int)(count(p, "SELECT requests_stored FROM runs WHERE id = ?1", id) > 0);
    run_label(p, id, false, label, sizeof label);
    if (!*rows)
        return note(p, "fleetsim plot: run %s has no request rows: no timeline", label), 0;
    int rc = timeline_data(p, id, f, &width);
    snprintf(extra, size, "runname='%s'; binsize=%g", label, width);
    return rc;
}

static int fill_replicas(const plotter *p, int64_t id, FILE *f, int *rows, char *extra,
                         size_t size)
{
    char label[192];
    run_label(p, id, false, label, sizeof label);
    int rc = replicas_data(p, id, f, rows);
    if (*rows == 0)
        note(p, "fleetsim plot: run %s has no time series: no replica plot", label);
    snprintf(extra, size, "runname='%s'; nreplicas=%d", label, *rows);
    return rc;
}

static int fill_sweep(const plotter *p, int64_t id, FILE *f, int *rows, char *extra, size_t size)
{
    *extra = '\0';
    int rc = sweep_data(p, f, rows);
    if (*rows == 0)
        note(p, "fleetsim plot: %s", "no complete run: no throughput-latency plot");
    return rc;
}

static int fill_cost(const plotter *p, int64_t id, FILE *f, int *rows, char *extra, size_t size)
{
    *extra = '\0';
    int rc = cost_data(p, f, rows);
    if (*rows == 0)
        note(p, "fleetsim plot: %s", "no run has a price: no cost plot");
    return rc;
}

static int plot_one(plotter *p, const char *name, fill_fn fill, int64_t id)
{
    char *data = fu_asprintf("%s/%s.tsv", p->dir, name), extra[512] = "";
    if (!data)
        return oom(p->err);
    FILE *f = fopen(data, "w");
    int rows = 0, rc = f ? fill(p, id, f, &rows, extra, sizeof extra) : io_fail(p->err, data);
    if (f && fclose(f) != 0 && rc == 0)
        rc = io_fail(p->err, data);
    if (rc == 0 && rows > 0)
        rc = render_all(p, name, data, extra);
    else if (rc == 0)
        unlink(data);
    free(data);
    return rc;
}

static int plot_all(plotter *p)
{
    static const struct {
        const char *name;
        fill_fn fill;
        plot_scope scope;
    } PLOTS[] = {
        {"cdf", fill_cdf, ALL_RUNS}, {"timeline", fill_timeline, PER_RUN},
        {"replicas", fill_replicas, PER_RUN}, {"sweep", fill_sweep, ALL_RUNS},
        {"cost", fill_cost, ALL_RUNS},
    };
    int rc = 0;
    for (size_t k = 0; k < sizeof PLOTS / sizeof PLOTS[0] && rc == 0; k++) {
        if (PLOTS[k].scope == ALL_RUNS) {
            rc = plot_one(p, PLOTS[k].name, PLOTS[k].fill, 0);
            continue;
        }
        for (int i = 0; i < p->n && rc == 0; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%" PRId64, PLOTS[k].name, p->ids[i]);
            rc = plot_one(p, name, PLOTS[k].fill, p->ids[i]);
        }
    }
    return rc;
}

int fs_plot_render(fs_results *db, const int64_t *ids, int n, const char *dir,
                   const fs_plot_opts *o, json_t **made, char **err)
{
    *made = NULL;
    if (strchr(dir, '\'')) {
        *err = fu_asprintf("%s: the plot directory's name may not contain a quote", dir);
        return -EINVAL;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return io_fail(err, dir);
    plotter p = {.db = db, .ids = ids, .n = n, .dir = dir, .o = o, .made = json_array(),
                 .err = err};
    int rc = p.made ? plot_all(&p) : oom(err);
    if (rc == 0)
        *made = p.made;
    else
        json_decref(p.made);
    return rc;
}
