/*
 * cmd_plan.c: `fleetsim plan SPEC`: the cheapest fleet per candidate configuration that
 * meets the SLOs at a target rate, the highest rate each sustains, a ranked table and
 * the cost-latency Pareto front.
 *
 * A spec (YAML; README.md, "Capacity planning", has an example):
 *   name: chat-plan
 *   scenario: ../quickstart.yaml   # model, workload (a generator with an arrival rate,
 *                                  # or a trace) and SLOs; relative to the spec
 *   trace: azure-conv.csv          # optional: this trace (any format the readers
 *                                  # sniff) replaces the scenario's workload; relative
 *                                  # to the spec
 *   rate: 20                       # target arrival rate, req/s; or:
 *   growth: 1.5                    # the workload's own rate times this (a trace's:
 *                                  # requests / span as replayed)
 *   requests: 400                  # requests per run (a trace's first 400)
 *   attainment: 0.95               # optional: share of requests meeting every SLO
 *   set: {slo.ttft: 300ms}         # overrides of every run
 *   accelerators: [H100-SXM, H200]
 *   tp: [1, 2]
 *   modes: [aggregated, "1:1"]     # aggregated, or prefill:decode replica ratios
 *   routers: [default, epp.yaml]   # built-in policies, or EndpointPickerConfig files
 *                                  # (relative to the scenario); each replaces the
 *                                  # scenario's router: mapping
 *   max_replicas: 64               # search bound per configuration
 *   budget: 200                    # optional: USD per hour
 *   available: {H100-SXM: 16}      # optional: accelerators available per type
 *
 * Search: a configuration "meets" when every SLO percentile target holds (and the
 * attainment, when given). Meeting is taken as monotone in the replica count (more
 * replicas never hurt; true of every built-in router on a fixed seed up to noise), so
 * the smallest count is found by doubling then bisection: O(log max_replicas) runs
 * instead of a full grid. A P/D ratio p:d scales both pools by k = 1, 2, ... and the
 * search is over k. The highest sustainable rate at the chosen count is found the same
 * way on the rate (doubling from the target, then bisection to 2 %). Every run is in
 * memory (nothing stored): a plan is hundreds of short runs.
 *
 * Rates reach a generator as its arrival rate and a trace as a speed factor on its
 * arrival times (plan.h): a trace at growth 3 is the same requests arriving three
 * times as fast, never a copy of the file. Rejected: sampling or repeating a trace to
 * reach a rate (changes which requests run, and repetition cannot give fractions).
 *
 * Workload assumed: scenarios of a few hundred to a few thousand requests per run (the
 * spec's `requests:` should cap them), tens of candidates.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "plan.h"
#include "runcommon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim plan [OPTIONS] SPEC.yaml\n\n"
            "For every candidate (accelerator, TP, aggregated or P/D ratio, router) finds\n"
            "the fewest replicas meeting the scenario's SLOs at the target rate (bisection)\n"
            "and the highest rate they sustain; prints them ranked by cost with the\n"
            "cost-latency Pareto front marked.\n\n"
            "options:\n"
            "  --rate R        target rate in requests/s (overrides the spec)\n"
            "  --growth G      target rate = the workload's own rate x G (a trace's:\n"
            "                  requests / span as replayed; overrides the spec)\n"
            "  --trace FILE    replay FILE (Azure, BurstGPT, Mooncake or fleetsim CSV)\n"
            "                  instead of the scenario's workload; rates scale its\n"
            "                  arrival times\n"
            "  --requests N    requests per run (a trace's first N; overrides the spec)\n"
            "  --no-max-rate   skip the search for each configuration's highest rate\n"
            "  --json          print the plan as JSON\n"
            "  --check         exit 1 when no configuration meets the SLOs\n"
            "  --seed N        override the scenario's seed\n"
            "  --catalog DIR   read accelerators and LLMs from DIR (default: bundled)\n"
            "  -h, --help      show this help\n\n"
            "Nothing is stored. Exit status: 0 done; 1 no configuration meets the SLOs\n"
            "(with --check); 2 bad input.\n");
}

/* --- output --- */

static json_t *cand_json(const fs_plan_cand *c)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:b}", "accelerator", c->accel, "tp", c->tp,
                          "mode", c->mode, "router", c->router ? c->router : "(scenario)",
                          "feasible", c->feasible);
    if (o && c->why[0])
        json_object_set_new(o, "why", json_string(c->why));
    if (!o || !c->feasible)
        return o;
    json_t *more = json_pack("{s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:b,s:b,s:i}",
                             c->p ? "scale" : "replicas", c->scale, "accelerators",
                             c->accelerators, "usd_per_hour", c->usd_h, "usd_per_m_tokens",
                             c->usd_mtok, "ttft_at_pct_s", c->ttft_s, "tpot_at_pct_s",
                             c->tpot_s, "attainment", c->attain, "over_budget",
                             c->over_budget, "pareto", c->pareto, "runs", c->runs);
    json_object_update(o, more);
    json_decref(more);
    if (c->max_rate > 0) {
        json_object_set_new(o, "max_rate_rps", json_real(c->max_rate));
        json_object_set_new(o, "headroom", json_real(c->headroom));
    }
    if (c->max_growth > 0)
        json_object_set_new(o, "max_growth", json_real(c->max_growth));
    return o;
}

static int print_json(const fs_planner *pl, const fs_plan_cand *cs, int n)
{
    const fs_plan_spec *ps = pl->ps;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, cand_json(&cs[i]));
    json_t *o = json_pack("{s:s,s:s,s:f,s:o}", "name", ps->name, "scenario", ps->scenario,
                          "target_rate_rps", pl->rate, "configurations", arr);
    if (o && ps->trace[0])
        json_object_set_new(o, "trace", json_string(ps->trace));
    if (o && pl->wl.base_rate > 0) {
        json_object_set_new(o, "workload_rate_rps", json_real(pl->wl.base_rate));
        json_object_set_new(o, "target_growth", json_real(pl->rate / pl->wl.base_rate));
    }
    int rc = o && json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) == 0;
    putchar('\n');
    json_decref(o);
    return rc ? 0 : -ENOMEM;
}

static void print_row(int rank, const fs_plan_cand *c)
{
    char repl[32];
    if (c->p)
        snprintf(repl, sizeof repl, "%d+%d", c->p * c->scale, c->d * c->scale);
    else
        snprintf(repl, sizeof repl, "%d", c->scale);
    printf("%4d %s %-12s %3d %-10s %-14s", rank, c->pareto ? "*" : " ", c->accel, c->tp,
           c->mode, c->router ? c->router : "(scenario)");
    if (!c->feasible && c->why[0]) {
        printf(" cannot run: %s\n", c->why);
        return;
    }
    if (!c->feasible) {
        printf(" no configuration meets the SLOs within %d %s\n", c->cap,
               c->p ? "scale steps" : "replicas");
        return;
    }
    printf(" %8s %6d %9.2f %9.4f %9.1f %8.2f", repl, c->accelerators, c->usd_h, c->usd_mtok,
           c->ttft_s * 1e3, c->tpot_s * 1e3);
    if (c->max_rate > 0)
        printf(" %9.2f %+8.0f%%", c->max_rate, c->headroom * 100);
    if (c->max_growth > 0)
        printf(" %7.2fx", c->max_growth);
    printf("%s\n", c->over_budget ? "  over budget" : "");
}

static void print_text(const fs_planner *pl, const fs_plan_cand *cs, int n)
{
    const fs_plan_spec *ps = pl->ps;
    double base = pl->wl.base_rate;
    printf("plan %s: %s%s%s at %.4g req/s", ps->name, ps->scenario,
           ps->trace[0] ? " with trace " : "", ps->trace_shown, pl->rate);
    if (base > 0)
        printf(" (%.4gx the %s's %.4g req/s)", pl->rate / base,
               pl->wl.trace ? "trace" : "workload", base);
    printf("\n\n%4s %s %-12s %3s %-10s %-14s %8s %6s %9s %9s %9s %8s %9s %9s%s\n", "rank",
           "P", "accelerator", "tp", "mode", "router", "replicas", "accels", "$/h",
           "$/M tok", "ttft ms", "tpot ms", "max req/s", "headroom",
           pl->max_rate && base > 0 ? "    max x" : "");
    for (int i = 0; i < n; i++)
        print_row(i + 1, &cs[i]);
    printf("\nP: * on the cost-latency Pareto front (cost per hour against TTFT at the SLO "
           "percentile).%s\n", pl->max_rate && base > 0 ? "\nmax x: the highest "
           "sustainable rate as a multiple of the workload's own rate." : "");
}

/* --- the command --- */
typedef struct plan_cli {
    double rate, growth;
    const char *trace;
    bool json, check, no_max_rate;
} plan_cli;

static int plan(fs_planner *pl, const plan_cli *cli)
{
    fs_plan_spec *ps = pl->ps;
    /* the command line over the spec; a rate over a growth factor */
    double g = cli->growth > 0 ? cli->growth : ps->growth;
    double r = cli->rate > 0 ? cli->rate : cli->growth > 0 ? 0 : ps->rate;
    if (fs_plan_workload_load(pl, "plan") != 0 || fs_plan_target(pl, r, g, "plan") != 0)
        return FS_EXIT_USAGE;
    fs_plan_cand *cs;
    int n, feasible = 0;
    if (fs_plan_make_cands(ps, &cs, &n) != 0)
        return FS_EXIT_USAGE;
    for (int i = 0; i < n; i++) {
        if (fs_plan_search(pl, &cs[i]) != 0)
            return free(cs), FS_EXIT_USAGE;
        feasible += cs[i].feasible && !cs[i].over_budget;
    }
    fs_plan_rank(cs, n);
    if (cli->json)
        print_json(pl, cs, n);
    else
        print_text(pl, cs, n);
    if (feasible == 0)
        fprintf(stderr, "fleetsim plan: no configuration meets the SLOs at %.4g req/s%s\n",
                pl->rate, ps->budget > 0 ? " within the budget" : "");
    free(cs);
    return feasible == 0 && cli->check ? FS_EXIT_CHECK : FS_EXIT_OK;
}

static int cli_opt(plan_cli *cli, fs_run_opts *ro, int c, const char *arg)
{
    char *end;
    if (c == 'r' || c == 'g') {
        double v = strtod(arg, &end);
        if (*end || !(v > 0) || v > 1e9)
            return fprintf(stderr, "fleetsim plan: --%s expects a positive number\n",
                           c == 'r' ? "rate" : "growth"), -1;
        *(c == 'r' ? &cli->rate : &cli->growth) = v;
        return 0;
    }
    if (c == 'J' || c == 'k' || c == 'M')
        return *(c == 'J' ? &cli->json : c == 'k' ? &cli->check : &cli->no_max_rate) = true, 0;
    if (c == 'T')
        return cli->trace = arg, 0;
    if (c != 's' && c != 'c' && c != 'n')
        return fprintf(stderr, "fleetsim plan: unknown option\n"), -1;
    return fs_run_opt(ro, c, arg, "plan");
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rate", required_argument, NULL, 'r'}, {"growth", required_argument, NULL, 'g'},
        {"json", no_argument, NULL, 'J'}, {"check", no_argument, NULL, 'k'},
        {"no-max-rate", no_argument, NULL, 'M'}, {"help", no_argument, NULL, 'h'},
        {"seed", required_argument, NULL, 's'}, {"catalog", required_argument, NULL, 'c'},
        {"trace", required_argument, NULL, 'T'}, {"requests", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    plan_cli cli = {0};
    fs_planner pl = {0};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == '?' || cli_opt(&cli, &pl.ro, c, optarg) != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc - 1)
        return usage(stderr), FS_EXIT_USAGE;
    fs_plan_spec ps = {0};
    char *err = NULL;
    if (fs_plan_spec_load(argv[optind], &ps, &err) != 0 ||
        (cli.trace && fs_plan_set_trace(&ps, cli.trace, &err) != 0)) {
        fprintf(stderr, "fleetsim plan: %s\n", err ? err : "out of memory");
        free(err);
        fs_plan_spec_free(&ps);
        return FS_EXIT_USAGE;
    }
    pl.ps = &ps;
    if (pl.ro.requests == 0 && ps.requests > 0)    /* --requests over the spec's */
        pl.ro.requests = (uint64_t)ps.requests;
    pl.ro.no_db = true;
    pl.ro.quiet = true;
    pl.max_rate = !cli.no_max_rate;
    int rc = plan(&pl, &cli);
    fs_plan_spec_free(&ps);
    return rc;
}

const fs_cmd fs_cmd_plan = {"plan", "cheapest fleet meeting the SLOs per configuration", run};
