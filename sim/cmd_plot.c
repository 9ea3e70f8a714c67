/*
 * cmd_plot.c: `fleetsim plot RUN... -o DIR`: pictures of stored runs (sim/plot.h):
 * latency CDFs, latency over time, replicas over time, throughput against latency and
 * cost per million tokens, as PNG and SVG with their TSV data beside them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "plot.h"
#include "runcommon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim plot [OPTIONS] RUN... -o DIR\n\n"
            "Draws the stored runs with gnuplot into DIR: cdf (TTFT, TPOT and E2E across\n"
            "the runs), timeline-ID (latency over time with the arrival rate), replicas-ID\n"
            "(load, KV usage and throughput per replica), sweep (throughput against\n"
            "latency) and cost (cost per million tokens by configuration); each as PNG\n"
            "and SVG, with the data it was drawn from as TSV.\n\n"
            "RUN is a run id, a run name (the newest run of that name) or 'last'.\n\n"
            "options:\n"
            "  -o, --output DIR  where to write (created if needed)\n"
            "  --db PATH         the results database (default $FLEETSIM_DB or ./fleetsim.db)\n"
            "  --format F        png, svg or both (default both)\n"
            "  --json            list what was written as JSON\n"
            "  --quiet           no notes about plots left out\n"
            "  -h, --help        show this help\n\n"
            "Exit status: 0 done; 2 bad input or gnuplot failed.\n");
}

static int fail_free(char *err)
{
    fprintf(stderr, "fleetsim plot: %s\n", err ? err : "out of memory");
    free(err);
    return FS_EXIT_USAGE;
}

static int set_format(fs_plot_opts *o, const char *f)
{
    o->png = strcmp(f, "png") == 0 || strcmp(f, "both") == 0;
    o->svg = strcmp(f, "svg") == 0 || strcmp(f, "both") == 0;
    if (o->png || o->svg)
        return 0;
    fprintf(stderr, "fleetsim plot: --format expects png, svg or both, got '%s'\n", f);
    return -1;
}

static void print_made(const json_t *made, bool json)
{
    if (json) {
        json_dumpf(made, stdout, JSON_INDENT(2));
        putchar('\n');
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(made, i, e) {
        const char *png = json_string_value(json_object_get(e, "png"));
        const char *svg = json_string_value(json_object_get(e, "svg"));
        if (png)
            printf("%s\n", png);
        if (svg)
            printf("%s\n", svg);
    }
}

static int plot(const char *dbpath, char **refs, int n, const char *dir,
                const fs_plot_opts *o, bool json)
{
    fs_results *db;
    char *err = NULL;
    if (fs_results_open(dbpath, false, &db, &err) != 0)
        return fail_free(err);
    int64_t *ids = calloc((size_t)n, sizeof *ids);
    int rc = ids ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++)
        rc = fs_results_resolve(db, refs[i], &ids[i], &err);
    json_t *made = NULL;
    if (rc == 0)
        rc = fs_plot_render(db, ids, n, dir, o, &made, &err);
    free(ids);
    fs_results_close(db);
    if (rc != 0)
        return fail_free(err);
    print_made(made, json);
    json_decref(made);
    return FS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fs_plot_opts o = {.png = true, .svg = true, .notes = stderr};
    const char *dir = NULL, *db = fs_default_db();
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'd': db = optarg; break;
        case 'f':
            if (set_format(&o, optarg) != 0)
                return FS_EXIT_USAGE;
            break;
        case 'j': json = true; break;
        case 'q': o.notes = NULL; break;
        case 'h': return usage(stdout), FS_EXIT_OK;
        default: return usage(stderr), FS_EXIT_USAGE;
        }
    }
    if (!dir || optind >= argc) {
        fprintf(stderr, "fleetsim plot: expected at least one RUN and -o DIR\n\n");
        return usage(stderr), FS_EXIT_USAGE;
    }
    return plot(db, argv + optind, argc - optind, dir, &o, json);
}

const fs_cmd fs_cmd_plot = {"plot", "draw stored runs with gnuplot (PNG and SVG)", run};
