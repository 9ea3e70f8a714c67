/*
 * test_traces.c: cmocka tests of libfleettraces (workload sources and block hashing).
 *
 * Block hashes are checked against a naive per-token model (token identities expanded
 * into arrays); the generator against its distributions over 100k draws; the Azure
 * reader against the real 2023/2024 files in ../shared/data (skipped when absent) and
 * small fixtures in tests/data written for this test.
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
#include <time.h>

#include <gsl/gsl_rng.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ft_workload.h"

/* ---------------------------------------------------------------- block hashes */

typedef struct tok {
    uint64_t content;
    uint32_t off;
} tok;

/* Expands segments into token identities; returns the count (caller frees *out). */
static size_t expand(const ft_segment *segs, size_t n, tok **out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += segs[i].len;
    tok *t = malloc((total ? total : 1) * sizeof *t);
    assert_non_null(t);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < segs[i].len; j++)
            t[k++] = (tok){ segs[i].content, j };
    *out = t;
    return total;
}

static void naive_piece(XXH64_state_t *st, uint64_t c, uint64_t start, uint64_t len)
{
    unsigned char b[24];
    uint64_t v[3] = { c, start, len };
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 8; i++)
            b[8 * f + i] = (unsigned char)(v[f] >> (8 * i));
    XXH64_update(st, b, sizeof b);
}

/*
 * Naive reference: works on token identities alone, finding each block's maximal runs
 * (a run continues while the content is equal and the offset goes up by one), so it
 * knows nothing about how the prompt was cut into segments.
 */
static size_t naive_hashes(const tok *t, size_t n, uint32_t bs, uint64_t seed, uint64_t *out)
{
    size_t nb = n / bs;
    uint64_t prev = seed;
    for (size_t b = 0; b < nb; b++) {
        XXH64_state_t st;
        XXH64_reset(&st, prev);
        size_t s = b * bs;
        for (size_t i = s + 1; i <= (b + 1) * bs; i++) {
            bool brk = i == (b + 1) * bs || t[i].content != t[i - 1].content ||
                       t[i].off != t[i - 1].off + 1;
            if (brk) {
                naive_piece(&st, t[s].content, t[s].off, i - s);
                s = i;
            }
        }
        prev = out[b] = XXH64_digest(&st);
    }
    return nb;
}

static size_t common_prefix(const tok *a, size_t na, const tok *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i].content == b[i].content && a[i].off == b[i].off)
        i++;
    return i;
}

static void test_hash_shared_prefix(void **state)
{
    (void)state;
    ft_segment a[] = { { 7, 100 }, { 8, 50 } };
    ft_segment b[] = { { 7, 100 }, { 9, 60 } };
    uint64_t ha[16], hb[16];
    assert_int_equal(ft_block_hashes(a, 2, 16, 0, ha, 16), 9);   /* 150 / 16 */
    assert_int_equal(ft_block_hashes(b, 2, 16, 0, hb, 16), 10);  /* 160 / 16 */
    for (int i = 0; i < 6; i++)                                  /* 96 shared tokens */
        assert_true(ha[i] == hb[i]);
    for (int i = 6; i < 9; i++)                                  /* block 6 = 96..111 */
        assert_true(ha[i] != hb[i]);
}

static void test_hash_segment_cut_agrees(void **state)
{
    (void)state;
    /* [(a,10),(b,6)] and [(a,10),(b,20)] agree on their first 16 tokens. */
    ft_segment a[] = { { 1, 10 }, { 2, 6 } };
    ft_segment b[] = { { 1, 10 }, { 2, 20 } };
    ft_segment c[] = { { 1, 10 }, { 0xdead, 0 }, { 2, 20 } };   /* empty segment */
    uint64_t ha[4], hb[4], hc[4];
    assert_int_equal(ft_block_hashes(a, 2, 16, 5, ha, 4), 1);
    assert_int_equal(ft_block_hashes(b, 2, 16, 5, hb, 4), 1);
    assert_int_equal(ft_block_hashes(c, 3, 16, 5, hc, 4), 1);
    assert_true(ha[0] == hb[0]);
    assert_true(ha[0] == hc[0]);
    /* [(doc,300)] vs [(doc,100),(doc,200)]: the second restarts doc at offset 0. */
    ft_segment d1[] = { { 3, 300 } };
    ft_segment d2[] = { { 3, 100 }, { 3, 200 } };
    uint64_t h1[20], h2[20];
    assert_int_equal(ft_block_hashes(d1, 1, 16, 0, h1, 20), 18);
    assert_int_equal(ft_block_hashes(d2, 2, 16, 0, h2, 20), 18);
    for (int i = 0; i < 6; i++)
        assert_true(h1[i] == h2[i]);
    assert_true(h1[6] != h2[6]);          /* block 6 holds tokens 96..111 */
}

/*
 * The hash memo against plain ft_block_hashes: random prompts opening with one of a
 * few first segments (so hits, misses and slot conflicts in a 2-slot memo all happen),
 * first segments shorter and longer than the memo's 8 blocks, empty and unaligned
 * segments, and output caps below and above the first segment's blocks.
 */
static void test_hash_memo_agrees(void **state)
{
    (void)state;
    ft_hash_memo *m = NULL;
    assert_int_equal(ft_hash_memo_new(16, 0, 3, 8, &m), -EINVAL);
    assert_int_equal(ft_hash_memo_new(0, 0, 2, 8, &m), -EINVAL);
    assert_int_equal(ft_hash_memo_new(16, 77, 2, 8, &m), 0);
    unsigned seed = 99;
    long memoable = 0;   /* calls where the memo is consulted */
    for (int t = 0; t < 5000; t++) {
        ft_segment segs[4];
        size_t n = (size_t)(rand_r(&seed) % 4);
        for (size_t i = 0; i < n; i++)
            segs[i] = (ft_segment){ (uint64_t)(rand_r(&seed) % (i ? 1000 : 5)),
                                    (uint32_t)(rand_r(&seed) % (i ? 40 : 200)) };
        size_t cap = (size_t)(rand_r(&seed) % 30);
        uint64_t want[32], got[32];
        size_t nw = ft_block_hashes(segs, n, 16, 77, want, cap);
        memoable += n && segs[0].len >= 16 && cap;
        assert_int_equal(ft_block_hashes_memo(m, segs, n, got, cap), nw);
        assert_memory_equal(got, want, nw * sizeof *got);
    }
    assert_true(memoable > 1000);
    ft_hash_memo_free(m);
    ft_hash_memo_free(NULL);
}

static void test_hash_partial_and_limits(void **state)
{
    (void)state;
    ft_segment a[] = { { 1, 31 } };
    uint64_t h[4] = { 0, 0, 0, 0xabc };
    assert_int_equal(ft_block_hashes(a, 1, 16, 0, h, 4), 1);     /* 31 tokens: 1 block */
    assert_true(h[1] == 0 && h[3] == 0xabc);                       /* nothing else written */
    assert_int_equal(ft_block_hashes(a, 1, 32, 0, h, 4), 0);
    assert_int_equal(ft_block_hashes(NULL, 0, 16, 0, h, 4), 0);
    ft_segment big[] = { { 1, 1000 } };
    uint64_t h2[3];
    assert_int_equal(ft_block_hashes(big, 1, 16, 0, h2, 3), 3);   /* capped by nblocks_max */
    uint64_t full[62];
    assert_int_equal(ft_block_hashes(big, 1, 16, 0, full, 62), 62);
    assert_memory_equal(h2, full, sizeof h2);
}

static void test_hash_seed_chaining(void **state)
{
    (void)state;
    ft_segment a[] = { { 1, 64 } };
    ft_segment b[] = { { 2, 16 }, { 1, 64 } };
    uint64_t ha[4], ha2[4], hb[5];
    ft_block_hashes(a, 1, 16, 1, ha, 4);
    ft_block_hashes(a, 1, 16, 2, ha2, 4);
    for (int i = 0; i < 4; i++)
        assert_true(ha[i] != ha2[i]);            /* the seed reaches every block */
    ft_block_hashes(b, 2, 16, 1, hb, 5);
    for (int i = 0; i < 4; i++)                  /* same tokens, different history */
        assert_true(ha[i] != hb[i + 1]);
    /* Chaining: hashing the tail seeded with the head's last hash continues the chain. */
    ft_segment tail[] = { { 1, 64 } };
    uint64_t ht[4];
    ft_block_hashes(tail, 1, 16, hb[0], ht, 4);
    assert_memory_equal(ht, hb + 1, sizeof ht);
}

/* Random segment lists over a small alphabet, so that prefixes often coincide. */
static size_t random_segs(gsl_rng *r, ft_segment *s, size_t cap)
{
    size_t n = gsl_rng_uniform_int(r, cap + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (ft_segment){ 1 + gsl_rng_uniform_int(r, 3), (uint32_t)gsl_rng_uniform_int(r, 40) };
    return n;
}

/* b = a's first k segments, the k-th maybe shortened or lengthened, then random ones. */
static size_t related_segs(gsl_rng *r, const ft_segment *a, size_t na, ft_segment *b, size_t cap)
{
    size_t k = na ? gsl_rng_uniform_int(r, na + 1) : 0;
    memcpy(b, a, k * sizeof *b);
    if (k > 0 && gsl_rng_uniform(r) < 0.5)
        b[k - 1].len = (uint32_t)gsl_rng_uniform_int(r, 60);
    return k + random_segs(r, b + k, cap - k);
}

static void check_against_naive(const ft_segment *a, size_t na, const ft_segment *b,
                                size_t nb, uint32_t bs)
{
    tok *ta, *tb;
    size_t la = expand(a, na, &ta), lb = expand(b, nb, &tb);
    static uint64_t ha[3000], hb[3000], ra[3000];
    size_t ka = ft_block_hashes(a, na, bs, 42, ha, 3000);
    size_t kb = ft_block_hashes(b, nb, bs, 42, hb, 3000);
    assert_int_equal(ka, la / bs);
    assert_int_equal(kb, lb / bs);
    assert_int_equal(naive_hashes(ta, la, bs, 42, ra), ka);
    assert_memory_equal(ha, ra, ka * sizeof *ha);
    size_t agree = common_prefix(ta, la, tb, lb) / bs;        /* blocks of equal tokens */
    for (size_t i = 0; i < ka && i < kb; i++)
        assert_true((ha[i] == hb[i]) == (i < agree));
    free(ta);
    free(tb);
}

static void test_hash_vs_naive_random(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 12345);
    static const uint32_t sizes[] = { 1, 3, 16, 17, 64 };
    ft_segment a[24], b[48];
    for (int it = 0; it < 4000; it++) {
        size_t na = random_segs(r, a, 24);
        size_t nb = related_segs(r, a, na, b, 48);
        check_against_naive(a, na, b, nb, sizes[it % 5]);
    }
    gsl_rng_free(r);
}


/* Blocks made of many tiny segments (more pieces than one block's fast-path buffer). */
static void test_hash_many_pieces(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 99);
    ft_segment a[300], b[300];
    for (int it = 0; it < 200; it++) {
        for (size_t i = 0; i < 300; i++)
            a[i] = (ft_segment){ 1 + gsl_rng_uniform_int(r, 2), 1 + (uint32_t)gsl_rng_uniform_int(r, 2) };
        memcpy(b, a, sizeof a);
        b[gsl_rng_uniform_int(r, 300)].content = 3;      /* one difference somewhere */
        check_against_naive(a, 300, b, 300, it % 2 ? 64 : 37);
    }
    gsl_rng_free(r);
}

/* ---------------------------------------------------------------- generator */

static ft_gen_config base_config(void)
{
    ft_gen_config c = { 0 };
    c.seed = 7;
    c.arrival = (ft_arrival){ .kind = FT_ARR_POISSON, .rate = 10.0 };
    c.input = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 100 };
    c.output = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 20 };
    c.max_requests = 100000;
    return c;
}

static ft_source *gen_ok(const ft_gen_config *c)
{
    ft_source *s = NULL;
    char *err = NULL;
    int rc = ft_gen_new(c, &s, &err);
    if (rc != 0)
        fail_msg("ft_gen_new: %s", err ? err : "(no message)");
    assert_non_null(s);
    return s;
}

/* Streams up to `max` requests into arrays (any may be NULL); returns the count. */
static size_t drain(ft_source *s, int64_t *t, uint32_t *in, uint32_t *outl, size_t max)
{
    ft_request r;
    char *err = NULL;
    size_t n = 0;
    int rc;
    while (n < max && (rc = ft_source_next(s, &r, &err)) == 1) {
        if (t) t[n] = r.arrival_ns;
        if (in) in[n] = r.input_tokens;
        if (outl) outl[n] = r.output_tokens;
        n++;
    }
    assert_null(err);
    return n;
}

typedef struct moments {
    double mean, sd;
} moments;

static moments moments_u32(const uint32_t *x, size_t n)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    double m = s / n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return (moments){ m, sqrt(ss / (n - 1)) };
}

/* Moments of the inter-arrival gaps in seconds (the first gap is from time 0). */
static moments gap_moments(const int64_t *t, size_t n)
{
    double s = 0, ss = 0, prev = 0;
    for (size_t i = 0; i < n; i++) {
        double g = (t[i] - prev) / 1e9;
        s += g;
        ss += g * g;
        prev = t[i];
    }
    double m = s / n;
    return (moments){ m, sqrt((ss - n * m * m) / (n - 1)) };
}

#define NDRAW 100000
static int64_t g_t[NDRAW], g_t2[NDRAW];
static uint32_t g_in[NDRAW], g_out[NDRAW], g_in2[NDRAW], g_out2[NDRAW];

static size_t run_gen(const ft_gen_config *c, int64_t *t, uint32_t *in, uint32_t *outl)
{
    ft_source *s = gen_ok(c);
    size_t n = drain(s, t, in, outl, NDRAW);
    ft_source_free(s);
    return n;
}

static void test_gen_deterministic(void **state)
{
    (void)state;
    ft_gen_config c = base_config();
    c.max_requests = 1000;
    c.input = (ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 1000, .sd = 800 };
    c.output = (ft_dist){ .kind = FT_DIST_NORMAL, .mean = 200, .sd = 50 };
    assert_int_equal(run_gen(&c, g_t, g_in, g_out), 1000);
    assert_int_equal(run_gen(&c, g_t2, g_in2, g_out2), 1000);
    assert_memory_equal(g_t, g_t2, 1000 * sizeof *g_t);
    assert_memory_equal(g_in, g_in2, 1000 * sizeof *g_in);
    assert_memory_equal(g_out, g_out2, 1000 * sizeof *g_out);
    c.seed = 8;
    assert_int_equal(run_gen(&c, g_t2, g_in2, g_out2), 1000);
    size_t same = 0;
    for (size_t i = 0; i < 1000; i++)
        same += g_t[i] == g_t2[i] || g_in[i] == g_in2[i];
    assert_true(same < 50);
    c.seed = 7 + (1ull << 32);        /* the high half of the seed matters too */
    assert_int_equal(run_gen(&c, g_t2, NULL, NULL), 1000);
    assert_true(memcmp(g_t, g_t2, 1000 * sizeof *g_t) != 0);
}

static void test_gen_poisson_rate(void **state)
{
    (void)state;
    ft_gen_config c = base_config();
    assert_int_equal(run_gen(&c, g_t, NULL, NULL), NDRAW);
    for (size_t i = 1; i < NDRAW; i++)
        assert_true(g_t[i] >= g_t[i - 1]);
    double rate = NDRAW / (g_t[NDRAW - 1] / 1e9);
    assert_true(fabs(rate - 10.0) < 0.2);              /* sd ~0.3 % at 100k */
    moments m = gap_moments(g_t, NDRAW);
    assert_true(fabs(m.sd / m.mean - 1.0) < 0.02);     /* exponential: cv 1 */
}

static void check_gamma(double rate, double cv)
{
    ft_gen_config c = base_config();
    c.arrival = (ft_arrival){ .kind = FT_ARR_GAMMA, .rate = rate, .cv = cv };
    assert_int_equal(run_gen(&c, g_t, NULL, NULL), NDRAW);
    moments m = gap_moments(g_t, NDRAW);
    assert_true(fabs(m.mean * rate - 1.0) < 0.03);
    assert_true(fabs(m.sd / m.mean - cv) < 0.05 * cv);
}

static void test_gen_gamma_cv(void **state)
{
    (void)state;
    check_gamma(5.0, 3.0);
    check_gamma(50.0, 0.5);
    check_gamma(2.0, 1.0);
}

static void check_lengths(ft_dist d, double mean, double sd, double tol)
{
    ft_gen_config c = base_config();
    c.input = d;
    c.output = d;
    assert_int_equal(run_gen(&c, NULL, g_in, g_out), NDRAW);
    moments mi = moments_u32(g_in, NDRAW), mo = moments_u32(g_out, NDRAW);
    assert_true(fabs(mi.mean / mean - 1) < tol);
    assert_true(fabs(mo.mean / mean - 1) < tol);
    if (sd > 0)
        assert_true(fabs(mi.sd / sd - 1) < 2 * tol);
    assert_true(memcmp(g_in, g_out, sizeof g_in) != 0);   /* independent draws */
}

static void test_gen_length_distributions(void **state)
{
    (void)state;
    check_lengths((ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 1000, .sd = 500 }, 1000, 500, 0.02);
    check_lengths((ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 200, .sd = 400 }, 200, 400, 0.04);
    check_lengths((ft_dist){ .kind = FT_DIST_NORMAL, .mean = 300, .sd = 40 }, 300, 40, 0.01);
    /* Uniform 10..20 inclusive: mean 15, sd sqrt((11^2 - 1) / 12). */
    check_lengths((ft_dist){ .kind = FT_DIST_UNIFORM, .lo = 10, .hi = 20 }, 15, sqrt(10.0), 0.01);
    size_t hist[21] = { 0 };
    for (size_t i = 0; i < NDRAW; i++) {
        assert_in_range(g_in[i], 10, 20);
        hist[g_in[i]]++;
    }
    for (int v = 10; v <= 20; v++)                       /* ~9091 each, sd ~91 */
        assert_in_range(hist[v], 8600, 9600);
}

static void test_gen_clamping(void **state)
{
    (void)state;
    ft_gen_config c = base_config();
    c.max_requests = 20000;
    c.input = (ft_dist){ .kind = FT_DIST_NORMAL, .mean = 100, .sd = 1000, .lo = 50, .hi = 200 };
    c.output = (ft_dist){ .kind = FT_DIST_NORMAL, .mean = 0, .sd = 10 };   /* no hi: >= 1 */
    assert_int_equal(run_gen(&c, NULL, g_in, g_out), 20000);
    size_t at_lo = 0, at_hi = 0, at_one = 0;
    for (size_t i = 0; i < 20000; i++) {
        assert_in_range(g_in[i], 50, 200);
        assert_true(g_out[i] >= 1);
        at_lo += g_in[i] == 50;
        at_hi += g_in[i] == 200;
        at_one += g_out[i] == 1;
    }
    assert_true(at_lo > 5000 && at_hi > 5000);          /* ~46 % each side */
    assert_true(at_one > 9000);                         /* half the draws are <= 0.5 */
    c.input = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 500, .hi = 300 };
    c.output = (ft_dist){ .kind = FT_DIST_FIXED, .mean = 2.4 };
    assert_int_equal(run_gen(&c, NULL, g_in, g_out), 20000);
    assert_int_equal(g_in[123], 300);
    assert_int_equal(g_out[456], 2);
}

static void test_gen_stop_conditions(void **state)
{
    (void)state;
    ft_gen_config c = base_config();
    c.max_requests = 5;
    ft_source *s = gen_ok(&c);
    ft_request r;
    char *err = NULL;
    assert_int_equal(drain(s, NULL, NULL, NULL, 100), 5);
    assert_int_equal(ft_source_next(s, &r, &err), 0);     /* stays ended */
    ft_source_free(s);
    c.max_requests = 0;
    c.arrival.rate = 100;
    c.duration_ns = 10 * (int64_t)1000000000;
    size_t n = run_gen(&c, g_t, NULL, NULL);
    assert_in_range(n, 1000 - 130, 1000 + 130);          /* 4 sd of Poisson(1000) */
    assert_true(g_t[n - 1] <= c.duration_ns);
    assert_true(g_t[n - 1] > c.duration_ns - 100000000); /* last gap ~10 ms, not 100 */
    c.max_requests = 50;                                 /* whichever comes first */
    assert_int_equal(run_gen(&c, g_t, NULL, NULL), 50);
    c.max_requests = 100000;
    c.duration_ns = 1000000000;
    assert_in_range(run_gen(&c, g_t, NULL, NULL), 50, 150);
}

static void test_gen_prefix_groups(void **state)
{
    (void)state;
    ft_gen_config c = base_config();
    c.max_requests = 4000;
    c.prefix_tokens = 128;
    c.prefix_groups = 4;
    c.input = (ft_dist){ .kind = FT_DIST_UNIFORM, .lo = 1, .hi = 64 };
    ft_source *s = gen_ok(&c);
    uint64_t groups[5] = { 0 }, prev_unique = 0;
    size_t ngroups = 0, count[5] = { 0 };
    ft_request r;
    char *err = NULL;
    while (ft_source_next(s, &r, &err) == 1) {
        assert_int_equal(r.nsegs, 2);
        assert_int_equal(r.segs[0].len, 128);
        assert_int_equal(r.input_tokens, 128 + r.segs[1].len);
        size_t g = 0;
        while (g < ngroups && groups[g] != r.segs[0].content)
            g++;
        assert_true(g < 4);
        if (g == ngroups)
            groups[ngroups++] = r.segs[0].content;
        count[g]++;
        assert_true(r.segs[1].content != prev_unique);
        for (size_t k = 0; k < ngroups; k++)
            assert_true(r.segs[1].content != groups[k]);
        prev_unique = r.segs[1].content;
    }
    ft_source_free(s);
    assert_int_equal(ngroups, 4);
    for (int g = 0; g < 4; g++)
        assert_in_range(count[g], 850, 1150);
    c.prefix_tokens = 0;                                  /* no prefix: one segment */
    s = gen_ok(&c);
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.nsegs, 1);
    assert_int_equal(r.input_tokens, r.segs[0].len);
    ft_source_free(s);
}

typedef struct bad_case {
    const char *field;      /* expected in the message */
    void (*mutate)(ft_gen_config *c);
} bad_case;

static void m_rate0(ft_gen_config *c) { c->arrival.rate = 0; }
static void m_rate_neg(ft_gen_config *c) { c->arrival.rate = -3; }
static void m_rate_nan(ft_gen_config *c) { c->arrival.rate = NAN; }
static void m_cv0(ft_gen_config *c) { c->arrival = (ft_arrival){ .kind = FT_ARR_GAMMA, .rate = 1, .cv = 0 }; }
static void m_kind(ft_gen_config *c) { c->arrival.kind = (ft_arrival_kind)9; }
static void m_sd(ft_gen_config *c) { c->input = (ft_dist){ .kind = FT_DIST_NORMAL, .mean = 5, .sd = -1 }; }
static void m_lohi(ft_gen_config *c) { c->output.lo = 10; c->output.hi = 5; }
static void m_unif(ft_gen_config *c) { c->input = (ft_dist){ .kind = FT_DIST_UNIFORM, .lo = 5 }; }
static void m_logn(ft_gen_config *c) { c->output = (ft_dist){ .kind = FT_DIST_LOGNORMAL, .sd = 3 }; }
static void m_fixed(ft_gen_config *c) { c->input.mean = 0; }
static void m_endless(ft_gen_config *c) { c->max_requests = 0; c->duration_ns = 0; }
static void m_dur(ft_gen_config *c) { c->duration_ns = -1; }

static void test_gen_bad_configs(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        { "arrival.rate", m_rate0 }, { "arrival.rate", m_rate_neg },
        { "arrival.rate", m_rate_nan }, { "arrival.cv", m_cv0 },
        { "arrival.kind", m_kind }, { "input.sd", m_sd }, { "output: expected lo <= hi", m_lohi },
        { "input.hi", m_unif }, { "output.mean", m_logn }, { "input.mean", m_fixed },
        { "max_requests", m_endless }, { "duration_ns", m_dur },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_gen_config c = base_config();
        cases[i].mutate(&c);
        ft_source *s = (ft_source *)&c;                   /* must be cleared */
        char *err = NULL;
        assert_int_equal(ft_gen_new(&c, &s, &err), -EINVAL);
        assert_null(s);
        assert_non_null(err);
        if (!strstr(err, cases[i].field))
            fail_msg("case %zu: '%s' does not name '%s'", i, err, cases[i].field);
        free(err);
    }
}


/* ---------------------------------------------------------------- Azure reader */

#define FIXTURE(name) TOP_SRCDIR "/tests/data/" name
#define SHARED(name) TOP_SRCDIR "/../shared/data/traces/" name

static ft_source *azure_ok(const char *path, uint64_t max)
{
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_azure_open(path, max, &s, &err) != 0)
        fail_msg("ft_azure_open: %s", err ? err : "(no message)");
    assert_null(err);
    return s;
}

static void skip_unless_present(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("# skipped: %s is absent (shared reference data not checked out)\n", path);
        skip();
    }
    fclose(f);
}

typedef struct expect_row {
    int64_t t_ns;
    uint32_t in, out;
} expect_row;

static void expect_rows(ft_source *s, const expect_row *e, size_t n)
{
    ft_request r;
    char *err = NULL;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ft_source_next(s, &r, &err), 1);
        assert_int_equal(r.arrival_ns, e[i].t_ns);
        assert_int_equal(r.input_tokens, e[i].in);
        assert_int_equal(r.output_tokens, e[i].out);
        assert_int_equal(r.nsegs, 1);
        assert_int_equal(r.segs[0].len, e[i].in);
    }
    assert_null(err);
}

static void test_azure_fixture(void **state)
{
    (void)state;
    static const expect_row e[] = {
        { 0, 374, 44 },
        { 0, 1, 1 },                                   /* 0 tokens read as 1 */
        { 819410000, 1000, 7 },                        /* ".5": one fractional digit */
        { 20653319409900, 2, 3 },                      /* 23:59:59.9999999 */
        { 20653319410000, 5, 6 },                      /* next day, no fraction */
    };
    ft_source *s = azure_ok(FIXTURE("azure-good.csv"), 0);
    expect_rows(s, e, 5);
    ft_request r;
    char *err = NULL;
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_free(s);
    s = azure_ok(FIXTURE("azure-good.csv"), 2);           /* max_requests */
    expect_rows(s, e, 2);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_free(s);
}

static void test_azure_distinct_prompts(void **state)
{
    (void)state;
    ft_source *s = azure_ok(FIXTURE("azure-good.csv"), 0);
    uint64_t ids[5];
    ft_request r;
    char *err = NULL;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ft_source_next(s, &r, &err), 1);
        ids[i] = r.segs[0].content;
        for (int j = 0; j < i; j++)
            assert_true(ids[j] != ids[i]);
    }
    ft_source_free(s);
    s = azure_ok(FIXTURE("azure-good.csv"), 0);            /* the same ids on a re-read */
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_true(r.segs[0].content == ids[0]);
    ft_source_free(s);
}

static void test_azure_crlf_and_offsets(void **state)
{
    (void)state;
    static const expect_row crlf[] = {
        { 0, 374, 44 }, { 4314579000, 396, 109 }, { 13319410000, 1, 2 },
    };
    ft_source *s = azure_ok(FIXTURE("azure-crlf.csv"), 0);
    expect_rows(s, crlf, 3);
    ft_request r;
    char *err = NULL;
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_free(s);
    /* 02:00+02:00, 00:00:01.25+00:00, 19:00:02-05:00 (previous day), 00:00:03Z */
    static const expect_row off[] = {
        { 0, 100, 10 }, { 1250000000, 200, 20 }, { 2000000000, 300, 30 }, { 3000000000, 400, 40 },
    };
    s = azure_ok(FIXTURE("azure-2024-offset.csv"), 0);
    expect_rows(s, off, 4);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_free(s);
}

typedef struct bad_file {
    const char *name;
    size_t rows_before;     /* good rows returned before the error; SIZE_MAX: fails at open */
    int rc;
    const char *msg;        /* expected after the path */
} bad_file;

static void check_bad_file(const bad_file *b)
{
    char path[512], *err = NULL;
    snprintf(path, sizeof path, "%s/tests/data/%s", TOP_SRCDIR, b->name);
    ft_source *s = NULL;
    int rc = ft_azure_open(path, 0, &s, &err);
    if (b->rows_before == SIZE_MAX) {
        assert_int_equal(rc, b->rc);
        assert_null(s);
    } else {
        assert_int_equal(rc, 0);
        ft_request r;
        for (size_t i = 0; i < b->rows_before; i++)
            assert_int_equal(ft_source_next(s, &r, &err), 1);
        assert_int_equal(ft_source_next(s, &r, &err), b->rc);
        assert_non_null(err);
        char *again = NULL;                               /* the error is sticky */
        assert_int_equal(ft_source_next(s, &r, &again), b->rc);
        assert_string_equal(again, err);
        free(again);
        ft_source_free(s);
    }
    assert_non_null(err);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_string_equal(err + strlen(path), b->msg);
    free(err);
}

static void test_azure_errors(void **state)
{
    (void)state;
    static const bad_file cases[] = {
        { "azure-badnumber.csv", 2, -EINVAL,
          ":4: expected an integer in column ContextTokens, got '12x'" },
        { "azure-crlf-bad.csv", 1, -EINVAL,
          ":3: expected an integer in column ContextTokens, got '-3'" },
        { "azure-badheader.csv", SIZE_MAX, -EINVAL,
          ":1: expected the header 'TIMESTAMP,ContextTokens,GeneratedTokens' (optionally after ROW_INDEX)" },
        { "azure-empty.csv", SIZE_MAX, -EINVAL,
          ":1: expected the header 'TIMESTAMP,ContextTokens,GeneratedTokens', got an empty file" },
        { "azure-decreasing.csv", 3, -EINVAL,
          ":5: expected timestamps in order, but '2023-11-16 18:15:54.9999999' is earlier than the previous row's" },
        { "azure-badfields.csv", 1, -EINVAL, ":4: expected 3 fields, got 2" },
        { "azure-badtime.csv", 1, -EINVAL,
          ":3: expected a timestamp 'YYYY-MM-DD HH:MM:SS.fffffff' in column TIMESTAMP, got '2023-13-16 18:15:47.6805900'" },
        { "azure-no-such-file.csv", SIZE_MAX, -ENOENT, ": cannot open: No such file or directory" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad_file(&cases[i]);
}

typedef struct trace_stats {
    size_t n;
    double in_mean, out_mean;
    int64_t first, last;
} trace_stats;

/* Streams a whole trace, checking order and prompt shape on the way. */
static trace_stats stream_all(const char *path)
{
    ft_source *s = azure_ok(path, 0);
    trace_stats st = { 0 };
    double in = 0, out = 0;
    ft_request r;
    char *err = NULL;
    int rc;
    while ((rc = ft_source_next(s, &r, &err)) == 1) {
        if (st.n == 0)
            st.first = r.arrival_ns;
        assert_true(r.arrival_ns >= st.last);
        assert_true(r.nsegs == 1 && r.segs[0].len == r.input_tokens && r.output_tokens >= 1);
        st.last = r.arrival_ns;
        in += r.input_tokens;
        out += r.output_tokens;
        st.n++;
    }
    if (rc != 0)
        fail_msg("%s", err ? err : "(no message)");
    ft_source_free(s);
    st.in_mean = in / st.n;
    st.out_mean = out / st.n;
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_azure_2023_conv(void **state)
{
    (void)state;
    const char *path = SHARED("azure2023_AzureLLMInferenceTrace_conv.csv");
    skip_unless_present(path);
    double t = now_s();
    trace_stats st = stream_all(path);
    print_message("# streamed %zu rows of the Azure 2023 conv trace in %.1f ms\n", st.n,
                  1e3 * (now_s() - t));
    assert_int_equal(st.n, 19366);
    assert_true(fabs(st.in_mean - 1154.7) < 0.05);
    assert_true(fabs(st.out_mean - 211.1) < 0.05);
    assert_int_equal(st.first, 0);
    /* 18:15:46.6805900 to 19:14:08.4025270: 58 min 21.7219370 s */
    assert_int_equal(st.last, 3501721937000);
    st = stream_all(SHARED("azure2023_AzureLLMInferenceTrace_code.csv"));
    assert_int_equal(st.n, 8819);
}

static void test_azure_2024_excerpt(void **state)
{
    (void)state;
    const char *path = SHARED("azure2024_conv_1week_notebook_excerpt.csv");
    skip_unless_present(path);
    static const expect_row e[] = {
        { 0, 1452, 3 }, { 40520000, 584, 3 }, { 156825000, 862, 38 },
    };
    ft_source *s = azure_ok(path, 0);
    expect_rows(s, e, 3);
    ft_source_free(s);
    trace_stats st = stream_all(path);
    assert_int_equal(st.n, 10);
    /* 2024-05-12 00:00:00.001163 to 2024-05-18 23:59:59.995460 */
    assert_int_equal(st.last, 604799994297000);
}

/* ---------------------------------------------------------------- source wrapper */

static int destroyed;

static int count_next(void *self, ft_request *out, char **err)
{
    (void)err;
    int *n = self;
    if (*n == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->arrival_ns = --*n;
    return 1;
}

static void count_destroy(void *self)
{
    destroyed++;
    free(self);
}

static const ft_source_ops count_ops = { .name = "count", .next = count_next, .destroy = count_destroy };

static void test_source_wrap(void **state)
{
    (void)state;
    int *n = malloc(sizeof *n);
    *n = 2;
    destroyed = 0;
    ft_source *s = ft_source_wrap(&count_ops, n);
    assert_non_null(s);
    ft_request r;
    char *err = NULL;
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.arrival_ns, 1);
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    assert_null(err);
    ft_source_free(s);
    assert_int_equal(destroyed, 1);
    ft_source_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_wrap),
        cmocka_unit_test(test_hash_shared_prefix),
        cmocka_unit_test(test_hash_segment_cut_agrees),
        cmocka_unit_test(test_hash_partial_and_limits),
        cmocka_unit_test(test_hash_memo_agrees),
        cmocka_unit_test(test_hash_seed_chaining),
        cmocka_unit_test(test_hash_vs_naive_random),
        cmocka_unit_test(test_hash_many_pieces),
        cmocka_unit_test(test_gen_deterministic),
        cmocka_unit_test(test_gen_poisson_rate),
        cmocka_unit_test(test_gen_gamma_cv),
        cmocka_unit_test(test_gen_length_distributions),
        cmocka_unit_test(test_gen_clamping),
        cmocka_unit_test(test_gen_stop_conditions),
        cmocka_unit_test(test_gen_prefix_groups),
        cmocka_unit_test(test_gen_bad_configs),
        cmocka_unit_test(test_azure_fixture),
        cmocka_unit_test(test_azure_distinct_prompts),
        cmocka_unit_test(test_azure_crlf_and_offsets),
        cmocka_unit_test(test_azure_errors),
        FS_SHARED_TEST(test_azure_2023_conv),
        FS_SHARED_TEST(test_azure_2024_excerpt),
    };
    return cmocka_run_group_tests_name("traces", tests, NULL, NULL);
}
