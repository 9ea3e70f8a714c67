/*
 * test_metrics.c: cmocka tests of request metrics, SLOs, cost and energy (sim/metrics.c).
 *
 * Inputs are small and hand-computable (a handful of requests whose TTFT, TPOT, E2E,
 * cost and energy are worked out in the comments), plus 10,000 samples from an
 * exponential distribution drawn with a fixed-seed PRNG to check that the streaming
 * P^2 quantiles land near the exact order statistics. Output tests check the JSON
 * keys and values, byte-identical printing and that an empty run yields no NaN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "metrics.h"

#define MS INT64_C(1000000)

/* A record with times in ms. */
static fs_req_record rec(uint64_t id, int64_t arr, int64_t sched, int64_t first,
                         int64_t fin, uint32_t in, uint32_t out)
{
    fs_req_record r = {
        .id = id, .arrival = arr * MS, .first_scheduled = sched * MS,
        .first_token = first * MS, .finish = fin * MS,
        .input_tokens = in, .output_tokens = out,
    };
    return r;
}

static void assert_close(double got, double want, double rel)
{
    double tol = rel * fmax(fabs(want), 1e-12);
    if (fabs(got - want) > tol)
        fail_msg("got %.12g, want %.12g (+-%.3g)", got, want, tol);
}

/* --- latency statistics --- */

/* Five requests; TTFTs 100, 200, 300, 400, 1000 ms (mean 400, max 1000). With n <= 5
 * GSL's P^2 is exact interpolation of the sorted data: p50 = 300, p90 at rank 3.6 =
 * 400 + 0.6 x 600 = 760, p99 at rank 3.96 = 976. */
static void test_five_requests_exact(void **state)
{
    (void)state;
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    const int64_t ttft[] = { 100, 200, 300, 400, 1000 };
    for (int i = 0; i < 5; i++) {
        /* arrival 1000 i, queued 10 ms, 11 tokens over 1 s after the first: TPOT 100 ms */
        int64_t a = 1000 * i;
        fs_req_record r = rec((uint64_t)i, a, a + 10, a + ttft[i], a + ttft[i] + 1000,
                              100, 11);
        r.cached_tokens = 25;
        r.preemptions = (uint32_t)i;
        fs_metrics_request(m, &r);
    }
    fs_summary s;
    fs_metrics_summarize(m, NULL, &s);
    assert_int_equal(s.completed, 5);
    assert_int_equal(s.ttft_s.n, 5);
    assert_close(s.ttft_s.mean, 0.4, 1e-12);
    assert_close(s.ttft_s.max, 1.0, 1e-12);
    assert_close(s.ttft_s.p50, 0.3, 1e-12);
    assert_close(s.ttft_s.p90, 0.76, 1e-12);
    assert_close(s.ttft_s.p99, 0.976, 1e-12);
    assert_close(s.tpot_s.mean, 0.1, 1e-12);
    assert_close(s.queue_s.max, 0.010, 1e-12);
    assert_close(s.e2e_s.mean, 1.4, 1e-12);
    assert_close(s.e2e_s.max, 2.0, 1e-12);
    /* makespan from the records: arrival 0 to last finish 4000 + 1000 + 1000 ms */
    assert_close(s.makespan_s, 6.0, 1e-12);
    assert_close(s.throughput_rps, 5 / 6.0, 1e-12);
    assert_close(s.output_tps, 55 / 6.0, 1e-12);
    assert_int_equal(s.input_tokens, 500);
    assert_int_equal(s.cached_tokens, 125);
    assert_close(s.cached_share, 0.25, 1e-12);
    assert_int_equal(s.preemptions, 0 + 1 + 2 + 3 + 4);
    assert_int_equal(s.itl_s.n, 0);
    fs_metrics_free(m);
}

/* TPOT counts only requests with >= 2 output tokens. */
static void test_tpot_skips_single_token(void **state)
{
    (void)state;
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    fs_req_record one = rec(1, 0, 0, 50, 50, 10, 1);
    fs_req_record two = rec(2, 0, 0, 50, 80, 10, 2);    /* TPOT 30 ms */
    fs_req_record five = rec(3, 0, 0, 50, 130, 10, 5);  /* TPOT 20 ms */
    fs_metrics_request(m, &one);
    fs_metrics_request(m, &two);
    fs_metrics_request(m, &five);
    fs_summary s;
    fs_metrics_summarize(m, NULL, &s);
    assert_int_equal(s.ttft_s.n, 3);
    assert_int_equal(s.tpot_s.n, 2);
    assert_close(s.tpot_s.mean, 0.025, 1e-12);
    assert_close(s.tpot_s.max, 0.030, 1e-12);
    fs_metrics_free(m);
}

/* --- P^2 quantiles on a known distribution --- */

static uint64_t rng_state;

static double rng_uniform(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;     /* [0, 1) */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exact quantile of sorted data (same interpolation as GSL). */
static double exact_quantile(const double *sorted, size_t n, double p)
{
    double r = p * (double)(n - 1);
    size_t i = (size_t)r;
    return i + 1 < n ? sorted[i] + (r - (double)i) * (sorted[i + 1] - sorted[i])
                     : sorted[n - 1];
}

/* 10,000 inter-token gaps ~ Exp(mean 20 ms): P^2 within 3% of the exact sample
 * quantiles (and of the distribution's: 20 ln 2, 20 ln 10, 20 ln 100 ms). */
static void test_p2_quantiles_exponential(void **state)
{
    (void)state;
    enum { N = 10000 };
    double *x = malloc(N * sizeof *x);
    assert_non_null(x);
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    rng_state = 7;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        fs_ns gap = (fs_ns)(-log(1 - rng_uniform()) * 20e6);
        x[i] = (double)gap / 1e9;
        sum += x[i];
        fs_metrics_token_gap(m, gap);
    }
    qsort(x, N, sizeof *x, cmp_double);
    fs_summary s;
    fs_metrics_summarize(m, NULL, &s);
    assert_int_equal(s.itl_s.n, N);
    assert_close(s.itl_s.mean, sum / N, 1e-9);
    assert_close(s.itl_s.max, x[N - 1], 0);
    assert_close(s.itl_s.p50, exact_quantile(x, N, 0.50), 0.03);
    assert_close(s.itl_s.p90, exact_quantile(x, N, 0.90), 0.03);
    assert_close(s.itl_s.p99, exact_quantile(x, N, 0.99), 0.03);
    assert_close(s.itl_s.p50, 0.020 * log(2), 0.05);
    assert_close(s.itl_s.p90, 0.020 * log(10), 0.05);
    assert_close(s.itl_s.p99, 0.020 * log(100), 0.05);
    fs_metrics_free(m);
    free(x);
}

/* Summarizing midway changes nothing later: same result as one summary at the end. */
static void test_summarize_is_a_read(void **state)
{
    (void)state;
    fs_metrics *a = fs_metrics_new(NULL), *b = fs_metrics_new(NULL);
    assert_non_null(a);
    assert_non_null(b);
    const int64_t ttft[] = { 70, 10, 40, 90, 20, 60, 30, 80, 50, 100, 5, 95 };
    fs_summary sa, sb;
    for (int i = 0; i < 12; i++) {
        fs_req_record r = rec((uint64_t)i, i, i + 1, i + ttft[i], i + 200, 5, 3);
        fs_metrics_request(a, &r);
        fs_metrics_request(b, &r);
        if (i == 2 || i == 4 || i == 5)
            fs_metrics_summarize(a, NULL, &sa);
    }
    fs_metrics_summarize(a, NULL, &sa);
    fs_metrics_summarize(b, NULL, &sb);
    assert_memory_equal(&sa.ttft_s, &sb.ttft_s, sizeof sa.ttft_s);
    assert_memory_equal(&sa.tpot_s, &sb.tpot_s, sizeof sa.tpot_s);
    fs_metrics_free(a);
    fs_metrics_free(b);
}

/* --- SLOs --- */

/* SLO: TTFT <= 500 ms, TPOT <= 50 ms, p90. Requests (outputs in brackets):
 * A ttft 100, tpot 40 [11] meets; B ttft 600 [11] misses TTFT; C tpot 60 [11] misses
 * TPOT; D ttft 300, one token [1] meets (no TPOT); plus one rejected request.
 * met = 2 of 5 -> attainment 0.4; makespan 10 s -> goodput 0.2 req/s, 1.2 out tok/s. */
static void feed_slo_case(fs_metrics *m)
{
    fs_req_record a = rec(1, 0, 0, 100, 100 + 400, 10, 11);
    fs_req_record b = rec(2, 0, 0, 600, 600 + 400, 10, 11);
    fs_req_record c = rec(3, 0, 0, 100, 100 + 600, 10, 11);
    fs_req_record d = rec(4, 0, 0, 300, 300, 10, 1);
    fs_metrics_request(m, &a);
    fs_metrics_request(m, &b);
    fs_metrics_request(m, &c);
    fs_metrics_request(m, &d);
    fs_metrics_rejected(m);
}

static void test_slo_attainment_goodput(void **state)
{
    (void)state;
    fs_slo slo = { .ttft_s = 0.5, .tpot_s = 0.05, .percentile = 0.9 };
    fs_metrics *m = fs_metrics_new(&slo);
    assert_non_null(m);
    feed_slo_case(m);
    fs_cost_inputs c = { .makespan_s = 10 };
    fs_summary s;
    fs_metrics_summarize(m, &c, &s);
    assert_int_equal(s.completed, 4);
    assert_int_equal(s.rejected, 1);
    assert_true(s.slo.set);
    assert_int_equal(s.slo.met, 2);
    assert_close(s.slo.attainment, 0.4, 1e-12);
    assert_close(s.slo.goodput_rps, 0.2, 1e-12);
    assert_close(s.slo.goodput_output_tps, 1.2, 1e-12);
    /* TTFTs 100,100,300,600: p90 at rank 2.7 = 300 + 0.7 x 300 = 510 ms > 500 */
    assert_close(s.slo.ttft_at_pct_s, 0.510, 1e-12);
    assert_false(s.slo.ttft_ok);
    /* TPOTs 40,40,60: p90 at rank 1.8 = 40 + 0.8 x 20 = 56 ms > 50 */
    assert_close(s.slo.tpot_at_pct_s, 0.056, 1e-12);
    assert_false(s.slo.tpot_ok);
    assert_true(s.slo.e2e_ok);  /* not set */
    assert_false(s.slo.all_ok);
    fs_metrics_free(m);
}

static void test_slo_percentile_met_and_default(void **state)
{
    (void)state;
    fs_slo slo = { .ttft_s = 0.6, .e2e_s = 2.0 };   /* percentile 0 -> 0.99 */
    fs_metrics *m = fs_metrics_new(&slo);
    assert_non_null(m);
    feed_slo_case(m);
    fs_summary s;
    fs_metrics_summarize(m, NULL, &s);
    assert_close(s.slo.target.percentile, 0.99, 0);
    /* every request has TTFT <= 600 and E2E <= 1000 ms: 4 met of 4 + 1 rejected */
    assert_int_equal(s.slo.met, 4);
    assert_close(s.slo.attainment, 0.8, 1e-12);
    assert_close(s.slo.ttft_at_pct_s, 0.300 + 0.97 * 0.300, 1e-12); /* rank 2.97 */
    assert_true(s.slo.ttft_ok && s.slo.tpot_ok && s.slo.e2e_ok && s.slo.all_ok);
    fs_metrics_free(m);

    m = fs_metrics_new(NULL);
    assert_non_null(m);
    feed_slo_case(m);
    fs_metrics_summarize(m, NULL, &s);
    assert_false(s.slo.set);
    assert_int_equal(s.slo.met, 0);
    fs_metrics_free(m);
}

/* --- cost and energy --- */

/* 8 accelerators at $2.50/h, TDP 700 W, idle 100 W, for one hour; 4 of 8 hours busy
 * (utilisation 0.5), 1 h prefill and 3 h decode (input share 0.25). 1e6 input and
 * 5e5 output tokens. Cost: 8 accelerator-hours, $20/h, $20 total; input 20 x 0.25 /
 * 1 M = $5/M; output 20 x 0.75 / 0.5 M = $30/M; blended 20 / 1.5 M = $13.33/M.
 * Power 8 x (100 + 0.5 x 600) = 3200 W; 11.52 MJ = 3.2 kWh; 23.04 J/out token;
 * 7.68 J/token. */
static const fs_cost_inputs hand_cost = {
    .accelerators = 8, .price_per_hour = 2.5, .tdp_w = 700, .idle_w = 100,
    .makespan_s = 3600, .busy_s = 4 * 3600, .prefill_s = 3600, .decode_s = 3 * 3600,
};

static void feed_cost_case(fs_metrics *m)
{
    fs_req_record a = rec(1, 0, 0, 1000, 2000, 600000, 300000);
    fs_req_record b = rec(2, 0, 0, 1000, 3000, 400000, 200000);
    fs_metrics_request(m, &a);
    fs_metrics_request(m, &b);
}

static void test_cost_and_energy_by_hand(void **state)
{
    (void)state;
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    feed_cost_case(m);
    fs_summary s;
    fs_metrics_summarize(m, &hand_cost, &s);
    assert_close(s.makespan_s, 3600, 0);
    assert_close(s.cost.accelerator_hours, 8, 1e-12);
    assert_close(s.cost.fleet_usd_per_hour, 20, 1e-12);
    assert_close(s.cost.total_usd, 20, 1e-12);
    assert_close(s.cost.usd_per_m_input, 5, 1e-12);
    assert_close(s.cost.usd_per_m_output, 30, 1e-12);
    assert_close(s.cost.usd_per_m_tokens, 20 / 1.5, 1e-12);
    assert_close(s.energy.utilisation, 0.5, 1e-12);
    assert_close(s.energy.mean_power_w, 3200, 1e-12);
    assert_close(s.energy.energy_j, 11.52e6, 1e-12);
    assert_close(s.energy.energy_kwh, 3.2, 1e-12);
    assert_close(s.energy.j_per_output_token, 23.04, 1e-12);
    assert_close(s.energy.j_per_token, 7.68, 1e-12);
    fs_metrics_free(m);
}

/* Nothing busy: cost is split evenly between input and output; power is idle. */
static void test_cost_idle_even_split(void **state)
{
    (void)state;
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    feed_cost_case(m);
    fs_cost_inputs c = hand_cost;
    c.busy_s = c.prefill_s = c.decode_s = 0;
    fs_summary s;
    fs_metrics_summarize(m, &c, &s);
    assert_close(s.cost.usd_per_m_input, 10, 1e-12);    /* 20 x 0.5 / 1 M */
    assert_close(s.cost.usd_per_m_output, 20, 1e-12);   /* 20 x 0.5 / 0.5 M */
    assert_close(s.energy.utilisation, 0, 0);
    assert_close(s.energy.mean_power_w, 800, 1e-12);
    fs_metrics_free(m);
}

/* --- output --- */

static double jget(const json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", path);
    return json_number_value(v);
}

static void test_json_keys_and_values(void **state)
{
    (void)state;
    fs_slo slo = { .ttft_s = 0.5, .tpot_s = 0.05, .percentile = 0.9 };
    fs_metrics *m = fs_metrics_new(&slo);
    assert_non_null(m);
    feed_slo_case(m);
    fs_summary s;
    fs_metrics_summarize(m, &hand_cost, &s);
    json_t *j = fs_summary_to_json(&s);
    assert_non_null(j);
    assert_close(jget(j, "completed"), 4, 0);
    assert_close(jget(j, "rejected"), 1, 0);
    assert_close(jget(j, "makespan_s"), 3600, 0);
    assert_close(jget(j, "ttft_s.mean"), 0.275, 1e-12);
    assert_close(jget(j, "ttft_s.max"), 0.6, 1e-12);
    assert_close(jget(j, "tpot_s.n"), 3, 0);
    assert_close(jget(j, "slo.attainment"), 0.4, 1e-12);
    assert_close(jget(j, "slo.ttft.at_percentile_s"), 0.51, 1e-12);
    assert_true(json_is_false(json_object_get(json_object_get(json_object_get(j, "slo"),
                                                              "ttft"), "met")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "slo"), "e2e")));
    assert_close(jget(j, "cost.total_usd"), 20, 1e-12);
    assert_close(jget(j, "energy.energy_kwh"), 3.2, 1e-12);
    assert_true(json_is_null(json_object_get(json_object_get(j, "itl_s"), "mean")));
    const char *keys[] = { "queue_s", "e2e_s", "input_tokens_per_s", "output_tokens_per_s",
                           "throughput_rps", "cached_token_share", "preemptions" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_non_null(json_object_get(j, keys[i]));
    json_decref(j);
    fs_metrics_free(m);
}

/* Prints s into a malloc'd string. */
static char *print_to_string(const fs_summary *s, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    fs_summary_print(f, s);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_print_deterministic_and_aligned(void **state)
{
    (void)state;
    fs_slo slo = { .ttft_s = 0.5, .tpot_s = 0.05, .percentile = 0.9 };
    fs_metrics *m = fs_metrics_new(&slo);
    assert_non_null(m);
    feed_slo_case(m);
    fs_summary s;
    fs_metrics_summarize(m, &hand_cost, &s);
    size_t n1, n2;
    char *a = print_to_string(&s, &n1), *b = print_to_string(&s, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    assert_non_null(strstr(a, "  ttft                  4      275.0      200.0"));
    assert_non_null(strstr(a, "p90 ttft (ms)"));
    assert_non_null(strstr(a, "MISSED"));
    /* the latency table's header and rows have one width */
    char *hdr = strstr(a, "latency (ms)");
    assert_non_null(hdr);
    size_t width = strcspn(hdr, "\n");
    char *row = hdr + width + 1;
    for (int i = 0; i < 5; i++, row += width + 1)
        assert_int_equal(strcspn(row, "\n"), width);
    free(a);
    free(b);
    fs_metrics_free(m);
}

static void assert_all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            fail_msg("figure %zu is not finite", i);
}

/* No requests at all (but a fleet and SLOs): every figure finite, undefined ones
 * null in JSON, nothing printed as nan. */
static void test_zero_requests(void **state)
{
    (void)state;
    fs_slo slo = { .ttft_s = 0.5 };
    fs_metrics *m = fs_metrics_new(&slo);
    assert_non_null(m);
    fs_cost_inputs c = hand_cost;
    c.makespan_s = 0;
    fs_summary s;
    fs_metrics_summarize(m, &c, &s);
    assert_int_equal(s.completed, 0);
    const fs_stat *st[] = { &s.ttft_s, &s.tpot_s, &s.itl_s, &s.e2e_s, &s.queue_s };
    for (size_t i = 0; i < 5; i++) {
        double v[] = { st[i]->mean, st[i]->p50, st[i]->p90, st[i]->p99, st[i]->max };
        assert_int_equal(st[i]->n, 0);
        assert_all_finite(v, 5);
    }
    double other[] = { s.makespan_s, s.throughput_rps, s.input_tps, s.output_tps,
                       s.cached_share, s.slo.attainment, s.slo.goodput_rps,
                       s.cost.usd_per_m_input, s.cost.usd_per_m_tokens,
                       s.energy.utilisation, s.energy.j_per_token };
    assert_all_finite(other, sizeof other / sizeof *other);
    json_t *j = fs_summary_to_json(&s);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(json_object_get(j, "ttft_s"), "p99")));
    assert_true(json_is_null(json_object_get(j, "throughput_rps")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "cost"),
                                             "usd_per_m_tokens")));
    json_decref(j);
    size_t len;
    char *text = print_to_string(&s, &len);
    assert_null(strstr(text, "nan"));
    assert_null(strstr(text, "inf"));
    assert_non_null(strstr(text, "$0 total"));
    free(text);

    /* no fleet at all: cost and energy are null / "not computed" */
    fs_metrics_summarize(m, NULL, &s);
    j = fs_summary_to_json(&s);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "cost")));
    assert_true(json_is_null(json_object_get(j, "energy")));
    json_decref(j);
    text = print_to_string(&s, &len);
    assert_non_null(strstr(text, "cost and energy            not computed"));
    free(text);
    fs_metrics_free(m);
}

static void test_free_null(void **state)
{
    (void)state;
    fs_metrics_free(NULL);
}

/* Weighted inter-token gaps: 900 gaps of 5 ms, 90 of 20 ms, 10 of 200 ms. The exact
 * p50 is 5 ms, p90 is 5 ms (the 900th), p99 20 ms; the histogram must land within its
 * 1.2 % bin width, and the mean and max are exact. */
static void test_itl_weighted_histogram(void **state)
{
    fs_metrics *m = fs_metrics_new(NULL);
    assert_non_null(m);
    fs_metrics_token_gaps(m, 5000000, 600);
    fs_metrics_token_gaps(m, 200000000, 10);
    fs_metrics_token_gaps(m, 20000000, 90);
    fs_metrics_token_gaps(m, 5000000, 300);
    fs_metrics_token_gaps(m, 7, 0);             /* no tokens: no effect */
    fs_summary s;
    fs_metrics_summarize(m, NULL, &s);
    assert_int_equal(s.itl_s.n, 1000);
    assert_close(s.itl_s.mean, (900 * 0.005 + 90 * 0.02 + 10 * 0.2) / 1000, 1e-12);
    assert_close(s.itl_s.max, 0.2, 1e-12);
    assert_close(s.itl_s.p50, 0.005, 0.012);
    assert_close(s.itl_s.p90, 0.005, 0.012);
    assert_close(s.itl_s.p99, 0.02, 0.012);
    fs_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_requests_exact),
        cmocka_unit_test(test_tpot_skips_single_token),
        cmocka_unit_test(test_p2_quantiles_exponential),
        cmocka_unit_test(test_summarize_is_a_read),
        cmocka_unit_test(test_slo_attainment_goodput),
        cmocka_unit_test(test_slo_percentile_met_and_default),
        cmocka_unit_test(test_cost_and_energy_by_hand),
        cmocka_unit_test(test_cost_idle_even_split),
        cmocka_unit_test(test_json_keys_and_values),
        cmocka_unit_test(test_print_deterministic_and_aligned),
        cmocka_unit_test(test_zero_requests),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_itl_weighted_histogram),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
