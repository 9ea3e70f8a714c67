/*
 * runcommon.c: loading, running, storing and printing shared by the simulating
 * subcommands.
 *
 * The run is watched by one observer that feeds the results writer (every finished
 * request, every per-replica sample) and the progress bar. Storing costs a few
 * percent of a run (see README, "Results"); --no-requests drops the per-request rows,
 * which are nearly all of it.
 */
#include "runcommon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fm_models.h"
#include "progress.h"
#include "results.h"

/* Store options: 0, 1 when `c` is not one of them, -1 after printing an error. */
static int store_opt(fs_run_opts *ro, int c, const char *arg, const char *cmd)
{
    switch (c) {
    case FS_OPT_DB: ro->db = arg; return 0;
    case FS_OPT_NO_DB: ro->no_db = true; return 0;
    case FS_OPT_NO_REQUESTS: ro->no_requests = true; return 0;
    case FS_OPT_QUIET: ro->quiet = true; return 0;
    case FS_OPT_NAME: ro->name = arg; return 0;
    case FS_OPT_TAG:
        if (ro->ntags == FS_RUN_MAX_TAGS || !*arg) {
            fprintf(stderr, "fleetsim %s: --tag expects a non-empty tag, at most %d\n",
                    cmd, FS_RUN_MAX_TAGS);
            return -1;
        }
        ro->tags[ro->ntags++] = arg;
        return 0;
    default: return 1;
    }
}

const char *fs_default_db(void)
{
    const char *env = getenv("FLEETSIM_DB");
    return env && *env ? env : "fleetsim.db";
}

int fs_run_opt(fs_run_opts *ro, int c, const char *arg, const char *cmd)
{
    char *end;
    unsigned long long v;
    int st = store_opt(ro, c, arg, cmd);
    if (st <= 0)
        return st;
    switch (c) {
    case 'c':
        ro->catalog = arg;
        return 0;
    case 's':
    case 'n':
        errno = 0;
        v = strtoull(arg, &end, 10);
        if (*arg == '-' || *end != '\0' || errno != 0 || (c == 'n' && v == 0)) {
            fprintf(stderr, "fleetsim %s: --%s expects a %s integer, got '%s'\n", cmd,
                    c == 's' ? "seed" : "requests", c == 's' ? "non-negative" : "positive", arg);
            return -1;
        }
        if (c == 's')
            ro->seed_set = true, ro->seed = v;
        else
            ro->requests = v;
        return 0;
    default:
        return -1;
    }
}

static void apply_overrides(fs_scenario *sc, const fs_run_opts *ro)
{
    if (ro->seed_set) {
        sc->seed = ro->seed;
        ft_spec_set_seed(&sc->workload, ro->seed);
    }
    if (ro->requests)
        ft_spec_set_requests(&sc->workload, ro->requests);
}

int fs_load_scenario(const char *cmd, const char *path, const fs_run_opts *ro,
                     fs_scenario *sc)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    const char *dir = ro->catalog ? ro->catalog : fm_default_catalog_dir();
    int rc = fm_catalog_load_dir(dir, &cat, &err);
    if (rc == 0)
        rc = fs_scenario_load(path, cat, sc, &err);
    fm_catalog_free(cat);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        return -1;
    }
    apply_overrides(sc, ro);
    return 0;
}

/* --- running with the store and the progress bar watching --- */

typedef struct watch {
    fs_results_run *w;       /* NULL = not stored */
    fs_progress *bar;        /* NULL = none */
} watch;

static void on_request(void *ctx, const fs_req_record *r)
{
    fs_results_run_request(((watch *)ctx)->w, r);
}

static void on_sample(void *ctx, const fs_replica_sample *s)
{
    fs_results_run_sample(((watch *)ctx)->w, s);
}

static void on_progress(void *ctx, fs_ns now, uint64_t completed, uint64_t in_flight)
{
    char detail[64];
    snprintf(detail, sizeof detail, "t=%.0f s, %" PRIu64 " in flight",
             (double)now / 1e9, in_flight);
    fs_progress_update(((watch *)ctx)->bar, completed, detail);
}

/* How many requests the workload will yield, when the spec says (0 = unknown). */
static uint64_t expected_requests(const fs_scenario *sc)
{
    const ft_spec *sp = &sc->workload;
    uint64_t n = sp->kind == FT_SPEC_GENERATOR ? sp->gen.max_requests
                                                : sp->trace.max_requests;
    if (sp->xf.limit && (n == 0 || sp->xf.limit < n))
        n = sp->xf.limit;
    return n;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Opens the database and begins the run; 0, or -1 after printing the error. */
static int store_begin(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                       fs_results **db, fs_results_run **w)
{
    char *err = NULL;
    fs_run_meta meta = {.name = ro->name, .tags = ro->tags, .ntags = ro->ntags,
                        .store_requests = !ro->no_requests, .sample_period_s = 1.0};
    int rc = fs_results_open(ro->db ? ro->db : fs_default_db(), true, db, &err);
    if (rc == 0)
        rc = fs_results_run_begin(*db, sc, &meta, w, &err);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        fs_results_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

/* What `fleetsim run` prints, for the database. NULL when out of memory. */
static char *summary_text(const fs_scenario *sc, const fs_run_result *res)
{
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fs_print_run_header(f, sc, &res->kv);
    fs_summary_print(f, &res->summary);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Writes the summary and marks the run complete; 0, or -1 after reporting a failure. */
static int store_finish(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                         fs_results *db, fs_results_run *w, const fs_run_result *res,
                         double wall)
{
    char *err = NULL, *text = summary_text(sc, res);
    json_t *result = fs_run_to_json(sc, res);
    int64_t id = fs_results_run_id(w);
    int rc = text && result ? fs_results_run_finish(w, text, result, wall, &err)
                            : (fs_results_run_abandon(w, "out of memory"), -ENOMEM);
    if (rc != 0)
        fprintf(stderr, "fleetsim %s: the run was simulated but not stored (left "
                "incomplete in %s): %s\n", cmd, fs_results_path(db),
                err ? err : strerror(-rc));
    else if (fs_progress_wanted(stderr, ro->quiet))
        fprintf(stderr, "fleetsim %s: stored as run %" PRId64 " in %s\n", cmd, id,
                fs_results_path(db));
    free(err);
    free(text);
    json_decref(result);
    return rc == 0 ? 0 : -1;
}

int fs_run_scenario(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                    fs_run_result *res, int64_t *run_id)
{
    fs_results *db = NULL;
    watch wt = {0};
    if (run_id)
        *run_id = 0;
    if (!ro->no_db && store_begin(cmd, sc, ro, &db, &wt.w) != 0)
        return -1;
    wt.bar = fs_progress_new(stderr, fs_progress_wanted(stderr, ro->quiet), "requests",
                             expected_requests(sc));
    fs_run_observer obs = {.ctx = &wt, .on_progress = wt.bar ? on_progress : NULL,
                           .on_request = wt.w ? on_request : NULL,
                           .on_sample = wt.w ? on_sample : NULL};
    char *err = NULL;
    double t0 = wall_s();
    int rc = fs_cluster_run_observed(sc, &obs, res, &err);
    double wall = wall_s() - t0;
    fs_progress_free(wt.bar);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        fs_results_run_abandon(wt.w, err ? err : strerror(-rc));
    } else if (wt.w) {
        if (run_id)
            *run_id = fs_results_run_id(wt.w);
        store_finish(cmd, sc, ro, db, wt.w, res, wall);
    }
    free(err);
    fs_results_close(db);
    return rc == 0 ? 0 : -1;
}

int fs_store_measured(const char *cmd, const fs_scenario *sc, const fs_run_opts *ro,
                      const fs_req_record *recs, size_t n, const fs_run_result *res,
                      double wall, int64_t *run_id)
{
    fs_results *db = NULL;
    fs_results_run *w = NULL;
    if (run_id)
        *run_id = 0;
    if (store_begin(cmd, sc, ro, &db, &w) != 0)
        return -1;
    if (run_id)
        *run_id = fs_results_run_id(w);
    for (size_t i = 0; i < n; i++)
        fs_results_run_request(w, &recs[i]);
    int rc = store_finish(cmd, sc, ro, db, w, res, wall);
    fs_results_close(db);
    return rc;
}

int fs_load_and_run(const char *cmd, const char *path, const fs_run_opts *ro,
                    fs_scenario *sc, fs_run_result *res)
{
    if (fs_load_scenario(cmd, path, ro, sc) != 0)
        return -1;
    if (fs_run_scenario(cmd, sc, ro, res, NULL) != 0) {
        fs_scenario_free(sc);
        return -1;
    }
    return 0;
}

/* 1234567 -> "1,234,567", as vLLM prints token counts. */
static const char *thousands(int64_t v, char buf[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRId64, v), o = 0;
    for (int i = 0; i < n; i++) {
        buf[o++] = digits[i];
        if (digits[i] != '-' && (n - i - 1) % 3 == 0 && i != n - 1)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* "node 3" or "nodes 3-5". */
static void print_range(FILE *f, const char *what, int lo, int hi)
{
    if (lo == hi)
        fprintf(f, "%s %d", what, lo);
    else
        fprintf(f, "%ss %d-%d", what, lo, hi);
}

/*
 * Where each pool's replicas sit, when the scenario groups nodes into racks: node and
 * rack ranges per pool, and the spine's oversubscription.
 */
static void print_placement(FILE *f, const fs_scenario *sc)
{
    int n = 0;
    for (int i = 0; i < sc->npools; i++)
        n += sc->pools[i].replicas;
    fs_placement *at = calloc((size_t)n, sizeof *at);
    if (!at)
        return;
    int nodes = fs_cluster_place(sc, at), per = sc->topology.nodes_per_rack;
    fprintf(f, "placement    %d node%s in %d rack%s of %d, spine 1:%g, +%.1f us across racks\n",
            nodes, nodes == 1 ? "" : "s", (nodes + per - 1) / per,
            (nodes + per - 1) / per == 1 ? "" : "s", per, sc->topology.oversubscription,
            sc->topology.cross_rack_latency_ns / 1e3);
    for (int i = 0, k = 0; i < sc->npools; k += sc->pools[i].replicas, i++) {
        const fs_placement *a = &at[k], *b = &at[k + sc->pools[i].replicas - 1];
        fprintf(f, "  %-10s ", sc->pools[i].name);
        print_range(f, "node", a->node, b->node);
        fputs(", ", f);
        print_range(f, "rack", a->rack, b->rack);
        fputc('\n', f);
    }
    free(at);
}

/* One line per pool of a multi-pool fleet. */
static void print_pools(FILE *f, const fs_scenario *sc)
{
    char a[32];
    fprintf(f, "fleet        %d pools of %s, router %s\n", sc->npools, sc->llm.name,
            sc->router.config_path[0] ? sc->router.config_path : sc->router.policy);
    for (int i = 0; i < sc->npools; i++) {
        const fs_pool *p = &sc->pools[i];
        fm_kv_sizing kv = {0};
        fs_cluster_size_pool_kv(sc, i, &kv, NULL);
        fprintf(f, "  %-10s %3d x %-12s tp %d, role %-7s kv %s tokens per replica\n", p->name,
                p->replicas * p->tp, p->accel.name, p->tp, fs_role_name(p->role),
                thousands(kv.num_tokens, a));
    }
    if (sc->topology.nodes_per_rack > 0)
        print_placement(f, sc);
    fputc('\n', f);
}

void fs_print_run_header(FILE *f, const fs_scenario *sc, const fm_kv_sizing *kv)
{
    char a[32], b[32], c[32];
    fprintf(f, "scenario     %s (seed %" PRIu64 ")\n", sc->name, sc->seed);
    if (sc->npools > 1) {
        print_pools(f, sc);
        return;
    }
    fprintf(f, "fleet        %d x %s, tp %d, %d replica%s of %s; latency model %s\n",
            sc->replicas * sc->tp, sc->accel.name, sc->tp, sc->replicas,
            sc->replicas == 1 ? "" : "s", sc->llm.name, sc->latency_model);
    fprintf(f, "kv cache     %.2f GiB per shard: %s tokens (%s blocks of %d)\n",
            kv->kv_bytes / (1024.0 * 1024 * 1024), thousands(kv->num_tokens, a),
            thousands(kv->num_blocks, b), sc->engine.block_size);
    int64_t per_req = (sc->engine.max_model_len + sc->engine.block_size - 1) /
                      sc->engine.block_size;
    fprintf(f, "             maximum concurrency for %s tokens per request: %.2fx\n\n",
            thousands(sc->engine.max_model_len, c), per_req ? (double)kv->num_blocks / per_req : 0.0);
}

static json_t *scenario_json(const fs_scenario *sc)
{
    const char *file = strrchr(sc->path, '/') ? strrchr(sc->path, '/') + 1 : sc->path;
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:s}", "name", sc->name, "file",
                     file, "seed", (json_int_t)sc->seed, "model", sc->llm.name,
                     "accelerator", sc->accel.name, "tp", sc->tp, "replicas", sc->replicas,
                     "latency_model", sc->latency_model);
}

static json_t *kv_json(const fs_scenario *sc, const fm_kv_sizing *kv)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:i}", "requested_bytes",
                     kv->requested_bytes, "weight_bytes", kv->weight_bytes,
                     "activation_bytes", kv->activation_bytes, "kv_bytes", kv->kv_bytes,
                     "num_blocks", (json_int_t)kv->num_blocks, "num_tokens",
                     (json_int_t)kv->num_tokens, "block_size", sc->engine.block_size);
}

json_t *fs_run_to_json(const fs_scenario *sc, const fs_run_result *res)
{
    return json_pack("{s:o, s:o, s:o}", "scenario", scenario_json(sc), "kv_cache",
                     kv_json(sc, &res->kv), "summary", fs_summary_to_json(&res->summary));
}
