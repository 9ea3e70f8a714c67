/*
 * test_traces_gen.c: cmocka tests of the workload generator's processes and shapes:
 * each arrival process and length distribution against its parameters (mean, CV and
 * quantiles against GSL's inverse CDFs, over 10^5 draws under a fixed seed), class
 * mixtures, shared-prefix users, RAG documents by popularity, multi-turn sessions and
 * agentic loops (prefix structure and release times), and the ServeGen loaders.
 * Tolerances are several standard errors wide, so the fixed seeds are not tuned.
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

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "ft_workload.h"

#define SHARED(name) TOP_SRCDIR "/../shared/data/traces/" name
#define N 100000

static double gaps[N], lens[N];

static ft_gen_config config(ft_arrival a)
{
    ft_gen_config c = { .seed = 11, .arrival = a, .max_requests = N };
    c.input = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 10 };
    c.output = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 1 };
    return c;
}

static ft_source *gen_ok(const ft_gen_config *c)
{
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_gen_new(c, &s, &err) != 0)
        fail_msg("ft_gen_new: %s", err ? err : "(no message)");
    return s;
}

/* Gaps (seconds, the first from 0) and input lengths of up to N requests. */
static size_t sample(const ft_gen_config *c)
{
    ft_source *s = gen_ok(c);
    ft_request r;
    char *err = NULL;
    size_t n = 0;
    int64_t prev = 0;
    while (n < N && ft_source_next(s, &r, &err) == 1) {
        assert_true(r.arrival_ns >= prev);
        gaps[n] = (r.arrival_ns - prev) / 1e9;
        lens[n++] = r.input_tokens;
        prev = r.arrival_ns;
    }
    assert_null(err);
    ft_source_free(s);
    return n;
}

/* Empirical quantiles of x (sorted in place) against an inverse CDF, relative tolerance. */
static void check_quantiles(double *x, size_t n, double (*pinv)(double, double, double),
                            double a, double b, double tol)
{
    static const double ps[] = { 0.1, 0.25, 0.5, 0.75, 0.9 };
    gsl_sort(x, 1, n);
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
        double q = gsl_stats_quantile_from_sorted_data(x, 1, n, ps[i]), want = pinv(ps[i], a, b);
        if (fabs(q / want - 1) > tol)
            fail_msg("quantile %.2f: %g, expected %g", ps[i], q, want);
    }
}

static double exp_pinv(double p, double mu, double unused)
{
    (void)unused;
    return gsl_cdf_exponential_Pinv(p, mu);
}

/* ---------------------------------------------------------------- arrivals */

static void test_poisson_and_gamma_shapes(void **state)
{
    (void)state;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 8 });
    size_t n = sample(&c);
    assert_true(fabs(gsl_stats_mean(gaps, 1, n) * 8 - 1) < 0.015);
    check_quantiles(gaps, n, exp_pinv, 1.0 / 8, 0, 0.03);
    c.arrival = (ft_arrival){ .kind = FT_ARR_GAMMA, .rate = 4, .cv = 2 };
    n = sample(&c);
    double k = 1 / 4.0;                                   /* shape 1/cv^2, scale 1/(rate k) */
    assert_true(fabs(gsl_stats_mean(gaps, 1, n) * 4 - 1) < 0.03);
    check_quantiles(gaps, n, gsl_cdf_gamma_Pinv, k, 1 / (4 * k), 0.05);
}

static void check_weibull(double rate, double cv)
{
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_WEIBULL, .rate = rate, .cv = cv });
    size_t n = sample(&c);
    double m = gsl_stats_mean(gaps, 1, n), sd = gsl_stats_sd_m(gaps, 1, n, m);
    if (fabs(m * rate - 1) > 0.03 || fabs(sd / m / cv - 1) > 0.06)
        fail_msg("weibull rate %g cv %g: mean gap %g, cv %g", rate, cv, m, sd / m);
    /* the shape from cv, the scale from the mean: check the whole distribution */
    double k = 1, lo = 0.05, hi = 50;
    for (int i = 0; i < 200; i++) {                       /* independent bisection */
        k = sqrt(lo * hi);
        double c2 = exp(gsl_sf_lngamma(1 + 2 / k) - 2 * gsl_sf_lngamma(1 + 1 / k)) - 1;
        if (c2 > cv * cv)
            lo = k;
        else
            hi = k;
    }
    double scale = 1 / (rate * gsl_sf_gamma(1 + 1 / k));
    check_quantiles(gaps, n, gsl_cdf_weibull_Pinv, scale, k, 0.05);
}

static void test_weibull(void **state)
{
    (void)state;
    check_weibull(5, 2.5);
    check_weibull(20, 0.5);
    check_weibull(1, 1);
}

/* Counts in 1 s bins: an on/off process is overdispersed against Poisson. */
static void test_onoff(void **state)
{
    (void)state;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_ONOFF, .rate = 40, .off_rate = 2,
                                           .on_s = 1, .off_s = 3 });
    size_t n = sample(&c);
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += gaps[i];
    double want = (40 * 1 + 2 * 3) / 4.0;                 /* 11.5 requests/s */
    assert_true(fabs(n / t / want - 1) < 0.07);           /* ~4 sd over ~2,200 cycles */
    static double bins[20000];
    size_t nb = (size_t)t < 20000 ? (size_t)t : 20000;
    memset(bins, 0, sizeof bins);
    double at = 0;
    for (size_t i = 0; i < n; i++)
        if ((at += gaps[i]) < nb)
            bins[(size_t)at]++;
    double m = gsl_stats_mean(bins, 1, nb), v = gsl_stats_variance_m(bins, 1, nb, m);
    assert_true(v / m > 5);                               /* Poisson: 1 */
}

static void test_diurnal(void **state)
{
    (void)state;
    double rate = 50, amp = 0.8, period = 400, peak = 100;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_DIURNAL, .rate = rate,
                                           .amplitude = amp, .period_s = period, .peak_s = peak });
    size_t n = sample(&c);
    enum { BINS = 20 };
    double count[BINS] = { 0 }, at = 0, w = period / BINS;
    size_t periods = 0;
    for (size_t i = 0; i < n; i++) {
        at += gaps[i];
        if (at >= 4 * period)
            break;
        count[(size_t)(fmod(at, period) / w)]++;
        periods = (size_t)(at / period) + 1;
    }
    assert_int_equal(periods, 4);
    for (int b = 0; b < BINS; b++) {                      /* integral of the rate per bin */
        double t0 = b * w, t1 = t0 + w, k = 2 * M_PI / period;
        double want = 4 * rate * (w + amp / k * (sin(k * (t1 - peak)) - sin(k * (t0 - peak))));
        if (fabs(count[b] - want) > 5 * sqrt(want))
            fail_msg("bin %d: %g arrivals, expected %g", b, count[b], want);
    }
}

static void test_windows(void **state)
{
    (void)state;
    static const ft_rate_window w[] = {
        { 0, 20, 3, FT_FAM_GAMMA }, { 1000, 0, 0, FT_FAM_EXPONENTIAL },
        { 2000, 10, 0.5, FT_FAM_WEIBULL }, { 3000, 5, 0, FT_FAM_EXPONENTIAL },
    };
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_WINDOWS, .windows = w, .nwindows = 4,
                                           .window_s = 1000 });
    c.max_requests = 0;                                   /* the windows end it */
    size_t n = sample(&c);
    double at = 0, cnt[4] = { 0 };
    static double in0[N];
    size_t k0 = 0;
    for (size_t i = 0; i < n; i++) {
        at += gaps[i];
        assert_true(at < 4000);
        cnt[(size_t)(at / 1000)]++;
        if (at < 1000 && i > 0)
            in0[k0++] = gaps[i];
    }
    assert_true(fabs(cnt[0] / 20000 - 1) < 0.08);
    assert_true(cnt[1] == 0);
    assert_true(fabs(cnt[2] / 10000 - 1) < 0.03);
    assert_true(fabs(cnt[3] / 5000 - 1) < 0.06);
    double m = gsl_stats_mean(in0, 1, k0);
    assert_true(fabs(gsl_stats_sd_m(in0, 1, k0, m) / m / 3 - 1) < 0.15);
    c.arrival.rate = 0.5;                                 /* rate multiplier */
    n = sample(&c);
    assert_true(fabs(n / 17500.0 - 1) < 0.06);
}

static void test_servegen_windows(void **state)
{
    (void)state;
    const char *path = SHARED("servegen/language__m-large__chunk-0-trace.csv");
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("# skipped: %s is absent\n", path);
        skip();
    }
    fclose(f);
    ft_rate_window *w;
    size_t n;
    char *err = NULL;
    assert_int_equal(ft_servegen_windows(path, &w, &n, &err), 0);
    assert_int_equal(n, 2016);
    assert_true(w[0].start_s == 0 && fabs(w[0].rate - 1.3316666666666668) < 1e-15);
    assert_int_equal(w[0].family, FT_FAM_WEIBULL);
    assert_int_equal(w[3].family, FT_FAM_GAMMA);
    assert_true(w[1].rate == 0);
    double expect = 0;                                    /* the first day's requests */
    for (size_t i = 0; i < 144; i++)
        expect += w[i].rate * 600;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_WINDOWS, .windows = w, .nwindows = 144 });
    c.max_requests = 0;
    size_t got = sample(&c);
    assert_true(fabs(got / expect - 1) < 0.1);
    free(w);
    assert_int_equal(ft_servegen_windows(SHARED("mooncake_synthetic_trace.jsonl"), &w, &n, &err),
                     -EINVAL);
    assert_non_null(strstr(err, "mooncake_synthetic_trace.jsonl:1: "));
    free(err);
}

/* ---------------------------------------------------------------- lengths */

static double lognormal_pinv(double p, double m, double s)
{
    double s2 = log1p(s * s / (m * m));
    return gsl_cdf_lognormal_Pinv(p, log(m) - s2 / 2, sqrt(s2));
}

static void test_length_shapes(void **state)
{
    (void)state;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 1 });
    c.input = (ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 2000, .sd = 1500 };
    size_t n = sample(&c);
    double m = gsl_stats_mean(lens, 1, n);
    assert_true(fabs(m / 2000 - 1) < 0.02);
    assert_true(fabs(gsl_stats_sd_m(lens, 1, n, m) / 1500 - 1) < 0.05);
    check_quantiles(lens, n, lognormal_pinv, 2000, 1500, 0.02);
    c.input = (ft_dist){ .kind = FT_DIST_NORMAL, .mean = 500, .sd = 50 };
    n = sample(&c);
    m = gsl_stats_mean(lens, 1, n);
    assert_true(fabs(m - 500) < 1);
    assert_true(fabs(gsl_stats_skew(lens, 1, n)) < 0.05);          /* symmetric */
    assert_true(fabs(gsl_stats_kurtosis(lens, 1, n)) < 0.1);       /* excess 0 */
}

/* Frequencies of an empirical distribution: chi-square against its weights. */
static void test_empirical(void **state)
{
    (void)state;
    static const double v[] = { 10, 20, 30, 4000 }, w[] = { 1, 2, 1, 0.5 };
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 1 });
    c.input = (ft_dist){ .kind = FT_DIST_EMPIRICAL, .values = v, .weights = w, .nvalues = 4 };
    size_t n = sample(&c);
    double count[4] = { 0 }, chi2 = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < 4 && lens[i] != v[k])
            k++;
        assert_true(k < 4);
        count[k]++;
    }
    for (int k = 0; k < 4; k++) {
        double e = n * w[k] / 4.5;
        chi2 += (count[k] - e) * (count[k] - e) / e;
    }
    assert_true(gsl_cdf_chisq_Q(chi2, 3) > 0.001);
    c.input.hi = 1000;                                    /* clamps apply */
    n = sample(&c);
    assert_true(gsl_stats_max(lens, 1, n) == 1000);
}

static void test_servegen_pmf(void **state)
{
    (void)state;
    const char *path = SHARED("servegen/reason__deepseek-r1__chunk-0-dataset.json");
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("# skipped: %s is absent\n", path);
        skip();
    }
    fclose(f);
    double *v, *w;
    size_t k;
    char *err = NULL;
    assert_int_equal(ft_servegen_pmf(path, "input_tokens", "0", &v, &w, &k, &err), 0);
    assert_true(v[0] == 45 && fabs(w[0] - 0.009666283084004603) < 1e-18);
    double mean = 0, total = 0;
    for (size_t i = 0; i < k; i++) {
        mean += v[i] * w[i];
        total += w[i];
        assert_true(i == 0 || v[i] > v[i - 1]);
    }
    mean /= total;
    assert_true(fabs(total - 1) < 1e-6);
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 1 });
    c.input = (ft_dist){ .kind = FT_DIST_EMPIRICAL, .values = v, .weights = w, .nvalues = k };
    size_t n = sample(&c);
    assert_true(fabs(gsl_stats_mean(lens, 1, n) / mean - 1) < 0.02);
    free(v);
    free(w);
    assert_int_equal(ft_servegen_pmf(path, "output_tokens", NULL, &v, &w, &k, &err), 0);
    total = 0;
    for (size_t i = 0; i < k; i++)
        total += w[i];
    assert_true(fabs(total - 1) < 1e-6);                  /* the average of 4 windows */
    free(v);
    free(w);
    assert_int_equal(ft_servegen_pmf(path, "nope", "0", &v, &w, &k, &err), -EINVAL);
    assert_non_null(strstr(err, "expected a string \"nope\" in window 0"));
    free(err);
}

/* ---------------------------------------------------------------- prompt shapes */

static ft_class plain_class(double weight, int prio, double in, double out)
{
    ft_class k;
    memset(&k, 0, sizeof k);
    k.weight = weight;
    k.priority = prio;
    k.input = (ft_dist){ .kind = FT_DIST_FIXED, .mean = in };
    k.output = (ft_dist){ .kind = FT_DIST_FIXED, .mean = out };
    return k;
}

static void test_mixture(void **state)
{
    (void)state;
    ft_class k[3] = { plain_class(6, 0, 100, 10), plain_class(3, 2, 200, 20),
                      plain_class(1, -1, 300, 30) };
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 5 });
    c.classes = k;
    c.nclasses = 3;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    double cnt[3] = { 0 };
    while (ft_source_next(s, &r, &err) == 1) {
        assert_in_range(r.cls, 0, 2);
        assert_int_equal(r.input_tokens, 100 * (r.cls + 1));
        assert_int_equal(r.priority, k[r.cls].priority);
        cnt[r.cls]++;
    }
    ft_source_free(s);
    double chi2 = 0;
    for (int i = 0; i < 3; i++) {
        double e = N * k[i].weight / 10;
        chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    }
    assert_true(gsl_cdf_chisq_Q(chi2, 2) > 0.001);
}

/* llm-d's shared-prefix shape: N groups x M users, each user's question fixed. */
static void test_prefix_users(void **state)
{
    (void)state;
    ft_class k = plain_class(1, 0, 0, 5);
    k.input = (ft_dist){ .kind = FT_DIST_UNIFORM, .lo = 20, .hi = 80 };
    k.prefix_tokens = 500;
    k.prefix_groups = 4;
    k.prefix_users = 8;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 5 });
    c.classes = &k;
    c.nclasses = 1;
    c.max_requests = 5000;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    uint64_t q[64];
    uint32_t qlen[64];
    size_t nq = 0;
    while (ft_source_next(s, &r, &err) == 1) {
        assert_int_equal(r.nsegs, 2);
        assert_int_equal(r.segs[0].len, 500);
        size_t i = 0;
        while (i < nq && q[i] != r.segs[1].content)
            i++;
        if (i == nq) {
            assert_true(nq < 32);                         /* at most 4 x 8 questions */
            q[nq] = r.segs[1].content;
            qlen[nq++] = r.segs[1].len;
        }
        assert_int_equal(r.segs[1].len, qlen[i]);         /* a user's question is fixed */
    }
    assert_int_equal(nq, 32);
    ft_source_free(s);
}

/* Documents by Zipf popularity: rank r drawn ~ 1/r^s, distinct within a prompt. */
static void test_rag(void **state)
{
    (void)state;
    ft_class k = plain_class(1, 0, 30, 5);
    k.rag = (ft_rag){ .on = true, .documents = 50, .per_request = 3, .zipf_s = 1.2,
                      .doc_tokens = { .kind = FT_DIST_UNIFORM, .lo = 100, .hi = 900 } };
    k.prefix_tokens = 64;
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 5 });
    c.classes = &k;
    c.nclasses = 1;
    c.max_requests = 20000;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    static uint64_t id[50];
    static uint32_t len[50];
    static double first[50];
    size_t nd = 0;
    while (ft_source_next(s, &r, &err) == 1) {
        assert_int_equal(r.nsegs, 5);                     /* prefix, 3 documents, question */
        uint32_t sum = 0;
        for (uint32_t j = 0; j < r.nsegs; j++)
            sum += r.segs[j].len;
        assert_int_equal(r.input_tokens, sum);
        for (int j = 1; j <= 3; j++) {
            size_t d = 0;
            while (d < nd && id[d] != r.segs[j].content)
                d++;
            if (d == nd) {
                assert_true(nd < 50);
                id[nd] = r.segs[j].content;
                len[nd++] = r.segs[j].len;
            }
            assert_int_equal(r.segs[j].len, len[d]);      /* a document's length is fixed */
            for (int o = 1; o < j; o++)
                assert_true(r.segs[o].content != r.segs[j].content);
            if (j == 1)
                first[d]++;
        }
    }
    ft_source_free(s);
    gsl_sort(first, 1, 50);                               /* most popular first documents */
    double top = first[49], second = first[48];
    assert_true(top / second > 1.5 && top / second < 3.5);   /* 2^1.2 = 2.3 */
}

/* Sessions: each turn extends the last prompt with its response and a new message. */
static void test_sessions(void **state)
{
    (void)state;
    ft_class k = plain_class(1, 3, 50, 40);
    k.prefix_tokens = 100;
    k.session = (ft_session){ .on = true, .turns = { .kind = FT_DIST_FIXED, .mean = 5 },
                              .think_s = { .kind = FT_DIST_FIXED, .mean = 2 },
                              .ttft_s = 0.5, .tpot_s = 0.01 };
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 0.5 });
    c.classes = &k;
    c.nclasses = 1;
    c.max_requests = 20000;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    enum { MAXS = 5000 };
    static int turns[MAXS];
    static int64_t last_t[MAXS];
    static uint64_t last_out[MAXS];
    static uint32_t last_in[MAXS];
    int64_t prev = 0;
    uint64_t maxid = 0;
    while (ft_source_next(s, &r, &err) == 1) {
        assert_true(r.arrival_ns >= prev);
        prev = r.arrival_ns;
        assert_true(r.session > 0 && r.session < MAXS);
        assert_int_equal(r.priority, 3);
        assert_true(r.output_content != 0);
        uint64_t id = r.session;
        maxid = id > maxid ? id : maxid;
        int t = turns[id]++;
        assert_int_equal(r.nsegs, 2 + 2 * t);             /* prefix, (msg, answer) x t, msg */
        assert_int_equal(r.input_tokens, 150 + 90 * t);
        if (t > 0) {                                      /* the previous answer is named */
            assert_true(r.segs[2 * t].content == last_out[id]);
            assert_int_equal(r.segs[2 * t].len, 40);
            assert_int_equal(r.arrival_ns - last_t[id], INT64_C(2900000000));
            assert_int_equal(r.input_tokens, last_in[id] + 40 + 50);
        }
        last_t[id] = r.arrival_ns;
        last_out[id] = r.output_content;
        last_in[id] = r.input_tokens;
    }
    ft_source_free(s);
    for (uint64_t id = 1; id + 10 < maxid; id++)          /* all but the last few finished */
        assert_int_equal(turns[id], 5);
}

/* Agentic loops: many short calls over a growing context, ended by max_context. */
static void test_agent_loop(void **state)
{
    (void)state;
    ft_class k = plain_class(1, 0, 3000, 30);
    k.session = (ft_session){ .on = true, .turns = { .kind = FT_DIST_FIXED, .mean = 100 },
                              .think_s = { .kind = FT_DIST_UNIFORM, .lo = 0.5, .hi = 1.5 },
                              .followup = { .kind = FT_DIST_FIXED, .mean = 200 },
                              .ttft_s = 0.1, .tpot_s = 0.02, .max_context = 8000 };
    ft_gen_config c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 0.2 });
    c.classes = &k;
    c.nclasses = 1;
    c.max_requests = 5000;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    static int turns[5000];
    uint64_t maxid = 0;
    while (ft_source_next(s, &r, &err) == 1) {
        assert_true(r.input_tokens <= 8000);
        int t = turns[r.session]++;
        assert_int_equal(r.input_tokens, 3000 + 230 * t); /* tool results of 200 tokens */
        maxid = r.session > maxid ? r.session : maxid;
    }
    ft_source_free(s);
    for (uint64_t id = 1; id + 20 < maxid; id++)          /* (8000 - 3000) / 230 + 1 calls */
        assert_int_equal(turns[id], 22);
}

static void test_bad_configs(void **state)
{
    (void)state;
    static const double v[] = { 1, 2 }, w0[] = { 0, 0 };
    static const ft_rate_window unsorted[] = { { 10, 1, 1, FT_FAM_GAMMA }, { 5, 1, 1, FT_FAM_GAMMA } };
    ft_class k = plain_class(1, 0, 10, 1), bad;
    struct { ft_gen_config c; const char *msg; } cases[8];
    for (int i = 0; i < 8; i++)
        cases[i].c = config((ft_arrival){ .kind = FT_ARR_POISSON, .rate = 1 });
    cases[0].c.arrival = (ft_arrival){ .kind = FT_ARR_WEIBULL, .rate = 1 };
    cases[0].msg = "arrival.cv: a weibull process needs a finite cv > 0";
    cases[1].c.arrival = (ft_arrival){ .kind = FT_ARR_ONOFF, .rate = 1, .on_s = 1 };
    cases[1].msg = "an onoff process needs on > 0 s, off > 0 s";
    cases[2].c.arrival = (ft_arrival){ .kind = FT_ARR_DIURNAL, .rate = 1, .amplitude = 1.5 };
    cases[2].msg = "amplitude in [0, 1]";
    cases[3].c.arrival = (ft_arrival){ .kind = FT_ARR_WINDOWS, .windows = unsorted, .nwindows = 2 };
    cases[3].msg = "arrival.windows[1]: expected windows in increasing order";
    cases[4].c.input = (ft_dist){ .kind = FT_DIST_EMPIRICAL, .values = v, .weights = w0, .nvalues = 2 };
    cases[4].msg = "input.weights: expected a positive total weight";
    bad = k;
    bad.weight = 0;
    cases[5].c.classes = &bad;
    cases[5].c.nclasses = 1;
    cases[5].msg = "classes[0].weight: expected a finite weight > 0";
    static ft_class rag;
    rag = k;
    rag.rag = (ft_rag){ .on = true, .documents = 2, .per_request = 3, .doc_tokens = { .mean = 5 } };
    cases[6].c.classes = &rag;
    cases[6].c.nclasses = 1;
    cases[6].msg = "classes[0].rag: expected 1 <= per_request <= min(documents, 1024)";
    static ft_class ses;
    ses = k;
    ses.session = (ft_session){ .on = true, .turns = { .mean = 0 } };
    cases[7].c.classes = &ses;
    cases[7].c.nclasses = 1;
    cases[7].msg = "classes[0].session.turns.mean: a fixed length must be >= 1";
    for (int i = 0; i < 8; i++) {
        ft_source *s = NULL;
        char *err = NULL;
        assert_int_equal(ft_gen_new(&cases[i].c, &s, &err), -EINVAL);
        assert_null(s);
        if (!err || !strstr(err, cases[i].msg))
            fail_msg("case %d: '%s' lacks '%s'", i, err ? err : "(null)", cases[i].msg);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisson_and_gamma_shapes),
        cmocka_unit_test(test_weibull),
        cmocka_unit_test(test_onoff),
        cmocka_unit_test(test_diurnal),
        cmocka_unit_test(test_windows),
        FS_SHARED_TEST(test_servegen_windows),
        cmocka_unit_test(test_length_shapes),
        cmocka_unit_test(test_empirical),
        FS_SHARED_TEST(test_servegen_pmf),
        cmocka_unit_test(test_mixture),
        cmocka_unit_test(test_prefix_users),
        cmocka_unit_test(test_rag),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_agent_loop),
        cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests_name("generator shapes", tests, NULL, NULL);
}
