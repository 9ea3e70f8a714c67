/*
 * cmd_report.c: `fleetsim report RUN... -o FILE`: one page for people who do not run
 * the tool: the runs, their key metrics side by side (differences in % of the first
 * run), each run's full summary and scenario, and the plots of sim/plot.h.
 *
 * HTML (the default) is self-contained: the pictures are PNGs embedded as data: URIs
 * and the style is inline, so the one file can be mailed or attached to a ticket.
 * Markdown (--markdown, or -o NAME.md) cannot embed pictures portably, so they are
 * written beside it into NAME-plots/ and linked relatively. Workload: a handful of
 * runs; the page is a few hundred kilobytes per run.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "fu_yaml.h"
#include "plot.h"
#include "runcommon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim report [OPTIONS] RUN... -o FILE\n\n"
            "Writes a report of the stored runs: the runs, their key metrics side by side,\n"
            "each run's summary and scenario, and the plots. HTML is one self-contained\n"
            "file; Markdown links its pictures, written into FILE's stem + '-plots/'.\n\n"
            "RUN is a run id, a run name (the newest run of that name) or 'last'.\n\n"
            "options:\n"
            "  -o, --output FILE  the report (.md means Markdown)\n"
            "  --markdown         write Markdown whatever the file's name\n"
            "  --db PATH          the results database (default $FLEETSIM_DB or ./fleetsim.db)\n"
            "  --quiet            no notes about plots left out\n"
            "  -h, --help         show this help\n\n"
            "Exit status: 0 done; 2 bad input or gnuplot failed.\n");
}

typedef struct report {
    fs_results *db;
    int64_t *ids;
    int n;
    json_t *runs;           /* fs_results_get of each */
    json_t *cmp;            /* fs_results_compare of all */
    json_t *plots;          /* what fs_plot_render made */
    bool markdown;
    FILE *f;
} report;

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* --- escaping and embedding --- */

static void html(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A Markdown table cell: pipes escaped, line breaks flattened. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s == '\n' ? ' ' : *s, f);
    }
}

/* Writes the file at `path` to f as base64 (RFC 4648). */
static int base64_file(FILE *f, const char *path)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    FILE *in = fopen(path, "rb");
    unsigned char b[3];
    size_t n;
    if (!in)
        return -errno;
    while ((n = fread(b, 1, 3, in)) > 0) {
        unsigned v = (unsigned)b[0] << 16 | (n > 1 ? (unsigned)b[1] << 8 : 0) |
                     (n > 2 ? b[2] : 0);
        fputc(abc[v >> 18 & 63], f);
        fputc(abc[v >> 12 & 63], f);
        fputc(n > 1 ? abc[v >> 6 & 63] : '=', f);
        fputc(n > 2 ? abc[v & 63] : '=', f);
        if (n < 3)
            break;
    }
    int rc = ferror(in) ? -EIO : 0;
    fclose(in);
    return rc;
}

/* --- the parts of the page, each in both forms --- */

static void heading(const report *r, int level, const char *text)
{
    if (r->markdown)
        fprintf(r->f, "\n%.*s %s\n\n", level, "####", text);
    else
        fprintf(r->f, "<h%d>%s</h%d>\n", level, text, level);
}

/* One table row; with `head`, the header (and in Markdown the alignment line: the
 * first `left` columns to the left, the others, numbers, to the right). */
static void row(const report *r, const char *const *cells, int n, bool head, int left)
{
    FILE *f = r->f;
    fputs(r->markdown ? "|" : "<tr>", f);
    for (int i = 0; i < n; i++) {
        if (r->markdown) {
            fputc(' ', f), md_cell(f, cells[i]), fputs(" |", f);
        } else {
            fputs(head ? "<th>" : "<td>", f), html(f, cells[i]);
            fputs(head ? "</th>" : "</td>", f);
        }
    }
    fputs(r->markdown ? "\n" : "</tr>\n", f);
    if (head && r->markdown) {
        fputc('|', f);
        for (int i = 0; i < n; i++)
            fputs(i < left ? " --- |" : " ---: |", f);
        fputc('\n', f);
    }
}

static void runs_table(const report *r)
{
    static const char *const head[] = {"run", "name", "status", "scenario", "seed",
                                       "model", "fleet", "started (UTC)", "tags"};
    heading(r, 2, "Runs");
    fputs(r->markdown ? "" : "<table class=\"runs\">\n", r->f);
    row(r, head, 9, true, 9);
    size_t i;
    json_t *run;
    json_array_foreach(r->runs, i, run) {
        char id[24], seed[24], tags[256] = "";
        snprintf(id, sizeof id, "#%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(run, "id")));
        snprintf(seed, sizeof seed, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(run, "seed")));
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(run, "tags"), k, t)
            snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", k ? ", " : "",
                     json_string_value(t));
        const char *cells[] = {id, str(run, "name"), str(run, "status"),
                               str(run, "scenario_file"), seed, str(run, "model"),
                               str(run, "fleet"), str(run, "started_at"), tags};
        row(r, cells, 9, false, 0);
    }
    fputs(r->markdown ? "" : "</table>\n", r->f);
}

static void fmt_num(const json_t *v, char *buf, size_t size)
{
    if (json_is_number(v))
        snprintf(buf, size, "%.4g", json_number_value(v));
    else
        snprintf(buf, size, "-");
}

static void metrics_table(const report *r)
{
    int n = r->n;
    const char *cells[2 + 2 * 16];
    char vals[16][2][32], heads[16][2][32];
    if (n > 16)
        n = 16;                 /* the page stays readable; compare has them all */
    heading(r, 2, n > 1 ? "Key metrics (differences in % of the first run)" : "Key metrics");
    fputs(r->markdown ? "" : "<table>\n", r->f);
    cells[0] = "metric", cells[1] = "unit";
    int nc = 2;
    for (int i = 0; i < n; i++) {
        snprintf(heads[i][0], 32, "#%" PRId64, r->ids[i]);
        snprintf(heads[i][1], 32, "vs #%" PRId64, r->ids[0]);
        cells[nc++] = heads[i][0];
        if (i > 0)
            cells[nc++] = heads[i][1];
    }
    row(r, cells, nc, true, 2);
    size_t k;
    json_t *m;
    json_array_foreach(json_object_get(r->cmp, "metrics"), k, m) {
        cells[0] = str(m, "label"), cells[1] = str(m, "unit"), nc = 2;
        for (int i = 0; i < n; i++) {
            fmt_num(json_array_get(json_object_get(m, "values"), (size_t)i), vals[i][0], 32);
            json_t *d = json_array_get(json_object_get(m, "diff_pct"), (size_t)i);
            if (json_is_number(d))
                snprintf(vals[i][1], 32, "%+.1f%%", json_number_value(d));
            else
                snprintf(vals[i][1], 32, "n/a");
            cells[nc++] = vals[i][0];
            if (i > 0)
                cells[nc++] = vals[i][1];
        }
        row(r, cells, nc, false, 0);
    }
    fputs(r->markdown ? "" : "</table>\n", r->f);
}

static void pre(const report *r, const char *text, const char *lang)
{
    if (r->markdown) {
        fprintf(r->f, "```%s\n%s%s```\n", lang, text,
                *text && text[strlen(text) - 1] == '\n' ? "" : "\n");
        return;
    }
    fputs("<pre>", r->f);
    html(r->f, text);
    fputs("</pre>\n", r->f);
}

static void run_details(const report *r)
{
    size_t i;
    json_t *run;
    json_array_foreach(r->runs, i, run) {
        char title[256];
        snprintf(title, sizeof title, "Run #%" JSON_INTEGER_FORMAT ": %s",
                 json_integer_value(json_object_get(run, "id")), str(run, "name"));
        heading(r, 2, title);
        const char *summary = str(run, "summary_text");
        pre(r, *summary ? summary : "(no summary: the run did not complete)\n", "text");
        if (!r->markdown)
            fputs("<details><summary>scenario</summary>\n", r->f);
        else
            fprintf(r->f, "\nScenario (%s):\n\n", str(run, "scenario_file"));
        pre(r, str(run, "scenario_text"), "yaml");
        if (!r->markdown)
            fputs("</details>\n", r->f);
    }
}

static int plots_section(const report *r, const char *md_dir_rel)
{
    heading(r, 2, "Plots");
    size_t i;
    json_t *p;
    json_array_foreach(r->plots, i, p) {
        const char *png = str(p, "png"), *base = strrchr(png, '/');
        base = base ? base + 1 : png;
        if (r->markdown) {
            fprintf(r->f, "![%s](%s/%s)\n\n", str(p, "plot"), md_dir_rel, base);
            continue;
        }
        fprintf(r->f, "<figure><img alt=\"%s\" src=\"data:image/png;base64,", str(p, "plot"));
        int rc = base64_file(r->f, png);
        if (rc != 0)
            return rc;
        fputs("\"></figure>\n", r->f);
    }
    return 0;
}

static const char STYLE[] =
    "body{font-family:Helvetica,Arial,sans-serif;max-width:1560px;margin:2em auto;"
    "padding:0 1em;color:#222}h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;"
    "border-bottom:1px solid #ddd}table{border-collapse:collapse;font-size:.92em}"
    "th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:right}"
    "th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}th{background:#f4f4f4}"
    "table.runs td,table.runs th{text-align:left}"
    "pre{background:#f8f8f8;padding:.8em;overflow-x:auto;font-size:.88em}"
    "figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}"
    "summary{cursor:pointer;color:#1f77b4}";

static int write_page(const report *r, const char *md_dir_rel)
{
    char title[256];
    json_t *first = json_array_get(r->runs, 0);
    if (r->n == 2)
        snprintf(title, sizeof title, "fleetsim report: %s and %s", str(first, "name"),
                 str(json_array_get(r->runs, 1), "name"));
    else if (r->n > 2)
        snprintf(title, sizeof title, "fleetsim report: %s and %d other runs",
                 str(first, "name"), r->n - 1);
    else
        snprintf(title, sizeof title, "fleetsim report: %s", str(first, "name"));
    if (r->markdown) {
        fprintf(r->f, "# %s\n\nMade by fleetsim %s from %d stored run%s.\n", title,
                PACKAGE_VERSION, r->n, r->n == 1 ? "" : "s");
    } else {
        fprintf(r->f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                      "<title>");
        html(r->f, title);
        fprintf(r->f, "</title>\n<style>%s</style></head><body>\n<h1>", STYLE);
        html(r->f, title);
        fprintf(r->f, "</h1>\n<p>Made by fleetsim %s from %d stored run%s.</p>\n",
                PACKAGE_VERSION, r->n, r->n == 1 ? "" : "s");
    }
    runs_table(r);
    metrics_table(r);
    int rc = plots_section(r, md_dir_rel);
    run_details(r);
    if (!r->markdown)
        fputs("</body></html>\n", r->f);
    return rc;
}

/* --- gathering, plotting, writing --- */

static int fail_free(char *err)
{
    fprintf(stderr, "fleetsim report: %s\n", err ? err : "out of memory");
    free(err);
    return FS_EXIT_USAGE;
}

static int gather(report *r, char **refs, char **err)
{
    r->ids = calloc((size_t)r->n, sizeof *r->ids);
    r->runs = json_array();
    if (!r->ids || !r->runs)
        return -ENOMEM;
    for (int i = 0; i < r->n; i++) {
        json_t *run;
        int rc = fs_results_resolve(r->db, refs[i], &r->ids[i], err);
        if (rc == 0)
            rc = fs_results_get(r->db, r->ids[i], &run, err);
        if (rc != 0)
            return rc;
        json_array_append_new(r->runs, run);
    }
    return fs_results_compare(r->db, r->ids, r->n, &r->cmp, err);
}

/* Removes what fs_plot_render wrote into a temporary directory, and the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = fu_asprintf("%s/%s", dir, e->d_name);
        if (p)
            unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* A Markdown report keeps its pictures only; the data stays with `fleetsim plot`. */
static void remove_data(const json_t *plots)
{
    size_t i;
    json_t *p;
    json_array_foreach(plots, i, p)
        unlink(str(p, "data"));
}

/* Where the pictures go: a temporary directory (HTML) or OUT's stem + "-plots". */
static char *plots_dir(const char *out, bool markdown)
{
    if (!markdown) {
        const char *tmp = getenv("TMPDIR");
        char *dir = fu_asprintf("%s/fleetsim-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (dir && !mkdtemp(dir))
            free(dir), dir = NULL;
        return dir;
    }
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - out) : (int)strlen(out);
    return fu_asprintf("%.*s-plots", stem, out);
}

static int write_report(report *r, const char *out, const fs_plot_opts *po, char **err)
{
    char *dir = plots_dir(out, r->markdown);
    if (!dir) {
        *err = fu_asprintf("cannot make a directory for the plots: %s", strerror(errno));
        return -EIO;
    }
    int rc = fs_plot_render(r->db, r->ids, r->n, dir, po, &r->plots, err);
    if (rc == 0 && !(r->f = fopen(out, "w"))) {
        *err = fu_asprintf("%s: %s", out, strerror(errno));
        rc = -errno;
    }
    const char *slash = strrchr(dir, '/');
    if (rc == 0)
        rc = write_page(r, slash ? slash + 1 : dir);
    if (r->f && fclose(r->f) != 0 && rc == 0) {
        *err = fu_asprintf("%s: %s", out, strerror(errno));
        rc = -EIO;
    } else if (rc != 0 && r->f && !*err) {
        *err = fu_asprintf("%s: cannot embed the plots", out);
    }
    if (!r->markdown)
        remove_dir(dir);
    else
        remove_data(r->plots);
    free(dir);
    return rc;
}

static int make_report(const char *dbpath, char **refs, int n, const char *out, bool markdown,
                       bool quiet)
{
    report r = {.n = n, .markdown = markdown};
    char *err = NULL;
    if (fs_results_open(dbpath, false, &r.db, &err) != 0)
        return fail_free(err);
    fs_plot_opts po = {.png = true, .svg = false, .notes = quiet ? NULL : stderr};
    int rc = gather(&r, refs, &err);
    if (rc == 0)
        rc = write_report(&r, out, &po, &err);
    free(r.ids);
    json_decref(r.runs);
    json_decref(r.cmp);
    json_decref(r.plots);
    fs_results_close(r.db);
    return rc == 0 ? FS_EXIT_OK : fail_free(err);
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"db", required_argument, NULL, 'd'},
        {"markdown", no_argument, NULL, 'm'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *db = fs_default_db();
    bool markdown = false, quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'd': db = optarg; break;
        case 'm': markdown = true; break;
        case 'q': quiet = true; break;
        case 'h': return usage(stdout), FS_EXIT_OK;
        default: return usage(stderr), FS_EXIT_USAGE;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "fleetsim report: expected at least one RUN and -o FILE\n\n");
        return usage(stderr), FS_EXIT_USAGE;
    }
    size_t len = strlen(out);
    markdown |= len > 3 && strcmp(out + len - 3, ".md") == 0;
    return make_report(db, argv + optind, argc - optind, out, markdown, quiet);
}

const fs_cmd fs_cmd_report = {"report", "write an HTML or Markdown report of stored runs",
                              run};
