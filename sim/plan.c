/*
 * plan.c: the capacity planner's search (see plan.h): spec loading, candidates, the
 * bisection on replica counts and on rates, ranking and the Pareto front.
 *
 * Meeting the SLOs is taken as monotone in the replica count (more replicas never
 * hurt; true of every built-in router on a fixed seed up to noise), so the smallest
 * count is found by doubling then bisection: O(log max_replicas) runs instead of a full
 * grid (rejected: a grid over replica counts, which costs max_replicas runs per
 * candidate). A P/D ratio p:d scales both pools by k = 1, 2, ... and the search is over
 * k. The highest sustainable rate at the chosen count is found the same way on the rate
 * (doubling from the target, then bisection to 2 %).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "fu_yaml.h"
#include "overrides.h"
#include "plan.h"

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

static int tp_list(fs_plan_spec *ps, fu_ynode n, char **err)
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

static int avail_map(fs_plan_spec *ps, fu_ynode n, char **err)
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
    static const char *const keys[] = {"name", "description", "scenario", "trace", "rate",
                                       "growth", "requests", "attainment", "set",
                                       "accelerators", "tp", "modes", "routers",
                                       "max_replicas", "budget", "available", NULL};
    for (size_t i = 0; i < fu_ynode_len(root); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(root, i));
        bool ok = false;
        for (int j = 0; keys[j]; j++)
            ok |= k && strcmp(k, keys[j]) == 0;
        if (!ok)
            return fail(err, fu_ynode_errf(fu_ymap_key(root, i), "unknown key '%s'; "
                        "expected name, scenario, trace, rate, growth, requests, "
                        "attainment, set, accelerators, tp, modes, routers, "
                        "max_replicas, budget, available", k ? k : ""));
    }
    return 0;
}

static int load_fixed(fs_plan_spec *ps, fu_ynode set, char **err)
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

static int load_lists(fs_plan_spec *ps, fu_ynode root, char **err)
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

/* Resolves `path` against `dir` (NULL: the working directory) into out, absolute, so
 * that the scenario loader (which resolves against the scenario's directory) finds the
 * same file; -errno when it cannot be resolved or read. */
static int trace_path(const char *dir, const char *path, char out[PATH_MAX])
{
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s%s%s", dir && path[0] != '/' ? dir : "",
                 dir && path[0] != '/' ? "/" : "", path) >= (int)sizeof joined)
        return -ENAMETOOLONG;
    struct stat st;
    if (!realpath(joined, out) || stat(out, &st) != 0 || access(out, R_OK) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? -EISDIR : 0;
}

int fs_plan_set_trace(fs_plan_spec *ps, const char *path, char **err)
{
    char abs[PATH_MAX];
    int rc = trace_path(NULL, path, abs);
    if (rc != 0)
        return fail(err, fu_asprintf("trace '%s': %s (expected a readable trace file: "
                                     "Azure, BurstGPT, Mooncake or fleetsim CSV)", path,
                                     strerror(-rc)));
    memcpy(ps->trace, abs, sizeof abs);
    snprintf(ps->trace_shown, sizeof ps->trace_shown, "%s", path);
    return 0;
}

/* trace: PATH, relative to the spec's directory `dir`. */
static int load_trace(fs_plan_spec *ps, fu_ynode root, const char *dir, char **err)
{
    fu_ynode n = fu_ymap_get(root, "trace");
    if (!fu_ynode_ok(n))
        return 0;
    const char *t = fu_ynode_str(n);
    if (!t || !t[0])
        return fail(err, fu_ynode_errf(n, "expected the path of a trace file"));
    int rc = trace_path(dir, t, ps->trace);
    if (rc != 0)
        return fail(err, fu_ynode_errf(n, "trace '%s': %s (expected a readable trace "
                                       "file, relative to the spec)", t, strerror(-rc)));
    snprintf(ps->trace_shown, sizeof ps->trace_shown, "%s%s%s", t[0] == '/' ? "" : dir,
             t[0] == '/' ? "" : "/", t);
    return 0;
}

static int load_numbers(fs_plan_spec *ps, fu_ynode root, char **err)
{
    int rc = num_key(root, "rate", 1e-6, 1e9, &ps->rate, err);
    if (rc == 0)
        rc = num_key(root, "growth", 1e-6, 1e6, &ps->growth, err);
    if (rc == 0 && ps->rate > 0 && ps->growth > 0)
        return fail(err, fu_ynode_errf(fu_ymap_get(root, "growth"), "give rate: (requests/s) "
                                       "or growth: (times the workload's rate), not both"));
    if (rc == 0)
        rc = num_key(root, "requests", 1, 1e12, &ps->requests, err);
    if (rc == 0)
        rc = num_key(root, "attainment", 0, 1, &ps->attainment, err);
    if (rc == 0)
        rc = num_key(root, "budget", 0, 1e12, &ps->budget, err);
    return rc;
}

int fs_plan_spec_load(const char *path, fs_plan_spec *ps, char **err)
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
    snprintf(dir, sizeof dir, "%s", path);
    rc = load_trace(ps, root, dirname(dir), err);
    if (rc == 0)
        rc = load_numbers(ps, root, err);
    if (rc == 0)
        rc = load_fixed(ps, fu_ymap_get(root, "set"), err);
    if (rc == 0)
        rc = avail_map(ps, fu_ymap_get(root, "available"), err);
    return rc == 0 ? load_lists(ps, root, err) : rc;
}

void fs_plan_spec_free(fs_plan_spec *ps)
{
    for (int i = 0; i < ps->nfixed; i++)
        free(ps->fixed[i]);
    fu_yaml_free(ps->doc);
}

/* --- running one configuration --- */

/* Room for the overrides of one run: the trace, the fixed ones, a candidate's. */
#define MAX_SETS (MAX_FIXED + 9)

/* `s` as a YAML single-quoted scalar (quotes doubled), malloc'd. */
static char *yaml_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 2 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = s; *p; p++)
        if ((*o++ = *p) == '\'')
            *o++ = '\'';
    *o++ = '\'';
    *o = '\0';
    return q;
}

/* The overrides every run of the spec has: its trace (first, so that `set:` can refine
 * it: workload.trace.format, workload.transforms.window) and its fixed ones. */
static int base_sets(const fs_plan_spec *ps, char **sets)
{
    int n = 0;
    if (ps->trace[0]) {
        char *q = yaml_quote(ps->trace);
        sets[n++] = q ? fu_asprintf("workload={trace: {path: %s}}", q) : NULL;
        free(q);
    }
    for (int i = 0; i < ps->nfixed; i++)
        sets[n++] = strdup(ps->fixed[i]);
    return n;
}

/* The override that sets the workload's rate to `rate`: a generator's arrival rate, or
 * a trace's speed factor (its rate: transform, when it has one, scaled the same way;
 * the loader takes one of speed: and rate:). The factor is exact: arrival times are
 * divided by it, so requests / span scales by it. */
static char *rate_set(const fs_planner *pl, double rate)
{
    const fs_plan_workload *w = &pl->wl;
    if (!w->trace)
        return fu_asprintf("workload.arrival.rate=%.17g", rate);
    double g = rate / w->base_rate;
    if (w->xrate > 0)
        return fu_asprintf("workload.transforms.rate=%.17g", w->xrate * g);
    return fu_asprintf("workload.transforms.speed=%.17g", w->speed * g);
}

/* The overrides of candidate c at `scale` and `rate`, into sets (strings malloc'd). */
static int cand_sets(const fs_planner *pl, const fs_plan_cand *c, int scale, double rate, char **sets)
{
    int n = base_sets(pl->ps, sets);
    sets[n++] = fu_asprintf("accelerator=%s", c->accel);
    sets[n++] = fu_asprintf("tp=%d", c->tp);
    sets[n++] = rate_set(pl, rate);
    /* the whole router: mapping, so that a policy replaces a scenario's config: and
     * the other way round (the loader takes one of them) */
    size_t rl = c->router ? strlen(c->router) : 0;
    if (rl > 5 && strcmp(c->router + rl - 5, ".yaml") == 0)
        sets[n++] = fu_asprintf("router={config: '%s'}", c->router);
    else if (c->router)
        sets[n++] = fu_asprintf("router={policy: '%s'}", c->router);
    if (c->p == 0)
        sets[n++] = fu_asprintf("replicas=%d", scale);
    else
        sets[n++] = fu_asprintf("pools=[{name: prefill, role: prefill, replicas: %d}, "
                                "{name: decode, role: decode, replicas: %d}]",
                                c->p * scale, c->d * scale);
    return n;
}

/* Runs c at scale and rate; 1 meets, 0 misses, -1 bad input (reported), -2 the fleet
 * cannot run the model (c->why says why). */
static int try_run(const fs_planner *pl, fs_plan_cand *c, int scale, double rate, fs_summary *out)
{
    char *sets[MAX_SETS];
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
        } else {    /* the fleet cannot run it (weights do not fit): infeasible */
            snprintf(c->why, sizeof c->why, "%s", err ? err : "simulation failed");
            rc = -2;
        }
        fs_scenario_free(&sc);
    }
    for (int i = 0; i < n; i++)
        free(sets[i]);
    free(err);
    return rc;
}

/* Smallest scale in [1, cap] that meets at the target rate; 0 none, -1 error. */
static int min_scale(const fs_planner *pl, fs_plan_cand *c, fs_summary *best)
{
    fs_summary s;
    int lo = 0, hi = 1, r;
    while ((r = try_run(pl, c, hi, pl->rate, &s)) == 0 && hi < c->cap)
        lo = hi, hi = hi * 2 > c->cap ? c->cap : hi * 2;
    if (r <= 0)
        return r == -2 ? 0 : r;
    *best = s;
    while (hi - lo > 1) {   /* lo misses (or is 0), hi meets */
        int mid = lo + (hi - lo) / 2;
        if ((r = try_run(pl, c, mid, pl->rate, &s)) < 0)
            return r == -2 ? 0 : -1;
        if (r)
            hi = mid, *best = s;
        else
            lo = mid;
    }
    return hi;
}

/* Highest rate the chosen scale sustains, within 2 % (doubling, then bisection). */
static double max_rate(const fs_planner *pl, fs_plan_cand *c)
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

static int avail_for(const fs_plan_spec *ps, const char *accel)
{
    for (int i = 0; i < ps->navail; i++)
        if (strcmp(ps->avail_name[i], accel) == 0)
            return ps->avail_n[i];
    return -1;
}

/* The search for one candidate; -1 when a run failed (bad input). */
int fs_plan_search(const fs_planner *pl, fs_plan_cand *c)
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
        c->max_growth = pl->wl.base_rate > 0 ? c->max_rate / pl->wl.base_rate : 0;
    }
    return 0;
}

/* --- candidates, ranking, the Pareto front --- */

static int parse_mode(const char *m, fs_plan_cand *c)
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
    const fs_plan_cand *x = a, *y = b;
    if (x->feasible != y->feasible || x->over_budget != y->over_budget)
        return x->feasible != y->feasible ? (x->feasible ? -1 : 1) : (x->over_budget ? 1 : -1);
    if (x->usd_h != y->usd_h)
        return x->usd_h < y->usd_h ? -1 : 1;
    return x->usd_mtok < y->usd_mtok ? -1 : x->usd_mtok > y->usd_mtok;
}

/* Feasible within budget and not dominated in (cost per hour, TTFT at the percentile). */
static void mark_pareto(fs_plan_cand *cs, int n)
{
    for (int i = 0; i < n; i++) {
        cs[i].pareto = cs[i].feasible && !cs[i].over_budget;
        for (int j = 0; cs[i].pareto && j < n; j++) {
            const fs_plan_cand *o = &cs[j];
            if (j != i && o->feasible && !o->over_budget && o->usd_h <= cs[i].usd_h &&
                o->ttft_s <= cs[i].ttft_s && (o->usd_h < cs[i].usd_h || o->ttft_s < cs[i].ttft_s))
                cs[i].pareto = false;
        }
    }
}

int fs_plan_make_cands(const fs_plan_spec *ps, fs_plan_cand **out, int *n)
{
    int total = ps->naccels * ps->ntps * ps->nmodes * ps->nrouters, k = 0;
    fs_plan_cand *cs = calloc((size_t)total, sizeof *cs);
    if (!cs)
        return -ENOMEM;
    for (int a = 0; a < ps->naccels; a++)
        for (int t = 0; t < ps->ntps; t++)
            for (int m = 0; m < ps->nmodes; m++)
                for (int r = 0; r < ps->nrouters; r++) {
                    fs_plan_cand *c = &cs[k++];
                    *c = (fs_plan_cand){.accel = ps->accels[a], .tp = ps->tps[t],
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

void fs_plan_rank(fs_plan_cand *cs, int n)
{
    qsort(cs, (size_t)n, sizeof *cs, by_cost);
    mark_pareto(cs, n);
}

/* --- the workload and the target --- */

/* With a trace replacing the workload, `set:` may refine it (workload.trace.*,
 * workload.transforms.*) but not set a generator's fields, which the loader would
 * reject at a position in the re-emitted text rather than in the spec. */
static int check_trace_sets(const fs_plan_spec *ps, const char *cmd)
{
    for (int i = 0; ps->trace[0] && i < ps->nfixed; i++) {
        const char *f = ps->fixed[i];
        if (strncmp(f, "workload", 8) != 0 || (f[8] != '.' && f[8] != '=') ||
            strncmp(f, "workload.trace.", 15) == 0 || strncmp(f, "workload.transforms.", 20) == 0)
            continue;
        fprintf(stderr, "fleetsim %s: set: %.*s: the trace replaces the scenario's workload; "
                "only workload.trace.* and workload.transforms.* apply to it (requests per "
                "run: `requests:` or --requests)\n", cmd, (int)strcspn(f, "="), f);
        return -1;
    }
    return 0;
}

/* Requests / span of the source as a run replays it (ft_stats' mean rate). */
static int trace_rate(const fs_scenario *sc, double *out, char **err)
{
    ft_source *src = NULL;
    ft_stats st;
    ft_stats_opts o = {.prefix = 0};
    int rc = fs_scenario_open_workload(sc, &src, err);
    if (rc == 0)
        rc = ft_stats_compute(src, &o, &st, err);
    ft_source_free(src);
    if (rc == 0 && !(st.rows >= 2 && st.span_s > 0))
        return fail(err, fu_asprintf("%s: %llu request%s over %.3g s as replayed: expected "
                                     "at least 2 over a time span, to scale its rate",
                                     sc->workload.trace.path, (unsigned long long)st.rows,
                                     st.rows == 1 ? "" : "s", st.span_s));
    *out = st.mean_rate;
    return rc;
}

int fs_plan_workload_load(fs_planner *pl, const char *cmd)
{
    char *sets[MAX_SETS], *err = NULL;
    int n = base_sets(pl->ps, sets), rc = 0;
    fs_scenario sc;
    if (check_trace_sets(pl->ps, cmd) != 0 ||
        fs_load_scenario_set(cmd, pl->ps->scenario, (const char *const *)sets, n, &pl->ro, &sc))
        rc = -1;
    for (int i = 0; i < n; i++)
        free(sets[i]);
    if (rc != 0)
        return rc;
    fs_plan_workload *w = &pl->wl;
    *w = (fs_plan_workload){.trace = sc.workload.kind == FT_SPEC_TRACE, .speed = 1};
    if (!w->trace) {
        w->base_rate = sc.workload.gen.arrival.rate;
    } else {
        w->speed = sc.workload.xf.speed > 0 ? sc.workload.xf.speed : 1;
        w->xrate = sc.workload.xf.target_rate;
        if (trace_rate(&sc, &w->base_rate, &err) != 0) {
            fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : "out of memory");
            rc = -1;
        }
    }
    free(err);
    fs_scenario_free(&sc);
    return rc;
}

int fs_plan_target(fs_planner *pl, double rate, double growth, const char *cmd)
{
    if (rate > 0)
        return pl->rate = rate, 0;
    if (pl->wl.base_rate > 0 && growth > 0)
        return pl->rate = pl->wl.base_rate * growth, 0;
    if (growth > 0)
        fprintf(stderr, "fleetsim %s: a growth factor needs a workload with a rate: a trace, "
                "or a generator whose arrivals have `rate:`; give a rate instead\n", cmd);
    else
        fprintf(stderr, "fleetsim %s: give a target `rate:` (requests/s) or `growth:` "
                "(times the workload's rate)\n", cmd);
    return -1;
}
