/*
 * cmd_trace.c: `fleetsim trace stats|gen|convert`: look at, generate and convert
 * workloads.
 *
 *   stats FILE     rows, span, rate, inter-arrival CV, peaks, length percentiles and
 *                  the prefix-cache share of a trace (any readable format)
 *   gen SPEC       writes the workload a YAML spec generates as fleetsim CSV
 *   convert FILE   rewrites any readable trace as fleetsim CSV
 *
 * Every reading command takes the reader options (format, bad-row policy, BurstGPT
 * filters) and the transforms of a scenario's workload section, so what a scenario
 * would replay can be inspected first. Workload assumed: traces of up to tens of
 * millions of rows, streamed; on a terminal a progress line counts rows on stderr.
 * Exit status: 0 done, 2 bad input (usage, unreadable or malformed trace or spec).
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "ft_spec.h"
#include "ft_workload.h"
#include "fu_yaml.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim trace stats [OPTIONS] FILE\n"
            "       fleetsim trace gen [OPTIONS] SPEC.yaml\n"
            "       fleetsim trace convert [OPTIONS] FILE\n\n"
            "stats prints the rows, time span, mean rate, inter-arrival CV, peak requests\n"
            "per 1 s and 60 s, input and output token percentiles and, for traces with\n"
            "prefix structure, the share of input tokens an unlimited prefix cache serves.\n"
            "gen writes the workload of SPEC (a workload mapping, or a scenario with a\n"
            "workload: section) as fleetsim CSV; convert rewrites FILE (any format) so.\n"
            "FILE may be - for standard input.\n\n"
            "reading options (stats, convert):\n"
            "  --format F        auto (default: sniffed), azure, burstgpt, mooncake, csv\n"
            "  --skip-bad-rows   skip malformed rows and report their count at the end\n"
            "                    (default: the first bad row is an error, exit 2)\n"
            "  --zeros P         rows with 0 tokens: default, skip, one or error\n"
            "  --model M         BurstGPT: keep only this Model\n"
            "  --log-type T      BurstGPT: keep only this Log Type\n"
            "transforms (stats, convert; gen takes them from SPEC):\n"
            "  --classes LIST    keep these classes (comma-separated numbers)\n"
            "  --window A:B      keep arrivals in [A, B) seconds (B may be empty)\n"
            "  --sample P        keep each request with probability P (seeded by --seed)\n"
            "  --start-at-zero   shift arrivals so the first is at 0\n"
            "  --speed X         replay X times faster\n"
            "  --rate R          rescale time to a mean rate of R requests/s\n"
            "  --repeat N        play the trace N times back to back\n"
            "  --requests N      stop after N requests\n"
            "  --seed N          seed of --sample (gen: overrides the spec's seed)\n"
            "output options:\n"
            "  --json            stats: one JSON object\n"
            "  --block-size N    stats: prefix-cache block size in tokens (default 16)\n"
            "  --prefix WHEN     stats: compute the prefix share auto, always or never\n"
            "  -o, --output F    gen, convert: write to F instead of standard output\n"
            "  -h, --help        show this help\n\n"
            "Exit status: 0 done; 2 bad input.\n");
}

typedef struct opts {
    ft_spec spec;               /* trace options and transforms (stats, convert) */
    bool seed_set, json;
    uint64_t seed, requests;
    const char *output;
    ft_stats_opts stats;
} opts;

static int bad_opt(const char *opt, const char *arg)
{
    fprintf(stderr, "fleetsim trace: %s: invalid value '%s'\n", opt, arg);
    return -1;
}

static bool parse_double(const char *s, double lo, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && *end == '\0' && *v >= lo && *v < 1e15;
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    *v = strtoull(s, &end, 10);
    return *end == '\0';
}

static int parse_classes(const char *arg, uint64_t *mask)
{
    char *copy = strdup(arg), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && rc == 0;
         t = strtok_r(NULL, ",", &save)) {
        uint64_t c;
        if (!parse_u64(t, &c) || c > 63)
            rc = -1;
        else
            *mask |= 1ull << c;
    }
    free(copy);
    return rc == 0 && *mask ? 0 : bad_opt("--classes", arg);
}

static int parse_window(const char *arg, ft_transforms *t)
{
    const char *colon = strchr(arg, ':');
    char a[64];
    double s, e = 0;
    if (!colon || (size_t)(colon - arg) >= sizeof a)
        return bad_opt("--window", arg);
    memcpy(a, arg, (size_t)(colon - arg));
    a[colon - arg] = '\0';
    if (!parse_double(a, 0, &s) || (colon[1] && (!parse_double(colon + 1, 0, &e) || e <= s)))
        return bad_opt("--window", arg);
    t->window_start_ns = (int64_t)(s * 1e9 + 0.5);
    t->window_end_ns = (int64_t)(e * 1e9 + 0.5);
    return 0;
}

static const char *const zeros[] = { "default", "skip", "one", "error", NULL };

static int reader_opt(opts *o, int c, const char *arg)
{
    ft_trace_opts *t = &o->spec.trace;
    switch (c) {
    case 'f':
        return ft_format_parse(arg, &t->format) == 0 ? 0 : bad_opt("--format", arg);
    case 'b':
        t->skip_bad_rows = true;
        return 0;
    case 'z':
        for (int i = 0; zeros[i]; i++)
            if (strcmp(arg, zeros[i]) == 0)
                return t->zeros = (ft_zero_policy)i, 0;
        return bad_opt("--zeros", arg);
    case 'm':
    case 'l':
        if (strlen(arg) >= sizeof t->model)
            return bad_opt(c == 'm' ? "--model" : "--log-type", arg);
        strcpy(c == 'm' ? t->model : t->log_type, arg);
        return 0;
    }
    return 1;
}

static int transform_opt(opts *o, int c, const char *arg)
{
    ft_transforms *t = &o->spec.xf;
    uint64_t v;
    switch (c) {
    case 'C': return parse_classes(arg, &t->class_mask);
    case 'w': return parse_window(arg, t);
    case 'p': return parse_double(arg, 1e-9, &t->sample) && t->sample <= 1 ? 0 : bad_opt("--sample", arg);
    case 'Z': t->start_at_zero = true; return 0;
    case 'x': return parse_double(arg, 1e-9, &t->speed) ? 0 : bad_opt("--speed", arg);
    case 'r': return parse_double(arg, 1e-9, &t->target_rate) ? 0 : bad_opt("--rate", arg);
    case 'R': return parse_u64(arg, &v) && v >= 1 && v <= 1000000 ? (t->repeat = (uint32_t)v, 0)
                                                                   : bad_opt("--repeat", arg);
    case 'n': return parse_u64(arg, &o->requests) && o->requests ? 0 : bad_opt("--requests", arg);
    case 's': return parse_u64(arg, &o->seed) ? (o->seed_set = true, 0) : bad_opt("--seed", arg);
    }
    return 1;
}

static int output_opt(opts *o, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case 'j': o->json = true; return 0;
    case 'o': o->output = arg; return 0;
    case 'B': return parse_u64(arg, &v) && v >= 1 && v <= 65536
                         ? (o->stats.prefix_block = (uint32_t)v, 0) : bad_opt("--block-size", arg);
    case 'P':
        o->stats.prefix = !strcmp(arg, "always") ? 1 : !strcmp(arg, "never") ? 0 : -1;
        return strcmp(arg, "auto") && o->stats.prefix < 0 ? bad_opt("--prefix", arg) : 0;
    }
    return 1;
}

/* Parses argv after the action; returns the index of the one operand, or -1. */
static int parse(int argc, char **argv, opts *o)
{
    static const struct option lopts[] = {
        {"format", required_argument, NULL, 'f'}, {"skip-bad-rows", no_argument, NULL, 'b'},
        {"zeros", required_argument, NULL, 'z'}, {"model", required_argument, NULL, 'm'},
        {"log-type", required_argument, NULL, 'l'}, {"classes", required_argument, NULL, 'C'},
        {"window", required_argument, NULL, 'w'}, {"sample", required_argument, NULL, 'p'},
        {"start-at-zero", no_argument, NULL, 'Z'}, {"speed", required_argument, NULL, 'x'},
        {"rate", required_argument, NULL, 'r'}, {"repeat", required_argument, NULL, 'R'},
        {"requests", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'}, {"output", required_argument, NULL, 'o'},
        {"block-size", required_argument, NULL, 'B'}, {"prefix", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    memset(o, 0, sizeof *o);
    o->stats.prefix = -1;
    while ((c = getopt_long(argc, argv, "ho:", lopts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), -2;
        int rc = reader_opt(o, c, optarg);
        if (rc > 0)
            rc = transform_opt(o, c, optarg);
        if (rc > 0)
            rc = output_opt(o, c, optarg);
        if (rc != 0)
            return usage(stderr), -1;
    }
    if (optind != argc - 1)
        return usage(stderr), -1;
    return optind;
}

/* --- progress on a terminal --- */

typedef struct progress {
    ft_source *in;
    uint64_t n;
} progress;

static int progress_next(void *self, ft_request *out, char **err)
{
    progress *p = self;
    int rc = ft_source_next(p->in, out, err);
    if (rc == 1 && (++p->n & ((1u << 20) - 1)) == 0)
        fprintf(stderr, "\rfleetsim trace: %llu rows", (unsigned long long)p->n);
    if (rc != 1 && p->n >= (1u << 20))
        fprintf(stderr, "\r%40s\r", "");
    return rc;
}

static void progress_info(void *self, ft_source_info *out)
{
    ft_source_get_info(((progress *)self)->in, out);
}

static void progress_destroy(void *self)
{
    progress *p = self;
    ft_source_free(p->in);
    free(p);
}

static const ft_source_ops progress_ops = { "progress", progress_next, progress_destroy,
                                            progress_info };

static ft_source *with_progress(ft_source *s)
{
    progress *p;
    if (!isatty(STDERR_FILENO) || !(p = calloc(1, sizeof *p)))
        return s;
    p->in = s;
    ft_source *w = ft_source_wrap(&progress_ops, p);
    return w ? w : s;
}

/* --- opening --- */

static int open_trace(opts *o, const char *path, ft_source **src)
{
    char *err = NULL;
    if (strlen(path) >= sizeof o->spec.trace.path) {
        fprintf(stderr, "fleetsim trace: %s: path too long\n", path);
        return -1;
    }
    strcpy(o->spec.trace.path, path);
    o->spec.kind = FT_SPEC_TRACE;
    ft_spec_set_seed(&o->spec, o->seed);
    if (o->requests)
        ft_spec_set_requests(&o->spec, o->requests);
    if (ft_spec_open(&o->spec, src, &err) != 0) {
        fprintf(stderr, "fleetsim trace: %s\n", err ? err : "cannot open the trace");
        free(err);
        return -1;
    }
    *src = with_progress(*src);
    return 0;
}

/* Reports skipped and filtered rows; the message of the first skipped one. */
static void report_counts(ft_source *s)
{
    ft_source_info i;
    ft_source_get_info(s, &i);
    if (i.skipped)
        fprintf(stderr, "fleetsim trace: skipped %llu bad row%s (first: %s)\n",
                (unsigned long long)i.skipped, i.skipped == 1 ? "" : "s",
                i.first_skipped ? i.first_skipped : "?");
    if (i.filtered)
        fprintf(stderr, "fleetsim trace: filtered out %llu row%s\n",
                (unsigned long long)i.filtered, i.filtered == 1 ? "" : "s");
}

/* --- stats --- */

static json_t *len_json(const ft_len_stats *l)
{
    return json_pack("{s:f, s:I, s:I, s:I, s:I}", "mean", l->mean, "median",
                     (json_int_t)l->median, "p90", (json_int_t)l->p90, "p99", (json_int_t)l->p99,
                     "max", (json_int_t)l->max);
}

static int print_json(const char *path, const ft_stats *st)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:I, s:I, s:o, s:o, s:I, s:I}",
                          "file", path, "format", st->info.kind ? st->info.kind : "?",
                          "rows", (json_int_t)st->rows, "span_s", st->span_s,
                          "mean_rate", st->mean_rate, "interarrival_cv", st->gap_cv,
                          "peak_1s", (json_int_t)st->peak_1s, "peak_60s",
                          (json_int_t)st->peak_60s, "input_tokens", len_json(&st->input),
                          "output_tokens", len_json(&st->output), "skipped",
                          (json_int_t)st->info.skipped, "filtered", (json_int_t)st->info.filtered);
    if (o && st->prefix_done)
        json_object_set_new(o, "prefix_cache", json_pack("{s:f, s:I}", "share", st->prefix_share,
                                                         "block_tokens",
                                                         (json_int_t)st->prefix_block));
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0) {
        json_decref(o);
        fprintf(stderr, "fleetsim trace: out of memory\n");
        return FS_EXIT_USAGE;
    }
    putchar('\n');
    json_decref(o);
    return FS_EXIT_OK;
}

static void print_len(const char *name, const ft_len_stats *l)
{
    printf("%-17s mean %.1f, median %llu, p90 %llu, p99 %llu, max %llu\n", name, l->mean,
           (unsigned long long)l->median, (unsigned long long)l->p90,
           (unsigned long long)l->p99, (unsigned long long)l->max);
}

static void print_text(const char *path, const ft_stats *st)
{
    printf("%-17s %s (%s)\n", "trace", path, st->info.kind ? st->info.kind : "?");
    printf("%-17s %llu\n", "rows", (unsigned long long)st->rows);
    printf("%-17s %.3f s (%.1f min)\n", "span", st->span_s, st->span_s / 60);
    printf("%-17s %.3f requests/s\n", "mean rate", st->mean_rate);
    printf("%-17s %.2f\n", "inter-arrival CV", st->gap_cv);
    printf("%-17s %llu in 1 s, %llu in 60 s\n", "peak requests", (unsigned long long)st->peak_1s,
           (unsigned long long)st->peak_60s);
    print_len("input tokens", &st->input);
    print_len("output tokens", &st->output);
    if (st->prefix_done)
        printf("%-17s %.1f %% of input tokens (unlimited cache, %u-token blocks)\n",
               "prefix cache", 100 * st->prefix_share, st->prefix_block);
}

static int stats(int argc, char **argv)
{
    opts o;
    int i = parse(argc, argv, &o);
    ft_source *src;
    if (i < 0)
        return i == -2 ? FS_EXIT_OK : FS_EXIT_USAGE;
    if (open_trace(&o, argv[i], &src) != 0)
        return FS_EXIT_USAGE;
    ft_stats st;
    char *err = NULL;
    int rc = ft_stats_compute(src, &o.stats, &st, &err);
    if (rc == 0)
        report_counts(src);
    ft_source_free(src);
    if (rc != 0) {
        fprintf(stderr, "fleetsim trace: %s\n", err ? err : "cannot read the trace");
        free(err);
        return FS_EXIT_USAGE;
    }
    if (o.json)
        return print_json(argv[i], &st);
    print_text(argv[i], &st);
    return FS_EXIT_OK;
}

/* --- gen and convert --- */

/* Streams src into fleetsim CSV on `output` (stdout when NULL). */
static int write_csv(ft_source *src, const char *output)
{
    FILE *f = output ? fopen(output, "w") : stdout;
    if (!f) {
        fprintf(stderr, "fleetsim trace: cannot write %s\n", output);
        return FS_EXIT_USAGE;
    }
    ft_source_info info;
    ft_request r;
    char *err = NULL;
    ft_source_get_info(src, &info);
    ft_csv_writer *w = ft_csv_writer_new(f, info.shares_prefixes);
    int rc = w ? 0 : -1;
    while (rc == 0 && (rc = ft_source_next(src, &r, &err)) == 1)
        rc = ft_csv_write(w, &r);
    ft_csv_writer_free(w);
    if ((output ? fclose(f) : fflush(f)) != 0 && rc == 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "fleetsim trace: %s\n", err ? err : "cannot write the output");
        free(err);
        return FS_EXIT_USAGE;
    }
    report_counts(src);
    return FS_EXIT_OK;
}

static int convert(int argc, char **argv)
{
    opts o;
    int i = parse(argc, argv, &o);
    ft_source *src;
    if (i < 0)
        return i == -2 ? FS_EXIT_OK : FS_EXIT_USAGE;
    if (open_trace(&o, argv[i], &src) != 0)
        return FS_EXIT_USAGE;
    int rc = write_csv(src, o.output);
    ft_source_free(src);
    return rc;
}

/* SPEC: a workload mapping, or a scenario whose workload: section is used. */
static int load_spec(const char *path, const opts *o, ft_spec *spec)
{
    fu_yaml *doc = NULL;
    char *err = NULL, dir[PATH_MAX];
    int rc = fu_yaml_load_file(path, &doc, &err);
    fu_ynode root = rc == 0 ? fu_yaml_root(doc) : (fu_ynode){ 0 };
    fu_ynode wl = fu_ynode_ok(fu_ymap_get(root, "workload")) ? fu_ymap_get(root, "workload") : root;
    int64_t seed = 0;
    fu_ynode s = fu_ymap_get(root, "seed");
    if (rc == 0 && fu_ynode_ok(s) && wl.n != root.n)
        rc = fu_ynode_int64(s, 0, INT64_MAX, &seed, &err);
    snprintf(dir, sizeof dir, "%s", path);
    if (rc == 0)
        rc = ft_spec_from_yaml(wl, dirname(dir), o->seed_set ? o->seed : (uint64_t)seed, spec,
                               &err);
    fu_yaml_free(doc);
    if (rc != 0) {
        fprintf(stderr, "fleetsim trace: %s\n", err ? err : "cannot read the spec");
        free(err);
        return -1;
    }
    if (o->requests)
        ft_spec_set_requests(spec, o->requests);
    return 0;
}

static int gen(int argc, char **argv)
{
    opts o;
    int i = parse(argc, argv, &o);
    if (i < 0)
        return i == -2 ? FS_EXIT_OK : FS_EXIT_USAGE;
    if (!ft_transforms_identity(&o.spec.xf) || o.spec.trace.format || o.spec.trace.skip_bad_rows) {
        fprintf(stderr, "fleetsim trace gen: reading options and transforms belong in the "
                        "spec (transforms:), not on the command line\n");
        return FS_EXIT_USAGE;
    }
    ft_spec spec;
    ft_source *src = NULL;
    char *err = NULL;
    if (load_spec(argv[i], &o, &spec) != 0)
        return FS_EXIT_USAGE;
    int rc = ft_spec_open(&spec, &src, &err);
    ft_spec_free(&spec);
    if (rc != 0) {
        fprintf(stderr, "fleetsim trace: %s\n", err ? err : "cannot open the workload");
        free(err);
        return FS_EXIT_USAGE;
    }
    src = with_progress(src);
    rc = write_csv(src, o.output);
    ft_source_free(src);
    return rc;
}

static int run(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(int, char **); } actions[] = {
        {"stats", stats}, {"gen", gen}, {"convert", convert},
    };
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return usage(stdout), FS_EXIT_OK;
    for (size_t i = 0; argc >= 2 && i < sizeof actions / sizeof *actions; i++)
        if (strcmp(argv[1], actions[i].name) == 0)
            return actions[i].fn(argc - 1, argv + 1);
    if (argc >= 2)
        fprintf(stderr, "fleetsim trace: unknown action '%s'\n", argv[1]);
    usage(stderr);
    return FS_EXIT_USAGE;
}

const fs_cmd fs_cmd_trace = {"trace", "trace stats|gen|convert: inspect, generate, convert "
                                      "workloads", run};
