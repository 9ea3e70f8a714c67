/*
 * cmd_validate.c: `fleetsim validate`: runs the validation suite (the YAML files of
 * tests/validation by default) and prints, per case, measured against predicted at sample points and
 * the error per metric (MAPE, median and worst absolute percentage error), then one
 * summary table; exits 1 when a metric's MAPE exceeds the tolerance its case records.
 *
 * A case names measured data (../shared/data or a file the project wrote), the
 * replica (accelerator, model, TP), the latency model and its fit file, and which rows
 * to check (by default the rows calibration held back). Kinds:
 *   vidur-mlp    per-layer time of the linear layers against vidur's operator profiles
 *                (metric layer_time); the latency model's own linear part: the fitted
 *                entry's, the profile table's, or the roofline's
 *   collective   all-reduce and send/recv times against vidur's network profiles
 *   distserve    step time against DistServe's coefficients on synthetic batches
 *   steps        step time against the project's step-time CSV
 *   requests     TTFT, TPOT (per request) and output throughput of a replay of
 *                per-request benchmark timings through the engine
 * A case whose data file is absent is reported as skipped, not failed, so the suite
 * runs where ../shared/data is not checked out.
 *
 * Workload: a handful of cases of at most thousands of rows; a requests case replays
 * its benchmark once.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "fm_fit.h"
#include "fm_latency.h"
#include "fu_yaml.h"
#include "replayfit.h"

#define MAX_METRICS 6
#define MAX_POINTS 8

/* --- a case --- */

typedef struct tolerance {
    char metric[24];
    double pct;
} tolerance;

typedef struct vcase {
    char path[PATH_MAX];
    char name[64], kind[24], data[PATH_MAX], accel[FM_NAME_MAX], model[FM_NAME_MAX];
    char latency_model[32], latency_params[PATH_MAX], rows[16], notes[512];
    int tp;
    int64_t batches, seed;
    fs_server_opts server;
    tolerance tol[MAX_METRICS];
    int ntol;
} vcase;

/* Errors of one metric, and the sample points shown. */
typedef struct metric {
    char name[24];
    double *pct;
    size_t n, cap;
} metric;

typedef struct point {
    char label[48], metric[24];
    double measured, predicted, unit_scale;
    const char *unit;
} point;

typedef struct result {
    const vcase *c;
    metric m[MAX_METRICS];
    int nm;
    point p[MAX_POINTS];
    int np;
    bool skipped;
    char why[PATH_MAX + 64];
} result;

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fleetsim validate: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return FS_EXIT_USAGE;
}

static int add_error(result *r, const char *name, double measured, double predicted)
{
    int i = 0;
    while (i < r->nm && strcmp(r->m[i].name, name) != 0)
        i++;
    if (i == MAX_METRICS)
        return -ENOMEM;
    metric *m = &r->m[i];
    if (i == r->nm) {
        snprintf(m->name, sizeof m->name, "%s", name);
        r->nm++;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 64;
        double *p = realloc(m->pct, nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        m->pct = p;
        m->cap = nc;
    }
    m->pct[m->n++] = 100 * (predicted / measured - 1);
    return 0;
}

static void add_point(result *r, const char *label, const char *metric_name, double measured,
                      double predicted, const char *unit, double scale)
{
    if (r->np == MAX_POINTS)
        return;
    point *p = &r->p[r->np++];
    *p = (point){.measured = measured, .predicted = predicted, .unit = unit,
                 .unit_scale = scale};
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->metric, sizeof p->metric, "%s", metric_name);
}

static void result_free(result *r)
{
    for (int i = 0; i < r->nm; i++)
        free(r->m[i].pct);
}

/* Every k-th of n evaluated rows is a sample point: about MAX_POINTS spread evenly. */
static bool sample(size_t i, size_t n) { return n <= MAX_POINTS || i % (n / 6 + 1) == 0; }

/* --- loading a case --- */

#define C(f) offsetof(vcase, f)
#define SV(f) offsetof(vcase, server.f)

static int load_tolerance(vcase *c, fu_ynode n, char **err)
{
    if (!fu_ynode_is_map(n) || fu_ynode_len(n) > MAX_METRICS) {
        *err = fu_ynode_errf(n, "expected tolerance: {metric: percent, ...} (at most %d)",
                             MAX_METRICS);
        return -EINVAL;
    }
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(n, i));
        int rc = fu_ynode_double(fu_ymap_val(n, i), 0, 1e6, &c->tol[i].pct, err);
        if (rc)
            return rc;
        snprintf(c->tol[i].metric, sizeof c->tol[i].metric, "%s", k ? k : "");
    }
    c->ntol = (int)fu_ynode_len(n);
    return 0;
}

static int load_server(vcase *c, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"max_num_seqs", FU_Y_INT, SV(max_num_seqs), 0, 1, 1e6, 0, ""},
        {"max_num_batched_tokens", FU_Y_INT, SV(max_num_batched_tokens), 0, 1, 1e8, 0, ""},
        {"block_size", FU_Y_INT, SV(block_size), 0, 1, 1024, 0, ""},
        {"max_model_len", FU_Y_INT, SV(max_model_len), 0, 1, 1e8, 0, ""},
        {"num_gpu_blocks", FU_Y_INT64, SV(num_gpu_blocks), 0, 1, 1e12, 0, ""},
        {"gpu_memory_utilization", FU_Y_DOUBLE, SV(gpu_memory_utilization), 0, 0.01, 1, 0, ""},
        {"no_chunked_prefill", FU_Y_BOOL, SV(no_chunked_prefill), 0, 0, 0, 0, ""},
        {NULL},
    };
    return fu_yaml_apply(n, "server", fields, NULL, c, err);
}

/* Resolves a path of the case file against its directory, in place. */
static void resolve(const vcase *c, char *p)
{
    if (!p[0] || p[0] == '/')
        return;
    char dir[PATH_MAX], out[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s", c->path);
    int n = snprintf(out, sizeof out, "%s/%s", dirname(dir), p);
    if (n > 0 && n < PATH_MAX) /* a longer path stays as given and fails to open */
        memcpy(p, out, (size_t)n + 1);
}

static int check_case(vcase *c, fu_ynode root, char **err)
{
    static const char *const kinds[] = {"vidur-mlp", "collective", "distserve", "steps",
                                        "requests", NULL};
    bool ok = false;
    for (size_t i = 0; kinds[i]; i++)
        ok |= strcmp(c->kind, kinds[i]) == 0;
    if (!ok || !c->data[0])
        *err = fu_ynode_errf(root, ok ? "a case needs data: (a file)"
                                      : "expected kind: vidur-mlp, collective, distserve, "
                                        "steps or requests");
    else if (strcmp(c->rows, "held-out") && strcmp(c->rows, "all"))
        *err = fu_ynode_errf(fu_ymap_get(root, "rows"), "expected rows: held-out or all");
    else if (!fm_latency_find(c->latency_model))
        *err = fu_ynode_errf(fu_ymap_get(root, "latency_model"),
                             "unknown latency model '%s' (known: roofline, fitted, profile)",
                             c->latency_model);
    else
        return 0;
    return -EINVAL;
}

static int load_case(const char *path, vcase *c, char **err)
{
    static const fu_yfield fields[] = {
        {"name", FU_Y_STR, C(name), 64, 0, 0, 0, "case name"},
        {"kind", FU_Y_STR, C(kind), 24, 0, 0, 0, "what is compared"},
        {"data", FU_Y_STR, C(data), PATH_MAX, 0, 0, 0, "measured data file"},
        {"accelerator", FU_Y_STR, C(accel), FM_NAME_MAX, 0, 0, 0, ""},
        {"model", FU_Y_STR, C(model), FM_NAME_MAX, 0, 0, 0, ""},
        {"tp", FU_Y_INT, C(tp), 0, 0, 1024, 0, "TP degree (0 = every one in the data)"},
        {"latency_model", FU_Y_STR, C(latency_model), 32, 0, 0, 0, ""},
        {"latency_params", FU_Y_STR, C(latency_params), PATH_MAX, 0, 0, 0, "fit file"},
        {"rows", FU_Y_STR, C(rows), 16, 0, 0, 0, "held-out or all"},
        {"batches", FU_Y_INT64, C(batches), 0, 10, 1e7, 0, "synthetic batches (distserve)"},
        {"seed", FU_Y_INT64, C(seed), 0, 0, 9e18, 0, "of the synthetic batches"},
        {"notes", FU_Y_STR, C(notes), 512, 0, 0, 0, "what the case shows"},
        {NULL},
    };
    static const char *const skip[] = {"tolerance", "server", NULL};
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    snprintf(c->latency_model, sizeof c->latency_model, "fitted");
    snprintf(c->rows, sizeof c->rows, "held-out");
    c->batches = 1000;
    c->seed = 1;
    fu_yaml *doc;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc)
        return rc;
    fu_ynode root = fu_yaml_root(doc), v;
    rc = fu_yaml_apply(root, "case", fields, skip, c, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "tolerance")))
        rc = load_tolerance(c, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "server")))
        rc = load_server(c, v, err);
    if (rc == 0)
        rc = check_case(c, root, err);
    fu_yaml_free(doc);
    if (!c->name[0]) {
        const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        snprintf(c->name, sizeof c->name, "%.*s", (int)strcspn(b, "."), b);
    }
    resolve(c, c->data);
    resolve(c, c->latency_params);
    return rc;
}

/* --- the kinds --- */

typedef struct env {
    const fm_catalog *cat;
} env;

static int need_replica(const env *e, const vcase *c, const fm_accel **a, const fm_llm **m,
                        char **err)
{
    *a = fm_catalog_accel(e->cat, c->accel);
    *m = c->model[0] ? fm_catalog_llm(e->cat, c->model) : NULL;
    if (*a && (*m || !c->model[0]))
        return 0;
    *err = fu_asprintf("%s: unknown %s '%s'", c->path, *a ? "model" : "accelerator",
                       *a ? c->model : c->accel);
    return -EINVAL;
}

static bool use_row(const vcase *c, size_t index_in_group)
{
    return strcmp(c->rows, "all") == 0 || fm_fit_held_out(index_in_group);
}

/* The per-layer linear time of `tokens` under the case's model: a closure over one TP. */
typedef struct layer_pred {
    fm_scaled_ctx *ctx;
    fm_scaled_coef k;
    fm_fits *fits;              /* owns the profile entry */
    const fm_fit_entry *profile;
} layer_pred;

static int layer_pred_new(const vcase *c, const fm_accel *a, const fm_llm *m, int tp,
                          layer_pred *p, char **err)
{
    memset(p, 0, sizeof *p);
    int rc = fm_scaled_ctx_new(a, m, tp, NULL, &p->ctx, err);
    const fm_fit_entry *e = NULL;
    bool prof = strcmp(c->latency_model, "profile") == 0;
    if (rc == 0 && strcmp(c->latency_model, "roofline") == 0)
        fm_scaled_roofline_coef(p->ctx, a, &p->k);
    else if (rc == 0)
        rc = fm_fits_lookup(c->latency_params, 1u << (prof ? FM_FORM_PROFILE : FM_FORM_SCALED),
                            c->latency_model, a, m, tp, &p->fits, &e, err);
    if (rc == 0 && e && prof)
        p->profile = e;
    else if (rc == 0 && e)
        p->k = e->scaled;
    p->k.step_s = p->k.seq_s = 0; /* per layer: no per-step or per-sequence cost */
    return rc;
}

static double layer_pred_eval(const layer_pred *p, double tokens)
{
    if (p->profile)
        return fm_profile_interp(p->profile, tokens);
    fm_step_terms t;
    fm_scaled_layer_terms(p->ctx, tokens, &t);
    return fm_scaled_eval(&p->k, &t, NULL);
}

static void layer_pred_free(layer_pred *p)
{
    fm_scaled_ctx_free(p->ctx);
    fm_fits_free(p->fits);
}

static int run_vidur_tp(const vcase *c, const fm_mlp_row *rows, size_t n, int tp,
                        const fm_accel *a, const fm_llm *m, result *r, char **err)
{
    layer_pred p;
    int rc = layer_pred_new(c, a, m, tp, &p, err);
    size_t k = 0, used = 0, total = 0;
    for (size_t i = 0; i < n; i++) /* two sample points per TP: the first and the middle row */
        total += rows[i].tp == tp && use_row(c, k++);
    k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rows[i].tp != tp || !use_row(c, k++))
            continue;
        double pred = layer_pred_eval(&p, rows[i].tokens);
        rc = add_error(r, "layer_time", rows[i].layer_s, pred);
        char label[48];
        snprintf(label, sizeof label, "tp%d tokens=%u", tp, rows[i].tokens);
        if (used == 0 || used == total / 2)
            add_point(r, label, "layer_time", rows[i].layer_s, pred, "ms", 1e3);
        used++;
    }
    layer_pred_free(&p);
    return rc;
}

static int run_vidur(const env *e, const vcase *c, result *r, char **err)
{
    const fm_accel *a;
    const fm_llm *m;
    fm_mlp_row *rows;
    size_t n;
    fm_vidur_shape shape;
    int rc = need_replica(e, c, &a, &m, err);
    if (rc || (rc = fm_vidur_mlp_read(c->data, &rows, &n, &shape, err)))
        return rc;
    if (!m || (rc = fm_vidur_shape_check(&shape, m, c->data, err)) == 0)
        for (int tp = 1; rc == 0 && tp <= 1024; tp *= 2) {
            bool present = false;
            for (size_t i = 0; i < n && !present; i++)
                present = rows[i].tp == tp;
            if (present && (c->tp == 0 || c->tp == tp))
                rc = run_vidur_tp(c, rows, n, tp, a, m, r, err);
        }
    free(rows);
    return rc;
}

/* The index of a row within its (kind, workers, devices per node) group, as in calibration. */
typedef struct groups {
    int key[64][3];
    size_t count[64], n;
    unsigned shown[64];         /* bit 0: a 1 MiB+ point shown, bit 1: a 32 MiB+ one */
} groups;

static size_t group_index(groups *g, const fm_coll_row *w, size_t *which)
{
    size_t i = 0;
    while (i < g->n && !(g->key[i][0] == (int)w->kind && g->key[i][1] == w->workers &&
                         g->key[i][2] == w->devices_per_node))
        i++;
    if (i == g->n && g->n < 64) {
        g->key[i][0] = (int)w->kind, g->key[i][1] = w->workers, g->key[i][2] = w->devices_per_node;
        g->n++;
    }
    *which = i < 64 ? i : 63;
    return i < 64 ? g->count[i]++ : 0;
}

/* The roofline's collective: a ring at the data sheet's link bandwidth x eff_comm. */
static double ring_time(const fm_accel *a, const fm_coll_row *w)
{
    bool in_node = w->devices_per_node >= w->workers;
    double bw = (in_node ? a->intra_bw : a->scaleout_bw) * a->eff_comm;
    double lat = in_node ? a->intra_lat : a->scaleout_lat, k = w->workers;
    if (w->kind == FM_COLL_SEND_RECV)
        return lat + w->bytes / bw;
    return 2 * (k - 1) * lat + 2 * (k - 1) / k * w->bytes / bw;
}

static int run_collective(const env *e, const vcase *c, result *r, char **err)
{
    fm_coll_row *rows;
    size_t n;
    groups g = {.n = 0};
    fm_fits *f = NULL;
    int rc = fm_vidur_net_read(c->data, &rows, &n, err);
    if (rc)
        return rc;
    const fm_accel *a = fm_catalog_accel(e->cat, c->accel);
    bool ring = strcmp(c->latency_model, "roofline") == 0;
    if (!a) {
        *err = fu_asprintf("%s: unknown accelerator '%s'", c->path, c->accel);
        rc = -EINVAL;
    } else if (!ring && (rc = fm_fits_load(c->latency_params, &f, err)) == 0 &&
               !fm_fits_coll(f, a->name)) {
        *err = fu_asprintf("%s: no collectives for %s", c->latency_params, a->name);
        rc = -EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const fm_coll_row *w = &rows[i];
        size_t gi;
        if (!use_row(c, group_index(&g, w, &gi)))
            continue;
        bool in_node = w->devices_per_node >= w->workers;
        double pred = ring ? ring_time(a, w)
                           : fm_coll_time(fm_fits_coll(f, a->name), w->kind, w->workers,
                                          in_node, w->bytes);
        const char *name = w->kind == FM_COLL_ALL_REDUCE ? "all_reduce" : "send_recv";
        if (pred < 0)
            continue;
        rc = add_error(r, name, w->time_s, pred);
        char label[48];
        snprintf(label, sizeof label, "%dw/%dpn %.0f KiB", w->workers, w->devices_per_node,
                 w->bytes / 1024);
        unsigned bit = w->bytes >= 32 << 20 ? 2 : w->bytes >= 1 << 20 ? 1 : 0;
        if (bit && !(g.shown[gi] & bit)) {
            g.shown[gi] |= bit;
            add_point(r, label, name, w->time_s, pred, "ms", 1e3);
        }
    }
    fm_fits_free(f);
    free(rows);
    return rc;
}

static int run_distserve(const env *e, const vcase *c, result *r, char **err)
{
    const fm_accel *a = fm_catalog_accel(e->cat, c->accel);
    fm_distserve_row *rows;
    size_t n;
    int rc = a ? fm_distserve_read(c->data, &rows, &n, err) : -EINVAL;
    if (!a) {
        *err = fu_asprintf("%s: unknown accelerator '%s'", c->path, c->accel);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *s = strrchr(rows[i].model, '/');
        const fm_llm *m = fm_catalog_llm(e->cat, s ? s + 1 : rows[i].model);
        if (!m || (c->model[0] && strcasecmp(m->name, c->model)) || (c->tp && c->tp != rows[i].tp))
            continue;
        fm_latency *l;
        if ((rc = fm_latency_new_with(c->latency_model, a, m, rows[i].tp, c->latency_params, &l,
                                      err)))
            break;
        for (size_t b = 0; rc == 0 && b < (size_t)c->batches; b++) {
            fm_seq_work seqs[256];
            if (!use_row(c, b))
                continue;
            size_t k = fm_distserve_batch((uint64_t)c->seed, b, seqs, 256);
            double want = fm_distserve_eval(&rows[i].c, seqs, k);
            double got = fm_latency_step(l, seqs, k, NULL);
            rc = add_error(r, "step_time", want, got);
            char label[48];
            snprintf(label, sizeof label, "%.20s tp%d %s %zu", m->name, rows[i].tp,
                     b % 2 ? "decode" : "prefill", k);
            if (b == 4 || b == 9)
                add_point(r, label, "step_time", want, got, "ms", 1e3);
        }
        fm_latency_free(l);
    }
    free(rows);
    return rc;
}

static int run_steps(const env *e, const vcase *c, result *r, char **err)
{
    fm_step_row *rows;
    size_t n;
    int rc = fm_steps_read(c->data, &rows, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t k = 0; /* the row's index within its (accelerator, model, tp) group */
        for (size_t j = 0; j < i; j++)
            k += rows[j].tp == rows[i].tp && !strcmp(rows[j].accel, rows[i].accel) &&
                 !strcmp(rows[j].model, rows[i].model);
        if (!use_row(c, k))
            continue;
        const fm_accel *a = fm_catalog_accel(e->cat, rows[i].accel);
        const fm_llm *m = fm_catalog_llm(e->cat, rows[i].model);
        fm_latency *l;
        if (!a || !m) {
            *err = fu_asprintf("%s:%d: unknown accelerator or model", c->data, rows[i].line);
            rc = -EINVAL;
        } else if ((rc = fm_latency_new_with(c->latency_model, a, m, rows[i].tp,
                                             c->latency_params, &l, err)) == 0) {
            double got = fm_latency_step(l, rows[i].seqs, rows[i].nseqs, NULL);
            rc = add_error(r, "step_time", rows[i].time_s, got);
            char label[48];
            snprintf(label, sizeof label, "line %d (%zu seqs)", rows[i].line, rows[i].nseqs);
            if (sample(i, n))
                add_point(r, label, "step_time", rows[i].time_s, got, "ms", 1e3);
            fm_latency_free(l);
        }
    }
    fm_step_rows_free(rows, n);
    return rc;
}

static double latency_fn(void *ctx, const fm_seq_work *seqs, size_t n)
{
    return fm_latency_step(ctx, seqs, n, NULL);
}

static int compare_requests(const vcase *c, const fs_timed_req *q, size_t n,
                            const fs_replay_result *p, result *r)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!use_row(c, i) || !isfinite(p->ttft_s[i]))
            continue;
        if (q[i].ttft_s > 0)
            rc = add_error(r, "ttft", q[i].ttft_s, p->ttft_s[i]);
        if (rc == 0 && q[i].output_tokens >= 2 && q[i].e2e_s > q[i].ttft_s)
            rc = add_error(r, "tpot", (q[i].e2e_s - q[i].ttft_s) / (q[i].output_tokens - 1),
                           (p->e2e_s[i] - p->ttft_s[i]) / (q[i].output_tokens - 1));
    }
    fs_replay_errors x;
    fs_replay_compare(q, n, p, &x);
    if (rc == 0 && x.measured_tps > 0)
        rc = add_error(r, "throughput", x.measured_tps, x.predicted_tps);
    add_point(r, "TTFT p50", "ttft", x.measured_ttft_p50, x.predicted_ttft_p50, "ms", 1e3);
    add_point(r, "TTFT p90", "ttft", x.measured_ttft_p90, x.predicted_ttft_p90, "ms", 1e3);
    add_point(r, "TPOT p50", "tpot", x.measured_tpot_p50, x.predicted_tpot_p50, "ms", 1e3);
    add_point(r, "TPOT p90", "tpot", x.measured_tpot_p90, x.predicted_tpot_p90, "ms", 1e3);
    add_point(r, "output tokens/s", "throughput", x.measured_tps, x.predicted_tps, "tok/s", 1);
    return rc;
}

static int run_requests(const env *e, const vcase *c, result *r, char **err)
{
    const fm_accel *a;
    const fm_llm *m;
    fs_timed_req *q = NULL;
    size_t n;
    fm_latency *l = NULL;
    fs_engine_config cfg;
    fs_replay_result p = {0};
    int tp = c->tp ? c->tp : 1;
    int rc = need_replica(e, c, &a, &m, err);
    if (rc == 0 && !m) {
        *err = fu_asprintf("%s: a requests case needs model:", c->path);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = fs_timings_read(c->data, &q, &n, err);
    if (rc == 0)
        rc = fs_server_engine_config(a, m, tp, &c->server, &cfg, err);
    if (rc == 0)
        rc = fm_latency_new_with(c->latency_model, a, m, tp, c->latency_params, &l, err);
    if (rc == 0)
        rc = fs_replay(q, n, &cfg, latency_fn, l, &p, err);
    if (rc == 0)
        rc = compare_requests(c, q, n, &p, r);
    fs_replay_result_free(&p);
    fm_latency_free(l);
    free(q);
    return rc;
}

static int run_case(const env *e, const vcase *c, result *r, char **err)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    if (access(c->data, R_OK) != 0) {
        r->skipped = true;
        snprintf(r->why, sizeof r->why, "data absent: %s", c->data);
        return 0;
    }
    if (strcmp(c->kind, "vidur-mlp") == 0)
        return run_vidur(e, c, r, err);
    if (strcmp(c->kind, "collective") == 0)
        return run_collective(e, c, r, err);
    if (strcmp(c->kind, "distserve") == 0)
        return run_distserve(e, c, r, err);
    if (strcmp(c->kind, "steps") == 0)
        return run_steps(e, c, r, err);
    return run_requests(e, c, r, err);
}

/* --- reporting --- */

typedef struct mstat {
    double mape, median, max;
    const tolerance *tol;
    bool ok;
} mstat;

static mstat stat_of(const result *r, const metric *m)
{
    mstat s = {0};
    fm_pct_stats(m->pct, m->n, &s.median, &s.mape, &s.max);
    for (int i = 0; i < r->c->ntol; i++)
        if (strcmp(r->c->tol[i].metric, m->name) == 0)
            s.tol = &r->c->tol[i];
    s.ok = !s.tol || s.mape <= s.tol->pct;
    return s;
}

static const char *base(const char *p) { return strrchr(p, '/') ? strrchr(p, '/') + 1 : p; }

static void print_case(FILE *f, const result *r)
{
    const vcase *c = r->c;
    fprintf(f, "== %s: %s, latency model %s%s%s, %s rows of %s\n", c->name, c->kind,
            c->latency_model, c->latency_params[0] ? " " : "",
            c->latency_params[0] ? base(c->latency_params) : "", c->rows, base(c->data));
    if (r->skipped) {
        fprintf(f, "   skipped: %s\n\n", r->why);
        return;
    }
    fprintf(f, "   %-28s %-11s %12s %12s %8s\n", "point", "metric", "measured", "predicted",
            "error");
    for (int i = 0; i < r->np; i++) {
        const point *p = &r->p[i];
        char mv[24], pv[24];
        snprintf(mv, sizeof mv, "%.4g %s", p->measured * p->unit_scale, p->unit);
        snprintf(pv, sizeof pv, "%.4g %s", p->predicted * p->unit_scale, p->unit);
        fprintf(f, "   %-28s %-11s %12s %12s %7.1f%%\n", p->label, p->metric, mv, pv,
                100 * (p->predicted / p->measured - 1));
    }
    fprintf(f, "   %-11s %6s %8s %8s %8s %10s  %s\n", "metric", "n", "MAPE", "median", "max",
            "tolerance", "result");
    for (int i = 0; i < r->nm; i++) {
        mstat s = stat_of(r, &r->m[i]);
        char tol[16] = "-";
        if (s.tol)
            snprintf(tol, sizeof tol, "%.4g%%", s.tol->pct);
        fprintf(f, "   %-11s %6zu %7.2f%% %7.2f%% %7.1f%% %10s  %s\n", r->m[i].name,
                r->m[i].n, s.mape, s.median, s.max, tol, !s.tol ? "reported" : s.ok ? "ok"
                                                                                    : "FAIL");
    }
    if (c->notes[0])
        fprintf(f, "   note: %s\n", c->notes);
    fputc('\n', f);
}

/* One Markdown table over all cases: what README.md's "Validation" section shows. */
static void print_summary(FILE *f, const result *rs, size_t n)
{
    fprintf(f, "| case | model | metric | n | MAPE | median | max | tolerance | result |\n"
               "|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t k = 0; k < n; k++) {
        const result *r = &rs[k];
        if (r->skipped)
            fprintf(f, "| %s | %s | - | - | - | - | - | - | skipped |\n", r->c->name,
                    r->c->latency_model);
        for (int i = 0; i < r->nm; i++) {
            mstat s = stat_of(r, &r->m[i]);
            char tol[16] = "-";
            if (s.tol)
                snprintf(tol, sizeof tol, "%.4g %%", s.tol->pct);
            fprintf(f, "| %s | %s | %s | %zu | %.2f %% | %.2f %% | %.1f %% | %s | %s |\n",
                    r->c->name, r->c->latency_model, r->m[i].name, r->m[i].n, s.mape,
                    s.median, s.max, tol, !s.tol ? "reported" : s.ok ? "ok" : "**FAIL**");
        }
    }
}

static json_t *case_json(const result *r)
{
    json_t *metrics = json_array(), *points = json_array();
    for (int i = 0; i < r->nm; i++) {
        mstat s = stat_of(r, &r->m[i]);
        json_array_append_new(metrics, json_pack("{s:s, s:I, s:f, s:f, s:f, s:o, s:b}",
            "metric", r->m[i].name, "n", (json_int_t)r->m[i].n, "mape_pct", s.mape,
            "median_pct", s.median, "max_pct", s.max, "tolerance_pct",
            s.tol ? json_real(s.tol->pct) : json_null(), "ok", s.ok));
    }
    for (int i = 0; i < r->np; i++)
        json_array_append_new(points, json_pack("{s:s, s:s, s:f, s:f}", "point", r->p[i].label,
                                                "metric", r->p[i].metric, "measured",
                                                r->p[i].measured, "predicted",
                                                r->p[i].predicted));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "name", r->c->name, "kind",
                     r->c->kind, "latency_model", r->c->latency_model, "data", r->c->data,
                     "rows", r->c->rows, "status", r->skipped ? "skipped" : "run", "metrics",
                     metrics, "points", points);
}

/* --- the command --- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim validate [OPTIONS] [CASE.yaml|DIR]...\n\n"
            "Runs validation cases (default: the source tree's tests/validation) and prints,\n"
            "per case, measured against predicted and the error per metric (MAPE, median,\n"
            "max), then a Markdown summary table. Cases whose data is absent are skipped.\n\n"
            "options:\n"
            "  --json          print one JSON object instead\n"
            "  --catalog DIR   read accelerators and LLMs from DIR (default: bundled)\n"
            "  -h, --help      show this help\n\n"
            "Exit status: 0 every metric within its case's tolerance; 1 one is not;\n"
            "2 bad input (a malformed case, unreadable data, an unknown model).\n");
}

static int yaml_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && d->d_name[0] != '.' && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

/* Appends the case files of `arg` (a file, or a directory's *.yaml in name order). */
static int collect(const char *arg, char ***paths, size_t *n)
{
    struct stat st;
    struct dirent **names = NULL;
    if (stat(arg, &st) != 0)
        return bad("%s: %s", arg, strerror(errno));
    int k = S_ISDIR(st.st_mode) ? scandir(arg, &names, yaml_file, alphasort) : 1;
    if (k < 0)
        return bad("%s: %s", arg, strerror(errno));
    char **p = realloc(*paths, (*n + (size_t)k) * sizeof *p);
    if (!p)
        return bad("out of memory");
    *paths = p;
    for (int i = 0; i < k; i++) {
        p[(*n)++] = names ? fu_asprintf("%s/%s", arg, names[i]->d_name) : strdup(arg);
        if (names)
            free(names[i]);
    }
    free(names);
    return 0;
}

static int run_all(const env *e, char **paths, size_t n, bool json)
{
    vcase *cases = calloc(n ? n : 1, sizeof *cases);
    result *rs = calloc(n ? n : 1, sizeof *rs);
    int rc = cases && rs ? 0 : bad("out of memory"), status = FS_EXIT_OK;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *err = NULL;
        if (load_case(paths[i], &cases[i], &err) || run_case(e, &cases[i], &rs[i], &err))
            rc = bad("%s", err ? err : "failed");
        free(err);
        for (int m = 0; rc == 0 && m < rs[i].nm; m++)
            if (!stat_of(&rs[i], &rs[i].m[m]).ok)
                status = FS_EXIT_CHECK;
    }
    if (rc == 0 && json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, case_json(&rs[i]));
        json_t *o = json_pack("{s:o, s:b}", "cases", arr, "ok", status == FS_EXIT_OK);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
        putchar('\n');
        json_decref(o);
    } else if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            print_case(stdout, &rs[i]);
        print_summary(stdout, rs, n);
    }
    for (size_t i = 0; rs && i < n; i++)
        result_free(&rs[i]);
    free(rs);
    free(cases);
    return rc ? rc : status;
}

static int validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"catalog", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    bool json = false;
    const char *catalog = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == 'j')
            json = true;
        else if (c == 'c')
            catalog = optarg;
        else
            return usage(stderr), FS_EXIT_USAGE;
    }
    char **paths = NULL;
    size_t n = 0;
    int rc = 0;
    for (int i = optind; rc == 0 && i < argc; i++)
        rc = collect(argv[i], &paths, &n);
    if (rc == 0 && optind == argc)
        rc = collect(FLEETSIM_SRCDIR "/tests/validation", &paths, &n);
    fm_catalog *cat = NULL;
    char *err = NULL;
    if (rc == 0 && fm_catalog_load_dir(catalog ? catalog : fm_default_catalog_dir(), &cat,
                                       &err) != 0)
        rc = bad("%s", err ? err : "cannot load the catalogue");
    free(err);
    env e = {cat};
    if (rc == 0)
        rc = run_all(&e, paths, n, json);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    fm_catalog_free(cat);
    return rc;
}

const fs_cmd fs_cmd_validate = {"validate", "compare predictions with measurements",
                                validate};
