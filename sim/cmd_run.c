/*
 * cmd_run.c: `fleetsim run SCENARIO`: simulate one scenario and print its summary.
 *
 * The output is a function of the scenario and the seed only (no wall-clock figures),
 * so the same scenario and seed give the same bytes; benchmarks live in `bench`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster.h"
#include "cmd.h"
#include "overrides.h"
#include "replicate.h"
#include "runcommon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim run [OPTIONS] SCENARIO.yaml\n\n"
            "Simulates the scenario and prints its summary: latencies (TTFT, TPOT, ITL,\n"
            "E2E, queueing), throughput, SLO attainment, cost and energy.\n\n"
            "options:\n"
            "  --json          print the result as one JSON object\n"
            "  --seed N        override the scenario's seed\n"
            "  --check         exit 1 when an SLO percentile target is missed\n"
            "  --requests N    simulate only the first N requests of the workload\n"
            "  --catalog DIR   read accelerators and LLMs from DIR (default: bundled)\n"
            "  --set PATH=VALUE  override a scenario field before loading (repeatable):\n"
            "                  workload.arrival.rate=8, pools.0.replicas=4, tp=2\n"
            "  --replications N  run N seeds (seed, seed+1, ...) and print every figure's\n"
            "                  mean with a 95 %% confidence interval (nothing is stored)\n"
            FS_RUN_STORE_HELP
            "  -h, --help      show this help\n\n"
            "The run is stored in a results database (see `fleetsim results --help`).\n"
            "Exit status: 0 done; 1 an SLO target missed (with --check); 2 bad input.\n");
}

static void print_text(const fs_scenario *sc, const fs_run_result *res)
{
    fs_print_run_header(stdout, sc, &res->kv);
    fs_summary_print(stdout, &res->summary);
}

static int print_json(const fs_scenario *sc, const fs_run_result *res)
{
    json_t *o = fs_run_to_json(sc, res);
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0) {
        json_decref(o);
        fprintf(stderr, "fleetsim run: out of memory\n");
        return FS_EXIT_USAGE;
    }
    putchar('\n');
    json_decref(o);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'}, FS_RUN_LONG_OPTS,
        {"replications", required_argument, NULL, 'R'},
        {"set", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    fs_run_opts ro = {0};
    bool json = false, check = false;
    int c;
    long reps = 0;
    const char *sets[64];
    int nsets = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'k')
            check = true;
        else if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        else if (c == 'R' && ((reps = strtol(optarg, NULL, 10)) < 1 || reps > 100000))
            return fprintf(stderr, "fleetsim run: --replications expects 1..100000\n"),
                   FS_EXIT_USAGE;
        else if (c == 'S' && nsets == 64)
            return fprintf(stderr, "fleetsim run: at most 64 --set\n"), FS_EXIT_USAGE;
        else if (c == 'S')
            sets[nsets++] = optarg;
        else if (c != 'R' && fs_run_opt(&ro, c, optarg, "run") != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc - 1)
        return usage(stderr), FS_EXIT_USAGE;
    if (reps > 0 && nsets > 0)
        return fprintf(stderr, "fleetsim run: --set does not combine with --replications\n"),
               FS_EXIT_USAGE;
    if (reps > 0)
        return fs_replicate_cmd("run", argv[optind], &ro, (int)reps, json);
    fs_scenario sc;
    fs_run_result res;
    if (fs_load_scenario_set("run", argv[optind], sets, nsets, &ro, &sc) != 0)
        return FS_EXIT_USAGE;
    if (fs_run_scenario("run", &sc, &ro, &res, NULL) != 0)
        return fs_scenario_free(&sc), FS_EXIT_USAGE;
    int rc = json ? print_json(&sc, &res) : (print_text(&sc, &res), 0);
    if (rc == 0 && check && res.summary.slo.set && !res.summary.slo.all_ok)
        rc = FS_EXIT_CHECK;
    fs_scenario_free(&sc);
    return rc;
}

const fs_cmd fs_cmd_run = {"run", "simulate a scenario and print its summary", run};
