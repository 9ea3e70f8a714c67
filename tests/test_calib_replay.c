/*
 * test_calib_replay.c: cmocka tests of calibration from per-request timings
 * (sim/replayfit.c, sim/timings.c) and of seed sweeps with confidence intervals
 * (sim/replicate.c).
 *
 * The central check: a benchmark generated here by replaying requests with known
 * coefficients, with 2 % noise on every measured time, must give those coefficients
 * back when calibrated from the roofline's. Around it: the three timing formats read
 * the same requests, bad files name file:line, a lone request's replay is exactly its
 * prefill plus its decodes, and a sweep's interval is the textbook t interval.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "cluster.h"
#include "replayfit.h"
#include "replicate.h"
#include "scenario.h"

static fm_catalog *cat;

static int load_catalog(void **state)
{
    char *err = NULL;
    int rc = fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err);
    if (rc)
        fprintf(stderr, "catalogue: %s\n", err);
    free(err);
    return rc;
}

static int free_catalog(void **state)
{
    fm_catalog_free(cat);
    return 0;
}

static double rel(double a, double b) { return fabs(a / b - 1); }

static char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/fleetsim-replay-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* --------------------------------------------------------------- timing files */

static void check_fixture(const fs_timed_req *r, size_t n)
{
    assert_int_equal(n, 4); /* the request with no output is skipped */
    assert_true(fabs(r[0].arrival_s) < 1e-12 && r[0].input_tokens == 1024);
    assert_true(fabs(r[0].ttft_s - 0.2) < 1e-9 && fabs(r[0].e2e_s - 3.4) < 1e-9);
    assert_true(fabs(r[1].arrival_s - 0.5) < 1e-9 && r[1].output_tokens == 64);
    assert_true(fabs(r[1].ttft_s - 0.12) < 1e-9 && fabs(r[1].e2e_s - 1.6) < 1e-9);
    assert_true(r[2].input_tokens == 2048 && fabs(r[2].ttft_s - 0.4) < 1e-9);
    assert_true(fabs(r[2].e2e_s - 1.0) < 1e-9 && fabs(r[3].arrival_s - 1.25) < 1e-9);
}

static void test_timings_formats(void **state)
{
    static const char *const files[] = {"calib-requests.csv", "calib-requests.jsonl",
                                        "calib-vllm-result.json"};
    for (size_t i = 0; i < 3; i++) {
        char path[1024], *err = NULL;
        fs_timed_req *r;
        size_t n;
        snprintf(path, sizeof path, TOP_SRCDIR "/tests/data/%s", files[i]);
        int rc = fs_timings_read(path, &r, &n, &err);
        if (rc)
            fail_msg("%s: %s", files[i], err);
        check_fixture(r, n);
        free(r);
    }
}

static void test_timings_errors(void **state)
{
    static const struct { const char *text, *want; } cases[] = {
        {"arrival_time,input_tokens,output_tokens,ttft\n0,10,5,0.1\n", ":2: missing last-token"},
        {"arrival_time,input_tokens,output_tokens,ttft,e2e\n0,10,5,0.1,0.2\n1,x,5,0.1,0.2\n",
         ":3: input_tokens: expected a number"},
        {"arrival_time,input_tokens,output_tokens,ttft,e2e\n0,10,5,0.3,0.2\n",
         ":2: the last token comes before the first"},
        {"arrival_time,input_tokens,output_tokens,ttft,e2e\n0,10.5,5,0.1,0.2\n",
         ":2: expected token counts"},
        {"{\"start_time\": 0, \"input_len\": 4, \"output_len\": 2, \"ttft\": 1, \"e2e\": 2}\n"
         "{\"start_time\": 1, \"input_len\": 4\n", ":2:"},
        {"{\"input_lens\": [1, 2], \"output_lens\": [1, 1], \"ttfts\": [0.1, 0.1], "
         "\"itls\": [[], []]}", "start_times"},
        {"arrival_time,input_tokens,output_tokens,ttft,e2e\n0,10,0,0.1,0.2\n",
         "no request with output tokens"},
        {"arrival_time,input_tokens,output_tokens,ttft,e2e\n0,10,3,0.1\n",
         ":2: expected as many fields"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *path = temp_file(cases[i].text), *err = NULL;
        fs_timed_req *r = NULL;
        size_t n;
        assert_int_equal(fs_timings_read(path, &r, &n, &err), -EINVAL);
        if (!strstr(err, cases[i].want) || !strstr(err, path))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        free(err);
        unlink(path);
    }
}

/* ------------------------------------------------------------------- replays */

static fs_scaled_step step_of(const char *accel, const char *model, fm_scaled_ctx **ctx)
{
    const fm_accel *a = fm_catalog_accel(cat, accel);
    assert_int_equal(fm_scaled_ctx_new(a, fm_catalog_llm(cat, model), 1, NULL, ctx, NULL), 0);
    fs_scaled_step s = {.ctx = *ctx};
    fm_scaled_roofline_coef(*ctx, a, &s.k);
    return s;
}

static fs_engine_config config(void)
{
    fs_engine_config c;
    fs_engine_config_defaults(&c);
    c.num_blocks = 20000;
    c.max_num_seqs = 64;
    c.max_num_batched_tokens = 2048;
    c.enable_prefix_caching = false;
    return c;
}

/* One request alone: TTFT is its prefill steps, then one decode step per token. */
static void test_replay_lone_request(void **state)
{
    fm_scaled_ctx *ctx;
    fs_scaled_step s = step_of("H100-SXM", "llama-3.1-8b", &ctx);
    fs_timed_req r = {.arrival_s = 2.0, .input_tokens = 3000, .output_tokens = 4};
    fs_engine_config c = config();
    fs_replay_result p;
    assert_int_equal(fs_replay(&r, 1, &c, fs_scaled_step_fn, &s, &p, NULL), 0);
    fm_seq_work a = {2048, 0}, b = {952, 2048};
    double pre = fs_scaled_step_fn(&s, &a, 1) + fs_scaled_step_fn(&s, &b, 1), dec = 0;
    for (uint32_t k = 0; k < 3; k++) {
        fm_seq_work d = {1, 3000 + k};
        dec += fs_scaled_step_fn(&s, &d, 1);
    }
    assert_true(fabs(p.ttft_s[0] - pre) < 2e-9);
    assert_true(fabs(p.e2e_s[0] - pre - dec) < 5e-9);
    assert_int_equal(p.steps, 5);
    assert_true(fabs(p.makespan_s - 2.0 - pre - dec) < 5e-9);
    fs_replay_result_free(&p);
    fm_scaled_ctx_free(ctx);
}

/* Step times of the truth, each jittered by 3 % as a real GPU's are. */
typedef struct jitter {
    const fs_scaled_step *truth;
    gsl_rng *g;
} jitter;

static double jittered(void *ctx, const fm_seq_work *seqs, size_t n)
{
    jitter *j = ctx;
    return fs_scaled_step_fn((void *)j->truth, seqs, n) * exp(gsl_ran_gaussian(j->g, 0.03));
}

/*
 * A benchmark of n requests at 10 requests/s from known coefficients: every step
 * jittered (so no coefficients reproduce the batching exactly, as with real data) and
 * `noise` on every measured time.
 */
static fs_timed_req *synthetic_benchmark(const fs_scaled_step *truth, size_t n,
                                         const fs_engine_config *c, double noise)
{
    fs_timed_req *r = calloc(n, sizeof *r);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 11);
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        t += gsl_ran_exponential(g, 0.1);
        r[i] = (fs_timed_req){.arrival_s = t,
                              .input_tokens = 64 + (uint32_t)gsl_rng_uniform_int(g, 3000),
                              .output_tokens = 8 + (uint32_t)gsl_rng_uniform_int(g, 250)};
    }
    fs_replay_result p;
    jitter j = {truth, g};
    assert_int_equal(fs_replay(r, n, c, jittered, &j, &p, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        double gap = p.e2e_s[i] - p.ttft_s[i];
        r[i].ttft_s = p.ttft_s[i] * exp(gsl_ran_gaussian(g, noise));
        r[i].e2e_s = r[i].ttft_s + gap * exp(gsl_ran_gaussian(g, noise));
    }
    fs_replay_result_free(&p);
    gsl_rng_free(g);
    return r;
}

static void test_replay_calibration_recovers(void **state)
{
    fm_scaled_ctx *ctx;
    fs_scaled_step truth = step_of("A100-80GB", "llama-3.1-8b", &ctx);
    fm_scaled_coef start = truth.k; /* the roofline's: lin_flops 1.43, lin_bytes 1.18 */
    truth.k.lin_flops = 1.9;
    truth.k.lin_bytes = 1.35;
    truth.k.attn_bytes = 1.6;
    fs_engine_config c = config();
    enum { N = 400 };
    fs_timed_req *r = synthetic_benchmark(&truth, N, &c, 0.02);
    fs_replay_errors before, after;
    fs_replay_result p;
    fs_scaled_step s0 = {.ctx = ctx, .k = start};
    assert_int_equal(fs_replay(r, N, &c, fs_scaled_step_fn, &s0, &p, NULL), 0);
    fs_replay_compare(r, N, &p, &before);
    fs_replay_result_free(&p);
    fm_scaled_coef k = start;
    char *err = NULL;
    unsigned mask = FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES | FM_FIT_ATTN_BYTES;
    int rc = fs_replay_calibrate(r, N, &c, ctx, mask, &k, &after, &err);
    if (rc)
        fail_msg("%s", err);
    printf("# recovered lin_flops %.3f (1.9), lin_bytes %.3f (1.35), attn_bytes %.3f (1.6); "
           "held-out TPOT MAPE %.1f %% -> %.1f %%, TTFT %.1f %% -> %.1f %%\n", k.lin_flops,
           k.lin_bytes, k.attn_bytes, before.tpot.held_mape_pct, after.tpot.held_mape_pct,
           before.ttft.held_mape_pct, after.ttft.held_mape_pct);
    assert_true(rel(k.lin_flops, 1.9) < 0.03);
    assert_true(rel(k.lin_bytes, 1.35) < 0.08);
    assert_true(rel(k.attn_bytes, 1.6) < 0.10);
    assert_true(after.tpot.held_mape_pct < 3 && before.tpot.held_mape_pct > 10);
    assert_true(after.ttft.held_mape_pct < 3 && before.ttft.held_mape_pct > 10);
    assert_true(after.ttft.n_held == N / 5);
    assert_int_equal(fs_replay_calibrate(r, 5, &c, ctx, mask, &k, NULL, &err), -EINVAL);
    free(err);
    free(r);
    fm_scaled_ctx_free(ctx);
}

/* --------------------------------------------------------------- replications */

static void test_rep_stat(void **state)
{
    double v[5] = {10, 12, 11, 13, 9};
    fs_rep_stat s = fs_rep_stat_of(v, 5, 0.95);
    assert_true(fabs(s.mean - 11) < 1e-12);
    assert_true(fabs(s.sd - sqrt(2.5)) < 1e-12);
    double half = 2.7764451051977987 * sqrt(2.5) / sqrt(5); /* t(0.975, 4) */
    assert_true(fabs(s.hi - 11 - half) < 1e-9 && fabs(11 - s.lo - half) < 1e-9);
    s = fs_rep_stat_of(v, 1, 0.95);
    assert_true(s.lo == 10 && s.hi == 10 && s.sd == 0);
}

static void test_replicate_quickstart(void **state)
{
    fs_scenario sc;
    char *err = NULL;
    int rc = fs_scenario_load(TOP_SRCDIR "/scenarios/quickstart.yaml", cat, &sc, &err);
    if (rc)
        fail_msg("%s", err);
    ft_spec_set_requests(&sc.workload, 300);
    fs_replication rep;
    assert_int_equal(fs_replicate(&sc, 4, 0.95, &rep, NULL, NULL, &err), 0);
    fs_run_result one;
    assert_int_equal(fs_cluster_run(&sc, &one, &err), 0); /* replication 0 is this run */
    assert_int_equal(rep.n, 4);
    assert_true(rep.ttft[FS_REP_P90].sd > 0); /* different seeds, different runs */
    assert_true(rep.ttft[FS_REP_P90].lo < rep.ttft[FS_REP_P90].mean &&
                rep.ttft[FS_REP_P90].mean < rep.ttft[FS_REP_P90].hi);
    assert_true(rep.completed_min == 300 && rep.completed_max == 300);
    assert_true(rep.first_seed == sc.seed);
    json_t *j = fs_replication_to_json(&rep);
    assert_non_null(json_object_get(json_object_get(j, "tpot_s"), "p99"));
    json_decref(j);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fs_replication_print(m, &rep);
    fclose(m);
    assert_non_null(strstr(buf, "ttft p90"));
    free(buf);
    /* the mean over runs includes the plain run's figure */
    assert_true(one.summary.ttft_s.p90 > 0);
    fs_scenario_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timings_formats),
        cmocka_unit_test(test_timings_errors),
        cmocka_unit_test(test_replay_lone_request),
        cmocka_unit_test(test_replay_calibration_recovers),
        cmocka_unit_test(test_rep_stat),
        cmocka_unit_test(test_replicate_quickstart),
    };
    return cmocka_run_group_tests_name("calib_replay", tests, load_catalog, free_catalog);
}
