/*
 * cmd_plan.c: `fleetsim plan SPEC`: the cheapest fleet per candidate configuration that
 * meets the SLOs at a target rate, the highest rate each sustains, a ranked table and
 * the cost-latency Pareto front.
 *
 * A spec (YAML, see scenarios/plans/README.md):
 *   name: chat-plan
 *   scenario: ../quickstart.yaml   # model, workload (a generator with an arrival rate,
 *                                  # or a trace) and SLOs; relative to the spec
 *   rate: 20                       # target arrival rate, req/s (workload.arrival.rate)
 *   growth: 1.5                    # or: the scenario's rate times this
 *   attainment: 0.95               # optional: share of requests meeting every SLO
 *   set: {workload.requests: 400}  # overrides of every run
 *   accelerators: [H100-SXM, H200]
 *   tp: [1, 2]
 *   modes: [aggregated, "1:1"]     # aggregated, or prefill:decode replica ratios
 *   routers: [default]             # router.policy values
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
 * Workload assumed: generator scenarios of a few hundred to a few thousand requests per
 * run (the spec's `set:` should cap workload.requests), tens of candidates.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster.h"
#include "cmd.h"
#include "fu_yaml.h"
#include "overrides.h"
#include "runcommon.h"

#define MAX_LIST 16
#define MAX_FIXED 32
#define MAX_AVAIL 16

typedef struct plan_spec {
    char name[64];
    char scenario[PATH_MAX];
    double rate, growth, attainment, budget;
    char *fixed[MAX_FIXED];
    int nfixed;
    const char *accels[MAX_LIST], *modes[MAX_LIST], *routers[MAX_LIST];
    int tps[MAX_LIST];
    int naccels, ntps, nmodes, nrouters;
    int max_replicas;
    const char *avail_name[MAX_AVAIL];
    int avail_n[MAX_AVAIL], navail;
    fu_yaml *doc;           /* the strings above point into it */
} plan_spec;

/* One candidate configuration and what the search found. */
typedef struct cand {
    const char *accel, *mode, *router;
    int tp, p, d;           /* p = d = 0: aggregated; else the P/D ratio */
    int cap;                /* most scale steps allowed (max_replicas, availability) */
    bool feasible, over_budget;
    int scale;              /* replicas (aggregated) or k (P/D: k*p + k*d replicas) */
    int accelerators;
    double usd_h, usd_mtok, ttft_s, tpot_s, attain, max_rate, headroom;
    bool pareto;
    int runs;
} cand;

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
            "  --growth G      target rate = the scenario's rate x G (overrides the spec)\n"
            "  --no-max-rate   skip the search for each configuration's highest rate\n"
            "  --json          print the plan as JSON\n"
            "  --check         exit 1 when no configuration meets the SLOs\n"
            "  --seed N        override the scenario's seed\n"
            "  --catalog DIR   read accelerators and LLMs from DIR (default: bundled)\n"
            "  -h, --help      show this help\n\n"
            "Nothing is stored. Exit status: 0 done; 1 no configuration meets the SLOs\n"
            "(with --check); 2 bad input.\n");
}

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* --- the spec --- */

static int str_list(fu_ynode n, const char *what, const char **out, int *count, char **err)
{
    if (!fu_ynode_ok(n))
        return 0;
    if (!fu_ynode_is_seq(n) || fu_ynode_len(n) == 0 || fu_ynode_len(n) > MAX_LIST)
        return fail(err, fu_ynode_errf(n, "expected a list of 1 to %d %s", MAX_LIST, what));
    for (size_t i = 0; i < fu_ynode_len(n); i++)
        if (!(out[(*count)++] = fu_ynode_str(fu_yseq_item(n, i))))
            return fail(err, fu_ynode_errf(fu_yseq_item(n, i), "expected a scalar (%s)", what));
    return 0;
}

static int tp_list(plan_spec *ps, fu_ynode n, char **err)
{
    if (!fu_ynode_ok(n))
        return ps->tps[ps->ntps++] = 1, 0;
    if (!fu_ynode_is_seq(n) || fu_ynode_len(n) == 0 || fu_ynode_len(n) > MAX_LIST)
        return fail(err, fu_ynode_errf(n, "expected a list of TP degrees"));
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        int64_t v;
        int rc = fu_ynode_int64(fu_yseq_item(n, i), 1, 64, &v, err);
        if (rc != 0)
            return rc;
        ps->tps[ps->ntps++] = (int)v;
    }
    return 0;
}

static int num_key(fu_ynode root, const char *key, double lo, double hi, double *out,
                   char **err)
{
    fu_ynode n = fu_ymap_get(root, key);
    return fu_ynode_ok(n) ? fu_ynode_double(n, lo, hi, out, err) : 0;
}

static int avail_map(plan_spec *ps, fu_ynode n, char **err)
{
    if (fu_ynode_ok(n) && (!fu_ynode_is_map(n) || fu_ynode_len(n) > MAX_AVAIL))
        return fail(err, fu_ynode_errf(n, "expected a mapping of accelerator: count"));
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        int64_t v;
        int rc = fu_ynode_int64(fu_ymap_val(n, i), 0, 1000000, &v, err);
        if (rc != 0)
            return rc;
        ps->avail_name[ps->navail] = fu_ynode_str(fu_ymap_key(n, i));
        ps->avail_n[ps->navail++] = (int)v;
    }
    return 0;
}

static int check_keys(fu_ynode root, char **err)
{
    static const char *const keys[] = {"name", "description", "scenario", "rate", "growth",
                                       "attainment", "set", "accelerators", "tp", "modes",
                                       "routers", "max_replicas", "budget", "available",
                                       NULL};
    for (size_t i = 0; i < fu_ynode_len(root); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(root, i));
        bool ok = false;
        for (int j = 0; keys[j]; j++)
            ok |= k && strcmp(k, keys[j]) == 0;
        if (!ok)
            return fail(err, fu_ynode_errf(fu_ymap_key(root, i), "unknown key '%s'; "
                        "expected name, scenario, rate, growth, attainment, set, "
                        "accelerators, tp, modes, routers, max_replicas, budget, "
                        "available", k ? k : ""));
    }
    return 0;
}

static int load_fixed(plan_spec *ps, fu_ynode set, char **err)
{
    if (fu_ynode_ok(set) && !fu_ynode_is_map(set))
        return fail(err, fu_ynode_errf(set, "expected a mapping of path: value"));
    for (size_t i = 0; i < fu_ynode_len(set); i++) {
        const char *v = fu_ynode_str(fu_ymap_val(set, i));
        if (!v || ps->nfixed == MAX_FIXED)
            return fail(err, fu_ynode_errf(fu_ymap_val(set, i), "expected a scalar value "
                                           "(at most %d overrides)", MAX_FIXED));
        ps->fixed[ps->nfixed++] = fu_asprintf("%s=%s", fu_ynode_str(fu_ymap_key(set, i)), v);
    }
    return 0;
}

static int load_lists(plan_spec *ps, fu_ynode root, char **err)
{
    double mr = 64;
    int rc = str_list(fu_ymap_get(root, "accelerators"), "accelerator names", ps->accels,
                      &ps->naccels, err);
    if (rc == 0)
        rc = tp_list(ps, fu_ymap_get(root, "tp"), err);
    if (rc == 0)
        rc = str_list(fu_ymap_get(root, "modes"), "modes", ps->modes, &ps->nmodes, err);
    if (rc == 0)
        rc = str_list(fu_ymap_get(root, "routers"), "router policies", ps->routers,
                      &ps->nrouters, err);
    if (rc == 0)
        rc = num_key(root, "max_replicas", 1, 4096, &mr, err);
    ps->max_replicas = (int)mr;
    if (rc == 0 && ps->naccels == 0)
        rc = fail(err, fu_asprintf("%s: expected `accelerators:` (catalogue names)",
                                   fu_yaml_name(ps->doc)));
    if (ps->nmodes == 0)
        ps->modes[ps->nmodes++] = "aggregated";
    if (ps->nrouters == 0)
        ps->routers[ps->nrouters++] = NULL; /* the scenario's */
    return rc;
}

static int load_spec(const char *path, plan_spec *ps, char **err)
{
    int rc = fu_yaml_load_file(path, &ps->doc, err);
    if (rc != 0)
        return rc;
    fu_ynode root = fu_yaml_root(ps->doc);
    if (!fu_ynode_is_map(root))
        return fail(err, fu_asprintf("%s: expected a mapping (name, scenario, ...)", path));
    if ((rc = check_keys(root, err)) != 0)
        return rc;
    const char *name = fu_ynode_str(fu_ymap_get(root, "name"));
    const char *sc = fu_ynode_str(fu_ymap_get(root, "scenario"));
    if (!sc)
        return fail(err, fu_asprintf("%s: expected `scenario:` (the base scenario)", path));
    snprintf(ps->name, sizeof ps->name, "%s", name ? name : "plan");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(ps->scenario, sizeof ps->scenario, "%s%s%s", sc[0] == '/' ? "" : dirname(dir),
             sc[0] == '/' ? "" : "/", sc);
    rc = num_key(root, "rate", 1e-6, 1e9, &ps->rate, err);
    if (rc == 0)
        rc = num_key(root, "growth", 1e-6, 1e6, &ps->growth, err);
    if (rc == 0)
        rc = num_key(root, "attainment", 0, 1, &ps->attainment, err);
    if (rc == 0)
        rc = num_key(root, "budget", 0, 1e12, &ps->budget, err);
    if (rc == 0)
        rc = load_fixed(ps, fu_ymap_get(root, "set"), err);
    if (rc == 0)
        rc = avail_map(ps, fu_ymap_get(root, "available"), err);
    return rc == 0 ? load_lists(ps, root, err) : rc;
}

static void spec_free(plan_spec *ps)
{
    for (int i = 0; i < ps->nfixed; i++)
        free(ps->fixed[i]);
    fu_yaml_free(ps->doc);
}

/* --- running one configuration --- */

typedef struct planner {
    plan_spec *ps;
    fs_run_opts ro;
    double rate;            /* the target */
    bool max_rate;
} planner;

/* The overrides of candidate c at `scale` and `rate`, into sets (strings malloc'd). */
static int cand_sets(const planner *pl, const cand *c, int scale, double rate, char **sets)
{
    int n = 0;
    for (int i = 0; i < pl->ps->nfixed; i++)
        sets[n++] = strdup(pl->ps->fixed[i]);
    sets[n++] = fu_asprintf("accelerator=%s", c->accel);
    sets[n++] = fu_asprintf("tp=%d", c->tp);
    sets[n++] = fu_asprintf("workload.arrival.rate=%.17g", rate);
    if (c->router)
        sets[n++] = fu_asprintf("router.policy=%s", c->router);
    if (c->p == 0)
        sets[n++] = fu_asprintf("replicas=%d", scale);
    else
        sets[n++] = fu_asprintf("pools=[{name: prefill, role: prefill, replicas: %d}, "
                                "{name: decode, role: decode, replicas: %d}]",
                                c->p * scale, c->d * scale);
    return n;
}

/* Runs c at scale and rate; 1 meets, 0 misses, -1 error (reported). */
static int try_run(const planner *pl, cand *c, int scale, double rate, fs_summary *out)
{
    char *sets[MAX_FIXED + 8];
    int n = cand_sets(pl, c, scale, rate, sets), rc = -1;
    fs_scenario sc;
    fs_run_result res;
    char *err = NULL;
    c->runs++;
    if (fs_load_scenario_set("plan", pl->ps->scenario, (const char *const *)sets, n, &pl->ro,
                             &sc) == 0) {
        if (fs_cluster_run(&sc, &res, &err) == 0) {
            *out = res.summary;
            const fs_slo_result *s = &res.summary.slo;
            rc = (!s->set || s->all_ok) && res.summary.rejected == 0 &&
                 s->attainment >= pl->ps->attainment;
        } else {
            fprintf(stderr, "fleetsim plan: %s\n", err ? err : "simulation failed");
        }
        fs_scenario_free(&sc);
    }
    for (int i = 0; i < n; i++)
        free(sets[i]);
    free(err);
    return rc;
}

/* Smallest scale in [1, cap] that meets at the target rate; 0 none, -1 error. */
static int min_scale(const planner *pl, cand *c, fs_summary *best)
{
    fs_summary s;
    int lo = 0, hi = 1, r;
    while ((r = try_run(pl, c, hi, pl->rate, &s)) == 0 && hi < c->cap)
        lo = hi, hi = hi * 2 > c->cap ? c->cap : hi * 2;
    if (r <= 0)
        return r;
    *best = s;
    while (hi - lo > 1) {   /* lo misses (or is 0), hi meets */
        int mid = lo + (hi - lo) / 2;
        if ((r = try_run(pl, c, mid, pl->rate, &s)) < 0)
            return -1;
        if (r)
            hi = mid, *best = s;
        else
            lo = mid;
    }
    return hi;
}

/* Highest rate the chosen scale sustains, within 2 % (doubling, then bisection). */
static double max_rate(const planner *pl, cand *c)
{
    fs_summary s;
    double lo = pl->rate, hi = pl->rate * 2;
    int r, doublings = 0;
    while ((r = try_run(pl, c, c->scale, hi, &s)) == 1 && doublings++ < 10)
        lo = hi, hi *= 2;
    if (r == 1)
        return hi;
    while (r >= 0 && hi / lo > 1.02) {
        double mid = sqrt(lo * hi);
        if ((r = try_run(pl, c, c->scale, mid, &s)) == 1)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int avail_for(const plan_spec *ps, const char *accel)
{
    for (int i = 0; i < ps->navail; i++)
        if (strcmp(ps->avail_name[i], accel) == 0)
            return ps->avail_n[i];
    return -1;
}

/* The search for one candidate; -1 when a run failed (bad input). */
static int search(const planner *pl, cand *c)
{
    int per_step = c->p ? (c->p + c->d) * c->tp : c->tp, avail = avail_for(pl->ps, c->accel);
    int most = c->p ? pl->ps->max_replicas / (c->p + c->d) : pl->ps->max_replicas;
    c->cap = most < 1 ? 1 : most;
    if (avail >= 0 && avail / per_step < c->cap)
        c->cap = avail / per_step;
    if (c->cap < 1)
        return 0;
    fs_summary s;
    int k = min_scale(pl, c, &s);
    if (k <= 0)
        return k;
    c->feasible = true;
    c->scale = k;
    c->accelerators = k * per_step;
    c->usd_h = s.cost.fleet_usd_per_hour;
    c->usd_mtok = s.cost.usd_per_m_tokens;
    c->ttft_s = s.slo.set ? s.slo.ttft_at_pct_s : s.ttft_s.p99;
    c->tpot_s = s.slo.set ? s.slo.tpot_at_pct_s : s.tpot_s.p99;
    c->attain = s.slo.attainment;
    c->over_budget = pl->ps->budget > 0 && c->usd_h > pl->ps->budget;
    if (pl->max_rate) {
        c->max_rate = max_rate(pl, c);
        c->headroom = c->max_rate / pl->rate - 1;
    }
    return 0;
}

/* --- candidates, ranking, the Pareto front --- */

static int parse_mode(const char *m, cand *c)
{
    if (strcmp(m, "aggregated") == 0)
        return 0;
    char *end;
    long p = strtol(m, &end, 10), d = *end == ':' ? strtol(end + 1, &end, 10) : 0;
    if (*end || p < 1 || d < 1 || p > 64 || d > 64)
        return -1;
    c->p = (int)p;
    c->d = (int)d;
    return 0;
}

static int by_cost(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->feasible != y->feasible || x->over_budget != y->over_budget)
        return x->feasible != y->feasible ? (x->feasible ? -1 : 1) : (x->over_budget ? 1 : -1);
    if (x->usd_h != y->usd_h)
        return x->usd_h < y->usd_h ? -1 : 1;
    return x->usd_mtok < y->usd_mtok ? -1 : x->usd_mtok > y->usd_mtok;
}

/* Feasible within budget and not dominated in (cost per hour, TTFT at the percentile). */
static void mark_pareto(cand *cs, int n)
{
    for (int i = 0; i < n; i++) {
        cs[i].pareto = cs[i].feasible && !cs[i].over_budget;
        for (int j = 0; cs[i].pareto && j < n; j++) {
            const cand *o = &cs[j];
            if (j != i && o->feasible && !o->over_budget && o->usd_h <= cs[i].usd_h &&
                o->ttft_s <= cs[i].ttft_s && (o->usd_h < cs[i].usd_h || o->ttft_s < cs[i].ttft_s))
                cs[i].pareto = false;
        }
    }
}

static int make_cands(const plan_spec *ps, cand **out, int *n)
{
    int total = ps->naccels * ps->ntps * ps->nmodes * ps->nrouters, k = 0;
    cand *cs = calloc((size_t)total, sizeof *cs);
    if (!cs)
        return -ENOMEM;
    for (int a = 0; a < ps->naccels; a++)
        for (int t = 0; t < ps->ntps; t++)
            for (int m = 0; m < ps->nmodes; m++)
                for (int r = 0; r < ps->nrouters; r++) {
                    cand *c = &cs[k++];
                    *c = (cand){.accel = ps->accels[a], .tp = ps->tps[t],
                                .mode = ps->modes[m], .router = ps->routers[r]};
                    int bad = parse_mode(c->mode, c);
                    /* P/D needs a disaggregating router: llm-d's pd unless one given */
                    if (c->p && (!c->router || strcmp(c->router, "default") == 0))
                        c->router = "pd";
                    if (bad) {
                        fprintf(stderr, "fleetsim plan: mode '%s': expected aggregated "
                                "or P:D (e.g. 1:2)\n", c->mode);
                        free(cs);
                        return -EINVAL;
                    }
                }
    *out = cs;
    *n = total;
    return 0;
}

/* --- output --- */

static json_t *cand_json(const cand *c)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:b}", "accelerator", c->accel, "tp", c->tp,
                          "mode", c->mode, "router", c->router ? c->router : "(scenario)",
                          "feasible", c->feasible);
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
    return o;
}

static int print_json(const plan_spec *ps, double rate, const cand *cs, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, cand_json(&cs[i]));
    json_t *o = json_pack("{s:s,s:s,s:f,s:o}", "name", ps->name, "scenario", ps->scenario,
                          "target_rate_rps", rate, "configurations", arr);
    int rc = o && json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) == 0;
    putchar('\n');
    json_decref(o);
    return rc ? 0 : -ENOMEM;
}

static void print_row(int rank, const cand *c)
{
    char repl[32];
    if (c->p)
        snprintf(repl, sizeof repl, "%d+%d", c->p * c->scale, c->d * c->scale);
    else
        snprintf(repl, sizeof repl, "%d", c->scale);
    printf("%4d %s %-12s %3d %-10s %-14s", rank, c->pareto ? "*" : " ", c->accel, c->tp,
           c->mode, c->router ? c->router : "(scenario)");
    if (!c->feasible) {
        printf(" no configuration meets the SLOs within %d %s\n", c->cap,
               c->p ? "scale steps" : "replicas");
        return;
    }
    printf(" %8s %6d %9.2f %9.4f %9.1f %8.2f", repl, c->accelerators, c->usd_h, c->usd_mtok,
           c->ttft_s * 1e3, c->tpot_s * 1e3);
    if (c->max_rate > 0)
        printf(" %9.2f %+8.0f%%", c->max_rate, c->headroom * 100);
    printf("%s\n", c->over_budget ? "  over budget" : "");
}

static void print_text(const plan_spec *ps, double rate, const cand *cs, int n)
{
    printf("plan %s: %s at %.4g req/s\n\n", ps->name, ps->scenario, rate);
    printf("%4s %s %-12s %3s %-10s %-14s %8s %6s %9s %9s %9s %8s %9s %9s\n", "rank", "P",
           "accelerator", "tp", "mode", "router", "replicas", "accels", "$/h", "$/M tok",
           "ttft ms", "tpot ms", "max req/s", "headroom");
    for (int i = 0; i < n; i++)
        print_row(i + 1, &cs[i]);
    printf("\nP: * on the cost-latency Pareto front (cost per hour against TTFT at the SLO "
           "percentile).\n");
}

/* --- the command --- */

/* The scenario's own arrival rate, for --growth. */
static int base_rate(const planner *pl, double *out)
{
    fs_scenario sc;
    if (fs_load_scenario_set("plan", pl->ps->scenario, (const char *const *)pl->ps->fixed,
                             pl->ps->nfixed, &pl->ro, &sc) != 0)
        return -1;
    int rc = sc.workload.kind == FT_SPEC_GENERATOR ? 0 : -1;
    *out = sc.workload.gen.arrival.rate;
    fs_scenario_free(&sc);
    if (rc != 0)
        fprintf(stderr, "fleetsim plan: --growth needs a generator workload with a rate\n");
    return rc;
}

typedef struct plan_cli {
    double rate, growth;
    bool json, check, no_max_rate;
} plan_cli;

static int plan(planner *pl, const plan_cli *cli)
{
    plan_spec *ps = pl->ps;
    /* the command line over the spec; a rate over a growth factor */
    double g = cli->growth > 0 ? cli->growth : ps->growth;
    pl->rate = cli->rate > 0 ? cli->rate : cli->growth > 0 ? 0 : ps->rate;
    if (pl->rate <= 0 && g > 0) {
        if (base_rate(pl, &pl->rate) != 0)
            return FS_EXIT_USAGE;
        pl->rate *= g;
    }
    if (pl->rate <= 0)
        return fprintf(stderr, "fleetsim plan: give a target `rate:` or `growth:`\n"),
               FS_EXIT_USAGE;
    cand *cs;
    int n, feasible = 0;
    if (make_cands(ps, &cs, &n) != 0)
        return FS_EXIT_USAGE;
    for (int i = 0; i < n; i++) {
        if (search(pl, &cs[i]) != 0)
            return free(cs), FS_EXIT_USAGE;
        feasible += cs[i].feasible && !cs[i].over_budget;
    }
    qsort(cs, (size_t)n, sizeof *cs, by_cost);
    mark_pareto(cs, n);
    if (cli->json)
        print_json(ps, pl->rate, cs, n);
    else
        print_text(ps, pl->rate, cs, n);
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
    if (c != 's' && c != 'c')
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
        {NULL, 0, NULL, 0},
    };
    plan_cli cli = {0};
    planner pl = {0};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == '?' || cli_opt(&cli, &pl.ro, c, optarg) != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc - 1)
        return usage(stderr), FS_EXIT_USAGE;
    plan_spec ps = {0};
    char *err = NULL;
    if (load_spec(argv[optind], &ps, &err) != 0) {
        fprintf(stderr, "fleetsim plan: %s\n", err ? err : "out of memory");
        free(err);
        spec_free(&ps);
        return FS_EXIT_USAGE;
    }
    pl.ps = &ps;
    pl.ro.no_db = true;
    pl.ro.quiet = true;
    pl.max_rate = !cli.no_max_rate;
    int rc = plan(&pl, &cli);
    spec_free(&ps);
    return rc;
}

const fs_cmd fs_cmd_plan = {"plan", "cheapest fleet meeting the SLOs per configuration", run};
