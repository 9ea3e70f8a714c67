/*
 * replicate.c: seed sweeps with confidence intervals (replicate.h). The N runs are
 * sequential in one process: a run is single-threaded and deterministic, and a sweep
 * that wants all cores shards across processes (fleetsim sweep --shard).
 */
#include "replicate.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#include "fu_yaml.h"

fs_rep_stat fs_rep_stat_of(const double *v, int n, double level)
{
    assert(v && n >= 1 && level > 0 && level < 1);
    fs_rep_stat s = {.mean = gsl_stats_mean(v, 1, (size_t)n)};
    if (n > 1) {
        s.sd = gsl_stats_sd_m(v, 1, (size_t)n, s.mean);
        double half = gsl_cdf_tdist_Pinv(1 - (1 - level) / 2, n - 1) * s.sd / sqrt(n);
        s.lo = s.mean - half;
        s.hi = s.mean + half;
    } else
        s.lo = s.hi = s.mean;
    return s;
}

/* The per-run values of one figure, gathered in the order of the runs. */
typedef struct samples {
    double *v[5 * FS_REP_NQ + 3];
} samples;

static void stat_row(const fs_stat *st, double *dst[FS_REP_NQ], int i)
{
    dst[FS_REP_MEAN][i] = st->mean;
    dst[FS_REP_P50][i] = st->p50;
    dst[FS_REP_P90][i] = st->p90;
    dst[FS_REP_P99][i] = st->p99;
}

static void record(samples *s, const fs_summary *sum, int i)
{
    const fs_stat *st[5] = {&sum->ttft_s, &sum->tpot_s, &sum->itl_s, &sum->e2e_s,
                            &sum->queue_s};
    for (int m = 0; m < 5; m++)
        stat_row(st[m], &s->v[m * FS_REP_NQ], i);
    s->v[5 * FS_REP_NQ][i] = sum->throughput_rps;
    s->v[5 * FS_REP_NQ + 1][i] = sum->output_tps;
    s->v[5 * FS_REP_NQ + 2][i] = sum->slo.set ? sum->slo.attainment : 0;
}

static void summarise(const samples *s, int n, double level, fs_replication *r)
{
    fs_rep_stat *dst[5] = {r->ttft, r->tpot, r->itl, r->e2e, r->queue};
    for (int m = 0; m < 5; m++)
        for (int q = 0; q < FS_REP_NQ; q++)
            dst[m][q] = fs_rep_stat_of(s->v[m * FS_REP_NQ + q], n, level);
    r->throughput_rps = fs_rep_stat_of(s->v[5 * FS_REP_NQ], n, level);
    r->output_tps = fs_rep_stat_of(s->v[5 * FS_REP_NQ + 1], n, level);
    r->slo_attainment = fs_rep_stat_of(s->v[5 * FS_REP_NQ + 2], n, level);
}

int fs_replicate(const fs_scenario *sc, int n, double level, fs_replication *out,
                 void (*progress)(void *ctx, int done), void *ctx, char **err)
{
    assert(sc && n >= 1 && out);
    samples s = {{0}};
    int rc = 0;
    for (size_t k = 0; k < sizeof s.v / sizeof *s.v; k++)
        if (!(s.v[k] = calloc((size_t)n, sizeof(double))))
            rc = -ENOMEM;
    fs_replication r = {.n = n, .first_seed = sc->seed, .level = level,
                        .completed_min = UINT64_MAX};
    for (int i = 0; rc == 0 && i < n; i++) {
        fs_scenario one = *sc; /* shallow: the copy is never freed */
        one.seed = sc->seed + (uint64_t)i;
        ft_spec_set_seed(&one.workload, one.seed);
        fs_run_result res;
        if ((rc = fs_cluster_run(&one, &res, err)) != 0)
            break;
        record(&s, &res.summary, i);
        r.completed_min = res.summary.completed < r.completed_min ? res.summary.completed
                                                                  : r.completed_min;
        r.completed_max = res.summary.completed > r.completed_max ? res.summary.completed
                                                                  : r.completed_max;
        if (progress)
            progress(ctx, i + 1);
    }
    if (rc == -ENOMEM && err && !*err)
        *err = fu_asprintf("out of memory");
    if (rc == 0) {
        summarise(&s, n, level, &r);
        *out = r;
    }
    for (size_t k = 0; k < sizeof s.v / sizeof *s.v; k++)
        free(s.v[k]);
    return rc;
}

/* --- printing --- */

static const char *const metric_names[5] = {"ttft", "tpot", "itl", "e2e", "queue"};
static const char *const q_names[FS_REP_NQ] = {"mean", "p50", "p90", "p99"};

static void print_row(FILE *f, const char *name, const char *unit, fs_rep_stat s, double k)
{
    fprintf(f, "%-16s %-5s %12.4g  [%10.4g, %10.4g]  %10.4g\n", name, unit, s.mean * k,
            s.lo * k, s.hi * k, s.sd * k);
}

void fs_replication_print(FILE *f, const fs_replication *r)
{
    const fs_rep_stat *st[5] = {r->ttft, r->tpot, r->itl, r->e2e, r->queue};
    fprintf(f, "replications %d (seeds %llu..%llu): mean over replications, %g %% "
               "confidence interval of the mean (Student t), standard deviation\n",
            r->n, (unsigned long long)r->first_seed,
            (unsigned long long)(r->first_seed + (uint64_t)r->n - 1), r->level * 100);
    fprintf(f, "%-16s %-5s %12s  %-24s  %10s\n", "figure", "unit", "mean", "interval", "sd");
    for (int m = 0; m < 5; m++)
        for (int q = 0; q < FS_REP_NQ; q++) {
            char name[32];
            snprintf(name, sizeof name, "%s %s", metric_names[m], q_names[q]);
            print_row(f, name, "ms", st[m][q], 1e3);
        }
    print_row(f, "throughput", "req/s", r->throughput_rps, 1);
    print_row(f, "output tokens", "tok/s", r->output_tps, 1);
    print_row(f, "slo attainment", "", r->slo_attainment, 1);
    fprintf(f, "completed requests per run: %llu..%llu\n",
            (unsigned long long)r->completed_min, (unsigned long long)r->completed_max);
}

static json_t *stat_json(fs_rep_stat s)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "mean", s.mean, "sd", s.sd, "lo", s.lo, "hi",
                     s.hi);
}

json_t *fs_replication_to_json(const fs_replication *r)
{
    const fs_rep_stat *st[5] = {r->ttft, r->tpot, r->itl, r->e2e, r->queue};
    json_t *o = json_pack("{s:i, s:I, s:f, s:o, s:o, s:o, s:I, s:I}", "replications", r->n,
                          "first_seed", (json_int_t)r->first_seed, "level", r->level,
                          "throughput_rps", stat_json(r->throughput_rps), "output_tps",
                          stat_json(r->output_tps), "slo_attainment",
                          stat_json(r->slo_attainment), "completed_min",
                          (json_int_t)r->completed_min, "completed_max",
                          (json_int_t)r->completed_max);
    for (int m = 0; o && m < 5; m++) {
        json_t *fig = json_object();
        for (int q = 0; fig && q < FS_REP_NQ; q++)
            json_object_set_new(fig, q_names[q], stat_json(st[m][q]));
        char key[16];
        snprintf(key, sizeof key, "%s_s", metric_names[m]);
        if (!fig || json_object_set_new(o, key, fig)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
