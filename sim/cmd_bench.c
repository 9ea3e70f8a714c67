/*
 * cmd_bench.c: `fleetsim bench SCENARIO`: how fast the simulator runs a scenario.
 *
 * Runs the scenario several times in this process and prints the median wall-clock
 * time, simulated requests per wall-clock second, events and engine steps per second,
 * and the process's peak resident memory. Memory that does not grow with the length
 * of the workload shows as equal peaks for --requests N and --requests 4N (separate
 * processes: `make bench` does both).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "cluster.h"
#include "cmd.h"
#include "runcommon.h"

#define MAX_RUNS 99

static void usage(FILE *f)
{
    fprintf(f, "usage: fleetsim bench [OPTIONS] SCENARIO.yaml\n\n"
               "Runs the scenario several times and prints the median speed and peak memory.\n\n"
               "options:\n"
               "  --runs N        runs to take the median of (default 5, at most 99)\n"
               "  --requests N    simulate only the first N requests of the workload\n"
               "  --seed N        override the scenario's seed\n"
               "  --catalog DIR   read accelerators and LLMs from DIR\n"
               "  -h, --help      show this help\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double median(double *v, size_t n)
{
    gsl_sort(v, 1, n);
    return gsl_stats_median_from_sorted_data(v, 1, n);
}

static int bench(const fs_scenario *sc, int runs)
{
    double wall[MAX_RUNS], rps[MAX_RUNS], eps[MAX_RUNS], sps[MAX_RUNS];
    fs_run_result res;
    for (int i = 0; i < runs; i++) {
        char *err = NULL;
        double t0 = now_s();
        if (fs_cluster_run(sc, &res, &err) != 0) {
            fprintf(stderr, "fleetsim bench: %s\n", err ? err : "run failed");
            free(err);
            return FS_EXIT_USAGE;
        }
        wall[i] = now_s() - t0;
        rps[i] = (double)res.summary.completed / wall[i];
        eps[i] = (double)res.events / wall[i];
        sps[i] = (double)res.steps / wall[i];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("scenario            %s\n", sc->name);
    printf("requests            %llu completed, %llu steps, %llu events per run\n",
           (unsigned long long)res.summary.completed, (unsigned long long)res.steps,
           (unsigned long long)res.events);
    printf("runs                %d (medians below)\n", runs);
    printf("each run            ");   /* in run order: median() below sorts */
    for (int i = 0; i < runs; i++)
        printf("%s%.3f", i ? ", " : "", wall[i]);
    printf(" s\n");
    printf("wall time           %.3f s\n", median(wall, (size_t)runs));
    printf("simulated requests  %.0f per wall-clock second\n", median(rps, (size_t)runs));
    printf("engine steps        %.0f per second\n", median(sps, (size_t)runs));
    printf("events              %.0f per second\n", median(eps, (size_t)runs));
    printf("peak memory (RSS)   %.1f MiB\n", ru.ru_maxrss / 1024.0);
    return FS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        FS_RUN_LONG_OPTS, {NULL, 0, NULL, 0},
    };
    fs_run_opts ro = {0};
    int runs = 5, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == 'r') {
            runs = atoi(optarg);
            if (runs < 1 || runs > MAX_RUNS)
                return fprintf(stderr, "fleetsim bench: --runs expects 1..99\n"), FS_EXIT_USAGE;
        } else if (fs_run_opt(&ro, c, optarg, "bench") != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc - 1)
        return usage(stderr), FS_EXIT_USAGE;
    fs_scenario sc;
    if (fs_load_scenario("bench", argv[optind], &ro, &sc) != 0)
        return FS_EXIT_USAGE;
    int rc = bench(&sc, runs);
    fs_scenario_free(&sc);
    return rc;
}

const fs_cmd fs_cmd_bench = {"bench", "measure simulation speed and peak memory", run};
