/*
 * test_calib.c: cmocka tests of the fitted latency models and calibration (models/
 * fitted.c, profile.c, collective.c, fits.c, calibdata.c, calibrate.c).
 *
 * Two kinds of checks. Synthetic: data generated from known coefficients (steps,
 * collectives) must give those coefficients back; the scaled form with the roofline's
 * coefficients must be the roofline exactly; fit files must survive a write and a
 * read, and bad ones must be rejected with file:line:column. Measured (skipped with a
 * message when ../shared/data is absent): the fitted and profile models must reproduce
 * vidur's MLP profiles on the rows held out of the fit within 10 % median error, and
 * the fitted model must reproduce DistServe's coefficients' own predictions within 5 %,
 * both computed here independently of the fit's own report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "fm_fit.h"
#include "fm_latency.h"

#define CALIB TOP_SRCDIR "/../shared/data/calibration/"

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

static const fm_accel *accel(const char *name)
{
    const fm_accel *a = fm_catalog_accel(cat, name);
    assert_non_null(a);
    return a;
}

static const fm_llm *llm(const char *name)
{
    const fm_llm *m = fm_catalog_llm(cat, name);
    assert_non_null(m);
    return m;
}

/* Tests that read ../shared/data are registered with FS_SHARED_TEST, so by the time
 * they run the folder is there: a missing file in it is a failure, not a pass. */
static void need(const char *path)
{
    if (access(path, R_OK) != 0)
        fail_msg("%s is absent from ../shared/data", path);
}

/* A temporary file holding `text`; the caller unlinks it. */
static char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/fleetsim-calib-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static double rel(double a, double b) { return fabs(a / b - 1); }

/* A random batch: prompt chunks and decodes mixed, as the engine forms them. */
static size_t random_batch(gsl_rng *r, fm_seq_work *s, size_t cap)
{
    size_t n = 1 + gsl_rng_uniform_int(r, cap);
    for (size_t i = 0; i < n; i++) {
        bool decode = gsl_rng_uniform(r) < 0.7;
        uint32_t ctx = (uint32_t)gsl_rng_uniform_int(r, 4000);
        s[i] = decode ? (fm_seq_work){1, ctx + 1}
                      : (fm_seq_work){1 + (uint32_t)gsl_rng_uniform_int(r, 2000), ctx};
    }
    return n;
}

/* --------------------------------------------------------------- the scaled form */

static void test_scaled_is_roofline(void **state)
{
    static const struct { const char *a, *m; int tp; } cases[] = {
        {"H100-SXM", "llama-3.1-8b", 1}, {"H100-SXM", "llama-3.1-70b", 4},
        {"A100-80GB", "qwen3-30b-a3b", 2}, {"H100-SXM", "llama-3.1-405b", 16},
    };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const fm_accel *a = accel(cases[c].a);
        fm_latency *roof;
        fm_scaled_ctx *ctx;
        fm_scaled_coef k;
        assert_int_equal(fm_latency_new("roofline", a, llm(cases[c].m), cases[c].tp, &roof,
                                        NULL), 0);
        assert_int_equal(fm_scaled_ctx_new(a, llm(cases[c].m), cases[c].tp, NULL, &ctx, NULL),
                         0);
        fm_scaled_roofline_coef(ctx, a, &k);
        for (int i = 0; i < 200; i++) {
            fm_seq_work s[64];
            size_t n = i == 0 ? 0 : random_batch(r, s, 64);
            fm_step_terms t;
            fm_step_breakdown b1, b2;
            fm_scaled_terms(ctx, s, n, &t);
            double want = fm_latency_step(roof, s, n, &b1);
            assert_true(rel(fm_scaled_eval(&k, &t, &b2), want) < 1e-12);
            assert_true(rel(b2.overhead, b1.overhead) < 1e-12);
            assert_true(fabs(b2.comm - b1.comm) <= 1e-12 * want);
        }
        fm_scaled_ctx_free(ctx);
        fm_latency_free(roof);
    }
    gsl_rng_free(r);
}

static void test_scaled_eval_parts(void **state)
{
    fm_step_terms t = {.seqs = 4, .layers = 32, .lin_flop_s = 1e-3, .lin_byte_s = 1e-3,
                       .attn_flop_s = 0, .attn_byte_s = 2e-4, .comm_s = 1e-4,
                       .comm_lat_s = 5e-5};
    fm_scaled_coef k = {.step_s = 1e-3, .seq_s = 1e-5, .layer_s = 1e-6, .lin_flops = 1,
                        .lin_bytes = 1, .lin_p = 2, .attn_flops = 1, .attn_bytes = 2,
                        .comm = 3};
    fm_step_breakdown bd;
    double total = fm_scaled_eval(&k, &t, &bd);
    assert_true(rel(bd.overhead, 1e-3 + 4e-5 + 32e-6) < 1e-12);
    assert_true(rel(bd.comm, 3e-4 + 5e-5) < 1e-12);
    assert_true(rel(bd.compute + bd.memory, sqrt(2) * 1e-3 + 4e-4) < 1e-12);
    assert_true(rel(total, bd.compute + bd.memory + bd.comm + bd.overhead) < 1e-12);
    k.lin_p = 0; /* the hard maximum */
    assert_true(rel(fm_scaled_eval(&k, &t, NULL), 1e-3 + 4e-5 + 32e-6 + 1e-3 + 4e-4 + 3.5e-4)
                < 1e-12);
}

static void test_mask_names(void **state)
{
    unsigned m;
    char *err = NULL;
    assert_int_equal(fm_scaled_parse_mask("lin_flops, attn_bytes,step_s", &m, &err), 0);
    assert_int_equal(m, FM_FIT_LIN_FLOPS | FM_FIT_ATTN_BYTES | FM_FIT_STEP);
    assert_int_equal(fm_scaled_parse_mask("lin_flops,bogus", &m, &err), -EINVAL);
    assert_non_null(strstr(err, "'bogus'"));
    free(err);
    assert_string_equal(fm_scaled_coef_name(FM_FIT_COMM), "comm");
}

/* Steps generated from known coefficients with 1 % noise: the fit gives them back. */
static void test_scaled_fit_recovers(void **state)
{
    const fm_accel *a = accel("H100-SXM");
    fm_scaled_ctx *ctx;
    assert_int_equal(fm_scaled_ctx_new(a, llm("llama-3.1-8b"), 1, NULL, &ctx, NULL), 0);
    fm_scaled_coef truth = {.step_s = 2e-3, .seq_s = 2e-5, .lin_flops = 1.6, .lin_bytes = 1.25,
                            .lin_p = 4, .attn_flops = 2.0, .attn_bytes = 1.4, .comm = 1};
    enum { N = 400 };
    fm_step_terms x[N];
    double y[N];
    bool held[N];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (size_t i = 0; i < N; i++) {
        fm_seq_work s[128];
        fm_scaled_terms(ctx, s, random_batch(r, s, 128), &x[i]);
        y[i] = fm_scaled_eval(&truth, &x[i], NULL) * (1 + gsl_ran_gaussian(r, 0.01));
        held[i] = fm_fit_held_out(i);
    }
    fm_scaled_coef k;
    fm_scaled_roofline_coef(ctx, a, &k);
    fm_fit_quality q;
    unsigned mask = FM_FIT_STEP | FM_FIT_SEQ | FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES |
                    FM_FIT_LIN_P | FM_FIT_ATTN_FLOPS | FM_FIT_ATTN_BYTES;
    char *err = NULL;
    assert_int_equal(fm_scaled_fit(x, y, held, N, mask, &k, &q, &err), 0);
    /* The fixed step cost trades off against weight reads (both constant per decode
     * step), so it is the loosest; the factors come back within a few percent. */
    assert_true(rel(k.step_s, truth.step_s) < 0.1);
    assert_true(rel(k.lin_flops, truth.lin_flops) < 0.03);
    assert_true(rel(k.lin_bytes, truth.lin_bytes) < 0.03);
    assert_true(rel(k.attn_bytes, truth.attn_bytes) < 0.05);
    assert_true(q.n_held == N / 5 && q.held_median_pct < 1.5);
    assert_int_equal(fm_scaled_fit(x, y, NULL, 3, mask, &k, NULL, &err), -EINVAL);
    assert_non_null(strstr(err, "more rows than"));
    free(err);
    gsl_rng_free(r);
    fm_scaled_ctx_free(ctx);
}

/* ------------------------------------------------------------------ collectives */

static void test_coll_time(void **state)
{
    fm_collectives c = {.accel = "X", .n = 3};
    c.fit[0] = (fm_coll_fit){FM_COLL_ALL_REDUCE, 2, 2, 10e-6, 100e9};
    c.fit[1] = (fm_coll_fit){FM_COLL_ALL_REDUCE, 8, 8, 30e-6, 200e9};
    c.fit[2] = (fm_coll_fit){FM_COLL_SEND_RECV, 2, 1, 20e-6, 25e9};
    assert_true(rel(fm_coll_time(&c, FM_COLL_ALL_REDUCE, 8, true, 1e6), 30e-6 + 1e6 / 200e9)
                < 1e-12);
    /* 4 workers: nearest measured is 2 (distance 2 < 4); ring-scaled from it */
    double t4 = fm_coll_time(&c, FM_COLL_ALL_REDUCE, 4, true, 1e6);
    assert_true(rel(t4, 10e-6 * 3 + 1e6 / 100e9 * (0.75 / 0.5)) < 1e-12);
    assert_true(fm_coll_time(&c, FM_COLL_ALL_REDUCE, 16, false, 1e6) < 0); /* none across */
    assert_true(rel(fm_coll_time(&c, FM_COLL_SEND_RECV, 2, false, 5e6), 20e-6 + 5e6 / 25e9)
                < 1e-12);
    assert_true(fm_coll_time(&c, FM_COLL_SEND_RECV, 2, true, 1) < 0);
    assert_true(fm_coll_time(NULL, FM_COLL_SEND_RECV, 2, true, 1) < 0);
}

static void test_coll_fit_recovers(void **state)
{
    enum { N = 200 };
    fm_coll_row rows[N];
    for (int i = 0; i < N; i++) {
        double bytes = 2048.0 * (1 + i * 97);
        bool ar = i % 2 == 0;
        double t = ar ? 12e-6 + bytes / 150e9 : 8e-6 + bytes / 40e9;
        rows[i] = (fm_coll_row){ar ? FM_COLL_ALL_REDUCE : FM_COLL_SEND_RECV, ar ? 4 : 2,
                                ar ? 4 : 1, bytes, t, i + 2};
    }
    fm_collectives c = {.accel = "X"};
    fm_fit_quality q;
    assert_int_equal(fm_coll_fit_rows(rows, N, &c, &q, NULL), 0);
    assert_int_equal(c.n, 2);
    assert_true(rel(c.fit[0].latency_s, 12e-6) < 1e-6 && rel(c.fit[0].bw, 150e9) < 1e-6);
    assert_true(rel(c.fit[1].latency_s, 8e-6) < 1e-6 && rel(c.fit[1].bw, 40e9) < 1e-6);
    assert_true(q.n_fit == 160 && q.n_held == 40 && q.held_max_pct < 1e-6);
    char *err = NULL;
    fm_collectives d = {.accel = "X"};
    assert_int_equal(fm_coll_fit_rows(rows, 1, &d, NULL, &err), -EINVAL);
    assert_non_null(strstr(err, "line 2"));
    free(err);
}

/* The roofline takes fitted all-reduces from a fit file; without collectives it is unchanged. */
/* P/D KV links take fitted send/recv; a file without it leaves the data sheet's. */
static void test_kv_link(void **state)
{
    char *path = temp_file("collectives:\n  - accelerator: H100-SXM\n    send_recv:\n"
                           "      - {workers: 2, devices_per_node: 1, latency_us: 20, "
                           "gb_per_s: 40}\n");
    double bw = 1, lat = 1;
    assert_int_equal(fm_fits_kv_link(path, "H100-SXM", false, &bw, &lat, NULL), 0);
    assert_true(rel(bw, 40e9) < 1e-6 && rel(lat, 20e-6) < 1e-6);
    bw = lat = 1;
    assert_int_equal(fm_fits_kv_link(path, "H100-SXM", true, &bw, &lat, NULL), 1);
    assert_int_equal(fm_fits_kv_link(path, "A100-80GB", false, &bw, &lat, NULL), 1);
    assert_true(bw == 1 && lat == 1);
    char *err = NULL;
    assert_int_equal(fm_fits_kv_link("/nonexistent.yaml", "X", true, &bw, &lat, &err), -ENOENT);
    free(err);
    unlink(path);
}

static void test_roofline_uses_fitted_comm(void **state)
{
    char *path = temp_file("collectives:\n  - accelerator: H100-SXM\n    all_reduce:\n"
                           "      - {workers: 4, devices_per_node: 4, latency_us: 30, "
                           "gb_per_s: 50}\n");
    const fm_accel *a = accel("H100-SXM");
    const fm_llm *m = llm("llama-3.1-70b");
    fm_latency *plain, *fit;
    fm_seq_work s[8] = {{512, 0}, {1, 100}, {1, 100}, {1, 100}};
    fm_step_breakdown b1, b2;
    assert_int_equal(fm_latency_new("roofline", a, m, 4, &plain, NULL), 0);
    assert_int_equal(fm_latency_new_with("roofline", a, m, 4, path, &fit, NULL), 0);
    fm_latency_step(plain, s, 4, &b1);
    fm_latency_step(fit, s, 4, &b2);
    double want = 2.0 * m->n_layers * (30e-6 + 515 * 2.0 * m->d_model / 50e9);
    assert_true(rel(b2.comm, want) < 1e-9);
    assert_true(rel(b2.compute + b2.memory, b1.compute + b1.memory) < 1e-12);
    fm_latency_free(fit);
    assert_int_equal(fm_latency_new_with("roofline", a, m, 1, path, &fit, NULL), 0);
    fm_latency_free(fit); /* tp 1: no collective at all */
    fm_latency_free(plain);
    unlink(path);
}

/* ------------------------------------------------------------------- fit files */

static void test_fits_roundtrip(void **state)
{
    fm_fits *f = fm_fits_new();
    fm_fit_entry s = {.accel = "H100-SXM", .model = "llama-3.1-8b", .tp = 2,
                      .form = FM_FORM_SCALED, .source = "a \"quoted\" source",
                      .scaled = {1e-3, 2e-5, 3e-6, 1.5, 1.2, 3.5, 1.4, 1.1, 0, 1},
                      .has_q = true, .q = {100, 25, 1.5, 2, 2.5, 3, 9}};
    fm_fit_entry d = {.accel = "A100-80GB", .model = "opt-13b", .tp = 1,
                      .form = FM_FORM_DISTSERVE,
                      .ds = {{18.1, 0.1, 7e-6}, {19.9, 6e-4, 0.038}, {7.2, 5.8e-4, 0.158}, 95}};
    double tok[] = {1, 16, 512}, lay[] = {1e-4, 1.1e-4, 4e-4};
    fm_fit_entry p = {.accel = "H100-SXM", .model = "llama-2-7b", .tp = 1,
                      .form = FM_FORM_PROFILE, .npoints = 3, .tokens = tok, .layer_s = lay};
    fm_collectives c = {.accel = "H100-SXM", .n = 1,
                        .fit = {{FM_COLL_SEND_RECV, 2, 1, 19e-6, 36e9}}};
    assert_int_equal(fm_fits_add(f, &s), 0);
    assert_int_equal(fm_fits_add(f, &d), 0);
    assert_int_equal(fm_fits_add(f, &p), 0);
    assert_int_equal(fm_fits_add_coll(f, &c), 0);
    char path[] = "/tmp/fleetsim-calib-rt-XXXXXX";
    int fd = mkstemp(path);
    FILE *o = fdopen(fd, "w");
    assert_int_equal(fm_fits_write(f, o, "made by test_calib\nsecond line"), 0);
    fclose(o);
    fm_fits *g;
    char *err = NULL;
    assert_int_equal(fm_fits_load(path, &g, &err), 0);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->ncoll, 1);
    const fm_fit_entry *e = fm_fits_find(g, 1u << FM_FORM_SCALED, "h100-sxm", "LLAMA-3.1-8B", 2);
    assert_non_null(e);
    assert_string_equal(e->source, s.source);
    assert_true(rel(e->scaled.lin_p, 3.5) < 1e-5 && rel(e->scaled.layer_s, 3e-6) < 1e-5);
    assert_true(e->has_q && e->q.n_held == 25);
    e = fm_fits_find(g, 1u << FM_FORM_DISTSERVE, "A100-80GB", "opt-13b", 1);
    assert_non_null(e);
    assert_true(rel(e->ds.large[2], 0.158) < 1e-9 && e->ds.threshold == 95);
    e = fm_fits_find(g, 1u << FM_FORM_PROFILE, "H100-SXM", "llama-2-7b", 1);
    assert_non_null(e);
    assert_int_equal(e->npoints, 3);
    assert_true(rel(fm_profile_interp(e, 264), 2.55e-4) < 1e-4);
    assert_true(rel(fm_profile_interp(e, 0.5), 1e-4) < 1e-4);
    assert_true(rel(fm_profile_interp(e, 1008), 4e-4 + 496 * 2.9e-4 / 496) < 1e-4);
    assert_null(fm_fits_find(g, 1u << FM_FORM_PROFILE, "H100-SXM", "llama-2-7b", 2));
    assert_true(rel(fm_coll_time(fm_fits_coll(g, "h100-sxm"), FM_COLL_SEND_RECV, 2, false, 0),
                    19e-6) < 1e-3);
    fm_fits_free(g);
    fm_fits_free(f);
    unlink(path);
}

static void test_fits_errors(void **state)
{
    static const struct { const char *text, *want; } cases[] = {
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: magic}\n",
         ":2:45: expected form: scaled"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: scaled}\n",
         "missing required key 'coefficients'"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: scaled, coefficients: "
         "{lin_flops: -1}}\n", ":2:79: expected a number in [0, 10000]"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: profile, tokens: [1, 8, 4], "
         "layer_ms: [1, 2, 3]}\n", "ascending"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: profile, tokens: [1, 8], "
         "layer_ms: [1, 2, 3]}\n", "3 values for 2 tokens"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: distserve, prefill_ms: [1, 2]}\n",
         "list of 3 numbers"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: scaled, tokens: [1, 2], "
         "coefficients: {step_s: 0.001}}\n", "unknown key 'tokens' in a scaled entry"},
        {"fits:\n  - {accelerator: X, model: Y, tp: 1, form: scaled, "
         "coefficients: {lin_p: 4, attn_flops: 1}}\n", ":2:67: these coefficients predict no time"},
        {"fits:\n  - {model: Y, tp: 1, form: scaled, coefficients: {}}\n",
         "needs accelerator, model and tp"},
        {"fitz: []\n", ":1:1: unknown key 'fitz'"},
        {"collectives:\n  - {accelerator: X, all_reduce: [{workers: 2}]}\n",
         "needs workers and gb_per_s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *path = temp_file(cases[i].text), *err = NULL;
        fm_fits *f = NULL;
        assert_int_equal(fm_fits_load(path, &f, &err), -EINVAL);
        if (!strstr(err, cases[i].want) || !strstr(err, path))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        assert_null(f);
        free(err);
        unlink(path);
    }
    char *err = NULL;
    fm_fits *f;
    assert_int_equal(fm_fits_load("/nonexistent/fits.yaml", &f, &err), -ENOENT);
    free(err);
}

/* Loads are shared while the file is unchanged, and read again once it changes. */
static void test_fits_cache(void **state)
{
    char *path = temp_file("fits:\n  - {accelerator: X, model: Y, tp: 1, form: scaled, "
                           "coefficients: {step_s: 0.001}}\n");
    char copy[64];
    snprintf(copy, sizeof copy, "%s", path);
    fm_fits *a, *b, *c;
    assert_int_equal(fm_fits_load(copy, &a, NULL), 0);
    assert_int_equal(fm_fits_load(copy, &b, NULL), 0);
    assert_ptr_equal(a, b);
    FILE *f = fopen(copy, "w");
    fputs("fits:\n  - {accelerator: X, model: Y, tp: 2, form: scaled, "
          "coefficients: {step_s: 0.002}}\n  - {accelerator: X, model: Y, tp: 4, "
          "form: scaled, coefficients: {seq_s: 0.001}}\n", f);
    fclose(f);
    assert_int_equal(fm_fits_load(copy, &c, NULL), 0);
    assert_ptr_not_equal(a, c);
    assert_int_equal(c->n, 2);
    assert_int_equal(a->n, 1); /* the old set lives on while referenced */
    fm_fits_free(a);
    fm_fits_free(b);
    fm_fits_free(c);
    unlink(copy);
}

/* The fitted model names what a file has when it lacks the replica asked for. */
static void test_fitted_model_lookup(void **state)
{
    char *path = temp_file("fits:\n  - {accelerator: H100-SXM, model: llama-3.1-8b, tp: 1, "
                           "form: scaled, coefficients: {step_s: 0.001, lin_flops: 1.5, "
                           "lin_bytes: 1.2, attn_flops: 1.5, attn_bytes: 1.2, comm: 1}}\n");
    fm_latency *l = NULL;
    char *err = NULL;
    assert_int_equal(fm_latency_new_with("fitted", accel("H100-SXM"), llm("llama-3.1-8b"), 2,
                                         path, &l, &err), -EINVAL);
    assert_non_null(strstr(err, "no fitted entry for H100-SXM / llama-3.1-8b / tp 2"));
    assert_non_null(strstr(err, "H100-SXM/llama-3.1-8b/tp1"));
    free(err);
    assert_int_equal(fm_latency_new_with("profile", accel("H100-SXM"), llm("llama-3.1-8b"), 1,
                                         path, &l, &err), -EINVAL);
    free(err);
    assert_int_equal(fm_latency_new_with("fitted", accel("H100-SXM"), llm("llama-3.1-8b"), 1,
                                         path, &l, &err), 0);
    fm_step_breakdown bd;
    assert_true(rel(fm_latency_step(l, NULL, 0, &bd), 1e-3) < 1e-12);
    fm_seq_work s = {1, 1000};
    double t = fm_latency_step(l, &s, 1, &bd);
    assert_true(t > 1e-3 && rel(bd.memory + bd.overhead, t) < 1e-12);
    fm_latency_free(l);
    unlink(path);
}

/* A DistServe fit extrapolated below 0 (a negative slope, a long prompt) predicts 0 s,
   never a negative step; inside its range it is the polynomial. */
static void test_distserve_never_negative(void **state)
{
    char *path = temp_file("fits:\n  - {accelerator: H100-SXM, model: llama-3.1-8b, tp: 1, "
                           "form: distserve, prefill_ms: [10, -0.01, 0], "
                           "decode_small_ms: [5, 0.001, 0.1], decode_large_ms: [5, 0.001, 0.1], "
                           "decode_threshold: 64}\n");
    fm_latency *l = NULL;
    char *err = NULL;
    assert_int_equal(fm_latency_new_with("fitted", accel("H100-SXM"), llm("llama-3.1-8b"), 1,
                                         path, &l, &err), 0);
    fm_seq_work small = {100, 0}, big = {8000, 0};
    fm_step_breakdown bd;
    assert_true(rel(fm_latency_step(l, &small, 1, NULL), (10 - 0.01 * 100) / 1e3) < 1e-12);
    fm_fits *g = NULL;
    assert_int_equal(fm_fits_load(path, &g, NULL), 0);
    const fm_fit_entry *e =
        fm_fits_find(g, 1u << FM_FORM_DISTSERVE, "H100-SXM", "llama-3.1-8b", 1);
    assert_non_null(e);
    assert_true(fm_distserve_eval(&e->ds, &big, 1) < 0);   /* the polynomial itself */
    fm_fits_free(g);
    assert_true(fm_latency_step(l, &big, 1, &bd) == 0 && bd.total == 0);
    fm_latency_free(l);
    unlink(path);
}

/* The profile model: layers x the interpolated table, plus head, attention and overhead. */
static void test_profile_model(void **state)
{
    char *path = temp_file("fits:\n  - {accelerator: H100-SXM, model: llama-2-7b, tp: 1, "
                           "form: profile, tokens: [1, 100, 1000], layer_ms: [0.2, 0.25, 0.7]}\n");
    const fm_accel *a = accel("H100-SXM");
    const fm_llm *m = llm("llama-2-7b");
    fm_latency *p, *r;
    assert_int_equal(fm_latency_new_with("profile", a, m, 1, path, &p, NULL), 0);
    assert_int_equal(fm_latency_new("roofline", a, m, 1, &r, NULL), 0);
    fm_seq_work s[2] = {{549, 0}, {1, 2000}};
    fm_step_breakdown bp, br;
    double t = fm_latency_step(p, s, 2, &bp);
    fm_latency_step(r, s, 2, &br);
    double layers = 32 * 0.45e-3; /* 550 tokens: halfway between 100 and 1000 */
    assert_true(t > layers + a->step_overhead);
    assert_true(t < layers + a->step_overhead + 0.2 * br.total); /* head + attention: small */
    assert_true(rel(bp.overhead, a->step_overhead) < 1e-12);
    fm_seq_work big = {4000, 0}; /* beyond the table: extrapolated along the last segment */
    assert_true(fm_latency_step(p, &big, 1, NULL) > 32 * 2.2e-3);
    fm_latency_free(p);
    fm_latency_free(r);
    unlink(path);
}

/* --------------------------------------------------------- readers and drivers */

static void test_batch_parse(void **state)
{
    fm_seq_work *s;
    size_t n;
    char *err = NULL;
    assert_int_equal(fm_batch_parse(" 1x512@0  3x1@1024 ", "here", &s, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(s[0].new_tokens, 512);
    assert_int_equal(s[3].context, 1024);
    free(s);
    static const char *const bad[] = {"", "1x512", "0x1@1", "1x1@1,2x1@1", "ax1@1", "1x0@5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(fm_batch_parse(bad[i], "f.csv:3", &s, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "f.csv:3"));
        free(err);
    }
}

/* A step CSV written from known coefficients: fm_calib_steps recovers them. */
static void test_calib_steps(void **state)
{
    const fm_accel *a = accel("A100-80GB");
    fm_scaled_ctx *ctx;
    assert_int_equal(fm_scaled_ctx_new(a, llm("llama-3.1-8b"), 1, NULL, &ctx, NULL), 0);
    fm_scaled_coef truth;
    fm_scaled_roofline_coef(ctx, a, &truth);
    truth.lin_flops = 1.7, truth.lin_bytes = 1.3, truth.attn_bytes = 1.6, truth.step_s = 3e-3;
    char *csv = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&csv, &len);
    fprintf(m, "accelerator,model,tp,batch,step_ms\n");
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int i = 0; i < 150; i++) {
        bool pre = gsl_rng_uniform(r) < 0.4; /* a 700-token prompt chunk beside the decodes */
        unsigned long dec = 1 + gsl_rng_uniform_int(r, 200);
        unsigned long ctxlen = 1 + gsl_rng_uniform_int(r, 3000);
        fm_seq_work *all = malloc((dec + 1) * sizeof *all);
        size_t n = 0;
        if (pre)
            all[n++] = (fm_seq_work){700, 0};
        for (unsigned long d = 0; d < dec; d++)
            all[n++] = (fm_seq_work){1, (uint32_t)ctxlen};
        fm_step_terms t;
        fm_scaled_terms(ctx, all, n, &t);
        fprintf(m, "A100-80GB,llama-3.1-8b,1,%s%lux1@%lu,%.9g\n", pre ? "1x700@0 " : "", dec,
                ctxlen, fm_scaled_eval(&truth, &t, NULL) * 1e3);
        free(all);
    }
    fprintf(m, "A100-80GB,llama-3.1-8b,1,1x0@1,1\n");
    fclose(m);
    char *path = temp_file(csv), *err = NULL;
    fm_fits *f = fm_fits_new();
    unsigned mask = FM_FIT_STEP | FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES | FM_FIT_ATTN_BYTES;
    assert_int_equal(fm_calib_steps(path, cat, mask, f, &err), -EINVAL); /* 1x0@1: bad */
    assert_non_null(strstr(err, ":152: expected a batch"));
    free(err);
    *strstr(csv, "A100-80GB,llama-3.1-8b,1,1x0@1,1\n") = '\0';
    unlink(path);
    path = temp_file(csv);
    assert_int_equal(fm_calib_steps(path, cat, mask, f, &err), 0);
    assert_int_equal(f->n, 1);
    const fm_scaled_coef *k = &f->e[0].scaled;
    assert_true(rel(k->lin_flops, 1.7) < 0.01 && rel(k->lin_bytes, 1.3) < 0.01);
    assert_true(rel(k->attn_bytes, 1.6) < 0.01 && rel(k->step_s, 3e-3) < 0.01);
    assert_true(f->e[0].q.n_held == 30 && f->e[0].q.held_max_pct < 0.1);
    fm_fits_free(f);
    unlink(path);
    free(csv);
    gsl_rng_free(r);
    fm_scaled_ctx_free(ctx);
}

/* ------------------------------------------------------------- measured data */

/* Held-out rows of one vidur profile: the model's median |error| at each TP, computed
 * through the fit-file entries that calibration wrote (not the fit's own report). */
static void check_vidur(const char *file, const char *an, const char *mn)
{
    char path[1024], *err = NULL;
    snprintf(path, sizeof path, CALIB "%s", file);
    need(path);
    const fm_accel *a = accel(an);
    const fm_llm *m = llm(mn);
    fm_fits *f = fm_fits_new();
    assert_int_equal(fm_calib_vidur_mlp(path, a, m, f, &err), 0);
    fm_mlp_row *rows;
    size_t n;
    fm_vidur_shape shape;
    assert_int_equal(fm_vidur_mlp_read(path, &rows, &n, &shape, NULL), 0);
    for (int tp = 1; tp <= 8; tp *= 2) {
        const fm_fit_entry *s = fm_fits_find(f, 1u << FM_FORM_SCALED, an, mn, tp);
        const fm_fit_entry *p = fm_fits_find(f, 1u << FM_FORM_PROFILE, an, mn, tp);
        assert_non_null(s);
        assert_non_null(p);
        fm_scaled_ctx *ctx;
        assert_int_equal(fm_scaled_ctx_new(a, m, tp, NULL, &ctx, NULL), 0);
        double es[1024], ep[1024], med_s, med_p;
        size_t k = 0, h = 0;
        for (size_t i = 0; i < n; i++) {
            if (rows[i].tp != tp || !fm_fit_held_out(k++))
                continue;
            fm_step_terms t;
            fm_scaled_layer_terms(ctx, rows[i].tokens, &t);
            fm_scaled_coef c = s->scaled;
            c.step_s = c.seq_s = 0;
            es[h] = 100 * (fm_scaled_eval(&c, &t, NULL) / rows[i].layer_s - 1);
            ep[h++] = 100 * (fm_profile_interp(p, rows[i].tokens) / rows[i].layer_s - 1);
        }
        fm_pct_stats(es, h, &med_s, NULL, NULL);
        fm_pct_stats(ep, h, &med_p, NULL, NULL);
        printf("# %s tp %d: %zu held-out rows, median error fitted %.2f %%, profile %.2f %%\n",
               file, tp, h, med_s, med_p);
        assert_true(h >= 50 && med_s < 10 && med_p < 10);
        fm_scaled_ctx_free(ctx);
    }
    free(rows);
    fm_fits_free(f);
}

static void test_vidur_mlp_held_out(void **state)
{
    check_vidur("compute__h100__meta-llama__Llama-2-7b-hf__mlp.csv", "H100-SXM", "llama-2-7b");
    check_vidur("compute__h100__meta-llama__Llama-2-70b-hf__mlp.csv", "H100-SXM", "llama-2-70b");
    check_vidur("compute__a100__meta-llama__Llama-2-7b-hf__mlp.csv", "A100-80GB", "llama-2-7b");
    check_vidur("compute__a100__meta-llama__Llama-2-70b-hf__mlp.csv", "A100-80GB",
                "llama-2-70b");
    check_vidur("compute__a100__meta-llama__Meta-Llama-3-8B__mlp.csv", "A100-80GB",
                "llama-3.1-8b");
}

/* The fitted model, built through the registry from a written fit file, against
 * DistServe's own predictions on held-out synthetic batches. */
static void test_distserve_within_5pct(void **state)
{
    const char *src = CALIB "profiler-a100-80g.distserve.json";
    need(src);
    const fm_accel *a = accel("A100-80GB");
    fm_fits *f = fm_fits_new();
    size_t skipped;
    char *err = NULL;
    assert_int_equal(fm_calib_distserve(src, cat, a, FM_FORM_SCALED, 300, 7, f, &skipped, &err),
                     0);
    assert_int_equal(skipped, 0);
    assert_int_equal(f->n, 7);
    char path[] = "/tmp/fleetsim-calib-ds-XXXXXX";
    FILE *o = fdopen(mkstemp(path), "w");
    assert_int_equal(fm_fits_write(f, o, NULL), 0);
    fclose(o);
    fm_distserve_row *rows;
    size_t nrows;
    assert_int_equal(fm_distserve_read(src, &rows, &nrows, NULL), 0);
    for (size_t r = 0; r < nrows; r++) {
        fm_latency *l;
        const fm_llm *m = llm(strrchr(rows[r].model, '/') + 1);
        assert_int_equal(fm_latency_new_with("fitted", a, m, rows[r].tp, path, &l, &err), 0);
        double pct[100], med;
        size_t h = 0;
        for (size_t i = 4; i < 500; i += 5) { /* held out, beyond the 300 fitted */
            fm_seq_work s[256];
            size_t n = fm_distserve_batch(7, i, s, 256);
            pct[h++] = 100 * (fm_latency_step(l, s, n, NULL) / fm_distserve_eval(&rows[r].c, s, n)
                              - 1);
        }
        fm_pct_stats(pct, h, &med, NULL, NULL);
        printf("# DistServe %s tp %d: median error %.2f %% on %zu batches\n", rows[r].model,
               rows[r].tp, med, h);
        assert_true(med < 5);
        fm_latency_free(l);
    }
    free(rows);
    fm_fits_free(f);
    unlink(path);
}

/* Imported as-is, the distserve form is DistServe's formula itself. */
static void test_distserve_import_exact(void **state)
{
    const char *src = CALIB "profiler-a100-80g.distserve.json";
    need(src);
    fm_fits *f = fm_fits_new();
    assert_int_equal(fm_calib_distserve(src, cat, accel("A100-80GB"), FM_FORM_DISTSERVE, 0, 0, f,
                                        NULL, NULL), 0);
    const fm_fit_entry *e = fm_fits_find(f, 1u << FM_FORM_DISTSERVE, "A100-80GB", "opt-13b", 1);
    assert_non_null(e);
    fm_seq_work pre[2] = {{1000, 0}, {500, 0}}, dec = {1, 999};
    double want = 18.10254647486372 + 0.1019122572698738 * 1500 +
                  7.122264314252114e-06 * (1e6 + 2.5e5);
    assert_true(rel(fm_distserve_eval(&e->ds, pre, 2), want / 1e3) < 1e-12);
    want = 19.934702624895458 + 0.0006269356524350583 * 1000 + 0.03850697740828398;
    assert_true(rel(fm_distserve_eval(&e->ds, &dec, 1), want / 1e3) < 1e-12);
    fm_fits_free(f);
}

static void test_vidur_network(void **state)
{
    const char *src = CALIB "network__h100_dgx__all_reduce.csv";
    need(src);
    fm_fits *f = fm_fits_new();
    fm_fit_quality q;
    assert_int_equal(fm_calib_vidur_net(src, "H100-SXM", f, &q, NULL), 0);
    const fm_collectives *c = fm_fits_coll(f, "H100-SXM");
    assert_non_null(c);
    assert_int_equal(c->n, 3);
    /* 64 MiB across 8 H100s measured at 0.32 ms; NVLink4 in-node: > 100 GB/s */
    double t = fm_coll_time(c, FM_COLL_ALL_REDUCE, 8, true, 67108864);
    assert_true(t > 0.25e-3 && t < 0.4e-3);
    assert_true(q.held_median_pct < 10);
    fm_fits_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaled_is_roofline),
        cmocka_unit_test(test_scaled_eval_parts),
        cmocka_unit_test(test_mask_names),
        cmocka_unit_test(test_scaled_fit_recovers),
        cmocka_unit_test(test_coll_time),
        cmocka_unit_test(test_coll_fit_recovers),
        cmocka_unit_test(test_kv_link),
        cmocka_unit_test(test_roofline_uses_fitted_comm),
        cmocka_unit_test(test_fits_roundtrip),
        cmocka_unit_test(test_fits_errors),
        cmocka_unit_test(test_fits_cache),
        cmocka_unit_test(test_fitted_model_lookup),
        cmocka_unit_test(test_distserve_never_negative),
        cmocka_unit_test(test_profile_model),
        cmocka_unit_test(test_batch_parse),
        cmocka_unit_test(test_calib_steps),
        FS_SHARED_TEST(test_vidur_mlp_held_out),
        FS_SHARED_TEST(test_distserve_within_5pct),
        FS_SHARED_TEST(test_distserve_import_exact),
        FS_SHARED_TEST(test_vidur_network),
    };
    return cmocka_run_group_tests_name("calib", tests, load_catalog, free_catalog);
}
